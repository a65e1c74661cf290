/* The training step's split of dense kernels by rows (owned_rows.h): the
 * forward that sums each thread's own input features (dense_xsmm.c,
 * tdl_dense_train_forward), both gradients over owned feature blocks (and
 * tdl_dense_train_backward, which writes the parameter gradients), and the
 * passes over a model's whole parameter vector (param_split.c: the
 * finiteness check, the optimizer steps); every other split kernel of a
 * model's step with its shares in reverse thread order
 * (param_split_reversed), in those passes and in the dense ones alike; and
 * a model's forward, which splits the same kernels' sums the same way.
 *
 * Shapes: 520 features = 8 row blocks of 64 + 8 (owners split 4 + 5 blocks,
 * the ragged one last), 100 features = 64 + 36, 211 units (ragged unit
 * tiles), batches of 1, 17 and 150 against tiles of 16. Values are held to
 * the double reference with test_dense_tiles.c's tolerance (float dot
 * products of up to 520 terms of magnitude <= 1: |got - want| <= 1e-4 *
 * (1 + |want|)). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dense_internal.h"
#include "numeric_check.h"
#include "optim_internal.h"
#include "owned_rows.h"
#include "param_split.h"
#include "team.h"
#include "tdl/runtime.h"

enum { MAX_F = 520, U = 211, MAX_B = 150, GUARD = 16 };
static const double TOLERANCE = 1e-4;
static const int batches[] = {1, 17, MAX_B};
static const int feature_counts[] = {MAX_F, 100};

typedef struct dense_data {
    float x[MAX_B * MAX_F], kernel[MAX_F * U], bias[U], dy[MAX_B * U];
} dense_data;

/* Values in [-1, 1) from numeric_check.h's fixed sequence. */
static void fill(float *v, size_t n) {
    for (size_t i = 0; i < n; ++i) v[i] = uniform(-1.0f, 1.0f);
}

static dense_data *data_make(void) {
    dense_data *data = malloc(sizeof *data);
    assert_non_null(data);
    fill(data->x, MAX_B * MAX_F);
    fill(data->kernel, MAX_F * U);
    fill(data->bias, U);
    fill(data->dy, MAX_B * U);
    return data;
}

static bool on_libxsmm(void) { return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available(); }

static void assert_close(double got, double want) {
    if (fabs(got - want) > TOLERANCE * (1.0 + fabs(want))) fail_msg("got %.9g, want %.9g", got, want);
}

/* ---- the forward ------------------------------------------------------------ */

static void train_forward(float *y, float *workspace, const dense_data *data, const tdl_dense_desc *d, int batch,
                          int threads) {
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    for (int k = 0; k < MAX_B * U + GUARD; ++k) workspace[k] = NAN; /* its old values must not matter */
    tdl_dense_train_forward(y, data->x, data->kernel, data->bias, d, batch, workspace);
    tdl_set_num_threads(before);
    for (int k = batch * U; k < MAX_B * U + GUARD; ++k) assert_true(isnan(workspace[k]));
}

/* On 1, 2 and 3 threads against double; two threads twice give the same
 * bits, and take the owned path exactly when there are two owners. */
static void test_train_forward_matches_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    static float y[3][MAX_B * U], again[MAX_B * U], workspace[MAX_B * U + GUARD];
    for (size_t fi = 0; fi < sizeof feature_counts / sizeof feature_counts[0]; ++fi) {
        const int features = feature_counts[fi];
        const tdl_dense_desc d = {.in_features = features, .units = U, .activation = TDL_ACTIVATION_RELU};
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
            const int batch = batches[i];
            for (int threads = 1; threads <= 3; ++threads)
                train_forward(y[threads - 1], workspace, data, &d, batch, threads);
            train_forward(again, workspace, data, &d, batch, 2);
            assert_memory_equal(y[1], again, sizeof(float) * (size_t)batch * U);
            for (int b = 0; b < batch; ++b) {
                for (int u = 0; u < U; ++u) {
                    double s = data->bias[u];
                    for (int f = 0; f < features; ++f) s += (double)data->x[b * features + f] * data->kernel[f * U + u];
                    for (int t = 0; t < 3; ++t) assert_close(y[t][b * U + u], s > 0.0 ? s : 0.0);
                }
            }
        }
    }
    free(data);
}

static void test_owned_forward_only_for_two_owners(void **state) {
    (void)state;
    dense_data *data = data_make();
    static float y[MAX_B * U], workspace[MAX_B * U];
    const tdl_dense_desc wide = {.in_features = MAX_F, .units = U, .activation = TDL_ACTIVATION_LINEAR};
    /* 64 x 16 floats: too little for a second owner. */
    const tdl_dense_desc small = {.in_features = 64, .units = 16, .activation = TDL_ACTIVATION_LINEAR};
    const int before = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        const bool owned = dense_xsmm_forward_owned(y, data->x, data->kernel, NULL, &wide, 17, workspace);
        assert_int_equal(owned, on_libxsmm() && threads == 2);
        assert_false(dense_xsmm_forward_owned(y, data->x, data->kernel, NULL, &small, 17, workspace));
    }
    tdl_set_num_threads(before);
    free(data);
}

