/* RMSprop (plain, momentum, centered, both) and Adam with amsgrad against
 * double-precision reference loops that spell out Keras' formulas, and
 * against first steps worked out by hand. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

#define N 5
#define STEPS 8

static const float initial[N] = {1.0f, -2.0f, 0.5f, 0.0f, 3.0f};

/* The gradient of step t (from 1): changes sign and size from step to step,
 * shrinking at the end so that v_hat (amsgrad) keeps an older, larger v. */
static float gradient(int t, int i) {
    double scale = t > STEPS / 2 ? 0.2 : 1.0;
    return (float)(scale * ((i + 1) * 0.1 * (t % 2 == 0 ? -1.0 : 1.0) + 0.05 * t - 0.2 * i));
}

/* Keras RMSprop in double: epsilon inside the square root, lr inside the momentum. */
static void reference_rmsprop(double *p, double *v, double *mom, double *avg, const double *g,
                              const tdl_rmsprop_config *c) {
    double lr = c->learning_rate, rho = c->rho;
    for (int i = 0; i < N; ++i) {
        p[i] -= lr * c->weight_decay * p[i];
        v[i] = rho * v[i] + (1.0 - rho) * g[i] * g[i];
        double denominator = v[i] + c->epsilon;
        if (c->centered) {
            avg[i] = rho * avg[i] + (1.0 - rho) * g[i];
            denominator = v[i] - avg[i] * avg[i] + c->epsilon;
        }
        double increment = lr * g[i] / sqrt(denominator);
        if (c->momentum > 0.0f) {
            mom[i] = c->momentum * mom[i] + increment;
            p[i] -= mom[i];
        } else {
            p[i] -= increment;
        }
    }
}

static void check_rmsprop_against_reference(const tdl_rmsprop_config *c) {
    float p[N], v[N] = {0}, mom[N] = {0}, avg[N] = {0}, g[N];
    double pr[N], vr[N] = {0}, momr[N] = {0}, avgr[N] = {0}, gr[N];
    memcpy(p, initial, sizeof p);
    for (int i = 0; i < N; ++i) pr[i] = initial[i];
    for (int t = 1; t <= STEPS; ++t) {
        for (int i = 0; i < N; ++i) gr[i] = g[i] = gradient(t, i);
        tdl_rmsprop_step(p, v, c->momentum != 0.0f ? mom : NULL, c->centered ? avg : NULL, g, N, c);
        reference_rmsprop(pr, vr, momr, avgr, gr, c);
        for (int i = 0; i < N; ++i) {
            assert_float_equal(p[i], pr[i], 1e-5 * (1.0 + fabs(pr[i])));
            assert_float_equal(v[i], vr[i], 1e-6 * (1.0 + vr[i]));
            if (c->momentum != 0.0f) assert_float_equal(mom[i], momr[i], 1e-5 * (1.0 + fabs(momr[i])));
            if (c->centered) assert_float_equal(avg[i], avgr[i], 1e-6);
        }
    }
}

/* First step by hand: v = 0.1 g^2, p -= lr g / sqrt(0.1 g^2 + eps) = lr sign(g) / sqrt(0.1 + eps/g^2). */
static void test_rmsprop_first_step_by_hand(void **state) {
    (void)state;
    tdl_rmsprop_config c = {.learning_rate = 0.01f, .rho = 0.9f, .epsilon = 1e-7f};
    float p = 1.0f, v = 0.0f, g = 0.5f;
    tdl_rmsprop_step(&p, &v, NULL, NULL, &g, 1, &c);
    assert_float_equal(v, 0.025f, 1e-8f);
    assert_float_equal(p, 1.0 - 0.01 * 0.5 / sqrt(0.025 + 1e-7), 1e-7);
    /* The PyTorch placement (eps after the square root) would give a
     * different value: the two differ by more than float rounding here. */
    float p_small = 1.0f, v_small = 0.0f, g_small = 1e-4f;
    tdl_rmsprop_step(&p_small, &v_small, NULL, NULL, &g_small, 1, &c);
    double keras_small = 1.0 - 0.01 * 1e-4 / sqrt(0.1 * 1e-8 + 1e-7);
    double torch_small = 1.0 - 0.01 * 1e-4 / (sqrt(0.1 * 1e-8) + 1e-7);
    assert_float_equal(p_small, keras_small, 1e-7);
    assert_true(fabs(keras_small - torch_small) > 1e-4);
}

static void test_rmsprop_several_steps(void **state) {
    (void)state;
    check_rmsprop_against_reference(&(tdl_rmsprop_config){.learning_rate = 0.001f, .rho = 0.9f, .epsilon = 1e-7f});
    check_rmsprop_against_reference(
        &(tdl_rmsprop_config){.learning_rate = 0.01f, .rho = 0.8f, .momentum = 0.9f, .epsilon = 1e-7f});
    check_rmsprop_against_reference(
        &(tdl_rmsprop_config){.learning_rate = 0.01f, .rho = 0.9f, .epsilon = 1e-6f, .centered = true});
    check_rmsprop_against_reference(&(tdl_rmsprop_config){
        .learning_rate = 0.01f, .rho = 0.9f, .momentum = 0.5f, .epsilon = 1e-7f, .centered = true,
        .weight_decay = 0.05f});
}

