/* dropout, add, reductions, one_hot and argmax: forwards against plain
 * references, backwards against central finite differences.
 *
 * Tolerances: each check passes when |got - want| <= atol + rtol * |want|.
 * - reduce forward: double-accumulated sums against double, atol 1e-5, rtol 1e-6.
 * - reduce backward: the ops are linear in each input (max is, away from ties),
 *   so only the float rounding of the outputs matters: with h = 4e-3 and
 *   outputs below ~20, 1e-6 / 8e-3 gives ~1.2e-4: atol 5e-4, rtol 1e-3. */
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
/* dropout and add                                                     */
/* ------------------------------------------------------------------ */

enum { DROPOUT_N = 20000 };

/* rate 0 keeps everything with mask 1. */
static void test_dropout_rate_zero_is_identity(void **state) {
    (void)state;
    lcg_state = 21;
    float x[64], y[64], mask[64];
    for (size_t i = 0; i < 64; ++i) x[i] = uniform(-1.0f, 1.0f);
    tdl_rng rng;
    tdl_rng_seed(&rng, 7, 0);
    tdl_dropout_forward(y, mask, x, 64, 0.0f, &rng);
    for (size_t i = 0; i < 64; ++i) {
        assert_true(mask[i] == 1.0f);
        assert_true(y[i] == x[i]);
    }
}

/* About rate of the elements are dropped, the rest scaled by 1 / (1 - rate);
 * the same seed gives the same mask; backward multiplies by the mask and accumulates. */
static void test_dropout_drops_and_scales(void **state) {
    (void)state;
    static float x[DROPOUT_N], y[DROPOUT_N], mask[DROPOUT_N], y_again[DROPOUT_N], mask_again[DROPOUT_N],
        dx[DROPOUT_N];
    lcg_state = 22;
    for (size_t i = 0; i < DROPOUT_N; ++i) x[i] = uniform(0.5f, 1.5f);
    const float rate = 0.25f;
    tdl_rng rng;
    tdl_rng_seed(&rng, 42, 1);
    tdl_dropout_forward(y, mask, x, DROPOUT_N, rate, &rng);
    size_t dropped = 0;
    for (size_t i = 0; i < DROPOUT_N; ++i) {
        if (mask[i] == 0.0f) {
            ++dropped;
            assert_true(y[i] == 0.0f);
        } else {
            assert_true(mask[i] == 1.0f / (1.0f - rate));
            assert_true(y[i] == x[i] * mask[i]);
        }
    }
    /* Binomial(20000, 0.25) has a standard deviation of ~61: +-400 is > 6 sigma. */
    assert_in_range(dropped, 5000 - 400, 5000 + 400);

    tdl_rng_seed(&rng, 42, 1);
    tdl_dropout_forward(y_again, mask_again, x, DROPOUT_N, rate, &rng);
    assert_memory_equal(mask_again, mask, sizeof mask);
    assert_memory_equal(y_again, y, sizeof y);

    for (size_t i = 0; i < DROPOUT_N; ++i) dx[i] = 1.0f;
    tdl_dropout_backward(dx, x, mask, DROPOUT_N);
    for (size_t i = 0; i < DROPOUT_N; ++i) assert_true(dx[i] == 1.0f + x[i] * mask[i]);
}

/* Large enough that both tdl_zero and tdl_dropout_backward split over a
 * team of two (16384 elements a thread at least), with a ragged end. */
enum { SPLIT_N = 3 * 16384 + 7 };

/* Split over the team, the zeroing still covers exactly its n elements and
 * the backward gives each element the bits of dx + dy * mask. */
static void test_zero_and_dropout_backward_on_the_team(void **state) {
    (void)state;
    static float buffer[SPLIT_N + 2], dx[SPLIT_N], dy[SPLIT_N], mask[SPLIT_N];
    const int threads = tdl_get_num_threads();
    tdl_set_num_threads(2);
    for (size_t i = 0; i < SPLIT_N + 2; ++i) buffer[i] = 7.0f;
    tdl_zero(buffer + 1, SPLIT_N);
    assert_true(buffer[0] == 7.0f && buffer[SPLIT_N + 1] == 7.0f);
    for (size_t i = 1; i <= SPLIT_N; ++i) assert_true(buffer[i] == 0.0f);

    for (size_t i = 0; i < SPLIT_N; ++i) {
        dx[i] = uniform(-1.0f, 1.0f);
        dy[i] = uniform(-1.0f, 1.0f);
        mask[i] = i % 3 == 0 ? 0.0f : 4.0f / 3.0f;
        buffer[i] = dx[i] + dy[i] * mask[i];
    }
    tdl_dropout_backward(dx, dy, mask, SPLIT_N);
    assert_memory_equal(dx, buffer, sizeof dx);
    tdl_set_num_threads(threads);
}

