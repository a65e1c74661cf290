/* The softmax cross-entropies' exponentials (softmax_rows.c) against libm:
 * the vectorised exponential itself, each row's log-sum-exp and softmax
 * taken a block of rows (or a piece of a wide row) at a time, and the
 * losses built on them against a row-at-a-time reference in double, over
 * several blocks, a ragged last block and rows wider than the scratch. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "float_arrays.h"
#include "softmax_rows.h"
#include "tdl/runtime.h"

static double relative_error(double got, double want) {
    return want == 0.0 ? fabs(got) : fabs(got - want) / fabs(want);
}

/* ---- softmax_exp_in_place ---------------------------------------------- */

/* Every 2e-4 over [-708, 0] in pieces of 1000 (so that each call runs the
 * vector loop and its tail), against libm's exp. */
static void test_exp_matches_libm(void **state) {
    (void)state;
    enum { PIECE = 1003 };
    double v[PIECE], x[PIECE];
    double worst = 0.0;
    for (double start = -708.0; start < 0.0; start += PIECE * 2e-4) {
        for (int i = 0; i < PIECE; ++i) {
            x[i] = fmin(start + i * 2e-4, 0.0);
            v[i] = x[i];
        }
        softmax_exp_in_place(v, PIECE);
        for (int i = 0; i < PIECE; ++i) worst = fmax(worst, relative_error(v[i], exp(x[i])));
    }
    assert_true(worst <= 6e-16);
}

/* Where a rounding of x / ln 2 changes n, and the ends of the range. */
static void test_exp_at_its_edges(void **state) {
    (void)state;
    const double ln2 = 0.6931471805599453;
    double x[] = {0.0,        -0.0,         -1e-300,   -DBL_MIN, -0.5 * ln2, -0.5 * ln2 - 1e-12,
                  -1.5 * ln2, -100.5 * ln2, -707.9999, -708.0,   -1.0,       -87.33654475055310898657};
    enum { COUNT = sizeof x / sizeof x[0] };
    double v[COUNT];
    for (int i = 0; i < COUNT; ++i) v[i] = x[i];
    softmax_exp_in_place(v, COUNT);
    for (int i = 0; i < COUNT; ++i) assert_true(relative_error(v[i], exp(x[i])) <= 6e-16);
    assert_true(v[0] == 1.0 && v[1] == 1.0);
}

/* Below -708 and -infinity give 0 (a row's other members sum to at least
 * 1); NaN stays NaN, in any lane. */
static void test_exp_underflow_and_nan(void **state) {
    (void)state;
    double v[19];
    for (int i = 0; i < 19; ++i) v[i] = -1.0;
    v[0] = -708.5;
    v[3] = -1e300;
    v[8] = -INFINITY;
    v[9] = NAN;
    v[18] = NAN;
    softmax_exp_in_place(v, 19);
    assert_true(v[0] == 0.0 && v[3] == 0.0 && v[8] == 0.0);
    assert_true(isnan(v[9]) && isnan(v[18]));
    assert_true(relative_error(v[1], exp(-1.0)) <= 6e-16 && relative_error(v[17], exp(-1.0)) <= 6e-16);
}

/* ---- rows ------------------------------------------------------------------
 */

static double reference_lse(const float *row, size_t classes) {
    double max = row[0];
    for (size_t c = 1; c < classes; ++c) max = fmax(max, row[c]);
    double sum = 0.0;
    for (size_t c = 0; c < classes; ++c) sum += exp((double)row[c] - max);
    return max + log(sum);
}

/* e^(x_c - max) / sum_k e^(x_k - max): exact to a few units in the last
 * place, where e^(x_c - lse) carries the rounding of a large lse. */
static double reference_softmax(const float *row, size_t classes, size_t c) {
    double max = row[0];
    for (size_t k = 1; k < classes; ++k) max = fmax(max, row[k]);
    double sum = 0.0;
    for (size_t k = 0; k < classes; ++k) sum += exp((double)row[k] - max);
    return exp((double)row[c] - max) / sum;
}

static void test_block_rows(void **state) {
    (void)state;
    assert_int_equal(softmax_block_rows(1), SOFTMAX_ROWS_MAX);
    assert_int_equal(softmax_block_rows(10), 12);
    assert_int_equal(softmax_block_rows(64), 2);
    assert_int_equal(softmax_block_rows(SOFTMAX_BUFFER), 1);
    assert_int_equal(softmax_block_rows(SOFTMAX_BUFFER + 1), 1);
    assert_int_equal(softmax_block_rows(0), 1);
}

/* Rows of 1 to 300 classes (300: pieces of a row wider than the scratch;
 * with 16 rows, the lse in pieces of 8 classes), values up to 1e30 apart;
 * whole rows' softmax where they fit, single rows' in pieces. */
