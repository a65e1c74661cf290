/* The gradients of layers with few channels on libxsmm (conv_xsmm_few.c)
 * against a direct double-precision reference: LeNet-5's and mnist_convnet's
 * layers, 'same' padding (shifted columns and rows cut by the border),
 * filters that are not a multiple of a vector, a non-square kernel,
 * dilation, one output pixel, 15 channels; both add to what the output
 * holds; scratch is written before it is read; nothing past the output is
 * written; the public entry points take them; the input's gradient gives
 * the same bits on 1 to 3 threads, the kernel's the same bits again for a
 * given thread count; the layers they decline, the BLAS path included.
 *
 * Tolerance against double: 1e-4 absolute plus 1e-4 relative, plus 2e-7
 * of the sum of the products' magnitudes. The last term is for the long
 * sums: the kernel's gradient at batch 100 adds 10,000 products, whose
 * partial sums reach 135 while the result may be 0.03, and the float sum's
 * rounding then reached 0.89e-4 on an AVX-512 CPU and 1.06e-4 on an AVX
 * one (no FMA: each product rounded before it is added), against 2e-7 of
 * about 2,500 = 5e-4. A product missing or counted twice is still far
 * outside it. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "automatic_path.h"
#include "conv_internal.h"
#include "float_arrays.h"
#include "input_gradient_threads.h"
#include "tdl/runtime.h"

typedef struct few_case {
    int batch, in_h, in_w, in_c, filters, kernel_h, kernel_w, dilation;
    tdl_padding padding;
} few_case;

static const few_case cases[] = {
    {2, 14, 14, 6, 16, 5, 5, 1, TDL_PADDING_VALID}, /* LeNet-5's second layer */
    {2, 28, 28, 1, 32, 3, 3, 1, TDL_PADDING_VALID}, /* mnist_convnet's first: kernel's gradient only */
    {3, 9, 11, 3, 20, 3, 3, 1, TDL_PADDING_SAME},   /* padding; 20 filters; KW*C = 9 */
    {2, 10, 9, 7, 17, 3, 5, 1, TDL_PADDING_SAME},   /* 3x5 kernel, odd sizes, KW*C = 35 */
    {2, 12, 13, 6, 16, 3, 3, 2, TDL_PADDING_SAME},  /* dilation 2 */
    {1, 5, 5, 15, 16, 5, 5, 1, TDL_PADDING_VALID},  /* one output pixel, 15 channels */
    {100, 14, 14, 6, 16, 5, 5, 1, TDL_PADDING_VALID}, /* work for 3 threads: partials summed */
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static tdl_conv2d_desc desc_of(const few_case *fc) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, fc->in_h, fc->in_w, fc->in_c, fc->filters, fc->kernel_h, fc->kernel_w,
                                          1, 1, fc->dilation, fc->dilation, fc->padding),
                     TDL_STATUS_OK);
    return d;
}

/* Array sizes, capped at a bound no case reaches: without one, GCC's
 * optimised builds see products of ints that might wrap and reject the
 * copies of them (-Wstringop-overflow). */
enum { MAX_TEST_FLOATS = 1 << 24 };
static size_t capped(size_t n) {
    assert_true(n <= MAX_TEST_FLOATS);
    return n <= MAX_TEST_FLOATS ? n : MAX_TEST_FLOATS;
}
static size_t x_size(const few_case *fc, int batch) {
    return capped((size_t)batch * (size_t)fc->in_h * (size_t)fc->in_w * (size_t)fc->in_c);
}
static size_t k_size(const few_case *fc) {
    return capped((size_t)fc->kernel_h * (size_t)fc->kernel_w * (size_t)fc->in_c * (size_t)fc->filters);
}
static size_t y_size(const tdl_conv2d_desc *d, int batch) {
    return capped((size_t)batch * (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c);
}

/* Calls visit(x index, kernel index, dy index) for every product of the convolution. */
typedef struct products {
    double *out, *magnitude; /* the sums, and the sums of the products' magnitudes */
    const float *a, *b;
    bool kernel_gradient;
} products;

static void add_products(products *p, const tdl_conv2d_desc *d, int batch) {
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int kh = 0; kh < d->kernel_h; ++kh)
                    for (int kw = 0; kw < d->kernel_w; ++kw) {
                        const int ih = oh + kh * d->dilation_h - d->pad_top;
                        const int iw = ow + kw * d->dilation_w - d->pad_left;
                        if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) continue;
                        for (int c = 0; c < d->in_c; ++c)
                            for (int f = 0; f < d->out_c; ++f) {
                                const size_t xi = (((size_t)b * d->in_h + ih) * d->in_w + iw) * d->in_c + c;
                                const size_t ki = (((size_t)kh * d->kernel_w + kw) * d->in_c + c) * d->out_c + f;
                                const size_t yi = (((size_t)b * d->out_h + oh) * d->out_w + ow) * d->out_c + f;
                                const size_t at = p->kernel_gradient ? ki : xi;
                                const double product = (double)p->a[p->kernel_gradient ? xi : ki] * p->b[yi];
                                p->out[at] += product;
                                p->magnitude[at] += fabs(product);
                            }
                    }
}

