/* conv2d_transpose, upsample2d and pad2d (zero_padding2d, cropping2d):
 * forwards against plain references written from the definitions, backwards
 * against central finite differences of a random linear functional
 * L = sum_j w_j y_j, plus accumulation, NULL skipping and the descriptor's
 * output sizes (Keras' deconv_output_length).
 *
 * References:
 * - pad2d: y[b,i,j,c] = x[b,i-top,j-left,c] where that is inside x, else 0.
 * - upsample2d: PyTorch's interpolate(align_corners=False) arithmetic in
 *   double: source = max(0, (i + 0.5)/s - 0.5), i0 = floor, i1 = min(i0 + 1,
 *   H - 1); nearest is x[i / s].
 * - conv2d_transpose: the full transposed convolution by scattering every
 *   input pixel through the kernel (row h*s + p*d), then TensorFlow's crop:
 *   pad_top = max((H - 1)s + k' - H', 0)/2 rows off the top and the rest of
 *   the rows kept up to H' (computed here, not read from the descriptor).
 *
 * Tolerances (|got - want| <= atol + rtol |want|):
 * - pad2d forward is a copy: exact. Its backward and the nearest backward
 *   are sums of one term: the difference quotient of a linear L is exact up
 *   to the double sum's rounding: 1e-4.
 * - The activations are smooth ones (linear, sigmoid, tanh): a relu kink
 *   within h of a pre-activation would spoil the difference quotient.
 * - bilinear forward: float lerps against the double reference: 1e-5.
 * - conv2d_transpose forward: float sums of <= 36 products against double: 1e-5.
 * - backwards with h = 1e-2 of float computations: |y| <~ 4, float rounding
 *   of y ~ 5e-7 over 2h gives ~ 1e-4 per term, times up to ~30 terms: 2e-3.
 *   (tanh's curvature adds h^2 terms ~ 1e-4.)
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

#define GRADIENT_START 0.5f
#define FD_STEP 1e-2f
#define FD_TOLERANCE 2e-3

static float *random_floats(size_t n) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; ++i) p[i] = uniform(-1.0f, 1.0f);
    return p;
}

static float *filled(size_t n, float value) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    assert_non_null(p);
    for (size_t i = 0; i < n; ++i) p[i] = value;
    return p;
}

/* A kernel's forward with its inputs in a context, and L = sum w_j y_j. */
typedef struct functional {
    void (*forward)(void *ctx, float *y);
    void *ctx;
    const float *w;
    float *y;
    size_t ny;
} functional;

static double functional_value(void *p) {
    functional *f = p;
    f->forward(f->ctx, f->y);
    double sum = 0.0;
    for (size_t j = 0; j < f->ny; ++j) sum += (double)f->w[j] * f->y[j];
    return sum;
}

/* grad[i] - GRADIENT_START against dL/dx[i] by central differences. */
static void check_gradient(functional *f, float *x, size_t n, const float *grad, const char *what, double tolerance) {
    for (size_t i = 0; i < n; ++i) {
        const double want = central_difference(functional_value, f, x, i, FD_STEP);
        check_close(what, i, (double)grad[i] - GRADIENT_START, want, tolerance, tolerance);
    }
}

/* An op of one input and no weights (pad2d, upsample2d) on one case. */
typedef struct one_input_op {
    const char *name;
    void (*forward)(void *ctx, float *y);
    void (*backward)(void *ctx, float *dx, const float *dy);   /* dx may be NULL */
    void (*reference)(void *ctx, float *y);
    double forward_tolerance;
} one_input_op;

/* Forward against the reference; backward (accumulating, NULL skipped) against differences. */
static void check_one_input_op(const one_input_op *op, void *ctx, float *x, size_t nx, size_t ny) {
    float *y = filled(ny, NAN), *want = filled(ny, 0.0f), *w = random_floats(ny), *dx = filled(nx, GRADIENT_START);
    op->forward(ctx, y);
    op->reference(ctx, want);
    for (size_t j = 0; j < ny; ++j) check_close(op->name, j, y[j], want[j], op->forward_tolerance, op->forward_tolerance);
    op->backward(ctx, dx, w);
    op->backward(ctx, NULL, w);
    functional f = {op->forward, ctx, w, y, ny};
    check_gradient(&f, x, nx, dx, op->name, 1e-4);
    free(y);
    free(want);
    free(w);
    free(dx);
}

