/* concat and multiply: forwards against plain index-by-index references,
 * backwards against central finite differences of a random linear
 * functional L = sum_j w_j y_j, plus NULL-gradient skipping, accumulation
 * and multiply's aliasing rules.
 *
 * Tolerances: each check passes when |got - want| <= atol + rtol * |want|.
 * - concat forward is a copy: compared exactly.
 * - concat backward: L is linear and y an exact copy of x, so the central
 *   difference is exact up to the double sum's rounding: atol 1e-5, rtol 1e-5.
 * - multiply forward: one float product, the same in the reference: exact.
 * - multiply backward: each y_j is a float product rounded to ~6e-8 |y_j|;
 *   with |w|, |a|, |b| < 2 and h = 1e-2 the difference quotient is off by at
 *   most ~2 * 6e-8 * 4 / 2e-2 ~ 2.4e-5: atol 1e-4, rtol 1e-4. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

/* Gradient buffers start here, not at 0, so every check also shows that the
 * backward accumulates; exact in binary, so subtracting it loses nothing. */
#define GRADIENT_START 0.5f

/* ------------------------------------------------------------------ */
/* concat                                                              */
/* ------------------------------------------------------------------ */

enum { MAX_INPUTS = 4, MAX_CONCAT = 256 };

/* The common shape, with dims[axis] unused; input i has lens[i] there. */
typedef struct concat_case {
    const char *what;
    int rank;
    int dims[TDL_MAX_RANK];
    int axis;
    int count;
    int lens[MAX_INPUTS];
} concat_case;

static const concat_case CONCAT_CASES[] = {
    {"axis 0 (outer = 1)", 2, {0, 4}, 0, 2, {2, 3}},
    {"last axis of NHWC (inner = 1)", 4, {2, 3, 2, 0}, 3, 2, {3, 2}},
    {"middle axis", 3, {2, 0, 5}, 1, 2, {1, 4}},
    {"three inputs of different lengths", 4, {2, 3, 0, 2}, 2, 3, {1, 3, 2}},
    {"one input (a copy)", 2, {3, 0}, 1, 1, {4}},
};
#define CONCAT_CASE_COUNT (sizeof CONCAT_CASES / sizeof *CONCAT_CASES)

/* The sentinel that stands for the output in concat_dim and concat_count. */
#define OUTPUT (-1)

static int concat_axis_total(const concat_case *c) {
    int total = 0;
    for (int i = 0; i < c->count; ++i) total += c->lens[i];
    return total;
}

/* Size of axis a of input `input` (or of the output). */
static int concat_dim(const concat_case *c, int input, int a) {
    if (a != c->axis) return c->dims[a];
    return input == OUTPUT ? concat_axis_total(c) : c->lens[input];
}

static size_t concat_count(const concat_case *c, int input) {
    size_t n = 1;
    for (int a = 0; a < c->rank; ++a) n *= (size_t)concat_dim(c, input, a);
    return n;
}

/* The (outer, inner) view of the kernel: the products before and after the axis. */
static void concat_view(const concat_case *c, size_t *outer, size_t *inner) {
    *outer = 1;
    *inner = 1;
    for (int a = 0; a < c->axis; ++a) *outer *= (size_t)c->dims[a];
    for (int a = c->axis + 1; a < c->rank; ++a) *inner *= (size_t)c->dims[a];
}

/* Reference: each output element's multi-index is taken apart with
 * division; its coordinate on the axis says which input it comes from and
 * where, and the same multi-index with that coordinate is looked up in the
 * input's own shape. */
