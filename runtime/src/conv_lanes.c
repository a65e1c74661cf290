/* conv2d forward for first layers with very few channels and filters
 * (LeNet's 28x28x1 -> 6, 5x5): output pixels in the vector lanes.
 *
 * conv_narrow.c vectorises along whole NHWC output rows, which makes every
 * multiply-add load both operands (a replicated input row and a repeated
 * kernel tap); with one input channel and 25 taps that leaves it bound by
 * loads at a third of the arithmetic peak. Here a block of LANE_PIXELS
 * neighbouring output pixels of one row is the vector, and all F filters'
 * sums for it stay in registers: for a tap (kh, kw) and an input channel c,
 *
 *   acc[f][p] += kernel[kh][kw][c][f] * plane_c[oh*stride_h + kh][ow0 + p + kw],
 *
 * one load of LANE_PIXELS input values serving F multiply-adds, each with a
 * broadcast kernel value. The input is first copied, one image at a time,
 * into zero-padded planes (one per channel) whose rows are long enough for
 * whole blocks, so no lane needs a bounds check; lanes past OW compute on
 * zeros and are never stored. The sums are then written to NHWC with bias,
 * activation and any folded batch_norm.
 *
 * Horizontal stride and both dilations must be 1 (consecutive lanes are
 * consecutive input pixels); vertical stride and padding are free. Each
 * image is written by one thread, and an image's result does not depend on
 * the batch or the thread count.
 *
 * On a CPU with AVX2 but not AVX-512 a block is two vectors of
 * LANE_PIXELS / 2 lanes. GCC has no register for a 16-float vector there and
 * keeps one in memory, so the 16-lane loop moved every sum through the stack
 * at every tap: LeNet-5's first layer took 1,628 us at batch 32 on an AMD
 * EPYC (Zen 3), 51 us an image. Each lane's sum is the same either way, in
 * the same order, so the two give the same bits.
 *
 * conv_lanes_pool.c computes the same sums for a layer followed by a 2x2
 * max pool and pools them in the registers; the two share conv_lanes.h and
 * the scratch slots (sized for the larger of their copies). */
#include <string.h>

#include "avx2_forms.h"
#include "conv_internal.h"
#include "conv_lanes.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* The padded planes of one image: rows x cols per channel. */
typedef struct lanes_geometry {
    size_t rows, cols, plane;
} lanes_geometry;

static lanes_geometry geometry_of(const tdl_conv2d_desc *d) {
    const size_t blocks = ((size_t)d->out_w + LANE_PIXELS - 1) / LANE_PIXELS;
    lanes_geometry g;
    g.rows = (size_t)(d->out_h - 1) * (size_t)d->stride_h + (size_t)d->kernel_h;
    g.cols = blocks * LANE_PIXELS + (size_t)d->kernel_w - 1;
    g.plane = g.rows * g.cols;
    return g;
}

bool conv_lanes_suits(const tdl_conv2d_desc *d) {
    if (conv_groups(d) != 1 || d->stride_w != 1 || d->dilation_h != 1 || d->dilation_w != 1 ||
        d->in_c > LANES_MAX_CHANNELS || d->out_c > LANES_MAX_FILTERS || d->out_h <= 0 || d->out_w <= 0 ||
        d->stride_h <= 0)
        return false;
    const double rows = (double)(d->out_h - 1) * d->stride_h + d->kernel_h;
    /* conv_lanes_pool.c's blocks span two vectors of columns. */
    const double cols = (double)d->out_w + 2 * LANE_PIXELS + d->kernel_w;
    return rows * cols * d->in_c <= LANES_MAX_PLANE_FLOATS;
}

/* A slot serves both kernels: this file's padded copy and conv_lanes_pool.c's. */
static size_t slot_floats(const tdl_conv2d_desc *d) {
    const size_t plain = geometry_of(d).plane * (size_t)d->in_c, pooled = conv_lanes_pool_slot_floats(d);
    return plain > pooled ? plain : pooled;
}

size_t conv_lanes_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (batch <= 0 || !conv_lanes_suits(d)) return 0;
    return (size_t)conv_lanes_slots(batch) * slot_floats(d);
}

size_t conv_lanes_forward_scratch_alone(const tdl_conv2d_desc *d) {
    return conv_lanes_forward_scratch_size(d, 1);
}

/* image (H,W,C) -> planes (C, rows, cols): padded row r, column q of channel
 * c is x[r - pad_top][q - pad_left][c], zero outside the image. */
static void pad_planes(float *restrict planes, const float *restrict image, const tdl_conv2d_desc *d,
                       const lanes_geometry *g) {
    const size_t c_n = (size_t)d->in_c;
    memset(planes, 0, g->plane * c_n * sizeof *planes);
    for (size_t r = 0; r < g->rows; ++r) {
        const long h = (long)r - d->pad_top;
        if (h < 0 || h >= d->in_h) continue;
        const float *in_row = image + (size_t)h * (size_t)d->in_w * c_n;
        for (int w = 0; w < d->in_w; ++w) {
            const long q = (long)w + d->pad_left;
            if (q < 0 || (size_t)q >= g->cols) continue;
            for (size_t c = 0; c < c_n; ++c) planes[c * g->plane + r * g->cols + (size_t)q] = in_row[(size_t)w * c_n + c];
        }
    }
}

