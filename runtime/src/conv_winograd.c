/* conv2d forward for 3x3, stride-1 layers, and the input's gradient of the
 * 'same' ones (itself such a convolution; the kernel's gradient is in
 * conv_winograd_filter.c), as Winograd's F(2x2, 3x3) on
 * libxsmm GEMMs (Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks", 2016).
 *
 * Each 2x2 block of output pixels (a tile) is computed from the 4x4 input
 * patch under it. With V = B^T d B for each input patch and channel,
 * U = G g G^T for each filter and channel (g its 3x3 taps), and the 16
 * products M[e] = sum over channels of U[e] * V[e] (e one of the 4x4
 * positions), the tile's outputs are A^T M A. The 16 sums over channels are
 * ordinary GEMMs, (F x C) * (C x tiles), so the multiply-adds per output
 * pixel fall from 9*C to 4*C: on vgg_small's layers a direct convolution
 * near the FMA peak is beaten by 1.5-2x. The transforms' coefficients are 0,
 * +-1 and +-1/2, so the results differ from a direct convolution by a few
 * float roundings (within the test's 2e-5 of the direct kernel), not more.
 *
 * NHWC keeps a pixel's channels contiguous: the input transform reads 16
 * pixels' channel vectors, the output transform writes 4 pixels' filter
 * vectors, both vectorised along the channels. The work is cut into blocks
 * of up to `block_tiles` consecutive tiles (row-major) of one image, sized so
 * that the block's V (16 x tiles x C) and M (16 x tiles x F) stay in L2
 * between the transforms and the GEMMs; each block is one thread's, so an
 * image's result does not depend on the thread count, nor on the batch
 * among batches of many blocks.
 *
 * A call of at most WINO_MAX_TILES tiles (a single image, most of all) is
 * cut by filters instead (run_few, below): each thread takes whole GEMM
 * pieces of them. Its results do not depend on the thread count either, but may
 * differ in the last bits from the same image's in a batch of many blocks.
 *
 * Borders: a tile whose patch leaves the input (padding, or an odd output
 * size) gathers its patch into a zeroed copy first; a tile whose outputs
 * leave the output writes them to a local copy and keeps the ones inside.
 *
 * U is made anew each call (the weights change between training steps). On
 * a team, each thread reads all of it for every block. Outside a training
 * step, a call on up to WINO_OWN_U_THREADS threads gives each thread a U of
 * its own, which it makes itself, so no part of U crosses between the
 * cores. In a training step the threads share one U, each making part of
 * it: there the workspace past the slots is the backward pass's per-thread
 * regions (conv_backward_chunks.c), and a copy there would move between
 * the cores twice a step. Either way U has the same bits, and so do the
 * results.
 *
 * libxsmm GEMMs only: without libxsmm (or on the BLAS path, or where it
 * cannot JIT) the layer goes to the other paths, which also take every
 * shape this one declines. */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "vector_state.h"
#include "tdl/runtime.h"
#include "vector.h"
#include "warm.h"

#ifdef TDL_HAVE_LIBXSMM

#include <libxsmm.h>

#include "conv_winograd_patch.h"

/* WINO_MIN_CHANNELS: the fewest input channels and filters. Shorter GEMMs
 * do not pay for the transforms' memory traffic. At 32 -> 32 (vgg_small's
 * 32x32x32 layer) Winograd wins on an Intel Xeon with AVX-512: forward 147-167
 * GFLOP/s (direct-convolution FLOPs) on one thread against the direct
 * kernel's 118-133, 305-330 on two against 242-265, and the input's gradient
 * 148-166 against 125-136 (bench/kernels, batches 32 and 128, 2026-12-06).
 * An AMD EPYC (Zen 4) found the same after the transforms were vectorised
 * (127 against 101 on one thread); an older measurement on another (Zen 5),
 * made before that, had the direct kernel ahead (353 against 214 on two
 * threads). docs/performance.md keeps all three.
 * WINO_SLOTS: the most threads one call uses (as conv_xsmm.c).
 * WINO_BLOCK_BYTES: what a block's V and M may fill of one core's L2.
 * WINO_MIN_TILES, WINO_MAX_TILES: bounds of a block (GEMM columns).
 * WINO_OWN_U_THREADS: the most threads that get a U of their own; the
 * scratch holds a copy for each after the first. Measured against a shared
 * U on two threads (vgg_small's 8x8x128 -> 128 layer, U 1 MB, at batch 32):
 * 1.24-1.29 ms a call against 1.04, since a U shared is half made on the
 * other core and the lines each thread read in the last call must be taken
 * back from it before they are rewritten. vgg_small's forward on two
 * threads (medians of 7-9 alternating processes): 6.71 -> 6.38 ms at batch
 * 32, 25.5 -> 24.5 at batch 128. More threads share one U: each copy costs
 * a U of workspace.
 * WINO_PLANE_PAD: floats (one cache line) between the end of one position's
 * matrix of U, V or M and the start of the next. The transforms read or
 * write all 16 positions at once, and with C x F a power of two (128 x 128:
 * 64 KiB) the 16 lines fell into one set of the L1 cache, which holds 12:
 * U's transform was 28% of vgg_small's forward at batch 1. One line apart,
 * that forward took 0.25 ms on one thread instead of 0.31.
 * WINO_FEW_THREADS: the most threads that share the filters of a call of
 * few tiles (run_few); the scratch keeps a slot for each.
 * WINO_FEW_ROWS, WINO_FEW_ROWS_WIDE: the filters of its GEMM pieces
 * (few_rows). */
enum {
    WINO_MIN_CHANNELS = 32,
    WINO_SLOTS = 8,
    WINO_MIN_TILES = 8,
    WINO_MAX_TILES = 64,
    WINO_PLANE_PAD = 16,
    WINO_OWN_U_THREADS = 2,
    WINO_FEW_THREADS = 2,
    WINO_FEW_ROWS = 32,
    WINO_FEW_ROWS_WIDE = 64,
};
#define WINO_BLOCK_BYTES (384.0 * 1024.0)
/* Below this much work per thread a call stays on fewer threads, forward
 * and input gradient alike (conv_xsmm.c). */
