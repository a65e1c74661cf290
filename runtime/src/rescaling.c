/* rescaling: y = x * scale + offset, Keras' Rescaling, and what `x * 0.5`,
 * `x + 1.0` and `x - 1.0` stand for in TDL. Elements are split over the
 * team in contiguous shares. */
#include "tdl/runtime.h"
#include "team.h"

typedef struct rescaling_job {
    float *out;             /* y, or dx */
    const float *in;        /* x, or dy */
    float scale, offset;
} rescaling_job;

/* Locals, not j's fields, in the loops: a float store could alias j->scale. */
static void rescale_elements(void *context, size_t begin, size_t end) {
    const rescaling_job *j = context;
    float *y = j->out;
    const float *x = j->in;
    const float scale = j->scale, offset = j->offset;
    for (size_t i = begin; i < end; ++i) {
        y[i] = x[i] * scale + offset;
    }
}

static void accumulate_scaled(void *context, size_t begin, size_t end) {
    const rescaling_job *j = context;
    float *dx = j->out;
    const float *dy = j->in;
    const float scale = j->scale;
    for (size_t i = begin; i < end; ++i) {
        dx[i] += dy[i] * scale;
    }
}

/* x: (n) -> y: (n). Each y[i] depends on x[i] only, so y may alias x. */
void tdl_rescaling_forward(float *y, const float *x, size_t n, float scale, float offset) {
    if (y == NULL || x == NULL) {
        return;
    }
    rescaling_job j = {y, x, scale, offset};
    tdl_team_split(n, 2.0, TDL_TEAM_MIN_THREAD_FLOATS, rescale_elements, &j);
}

/* dy: (n) -> dx += dy * scale; the offset has no gradient to pass on. */
void tdl_rescaling_backward(float *dx, const float *dy, size_t n, float scale) {
    if (dx == NULL || dy == NULL) {
        return;
    }
    rescaling_job j = {dx, dy, scale, 0.0f};
    tdl_team_split(n, 3.0, TDL_TEAM_MIN_THREAD_FLOATS, accumulate_scaled, &j);
}
