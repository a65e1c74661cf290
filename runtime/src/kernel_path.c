/* Which implementation the kernels use: tdl_set_kernel_path, else the
 * environment variable TDL_KERNEL_PATH ("blas" forces the im2col + OpenBLAS
 * path, which is how CI runs the whole suite a second time on it). */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

/* -1 until chosen: by a call, or from the environment on first use. */
static atomic_int chosen_path = -1;

static tdl_kernel_path path_from_environment(void) {
    const char *value = getenv("TDL_KERNEL_PATH");
    return value != NULL && strcmp(value, "blas") == 0 ? TDL_KERNEL_PATH_BLAS : TDL_KERNEL_PATH_AUTO;
}

void tdl_set_kernel_path(tdl_kernel_path path) {
    atomic_store(&chosen_path, path == TDL_KERNEL_PATH_BLAS ? TDL_KERNEL_PATH_BLAS : TDL_KERNEL_PATH_AUTO);
}

tdl_kernel_path tdl_get_kernel_path(void) {
    int path = atomic_load(&chosen_path);
    if (path < 0) {
        /* Two first callers read the same environment and store the same value. */
        path = (int)path_from_environment();
        atomic_store(&chosen_path, path);
    }
    return (tdl_kernel_path)path;
}
