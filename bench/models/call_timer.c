/* The timers of call_timer.h. */
#include "call_timer.h"

#include <string.h>

double call_timer_seconds[CALL_TIMER_MAX];
const char *call_timer_label[CALL_TIMER_MAX];

void call_timer_reset(void) { memset(call_timer_seconds, 0, sizeof call_timer_seconds); }
