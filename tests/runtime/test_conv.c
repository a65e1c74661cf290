/* conv2d: descriptor arithmetic, forward against a direct convolution over an
 * explicitly padded input, backward against central finite differences and
 * against a direct backward pass.
 *
 * Tolerances: forward and direct-backward results are float sums of at most a
 * few hundred terms of size ~1 compared with double references, so 1e-4
 * absolute plus 1e-4 relative. Finite differences use a step of 1e-2 applied in
 * float; the difference quotient divides by the step actually taken
 * ((double)(v+h) - (double)(v-h)). The loss is sum(y * g) for a fixed random g,
 * accumulated in double, so the rounding noise of the quotient is about 1e-4 and
 * the O(h^2) curvature term of sigmoid/tanh about 1e-5: gradients must agree to
 * 2e-3 absolute plus 2e-3 relative. A ReLU kink crossed by the step is detected
 * (an output changes sign between two evaluations); then the one-sided difference
 * on the kink-free side is used, which is exact for a piecewise-linear loss. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

typedef struct conv_case {
    int batch, in_h, in_w, in_c, filters;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    tdl_padding padding;
} conv_case;

/* A small deterministic generator so the test does not depend on rng.c. */
static uint32_t lcg_state = 2024u;
static float test_uniform(float lo, float hi) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(lcg_state >> 8) / 16777216.0f;
}

static float *random_floats(size_t n, float lo, float hi) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = test_uniform(lo, hi);
    return v;
}

static float *filled_floats(size_t n, float value) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = value;
    return v;
}

static float *zero_floats(size_t n) {
    float *v = calloc(n, sizeof *v);
    assert_non_null(v);
    return v;
}

/* The TF output size and padding, worked out independently of conv.c. */
typedef struct reference_geometry {
    int out_h, out_w, pad_top, pad_left, pad_bottom, pad_right;
} reference_geometry;

static void reference_axis(int in, int k, int s, int dil, tdl_padding padding, int *out, int *before,
                           int *after) {
    const int extent = dil * (k - 1) + 1;
    if (padding == TDL_PADDING_VALID) {
        *out = (int)floor((double)(in - extent) / s) + 1;
        *before = *after = 0;
        return;
    }
    *out = (int)ceil((double)in / s);
    int total = (*out - 1) * s + extent - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

static reference_geometry geometry_of(const conv_case *cc) {
    reference_geometry g;
    reference_axis(cc->in_h, cc->kernel_h, cc->stride_h, cc->dilation_h, cc->padding, &g.out_h, &g.pad_top,
                   &g.pad_bottom);
    reference_axis(cc->in_w, cc->kernel_w, cc->stride_w, cc->dilation_w, cc->padding, &g.out_w, &g.pad_left,
                   &g.pad_right);
    return g;
}

static tdl_conv2d_desc make_desc(const conv_case *cc, tdl_activation activation) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, cc->in_h, cc->in_w, cc->in_c, cc->filters, cc->kernel_h,
                                          cc->kernel_w, cc->stride_h, cc->stride_w, cc->dilation_h,
                                          cc->dilation_w, cc->padding),
                     TDL_STATUS_OK);
    d.activation = activation;
    /* elu's default alpha = 1 has a continuous slope: no kink for the differences to straddle. */
    d.alpha = activation == TDL_ACTIVATION_LEAKY_RELU ? 0.2f : activation == TDL_ACTIVATION_ELU ? 1.0f : 0.0f;
    return d;
}

static size_t input_size(const conv_case *cc) {
    return (size_t)cc->batch * cc->in_h * cc->in_w * cc->in_c;
}
static size_t kernel_size(const conv_case *cc) {
    return (size_t)cc->kernel_h * cc->kernel_w * cc->in_c * cc->filters;
}
static size_t output_size(const conv_case *cc) {
    const reference_geometry g = geometry_of(cc);
    return (size_t)cc->batch * g.out_h * g.out_w * cc->filters;
}

static double activate(double z, tdl_activation activation) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR: return z;
    case TDL_ACTIVATION_RELU: return z > 0 ? z : 0;
    case TDL_ACTIVATION_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case TDL_ACTIVATION_TANH: return tanh(z);
    case TDL_ACTIVATION_LEAKY_RELU: return z > 0 ? z : 0.2 * z;
    case TDL_ACTIVATION_ELU: return z > 0 ? z : expm1(z);
    case TDL_ACTIVATION_SOFTPLUS: return log1p(exp(z));
    }
    return z;
}

/* x: (B,H,W,C) -> a zero-padded copy (B, top+H+bottom, left+W+right, C). */
static double *pad_input(const float *x, const conv_case *cc, const reference_geometry *g, int *ph,
                         int *pw) {
    *ph = g->pad_top + cc->in_h + g->pad_bottom;
    *pw = g->pad_left + cc->in_w + g->pad_right;
    double *padded = calloc((size_t)cc->batch * *ph * *pw * cc->in_c, sizeof *padded);
    assert_non_null(padded);
    for (int b = 0; b < cc->batch; ++b)
        for (int h = 0; h < cc->in_h; ++h)
            for (int w = 0; w < cc->in_w; ++w)
                for (int c = 0; c < cc->in_c; ++c)
                    padded[(((size_t)b * *ph + h + g->pad_top) * *pw + w + g->pad_left) * cc->in_c + c] =
                        x[(((size_t)b * cc->in_h + h) * cc->in_w + w) * cc->in_c + c];
    return padded;
}

