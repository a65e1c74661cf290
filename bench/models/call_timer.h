/* The timers that timed_calls.awk puts around each runtime call of a
 * model's passes, read by profile_calls.c. */
#ifndef BENCH_CALL_TIMER_H
#define BENCH_CALL_TIMER_H

#include "timing.h"

enum { CALL_TIMER_MAX = 256 };

/* Seconds spent in call k since the last call_timer_reset, and its label;
 * call_timer_add takes the timing_now_seconds() read before the call. */
extern double call_timer_seconds[CALL_TIMER_MAX];
extern const char *call_timer_label[CALL_TIMER_MAX];

static inline void call_timer_add(int k, const char *label, double started) {
    if (k < 0 || k >= CALL_TIMER_MAX) return;
    call_timer_seconds[k] += timing_now_seconds() - started;
    call_timer_label[k] = label;
}

void call_timer_reset(void);

#endif /* BENCH_CALL_TIMER_H */
