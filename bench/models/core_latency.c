/* How far apart the first two cores the process may run on are: the round
 * trip of one cache line handed back and forth between two threads pinned
 * to them, in nanoseconds (the median of several batches).
 *
 *   core_latency
 *
 * bench/run prints it before and after a run. On a virtual machine the host
 * decides where the two virtual cores sit, and moves them: on the
 * development machine the round trip was 150-180 ns at some times and
 * 450-650 ns at others, and the two-thread figures moved with it (every
 * model at batch 32 and 128 ran 1.81-2.15x faster on two threads than on
 * one in a run just before 153-180 ns was read, and 1.20-1.90x in the next
 * run, which began at 168 ns and ended at 549). Prints "one core" when
 * fewer than two are available. */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>

#include "timing.h"

enum { ROUND_TRIPS = 20000, BATCHES = 9 };

/* The line the two threads hand back and forth: odd values are the
 * pinger's turn to be answered, even ones the ponger's to be asked. */
static _Alignas(64) atomic_long turn;

static int pin_to(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *ponger(void *argument) {
    /* Unpinned if this fails: the pinger waits for every answer. */
    (void)pin_to(*(const int *)argument);
    for (long i = 0; i < (long)BATCHES * ROUND_TRIPS; ++i) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

int main(void) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        perror("core_latency: sched_getaffinity");
        return 1;
    }
    int cpus[2], found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; ++cpu)
        if (CPU_ISSET(cpu, &allowed)) cpus[found++] = cpu;
    if (found < 2) {
        puts("one core");
        return 0;
    }
    if (pin_to(cpus[0]) != 0) {
        fputs("core_latency: cannot pin a thread to a core\n", stderr);
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, ponger, &cpus[1]) != 0) {
        fputs("core_latency: cannot start a thread\n", stderr);
        return 1;
    }
    double batch_ns[BATCHES];
    long i = 0;
    for (int b = 0; b < BATCHES; ++b) {
        const double start = timing_now_seconds();
        for (int r = 0; r < ROUND_TRIPS; ++r, ++i) {
            atomic_store_explicit(&turn, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 2) {
            }
        }
        batch_ns[b] = (timing_now_seconds() - start) * 1e9 / ROUND_TRIPS;
    }
    pthread_join(thread, NULL);
    printf("%.0f ns between cores %d and %d\n", timing_median(batch_ns, BATCHES), cpus[0], cpus[1]);
    return 0;
}
