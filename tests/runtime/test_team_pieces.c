/* tdl_team_pieces (team_split.c): every item of a call is handed out
 * exactly once, in pieces of `grain` (the last one shorter), on 1 to 3
 * threads; each thread starts on its own share; and a thread that finishes
 * takes the pieces another has not started (thread 0 here waits until they
 * are all taken, where the process has two CPUs). Refused setups: no
 * threads, more than the most. Built under ThreadSanitizer in CI
 * (TSC_TSAN). */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <cmocka.h>

#include "team.h"
#include "tdl/runtime.h"

enum { MOST_ITEMS = 1000, MOST_THREADS = 3 };

typedef struct pieces_job {
    tdl_team_pieces pieces;
    size_t n, grain;
    atomic_int count[MOST_ITEMS];        /* times each item was handed out */
    atomic_int by_thread[MOST_ITEMS];    /* who took it, plus one */
    atomic_int first_piece[MOST_THREADS]; /* each thread's first item, plus one */
    bool thread_zero_waits;
    atomic_int taken; /* items handed out so far */
} pieces_job;

static void take_pieces(void *context, int t, int threads) {
    (void)threads;
    pieces_job *j = context;
    if (j->thread_zero_waits && t == 0) {
        /* Until the others have taken every piece, or two seconds. */
        const struct timespec pause = {0, 1000000};
        for (int i = 0; i < 2000 && atomic_load(&j->taken) < (int)j->n; ++i) nanosleep(&pause, NULL);
    }
    size_t begin, end;
    while (tdl_team_pieces_next(&j->pieces, t, &begin, &end)) {
        assert_true(begin < end && end <= j->n);
        assert_true(begin % j->grain == 0);
        assert_true(end - begin == j->grain || end == j->n);
        int none = 0;
        atomic_compare_exchange_strong(&j->first_piece[t], &none, (int)begin + 1);
        for (size_t i = begin; i < end; ++i) {
            atomic_fetch_add(&j->count[i], 1);
            atomic_store(&j->by_thread[i], t + 1);
        }
        atomic_fetch_add(&j->taken, (int)(end - begin));
    }
}

static pieces_job *run(size_t n, size_t grain, int threads, bool thread_zero_waits) {
    static pieces_job job;
    job.n = n;
    job.grain = grain > 0 ? grain : 1; /* as the pieces take it */
    job.thread_zero_waits = thread_zero_waits;
    atomic_store(&job.taken, 0);
    for (size_t i = 0; i < MOST_ITEMS; ++i) {
        atomic_store(&job.count[i], 0);
        atomic_store(&job.by_thread[i], 0);
    }
    for (int t = 0; t < MOST_THREADS; ++t) atomic_store(&job.first_piece[t], 0);
    assert_true(tdl_team_pieces_init(&job.pieces, n, grain, threads));
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    tdl_team_run(threads, take_pieces, &job);
    tdl_set_num_threads(before);
    for (size_t i = 0; i < n; ++i) assert_int_equal(atomic_load(&job.count[i]), 1);
    return &job;
}

static void test_every_item_once(void **state) {
    (void)state;
    const size_t counts[] = {0, 1, 2, 7, 64, 129, MOST_ITEMS};
    const size_t grains[] = {1, 3, 4, 1000};
    for (size_t a = 0; a < sizeof counts / sizeof counts[0]; ++a)
        for (size_t g = 0; g < sizeof grains / sizeof grains[0]; ++g)
            for (int threads = 1; threads <= MOST_THREADS; ++threads) run(counts[a], grains[g], threads, false);
    /* A grain of 0 is taken as 1. */
    run(5, 0, 2, false);
}

/* Each thread's first piece is the start of its own share (when it is not
 * left waiting): a layer's images stay on the core that made them. */
static void test_own_share_first(void **state) {
    (void)state;
    enum { N = 120, GRAIN = 4 };
    const pieces_job *j = run(N, GRAIN, 1, false);
    assert_int_equal(atomic_load(&j->first_piece[0]), 1);
    tdl_team_pieces p;
    assert_true(tdl_team_pieces_init(&p, N, GRAIN, 3));
    for (int t = 0; t < 3; ++t) {
        size_t begin, end, share_begin, share_end;
        tdl_team_share(N / GRAIN, t, 3, &share_begin, &share_end);
        assert_true(tdl_team_pieces_next(&p, t, &begin, &end));
        assert_int_equal(begin, share_begin * GRAIN);
    }
}

/* Thread 0 waits: thread 1 takes its share too. On one CPU the team runs
 * thread 1's share after thread 0's (tdl_team_cpus), so thread 0, which
 * then does not wait, takes every piece. */
static void test_idle_thread_takes_the_rest(void **state) {
    (void)state;
    const bool concurrent = tdl_team_cpus() >= 2;
    const pieces_job *j = run(200, 4, 2, concurrent);
    for (size_t i = 0; i < 200; ++i) assert_int_equal(atomic_load(&j->by_thread[i]), concurrent ? 2 : 1);
}

static void test_refused_setups(void **state) {
    (void)state;
    tdl_team_pieces p;
    assert_false(tdl_team_pieces_init(&p, 10, 1, 0));
    assert_false(tdl_team_pieces_init(&p, 10, 1, TDL_TEAM_PIECES_MAX_THREADS + 1));
    assert_true(tdl_team_pieces_init(&p, 10, 1, TDL_TEAM_PIECES_MAX_THREADS));
    if (SIZE_MAX > UINT32_MAX) assert_false(tdl_team_pieces_init(&p, SIZE_MAX, 1, 2));
    /* Nothing to hand out. */
    size_t begin, end;
    assert_true(tdl_team_pieces_init(&p, 0, 4, 2));
    assert_false(tdl_team_pieces_next(&p, 0, &begin, &end));
    assert_false(tdl_team_pieces_next(&p, 1, &begin, &end));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_item_once),
        cmocka_unit_test(test_own_share_first),
        cmocka_unit_test(test_idle_thread_takes_the_rest),
        cmocka_unit_test(test_refused_setups),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
