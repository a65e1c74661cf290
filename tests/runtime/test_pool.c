/* Pooling: descriptor arithmetic, forward against a direct reference over an
 * explicitly padded input, backward against central finite differences, and the
 * tie rules (max pool: first maximum; global max: shared equally).
 *
 * Tolerances: forward sums have at most a dozen terms, so 1e-5 absolute plus
 * 1e-5 relative against double references. Finite differences step by 1e-2 in
 * float and divide by the step actually taken; the loss sum(y * g) is
 * accumulated in double; pooling is piecewise linear and the max-pool inputs are
 * distinct multiples of 0.05, so a step never changes which element wins and the
 * quotient is exact up to rounding: 1e-3 absolute plus 1e-3 relative. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

typedef struct pool_case {
    int batch, in_h, in_w, channels, pool_h, pool_w, stride_h, stride_w;
    tdl_padding padding;
} pool_case;

typedef enum pool_kind { POOL_MAX, POOL_AVG, POOL_GLOBAL_MAX, POOL_GLOBAL_AVG } pool_kind;

static uint32_t lcg_state = 99u;
static uint32_t test_next(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lcg_state >> 8;
}

static float *zero_floats(size_t n) {
    float *v = calloc(n, sizeof *v);
    assert_non_null(v);
    return v;
}

static float *random_floats(size_t n) {
    float *v = zero_floats(n);
    for (size_t i = 0; i < n; ++i) v[i] = (float)test_next() / 16777216.0f * 2.0f - 1.0f;
    return v;
}

/* Distinct values 0.05 apart in a random order, so no max is within a step of another. */
static float *distinct_floats(size_t n) {
    float *v = zero_floats(n);
    for (size_t i = 0; i < n; ++i) v[i] = 0.05f * (float)i - 0.025f * (float)n;
    for (size_t i = n; i > 1; --i) {
        const size_t j = test_next() % i;
        const float t = v[i - 1];
        v[i - 1] = v[j];
        v[j] = t;
    }
    return v;
}

typedef struct reference_geometry {
    int out_h, out_w, pad_top, pad_left, pad_bottom, pad_right;
} reference_geometry;

static void reference_axis(int in, int k, int s, tdl_padding padding, int *out, int *before, int *after) {
    if (padding == TDL_PADDING_VALID) {
        *out = (int)floor((double)(in - k) / s) + 1;
        *before = *after = 0;
        return;
    }
    *out = (int)ceil((double)in / s);
    int total = (*out - 1) * s + k - in;
    if (total < 0) total = 0;
    *before = total / 2;
    *after = total - *before;
}

static reference_geometry geometry_of(const pool_case *pc) {
    reference_geometry g;
    reference_axis(pc->in_h, pc->pool_h, pc->stride_h, pc->padding, &g.out_h, &g.pad_top, &g.pad_bottom);
    reference_axis(pc->in_w, pc->pool_w, pc->stride_w, pc->padding, &g.out_w, &g.pad_left, &g.pad_right);
    return g;
}

static tdl_pool2d_desc make_desc(const pool_case *pc) {
    tdl_pool2d_desc d;
    assert_int_equal(tdl_pool2d_desc_init(&d, pc->in_h, pc->in_w, pc->channels, pc->pool_h, pc->pool_w,
                                          pc->stride_h, pc->stride_w, pc->padding),
                     TDL_STATUS_OK);
    return d;
}

static size_t input_size(const pool_case *pc) {
    return (size_t)pc->batch * pc->in_h * pc->in_w * pc->channels;
}

static size_t output_size(const pool_case *pc, pool_kind kind) {
    if (kind == POOL_GLOBAL_MAX || kind == POOL_GLOBAL_AVG) return (size_t)pc->batch * pc->channels;
    const reference_geometry g = geometry_of(pc);
    return (size_t)pc->batch * g.out_h * g.out_w * pc->channels;
}

/* Direct pooling: pad with -inf (max) or with zeros and a zero count (avg), then
 * take every full window of the padded input. */
