/* dense layers wide enough for the libxsmm path (dense_xsmm.c), on both
 * paths: forward and the kernel's and input's gradients against a double
 * reference, on
 * sizes that leave ragged tiles in every direction (211 units = 3 * 64 + 19,
 * batches of 1, 3, 17 and 150 against tiles of 16, 520 features = 8 * 64 + 8;
 * and logits of 10 and 8 units, the narrowest libxsmm takes, whose kernel
 * gradient reads x as the left operand from a batch of 16; one example
 * through layers of 8 to 15 units, dense_narrow.c's), one thread
 * and two (batch 3's forward, one batch tile of 0.66 MFLOP, is split by
 * unit blocks; the largest batch is work enough for the team to split the
 * gradients too); added to, and written as a training step's backward
 * writes them. On the libxsmm path every tile is one sum written by one thread, so
 * the thread count must not change a bit; OpenBLAS's blocking follows the
 * rows each thread gets, so the BLAS path is only held to the tolerance.
 *
 * Tolerance: float dot products of up to 520 terms of magnitude <= 1 (sums
 * of magnitude ~13) against double: |got - want| <= 1e-4 * (1 + |want|),
 * a tenth of which is the expected rounding. */
#include <math.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

enum { F = 520, U = 211, MAX_B = 150 };
static const double TOLERANCE = 1e-4;
static const int batches[] = {1, 3, 17, MAX_B};

typedef struct dense_data {
    float x[MAX_B * F], kernel[F * U], bias[U], dy[MAX_B * U];
} dense_data;

/* Values in [-1, 1) from a fixed linear congruential sequence. */
static void fill(float *v, size_t n, uint32_t *state) {
    for (size_t i = 0; i < n; ++i) {
        *state = *state * 1664525u + 1013904223u;
        v[i] = (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
    }
}

static dense_data *data_make(void) {
    dense_data *data = malloc(sizeof *data);
    assert_non_null(data);
    uint32_t state = 12345u;
    fill(data->x, MAX_B * F, &state);
    fill(data->kernel, F * U, &state);
    fill(data->bias, U, &state);
    fill(data->dy, MAX_B * U, &state);
    return data;
}

static bool thread_count_exact(void) {
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available();
}

static void assert_close(double got, double want) {
    if (fabs(got - want) > TOLERANCE * (1.0 + fabs(want))) {
        fail_msg("got %.9g, want %.9g", got, want);
    }
}

/* The forward of a layer of `units` (at most U) of the data's first units
 * against the double reference, on one thread and two. */
static void check_forward(const dense_data *data, int units, tdl_activation activation) {
    /* The first `units` columns of the data's kernel, as a (F, units) kernel. */
    static float kernel[F * U];
    for (int f = 0; f < F; ++f)
        for (int u = 0; u < units; ++u) kernel[f * units + u] = data->kernel[f * U + u];
    const tdl_dense_desc d = {.in_features = F, .units = units, .activation = activation};
    static float y1[MAX_B * U], y2[MAX_B * U];
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
        const int batch = batches[i];
        for (int threads = 1; threads <= 2; ++threads) {
            const int before = tdl_get_num_threads();
            tdl_set_num_threads(threads);
            tdl_dense_forward(threads == 1 ? y1 : y2, data->x, kernel, data->bias, &d, batch);
            tdl_set_num_threads(before);
        }
        if (thread_count_exact()) assert_memory_equal(y1, y2, sizeof(float) * (size_t)batch * (size_t)units);
        for (int b = 0; b < batch; ++b) {
            for (int u = 0; u < units; ++u) {
                double s = data->bias[u];
                for (int f = 0; f < F; ++f) s += (double)data->x[b * F + f] * kernel[f * units + u];
                if (activation == TDL_ACTIVATION_RELU && s < 0.0) s = 0.0;
                assert_close(y1[b * units + u], s);
                assert_close(y2[b * units + u], s);
            }
        }
    }
}

static void test_forward_matches_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    check_forward(data, U, TDL_ACTIVATION_RELU);
    free(data);
}

/* Logits of 10 and 8 units, which libxsmm takes (8 units and up). */
static void test_logits_forward_matches_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    check_forward(data, 10, TDL_ACTIVATION_LINEAR);
    check_forward(data, 8, TDL_ACTIVATION_RELU);
    free(data);
}

/* One example through every layer narrower than a vector that libxsmm's
 * path takes (8 to 15 units; dense_narrow.c on that path), with features
 * from a single one (every row added one float at a time) up, in buffers of
 * exactly their size, so that AddressSanitizer sees any read past the
 * kernel or write past y. */
static void test_single_example_narrow_layers(void **state) {
    (void)state;
    static const int feature_counts[] = {1, 2, 3, 7, 9, 61, F};
    uint32_t seed = 777u;
    for (int units = 8; units < 16; ++units) {
        for (size_t i = 0; i < sizeof feature_counts / sizeof feature_counts[0]; ++i) {
            const int features = feature_counts[i];
            float *x = malloc(sizeof(float) * (size_t)features);
            float *kernel = malloc(sizeof(float) * (size_t)features * (size_t)units);
            float *bias = malloc(sizeof(float) * (size_t)units), *y = malloc(sizeof(float) * (size_t)units);
            assert_true(x != NULL && kernel != NULL && bias != NULL && y != NULL);
            fill(x, (size_t)features, &seed);
            fill(kernel, (size_t)features * (size_t)units, &seed);
            fill(bias, (size_t)units, &seed);
            const tdl_activation activation = units % 2 ? TDL_ACTIVATION_RELU : TDL_ACTIVATION_LINEAR;
            const tdl_dense_desc d = {.in_features = features, .units = units, .activation = activation};
            tdl_dense_forward(y, x, kernel, bias, &d, 1);
            for (int u = 0; u < units; ++u) {
                double s = bias[u];
                for (int f = 0; f < features; ++f) s += (double)x[f] * kernel[f * units + u];
                if (activation == TDL_ACTIVATION_RELU && s < 0.0) s = 0.0;
                assert_close(y[u], s);
            }
            free(x), free(kernel), free(bias), free(y);
        }
    }
}

