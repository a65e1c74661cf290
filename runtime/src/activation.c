/* Elementwise activations and softmax along one axis. */
#include "tdl/runtime.h"
#include "activation_math.h"
#include "team.h"
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

/* One call, for the shares of the team (tdl_team_split): elements, or the
 * outer indices of a softmax. */
typedef struct activation_job {
    float *out;             /* y, or dx */
    const float *x, *dy, *y;
    tdl_activation activation;
    float alpha;
    size_t len, inner;      /* softmax */
} activation_job;

/* Two loops because y may alias x, and only non-aliasing pointers can be
 * restrict (which is what lets the compiler vectorise). */
static void activate_elements(void *context, size_t begin, size_t end) {
    const activation_job *j = context;
    if (j->out == j->x)
        activate_in_place(j->out + begin, end - begin, j->activation, j->alpha);
    else
        activate(j->out + begin, j->x + begin, end - begin, j->activation, j->alpha);
}

void tdl_activation_forward(float *y, const float *x, size_t n, tdl_activation activation, float alpha) {
    if (y == NULL || x == NULL) return;
    activation_job j = {.out = y, .x = x, .activation = activation, .alpha = alpha};
    tdl_team_split(n, 2.0, TDL_TEAM_MIN_THREAD_FLOATS, activate_elements, &j);
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

/* dx never aliases dy (header). Should it be y's own buffer, the restrict
 * loops do not apply: the same sums, one element at a time. */
static void activation_gradient_elements(void *context, size_t begin, size_t end) {
    const activation_job *j = context;
    float *dx = j->out;
    const float *dy = j->dy, *y = j->y;
    const tdl_activation activation = j->activation;
    const float alpha = j->alpha;
    if ((const float *)dx == y) {
        for (size_t i = begin; i < end; ++i) {
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
    activation_gradient_add(dx + begin, dy + begin, y + begin, end - begin, activation, alpha);
}

void tdl_activation_backward(float *dx, const float *dy, const float *y, size_t n,
                             tdl_activation activation, float alpha) {
    if (dx == NULL || dy == NULL || y == NULL) return;
    activation_job j = {.out = dx, .dy = dy, .y = y, .activation = activation, .alpha = alpha};
    tdl_team_split(n, 3.0, TDL_TEAM_MIN_THREAD_FLOATS, activation_gradient_elements, &j);
}

/* Outer indices [begin, end): each normalises its own inner columns. */
static void softmax_rows(void *context, size_t begin, size_t end) {
    const activation_job *j = context;
    float *y = j->out;
    const float *x = j->x;
    const size_t len = j->len, inner = j->inner;
    for (size_t o = begin; o < end; ++o) {
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

void tdl_softmax_forward(float *y, const float *x, size_t outer, int axis_len, size_t inner) {
    if (y == NULL || x == NULL || axis_len <= 0) {
        return;
    }
    activation_job j = {.out = y, .x = x, .len = (size_t)axis_len, .inner = inner};
    /* Three passes over each row, one of them an exp. */
    tdl_team_split(outer, 4.0 * (double)axis_len * (double)inner, TDL_TEAM_MIN_THREAD_FLOATS, softmax_rows, &j);
}

static void softmax_gradient_rows(void *context, size_t begin, size_t end) {
    const activation_job *j = context;
    float *dx = j->out;
    const float *dy = j->dy, *y = j->y;
    const size_t len = j->len, inner = j->inner;
    for (size_t o = begin; o < end; ++o) {
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

/* dy, y: (outer, axis_len, inner) -> dx += y * (dy - sum_axis(dy * y)) */
void tdl_softmax_backward(float *dx, const float *dy, const float *y, size_t outer, int axis_len, size_t inner) {
    if (dx == NULL || dy == NULL || y == NULL || axis_len <= 0) {
        return;
    }
    activation_job j = {.out = dx, .dy = dy, .y = y, .len = (size_t)axis_len, .inner = inner};
    tdl_team_split(outer, 4.0 * (double)axis_len * (double)inner, TDL_TEAM_MIN_THREAD_FLOATS, softmax_gradient_rows,
                   &j);
}
