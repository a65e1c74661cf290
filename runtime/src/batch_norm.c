/* batch_norm: Keras' BatchNormalization over one axis of a tensor seen as
 * (rows, channels, inner), rows = batch * outer.
 *
 * Channels are processed in tiles of TILE: the per-channel sums of a tile
 * live in double on the stack (no workspace, no allocation), and with the
 * axis last (inner = 1) each row of a tile is TILE contiguous floats, so the
 * inner loops run along the channels and vectorise. The statistics are
 * two-pass (the mean, then the squared deviations from it) in double: a
 * batch of 32 28x28 images is 25,088 values per channel, too many for a
 * float running sum to keep 1e-6. */
#include <math.h>

#include "tdl/runtime.h"
#include "team.h"
#include "vector.h"

enum { TILE = 64 };

typedef struct view {
    size_t rows, inner;
    int channels;
    double count;   /* elements per channel: rows * inner */
} view;

static view view_of(const tdl_batch_norm_desc *d, int batch) {
    view v = {(size_t)batch * d->outer, d->inner, d->channels, 0.0};
    v.count = (double)v.rows * (double)v.inner;
    return v;
}

static bool valid(const tdl_batch_norm_desc *d, int batch) {
    return d && batch > 0 && d->channels > 0 && d->outer > 0 && d->inner > 0;
}

/* The start of channel c of row r. */
static size_t at(const view *v, size_t r, int c) {
    return (r * (size_t)v->channels + (size_t)c) * v->inner;
}

/* sum[k] += x[., c0 + k, .] (shift NULL), or the squares of x - shift[k]. */
static void tile_sums(double *sum, const float *x, const float *shift, const view *v, int c0, int n) {
    for (int k = 0; k < n; k++) sum[k] = 0.0;
    for (size_t r = 0; r < v->rows; r++) {
        if (v->inner == 1) {
            const float *row = x + at(v, r, c0);
            if (shift)
                for (int k = 0; k < n; k++) {
                    double e = (double)row[k] - (double)shift[k];
                    sum[k] += e * e;
                }
            else
                for (int k = 0; k < n; k++) sum[k] += (double)row[k];
            continue;
        }
        for (int k = 0; k < n; k++) {
            const float *p = x + at(v, r, c0 + k);
            double s = 0.0;
            if (shift)
                for (size_t i = 0; i < v->inner; i++) {
                    double e = (double)p[i] - (double)shift[k];
                    s += e * e;
                }
            else
                for (size_t i = 0; i < v->inner; i++) s += (double)p[i];
            sum[k] += s;
        }
    }
}

/* y = (x - mean) * scale + shift for one run of n elements of one channel
 * (inner > 1) or one row of a tile (inner = 1, per-element parameters). */
TDL_VECTOR_CLONES
static void affine_row(float *restrict y, const float *restrict x, const float *restrict mean,
                       const float *restrict scale, const float *restrict shift, int n) {
    for (int k = 0; k < n; k++) y[k] = (x[k] - mean[k]) * scale[k] + shift[k];
}

/* y = (x - mean) * scale + shift over a tile, per channel. */
static void tile_apply(float *y, const float *x, const float *mean, const float *scale, const float *shift,
                       const view *v, int c0, int n) {
    for (size_t r = 0; r < v->rows; r++) {
        if (v->inner == 1) {
            size_t o = at(v, r, c0);
            affine_row(y + o, x + o, mean, scale, shift, n);
            continue;
        }
        for (int k = 0; k < n; k++) {
            size_t o = at(v, r, c0 + k);
            for (size_t i = 0; i < v->inner; i++) y[o + i] = (x[o + i] - mean[k]) * scale[k] + shift[k];
        }
    }
}

/* The tile's scale = gamma / sqrt(variance + epsilon) and shift = beta. */
static void tile_scale(float *scale, float *shift, const float *variance, const float *gamma, const float *beta,
                       int c0, int n, float epsilon) {
    for (int k = 0; k < n; k++) {
        float inv_std = 1.0f / sqrtf(variance[c0 + k] + epsilon);
        scale[k] = gamma ? gamma[c0 + k] * inv_std : inv_std;
        shift[k] = beta ? beta[c0 + k] : 0.0f;
    }
}

/* One call, for the shares of the team: the channels are split, each
 * share taken tile by tile. A channel's sums run over the rows in the same
 * order whatever tile or share holds it, so every thread count gives the
 * same bits. */
