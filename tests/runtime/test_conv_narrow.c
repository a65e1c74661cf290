/* The direct convolutions for few channels and filters: conv_narrow.c
 * (forward and weight gradient) and conv_lanes.c (first-layer forward with
 * pixels in the vector lanes), against a direct double-precision reference
 * (odd sizes, 'same' and 'valid', vertical strides, dilations, rows shorter
 * and longer than a block of lanes, 1 to 3 threads), against central finite
 * differences through the public entry points, the layers they decline, and
 * repeatability for a thread count.
 *
 * Tolerances: sums of float products of size ~1 against double, 1e-4
 * absolute plus 1e-4 relative: a few hundred terms forward, up to 22 736
 * for the weight gradient of the 29-image LeNet batch (also through
 * conv_lanes_filter.c's loops, on 1-3 threads), which pass because each
 * lane or partial sums only a share of the terms before the final adds.
 * Finite differences:
 * step 1e-2 on a loss sum(y * g) accumulated in double with a smooth (tanh)
 * activation, so 2e-3 absolute plus 2e-3 relative (see test_conv.c). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avx2_forms.h"
#include "conv_internal.h"
#include "automatic_path.h"
#include "float_arrays.h"
#include "tdl/runtime.h"

typedef struct narrow_case {
    int batch, in_h, in_w, in_c, filters, kernel_h, kernel_w, stride_h, dilation_h, dilation_w;
    tdl_padding padding;
} narrow_case;

/* LeNet's first layer at a small batch, and odd shapes around it. */
static const narrow_case lenet_first = {3, 28, 28, 1, 6, 5, 5, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case lenet_second_odd = {2, 14, 13, 6, 15, 5, 5, 1, 1, 1, TDL_PADDING_VALID};
static const narrow_case rgb_uneven_same = {3, 9, 7, 3, 5, 3, 4, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case strided_rows = {2, 11, 8, 2, 7, 3, 3, 3, 1, 1, TDL_PADDING_VALID};
static const narrow_case strided_same = {2, 10, 9, 1, 4, 4, 2, 2, 1, 1, TDL_PADDING_SAME};
static const narrow_case dilated_same = {2, 9, 10, 2, 3, 3, 3, 1, 2, 3, TDL_PADDING_SAME};
static const narrow_case one_filter = {5, 6, 5, 1, 1, 2, 2, 1, 1, 1, TDL_PADDING_VALID};
static const narrow_case pointwise = {2, 4, 5, 3, 9, 1, 1, 1, 1, 1, TDL_PADDING_VALID};
static const narrow_case wide_row = {1, 3, 70, 2, 11, 3, 5, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case wide_eight = {2, 3, 70, 2, 8, 3, 5, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case one_block = {3, 5, 18, 1, 7, 3, 3, 1, 1, 1, TDL_PADDING_VALID};

static const narrow_case *const forward_cases[] = {&lenet_first, &lenet_second_odd, &rgb_uneven_same,
                                                   &strided_rows, &strided_same, &dilated_same,
                                                   &one_filter, &pointwise, &wide_row};
/* conv_lanes.c: at most 3 channels and 8 filters, horizontal stride and dilation 1. */
static const narrow_case *const lanes_cases[] = {&lenet_first, &rgb_uneven_same, &strided_rows, &strided_same,
                                                 &one_filter, &wide_eight, &one_block};
/* The weight gradient runs here for at most 3 input channels. */
static const narrow_case *const filter_cases[] = {&lenet_first, &rgb_uneven_same, &strided_rows, &strided_same,
                                                  &dilated_same, &one_filter, &pointwise, &wide_row};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))


static tdl_conv2d_desc desc_of(const narrow_case *nc, tdl_activation activation) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, nc->in_h, nc->in_w, nc->in_c, nc->filters, nc->kernel_h, nc->kernel_w,
                                          nc->stride_h, 1, nc->dilation_h, nc->dilation_w, nc->padding),
                     TDL_STATUS_OK);
    d.activation = activation;
    return d;
}

static size_t x_size(const narrow_case *nc) { return (size_t)nc->batch * nc->in_h * nc->in_w * nc->in_c; }
static size_t k_size(const narrow_case *nc) { return (size_t)nc->kernel_h * nc->kernel_w * nc->in_c * nc->filters; }
static size_t y_size(const tdl_conv2d_desc *d, int batch) {
    return (size_t)batch * d->out_h * d->out_w * d->out_c;
}

