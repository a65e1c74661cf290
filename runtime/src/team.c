/* The runtime's thread team: worker threads created on first use and kept
 * for the life of the process, so no kernel call creates a thread.
 *
 * Why not OpenMP: libgomp's idle threads spin for a count read from the
 * environment (GOMP_SPINCOUNT, OMP_WAIT_POLICY) when the program starts,
 * which a library cannot change. At its default, on the 2-vCPU development
 * machine shared with other work, a 2-thread mnist_convnet forward at batch 1
 * took 11.5 ms instead of 0.07 ms; with GOMP_SPINCOUNT=20000 it took 0.05 ms.
 * This team waits the same way on its own terms: a waiting thread polls for
 * TEAM_SPIN rounds (a few hundred microseconds, which covers the short serial
 * gaps between kernels) and then sleeps on a condition variable, so no thread
 * spins for long while others work.
 *
 * Every kernel that splits work does it through tdl_team_run with a fixed
 * partition (tdl_team_share), never dynamic scheduling, so a given thread
 * count always computes the same sums in the same order. Should the team be
 * busy (two application threads running kernels at once) or a worker fail to
 * start, the caller runs the missing shares itself: the same shares, so the
 * same results.
 *
 * Nor do more threads run than the process may use CPUs (its affinity mask:
 * taskset, a cpuset, a container's --cpuset-cpus): asked for more, the team
 * runs the shares of the count asked for, with the same results, on as many
 * threads as there are CPUs, each taking every so many shares in turn. More
 * threads than CPUs would wait on each other by the scheduler's time slice:
 * a polling thread holds the CPU that the thread it waits for needs. On the
 * 2-vCPU development machine, LeNet-5's training step at batch 32 took 8.2
 * ms instead of 0.70 on two threads confined to one CPU (`taskset -c 0`),
 * and 8.9 ms on four threads over two CPUs against 0.43 on two.
 *
 * BLAS runs single-threaded: all BLAS calls come from inside the team (or from
 * tdl_sgemm, which splits its own rows over the team), and a multi-threaded
 * OpenBLAS called from two team threads at once would make them queue for its
 * one thread server (measured: 2-thread conv backward fell to 0.7x its
 * 1-thread speed). Its thread count is set to 1 once, when the library is
 * loaded and again by tdl_set_num_threads; no kernel touches it afterwards. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */

#include "team.h"

#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "tdl/runtime.h"
#include "vector_state.h"

enum {
    TEAM_MAX_THREADS = 64,
    /* Polling rounds before sleeping; with x86's pause about 0.3 ms. */
    TEAM_SPIN = 20000,
};

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* 0 until tdl_set_num_threads is called: then the number it was given. */
static atomic_int requested_threads;

/* The CPUs this process may run on, read when first needed (0 until then).
 * A line of its own: tdl_team_run reads it on every call, and the team's
 * handshakes write the lines around it. */
static _Alignas(64) atomic_int usable_cpus;

/* Set on the team's own threads and on a caller while it leads the team. */
static _Thread_local bool inside_team;

/* Set on a caller while it runs a model's training step. */
static _Thread_local bool inside_training_step;

void tdl_team_set_training_step(bool inside) { inside_training_step = inside; }

bool tdl_team_in_training_step(void) { return inside_training_step; }

/* Set on a caller while it runs a model's training step. */
static _Thread_local const void *step_model;

void tdl_team_set_step_model(const void *step) { step_model = step; }

const void *tdl_team_step_model(void) { return step_model; }

/* The team. `lock` guards the sleeping side of both handshakes and the
 * worker count. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t work_ready = PTHREAD_COND_INITIALIZER;
static pthread_cond_t work_done = PTHREAD_COND_INITIALIZER;
static pthread_mutex_t leader = PTHREAD_MUTEX_INITIALIZER; /* one caller leads at a time */
static int workers;                                        /* started, guarded by leader */

