/* 2-D max/average pooling and global pooling, NHWC. Windows are clipped to the
 * input: padding never wins a max and never counts towards an average. */
#include <stdint.h>

#include "tdl/runtime.h"

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

/* x: (B,H,W,C) -> y: (B,OH,OW,C), the maximum of each window's in-bounds elements */
void tdl_max_pool2d_forward(float *y, const float *x, const tdl_pool2d_desc *d, int batch) {
    if (!pool_args_usable(d, batch) || y == NULL || x == NULL) return;
    const size_t c = (size_t)d->channels;
    for (size_t b = 0; b < (size_t)batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const pool_window win = window_at(d, oh, ow);
                float *out = y + pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
                if (win.h0 >= win.h1 || win.w0 >= win.w1) {
                    for (size_t ch = 0; ch < c; ++ch) out[ch] = 0.0f;
                    continue;
                }
                const float *first = x + pixel_offset(b, win.h0, win.w0, d->in_h, d->in_w, c);
                for (size_t ch = 0; ch < c; ++ch) out[ch] = first[ch];
                for (int h = win.h0; h < win.h1; ++h)
                    for (int w = win.w0; w < win.w1; ++w) {
                        const float *in = x + pixel_offset(b, h, w, d->in_h, d->in_w, c);
                        for (size_t ch = 0; ch < c; ++ch)
                            if (in[ch] > out[ch]) out[ch] = in[ch];
                    }
            }
}

/* dy: (B,OH,OW,C), x: (B,H,W,C) -> dx: (B,H,W,C) += dy at each window's first maximum
 * (row-major order within the window), recomputed from x. */
void tdl_max_pool2d_backward(float *dx, const float *dy, const float *x, const tdl_pool2d_desc *d,
                             int batch) {
    if (!pool_args_usable(d, batch) || dx == NULL || dy == NULL || x == NULL) return;
    const size_t c = (size_t)d->channels;
    for (size_t b = 0; b < (size_t)batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow) {
                const pool_window win = window_at(d, oh, ow);
                if (win.h0 >= win.h1 || win.w0 >= win.w1) continue;
                const float *g = dy + pixel_offset(b, oh, ow, d->out_h, d->out_w, c);
                for (size_t ch = 0; ch < c; ++ch) {
                    size_t best = pixel_offset(b, win.h0, win.w0, d->in_h, d->in_w, c) + ch;
                    for (int h = win.h0; h < win.h1; ++h)
                        for (int w = win.w0; w < win.w1; ++w) {
                            const size_t at = pixel_offset(b, h, w, d->in_h, d->in_w, c) + ch;
                            /* Strictly greater: ties keep the earlier element. */
                            if (x[at] > x[best]) best = at;
                        }
                    dx[best] += g[ch];
                }
            }
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
