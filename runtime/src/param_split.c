/* param_split_run: a model's parameters over the team as its dense kernels
 * own them in a training step (owned_rows.h); param_split_reversed: which
 * of those kernels give their shares in reverse thread order. */
#include "param_split.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owned_rows.h"

/* A dense layer's kernel: the rank-2 tensors, (in_features x units). */
static bool owned_kernel(const tdl_param_info *p, int team_threads, size_t *rows, size_t *cols, int *threads) {
    if (p->rank != 2 || p->shape[0] <= 0 || p->shape[1] <= 0) return false;
    *rows = (size_t)p->shape[0];
    *cols = (size_t)p->shape[1];
    if (*rows > p->count / *cols || *rows * *cols != p->count) return false;
    *threads = owned_row_threads(*rows, *cols, team_threads);
    return *threads > 1;
}

/* Whether the tensors lie end to end over [0, param_floats): only then does
 * a split by tensors cover every float once. */
static bool tensors_tile_parameters(const tdl_model_info *info) {
    size_t next = 0;
    for (int i = 0; i < info->param_tensors; i++) {
        if (info->params[i].offset != next) return false;
        next += info->params[i].count;
    }
    return next == info->layout.param_floats;
}

/* owned_rows.h's alternation: the kernel split by rows that `before` others
 * precede, in parameter order, gives its shares in reverse thread order
 * when `before` is odd. Both param_split_run and param_split_reversed ask
 * here, so the optimizer and the dense passes split a kernel alike. */
static bool reversed_after(int before) { return before % 2 == 1; }

typedef struct split_job {
    const tdl_model_info *info;
    int team_threads, flat_threads;
    tdl_team_items_fn range;
    void *context;
} split_job;

static void split_share(void *context, int t, int threads) {
    (void)threads;
    const split_job *j = context;
    int split_kernels = 0;
    for (int i = 0; i < j->info->param_tensors; i++) {
        const tdl_param_info *p = &j->info->params[i];
        size_t rows, cols, begin, end;
        int owners;
        if (owned_kernel(p, j->team_threads, &rows, &cols, &owners)) {
            const bool reversed = reversed_after(split_kernels++);
            if (t >= owners) continue;
            owned_rows(rows, t, owners, reversed, &begin, &end);
            if (begin == end) continue;
            j->range(j->context, p->offset + begin * cols, p->offset + end * cols);
        } else if (t < j->flat_threads) {
            tdl_team_share(p->count, t, j->flat_threads, &begin, &end);
            if (begin < end) j->range(j->context, p->offset + begin, p->offset + end);
        }
    }
}

void param_split_run(const tdl_model_info *info, double min_flat_floats_per_thread, tdl_team_items_fn range,
                     void *context) {
    const size_t n = info->layout.param_floats;
    if (n == 0) return;
    if (!tensors_tile_parameters(info)) {
        tdl_team_split(n, 1.0, min_flat_floats_per_thread, range, context);
        return;
    }
    const int team_threads = tdl_team_threads();
    int threads = 1;
    size_t flat = 0;
    for (int i = 0; i < info->param_tensors; i++) {
        size_t rows, cols;
        int owners;
        if (owned_kernel(&info->params[i], team_threads, &rows, &cols, &owners)) {
            if (owners > threads) threads = owners;
        } else {
            flat += info->params[i].count;
        }
    }
    const int flat_threads = tdl_team_threads_for((double)flat, min_flat_floats_per_thread);
    if (flat_threads > threads) threads = flat_threads;
    if (threads <= 1) {
        range(context, 0, n);
        return;
    }
    split_job job = {info, team_threads, flat_threads, range, context};
    tdl_team_run(threads, split_share, &job);
}

/* Whether `tensor` lies in the `count` floats from `base`, and where. The
 * addresses are compared as integers: `tensor` may point into another
 * object altogether. */
static bool offset_in(const float *tensor, const float *base, size_t count, size_t *offset) {
    if (base == NULL) return false;
    const uintptr_t at = (uintptr_t)tensor, from = (uintptr_t)base;
    if (at < from || (at - from) % sizeof(float) != 0 || (at - from) / sizeof(float) >= count) return false;
    *offset = (at - from) / sizeof(float);
    return true;
}

bool param_split_reversed(const float *tensor) {
    const param_split_step *step = tdl_team_step_model();
    if (step == NULL || step->info == NULL || tensor == NULL || !tensors_tile_parameters(step->info)) return false;
    const tdl_model_info *info = step->info;
    size_t offset;
    if (!offset_in(tensor, step->params, info->layout.param_floats, &offset) &&
        !offset_in(tensor, step->grads, info->layout.param_floats, &offset)) {
        return false;
    }
    const int team_threads = tdl_team_threads();
    int split_kernels = 0;
    for (int i = 0; i < info->param_tensors; i++) {
        size_t rows, cols;
        int owners;
        if (!owned_kernel(&info->params[i], team_threads, &rows, &cols, &owners)) continue;
        if (info->params[i].offset == offset) return reversed_after(split_kernels);
        split_kernels++;
    }
    return false;
}

bool param_split_takes_proofs(void) {
    const param_split_step *step = tdl_team_step_model();
    return step != NULL && step->proofs != NULL && step->info != NULL;
}

void param_split_prove_finite(const float *gradient, size_t count) {
    const param_split_step *step = tdl_team_step_model();
    if (step == NULL || step->proofs == NULL || step->info == NULL || gradient == NULL) return;
    const size_t floats = step->info->layout.param_floats;
    size_t offset;
    if (!offset_in(gradient, step->grads, floats, &offset) || count > floats - offset) return;
    finite_proofs_add(step->proofs, offset, offset + count);
}
