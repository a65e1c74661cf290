/* The AVX2 loops of the dense paths that skip zero inputs, for CPUs that
 * have AVX2 and FMA but not AVX-512 (an AMD EPYC of the Zen 3 generation,
 * Intel desktop cores): dense_zero_inputs_batch.c (a batch's forward),
 * dense_zero_inputs.c (one example's) and dense_zero_inputs_gradient.c
 * (the kernel's gradient), each of which calls them only where
 * tdl_avx2_forms() (avx2_forms.h).
 *
 * - A batch's forward: the AVX-512 loops hold a group's four kernel rows of
 *   a 64-unit block in 16 of their 32 registers; AVX2 has 16 in all, 8 of
 *   which the block's sums of one example take. So the rows stay in L1 (a
 *   group's four rows of a block are 1 KB) and each multiply-add reads its
 *   weights from there (an example's block and group: 8 + 4 + 32 loads for
 *   32 multiply-adds, within three loads a cycle). Loading and storing each
 *   example's sums once for a run of groups instead, with the rows of 2 to
 *   16 groups in L1, was slower (the MLP's first layer at batch 128 on an
 *   AMD EPYC, Zen 3: 1.0 -> 1.4-2.3 ms): one example's sums then make one
 *   chain of multiply-adds, and the run's list of its groups ends in a
 *   mispredicted branch for every example.
 * - One example: a block of 64 units summed over its nonzero inputs in 8
 *   registers, as the AVX-512 loops do 128 in 8.
 * - The kernel's gradient: a group's four rows of 16 units in 8 registers
 *   (the AVX-512 loops: 64 units in 16), each example's dpre loaded once for
 *   the four rows.
 * - The masks of dense_group_masks: eight inputs compared at a time.
 *
 * Every sum is the same chain of multiply-adds in the same order as in the
 * AVX-512 loops, so the two give the same bits. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dense_internal.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

enum { LANES = 8, GROUP_ROWS = DENSE_INPUT_GROUP, MAX_VECTORS = DENSE_ZERO_INPUTS_BLOCK_UNITS / LANES };

#define AVX2_INLINE static inline __attribute__((always_inline, target("avx2,fma")))

/* Weights of row r, vector v: the last vector of a block narrower than a
 * multiple of 8 units reads only its lanes (`tail` of them, 0 for all), so
 * that the block's last row never reads past the kernel. */
AVX2_INLINE __m256 weights_at(const float *row, int v, const int vectors, __m256i tail_lanes, bool tail) {
    if (tail && v == vectors - 1) return _mm256_maskload_ps(row + v * LANES, tail_lanes);
    return _mm256_loadu_ps(row + v * LANES);
}

/* dense_zero_inputs_batch.c's group_scatter: for each example whose bit is
 * set in `mask`, its block of sums (sums + e * block, 8 * vectors floats)
 * += the sum over the group's `rows` inputs of x[e][row] * kernel[row][...].
 * ROWS, VECTORS and TAIL are constants at each call site. */
AVX2_INLINE void group_scatter(float *restrict sums, const float *restrict x, size_t features,
                               const float *restrict kernel, size_t units, uint64_t mask, const int ROWS,
                               const int VECTORS, __m256i tail_lanes, const bool TAIL) {
    while (mask != 0) {
        const size_t e = (size_t)__builtin_ctzll(mask);
        mask &= mask - 1;
        const float *inputs = x + e * features;
        float *block = sums + e * DENSE_ZERO_INPUTS_BLOCK_UNITS;
        __m256 acc[MAX_VECTORS];
        for (int v = 0; v < VECTORS; ++v) acc[v] = _mm256_load_ps(block + v * LANES);
        for (int r = 0; r < ROWS; ++r) {
            const __m256 input = _mm256_broadcast_ss(inputs + r);
            const float *row = kernel + (size_t)r * units;
            for (int v = 0; v < VECTORS; ++v)
                acc[v] = _mm256_fmadd_ps(input, weights_at(row, v, VECTORS, tail_lanes, TAIL), acc[v]);
        }
        for (int v = 0; v < VECTORS; ++v) _mm256_store_ps(block + v * LANES, acc[v]);
    }
}

