/* Losses: forwards against plain double references, backwards against central
 * finite differences, the analytic limits at logits of +-1e4, and bad labels.
 *
 * Tolerances: each check passes when |got - want| <= atol + rtol * |want|.
 * - forwards: float loss against a double reference, atol 1e-6, rtol 1e-5.
 * - backwards: h = 5e-3 on a float loss of magnitude ~1 whose rounding
 *   (~1e-7) becomes ~1e-5 after dividing by 2h; the truncation error of the
 *   central difference is O(h^2) ~ 1e-5 for these smooth losses:
 *   atol 1e-4, rtol 1e-2.
 * - two formulas for the same value (focal with gamma 0 against alpha * CE,
 *   one-hot against sparse): atol 1e-6, rtol 1e-5. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

/* ------------------------------------------------------------------ */
/* Tolerances                                                          */
/* ------------------------------------------------------------------ */

static const double FORWARD_ATOL = 1e-6, FORWARD_RTOL = 1e-5;
static const double GRAD_ATOL = 1e-4, GRAD_RTOL = 1e-2;
static const float STEP = 5e-3f;

/* ------------------------------------------------------------------ */
/* Cases: one struct drives every loss through the same checks         */
/* ------------------------------------------------------------------ */

enum { MAX_P = 18, MAX_C = 10, MAX_N = MAX_P * MAX_C };

typedef enum loss_kind {
    LOSS_SPARSE_XENT,
    LOSS_SOFT_XENT,
    LOSS_SIGMOID_XENT,
    LOSS_SPARSE_FOCAL,
    LOSS_FOCAL,
    LOSS_MSE,
    LOSS_MAE,
    LOSS_HUBER,
} loss_kind;

typedef struct loss_case {
    loss_kind kind;
    size_t positions;
    int classes;
    float dloss;
    tdl_focal_desc focal;
    float smoothing;         /* label_smoothing of the cross-entropies (0: the plain kernels) */
    float delta;             /* huber */
    float logits[MAX_N];
    float labels[MAX_N];     /* probabilities / targets for the dense forms */
    int32_t sparse[MAX_P];   /* class indices for the sparse forms */
} loss_case;

static size_t case_elements(const loss_case *c) { return c->positions * (size_t)c->classes; }

/* The cross-entropies with label smoothing: their _smoothed kernels. */
static float run_smoothed_forward(const loss_case *c) {
    float loss = NAN;
    tdl_status status = TDL_STATUS_BAD_ARGUMENT;
    const size_t n = case_elements(c);
    if (c->kind == LOSS_SPARSE_XENT)
        status = tdl_sparse_softmax_xent_smoothed_forward(&loss, c->logits, c->sparse, c->positions, c->classes,
                                                          c->smoothing);
    if (c->kind == LOSS_SOFT_XENT)
        status = tdl_softmax_xent_smoothed_forward(&loss, c->logits, c->labels, c->positions, c->classes,
                                                   c->smoothing);
    if (c->kind == LOSS_SIGMOID_XENT)
        status = tdl_sigmoid_xent_smoothed_forward(&loss, c->logits, c->labels, n, c->smoothing);
    if (c->kind == LOSS_SPARSE_FOCAL)
        status = tdl_sparse_focal_smoothed_forward(&loss, c->logits, c->sparse, c->positions, c->classes, &c->focal,
                                                   c->smoothing);
    if (c->kind == LOSS_FOCAL)
        status = tdl_focal_smoothed_forward(&loss, c->logits, c->labels, c->positions, c->classes, &c->focal,
                                            c->smoothing);
    assert_int_equal(status, TDL_STATUS_OK);
    return loss;
}

static void run_smoothed_backward(const loss_case *c, float *dlogits, float *dlabels) {
    tdl_status status = TDL_STATUS_BAD_ARGUMENT;
    const size_t n = case_elements(c);
    if (c->kind == LOSS_SPARSE_XENT)
        status = tdl_sparse_softmax_xent_smoothed_backward(dlogits, c->dloss, c->logits, c->sparse, c->positions,
                                                           c->classes, c->smoothing);
    if (c->kind == LOSS_SOFT_XENT)
        status = tdl_softmax_xent_smoothed_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, c->positions,
                                                    c->classes, c->smoothing);
    if (c->kind == LOSS_SIGMOID_XENT)
        status = tdl_sigmoid_xent_smoothed_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, n, c->smoothing);
    if (c->kind == LOSS_SPARSE_FOCAL)
        status = tdl_sparse_focal_smoothed_backward(dlogits, c->dloss, c->logits, c->sparse, c->positions, c->classes,
                                                    &c->focal, c->smoothing);
    if (c->kind == LOSS_FOCAL)
        status = tdl_focal_smoothed_backward(dlogits, c->dloss, c->logits, c->labels, c->positions, c->classes,
                                             &c->focal, c->smoothing);
    assert_int_equal(status, TDL_STATUS_OK);
}