static void test_lse_and_probabilities_match_libm(void **state) {
    (void)state;
    const size_t widths[] = {1, 2, 3, 10, 17, 127, 128, 129, 300};
    const size_t row_counts[] = {1, 5, SOFTMAX_ROWS_MAX};
    for (size_t w = 0; w < sizeof widths / sizeof widths[0]; ++w) {
        for (size_t n = 0; n < sizeof row_counts / sizeof row_counts[0]; ++n) {
            const size_t classes = widths[w], rows = row_counts[n];
            float *logits = floats_of(rows * classes, -30.0f, 30.0f);
            logits[0] = 1e30f;
            if (rows * classes > 2) logits[rows * classes - 1] = -1e30f;
            double lse[SOFTMAX_ROWS_MAX], p[SOFTMAX_BUFFER];
            softmax_rows_lse(lse, logits, rows, classes);
            for (size_t r = 0; r < rows; ++r) {
                const double want = reference_lse(logits + r * classes, classes);
                assert_true(fabs(lse[r] - want) <= 1e-15 * fmax(1.0, fabs(want)));
            }
            if (rows * classes <= SOFTMAX_BUFFER) {
                double lse_too[SOFTMAX_ROWS_MAX];
                softmax_rows_probabilities(p, lse_too, logits, rows, classes);
                for (size_t i = 0; i < rows * classes; ++i) {
                    const double want = reference_softmax(logits + i / classes * classes, classes, i % classes);
                    assert_true(fabs(p[i] - want) <= 1e-15);
                }
                for (size_t r = 0; r < rows; ++r) assert_true(lse_too[r] == lse[r]);
            }
            if (rows == 1) {
                for (size_t first = 0; first < classes; first += SOFTMAX_BUFFER) {
                    const size_t count = classes - first < SOFTMAX_BUFFER ? classes - first : SOFTMAX_BUFFER;
                    softmax_row_piece(p, logits, lse[0], first, count);
                    for (size_t j = 0; j < count; ++j)
                        assert_true(fabs(p[j] - exp((double)logits[first + j] - lse[0])) <= 1e-15);
                }
            }
            free(logits);
        }
    }
}

/* A NaN or +infinity makes its row's lse NaN and no other's; -infinity
 * is a class of probability 0. */
static void test_lse_of_non_finite_rows(void **state) {
    (void)state;
    float logits[4 * 10];
    for (int i = 0; i < 40; ++i) logits[i] = (float)(i % 10) * 0.5f;
    logits[3] = NAN;
    logits[10] = NAN; /* the first class, where the maximum starts */
    logits[25] = INFINITY;
    logits[30] = -INFINITY;
    double lse[4];
    softmax_rows_lse(lse, logits, 4, 10);
    assert_true(isnan(lse[0]) && isnan(lse[1]) && isnan(lse[2]));
    assert_true(fabs(lse[3] - reference_lse(logits + 30, 10)) <= 1e-15 * fabs(lse[3]));
}

/* ---- the losses on them ----------------------------------------------------
 */

/* 37 positions: three blocks of 12 rows of 10 classes and one ragged row;
 * and 3 positions of 300 classes, each in pieces of 128. */
static void check_sparse_losses(size_t positions, int classes, float smoothing) {
    const size_t width = (size_t)classes, n = positions * width;
    float *logits = floats_of(n, -8.0f, 8.0f);
    int32_t *labels = malloc(positions * sizeof *labels);
    float *dlogits = floats_filled(n, 0.25f);
    assert_non_null(labels);
    for (size_t p = 0; p < positions; ++p) labels[p] = (int32_t)((p * 7) % width);
    const double s = smoothing;
    double total = 0.0;
    for (size_t p = 0; p < positions; ++p) {
        const float *row = logits + p * width;
        const double lse = reference_lse(row, width);
        for (size_t c = 0; c < width; ++c) {
            const double z = (c == (size_t)labels[p] ? 1.0 - s : 0.0) + s / (double)classes;
            total += z * (lse - row[c]);
        }
    }
    float loss = 0.0f;
    assert_int_equal(tdl_sparse_softmax_xent_smoothed_forward(&loss, logits, labels, positions, classes, smoothing),
                     TDL_STATUS_OK);
    assert_true(relative_error(loss, total / (double)positions) <= 2.0 * FLT_EPSILON);
    assert_int_equal(
        tdl_sparse_softmax_xent_smoothed_backward(dlogits, 3.0f, logits, labels, positions, classes, smoothing),
        TDL_STATUS_OK);
    for (size_t p = 0; p < positions; ++p) {
        const float *row = logits + p * width;
        const double lse = reference_lse(row, width);
        for (size_t c = 0; c < width; ++c) {
            const double z = (c == (size_t)labels[p] ? 1.0 - s : 0.0) + s / (double)classes;
            const double want = 0.25 + 3.0 / (double)positions * (exp((double)row[c] - lse) - z);
            assert_true(fabs(dlogits[p * width + c] - want) <= 2.0 * FLT_EPSILON * fmax(fabs(want), 1e-3));
        }
    }
    free(logits);
    free(labels);
    free(dlogits);
}

