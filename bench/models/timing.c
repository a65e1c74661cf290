/* Median wall time of a call: warm up, pick a repeat count from the last
 * warm-up call, then time `runs` runs of that many calls each. */
#define _POSIX_C_SOURCE 200809L

#include "timing.h"

#include <stdlib.h>
#include <time.h>

enum { MAX_RUNS = 101, MAX_REPEATS = 100000 };

double timing_now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double timing_median(double *values, int count) {
    qsort(values, (size_t)count, sizeof values[0], compare_doubles);
    return values[count / 2];
}

double timing_median_ms(const timing_plan *plan, timed_call call, void *ctx) {
    double one_call = 0;
    const int warm_up = plan->warm_up_calls < 1 ? 1 : plan->warm_up_calls;
    for (int i = 0; i < warm_up; ++i) {
        const double start = timing_now_seconds();
        call(ctx);
        one_call = timing_now_seconds() - start;
    }
    int repeats = 1;
    if (one_call < plan->min_run_seconds)
        repeats = one_call > 0 ? (int)(plan->min_run_seconds / one_call) + 1 : MAX_REPEATS;
    if (repeats > MAX_REPEATS) repeats = MAX_REPEATS;

    const int runs = plan->runs < 1 ? 1 : plan->runs > MAX_RUNS ? MAX_RUNS : plan->runs;
    double samples[MAX_RUNS];
    for (int r = 0; r < runs; ++r) {
        const double start = timing_now_seconds();
        for (int i = 0; i < repeats; ++i) call(ctx);
        samples[r] = (timing_now_seconds() - start) / repeats;
    }
    return 1e3 * timing_median(samples, runs);
}
