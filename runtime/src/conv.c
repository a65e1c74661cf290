/* conv2d: the descriptor, the workspace, and the public entry points, which
 * run each call on libxsmm (conv_winograd.c and conv_winograd_filter.c for
 * 3x3 stride-1 layers, conv_xsmm.c, conv_xsmm_few.c for the gradients of
 * layers with few channels) when it can and on im2col + sgemm (conv_gemm.c)
 * otherwise. NHWC input, HWIO kernel. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

tdl_status tdl_conv2d_desc_init(tdl_conv2d_desc *d, int in_h, int in_w, int in_c, int filters,
                                int kernel_h, int kernel_w, int stride_h, int stride_w,
                                int dilation_h, int dilation_w, tdl_padding padding) {
    if (d == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d: NULL descriptor");
    if (in_h <= 0 || in_w <= 0 || in_c <= 0 || filters <= 0 || kernel_h <= 0 || kernel_w <= 0 ||
        stride_h <= 0 || stride_w <= 0 || dilation_h <= 0 || dilation_w <= 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d: sizes must be positive (input %dx%dx%d, filters %d, kernel "
                             "%dx%d, strides %dx%d, dilation %dx%d)",
                             in_h, in_w, in_c, filters, kernel_h, kernel_w, stride_h, stride_w,
                             dilation_h, dilation_w);
    if (padding != TDL_PADDING_VALID && padding != TDL_PADDING_SAME)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d: unknown padding %d", (int)padding);
    /* The kernel is used as one (KH*KW*C, F) GEMM operand with int dimensions. */
    if ((int64_t)kernel_h * kernel_w * in_c > INT_MAX)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d: kernel %dx%dx%d is too large",
                             kernel_h, kernel_w, in_c);

    /* 64-bit arithmetic: d*(k-1)+1 overflows int for absurd dilations. */
    const int64_t extent_h = (int64_t)dilation_h * (kernel_h - 1) + 1;
    const int64_t extent_w = (int64_t)dilation_w * (kernel_w - 1) + 1;
    int64_t out_h, out_w, pad_top = 0, pad_left = 0;
    if (padding == TDL_PADDING_VALID) {
        /* floor((H - extent) / s) + 1, and no output at all when H < extent. */
        out_h = in_h < extent_h ? 0 : (in_h - extent_h) / stride_h + 1;
        out_w = in_w < extent_w ? 0 : (in_w - extent_w) / stride_w + 1;
    } else {
        out_h = ((int64_t)in_h + stride_h - 1) / stride_h;
        out_w = ((int64_t)in_w + stride_w - 1) / stride_w;
        const int64_t total_h = (out_h - 1) * stride_h + extent_h - in_h;
        const int64_t total_w = (out_w - 1) * stride_w + extent_w - in_w;
        /* TF puts the smaller half on top/left, the extra row/column at the bottom/right. */
        pad_top = total_h > 0 ? total_h / 2 : 0;
        pad_left = total_w > 0 ? total_w / 2 : 0;
    }
    if (out_h <= 0 || out_w <= 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d: input %dx%d is smaller than the dilated kernel %lldx%lld",
                             in_h, in_w, (long long)extent_h, (long long)extent_w);
    /* The kernels index the padded input with int: the last window's far edge,
     * (out - 1) * stride + extent, and so every padding, must fit. */
    if ((out_h - 1) * stride_h + extent_h > INT_MAX || (out_w - 1) * stride_w + extent_w > INT_MAX)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d: the dilated kernel %lldx%lld with strides %dx%d spans more than "
                             "%d rows or columns",
                             (long long)extent_h, (long long)extent_w, stride_h, stride_w, INT_MAX);

    d->in_h = in_h;
    d->in_w = in_w;
    d->in_c = in_c;
    d->out_h = (int)out_h;
    d->out_w = (int)out_w;
    d->out_c = filters;
    d->kernel_h = kernel_h;
    d->kernel_w = kernel_w;
    d->stride_h = stride_h;
    d->stride_w = stride_w;
    d->dilation_h = dilation_h;
    d->dilation_w = dilation_w;
    d->pad_top = (int)pad_top;
    d->pad_left = (int)pad_left;
    d->activation = TDL_ACTIVATION_LINEAR;
    d->alpha = 0.0f;
    d->groups = 1;
    return TDL_STATUS_OK;
}

