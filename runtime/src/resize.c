/* upsample2d (Keras UpSampling2D): nearest repeats each pixel size times;
 * bilinear is tf.image.resize's, with half-pixel centers: output row i
 * reads source row (i + 0.5)/size - 0.5 between its two neighbours, the
 * edges clamped. The backward passes are the adjoints: each output gradient
 * goes back to the pixels the forward read, with the same weights. NHWC. */
#include <math.h>

#include "tdl/runtime.h"

static bool upsample_usable(const tdl_upsample2d_desc *d, int batch) {
    return d != NULL && batch > 0 && d->in_h > 0 && d->in_w > 0 && d->channels > 0 && d->size_h > 0 &&
           d->size_w > 0;
}

/* The two source pixels of output position i on one axis and the weight of
 * the second (TensorFlow's compute_interpolation_weights). */
typedef struct tap {
    int lower, upper;
    float lerp;
} tap;

static tap bilinear_tap(int i, int in_size, int size) {
    const float scale = 1.0f / (float)size;
    const float source = ((float)i + 0.5f) * scale - 0.5f;
    const float below = floorf(source);
    tap t;
    t.lower = below > 0.0f ? (int)below : 0;
    const int above = (int)ceilf(source);
    t.upper = above < in_size - 1 ? (above > 0 ? above : 0) : in_size - 1;
    t.lerp = source - below;
    return t;
}

/* A nearest neighbour is a bilinear tap with both pixels the same. */
static tap nearest_tap(int i, int size) {
    tap t = {i / size, i / size, 0.0f};
    return t;
}

static tap tap_at(const tdl_upsample2d_desc *d, int i, int in_size, int size) {
    return d->interpolation == TDL_INTERPOLATION_BILINEAR ? bilinear_tap(i, in_size, size) : nearest_tap(i, size);
}

/* x: (B,H,W,C) -> y: (B,H*sh,W*sw,C) */
void tdl_upsample2d_forward(float *y, const float *x, const tdl_upsample2d_desc *d, int batch) {
    if (!upsample_usable(d, batch) || y == NULL || x == NULL) return;
    const size_t c = (size_t)d->channels, h = (size_t)d->in_h, w = (size_t)d->in_w;
    const int oh = d->in_h * d->size_h, ow = d->in_w * d->size_w;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        const float *image = x + b * h * w * c;
        for (int i = 0; i < oh; ++i) {
            const tap r = tap_at(d, i, d->in_h, d->size_h);
            const float *top = image + (size_t)r.lower * w * c, *bottom = image + (size_t)r.upper * w * c;
            for (int j = 0; j < ow; ++j) {
                const tap s = tap_at(d, j, d->in_w, d->size_w);
                float *out = y + ((b * (size_t)oh + (size_t)i) * (size_t)ow + (size_t)j) * c;
                const float *tl = top + (size_t)s.lower * c, *tr = top + (size_t)s.upper * c;
                const float *bl = bottom + (size_t)s.lower * c, *br = bottom + (size_t)s.upper * c;
                for (size_t k = 0; k < c; ++k) {
                    const float upper_row = tl[k] + (tr[k] - tl[k]) * s.lerp;
                    const float lower_row = bl[k] + (br[k] - bl[k]) * s.lerp;
                    out[k] = upper_row + (lower_row - upper_row) * r.lerp;
                }
            }
        }
    }
}

/* dy: (B,H*sh,W*sw,C) -> dx: (B,H,W,C) += */
void tdl_upsample2d_backward(float *dx, const float *dy, const tdl_upsample2d_desc *d, int batch) {
    if (!upsample_usable(d, batch) || dx == NULL || dy == NULL) return;
    const size_t c = (size_t)d->channels, h = (size_t)d->in_h, w = (size_t)d->in_w;
    const int oh = d->in_h * d->size_h, ow = d->in_w * d->size_w;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        float *image = dx + b * h * w * c;
        for (int i = 0; i < oh; ++i) {
            const tap r = tap_at(d, i, d->in_h, d->size_h);
            float *top = image + (size_t)r.lower * w * c, *bottom = image + (size_t)r.upper * w * c;
            for (int j = 0; j < ow; ++j) {
                const tap s = tap_at(d, j, d->in_w, d->size_w);
                const float *g = dy + ((b * (size_t)oh + (size_t)i) * (size_t)ow + (size_t)j) * c;
                /* The forward's weights: (1 - ly)(1 - lx), (1 - ly)lx, ly(1 - lx), ly*lx. */
                const float wt = 1.0f - r.lerp, wb = r.lerp, wl = 1.0f - s.lerp, wr = s.lerp;
                float *tl = top + (size_t)s.lower * c, *tr = top + (size_t)s.upper * c;
                float *bl = bottom + (size_t)s.lower * c, *br = bottom + (size_t)s.upper * c;
                for (size_t k = 0; k < c; ++k) {
                    tl[k] += g[k] * wt * wl;
                    tr[k] += g[k] * wt * wr;
                    bl[k] += g[k] * wb * wl;
                    br[k] += g[k] * wb * wr;
                }
            }
        }
    }
}