/* The input element under tap (kh, kw) of output pixel (oh, ow), or -1 in the padding. */
static long input_index(const tdl_conv2d_desc *d, int b, int oh, int ow, int kh, int kw, int c) {
    const int ih = oh * d->stride_h + kh * d->dilation_h - d->pad_top;
    const int iw = ow * d->stride_w + kw * d->dilation_w - d->pad_left;
    if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) return -1;
    return (((long)b * d->in_h + ih) * d->in_w + iw) * d->in_c + c;
}

static long kernel_index(const tdl_conv2d_desc *d, int kh, int kw, int c, int f) {
    return (((long)kh * d->kernel_w + kw) * d->in_c + c) * d->out_c + f;
}

/* Pre-activation z = conv(x) + bias in double, pixel by pixel. */
static double *reference_z(const float *x, const float *kernel, const float *bias, const tdl_conv2d_desc *d,
                           int batch) {
    double *z = calloc(y_size(d, batch), sizeof *z);
    assert_non_null(z);
    size_t at = 0;
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f = 0; f < d->out_c; ++f, ++at) {
                    double sum = bias != NULL ? bias[f] : 0.0;
                    for (int kh = 0; kh < d->kernel_h; ++kh)
                        for (int kw = 0; kw < d->kernel_w; ++kw)
                            for (int c = 0; c < d->in_c; ++c) {
                                const long xi = input_index(d, b, oh, ow, kh, kw, c);
                                if (xi >= 0) sum += (double)x[xi] * kernel[kernel_index(d, kh, kw, c, f)];
                            }
                    z[at] = sum;
                }
    return z;
}

static double activated(double z, tdl_activation activation) {
    switch (activation) {
    case TDL_ACTIVATION_RELU: return z > 0.0 ? z : 0.0;
    case TDL_ACTIVATION_TANH: return tanh(z);
    default: return z;
    }
}

/* dkernel = sum over pixels of x * dz, in double. */
static double *reference_dkernel(const float *x, const float *dz, const tdl_conv2d_desc *d, int batch) {
    double *dk = calloc((size_t)d->kernel_h * d->kernel_w * d->in_c * d->out_c, sizeof *dk);
    assert_non_null(dk);
    size_t at = 0;
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f = 0; f < d->out_c; ++f, ++at)
                    for (int kh = 0; kh < d->kernel_h; ++kh)
                        for (int kw = 0; kw < d->kernel_w; ++kw)
                            for (int c = 0; c < d->in_c; ++c) {
                                const long xi = input_index(d, b, oh, ow, kh, kw, c);
                                if (xi >= 0) dk[kernel_index(d, kh, kw, c, f)] += (double)x[xi] * dz[at];
                            }
    return dk;
}

static void assert_near(double got, double want, double atol, double rtol, const char *what, size_t i) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want)))
        fail_msg("%s[%zu]: got %.7g, expected %.7g", what, i, got, want);
}

/* One of the two forward kernels, with its scratch size. */
typedef struct forward_kernel {
    bool (*run)(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch);
    size_t (*scratch_size)(const tdl_conv2d_desc *d, int batch);
} forward_kernel;

static const forward_kernel narrow_kernel = {conv_narrow_forward, conv_narrow_forward_scratch_size};
static const forward_kernel lanes_kernel = {conv_lanes_forward, conv_lanes_forward_scratch_size};

/* The kernel runs (returns true) and matches the reference; the public
 * tdl_conv2d_forward gives the same bits when it takes this kernel (conv_lanes.c
 * comes first, conv_narrow.c has the layers it declines); nothing past y is
 * written. */
