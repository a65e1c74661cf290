/* Grouped, depthwise and separable convolutions against PyTorch.
 *
 * tests/fixtures/make_conv_groups_fixtures.py computes, in float64 PyTorch
 * (F.conv2d with groups=), the outputs and autograd gradients of each case
 * and stores them in tests/fixtures/conv_groups_reference.safetensors (its
 * docstring lists the tensors). Each test runs the libtdlrt kernels on the
 * fixture inputs, on both kernel paths, and prints per tensor the largest
 * difference from the reference:
 *
 *     grouped_g2_s2_same.dx            max|diff| = 2.4e-07  OK
 *
 * Tensors are read with tdl_safetensors_load, shapes from each case's .config.
 * Gradient buffers start at GRADIENT_START, which checks that the backward
 * passes accumulate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

#define FIXTURE_PATH TSC_SOURCE_DIR "/tests/fixtures/conv_groups_reference.safetensors"
/* |got - want| <= TOLERANCE * (1 + |want|); float32 kernels land within ~1e-6. */
#define TOLERANCE 1e-4
#define GRADIENT_START 0.5f

/* .config, in the script's order. */
typedef struct case_config {
    int batch, in_h, in_w, in_c, filters, groups, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    int padding, activation, multiplier, out_h, out_w;
} case_config;

enum { CONFIG_FIELDS = 17 };

static case_config read_config(const char *name) {
    float values[CONFIG_FIELDS];
    char key[96];
    snprintf(key, sizeof key, "%s.config", name);
    tdl_tensor_ref ref = {key, values, 1, {CONFIG_FIELDS}};
    assert_int_equal(tdl_safetensors_load(FIXTURE_PATH, &ref, 1), TDL_STATUS_OK);
    int v[CONFIG_FIELDS];
    for (int i = 0; i < CONFIG_FIELDS; ++i) v[i] = (int)values[i];
    return (case_config){v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], v[10], v[11], v[12], v[13],
                         v[14], v[15], v[16]};
}

/* "<case>.<what>" of the given shape, in fresh memory. */
static float *load(const char *name, const char *what, const int64_t *shape, int rank) {
    size_t n = 1;
    for (int i = 0; i < rank; ++i) n *= (size_t)shape[i];
    float *data = malloc(n * sizeof *data);
    assert_non_null(data);
    char key[96];
    snprintf(key, sizeof key, "%s.%s", name, what);
    tdl_tensor_ref ref = {key, data, rank, {0}};
    memcpy(ref.shape, shape, (size_t)rank * sizeof *shape);
    if (tdl_safetensors_load(FIXTURE_PATH, &ref, 1) != TDL_STATUS_OK) fail_msg("%s", tdl_last_error());
    return data;
}

static float *filled(size_t n, float value) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = value;
    return v;
}

/* Prints the largest difference; fails after printing if any is too large.
 * `offset` is subtracted first (the starting value of a gradient buffer). */
static void compare(const char *name, const char *what, const float *got, const float *want, size_t n,
                    float offset) {
    double worst = 0.0;
    bool ok = true;
    for (size_t i = 0; i < n; ++i) {
        const double diff = fabs(((double)got[i] - offset) - (double)want[i]);
        if (diff > worst) worst = diff;
        if (!(diff <= TOLERANCE * (1.0 + fabs((double)want[i])))) ok = false;
    }
    printf("    %s.%-20s max|diff| = %.1e  %s\n", name, what, worst, ok ? "OK" : "FAIL");
    if (!ok) fail_msg("%s.%s differs from PyTorch by %g", name, what, worst);
}

static tdl_conv2d_desc desc_of(const case_config *c) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, c->in_h, c->in_w, c->in_c, c->filters, c->kernel_h, c->kernel_w,
                                          c->stride_h, c->stride_w, c->dilation_h, c->dilation_w,
                                          (tdl_padding)c->padding),
                     TDL_STATUS_OK);
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, c->groups), TDL_STATUS_OK);
    assert_int_equal(d.out_h, c->out_h);
    assert_int_equal(d.out_w, c->out_w);
    d.activation = (tdl_activation)c->activation;
    return d;
}

