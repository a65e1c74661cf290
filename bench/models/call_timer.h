/* The timers that timed_calls.awk puts around each runtime call of a
 * model's passes, read by profile_calls.c. */
#ifndef BENCH_CALL_TIMER_H
#define BENCH_CALL_TIMER_H

#include <stdint.h>

enum { CALL_TIMER_MAX = 256 };

/* Nanoseconds spent in call k since the last call_timer_reset, and its label. */
extern uint64_t call_timer_ns[CALL_TIMER_MAX];
extern const char *call_timer_label[CALL_TIMER_MAX];

uint64_t call_timer_now(void);

static inline void call_timer_add(int k, const char *label, uint64_t started) {
    if (k < 0 || k >= CALL_TIMER_MAX) return;
    call_timer_ns[k] += call_timer_now() - started;
    call_timer_label[k] = label;
}

void call_timer_reset(void);

#endif /* BENCH_CALL_TIMER_H */
