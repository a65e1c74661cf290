/* Ops that combine several tensors into one: concat, subtract and multiply. */
#include <string.h>

#include "tdl/runtime.h"

/* ---------------------------------------------------------------------- */
/* concat                                                                 */
/* ---------------------------------------------------------------------- */

/* Sum of lens[0..count), the length of the output's axis. */
static size_t concat_total(const int *lens, int count) {
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += (size_t)lens[i];
    return total;
}

/* inputs[i]: (outer, lens[i], inner) -> y: (outer, sum(lens), inner)
 * In row-major order the piece of one input under one outer index is a single
 * run of lens[i] * inner floats, so every piece is one memcpy. */
void tdl_concat_forward(float *y, const float *const *inputs, const int *lens, int count,
                        size_t outer, size_t inner) {
    if (y == NULL || inputs == NULL || lens == NULL || count <= 0) {
        return;
    }
    const size_t row = concat_total(lens, count) * inner;
    size_t offset = 0;
    for (int i = 0; i < count; ++i) {
        const size_t run = (size_t)lens[i] * inner;
        if (inputs[i] != NULL && run > 0) {
            for (size_t o = 0; o < outer; ++o) {
                memcpy(y + o * row + offset, inputs[i] + o * run, run * sizeof *y);
            }
        }
        offset += run;
    }
}

/* dy: (outer, sum(lens), inner) -> dinputs[i]: (outer, lens[i], inner) += its slice of dy */
void tdl_concat_backward(float *const *dinputs, const float *dy, const int *lens, int count,
                         size_t outer, size_t inner) {
    if (dinputs == NULL || dy == NULL || lens == NULL || count <= 0) {
        return;
    }
    const size_t row = concat_total(lens, count) * inner;
    size_t offset = 0;
    for (int i = 0; i < count; ++i) {
        const size_t run = (size_t)lens[i] * inner;
        float *dx = dinputs[i];
        if (dx != NULL) {
            for (size_t o = 0; o < outer; ++o) {
                tdl_accumulate(dx + o * run, dy + o * row + offset, run);
            }
        }
        offset += run;
    }
}

/* ---------------------------------------------------------------------- */
/* subtract                                                               */
/* ---------------------------------------------------------------------- */

/* a, b: (n) -> y: (n) = a - b; y may alias either input, as for multiply. */
void tdl_subtract_forward(float *y, const float *a, const float *b, size_t n) {
    if (y == NULL || a == NULL || b == NULL) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        y[i] = a[i] - b[i];
    }
}

/* dy: (n) -> da += dy, db -= dy. Two loops, so that da == db (y = x - x)
 * gets 0 in total. */
void tdl_subtract_backward(float *da, float *db, const float *dy, size_t n) {
    if (dy == NULL) {
        return;
    }
    if (da != NULL) {
        tdl_accumulate(da, dy, n);
    }
    if (db != NULL) {
        for (size_t i = 0; i < n; ++i) {
            db[i] -= dy[i];
        }
    }
}

/* ---------------------------------------------------------------------- */
/* multiply                                                               */
/* ---------------------------------------------------------------------- */

/* a, b: (n) -> y: (n) = a * b. Each y[i] depends on a[i] and b[i] only, so y
 * may alias either input. */
void tdl_multiply_forward(float *y, const float *a, const float *b, size_t n) {
    if (y == NULL || a == NULL || b == NULL) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        y[i] = a[i] * b[i];
    }
}

/* dy, a, b: (n) -> da += dy * b, db += dy * a.
 * Two separate loops: when da == db (y = x * x) the second adds onto what the
 * first wrote, giving 2 * dy * x, and neither loop reads what it writes. */
void tdl_multiply_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                           size_t n) {
    if (dy == NULL || a == NULL || b == NULL) {
        return;
    }
    if (da != NULL) {
        for (size_t i = 0; i < n; ++i) {
            da[i] += dy[i] * b[i];
        }
    }
    if (db != NULL) {
        for (size_t i = 0; i < n; ++i) {
            db[i] += dy[i] * a[i];
        }
    }
}