#define WINO_MIN_THREAD_FLOPS 16.0e6
/* The same for a call of few tiles (run_few), whose threads share out its
 * filters. */
#define WINO_FEW_MIN_THREAD_FLOPS 1.0e6

/* Tiles and blocks of one layer. */
typedef struct wino_geometry {
    int tiles_h, tiles_w;
    int block_tiles;          /* GEMM columns of a full block */
    size_t blocks_per_image;
    size_t u_plane;            /* floats from one position's C x F matrix of U to the next */
    size_t v_plane, m_plane;   /* the same for a block's V (C x tiles) and M (F x tiles) */
    size_t transformed_kernel; /* floats of U: 16 x u_plane */
    size_t slot;               /* floats of a slot: V, M, a border patch, a border tile */
} wino_geometry;

static bool wino_suits(const tdl_conv2d_desc *d) {
    return conv_groups(d) == 1 && d->kernel_h == 3 && d->kernel_w == 3 && d->stride_h == 1 && d->stride_w == 1 &&
           d->dilation_h == 1 && d->dilation_w == 1 && d->in_c >= WINO_MIN_CHANNELS && d->out_c >= WINO_MIN_CHANNELS;
}

/* Blocks of `tiles` tiles: how many an image has, and a block's planes and slot. */
static void set_block_tiles(wino_geometry *g, const tdl_conv2d_desc *d, int tiles) {
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const size_t per_image = (size_t)g->tiles_h * (size_t)g->tiles_w;
    g->block_tiles = tiles;
    g->blocks_per_image = per_image / (size_t)tiles + (per_image % (size_t)tiles != 0);
    g->v_plane = (size_t)tiles * c + WINO_PLANE_PAD;
    g->m_plane = (size_t)tiles * f + WINO_PLANE_PAD;
    g->slot = WINO_POSITIONS * (g->v_plane + g->m_plane) + WINO_POSITIONS * c + 4 * f;
}

static wino_geometry geometry_of(const tdl_conv2d_desc *d) {
    wino_geometry g;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    g.tiles_h = d->out_h / 2 + d->out_h % 2;
    g.tiles_w = d->out_w / 2 + d->out_w % 2;
    const size_t per_image = (size_t)g.tiles_h * (size_t)g.tiles_w;
    double fit = WINO_BLOCK_BYTES / ((double)WINO_POSITIONS * (double)(c + f) * sizeof(float));
    if (fit < WINO_MIN_TILES) fit = WINO_MIN_TILES;
    if (fit > WINO_MAX_TILES) fit = WINO_MAX_TILES;
    g.u_plane = c * f + WINO_PLANE_PAD;
    g.transformed_kernel = WINO_POSITIONS * g.u_plane;
    set_block_tiles(&g, d, (double)per_image < fit ? (int)per_image : (int)fit);
    return g;
}

static int slots_for(const wino_geometry *g, int batch) {
    const size_t blocks = (size_t)batch * g->blocks_per_image;
    return blocks < WINO_SLOTS ? (int)blocks : WINO_SLOTS;
}

/* Whether the scratch of every slot and U can be counted in size_t, and
 * tile indices and patch coordinates (up to a few past a side) in int. */
static bool sizes_fit(const tdl_conv2d_desc *d) {
    const double c = d->in_c, f = d->out_c;
    const double slot = WINO_POSITIONS * ((double)WINO_MAX_TILES * (c + f) + 2.0 * WINO_PLANE_PAD + c) + 4.0 * f;
    const double tiles = ((double)d->out_h / 2.0 + 1.0) * ((double)d->out_w / 2.0 + 1.0);
    const double kernels = WINO_OWN_U_THREADS * WINO_POSITIONS * (c * f + WINO_PLANE_PAD);
    const double few = WINO_FEW_THREADS * (WINO_POSITIONS * ((double)WINO_MAX_TILES * (c + WINO_FEW_ROWS_WIDE) +
                                                            WINO_FEW_ROWS_WIDE * c + 3.0 * WINO_PLANE_PAD + c) +
                                           4.0 * f);
    return kernels + WINO_SLOTS * slot + few < (double)SIZE_MAX / 8.0 &&
           tiles < INT_MAX && d->in_h < INT_MAX / 2 && d->in_w < INT_MAX / 2 && d->out_h < INT_MAX / 2 &&
           d->out_w < INT_MAX / 2;
}

static bool wino_enabled(const tdl_conv2d_desc *d) {
    return wino_suits(d) && sizes_fit(d) && tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available();
}

/* Floats of U and the slots of a call on `batch` images: where the other
 * threads' own copies of U start. */
static size_t shared_scratch_floats(const tdl_conv2d_desc *d, int batch) {
    const wino_geometry g = geometry_of(d);
    return g.transformed_kernel + (size_t)slots_for(&g, batch) * g.slot;
}

static size_t few_slot_floats(const tdl_conv2d_desc *d, size_t tiles);
static size_t few_tiles(const wino_geometry *g, int batch);
static int few_threads(const tdl_conv2d_desc *d, size_t tiles);

/* The larger of a call of many blocks (`many`) and one of few tiles on
 * `threads` threads, on `batch` images. */
static size_t with_few_tiles(const tdl_conv2d_desc *d, int batch, int threads, size_t many) {
    const wino_geometry g = geometry_of(d);
    const size_t tiles = few_tiles(&g, batch);
    const size_t few = tiles > 0 ? (size_t)threads * few_slot_floats(d, tiles) : 0;
    return many > few ? many : few;
}

