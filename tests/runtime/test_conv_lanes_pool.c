/* conv_lanes_pool.c, first-layer conv2d with a 2x2 max pool in the
 * registers, against what it replaces: tdl_conv2d_forward then
 * tdl_max_pool2d_forward, bit for bit, pooled values and the unpooled
 * output (1-3 channels, 1-8 filters, odd and even sizes, vertical strides,
 * one to three blocks of lanes per row, relu and the identity, with and
 * without bias, 1-3 threads). Inputs with exact ties, infinities and NaN
 * check that a window's first maximum wins in pool.c's order, and a bias
 * of -0 that the sums start at +0 as conv_lanes.c's do. Then the public
 * tdl_conv2d_max_pool2d_forward, which takes the kernel when it can; the
 * layers and pools it declines, which keep the two kernels; training's
 * argmax, found in the registers beside the maxima, against
 * tdl_max_pool2d_forward_argmax's indices, bit for bit; and the BLAS path. On a CPU without AVX-512 the kernel declines
 * every call, and the public step is still checked.
 *
 * "Bit for bit": the same bits, or NaN in both. A NaN's sign and payload
 * depend on which operand of an addition the compiler names first when
 * both are NaN (inf - inf against a NaN input), which neither kernel fixes;
 * where a NaN is, and that pooling keeps it, is checked. */
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "conv_internal.h"
#include "automatic_path.h"
#include "float_arrays.h"
#include "tdl/runtime.h"

typedef struct pool_layer {
    int batch, in_h, in_w, in_c, filters, kernel_h, kernel_w, stride_h;
    tdl_padding padding;
} pool_layer;

/* LeNet's first layer and U-Net's; a row of three blocks of pooled lanes
 * (the last one partial); vertical stride 2; even and 1-wide kernels; one
 * and seven filters. Their windows cover the output exactly. */
static const pool_layer lenet_first = {3, 28, 28, 1, 6, 5, 5, 1, TDL_PADDING_SAME};
static const pool_layer unet_first = {2, 32, 32, 3, 8, 3, 3, 1, TDL_PADDING_SAME};
static const pool_layer wide_row = {2, 6, 70, 2, 5, 3, 5, 1, TDL_PADDING_SAME};
static const pool_layer strided_rows = {2, 13, 10, 2, 7, 3, 3, 2, TDL_PADDING_VALID};
static const pool_layer even_kernel = {3, 9, 11, 1, 4, 2, 4, 1, TDL_PADDING_VALID};
static const pool_layer pointwise = {2, 6, 34, 3, 2, 1, 1, 1, TDL_PADDING_VALID};
static const pool_layer one_filter = {4, 8, 8, 1, 1, 3, 3, 1, TDL_PADDING_SAME};
/* Enough images (and multiply-adds) for three threads. */
static const pool_layer lenet_batch = {29, 28, 28, 1, 6, 5, 5, 1, TDL_PADDING_SAME};
/* Odd outputs (9x11, 5x5, 7x33): the last row or column is in no window. */
static const pool_layer odd_valid = {2, 11, 13, 2, 3, 3, 3, 1, TDL_PADDING_VALID};
static const pool_layer odd_same = {3, 5, 5, 1, 8, 3, 3, 1, TDL_PADDING_SAME};
static const pool_layer odd_wide = {1, 7, 35, 3, 4, 1, 3, 1, TDL_PADDING_VALID};

static const pool_layer *const covered_layers[] = {&lenet_first, &wide_row,   &strided_rows, &even_kernel,
                                                   &pointwise,   &unet_first, &one_filter,   &lenet_batch};
static const pool_layer *const odd_layers[] = {&odd_valid, &odd_same, &odd_wide};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* Input values: uniform, or from a few values (many exact ties) with
 * infinities and NaN among them. */
typedef enum input_kind { INPUT_UNIFORM, INPUT_TIES_AND_NAN } input_kind;

