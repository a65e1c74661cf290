/* The timers of call_timer.h. */
#define _POSIX_C_SOURCE 200809L
#include "call_timer.h"

#include <string.h>
#include <time.h>

uint64_t call_timer_ns[CALL_TIMER_MAX];
const char *call_timer_label[CALL_TIMER_MAX];

uint64_t call_timer_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void call_timer_reset(void) { memset(call_timer_ns, 0, sizeof call_timer_ns); }
