/* conv2d followed by max_pool2d as one step.
 *
 * Forward: the batch is run in chunks of a few images, and each chunk's
 * convolution output is pooled right after it is written, while it is still
 * in the core's caches, instead of after the whole batch has gone through
 * memory. With several threads each takes an equal share of the images and
 * runs its chunks alone (the kernels see they are inside the team and stay
 * on one thread), so no thread waits for another between the two halves.
 * Both halves are the ordinary kernels, so the results are theirs: bit for
 * bit on the libxsmm and few-channel paths, whose results for an image do
 * not depend on the batch around it; on the BLAS path the GEMMs of a
 * smaller batch may round differently (and so may differ between thread
 * counts). Without an argmax, a first layer that conv_lanes.c takes,
 * followed by 2x2 windows at stride 2 that cover its output, runs instead
 * as one kernel (conv_lanes_pool.c) with the same bits, pooled in the
 * registers that hold the sums. When y is only scratch (the _pooled entry
 * points), each thread's chunks reuse the part of y of its first chunk, so
 * the unpooled values stay in cache instead of going to memory.
 *
 * Backward: the gradient reaches the convolution's output only at each
 * window's argmax, where the activation's output is the pooled value itself.
 * So the pre-activation gradient is written in one pass per image (zero it,
 * add each window's gradient times the activation's slope at its maximum;
 * where the windows tile the image, write each pixel once), the bias
 * gradient is summed over the pooled values, and the
 * convolution's output is never read: no zeroed copy of the unpooled
 * gradient, no scatter into it, no pass of the activation over it. */
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"
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
} chunked_forward;

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
    if (j->argmax != NULL)
        tdl_max_pool2d_forward_argmax(j->pooled + at, j->argmax + at, y_chunk, j->pool, n);
    else
        tdl_max_pool2d_forward(j->pooled + at, y_chunk, j->pool, n);
}

/* Thread t's share of the images, chunk by chunk, with its own part of the
 * workspace. */
static void chunk_share(void *context, int t, int threads) {
    const chunked_forward *j = context;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    float *workspace = j->workspace != NULL ? j->workspace + (size_t)t * j->chunk_workspace : NULL;
    const int first = (int)b;
    for (; b < end; b += (size_t)j->chunk) {
        const size_t n = end - b < (size_t)j->chunk ? end - b : (size_t)j->chunk;
        run_chunk(j, first, (int)b, (int)n, workspace);
    }
}

/* The part of the convolution's output that an unpadded pool's windows
 * read: an odd output under a 2x2 pool (mnist_convnet's 11x11) has a last
 * row and column that none reads. Fills covered_conv / covered_pool with a
 * convolution of only the rows and columns [0, covered) and the pool over
 * it, and says whether that is smaller and runs in the workspace sized for
 * the whole output. */
