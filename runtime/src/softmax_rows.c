/* The softmax cross-entropies' exponentials in double, a few rows at a time
 * (softmax_rows.h). */
#include "softmax_rows.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#include "vector.h"

/* e^x = 2^n e^r with n = round(x / ln 2) and r = x - n ln 2, |r| <= ln 2 / 2.
 * n ln 2 is taken off in two parts (Cody and Waite): LN2_HI has its low
 * mantissa bits zero, so n * LN2_HI is exact for |n| < 2^11, and LN2_LO is
 * the rest of ln 2. Adding ROUNDER (1.5 * 2^52) rounds x / ln 2 to an
 * integer in the low bits of the sum, from which 2^n is built without a
 * conversion (a NaN or infinite x would make one undefined). */
#define LOG2E 1.4426950408889634074
#define ROUNDER 0x1.8p52
#define LN2_HI 0x1.62e42fee00000p-1
#define LN2_LO 0x1.a39ef35793c76p-33
/* Below this, 2^n leaves double's normal range; e^x is then under 2.2e-308,
 * nothing next to a softmax row's sum of at least 1, and 0 as a float. */
#define EXP_UNDERFLOW (-708.0)

/* e^r for |r| <= 0.35: the Taylor series to r^12 / 12!, whose remainder is
 * below 3e-16 of the result. */
static inline double exp_reduced(double r) {
    double p = 1.0 / 479001600.0;
    p = p * r + 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    return p * r + 1.0;
}

TDL_VECTOR_CLONES void softmax_exp_in_place(double *restrict v, size_t n) {
    for (size_t i = 0; i < n; ++i) {
        const double x = v[i];
        const double rounded = x * LOG2E + ROUNDER;
        const double k = rounded - ROUNDER;
        const double r = (x - k * LN2_HI) - k * LN2_LO;
        uint64_t bits;
        memcpy(&bits, &rounded, sizeof bits);
        const uint64_t scale_bits = (bits + 1023u) << 52;
        double scale;
        memcpy(&scale, &scale_bits, sizeof scale);
        v[i] = x < EXP_UNDERFLOW ? 0.0 : exp_reduced(r) * scale;
    }
}

size_t softmax_block_rows(size_t classes) {
    if (classes == 0 || classes > SOFTMAX_BUFFER) {
        return 1;
    }
    const size_t rows = SOFTMAX_BUFFER / classes;
    return rows < SOFTMAX_ROWS_MAX ? rows : SOFTMAX_ROWS_MAX;
}

/* max[r]: row r's largest logit, as the losses always took it: a NaN after
 * the first class is passed over here and shows up in the row's sum. A
 * select in a register, not a branch: random logits mispredict it. */
static void rows_max(double *max, const float *logits, size_t rows, size_t classes) {
    for (size_t r = 0; r < rows; ++r) {
        const float *row = logits + r * classes;
        double m = row[0];
        for (size_t c = 1; c < classes; ++c) {
            m = row[c] > m ? (double)row[c] : m;
        }
        max[r] = m;
    }
}

/* v[r * count + j] = e^(logits[r][first + j] - shift[r]) for r < rows,
 * j < count, and each row's values added to sum[r] in class order. */
static void exp_pieces(double *restrict v, double *restrict sum, const float *restrict logits,
                       const double *restrict shift, size_t rows, size_t classes, size_t first, size_t count) {
    for (size_t r = 0; r < rows; ++r) {
        const float *row = logits + r * classes + first;
        double *out = v + r * count;
        for (size_t j = 0; j < count; ++j) {
            out[j] = (double)row[j] - shift[r];
        }
    }
    softmax_exp_in_place(v, rows * count);
    for (size_t r = 0; r < rows; ++r) {
        for (size_t j = 0; j < count; ++j) {
            sum[r] += v[r * count + j];
        }
    }
}

void softmax_rows_lse(double *lse, const float *logits, size_t rows, size_t classes) {
    if (rows == 0) {
        return;
    }
    double max[SOFTMAX_ROWS_MAX] = {0.0}, sum[SOFTMAX_ROWS_MAX] = {0.0}, v[SOFTMAX_BUFFER];
    rows_max(max, logits, rows, classes);
    /* Whole rows when they fit, else the same piece of every row in turn. */
    const size_t piece = SOFTMAX_BUFFER / rows;
    for (size_t first = 0; first < classes; first += piece) {
        const size_t count = classes - first < piece ? classes - first : piece;
        exp_pieces(v, sum, logits, max, rows, classes, first, count);
    }
    for (size_t r = 0; r < rows; ++r) {
        lse[r] = max[r] + log(sum[r]);
    }
}

void softmax_rows_probabilities(double *p, double *lse, const float *logits, size_t rows, size_t classes) {
    double max[SOFTMAX_ROWS_MAX] = {0.0}, sum[SOFTMAX_ROWS_MAX] = {0.0};
    rows_max(max, logits, rows, classes);
    exp_pieces(p, sum, logits, max, rows, classes, 0, classes);
    for (size_t r = 0; r < rows; ++r) {
        for (size_t c = 0; c < classes; ++c) {
            p[r * classes + c] /= sum[r];
        }
        if (lse != NULL) {
            lse[r] = max[r] + log(sum[r]);
        }
    }
}

void softmax_row_piece(double *p, const float *row, double lse, size_t first, size_t count) {
    double unused = 0.0;
    /* One row: the row stride (0 here) is never used. */
    exp_pieces(p, &unused, row, &lse, 1, 0, first, count);
}
