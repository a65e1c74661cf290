/* Structure-aware libFuzzer harness for the checker: the input bytes are
 * choices that build a plausible model, one layer after another (conv2d,
 * pools, flatten, dense, activations, dropout, add, multiply, concat,
 * reshape, global pools), ended by a sparse cross-entropy loss, maybe an
 * accuracy metric and an output, and an optimizer.
 *
 * Beside the TDL text the harness keeps its own shape calculator, written
 * from docs/ops.md and sharing no code with the checker, so a wrong rule in
 * either shows up as a disagreement. It aborts when
 *   - the generated text does not parse (the generator only writes valid syntax),
 *   - tsc accepts a model the calculator rejects, or rejects one it accepts,
 *   - an accepted model's layers, loss or output have other types than computed,
 *   - the C generator writes nothing for an accepted model.
 * Sanitizer reports and crashes in parse, check and emit are findings too.
 *
 * TSC_FUZZ_SAVE_DIR=dir writes every accepted model there (named by a hash of
 * its text) for tests/fuzz/compile_generated.sh, which compiles and runs the
 * generated C; TSC_FUZZ_VERBOSE=1 prints each model and its diagnostics. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LAYERS 10
#define MAX_RANK 8
#define BATCH (-1)             /* the calculator's symbolic batch, as dims[0] */
/* Per-sample elements a layer may produce: keeps models cheap to compile and
 * run under the sanitizers. An op that would exceed it becomes a relu. */
#define MAX_SAMPLE_ELEMENTS 4096

/* --- Choices from the input bytes ---------------------------------------- */

typedef struct byte_source {
    const uint8_t *data;
    size_t size, pos;
} byte_source;

/* Exhausted input reads as zeros, so every prefix is a complete model. */
static unsigned next_byte(byte_source *in)
{
    return in->pos < in->size ? in->data[in->pos++] : 0;
}

/* A choice in [0, n). */
static unsigned pick(byte_source *in, unsigned n)
{
    return next_byte(in) % n;
}

/* A value in [lo, hi]. */
static int64_t pick_range(byte_source *in, int64_t lo, int64_t hi)
{
    return lo + (int64_t)pick(in, (unsigned)(hi - lo + 1));
}

/* A size: mostly small, 1..small, so that the checker sees many shapes
 * quickly; one time in eight from [wide_lo, wide_hi], wide enough for the
 * runtime's batched and threaded kernels (dense layers of 96 units and
 * more, kernels large enough to split between threads, convolutions of 16
 * filters and more) when compile_generated.sh runs the model's C. */
static int64_t pick_size(byte_source *in, int64_t small, int64_t wide_lo, int64_t wide_hi)
{
    if (pick(in, 8) == 0)
        return pick_range(in, wide_lo, wide_hi);
    return pick_range(in, 1, small);
}

/* --- TDL text ---------------------------------------------------------------- */

typedef struct text {
    char buf[16384];
    size_t len;
} text;

