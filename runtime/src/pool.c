/* 2-D max/average pooling and global pooling, NHWC. Windows are clipped to the
 * input: padding never wins a max and never counts towards an average. */
#include <stdbool.h>
#include <stdint.h>

#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

tdl_status tdl_pool2d_desc_init(tdl_pool2d_desc *d, int in_h, int in_w, int channels,
                                int pool_h, int pool_w, int stride_h, int stride_w, tdl_padding padding) {
    if (d == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "pool2d: NULL descriptor");
    if (in_h <= 0 || in_w <= 0 || channels <= 0 || pool_h <= 0 || pool_w <= 0 || stride_h <= 0 ||
        stride_w <= 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                             "pool2d: sizes must be positive (input %dx%dx%d, pool %dx%d, strides %dx%d)",
                             in_h, in_w, channels, pool_h, pool_w, stride_h, stride_w);
    if (padding != TDL_PADDING_VALID && padding != TDL_PADDING_SAME)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "pool2d: unknown padding %d", (int)padding);
    int64_t out_h, out_w, pad_top = 0, pad_left = 0;
    if (padding == TDL_PADDING_VALID) {
        out_h = in_h < pool_h ? 0 : (in_h - pool_h) / stride_h + 1;
        out_w = in_w < pool_w ? 0 : (in_w - pool_w) / stride_w + 1;
    } else {
        out_h = ((int64_t)in_h + stride_h - 1) / stride_h;
        out_w = ((int64_t)in_w + stride_w - 1) / stride_w;
        const int64_t total_h = (out_h - 1) * stride_h + pool_h - in_h;
        const int64_t total_w = (out_w - 1) * stride_w + pool_w - in_w;
        pad_top = total_h > 0 ? total_h / 2 : 0;
        pad_left = total_w > 0 ? total_w / 2 : 0;
    }
    if (out_h <= 0 || out_w <= 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "pool2d: input %dx%d is smaller than the pool %dx%d",
                             in_h, in_w, pool_h, pool_w);
    d->in_h = in_h;
    d->in_w = in_w;
    d->channels = channels;
    d->out_h = (int)out_h;
    d->out_w = (int)out_w;
    d->pool_h = pool_h;
    d->pool_w = pool_w;
    d->stride_h = stride_h;
    d->stride_w = stride_w;
    d->pad_top = (int)pad_top;
    d->pad_left = (int)pad_left;
    return TDL_STATUS_OK;
}

/* The in-bounds part of one pooling window: rows [h0, h1), columns [w0, w1). */
typedef struct pool_window {
    int h0, h1, w0, w1;
} pool_window;

static int clamp_int(int v, int lo, int hi) { return v < lo ? lo : (v > hi ? hi : v); }

static pool_window window_at(const tdl_pool2d_desc *d, int oh, int ow) {
    const int top = oh * d->stride_h - d->pad_top;
    const int left = ow * d->stride_w - d->pad_left;
    pool_window w = {clamp_int(top, 0, d->in_h), clamp_int(top + d->pool_h, 0, d->in_h),
                     clamp_int(left, 0, d->in_w), clamp_int(left + d->pool_w, 0, d->in_w)};
    return w;
}

static bool pool_args_usable(const tdl_pool2d_desc *d, int batch) {
    return d != NULL && batch > 0 && d->in_h > 0 && d->in_w > 0 && d->channels > 0 && d->out_h > 0 &&
           d->out_w > 0 && d->pool_h > 0 && d->pool_w > 0 && d->stride_h > 0 && d->stride_w > 0;
}

/* Offset of pixel (h, w) of image b in an NHWC tensor of h_size x w_size x c. */
static size_t pixel_offset(size_t b, int h, int w, int h_size, int w_size, size_t c) {
    return ((b * (size_t)h_size + (size_t)h) * (size_t)w_size + (size_t)w) * c;
}