static void check_kernel_forward(const forward_kernel *k, const narrow_case *nc, tdl_activation activation,
                                 bool with_bias) {
    const tdl_conv2d_desc d = desc_of(nc, activation);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f);
    float *kernel = floats_of(k_size(nc), -0.5f, 0.5f);
    float *bias = with_bias ? floats_of((size_t)nc->filters, -0.5f, 0.5f) : NULL;
    const size_t ny = y_size(&d, nc->batch);
    const size_t scratch_floats = k->scratch_size(&d, nc->batch);
    assert_true(scratch_floats > 0);
    assert_true(scratch_floats <= tdl_conv2d_forward_workspace_size(&d, nc->batch));
    /* NaN scratch: any lane read before it is written would reach y. */
    float *scratch = floats_filled(scratch_floats, NAN);
    float *y = floats_filled(ny + 8, 7.0f), *public_y = floats_filled(ny, 7.0f);
    assert_true(k->run(y, x, kernel, bias, NULL, NULL, &d, nc->batch, scratch));
    double *z = reference_z(x, kernel, bias, &d, nc->batch);
    for (size_t i = 0; i < ny; ++i) assert_near(y[i], activated(z[i], activation), 1e-4, 1e-4, "y", i);
    for (size_t i = ny; i < ny + 8; ++i) assert_true(y[i] == 7.0f);
    float *workspace = floats_filled(tdl_conv2d_forward_workspace_size(&d, nc->batch), NAN);
    tdl_conv2d_forward(public_y, x, kernel, bias, &d, nc->batch, workspace);
    const bool public_takes_it = k == &lanes_kernel || conv_lanes_forward_scratch_size(&d, nc->batch) == 0;
    if (public_takes_it) assert_memory_equal(public_y, y, ny * sizeof *y);
    free(workspace);
    free(z);
    free(public_y);
    free(y);
    free(scratch);
    free(bias);
    free(kernel);
    free(x);
}

static void check_forward(const narrow_case *nc, tdl_activation activation, bool with_bias) {
    check_kernel_forward(&narrow_kernel, nc, activation, with_bias);
}

static void test_forward_matches_reference(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(forward_cases); ++k) {
            check_forward(forward_cases[k], TDL_ACTIVATION_RELU, true);
            check_forward(forward_cases[k], TDL_ACTIVATION_LINEAR, false);
        }
        check_forward(&rgb_uneven_same, TDL_ACTIVATION_TANH, true);
    }
    tdl_set_num_threads(threads_before);
}

static void test_lanes_forward_matches_reference(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(lanes_cases); ++k) {
            check_kernel_forward(&lanes_kernel, lanes_cases[k], TDL_ACTIVATION_RELU, true);
            check_kernel_forward(&lanes_kernel, lanes_cases[k], TDL_ACTIVATION_LINEAR, false);
        }
        check_kernel_forward(&lanes_kernel, &rgb_uneven_same, TDL_ACTIVATION_TANH, true);
    }
    tdl_set_num_threads(threads_before);
}

/* What conv_lanes.c leaves to the other kernels, and the BLAS path. */
static void test_lanes_declines(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    float y = 5.0f, x = 1.0f, kernel = 1.0f, scratch = 0.0f;
    /* Horizontal stride 2; dilation 2; 9 filters; 4 channels. */
    const int shapes[][5] = {{1, 4, 2, 1, 1}, {1, 4, 1, 2, 1}, {1, 9, 1, 1, 1}, {4, 4, 1, 1, 1}};
    for (size_t s = 0; s < COUNT(shapes); ++s) {
        assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, shapes[s][0], shapes[s][1], 3, 3, 1, shapes[s][2], 1,
                                              shapes[s][3], TDL_PADDING_SAME),
                         TDL_STATUS_OK);
        assert_int_equal(conv_lanes_forward_scratch_size(&d, 4), 0);
        assert_false(conv_lanes_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch));
    }
    /* Groups. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 2, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 2), TDL_STATUS_OK);
    assert_int_equal(conv_lanes_forward_scratch_size(&d, 4), 0);
    /* An image whose padded copy would exceed the bound. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 700, 700, 3, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(conv_lanes_forward_scratch_size(&d, 1), 0);
    /* The BLAS path keeps im2col + sgemm; the scratch size does not follow the path. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    const size_t scratch_auto = conv_lanes_forward_scratch_size(&d, 4);
    const tdl_kernel_path path_before = tdl_get_kernel_path();
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const bool ran = conv_lanes_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch);
    const size_t scratch_blas = conv_lanes_forward_scratch_size(&d, 4);
    tdl_set_kernel_path(path_before);
    assert_false(ran);
    assert_true(scratch_auto > 0 && scratch_blas == scratch_auto);
    assert_true(y == 5.0f);
}

/* The folded batch_norm: forward, then y * scale + shift per channel. */
static void test_forward_affine(void **state) {
    (void)state;
    const narrow_case *nc = &rgb_uneven_same;
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_RELU);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f), *kernel = floats_of(k_size(nc), -0.5f, 0.5f);
    float *bias = floats_of((size_t)nc->filters, -0.5f, 0.5f);
    float *scale = floats_of((size_t)nc->filters, 0.5f, 1.5f), *shift = floats_of((size_t)nc->filters, -1.f, 1.f);
    const size_t ny = y_size(&d, nc->batch);
    float *scratch = floats_filled(conv_narrow_forward_scratch_size(&d, nc->batch), NAN);
    float *plain = floats_filled(ny, 0.0f), *affine = floats_filled(ny, 0.0f);
    assert_true(conv_narrow_forward(plain, x, kernel, bias, NULL, NULL, &d, nc->batch, scratch));
    assert_true(conv_narrow_forward(affine, x, kernel, bias, scale, shift, &d, nc->batch, scratch));
    for (size_t i = 0; i < ny; ++i) {
        const size_t f = i % (size_t)nc->filters;
        assert_true(affine[i] == plain[i] * scale[f] + shift[f]);
    }
    free(affine);
    free(plain);
    free(scratch);
    free(shift);
    free(scale);
    free(bias);
    free(kernel);
    free(x);
}

