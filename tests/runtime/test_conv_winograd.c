/* The Winograd F(2x2, 3x3) forward, input's gradient (conv_winograd.c) and
 * kernel's gradient (conv_winograd_filter.c)
 * against a direct double-precision reference: 'same' and 'valid', odd output sizes (tiles
 * cut by the border), channel and filter counts that are not multiples of a
 * vector, rows of more tiles than a block and blocks of many rows, each
 * activation kind, bias or none, a folded batch_norm; the public entry
 * point takes it first; 1 to 3 threads give the same bits, inside a
 * training step (one U shared) and outside it (a U per thread, in the
 * workspace as sized), and so does every batch of many blocks; a call of
 * few tiles (an image alone) gives the same bits on every thread count,
 * and its threads' shares of the filters together write every output;
 * scratch is written before it is read; nothing past y is written; the
 * layers it declines.
 *
 * Tolerance: the sums have up to 9 * 130 products of size ~0.25; a direct
 * float convolution lands within ~1e-6 of double here, the transforms add a
 * few roundings of intermediate sums of ~16 terms. 1e-4 absolute plus 1e-4
 * relative against double, and 2e-5 absolute plus 2e-5 relative against
 * the direct libxsmm convolution, which is what a user switching paths
 * would see. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "avx2_forms.h"
#include "conv_internal.h"
#include "automatic_path.h"
#include "team.h"
#include "float_arrays.h"
#include "input_gradient_threads.h"
#include "tdl/runtime.h"

typedef struct wino_case {
    int batch, in_h, in_w, in_c, filters;
    tdl_padding padding;
} wino_case;

static const wino_case cases[] = {
    {2, 8, 8, 32, 64, TDL_PADDING_SAME},     /* vgg_small's later layers, small */
    {3, 7, 9, 65, 66, TDL_PADDING_SAME},     /* odd outputs, ragged channel and filter chunks */
    {2, 13, 13, 32, 64, TDL_PADDING_VALID},  /* mnist_convnet's second layer: 11x11 output */
    {2, 3, 3, 64, 32, TDL_PADDING_VALID},    /* one output pixel */
    {1, 5, 150, 64, 72, TDL_PADDING_SAME},   /* 75 tiles a row: blocks end inside a row */
    {2, 6, 6, 130, 72, TDL_PADDING_SAME},    /* wide channels: blocks of few tiles */
    {2, 4, 5, 64, 33, TDL_PADDING_VALID},    /* 2x3 output: one tile row, half a tile */
    {2, 5, 6, 64, 65, TDL_PADDING_SAME},     /* odd input: the input gradient's last tiles cut */
    {2, 10, 10, 32, 32, TDL_PADDING_SAME},   /* vgg_small's 32 -> 32 layer, small */
};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))


static tdl_conv2d_desc desc_3x3(int in_h, int in_w, int in_c, int filters, tdl_padding padding,
                                tdl_activation activation) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, in_h, in_w, in_c, filters, 3, 3, 1, 1, 1, 1, padding), TDL_STATUS_OK);
    d.activation = activation;
    d.alpha = 0.1f;
    return d;
}

static tdl_conv2d_desc desc_of(const wino_case *wc, tdl_activation activation) {
    return desc_3x3(wc->in_h, wc->in_w, wc->in_c, wc->filters, wc->padding, activation);
}

static size_t x_size(const wino_case *wc) { return (size_t)wc->batch * wc->in_h * wc->in_w * wc->in_c; }
static size_t k_size(const wino_case *wc) { return (size_t)9 * wc->in_c * wc->filters; }
static size_t y_size(const tdl_conv2d_desc *d, int batch) { return (size_t)batch * d->out_h * d->out_w * d->out_c; }

