/* The thread team: kernels leave the process-wide thread counts alone, results
 * repeat bit for bit for a given thread count, and the parts of a convolution
 * that write each output once (forward, input gradient) give the same bits for
 * every thread count. Built under ThreadSanitizer in CI (TSC_TSAN). */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "tdl/runtime.h"

/* OpenBLAS's own setter and getter (cblas.h is blas.c's alone). */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int threads);

static uint32_t lcg_state = 77u;
static float *random_floats(size_t n) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) {
        lcg_state = lcg_state * 1664525u + 1013904223u;
        v[i] = (float)(lcg_state >> 8) / 16777216.0f - 0.5f;
    }
    return v;
}

static float *zeros(size_t n) {
    float *v = calloc(n, sizeof *v);
    assert_non_null(v);
    return v;
}

/* One convolution layer's buffers. */
typedef struct layer {
    tdl_conv2d_desc d;
    int batch;
    size_t nx, nk, ny;
    float *x, *kernel, *bias, *dy, *workspace;
} layer;

static layer layer_new(int batch, tdl_padding padding) {
    layer l;
    assert_int_equal(tdl_conv2d_desc_init(&l.d, 12, 11, 16, 24, 3, 3, 1, 1, 1, 1, padding), TDL_STATUS_OK);
    l.d.activation = TDL_ACTIVATION_RELU;
    l.batch = batch;
    l.nx = (size_t)batch * 12 * 11 * 16;
    l.nk = (size_t)3 * 3 * 16 * 24;
    l.ny = (size_t)batch * (size_t)l.d.out_h * (size_t)l.d.out_w * 24;
    l.x = random_floats(l.nx);
    l.kernel = random_floats(l.nk);
    l.bias = random_floats(24);
    l.dy = random_floats(l.ny);
    l.workspace = zeros(tdl_conv2d_workspace_size(&l.d, batch));
    return l;
}

static void layer_free(layer *l) {
    free(l->x);
    free(l->kernel);
    free(l->bias);
    free(l->dy);
    free(l->workspace);
}

/* y, dx, dkernel, dbias of one forward + backward. */
typedef struct results {
    float *y, *dx, *dkernel, *dbias;
} results;

static results run_layer(layer *l) {
    results r = {zeros(l->ny), zeros(l->nx), zeros(l->nk), zeros(24)};
    tdl_conv2d_forward(r.y, l->x, l->kernel, l->bias, &l->d, l->batch, l->workspace);
    tdl_conv2d_backward(r.dx, r.dkernel, r.dbias, l->dy, r.y, l->x, l->kernel, &l->d, l->batch, l->workspace);
    return r;
}

static void results_free(results *r) {
    free(r->y);
    free(r->dx);
    free(r->dkernel);
    free(r->dbias);
}

/* What the watcher thread saw. */
typedef struct watch {
    atomic_bool stop;
    int openblas_expected, tdl_expected;
    atomic_int changes;
} watch;

static void *watch_counts(void *argument) {
    watch *w = argument;
    while (!atomic_load(&w->stop)) {
        if (openblas_get_num_threads() != w->openblas_expected || tdl_get_num_threads() != w->tdl_expected)
            atomic_fetch_add(&w->changes, 1);
    }
    return NULL;
}

/* Security issue 13: no kernel changes process-wide state. Another thread
 * reading OpenBLAS's and the runtime's thread counts while convolutions and
 * products run on a 2-thread team never sees either change. */
static void test_kernels_leave_thread_counts_alone(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    watch w;
    atomic_init(&w.stop, false);
    atomic_init(&w.changes, 0);
    w.openblas_expected = openblas_get_num_threads();
    w.tdl_expected = tdl_get_num_threads();
    assert_int_equal(w.tdl_expected, 2);
    pthread_t watcher;
    assert_int_equal(pthread_create(&watcher, NULL, watch_counts, &w), 0);
    layer l = layer_new(6, TDL_PADDING_SAME);
    float *a = random_floats(256 * 256), *b = random_floats(256 * 256), *c = zeros(256 * 256);
    for (int i = 0; i < 5; ++i) {
        results r = run_layer(&l);
        results_free(&r);
        tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, 256, 256, 256, 1.0f, a, 256, b, 256, 0.0f, c, 256);
    }
    atomic_store(&w.stop, true);
    assert_int_equal(pthread_join(watcher, NULL), 0);
    assert_int_equal(atomic_load(&w.changes), 0);
    assert_int_equal(openblas_get_num_threads(), w.openblas_expected);
    free(a);
    free(b);
    free(c);
    layer_free(&l);
    tdl_set_num_threads(before);
}

/* The runtime runs BLAS on one thread inside its team: setting the team size
 * leaves OpenBLAS at one thread. */
