/* The thread team on fewer CPUs than threads (team.c). A process confined
 * by its affinity mask to one CPU runs every share of a job on the caller,
 * and its thread count defaults to 1; confined to two, the five shares of a
 * five-thread job run on exactly two threads, each taking every other
 * share; kernels called inside a share see one thread either way; and a
 * convolution's forward and gradients on three threads have the same bits
 * on one CPU as on all of them. Each case runs in a child of
 * fork(), which confines itself and then reads its CPUs afresh; the parent
 * never changes its thread count, so the first case sees the default.
 * Built under ThreadSanitizer in CI (TSC_TSAN). */
#define _GNU_SOURCE /* sched_getaffinity, sched_setaffinity, CPU_SET */

#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "numeric_check.h"
#include "team.h"
#include "tdl/runtime.h"

enum { MOST_SHARES = 8 };

/* Confines the calling process (a child of fork: one thread) to the first
 * `count` CPUs of its mask; false when it has fewer or cannot. */
static bool confine_to(int count) {
    cpu_set_t all, some;
    if (sched_getaffinity(0, sizeof all, &all) != 0) return false;
    CPU_ZERO(&some);
    int taken = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && taken < count; ++cpu) {
        if (!CPU_ISSET(cpu, &all)) continue;
        CPU_SET(cpu, &some);
        ++taken;
    }
    return taken == count && sched_setaffinity(0, sizeof some, &some) == 0;
}

/* Runs child() in a child process and checks that it exited with 0; a
 * nonzero code names the check that failed. */
static void in_child(int (*child)(void *), void *context) {
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) _exit(child(context));
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

/* Which thread ran each share of a job, how often each ran, and how many
 * threads a kernel called inside it would split over. */
typedef struct shares_seen {
    pthread_t thread[MOST_SHARES];
    atomic_int runs[MOST_SHARES];
    int nested_threads[MOST_SHARES];
} shares_seen;

static void record_share(void *context, int t, int threads) {
    (void)threads;
    shares_seen *seen = context;
    seen->thread[t] = pthread_self();
    seen->nested_threads[t] = tdl_team_threads();
    atomic_fetch_add(&seen->runs[t], 1);
}

/* A job of `threads` shares; 0 when each ran once, share t on the thread
 * of share t % stride, share 0 on the caller, shares 0..stride-1 on
 * different threads, and, in a job of several shares, each share's kernels
 * on one thread, whichever thread ran it. */
static int run_job(int threads, int stride) {
    shares_seen seen;
    memset(&seen, 0, sizeof seen);
    tdl_team_run(threads, record_share, &seen);
    for (int t = 0; t < threads; ++t) {
        if (atomic_load(&seen.runs[t]) != 1) return 10;
        if (!pthread_equal(seen.thread[t], seen.thread[t % stride])) return 11;
        if (t < stride && t > 0 && pthread_equal(seen.thread[t], seen.thread[0])) return 12;
        if (threads > 1 && seen.nested_threads[t] != 1) return 14;
    }
    return pthread_equal(seen.thread[0], pthread_self()) ? 0 : 13;
}

static int one_cpu(void *unused) {
    (void)unused;
    if (!confine_to(1)) return 1;
    if (tdl_team_cpus() != 1) return 2;
    if (tdl_get_num_threads() != 1) return 3;
    /* Counts outside 1 to 64, the most shares a call runs, are brought in. */
    tdl_set_num_threads(1000);
    if (tdl_get_num_threads() != 64) return 5;
    tdl_set_num_threads(0);
    if (tdl_get_num_threads() != 1) return 6;
    tdl_set_num_threads(4);
    if (tdl_get_num_threads() != 4) return 4; /* the count asked for: its shares, its bits */
    return run_job(4, 1);
}

static void test_one_cpu_runs_every_share_on_the_caller(void **state) {
    (void)state;
    in_child(one_cpu, NULL);
}

