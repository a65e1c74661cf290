/* Elementwise activations and softmax along one axis. */
#include "tdl/runtime.h"
#include "activation_math.h"
#include "vector.h"

#include <math.h>

/* Never evaluates exp of a large positive number, so it cannot overflow:
 * for x < 0 it uses e^x / (1 + e^x), which stays accurate as e^x -> 0. */
static float sigmoid(float x) {
    if (x >= 0.0f) {
        return 1.0f / (1.0f + expf(-x));
    }
    float e = expf(x);
    return e / (1.0f + e);
}

/* x: (n) -> y: (n) */
/* x: (n) -> y: (n), out of place. */
TDL_VECTOR_CLONES static void activate(float *restrict y, const float *restrict x, size_t n,
                                       tdl_activation activation, float alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR:
        for (size_t i = 0; i < n; ++i) y[i] = x[i];
        return;
    case TDL_ACTIVATION_RELU:
        for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
        return;
    case TDL_ACTIVATION_SIGMOID:
        for (size_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]);
        return;
    case TDL_ACTIVATION_TANH:
        for (size_t i = 0; i < n; ++i) y[i] = tanhf(x[i]);
        return;
    case TDL_ACTIVATION_LEAKY_RELU:
        for (size_t i = 0; i < n; ++i) y[i] = x[i] > 0.0f ? x[i] : alpha * x[i];
        return;
    case TDL_ACTIVATION_ELU:
        for (size_t i = 0; i < n; ++i) y[i] = tdl_elu(x[i], alpha);
        return;
    case TDL_ACTIVATION_SOFTPLUS:
        for (size_t i = 0; i < n; ++i) y[i] = tdl_softplus(x[i]);
        return;
    }
}

/* y: (n) -> f(y) in place. */
TDL_VECTOR_CLONES static void activate_in_place(float *restrict y, size_t n, tdl_activation activation,
                                                float alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR:
        return;
    case TDL_ACTIVATION_RELU:
        for (size_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : 0.0f;
        return;
    case TDL_ACTIVATION_SIGMOID:
        for (size_t i = 0; i < n; ++i) y[i] = sigmoid(y[i]);
        return;
    case TDL_ACTIVATION_TANH:
        for (size_t i = 0; i < n; ++i) y[i] = tanhf(y[i]);
        return;
    case TDL_ACTIVATION_LEAKY_RELU:
        for (size_t i = 0; i < n; ++i) y[i] = y[i] > 0.0f ? y[i] : alpha * y[i];
        return;
    case TDL_ACTIVATION_ELU:
        for (size_t i = 0; i < n; ++i) y[i] = tdl_elu(y[i], alpha);
        return;
    case TDL_ACTIVATION_SOFTPLUS:
        for (size_t i = 0; i < n; ++i) y[i] = tdl_softplus(y[i]);
        return;
    }
}

/* Two loops because y may alias x, and only non-aliasing pointers can be
 * restrict (which is what lets the compiler vectorise). */
void tdl_activation_forward(float *y, const float *x, size_t n, tdl_activation activation, float alpha) {
    if (y == NULL || x == NULL) return;
    if (y == x)
        activate_in_place(y, n, activation, alpha);
    else
        activate(y, x, n, activation, alpha);
}

/* dx += dy * f'(y); the ReLU masks are selects, not branches. */
TDL_VECTOR_CLONES static void activation_gradient_add(float *restrict dx, const float *restrict dy,
                                                      const float *restrict y, size_t n,
                                                      tdl_activation activation, float alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR:
        for (size_t i = 0; i < n; ++i) dx[i] += dy[i];
        return;
    case TDL_ACTIVATION_RELU:
        for (size_t i = 0; i < n; ++i) dx[i] += y[i] > 0.0f ? dy[i] : 0.0f;
        return;
    case TDL_ACTIVATION_SIGMOID:
        for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * y[i] * (1.0f - y[i]);
        return;
    case TDL_ACTIVATION_TANH:
        for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * (1.0f - y[i] * y[i]);
        return;
    case TDL_ACTIVATION_LEAKY_RELU:
        for (size_t i = 0; i < n; ++i) dx[i] += y[i] > 0.0f ? dy[i] : alpha * dy[i];
        return;
    case TDL_ACTIVATION_ELU:
        for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * tdl_elu_slope(y[i], alpha);
        return;
    case TDL_ACTIVATION_SOFTPLUS:
        for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * tdl_softplus_slope(y[i]);
        return;
    }
}

void tdl_activation_backward(float *dx, const float *dy, const float *y, size_t n,
                             tdl_activation activation, float alpha) {
    if (dx == NULL || dy == NULL || y == NULL) return;
    /* dx never aliases dy (header). Should it be y's own buffer, the restrict
     * loops do not apply: the same sums, one element at a time. */
    if ((const float *)dx == y) {
        for (size_t i = 0; i < n; ++i) {
            float g = dy[i];
            if (activation == TDL_ACTIVATION_RELU) g = y[i] > 0.0f ? dy[i] : 0.0f;
            if (activation == TDL_ACTIVATION_SIGMOID) g = dy[i] * y[i] * (1.0f - y[i]);
            if (activation == TDL_ACTIVATION_TANH) g = dy[i] * (1.0f - y[i] * y[i]);
            if (activation == TDL_ACTIVATION_LEAKY_RELU) g = y[i] > 0.0f ? dy[i] : alpha * dy[i];
            if (activation == TDL_ACTIVATION_ELU) g = dy[i] * tdl_elu_slope(y[i], alpha);
            if (activation == TDL_ACTIVATION_SOFTPLUS) g = dy[i] * tdl_softplus_slope(y[i]);
            dx[i] += g;
        }
        return;
    }
    activation_gradient_add(dx, dy, y, n, activation, alpha);
}

void tdl_softmax_forward(float *y, const float *x, size_t outer, int axis_len, size_t inner) {
    if (y == NULL || x == NULL || axis_len <= 0) {
        return;
    }
    const size_t len = (size_t)axis_len;
    for (size_t o = 0; o < outer; ++o) {
        for (size_t in = 0; in < inner; ++in) {
            const size_t base = o * len * inner + in;
            float max = x[base];
            for (size_t a = 1; a < len; ++a) {
                float v = x[base + a * inner];
                if (v > max) {
                    max = v;
                }
            }
            /* Subtracting the maximum keeps every exponent <= 0 and the sum >= 1. */
            double sum = 0.0;
            for (size_t a = 0; a < len; ++a) {
                float e = expf(x[base + a * inner] - max);
                y[base + a * inner] = e;
                sum += e;
            }
            const float inv = (float)(1.0 / sum);
            for (size_t a = 0; a < len; ++a) {
                y[base + a * inner] *= inv;
            }
        }
    }
}

/* dy, y: (outer, axis_len, inner) -> dx += y * (dy - sum_axis(dy * y)) */
void tdl_softmax_backward(float *dx, const float *dy, const float *y, size_t outer, int axis_len, size_t inner) {
    if (dx == NULL || dy == NULL || y == NULL || axis_len <= 0) {
        return;
    }
    const size_t len = (size_t)axis_len;
    for (size_t o = 0; o < outer; ++o) {
        for (size_t in = 0; in < inner; ++in) {
            const size_t base = o * len * inner + in;
            double dot = 0.0;
            for (size_t a = 0; a < len; ++a) {
                dot += (double)dy[base + a * inner] * y[base + a * inner];
            }
            const float dotf = (float)dot;
            for (size_t a = 0; a < len; ++a) {
                const size_t i = base + a * inner;
                dx[i] += y[i] * (dy[i] - dotf);
            }
        }
    }
}
