/* The weight gradient of first layers with few channels and filters
 * (LeNet's 28x28x1 -> 6, 5x5), for conv_narrow.c, with output pixels in the
 * vector lanes as conv_lanes.c has them forward.
 *
 *   dkernel[kh][kw][c][f] += sum over images and pixels (oh, ow) of
 *                            x_padded[c][oh + kh][ow + kw] * dz[f][oh][ow]
 *
 * For a kernel row kh, a channel c and a group of up to FILTER_GROUP
 * filters, the KW x group sums are vectors of 16 neighbouring output
 * pixels that stay in registers over every row of the image: each block of
 * 16 pixels loads the group's dz once and one input vector per kw, and
 * does KW x group multiply-adds (LeNet's: 5 + 3 loads for 15). The lanes
 * are summed once a call. conv_narrow.c's loops did the same sum as one
 * product of two loaded vectors per multiply-add and ran at about a tenth
 * of the FMA peak; this is their path for the layers it takes.
 *
 * Each image is copied into planes first, input channels zero-padded to the
 * windows and dz filter by filter (NHWC interleaves them). A row's last
 * block reads on into the next row (or the slack after a plane); those
 * lanes are masked out of the sums, so neither the next row nor an
 * infinity in the input beyond the windows can reach them.
 * Images are split over the team; each thread sums into its own partial,
 * and the partials are added in thread order, then lane order: results
 * depend on the thread count alone.
 *
 * Built for x86-64 by GCC or clang. With AVX-512 a block is 16 pixels;
 * where AVX2 (with FMA) is the widest the CPU has, a block is 8 pixels in
 * the first half of each vector of sums (the other half stays zero), with
 * fewer filters a pass for its 16 registers, dz put into its planes one
 * value at a time, and a row's last lanes blended rather than masked. The
 * two sum their lanes differently, so their results differ in the last
 * bits. Elsewhere every call declines and conv_narrow.c's loops run. */
#include <stdint.h>
#include <string.h>

#include "avx2_forms.h"
#include "conv_internal.h"
#include "conv_lanes.h"
#include "team.h"
#include "tdl/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* FILTER_GROUP: filters summed per pass; with KW = 5 that is 20 sums, 4 dz
 * vectors and an input vector in the 32 registers. */
enum { FILTER_GROUP = 4 };

/* Planes of one image and the partial sums of one thread, in floats. */
typedef struct filter_geometry {
    size_t x_cols, x_rows, x_plane; /* padded input: OW rounded up to lanes, + KW - 1; OH + KH - 1 */
    size_t dz_cols, dz_plane;       /* dz: OW, and OH*OW + a vector of slack (a row's last block reads on) */
    size_t sums;                    /* C*KH*KW*F vectors of partial sums */
    size_t slot;
} filter_geometry;

static filter_geometry geometry_of(const tdl_conv2d_desc *d) {
    filter_geometry g;
    g.dz_cols = (size_t)d->out_w;
    g.x_cols = ((size_t)d->out_w + LANE_PIXELS - 1) / LANE_PIXELS * LANE_PIXELS + (size_t)d->kernel_w - 1;
    g.x_rows = (size_t)d->out_h + (size_t)d->kernel_h - 1;
    g.x_plane = g.x_rows * g.x_cols;
    g.dz_plane = (size_t)d->out_h * g.dz_cols + LANE_PIXELS;
    g.sums = (size_t)d->in_c * (size_t)d->kernel_h * (size_t)d->kernel_w * (size_t)d->out_c;
    g.slot = (size_t)d->in_c * g.x_plane + (size_t)d->out_c * g.dz_plane + g.sums * LANE_PIXELS;
    return g;
}

/* Stride and dilation 1, one group, first layers' channels, at most 8
 * filters, the kernel widths compiled below, and planes of bounded size
 * (checked in double before any size_t product). */
static bool filter_suits(const tdl_conv2d_desc *d) {
    if (conv_groups(d) != 1 || d->stride_h != 1 || d->stride_w != 1 || d->dilation_h != 1 || d->dilation_w != 1 ||
        d->in_c > LANES_MAX_CHANNELS || d->out_c > LANES_MAX_FILTERS || (d->kernel_w != 3 && d->kernel_w != 5))
        return false;
    const double cols = (double)d->out_w + LANE_PIXELS + d->kernel_w, rows = (double)d->out_h + d->kernel_h;
    return cols * rows * (d->in_c + d->out_c) <= LANES_MAX_PLANE_FLOATS;
}

