/* upsample2d (Keras UpSampling2D): nearest repeats each pixel size times;
 * bilinear is tf.image.resize's, with half-pixel centers: output row i
 * reads source row (i + 0.5)/size - 0.5 between its two neighbours, the
 * edges clamped. The backward passes are the adjoints: each output gradient
 * goes back to the pixels the forward read, with the same weights. NHWC. */
#include <math.h>
#include <stdint.h>

#include "tdl/runtime.h"
#include "team.h"

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

/* One call's arguments, for the shares of the team (tdl_team_split). */
typedef struct upsample_job {
    const tdl_upsample2d_desc *d;
    float *out;             /* y, or dx */
    const float *in;        /* x, or dy */
    int oh, ow;
} upsample_job;

static upsample_job upsample_job_of(const tdl_upsample2d_desc *d, float *out, const float *in) {
    upsample_job j = {d, out, in, d->in_h * d->size_h, d->in_w * d->size_w};
    return j;
}

/* Floats each output pixel reads: one pixel (nearest) or four. */
static double taps_per_pixel(const tdl_upsample2d_desc *d) {
    return d->interpolation == TDL_INTERPOLATION_BILINEAR ? 4.0 : 1.0;
}

/* Output rows [first, last) of the batch, each b * OH + i. */
static void upsample_forward_rows(void *context, size_t first, size_t last) {
    const upsample_job *j = context;
    const tdl_upsample2d_desc *d = j->d;
    const size_t c = (size_t)d->channels, h = (size_t)d->in_h, w = (size_t)d->in_w;
    for (size_t row = first; row < last; ++row) {
        const size_t b = row / (size_t)j->oh;
        const int i = (int)(row % (size_t)j->oh);
        const float *image = j->in + b * h * w * c;
        const tap r = tap_at(d, i, d->in_h, d->size_h);
        const float *top = image + (size_t)r.lower * w * c, *bottom = image + (size_t)r.upper * w * c;
        for (int k = 0; k < j->ow; ++k) {
            const tap s = tap_at(d, k, d->in_w, d->size_w);
            float *out = j->out + (row * (size_t)j->ow + (size_t)k) * c;
            const float *tl = top + (size_t)s.lower * c, *tr = top + (size_t)s.upper * c;
            const float *bl = bottom + (size_t)s.lower * c, *br = bottom + (size_t)s.upper * c;
            for (size_t ch = 0; ch < c; ++ch) {
                const float upper_row = tl[ch] + (tr[ch] - tl[ch]) * s.lerp;
                const float lower_row = bl[ch] + (br[ch] - bl[ch]) * s.lerp;
                out[ch] = upper_row + (lower_row - upper_row) * r.lerp;
            }
        }
    }
}

/* x: (B,H,W,C) -> y: (B,H*sh,W*sw,C) */
void tdl_upsample2d_forward(float *y, const float *x, const tdl_upsample2d_desc *d, int batch) {
    if (!upsample_usable(d, batch) || y == NULL || x == NULL) return;
    upsample_job j = upsample_job_of(d, y, x);
    tdl_team_split((size_t)batch * (size_t)j.oh, (double)j.ow * d->channels * taps_per_pixel(d),
                   TDL_TEAM_MIN_THREAD_FLOATS, upsample_forward_rows, &j);
}

/* Adds an output row's gradient `g` onto input row `dx_row` through the
 * column taps, times `weight` (the row tap's weight for that row). Where
 * both taps are one pixel (nearest, or a clamped edge) it takes the whole
 * gradient at once, as the weights sum to 1. */
static void add_row_gradient(float *dx_row, const float *g, const upsample_job *j, float weight) {
    const tdl_upsample2d_desc *d = j->d;
    const size_t c = (size_t)d->channels;
    for (int k = 0; k < j->ow; ++k) {
        const tap s = tap_at(d, k, d->in_w, d->size_w);
        const float wl = 1.0f - s.lerp, wr = s.lerp;
        float *left = dx_row + (size_t)s.lower * c, *right = dx_row + (size_t)s.upper * c;
        const float *gk = g + (size_t)k * c;
        if (s.lower == s.upper) {
            for (size_t ch = 0; ch < c; ++ch) left[ch] += gk[ch] * weight;
            continue;
        }
        for (size_t ch = 0; ch < c; ++ch) {
            left[ch] += gk[ch] * weight * wl;
            right[ch] += gk[ch] * weight * wr;
        }
    }
}

/* Input rows [first, last) of the batch, each b * H + R: every output row
 * whose taps read row R adds its share, in output order, so each input row
 * is one thread's and the sums do not depend on the thread count. */
static void upsample_backward_rows(void *context, size_t first, size_t last) {
    const upsample_job *j = context;
    const tdl_upsample2d_desc *d = j->d;
    const size_t c = (size_t)d->channels, w = (size_t)d->in_w, out_row = (size_t)j->ow * c;
    for (size_t row = first; row < last; ++row) {
        const size_t b = row / (size_t)d->in_h;
        const int source = (int)(row % (size_t)d->in_h);
        float *dx_row = j->out + row * w * c;
        /* Only output rows within one size_h of this row's own can read it
         * (in 64 bits: (H + 1) * sh may not fit an int). */
        const int64_t low = ((int64_t)source - 1) * d->size_h, high = ((int64_t)source + 2) * d->size_h;
        const int from = low > 0 ? (int)low : 0, to = high < j->oh ? (int)high : j->oh;
        for (int i = from; i < to; ++i) {
            const tap r = tap_at(d, i, d->in_h, d->size_h);
            const float *g = j->in + (b * (size_t)j->oh + (size_t)i) * out_row;
            if (r.lower == source && r.upper == source)
                add_row_gradient(dx_row, g, j, 1.0f);
            else if (r.lower == source)
                add_row_gradient(dx_row, g, j, 1.0f - r.lerp);
            else if (r.upper == source)
                add_row_gradient(dx_row, g, j, r.lerp);
        }
    }
}

/* dy: (B,H*sh,W*sw,C) -> dx: (B,H,W,C) += */
void tdl_upsample2d_backward(float *dx, const float *dy, const tdl_upsample2d_desc *d, int batch) {
    if (!upsample_usable(d, batch) || dx == NULL || dy == NULL) return;
    upsample_job j = upsample_job_of(d, dx, dy);
    /* Each input row gathers from about size_h output rows of OW pixels. */
    const double row_work = (double)d->size_h * j.ow * d->channels * taps_per_pixel(d);
    tdl_team_split((size_t)batch * (size_t)d->in_h, row_work, TDL_TEAM_MIN_THREAD_FLOATS, upsample_backward_rows,
                   &j);
}