/* f(conv(x) + bias) * scale + shift in double, pixel by pixel. */
static double *reference_y(const float *x, const float *kernel, const float *bias, const float *scale,
                           const float *shift, const tdl_conv2d_desc *d, int batch) {
    double *y = calloc(y_size(d, batch), sizeof *y);
    assert_non_null(y);
    size_t at = 0;
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int f = 0; f < d->out_c; ++f, ++at) {
                    double z = bias != NULL ? bias[f] : 0.0;
                    for (int kh = 0; kh < 3; ++kh)
                        for (int kw = 0; kw < 3; ++kw) {
                            const int ih = oh + kh - d->pad_top, iw = ow + kw - d->pad_left;
                            if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) continue;
                            for (int c = 0; c < d->in_c; ++c)
                                z += (double)x[(((size_t)b * d->in_h + ih) * d->in_w + iw) * d->in_c + c] *
                                     kernel[(((size_t)kh * 3 + kw) * d->in_c + c) * d->out_c + f];
                        }
                    switch (d->activation) {
                    case TDL_ACTIVATION_RELU: z = z > 0.0 ? z : 0.0; break;
                    case TDL_ACTIVATION_TANH: z = tanh(z); break;
                    case TDL_ACTIVATION_LEAKY_RELU: z = z > 0.0 ? z : d->alpha * z; break;
                    default: break;
                    }
                    if (scale != NULL) z = z * scale[f] + shift[f];
                    y[at] = z;
                }
    return y;
}

static void assert_near(double got, double want, double tolerance, const char *what, size_t i) {
    if (!(fabs(got - want) <= tolerance * (1.0 + fabs(want))))
        fail_msg("%s[%zu]: got %.8g, expected %.8g", what, i, got, want);
}

/* A gradient added to `before`: got[i] against before[i] + want[i] (double). */
static void assert_added(const float *got, const float *before, const double *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; ++i) assert_near(got[i], (double)before[i] + want[i], 1e-4, what, i);
}

/* got against another float computation of the same sums. */
static void assert_all_near(const float *got, const float *other, size_t n, double tolerance, const char *what) {
    for (size_t i = 0; i < n; ++i) assert_near(got[i], other[i], tolerance, what, i);
}

/* A fresh copy of n floats, with `extra` more after them set to 7. */
static float *copy_of(const float *from, size_t n, size_t extra) {
    float *to = malloc((n + extra) * sizeof *to);
    assert_non_null(to);
    memcpy(to, from, n * sizeof *to);
    for (size_t i = n; i < n + extra; ++i) to[i] = 7.0f;
    return to;
}

/* The tensors of one case. */
typedef struct operands {
    float *x, *kernel, *bias, *scale, *shift;
} operands;

static operands operands_of(const wino_case *wc, bool with_bias, bool with_affine) {
    operands o;
    o.x = floats_of(x_size(wc), -1.0f, 1.0f);
    o.kernel = floats_of(k_size(wc), -0.5f, 0.5f);
    o.bias = with_bias ? floats_of((size_t)wc->filters, -0.5f, 0.5f) : NULL;
    o.scale = with_affine ? floats_of((size_t)wc->filters, 0.5f, 1.5f) : NULL;
    o.shift = with_affine ? floats_of((size_t)wc->filters, -0.5f, 0.5f) : NULL;
    return o;
}

static void operands_free(operands *o) {
    free(o->x);
    free(o->kernel);
    free(o->bias);
    free(o->scale);
    free(o->shift);
}

/* conv_winograd_forward runs with NaN scratch, matches the reference and
 * the direct libxsmm convolution, writes nothing past y; the public entry
 * gives the same bits. */
