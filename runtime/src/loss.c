/* Losses: scalar means over positions, computed in double and kept finite for
 * logits of any size (log-sum-exp, log1p, expm1). Every backward accumulates. */
#include "tdl/runtime.h"

#include <math.h>
#include <stdbool.h>

#include "softmax_rows.h"
#include "team.h"

/* ---------------------------------------------------------------------- */
/* Shared pieces                                                          */
/* ---------------------------------------------------------------------- */

/* row: (classes) -> log(sum(exp(row))), computed around the maximum: one
 * row of softmax_rows_lse, for the focal losses, which go a row at a time. */
static double log_sum_exp(const float *row, size_t classes) {
    double lse;
    softmax_rows_lse(&lse, row, 1, classes);
    return lse;
}

/* log(1 + exp(x)) without overflow. */
static double softplus(double x) {
    return fmax(x, 0.0) + log1p(exp(-fabs(x)));
}

static double sigmoid(double x) {
    if (x >= 0.0) {
        return 1.0 / (1.0 + exp(-x));
    }
    const double e = exp(x);
    return e / (1.0 + e);
}

/* Checks sizes and that every label lies in [0, limit). Runs before any output
 * is written, so a bad label leaves the caller's buffers untouched. */
static tdl_status check_sparse(const char *op, const void *out, const float *logits, const int32_t *labels,
                               size_t positions, int classes, int limit) {
    if (out == NULL || logits == NULL || labels == NULL) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: NULL tensor", op);
    }
    if (positions == 0 || classes <= 0) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: %zu positions of %d classes", op, positions, classes);
    }
    for (size_t i = 0; i < positions; ++i) {
        if (labels[i] < 0 || labels[i] >= limit) {
            return tdl_set_error(TDL_STATUS_BAD_LABEL, "%s: label %d at position %zu is outside [0, %d)", op,
                                 (int)labels[i], i, limit);
        }
    }
    return TDL_STATUS_OK;
}

/* ---------------------------------------------------------------------- */
/* Label smoothing                                                        */
/* ---------------------------------------------------------------------- */

/* A target z moved towards the uniform 1/K: z (1 - s) + s / K, exactly z
 * when s == 0. Every cross-entropy is linear in its targets, so smoothing
 * changes the targets and nothing else; the derivative with respect to the
 * unsmoothed labels carries the factor 1 - s. */
static double smooth(double z, double s, double k) {
    return z * (1.0 - s) + s / k;
}

/* NaN is outside too. */
static tdl_status check_smoothing(const char *op, float s) {
    if (s >= 0.0f && s <= 1.0f) {
        return TDL_STATUS_OK;
    }
    return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: label_smoothing must be in [0, 1], got %g", op, (double)s);
}

static tdl_status null_tensor(const char *op) {
    return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: NULL tensor or empty size", op);
}

/* ---------------------------------------------------------------------- */
/* Softmax cross-entropy, sparse labels                                   */
/* ---------------------------------------------------------------------- */

/* The rows of a softmax cross-entropy go to the team a block of rows (or a
 * wide row) at a time, from this many logits a thread: about 10 us of their
 * work, over the few microseconds of waking a thread. A training step's
 * logits (128 x 10) stay on the caller; unet_small's per-pixel loss
 * (32,768 x 3 at batch 32) splits. */
#define SOFTMAX_MIN_THREAD_LOGITS 8192.0

/* The forward's sum goes in this many slots at most, each a fixed range of
 * blocks of rows whichever thread sums it, added in slot order: the same
 * bits on any number of threads. */
enum { SOFTMAX_SUM_SLOTS = 64 };

/* Calls use(context, row, lse, first, p, count) with the softmax p[j] of
 * classes [first, first + count) of each row in [begin, end) of logits
 * (rows x classes), in row order and each row's pieces in class order:
 * whole rows a block at a time, or a row too wide for the scratch in
 * pieces. lse is the row's log-sum-exp when with_lse (else NaN: one log a
 * row saved). */
typedef void softmax_use(void *context, size_t row, double lse, size_t first, const double *p, size_t count);

