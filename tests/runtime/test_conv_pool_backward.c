/* tdl_conv2d_max_pool2d_backward against the two kernels it replaces: the
 * pool's scatter through the saved argmax into a zeroed gradient, then
 * tdl_conv2d_backward reading the convolution's output. On one thread dz
 * (and so dkernel and dx) bit for bit where the header promises it, within
 * rounding otherwise and where the batch is run in chunks; on several, where
 * each thread runs its own images in its own part of the workspace, dkernel
 * and dx within rounding (dkernel is the sum of the threads' partials); dbias
 * within rounding (summed in another order); dx (where one thread has no
 * chunks) and dbias the same for 1, 2 and 3 threads; the real layers' shapes
 * (the few-channel kernels) and a workspace without room for three
 * threads' regions; workspace sizes that never shrink as the batch grows;
 * and nothing written for a pool that does not describe the convolution's
 * output. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

static uint32_t lcg_state = 91u;

static float *random_floats(size_t n) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) {
        lcg_state = lcg_state * 1664525u + 1013904223u;
        v[i] = (float)(lcg_state >> 8) / 16777216.0f - 0.5f;
    }
    return v;
}

static float *zeros(size_t n) {
    float *v = calloc(n > 0 ? n : 1, sizeof *v);
    assert_non_null(v);
    return v;
}

/* One conv -> max_pool case. */
typedef struct pool_case {
    const char *name;
    int h, w, c, filters, kernel, pool, stride;
    tdl_padding conv_padding, pool_padding;
    tdl_activation activation;
    bool chunked;   /* more than 1 MB of pre-activation gradient: on one thread it is run in chunks */
    /* The input's gradient on the few-channel kernel (C < 16, F >= 16,
     * KW*C >= 16), whose images do not depend on the batch around them. */
    bool few_input;
} pool_case;

static const pool_case cases[] = {
    /* the reference models' shape: 2x2 windows tiling the output */
    {"relu 2x2", 12, 12, 3, 32, 3, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, false},
    /* an odd output (11 -> 5): the last row and column are in no window */
    {"relu odd", 13, 13, 8, 20, 3, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, true},
    /* overlapping 3x3 windows at stride 2 with padding, more than 64 filters */
    {"relu overlap", 9, 10, 4, 70, 3, 3, 2, TDL_PADDING_SAME, TDL_PADDING_SAME, TDL_ACTIVATION_RELU, false, false},
    {"linear overlap", 9, 9, 5, 12, 3, 3, 1, TDL_PADDING_SAME, TDL_PADDING_VALID, TDL_ACTIVATION_LINEAR, false, false},
    {"sigmoid", 10, 10, 6, 16, 3, 2, 2, TDL_PADDING_SAME, TDL_PADDING_VALID, TDL_ACTIVATION_SIGMOID, false, true},
    {"leaky overlap", 10, 9, 3, 9, 3, 3, 2, TDL_PADDING_VALID, TDL_PADDING_SAME, TDL_ACTIVATION_LEAKY_RELU, false,
     false},
    {"elu", 8, 8, 4, 8, 3, 2, 2, TDL_PADDING_SAME, TDL_PADDING_VALID, TDL_ACTIVATION_ELU, false, false},
    /* mnist_convnet's second layer: 11x11 under 2x2 windows, Winograd's
     * forward; only the covered 10x10 goes through the products */
    {"mnist conv2", 13, 13, 32, 64, 3, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, false},
    /* 'same' with 64 channels and filters: Winograd's input gradient, over
     * the covered 10x10 of an 11x11 output */
    {"same winograd odd", 11, 11, 64, 64, 3, 2, 2, TDL_PADDING_SAME, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false,
     false},
    /* 32x32x64 outputs, 256 KB an image: chunks of 4 of the 5 images on one
     * thread, each thread's share in one chunk on two, on three the batch in
     * one chunk with each kernel split over the team */
    {"relu chunks", 34, 34, 2, 64, 3, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, true, false},
    /* LeNet-5's first layer: fewer filters than a vector (the bias summed flat) */
    {"lenet5 conv1", 32, 32, 1, 6, 5, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, false},
    /* LeNet-5's second layer and mnist_convnet's first: the few-channel kernels */
    {"lenet5 conv2", 14, 14, 6, 16, 5, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, true},
    {"mnist conv1", 28, 28, 1, 32, 3, 2, 2, TDL_PADDING_VALID, TDL_PADDING_VALID, TDL_ACTIVATION_RELU, false, false},
};