size_t conv_winograd_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (!wino_suits(d) || !sizes_fit(d) || batch <= 0) return 0;
    const size_t copies = tdl_team_can_split() ? WINO_OWN_U_THREADS - 1 : 0;
    const size_t many = shared_scratch_floats(d, batch) + copies * geometry_of(d).transformed_kernel;
    return with_few_tiles(d, batch, tdl_team_can_split() ? WINO_FEW_THREADS : 1, many);
}

/* A call inside the team (on one thread) of any batch. */
size_t conv_winograd_forward_scratch_alone(const tdl_conv2d_desc *d) {
    if (!wino_suits(d) || !sizes_fit(d)) return 0;
    const wino_geometry g = geometry_of(d);
    return with_few_tiles(d, WINO_MAX_TILES, 1, g.transformed_kernel + g.slot);
}

/* ---- the transforms -------------------------------------------------------
 * Each works on WINO_CHUNK channels (or filters) at a time through local
 * arrays: all loads of a chunk come before its stores, so the compiler needs
 * no aliasing checks between the 16 rows it reads and the 16 it writes. */

/* Where U's values go: position e's matrix `plane` floats after position
 * e - 1's, output o of input channel i at i * ld + o - first. All of U (a
 * call of many blocks): plane u_plane, ld the run's outputs, first 0. One
 * GEMM piece of it (a call of few tiles, run_few): ld the piece's rows,
 * first its first output. */
typedef struct wino_u_layout {
    size_t plane, ld, first;
} wino_u_layout;

/* U[e][i][o] for output channels [o0, o0 + n), n <= WINO_CHUNK, of input
 * channel i: U = G g G^T with G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1].
 * Tap (a, b) of (i, o) is kernel[tap_base[a*3 + b] + i*in_stride +
 * o*out_stride]: the forward reads the HWIO kernel as it is, the input's
 * gradient reads it flipped with input and output channels swapped. */
static inline __attribute__((always_inline)) void transform_kernel_chunk(float *restrict u, const float *restrict kernel,
                                                                         const size_t tap_base[9], size_t in,
                                                                         size_t in_stride, size_t out_stride,
                                                                         size_t o0, size_t n, wino_u_layout l) {
    float g[9][WINO_CHUNK], t[4][3][WINO_CHUNK];
    for (size_t tap = 0; tap < 9; ++tap)
        for (size_t i = 0; i < n; ++i) g[tap][i] = kernel[tap_base[tap] + in * in_stride + (o0 + i) * out_stride];
    for (size_t b = 0; b < 3; ++b) {
        for (size_t i = 0; i < n; ++i) {
            const float g0 = g[b][i], g1 = g[3 + b][i], g2 = g[6 + b][i];
            t[0][b][i] = g0;
            t[1][b][i] = 0.5f * (g0 + g1 + g2);
            t[2][b][i] = 0.5f * (g0 - g1 + g2);
            t[3][b][i] = g2;
        }
    }
    const size_t plane = l.plane;
    for (size_t a = 0; a < 4; ++a) {
        float *row = u + (a * 4) * plane + in * l.ld + (o0 - l.first);
        for (size_t i = 0; i < n; ++i) {
            const float t0 = t[a][0][i], t1 = t[a][1][i], t2 = t[a][2][i];
            row[i] = t0;
            row[plane + i] = 0.5f * (t0 + t1 + t2);
            row[2 * plane + i] = 0.5f * (t0 - t1 + t2);
            row[3 * plane + i] = t2;
        }
    }
}

/* The tile's 2x2 outputs for filters [f0, f0 + n): Y = A^T M A + bias with
 * A^T = [1 1 1 0; 0 1 -1 -1], then relu if asked (other activations run
 * afterwards). m: where position 0 of the tile's M holds filter f0, positions
 * `plane` floats apart; out[p] where output pixel p (row-major in the tile)
 * starts. */
static inline __attribute__((always_inline)) void transform_output_chunk(float *restrict y, const size_t out[4], const float *restrict m,
                                                     size_t plane, const float *restrict bias, bool relu, size_t f0,
                                                     size_t n) {
    float s[WINO_POSITIONS][WINO_CHUNK], t[2][4][WINO_CHUNK], r[4][WINO_CHUNK], b[WINO_CHUNK];
    for (size_t e = 0; e < WINO_POSITIONS; ++e)
        for (size_t i = 0; i < n; ++i) s[e][i] = m[e * plane + i];
    for (size_t i = 0; i < n; ++i) b[i] = bias != NULL ? bias[f0 + i] : 0.0f;
    for (size_t col = 0; col < 4; ++col) {
        for (size_t i = 0; i < n; ++i) {
            const float s0 = s[col][i], s1 = s[4 + col][i], s2 = s[8 + col][i], s3 = s[12 + col][i];
            t[0][col][i] = s0 + s1 + s2;
            t[1][col][i] = s1 - s2 - s3;
        }
    }
    for (size_t row = 0; row < 2; ++row) {
        for (size_t i = 0; i < n; ++i) {
            const float t0 = t[row][0][i], t1 = t[row][1][i], t2 = t[row][2][i], t3 = t[row][3][i];
            r[2 * row][i] = t0 + t1 + t2 + b[i];
            r[2 * row + 1][i] = t1 - t2 - t3 + b[i];
        }
    }
    if (relu)
        for (size_t p = 0; p < 4; ++p)
            for (size_t i = 0; i < n; ++i) r[p][i] = r[p][i] > 0.0f ? r[p][i] : 0.0f;
    for (size_t p = 0; p < 4; ++p)
        for (size_t i = 0; i < n; ++i) y[out[p] + f0 + i] = r[p][i];
}

/* The same three transforms for a whole chunk, on GCC's vector type: one
 * variable per row of the chunk, which the compiler keeps in registers,
 * where the local arrays above go through the stack (each row loaded is
 * stored into its array and read back). In vgg_small's forward at batch 1
 * on one thread the kernel transforms took 60-66% of their time on the
 * arrays (117 -> 75 us of a 600 us forward); at batch 128 the patch
 * transform 5.2 -> 2.5% of the samples and the output transform 6.1 ->
 * 4.2%. The operations and their order are the arrays', and so are the
 * bits (ISO C: no contraction into FMAs). */
