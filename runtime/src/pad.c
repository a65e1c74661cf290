/* zero_padding2d and cropping2d: one kernel pair, since cropping is padding
 * by a negative amount. Each output row is a run of zeros, a copy of the
 * overlapping part of one input row, and zeros again. NHWC. */
#include <string.h>

#include "tdl/runtime.h"

static int out_height(const tdl_pad2d_desc *d) {
    return d->in_h + d->top + d->bottom;
}

static int out_width(const tdl_pad2d_desc *d) {
    return d->in_w + d->left + d->right;
}

static bool pad_usable(const tdl_pad2d_desc *d, int batch) {
    return d != NULL && batch > 0 && d->in_h > 0 && d->in_w > 0 && d->channels > 0 && out_height(d) > 0 &&
           out_width(d) > 0;
}

/* The output columns [begin, end) that come from input columns [begin - left, end - left). */
static void copied_columns(const tdl_pad2d_desc *d, int *begin, int *end) {
    *begin = d->left > 0 ? d->left : 0;
    const int last = d->in_w + d->left;   /* one past the last input column, in output coordinates */
    *end = last < out_width(d) ? last : out_width(d);
}

/* x: (B,H,W,C) -> y: (B,H+top+bottom,W+left+right,C) */
void tdl_pad2d_forward(float *y, const float *x, const tdl_pad2d_desc *d, int batch) {
    if (!pad_usable(d, batch) || y == NULL || x == NULL) return;
    const size_t c = (size_t)d->channels, oh = (size_t)out_height(d), ow = (size_t)out_width(d);
    int begin, end;
    copied_columns(d, &begin, &end);
    for (size_t b = 0; b < (size_t)batch; ++b) {
        for (size_t i = 0; i < oh; ++i) {
            float *row = y + ((b * oh + i) * ow) * c;
            const long source = (long)i - d->top;
            if (source < 0 || source >= d->in_h || begin >= end) {
                memset(row, 0, ow * c * sizeof *row);
                continue;
            }
            const float *in = x + ((b * (size_t)d->in_h + (size_t)source) * (size_t)d->in_w) * c;
            memset(row, 0, (size_t)begin * c * sizeof *row);
            memcpy(row + (size_t)begin * c, in + (size_t)(begin - d->left) * c, (size_t)(end - begin) * c * sizeof *row);
            memset(row + (size_t)end * c, 0, (ow - (size_t)end) * c * sizeof *row);
        }
    }
}

/* dy: (B,H',W',C) -> dx: (B,H,W,C) += the copied part. */
void tdl_pad2d_backward(float *dx, const float *dy, const tdl_pad2d_desc *d, int batch) {
    if (!pad_usable(d, batch) || dx == NULL || dy == NULL) return;
    const size_t c = (size_t)d->channels, oh = (size_t)out_height(d), ow = (size_t)out_width(d);
    int begin, end;
    copied_columns(d, &begin, &end);
    if (begin >= end) return;
    const size_t run = (size_t)(end - begin) * c;
    for (size_t b = 0; b < (size_t)batch; ++b) {
        for (size_t i = 0; i < oh; ++i) {
            const long source = (long)i - d->top;
            if (source < 0 || source >= d->in_h) continue;
            const float *g = dy + ((b * oh + i) * ow + (size_t)begin) * c;
            float *out = dx + ((b * (size_t)d->in_h + (size_t)source) * (size_t)d->in_w + (size_t)(begin - d->left)) * c;
            for (size_t k = 0; k < run; ++k) out[k] += g[k];
        }
    }
}