/* A grouped or depthwise case through tdl_conv2d_forward / _backward (and the
 * depthwise entry points for depthwise cases), on both kernel paths. */
static void run_grouped(const char *name) {
    const case_config c = read_config(name);
    const tdl_conv2d_desc d = desc_of(&c);
    const int64_t x_shape[4] = {c.batch, c.in_h, c.in_w, c.in_c};
    const int64_t y_shape[4] = {c.batch, c.out_h, c.out_w, c.filters};
    const int64_t grouped_kernel[4] = {c.kernel_h, c.kernel_w, c.in_c / c.groups, c.filters};
    const int64_t depthwise_kernel[4] = {c.kernel_h, c.kernel_w, c.in_c, c.multiplier};
    const int64_t *k_shape = c.multiplier > 0 ? depthwise_kernel : grouped_kernel;
    const int64_t b_shape[1] = {c.filters};
    const size_t nx = (size_t)c.batch * c.in_h * c.in_w * c.in_c, ny = (size_t)c.batch * c.out_h * c.out_w * c.filters;
    const size_t nk = (size_t)c.kernel_h * c.kernel_w * (c.in_c / c.groups) * c.filters;
    float *x = load(name, "x", x_shape, 4), *kernel = load(name, "kernel", k_shape, 4);
    float *bias = load(name, "bias", b_shape, 1), *dy = load(name, "dy", y_shape, 4);
    float *want_y = load(name, "y", y_shape, 4), *want_dx = load(name, "dx", x_shape, 4);
    float *want_dk = load(name, "dkernel", k_shape, 4), *want_db = load(name, "dbias", b_shape, 1);
    float *ws = filled(tdl_conv2d_workspace_size(&d, c.batch) + 1, 0.0f);
    for (int path = 0; path < 2; ++path) {
        tdl_set_kernel_path(path == 0 ? TDL_KERNEL_PATH_AUTO : TDL_KERNEL_PATH_BLAS);
        float *y = filled(ny, 0.0f), *dx = filled(nx, GRADIENT_START), *dk = filled(nk, GRADIENT_START);
        float *db = filled((size_t)c.filters, GRADIENT_START);
        if (c.multiplier > 0) {
            tdl_depthwise_conv2d_forward(y, x, kernel, bias, &d, c.batch, ws);
            tdl_depthwise_conv2d_backward(dx, dk, db, dy, y, x, kernel, &d, c.batch, ws);
        } else {
            tdl_conv2d_forward(y, x, kernel, bias, &d, c.batch, ws);
            tdl_conv2d_backward(dx, dk, db, dy, y, x, kernel, &d, c.batch, ws);
        }
        compare(name, "y", y, want_y, ny, 0.0f);
        compare(name, "dx", dx, want_dx, nx, GRADIENT_START);
        compare(name, "dkernel", dk, want_dk, nk, GRADIENT_START);
        compare(name, "dbias", db, want_db, (size_t)c.filters, GRADIENT_START);
        free(y);
        free(dx);
        free(dk);
        free(db);
    }
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    float *all[] = {x, kernel, bias, dy, want_y, want_dx, want_dk, want_db, ws};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) free(all[i]);
}

/* Two groups, stride 2, 'same'. */
static void test_grouped_g2_s2_same(void **state) {
    (void)state;
    run_grouped("grouped_g2_s2_same");
}

/* Three groups, dilation (2,1), 'valid', sigmoid. */
static void test_grouped_g3_dil_sigmoid(void **state) {
    (void)state;
    run_grouped("grouped_g3_dil_sigmoid");
}

/* Depthwise, multiplier 1, 'same', tanh. */
static void test_depthwise_m1_same_tanh(void **state) {
    (void)state;
    run_grouped("depthwise_m1_same_tanh");
}