_Static_assert(WINO_CHUNK == 16, "a chunk is one tdl_vector16");

/* transform_kernel_chunk for a whole chunk of the forward's kernel (filters
 * contiguous: out_stride 1). */
static inline __attribute__((always_inline)) void transform_kernel_vector(float *restrict u,
                                                                          const float *restrict kernel,
                                                                          const size_t tap_base[9], size_t in,
                                                                          size_t in_stride, size_t o0,
                                                                          wino_u_layout l) {
    tdl_vector16 g[9];
    for (size_t tap = 0; tap < 9; ++tap) TDL_VECTOR16_LOAD(g[tap], kernel + tap_base[tap] + in * in_stride + o0);
    tdl_vector16 t[4][3];
    for (size_t b = 0; b < 3; ++b) {
        t[0][b] = g[b];
        t[1][b] = 0.5f * (g[b] + g[3 + b] + g[6 + b]);
        t[2][b] = 0.5f * (g[b] - g[3 + b] + g[6 + b]);
        t[3][b] = g[6 + b];
    }
    const size_t plane = l.plane;
    for (size_t a = 0; a < 4; ++a) {
        float *row = u + (a * 4) * plane + in * l.ld + (o0 - l.first);
        const tdl_vector16 u1 = 0.5f * (t[a][0] + t[a][1] + t[a][2]), u2 = 0.5f * (t[a][0] - t[a][1] + t[a][2]);
        TDL_VECTOR16_STORE(row, t[a][0]);
        TDL_VECTOR16_STORE(row + plane, u1);
        TDL_VECTOR16_STORE(row + 2 * plane, u2);
        TDL_VECTOR16_STORE(row + 3 * plane, t[a][2]);
    }
}

/* Whole channel rows through the chunk transforms: full chunks on vectors,
 * then the ragged tail. transform_kernel_rows takes all its channels in one
 * call. */
TDL_VECTOR_CLONES static void transform_kernel_rows(float *restrict u, wino_u_layout l, const float *restrict kernel,
                                                    size_t c_begin, size_t c_end, size_t channels, size_t filters,
                                                    size_t f_begin, size_t f_end) {
    size_t tap_base[9];
    for (size_t tap = 0; tap < 9; ++tap) tap_base[tap] = tap * channels * filters;
    for (size_t c = c_begin; c < c_end; ++c) {
        size_t f0 = f_begin;
        for (; f0 + WINO_CHUNK <= f_end; f0 += WINO_CHUNK)
            transform_kernel_vector(u, kernel, tap_base, c, filters, f0, l);
        if (f0 < f_end) transform_kernel_chunk(u, kernel, tap_base, c, filters, 1, f0, f_end - f0, l);
    }
}

/* The same for the input's gradient: input channel f of dy, output channels
 * [c_begin, c_end) of dx, taps flipped. */
TDL_VECTOR_CLONES static void transform_flipped_kernel_rows(float *restrict u, wino_u_layout l,
                                                            const float *restrict kernel, size_t f, size_t channels,
                                                            size_t filters, size_t c_begin, size_t c_end) {
    size_t tap_base[9];
    for (size_t tap = 0; tap < 9; ++tap) tap_base[tap] = (8 - tap) * channels * filters;
    size_t c0 = c_begin;
    for (; c0 + WINO_CHUNK <= c_end; c0 += WINO_CHUNK)
        transform_kernel_chunk(u, kernel, tap_base, f, 1, filters, c0, WINO_CHUNK, l);
    if (c0 < c_end) transform_kernel_chunk(u, kernel, tap_base, f, 1, filters, c0, c_end - c0, l);
}

/* Filters [f_begin, f_end) of a tile; m is where the tile's M holds filter
 * f_begin. */
TDL_VECTOR_CLONES static void transform_output_wide(float *restrict y, const size_t out[4], const float *restrict m,
                                                    size_t plane, const float *restrict bias, bool relu,
                                                    size_t f_begin, size_t f_end) {
    size_t f0 = f_begin;
    for (; f0 + WINO_CHUNK <= f_end; f0 += WINO_CHUNK)
        transform_output_vector16(y, out, m + (f0 - f_begin), plane, bias, relu, f0);
    if (f0 < f_end) transform_output_chunk(y, out, m + (f0 - f_begin), plane, bias, relu, f0, f_end - f0);
}

#if WINO_HALVES
/* The output transform on AVX2: the same sums, half a chunk a vector. */
__attribute__((target("avx2"))) static void transform_output_halves(float *restrict y, const size_t out[4],
                                                                    const float *restrict m, size_t plane,
                                                                    const float *restrict bias, bool relu,
                                                                    size_t f_begin, size_t f_end) {
    size_t f0 = f_begin;
    for (; f0 + WINO_CHUNK / 2 <= f_end; f0 += WINO_CHUNK / 2)
        transform_output_vector8(y, out, m + (f0 - f_begin), plane, bias, relu, f0);
    if (f0 < f_end) transform_output_chunk(y, out, m + (f0 - f_begin), plane, bias, relu, f0, f_end - f0);
}
#endif

static void transform_output(float *restrict y, const size_t out[4], const float *restrict m, size_t plane,
                             const float *restrict bias, bool relu, size_t f_begin, size_t f_end) {
#if WINO_HALVES
    if (winograd_halves()) {
        transform_output_halves(y, out, m, plane, bias, relu, f_begin, f_end);
        return;
    }
#endif
    transform_output_wide(y, out, m, plane, bias, relu, f_begin, f_end);
}

/* ---- one call ------------------------------------------------------------ */

/* The filters [begin, end) of the run that one thread computes. */
typedef struct wino_filters {
    size_t begin, end;
} wino_filters;

