/* The backward pass of conv2d followed by max_pool2d as one step (the
 * forward is conv_pool.c).
 *
 * The gradient reaches the convolution's output only at each
 * window's argmax, where the activation's output is the pooled value itself.
 * So the pre-activation gradient is written in one pass per image (zero it,
 * add each window's gradient times the activation's slope at its maximum;
 * where the windows tile the image, write each pixel once), the bias
 * gradient is summed over the pooled values image by image, and the
 * convolution's output is never read: no zeroed copy of the unpooled
 * gradient, no scatter into it, no pass of the activation over it.
 *
 * One thread goes through the batch in chunks, each chunk's weight and input
 * gradients computed while its pre-activation gradient is in cache. Several
 * threads each take an equal share of the images and go through it the same
 * way, alone (the kernels see they are inside the team and stay on one
 * thread), each with its own part of the workspace and its own partial of
 * the kernel's gradient, added into dkernel in thread order at the end: no
 * thread waits for another between the scatter and the two gradients, and
 * no chunk leaves its core. An image's input gradient is computed by its
 * thread alone, so on the libxsmm paths dx is the same for every thread
 * count (on the BLAS path GEMMs of other sizes may round differently);
 * dbias, each image's sum added in image order, is the same for every
 * count; dkernel's sum depends on it, as in the kernels themselves. */
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* Channels of one pooled pixel taken through the activation's slope at once. */
enum { SLOPE_BLOCK = 64 };

