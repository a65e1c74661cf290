/* GFLOP/s of conv2d forward, backward-data (tdl_conv2d_backprop_input) and
 * backward-weights (tdl_conv2d_backprop_filter) on the reference models' conv
 * layers, on both paths (libxsmm and im2col + OpenBLAS), with 1 and 2 team
 * threads, and each as a % of this machine's FMA peak for that thread count,
 * measured in the same run (fma_peak.c). Each figure is the median of several
 * timed runs after a warm-up. Prints Markdown tables; never run by ctest.
 * The FLOPs are a direct convolution's (2*KH*KW*C*F per output pixel): the
 * 3x3 layers with 32+ channels that the libxsmm path runs as Winograd
 * F(2x2, 3x3) (forward, backward-data of 'same' layers, backward-weights)
 * do 4/9 of those multiply-adds, so their effective rate may pass 100% of
 * the peak.
 *
 *   bench_kernels           every layer, batches 32 and 128
 *   bench_kernels --quick   batch 32 only, fewer runs (a smoke run) */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fma_peak.h"
#include "tdl/runtime.h"

enum { WARM_UP_RUNS = 2, MAX_TIMED_RUNS = 9 };

typedef struct bench_layer {
    const char *name;
    int in_h, in_w, in_c, filters, kernel;
    tdl_padding padding;
} bench_layer;

/* The conv layers of examples/models: mnist_convnet, lenet5, vgg_small. */
static const bench_layer layers[] = {
    {"mnist 28x28x1->32 3x3 valid", 28, 28, 1, 32, 3, TDL_PADDING_VALID},
    {"mnist 13x13x32->64 3x3 valid", 13, 13, 32, 64, 3, TDL_PADDING_VALID},
    {"lenet 28x28x1->6 5x5 same", 28, 28, 1, 6, 5, TDL_PADDING_SAME},
    {"lenet 14x14x6->16 5x5 valid", 14, 14, 6, 16, 5, TDL_PADDING_VALID},
    {"vgg 32x32x3->32 3x3 same", 32, 32, 3, 32, 3, TDL_PADDING_SAME},
    {"vgg 32x32x32->32 3x3 same", 32, 32, 32, 32, 3, TDL_PADDING_SAME},
    {"vgg 16x16x32->64 3x3 same", 16, 16, 32, 64, 3, TDL_PADDING_SAME},
    {"vgg 16x16x64->64 3x3 same", 16, 16, 64, 64, 3, TDL_PADDING_SAME},
    {"vgg 8x8x64->128 3x3 same", 8, 8, 64, 128, 3, TDL_PADDING_SAME},
    {"vgg 8x8x128->128 3x3 same", 8, 8, 128, 128, 3, TDL_PADDING_SAME},
};
static const int thread_counts[] = {1, 2};

/* Everything one measurement touches. */
typedef struct bench_buffers {
    tdl_conv2d_desc d;
    int batch;
    float *x, *kernel, *bias, *y, *dy, *dx, *dkernel, *workspace;
} bench_buffers;

typedef enum bench_op { OP_FORWARD, OP_BACKWARD_DATA, OP_BACKWARD_WEIGHTS } bench_op;

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
    switch (op) {
    case OP_FORWARD:
        tdl_conv2d_forward(b->y, b->x, b->kernel, b->bias, &b->d, b->batch, b->workspace);
        return;
    case OP_BACKWARD_DATA:
        tdl_conv2d_backprop_input(b->dx, b->kernel, b->dy, &b->d, b->batch, b->workspace);
        return;
    case OP_BACKWARD_WEIGHTS:
        tdl_conv2d_backprop_filter(b->dkernel, b->x, b->dy, &b->d, b->batch, b->workspace);
        return;
    }
}