static void check_case(const wino_case *wc, tdl_activation activation, bool with_bias, bool with_affine) {
    const tdl_conv2d_desc d = desc_of(wc, activation);
    operands o = operands_of(wc, with_bias, with_affine);
    const size_t ny = y_size(&d, wc->batch);
    const size_t scratch_floats = conv_winograd_forward_scratch_size(&d, wc->batch);
    assert_true(scratch_floats > 0);
    assert_true(scratch_floats <= tdl_conv2d_forward_workspace_size(&d, wc->batch));
    assert_true(scratch_floats <= tdl_conv2d_workspace_size(&d, wc->batch));
    float *scratch = floats_filled(scratch_floats, NAN);
    float *y = floats_filled(ny + 8, 7.0f);
    assert_true(conv_winograd_forward(y, o.x, o.kernel, o.bias, o.scale, o.shift, &d, wc->batch, scratch));
    for (size_t i = ny; i < ny + 8; ++i) assert_true(y[i] == 7.0f);

    double *want = reference_y(o.x, o.kernel, o.bias, o.scale, o.shift, &d, wc->batch);
    for (size_t i = 0; i < ny; ++i) assert_near(y[i], want[i], 1e-4, "y", i);

    float *direct = floats_filled(ny, 7.0f);
    float *direct_scratch = floats_filled(conv_xsmm_forward_scratch_size(&d, wc->batch) + 1, NAN);
    assert_true(conv_xsmm_forward(direct, o.x, o.kernel, o.bias, o.scale, o.shift, &d, wc->batch, direct_scratch));
    for (size_t i = 0; i < ny; ++i) assert_near(y[i], direct[i], 2e-5, "y against direct", i);

    float *workspace = floats_filled(tdl_conv2d_forward_workspace_size(&d, wc->batch), NAN);
    float *public_y = floats_filled(ny, 7.0f);
    if (with_affine)
        tdl_conv2d_affine_forward(public_y, o.x, o.kernel, o.bias, o.scale, o.shift, &d, wc->batch, workspace);
    else
        tdl_conv2d_forward(public_y, o.x, o.kernel, o.bias, &d, wc->batch, workspace);
    assert_memory_equal(public_y, y, ny * sizeof *y);

    free(public_y);
    free(workspace);
    free(direct_scratch);
    free(direct);
    free(want);
    free(y);
    free(scratch);
    operands_free(&o);
}

static void test_matches_reference(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    static const tdl_activation activations[] = {TDL_ACTIVATION_LINEAR, TDL_ACTIVATION_RELU, TDL_ACTIVATION_TANH,
                                                 TDL_ACTIVATION_LEAKY_RELU};
    for (size_t i = 0; i < COUNT(cases); ++i)
        for (size_t a = 0; a < COUNT(activations); ++a) check_case(&cases[i], activations[a], a % 2 == 0, false);
}

static void test_bias_and_folded_batch_norm(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    for (size_t i = 0; i < COUNT(cases); ++i) {
        check_case(&cases[i], TDL_ACTIVATION_RELU, true, true);
        check_case(&cases[i], TDL_ACTIVATION_LINEAR, false, true);
    }
}

/* Every thread count, inside a training step and outside it, gives the
 * same bits; the workspace as sized holds every thread's own U (two threads
 * outside a training step), and the threads' own copies are made before
 * they are read (the workspace starts as NaN). An image alone is a call of
 * few tiles: its GEMMs take a piece of the filters each, which may add the
 * channels in another order than the batch's GEMMs over all of them, so it
 * matches the batch within a float rounding, and its bits do not depend on
 * the thread count either. */
static void test_same_bits_for_threads_and_batches(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    /* 37 MFLOP of Winograd products: enough for two threads (16 a thread). */
    const wino_case wc = {12, 10, 12, 40, 80, TDL_PADDING_SAME};
    const tdl_conv2d_desc d = desc_of(&wc, TDL_ACTIVATION_RELU);
    operands o = operands_of(&wc, true, false);
    const size_t ny = y_size(&d, wc.batch), per_image_y = ny / (size_t)wc.batch;
    const size_t per_image_x = x_size(&wc) / (size_t)wc.batch;
    const size_t workspace_floats = tdl_conv2d_forward_workspace_size(&d, wc.batch);
    float *workspace = floats_filled(workspace_floats + 1, NAN);
    float *first = floats_filled(ny, 7.0f), *again = floats_filled(ny, 7.0f);
    const int saved = tdl_get_num_threads();
    tdl_set_num_threads(1);
    tdl_conv2d_forward(first, o.x, o.kernel, o.bias, &d, wc.batch, workspace);
    for (int training = 0; training <= 1; ++training) {
        tdl_team_set_training_step(training == 1);
        for (int threads = 2; threads <= 3; ++threads) {
            for (size_t i = 0; i <= workspace_floats; ++i) workspace[i] = NAN;
            tdl_set_num_threads(threads);
            memset(again, 0, ny * sizeof *again);
            tdl_conv2d_forward(again, o.x, o.kernel, o.bias, &d, wc.batch, workspace);
            assert_memory_equal(again, first, ny * sizeof *first);
            assert_true(isnan(workspace[workspace_floats]));
        }
    }
    tdl_team_set_training_step(false);
    /* The kernel alone, in exactly the scratch it asks for. */
    enum { GUARD = 16 };
    const size_t scratch_floats = conv_winograd_forward_scratch_size(&d, wc.batch);
    float *scratch = floats_filled(scratch_floats + GUARD, NAN);
    tdl_set_num_threads(2);
    memset(again, 0, ny * sizeof *again);
    assert_true(conv_winograd_forward(again, o.x, o.kernel, o.bias, NULL, NULL, &d, wc.batch, scratch));
    assert_memory_equal(again, first, ny * sizeof *first);
    for (size_t i = scratch_floats; i < scratch_floats + GUARD; ++i) assert_true(isnan(scratch[i]));
    free(scratch);
    /* Image 3 alone. */
    float *alone = floats_filled(per_image_y, 7.0f);
    tdl_set_num_threads(1);
    tdl_conv2d_forward(alone, o.x + 3 * per_image_x, o.kernel, o.bias, &d, 1, workspace);
    for (size_t i = 0; i < per_image_y; ++i) assert_near(alone[i], first[3 * per_image_y + i], 2e-6, "alone", i);
    for (int threads = 2; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        memset(again, 0, per_image_y * sizeof *again);
        tdl_conv2d_forward(again, o.x + 3 * per_image_x, o.kernel, o.bias, &d, 1, workspace);
        assert_memory_equal(again, alone, per_image_y * sizeof *alone);
    }
    tdl_set_num_threads(saved);
    free(alone);
    free(again);
    free(first);
    free(workspace);
    operands_free(&o);
}