/* rate 1 drops everything instead of dividing by zero. */
static void test_dropout_rate_one_drops_all(void **state) {
    (void)state;
    float x[16], y[16], mask[16];
    for (size_t i = 0; i < 16; ++i) x[i] = (float)i + 1.0f;
    tdl_rng rng;
    tdl_rng_seed(&rng, 3, 0);
    tdl_dropout_forward(y, mask, x, 16, 1.0f, &rng);
    for (size_t i = 0; i < 16; ++i) assert_true(y[i] == 0.0f && mask[i] == 0.0f);
}

/* The mask is the one a loop of tdl_rng_uniform draws, element by element,
 * whatever the length (lanes and ragged ends), the thread count and
 * whether y is x; the generator ends where that loop leaves it. */
static void test_dropout_follows_the_stream(void **state) {
    (void)state;
    enum { MOST = 100003 };
    static float x[MOST], y[MOST], mask[MOST];
    const size_t lengths[] = {1, 15, 16, 17, 33, 1000, MOST};
    const float rate = 0.3f, keep = 1.0f / (1.0f - rate);
    const int before = tdl_get_num_threads();
    lcg_state = 23;
    for (size_t i = 0; i < MOST; ++i) x[i] = uniform(-2.0f, 2.0f);
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t l = 0; l < sizeof lengths / sizeof lengths[0]; ++l) {
            const size_t n = lengths[l];
            tdl_rng rng, reference;
            tdl_rng_seed(&rng, 99 + n, 4);
            reference = rng;
            tdl_dropout_forward(y, mask, x, n, rate, &rng);
            for (size_t i = 0; i < n; ++i) {
                const float want = tdl_rng_uniform(&reference) < rate ? 0.0f : keep;
                if (mask[i] != want || y[i] != x[i] * want)
                    fail_msg("threads %d, n %zu: element %zu has mask %g, want %g", threads, n, i, (double)mask[i],
                             (double)want);
            }
            assert_true(rng.state == reference.state);
        }
        /* In place: y is x. */
        static float in_place[MOST];
        for (size_t i = 0; i < MOST; ++i) in_place[i] = x[i];
        tdl_rng rng;
        tdl_rng_seed(&rng, 11, 2);
        tdl_dropout_forward(in_place, mask, in_place, MOST, rate, &rng);
        for (size_t i = 0; i < MOST; ++i) assert_true(in_place[i] == x[i] * mask[i]);
    }
    tdl_set_num_threads(before);
}

/* add is elementwise a + b. */
static void test_add_forward(void **state) {
    (void)state;
    const float a[5] = {1, -2, 3.5f, 0, 1e4f};
    const float b[5] = {0.5f, 2, -1, 0, -1e4f};
    float y[5];
    tdl_add_forward(y, a, b, 5);
    for (size_t i = 0; i < 5; ++i) assert_true(y[i] == a[i] + b[i]);
}

/* ------------------------------------------------------------------ */
/* Reductions                                                          */
/* ------------------------------------------------------------------ */

enum { MAX_REDUCE = 256 };

/* Reference: every element of x is visited in order, its multi-index taken
 * apart with division, and sent to its place in the keepdims-shaped output
 * (reduced axes of size 1). That the result matches tdl_reduce_forward's
 * output shows keepdims only changes the shape, not the memory. */