static void append(text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void append(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    /* A model of MAX_LAYERS short lines cannot fill the buffer: running out is a harness bug. */
    if (n < 0 || (size_t)n >= sizeof t->buf - t->len)
        abort();
    t->len += (size_t)n;
}

/* --- The independent shape calculator -------------------------------------- */

typedef struct shape {
    int rank;
    int64_t dims[MAX_RANK];    /* dims[0] is BATCH */
} shape;

static int64_t per_sample(const shape *s)
{
    int64_t n = 1;
    for (int i = 1; i < s->rank; i++)
        n *= s->dims[i];
    return n;
}

static void format_shape(text *t, const shape *s, bool wildcards, byte_source *in)
{
    append(t, "[");
    for (int i = 0; i < s->rank; i++) {
        if (i > 0)
            append(t, ", ");
        if (s->dims[i] == BATCH)
            append(t, "B");
        else if (wildcards && pick(in, 4) == 0)
            append(t, "_");
        else
            append(t, "%lld", (long long)s->dims[i]);
    }
    append(t, "]");
}

/* docs/ops.md, "Window arithmetic": the output size along one axis, or 0
 * when the window does not fit. */
static int64_t window_out(int64_t in, int64_t k, int64_t s, int64_t d, bool same)
{
    if (same)
        return (in + s - 1) / s;
    int64_t span = in - d * (k - 1) - 1;
    return span < 0 ? 0 : span / s + 1;
}

/* A size argument as `n` or `(h, w)`: one value when the two are equal and the byte says so. */
static void format_pair(text *t, const char *key, const int64_t v[2], byte_source *in)
{
    if (v[0] == v[1] && pick(in, 2) == 0)
        append(t, ", %s=%lld", key, (long long)v[0]);
    else
        append(t, ", %s=(%lld, %lld)", key, (long long)v[0], (long long)v[1]);
}

/* A choice of a window size that is mostly valid (1..5) and now and then 0 (invalid). */
static int64_t pick_window(byte_source *in)
{
    unsigned b = next_byte(in);
    return b == 255 ? 0 : 1 + (int64_t)(b % 5);
}

typedef struct layer {
    shape out;
    bool valid;
} layer;

/* conv2d and the pools: [B,H,W,C] -> [B,H',W',C'] */
static layer gen_window(text *t, byte_source *in, const shape *x, bool conv)
{
    static const char *const pools[] = {"max_pool2d", "avg_pool2d"};
    static const char *const activations[] = {"linear", "relu",  "sigmoid", "tanh", "leaky_relu", "softmax",
                                                   "elu",    "softplus", "gelu", "swish", "silu"};
    layer r = {.out = *x, .valid = x->rank == 4};
    int64_t k[2] = {pick_window(in), pick_window(in)};
    if (pick(in, 2) == 0)
        k[1] = k[0];
    bool has_strides = pick(in, 2) == 0;
    int64_t s[2] = {pick_range(in, 1, 3), pick_range(in, 1, 3)};
    if (pick(in, 2) == 0)
        s[1] = s[0];
    if (!has_strides) {
        /* Pools default to strides = pool_size, conv2d to 1. */
        s[0] = conv ? 1 : k[0];
        s[1] = conv ? 1 : k[1];
    }
    int64_t d[2] = {1, 1};
    bool has_dilation = conv && pick(in, 3) == 0;
    if (has_dilation) {
        d[0] = pick_range(in, 1, 3);
        d[1] = pick(in, 2) == 0 ? d[0] : pick_range(in, 1, 3);
    }
    bool same = pick(in, 2) == 0;
    int64_t filters = conv ? pick_size(in, 8, 16, 40) : 0;

    if (conv)
        append(t, "conv2d(x, filters=%lld", (long long)filters);
    else
        append(t, "%s(x", pools[pick(in, 2)]);
    format_pair(t, conv ? "kernel_size" : "pool_size", k, in);
    if (has_strides) {
        if (pick(in, 4) == 0)
            append(t, ", strides=(1, %lld, %lld, 1)", (long long)s[0], (long long)s[1]);
        else
            format_pair(t, "strides", s, in);
    }
    if (has_dilation)
        format_pair(t, "dilation_rate", d, in);
    if (same || pick(in, 2) == 0)
        append(t, ", padding=%s", same ? "same" : "valid");
    if (conv && pick(in, 2) == 0)
        append(t, ", activation=%s", activations[pick(in, (unsigned)(sizeof activations / sizeof activations[0]))]);
    append(t, ")");

    if (!r.valid)
        return r;
    for (int i = 0; i < 2; i++) {
        if (k[i] < 1) {
            r.valid = false;
            return r;
        }
        int64_t o = window_out(x->dims[1 + i], k[i], s[i], d[i], same);
        if (o < 1) {
            r.valid = false;
            return r;
        }
        r.out.dims[1 + i] = o;
    }
    if (conv)
        r.out.dims[3] = filters;
    return r;
}

/* reshape to a per-sample shape made of factors of the element count;
 * sometimes with -1, a leading B, or a count that does not match. */
static layer gen_reshape(text *t, byte_source *in, const shape *x)
{
    layer r = {.valid = true};
    int64_t n = per_sample(x);
    int64_t target[3];
    int q = (int)pick_range(in, 1, 3);
    int64_t left = n;
    for (int i = 0; i < q - 1; i++) {
        /* The smallest divisor of what is left that is >= a chosen start
         * (left itself at the latest, so the start must not pass it). */
        int64_t f = pick_range(in, 1, 6);
        if (f > left)
            f = left;
        while (left % f != 0)
            f++;
        target[i] = f;
        left /= f;
    }
    target[q - 1] = left;

    int64_t written[3];
    memcpy(written, target, sizeof written);
    unsigned twist = pick(in, 8);
    if (twist == 0) {
        written[pick(in, (unsigned)q)] = -1;            /* inferred: still valid */
    } else if (twist == 1) {
        written[q - 1] *= 2;                            /* counts differ */
        r.valid = false;
    } else if (twist == 2 && q >= 2) {
        written[0] = pick_range(in, 1, 7);              /* [k, -1]: valid when k divides n */
        written[1] = -1;
        q = 2;
        target[0] = written[0];
        target[1] = n / written[0];
        r.valid = n % written[0] == 0;
    } else if (twist == 3 && q >= 2) {
        written[0] = -1;                                /* two inferred dims */
        written[1] = -1;
        r.valid = false;
    }

    append(t, "reshape(x, shape=[");
    if (pick(in, 4) == 0)
        append(t, "B, ");
    for (int i = 0; i < q; i++)
        append(t, "%s%lld", i > 0 ? ", " : "", (long long)written[i]);
    append(t, "])");
    r.out.rank = 1 + q;
    r.out.dims[0] = BATCH;
    for (int i = 0; i < q; i++)
        r.out.dims[1 + i] = target[i];
    return r;
}

/* One layer on x (f32 of rank 2 or more). */
static layer gen_layer(text *t, byte_source *in, const shape *x)
{
    layer r = {.out = *x, .valid = true};
    unsigned op = pick(in, 16);
    switch (op) {
    case 0:
    case 1:
        return gen_window(t, in, x, true);
    case 2:
        return gen_window(t, in, x, false);
    case 3:
        append(t, "flatten(x)");
        r.out.rank = 2;
        r.out.dims[1] = per_sample(x);
        return r;
    case 4:
    case 5: {
        int64_t units = pick_size(in, 16, 64, 160);
        static const char *const activations[] = {"linear", "relu",  "sigmoid", "tanh", "leaky_relu", "softmax",
                                                   "elu",    "softplus", "gelu", "swish", "silu"};
        append(t, "dense(x, units=%lld", (long long)units);
        if (pick(in, 2) == 0)
            append(t, ", activation=%s", activations[pick(in, (unsigned)(sizeof activations / sizeof activations[0]))]);
        if (pick(in, 4) == 0)
            append(t, ", use_bias=%s", pick(in, 2) ? "true" : "false");
        append(t, ")");
        r.valid = x->rank == 2;
        r.out.rank = 2;
        r.out.dims[1] = units;
        return r;
    }
    case 6: {
        static const char *const plain[] = {"relu", "sigmoid", "tanh", "softplus", "swish", "silu", "gelu", "elu"};
        append(t, "%s(x)", plain[pick(in, (unsigned)(sizeof plain / sizeof plain[0]))]);
        return r;
    }
    case 7: {
        /* alpha >= 0; a negative one is an error. */
        int alpha = (int)pick_range(in, -1, 6);
        append(t, "leaky_relu(x, alpha=%s%d.%d)", alpha < 0 ? "-" : "", alpha < 0 ? 0 : alpha / 4,
               alpha < 0 ? 5 : (alpha % 4) * 25);
        r.valid = alpha >= 0;
        return r;
    }
    case 8: {
        /* axis in [-rank, rank); the batch axis is allowed. */
        if (pick(in, 2) == 0) {
            append(t, "softmax(x)");
            return r;
        }
        int64_t axis = pick_range(in, -x->rank - 1, x->rank);
        append(t, "softmax(x, axis=%lld)", (long long)axis);
        r.valid = axis >= -x->rank && axis < x->rank;
        return r;
    }
    case 9: {
        /* rate in [0, 1) */
        static const char *const rates[] = {"0.0", "0.25", "0.5", "0.9", "1.0"};
        unsigned i = pick(in, 5);
        append(t, "dropout(x, rate=%s)", rates[i]);
        r.valid = i < 4;
        return r;
    }
    case 10:
        append(t, "%s(x, x)", pick(in, 2) ? "add" : "multiply");
        return r;
    case 11: {
        /* Joins x with itself: axis in [-rank, rank) and not the batch. */
        int64_t axis = pick_range(in, -x->rank - 1, x->rank);
        if (pick(in, 4) == 0 && axis == -1)
            append(t, "concat([x, x])");
        else
            append(t, "concat(x, x, axis=%lld)", (long long)axis);
        int64_t a = axis < 0 ? axis + x->rank : axis;
        r.valid = axis >= -x->rank && axis < x->rank && a != 0;
        if (r.valid)
            r.out.dims[a] *= 2;
        return r;
    }
    case 12:
    case 13:
        return gen_reshape(t, in, x);
    case 14:
        append(t, "global_%s_pool2d(x)", pick(in, 2) ? "avg" : "max");
        r.valid = x->rank == 4;
        r.out.rank = 2;
        r.out.dims[1] = x->dims[x->rank - 1];
        return r;
    default:
        append(t, "relu(x)");
        return r;
    }
}

/* The first layer reads the input: each standalone identifier x of the line
 * (the only identifier the generator writes for a tensor) becomes its name. */
static void rename_tensor(text *line, const char *name)
{
    text out = {.len = 0};
    for (size_t i = 0; i < line->len; i++) {
        char c = line->buf[i];
        bool before = i > 0 && (line->buf[i - 1] == '_' || isalnum((unsigned char)line->buf[i - 1]));
        bool after = i + 1 < line->len && (line->buf[i + 1] == '_' || isalnum((unsigned char)line->buf[i + 1]));
        if (c == 'x' && !before && !after)
            append(&out, "%s", name);
        else
            append(&out, "%c", c);
    }
    *line = out;
}

/* --- Comparing with tsc ---------------------------------------------------- */

static bool same_type(const tsc_type *got, const shape *want)
{
    if (got->dtype != TSC_DTYPE_F32 || got->rank != want->rank)
        return false;
    for (int i = 0; i < want->rank; i++) {
        int64_t w = want->dims[i] == BATCH ? TSC_DIM_BATCH : want->dims[i];
        if (got->dims[i] != w)
            return false;
    }
    return true;
}

static FILE *null_stream(void)
{
    static FILE *sink;
    if (!sink) {
        sink = fopen("/dev/null", "w");
        if (!sink)
            abort();
    }
    return sink;
}

static void fail(const text *model, const char *why)
{
    fprintf(stderr, "fuzz_structured: %s\n--- model ---\n%.*s--- end ---\n", why, (int)model->len, model->buf);
    abort();
}

/* FNV-1a: names saved models by their text, so a model is saved once. */
static uint64_t text_hash(const text *t)
{
    uint64_t h = UINT64_C(14695981039346656037);
    for (size_t i = 0; i < t->len; i++)
        h = (h ^ (unsigned char)t->buf[i]) * UINT64_C(1099511628211);
    return h;
}

static void save_model(const text *model)
{
    const char *dir = getenv("TSC_FUZZ_SAVE_DIR");
    if (!dir || !*dir)
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/m_%016llx.tdl", dir, (unsigned long long)text_hash(model));
    FILE *f = fopen(path, "wb");
    if (!f)
        return;
    fwrite(model->buf, 1, model->len, f);
    fclose(f);
}

/* Emits the C of an accepted model into memory: it must not crash and must write both files. */
static void emit_into_memory(const checked_model *model, const text *source)
{
    char *h = NULL, *c = NULL;
    size_t h_len = 0, c_len = 0;
    FILE *hf = open_memstream(&h, &h_len);
    FILE *cf = open_memstream(&c, &c_len);
    if (!hf || !cf)
        abort();
    tsc_emit_model(model, "fuzz.tdl", hf, cf);
    fclose(hf);
    fclose(cf);
    if (h_len == 0 || c_len == 0 || !strstr(h, "fz_create") || !strstr(h, "fz_train_step"))
        fail(source, "the generated C lacks fz_create or fz_train_step");
    free(h);
    free(c);
}

/* --- The harness ------------------------------------------------------------ */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    byte_source in = {data, size, 0};
    text body = {.len = 0};
    shape expected[MAX_LAYERS];
    bool model_valid = true;

    /* The input: an image [B,H,W,C] or features [B,F]. */
    shape x = {.dims = {BATCH}};
    if (pick(&in, 2) == 0) {
        x.rank = 4;
        x.dims[1] = pick_size(&in, 12, 13, 24);
        x.dims[2] = pick_size(&in, 12, 13, 24);
        x.dims[3] = pick_range(&in, 1, 4);
    } else {
        x.rank = 2;
        x.dims[1] = pick_size(&in, 32, 64, 300);
    }
    shape input = x;

    int layer_count = (int)pick_range(&in, 1, MAX_LAYERS);
    int emitted = 0;
    for (int i = 0; i < layer_count && model_valid; i++) {
        text line = {.len = 0};
        layer r = gen_layer(&line, &in, &x);
        if (r.valid && per_sample(&r.out) > MAX_SAMPLE_ELEMENTS) {
            line.len = 0;
            append(&line, "relu(x)");
            r.out = x;
        }
        if (i == 0)
            rename_tensor(&line, input.rank == 4 ? "image" : "features");
        /* Now and then the statement asserts its type, right or (an error) wrong. */
        unsigned assert_kind = pick(&in, 8);
        if (assert_kind == 0 && r.valid) {
            append(&body, "    x : %s", pick(&in, 2) ? "f32" : "");
            format_shape(&body, &r.out, true, &in);
            append(&body, " = %s;\n", line.buf);
        } else if (assert_kind == 1 && r.valid) {
            shape wrong = r.out;
            wrong.dims[wrong.rank - 1] += 1;
            append(&body, "    x : ");
            format_shape(&body, &wrong, false, &in);
            append(&body, " = %s;\n", line.buf);
            r.valid = false;
        } else {
            append(&body, "    x = %s;\n", line.buf);
        }
        model_valid = r.valid;
        if (r.valid)
            expected[emitted++] = r.out;
        x = r.out;
    }

    /* Labels i32 with the logits' leading dims; sometimes one too few or a wrong size. */
    shape labels = x;
    labels.rank = x.rank - 1;
    unsigned label_twist = pick(&in, 16);
    if (label_twist == 0 && labels.rank > 1) {
        labels.dims[labels.rank - 1] += 1;
        model_valid = false;
    } else if (label_twist == 1 && labels.rank > 1) {
        labels.rank--;
        model_valid = false;
    }
    bool has_metric = pick(&in, 3) == 0;
    unsigned output_kind = pick(&in, 3);    /* 0: none, 1: x itself, 2: softmax(x) */

    text model = {.len = 0};
    append(&model, "model fz {\n    input %s : f32", input.rank == 4 ? "image" : "features");
    format_shape(&model, &input, false, &in);
    append(&model, ";\n    input label : i32");
    format_shape(&model, &labels, false, &in);
    append(&model, ";\n%.*s", (int)body.len, body.buf);
    append(&model, "    loss xent = sparse_softmax_cross_entropy(labels=label, logits=x);\n");
    if (has_metric)
        append(&model, "    metric acc = accuracy(label, x);\n");
    if (output_kind == 1)
        append(&model, "    output x;\n");
    else if (output_kind == 2)
        append(&model, "    output probs = softmax(x);\n");
    if (pick(&in, 2) == 0)
        append(&model, "    optimizer adam(learning_rate=0.001);\n");
    else
        append(&model, "    optimizer sgd(learning_rate=0.01%s);\n", pick(&in, 2) ? ", momentum=0.9" : "");
    append(&model, "}\n");

    bool verbose = getenv("TSC_FUZZ_VERBOSE") != NULL;
    if (verbose)
        fprintf(stderr, "%.*s", (int)model.len, model.buf);
    tsc_source *source = tsc_source_from_string("fuzz.tdl", model.buf, model.len);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = verbose ? stderr : null_stream()};
    diag_begin(&options);
    ast_file *ast = NULL;
    int parse_errors = tsc_parse(source, &ast);
    if (!ast || parse_errors != 0)
        fail(&model, "the generated model does not parse");
    checked_file *checked = NULL;
    int check_errors = tsc_check(ast, &checked);
    if (!checked)
        abort();
    bool accepted = check_errors == 0;
    if (accepted != model_valid)
        fail(&model, accepted ? "tsc accepts a model the shape calculator rejects"
                              : "tsc rejects a model the shape calculator accepts");
    if (accepted) {
        if (checked->model_count != 1)
            fail(&model, "not one model");
        const checked_model *m = &checked->models[0];
        /* Nodes are in source order: the two inputs, then one per layer. */
        if (m->node_count < 2 + emitted || m->input_count != 2)
            fail(&model, "fewer nodes than layers");
        for (int i = 0; i < emitted; i++) {
            if (!same_type(&m->nodes[2 + i]->type, &expected[i])) {
                char got[TSC_TYPE_STR_MAX];
                tsc_type_format(got, sizeof got, &m->nodes[2 + i]->type, "B");
                fprintf(stderr, "layer %d: tsc says %s\n", i + 1, got);
                fail(&model, "a layer's type differs from the shape calculator's");
            }
        }
        if (m->loss_count != 1 || m->losses[0].node->type.rank != 0)
            fail(&model, "the loss is not one scalar");
        if (output_kind != 0 && (m->output_count != 1 || !same_type(&m->outputs[0].node->type, &x)))
            fail(&model, "the output's type differs from the shape calculator's");
        emit_into_memory(m, &model);
        save_model(&model);
    }
    diag_end();

    checked_file_free(checked);
    ast_file_free(ast);
    tsc_source_free(source);
    return 0;
}
