/* Internal to libtdlrt: the transposes of the libxsmm kernels' operands
 * (conv_xsmm.c's dy rows and kernel, dense_xsmm.c's input gradient), in
 * blocks of 16 x 16.
 *
 * transpose_block_matrix(out, out_stride, in, in_stride, rows, columns, add):
 * `in` is (rows x columns), row stride in_stride; out (columns x rows, row
 * stride out_stride) gets out[c][r] = in[r][c], or += with `add`.
 *
 * On a CPU with AVX-512 each whole 16 x 16 block goes through the
 * registers: 16 row loads, 64 shuffles, 16 row stores (or adds). The ragged
 * edges, and every block on other CPUs, take an element loop, which GCC
 * does not turn into shuffles (each output row of a block gathers 16 floats
 * a row of `in` apart). Either way each value is moved, or added once, so
 * the bits are the same. One element at a time, a write a whole row apart
 * each time, the transposes took 4.7% of mnist_convnet's training step on
 * one thread; in blocks through the element loop 3.2%, through the
 * registers 0.4% (`perf record`, 2026-12-03). */
#ifndef TDL_TRANSPOSE_BLOCK_H
#define TDL_TRANSPOSE_BLOCK_H

#include <stdbool.h>
#include <stddef.h>

enum { TRANSPOSE_BLOCK = 16 };

/* The loop for the block at (r0, c0) of up to 16 x 16. */
static inline void transpose_block_scalar(float *restrict out, size_t out_stride, const float *restrict in,
                                          size_t in_stride, size_t r0, size_t r1, size_t c0, size_t c1,
                                          bool add) {
    for (size_t column = c0; column < c1; ++column) {
        float *restrict to = out + column * out_stride;
        if (add)
            for (size_t row = r0; row < r1; ++row) to[row] += in[row * in_stride + column];
        else
            for (size_t row = r0; row < r1; ++row) to[row] = in[row * in_stride + column];
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* rows[r][c] -> rows[c][r] for a 16 x 16 block held in registers: pairs of
 * floats, then pairs of float pairs, then 128-bit quarters, twice (64
 * shuffles). Also conv_lanes_pool.c's way out of its registers. */
static inline __attribute__((always_inline, target("avx512f"))) void transpose_16x16_registers(__m512 rows[16]) {
    __m512 a[TRANSPOSE_BLOCK], b[TRANSPOSE_BLOCK];
    for (int i = 0; i < TRANSPOSE_BLOCK; i += 2) {
        a[i] = _mm512_unpacklo_ps(rows[i], rows[i + 1]);
        a[i + 1] = _mm512_unpackhi_ps(rows[i], rows[i + 1]);
    }
    /* b[4g + k], quarter q: column 4q + k of rows 4g..4g+3. */
    for (int g = 0; g < TRANSPOSE_BLOCK; g += 4) {
        b[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[g]), _mm512_castps_pd(a[g + 2])));
        b[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[g]), _mm512_castps_pd(a[g + 2])));
        b[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(_mm512_castps_pd(a[g + 1]), _mm512_castps_pd(a[g + 3])));
        b[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(_mm512_castps_pd(a[g + 1]), _mm512_castps_pd(a[g + 3])));
    }
    /* Column 4q + k gathers quarter q of b[k], b[4 + k], b[8 + k], b[12 + k]. */
    for (int k = 0; k < 4; ++k) {
        const __m512 low_top = _mm512_shuffle_f32x4(b[k], b[4 + k], 0x44);
        const __m512 high_top = _mm512_shuffle_f32x4(b[k], b[4 + k], 0xee);
        const __m512 low_bottom = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0x44);
        const __m512 high_bottom = _mm512_shuffle_f32x4(b[8 + k], b[12 + k], 0xee);
        rows[k] = _mm512_shuffle_f32x4(low_top, low_bottom, 0x88);
        rows[4 + k] = _mm512_shuffle_f32x4(low_top, low_bottom, 0xdd);
        rows[8 + k] = _mm512_shuffle_f32x4(high_top, high_bottom, 0x88);
        rows[12 + k] = _mm512_shuffle_f32x4(high_top, high_bottom, 0xdd);
    }
}

/* A whole block at (r0, c0): 16 row loads, the transpose, 16 row stores or adds. */
__attribute__((target("avx512f"))) static inline void transpose_block_avx512(float *restrict out,
                                                                             size_t out_stride,
                                                                             const float *restrict in,
                                                                             size_t in_stride, size_t r0,
                                                                             size_t c0, bool add) {
    __m512 v[TRANSPOSE_BLOCK];
    for (int i = 0; i < TRANSPOSE_BLOCK; ++i) v[i] = _mm512_loadu_ps(in + (r0 + (size_t)i) * in_stride + c0);
    transpose_16x16_registers(v);
    for (int j = 0; j < TRANSPOSE_BLOCK; ++j) {
        float *to = out + (c0 + (size_t)j) * out_stride + r0;
        _mm512_storeu_ps(to, add ? _mm512_add_ps(_mm512_loadu_ps(to), v[j]) : v[j]);
    }
}

#define TRANSPOSE_BLOCK_AVX512 1
#else
#define TRANSPOSE_BLOCK_AVX512 0
#endif

static inline void transpose_block_matrix(float *restrict out, size_t out_stride, const float *restrict in,
                                          size_t in_stride, size_t rows, size_t columns, bool add) {
#if TRANSPOSE_BLOCK_AVX512
    const bool vector = __builtin_cpu_supports("avx512f");
#endif
    for (size_t c0 = 0; c0 < columns; c0 += TRANSPOSE_BLOCK) {
        const size_t c1 = columns - c0 < TRANSPOSE_BLOCK ? columns : c0 + TRANSPOSE_BLOCK;
        for (size_t r0 = 0; r0 < rows; r0 += TRANSPOSE_BLOCK) {
            const size_t r1 = rows - r0 < TRANSPOSE_BLOCK ? rows : r0 + TRANSPOSE_BLOCK;
#if TRANSPOSE_BLOCK_AVX512
            if (vector && r1 - r0 == TRANSPOSE_BLOCK && c1 - c0 == TRANSPOSE_BLOCK) {
                transpose_block_avx512(out, out_stride, in, in_stride, r0, c0, add);
                continue;
            }
#endif
            transpose_block_scalar(out, out_stride, in, in_stride, r0, r1, c0, c1, add);
        }
    }
}

#endif /* TDL_TRANSPOSE_BLOCK_H */