/* A model's forward (tdl_dense_model_forward) in exactly the workspace it
 * asks for: B*U floats where two threads would own the kernel (520
 * features; 100 x 211 floats are too few), nothing otherwise. On two
 * threads, with libxsmm, it sums each owner's features apart, the bits of
 * the training forward and not those of tdl_dense_forward; otherwise it is
 * tdl_dense_forward on as many threads, bit for bit; always within the
 * double reference's tolerance. */
static void test_model_forward_splits_rows_on_two_threads(void **state) {
    (void)state;
    dense_data *data = data_make();
    static float y[MAX_B * U], plain[MAX_B * U], owned[MAX_B * U], workspace[MAX_B * U + GUARD];
    const int before = tdl_get_num_threads();
    for (size_t fi = 0; fi < sizeof feature_counts / sizeof feature_counts[0]; ++fi) {
        const int features = feature_counts[fi];
        const tdl_dense_desc d = {.in_features = features, .units = U, .activation = TDL_ACTIVATION_RELU};
        for (size_t i = 1; i < sizeof batches / sizeof batches[0]; ++i) {
            const int batch = batches[i];
            const size_t need = tdl_dense_forward_workspace_size(&d, batch);
            if (features == 100) assert_int_equal(need, 0);
            else if (tdl_xsmm_available()) assert_int_equal(need, (size_t)batch * U);
            else assert_true(need == 0 || need == (size_t)batch * U);
            train_forward(owned, workspace, data, &d, batch, 2);
            for (int threads = 1; threads <= 3; ++threads) {
                tdl_set_num_threads(threads);
                tdl_dense_forward(plain, data->x, data->kernel, data->bias, &d, batch);
                for (size_t k = 0; k < MAX_B * U + GUARD; ++k) workspace[k] = NAN;
                tdl_dense_model_forward(y, data->x, data->kernel, data->bias, &d, batch, need ? workspace : NULL);
                tdl_set_num_threads(before);
                for (size_t k = need; k < MAX_B * U + GUARD; ++k) assert_true(isnan(workspace[k]));
                const size_t bytes = sizeof(float) * (size_t)batch * U;
                const bool split = threads == 2 && need != 0 && on_libxsmm();
                assert_memory_equal(y, split ? owned : plain, bytes);
                if (split) assert_memory_not_equal(y, plain, bytes);
                for (int b = 0; b < batch; ++b) {
                    for (int u = 0; u < U; ++u) {
                        double s = data->bias[u];
                        for (int f = 0; f < features; ++f)
                            s += (double)data->x[b * features + f] * data->kernel[f * U + u];
                        assert_close(y[b * U + u], s > 0.0 ? s : 0.0);
                    }
                }
            }
        }
    }
    free(data);
}

/* ---- the gradients ------------------------------------------------------------ */

/* In a training step on two or three threads each gradient's tile is still
 * one sum over the batch or the units, so the bits are those of one thread
 * outside a step; all against double, accumulating into what was there. */
static void test_owned_gradients_match_reference(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { WORKSPACE = MAX_B * (4 * U + MAX_F) };
    static float y[MAX_B * U], workspace[WORKSPACE + GUARD], dkernel[3][MAX_F * U], dx[3][MAX_B * MAX_F];
    for (size_t fi = 0; fi < sizeof feature_counts / sizeof feature_counts[0]; ++fi) {
        const int features = feature_counts[fi];
        const tdl_dense_desc d = {.in_features = features, .units = U, .activation = TDL_ACTIVATION_LINEAR};
        assert_true(tdl_dense_workspace_size(&d, MAX_B) <= WORKSPACE);
        for (size_t i = 0; i < sizeof batches / sizeof batches[0]; ++i) {
            const int batch = batches[i];
            tdl_dense_forward(y, data->x, data->kernel, NULL, &d, batch);
            /* One thread outside a step, then two and three threads in one. */
            for (int run = 0; run < 3; ++run) {
                const int before = tdl_get_num_threads();
                tdl_set_num_threads(run + 1);
                tdl_team_set_training_step(run > 0);
                for (int k = 0; k < features * U; ++k) dkernel[run][k] = 0.5f;
                for (int k = 0; k < batch * features; ++k) dx[run][k] = 0.25f;
                for (int k = 0; k < WORKSPACE + GUARD; ++k) workspace[k] = NAN;
                tdl_dense_backward(dx[run], dkernel[run], NULL, data->dy, y, data->x, data->kernel, &d, batch,
                                   workspace);
                tdl_team_set_training_step(false);
                tdl_set_num_threads(before);
            }
            if (on_libxsmm()) {
                for (int run = 1; run < 3; ++run) {
                    assert_memory_equal(dkernel[0], dkernel[run], sizeof(float) * (size_t)features * U);
                    assert_memory_equal(dx[0], dx[run], sizeof(float) * (size_t)batch * (size_t)features);
                }
            }
            for (int f = 0; f < features; ++f) {
                for (int u = 0; u < U; ++u) {
                    double s = 0.5;
                    for (int b = 0; b < batch; ++b) s += (double)data->x[b * features + f] * data->dy[b * U + u];
                    assert_close(dkernel[1][f * U + u], s);
                    assert_close(dkernel[2][f * U + u], s);
                }
            }
            for (int b = 0; b < batch; ++b) {
                for (int f = 0; f < features; ++f) {
                    double s = 0.25;
                    for (int u = 0; u < U; ++u) s += (double)data->dy[b * U + u] * data->kernel[f * U + u];
                    assert_close(dx[1][b * features + f], s);
                    assert_close(dx[2][b * features + f], s);
                }
            }
        }
    }
    free(data);
}

