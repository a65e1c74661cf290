/* conv2d followed by max_pool2d as one step, forward (the backward is
 * conv_pool_backward.c).
 *
 * The batch is run in chunks of a few images, and each chunk's
 * convolution output is pooled right after it is written, while it is still
 * in the core's caches, instead of after the whole batch has gone through
 * memory. With several threads each runs its chunks alone (the kernels see
 * they are inside the team and stay on one thread), so no thread waits for
 * another between the two halves; the chunks are pieces handed out as the
 * threads free up (below).
 * Both halves are the ordinary kernels, so the results are theirs: bit for
 * bit on the libxsmm and few-channel paths, whose results for an image do
 * not depend on the batch around it; on the BLAS path the GEMMs of a
 * smaller batch may round differently (and so may differ between thread
 * counts). A first layer that conv_lanes.c takes, followed by 2x2 windows
 * at stride 2 that cover its output, runs instead as one kernel
 * (conv_lanes_pool.c) with the same bits, pooled (and its argmax found) in
 * the registers that hold the sums. When y is only scratch (the _pooled entry
 * points), each thread's chunks reuse the part of y of its first chunk, so
 * the unpooled values stay in cache instead of going to memory.
 *
 * On several threads the images go out in pieces (conv_piece_images,
 * tdl_team_pieces): each thread starts on its own share, and one that runs
 * out takes the rest of the other's, so a core slower for a while does not
 * hold the call up. The pieces are fixed by the batch and the thread count
 * and an image's results are its own, so which thread made them changes
 * nothing. */
#include <stdint.h>

#include "conv_internal.h"
#include "team.h"
#include "vector.h"
#include "tdl/runtime.h"
#include "warm.h"

/* About the part of L2 one core's chunk of convolution output may fill. */
#define CONV_POOL_CHUNK_BYTES (256.0 * 1024.0)

/* One call's tensors, cut into chunks of `chunk` images. */
typedef struct chunked_forward {
    float *pooled, *y, *workspace;
    int32_t *argmax;
    const float *x, *kernel, *bias;
    const tdl_conv2d_desc *conv;
    const tdl_pool2d_desc *pool;
    int batch, chunk;
    size_t x_image, y_image, p_image, chunk_workspace;   /* floats */
    bool y_scratch;   /* y is scratch: a thread's chunks all use its first chunk's part */
    int argmax_width; /* the full output's width, when only its covered part is computed */
    tdl_team_pieces pieces; /* with several threads: pieces of at most `chunk` images */
} chunked_forward;

/* The pool ran over the covered part of the output, `pool->in_w` columns
 * wide, so each index h * in_w + w counts rows of that width; the caller's
 * indices count rows of `width` (the whole output's). Window (oh, ow)
 * starts on row oh * stride_h, and its maximum lies on one of the pool_h
 * rows from there: which one is found by comparisons, not by a division.
 * Unpadded pools only (conv_pool_covered), so there is no index -1 of a
 * window in the padding. */
static inline void widen_window(int32_t *restrict argmax, size_t channels, int32_t top, int32_t covered,
                                int32_t extra, int32_t rows) {
    for (size_t c = 0; c < channels; ++c) {
        const int32_t index = argmax[c];
        int32_t row = top;
        for (int32_t k = 1; k < rows; ++k) row += index >= (top + k) * covered;
        argmax[c] = index + row * extra;
    }
}

TDL_VECTOR_CLONES static void widen_argmax_rows(int32_t *restrict argmax, const tdl_pool2d_desc *pool, int width,
                                                int images) {
    const int32_t covered = pool->in_w, extra = width - covered, rows = pool->pool_h;
    const int32_t out_h = pool->out_h, out_w = pool->out_w, stride = pool->stride_h;
    const size_t channels = (size_t)pool->channels;
    for (int b = 0; b < images; ++b) {
        for (int32_t oh = 0; oh < out_h; ++oh) {
            const int32_t top = oh * stride;
            for (int32_t ow = 0; ow < out_w; ++ow, argmax += channels) {
                /* A constant number of rows lets the channels' loop be vector code. */
                if (rows == 2)
                    widen_window(argmax, channels, top, covered, extra, 2);
                else
                    widen_window(argmax, channels, top, covered, extra, rows);
            }
        }
    }
}

/* Images [b, b + n): their convolution, then their pooling, each on the
 * calling thread's share of the team (the whole team when called outside it).
 * `first` is the first image of the caller's share. */
