/* The runtime's only contact with BLAS: a row-major sgemm, run on one BLAS
 * thread per team thread. */
#include <cblas.h>
#include <stdbool.h>

#include "team.h"
#include "tdl/runtime.h"

/* One sgemm on the calling thread. */
static void sgemm_serial(tdl_transpose trans_a, tdl_transpose trans_b, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        /* BLAS would do this too, but some builds reject k == 0 with lda == 0. */
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) {
                float *cij = &c[(size_t)i * (size_t)ldc + (size_t)j];
                *cij = beta == 0.0f ? 0.0f : beta * *cij;
            }
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a == TDL_TRANS ? CblasTrans : CblasNoTrans,
                trans_b == TDL_TRANS ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda, b, ldb,
                beta, c, ldc);
}

/* Below this many flops per thread (about 0.1 ms), waking another thread
 * costs about as much as it saves. */
#define SGEMM_MIN_THREAD_FLOPS 16.0e6

typedef struct sgemm_job {
    tdl_transpose trans_a, trans_b;
    int m, n, k, lda, ldb, ldc;
    float alpha, beta;
    const float *a, *b;
    float *c;
    bool split_rows; /* split C's rows (m), else its columns (n) */
} sgemm_job;

/* One thread's block of C: a range of rows or of columns, so each element is
 * computed by exactly one thread, in the same order whatever the thread count. */
static void sgemm_share(void *context, int t, int threads) {
    const sgemm_job *j = context;
    size_t begin, end;
    if (j->split_rows) {
        tdl_team_share((size_t)j->m, t, threads, &begin, &end);
        /* Row i of op(A) starts at row i of A, or at column i when A is transposed. */
        const float *a = j->a + (j->trans_a == TDL_TRANS ? begin : begin * (size_t)j->lda);
        sgemm_serial(j->trans_a, j->trans_b, (int)(end - begin), j->n, j->k, j->alpha, a, j->lda, j->b, j->ldb,
                     j->beta, j->c + begin * (size_t)j->ldc, j->ldc);
    } else {
        tdl_team_share((size_t)j->n, t, threads, &begin, &end);
        const float *b = j->b + (j->trans_b == TDL_TRANS ? begin * (size_t)j->ldb : begin);
        sgemm_serial(j->trans_a, j->trans_b, j->m, (int)(end - begin), j->k, j->alpha, j->a, j->lda, b, j->ldb,
                     j->beta, j->c + begin, j->ldc);
    }
}

/* Row-major C(m×n) = alpha * op(A)(m×k) * op(B)(k×n) + beta * C, split over
 * the team when called from outside it and large enough. */
void tdl_sgemm(tdl_transpose trans_a, tdl_transpose trans_b, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    const double flops = 2.0 * (double)m * (double)n * (double)(k > 0 ? k : 1);
    int threads = tdl_team_threads_for(flops, SGEMM_MIN_THREAD_FLOPS);
    const int longer = m >= n ? m : n;
    if (threads > longer) threads = longer;
    if (threads <= 1 || k <= 0) {
        sgemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    sgemm_job job = {trans_a, trans_b, m, n, k, lda, ldb, ldc, alpha, beta, a, b, c, m >= n};
    tdl_team_run(threads, sgemm_share, &job);
}

/* See team.c: BLAS runs inside the runtime's own thread team. */
void tdl_blas_use_one_thread(void) { openblas_set_num_threads(1); }