static void assert_near(double got, double want, double magnitude, const char *what, size_t i) {
    if (!(fabs(got - want) <= 1e-4 * (1.0 + fabs(want)) + 2e-7 * magnitude))
        fail_msg("%s[%zu]: got %.8g, expected %.8g", what, i, got, want);
}

/* dkernel += the sum over the batch of x * dy, from `before`. */
static void check_kernel_gradient(const few_case *fc) {
    const tdl_conv2d_desc d = desc_of(fc);
    const size_t nx = x_size(fc, fc->batch), nk = k_size(fc), ny = y_size(&d, fc->batch);
    float *x = floats_of(nx, -1.0f, 1.0f), *dy = floats_of(ny, -1.0f, 1.0f), *before = floats_of(nk, -1.0f, 1.0f);
    const size_t scratch_floats = conv_xsmm_few_scratch_size(&d, fc->batch);
    assert_true(scratch_floats > 0);
    const size_t workspace_floats = tdl_conv2d_workspace_size(&d, fc->batch);
    assert_true(ny + scratch_floats <= workspace_floats);

    const int saved = tdl_get_num_threads();
    tdl_set_num_threads(1);
    float *scratch = floats_filled(scratch_floats, NAN), *dkernel = floats_filled(nk + 8, 7.0f);
    memcpy(dkernel, before, nk * sizeof *dkernel);
    assert_true(conv_xsmm_few_backprop_filter(dkernel, x, dy, &d, fc->batch, scratch));
    for (size_t i = nk; i < nk + 8; ++i) assert_true(dkernel[i] == 7.0f);
    double *want = calloc(nk, sizeof *want);
    assert_non_null(want);
    double *magnitude = calloc(nk, sizeof *magnitude);
    assert_non_null(magnitude);
    products p = {want, magnitude, x, dy, true};
    add_products(&p, &d, fc->batch);
    for (size_t i = 0; i < nk; ++i) assert_near(dkernel[i], before[i] + want[i], magnitude[i], "dkernel", i);

    /* The public entry, on 1 to 3 threads, twice each: near the reference, the same bits again. */
    float *workspace = floats_filled(workspace_floats, NAN);
    float *first = malloc(nk * sizeof *first), *again = malloc(nk * sizeof *again);
    assert_non_null(first);
    assert_non_null(again);
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        memcpy(first, before, nk * sizeof *first);
        tdl_conv2d_backprop_filter(first, x, dy, &d, fc->batch, workspace);
        memcpy(again, before, nk * sizeof *again);
        tdl_conv2d_backprop_filter(again, x, dy, &d, fc->batch, workspace);
        assert_memory_equal(first, again, nk * sizeof *first);
        for (size_t i = 0; i < nk; ++i) assert_near(first[i], before[i] + want[i], magnitude[i], "public dkernel", i);
        if (threads == 1) assert_memory_equal(first, dkernel, nk * sizeof *first);
    }
    tdl_set_num_threads(saved);

    free(again);
    free(first);
    free(workspace);
    free(magnitude);
    free(want);
    free(dkernel);
    free(scratch);
    free(before);
    free(dy);
    free(x);
}

