/* Internal to libtdlrt: the input transform of Winograd's F(2x2, 3x3),
 * which the forward and input gradient (conv_winograd.c) and the kernel's
 * gradient (conv_winograd_filter.c) share: V = B^T d B for a 4x4 patch,
 * WINO_CHUNK channels at a time, vectorised along the channels (NHWC keeps a
 * pixel's channels contiguous), and where a patch's pixels are.
 *
 * WINO_POSITIONS: the 4x4 transformed positions, one GEMM each.
 * WINO_CHUNK: channels moved through a transform at once (one AVX-512
 * register; the locals of a chunk are what the vectoriser works on). */
#ifndef TDL_CONV_WINOGRAD_PATCH_H
#define TDL_CONV_WINOGRAD_PATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "avx2_forms.h"
#include "vector.h"

enum { WINO_POSITIONS = 16, WINO_CHUNK = 16 };

/* V[e][tile][c] for channels [c0, c0 + n) of one patch: V = B^T d B with
 * B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]. patch[e] is where
 * the channels of patch pixel e start (inside `x`); v the tile's row of
 * position 0, positions `plane` floats apart. */
static inline __attribute__((always_inline)) void transform_patch_chunk(float *restrict v, size_t plane, const float *restrict x,
                                                    const size_t patch[WINO_POSITIONS], size_t c0, size_t n) {
    float d[WINO_POSITIONS][WINO_CHUNK], t[4][4][WINO_CHUNK];
    for (size_t e = 0; e < WINO_POSITIONS; ++e)
        for (size_t i = 0; i < n; ++i) d[e][i] = x[patch[e] + c0 + i];
    for (size_t col = 0; col < 4; ++col) {
        for (size_t i = 0; i < n; ++i) {
            const float d0 = d[col][i], d1 = d[4 + col][i], d2 = d[8 + col][i], d3 = d[12 + col][i];
            t[0][col][i] = d0 - d2;
            t[1][col][i] = d1 + d2;
            t[2][col][i] = d2 - d1;
            t[3][col][i] = d1 - d3;
        }
    }
    for (size_t row = 0; row < 4; ++row) {
        float *out = v + row * 4 * plane + c0;
        for (size_t i = 0; i < n; ++i) {
            const float t0 = t[row][0][i], t1 = t[row][1][i], t2 = t[row][2][i], t3 = t[row][3][i];
            out[i] = t0 - t2;
            out[plane + i] = t1 + t2;
            out[2 * plane + i] = t2 - t1;
            out[3 * plane + i] = t1 - t3;
        }
    }
}

/* The vector transforms (conv_winograd_vector.h): transform_patch_vector16
 * and transform_output_vector16 for a chunk, on GCC's vector type, one
 * variable per row of the chunk, which the compiler keeps in registers where
 * the local arrays of the chunk functions go through the stack; and the
 * same ending in 8 for half a chunk, for AVX2. */
#define WINO_VECTOR tdl_vector16
#define WINO_VECTOR_MASK tdl_lanes16
#define WINO_VECTOR_NAME(name) name##16
#include "conv_winograd_vector.h"
#define WINO_VECTOR tdl_vector8
#define WINO_VECTOR_MASK tdl_lanes8
#define WINO_VECTOR_NAME(name) name##8
#include "conv_winograd_vector.h"

/* Whether the transforms take their AVX2 forms (the 8-lane vectors): on a
 * CPU with AVX2 but not AVX-512, or where a test prefers them
 * (avx2_forms.h); x86-64 with GCC or clang. */
#if defined(__x86_64__) && defined(__GNUC__)
#define WINO_HALVES 1
static inline bool winograd_halves(void) { return tdl_avx2_forms(); }
#else
#define WINO_HALVES 0
#endif

/* Every channel of one patch into V's column v (patch[e]: where pixel e's
 * channels start in x): whole chunks on vectors, then the ragged tail. */
TDL_VECTOR_CLONES static void transform_patch_wide(float *restrict v, size_t plane, const float *restrict x,
                                                   const size_t patch[WINO_POSITIONS], size_t channels) {
    size_t c0 = 0;
    for (; c0 + WINO_CHUNK <= channels; c0 += WINO_CHUNK) transform_patch_vector16(v, plane, x, patch, c0);
    if (c0 < channels) transform_patch_chunk(v, plane, x, patch, c0, channels - c0);
}

#if WINO_HALVES
/* The same on AVX2: the same sums, half a chunk a vector. */
__attribute__((target("avx2"))) static void transform_patch_halves(float *restrict v, size_t plane,
                                                                   const float *restrict x,
                                                                   const size_t patch[WINO_POSITIONS],
                                                                   size_t channels) {
    size_t c0 = 0;
    for (; c0 + WINO_CHUNK / 2 <= channels; c0 += WINO_CHUNK / 2) transform_patch_vector8(v, plane, x, patch, c0);
    if (c0 < channels) transform_patch_chunk(v, plane, x, patch, c0, channels - c0);
}
#endif

static inline void winograd_transform_patch(float *restrict v, size_t plane, const float *restrict x,
                                            const size_t patch[WINO_POSITIONS], size_t channels) {
#if WINO_HALVES
    if (winograd_halves()) {
        transform_patch_halves(v, plane, x, patch, channels);
        return;
    }
#endif
    transform_patch_wide(v, plane, x, patch, channels);
}

/* Where the 16 pixels of the 4x4 patch whose top left is (row0, col0)
 * (padding counted: negative at a top or left border) keep their channels
 * in image x_image (HWC, `channels` a pixel): patch[e] from the returned
 * pointer. A patch inside the input is read in place; one that leaves it
 * is gathered into patch_copy (16 x channels floats), zeros outside. */
static inline const float *winograd_patch(size_t patch[WINO_POSITIONS], float *patch_copy, const float *x_image,
                                          int in_h, int in_w, size_t channels, int row0, int col0) {
    if (row0 >= 0 && col0 >= 0 && row0 + 4 <= in_h && col0 + 4 <= in_w) {
        for (int e = 0; e < WINO_POSITIONS; ++e)
            patch[e] = ((size_t)(row0 + e / 4) * (size_t)in_w + (size_t)(col0 + e % 4)) * channels;
        return x_image;
    }
    for (int e = 0; e < WINO_POSITIONS; ++e) {
        const int r = row0 + e / 4, q = col0 + e % 4;
        float *to = patch_copy + (size_t)e * channels;
        if (r < 0 || q < 0 || r >= in_h || q >= in_w)
            memset(to, 0, channels * sizeof *to);
        else
            memcpy(to, x_image + ((size_t)r * (size_t)in_w + (size_t)q) * channels, channels * sizeof *to);
        patch[e] = (size_t)e * channels;
    }
    return patch_copy;
}

#endif /* TDL_CONV_WINOGRAD_PATCH_H */