static void for_each_softmax_piece(const float *logits, size_t begin, size_t end, size_t classes, bool with_lse,
                                   softmax_use *use, void *context) {
    double p[SOFTMAX_BUFFER], lse[SOFTMAX_ROWS_MAX];
    if (classes <= SOFTMAX_BUFFER) {
        const size_t block = softmax_block_rows(classes);
        for (size_t p0 = begin; p0 < end; p0 += block) {
            const size_t rows = end - p0 < block ? end - p0 : block;
            softmax_rows_probabilities(p, with_lse ? lse : NULL, logits + p0 * classes, rows, classes);
            for (size_t r = 0; r < rows; ++r) {
                use(context, p0 + r, with_lse ? lse[r] : NAN, 0, p + r * classes, classes);
            }
        }
        return;
    }
    for (size_t row = begin; row < end; ++row) {
        softmax_rows_lse(lse, logits + row * classes, 1, classes);
        for (size_t first = 0; first < classes; first += SOFTMAX_BUFFER) {
            const size_t count = classes - first < SOFTMAX_BUFFER ? classes - first : SOFTMAX_BUFFER;
            softmax_row_piece(p, logits + row * classes, lse[0], first, count);
            use(context, row, lse[0], first, p, count);
        }
    }
}

/* The sum of the terms lse - (1 - s) logits[label] - s/C sum_c logits_c of
 * rows [begin, end), in row order. */
static double sparse_xent_rows(const float *logits, const int32_t *labels, size_t begin, size_t end, size_t width,
                               double s) {
    const size_t block = softmax_block_rows(width);
    double lse[SOFTMAX_ROWS_MAX];
    double total = 0.0;
    for (size_t p0 = begin; p0 < end; p0 += block) {
        const size_t rows = end - p0 < block ? end - p0 : block;
        softmax_rows_lse(lse, logits + p0 * width, rows, width);
        for (size_t r = 0; r < rows; ++r) {
            const float *row = logits + (p0 + r) * width;
            total += lse[r] - (1.0 - s) * row[labels[p0 + r]];
            if (s > 0.0) {
                double sum = 0.0;
                for (size_t c = 0; c < width; ++c) {
                    sum += row[c];
                }
                total -= s / (double)width * sum;
            }
        }
    }
    return total;
}

typedef struct sparse_xent_sum {
    const float *logits;
    const int32_t *labels;
    size_t positions, width, block, blocks, slots;
    double s;
    double partial[SOFTMAX_SUM_SLOTS];
} sparse_xent_sum;

static void sum_slots(void *context, size_t begin, size_t end) {
    sparse_xent_sum *j = context;
    for (size_t slot = begin; slot < end; ++slot) {
        size_t first_block, end_block;
        tdl_team_share(j->blocks, (int)slot, (int)j->slots, &first_block, &end_block);
        const size_t row_end = end_block * j->block < j->positions ? end_block * j->block : j->positions;
        j->partial[slot] = sparse_xent_rows(j->logits, j->labels, first_block * j->block, row_end, j->width, j->s);
    }
}

/* logits: (P,C), labels: (P) -> loss: () = mean_p sum_c z_pc (lse_p - logits_pc),
 * z_p = one_hot(label_p) smoothed: lse - (1 - s) logits[label] - s/C sum_c logits_c. */
static tdl_status sparse_xent_forward(float *loss, const float *logits, const int32_t *labels, size_t positions,
                                      int classes, double s) {
    tdl_status status = check_sparse("sparse_softmax_cross_entropy", loss, logits, labels, positions, classes,
                                     classes);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    sparse_xent_sum j = {.logits = logits, .labels = labels, .positions = positions, .width = (size_t)classes,
                         .block = softmax_block_rows((size_t)classes), .s = s};
    j.blocks = positions / j.block + (positions % j.block != 0);
    j.slots = j.blocks < SOFTMAX_SUM_SLOTS ? j.blocks : SOFTMAX_SUM_SLOTS;
    const double logits_per_slot = (double)positions * (double)classes / (double)j.slots;
    tdl_team_split(j.slots, logits_per_slot, SOFTMAX_MIN_THREAD_LOGITS, sum_slots, &j);
    double total = 0.0;
    for (size_t slot = 0; slot < j.slots; ++slot) {
        total += j.partial[slot];
    }
    *loss = (float)(total / (double)positions);
    return TDL_STATUS_OK;
}

typedef struct sparse_xent_gradient {
    float *dlogits;
    const float *logits;
    const int32_t *labels;
    size_t positions, classes, block;
    double scale, s;
} sparse_xent_gradient;

static void add_sparse_xent_gradient(void *context, size_t row, double lse, size_t first, const double *p,
                                     size_t count) {
    (void)lse;
    const sparse_xent_gradient *g = context;
    float *drow = g->dlogits + row * g->classes;
    for (size_t j = 0; j < count; ++j) {
        const size_t c = first + j;
        const double z = smooth(c == (size_t)g->labels[row] ? 1.0 : 0.0, g->s, (double)g->classes);
        drow[c] += (float)(g->scale * (p[j] - z));
    }
}

