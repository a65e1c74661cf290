/* The shape and dtype rules of SPEC §3, one function per op family, and the
 * helpers that explain a shape in a note. Convolutions and pools live in
 * shape_conv.c, losses, metrics and optimizers in shape_loss.c. */
#include <string.h>

#include "tsc.h"

/* ---- message helpers --------------------------------------------------- */

const char *check_type_str(check_ctx *ctx, const tsc_type *type)
{
    char buf[TSC_TYPE_STR_MAX];
    tsc_type_format(buf, sizeof buf, type, ctx->model->batch_symbol);
    return tsc_arena_strndup(ctx->arena, buf, strlen(buf));
}

tsc_loc check_arg_loc(const checked_node *node, int param)
{
    const ast_arg *arg = node->args[param];
    return arg != NULL ? arg->value->loc : node->loc;
}

const char *check_arg_name(const checked_node *node, int param)
{
    const ast_arg *arg = node->args[param];
    TSC_ASSERT(arg != NULL && arg->value->kind == VALUE_IDENT);
    return arg->value->text;
}

/* Ops whose output has the shape of their first input: a note about their
 * output's shape is better told about where that input came from. */
static bool keeps_shape(tsc_op op)
{
    switch (op) {
    case TSC_OP_RELU:
    case TSC_OP_SIGMOID:
    case TSC_OP_TANH:
    case TSC_OP_LEAKY_RELU:
    case TSC_OP_SOFTMAX:
    case TSC_OP_DROPOUT:
        return true;
    default:
        return false;
    }
}

void check_note_origin(check_ctx *ctx, const checked_node *node, const char *shown_name)
{
    const char *type = check_type_str(ctx, &node->type);
    const checked_node *origin = node;
    while (origin->shape_reason == NULL && keeps_shape(origin->op) && origin->input_count > 0)
        origin = origin->inputs[0];
    if (origin->op == TSC_OP_INPUT) {
        tsc_loc loc = origin->stmt != NULL && origin->stmt->type != NULL ? origin->stmt->type->loc : origin->loc;
        if (origin == node || strcmp(origin->binding, shown_name) == 0)
            diag_note(loc, "'%s' is declared %s here", shown_name, type);
        else
            diag_note(loc, "'%s' is %s: it has the shape of input '%s', declared here", shown_name, type,
                      origin->binding);
    } else if (origin->shape_reason != NULL) {
        diag_note(origin->loc, "'%s' is %s because %s", shown_name, type, origin->shape_reason);
    } else {
        diag_note(origin->loc, "'%s' is %s, computed here by %s", shown_name, type, origin->info->name);
    }
}

const checked_node *check_probability_source(const checked_node *node, check_squash squash)
{
    bool sigmoid_too = squash == CHECK_SQUASH_SOFTMAX_OR_SIGMOID;
    while (node->op == TSC_OP_DROPOUT)   /* a loop, not recursion: chains may be long */
        node = node->inputs[0];
    if (node->op == TSC_OP_SOFTMAX || (sigmoid_too && node->op == TSC_OP_SIGMOID))
        return node;
    if (node->op == TSC_OP_DENSE || node->op == TSC_OP_CONV2D) {
        if (node->attrs.activation == TSC_ACTIVATION_SOFTMAX ||
            (sigmoid_too && node->attrs.activation == TSC_ACTIVATION_SIGMOID))
            return node;
    }
    return NULL;
}

/* ---- shared checks --------------------------------------------------------- */

static const checked_node *tensor_arg(const check_value *values, int param)
{
    return values[param].tensor;
}