typedef struct filter_job {
    const tdl_conv2d_desc *d;
    filter_geometry g;
    int batch;
    const float *x, *dz;
    float *slots;
    size_t slot_floats;
    bool avx2; /* blocks of 8 pixels (tdl_avx2_forms) */
} filter_job;

/* Image b's input into the channel planes at (h + pad_top, w + pad_left);
 * the padding stays as zeroed once a call. Rows and columns no window
 * reads are left out. */
static void fill_x_planes(float *restrict planes, const float *restrict image, const tdl_conv2d_desc *d,
                          const filter_geometry *g) {
    const size_t c_n = (size_t)d->in_c;
    const long used_cols = (long)d->out_w + d->kernel_w - 1;
    /* The input columns [w0, w1) land in the planes' columns [0, used_cols). */
    const long w0 = d->pad_left < 0 ? -(long)d->pad_left : 0;
    const long w1 = d->in_w < used_cols - d->pad_left ? d->in_w : used_cols - d->pad_left;
    if (w0 >= w1) return;
    const size_t n = (size_t)(w1 - w0);
    for (long h = 0; h < d->in_h; ++h) {
        const long r = h + d->pad_top;
        if (r < 0 || (size_t)r >= g->x_rows) continue;
        const float *restrict in = image + ((size_t)h * (size_t)d->in_w + (size_t)w0) * c_n;
        float *restrict out = planes + (size_t)r * g->x_cols + (size_t)(w0 + d->pad_left);
        if (c_n == 1) {
            memcpy(out, in, n * sizeof *out);
            continue;
        }
        for (size_t c = 0; c < c_n; ++c)
            for (size_t i = 0; i < n; ++i) out[c * g->x_plane + i] = in[i * c_n + c];
    }
}

#define FILTER_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* dz (P pixels, F filters) into F planes of P: for each block of 16 pixels,
 * its F vectors (16*F consecutive floats) are loaded and filter f's 16
 * values, at i*F + f, picked out of each pair of vectors by a two-source
 * permute and blended (gathering them, or storing them one by one, took
 * as long as the sums). Indices and masks are made once a call. */
typedef struct dz_transpose {
    __m512i index[LANES_MAX_FILTERS][LANES_MAX_FILTERS / 2];
    __mmask16 from_pair[LANES_MAX_FILTERS][LANES_MAX_FILTERS / 2];
    int pairs;
} dz_transpose;

static void dz_transpose_make(dz_transpose *t, int f_n) {
    t->pairs = (f_n + 1) / 2;
    for (int f = 0; f < f_n; ++f)
        for (int q = 0; q < t->pairs; ++q) {
            int32_t lanes[LANE_PIXELS];
            unsigned mask = 0;
            for (int i = 0; i < LANE_PIXELS; ++i) {
                const int element = i * f_n + f, in_pair = element - 32 * q;
                lanes[i] = in_pair >= 0 && in_pair < 32 ? in_pair : 0;
                if (in_pair >= 0 && in_pair < 32) mask |= 1u << i;
            }
            memcpy(&t->index[f][q], lanes, sizeof lanes);
            t->from_pair[f][q] = (__mmask16)mask;
        }
}

__attribute__((target("avx512f"))) static void fill_dz_planes(float *restrict planes, const float *restrict dz_image,
                                                              const tdl_conv2d_desc *d, const filter_geometry *g,
                                                              const dz_transpose *t) {
    const int f_n = d->out_c;
    const size_t pixels = (size_t)d->out_h * (size_t)d->out_w;
    for (size_t p0 = 0; p0 < pixels; p0 += LANE_PIXELS) {
        const size_t floats = (pixels - p0 < LANE_PIXELS ? pixels - p0 : LANE_PIXELS) * (size_t)f_n;
        const float *from = dz_image + p0 * (size_t)f_n;
        __m512 in[LANES_MAX_FILTERS + 1];
        for (int k = 0; k < f_n; ++k) {
            const size_t at = (size_t)k * LANE_PIXELS;
            const size_t n = at >= floats ? 0 : floats - at < LANE_PIXELS ? floats - at : LANE_PIXELS;
            in[k] = _mm512_maskz_loadu_ps((__mmask16)((1u << n) - 1u), from + at);
        }
        in[f_n] = _mm512_setzero_ps(); /* the odd last pair's second half */
        for (int f = 0; f < f_n; ++f) {
            __m512 out = _mm512_permutex2var_ps(in[0], t->index[f][0], in[1]);
            for (int q = 1; q < t->pairs; ++q)
                out = _mm512_mask_blend_ps(t->from_pair[f][q], out,
                                           _mm512_permutex2var_ps(in[2 * q], t->index[f][q], in[2 * q + 1]));
            _mm512_storeu_ps(planes + (size_t)f * g->dz_plane + p0, out);
        }
    }
}

