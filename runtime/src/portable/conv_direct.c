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
 * so every inner loop runs along F with unit stride. The input gradient's
 * sums over F use DOT_LANES partial sums so that they vectorise without
 * reassociating floats. Taps that fall in the padding are skipped.
 *
 * The forward pass is where inference spends its time. It works on a block
 * of DIRECT_PIXELS neighbouring output pixels of a row times a block of fb
 * filters, held in a local accumulator the compiler keeps in registers:
 * each kernel row it loads serves every pixel of the block and each input
 * value every filter, where one pixel at a time would load a kernel row per
 * multiply-add. Blocks whose pixels read no padding in the row's direction
 * (the interior) run without bounds checks, and with dilation 1 a tap row's
 * KW taps are one run of KW * C contiguous input values, which keeps the
 * inner loop long when C is small (C = 1 in a first layer). The pixels at
 * the edges go one at a time with checks. Every output value is summed in
 * the same order (kh, kw, c) on either path. */
#include <stdbool.h>

#include "conv_internal.h"
#include "tdl/runtime.h"
#include "vector.h"

/* 4 pixels x 16 filters: 8 AVX2 or 4 AVX-512 accumulators, 16 of NEON's. */
enum { DIRECT_PIXELS = 4, DIRECT_FILTERS = 16 };
/* The partial sums of the input gradient's dot products. */
enum { DOT_LANES = 8 };

/* The block functions are written once for any fb; inlined where fb is a
 * constant, each copy is unrolled and vectorised for its width. A build for
 * size (-Os, firmware) keeps a single copy. */
#if defined(__GNUC__) && !defined(__OPTIMIZE_SIZE__)
#define DIRECT_BLOCK static inline __attribute__((always_inline))
#else
#define DIRECT_BLOCK static inline
#endif

size_t conv_general_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d;
    (void)batch;
    return 0;
}