/* ---- a model's parameter vector ------------------------------------------------ */

/* A dense kernel two threads own (520 x 211), its bias, a kernel too small
 * to split (100 x 10), a convolution's kernel and a scalar. */
static const tdl_param_info params[] = {
    {.name = "kernel", .offset = 0, .count = 520 * 211, .rank = 2, .shape = {520, 211}},
    {.name = "bias", .offset = 520 * 211, .count = 211, .rank = 1, .shape = {211}},
    {.name = "small", .offset = 520 * 211 + 211, .count = 1000, .rank = 2, .shape = {100, 10}},
    {.name = "conv", .offset = 520 * 211 + 1211, .count = 3 * 3 * 8 * 16, .rank = 4, .shape = {3, 3, 8, 16}},
    {.name = "scale", .offset = 520 * 211 + 1211 + 1152, .count = 1, .rank = 0},
};
enum { PARAMS = 520 * 211 + 1211 + 1152 + 1, MAX_RANGES = 4096 };

static tdl_model_info model_info(void) {
    tdl_model_info info = {.name = "owned", .params = params, .param_tensors = 5};
    info.layout.param_floats = PARAMS;
    info.layout.grad_floats = PARAMS;
    return info;
}

typedef struct range_log {
    atomic_int count;
    size_t begin[MAX_RANGES], end[MAX_RANGES];
} range_log;

static void log_range(void *context, size_t begin, size_t end) {
    range_log *log = context;
    const int i = atomic_fetch_add(&log->count, 1);
    assert_true(i < MAX_RANGES);
    log->begin[i] = begin;
    log->end[i] = end;
}

/* Every float in exactly one range, each range inside one tensor, and the
 * split kernel's ranges whole rows of its owners' blocks. */
static void check_split(const tdl_model_info *info, double min_flat, int threads) {
    static range_log log;
    static unsigned char seen[PARAMS];
    atomic_store(&log.count, 0);
    memset(seen, 0, sizeof seen);
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    param_split_run(info, min_flat, log_range, &log);
    tdl_set_num_threads(before);
    for (int i = 0; i < atomic_load(&log.count); ++i) {
        assert_true(log.begin[i] < log.end[i] && log.end[i] <= PARAMS);
        for (size_t k = log.begin[i]; k < log.end[i]; ++k) seen[k]++;
        if (info->params == params && threads == 2 && log.end[i] <= params[0].count) {
            size_t first, last;
            owned_rows(520, 1, 2, false, &first, &last);
            const size_t boundary = first * 211;
            assert_true(log.end[i] <= boundary || log.begin[i] >= boundary);
        }
        int tensors = 0;
        for (int t = 0; t < info->param_tensors; ++t)
            if (log.begin[i] < info->params[t].offset + info->params[t].count && log.end[i] > info->params[t].offset)
                tensors++;
        if (threads > 1 && info->params == params) assert_int_equal(tensors, 1);
    }
    for (size_t k = 0; k < PARAMS; ++k) assert_int_equal(seen[k], 1);
}

static void test_param_split_covers_every_float_once(void **state) {
    (void)state;
    const tdl_model_info info = model_info();
    for (int threads = 1; threads <= 3; ++threads) {
        check_split(&info, 0.0, threads);
        check_split(&info, 1e12, threads);
    }
    /* The owners' boundary: 520 rows are 9 blocks, 4 to the first thread. */
    size_t first, last;
    owned_rows(520, 0, 2, false, &first, &last);
    assert_int_equal(first, 0);
    assert_int_equal(last, 256);
    owned_rows(520, 1, 2, false, &first, &last);
    assert_int_equal(first, 256);
    assert_int_equal(last, 520);
    assert_int_equal(owned_row_threads(520, 211, 2), 2);
    assert_int_equal(owned_row_threads(100, 10, 2), 1);
    assert_int_equal(owned_row_threads(64, 1024, 2), 1); /* one row block */
}

/* Each share ends at the block boundary nearest to an even split of the
 * rows, every thread keeps a block, and the shares tile the rows. */
static void test_owned_rows_nearest_boundary(void **state) {
    (void)state;
    size_t begin, end;
    owned_rows(784, 0, 2, false, &begin, &end); /* 13 blocks, the last of 16 rows */
    assert_int_equal(begin, 0);
    assert_int_equal(end, 384);
    owned_rows(784, 1, 2, false, &begin, &end);
    assert_int_equal(begin, 384);
    assert_int_equal(end, 784);
    owned_rows(400, 0, 2, false, &begin, &end);
    assert_int_equal(end, 192);
    owned_rows(400, 1, 2, true, &begin, &end); /* reversed: thread 1 takes the first share */
    assert_int_equal(begin, 0);
    assert_int_equal(end, 192);
    for (size_t rows = 1; rows <= 1000; rows += 7) {
        const size_t blocks = (rows + OWNED_ROW_BLOCK - 1) / OWNED_ROW_BLOCK;
        for (int threads = 1; threads <= 4 && (size_t)threads <= blocks; ++threads) {
            size_t next = 0;
            for (int t = 0; t < threads; ++t) {
                owned_rows(rows, t, threads, false, &begin, &end);
                assert_int_equal(begin, next);
                assert_true(end > begin);
                assert_true(begin % OWNED_ROW_BLOCK == 0);
                /* Within half a block (or the one block a share must keep) of even. */
                const double even = (double)rows * (t + 1) / threads;
                if (t + 1 < threads) assert_true(fabs((double)end - even) <= OWNED_ROW_BLOCK);
                next = end;
            }
            assert_int_equal(next, rows);
        }
    }
}