/* Blocks of rows [begin, end): each row's gradient depends on that row
 * alone, so any split gives the same bits. */
static void sparse_xent_gradient_blocks(void *context, size_t begin, size_t end) {
    sparse_xent_gradient *g = context;
    const size_t row_end = end * g->block < g->positions ? end * g->block : g->positions;
    for_each_softmax_piece(g->logits, begin * g->block, row_end, g->classes, false, add_sparse_xent_gradient, g);
}

/* logits: (P,C), labels: (P) -> dlogits: (P,C) += dloss / P * (softmax - z) */
static tdl_status sparse_xent_backward(float *dlogits, float dloss, const float *logits, const int32_t *labels,
                                       size_t positions, int classes, double s) {
    tdl_status status = check_sparse("sparse_softmax_cross_entropy", dlogits, logits, labels, positions,
                                     classes, classes);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    sparse_xent_gradient g = {.dlogits = dlogits, .logits = logits, .labels = labels, .positions = positions,
                              .classes = (size_t)classes, .block = softmax_block_rows((size_t)classes),
                              .scale = (double)dloss / (double)positions, .s = s};
    const size_t blocks = positions / g.block + (positions % g.block != 0);
    tdl_team_split(blocks, (double)(g.block * g.classes), SOFTMAX_MIN_THREAD_LOGITS, sparse_xent_gradient_blocks,
                   &g);
    return TDL_STATUS_OK;
}

tdl_status tdl_sparse_softmax_xent_forward(float *loss, const float *logits, const int32_t *labels,
                                           size_t positions, int classes) {
    return sparse_xent_forward(loss, logits, labels, positions, classes, 0.0);
}

tdl_status tdl_sparse_softmax_xent_backward(float *dlogits, float dloss, const float *logits,
                                            const int32_t *labels, size_t positions, int classes) {
    return sparse_xent_backward(dlogits, dloss, logits, labels, positions, classes, 0.0);
}

tdl_status tdl_sparse_softmax_xent_smoothed_forward(float *loss, const float *logits, const int32_t *labels,
                                                    size_t positions, int classes, float label_smoothing) {
    tdl_status status = check_smoothing("sparse_softmax_cross_entropy", label_smoothing);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    return sparse_xent_forward(loss, logits, labels, positions, classes, label_smoothing);
}

tdl_status tdl_sparse_softmax_xent_smoothed_backward(float *dlogits, float dloss, const float *logits,
                                                     const int32_t *labels, size_t positions, int classes,
                                                     float label_smoothing) {
    tdl_status status = check_smoothing("sparse_softmax_cross_entropy", label_smoothing);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    return sparse_xent_backward(dlogits, dloss, logits, labels, positions, classes, label_smoothing);
}

/* ---------------------------------------------------------------------- */
/* Softmax cross-entropy, probability labels                              */
/* ---------------------------------------------------------------------- */

/* logits, labels: (P,C) -> loss: () = mean_p sum_c z_pc * (lse_p - logits_pc), z smoothed labels */
static void softmax_xent_forward(float *loss, const float *logits, const float *labels, size_t positions,
                                 int classes, double s) {
    const size_t width = (size_t)classes;
    const size_t block = softmax_block_rows(width);
    double lse[SOFTMAX_ROWS_MAX];
    double total = 0.0;
    for (size_t p0 = 0; p0 < positions; p0 += block) {
        const size_t rows = positions - p0 < block ? positions - p0 : block;
        softmax_rows_lse(lse, logits + p0 * width, rows, width);
        for (size_t r = 0; r < rows; ++r) {
            const float *row = logits + (p0 + r) * width;
            const float *z = labels + (p0 + r) * width;
            for (size_t c = 0; c < width; ++c) {
                total += smooth(z[c], s, (double)classes) * (lse[r] - row[c]);
            }
        }
    }
    *loss = (float)(total / (double)positions);
}

typedef struct softmax_xent_gradient {
    float *dlogits, *dlabels;
    const float *logits, *labels;
    size_t classes;
    double scale, s;
    double label_sum; /* of the row whose pieces are under way: one thread walks the rows */
} softmax_xent_gradient;

