/* The finiteness of a training step's gradients: read, or proved from the
 * factors of a sum of products (finite_gradients.h). */
#include "finite_gradients.h"

#include <float.h>
#include <stdint.h>
#include <string.h>

#include "vector.h"

TDL_VECTOR_CLONES bool finite_max_abs(const float *restrict x, size_t n, float *max_abs) {
    /* With the sign bit cleared, the bit patterns of floats order as their
     * magnitudes do, and those of the infinities and NaNs lie above every
     * finite one: one maximum over integers answers both questions, and
     * vectorises as a plain reduction (a float maximum does not without
     * -ffast-math). 25.6 floats/ns from L1 on the development machine, where
     * sixteen float sums of x - x (NaN for NaN and the infinities) ran at
     * 23.9, so the plain check is this too. */
    uint32_t top = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t bits;
        memcpy(&bits, x + i, sizeof bits);
        bits &= 0x7fffffffu;
        top = bits > top ? bits : top;
    }
    if (top >= 0x7f800000u) return false;
    memcpy(max_abs, &top, sizeof top);
    return true;
}

bool finite_all(const float *x, size_t n) {
    float unused;
    return finite_max_abs(x, n, &unused);
}

/* With u = 2^-24 the unit roundoff, a rounded product is at most
 * max_a * max_b * (1 + u), and a sum of k terms, however grouped, at most k
 * times the largest term times (1 + u)^(k - 1) as long as nothing has
 * overflowed yet; for k up to 2^22 that factor is below e^(1/4) < 2, so
 * 2 * terms * max_a * max_b below FLT_MAX leaves every partial sum finite.
 * max(max_a, 1) covers the sums of b alone. The bound itself is computed
 * in double, whose rounding is far inside that margin. */
bool finite_sums_bounded(float max_a, float max_b, size_t terms) {
    if (terms > ((size_t)1 << 22) || !(max_a <= FLT_MAX) || !(max_b <= FLT_MAX)) return false; /* NaN fails too */
    const double a = max_a > 1.0f ? (double)max_a : 1.0;
    return 2.0 * (double)terms * a * (double)max_b < (double)FLT_MAX;
}

void finite_proofs_add(finite_proofs *proofs, size_t begin, size_t end) {
    if (proofs == NULL || begin >= end) return;
    int at = 0;
    while (at < proofs->count && proofs->end[at] <= begin) ++at;
    if (at < proofs->count && proofs->begin[at] < end) {
        /* Written twice in one step: neither write proves the result. */
        int past = at;
        while (past < proofs->count && proofs->begin[past] < end) ++past;
        memmove(&proofs->begin[at], &proofs->begin[past], (size_t)(proofs->count - past) * sizeof(size_t));
        memmove(&proofs->end[at], &proofs->end[past], (size_t)(proofs->count - past) * sizeof(size_t));
        proofs->count -= past - at;
        return;
    }
    if (proofs->count == FINITE_PROOFS_MAX) return;
    memmove(&proofs->begin[at + 1], &proofs->begin[at], (size_t)(proofs->count - at) * sizeof(size_t));
    memmove(&proofs->end[at + 1], &proofs->end[at], (size_t)(proofs->count - at) * sizeof(size_t));
    proofs->begin[at] = begin;
    proofs->end[at] = end;
    ++proofs->count;
}

bool finite_all_unproven(const finite_proofs *proofs, const float *grads, size_t begin, size_t end) {
    const int count = proofs != NULL ? proofs->count : 0;
    for (int i = 0; i < count && begin < end; ++i) {
        if (proofs->end[i] <= begin) continue;
        if (proofs->begin[i] >= end) break;
        if (proofs->begin[i] > begin && !finite_all(grads + begin, proofs->begin[i] - begin)) return false;
        begin = proofs->end[i];
    }
    return begin >= end || finite_all(grads + begin, end - begin);
}
