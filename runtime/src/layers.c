/* Small layers: add, reductions over axes, one_hot and argmax (dropout: dropout.c). */
#include "tdl/runtime.h"

#include <math.h>

/* ---------------------------------------------------------------------- */
/* add                                                                    */
/* ---------------------------------------------------------------------- */

/* a, b: (n) -> y: (n) */
void tdl_add_forward(float *y, const float *a, const float *b, size_t n) {
    if (y == NULL || a == NULL || b == NULL) {
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        y[i] = a[i] + b[i];
    }
}

/* ---------------------------------------------------------------------- */
/* Reductions                                                             */
/* ---------------------------------------------------------------------- */

/* The axes of x split in two groups, each with its sizes and its strides in x.
 * The output is laid out row-major over the kept axes in their order, so
 * output element j is the j-th step of the kept odometer. */
typedef struct reduce_plan {
    int kept_rank, reduced_rank;
    size_t kept_dims[TDL_MAX_RANK], kept_strides[TDL_MAX_RANK];
    size_t reduced_dims[TDL_MAX_RANK], reduced_strides[TDL_MAX_RANK];
    size_t out_count;    /* elements of y */
    size_t group_count;  /* elements of x reduced into one element of y */
} reduce_plan;

static bool reduce_plan_init(reduce_plan *p, const int *dims, int rank, unsigned axis_mask) {
    if (dims == NULL || rank < 0 || rank > TDL_MAX_RANK) {
        return false;
    }
    *p = (reduce_plan){.out_count = 1, .group_count = 1};
    size_t stride = 1;
    for (int a = rank - 1; a >= 0; --a) {
        if (dims[a] < 0) {
            return false;
        }
        const size_t dim = (size_t)dims[a];
        if (axis_mask & (1u << a)) {
            p->reduced_dims[p->reduced_rank] = dim;
            p->reduced_strides[p->reduced_rank] = stride;
            p->reduced_rank++;
            p->group_count *= dim;
        } else {
            p->kept_dims[p->kept_rank] = dim;
            p->kept_strides[p->kept_rank] = stride;
            p->kept_rank++;
            p->out_count *= dim;
        }
        stride *= dim;
    }
    /* The loop above collected axes innermost first; put them back in order. */
    for (int i = 0, j = p->kept_rank - 1; i < j; ++i, --j) {
        size_t t = p->kept_dims[i];
        p->kept_dims[i] = p->kept_dims[j];
        p->kept_dims[j] = t;
        t = p->kept_strides[i];
        p->kept_strides[i] = p->kept_strides[j];
        p->kept_strides[j] = t;
    }
    for (int i = 0, j = p->reduced_rank - 1; i < j; ++i, --j) {
        size_t t = p->reduced_dims[i];
        p->reduced_dims[i] = p->reduced_dims[j];
        p->reduced_dims[j] = t;
        t = p->reduced_strides[i];
        p->reduced_strides[i] = p->reduced_strides[j];
        p->reduced_strides[j] = t;
    }
    return true;
}

/* Advances a row-major multi-index over dims by one step and returns the new
 * offset in x (the offset wraps back to 0 after the last element). */
static size_t odometer_step(size_t *index, const size_t *dims, const size_t *strides, int rank, size_t offset) {
    for (int a = rank - 1; a >= 0; --a) {
        offset += strides[a];
        if (++index[a] < dims[a]) {
            return offset;
        }
        offset -= strides[a] * dims[a];
        index[a] = 0;
    }
    return offset;
}

/* x: dims[0..rank) -> y: dims without the axes in axis_mask */
void tdl_reduce_forward(float *y, const float *x, const int *dims, int rank, unsigned axis_mask,
                        tdl_reduce_op op) {
    reduce_plan p;
    if (y == NULL || x == NULL || !reduce_plan_init(&p, dims, rank, axis_mask)) {
        return;
    }
    size_t kept_index[TDL_MAX_RANK] = {0};
    size_t base = 0;
    for (size_t j = 0; j < p.out_count; ++j) {
        size_t reduced_index[TDL_MAX_RANK] = {0};
        size_t offset = 0;
        if (op == TDL_REDUCE_MAX) {
            float max = -INFINITY;
            for (size_t g = 0; g < p.group_count; ++g) {
                const float v = x[base + offset];
                if (isnan(v)) {
                    max = v; /* NaN propagates, as in TensorFlow */
                    break;
                }
                if (v > max) {
                    max = v;
                }
                offset = odometer_step(reduced_index, p.reduced_dims, p.reduced_strides, p.reduced_rank, offset);
            }
            y[j] = max;
        } else {
            double sum = 0.0;
            for (size_t g = 0; g < p.group_count; ++g) {
                sum += x[base + offset];
                offset = odometer_step(reduced_index, p.reduced_dims, p.reduced_strides, p.reduced_rank, offset);
            }
            if (op == TDL_REDUCE_MEAN) {
                /* The mean of nothing is NaN, as in TensorFlow. */
                y[j] = p.group_count > 0 ? (float)(sum / (double)p.group_count) : NAN;
            } else {
                y[j] = (float)sum;
            }
        }
        base = odometer_step(kept_index, p.kept_dims, p.kept_strides, p.kept_rank, base);
    }
}

