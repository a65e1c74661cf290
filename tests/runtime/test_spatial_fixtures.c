/* conv2d_transpose, upsample2d and pad2d against PyTorch.
 *
 * tests/fixtures/make_spatial_fixtures.py computes, in float64 PyTorch, each
 * case's output and the gradients of sum(dy * y), and stores them in
 * tests/fixtures/spatial_reference.safetensors ("<case>.<tensor>"). The cases
 * below repeat the script's, with their shapes, so every tensor is read with
 * tdl_safetensors_load at the shape this test expects (a mismatch fails the
 * load). One line per tensor:
 *
 *     transpose_same_s2_odd.dkernel       max|diff| = 4.8e-07  OK
 *
 * A value passes when |got - want| <= TOLERANCE * (1 + |want|); gradients
 * start at GRADIENT_START, which also checks that the backwards accumulate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "tdl/runtime.h"

#define FIXTURE_PATH TSC_SOURCE_DIR "/tests/fixtures/spatial_reference.safetensors"
#define TOLERANCE 1e-5
#define GRADIENT_START 0.5f

/* A tensor of the fixture, freed by release(). */
static float *load(const char *case_name, const char *field, int rank, const int64_t *shape)
{
    char name[96];
    snprintf(name, sizeof name, "%s.%s", case_name, field);
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)shape[i];
    tdl_tensor_ref ref = {.name = name, .rank = rank};
    for (int i = 0; i < rank; i++)
        ref.shape[i] = shape[i];
    ref.data = malloc(count * sizeof *ref.data);
    assert_non_null(ref.data);
    tdl_status status = tdl_safetensors_load(FIXTURE_PATH, &ref, 1);
    if (status != TDL_STATUS_OK)
        fail_msg("%s: %s (regenerate with tests/fixtures/make_spatial_fixtures.py)", name, tdl_last_error());
    return ref.data;
}

static size_t count_of(const int64_t shape[4])
{
    return (size_t)(shape[0] * shape[1] * shape[2] * shape[3]);
}

/* Prints the largest difference; false when a value is off. offset is
 * subtracted from got first (GRADIENT_START for gradients). */
static bool compare(const char *case_name, const char *field, const float *got, const float *want, size_t n,
                    float offset)
{
    double worst = 0.0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs((double)got[i] - offset - (double)want[i]);
        ok = ok && diff <= TOLERANCE * (1.0 + fabs((double)want[i]));
        if (diff > worst || isnan(diff))
            worst = diff;
    }
    char label[128];
    snprintf(label, sizeof label, "%s.%s", case_name, field);
    printf("    %-36s max|diff| = %.1e  %s\n", label, worst, ok ? "OK" : "FAIL");
    return ok;
}