static void add_softmax_xent_gradient(void *context, size_t row, double lse, size_t first, const double *p,
                                      size_t count) {
    softmax_xent_gradient *g = context;
    const size_t base = row * g->classes;
    const double classes = (double)g->classes;
    if (first == 0) {
        g->label_sum = 0.0;
        for (size_t c = 0; c < g->classes; ++c) {
            g->label_sum += smooth(g->labels[base + c], g->s, classes);
        }
    }
    for (size_t j = 0; j < count; ++j) {
        const size_t i = base + first + j;
        g->dlogits[i] += (float)(g->scale * (g->label_sum * p[j] - smooth(g->labels[i], g->s, classes)));
        if (g->dlabels != NULL) {
            const double log_p = (double)g->logits[i] - lse;
            g->dlabels[i] += (float)(g->scale * (1.0 - g->s) * -log_p);
        }
    }
}

/* logits, labels: (P,C) -> dlogits += dloss / P * (sum(z) * softmax - z),
 * dlabels (optional) += dloss / P * (1 - s) * -log_softmax.
 * The sum(z) factor is the exact derivative; it is 1 for labels that sum to 1. */
static void softmax_xent_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                                  const float *labels, size_t positions, int classes, double s) {
    softmax_xent_gradient g = {dlogits, dlabels, logits, labels, (size_t)classes,
                               (double)dloss / (double)positions, s, 0.0};
    for_each_softmax_piece(logits, 0, positions, (size_t)classes, dlabels != NULL, add_softmax_xent_gradient, &g);
}

void tdl_softmax_xent_forward(float *loss, const float *logits, const float *labels, size_t positions,
                              int classes) {
    if (loss == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0) {
        return;
    }
    softmax_xent_forward(loss, logits, labels, positions, classes, 0.0);
}

void tdl_softmax_xent_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                               const float *labels, size_t positions, int classes) {
    if (dlogits == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0) {
        return;
    }
    softmax_xent_backward(dlogits, dlabels, dloss, logits, labels, positions, classes, 0.0);
}

tdl_status tdl_softmax_xent_smoothed_forward(float *loss, const float *logits, const float *labels,
                                             size_t positions, int classes, float label_smoothing) {
    if (loss == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0) {
        return null_tensor("softmax_cross_entropy");
    }
    tdl_status status = check_smoothing("softmax_cross_entropy", label_smoothing);
    if (status == TDL_STATUS_OK) {
        softmax_xent_forward(loss, logits, labels, positions, classes, label_smoothing);
    }
    return status;
}

tdl_status tdl_softmax_xent_smoothed_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                                              const float *labels, size_t positions, int classes,
                                              float label_smoothing) {
    if (dlogits == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0) {
        return null_tensor("softmax_cross_entropy");
    }
    tdl_status status = check_smoothing("softmax_cross_entropy", label_smoothing);
    if (status == TDL_STATUS_OK) {
        softmax_xent_backward(dlogits, dlabels, dloss, logits, labels, positions, classes, label_smoothing);
    }
    return status;
}

/* ---------------------------------------------------------------------- */
/* Sigmoid cross-entropy                                                  */
/* ---------------------------------------------------------------------- */

/* logits, labels: (n) -> loss: () = mean (max(x,0) - x z + log1p(exp(-|x|))), z smoothed towards 1/2 */
static void sigmoid_xent_forward(float *loss, const float *logits, const float *labels, size_t n, double s) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double x = logits[i];
        total += softplus(x) - x * smooth(labels[i], s, 2.0);
    }
    *loss = (float)(total / (double)n);
}

/* dlogits += dloss / n * (sigmoid(x) - z); dlabels (optional) += dloss / n * (1 - s) * -x */
static void sigmoid_xent_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                                  const float *labels, size_t n, double s) {
    const double scale = (double)dloss / (double)n;
    for (size_t i = 0; i < n; ++i) {
        const double x = logits[i];
        dlogits[i] += (float)(scale * (sigmoid(x) - smooth(labels[i], s, 2.0)));
        if (dlabels != NULL) {
            dlabels[i] += (float)(scale * (1.0 - s) * -x);
        }
    }
}

void tdl_sigmoid_xent_forward(float *loss, const float *logits, const float *labels, size_t n) {
    if (loss == NULL || logits == NULL || labels == NULL || n == 0) {
        return;
    }
    sigmoid_xent_forward(loss, logits, labels, n, 0.0);
}

void tdl_sigmoid_xent_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                               const float *labels, size_t n) {
    if (dlogits == NULL || logits == NULL || labels == NULL || n == 0) {
        return;
    }
    sigmoid_xent_backward(dlogits, dlabels, dloss, logits, labels, n, 0.0);
}

/* The elementwise binary cross-entropies (sigmoid on logits, binary on
 * probabilities) share their signature: one checker-and-dispatcher each way. */