/* The direct seven-loop convolution, bias and activation, in double. */
static double *reference_forward(const float *x, const float *kernel, const float *bias, const conv_case *cc,
                                 tdl_activation activation) {
    const reference_geometry g = geometry_of(cc);
    int ph, pw;
    double *xp = pad_input(x, cc, &g, &ph, &pw);
    double *y = malloc(output_size(cc) * sizeof *y);
    assert_non_null(y);
    for (int b = 0; b < cc->batch; ++b)
        for (int oh = 0; oh < g.out_h; ++oh)
            for (int ow = 0; ow < g.out_w; ++ow)
                for (int f = 0; f < cc->filters; ++f) {
                    double sum = bias != NULL ? bias[f] : 0.0;
                    for (int kh = 0; kh < cc->kernel_h; ++kh)
                        for (int kw = 0; kw < cc->kernel_w; ++kw)
                            for (int c = 0; c < cc->in_c; ++c) {
                                const int h = oh * cc->stride_h + kh * cc->dilation_h;
                                const int w = ow * cc->stride_w + kw * cc->dilation_w;
                                sum += xp[(((size_t)b * ph + h) * pw + w) * cc->in_c + c] *
                                       kernel[(((size_t)kh * cc->kernel_w + kw) * cc->in_c + c) * cc->filters + f];
                            }
                    y[(((size_t)b * g.out_h + oh) * g.out_w + ow) * cc->filters + f] = activate(sum, activation);
                }
    free(xp);
    return y;
}

/* The direct backward pass of a linear conv for the pre-activation gradient dz. */
static void reference_backward(double *dx, double *dkernel, double *dbias, const float *dz, const float *x,
                               const float *kernel, const conv_case *cc) {
    const reference_geometry g = geometry_of(cc);
    int ph, pw;
    double *xp = pad_input(x, cc, &g, &ph, &pw);
    double *dxp = calloc((size_t)cc->batch * ph * pw * cc->in_c, sizeof *dxp);
    assert_non_null(dxp);
    for (int b = 0; b < cc->batch; ++b)
        for (int oh = 0; oh < g.out_h; ++oh)
            for (int ow = 0; ow < g.out_w; ++ow)
                for (int f = 0; f < cc->filters; ++f) {
                    const double grad = dz[(((size_t)b * g.out_h + oh) * g.out_w + ow) * cc->filters + f];
                    dbias[f] += grad;
                    for (int kh = 0; kh < cc->kernel_h; ++kh)
                        for (int kw = 0; kw < cc->kernel_w; ++kw)
                            for (int c = 0; c < cc->in_c; ++c) {
                                const int h = oh * cc->stride_h + kh * cc->dilation_h;
                                const int w = ow * cc->stride_w + kw * cc->dilation_w;
                                const size_t xi = (((size_t)b * ph + h) * pw + w) * cc->in_c + c;
                                const size_t ki = (((size_t)kh * cc->kernel_w + kw) * cc->in_c + c) * cc->filters + f;
                                dxp[xi] += grad * kernel[ki];
                                dkernel[ki] += grad * xp[xi];
                            }
                }
    for (int b = 0; b < cc->batch; ++b)
        for (int h = 0; h < cc->in_h; ++h)
            for (int w = 0; w < cc->in_w; ++w)
                for (int c = 0; c < cc->in_c; ++c)
                    dx[(((size_t)b * cc->in_h + h) * cc->in_w + w) * cc->in_c + c] =
                        dxp[(((size_t)b * ph + h + g.pad_top) * pw + w + g.pad_left) * cc->in_c + c];
    free(xp);
    free(dxp);
}

static void assert_close(double actual, double expected, double atol, double rtol, const char *what, size_t i) {
    if (fabs(actual - expected) > atol + rtol * fabs(expected))
        fail_msg("%s[%zu]: got %.7g, expected %.7g", what, i, actual, expected);
}

typedef enum bias_use { WITHOUT_BIAS, WITH_BIAS } bias_use;

/* Forward output of tdl_conv2d_forward against the direct reference. */
static void check_forward(const conv_case *cc, tdl_activation activation, bias_use use_bias) {
    const tdl_conv2d_desc d = make_desc(cc, activation);
    const reference_geometry g = geometry_of(cc);
    assert_int_equal(d.out_h, g.out_h);
    assert_int_equal(d.out_w, g.out_w);
    float *x = random_floats(input_size(cc), -1.0f, 1.0f);
    float *kernel = random_floats(kernel_size(cc), -0.5f, 0.5f);
    float *bias = use_bias == WITH_BIAS ? random_floats((size_t)cc->filters, -0.5f, 0.5f) : NULL;
    const size_t ny = output_size(cc);
    /* Guard floats past the end catch writes outside y; a NaN-filled workspace
     * shows up in y if anything reads scratch it did not write. Forward gets
     * exactly its own share (AddressSanitizer checks the bound). */
    float *y = filled_floats(ny + 8, 7.0f);
    const size_t forward_floats = tdl_conv2d_forward_workspace_size(&d, cc->batch);
    assert_true(forward_floats <= tdl_conv2d_workspace_size(&d, cc->batch));
    float *workspace = filled_floats(forward_floats > 0 ? forward_floats : 1, NAN);
    tdl_conv2d_forward(y, x, kernel, bias, &d, cc->batch, workspace);
    double *expected = reference_forward(x, kernel, bias, cc, activation);
    for (size_t i = 0; i < ny; ++i) assert_close(y[i], expected[i], 1e-4, 1e-4, "y", i);
    for (size_t i = ny; i < ny + 8; ++i) assert_float_equal(y[i], 7.0f, 0.0f);
    free(expected);
    free(workspace);
    free(y);
    free(bias);
    free(kernel);
    free(x);
}

