/* Activations and softmax: forwards against plain double references, backwards
 * against central finite differences.
 *
 * Tolerances: each check passes when |got - want| <= atol + rtol * |want|.
 * - forwards: float results against double references, atol 1e-6, rtol 1e-5.
 * - elementwise backwards: a step h = 1e-3 moves one output only, whose float
 *   rounding (~6e-8) divided by 2h gives ~3e-5 of noise: atol 1e-4, rtol 1e-3.
 * - softmax backward: h = 1e-2 moves a whole axis (5 to 10 outputs) and the
 *   truncation error is O(h^2): atol 2e-4, rtol 1e-2. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

/* ------------------------------------------------------------------ */
/* Elementwise activations                                             */
/* ------------------------------------------------------------------ */

enum { N = 37 };
static const float LEAKY_ALPHA = 0.3f;

static double reference_activation(double x, tdl_activation activation, double alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR: return x;
    case TDL_ACTIVATION_RELU: return x > 0 ? x : 0;
    case TDL_ACTIVATION_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case TDL_ACTIVATION_TANH: return tanh(x);
    case TDL_ACTIVATION_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case TDL_ACTIVATION_ELU: return x > 0 ? x : alpha * (exp(x) - 1.0);
    case TDL_ACTIVATION_SOFTPLUS: return log(1.0 + exp(x));
    }
    return NAN;
}

static const tdl_activation ALL_ACTIVATIONS[] = {
    TDL_ACTIVATION_LINEAR, TDL_ACTIVATION_RELU, TDL_ACTIVATION_SIGMOID, TDL_ACTIVATION_TANH,
    TDL_ACTIVATION_LEAKY_RELU, TDL_ACTIVATION_ELU, TDL_ACTIVATION_SOFTPLUS,
};

typedef struct activation_case {
    tdl_activation activation;
    float x[N], y[N], w[N];
} activation_case;

/* Sum of w * f(x): its gradient with respect to x is backward(dy = w). */
static double activation_objective(void *ctx) {
    activation_case *c = ctx;
    tdl_activation_forward(c->y, c->x, N, c->activation, LEAKY_ALPHA);
    double s = 0;
    for (size_t i = 0; i < N; ++i) s += (double)c->w[i] * c->y[i];
    return s;
}

/* Every activation matches its double reference, also computed in place. */
static void test_activation_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 1;
    for (size_t a = 0; a < sizeof ALL_ACTIVATIONS / sizeof *ALL_ACTIVATIONS; ++a) {
        float x[N], y[N], in_place[N];
        for (size_t i = 0; i < N; ++i) in_place[i] = x[i] = uniform(-6.0f, 6.0f);
        tdl_activation_forward(y, x, N, ALL_ACTIVATIONS[a], LEAKY_ALPHA);
        tdl_activation_forward(in_place, in_place, N, ALL_ACTIVATIONS[a], LEAKY_ALPHA);
        for (size_t i = 0; i < N; ++i) {
            check_close("y", i, y[i], reference_activation(x[i], ALL_ACTIVATIONS[a], LEAKY_ALPHA), 1e-6, 1e-5);
            assert_true(in_place[i] == y[i]);
        }
    }
}

/* sigmoid and tanh stay finite and accurate for very large |x|. */
static void test_activation_extreme_inputs(void **state) {
    (void)state;
    const float x[] = {-1e4f, -200.0f, -80.0f, -20.0f, 0.0f, 20.0f, 80.0f, 200.0f, 1e4f};
    enum { COUNT = sizeof x / sizeof *x };
    float sig[COUNT], th[COUNT];
    tdl_activation_forward(sig, x, COUNT, TDL_ACTIVATION_SIGMOID, 0.0f);
    tdl_activation_forward(th, x, COUNT, TDL_ACTIVATION_TANH, 0.0f);
    for (size_t i = 0; i < COUNT; ++i) {
        assert_true(isfinite(sig[i]) && sig[i] >= 0.0f && sig[i] <= 1.0f);
        assert_true(isfinite(th[i]) && fabsf(th[i]) <= 1.0f);
    }
    assert_true(sig[0] == 0.0f);
    assert_true(sig[COUNT - 1] == 1.0f);
    assert_true(sig[4] == 0.5f);
    /* e^-20 is far below float epsilon: 1 - sigmoid would lose it, the x < 0 branch keeps it. */
    check_close("sigmoid(-20)", 3, sig[3], 1.0 / (1.0 + exp(20.0)), 0.0, 1e-6);
    check_close("sigmoid(-80)", 2, sig[2], 1.0 / (1.0 + exp(80.0)), 0.0, 1e-5);
    assert_true(th[0] == -1.0f && th[COUNT - 1] == 1.0f);
}

