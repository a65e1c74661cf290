/* Internal to libtdlrt: dense.c's faster path (dense_xsmm.c), libxsmm GEMMs
 * that read the row-major tensors in place. Each returns false, touching
 * nothing, when it cannot run (libxsmm not built in, the BLAS path chosen, a
 * layer narrower than a vector, no kernel generated); dense.c then calls BLAS. */
#ifndef TDL_DENSE_INTERNAL_H
#define TDL_DENSE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "tdl/runtime.h"

/* dense.c's steps that dense_xsmm_backward_owned's owners run too:
 * dpre (count) = dy * f'(y); dbias[begin, end) (+)= the sum of dpre's
 * (B,U) rows over those units, row by row in order (= when !accumulate). */
void dense_pre_activation_gradient(float *dpre, const float *dy, const float *y, const tdl_dense_desc *d,
                                   size_t count);
void dense_bias_gradient(float *dbias, const float *dpre, size_t batch, size_t units, size_t begin, size_t end,
                         bool accumulate);

/* rows (count rows, `stride` floats apart, `units` of each) += bias (may be
 * NULL), then the layer's activation in place: a tile's epilogue. */
void dense_bias_activation_rows(float *rows, size_t count, size_t stride, size_t units, const float *bias,
                                const tdl_dense_desc *d);

/* y (B,U) = activation(x (B,F) * kernel (F,U) + bias), bias may be NULL. */
bool dense_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                        int batch);
/* dense_xsmm_forward of one example through a layer of fewer than 16
 * units (dense_narrow.c); false, touching nothing, for any other. */
bool dense_narrow_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                          int batch);
/* tdl_dense_forward of one example (batch 1) through a layer of 16 units
 * or more, reading only the kernel rows of the inputs that are not zero
 * (dense_zero_inputs.c); false, touching nothing, for any other call. */
bool dense_zero_inputs_forward(float *y, const float *x, const float *kernel, const float *bias,
                               const tdl_dense_desc *d, int batch);
/* The neighbouring inputs the paths that skip zero inputs in a batch take
 * together (dense_zero_inputs_batch.c, dense_zero_inputs_gradient.c): a
 * group is skipped in an example where all of them are zero, and a range
 * of kernel rows split among threads starts at a group. */
enum { DENSE_INPUT_GROUP = 4 };
/* The units of one block of dense_zero_inputs_batch.c's sums and of
 * dense_zero_inputs_gradient.c's copy of dpre; the examples of one mask of
 * dense_group_masks. */
enum { DENSE_ZERO_INPUTS_BLOCK_UNITS = 64, DENSE_MASK_EXAMPLES = 64 };
/* Whether dense_zero_inputs_gradient_rows should compute this batch's
 * kernel gradient: a CPU with AVX-512 on the default kernel path, 128 units
 * or more, and groups of four neighbouring inputs
 * that are all zero in enough of the examples (a sample of the groups;
 * dense_zero_inputs_gradient.c). */
bool dense_zero_inputs_gradient_suits(const float *x, const tdl_dense_desc *d, int batch);
/* The fraction of examples in which a group of four neighbouring inputs
 * has one that is not zero, over a sample of 8 groups spread over the
 * inputs in 32 examples spread over the batch (1 where there is no group);
 * what the two paths that skip groups of zero inputs decide by. */
double dense_input_group_density(const float *x, const tdl_dense_desc *d, int batch);
/* masks[g] = bit e set where one of group g's inputs (x's `count` features
 * from the first, in groups of four, the last group maybe narrower) is not
 * zero in example e of `examples` (at most 64, rows `features` apart); NaN
 * is not zero. Defined for x86-64 (GCC or clang) alone, and called only
 * where the CPU has AVX-512 or tdl_avx2_forms_available(). */
void dense_group_masks(uint64_t *restrict masks, const float *restrict x, size_t features, size_t count,
                       size_t examples);
/* dense_zero_inputs_avx2.c, where tdl_avx2_forms() (avx2_forms.h):
 * dense_group_masks as eight inputs at a time, and the sums of one group
 * of `rows` inputs into the blocks (DENSE_ZERO_INPUTS_BLOCK_UNITS floats
 * an example) of the examples in `mask`, `width` units of the block. */
void dense_group_masks_avx2(uint64_t *restrict masks, const float *restrict x, size_t features, size_t count,
                            size_t examples);
void dense_group_scatter_avx2(float *sums, const float *x, size_t features, const float *kernel, size_t units,
                              uint64_t mask, int rows, size_t width);
/* dense_zero_inputs.c's sums of one example on AVX2: out (width units, at
 * most DENSE_ZERO_INPUTS_BLOCK_UNITS) = the sum over the `count` listed
 * inputs of x[row] * kernel[row][...], kernel at the block's first unit. */
void dense_unit_block_avx2(float *out, const float *x, const float *kernel, size_t units, const uint16_t *nonzero,
                           size_t count, size_t width);
/* dense_zero_inputs_gradient.c's sums of one group of `rows` inputs over
 * `width` units of a block on AVX2: dkernel's rows (`units` floats apart)
 * (+)= over the examples of masks[0..masks_count) (DENSE_MASK_EXAMPLES a
 * mask), in order, x[b][row] * dpre[b], dpre's rows copied in block_rows
 * (DENSE_ZERO_INPUTS_BLOCK_UNITS floats an example). */
void dense_group_block_avx2(float *dkernel, const float *x, size_t features, const float *block_rows, size_t units,
                            const uint64_t *masks, size_t masks_count, int rows, size_t width, bool accumulate);
