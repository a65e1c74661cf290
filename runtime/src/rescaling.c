/* rescaling: y = x * scale + offset, Keras' Rescaling, and what `x * 0.5`,
 * `x + 1.0` and `x - 1.0` stand for in TDL. */
#include "tdl/runtime.h"

/* x: (n) -> y: (n). Each y[i] depends on x[i] only, so y may alias x. */
void tdl_rescaling_forward(float *y, const float *x, size_t n, float scale, float offset) {
    if (y == NULL || x == NULL) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        y[i] = x[i] * scale + offset;
    }
}

/* dy: (n) -> dx += dy * scale; the offset has no gradient to pass on. */
void tdl_rescaling_backward(float *dx, const float *dy, size_t n, float scale) {
    if (dx == NULL || dy == NULL) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        dx[i] += dy[i] * scale;
    }
}