/* Each backward matches finite differences of its forward and accumulates. */
static void test_activation_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 2;
    activation_case c;
    for (size_t a = 0; a < sizeof ALL_ACTIVATIONS / sizeof *ALL_ACTIVATIONS; ++a) {
        c.activation = ALL_ACTIVATIONS[a];
        for (size_t i = 0; i < N; ++i) {
            /* |x| >= 0.1 keeps the relu kink out of reach of the step. */
            const float magnitude = uniform(0.1f, 3.0f);
            c.x[i] = uniform(-1.0f, 1.0f) < 0 ? -magnitude : magnitude;
            c.w[i] = uniform(-1.0f, 1.0f);
        }
        float dx[N];
        for (size_t i = 0; i < N; ++i) dx[i] = 0.5f;
        activation_objective(&c);
        tdl_activation_backward(dx, c.w, c.y, N, c.activation, LEAKY_ALPHA);
        for (size_t i = 0; i < N; ++i) {
            const double numeric = central_difference(activation_objective, &c, c.x, i, 1e-3f);
            check_close("dx", i, (double)dx[i] - 0.5, numeric, 1e-4, 1e-3);
        }
    }
}

/* At x = 0 relu passes no gradient and leaky_relu passes alpha, as in TensorFlow. */
static void test_activation_backward_at_zero(void **state) {
    (void)state;
    const float y[2] = {0.0f, 0.0f};
    const float dy[2] = {2.0f, -4.0f};
    float dx[2] = {0};
    tdl_activation_backward(dx, dy, y, 2, TDL_ACTIVATION_RELU, 0.0f);
    assert_true(dx[0] == 0.0f && dx[1] == 0.0f);
    tdl_activation_backward(dx, dy, y, 2, TDL_ACTIVATION_LEAKY_RELU, 0.25f);
    assert_true(dx[0] == 0.5f && dx[1] == -1.0f);
    /* elu at 0: alpha, the slope of the negative side (PyTorch's choice). */
    dx[0] = dx[1] = 0.0f;
    tdl_activation_backward(dx, dy, y, 2, TDL_ACTIVATION_ELU, 0.5f);
    assert_true(dx[0] == 1.0f && dx[1] == -2.0f);
}

/* softplus keeps log1p(e^x) for very negative x and x itself for large x;
 * elu saturates at -alpha; both slopes stay finite and in range. */
static void test_elu_softplus_extreme_inputs(void **state) {
    (void)state;
    const float x[] = {-1e4f, -100.0f, -30.0f, -1e-3f, 0.0f, 1e-3f, 30.0f, 100.0f, 1e4f};
    enum { COUNT = sizeof x / sizeof *x };
    float sp[COUNT], elu[COUNT], dsp[COUNT] = {0}, delu[COUNT] = {0}, ones[COUNT];
    for (size_t i = 0; i < COUNT; ++i) ones[i] = 1.0f;
    tdl_activation_forward(sp, x, COUNT, TDL_ACTIVATION_SOFTPLUS, 0.0f);
    tdl_activation_forward(elu, x, COUNT, TDL_ACTIVATION_ELU, 1.5f);
    tdl_activation_backward(dsp, ones, sp, COUNT, TDL_ACTIVATION_SOFTPLUS, 0.0f);
    tdl_activation_backward(delu, ones, elu, COUNT, TDL_ACTIVATION_ELU, 1.5f);
    for (size_t i = 0; i < COUNT; ++i) {
        check_close("softplus", i, sp[i], x[i] > 0 ? x[i] + log1p(exp(-x[i])) : log1p(exp(x[i])), 1e-30, 1e-6);
        check_close("softplus'", i, dsp[i], 1.0 / (1.0 + exp(-(double)x[i])), 1e-30, 1e-4);
        assert_true(isfinite(elu[i]) && elu[i] >= -1.5f);
        assert_true(isfinite(delu[i]) && delu[i] >= 0.0f && delu[i] <= 1.5f);
    }
    assert_true(elu[0] == -1.5f && elu[COUNT - 1] == 1e4f);
    assert_true(sp[COUNT - 1] == 1e4f && sp[0] == 0.0f);
}

/* ------------------------------------------------------------------ */
/* Softmax                                                             */
/* ------------------------------------------------------------------ */

enum { MAX_SOFTMAX = 7 * 10 * 4 };

typedef struct softmax_case {
    size_t outer, inner;
    int axis;
    float x[MAX_SOFTMAX], y[MAX_SOFTMAX], w[MAX_SOFTMAX];
} softmax_case;

static size_t softmax_count(const softmax_case *c) { return c->outer * (size_t)c->axis * c->inner; }

