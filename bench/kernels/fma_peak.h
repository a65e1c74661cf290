/* The FMA peak of this machine, measured: a loop of independent fused
 * multiply-adds per instruction set the CPU has, on 1..N threads at once. */
#ifndef BENCH_FMA_PEAK_H
#define BENCH_FMA_PEAK_H

typedef struct fma_peak {
    const char *isa;  /* "avx512f", "avx2+fma" or "sse2" (no FMA: mul + add) */
    double gflops;    /* single precision, all threads together */
} fma_peak;

/* The most threads the loop runs on at once. */
enum { FMA_PEAK_MAX_THREADS = 64 };

/* The best peak over the instruction sets this CPU supports, with `threads`
 * threads (at most FMA_PEAK_MAX_THREADS) running the loop at the same time. */
fma_peak fma_peak_measure(int threads);

#endif /* BENCH_FMA_PEAK_H */
