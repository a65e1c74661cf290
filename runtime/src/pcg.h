/* Internal to libtdlrt: the two halves of PCG32 (rng.c), shared with the
 * kernels that draw many numbers of one stream side by side (dropout). */
#ifndef TDL_PCG_H
#define TDL_PCG_H

#include <stdint.h>

/* The LCG multiplier of the 64-bit PCG family (Knuth's MMIX constant). */
#define PCG_MULTIPLIER UINT64_C(6364136223846793005)

/* XSH-RR: the 32-bit output of the state before a step. */
static inline uint32_t pcg_output(uint64_t old) {
    /* XSH: fold the high bits down, keep bits 27..58 of the result. */
    uint32_t folded = (uint32_t)(((old >> 18) ^ old) >> 27);
    /* RR: rotate right by the top 5 bits of the old state. */
    uint32_t rotation = (uint32_t)(old >> 59);
    return (folded >> rotation) | (folded << ((32u - rotation) & 31u));
}

/* The LCG step x -> a*x + c applied `steps` times is x -> A*x + C with
 * A = a^steps and C = c*(a^(steps-1) + ... + a + 1), computed by squaring in
 * O(log steps) (F. Brown, "Random Number Generation with Arbitrary Strides",
 * 1994). */
static inline void pcg_stride(uint64_t steps, uint64_t increment, uint64_t *multiplier, uint64_t *stride_increment) {
    uint64_t total_a = 1, total_c = 0;
    uint64_t a = PCG_MULTIPLIER, c = increment;
    while (steps > 0) {
        if (steps & 1u) {
            total_a *= a;
            total_c = total_c * a + c;
        }
        c = (a + 1) * c;
        a *= a;
        steps >>= 1;
    }
    *multiplier = total_a;
    *stride_increment = total_c;
}

#endif /* TDL_PCG_H */