typedef struct norm_job {
    view v;
    float epsilon;
    float *y, *dx, *dgamma, *dbeta;
    float *batch_mean, *batch_variance;   /* forward_train: written */
    const float *x, *dy, *mean, *variance, *gamma, *beta;
} norm_job;

/* Channel c0's tile within the share ending at `end`. */
static int tile_width(size_t c0, size_t end) {
    return end - c0 < TILE ? (int)(end - c0) : TILE;
}

static void train_channels(void *context, size_t begin, size_t end) {
    const norm_job *j = context;
    const view *v = &j->v;
    double sum[TILE];
    float scale[TILE], shift[TILE];
    for (size_t first = begin; first < end; first += TILE) {
        int c0 = (int)first, n = tile_width(first, end);
        tile_sums(sum, j->x, NULL, v, c0, n);
        for (int k = 0; k < n; k++) j->batch_mean[c0 + k] = (float)(sum[k] / v->count);
        tile_sums(sum, j->x, j->batch_mean + c0, v, c0, n);
        for (int k = 0; k < n; k++) j->batch_variance[c0 + k] = (float)(sum[k] / v->count);
        tile_scale(scale, shift, j->batch_variance, j->gamma, j->beta, c0, n, j->epsilon);
        tile_apply(j->y, j->x, j->batch_mean + c0, scale, shift, v, c0, n);
    }
}

void tdl_batch_norm_forward_train(float *y, float *mean, float *variance, const float *x, const float *gamma,
                                  const float *beta, const tdl_batch_norm_desc *d, int batch) {
    if (!valid(d, batch) || !y || !mean || !variance || !x) return;
    norm_job j = {.v = view_of(d, batch), .epsilon = d->epsilon, .y = y, .batch_mean = mean,
                  .batch_variance = variance, .x = x, .gamma = gamma, .beta = beta};
    /* Three passes over each channel: the sums, the squares, the output. */
    tdl_team_split((size_t)j.v.channels, 3.0 * j.v.count, TDL_TEAM_MIN_THREAD_FLOATS, train_channels, &j);
}

static void forward_channels(void *context, size_t begin, size_t end) {
    const norm_job *j = context;
    float scale[TILE], shift[TILE];
    for (size_t first = begin; first < end; first += TILE) {
        int c0 = (int)first, n = tile_width(first, end);
        tile_scale(scale, shift, j->variance, j->gamma, j->beta, c0, n, j->epsilon);
        tile_apply(j->y, j->x, j->mean + c0, scale, shift, &j->v, c0, n);
    }
}

void tdl_batch_norm_forward(float *y, const float *x, const float *mean, const float *variance,
                            const float *gamma, const float *beta, const tdl_batch_norm_desc *d, int batch) {
    if (!valid(d, batch) || !y || !x || !mean || !variance) return;
    norm_job j = {.v = view_of(d, batch), .epsilon = d->epsilon, .y = y, .x = x, .mean = mean,
                  .variance = variance, .gamma = gamma, .beta = beta};
    tdl_team_split((size_t)j.v.channels, 2.0 * j.v.count, TDL_TEAM_MIN_THREAD_FLOATS, forward_channels, &j);
}

void tdl_batch_norm_scale_shift(float *scale, float *shift, const float *mean, const float *variance,
                                const float *gamma, const float *beta, int channels, float epsilon) {
    if (!scale || !shift || !mean || !variance) return;
    for (int c = 0; c < channels; c++) {
        float inv_std = 1.0f / sqrtf(variance[c] + epsilon);
        scale[c] = gamma ? gamma[c] * inv_std : inv_std;
        shift[c] = (beta ? beta[c] : 0.0f) - mean[c] * scale[c];
    }
}