/* The generator's next 24 bits (numeric_check.h's uniform draws the same way). */
static uint32_t next_random(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

/* Mostly -1, 0, 1 and 2 (so sums tie exactly), 1 in 20 NaN, 1 in 40 +inf or -inf. */
static float *tied_floats(size_t n) {
    static const float common[] = {-1.0f, 0.0f, 1.0f, 2.0f};
    float *v = floats_filled(n, 0.0f);
    for (size_t i = 0; i < n; ++i) {
        const uint32_t r = next_random() % 80;
        v[i] = r < 4 ? NAN : r == 4 ? INFINITY : r == 5 ? -INFINITY : common[r % 4];
    }
    return v;
}

/* Kernel taps of the tied inputs: 0, +-0.5 and 1, exact in any sum here. */
static float *tied_taps(size_t n) {
    static const float taps[] = {0.0f, 0.5f, -0.5f, 1.0f};
    float *v = floats_filled(n, 0.0f);
    for (size_t i = 0; i < n; ++i) v[i] = taps[next_random() % 4];
    return v;
}

static tdl_conv2d_desc conv_of(const pool_layer *l, tdl_activation activation) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, l->in_h, l->in_w, l->in_c, l->filters, l->kernel_h, l->kernel_w,
                                          l->stride_h, 1, 1, 1, l->padding),
                     TDL_STATUS_OK);
    d.activation = activation;
    return d;
}

static tdl_pool2d_desc pool_of(const tdl_conv2d_desc *d, int size, int stride, tdl_padding padding) {
    tdl_pool2d_desc p;
    assert_int_equal(tdl_pool2d_desc_init(&p, d->out_h, d->out_w, d->out_c, size, size, stride, stride, padding),
                     TDL_STATUS_OK);
    return p;
}

static size_t y_size(const tdl_conv2d_desc *d, int batch) {
    return (size_t)batch * (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c;
}

static size_t pooled_size(const tdl_pool2d_desc *p, int batch) {
    return (size_t)batch * (size_t)p->out_h * (size_t)p->out_w * (size_t)p->channels;
}

/* The same bits, or NaN in both (see the top). */
static void assert_same_values(const float *got, const float *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; ++i) {
        if (isnan(got[i]) && isnan(want[i])) continue;
        if (memcmp(&got[i], &want[i], sizeof got[i]) != 0)
            fail_msg("%s[%zu]: got %.9g, expected %.9g", what, i, (double)got[i], (double)want[i]);
    }
}

/* One layer's tensors and the two kernels' results. */
typedef struct pool_run {
    tdl_conv2d_desc conv;
    tdl_pool2d_desc pool;
    int batch;
    float *x, *kernel, *bias, *workspace;
    float *y_want, *pooled_want;
    int32_t *argmax_want;
    size_t ny, np, workspace_floats;
} pool_run;

/* The two kernels' results, into y_want, pooled_want and argmax_want. */
static void run_expect(pool_run *r) {
    tdl_conv2d_forward(r->y_want, r->x, r->kernel, r->bias, &r->conv, r->batch, r->workspace);
    tdl_max_pool2d_forward(r->pooled_want, r->y_want, &r->pool, r->batch);
    float *pooled_with_argmax = floats_filled(r->np, 7.0f);
    tdl_max_pool2d_forward_argmax(pooled_with_argmax, r->argmax_want, r->y_want, &r->pool, r->batch);
    assert_same_values(pooled_with_argmax, r->pooled_want, r->np, "pool.c's pooled values with and without argmax");
    free(pooled_with_argmax);
}

static pool_run run_new(const pool_layer *l, tdl_activation activation, bool with_bias, input_kind input,
                        int pool_size, int pool_stride, tdl_padding pool_padding) {
    pool_run r;
    r.conv = conv_of(l, activation);
    r.pool = pool_of(&r.conv, pool_size, pool_stride, pool_padding);
    r.batch = l->batch;
    const size_t nx = (size_t)l->batch * (size_t)l->in_h * (size_t)l->in_w * (size_t)l->in_c;
    const size_t nk = (size_t)l->kernel_h * (size_t)l->kernel_w * (size_t)l->in_c * (size_t)l->filters;
    const bool tied = input == INPUT_TIES_AND_NAN;
    r.x = tied ? tied_floats(nx) : floats_of(nx, -1.0f, 1.0f);
    r.kernel = tied ? tied_taps(nk) : floats_of(nk, -0.5f, 0.5f);
    r.bias = !with_bias ? NULL : tied ? tied_taps((size_t)l->filters) : floats_of((size_t)l->filters, -0.5f, 0.5f);
    r.ny = y_size(&r.conv, r.batch);
    r.np = pooled_size(&r.pool, r.batch);
    r.workspace_floats = tdl_conv2d_forward_workspace_size(&r.conv, r.batch);
    r.workspace = floats_filled(r.workspace_floats + 1, NAN);
    r.y_want = floats_filled(r.ny, 7.0f);
    r.pooled_want = floats_filled(r.np, 7.0f);
    r.argmax_want = calloc(r.np, sizeof *r.argmax_want);
    assert_non_null(r.argmax_want);
    run_expect(&r);
    return r;
}

