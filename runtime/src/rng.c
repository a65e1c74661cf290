/* PCG32: the PCG-XSH-RR 64/32 generator of M. E. O'Neill, "PCG: A Family of
 * Simple Fast Space-Efficient Statistically Good Algorithms for Random Number
 * Generation" (2014). A 64-bit linear congruential state is advanced and a
 * 32-bit output is taken from it by an xorshift followed by a random rotation.
 *
 * Everything but tdl_rng_normal uses integer arithmetic only, so a seed gives
 * the same numbers on every platform. */
#include "tdl/runtime.h"

#include <math.h>

#include "pcg.h"

static void rng_advance(tdl_rng *rng) {
    rng->state = rng->state * PCG_MULTIPLIER + rng->increment;
}

/* The stream selects the LCG increment, which must be odd; seeding mixes the
 * seed in between two steps so that nearby seeds do not give nearby states. */
void tdl_rng_seed(tdl_rng *rng, uint64_t seed, uint64_t stream) {
    rng->state = 0;
    rng->increment = (stream << 1) | 1u;
    rng_advance(rng);
    rng->state += seed;
    rng_advance(rng);
}

uint32_t tdl_rng_next_u32(tdl_rng *rng) {
    uint64_t old = rng->state;
    rng_advance(rng);
    return pcg_output(old);
}

void tdl_rng_advance(tdl_rng *rng, uint64_t steps) {
    uint64_t a, c;
    pcg_stride(steps, rng->increment, &a, &c);
    rng->state = rng->state * a + c;
}

/* The top 24 bits scaled by 2^-24: every value is exactly a float in [0, 1). */
float tdl_rng_uniform(tdl_rng *rng) {
    return (float)(tdl_rng_next_u32(rng) >> 8) * (1.0f / 16777216.0f);
}

/* Lemire's multiply-and-reject method ("Fast Random Integer Generation in an
 * Interval", 2019): the high half of x * bound is uniform once the low half
 * avoids the 2^32 mod bound values that would make some results more likely.
 * A bound of 0 has no valid result and returns 0. */
uint32_t tdl_rng_below(tdl_rng *rng, uint32_t bound) {
    if (bound == 0)
        return 0;
    uint64_t product = (uint64_t)tdl_rng_next_u32(rng) * bound;
    uint32_t low = (uint32_t)product;
    if (low < bound) {
        uint32_t threshold = (uint32_t)(0u - bound) % bound; /* 2^32 mod bound */
        while (low < threshold) {
            product = (uint64_t)tdl_rng_next_u32(rng) * bound;
            low = (uint32_t)product;
        }
    }
    return (uint32_t)(product >> 32);
}

/* Box-Muller, one value per call: the generator has no room to cache the
 * second (sine) value, so it is dropped and each call draws two fresh 32-bit
 * uniforms. u1 is in (0, 1] so the logarithm is finite; the tails reach
 * sqrt(-2 ln 2^-32) ~ 6.66. The result goes through libm's log and cos in
 * double, so it is reproducible wherever those are accurate to within the
 * float rounding (every mainstream libm). */
float tdl_rng_normal(tdl_rng *rng) {
    const double two_pi = 6.283185307179586476925286766559;
    double u1 = ((double)tdl_rng_next_u32(rng) + 1.0) * (1.0 / 4294967296.0);
    double u2 = (double)tdl_rng_next_u32(rng) * (1.0 / 4294967296.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(two_pi * u2));
}
