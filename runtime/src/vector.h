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

/* Sixteen floats as one GCC vector (one AVX-512 register; two AVX or four
 * SSE registers in the other clones), for loops whose rows the compiler
 * must keep in registers rather than in arrays on the stack; its lanes'
 * comparison results (-1 or 0) as TDL_LANES16. memcpy loads and stores
 * any float address, whatever its alignment. */
#if defined(__GNUC__)
#include <stdint.h>
#include <string.h>
typedef float tdl_vector16 __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t tdl_lanes16 __attribute__((vector_size(16 * sizeof(int32_t))));
#define TDL_VECTOR16_LOAD(v, p) memcpy(&(v), (p), sizeof(tdl_vector16))
#define TDL_VECTOR16_STORE(p, v) memcpy((p), &(v), sizeof(tdl_vector16))
/* Eight floats, one AVX2 register: the same loops for CPUs without
 * AVX-512, where GCC keeps a tdl_vector16 in memory and moves it through
 * the stack at every operation. */
typedef float tdl_vector8 __attribute__((vector_size(8 * sizeof(float))));
typedef int32_t tdl_lanes8 __attribute__((vector_size(8 * sizeof(int32_t))));
#define TDL_VECTOR8_LOAD(v, p) memcpy(&(v), (p), sizeof(tdl_vector8))
#define TDL_VECTOR8_STORE(p, v) memcpy((p), &(v), sizeof(tdl_vector8))
#endif

#endif /* TDL_VECTOR_H */
