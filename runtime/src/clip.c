/* Gradient clipping with Keras' rules (keras.optimizers.Optimizer's
 * clipnorm, global_clipnorm and clipvalue). Norms are summed in double: a
 * float sum over a large tensor would lose the small squares. */
#include "tdl/runtime.h"

#include <math.h>

double tdl_sum_of_squares(const float *g, size_t n) {
    double sum = 0.0;
    for (size_t i = 0; i < n; i++) sum += (double)g[i] * (double)g[i];
    return sum;
}

void tdl_clip_by_norm(float *g, size_t n, double sum_of_squares, float clipnorm) {
    /* Keras: g * clipnorm / max(norm, clipnorm), also when the norm is under
     * the limit (the factor is then 1 up to rounding). */
    double norm = sqrt(sum_of_squares);
    double limit = (double)clipnorm;
    float factor = (float)(limit / (norm > limit ? norm : limit));
    for (size_t i = 0; i < n; i++) g[i] *= factor;
}

void tdl_clip_by_global_norm(float *g, size_t n, double global_sum_of_squares, float clipnorm) {
    /* Keras: clipnorm * min(1 / norm, 1 / clipnorm); a zero norm gives 1 / inf
     * on the left, so the factor is clipnorm / clipnorm. */
    double norm = sqrt(global_sum_of_squares);
    double limit = (double)clipnorm;
    double inverse = norm > limit ? 1.0 / norm : 1.0 / limit;
    float factor = (float)(limit * inverse);
    for (size_t i = 0; i < n; i++) g[i] *= factor;
}

void tdl_clip_by_value(float *g, size_t n, float clipvalue) {
    for (size_t i = 0; i < n; i++) g[i] = g[i] > clipvalue ? clipvalue : g[i] < -clipvalue ? -clipvalue : g[i];
}
