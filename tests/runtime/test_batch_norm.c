/* batch_norm: the training and inference forwards against a naive
 * reference (statistics in double, element by element through a
 * multi-index), the backward against central finite differences of a random
 * linear functional L = sum_j w_j y_j through the training forward (whose
 * statistics depend on x), accumulation, NULL skipping, the moving-average
 * update and the scale/shift form used by the fused convolution.
 *
 * Cases cover the last axis (inner = 1, the vectorised path), a middle axis
 * (inner > 1) and more channels than one tile of the kernel (64).
 *
 * Tolerances (|got - want| <= atol + rtol |want|):
 * - forwards: y is O(3) (|gamma| < 1.5, |xhat| < ~3); float rounding of a
 *   handful of operations: atol 1e-5, rtol 1e-5. Statistics: atol 1e-6.
 * - backward: L is smooth in x; h = 1e-2 on inputs of O(1), with the
 *   statistics recomputed in each evaluation. The central difference's
 *   truncation error (h^2 f''' ~ 1e-4 |f'''|) and float rounding of y
 *   (6e-8 * 3 * sum |w| / 2h ~ 5e-4 for 64 elements): atol 2e-3, rtol 2e-3. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

#define GRADIENT_START 0.5f

enum { MAX_ELEMENTS = 4096, MAX_CHANNELS = 80 };

typedef struct bn_case {
    const char *what;
    int batch;
    size_t outer;
    int channels;
    size_t inner;
} bn_case;

static const bn_case CASES[] = {
    {"NHWC, axis -1", 3, 4, 5, 1},
    {"rank 2 [B,F]", 6, 1, 7, 1},
    {"middle axis (inner 3)", 2, 2, 4, 3},
    {"more channels than a tile", 2, 3, MAX_CHANNELS, 1},
    {"one example, one position", 1, 1, 3, 1},
};
#define CASE_COUNT (sizeof CASES / sizeof *CASES)

static size_t elements(const bn_case *c) {
    return (size_t)c->batch * c->outer * (size_t)c->channels * c->inner;
}

static tdl_batch_norm_desc desc_of(const bn_case *c) {
    return (tdl_batch_norm_desc){.outer = c->outer, .channels = c->channels, .inner = c->inner, .epsilon = 1e-3f};
}

/* The channel of flat element j. */
static int channel_of(const bn_case *c, size_t j) {
    return (int)((j / c->inner) % (size_t)c->channels);
}

/* Mean and biased variance per channel, in double, over the elements whose
 * channel it is. */
static void reference_statistics(double *mean, double *variance, const float *x, const bn_case *c) {
    double count[MAX_CHANNELS] = {0};
    for (int k = 0; k < c->channels; k++) mean[k] = variance[k] = 0.0;
    for (size_t j = 0; j < elements(c); j++) {
        mean[channel_of(c, j)] += x[j];
        count[channel_of(c, j)] += 1.0;
    }
    for (int k = 0; k < c->channels; k++) mean[k] /= count[k];
    for (size_t j = 0; j < elements(c); j++) {
        double e = x[j] - mean[channel_of(c, j)];
        variance[channel_of(c, j)] += e * e;
    }
    for (int k = 0; k < c->channels; k++) variance[k] /= count[k];
}

static void reference_normalise(double *y, const float *x, const double *mean, const double *variance,
                                const float *gamma, const float *beta, const bn_case *c) {
    for (size_t j = 0; j < elements(c); j++) {
        int k = channel_of(c, j);
        double g = gamma ? gamma[k] : 1.0, b = beta ? beta[k] : 0.0;
        y[j] = (x[j] - mean[k]) / sqrt(variance[k] + 1e-3) * g + b;
    }
}

typedef struct bn_state {
    const bn_case *c;
    float x[MAX_ELEMENTS], y[MAX_ELEMENTS], w[MAX_ELEMENTS];
    float gamma[MAX_CHANNELS], beta[MAX_CHANNELS];
    float mean[MAX_CHANNELS], variance[MAX_CHANNELS];
} bn_state;

static void fill(bn_state *s, const bn_case *c) {
    s->c = c;
    assert_true(elements(c) <= MAX_ELEMENTS && c->channels <= MAX_CHANNELS);
    /* Each channel gets its own offset and spread, as real features do. */
    for (size_t j = 0; j < elements(c); j++)
        s->x[j] = uniform(-1.0f, 1.0f) * (1.0f + 0.1f * (float)channel_of(c, j)) + 0.3f * (float)channel_of(c, j);
    for (size_t j = 0; j < elements(c); j++) s->w[j] = uniform(-1.0f, 1.0f);
    for (int k = 0; k < c->channels; k++) {
        s->gamma[k] = uniform(0.5f, 1.5f);
        s->beta[k] = uniform(-0.5f, 0.5f);
    }
}

