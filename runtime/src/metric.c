/* Metrics: in_top_k (accuracy is in_top_k with k = 1). */
#include "tdl/runtime.h"

#include <math.h>

/* predictions: (B,C), targets: (B) -> fraction: () of rows whose target is in the top k.
 * TensorFlow's rule: a hit when fewer than k classes score strictly higher
 * than the target, so ties at the boundary count as in; a row holding a
 * non-finite score is never a hit. */
tdl_status tdl_in_top_k(float *fraction, const float *predictions, const int32_t *targets, int batch,
                        int classes, int k) {
    if (fraction == NULL || predictions == NULL || targets == NULL) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "in_top_k: NULL tensor");
    }
    if (batch <= 0 || classes <= 0) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "in_top_k: batch %d and classes %d must be positive", batch,
                             classes);
    }
    if (k < 1 || k > classes) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "in_top_k: k = %d is outside [1, %d]", k, classes);
    }
    for (int b = 0; b < batch; ++b) {
        if (targets[b] < 0 || targets[b] >= classes) {
            return tdl_set_error(TDL_STATUS_BAD_LABEL, "in_top_k: target %d at position %d is outside [0, %d)",
                                 (int)targets[b], b, classes);
        }
    }
    int hits = 0;
    for (int b = 0; b < batch; ++b) {
        const float *row = predictions + (size_t)b * (size_t)classes;
        const float target_score = row[targets[b]];
        int higher = 0;
        bool finite = true;
        for (int c = 0; c < classes; ++c) {
            if (!isfinite(row[c])) {
                finite = false;
                break;
            }
            higher += row[c] > target_score;
        }
        hits += finite && higher < k;
    }
    *fraction = (float)((double)hits / (double)batch);
    return TDL_STATUS_OK;
}