/* The sums of kernel row kh, channel c, filters [f0, f0 + G_N) over one
 * image's planes, added to their partials. KW_N and G_N are constants at
 * each call site, so that the KW_N x G_N sums stay in registers. */
FILTER_INLINE void row_pass(float *restrict sums, const float *restrict x_plane, const float *restrict dz_planes,
                            const tdl_conv2d_desc *d, const filter_geometry *g, size_t kh, size_t f0,
                            const int KW_N, const int G_N) {
    __m512 acc[5][FILTER_GROUP];
    const size_t f_n = (size_t)d->out_c;
    for (int kw = 0; kw < KW_N; ++kw)
        for (int k = 0; k < G_N; ++k)
            acc[kw][k] = _mm512_loadu_ps(sums + ((size_t)kw * f_n + f0 + (size_t)k) * LANE_PIXELS);
    const size_t ow_n = (size_t)d->out_w;
    for (size_t oh = 0; oh < (size_t)d->out_h; ++oh) {
        const float *restrict x_row = x_plane + (oh + kh) * g->x_cols;
        const float *restrict dz_row = dz_planes + f0 * g->dz_plane + oh * g->dz_cols;
        for (size_t ow0 = 0; ow0 < ow_n; ow0 += LANE_PIXELS) {
            const __mmask16 lanes = ow_n - ow0 >= LANE_PIXELS ? (__mmask16)0xFFFF
                                                               : (__mmask16)((1u << (ow_n - ow0)) - 1u);
            __m512 dz[FILTER_GROUP];
            for (int k = 0; k < G_N; ++k) dz[k] = _mm512_loadu_ps(dz_row + (size_t)k * g->dz_plane + ow0);
            for (int kw = 0; kw < KW_N; ++kw) {
                const __m512 in = _mm512_loadu_ps(x_row + ow0 + (size_t)kw);
                for (int k = 0; k < G_N; ++k) acc[kw][k] = _mm512_mask3_fmadd_ps(in, dz[k], acc[kw][k], lanes);
            }
        }
    }
    for (int kw = 0; kw < KW_N; ++kw)
        for (int k = 0; k < G_N; ++k)
            _mm512_storeu_ps(sums + ((size_t)kw * f_n + f0 + (size_t)k) * LANE_PIXELS, acc[kw][k]);
}

/* AVX2: the filters of one pass, for KW x group sums, group dz vectors and
 * an input vector in 16 registers. */
static int avx2_group(const tdl_conv2d_desc *d) { return d->kernel_w == 3 ? 3 : 2; }
enum { AVX2_GROUP_MAX = 3, HALF = LANE_PIXELS / 2 };

/* fill_dz_planes for AVX2: one value at a time (F is small; LeNet's 6 x 784
 * a image). Lanes past the last pixel keep the zeros of the slot. */
static void fill_dz_planes_each(float *restrict planes, const float *restrict dz_image, const tdl_conv2d_desc *d,
                                const filter_geometry *g) {
    const size_t f_n = (size_t)d->out_c, pixels = (size_t)d->out_h * (size_t)d->out_w;
    for (size_t p = 0; p < pixels; ++p)
        for (size_t f = 0; f < f_n; ++f) planes[f * g->dz_plane + p] = dz_image[p * f_n + f];
}

