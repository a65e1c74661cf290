/* tdl_sgemm for the portable build (../blas.c calls OpenBLAS instead): plain
 * C on one thread, no allocation.
 *
 * C is computed in tiles of GEMM_MR x GEMM_NR held in a local accumulator
 * while a GEMM_KC-long slice of k goes by. The accumulator's fixed size is
 * what lets the compiler keep it in vector registers and unroll the inner
 * loops: each step broadcasts one element of A per row and multiplies it into
 * a whole row of B's tile (GEMM_NR contiguous floats). B's rows are read in
 * place when they are contiguous and the tile is whole; otherwise (B
 * transposed, or the right-hand edge of C) the slice is first copied into a
 * small panel on the stack, zero-padded to GEMM_NR columns. A is read in
 * place in either layout; the rows below the last whole tile (all of them
 * when m < GEMM_MR, as in a dense layer at batch 1) go one at a time. */
#include <stddef.h>

#include "tdl/runtime.h"
#include "vector.h"

/* 4 x 8 accumulators fill 8 SSE or NEON registers, 4 AVX ones; the panel
 * (GEMM_KC x GEMM_NR floats, 2 KiB) stays small enough for a firmware stack. */
enum { GEMM_MR = 4, GEMM_NR = 8, GEMM_KC = 64 };
_Static_assert(GEMM_MR == 4, "tile_product names the four rows of A");

/* Where op(X)'s element (row, col) is: x[row * row_stride + col * col_stride]. */
typedef struct strided {
    const float *data;
    size_t row_stride, col_stride;
} strided;

static strided operand(const float *x, int ld, tdl_transpose trans) {
    strided s = {x, (size_t)ld, 1};
    if (trans == TDL_TRANS) {
        s.row_stride = 1;
        s.col_stride = (size_t)ld;
    }
    return s;
}

/* acc = sum over p < kc of A(rows, p) * B(p, 0..GEMM_NR), B's row p at b + p * b_row. */
TDL_VECTOR_CLONES static void tile_product(float acc[GEMM_MR][GEMM_NR], const float *const rows[GEMM_MR],
                                           size_t a_col, int kc, const float *b, size_t b_row) {
    /* A local tile the compiler keeps in registers (acc might alias A or B
     * as far as it knows), and A's rows as local pointers. */
    float sum[GEMM_MR][GEMM_NR] = {{0.0f}};
    const float *a0 = rows[0], *a1 = rows[1], *a2 = rows[2], *a3 = rows[3];
    for (int p = 0; p < kc; ++p) {
        const float *restrict bp = b + (size_t)p * b_row;
        const size_t at = (size_t)p * a_col;
        const float a[GEMM_MR] = {a0[at], a1[at], a2[at], a3[at]};
        for (int i = 0; i < GEMM_MR; ++i) {
            TDL_VECTOR_ROW
            for (int j = 0; j < GEMM_NR; ++j) sum[i][j] += a[i] * bp[j];
        }
    }
    for (int i = 0; i < GEMM_MR; ++i)
        for (int j = 0; j < GEMM_NR; ++j) acc[i][j] = sum[i][j];
}

/* acc = sum over p < kc of A(row, p) * B(p, 0..GEMM_NR): one row of C's tile. */
TDL_VECTOR_CLONES static void row_product(float acc[GEMM_NR], const float *row, size_t a_col, int kc, const float *b,
                                          size_t b_row) {
    float sum[GEMM_NR] = {0.0f};
    for (int p = 0; p < kc; ++p) {
        const float *restrict bp = b + (size_t)p * b_row;
        const float a = row[(size_t)p * a_col];
        TDL_VECTOR_ROW
        for (int j = 0; j < GEMM_NR; ++j) sum[j] += a * bp[j];
    }
    for (int j = 0; j < GEMM_NR; ++j) acc[j] = sum[j];
}

/* panel (kc x GEMM_NR) = B(p0.., j0..j0+nr), zero beyond nr. */
static void pack_panel(float panel[GEMM_KC * GEMM_NR], strided b, int p0, int kc, int j0, int nr) {
    for (int p = 0; p < kc; ++p)
        for (int j = 0; j < GEMM_NR; ++j)
            panel[p * GEMM_NR + j] =
                j < nr ? b.data[(size_t)(p0 + p) * b.row_stride + (size_t)(j0 + j) * b.col_stride] : 0.0f;
}

/* C tile (mr x nr) = alpha * acc + beta * C; beta == 0 never reads C. */
static void store_tile(float *c, int ldc, float acc[GEMM_MR][GEMM_NR], int mr, int nr, float alpha,
                       float beta) {
    for (int i = 0; i < mr; ++i) {
        float *row = c + (size_t)i * (size_t)ldc;
        for (int j = 0; j < nr; ++j) row[j] = alpha * acc[i][j] + (beta == 0.0f ? 0.0f : beta * row[j]);
    }
}

/* C = beta * C, the whole product when k is 0. */
static void scale_c(float *c, int ldc, int m, int n, float beta) {
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            float *cij = &c[(size_t)i * (size_t)ldc + (size_t)j];
            *cij = beta == 0.0f ? 0.0f : beta * *cij;
        }
}

/* Row-major C(m×n) = alpha * op(A)(m×k) * op(B)(k×n) + beta * C. */
void tdl_sgemm(tdl_transpose trans_a, tdl_transpose trans_b, int m, int n, int k, float alpha, const float *a,
               int lda, const float *b, int ldb, float beta, float *c, int ldc) {
    if (m <= 0 || n <= 0) return;
    if (k <= 0) {
        scale_c(c, ldc, m, n, beta);
        return;
    }
    const strided sa = operand(a, lda, trans_a), sb = operand(b, ldb, trans_b);
    float panel[GEMM_KC * GEMM_NR];
    float acc[GEMM_MR][GEMM_NR];
    for (int j0 = 0; j0 < n; j0 += GEMM_NR) {
        const int nr = n - j0 < GEMM_NR ? n - j0 : GEMM_NR;
        for (int p0 = 0; p0 < k; p0 += GEMM_KC) {
            const int kc = k - p0 < GEMM_KC ? k - p0 : GEMM_KC;
            /* B's tile in place when its rows are whole and contiguous. */
            const float *bt = sb.data + (size_t)p0 * sb.row_stride + (size_t)j0;
            size_t bt_row = sb.row_stride;
            if (sb.col_stride != 1 || nr < GEMM_NR) {
                pack_panel(panel, sb, p0, kc, j0, nr);
                bt = panel;
                bt_row = GEMM_NR;
            }
            /* The first slice of k applies beta; the later ones add to C. */
            const float slice_beta = p0 == 0 ? beta : 1.0f;
            const float *a_slice = sa.data + (size_t)p0 * sa.col_stride;
            int i0 = 0;
            for (; i0 + GEMM_MR <= m; i0 += GEMM_MR) {
                const float *rows[GEMM_MR];
                for (int i = 0; i < GEMM_MR; ++i) rows[i] = a_slice + (size_t)(i0 + i) * sa.row_stride;
                tile_product(acc, rows, sa.col_stride, kc, bt, bt_row);
                store_tile(c + (size_t)i0 * (size_t)ldc + (size_t)j0, ldc, acc, GEMM_MR, nr, alpha, slice_beta);
            }
            for (; i0 < m; ++i0) {
                row_product(acc[0], a_slice + (size_t)i0 * sa.row_stride, sa.col_stride, kc, bt, bt_row);
                store_tile(c + (size_t)i0 * (size_t)ldc + (size_t)j0, ldc, acc, 1, nr, alpha, slice_beta);
            }
        }
    }
}