/* dkernel (starting from non-zero values: the gradient accumulates) against
 * the reference; the same bits from a second call on the same thread count. */
static void check_filter(const narrow_case *nc) {
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_LINEAR);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f);
    const size_t ny = y_size(&d, nc->batch), nk = k_size(nc);
    float *dz = floats_of(ny, -1.0f, 1.0f);
    float *start = floats_of(nk, -1.0f, 1.0f);
    const size_t scratch_floats = conv_narrow_filter_scratch_size(&d, nc->batch);
    assert_true(scratch_floats > 0);
    assert_true(scratch_floats <= tdl_conv2d_workspace_size(&d, nc->batch));
    float *scratch = floats_filled(scratch_floats, NAN);
    float *dkernel = malloc(nk * sizeof *dkernel), *again = malloc(nk * sizeof *again);
    assert_non_null(dkernel);
    assert_non_null(again);
    memcpy(dkernel, start, nk * sizeof *dkernel);
    memcpy(again, start, nk * sizeof *again);
    assert_true(conv_narrow_backprop_filter(dkernel, x, dz, &d, nc->batch, scratch));
    double *want = reference_dkernel(x, dz, &d, nc->batch);
    for (size_t i = 0; i < nk; ++i) assert_near(dkernel[i], start[i] + want[i], 1e-4, 1e-4, "dkernel", i);
    assert_true(conv_narrow_backprop_filter(again, x, dz, &d, nc->batch, scratch));
    assert_memory_equal(again, dkernel, nk * sizeof *dkernel);
    free(want);
    free(again);
    free(dkernel);
    free(scratch);
    free(start);
    free(dz);
    free(x);
}

/* conv_lanes_filter.c's layers (stride and dilation 1, C <= 3, F <= 8, KW 3
 * or 5): LeNet's first; RGB with 8 filters and a row of three blocks of
 * lanes, the last partial; a valid 5x5 with two channels and five filters
 * (a group of four, then one) whose rows end 3 lanes into a block; one
 * filter; a batch for three threads. */
