/* A dense layer's kernel gradient over inputs with zeros in common
 * (dense_zero_inputs_gradient.c skips, for each group of four neighbouring
 * inputs, the examples where all four are zero): against a double
 * reference, written and accumulated, on one thread and two, outside a
 * training step and inside one (where the kernel's owners split its rows);
 * where the path runs, every run the same bits, with the AVX2 loops
 * preferred on any CPU with AVX2 as well. Layers of 128 to 512 units
 * and 37 to 784 inputs: a group of one input at the end (37 = 9 * 4 + 1),
 * ragged blocks and vectors (131 = 2 * 64 + 3 units, 200 = 3 * 64 + 8),
 * the MLP's 784 -> 512 at batch 128, LeNet-5's 400 -> 120, too narrow
 * for the path, batches of more than one chunk of 128 examples (150, the
 * second chunk one mask of 22; 8193) and 4100 inputs (two windows of
 * masks, the second a single group). The inputs are zero outside a window of each example, as
 * an image's background, with zeros of both signs.
 *
 * That the path runs at all is seen through a gradient that is infinite at
 * one example: rows whose four inputs are zero there skip that example and
 * stay finite, where a product over every example makes them NaN (0 * inf);
 * inputs with no zeros in common decline and give NaN, and so do layers of
 * fewer than 128 units. The same is seen in a later chunk of the batch and
 * a later window of the inputs.
 *
 * Tolerance: float sums of up to 128 terms of magnitude <= 1 against
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

static const layer_case CASES[] = {{37, 128, 5},   {100, 131, 17},  {300, 200, 33}, {400, 120, 32},
                                   {784, 512, 128}, {100, 136, 150}, {4100, 128, 3}};

/* Whether dense_zero_inputs_gradient.c takes the kernel gradient here: its
 * AVX-512 loops, or its AVX2 ones (dense_zero_inputs_avx2.c). */
static bool zero_inputs_skipped(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available() &&
           (__builtin_cpu_supports("avx512f") || tdl_avx2_forms_available());
#else
    return false;
#endif
}

static double reference(const float *x, const float *dy, int batch, int features, int units, int f, int u,
                        double start) {
    double sum = start;
    for (int b = 0; b < batch; ++b)
        sum += (double)x[(size_t)b * features + f] * (double)dy[(size_t)b * units + u];
    return sum;
}

/* dkernel written (start 0) or accumulated onto a fill of `start`, on
 * `threads`, inside a training step or not. What a write finds is a value
 * no gradient here comes near, so a row it leaves alone shows. */
static void kernel_gradient(float *dkernel, float *dbias, const float *x, const float *dy, const float *y,
                            const float *kernel, const tdl_dense_desc *d, int batch, int threads, bool in_step,
                            float start) {
    const size_t count = (size_t)d->in_features * (size_t)d->units;
    float *workspace = malloc(tdl_dense_workspace_size(d, batch) * sizeof *workspace);
    assert_non_null(workspace);
    for (size_t k = 0; k < count; ++k) dkernel[k] = start == 0.0f ? 1e30f : start;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    tdl_team_set_training_step(in_step);
    if (start == 0.0f)
        tdl_dense_train_backward(NULL, dkernel, dbias, dy, y, x, kernel, d, batch, workspace, TDL_DX_ADD);
    else
        tdl_dense_backward(NULL, dkernel, dbias, dy, y, x, kernel, d, batch, workspace);
    tdl_team_set_training_step(false);
    tdl_set_num_threads(before);
    free(workspace);
}