/* The leader writes a job and then bumps its generation; a worker reads
 * the job after it sees the bump. The two fill one cache line of their
 * own, and the count of workers still busy another: a polling worker then
 * receives the whole job in one transfer, and the leader's writes to its
 * own state (the leader lock, the worker count) never take the line the
 * workers poll from under them. An empty job on two threads, two vCPUs
 * 0.55 us apart (bench/models/team_handshake), took 640-920 ns a call when
 * these shared lines with each other and the leader lock, 540-660 apart. */
static struct {
    _Alignas(64) atomic_uint generation;
    tdl_team_fn body;
    void *context;
    int threads;
    int stride; /* the threads running shares: the leader and every worker */
} job;
static struct {
    _Alignas(64) atomic_int count;
} unfinished;
/* The generation each worker was started in: it answers every later one.
 * (Reading the generation in the new thread instead could miss the job its
 * own leader publishes right after starting it.) */
static unsigned start_generation[TEAM_MAX_THREADS];

/* A child of fork() has none of the workers, and a lock a worker held at the
 * fork stays held: it starts over with a fresh, empty team. */
static void team_after_fork_in_child(void) {
    workers = 0;
    atomic_store(&usable_cpus, 0); /* the child may be given other CPUs */
    inside_team = false;
    pthread_mutex_init(&lock, NULL);
    pthread_mutex_init(&leader, NULL);
    pthread_cond_init(&work_ready, NULL);
    pthread_cond_init(&work_done, NULL);
}

#if defined(__GNUC__) || defined(__clang__)
__attribute__((constructor)) static void team_load(void) {
    tdl_blas_use_one_thread();
    pthread_atfork(NULL, NULL, team_after_fork_in_child);
}
#endif

void tdl_set_num_threads(int threads) {
    /* At most the shares tdl_team_run runs: a kernel plans its shares with
     * this count (conv_backward_chunks.c adds one partial per share). */
    if (threads > TEAM_MAX_THREADS) threads = TEAM_MAX_THREADS;
    atomic_store(&requested_threads, threads < 1 ? 1 : threads);
    tdl_blas_use_one_thread();
}

/* The CPUs in the process's affinity mask (taskset, a cpuset, a container's
 * --cpuset-cpus), as libgomp and OpenBLAS count them; the online CPUs where
 * the mask cannot be read (more CPUs than a cpu_set_t holds, not Linux). */
static int read_usable_cpus(void) {
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) {
        const int n = CPU_COUNT(&set);
        if (n > 0) return n;
    }
#endif
    const long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return cpus < 1 ? 1 : (cpus > INT_MAX ? INT_MAX : (int)cpus);
}

int tdl_team_cpus(void) {
    int cpus = atomic_load_explicit(&usable_cpus, memory_order_relaxed);
    if (cpus == 0) {
        cpus = read_usable_cpus();
        atomic_store_explicit(&usable_cpus, cpus, memory_order_relaxed);
    }
    return cpus;
}

int tdl_get_num_threads(void) {
    const int n = atomic_load(&requested_threads);
    if (n > 0) return n;
    const int cpus = tdl_team_cpus();
    return cpus > TEAM_MAX_THREADS ? TEAM_MAX_THREADS : cpus;
}

int tdl_team_threads(void) { return inside_team ? 1 : tdl_get_num_threads(); }

bool tdl_team_can_split(void) { return true; }

int tdl_team_threads_for(double work, double min_work_per_thread) {
    int threads = tdl_team_threads();
    if (min_work_per_thread > 0.0 && (double)threads * min_work_per_thread > work)
        threads = (int)(work / min_work_per_thread);
    return threads < 1 ? 1 : threads;
}

/* Polls `done(arg)` for TEAM_SPIN rounds, then sleeps on `cond` until it holds. */
static void wait_until(bool (*done)(unsigned), unsigned arg, pthread_cond_t *cond) {
    for (int i = 0; i < TEAM_SPIN; ++i) {
        if (done(arg)) return;
        cpu_relax();
    }
    pthread_mutex_lock(&lock);
    while (!done(arg)) pthread_cond_wait(cond, &lock);
    pthread_mutex_unlock(&lock);
}