static void reference_concat(float *y, float inputs[][MAX_CONCAT], const concat_case *c) {
    const size_t n = concat_count(c, OUTPUT);
    for (size_t j = 0; j < n; ++j) {
        int index[TDL_MAX_RANK] = {0};
        size_t rest = j;
        for (int a = c->rank - 1; a >= 0; --a) {
            const size_t size = (size_t)concat_dim(c, OUTPUT, a);
            index[a] = (int)(rest % size);
            rest /= size;
        }
        int input = 0;
        while (index[c->axis] >= c->lens[input]) {
            index[c->axis] -= c->lens[input];
            ++input;
        }
        size_t source = 0;
        for (int a = 0; a < c->rank; ++a) source = source * (size_t)concat_dim(c, input, a) + (size_t)index[a];
        y[j] = inputs[input][source];
    }
}

/* The concat_case's inputs, its output and the functional's weights. */
typedef struct concat_state {
    const concat_case *c;
    float x[MAX_INPUTS][MAX_CONCAT];
    float w[MAX_CONCAT];
    float y[MAX_CONCAT];
} concat_state;

static void concat_fill(concat_state *s, const concat_case *c) {
    s->c = c;
    for (int i = 0; i < c->count; ++i) {
        assert_true(concat_count(c, i) <= MAX_CONCAT);
        for (size_t k = 0; k < concat_count(c, i); ++k) s->x[i][k] = uniform(-1.0f, 1.0f);
    }
    assert_true(concat_count(c, OUTPUT) <= MAX_CONCAT);
    for (size_t j = 0; j < concat_count(c, OUTPUT); ++j) s->w[j] = uniform(-1.0f, 1.0f);
}

static void concat_run(concat_state *s) {
    const float *inputs[MAX_INPUTS];
    for (int i = 0; i < s->c->count; ++i) inputs[i] = s->x[i];
    size_t outer, inner;
    concat_view(s->c, &outer, &inner);
    tdl_concat_forward(s->y, inputs, s->c->lens, s->c->count, outer, inner);
}

/* L = sum_j w_j y_j, accumulated in double. */
static double concat_objective(void *ctx) {
    concat_state *s = ctx;
    concat_run(s);
    double sum = 0.0;
    for (size_t j = 0; j < concat_count(s->c, OUTPUT); ++j) sum += (double)s->w[j] * s->y[j];
    return sum;
}

/* Every case's forward equals the index-by-index reference exactly. */
static void test_concat_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 31;
    static concat_state s;
    for (size_t k = 0; k < CONCAT_CASE_COUNT; ++k) {
        const concat_case *c = &CONCAT_CASES[k];
        concat_fill(&s, c);
        concat_run(&s);
        float want[MAX_CONCAT];
        reference_concat(want, s.x, c);
        for (size_t j = 0; j < concat_count(c, OUTPUT); ++j) {
            if (s.y[j] != want[j]) fail_msg("%s: y[%zu] = %g, want %g", c->what, j, (double)s.y[j], (double)want[j]);
        }
    }
}

/* Every case's backward matches central differences of L and adds onto
 * what the gradient buffers held. */
static void test_concat_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 32;
    static concat_state s;
    for (size_t k = 0; k < CONCAT_CASE_COUNT; ++k) {
        const concat_case *c = &CONCAT_CASES[k];
        concat_fill(&s, c);
        static float dx[MAX_INPUTS][MAX_CONCAT];
        float *dinputs[MAX_INPUTS];
        for (int i = 0; i < c->count; ++i) {
            for (size_t e = 0; e < MAX_CONCAT; ++e) dx[i][e] = GRADIENT_START;
            dinputs[i] = dx[i];
        }
        size_t outer, inner;
        concat_view(c, &outer, &inner);
        tdl_concat_backward(dinputs, s.w, c->lens, c->count, outer, inner);
        for (int i = 0; i < c->count; ++i) {
            for (size_t e = 0; e < concat_count(c, i); ++e) {
                check_close(c->what, e, dx[i][e] - GRADIENT_START,
                            central_difference(concat_objective, &s, s.x[i], e, 1e-2f), 1e-5, 1e-5);
            }
            /* Nothing past the input's own elements is written. */
            for (size_t e = concat_count(c, i); e < MAX_CONCAT; ++e) assert_true(dx[i][e] == GRADIENT_START);
        }
    }
}

