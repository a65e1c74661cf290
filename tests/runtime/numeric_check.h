/* Helpers shared by the runtime's kernel tests: a fixed pseudo-random source
 * independent of rng.c, a tolerance check, and central differences. */
#ifndef TDL_TESTS_NUMERIC_CHECK_H
#define TDL_TESTS_NUMERIC_CHECK_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

static uint32_t lcg_state;

/* Uniform in [lo, hi) from a fixed generator, independent of rng.c. */
static inline float uniform(float lo, float hi) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return lo + (hi - lo) * (float)(lcg_state >> 8) / 16777216.0f;
}

/* Fails the test unless |got - want| <= atol + rtol * |want|. */
static inline void check_close(const char *what, size_t i, double got, double want, double atol, double rtol) {
    if (!(fabs(got - want) <= atol + rtol * fabs(want))) {
        fail_msg("%s[%zu]: got %.9g, want %.9g", what, i, got, want);
    }
}

typedef double (*objective_fn)(void *ctx);

/* d objective / d x[i] by central differences; the denominator is the step
 * actually taken once x[i] + h and x[i] - h are rounded to float. */
static inline double central_difference(objective_fn objective, void *ctx, float *x, size_t i, float h) {
    const float saved = x[i];
    volatile float plus = saved + h;
    volatile float minus = saved - h;
    x[i] = plus;
    const double f_plus = objective(ctx);
    x[i] = minus;
    const double f_minus = objective(ctx);
    x[i] = saved;
    return (f_plus - f_minus) / ((double)plus - (double)minus);
}

#endif