/* n indices and a guard after them. */
static int32_t *indices_filled(size_t n, int32_t value) {
    int32_t *v = malloc((n + 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i <= n; ++i) v[i] = value;
    return v;
}

static void run_free(pool_run *r) {
    free(r->argmax_want);
    free(r->pooled_want);
    free(r->y_want);
    free(r->workspace);
    free(r->bias);
    free(r->kernel);
    free(r->x);
}

/* The fused kernel, with and without y, in scratch of exactly
 * conv_lanes_forward's size (NaN, so a lane read before it is written would
 * show), writes nothing past pooled, y or the scratch. covers: whether the
 * windows cover the output (else it takes only the call without y). Where
 * the kernel is not built or the CPU lacks AVX-512 it declines untouched. */
static void check_fused(const pool_run *r, bool covers) {
    const bool available = conv_lanes_pool_available();
    const size_t scratch_floats = conv_lanes_forward_scratch_size(&r->conv, r->batch);
    assert_true(scratch_floats > 0 && scratch_floats <= r->workspace_floats);
    float *scratch = floats_filled(scratch_floats + 1, NAN);
    scratch[scratch_floats] = 3.0f;
    float *pooled = floats_filled(r->np + 1, 7.0f), *y = floats_filled(r->ny + 1, 7.0f);
    const bool ran_alone = conv_lanes_max_pool_forward(pooled, NULL, NULL, r->x, r->kernel, r->bias, &r->conv,
                                                       &r->pool, r->batch, scratch);
    assert_true(ran_alone == available);
    if (available) assert_same_values(pooled, r->pooled_want, r->np, "pooled");
    assert_true(pooled[r->np] == 7.0f && scratch[scratch_floats] == 3.0f);
    for (size_t i = 0; i < r->np; ++i) pooled[i] = 7.0f;
    const bool ran = conv_lanes_max_pool_forward(pooled, NULL, y, r->x, r->kernel, r->bias, &r->conv, &r->pool,
                                                 r->batch, scratch);
    assert_true(ran == (covers && available));
    if (ran) {
        assert_same_values(pooled, r->pooled_want, r->np, "pooled beside y");
        assert_same_values(y, r->y_want, r->ny, "y");
    } else {
        for (size_t i = 0; i < r->np; ++i) assert_true(pooled[i] == 7.0f);
        for (size_t i = 0; i < r->ny; ++i) assert_true(y[i] == 7.0f);
    }
    assert_true(pooled[r->np] == 7.0f && y[r->ny] == 7.0f && scratch[scratch_floats] == 3.0f);
    /* Training's argmax, alone and beside y. */
    for (int with_y = 0; with_y <= 1; ++with_y) {
        int32_t *argmax = indices_filled(r->np, -7);
        for (size_t i = 0; i < r->np; ++i) pooled[i] = 7.0f;
        const bool ran_argmax = conv_lanes_max_pool_forward(pooled, argmax, with_y ? y : NULL, r->x, r->kernel,
                                                            r->bias, &r->conv, &r->pool, r->batch, scratch);
        assert_true(ran_argmax == (available && (covers || !with_y)));
        if (ran_argmax) {
            assert_same_values(pooled, r->pooled_want, r->np, "pooled beside argmax");
            assert_memory_equal(argmax, r->argmax_want, r->np * sizeof *argmax);
        } else {
            for (size_t i = 0; i < r->np; ++i) assert_true(pooled[i] == 7.0f && argmax[i] == -7);
        }
        assert_true(argmax[r->np] == -7 && pooled[r->np] == 7.0f && scratch[scratch_floats] == 3.0f);
        free(argmax);
    }
    free(y);
    free(pooled);
    free(scratch);
}

/* The public steps: the same pooled values, and y where it is an output,
 * whichever way they went. */
static void check_public(const pool_run *r) {
    float *pooled = floats_filled(r->np, 7.0f), *y = floats_filled(r->ny, 7.0f);
    tdl_conv2d_max_pool2d_forward(pooled, NULL, y, r->x, r->kernel, r->bias, &r->conv, &r->pool, r->batch,
                                  r->workspace);
    assert_same_values(pooled, r->pooled_want, r->np, "public pooled");
    assert_same_values(y, r->y_want, r->ny, "public y");
    for (size_t i = 0; i < r->np; ++i) pooled[i] = 7.0f;
    tdl_conv2d_max_pool2d_forward_pooled(pooled, y, r->x, r->kernel, r->bias, &r->conv, &r->pool, r->batch,
                                         r->workspace);
    assert_same_values(pooled, r->pooled_want, r->np, "public pooled, y scratch");
    /* Training's forms: with y an output, and with y scratch. */
    int32_t *argmax = indices_filled(r->np, -7);
    for (size_t i = 0; i < r->ny; ++i) y[i] = 7.0f;
    tdl_conv2d_max_pool2d_forward(pooled, argmax, y, r->x, r->kernel, r->bias, &r->conv, &r->pool, r->batch,
                                  r->workspace);
    assert_same_values(pooled, r->pooled_want, r->np, "public pooled with argmax");
    assert_same_values(y, r->y_want, r->ny, "public y with argmax");
    assert_memory_equal(argmax, r->argmax_want, r->np * sizeof *argmax);
    for (size_t i = 0; i < r->np; ++i) argmax[i] = -7;
    tdl_conv2d_max_pool2d_forward_argmax_pooled(pooled, argmax, y, r->x, r->kernel, r->bias, &r->conv, &r->pool,
                                                r->batch, r->workspace);
    assert_same_values(pooled, r->pooled_want, r->np, "public pooled with argmax, y scratch");
    assert_memory_equal(argmax, r->argmax_want, r->np * sizeof *argmax);
    assert_true(argmax[r->np] == -7);
    free(argmax);
    free(y);
    free(pooled);
}

static void check_layer(const pool_layer *l, bool covers, input_kind input) {
    static const tdl_activation activations[] = {TDL_ACTIVATION_RELU, TDL_ACTIVATION_LINEAR};
    for (size_t a = 0; a < COUNT(activations); ++a)
        for (int with_bias = 0; with_bias <= 1; ++with_bias) {
            pool_run r = run_new(l, activations[a], with_bias, input, 2, 2, TDL_PADDING_VALID);
            check_fused(&r, covers);
            check_public(&r);
            run_free(&r);
        }
}

/* On 1 to 3 threads, every layer whose windows cover the output. */
static void test_covered_outputs(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(covered_layers); ++k) check_layer(covered_layers[k], true, INPUT_UNIFORM);
    }
    tdl_set_num_threads(threads_before);
}