static double *reference_pool(const float *x, const pool_case *pc, pool_kind kind) {
    const reference_geometry g = geometry_of(pc);
    const int ph = g.pad_top + pc->in_h + g.pad_bottom, pw = g.pad_left + pc->in_w + g.pad_right;
    const size_t padded_size = (size_t)pc->batch * ph * pw * pc->channels;
    double *values = malloc(padded_size * sizeof *values), *counts = calloc(padded_size, sizeof *counts);
    assert_true(values != NULL && counts != NULL);
    for (size_t i = 0; i < padded_size; ++i) values[i] = kind == POOL_MAX ? -INFINITY : 0.0;
    for (int b = 0; b < pc->batch; ++b)
        for (int h = 0; h < pc->in_h; ++h)
            for (int w = 0; w < pc->in_w; ++w)
                for (int c = 0; c < pc->channels; ++c) {
                    const size_t at = (((size_t)b * ph + h + g.pad_top) * pw + w + g.pad_left) * pc->channels + c;
                    values[at] = x[(((size_t)b * pc->in_h + h) * pc->in_w + w) * pc->channels + c];
                    counts[at] = 1.0;
                }
    double *y = malloc(output_size(pc, kind) * sizeof *y);
    assert_non_null(y);
    for (int b = 0; b < pc->batch; ++b)
        for (int oh = 0; oh < g.out_h; ++oh)
            for (int ow = 0; ow < g.out_w; ++ow)
                for (int c = 0; c < pc->channels; ++c) {
                    double best = -INFINITY, sum = 0.0, count = 0.0;
                    for (int i = 0; i < pc->pool_h; ++i)
                        for (int j = 0; j < pc->pool_w; ++j) {
                            const int h = oh * pc->stride_h + i, w = ow * pc->stride_w + j;
                            const size_t at = (((size_t)b * ph + h) * pw + w) * pc->channels + c;
                            best = fmax(best, values[at]);
                            sum += values[at];
                            count += counts[at];
                        }
                    y[(((size_t)b * g.out_h + oh) * g.out_w + ow) * pc->channels + c] =
                        kind == POOL_MAX ? best : sum / count;
                }
    free(values);
    free(counts);
    return y;
}

/* Direct global pooling over H*W. */
static double *reference_global(const float *x, const pool_case *pc, pool_kind kind) {
    const size_t hw = (size_t)pc->in_h * pc->in_w;
    double *y = malloc(output_size(pc, kind) * sizeof *y);
    assert_non_null(y);
    for (int b = 0; b < pc->batch; ++b)
        for (int c = 0; c < pc->channels; ++c) {
            double best = -INFINITY, sum = 0.0;
            for (size_t s = 0; s < hw; ++s) {
                const double v = x[((size_t)b * hw + s) * pc->channels + c];
                best = fmax(best, v);
                sum += v;
            }
            y[(size_t)b * pc->channels + c] = kind == POOL_GLOBAL_MAX ? best : sum / (double)hw;
        }
    return y;
}

static void run_forward(float *y, const float *x, const pool_case *pc, pool_kind kind) {
    const tdl_pool2d_desc d = make_desc(pc);
    const int spatial = pc->in_h * pc->in_w;
    switch (kind) {
    case POOL_MAX: tdl_max_pool2d_forward(y, x, &d, pc->batch); return;
    case POOL_AVG: tdl_avg_pool2d_forward(y, x, &d, pc->batch); return;
    case POOL_GLOBAL_MAX: tdl_global_max_pool2d_forward(y, x, pc->batch, spatial, pc->channels); return;
    case POOL_GLOBAL_AVG: tdl_global_avg_pool2d_forward(y, x, pc->batch, spatial, pc->channels); return;
    }
}

static void run_backward(float *dx, const float *dy, const float *x, const pool_case *pc, pool_kind kind) {
    const tdl_pool2d_desc d = make_desc(pc);
    const int spatial = pc->in_h * pc->in_w;
    switch (kind) {
    case POOL_MAX: tdl_max_pool2d_backward(dx, dy, x, &d, pc->batch); return;
    case POOL_AVG: tdl_avg_pool2d_backward(dx, dy, &d, pc->batch); return;
    case POOL_GLOBAL_MAX: tdl_global_max_pool2d_backward(dx, dy, x, pc->batch, spatial, pc->channels); return;
    case POOL_GLOBAL_AVG: tdl_global_avg_pool2d_backward(dx, dy, pc->batch, spatial, pc->channels); return;
    }
}

static void assert_close(double actual, double expected, double atol, double rtol, const char *what, size_t i) {
    if (fabs(actual - expected) > atol + rtol * fabs(expected))
        fail_msg("%s[%zu]: got %.7g, expected %.7g", what, i, actual, expected);
}

