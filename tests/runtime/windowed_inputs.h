/* Inputs zero in places the examples share, as an image's background, for
 * the tests of the paths that skip groups of zero inputs (include after
 * cmocka.h and float_arrays.h). */
#ifndef TDL_TESTS_WINDOWED_INPUTS_H
#define TDL_TESTS_WINDOWED_INPUTS_H

#include <stddef.h>

#include "float_arrays.h"

/* (batch, features) values, each example nonzero only in a window of about
 * 40% of its inputs, at a place of its own; zeros outside it alternate in
 * sign, and every seventh input inside is zero too. */
static inline float *windowed_inputs(int batch, int features) {
    float *x = floats_of((size_t)batch * (size_t)features, -1.0f, 1.0f);
    const int width = features * 2 / 5 + 1;
    for (int b = 0; b < batch; ++b) {
        const int start = (int)(uniform(0.0f, 1.0f) * (float)(features - width));
        for (int f = 0; f < features; ++f) {
            float *input = x + (size_t)b * (size_t)features + (size_t)f;
            if (f < start || f >= start + width) *input = f % 2 != 0 ? -0.0f : 0.0f;
            else if (f % 7 == 0) *input = 0.0f;
        }
    }
    return x;
}

#endif /* TDL_TESTS_WINDOWED_INPUTS_H */