/* ------------------------------------------------------------------ */
/* pad2d                                                               */
/* ------------------------------------------------------------------ */

typedef struct pad_problem {
    tdl_pad2d_desc d;
    int batch;
    float *x;
} pad_problem;

static const tdl_pad2d_desc PAD_CASES[] = {
    {3, 4, 2, 1, 1, 1, 1},      /* zero_padding2d(1) */
    {3, 4, 2, 2, 0, 0, 3},      /* ((2, 0), (0, 3)) */
    {5, 6, 3, -1, -2, -2, -1},  /* cropping2d(((1, 2), (2, 1))) */
    {4, 4, 1, -3, 0, 0, -3},    /* crop to the bottom-left 1x1 */
    {2, 3, 2, 1, -1, -2, 2},    /* pad and crop mixed (never from the layers, but the kernel takes it) */
};
#define PAD_CASE_COUNT (sizeof PAD_CASES / sizeof *PAD_CASES)

static size_t pad_out_count(const tdl_pad2d_desc *d, int batch) {
    return (size_t)batch * (size_t)(d->in_h + d->top + d->bottom) * (size_t)(d->in_w + d->left + d->right) *
           (size_t)d->channels;
}

static void reference_pad(float *y, const float *x, const tdl_pad2d_desc *d, int batch) {
    const int oh = d->in_h + d->top + d->bottom, ow = d->in_w + d->left + d->right;
    size_t j = 0;
    for (int b = 0; b < batch; ++b)
        for (int i = 0; i < oh; ++i)
            for (int k = 0; k < ow; ++k)
                for (int c = 0; c < d->channels; ++c) {
                    const int r = i - d->top, s = k - d->left;
                    const bool inside = r >= 0 && r < d->in_h && s >= 0 && s < d->in_w;
                    y[j++] = inside ? x[(((size_t)b * d->in_h + r) * d->in_w + s) * d->channels + c] : 0.0f;
                }
}

static void pad_forward(void *ctx, float *y) {
    const pad_problem *p = ctx;
    tdl_pad2d_forward(y, p->x, &p->d, p->batch);
}

static void pad_backward(void *ctx, float *dx, const float *dy) {
    const pad_problem *p = ctx;
    tdl_pad2d_backward(dx, dy, &p->d, p->batch);
}

static void pad_reference(void *ctx, float *y) {
    const pad_problem *p = ctx;
    reference_pad(y, p->x, &p->d, p->batch);
}

/* Every case equals the index-by-index reference exactly, and the backward the difference quotients. */
static void test_pad2d_matches_reference(void **state) {
    (void)state;
    lcg_state = 11;
    static const one_input_op op = {"pad2d", pad_forward, pad_backward, pad_reference, 0.0};
    for (size_t k = 0; k < PAD_CASE_COUNT; ++k) {
        pad_problem p = {PAD_CASES[k], 2, NULL};
        const size_t nx = (size_t)p.batch * p.d.in_h * p.d.in_w * p.d.channels;
        p.x = random_floats(nx);
        check_one_input_op(&op, &p, p.x, nx, pad_out_count(&p.d, p.batch));
        free(p.x);
    }
}

/* ------------------------------------------------------------------ */
/* upsample2d                                                          */
/* ------------------------------------------------------------------ */

typedef struct upsample_problem {
    tdl_upsample2d_desc d;
    int batch;
    float *x;
} upsample_problem;

static const tdl_upsample2d_desc UPSAMPLE_CASES[] = {
    {3, 4, 2, 2, 2, TDL_INTERPOLATION_NEAREST},
    {3, 2, 3, 3, 2, TDL_INTERPOLATION_NEAREST},
    {3, 4, 2, 2, 2, TDL_INTERPOLATION_BILINEAR},
    {4, 3, 1, 3, 4, TDL_INTERPOLATION_BILINEAR},
    {1, 5, 2, 2, 3, TDL_INTERPOLATION_BILINEAR},   /* a single row: clamped on both sides */
};
#define UPSAMPLE_CASE_COUNT (sizeof UPSAMPLE_CASES / sizeof *UPSAMPLE_CASES)