tdl_status tdl_conv2d_desc_set_groups(tdl_conv2d_desc *d, int groups) {
    if (d == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "conv2d: NULL descriptor");
    if (groups < 1 || d->in_c % groups != 0 || d->out_c % groups != 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "conv2d: groups=%d must be positive and divide both the %d input channels and the "
                             "%d filters",
                             groups, d->in_c, d->out_c);
    d->groups = groups;
    return TDL_STATUS_OK;
}


/* Layout: the pre-activation gradient (B*OH*OW*F, used by backward), then the
 * scratch of whichever path runs (the Winograd forward's counted too, so
 * forward alone always needs at least B*OH*OW*F floats less). Every term
 * grows with the batch, so a workspace sized for the largest batch serves
 * every smaller one. */
size_t tdl_conv2d_workspace_size(const tdl_conv2d_desc *d, int batch) {
    const size_t call = conv_workspace_for_call(d, batch), regions = conv_backward_regions_size(d, batch);
    return regions > call ? regions : call;
}

size_t conv_workspace_for_call(const tdl_conv2d_desc *d, int batch) {
    if (!conv_args_usable(d, batch)) return 0;
    const size_t activation_gradient = conv_output_pixels(d, batch) * (size_t)d->out_c;
    if (conv_groups(d) > 1) return activation_gradient + conv_grouped_scratch_size(d, batch);
    const size_t gemm = conv_general_scratch_size(d, batch), xsmm = conv_xsmm_scratch_size(d, batch);
    const size_t few = conv_xsmm_few_scratch_size(d, batch), winograd = conv_winograd_scratch_size(d, batch);
    const size_t direct = gemm > xsmm ? gemm : xsmm, fast = few > winograd ? few : winograd;
    return activation_gradient + (direct > fast ? direct : fast);
}

size_t tdl_conv2d_forward_workspace_size(const tdl_conv2d_desc *d, int batch) {
    if (!conv_args_usable(d, batch)) return 0;
    if (conv_groups(d) > 1) return conv_grouped_forward_scratch_size(d, batch);
    const size_t gemm = conv_general_scratch_size(d, batch), xsmm = conv_xsmm_forward_scratch_size(d, batch);
    const size_t direct = gemm > xsmm ? gemm : xsmm, winograd = conv_winograd_forward_scratch_size(d, batch);
    return direct > winograd ? direct : winograd;
}

size_t conv_forward_scratch_alone(const tdl_conv2d_desc *d, int batch) {
    if (!conv_args_usable(d, batch)) return 0;
    if (conv_groups(d) > 1) return SIZE_MAX;
    /* Both, since libxsmm may decline a call and hand it to the general path. */
    const size_t general = conv_general_forward_scratch_alone(d, batch), xsmm = conv_xsmm_forward_scratch_alone(d);
    const size_t direct = general > xsmm ? general : xsmm, winograd = conv_winograd_forward_scratch_alone(d);
    return direct > winograd ? direct : winograd;
}

/* Backward keeps the activation's gradient at the start of the workspace and
 * hands the kernel path what follows; forward needs no gradient, so its path
 * scratch starts at the workspace itself (tdl_conv2d_forward_workspace_size). */
static float *path_scratch(const tdl_conv2d_desc *d, int batch, float *workspace) {
    return workspace + conv_output_pixels(d, batch) * (size_t)d->out_c;
}

