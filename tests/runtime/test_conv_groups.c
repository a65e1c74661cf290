/* Grouped, depthwise and separable convolutions: forward against a direct
 * grouped convolution in double, backward against a direct backward pass and
 * central finite differences, accumulation, NULL gradients, thread counts and
 * both kernel paths.
 *
 * Tolerances as in test_conv.c: forward and direct-backward results are float
 * sums of at most a few hundred terms of size ~1, so 1e-4 absolute plus 1e-4
 * relative. Finite differences take a step of 1e-2 on smooth activations
 * (linear, tanh, sigmoid) with sum(y * g) accumulated in double: 2e-3 absolute
 * plus 2e-3 relative. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numeric_check.h"
#include "tdl/runtime.h"

typedef struct group_case {
    int batch, in_h, in_w, in_c, filters, groups;
    int kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w;
    tdl_padding padding;
    tdl_activation activation;
} group_case;

static float *random_floats(size_t n) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = uniform(-1.0f, 1.0f);
    return v;
}

static float *zero_floats(size_t n) {
    float *v = calloc(n, sizeof *v);
    assert_non_null(v);
    return v;
}

static tdl_conv2d_desc make_desc(const group_case *gc) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, gc->in_h, gc->in_w, gc->in_c, gc->filters, gc->kernel_h, gc->kernel_w,
                                          gc->stride_h, gc->stride_w, gc->dilation_h, gc->dilation_w, gc->padding),
                     TDL_STATUS_OK);
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, gc->groups), TDL_STATUS_OK);
    d.activation = gc->activation;
    d.alpha = gc->activation == TDL_ACTIVATION_LEAKY_RELU ? 0.2f : 0.0f;
    return d;
}

static size_t x_size(const group_case *gc) {
    return (size_t)gc->batch * gc->in_h * gc->in_w * gc->in_c;
}
static size_t k_size(const group_case *gc) {
    return (size_t)gc->kernel_h * gc->kernel_w * (gc->in_c / gc->groups) * gc->filters;
}
static size_t y_size(const tdl_conv2d_desc *d, int batch) {
    return (size_t)batch * d->out_h * d->out_w * d->out_c;
}

static double activate(double z, tdl_activation activation) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR: return z;
    case TDL_ACTIVATION_RELU: return z > 0 ? z : 0;
    case TDL_ACTIVATION_SIGMOID: return 1.0 / (1.0 + exp(-z));
    case TDL_ACTIVATION_TANH: return tanh(z);
    case TDL_ACTIVATION_LEAKY_RELU: return z > 0 ? z : 0.2 * z;
    case TDL_ACTIVATION_ELU: return z > 0 ? z : expm1(z);
    case TDL_ACTIVATION_SOFTPLUS: return z > 0 ? z + log1p(exp(-z)) : log1p(exp(z));
    }
    return z;
}

/* The input position tap (i, j) of output (oh, ow) reads, or false in the padding. */
static bool tap_position(const tdl_conv2d_desc *d, int oh, int ow, int i, int j, int *h, int *w) {
    *h = oh * d->stride_h - d->pad_top + i * d->dilation_h;
    *w = ow * d->stride_w - d->pad_left + j * d->dilation_w;
    return *h >= 0 && *h < d->in_h && *w >= 0 && *w < d->in_w;
}

/* Where the reference walks: for each output element and each tap and
 * channel of its group, the input and kernel indices. */
typedef void (*visit_fn)(void *ctx, size_t yi, size_t xi, size_t ki);

static void walk(const tdl_conv2d_desc *d, int groups, int batch, visit_fn visit, void *ctx) {
    const int cg = d->in_c / groups, fg = d->out_c / groups;
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f = 0; f < d->out_c; ++f) {
                    const size_t yi = (((size_t)b * d->out_h + oh) * d->out_w + ow) * d->out_c + f;
                    for (int i = 0; i < d->kernel_h; ++i)
                        for (int j = 0; j < d->kernel_w; ++j) {
                            int h, w;
                            if (!tap_position(d, oh, ow, i, j, &h, &w)) continue;
                            for (int c = 0; c < cg; ++c) {
                                const int channel = (f / fg) * cg + c;
                                const size_t xi = (((size_t)b * d->in_h + h) * d->in_w + w) * d->in_c + channel;
                                const size_t ki = (((size_t)i * d->kernel_w + j) * cg + c) * d->out_c + f;
                                visit(ctx, yi, xi, ki);
                            }
                        }
                }
}

