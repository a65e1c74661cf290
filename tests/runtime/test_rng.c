/* PCG32 against reference values and its distributions; the initializers.
 *
 * The expected numbers were computed once by an independent Python
 * implementation of PCG-XSH-RR 64/32 (arbitrary-precision integers masked to
 * 64 bits); the (42, 54) sequence is also the one O'Neill's pcg32 demo prints. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "tdl/runtime.h"

#define DRAWS 100000

static double mean_of(const float *x, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += x[i];
    return sum / (double)n;
}

static double variance_of(const float *x, size_t n) {
    double mean = mean_of(x, n), sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (x[i] - mean) * (x[i] - mean);
    return sum / (double)(n - 1);
}

static int setup_buffer(void **state) {
    *state = malloc(DRAWS * sizeof(float));
    return *state == NULL ? -1 : 0;
}

static int teardown_buffer(void **state) {
    free(*state);
    return 0;
}

/* The first outputs for seed 42, stream 54 match the reference implementation. */
static void test_known_sequence(void **state) {
    (void)state;
    static const uint32_t expected[] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                        0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
    tdl_rng rng;
    tdl_rng_seed(&rng, 42, 54);
    assert_int_equal(rng.state, UINT64_C(0x185706b82c2e03f8));
    assert_int_equal(rng.increment, UINT64_C(0x6d));
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; ++i)
        assert_int_equal(tdl_rng_next_u32(&rng), expected[i]);
}

/* Seed 0 on stream 0 is a valid generator with its own reference values. */
static void test_known_sequence_seed_zero(void **state) {
    (void)state;
    static const uint32_t expected[] = {0xe4c14788u, 0x379c6516u, 0x5c4ab3bbu,
                                        0x601d23e0u, 0x1c382b8cu, 0xd1faab16u};
    tdl_rng rng;
    tdl_rng_seed(&rng, 0, 0);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; ++i)
        assert_int_equal(tdl_rng_next_u32(&rng), expected[i]);
}

/* One seed on two streams gives unrelated sequences; reseeding repeats one. */
static void test_streams_differ(void **state) {
    (void)state;
    tdl_rng a, b, again;
    tdl_rng_seed(&a, 7, 1);
    tdl_rng_seed(&b, 7, 2);
    tdl_rng_seed(&again, 7, 1);
    int equal = 0;
    for (int i = 0; i < 64; ++i) {
        uint32_t x = tdl_rng_next_u32(&a);
        equal += x == tdl_rng_next_u32(&b);
        assert_int_equal(x, tdl_rng_next_u32(&again));
    }
    assert_true(equal <= 1);
}

/* uniform is the top 24 bits over 2^24, stays in [0, 1) and averages 1/2. */
static void test_uniform(void **state) {
    float *x = *state;
    tdl_rng rng;
    tdl_rng_seed(&rng, 42, 54);
    assert_float_equal(tdl_rng_uniform(&rng), 10574850.0f / 16777216.0f, 0.0f);
    assert_float_equal(tdl_rng_uniform(&rng), 8079348.0f / 16777216.0f, 0.0f);
    for (size_t i = 0; i < DRAWS; ++i) {
        x[i] = tdl_rng_uniform(&rng);
        assert_true(x[i] >= 0.0f && x[i] < 1.0f);
    }
    assert_float_equal(mean_of(x, DRAWS), 0.5, 0.005);
    assert_float_equal(variance_of(x, DRAWS), 1.0 / 12.0, 0.002);
}

/* below() follows Lemire's method exactly, including its rejections. */
static void test_below_reference(void **state) {
    (void)state;
    static const uint32_t small[] = {8, 7, 3, 5, 4, 0, 7, 5};
    static const uint32_t large[] = {2572043741u, 2225098927u, 1156112392u, 1248382985u};
    tdl_rng rng;
    tdl_rng_seed(&rng, 7, 3);
    for (size_t i = 0; i < sizeof small / sizeof small[0]; ++i)
        assert_int_equal(tdl_rng_below(&rng, 10), small[i]);
    tdl_rng_seed(&rng, 7, 3);
    for (size_t i = 0; i < sizeof large / sizeof large[0]; ++i)
        assert_int_equal(tdl_rng_below(&rng, 3000000000u), large[i]);
}