typedef void elementwise_xent_forward(float *loss, const float *x, const float *labels, size_t n, double s);
typedef void elementwise_xent_backward(float *dx, float *dlabels, float dloss, const float *x, const float *labels,
                                       size_t n, double s);

static tdl_status smoothed_elementwise_forward(const char *op, elementwise_xent_forward *forward, float *loss,
                                               const float *x, const float *labels, size_t n, float s) {
    if (loss == NULL || x == NULL || labels == NULL || n == 0) {
        return null_tensor(op);
    }
    tdl_status status = check_smoothing(op, s);
    if (status == TDL_STATUS_OK) {
        forward(loss, x, labels, n, s);
    }
    return status;
}

/* dx may be NULL for binary_cross_entropy (only the labels' gradient wanted). */
static tdl_status smoothed_elementwise_backward(const char *op, elementwise_xent_backward *backward, float *dx,
                                                float *dlabels, float dloss, const float *x, const float *labels,
                                                size_t n, float s) {
    if (x == NULL || labels == NULL || n == 0) {
        return null_tensor(op);
    }
    tdl_status status = check_smoothing(op, s);
    if (status == TDL_STATUS_OK) {
        backward(dx, dlabels, dloss, x, labels, n, s);
    }
    return status;
}

tdl_status tdl_sigmoid_xent_smoothed_forward(float *loss, const float *logits, const float *labels, size_t n,
                                             float label_smoothing) {
    return smoothed_elementwise_forward("sigmoid_cross_entropy", sigmoid_xent_forward, loss, logits, labels, n,
                                        label_smoothing);
}

tdl_status tdl_sigmoid_xent_smoothed_backward(float *dlogits, float *dlabels, float dloss, const float *logits,
                                              const float *labels, size_t n, float label_smoothing) {
    if (dlogits == NULL) {
        return null_tensor("sigmoid_cross_entropy");
    }
    return smoothed_elementwise_backward("sigmoid_cross_entropy", sigmoid_xent_backward, dlogits, dlabels, dloss,
                                         logits, labels, n, label_smoothing);
}

/* ---------------------------------------------------------------------- */
/* Focal loss                                                             */
/* ---------------------------------------------------------------------- */
/* Softmax form, one class c with l = log p_c (from log-softmax, so finite for
 * any logits) and q = 1 - p_c = -expm1(l):
 *     term(l)   = -q^gamma * l
 *     term'(l)  = -q^gamma * (1 - gamma * p * l / q)
 * l / q -> -1 as p -> 1, so the ratio is replaced by its limit when q == 0;
 * that keeps gamma < 1 finite and gives -1 at gamma == 0 (plain cross-entropy).
 * The logit gradient follows from dl_c/dx_j = [c == j] - p_j. */
static double focal_term(double log_p, double gamma, double *dterm_dlog_p) {
    const double p = exp(log_p);
    const double q = -expm1(log_p);
    const double q_gamma = pow(q, gamma); /* pow(0, 0) == 1 */
    const double ratio = q > 0.0 ? log_p / q : -1.0;
    *dterm_dlog_p = -q_gamma * (1.0 - gamma * p * ratio);
    return -q_gamma * log_p;
}

/* Binary (sigmoid) form for one logit x and a target y in [0, 1]:
 *     p = sigmoid(x), ce = softplus(x) - x y, p_t = p y + (1 - p)(1 - y),
 *     q = 1 - p_t, alpha_t = alpha y + (1 - alpha)(1 - y),
 *     L = alpha_t q^gamma ce
 *     dL/dx = alpha_t q^gamma (gamma ce dq/dx / q + p - y),  dq/dx = p (1 - p)(1 - 2y).
 * |dq/dx| <= q, so the ratio is bounded; when q == 0 the target is met exactly
 * and ce == 0, so the gamma term vanishes. */
static double binary_focal_term(double x, double y, const tdl_focal_desc *d, double *dterm_dx) {
    const double p = sigmoid(x);
    const double p_complement = sigmoid(-x); /* 1 - p without cancellation */
    const double ce = softplus(x) - x * y;
    const double q = y * p_complement + (1.0 - y) * p;
    const double alpha_t = d->alpha * y + (1.0 - d->alpha) * (1.0 - y);
    const double q_gamma = pow(q, d->gamma);
    const double dq_over_q = q > 0.0 ? p * p_complement * (1.0 - 2.0 * y) / q : 0.0;
    *dterm_dx = alpha_t * q_gamma * (d->gamma * ce * dq_over_q + (p - y));
    return alpha_t * q_gamma * ce;
}