static bool new_generation(unsigned seen) { return atomic_load(&job.generation) != seen; }
static bool all_finished(unsigned unused) {
    (void)unused;
    return atomic_load(&unfinished.count) == 0;
}

/* One share, which leaves the vector registers clean (vector_state.h). */
static void run_share(tdl_team_fn body, void *context, int t, int threads) {
    body(context, t, threads);
    tdl_vector_state_clean();
}

/* Shares first, first + stride, ... of a job: one thread's of `stride`. */
static void run_shares(tdl_team_fn body, void *context, int first, int stride, int threads) {
    for (int t = first; t < threads; t += stride) run_share(body, context, t, threads);
}

/* Worker `index` (1-based): runs shares index, index + stride, ... of every
 * job that has them. */
static void *worker_main(void *argument) {
    const int index = (int)(intptr_t)argument;
    inside_team = true;
    unsigned seen = start_generation[index];
    for (;;) {
        wait_until(new_generation, seen, &work_ready);
        seen = atomic_load(&job.generation);
        if (index < job.threads) run_shares(job.body, job.context, index, job.stride, job.threads);
        if (atomic_fetch_sub(&unfinished.count, 1) == 1) {
            /* The last one out wakes a leader that went to sleep. */
            pthread_mutex_lock(&lock);
            pthread_cond_signal(&work_done);
            pthread_mutex_unlock(&lock);
        }
    }
    return NULL;
}

/* Starts workers until there are `wanted` (or one fails to start). Leader only. */
static void start_workers(int wanted) {
    while (workers < wanted) {
        pthread_t thread;
        pthread_attr_t attributes;
        pthread_attr_init(&attributes);
        pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
        start_generation[workers + 1] = atomic_load(&job.generation);
        const int started =
            pthread_create(&thread, &attributes, worker_main, (void *)(intptr_t)(workers + 1)) == 0;
        pthread_attr_destroy(&attributes);
        if (!started) return;
        ++workers;
    }
}

void tdl_team_run(int threads, tdl_team_fn body, void *context) {
    if (threads > TEAM_MAX_THREADS) threads = TEAM_MAX_THREADS;
    if (threads < 1) threads = 1;
    /* No more threads run than the process has CPUs: the shares beyond
     * them wait their turn on a running thread, never on a CPU that a
     * spinning thread holds. */
    const int cpus = tdl_team_cpus(), running = threads < cpus ? threads : cpus;
    /* One share, or nested: every share here. */
    if (threads == 1 || inside_team) {
        run_shares(body, context, 0, 1, threads);
        return;
    }
    /* One CPU, or the team busy with another caller: every share here too,
     * and inside them kernels see one thread, as on the team's threads
     * (tdl_team_threads), so that they compute what they would there. */
    if (running <= 1 || pthread_mutex_trylock(&leader) != 0) {
        inside_team = true;
        run_shares(body, context, 0, 1, threads);
        inside_team = false;
        return;
    }
    start_workers(running - 1);
    inside_team = true;
    job.body = body;
    job.context = context;
    job.threads = threads;
    /* Each thread takes every stride-th share from its own index on, so the
     * shares of workers that could not be started, or of threads beyond
     * the CPUs, are spread over those that run. */
    const int stride = workers + 1;
    /* Written only when it changes (seldom): each write to the job's line
     * takes it from the workers polling it. */
    if (job.stride != stride) job.stride = stride;
    /* Every worker answers each generation, also those without a share. */
    atomic_store(&unfinished.count, workers);
    pthread_mutex_lock(&lock);
    atomic_fetch_add(&job.generation, 1);
    pthread_cond_broadcast(&work_ready);
    pthread_mutex_unlock(&lock);
    run_shares(body, context, 0, stride, threads);
    wait_until(all_finished, 0, &work_done);
    inside_team = false;
    pthread_mutex_unlock(&leader);
}