typedef struct reference {
    const float *x, *kernel, *dz;
    double *y, *dx, *dkernel;
} reference;

static void forward_visit(void *ctx, size_t yi, size_t xi, size_t ki) {
    reference *r = ctx;
    r->y[yi] += (double)r->x[xi] * r->kernel[ki];
}

static void backward_visit(void *ctx, size_t yi, size_t xi, size_t ki) {
    reference *r = ctx;
    r->dx[xi] += (double)r->dz[yi] * r->kernel[ki];
    r->dkernel[ki] += (double)r->dz[yi] * r->x[xi];
}

/* The direct grouped convolution, bias and activation, in double. */
static double *reference_forward(const tdl_conv2d_desc *d, int groups, int batch, const float *x,
                                 const float *kernel, const float *bias) {
    const size_t n = y_size(d, batch);
    reference r = {x, kernel, NULL, calloc(n, sizeof(double)), NULL, NULL};
    assert_non_null(r.y);
    walk(d, groups, batch, forward_visit, &r);
    for (size_t i = 0; i < n; ++i)
        r.y[i] = activate(r.y[i] + (bias != NULL ? bias[i % (size_t)d->out_c] : 0.0), d->activation);
    return r.y;
}

static void check_all(const char *what, const float *got, const double *want, size_t n, double tol) {
    for (size_t i = 0; i < n; ++i) check_close(what, i, got[i], want[i], tol, tol);
}

static void run_forward(const group_case *gc) {
    const tdl_conv2d_desc d = make_desc(gc);
    float *x = random_floats(x_size(gc)), *kernel = random_floats(k_size(gc)), *bias = random_floats(gc->filters);
    float *y = zero_floats(y_size(&d, gc->batch));
    /* Exactly what forward alone needs (none for depthwise): the sanitizer
     * build catches a kernel reaching past it. */
    const size_t forward_floats = tdl_conv2d_forward_workspace_size(&d, gc->batch);
    float *ws = malloc((forward_floats > 0 ? forward_floats : 1) * sizeof *ws);
    assert_non_null(ws);
    double *want = reference_forward(&d, gc->groups, gc->batch, x, kernel, bias);
    tdl_conv2d_forward(y, x, kernel, bias, &d, gc->batch, ws);
    check_all("y", y, want, y_size(&d, gc->batch), 1e-4);
    free(want);
    /* Without a bias. */
    want = reference_forward(&d, gc->groups, gc->batch, x, kernel, NULL);
    tdl_conv2d_forward(y, x, kernel, NULL, &d, gc->batch, ws);
    check_all("y without bias", y, want, y_size(&d, gc->batch), 1e-4);
    free(want);
    free(x);
    free(kernel);
    free(bias);
    free(y);
    free(ws);
}

static const group_case depthwise_same = {2, 6, 5, 8, 8, 8, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME, TDL_ACTIVATION_LINEAR};
static const group_case depthwise_multiplier = {2, 7, 6, 3, 6, 3, 3, 2, 2, 1, 1, 2, TDL_PADDING_VALID,
                                                TDL_ACTIVATION_TANH};
static const group_case depthwise_wide = {1, 5, 5, 19, 19, 19, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME,
                                          TDL_ACTIVATION_RELU};
static const group_case grouped_two = {2, 5, 6, 4, 6, 2, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME, TDL_ACTIVATION_LINEAR};
static const group_case grouped_three = {3, 7, 7, 6, 9, 3, 3, 2, 2, 2, 1, 1, TDL_PADDING_SAME,
                                         TDL_ACTIVATION_SIGMOID};
static const group_case grouped_dilated = {2, 8, 7, 4, 4, 2, 2, 3, 1, 2, 2, 1, TDL_PADDING_VALID,
                                           TDL_ACTIVATION_LEAKY_RELU};

/* Depthwise, multiplier 1, 'same': the direct loops against the reference. */
static void test_depthwise_forward_same(void **state) {
    (void)state;
    run_forward(&depthwise_same);
}

/* Depthwise with depth_multiplier 2, stride 2, dilation 2 across, 'valid', tanh. */
static void test_depthwise_forward_multiplier(void **state) {
    (void)state;
    run_forward(&depthwise_multiplier);
}

