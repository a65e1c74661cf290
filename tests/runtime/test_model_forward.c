/* tdl_model_forward (model_forward.c) with a pass that records its calls:
 * on two threads a batch of 32 or more runs in one slice per thread, which
 * together cover every example once, each slice with a workspace of its
 * own that is large enough, inside the arena's and on whole cache lines;
 * a smaller batch, one thread, no slice workspace function, an arena
 * too small for two slices' workspaces or a model whose parameters would
 * serve fewer than 48 multiply-adds each in a slice run one pass over the
 * whole batch;
 * a slice that fails on the other thread leaves its status and its own
 * message with the caller. Built under ThreadSanitizer in CI (TSC_TSAN);
 * on the portable runtime, whose team has no threads, every call is one
 * pass. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "team.h"
#include "tdl/runtime.h"

/* The portable runtime's team runs every share on the caller: one pass. */
#ifdef TDL_TEST_PORTABLE_RUNTIME
static const bool team_splits = false;
#else
static const bool team_splits = true;
#endif

enum { MAX_BATCH = 64, MAX_CALLS = 8, ARENA_WORKSPACE = 4096 };

/* Workspace floats a slice of `batch` examples asks for, and what the
 * arena holds for max_batch (the model's workspace_floats). */
static size_t slice_need(int batch) { return (size_t)batch * 20 + 3; }
static size_t arena_floats(int max_batch) {
    (void)max_batch;
    return ARENA_WORKSPACE;
}
static size_t too_much(int batch) { return ARENA_WORKSPACE / 2 + (size_t)batch; }

typedef struct call_log {
    atomic_int calls;
    int first[MAX_CALLS], count[MAX_CALLS];
    float *workspace[MAX_CALLS];
    bool on_caller[MAX_CALLS];
    int fail_from; /* slices that start here or later fail */
} call_log;

static call_log log_of_calls;
static _Thread_local bool is_caller;
static _Alignas(64) float workspace[ARENA_WORKSPACE];

static tdl_status record_pass(tdl_model *m, int first, int batch, const void *const *in, void *const *out,
                              float *ws) {
    (void)m, (void)in, (void)out;
    const int i = atomic_fetch_add(&log_of_calls.calls, 1);
    if (i < MAX_CALLS) {
        log_of_calls.first[i] = first;
        log_of_calls.count[i] = batch;
        log_of_calls.workspace[i] = ws;
        log_of_calls.on_caller[i] = is_caller;
    }
    if (first >= log_of_calls.fail_from)
        return tdl_set_error(TDL_STATUS_BAD_LABEL, "one_hot: an index is out of range in example %d", first);
    return TDL_STATUS_OK;
}

static tdl_model_info info = {.name = "fake", .workspace_floats = arena_floats};

static tdl_model make_model(void) {
    tdl_model m;
    memset(&m, 0, sizeof m);
    m.info = &info;
    m.max_batch = MAX_BATCH;
    m.workspace = workspace;
    return m;
}

static tdl_status forward(int threads, int batch, size_t (*slice_workspace)(int), int fail_from) {
    memset(&log_of_calls, 0, sizeof log_of_calls);
    log_of_calls.fail_from = fail_from;
    is_caller = true;
    tdl_model m = make_model();
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    const tdl_status status = tdl_model_forward(&m, batch, NULL, NULL, record_pass, slice_workspace);
    tdl_set_num_threads(before);
    return status;
}

static void assert_one_pass(int batch) {
    assert_int_equal(atomic_load(&log_of_calls.calls), 1);
    assert_int_equal(log_of_calls.first[0], 0);
    assert_int_equal(log_of_calls.count[0], batch);
    assert_ptr_equal(log_of_calls.workspace[0], workspace);
    assert_true(log_of_calls.on_caller[0]);
}