/* The GEMMs of a call: a piece of `piece_rows` filters (all of them in a
 * call of many blocks) or the filters left after the last whole piece
 * (rest, NULL when none are), each for a full block and for an image's last
 * block (ragged). */
typedef struct wino_gemms {
    libxsmm_smmfunction piece_full, piece_ragged, rest_full, rest_ragged;
} wino_gemms;

typedef struct wino_job {
    const tdl_conv2d_desc *d;
    wino_geometry g;
    int batch;
    int ragged_tiles;                 /* columns of an image's last block (0: every block is full) */
    bool input_gradient;              /* y += the input's gradient of the layer `layer` */
    const tdl_conv2d_desc *layer;     /* whose kernel this is (d itself for forward) */
    float *y, *u, *slots;
    float *own_u; /* thread t > 0's own U at (t - 1) * transformed_kernel, or NULL: one U shared */
    const float *x, *kernel, *bias, *scale, *shift;
    tdl_team_pieces pieces;           /* of blocks: each block's outputs are its own */
    wino_gemms gemms;
    size_t piece_rows;                      /* filters of a whole GEMM piece */
    wino_filters filters[WINO_FEW_THREADS]; /* thread t's, in a call of few tiles */
} wino_job;

/* U (laid out as l) for input channels [begin, end) and outputs
 * [out_begin, out_end) of the convolution run (d). */
static void transform_kernel_into(const wino_job *j, float *u, wino_u_layout l, size_t begin, size_t end,
                                  size_t out_begin, size_t out_end) {
    const size_t c = (size_t)j->layer->in_c, f = (size_t)j->layer->out_c;
    if (!j->input_gradient) {
        transform_kernel_rows(u, l, j->kernel, begin, end, c, f, out_begin, out_end);
        return;
    }
    for (size_t i = begin; i < end; ++i) transform_flipped_kernel_rows(u, l, j->kernel, i, c, f, out_begin, out_end);
}

/* All of U, for the blocks of a call. */
static wino_u_layout whole_u(const wino_job *j) {
    return (wino_u_layout){j->g.u_plane, (size_t)j->d->out_c, 0};
}

/* The shared U, split over the team by input channels. */
static void kernel_items(void *context, size_t begin, size_t end) {
    const wino_job *j = context;
    transform_kernel_into(j, j->u, whole_u(j), begin, end, 0, (size_t)j->d->out_c);
}

/* V for tile `tile` (V column `column`) of image x_image. */
static void transform_input_tile(const wino_job *j, float *v, float *patch_copy, const float *x_image, int tile,
                                 int column) {
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c;
    const int row0 = (tile / j->g.tiles_w) * 2 - d->pad_top, col0 = (tile % j->g.tiles_w) * 2 - d->pad_left;
    size_t patch[WINO_POSITIONS];
    const float *source = winograd_patch(patch, patch_copy, x_image, d->in_h, d->in_w, c, row0, col0);
    winograd_transform_patch(v + (size_t)column * c, j->g.v_plane, source, patch, c);
}

/* y (n) += from (n). */
TDL_VECTOR_CLONES static void add_row(float *restrict y, const float *restrict from, size_t n) {
    for (size_t i = 0; i < n; ++i) y[i] += from[i];
}

/* Outputs of tile `tile` into y_image for filters fs, with the activation
 * and any folded batch_norm; or, for the input's gradient, added to it.
 * m_tile: where position 0 of the tile's M holds filter fs->begin. */
static void transform_output_tile(const wino_job *j, const wino_filters *fs, const float *m_tile, float *border,
                                  float *y_image, int tile) {
    const tdl_conv2d_desc *d = j->d;
    const size_t f = (size_t)d->out_c, first = fs->begin, n = fs->end - fs->begin;
    const int oh = (tile / j->g.tiles_w) * 2, ow = (tile % j->g.tiles_w) * 2;
    const bool whole = oh + 2 <= d->out_h && ow + 2 <= d->out_w;
    const bool in_place = whole && !j->input_gradient;
    const bool relu = d->activation == TDL_ACTIVATION_RELU;
    size_t out[4];
    float *target = in_place ? y_image : border;
    for (int p = 0; p < 4; ++p)
        out[p] = in_place ? ((size_t)(oh + p / 2) * (size_t)d->out_w + (size_t)(ow + p % 2)) * f : (size_t)p * f;
    transform_output(target, out, m_tile, j->g.m_plane, j->bias, relu, fs->begin, fs->end);
    for (int p = 0; p < 4; ++p) {
        const int r = oh + p / 2, q = ow + p % 2;
        if (r >= d->out_h || q >= d->out_w) continue;
        float *pixel = y_image + ((size_t)r * (size_t)d->out_w + (size_t)q) * f + first;
        const float *computed = border + (size_t)p * f + first;
        if (j->input_gradient) {
            add_row(pixel, computed, n);
            continue;
        }
        if (!whole) memcpy(pixel, computed, n * sizeof *pixel);
        if (!relu) conv_activate_in_place(pixel, n, d->activation, d->alpha);
        if (j->scale != NULL) conv_affine_rows(pixel, j->scale + first, j->shift + first, 1, n);
    }
}

/* The 16 GEMMs M[e] = U[e] * V[e] for the filters [first, end) (at most one
 * piece, U's and M's rows at `first`). */
static void multiply_piece(const wino_job *j, bool full_block, size_t first, size_t end, const float *u,
                           const float *v, float *m) {
    const bool whole_piece = end - first == j->piece_rows;
    const libxsmm_smmfunction gemm = whole_piece ? (full_block ? j->gemms.piece_full : j->gemms.piece_ragged)
                                                 : (full_block ? j->gemms.rest_full : j->gemms.rest_ragged);
    for (size_t e = 0; e < WINO_POSITIONS; ++e)
        gemm(u + e * j->g.u_plane, v + e * j->g.v_plane, m + e * j->g.m_plane);
}

/* Block `block` of the batch: transform its patches, run the 16 GEMMs on
 * u, transform their results into y. */
