/* SGD (plain, momentum, Nesterov), Adam and decoupled weight decay against
 * numbers worked out by hand and against double-precision reference loops
 * that spell out Keras' update rules. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

#define N 5
#define STEPS 6

static const float initial[N] = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f};

/* The gradient of step t (from 1): changes sign and size from step to step. */
static float gradient(int t, int i) {
    return (float)((i + 1) * 0.1 * (t % 2 == 0 ? -1.0 : 1.0) + 0.05 * t - 0.2 * i);
}

/* The Keras SGD update in double. */
static void reference_sgd(double *p, double *v, const double *g, const tdl_sgd_config *c) {
    for (int i = 0; i < N; ++i) {
        p[i] -= (double)c->learning_rate * c->weight_decay * p[i];
        if (c->momentum == 0.0f) {
            p[i] -= (double)c->learning_rate * g[i];
            continue;
        }
        v[i] = (double)c->momentum * v[i] - (double)c->learning_rate * g[i];
        p[i] += c->nesterov ? (double)c->momentum * v[i] - (double)c->learning_rate * g[i] : v[i];
    }
}

/* The Keras Adam update in double. */
static void reference_adam(double *p, double *m, double *v, const double *g, const tdl_adam_config *c, int t) {
    double lr = c->learning_rate, b1 = c->beta_1, b2 = c->beta_2;
    double lr_t = lr * sqrt(1.0 - pow(b2, t)) / (1.0 - pow(b1, t));
    for (int i = 0; i < N; ++i) {
        p[i] -= lr * c->weight_decay * p[i];
        m[i] = b1 * m[i] + (1.0 - b1) * g[i];
        v[i] = b2 * v[i] + (1.0 - b2) * g[i] * g[i];
        p[i] -= lr_t * m[i] / (sqrt(v[i]) + c->epsilon);
    }
}

/* Runs STEPS SGD steps through the runtime and the reference, comparing each. */
static void check_sgd_against_reference(const tdl_sgd_config *c) {
    float p[N], v[N] = {0}, g[N];
    double pr[N], vr[N] = {0}, gr[N];
    memcpy(p, initial, sizeof p);
    for (int i = 0; i < N; ++i) pr[i] = initial[i];
    for (int t = 1; t <= STEPS; ++t) {
        for (int i = 0; i < N; ++i) gr[i] = g[i] = gradient(t, i);
        tdl_sgd_step(p, c->momentum != 0.0f ? v : NULL, g, N, c);
        reference_sgd(pr, vr, gr, c);
        for (int i = 0; i < N; ++i) {
            assert_float_equal(p[i], pr[i], 1e-6f);
            if (c->momentum != 0.0f) assert_float_equal(v[i], vr[i], 1e-6f);
        }
    }
}

static void check_adam_against_reference(const tdl_adam_config *c) {
    float p[N], m[N] = {0}, v[N] = {0}, g[N];
    double pr[N], mr[N] = {0}, vr[N] = {0}, gr[N];
    memcpy(p, initial, sizeof p);
    for (int i = 0; i < N; ++i) pr[i] = initial[i];
    for (int t = 1; t <= STEPS; ++t) {
        for (int i = 0; i < N; ++i) gr[i] = g[i] = gradient(t, i);
        tdl_adam_step(p, m, v, g, N, c, t);
        reference_adam(pr, mr, vr, gr, c, t);
        for (int i = 0; i < N; ++i) {
            assert_float_equal(p[i], pr[i], 1e-6f);
            assert_float_equal(m[i], mr[i], 1e-6f);
            assert_float_equal(v[i], vr[i], 1e-7f);
        }
    }
}

/* Plain SGD by hand: p = 1 - 0.1 * 0.5 = 0.95, then 0.95 - 0.1 * 0.5 = 0.9. */
static void test_sgd_by_hand(void **state) {
    (void)state;
    tdl_sgd_config c = {.learning_rate = 0.1f};
    float p = 1.0f, g = 0.5f;
    tdl_sgd_step(&p, NULL, &g, 1, &c);
    assert_float_equal(p, 0.95f, 1e-7f);
    tdl_sgd_step(&p, NULL, &g, 1, &c);
    assert_float_equal(p, 0.9f, 1e-7f);
}

/* Momentum 0.9 by hand: v = -0.05, p = 0.95; v = -0.095, p = 0.855. */
static void test_sgd_momentum_by_hand(void **state) {
    (void)state;
    tdl_sgd_config c = {.learning_rate = 0.1f, .momentum = 0.9f};
    float p = 1.0f, v = 0.0f, g = 0.5f;
    tdl_sgd_step(&p, &v, &g, 1, &c);
    assert_float_equal(v, -0.05f, 1e-7f);
    assert_float_equal(p, 0.95f, 1e-7f);
    tdl_sgd_step(&p, &v, &g, 1, &c);
    assert_float_equal(v, -0.095f, 1e-7f);
    assert_float_equal(p, 0.855f, 1e-7f);
}

/* Nesterov by hand: p += 0.9 v - 0.05 with the new v: 0.905, then 0.7695. */
static void test_sgd_nesterov_by_hand(void **state) {
    (void)state;
    tdl_sgd_config c = {.learning_rate = 0.1f, .momentum = 0.9f, .nesterov = true};
    float p = 1.0f, v = 0.0f, g = 0.5f;
    tdl_sgd_step(&p, &v, &g, 1, &c);
    assert_float_equal(p, 0.905f, 1e-7f);
    tdl_sgd_step(&p, &v, &g, 1, &c);
    assert_float_equal(v, -0.095f, 1e-7f);
    assert_float_equal(p, 0.7695f, 1e-7f);
}