/* dy, y: reduced shape, x: dims -> dx: dims, += */
void tdl_reduce_backward(float *dx, const float *dy, const float *y, const float *x, const int *dims,
                         int rank, unsigned axis_mask, tdl_reduce_op op) {
    reduce_plan p;
    if (dx == NULL || dy == NULL || !reduce_plan_init(&p, dims, rank, axis_mask)) {
        return;
    }
    if (op == TDL_REDUCE_MAX && (y == NULL || x == NULL)) {
        return;
    }
    size_t kept_index[TDL_MAX_RANK] = {0};
    size_t base = 0;
    for (size_t j = 0; j < p.out_count; ++j) {
        size_t reduced_index[TDL_MAX_RANK] = {0};
        size_t offset = 0;
        float share = dy[j];
        if (op == TDL_REDUCE_MEAN) {
            share = p.group_count > 0 ? (float)((double)dy[j] / (double)p.group_count) : 0.0f;
        } else if (op == TDL_REDUCE_MAX) {
            /* First pass: how many elements tie for the maximum. */
            size_t ties = 0;
            for (size_t g = 0; g < p.group_count; ++g) {
                ties += x[base + offset] == y[j];
                offset = odometer_step(reduced_index, p.reduced_dims, p.reduced_strides, p.reduced_rank, offset);
            }
            if (ties == 0) {
                /* y is NaN (or not the saved output): no element owns the gradient. */
                base = odometer_step(kept_index, p.kept_dims, p.kept_strides, p.kept_rank, base);
                continue;
            }
            share = (float)((double)dy[j] / (double)ties);
        }
        for (size_t g = 0; g < p.group_count; ++g) {
            if (op != TDL_REDUCE_MAX || x[base + offset] == y[j]) {
                dx[base + offset] += share;
            }
            offset = odometer_step(reduced_index, p.reduced_dims, p.reduced_strides, p.reduced_rank, offset);
        }
        base = odometer_step(kept_index, p.kept_dims, p.kept_strides, p.kept_rank, base);
    }
}

/* ---------------------------------------------------------------------- */
/* one_hot and argmax                                                     */
/* ---------------------------------------------------------------------- */

/* labels: (n) -> y: (n, depth). Every label is checked before y is written. */
tdl_status tdl_one_hot_forward(float *y, const int32_t *labels, size_t n, int depth) {
    if (y == NULL || labels == NULL || depth <= 0) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "one_hot: %s", depth <= 0 ? "depth must be positive"
                                                                                : "NULL tensor");
    }
    for (size_t i = 0; i < n; ++i) {
        if (labels[i] < 0 || labels[i] >= depth) {
            return tdl_set_error(TDL_STATUS_BAD_LABEL, "one_hot: label %d at position %zu is outside [0, %d)",
                                 (int)labels[i], i, depth);
        }
    }
    const size_t width = (size_t)depth;
    tdl_zero(y, n * width);
    for (size_t i = 0; i < n; ++i) {
        y[i * width + (size_t)labels[i]] = 1.0f;
    }
    return TDL_STATUS_OK;
}

/* values: (n) -> labels: (n) */
tdl_status tdl_labels_from_float(int32_t *labels, const float *values, size_t n) {
    if (labels == NULL || values == NULL) {
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "labels_from_float: NULL tensor");
    }
    for (size_t i = 0; i < n; ++i) {
        /* Compare in double: every int32 is exact there, and NaN fails both tests. */
        const double v = (double)values[i];
        if (!(v > -2147483649.0 && v < 2147483648.0)) {
            return tdl_set_error(TDL_STATUS_BAD_LABEL, "labels: value %g at position %zu is not a class index",
                                 v, i);
        }
    }
    for (size_t i = 0; i < n; ++i) {
        labels[i] = (int32_t)values[i];
    }
    return TDL_STATUS_OK;
}

/* x: (outer, axis_len, inner) -> y: (outer, inner) */
void tdl_argmax_forward(int32_t *y, const float *x, size_t outer, int axis_len, size_t inner) {
    if (y == NULL || x == NULL || axis_len <= 0) {
        return;
    }
    const size_t len = (size_t)axis_len;
    for (size_t o = 0; o < outer; ++o) {
        for (size_t in = 0; in < inner; ++in) {
            const float *column = x + o * len * inner + in;
            size_t best = 0;
            for (size_t a = 1; a < len; ++a) {
                /* Strictly greater: the first of tied maxima wins. */
                if (column[a * inner] > column[best * inner]) {
                    best = a;
                }
            }
            y[o * inner + in] = (int32_t)best;
        }
    }
}