/* Tensors with a gap between them: one flat split of the whole vector. */
static void test_param_split_of_tensors_with_gaps(void **state) {
    (void)state;
    static const tdl_param_info gapped[] = {
        {.name = "a", .offset = 0, .count = 100, .rank = 1, .shape = {100}},
        {.name = "b", .offset = 128, .count = PARAMS - 128, .rank = 1, .shape = {PARAMS - 128}},
    };
    tdl_model_info info = model_info();
    info.params = gapped;
    info.param_tensors = 2;
    for (int threads = 1; threads <= 2; ++threads) check_split(&info, 0.0, threads);
}

/* ---- every other split kernel reversed ------------------------------------------ */

/* Two kernels two threads split, a bias between them, a kernel too small
 * to split and a bias after. */
enum { SECOND = 520 * 211 + 211, TWO_KERNELS = SECOND + 520 * 211 + 1000 + 10 };
static const tdl_param_info two_kernels[] = {
    {.name = "kernel_1", .offset = 0, .count = 520 * 211, .rank = 2, .shape = {520, 211}},
    {.name = "bias_1", .offset = 520 * 211, .count = 211, .rank = 1, .shape = {211}},
    {.name = "kernel_2", .offset = SECOND, .count = 520 * 211, .rank = 2, .shape = {520, 211}},
    {.name = "small", .offset = SECOND + 520 * 211, .count = 1000, .rank = 2, .shape = {100, 10}},
    {.name = "bias_3", .offset = SECOND + 520 * 211 + 1000, .count = 10, .rank = 1, .shape = {10}},
};

static tdl_model_info two_kernel_info(void) {
    tdl_model_info info = {.name = "two", .params = two_kernels, .param_tensors = 5};
    info.layout.param_floats = TWO_KERNELS;
    info.layout.grad_floats = TWO_KERNELS;
    return info;
}

static void test_owned_rows_reversed(void **state) {
    (void)state;
    for (int threads = 1; threads <= 3; ++threads) {
        for (int t = 0; t < threads; ++t) {
            size_t begin, end, mirror_begin, mirror_end;
            owned_rows(520, t, threads, true, &begin, &end);
            owned_rows(520, threads - 1 - t, threads, false, &mirror_begin, &mirror_end);
            assert_int_equal(begin, mirror_begin);
            assert_int_equal(end, mirror_end);
        }
    }
}

/* Which thread ran a range: the test's own thread is the team's caller. */
static _Thread_local bool on_test_thread;

typedef struct owner_log {
    atomic_int count;
    size_t begin[MAX_RANGES];
    bool by_caller[MAX_RANGES];
} owner_log;

static void log_owner(void *context, size_t begin, size_t end) {
    (void)end;
    owner_log *log = context;
    const int i = atomic_fetch_add(&log->count, 1);
    assert_true(i < MAX_RANGES);
    log->begin[i] = begin;
    log->by_caller[i] = on_test_thread;
}

static bool first_share_by_caller(const owner_log *log, size_t begin) {
    for (int i = 0; i < atomic_load(&log->count); ++i)
        if (log->begin[i] == begin) return log->by_caller[i];
    fail_msg("no range begins at %zu", begin);
    return false;
}

/* On two threads the caller takes the first rows of the first kernel and
 * the last rows of the second, so that its rows of both lie side by side. */
static void test_param_split_alternates_owners(void **state) {
    (void)state;
    const tdl_model_info info = two_kernel_info();
    static owner_log log;
    atomic_store(&log.count, 0);
    on_test_thread = true;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    param_split_run(&info, 1e12, log_owner, &log);
    tdl_set_num_threads(before);
    on_test_thread = false;
    size_t first, last;
    owned_rows(520, 1, 2, false, &first, &last);
    /* A process on one CPU runs both threads' shares on the caller (team.h). */
    const bool other_thread = tdl_team_cpus() >= 2;
    assert_true(first_share_by_caller(&log, 0));
    assert_true(first_share_by_caller(&log, first * 211) != other_thread);
    assert_true(first_share_by_caller(&log, SECOND) != other_thread);
    assert_true(first_share_by_caller(&log, SECOND + first * 211));
}

static void test_param_split_reversed_finds_the_second_kernel(void **state) {
    (void)state;
    const tdl_model_info info = two_kernel_info();
    float *params = calloc(TWO_KERNELS, sizeof(float)), *grads = calloc(TWO_KERNELS, sizeof(float));
    static float elsewhere[16];
    assert_true(params != NULL && grads != NULL);
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    assert_false(param_split_reversed(params + SECOND)); /* no step */
    const param_split_step step = {&info, params, grads, NULL};
    tdl_team_set_step_model(&step);
    assert_false(param_split_reversed(params));
    assert_false(param_split_reversed(grads));
    assert_true(param_split_reversed(params + SECOND));
    assert_true(param_split_reversed(grads + SECOND));
    assert_false(param_split_reversed(params + 520 * 211));   /* a bias */
    assert_false(param_split_reversed(params + SECOND + 1));  /* inside the kernel */
    assert_false(param_split_reversed(params + SECOND + 520 * 211)); /* too small to split */
    assert_false(param_split_reversed(elsewhere));
    assert_false(param_split_reversed(NULL));
    tdl_set_num_threads(1); /* one thread splits nothing */
    assert_false(param_split_reversed(params + SECOND));
    tdl_team_set_step_model(NULL);
    tdl_set_num_threads(before);
    free(params);
    free(grads);
}