/* PyTorch's source index and weight of output position i (align_corners=False). */
static void reference_tap(int i, int in, int size, int *i0, int *i1, double *lambda) {
    double source = ((double)i + 0.5) / size - 0.5;
    if (source < 0.0) source = 0.0;
    *i0 = (int)floor(source);
    *i1 = *i0 + 1 < in ? *i0 + 1 : in - 1;
    *lambda = source - *i0;
}

static void reference_upsample(float *y, const float *x, const tdl_upsample2d_desc *d, int batch) {
    const int oh = d->in_h * d->size_h, ow = d->in_w * d->size_w, C = d->channels;
    size_t j = 0;
    for (int b = 0; b < batch; ++b)
        for (int i = 0; i < oh; ++i)
            for (int k = 0; k < ow; ++k)
                for (int c = 0; c < C; ++c) {
#define X(r, s) ((double)x[(((size_t)b * d->in_h + (r)) * d->in_w + (s)) * C + c])
                    if (d->interpolation == TDL_INTERPOLATION_NEAREST) {
                        y[j++] = (float)X(i / d->size_h, k / d->size_w);
                        continue;
                    }
                    int r0, r1, s0, s1;
                    double ly, lx;
                    reference_tap(i, d->in_h, d->size_h, &r0, &r1, &ly);
                    reference_tap(k, d->in_w, d->size_w, &s0, &s1, &lx);
                    y[j++] = (float)((1 - ly) * ((1 - lx) * X(r0, s0) + lx * X(r0, s1)) +
                                     ly * ((1 - lx) * X(r1, s0) + lx * X(r1, s1)));
#undef X
                }
}

static void upsample_forward(void *ctx, float *y) {
    const upsample_problem *p = ctx;
    tdl_upsample2d_forward(y, p->x, &p->d, p->batch);
}

static void upsample_backward(void *ctx, float *dx, const float *dy) {
    const upsample_problem *p = ctx;
    tdl_upsample2d_backward(dx, dy, &p->d, p->batch);
}

static void upsample_reference(void *ctx, float *y) {
    const upsample_problem *p = ctx;
    reference_upsample(y, p->x, &p->d, p->batch);
}

/* Nearest repeats pixels exactly; bilinear matches PyTorch's arithmetic; backwards are the adjoints. */
static void test_upsample2d_matches_reference(void **state) {
    (void)state;
    lcg_state = 12;
    static const one_input_op nearest = {"upsample2d nearest", upsample_forward, upsample_backward,
                                         upsample_reference, 0.0};
    static const one_input_op bilinear = {"upsample2d bilinear", upsample_forward, upsample_backward,
                                          upsample_reference, 1e-5};
    for (size_t k = 0; k < UPSAMPLE_CASE_COUNT; ++k) {
        upsample_problem p = {UPSAMPLE_CASES[k], 2, NULL};
        const size_t nx = (size_t)p.batch * p.d.in_h * p.d.in_w * p.d.channels;
        p.x = random_floats(nx);
        check_one_input_op(p.d.interpolation == TDL_INTERPOLATION_NEAREST ? &nearest : &bilinear, &p, p.x, nx,
                           nx * (size_t)p.d.size_h * (size_t)p.d.size_w);
        free(p.x);
    }
}

/* Every output pixel's bilinear weights sum to 1: a constant image stays constant. */
static void test_upsample2d_bilinear_keeps_constants(void **state) {
    (void)state;
    const tdl_upsample2d_desc d = {3, 5, 2, 4, 3, TDL_INTERPOLATION_BILINEAR};
    const size_t nx = 3 * 5 * 2, ny = nx * 12;
    float *x = filled(nx, 0.75f), *y = filled(ny, NAN);
    tdl_upsample2d_forward(y, x, &d, 1);
    for (size_t j = 0; j < ny; ++j) check_close("constant", j, y[j], 0.75, 1e-6, 0.0);
    free(x);
    free(y);
}

/* ------------------------------------------------------------------ */
/* conv2d_transpose                                                    */
/* ------------------------------------------------------------------ */