static const narrow_case lanes_rgb_same = {2, 9, 37, 3, 8, 3, 3, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case lanes_two_valid = {3, 12, 23, 2, 5, 5, 5, 1, 1, 1, TDL_PADDING_VALID};
static const narrow_case lanes_one_filter = {7, 6, 17, 1, 1, 3, 3, 1, 1, 1, TDL_PADDING_VALID};
static const narrow_case lanes_lenet_batch = {29, 28, 28, 1, 6, 5, 5, 1, 1, 1, TDL_PADDING_SAME};
static const narrow_case *const lanes_filter_cases[] = {&lenet_first, &lanes_rgb_same, &lanes_two_valid,
                                                        &lanes_one_filter, &lanes_lenet_batch};

/* The lane loops themselves: taken where the CPU has AVX-512 or AVX2 with
 * FMA (else they decline untouched), against the reference; a slot too
 * small declines. */
static void check_lanes_filter(const narrow_case *nc) {
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_LINEAR);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f);
    const size_t ny = y_size(&d, nc->batch), nk = k_size(nc);
    float *dz = floats_of(ny, -1.0f, 1.0f), *start = floats_of(nk, -1.0f, 1.0f);
    const size_t scratch_floats = conv_narrow_filter_scratch_size(&d, nc->batch);
    float *scratch = floats_filled(scratch_floats + 1, NAN), *dkernel = malloc(nk * sizeof *dkernel);
    assert_non_null(dkernel);
    scratch[scratch_floats] = 3.0f;
    memcpy(dkernel, start, nk * sizeof *dkernel);
    assert_false(conv_lanes_backprop_filter(dkernel, x, dz, &d, nc->batch, scratch, 16, 1));
    assert_memory_equal(dkernel, start, nk * sizeof *dkernel);
    const int threads = nc->batch < 3 ? nc->batch : 3;
    const bool ran =
        conv_lanes_backprop_filter(dkernel, x, dz, &d, nc->batch, scratch, scratch_floats / (size_t)threads, threads);
    assert_true(ran == conv_lanes_filter_available());
    assert_true(scratch[scratch_floats] == 3.0f);
    if (ran) {
        double *want = reference_dkernel(x, dz, &d, nc->batch);
        for (size_t i = 0; i < nk; ++i) assert_near(dkernel[i], start[i] + want[i], 1e-4, 1e-4, "lanes dkernel", i);
        free(want);
    } else {
        assert_memory_equal(dkernel, start, nk * sizeof *dkernel);
    }
    free(dkernel);
    free(scratch);
    free(start);
    free(dz);
    free(x);
}

static void test_lanes_filter_matches_reference(void **state) {
    (void)state;
    for (size_t k = 0; k < COUNT(lanes_filter_cases); ++k) check_lanes_filter(lanes_filter_cases[k]);
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(lanes_filter_cases); ++k) check_filter(lanes_filter_cases[k]);
    }
    tdl_set_num_threads(threads_before);
}

/* An infinity in the last input column of a valid layer reaches only the
 * taps of the last kernel column; the lanes past each row's end, which read
 * it for other taps, are masked out of the sums. */
static void check_lanes_filter_masks_row_ends(void) {
    const narrow_case *nc = &lanes_two_valid;
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_LINEAR);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f);
    for (int h = 0; h < nc->in_h; ++h) x[((size_t)h * nc->in_w + (size_t)nc->in_w - 1) * nc->in_c] = INFINITY;
    const size_t nk = k_size(nc);
    float *dz = floats_of(y_size(&d, nc->batch), -1.0f, 1.0f), *dkernel = floats_filled(nk, 0.0f);
    float *scratch = floats_filled(conv_narrow_filter_scratch_size(&d, nc->batch), NAN);
    assert_true(conv_narrow_backprop_filter(dkernel, x, dz, &d, nc->batch, scratch));
    double *want = reference_dkernel(x, dz, &d, nc->batch);
    for (size_t i = 0; i < nk; ++i) {
        const size_t kw = i / ((size_t)nc->in_c * (size_t)nc->filters) % (size_t)nc->kernel_w;
        const size_t c = i / (size_t)nc->filters % (size_t)nc->in_c;
        if (kw == (size_t)nc->kernel_w - 1 && c == 0)
            assert_false(isfinite(dkernel[i]));
        else
            assert_near(dkernel[i], want[i], 1e-4, 1e-4, "dkernel beside an infinity", i);
    }
    free(want);
    free(scratch);
    free(dkernel);
    free(dz);
    free(x);
}

static void test_lanes_filter_masks_row_ends(void **state) {
    (void)state;
    check_lanes_filter_masks_row_ends();
}

/* The lane kernels' AVX2 loops, which CPUs without AVX-512 take, on any CPU
 * that has AVX2 and FMA: the forward against the reference and bit for bit
 * against the 16-lane loops (each lane sums the same terms in the same
 * order), the weight gradient against the reference, with its row ends
 * masked. */