static float run_forward(const loss_case *c) {
    float loss = NAN;
    const size_t n = case_elements(c);
    if (c->smoothing > 0.0f) return run_smoothed_forward(c);
    switch (c->kind) {
    case LOSS_SPARSE_XENT:
        assert_int_equal(tdl_sparse_softmax_xent_forward(&loss, c->logits, c->sparse, c->positions, c->classes),
                         TDL_STATUS_OK);
        break;
    case LOSS_SOFT_XENT: tdl_softmax_xent_forward(&loss, c->logits, c->labels, c->positions, c->classes); break;
    case LOSS_SIGMOID_XENT: tdl_sigmoid_xent_forward(&loss, c->logits, c->labels, n); break;
    case LOSS_SPARSE_FOCAL:
        assert_int_equal(
            tdl_sparse_focal_forward(&loss, c->logits, c->sparse, c->positions, c->classes, &c->focal),
            TDL_STATUS_OK);
        break;
    case LOSS_FOCAL: tdl_focal_forward(&loss, c->logits, c->labels, c->positions, c->classes, &c->focal); break;
    case LOSS_MSE: tdl_mse_forward(&loss, c->logits, c->labels, n); break;
    case LOSS_MAE: tdl_mae_forward(&loss, c->logits, c->labels, n); break;
    case LOSS_HUBER: assert_int_equal(tdl_huber_forward(&loss, c->logits, c->labels, n, c->delta), TDL_STATUS_OK); break;
    }
    return loss;
}

/* dlabels is only filled by the losses that differentiate their labels. */
static void run_backward(const loss_case *c, float *dlogits, float *dlabels) {
    const size_t n = case_elements(c);
    if (c->smoothing > 0.0f) {
        run_smoothed_backward(c, dlogits, dlabels);
        return;
    }
    switch (c->kind) {
    case LOSS_SPARSE_XENT:
        assert_int_equal(tdl_sparse_softmax_xent_backward(dlogits, c->dloss, c->logits, c->sparse, c->positions,
                                                          c->classes),
                         TDL_STATUS_OK);
        break;
    case LOSS_SOFT_XENT:
        tdl_softmax_xent_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, c->positions, c->classes);
        break;
    case LOSS_SIGMOID_XENT: tdl_sigmoid_xent_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, n); break;
    case LOSS_SPARSE_FOCAL:
        assert_int_equal(tdl_sparse_focal_backward(dlogits, c->dloss, c->logits, c->sparse, c->positions,
                                                   c->classes, &c->focal),
                         TDL_STATUS_OK);
        break;
    case LOSS_FOCAL:
        tdl_focal_backward(dlogits, c->dloss, c->logits, c->labels, c->positions, c->classes, &c->focal);
        break;
    case LOSS_MSE: tdl_mse_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, n); break;
    case LOSS_MAE: tdl_mae_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, n); break;
    case LOSS_HUBER:
        assert_int_equal(tdl_huber_backward(dlogits, dlabels, c->dloss, c->logits, c->labels, n, c->delta),
                         TDL_STATUS_OK);
        break;
    }
}

static bool has_label_gradient(loss_kind kind) {
    return kind == LOSS_SOFT_XENT || kind == LOSS_SIGMOID_XENT || kind == LOSS_MSE || kind == LOSS_MAE ||
           kind == LOSS_HUBER;
}

/* dloss * loss: its gradient is what backward(dloss) accumulates. */
static double loss_objective(void *ctx) {
    loss_case *c = ctx;
    return (double)c->dloss * run_forward(c);
}

/* Analytic gradients (accumulated onto a non-zero start) against finite differences. */
static void check_gradients(loss_case *c) {
    const size_t n = case_elements(c);
    float dlogits[MAX_N], dlabels[MAX_N];
    for (size_t i = 0; i < n; ++i) dlogits[i] = dlabels[i] = 0.25f;
    run_backward(c, dlogits, has_label_gradient(c->kind) ? dlabels : NULL);
    for (size_t i = 0; i < n; ++i) {
        const double numeric = central_difference(loss_objective, c, c->logits, i, STEP);
        check_close("dlogits", i, dlogits[i] - 0.25, numeric, GRAD_ATOL, GRAD_RTOL);
    }
    for (size_t i = 0; i < n && has_label_gradient(c->kind); ++i) {
        const double numeric = central_difference(loss_objective, c, c->labels, i, STEP);
        check_close("dlabels", i, dlabels[i] - 0.25, numeric, GRAD_ATOL, GRAD_RTOL);
    }
}

/* Random logits, class labels, and probability rows (each summing to 1). */
static void fill_case(loss_case *c, loss_kind kind, size_t positions, int classes, float logit_range) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->positions = positions;
    c->classes = classes;
    c->dloss = 1.5f;
    c->focal = (tdl_focal_desc){.gamma = 2.0f, .alpha = 0.25f};
    c->delta = 0.7f;
    for (size_t i = 0; i < case_elements(c); ++i) c->logits[i] = uniform(-logit_range, logit_range);
    const int label_count = classes == 1 ? 2 : classes;
    for (size_t p = 0; p < positions; ++p) {
        c->sparse[p] = (int32_t)(uniform(0.0f, 1.0f) * (float)label_count);
        float sum = 0;
        float *row = c->labels + p * (size_t)classes;
        for (int k = 0; k < classes; ++k) sum += row[k] = uniform(0.05f, 1.0f);
        if (classes > 1) {
            for (int k = 0; k < classes; ++k) row[k] /= sum;
        }
    }
    /* Keep mean_absolute_error's kink at p == y out of reach of the steps. */
    for (size_t i = 0; i < case_elements(c) && kind == LOSS_MAE; ++i)
        if (fabsf(c->logits[i] - c->labels[i]) < 0.05f) c->logits[i] += 0.1f;
}

