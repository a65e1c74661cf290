/* conv2d_transpose (Keras Conv2DTranspose) as the adjoint of a conv2d: its
 * forward is that conv2d's input gradient (tdl_conv2d_backprop_input), and
 * its backward uses the conv2d forward for the input gradient and the
 * conv2d's filter gradient for the kernel's. */
#include <limits.h>
#include <stdint.h>
#include <string.h>

#include "tdl/runtime.h"

/* Keras' deconv_output_length; output_padding < 0 stands for None. */
static int64_t transposed_length(int64_t in, int64_t kernel, int64_t stride, int64_t dilation, tdl_padding padding,
                                 int64_t output_padding) {
    const int64_t extent = dilation * (kernel - 1) + 1;
    if (output_padding < 0) {
        if (padding == TDL_PADDING_SAME) return in * stride;
        return in * stride + (extent > stride ? extent - stride : 0);
    }
    const int64_t pad = padding == TDL_PADDING_SAME ? extent / 2 : 0;
    return (in - 1) * stride + extent - 2 * pad + output_padding;
}

tdl_status tdl_conv2d_transpose_desc_init(tdl_conv2d_transpose_desc *d, int in_h, int in_w, int in_c,
                                          int filters, int kernel_h, int kernel_w, int stride_h, int stride_w,
                                          int dilation_h, int dilation_w, tdl_padding padding,
                                          int output_padding_h, int output_padding_w) {
    if (d == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d_transpose: NULL descriptor");
    if (in_h <= 0 || in_w <= 0 || in_c <= 0 || filters <= 0 || kernel_h <= 0 || kernel_w <= 0 || stride_h <= 0 ||
        stride_w <= 0 || dilation_h <= 0 || dilation_w <= 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d_transpose: sizes must be positive");
    if (output_padding_h >= stride_h || output_padding_w >= stride_w)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d_transpose: output padding (%d, %d) must be below the strides (%d, %d)",
                             output_padding_h, output_padding_w, stride_h, stride_w);
    const int64_t out_h = transposed_length(in_h, kernel_h, stride_h, dilation_h, padding, output_padding_h);
    const int64_t out_w = transposed_length(in_w, kernel_w, stride_w, dilation_w, padding, output_padding_w);
    if (out_h <= 0 || out_w <= 0 || out_h > INT_MAX || out_w > INT_MAX)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d_transpose: output %lldx%lld is out of range",
                             (long long)out_h, (long long)out_w);
    tdl_conv2d_desc conv;
    tdl_status status = tdl_conv2d_desc_init(&conv, (int)out_h, (int)out_w, filters, in_c, kernel_h, kernel_w,
                                             stride_h, stride_w, dilation_h, dilation_w, padding);
    if (status != TDL_STATUS_OK) return status;
    if (conv.out_h != in_h || conv.out_w != in_w)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d_transpose: a conv2d of the %lldx%lld output gives %dx%d, not the %dx%d input",
                             (long long)out_h, (long long)out_w, conv.out_h, conv.out_w, in_h, in_w);
    d->conv = conv;
    d->activation = TDL_ACTIVATION_LINEAR;
    d->alpha = 0.0f;
    return TDL_STATUS_OK;
}

static bool transpose_usable(const tdl_conv2d_transpose_desc *d, int batch) {
    return d != NULL && batch > 0 && d->conv.in_h > 0 && d->conv.in_w > 0 && d->conv.in_c > 0 && d->conv.out_h > 0 &&
           d->conv.out_w > 0 && d->conv.out_c > 0;
}

/* Elements of the layer's output (the conv2d's input) and input (its output). */
static size_t output_elements(const tdl_conv2d_transpose_desc *d, int batch) {
    return (size_t)batch * (size_t)d->conv.in_h * (size_t)d->conv.in_w * (size_t)d->conv.in_c;
}

static size_t input_elements(const tdl_conv2d_transpose_desc *d, int batch) {
    return (size_t)batch * (size_t)d->conv.out_h * (size_t)d->conv.out_w * (size_t)d->conv.out_c;
}

/* Layout (backward): the pre-activation gradient, the input gradient, the conv2d's scratch. */
size_t tdl_conv2d_transpose_workspace_size(const tdl_conv2d_transpose_desc *d, int batch) {
    if (!transpose_usable(d, batch)) return 0;
    return output_elements(d, batch) + input_elements(d, batch) + tdl_conv2d_workspace_size(&d->conv, batch);
}

size_t tdl_conv2d_transpose_forward_workspace_size(const tdl_conv2d_transpose_desc *d, int batch) {
    if (!transpose_usable(d, batch)) return 0;
    return tdl_conv2d_workspace_size(&d->conv, batch);
}

/* x: (B,H,W,C), kernel: (KH,KW,F,C), bias: (F) or NULL -> y: (B,H',W',F)
 * The forward's scratch is the convolution's alone, from the workspace's start. */
void tdl_conv2d_transpose_forward(float *y, const float *x, const float *kernel, const float *bias,
                                  const tdl_conv2d_transpose_desc *d, int batch, float *workspace) {
    if (!transpose_usable(d, batch) || y == NULL || x == NULL || kernel == NULL || workspace == NULL) return;
    const size_t n = output_elements(d, batch);
    tdl_zero(y, n);
    tdl_conv2d_backprop_input(y, kernel, x, &d->conv, batch, workspace);
    if (bias != NULL) {
        const size_t f = (size_t)d->conv.in_c;
        for (size_t i = 0; i < n; i += f)
            for (size_t c = 0; c < f; ++c) y[i + c] += bias[c];
    }
    tdl_activation_forward(y, y, n, d->activation, d->alpha);
}

void tdl_conv2d_transpose_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                                   const float *x, const float *kernel, const tdl_conv2d_transpose_desc *d,
                                   int batch, float *workspace) {
    if (!transpose_usable(d, batch) || dy == NULL || workspace == NULL) return;
    if ((dkernel != NULL && x == NULL) || (dx != NULL && kernel == NULL)) return;
    const size_t n = output_elements(d, batch);
    float *dpre = workspace, *input_gradient = workspace + n, *conv_scratch = input_gradient + input_elements(d, batch);
    const float *dz = dy;
    if (d->activation != TDL_ACTIVATION_LINEAR) {
        if (y == NULL) return;
        tdl_zero(dpre, n);
        tdl_activation_backward(dpre, dy, y, n, d->activation, d->alpha);
        dz = dpre;
    }
    if (dbias != NULL) {
        const size_t f = (size_t)d->conv.in_c;
        for (size_t i = 0; i < n; i += f)
            for (size_t c = 0; c < f; ++c) dbias[c] += dz[i + c];
    }
    /* The conv2d's filter gradient, with dz as its input and x as its output gradient. */
    if (dkernel != NULL) tdl_conv2d_backprop_filter(dkernel, dz, x, &d->conv, batch, conv_scratch);
    if (dx != NULL) {
        tdl_conv2d_forward(input_gradient, dz, kernel, NULL, &d->conv, batch, conv_scratch);
        tdl_accumulate(dx, input_gradient, input_elements(d, batch));
    }
}