/* A NULL dinputs[i] is skipped; the others still get their slices. */
static void test_concat_backward_skips_null(void **state) {
    (void)state;
    const concat_case *c = &CONCAT_CASES[3]; /* three inputs, lens 1, 3, 2 on axis 2 */
    size_t outer, inner;
    concat_view(c, &outer, &inner);
    float dy[MAX_CONCAT];
    for (size_t j = 0; j < concat_count(c, OUTPUT); ++j) dy[j] = (float)j;
    float d0[MAX_CONCAT] = {0}, d2[MAX_CONCAT] = {0};
    float *dinputs[3] = {d0, NULL, d2};
    tdl_concat_backward(dinputs, dy, c->lens, 3, outer, inner);

    /* Each input element is marked with a unique id (input * MAX_CONCAT +
     * index); the reference concat of the ids says which dy each one gets. */
    static float x[MAX_INPUTS][MAX_CONCAT];
    for (int i = 0; i < 3; ++i) {
        for (size_t e = 0; e < concat_count(c, i); ++e) x[i][e] = (float)(i * MAX_CONCAT + (int)e);
    }
    float y[MAX_CONCAT];
    reference_concat(y, x, c);
    float want0[MAX_CONCAT] = {0}, want2[MAX_CONCAT] = {0};
    for (size_t j = 0; j < concat_count(c, OUTPUT); ++j) {
        const int id = (int)y[j];
        if (id / MAX_CONCAT == 0) want0[id % MAX_CONCAT] = dy[j];
        if (id / MAX_CONCAT == 2) want2[id % MAX_CONCAT] = dy[j];
    }
    assert_memory_equal(d0, want0, sizeof d0);
    assert_memory_equal(d2, want2, sizeof d2);
}

/* Two backward calls add up: the gradient buffers are never overwritten. */
static void test_concat_backward_accumulates(void **state) {
    (void)state;
    const int lens[2] = {1, 2};
    const float dy[6] = {1, 2, 3, 4, 5, 6}; /* (outer 2, 3, inner 1) */
    float a[2] = {10, 20}, b[4] = {100, 200, 300, 400};
    float *dinputs[2] = {a, b};
    tdl_concat_backward(dinputs, dy, lens, 2, 2, 1);
    tdl_concat_backward(dinputs, dy, lens, 2, 2, 1);
    const float want_a[2] = {12, 28}, want_b[4] = {104, 206, 310, 412};
    assert_memory_equal(a, want_a, sizeof a);
    assert_memory_equal(b, want_b, sizeof b);
}

/* ------------------------------------------------------------------ */
/* multiply                                                            */
/* ------------------------------------------------------------------ */

enum { MULTIPLY_N = 37 };

typedef struct multiply_state {
    float a[MULTIPLY_N], b[MULTIPLY_N], w[MULTIPLY_N], y[MULTIPLY_N];
    bool square; /* y = a * a, b unused */
} multiply_state;

static void multiply_fill(multiply_state *s) {
    for (size_t i = 0; i < MULTIPLY_N; ++i) {
        s->a[i] = uniform(-2.0f, 2.0f);
        s->b[i] = uniform(-2.0f, 2.0f);
        s->w[i] = uniform(-1.0f, 1.0f);
    }
}

static double multiply_objective(void *ctx) {
    multiply_state *s = ctx;
    tdl_multiply_forward(s->y, s->a, s->square ? s->a : s->b, MULTIPLY_N);
    double sum = 0.0;
    for (size_t i = 0; i < MULTIPLY_N; ++i) sum += (double)s->w[i] * s->y[i];
    return sum;
}