typedef struct transpose_case {
    const char *what;
    int batch, in_h, in_w, in_c, filters;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    tdl_padding padding;
    int output_padding_h, output_padding_w;   /* -1: none */
    int out_h, out_w;                         /* Keras' deconv_output_length, worked out by hand */
    tdl_activation activation;
} transpose_case;

static const transpose_case TRANSPOSE_CASES[] = {
    {"same s2 k3 (crop at the bottom/right)", 2, 4, 3, 3, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, -1, -1, 8, 6,
     TDL_ACTIVATION_LINEAR},
    {"same s2 k3 output_padding (0, 1): odd rows", 2, 4, 3, 2, 3, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, 0, 1, 7, 6,
     TDL_ACTIVATION_TANH},
    {"valid s2 k3", 1, 3, 4, 2, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_VALID, -1, -1, 7, 9, TDL_ACTIVATION_LINEAR},
    {"valid k2 s3: zero rows between", 2, 3, 2, 2, 3, 2, 2, 3, 3, 1, 1, TDL_PADDING_VALID, -1, -1, 9, 6,
     TDL_ACTIVATION_SIGMOID},
    {"valid s2 output_padding 1", 1, 3, 3, 2, 2, 3, 2, 2, 2, 1, 1, TDL_PADDING_VALID, 1, 1, 8, 7,
     TDL_ACTIVATION_LINEAR},
    {"same s1 dilation 2", 2, 5, 4, 2, 2, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME, -1, -1, 5, 4, TDL_ACTIVATION_TANH},
    {"same even kernel 4 s2 output_padding 1", 1, 3, 3, 2, 2, 4, 4, 2, 2, 1, 1, TDL_PADDING_SAME, 1, 1, 5, 5,
     TDL_ACTIVATION_LINEAR},
    {"same k4 s(3, 2)", 2, 2, 3, 3, 2, 4, 3, 3, 2, 1, 1, TDL_PADDING_SAME, -1, -1, 6, 6, TDL_ACTIVATION_LINEAR},
};
#define TRANSPOSE_CASE_COUNT (sizeof TRANSPOSE_CASES / sizeof *TRANSPOSE_CASES)

typedef struct transpose_problem {
    const transpose_case *c;
    tdl_conv2d_transpose_desc d;
    float *x, *kernel, *bias, *workspace;
    size_t nx, nk, ny;
} transpose_problem;

static transpose_problem transpose_new(const transpose_case *c) {
    transpose_problem p = {.c = c};
    assert_int_equal(tdl_conv2d_transpose_desc_init(&p.d, c->in_h, c->in_w, c->in_c, c->filters, c->kernel_h,
                                                    c->kernel_w, c->stride_h, c->stride_w, c->dilation_h,
                                                    c->dilation_w, c->padding, c->output_padding_h,
                                                    c->output_padding_w),
                     TDL_STATUS_OK);
    p.d.activation = c->activation;
    p.d.alpha = c->activation == TDL_ACTIVATION_LEAKY_RELU ? 0.3f : 0.0f;
    assert_int_equal(p.d.conv.in_h, c->out_h);
    assert_int_equal(p.d.conv.in_w, c->out_w);
    p.nx = (size_t)c->batch * c->in_h * c->in_w * c->in_c;
    p.nk = (size_t)c->kernel_h * c->kernel_w * c->filters * c->in_c;
    p.ny = (size_t)c->batch * c->out_h * c->out_w * c->filters;
    p.x = random_floats(p.nx);
    p.kernel = random_floats(p.nk);
    p.bias = random_floats((size_t)c->filters);
    p.workspace = filled(tdl_conv2d_transpose_workspace_size(&p.d, c->batch), NAN);
    return p;
}

static void transpose_free(transpose_problem *p) {
    free(p->x);
    free(p->kernel);
    free(p->bias);
    free(p->workspace);
}

/* TensorFlow's top padding of the conv2d of out -> in (computed independently of the runtime). */
static int reference_pad_before(int in, int out, int kernel, int stride, int dilation, tdl_padding padding) {
    if (padding == TDL_PADDING_VALID) return 0;
    const int total = (in - 1) * stride + dilation * (kernel - 1) + 1 - out;
    return total > 0 ? total / 2 : 0;
}