/* below() stays in range, bound 1 and 0 give 0, and 10 buckets fill evenly. */
static void test_below_range_and_uniformity(void **state) {
    (void)state;
    tdl_rng rng;
    tdl_rng_seed(&rng, 99, 0);
    assert_int_equal(tdl_rng_below(&rng, 0), 0);
    for (int i = 0; i < 1000; ++i) {
        assert_int_equal(tdl_rng_below(&rng, 1), 0);
        assert_true(tdl_rng_below(&rng, 7) < 7);
        assert_true(tdl_rng_below(&rng, 0x80000001u) < 0x80000001u);
    }
    int counts[10] = {0};
    for (int i = 0; i < DRAWS; ++i) {
        uint32_t k = tdl_rng_below(&rng, 10);
        assert_true(k < 10);
        counts[k]++;
    }
    /* Chi-square with 9 degrees of freedom; 33.7 is its 1e-4 upper quantile. */
    double chi_square = 0.0, expected = DRAWS / 10.0;
    for (int k = 0; k < 10; ++k) chi_square += (counts[k] - expected) * (counts[k] - expected) / expected;
    assert_true(chi_square < 33.7);
}

/* normal() matches the reference Box-Muller values and has mean 0, variance 1. */
static void test_normal(void **state) {
    float *x = *state;
    static const float expected[] = {0.27312493324279785f, 0.21660259366035461f, 0.9180372357368469f,
                                     -0.17123635113239288f};
    tdl_rng rng;
    tdl_rng_seed(&rng, 2024, 5);
    for (size_t i = 0; i < sizeof expected / sizeof expected[0]; ++i)
        assert_float_equal(tdl_rng_normal(&rng), expected[i], 1e-6f);
    size_t beyond_three = 0;
    for (size_t i = 0; i < DRAWS; ++i) {
        x[i] = tdl_rng_normal(&rng);
        assert_true(isfinite(x[i]));
        beyond_three += fabsf(x[i]) > 3.0f;
    }
    /* Standard errors: 0.0032 for the mean, 0.0045 for the variance. */
    assert_float_equal(mean_of(x, DRAWS), 0.0, 0.015);
    assert_float_equal(variance_of(x, DRAWS), 1.0, 0.02);
    /* P(|z| > 3) = 0.0027: the tails are there, in the right amount. */
    assert_true(beyond_three > 200 && beyond_three < 340);
}

/* glorot_uniform stays within sqrt(6 / (fan_in + fan_out)) and fills it evenly. */
static void test_glorot_uniform(void **state) {
    float *w = *state;
    tdl_rng rng;
    tdl_rng_seed(&rng, 1, 0);
    const int fan_in = 288, fan_out = 64;
    const double limit = sqrt(6.0 / (fan_in + fan_out));
    tdl_init_glorot_uniform(w, DRAWS, fan_in, fan_out, &rng);
    float lowest = w[0], highest = w[0];
    for (size_t i = 0; i < DRAWS; ++i) {
        assert_true(fabs(w[i]) <= limit);
        lowest = fminf(lowest, w[i]);
        highest = fmaxf(highest, w[i]);
    }
    assert_true(lowest < -0.999 * limit && highest > 0.999 * limit);
    assert_float_equal(mean_of(w, DRAWS), 0.0, 0.01 * limit);
    assert_float_equal(variance_of(w, DRAWS), limit * limit / 3.0, 0.02 * limit * limit / 3.0);

    /* The same seed gives the same weights. */
    float again[16];
    tdl_rng_seed(&rng, 1, 0);
    tdl_init_glorot_uniform(again, 16, fan_in, fan_out, &rng);
    for (size_t i = 0; i < 16; ++i) assert_float_equal(again[i], w[i], 0.0f);
}