/* One block of LANE_PIXELS output pixels of row oh from ow0 on, all F
 * filters: sums[f][p] (F a constant at each call site, so that the sums stay
 * in registers). */
static inline __attribute__((always_inline)) void block_sums(float sums[][LANE_PIXELS], const float *restrict planes,
                                                            const float *restrict kernel, const float *restrict bias,
                                                            const tdl_conv2d_desc *d, const lanes_geometry *g, int oh,
                                                            size_t ow0, const int f_n) {
    const size_t c_n = (size_t)d->in_c;
#if defined(__GNUC__)
    lane_vector acc[LANES_MAX_FILTERS];
    for (int f = 0; f < f_n; ++f) acc[f] = (lane_vector){0} + (bias != NULL ? bias[f] : 0.0f);
#else
    float acc[LANES_MAX_FILTERS][LANE_PIXELS];
    for (int f = 0; f < f_n; ++f)
        for (int p = 0; p < LANE_PIXELS; ++p) acc[f][p] = bias != NULL ? bias[f] : 0.0f;
#endif
    for (int kh = 0; kh < d->kernel_h; ++kh)
        for (int kw = 0; kw < d->kernel_w; ++kw)
            for (size_t c = 0; c < c_n; ++c) {
                const float *restrict in =
                    planes + c * g->plane + ((size_t)oh * (size_t)d->stride_h + (size_t)kh) * g->cols + ow0 + (size_t)kw;
                const float *restrict tap = kernel + (((size_t)kh * (size_t)d->kernel_w + (size_t)kw) * c_n + c) * (size_t)f_n;
#if defined(__GNUC__)
                lane_vector row;
                LANE_LOAD(row, in);
                for (int f = 0; f < f_n; ++f) acc[f] += tap[f] * row;
#else
                for (int f = 0; f < f_n; ++f)
                    for (int p = 0; p < LANE_PIXELS; ++p) acc[f][p] += tap[f] * in[p];
#endif
            }
#if defined(__GNUC__)
    for (int f = 0; f < f_n; ++f) LANE_STORE(sums[f], acc[f]);
#else
    memcpy(sums, acc, (size_t)f_n * sizeof acc[0]);
#endif
}

#if LANES_HALVES
/* block_sums with each block as two vectors of LANE_HALF pixels (AVX2). */
static inline __attribute__((always_inline)) void block_sums_halves(float sums[][LANE_PIXELS],
                                                                   const float *restrict planes,
                                                                   const float *restrict kernel,
                                                                   const float *restrict bias,
                                                                   const tdl_conv2d_desc *d, const lanes_geometry *g,
                                                                   int oh, size_t ow0, const int f_n) {
    const size_t c_n = (size_t)d->in_c;
    lane_half low[LANES_MAX_FILTERS], high[LANES_MAX_FILTERS];
    for (int f = 0; f < f_n; ++f) low[f] = high[f] = (lane_half){0} + (bias != NULL ? bias[f] : 0.0f);
    for (int kh = 0; kh < d->kernel_h; ++kh)
        for (int kw = 0; kw < d->kernel_w; ++kw)
            for (size_t c = 0; c < c_n; ++c) {
                const size_t row = (size_t)oh * (size_t)d->stride_h + (size_t)kh;
                const float *restrict in = planes + c * g->plane + row * g->cols + ow0 + (size_t)kw;
                const float *restrict tap =
                    kernel + (((size_t)kh * (size_t)d->kernel_w + (size_t)kw) * c_n + c) * (size_t)f_n;
                lane_half row_low, row_high;
                LANE_HALF_LOAD(row_low, in);
                LANE_HALF_LOAD(row_high, in + LANE_HALF);
                for (int f = 0; f < f_n; ++f) {
                    low[f] += tap[f] * row_low;
                    high[f] += tap[f] * row_high;
                }
            }
    for (int f = 0; f < f_n; ++f) {
        LANE_HALF_STORE(sums[f], low[f]);
        LANE_HALF_STORE(sums[f] + LANE_HALF, high[f]);
    }
}
#endif

/* Output row oh of one image: the sums of every block, stored as NHWC pixels;
 * `halves` (a constant at each call site) picks block_sums_halves. */