#define FILTER_AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* One block of 8 pixels at ow0 of a row: the KW_N x G_N sums; only the
 * lanes of `keep` change when `tail` (the row's last, partial block). */
FILTER_AVX2_INLINE void block_avx2(__m256 acc[5][AVX2_GROUP_MAX], const float *restrict x_row,
                                   const float *restrict dz_row, size_t dz_plane, size_t ow0, const int KW_N,
                                   const int G_N, const bool tail, __m256 keep) {
    __m256 dz[AVX2_GROUP_MAX];
    for (int k = 0; k < G_N; ++k) dz[k] = _mm256_loadu_ps(dz_row + (size_t)k * dz_plane + ow0);
    for (int kw = 0; kw < KW_N; ++kw) {
        const __m256 in = _mm256_loadu_ps(x_row + ow0 + (size_t)kw);
        for (int k = 0; k < G_N; ++k) {
            const __m256 sum = _mm256_fmadd_ps(in, dz[k], acc[kw][k]);
            acc[kw][k] = tail ? _mm256_blendv_ps(acc[kw][k], sum, keep) : sum;
        }
    }
}

/* row_pass with blocks of 8 pixels, into the first half of each vector of sums. */
FILTER_AVX2_INLINE void row_pass_avx2(float *restrict sums, const float *restrict x_plane,
                                      const float *restrict dz_planes, const tdl_conv2d_desc *d,
                                      const filter_geometry *g, size_t kh, size_t f0, const int KW_N,
                                      const int G_N) {
    __m256 acc[5][AVX2_GROUP_MAX];
    const size_t f_n = (size_t)d->out_c;
    for (int kw = 0; kw < KW_N; ++kw)
        for (int k = 0; k < G_N; ++k)
            acc[kw][k] = _mm256_loadu_ps(sums + ((size_t)kw * f_n + f0 + (size_t)k) * LANE_PIXELS);
    const size_t ow_n = (size_t)d->out_w, full = ow_n / HALF * HALF;
    const __m256 keep = _mm256_castsi256_ps(
        _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(ow_n - full)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7)));
    for (size_t oh = 0; oh < (size_t)d->out_h; ++oh) {
        const float *restrict x_row = x_plane + (oh + kh) * g->x_cols;
        const float *restrict dz_row = dz_planes + f0 * g->dz_plane + oh * g->dz_cols;
        for (size_t ow0 = 0; ow0 < full; ow0 += HALF)
            block_avx2(acc, x_row, dz_row, g->dz_plane, ow0, KW_N, G_N, false, keep);
        if (full < ow_n) block_avx2(acc, x_row, dz_row, g->dz_plane, full, KW_N, G_N, true, keep);
    }
    for (int kw = 0; kw < KW_N; ++kw)
        for (int k = 0; k < G_N; ++k)
            _mm256_storeu_ps(sums + ((size_t)kw * f_n + f0 + (size_t)k) * LANE_PIXELS, acc[kw][k]);
}

/* One AVX2 pass, dispatched on the kernel width and the group's size. */
__attribute__((target("avx2,fma"))) static void pass_avx2(float *sums, const float *x_plane,
                                                          const float *dz_planes, const tdl_conv2d_desc *d,
                                                          const filter_geometry *g, size_t kh, size_t f0,
                                                          int group) {
#define FILTER_CASE(kw_n, g_n) \
    case g_n: row_pass_avx2(sums, x_plane, dz_planes, d, g, kh, f0, kw_n, g_n); return;
    if (d->kernel_w == 3) {
        switch (group) { FILTER_CASE(3, 1) FILTER_CASE(3, 2) FILTER_CASE(3, 3) default: return; }
    }
    switch (group) { FILTER_CASE(5, 1) FILTER_CASE(5, 2) default: return; }
#undef FILTER_CASE
}

/* One pass, dispatched on the kernel width and the group's size. */
__attribute__((target("avx512f"))) static void pass(float *sums, const float *x_plane, const float *dz_planes,
                                                    const tdl_conv2d_desc *d, const filter_geometry *g, size_t kh,
                                                    size_t f0, int group) {
#define FILTER_CASE(kw_n, g_n) \
    case g_n: row_pass(sums, x_plane, dz_planes, d, g, kh, f0, kw_n, g_n); return;
    if (d->kernel_w == 3) {
        switch (group) { FILTER_CASE(3, 1) FILTER_CASE(3, 2) FILTER_CASE(3, 3) FILTER_CASE(3, 4) default: return; }
    }
    switch (group) { FILTER_CASE(5, 1) FILTER_CASE(5, 2) FILTER_CASE(5, 3) FILTER_CASE(5, 4) default: return; }
#undef FILTER_CASE
}