static double reference_activation(double z, tdl_activation a) {
    switch (a) {
    case TDL_ACTIVATION_LINEAR: return z;
    case TDL_ACTIVATION_RELU: return z > 0 ? z : 0;
    case TDL_ACTIVATION_SIGMOID: return 1 / (1 + exp(-z));
    case TDL_ACTIVATION_TANH: return tanh(z);
    case TDL_ACTIVATION_LEAKY_RELU: return z > 0 ? z : 0.3 * z;
    case TDL_ACTIVATION_ELU: return z > 0 ? z : expm1(z);
    case TDL_ACTIVATION_SOFTPLUS: return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
    }
    return NAN;
}

/* Scatter: y[h*s + p*d - pad_top, w*s + q*d - pad_left, f] += x[h, w, c] * kernel[p, q, f, c]. */
static void reference_transpose(float *y, const transpose_problem *p) {
    const transpose_case *c = p->c;
    const int top = reference_pad_before(c->in_h, c->out_h, c->kernel_h, c->stride_h, c->dilation_h, c->padding);
    const int left = reference_pad_before(c->in_w, c->out_w, c->kernel_w, c->stride_w, c->dilation_w, c->padding);
    double *sum = calloc(p->ny, sizeof *sum);
    assert_non_null(sum);
    for (int b = 0; b < c->batch; ++b)
        for (int h = 0; h < c->in_h; ++h)
            for (int w = 0; w < c->in_w; ++w)
                for (int kh = 0; kh < c->kernel_h; ++kh)
                    for (int kw = 0; kw < c->kernel_w; ++kw) {
                        const int r = h * c->stride_h + kh * c->dilation_h - top;
                        const int s = w * c->stride_w + kw * c->dilation_w - left;
                        if (r < 0 || r >= c->out_h || s < 0 || s >= c->out_w) continue;
                        for (int f = 0; f < c->filters; ++f)
                            for (int ch = 0; ch < c->in_c; ++ch)
                                sum[(((size_t)b * c->out_h + r) * c->out_w + s) * c->filters + f] +=
                                    (double)p->x[(((size_t)b * c->in_h + h) * c->in_w + w) * c->in_c + ch] *
                                    p->kernel[(((size_t)kh * c->kernel_w + kw) * c->filters + f) * c->in_c + ch];
                    }
    for (size_t j = 0; j < p->ny; ++j)
        y[j] = (float)reference_activation(sum[j] + p->bias[j % (size_t)c->filters], c->activation);
    free(sum);
}

static void transpose_forward(void *ctx, float *y) {
    const transpose_problem *p = ctx;
    tdl_conv2d_transpose_forward(y, p->x, p->kernel, p->bias, &p->d, p->c->batch, p->workspace);
}

/* Every case's output size is Keras', and its forward equals the scatter reference. */
static void test_conv2d_transpose_forward(void **state) {
    (void)state;
    lcg_state = 13;
    for (size_t k = 0; k < TRANSPOSE_CASE_COUNT; ++k) {
        transpose_problem p = transpose_new(&TRANSPOSE_CASES[k]);
        float *y = filled(p.ny, NAN), *want = filled(p.ny, 0.0f);
        transpose_forward(&p, y);
        reference_transpose(want, &p);
        for (size_t j = 0; j < p.ny; ++j) check_close(p.c->what, j, y[j], want[j], 1e-5, 1e-5);
        free(y);
        free(want);
        transpose_free(&p);
    }
}

