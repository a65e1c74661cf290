/* This machine's FMA peak on a given number of threads, as a line of
 * bench/run's results, so that its report can say how fast each model would
 * run if every multiply-add of its layers ran at that peak.
 *
 *   fma_peak THREADS
 *
 * Prints one tab-separated line: "peak", the thread count, the instruction
 * set of the fastest loop and its GFLOP/s (single precision, all threads):
 *
 *   peak	1	avx512f	116.3 */
#include <stdio.h>
#include <stdlib.h>

#include "fma_peak.h"

int main(int argc, char **argv) {
    char *end = NULL;
    const long threads = argc == 2 ? strtol(argv[1], &end, 10) : 0;
    if (argc != 2 || end == argv[1] || *end != '\0' || threads < 1 || threads > FMA_PEAK_MAX_THREADS) {
        fprintf(stderr, "usage: fma_peak THREADS (1 to %d)\n", FMA_PEAK_MAX_THREADS);
        return 2;
    }
    const fma_peak peak = fma_peak_measure((int)threads);
    printf("peak\t%ld\t%s\t%.1f\n", threads, peak.isa, peak.gflops);
    return 0;
}