/* 19 channels: the vector blocks of 8 and the scalar tail, with relu. */
static void test_depthwise_forward_channel_tail(void **state) {
    (void)state;
    run_forward(&depthwise_wide);
}

/* Two and three groups on copied channel slices, on both kernel paths. */
static void test_grouped_forward(void **state) {
    (void)state;
    for (int path = 0; path < 2; ++path) {
        tdl_set_kernel_path(path == 0 ? TDL_KERNEL_PATH_AUTO : TDL_KERNEL_PATH_BLAS);
        run_forward(&grouped_two);
        run_forward(&grouped_three);
        run_forward(&grouped_dilated);
    }
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
}

/* The tdl_depthwise_conv2d_* entry points give the conv2d ones' results and
 * refuse a descriptor that is not depthwise (writing nothing). */
static void test_depthwise_entry_points(void **state) {
    (void)state;
    const group_case *gc = &depthwise_multiplier;
    tdl_conv2d_desc d = make_desc(gc);
    float *x = random_floats(x_size(gc)), *kernel = random_floats(k_size(gc));
    float *y = zero_floats(y_size(&d, gc->batch)), *y2 = zero_floats(y_size(&d, gc->batch));
    float *ws = zero_floats(tdl_conv2d_workspace_size(&d, gc->batch) + 1);
    tdl_conv2d_forward(y, x, kernel, NULL, &d, gc->batch, ws);
    tdl_depthwise_conv2d_forward(y2, x, kernel, NULL, &d, gc->batch, ws);
    assert_memory_equal(y, y2, y_size(&d, gc->batch) * sizeof *y);
    d.groups = 1;
    memset(y2, 0, y_size(&d, gc->batch) * sizeof *y2);
    tdl_depthwise_conv2d_forward(y2, x, kernel, NULL, &d, gc->batch, ws);
    for (size_t i = 0; i < y_size(&d, gc->batch); ++i) assert_true(y2[i] == 0.0f);
    free(x);
    free(kernel);
    free(y);
    free(y2);
    free(ws);
}

/* groups must divide both channel counts; a bad count leaves d unchanged. */
static void test_set_groups_checks(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, 4, 4, 6, 9, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.groups, 1);
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 2), TDL_STATUS_BAD_ARGUMENT);   /* 9 filters */
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 4), TDL_STATUS_BAD_ARGUMENT);   /* 6 channels */
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 0), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(d.groups, 1);
    assert_int_equal(tdl_conv2d_desc_set_groups(&d, 3), TDL_STATUS_OK);
    assert_int_equal(d.groups, 3);
    /* A descriptor with groups that do not divide is not run: y stays as it was. */
    d.groups = 4;
    float x[4 * 4 * 6] = {0}, kernel[3 * 3 * 6 * 9] = {0}, y[4 * 4 * 9], ws[64];
    for (size_t i = 0; i < sizeof y / sizeof y[0]; ++i) y[i] = 7.0f;
    assert_int_equal(tdl_conv2d_workspace_size(&d, 1), 0);
    tdl_conv2d_forward(y, x, kernel, NULL, &d, 1, ws);
    for (size_t i = 0; i < sizeof y / sizeof y[0]; ++i) assert_true(y[i] == 7.0f);
}

/* ---- backward ---------------------------------------------------------------- */

typedef struct fd_context {
    const tdl_conv2d_desc *d;
    int batch;
    float *x, *kernel, *bias, *y, *g, *ws;
} fd_context;

/* sum(y * g) in double. */
static double objective(void *ctx) {
    fd_context *c = ctx;
    tdl_conv2d_forward(c->y, c->x, c->kernel, c->bias, c->d, c->batch, c->ws);
    double sum = 0.0;
    for (size_t i = 0; i < y_size(c->d, c->batch); ++i) sum += (double)c->y[i] * c->g[i];
    return sum;
}

static void check_fd(const char *what, fd_context *c, float *v, const float *grad, size_t n) {
    for (size_t i = 0; i < n; ++i) check_close(what, i, grad[i], central_difference(objective, c, v, i, 1e-2f), 2e-3, 2e-3);
}

/* Backward against central differences (smooth activations) and, through the
 * pre-activation gradient, against the direct backward pass; accumulation
 * onto non-zero gradients. */