/* One step of a search for the first maximum: value replaces best[i], and
 * index where[i], only when value is greater (so a NaN never replaces a
 * number). Both stores are unconditional, with the index chosen by a mask:
 * written as `where[i] = greater ? index : where[i]`, GCC stored only the
 * changed lanes, and AVX2 has only a slow masked store for that (LeNet-5's
 * first pool took 17% of its forward on an AMD EPYC, Zen 3). */
static inline void keep_first_max(float *restrict best, int32_t *restrict where, size_t i, float value,
                                  int32_t index) {
    const float old = best[i];
    const int32_t taken = -(int32_t)(value > old);
    best[i] = value > old ? value : old;
    where[i] = (index & taken) | (where[i] & ~taken);
}

/* The first maximum of one window, for every channel at once: best[ch] and
 * where[ch], the in-image pixel index h*W + w of the first element (row-major
 * within the window) that no later one exceeds. Selects instead of branches
 * and restrict pointers let GCC compare a vector of channels per instruction;
 * `in > best ? in : best` is exactly the vector max instruction, so a NaN
 * never replaces a number, as before. An all-padding window gives 0 and -1.
 * `count` channels of pixels `stride` floats apart; window_max and
 * few_channel_row are this search. */
static inline void window_search(float *restrict best, int32_t *restrict where, const float *restrict image,
                                 size_t stride, int in_w, pool_window win, size_t count) {
    const size_t c = count;
    if (win.h0 >= win.h1 || win.w0 >= win.w1) {
        for (size_t ch = 0; ch < c; ++ch) {
            best[ch] = 0.0f;
            where[ch] = -1;
        }
        return;
    }
    const int32_t first_pixel = (int32_t)(win.h0 * in_w + win.w0);
    const float *first = image + (size_t)first_pixel * stride;
    for (size_t ch = 0; ch < c; ++ch) {
        best[ch] = first[ch];
        where[ch] = first_pixel;
    }
    for (int h = win.h0; h < win.h1; ++h)
        for (int w = win.w0; w < win.w1; ++w) {
            const int32_t pixel = (int32_t)(h * in_w + w);
            const float *restrict in = image + (size_t)pixel * stride;
            for (size_t ch = 0; ch < c; ++ch) keep_first_max(best, where, ch, in[ch], pixel);
        }
}

/* image points at the first of `count` channels; pixels are d->channels apart. */
TDL_VECTOR_CLONES static void window_max(float *restrict best, int32_t *restrict where, const float *restrict image,
                       const tdl_pool2d_desc *d, pool_window win, size_t count) {
    window_search(best, where, image, (size_t)d->channels, d->in_w, win, count);
}

/* Channels handled per window_max call when no argmax buffer is given. */
enum { POOL_CHANNEL_BLOCK = 256 };

/* Fewer channels than this take few_channel_row: window_max's channel loop
 * would run almost entirely in its scalar remainder, once per window (LeNet's
 * 6-channel pool after the first convolution took 9 ns per output value). */
enum { POOL_FEW_CHANNELS = 16 };

/* One output row of one image: window_search for every window of the row,
 * with `c` fixed at each call site (few_channel_row_of) so that the channel
 * loop unrolls, inlined rather than one call per window. */
static inline void few_channel_row(float *restrict y, int32_t *restrict argmax, const float *restrict image,
                                   const tdl_pool2d_desc *d, int oh, size_t c) {
    int32_t unused[POOL_FEW_CHANNELS];
    for (int ow = 0; ow < d->out_w; ++ow) {
        int32_t *where = argmax != NULL ? argmax + (size_t)ow * c : unused;
        window_search(y + (size_t)ow * c, where, image, c, d->in_w, window_at(d, oh, ow), c);
    }
}

/* Rows of tiled windows (stride_w == pool_w, no left padding, every window
 * inside the row) whose span of the row has at most this many floats take
 * tiled_row, which searches all windows of the row at once. */
enum { POOL_TILED_FLOATS = 2048 };

static bool rows_are_tiled(const tdl_pool2d_desc *d) {
    return d->stride_w == d->pool_w && d->pad_left == 0 && (int64_t)d->out_w * d->pool_w <= d->in_w &&
           (int64_t)d->out_w * d->pool_w * d->channels <= POOL_TILED_FLOATS;
}