/* Reports E0301/E0302 when tensor argument `param` is not of `dtype`. */
bool check_expect_dtype(check_ctx *ctx, const checked_node *node, const check_value *values, int param,
                         tsc_dtype dtype)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.dtype == dtype)
        return true;
    const char *name = check_arg_name(node, param);
    if (dtype == TSC_DTYPE_F32)
        diag_error(check_arg_loc(node, param), "E0301", "%s expects f32 values for '%s', but '%s' is %s",
                   node->info->name, node->info->params[param].name, name, check_type_str(ctx, &x->type));
    else
        diag_error(check_arg_loc(node, param), "E0302", "%s expects i32 class indices for '%s', but '%s' is %s",
                   node->info->name, node->info->params[param].name, name, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

/* Reports E0203 when tensor argument `param` does not have rank `rank`. */
bool check_expect_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param, int rank,
                        const char *layout)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.rank == rank)
        return true;
    const char *name = check_arg_name(node, param);
    diag_error(check_arg_loc(node, param), "E0203", "%s expects a rank-%d input %s, but '%s' is rank %d: %s",
               node->info->name, rank, layout, name, x->type.rank, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

bool check_expect_min_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param,
                            int rank)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.rank >= rank)
        return true;
    const char *name = check_arg_name(node, param);
    diag_error(check_arg_loc(node, param), "E0203", "%s expects an input of rank %d or more, but '%s' is %s",
               node->info->name, rank, name, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

/* An axis in [-rank, rank) normalised to [0, rank); E0208 otherwise. */
bool check_normalise_axis(check_ctx *ctx, const checked_node *node, int param, int64_t axis, int rank,
                           const checked_node *x, int *out)
{
    if (axis < -rank || axis >= rank) {
        diag_error(check_arg_loc(node, param), "E0208",
                   "axis %lld is out of range for '%s', which is %s: expected %d to %d", (long long)axis,
                   x->binding, check_type_str(ctx, &x->type), -rank, rank - 1);
        return false;
    }
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool check_range_error(const checked_node *node, int param, const char *what, double value)
{
    diag_error(check_arg_loc(node, param), "E0401", "%s of %s must be %s, found %g", node->info->params[param].name,
               node->info->name, what, value);
    return false;
}

/* The source text of a span, for messages that quote the user. */
const char *check_source_text(check_ctx *ctx, tsc_loc loc)
{
    if (loc.file == NULL || loc.last < loc.first || loc.last >= loc.file->length)
        return "";
    return tsc_arena_strndup(ctx->arena, loc.file->text + loc.first, loc.last - loc.first + 1);
}

/* "max_pool2d(pool_size=2)": the op with the given arguments among `keys`,
 * as the user wrote them. */
const char *check_call_summary(check_ctx *ctx, const checked_node *node, const char *const *keys)
{
    char *text = tsc_arena_format(ctx->arena, "%s(", node->info->name);
    bool first = true;
    for (int k = 0; keys[k] != NULL; k++) {
        int i = tsc_op_param_index(node->info, keys[k]);
        if (i < 0 || node->args[i] == NULL)
            continue;
        text = tsc_arena_format(ctx->arena, "%s%s%s=%s", text, first ? "" : ", ", keys[k],
                                check_source_text(ctx, node->args[i]->value->loc));
        first = false;
    }
    return tsc_arena_format(ctx->arena, "%s)", text);
}

tsc_type check_make_type(tsc_dtype dtype, int rank)
{
    tsc_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    return t;
}

static tsc_activation activation_of(const check_value *v)
{
    /* enum_words of activation= are in tsc_activation order. */
    return v->arg != NULL ? (tsc_activation)v->word : TSC_ACTIVATION_LINEAR;
}

static void add_param(check_ctx *ctx, checked_node *node, const char *role, tsc_type type, checked_param_init init,
                      int64_t fan_in, int64_t fan_out)
{
    checked_param *p = &node->params[node->param_count++];
    p->name = tsc_arena_format(ctx->arena, "%s.%s", node->layer_name, role);
    p->role = role;
    p->type = type;
    p->init = init;
    p->fan_in = fan_in;
    p->fan_out = fan_out;
}

/* Kernel and bias of conv2d and dense. */
void check_add_weights(check_ctx *ctx, checked_node *node, const int64_t *kernel_dims, int kernel_rank,
                       int64_t fan_in, int64_t fan_out, int64_t bias)
{
    tsc_type kernel = check_make_type(TSC_DTYPE_F32, kernel_rank);
    memcpy(kernel.dims, kernel_dims, (size_t)kernel_rank * sizeof kernel.dims[0]);
    add_param(ctx, node, "kernel", kernel, TSC_INIT_GLOROT_UNIFORM, fan_in, fan_out);
    if (node->attrs.use_bias) {
        tsc_type b = check_make_type(TSC_DTYPE_F32, 1);
        b.dims[0] = bias;
        add_param(ctx, node, "bias", b, TSC_INIT_ZEROS, 0, 0);
    }
}

/* Fills activation/alpha/use_bias from the arguments of conv2d or dense. */
void check_layer_options(checked_node *node, const check_value *values)
{
    int act = tsc_op_param_index(node->info, "activation");
    int bias = tsc_op_param_index(node->info, "use_bias");
    node->attrs.activation = activation_of(&values[act]);
    node->attrs.alpha = node->attrs.activation == TSC_ACTIVATION_LEAKY_RELU ? 0.3 : 0.0;
    node->attrs.use_bias = values[bias].arg != NULL ? values[bias].flag : true;
}

/* ---- dense -------------------------------------------------------------------- */

void check_fixit_before_statement(check_ctx *ctx, const char *statement)
{
    const ast_stmt *stmt = ctx->stmt;
    const char *text = stmt->loc.file->text;
    uint32_t start = stmt->loc.first;
    while (start > 0 && text[start - 1] != '\n')
        start--;
    const char *indent = check_source_text(ctx, (tsc_loc){stmt->loc.file, start, stmt->loc.first - 1});
    diag_fixit((tsc_loc){stmt->loc.file, start, start - 1},
               tsc_arena_format(ctx->arena, "%s%s\n", indent, statement));
}

/* dense on a rank != 2 input: offer flatten and global_avg_pool2d with the
 * shapes they would give, and a fix-it that inserts flatten. */
static void help_rank2(check_ctx *ctx, const checked_node *node, const checked_node *x, const char *name)
{
    const tsc_type *t = &x->type;
    const char *fix = NULL;
    if (t->rank >= 3) {
        tsc_type flat = check_make_type(t->dtype, 2);
        flat.dims[0] = t->dims[0];
        int64_t features;
        if (!tsc_type_elements(t, 1, 1, &features))
            return;
        flat.dims[1] = features;
        if (t->rank == 4) {
            tsc_type pooled = check_make_type(t->dtype, 2);
            pooled.dims[0] = t->dims[0];
            pooled.dims[1] = t->dims[3];
            diag_help(node->loc, "insert '%s = flatten(%s);' (gives %s) or '%s = global_avg_pool2d(%s);' (gives %s) "
                      "before this line", name, name, check_type_str(ctx, &flat), name, name,
                      check_type_str(ctx, &pooled));
        } else {
            diag_help(node->loc, "insert '%s = flatten(%s);' (gives %s) before this line", name, name,
                      check_type_str(ctx, &flat));
        }
        fix = tsc_arena_format(ctx->arena, "%s = flatten(%s);", name, name);
    } else if (t->rank == 1) {
        tsc_type expanded = check_make_type(t->dtype, 2);
        expanded.dims[0] = t->dims[0];
        expanded.dims[1] = 1;
        diag_help(node->loc, "insert '%s = expand_dims(%s, axis=-1);' (gives %s) before this line", name, name,
                  check_type_str(ctx, &expanded));
        fix = tsc_arena_format(ctx->arena, "%s = expand_dims(%s, axis=-1);", name, name);
    }
    if (fix != NULL)
        check_fixit_before_statement(ctx, fix);
}

static bool shape_dense(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32))
        return false;
    if (x->type.rank != 2) {
        const char *name = check_arg_name(node, 0);
        diag_error(check_arg_loc(node, 0), "E0203",
                   "dense expects a rank-2 input [batch, features], but '%s' is rank %d: %s", name, x->type.rank,
                   check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, name);
        help_rank2(ctx, node, x, name);
        return false;
    }
    int64_t units = values[1].ints[0];
    if (units < 1)
        return check_range_error(node, 1, "at least 1", (double)units);
    node->attrs.units = units;
    check_layer_options(node, values);
    node->type = check_make_type(TSC_DTYPE_F32, 2);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = units;
    int64_t features = x->type.dims[1];
    int64_t kernel[2] = {features, units};
    check_add_weights(ctx, node, kernel, 2, features, units, units);
    node->shape_reason = tsc_arena_format(ctx->arena, "dense(units=%lld) maps the %lld features of %s to %lld",
                                          (long long)units, (long long)features, check_type_str(ctx, &x->type),
                                          (long long)units);
    return true;
}