static void reference_reduce(double *y, const float *x, const int *dims, int rank, unsigned mask,
                             tdl_reduce_op op) {
    size_t total = 1, out_total = 1;
    for (int a = 0; a < rank; ++a) {
        total *= (size_t)dims[a];
        if (!(mask & (1u << a))) out_total *= (size_t)dims[a];
    }
    size_t counts[MAX_REDUCE] = {0};
    for (size_t j = 0; j < out_total; ++j) y[j] = op == TDL_REDUCE_MAX ? -INFINITY : 0.0;
    for (size_t i = 0; i < total; ++i) {
        size_t rest = i, out = 0, out_stride = 1;
        for (int a = rank - 1; a >= 0; --a) {
            const size_t index = rest % (size_t)dims[a];
            rest /= (size_t)dims[a];
            const size_t keepdims_size = (mask & (1u << a)) ? 1 : (size_t)dims[a];
            const size_t keepdims_index = (mask & (1u << a)) ? 0 : index;
            out += keepdims_index * out_stride;
            out_stride *= keepdims_size;
        }
        if (op == TDL_REDUCE_MAX) {
            y[out] = fmax(y[out], x[i]);
        } else {
            y[out] += x[i];
        }
        counts[out]++;
    }
    if (op == TDL_REDUCE_MEAN) {
        for (size_t j = 0; j < out_total; ++j) y[j] /= (double)counts[j];
    }
}

typedef struct reduce_case {
    int dims[TDL_MAX_RANK];
    int rank;
    unsigned mask;
} reduce_case;

static const reduce_case REDUCE_CASES[] = {
    {{2, 3, 4, 5}, 4, 0x0},                 /* nothing reduced: a copy */
    {{2, 3, 4, 5}, 4, 0x1},                 /* the batch axis */
    {{2, 3, 4, 5}, 4, 0x2},                 /* a middle axis */
    {{2, 3, 4, 5}, 4, 0x8},                 /* the last axis */
    {{2, 3, 4, 5}, 4, 0x6},                 /* H and W of NHWC */
    {{2, 3, 4, 5}, 4, 0xA},                 /* two axes apart */
    {{2, 3, 4, 5}, 4, 0x5},                 /* axes 0 and 2 */
    {{2, 3, 4, 5}, 4, 0xF},                 /* all axes: a scalar */
    {{7}, 1, 0x1},                          /* rank 1 */
    {{1, 9}, 2, 0x2},                       /* batch 1 */
    {{2, 2, 2, 2, 2, 2, 2, 2}, 8, 0xA5},    /* rank 8, scattered axes */
};

static size_t element_count(const int *dims, int rank, unsigned mask) {
    size_t n = 1;
    for (int a = 0; a < rank; ++a) {
        if (!(mask & (1u << a))) n *= (size_t)dims[a];
    }
    return n;
}

static const tdl_reduce_op ALL_REDUCE_OPS[] = {TDL_REDUCE_SUM, TDL_REDUCE_MEAN, TDL_REDUCE_MAX};

/* sum, mean and max over one, several and all axes match the reference. */
static void test_reduce_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 23;
    for (size_t k = 0; k < sizeof REDUCE_CASES / sizeof *REDUCE_CASES; ++k) {
        const reduce_case *rc = &REDUCE_CASES[k];
        const size_t n = element_count(rc->dims, rc->rank, 0);
        const size_t out_n = element_count(rc->dims, rc->rank, rc->mask);
        float x[MAX_REDUCE], y[MAX_REDUCE];
        double want[MAX_REDUCE];
        for (size_t i = 0; i < n; ++i) x[i] = uniform(-3.0f, 3.0f);
        for (size_t o = 0; o < 3; ++o) {
            tdl_reduce_forward(y, x, rc->dims, rc->rank, rc->mask, ALL_REDUCE_OPS[o]);
            reference_reduce(want, x, rc->dims, rc->rank, rc->mask, ALL_REDUCE_OPS[o]);
            for (size_t j = 0; j < out_n; ++j) check_close("y", j, y[j], want[j], 1e-5, 1e-6);
        }
    }
}

typedef struct reduce_grad_case {
    const reduce_case *shape;
    tdl_reduce_op op;
    float x[MAX_REDUCE], y[MAX_REDUCE], w[MAX_REDUCE];
} reduce_grad_case;

static double reduce_objective(void *ctx) {
    reduce_grad_case *c = ctx;
    tdl_reduce_forward(c->y, c->x, c->shape->dims, c->shape->rank, c->shape->mask, c->op);
    double s = 0;
    for (size_t j = 0; j < element_count(c->shape->dims, c->shape->rank, c->shape->mask); ++j) {
        s += (double)c->w[j] * c->y[j];
    }
    return s;
}

