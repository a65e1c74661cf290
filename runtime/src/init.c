/* Weight initializers with Keras' definitions (keras.initializers.
 * VarianceScaling), drawing from the platform-independent PCG32 stream.
 * Like Keras, a fan below 1 counts as 1, so no size can divide by zero. */
#include "tdl/runtime.h"

#include <math.h>

/* Standard deviation of a standard normal truncated to [-2, 2]. Keras divides
 * the requested stddev by it so that the truncated draws have exactly the
 * variance asked for (2 / fan_in for he_normal). */
#define TRUNCATED_NORMAL_STDDEV 0.87962566103423978

static double at_least_one(double fan) {
    return fan < 1.0 ? 1.0 : fan;
}

/* w: (n) <- U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)). */
void tdl_init_glorot_uniform(float *w, size_t n, int fan_in, int fan_out, tdl_rng *rng) {
    if (w == NULL || rng == NULL)
        return;
    double fan_avg = at_least_one(((double)fan_in + (double)fan_out) / 2.0);
    double limit = sqrt(3.0 / fan_avg);
    for (size_t i = 0; i < n; i++) {
        double u = (double)tdl_rng_uniform(rng);
        float value = (float)((2.0 * u - 1.0) * limit);
        /* Rounding to float may land a hair outside; keep the documented bound. */
        if (value > (float)limit)
            value = (float)limit;
        if (value < -(float)limit)
            value = -(float)limit;
        w[i] = value;
    }
}

/* w: (n) <- truncated normal, stddev sqrt(2 / fan_in) / 0.8796..., draws
 * beyond two (corrected) standard deviations redrawn. */
void tdl_init_he_normal(float *w, size_t n, int fan_in, tdl_rng *rng) {
    if (w == NULL || rng == NULL)
        return;
    double stddev = sqrt(2.0 / at_least_one((double)fan_in)) / TRUNCATED_NORMAL_STDDEV;
    for (size_t i = 0; i < n; i++) {
        float z;
        do {
            z = tdl_rng_normal(rng);
        } while (z > 2.0f || z < -2.0f);
        w[i] = (float)(z * stddev);
    }
}

/* w: (n) <- 0 */
void tdl_init_zeros(float *w, size_t n) {
    if (w == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        w[i] = 0.0f;
}
