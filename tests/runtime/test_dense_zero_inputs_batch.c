/* A batch through a dense layer whose inputs have zeros in common
 * (dense_zero_inputs_batch.c adds each group of four neighbouring inputs
 * only to the examples where one of them is not zero): against a double
 * reference on one thread and two, outside a training step and inside one
 * (where two threads own the kernel's rows); where the path runs, the same
 * bits on every split and, example by example, the bits of batch 1
 * (dense_zero_inputs.c); with the AVX2 loops preferred on any CPU with
 * AVX2, the same bits again. Layers of 96 to 512 units and 37 to 784
 * inputs:
 * a group of one input at the end (37 = 9 * 4 + 1), ragged blocks and
 * vectors (131 = 2 * 64 + 3 units, 200 = 3 * 64 + 8), a ragged second
 * chunk of examples (70 = 64 + 6), and the MLP's 784 -> 512 at batches 32
 * and 128. Two threads split 200 units at batch 40 and 512 at batch 32
 * (fewer than 32 examples a thread), the examples at batches 70 and 128.
 * The inputs are zero outside a window of each example, as an image's
 * background, with zeros of both signs.
 *
 * That the path runs at all is seen through a weight that is infinite in
 * the row of an input: an example whose group of four around that input is
 * zero skips the row and stays finite, where a product over every input
 * makes the unit NaN (0 * inf). Inputs with no zeros in common decline and
 * give NaN, and so do layers of fewer than 96 units and batches of fewer
 * than 8 examples.
 *
 * Tolerance: float sums of up to 784 terms of magnitude <= 1 against
 * double: |got - want| <= 1e-4 * (1 + |want|). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "float_arrays.h"
#include "team.h"
#include "avx2_forms.h"
#include "tdl/runtime.h"
#include "windowed_inputs.h"

static const double TOLERANCE = 1e-4;

typedef struct layer_case {
    int features, units, batch;
} layer_case;

static const layer_case CASES[] = {{37, 96, 9},    {100, 131, 17}, {300, 200, 40},
                                   {300, 200, 70}, {784, 512, 32}, {784, 512, 128}};

/* Whether dense_zero_inputs_batch.c takes batches here: its AVX-512 loops,
 * or its AVX2 ones (dense_zero_inputs_avx2.c). */
static bool groups_skipped(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO &&
           (__builtin_cpu_supports("avx512f") || tdl_avx2_forms_available());
#else
    return false;
#endif
}

static double reference(const float *x, const float *kernel, const float *bias, int features, int units, int b,
                        int u) {
    double sum = bias[u];
    for (int f = 0; f < features; ++f)
        sum += (double)x[(size_t)b * features + f] * (double)kernel[(size_t)f * units + u];
    return sum;
}

/* y = the layer's forward on `threads`, a training step's (the kernel's
 * rows owned by its threads) or not. */
static void forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                    int batch, int threads, bool in_step) {
    float *workspace = malloc(tdl_dense_workspace_size(d, batch) * sizeof *workspace);
    assert_non_null(workspace);
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    tdl_team_set_training_step(in_step);
    if (in_step)
        tdl_dense_train_forward(y, x, kernel, bias, d, batch, workspace);
    else
        tdl_dense_forward(y, x, kernel, bias, d, batch);
    tdl_team_set_training_step(false);
    tdl_set_num_threads(before);
    free(workspace);
}

