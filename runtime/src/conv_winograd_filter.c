/* The kernel's gradient of a 3x3 stride-1 layer as Winograd's F(2x2, 3x3),
 * the layers whose forward conv_winograd.c runs (32+ channels and filters).
 *
 * The forward computes each 2x2 tile of outputs as Y = A^T M A, with
 * M[e] = sum over channels of U[e] * V[e] at each of the 16 positions e,
 * U = G g G^T the filter's transform and V = B^T d B the input patch's. Each
 * output belongs to one tile, so the kernel's gradient is the chain rule
 * through those three products: dM = A dY A^T for each tile's 2x2 of dy,
 * dU[e] = the sum over tiles of dM[e] V[e]^T (16 GEMMs, F x tiles times
 * tiles x C), and dg = G^T dU G. The GEMMs' multiply-adds are 16 / 36 of a
 * direct kernel gradient's, as in the forward.
 *
 * The tiles run in blocks of up to `block_tiles` consecutive tiles of the
 * batch (row-major in each image, images in order), which may span images:
 * for each block, the input patches' V and dy's dM are transformed into a
 * slot and the 16 GEMMs add the block's products into dU, which stays in
 * L2 across the blocks. Several threads take contiguous shares of the
 * blocks, each into a dU of its own; the dUs are then added in thread order
 * and transformed, the team splitting the channels. So a thread count
 * always gives the same bits, and another count may differ in the last
 * bits (as the direct kernel's per-thread partials do). Splitting the
 * channels instead kept the bits for every count, but each thread then
 * transformed all of dy for GEMMs of a fraction of the channels:
 * mnist_convnet's 13x13x32 -> 64 layer at batch 32 ran at 198 GFLOP/s on
 * two threads, against 265 on the direct kernel. The gradient differs from
 * a direct kernel gradient in the last bits of its float sums.
 *
 * Tiles whose patch leaves the input (padding) gather their channels into a
 * zeroed copy; a tile's outputs past the output's edge (odd sizes) have a
 * gradient of zero. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"
#include "vector_state.h"
#include "warm.h"

#ifdef TDL_HAVE_LIBXSMM

#include <libxsmm.h>

#include "conv_winograd_patch.h"

/* FILTER_BLOCK_BYTES: what a block's V and dM may fill of a core's L2 (dU
 * takes 16 x C x F floats besides: 1 MB at 128 x 128).
 * FILTER_MIN_TILES, FILTER_MAX_TILES: bounds of a block (the GEMMs' k).
 * FILTER_SLOTS: the most threads one call uses, each with a slot and a dU
 * of its own (two: 2 MB of dU at 128 x 128, which keeps vgg_small's
 * workspace as it was).
 * FILTER_PAD: floats (one cache line) between one position's matrix and the
 * next, as conv_winograd.c's WINO_PLANE_PAD and for the same reason. */
enum { FILTER_MIN_TILES = 16, FILTER_MAX_TILES = 128, FILTER_SLOTS = 2, FILTER_PAD = 16 };
#define FILTER_BLOCK_BYTES (512.0 * 1024.0)
/* Below this much work per thread a call stays on fewer threads (as the
 * forward's WINO_MIN_THREAD_FLOPS). */
#define FILTER_MIN_THREAD_FLOPS 16.0e6

/* Tiles, blocks and planes of one layer. */
typedef struct filter_geometry {
    int tiles_h, tiles_w;
    size_t block_tiles;
    size_t u_plane; /* floats from one position's F x C matrix of dU to the next */
    size_t v_plane; /* one position's V of a block: C x block_tiles */
    size_t m_plane; /* one position's dM of a block: F x block_tiles */
    size_t slot;    /* V, dM and a border patch */
} filter_geometry;