static void test_sparse_losses_over_blocks(void **state) {
    (void)state;
    check_sparse_losses(37, 10, 0.0f);
    check_sparse_losses(37, 10, 0.1f);
    check_sparse_losses(3, 300, 0.0f);
    check_sparse_losses(1, 2, 0.0f);
}

/* Per-pixel logits (12,000 x 3, 36,000 logits): the team takes the rows in
 * blocks, and the forward's sum in slots of fixed rows, so two threads give
 * one thread's bits, and both the reference's values. */
static void test_sparse_losses_split_over_the_team(void **state) {
    (void)state;
    enum { POSITIONS = 12000, CLASSES = 3 };
    float *logits = floats_of(POSITIONS * CLASSES, -6.0f, 6.0f);
    int32_t *labels = malloc(POSITIONS * sizeof *labels);
    assert_non_null(labels);
    for (size_t p = 0; p < POSITIONS; ++p) labels[p] = (int32_t)(p % CLASSES);
    float loss[2], *dlogits[2];
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        dlogits[threads - 1] = floats_filled(POSITIONS * CLASSES, 0.5f);
        assert_int_equal(tdl_sparse_softmax_xent_forward(&loss[threads - 1], logits, labels, POSITIONS, CLASSES),
                         TDL_STATUS_OK);
        assert_int_equal(
            tdl_sparse_softmax_xent_backward(dlogits[threads - 1], 1.0f, logits, labels, POSITIONS, CLASSES),
            TDL_STATUS_OK);
        check_sparse_losses(POSITIONS, CLASSES, 0.0f);
    }
    tdl_set_num_threads(1);
    assert_memory_equal(&loss[0], &loss[1], sizeof loss[0]);
    assert_memory_equal(dlogits[0], dlogits[1], POSITIONS * CLASSES * sizeof(float));
    free(logits);
    free(labels);
    free(dlogits[0]);
    free(dlogits[1]);
}

/* The probability-label form: the same rows, the labels a softmax of their
 * own, and the labels' gradient. */
static void test_probability_losses_over_blocks(void **state) {
    (void)state;
    const size_t sizes[][2] = {{37, 10}, {3, 300}};
    for (size_t k = 0; k < 2; ++k) {
        const size_t positions = sizes[k][0], width = sizes[k][1], n = positions * width;
        float *logits = floats_of(n, -8.0f, 8.0f);
        float *labels = floats_of(n, 0.0f, 1.0f);
        float *dlogits = floats_filled(n, 0.0f), *dlabels = floats_filled(n, 0.0f);
        double total = 0.0;
        for (size_t i = 0; i < n; ++i)
            total += labels[i] * (reference_lse(logits + i / width * width, width) - logits[i]);
        float loss = 0.0f;
        tdl_softmax_xent_forward(&loss, logits, labels, positions, (int)width);
        assert_true(relative_error(loss, total / (double)positions) <= 2.0 * FLT_EPSILON);
        tdl_softmax_xent_backward(dlogits, dlabels, 2.0f, logits, labels, positions, (int)width);
        for (size_t p = 0; p < positions; ++p) {
            const float *row = logits + p * width;
            const double lse = reference_lse(row, width);
            double label_sum = 0.0;
            for (size_t c = 0; c < width; ++c) label_sum += labels[p * width + c];
            for (size_t c = 0; c < width; ++c) {
                const size_t i = p * width + c;
                const double scale = 2.0 / (double)positions;
                const double want = scale * (label_sum * exp((double)row[c] - lse) - labels[i]);
                const double want_label = scale * -((double)row[c] - lse);
                assert_true(fabs(dlogits[i] - want) <= 2.0 * FLT_EPSILON * fmax(fabs(want), 1e-3));
                assert_true(fabs(dlabels[i] - want_label) <= 2.0 * FLT_EPSILON * fmax(fabs(want_label), 1e-3));
            }
        }
        free(logits);
        free(labels);
        free(dlogits);
        free(dlabels);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exp_matches_libm),
        cmocka_unit_test(test_exp_at_its_edges),
        cmocka_unit_test(test_exp_underflow_and_nan),
        cmocka_unit_test(test_block_rows),
        cmocka_unit_test(test_lse_and_probabilities_match_libm),
        cmocka_unit_test(test_lse_of_non_finite_rows),
        cmocka_unit_test(test_sparse_losses_over_blocks),
        cmocka_unit_test(test_sparse_losses_split_over_the_team),
        cmocka_unit_test(test_probability_losses_over_blocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
