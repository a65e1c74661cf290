/* Whether the first two cores the process may run on are two hardware
 * threads of one physical core at the moment: the speed of a floating-point
 * loop on each of them while both run it, against its speed on the first
 * one alone.
 *
 *   shared_core
 *
 * Prints the ratio (the two threads' mean speed together over the speed
 * alone, the median of ROUNDS rounds), then "two cores" or "one core":
 *
 *   0.98 of the speed alone on both cores 0 and 1: two cores
 *
 * Two hardware threads of one core share its arithmetic units, so each runs
 * the loop well below its speed alone; two cores run it at about full speed
 * each. On a virtual machine the host decides, and changes, what its virtual
 * cores are: on the development machine (an AMD EPYC guest with two vCPUs)
 * the two were, for seconds at a time, the two hardware threads of one core.
 * This loop then ran at 0.71-0.73 of its speed alone on each, and every
 * two-thread benchmark slowed with it: LeNet-5's forward at batch 32 took
 * 304 us on two threads instead of 190-200, against 360-370 on one
 * (docs/performance.md, "Two threads on one core"). bench/thread_ratio runs
 * this around each two-thread process, bench/run beside core_latency.
 * Prints "one core" alone when fewer than two cores are available. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdio.h>

#include "timing.h"
#include "two_cores.h"

/* Each timed run lasts RUN_SECONDS; ROUNDS rounds of one run together and
 * one alone. */
#define RUN_SECONDS 0.05
enum { ROUNDS = 5, CHAINS = 32, INNER = 4096 };

/* Below this ratio the two are taken for one core's two threads: on the
 * development machine this loop ran at 0.71-0.73 of its speed alone on each
 * of one core's two threads and at 0.95-1.11 on two cores (52 runs). */
#define SHARED_BELOW 0.85

/* Loop iterations a second for RUN_SECONDS: CHAINS independent multiply-adds
 * an iteration, enough to keep every floating-point unit of a core busy. */
static double loop_rate(void) {
    float acc[CHAINS];
    for (int k = 0; k < CHAINS; ++k) acc[k] = 1.0f + (float)k * 1e-7f;
    const float m = 0.9999999f, c = 1e-7f;
    long iterations = 0;
    const double start = timing_now_seconds();
    double elapsed;
    do {
        for (int i = 0; i < INNER; ++i)
            for (int k = 0; k < CHAINS; ++k) acc[k] = acc[k] * m + c;
        iterations += INNER;
        elapsed = timing_now_seconds() - start;
    } while (elapsed < RUN_SECONDS);
    volatile float sink = 0.0f;
    for (int k = 0; k < CHAINS; ++k) sink += acc[k];
    (void)sink;
    return (double)iterations / elapsed;
}

/* The second thread: pinned, then one run together with the first in each
 * round. It sleeps in the barrier while the first runs alone, so that the
 * run alone has the whole core. */
static pthread_barrier_t start, end;
static double partner_rate;

static void *partner(void *argument) {
    (void)two_cores_pin(*(const int *)argument);
    for (int round = 0; round < ROUNDS; ++round) {
        pthread_barrier_wait(&start);
        partner_rate = loop_rate();
        pthread_barrier_wait(&end);
    }
    return NULL;
}

int main(int argc, char **argv) {
    (void)argv;
    if (argc != 1) {
        fputs("usage: shared_core\n", stderr);
        return 2;
    }
    int cpus[2];
    const int started = two_cores_start("shared_core", cpus);
    if (started != 0) return started < 0 ? 1 : 0;
    if (pthread_barrier_init(&start, NULL, 2) != 0 || pthread_barrier_init(&end, NULL, 2) != 0) {
        fputs("shared_core: cannot make a barrier\n", stderr);
        return 1;
    }
    pthread_t thread;
    if (pthread_create(&thread, NULL, partner, &cpus[1]) != 0) {
        fputs("shared_core: cannot start a thread\n", stderr);
        return 1;
    }
    double ratios[ROUNDS];
    for (int round = 0; round < ROUNDS; ++round) {
        const double alone = loop_rate();
        pthread_barrier_wait(&start);
        const double together = loop_rate();
        pthread_barrier_wait(&end);
        ratios[round] = (together + partner_rate) / 2.0 / alone;
    }
    pthread_join(thread, NULL);
    const double ratio = timing_median(ratios, ROUNDS);
    printf("%.2f of the speed alone on both cores %d and %d: %s\n", ratio, cpus[0], cpus[1],
           ratio < SHARED_BELOW ? "one core" : "two cores");
    return 0;
}