/* An image that is one block alone (vgg_small's 8x8x128 -> 128 at batch
 * 1), on one thread and on two: the same bits on both, the batch's values
 * within a float rounding, the reference's values, nothing written past
 * the workspace sized for it. */
static void test_lone_block(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    const wino_case wc = {3, 8, 8, 128, 128, TDL_PADDING_SAME};
    const tdl_conv2d_desc d = desc_of(&wc, TDL_ACTIVATION_RELU);
    operands o = operands_of(&wc, true, false);
    const size_t ny = y_size(&d, wc.batch), per_image_y = ny / (size_t)wc.batch;
    const size_t per_image_x = x_size(&wc) / (size_t)wc.batch;
    const int saved = tdl_get_num_threads();
    tdl_set_num_threads(1);
    const size_t alone_floats = tdl_conv2d_forward_workspace_size(&d, 1);
    float *workspace = floats_filled(tdl_conv2d_forward_workspace_size(&d, wc.batch), NAN);
    float *alone_workspace = floats_filled(alone_floats + 1, NAN);
    float *batched = floats_filled(ny, 7.0f), *alone = floats_filled(per_image_y + 1, 7.0f);
    float *on_one = floats_filled(per_image_y, 7.0f);
    tdl_conv2d_forward(batched, o.x, o.kernel, o.bias, &d, wc.batch, workspace);
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        memset(alone, 0, per_image_y * sizeof *alone);
        alone[per_image_y] = 7.0f;
        tdl_conv2d_forward(alone, o.x + per_image_x, o.kernel, o.bias, &d, 1, alone_workspace);
        for (size_t i = 0; i < per_image_y; ++i)
            assert_near(alone[i], batched[per_image_y + i], 2e-6, "alone", i);
        if (threads == 1) memcpy(on_one, alone, per_image_y * sizeof *alone);
        assert_memory_equal(alone, on_one, per_image_y * sizeof *alone);
        assert_true(alone[per_image_y] == 7.0f);
        assert_true(isnan(alone_workspace[alone_floats]));
    }
    free(on_one);
    tdl_set_num_threads(saved);
    double *want = reference_y(o.x, o.kernel, o.bias, NULL, NULL, &d, wc.batch);
    for (size_t i = 0; i < ny; ++i) assert_near(batched[i], want[i], 1e-4, "y", i);
    free(want);
    free(alone);
    free(batched);
    free(alone_workspace);
    free(workspace);
    operands_free(&o);
}

/* The chain rule through a 3x3 stride-1 convolution, in double, for every
 * pairing of an output pixel, a tap and the input pixel under it: dx (when
 * not NULL) += dy * kernel, dkernel (when not NULL) += x * dy. */