static filter_geometry geometry_of(const tdl_conv2d_desc *d) {
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    filter_geometry g;
    g.tiles_h = d->out_h / 2 + d->out_h % 2;
    g.tiles_w = d->out_w / 2 + d->out_w % 2;
    double fit = FILTER_BLOCK_BYTES / ((double)WINO_POSITIONS * (double)(c + f) * sizeof(float));
    if (fit < FILTER_MIN_TILES) fit = FILTER_MIN_TILES;
    if (fit > FILTER_MAX_TILES) fit = FILTER_MAX_TILES;
    g.block_tiles = (size_t)fit;
    g.u_plane = c * f + FILTER_PAD;
    g.v_plane = c * g.block_tiles + FILTER_PAD;
    g.m_plane = f * g.block_tiles + FILTER_PAD;
    g.slot = WINO_POSITIONS * (g.v_plane + g.m_plane) + WINO_POSITIONS * c;
    return g;
}

/* Whether every size below counts in size_t, and tile indices in int. */
static bool sizes_fit(const tdl_conv2d_desc *d, int batch) {
    const double c = d->in_c, f = d->out_c;
    const double slot = WINO_POSITIONS * ((c + f) * FILTER_MAX_TILES + 2.0 * FILTER_PAD + c);
    const double scratch = FILTER_SLOTS * (WINO_POSITIONS * (c * f + FILTER_PAD) + slot);
    const double tiles = ((double)d->out_h / 2.0 + 1.0) * ((double)d->out_w / 2.0 + 1.0) * (double)batch;
    return scratch < (double)SIZE_MAX / 8.0 && tiles < INT_MAX;
}

static bool filter_suits(const tdl_conv2d_desc *d, int batch) {
    return batch > 0 && conv_winograd_suits(d) && sizes_fit(d, batch);
}

/* Threads that a call may use: FILTER_SLOTS where the team can split. */
static int most_threads(void) { return tdl_team_can_split() ? FILTER_SLOTS : 1; }

size_t conv_winograd_filter_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (!filter_suits(d, batch)) return 0;
    const filter_geometry g = geometry_of(d);
    return (size_t)most_threads() * (WINO_POSITIONS * g.u_plane + g.slot);
}

/* ---- the transforms of the gradient ----------------------------------------- */

/* dM[e][f] for filters [f0, f0 + n), n <= WINO_CHUNK, of one tile: dM = A dY
 * A^T with A = [1 0; 1 1; 1 -1; 0 -1], dY the tile's 2x2 of dy (`pixel[p]`
 * where pixel p starts, row-major in the tile; NULL past the output's
 * edge, where the gradient is zero). m: the tile's column of position 0. */
static inline __attribute__((always_inline)) void transform_gradient_chunk(float *restrict m, size_t plane,
                                                                           const float *const pixel[4], size_t f0,
                                                                           size_t n) {
    float dy[4][WINO_CHUNK], t[4][2][WINO_CHUNK];
    for (size_t p = 0; p < 4; ++p)
        for (size_t i = 0; i < n; ++i) dy[p][i] = pixel[p] != NULL ? pixel[p][f0 + i] : 0.0f;
    for (size_t q = 0; q < 2; ++q) {
        for (size_t i = 0; i < n; ++i) {
            const float top = dy[q][i], bottom = dy[2 + q][i];
            t[0][q][i] = top;
            t[1][q][i] = top + bottom;
            t[2][q][i] = top - bottom;
            t[3][q][i] = -bottom;
        }
    }
    for (size_t r = 0; r < 4; ++r) {
        float *out = m + r * 4 * plane + f0;
        for (size_t i = 0; i < n; ++i) {
            const float left = t[r][0][i], right = t[r][1][i];
            out[i] = left;
            out[plane + i] = left + right;
            out[2 * plane + i] = left - right;
            out[3 * plane + i] = -right;
        }
    }
}

/* dkernel's taps for filters [f0, f0 + n), n <= WINO_CHUNK, of one input
 * channel (+=): dg = G^T dU G with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2;
 * 0 0 1]. du: position 0's row of the channel at filter f0, positions
 * `plane` floats apart; out: tap 0's row of the channel at filter f0, taps
 * `tap_stride` floats apart. */