/* The second kernel of a model's step, reversed, against the same kernel
 * outside any model: the same bits for y and both gradients; and the
 * forward's second partial (the workspace, thread 1's) sums the first
 * owner's features instead of the second's. */
static void test_reversed_kernel_passes(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { B = 17, WORKSPACE = MAX_B * (2 * U + MAX_F) };
    const tdl_model_info info = two_kernel_info();
    float *params = calloc(TWO_KERNELS, sizeof(float)), *grads = calloc(TWO_KERNELS, sizeof(float));
    assert_true(params != NULL && grads != NULL);
    memcpy(params + SECOND, data->kernel, sizeof(float) * 520 * 211);
    static float y[2][B * U], partial[2][B * U], workspace[WORKSPACE], dkernel[2][520 * 211], dx[2][B * 520];
    const tdl_dense_desc d = {.in_features = 520, .units = 211, .activation = TDL_ACTIVATION_RELU};
    const param_split_step step = {&info, params, grads, NULL};
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    tdl_team_set_training_step(true);
    for (int reversed = 0; reversed < 2; ++reversed) {
        const float *kernel = reversed ? params + SECOND : data->kernel;
        float *gradient = reversed ? grads + SECOND : dkernel[0];
        tdl_team_set_step_model(reversed ? &step : NULL);
        assert_int_equal(param_split_reversed(kernel), reversed);
        tdl_dense_train_forward(y[reversed], data->x, kernel, data->bias, &d, B, workspace);
        memcpy(partial[reversed], workspace, sizeof partial[reversed]);
        for (int k = 0; k < B * 520; ++k) dx[reversed][k] = 0.25f;
        tdl_dense_train_backward(dx[reversed], gradient, NULL, data->dy, y[reversed], data->x, kernel, &d, B,
                                 workspace, TDL_DX_ADD);
        if (reversed) memcpy(dkernel[1], gradient, sizeof dkernel[1]);
    }
    tdl_team_set_step_model(NULL);
    tdl_team_set_training_step(false);
    tdl_set_num_threads(before);
    assert_memory_equal(y[0], y[1], sizeof y[0]);
    assert_memory_equal(dkernel[0], dkernel[1], sizeof dkernel[0]);
    assert_memory_equal(dx[0], dx[1], sizeof dx[0]);
    if (on_libxsmm()) {
        size_t boundary, last;
        owned_rows(520, 1, 2, false, &boundary, &last);
        for (int b = 0; b < B; ++b) {
            for (int u = 0; u < U; ++u) {
                double low = 0.0, high = 0.0;
                for (int f = 0; f < 520; ++f) {
                    const double term = (double)data->x[b * 520 + f] * data->kernel[f * U + u];
                    if ((size_t)f < boundary) low += term;
                    else high += term;
                }
                assert_close(partial[0][b * U + u], high);
                assert_close(partial[1][b * U + u], low);
            }
        }
    }
    free(params);
    free(grads);
    free(data);
}

/* The two gradients of dense_xsmm_backprop_owned, each in its own call. */
static void both_apart(float *dkernel, float *dx, const dense_data *data, const tdl_dense_desc *d, int batch,
                       float *scratch) {
    assert_true(dense_xsmm_backprop_kernel(dkernel, data->x, data->dy, d, batch, false, scratch));
    assert_true(dense_xsmm_backprop_input(dx, data->kernel, data->dy, d, batch, scratch, false));
}

/* Both gradients in one call of the team (dense_xsmm_backprop_owned): on
 * libxsmm, in a step, the bits of the two calls apart, whether two or three
 * threads own the kernel's rows or one does (a single thread, or a kernel
 * of 100 x 211 too small to split by rows, whose tiles two threads share);
 * it declines, writing nothing, without dx, outside a step, below the input
 * gradient's smallest batch, and on the BLAS path. */