static void reference_backward(double *dx, double *dkernel, const float *x, const float *kernel, const float *dy,
                               const tdl_conv2d_desc *d, int batch) {
    for (int b = 0; b < batch; ++b)
        for (int oh = 0; oh < d->out_h; ++oh)
            for (int ow = 0; ow < d->out_w; ++ow)
                for (int kh = 0; kh < 3; ++kh)
                    for (int kw = 0; kw < 3; ++kw) {
                        const int ih = oh + kh - d->pad_top, iw = ow + kw - d->pad_left;
                        if (ih < 0 || ih >= d->in_h || iw < 0 || iw >= d->in_w) continue;
                        const size_t in = (((size_t)b * d->in_h + ih) * d->in_w + iw) * d->in_c;
                        const size_t out = (((size_t)b * d->out_h + oh) * d->out_w + ow) * d->out_c;
                        const size_t tap = ((size_t)kh * 3 + kw) * d->in_c * d->out_c;
                        for (int c = 0; c < d->in_c; ++c)
                            for (int f = 0; f < d->out_c; ++f) {
                                const size_t k = tap + (size_t)c * d->out_c + f;
                                if (dx != NULL) dx[in + c] += (double)dy[out + f] * kernel[k];
                                if (dkernel != NULL) dkernel[k] += (double)x[in + c] * dy[out + f];
                            }
                    }
}

/* dx = the sum over output pixels and taps of dy * kernel, in double. */
static double *reference_dx(const float *kernel, const float *dy, const tdl_conv2d_desc *d, int batch) {
    double *dx = calloc((size_t)batch * d->in_h * d->in_w * d->in_c, sizeof *dx);
    assert_non_null(dx);
    reference_backward(dx, NULL, NULL, kernel, dy, d, batch);
    return dx;
}

/* The input's gradient: added to what dx holds, against the reference and
 * the direct libxsmm kernel; the public entry takes it first; every thread
 * count gives the same bits. */
static void check_input_gradient(const wino_case *wc) {
    const tdl_conv2d_desc d = desc_of(wc, TDL_ACTIVATION_LINEAR);
    const size_t nx = x_size(wc), ny = y_size(&d, wc->batch);
    float *kernel = floats_of(k_size(wc), -0.5f, 0.5f), *dy = floats_of(ny, -1.0f, 1.0f);
    float *before = floats_of(nx, -1.0f, 1.0f);
    const size_t scratch_floats = conv_winograd_scratch_size(&d, wc->batch);
    assert_true(scratch_floats > 0);
    const size_t workspace_floats = tdl_conv2d_workspace_size(&d, wc->batch);
    assert_true(ny + scratch_floats <= workspace_floats);
    float *scratch = floats_filled(scratch_floats, NAN);
    float *dx = copy_of(before, nx, 8);
    assert_true(conv_winograd_backprop_input(dx, kernel, dy, &d, wc->batch, scratch));
    for (size_t i = nx; i < nx + 8; ++i) assert_true(dx[i] == 7.0f);

    double *want = reference_dx(kernel, dy, &d, wc->batch);
    assert_added(dx, before, want, nx, "dx");

    float *direct = copy_of(before, nx, 0);
    float *direct_scratch = floats_filled(workspace_floats, NAN);
    assert_true(conv_xsmm_backprop_input(direct, kernel, dy, &d, wc->batch, direct_scratch));
    assert_all_near(dx, direct, nx, 2e-5, "dx against direct");

    assert_input_gradient_on_1_to_3_threads(kernel, dy, &d, wc->batch, before, dx, nx);

    free(direct_scratch);
    free(direct);
    free(want);
    free(dx);
    free(scratch);
    free(before);
    free(dy);
    free(kernel);
}

/* A 'valid' layer's input gradient (a full convolution), and one with
 * fewer than 64 channels or filters, stays direct. */