static void run_backward(const group_case *gc) {
    const tdl_conv2d_desc d = make_desc(gc);
    const size_t nx = x_size(gc), nk = k_size(gc), ny = y_size(&d, gc->batch), nb = (size_t)gc->filters;
    fd_context c = {&d, gc->batch, random_floats(nx), random_floats(nk), random_floats(nb), zero_floats(ny),
                    random_floats(ny), zero_floats(tdl_conv2d_workspace_size(&d, gc->batch) + 1)};
    float *dx = zero_floats(nx), *dk = zero_floats(nk), *db = zero_floats(nb);
    for (size_t i = 0; i < nx; ++i) dx[i] = 1.0f;   /* gradients accumulate */
    objective(&c);
    tdl_conv2d_backward(dx, dk, db, c.g, c.y, c.x, c.kernel, &d, gc->batch, c.ws);
    for (size_t i = 0; i < nx; ++i) dx[i] -= 1.0f;
    if (gc->activation != TDL_ACTIVATION_RELU && gc->activation != TDL_ACTIVATION_LEAKY_RELU) {
        check_fd("dx", &c, c.x, dx, nx);
        check_fd("dkernel", &c, c.kernel, dk, nk);
        check_fd("dbias", &c, c.bias, db, nb);
    }
    /* The direct backward of the pre-activation gradient dz = g * f'(y). */
    float *dz = zero_floats(ny);
    objective(&c);   /* y as it was: the differences left it perturbed */
    tdl_activation_backward(dz, c.g, c.y, ny, d.activation, d.alpha);
    reference r = {c.x, c.kernel, dz, NULL, calloc(nx, sizeof(double)), calloc(nk, sizeof(double))};
    assert_non_null(r.dx);
    assert_non_null(r.dkernel);
    walk(&d, gc->groups, gc->batch, backward_visit, &r);
    check_all("dx direct", dx, r.dx, nx, 1e-4);
    check_all("dkernel direct", dk, r.dkernel, nk, 1e-4);
    /* NULL gradients are skipped; the others are the same. */
    float *dk2 = zero_floats(nk);
    tdl_conv2d_backward(NULL, dk2, NULL, c.g, c.y, c.x, c.kernel, &d, gc->batch, c.ws);
    check_all("dkernel alone", dk2, r.dkernel, nk, 1e-4);
    free(dk2);
    free(r.dx);
    free(r.dkernel);
    free(dz);
    free(dx);
    free(dk);
    free(db);
    free(c.x);
    free(c.kernel);
    free(c.bias);
    free(c.y);
    free(c.g);
    free(c.ws);
}

/* Depthwise backward: multiplier 1 and 2, smooth and piecewise-linear. */
static void test_depthwise_backward(void **state) {
    (void)state;
    run_backward(&depthwise_same);
    run_backward(&depthwise_multiplier);
    run_backward(&depthwise_wide);
}

/* Grouped backward on both kernel paths. */
static void test_grouped_backward(void **state) {
    (void)state;
    for (int path = 0; path < 2; ++path) {
        tdl_set_kernel_path(path == 0 ? TDL_KERNEL_PATH_AUTO : TDL_KERNEL_PATH_BLAS);
        run_backward(&grouped_two);
        run_backward(&grouped_three);
        run_backward(&grouped_dilated);
    }
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
}

/* The depthwise kernels give the same bits on 1 and 2 threads, on a layer
 * large enough to be split. */