static double objective(void *ctx) {
    bn_state *s = ctx;
    tdl_batch_norm_desc d = desc_of(s->c);
    tdl_batch_norm_forward_train(s->y, s->mean, s->variance, s->x, s->gamma, s->beta, &d, s->c->batch);
    double sum = 0.0;
    for (size_t j = 0; j < elements(s->c); j++) sum += (double)s->w[j] * s->y[j];
    return sum;
}

/* The training forward writes the batch's mean and biased variance and
 * normalises with them, as the reference does; with scale and center off
 * (NULL gamma, beta) too. */
static void test_forward_train_matches_reference(void **state) {
    (void)state;
    lcg_state = 41;
    static bn_state s;
    static double want[MAX_ELEMENTS];
    for (size_t i = 0; i < CASE_COUNT; i++) {
        const bn_case *c = &CASES[i];
        fill(&s, c);
        double mean[MAX_CHANNELS], variance[MAX_CHANNELS];
        reference_statistics(mean, variance, s.x, c);
        tdl_batch_norm_desc d = desc_of(c);
        for (int affine = 0; affine < 2; affine++) {
            const float *gamma = affine ? s.gamma : NULL, *beta = affine ? s.beta : NULL;
            tdl_batch_norm_forward_train(s.y, s.mean, s.variance, s.x, gamma, beta, &d, c->batch);
            reference_normalise(want, s.x, mean, variance, gamma, beta, c);
            for (int k = 0; k < c->channels; k++) {
                check_close(c->what, (size_t)k, s.mean[k], mean[k], 1e-6, 1e-6);
                check_close(c->what, (size_t)k, s.variance[k], variance[k], 1e-6, 1e-6);
            }
            for (size_t j = 0; j < elements(c); j++) check_close(c->what, j, s.y[j], want[j], 1e-5, 1e-5);
        }
    }
}

/* The inference forward normalises with the statistics it is given. */
static void test_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 42;
    static bn_state s;
    static double want[MAX_ELEMENTS];
    for (size_t i = 0; i < CASE_COUNT; i++) {
        const bn_case *c = &CASES[i];
        fill(&s, c);
        double mean[MAX_CHANNELS], variance[MAX_CHANNELS];
        for (int k = 0; k < c->channels; k++) {
            s.mean[k] = uniform(-1.0f, 1.0f);
            s.variance[k] = uniform(0.1f, 2.0f);
            mean[k] = s.mean[k];
            variance[k] = s.variance[k];
        }
        tdl_batch_norm_desc d = desc_of(c);
        tdl_batch_norm_forward(s.y, s.x, s.mean, s.variance, s.gamma, s.beta, &d, c->batch);
        reference_normalise(want, s.x, mean, variance, s.gamma, s.beta, c);
        for (size_t j = 0; j < elements(c); j++) check_close(c->what, j, s.y[j], want[j], 1e-5, 1e-5);
    }
}

/* scale/shift is the same affine map: x * scale + shift = forward. */
static void test_scale_shift_is_forward(void **state) {
    (void)state;
    lcg_state = 43;
    static bn_state s;
    const bn_case *c = &CASES[0];
    fill(&s, c);
    for (int k = 0; k < c->channels; k++) {
        s.mean[k] = uniform(-1.0f, 1.0f);
        s.variance[k] = uniform(0.1f, 2.0f);
    }
    tdl_batch_norm_desc d = desc_of(c);
    tdl_batch_norm_forward(s.y, s.x, s.mean, s.variance, s.gamma, s.beta, &d, c->batch);
    float scale[MAX_CHANNELS], shift[MAX_CHANNELS];
    tdl_batch_norm_scale_shift(scale, shift, s.mean, s.variance, s.gamma, s.beta, c->channels, 1e-3f);
    for (size_t j = 0; j < elements(c); j++) {
        int k = channel_of(c, j);
        check_close(c->what, j, s.x[j] * scale[k] + shift[k], s.y[j], 1e-5, 1e-5);
    }
}

/* dx, dgamma and dbeta match central differences of L through the
 * training forward, and add onto what the buffers held. */
