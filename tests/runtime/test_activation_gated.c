/* gelu (exact and tanh forms) and swish: forwards against plain double
 * references, backwards (which read the input) against central finite
 * differences, in place, and at extreme inputs.
 *
 * Tolerances: |got - want| <= atol + rtol * |want|.
 * - forwards: float results against double references, atol 1e-6, rtol 1e-5.
 * - backwards: h = 1e-3 on one output of magnitude <= 6, whose float rounding
 *   (~5e-7) over 2h is ~3e-4 of noise: atol 5e-4, rtol 1e-3. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

enum { N = 41 };

typedef enum gated_kind { GELU_EXACT, GELU_TANH, SWISH } gated_kind;
static const gated_kind ALL_KINDS[] = {GELU_EXACT, GELU_TANH, SWISH};

static double reference(double x, gated_kind kind) {
    switch (kind) {
    case GELU_EXACT: return 0.5 * x * (1.0 + erf(x / sqrt(2.0)));
    case GELU_TANH: return 0.5 * x * (1.0 + tanh(sqrt(2.0 / acos(-1.0)) * (x + 0.044715 * x * x * x)));
    case SWISH: return x / (1.0 + exp(-x));
    }
    return NAN;
}

static void forward(float *y, const float *x, size_t n, gated_kind kind) {
    if (kind == SWISH)
        tdl_swish_forward(y, x, n);
    else
        tdl_gelu_forward(y, x, n, kind == GELU_TANH ? TDL_GELU_TANH : TDL_GELU_EXACT);
}

static void backward(float *dx, const float *dy, const float *x, size_t n, gated_kind kind) {
    if (kind == SWISH)
        tdl_swish_backward(dx, dy, x, n);
    else
        tdl_gelu_backward(dx, dy, x, n, kind == GELU_TANH ? TDL_GELU_TANH : TDL_GELU_EXACT);
}

typedef struct gated_case {
    gated_kind kind;
    float x[N], y[N], w[N];
} gated_case;

/* Sum of w * f(x): its gradient with respect to x is backward(dy = w). */
static double objective(void *ctx) {
    gated_case *c = ctx;
    forward(c->y, c->x, N, c->kind);
    double s = 0;
    for (size_t i = 0; i < N; ++i) s += (double)c->w[i] * c->y[i];
    return s;
}

/* Every form matches its double reference, also computed in place. */
static void test_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 5;
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        float x[N], y[N], in_place[N];
        for (size_t i = 0; i < N; ++i) in_place[i] = x[i] = uniform(-6.0f, 6.0f);
        forward(y, x, N, ALL_KINDS[k]);
        forward(in_place, in_place, N, ALL_KINDS[k]);
        for (size_t i = 0; i < N; ++i) {
            check_close("y", i, y[i], reference(x[i], ALL_KINDS[k]), 1e-6, 1e-5);
            assert_true(in_place[i] == y[i]);
        }
    }
}

/* The two gelu forms differ (by less than 1e-3, the tanh form's known error). */
static void test_gelu_forms_differ(void **state) {
    (void)state;
    const float x[3] = {-1.5f, 0.7f, 2.5f};
    float exact[3], approx[3];
    tdl_gelu_forward(exact, x, 3, TDL_GELU_EXACT);
    tdl_gelu_forward(approx, x, 3, TDL_GELU_TANH);
    for (size_t i = 0; i < 3; ++i) {
        assert_true(exact[i] != approx[i]);
        assert_true(fabsf(exact[i] - approx[i]) < 1e-3f);
    }
}

/* Each backward matches finite differences of its forward, and accumulates. */
static void test_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 6;
    static gated_case c;
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        c.kind = ALL_KINDS[k];
        for (size_t i = 0; i < N; ++i) {
            c.x[i] = uniform(-5.0f, 5.0f);
            c.w[i] = uniform(-1.0f, 1.0f);
        }
        float dx[N];
        for (size_t i = 0; i < N; ++i) dx[i] = 0.5f;
        backward(dx, c.w, c.x, N, c.kind);
        for (size_t i = 0; i < N; ++i) {
            const double numeric = central_difference(objective, &c, c.x, i, 1e-3f);
            check_close("dx", i, (double)dx[i] - 0.5, numeric, 5e-4, 1e-3);
        }
    }
}

/* dx may be the input's own buffer: each element is read before it is written. */
static void test_backward_into_the_input(void **state) {
    (void)state;
    lcg_state = 7;
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        float x[N], dy[N], dx[N], shared[N];
        for (size_t i = 0; i < N; ++i) {
            shared[i] = x[i] = uniform(-4.0f, 4.0f);
            dy[i] = uniform(-1.0f, 1.0f);
            dx[i] = x[i];
        }
        backward(dx, dy, x, N, ALL_KINDS[k]);
        backward(shared, dy, shared, N, ALL_KINDS[k]);
        for (size_t i = 0; i < N; ++i) assert_true(shared[i] == dx[i]);
    }
}

/* Far from zero: the outputs tend to x and 0 and the slopes to 1 and 0, all
 * finite (x^3 of the tanh form overflows float beyond 7e12). */
static void test_extreme_inputs(void **state) {
    (void)state;
    const float x[] = {-1e30f, -1e4f, -100.0f, -20.0f, 0.0f, 20.0f, 100.0f, 1e4f, 1e30f};
    enum { COUNT = sizeof x / sizeof *x };
    for (size_t k = 0; k < sizeof ALL_KINDS / sizeof *ALL_KINDS; ++k) {
        float y[COUNT], dx[COUNT] = {0}, ones[COUNT];
        for (size_t i = 0; i < COUNT; ++i) ones[i] = 1.0f;
        forward(y, x, COUNT, ALL_KINDS[k]);
        backward(dx, ones, x, COUNT, ALL_KINDS[k]);
        for (size_t i = 0; i < COUNT; ++i) {
            assert_true(isfinite(y[i]) && isfinite(dx[i]));
            if (fabsf(x[i]) >= 100.0f) {   /* swish(-100) is -3.7e-42: 0 within 1e-30 */
                check_close("y", i, y[i], x[i] > 0 ? x[i] : 0.0f, 1e-30, 0.0);
                check_close("dx", i, dx[i], x[i] > 0 ? 1.0f : 0.0f, 1e-30, 0.0);
            }
        }
        assert_true(y[4] == 0.0f && dx[4] == 0.5f);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_gelu_forms_differ),
        cmocka_unit_test(test_backward_matches_finite_differences),
        cmocka_unit_test(test_backward_into_the_input),
        cmocka_unit_test(test_extreme_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