/* The pooling output against the direct reference, with guards after y. */
static void check_forward(const pool_case *pc, pool_kind kind) {
    if (kind == POOL_MAX || kind == POOL_AVG) {
        const tdl_pool2d_desc d = make_desc(pc);
        const reference_geometry g = geometry_of(pc);
        assert_int_equal(d.out_h, g.out_h);
        assert_int_equal(d.out_w, g.out_w);
        assert_int_equal(d.pad_top, g.pad_top);
        assert_int_equal(d.pad_left, g.pad_left);
    }
    float *x = random_floats(input_size(pc));
    const size_t ny = output_size(pc, kind);
    float *y = zero_floats(ny + 4);
    for (size_t i = ny; i < ny + 4; ++i) y[i] = 7.0f;
    run_forward(y, x, pc, kind);
    double *expected =
        kind == POOL_MAX || kind == POOL_AVG ? reference_pool(x, pc, kind) : reference_global(x, pc, kind);
    for (size_t i = 0; i < ny; ++i) assert_close(y[i], expected[i], 1e-5, 1e-5, "y", i);
    for (size_t i = ny; i < ny + 4; ++i) assert_float_equal(y[i], 7.0f, 0.0f);
    free(expected);
    free(y);
    free(x);
}

/* dx against central differences of sum(y * g); also checks that dx accumulates. */
static void check_backward(const pool_case *pc, pool_kind kind) {
    const size_t nx = input_size(pc), ny = output_size(pc, kind);
    float *x = distinct_floats(nx);
    float *upstream = random_floats(ny);
    float *y = zero_floats(ny);
    float *dx = zero_floats(nx);
    for (size_t i = 0; i < nx; ++i) dx[i] = 0.5f;
    run_backward(dx, upstream, x, pc, kind);
    const float step = 1e-2f;
    for (size_t i = 0; i < nx; ++i) {
        const float saved = x[i], up = saved + step, down = saved - step;
        double loss_up = 0.0, loss_down = 0.0;
        x[i] = up;
        run_forward(y, x, pc, kind);
        for (size_t j = 0; j < ny; ++j) loss_up += (double)y[j] * upstream[j];
        x[i] = down;
        run_forward(y, x, pc, kind);
        for (size_t j = 0; j < ny; ++j) loss_down += (double)y[j] * upstream[j];
        x[i] = saved;
        const double numeric = (loss_up - loss_down) / ((double)up - (double)down);
        assert_close(dx[i] - 0.5, numeric, 1e-3, 1e-3, "dx", i);
    }
    free(dx);
    free(y);
    free(upstream);
    free(x);
}

static const pool_case valid_2x2_odd = {7, 7, 9, 3, 2, 2, 2, 2, TDL_PADDING_VALID};
static const pool_case same_3x3_stride2 = {1, 7, 8, 5, 3, 3, 2, 2, TDL_PADDING_SAME};
static const pool_case same_3x2_mixed = {2, 6, 7, 6, 3, 2, 1, 3, TDL_PADDING_SAME};
static const pool_case same_2x2_stride1 = {3, 5, 4, 2, 2, 2, 1, 1, TDL_PADDING_SAME};
static const pool_case same_overlapping = {2, 5, 5, 3, 3, 3, 1, 1, TDL_PADDING_SAME};
static const pool_case valid_overlapping = {2, 6, 5, 3, 3, 2, 2, 1, TDL_PADDING_VALID};
/* 2x2 windows at stride 2 over 16 or more channels (pool.c's pairs_row):
 * an odd input whose last row and column no window reads, a channel count
 * past a whole vector, and 'same' padding that adds nothing to an even input. */
static const pool_case pairs_odd = {3, 7, 9, 19, 2, 2, 2, 2, TDL_PADDING_VALID};
static const pool_case pairs_same_even = {2, 8, 6, 32, 2, 2, 2, 2, TDL_PADDING_SAME};
static const pool_case *const window_cases[] = {&valid_2x2_odd,    &same_3x3_stride2, &same_3x2_mixed,
                                                &same_2x2_stride1, &same_overlapping, &valid_overlapping,
                                                &pairs_odd,        &pairs_same_even};
enum { WINDOW_CASES = sizeof window_cases / sizeof window_cases[0] };

/* Max pooling forward; padding never wins (all inputs may be negative). */
static void test_max_forward(void **state) {
    (void)state;
    for (size_t i = 0; i < WINDOW_CASES; ++i) check_forward(window_cases[i], POOL_MAX);
}