/* ---- reshaping ------------------------------------------------------------------- */

static bool shape_global_pool(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, 0, 4, "[batch, height, width, channels]"))
        return false;
    node->type = check_make_type(TSC_DTYPE_F32, 2);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = x->type.dims[3];
    node->shape_reason = tsc_arena_format(
        ctx->arena, "%s() %s the %lldx%lld positions of %s to one per channel", node->info->name,
        node->op == TSC_OP_GLOBAL_AVG_POOL2D ? "averages" : "takes the maximum of", (long long)x->type.dims[1],
        (long long)x->type.dims[2], check_type_str(ctx, &x->type));
    return true;
}

/* "5*5*64" for the dims of t from index `from` on. */
static const char *product_text(check_ctx *ctx, const tsc_type *t, int from)
{
    const char *text = "";
    for (int i = from; i < t->rank; i++)
        text = tsc_arena_format(ctx->arena, "%s%s%lld", text, i == from ? "" : "*", (long long)t->dims[i]);
    return text;
}

static bool shape_flatten(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    if (!check_expect_min_rank(ctx, node, values, 0, 1))
        return false;
    int64_t features = 1;
    if (!tsc_type_elements(&x->type, 1, 1, &features)) {
        diag_error(node->loc, "E0210", "flatten of %s overflows a 64-bit element count",
                   check_type_str(ctx, &x->type));
        return false;
    }
    node->type = check_make_type(x->type.dtype, 2);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = features;
    if (x->type.rank <= 2)
        node->shape_reason = tsc_arena_format(ctx->arena, "flatten() of %s keeps %lld features",
                                              check_type_str(ctx, &x->type), (long long)features);
    else
        node->shape_reason = tsc_arena_format(ctx->arena, "flatten() multiplies the dims of %s: %s = %lld",
                                              check_type_str(ctx, &x->type), product_text(ctx, &x->type, 1),
                                              (long long)features);
    return true;
}

