/* The portable build has no lane kernels (../conv_lanes_pool.c): conv2d and
 * its max pool always run as the two ordinary kernels. */
#include "conv_internal.h"

bool conv_lanes_pool_available(void) { return false; }

bool conv_lanes_max_pool_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                 const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                 int batch, float *scratch) {
    (void)pooled, (void)argmax, (void)y, (void)x, (void)kernel, (void)bias, (void)conv, (void)pool, (void)batch;
    (void)scratch;
    return false;
}
