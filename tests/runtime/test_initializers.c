/* Keras' initializers by name (tdl_init_fill): statistics over a large
 * tensor against Keras' VarianceScaling formulas, bounds, and determinism.
 *
 * The fans differ (fan_in 50, fan_out 30, average 40), so a formula that
 * takes the wrong fan is off by 25% or more in variance; a wrong scale (he's
 * 2) by 100%; a normal without the truncation, or without Keras' 0.8796
 * correction, by 29%. With 200000 draws the sample variance is within about
 * 0.5% of the truth (one standard error is 0.3% for a uniform and 0.45% for
 * this truncated normal), so the 3% tolerance only fails a wrong formula.
 * The mean's standard error is 0.0022 standard deviations; tolerance 0.012.
 * Seeds are fixed: the tests are deterministic. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

enum { DRAWS = 200000, FAN_IN = 50, FAN_OUT = 30 };

/* Keras' correction: the standard deviation of a standard normal truncated to [-2, 2]. */
#define TRUNCATED_STDDEV 0.87962566103423978

typedef struct expected_init {
    tdl_initializer init;
    const char *name;
    double scale;     /* VarianceScaling's scale */
    double fan;       /* the fan it divides by */
    int uniform;      /* 1: uniform, 0: truncated normal */
} expected_init;

static const expected_init INITS[] = {
    {TDL_INIT_GLOROT_UNIFORM, "glorot_uniform", 1.0, (FAN_IN + FAN_OUT) / 2.0, 1},
    {TDL_INIT_GLOROT_NORMAL, "glorot_normal", 1.0, (FAN_IN + FAN_OUT) / 2.0, 0},
    {TDL_INIT_HE_UNIFORM, "he_uniform", 2.0, FAN_IN, 1},
    {TDL_INIT_HE_NORMAL, "he_normal", 2.0, FAN_IN, 0},
    {TDL_INIT_LECUN_UNIFORM, "lecun_uniform", 1.0, FAN_IN, 1},
    {TDL_INIT_LECUN_NORMAL, "lecun_normal", 1.0, FAN_IN, 0},
};

static int setup(void **state) {
    *state = malloc(DRAWS * sizeof(float));
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    free(*state);
    return 0;
}

static double mean_of(const float *w, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += w[i];
    return sum / (double)n;
}

static double variance_of(const float *w, size_t n) {
    double mean = mean_of(w, n), sum = 0.0;
    for (size_t i = 0; i < n; ++i) sum += (w[i] - mean) * (w[i] - mean);
    return sum / (double)n;
}

/* Each variance-scaling initializer: variance scale / fan, mean 0, and its
 * support: [-l, l] filled to the edges for a uniform, [-2s, 2s] with mass
 * near the cut for a truncated normal (s the corrected stddev). */
static void test_variance_scaling_statistics(void **state) {
    float *w = *state;
    for (size_t k = 0; k < sizeof INITS / sizeof INITS[0]; ++k) {
        const expected_init *e = &INITS[k];
        tdl_rng rng;
        tdl_rng_seed(&rng, 100 + k, 0);
        tdl_init_fill(w, DRAWS, e->init, FAN_IN, FAN_OUT, &rng);
        const double variance = e->scale / e->fan;
        const double mean = mean_of(w, DRAWS), got = variance_of(w, DRAWS);
        print_message("%-15s variance %.6g (want %.6g, %+.2f%%), mean %.2g stddevs\n", e->name, got, variance,
                      100.0 * (got / variance - 1.0), mean / sqrt(variance));
        if (fabs(got / variance - 1.0) > 0.03) fail_msg("%s: variance %g, want %g", e->name, got, variance);
        if (fabs(mean) > 0.012 * sqrt(variance)) fail_msg("%s: mean %g", e->name, mean);
        double bound, edge;
        if (e->uniform) {
            bound = sqrt(3.0 * variance);
            edge = 0.99 * bound;  /* a uniform puts 1% of its draws there */
        } else {
            bound = 2.0 * sqrt(variance) / TRUNCATED_STDDEV;
            edge = 0.95 * bound;  /* P(1.9 < |z| < 2) ~ 1.2% of a normal */
        }
        size_t near_edge = 0;
        for (size_t i = 0; i < DRAWS; ++i) {
            if (!(fabs(w[i]) <= bound * (1.0 + 1e-6))) fail_msg("%s: w[%zu] = %g beyond %g", e->name, i, w[i], bound);
            near_edge += fabs(w[i]) > edge;
        }
        /* Uniform: 1% of the draws; truncated normal: ~1.3% (about 2600). */
        if (near_edge < DRAWS / 200 || near_edge > DRAWS / 40)
            fail_msg("%s: %zu draws near the bound %g", e->name, near_edge, bound);
    }
}