/* The search of window_max, window row by window row and column by column in
 * the same order, on the whole row at once: lane e of value/index stands for
 * the row's element e, and for e at the first column of a window (e / c a
 * multiple of pool_w) the lanes hold that window's search; the other lanes
 * are computed and dropped. `column` is e / c, made once per call. */
TDL_VECTOR_CLONES static void tiled_search(float *restrict value, int32_t *restrict index,
                                           const int32_t *restrict column, const float *restrict image,
                                           const tdl_pool2d_desc *d, int h0, int h1, size_t lanes) {
    const size_t c = (size_t)d->channels, row_floats = (size_t)d->in_w * c;
    const float *restrict first = image + (size_t)h0 * row_floats;
    for (size_t e = 0; e < lanes; ++e) {
        value[e] = first[e];
        index[e] = h0 * d->in_w + column[e];
    }
    for (int h = h0; h < h1; ++h)
        for (int jw = h == h0 ? 1 : 0; jw < d->pool_w; ++jw) {
            const float *restrict in = image + (size_t)h * row_floats + (size_t)jw * c;
            const int32_t base = h * d->in_w + jw;
            for (size_t e = 0; e < lanes; ++e) keep_first_max(value, index, e, in[e], base + column[e]);
        }
}

/* One output row of tiled windows (rows_are_tiled): tiled_search, then each
 * window's c lanes copied out. */
static void tiled_row(float *restrict y, int32_t *restrict argmax, const float *restrict image,
                      const int32_t *restrict column, const tdl_pool2d_desc *d, int oh) {
    const size_t c = (size_t)d->channels, ow_n = (size_t)d->out_w, step = (size_t)d->pool_w * c;
    const pool_window win = window_at(d, oh, 0);
    if (win.h0 >= win.h1) {
        for (size_t i = 0; i < ow_n * c; ++i) {
            y[i] = 0.0f;
            if (argmax != NULL) argmax[i] = -1;
        }
        return;
    }
    float value[POOL_TILED_FLOATS];
    int32_t index[POOL_TILED_FLOATS];
    /* The last window's first column ends the lanes: its later columns are read as in + jw*c. */
    const size_t lanes = (ow_n - 1) * step + c;
    tiled_search(value, index, column, image, d, win.h0, win.h1, lanes);
    for (size_t ow = 0; ow < ow_n; ++ow)
        for (size_t ch = 0; ch < c; ++ch) {
            y[ow * c + ch] = value[ow * step + ch];
            if (argmax != NULL) argmax[ow * c + ch] = index[ow * step + ch];
        }
}

/* few_channel_row with the channel count as a constant, c < POOL_FEW_CHANNELS. */
static void few_channel_row_of(float *y, int32_t *argmax, const float *image, const tdl_pool2d_desc *d, int oh,
                               size_t c) {
    switch (c) {
#define FEW_CHANNEL_CASE(n) \
    case n: few_channel_row(y, argmax, image, d, oh, n); return;
        FEW_CHANNEL_CASE(1) FEW_CHANNEL_CASE(2) FEW_CHANNEL_CASE(3) FEW_CHANNEL_CASE(4) FEW_CHANNEL_CASE(5)
        FEW_CHANNEL_CASE(6) FEW_CHANNEL_CASE(7) FEW_CHANNEL_CASE(8) FEW_CHANNEL_CASE(9) FEW_CHANNEL_CASE(10)
        FEW_CHANNEL_CASE(11) FEW_CHANNEL_CASE(12) FEW_CHANNEL_CASE(13) FEW_CHANNEL_CASE(14) FEW_CHANNEL_CASE(15)
#undef FEW_CHANNEL_CASE
    default: return;
    }
}

/* 2x2 windows at stride 2 wholly inside the input (the reference models'
 * pools) with a vector's worth of channels take pairs_row: one call per
 * output row instead of one window_max call per window, whose setup cost as
 * much as the search (mnist_convnet's 26x26x32 pool). */