static void test_slices_cover_the_batch(void **state) {
    (void)state;
    const int batches[] = {32, 33, 47, 64};
    for (size_t k = 0; k < sizeof batches / sizeof batches[0]; ++k) {
        const int batch = batches[k];
        assert_int_equal(forward(2, batch, slice_need, MAX_BATCH), TDL_STATUS_OK);
        if (!team_splits) {
            assert_one_pass(batch);
            continue;
        }
        assert_int_equal(atomic_load(&log_of_calls.calls), 2);
        int seen[MAX_BATCH] = {0};
        const size_t largest = slice_need((batch + 1) / 2);
        for (int i = 0; i < 2; ++i) {
            assert_true(log_of_calls.count[i] >= 16);
            for (int e = log_of_calls.first[i]; e < log_of_calls.first[i] + log_of_calls.count[i]; ++e) seen[e]++;
            const float *ws = log_of_calls.workspace[i];
            assert_true((uintptr_t)ws % 64 == 0);
            assert_true(ws >= workspace && ws + largest <= workspace + ARENA_WORKSPACE);
        }
        for (int e = 0; e < batch; ++e) assert_int_equal(seen[e], 1);
        /* Apart by at least the larger slice's need. */
        const float *a = log_of_calls.workspace[0], *b = log_of_calls.workspace[1];
        assert_true((size_t)(a < b ? b - a : a - b) >= largest);
        /* One slice a thread; on one CPU both on the caller (team.h). */
        if (tdl_team_cpus() >= 2)
            assert_true(log_of_calls.on_caller[0] != log_of_calls.on_caller[1]);
        else
            assert_true(log_of_calls.on_caller[0] && log_of_calls.on_caller[1]);
    }
}

static void test_one_pass_otherwise(void **state) {
    (void)state;
    assert_int_equal(forward(2, 31, slice_need, MAX_BATCH), TDL_STATUS_OK); /* slices under 16 examples */
    assert_one_pass(31);
    assert_int_equal(forward(1, 64, slice_need, MAX_BATCH), TDL_STATUS_OK); /* one thread */
    assert_one_pass(64);
    assert_int_equal(forward(2, 64, NULL, MAX_BATCH), TDL_STATUS_OK); /* the compiler found a tensor without B */
    assert_one_pass(64);
    assert_int_equal(forward(2, 64, too_much, MAX_BATCH), TDL_STATUS_OK); /* two workspaces do not fit */
    assert_one_pass(64);
}

/* Slices of 32 examples: 48 multiply-adds a parameter at 1.5 a parameter
 * and example, the least that slices take; 44.8 at 1.4. A model that
 * reads no parameters (0) slices as ever. */
static void test_slices_only_where_parameters_serve_enough(void **state) {
    (void)state;
    const float counts[] = {1.5f, 1.4f, 0.0f};
    for (size_t k = 0; k < sizeof counts / sizeof counts[0]; ++k) {
        info.forward_macs_per_param = counts[k];
        assert_int_equal(forward(2, 64, slice_need, MAX_BATCH), TDL_STATUS_OK);
        const int passes = team_splits && counts[k] != 1.4f ? 2 : 1;
        assert_int_equal(atomic_load(&log_of_calls.calls), passes);
        if (passes == 1) assert_one_pass(64);
    }
    info.forward_macs_per_param = 0.0f;
}

static void test_failure_on_the_other_thread(void **state) {
    (void)state;
    if (!team_splits) { /* one pass, from example 0 */
        assert_int_equal(forward(2, 32, slice_need, 16), TDL_STATUS_OK);
        assert_one_pass(32);
        return;
    }
    assert_int_equal(forward(2, 32, slice_need, 16), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "one_hot: an index is out of range in example 16");
    /* A failure in the caller's own slice keeps its message too. */
    assert_int_equal(forward(2, 32, slice_need, 0), TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "one_hot: an index is out of range in example 0");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slices_cover_the_batch),
        cmocka_unit_test(test_one_pass_otherwise),
        cmocka_unit_test(test_slices_only_where_parameters_serve_enough),
        cmocka_unit_test(test_failure_on_the_other_thread),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