static void test_both_gradients_in_one_call(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { SCRATCH = MAX_B * (U + MAX_F) };
    static float dkernel[2][MAX_F * U], dx[2][MAX_B * MAX_F], scratch[SCRATCH];
    const int before = tdl_get_num_threads();
    tdl_team_set_training_step(true);
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        for (size_t f = 0; f < sizeof feature_counts / sizeof feature_counts[0]; ++f) {
            const int features = feature_counts[f];
            const tdl_dense_desc d = {.in_features = features, .units = U, .activation = TDL_ACTIVATION_LINEAR};
            for (size_t i = 1; i < sizeof batches / sizeof batches[0]; ++i) {
                const int batch = batches[i];
                for (int k = 0; k < 2; ++k) {
                    for (int j = 0; j < MAX_F * U; ++j) dkernel[k][j] = NAN; /* written, not added to */
                    for (int j = 0; j < batch * MAX_F; ++j) dx[k][j] = 0.25f;
                }
                const bool one_call = dense_xsmm_backprop_owned(dkernel[1], dx[1], data->x, data->kernel, data->dy,
                                                                &d, batch, false, scratch, false);
                assert_int_equal(one_call, on_libxsmm());
                if (!one_call) continue;
                both_apart(dkernel[0], dx[0], data, &d, batch, scratch);
                assert_memory_equal(dkernel[0], dkernel[1], sizeof(float) * (size_t)features * U);
                assert_memory_equal(dx[0], dx[1], sizeof(float) * (size_t)batch * (size_t)features);
            }
        }
    }
    /* Where it declines, it writes nothing. */
    const tdl_dense_desc d = {.in_features = MAX_F, .units = U, .activation = TDL_ACTIVATION_LINEAR};
    for (int j = 0; j < MAX_F * U; ++j) dkernel[1][j] = 0.5f;
    for (int j = 0; j < MAX_B * MAX_F; ++j) dx[1][j] = 0.25f;
    tdl_set_num_threads(2);
    assert_false(
        dense_xsmm_backprop_owned(dkernel[1], NULL, data->x, data->kernel, data->dy, &d, 17, false, scratch, false));
    assert_false(
        dense_xsmm_backprop_owned(dkernel[1], dx[1], data->x, data->kernel, data->dy, &d, 8, false, scratch, false));
    tdl_team_set_training_step(false);
    tdl_set_num_threads(2);
    assert_false(
        dense_xsmm_backprop_owned(dkernel[1], dx[1], data->x, data->kernel, data->dy, &d, 17, false, scratch, false));
    tdl_set_num_threads(before);
    for (int j = 0; j < MAX_F * U; ++j) assert_true(dkernel[1][j] == 0.5f);
    for (int j = 0; j < MAX_B * MAX_F; ++j) assert_true(dx[1][j] == 0.25f);
    free(data);
}

/* The backward before dense_xsmm_backward_owned: dpre and the bias's
 * gradient made by the caller, then both gradients in one call (or the
 * kernel's alone without dx). */
static void backward_with_caller_dpre(float *dx, float *dkernel, float *dbias, const float *y, const dense_data *data,
                                      const tdl_dense_desc *d, int batch, float *dpre, float *scratch) {
    const size_t count = (size_t)batch * (size_t)d->units;
    tdl_zero(dpre, count);
    tdl_activation_backward(dpre, data->dy, y, count, d->activation, d->alpha);
    tdl_zero(dbias, (size_t)d->units);
    for (int b = 0; b < batch; ++b) tdl_accumulate(dbias, dpre + (size_t)b * (size_t)d->units, (size_t)d->units);
    if (dx != NULL)
        assert_true(
            dense_xsmm_backprop_owned(dkernel, dx, data->x, data->kernel, dpre, d, batch, false, scratch, false));
    else
        assert_true(dense_xsmm_backprop_kernel(dkernel, data->x, dpre, d, batch, false, scratch));
}

/* The whole backward on the kernel's two owners (dense_xsmm_backward_owned,
 * which tdl_dense_train_backward takes first), each owner making dpre in a
 * copy of its own: the bits of dpre made by the caller, with dx and
 * without, at batches 17 and 150; it declines, writing nothing, on one
 * thread and on three (three owners), outside a step, below the input
 * gradient's smallest batch, and on the BLAS path. */
static void test_whole_backward_on_two_owners(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { WORKSPACE = MAX_B * (4 * U + MAX_F) };
    static float y[MAX_B * U], workspace[WORKSPACE], dkernel[2][MAX_F * U], dbias[2][U], dx[2][MAX_B * MAX_F];
    const tdl_dense_desc d = {.in_features = MAX_F, .units = U, .activation = TDL_ACTIVATION_RELU};
    assert_true(tdl_dense_workspace_size(&d, MAX_B) <= WORKSPACE);
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(2);
    tdl_team_set_training_step(true);
    for (size_t i = 1; i < sizeof batches / sizeof batches[0]; ++i) {
        const int batch = batches[i];
        tdl_dense_forward(y, data->x, data->kernel, data->bias, &d, batch);
        for (int with_dx = 0; with_dx < 2; ++with_dx) {
            for (int k = 0; k < 2; ++k) {
                for (int j = 0; j < MAX_F * U; ++j) dkernel[k][j] = NAN; /* written, not added to */
                for (int j = 0; j < U; ++j) dbias[k][j] = NAN;
                for (int j = 0; j < batch * MAX_F; ++j) dx[k][j] = 0.25f;
            }
            const bool owned = dense_xsmm_backward_owned(with_dx ? dx[1] : NULL, dkernel[1], dbias[1], data->dy, y,
                                                         data->x, data->kernel, &d, batch, false, workspace, false);
            assert_int_equal(owned, on_libxsmm());
            if (!owned) continue;
            backward_with_caller_dpre(with_dx ? dx[0] : NULL, dkernel[0], dbias[0], y, data, &d, batch, workspace,
                                      workspace + (size_t)batch * U);
            assert_memory_equal(dkernel[0], dkernel[1], sizeof dkernel[0]);
            assert_memory_equal(dbias[0], dbias[1], sizeof dbias[0]);
            assert_memory_equal(dx[0], dx[1], sizeof(float) * (size_t)batch * MAX_F);
            /* Something was computed: relu passed some of dy through. */
            bool nonzero = false;
            for (int j = 0; j < U; ++j) nonzero = nonzero || dbias[1][j] != 0.0f;
            assert_true(nonzero);
        }
    }
    /* Where it declines, it writes nothing. */
    for (int j = 0; j < MAX_F * U; ++j) dkernel[1][j] = 0.5f;
    for (int j = 0; j < U; ++j) dbias[1][j] = 0.5f;
    for (int j = 0; j < MAX_B * MAX_F; ++j) dx[1][j] = 0.25f;
    assert_false(dense_xsmm_backward_owned(dx[1], dkernel[1], dbias[1], data->dy, y, data->x, data->kernel, &d, 8,
                                           false, workspace, false));
    for (int threads = 1; threads <= 3; threads += 2) {
        tdl_set_num_threads(threads);
        assert_false(dense_xsmm_backward_owned(dx[1], dkernel[1], dbias[1], data->dy, y, data->x, data->kernel, &d,
                                               17, false, workspace, false));
    }
    tdl_team_set_training_step(false);
    tdl_set_num_threads(2);
    assert_false(dense_xsmm_backward_owned(dx[1], dkernel[1], dbias[1], data->dy, y, data->x, data->kernel, &d, 17,
                                           false, workspace, false));
    tdl_set_num_threads(before);
    for (int j = 0; j < MAX_F * U; ++j) assert_true(dkernel[1][j] == 0.5f);
    for (int j = 0; j < U; ++j) assert_true(dbias[1][j] == 0.5f);
    for (int j = 0; j < MAX_B * MAX_F; ++j) assert_true(dx[1][j] == 0.25f);
    free(data);
}

