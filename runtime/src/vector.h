/* Internal to libtdlrt: per-function instruction-set dispatch for the
 * elementwise loops. The library is built for baseline x86-64 (no -march:
 * an installed library must run on any x86-64); TDL_VECTOR_CLONES makes GCC
 * compile a function also for AVX-512 and AVX2 and pick the best one for the
 * CPU when the program starts (an ifunc). The code is the same C loop each
 * time, and ISO C mode keeps GCC from contracting a * b + c into an FMA, so
 * every clone gives the same bits.
 *
 * Loops marked this way take restrict pointers and use selects rather than
 * branches, which is what lets them vectorise at all. */
#ifndef TDL_VECTOR_H
#define TDL_VECTOR_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__ELF__) && \
    !defined(__SANITIZE_THREAD__)
#define TDL_VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define TDL_VECTOR_CLONES
#endif

/* Before a loop of constant trip count along a row of accumulators
 * (sum[j] += a * b[j]) inside a longer loop that runs the sums: keeps it a
 * loop until the vectoriser has seen it. Unrolled early, its iterations
 * become separate sums, and GCC then vectorises the outer loop instead,
 * adding each sum up in order one lane at a time (a fold-left reduction);
 * kept a loop, it is vectorised across the row, and the row of sums stays
 * in vector registers. */
#if defined(__GNUC__) && !defined(__clang__)
#define TDL_VECTOR_ROW _Pragma("GCC unroll 1")
#else
#define TDL_VECTOR_ROW
#endif

#endif /* TDL_VECTOR_H */
