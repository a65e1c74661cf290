/* How well a dense layer's training-step passes split over the runtime's
 * two-thread team, apart from the rest of a step: the layer's forward
 * (tdl_dense_train_forward) and backward (tdl_dense_train_backward, with the
 * input's gradient) timed
 *   - on the team of two threads, which split the kernel's rows;
 *   - on one thread pinned to each core;
 *   - on half the input features, one thread pinned to each core, alone
 *     and then both at once: two threads that never meet, the most a split
 *     could hope for on this machine at this moment.
 * The same data stay in the caches from call to call, so the gap between
 * the team and the halves at once is the split's own cost; a training
 * step's calls, whose data other layers and the other core have just
 * touched, lose more (docs/performance.md).
 *
 *   dense_split [--batch B] [--layer FEATURES,UNITS]…
 *
 * Without --layer: the MLP's 784 -> 512 and 512 -> 512, and LeNet-5's
 * 400 -> 120. Prints "one core" when fewer than two CPUs are online, and
 * says so when the runtime has no team (TDLRT_PORTABLE). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "team.h"
#include "tdl/runtime.h"
#include "timing.h"
#include "two_threads.h"

enum { MAX_LAYERS = 8, MAX_FEATURES = 1 << 16, MAX_BATCH = 4096 };

typedef struct layer_shape {
    int features, units;
} layer_shape;

/* One layer's buffers and which pass to time. */
typedef struct dense_case {
    tdl_dense_desc desc;
    int batch;
    int backward;
    float *x, *kernel, *bias, *y, *dy, *dx, *dkernel, *dbias, *workspace;
} dense_case;

static float *filled(size_t count, unsigned seed) {
    float *p = count <= SIZE_MAX / sizeof *p ? malloc(count * sizeof *p) : NULL;
    if (p == NULL) {
        fprintf(stderr, "dense_split: out of memory\n");
        exit(1);
    }
    for (size_t i = 0; i < count; ++i) p[i] = (float)((i * 7919u + seed) % 97u) / 97.0f - 0.5f;
    return p;
}

static void case_init(dense_case *c, int features, int units, int batch, int backward) {
    const size_t f = (size_t)features, u = (size_t)units, b = (size_t)batch;
    c->desc = (tdl_dense_desc){features, units, TDL_ACTIVATION_RELU, 0.0f};
    c->batch = batch;
    c->backward = backward;
    c->x = filled(b * f, 1);
    c->kernel = filled(f * u, 2);
    c->bias = filled(u, 3);
    c->y = filled(b * u, 4);
    c->dy = filled(b * u, 5);
    c->dx = filled(b * f, 6);
    c->dkernel = filled(f * u, 7);
    c->dbias = filled(u, 8);
    c->workspace = filled(tdl_dense_workspace_size(&c->desc, batch), 9);
}

static void case_free(dense_case *c) {
    float *buffers[] = {c->x, c->kernel, c->bias, c->y, c->dy, c->dx, c->dkernel, c->dbias, c->workspace};
    for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; ++i) free(buffers[i]);
}

static void run_case(void *context) {
    dense_case *c = context;
    if (c->backward)
        tdl_dense_train_backward(c->dx, c->dkernel, c->dbias, c->dy, c->y, c->x, c->kernel, &c->desc, c->batch,
                                 c->workspace, TDL_DX_ADD);
    else
        tdl_dense_train_forward(c->y, c->x, c->kernel, c->bias, &c->desc, c->batch, c->workspace);
}

static const timing_plan plan = {20, 9, 0.05};

/* A pinned thread that times its own case, after waiting for its partner
 * (if any) so that two of them run at once. */
typedef struct pinned_timing {
    dense_case *c;
    int cpu;
    pthread_barrier_t *start;
    double ms;
} pinned_timing;

static void *pinned_main(void *argument) {
    pinned_timing *p = argument;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(p->cpu, &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof set, &set) != 0) p->cpu = -1;
    tdl_team_set_training_step(true);
    if (p->start != NULL) pthread_barrier_wait(p->start);
    p->ms = timing_median_ms(&plan, run_case, p->c);
    return NULL;
}

/* Times each case on its own pinned thread, all at once; false if a
 * thread could not be started or pinned. */
static int time_pinned(dense_case *const *cases, const int *cpus, int count, double *ms) {
    pthread_t threads[2];
    pinned_timing timings[2];
    pthread_barrier_t start;
    if (count < 1 || count > 2 || pthread_barrier_init(&start, NULL, (unsigned)count) != 0) return 0;
    int ok = 1, started = 0;
    for (int i = 0; i < count; ++i) {
        timings[i] = (pinned_timing){cases[i], cpus[i], count > 1 ? &start : NULL, 0.0};
        if (pthread_create(&threads[i], NULL, pinned_main, &timings[i]) != 0) {
            ok = 0;
            break;
        }
        ++started;
    }
    for (int i = 0; i < started; ++i) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    for (int i = 0; i < count && ok; ++i) {
        if (timings[i].cpu < 0) ok = 0;
        ms[i] = timings[i].ms;
    }
    return ok && started == count;
}