/* Odd outputs: pooled alone, and the public step keeps the two kernels for y. */
static void test_odd_outputs(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; threads += 2) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(odd_layers); ++k) check_layer(odd_layers[k], false, INPUT_UNIFORM);
    }
    tdl_set_num_threads(threads_before);
}

/* Exact ties, infinities and NaN: the window's first maximum in pool.c's
 * order, NaN kept only where it comes first, relu's NaN -> 0. */
static void test_ties_and_nan(void **state) {
    (void)state;
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t k = 0; k < COUNT(covered_layers); ++k) check_layer(covered_layers[k], true, INPUT_TIES_AND_NAN);
        for (size_t k = 0; k < COUNT(odd_layers); ++k) check_layer(odd_layers[k], false, INPUT_TIES_AND_NAN);
    }
    tdl_set_num_threads(threads_before);
}

/* The pointwise layer on tied inputs sees NaN at every place of a window:
 * the pooled NaN are where pool.c puts them, which is not everywhere a
 * window holds one (so the check above is not vacuous). */
static void test_nan_places(void **state) {
    (void)state;
    pool_run r = run_new(&pointwise, TDL_ACTIVATION_LINEAR, false, INPUT_TIES_AND_NAN, 2, 2, TDL_PADDING_VALID);
    size_t windows_with_nan = 0, pooled_nan = 0;
    const size_t c = (size_t)r.conv.out_c, w = (size_t)r.conv.out_w;
    for (size_t i = 0; i < r.np; ++i) {
        const size_t ch = i % c, pixel = i / c, pw = pixel % (size_t)r.pool.out_w;
        const size_t ph = pixel / (size_t)r.pool.out_w % (size_t)r.pool.out_h;
        const size_t b = pixel / ((size_t)r.pool.out_w * (size_t)r.pool.out_h);
        const float *top = r.y_want + ((b * (size_t)r.conv.out_h + 2 * ph) * w + 2 * pw) * c + ch;
        windows_with_nan += isnan(top[0]) || isnan(top[c]) || isnan(top[w * c]) || isnan(top[w * c + c]);
        pooled_nan += isnan(r.pooled_want[i]) != 0;
        assert_true((isnan(r.pooled_want[i]) != 0) == (isnan(top[0]) != 0));
    }
    assert_true(pooled_nan > 0 && windows_with_nan > pooled_nan);
    check_fused(&r, true);
    run_free(&r);
}

