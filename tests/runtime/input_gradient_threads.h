/* A check shared by the kernel tests of input gradients that promise the
 * same bits on every thread count: tdl_conv2d_backprop_input, the public
 * entry point, run on 1 to 3 threads from `before` must give `expected`
 * (what the kernel under test wrote) exactly. */
#ifndef TDL_TESTS_INPUT_GRADIENT_THREADS_H
#define TDL_TESTS_INPUT_GRADIENT_THREADS_H

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "float_arrays.h"
#include "tdl/runtime.h"

static void assert_input_gradient_on_1_to_3_threads(const float *kernel, const float *dy, const tdl_conv2d_desc *d,
                                                    int batch, const float *before, const float *expected,
                                                    size_t nx) {
    float *workspace = floats_filled(tdl_conv2d_workspace_size(d, batch), NAN);
    float *dx = malloc(nx * sizeof *dx);
    assert_non_null(dx);
    const int saved = tdl_get_num_threads();
    for (int threads = 1; threads <= 3; ++threads) {
        tdl_set_num_threads(threads);
        memcpy(dx, before, nx * sizeof *dx);
        tdl_conv2d_backprop_input(dx, kernel, dy, d, batch, workspace);
        assert_memory_equal(dx, expected, nx * sizeof *dx);
    }
    tdl_set_num_threads(saved);
    free(dx);
    free(workspace);
}

#endif /* TDL_TESTS_INPUT_GRADIENT_THREADS_H */