static void test_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 44;
    static bn_state s;
    static float dx[MAX_ELEMENTS];
    for (size_t i = 0; i < CASE_COUNT; i++) {
        const bn_case *c = &CASES[i];
        if (c->batch * (int)c->outer * (int)c->inner == 1) continue;   /* one value per channel: xhat is 0/0 */
        fill(&s, c);
        float dgamma[MAX_CHANNELS], dbeta[MAX_CHANNELS];
        for (size_t j = 0; j < elements(c); j++) dx[j] = GRADIENT_START;
        for (int k = 0; k < c->channels; k++) dgamma[k] = dbeta[k] = GRADIENT_START;
        tdl_batch_norm_desc d = desc_of(c);
        tdl_batch_norm_forward_train(s.y, s.mean, s.variance, s.x, s.gamma, s.beta, &d, c->batch);
        tdl_batch_norm_backward(dx, dgamma, dbeta, s.w, s.x, s.mean, s.variance, s.gamma, &d, c->batch);
        for (size_t j = 0; j < elements(c); j++)
            check_close(c->what, j, dx[j] - GRADIENT_START, central_difference(objective, &s, s.x, j, 1e-2f), 2e-3,
                        2e-3);
        for (int k = 0; k < c->channels; k++) {
            check_close("dgamma", (size_t)k, dgamma[k] - GRADIENT_START,
                        central_difference(objective, &s, s.gamma, (size_t)k, 1e-2f), 2e-3, 2e-3);
            check_close("dbeta", (size_t)k, dbeta[k] - GRADIENT_START,
                        central_difference(objective, &s, s.beta, (size_t)k, 1e-2f), 2e-3, 2e-3);
        }
    }
}

/* Without gamma (scale=false) dx is that of gamma = 1; NULL dgamma, dbeta
 * and dx are skipped and the others still computed. */
static void test_backward_without_gamma_and_null_gradients(void **state) {
    (void)state;
    lcg_state = 45;
    static bn_state s;
    const bn_case *c = &CASES[0];
    fill(&s, c);
    for (int k = 0; k < c->channels; k++) s.gamma[k] = 1.0f;
    tdl_batch_norm_desc d = desc_of(c);
    tdl_batch_norm_forward_train(s.y, s.mean, s.variance, s.x, NULL, NULL, &d, c->batch);
    static float with_ones[MAX_ELEMENTS], without[MAX_ELEMENTS];
    memset(with_ones, 0, sizeof with_ones);
    memset(without, 0, sizeof without);
    tdl_batch_norm_backward(with_ones, NULL, NULL, s.w, s.x, s.mean, s.variance, s.gamma, &d, c->batch);
    tdl_batch_norm_backward(without, NULL, NULL, s.w, s.x, s.mean, s.variance, NULL, &d, c->batch);
    for (size_t j = 0; j < elements(c); j++) check_close("dx", j, without[j], with_ones[j], 0.0, 0.0);
    float dbeta[MAX_CHANNELS] = {0};
    tdl_batch_norm_backward(NULL, NULL, dbeta, s.w, s.x, s.mean, s.variance, NULL, &d, c->batch);
    for (int k = 0; k < c->channels; k++) {
        double sum = 0.0;
        for (size_t j = 0; j < elements(c); j++)
            if (channel_of(c, j) == k) sum += s.w[j];
        check_close("dbeta", (size_t)k, dbeta[k], sum, 1e-5, 1e-5);
    }
}

/* moving = moving * momentum + batch * (1 - momentum), elementwise. */
static void test_update_moving(void **state) {
    (void)state;
    float moving[5] = {0.0f, 1.0f, -2.0f, 4.0f, 0.5f};
    const float batch[5] = {1.0f, 1.0f, 2.0f, 0.0f, -0.5f};
    float want[5];
    for (int i = 0; i < 5; i++) want[i] = moving[i] * 0.99f + batch[i] * (1.0f - 0.99f);
    tdl_batch_norm_update_moving(moving, batch, 5, 0.99f);
    for (int i = 0; i < 5; i++) check_close("moving", (size_t)i, moving[i], want[i], 0.0, 0.0);
    tdl_batch_norm_update_moving(moving, batch, 5, 0.0f);   /* momentum 0: the batch's */
    for (int i = 0; i < 5; i++) check_close("moving", (size_t)i, moving[i], batch[i], 0.0, 0.0);
}

/* A bad descriptor or batch writes nothing. */
static void test_bad_arguments_write_nothing(void **state) {
    (void)state;
    float x[4] = {1, 2, 3, 4}, y[4] = {9, 9, 9, 9}, mean[2] = {7, 7}, variance[2] = {7, 7};
    tdl_batch_norm_desc d = {.outer = 1, .channels = 2, .inner = 1, .epsilon = 1e-3f};
    tdl_batch_norm_forward_train(y, mean, variance, x, NULL, NULL, &d, 0);
    tdl_batch_norm_forward_train(y, mean, variance, x, NULL, NULL, NULL, 2);
    d.channels = 0;
    tdl_batch_norm_forward(y, x, mean, variance, NULL, NULL, &d, 2);
    for (int i = 0; i < 4; i++) assert_true(y[i] == 9.0f);
    assert_true(mean[0] == 7.0f && variance[1] == 7.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_train_matches_reference),
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_scale_shift_is_forward),
        cmocka_unit_test(test_backward_matches_finite_differences),
        cmocka_unit_test(test_backward_without_gamma_and_null_gradients),
        cmocka_unit_test(test_update_moving),
        cmocka_unit_test(test_bad_arguments_write_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