/* Rows of one_hot(sparse) in labels, for the one-hot forms (classes == 1: the 0/1 label itself). */
static void labels_from_sparse(loss_case *c) {
    for (size_t p = 0; p < c->positions; ++p) {
        for (int k = 0; k < c->classes; ++k) {
            c->labels[p * (size_t)c->classes + (size_t)k] =
                c->classes == 1 ? (float)c->sparse[p] : (float)(k == c->sparse[p]);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Plain references                                                    */
/* ------------------------------------------------------------------ */

static double reference_softmax(const float *row, int classes, int k) {
    double sum = 0;
    for (int j = 0; j < classes; ++j) sum += exp((double)row[j]);
    return exp((double)row[k]) / sum;
}

static double reference_sigmoid(double x) { return 1.0 / (1.0 + exp(-x)); }

/* The binary focal loss as torchvision writes it: alpha_t (1 - p_t)^gamma BCE. */
static double reference_binary_focal(double x, double y, double gamma, double alpha) {
    const double p = reference_sigmoid(x);
    const double ce = -(y * log(p) + (1 - y) * log(1 - p));
    const double p_t = p * y + (1 - p) * (1 - y);
    const double alpha_t = alpha * y + (1 - alpha) * (1 - y);
    return alpha_t * pow(1 - p_t, gamma) * ce;
}

/* One element of the elementwise losses; z already smoothed. */
static double reference_elementwise(loss_kind kind, double x, double z, double delta) {
    const double e = fabs(x - z);
    switch (kind) {
    case LOSS_MSE: return e * e;
    case LOSS_MAE: return e;
    case LOSS_HUBER: return e <= delta ? 0.5 * e * e : delta * (e - 0.5 * delta);
    default: return -(z * log(reference_sigmoid(x)) + (1 - z) * log(1 - reference_sigmoid(x)));
    }
}

static double reference_loss(const loss_case *c) {
    double total = 0;
    const size_t C = (size_t)c->classes;
    const double gamma = c->focal.gamma, alpha = c->focal.alpha, s = c->smoothing;
    if (c->kind == LOSS_SIGMOID_XENT || c->kind == LOSS_MSE || c->kind == LOSS_MAE || c->kind == LOSS_HUBER) {
        for (size_t i = 0; i < case_elements(c); ++i) {
            const double z = c->kind == LOSS_SIGMOID_XENT ? c->labels[i] * (1 - s) + s / 2 : c->labels[i];
            total += reference_elementwise(c->kind, c->logits[i], z, c->delta);
        }
        return total / (double)case_elements(c);
    }
    for (size_t p = 0; p < c->positions; ++p) {
        const float *row = c->logits + p * C;
        const float *z = c->labels + p * C;
        const int t = c->sparse[p];
        switch (c->kind) {
        case LOSS_SPARSE_XENT:
            for (int k = 0; k < c->classes; ++k)
                total += -((k == t) * (1 - s) + s / (double)C) * log(reference_softmax(row, c->classes, k));
            break;
        case LOSS_SOFT_XENT:
            for (int k = 0; k < c->classes; ++k)
                total += -(z[k] * (1 - s) + s / (double)C) * log(reference_softmax(row, c->classes, k));
            break;
        case LOSS_SPARSE_FOCAL:
        case LOSS_FOCAL:
            /* Smoothed targets: one-hot rows (or the label rows) moved towards 1/K. */
            if (c->classes == 1) {
                const double y = c->kind == LOSS_FOCAL ? z[0] : t;
                total += reference_binary_focal(row[0], y * (1 - s) + s / 2, gamma, alpha);
            } else {
                for (int k = 0; k < c->classes; ++k) {
                    const double y = c->kind == LOSS_FOCAL ? z[k] : (k == t);
                    const double pk = reference_softmax(row, c->classes, k);
                    total += -alpha * (y * (1 - s) + s / (double)C) * pow(1 - pk, gamma) * log(pk);
                }
            }
            break;
        case LOSS_SIGMOID_XENT:
        case LOSS_MSE:
        case LOSS_MAE:
        case LOSS_HUBER: break;
        }
    }
    return total / (double)c->positions;
}

/* Shapes: batch 1, batch 7, and a per-pixel (2,3,3,C) tensor flattened to 18 positions. */
static const struct {
    size_t positions;
    int classes;
} SHAPES[] = {{1, 10}, {7, 10}, {18, 4}, {7, 2}};

static const loss_kind ALL_KINDS[] = {
    LOSS_SPARSE_XENT, LOSS_SOFT_XENT, LOSS_SIGMOID_XENT, LOSS_SPARSE_FOCAL, LOSS_FOCAL, LOSS_MSE, LOSS_MAE, LOSS_HUBER,
};
static const float GAMMAS[] = {0.0f, 0.5f, 2.0f};

/* Binary cross-entropy on probabilities: the plain formula, finite differences of
 * both arguments, and Keras' clip (no gradient where a probability is clipped). */
typedef struct binary_ctx {
    float p[12], y[12];
} binary_ctx;

static double binary_objective(void *ctx) {
    binary_ctx *c = ctx;
    float loss = NAN;
    tdl_binary_xent_forward(&loss, c->p, c->y, 12);
    return loss;
}

static void test_binary_xent_on_probabilities(void **state) {
    (void)state;
    lcg_state = 77;
    binary_ctx c;
    double want = 0.0;
    for (size_t i = 0; i < 12; ++i) {
        c.p[i] = uniform(0.05f, 0.95f);
        c.y[i] = i % 3 == 0 ? uniform(0.0f, 1.0f) : (float)(i % 2);
        want -= c.y[i] * log(c.p[i]) + (1.0 - c.y[i]) * log(1.0 - c.p[i]);
    }
    check_close("binary_xent", 0, binary_objective(&c), want / 12.0, FORWARD_ATOL, FORWARD_RTOL);

    float dp[12], dy[12];
    for (size_t i = 0; i < 12; ++i) dp[i] = dy[i] = 0.5f;
    tdl_binary_xent_backward(dp, dy, 0.75f, c.p, c.y, 12);
    for (size_t i = 0; i < 12; ++i) {
        check_close("binary_xent.dp", i, dp[i] - 0.5,
                    0.75 * central_difference(binary_objective, &c, c.p, i, 1e-3f), GRAD_ATOL, GRAD_RTOL);
        check_close("binary_xent.dy", i, dy[i] - 0.5,
                    0.75 * central_difference(binary_objective, &c, c.y, i, 1e-3f), GRAD_ATOL, GRAD_RTOL);
    }

    /* p = 0 with label 1 is clipped to 1e-7: a finite loss of -log(1e-7) and no gradient to p. */
    float p0 = 0.0f, one = 1.0f, loss = NAN, d = 0.0f;
    tdl_binary_xent_forward(&loss, &p0, &one, 1);
    check_close("binary_xent.clipped", 0, loss, -log(1e-7), 1e-5, 1e-5);
    tdl_binary_xent_backward(&d, NULL, 1.0f, &p0, &one, 1);
    assert_true(d == 0.0f);
}

/* ------------------------------------------------------------------ */
/* Forward and backward of every loss                                  */
/* ------------------------------------------------------------------ */

/* Every loss matches its plain reference for every shape (focal for several gammas). */
static void test_loss_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 31;
    static loss_case c;
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; ++s) {
            for (size_t g = 0; g < sizeof GAMMAS / sizeof *GAMMAS; ++g) {
                fill_case(&c, ALL_KINDS[k], SHAPES[s].positions, SHAPES[s].classes, 4.0f);
                c.focal.gamma = GAMMAS[g];
                check_close("loss", s, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
            }
        }
    }
}

/* Every backward matches finite differences of its forward, scaled by dloss, and accumulates. */
static void test_loss_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 32;
    static loss_case c;
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; ++s) {
            fill_case(&c, ALL_KINDS[k], SHAPES[s].positions, SHAPES[s].classes, 3.0f);
            check_gradients(&c);
        }
    }
}

