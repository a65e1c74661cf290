/* Internal to libtdlrt: bringing a cold operand into the cache ahead of a
 * kernel that reads it in a pattern the hardware prefetcher cannot follow,
 * and claiming lines that another core holds ahead of writing them.
 *
 * A training or inference loop hands each call a fresh window of its data
 * set, which is in no cache. The GEMM kernels read such an input a column at
 * a time across many rows (16 rows 3 KB apart for a dense layer), and each
 * of those reads then waits for memory: bench_models' MLP forward at batch
 * 32 took 0.41 ms on fresh windows against 0.22 ms on one window read again
 * and again. One pass that touches each cache line in address order runs at
 * the memory's streaming speed instead (about 10 us for those 100 KB) and
 * costs next to nothing when the data is already cached.
 *
 * On this virtual machine the first touch of each 4 KB page of a window
 * cost about 7 us in some processes (reading one byte per page cost as much
 * as one per cache line, so it is not memory bandwidth): a kernel that runs
 * on several threads lets each one warm its own share of the input, so that
 * those costs are paid side by side. */
#ifndef TDL_WARM_H
#define TDL_WARM_H

#include <stddef.h>

enum { WARM_LINE_BYTES = 64 };

/* Reads one byte of every cache line of [data, data + bytes). */
static inline void warm_for_reading(const void *data, size_t bytes) {
    if (data == NULL || bytes == 0) return;
    const unsigned char *p = data;
    unsigned char seen = 0;
    for (size_t i = 0; i < bytes; i += WARM_LINE_BYTES) seen ^= p[i];
    seen ^= p[bytes - 1];
    /* A volatile store keeps the loads from being optimised away. */
    volatile unsigned char keep = seen;
    (void)keep;
}

/* Asks for every cache line of [data, data + bytes) with the intent to
 * write it, without waiting (x86's PREFETCHW; nothing where the CPU or the
 * compiler lacks it, warm.c). A core that writes lines which another core
 * has a copy of waits for each copy to be given up; a store waits for
 * the stores before it, so a loop of them waits a line at a time, while
 * the claims go out side by side. */
void warm_for_writing(void *data, size_t bytes);

#endif /* TDL_WARM_H */
