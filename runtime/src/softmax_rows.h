/* Internal to libtdlrt: the exponentials of the softmax cross-entropies
 * (loss.c), in double and in vector registers.
 *
 * The losses work in double so that they stay accurate and finite for
 * logits of any size. libm's exp is a function call per element: a
 * training step's loss over 128 rows of 10 logits took 16 us forward and
 * 23 backward on this project's reference machine, more than the logits'
 * dense layer. Here a row's values, minus its maximum, go through an
 * exponential that GCC vectorises (softmax_exp_in_place), a few rows at a
 * time so that a row of 10 classes does not leave most of a vector empty.
 * The rows' sums run in class order, as before, and the exponential is
 * within a few units in the last place of libm's, so the losses and
 * gradients, rounded to float, are libm's but for the rare value that sits
 * on a rounding boundary. */
#ifndef TDL_SOFTMAX_ROWS_H
#define TDL_SOFTMAX_ROWS_H

#include <stddef.h>

/* SOFTMAX_ROWS_MAX: rows per call below. SOFTMAX_BUFFER: doubles of
 * scratch (1 KiB on the stack: the portable runtime runs on
 * microcontrollers), which bounds rows * classes per call of
 * softmax_rows_probabilities; 12 rows of 10 classes fill 15 AVX-512
 * vectors. */
enum { SOFTMAX_ROWS_MAX = 16, SOFTMAX_BUFFER = 128 };

/* v[i] = e^v[i] for i < n, for v[i] <= 0 (each row minus its maximum), NaN
 * or -infinity. Below -708 (where e^x leaves double's normal range) the
 * result is 0; NaN stays NaN. Within 6e-16 of e^x, relative (a few units in
 * the last place). */
void softmax_exp_in_place(double *v, size_t n);

/* How many rows of `classes` logits to take at a time: as many as fit the
 * scratch whole (at most SOFTMAX_ROWS_MAX), and 1 for wider rows. */
size_t softmax_block_rows(size_t classes);

/* lse[r] = log(sum_c e^logits[r][c]) for r < rows <= SOFTMAX_ROWS_MAX, the
 * logits (rows x classes) row-major, any number of classes. Computed
 * around each row's maximum, so it is finite for any finite logits; a NaN
 * in a row, or +infinity, makes its lse NaN. */
void softmax_rows_lse(double *lse, const float *logits, size_t rows, size_t classes);

/* p (rows x classes) = the softmax of each row, for rows * classes <=
 * SOFTMAX_BUFFER: e^(x - max) / its row's sum, one exponential a logit;
 * and, unless lse is NULL, each row's lse as softmax_rows_lse's. */
void softmax_rows_probabilities(double *p, double *lse, const float *logits, size_t rows, size_t classes);

/* p[j] = e^(row[first + j] - lse) for j < count <= SOFTMAX_BUFFER: a piece
 * of the softmax of a row too wide for softmax_rows_probabilities, given
 * its lse (softmax_rows_lse). */
void softmax_row_piece(double *p, const float *row, double lse, size_t first, size_t count);

#endif /* TDL_SOFTMAX_ROWS_H */
