/* Shape rule of batch_norm (Keras' BatchNormalization): the output has the
 * input's shape; the layer has gamma and beta (trainable, when scale and
 * center) and moving_mean and moving_variance (non-trainable state), one
 * value per feature along the normalised axis. */
#include "check_rules.h"

/* E0208 for an axis that is out of range or the batch axis, saying what
 * the axis means for batch_norm. */
static bool report_bad_axis(check_ctx *ctx, const checked_node *node, const checked_node *x, int64_t axis)
{
    const char *name = check_arg_name(node, P_batch_norm_x);
    int rank = x->type.rank;
    tsc_loc loc = check_arg_loc(node, P_batch_norm_axis);
    if (axis < -rank || axis >= rank)
        diag_error(loc, "E0208",
                   "axis %lld is out of range for '%s', which is %s: batch_norm normalises each feature along one "
                   "axis of its input, so the axis must be %d to %d",
                   (long long)axis, name, check_type_str(ctx, &x->type), -rank, rank - 1);
    else
        diag_error(loc, "E0208",
                   "batch_norm cannot normalise along the batch axis of '%s' (%s): its statistics are taken over "
                   "the batch, one per feature of the axis",
                   name, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    if (rank == 2)
        diag_help(loc, "the features are the last axis, Keras' default: axis=-1 (or 1)");
    else
        diag_help(loc, "the features are usually the last axis, Keras' default: axis=-1 (or 1 to %d)", rank - 1);
    return false;
}

bool check_batch_norm(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *x = values[P_batch_norm_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_batch_norm_x, TSC_DTYPE_F32) ||
        !check_expect_min_rank(ctx, node, values, P_batch_norm_x, 2))
        return false;
    double momentum = values[P_batch_norm_momentum].number;
    double epsilon = values[P_batch_norm_epsilon].number;
    if (!(momentum >= 0.0 && momentum <= 1.0))
        return check_range_error(node, P_batch_norm_momentum, "in [0, 1]", momentum);
    if (!(epsilon > 0.0))
        return check_range_error(node, P_batch_norm_epsilon, "> 0", epsilon);
    int64_t axis = values[P_batch_norm_axis].ints[0];
    int rank = x->type.rank;
    if (axis < -rank || axis >= rank || axis == 0 || axis == -rank)
        return report_bad_axis(ctx, node, x, axis);
    node->attrs.axis = (int)(axis < 0 ? axis + rank : axis);
    node->attrs.momentum = momentum;
    node->attrs.epsilon = epsilon;
    node->attrs.has_gamma = values[P_batch_norm_scale].flag;
    node->attrs.has_beta = values[P_batch_norm_center].flag;
    int64_t features = x->type.dims[node->attrs.axis];
    /* Keras' order of the weights: gamma, beta, moving_mean, moving_variance. */
    if (node->attrs.has_gamma)
        check_add_vector(ctx, node, values, "gamma", features, true);
    if (node->attrs.has_beta)
        check_add_vector(ctx, node, values, "beta", features, true);
    check_add_vector(ctx, node, values, "moving_mean", features, false);
    check_add_vector(ctx, node, values, "moving_variance", features, false);
    node->type = x->type;
    return true;
}