static const conv_case stride2_same_uneven = {7, 7, 8, 3, 5, 4, 3, 2, 2, 1, 1, TDL_PADDING_SAME};
static const conv_case dilation2_valid = {1, 9, 10, 5, 6, 3, 3, 1, 1, 2, 2, TDL_PADDING_VALID};
static const conv_case dilation2_same = {2, 6, 7, 2, 3, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME};
static const conv_case pointwise = {7, 5, 3, 6, 7, 1, 1, 1, 1, 1, 1, TDL_PADDING_VALID};
static const conv_case pointwise_same = {1, 4, 6, 3, 5, 1, 1, 1, 1, 1, 1, TDL_PADDING_SAME};
static const conv_case pointwise_stride2 = {2, 5, 5, 3, 2, 1, 1, 2, 2, 1, 1, TDL_PADDING_SAME};
static const conv_case asymmetric_strides = {3, 8, 11, 2, 3, 2, 3, 1, 3, 1, 1, TDL_PADDING_SAME};
static const conv_case dilated_strided = {2, 11, 9, 3, 2, 3, 2, 2, 1, 2, 3, TDL_PADDING_SAME};
/* K = 576: the 1936 and 4032 GEMM rows span several im2col chunks, most starting mid-row. */
static const conv_case chunked_valid = {4, 24, 24, 64, 5, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID};
static const conv_case chunked_same = {7, 24, 24, 64, 3, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};
/* K*F = 1152*55 is too large for BLAS's small kernels: the large-chunk path, 882 rows in 2 chunks. */
static const conv_case large_gemm = {2, 23, 23, 128, 55, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID};

