/* param_split_run: a model's parameters over the team as its dense kernels
 * own them in a training step (owned_rows.h). */
#include "param_split.h"

#include <stdbool.h>
#include <stddef.h>

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

typedef struct split_job {
    const tdl_model_info *info;
    int team_threads, flat_threads;
    tdl_team_items_fn range;
    void *context;
} split_job;

static void split_share(void *context, int t, int threads) {
    (void)threads;
    const split_job *j = context;
    for (int i = 0; i < j->info->param_tensors; i++) {
        const tdl_param_info *p = &j->info->params[i];
        size_t rows, cols, begin, end;
        int owners;
        if (owned_kernel(p, j->team_threads, &rows, &cols, &owners)) {
            if (t >= owners) continue;
            owned_rows(rows, t, owners, &begin, &end);
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
