/* The portable direct convolution's forward pass (runtime/src/portable/
 * conv_direct.c) on the shapes that pick each of its paths: blocks of 16, 8
 * and 4 filters and fewer than 4, the last filter block overlapping the one
 * before it, blocks of 4 interior pixels with the last one moved back, rows
 * too narrow for a block, edge pixels reading padding, one run of KW * C
 * inputs per kernel row (dilation 1) or KW runs (dilation > 1), strides,
 * and the layers of LeNet-5 and fashion_cnn.
 *
 * The reference sums each output in the order the kernel promises, (kh, kw,
 * c), in float, with a product and a sum per term, so the two must agree
 * bit for bit: any pixel or filter read from the wrong place shows. A guard
 * after the output catches a write past its end. (tests/runtime/test_conv.c,
 * built against this library too, compares with a double reference.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numeric_check.h"
#include "tdl/runtime.h"

typedef struct direct_case {
    int batch, in_h, in_w, in_c, filters;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    tdl_padding padding;
} direct_case;

enum { GUARD = 64 };

static float *random_floats(size_t n) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = uniform(-1.0f, 1.0f);
    return v;
}

/* y = conv(x) + bias, each output summed over (kh, kw, c) in that order in
 * float, taps in the padding skipped. */
static void reference_forward(float *y, const float *x, const float *kernel, const float *bias,
                              const tdl_conv2d_desc *d, int batch) {
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f = 0; f < d->out_c; ++f) {
                    float sum = 0.0f;
                    for (int kh = 0; kh < d->kernel_h; ++kh)
                        for (int kw = 0; kw < d->kernel_w; ++kw) {
                            const int ih = oh * d->stride_h - d->pad_top + kh * d->dilation_h;
                            const int iw = ow * d->stride_w - d->pad_left + kw * d->dilation_w;
                            if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) continue;
                            for (int c = 0; c < d->in_c; ++c) {
                                const float product =
                                    x[(((size_t)b * d->in_h + ih) * d->in_w + iw) * d->in_c + c] *
                                    kernel[(((size_t)kh * d->kernel_w + kw) * d->in_c + c) * d->out_c + f];
                                sum += product;
                            }
                        }
                    y[(((size_t)b * d->out_h + oh) * d->out_w + ow) * d->out_c + f] =
                        sum + (bias != NULL ? bias[f] : 0.0f);
                }
}

/* The kernel against the reference, with a bias and without, and (with
 * ReLU) the activation on top. */
static void check_case(const direct_case *cc) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, cc->in_h, cc->in_w, cc->in_c, cc->filters, cc->kernel_h, cc->kernel_w,
                                          cc->stride_h, cc->stride_w, cc->dilation_h, cc->dilation_w, cc->padding),
                     TDL_STATUS_OK);
    const size_t nx = (size_t)cc->batch * cc->in_h * cc->in_w * cc->in_c;
    const size_t nk = (size_t)cc->kernel_h * cc->kernel_w * cc->in_c * cc->filters;
    const size_t ny = (size_t)cc->batch * d.out_h * d.out_w * cc->filters;
    float *x = random_floats(nx), *kernel = random_floats(nk), *bias = random_floats((size_t)cc->filters);
    float *y = malloc((ny + GUARD) * sizeof *y), *want = malloc(ny * sizeof *want);
    assert_non_null(y);
    assert_non_null(want);
    for (int with_bias = 0; with_bias < 2; ++with_bias) {
        const float *b = with_bias ? bias : NULL;
        for (size_t i = 0; i < ny + GUARD; ++i) y[i] = -7.0f;
        d.activation = TDL_ACTIVATION_LINEAR;
        tdl_conv2d_forward(y, x, kernel, b, &d, cc->batch, NULL);
        reference_forward(want, x, kernel, b, &d, cc->batch);
        for (size_t i = 0; i < ny; ++i)
            if (memcmp(&y[i], &want[i], sizeof *y) != 0)
                fail_msg("%dx%dx%d, %d filters, %dx%d kernel: y[%zu] = %.9g, want %.9g", cc->in_h, cc->in_w,
                         cc->in_c, cc->filters, cc->kernel_h, cc->kernel_w, i, y[i], want[i]);
        for (size_t i = ny; i < ny + GUARD; ++i) assert_float_equal(y[i], -7.0f, 0.0f);
        d.activation = TDL_ACTIVATION_RELU;
        tdl_conv2d_forward(y, x, kernel, b, &d, cc->batch, NULL);
        for (size_t i = 0; i < ny; ++i) assert_float_equal(y[i], want[i] > 0.0f ? want[i] : 0.0f, 0.0f);
    }
    free(want);
    free(y);
    free(bias);
    free(kernel);
    free(x);
}

