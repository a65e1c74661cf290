/* GELU and swish: the input times a gate computed from it. Neither is
 * invertible, so the backward reads the input, not the output. Each element
 * is read before it is written, so y (or dx) may alias x. */
#include "tdl/runtime.h"
#include "team.h"

#include <math.h>

#define SQRT_HALF 0.70710678118654752f        /* 1 / sqrt(2) */
#define INV_SQRT_2PI 0.39894228040143268f     /* 1 / sqrt(2 pi), the normal density at 0 */
#define SQRT_2_OVER_PI 0.79788456080286536f   /* sqrt(2 / pi) */
#define GELU_CUBIC 0.044715f

/* Never exponentiates a large positive number. */
static float sigmoid(float x) {
    if (x >= 0.0f) return 1.0f / (1.0f + expf(-x));
    const float e = expf(x);
    return e / (1.0f + e);
}

/* x * Phi(x), and Phi(x) + x phi(x) as its slope. */
static float gelu_exact(float x, float *slope) {
    const float cdf = 0.5f * (1.0f + erff(x * SQRT_HALF));
    *slope = cdf + x * INV_SQRT_2PI * expf(-0.5f * x * x);
    return x * cdf;
}

/* 0.5 x (1 + t), t = tanh(u), u = sqrt(2/pi) (x + c x^3); slope
 * 0.5 (1 + t) + 0.5 x (1 - t^2) du/dx. Where t has rounded to +-1 the
 * second term is 0, and is taken as 0 rather than 0 * inf once x^3 overflows. */
static float gelu_tanh(float x, float *slope) {
    const float t = tanhf(SQRT_2_OVER_PI * (x + GELU_CUBIC * x * x * x));
    const float sech2 = 1.0f - t * t;
    const float du = SQRT_2_OVER_PI * (1.0f + 3.0f * GELU_CUBIC * x * x);
    *slope = 0.5f * (1.0f + t) + (sech2 > 0.0f ? 0.5f * x * sech2 * du : 0.0f);
    return 0.5f * x * (1.0f + t);
}

static float gelu(float x, tdl_gelu_form form, float *slope) {
    return form == TDL_GELU_TANH ? gelu_tanh(x, slope) : gelu_exact(x, slope);
}

/* One call, for the shares of the team: elements [begin, end), each on its own. */
typedef struct gated_job {
    float *out;             /* y, or dx */
    const float *dy, *x;
    tdl_gelu_form form;
} gated_job;

/* Each element costs an erf or exp and tens of flops, several times a
 * copied float: a share of this many elements takes about as long as
 * TDL_TEAM_MIN_THREAD_FLOATS copied ones. */
#define GATED_MIN_THREAD_ELEMENTS 16384.0

static void gelu_elements(void *context, size_t begin, size_t end) {
    const gated_job *j = context;
    float *y = j->out;
    const float *x = j->x;
    float unused;
    for (size_t i = begin; i < end; ++i) y[i] = gelu(x[i], j->form, &unused);
}

/* x: (n) -> y: (n) */
void tdl_gelu_forward(float *y, const float *x, size_t n, tdl_gelu_form form) {
    if (y == NULL || x == NULL) return;
    gated_job j = {y, NULL, x, form};
    tdl_team_split(n, 1.0, GATED_MIN_THREAD_ELEMENTS, gelu_elements, &j);
}

static void gelu_gradient_elements(void *context, size_t begin, size_t end) {
    const gated_job *j = context;
    float *dx = j->out;
    const float *dy = j->dy, *x = j->x;
    for (size_t i = begin; i < end; ++i) {
        float slope;
        gelu(x[i], j->form, &slope);
        dx[i] += dy[i] * slope;
    }
}

/* dy, x: (n) -> dx += dy * gelu'(x) */
void tdl_gelu_backward(float *dx, const float *dy, const float *x, size_t n, tdl_gelu_form form) {
    if (dx == NULL || dy == NULL || x == NULL) return;
    gated_job j = {dx, dy, x, form};
    tdl_team_split(n, 1.0, GATED_MIN_THREAD_ELEMENTS, gelu_gradient_elements, &j);
}

static void swish_elements(void *context, size_t begin, size_t end) {
    const gated_job *j = context;
    float *y = j->out;
    const float *x = j->x;
    for (size_t i = begin; i < end; ++i) y[i] = x[i] * sigmoid(x[i]);
}

/* x: (n) -> y = x * sigmoid(x) */
void tdl_swish_forward(float *y, const float *x, size_t n) {
    if (y == NULL || x == NULL) return;
    gated_job j = {y, NULL, x, TDL_GELU_EXACT};
    tdl_team_split(n, 1.0, GATED_MIN_THREAD_ELEMENTS, swish_elements, &j);
}

static void swish_gradient_elements(void *context, size_t begin, size_t end) {
    const gated_job *j = context;
    float *dx = j->out;
    const float *dy = j->dy, *x = j->x;
    for (size_t i = begin; i < end; ++i) {
        const float s = sigmoid(x[i]);
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

/* dy, x: (n) -> dx += dy * s (1 + x (1 - s)), s = sigmoid(x) */
void tdl_swish_backward(float *dx, const float *dy, const float *x, size_t n) {
    if (dx == NULL || dy == NULL || x == NULL) return;
    gated_job j = {dx, dy, x, TDL_GELU_EXACT};
    tdl_team_split(n, 1.0, GATED_MIN_THREAD_ELEMENTS, swish_gradient_elements, &j);
}