static inline __attribute__((always_inline)) void transform_taps_chunk(float *restrict out, size_t tap_stride,
                                                                       const float *restrict du, size_t plane,
                                                                       size_t n) {
    float s[WINO_POSITIONS][WINO_CHUNK], t[3][4][WINO_CHUNK];
    for (size_t e = 0; e < WINO_POSITIONS; ++e)
        for (size_t i = 0; i < n; ++i) s[e][i] = du[e * plane + i];
    for (size_t col = 0; col < 4; ++col) {
        for (size_t i = 0; i < n; ++i) {
            const float s0 = s[col][i], s1 = s[4 + col][i], s2 = s[8 + col][i], s3 = s[12 + col][i];
            t[0][col][i] = s0 + 0.5f * (s1 + s2);
            t[1][col][i] = 0.5f * (s1 - s2);
            t[2][col][i] = 0.5f * (s1 + s2) + s3;
        }
    }
    for (size_t row = 0; row < 3; ++row) {
        float *taps = out + row * 3 * tap_stride;
        for (size_t i = 0; i < n; ++i) {
            const float t0 = t[row][0][i], t1 = t[row][1][i], t2 = t[row][2][i], t3 = t[row][3][i];
            taps[i] += t0 + 0.5f * (t1 + t2);
            taps[tap_stride + i] += 0.5f * (t1 - t2);
            taps[2 * tap_stride + i] += 0.5f * (t1 + t2) + t3;
        }
    }
}

/* transform_gradient_vector16 / 8 and transform_taps_vector16 / 8. */
#define WINO_VECTOR tdl_vector16
#define WINO_VECTOR_LOAD TDL_VECTOR16_LOAD
#define WINO_VECTOR_STORE TDL_VECTOR16_STORE
#define WINO_VECTOR_NAME(name) name##16
#include "conv_winograd_filter_vector.h"
#define WINO_VECTOR tdl_vector8
#define WINO_VECTOR_LOAD TDL_VECTOR8_LOAD
#define WINO_VECTOR_STORE TDL_VECTOR8_STORE
#define WINO_VECTOR_NAME(name) name##8
#include "conv_winograd_filter_vector.h"

TDL_VECTOR_CLONES static void transform_gradient_wide(float *restrict m, size_t plane, const float *const pixel[4],
                                                      size_t filters) {
    size_t f0 = 0;
    for (; f0 + WINO_CHUNK <= filters; f0 += WINO_CHUNK) transform_gradient_vector16(m, plane, pixel, f0);
    if (f0 < filters) transform_gradient_chunk(m, plane, pixel, f0, filters - f0);
}

/* Every filter of one channel's taps (+=) from its column of dU. */
TDL_VECTOR_CLONES static void transform_taps_wide(float *restrict out, size_t tap_stride, const float *restrict du,
                                                  size_t plane, size_t filters) {
    size_t f0 = 0;
    for (; f0 + WINO_CHUNK <= filters; f0 += WINO_CHUNK)
        transform_taps_vector16(out + f0, tap_stride, du + f0, plane);
    if (f0 < filters) transform_taps_chunk(out + f0, tap_stride, du + f0, plane, filters - f0);
}

#if WINO_HALVES
/* The two on AVX2: the same sums, half a chunk a vector. */
__attribute__((target("avx2"))) static void transform_gradient_halves(float *restrict m, size_t plane,
                                                                      const float *const pixel[4],
                                                                      size_t filters) {
    size_t f0 = 0;
    for (; f0 + WINO_CHUNK / 2 <= filters; f0 += WINO_CHUNK / 2) transform_gradient_vector8(m, plane, pixel, f0);
    if (f0 < filters) transform_gradient_chunk(m, plane, pixel, f0, filters - f0);
}

__attribute__((target("avx2"))) static void transform_taps_halves(float *restrict out, size_t tap_stride,
                                                                  const float *restrict du, size_t plane,
                                                                  size_t filters) {
    size_t f0 = 0;
    for (; f0 + WINO_CHUNK / 2 <= filters; f0 += WINO_CHUNK / 2)
        transform_taps_vector8(out + f0, tap_stride, du + f0, plane);
    if (f0 < filters) transform_taps_chunk(out + f0, tap_stride, du + f0, plane, filters - f0);
}
#endif