static void test_matches_reference_on_every_split(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; ++c) {
        const int features = CASES[c].features, units = CASES[c].units, batch = CASES[c].batch;
        const tdl_dense_desc d = {features, units, TDL_ACTIVATION_LINEAR, 0.0f};
        const size_t count = (size_t)batch * (size_t)units;
        float *x = windowed_inputs(batch, features), *bias = floats_of((size_t)units, -1.0f, 1.0f);
        float *kernel = floats_of((size_t)features * units, -1.0f, 1.0f), *runs[4];
        for (int run = 0; run < 4; ++run) {
            runs[run] = floats_filled(count, NAN);
            /* One thread, two, two in a training step, one in a step. */
            forward(runs[run], x, kernel, bias, &d, batch, run == 0 || run == 3 ? 1 : 2, run >= 2);
        }
        for (int b = 0; b < batch; ++b)
            for (int u = 0; u < units; ++u)
                for (int run = 0; run < 4; ++run) {
                    const double want = reference(x, kernel, bias, features, units, b, u);
                    const float got = runs[run][(size_t)b * units + u];
                    if (!(fabs(got - want) <= TOLERANCE * (1.0 + fabs(want))))
                        fail_msg("%d -> %d at batch %d, run %d, y[%d][%d]: %.8g, want %.8g", features, units,
                                 batch, run, b, u, (double)got, want);
                }
        if (groups_skipped()) {
            /* Outside a step and in a one-thread step: the same bits, and each
             * example's those of batch 1. A step on two threads splits the
             * sum at the owners' boundary (dense_xsmm.c) and may round apart. */
            assert_memory_equal(runs[0], runs[1], count * sizeof(float));
            assert_memory_equal(runs[0], runs[3], count * sizeof(float));
            float *alone = malloc((size_t)units * sizeof *alone);
            assert_non_null(alone);
            for (int b = 0; b < batch; ++b) {
                forward(alone, x + (size_t)b * features, kernel, bias, &d, 1, 1, false);
                assert_memory_equal(alone, runs[0] + (size_t)b * units, (size_t)units * sizeof(float));
            }
            free(alone);
        }
        if (groups_skipped() && tdl_avx2_forms_available()) {
            /* The AVX2 loops (dense_zero_inputs_avx2.c), preferred on any CPU
             * with AVX2: every run's bits again, and the first example's alone. */
            float *avx2 = floats_filled(count, NAN);
            tdl_prefer_avx2_forms(true);
            for (int run = 0; run < 4; ++run) {
                forward(avx2, x, kernel, bias, &d, batch, run == 0 || run == 3 ? 1 : 2, run >= 2);
                assert_memory_equal(runs[run], avx2, count * sizeof(float));
            }
            forward(avx2, x, kernel, bias, &d, 1, 1, false);
            assert_memory_equal(runs[0], avx2, (size_t)units * sizeof(float));
            tdl_prefer_avx2_forms(false);
            free(avx2);
        }
        for (int run = 0; run < 4; ++run) free(runs[run]);
        free(x), free(bias), free(kernel);
    }
}

/* The relu's outputs: the reference's sums, clamped at zero. */
static void test_relu(void **state) {
    (void)state;
    enum { B = 40, F = 300, U = 131 };
    const tdl_dense_desc d = {F, U, TDL_ACTIVATION_RELU, 0.0f};
    float *x = windowed_inputs(B, F), *bias = floats_of(U, -1.0f, 1.0f);
    float *kernel = floats_of((size_t)F * U, -1.0f, 1.0f);
    float *y = floats_filled((size_t)B * U, NAN);
    forward(y, x, kernel, bias, &d, B, 2, false);
    for (int b = 0; b < B; ++b)
        for (int u = 0; u < U; ++u) {
            const double sum = reference(x, kernel, bias, F, U, b, u), want = sum > 0.0 ? sum : 0.0;
            assert_true(fabs(y[(size_t)b * U + u] - want) <= TOLERANCE * (1.0 + fabs(want)));
        }
    free(x), free(bias), free(kernel), free(y);
}

/* The kernel's row 5 infinite at unit 0 and example 0's inputs 4..7 zero
 * (input 0 not): whether y[0][0] stays finite, for a layer of `units` on
 * `threads`, in a training step or not. Example 1, whose input 5 is not
 * zero, must reach the infinity. */
static bool group_skips_infinite_weight(float *x, int batch, int features, int units, int threads, bool in_step) {
    const size_t width = (size_t)units;
    const tdl_dense_desc d = {features, units, TDL_ACTIVATION_LINEAR, 0.0f};
    float *kernel = floats_of((size_t)features * width, -1.0f, 1.0f), *y = floats_filled((size_t)batch * width, 0.0f);
    for (int f = 4; f < 8; ++f) x[f] = 0.0f;
    x[features + 5] = 0.75f;
    kernel[5 * width] = INFINITY;
    forward(y, x, kernel, NULL, &d, batch, threads, in_step);
    assert_false(isfinite(y[width]));
    const bool finite = isfinite(y[0]) != 0;
    free(kernel), free(y);
    return finite;
}

