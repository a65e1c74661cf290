/* The libxsmm path's products that copy a unit block of an operand
 * together first because its rows are a multiple of 512 bytes apart
 * (dense_xsmm.c): a forward's kernel, when larger than 1 MB, and a kernel
 * gradient's dpre.
 *
 * The forward (packed_block_sums): 384 units (three blocks of 64, rows
 * 1536 bytes apart) over 800 features (four chunks of rows, two of them in
 * the middle), and 1024 units over 300 features (two chunks), at batches
 * of 33 and 50 (three and four batch tiles of 16, the last one ragged).
 * Each chunk's call adds to the sums the one before it wrote, in the order
 * of one call over every row, so on that path the first 16 examples of
 * every batch must come out bit for bit as they do alone (batch 16, one
 * tile, not packed).
 *
 * The kernel's gradient (gradient_block_packed): 48 -> 256 (one ragged
 * tile of features) at batches of 33 and 600 (one chunk of examples, and
 * three: the first, one in the middle, the last), written and accumulated.
 *
 * Every output is held to a double reference, on one thread and two, the
 * two equal bit for bit. Tolerance: float dot products of up to 800 terms
 * of magnitude <= 1 against double: |got - want| <= 2e-4 * (1 + |want|). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "dense_forward_on.h"
#include "tdl/runtime.h"

typedef struct layer_shape {
    int features, units;
} layer_shape;

enum { MAX_FEATURES = 800, MAX_UNITS = 1024, MAX_BATCH = 50, ALONE = 16 };
static const double TOLERANCE = 2e-4;
static const layer_shape shapes[] = {{MAX_FEATURES, 384}, {300, MAX_UNITS}};
static const int batches[] = {33, MAX_BATCH};

enum { GRADIENT_FEATURES = 48, GRADIENT_UNITS = 256, GRADIENT_MAX_BATCH = 600 };
static const int gradient_batches[] = {33, GRADIENT_MAX_BATCH};

/* Values in [-1, 1) from a fixed linear congruential sequence. */
static void fill(float *v, size_t n, uint32_t *state) {
    for (size_t i = 0; i < n; ++i) {
        *state = *state * 1664525u + 1013904223u;
        v[i] = (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
    }
}

static bool packing_path(void) {
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available();
}

static void check_layer(layer_shape shape, const float *x, const float *kernel, const float *bias) {
    const int features = shape.features, units = shape.units;
    const tdl_dense_desc d = {.in_features = features, .units = units, .activation = TDL_ACTIVATION_RELU};
    const size_t outputs = (size_t)MAX_BATCH * (size_t)units;
    float *alone = malloc(sizeof(float) * outputs), *one = malloc(sizeof(float) * outputs);
    float *two = malloc(sizeof(float) * outputs);
    double *want = malloc(sizeof(double) * outputs);
    assert_non_null(alone);
    assert_non_null(one);
    assert_non_null(two);
    assert_non_null(want);
    /* Every batch is the first examples of the largest: one reference. */
    for (int b = 0; b < MAX_BATCH; ++b) {
        for (int u = 0; u < units; ++u) {
            double sum = bias[u];
            for (int f = 0; f < features; ++f) sum += (double)x[b * features + f] * kernel[f * units + u];
            want[b * units + u] = sum > 0.0 ? sum : 0.0;
        }
    }
    forward_on(1, alone, x, kernel, bias, &d, ALONE);
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
        const int batch = batches[i];
        forward_on(1, one, x, kernel, bias, &d, batch);
        forward_on(2, two, x, kernel, bias, &d, batch);
        if (packing_path()) {
            assert_memory_equal(one, two, sizeof(float) * (size_t)batch * (size_t)units);
            assert_memory_equal(one, alone, sizeof(float) * ALONE * (size_t)units);
        }
        for (int o = 0; o < batch * units; ++o) {
            for (int t = 0; t < 2; ++t) {
                const double got = (t == 0 ? one : two)[o];
                if (fabs(got - want[o]) > TOLERANCE * (1.0 + fabs(want[o])))
                    fail_msg("%d -> %d, batch %d, %d thread(s), example %d unit %d: got %.9g, want %.9g", features,
                             units, batch, t + 1, o / units, o % units, got, want[o]);
            }
        }
    }
    free(want);
    free(alone);
    free(one);
    free(two);
}

