/* How far apart the first two cores the process may run on are: the round
 * trip of one cache line handed back and forth between two threads pinned
 * to them, in nanoseconds (the median of several batches).
 *
 *   core_latency [--bandwidth]
 *
 * bench/run prints it before and after a run. On a virtual machine the host
 * decides where the two virtual cores sit, and moves them: on the
 * development machine the round trip was 150-180 ns at some times and
 * 450-650 ns at others, and the two-thread figures moved with it (every
 * model at batch 32 and 128 ran 1.81-2.15x faster on two threads than on
 * one in a run just before 153-180 ns was read, and 1.20-1.90x in the next
 * run, which began at 168 ns and ended at 549). Prints "one core" when
 * fewer than two are available.
 *
 * --bandwidth also times what a kernel's second thread pays for data the
 * first one wrote: one core writes BLOCK_BYTES, the other then reads them
 * in address order, and the roles alternate; it prints the median read in
 * microseconds and GB/s. Many lines are then in flight at once, so a block
 * crosses far faster than one round trip per line would allow. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "timing.h"
#include "two_cores.h"

enum { ROUND_TRIPS = 20000, BATCHES = 9 };
/* The bandwidth's block: a 32 x 512 activation, what two owners of a dense
 * layer's rows exchange in a training step (runtime/src/owned_rows.h). */
enum { BLOCK_BYTES = 64 * 1024, BLOCK_FLOATS = BLOCK_BYTES / 4, HANDOFFS = 2001 };

/* The line the two threads hand back and forth: odd values are the
 * pinger's turn to be answered, even ones the ponger's to be asked. */
static _Alignas(64) atomic_long turn;

static void *ponger(void *argument) {
    /* Unpinned if this fails: the pinger waits for every answer. */
    (void)two_cores_pin(*(const int *)argument);
    for (long i = 0; i < (long)BATCHES * ROUND_TRIPS; ++i) {
        while (atomic_load_explicit(&turn, memory_order_acquire) != 2 * i + 1) {
        }
        atomic_store_explicit(&turn, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

/* --bandwidth: handoff h is written by core h % 2 and read by the other. */
static _Alignas(64) float block[BLOCK_FLOATS];
static _Alignas(64) atomic_int handoff; /* 2h: write h; 2h + 1: read h */
static double read_us[2][HANDOFFS / 2 + 1];
static volatile float read_sink;

static void take_turns(int side) {
    int reads = 0;
    for (int h = 0; h < HANDOFFS; ++h) {
        const int writer = h % 2;
        const int step = side == writer ? 2 * h : 2 * h + 1;
        while (atomic_load_explicit(&handoff, memory_order_acquire) != step) {
        }
        if (side == writer) {
            for (int i = 0; i < BLOCK_FLOATS; ++i) block[i] = (float)(h + i);
        } else {
            /* Sixteen sums, so that the adds keep up with the loads. */
            float sums[16] = {0};
            const double start = timing_now_seconds();
            for (int i = 0; i < BLOCK_FLOATS; i += 16)
                for (int k = 0; k < 16; ++k) sums[k] += block[i + k];
            read_us[side][reads++] = (timing_now_seconds() - start) * 1e6;
            for (int k = 0; k < 16; ++k) read_sink += sums[k];
        }
        atomic_store_explicit(&handoff, step + 1, memory_order_release);
    }
}

static void *bandwidth_partner(void *argument) {
    (void)two_cores_pin(*(const int *)argument);
    take_turns(1);
    return NULL;
}

static int print_bandwidth(int cpus[2]) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, bandwidth_partner, &cpus[1]) != 0) {
        fputs("core_latency: cannot start a thread\n", stderr);
        return 1;
    }
    take_turns(0);
    pthread_join(thread, NULL);
    for (int side = 0; side < 2; ++side) {
        const double us = timing_median(read_us[side], side == 0 ? HANDOFFS / 2 : HANDOFFS / 2 + 1);
        printf("%d KB written by core %d, read by core %d: %.1f us (%.1f GB/s)\n", BLOCK_BYTES / 1024,
               cpus[1 - side], cpus[side], us, BLOCK_BYTES / us / 1e3);
    }
    return 0;
}

int main(int argc, char **argv) {
    const int bandwidth = argc == 2 && strcmp(argv[1], "--bandwidth") == 0;
    if (argc > 2 || (argc == 2 && !bandwidth)) {
        fputs("usage: core_latency [--bandwidth]\n", stderr);
        return 2;
    }
    int cpus[2];
    const int started = two_cores_start("core_latency", cpus);
    if (started != 0) return started < 0 ? 1 : 0;
    if (bandwidth) return print_bandwidth(cpus);
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
