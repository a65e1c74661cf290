/* Shape rules of the ops that combine tensors: add, subtract and multiply
 * (two tensors of one shape, as Keras' Add, Subtract and Multiply) and
 * concat (Keras' Concatenate: equal shapes but for the joined axis). Each
 * is also what an operator a + b, a - b, a * b stands for. */
#include <string.h>

#include "check_rules.h"

/* Two f32 operands of one shape; E0204 naming both shapes and their origins. */
static bool check_same_shape_pair(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *a = values[P_binary_a].tensor;
    const checked_node *b = values[P_binary_b].tensor;
    if (!check_expect_dtype(ctx, node, values, P_binary_a, TSC_DTYPE_F32) ||
        !check_expect_dtype(ctx, node, values, P_binary_b, TSC_DTYPE_F32))
        return false;
    if (!tsc_type_equal(&a->type, &b->type)) {
        const char *a_name = check_arg_name(node, P_binary_a);
        const char *b_name = check_arg_name(node, P_binary_b);
        /* An operator is named as written: '+' rather than add. */
        const char *what = node->call->infix != NULL ? tsc_arena_format(ctx->arena, "'%s'", node->call->infix)
                                                     : node->info->name;
        diag_error(check_arg_loc(node, P_binary_b), "E0204",
                   "%s needs two tensors of one shape, but '%s' is %s and '%s' is %s", what, a_name,
                   check_type_str(ctx, &a->type), b_name, check_type_str(ctx, &b->type));
        check_note_origin(ctx, a, a_name);
        check_note_origin(ctx, b, b_name);
        return false;
    }
    node->type = a->type;
    return true;
}

bool check_add(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return check_same_shape_pair(ctx, node, values);
}

bool check_subtract(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return check_same_shape_pair(ctx, node, values);
}

bool check_multiply(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return check_same_shape_pair(ctx, node, values);
}

/* "B" or "28": one dimension as the user reads it. */
static const char *dim_text(check_ctx *ctx, int64_t d)
{
    if (d == TSC_DIM_BATCH)
        return ctx->model->batch_symbol != NULL ? ctx->model->batch_symbol : "B";
    return tsc_arena_format(ctx->arena, "%lld", (long long)d);
}

bool check_concat(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const check_value *list = &values[P_concat_values];
    if (list->count < 2) {
        diag_error(node->loc, "E0104", "concat joins two or more tensors, but %s given",
                   list->count == 1 ? "only one is" : "none are");
        diag_help(node->loc, "a single tensor needs no concat: use it directly");
        return false;
    }
    const checked_node *first = list->tensors[0];
    const char *first_name = list->tensor_values[0]->text;
    int rank = first->type.rank;
    for (int i = 0; i < list->count; i++) {
        const checked_node *t = list->tensors[i];
        const char *name = list->tensor_values[i]->text;
        if (t->type.dtype != TSC_DTYPE_F32) {
            diag_error(list->tensor_values[i]->loc, "E0301", "concat expects f32 values, but '%s' is %s", name,
                       check_type_str(ctx, &t->type));
            check_note_origin(ctx, t, name);
            return false;
        }
        if (t->type.rank != rank) {
            diag_error(list->tensor_values[i]->loc, "E0203",
                       "concat joins tensors of one rank, but '%s' is rank %d (%s) and '%s' is rank %d (%s)", name,
                       t->type.rank, check_type_str(ctx, &t->type), first_name, rank,
                       check_type_str(ctx, &first->type));
            check_note_origin(ctx, first, first_name);
            check_note_origin(ctx, t, name);
            return false;
        }
    }
    if (rank < 2) {
        diag_error(list->tensor_values[0]->loc, "E0203",
                   "concat needs tensors of rank 2 or more to join along an axis after the batch, but '%s' is %s",
                   first_name, check_type_str(ctx, &first->type));
        check_note_origin(ctx, first, first_name);
        return false;
    }
    int axis;
    if (!check_normalise_axis(ctx, node, P_concat_axis, values[P_concat_axis].ints[0], rank, first, &axis))
        return false;
    if (axis == 0 && tsc_type_has_batch(&first->type)) {
        diag_error(check_arg_loc(node, P_concat_axis), "E0208",
                   "concat cannot join along the batch axis of '%s' (%s): every tensor keeps the batch as its "
                   "leading dimension; use axis 1 to %d",
                   first_name, check_type_str(ctx, &first->type), rank - 1);
        return false;
    }
    tsc_type out = first->type;
    for (int i = 1; i < list->count; i++) {
        const checked_node *t = list->tensors[i];
        const char *name = list->tensor_values[i]->text;
        for (int d = 0; d < rank; d++) {
            if (d == axis || t->type.dims[d] == first->type.dims[d])
                continue;
            diag_error(list->tensor_values[i]->loc, "E0204",
                       "concat along axis %d needs every other dimension equal, but dimension %d is %s in '%s' "
                       "(%s) and %s in '%s' (%s)",
                       axis, d, dim_text(ctx, t->type.dims[d]), name, check_type_str(ctx, &t->type),
                       dim_text(ctx, first->type.dims[d]), first_name, check_type_str(ctx, &first->type));
            check_note_origin(ctx, first, first_name);
            check_note_origin(ctx, t, name);
            return false;
        }
        /* Dims are at most INT32_MAX each (checked on every node), so the
         * sum of up to INT32_MAX of them fits in 64 bits. */
        out.dims[axis] += t->type.dims[axis];
    }
    node->attrs.axis = axis;
    node->type = out;
    const char *sum = dim_text(ctx, first->type.dims[axis]);
    for (int i = 1; i < list->count; i++)
        sum = tsc_arena_format(ctx->arena, "%s + %s", sum, dim_text(ctx, list->tensors[i]->type.dims[axis]));
    node->shape_reason = tsc_arena_format(ctx->arena, "concat(axis=%d) adds the sizes along that axis: %s = %lld",
                                          axis, sum, (long long)out.dims[axis]);
    return true;
}
