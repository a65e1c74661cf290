/* Internal to libtdlrt: the one thread team that every kernel splits its work over (team.c). */
#ifndef TDL_TEAM_H
#define TDL_TEAM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

/* One thread's share of a kernel: thread in [0, threads). */
typedef void (*tdl_team_fn)(void *context, int thread, int threads);

/* How many threads a kernel called now may use: tdl_get_num_threads(), or 1
 * when the caller is already running inside the team (no nested teams). */
int tdl_team_threads(void);

/* The CPUs this process may run on (its affinity mask, else the online
 * CPUs), read once, when first needed, and again in a child of fork(): the
 * most threads a call of tdl_team_run runs on, and tdl_get_num_threads()
 * until tdl_set_num_threads is called. */
int tdl_team_cpus(void);

/* Whether this build can run a kernel on more than one thread at all
 * (false in the portable build, whatever tdl_set_num_threads was told). */
bool tdl_team_can_split(void);

/* Runs body(context, t, threads) once for every t in [0, threads) on the team
 * (thread 0 is the caller) and returns when all are done. The team's threads
 * are created on first use and kept for the life of the process; threads <= 1
 * runs body on the caller alone. With fewer CPUs than threads
 * (tdl_team_cpus), some threads run several shares one after another, so a
 * share must never wait for another one. */
void tdl_team_run(int threads, tdl_team_fn body, void *context);

/* [begin, end) of n items for thread t of `threads`: contiguous and fixed by
 * (n, t, threads) alone, which is what makes results repeatable. */
static inline void tdl_team_share(size_t n, int t, int threads, size_t *begin, size_t *end) {
    *begin = n * (size_t)t / (size_t)threads;
    *end = n * (size_t)(t + 1) / (size_t)threads;
}

/* The number of threads worth using for `work` items of `grain` each: at
 * least one item-grain per thread (waking a thread costs a few microseconds). */
int tdl_team_threads_for(double work, double min_work_per_thread);

/* Below this many floats read or written per thread, an elementwise or
 * copying pass stays on one thread (conv.c's elementwise passes use the same). */
#define TDL_TEAM_MIN_THREAD_FLOATS 131072.0

/* Items [begin, end) of a kernel's independent items. */
typedef void (*tdl_team_items_fn)(void *context, size_t begin, size_t end);

/* Runs items(context, begin, end) over [0, n) in the contiguous shares of
 * tdl_team_share, on as many threads as tdl_team_threads_for(n * item_work,
 * min_work_per_thread) allows and never more than n (team_split.c). When
 * each item's results depend on that item alone, every thread count gives
 * the same bits. */
void tdl_team_split(size_t n, double item_work, double min_work_per_thread, tdl_team_items_fn items, void *context);

/* Pieces of work whose results do not depend on the thread that computes
 * them (the images of a forward pass, each written by one thread). Each
 * thread starts on its own share of the pieces (tdl_team_share), in order,
 * so consecutive layers find their images on the same core; a thread that
 * runs out takes the next pieces of the other shares, so a core that runs
 * slower for a while (another process on it, colder caches) does not hold
 * the call up. Which thread computes a piece varies, its results do not.
 * The leader fills one with tdl_team_pieces_init before tdl_team_run; each
 * thread then calls tdl_team_pieces_next until it returns false. */
enum { TDL_TEAM_PIECES_MAX_THREADS = 64 };
typedef struct tdl_team_pieces {
    size_t n, grain;
    int threads;
    struct {
        _Alignas(64) atomic_uint next; /* the share's next piece, taken by fetch-and-add */
        unsigned end;
    } share[TDL_TEAM_PIECES_MAX_THREADS];
} tdl_team_pieces;

/* n items in pieces of `grain` (a grain of 0 is taken as 1) for `threads`
 * threads. False when the pieces cannot be counted in unsigned or threads
 * is out of range (1 to TDL_TEAM_PIECES_MAX_THREADS): the caller then
 * declines the call before touching anything, as for any shape it cannot
 * take. */
bool tdl_team_pieces_init(tdl_team_pieces *p, size_t n, size_t grain, int threads);

/* Items [*begin, *end) of thread t's next piece; false when every piece has
 * been taken. */
bool tdl_team_pieces_next(tdl_team_pieces *p, int t, size_t *begin, size_t *end);

/* Whether the calling thread is inside a model's training step (model.c
 * sets it around the step's pass). A training step writes and reads again
 * what an inference call does not (the optimizer's updates, the backward
 * pass's per-thread regions of the workspace), so some kernels split their
 * work another way there (dense_xsmm.c, conv_winograd.c). */
void tdl_team_set_training_step(bool inside);
bool tdl_team_in_training_step(void);

/* What the training step running on the calling thread tells its kernels
 * about its model (param_split.c's param_split_step), or NULL: model.c sets
 * it around the step's pass, together with tdl_team_set_training_step. */
void tdl_team_set_step_model(const void *step);
const void *tdl_team_step_model(void);

/* Internal to blas.c: BLAS runs on one thread, inside the team. */
void tdl_blas_use_one_thread(void);

#endif /* TDL_TEAM_H */