static void test_lanes_halves(void **state) {
    (void)state;
    if (!tdl_avx2_forms_available()) skip();
    const int threads_before = tdl_get_num_threads();
    for (size_t k = 0; k < COUNT(lanes_cases); ++k) {
        const narrow_case *nc = lanes_cases[k];
        const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_RELU);
        float *x = floats_of(x_size(nc), -1.0f, 1.0f);
        float *kernel = floats_of(k_size(nc), -0.5f, 0.5f), *bias = floats_of((size_t)nc->filters, -0.5f, 0.5f);
        const size_t ny = y_size(&d, nc->batch), scratch_floats = conv_lanes_forward_scratch_size(&d, nc->batch);
        float *scratch = floats_filled(scratch_floats, NAN);
        float *wide = floats_filled(ny, 7.0f), *halves = floats_filled(ny, 7.0f);
        tdl_prefer_avx2_forms(false);
        assert_true(conv_lanes_forward(wide, x, kernel, bias, NULL, NULL, &d, nc->batch, scratch));
        tdl_prefer_avx2_forms(true);
        assert_true(conv_lanes_forward(halves, x, kernel, bias, NULL, NULL, &d, nc->batch, scratch));
        assert_memory_equal(halves, wide, ny * sizeof *wide);
        free(halves);
        free(wide);
        free(scratch);
        free(bias);
        free(kernel);
        free(x);
    }
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(lanes_cases); ++k)
            check_kernel_forward(&lanes_kernel, lanes_cases[k], TDL_ACTIVATION_RELU, true);
    }
    tdl_set_num_threads(threads_before);
    for (size_t k = 0; k < COUNT(lanes_filter_cases); ++k) check_lanes_filter(lanes_filter_cases[k]);
    check_lanes_filter_masks_row_ends();
    tdl_prefer_avx2_forms(false);
}

static void test_filter_matches_reference(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(filter_cases); ++k) check_filter(filter_cases[k]);
    }
    tdl_set_num_threads(threads_before);
}

/* Layers it does not suit, and the BLAS path, are declined untouched. */
static void test_declines(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    float y = 5.0f, x = 1.0f, kernel = 1.0f, scratch = 0.0f;
    /* Horizontal stride 2. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 4, 3, 3, 1, 2, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(conv_narrow_forward_scratch_size(&d, 4), 0);
    assert_false(conv_narrow_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch));
    /* 17 filters; 17 input channels. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 17, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_false(conv_narrow_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch));
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 17, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_false(conv_narrow_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch));
    /* The weight gradient: 4 input channels are past its range, forward is not. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 4, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(conv_narrow_filter_scratch_size(&d, 4), 0);
    assert_false(conv_narrow_backprop_filter(&kernel, &x, &y, &d, 4, &scratch));
    assert_true(conv_narrow_forward_scratch_size(&d, 4) > 0);
    /* Groups. */
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 2), TDL_STATUS_OK);
    assert_int_equal(conv_narrow_forward_scratch_size(&d, 4), 0);
    /* An image whose replicated copy would exceed the bound. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 600, 600, 3, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(conv_narrow_forward_scratch_size(&d, 1), 0);
    /* The BLAS path keeps im2col + sgemm; the scratch sizes do not follow the
     * path, so a workspace sized while BLAS was forced still serves a later
     * call on the automatic path. */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 4, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    const size_t forward_scratch = conv_narrow_forward_scratch_size(&d, 4);
    const size_t filter_scratch = conv_narrow_filter_scratch_size(&d, 4);
    assert_true(forward_scratch > 0 && filter_scratch > 0);
    const tdl_kernel_path path_before = tdl_get_kernel_path();
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const bool forward_ran = conv_narrow_forward(&y, &x, &kernel, NULL, NULL, NULL, &d, 4, &scratch);
    const bool filter_ran = conv_narrow_backprop_filter(&kernel, &x, &y, &d, 4, &scratch);
    const size_t forward_scratch_blas = conv_narrow_forward_scratch_size(&d, 4);
    const size_t filter_scratch_blas = conv_narrow_filter_scratch_size(&d, 4);
    tdl_set_kernel_path(path_before);
    assert_false(forward_ran);
    assert_false(filter_ran);
    assert_int_equal(forward_scratch_blas, forward_scratch);
    assert_int_equal(filter_scratch_blas, filter_scratch);
    assert_true(y == 5.0f && kernel == 1.0f);
}

/* loss = sum(y * g) in double, y = tanh(conv(x) + bias) through tdl_conv2d_forward. */
static double loss_of(const float *x, const float *kernel, const float *bias, const float *g,
                      const tdl_conv2d_desc *d, int batch, float *y, float *workspace) {
    tdl_conv2d_forward(y, x, kernel, bias, d, batch, workspace);
    double loss = 0.0;
    for (size_t i = 0; i < y_size(d, batch); ++i) loss += (double)y[i] * g[i];
    return loss;
}