enum { BATCH = 5, MAX_THREADS = 3 };

/* Everything one case needs, forward already run. */
typedef struct pool_layer {
    int batch;
    tdl_conv2d_desc conv;
    tdl_pool2d_desc pool;
    size_t nx, nk, ny, np, f;
    float *x, *kernel, *bias, *y, *pooled, *dpooled, *workspace;
    int32_t *argmax;
} pool_layer;

static pool_layer layer_of_batch(const pool_case *pc, int batch) {
    pool_layer l;
    l.batch = batch;
    assert_int_equal(tdl_conv2d_desc_init(&l.conv, pc->h, pc->w, pc->c, pc->filters, pc->kernel, pc->kernel, 1, 1, 1,
                                          1, pc->conv_padding),
                     TDL_STATUS_OK);
    l.conv.activation = pc->activation;
    l.conv.alpha = pc->activation == TDL_ACTIVATION_LEAKY_RELU ? 0.2f : 1.0f;
    assert_int_equal(tdl_pool2d_desc_init(&l.pool, l.conv.out_h, l.conv.out_w, pc->filters, pc->pool, pc->pool,
                                          pc->stride, pc->stride, pc->pool_padding),
                     TDL_STATUS_OK);
    l.f = (size_t)pc->filters;
    l.nx = (size_t)batch * (size_t)pc->h * (size_t)pc->w * (size_t)pc->c;
    l.nk = (size_t)pc->kernel * (size_t)pc->kernel * (size_t)pc->c * l.f;
    l.ny = (size_t)batch * (size_t)l.conv.out_h * (size_t)l.conv.out_w * l.f;
    l.np = (size_t)batch * (size_t)l.pool.out_h * (size_t)l.pool.out_w * l.f;
    l.x = random_floats(l.nx);
    l.kernel = random_floats(l.nk);
    l.bias = random_floats(l.f);
    l.dpooled = random_floats(l.np);
    l.y = zeros(l.ny);
    l.pooled = zeros(l.np);
    l.argmax = calloc(l.np, sizeof *l.argmax);
    assert_non_null(l.argmax);
    l.workspace = zeros(tdl_conv2d_workspace_size(&l.conv, batch));
    tdl_conv2d_max_pool2d_forward(l.pooled, l.argmax, l.y, l.x, l.kernel, l.bias, &l.conv, &l.pool, batch,
                                  l.workspace);
    return l;
}

static pool_layer layer_new(const pool_case *pc) { return layer_of_batch(pc, BATCH); }

static void layer_free(pool_layer *l) {
    free(l->x);
    free(l->kernel);
    free(l->bias);
    free(l->y);
    free(l->pooled);
    free(l->dpooled);
    free(l->argmax);
    free(l->workspace);
}

/* dx, dkernel, dbias of one backward, and dz (the workspace's start) after it. */
typedef struct gradients {
    float *dx, *dkernel, *dbias, *dz;
} gradients;

static gradients gradients_new(const pool_layer *l) {
    gradients g = {zeros(l->nx), zeros(l->nk), zeros(l->f), zeros(l->ny)};
    return g;
}

static void gradients_free(gradients *g) {
    free(g->dx);
    free(g->dkernel);
    free(g->dbias);
    free(g->dz);
}

static gradients unfused(pool_layer *l) {
    gradients g = gradients_new(l);
    float *dy = zeros(l->ny);
    tdl_max_pool2d_backward_argmax(dy, l->dpooled, l->argmax, &l->pool, l->batch);
    tdl_conv2d_backward(g.dx, g.dkernel, g.dbias, dy, l->y, l->x, l->kernel, &l->conv, l->batch, l->workspace);
    if (l->conv.activation == TDL_ACTIVATION_LINEAR) memcpy(g.dz, dy, l->ny * sizeof *dy);   /* no copy made */
    else memcpy(g.dz, l->workspace, l->ny * sizeof *g.dz);
    free(dy);
    return g;
}