/* he_normal is truncated at two (corrected) deviations and has variance 2 / fan_in. */
static void test_he_normal(void **state) {
    float *w = *state;
    tdl_rng rng;
    tdl_rng_seed(&rng, 3, 0);
    const int fan_in = 50;
    const double stddev = sqrt(2.0 / fan_in) / 0.87962566103423978;
    tdl_init_he_normal(w, DRAWS, fan_in, &rng);
    size_t near_edge = 0;
    for (size_t i = 0; i < DRAWS; ++i) {
        assert_true(fabs(w[i]) <= 2.0 * stddev * (1.0 + 1e-6));
        near_edge += fabs(w[i]) > 1.9 * stddev;
    }
    /* The density does not drop to zero before the cut: P(1.9 < |z| < 2) ~ 0.012. */
    assert_true(near_edge > 800 && near_edge < 1600);
    assert_float_equal(mean_of(w, DRAWS), 0.0, 0.01 * sqrt(2.0 / fan_in));
    assert_float_equal(variance_of(w, DRAWS), 2.0 / fan_in, 0.02 * 2.0 / fan_in);
}

/* A fan of zero counts as one instead of dividing by zero. */
static void test_zero_fans_are_finite(void **state) {
    (void)state;
    float w[64];
    tdl_rng rng;
    tdl_rng_seed(&rng, 5, 0);
    tdl_init_glorot_uniform(w, 64, 0, 0, &rng);
    for (size_t i = 0; i < 64; ++i) assert_true(fabsf(w[i]) <= sqrtf(3.0f));
    tdl_init_he_normal(w, 64, 0, &rng);
    for (size_t i = 0; i < 64; ++i) assert_true(isfinite(w[i]));
}

/* zeros overwrites every element. */
static void test_zeros(void **state) {
    (void)state;
    float w[5] = {1.0f, -2.0f, NAN, INFINITY, 3.0f};
    tdl_init_zeros(w, 5);
    for (size_t i = 0; i < 5; ++i) assert_float_equal(w[i], 0.0f, 0.0f);
}

/* Skipping n draws with tdl_rng_advance leaves the generator where n calls
 * would: for small n, across a power of two and for 0; two skips add up. */
static void test_advance_matches_drawing(void **state) {
    (void)state;
    const uint64_t skips[] = {0, 1, 2, 3, 15, 16, 17, 255, 256, 1000, 65537};
    for (size_t s = 0; s < sizeof skips / sizeof skips[0]; ++s) {
        tdl_rng drawn, skipped;
        tdl_rng_seed(&drawn, 1234 + s, 7);
        skipped = drawn;
        for (uint64_t i = 0; i < skips[s]; ++i) (void)tdl_rng_next_u32(&drawn);
        tdl_rng_advance(&skipped, skips[s]);
        assert_true(skipped.state == drawn.state && skipped.increment == drawn.increment);
        assert_int_equal(tdl_rng_next_u32(&skipped), tdl_rng_next_u32(&drawn));
    }
    tdl_rng once, twice;
    tdl_rng_seed(&once, 5, 3);
    twice = once;
    tdl_rng_advance(&once, 123456789);
    tdl_rng_advance(&twice, 123456000);
    tdl_rng_advance(&twice, 789);
    assert_true(once.state == twice.state);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_sequence),
        cmocka_unit_test(test_known_sequence_seed_zero),
        cmocka_unit_test(test_streams_differ),
        cmocka_unit_test(test_advance_matches_drawing),
        cmocka_unit_test_setup_teardown(test_uniform, setup_buffer, teardown_buffer),
        cmocka_unit_test(test_below_reference),
        cmocka_unit_test(test_below_range_and_uniformity),
        cmocka_unit_test_setup_teardown(test_normal, setup_buffer, teardown_buffer),
        cmocka_unit_test_setup_teardown(test_glorot_uniform, setup_buffer, teardown_buffer),
        cmocka_unit_test_setup_teardown(test_he_normal, setup_buffer, teardown_buffer),
        cmocka_unit_test(test_zero_fans_are_finite),
        cmocka_unit_test(test_zeros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
