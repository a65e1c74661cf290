/* conv2d followed by max_pool2d as one step: on one thread the batch is run
 * in chunks of a few images, and each chunk's convolution output is pooled
 * right after it is written, while it is still in the core's caches, instead
 * of after the whole batch has gone through memory. Both halves are the ordinary kernels (each
 * on the whole team), so the results are theirs: bit for bit on the libxsmm
 * path; on the BLAS path the GEMMs of a smaller batch may round differently. */
#include <stdint.h>

#include "team.h"
#include "tdl/runtime.h"

/* About the part of L2 one core's chunk of convolution output may fill. */
#define CONV_POOL_CHUNK_BYTES (256.0 * 1024.0)

/* x: (B,H,W,C), kernel: (KH,KW,C,F), bias: (F) or NULL
 *   -> y: (B,OH,OW,F) = f(conv(x) + bias), pooled: (B,PH,PW,F) = max_pool(y),
 *      argmax: (B,PH,PW,F) or NULL (as tdl_max_pool2d_forward_argmax) */
void tdl_conv2d_max_pool2d_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                   const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                   int batch, float *workspace) {
    if (conv == NULL || pool == NULL || batch <= 0 || pooled == NULL || y == NULL || x == NULL ||
        kernel == NULL || (workspace == NULL && tdl_conv2d_forward_workspace_size(conv, batch) > 0))
        return;
    /* The pool must read exactly the convolution's output. */
    if (pool->in_h != conv->out_h || pool->in_w != conv->out_w || pool->channels != conv->out_c) return;
    const size_t x_image = (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c;
    const size_t y_image = (size_t)conv->out_h * (size_t)conv->out_w * (size_t)conv->out_c;
    const size_t p_image = (size_t)pool->out_h * (size_t)pool->out_w * (size_t)pool->channels;
    const int threads = tdl_team_threads();
    int chunk = (int)((double)threads * CONV_POOL_CHUNK_BYTES / ((double)y_image * sizeof(float)));
    if (chunk < threads) chunk = threads;
    /* A chunk of a few images is too little work to split over a team of
     * several threads (bench/run, mnist_convnet forward at batch 128 on 2
     * threads: 5.07 ms chunked against 4.20 ms for the two kernels apart):
     * then the whole batch is one chunk and each kernel has the team. */
    if (threads > 1) chunk = batch;
    if (chunk > batch) chunk = batch;
    /* A workspace sized for `batch` serves every smaller batch (docs/runtime.md). */
    for (int b = 0; b < batch; b += chunk) {
        const int n = batch - b < chunk ? batch - b : chunk;
        float *y_chunk = y + (size_t)b * y_image;
        tdl_conv2d_forward(y_chunk, x + (size_t)b * x_image, kernel, bias, conv, n, workspace);
        if (argmax != NULL)
            tdl_max_pool2d_forward_argmax(pooled + (size_t)b * p_image, argmax + (size_t)b * p_image, y_chunk, pool,
                                          n);
        else
            tdl_max_pool2d_forward(pooled + (size_t)b * p_image, y_chunk, pool, n);
    }
}