static float *filled(size_t n, float value)
{
    float *p = malloc(n * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = value;
    return p;
}

/* ---- conv2d_transpose --------------------------------------------------- */

typedef struct transpose_case {
    const char *name;
    int64_t x[4];
    int filters, kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    tdl_padding padding;
    int output_padding_h, output_padding_w;   /* -1: none */
    tdl_activation activation;
} transpose_case;

/* As TRANSPOSE_CASES of the script. */
static const transpose_case TRANSPOSE_CASES[] = {
    {"transpose_same_s2", {2, 4, 3, 3}, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, -1, -1, TDL_ACTIVATION_LINEAR},
    {"transpose_same_s2_odd", {2, 4, 5, 2}, 3, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, 0, 1, TDL_ACTIVATION_TANH},
    {"transpose_valid_s2", {1, 3, 4, 2}, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_VALID, -1, -1, TDL_ACTIVATION_LINEAR},
    {"transpose_valid_k2_s3", {2, 3, 2, 2}, 3, 2, 2, 3, 3, 1, 1, TDL_PADDING_VALID, -1, -1, TDL_ACTIVATION_SIGMOID},
    {"transpose_same_d2", {2, 5, 4, 2}, 2, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME, -1, -1, TDL_ACTIVATION_TANH},
    {"transpose_same_k4_s2_op1", {1, 3, 3, 2}, 2, 4, 4, 2, 2, 1, 1, TDL_PADDING_SAME, 1, 1, TDL_ACTIVATION_LINEAR},
};

/* Every case: forward, then dx, dkernel and dbias, against PyTorch. */
static void test_conv2d_transpose_against_torch(void **state)
{
    (void)state;
    bool ok = true;
    for (size_t k = 0; k < sizeof TRANSPOSE_CASES / sizeof *TRANSPOSE_CASES; k++) {
        const transpose_case *c = &TRANSPOSE_CASES[k];
        tdl_conv2d_transpose_desc d;
        assert_int_equal(tdl_conv2d_transpose_desc_init(&d, (int)c->x[1], (int)c->x[2], (int)c->x[3], c->filters,
                                                        c->kernel_h, c->kernel_w, c->stride_h, c->stride_w,
                                                        c->dilation_h, c->dilation_w, c->padding,
                                                        c->output_padding_h, c->output_padding_w),
                         TDL_STATUS_OK);
        d.activation = c->activation;
        const int batch = (int)c->x[0];
        const int64_t y_shape[4] = {c->x[0], d.conv.in_h, d.conv.in_w, c->filters};
        const int64_t k_shape[4] = {c->kernel_h, c->kernel_w, c->filters, c->x[3]};
        const int64_t b_shape[1] = {c->filters};
        float *x = load(c->name, "x", 4, c->x), *kernel = load(c->name, "kernel", 4, k_shape);
        float *bias = load(c->name, "bias", 1, b_shape), *dy = load(c->name, "dy", 4, y_shape);
        float *want_y = load(c->name, "y", 4, y_shape), *want_dx = load(c->name, "dx", 4, c->x);
        float *want_dkernel = load(c->name, "dkernel", 4, k_shape), *want_dbias = load(c->name, "dbias", 1, b_shape);
        const size_t ny = count_of(y_shape), nx = count_of(c->x), nk = count_of(k_shape);
        float *workspace = filled(tdl_conv2d_transpose_workspace_size(&d, batch), NAN);
        float *y = filled(ny, NAN), *dx = filled(nx, GRADIENT_START), *dkernel = filled(nk, GRADIENT_START);
        float *dbias = filled((size_t)c->filters, GRADIENT_START);
        tdl_conv2d_transpose_forward(y, x, kernel, bias, &d, batch, workspace);
        tdl_conv2d_transpose_backward(dx, dkernel, dbias, dy, y, x, kernel, &d, batch, workspace);
        ok &= compare(c->name, "y", y, want_y, ny, 0.0f);
        ok &= compare(c->name, "dx", dx, want_dx, nx, GRADIENT_START);
        ok &= compare(c->name, "dkernel", dkernel, want_dkernel, nk, GRADIENT_START);
        ok &= compare(c->name, "dbias", dbias, want_dbias, (size_t)c->filters, GRADIENT_START);
        float *all[] = {x, kernel, bias, dy, want_y, want_dx, want_dkernel, want_dbias, workspace, y, dx, dkernel, dbias};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            free(all[i]);
    }
    assert_true(ok);
}

/* ---- upsample2d and pad2d ------------------------------------------------ */

/* A case of an op with one input and no weights: forward and dx. */
typedef struct resize_case {
    const char *name;
    int64_t x[4];
    tdl_upsample2d_desc upsample;   /* used when pad is not */
    bool is_pad;
    tdl_pad2d_desc pad;
} resize_case;

#define UPSAMPLE(name, b, h, w, c, sh, sw, interp) \
    {name, {b, h, w, c}, {h, w, c, sh, sw, TDL_INTERPOLATION_##interp}, false, {0, 0, 0, 0, 0, 0, 0}}
#define PAD(name, b, h, w, c, top, bottom, left, right) \
    {name, {b, h, w, c}, {0, 0, 0, 0, 0, TDL_INTERPOLATION_NEAREST}, true, {h, w, c, top, bottom, left, right}}

/* As UPSAMPLE_CASES and PAD_CASES of the script. */
static const resize_case RESIZE_CASES[] = {
    UPSAMPLE("upsample_nearest", 2, 3, 4, 2, 2, 2, NEAREST),
    UPSAMPLE("upsample_nearest_3x2", 1, 3, 2, 3, 3, 2, NEAREST),
    UPSAMPLE("upsample_bilinear", 2, 3, 4, 2, 2, 2, BILINEAR),
    UPSAMPLE("upsample_bilinear_3x4", 1, 4, 3, 2, 3, 4, BILINEAR),
    PAD("zero_padding_1", 2, 3, 4, 2, 1, 1, 1, 1),
    PAD("zero_padding_2_0_0_3", 1, 3, 4, 3, 2, 0, 0, 3),
    PAD("cropping_1_2_2_1", 2, 5, 6, 2, -1, -2, -2, -1),
};

static void test_resize_against_torch(void **state)
{
    (void)state;
    bool ok = true;
    for (size_t k = 0; k < sizeof RESIZE_CASES / sizeof *RESIZE_CASES; k++) {
        const resize_case *c = &RESIZE_CASES[k];
        const int batch = (int)c->x[0];
        int64_t y_shape[4] = {c->x[0], 0, 0, c->x[3]};
        if (c->is_pad) {
            y_shape[1] = c->x[1] + c->pad.top + c->pad.bottom;
            y_shape[2] = c->x[2] + c->pad.left + c->pad.right;
        } else {
            y_shape[1] = c->x[1] * c->upsample.size_h;
            y_shape[2] = c->x[2] * c->upsample.size_w;
        }
        float *x = load(c->name, "x", 4, c->x), *dy = load(c->name, "dy", 4, y_shape);
        float *want_y = load(c->name, "y", 4, y_shape), *want_dx = load(c->name, "dx", 4, c->x);
        const size_t ny = count_of(y_shape), nx = count_of(c->x);
        float *y = filled(ny, NAN), *dx = filled(nx, GRADIENT_START);
        if (c->is_pad) {
            tdl_pad2d_forward(y, x, &c->pad, batch);
            tdl_pad2d_backward(dx, dy, &c->pad, batch);
        } else {
            tdl_upsample2d_forward(y, x, &c->upsample, batch);
            tdl_upsample2d_backward(dx, dy, &c->upsample, batch);
        }
        ok &= compare(c->name, "y", y, want_y, ny, 0.0f);
        ok &= compare(c->name, "dx", dx, want_dx, nx, GRADIENT_START);
        float *all[] = {x, dy, want_y, want_dx, y, dx};
        for (size_t i = 0; i < sizeof all / sizeof *all; i++)
            free(all[i]);
    }
    assert_true(ok);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conv2d_transpose_against_torch),
        cmocka_unit_test(test_resize_against_torch),
    };
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
