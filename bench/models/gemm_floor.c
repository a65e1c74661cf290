/* Times the model's GEMMs back to back on buffers of the right sizes. */
#include "gemm_floor.h"

#include <stdio.h>
#include <stdlib.h>

#include "tdl/runtime.h"

typedef struct floor_work {
    const gemm_shape *layers;
    int count, batch;
    gemm_floor_mode mode;
    float *a, *b, *c, *da, *db; /* each large enough for the largest layer */
} floor_work;

/* All products of one forward (and backward) pass. */
static void floor_pass(void *ctx) {
    const floor_work *w = ctx;
    for (int i = 0; i < w->count; ++i) {
        const int m = w->batch * w->layers[i].rows_per_example, n = w->layers[i].n, k = w->layers[i].k;
        /* C(M,N) = A(M,K) B(K,N) */
        tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, m, n, k, 1.0f, w->a, k, w->b, n, 0.0f, w->c, n);
        if (w->mode != GEMM_FLOOR_TRAIN) continue;
        /* dB(K,N) += A^T(K,M) dC(M,N) */
        tdl_sgemm(TDL_TRANS, TDL_NO_TRANS, k, n, m, 1.0f, w->a, k, w->c, n, 1.0f, w->db, n);
        /* dA(M,K) = dC(M,N) B^T(N,K) */
        if (i > 0) tdl_sgemm(TDL_NO_TRANS, TDL_TRANS, m, k, n, 1.0f, w->c, n, w->b, n, 0.0f, w->da, k);
    }
}

static float *small_values(size_t n) {
    float *v = malloc((n > 0 ? n : 1) * sizeof *v);
    if (v == NULL) {
        fprintf(stderr, "bench_models: out of memory for the GEMM floor\n");
        exit(1);
    }
    for (size_t i = 0; i < n; ++i) v[i] = (float)((i * 2654435761u) % 1000) / 1000.0f - 0.5f;
    return v;
}

double gemm_floor_ms(const gemm_shape *layers, int count, int batch, gemm_floor_mode mode,
                     const timing_plan *plan) {
    size_t most_a = 0, most_b = 0, most_c = 0;
    for (int i = 0; i < count; ++i) {
        const size_t m = (size_t)batch * (size_t)layers[i].rows_per_example;
        const size_t n = (size_t)layers[i].n, k = (size_t)layers[i].k;
        if (m * k > most_a) most_a = m * k;
        if (k * n > most_b) most_b = k * n;
        if (m * n > most_c) most_c = m * n;
    }
    floor_work w = {layers, count, batch, mode, small_values(most_a), small_values(most_b),
                    small_values(most_c), small_values(most_a), small_values(most_b)};
    const double ms = timing_median_ms(plan, floor_pass, &w);
    free(w.a);
    free(w.b);
    free(w.c);
    free(w.da);
    free(w.db);
    return ms;
}