/* With a linear activation dpre = dy, so dkernel = x^T dy and dx = dy
 * kernel^T: a layer of the data's first `units` (at most U) on one thread
 * and two. tdl_dense_backward adds each to what was there;
 * tdl_dense_train_backward with TDL_DX_WRITE (`written`), as a training
 * step's backward, writes both whatever they held (NaN here). */
static void check_gradients(const dense_data *data, int units, bool written) {
    const tdl_dense_desc d = {.in_features = F, .units = units, .activation = TDL_ACTIVATION_LINEAR};
    enum { WORKSPACE_MOST = MAX_B * (4 * U + F), GUARD = 16 };
    static float kernel[F * U], dy[MAX_B * U], y[MAX_B * U], workspace[WORKSPACE_MOST + GUARD];
    static float dkernel[2][F * U], dx[2][MAX_B * F];
    for (int f = 0; f < F; ++f)
        for (int u = 0; u < units; ++u) kernel[f * units + u] = data->kernel[f * U + u];
    for (int b = 0; b < MAX_B; ++b)
        for (int u = 0; u < units; ++u) dy[b * units + u] = data->dy[b * U + u];
    /* dpre, then dpre^T and dx^T and a second owner's dpre and dpre^T where
     * libxsmm is built in (dpre alone without). */
    const size_t with_transposes = (size_t)MAX_B * (size_t)(4 * units + F), dpre_alone = (size_t)MAX_B * units;
    const size_t workspace_floats = tdl_dense_workspace_size(&d, MAX_B);
    assert_true(workspace_floats == with_transposes || workspace_floats == dpre_alone);
    if (tdl_xsmm_available()) assert_int_equal(workspace_floats, with_transposes);
    const size_t kernel_floats = (size_t)F * (size_t)units;
    const float kernel_before = written ? NAN : 0.5f, dx_before = written ? NAN : 0.25f;
    const double kernel_base = written ? 0.0 : 0.5, dx_base = written ? 0.0 : 0.25;
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
        const int batch = batches[i];
        tdl_dense_forward(y, data->x, kernel, NULL, &d, batch);
        for (int threads = 1; threads <= 2; ++threads) {
            const int before = tdl_get_num_threads();
            tdl_set_num_threads(threads);
            /* The workspace's old values must not matter. */
            for (size_t k = 0; k < kernel_floats; ++k) dkernel[threads - 1][k] = kernel_before;
            for (int k = 0; k < MAX_B * F; ++k) dx[threads - 1][k] = dx_before;
            for (size_t k = 0; k < workspace_floats + GUARD; ++k) workspace[k] = NAN;
            if (written)
                tdl_dense_train_backward(dx[threads - 1], dkernel[threads - 1], NULL, dy, y, data->x, kernel, &d,
                                         batch, workspace, TDL_DX_WRITE);
            else
                tdl_dense_backward(dx[threads - 1], dkernel[threads - 1], NULL, dy, y, data->x, kernel, &d, batch,
                                   workspace);
            for (size_t k = workspace_floats; k < workspace_floats + GUARD; ++k) assert_true(isnan(workspace[k]));
            tdl_set_num_threads(before);
        }
        if (thread_count_exact()) {
            assert_memory_equal(dkernel[0], dkernel[1], sizeof(float) * kernel_floats);
            assert_memory_equal(dx[0], dx[1], sizeof(float) * (size_t)batch * F);
        }
        for (int f = 0; f < F; ++f) {
            for (int u = 0; u < units; ++u) {
                double s = kernel_base;
                for (int b = 0; b < batch; ++b) s += (double)data->x[b * F + f] * dy[b * units + u];
                assert_close(dkernel[0][f * units + u], s);
                assert_close(dkernel[1][f * units + u], s);
            }
        }
        for (int b = 0; b < batch; ++b) {
            for (int f = 0; f < F; ++f) {
                double s = dx_base;
                for (int u = 0; u < units; ++u) s += (double)dy[b * units + u] * kernel[f * units + u];
                assert_close(dx[0][b * F + f], s);
                assert_close(dx[1][b * F + f], s);
            }
        }
    }
}

static void test_gradients_match_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    check_gradients(data, U, false);
    check_gradients(data, U, true);
    free(data);
}

/* Logits of 10 and 8 units, whose gradients libxsmm takes too (8 units and up). */
static void test_logits_gradients_match_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    for (int written = 0; written < 2; ++written) {
        check_gradients(data, 10, written);
        check_gradients(data, 8, written);
    }
    free(data);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_logits_forward_matches_reference),
        cmocka_unit_test(test_single_example_narrow_layers),
        cmocka_unit_test(test_gradients_match_reference),
        cmocka_unit_test(test_logits_gradients_match_reference),
    };
    /* libxsmm where it is built in (else this run repeats the next), then BLAS. */
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    const int automatic = cmocka_run_group_tests_name("wide dense, automatic path", tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const int blas = cmocka_run_group_tests_name("wide dense, BLAS path", tests, NULL, NULL);
    return automatic + blas;
}
