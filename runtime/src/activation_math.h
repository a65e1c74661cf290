/* Internal to libtdlrt: the scalar formulas of the activations whose
 * derivative is read from their output, shared by the elementwise kernels
 * (activation.c) and the passes fused into the convolution (conv.c). */
#ifndef TDL_ACTIVATION_MATH_H
#define TDL_ACTIVATION_MATH_H

#include <math.h>

/* x > 0 ? x : alpha (e^x - 1); expm1f keeps small negative x accurate. */
static inline float tdl_elu(float x, float alpha) {
    return x > 0.0f ? x : alpha * expm1f(x);
}

/* With alpha >= 0 the output has the sign of the input, and below zero
 * f'(x) = alpha e^x = y + alpha. */
static inline float tdl_elu_slope(float y, float alpha) {
    return y > 0.0f ? 1.0f : y + alpha;
}

/* log(1 + e^x) that never exponentiates a large positive number. */
static inline float tdl_softplus(float x) {
    return fmaxf(x, 0.0f) + log1pf(expf(-fabsf(x)));
}

/* f'(x) = sigmoid(x) = 1 - e^-y, written -expm1(-y) so that it stays
 * accurate where it is tiny (y near 0, x very negative). */
static inline float tdl_softplus_slope(float y) {
    return -expm1f(-y);
}

#endif /* TDL_ACTIVATION_MATH_H */
