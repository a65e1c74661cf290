/* tdl_team_split: the team's fixed partition for kernels whose work is a
 * row of independent items (output rows, channels, elements), so that each
 * such kernel states only what one item range does. */
#include "team.h"

typedef struct split_job {
    size_t n;
    tdl_team_items_fn items;
    void *context;
} split_job;

static void split_share(void *context, int t, int threads) {
    const split_job *j = context;
    size_t begin, end;
    tdl_team_share(j->n, t, threads, &begin, &end);
    if (begin < end) j->items(j->context, begin, end);
}

void tdl_team_split(size_t n, double item_work, double min_work_per_thread, tdl_team_items_fn items, void *context) {
    if (n == 0 || items == NULL) return;
    int threads = tdl_team_threads_for((double)n * item_work, min_work_per_thread);
    if ((size_t)threads > n) threads = (int)n;
    if (threads <= 1) {
        items(context, 0, n);
        return;
    }
    split_job job = {n, items, context};
    tdl_team_run(threads, split_share, &job);
}