static void test_blas_runs_single_threaded(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(3);
    assert_int_equal(tdl_get_num_threads(), 3);
    assert_int_equal(openblas_get_num_threads(), 1);
    tdl_set_num_threads(before);
}

static void assert_same_bits(const float *a, const float *b, size_t n, const char *what) {
    if (memcmp(a, b, n * sizeof *a) != 0) fail_msg("%s differs", what);
}

static void assert_close(const float *got, const float *want, size_t n, const char *what) {
    for (size_t i = 0; i < n; ++i)
        if (!(fabsf(got[i] - want[i]) <= 1e-5f + 1e-5f * fabsf(want[i])))
            fail_msg("%s[%zu]: %.9g, want %.9g", what, i, (double)got[i], (double)want[i]);
}

/* Two runs with the same thread count agree bit for bit, for 1 to 3 threads;
 * y and dbias agree bit for bit across thread counts too, and so does dx on
 * the libxsmm path (within rounding on the BLAS path). */
static void test_repeatable_per_thread_count(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    layer l = layer_new(5, TDL_PADDING_SAME);
    results first[3];
    for (int t = 1; t <= 3; ++t) {
        tdl_set_num_threads(t);
        first[t - 1] = run_layer(&l);
        results again = run_layer(&l);
        assert_same_bits(first[t - 1].y, again.y, l.ny, "y");
        assert_same_bits(first[t - 1].dx, again.dx, l.nx, "dx");
        assert_same_bits(first[t - 1].dkernel, again.dkernel, l.nk, "dkernel");
        assert_same_bits(first[t - 1].dbias, again.dbias, 24, "dbias");
        results_free(&again);
    }
    for (int t = 1; t < 3; ++t) {
        assert_same_bits(first[0].y, first[t].y, l.ny, "y across thread counts");
        /* Each thread runs its own images through the input's gradient:
         * libxsmm's products do not depend on how many, the BLAS path's
         * GEMM blocking does. */
        if (tdl_get_kernel_path() == TDL_KERNEL_PATH_BLAS || !tdl_xsmm_available())
            assert_close(first[t].dx, first[0].dx, l.nx, "dx across thread counts");
        else
            assert_same_bits(first[0].dx, first[t].dx, l.nx, "dx across thread counts");
        assert_same_bits(first[0].dbias, first[t].dbias, 24, "dbias across thread counts");
    }
    for (int t = 0; t < 3; ++t) results_free(&first[t]);
    layer_free(&l);
    tdl_set_num_threads(before);
}

/* conv2d + max_pool2d as one step gives the two kernels' results, with and
 * without saved indices, for 1 to 3 threads and a batch that is not a
 * multiple of the chunk: bit for bit on the libxsmm path, whose products do
 * not depend on the batch; within rounding on the BLAS path, whose GEMM
 * blocking does (there each saved index must still point at its maximum). */