static void test_path_runs_where_zeros_are_shared(void **state) {
    (void)state;
    enum { B = 32, F = 256 };
    float *x = windowed_inputs(B, F);
    x[0] = 0.5f;
    assert_int_equal(group_skips_infinite_weight(x, B, F, 96, 1, false), groups_skipped());
    assert_int_equal(group_skips_infinite_weight(x, B, F, 96, 2, false), groups_skipped());
    /* A training step on one thread, and its rows owned by two (where
     * libxsmm's kernels are built in). */
    assert_int_equal(group_skips_infinite_weight(x, B, F, 128, 1, true), groups_skipped());
    assert_int_equal(group_skips_infinite_weight(x, B, F, 128, 2, true), groups_skipped());
    /* A layer too narrow for the path, a batch too small. */
    assert_false(group_skips_infinite_weight(x, B, F, 95, 1, false));
    assert_false(group_skips_infinite_weight(x, 7, F, 96, 1, false));
    free(x);
    /* No zeros in common: the GEMM reads every input. */
    float *dense = floats_of((size_t)B * F, -1.0f, 1.0f);
    for (int k = 0; k < B * F; ++k)
        if (dense[k] == 0.0f) dense[k] = 0.25f;
    assert_false(group_skips_infinite_weight(dense, B, F, 96, 1, false));
    free(dense);
}

/* A NaN input reaches every unit of its example, whichever group it is
 * in; the other examples stay finite. */
static void test_nan_input_reaches_its_example(void **state) {
    (void)state;
    enum { B = 9, F = 200, U = 100 };
    const tdl_dense_desc d = {F, U, TDL_ACTIVATION_LINEAR, 0.0f};
    float *x = windowed_inputs(B, F), *kernel = floats_of((size_t)F * U, -1.0f, 1.0f);
    float *y = floats_filled((size_t)B * U, 0.0f);
    /* Example 3's input 198: past its window when that starts early, in a
     * group that is otherwise zero. */
    for (int f = 196; f < 200; ++f) x[3 * F + f] = 0.0f;
    x[3 * F + 198] = NAN;
    forward(y, x, kernel, NULL, &d, B, 1, false);
    for (int b = 0; b < B; ++b)
        for (int u = 0; u < U; ++u) assert_int_equal(isnan(y[(size_t)b * U + u]) != 0, b == 3);
    free(x), free(kernel), free(y);
}

/* All inputs zero (-0): every output is the bias; where there is none, a
 * zero, and on the path +0 (its sums start from +0 and skip every group). */
static void test_all_zero_inputs(void **state) {
    (void)state;
    enum { B = 8, F = 64, U = 96 };
    const tdl_dense_desc d = {F, U, TDL_ACTIVATION_LINEAR, 0.0f};
    float *x = floats_filled((size_t)B * F, -0.0f), *kernel = floats_of((size_t)F * U, -1.0f, 1.0f);
    float *bias = floats_of(U, -1.0f, 1.0f), *y = floats_filled((size_t)B * U, NAN);
    forward(y, x, kernel, bias, &d, B, 1, false);
    for (int b = 0; b < B; ++b) assert_memory_equal(y + (size_t)b * U, bias, U * sizeof(float));
    forward(y, x, kernel, NULL, &d, B, 2, false);
    for (int k = 0; k < B * U; ++k) assert_true(y[k] == 0.0f && (!groups_skipped() || !signbit(y[k])));
    free(x), free(kernel), free(bias), free(y);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_on_every_split),
        cmocka_unit_test(test_relu),
        cmocka_unit_test(test_path_runs_where_zeros_are_shared),
        cmocka_unit_test(test_nan_input_reaches_its_example),
        cmocka_unit_test(test_all_zero_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