static int compare_doubles(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median seconds of one call of op over `runs` timed calls. */
static double median_seconds(bench_buffers *b, bench_op op, int runs) {
    double samples[MAX_TIMED_RUNS];
    for (int i = 0; i < WARM_UP_RUNS; ++i) run_once(b, op);
    for (int i = 0; i < runs; ++i) {
        const double start = now_seconds();
        run_once(b, op);
        samples[i] = now_seconds() - start;
    }
    qsort(samples, (size_t)runs, sizeof samples[0], compare_doubles);
    return samples[runs / 2];
}

static bench_buffers buffers_new(const bench_layer *l, int batch) {
    bench_buffers b;
    if (tdl_conv2d_desc_init(&b.d, l->in_h, l->in_w, l->in_c, l->filters, l->kernel, l->kernel, 1, 1, 1, 1,
                             l->padding) != TDL_STATUS_OK) {
        fprintf(stderr, "bench_kernels: %s\n", tdl_last_error());
        exit(1);
    }
    b.d.activation = TDL_ACTIVATION_RELU;
    b.batch = batch;
    const size_t nx = (size_t)batch * l->in_h * l->in_w * l->in_c;
    const size_t ny = (size_t)batch * b.d.out_h * b.d.out_w * l->filters;
    const size_t nk = (size_t)l->kernel * l->kernel * l->in_c * l->filters;
    b.x = filled(nx);
    b.dx = filled(nx);
    b.kernel = filled(nk);
    b.dkernel = filled(nk);
    b.bias = filled((size_t)l->filters);
    b.y = filled(ny);
    b.dy = filled(ny);
    b.workspace = filled(tdl_conv2d_workspace_size(&b.d, batch));
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
}

int main(int argc, char **argv) {
    const int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    const int batches[] = {32, 128};
    const int batch_count = quick ? 1 : 2;
    const int runs = quick ? 3 : MAX_TIMED_RUNS;

    fma_peak peaks[sizeof thread_counts / sizeof thread_counts[0]];
    printf("FMA peak of this machine (single precision, measured now):\n\n");
    printf("| threads | best ISA | GFLOP/s |\n|---:|---|---:|\n");
    for (size_t ti = 0; ti < sizeof thread_counts / sizeof thread_counts[0]; ++ti) {
        peaks[ti] = fma_peak_measure(thread_counts[ti]);
        printf("| %d | %s | %.1f |\n", thread_counts[ti], peaks[ti].isa, peaks[ti].gflops);
    }
    printf("\nlibxsmm available: %s. GFLOP/s = 2*B*OH*OW*KH*KW*C*F / median time "
           "(the same count for each of the three ops); %% = of the FMA peak above.\n\n",
           tdl_xsmm_available() ? "yes" : "no");

    printf("| layer | B | threads | path | fwd GFLOP/s | fwd %% | bwd-data GFLOP/s | bwd-data %% | "
           "bwd-weights GFLOP/s | bwd-weights %% |\n");
    printf("|---|---:|---:|---|---:|---:|---:|---:|---:|---:|\n");
    const tdl_kernel_path paths[] = {TDL_KERNEL_PATH_AUTO, TDL_KERNEL_PATH_BLAS};
    for (size_t li = 0; li < sizeof layers / sizeof layers[0]; ++li)
        for (int bi = 0; bi < batch_count; ++bi) {
            bench_buffers b = buffers_new(&layers[li], batches[bi]);
            const double flops = 2.0 * (double)b.batch * b.d.out_h * b.d.out_w * b.d.kernel_h * b.d.kernel_w *
                                 (double)b.d.in_c * (double)b.d.out_c;
            for (size_t ti = 0; ti < sizeof thread_counts / sizeof thread_counts[0]; ++ti)
                for (size_t pi = 0; pi < sizeof paths / sizeof paths[0]; ++pi) {
                    if (paths[pi] == TDL_KERNEL_PATH_AUTO && !tdl_xsmm_available()) continue;
                    tdl_set_num_threads(thread_counts[ti]);
                    tdl_set_kernel_path(paths[pi]);
                    double g[3];
                    for (int op = 0; op < 3; ++op) g[op] = 1e-9 * flops / median_seconds(&b, (bench_op)op, runs);
                    const double peak = peaks[ti].gflops;
                    printf("| %s | %d | %d | %s | %.1f | %.0f%% | %.1f | %.0f%% | %.1f | %.0f%% |\n",
                           layers[li].name, b.batch, thread_counts[ti],
                           paths[pi] == TDL_KERNEL_PATH_AUTO ? "libxsmm" : "blas", g[0], 100.0 * g[0] / peak,
                           g[1], 100.0 * g[1] / peak, g[2], 100.0 * g[2] / peak);
                    fflush(stdout);
                }
            buffers_free(&b);
        }
    tdl_set_kernel_path(TDL_KERNEL_PATH_AUTO);
    return 0;
}
