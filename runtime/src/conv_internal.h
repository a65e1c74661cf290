/* Internal to libtdlrt: what conv.c (descriptors, entry points, the choice of
 * path) shares with the ways of computing a convolution:
 *   conv_gemm.c  the general path: im2col + tdl_sgemm (OpenBLAS), which runs
 *                anywhere, after offering layers with few channels to
 *                conv_narrow.c (direct loops along whole output rows); in
 *                the portable build portable/conv_direct.c, a direct
 *                convolution without scratch, is the general path;
 *   conv_xsmm.c  direct convolution on libxsmm batch-reduce GEMMs, when
 *                libxsmm was found at configure time and can JIT here
 *                (conv_xsmm_few.c: the gradients of layers with few channels);
 *   conv_winograd.c  3x3 stride-1 layers with 32+ channels and filters:
 *                forward, and the input's gradient of 'same' ones, as
 *                Winograd F(2x2, 3x3) on libxsmm GEMMs; their kernel's
 *                gradient in conv_winograd_filter.c.
 * Each path's scratch comes after the pre-activation gradient that
 * tdl_conv2d_backward keeps at the start of the workspace. */
#ifndef TDL_CONV_INTERNAL_H
#define TDL_CONV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "tdl/runtime.h"

/* Rows of the implicit GEMM: one per output pixel of the batch. */
static inline size_t conv_output_pixels(const tdl_conv2d_desc *d, int batch) {
    return (size_t)batch * (size_t)d->out_h * (size_t)d->out_w;
}

/* One kernel's worth of input values: KH*KW*C. */
static inline size_t conv_patch_size(const tdl_conv2d_desc *d) {
    return (size_t)d->kernel_h * (size_t)d->kernel_w * (size_t)d->in_c;
}

/* The number of groups; 0 (a descriptor written without the field) is 1. */
static inline int conv_groups(const tdl_conv2d_desc *d) {
    return d->groups > 1 ? d->groups : 1;
}

/* One group per input channel: the depthwise convolution's direct loops. */
static inline bool conv_is_depthwise(const tdl_conv2d_desc *d) {
    return conv_groups(d) > 1 && conv_groups(d) == d->in_c;
}

/* Whether the kernels' arguments describe something they can run on. */
static inline bool conv_args_usable(const tdl_conv2d_desc *d, int batch) {
    return d != NULL && batch > 0 && d->out_h > 0 && d->out_w > 0 && d->in_c > 0 && d->out_c > 0 &&
           d->kernel_h > 0 && d->kernel_w > 0 && d->groups >= 0 && d->in_c % conv_groups(d) == 0 &&
           d->out_c % conv_groups(d) == 0;
}

/* How a backward pass makes the pre-activation gradient of a chunk of images
 * and their bias sums, for conv_backward_in_chunks (conv_backward_chunks.c). */
typedef struct conv_chunk_source {
    /* dz of images [first, first + n): written at the start of `space`
     * (room for n images) or found in place; returned. */
    const float *(*gradient)(const void *context, size_t first, size_t n, float *space);
    /* sums (F) += the bias gradient of one image; image_dz is its dz, NULL
     * when no kernel needs dz and bias_reads_gradient is false. */
    void (*add_image_bias)(const void *context, size_t image, const float *image_dz, float *sums);
    bool bias_reads_gradient;
    /* The whole batch as one call split over the team where the input's
     * gradient is a Winograd one (which transforms the kernel in every
     * call): on two threads vgg_small's unfused 8x8x64 -> 128 layer took
     * 7.4 ms so against 8.4 in shares of the threads, while its fused
     * 16x16x64 -> 64 + pool took 12.2 ms in shares against 14.6 so. */
    bool winograd_whole_batch;
    const void *context;
} conv_chunk_source;

/* dx (+=), dkernel (+=), dbias (+=) of a convolution from the chunks'
 * gradients, each NULL when not wanted: the batch in chunks that stay in
 * cache, on one thread or on each thread's own images (see the file). */
void conv_backward_in_chunks(float *dx, float *dkernel, float *dbias, const float *x, const float *kernel,
                             const tdl_conv2d_desc *conv, int batch, float *workspace,
                             const conv_chunk_source *source);

/* The workspace one backward call on `batch` images needs on one thread
 * (tdl_conv2d_workspace_size without room for threads' regions). */
size_t conv_workspace_for_call(const tdl_conv2d_desc *d, int batch);

/* Room for two threads' regions of conv_backward_in_chunks at `batch`, each
 * with a call on all its images (0 where there are none). */
size_t conv_backward_regions_size(const tdl_conv2d_desc *conv, int batch);

/* The images of one piece when a call's batch is handed out in pieces as
 * threads free up (tdl_team_pieces), at most `chunk` (threads <= batch): about
 * CONV_PIECES_PER_THREAD pieces a thread, so that a core slower for a while
 * takes fewer, but at least CONV_PIECE_MIN_IMAGES images each, as smaller
 * calls repeat a call's fixed costs. Measured on two threads, each call
 * timed in one process that switched from step to step (docs/performance.md,
 * "Where a two-thread step waits, measured inside one process"): pieces of 4
 * images made LeNet-5's convolutions' backward at batch 32 2-6% slower than
 * halves, pieces of 8 by about 1%. */