static void test_depthwise_threads_agree(void **state) {
    (void)state;
    const group_case gc = {4, 24, 24, 32, 64, 32, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME, TDL_ACTIVATION_RELU};
    const tdl_conv2d_desc d = make_desc(&gc);
    const size_t nx = x_size(&gc), nk = k_size(&gc), ny = y_size(&d, gc.batch);
    float *x = random_floats(nx), *kernel = random_floats(nk), *bias = random_floats((size_t)gc.filters);
    float *g = random_floats(ny), *ws = zero_floats(tdl_conv2d_workspace_size(&d, gc.batch) + 1);
    float *y[2], *dx[2], *dk[2], *db[2];
    const int saved = tdl_get_num_threads();
    for (int t = 0; t < 2; ++t) {
        tdl_set_num_threads(t + 1);
        y[t] = zero_floats(ny);
        dx[t] = zero_floats(nx);
        dk[t] = zero_floats(nk);
        db[t] = zero_floats((size_t)gc.filters);
        tdl_depthwise_conv2d_forward(y[t], x, kernel, bias, &d, gc.batch, ws);
        tdl_depthwise_conv2d_backward(dx[t], dk[t], db[t], g, y[t], x, kernel, &d, gc.batch, ws);
    }
    tdl_set_num_threads(saved);
    assert_memory_equal(y[0], y[1], ny * sizeof(float));
    assert_memory_equal(dx[0], dx[1], nx * sizeof(float));
    assert_memory_equal(dk[0], dk[1], nk * sizeof(float));
    assert_memory_equal(db[0], db[1], (size_t)gc.filters * sizeof(float));
    for (int t = 0; t < 2; ++t) {
        free(y[t]);
        free(dx[t]);
        free(dk[t]);
        free(db[t]);
    }
    free(x);
    free(kernel);
    free(bias);
    free(g);
    free(ws);
}

/* ---- separable ------------------------------------------------------------------ */

typedef struct separable_context {
    const tdl_separable_conv2d_desc *d;
    int batch;
    float *x, *dk, *pk, *bias, *y, *g, *ws;
} separable_context;

static size_t separable_y_size(const tdl_separable_conv2d_desc *d, int batch) {
    return y_size(&d->pointwise, batch);
}

static double separable_objective(void *ctx) {
    separable_context *c = ctx;
    tdl_separable_conv2d_forward(c->y, c->x, c->dk, c->pk, c->bias, c->d, c->batch, c->ws);
    double sum = 0.0;
    for (size_t i = 0; i < separable_y_size(c->d, c->batch); ++i) sum += (double)c->y[i] * c->g[i];
    return sum;
}

static void check_separable_fd(const char *what, separable_context *c, float *v, const float *grad, size_t n) {
    for (size_t i = 0; i < n; ++i)
        check_close(what, i, grad[i], central_difference(separable_objective, c, v, i, 1e-2f), 2e-3, 2e-3);
}

/* Forward: the reference depthwise output through a reference 1x1
 * convolution; backward: every gradient against central differences. */