static void run_chunk(const chunked_forward *j, int first, int b, int n, float *workspace) {
    float *y_chunk = j->y + (size_t)(j->y_scratch ? first : b) * j->y_image;
    const size_t at = (size_t)b * j->p_image;
    const float *x_chunk = j->x + (size_t)b * j->x_image;
    /* A first layer's images come fresh from the caller's data set. */
    warm_for_reading(x_chunk, (size_t)n * j->x_image * sizeof *x_chunk);
    tdl_conv2d_forward(y_chunk, x_chunk, j->kernel, j->bias, j->conv, n, workspace);
    if (j->argmax != NULL) {
        tdl_max_pool2d_forward_argmax(j->pooled + at, j->argmax + at, y_chunk, j->pool, n);
        if (j->argmax_width != j->pool->in_w) widen_argmax_rows(j->argmax + at, j->pool, j->argmax_width, n);
    } else
        tdl_max_pool2d_forward(j->pooled + at, y_chunk, j->pool, n);
}

/* Thread t's pieces, each one chunk, with its own part of the workspace
 * and, when y is scratch, of y: the part at the start of its own share,
 * which holds a chunk. */
static void piece_share(void *context, int t, int threads) {
    chunked_forward *j = context;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    float *workspace = j->workspace != NULL ? j->workspace + (size_t)t * j->chunk_workspace : NULL;
    const int first = (int)b;
    while (tdl_team_pieces_next(&j->pieces, t, &b, &end)) run_chunk(j, first, (int)b, (int)(end - b), workspace);
}

/* The part of the convolution's output that an unpadded pool's windows
 * read: an odd output under a 2x2 pool (mnist_convnet's 11x11) has a last
 * row and column that none reads. Fills covered_conv / covered_pool with a
 * convolution of only the rows and columns [0, covered) and the pool over
 * it, and says whether that is smaller. */
bool conv_pool_covered(const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool, tdl_conv2d_desc *covered_conv,
                       tdl_pool2d_desc *covered_pool) {
    /* Grouped layers remake their groups' descriptors from the input's size. */
    if (conv_groups(conv) > 1 || pool->pad_top != 0 || pool->pad_left != 0) return false;
    const int64_t rows = (int64_t)(pool->out_h - 1) * pool->stride_h + pool->pool_h;
    const int64_t cols = (int64_t)(pool->out_w - 1) * pool->stride_w + pool->pool_w;
    if (rows > conv->out_h || cols > conv->out_w || (rows == conv->out_h && cols == conv->out_w)) return false;
    *covered_conv = *conv;
    covered_conv->out_h = (int)rows;
    covered_conv->out_w = (int)cols;
    *covered_pool = *pool;
    covered_pool->in_h = (int)rows;
    covered_pool->in_w = (int)cols;
    return true;
}

/* conv_pool_covered, when the smaller convolution also runs in the
 * workspace sized for the whole output. */
static bool pool_covers_less(const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool, int batch,
                             tdl_conv2d_desc *covered_conv, tdl_pool2d_desc *covered_pool) {
    return conv_pool_covered(conv, pool, covered_conv, covered_pool) &&
           tdl_conv2d_forward_workspace_size(covered_conv, batch) <= tdl_conv2d_forward_workspace_size(conv, batch) &&
           conv_forward_scratch_alone(covered_conv, batch) <= conv_forward_scratch_alone(conv, batch);
}

/* The step, with y an output (y_wanted) or scratch whose contents do not
 * matter afterwards. */