enum { CONV_PIECES_PER_THREAD = 4, CONV_PIECE_MIN_IMAGES = 8 };
static inline int conv_piece_images(int batch, int threads, int chunk) {
    /* The smallest thread's share: a thread's own region of scratch, which
     * starts where its share does, holds a piece. */
    const int share = batch / threads;
    int images = share / CONV_PIECES_PER_THREAD + (share % CONV_PIECES_PER_THREAD != 0);
    if (images < CONV_PIECE_MIN_IMAGES) images = CONV_PIECE_MIN_IMAGES;
    if (images > share) images = share;
    if (images > chunk) images = chunk;
    return images < 1 ? 1 : images;
}

/* sums (f) += the column sums of values (rows, f), each column in row
 * order; with relu_outputs, only where they are > 0. The order depends on
 * the shape alone. */
void conv_add_row_sums(float *sums, const float *values, const float *relu_outputs, size_t rows, size_t f);

/* The convolution and pool over only the rows and columns of the
 * convolution's output that an unpadded pool's windows read, when that
 * leaves some out (conv_pool.c). Both halves of the fused conv + max-pool
 * step run on it; their argmax still counts the whole output's pixels. */
bool conv_pool_covered(const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool, tdl_conv2d_desc *covered_conv,
                       tdl_pool2d_desc *covered_pool);

/* Floats of scratch tdl_conv2d_forward of `batch` images uses when it runs
 * on one thread, whichever path takes it; SIZE_MAX for grouped layers,
 * whose kernels do not say. */
size_t conv_forward_scratch_alone(const tdl_conv2d_desc *d, int batch);

/* dy, y: (n) -> dz = dy * f'(pre-activation), f' read from the output y (dz
 * is written, not accumulated; no two of the arrays overlap). */
void conv_activation_gradient(float *restrict dz, const float *restrict dy, const float *restrict y, size_t n,
                              tdl_activation activation, float alpha);
/* y: (n) -> f(y) in place, for the fused activation. */
void conv_activate_in_place(float *restrict y, size_t n, tdl_activation activation, float alpha);
/* y: (rows, f) -> y * scale + shift per channel, in place: an inference
 * batch_norm folded into the output pass. */
void conv_affine_rows(float *restrict y, const float *restrict scale, const float *restrict shift, size_t rows,
                      size_t f);

/* The general path (im2col + sgemm, or the portable direct convolution):
 * floats of scratch, forward, and the two gradients (either of dx and
 * dkernel may be NULL). scale and shift (both or neither NULL):
 * conv_affine_rows after the activation. */
size_t conv_general_scratch_size(const tdl_conv2d_desc *d, int batch);
/* What conv_general_forward of `batch` images uses of it when it runs on one
 * thread (called from inside the team): one part's columns, or one slot of
 * the few-channel kernel, whichever it takes. */
size_t conv_general_forward_scratch_alone(const tdl_conv2d_desc *d, int batch);
void conv_general_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                          const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);
void conv_general_backward(float *dx, float *dkernel, const float *x, const float *kernel, const float *dz,
                           const tdl_conv2d_desc *d, int batch, float *scratch);

/* Few channels and filters (conv_narrow.c, part of the general path of the
 * hosted build): a direct convolution along whole output rows, forward and
 * weight gradient. Each returns false, touching nothing, for a layer it does
 * not suit (then its scratch size is 0) or on the BLAS path. */
size_t conv_narrow_forward_scratch_size(const tdl_conv2d_desc *d, int batch);
size_t conv_narrow_filter_scratch_size(const tdl_conv2d_desc *d, int batch);
/* Forward on one thread: the repeated kernel and one slot. */
size_t conv_narrow_forward_scratch_alone(const tdl_conv2d_desc *d);
bool conv_narrow_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                         const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);
bool conv_narrow_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                 int batch, float *scratch);
/* conv_narrow_backprop_filter's faster loops (conv_lanes_filter.c): stride
 * and dilation 1, C <= 3, F <= 8, KW 3 or 5, AVX-512 or AVX2 with FMA
 * (conv_lanes_filter_available); `threads` slots of
 * slot_floats each in scratch. Returns false, touching nothing, when the
 * layer or the CPU does not suit or a slot is too small. */
bool conv_lanes_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                int batch, float *scratch, size_t slot_floats, int threads);
bool conv_lanes_filter_available(void);

/* First layers with 1-3 channels and at most 8 filters (conv_lanes.c, part
 * of the general path of the hosted build): forward with output pixels in
 * the vector lanes. Returns false, touching nothing, for a layer it does not
 * suit (then its scratch size is 0) or on the BLAS path. */
size_t conv_lanes_forward_scratch_size(const tdl_conv2d_desc *d, int batch);
/* ... and on one thread: one padded copy. */
size_t conv_lanes_forward_scratch_alone(const tdl_conv2d_desc *d);
bool conv_lanes_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                        const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);