/* reshape's shape is per sample (as Keras' Reshape): the batch dim is kept;
 * a leading batch symbol in shape is accepted and skipped. */
static bool shape_reshape(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    const check_value *shape = &values[1];
    tsc_loc loc = check_arg_loc(node, 1);
    if (!check_expect_min_rank(ctx, node, values, 0, 1))
        return false;
    int first = shape->count > 0 && shape->is_batch[0] ? 1 : 0;
    int rank = 1 + shape->count - first;
    if (rank > TSC_MAX_RANK) {
        diag_error(loc, "E0203", "reshape to rank %d; at most %d is supported", rank, TSC_MAX_RANK);
        return false;
    }
    int64_t have;
    if (!tsc_type_elements(&x->type, 1, 1, &have))
        return false;
    int inferred = -1;
    int64_t known = 1;
    tsc_type out = check_make_type(x->type.dtype, rank);
    out.dims[0] = x->type.dims[0];
    for (int i = first; i < shape->count; i++) {
        int64_t d = shape->ints[i];
        if (shape->is_batch[i]) {
            diag_error(loc, "E0202", "reshape's shape may name the batch only first; it is kept as is");
            return false;
        }
        if (d == -1 && inferred < 0) {
            inferred = i - first + 1;
            continue;
        }
        if (d == -1) {
            diag_error(loc, "E0202", "reshape's shape has more than one -1; only one size can be inferred");
            return false;
        }
        if (d < 1) {
            diag_error(loc, "E0202", "reshape's shape has the size %lld; sizes are at least 1 (or -1 to infer one)",
                       (long long)d);
            return false;
        }
        if (!tsc_mul_checked(known, d, &known)) {
            diag_error(loc, "E0210", "reshape's shape overflows a 64-bit element count");
            return false;
        }
        out.dims[i - first + 1] = d;
    }
    /* "(28*28)" when the count is a product worth showing */
    const char *per_sample = x->type.rank > 2 ? tsc_arena_format(ctx->arena, " (%s)", product_text(ctx, &x->type, 1)) : "";
    if (inferred >= 0) {
        if (have % known != 0) {
            diag_error(loc, "E0202",
                       "reshape cannot infer -1: '%s' has %lld elements per sample%s, not a multiple of %lld",
                       check_arg_name(node, 0), (long long)have, per_sample, (long long)known);
            check_note_origin(ctx, x, check_arg_name(node, 0));
            return false;
        }
        out.dims[inferred] = have / known;
        node->shape_reason = tsc_arena_format(ctx->arena, "reshape(shape=%s) infers -1 = %lld/%lld = %lld",
                                              check_source_text(ctx, loc), (long long)have, (long long)known,
                                              (long long)(have / known));
    } else if (known != have) {
        diag_error(loc, "E0202",
                   "reshape to %s needs %lld elements per sample, but '%s' has %lld%s: %s",
                   check_type_str(ctx, &out), (long long)known, check_arg_name(node, 0), (long long)have,
                   per_sample, check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, check_arg_name(node, 0));
        return false;
    } else {
        node->shape_reason = tsc_arena_format(ctx->arena, "reshape(shape=%s) regroups the %lld elements of %s",
                                              check_source_text(ctx, loc), (long long)have, check_type_str(ctx, &x->type));
    }
    node->type = out;
    memcpy(node->attrs.sizes, out.dims, sizeof out.dims);
    node->attrs.size_count = rank;
    return true;
}