/* tdl_dense_train_backward writes dkernel and dbias whatever they held and
 * adds into dx: the bits of tdl_dense_backward into zeroed gradients, on
 * both paths, one thread and two in a training step. */
static void test_train_backward_writes_parameter_gradients(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { F = 100, B = 17 };
    static float y[MAX_B * U], workspace[MAX_B * (4 * U + MAX_F)];
    static float dkernel[2][F * U], dbias[2][U], dx[2][B * F];
    const tdl_dense_desc d = {.in_features = F, .units = U, .activation = TDL_ACTIVATION_RELU};
    tdl_dense_forward(y, data->x, data->kernel, data->bias, &d, B);
    for (int threads = 1; threads <= 2; ++threads) {
        const int before = tdl_get_num_threads();
        tdl_set_num_threads(threads);
        tdl_team_set_training_step(true);
        for (int k = 0; k < F * U; ++k) dkernel[0][k] = 0.0f, dkernel[1][k] = NAN;
        for (int k = 0; k < U; ++k) dbias[0][k] = 0.0f, dbias[1][k] = NAN;
        for (int k = 0; k < B * F; ++k) dx[0][k] = dx[1][k] = 0.25f;
        tdl_dense_backward(dx[0], dkernel[0], dbias[0], data->dy, y, data->x, data->kernel, &d, B, workspace);
        tdl_dense_train_backward(dx[1], dkernel[1], dbias[1], data->dy, y, data->x, data->kernel, &d, B, workspace,
                                 TDL_DX_ADD);
        tdl_team_set_training_step(false);
        tdl_set_num_threads(before);
        assert_memory_equal(dkernel[0], dkernel[1], sizeof dkernel[0]);
        assert_memory_equal(dbias[0], dbias[1], sizeof dbias[0]);
        assert_memory_equal(dx[0], dx[1], sizeof dx[0]);
        /* Something was computed: relu passed some of dy through. */
        bool nonzero = false;
        for (int k = 0; k < F * U; ++k) nonzero = nonzero || dkernel[1][k] != 0.0f;
        assert_true(nonzero);
    }
    free(data);
}

/* With TDL_DX_WRITE, tdl_dense_train_backward writes dx whatever it held
 * (NaN here): the values of TDL_DX_ADD into zeros, with the same parameter
 * gradients, on each path that computes dx in a training step: the
 * kernel's two owners (520 features on two threads), both gradients in
 * one call (three threads; a kernel too small to own by rows, 100
 * features), a narrow layer (8 units: the kernel transposed), one thread,
 * and BLAS (a batch of 8, below libxsmm's 16; every case in CI's
 * TDL_KERNEL_PATH=blas run). */