static void check_input_gradient_declined(const wino_case *wc) {
    const tdl_conv2d_desc d = desc_of(wc, TDL_ACTIVATION_LINEAR);
    const size_t nx = x_size(wc), ny = y_size(&d, wc->batch);
    float *kernel = floats_of(k_size(wc), -0.5f, 0.5f), *dy = floats_of(ny, -1.0f, 1.0f);
    float *dx = floats_filled(nx, 7.0f);
    const size_t scratch_floats = conv_winograd_scratch_size(&d, wc->batch);
    const size_t forward = conv_winograd_forward_scratch_size(&d, wc->batch);
    const size_t filter = conv_winograd_filter_scratch_size(&d, wc->batch);
    assert_int_equal(scratch_floats, forward > filter ? forward : filter);
    float *scratch = floats_filled(scratch_floats, NAN);
    assert_false(conv_winograd_backprop_input(dx, kernel, dy, &d, wc->batch, scratch));
    for (size_t i = 0; i < nx; ++i) assert_true(dx[i] == 7.0f);
    free(scratch);
    free(dx);
    free(dy);
    free(kernel);
}

static void test_input_gradient(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    for (size_t i = 0; i < COUNT(cases); ++i) {
        if (cases[i].padding == TDL_PADDING_SAME && cases[i].in_c >= 32 && cases[i].filters >= 32)
            check_input_gradient(&cases[i]);
        else
            check_input_gradient_declined(&cases[i]);
    }
}

/* dkernel = the sum over images, output pixels and taps of x * dy, in
 * double. */
static double *reference_dkernel(const float *x, const float *dy, const tdl_conv2d_desc *d, int batch) {
    double *dk = calloc((size_t)9 * d->in_c * d->out_c, sizeof *dk);
    assert_non_null(dk);
    reference_backward(NULL, dk, x, NULL, dy, d, batch);
    return dk;
}

/* The kernel's gradient on one thread, in exactly the scratch it asks for
 * (NaN, so that a read before a write shows): added to what dkernel holds,
 * against the reference and the direct libxsmm kernel; nothing written
 * past the scratch; the public entry takes it first. */
static void check_filter_gradient(const wino_case *wc) {
    enum { GUARD = 16 };
    const tdl_conv2d_desc d = desc_of(wc, TDL_ACTIVATION_LINEAR);
    const size_t nx = x_size(wc), ny = y_size(&d, wc->batch), nk = k_size(wc);
    float *x = floats_of(nx, -1.0f, 1.0f), *dy = floats_of(ny, -1.0f, 1.0f);
    float *before = floats_of(nk, -1.0f, 1.0f);
    const size_t scratch_floats = conv_winograd_filter_scratch_size(&d, wc->batch);
    assert_true(scratch_floats > 0);
    assert_true(scratch_floats <= conv_winograd_scratch_size(&d, wc->batch));
    const size_t workspace_floats = tdl_conv2d_workspace_size(&d, wc->batch);
    assert_true(ny + scratch_floats <= workspace_floats);
    float *scratch = floats_filled(scratch_floats + GUARD, NAN);
    float *dk = copy_of(before, nk, 0);
    const int saved = tdl_get_num_threads();
    tdl_set_num_threads(1);
    assert_true(conv_winograd_backprop_filter(dk, x, dy, &d, wc->batch, scratch));
    for (size_t i = scratch_floats; i < scratch_floats + GUARD; ++i) assert_true(isnan(scratch[i]));

    double *want = reference_dkernel(x, dy, &d, wc->batch);
    assert_added(dk, before, want, nk, "dkernel");

    float *direct = copy_of(before, nk, 0);
    float *workspace = floats_filled(workspace_floats, NAN);
    assert_true(conv_xsmm_backprop_filter(direct, x, dy, &d, wc->batch, workspace));
    assert_all_near(dk, direct, nk, 2e-5, "dkernel against direct");

    memcpy(direct, before, nk * sizeof *direct);
    tdl_conv2d_backprop_filter(direct, x, dy, &d, wc->batch, workspace);
    assert_memory_equal(direct, dk, nk * sizeof *dk);
    tdl_set_num_threads(saved);

    free(workspace);
    free(direct);
    free(want);
    free(dk);
    free(scratch);
    free(before);
    free(dy);
    free(x);
}

static void test_filter_gradient(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    for (size_t i = 0; i < COUNT(cases); ++i) check_filter_gradient(&cases[i]);
}

