/* in_top_k: against a sort-based reference, TensorFlow's tie rule, non-finite
 * rows, and bad k and targets. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tdl/runtime.h"

static uint32_t lcg_state;

/* Uniform in [lo, hi) from a fixed generator, independent of rng.c. */
static float uniform(float lo, float hi) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(lcg_state >> 8) / 16777216.0f;
}

static int descending(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x < y) - (x > y);
}

/* Reference: sort the row in descending order; the target is in the top k
 * when its score reaches the k-th largest score. */
static bool reference_in_top_k(const float *row, int classes, int target, int k) {
    float sorted[64];
    for (int c = 0; c < classes; ++c) sorted[c] = row[c];
    qsort(sorted, (size_t)classes, sizeof *sorted, descending);
    return row[target] >= sorted[k - 1];
}

/* Random rows with scores on a coarse grid (so ties are common), batch 1 and 7, every k. */
static void test_in_top_k_matches_reference(void **state) {
    (void)state;
    lcg_state = 41;
    const int batches[] = {1, 7};
    enum { C = 9 };
    for (size_t bi = 0; bi < 2; ++bi) {
        for (int round = 0; round < 20; ++round) {
            const int batch = batches[bi];
            float predictions[7 * C];
            int32_t targets[7];
            for (int i = 0; i < batch * C; ++i) predictions[i] = floorf(uniform(0.0f, 5.0f));
            for (int b = 0; b < batch; ++b) targets[b] = (int32_t)uniform(0.0f, (float)C);
            for (int k = 1; k <= C; ++k) {
                int hits = 0;
                for (int b = 0; b < batch; ++b) hits += reference_in_top_k(predictions + b * C, C, targets[b], k);
                float fraction = -1.0f;
                assert_int_equal(tdl_in_top_k(&fraction, predictions, targets, batch, C, k), TDL_STATUS_OK);
                assert_true(fraction == (float)hits / (float)batch);
            }
        }
    }
}

/* TensorFlow's documented example and its tie rule: classes tied at the k
 * boundary all count as in the top k (tf.math.in_top_k). */
static void test_in_top_k_tensorflow_ties(void **state) {
    (void)state;
    /* tf.math.in_top_k docs: [[0.1, 0.3, 0.2, 0.4], [0.1, 0.2, 0.3, 0.4]], targets [3, 3], k 1 -> both true. */
    const float example[8] = {0.1f, 0.3f, 0.2f, 0.4f, 0.1f, 0.2f, 0.3f, 0.4f};
    const int32_t example_targets[2] = {3, 3};
    float fraction = -1.0f;
    assert_int_equal(tdl_in_top_k(&fraction, example, example_targets, 2, 4, 1), TDL_STATUS_OK);
    assert_true(fraction == 1.0f);

    /* Three classes tie for first: each of them is "in the top 1". */
    const float tied[4] = {0.5f, 0.5f, 0.5f, 0.1f};
    for (int32_t t = 0; t < 3; ++t) {
        assert_int_equal(tdl_in_top_k(&fraction, tied, &t, 1, 4, 1), TDL_STATUS_OK);
        assert_true(fraction == 1.0f);
    }
    /* The lone lowest class has three strictly higher: out for k = 3, in for k = 4. */
    const int32_t last = 3;
    assert_int_equal(tdl_in_top_k(&fraction, tied, &last, 1, 4, 3), TDL_STATUS_OK);
    assert_true(fraction == 0.0f);
    assert_int_equal(tdl_in_top_k(&fraction, tied, &last, 1, 4, 4), TDL_STATUS_OK);
    assert_true(fraction == 1.0f);

    /* Ties straddling the boundary of k = 2: scores 0.9, 0.5, 0.5, 0.5 -> every target is in. */
    const int32_t targets[4] = {0, 1, 2, 3};
    const float rows[16] = {0.9f, 0.5f, 0.5f, 0.5f, 0.9f, 0.5f, 0.5f, 0.5f,
                            0.9f, 0.5f, 0.5f, 0.5f, 0.9f, 0.5f, 0.5f, 0.5f};
    assert_int_equal(tdl_in_top_k(&fraction, rows, targets, 4, 4, 2), TDL_STATUS_OK);
    assert_true(fraction == 1.0f);
}

/* A row holding NaN or an infinity is never a hit, even for its top class. */
static void test_in_top_k_non_finite_rows_miss(void **state) {
    (void)state;
    const float predictions[12] = {
        NAN, 1.0f, 0.0f,            /* target 1 would be the max */
        2.0f, INFINITY, 0.0f,       /* target 1 is +inf */
        3.0f, 1.0f, -INFINITY,      /* target 0 is the max */
        3.0f, 1.0f, 0.0f,           /* a finite row, target 0: hit */
    };
    const int32_t targets[4] = {1, 1, 0, 0};
    float fraction = -1.0f;
    assert_int_equal(tdl_in_top_k(&fraction, predictions, targets, 4, 3, 3), TDL_STATUS_OK);
    assert_true(fraction == 0.25f);
}

/* k outside [1, classes] is BAD_ARGUMENT; a target outside [0, classes) is
 * BAD_LABEL naming position and value; the result is not written. */
static void test_in_top_k_rejects_bad_input(void **state) {
    (void)state;
    const float predictions[6] = {0.1f, 0.2f, 0.7f, 0.3f, 0.3f, 0.4f};
    const int32_t good[2] = {2, 0};
    const int32_t too_big[2] = {2, 3};
    const int32_t negative[2] = {-1, 0};
    float fraction = 42.0f;
    assert_int_equal(tdl_in_top_k(&fraction, predictions, good, 2, 3, 0), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_in_top_k(&fraction, predictions, good, 2, 3, 4), TDL_STATUS_BAD_ARGUMENT);
    assert_string_equal(tdl_last_error(), "in_top_k: k = 4 is outside [1, 3]");
    assert_int_equal(tdl_in_top_k(&fraction, predictions, too_big, 2, 3, 1), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "in_top_k: target 3 at position 1 is outside [0, 3)");
    assert_int_equal(tdl_in_top_k(&fraction, predictions, negative, 2, 3, 1), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "in_top_k: target -1 at position 0 is outside [0, 3)");
    assert_int_equal(tdl_in_top_k(NULL, predictions, good, 2, 3, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_in_top_k(&fraction, predictions, good, 0, 3, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_true(fraction == 42.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_in_top_k_matches_reference),
        cmocka_unit_test(test_in_top_k_tensorflow_ties),
        cmocka_unit_test(test_in_top_k_non_finite_rows_miss),
        cmocka_unit_test(test_in_top_k_rejects_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