size_t conv_general_forward_scratch_alone(const tdl_conv2d_desc *d, int batch) {
    return conv_general_scratch_size(d, batch);
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

/* One output row of one image: what its blocks read and write. */
typedef struct direct_row {
    float *out;                /* the row's first output pixel, (OW, F) */
    const float *image;        /* the image, (H, W, C) */
    const float *kernel, *bias;
    const tdl_conv2d_desc *d;
    int oh;
} direct_row;

/* out[j] = bias[j] + sum[j] for j < fb (bias may be NULL). */
DIRECT_BLOCK void store_pixel(float *restrict out, const float *restrict sum, const float *restrict bias, int fb) {
    for (int j = 0; j < fb; ++j) out[j] = sum[j] + (bias != NULL ? bias[j] : 0.0f);
}

/* Filters [f0, f0 + fb) of output pixel ow, any pixel of the row: the taps
 * in the padding are skipped. */
DIRECT_BLOCK void edge_pixel(const direct_row *r, int ow, int f0, int fb) {
    const tdl_conv2d_desc *d = r->d;
    const size_t f = (size_t)d->out_c, tap_size = (size_t)d->in_c * f;
    float sum[DIRECT_FILTERS] = {0.0f};
    for (int kh = 0; kh < d->kernel_h; ++kh)
        for (int kw = 0; kw < d->kernel_w; ++kw) {
            size_t at;
            if (!tap_offset(d, r->oh, ow, kh, kw, &at)) continue;
            const float *restrict in = r->image + at;
            const float *restrict k = r->kernel + (size_t)(kh * d->kernel_w + kw) * tap_size + (size_t)f0;
            for (int c = 0; c < d->in_c; ++c, k += f) {
                TDL_VECTOR_ROW
                for (int j = 0; j < fb; ++j) sum[j] += in[c] * k[j];
            }
        }
    store_pixel(r->out + (size_t)ow * f + (size_t)f0, sum, r->bias != NULL ? r->bias + f0 : NULL, fb);
}

/* Filters [f0, f0 + fb) of the DIRECT_PIXELS output pixels from ow0, all of
 * them interior: every tap in the row's direction is inside the image. */
DIRECT_BLOCK void interior_block(const direct_row *r, int ow0, int f0, int fb) {
    const tdl_conv2d_desc *d = r->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const size_t pixel_step = (size_t)d->stride_w * c; /* between neighbouring pixels' inputs */
    /* With dilation 1 the KW taps of a kernel row are one contiguous run. */
    const bool one_run = d->dilation_w == 1;
    const size_t run = one_run ? (size_t)d->kernel_w * c : c;
    const int runs = one_run ? 1 : d->kernel_w;
    const size_t first_column = (size_t)(ow0 * d->stride_w - d->pad_left);
    float sum[DIRECT_PIXELS][DIRECT_FILTERS] = {{0.0f}};
    for (int kh = 0; kh < d->kernel_h; ++kh) {
        const int ih = r->oh * d->stride_h - d->pad_top + kh * d->dilation_h;
        if (ih < 0 || ih >= d->in_h) continue;
        const float *row = r->image + ((size_t)ih * (size_t)d->in_w + first_column) * c;
        const float *tap_row = r->kernel + (size_t)kh * (size_t)d->kernel_w * c * f + (size_t)f0;
        for (int s = 0; s < runs; ++s) {
            const float *restrict in = row + (size_t)s * (size_t)d->dilation_w * c;
            const float *restrict k = tap_row + (size_t)s * c * f;
            for (size_t q = 0; q < run; ++q, k += f)
                for (int p = 0; p < DIRECT_PIXELS; ++p) {
                    const float x = in[(size_t)p * pixel_step + q];
                    TDL_VECTOR_ROW
                    for (int j = 0; j < fb; ++j) sum[p][j] += x * k[j];
                }
        }
    }
    for (int p = 0; p < DIRECT_PIXELS; ++p)
        store_pixel(r->out + (size_t)(ow0 + p) * f + (size_t)f0, sum[p], r->bias != NULL ? r->bias + f0 : NULL, fb);
}

/* Filters [f0, f0 + fb) of the whole row: the interior columns [lo, hi) in
 * blocks of DIRECT_PIXELS, the last block moved back to end at hi (it
 * recomputes a few pixels, to the same values), the rest one by one. */
DIRECT_BLOCK void row_filters(const direct_row *r, int lo, int hi, int f0, int fb) {
    int ow = 0;
    if (hi - lo >= DIRECT_PIXELS) {
        for (; ow < lo; ++ow) edge_pixel(r, ow, f0, fb);
        for (; ow + DIRECT_PIXELS <= hi; ow += DIRECT_PIXELS) interior_block(r, ow, f0, fb);
        if (ow < hi) interior_block(r, hi - DIRECT_PIXELS, f0, fb);
        ow = hi;
    }
    for (; ow < r->d->out_w; ++ow) edge_pixel(r, ow, f0, fb);
}

/* The widest filter block that divides F; else the widest that fits, the
 * last block then overlapping the one before (recomputing, not adding). */
static int filter_block(int filters) {
    static const int widths[] = {DIRECT_FILTERS, 8, 4};
    for (int i = 0; i < 3; ++i)
        if (filters % widths[i] == 0) return widths[i];
    for (int i = 0; i < 3; ++i)
        if (filters >= widths[i]) return widths[i];
    return filters;
}

/* The pre-activation values of one output row: each filter block over the
 * row's pixels, at one of the widths filter_block picks (or F < 4). */
TDL_VECTOR_CLONES static void forward_row(const direct_row *r, int lo, int hi) {
    const int filters = r->d->out_c, fb = filter_block(filters);
    for (int f0 = 0; f0 < filters; f0 += fb) {
        const int at = f0 + fb <= filters ? f0 : filters - fb;
        switch (fb) {
        case DIRECT_FILTERS: row_filters(r, lo, hi, at, DIRECT_FILTERS); break;
        case 8: row_filters(r, lo, hi, at, 8); break;
        case 4: row_filters(r, lo, hi, at, 4); break;
        default: row_filters(r, lo, hi, at, fb); break;
        }
    }
}

/* The interior columns [*lo, *hi): output columns whose taps all fall inside
 * the input's width (empty when there are none). */
static void interior_columns(const tdl_conv2d_desc *d, int *lo, int *hi) {
    const long long stride = d->stride_w, pad = d->pad_left;
    const long long last_start = (long long)d->in_w - 1 - (long long)(d->kernel_w - 1) * d->dilation_w + pad;
    long long first = (pad + stride - 1) / stride, end = last_start < 0 ? 0 : last_start / stride + 1;
    if (end > d->out_w) end = d->out_w;
    if (first > end) first = end;
    *lo = (int)first;
    *hi = (int)end;
}

/* y = f(conv(x, kernel) + bias) */
void conv_general_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                          const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    (void)scratch;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t row_size = (size_t)d->out_w * (size_t)d->out_c;
    int lo, hi;
    interior_columns(d, &lo, &hi);
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh) {
            float *out = y + ((size_t)b * (size_t)d->out_h + (size_t)oh) * row_size;
            const direct_row r = {out, x + (size_t)b * image_size, kernel, bias, d, oh};
            forward_row(&r, lo, hi);
            conv_activate_in_place(out, row_size, d->activation, d->alpha);
            if (scale != NULL) conv_affine_rows(out, scale, shift, (size_t)d->out_w, (size_t)d->out_c);
        }
}

/* k[c * f + j] += in[c] * g[j] for every channel c and filter j < f. */
TDL_VECTOR_CLONES static void filter_tap_gradient(float *restrict k, const float *restrict in, const float *restrict g,
                                                  int channels, int filters) {
    for (int c = 0; c < channels; ++c, k += filters)
        for (int j = 0; j < filters; ++j) k[j] += in[c] * g[j];
}

/* The sum over j < n of a[j] * b[j], in DOT_LANES interleaved partial sums. */
TDL_VECTOR_CLONES static float dot(const float *restrict a, const float *restrict b, int n) {
    float partial[DOT_LANES] = {0};
    int j = 0;
    for (; j + DOT_LANES <= n; j += DOT_LANES) {
        TDL_VECTOR_ROW
        for (int i = 0; i < DOT_LANES; ++i) partial[i] += a[j + i] * b[j + i];
    }
    float sum = 0.0f;
    for (int i = 0; i < DOT_LANES; ++i) sum += partial[i];
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