static bool shape_squeeze(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    int axis;
    if (!check_expect_min_rank(ctx, node, values, 0, 1) ||
        !check_normalise_axis(ctx, node, 1, values[1].ints[0], x->type.rank, x, &axis))
        return false;
    if (x->type.dims[axis] != 1) {
        const char *size = x->type.dims[axis] == TSC_DIM_BATCH
                               ? tsc_arena_format(ctx->arena, "the batch %s", ctx->model->batch_symbol)
                               : tsc_arena_format(ctx->arena, "%lld", (long long)x->type.dims[axis]);
        diag_error(check_arg_loc(node, 1), "E0209", "squeeze removes a size-1 axis, but axis %d of '%s' is %s: %s",
                   axis, check_arg_name(node, 0), size, check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, check_arg_name(node, 0));
        return false;
    }
    node->attrs.axis = axis;
    node->type = check_make_type(x->type.dtype, x->type.rank - 1);
    for (int i = 0, j = 0; i < x->type.rank; i++) {
        if (i != axis)
            node->type.dims[j++] = x->type.dims[i];
    }
    node->shape_reason = tsc_arena_format(ctx->arena, "squeeze(axis=%d) removes the size-1 axis of %s", axis,
                                          check_type_str(ctx, &x->type));
    return true;
}

static bool shape_expand_dims(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    int rank = x->type.rank;
    int64_t axis = values[1].ints[0];
    if (axis < -(rank + 1) || axis > rank) {
        diag_error(check_arg_loc(node, 1), "E0208",
                   "axis %lld is out of range for expand_dims of '%s', which is %s: expected %d to %d",
                   (long long)axis, check_arg_name(node, 0), check_type_str(ctx, &x->type), -(rank + 1), rank);
        return false;
    }
    if (rank + 1 > TSC_MAX_RANK) {
        diag_error(node->loc, "E0203", "expand_dims would give rank %d; at most %d is supported", rank + 1,
                   TSC_MAX_RANK);
        return false;
    }
    int at = (int)(axis < 0 ? axis + rank + 1 : axis);
    if (at == 0 && tsc_type_has_batch(&x->type)) {
        /* The batch stays the leading dimension: generated code sizes every
         * batched tensor as batch × (the rest). */
        diag_error(check_arg_loc(node, 1), "E0208",
                   "expand_dims cannot insert an axis before the batch dimension of '%s' (%s); use axis 1 or later",
                   check_arg_name(node, 0), check_type_str(ctx, &x->type));
        return false;
    }
    node->attrs.axis = at;
    node->type = check_make_type(x->type.dtype, rank + 1);
    for (int i = 0, j = 0; i < rank + 1; i++)
        node->type.dims[i] = i == at ? 1 : x->type.dims[j++];
    node->shape_reason = tsc_arena_format(ctx->arena, "expand_dims(axis=%d) inserts a size-1 axis into %s", at,
                                          check_type_str(ctx, &x->type));
    return true;
}