static void run_block(const wino_job *j, const float *u, size_t block, float *slot) {
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const size_t image = block / j->g.blocks_per_image;
    const int first = (int)(block % j->g.blocks_per_image) * j->g.block_tiles;
    const int per_image = j->g.tiles_h * j->g.tiles_w;
    const int tiles = per_image - first < j->g.block_tiles ? per_image - first : j->g.block_tiles;
    float *v = slot, *m = v + WINO_POSITIONS * j->g.v_plane, *patch_copy = m + WINO_POSITIONS * j->g.m_plane;
    float *border = patch_copy + WINO_POSITIONS * c;
    const float *x_image = j->x + image * (size_t)d->in_h * (size_t)d->in_w * c;
    float *y_image = j->y + image * (size_t)d->out_h * (size_t)d->out_w * f;

    /* The block's patches come from a band of whole input rows, one
     * contiguous range in NHWC; patches read it 4 rows at a time. */
    const int band_first = (first / j->g.tiles_w) * 2 - d->pad_top;
    const int band_last = ((first + tiles - 1) / j->g.tiles_w) * 2 - d->pad_top + 4;
    const int top = band_first < 0 ? 0 : band_first, bottom = band_last > d->in_h ? d->in_h : band_last;
    if (top < bottom)
        warm_for_reading(x_image + (size_t)top * (size_t)d->in_w * c,
                         (size_t)(bottom - top) * (size_t)d->in_w * c * sizeof(float));
    for (int t = 0; t < tiles; ++t) transform_input_tile(j, v, patch_copy, x_image, first + t, t);
    /* U (F x C) and M (F x tiles), both with leading dimension F. */
    multiply_piece(j, tiles == j->g.block_tiles, 0, f, u, v, m);
    tdl_vector_state_clean();
    const wino_filters all = {0, f};
    for (int t = 0; t < tiles; ++t)
        transform_output_tile(j, &all, m + (size_t)t * f, border, y_image, first + t);
}

/* Blocks of one piece: a few, so that a slower core's last piece is short. */
enum { PIECE_BLOCKS = 2 };

static void block_share(void *context, int t, int threads) {
    (void)threads;
    wino_job *j = context;
    float *slot = j->slots + (size_t)t * j->g.slot;
    float *u = j->u;
    if (j->own_u != NULL) {
        if (t > 0) u = j->own_u + (size_t)(t - 1) * j->g.transformed_kernel;
        transform_kernel_into(j, u, whole_u(j), 0, (size_t)j->d->in_c, 0, (size_t)j->d->out_c);
    }
    size_t block, end;
    while (tdl_team_pieces_next(&j->pieces, t, &block, &end))
        for (; block < end; ++block) run_block(j, u, block, slot);
}

/* Column-major M(rows x n) = U(rows x C) * V(C x n), ldb C: lda and ldc F
 * for all of U and M (the ldb/ldc of a full block, so a ragged block reads
 * the same rows), the piece's rows for one piece of them. */
static libxsmm_smmfunction dispatch(const tdl_conv2d_desc *d, int rows, int n, int ld) {
    const libxsmm_blasint m = rows, nn = n, k = d->in_c, lda = ld, ldb = d->in_c, ldc = ld;
    const float alpha = 1.0f, beta = 0.0f;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return libxsmm_smmdispatch(m, nn, k, &lda, &ldb, &ldc, &alpha, &beta, &flags, &prefetch);
}

/* j's GEMMs for pieces of `rows` filters and blocks of `full` and `ragged`
 * tiles (0: none), with leading dimension ld; false when libxsmm declines
 * one. */
static bool set_gemms(wino_job *j, int rows, int full, int ragged, int ld) {
    const int rest = j->d->out_c % rows, piece = j->d->out_c >= rows ? rows : 0;
    j->piece_rows = (size_t)rows;
    wino_gemms *g = &j->gemms;
    *g = (wino_gemms){NULL, NULL, NULL, NULL};
    if (piece > 0) {
        g->piece_full = dispatch(j->d, piece, full, ld);
        g->piece_ragged = ragged > 0 ? dispatch(j->d, piece, ragged, ld) : g->piece_full;
        if (g->piece_full == NULL || g->piece_ragged == NULL) return false;
    }
    if (rest > 0) {
        g->rest_full = dispatch(j->d, rest, full, ld);
        g->rest_ragged = ragged > 0 ? dispatch(j->d, rest, ragged, ld) : g->rest_full;
        if (g->rest_full == NULL || g->rest_ragged == NULL) return false;
    }
    return true;
}

/* ---- a call of few tiles --------------------------------------------------
 * A call of at most WINO_MAX_TILES tiles (a single image, most of all) has
 * next to nothing to split by blocks, and all of U made and then read once
 * is a larger share of it than of a batch: at batch 1, vgg_small's 8x8x128 ->
 * 128 layer writes 1 MB of U for 8 MFLOP of products. So its GEMM pieces
 * are shared out over the team: each thread transforms every patch into a
 * V of its own, then, one piece of filters after another, makes that
 * piece's U (16 x C x rows floats, 512 KB for that layer) in the same
 * buffer, which stays in its L2, runs the piece's GEMMs and transforms
 * their results. The pieces do not depend on the thread count, so neither
 * do the bits (libxsmm's kernel for a piece adds a column's products in the
 * same order whatever its leading dimensions and columns); but a GEMM of
 * fewer rows may add them in another order than one of all the filters, so
 * an image alone can differ in the last bits from the same image in a
 * batch of many blocks. */

/* Filters of a GEMM piece in a call of few tiles: 32, so that two threads
 * share a layer of 64; 64 for 128 or more, since GEMMs of 32 rows ran
 * vgg_small's 8x8x128 -> 128 layer 10-20% slower than GEMMs of 64 or 128
 * (bench/kernels). */