static bool focal_desc_valid(const tdl_focal_desc *d) {
    return d != NULL && d->gamma >= 0.0f && isfinite(d->gamma) && isfinite(d->alpha);
}

/* logits: (P,C), labels: (P) in [0, C) (in {0, 1} when C == 1) -> loss: () */
tdl_status tdl_sparse_focal_forward(float *loss, const float *logits, const int32_t *labels,
                                    size_t positions, int classes, const tdl_focal_desc *d) {
    if (!focal_desc_valid(d)) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "focal_loss: gamma must be finite and >= 0");
    }
    const int label_limit = classes == 1 ? 2 : classes;
    tdl_status status = check_sparse("focal_loss", loss, logits, labels, positions, classes, label_limit);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    const size_t width = (size_t)classes;
    double total = 0.0;
    double unused;
    for (size_t p = 0; p < positions; ++p) {
        const float *row = logits + p * width;
        if (classes == 1) {
            total += binary_focal_term(row[0], labels[p], d, &unused);
        } else {
            const double log_p = (double)row[labels[p]] - log_sum_exp(row, width);
            total += d->alpha * focal_term(log_p, d->gamma, &unused);
        }
    }
    *loss = (float)(total / (double)positions);
    return TDL_STATUS_OK;
}

/* logits: (P,C), labels: (P) -> dlogits: (P,C) += dloss / P * dL/dlogits */
tdl_status tdl_sparse_focal_backward(float *dlogits, float dloss, const float *logits,
                                     const int32_t *labels, size_t positions, int classes,
                                     const tdl_focal_desc *d) {
    if (!focal_desc_valid(d)) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "focal_loss: gamma must be finite and >= 0");
    }
    const int label_limit = classes == 1 ? 2 : classes;
    tdl_status status = check_sparse("focal_loss", dlogits, logits, labels, positions, classes, label_limit);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    const size_t width = (size_t)classes;
    const double scale = (double)dloss / (double)positions;
    for (size_t p = 0; p < positions; ++p) {
        const float *row = logits + p * width;
        float *drow = dlogits + p * width;
        if (classes == 1) {
            double dx;
            binary_focal_term(row[0], labels[p], d, &dx);
            drow[0] += (float)(scale * dx);
            continue;
        }
        const double lse = log_sum_exp(row, width);
        const size_t target = (size_t)labels[p];
        double dterm;
        focal_term((double)row[target] - lse, d->gamma, &dterm);
        const double g = scale * d->alpha * dterm;
        for (size_t c = 0; c < width; ++c) {
            const double dlog_p_dx = (c == target ? 1.0 : 0.0) - exp((double)row[c] - lse);
            drow[c] += (float)(g * dlog_p_dx);
        }
    }
    return TDL_STATUS_OK;
}

/* The target of class c of one row: the label row y (dense form) or, with
 * y NULL, one_hot(label) (sparse form), smoothed by s over K classes. */
static double focal_target(const float *y, int32_t label, size_t c, double s, double k) {
    return smooth(y != NULL ? (double)y[c] : (double)(c == (size_t)label), s, k);
}

/* One row of the softmax form, sum_c alpha z_c term(log p_c) with targets
 * z from focal_target; with drow, drow += scale * its logit gradient
 * g_j - p_j sum_c g_c, g_c = alpha z_c term'(log p_c). */
static double focal_row(const float *row, size_t width, const float *y, int32_t label, double s,
                        const tdl_focal_desc *d, float *drow, double scale) {
    const double lse = log_sum_exp(row, width);
    double total = 0.0, g_sum = 0.0;
    for (size_t c = 0; c < width; ++c) {
        const double z = focal_target(y, label, c, s, (double)width);
        if (z != 0.0) {
            double dterm;
            total += d->alpha * z * focal_term((double)row[c] - lse, d->gamma, &dterm);
            g_sum += d->alpha * z * dterm;
        }
    }
    for (size_t c = 0; c < width && drow != NULL; ++c) {
        const double z = focal_target(y, label, c, s, (double)width);
        double g = 0.0;
        if (z != 0.0) {
            double dterm;
            focal_term((double)row[c] - lse, d->gamma, &dterm);
            g = d->alpha * z * dterm;
        }
        drow[c] += (float)(scale * (g - exp((double)row[c] - lse) * g_sum));
    }
    return total;
}

/* Every position of either form: the softmax rows, or for classes == 1 the
 * binary term on the smoothed 0/1 (or [0, 1]) target. */
