/* conv2d as a direct convolution, the portable build's general path (in
 * place of ../conv_gemm.c's im2col + sgemm; conv_internal.h): no scratch at
 * all, which matters for firmware at batch 1. NHWC input, HWIO kernel.
 *
 * Each kernel tap (kh, kw) of an output pixel reads one input pixel's C
 * channels and the kernel's (C, F) slice for that tap, whose rows are
 * contiguous in F:
 *   forward          y[pixel, f]      += x[in, c] * kernel[tap, c, f]
 *   backprop filter  kernel'[tap, c, f] += x[in, c] * dz[pixel, f]
 *   backprop input   dx[in, c]        += sum over f of kernel[tap, c, f] * dz[pixel, f]
 * so every inner loop runs along F with unit stride. The forward pass keeps
 * DIRECT_FILTERS outputs of a pixel in a local accumulator (registers) over
 * all taps; the input gradient's sums over F use DIRECT_FILTERS partial sums
 * so that they vectorise without reassociating floats. Taps that fall in the
 * padding are skipped. */
#include <stdbool.h>

#include "conv_internal.h"
#include "tdl/runtime.h"
#include "vector.h"

enum { DIRECT_FILTERS = 8 };

size_t conv_general_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d;
    (void)batch;
    return 0;
}

/* Where in an image (in floats) the input pixel that tap (kh, kw) of output
 * pixel (oh, ow) reads starts; false when the tap falls in the padding. */
static bool tap_offset(const tdl_conv2d_desc *d, int oh, int ow, int kh, int kw, size_t *offset) {
    const int ih = oh * d->stride_h - d->pad_top + kh * d->dilation_h;
    const int iw = ow * d->stride_w - d->pad_left + kw * d->dilation_w;
    if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) return false;
    *offset = ((size_t)ih * (size_t)d->in_w + (size_t)iw) * (size_t)d->in_c;
    return true;
}

/* out[f] = bias[f] + the sum over taps and channels, for filters [f0, f0 + nf)
 * (nf <= DIRECT_FILTERS) of output pixel (oh, ow). All the taps run here, in
 * one local accumulator that the compiler keeps in registers: a layer with
 * few channels (C = 1 in a first layer) has little work per tap. */
TDL_VECTOR_CLONES static void forward_block(float *restrict out, const float *restrict image,
                                            const float *restrict kernel, const float *restrict bias,
                                            const tdl_conv2d_desc *d, int oh, int ow, int f0, int nf) {
    const size_t f = (size_t)d->out_c, tap_size = (size_t)d->in_c * f;
    const int channels = d->in_c;
    float sum[DIRECT_FILTERS] = {0.0f};
    for (int kh = 0; kh < d->kernel_h; ++kh)
        for (int kw = 0; kw < d->kernel_w; ++kw) {
            size_t at;
            if (!tap_offset(d, oh, ow, kh, kw, &at)) continue;
            const float *in = image + at;
            const float *k = kernel + (size_t)(kh * d->kernel_w + kw) * tap_size + (size_t)f0;
            if (nf == DIRECT_FILTERS) {
                for (int c = 0; c < channels; ++c, k += f)
                    for (int j = 0; j < DIRECT_FILTERS; ++j) sum[j] += in[c] * k[j];
            } else {
                for (int c = 0; c < channels; ++c, k += f)
                    for (int j = 0; j < nf; ++j) sum[j] += in[c] * k[j];
            }
        }
    for (int j = 0; j < nf; ++j) out[f0 + j] = sum[j] + (bias != NULL ? bias[f0 + j] : 0.0f);
}

/* y = f(conv(x, kernel) + bias) */
void conv_general_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                          const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    (void)scratch;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t row_size = (size_t)d->out_w * (size_t)d->out_c;
    for (int b = 0; b < batch; ++b) {
        const float *image = x + (size_t)b * image_size;
        for (int oh = 0; oh < d->out_h; ++oh) {
            float *row = y + ((size_t)b * (size_t)d->out_h + (size_t)oh) * row_size;
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f0 = 0; f0 < d->out_c; f0 += DIRECT_FILTERS) {
                    const int nf = d->out_c - f0 < DIRECT_FILTERS ? d->out_c - f0 : DIRECT_FILTERS;
                    forward_block(row + (size_t)ow * (size_t)d->out_c, image, kernel, bias, d, oh, ow, f0, nf);
                }
            conv_activate_in_place(row, row_size, d->activation, d->alpha);
            if (scale != NULL) conv_affine_rows(row, scale, shift, (size_t)d->out_w, (size_t)d->out_c);
        }
    }
}

/* k[c * f + j] += in[c] * g[j] for every channel c and filter j < f. */
TDL_VECTOR_CLONES static void filter_tap_gradient(float *restrict k, const float *restrict in, const float *restrict g,
                                                  int channels, int filters) {
    for (int c = 0; c < channels; ++c, k += filters)
        for (int j = 0; j < filters; ++j) k[j] += in[c] * g[j];
}

/* The sum over j < n of a[j] * b[j], in DIRECT_FILTERS interleaved partial sums. */
TDL_VECTOR_CLONES static float dot(const float *restrict a, const float *restrict b, int n) {
    float partial[DIRECT_FILTERS] = {0};
    int j = 0;
    for (; j + DIRECT_FILTERS <= n; j += DIRECT_FILTERS)
        for (int i = 0; i < DIRECT_FILTERS; ++i) partial[i] += a[j + i] * b[j + i];
    float sum = 0.0f;
    for (int i = 0; i < DIRECT_FILTERS; ++i) sum += partial[i];
    for (; j < n; ++j) sum += a[j] * b[j];
    return sum;
}

/* dkernel += x (*) dz, dx += dz (*) kernel^T, tap by tap; either output may be NULL. */
void conv_general_backward(float *dx, float *dkernel, const float *x, const float *kernel, const float *dz,
                           const tdl_conv2d_desc *d, int batch, float *scratch) {
    (void)scratch;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t tap_size = (size_t)d->in_c * (size_t)d->out_c;
    for (int b = 0; b < batch; ++b) {
        const float *image = x != NULL ? x + (size_t)b * image_size : NULL;
        float *dimage = dx != NULL ? dx + (size_t)b * image_size : NULL;
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const float *g = dz + (((size_t)b * (size_t)d->out_h + (size_t)oh) * (size_t)d->out_w + (size_t)ow) *
                                          (size_t)d->out_c;
                for (int kh = 0; kh < d->kernel_h; ++kh)
                    for (int kw = 0; kw < d->kernel_w; ++kw) {
                        size_t in;
                        if (!tap_offset(d, oh, ow, kh, kw, &in)) continue;
                        const size_t tap = (size_t)(kh * d->kernel_w + kw) * tap_size;
                        if (dkernel != NULL) filter_tap_gradient(dkernel + tap, image + in, g, d->in_c, d->out_c);
                        if (dimage != NULL) {
                            const float *k = kernel + tap;
                            for (int c = 0; c < d->in_c; ++c)
                                dimage[in + (size_t)c] += dot(k + (size_t)c * (size_t)d->out_c, g, d->out_c);
                        }
                    }
            }
    }
}
