/* Median wall time of a call, after a warm-up, for the model benchmark. */
#ifndef BENCH_TIMING_H
#define BENCH_TIMING_H

/* How to time one configuration: `runs` timed runs (the median is kept),
 * each repeating the call enough times to last at least `min_run_seconds`,
 * so that calls of a few microseconds are not lost in timer noise. */
typedef struct timing_plan {
    int warm_up_calls;
    int runs;
    double min_run_seconds;
} timing_plan;

/* One call of the thing being timed; ctx is its state. */
typedef void (*timed_call)(void *ctx);

double timing_now_seconds(void);
/* The median of values[0..count), count >= 1; sorts them. */
double timing_median(double *values, int count);
/* Median over plan->runs of the mean time of one call, in milliseconds. */
double timing_median_ms(const timing_plan *plan, timed_call call, void *ctx);

#endif