/* Each backward matches finite differences; inputs are distinct (0.01 apart)
 * so no step of 4e-3 changes which element is the max. */
static void test_reduce_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 24;
    static reduce_grad_case c;
    for (size_t k = 0; k < sizeof REDUCE_CASES / sizeof *REDUCE_CASES; ++k) {
        c.shape = &REDUCE_CASES[k];
        const size_t n = element_count(c.shape->dims, c.shape->rank, 0);
        const size_t out_n = element_count(c.shape->dims, c.shape->rank, c.shape->mask);
        /* 257 is prime, so i * 97 mod 257 never repeats for i < 257: values 0.01
         * apart, centred on 0 so that sums stay small and precise. */
        for (size_t i = 0; i < n; ++i) c.x[i] = ((float)((i * 97) % 257) - 128.0f) * 0.01f;
        for (size_t j = 0; j < out_n; ++j) c.w[j] = uniform(-1.0f, 1.0f);
        for (size_t o = 0; o < 3; ++o) {
            c.op = ALL_REDUCE_OPS[o];
            float dx[MAX_REDUCE];
            for (size_t i = 0; i < n; ++i) dx[i] = 2.0f;
            reduce_objective(&c);
            tdl_reduce_backward(dx, c.w, c.y, c.x, c.shape->dims, c.shape->rank, c.shape->mask, c.op);
            for (size_t i = 0; i < n; ++i) {
                check_close("dx", i, dx[i] - 2.0, central_difference(reduce_objective, &c, c.x, i, 4e-3f), 5e-4,
                            1e-3);
            }
        }
    }
}

/* The gradient of a max is shared equally among the elements that tie for it. */
static void test_reduce_max_backward_splits_ties(void **state) {
    (void)state;
    const int dims[2] = {2, 4};
    const float x[8] = {1, 3, 3, 2, 5, 5, 5, 0};
    const float dy[2] = {1.0f, 3.0f};
    float y[2], dx[8] = {0};
    tdl_reduce_forward(y, x, dims, 2, 0x2, TDL_REDUCE_MAX);
    assert_true(y[0] == 3.0f && y[1] == 5.0f);
    tdl_reduce_backward(dx, dy, y, x, dims, 2, 0x2, TDL_REDUCE_MAX);
    const float want[8] = {0, 0.5f, 0.5f, 0, 1, 1, 1, 0};
    for (size_t i = 0; i < 8; ++i) assert_true(dx[i] == want[i]);
}

/* A NaN wins a max, and then no element receives gradient. */
static void test_reduce_max_propagates_nan(void **state) {
    (void)state;
    const int dims[1] = {4};
    const float x[4] = {1, NAN, 7, 2};
    const float dy[1] = {1.0f};
    float y[1], dx[4] = {0};
    tdl_reduce_forward(y, x, dims, 1, 0x1, TDL_REDUCE_MAX);
    assert_true(isnan(y[0]));
    tdl_reduce_backward(dx, dy, y, x, dims, 1, 0x1, TDL_REDUCE_MAX);
    for (size_t i = 0; i < 4; ++i) assert_true(dx[i] == 0.0f);
}

/* ------------------------------------------------------------------ */
/* one_hot and argmax                                                  */
/* ------------------------------------------------------------------ */

/* Each row has a single 1 at the label's column. */
static void test_one_hot_forward(void **state) {
    (void)state;
    const int32_t labels[4] = {2, 0, 4, 2};
    float y[4 * 5];
    assert_int_equal(tdl_one_hot_forward(y, labels, 4, 5), TDL_STATUS_OK);
    for (size_t i = 0; i < 4; ++i) {
        for (int c = 0; c < 5; ++c) assert_true(y[i * 5 + (size_t)c] == (c == labels[i] ? 1.0f : 0.0f));
    }
}