static void test_matches_reference_on_every_split(void **state) {
    (void)state;
    for (size_t c = 0; c < sizeof CASES / sizeof CASES[0]; ++c) {
        const int features = CASES[c].features, units = CASES[c].units, batch = CASES[c].batch;
        const tdl_dense_desc d = {features, units, TDL_ACTIVATION_LINEAR, 0.0f};
        const size_t count = (size_t)features * (size_t)units;
        float *x = windowed_inputs(batch, features), *dy = floats_of((size_t)batch * units, -1.0f, 1.0f);
        float *y = floats_of((size_t)batch * units, -1.0f, 1.0f), *kernel = floats_of(count, -1.0f, 1.0f);
        float *dbias = malloc((size_t)units * sizeof *dbias), *runs[6];
        assert_non_null(dbias);
        for (int run = 0; run < 6; ++run) {
            runs[run] = malloc(count * sizeof *runs[run]);
            assert_non_null(runs[run]);
            /* Runs 0-2 write, 3-5 accumulate onto 0.5: one thread, two, two in a step. */
            const float start = run < 3 ? 0.0f : 0.5f;
            kernel_gradient(runs[run], dbias, x, dy, y, kernel, &d, batch, run % 3 == 0 ? 1 : 2, run % 3 == 2,
                            start);
        }
        for (int f = 0; f < features; ++f)
            for (int u = 0; u < units; ++u)
                for (int run = 0; run < 6; ++run) {
                    const double want = reference(x, dy, batch, features, units, f, u, run < 3 ? 0.0 : 0.5);
                    const float got = runs[run][(size_t)f * units + u];
                    if (fabs(got - want) > TOLERANCE * (1.0 + fabs(want)))
                        fail_msg("%d -> %d at batch %d, run %d, dkernel[%d][%d]: %.8g, want %.8g", features, units,
                                 batch, run, f, u, (double)got, want);
                }
        if (zero_inputs_skipped())
            for (int run = 1; run < 6; ++run)
                assert_memory_equal(runs[run < 3 ? 0 : 3], runs[run], count * sizeof(float));
        if (zero_inputs_skipped() && tdl_avx2_forms_available()) {
            /* The AVX2 loops (dense_zero_inputs_avx2.c), preferred on any CPU
             * with AVX2: every run's bits again. */
            float *avx2 = malloc(count * sizeof *avx2);
            assert_non_null(avx2);
            tdl_prefer_avx2_forms(true);
            for (int run = 0; run < 6; ++run) {
                kernel_gradient(avx2, dbias, x, dy, y, kernel, &d, batch, run % 3 == 0 ? 1 : 2, run % 3 == 2,
                                run < 3 ? 0.0f : 0.5f);
                assert_memory_equal(runs[run], avx2, count * sizeof(float));
            }
            tdl_prefer_avx2_forms(false);
            free(avx2);
        }
        for (int run = 0; run < 6; ++run) free(runs[run]);
        free(x), free(dy), free(y), free(kernel), free(dbias);
    }
}

/* dy infinite at `example`, unit 0, where the inputs of the group from
 * input `group` are zero (that example's first input must not be):
 * whether dkernel[group..group + 4)[0] stay finite, for a layer of
 * `units`. */
static bool group_skips_infinite_at(float *x, int batch, int features, int units, int example, int group) {
    const size_t width = (size_t)units;
    const tdl_dense_desc d = {features, units, TDL_ACTIVATION_LINEAR, 0.0f};
    float *dy = floats_of((size_t)batch * width, -1.0f, 1.0f), *y = floats_of((size_t)batch * width, -1.0f, 1.0f);
    float *kernel = floats_of((size_t)features * width, -1.0f, 1.0f);
    float *dkernel = malloc((size_t)features * width * sizeof *dkernel);
    assert_non_null(dkernel);
    float *inputs = x + (size_t)example * (size_t)features;
    for (int f = group; f < group + 4; ++f) inputs[f] = 0.0f;
    dy[(size_t)example * width] = INFINITY;
    kernel_gradient(dkernel, NULL, x, dy, y, kernel, &d, batch, 1, false, 0.0f);
    bool finite = true;
    for (int f = group; f < group + 4; ++f) finite &= isfinite(dkernel[(size_t)f * width]) != 0;
    /* An input that is not zero at that example reaches the infinity. */
    assert_false(isfinite(dkernel[0]));
    free(dy), free(y), free(kernel), free(dkernel);
    return finite;
}

static bool group_skips_infinite_example(float *x, int batch, int features, int units) {
    return group_skips_infinite_at(x, batch, features, units, 0, 4);
}

static void test_path_runs_where_zeros_are_shared(void **state) {
    (void)state;
    enum { B = 32, F = 64 };
    float *x = windowed_inputs(B, F);
    x[0] = 0.5f;
    assert_int_equal(group_skips_infinite_example(x, B, F, 128), zero_inputs_skipped());
    /* A layer too narrow for the path. */
    assert_false(group_skips_infinite_example(x, B, F, 127));
    free(x);
    /* No zeros in common: the GEMM reads every example. */
    float *dense = floats_of((size_t)B * F, -1.0f, 1.0f);
    for (int k = 0; k < B * F; ++k)
        if (dense[k] == 0.0f) dense[k] = 0.25f;
    assert_false(group_skips_infinite_example(dense, B, F, 128));
    free(dense);
}

/* Example 8192 of 8193, in the 65th chunk; then inputs 4096-4099 of 4100,
 * the second window's one group, at example 2 of 3. */
static void test_path_runs_past_the_first_chunk_and_window(void **state) {
    (void)state;
    enum { B = 8193, F = 64, WIDE = 4100 };
    float *x = windowed_inputs(B, F);
    x[(size_t)(B - 1) * F] = 0.5f;
    assert_int_equal(group_skips_infinite_at(x, B, F, 128, B - 1, 4), zero_inputs_skipped());
    free(x);
    x = windowed_inputs(3, WIDE);
    x[2 * WIDE] = 0.5f;
    assert_int_equal(group_skips_infinite_at(x, 3, WIDE, 128, 2, 4096), zero_inputs_skipped());
    free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_on_every_split),
        cmocka_unit_test(test_path_runs_where_zeros_are_shared),
        cmocka_unit_test(test_path_runs_past_the_first_chunk_and_window),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
