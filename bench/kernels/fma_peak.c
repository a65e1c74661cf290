/* FMA peak per instruction set: each loop keeps 12 independent accumulators
 * (more than FMA latency x ports on current x86 cores, so the loop is bound by
 * FMA throughput alone) and is compiled for its instruction set with a target
 * attribute, so the benchmark itself needs no -march. */
#define _POSIX_C_SOURCE 200809L

#include "fma_peak.h"

#include <pthread.h>
#include <stdio.h>
#include <time.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define FMA_PEAK_X86 1
#endif

enum { ITERATIONS = 20000000, ACCUMULATORS = 12 };

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

/* Keeps the compiler from dropping the loop. */
static volatile float sink;

#ifdef FMA_PEAK_X86
/* 12 x 16 lanes x 2 flops per iteration. */
__attribute__((target("avx512f"))) static double loop_avx512(long n) {
    __m512 acc[ACCUMULATORS];
    const __m512 a = _mm512_set1_ps(0.999999f), b = _mm512_set1_ps(1e-7f);
    for (int i = 0; i < ACCUMULATORS; ++i) acc[i] = _mm512_set1_ps((float)i);
    for (long k = 0; k < n; ++k) {
        /* Unrolled so the accumulators live in registers, not on the stack. */
#pragma GCC unroll 12
        for (int i = 0; i < ACCUMULATORS; ++i) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    __m512 total = acc[0];
    for (int i = 1; i < ACCUMULATORS; ++i) total = _mm512_add_ps(total, acc[i]);
    sink = _mm512_reduce_add_ps(total);
    return (double)n * ACCUMULATORS * 16 * 2;
}

/* 12 x 8 lanes x 2 flops per iteration. */
__attribute__((target("avx2,fma"))) static double loop_avx2(long n) {
    __m256 acc[ACCUMULATORS];
    const __m256 a = _mm256_set1_ps(0.999999f), b = _mm256_set1_ps(1e-7f);
    for (int i = 0; i < ACCUMULATORS; ++i) acc[i] = _mm256_set1_ps((float)i);
    for (long k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < ACCUMULATORS; ++i) acc[i] = _mm256_fmadd_ps(acc[i], a, b);
    }
    __m256 total = acc[0];
    for (int i = 1; i < ACCUMULATORS; ++i) total = _mm256_add_ps(total, acc[i]);
    float lanes[8];
    _mm256_storeu_ps(lanes, total);
    sink = lanes[0];
    return (double)n * ACCUMULATORS * 8 * 2;
}
#endif

/* Plain C: whatever the baseline instruction set gives (SSE2 mul + add on x86-64). */
static double loop_plain(long n) {
    float acc[ACCUMULATORS][4];
    for (int i = 0; i < ACCUMULATORS; ++i)
        for (int l = 0; l < 4; ++l) acc[i][l] = (float)(i + l);
    for (long k = 0; k < n; ++k) {
#pragma GCC unroll 12
        for (int i = 0; i < ACCUMULATORS; ++i)
            for (int l = 0; l < 4; ++l) acc[i][l] = acc[i][l] * 0.999999f + 1e-7f;
    }
    sink = acc[0][0];
    return (double)n * ACCUMULATORS * 4 * 2;
}

typedef double (*fma_loop)(long n);

typedef struct loop_run {
    fma_loop loop;
    long n;
    double flops;
} loop_run;

static void *run_loop(void *argument) {
    loop_run *r = argument;
    r->flops = r->loop(r->n);
    return NULL;
}

/* GFLOP/s of `loop` on `threads` threads at once (best of 5: another process
 * taking the core for a moment only lowers a sample). */
static double measure(fma_loop loop, long n, int threads) {
    if (threads > FMA_PEAK_MAX_THREADS) threads = FMA_PEAK_MAX_THREADS;
    double best = 0.0;
    for (int attempt = 0; attempt < 5; ++attempt) {
        loop_run runs[FMA_PEAK_MAX_THREADS];
        pthread_t ids[FMA_PEAK_MAX_THREADS];
        const double start = now_seconds();
        for (int t = 1; t < threads; ++t) {
            runs[t] = (loop_run){loop, n, 0.0};
            pthread_create(&ids[t], NULL, run_loop, &runs[t]);
        }
        runs[0] = (loop_run){loop, n, 0.0};
        run_loop(&runs[0]);
        double flops = runs[0].flops;
        for (int t = 1; t < threads; ++t) {
            pthread_join(ids[t], NULL);
            flops += runs[t].flops;
        }
        const double gflops = 1e-9 * flops / (now_seconds() - start);
        if (gflops > best) best = gflops;
    }
    return best;
}

fma_peak fma_peak_measure(int threads) {
    fma_peak peak = {"sse2", measure(loop_plain, ITERATIONS / 4, threads)};
#ifdef FMA_PEAK_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
        const double g = measure(loop_avx2, ITERATIONS / 4, threads);
        if (g > peak.gflops) peak = (fma_peak){"avx2+fma", g};
    }
    if (__builtin_cpu_supports("avx512f")) {
        const double g = measure(loop_avx512, ITERATIONS / 4, threads);
        if (g > peak.gflops) peak = (fma_peak){"avx512f", g};
    }
#endif
    return peak;
}
