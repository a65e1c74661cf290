/* Group setup and teardown for the tests of kernels that run on the
 * automatic kernel path only: the group chooses that path, so the kernels
 * are tested under TDL_KERNEL_PATH=blas too, and restores the choice. */
#ifndef TDL_TESTS_AUTOMATIC_PATH_H
#define TDL_TESTS_AUTOMATIC_PATH_H

#include "tdl/runtime.h"

static tdl_kernel_path path_before_tests;

static int choose_automatic_path(void **state) {
    (void)state;
    path_before_tests = tdl_get_kernel_path();
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    return 0;
}

static int restore_path(void **state) {
    (void)state;
    tdl_set_kernel_path(path_before_tests);
    return 0;
}

#endif /* TDL_TESTS_AUTOMATIC_PATH_H */