static bool rows_of_pairs(const tdl_pool2d_desc *d) {
    return d->pool_h == 2 && d->pool_w == 2 && d->stride_h == 2 && d->stride_w == 2 && d->pad_top == 0 &&
           d->pad_left == 0 && (int64_t)d->out_h * 2 <= d->in_h && (int64_t)d->out_w * 2 <= d->in_w &&
           d->channels >= POOL_FEW_CHANNELS;
}

/* Output row oh of 2x2 windows: window_search's comparisons in its order
 * (top left, top right, bottom left, bottom right; a later element wins
 * only when greater), all channels of a window at once. argmax may be NULL. */
TDL_VECTOR_CLONES static void pairs_row(float *restrict y, int32_t *restrict argmax, const float *restrict image,
                                        const tdl_pool2d_desc *d, int oh) {
    const size_t c = (size_t)d->channels, row_floats = (size_t)d->in_w * c;
    for (int ow = 0; ow < d->out_w; ++ow) {
        const int32_t first = (int32_t)(2 * oh * d->in_w + 2 * ow);
        const float *restrict top = image + (size_t)first * c, *restrict bottom = top + row_floats;
        float *restrict out = y + (size_t)ow * c;
        if (argmax == NULL) {
            for (size_t ch = 0; ch < c; ++ch) {
                float best = top[ch];
                best = top[c + ch] > best ? top[c + ch] : best;
                best = bottom[ch] > best ? bottom[ch] : best;
                out[ch] = bottom[c + ch] > best ? bottom[c + ch] : best;
            }
            continue;
        }
        int32_t *restrict where = argmax + (size_t)ow * c;
        const int32_t below = first + d->in_w;
        for (size_t ch = 0; ch < c; ++ch) {
            float best = top[ch];
            int32_t at = first;
            const bool right = top[c + ch] > best;
            best = right ? top[c + ch] : best;
            at = right ? first + 1 : at;
            const bool down = bottom[ch] > best;
            best = down ? bottom[ch] : best;
            at = down ? below : at;
            const bool corner = bottom[c + ch] > best;
            out[ch] = corner ? bottom[c + ch] : best;
            where[ch] = corner ? below + 1 : at;
        }
    }
}

/* One max-pooling call, split over the team. */
typedef struct max_pool_job {
    const tdl_pool2d_desc *d;
    int batch;
    float *y, *dx;
    int32_t *argmax;
    const float *x, *dy;
    const int32_t *saved_argmax;
} max_pool_job;

/* Forward: output rows [begin, end) of the batch. Without an argmax buffer the
 * indices go to a small stack block, POOL_CHANNEL_BLOCK channels at a time. */
static void max_pool_forward_share(void *context, int t, int threads) {
    const max_pool_job *j = context;
    const tdl_pool2d_desc *d = j->d;
    const size_t c = (size_t)d->channels;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * c;
    int32_t scratch[POOL_CHANNEL_BLOCK];
    /* For tiled rows: the column of each element of a row's span. */
    int32_t column[POOL_TILED_FLOATS];
    const bool tiled = c < POOL_FEW_CHANNELS && rows_are_tiled(d), pairs = rows_of_pairs(d);
    if (tiled)
        for (size_t e = 0; e < (size_t)d->out_w * (size_t)d->pool_w * c; ++e) column[e] = (int32_t)(e / c);
    size_t row, end;
    tdl_team_share((size_t)j->batch * (size_t)d->out_h, t, threads, &row, &end);
    for (; row < end; ++row) {
        const size_t b = row / (size_t)d->out_h;
        const int oh = (int)(row % (size_t)d->out_h);
        if (tiled) {
            const size_t at = pixel_offset(b, oh, 0, d->out_h, d->out_w, c);
            tiled_row(j->y + at, j->argmax != NULL ? j->argmax + at : NULL, j->x + b * image_size, column, d, oh);
            continue;
        }
        if (pairs) {
            const size_t at = pixel_offset(b, oh, 0, d->out_h, d->out_w, c);
            pairs_row(j->y + at, j->argmax != NULL ? j->argmax + at : NULL, j->x + b * image_size, d, oh);
            continue;
        }
        if (c < POOL_FEW_CHANNELS) {
            const size_t at = pixel_offset(b, oh, 0, d->out_h, d->out_w, c);
            few_channel_row_of(j->y + at, j->argmax != NULL ? j->argmax + at : NULL, j->x + b * image_size, d, oh,
                               c);
            continue;
        }
        for (int ow = 0; ow < d->out_w; ++ow) {
            const pool_window win = window_at(d, oh, ow);
            const size_t at = pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
            if (j->argmax != NULL) {
                window_max(j->y + at, j->argmax + at, j->x + b * image_size, d, win, c);
                continue;
            }
            for (size_t c0 = 0; c0 < c; c0 += POOL_CHANNEL_BLOCK) {
                const size_t n = c - c0 < POOL_CHANNEL_BLOCK ? c - c0 : POOL_CHANNEL_BLOCK;
                window_max(j->y + at + c0, scratch, j->x + b * image_size + c0, d, win, n);
            }
        }
    }
}

