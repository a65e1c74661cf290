/* Runs the parts of a kernel on short-lived POSIX threads. Creating a thread
 * costs tens of microseconds, so kernels only split work that takes far longer.
 * While the parts run, BLAS is limited to one thread: the threads are already
 * in use, and BLAS calls from several threads that each try to start BLAS's
 * own threads contend for them (measured: 2-thread conv backward fell to
 * 0.7x its 1-thread speed). */
#define _POSIX_C_SOURCE 200809L

#include "parallel.h"

#include "tdl/runtime.h"

#include <pthread.h>
#include <stdbool.h>

enum { MAX_PARTS = 64 };

typedef struct part_call {
    tdl_part_fn body;
    void *context;
    int part, parts;
} part_call;

static void *run_part(void *argument) {
    const part_call *call = argument;
    call->body(call->context, call->part, call->parts);
    return NULL;
}

void tdl_parallel_run(int parts, tdl_part_fn body, void *context) {
    if (parts > MAX_PARTS) parts = MAX_PARTS;
    if (parts <= 1) {
        body(context, 0, 1);
        return;
    }
    const int blas_threads = tdl_get_num_threads();
    tdl_set_num_threads(1);
    part_call calls[MAX_PARTS];
    pthread_t threads[MAX_PARTS];
    bool started[MAX_PARTS] = {false};
    for (int p = 1; p < parts; ++p) {
        calls[p] = (part_call){body, context, p, parts};
        started[p] = pthread_create(&threads[p], NULL, run_part, &calls[p]) == 0;
    }
    body(context, 0, parts);
    for (int p = 1; p < parts; ++p) {
        if (started[p])
            pthread_join(threads[p], NULL);
        else
            body(context, p, parts);
    }
    tdl_set_num_threads(blas_threads);
}