/* conv_lanes_forward's layers followed by a 2x2 max pool at stride 2 whose
 * windows tile the output, after relu or no activation (conv_lanes_pool.c):
 * pooled (B,PH,PW,F) straight from the sums, its argmax (B,PH,PW,F) when
 * argmax is not NULL, and y (B,OH,OW,F) as well when y is not NULL (then
 * the windows must cover it exactly). Bit for bit tdl_conv2d_forward then
 * tdl_max_pool2d_forward (_argmax). Returns false, touching
 * nothing, for a layer or pool it does not suit or on the BLAS path; the
 * scratch is conv_lanes_forward's. It runs only where
 * conv_lanes_pool_available(): built for x86-64 by GCC or clang, on a CPU
 * with AVX-512 (the portable build declines every call). */
bool conv_lanes_pool_available(void);
bool conv_lanes_max_pool_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                 const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                 int batch, float *scratch);

/* libxsmm: the same three, each returning false without touching any output
 * when it cannot run (not built in, the path switched off, no JIT for these
 * shapes on this CPU); the caller then takes the gemm path. */
size_t conv_xsmm_scratch_size(const tdl_conv2d_desc *d, int batch);
/* What conv_xsmm_forward alone uses of it: one padded input copy per slot. */
size_t conv_xsmm_forward_scratch_size(const tdl_conv2d_desc *d, int batch);
/* ... and on one thread: one slot. */
size_t conv_xsmm_forward_scratch_alone(const tdl_conv2d_desc *d);
bool conv_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                       const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);
bool conv_xsmm_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                               int batch, float *scratch);
bool conv_xsmm_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                              int batch, float *scratch);

/* The gradients of stride-1 layers with fewer than 16 channels and 16+
 * filters on libxsmm (conv_xsmm_few.c; the input's when KW*C >= 16 too):
 * their scratch (0 for a layer they do not take) and the two gradients,
 * which add to dkernel / dx, or return false touching nothing. */
size_t conv_xsmm_few_scratch_size(const tdl_conv2d_desc *d, int batch);
bool conv_xsmm_few_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                   int batch, float *scratch);
bool conv_xsmm_few_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                                  int batch, float *scratch);

/* Winograd F(2x2, 3x3) (conv_winograd.c): the forward's scratch for a call
 * of `batch` images and for one image on a single thread; the scratch of
 * either pass (forward, input's gradient); and the two passes, which return
 * false, touching nothing, for a layer they do not take (then every size is
 * 0), without libxsmm or on the BLAS path. backprop_input adds to dx. */
size_t conv_winograd_forward_scratch_size(const tdl_conv2d_desc *d, int batch);
size_t conv_winograd_forward_scratch_alone(const tdl_conv2d_desc *d);
size_t conv_winograd_scratch_size(const tdl_conv2d_desc *d, int batch);
bool conv_winograd_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                           const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);
/* Whether conv_winograd_backprop_input takes this layer (on this machine and
 * kernel path): it transforms the kernel once per call, so its callers
 * should not cut the batch into many calls. */
bool conv_winograd_takes_input_gradient(const tdl_conv2d_desc *d);
bool conv_winograd_backprop_input(float *dx, const float *kernel, const float *dy, const tdl_conv2d_desc *d,
                                  int batch, float *scratch);
/* Whether a layer is one that Winograd's F(2x2, 3x3) takes (3x3, stride 1,
 * 32+ channels and filters, sizes that count), wherever it may run. */
bool conv_winograd_suits(const tdl_conv2d_desc *d);

/* The kernel's gradient of those layers (conv_winograd_filter.c): its
 * scratch (0 for a layer it does not take, part of
 * conv_winograd_scratch_size), and the gradient, which adds to dkernel, or
 * returns false touching nothing (as the passes above). */
size_t conv_winograd_filter_scratch_size(const tdl_conv2d_desc *d, int batch);
bool conv_winograd_backprop_filter(float *dkernel, const float *x, const float *dy, const tdl_conv2d_desc *d,
                                   int batch, float *scratch);

/* Grouped convolutions (groups > 1): forward on the workspace, the gradients
 * on the scratch after the pre-activation gradient. Depthwise ones (conv_depthwise.c) run direct loops over the
 * contiguous channels and need no scratch; the others (conv_grouped.c) copy
 * each group's channels out and run the ordinary kernels on them. */
size_t conv_grouped_scratch_size(const tdl_conv2d_desc *d, int batch);
size_t conv_grouped_forward_scratch_size(const tdl_conv2d_desc *d, int batch);
void conv_grouped_forward(float *y, const float *x, const float *kernel, const float *bias,
                          const tdl_conv2d_desc *d, int batch, float *scratch);
void conv_grouped_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                  int batch, float *scratch);
void conv_grouped_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                                 int batch, float *scratch);
void conv_depthwise_forward(float *y, const float *x, const float *kernel, const float *bias,
                            const tdl_conv2d_desc *d, int batch);
void conv_depthwise_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                    int batch);
void conv_depthwise_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                                   int batch);

#endif /* TDL_CONV_INTERNAL_H */