/* The rows and columns of the convolution's output that tiling windows
 * read, when they leave some out and the gradient is written window by
 * window (16 or more channels, relu or the identity): the fused backward
 * then runs over that part alone, and its dz in the workspace has that
 * shape. */
static bool covered_part(const pool_layer *l, int *rows, int *cols) {
    const tdl_pool2d_desc *p = &l->pool;
    const bool tiles = p->stride_h == p->pool_h && p->stride_w == p->pool_w && p->pad_top == 0 && p->pad_left == 0;
    const bool by_window = l->f >= 16 && (l->conv.activation == TDL_ACTIVATION_RELU ||
                                          l->conv.activation == TDL_ACTIVATION_LINEAR);
    *rows = p->out_h * p->pool_h;
    *cols = p->out_w * p->pool_w;
    return tiles && by_window && (*rows < l->conv.out_h || *cols < l->conv.out_w);
}

static gradients fused(pool_layer *l) {
    gradients g = gradients_new(l);
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l->dpooled, l->argmax, l->pooled, l->x, l->kernel,
                                   &l->conv, &l->pool, l->batch, l->workspace);
    int rows, cols;
    if (!covered_part(l, &rows, &cols)) {
        memcpy(g.dz, l->workspace, l->ny * sizeof *g.dz);
        return g;
    }
    /* The covered part's dz, placed in the whole output (zeros elsewhere). */
    const size_t out_w = (size_t)l->conv.out_w, out_h = (size_t)l->conv.out_h;
    for (size_t b = 0; b < (size_t)l->batch; ++b)
        for (size_t h = 0; h < (size_t)rows; ++h)
            memcpy(g.dz + ((b * out_h + h) * out_w) * l->f,
                   l->workspace + ((b * (size_t)rows + h) * (size_t)cols) * l->f, (size_t)cols * l->f * sizeof *g.dz);
    return g;
}

static void assert_close(const float *got, const float *want, size_t n, const char *what, const char *name) {
    for (size_t i = 0; i < n; ++i)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f * (1.0f + fabsf(want[i]))))
            fail_msg("%s, %s[%zu]: %.9g, want %.9g", name, what, i, (double)got[i], (double)want[i]);
}

static void assert_same_bits(const float *got, const float *want, size_t n, const char *what, const char *name) {
    if (memcmp(got, want, n * sizeof *got) != 0) {
        for (size_t i = 0; i < n; ++i)
            if (memcmp(&got[i], &want[i], sizeof *got) != 0)
                fail_msg("%s, %s[%zu]: %.9g, want %.9g (bit for bit)", name, what, i, (double)got[i],
                         (double)want[i]);
    }
}

/* Windows overlap when the stride is below the window. */
static bool exact_dz(const pool_case *pc) {
    return pc->activation == TDL_ACTIVATION_RELU || pc->activation == TDL_ACTIVATION_LINEAR || pc->stride >= pc->pool;
}

