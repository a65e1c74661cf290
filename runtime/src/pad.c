/* zero_padding2d and cropping2d: one kernel pair, since cropping is padding
 * by a negative amount. Each output row is a run of zeros, a copy of the
 * overlapping part of one input row, and zeros again. NHWC. */
#include <string.h>

#include "tdl/runtime.h"
#include "team.h"

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

/* One call's arguments, for the shares of the team (tdl_team_split). */
typedef struct pad_job {
    const tdl_pad2d_desc *d;
    float *out;             /* y, or dx */
    const float *in;        /* x, or dy */
    size_t oh, ow, c;
    int begin, end;         /* copied_columns */
} pad_job;

static pad_job pad_job_of(const tdl_pad2d_desc *d, float *out, const float *in) {
    pad_job j = {d, out, in, (size_t)out_height(d), (size_t)out_width(d), (size_t)d->channels, 0, 0};
    copied_columns(d, &j.begin, &j.end);
    return j;
}

/* Output rows [first, last) of the batch, each b * oh + i. */
static void pad_forward_rows(void *context, size_t first, size_t last) {
    const pad_job *j = context;
    const tdl_pad2d_desc *d = j->d;
    const size_t c = j->c, ow = j->ow;
    for (size_t r = first; r < last; ++r) {
        const size_t b = r / j->oh, i = r % j->oh;
        float *row = j->out + r * ow * c;
        const long source = (long)i - d->top;
        if (source < 0 || source >= d->in_h || j->begin >= j->end) {
            memset(row, 0, ow * c * sizeof *row);
            continue;
        }
        const float *in = j->in + ((b * (size_t)d->in_h + (size_t)source) * (size_t)d->in_w) * c;
        memset(row, 0, (size_t)j->begin * c * sizeof *row);
        memcpy(row + (size_t)j->begin * c, in + (size_t)(j->begin - d->left) * c,
               (size_t)(j->end - j->begin) * c * sizeof *row);
        memset(row + (size_t)j->end * c, 0, (ow - (size_t)j->end) * c * sizeof *row);
    }
}

/* x: (B,H,W,C) -> y: (B,H+top+bottom,W+left+right,C) */
void tdl_pad2d_forward(float *y, const float *x, const tdl_pad2d_desc *d, int batch) {
    if (!pad_usable(d, batch) || y == NULL || x == NULL) return;
    pad_job j = pad_job_of(d, y, x);
    tdl_team_split((size_t)batch * j.oh, (double)j.ow * (double)j.c, TDL_TEAM_MIN_THREAD_FLOATS, pad_forward_rows,
                   &j);
}

/* Output-gradient rows [first, last): each copied row adds onto its own input row. */
static void pad_backward_rows(void *context, size_t first, size_t last) {
    const pad_job *j = context;
    const tdl_pad2d_desc *d = j->d;
    const size_t c = j->c, run = (size_t)(j->end - j->begin) * c;
    for (size_t r = first; r < last; ++r) {
        const size_t b = r / j->oh, i = r % j->oh;
        const long source = (long)i - d->top;
        if (source < 0 || source >= d->in_h) continue;
        const float *g = j->in + (r * j->ow + (size_t)j->begin) * c;
        float *out = j->out +
                     ((b * (size_t)d->in_h + (size_t)source) * (size_t)d->in_w + (size_t)(j->begin - d->left)) * c;
        for (size_t k = 0; k < run; ++k) out[k] += g[k];
    }
}

/* dy: (B,H',W',C) -> dx: (B,H,W,C) += the copied part. */
void tdl_pad2d_backward(float *dx, const float *dy, const tdl_pad2d_desc *d, int batch) {
    if (!pad_usable(d, batch) || dx == NULL || dy == NULL) return;
    pad_job j = pad_job_of(d, dx, dy);
    if (j.begin >= j.end) return;
    tdl_team_split((size_t)batch * j.oh, (double)(j.end - j.begin) * (double)j.c, TDL_TEAM_MIN_THREAD_FLOATS,
                   pad_backward_rows, &j);
}