/* dx, dkernel and dbias against central differences; they accumulate, and NULL ones are skipped. */
static void test_conv2d_transpose_backward(void **state) {
    (void)state;
    lcg_state = 14;
    for (size_t k = 0; k < TRANSPOSE_CASE_COUNT; ++k) {
        transpose_problem p = transpose_new(&TRANSPOSE_CASES[k]);
        const int filters = p.c->filters;
        float *y = filled(p.ny, NAN), *w = random_floats(p.ny);
        float *dx = filled(p.nx, GRADIENT_START), *dkernel = filled(p.nk, GRADIENT_START);
        float *dbias = filled((size_t)filters, GRADIENT_START);
        transpose_forward(&p, y);
        tdl_conv2d_transpose_backward(dx, dkernel, dbias, w, y, p.x, p.kernel, &p.d, p.c->batch, p.workspace);
        tdl_conv2d_transpose_backward(NULL, NULL, NULL, w, y, p.x, p.kernel, &p.d, p.c->batch, p.workspace);
        functional f = {transpose_forward, &p, w, filled(p.ny, 0.0f), p.ny};
        check_gradient(&f, p.x, p.nx, dx, "conv2d_transpose dx", FD_TOLERANCE);
        check_gradient(&f, p.kernel, p.nk, dkernel, "conv2d_transpose dkernel", FD_TOLERANCE);
        check_gradient(&f, p.bias, (size_t)filters, dbias, "conv2d_transpose dbias", FD_TOLERANCE);
        free(f.y);
        free(y);
        free(w);
        free(dx);
        free(dkernel);
        free(dbias);
        transpose_free(&p);
    }
}

/* The forward runs in exactly tdl_conv2d_transpose_forward_workspace_size
 * floats (what an inference build gives it; ASan sees any overrun) and
 * gives what it gives with the whole workspace. */
static void test_conv2d_transpose_forward_workspace(void **state) {
    (void)state;
    lcg_state = 15;
    for (size_t k = 0; k < TRANSPOSE_CASE_COUNT; ++k) {
        transpose_problem p = transpose_new(&TRANSPOSE_CASES[k]);
        const size_t small = tdl_conv2d_transpose_forward_workspace_size(&p.d, p.c->batch);
        assert_true(small > 0 && small <= tdl_conv2d_transpose_workspace_size(&p.d, p.c->batch));
        float *scratch = filled(small, NAN), *y = filled(p.ny, NAN), *want = filled(p.ny, NAN);
        tdl_conv2d_transpose_forward(y, p.x, p.kernel, p.bias, &p.d, p.c->batch, scratch);
        transpose_forward(&p, want);
        for (size_t j = 0; j < p.ny; ++j) check_close(p.c->what, j, y[j], want[j], 0.0, 0.0);
        free(scratch);
        free(y);
        free(want);
        transpose_free(&p);
    }
}

/* Keras refuses output_padding >= stride; 'same' with an even kernel and
 * output_padding 0 gives a size the conv2d does not map back (TensorFlow
 * fails at run time): both are BAD_ARGUMENT. */
static void test_conv2d_transpose_desc_rejects(void **state) {
    (void)state;
    tdl_conv2d_transpose_desc d;
    assert_int_equal(tdl_conv2d_transpose_desc_init(&d, 4, 4, 2, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, 2, 0),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_transpose_desc_init(&d, 4, 4, 2, 2, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID, 0, 1),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_transpose_desc_init(&d, 4, 4, 2, 2, 4, 4, 2, 2, 1, 1, TDL_PADDING_SAME, 0, 0),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_transpose_desc_init(&d, 0, 4, 2, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, -1, -1),
                     TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_conv2d_transpose_desc_init(NULL, 4, 4, 2, 2, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME, -1, -1),
                     TDL_STATUS_BAD_ARGUMENT);
    /* Without output padding an even kernel is fine: 4*2 = 8 maps back to ceil(8/2) = 4. */
    assert_int_equal(tdl_conv2d_transpose_desc_init(&d, 4, 4, 2, 2, 4, 4, 2, 2, 1, 1, TDL_PADDING_SAME, -1, -1),
                     TDL_STATUS_OK);
    assert_int_equal(d.conv.in_h, 8);
    assert_int_equal(d.conv.pad_top, 1);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad2d_matches_reference),
        cmocka_unit_test(test_upsample2d_matches_reference),
        cmocka_unit_test(test_upsample2d_bilinear_keeps_constants),
        cmocka_unit_test(test_conv2d_transpose_forward),
        cmocka_unit_test(test_conv2d_transpose_backward),
        cmocka_unit_test(test_conv2d_transpose_forward_workspace),
        cmocka_unit_test(test_conv2d_transpose_desc_rejects),
    };
    /* conv2d_transpose runs on the convolution kernels: libxsmm where it is
     * built in (else this run repeats the next), then im2col + OpenBLAS. */
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    return failed + cmocka_run_group_tests(tests, NULL, NULL);
}