static void conv_max_pool_fused_case(tdl_padding padding) {
    const int before = tdl_get_num_threads();
    layer l = layer_new(37, padding);
    tdl_pool2d_desc pool;
    assert_int_equal(tdl_pool2d_desc_init(&pool, l.d.out_h, l.d.out_w, 24, 2, 2, 2, 2, TDL_PADDING_VALID),
                     TDL_STATUS_OK);
    const size_t np = (size_t)l.batch * (size_t)pool.out_h * (size_t)pool.out_w * 24;
    float *pooled_one_thread = zeros(np);
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        float *y = zeros(l.ny), *pooled = zeros(np), *y2 = zeros(l.ny), *pooled2 = zeros(np), *pooled3 = zeros(np);
        int32_t *argmax = calloc(np, sizeof *argmax), *argmax2 = calloc(np, sizeof *argmax2);
        assert_true(argmax != NULL && argmax2 != NULL);
        tdl_conv2d_forward(y, l.x, l.kernel, l.bias, &l.d, l.batch, l.workspace);
        tdl_max_pool2d_forward_argmax(pooled, argmax, y, &pool, l.batch);
        tdl_conv2d_max_pool2d_forward(pooled2, argmax2, y2, l.x, l.kernel, l.bias, &l.d, &pool, l.batch, l.workspace);
        const bool exact = tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available();
        if (exact) {
            assert_same_bits(y, y2, l.ny, "y");
            assert_same_bits(pooled, pooled2, np, "pooled");
            assert_memory_equal(argmax, argmax2, np * sizeof *argmax);
        } else {
            for (size_t i = 0; i < l.ny; ++i) assert_true(fabsf(y[i] - y2[i]) <= 1e-5f + 1e-5f * fabsf(y[i]));
            for (size_t i = 0; i < np; ++i) assert_true(fabsf(pooled[i] - pooled2[i]) <= 1e-5f + 1e-5f * fabsf(pooled[i]));
        }
        const size_t per_image = (size_t)pool.out_h * (size_t)pool.out_w * 24;
        const size_t y_per_image = (size_t)l.d.out_h * (size_t)l.d.out_w * 24;
        for (size_t i = 0; i < np; ++i) {
            const size_t b = i / per_image, c = i % 24;
            assert_true(argmax2[i] >= 0);
            assert_true(pooled2[i] == y2[b * y_per_image + (size_t)argmax2[i] * 24 + c]);
        }
        float *y3 = zeros(l.ny);
        tdl_conv2d_max_pool2d_forward(pooled3, NULL, y3, l.x, l.kernel, l.bias, &l.d, &pool, l.batch, l.workspace);
        assert_same_bits(pooled2, pooled3, np, "pooled without indices");
        assert_same_bits(y2, y3, l.ny, "y without indices");
        /* With y as scratch only its covered part is computed (the last
         * column here): the same GEMMs per pixel on libxsmm, other chunks of
         * the implicit GEMM on the BLAS path. */
        memset(pooled3, 0, np * sizeof *pooled3);
        tdl_conv2d_max_pool2d_forward_pooled(pooled3, y3, l.x, l.kernel, l.bias, &l.d, &pool, l.batch, l.workspace);
        if (exact)
            assert_same_bits(pooled2, pooled3, np, "pooled with y as scratch");
        else
            for (size_t i = 0; i < np; ++i)
                assert_true(fabsf(pooled2[i] - pooled3[i]) <= 1e-5f + 1e-5f * fabsf(pooled2[i]));
        /* The training form with y as scratch (its chunks reuse one part of
         * y: two chunks of 20 and 17 images on one thread): the pooled values
         * and indices of the step that writes y. */
        int32_t *argmax4 = calloc(np, sizeof *argmax4);
        assert_non_null(argmax4);
        memset(pooled3, 0, np * sizeof *pooled3);
        tdl_conv2d_max_pool2d_forward_argmax_pooled(pooled3, argmax4, y3, l.x, l.kernel, l.bias, &l.d, &pool, l.batch,
                                                    l.workspace);
        if (exact) {
            assert_same_bits(pooled2, pooled3, np, "pooled with argmax, y as scratch");
            assert_memory_equal(argmax2, argmax4, np * sizeof *argmax4);
        } else {
            for (size_t i = 0; i < np; ++i)
                assert_true(fabsf(pooled2[i] - pooled3[i]) <= 1e-5f + 1e-5f * fabsf(pooled2[i]));
        }
        free(argmax4);
        free(y3);
        /* Each thread runs whole chunks of its own: the same bits for every thread count. */
        if (threads == 1) memcpy(pooled_one_thread, pooled2, np * sizeof *pooled2);
        else if (exact) assert_same_bits(pooled2, pooled_one_thread, np, "pooled across thread counts");
        free(argmax);
        free(argmax2);
        free(y);
        free(y2);
        free(pooled);
        free(pooled2);
        free(pooled3);
    }
    free(pooled_one_thread);
    layer_free(&l);
    tdl_set_num_threads(before);
}

/* With padding the libxsmm kernel copies input rows into a slot of the
 * workspace; without, it needs none: both ways of splitting the chunks. */
static void test_conv_max_pool_fused(void **state) {
    (void)state;
    conv_max_pool_fused_case(TDL_PADDING_SAME);
    conv_max_pool_fused_case(TDL_PADDING_VALID);
}

/* The training form with y as scratch computes only the rows and columns
 * that the windows read, yet its argmax counts pixels of the whole output,
 * which the backward scatters into: for outputs whose last row or column no
 * window reads, the same pooled values and indices as the convolution
 * followed by the pool (bits and indices on the libxsmm path; on the BLAS
 * path each index must still point at its window's maximum). */
typedef struct covered_case {
    const char *name;
    int h, w, c, filters, pool_h, pool_w, stride_h, stride_w;
} covered_case;