/* y: (n) -> y = f(y), in place, for the fused activation. */
TDL_VECTOR_CLONES void conv_activate_in_place(float *restrict y, size_t n, tdl_activation activation, float alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR: return;
    case TDL_ACTIVATION_RELU: {
        size_t i = 0;
        for (; i + 8 <= n; i += 8)
            for (size_t j = 0; j < 8; ++j) y[i + j] = y[i + j] > 0.0f ? y[i + j] : 0.0f;
        for (; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        return;
    }
    case TDL_ACTIVATION_SIGMOID:
        for (size_t i = 0; i < n; ++i) {
            /* Never exponentiate a large positive number. */
            if (y[i] >= 0.0f) {
                y[i] = 1.0f / (1.0f + expf(-y[i]));
            } else {
                const float e = expf(y[i]);
                y[i] = e / (1.0f + e);
            }
        }
        return;
    case TDL_ACTIVATION_TANH:
        for (size_t i = 0; i < n; ++i) y[i] = tanhf(y[i]);
        return;
    case TDL_ACTIVATION_LEAKY_RELU:
        for (size_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : alpha * y[i];
        return;
    case TDL_ACTIVATION_ELU:
    case TDL_ACTIVATION_SOFTPLUS:
        tdl_activation_forward(y, y, n, activation, alpha);
        return;
    }
}

/* dy, y: (n) -> dz = dy * f'(pre-activation), with f' read from the output y.
 * restrict and selects rather than branches let GCC vectorise every case. */
TDL_VECTOR_CLONES void conv_activation_gradient(float *restrict dz, const float *restrict dy, const float *restrict y,
                                                size_t n, tdl_activation activation, float alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR:
        memcpy(dz, dy, n * sizeof *dz);
        return;
    case TDL_ACTIVATION_RELU:
        for (size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : 0.0f;
        return;
    case TDL_ACTIVATION_SIGMOID:
        for (size_t i = 0; i < n; ++i) dz[i] = dy[i] * y[i] * (1.0f - y[i]);
        return;
    case TDL_ACTIVATION_TANH:
        for (size_t i = 0; i < n; ++i) dz[i] = dy[i] * (1.0f - y[i] * y[i]);
        return;
    case TDL_ACTIVATION_LEAKY_RELU:
        /* With alpha >= 0 the output has the sign of the input. */
        for (size_t i = 0; i < n; ++i) dz[i] = y[i] > 0.0f ? dy[i] : alpha * dy[i];
        return;
    case TDL_ACTIVATION_ELU:
    case TDL_ACTIVATION_SOFTPLUS:
        /* dz is written, not accumulated: start from zero. */
        memset(dz, 0, n * sizeof *dz);
        tdl_activation_backward(dz, dy, y, n, activation, alpha);
        return;
    }
}

/* Below this many elements per thread an elementwise pass stays on one thread. */
#define CONV_MIN_THREAD_ELEMENTS 131072.0

/* The tensors tdl_conv2d_backward makes its chunks' gradients from. */
typedef struct activation_gradient_job {
    const float *dy, *y;
    size_t y_image;   /* floats */
    int filters;
    tdl_activation activation;
    float alpha;
} activation_gradient_job;

/* Elements [begin, end) of a chunk's dz, from the same elements of dy and y. */
typedef struct activation_gradient_chunk {
    const activation_gradient_job *job;
    float *dz;
    size_t first;   /* the chunk's first element in the batch */
} activation_gradient_chunk;

static void activation_gradient_items(void *context, size_t begin, size_t end) {
    const activation_gradient_chunk *c = context;
    const activation_gradient_job *j = c->job;
    conv_activation_gradient(c->dz + begin, j->dy + c->first + begin, j->y + c->first + begin, end - begin,
                             j->activation, j->alpha);
}

/* dz of images [first, first + n): dy itself for the identity, else dy *
 * f'(y) at the start of `space`, split over the team when called outside it. */
static const float *chunk_gradient(const void *context, size_t first, size_t n, float *space) {
    const activation_gradient_job *j = context;
    if (j->activation == TDL_ACTIVATION_LINEAR) return j->dy + first * j->y_image;
    activation_gradient_chunk chunk = {j, space, first * j->y_image};
    tdl_team_split(n * j->y_image, 1.0, CONV_MIN_THREAD_ELEMENTS, activation_gradient_items, &chunk);
    return space;
}

/* sums (F) += the sum of one image's dz over its pixels. */
static void image_bias(const void *context, size_t image, const float *image_dz, float *sums) {
    (void)image;
    const activation_gradient_job *j = context;
    conv_add_row_sums(sums, image_dz, NULL, j->y_image / (size_t)j->filters, (size_t)j->filters);
}

TDL_VECTOR_CLONES void conv_affine_rows(float *restrict y, const float *restrict scale, const float *restrict shift,
                                        size_t rows, size_t f) {
    for (size_t r = 0; r < rows; ++r)
        for (size_t i = 0; i < f; ++i) y[r * f + i] = y[r * f + i] * scale[i] + shift[i];
}

static void forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                    const float *shift, const tdl_conv2d_desc *d, int batch, float *workspace) {
    if (!conv_args_usable(d, batch) || y == NULL || x == NULL || kernel == NULL) return;
    /* A workspace may be NULL only where forward needs none (the portable direct convolution). */
    if (workspace == NULL && tdl_conv2d_forward_workspace_size(d, batch) > 0) return;
    if (conv_groups(d) > 1) {
        /* Groups run the plain kernels on slices; the affine map follows in its own pass. */
        conv_grouped_forward(y, x, kernel, bias, d, batch, workspace);
        if (scale != NULL)
            conv_affine_rows(y, scale, shift, (size_t)batch * (size_t)d->out_h * (size_t)d->out_w, (size_t)d->out_c);
        return;
    }
    if (conv_winograd_forward(y, x, kernel, bias, scale, shift, d, batch, workspace)) return;
    if (conv_xsmm_forward(y, x, kernel, bias, scale, shift, d, batch, workspace)) return;
    conv_general_forward(y, x, kernel, bias, scale, shift, d, batch, workspace);
}

