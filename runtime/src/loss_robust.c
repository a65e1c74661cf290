/* The losses that grow linearly in the error, so an outlier pulls no harder
 * than any other miss: mean absolute error and Huber. Means over all
 * elements, in double; every backward accumulates. */
#include "tdl/runtime.h"

#include <math.h>

/* sign(e) with sign(0) = 0: the subgradient PyTorch's L1Loss takes. */
static double sign(double e) {
    return (double)(e > 0.0) - (double)(e < 0.0);
}

/* predictions, labels: (n) -> loss: () = mean |p - y| */
void tdl_mae_forward(float *loss, const float *predictions, const float *labels, size_t n) {
    if (loss == NULL || predictions == NULL || labels == NULL || n == 0) return;
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) total += fabs((double)predictions[i] - labels[i]);
    *loss = (float)(total / (double)n);
}

/* dpredictions += dloss sign(p - y) / n; dlabels (optional) gets the negation */
void tdl_mae_backward(float *dpredictions, float *dlabels, float dloss, const float *predictions,
                      const float *labels, size_t n) {
    if (dpredictions == NULL || predictions == NULL || labels == NULL || n == 0) return;
    const double scale = (double)dloss / (double)n;
    for (size_t i = 0; i < n; ++i) {
        const float grad = (float)(scale * sign((double)predictions[i] - labels[i]));
        dpredictions[i] += grad;
        if (dlabels != NULL) dlabels[i] -= grad;
    }
}

static tdl_status check_huber(const void *out, const float *predictions, const float *labels, float delta) {
    if (out == NULL || predictions == NULL || labels == NULL)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "huber: NULL tensor");
    if (!(delta > 0.0f) || !isfinite(delta))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "huber: delta must be finite and > 0, got %g", (double)delta);
    return TDL_STATUS_OK;
}

/* predictions, labels: (n) -> loss: () = mean of 0.5 e^2 (|e| <= delta), delta (|e| - delta / 2) beyond */
tdl_status tdl_huber_forward(float *loss, const float *predictions, const float *labels, size_t n, float delta) {
    tdl_status status = check_huber(loss, predictions, labels, delta);
    if (status != TDL_STATUS_OK || n == 0) return status;
    const double d = delta;
    double total = 0.0;
    for (size_t i = 0; i < n; ++i) {
        const double e = fabs((double)predictions[i] - labels[i]);
        total += e <= d ? 0.5 * e * e : d * (e - 0.5 * d);
    }
    *loss = (float)(total / (double)n);
    return TDL_STATUS_OK;
}

/* dpredictions += dloss clip(e, -delta, delta) / n; dlabels (optional) gets the negation */
tdl_status tdl_huber_backward(float *dpredictions, float *dlabels, float dloss, const float *predictions,
                              const float *labels, size_t n, float delta) {
    tdl_status status = check_huber(dpredictions, predictions, labels, delta);
    if (status != TDL_STATUS_OK) return status;
    const double d = delta, scale = (double)dloss / (double)(n > 0 ? n : 1);
    for (size_t i = 0; i < n; ++i) {
        const double e = (double)predictions[i] - labels[i];
        const float grad = (float)(scale * fmin(fmax(e, -d), d));
        dpredictions[i] += grad;
        if (dlabels != NULL) dlabels[i] -= grad;
    }
    return TDL_STATUS_OK;
}
