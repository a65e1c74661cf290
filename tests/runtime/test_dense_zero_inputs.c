/* One example through a dense layer whose input has zeros
 * (dense_zero_inputs.c reads only the kernel rows of the nonzero inputs):
 * against a double reference on both paths, alone and as the first
 * example of a batch of two (which reads every row); where the rows are
 * skipped, the same bits on one thread and two. Layers of 16 to 512
 * units: one vector, a ragged last vector (19 units), a ragged second
 * block (200 = 128 + 72), LeNet-5's 400 -> 120, the MLP's 784 -> 512, and
 * 8200 -> 24, which the path declines. The inputs have zeros of both
 * signs, runs of zeros and a first and last input that are zero.
 *
 * Tolerance: float dot products of up to 8200 terms of magnitude <= 1
 * against double: |got - want| <= 1e-4 * (1 + |want|). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dense_forward_on.h"
#include "tdl/runtime.h"

static const double TOLERANCE = 1e-4;

typedef struct layer_shape {
    int features, units;
} layer_shape;

/* The last is wider than the 8192 inputs whose indices the path lists: it
 * declines, and the layer reads every row. */
static const layer_shape SHAPES[] = {{37, 16}, {100, 19}, {300, 200}, {400, 120}, {784, 512}, {8200, 24}};

/* Values in [-1, 1) from a fixed linear congruential sequence. */
static float next_value(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

static float *values(size_t n, uint32_t *state) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = next_value(state);
    return v;
}

/* About half the inputs zero, some of them -0, the first and last always. */
static void zero_about_half(float *x, int features, uint32_t *state) {
    for (int f = 0; f < features; ++f) {
        const float draw = next_value(state);
        if (draw < 0.0f) x[f] = draw < -0.5f ? -0.0f : 0.0f;
    }
    x[0] = 0.0f;
    x[features - 1] = -0.0f;
}

/* Whether dense_zero_inputs.c takes batch 1 here: with AVX-512, or AVX2 and FMA. */
static bool rows_skipped(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO &&
           (__builtin_cpu_supports("avx512f") || (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")));
#else
    return false;
#endif
}

static void check_unit(const char *what, const tdl_dense_desc *d, int u, float got, double want) {
    if (fabs(got - want) > TOLERANCE * (1.0 + fabs(want)))
        fail_msg("%d -> %d, unit %d %s: %.8g, want %.8g", d->in_features, d->units, u, what, (double)got, want);
}

static double reference_unit(const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                             int u) {
    double sum = bias != NULL ? bias[u] : 0.0;
    for (int f = 0; f < d->in_features; ++f) sum += (double)x[f] * (double)kernel[(size_t)f * d->units + u];
    if (d->activation == TDL_ACTIVATION_RELU && sum < 0.0) sum = 0.0;
    return sum;
}

static void test_matches_reference_and_batch(void **state) {
    (void)state;
    uint32_t seed = 2024u;
    const tdl_activation activations[] = {TDL_ACTIVATION_RELU, TDL_ACTIVATION_LINEAR};
    for (size_t s = 0; s < sizeof SHAPES / sizeof SHAPES[0]; ++s)
        for (size_t a = 0; a < 2; ++a) {
            const int features = SHAPES[s].features, units = SHAPES[s].units;
            const tdl_dense_desc d = {features, units, activations[a], 0.0f};
            float *kernel = values((size_t)features * units, &seed), *bias = values((size_t)units, &seed);
            float *x = values(2 * (size_t)features, &seed);
            zero_about_half(x, features, &seed);
            float *one = calloc((size_t)units, sizeof *one), *two = calloc((size_t)units, sizeof *two);
            float *pair = calloc(2 * (size_t)units, sizeof *pair);
            assert_non_null(one);
            assert_non_null(two);
            assert_non_null(pair);
            forward_on(1, one, x, kernel, a == 0 ? bias : NULL, &d, 1);
            forward_on(2, two, x, kernel, a == 0 ? bias : NULL, &d, 1);
            forward_on(1, pair, x, kernel, a == 0 ? bias : NULL, &d, 2);
            for (int u = 0; u < units; ++u) {
                const double want = reference_unit(x, kernel, a == 0 ? bias : NULL, &d, u);
                check_unit("alone", &d, u, one[u], want);
                check_unit("in a batch", &d, u, pair[u], want);
            }
            /* Each unit is one thread's sum over the same rows in the same order. */
            if (rows_skipped()) assert_memory_equal(one, two, (size_t)units * sizeof *one);
            free(kernel), free(bias), free(x), free(one), free(two), free(pair);
        }
}

/* An input of zeros gives the bias through the activation; a NaN input is
 * not zero and reaches every unit whose weight is not zero. */
static void test_all_zero_and_nan_inputs(void **state) {
    (void)state;
    uint32_t seed = 7u;
    enum { FEATURES = 300, UNITS = 200 };
    const tdl_dense_desc d = {FEATURES, UNITS, TDL_ACTIVATION_LINEAR, 0.0f};
    float *kernel = values((size_t)FEATURES * UNITS, &seed), *bias = values(UNITS, &seed);
    float x[FEATURES] = {0.0f}, y[UNITS];
    tdl_dense_forward(y, x, kernel, bias, &d, 1);
    for (int u = 0; u < UNITS; ++u) assert_true(y[u] == bias[u]);
    x[FEATURES / 2] = NAN;
    tdl_dense_forward(y, x, kernel, bias, &d, 1);
    for (int u = 0; u < UNITS; ++u) assert_true(isnan(y[u]));
    free(kernel), free(bias);
}

/* The documented difference (docs/runtime.md): an infinite weight reaches
 * its unit through a nonzero input, and not through a zero one, whose row
 * is never read (on the default path of an AVX-512 CPU; elsewhere 0 * inf
 * is NaN, as in a product over every input). */
static void test_infinite_weight(void **state) {
    (void)state;
    uint32_t seed = 11u;
    enum { FEATURES = 64, UNITS = 32 };
    const tdl_dense_desc d = {FEATURES, UNITS, TDL_ACTIVATION_LINEAR, 0.0f};
    float *kernel = values((size_t)FEATURES * UNITS, &seed), *x = values(FEATURES, &seed);
    float y[UNITS];
    x[3] = 0.0f;
    x[5] = 0.5f;
    kernel[3 * UNITS + 7] = INFINITY;
    kernel[5 * UNITS + 9] = INFINITY;
    tdl_dense_forward(y, x, kernel, NULL, &d, 1);
    assert_true(isinf(y[9]) && y[9] > 0.0f);
    if (rows_skipped())
        assert_true(isfinite(y[7]));
    else
        assert_true(isnan(y[7]));
    free(kernel), free(x);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference_and_batch),
        cmocka_unit_test(test_all_zero_and_nan_inputs),
        cmocka_unit_test(test_infinite_weight),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