/* x: (B,H,W,C), kernel: (KH,KW,C,F), bias: (F) or NULL -> y: (B,OH,OW,F) */
void tdl_conv2d_forward(float *y, const float *x, const float *kernel, const float *bias,
                        const tdl_conv2d_desc *d, int batch, float *workspace) {
    forward(y, x, kernel, bias, NULL, NULL, d, batch, workspace);
}

/* y = f(conv(x) + bias) * scale + shift, the affine map per channel in the
 * same pass over each output row as the bias and the activation. */
void tdl_conv2d_affine_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                               const float *shift, const tdl_conv2d_desc *d, int batch, float *workspace) {
    if (scale == NULL || shift == NULL) return;
    forward(y, x, kernel, bias, scale, shift, d, batch, workspace);
}

/* x: (B,H,W,C), dy: (B,OH,OW,F) -> dkernel: (KH,KW,C,F) += */
void tdl_conv2d_backprop_filter(float *dkernel, const float *x, const float *dy,
                                const tdl_conv2d_desc *d, int batch, float *workspace) {
    if (!conv_args_usable(d, batch) || dkernel == NULL || x == NULL || dy == NULL || workspace == NULL) return;
    float *scratch = path_scratch(d, batch, workspace);
    if (conv_groups(d) > 1) {
        conv_grouped_backprop_filter(dkernel, x, dy, d, batch, scratch);
        return;
    }
    if (conv_winograd_backprop_filter(dkernel, x, dy, d, batch, scratch)) return;
    if (conv_xsmm_backprop_filter(dkernel, x, dy, d, batch, scratch)) return;
    if (conv_xsmm_few_backprop_filter(dkernel, x, dy, d, batch, scratch)) return;
    conv_general_backward(NULL, dkernel, x, NULL, dy, d, batch, scratch);
}

/* kernel: (KH,KW,C,F), dy: (B,OH,OW,F) -> dx: (B,H,W,C) += */
void tdl_conv2d_backprop_input(float *dx, const float *kernel, const float *dy,
                               const tdl_conv2d_desc *d, int batch, float *workspace) {
    if (!conv_args_usable(d, batch) || dx == NULL || kernel == NULL || dy == NULL || workspace == NULL) return;
    float *scratch = path_scratch(d, batch, workspace);
    if (conv_groups(d) > 1) {
        conv_grouped_backprop_input(dx, kernel, dy, d, batch, scratch);
        return;
    }
    if (conv_winograd_backprop_input(dx, kernel, dy, d, batch, scratch)) return;
    if (conv_xsmm_backprop_input(dx, kernel, dy, d, batch, scratch)) return;
    if (conv_xsmm_few_backprop_input(dx, kernel, dy, d, batch, scratch)) return;
    conv_general_backward(dx, NULL, NULL, kernel, dy, d, batch, scratch);
}

/* dy, y: (B,OH,OW,F), x: (B,H,W,C), kernel: (KH,KW,C,F)
 *   -> dx: (B,H,W,C) +=, dkernel: (KH,KW,C,F) +=, dbias: (F) += */
void tdl_conv2d_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                         const float *x, const float *kernel, const tdl_conv2d_desc *d, int batch,
                         float *workspace) {
    if (!conv_args_usable(d, batch) || dy == NULL || workspace == NULL) return;
    if (dkernel != NULL && x == NULL) return;
    if (dx != NULL && kernel == NULL) return;
    if (d->activation != TDL_ACTIVATION_LINEAR && y == NULL) return;
    const activation_gradient_job job = {dy, y, (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c, d->out_c,
                                         d->activation, d->alpha};
    const conv_chunk_source source = {chunk_gradient, image_bias, true, true, &job};
    conv_backward_in_chunks(dx, dkernel, dbias, x, kernel, d, batch, workspace, &source);
}