/* Backward through saved indices: images [begin, end) of the batch (two output
 * pixels of one image may share an input pixel, so an image is one thread's). */
static void max_pool_backward_share(void *context, int t, int threads) {
    const max_pool_job *j = context;
    const tdl_pool2d_desc *d = j->d;
    const size_t c = (size_t)d->channels;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * c;
    const size_t out_pixels = (size_t)d->out_h * (size_t)d->out_w;
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b) {
        float *grad = j->dx + b * image_size;
        const float *g = j->dy + b * out_pixels * c;
        const int32_t *where = j->saved_argmax + b * out_pixels * c;
        for (size_t i = 0; i < out_pixels; ++i)
            for (size_t ch = 0; ch < c; ++ch) {
                const int32_t pixel = where[i * c + ch];
                if (pixel >= 0) grad[(size_t)pixel * c + ch] += g[i * c + ch];
            }
    }
}

/* Backward recomputing the indices from x: images [begin, end) of the batch. */
static void max_pool_backward_recompute_share(void *context, int t, int threads) {
    const max_pool_job *j = context;
    const tdl_pool2d_desc *d = j->d;
    const size_t c = (size_t)d->channels;
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * c;
    float best[POOL_CHANNEL_BLOCK];
    int32_t where[POOL_CHANNEL_BLOCK];
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const pool_window win = window_at(d, oh, ow);
                const float *g = j->dy + pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
                for (size_t c0 = 0; c0 < c; c0 += POOL_CHANNEL_BLOCK) {
                    const size_t n = c - c0 < POOL_CHANNEL_BLOCK ? c - c0 : POOL_CHANNEL_BLOCK;
                    window_max(best, where, j->x + b * image_size + c0, d, win, n);
                    float *grad = j->dx + b * image_size + c0;
                    for (size_t ch = 0; ch < n; ++ch)
                        if (where[ch] >= 0) grad[(size_t)where[ch] * c + ch] += g[c0 + ch];
                }
            }
}

/* Below this many window elements per thread pooling stays on one thread. */
#define POOL_MIN_THREAD_WORK 262144.0

static int pool_threads(const tdl_pool2d_desc *d, int batch, size_t units) {
    const double work = (double)batch * d->out_h * d->out_w * d->channels * d->pool_h * d->pool_w;
    int threads = tdl_team_threads_for(work, POOL_MIN_THREAD_WORK);
    if ((size_t)threads > units) threads = (int)units;
    return threads < 1 ? 1 : threads;
}

/* Whether in-image indices h*W + w fit int32. */
static bool indices_fit(const tdl_pool2d_desc *d) { return (int64_t)d->in_h * d->in_w <= INT32_MAX; }

