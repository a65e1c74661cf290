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
 * The chunks, the threads and the order of the sums are
 * conv_backward_chunks.c's; dbias is summed from the pooled values, image
 * by image, so it is the same for every thread count. */
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
    int32_t index_width;    /* pixels in a row of the output that argmax counts in */
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

/* Whether the pre-activation gradient is written window by window
 * (tiled_image) rather than zeroed and scattered into. Fewer channels than a
 * vector leave the tiled writes mostly scalar: zeroing the image and
 * scattering is faster there. */
static bool scatter_is_tiled(const tdl_pool2d_desc *pool, size_t channels, tdl_activation activation) {
    return windows_tile(pool) && channels >= TILED_MIN_CHANNELS &&
           (activation == TDL_ACTIVATION_RELU || activation == TDL_ACTIVATION_LINEAR);
}

/* The input rows of pooled row ph of tiling windows, for relu or the
 * identity (relu false): at each pixel of a window, the window's gradient
 * where the pixel is its argmax (and, with relu, the maximum is positive),
 * else 0. dpooled, pooled, argmax: that pooled row; dz: the image, d->in_w
 * pixels a row; argmax counts pixels in rows of index_width (the whole
 * output's, wider when dz is only its covered part). */
TDL_VECTOR_CLONES static void tiled_window_rows(float *restrict dz, const float *restrict dpooled,
                                                const float *restrict pooled, const int32_t *restrict argmax,
                                                const tdl_pool2d_desc *d, int32_t index_width, int ph, bool relu) {
    const size_t c = (size_t)d->channels;
    for (int dh = 0; dh < d->pool_h; ++dh) {
        const int h = ph * d->stride_h + dh;
        for (int pw = 0; pw < d->out_w; ++pw) {
            const float *restrict g = dpooled + (size_t)pw * c, *restrict v = pooled + (size_t)pw * c;
            const int32_t *restrict where = argmax + (size_t)pw * c;
            for (int dw = 0; dw < d->pool_w; ++dw) {
                const int w = pw * d->stride_w + dw;
                const int32_t pixel = h * index_width + w;
                float *restrict out = dz + ((size_t)h * (size_t)d->in_w + (size_t)w) * c;
                for (size_t ch = 0; ch < c; ++ch)
                    out[ch] = where[ch] == pixel && (!relu || v[ch] > 0.0f) ? g[ch] : 0.0f;
            }
        }
    }
}

/* One image of dz from tiling windows: the windows' rows, then zeros in the
 * pixels no window covers (right columns, bottom rows). */
static void tiled_image(float *dz, const float *dpooled, const float *pooled, const int32_t *argmax,
                        const tdl_pool2d_desc *d, int32_t index_width, bool relu) {
    const size_t c = (size_t)d->channels, pooled_row = (size_t)d->out_w * c;
    const size_t row_floats = (size_t)d->in_w * c, covered = (size_t)d->out_w * (size_t)d->pool_w * c;
    for (int ph = 0; ph < d->out_h; ++ph) {
        const size_t at = (size_t)ph * pooled_row;
        tiled_window_rows(dz, dpooled + at, pooled + at, argmax + at, d, index_width, ph, relu);
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
    const bool tiled = scatter_is_tiled(j->pool, c, j->activation);
    float share[SLOPE_BLOCK];
    for (size_t b = begin; b < end; ++b) {
        float *dz = j->dz + b * j->y_image;
        const size_t first = (j->first_image + b) * j->pooled_pixels * c;
        if (tiled) {
            tiled_image(dz, j->dpooled + first, j->pooled + first, j->argmax + first, j->pool, j->index_width,
                        relu);
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

/* sums (F) += one image's bias gradient: the sum over its pooled pixels of
 * dpooled * f'(pooled), the nonzeros of its dz (which it does not read). */
static void add_image_bias(const void *context, size_t image, const float *image_dz, float *sums) {
    (void)image_dz;
    const pooled_gradient_job *j = context;
    const size_t c = j->channels, first = image * j->pooled_pixels * c;
    if (j->activation == TDL_ACTIVATION_RELU || j->activation == TDL_ACTIVATION_LINEAR) {
        conv_add_row_sums(sums, j->dpooled + first, j->activation == TDL_ACTIVATION_RELU ? j->pooled + first : NULL,
                          j->pooled_pixels, c);
        return;
    }
    float acc[SLOPE_BLOCK], share[SLOPE_BLOCK];
    for (size_t c0 = 0; c0 < c; c0 += SLOPE_BLOCK) {
        const size_t n = c - c0 < SLOPE_BLOCK ? c - c0 : SLOPE_BLOCK;
        for (size_t ch = 0; ch < n; ++ch) acc[ch] = 0.0f;
        for (size_t i = 0; i < j->pooled_pixels; ++i) {
            const size_t at = first + i * c + c0;
            slope_times_gradient(share, j->dpooled + at, j->pooled + at, n, j->activation, j->alpha);
            for (size_t ch = 0; ch < n; ++ch) acc[ch] += share[ch];
        }
        for (size_t ch = 0; ch < n; ++ch) sums[c0 + ch] += acc[ch];
    }
}

/* dz of images [first, first + n) at the start of `space`, split over the
 * team when called outside it. */
static const float *scatter_chunk(const void *context, size_t first, size_t n, float *space) {
    pooled_gradient_job chunk = *(const pooled_gradient_job *)context;
    chunk.dz = space;
    chunk.first_image = first;
    tdl_team_split(n, (double)chunk.y_image, TDL_TEAM_MIN_THREAD_FLOATS, scatter_images, &chunk);
    return space;
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
    const int32_t index_width = pool->in_w;
    /* Tiling windows that leave the output's last rows or columns unread
     * (mnist_convnet's 11x11 under 2x2): their gradient there is zero, so
     * both products run over the covered part alone. On the libxsmm paths
     * that gives the same bits (the zeros dropped were the last terms of
     * each sum); mnist_convnet's second layer at batch 32, one thread:
     * kernel gradient 1421 -> 1190 us, input gradient 1487 -> 1355 us. */
    tdl_conv2d_desc covered_conv;
    tdl_pool2d_desc covered_pool;
    if (scatter_is_tiled(pool, c, conv->activation) && conv_pool_covered(conv, pool, &covered_conv, &covered_pool) &&
        tdl_conv2d_workspace_size(&covered_conv, batch) <= tdl_conv2d_workspace_size(conv, batch)) {
        conv = &covered_conv;
        pool = &covered_pool;
    }
    const pooled_gradient_job job = {workspace, 0, pool, dpooled, pooled, argmax, c,
                                     (size_t)conv->out_h * (size_t)conv->out_w * c,
                                     (size_t)pool->out_h * (size_t)pool->out_w, conv->activation, conv->alpha,
                                     index_width};
    const conv_chunk_source source = {scatter_chunk, add_image_bias, false, false, &job};
    conv_backward_in_chunks(dx, dkernel, dbias, x, kernel, conv, batch, workspace, &source);
}
