/* Float arrays for the kernel tests (include after cmocka.h): one value
 * throughout, or uniform draws from numeric_check.h's fixed generator. */
#ifndef TDL_TESTS_FLOAT_ARRAYS_H
#define TDL_TESTS_FLOAT_ARRAYS_H

#include <stdlib.h>

#include "numeric_check.h"

/* n uniform values in [lo, hi). */
static inline float *floats_of(size_t n, float lo, float hi) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = uniform(lo, hi);
    return v;
}

/* n copies of value. */
static inline float *floats_filled(size_t n, float value) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; ++i) v[i] = value;
    return v;
}

#endif /* TDL_TESTS_FLOAT_ARRAYS_H */