/* Average pooling forward; 'same' padding is left out of the count. */
static void test_avg_forward(void **state) {
    (void)state;
    for (size_t i = 0; i < WINDOW_CASES; ++i) check_forward(window_cases[i], POOL_AVG);
}

/* Max pooling backward against central differences. */
static void test_max_backward(void **state) {
    (void)state;
    for (size_t i = 0; i < WINDOW_CASES; ++i) check_backward(window_cases[i], POOL_MAX);
}

/* Average pooling backward against central differences. */
static void test_avg_backward(void **state) {
    (void)state;
    for (size_t i = 0; i < WINDOW_CASES; ++i) check_backward(window_cases[i], POOL_AVG);
}

/* Global pools against the direct reference and central differences. */
static void test_global_pools(void **state) {
    (void)state;
    const pool_case shapes[] = {{1, 1, 1, 3, 1, 1, 1, 1, TDL_PADDING_VALID},
                                {7, 5, 3, 6, 1, 1, 1, 1, TDL_PADDING_VALID},
                                {2, 4, 4, 5, 1, 1, 1, 1, TDL_PADDING_VALID}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; ++i) {
        check_forward(&shapes[i], POOL_GLOBAL_MAX);
        check_forward(&shapes[i], POOL_GLOBAL_AVG);
        check_backward(&shapes[i], POOL_GLOBAL_MAX);
        check_backward(&shapes[i], POOL_GLOBAL_AVG);
    }
}

/* Max pool backward sends a tied window's gradient to its first maximum in row-major order. */
static void test_max_backward_first_maximum(void **state) {
    (void)state;
    tdl_pool2d_desc d;
    assert_int_equal(tdl_pool2d_desc_init(&d, 2, 4, 1, 2, 2, 2, 2, TDL_PADDING_VALID), TDL_STATUS_OK);
    /* window 1: all equal -> (0,0); window 2: maxima at (0,3) and (1,2) -> (0,3) */
    const float x[8] = {1, 1, 0, 5, 1, 1, 5, 2};
    const float dy[2] = {3, 4};
    float dx[8] = {0};
    float y[2];
    tdl_max_pool2d_forward(y, x, &d, 1);
    assert_float_equal(y[0], 1.0f, 0.0f);
    assert_float_equal(y[1], 5.0f, 0.0f);
    tdl_max_pool2d_backward(dx, dy, x, &d, 1);
    const float expected[8] = {3, 0, 0, 4, 0, 0, 0, 0};
    for (int i = 0; i < 8; ++i) assert_float_equal(dx[i], expected[i], 0.0f);
}

/* The argmax pair gives exactly what the recomputing pair gives, on every
 * window shape, with ties (inputs rounded to a few values), with more channels
 * than one block of the recomputing kernel, and for a 2-thread team. */
static void test_max_argmax_pair_agrees(void **state) {
    (void)state;
    const pool_case wide = {3, 6, 5, 300, 3, 3, 2, 2, TDL_PADDING_SAME};
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t i = 0; i <= WINDOW_CASES; ++i) {
            const pool_case *pc = i < WINDOW_CASES ? window_cases[i] : &wide;
            const tdl_pool2d_desc d = make_desc(pc);
            const size_t nx = input_size(pc), ny = output_size(pc, POOL_MAX);
            float *x = random_floats(nx), *dy = random_floats(ny);
            for (size_t k = 0; k < nx; ++k) x[k] = (float)(int)(x[k] * 3.0f); /* many ties */
            float *y = zero_floats(ny), *y_argmax = zero_floats(ny);
            float *dx = zero_floats(nx), *dx_argmax = zero_floats(nx);
            int32_t *argmax = malloc(ny * sizeof *argmax);
            assert_non_null(argmax);
            tdl_max_pool2d_forward(y, x, &d, pc->batch);
            tdl_max_pool2d_forward_argmax(y_argmax, argmax, x, &d, pc->batch);
            assert_memory_equal(y, y_argmax, ny * sizeof *y);
            tdl_max_pool2d_backward(dx, dy, x, &d, pc->batch);
            tdl_max_pool2d_backward_argmax(dx_argmax, dy, argmax, &d, pc->batch);
            assert_memory_equal(dx, dx_argmax, nx * sizeof *dx);
            for (size_t k = 0; k < ny; ++k) assert_true(argmax[k] >= 0 && argmax[k] < pc->in_h * pc->in_w);
            free(argmax);
            free(dx_argmax);
            free(dx);
            free(y_argmax);
            free(y);
            free(dy);
            free(x);
        }
    }
    tdl_set_num_threads(threads_before);
}