/* y = a * b element by element, also when y is a, b or both. */
static void test_multiply_forward_and_aliasing(void **state) {
    (void)state;
    lcg_state = 41;
    multiply_state s;
    multiply_fill(&s);
    tdl_multiply_forward(s.y, s.a, s.b, MULTIPLY_N);
    for (size_t i = 0; i < MULTIPLY_N; ++i) assert_true(s.y[i] == s.a[i] * s.b[i]);

    float in_a[MULTIPLY_N], in_b[MULTIPLY_N], square[MULTIPLY_N];
    memcpy(in_a, s.a, sizeof in_a);
    tdl_multiply_forward(in_a, in_a, s.b, MULTIPLY_N);
    memcpy(in_b, s.b, sizeof in_b);
    tdl_multiply_forward(in_b, s.a, in_b, MULTIPLY_N);
    memcpy(square, s.a, sizeof square);
    tdl_multiply_forward(square, square, square, MULTIPLY_N);
    for (size_t i = 0; i < MULTIPLY_N; ++i) {
        assert_true(in_a[i] == s.y[i]);
        assert_true(in_b[i] == s.y[i]);
        assert_true(square[i] == s.a[i] * s.a[i]);
    }
}

/* da and db match central differences of L and accumulate. */
static void test_multiply_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 42;
    static multiply_state s;
    multiply_fill(&s);
    s.square = false;
    float da[MULTIPLY_N], db[MULTIPLY_N];
    for (size_t i = 0; i < MULTIPLY_N; ++i) da[i] = db[i] = GRADIENT_START;
    tdl_multiply_backward(da, db, s.w, s.a, s.b, MULTIPLY_N);
    for (size_t i = 0; i < MULTIPLY_N; ++i) {
        check_close("da", i, da[i] - GRADIENT_START, central_difference(multiply_objective, &s, s.a, i, 1e-2f),
                    1e-4, 1e-4);
        check_close("db", i, db[i] - GRADIENT_START, central_difference(multiply_objective, &s, s.b, i, 1e-2f),
                    1e-4, 1e-4);
    }
}

/* x * x: one buffer as both da and db collects 2 * dy * x, the derivative
 * of x^2, and keeps what it held. */
static void test_multiply_backward_square_shares_gradient(void **state) {
    (void)state;
    lcg_state = 43;
    static multiply_state s;
    multiply_fill(&s);
    s.square = true;
    float dx[MULTIPLY_N];
    for (size_t i = 0; i < MULTIPLY_N; ++i) dx[i] = GRADIENT_START;
    tdl_multiply_backward(dx, dx, s.w, s.a, s.a, MULTIPLY_N);
    for (size_t i = 0; i < MULTIPLY_N; ++i) {
        check_close("dx", i, dx[i] - GRADIENT_START, central_difference(multiply_objective, &s, s.a, i, 1e-2f),
                    1e-4, 1e-4);
    }
}

/* A NULL da or db is skipped; the other is still computed. */
static void test_multiply_backward_skips_null(void **state) {
    (void)state;
    const float a[3] = {1, 2, 3}, b[3] = {-1, 0.5f, 4}, dy[3] = {2, 2, -1};
    float da[3] = {1, 1, 1}, db[3] = {1, 1, 1};
    tdl_multiply_backward(da, NULL, dy, a, b, 3);
    tdl_multiply_backward(NULL, db, dy, a, b, 3);
    const float want_da[3] = {-1, 2, -3}, want_db[3] = {3, 5, -2};
    assert_memory_equal(da, want_da, sizeof da);
    assert_memory_equal(db, want_db, sizeof db);
    tdl_multiply_backward(NULL, NULL, dy, a, b, 3); /* nothing to do, nothing touched */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_forward_matches_reference),
        cmocka_unit_test(test_concat_backward_matches_finite_differences),
        cmocka_unit_test(test_concat_backward_skips_null),
        cmocka_unit_test(test_concat_backward_accumulates),
        cmocka_unit_test(test_multiply_forward_and_aliasing),
        cmocka_unit_test(test_multiply_backward_matches_finite_differences),
        cmocka_unit_test(test_multiply_backward_square_shares_gradient),
        cmocka_unit_test(test_multiply_backward_skips_null),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