static size_t few_rows(const tdl_conv2d_desc *d) {
    return d->out_c >= 2 * WINO_FEW_ROWS_WIDE ? WINO_FEW_ROWS_WIDE : WINO_FEW_ROWS;
}

/* Floats of one thread's scratch for a call of `tiles` tiles: V, M of one
 * piece, U of one piece, a border patch and a border tile. */
static size_t few_slot_floats(const tdl_conv2d_desc *d, size_t tiles) {
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const size_t rows = few_rows(d);
    return WINO_POSITIONS * ((tiles * c + WINO_PLANE_PAD) + (tiles * rows + WINO_PLANE_PAD) +
                             (rows * c + WINO_PLANE_PAD)) +
           WINO_POSITIONS * c + 4 * f;
}

/* The most tiles a call on `batch` images takes this way (0: none): whole
 * images up to WINO_MAX_TILES tiles. Grows with the batch, as the scratch
 * sized for the largest batch must serve every smaller one. */
static size_t few_tiles(const wino_geometry *g, int batch) {
    const size_t per_image = (size_t)g->tiles_h * (size_t)g->tiles_w;
    if (per_image > WINO_MAX_TILES) return 0;
    const size_t images = WINO_MAX_TILES / per_image;
    return ((size_t)batch < images ? (size_t)batch : images) * per_image;
}

/* GEMM pieces of the run's filters (the last may be short). */
static size_t gemm_pieces(const tdl_conv2d_desc *d) {
    const size_t rows = few_rows(d);
    return (size_t)d->out_c / rows + ((size_t)d->out_c % rows != 0);
}

/* Threads for a call of `tiles` tiles: enough products for each, at least
 * one GEMM piece for each. Each transforms every patch, which is what the
 * bound pays for. */
static int few_threads(const tdl_conv2d_desc *d, size_t tiles) {
    const double products = 2.0 * WINO_POSITIONS * (double)tiles * (double)d->in_c * (double)d->out_c;
    int threads = tdl_team_threads_for(products, WINO_FEW_MIN_THREAD_FLOPS);
    if ((size_t)threads > gemm_pieces(d)) threads = (int)gemm_pieces(d);
    return threads < WINO_FEW_THREADS ? threads : WINO_FEW_THREADS;
}

static void few_share(void *context, int t, int threads) {
    (void)threads;
    const wino_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const int per_image = j->g.tiles_h * j->g.tiles_w;
    float *v = j->slots + (size_t)t * j->g.slot, *m = v + WINO_POSITIONS * j->g.v_plane;
    float *u = m + WINO_POSITIONS * j->g.m_plane, *patch_copy = u + WINO_POSITIONS * j->g.u_plane;
    float *border = patch_copy + WINO_POSITIONS * c;
    for (int image = 0; image < j->batch; ++image) {
        const float *x_image = j->x + (size_t)image * (size_t)d->in_h * (size_t)d->in_w * c;
        for (int tile = 0; tile < per_image; ++tile)
            transform_input_tile(j, v, patch_copy, x_image, tile, image * per_image + tile);
    }
    const wino_filters mine = j->filters[t];
    const size_t rows = j->piece_rows;
    for (size_t first = mine.begin; first < mine.end; first += rows) {
        const wino_filters piece = {first, first + rows < mine.end ? first + rows : mine.end};
        const wino_u_layout l = {j->g.u_plane, rows, first};
        transform_kernel_into(j, u, l, 0, (size_t)j->d->in_c, piece.begin, piece.end);
        multiply_piece(j, true, piece.begin, piece.end, u, v, m);
        tdl_vector_state_clean();
        for (int image = 0; image < j->batch; ++image) {
            float *y_image = j->y + (size_t)image * (size_t)d->out_h * (size_t)d->out_w * f;
            for (int tile = 0; tile < per_image; ++tile) {
                const size_t column = (size_t)(image * per_image + tile);
                transform_output_tile(j, &piece, m + column * rows, border, y_image, tile);
            }
        }
    }
}

/* Runs job j, a call of `tiles` (at most few_tiles) tiles, on scratch: a
 * slot of few_slot_floats for each thread. A thread's filters are whole
 * pieces of 32 or 64, so with a multiple of 16 filters its outputs are
 * whole cache lines of each pixel, which no other thread writes. */
static bool run_few(wino_job *j, float *scratch, size_t tiles) {
    const tdl_conv2d_desc *d = j->d;
    j->g.v_plane = tiles * (size_t)d->in_c + WINO_PLANE_PAD;
    const size_t rows = few_rows(d);
    j->g.m_plane = tiles * rows + WINO_PLANE_PAD;
    j->g.u_plane = rows * (size_t)d->in_c + WINO_PLANE_PAD;
    j->g.slot = few_slot_floats(d, tiles);
    j->slots = scratch;
    if (!set_gemms(j, (int)rows, (int)tiles, 0, (int)rows)) return false;
    const int threads = few_threads(d, tiles);
    for (int t = 0; t < threads; ++t) {
        size_t first, end;
        tdl_team_share(gemm_pieces(d), t, threads, &first, &end);
        end *= rows;
        j->filters[t] = (wino_filters){first * rows, end < (size_t)d->out_c ? end : (size_t)d->out_c};
    }
    tdl_team_run(threads, few_share, j);
    return true;
}

/* ---- a call of many blocks ------------------------------------------------ */