/* Fewer than 16 channels take their own search (few_channel_row in pool.c):
 * it must give the values and indices of the general one bit for bit, ties
 * and NaNs included. The same data as channels 0..n-1 of a 19-channel tensor,
 * which the general search pools, is the expectation; every channel count
 * from 1 to 15, on every window shape, on 1 and 2 threads. The argmax pair
 * test above compares the indices with the recomputing backward as well. */
static void test_few_channels_agree_with_many(void **state) {
    (void)state;
    enum { MANY = 19 };
    const int threads_before = tdl_get_num_threads();
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t i = 0; i < WINDOW_CASES + 2; ++i)
            for (int few = 1; few < 16; ++few) {
                /* Two more with windows tiling the rows (pool.c's tiled_row),
                 * one with windows clipped at the top and bottom. */
                static const pool_case tiled_same = {2, 7, 8, 1, 3, 2, 2, 2, TDL_PADDING_SAME};
                static const pool_case tiled_3 = {1, 5, 10, 1, 1, 3, 1, 3, TDL_PADDING_VALID};
                const pool_case *base = i < WINDOW_CASES ? window_cases[i] : i == WINDOW_CASES ? &tiled_same : &tiled_3;
                pool_case narrow = *base, wide = *base;
                narrow.channels = few;
                wide.channels = MANY;
                const tdl_pool2d_desc dn = make_desc(&narrow), dw = make_desc(&wide);
                const size_t pixels = (size_t)narrow.batch * narrow.in_h * narrow.in_w;
                const size_t out_pixels = output_size(&narrow, POOL_MAX) / (size_t)few;
                float *xw = random_floats(pixels * MANY), *xn = zero_floats(pixels * (size_t)few);
                for (size_t k = 0; k < pixels * MANY; ++k) {
                    xw[k] = (float)(int)(xw[k] * 3.0f); /* many ties */
                    if (test_next() % 11 == 0) xw[k] = NAN;
                }
                for (size_t p = 0; p < pixels; ++p)
                    for (int c = 0; c < few; ++c) xn[p * (size_t)few + (size_t)c] = xw[p * MANY + (size_t)c];
                float *yw = zero_floats(out_pixels * MANY), *yn = zero_floats(out_pixels * (size_t)few);
                float *yn_plain = zero_floats(out_pixels * (size_t)few);
                int32_t *aw = malloc(out_pixels * MANY * sizeof *aw), *an = malloc(out_pixels * few * sizeof *an);
                assert_non_null(aw);
                assert_non_null(an);
                tdl_max_pool2d_forward_argmax(yw, aw, xw, &dw, wide.batch);
                tdl_max_pool2d_forward_argmax(yn, an, xn, &dn, narrow.batch);
                tdl_max_pool2d_forward(yn_plain, xn, &dn, narrow.batch);
                assert_memory_equal(yn, yn_plain, out_pixels * (size_t)few * sizeof *yn);
                for (size_t p = 0; p < out_pixels; ++p)
                    for (int c = 0; c < few; ++c) {
                        const size_t at_n = p * (size_t)few + (size_t)c, at_w = p * MANY + (size_t)c;
                        assert_memory_equal(&yn[at_n], &yw[at_w], sizeof *yn);
                        assert_int_equal(an[at_n], aw[at_w]);
                    }
                free(an);
                free(aw);
                free(yn_plain);
                free(yn);
                free(yw);
                free(xn);
                free(xw);
            }
    }
    tdl_set_num_threads(threads_before);
}

/* The saved index is the pixel h*W + w of the first maximum in row-major order. */
static void test_max_argmax_indices(void **state) {
    (void)state;
    tdl_pool2d_desc d;
    assert_int_equal(tdl_pool2d_desc_init(&d, 2, 4, 1, 2, 2, 2, 2, TDL_PADDING_VALID), TDL_STATUS_OK);
    const float x[8] = {1, 1, 0, 5, 1, 1, 5, 2};
    float y[2];
    int32_t argmax[2];
    tdl_max_pool2d_forward_argmax(y, argmax, x, &d, 1);
    assert_int_equal(argmax[0], 0);
    assert_int_equal(argmax[1], 3);
    const float dy[2] = {3, 4};
    float dx[8] = {0};
    tdl_max_pool2d_backward_argmax(dx, dy, argmax, &d, 1);
    const float expected[8] = {3, 0, 0, 4, 0, 0, 0, 0};
    for (int i = 0; i < 8; ++i) assert_float_equal(dx[i], expected[i], 0.0f);
}