static double faster(double a, double b) { return a < b ? a : b; }
static double slower(double a, double b) { return a > b ? a : b; }

static int measure(const layer_shape *shape, int batch, int backward) {
    dense_case full, half[2];
    case_init(&full, shape->features, shape->units, batch, backward);
    for (int i = 0; i < 2; ++i) case_init(&half[i], shape->features / 2, shape->units, batch, backward);

    /* The team first, from this unpinned thread, whose workers inherit its
     * affinity when they start. */
    tdl_set_num_threads(2);
    tdl_team_set_training_step(true);
    const double team_ms = timing_median_ms(&plan, run_case, &full);
    tdl_team_set_training_step(false);
    /* Each pinned thread then runs its calls alone, as one thread does. */
    tdl_set_num_threads(1);

    double one[2], alone[2], together[2];
    const int cpus[2] = {0, 1};
    int ok = 1;
    for (int i = 0; i < 2 && ok; ++i) {
        dense_case *mine[1] = {&full};
        ok = time_pinned(mine, &cpus[i], 1, &one[i]);
        dense_case *halves[1] = {&half[i]};
        if (ok) ok = time_pinned(halves, &cpus[i], 1, &alone[i]);
    }
    dense_case *both[2] = {&half[0], &half[1]};
    if (ok) ok = time_pinned(both, cpus, 2, together);
    if (ok) {
        const double best_one = faster(one[0], one[1]);
        printf("| %d -> %d | %s | %d | %.1f | %.1f | %.1f / %.1f | %.1f / %.1f | %.1f | %.2f | %.2f |\n",
               shape->features, shape->units, backward ? "backward" : "forward", batch, one[0] * 1e3,
               one[1] * 1e3, alone[0] * 1e3, alone[1] * 1e3, together[0] * 1e3, together[1] * 1e3,
               team_ms * 1e3, best_one / team_ms, best_one / slower(together[0], together[1]));
    } else {
        fprintf(stderr, "dense_split: could not start or pin a thread on cpu 0 and cpu 1\n");
    }
    case_free(&full);
    for (int i = 0; i < 2; ++i) case_free(&half[i]);
    return ok;
}

static int parse_int(const char *text, int low, int high, int *out) {
    char *end;
    errno = 0;
    const long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || value < low || value > high) return 0;
    *out = (int)value;
    return *end == '\0' || *end == ',';
}

static int parse_layer(const char *text, layer_shape *shape) {
    const char *comma = strchr(text, ',');
    return comma != NULL && parse_int(text, 2, MAX_FEATURES, &shape->features) &&
           parse_int(comma + 1, 1, MAX_FEATURES, &shape->units) && strchr(comma + 1, ',') == NULL;
}

int main(int argc, char **argv) {
    layer_shape layers[MAX_LAYERS];
    int count = 0, batch = 32;
    for (int i = 1; i < argc; i += 2) {
        const char *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (value != NULL && strcmp(argv[i], "--batch") == 0 && parse_int(value, 1, MAX_BATCH, &batch) &&
            strchr(value, ',') == NULL) {
            continue;
        }
        if (value != NULL && strcmp(argv[i], "--layer") == 0 && count < MAX_LAYERS &&
            parse_layer(value, &layers[count])) {
            ++count;
            continue;
        }
        fprintf(stderr, "usage: dense_split [--batch 1..%d] [--layer FEATURES,UNITS]... (at most %d layers)\n",
                MAX_BATCH, MAX_LAYERS);
        return 2;
    }
    if (count == 0) {
        const layer_shape defaults[] = {{784, 512}, {512, 512}, {400, 120}};
        count = (int)(sizeof defaults / sizeof defaults[0]);
        memcpy(layers, defaults, sizeof defaults);
    }
    if (!two_threads_can_run()) return 0;
    puts("microseconds a call (medians); halves: half the input features, alone and both at once");
    puts("");
    puts("| layer | pass | batch | 1 thread on cpu0 | on cpu1 | halves alone, cpu0 / cpu1 | halves at once | team of 2 "
         "| team over the faster core | halves at once over the faster core |");
    puts("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    int ok = 1;
    for (int i = 0; i < count; ++i)
        for (int backward = 0; backward < 2; ++backward) ok &= measure(&layers[i], batch, backward);
    return ok ? 0 : 1;
}