typedef struct pooled_gradient_job {
    float *dz;
    size_t first_image;   /* of the batch, at dz's start */
    const tdl_pool2d_desc *pool;
    const float *dpooled, *pooled;
    const int32_t *argmax;
    size_t channels, y_image;
    size_t pooled_pixels;   /* per image */
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

/* Fewer filters than a vector: one image's pooled values summed as one flat
 * run, lcm(C, 16) floats at a time so that each lane always holds the same
 * filter, and the lanes folded into the C sums at the end (columns C wide
 * left most of each vector empty). The order is fixed by the shape. */
enum { FLAT_LANES = 16, FLAT_MAX_WIDTH = 16 * 15 };

static size_t flat_width(size_t c) {
    size_t width = c;
    while (width % FLAT_LANES != 0) width += c;
    return width;
}

TDL_VECTOR_CLONES static void pooled_bias_flat(float *restrict out, const float *restrict dpooled,
                                               const float *restrict pooled, size_t values, size_t c, bool relu) {
    float lanes[FLAT_MAX_WIDTH];
    const size_t width = flat_width(c);
    for (size_t k = 0; k < width; ++k) lanes[k] = 0.0f;
    size_t i = 0;
    for (; i + width <= values; i += width)
        for (size_t k = 0; k < width; ++k) lanes[k] += !relu || pooled[i + k] > 0.0f ? dpooled[i + k] : 0.0f;
    for (size_t k = 0; i + k < values; ++k) lanes[k] += !relu || pooled[i + k] > 0.0f ? dpooled[i + k] : 0.0f;
    for (size_t k = 0; k < width; ++k) out[k % c] += lanes[k];
}

/* out [0, n) = the sum over one image's pooled pixels of dpooled *
 * f'(pooled) for filters [c0, c0 + n), each filter in pixel order; n <=
 * SLOPE_BLOCK. These are all the nonzeros of the image's dz. */
static void image_bias(float *out, const pooled_gradient_job *j, size_t image, size_t c0, size_t n) {
    const size_t c = j->channels, first = image * j->pooled_pixels * c + c0;
    const bool relu = j->activation == TDL_ACTIVATION_RELU;
    float share[SLOPE_BLOCK];
    for (size_t ch = 0; ch < n; ++ch) out[ch] = 0.0f;
    if ((relu || j->activation == TDL_ACTIVATION_LINEAR) && c < FLAT_LANES) {
        pooled_bias_flat(out, j->dpooled + first, j->pooled + first, j->pooled_pixels * c, c, relu);
        return;
    }
    if (relu || j->activation == TDL_ACTIVATION_LINEAR) {
        pooled_bias_columns(out, j->dpooled + first, j->pooled + first, j->pooled_pixels, c, n, relu);
        return;
    }
    for (size_t i = 0; i < j->pooled_pixels; ++i) {
        const size_t at = first + i * c;
        slope_times_gradient(share, j->dpooled + at, j->pooled + at, n, j->activation, j->alpha);
        for (size_t ch = 0; ch < n; ++ch) out[ch] += share[ch];
    }
}

/* dbias gets each image's sum added in image order, whichever thread
 * computed it: the same bits for every thread count. */
static void add_images_bias(float *dbias, const pooled_gradient_job *j, size_t begin, size_t end) {
    float sum[SLOPE_BLOCK];
    for (size_t image = begin; image < end; ++image)
        for (size_t c0 = 0; c0 < j->channels; c0 += SLOPE_BLOCK) {
            const size_t n = j->channels - c0 < SLOPE_BLOCK ? j->channels - c0 : SLOPE_BLOCK;
            image_bias(sum, j, image, c0, n);
            for (size_t ch = 0; ch < n; ++ch) dbias[c0 + ch] += sum[ch];
        }
}

/* The pre-activation gradient of one chunk of images on one thread (its
 * weight and input gradients are computed while it is in cache). */
#define CONV_POOL_BACKWARD_CHUNK_BYTES (1024.0 * 1024.0)

/* Below this many kernel-gradient floats per thread the partials are added on one thread. */
#define PARTIAL_SUM_MIN_THREAD_FLOATS 65536.0

/* The step's tensors, for the chunks of one thread or of the whole team. */
typedef struct conv_pool_backward_job {
    pooled_gradient_job scatter;   /* dz, first_image: set per chunk */
    float *dx, *dkernel, *dbias, *workspace;
    const float *x, *kernel;
    const tdl_conv2d_desc *conv;
    int batch, chunk, threads;
    size_t x_image;
    /* Per thread: a workspace for a call on `chunk` images, then its
     * partial of dkernel; `region` floats apart. */
    size_t chunk_workspace, region;
    /* With threads, each image's bias sums (batch, F) after the regions, added
     * into dbias in image order at the end; NULL: added as computed. */
    float *image_sums;
} conv_pool_backward_job;

/* Images [b, b + n) of the batch: their pre-activation gradient at the start
 * of `workspace`, then their kernel's gradient into dkernel (+=) and their
 * input's gradient into dx, with the kernels' scratch after the gradient (as
 * a call on n images places it). */
static void run_backward_chunk(const conv_pool_backward_job *j, int b, int n, float *dkernel, float *workspace) {
    pooled_gradient_job scatter = j->scatter;
    scatter.dz = workspace;
    scatter.first_image = (size_t)b;
    tdl_team_split((size_t)n, (double)scatter.y_image, TDL_TEAM_MIN_THREAD_FLOATS, scatter_images, &scatter);
    /* The bias while the chunk's pooled values are in cache. */
    if (j->image_sums != NULL) {
        for (size_t image = (size_t)b; image < (size_t)(b + n); ++image)
            for (size_t c0 = 0; c0 < scatter.channels; c0 += SLOPE_BLOCK)
                image_bias(j->image_sums + image * scatter.channels + c0, &scatter, image, c0,
                           scatter.channels - c0 < SLOPE_BLOCK ? scatter.channels - c0 : SLOPE_BLOCK);
    } else if (j->dbias != NULL) {
        add_images_bias(j->dbias, &scatter, (size_t)b, (size_t)(b + n));
    }
    const float *x = j->x + (size_t)b * j->x_image;
    if (dkernel != NULL) tdl_conv2d_backprop_filter(dkernel, x, workspace, j->conv, n, workspace);
    if (j->dx != NULL)
        tdl_conv2d_backprop_input(j->dx + (size_t)b * j->x_image, j->kernel, workspace, j->conv, n, workspace);
}

static float *partial_of(const conv_pool_backward_job *j, int t) {
    return j->workspace + (size_t)t * j->region + j->chunk_workspace;
}

/* Thread t's share of the images, chunk by chunk, in its own region. */
static void backward_share(void *context, int t, int threads) {
    const conv_pool_backward_job *j = context;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    float *partial = j->dkernel != NULL ? partial_of(j, t) : NULL;
    if (partial != NULL) memset(partial, 0, conv_patch_size(j->conv) * (size_t)j->conv->out_c * sizeof *partial);
    for (; b < end; b += (size_t)j->chunk) {
        const size_t n = end - b < (size_t)j->chunk ? end - b : (size_t)j->chunk;
        run_backward_chunk(j, (int)b, (int)n, partial, j->workspace + (size_t)t * j->region);
    }
}

/* dkernel [begin, end) += the threads' partials, in thread order. */
static void add_partials(void *context, size_t begin, size_t end) {
    const conv_pool_backward_job *j = context;
    for (int t = 0; t < j->threads; ++t) {
        const float *partial = partial_of(j, t);
        for (size_t i = begin; i < end; ++i) j->dkernel[i] += partial[i];
    }
}

/* dbias [begin, end) += the images' sums, in image order. */
static void add_image_sums(void *context, size_t begin, size_t end) {
    const conv_pool_backward_job *j = context;
    const size_t c = j->scatter.channels;
    for (size_t image = 0; image < (size_t)j->batch; ++image) {
        const float *sums = j->image_sums + image * c;
        for (size_t f = begin; f < end; ++f) j->dbias[f] += sums[f];
    }
}

/* Rounds a count of floats up to whole cache lines, so that no two threads'
 * regions share a line. */
static size_t whole_lines(size_t floats) {
    enum { LINE_FLOATS = 16 };
    return (floats + LINE_FLOATS - 1) / LINE_FLOATS * LINE_FLOATS;
}

/* Chooses the chunk and the regions for `threads` threads, each alone on its
 * share, and places the images' bias sums after them: the largest chunk up
 * to `chunk` whose regions all fit in a workspace sized for the batch. False
 * when even one image does not fit. */
static bool plan_thread_regions(conv_pool_backward_job *j, int chunk) {
    const size_t image_sums = j->dbias != NULL ? whole_lines((size_t)j->batch * j->scatter.channels) : 0;
    const size_t whole = tdl_conv2d_workspace_size(j->conv, j->batch);
    if (image_sums >= whole) return false;
    const size_t available = whole - image_sums;
    const size_t partial = j->dkernel != NULL ? conv_patch_size(j->conv) * (size_t)j->conv->out_c : 0;
    for (; chunk >= 1; chunk = chunk > 1 ? chunk / 2 : 0) {
        const size_t chunk_workspace = whole_lines(tdl_conv2d_workspace_size(j->conv, chunk));
        const size_t region = whole_lines(chunk_workspace + partial);
        if (chunk_workspace == 0 || region > available / (size_t)j->threads) continue;
        j->chunk = chunk;
        j->chunk_workspace = chunk_workspace;
        j->region = region;
        if (j->dbias != NULL) j->image_sums = j->workspace + region * (size_t)j->threads;
        return true;
    }
    return false;
}

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
    conv_pool_backward_job job = {
        {workspace, 0, pool, dpooled, pooled, argmax, c, (size_t)conv->out_h * (size_t)conv->out_w * c,
         pooled_pixels, conv->activation, conv->alpha},
        dx, dkernel, dbias, workspace, x, kernel, conv, batch, batch, 1,
        (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c, 0, 0, NULL};
    if (dkernel == NULL && dx == NULL) {
        if (dbias != NULL) add_images_bias(dbias, &job.scatter, 0, (size_t)batch);
        return;
    }
    const double fit = CONV_POOL_BACKWARD_CHUNK_BYTES / ((double)job.scatter.y_image * sizeof(float));
    const int chunk = fit < 1.0 ? 1 : fit > (double)batch ? batch : (int)fit;
    int threads = tdl_team_threads();
    if (threads > batch) threads = batch;
    job.threads = threads;
    const int share = (batch + threads - 1) / threads;   /* the largest thread's images */
    if (threads > 1 && plan_thread_regions(&job, chunk < share ? chunk : share)) {
        tdl_team_run(threads, backward_share, &job);
        const size_t kernel_floats = conv_patch_size(conv) * c;
        if (dkernel != NULL)
            tdl_team_split(kernel_floats, (double)threads, PARTIAL_SUM_MIN_THREAD_FLOATS, add_partials, &job);
        if (dbias != NULL) tdl_team_split(c, (double)batch, PARTIAL_SUM_MIN_THREAD_FLOATS, add_image_sums, &job);
        return;
    }
    /* One thread, chunk by chunk; or, when the regions do not fit, the whole
     * batch as one chunk with each kernel split over the team. A workspace
     * sized for `batch` serves every smaller batch (docs/runtime.md). */
    const int step = threads > 1 ? batch : chunk;
    for (int b = 0; b < batch; b += step)
        run_backward_chunk(&job, b, batch - b < step ? batch - b : step, dkernel, workspace);
}