/* Stride 2 'same' with an odd total padding (extra row at the bottom). */
static void test_forward_stride2_same_uneven(void **state) {
    (void)state;
    check_forward(&stride2_same_uneven, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    check_forward(&stride2_same_uneven, TDL_ACTIVATION_LINEAR, WITHOUT_BIAS);
}

/* Dilation 2, valid and same, batch 1 and 2. */
static void test_forward_dilation(void **state) {
    (void)state;
    check_forward(&dilation2_valid, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    check_forward(&dilation2_same, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    check_forward(&dilated_strided, TDL_ACTIVATION_LINEAR, WITH_BIAS);
}

/* 1x1 kernels: the no-im2col path (stride 1) and the strided path. */
static void test_forward_pointwise(void **state) {
    (void)state;
    check_forward(&pointwise, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    check_forward(&pointwise_same, TDL_ACTIVATION_RELU, WITHOUT_BIAS);
    check_forward(&pointwise_stride2, TDL_ACTIVATION_LINEAR, WITH_BIAS);
}

/* Different strides per axis. */
static void test_forward_asymmetric_strides(void **state) {
    (void)state;
    check_forward(&asymmetric_strides, TDL_ACTIVATION_LINEAR, WITH_BIAS);
}

/* Every fused activation after the bias. */
static void test_forward_activations(void **state) {
    (void)state;
    const tdl_activation all[] = {TDL_ACTIVATION_RELU, TDL_ACTIVATION_SIGMOID, TDL_ACTIVATION_TANH,
                                  TDL_ACTIVATION_LEAKY_RELU, TDL_ACTIVATION_ELU, TDL_ACTIVATION_SOFTPLUS};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; ++i) check_forward(&stride2_same_uneven, all[i], WITH_BIAS);
}

/* Several im2col chunks give the same result as one. */
static void test_forward_chunked(void **state) {
    (void)state;
    check_forward(&chunked_valid, TDL_ACTIVATION_RELU, WITH_BIAS);
    check_forward(&chunked_same, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    check_forward(&large_gemm, TDL_ACTIVATION_TANH, WITH_BIAS);
}

/* All the buffers of one gradient check. */
typedef struct conv_problem {
    const conv_case *cc;
    tdl_conv2d_desc d;
    float *x, *kernel, *bias, *upstream, *y, *workspace;
} conv_problem;

static conv_problem problem_new(const conv_case *cc, tdl_activation activation) {
    conv_problem p;
    p.cc = cc;
    p.d = make_desc(cc, activation);
    p.x = random_floats(input_size(cc), -1.0f, 1.0f);
    p.kernel = random_floats(kernel_size(cc), -0.5f, 0.5f);
    p.bias = random_floats((size_t)cc->filters, -0.3f, 0.3f);
    p.upstream = random_floats(output_size(cc), -1.0f, 1.0f);
    p.y = zero_floats(output_size(cc));
    p.workspace = zero_floats(tdl_conv2d_workspace_size(&p.d, cc->batch));
    return p;
}

static void problem_free(conv_problem *p) {
    free(p->x);
    free(p->kernel);
    free(p->bias);
    free(p->upstream);
    free(p->y);
    free(p->workspace);
}

/* loss = sum(y * upstream) in double; y is left in out (for the ReLU kink test). */
static double problem_loss(conv_problem *p, float *out) {
    tdl_conv2d_forward(out, p->x, p->kernel, p->bias, &p->d, p->cc->batch, p->workspace);
    double loss = 0.0;
    for (size_t i = 0; i < output_size(p->cc); ++i) loss += (double)out[i] * p->upstream[i];
    return loss;
}

/* True if some output is positive at one end of the step and not at the other. */
static bool crosses_relu_kink(const float *plus, const float *minus, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if ((plus[i] > 0.0f) != (minus[i] > 0.0f)) return true;
    return false;
}

/* Central differences of the loss w.r.t. every element of values against analytic.
 * Where a ReLU kink lies within the step, the one-sided difference on the side
 * that keeps every output's sign is used instead (exact: the loss is linear
 * there); an element with kinks on both sides is skipped. Returns the skips. */
static size_t check_against_differences(conv_problem *p, float *values, size_t n, const float *analytic,
                                        const char *what) {
    const float step = 1e-2f;
    const size_t ny = output_size(p->cc);
    float *plus = zero_floats(ny), *minus = zero_floats(ny), *base = zero_floats(ny);
    const double loss_base = problem_loss(p, base);
    size_t skipped = 0;
    for (size_t i = 0; i < n; ++i) {
        const float saved = values[i];
        const float up = saved + step, down = saved - step;
        values[i] = up;
        const double loss_up = problem_loss(p, plus);
        values[i] = down;
        const double loss_down = problem_loss(p, minus);
        values[i] = saved;
        double numeric = (loss_up - loss_down) / ((double)up - (double)down);
        if (p->d.activation == TDL_ACTIVATION_RELU && crosses_relu_kink(plus, minus, ny)) {
            if (!crosses_relu_kink(plus, base, ny)) {
                numeric = (loss_up - loss_base) / ((double)up - (double)saved);
            } else if (!crosses_relu_kink(minus, base, ny)) {
                numeric = (loss_base - loss_down) / ((double)saved - (double)down);
            } else {
                ++skipped;
                continue;
            }
        }
        assert_close(analytic[i], numeric, 2e-3, 2e-3, what, i);
    }
    free(plus);
    free(minus);
    free(base);
    return skipped;
}

/* dx, dkernel, dbias of tdl_conv2d_backward against central finite differences. */
static void check_backward(const conv_case *cc, tdl_activation activation) {
    conv_problem p = problem_new(cc, activation);
    problem_loss(&p, p.y);
    float *dx = zero_floats(input_size(cc));
    float *dkernel = zero_floats(kernel_size(cc));
    float *dbias = zero_floats((size_t)cc->filters);
    tdl_conv2d_backward(dx, dkernel, dbias, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
    size_t skipped = check_against_differences(&p, p.x, input_size(cc), dx, "dx");
    skipped += check_against_differences(&p, p.kernel, kernel_size(cc), dkernel, "dkernel");
    skipped += check_against_differences(&p, p.bias, (size_t)cc->filters, dbias, "dbias");
    /* Kinks on both sides of an element are rare: nearly everything is checked. */
    const size_t checked_total = input_size(cc) + kernel_size(cc) + (size_t)cc->filters;
    if (activation == TDL_ACTIVATION_RELU)
        print_message("  %zu of %zu elements skipped at a ReLU kink\n", skipped, checked_total);
    assert_true(skipped * 20 <= checked_total);
    free(dx);
    free(dkernel);
    free(dbias);
    problem_free(&p);
}

static const conv_case small_stride2_same = {2, 5, 6, 3, 4, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME};
static const conv_case small_dilated_valid = {1, 7, 6, 2, 3, 3, 2, 1, 2, 2, 1, TDL_PADDING_VALID};
static const conv_case small_pointwise = {3, 3, 4, 5, 2, 1, 1, 1, 1, 1, 1, TDL_PADDING_VALID};
static const conv_case small_strided_pointwise = {2, 5, 4, 3, 2, 1, 1, 2, 3, 1, 1, TDL_PADDING_SAME};

/* Gradients without a fused activation. */
static void test_backward_linear(void **state) {
    (void)state;
    check_backward(&small_stride2_same, TDL_ACTIVATION_LINEAR);
    check_backward(&small_dilated_valid, TDL_ACTIVATION_LINEAR);
    check_backward(&small_pointwise, TDL_ACTIVATION_LINEAR);
    check_backward(&small_strided_pointwise, TDL_ACTIVATION_LINEAR);
}

/* Gradients through a fused ReLU. */
static void test_backward_relu(void **state) {
    (void)state;
    check_backward(&small_stride2_same, TDL_ACTIVATION_RELU);
    check_backward(&small_dilated_valid, TDL_ACTIVATION_RELU);
    check_backward(&small_pointwise, TDL_ACTIVATION_RELU);
}

/* Gradients through a fused sigmoid, tanh, softplus and elu. */
static void test_backward_smooth_activations(void **state) {
    (void)state;
    check_backward(&small_stride2_same, TDL_ACTIVATION_SOFTPLUS);
    check_backward(&small_pointwise, TDL_ACTIVATION_ELU);
    check_backward(&small_stride2_same, TDL_ACTIVATION_SIGMOID);
    check_backward(&small_dilated_valid, TDL_ACTIVATION_SIGMOID);
    check_backward(&small_pointwise, TDL_ACTIVATION_TANH);
    check_backward(&small_stride2_same, TDL_ACTIVATION_TANH);
}

/* Across several im2col chunks, backward matches the direct backward pass. */
static void check_backward_against_reference(const conv_case *cc, tdl_activation activation) {
    conv_problem p = problem_new(cc, activation);
    problem_loss(&p, p.y);
    const size_t nx = input_size(cc), nk = kernel_size(cc), ny = output_size(cc);
    float *dx = zero_floats(nx), *dkernel = zero_floats(nk), *dbias = zero_floats((size_t)cc->filters);
    tdl_conv2d_backward(dx, dkernel, dbias, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
    float *dz = zero_floats(ny);
    for (size_t i = 0; i < ny; ++i)
        dz[i] = activation == TDL_ACTIVATION_RELU ? (p.y[i] > 0.0f ? p.upstream[i] : 0.0f) : p.upstream[i];
    double *rdx = calloc(nx, sizeof *rdx), *rdk = calloc(nk, sizeof *rdk);
    double *rdb = calloc((size_t)cc->filters, sizeof *rdb);
    assert_true(rdx != NULL && rdk != NULL && rdb != NULL);
    reference_backward(rdx, rdk, rdb, dz, p.x, p.kernel, cc);
    for (size_t i = 0; i < nx; ++i) assert_close(dx[i], rdx[i], 1e-4, 1e-4, "dx", i);
    /* dkernel sums B*OH*OW terms: a looser absolute tolerance for ~4000-term sums. */
    for (size_t i = 0; i < nk; ++i) assert_close(dkernel[i], rdk[i], 2e-3, 1e-4, "dkernel", i);
    for (int i = 0; i < cc->filters; ++i) assert_close(dbias[i], rdb[i], 2e-3, 1e-4, "dbias", (size_t)i);
    free(rdx);
    free(rdk);
    free(rdb);
    free(dz);
    free(dx);
    free(dkernel);
    free(dbias);
    problem_free(&p);
}

static void test_backward_chunked(void **state) {
    (void)state;
    check_backward_against_reference(&chunked_valid, TDL_ACTIVATION_RELU);
    check_backward_against_reference(&chunked_same, TDL_ACTIVATION_LINEAR);
    check_backward_against_reference(&stride2_same_uneven, TDL_ACTIVATION_LINEAR);
    check_backward_against_reference(&large_gemm, TDL_ACTIVATION_LINEAR);
}

/* Layers with at least 16 channels in and out, which the libxsmm path takes
 * (narrower ones go to im2col + OpenBLAS there too): borders, strides,
 * dilation, odd sizes, pointwise, a 5x5 kernel. */
static const conv_case wide_same = {3, 9, 10, 16, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};
static const conv_case wide_stride2 = {2, 9, 10, 16, 17, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME};
static const conv_case wide_dilated = {2, 11, 9, 17, 16, 3, 2, 1, 1, 2, 3, TDL_PADDING_SAME};
static const conv_case wide_asymmetric = {2, 8, 11, 16, 16, 2, 3, 1, 3, 1, 1, TDL_PADDING_SAME};
static const conv_case wide_valid_5x5 = {2, 14, 14, 16, 24, 5, 5, 1, 1, 1, 1, TDL_PADDING_VALID};
static const conv_case wide_pointwise = {2, 5, 6, 16, 16, 1, 1, 1, 1, 1, 1, TDL_PADDING_VALID};
static const conv_case wide_small = {1, 5, 6, 16, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};
/* A kernel of 73728 floats: on two threads the weight gradient's two
 * partials are added by both, the boundary falling inside a tap. */
static const conv_case wide_deep = {8, 7, 7, 128, 64, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};
/* 72 taps: more than one batch-reduce call's list, so each output row
 * lists its second batch of taps apart from the first. */
static const conv_case wide_9x8 = {2, 12, 11, 16, 16, 9, 8, 1, 1, 1, 1, TDL_PADDING_SAME};

/* Wide layers: forward against the direct reference, backward against the
 * direct backward pass, and one against finite differences. */
static void test_wide_layers(void **state) {
    (void)state;
    const conv_case *cases[] = {&wide_same,      &wide_stride2,   &wide_dilated, &wide_asymmetric,
                                &wide_valid_5x5, &wide_pointwise, &wide_deep,      &wide_9x8};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        check_forward(cases[c], TDL_ACTIVATION_RELU, WITH_BIAS);
        check_forward(cases[c], TDL_ACTIVATION_LINEAR, WITHOUT_BIAS);
        check_backward_against_reference(cases[c], TDL_ACTIVATION_RELU);
        check_backward_against_reference(cases[c], TDL_ACTIVATION_LINEAR);
    }
    check_backward(&wide_small, TDL_ACTIVATION_TANH);
}

/* 256 KB of output an image: backward on one thread runs it in chunks of 4,
 * on two each thread its 12 images in chunks of 2. */
static const conv_case large_images = {24, 34, 34, 2, 64, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID};

/* backprop_filter and backprop_input with dy * relu'(y) give backward's
 * dkernel and dx, on one thread (in chunks where the images are large) and
 * on two (each on its own images). */
static void test_backprop_ops_agree_with_backward(void **state) {
    (void)state;
    const conv_case *cases[] = {&stride2_same_uneven, &dilation2_same, &pointwise, &wide_same, &wide_stride2,
                                &large_images,        &wide_deep,      &wide_9x8};
    const int before = tdl_get_num_threads();
    for (size_t run = 0; run < 2 * sizeof cases / sizeof cases[0]; ++run) {
        const size_t c = run / 2;
        tdl_set_num_threads(1 + (int)(run % 2));
        const conv_case *cc = cases[c];
        conv_problem p = problem_new(cc, TDL_ACTIVATION_RELU);
        problem_loss(&p, p.y);
        const size_t nx = input_size(cc), nk = kernel_size(cc), ny = output_size(cc);
        float *dx = zero_floats(nx), *dkernel = zero_floats(nk);
        tdl_conv2d_backward(dx, dkernel, NULL, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
        float *dz = zero_floats(ny);
        for (size_t i = 0; i < ny; ++i) dz[i] = p.y[i] > 0.0f ? p.upstream[i] : 0.0f;
        float *dx2 = zero_floats(nx), *dkernel2 = zero_floats(nk);
        tdl_conv2d_desc plain = p.d;
        plain.activation = TDL_ACTIVATION_LINEAR;
        tdl_conv2d_backprop_filter(dkernel2, p.x, dz, &plain, cc->batch, p.workspace);
        tdl_conv2d_backprop_input(dx2, p.kernel, dz, &plain, cc->batch, p.workspace);
        /* backward runs the batch in chunks (or a share per thread), which
         * groups the kernel's sums differently from one call (over the
         * 24576 pixels of large_images, terms of order 1 summing to 0.1
         * moved by 4e-5), and the GEMM path's dx rounds differently for
         * another number of images. */
        for (size_t i = 0; i < nx; ++i) assert_close(dx2[i], dx[i], 1e-5, 1e-5, "dx", i);
        for (size_t i = 0; i < nk; ++i) assert_close(dkernel2[i], dkernel[i], 2e-4, 1e-4, "dkernel", i);
        free(dz);
        free(dx);
        free(dx2);
        free(dkernel);
        free(dkernel2);
        problem_free(&p);
    }
    tdl_set_num_threads(before);
}

/* Gradients add to what the buffers held; NULL dx and dbias are skipped. */
static void test_backward_accumulates(void **state) {
    (void)state;
    const conv_case *cc = &small_stride2_same;
    conv_problem p = problem_new(cc, TDL_ACTIVATION_SIGMOID);
    problem_loss(&p, p.y);
    const size_t nx = input_size(cc), nk = kernel_size(cc);
    const size_t nf = (size_t)cc->filters;
    float *dx = zero_floats(nx), *dkernel = zero_floats(nk), *dbias = zero_floats(nf);
    tdl_conv2d_backward(dx, dkernel, dbias, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
    float *dx2 = zero_floats(nx), *dkernel2 = zero_floats(nk), *dbias2 = zero_floats(nf);
    for (size_t i = 0; i < nx; ++i) dx2[i] = 1.5f;
    for (size_t i = 0; i < nk; ++i) dkernel2[i] = -2.0f;
    for (size_t i = 0; i < nf; ++i) dbias2[i] = 0.25f;
    tdl_conv2d_backward(dx2, dkernel2, dbias2, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
    for (size_t i = 0; i < nx; ++i) assert_float_equal(dx2[i], dx[i] + 1.5f, 1e-5f);
    for (size_t i = 0; i < nk; ++i) assert_float_equal(dkernel2[i], dkernel[i] - 2.0f, 1e-5f);
    for (size_t i = 0; i < nf; ++i) assert_float_equal(dbias2[i], dbias[i] + 0.25f, 1e-5f);
    float *dkernel3 = zero_floats(nk);
    tdl_conv2d_backward(NULL, dkernel3, NULL, p.upstream, p.y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
    for (size_t i = 0; i < nk; ++i) assert_float_equal(dkernel3[i], dkernel[i], 1e-6f);
    free(dx);
    free(dkernel);
    free(dbias);
    free(dx2);
    free(dkernel2);
    free(dbias2);
    free(dkernel3);
    problem_free(&p);
}

/* Output sizes and pads for floor/ceil cases, odd and even total padding. */
static void test_desc_arithmetic(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    /* valid: floor((10 - 3) / 2) + 1 = 4 */
    assert_int_equal(tdl_conv2d_desc_init(&d, 10, 10, 3, 8, 3, 3, 2, 2, 1, 1, TDL_PADDING_VALID), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 4);
    assert_int_equal(d.pad_top, 0);
    assert_int_equal(d.activation, TDL_ACTIVATION_LINEAR);
    /* valid, dilation 3: extent 7, floor((10 - 7) / 1) + 1 = 4; exact fit 7 -> 1 */
    assert_int_equal(tdl_conv2d_desc_init(&d, 10, 7, 1, 1, 3, 3, 1, 1, 3, 3, TDL_PADDING_VALID), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 4);
    assert_int_equal(d.out_w, 1);
    /* same: ceil(10 / 3) = 4, total = 3*3 + 3 - 10 = 2 -> top 1 */
    assert_int_equal(tdl_conv2d_desc_init(&d, 10, 10, 1, 1, 3, 3, 3, 3, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 4);
    assert_int_equal(d.pad_top, 1);
    /* same, kernel 4: total = 9 + 4 - 10 = 3 -> top 1 (bottom 2); width 9: total = 6+4-9 = 1 -> left 0 */
    assert_int_equal(tdl_conv2d_desc_init(&d, 10, 9, 1, 1, 4, 4, 3, 3, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 4);
    assert_int_equal(d.out_w, 3);
    assert_int_equal(d.pad_top, 1);
    assert_int_equal(d.pad_left, 0);
    /* same with a stride larger than the kernel: total padding clamps at 0 */
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 1, 1, 1, 3, 3, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 2);
    assert_int_equal(d.pad_top, 0);
    /* same, dilation 2, stride 1: extent 5, total 4 -> 2 on each side */
    assert_int_equal(tdl_conv2d_desc_init(&d, 6, 6, 1, 1, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 6);
    assert_int_equal(d.pad_top, 2);
    assert_int_equal(d.pad_left, 2);
    /* fields copied through */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 9, 3, 5, 2, 3, 1, 2, 1, 1, TDL_PADDING_VALID), TDL_STATUS_OK);
    assert_int_equal(d.in_h, 8);
    assert_int_equal(d.in_w, 9);
    assert_int_equal(d.in_c, 3);
    assert_int_equal(d.out_c, 5);
    assert_int_equal(d.out_h, 7);
    assert_int_equal(d.out_w, 4);
    assert_int_equal(d.kernel_h, 2);
    assert_int_equal(d.kernel_w, 3);
    assert_int_equal(d.stride_w, 2);
}

/* Bad sizes are errors with a message, never a descriptor with an empty output. */
static void test_desc_rejects_bad_sizes(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    tdl_set_error(TDL_STATUS_OK, "%s", "");
    /* a dilated kernel larger than the input (valid) */
    assert_int_equal(tdl_conv2d_desc_init(&d, 4, 10, 1, 1, 3, 3, 1, 1, 2, 1, TDL_PADDING_VALID),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "conv2d"));
    assert_int_equal(tdl_conv2d_desc_init(&d, 0, 10, 1, 1, 1, 1, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 0, 1, 1, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 1, 1, 1, 0, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 1, 1, 1, 1, 1, 1, -1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, (tdl_padding)7),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_desc_init(NULL, 5, 5, 1, 1, 1, 1, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    /* an absurd dilation does not overflow into a positive output */
    assert_int_equal(tdl_conv2d_desc_init(&d, 5, 5, 1, 1, 3, 3, 1, 1, 2000000000, 1, TDL_PADDING_VALID),
                     TDL_STATUS_BAD_ARGUMENT);
    /* a kernel whose KH*KW*C does not fit an int GEMM dimension */
    assert_int_equal(tdl_conv2d_desc_init(&d, 70000, 70000, 1000, 1, 65536, 65536, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
}

/* Security issue 13: a huge dilation with 'same' padding gives a padding and a
 * window extent that do not fit an int; the descriptor is refused instead of
 * wrapping (UBSan caught the signed overflow; pad_top came out -1073741826). */
static void test_desc_rejects_huge_dilation(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    memset(&d, 0x55, sizeof d);
    const tdl_conv2d_desc untouched = d;
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 1, 4, 4, 1, 1, 2147483647, 2147483647, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "spans more than"));
    assert_memory_equal(&d, &untouched, sizeof d);
    /* one axis is enough */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 1, 1, 4, 1, 1, 1, 1073741824, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    /* a large dilation that still fits is fine: padding covers the window */
    assert_int_equal(tdl_conv2d_desc_init(&d, 8, 8, 1, 1, 4, 4, 1, 1, 100000, 1, TDL_PADDING_SAME),
                     TDL_STATUS_OK);
    assert_int_equal(d.out_h, 8);
    assert_int_equal(d.pad_top, (7 + 300001 - 8) / 2);
}

/* A convolution whose dilated kernel reaches far into the padding runs (on the
 * gemm path: the padded copy would be too large) and matches the reference. */
static void test_forward_huge_padding(void **state) {
    (void)state;
    static const conv_case far = {2, 5, 6, 2, 3, 3, 3, 1, 1, 300, 2, TDL_PADDING_SAME};
    check_forward(&far, TDL_ACTIVATION_RELU, WITH_BIAS);
}

/* The workspace holds at least the pre-activation gradient and never shrinks as the batch grows. */
static void test_workspace_size(void **state) {
    (void)state;
    const tdl_conv2d_desc pw = make_desc(&pointwise, TDL_ACTIVATION_LINEAR);
    assert_true(tdl_conv2d_workspace_size(&pw, 7) >= (size_t)7 * 5 * 3 * 7);
    const tdl_conv2d_desc small = make_desc(&stride2_same_uneven, TDL_ACTIVATION_RELU);
    const size_t rows = (size_t)7 * small.out_h * small.out_w;
    /* room for the gradient and at least one im2col chunk of every row (the
     * portable build's direct convolution needs no chunk: tests/portable) */
#ifndef TDL_TEST_PORTABLE_RUNTIME
    assert_true(tdl_conv2d_workspace_size(&small, 7) >= rows * 5 + rows * 4 * 3 * 3);
#else
    assert_true(tdl_conv2d_workspace_size(&small, 7) >= rows * 5);
#endif
    const tdl_conv2d_desc big = make_desc(&chunked_same, TDL_ACTIVATION_LINEAR);
    size_t previous = 0;
    for (int batch = 1; batch <= 64; ++batch) {
        const size_t size = tdl_conv2d_workspace_size(&big, batch);
        assert_true(size >= previous);
        previous = size;
    }
    /* bounded: the gradient plus a few chunks, not an im2col of the whole batch */
    assert_true(tdl_conv2d_workspace_size(&big, 64) < (size_t)64 * 24 * 24 * 3 + ((size_t)1 << 20));
    assert_int_equal(tdl_conv2d_workspace_size(&big, 0), 0);
    assert_int_equal(tdl_conv2d_workspace_size(NULL, 3), 0);
}

/* A workspace of exactly the size asked for the largest batch serves a smaller
 * batch and any thread count (AddressSanitizer checks the bound). */
static void test_workspace_for_larger_batch(void **state) {
    (void)state;
    const conv_case *cc = &chunked_same;
    const tdl_conv2d_desc d = make_desc(cc, TDL_ACTIVATION_RELU);
    const int threads_before = tdl_get_num_threads();
    float *workspace = zero_floats(tdl_conv2d_workspace_size(&d, cc->batch));
    float *x = random_floats(input_size(cc), -1.0f, 1.0f), *dx = zero_floats(input_size(cc));
    float *kernel = random_floats(kernel_size(cc), -0.5f, 0.5f), *dkernel = zero_floats(kernel_size(cc));
    float *y = zero_floats(output_size(cc)), *dy = random_floats(output_size(cc), -1.0f, 1.0f);
    for (int threads = 1; threads <= 4; ++threads) {
        tdl_set_num_threads(threads);
        for (int batch = 1; batch <= cc->batch; batch += 2) {
            tdl_conv2d_forward(y, x, kernel, NULL, &d, batch, workspace);
            tdl_conv2d_backward(dx, dkernel, NULL, dy, y, x, kernel, &d, batch, workspace);
        }
    }
    tdl_set_num_threads(threads_before);
    free(workspace);
    free(x);
    free(dx);
    free(kernel);
    free(dkernel);
    free(y);
    free(dy);
}

/* 2*4608*576*16 = 85 MFLOP: enough work for the batch to be split over up to 5 threads. */
static const conv_case splittable = {8, 24, 24, 64, 16, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME};

/* The forward-only workspace serves forward on any thread count, on the
 * libxsmm path too (16 filters, 'same' padding: padded input copies). */
static void test_forward_workspace_on_threads(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 4; ++threads) {
        tdl_set_num_threads(threads);
        check_forward(&splittable, TDL_ACTIVATION_RELU, WITH_BIAS);
        check_forward(&stride2_same_uneven, TDL_ACTIVATION_LINEAR, WITH_BIAS);
    }
    tdl_set_num_threads(threads_before);
    /* No gradient is kept for forward: its share is smaller by at least that. */
    const tdl_conv2d_desc d = make_desc(&splittable, TDL_ACTIVATION_RELU);
    assert_true(tdl_conv2d_forward_workspace_size(&d, 8) + output_size(&splittable) <=
                tdl_conv2d_workspace_size(&d, 8));
    assert_int_equal(tdl_conv2d_forward_workspace_size(NULL, 3), 0);
}

/* Splitting the batch over 2 or 3 threads gives what one thread gives. */
static void test_thread_counts_agree(void **state) {
    (void)state;
    const conv_case *cc = &splittable;
    const int threads_before = tdl_get_num_threads();
    conv_problem p = problem_new(cc, TDL_ACTIVATION_RELU);
    const size_t nx = input_size(cc), nk = kernel_size(cc), ny = output_size(cc);
    float *results[3][3];
    for (int t = 0; t < 3; ++t) {
        tdl_set_num_threads(t + 1);
        float *y = zero_floats(ny), *dx = zero_floats(nx), *dkernel = zero_floats(nk);
        tdl_conv2d_forward(y, p.x, p.kernel, p.bias, &p.d, cc->batch, p.workspace);
        tdl_conv2d_backward(dx, dkernel, NULL, p.upstream, y, p.x, p.kernel, &p.d, cc->batch, p.workspace);
        results[t][0] = y;
        results[t][1] = dx;
        results[t][2] = dkernel;
    }
    tdl_set_num_threads(threads_before);
    const size_t sizes[3] = {ny, nx, nk};
    const char *names[3] = {"y", "dx", "dkernel"};
    for (int t = 1; t < 3; ++t)
        for (int r = 0; r < 3; ++r)
            for (size_t i = 0; i < sizes[r]; ++i)
                assert_close(results[t][r][i], results[0][r][i], 1e-4, 1e-5, names[r], i);
    for (int t = 0; t < 3; ++t)
        for (int r = 0; r < 3; ++r) free(results[t][r]);
    problem_free(&p);
}

/* tdl_conv2d_affine_forward (a batch_norm folded into the output pass) is
 * tdl_conv2d_forward, activation included, then y * scale + shift per
 * channel: the same float operations, so the same bits; on a narrow layer,
 * a wide one (the libxsmm path where it runs) and one split over threads.
 * A NULL scale or shift writes nothing. */
static void test_affine_forward_is_forward_then_affine(void **state) {
    (void)state;
    const conv_case *cases[] = {&stride2_same_uneven, &wide_same, &splittable};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const conv_case *cc = cases[k];
        conv_problem p = problem_new(cc, TDL_ACTIVATION_RELU);
        float *scale = random_floats((size_t)cc->filters, 0.5f, 1.5f);
        float *shift = random_floats((size_t)cc->filters, -0.5f, 0.5f);
        const size_t ny = output_size(cc);
        float *want = zero_floats(ny), *got = zero_floats(ny);
        tdl_conv2d_forward(want, p.x, p.kernel, p.bias, &p.d, cc->batch, p.workspace);
        for (size_t i = 0; i < ny; ++i)
            want[i] = want[i] * scale[i % (size_t)cc->filters] + shift[i % (size_t)cc->filters];
        tdl_conv2d_affine_forward(got, p.x, p.kernel, p.bias, scale, shift, &p.d, cc->batch, p.workspace);
        for (size_t i = 0; i < ny; ++i) assert_close(got[i], want[i], 0.0, 0.0, "y", i);
        float *untouched = zero_floats(ny);
        tdl_conv2d_affine_forward(untouched, p.x, p.kernel, p.bias, NULL, shift, &p.d, cc->batch, p.workspace);
        tdl_conv2d_affine_forward(untouched, p.x, p.kernel, p.bias, scale, NULL, &p.d, cc->batch, p.workspace);
        for (size_t i = 0; i < ny; ++i) assert_true(untouched[i] == 0.0f);
        free(untouched);
        free(want);
        free(got);
        free(scale);
        free(shift);
        problem_free(&p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_affine_forward_is_forward_then_affine),
        cmocka_unit_test(test_desc_arithmetic),
        cmocka_unit_test(test_forward_workspace_on_threads),
        cmocka_unit_test(test_desc_rejects_bad_sizes),
        cmocka_unit_test(test_desc_rejects_huge_dilation),
        cmocka_unit_test(test_forward_huge_padding),
        cmocka_unit_test(test_workspace_size),
        cmocka_unit_test(test_workspace_for_larger_batch),
        cmocka_unit_test(test_thread_counts_agree),
        cmocka_unit_test(test_forward_stride2_same_uneven),
        cmocka_unit_test(test_forward_dilation),
        cmocka_unit_test(test_forward_pointwise),
        cmocka_unit_test(test_forward_asymmetric_strides),
        cmocka_unit_test(test_forward_activations),
        cmocka_unit_test(test_forward_chunked),
        cmocka_unit_test(test_backward_linear),
        cmocka_unit_test(test_backward_relu),
        cmocka_unit_test(test_backward_smooth_activations),
        cmocka_unit_test(test_backward_chunked),
        cmocka_unit_test(test_backprop_ops_agree_with_backward),
        cmocka_unit_test(test_wide_layers),
        cmocka_unit_test(test_backward_accumulates),
    };
    /* Every test on both paths: libxsmm where it is built in (else this run
     * repeats the next), then im2col + OpenBLAS. */
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    const int automatic = cmocka_run_group_tests_name("conv2d, automatic path", tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const int blas = cmocka_run_group_tests_name("conv2d, BLAS path", tests, NULL, NULL);
    return automatic + blas;
}