/* Two CPUs where the machine has them; the check is then of one. */
static int two_cpus(void *unused) {
    (void)unused;
    const int cpus = confine_to(2) ? 2 : 1;
    if (cpus == 1 && !confine_to(1)) return 1;
    if (tdl_team_cpus() != cpus) return 2;
    if (tdl_get_num_threads() != cpus) return 3;
    tdl_set_num_threads(5);
    int failed = run_job(5, cpus);
    /* Fewer shares than CPUs, then more again: the same threads. */
    if (!failed) failed = run_job(1, 1);
    if (!failed) failed = run_job(2, cpus);
    if (!failed) failed = run_job(3, cpus);
    return failed;
}

static void test_two_cpus_take_turns(void **state) {
    (void)state;
    in_child(two_cpus, NULL);
}

/* ---- the same bits on fewer CPUs ------------------------------------------ */

enum { BATCH = 16, SIDE = 16, CHANNELS = 32, FILTERS = 32, THREADS = 3 };

/* One convolution's inputs and, in shared memory, the results of each child. */
typedef struct conv_case {
    tdl_conv2d_desc d;
    size_t nx, nk, ny;
    float *x, *kernel, *bias, *dy;
    float *results[2]; /* y, dx, dkernel, dbias one after another, per child */
    size_t result_floats;
    int child;
} conv_case;

static float *random_floats(size_t n) {
    float *v = malloc(n * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = uniform(-0.5f, 0.5f);
    return v;
}

/* Forward and backward on THREADS threads, into the child's results; on
 * one CPU for child 1, on every CPU for child 0. */
static int conv_on_threads(void *context) {
    conv_case *c = context;
    if (c->child == 1 && !confine_to(1)) return 1;
    tdl_set_num_threads(THREADS);
    float *out = c->results[c->child];
    float *y = out, *dx = y + c->ny, *dkernel = dx + c->nx, *dbias = dkernel + c->nk;
    float *workspace = calloc(tdl_conv2d_workspace_size(&c->d, BATCH) + 1, sizeof *workspace);
    if (workspace == NULL) return 2;
    tdl_conv2d_forward(y, c->x, c->kernel, c->bias, &c->d, BATCH, workspace);
    tdl_conv2d_backward(dx, dkernel, dbias, c->dy, y, c->x, c->kernel, &c->d, BATCH, workspace);
    free(workspace);
    return 0;
}

static void test_same_bits_on_one_cpu(void **state) {
    (void)state;
    conv_case c;
    assert_int_equal(tdl_conv2d_desc_init(&c.d, SIDE, SIDE, CHANNELS, FILTERS, 3, 3, 1, 1, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_OK);
    c.d.activation = TDL_ACTIVATION_RELU;
    c.nx = (size_t)BATCH * SIDE * SIDE * CHANNELS;
    c.nk = (size_t)3 * 3 * CHANNELS * FILTERS;
    c.ny = (size_t)BATCH * (size_t)c.d.out_h * (size_t)c.d.out_w * FILTERS;
    c.x = random_floats(c.nx);
    c.kernel = random_floats(c.nk);
    c.bias = random_floats(FILTERS);
    c.dy = random_floats(c.ny);
    c.result_floats = c.ny + c.nx + c.nk + FILTERS;
    const size_t bytes = 2 * c.result_floats * sizeof(float);
    float *shared = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    assert_true(shared != MAP_FAILED);
    /* The gradients accumulate: both start from the same zeros. */
    memset(shared, 0, bytes);
    c.results[0] = shared;
    c.results[1] = shared + c.result_floats;
    for (c.child = 0; c.child < 2; ++c.child) in_child(conv_on_threads, &c);
    assert_memory_equal(c.results[0], c.results[1], c.result_floats * sizeof(float));
    /* Not all zeros: the children wrote them. */
    size_t nonzero = 0;
    for (size_t i = 0; i < c.result_floats; ++i) nonzero += c.results[0][i] != 0.0f;
    assert_true(nonzero > c.result_floats / 4);
    munmap(shared, bytes);
    free(c.x);
    free(c.kernel);
    free(c.bias);
    free(c.dy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_cpu_runs_every_share_on_the_caller),
        cmocka_unit_test(test_two_cpus_take_turns),
        cmocka_unit_test(test_same_bits_on_one_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