/* zeros and ones fill constants and draw nothing: the stream is left as it was. */
static void test_constants_draw_nothing(void **state) {
    float *w = *state;
    tdl_rng rng, untouched;
    tdl_rng_seed(&rng, 7, 0);
    untouched = rng;
    for (size_t i = 0; i < 64; ++i) w[i] = 3.5f;
    tdl_init_fill(w, 64, TDL_INIT_ONES, FAN_IN, FAN_OUT, &rng);
    for (size_t i = 0; i < 64; ++i) assert_true(w[i] == 1.0f);
    tdl_init_fill(w, 64, TDL_INIT_ZEROS, FAN_IN, FAN_OUT, &rng);
    for (size_t i = 0; i < 64; ++i) assert_true(w[i] == 0.0f);
    assert_memory_equal(&rng, &untouched, sizeof rng);
    /* No rng is needed for them; a random one without an rng writes nothing. */
    tdl_init_fill(w, 4, TDL_INIT_ONES, 0, 0, NULL);
    assert_true(w[0] == 1.0f);
    w[0] = 5.0f;
    tdl_init_fill(w, 4, TDL_INIT_HE_NORMAL, FAN_IN, FAN_OUT, NULL);
    assert_true(w[0] == 5.0f);
}

/* The same seed gives the same tensor; another seed another one; and the
 * glorot_uniform by name is the old tdl_init_glorot_uniform, draw for draw. */
static void test_seeded_determinism(void **state) {
    float *w = *state;
    float *again = w + 1024, *other = w + 2048;
    for (size_t k = 0; k < sizeof INITS / sizeof INITS[0]; ++k) {
        tdl_rng rng;
        tdl_rng_seed(&rng, 42, 0);
        tdl_init_fill(w, 1000, INITS[k].init, FAN_IN, FAN_OUT, &rng);
        tdl_rng_seed(&rng, 42, 0);
        tdl_init_fill(again, 1000, INITS[k].init, FAN_IN, FAN_OUT, &rng);
        tdl_rng_seed(&rng, 43, 0);
        tdl_init_fill(other, 1000, INITS[k].init, FAN_IN, FAN_OUT, &rng);
        assert_memory_equal(w, again, 1000 * sizeof(float));
        assert_memory_not_equal(w, other, 1000 * sizeof(float));
    }
    tdl_rng rng;
    tdl_rng_seed(&rng, 9, 0);
    tdl_init_fill(w, 1000, TDL_INIT_GLOROT_UNIFORM, FAN_IN, FAN_OUT, &rng);
    tdl_rng_seed(&rng, 9, 0);
    tdl_init_glorot_uniform(again, 1000, FAN_IN, FAN_OUT, &rng);
    assert_memory_equal(w, again, 1000 * sizeof(float));
}

/* A fan of 0 counts as 1, as in Keras: finite values, variance scale / 1. */
static void test_zero_fan_counts_as_one(void **state) {
    float *w = *state;
    tdl_rng rng;
    tdl_rng_seed(&rng, 5, 0);
    tdl_init_fill(w, DRAWS, TDL_INIT_LECUN_UNIFORM, 0, 0, &rng);
    for (size_t i = 0; i < DRAWS; ++i) assert_true(isfinite(w[i]));
    assert_float_equal(variance_of(w, DRAWS), 1.0, 0.03);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_variance_scaling_statistics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_constants_draw_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_seeded_determinism, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_fan_counts_as_one, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
