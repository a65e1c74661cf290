/* GFLOP/s of conv2d forward and backward (backprop filter + input) next to
 * tdl_sgemm on the same GEMM shapes (M = B*OH*OW, N = F, K = KH*KW*C), with 1
 * and 2 BLAS threads. Each figure is the median of several timed runs after a
 * warm-up. Prints a Markdown table; never run by ctest. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "tdl/runtime.h"

enum { WARM_UP_RUNS = 2, TIMED_RUNS = 9 };

typedef struct bench_layer {
    const char *name;
    int in_h, in_w, in_c, filters, kernel;
    tdl_padding padding;
} bench_layer;

static const bench_layer layers[] = {
    {"28x28x1->32 3x3 valid", 28, 28, 1, 32, 3, TDL_PADDING_VALID},
    {"13x13x32->64 3x3 valid", 13, 13, 32, 64, 3, TDL_PADDING_VALID},
    {"32x32x3->32 3x3 same", 32, 32, 3, 32, 3, TDL_PADDING_SAME},
    {"16x16x32->64 3x3 same", 16, 16, 32, 64, 3, TDL_PADDING_SAME},
};
static const int batches[] = {32, 128};
static const int thread_counts[] = {1, 2};

/* Everything one measurement touches. */
typedef struct bench_buffers {
    tdl_conv2d_desc d;
    int batch;
    size_t m, n, k;
    float *x, *kernel, *bias, *y, *dy, *dx, *dkernel, *workspace;
    float *columns, *dcolumns; /* plain GEMM operands of the same shapes */
} bench_buffers;

typedef enum bench_op { OP_CONV_FORWARD, OP_CONV_BACKWARD, OP_SGEMM_FORWARD, OP_SGEMM_BACKWARD } bench_op;

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static float *filled(size_t n) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL) {
        fprintf(stderr, "bench_kernels: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < n; ++i) v[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return v;
}

static void run_once(bench_buffers *b, bench_op op) {
    const int m = (int)b->m, n = (int)b->n, k = (int)b->k;
    switch (op) {
    case OP_CONV_FORWARD:
        tdl_conv2d_forward(b->y, b->x, b->kernel, b->bias, &b->d, b->batch, b->workspace);
        return;
    case OP_CONV_BACKWARD:
        tdl_conv2d_backprop_filter(b->dkernel, b->x, b->dy, &b->d, b->batch, b->workspace);
        tdl_conv2d_backprop_input(b->dx, b->kernel, b->dy, &b->d, b->batch, b->workspace);
        return;
    case OP_SGEMM_FORWARD:
        /* y(M,N) = columns(M,K) * kernel(K,N) */
        tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, m, n, k, 1.0f, b->columns, k, b->kernel, n, 0.0f, b->y, n);
        return;
    case OP_SGEMM_BACKWARD:
        /* dkernel(K,N) += columns^T * dy and dcolumns(M,K) = dy * kernel^T */
        tdl_sgemm(TDL_TRANS, TDL_NO_TRANS, k, n, m, 1.0f, b->columns, k, b->dy, n, 1.0f, b->dkernel, n);
        tdl_sgemm(TDL_NO_TRANS, TDL_TRANS, m, k, n, 1.0f, b->dy, n, b->kernel, n, 0.0f, b->dcolumns, k);
        return;
    }
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one call of op. */
static double median_seconds(bench_buffers *b, bench_op op) {
    double samples[TIMED_RUNS];
    for (int i = 0; i < WARM_UP_RUNS; ++i) run_once(b, op);
    for (int i = 0; i < TIMED_RUNS; ++i) {
        const double start = now_seconds();
        run_once(b, op);
        samples[i] = now_seconds() - start;
    }
    qsort(samples, TIMED_RUNS, sizeof samples[0], compare_doubles);
    return samples[TIMED_RUNS / 2];
}

static bench_buffers buffers_new(const bench_layer *l, int batch) {
    bench_buffers b;
    if (tdl_conv2d_desc_init(&b.d, l->in_h, l->in_w, l->in_c, l->filters, l->kernel, l->kernel, 1, 1, 1, 1,
                             l->padding) != TDL_STATUS_OK) {
        fprintf(stderr, "bench_kernels: %s\n", tdl_last_error());
        exit(1);
    }
    b.batch = batch;
    b.m = (size_t)batch * b.d.out_h * b.d.out_w;
    b.n = (size_t)l->filters;
    b.k = (size_t)l->kernel * l->kernel * l->in_c;
    const size_t nx = (size_t)batch * l->in_h * l->in_w * l->in_c;
    b.x = filled(nx);
    b.dx = filled(nx);
    b.kernel = filled(b.k * b.n);
    b.dkernel = filled(b.k * b.n);
    b.bias = filled(b.n);
    b.y = filled(b.m * b.n);
    b.dy = filled(b.m * b.n);
    b.workspace = filled(tdl_conv2d_workspace_size(&b.d, batch));
    b.columns = filled(b.m * b.k);
    b.dcolumns = filled(b.m * b.k);
    return b;
}

static void buffers_free(bench_buffers *b) {
    free(b->x);
    free(b->dx);
    free(b->kernel);
    free(b->dkernel);
    free(b->bias);
    free(b->y);
    free(b->dy);
    free(b->workspace);
    free(b->columns);
    free(b->dcolumns);
}

int main(void) {
    printf("| layer | B | threads | fwd GFLOP/s | sgemm GFLOP/s | fwd/sgemm | bwd GFLOP/s | sgemm bwd GFLOP/s | bwd/sgemm |\n");
    printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; ++li)
        for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; ++bi) {
            bench_buffers b = buffers_new(&layers[li], batches[bi]);
            const double flops = 2.0 * (double)b.m * (double)b.n * (double)b.k;
            for (size_t ti = 0; ti < sizeof thread_counts / sizeof thread_counts[0]; ++ti) {
                tdl_set_num_threads(thread_counts[ti]);
                const double forward = median_seconds(&b, OP_CONV_FORWARD);
                const double gemm_forward = median_seconds(&b, OP_SGEMM_FORWARD);
                const double backward = median_seconds(&b, OP_CONV_BACKWARD);
                const double gemm_backward = median_seconds(&b, OP_SGEMM_BACKWARD);
                printf("| %s | %d | %d | %.1f | %.1f | %.2f | %.1f | %.1f | %.2f |\n", layers[li].name, b.batch,
                       thread_counts[ti], 1e-9 * flops / forward, 1e-9 * flops / gemm_forward,
                       gemm_forward / forward, 2e-9 * flops / backward, 2e-9 * flops / gemm_backward,
                       gemm_backward / backward);
                fflush(stdout);
            }
            buffers_free(&b);
        }
    return 0;
}