/* x: (B,H,W,C) -> y: (B,OH,OW,C), the maximum of each window's in-bounds elements */
void tdl_max_pool2d_forward(float *y, const float *x, const tdl_pool2d_desc *d, int batch) {
    if (!pool_args_usable(d, batch) || y == NULL || x == NULL || !indices_fit(d)) return;
    max_pool_job j = {d, batch, y, NULL, NULL, x, NULL, NULL};
    tdl_team_run(pool_threads(d, batch, (size_t)batch * (size_t)d->out_h), max_pool_forward_share, &j);
}

/* x: (B,H,W,C) -> y: (B,OH,OW,C) and argmax: (B,OH,OW,C), the in-image pixel
 * index h*W + w of each window's first maximum (-1 for an all-padding window) */
void tdl_max_pool2d_forward_argmax(float *y, int32_t *argmax, const float *x, const tdl_pool2d_desc *d,
                                   int batch) {
    if (!pool_args_usable(d, batch) || y == NULL || argmax == NULL || x == NULL || !indices_fit(d)) return;
    max_pool_job j = {d, batch, y, NULL, argmax, x, NULL, NULL};
    tdl_team_run(pool_threads(d, batch, (size_t)batch * (size_t)d->out_h), max_pool_forward_share, &j);
}

/* dy: (B,OH,OW,C), x: (B,H,W,C) -> dx: (B,H,W,C) += dy at each window's first maximum
 * (row-major order within the window), recomputed from x. */
void tdl_max_pool2d_backward(float *dx, const float *dy, const float *x, const tdl_pool2d_desc *d,
                             int batch) {
    if (!pool_args_usable(d, batch) || dx == NULL || dy == NULL || x == NULL || !indices_fit(d)) return;
    max_pool_job j = {d, batch, NULL, dx, NULL, x, dy, NULL};
    tdl_team_run(pool_threads(d, batch, (size_t)batch), max_pool_backward_recompute_share, &j);
}

/* dy, argmax: (B,OH,OW,C) -> dx: (B,H,W,C) += dy at the saved indices */
void tdl_max_pool2d_backward_argmax(float *dx, const float *dy, const int32_t *argmax, const tdl_pool2d_desc *d,
                                    int batch) {
    if (!pool_args_usable(d, batch) || dx == NULL || dy == NULL || argmax == NULL) return;
    max_pool_job j = {d, batch, NULL, dx, NULL, NULL, dy, argmax};
    tdl_team_run(pool_threads(d, batch, (size_t)batch), max_pool_backward_share, &j);
}

/* x: (B,H,W,C) -> y: (B,OH,OW,C), the mean of each window's in-bounds elements */
void tdl_avg_pool2d_forward(float *y, const float *x, const tdl_pool2d_desc *d, int batch) {
    if (!pool_args_usable(d, batch) || y == NULL || x == NULL) return;
    const size_t c = (size_t)d->channels;
    for (size_t b = 0; b < (size_t)batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const pool_window win = window_at(d, oh, ow);
                float *out = y + pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
                for (size_t ch = 0; ch < c; ++ch) out[ch] = 0.0f;
                const int count = (win.h1 - win.h0) * (win.w1 - win.w0);
                if (count <= 0) continue;
                for (int h = win.h0; h < win.h1; ++h)
                    for (int w = win.w0; w < win.w1; ++w) {
                        const float *in = x + pixel_offset(b, h, w, d->in_h, d->in_w, c);
                        for (size_t ch = 0; ch < c; ++ch) out[ch] += in[ch];
                    }
                const float inverse = 1.0f / (float)count;
                for (size_t ch = 0; ch < c; ++ch) out[ch] *= inverse;
            }
}

/* dy: (B,OH,OW,C) -> dx: (B,H,W,C) += dy / count over each window's in-bounds elements */
void tdl_avg_pool2d_backward(float *dx, const float *dy, const tdl_pool2d_desc *d, int batch) {
    if (!pool_args_usable(d, batch) || dx == NULL || dy == NULL) return;
    const size_t c = (size_t)d->channels;
    for (size_t b = 0; b < (size_t)batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const pool_window win = window_at(d, oh, ow);
                const int count = (win.h1 - win.h0) * (win.w1 - win.w0);
                if (count <= 0) continue;
                const float inverse = 1.0f / (float)count;
                const float *g = dy + pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
                for (int h = win.h0; h < win.h1; ++h)
                    for (int w = win.w0; w < win.w1; ++w) {
                        float *in = dx + pixel_offset(b, h, w, d->in_h, d->in_w, c);
                        for (size_t ch = 0; ch < c; ++ch) in[ch] += g[ch] * inverse;
                    }
            }
}