/* A bias of -0 and products of -0: conv_lanes.c starts every sum at 0 +
 * bias, so each value is +0, and so is each pooled value (a sum started at
 * -0 would stay -0). */
static void test_signed_zeros(void **state) {
    (void)state;
    pool_run r = run_new(&lenet_first, TDL_ACTIVATION_LINEAR, true, INPUT_UNIFORM, 2, 2, TDL_PADDING_VALID);
    const size_t nx = (size_t)r.batch * (size_t)r.conv.in_h * (size_t)r.conv.in_w * (size_t)r.conv.in_c;
    for (size_t i = 0; i < nx; ++i) r.x[i] = 0.5f + 0.5f * uniform(0.0f, 1.0f);
    for (size_t i = 0; i < conv_patch_size(&r.conv) * (size_t)r.conv.out_c; ++i) r.kernel[i] = -0.0f;
    for (int f = 0; f < r.conv.out_c; ++f) r.bias[f] = -0.0f;
    run_expect(&r);
    for (size_t i = 0; i < r.np; ++i) assert_false(signbit(r.pooled_want[i]) || r.pooled_want[i] != 0.0f);
    check_fused(&r, true);
    run_free(&r);
}

/* What it leaves to the two kernels: pools other than 2x2 at stride 2
 * without padding, other activations, layers conv_lanes.c does not take,
 * the BLAS path. Each declines untouched, and the public step still gives
 * the two kernels' results. */
static void test_declines(void **state) {
    (void)state;
    /* 3x3 windows at stride 2; 2x2 at stride 1; 'same' 2x2 windows on a 5x5 output (the last ones clipped). */
    const int pools[][3] = {{3, 2, TDL_PADDING_VALID}, {2, 1, TDL_PADDING_VALID}, {2, 2, TDL_PADDING_SAME}};
    for (size_t k = 0; k < COUNT(pools); ++k) {
        const pool_layer *l = pools[k][2] == TDL_PADDING_SAME ? &odd_same : &lenet_first;
        pool_run r = run_new(l, TDL_ACTIVATION_RELU, true, INPUT_UNIFORM, pools[k][0], pools[k][1],
                             (tdl_padding)pools[k][2]);
        float pooled = 5.0f;
        assert_false(conv_lanes_max_pool_forward(&pooled, NULL, NULL, r.x, r.kernel, r.bias, &r.conv, &r.pool,
                                                 r.batch, r.workspace));
        assert_true(pooled == 5.0f);
        check_public(&r);
        run_free(&r);
    }
    /* tanh; 9 filters (not conv_lanes.c's). */
    pool_run tanh_run = run_new(&lenet_first, TDL_ACTIVATION_TANH, true, INPUT_UNIFORM, 2, 2, TDL_PADDING_VALID);
    float pooled = 5.0f;
    assert_false(conv_lanes_max_pool_forward(&pooled, NULL, NULL, tanh_run.x, tanh_run.kernel, tanh_run.bias,
                                             &tanh_run.conv, &tanh_run.pool, tanh_run.batch, tanh_run.workspace));
    check_public(&tanh_run);
    run_free(&tanh_run);
    const pool_layer nine = {2, 8, 8, 1, 9, 3, 3, 1, TDL_PADDING_SAME};
    pool_run nine_run = run_new(&nine, TDL_ACTIVATION_RELU, true, INPUT_UNIFORM, 2, 2, TDL_PADDING_VALID);
    assert_false(conv_lanes_max_pool_forward(&pooled, NULL, NULL, nine_run.x, nine_run.kernel, nine_run.bias,
                                             &nine_run.conv, &nine_run.pool, nine_run.batch, nine_run.workspace));
    check_public(&nine_run);
    run_free(&nine_run);
    assert_true(pooled == 5.0f);
}