/* Whether dense_zero_inputs_batch_sums should compute this batch's
 * forward sums: a CPU with AVX-512, or AVX2 with FMA, on the default
 * kernel path, 8 examples
 * or more, 96 units or more, at most 8192 inputs, and groups of four
 * inputs all zero in enough of the examples (dense_zero_inputs_batch.c). */
bool dense_zero_inputs_batch_suits(const float *x, const tdl_dense_desc *d, int batch);
/* What one call of dense_zero_inputs_batch_sums computes: out's rows
 * [example_begin, example_end), its columns [unit_begin, unit_end), summed
 * over inputs [feature_begin, feature_end). */
typedef struct dense_zero_inputs_part {
    size_t example_begin, example_end;
    size_t feature_begin, feature_end; /* feature_begin a multiple of four */
    size_t unit_begin, unit_end;       /* unit_begin a multiple of 64 */
} dense_zero_inputs_part;
/* out (B,U), rows `units` floats apart, over `part` = the sums of x (B,F) *
 * kernel (F,U), each group of four inputs from feature_begin skipping the
 * examples where all four are zero; then, when `epilogue`, + bias (may be
 * NULL) and the activation. Only where dense_zero_inputs_batch_suits said
 * yes. */
void dense_zero_inputs_batch_sums(float *out, const float *x, const float *kernel, const tdl_dense_desc *d,
                                  const dense_zero_inputs_part *part, bool epilogue, const float *bias);
/* tdl_dense_forward of a batch by dense_zero_inputs_batch_sums, the
 * units or the examples split over the team; false, touching nothing,
 * where that does not suit the batch. */
bool dense_zero_inputs_batch_forward(float *y, const float *x, const float *kernel, const float *bias,
                                     const tdl_dense_desc *d, int batch);
/* dkernel rows [begin, end) (+)= x^T (F,B) * dpre (B,U) over those inputs,
 * = when !accumulate, each group of four rows from `begin` skipping the
 * examples where its four inputs are zero. Only where
 * dense_zero_inputs_gradient_suits said yes; `begin` a multiple of four. */
void dense_zero_inputs_gradient_rows(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                     int batch, size_t begin, size_t end, bool accumulate);
/* dense_xsmm_forward with each thread of two summing over the kernel rows
 * it owns (owned_rows.h): in a training step, where those rows stay on its
 * core, and in a model's forward pass, where each core then reads and
 * keeps half of the kernel; workspace: B*U floats. False unless the kernel
 * has exactly two owners. */
bool dense_xsmm_forward_owned(float *y, const float *x, const float *kernel, const float *bias,
                              const tdl_dense_desc *d, int batch, float *workspace);
/* B*U where two threads would own the layer's kernel rows (whatever the
 * team's size now, so that a workspace sized on one thread serves two),
 * SIZE_MAX past size_t, else 0 (also without libxsmm). */
size_t dense_xsmm_owned_forward_scratch(const tdl_dense_desc *d, int batch);

/* dkernel (F,U) += x^T (F,B) * dpre (B,U), or = when !accumulate;
 * scratch as dense_xsmm_backprop_input's, which a narrow layer's gradient
 * uses too (NULL: none). */
bool dense_xsmm_backprop_kernel(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                int batch, bool accumulate, float *scratch);

/* dx (B,F) += dpre (B,U) * kernel^T (U,F), or = when write_dx; scratch
 * holds dense_xsmm_input_gradient_scratch(d, batch) floats (dense.c's
 * workspace after dpre). */
bool dense_xsmm_backprop_input(float *dx, const float *kernel, const float *dpre, const tdl_dense_desc *d, int batch,
                               float *scratch, bool write_dx);

/* Both gradients above in one call of the team, in a model's training step
 * where two or more threads own the kernel's rows (dense.c tries
 * dense_xsmm_backward_owned first, which takes two) and dx is wanted (dkernel
 * as dense_xsmm_backprop_kernel, dx as dense_xsmm_backprop_input, the same
 * bits); false, touching nothing the caller reads, otherwise. */
bool dense_xsmm_backprop_owned(float *dkernel, float *dx, const float *x, const float *kernel, const float *dpre,
                               const tdl_dense_desc *d, int batch, bool accumulate, float *scratch, bool write_dx);

/* A training step's whole backward after dy where two threads own the
 * kernel's rows: dpre = dy * f'(y) made by each owner in a copy of its own,
 * the bias's gradient, then both gradients (dx may be NULL), the bits of
 * dense.c's steps one after the other; false, touching nothing, otherwise.
 * workspace: tdl_dense_workspace_size() floats (dpre, the input gradient's
 * scratch, then dense_xsmm_owned_backward_scratch()). */
bool dense_xsmm_backward_owned(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                               const float *x, const float *kernel, const tdl_dense_desc *d, int batch,
                               bool accumulate, float *workspace, bool write_dx);

/* 2*B*U for the second owner's dpre and dpre^T where the layer's shape can
 * take dense_xsmm_backward_owned, SIZE_MAX past size_t, else 0. */
size_t dense_xsmm_owned_backward_scratch(const tdl_dense_desc *d, int batch);

/* B*(U + F) for dpre^T and dx^T where the layer's shape can take that path
 * (whichever path is chosen now, so that a workspace sized while BLAS was
 * forced serves a later call), SIZE_MAX past size_t, else 0. */
size_t dense_xsmm_input_gradient_scratch(const tdl_dense_desc *d, int batch);

#endif /* TDL_DENSE_INTERNAL_H */
