/* Internal to libtdlrt: hands the vector registers back clean after a
 * libxsmm kernel.
 *
 * The x86-64 ABI expects a function that used the upper halves of the
 * AVX registers to clear them (vzeroupper) before it returns; GCC does so
 * for our own AVX-512 and AVX2 clones. libxsmm's JIT kernels (1.17) do not.
 * On Intel CPUs every legacy-SSE instruction that runs while those halves
 * are in use then pays for them, and everything compiled for baseline
 * x86-64 is legacy SSE: the rest of the runtime, OpenBLAS's generic
 * kernels, libm, the generated code and the caller's own program. Measured
 * on a Xeon (family 6, model 207): a softmax over 128 x 10 logits took
 * 0.30 ms after a kernel against 0.013 ms with the halves cleared. AMD's
 * cores pay nothing, which is why the earlier machines never showed it.
 *
 * So every call of a libxsmm kernel is followed by tdl_vector_state_clean(),
 * before the plain C around it (a dense layer's bias, the transposes)
 * runs; and, should a kernel ever miss one, every share the thread team
 * runs ends with it too (team.c, team_split.c), so the threads return to
 * the caller's code or wait for the next job with the halves clear. A
 * kernel call does microseconds of work; vzeroupper costs a cycle or so. */
#ifndef TDL_VECTOR_STATE_H
#define TDL_VECTOR_STATE_H

#if defined(__x86_64__) && defined(__GNUC__)

/* vzeroupper is an AVX instruction: only CPUs with AVX may run it, and only
 * they can have the upper halves in use. */
static inline void tdl_vector_state_clean(void) {
    if (__builtin_cpu_supports("avx")) {
        /* Clears bits 128 and up of ymm0-15; the clobbers tell the compiler
         * that no vector value lives across it. */
        __asm__ volatile("vzeroupper" ::: "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8",
                         "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15");
    }
}

#else

static inline void tdl_vector_state_clean(void) {}

#endif

#endif /* TDL_VECTOR_STATE_H */