/* A slot its settings need but that is missing is refused; p stays. */
static void test_rmsprop_needs_its_slots(void **state) {
    (void)state;
    float p = 1.0f, v = 0.0f, g = 0.5f;
    tdl_rmsprop_config centered = {.learning_rate = 0.01f, .rho = 0.9f, .epsilon = 1e-7f, .centered = true};
    tdl_rmsprop_step(&p, &v, NULL, NULL, &g, 1, &centered);
    assert_float_equal(p, 1.0f, 0.0f);
    assert_float_equal(v, 0.0f, 0.0f);
    tdl_rmsprop_config momentum = {.learning_rate = 0.01f, .rho = 0.9f, .epsilon = 1e-7f, .momentum = 0.9f};
    tdl_rmsprop_step(&p, &v, NULL, NULL, &g, 1, &momentum);
    assert_float_equal(p, 1.0f, 0.0f);
    assert_non_null(strstr(tdl_last_error(), "tdl_rmsprop_step"));
}

/* Keras Adam with amsgrad in double: v_hat = max(v_hat, v) replaces v in the step. */
static void reference_amsgrad(double *p, double *m, double *v, double *v_hat, const double *g,
                              const tdl_adam_config *c, int t) {
    double b1 = c->beta_1, b2 = c->beta_2;
    double lr_t = c->learning_rate * sqrt(1.0 - pow(b2, t)) / (1.0 - pow(b1, t));
    for (int i = 0; i < N; ++i) {
        p[i] *= 1.0 - (double)c->learning_rate * c->weight_decay;
        m[i] += (1.0 - b1) * (g[i] - m[i]);
        v[i] += (1.0 - b2) * (g[i] * g[i] - v[i]);
        v_hat[i] = fmax(v_hat[i], v[i]);
        p[i] -= lr_t * m[i] / (sqrt(v_hat[i]) + c->epsilon);
    }
}

static void test_adam_amsgrad_several_steps(void **state) {
    (void)state;
    tdl_adam_config c = {.learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.5f, .epsilon = 1e-7f,
                         .weight_decay = 0.004f, .amsgrad = true};
    float p[N], m[N] = {0}, v[N] = {0}, v_hat[N] = {0}, g[N];
    double pr[N], mr[N] = {0}, vr[N] = {0}, v_hatr[N] = {0}, gr[N];
    memcpy(p, initial, sizeof p);
    for (int i = 0; i < N; ++i) pr[i] = initial[i];
    int kept = 0; /* steps where v_hat held an older, larger v */
    for (int t = 1; t <= STEPS; ++t) {
        for (int i = 0; i < N; ++i) gr[i] = g[i] = gradient(t, i);
        tdl_adam_amsgrad_step(p, m, v, v_hat, g, N, &c, t);
        reference_amsgrad(pr, mr, vr, v_hatr, gr, &c, t);
        for (int i = 0; i < N; ++i) {
            assert_float_equal(p[i], pr[i], 1e-5 * (1.0 + fabs(pr[i])));
            assert_float_equal(v_hat[i], v_hatr[i], 1e-6 * (1.0 + v_hatr[i]));
            kept += v_hat[i] > v[i];
        }
    }
    assert_true(kept > 0); /* the test reaches the amsgrad branch */
}

/* amsgrad with a v_hat of zeros and one step is plain Adam (v_hat = v). */
static void test_adam_amsgrad_first_step_is_adam(void **state) {
    (void)state;
    tdl_adam_config c = {.learning_rate = 0.001f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f};
    float p0[3] = {1, 2, 3}, m0[3] = {0}, v0[3] = {0};
    float p1[3] = {1, 2, 3}, m1[3] = {0}, v1[3] = {0}, v_hat[3] = {0};
    const float g[3] = {0.5f, -2.0f, 1e-3f};
    tdl_adam_step(p0, m0, v0, g, 3, &c, 1);
    tdl_adam_amsgrad_step(p1, m1, v1, v_hat, g, 3, &c, 1);
    assert_memory_equal(p0, p1, sizeof p0);
    assert_memory_equal(v1, v_hat, sizeof v_hat);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rmsprop_first_step_by_hand),
        cmocka_unit_test(test_rmsprop_several_steps),
        cmocka_unit_test(test_rmsprop_needs_its_slots),
        cmocka_unit_test(test_adam_amsgrad_several_steps),
        cmocka_unit_test(test_adam_amsgrad_first_step_is_adam),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