static void check_cases(const direct_case *cases, size_t count) {
    for (size_t i = 0; i < count; ++i) check_case(&cases[i]);
}

/* LeNet-5's and fashion_cnn's convolutions, as the benchmark runs them. */
static void test_example_layers(void **state) {
    (void)state;
    lcg_state = 3u;
    static const direct_case cases[] = {
        {1, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, TDL_PADDING_SAME},
        {1, 14, 14, 6, 16, 5, 5, 1, 1, 1, 1, TDL_PADDING_VALID},
        {1, 28, 28, 1, 32, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID},
        {1, 13, 13, 32, 64, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

/* Every filter count from 1 to 40: blocks of 16, 8, 4 that divide it, the
 * widest that fits with the last block overlapping, and fewer than 4. */
static void test_filter_blocks(void **state) {
    (void)state;
    lcg_state = 5u;
    for (int filters = 1; filters <= 40; ++filters) {
        const direct_case cc = {2, 6, 9, 3, filters, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};
        check_case(&cc);
    }
}

/* Rows with no interior pixel, fewer than a block, exactly one block, one
 * more than a block (the last block moved back), and several. */
static void test_row_widths(void **state) {
    (void)state;
    lcg_state = 9u;
    for (int in_w = 1; in_w <= 14; ++in_w) {
        const direct_case valid = {1, 4, in_w + 2, 2, 8, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID};
        const direct_case same = {1, 3, in_w, 2, 16, 3, 5, 1, 1, 1, 1, TDL_PADDING_SAME};
        check_case(&valid);
        check_case(&same);
    }
    /* A kernel wider than the input: every pixel reads padding. */
    static const direct_case wide_kernel = {1, 3, 3, 2, 8, 5, 7, 1, 1, 1, 1, TDL_PADDING_SAME};
    check_case(&wide_kernel);
}

/* Strides and dilations: a pixel's neighbour starts stride * C inputs on; a
 * dilated kernel row is KW runs of C inputs instead of one of KW * C. */
static void test_strides_and_dilations(void **state) {
    (void)state;
    lcg_state = 13u;
    static const direct_case cases[] = {
        {2, 9, 17, 3, 16, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME},
        {1, 10, 19, 4, 8, 3, 3, 1, 3, 1, 1, TDL_PADDING_VALID},
        {1, 11, 16, 3, 12, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME},
        {1, 12, 15, 5, 16, 2, 3, 1, 1, 1, 3, TDL_PADDING_VALID},
        {2, 13, 14, 2, 4, 3, 2, 2, 1, 3, 1, TDL_PADDING_SAME},
        {1, 14, 21, 3, 20, 3, 3, 2, 2, 2, 2, TDL_PADDING_SAME},
        {3, 7, 11, 5, 24, 1, 1, 1, 1, 1, 1, TDL_PADDING_VALID},
        {1, 7, 11, 5, 16, 1, 1, 2, 2, 1, 1, TDL_PADDING_SAME},
        {1, 6, 13, 1, 6, 1, 5, 1, 1, 1, 1, TDL_PADDING_SAME},
    };
    check_cases(cases, sizeof cases / sizeof cases[0]);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_layers),
        cmocka_unit_test(test_filter_blocks),
        cmocka_unit_test(test_row_widths),
        cmocka_unit_test(test_strides_and_dilations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
