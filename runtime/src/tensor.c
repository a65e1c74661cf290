/* Elementwise helpers used by generated code and by the kernels. */
#include <string.h>

#include "tdl/runtime.h"

/* x: (n) -> x = 0 */
void tdl_zero(float *x, size_t n) {
    if (n > 0) memset(x, 0, n * sizeof *x);
}

/* dst: (n), src: (n) -> dst += src */
void tdl_accumulate(float *dst, const float *src, size_t n) {
    for (size_t i = 0; i < n; ++i) dst[i] += src[i];
}

/* x: (n) -> x *= scale */
void tdl_scale(float *x, float scale, size_t n) {
    for (size_t i = 0; i < n; ++i) x[i] *= scale;
}
