/* The C each op becomes: one forward and one backward emitter per op
 * family, calling libtdlrt kernels with sizes spelled as literals (only the
 * batch is a variable). Gradients accumulate (+=); cg_accumulate emits the
 * zeroing before a gradient's first contribution. */
#include <string.h>

#include <tdl/runtime.h>

#include "codegen.h"

enum { EXPR = 96 };

/* --- Small helpers ---------------------------------------------------------- */

static const cg_node_buffers *buffers_of(const cg_emitter *e, const checked_node *n) {
    return &e->program->node_buffers[n->index];
}

static const char *value_of(cg_emitter *e, const checked_node *n) {
    return cg_use(e, buffers_of(e, n)->value);
}

static bool has_grad(const cg_emitter *e, const checked_node *n) {
    return e->program->grad[n->index];
}

/* The gradient of n's output to accumulate into, or "NULL" if none is needed. */
static const char *grad_into(cg_emitter *e, const checked_node *n) {
    int g = buffers_of(e, n)->grad;
    return has_grad(e, n) && g >= 0 ? cg_accumulate(e, g) : "NULL";
}

static const char *grad_of(cg_emitter *e, const checked_node *n) {
    return cg_use(e, buffers_of(e, n)->grad);
}

static int64_t dim(const tsc_type *t, int i) {
    return t->dims[i];
}

/* "batch" for the symbolic batch dim, else the literal. */
static void dim_expr(const tsc_type *t, int i, char *out, size_t size) {
    if (t->dims[i] == TSC_DIM_BATCH) snprintf(out, size, "batch");
    else snprintf(out, size, "%lld", (long long)t->dims[i]);
}

/* The product of dims [from, to) as a size_t expression. */
static void product_expr(const tsc_type *t, int from, int to, char *out, size_t size) {
    int64_t literal = 1;
    bool batch = false;
    for (int i = from; i < to; i++) {
        if (t->dims[i] == TSC_DIM_BATCH) batch = true;
        else literal *= t->dims[i];
    }
    if (batch) snprintf(out, size, "(size_t)batch * %lld", (long long)literal);
    else snprintf(out, size, "%lld", (long long)literal);
}

/* The parameter `role` ("kernel", "bias") of n as "m->params + OFFSET"
 * (or m->grads), or "NULL" when the layer has none. */
static void param_expr(const cg_emitter *e, const checked_node *n, const char *role, const char *base, char *out,
                       size_t size) {
    int64_t offset = e->program->param_offsets[n->index];
    for (int k = 0; k < n->param_count; k++) {
        if (strcmp(n->params[k].role, role) == 0) {
            snprintf(out, size, "m->%s + %lld", base, (long long)offset);
            return;
        }
        int64_t elements = 0;
        tsc_type_elements(&n->params[k].type, 1, 0, &elements);
        offset += elements;
    }
    snprintf(out, size, "NULL");
}

static void desc_name(const cg_emitter *e, const checked_node *n, char *out, size_t size) {
    char name[64];
    cg_node_c_name(n, name, sizeof name);
    snprintf(out, size, "%s_%s_desc", e->prefix, name);
}

static tdl_activation runtime_activation(tsc_activation a) {
    /* softmax is not fused: the layer runs linear, then tdl_softmax_forward. */
    return a == TSC_ACTIVATION_SOFTMAX ? TDL_ACTIVATION_LINEAR : (tdl_activation)a;
}

static const char *const activation_constants[] = {
    [TDL_ACTIVATION_LINEAR] = "TDL_ACTIVATION_LINEAR",   [TDL_ACTIVATION_RELU] = "TDL_ACTIVATION_RELU",
    [TDL_ACTIVATION_SIGMOID] = "TDL_ACTIVATION_SIGMOID", [TDL_ACTIVATION_TANH] = "TDL_ACTIVATION_TANH",
    [TDL_ACTIVATION_LEAKY_RELU] = "TDL_ACTIVATION_LEAKY_RELU",
};

static tsc_activation activation_of_op(tsc_op op) {
    switch (op) {
    case TSC_OP_RELU: return TSC_ACTIVATION_RELU;
    case TSC_OP_SIGMOID: return TSC_ACTIVATION_SIGMOID;
    case TSC_OP_TANH: return TSC_ACTIVATION_TANH;
    case TSC_OP_LEAKY_RELU: return TSC_ACTIVATION_LEAKY_RELU;
    default: TSC_UNREACHABLE();
    }
}

/* A status-returning call: jump to the entry point's failure path. */
static void status_call(cg_emitter *e, const char *call) {
    e->failed_status = true;
    cg_line(e, "    status = %s;\n    if (status != TDL_STATUS_OK) goto fail;\n", call);
}

