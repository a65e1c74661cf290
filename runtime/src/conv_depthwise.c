/* Depthwise convolution (groups = in_c) by direct loops: NHWC input, kernel
 * (KH,KW,C,M), output channel c*M + m from input channel c alone. There is no
 * reduction over channels for a GEMM to exploit, so each kernel tap is one
 * pass over the contiguous channels of a pixel, which the compiler vectorises.
 *
 * Threads (the team of team.c) split the work so that every output element is
 * summed by one thread in one fixed order, whatever the thread count:
 *   forward        rows of the output (image, output row);
 *   input gradient images (the windows of one image overlap, of two never);
 *   kernel gradient channels (each thread owns its channels' kernel taps). */
#include <stddef.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* Below this many multiply-adds per thread a kernel stays on one thread. */
#define DEPTHWISE_MIN_THREAD_MACS 65536.0

/* y[i] += a[i] * b[i] for i < n, in blocks of 8: at -O2 GCC vectorises
 * only loops whose trip count it knows. Every M = 1 tap below is this. */
TDL_VECTOR_CLONES static void multiply_accumulate(float *restrict y, const float *restrict a, const float *restrict b,
                                                  int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; ++j) y[i + j] += a[i + j] * b[i + j];
    for (; i < n; ++i) y[i] += a[i] * b[i];
}

/* acc[c*M + m] += x[c] * k[c*M + m] for c < channels. */
TDL_VECTOR_CLONES static void tap_forward(float *restrict acc, const float *restrict x, const float *restrict k,
                                          int channels, int multiplier) {
    if (multiplier == 1) {
        multiply_accumulate(acc, x, k, channels);
        return;
    }
    for (int c = 0; c < channels; ++c)
        for (int m = 0; m < multiplier; ++m) acc[c * multiplier + m] += x[c] * k[c * multiplier + m];
}

/* dx[c] += sum_m dz[c*M + m] * k[c*M + m] for c < channels. */
TDL_VECTOR_CLONES static void tap_input_gradient(float *restrict dx, const float *restrict dz,
                                                 const float *restrict k, int channels, int multiplier) {
    if (multiplier == 1) {
        multiply_accumulate(dx, dz, k, channels);
        return;
    }
    for (int c = 0; c < channels; ++c) {
        float sum = 0.0f;
        for (int m = 0; m < multiplier; ++m) sum += dz[c * multiplier + m] * k[c * multiplier + m];
        dx[c] += sum;
    }
}

/* dk[c*M + m] += x[c] * dz[c*M + m] for c < channels. */
TDL_VECTOR_CLONES static void tap_kernel_gradient(float *restrict dk, const float *restrict x,
                                                  const float *restrict dz, int channels, int multiplier) {
    if (multiplier == 1) {
        multiply_accumulate(dk, x, dz, channels);
        return;
    }
    for (int c = 0; c < channels; ++c)
        for (int m = 0; m < multiplier; ++m) dk[c * multiplier + m] += x[c] * dz[c * multiplier + m];
}

/* The input row (or column) that tap i of output position o reads; out of
 * [0, in) when it falls in the padding. */
static inline int input_index(int o, int stride, int pad, int i, int dilation) {
    return o * stride - pad + i * dilation;
}

typedef struct depthwise_job {
    float *out;                 /* y, dx or dkernel */
    const float *a, *b;         /* forward: x, kernel; input gradient: dz, kernel; kernel gradient: x, dz */
    const float *bias;
    const tdl_conv2d_desc *d;
    int batch;
} depthwise_job;

/* Forward over output rows [begin, end) of the (B*OH) rows. */
static void forward_share(void *context, int t, int threads) {
    const depthwise_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const int C = d->in_c, F = d->out_c, M = F / C;
    size_t begin, end;
    tdl_team_share((size_t)j->batch * (size_t)d->out_h, t, threads, &begin, &end);
    for (size_t row = begin; row < end; ++row) {
        const size_t b = row / (size_t)d->out_h;
        const int oh = (int)(row % (size_t)d->out_h);
        float *y_row = j->out + row * (size_t)d->out_w * (size_t)F;
        for (int ow = 0; ow < d->out_w; ++ow) {
            float *acc = y_row + (size_t)ow * (size_t)F;
            for (int f = 0; f < F; ++f) acc[f] = j->bias != NULL ? j->bias[f] : 0.0f;
            for (int i = 0; i < d->kernel_h; ++i) {
                const int ih = input_index(oh, d->stride_h, d->pad_top, i, d->dilation_h);
                if (ih < 0 || ih >= d->in_h) continue;
                for (int k = 0; k < d->kernel_w; ++k) {
                    const int iw = input_index(ow, d->stride_w, d->pad_left, k, d->dilation_w);
                    if (iw < 0 || iw >= d->in_w) continue;
                    const float *x = j->a + ((b * (size_t)d->in_h + (size_t)ih) * (size_t)d->in_w + (size_t)iw) * (size_t)C;
                    tap_forward(acc, x, j->b + ((size_t)i * (size_t)d->kernel_w + (size_t)k) * (size_t)F, C, M);
                }
            }
        }
        conv_activate_in_place(y_row, (size_t)d->out_w * (size_t)F, d->activation, d->alpha);
    }
}