static void conv_max_pool_covered_case(const covered_case *cc, int threads) {
    const int batch = 7;
    tdl_conv2d_desc d;
    tdl_pool2d_desc pool;
    assert_int_equal(tdl_conv2d_desc_init(&d, cc->h, cc->w, cc->c, cc->filters, 3, 3, 1, 1, 1, 1, TDL_PADDING_VALID),
                     TDL_STATUS_OK);
    d.activation = TDL_ACTIVATION_RELU;
    assert_int_equal(tdl_pool2d_desc_init(&pool, d.out_h, d.out_w, cc->filters, cc->pool_h, cc->pool_w, cc->stride_h,
                                          cc->stride_w, TDL_PADDING_VALID),
                     TDL_STATUS_OK);
    const size_t f = (size_t)cc->filters, pixels = (size_t)d.out_h * (size_t)d.out_w;
    const size_t nx = (size_t)batch * (size_t)cc->h * (size_t)cc->w * (size_t)cc->c;
    const size_t ny = (size_t)batch * pixels * f;
    const size_t per_image = (size_t)pool.out_h * (size_t)pool.out_w * f, np = (size_t)batch * per_image;
    float *x = random_floats(nx), *kernel = random_floats((size_t)9 * (size_t)cc->c * f), *bias = random_floats(f);
    float *y = zeros(ny), *y_scratch = zeros(ny), *want = zeros(np), *got = zeros(np);
    float *workspace = zeros(tdl_conv2d_workspace_size(&d, batch));
    int32_t *want_argmax = calloc(np, sizeof *want_argmax), *got_argmax = calloc(np, sizeof *got_argmax);
    assert_true(want_argmax != NULL && got_argmax != NULL);
    tdl_set_num_threads(threads);
    tdl_conv2d_forward(y, x, kernel, bias, &d, batch, workspace);
    tdl_max_pool2d_forward_argmax(want, want_argmax, y, &pool, batch);
    tdl_conv2d_max_pool2d_forward_argmax_pooled(got, got_argmax, y_scratch, x, kernel, bias, &d, &pool, batch,
                                                workspace);
    if (tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available()) {
        assert_same_bits(got, want, np, cc->name);
        assert_memory_equal(got_argmax, want_argmax, np * sizeof *got_argmax);
    } else {
        assert_close(got, want, np, cc->name);
    }
    for (size_t i = 0; i < np; ++i) {
        const size_t b = i / per_image, c = i % f;
        assert_true(got_argmax[i] >= 0 && (size_t)got_argmax[i] < pixels);
        const float at = y[(b * pixels + (size_t)got_argmax[i]) * f + c];
        if (!(fabsf(at - got[i]) <= 1e-5f + 1e-5f * fabsf(got[i])))
            fail_msg("%s: index %zu points at %.9g, not its maximum %.9g", cc->name, i, (double)at, (double)got[i]);
    }
    free(x);
    free(kernel);
    free(bias);
    free(y);
    free(y_scratch);
    free(want);
    free(got);
    free(workspace);
    free(want_argmax);
    free(got_argmax);
}

static void test_conv_max_pool_covered_argmax(void **state) {
    (void)state;
    static const covered_case cases[] = {
        /* mnist_convnet's second layer (Winograd's): 11x11 under 2x2 windows */
        {"mnist conv2", 13, 13, 32, 64, 2, 2, 2, 2},
        /* 3x3 windows at stride 2 over 12x12: the window's three rows */
        {"3x3 windows", 14, 14, 16, 24, 3, 3, 2, 2},
        /* rows left over, all columns read: indices unchanged */
        {"rows only", 13, 14, 16, 20, 2, 3, 2, 3},
    };
    const int before = tdl_get_num_threads();
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k)
        for (int threads = 1; threads <= 2; ++threads) conv_max_pool_covered_case(&cases[k], threads);
    tdl_set_num_threads(before);
}

/* A child of fork() gets a team of its own: kernels there neither hang on the
 * parent's workers (which the child does not have) nor change the results. */
static void test_team_after_fork(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    layer l = layer_new(6, TDL_PADDING_SAME);
    results parent = run_layer(&l); /* the parent's team now has a worker */
    const pid_t child = fork();
    assert_true(child >= 0);
    if (child == 0) {
        results r = run_layer(&l);
        const int same = memcmp(r.y, parent.y, l.ny * sizeof *r.y) == 0 &&
                         memcmp(r.dkernel, parent.dkernel, l.nk * sizeof *r.dkernel) == 0;
        _exit(same ? 0 : 1);
    }
    int status = 0;
    assert_int_equal(waitpid(child, &status, 0), child);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    results_free(&parent);
    layer_free(&l);
    tdl_set_num_threads(before);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kernels_leave_thread_counts_alone),
        cmocka_unit_test(test_blas_runs_single_threaded),
        cmocka_unit_test(test_repeatable_per_thread_count),
        cmocka_unit_test(test_conv_max_pool_fused),
        cmocka_unit_test(test_conv_max_pool_covered_argmax),
        cmocka_unit_test(test_team_after_fork),
    };
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    const int automatic = cmocka_run_group_tests_name("team, automatic path", tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const int blas = cmocka_run_group_tests_name("team, BLAS path", tests, NULL, NULL);
    return automatic + blas;
}
