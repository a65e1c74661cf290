/* Internal to libtdlrt: what a training step's finiteness check reads.
 *
 * A step updates nothing when a gradient is NaN or infinite (model.c), so
 * it reads every gradient once more before the optimizer does. A dense
 * kernel's gradient can be shown finite without reading it: each of its
 * values is a sum of `batch` products x[b][f] * dpre[b][u], and where every
 * factor is finite and no sum of such products can reach FLT_MAX, no value
 * is NaN or infinite. The factors are B * (F + U) floats, just used and in
 * cache; the gradient is F * U floats that the optimizer's stream of
 * parameters, velocities and gradients has since pushed out to L3. The call
 * that wrote a gradient range records the proof (param_split.h), and the
 * check reads only the ranges without one. */
#ifndef TDL_FINITE_GRADIENTS_H
#define TDL_FINITE_GRADIENTS_H

#include <stdbool.h>
#include <stddef.h>

/* Whether none of x (n) is NaN or infinite. */
bool finite_all(const float *x, size_t n);

/* Whether none of x (n) is NaN or infinite; then *max_abs is the largest
 * |x[i]| (0 when n is 0). */
bool finite_max_abs(const float *x, size_t n, float *max_abs);

/* Whether any sum of `terms` products a * b with |a| <= max_a and
 * |b| <= max_b, each product and sum rounded to float, in any order and
 * grouping, stays below FLT_MAX in magnitude; and so does any sum of
 * `terms` values b alone (a bias's gradient). */
bool finite_sums_bounded(float max_a, float max_b, size_t terms);

/* Gradient ranges [begin, end) of one training step (offsets into the
 * model's gradients) that the calls which wrote them proved finite: sorted
 * and disjoint. A range that does not fit is not recorded, and so is
 * checked as any other. */
enum { FINITE_PROOFS_MAX = 32 };

typedef struct finite_proofs {
    int count;
    size_t begin[FINITE_PROOFS_MAX], end[FINITE_PROOFS_MAX];
} finite_proofs;

/* Records [begin, end). A range that overlaps ranges already recorded
 * records nothing and drops them: a range written twice in one step is
 * proved by neither write. */
void finite_proofs_add(finite_proofs *proofs, size_t begin, size_t end);

/* finite_all over grads [begin, end) without the proven ranges (proofs may
 * be NULL: none). */
bool finite_all_unproven(const finite_proofs *proofs, const float *grads, size_t begin, size_t end);

#endif /* TDL_FINITE_GRADIENTS_H */