/* Training asks for the argmax: the public step on LeNet's layer with ties
 * and NaN gives tdl_max_pool2d_forward_argmax's pooled values and indices,
 * and a window's first maximum is not always its first element (so the
 * indices are checked on every place of a window). */
static void test_argmax_of_ties(void **state) {
    (void)state;
    pool_run r = run_new(&lenet_first, TDL_ACTIVATION_RELU, true, INPUT_TIES_AND_NAN, 2, 2, TDL_PADDING_VALID);
    float *pooled = floats_filled(r.np, 7.0f), *y = floats_filled(r.ny, 7.0f), *pooled_want = floats_filled(r.np, 7.0f);
    int32_t *argmax = calloc(r.np, sizeof *argmax), *argmax_want = calloc(r.np, sizeof *argmax_want);
    assert_true(argmax != NULL && argmax_want != NULL);
    tdl_max_pool2d_forward_argmax(pooled_want, argmax_want, r.y_want, &r.pool, r.batch);
    tdl_conv2d_max_pool2d_forward(pooled, argmax, y, r.x, r.kernel, r.bias, &r.conv, &r.pool, r.batch, r.workspace);
    assert_same_values(pooled, pooled_want, r.np, "pooled");
    assert_same_values(y, r.y_want, r.ny, "y");
    assert_memory_equal(argmax, argmax_want, r.np * sizeof *argmax);
    bool places[4] = {false};
    for (size_t i = 0; i < r.np; ++i) {
        const size_t pixel = i / (size_t)r.pool.channels, pw = pixel % (size_t)r.pool.out_w;
        const size_t ph = pixel / (size_t)r.pool.out_w % (size_t)r.pool.out_h;
        const int32_t first = (int32_t)(2 * ph * (size_t)r.conv.out_w + 2 * pw), at = argmax[i] - first;
        const int place = at == 0 ? 0 : at == 1 ? 1 : at == r.conv.out_w ? 2 : at == r.conv.out_w + 1 ? 3 : -1;
        assert_true(place >= 0);
        places[place] = true;
    }
    assert_true(places[0] && places[1] && places[2] && places[3]);
    free(argmax_want);
    free(argmax);
    free(pooled_want);
    free(y);
    free(pooled);
    run_free(&r);
}

/* The BLAS path: the kernel declines, and the public step matches the two
 * kernels on that path within rounding (its GEMMs depend on the batch). */
static void test_blas_path(void **state) {
    (void)state;
    const tdl_kernel_path path_before = tdl_get_kernel_path();
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    pool_run r = run_new(&lenet_first, TDL_ACTIVATION_RELU, true, INPUT_UNIFORM, 2, 2, TDL_PADDING_VALID);
    float pooled = 5.0f;
    const bool ran = conv_lanes_max_pool_forward(&pooled, NULL, NULL, r.x, r.kernel, r.bias, &r.conv, &r.pool,
                                                 r.batch, r.workspace);
    float *public_pooled = floats_filled(r.np, 7.0f), *y = floats_filled(r.ny, 7.0f);
    tdl_conv2d_max_pool2d_forward(public_pooled, NULL, y, r.x, r.kernel, r.bias, &r.conv, &r.pool, r.batch,
                                  r.workspace);
    tdl_set_kernel_path(path_before);
    assert_false(ran);
    assert_true(pooled == 5.0f);
    for (size_t i = 0; i < r.np; ++i)
        assert_true(fabsf(public_pooled[i] - r.pooled_want[i]) <= 1e-5f + 1e-5f * fabsf(r.pooled_want[i]));
    for (size_t i = 0; i < r.ny; ++i) assert_true(fabsf(y[i] - r.y_want[i]) <= 1e-5f + 1e-5f * fabsf(r.y_want[i]));
    free(y);
    free(public_pooled);
    run_free(&r);
}

int main(void) {
    lcg_state = 31u;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_covered_outputs),
        cmocka_unit_test(test_odd_outputs),
        cmocka_unit_test(test_ties_and_nan),
        cmocka_unit_test(test_nan_places),
        cmocka_unit_test(test_signed_zeros),
        cmocka_unit_test(test_declines),
        cmocka_unit_test(test_argmax_of_ties),
        cmocka_unit_test(test_blas_path),
    };
    return cmocka_run_group_tests(tests, choose_automatic_path, restore_path);
}