/* The conv geometry of conv2d and of the two backprop ops: (input type,
 * output type, filters). */
static void conv_geometry(const checked_node *n, const tsc_type **in, const tsc_type **out) {
    switch (n->op) {
    case TSC_OP_CONV2D: *in = &n->inputs[0]->type; *out = &n->type; return;
    case TSC_OP_CONV2D_BACKPROP_FILTER: *in = &n->inputs[0]->type; *out = &n->inputs[1]->type; return;
    case TSC_OP_CONV2D_BACKPROP_INPUT: *in = &n->type; *out = &n->inputs[1]->type; return;
    default: TSC_UNREACHABLE();
    }
}

/* TF padding: what 'same' adds in total, the extra row/column at the end. */
static int64_t pad_before(int64_t in, int64_t out, int64_t k, int64_t s, int64_t d) {
    int64_t total = (out - 1) * s + d * (k - 1) + 1 - in;
    return total > 0 ? total / 2 : 0;
}

/* --- Descriptors (file-scope statics) --------------------------------------- */

/* The runtime descriptor of conv2d and of the two backprop ops (theirs is
 * the descriptor of the convolution they differentiate). */
void cg_conv_desc(const checked_node *n, tdl_conv2d_desc *d) {
    const tsc_type *in, *o;
    conv_geometry(n, &in, &o);
    const checked_attrs *a = &n->attrs;
    tsc_activation act = n->op == TSC_OP_CONV2D ? a->activation : TSC_ACTIVATION_LINEAR;
    *d = (tdl_conv2d_desc){
        .in_h = (int)dim(in, 1), .in_w = (int)dim(in, 2), .in_c = (int)dim(in, 3),
        .out_h = (int)dim(o, 1), .out_w = (int)dim(o, 2), .out_c = (int)dim(o, 3),
        .kernel_h = (int)a->kernel[0], .kernel_w = (int)a->kernel[1],
        .stride_h = (int)a->strides[0], .stride_w = (int)a->strides[1],
        .dilation_h = (int)a->dilation[0], .dilation_w = (int)a->dilation[1],
        .pad_top = (int)pad_before(dim(in, 1), dim(o, 1), a->kernel[0], a->strides[0], a->dilation[0]),
        .pad_left = (int)pad_before(dim(in, 2), dim(o, 2), a->kernel[1], a->strides[1], a->dilation[1]),
        .activation = runtime_activation(act),
        .alpha = act == TSC_ACTIVATION_LEAKY_RELU ? (float)a->alpha : 0.0f,
    };
}

void cg_dense_desc(const checked_node *n, tdl_dense_desc *d) {
    const checked_attrs *a = &n->attrs;
    *d = (tdl_dense_desc){
        .in_features = (int)dim(&n->inputs[0]->type, 1),
        .units = (int)a->units,
        .activation = runtime_activation(a->activation),
        .alpha = a->activation == TSC_ACTIVATION_LEAKY_RELU ? (float)a->alpha : 0.0f,
    };
}

static void emit_conv_desc(FILE *out, const char *name, const checked_node *n) {
    tdl_conv2d_desc d;
    cg_conv_desc(n, &d);
    char alpha[32];
    cg_float_literal(d.alpha, alpha, sizeof alpha);
    fprintf(out,
            "static const tdl_conv2d_desc %s = {\n"
            "    %d, %d, %d, /* in h, w, c */\n"
            "    %d, %d, %d, /* out h, w, c */\n"
            "    %d, %d, %d, %d, %d, %d, /* kernel, strides, dilation */\n"
            "    %d, %d, /* pad top, left */\n"
            "    %s, %s};\n",
            name, d.in_h, d.in_w, d.in_c, d.out_h, d.out_w, d.out_c, d.kernel_h, d.kernel_w, d.stride_h, d.stride_w,
            d.dilation_h, d.dilation_w, d.pad_top, d.pad_left, activation_constants[d.activation], alpha);
}