static void test_packed_forward_matches_alone_and_reference(void **state) {
    (void)state;
    float *x = malloc(sizeof(float) * MAX_BATCH * MAX_FEATURES);
    float *kernel = malloc(sizeof(float) * MAX_FEATURES * MAX_UNITS), *bias = malloc(sizeof(float) * MAX_UNITS);
    assert_non_null(x);
    assert_non_null(kernel);
    assert_non_null(bias);
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        const layer_shape shape = shapes[i];
        uint32_t seed = 2024u + (uint32_t)i;
        fill(x, (size_t)MAX_BATCH * (size_t)shape.features, &seed);
        fill(kernel, (size_t)shape.features * (size_t)shape.units, &seed);
        fill(bias, (size_t)shape.units, &seed);
        check_layer(shape, x, kernel, bias);
    }
    free(x);
    free(kernel);
    free(bias);
}

static void assert_close(double got, double want, const char *what, int batch, int threads, size_t at) {
    if (fabs(got - want) > TOLERANCE * (1.0 + fabs(want)))
        fail_msg("%s, batch %d, %d thread(s), at %zu: got %.9g, want %.9g", what, batch, threads, at, got, want);
}

/* dkernel written (start 0, from a fill no gradient comes near) or
 * accumulated onto a fill of `start`, on `threads`; the layer is linear,
 * so y is only passed along. */
static void kernel_gradient_on(int threads, float *dkernel, float start, const float *dy, const float *y,
                               const float *x,
                               const float *kernel, const tdl_dense_desc *d, int batch, float *workspace) {
    const size_t count = (size_t)d->in_features * (size_t)d->units;
    for (size_t k = 0; k < count; ++k) dkernel[k] = start == 0.0f ? 1e30f : start;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    if (start == 0.0f)
        tdl_dense_train_backward(NULL, dkernel, NULL, dy, y, x, kernel, d, batch, workspace, TDL_DX_ADD);
    else
        tdl_dense_backward(NULL, dkernel, NULL, dy, y, x, kernel, d, batch, workspace);
    tdl_set_num_threads(before);
}

static void test_packed_kernel_gradient_matches_reference(void **state) {
    (void)state;
    enum { F = GRADIENT_FEATURES, U = GRADIENT_UNITS, B = GRADIENT_MAX_BATCH };
    const tdl_dense_desc d = {.in_features = F, .units = U, .activation = TDL_ACTIVATION_LINEAR};
    float *x = malloc(sizeof(float) * B * F), *dy = malloc(sizeof(float) * B * U);
    float *kernel = malloc(sizeof(float) * F * U), *one = malloc(sizeof(float) * F * U);
    float *two = malloc(sizeof(float) * F * U);
    double *want = malloc(sizeof(double) * F * U);
    float *workspace = malloc(sizeof(float) * tdl_dense_workspace_size(&d, B));
    assert_non_null(x), assert_non_null(dy), assert_non_null(kernel), assert_non_null(one);
    assert_non_null(two), assert_non_null(want), assert_non_null(workspace);
    uint32_t seed = 77u;
    fill(x, (size_t)B * F, &seed);
    fill(dy, (size_t)B * U, &seed);
    fill(kernel, (size_t)F * U, &seed);
    for (size_t i = 0; i < sizeof gradient_batches / sizeof gradient_batches[0]; ++i) {
        const int batch = gradient_batches[i];
        for (int f = 0; f < F; ++f) {
            for (int u = 0; u < U; ++u) {
                double sum = 0.0;
                for (int b = 0; b < batch; ++b) sum += (double)x[b * F + f] * dy[b * U + u];
                want[f * U + u] = sum;
            }
        }
        for (int accumulate = 0; accumulate <= 1; ++accumulate) {
            const float start = accumulate ? 0.5f : 0.0f;
            kernel_gradient_on(1, one, start, dy, dy, x, kernel, &d, batch, workspace);
            kernel_gradient_on(2, two, start, dy, dy, x, kernel, &d, batch, workspace);
            if (packing_path()) assert_memory_equal(one, two, sizeof(float) * F * U);
            for (size_t k = 0; k < (size_t)F * U; ++k) {
                assert_close(one[k], want[k] + start, "48 -> 256 kernel gradient", batch, 1, k);
                assert_close(two[k], want[k] + start, "48 -> 256 kernel gradient", batch, 2, k);
            }
        }
    }
    free(x), free(dy), free(kernel), free(one), free(two), free(want), free(workspace);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_packed_forward_matches_alone_and_reference),
        cmocka_unit_test(test_packed_kernel_gradient_matches_reference),
    };
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    const int automatic = cmocka_run_group_tests_name("packed dense products, automatic path", tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const int blas = cmocka_run_group_tests_name("packed dense products, BLAS path", tests, NULL, NULL);
    return automatic + blas;
}
