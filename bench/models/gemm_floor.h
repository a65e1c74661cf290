/* The "GEMM floor" of a model: the time tdl_sgemm alone needs for the
 * model's matrix products at a batch size, with nothing else around them. */
#ifndef BENCH_GEMM_FLOOR_H
#define BENCH_GEMM_FLOOR_H

#include "timing.h"

/* One layer's product C(M,N) = A(M,K) * B(K,N) with M = batch * rows_per_example:
 * a convolution as im2col (rows = OH*OW, N = filters, K = KH*KW*C) or a dense
 * layer (rows = 1, N = units, K = input features). */
typedef struct gemm_shape {
    int rows_per_example;
    int n, k;
} gemm_shape;

typedef enum gemm_floor_mode {
    GEMM_FLOOR_FORWARD, /* the forward product of every layer */
    GEMM_FLOOR_TRAIN    /* forward, plus dW = A^T dC for every layer and dA = dC B^T
                           for every layer but the first (no gradient flows into the input) */
} gemm_floor_mode;

/* Median milliseconds of the whole list of products; layers[0] is the first layer. */
double gemm_floor_ms(const gemm_shape *layers, int count, int batch, gemm_floor_mode mode,
                     const timing_plan *plan);

#endif