/* ---- elementwise ---------------------------------------------------------------- */

static bool shape_activation(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32))
        return false;
    if (node->op == TSC_OP_LEAKY_RELU) {
        double alpha = values[1].arg != NULL ? values[1].number : 0.3;
        if (alpha < 0)
            return check_range_error(node, 1, ">= 0", alpha);
        node->attrs.alpha = alpha;
    }
    if (node->op == TSC_OP_SOFTMAX) {
        if (!check_expect_min_rank(ctx, node, values, 0, 1) ||
            !check_normalise_axis(ctx, node, 1, values[1].arg != NULL ? values[1].ints[0] : -1, x->type.rank, x,
                            &node->attrs.axis))
            return false;
    }
    node->type = x->type;
    return true;
}

static bool shape_dropout(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32))
        return false;
    double rate = values[1].number;
    if (!(rate >= 0 && rate < 1))
        return check_range_error(node, 1, "in [0, 1)", rate);
    node->attrs.rate = rate;
    node->is_training_only = true;
    node->type = tensor_arg(values, 0)->type;
    return true;
}

static bool shape_add(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *a = tensor_arg(values, 0);
    const checked_node *b = tensor_arg(values, 1);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32) || !check_expect_dtype(ctx, node, values, 1, TSC_DTYPE_F32))
        return false;
    if (!tsc_type_equal(&a->type, &b->type)) {
        diag_error(check_arg_loc(node, 1), "E0204", "add needs two tensors of one shape, but '%s' is %s and '%s' is %s",
                   check_arg_name(node, 0), check_type_str(ctx, &a->type), check_arg_name(node, 1),
                   check_type_str(ctx, &b->type));
        check_note_origin(ctx, a, check_arg_name(node, 0));
        check_note_origin(ctx, b, check_arg_name(node, 1));
        return false;
    }
    node->type = a->type;
    return true;
}

/* ---- reductions -------------------------------------------------------------- */

static bool shape_reduce(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32))
        return false;
    int rank = x->type.rank;
    uint32_t mask = 0;
    if (values[1].arg == NULL) {
        mask = rank > 0 ? (uint32_t)((1u << rank) - 1u) : 0u;   /* no axis: all of them, as TensorFlow */
    } else {
        for (int i = 0; i < values[1].count; i++) {
            int axis;
            if (!check_normalise_axis(ctx, node, 1, values[1].ints[i], rank, x, &axis))
                return false;
            if (mask & (1u << axis)) {
                diag_error(check_arg_loc(node, 1), "E0208", "axis %d is listed twice (as %lld)", axis,
                           (long long)values[1].ints[i]);
                return false;
            }
            mask |= 1u << axis;
        }
    }
    bool keepdims = values[2].arg != NULL && values[2].flag;
    node->attrs.axis_mask = mask;
    node->attrs.keepdims = keepdims;
    node->type = check_make_type(TSC_DTYPE_F32, 0);
    for (int i = 0; i < rank; i++) {
        if (!(mask & (1u << i)))
            node->type.dims[node->type.rank++] = x->type.dims[i];
        else if (keepdims)
            node->type.dims[node->type.rank++] = 1;
    }
    node->shape_reason = tsc_arena_format(ctx->arena, "%s reduces %s over %s", node->info->name,
                                          check_type_str(ctx, &x->type),
                                          values[1].arg == NULL ? "all axes" : check_source_text(ctx, check_arg_loc(node, 1)));
    return true;
}