/* Probability-label losses differentiate exactly also when the labels do not sum to 1. */
static void test_soft_label_losses_with_unnormalized_labels(void **state) {
    (void)state;
    lcg_state = 37;
    static loss_case c;
    const loss_kind kinds[] = {LOSS_SOFT_XENT, LOSS_FOCAL};
    for (size_t k = 0; k < 2; ++k) {
        fill_case(&c, kinds[k], 7, 10, 3.0f);
        for (size_t i = 0; i < case_elements(&c); ++i) c.labels[i] *= 1.7f;
        check_close("loss", k, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
        check_gradients(&c);
    }
}

/* The binary (classes == 1) focal forms match torchvision's formula and finite differences. */
static void test_binary_focal_matches_reference_and_finite_differences(void **state) {
    (void)state;
    lcg_state = 33;
    static loss_case c;
    const loss_kind kinds[] = {LOSS_SPARSE_FOCAL, LOSS_FOCAL};
    for (size_t k = 0; k < 2; ++k) {
        for (size_t g = 0; g < sizeof GAMMAS / sizeof *GAMMAS; ++g) {
            fill_case(&c, kinds[k], 18, 1, 4.0f);
            c.focal.gamma = GAMMAS[g];
            check_close("loss", g, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
            check_gradients(&c);
        }
    }
}

/* Focal gradients hold for gamma below 1 and for confident rows where p_t is near 1. */
static void test_focal_backward_confident_rows(void **state) {
    (void)state;
    lcg_state = 34;
    static loss_case c;
    const float gammas[] = {0.0f, 0.25f, 0.5f, 1.0f, 2.0f, 3.0f};
    for (size_t g = 0; g < sizeof gammas / sizeof *gammas; ++g) {
        fill_case(&c, LOSS_SPARSE_FOCAL, 7, 4, 1.0f);
        c.focal.gamma = gammas[g];
        /* Push the target's logit up by 4 to 7 so p_t lies between ~0.95 and ~0.999. */
        for (size_t p = 0; p < c.positions; ++p) c.logits[p * 4 + (size_t)c.sparse[p]] += 4.0f + (float)(p % 4);
        check_close("loss", g, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
        check_gradients(&c);
    }
}

/* With gamma 0 every focal form is alpha times its cross-entropy, value and gradient. */
static void test_focal_gamma_zero_is_alpha_times_cross_entropy(void **state) {
    (void)state;
    lcg_state = 35;
    static loss_case focal, xent;
    const float alpha = 0.4f;
    /* Softmax forms: sparse against sparse CE, soft labels against soft CE. */
    const loss_kind pairs[2][2] = {{LOSS_SPARSE_FOCAL, LOSS_SPARSE_XENT}, {LOSS_FOCAL, LOSS_SOFT_XENT}};
    for (size_t k = 0; k < 2; ++k) {
        fill_case(&focal, pairs[k][0], 7, 10, 5.0f);
        focal.focal = (tdl_focal_desc){.gamma = 0.0f, .alpha = alpha};
        xent = focal;
        xent.kind = pairs[k][1];
        check_close("loss", k, run_forward(&focal), alpha * (double)run_forward(&xent), FORWARD_ATOL, FORWARD_RTOL);
        float dfocal[MAX_N] = {0}, dxent[MAX_N] = {0};
        run_backward(&focal, dfocal, NULL);
        run_backward(&xent, dxent, NULL);
        for (size_t i = 0; i < case_elements(&focal); ++i) {
            check_close("dlogits", i, dfocal[i], alpha * (double)dxent[i], FORWARD_ATOL, FORWARD_RTOL);
        }
    }
    /* Binary form: alpha_t * sigmoid CE, per element (alpha_t = alpha for 1, 1 - alpha for 0). */
    fill_case(&focal, LOSS_FOCAL, 1, 1, 5.0f);
    focal.focal = (tdl_focal_desc){.gamma = 0.0f, .alpha = alpha};
    for (int label = 0; label < 2; ++label) {
        focal.labels[0] = (float)label;
        xent = focal;
        xent.kind = LOSS_SIGMOID_XENT;
        const double alpha_t = label ? alpha : 1.0 - alpha;
        check_close("binary loss", (size_t)label, run_forward(&focal), alpha_t * run_forward(&xent), FORWARD_ATOL,
                    FORWARD_RTOL);
        float dfocal[1] = {0}, dxent[1] = {0};
        run_backward(&focal, dfocal, NULL);
        run_backward(&xent, dxent, NULL);
        check_close("binary dlogits", (size_t)label, dfocal[0], alpha_t * dxent[0], FORWARD_ATOL, FORWARD_RTOL);
    }
}

/* With one-hot labels the dense focal form equals the sparse one, value and gradient. */
static void test_focal_one_hot_equals_sparse(void **state) {
    (void)state;
    lcg_state = 36;
    static loss_case sparse, dense;
    const int class_counts[] = {1, 10};
    for (size_t k = 0; k < 2; ++k) {
        fill_case(&sparse, LOSS_SPARSE_FOCAL, 7, class_counts[k], 4.0f);
        sparse.focal.gamma = 1.5f;
        dense = sparse;
        dense.kind = LOSS_FOCAL;
        labels_from_sparse(&dense);
        check_close("loss", k, run_forward(&dense), run_forward(&sparse), FORWARD_ATOL, FORWARD_RTOL);
        float dsparse[MAX_N] = {0}, ddense[MAX_N] = {0};
        run_backward(&sparse, dsparse, NULL);
        run_backward(&dense, ddense, NULL);
        for (size_t i = 0; i < case_elements(&sparse); ++i) {
            check_close("dlogits", i, ddense[i], dsparse[i], FORWARD_ATOL, FORWARD_RTOL);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Extreme logits: finite, and equal to the analytic limit             */
/* ------------------------------------------------------------------ */

/* Three rows (1e4, -1e4, 0) with the label on the big, the small and the middle logit. */
static void fill_extreme_rows(loss_case *c, loss_kind kind) {
    memset(c, 0, sizeof *c);
    c->kind = kind;
    c->positions = 3;
    c->classes = 3;
    c->dloss = 1.5f;
    c->focal = (tdl_focal_desc){.gamma = 2.0f, .alpha = 0.25f};
    for (size_t p = 0; p < 3; ++p) {
        c->logits[p * 3 + 0] = 1e4f;
        c->logits[p * 3 + 1] = -1e4f;
        c->logits[p * 3 + 2] = 0.0f;
        c->sparse[p] = (int32_t)p;
    }
    labels_from_sparse(c);
}

static void check_exact(const char *what, const float *got, const float *want, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        assert_true(isfinite(got[i]));
        check_close(what, i, got[i], want[i], 1e-6, 1e-6);
    }
}

/* Softmax CE and focal (sparse and one-hot) at +-1e4: the losses of the three rows
 * are 0, 2e4 and 1e4 (focal: alpha q^gamma times that, q = 0, 1, 1), and the
 * gradient is dloss / 3 * factor * (softmax - one_hot) with softmax = (1, 0, 0). */
static void test_softmax_losses_at_extreme_logits(void **state) {
    (void)state;
    static loss_case c;
    const loss_kind kinds[] = {LOSS_SPARSE_XENT, LOSS_SOFT_XENT, LOSS_SPARSE_FOCAL, LOSS_FOCAL};
    for (size_t k = 0; k < 4; ++k) {
        fill_extreme_rows(&c, kinds[k]);
        const bool focal = kinds[k] == LOSS_SPARSE_FOCAL || kinds[k] == LOSS_FOCAL;
        const double factor = focal ? c.focal.alpha : 1.0;
        const float loss = run_forward(&c);
        assert_true(isfinite(loss));
        check_close("loss", k, loss, factor * (0.0 + 2e4 + 1e4) / 3.0, 0.0, 1e-6);
        float dlogits[9] = {0};
        run_backward(&c, dlogits, NULL);
        const float g = (float)(c.dloss / 3.0 * factor);
        const float want[9] = {0, 0, 0, g, -g, 0, g, 0, -g};
        check_exact("dlogits", dlogits, want, 9);
    }
}

/* Sigmoid CE and the binary focal loss at +-1e4, labels 1, 1, 0, 0:
 * per-element CE 0, 1e4, 1e4, 0; gradient (sigmoid(x) - z) = 0, -1, 1, 0. */
static void test_sigmoid_losses_at_extreme_logits(void **state) {
    (void)state;
    static loss_case c;
    const loss_kind kinds[] = {LOSS_SIGMOID_XENT, LOSS_SPARSE_FOCAL, LOSS_FOCAL};
    for (size_t k = 0; k < 3; ++k) {
        memset(&c, 0, sizeof c);
        c.kind = kinds[k];
        c.positions = 4;
        c.classes = 1;
        c.dloss = 2.0f;
        c.focal = (tdl_focal_desc){.gamma = 2.0f, .alpha = 0.25f};
        const float x[4] = {1e4f, -1e4f, 1e4f, -1e4f};
        const int32_t z[4] = {1, 1, 0, 0};
        for (size_t i = 0; i < 4; ++i) {
            c.logits[i] = x[i];
            c.sparse[i] = z[i];
            c.labels[i] = (float)z[i];
        }
        /* Focal: alpha_t = 0.25 on the label-1 element and 0.75 on the label-0 one, q = 1 on both. */
        const bool focal = kinds[k] != LOSS_SIGMOID_XENT;
        const double a1 = focal ? 0.25 : 1.0, a0 = focal ? 0.75 : 1.0;
        const float loss = run_forward(&c);
        assert_true(isfinite(loss));
        check_close("loss", k, loss, (a1 * 1e4 + a0 * 1e4) / 4.0, 0.0, 1e-6);
        float dlogits[4] = {0};
        run_backward(&c, dlogits, NULL);
        const float s = c.dloss / 4.0f;
        const float want[4] = {0, (float)(-a1 * s), (float)(a0 * s), 0};
        check_exact("dlogits", dlogits, want, 4);
    }
}

/* A confident, correct focal row (p_t rounds to 1) has a finite, non-negative loss
 * and a finite gradient for gamma below 1, where (1 - p_t)^(gamma - 1) is infinite. */
static void test_focal_finite_when_target_is_certain(void **state) {
    (void)state;
    static loss_case c;
    const float gammas[] = {0.0f, 0.3f, 0.5f, 2.0f};
    const float boosts[] = {20.0f, 40.0f, 1e4f};
    for (size_t g = 0; g < 4; ++g) {
        for (size_t b = 0; b < 3; ++b) {
            fill_extreme_rows(&c, LOSS_SPARSE_FOCAL);
            c.positions = 1;
            c.logits[0] = boosts[b];
            c.logits[1] = 0.0f;
            c.logits[2] = -1.0f;
            c.sparse[0] = 0;
            c.focal.gamma = gammas[g];
            const float loss = run_forward(&c);
            assert_true(isfinite(loss) && loss >= 0.0f && loss < 1e-8f);
            float dlogits[3] = {0};
            run_backward(&c, dlogits, NULL);
            for (size_t i = 0; i < 3; ++i) {
                assert_true(isfinite(dlogits[i]));
                /* The loss only grows as other logits rise: target gradient <= 0, others >= 0. */
                assert_true(i == 0 ? dlogits[i] <= 0.0f : dlogits[i] >= 0.0f);
            }
        }
    }
}

/* ------------------------------------------------------------------ */
/* Bad labels and arguments                                            */
/* ------------------------------------------------------------------ */

/* A sparse label outside [0, C) is BAD_LABEL naming position and value; loss and gradient stay untouched. */
static void test_sparse_losses_reject_bad_labels(void **state) {
    (void)state;
    const float logits[4 * 3] = {0};
    const int32_t too_big[4] = {0, 2, 3, 1};
    const int32_t negative[4] = {0, 1, 2, -7};
    const tdl_focal_desc focal = {.gamma = 2.0f, .alpha = 0.25f};
    float loss = 42.0f;
    float dlogits[12];
    for (size_t i = 0; i < 12; ++i) dlogits[i] = 42.0f;

    assert_int_equal(tdl_sparse_softmax_xent_forward(&loss, logits, too_big, 4, 3), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "sparse_softmax_cross_entropy: label 3 at position 2 is outside [0, 3)");
    assert_int_equal(tdl_sparse_softmax_xent_backward(dlogits, 1.0f, logits, negative, 4, 3), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "sparse_softmax_cross_entropy: label -7 at position 3 is outside [0, 3)");

    assert_int_equal(tdl_sparse_focal_forward(&loss, logits, too_big, 4, 3, &focal), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "focal_loss: label 3 at position 2 is outside [0, 3)");
    assert_int_equal(tdl_sparse_focal_backward(dlogits, 1.0f, logits, negative, 4, 3, &focal), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "focal_loss: label -7 at position 3 is outside [0, 3)");

    /* The binary form (classes == 1) takes labels 0 and 1 only. */
    const int32_t binary[4] = {0, 1, 2, 1};
    assert_int_equal(tdl_sparse_focal_forward(&loss, logits, binary, 4, 1, &focal), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "focal_loss: label 2 at position 2 is outside [0, 2)");

    assert_true(loss == 42.0f);
    for (size_t i = 0; i < 12; ++i) assert_true(dlogits[i] == 42.0f);
}

/* NULL tensors, empty sizes and a negative gamma are BAD_ARGUMENT. */
static void test_sparse_losses_reject_bad_arguments(void **state) {
    (void)state;
    const float logits[3] = {0};
    const int32_t labels[1] = {0};
    const tdl_focal_desc negative_gamma = {.gamma = -1.0f, .alpha = 0.25f};
    const tdl_focal_desc ok = {.gamma = 2.0f, .alpha = 0.25f};
    float loss = 42.0f;
    assert_int_equal(tdl_sparse_softmax_xent_forward(NULL, logits, labels, 1, 3), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sparse_softmax_xent_forward(&loss, logits, labels, 0, 3), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sparse_softmax_xent_forward(&loss, logits, labels, 1, 0), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sparse_focal_forward(&loss, logits, labels, 1, 3, &negative_gamma),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sparse_focal_forward(&loss, logits, labels, 1, 3, NULL), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sparse_focal_backward(NULL, 1.0f, logits, labels, 1, 3, &ok), TDL_STATUS_BAD_ARGUMENT);
    assert_true(loss == 42.0f);
}

/* ------------------------------------------------------------------ */
/* Label smoothing, mean absolute error, Huber                         */
/* ------------------------------------------------------------------ */

/* The smoothed cross-entropies match the plain formulas on smoothed targets
 * (K = C for softmax, 2 for sigmoid) and finite differences, for s up to 1. */
static void test_label_smoothing_matches_reference_and_finite_differences(void **state) {
    (void)state;
    lcg_state = 41;
    static loss_case c;
    const loss_kind kinds[] = {LOSS_SPARSE_XENT, LOSS_SOFT_XENT, LOSS_SIGMOID_XENT, LOSS_SPARSE_FOCAL, LOSS_FOCAL};
    const float amounts[] = {0.1f, 0.35f, 1.0f};
    const int class_counts[] = {5, 1};
    for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; ++k) {
        for (size_t a = 0; a < 3 * 2; ++a) {
            const int classes = class_counts[a % 2];
            if (classes == 1 && (kinds[k] == LOSS_SPARSE_XENT || kinds[k] == LOSS_SOFT_XENT)) continue;
            fill_case(&c, kinds[k], 7, classes, 3.0f);
            c.smoothing = amounts[a / 2];
            check_close("loss", a, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
            check_gradients(&c);
        }
    }
}

/* Sparse smoothing is the dense one on one-hot rows (PyTorch's
 * CrossEntropyLoss(label_smoothing) against Keras'), value and gradient;
 * the same for focal_loss, also in its binary form. */
static void test_sparse_smoothing_equals_one_hot_smoothing(void **state) {
    (void)state;
    lcg_state = 42;
    static loss_case sparse, dense;
    const loss_kind pairs[3][2] = {{LOSS_SPARSE_XENT, LOSS_SOFT_XENT}, {LOSS_SPARSE_FOCAL, LOSS_FOCAL},
                                   {LOSS_SPARSE_FOCAL, LOSS_FOCAL}};
    for (size_t k = 0; k < 3; ++k) {
        fill_case(&sparse, pairs[k][0], 18, k == 2 ? 1 : 4, 4.0f);
        sparse.smoothing = 0.2f;
        dense = sparse;
        dense.kind = pairs[k][1];
        labels_from_sparse(&dense);
        check_close("loss", k, run_forward(&dense), run_forward(&sparse), FORWARD_ATOL, FORWARD_RTOL);
        float dsparse[MAX_N] = {0}, ddense[MAX_N] = {0};
        run_backward(&sparse, dsparse, NULL);
        run_backward(&dense, ddense, NULL);
        for (size_t i = 0; i < case_elements(&sparse); ++i)
            check_close("dlogits", i, ddense[i], dsparse[i], 1e-6, 1e-5);
    }
}

/* binary_cross_entropy on probabilities with smoothing towards 1/2. */
static double smoothed_binary_objective(void *ctx) {
    binary_ctx *c = ctx;
    float loss = NAN;
    assert_int_equal(tdl_binary_xent_smoothed_forward(&loss, c->p, c->y, 12, 0.2f), TDL_STATUS_OK);
    return loss;
}

static void test_binary_xent_smoothing_on_probabilities(void **state) {
    (void)state;
    lcg_state = 43;
    binary_ctx c;
    double want = 0.0;
    for (size_t i = 0; i < 12; ++i) {
        c.p[i] = uniform(0.05f, 0.95f);
        c.y[i] = (float)(i % 2);
        const double z = c.y[i] * 0.8 + 0.1;
        want -= z * log(c.p[i]) + (1.0 - z) * log(1.0 - c.p[i]);
    }
    check_close("binary_xent", 0, smoothed_binary_objective(&c), want / 12.0, FORWARD_ATOL, FORWARD_RTOL);
    float dp[12], dy[12];
    for (size_t i = 0; i < 12; ++i) dp[i] = dy[i] = 0.5f;
    assert_int_equal(tdl_binary_xent_smoothed_backward(dp, dy, 0.75f, c.p, c.y, 12, 0.2f), TDL_STATUS_OK);
    for (size_t i = 0; i < 12; ++i) {
        check_close("dp", i, dp[i] - 0.5, 0.75 * central_difference(smoothed_binary_objective, &c, c.p, i, 1e-3f),
                    GRAD_ATOL, GRAD_RTOL);
        check_close("dy", i, dy[i] - 0.5, 0.75 * central_difference(smoothed_binary_objective, &c, c.y, i, 1e-3f),
                    GRAD_ATOL, GRAD_RTOL);
    }
}

/* Huber is half the squared error within delta and grows linearly beyond,
 * for several deltas; its gradient is the error clipped to +-delta. */
static void test_huber_deltas(void **state) {
    (void)state;
    lcg_state = 44;
    static loss_case c;
    const float deltas[] = {0.05f, 1.0f, 10.0f};
    for (size_t d = 0; d < 3; ++d) {
        fill_case(&c, LOSS_HUBER, 7, 10, 3.0f);
        c.delta = deltas[d];
        check_close("huber", d, run_forward(&c), reference_loss(&c), FORWARD_ATOL, FORWARD_RTOL);
        check_gradients(&c);
    }
    /* A large delta is half the mean squared error. */
    c.delta = 100.0f;
    c.kind = LOSS_MSE;
    const double mse = run_forward(&c);
    c.kind = LOSS_HUBER;
    check_close("huber = mse / 2", 0, run_forward(&c), 0.5 * mse, FORWARD_ATOL, FORWARD_RTOL);
}

/* Where the prediction equals the label, mean_absolute_error passes 0 (PyTorch's L1Loss). */
static void test_mae_subgradient_at_zero(void **state) {
    (void)state;
    const float p[3] = {1.0f, -2.0f, 3.0f}, y[3] = {1.0f, -1.0f, 2.0f};
    float dp[3] = {0}, dy[3] = {0}, loss = NAN;
    tdl_mae_forward(&loss, p, y, 3);
    check_close("mae", 0, loss, 2.0 / 3.0, 1e-7, 1e-7);
    tdl_mae_backward(dp, dy, 3.0f, p, y, 3);
    assert_true(dp[0] == 0.0f && dp[1] == -1.0f && dp[2] == 1.0f);
    assert_true(dy[0] == 0.0f && dy[1] == 1.0f && dy[2] == -1.0f);
}

/* label_smoothing outside [0, 1] (NaN too), a delta that is not > 0 and NULL tensors are BAD_ARGUMENT. */
static void test_smoothing_and_delta_reject_bad_arguments(void **state) {
    (void)state;
    const float logits[3] = {0}, labels[3] = {0};
    const int32_t sparse[1] = {0};
    float loss = 42.0f, d[3] = {0};
    assert_int_equal(tdl_sparse_softmax_xent_smoothed_forward(&loss, logits, sparse, 1, 3, 1.5f),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_string_equal(tdl_last_error(), "sparse_softmax_cross_entropy: label_smoothing must be in [0, 1], got 1.5");
    assert_int_equal(tdl_sparse_softmax_xent_smoothed_backward(d, 1.0f, logits, sparse, 1, 3, -0.1f),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_softmax_xent_smoothed_forward(&loss, logits, labels, 1, 3, NAN), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_softmax_xent_smoothed_backward(d, NULL, 1.0f, logits, labels, 1, 3, 2.0f),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sigmoid_xent_smoothed_forward(&loss, logits, labels, 3, -1.0f), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_sigmoid_xent_smoothed_backward(d, NULL, 1.0f, NULL, labels, 3, 0.1f), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_binary_xent_smoothed_forward(&loss, logits, labels, 3, 1.01f), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_binary_xent_smoothed_backward(d, NULL, 1.0f, logits, labels, 0, 0.1f), TDL_STATUS_BAD_ARGUMENT);
    const tdl_focal_desc focal = {.gamma = 2.0f, .alpha = 0.25f};
    assert_int_equal(tdl_sparse_focal_smoothed_forward(&loss, logits, sparse, 1, 3, &focal, 1.5f),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_string_equal(tdl_last_error(), "focal_loss: label_smoothing must be in [0, 1], got 1.5");
    assert_int_equal(tdl_sparse_focal_smoothed_backward(d, 1.0f, logits, sparse, 1, 3, NULL, 0.1f),
                     TDL_STATUS_BAD_ARGUMENT);
    const int32_t bad_label[1] = {3};
    assert_int_equal(tdl_sparse_focal_smoothed_backward(d, 1.0f, logits, bad_label, 1, 3, &focal, 0.1f),
                     TDL_STATUS_BAD_LABEL);
    assert_int_equal(tdl_focal_smoothed_forward(&loss, logits, NULL, 1, 3, &focal, 0.1f), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_focal_smoothed_backward(d, 1.0f, logits, labels, 1, 3, &focal, -0.5f),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_huber_forward(&loss, logits, labels, 3, 0.0f), TDL_STATUS_BAD_ARGUMENT);
    assert_string_equal(tdl_last_error(), "huber: delta must be finite and > 0, got 0");
    assert_int_equal(tdl_huber_forward(&loss, logits, labels, 3, INFINITY), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_huber_backward(d, NULL, 1.0f, logits, labels, 3, -1.0f), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_huber_backward(NULL, NULL, 1.0f, logits, labels, 3, 1.0f), TDL_STATUS_BAD_ARGUMENT);
    assert_true(loss == 42.0f);
    for (size_t i = 0; i < 3; ++i) assert_true(d[i] == 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_loss_forward_matches_reference),
        cmocka_unit_test(test_loss_backward_matches_finite_differences),
        cmocka_unit_test(test_soft_label_losses_with_unnormalized_labels),
        cmocka_unit_test(test_binary_focal_matches_reference_and_finite_differences),
        cmocka_unit_test(test_focal_backward_confident_rows),
        cmocka_unit_test(test_focal_gamma_zero_is_alpha_times_cross_entropy),
        cmocka_unit_test(test_focal_one_hot_equals_sparse),
        cmocka_unit_test(test_softmax_losses_at_extreme_logits),
        cmocka_unit_test(test_sigmoid_losses_at_extreme_logits),
        cmocka_unit_test(test_focal_finite_when_target_is_certain),
        cmocka_unit_test(test_sparse_losses_reject_bad_labels),
        cmocka_unit_test(test_sparse_losses_reject_bad_arguments),
        cmocka_unit_test(test_binary_xent_on_probabilities),
        cmocka_unit_test(test_label_smoothing_matches_reference_and_finite_differences),
        cmocka_unit_test(test_sparse_smoothing_equals_one_hot_smoothing),
        cmocka_unit_test(test_binary_xent_smoothing_on_probabilities),
        cmocka_unit_test(test_huber_deltas),
        cmocka_unit_test(test_mae_subgradient_at_zero),
        cmocka_unit_test(test_smoothing_and_delta_reject_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