static void test_fused_backward_matches_the_two_kernels(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const pool_case *pc = &cases[k];
        pool_layer l = layer_new(pc);
        gradients by_threads[MAX_THREADS];
        for (int threads = 1; threads <= MAX_THREADS; ++threads) {
            tdl_set_num_threads(threads);
            gradients want = unfused(&l), got = fused(&l);
            /* In chunks, the workspace ends with the last chunk's dz, and
             * dkernel (and on the BLAS path dx) is summed chunk by chunk; on
             * several threads, each thread's region holds its last chunk's dz. */
            const bool several = tdl_get_num_threads() > 1;   /* the portable team is always 1 */
            if (pc->chunked || several) {
                assert_close(got.dkernel, want.dkernel, l.nk, "dkernel", pc->name);
                assert_close(got.dx, want.dx, l.nx, "dx", pc->name);
            } else if (exact_dz(pc)) {
                assert_same_bits(got.dz, want.dz, l.ny, "dz", pc->name);
                /* Over only the covered part, the products drop the last
                 * terms of their sums, zeros: the same bits on libxsmm,
                 * whose sums run in that order, not on the BLAS path,
                 * whose GEMM blocks them by their count. */
                int rows, cols;
                if (covered_part(&l, &rows, &cols) &&
                    !(tdl_xsmm_available() && tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO)) {
                    assert_close(got.dkernel, want.dkernel, l.nk, "dkernel", pc->name);
                    assert_close(got.dx, want.dx, l.nx, "dx", pc->name);
                } else {
                    assert_same_bits(got.dkernel, want.dkernel, l.nk, "dkernel", pc->name);
                    assert_same_bits(got.dx, want.dx, l.nx, "dx", pc->name);
                }
            } else {
                assert_close(got.dz, want.dz, l.ny, "dz", pc->name);
                assert_close(got.dkernel, want.dkernel, l.nk, "dkernel", pc->name);
                assert_close(got.dx, want.dx, l.nx, "dx", pc->name);
            }
            assert_close(got.dbias, want.dbias, l.f, "dbias", pc->name);
            gradients_free(&want);
            by_threads[threads - 1] = got;
        }
        /* Each image's dx is its thread's; only the GEMMs of the BLAS path
         * round differently for another number of images. */
        const bool dx_same = pc->few_input && tdl_xsmm_available() && tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO;
        for (int t = 1; t < MAX_THREADS; ++t) {
            if (dx_same)
                assert_same_bits(by_threads[t].dx, by_threads[0].dx, l.nx, "dx across thread counts", pc->name);
            else
                assert_close(by_threads[t].dx, by_threads[0].dx, l.nx, "dx across thread counts", pc->name);
            assert_same_bits(by_threads[t].dbias, by_threads[0].dbias, l.f, "dbias across thread counts", pc->name);
        }
        for (int t = 0; t < MAX_THREADS; ++t) gradients_free(&by_threads[t]);
        layer_free(&l);
    }
    tdl_set_num_threads(before);
}

/* Five images of 256 KB of gradient each on three threads: a workspace
 * sized for five holds two threads' regions, not three of even one image,
 * so the batch is one chunk with each kernel split over the team, bit for
 * bit as unfused. */
static void test_fused_backward_without_room_for_regions(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(3);
    const pool_case *chunks = &cases[sizeof cases / sizeof cases[0] - 4];
    assert_true(chunks->chunked);
    pool_layer l = layer_of_batch(chunks, BATCH);
    gradients want = unfused(&l), got = fused(&l);
    assert_same_bits(got.dz, want.dz, l.ny, "dz", "no room");
    assert_same_bits(got.dkernel, want.dkernel, l.nk, "dkernel", "no room");
    assert_same_bits(got.dx, want.dx, l.nx, "dx", "no room");
    gradients_free(&want);
    gradients_free(&got);
    layer_free(&l);
    tdl_set_num_threads(before);
}

/* LeNet-5's second layer at batch 32 on two and three threads: each thread
 * runs its own images in its own region of the workspace. dkernel and dx
 * within rounding of the unfused kernels; dx the same bits as on one thread
 * where the few-channel kernels take it, dbias the same bits always. */
static void test_fused_backward_threads_own_images(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    const pool_case *lenet = &cases[sizeof cases / sizeof cases[0] - 2];
    pool_layer l = layer_of_batch(lenet, 32);
    tdl_set_num_threads(1);
    gradients one = fused(&l);
    for (int threads = 2; threads <= MAX_THREADS; ++threads) {
        tdl_set_num_threads(threads);
        gradients want = unfused(&l), got = fused(&l);
        /* unfused() runs tdl_conv2d_backward, which shares the threads'
         * machinery: the one-thread result is the independent check. */
        assert_close(got.dkernel, want.dkernel, l.nk, "dkernel", "own images");
        assert_close(got.dkernel, one.dkernel, l.nk, "dkernel against one thread", "own images");
        assert_close(got.dx, want.dx, l.nx, "dx", "own images");
        assert_close(got.dbias, want.dbias, l.f, "dbias", "own images");
        if (tdl_xsmm_available() && tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO)
            assert_same_bits(got.dx, one.dx, l.nx, "dx against one thread", "own images");
        assert_same_bits(got.dbias, one.dbias, l.f, "dbias against one thread", "own images");
        gradients_free(&want);
        gradients_free(&got);
    }
    gradients_free(&one);
    layer_free(&l);
    tdl_set_num_threads(before);
}