static bool shape_argmax(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = tensor_arg(values, 0);
    int axis;
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_F32) || !check_expect_min_rank(ctx, node, values, 0, 1) ||
        !check_normalise_axis(ctx, node, 1, values[1].arg != NULL ? values[1].ints[0] : -1, x->type.rank, x, &axis))
        return false;
    node->attrs.axis = axis;
    node->type = check_make_type(TSC_DTYPE_I32, x->type.rank - 1);
    for (int i = 0, j = 0; i < x->type.rank; i++) {
        if (i != axis)
            node->type.dims[j++] = x->type.dims[i];
    }
    node->shape_reason = tsc_arena_format(ctx->arena, "argmax(axis=%d) removes that axis of %s", axis,
                                          check_type_str(ctx, &x->type));
    return true;
}

static bool shape_one_hot(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *labels = tensor_arg(values, 0);
    if (!check_expect_dtype(ctx, node, values, 0, TSC_DTYPE_I32))
        return false;
    int64_t depth = values[1].ints[0];
    if (depth < 1)
        return check_range_error(node, 1, "at least 1", (double)depth);
    if (labels->type.rank + 1 > TSC_MAX_RANK) {
        diag_error(node->loc, "E0203", "one_hot would give rank %d; at most %d is supported",
                   labels->type.rank + 1, TSC_MAX_RANK);
        return false;
    }
    node->attrs.depth = depth;
    node->type = labels->type;
    node->type.dtype = TSC_DTYPE_F32;
    node->type.dims[node->type.rank++] = depth;
    node->shape_reason = tsc_arena_format(ctx->arena, "one_hot(depth=%lld) appends a class axis to %s",
                                          (long long)depth, check_type_str(ctx, &labels->type));
    return true;
}

/* ---- dispatch ------------------------------------------------------------------- */

bool shape_check_node(check_ctx *ctx, checked_node *node, const check_value *values)
{
    switch (node->op) {
    case TSC_OP_CONV2D:
        return shape_conv2d(ctx, node, values);
    case TSC_OP_MAX_POOL2D:
    case TSC_OP_AVG_POOL2D:
        return shape_pool2d(ctx, node, values);
    case TSC_OP_CONV2D_BACKPROP_FILTER:
    case TSC_OP_CONV2D_BACKPROP_INPUT:
        return shape_conv2d_backprop(ctx, node, values);
    case TSC_OP_GLOBAL_AVG_POOL2D:
    case TSC_OP_GLOBAL_MAX_POOL2D:
        return shape_global_pool(ctx, node, values);
    case TSC_OP_FLATTEN:
        return shape_flatten(ctx, node, values);
    case TSC_OP_RESHAPE:
        return shape_reshape(ctx, node, values);
    case TSC_OP_DENSE:
        return shape_dense(ctx, node, values);
    case TSC_OP_DROPOUT:
        return shape_dropout(ctx, node, values);
    case TSC_OP_ADD:
        return shape_add(ctx, node, values);
    case TSC_OP_REDUCE_MAX:
    case TSC_OP_REDUCE_MEAN:
    case TSC_OP_REDUCE_SUM:
        return shape_reduce(ctx, node, values);
    case TSC_OP_ARGMAX:
        return shape_argmax(ctx, node, values);
    case TSC_OP_ONE_HOT:
        return shape_one_hot(ctx, node, values);
    case TSC_OP_SQUEEZE:
        return shape_squeeze(ctx, node, values);
    case TSC_OP_EXPAND_DIMS:
        return shape_expand_dims(ctx, node, values);
    case TSC_OP_RELU:
    case TSC_OP_SIGMOID:
    case TSC_OP_TANH:
    case TSC_OP_LEAKY_RELU:
    case TSC_OP_SOFTMAX:
        return shape_activation(ctx, node, values);
    case TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
    case TSC_OP_BINARY_CROSS_ENTROPY:
    case TSC_OP_FOCAL_LOSS:
    case TSC_OP_MEAN_SQUARED_ERROR:
        return shape_loss(ctx, node, values);
    case TSC_OP_IN_TOP_K:
    case TSC_OP_ACCURACY:
    case TSC_OP_MEAN:
        return shape_metric(ctx, node, values);
    case TSC_OP_INPUT:
    case TSC_OP_SGD:
    case TSC_OP_ADAM:
    case TSC_OP_COUNT:
        break;
    }
    TSC_UNREACHABLE();
}
