/* The shape and dtype rules of SPEC §3 for dense, reshaping, activations,
 * dropout, reductions, argmax and one_hot: one function per row of ops.def.
 * Convolutions and pools live in shape_conv.c; add, multiply and concat in
 * shape_combine.c; losses, metrics and optimizers in shape_loss.c. */
#include <string.h>

#include "check_rules.h"

/* ---- dense ------------------------------------------------------------------------ */

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
            if (t->rank == 3)
                diag_note(node->loc, "unlike Keras' Dense, which applies to the last axis (the same weights at each "
                          "of the %lld positions of %s), tsc's dense takes one row of features per example",
                          (long long)t->dims[1], check_type_str(ctx, t));
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

/* The same for an operand that is a sub-expression, which has no name to
 * rebind: wrap it where it is written. */
static void help_rank2_wrap(check_ctx *ctx, const checked_node *x, tsc_loc written)
{
    const tsc_type *t = &x->type;
    const char *before, *after;
    tsc_type fixed = check_make_type(t->dtype, 2);
    fixed.dims[0] = t->dims[0];
    if (t->rank >= 3) {
        if (!tsc_type_elements(t, 1, 1, &fixed.dims[1]))
            return;
        before = "flatten(";
        after = ")";
    } else if (t->rank == 1) {
        fixed.dims[1] = 1;
        before = "expand_dims(";
        after = ", axis=-1)";
    } else {
        return;
    }
    diag_help(written, "wrap it: %s…%s (gives %s)", before, after, check_type_str(ctx, &fixed));
    diag_fixit((tsc_loc){written.file, written.first, written.first - 1}, before);
    diag_fixit((tsc_loc){written.file, written.last + 1, written.last}, after);
}

bool check_dense(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_dense_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_dense_x, TSC_DTYPE_F32))
        return false;
    if (x->type.rank != 2) {
        const char *name = check_arg_name(node, P_dense_x);
        diag_error(check_arg_loc(node, P_dense_x), "E0203",
                   "dense expects a rank-2 input [batch, features], but '%s' is rank %d: %s", name, x->type.rank,
                   check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, name);
        if (node->args[P_dense_x]->value->kind == VALUE_CALL)
            help_rank2_wrap(ctx, x, check_arg_loc(node, P_dense_x));
        else
            help_rank2(ctx, node, x, name);
        return false;
    }
    int64_t units = values[P_dense_units].ints[0];
    if (units < 1)
        return check_range_error(node, P_dense_units, "at least 1", (double)units);
    node->attrs.units = units;
    check_layer_options(node, values);
    node->type = check_make_type(TSC_DTYPE_F32, 2);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = units;
    int64_t features = x->type.dims[1];
    int64_t kernel[2] = {features, units};
    check_add_weights(ctx, node, values, kernel, 2, features, units, units);
    node->macs_per_example = tsc_mul_saturating(features, units);
    node->shape_reason = tsc_arena_format(ctx->arena, "dense(units=%lld) maps the %lld features of %s to %lld",
                                          (long long)units, (long long)features, check_type_str(ctx, &x->type),
                                          (long long)units);
    return true;
}

/* ---- reshaping ------------------------------------------------------------------- */

bool check_global_pool(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_unary_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_unary_x, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, P_unary_x, 4, "[batch, height, width, channels]"))
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

bool check_flatten(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_unary_x].tensor;
    if (!check_expect_min_rank(ctx, node, values, P_unary_x, 1))
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
bool check_reshape(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_reshape_x].tensor;
    const check_value *shape = &values[P_reshape_shape];
    tsc_loc loc = check_arg_loc(node, P_reshape_shape);
    const char *x_name = check_arg_name(node, P_reshape_x);
    if (!check_expect_min_rank(ctx, node, values, P_reshape_x, 1))
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
                       x_name, (long long)have, per_sample, (long long)known);
            check_note_origin(ctx, x, x_name);
            return false;
        }
        out.dims[inferred] = have / known;
        node->shape_reason = tsc_arena_format(ctx->arena, "reshape(shape=%s) infers -1 = %lld/%lld = %lld",
                                              check_source_text(ctx, loc), (long long)have, (long long)known,
                                              (long long)(have / known));
    } else if (known != have) {
        diag_error(loc, "E0202",
                   "reshape to %s needs %lld elements per sample, but '%s' has %lld%s: %s",
                   check_type_str(ctx, &out), (long long)known, x_name, (long long)have,
                   per_sample, check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, x_name);
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

bool check_squeeze(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_squeeze_x].tensor;
    int axis;
    if (!check_expect_min_rank(ctx, node, values, P_squeeze_x, 1) ||
        !check_normalise_axis(ctx, node, P_squeeze_axis, values[P_squeeze_axis].ints[0], x->type.rank, x, &axis))
        return false;
    if (x->type.dims[axis] != 1) {
        const char *size = x->type.dims[axis] == TSC_DIM_BATCH
                               ? tsc_arena_format(ctx->arena, "the batch %s", ctx->model->batch_symbol)
                               : tsc_arena_format(ctx->arena, "%lld", (long long)x->type.dims[axis]);
        const char *x_name = check_arg_name(node, P_squeeze_x);
        diag_error(check_arg_loc(node, P_squeeze_axis), "E0209",
                   "squeeze removes a size-1 axis, but axis %d of '%s' is %s: %s", axis, x_name, size,
                   check_type_str(ctx, &x->type));
        check_note_origin(ctx, x, x_name);
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

bool check_expand_dims(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_expand_dims_x].tensor;
    const char *x_name = check_arg_name(node, P_expand_dims_x);
    tsc_loc axis_loc = check_arg_loc(node, P_expand_dims_axis);
    int rank = x->type.rank;
    int64_t axis = values[P_expand_dims_axis].ints[0];
    if (axis < -(rank + 1) || axis > rank) {
        diag_error(axis_loc, "E0208",
                   "axis %lld is out of range for expand_dims of '%s', which is %s: expected %d to %d",
                   (long long)axis, x_name, check_type_str(ctx, &x->type), -(rank + 1), rank);
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
        diag_error(axis_loc, "E0208",
                   "expand_dims cannot insert an axis before the batch dimension of '%s' (%s); use axis 1 or later",
                   x_name, check_type_str(ctx, &x->type));
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

/* ---- activations and dropout ------------------------------------------------------ */

bool check_activation(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_unary_x, TSC_DTYPE_F32))
        return false;
    node->type = values[P_unary_x].tensor->type;
    return true;
}

bool check_rescaling(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_rescaling_x, TSC_DTYPE_F32))
        return false;
    node->attrs.scale = values[P_rescaling_scale].number;
    node->attrs.offset = values[P_rescaling_offset].number;
    node->type = values[P_rescaling_x].tensor->type;
    return true;
}