/* dx of images [begin, end): every window of an image adds into that image only. */
static void input_gradient_share(void *context, int t, int threads) {
    const depthwise_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const int C = d->in_c, F = d->out_c, M = F / C;
    size_t begin, end;
    tdl_team_share((size_t)j->batch, t, threads, &begin, &end);
    for (size_t b = begin; b < end; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const float *dz = j->a + ((b * (size_t)d->out_h + (size_t)oh) * (size_t)d->out_w + (size_t)ow) * (size_t)F;
                for (int i = 0; i < d->kernel_h; ++i) {
                    const int ih = input_index(oh, d->stride_h, d->pad_top, i, d->dilation_h);
                    if (ih < 0 || ih >= d->in_h) continue;
                    for (int k = 0; k < d->kernel_w; ++k) {
                        const int iw = input_index(ow, d->stride_w, d->pad_left, k, d->dilation_w);
                        if (iw < 0 || iw >= d->in_w) continue;
                        float *dx = j->out + ((b * (size_t)d->in_h + (size_t)ih) * (size_t)d->in_w + (size_t)iw) * (size_t)C;
                        tap_input_gradient(dx, dz, j->b + ((size_t)i * (size_t)d->kernel_w + (size_t)k) * (size_t)F, C, M);
                    }
                }
            }
}

/* dkernel of input channels [begin, end) (output channels [begin*M, end*M)),
 * summed over the pixels in order. */
static void kernel_gradient_share(void *context, int t, int threads) {
    const depthwise_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const int C = d->in_c, F = d->out_c, M = F / C;
    size_t begin, end;
    tdl_team_share((size_t)C, t, threads, &begin, &end);
    const int count = (int)(end - begin);
    if (count == 0) return;
    for (size_t b = 0; b < (size_t)j->batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const float *dz = j->b + ((b * (size_t)d->out_h + (size_t)oh) * (size_t)d->out_w + (size_t)ow) * (size_t)F;
                for (int i = 0; i < d->kernel_h; ++i) {
                    const int ih = input_index(oh, d->stride_h, d->pad_top, i, d->dilation_h);
                    if (ih < 0 || ih >= d->in_h) continue;
                    for (int k = 0; k < d->kernel_w; ++k) {
                        const int iw = input_index(ow, d->stride_w, d->pad_left, k, d->dilation_w);
                        if (iw < 0 || iw >= d->in_w) continue;
                        const float *x = j->a + ((b * (size_t)d->in_h + (size_t)ih) * (size_t)d->in_w + (size_t)iw) * (size_t)C;
                        float *dk = j->out + ((size_t)i * (size_t)d->kernel_w + (size_t)k) * (size_t)F;
                        tap_kernel_gradient(dk + begin * (size_t)M, x + begin, dz + begin * (size_t)M, count, M);
                    }
                }
            }
}

/* Multiply-adds of one pass: every output element over the whole window. */
static double depthwise_macs(const tdl_conv2d_desc *d, int batch) {
    return (double)conv_output_pixels(d, batch) * (double)d->out_c * (double)d->kernel_h * (double)d->kernel_w;
}

static int threads_at_most(const tdl_conv2d_desc *d, int batch, size_t items) {
    int threads = tdl_team_threads_for(depthwise_macs(d, batch), DEPTHWISE_MIN_THREAD_MACS);
    return (size_t)threads > items ? (int)items : threads;
}

/* x: (B,H,W,C), kernel: (KH,KW,C,M), bias: (C*M) or NULL -> y: (B,OH,OW,C*M) */
void conv_depthwise_forward(float *y, const float *x, const float *kernel, const float *bias,
                            const tdl_conv2d_desc *d, int batch) {
    depthwise_job job = {y, x, kernel, bias, d, batch};
    tdl_team_run(threads_at_most(d, batch, (size_t)batch * (size_t)d->out_h), forward_share, &job);
}

/* kernel: (KH,KW,C,M), dz: (B,OH,OW,C*M) -> dx: (B,H,W,C) += */
void conv_depthwise_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                                   int batch) {
    depthwise_job job = {dx, dz, kernel, NULL, d, batch};
    tdl_team_run(threads_at_most(d, batch, (size_t)batch), input_gradient_share, &job);
}

/* x: (B,H,W,C), dz: (B,OH,OW,C*M) -> dkernel: (KH,KW,C,M) += */
void conv_depthwise_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                    int batch) {
    depthwise_job job = {dkernel, x, dz, NULL, d, batch};
    tdl_team_run(threads_at_most(d, batch, (size_t)d->in_c), kernel_gradient_share, &job);
}

/* Whether d is a depthwise convolution: one group per input channel (a single
 * channel needs no groups). */
static bool is_depthwise_desc(const tdl_conv2d_desc *d) {
    return d != NULL && d->in_c > 0 && conv_groups(d) == d->in_c;
}

void tdl_depthwise_conv2d_forward(float *y, const float *x, const float *kernel, const float *bias,
                                  const tdl_conv2d_desc *d, int batch, float *workspace) {
    if (is_depthwise_desc(d)) tdl_conv2d_forward(y, x, kernel, bias, d, batch, workspace);
}

void tdl_depthwise_conv2d_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                                   const float *x, const float *kernel, const tdl_conv2d_desc *d, int batch,
                                   float *workspace) {
    if (is_depthwise_desc(d)) tdl_conv2d_backward(dx, dkernel, dbias, dy, y, x, kernel, d, batch, workspace);
}
