/* tdl_team_split: the team's fixed partition for kernels whose work is a
 * row of independent items (output rows, channels, elements), so that each
 * such kernel states only what one item range does; and tdl_team_pieces,
 * the same shares handed out piece by piece, so that a thread that finishes
 * early takes over the rest of a slower one's. */
#include "team.h"
#include "vector_state.h"

#include <limits.h>

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
        tdl_vector_state_clean();
        return;
    }
    split_job job = {n, items, context};
    tdl_team_run(threads, split_share, &job);
}

bool tdl_team_pieces_init(tdl_team_pieces *p, size_t n, size_t grain, int threads) {
    if (grain < 1) grain = 1;
    if (threads < 1 || threads > TDL_TEAM_PIECES_MAX_THREADS) return false;
    const size_t pieces = n / grain + (n % grain != 0);
    if (pieces >= (size_t)UINT_MAX - (size_t)TDL_TEAM_PIECES_MAX_THREADS) return false;
    p->n = n;
    p->grain = grain;
    p->threads = threads;
    for (int t = 0; t < threads; ++t) {
        size_t begin, end;
        tdl_team_share(pieces, t, threads, &begin, &end);
        atomic_init(&p->share[t].next, (unsigned)begin);
        p->share[t].end = (unsigned)end;
    }
    return true;
}

bool tdl_team_pieces_next(tdl_team_pieces *p, int t, size_t *begin, size_t *end) {
    for (int k = 0; k < p->threads; ++k) {
        const int owner = (t + k) % p->threads;
        /* A share that is used up stops being counted past its end, so
         * the counters cannot wrap however often they are asked. */
        if (atomic_load_explicit(&p->share[owner].next, memory_order_relaxed) >= p->share[owner].end) continue;
        const unsigned piece = atomic_fetch_add_explicit(&p->share[owner].next, 1u, memory_order_relaxed);
        if (piece >= p->share[owner].end) continue;
        *begin = (size_t)piece * p->grain;
        *end = *begin + p->grain < p->n ? *begin + p->grain : p->n;
        return true;
    }
    return false;
}