static double focal_rows(const float *logits, const float *labels, const int32_t *sparse, size_t positions,
                         int classes, double s, const tdl_focal_desc *d, float *dlogits, double scale) {
    const size_t width = (size_t)classes;
    double total = 0.0;
    for (size_t p = 0; p < positions; ++p) {
        const float *row = logits + p * width;
        const float *y = labels != NULL ? labels + p * width : NULL;
        const int32_t label = sparse != NULL ? sparse[p] : -1;
        float *drow = dlogits != NULL ? dlogits + p * width : NULL;
        if (classes == 1) {
            double dx;
            total += binary_focal_term(row[0], smooth(y != NULL ? y[0] : label, s, 2.0), d, &dx);
            if (drow != NULL) {
                drow[0] += (float)(scale * dx);
            }
        } else {
            total += focal_row(row, width, y, label, s, d, drow, scale);
        }
    }
    return total;
}

/* logits, labels: (P,C) -> loss: () = mean_p sum_c alpha y_pc term(log p_pc) */
void tdl_focal_forward(float *loss, const float *logits, const float *labels, size_t positions, int classes,
                       const tdl_focal_desc *d) {
    if (loss == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0 ||
        !focal_desc_valid(d)) {
        return;
    }
    *loss = (float)(focal_rows(logits, labels, NULL, positions, classes, 0.0, d, NULL, 0.0) / (double)positions);
}

/* logits, labels: (P,C) -> dlogits += dloss / P * dL/dlogits */
void tdl_focal_backward(float *dlogits, float dloss, const float *logits, const float *labels,
                        size_t positions, int classes, const tdl_focal_desc *d) {
    if (dlogits == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0 ||
        !focal_desc_valid(d)) {
        return;
    }
    focal_rows(logits, labels, NULL, positions, classes, 0.0, d, dlogits, (double)dloss / (double)positions);
}

/* Both forms with label smoothing: the sparse one runs the dense rows on
 * smoothed one-hot targets. */
static tdl_status check_focal_smoothed(const void *out, const float *logits, const float *labels,
                                       const int32_t *sparse, size_t positions, int classes,
                                       const tdl_focal_desc *d, float s) {
    if (!focal_desc_valid(d)) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "focal_loss: gamma must be finite and >= 0");
    }
    tdl_status status = check_smoothing("focal_loss", s);
    if (status != TDL_STATUS_OK) {
        return status;
    }
    if (sparse != NULL) {
        return check_sparse("focal_loss", out, logits, sparse, positions, classes, classes == 1 ? 2 : classes);
    }
    if (out == NULL || logits == NULL || labels == NULL || positions == 0 || classes <= 0) {
        return null_tensor("focal_loss");
    }
    return TDL_STATUS_OK;
}

tdl_status tdl_sparse_focal_smoothed_forward(float *loss, const float *logits, const int32_t *labels,
                                             size_t positions, int classes, const tdl_focal_desc *d,
                                             float label_smoothing) {
    tdl_status status = check_focal_smoothed(loss, logits, NULL, labels, positions, classes, d, label_smoothing);
    if (status == TDL_STATUS_OK) {
        *loss = (float)(focal_rows(logits, NULL, labels, positions, classes, label_smoothing, d, NULL, 0.0) /
                        (double)positions);
    }
    return status;
}

tdl_status tdl_sparse_focal_smoothed_backward(float *dlogits, float dloss, const float *logits,
                                              const int32_t *labels, size_t positions, int classes,
                                              const tdl_focal_desc *d, float label_smoothing) {
    tdl_status status = check_focal_smoothed(dlogits, logits, NULL, labels, positions, classes, d, label_smoothing);
    if (status == TDL_STATUS_OK) {
        focal_rows(logits, NULL, labels, positions, classes, label_smoothing, d, dlogits,
                   (double)dloss / (double)positions);
    }
    return status;
}

tdl_status tdl_focal_smoothed_forward(float *loss, const float *logits, const float *labels, size_t positions,
                                      int classes, const tdl_focal_desc *d, float label_smoothing) {
    tdl_status status = check_focal_smoothed(loss, logits, labels, NULL, positions, classes, d, label_smoothing);
    if (status == TDL_STATUS_OK) {
        *loss = (float)(focal_rows(logits, labels, NULL, positions, classes, label_smoothing, d, NULL, 0.0) /
                        (double)positions);
    }
    return status;
}