static bool global_args_usable(int batch, int spatial, int channels) {
    return batch > 0 && spatial > 0 && channels > 0;
}

/* x: (B,HW,C) -> y: (B,C), the mean over HW */
void tdl_global_avg_pool2d_forward(float *y, const float *x, int batch, int spatial, int channels) {
    if (!global_args_usable(batch, spatial, channels) || y == NULL || x == NULL) return;
    const size_t c = (size_t)channels;
    const float inverse = 1.0f / (float)spatial;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        float *out = y + b * c;
        const float *image = x + b * (size_t)spatial * c;
        for (size_t ch = 0; ch < c; ++ch) out[ch] = 0.0f;
        for (size_t s = 0; s < (size_t)spatial; ++s)
            for (size_t ch = 0; ch < c; ++ch) out[ch] += image[s * c + ch];
        for (size_t ch = 0; ch < c; ++ch) out[ch] *= inverse;
    }
}

/* dy: (B,C) -> dx: (B,HW,C) += dy / HW */
void tdl_global_avg_pool2d_backward(float *dx, const float *dy, int batch, int spatial, int channels) {
    if (!global_args_usable(batch, spatial, channels) || dx == NULL || dy == NULL) return;
    const size_t c = (size_t)channels;
    const float inverse = 1.0f / (float)spatial;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        const float *g = dy + b * c;
        float *image = dx + b * (size_t)spatial * c;
        for (size_t s = 0; s < (size_t)spatial; ++s)
            for (size_t ch = 0; ch < c; ++ch) image[s * c + ch] += g[ch] * inverse;
    }
}

/* x: (B,HW,C) -> y: (B,C), the maximum over HW */
void tdl_global_max_pool2d_forward(float *y, const float *x, int batch, int spatial, int channels) {
    if (!global_args_usable(batch, spatial, channels) || y == NULL || x == NULL) return;
    const size_t c = (size_t)channels;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        float *out = y + b * c;
        const float *image = x + b * (size_t)spatial * c;
        for (size_t ch = 0; ch < c; ++ch) out[ch] = image[ch];
        for (size_t s = 1; s < (size_t)spatial; ++s)
            for (size_t ch = 0; ch < c; ++ch)
                if (image[s * c + ch] > out[ch]) out[ch] = image[s * c + ch];
    }
}

/* dy: (B,C), x: (B,HW,C) -> dx: (B,HW,C) += dy shared equally among the elements
 * equal to the maximum (Keras' GlobalMaxPooling2D is a reduce_max). */
void tdl_global_max_pool2d_backward(float *dx, const float *dy, const float *x, int batch, int spatial,
                                    int channels) {
    if (!global_args_usable(batch, spatial, channels) || dx == NULL || dy == NULL || x == NULL) return;
    const size_t c = (size_t)channels;
    const size_t hw = (size_t)spatial;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        const float *image = x + b * hw * c;
        float *grad = dx + b * hw * c;
        for (size_t ch = 0; ch < c; ++ch) {
            float best = image[ch];
            for (size_t s = 1; s < hw; ++s)
                if (image[s * c + ch] > best) best = image[s * c + ch];
            size_t ties = 0;
            for (size_t s = 0; s < hw; ++s) ties += image[s * c + ch] == best;
            /* ties == 0 only if the maximum is NaN: then no element receives gradient. */
            if (ties == 0) continue;
            const float share = dy[b * c + ch] / (float)ties;
            for (size_t s = 0; s < hw; ++s)
                if (image[s * c + ch] == best) grad[s * c + ch] += share;
        }
    }
}
