/* The runtime's thread team: OpenMP (libgomp with GCC), whose threads are
 * created on the first parallel region and then parked and reused by every
 * later one, so no kernel call creates a thread.
 *
 * Every kernel that splits work does it through tdl_team_run with a fixed
 * partition (tdl_team_share), never with dynamic scheduling, so a given thread
 * count always computes the same sums in the same order.
 *
 * BLAS runs single-threaded: all BLAS calls come from inside the team (or from
 * tdl_sgemm, which splits its own rows over the team), and a multi-threaded
 * OpenBLAS called from two team threads at once would make them queue for its
 * one thread server (measured: 2-thread conv backward fell to 0.7x its
 * 1-thread speed). Its thread count is set to 1 once, when the library is
 * loaded and again by tdl_set_num_threads; no kernel touches it afterwards.
 *
 * Without OpenMP (a compiler that lacks it) the team is the caller alone:
 * tdl_team_run runs every share one after another on the calling thread, so
 * results are those of the same thread count with OpenMP. */
#include "team.h"

#include <stdatomic.h>

#include "tdl/runtime.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* 0 until tdl_set_num_threads is called: then the OpenMP default
 * (OMP_NUM_THREADS, else the number of cores). */
static atomic_int requested_threads;

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void team_load(void) { tdl_blas_use_one_thread(); }
#endif

void tdl_set_num_threads(int threads) {
    atomic_store(&requested_threads, threads < 1 ? 1 : threads);
    tdl_blas_use_one_thread();
}

int tdl_get_num_threads(void) {
    const int n = atomic_load(&requested_threads);
    if (n > 0) return n;
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int tdl_team_threads(void) {
#ifdef _OPENMP
    if (omp_in_parallel()) return 1;
#endif
    return tdl_get_num_threads();
}

int tdl_team_threads_for(double work, double min_work_per_thread) {
    int threads = tdl_team_threads();
    if (min_work_per_thread > 0.0 && (double)threads * min_work_per_thread > work)
        threads = (int)(work / min_work_per_thread);
    return threads < 1 ? 1 : threads;
}

void tdl_team_run(int threads, tdl_team_fn body, void *context) {
    if (threads <= 1) {
        body(context, 0, 1);
        return;
    }
#ifdef _OPENMP
    /* The team may come out smaller than asked (OMP_THREAD_LIMIT): its
     * threads then take the remaining shares in turn, so every share runs. */
#pragma omp parallel num_threads(threads)
    {
        const int step = omp_get_num_threads();
        for (int t = omp_get_thread_num(); t < threads; t += step) body(context, t, threads);
    }
#else
    for (int t = 0; t < threads; ++t) body(context, t, threads);
#endif
}