/* A workspace sized for a batch serves every smaller batch, now that it
 * also holds two threads' regions (each thread's share in one chunk). */
static void test_workspace_grows_with_the_batch(void **state) {
    (void)state;
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        const pool_case *pc = &cases[k];
        pool_layer l = layer_of_batch(pc, 1);
        size_t previous = tdl_conv2d_workspace_size(&l.conv, 1);
        for (int batch = 2; batch <= 64; ++batch) {
            const size_t size = tdl_conv2d_workspace_size(&l.conv, batch);
            if (size < previous) fail_msg("%s: %zu floats at batch %d, %zu at %d", pc->name, size, batch, previous,
                                          batch - 1);
            previous = size;
        }
        layer_free(&l);
    }
}

/* Each gradient may be left out, and what is asked for still accumulates. */
static void test_fused_backward_accumulates_and_skips(void **state) {
    (void)state;
    pool_layer l = layer_new(&cases[0]);
    gradients once = fused(&l);
    gradients twice = gradients_new(&l);
    for (int round = 0; round < 2; ++round)
        tdl_conv2d_max_pool2d_backward(twice.dx, twice.dkernel, twice.dbias, l.dpooled, l.argmax, l.pooled, l.x,
                                       l.kernel, &l.conv, &l.pool, BATCH, l.workspace);
    for (size_t i = 0; i < l.nk; ++i) assert_true(fabsf(twice.dkernel[i] - 2.0f * once.dkernel[i]) <= 1e-5f);
    for (size_t i = 0; i < l.f; ++i) assert_true(fabsf(twice.dbias[i] - 2.0f * once.dbias[i]) <= 1e-5f);
    float *only_bias = zeros(l.f);
    tdl_conv2d_max_pool2d_backward(NULL, NULL, only_bias, l.dpooled, l.argmax, l.pooled, NULL, NULL, &l.conv, &l.pool,
                                   BATCH, l.workspace);
    assert_same_bits(only_bias, once.dbias, l.f, "dbias alone", "skips");
    free(only_bias);
    gradients_free(&once);
    gradients_free(&twice);
    layer_free(&l);
}

/* A pool that does not read the convolution's output, or missing inputs:
 * nothing is written. */
static void test_fused_backward_refuses_mismatches(void **state) {
    (void)state;
    pool_layer l = layer_new(&cases[0]);
    gradients g = gradients_new(&l);
    tdl_pool2d_desc wrong = l.pool;
    wrong.channels += 1;
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l.dpooled, l.argmax, l.pooled, l.x, l.kernel, &l.conv,
                                   &wrong, BATCH, l.workspace);
    wrong = l.pool;
    wrong.in_h -= 1;
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l.dpooled, l.argmax, l.pooled, l.x, l.kernel, &l.conv,
                                   &wrong, BATCH, l.workspace);
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l.dpooled, l.argmax, l.pooled, NULL, l.kernel, &l.conv,
                                   &l.pool, BATCH, l.workspace);
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l.dpooled, l.argmax, l.pooled, l.x, l.kernel, &l.conv,
                                   &l.pool, 0, l.workspace);
    tdl_conv2d_max_pool2d_backward(g.dx, g.dkernel, g.dbias, l.dpooled, l.argmax, l.pooled, l.x, l.kernel, &l.conv,
                                   &l.pool, BATCH, NULL);
    for (size_t i = 0; i < l.nx; ++i) assert_true(g.dx[i] == 0.0f);
    for (size_t i = 0; i < l.nk; ++i) assert_true(g.dkernel[i] == 0.0f);
    for (size_t i = 0; i < l.f; ++i) assert_true(g.dbias[i] == 0.0f);
    gradients_free(&g);
    layer_free(&l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fused_backward_matches_the_two_kernels),
        cmocka_unit_test(test_fused_backward_without_room_for_regions),
        cmocka_unit_test(test_fused_backward_threads_own_images),
        cmocka_unit_test(test_workspace_grows_with_the_batch),
        cmocka_unit_test(test_fused_backward_accumulates_and_skips),
        cmocka_unit_test(test_fused_backward_refuses_mismatches),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
