/* Weight initializers with Keras' definitions (keras.initializers.
 * VarianceScaling), drawing from the platform-independent PCG32 stream.
 * Like Keras, a fan below 1 counts as 1, so no size can divide by zero. */
#include "tdl/runtime.h"

#include <math.h>
#include <stdbool.h>

/* Standard deviation of a standard normal truncated to [-2, 2]. Keras divides
 * the requested stddev by it so that the truncated draws have exactly the
 * variance asked for (2 / fan_in for he_normal). */
#define TRUNCATED_NORMAL_STDDEV 0.87962566103423978

static double at_least_one(double fan) {
    return fan < 1.0 ? 1.0 : fan;
}

static void variance_scaling_uniform(float *w, size_t n, double scale, double fan, tdl_rng *rng);

/* w: (n) <- U(-limit, limit), limit = sqrt(6 / (fan_in + fan_out)). */
void tdl_init_glorot_uniform(float *w, size_t n, int fan_in, int fan_out, tdl_rng *rng) {
    if (w == NULL || rng == NULL)
        return;
    variance_scaling_uniform(w, n, 1.0, ((double)fan_in + (double)fan_out) / 2.0, rng);
}

/* w: (n) <- U(-limit, limit), limit = sqrt(3 * scale / fan), kept inside
 * the bound after rounding to float. */
static void variance_scaling_uniform(float *w, size_t n, double scale, double fan, tdl_rng *rng) {
    double limit = sqrt(3.0 * scale / at_least_one(fan));
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

/* w: (n) <- truncated normal, stddev sqrt(scale / fan) / 0.8796..., draws
 * beyond two (corrected) standard deviations redrawn. */
static void variance_scaling_normal(float *w, size_t n, double scale, double fan, tdl_rng *rng) {
    double stddev = sqrt(scale / at_least_one(fan)) / TRUNCATED_NORMAL_STDDEV;
    for (size_t i = 0; i < n; i++) {
        float z;
        do {
            z = tdl_rng_normal(rng);
        } while (z > 2.0f || z < -2.0f);
        w[i] = (float)(z * stddev);
    }
}

void tdl_init_he_normal(float *w, size_t n, int fan_in, tdl_rng *rng) {
    if (w == NULL || rng == NULL)
        return;
    variance_scaling_normal(w, n, 2.0, (double)fan_in, rng);
}

void tdl_init_fill(float *w, size_t n, tdl_initializer init, int fan_in, int fan_out, tdl_rng *rng) {
    if (w == NULL)
        return;
    double fan_avg = ((double)fan_in + (double)fan_out) / 2.0;
    bool random = init >= TDL_INIT_GLOROT_UNIFORM && init <= TDL_INIT_LECUN_NORMAL;
    if (random && rng == NULL)
        return;
    switch (init) {
    case TDL_INIT_ONES:
        for (size_t i = 0; i < n; i++)
            w[i] = 1.0f;
        return;
    case TDL_INIT_GLOROT_UNIFORM:
        variance_scaling_uniform(w, n, 1.0, fan_avg, rng);
        return;
    case TDL_INIT_GLOROT_NORMAL:
        variance_scaling_normal(w, n, 1.0, fan_avg, rng);
        return;
    case TDL_INIT_HE_UNIFORM:
        variance_scaling_uniform(w, n, 2.0, (double)fan_in, rng);
        return;
    case TDL_INIT_HE_NORMAL:
        variance_scaling_normal(w, n, 2.0, (double)fan_in, rng);
        return;
    case TDL_INIT_LECUN_UNIFORM:
        variance_scaling_uniform(w, n, 1.0, (double)fan_in, rng);
        return;
    case TDL_INIT_LECUN_NORMAL:
        variance_scaling_normal(w, n, 1.0, (double)fan_in, rng);
        return;
    case TDL_INIT_ZEROS:
    default:
        tdl_init_zeros(w, n);
        return;
    }
}

/* w: (n) <- 0 */
void tdl_init_zeros(float *w, size_t n) {
    if (w == NULL)
        return;
    for (size_t i = 0; i < n; i++)
        w[i] = 0.0f;
}
