/* What one split call costs the runtime's thread team before any work: the
 * time of tdl_team_run on two threads with an empty share each, in
 * nanoseconds (the median of several batches). The leader publishes the
 * job, the worker sees it, runs nothing and reports back, and the leader
 * sees that: at least one cache line each way between the two cores, so
 * compare it with core_latency's round trip measured around it.
 *
 *   team_handshake
 *
 * Prints "one core" when fewer than two CPUs are online, and says so when
 * the runtime has no team (the portable build runs every share on the
 * caller). */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>

#include "team.h"
#include "tdl/runtime.h"
#include "timing.h"
#include "two_threads.h"

enum { CALLS = 100000, BATCHES = 9 };

static void empty_share(void *context, int t, int threads) {
    (void)context, (void)t, (void)threads;
}

int main(void) {
    if (!two_threads_can_run()) return 0;
    tdl_set_num_threads(2);
    /* The first call starts the worker. */
    tdl_team_run(2, empty_share, NULL);
    double batch_ns[BATCHES];
    for (int b = 0; b < BATCHES; ++b) {
        const double start = timing_now_seconds();
        for (int i = 0; i < CALLS; ++i) tdl_team_run(2, empty_share, NULL);
        batch_ns[b] = (timing_now_seconds() - start) * 1e9 / CALLS;
    }
    printf("%.0f ns a call of an empty job on two threads\n", timing_median(batch_ns, BATCHES));
    return 0;
}
