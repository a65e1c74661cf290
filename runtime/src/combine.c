/* Ops that combine several tensors into one: concat, subtract and multiply.
 * Each splits independent rows or elements over the team (tdl_team_split). */
#include <string.h>

#include "tdl/runtime.h"
#include "team.h"

/* ---------------------------------------------------------------------- */
/* concat                                                                 */
/* ---------------------------------------------------------------------- */

/* Sum of lens[0..count), the length of the output's axis. */
static size_t concat_total(const int *lens, int count) {
    size_t total = 0;
    for (int i = 0; i < count; ++i) total += (size_t)lens[i];
    return total;
}

/* One concat call, for the shares of the team: outer indices [begin, end). */
typedef struct concat_job {
    float *y;
    const float *dy;
    const float *const *inputs;
    float *const *dinputs;
    const int *lens;
    int count;
    size_t inner, row;      /* row: sum(lens) * inner */
} concat_job;

static void concat_forward_rows(void *context, size_t begin, size_t end) {
    const concat_job *j = context;
    for (size_t o = begin; o < end; ++o) {
        size_t offset = 0;
        for (int i = 0; i < j->count; ++i) {
            const size_t run = (size_t)j->lens[i] * j->inner;
            if (j->inputs[i] != NULL && run > 0)
                memcpy(j->y + o * j->row + offset, j->inputs[i] + o * run, run * sizeof *j->y);
            offset += run;
        }
    }
}

/* inputs[i]: (outer, lens[i], inner) -> y: (outer, sum(lens), inner)
 * In row-major order the piece of one input under one outer index is a single
 * run of lens[i] * inner floats, so every piece is one memcpy; the outer
 * indices are split over the team. */
void tdl_concat_forward(float *y, const float *const *inputs, const int *lens, int count,
                        size_t outer, size_t inner) {
    if (y == NULL || inputs == NULL || lens == NULL || count <= 0) {
        return;
    }
    concat_job j = {y, NULL, inputs, NULL, lens, count, inner, concat_total(lens, count) * inner};
    tdl_team_split(outer, (double)j.row, TDL_TEAM_MIN_THREAD_FLOATS, concat_forward_rows, &j);
}

static void concat_backward_rows(void *context, size_t begin, size_t end) {
    const concat_job *j = context;
    for (size_t o = begin; o < end; ++o) {
        size_t offset = 0;
        for (int i = 0; i < j->count; ++i) {
            const size_t run = (size_t)j->lens[i] * j->inner;
            if (j->dinputs[i] != NULL) tdl_accumulate(j->dinputs[i] + o * run, j->dy + o * j->row + offset, run);
            offset += run;
        }
    }
}

/* dy: (outer, sum(lens), inner) -> dinputs[i]: (outer, lens[i], inner) += its slice of dy */
void tdl_concat_backward(float *const *dinputs, const float *dy, const int *lens, int count,
                         size_t outer, size_t inner) {
    if (dinputs == NULL || dy == NULL || lens == NULL || count <= 0) {
        return;
    }
    concat_job j = {NULL, dy, NULL, dinputs, lens, count, inner, concat_total(lens, count) * inner};
    tdl_team_split(outer, 2.0 * (double)j.row, TDL_TEAM_MIN_THREAD_FLOATS, concat_backward_rows, &j);
}

/* ---------------------------------------------------------------------- */
/* subtract and multiply: elements split over the team                   */
/* ---------------------------------------------------------------------- */

/* One elementwise call. The loops copy the fields to locals: a float store
 * could otherwise alias the struct, and the loops would not vectorise. */
typedef struct pair_job {
    float *y, *da, *db;
    const float *a, *b, *dy;
} pair_job;

static void subtract_elements(void *context, size_t begin, size_t end) {
    const pair_job *j = context;
    float *y = j->y;
    const float *a = j->a, *b = j->b;
    for (size_t i = begin; i < end; ++i) {
        y[i] = a[i] - b[i];
    }
}

/* a, b: (n) -> y: (n) = a - b; y may alias either input, as for multiply. */
void tdl_subtract_forward(float *y, const float *a, const float *b, size_t n) {
    if (y == NULL || a == NULL || b == NULL) {
        return;
    }
    pair_job j = {y, NULL, NULL, a, b, NULL};
    tdl_team_split(n, 3.0, TDL_TEAM_MIN_THREAD_FLOATS, subtract_elements, &j);
}

/* Two loops over the share, so that da == db (y = x - x) gets 0 in total. */
static void subtract_gradient_elements(void *context, size_t begin, size_t end) {
    const pair_job *j = context;
    float *da = j->da, *db = j->db;
    const float *dy = j->dy;
    if (da != NULL) {
        tdl_accumulate(da + begin, dy + begin, end - begin);
    }
    if (db != NULL) {
        for (size_t i = begin; i < end; ++i) {
            db[i] -= dy[i];
        }
    }
}

/* dy: (n) -> da += dy, db -= dy. */
void tdl_subtract_backward(float *da, float *db, const float *dy, size_t n) {
    if (dy == NULL) {
        return;
    }
    pair_job j = {NULL, da, db, NULL, NULL, dy};
    tdl_team_split(n, 6.0, TDL_TEAM_MIN_THREAD_FLOATS, subtract_gradient_elements, &j);
}

static void multiply_elements(void *context, size_t begin, size_t end) {
    const pair_job *j = context;
    float *y = j->y;
    const float *a = j->a, *b = j->b;
    for (size_t i = begin; i < end; ++i) {
        y[i] = a[i] * b[i];
    }
}

/* a, b: (n) -> y: (n) = a * b. Each y[i] depends on a[i] and b[i] only, so y
 * may alias either input. */
void tdl_multiply_forward(float *y, const float *a, const float *b, size_t n) {
    if (y == NULL || a == NULL || b == NULL) {
        return;
    }
    pair_job j = {y, NULL, NULL, a, b, NULL};
    tdl_team_split(n, 3.0, TDL_TEAM_MIN_THREAD_FLOATS, multiply_elements, &j);
}

/* Two separate loops over the share: when da == db (y = x * x) the second
 * adds onto what the first wrote, giving 2 * dy * x, and neither loop reads
 * what it writes. */
static void multiply_gradient_elements(void *context, size_t begin, size_t end) {
    const pair_job *j = context;
    float *da = j->da, *db = j->db;
    const float *dy = j->dy, *a = j->a, *b = j->b;
    if (da != NULL) {
        for (size_t i = begin; i < end; ++i) {
            da[i] += dy[i] * b[i];
        }
    }
    if (db != NULL) {
        for (size_t i = begin; i < end; ++i) {
            db[i] += dy[i] * a[i];
        }
    }
}

/* dy, a, b: (n) -> da += dy * b, db += dy * a. */
void tdl_multiply_backward(float *da, float *db, const float *dy, const float *a, const float *b,
                           size_t n) {
    if (dy == NULL || a == NULL || b == NULL) {
        return;
    }
    pair_job j = {NULL, da, db, a, b, dy};
    tdl_team_split(n, 8.0, TDL_TEAM_MIN_THREAD_FLOATS, multiply_gradient_elements, &j);
}