/* Several steps of every SGD variant follow the reference loop. */
static void test_sgd_several_steps(void **state) {
    (void)state;
    check_sgd_against_reference(&(tdl_sgd_config){.learning_rate = 0.05f});
    check_sgd_against_reference(&(tdl_sgd_config){.learning_rate = 0.05f, .momentum = 0.9f});
    check_sgd_against_reference(&(tdl_sgd_config){.learning_rate = 0.05f, .momentum = 0.8f, .nesterov = true});
}

/* Weight decay shrinks p by lr * wd * p before the step: 1 - 0.1*0.5*1 - 0.1*0.5 = 0.9. */
static void test_sgd_weight_decay(void **state) {
    (void)state;
    tdl_sgd_config c = {.learning_rate = 0.1f, .weight_decay = 0.5f};
    float p = 1.0f, g = 0.5f;
    tdl_sgd_step(&p, NULL, &g, 1, &c);
    assert_float_equal(p, 0.9f, 1e-7f);
    check_sgd_against_reference(&(tdl_sgd_config){.learning_rate = 0.05f, .momentum = 0.9f,
                                                   .weight_decay = 0.01f});
    check_sgd_against_reference(&(tdl_sgd_config){.learning_rate = 0.05f, .weight_decay = 0.2f});
}

/* Momentum without a velocity buffer is refused and leaves p alone. */
static void test_sgd_momentum_needs_velocity(void **state) {
    (void)state;
    tdl_sgd_config c = {.learning_rate = 0.1f, .momentum = 0.9f};
    float p = 1.0f, g = 0.5f;
    tdl_set_error(TDL_STATUS_OK, "%s", "");
    tdl_sgd_step(&p, NULL, &g, 1, &c);
    assert_float_equal(p, 1.0f, 0.0f);
    assert_non_null(strstr(tdl_last_error(), "velocity"));
}

/* Adam's first step moves each parameter by almost exactly lr against the sign of g. */
static void test_adam_first_step_by_hand(void **state) {
    (void)state;
    tdl_adam_config c = {.learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
    float p[3] = {1.0f, 1.0f, 1.0f}, m[3] = {0}, v[3] = {0};
    const float g[3] = {0.5f, -2.0f, 1e-3f};
    tdl_adam_step(p, m, v, g, 3, &c, 1);
    /* m = 0.1 g, v = 0.001 g^2, lr_t = 0.001 * sqrt(0.001) / 0.1, so the step is
     * 0.001 * |g| / (|g| + 1e-7 / sqrt(0.001)) in the direction of -g. */
    for (int i = 0; i < 3; ++i) {
        double magnitude = 0.001 * fabs(g[i]) / (fabs(g[i]) + 1e-7 / sqrt(0.001));
        assert_float_equal(p[i], 1.0 - (g[i] > 0 ? magnitude : -magnitude), 1e-7f);
        /* 1 - 0.9f and 1 - 0.999f are not exactly 0.1 and 0.001 in float. */
        assert_float_equal(m[i], 0.1 * g[i], 1e-6 * fabs(0.1 * g[i]));
        assert_float_equal(v[i], 0.001 * g[i] * g[i], 1e-4 * 0.001 * g[i] * g[i]);
    }
    assert_float_equal(p[0], 0.999f, 1e-6f);
    assert_float_equal(p[1], 1.001f, 1e-6f);
}

/* Several Adam steps (bias correction in every one) follow the reference loop. */
static void test_adam_several_steps(void **state) {
    (void)state;
    check_adam_against_reference(
        &(tdl_adam_config){.learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f});
    check_adam_against_reference(
        &(tdl_adam_config){.learning_rate = 0.01f, .beta_1 = 0.5f, .beta_2 = 0.9f, .epsilon = 1e-3f});
}

/* AdamW: the decay is lr * wd * p, independent of the moments. */
static void test_adam_weight_decay(void **state) {
    (void)state;
    check_adam_against_reference(&(tdl_adam_config){
        .learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f, .weight_decay = 0.1f});
    /* A zero gradient leaves only the decay: p = 2 - 0.01 * 0.1 * 2. */
    tdl_adam_config c = {.learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f,
                         .weight_decay = 0.1f};
    float p = 2.0f, m = 0.0f, v = 0.0f, g = 0.0f;
    tdl_adam_step(&p, &m, &v, &g, 1, &c, 1);
    assert_float_equal(p, 1.998f, 1e-7f);
}

/* A step below 1 counts as step 1 instead of dividing by 1 - beta_1^0 = 0. */
static void test_adam_step_zero_is_step_one(void **state) {
    (void)state;
    tdl_adam_config c = {.learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
    float p0 = 1.0f, m0 = 0.0f, v0 = 0.0f, p1 = 1.0f, m1 = 0.0f, v1 = 0.0f, g = 0.25f;
    tdl_adam_step(&p0, &m0, &v0, &g, 1, &c, 0);
    tdl_adam_step(&p1, &m1, &v1, &g, 1, &c, 1);
    assert_true(isfinite(p0));
    assert_float_equal(p0, p1, 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_by_hand),
        cmocka_unit_test(test_sgd_momentum_by_hand),
        cmocka_unit_test(test_sgd_nesterov_by_hand),
        cmocka_unit_test(test_sgd_several_steps),
        cmocka_unit_test(test_sgd_weight_decay),
        cmocka_unit_test(test_sgd_momentum_needs_velocity),
        cmocka_unit_test(test_adam_first_step_by_hand),
        cmocka_unit_test(test_adam_several_steps),
        cmocka_unit_test(test_adam_weight_decay),
        cmocka_unit_test(test_adam_step_zero_is_step_one),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