bool check_leaky_relu(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_leaky_relu_x, TSC_DTYPE_F32))
        return false;
    double alpha = values[P_leaky_relu_alpha].number;
    if (alpha < 0)
        return check_range_error(node, P_leaky_relu_alpha, ">= 0", alpha);
    node->attrs.alpha = alpha;
    node->type = values[P_leaky_relu_x].tensor->type;
    return true;
}

bool check_elu(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_elu_x, TSC_DTYPE_F32))
        return false;
    /* >= 0 keeps the output's sign that of the input, which the backward
     * reads the slope from. */
    double alpha = values[P_elu_alpha].number;
    if (alpha < 0)
        return check_range_error(node, P_elu_alpha, ">= 0", alpha);
    node->attrs.alpha = alpha;
    node->type = values[P_elu_x].tensor->type;
    return true;
}

bool check_gelu(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_gelu_x, TSC_DTYPE_F32))
        return false;
    node->attrs.approximate = values[P_gelu_approximate].flag;
    node->type = values[P_gelu_x].tensor->type;
    return true;
}

bool check_softmax(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_softmax_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_softmax_x, TSC_DTYPE_F32) ||
        !check_expect_min_rank(ctx, node, values, P_softmax_x, 1) ||
        !check_normalise_axis(ctx, node, P_softmax_axis, values[P_softmax_axis].ints[0], x->type.rank, x,
                              &node->attrs.axis))
        return false;
    node->type = x->type;
    return true;
}

bool check_dropout(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!check_expect_dtype(ctx, node, values, P_dropout_x, TSC_DTYPE_F32))
        return false;
    double rate = values[P_dropout_rate].number;
    if (!(rate >= 0 && rate < 1))
        return check_range_error(node, P_dropout_rate, "in [0, 1)", rate);
    node->attrs.rate = rate;
    node->is_training_only = true;
    node->type = values[P_dropout_x].tensor->type;
    return true;
}

/* ---- reductions -------------------------------------------------------------- */

bool check_reduce(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_reduce_x].tensor;
    const check_value *axes = &values[P_reduce_axis];
    if (!check_expect_dtype(ctx, node, values, P_reduce_x, TSC_DTYPE_F32))
        return false;
    int rank = x->type.rank;
    uint32_t mask = 0;
    if (axes->arg == NULL) {
        mask = rank > 0 ? (uint32_t)((1u << rank) - 1u) : 0u;   /* no axis: all of them, as TensorFlow */
    } else {
        for (int i = 0; i < axes->count; i++) {
            int axis;
            if (!check_normalise_axis(ctx, node, P_reduce_axis, axes->ints[i], rank, x, &axis))
                return false;
            if (mask & (1u << axis)) {
                diag_error(check_arg_loc(node, P_reduce_axis), "E0208", "axis %d is listed twice (as %lld)", axis,
                           (long long)axes->ints[i]);
                return false;
            }
            mask |= 1u << axis;
        }
    }
    bool keepdims = values[P_reduce_keepdims].flag;
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
                                          axes->arg == NULL ? "all axes" : check_source_text(ctx, check_arg_loc(node, P_reduce_axis)));
    return true;
}

bool check_argmax(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_argmax_x].tensor;
    int axis;
    if (!check_expect_dtype(ctx, node, values, P_argmax_x, TSC_DTYPE_F32) ||
        !check_expect_min_rank(ctx, node, values, P_argmax_x, 1) ||
        !check_normalise_axis(ctx, node, P_argmax_axis, values[P_argmax_axis].ints[0], x->type.rank, x, &axis))
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

bool check_one_hot(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *labels = values[P_one_hot_labels].tensor;
    if (!check_expect_dtype(ctx, node, values, P_one_hot_labels, TSC_DTYPE_I32))
        return false;
    int64_t depth = values[P_one_hot_depth].ints[0];
    if (depth < 1)
        return check_range_error(node, P_one_hot_depth, "at least 1", (double)depth);
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

/* ---- not callable ----------------------------------------------------------------- */

/* `input` is a row of the registry so that inputs are nodes like any other,
 * but it is a declaration: resolve.c never looks it up as a call. */
bool check_not_callable(check_ctx *ctx, checked_node *node, const check_value *values)
{
    (void)ctx;
    (void)node;
    (void)values;
    TSC_UNREACHABLE();
}