static void conv_max_pool_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                  const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                  int batch, float *workspace, bool y_wanted) {
    if (conv == NULL || pool == NULL || batch <= 0 || pooled == NULL || y == NULL || x == NULL ||
        kernel == NULL || (workspace == NULL && tdl_conv2d_forward_workspace_size(conv, batch) > 0))
        return;
    /* The pool must read exactly the convolution's output. */
    if (pool->in_h != conv->out_h || pool->in_w != conv->out_w || pool->channels != conv->out_c) return;
    /* First layers with 2x2 windows: one kernel (see the top). */
    if (conv_lanes_max_pool_forward(pooled, argmax, y_wanted ? y : NULL, x, kernel, bias, conv, pool, batch,
                                    workspace))
        return;
    /* When y is scratch only what the windows read is computed; argmax then
     * still counts pixels of the whole output (widen_argmax_rows), which is
     * what the backward scatters into. mnist_convnet's second layer at
     * batch 32, one thread, training form: 874 -> 610 us. */
    tdl_conv2d_desc covered_conv;
    tdl_pool2d_desc covered_pool;
    const int argmax_width = pool->in_w;
    const bool indices_fit = (int64_t)pool->in_h * pool->in_w <= INT32_MAX;
    if (!y_wanted && (argmax == NULL || indices_fit) &&
        pool_covers_less(conv, pool, batch, &covered_conv, &covered_pool)) {
        conv = &covered_conv;
        pool = &covered_pool;
    }
    chunked_forward job = {pooled, y, workspace, argmax, x, kernel, bias, conv, pool, batch, 0,
                           (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c,
                           (size_t)conv->out_h * (size_t)conv->out_w * (size_t)conv->out_c,
                           (size_t)pool->out_h * (size_t)pool->out_w * (size_t)pool->channels, 0, !y_wanted,
                           argmax_width, {0}};
    const double chunk = CONV_POOL_CHUNK_BYTES / ((double)job.y_image * sizeof(float));
    job.chunk = chunk < 1.0 ? 1 : chunk > (double)batch ? batch : (int)chunk;
    int threads = tdl_team_threads();
    if (threads > batch) threads = batch;
    /* Each thread has its own part of the workspace, which a workspace sized
     * for `batch` must hold. Pieces of at most a chunk need no more than
     * whole chunks did. LeNet-5's second layer on two threads, against
     * equal shares (three processes that each switched between the two from
     * step to step): 77-101 -> 72-95 us at batch 32, 367-416 -> 331-359 at
     * batch 128. */
    const int piece = threads > 1 ? conv_piece_images(batch, threads, job.chunk) : job.chunk;
    const size_t alone = conv_forward_scratch_alone(conv, piece);
    job.chunk_workspace = alone;
    if (threads > 1 && alone != SIZE_MAX &&
        (double)threads * (double)alone <= (double)tdl_conv2d_forward_workspace_size(conv, batch) &&
        tdl_team_pieces_init(&job.pieces, (size_t)batch, (size_t)piece, threads)) {
        job.chunk = piece;
        tdl_team_run(threads, piece_share, &job);
        return;
    }
    if (threads > 1) {
        /* Otherwise a chunk of a few images is too little work to split over
         * the team (bench/run, mnist_convnet forward at batch 128 on 2
         * threads: 5.07 ms chunked against 4.20 ms for the two kernels
         * apart): the whole batch is one chunk and each kernel has the team. */
        run_chunk(&job, 0, 0, batch, workspace);
        return;
    }
    /* A workspace sized for `batch` serves every smaller batch (docs/runtime.md). */
    for (int b = 0; b < batch; b += job.chunk)
        run_chunk(&job, 0, b, batch - b < job.chunk ? batch - b : job.chunk, workspace);
}

/* x: (B,H,W,C), kernel: (KH,KW,C,F), bias: (F) or NULL
 *   -> y: (B,OH,OW,F) = f(conv(x) + bias), pooled: (B,PH,PW,F) = max_pool(y),
 *      argmax: (B,PH,PW,F) or NULL (as tdl_max_pool2d_forward_argmax) */
void tdl_conv2d_max_pool2d_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                   const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                   int batch, float *workspace) {
    conv_max_pool_forward(pooled, argmax, y, x, kernel, bias, conv, pool, batch, workspace, true);
}

/* The same without argmax, y: (B,OH,OW,F) of scratch. */
void tdl_conv2d_max_pool2d_forward_pooled(float *pooled, float *y_scratch, const float *x, const float *kernel,
                                          const float *bias, const tdl_conv2d_desc *conv,
                                          const tdl_pool2d_desc *pool, int batch, float *workspace) {
    conv_max_pool_forward(pooled, NULL, y_scratch, x, kernel, bias, conv, pool, batch, workspace, false);
}

/* With argmax (NULL allowed), y of scratch. */
void tdl_conv2d_max_pool2d_forward_argmax_pooled(float *pooled, int32_t *argmax, float *y_scratch, const float *x,
                                                 const float *kernel, const float *bias,
                                                 const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                                 int batch, float *workspace) {
    conv_max_pool_forward(pooled, argmax, y_scratch, x, kernel, bias, conv, pool, batch, workspace, false);
}