/* Several threads take shares of the tiles, each into a dU of its own,
 * added in thread order: a thread count gives the same bits every time,
 * and another count the same sums within float roundings (1e-4, as
 * against double: sums of 1536 products of either sign, grouped anew); in
 * the scratch asked for (NaN, so that a read before a write shows),
 * nothing past it written. vgg_small's 64 -> 64 layer, and 32 -> 32, whose dU is small. */
static void check_filter_gradient_threads(const wino_case *wc) {
    enum { GUARD = 16 };
    const tdl_conv2d_desc d = desc_of(wc, TDL_ACTIVATION_LINEAR);
    const size_t nx = x_size(wc), ny = y_size(&d, wc->batch), nk = k_size(wc);
    float *x = floats_of(nx, -1.0f, 1.0f), *dy = floats_of(ny, -1.0f, 1.0f);
    const size_t scratch_floats = conv_winograd_filter_scratch_size(&d, wc->batch);
    float *scratch = floats_filled(scratch_floats + GUARD, NAN);
    float *alone = floats_filled(nk, 0.0f), *first = floats_filled(nk, 0.0f), *again = floats_filled(nk, 0.0f);
    const int saved = tdl_get_num_threads();
    tdl_set_num_threads(1);
    assert_true(conv_winograd_backprop_filter(alone, x, dy, &d, wc->batch, scratch));
    for (int threads = 2; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (int run = 0; run < 2; ++run) {
            float *into = run == 0 ? first : again;
            for (size_t i = 0; i < scratch_floats; ++i) scratch[i] = NAN;
            memset(into, 0, nk * sizeof *into);
            assert_true(conv_winograd_backprop_filter(into, x, dy, &d, wc->batch, scratch));
            for (size_t i = scratch_floats; i < scratch_floats + GUARD; ++i) assert_true(isnan(scratch[i]));
        }
        assert_memory_equal(again, first, nk * sizeof *first);
        assert_all_near(first, alone, nk, 1e-4, "threads against one");
    }
    tdl_set_num_threads(saved);
    free(again);
    free(first);
    free(alone);
    free(scratch);
    free(dy);
    free(x);
}

static void test_filter_gradient_threads(void **state) {
    (void)state;
    if (!tdl_xsmm_available()) skip();
    /* 2 * 16 * 384 tiles * 64 * 64 = 50 MFLOP, and 52 MFLOP: enough for two
     * threads (16 a thread). */
    const wino_case wide = {6, 16, 16, 64, 64, TDL_PADDING_SAME}, narrow = {64, 10, 10, 32, 32, TDL_PADDING_SAME};
    check_filter_gradient_threads(&wide);
    check_filter_gradient_threads(&narrow);
}

/* What it leaves to the other paths: other kernel sizes, strides,
 * dilations, fewer than 32 channels or filters,
 * groups, the BLAS path. y untouched, no scratch asked for. */
/* The transforms' AVX2 forms (8 lanes, avx2_forms.h) on any CPU with AVX2:
 * the forward with relu and a bias, the input's gradient and the kernel's
 * gradient through the public entry points, bit for bit against the forms
 * the CPU takes by itself. */
static void test_avx2_forms_same_bits(void **state) {
    (void)state;
    if (!tdl_avx2_forms_available() || !tdl_xsmm_available()) skip();
    for (size_t c = 0; c < COUNT(cases); ++c) {
        const wino_case *wc = &cases[c];
        const tdl_conv2d_desc d = desc_of(wc, TDL_ACTIVATION_RELU);
        operands o = operands_of(wc, true, false);
        const size_t nx = x_size(wc), ny = y_size(&d, wc->batch), nk = k_size(wc);
        float *dy = floats_of(ny, -1.0f, 1.0f);
        float *workspace = floats_filled(tdl_conv2d_workspace_size(&d, wc->batch), NAN);
        float *y[2], *dx[2], *dk[2];
        for (int form = 0; form < 2; ++form) {
            tdl_prefer_avx2_forms(form == 1);
            y[form] = floats_filled(ny, 0.0f);
            dx[form] = floats_filled(nx, 0.25f);
            dk[form] = floats_filled(nk, 0.5f);
            tdl_conv2d_forward(y[form], o.x, o.kernel, o.bias, &d, wc->batch, workspace);
            tdl_conv2d_backprop_input(dx[form], o.kernel, dy, &d, wc->batch, workspace);
            tdl_conv2d_backprop_filter(dk[form], o.x, dy, &d, wc->batch, workspace);
        }
        tdl_prefer_avx2_forms(false);
        assert_memory_equal(y[0], y[1], ny * sizeof(float));
        assert_memory_equal(dx[0], dx[1], nx * sizeof(float));
        assert_memory_equal(dk[0], dk[1], nk * sizeof(float));
        for (int form = 0; form < 2; ++form) {
            free(y[form]);
            free(dx[form]);
            free(dk[form]);
        }
        free(workspace);
        free(dy);
        operands_free(&o);
    }
}

