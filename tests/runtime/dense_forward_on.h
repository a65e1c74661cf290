/* tdl_dense_forward on a given number of threads, the team's count
 * restored after, for the dense layers' tests that compare thread counts. */
#ifndef TDL_TESTS_DENSE_FORWARD_ON_H
#define TDL_TESTS_DENSE_FORWARD_ON_H

#include "tdl/runtime.h"

static inline void forward_on(int threads, float *y, const float *x, const float *kernel, const float *bias,
                              const tdl_dense_desc *d, int batch) {
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    tdl_dense_forward(y, x, kernel, bias, d, batch);
    tdl_set_num_threads(before);
}

#endif /* TDL_TESTS_DENSE_FORWARD_ON_H */