/* sum_dy[k] = sum(dy), sum_dyx[k] = sum(dy * (x - mean)) over a tile. */
static void tile_gradient_sums(double *sum_dy, double *sum_dyx, const float *dy, const float *x, const float *mean,
                               const view *v, int c0, int n) {
    for (int k = 0; k < n; k++) sum_dy[k] = sum_dyx[k] = 0.0;
    for (size_t r = 0; r < v->rows; r++) {
        if (v->inner == 1) {
            size_t o = at(v, r, c0);
            for (int k = 0; k < n; k++) {
                sum_dy[k] += (double)dy[o + k];
                sum_dyx[k] += (double)dy[o + k] * ((double)x[o + k] - (double)mean[k]);
            }
            continue;
        }
        for (int k = 0; k < n; k++) {
            size_t o = at(v, r, c0 + k);
            double s = 0.0, sx = 0.0;
            for (size_t i = 0; i < v->inner; i++) {
                s += (double)dy[o + i];
                sx += (double)dy[o + i] * ((double)x[o + i] - (double)mean[k]);
            }
            sum_dy[k] += s;
            sum_dyx[k] += sx;
        }
    }
}

/* dx += a * dy + b * (x - mean) + c for one row of a tile (per-element a, b, c). */
TDL_VECTOR_CLONES
static void gradient_row(float *restrict dx, const float *restrict dy, const float *restrict x,
                         const float *restrict mean, const float *restrict a, const float *restrict b,
                         const float *restrict c, int n) {
    for (int k = 0; k < n; k++) dx[k] += a[k] * dy[k] + b[k] * (x[k] - mean[k]) + c[k];
}

static void backward_channels(void *context, size_t begin, size_t end) {
    const norm_job *j = context;
    const view v = j->v;
    float *dx = j->dx, *dgamma = j->dgamma, *dbeta = j->dbeta;
    const float *dy = j->dy, *x = j->x, *mean = j->mean, *variance = j->variance, *gamma = j->gamma;
    double sum_dy[TILE], sum_dyx[TILE];
    float a[TILE], b[TILE], c[TILE];
    for (size_t first = begin; first < end; first += TILE) {
        int c0 = (int)first, n = tile_width(first, end);
        tile_gradient_sums(sum_dy, sum_dyx, dy, x, mean + c0, &v, c0, n);
        for (int k = 0; k < n; k++) {
            double inv_std = 1.0 / sqrt((double)variance[c0 + k] + (double)j->epsilon);
            double sum_dy_xhat = sum_dyx[k] * inv_std;
            if (dgamma) dgamma[c0 + k] += (float)sum_dy_xhat;
            if (dbeta) dbeta[c0 + k] += (float)sum_dy[k];
            /* dx = g inv_std (dy - sum_dy / N - xhat sum_dy_xhat / N), xhat = (x - mean) inv_std */
            double g = gamma ? (double)gamma[c0 + k] : 1.0;
            a[k] = (float)(g * inv_std);
            b[k] = (float)(-g * inv_std * inv_std * sum_dy_xhat / v.count);
            c[k] = (float)(-g * inv_std * sum_dy[k] / v.count);
        }
        if (!dx) continue;
        for (size_t r = 0; r < v.rows; r++) {
            if (v.inner == 1) {
                size_t o = at(&v, r, c0);
                gradient_row(dx + o, dy + o, x + o, mean + c0, a, b, c, n);
                continue;
            }
            for (int k = 0; k < n; k++) {
                size_t o = at(&v, r, c0 + k);
                for (size_t i = 0; i < v.inner; i++)
                    dx[o + i] += a[k] * dy[o + i] + b[k] * (x[o + i] - mean[c0 + k]) + c[k];
            }
        }
    }
}

void tdl_batch_norm_backward(float *dx, float *dgamma, float *dbeta, const float *dy, const float *x,
                             const float *mean, const float *variance, const float *gamma,
                             const tdl_batch_norm_desc *d, int batch) {
    if (!valid(d, batch) || !dy || !x || !mean || !variance) return;
    norm_job j = {.v = view_of(d, batch), .epsilon = d->epsilon, .dx = dx, .dgamma = dgamma, .dbeta = dbeta,
                  .x = x, .dy = dy, .mean = mean, .variance = variance, .gamma = gamma};
    /* Two passes over each channel: the gradient sums, then dx. */
    tdl_team_split((size_t)j.v.channels, 2.0 * j.v.count, TDL_TEAM_MIN_THREAD_FLOATS, backward_channels, &j);
}

TDL_VECTOR_CLONES
void tdl_batch_norm_update_moving(float *restrict moving, const float *restrict batch_statistic, size_t n,
                                  float momentum) {
    if (!moving || !batch_statistic) return;
    for (size_t i = 0; i < n; i++) moving[i] = moving[i] * momentum + batch_statistic[i] * (1.0f - momentum);
}