static void test_train_backward_writes_dx(void **state) {
    (void)state;
    dense_data *data = data_make();
    enum { WORKSPACE = MAX_B * (4 * U + MAX_F) };
    static float y[MAX_B * U], workspace[WORKSPACE];
    static float dkernel[2][MAX_F * U], dbias[2][U], dx[2][MAX_B * MAX_F];
    const struct {
        int features, units, batch, threads;
    } cases[] = {{MAX_F, U, MAX_B, 2}, {MAX_F, U, 17, 3}, {100, U, 17, 2},
                 {MAX_F, 8, MAX_B, 2}, {100, U, 8, 2},    {MAX_F, U, 17, 1}};
    const int before = tdl_get_num_threads();
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; ++c) {
        const int features = cases[c].features, batch = cases[c].batch;
        const tdl_dense_desc d = {.in_features = features, .units = cases[c].units, .activation = TDL_ACTIVATION_RELU};
        const size_t kernel_floats = (size_t)features * (size_t)d.units, dx_floats = (size_t)batch * (size_t)features;
        assert_true(tdl_dense_workspace_size(&d, batch) <= WORKSPACE);
        tdl_dense_forward(y, data->x, data->kernel, data->bias, &d, batch);
        tdl_set_num_threads(cases[c].threads);
        tdl_team_set_training_step(true);
        for (int run = 0; run < 2; ++run) {
            for (size_t k = 0; k < dx_floats; ++k) dx[run][k] = run ? NAN : 0.0f;
            for (size_t k = 0; k < kernel_floats; ++k) dkernel[run][k] = NAN;
            for (int k = 0; k < d.units; ++k) dbias[run][k] = NAN;
            tdl_dense_train_backward(dx[run], dkernel[run], dbias[run], data->dy, y, data->x, data->kernel, &d, batch,
                                     workspace, run ? TDL_DX_WRITE : TDL_DX_ADD);
        }
        tdl_team_set_training_step(false);
        tdl_set_num_threads(before);
        assert_memory_equal(dkernel[0], dkernel[1], sizeof(float) * kernel_floats);
        assert_memory_equal(dbias[0], dbias[1], sizeof(float) * (size_t)d.units);
        bool nonzero = false;
        for (size_t k = 0; k < dx_floats; ++k) {
            if (dx[1][k] != dx[0][k]) fail_msg("case %zu, dx[%zu]: wrote %g, added %g", c, k, dx[1][k], dx[0][k]);
            nonzero = nonzero || dx[1][k] != 0.0f;
        }
        assert_true(nonzero);
    }
    free(data);
}

/* The owned steps give the public steps' bits, on one thread and two. */
static void test_owned_optimizer_steps_match_public(void **state) {
    (void)state;
    const tdl_model_info info = model_info();
    enum { SLOTS = 3 };
    float *a[2 + SLOTS], *b[2 + SLOTS];
    for (int k = 0; k < 2 + SLOTS; ++k) {
        a[k] = calloc(PARAMS, sizeof(float));
        b[k] = calloc(PARAMS, sizeof(float));
        assert_true(a[k] != NULL && b[k] != NULL);
    }
    fill(a[0], PARAMS); /* parameters */
    fill(a[1], PARAMS); /* gradients */
    const tdl_sgd_config sgd = {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f};
    const tdl_adam_config adam = {.learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f,
                                  .weight_decay = 0.004f};
    const tdl_rmsprop_config rmsprop = {.learning_rate = 0.01f, .rho = 0.9f, .momentum = 0.5f, .epsilon = 1e-7f,
                                        .centered = true, .weight_decay = 0.01f};
    for (int threads = 1; threads <= 2; ++threads) {
        for (int k = 0; k < 2 + SLOTS; ++k) memcpy(b[k], a[k], PARAMS * sizeof(float));
        float *p = a[0], *g = a[1], *s0 = a[2], *s1 = a[3], *s2 = a[4];
        tdl_sgd_step(p, s0, g, PARAMS, &sgd);
        tdl_adam_amsgrad_step(p, s0, s1, s2, g, PARAMS, &adam, 2);
        tdl_rmsprop_step(p, s0, s1, s2, g, PARAMS, &rmsprop);
        const int before = tdl_get_num_threads();
        tdl_set_num_threads(threads);
        optim_sgd_step_owned(&info, b[0], b[2], b[1], &sgd);
        optim_adam_step_owned(&info, b[0], b[2], b[3], b[4], b[1], &adam, 2);
        optim_rmsprop_step_owned(&info, b[0], b[2], b[3], b[4], b[1], &rmsprop);
        tdl_set_num_threads(before);
        for (int k = 0; k < 2 + SLOTS; ++k) assert_memory_equal(a[k], b[k], PARAMS * sizeof(float));
    }
    for (int k = 0; k < 2 + SLOTS; ++k) {
        free(a[k]);
        free(b[k]);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_train_forward_matches_reference),
        cmocka_unit_test(test_owned_forward_only_for_two_owners),
        cmocka_unit_test(test_model_forward_splits_rows_on_two_threads),
        cmocka_unit_test(test_owned_gradients_match_reference),
        cmocka_unit_test(test_both_gradients_in_one_call),
        cmocka_unit_test(test_whole_backward_on_two_owners),
        cmocka_unit_test(test_param_split_covers_every_float_once),
        cmocka_unit_test(test_param_split_of_tensors_with_gaps),
        cmocka_unit_test(test_train_backward_writes_parameter_gradients),
        cmocka_unit_test(test_train_backward_writes_dx),
        cmocka_unit_test(test_owned_optimizer_steps_match_public),
        cmocka_unit_test(test_owned_rows_reversed),
        cmocka_unit_test(test_owned_rows_nearest_boundary),
        cmocka_unit_test(test_param_split_alternates_owners),
        cmocka_unit_test(test_param_split_reversed_finds_the_second_kernel),
        cmocka_unit_test(test_reversed_kernel_passes),
    };
    /* libxsmm where it is built in (else this run repeats the next), then BLAS. */
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    const int automatic = cmocka_run_group_tests_name("owned dense rows, automatic path", tests, NULL, NULL);
    tdl_set_kernel_path(TDL_KERNEL_PATH_BLAS);
    const int blas = cmocka_run_group_tests_name("owned dense rows, BLAS path", tests, NULL, NULL);
    return automatic + blas;
}
