/* warm_for_writing (warm.h). */
#include "warm.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)

/* PREFETCHW, where the CPU has it. An asm statement: GCC takes a loop of
 * nothing but __builtin_prefetch for a function without effects and drops
 * its calls, and it emits a read prefetch instead of PREFETCHW unless the
 * whole translation unit targets a CPU that has it. */
static void prefetch_lines_for_writing(const unsigned char *p, size_t bytes) {
    for (size_t i = 0; i < bytes; i += WARM_LINE_BYTES) __asm__ volatile("prefetchw %0" : : "m"(p[i]));
    __asm__ volatile("prefetchw %0" : : "m"(p[bytes - 1]));
}

void warm_for_writing(void *data, size_t bytes) {
    if (data == NULL || bytes == 0 || !__builtin_cpu_supports("prfchw")) return;
    prefetch_lines_for_writing(data, bytes);
}

#else

void warm_for_writing(void *data, size_t bytes) {
    (void)data;
    (void)bytes;
}

#endif