/* A label outside [0, depth) is BAD_LABEL, named with its position, and nothing is written. */
static void test_one_hot_bad_label(void **state) {
    (void)state;
    const int32_t too_big[3] = {1, 0, 5};
    const int32_t negative[3] = {1, -1, 0};
    float y[3 * 5];
    for (size_t i = 0; i < 15; ++i) y[i] = 42.0f;
    assert_int_equal(tdl_one_hot_forward(y, too_big, 3, 5), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "one_hot: label 5 at position 2 is outside [0, 5)");
    assert_int_equal(tdl_one_hot_forward(y, negative, 3, 5), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "one_hot: label -1 at position 1 is outside [0, 5)");
    for (size_t i = 0; i < 15; ++i) assert_true(y[i] == 42.0f);
    assert_int_equal(tdl_one_hot_forward(y, too_big, 3, 0), TDL_STATUS_BAD_ARGUMENT);
}

/* f32 labels become int32 by truncation toward zero; NaN, infinities and values
 * beyond int32 are BAD_LABEL, named with their position, and nothing is written. */
static void test_labels_from_float(void **state) {
    (void)state;
    const float values[5] = {0.0f, 3.0f, 2.9f, -0.5f, -2.0f};
    int32_t labels[5];
    assert_int_equal(tdl_labels_from_float(labels, values, 5), TDL_STATUS_OK);
    const int32_t want[5] = {0, 3, 2, 0, -2};
    for (size_t i = 0; i < 5; ++i) assert_int_equal(labels[i], want[i]);

    const float bad[4][2] = {{1.0f, NAN}, {1.0f, INFINITY}, {1.0f, 3e9f}, {1.0f, -3e9f}};
    for (size_t k = 0; k < 4; ++k) {
        int32_t out[2] = {7, 7};
        assert_int_equal(tdl_labels_from_float(out, bad[k], 2), TDL_STATUS_BAD_LABEL);
        assert_non_null(strstr(tdl_last_error(), "at position 1"));
        assert_int_equal(out[0], 7);
    }
}

/* argmax over a middle axis gives the first maximum. */
static void test_argmax_middle_axis_first_maximum(void **state) {
    (void)state;
    /* x: (2, 3, 2), argmax over the 3 */
    const float x[12] = {
        1, 9,  5, 9,  5, 0, /* outer 0: column 0 ties 5,5 -> 1; column 1 ties 9,9 -> 0 */
        -1, -3, -2, -3, -1, -4, /* outer 1: column 0 ties -1,-1 -> 0; column 1 ties -3,-3 -> 0 */
    };
    int32_t y[4];
    tdl_argmax_forward(y, x, 2, 3, 2);
    assert_int_equal(y[0], 1);
    assert_int_equal(y[1], 0);
    assert_int_equal(y[2], 0);
    assert_int_equal(y[3], 0);
}

/* argmax over the last axis matches a plain scan for batch 7. */
static void test_argmax_last_axis(void **state) {
    (void)state;
    lcg_state = 25;
    float x[7 * 11];
    int32_t y[7];
    for (size_t i = 0; i < 77; ++i) x[i] = uniform(-1.0f, 1.0f);
    tdl_argmax_forward(y, x, 7, 11, 1);
    for (size_t b = 0; b < 7; ++b) {
        int32_t best = 0;
        for (int32_t c = 1; c < 11; ++c) {
            if (x[b * 11 + (size_t)c] > x[b * 11 + (size_t)best]) best = c;
        }
        assert_int_equal(y[b], best);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dropout_rate_zero_is_identity),
        cmocka_unit_test(test_dropout_drops_and_scales),
        cmocka_unit_test(test_zero_and_dropout_backward_on_the_team),
        cmocka_unit_test(test_dropout_rate_one_drops_all),
        cmocka_unit_test(test_dropout_follows_the_stream),
        cmocka_unit_test(test_add_forward),
        cmocka_unit_test(test_reduce_forward_matches_reference),
        cmocka_unit_test(test_reduce_backward_matches_finite_differences),
        cmocka_unit_test(test_reduce_max_backward_splits_ties),
        cmocka_unit_test(test_reduce_max_propagates_nan),
        cmocka_unit_test(test_one_hot_forward),
        cmocka_unit_test(test_one_hot_bad_label),
        cmocka_unit_test(test_labels_from_float),
        cmocka_unit_test(test_argmax_middle_axis_first_maximum),
        cmocka_unit_test(test_argmax_last_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
