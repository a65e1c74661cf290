/* A dense layer of fewer units than one vector holds (a classifier's
 * logits, most of all) on a single example, for dense_xsmm.c.
 *
 * libxsmm 1.17's kernel for a product of one column and fewer than 16 rows
 * runs far below its kernels for two or more columns: on an AVX-512 AMD
 * EPYC, 1600 -> 10 took 13,300 TSC cycles for one column and 3,900 for
 * two; 512 -> 10, 4,060 for one; 1600 -> 15, 21,900 (1600 -> 8 and layers of
 * 16 units or more ran at the speed of a second column). That is
 * mnist_convnet's logits layer at batch 1: 5.5 of the 40 us of its forward.
 * Here the sum over input features runs in NARROW_SUMS independent partial
 * sums, each a vector of NARROW_LANES units: 5,200 cycles for 1600 -> 10,
 * 1,700 for 512 -> 10.
 *
 * A row of the kernel (F,U) is U floats, and each partial sum loads
 * NARROW_LANES of them from the start of its row: the lanes past U hold the
 * next row's weights, which are summed and never stored. The last rows,
 * whose load would reach past the kernel, are added one float at a time.
 * The partial sums are added in a fixed order, so the result does not
 * depend on the thread count; it may differ in the last bits from the same
 * example's in a batch, which takes libxsmm's kernels. */
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "dense_internal.h"
#include "vector.h"

#if defined(TDL_HAVE_LIBXSMM) && defined(__GNUC__)

enum { NARROW_LANES = 16, NARROW_SUMS = 8 };

_Static_assert(NARROW_LANES == 16, "a partial sum is one tdl_vector16");

/* y (U) = x (F) * kernel (F,U), U < NARROW_LANES. */
TDL_VECTOR_CLONES static void narrow_product(float *restrict y, const float *restrict x,
                                             const float *restrict kernel, size_t features, size_t units) {
    /* Rows k whose NARROW_LANES floats from k * units lie inside the kernel. */
    const size_t floats = features * units;
    const size_t loadable = floats >= NARROW_LANES ? (floats - NARROW_LANES) / units + 1 : 0;
    tdl_vector16 sums[NARROW_SUMS];
    memset(sums, 0, sizeof sums);
    size_t k = 0;
    for (; k + NARROW_SUMS <= loadable; k += NARROW_SUMS) {
        for (size_t p = 0; p < NARROW_SUMS; ++p) {
            tdl_vector16 row;
            TDL_VECTOR16_LOAD(row, kernel + (k + p) * units);
            sums[p] += x[k + p] * row;
        }
    }
    for (size_t p = 0; k < loadable; ++k, ++p) {
        tdl_vector16 row;
        TDL_VECTOR16_LOAD(row, kernel + k * units);
        sums[p] += x[k] * row;
    }
    const tdl_vector16 total =
        ((sums[0] + sums[1]) + (sums[2] + sums[3])) + ((sums[4] + sums[5]) + (sums[6] + sums[7]));
    float out[NARROW_LANES];
    memcpy(out, &total, sizeof out);
    for (; k < features; ++k)
        for (size_t u = 0; u < units; ++u) out[u] += x[k] * kernel[k * units + u];
    memcpy(y, out, units * sizeof *y);
}

bool dense_narrow_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                          int batch) {
    if (batch != 1 || d->units >= NARROW_LANES) return false;
    const size_t units = (size_t)d->units;
    narrow_product(y, x, kernel, (size_t)d->in_features, units);
    if (bias != NULL)
        for (size_t u = 0; u < units; ++u) y[u] += bias[u];
    tdl_activation_forward(y, y, units, d->activation, d->alpha);
    return true;
}

#else /* no libxsmm: dense_xsmm.c never asks */

bool dense_narrow_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                          int batch) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)d, (void)batch;
    return false;
}

#endif