static double softmax_objective(void *ctx) {
    softmax_case *c = ctx;
    tdl_softmax_forward(c->y, c->x, c->outer, c->axis, c->inner);
    double s = 0;
    for (size_t i = 0; i < softmax_count(c); ++i) s += (double)c->w[i] * c->y[i];
    return s;
}

/* exp(x) / sum exp(x) along the axis, in double, without max subtraction
 * (fine for the moderate inputs used here). */
static double reference_softmax_at(const float *x, size_t o, int a, size_t in, int axis, size_t inner) {
    double sum = 0;
    for (int k = 0; k < axis; ++k) sum += exp((double)x[(o * (size_t)axis + (size_t)k) * inner + in]);
    return exp((double)x[(o * (size_t)axis + (size_t)a) * inner + in]) / sum;
}

static const struct {
    size_t outer;
    int axis;
    size_t inner;
} SOFTMAX_SHAPES[] = {
    {7, 10, 1}, /* last axis, batch 7 */
    {1, 10, 1}, /* batch 1 */
    {3, 5, 4},  /* a middle axis: (3, 5, 4) softmax over the 5 */
    {7, 3, 5},  /* batch 7, middle axis */
    {2, 1, 3},  /* an axis of length 1 gives ones */
};

/* Softmax over the last and over a middle axis matches the reference. */
static void test_softmax_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 3;
    softmax_case c;
    for (size_t s = 0; s < sizeof SOFTMAX_SHAPES / sizeof *SOFTMAX_SHAPES; ++s) {
        c.outer = SOFTMAX_SHAPES[s].outer;
        c.axis = SOFTMAX_SHAPES[s].axis;
        c.inner = SOFTMAX_SHAPES[s].inner;
        for (size_t i = 0; i < softmax_count(&c); ++i) c.x[i] = uniform(-5.0f, 5.0f);
        tdl_softmax_forward(c.y, c.x, c.outer, c.axis, c.inner);
        for (size_t o = 0; o < c.outer; ++o) {
            for (int a = 0; a < c.axis; ++a) {
                for (size_t in = 0; in < c.inner; ++in) {
                    const size_t i = (o * (size_t)c.axis + (size_t)a) * c.inner + in;
                    check_close("softmax", i, c.y[i], reference_softmax_at(c.x, o, a, in, c.axis, c.inner), 1e-6,
                                1e-5);
                }
            }
        }
    }
}

/* Logits of +-1e4 give exact one-hot probabilities, no NaN or overflow. */
static void test_softmax_extreme_logits(void **state) {
    (void)state;
    const float x[6] = {1e4f, -1e4f, 0.0f, -1e4f, -1e4f, -1e4f};
    float y[6];
    tdl_softmax_forward(y, x, 2, 3, 1);
    assert_true(y[0] == 1.0f && y[1] == 0.0f && y[2] == 0.0f);
    for (size_t i = 3; i < 6; ++i) check_close("uniform row", i, y[i], 1.0 / 3.0, 1e-7, 0.0);
}

/* The backward matches finite differences along last and middle axes, and accumulates. */
static void test_softmax_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 4;
    softmax_case c;
    for (size_t s = 0; s < sizeof SOFTMAX_SHAPES / sizeof *SOFTMAX_SHAPES; ++s) {
        c.outer = SOFTMAX_SHAPES[s].outer;
        c.axis = SOFTMAX_SHAPES[s].axis;
        c.inner = SOFTMAX_SHAPES[s].inner;
        const size_t count = softmax_count(&c);
        for (size_t i = 0; i < count; ++i) {
            c.x[i] = uniform(-2.0f, 2.0f);
            c.w[i] = uniform(-1.0f, 1.0f);
        }
        float dx[MAX_SOFTMAX];
        for (size_t i = 0; i < count; ++i) dx[i] = -1.0f;
        softmax_objective(&c);
        tdl_softmax_backward(dx, c.w, c.y, c.outer, c.axis, c.inner);
        for (size_t i = 0; i < count; ++i) {
            const double numeric = central_difference(softmax_objective, &c, c.x, i, 1e-2f);
            check_close("dx", i, (double)dx[i] + 1.0, numeric, 2e-4, 1e-2);
        }
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_activation_forward_matches_reference),
        cmocka_unit_test(test_activation_extreme_inputs),
        cmocka_unit_test(test_activation_backward_matches_finite_differences),
        cmocka_unit_test(test_activation_backward_at_zero),
        cmocka_unit_test(test_elu_softplus_extreme_inputs),
        cmocka_unit_test(test_softmax_forward_matches_reference),
        cmocka_unit_test(test_softmax_extreme_logits),
        cmocka_unit_test(test_softmax_backward_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
