/* Shape rules of depthwise_conv2d (one channel group per input channel,
 * depth_multiplier outputs each) and separable_conv2d (depthwise, then a 1x1
 * conv2d). The window arithmetic is conv2d's (check_conv_window); conv2d's
 * own groups= is checked with its rule in shape_conv.c. */
#include "check_rules.h"

/* depth_multiplier in range, and C * depth_multiplier output channels. */
static bool depthwise_channels(const checked_node *node, const check_value *values, int x_param, int multiplier_param,
                               int64_t *multiplier, int64_t *channels_out)
{
    *multiplier = values[multiplier_param].ints[0];
    if (*multiplier < 1 || *multiplier > INT32_MAX)
        return check_range_error(node, multiplier_param, "between 1 and 2147483647", (double)*multiplier);
    /* Both factors are at most 2^31 - 1, so the product fits; dims_fit (E0210)
     * refuses a result above the runtime's int. */
    *channels_out = values[x_param].tensor->type.dims[3] * *multiplier;
    return true;
}

/* The depthwise half's kernel [kh,kw,C,M] with Keras' fans: the receptive
 * field times the last two dimensions. */
static void add_depthwise_kernel(check_ctx *ctx, checked_node *node, const check_value *values, int64_t channels,
                                 int64_t multiplier)
{
    int64_t dims[4] = {node->attrs.kernel[0], node->attrs.kernel[1], channels, multiplier};
    int64_t area = dims[0] * dims[1];
    check_add_kernel(ctx, node, values, "depthwise_kernel", dims, 4, tsc_mul_saturating(area, channels),
                     tsc_mul_saturating(area, multiplier));
}

static void set_output(checked_node *node, const checked_node *x, const int64_t out_hw[2], int64_t channels)
{
    node->type = check_make_type(TSC_DTYPE_F32, 4);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = out_hw[0];
    node->type.dims[2] = out_hw[1];
    node->type.dims[3] = channels;
}

/* "; 16 channels * depth_multiplier 2 = 32" when the multiplier widens. */
static const char *multiplier_text(check_ctx *ctx, int64_t channels, int64_t multiplier)
{
    if (multiplier == 1)
        return "";
    return tsc_arena_format(ctx->arena, "; %lld channels * depth_multiplier %lld = %lld", (long long)channels,
                            (long long)multiplier, (long long)(channels * multiplier));
}

bool check_depthwise_conv2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const keys[] = {"kernel_size", "strides", "padding", "depth_multiplier", "dilation_rate",
                                       NULL};
    static const check_conv_params p = {P_depthwise_conv2d_x, P_depthwise_conv2d_kernel_size,
                                        P_depthwise_conv2d_strides, P_depthwise_conv2d_padding,
                                        P_depthwise_conv2d_dilation_rate, keys};
    int64_t out_hw[2], multiplier = 1, out_channels = 0;
    const char *reason;
    if (!check_conv_window(ctx, node, values, &p, out_hw, &reason) ||
        !depthwise_channels(node, values, p.x, P_depthwise_conv2d_depth_multiplier, &multiplier, &out_channels))
        return false;
    const checked_node *x = values[p.x].tensor;
    int64_t channels = x->type.dims[3];
    node->attrs.groups = channels;
    node->attrs.depth_multiplier = multiplier;
    node->attrs.filters = out_channels;
    check_layer_options(node, values);
    set_output(node, x, out_hw, out_channels);
    add_depthwise_kernel(ctx, node, values, channels, multiplier);
    check_add_bias(ctx, node, values, out_channels);
    /* Each output element: a kh*kw window of one input channel. */
    int64_t outputs = tsc_mul_saturating(tsc_mul_saturating(out_hw[0], out_hw[1]), out_channels);
    node->macs_per_example = tsc_mul_saturating(outputs, node->attrs.kernel[0] * node->attrs.kernel[1]);
    node->shape_reason = tsc_arena_format(ctx->arena, "%s%s", reason, multiplier_text(ctx, channels, multiplier));
    return true;
}

bool check_separable_conv2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const keys[] = {"filters", "kernel_size", "strides", "padding", "dilation_rate",
                                       "depth_multiplier", NULL};
    static const check_conv_params p = {P_separable_conv2d_x, P_separable_conv2d_kernel_size,
                                        P_separable_conv2d_strides, P_separable_conv2d_padding,
                                        P_separable_conv2d_dilation_rate, keys};
    int64_t filters = values[P_separable_conv2d_filters].ints[0];
    int64_t out_hw[2], multiplier = 1, middle = 0;
    const char *reason;
    if (!check_conv_window(ctx, node, values, &p, out_hw, &reason))
        return false;
    if (filters < 1 || filters > INT32_MAX)
        return check_range_error(node, P_separable_conv2d_filters, "between 1 and 2147483647", (double)filters);
    if (!depthwise_channels(node, values, p.x, P_separable_conv2d_depth_multiplier, &multiplier, &middle))
        return false;
    const checked_node *x = values[p.x].tensor;
    int64_t channels = x->type.dims[3];
    node->attrs.groups = channels;
    node->attrs.depth_multiplier = multiplier;
    node->attrs.filters = filters;
    check_layer_options(node, values);
    set_output(node, x, out_hw, filters);
    add_depthwise_kernel(ctx, node, values, channels, multiplier);
    int64_t pointwise[4] = {1, 1, middle, filters};
    check_add_kernel(ctx, node, values, "pointwise_kernel", pointwise, 4, middle, filters);
    check_add_bias(ctx, node, values, filters);
    /* Per output pixel: the depthwise window of each of the C*M middle
     * channels, then a C*M dot product for each filter. */
    int64_t pixels = tsc_mul_saturating(out_hw[0], out_hw[1]);
    int64_t depthwise = tsc_mul_saturating(middle, node->attrs.kernel[0] * node->attrs.kernel[1]);
    int64_t pointwise_macs = tsc_mul_saturating(middle, filters);
    int64_t per_pixel = depthwise > INT64_MAX - pointwise_macs ? INT64_MAX : depthwise + pointwise_macs;
    node->macs_per_example = tsc_mul_saturating(pixels, per_pixel);
    node->shape_reason = tsc_arena_format(ctx->arena, "%s%s, then a 1x1 conv2d to %lld filters", reason,
                                          multiplier_text(ctx, channels, multiplier), (long long)filters);
    return true;
}