static void transform_gradient(float *restrict m, size_t plane, const float *const pixel[4], size_t filters) {
#if WINO_HALVES
    if (winograd_halves()) {
        transform_gradient_halves(m, plane, pixel, filters);
        return;
    }
#endif
    transform_gradient_wide(m, plane, pixel, filters);
}

static void transform_taps(float *restrict out, size_t tap_stride, const float *restrict du, size_t plane,
                           size_t filters) {
#if WINO_HALVES
    if (winograd_halves()) {
        transform_taps_halves(out, tap_stride, du, plane, filters);
        return;
    }
#endif
    transform_taps_wide(out, tap_stride, du, plane, filters);
}

/* ---- one call --------------------------------------------------------------- */

typedef struct filter_job {
    const tdl_conv2d_desc *d;
    filter_geometry g;
    size_t tiles; /* of the batch */
    int threads;
    libxsmm_smmfunction full, ragged; /* the GEMMs of a full block and of the last */
    float *dkernel, *du, *slots;      /* du: a dU for each thread */
    const float *x, *dy;
} filter_job;

/* V's column `column` for tile `tile` of image x_image. */
static void transform_input_tile(const filter_job *j, float *v, float *patch_copy, const float *x_image,
                                 size_t tile, size_t column) {
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c;
    const int row0 = (int)(tile / (size_t)j->g.tiles_w) * 2 - d->pad_top;
    const int col0 = (int)(tile % (size_t)j->g.tiles_w) * 2 - d->pad_left;
    size_t patch[WINO_POSITIONS];
    const float *source = winograd_patch(patch, patch_copy, x_image, d->in_h, d->in_w, c, row0, col0);
    winograd_transform_patch(v + column * c, j->g.v_plane, source, patch, c);
}

/* dM's column `column` for tile `tile` of image dy_image. */
static void transform_gradient_tile(const filter_job *j, float *m, const float *dy_image, size_t tile,
                                    size_t column) {
    const tdl_conv2d_desc *d = j->d;
    const size_t f = (size_t)d->out_c;
    const int oh = (int)(tile / (size_t)j->g.tiles_w) * 2, ow = (int)(tile % (size_t)j->g.tiles_w) * 2;
    const float *pixel[4];
    for (int p = 0; p < 4; ++p) {
        const int r = oh + p / 2, q = ow + p % 2;
        pixel[p] = r < d->out_h && q < d->out_w ? dy_image + ((size_t)r * (size_t)d->out_w + (size_t)q) * f : NULL;
    }
    transform_gradient(m + column * f, j->g.m_plane, pixel, f);
}