/* dx += the sum of kernel * dy over the taps that read each input pixel. */
static void check_input_gradient(const few_case *fc) {
    const tdl_conv2d_desc d = desc_of(fc);
    const size_t nx = x_size(fc, fc->batch), nk = k_size(fc), ny = y_size(&d, fc->batch);
    float *kernel = floats_of(nk, -0.5f, 0.5f), *dy = floats_of(ny, -1.0f, 1.0f), *before = floats_of(nx, -1.0f, 1.0f);
    const size_t scratch_floats = conv_xsmm_few_scratch_size(&d, fc->batch);
    assert_true(ny + scratch_floats <= tdl_conv2d_workspace_size(&d, fc->batch));
    float *scratch = floats_filled(scratch_floats, NAN), *dx = floats_filled(nx + 8, 7.0f);
    memcpy(dx, before, nx * sizeof *dx);
    assert_true(conv_xsmm_few_backprop_input(dx, kernel, dy, &d, fc->batch, scratch));
    for (size_t i = nx; i < nx + 8; ++i) assert_true(dx[i] == 7.0f);
    double *want = calloc(nx, sizeof *want);
    assert_non_null(want);
    double *magnitude = calloc(nx, sizeof *magnitude);
    assert_non_null(magnitude);
    products p = {want, magnitude, kernel, dy, false};
    add_products(&p, &d, fc->batch);
    for (size_t i = 0; i < nx; ++i) assert_near(dx[i], before[i] + want[i], magnitude[i], "dx", i);

    /* Each input row is one thread's: the same bits on every thread count. */
    assert_input_gradient_on_1_to_3_threads(kernel, dy, &d, fc->batch, before, dx, nx);

    free(magnitude);
    free(want);
    free(dx);
    free(scratch);
    free(before);
    free(dy);
    free(kernel);
}

static bool takes_input_gradient(const few_case *fc) { return fc->kernel_w * fc->in_c >= 16; }

static void test_kernel_gradient(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    for (size_t i = 0; i < COUNT(cases); ++i) check_kernel_gradient(&cases[i]);
}

static void test_input_gradient(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    for (size_t i = 0; i < COUNT(cases); ++i) {
        if (takes_input_gradient(&cases[i])) {
            check_input_gradient(&cases[i]);
            continue;
        }
        const tdl_conv2d_desc d = desc_of(&cases[i]);
        float *dx = floats_filled(x_size(&cases[i], 1), 7.0f), *kernel = floats_of(k_size(&cases[i]), -0.5f, 0.5f);
        float *dy = floats_of(y_size(&d, 1), -1.0f, 1.0f);
        float *scratch = floats_filled(conv_xsmm_few_scratch_size(&d, 1), NAN);
        assert_false(conv_xsmm_few_backprop_input(dx, kernel, dy, &d, 1, scratch));
        for (size_t j = 0; j < x_size(&cases[i], 1); ++j) assert_true(dx[j] == 7.0f);
        free(scratch);
        free(dy);
        free(kernel);
        free(dx);
    }
}

/* 16+ channels (conv_xsmm.c's), fewer than 16 filters, stride 2, groups,
 * the BLAS path: nothing written, no scratch asked for. */
static void test_declines(void **state) {
    (void)state;
    tdl_conv2d_desc declined[4];
    assert_int_equal(tdl_conv2d_desc_init(&declined[0], 8, 8, 16, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_init(&declined[1], 8, 8, 6, 15, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_init(&declined[2], 8, 8, 6, 16, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_init(&declined[3], 8, 8, 6, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_set_groups(&declined[3], 2), TDL_STATUS_OK);
    float *x = floats_of(8 * 8 * 16, -1.0f, 1.0f), *dy = floats_of(8 * 8 * 16, -1.0f, 1.0f);
    float *kernel = floats_filled(9 * 16 * 16, 7.0f), *dx = floats_filled(8 * 8 * 16, 7.0f), scratch[16] = {0};
    for (size_t i = 0; i < COUNT(declined); ++i) {
        assert_int_equal(conv_xsmm_few_scratch_size(&declined[i], 1), 0);
        assert_false(conv_xsmm_few_backprop_filter(kernel, x, dy, &declined[i], 1, scratch));
        assert_false(conv_xsmm_few_backprop_input(dx, kernel, dy, &declined[i], 1, scratch));
    }
    tdl_conv2d_desc suited;
    assert_int_equal(tdl_conv2d_desc_init(&suited, 8, 8, 6, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), 0);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    assert_false(conv_xsmm_few_backprop_filter(kernel, x, dy, &suited, 1, scratch));
    assert_false(conv_xsmm_few_backprop_input(dx, kernel, dy, &suited, 1, scratch));
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    for (size_t i = 0; i < 9 * 16 * 16; ++i) assert_true(kernel[i] == 7.0f);
    for (size_t i = 0; i < 8 * 8 * 16; ++i) assert_true(dx[i] == 7.0f);
    free(dx);
    free(kernel);
    free(dy);
    free(x);
}

int main(void) {
    lcg_state = 2026u;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernel_gradient),
        cmocka_unit_test(test_input_gradient),
        cmocka_unit_test(test_declines),
    };
    return cmocka_run_group_tests(tests, choose_automatic_path, restore_path);
}