/* Depthwise, multiplier 3, strides (2,1), dilation (1,2), 'valid'. */
static void test_depthwise_m3_s2_valid(void **state) {
    (void)state;
    run_grouped("depthwise_m3_s2_valid");
}

/* Separable: depthwise (multiplier 2, stride 2, 'same'), 1x1 to 5 filters, tanh. */
static void test_separable_m2_s2_tanh(void **state) {
    (void)state;
    const char *name = "separable_m2_s2_tanh";
    const case_config c = read_config(name);
    tdl_separable_conv2d_desc d;
    assert_int_equal(tdl_separable_conv2d_desc_init(&d, c.in_h, c.in_w, c.in_c, c.multiplier, c.filters, c.kernel_h,
                                                    c.kernel_w, c.stride_h, c.stride_w, c.dilation_h, c.dilation_w,
                                                    (tdl_padding)c.padding),
                     TDL_STATUS_OK);
    d.pointwise.activation = (tdl_activation)c.activation;
    const int middle = c.in_c * c.multiplier;
    const int64_t x_shape[4] = {c.batch, c.in_h, c.in_w, c.in_c};
    const int64_t y_shape[4] = {c.batch, c.out_h, c.out_w, c.filters};
    const int64_t dk_shape[4] = {c.kernel_h, c.kernel_w, c.in_c, c.multiplier};
    const int64_t pk_shape[4] = {1, 1, middle, c.filters};
    const int64_t b_shape[1] = {c.filters};
    const size_t nx = (size_t)c.batch * c.in_h * c.in_w * c.in_c, ny = (size_t)c.batch * c.out_h * c.out_w * c.filters;
    const size_t ndk = (size_t)c.kernel_h * c.kernel_w * middle, npk = (size_t)middle * c.filters;
    float *x = load(name, "x", x_shape, 4), *dk = load(name, "depthwise_kernel", dk_shape, 4);
    float *pk = load(name, "pointwise_kernel", pk_shape, 4), *bias = load(name, "bias", b_shape, 1);
    float *dy = load(name, "dy", y_shape, 4), *want_y = load(name, "y", y_shape, 4);
    float *want_dx = load(name, "dx", x_shape, 4), *want_ddk = load(name, "ddepthwise_kernel", dk_shape, 4);
    float *want_dpk = load(name, "dpointwise_kernel", pk_shape, 4), *want_db = load(name, "dbias", b_shape, 1);
    float *ws = filled(tdl_separable_conv2d_workspace_size(&d, c.batch) + 1, 0.0f);
    float *y = filled(ny, 0.0f), *dx = filled(nx, GRADIENT_START), *ddk = filled(ndk, GRADIENT_START);
    float *dpk = filled(npk, GRADIENT_START), *db = filled((size_t)c.filters, GRADIENT_START);
    tdl_separable_conv2d_forward(y, x, dk, pk, bias, &d, c.batch, ws);
    tdl_separable_conv2d_backward(dx, ddk, dpk, db, dy, y, x, dk, pk, &d, c.batch, ws);
    compare(name, "y", y, want_y, ny, 0.0f);
    compare(name, "dx", dx, want_dx, nx, GRADIENT_START);
    compare(name, "ddepthwise_kernel", ddk, want_ddk, ndk, GRADIENT_START);
    compare(name, "dpointwise_kernel", dpk, want_dpk, npk, GRADIENT_START);
    compare(name, "dbias", db, want_db, (size_t)c.filters, GRADIENT_START);
    float *all[] = {x, dk, pk, bias, dy, want_y, want_dx, want_ddk, want_dpk, want_db, ws, y, dx, ddk, dpk, db};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) free(all[i]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_g2_s2_same),
        cmocka_unit_test(test_grouped_g3_dil_sigmoid),
        cmocka_unit_test(test_depthwise_m1_same_tanh),
        cmocka_unit_test(test_depthwise_m3_s2_valid),
        cmocka_unit_test(test_separable_m2_s2_tanh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