/* Column-major dU(F x C, ld F) += dM(F x k, ld F) * V(C x k, ld C)^T. */
static libxsmm_smmfunction dispatch(const tdl_conv2d_desc *d, int k) {
    const libxsmm_blasint m = d->out_c, n = d->in_c, kk = k, lda = d->out_c, ldb = d->in_c, ldc = d->out_c;
    const float alpha = 1.0f, beta = 1.0f;
    const int flags = LIBXSMM_GEMM_FLAGS('N', 'T'), prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(m, n, kk, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
}

/* Thread t's blocks, [first, last) of the batch's: fixed by the count of
 * blocks and threads alone. Each thread sums its blocks' products into a dU
 * of its own, over every channel and filter. */
static void filter_share(void *context, int t, int threads) {
    const filter_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c, block = j->g.block_tiles;
    const size_t per_image = (size_t)j->g.tiles_h * (size_t)j->g.tiles_w;
    size_t first, last;
    tdl_team_share((j->tiles + block - 1) / block, t, threads, &first, &last);
    float *v = j->slots + (size_t)t * j->g.slot, *m = v + WINO_POSITIONS * j->g.v_plane;
    float *patch_copy = m + WINO_POSITIONS * j->g.m_plane;
    float *du = j->du + (size_t)t * WINO_POSITIONS * j->g.u_plane;
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * c;
    const size_t dy_image = (size_t)d->out_h * (size_t)d->out_w * f;
    memset(du, 0, WINO_POSITIONS * j->g.u_plane * sizeof *du);
    for (size_t b = first; b < last; ++b) {
        const size_t start = b * block, tiles = j->tiles - start < block ? j->tiles - start : block;
        for (size_t column = 0; column < tiles; ++column) {
            const size_t image = (start + column) / per_image, tile = (start + column) % per_image;
            transform_input_tile(j, v, patch_copy, j->x + image * x_image, tile, column);
            transform_gradient_tile(j, m, j->dy + image * dy_image, tile, column);
        }
        const libxsmm_smmfunction gemm = tiles == block ? j->full : j->ragged;
        for (size_t e = 0; e < WINO_POSITIONS; ++e)
            gemm(m + e * j->g.m_plane, v + e * j->g.v_plane, du + e * j->g.u_plane);
        tdl_vector_state_clean();
    }
}

/* Channels [begin, end) of dkernel (+=): the threads' dU added into the
 * first's in thread order, then transformed into the taps. */
static void taps_items(void *context, size_t begin, size_t end) {
    const filter_job *j = context;
    const size_t c = (size_t)j->d->in_c, f = (size_t)j->d->out_c, partial = WINO_POSITIONS * j->g.u_plane;
    for (size_t ch = begin; ch < end; ++ch) {
        float *du = j->du + ch * f;
        for (int t = 1; t < j->threads; ++t)
            for (size_t e = 0; e < WINO_POSITIONS; ++e)
                tdl_accumulate(du + e * j->g.u_plane, du + (size_t)t * partial + e * j->g.u_plane, f);
        transform_taps(j->dkernel + ch * f, c * f, du, j->g.u_plane, f);
    }
}

bool conv_winograd_backprop_filter(float *dkernel, const float *x, const float *dy, const tdl_conv2d_desc *d,
                                   int batch, float *scratch) {
    if (!filter_suits(d, batch) || tdl_get_kernel_path() != TDL_KERNEL_PATH_AUTO || !tdl_xsmm_available())
        return false;
    filter_job j = {.d = d, .g = geometry_of(d), .dkernel = dkernel, .x = x, .dy = dy};
    j.tiles = (size_t)batch * (size_t)j.g.tiles_h * (size_t)j.g.tiles_w;
    const size_t block = j.g.block_tiles, blocks = (j.tiles + block - 1) / block, last = j.tiles % block;
    j.full = dispatch(d, (int)block);
    j.ragged = last != 0 ? dispatch(d, (int)last) : j.full;
    if (j.full == NULL || j.ragged == NULL) return false;
    const double flops = 2.0 * WINO_POSITIONS * (double)j.tiles * (double)d->in_c * (double)d->out_c;
    int threads = tdl_team_threads_for(flops, FILTER_MIN_THREAD_FLOPS);
    if (threads > most_threads()) threads = most_threads();
    if ((size_t)threads > blocks) threads = (int)blocks;
    j.threads = threads;
    j.du = scratch;
    j.slots = scratch + (size_t)most_threads() * WINO_POSITIONS * j.g.u_plane;
    tdl_team_run(threads, filter_share, &j);
    const double per_channel = (double)WINO_POSITIONS * (double)d->out_c * (double)threads;
    tdl_team_split((size_t)d->in_c, per_channel, TDL_TEAM_MIN_THREAD_FLOATS, taps_items, &j);
    return true;
}

#else /* !TDL_HAVE_LIBXSMM: the other paths take every layer. */

size_t conv_winograd_filter_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

bool conv_winograd_backprop_filter(float *dkernel, const float *x, const float *dy, const tdl_conv2d_desc *d,
                                   int batch, float *scratch) {
    (void)dkernel, (void)x, (void)dy, (void)d, (void)batch, (void)scratch;
    return false;
}

#endif