__attribute__((target("avx2,fma"))) void dense_group_scatter_avx2(float *sums, const float *x, size_t features,
                                                                  const float *kernel, size_t units,
                                                                  uint64_t mask, int rows, size_t width) {
    const int vectors = (int)((width + LANES - 1) / LANES);
    const int tail_count = (int)(width % LANES);
    const __m256i tail_lanes =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(tail_count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    const bool tail = tail_count != 0;
    /* One copy of the loop per row and vector count and for a partial last
     * vector or not, its sums in registers and no test in its loop. */
    switch (((rows - 1) * MAX_VECTORS + (vectors - 1)) * 2 + (tail ? 1 : 0)) {
#define SCATTER_CASE(r, v, t)                                                                \
    case ((r - 1) * MAX_VECTORS + (v - 1)) * 2 + (t ? 1 : 0):                                \
        group_scatter(sums, x, features, kernel, units, mask, r, v, tail_lanes, t);          \
        return;
#define SCATTER_VECTORS(r, v) SCATTER_CASE(r, v, false) SCATTER_CASE(r, v, true)
#define SCATTER_ROWS(r)                                                                      \
    SCATTER_VECTORS(r, 1) SCATTER_VECTORS(r, 2) SCATTER_VECTORS(r, 3) SCATTER_VECTORS(r, 4)   \
    SCATTER_VECTORS(r, 5) SCATTER_VECTORS(r, 6) SCATTER_VECTORS(r, 7) SCATTER_VECTORS(r, 8)
        SCATTER_ROWS(1) SCATTER_ROWS(2) SCATTER_ROWS(3) SCATTER_ROWS(4)
#undef SCATTER_ROWS
#undef SCATTER_VECTORS
#undef SCATTER_CASE
    default: return;
    }
}

/* out (width units, at most 64) = the sum over the listed rows of
 * x[row] * kernel[row][...], rows `units` floats apart. */
AVX2_INLINE void listed_rows_sums(float *restrict out, const float *restrict x, const float *restrict kernel,
                                  size_t units, const uint16_t *restrict nonzero, size_t count, size_t width,
                                  const int VECTORS, __m256i tail_lanes, const bool TAIL) {
    __m256 acc[MAX_VECTORS];
    for (int v = 0; v < VECTORS; ++v) acc[v] = _mm256_setzero_ps();
    for (size_t i = 0; i < count; ++i) {
        const __m256 input = _mm256_broadcast_ss(x + nonzero[i]);
        const float *row = kernel + (size_t)nonzero[i] * units;
        for (int v = 0; v < VECTORS; ++v)
            acc[v] = _mm256_fmadd_ps(input, weights_at(row, v, VECTORS, tail_lanes, TAIL), acc[v]);
    }
    /* Through a buffer: a masked store of the last vector is slow on AMD's cores. */
    float block[DENSE_ZERO_INPUTS_BLOCK_UNITS] __attribute__((aligned(32)));
    for (int v = 0; v < VECTORS; ++v) _mm256_store_ps(block + v * LANES, acc[v]);
    for (size_t u = 0; u < width; ++u) out[u] = block[u];
}

__attribute__((target("avx2,fma"))) void dense_unit_block_avx2(float *out, const float *x, const float *kernel,
                                                               size_t units, const uint16_t *nonzero, size_t count,
                                                               size_t width) {
    const int vectors = (int)((width + LANES - 1) / LANES);
    const int tail_count = (int)(width % LANES);
    const __m256i tail_lanes =
        _mm256_cmpgt_epi32(_mm256_set1_epi32(tail_count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    switch ((vectors - 1) * 2 + (tail_count != 0 ? 1 : 0)) {
#define BLOCK_CASE(v, t)                                                                             \
    case (v - 1) * 2 + (t ? 1 : 0):                                                                  \
        listed_rows_sums(out, x, kernel, units, nonzero, count, width, v, tail_lanes, t);            \
        return;
#define BLOCK_VECTORS(v) BLOCK_CASE(v, false) BLOCK_CASE(v, true)
        BLOCK_VECTORS(1) BLOCK_VECTORS(2) BLOCK_VECTORS(3) BLOCK_VECTORS(4)
        BLOCK_VECTORS(5) BLOCK_VECTORS(6) BLOCK_VECTORS(7) BLOCK_VECTORS(8)
#undef BLOCK_VECTORS
#undef BLOCK_CASE
    default: return;
    }
}

/* dense_zero_inputs_gradient.c's group_block on AVX2, for units [u0, u0 +
 * 8 * VECTORS) of the block: the ROWS x VECTORS sums in registers over
 * the masks' examples, in order, each example's dpre loaded once for the
 * group's rows. The last vector's lanes past `lanes` are neither read from
 * dkernel nor written (TAIL). */
AVX2_INLINE void gradient_sub_block(float *restrict dkernel, const float *restrict x, size_t features,
                                    const float *restrict block_rows, size_t units, const uint64_t *restrict masks,
                                    size_t masks_count, size_t u0, const int ROWS, const int VECTORS,
                                    __m256i tail_lanes, const bool TAIL, bool accumulate) {
    __m256 acc[GROUP_ROWS][2];
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < VECTORS; ++v) {
            const float *at = dkernel + (size_t)r * units + u0 + (size_t)v * LANES;
            acc[r][v] = !accumulate                      ? _mm256_setzero_ps()
                        : (TAIL && v == VECTORS - 1) ? _mm256_maskload_ps(at, tail_lanes)
                                                     : _mm256_loadu_ps(at);
        }
    for (size_t s = 0; s < masks_count; ++s)
        for (uint64_t mask = masks[s]; mask != 0; mask &= mask - 1) {
            const size_t b = s * DENSE_MASK_EXAMPLES + (size_t)__builtin_ctzll(mask);
            const float *row = block_rows + b * DENSE_ZERO_INPUTS_BLOCK_UNITS + u0;
            __m256 gradient[2];
            for (int v = 0; v < VECTORS; ++v) gradient[v] = _mm256_load_ps(row + v * LANES);
            for (int r = 0; r < ROWS; ++r) {
                const __m256 input = _mm256_broadcast_ss(x + b * features + (size_t)r);
                for (int v = 0; v < VECTORS; ++v) acc[r][v] = _mm256_fmadd_ps(input, gradient[v], acc[r][v]);
            }
        }
    for (int r = 0; r < ROWS; ++r)
        for (int v = 0; v < VECTORS; ++v) {
            float *at = dkernel + (size_t)r * units + u0 + (size_t)v * LANES;
            if (TAIL && v == VECTORS - 1)
                _mm256_maskstore_ps(at, tail_lanes, acc[r][v]);
            else
                _mm256_storeu_ps(at, acc[r][v]);
        }
}

__attribute__((target("avx2,fma"))) void dense_group_block_avx2(float *dkernel, const float *x, size_t features,
                                                                const float *block_rows, size_t units,
                                                                const uint64_t *masks, size_t masks_count, int rows,
                                                                size_t width, bool accumulate) {
    /* Sub-blocks of 16 units: 8 sums, 2 vectors of dpre and an input in the 16 registers. */
    for (size_t u0 = 0; u0 < width; u0 += 2 * LANES) {
        const size_t sub = width - u0 < 2 * LANES ? width - u0 : 2 * LANES;
        const int vectors = (int)((sub + LANES - 1) / LANES), tail_count = (int)(sub % LANES);
        const __m256i tail_lanes =
            _mm256_cmpgt_epi32(_mm256_set1_epi32(tail_count), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        switch (((rows - 1) * 2 + (vectors - 1)) * 2 + (tail_count != 0 ? 1 : 0)) {
#define SUB_CASE(r, v, t)                                                                                        \
    case ((r - 1) * 2 + (v - 1)) * 2 + (t ? 1 : 0):                                                              \
        gradient_sub_block(dkernel, x, features, block_rows, units, masks, masks_count, u0, r, v, tail_lanes, t, \
                           accumulate);                                                                          \
        break;
#define SUB_ROWS(r) SUB_CASE(r, 1, false) SUB_CASE(r, 1, true) SUB_CASE(r, 2, false) SUB_CASE(r, 2, true)
            SUB_ROWS(1) SUB_ROWS(2) SUB_ROWS(3) SUB_ROWS(4)
#undef SUB_ROWS
#undef SUB_CASE
        default: return;
        }
    }
}

__attribute__((target("avx2"))) void dense_group_masks_avx2(uint64_t *restrict masks, const float *restrict x,
                                                            size_t features, size_t count, size_t examples) {
    const size_t groups = (count + GROUP_ROWS - 1) / GROUP_ROWS;
    for (size_t g = 0; g < groups; ++g) masks[g] = 0;
    const size_t whole = count / LANES * LANES;
    for (size_t e = 0; e < examples; ++e) {
        const float *inputs = x + e * features;
        for (size_t f = 0; f < whole; f += LANES) {
            /* Bits 0-3 and 4-7: whether each input of the two groups is not zero (NaN is not). */
            const unsigned nonzero = (unsigned)_mm256_movemask_ps(
                _mm256_cmp_ps(_mm256_loadu_ps(inputs + f), _mm256_setzero_ps(), _CMP_NEQ_UQ));
            const size_t first = f / GROUP_ROWS;
            masks[first] |= (uint64_t)((nonzero & 0x0Fu) != 0) << e;
            masks[first + 1] |= (uint64_t)((nonzero & 0xF0u) != 0) << e;
        }
        for (size_t f = whole; f < count; ++f)
            masks[f / GROUP_ROWS] |= (uint64_t)(inputs[f] != 0.0f) << e;
    }
}

#else /* not x86-64 with GCC or clang: the callers never get here */

void dense_group_scatter_avx2(float *sums, const float *x, size_t features, const float *kernel, size_t units,
                              uint64_t mask, int rows, size_t width) {
    (void)sums, (void)x, (void)features, (void)kernel, (void)units, (void)mask, (void)rows, (void)width;
}

void dense_group_masks_avx2(uint64_t *restrict masks, const float *restrict x, size_t features, size_t count,
                            size_t examples) {
    (void)masks, (void)x, (void)features, (void)count, (void)examples;
}

void dense_unit_block_avx2(float *out, const float *x, const float *kernel, size_t units, const uint16_t *nonzero,
                           size_t count, size_t width) {
    (void)out, (void)x, (void)kernel, (void)units, (void)nonzero, (void)count, (void)width;
}

void dense_group_block_avx2(float *dkernel, const float *x, size_t features, const float *block_rows, size_t units,
                            const uint64_t *masks, size_t masks_count, int rows, size_t width, bool accumulate) {
    (void)dkernel, (void)x, (void)features, (void)block_rows, (void)units, (void)masks, (void)masks_count;
    (void)rows, (void)width, (void)accumulate;
}

#endif
