/* The runtime's only contact with BLAS: a row-major sgemm and the thread count. */
#include <cblas.h>

#include "tdl/runtime.h"

/* Row-major C(m×n) = alpha * op(A)(m×k) * op(B)(k×n) + beta * C. */
void tdl_sgemm(tdl_transpose trans_a, tdl_transpose trans_b, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb,
               float beta, float *c, int ldc) {
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

void tdl_set_num_threads(int threads) {
    openblas_set_num_threads(threads < 1 ? 1 : threads);
}

int tdl_get_num_threads(void) { return openblas_get_num_threads(); }