static void test_declines(void **state) {
    (void)state;
    tdl_conv2d_desc declined[7];
    assert_int_equal(tdl_conv2d_desc_init(&declined[0], 8, 8, 64, 64, 5, 5, 1, 1, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_init(&declined[1], 8, 8, 64, 64, 3, 3, 2, 2, 1, 1, TDL_PADDING_SAME), 0);
    assert_int_equal(tdl_conv2d_desc_init(&declined[2], 8, 8, 64, 64, 3, 3, 1, 1, 2, 2, TDL_PADDING_SAME), 0);
    declined[3] = desc_3x3(8, 8, 3, 32, TDL_PADDING_SAME, TDL_ACTIVATION_RELU);
    declined[4] = desc_3x3(8, 8, 64, 8, TDL_PADDING_SAME, TDL_ACTIVATION_RELU);
    declined[5] = desc_3x3(8, 8, 64, 64, TDL_PADDING_SAME, TDL_ACTIVATION_RELU);
    assert_int_equal(tdl_conv2d_desc_set_groups(&declined[5], 2), TDL_STATUS_OK);
    declined[6] = desc_3x3(8, 8, 31, 64, TDL_PADDING_SAME, TDL_ACTIVATION_RELU);
    float *x = floats_of(8 * 8 * 64, -1.0f, 1.0f), *kernel = floats_of(25 * 64 * 64, -0.5f, 0.5f);
    float *y = floats_filled(8 * 8 * 64, 7.0f), scratch[16] = {0};
    for (size_t i = 0; i < COUNT(declined); ++i) {
        assert_int_equal(conv_winograd_forward_scratch_size(&declined[i], 1), 0);
        assert_int_equal(conv_winograd_scratch_size(&declined[i], 1), 0);
        assert_false(conv_winograd_forward(y, x, kernel, NULL, NULL, NULL, &declined[i], 1, scratch));
        assert_false(conv_winograd_backprop_input(y, kernel, x, &declined[i], 1, scratch));
        assert_int_equal(conv_winograd_filter_scratch_size(&declined[i], 1), 0);
        assert_false(conv_winograd_backprop_filter(kernel, x, y, &declined[i], 1, scratch));
    }
    const tdl_conv2d_desc suited = desc_3x3(8, 8, 64, 64, TDL_PADDING_SAME, TDL_ACTIVATION_RELU);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    assert_false(conv_winograd_forward(y, x, kernel, NULL, NULL, NULL, &suited, 1, scratch));
    assert_false(conv_winograd_backprop_input(y, kernel, x, &suited, 1, scratch));
    assert_false(conv_winograd_backprop_filter(kernel, x, y, &suited, 1, scratch));
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    for (size_t i = 0; i < 8 * 8 * 64; ++i) assert_true(y[i] == 7.0f);
    free(y);
    free(kernel);
    free(x);
}

int main(void) {
    lcg_state = 2024u;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matches_reference),
        cmocka_unit_test(test_bias_and_folded_batch_norm),
        cmocka_unit_test(test_same_bits_for_threads_and_batches),
        cmocka_unit_test(test_lone_block),
        cmocka_unit_test(test_input_gradient),
        cmocka_unit_test(test_filter_gradient),
        cmocka_unit_test(test_filter_gradient_threads),
        cmocka_unit_test(test_avx2_forms_same_bits),
        cmocka_unit_test(test_declines),
    };
    return cmocka_run_group_tests(tests, choose_automatic_path, restore_path);
}