tdl_status tdl_focal_smoothed_backward(float *dlogits, float dloss, const float *logits, const float *labels,
                                       size_t positions, int classes, const tdl_focal_desc *d,
                                       float label_smoothing) {
    tdl_status status = check_focal_smoothed(dlogits, logits, labels, NULL, positions, classes, d, label_smoothing);
    if (status == TDL_STATUS_OK) {
        focal_rows(logits, labels, NULL, positions, classes, label_smoothing, d, dlogits,
                   (double)dloss / (double)positions);
    }
    return status;
}

/* ---------------------------------------------------------------------- */
/* Mean squared error                                                     */
/* ---------------------------------------------------------------------- */

/* predictions, labels: (n) -> loss: () = mean (p - y)^2 */
void tdl_mse_forward(float *loss, const float *predictions, const float *labels, size_t n) {
    if (loss == NULL || predictions == NULL || labels == NULL || n == 0) {
        return;
    }
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double diff = (double)predictions[i] - labels[i];
        total += diff * diff;
    }
    *loss = (float)(total / (double)n);
}

/* Keras clips probabilities to [eps, 1 - eps] before the logarithms. */
#define BINARY_XENT_EPSILON 1e-7

static double clip_probability(float p) {
    return fmin(fmax((double)p, BINARY_XENT_EPSILON), 1.0 - BINARY_XENT_EPSILON);
}

/* probabilities, labels: (n) -> loss: () = mean -(z log p + (1 - z) log(1 - p)), z smoothed towards 1/2 */
static void binary_xent_forward(float *loss, const float *probabilities, const float *labels, size_t n, double s) {
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double p = clip_probability(probabilities[i]), z = smooth(labels[i], s, 2.0);
        total -= z * log(p) + (1.0 - z) * log1p(-p);
    }
    *loss = (float)(total / (double)n);
}

/* dprobabilities += dloss (-(z/p) + (1-z)/(1-p)) / n where p is not clipped;
 * dlabels (optional) += dloss (1 - s) (log(1-p) - log p) / n */
static void binary_xent_backward(float *dprobabilities, float *dlabels, float dloss, const float *probabilities,
                                 const float *labels, size_t n, double s) {
    const double scale = (double)dloss / (double)n;
    for (size_t i = 0; i < n; ++i) {
        const double p = clip_probability(probabilities[i]), z = smooth(labels[i], s, 2.0);
        if (dprobabilities != NULL && p == (double)probabilities[i]) {
            dprobabilities[i] += (float)(scale * (-z / p + (1.0 - z) / (1.0 - p)));
        }
        if (dlabels != NULL) {
            dlabels[i] += (float)(scale * (1.0 - s) * (log1p(-p) - log(p)));
        }
    }
}

void tdl_binary_xent_forward(float *loss, const float *probabilities, const float *labels, size_t n) {
    if (loss == NULL || probabilities == NULL || labels == NULL || n == 0) {
        return;
    }
    binary_xent_forward(loss, probabilities, labels, n, 0.0);
}

void tdl_binary_xent_backward(float *dprobabilities, float *dlabels, float dloss, const float *probabilities,
                              const float *labels, size_t n) {
    if (probabilities == NULL || labels == NULL || n == 0) {
        return;
    }
    binary_xent_backward(dprobabilities, dlabels, dloss, probabilities, labels, n, 0.0);
}

tdl_status tdl_binary_xent_smoothed_forward(float *loss, const float *probabilities, const float *labels, size_t n,
                                            float label_smoothing) {
    return smoothed_elementwise_forward("binary_cross_entropy", binary_xent_forward, loss, probabilities, labels, n,
                                        label_smoothing);
}

tdl_status tdl_binary_xent_smoothed_backward(float *dprobabilities, float *dlabels, float dloss,
                                             const float *probabilities, const float *labels, size_t n,
                                             float label_smoothing) {
    return smoothed_elementwise_backward("binary_cross_entropy", binary_xent_backward, dprobabilities, dlabels,
                                         dloss, probabilities, labels, n, label_smoothing);
}

/* dpredictions += dloss * 2 (p - y) / n; dlabels (optional) gets the negation */
void tdl_mse_backward(float *dpredictions, float *dlabels, float dloss, const float *predictions,
                      const float *labels, size_t n) {
    if (dpredictions == NULL || predictions == NULL || labels == NULL || n == 0) {
        return;
    }
    const double scale = 2.0 * (double)dloss / (double)n;
    for (size_t i = 0; i < n; ++i) {
        const float grad = (float)(scale * ((double)predictions[i] - labels[i]));
        dpredictions[i] += grad;
        if (dlabels != NULL) {
            dlabels[i] -= grad;
        }
    }
}