static inline __attribute__((always_inline)) void image_row(float *restrict y_row, const float *restrict planes,
                                                           const float *restrict kernel, const float *restrict bias,
                                                           const tdl_conv2d_desc *d, const lanes_geometry *g,
                                                           int oh, const int f_n, const bool halves) {
    float sums[LANES_MAX_FILTERS][LANE_PIXELS];
    (void)halves;
    for (size_t ow0 = 0; ow0 < (size_t)d->out_w; ow0 += LANE_PIXELS) {
#if LANES_HALVES
        if (halves)
            block_sums_halves(sums, planes, kernel, bias, d, g, oh, ow0, f_n);
        else
#endif
            block_sums(sums, planes, kernel, bias, d, g, oh, ow0, f_n);
        const size_t n = (size_t)d->out_w - ow0 < LANE_PIXELS ? (size_t)d->out_w - ow0 : LANE_PIXELS;
        for (size_t p = 0; p < n; ++p)
            for (int f = 0; f < f_n; ++f) y_row[(ow0 + p) * (size_t)f_n + (size_t)f] = sums[f][p];
    }
}

/* All output rows of one image, for F = f_n. */
static inline __attribute__((always_inline)) void image_rows(float *restrict y, const float *restrict planes,
                                                            const float *restrict kernel, const float *restrict bias,
                                                            const tdl_conv2d_desc *d, const lanes_geometry *g,
                                                            const int f_n, const bool halves) {
    for (int oh = 0; oh < d->out_h; ++oh)
        image_row(y + (size_t)oh * (size_t)d->out_w * (size_t)f_n, planes, kernel, bias, d, g, oh, f_n, halves);
}

/* One image's rows, with F a constant in each case. */
#define LANES_IMAGE_CASES(halves)                                                                                  \
    switch (d->out_c) {                                                                                           \
    case 1: image_rows(y, planes, kernel, bias, d, g, 1, halves); return;                                          \
    case 2: image_rows(y, planes, kernel, bias, d, g, 2, halves); return;                                          \
    case 3: image_rows(y, planes, kernel, bias, d, g, 3, halves); return;                                          \
    case 4: image_rows(y, planes, kernel, bias, d, g, 4, halves); return;                                          \
    case 5: image_rows(y, planes, kernel, bias, d, g, 5, halves); return;                                          \
    case 6: image_rows(y, planes, kernel, bias, d, g, 6, halves); return;                                          \
    case 7: image_rows(y, planes, kernel, bias, d, g, 7, halves); return;                                          \
    case 8: image_rows(y, planes, kernel, bias, d, g, 8, halves); return;                                          \
    default: return;                                                                                              \
    }

/* One image in vectors of LANE_PIXELS lanes. */
TDL_VECTOR_CLONES static void image_forward(float *restrict y, const float *restrict planes,
                                            const float *restrict kernel, const float *restrict bias,
                                            const tdl_conv2d_desc *d, const lanes_geometry *g) {
    LANES_IMAGE_CASES(false)
}

#if LANES_HALVES
/* One image in vectors of LANE_HALF lanes, for AVX2. */
__attribute__((target("avx2"))) static void image_forward_halves(float *restrict y, const float *restrict planes,
                                                                 const float *restrict kernel,
                                                                 const float *restrict bias,
                                                                 const tdl_conv2d_desc *d, const lanes_geometry *g) {
    LANES_IMAGE_CASES(true)
}
#endif
#undef LANES_IMAGE_CASES

typedef struct lanes_job {
    const tdl_conv2d_desc *d;
    lanes_geometry g;
    int batch;
    float *y, *slots;
    const float *x, *kernel, *bias, *scale, *shift;
    bool halves; /* tdl_avx2_forms() */
} lanes_job;

/* A contiguous range of images, through this thread's padded copy. */
static void forward_share(void *context, int t, int threads) {
    const lanes_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t y_image = (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c;
    float *planes = j->slots + (size_t)t * j->g.plane * (size_t)d->in_c;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b) {
        float *y = j->y + b * y_image;
        pad_planes(planes, j->x + b * x_image, d, &j->g);
#if LANES_HALVES
        if (j->halves)
            image_forward_halves(y, planes, j->kernel, j->bias, d, &j->g);
        else
#endif
            image_forward(y, planes, j->kernel, j->bias, d, &j->g);
        conv_activate_in_place(y, y_image, d->activation, d->alpha);
        if (j->scale != NULL)
            conv_affine_rows(y, j->scale, j->shift, (size_t)d->out_h * (size_t)d->out_w, (size_t)d->out_c);
    }
}

bool conv_lanes_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                        const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (batch <= 0 || tdl_get_kernel_path() != TDL_KERNEL_PATH_AUTO || !conv_lanes_suits(d) || scratch == NULL)
        return false;
    const bool halves = LANES_HALVES && tdl_avx2_forms();
    lanes_job j = {d, geometry_of(d), batch, y, scratch, x, kernel, bias, scale, shift, halves};
    const double flops = 2.0 * (double)conv_output_pixels(d, batch) * (double)conv_patch_size(d) * d->out_c;
    int threads = tdl_team_threads_for(flops, LANES_MIN_THREAD_FLOPS);
    if (threads > conv_lanes_slots(batch)) threads = conv_lanes_slots(batch);
    tdl_team_run(threads, forward_share, &j);
    return true;
}