static bool pool_covers_less(const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool, int batch,
                             tdl_conv2d_desc *covered_conv, tdl_pool2d_desc *covered_pool) {
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
    return tdl_conv2d_forward_workspace_size(covered_conv, batch) <= tdl_conv2d_forward_workspace_size(conv, batch) &&
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
    if (argmax == NULL &&
        conv_lanes_max_pool_forward(pooled, y_wanted ? y : NULL, x, kernel, bias, conv, pool, batch, workspace))
        return;
    /* When y is scratch only what the windows read is computed. */
    tdl_conv2d_desc covered_conv;
    tdl_pool2d_desc covered_pool;
    if (!y_wanted && argmax == NULL && pool_covers_less(conv, pool, batch, &covered_conv, &covered_pool)) {
        conv = &covered_conv;
        pool = &covered_pool;
    }
    chunked_forward job = {pooled, y, workspace, argmax, x, kernel, bias, conv, pool, batch, 0,
                           (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c,
                           (size_t)conv->out_h * (size_t)conv->out_w * (size_t)conv->out_c,
                           (size_t)pool->out_h * (size_t)pool->out_w * (size_t)pool->channels, 0, !y_wanted};
    const double chunk = CONV_POOL_CHUNK_BYTES / ((double)job.y_image * sizeof(float));
    job.chunk = chunk < 1.0 ? 1 : chunk > (double)batch ? batch : (int)chunk;
    int threads = tdl_team_threads();
    if (threads > batch) threads = batch;
    /* Each thread has its own part of the workspace, which a workspace sized
     * for `batch` must hold. */
    const size_t alone = conv_forward_scratch_alone(conv, job.chunk);
    job.chunk_workspace = alone;
    if (threads > 1 && alone != SIZE_MAX &&
        (double)threads * (double)alone <= (double)tdl_conv2d_forward_workspace_size(conv, batch)) {
        tdl_team_run(threads, chunk_share, &job);
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

/* Channels of one pooled pixel taken through the activation's slope at once. */
enum { SLOPE_BLOCK = 64 };

typedef struct pooled_gradient_job {
    float *dz, *dbias;
    size_t first_image;   /* of the batch, at dz's start */
    const tdl_pool2d_desc *pool;
    const float *dpooled, *pooled;
    const int32_t *argmax;
    size_t channels, y_image;
    size_t pooled_pixels, pooled_rows;   /* per image; in the batch */
    tdl_activation activation;
    float alpha;
} pooled_gradient_job;

/* out (n) = dpooled * f'(pooled), n <= SLOPE_BLOCK: relu and the identity
 * inline (a call per pooled pixel would cost as much as the work), the
 * other activations through the convolution's own pass. */
static inline void slope_times_gradient(float *restrict out, const float *restrict dpooled,
                                        const float *restrict pooled, size_t n, tdl_activation activation,
                                        float alpha) {
    if (activation == TDL_ACTIVATION_RELU) {
        for (size_t i = 0; i < n; ++i) out[i] = pooled[i] > 0.0f ? dpooled[i] : 0.0f;
    } else if (activation == TDL_ACTIVATION_LINEAR) {
        for (size_t i = 0; i < n; ++i) out[i] = dpooled[i];
    } else {
        conv_activation_gradient(out, dpooled, pooled, n, activation, alpha);
    }
}

enum { TILED_MIN_CHANNELS = 16 };

/* Whether every input pixel is in at most one window and every window is
 * whole: then each pixel of dz is written once, without zeroing first. */
static bool windows_tile(const tdl_pool2d_desc *d) {
    return d->stride_h == d->pool_h && d->stride_w == d->pool_w && d->pad_top == 0 && d->pad_left == 0 &&
           (int64_t)d->out_h * d->pool_h <= d->in_h && (int64_t)d->out_w * d->pool_w <= d->in_w &&
           (int64_t)d->in_h * d->in_w <= INT32_MAX;   /* pixel indices are int32, as in the argmax */
}

/* The input rows of pooled row ph of tiling windows, for relu or the
 * identity (relu false): at each pixel of a window, the window's gradient
 * where the pixel is its argmax (and, with relu, the maximum is positive),
 * else 0. dpooled, pooled, argmax: that pooled row; dz: the image. */
TDL_VECTOR_CLONES static void tiled_window_rows(float *restrict dz, const float *restrict dpooled,
                                                const float *restrict pooled, const int32_t *restrict argmax,
                                                const tdl_pool2d_desc *d, int ph, bool relu) {
    const size_t c = (size_t)d->channels;
    for (int dh = 0; dh < d->pool_h; ++dh) {
        const int h = ph * d->stride_h + dh;
        for (int pw = 0; pw < d->out_w; ++pw) {
            const float *restrict g = dpooled + (size_t)pw * c, *restrict v = pooled + (size_t)pw * c;
            const int32_t *restrict where = argmax + (size_t)pw * c;
            for (int dw = 0; dw < d->pool_w; ++dw) {
                const int32_t pixel = h * d->in_w + pw * d->stride_w + dw;
                float *restrict out = dz + (size_t)pixel * c;
                for (size_t ch = 0; ch < c; ++ch)
                    out[ch] = where[ch] == pixel && (!relu || v[ch] > 0.0f) ? g[ch] : 0.0f;
            }
        }
    }
}

/* One image of dz from tiling windows: the windows' rows, then zeros in the
 * pixels no window covers (right columns, bottom rows). */
static void tiled_image(float *dz, const float *dpooled, const float *pooled, const int32_t *argmax,
                        const tdl_pool2d_desc *d, bool relu) {
    const size_t c = (size_t)d->channels, pooled_row = (size_t)d->out_w * c;
    const size_t row_floats = (size_t)d->in_w * c, covered = (size_t)d->out_w * (size_t)d->pool_w * c;
    for (int ph = 0; ph < d->out_h; ++ph) {
        const size_t at = (size_t)ph * pooled_row;
        tiled_window_rows(dz, dpooled + at, pooled + at, argmax + at, d, ph, relu);
        if (covered < row_floats)
            for (int dh = 0; dh < d->pool_h; ++dh) {
                float *row = dz + (size_t)(ph * d->stride_h + dh) * row_floats;
                memset(row + covered, 0, (row_floats - covered) * sizeof *row);
            }
    }
    const size_t rows_covered = (size_t)d->out_h * (size_t)d->pool_h;
    memset(dz + rows_covered * row_floats, 0, ((size_t)d->in_h - rows_covered) * row_floats * sizeof *dz);
}

/* Images [begin, end) of dz (images first_image + begin.. of the batch):
 * zeros, plus dpooled * f'(pooled) at each window's argmax (all-padding
 * windows, argmax -1, add nothing). */
static void scatter_images(void *context, size_t begin, size_t end) {
    const pooled_gradient_job *j = context;
    const size_t c = j->channels, y_pixels = j->y_image / c;
    const bool relu = j->activation == TDL_ACTIVATION_RELU;
    /* Fewer channels than a vector leave the tiled writes mostly scalar:
     * zeroing the image and scattering is faster there. */
    const bool tiled = windows_tile(j->pool) && c >= TILED_MIN_CHANNELS &&
                       (relu || j->activation == TDL_ACTIVATION_LINEAR);
    float share[SLOPE_BLOCK];
    for (size_t b = begin; b < end; ++b) {
        float *dz = j->dz + b * j->y_image;
        const size_t first = (j->first_image + b) * j->pooled_pixels * c;
        if (tiled) {
            tiled_image(dz, j->dpooled + first, j->pooled + first, j->argmax + first, j->pool, relu);
            continue;
        }
        memset(dz, 0, j->y_image * sizeof *dz);
        for (size_t i = 0; i < j->pooled_pixels; ++i)
            for (size_t c0 = 0; c0 < c; c0 += SLOPE_BLOCK) {
                const size_t n = c - c0 < SLOPE_BLOCK ? c - c0 : SLOPE_BLOCK, at = first + i * c + c0;
                slope_times_gradient(share, j->dpooled + at, j->pooled + at, n, j->activation, j->alpha);
                const int32_t *where = j->argmax + at;
                for (size_t ch = 0; ch < n; ++ch)
                    if (where[ch] >= 0 && (size_t)where[ch] < y_pixels) dz[(size_t)where[ch] * c + c0 + ch] += share[ch];
            }
    }
}

/* acc (n) += the sum over rows of dpooled (rows, stride) where pooled > 0
 * (relu) or everywhere, each column in row order; n <= SLOPE_BLOCK. */
TDL_VECTOR_CLONES static void pooled_bias_columns(float *restrict acc, const float *restrict dpooled,
                                                  const float *restrict pooled, size_t rows, size_t stride,
                                                  size_t n, bool relu) {
    for (size_t r = 0; r < rows; ++r) {
        const float *restrict g = dpooled + r * stride, *restrict v = pooled + r * stride;
        for (size_t ch = 0; ch < n; ++ch) acc[ch] += !relu || v[ch] > 0.0f ? g[ch] : 0.0f;
    }
}

/* Filters [begin, end) of dbias: the sum over the batch's pooled pixels of
 * dpooled * f'(pooled), each filter in pixel order (so the same for every
 * thread count). These are all the nonzeros of dz, so this is its sum. */
static void bias_filters(void *context, size_t begin, size_t end) {
    const pooled_gradient_job *j = context;
    const size_t c = j->channels;
    const bool relu = j->activation == TDL_ACTIVATION_RELU;
    float acc[SLOPE_BLOCK], share[SLOPE_BLOCK];
    for (size_t c0 = begin; c0 < end; c0 += SLOPE_BLOCK) {
        const size_t n = end - c0 < SLOPE_BLOCK ? end - c0 : SLOPE_BLOCK;
        for (size_t ch = 0; ch < n; ++ch) acc[ch] = 0.0f;
        if (relu || j->activation == TDL_ACTIVATION_LINEAR) {
            pooled_bias_columns(acc, j->dpooled + c0, j->pooled + c0, j->pooled_rows, c, n, relu);
        } else {
            for (size_t r = 0; r < j->pooled_rows; ++r) {
                const size_t at = r * c + c0;
                slope_times_gradient(share, j->dpooled + at, j->pooled + at, n, j->activation, j->alpha);
                for (size_t ch = 0; ch < n; ++ch) acc[ch] += share[ch];
            }
        }
        for (size_t ch = 0; ch < n; ++ch) j->dbias[c0 + ch] += acc[ch];
    }
}

/* The pre-activation gradient of one chunk of images on one thread (its
 * weight and input gradients are computed while it is in cache). */
#define CONV_POOL_BACKWARD_CHUNK_BYTES (1024.0 * 1024.0)

/* Below this many pooled values per thread the bias sum stays on one thread. */
#define BIAS_MIN_THREAD_VALUES 65536.0

void tdl_conv2d_max_pool2d_backward(float *dx, float *dkernel, float *dbias, const float *dpooled,
                                    const int32_t *argmax, const float *pooled, const float *x, const float *kernel,
                                    const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool, int batch,
                                    float *workspace) {
    if (!conv_args_usable(conv, batch) || pool == NULL || dpooled == NULL || argmax == NULL || pooled == NULL ||
        workspace == NULL || (dkernel != NULL && x == NULL) || (dx != NULL && kernel == NULL))
        return;
    /* The pool must read exactly the convolution's output. */
    if (pool->in_h != conv->out_h || pool->in_w != conv->out_w || pool->channels != conv->out_c || pool->out_h <= 0 ||
        pool->out_w <= 0)
        return;
    const size_t c = (size_t)conv->out_c;
    const size_t pooled_pixels = (size_t)pool->out_h * (size_t)pool->out_w;
    pooled_gradient_job job = {workspace, dbias, 0, pool, dpooled, pooled, argmax, c,
                               (size_t)conv->out_h * (size_t)conv->out_w * c, pooled_pixels,
                               (size_t)batch * pooled_pixels, conv->activation, conv->alpha};
    if (dbias != NULL) tdl_team_split(c, (double)job.pooled_rows, BIAS_MIN_THREAD_VALUES, bias_filters, &job);
    if (dkernel == NULL && dx == NULL) return;
    /* dz at the start of the workspace (where tdl_conv2d_backward keeps it),
     * the kernels' scratch after it. On one thread, chunk by chunk, each
     * chunk's gradients computed while it is in cache; with several, the
     * kernels split each chunk over the team, and a chunk small enough for
     * the cache is too little to split (bench: mnist_convnet's first layer
     * at batch 128 on 2 threads, 2.15 ms in 1 MB chunks, 1.18 ms whole). */
    const size_t x_image = (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c;
    const double fit = CONV_POOL_BACKWARD_CHUNK_BYTES / ((double)job.y_image * sizeof(float));
    int chunk = fit < 1.0 ? 1 : fit > (double)batch ? batch : (int)fit;
    if (tdl_team_threads() > 1) chunk = batch;
    for (int b = 0; b < batch; b += chunk) {
        const int n = batch - b < chunk ? batch - b : chunk;
        job.first_image = (size_t)b;
        tdl_team_split((size_t)n, (double)job.y_image, TDL_TEAM_MIN_THREAD_FLOATS, scatter_images, &job);
        if (dkernel != NULL) tdl_conv2d_backprop_filter(dkernel, x + (size_t)b * x_image, workspace, conv, n, workspace);
        if (dx != NULL) tdl_conv2d_backprop_input(dx + (size_t)b * x_image, kernel, workspace, conv, n, workspace);
    }
}