/* Finite differences of the kernel and bias against tdl_conv2d_backward, on
 * layers whose forward and weight gradient both take the narrow loops. */
static void check_gradients(const narrow_case *nc) {
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_TANH);
    float *x = floats_of(x_size(nc), -1.0f, 1.0f), *kernel = floats_of(k_size(nc), -0.5f, 0.5f);
    float *bias = floats_of((size_t)nc->filters, -0.5f, 0.5f);
    const size_t ny = y_size(&d, nc->batch), nk = k_size(nc);
    float *g = floats_of(ny, -1.0f, 1.0f), *y = floats_filled(ny, 0.0f);
    float *workspace = floats_filled(tdl_conv2d_workspace_size(&d, nc->batch), 0.0f);
    float *dkernel = floats_filled(nk, 0.0f), *dbias = floats_filled((size_t)nc->filters, 0.0f);
    loss_of(x, kernel, bias, g, &d, nc->batch, y, workspace);
    tdl_conv2d_backward(NULL, dkernel, dbias, g, y, x, kernel, &d, nc->batch, workspace);
    for (size_t i = 0; i < nk + (size_t)nc->filters; ++i) {
        float *v = i < nk ? &kernel[i] : &bias[i - nk];
        const float analytic = i < nk ? dkernel[i] : dbias[i - nk];
        const float saved = *v;
        *v = saved + 1e-2f;
        const double up_at = *v;
        const double up = loss_of(x, kernel, bias, g, &d, nc->batch, y, workspace);
        *v = saved - 1e-2f;
        const double down_at = *v;
        const double down = loss_of(x, kernel, bias, g, &d, nc->batch, y, workspace);
        *v = saved;
        assert_near(analytic, (up - down) / (up_at - down_at), 2e-3, 2e-3, i < nk ? "dkernel" : "dbias", i);
    }
    free(dbias);
    free(dkernel);
    free(workspace);
    free(y);
    free(g);
    free(bias);
    free(kernel);
    free(x);
}

static void test_gradients_against_differences(void **state) {
    (void)state;
    static const narrow_case small_first = {2, 7, 6, 1, 3, 5, 5, 1, 1, 1, TDL_PADDING_SAME};
    static const narrow_case small_rgb = {1, 5, 6, 3, 4, 3, 2, 2, 1, 2, TDL_PADDING_SAME};
    check_gradients(&small_first);
    check_gradients(&small_rgb);
}

/* Scratch sized for a batch serves every smaller batch, on more threads too. */
static void test_scratch_for_smaller_batches(void **state) {
    (void)state;
    const narrow_case *nc = &lenet_first;
    const tdl_conv2d_desc d = desc_of(nc, TDL_ACTIVATION_RELU);
    for (int batch = 1; batch <= nc->batch; ++batch) {
        assert_true(conv_narrow_forward_scratch_size(&d, batch) <= conv_narrow_forward_scratch_size(&d, nc->batch));
        assert_true(conv_narrow_filter_scratch_size(&d, batch) <= conv_narrow_filter_scratch_size(&d, nc->batch));
    }
    const int threads_before = tdl_get_num_threads();
    tdl_set_num_threads(4);
    narrow_case two = *nc;
    two.batch = 2;
    check_forward(&two, TDL_ACTIVATION_RELU, true);
    check_filter(&two);
    tdl_set_num_threads(threads_before);
}

int main(void) {
    lcg_state = 77u;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_reference),
        cmocka_unit_test(test_lanes_forward_matches_reference),
        cmocka_unit_test(test_lanes_declines),
        cmocka_unit_test(test_forward_affine),
        cmocka_unit_test(test_filter_matches_reference),
        cmocka_unit_test(test_lanes_filter_matches_reference),
        cmocka_unit_test(test_lanes_filter_masks_row_ends),
        cmocka_unit_test(test_lanes_halves),
        cmocka_unit_test(test_declines),
        cmocka_unit_test(test_gradients_against_differences),
        cmocka_unit_test(test_scratch_for_smaller_batches),
    };
    return cmocka_run_group_tests(tests, choose_automatic_path, restore_path);
}
