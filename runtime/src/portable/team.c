/* The portable build's stand-in for the thread team (../team.c): no threads,
 * so every kernel's shares run one after another on the caller. The shares
 * and their order are those of a team of `threads`, so the results are too. */
#include "team.h"
#include "tdl/runtime.h"

/* One thread whatever is asked: the portable build has no threads to give. */
void tdl_set_num_threads(int threads) { (void)threads; }

int tdl_get_num_threads(void) { return 1; }

int tdl_team_threads(void) { return 1; }

int tdl_team_cpus(void) { return 1; }

bool tdl_team_can_split(void) { return false; }

int tdl_team_threads_for(double work, double min_work_per_thread) {
    (void)work;
    (void)min_work_per_thread;
    return 1;
}

void tdl_team_run(int threads, tdl_team_fn body, void *context) {
    if (threads < 1) threads = 1;
    for (int t = 0; t < threads; ++t) body(context, t, threads);
}

/* One caller, no thread-local storage: a plain flag. */
static bool inside_training_step;

void tdl_team_set_training_step(bool inside) { inside_training_step = inside; }

bool tdl_team_in_training_step(void) { return inside_training_step; }

static const void *step_model;

void tdl_team_set_step_model(const void *step) { step_model = step; }

const void *tdl_team_step_model(void) { return step_model; }

/* Nothing to tell: there is no BLAS. */
void tdl_blas_use_one_thread(void) {}
