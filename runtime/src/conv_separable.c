/* Separable convolution: the depthwise convolution, then a 1x1 convolution
 * with the bias and the activation (Keras SeparableConv2D). Both halves are
 * the conv2d entry points (the depthwise one dispatches to conv_depthwise.c,
 * the pointwise one is a plain GEMM). The depthwise output lives in the
 * workspace; backward computes it again instead of keeping it between the
 * passes, which costs kh*kw multiply-adds per element against the pointwise
 * half's C*M*F per pixel. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "tdl/runtime.h"

tdl_status tdl_separable_conv2d_desc_init(tdl_separable_conv2d_desc *d, int in_h, int in_w, int in_c,
                                          int depth_multiplier, int filters, int kernel_h, int kernel_w,
                                          int stride_h, int stride_w, int dilation_h, int dilation_w,
                                          tdl_padding padding) {
    if (d == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "separable_conv2d: NULL descriptor");
    if (in_c <= 0 || depth_multiplier <= 0 || (int64_t)in_c * depth_multiplier > INT_MAX)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "separable_conv2d: %d channels times depth_multiplier %d is not a positive int",
                             in_c, depth_multiplier);
    tdl_separable_conv2d_desc s;
    const int channels = in_c * depth_multiplier;
    tdl_status status = tdl_conv2d_desc_init(&s.depthwise, in_h, in_w, in_c, channels, kernel_h, kernel_w,
                                             stride_h, stride_w, dilation_h, dilation_w, padding);
    if (status == TDL_STATUS_OK) status = tdl_conv2d_desc_set_groups(&s.depthwise, in_c);
    if (status == TDL_STATUS_OK)
        status = tdl_conv2d_desc_init(&s.pointwise, s.depthwise.out_h, s.depthwise.out_w, channels, filters, 1, 1,
                                      1, 1, 1, 1, TDL_PADDING_VALID);
    if (status == TDL_STATUS_OK) *d = s;
    return status;
}

/* The two halves fit together: the pointwise one reads the depthwise output. */
static bool separable_usable(const tdl_separable_conv2d_desc *d, int batch) {
    if (d == NULL || batch <= 0) return false;
    const tdl_conv2d_desc *dw = &d->depthwise, *pw = &d->pointwise;
    return conv_groups(dw) == dw->in_c && dw->in_c > 0 && pw->in_h == dw->out_h && pw->in_w == dw->out_w &&
           pw->in_c == dw->out_c && pw->kernel_h == 1 && pw->kernel_w == 1 && pw->stride_h == 1 &&
           pw->stride_w == 1 && pw->pad_top == 0 && pw->pad_left == 0 && conv_groups(pw) == 1 &&
           dw->activation == TDL_ACTIVATION_LINEAR;
}

/* Floats of the depthwise output (or its gradient) for the batch. */
static size_t middle_size(const tdl_separable_conv2d_desc *d, int batch) {
    return conv_output_pixels(&d->depthwise, batch) * (size_t)d->depthwise.out_c;
}

size_t tdl_separable_conv2d_workspace_size(const tdl_separable_conv2d_desc *d, int batch) {
    if (!separable_usable(d, batch)) return 0;
    const size_t dw = tdl_conv2d_workspace_size(&d->depthwise, batch);
    const size_t pw = tdl_conv2d_workspace_size(&d->pointwise, batch);
    return 2 * middle_size(d, batch) + (dw > pw ? dw : pw);
}

/* Forward keeps only the depthwise output, then the halves' forward scratch. */
size_t tdl_separable_conv2d_forward_workspace_size(const tdl_separable_conv2d_desc *d, int batch) {
    if (!separable_usable(d, batch)) return 0;
    const size_t dw = tdl_conv2d_forward_workspace_size(&d->depthwise, batch);
    const size_t pw = tdl_conv2d_forward_workspace_size(&d->pointwise, batch);
    return middle_size(d, batch) + (dw > pw ? dw : pw);
}

/* x -> t = depthwise(x) -> y = f(pointwise(t) + bias) */
void tdl_separable_conv2d_forward(float *y, const float *x, const float *depthwise_kernel,
                                  const float *pointwise_kernel, const float *bias,
                                  const tdl_separable_conv2d_desc *d, int batch, float *workspace) {
    if (!separable_usable(d, batch) || y == NULL || x == NULL || depthwise_kernel == NULL ||
        pointwise_kernel == NULL || workspace == NULL)
        return;
    float *middle = workspace, *rest = workspace + middle_size(d, batch);
    tdl_conv2d_forward(middle, x, depthwise_kernel, NULL, &d->depthwise, batch, rest);
    tdl_conv2d_forward(y, middle, pointwise_kernel, bias, &d->pointwise, batch, rest);
}

void tdl_separable_conv2d_backward(float *dx, float *ddepthwise_kernel, float *dpointwise_kernel, float *dbias,
                                   const float *dy, const float *y, const float *x, const float *depthwise_kernel,
                                   const float *pointwise_kernel, const tdl_separable_conv2d_desc *d, int batch,
                                   float *workspace) {
    if (!separable_usable(d, batch) || dy == NULL || x == NULL || depthwise_kernel == NULL ||
        pointwise_kernel == NULL || workspace == NULL)
        return;
    if (d->pointwise.activation != TDL_ACTIVATION_LINEAR && y == NULL) return;
    const size_t middle_floats = middle_size(d, batch);
    float *middle = workspace, *dmiddle = workspace + middle_floats, *rest = workspace + 2 * middle_floats;
    const bool depthwise_gradient = dx != NULL || ddepthwise_kernel != NULL;
    if (dpointwise_kernel != NULL)
        tdl_conv2d_forward(middle, x, depthwise_kernel, NULL, &d->depthwise, batch, rest);
    if (depthwise_gradient) memset(dmiddle, 0, middle_floats * sizeof *dmiddle);
    tdl_conv2d_backward(depthwise_gradient ? dmiddle : NULL, dpointwise_kernel, dbias, dy, y, middle,
                        pointwise_kernel, &d->pointwise, batch, rest);
    if (depthwise_gradient)
        tdl_conv2d_backward(dx, ddepthwise_kernel, NULL, dmiddle, NULL, x, depthwise_kernel, &d->depthwise, batch,
                            rest);
}