/* Runs job j (d, the tensors and the mode set) on scratch. */
static bool run(wino_job *j, float *scratch) {
    const tdl_conv2d_desc *d = j->d;
    j->g = geometry_of(d);
    const size_t tiles = (size_t)j->batch * (size_t)j->g.tiles_h * (size_t)j->g.tiles_w;
    if (tiles <= few_tiles(&j->g, j->batch)) return run_few(j, scratch, tiles);
    /* The work is the whole blocks' (ragged ones counted whole). */
    const double flops = 2.0 * WINO_POSITIONS * (double)j->batch * (double)j->g.blocks_per_image *
                         (double)j->g.block_tiles * (double)d->in_c * (double)d->out_c;
    int threads = tdl_team_threads_for(flops, WINO_MIN_THREAD_FLOPS);
    const int per_image = j->g.tiles_h * j->g.tiles_w;
    j->ragged_tiles = per_image % j->g.block_tiles;
    if (!set_gemms(j, d->out_c, j->g.block_tiles, j->ragged_tiles, d->out_c)) return false;
    j->u = scratch;
    j->slots = scratch + j->g.transformed_kernel;

    const size_t blocks = (size_t)j->batch * j->g.blocks_per_image;
    const int slots = slots_for(&j->g, j->batch);
    if (threads > slots) threads = slots;
    if (threads < 1) threads = 1;
    if (!tdl_team_pieces_init(&j->pieces, blocks, PIECE_BLOCKS, threads)) return false;

    /* U once per call, by each thread for itself (block_share) or shared.
     * When the blocks run on one thread, so does the shared U: a U half
     * written by another core made vgg_small's 8x8x128 -> 128 layer at
     * batch 1 take 0.16 ms on two threads against 0.11 on one. */
    j->own_u = NULL;
    if (threads > 1 && threads <= WINO_OWN_U_THREADS && !tdl_team_in_training_step()) {
        j->own_u = scratch + shared_scratch_floats(d, j->batch);
    } else if (threads > 1) {
        const double kernel_work = (double)WINO_POSITIONS * (double)d->out_c * 4.0;
        tdl_team_split((size_t)d->in_c, kernel_work, TDL_TEAM_MIN_THREAD_FLOATS, kernel_items, j);
    } else {
        kernel_items(j, 0, (size_t)d->in_c);
    }

    tdl_team_run(threads, block_share, j);
    return true;
}

bool conv_winograd_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                           const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (!wino_enabled(d) || batch <= 0) return false;
    wino_job j = {.d = d, .layer = d, .batch = batch, .y = y, .x = x, .kernel = kernel, .bias = bias,
                  .scale = scale, .shift = shift};
    return run(&j, scratch);
}

/* The input's gradient of a 3x3 stride-1 layer is itself such a
 * convolution: of dy (OH x OW x F) with the kernel flipped and its channels
 * swapped, padded by 2 - pad on top and left, giving (H x W x C). */
static tdl_conv2d_desc input_gradient_desc(const tdl_conv2d_desc *d) {
    tdl_conv2d_desc m = *d;
    m.in_h = d->out_h;
    m.in_w = d->out_w;
    m.in_c = d->out_c;
    m.out_h = d->in_h;
    m.out_w = d->in_w;
    m.out_c = d->in_c;
    m.pad_top = 2 - d->pad_top;
    m.pad_left = 2 - d->pad_left;
    m.activation = TDL_ACTIVATION_LINEAR;
    return m;
}

/* The input's gradient runs here for 'same' layers (padding 1 on every
 * side). A 'valid' layer's is a full convolution, padded by 2, whose border
 * tiles are half of mnist_convnet's 7x7 (each gathered into a zeroed patch):
 * its training step on two threads took 10.4 ms this way against 9.4 ms on
 * the direct kernel (bench_models, batch 128). vgg_small's 32 -> 64 layer's
 * once ran at 51% of the two-thread peak against the direct kernel's 57%;
 * on the Intel Xeon of WINO_MIN_CHANNELS it runs at 72-78% against 53-67%,
 * and its 32 -> 32 layer's at 73-82% against 60-66% (bench/kernels). */
static bool input_gradient_suits(const tdl_conv2d_desc *d) {
    return wino_suits(d) && sizes_fit(d) && d->pad_top == 1 && d->pad_left == 1;
}

size_t conv_winograd_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (!wino_suits(d) || !sizes_fit(d) || batch <= 0) return 0;
    const size_t forward = conv_winograd_forward_scratch_size(d, batch);
    const size_t filter = conv_winograd_filter_scratch_size(d, batch);
    const size_t either = forward > filter ? forward : filter;
    if (!input_gradient_suits(d)) return either;
    const tdl_conv2d_desc m = input_gradient_desc(d);
    const size_t input = conv_winograd_forward_scratch_size(&m, batch);
    return either > input ? either : input;
}

bool conv_winograd_suits(const tdl_conv2d_desc *d) { return wino_suits(d) && sizes_fit(d); }

bool conv_winograd_takes_input_gradient(const tdl_conv2d_desc *d) {
    return wino_enabled(d) && input_gradient_suits(d);
}

bool conv_winograd_backprop_input(float *dx, const float *kernel, const float *dy, const tdl_conv2d_desc *d,
                                  int batch, float *scratch) {
    if (!conv_winograd_takes_input_gradient(d) || batch <= 0) return false;
    const tdl_conv2d_desc m = input_gradient_desc(d);
    wino_job j = {.d = &m, .layer = d, .input_gradient = true, .batch = batch, .y = dx, .x = dy, .kernel = kernel};
    return run(&j, scratch);
}

#else /* !TDL_HAVE_LIBXSMM: the other paths take every layer. */

size_t conv_winograd_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

size_t conv_winograd_forward_scratch_alone(const tdl_conv2d_desc *d) {
    (void)d;
    return 0;
}

bool conv_winograd_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                           const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)scale, (void)shift, (void)d, (void)batch, (void)scratch;
    return false;
}

bool conv_winograd_takes_input_gradient(const tdl_conv2d_desc *d) {
    (void)d;
    return false;
}

size_t conv_winograd_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

bool conv_winograd_suits(const tdl_conv2d_desc *d) {
    (void)d;
    return false;
}

bool conv_winograd_backprop_input(float *dx, const float *kernel, const float *dy, const tdl_conv2d_desc *d,
                                  int batch, float *scratch) {
    (void)dx, (void)kernel, (void)dy, (void)d, (void)batch, (void)scratch;
    return false;
}

#endif
