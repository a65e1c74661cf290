/* subtract and rescaling, the kernels of `a - b` and `x * 0.5 + 1.0`:
 * forwards against the plain formula, backwards against central finite
 * differences of a random linear functional L = sum_j w_j y_j, plus
 * accumulation, NULL skipping and aliasing (x - x).
 *
 * Tolerances (|got - want| <= atol + rtol * |want|):
 * - forwards are one float operation, the same in the reference: exact.
 * - backwards: y_j is a float rounded to ~6e-8 |y_j| (|y| < 6); with h = 1e-2
 *   the difference quotient is off by at most ~2 * 6e-8 * 6 / 2e-2 ~ 4e-5:
 *   atol 1e-4, rtol 1e-4. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

/* Gradient buffers start here, so every check also shows accumulation. */
#define GRADIENT_START 0.5f

enum { N = 29 };

typedef struct elementwise_state {
    float a[N], b[N], w[N], y[N];
    bool same;           /* subtract: y = a - a */
    float scale, offset; /* rescaling */
} elementwise_state;

static void fill(elementwise_state *s) {
    for (size_t i = 0; i < N; ++i) {
        s->a[i] = uniform(-2.0f, 2.0f);
        s->b[i] = uniform(-2.0f, 2.0f);
        s->w[i] = uniform(-1.0f, 1.0f);
    }
    s->scale = -1.75f;
    s->offset = 0.625f;
}

static double weighted_sum(const elementwise_state *s) {
    double sum = 0.0;
    for (size_t i = 0; i < N; ++i) sum += (double)s->w[i] * s->y[i];
    return sum;
}

static double subtract_objective(void *ctx) {
    elementwise_state *s = ctx;
    tdl_subtract_forward(s->y, s->a, s->same ? s->a : s->b, N);
    return weighted_sum(s);
}

static double rescaling_objective(void *ctx) {
    elementwise_state *s = ctx;
    tdl_rescaling_forward(s->y, s->a, N, s->scale, s->offset);
    return weighted_sum(s);
}

/* y = a - b element by element, also in place over a or b. */
static void test_subtract_forward_and_aliasing(void **state) {
    (void)state;
    lcg_state = 51;
    elementwise_state s;
    fill(&s);
    tdl_subtract_forward(s.y, s.a, s.b, N);
    float in_a[N], in_b[N];
    memcpy(in_a, s.a, sizeof in_a);
    memcpy(in_b, s.b, sizeof in_b);
    tdl_subtract_forward(in_a, in_a, s.b, N);
    tdl_subtract_forward(in_b, s.a, in_b, N);
    for (size_t i = 0; i < N; ++i) {
        assert_true(s.y[i] == s.a[i] - s.b[i]);
        assert_true(in_a[i] == s.y[i]);
        assert_true(in_b[i] == s.y[i]);
    }
}

/* da = dy, db = -dy, accumulated: compared with central differences. */
static void test_subtract_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 52;
    static elementwise_state s;
    fill(&s);
    s.same = false;
    float da[N], db[N];
    for (size_t i = 0; i < N; ++i) da[i] = db[i] = GRADIENT_START;
    tdl_subtract_backward(da, db, s.w, N);
    for (size_t i = 0; i < N; ++i) {
        check_close("da", i, da[i] - GRADIENT_START, central_difference(subtract_objective, &s, s.a, i, 1e-2f),
                    1e-4, 1e-4);
        check_close("db", i, db[i] - GRADIENT_START, central_difference(subtract_objective, &s, s.b, i, 1e-2f),
                    1e-4, 1e-4);
    }
}

/* x - x: one buffer as both da and db gets nothing in total (y is 0 for any x). */
static void test_subtract_backward_of_itself_is_zero(void **state) {
    (void)state;
    lcg_state = 53;
    elementwise_state s;
    fill(&s);
    float dx[N];
    for (size_t i = 0; i < N; ++i) dx[i] = GRADIENT_START;
    tdl_subtract_backward(dx, dx, s.w, N);
    for (size_t i = 0; i < N; ++i) assert_true(dx[i] == GRADIENT_START);
}

/* A NULL da or db is skipped; the other is still computed. */
static void test_subtract_backward_skips_null(void **state) {
    (void)state;
    const float dy[3] = {2, -1, 0.5f};
    float da[3] = {1, 1, 1}, db[3] = {1, 1, 1};
    tdl_subtract_backward(da, NULL, dy, 3);
    tdl_subtract_backward(NULL, db, dy, 3);
    const float want_da[3] = {3, 0, 1.5f}, want_db[3] = {-1, 2, 0.5f};
    assert_memory_equal(da, want_da, sizeof da);
    assert_memory_equal(db, want_db, sizeof db);
    tdl_subtract_backward(NULL, NULL, dy, 3);
}

/* y = x * scale + offset, also in place. */
static void test_rescaling_forward_and_aliasing(void **state) {
    (void)state;
    lcg_state = 54;
    elementwise_state s;
    fill(&s);
    tdl_rescaling_forward(s.y, s.a, N, s.scale, s.offset);
    float in_place[N];
    memcpy(in_place, s.a, sizeof in_place);
    tdl_rescaling_forward(in_place, in_place, N, s.scale, s.offset);
    for (size_t i = 0; i < N; ++i) {
        assert_true(s.y[i] == s.a[i] * s.scale + s.offset);
        assert_true(in_place[i] == s.y[i]);
    }
}

/* dx = dy * scale, accumulated; the offset does not matter. */
static void test_rescaling_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 55;
    static elementwise_state s;
    fill(&s);
    float dx[N];
    for (size_t i = 0; i < N; ++i) dx[i] = GRADIENT_START;
    tdl_rescaling_backward(dx, s.w, N, s.scale);
    for (size_t i = 0; i < N; ++i)
        check_close("dx", i, dx[i] - GRADIENT_START, central_difference(rescaling_objective, &s, s.a, i, 1e-2f),
                    1e-4, 1e-4);
    tdl_rescaling_backward(NULL, s.w, N, s.scale); /* a NULL dx is skipped */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subtract_forward_and_aliasing),
        cmocka_unit_test(test_subtract_backward_matches_finite_differences),
        cmocka_unit_test(test_subtract_backward_of_itself_is_zero),
        cmocka_unit_test(test_subtract_backward_skips_null),
        cmocka_unit_test(test_rescaling_forward_and_aliasing),
        cmocka_unit_test(test_rescaling_backward_matches_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