/* Global max pool shares the gradient equally among tied maxima. */
static void test_global_max_backward_shares_ties(void **state) {
    (void)state;
    /* one image, 4 positions, 2 channels: channel 0 has the max 2 twice, channel 1 once */
    const float x[8] = {2, 0, 1, 3, 2, -1, -5, 1};
    const float dy[2] = {6, 5};
    float dx[8] = {0};
    float y[2];
    tdl_global_max_pool2d_forward(y, x, 1, 4, 2);
    assert_float_equal(y[0], 2.0f, 0.0f);
    assert_float_equal(y[1], 3.0f, 0.0f);
    tdl_global_max_pool2d_backward(dx, dy, x, 1, 4, 2);
    const float expected[8] = {3, 0, 0, 5, 3, 0, 0, 0};
    for (int i = 0; i < 8; ++i) assert_float_equal(dx[i], expected[i], 0.0f);
}

/* A window hanging over the padding averages only its in-bounds elements. */
static void test_avg_same_excludes_padding(void **state) {
    (void)state;
    tdl_pool2d_desc d;
    /* 3x3 input, pool 2, stride 2, same: out 2x2, total pad 1 at the bottom/right */
    assert_int_equal(tdl_pool2d_desc_init(&d, 3, 3, 1, 2, 2, 2, 2, TDL_PADDING_SAME), TDL_STATUS_OK);
    const float x[9] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
    float y[4];
    tdl_avg_pool2d_forward(y, x, &d, 1);
    assert_float_equal(y[0], 3.0f, 1e-6f);  /* (1+2+4+5)/4 */
    assert_float_equal(y[1], 4.5f, 1e-6f);  /* (3+6)/2 */
    assert_float_equal(y[2], 7.5f, 1e-6f);  /* (7+8)/2 */
    assert_float_equal(y[3], 9.0f, 1e-6f);  /* 9/1 */
}

/* Output sizes and pads; bad sizes are errors. */
static void test_desc_arithmetic(void **state) {
    (void)state;
    tdl_pool2d_desc d;
    /* valid: floor((7 - 2) / 2) + 1 = 3 */
    assert_int_equal(tdl_pool2d_desc_init(&d, 7, 9, 4, 2, 2, 2, 2, TDL_PADDING_VALID), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 3);
    assert_int_equal(d.out_w, 4);
    assert_int_equal(d.channels, 4);
    assert_int_equal(d.pad_top, 0);
    /* same: ceil(7 / 2) = 4, total = 3*2 + 3 - 7 = 2 -> top 1; width 8: total 1 -> left 0 */
    assert_int_equal(tdl_pool2d_desc_init(&d, 7, 8, 1, 3, 3, 2, 2, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(d.out_h, 4);
    assert_int_equal(d.out_w, 4);
    assert_int_equal(d.pad_top, 1);
    assert_int_equal(d.pad_left, 0);
    assert_int_equal(tdl_pool2d_desc_init(&d, 1, 7, 1, 2, 2, 2, 2, TDL_PADDING_VALID), TDL_STATUS_BAD_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "pool2d"));
    assert_int_equal(tdl_pool2d_desc_init(&d, 4, 4, 0, 2, 2, 2, 2, TDL_PADDING_VALID), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_pool2d_desc_init(&d, 4, 4, 1, 2, 2, 0, 2, TDL_PADDING_SAME), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_pool2d_desc_init(&d, 4, 4, 1, 2, 2, 2, 2, (tdl_padding)3), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_pool2d_desc_init(NULL, 4, 4, 1, 2, 2, 2, 2, TDL_PADDING_SAME), TDL_STATUS_BAD_ARGUMENT);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desc_arithmetic),
        cmocka_unit_test(test_max_forward),
        cmocka_unit_test(test_avg_forward),
        cmocka_unit_test(test_max_backward),
        cmocka_unit_test(test_avg_backward),
        cmocka_unit_test(test_global_pools),
        cmocka_unit_test(test_max_argmax_pair_agrees),
        cmocka_unit_test(test_few_channels_agree_with_many),
        cmocka_unit_test(test_max_argmax_indices),
        cmocka_unit_test(test_max_backward_first_maximum),
        cmocka_unit_test(test_global_max_backward_shares_ties),
        cmocka_unit_test(test_avg_same_excludes_padding),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