static void test_separable(void **state) {
    (void)state;
    const int batch = 2, in_c = 3, multiplier = 2, filters = 5;
    tdl_separable_conv2d_desc d;
    assert_int_equal(tdl_separable_conv2d_desc_init(&d, 6, 5, in_c, multiplier, filters, 3, 3, 2, 1, 1, 1,
                                                    TDL_PADDING_SAME),
                     TDL_STATUS_OK);
    d.pointwise.activation = TDL_ACTIVATION_TANH;
    const size_t nx = (size_t)batch * 6 * 5 * in_c, ndk = 3 * 3 * (size_t)in_c * multiplier;
    const size_t npk = (size_t)in_c * multiplier * filters, ny = separable_y_size(&d, batch);
    const size_t nt = y_size(&d.depthwise, batch);
    separable_context c = {&d, batch, random_floats(nx), random_floats(ndk), random_floats(npk),
                           random_floats((size_t)filters), zero_floats(ny), random_floats(ny),
                           zero_floats(tdl_separable_conv2d_workspace_size(&d, batch) + 1)};
    double *t = reference_forward(&d.depthwise, in_c, batch, c.x, c.dk, NULL);
    float *tf = zero_floats(nt);
    for (size_t i = 0; i < nt; ++i) tf[i] = (float)t[i];
    double *want = reference_forward(&d.pointwise, 1, batch, tf, c.pk, c.bias);
    separable_objective(&c);
    check_all("y", c.y, want, ny, 1e-4);
    /* Forward in exactly the scratch forward alone needs. */
    float *forward_ws = malloc(tdl_separable_conv2d_forward_workspace_size(&d, batch) * sizeof *forward_ws);
    assert_non_null(forward_ws);
    float *y2 = zero_floats(ny);
    tdl_separable_conv2d_forward(y2, c.x, c.dk, c.pk, c.bias, &d, batch, forward_ws);
    assert_memory_equal(y2, c.y, ny * sizeof *y2);
    free(forward_ws);
    free(y2);
    float *dx = zero_floats(nx), *ddk = zero_floats(ndk), *dpk = zero_floats(npk), *db = zero_floats((size_t)filters);
    tdl_separable_conv2d_backward(dx, ddk, dpk, db, c.g, c.y, c.x, c.dk, c.pk, &d, batch, c.ws);
    check_separable_fd("dx", &c, c.x, dx, nx);
    check_separable_fd("ddepthwise_kernel", &c, c.dk, ddk, ndk);
    check_separable_fd("dpointwise_kernel", &c, c.pk, dpk, npk);
    check_separable_fd("dbias", &c, c.bias, db, (size_t)filters);
    /* Only the pointwise kernel's gradient: the depthwise half is skipped. */
    float *dpk2 = zero_floats(npk);
    separable_objective(&c);
    tdl_separable_conv2d_backward(NULL, NULL, dpk2, NULL, c.g, c.y, c.x, c.dk, c.pk, &d, batch, c.ws);
    for (size_t i = 0; i < npk; ++i) check_close("dpointwise alone", i, dpk2[i], dpk[i], 1e-5, 1e-5);
    /* A multiplier that overflows int is refused. */
    assert_int_equal(tdl_separable_conv2d_desc_init(&d, 6, 5, 65536, 65536, 1, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_BAD_ARGUMENT);
    free(dpk2);
    free(t);
    free(tf);
    free(want);
    free(dx);
    free(ddk);
    free(dpk);
    free(db);
    free(c.x);
    free(c.dk);
    free(c.pk);
    free(c.bias);
    free(c.y);
    free(c.g);
    free(c.ws);
}

/* conv2d followed by max_pool2d as one step takes grouped descriptors too. */
static void test_grouped_fused_pool(void **state) {
    (void)state;
    const group_case *gc = &grouped_two;
    const tdl_conv2d_desc d = make_desc(gc);
    tdl_pool2d_desc p;
    assert_int_equal(tdl_pool2d_desc_init(&p, d.out_h, d.out_w, d.out_c, 2, 2, 2, 2, TDL_PADDING_VALID),
                     TDL_STATUS_OK);
    float *x = random_floats(x_size(gc)), *kernel = random_floats(k_size(gc));
    const size_t ny = y_size(&d, gc->batch), np = (size_t)gc->batch * p.out_h * p.out_w * d.out_c;
    float *y = zero_floats(ny), *y2 = zero_floats(ny), *pooled = zero_floats(np), *pooled2 = zero_floats(np);
    float *ws = zero_floats(tdl_conv2d_workspace_size(&d, gc->batch) + 1);
    tdl_conv2d_max_pool2d_forward(pooled, NULL, y, x, kernel, NULL, &d, &p, gc->batch, ws);
    tdl_conv2d_forward(y2, x, kernel, NULL, &d, gc->batch, ws);
    tdl_max_pool2d_forward(pooled2, y2, &p, gc->batch);
    for (size_t i = 0; i < ny; ++i) check_close("y", i, y[i], y2[i], 1e-5, 1e-5);
    for (size_t i = 0; i < np; ++i) check_close("pooled", i, pooled[i], pooled2[i], 1e-5, 1e-5);
    /* With y as scratch: only pooled. */
    memset(pooled, 0, np * sizeof *pooled);
    tdl_conv2d_max_pool2d_forward_pooled(pooled, y, x, kernel, NULL, &d, &p, gc->batch, ws);
    for (size_t i = 0; i < np; ++i) check_close("pooled", i, pooled[i], pooled2[i], 1e-5, 1e-5);
    free(x);
    free(kernel);
    free(y);
    free(y2);
    free(pooled);
    free(pooled2);
    free(ws);
}

static int setup(void **state) {
    (void)state;
    lcg_state = 2026u;
    return 0;
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_depthwise_forward_same, setup),
        cmocka_unit_test_setup(test_depthwise_forward_multiplier, setup),
        cmocka_unit_test_setup(test_depthwise_forward_channel_tail, setup),
        cmocka_unit_test_setup(test_grouped_forward, setup),
        cmocka_unit_test_setup(test_depthwise_entry_points, setup),
        cmocka_unit_test_setup(test_set_groups_checks, setup),
        cmocka_unit_test_setup(test_depthwise_backward, setup),
        cmocka_unit_test_setup(test_grouped_backward, setup),
        cmocka_unit_test_setup(test_depthwise_threads_agree, setup),
        cmocka_unit_test_setup(test_separable, setup),
        cmocka_unit_test_setup(test_grouped_fused_pool, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