static void emit_pool_desc(FILE *out, const char *name, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type, *o = &n->type;
    const checked_attrs *a = &n->attrs;
    fprintf(out,
            "static const tdl_pool2d_desc %s = {\n"
            "    %lld, %lld, %lld, /* in h, w, channels */\n"
            "    %lld, %lld, /* out h, w */\n"
            "    %lld, %lld, %lld, %lld, /* pool, strides */\n"
            "    %lld, %lld}; /* pad top, left */\n",
            name, (long long)dim(in, 1), (long long)dim(in, 2), (long long)dim(in, 3), (long long)dim(o, 1),
            (long long)dim(o, 2), (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->strides[0],
            (long long)a->strides[1], (long long)pad_before(dim(in, 1), dim(o, 1), a->kernel[0], a->strides[0], 1),
            (long long)pad_before(dim(in, 2), dim(o, 2), a->kernel[1], a->strides[1], 1));
}

static void emit_dense_desc(FILE *out, const char *name, const checked_node *n) {
    tdl_dense_desc d;
    cg_dense_desc(n, &d);
    char alpha[32];
    cg_float_literal(d.alpha, alpha, sizeof alpha);
    fprintf(out, "static const tdl_dense_desc %s = {%d, %d, %s, %s};\n", name, d.in_features, d.units,
            activation_constants[d.activation], alpha);
}

static void emit_focal_desc(FILE *out, const char *name, const checked_node *n) {
    char gamma[32], alpha[32];
    cg_float_literal(n->attrs.gamma, gamma, sizeof gamma);
    cg_float_literal(n->attrs.alpha, alpha, sizeof alpha);
    fprintf(out, "static const tdl_focal_desc %s = {%s, %s};\n", name, gamma, alpha);
}

void cg_emit_descriptors(FILE *out, const checked_model *model, const char *prefix) {
    cg_emitter e = {.prefix = prefix};
    for (int i = 0; i < model->node_count; i++) {
        const checked_node *n = model->nodes[i];
        char name[128];
        desc_name(&e, n, name, sizeof name);
        switch (n->op) {
        case TSC_OP_CONV2D:
        case TSC_OP_CONV2D_BACKPROP_FILTER:
        case TSC_OP_CONV2D_BACKPROP_INPUT: emit_conv_desc(out, name, n); break;
        case TSC_OP_MAX_POOL2D:
        case TSC_OP_AVG_POOL2D: emit_pool_desc(out, name, n); break;
        case TSC_OP_DENSE: emit_dense_desc(out, name, n); break;
        case TSC_OP_FOCAL_LOSS: emit_focal_desc(out, name, n); break;
        default: break;
        }
    }
}

void cg_emit_workspace_needs(FILE *out, const checked_model *model, const char *prefix) {
    cg_emitter e = {.prefix = prefix};
    for (int i = 0; i < model->node_count; i++) {
        const checked_node *n = model->nodes[i];
        char name[128];
        desc_name(&e, n, name, sizeof name);
        if (n->op == TSC_OP_CONV2D || n->op == TSC_OP_CONV2D_BACKPROP_FILTER || n->op == TSC_OP_CONV2D_BACKPROP_INPUT)
            fprintf(out, "    need = %s_max_size(need, tdl_conv2d_workspace_size(&%s, max_batch));\n", prefix, name);
        else if (n->op == TSC_OP_DENSE)
            fprintf(out, "    need = %s_max_size(need, tdl_dense_workspace_size(&%s, max_batch));\n", prefix, name);
    }
}

/* --- Forward ------------------------------------------------------------------ */

static void forward_conv_or_dense(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    char kernel[EXPR], bias[EXPR], desc[128];
    param_expr(e, n, "kernel", "params", kernel, sizeof kernel);
    param_expr(e, n, "bias", "params", bias, sizeof bias);
    desc_name(e, n, desc, sizeof desc);
    const char *x = value_of(e, n->inputs[0]);
    const char *y = nb->pre >= 0 ? cg_use(e, nb->pre) : cg_use(e, nb->value);
    if (n->op == TSC_OP_CONV2D)
        cg_line(e, "    tdl_conv2d_forward(%s, %s, %s, %s, &%s, batch, m->workspace);\n", y, x, kernel, bias, desc);
    else
        cg_line(e, "    tdl_dense_forward(%s, %s, %s, %s, &%s, batch);\n", y, x, kernel, bias, desc);
    if (nb->pre >= 0) {
        char outer[EXPR];
        product_expr(&n->type, 0, n->type.rank - 1, outer, sizeof outer);
        cg_line(e, "    tdl_softmax_forward(%s, %s, %s, %lld, 1);\n", cg_use(e, nb->value), y, outer,
                (long long)dim(&n->type, n->type.rank - 1));
    }
}

static void forward_pool(cg_emitter *e, const checked_node *n) {
    char desc[128];
    desc_name(e, n, desc, sizeof desc);
    const char *fn = n->op == TSC_OP_MAX_POOL2D ? "tdl_max_pool2d_forward" : "tdl_avg_pool2d_forward";
    cg_line(e, "    %s(%s, %s, &%s, batch);\n", fn, value_of(e, n), value_of(e, n->inputs[0]), desc);
}

static void forward_global_pool(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    const char *fn = n->op == TSC_OP_GLOBAL_MAX_POOL2D ? "tdl_global_max_pool2d_forward" : "tdl_global_avg_pool2d_forward";
    char b[EXPR];
    dim_expr(in, 0, b, sizeof b);
    cg_line(e, "    %s(%s, %s, %s, %lld, %lld);\n", fn, value_of(e, n), value_of(e, n->inputs[0]), b,
            (long long)(dim(in, 1) * dim(in, 2)), (long long)dim(in, 3));
}

static void dims_array(const tsc_type *t, char *out, size_t size) {
    size_t used = (size_t)snprintf(out, size, "{");
    for (int i = 0; i < t->rank && used < size; i++) {
        char d[32];
        dim_expr(t, i, d, sizeof d);
        used += (size_t)snprintf(out + used, size - used, "%s%s", i ? ", " : "", d);
    }
    if (used < size) snprintf(out + used, size - used, "}");
}

static const char *reduce_constant(tsc_op op) {
    switch (op) {
    case TSC_OP_REDUCE_MAX: return "TDL_REDUCE_MAX";
    case TSC_OP_REDUCE_MEAN: return "TDL_REDUCE_MEAN";
    case TSC_OP_REDUCE_SUM: return "TDL_REDUCE_SUM";
    default: TSC_UNREACHABLE();
    }
}

static void forward_reduce(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    char dims[EXPR * 2];
    dims_array(in, dims, sizeof dims);
    cg_line(e, "    {\n        const int dims[] = %s;\n", dims);
    cg_line(e, "        tdl_reduce_forward(%s, %s, dims, %d, 0x%xu, %s);\n    }\n", value_of(e, n),
            value_of(e, n->inputs[0]), in->rank, (unsigned)n->attrs.axis_mask, reduce_constant(n->op));
}

/* (outer, axis_len, inner) around one axis of t. */
static void axis_split(const tsc_type *t, int axis, char *outer, char *axis_len, char *inner, size_t size) {
    product_expr(t, 0, axis, outer, size);
    dim_expr(t, axis, axis_len, size);
    product_expr(t, axis + 1, t->rank, inner, size);
}

static void forward_softmax(cg_emitter *e, const checked_node *n) {
    char outer[EXPR], len[EXPR], inner[EXPR];
    axis_split(&n->type, n->attrs.axis, outer, len, inner, EXPR);
    cg_line(e, "    tdl_softmax_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]), outer, len,
            inner);
}

static void forward_argmax(cg_emitter *e, const checked_node *n) {
    char outer[EXPR], len[EXPR], inner[EXPR];
    axis_split(&n->inputs[0]->type, n->attrs.axis, outer, len, inner, EXPR);
    cg_line(e, "    tdl_argmax_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]), outer, len,
            inner);
}

static void forward_activation(cg_emitter *e, const checked_node *n) {
    char count[EXPR], alpha[32];
    cg_type_count(&n->type, count, sizeof count);
    cg_float_literal(n->op == TSC_OP_LEAKY_RELU ? n->attrs.alpha : 0.0, alpha, sizeof alpha);
    cg_line(e, "    tdl_activation_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]), count,
            activation_constants[runtime_activation(activation_of_op(n->op))], alpha);
}

static void forward_dropout(cg_emitter *e, const checked_node *n) {
    if (e->program->mode != CG_MODE_TRAIN) return; /* the identity: an alias of its input */
    char count[EXPR], rate[32];
    cg_type_count(&n->type, count, sizeof count);
    cg_float_literal(n->attrs.rate, rate, sizeof rate);
    cg_line(e, "    tdl_dropout_forward(%s, %s, %s, %s, %s, &m->dropout_rng);\n", value_of(e, n),
            cg_use(e, buffers_of(e, n)->mask), value_of(e, n->inputs[0]), count, rate);
}

static void forward_conv_backprop(cg_emitter *e, const checked_node *n) {
    char count[EXPR], desc[128];
    cg_type_count(&n->type, count, sizeof count);
    desc_name(e, n, desc, sizeof desc);
    const char *y = value_of(e, n);
    cg_line(e, "    tdl_zero(%s, %s);\n", y, count);
    if (n->op == TSC_OP_CONV2D_BACKPROP_FILTER)
        cg_line(e, "    tdl_conv2d_backprop_filter(%s, %s, %s, &%s, batch, m->workspace);\n", y,
                value_of(e, n->inputs[0]), value_of(e, n->inputs[1]), desc);
    else
        cg_line(e, "    tdl_conv2d_backprop_input(%s, %s, %s, &%s, batch, m->workspace);\n", y,
                value_of(e, n->inputs[0]), value_of(e, n->inputs[1]), desc);
}

/* The int32 class indices a loss or metric reads: the labels input itself,
 * or (f32 labels, warning W0102) its conversion, emitted here. */
static const char *class_indices(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[cg_labels_input(n)];
    int converted = buffers_of(e, n)->labels;
    if (converted < 0) return value_of(e, labels);
    char count[EXPR], call[512];
    cg_type_count(&labels->type, count, sizeof count);
    const char *out = cg_use(e, converted);
    snprintf(call, sizeof call, "tdl_labels_from_float(%s, %s, %s)", out, value_of(e, labels), count);
    status_call(e, call);
    return out;
}

/* Losses and metrics work on positions: all dims but the class axis. */
static void positions_expr(const tsc_type *logits, char *out, size_t size) {
    product_expr(logits, 0, logits->rank - 1, out, size);
}

static int64_t classes_of(const tsc_type *logits) {
    return logits->rank > 0 ? dim(logits, logits->rank - 1) : 1;
}

static void forward_loss(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[0], *logits = n->inputs[1];
    const char *v = value_of(e, n), *x = value_of(e, logits);
    const char *y = n->attrs.sparse_labels ? class_indices(e, n) : value_of(e, labels);
    char positions[EXPR], count[EXPR], desc[128], call[512];
    positions_expr(&logits->type, positions, sizeof positions);
    cg_type_count(&logits->type, count, sizeof count);
    desc_name(e, n, desc, sizeof desc);
    long long classes = (long long)classes_of(&logits->type);
    switch (n->op) {
    case TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY:
        snprintf(call, sizeof call, "tdl_sparse_softmax_xent_forward(%s, %s, %s, %s, %lld)", v, x, y, positions, classes);
        status_call(e, call);
        return;
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
        cg_line(e, "    tdl_softmax_xent_forward(%s, %s, %s, %s, %lld);\n", v, x, y, positions, classes);
        return;
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
        cg_line(e, "    tdl_sigmoid_xent_forward(%s, %s, %s, %s);\n", v, x, y, count);
        return;
    case TSC_OP_BINARY_CROSS_ENTROPY:
        if (n->attrs.from_logits) cg_line(e, "    tdl_sigmoid_xent_forward(%s, %s, %s, %s);\n", v, x, y, count);
        else cg_line(e, "    tdl_binary_xent_forward(%s, %s, %s, %s);\n", v, x, y, count);
        return;
    case TSC_OP_FOCAL_LOSS:
        if (n->attrs.sparse_labels) {
            snprintf(call, sizeof call, "tdl_sparse_focal_forward(%s, %s, %s, %s, %lld, &%s)", v, x, y, positions,
                     classes, desc);
            status_call(e, call);
        } else {
            cg_line(e, "    tdl_focal_forward(%s, %s, %s, %s, %lld, &%s);\n", v, x, y, positions, classes, desc);
        }
        return;
    case TSC_OP_MEAN_SQUARED_ERROR:
        cg_line(e, "    tdl_mse_forward(%s, %s, %s, %s);\n", v, x, y, count);
        return;
    default: TSC_UNREACHABLE();
    }
}

static void forward_metric(cg_emitter *e, const checked_node *n) {
    char call[512], positions[EXPR], count[EXPR];
    const char *v = value_of(e, n);
    if (n->op == TSC_OP_MEAN) {
        const checked_node *x = n->inputs[0];
        cg_type_count(&x->type, count, sizeof count);
        cg_line(e, "    {\n        double sum = 0.0;\n        const size_t count = %s;\n", count);
        cg_line(e, "        for (size_t i = 0; i < count; i++) sum += %s[i];\n", value_of(e, x));
        cg_line(e, "        %s[0] = (float)(sum / (double)count);\n    }\n", v);
        return;
    }
    /* in_top_k(predictions, targets, k); accuracy(labels, logits) is in_top_k with k = 1. */
    bool top_k = n->op == TSC_OP_IN_TOP_K;
    const checked_node *scores = top_k ? n->inputs[0] : n->inputs[1];
    positions_expr(&scores->type, positions, sizeof positions);
    const char *indices = class_indices(e, n);
    snprintf(call, sizeof call, "tdl_in_top_k(%s, %s, %s, (int)(%s), %lld, %lld)", v, value_of(e, scores),
             indices, positions, (long long)classes_of(&scores->type),
             (long long)(top_k ? n->attrs.k : 1));
    status_call(e, call);
}

void cg_emit_forward(cg_emitter *e, const checked_node *n) {
    char count[EXPR], call[512];
    switch (n->op) {
    case TSC_OP_MULTIPLY:
    case TSC_OP_CONCAT:
        TSC_UNREACHABLE();   /* lowered by the step list of lower.c */
    case TSC_OP_INPUT:
    case TSC_OP_FLATTEN:
    case TSC_OP_RESHAPE:
    case TSC_OP_SQUEEZE:
    case TSC_OP_EXPAND_DIMS: return; /* views of their input's memory */
    case TSC_OP_CONV2D:
    case TSC_OP_DENSE: forward_conv_or_dense(e, n); return;
    case TSC_OP_MAX_POOL2D:
    case TSC_OP_AVG_POOL2D: forward_pool(e, n); return;
    case TSC_OP_GLOBAL_AVG_POOL2D:
    case TSC_OP_GLOBAL_MAX_POOL2D: forward_global_pool(e, n); return;
    case TSC_OP_DROPOUT: forward_dropout(e, n); return;
    case TSC_OP_ADD:
        cg_type_count(&n->type, count, sizeof count);
        cg_line(e, "    tdl_add_forward(%s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
                value_of(e, n->inputs[1]), count);
        return;
    case TSC_OP_REDUCE_MAX:
    case TSC_OP_REDUCE_MEAN:
    case TSC_OP_REDUCE_SUM: forward_reduce(e, n); return;
    case TSC_OP_ARGMAX: forward_argmax(e, n); return;
    case TSC_OP_ONE_HOT:
        cg_type_count(&n->inputs[0]->type, count, sizeof count);
        snprintf(call, sizeof call, "tdl_one_hot_forward(%s, %s, %s, %lld)", value_of(e, n), value_of(e, n->inputs[0]),
                 count, (long long)n->attrs.depth);
        status_call(e, call);
        return;
    case TSC_OP_CONV2D_BACKPROP_FILTER:
    case TSC_OP_CONV2D_BACKPROP_INPUT: forward_conv_backprop(e, n); return;
    case TSC_OP_RELU:
    case TSC_OP_SIGMOID:
    case TSC_OP_TANH:
    case TSC_OP_LEAKY_RELU: forward_activation(e, n); return;
    case TSC_OP_SOFTMAX: forward_softmax(e, n); return;
    case TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
    case TSC_OP_BINARY_CROSS_ENTROPY:
    case TSC_OP_FOCAL_LOSS:
    case TSC_OP_MEAN_SQUARED_ERROR: forward_loss(e, n); return;
    case TSC_OP_IN_TOP_K:
    case TSC_OP_ACCURACY:
    case TSC_OP_MEAN: forward_metric(e, n); return;
    case TSC_OP_SGD:
    case TSC_OP_ADAM:
    case TSC_OP_COUNT: break;
    }
    TSC_UNREACHABLE();
}

/* --- Backward ----------------------------------------------------------------- */

static void backward_conv_or_dense(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    char kernel[EXPR], dkernel[EXPR], dbias[EXPR], desc[128];
    param_expr(e, n, "kernel", "params", kernel, sizeof kernel);
    param_expr(e, n, "kernel", "grads", dkernel, sizeof dkernel);
    param_expr(e, n, "bias", "grads", dbias, sizeof dbias);
    desc_name(e, n, desc, sizeof desc);
    const char *dy = grad_of(e, n), *y = value_of(e, n);
    if (nb->pre >= 0) {
        /* softmax after a linear layer: through the softmax first. */
        char outer[EXPR];
        product_expr(&n->type, 0, n->type.rank - 1, outer, sizeof outer);
        const char *dpre = cg_accumulate(e, nb->dpre);
        cg_line(e, "    tdl_softmax_backward(%s, %s, %s, %s, %lld, 1);\n", dpre, dy, y, outer,
                (long long)dim(&n->type, n->type.rank - 1));
        dy = dpre;
        y = cg_use(e, nb->pre);
    }
    const char *dx = grad_into(e, n->inputs[0]);
    const char *x = value_of(e, n->inputs[0]);
    if (n->op == TSC_OP_CONV2D)
        cg_line(e, "    tdl_conv2d_backward(%s, %s, %s, %s, %s, %s, %s, &%s, batch, m->workspace);\n", dx, dkernel,
                dbias, dy, y, x, kernel, desc);
    else
        cg_line(e, "    tdl_dense_backward(%s, %s, %s, %s, %s, %s, %s, &%s, batch, m->workspace);\n", dx, dkernel,
                dbias, dy, y, x, kernel, desc);
}

static void backward_pool(cg_emitter *e, const checked_node *n) {
    char desc[128];
    desc_name(e, n, desc, sizeof desc);
    const char *dy = grad_of(e, n);
    const char *dx = grad_into(e, n->inputs[0]);
    if (n->op == TSC_OP_MAX_POOL2D)
        cg_line(e, "    tdl_max_pool2d_backward(%s, %s, %s, &%s, batch);\n", dx, dy, value_of(e, n->inputs[0]), desc);
    else
        cg_line(e, "    tdl_avg_pool2d_backward(%s, %s, &%s, batch);\n", dx, dy, desc);
}

static void backward_global_pool(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    char b[EXPR];
    dim_expr(in, 0, b, sizeof b);
    const char *dy = grad_of(e, n);
    const char *dx = grad_into(e, n->inputs[0]);
    long long spatial = (long long)(dim(in, 1) * dim(in, 2)), channels = (long long)dim(in, 3);
    if (n->op == TSC_OP_GLOBAL_MAX_POOL2D)
        cg_line(e, "    tdl_global_max_pool2d_backward(%s, %s, %s, %s, %lld, %lld);\n", dx, dy,
                value_of(e, n->inputs[0]), b, spatial, channels);
    else
        cg_line(e, "    tdl_global_avg_pool2d_backward(%s, %s, %s, %lld, %lld);\n", dx, dy, b, spatial, channels);
}

static void backward_reduce(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    char dims[EXPR * 2];
    dims_array(in, dims, sizeof dims);
    bool max = n->op == TSC_OP_REDUCE_MAX;
    const char *dy = grad_of(e, n);
    const char *y = max ? value_of(e, n) : "NULL";
    const char *x = max ? value_of(e, n->inputs[0]) : "NULL";
    const char *dx = grad_into(e, n->inputs[0]);
    cg_line(e, "    {\n        const int dims[] = %s;\n", dims);
    cg_line(e, "        tdl_reduce_backward(%s, %s, %s, %s, dims, %d, 0x%xu, %s);\n    }\n", dx, dy, y, x, in->rank,
            (unsigned)n->attrs.axis_mask, reduce_constant(n->op));
}

static void backward_conv_backprop(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    char desc[128], count[EXPR];
    desc_name(e, n, desc, sizeof desc);
    const checked_node *first = n->inputs[0], *out_backprop = n->inputs[1];
    const char *g = grad_of(e, n);
    if (has_grad(e, first)) {
        const char *d = grad_into(e, first);
        if (n->op == TSC_OP_CONV2D_BACKPROP_FILTER) /* d input = backprop_input(filter = g) */
            cg_line(e, "    tdl_conv2d_backprop_input(%s, %s, %s, &%s, batch, m->workspace);\n", d, g,
                    value_of(e, out_backprop), desc);
        else /* d filter = backprop_filter(input = g) */
            cg_line(e, "    tdl_conv2d_backprop_filter(%s, %s, %s, &%s, batch, m->workspace);\n", d, g,
                    value_of(e, out_backprop), desc);
    }
    if (has_grad(e, out_backprop)) {
        /* d out_backprop = conv2d(input, filter) with g in the place of the missing operand. */
        const char *tmp = cg_use(e, nb->temp);
        const char *x = n->op == TSC_OP_CONV2D_BACKPROP_FILTER ? value_of(e, first) : g;
        const char *w = n->op == TSC_OP_CONV2D_BACKPROP_FILTER ? g : value_of(e, first);
        cg_line(e, "    tdl_conv2d_forward(%s, %s, %s, NULL, &%s, batch, m->workspace);\n", tmp, x, w, desc);
        cg_type_count(&out_backprop->type, count, sizeof count);
        const char *d = grad_into(e, out_backprop);
        cg_line(e, "    tdl_accumulate(%s, %s, %s);\n", d, tmp, count);
    }
}

static void backward_loss(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[0], *logits = n->inputs[1];
    char positions[EXPR], count[EXPR], desc[128], call[512], weight[32];
    positions_expr(&logits->type, positions, sizeof positions);
    cg_type_count(&logits->type, count, sizeof count);
    desc_name(e, n, desc, sizeof desc);
    cg_float_literal(n->attrs.weight, weight, sizeof weight);
    long long classes = (long long)classes_of(&logits->type);
    const char *x = value_of(e, logits);
    int converted = buffers_of(e, n)->labels;
    const char *y = converted >= 0 ? cg_use(e, converted) : value_of(e, labels);
    const char *dx = grad_into(e, logits);
    const char *dy = labels->type.dtype == TSC_DTYPE_F32 ? grad_into(e, labels) : "NULL";
    switch (n->op) {
    case TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY:
        snprintf(call, sizeof call, "tdl_sparse_softmax_xent_backward(%s, %s, %s, %s, %s, %lld)", dx, weight, x, y,
                 positions, classes);
        status_call(e, call);
        return;
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
        cg_line(e, "    tdl_softmax_xent_backward(%s, %s, %s, %s, %s, %s, %lld);\n", dx, dy, weight, x, y, positions,
                classes);
        return;
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
        cg_line(e, "    tdl_sigmoid_xent_backward(%s, %s, %s, %s, %s, %s);\n", dx, dy, weight, x, y, count);
        return;
    case TSC_OP_BINARY_CROSS_ENTROPY:
        cg_line(e, "    %s(%s, %s, %s, %s, %s, %s);\n",
                n->attrs.from_logits ? "tdl_sigmoid_xent_backward" : "tdl_binary_xent_backward", dx, dy, weight, x, y,
                count);
        return;
    case TSC_OP_FOCAL_LOSS:
        if (n->attrs.sparse_labels) {
            snprintf(call, sizeof call, "tdl_sparse_focal_backward(%s, %s, %s, %s, %s, %lld, &%s)", dx, weight, x, y,
                     positions, classes, desc);
            status_call(e, call);
        } else {
            cg_line(e, "    tdl_focal_backward(%s, %s, %s, %s, %s, %lld, &%s);\n", dx, weight, x, y, positions, classes,
                    desc);
        }
        return;
    case TSC_OP_MEAN_SQUARED_ERROR:
        cg_line(e, "    tdl_mse_backward(%s, %s, %s, %s, %s, %s);\n", dx, dy, weight, x, y, count);
        return;
    default: TSC_UNREACHABLE();
    }
}

void cg_emit_backward(cg_emitter *e, const checked_node *n) {
    char count[EXPR], outer[EXPR], len[EXPR], inner[EXPR], alpha[32];
    switch (n->op) {
    case TSC_OP_FLATTEN:
    case TSC_OP_RESHAPE:
    case TSC_OP_SQUEEZE:
    case TSC_OP_EXPAND_DIMS: return; /* the gradient buffer is a view of the input's */
    case TSC_OP_CONV2D:
    case TSC_OP_DENSE: backward_conv_or_dense(e, n); return;
    case TSC_OP_MAX_POOL2D:
    case TSC_OP_AVG_POOL2D: backward_pool(e, n); return;
    case TSC_OP_GLOBAL_AVG_POOL2D:
    case TSC_OP_GLOBAL_MAX_POOL2D: backward_global_pool(e, n); return;
    case TSC_OP_DROPOUT: {
        cg_type_count(&n->type, count, sizeof count);
        const char *dy = grad_of(e, n), *mask = cg_use(e, buffers_of(e, n)->mask);
        cg_line(e, "    tdl_dropout_backward(%s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, mask, count);
        return;
    }
    case TSC_OP_ADD:
        cg_type_count(&n->type, count, sizeof count);
        for (int i = 0; i < 2; i++) {
            if (!has_grad(e, n->inputs[i])) continue;
            const char *dy = grad_of(e, n);
            cg_line(e, "    tdl_accumulate(%s, %s, %s);\n", grad_into(e, n->inputs[i]), dy, count);
        }
        return;
    case TSC_OP_REDUCE_MAX:
    case TSC_OP_REDUCE_MEAN:
    case TSC_OP_REDUCE_SUM: backward_reduce(e, n); return;
    case TSC_OP_CONV2D_BACKPROP_FILTER:
    case TSC_OP_CONV2D_BACKPROP_INPUT: backward_conv_backprop(e, n); return;
    case TSC_OP_RELU:
    case TSC_OP_SIGMOID:
    case TSC_OP_TANH:
    case TSC_OP_LEAKY_RELU: {
        cg_type_count(&n->type, count, sizeof count);
        cg_float_literal(n->op == TSC_OP_LEAKY_RELU ? n->attrs.alpha : 0.0, alpha, sizeof alpha);
        const char *dy = grad_of(e, n), *y = value_of(e, n);
        cg_line(e, "    tdl_activation_backward(%s, %s, %s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, y, count,
                activation_constants[runtime_activation(activation_of_op(n->op))], alpha);
        return;
    }
    case TSC_OP_SOFTMAX: {
        axis_split(&n->type, n->attrs.axis, outer, len, inner, EXPR);
        const char *dy = grad_of(e, n), *y = value_of(e, n);
        cg_line(e, "    tdl_softmax_backward(%s, %s, %s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, y, outer, len,
                inner);
        return;
    }
    case TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
    case TSC_OP_BINARY_CROSS_ENTROPY:
    case TSC_OP_FOCAL_LOSS:
    case TSC_OP_MEAN_SQUARED_ERROR: backward_loss(e, n); return;
    default: break;
    }
    TSC_UNREACHABLE(); /* inputs, argmax, one_hot and metrics carry no gradient */
}