/* Thread t's images into its partial sums, laid out (C, KH, KW, F) vectors. */
static void filter_share(void *context, int t, int threads) {
    const filter_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const filter_geometry *g = &j->g;
    float *x_planes = j->slots + (size_t)t * j->slot_floats;
    float *dz_planes = x_planes + (size_t)d->in_c * g->x_plane;
    float *sums = dz_planes + (size_t)d->out_c * g->dz_plane;
    memset(x_planes, 0, g->slot * sizeof *x_planes);
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t dz_image = (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c;
    const size_t f_n = (size_t)d->out_c, row_sums = (size_t)d->kernel_w * f_n * LANE_PIXELS;
    dz_transpose transpose;
    if (!j->avx2) dz_transpose_make(&transpose, d->out_c);
    const size_t group_max = j->avx2 ? (size_t)avx2_group(d) : FILTER_GROUP;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b) {
        fill_x_planes(x_planes, j->x + b * x_image, d, g);
        if (j->avx2)
            fill_dz_planes_each(dz_planes, j->dz + b * dz_image, d, g);
        else
            fill_dz_planes(dz_planes, j->dz + b * dz_image, d, g, &transpose);
        for (size_t c = 0; c < (size_t)d->in_c; ++c)
            for (size_t kh = 0; kh < (size_t)d->kernel_h; ++kh)
                for (size_t f0 = 0; f0 < f_n; f0 += group_max) {
                    const int group = f_n - f0 < group_max ? (int)(f_n - f0) : (int)group_max;
                    float *row_of_sums = sums + (c * (size_t)d->kernel_h + kh) * row_sums;
                    if (j->avx2)
                        pass_avx2(row_of_sums, x_planes + c * g->x_plane, dz_planes, d, g, kh, f0, group);
                    else
                        pass(row_of_sums, x_planes + c * g->x_plane, dz_planes, d, g, kh, f0, group);
                }
    }
}

bool conv_lanes_filter_available(void) {
    return __builtin_cpu_supports("avx512f") || tdl_avx2_forms_available();
}

bool conv_lanes_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                int batch, float *scratch, size_t slot_floats, int threads) {
    if (!filter_suits(d) || batch <= 0 || threads < 1 || !conv_lanes_filter_available()) return false;
    filter_job j = {d, geometry_of(d), batch, x, dz, scratch, slot_floats, tdl_avx2_forms()};
    if (j.g.slot > slot_floats) return false;
    tdl_team_run(threads, filter_share, &j);
    /* dkernel[kh][kw][c][f] += the partials, in thread order, then lane order. */
    const size_t c_n = (size_t)d->in_c, kh_n = (size_t)d->kernel_h, kw_n = (size_t)d->kernel_w;
    const size_t f_n = (size_t)d->out_c;
    const size_t sums_at = c_n * j.g.x_plane + f_n * j.g.dz_plane;
    for (size_t kh = 0; kh < kh_n; ++kh)
        for (size_t kw = 0; kw < kw_n; ++kw)
            for (size_t c = 0; c < c_n; ++c)
                for (size_t f = 0; f < f_n; ++f) {
                    const size_t vector = ((c * kh_n + kh) * kw_n + kw) * f_n + f;
                    float sum = 0.0f;
                    for (int t = 0; t < threads; ++t) {
                        const float *lanes = scratch + (size_t)t * slot_floats + sums_at + vector * LANE_PIXELS;
                        for (int lane = 0; lane < LANE_PIXELS; ++lane) sum += lanes[lane];
                    }
                    dkernel[((kh * kw_n + kw) * c_n + c) * f_n + f] += sum;
                }
    return true;
}

#else /* not x86-64 with GCC or clang: conv_narrow.c's loops take every layer */

bool conv_lanes_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                int batch, float *scratch, size_t slot_floats, int threads) {
    (void)dkernel, (void)x, (void)dz, (void)d, (void)batch, (void)scratch, (void)slot_floats, (void)threads;
    return false;
}

bool conv_lanes_filter_available(void) { return false; }

#endif
