/* For the benchmarks of the runtime's two-thread team (team_handshake,
 * dense_split): whether they can run here, and if not, why, printed as
 * their whole output (the portable build has no team; a machine with one
 * core has no second thread to give it). */
#ifndef BENCH_TWO_THREADS_H
#define BENCH_TWO_THREADS_H

#include <stdbool.h>
#include <stdio.h>

#include "team.h"

static inline bool two_threads_can_run(void) {
    if (!tdl_team_can_split()) {
        puts("no thread team in this runtime (TDLRT_PORTABLE)");
        return false;
    }
    /* The team runs no more threads than the process may use CPUs. */
    if (tdl_team_cpus() < 2) {
        puts("one core");
        return false;
    }
    return true;
}

#endif /* BENCH_TWO_THREADS_H */
