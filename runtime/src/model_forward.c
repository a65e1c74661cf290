/* NAME_forward's pass: over the whole batch, or over one slice of the
 * batch per thread of the team, each thread running every layer on the
 * examples of its slice.
 *
 * Splitting each layer over the team costs a handshake between the cores
 * per layer, and each layer waits for its slowest thread before the next
 * begins; a forward whose every tensor has the batch as its first
 * dimension (the compiler checks, and then passes the function that sizes
 * a slice's workspace) needs neither, as each example's values depend on
 * that example alone. On the 2-vCPU development machine, two threads,
 * medians of 8 alternating bench_models processes, each layer split against
 * slices: LeNet-5's forward at batch 32 0.112 -> 0.094 ms, at batch 128
 * 0.411 -> 0.367; the MLP's at batch 32 0.114 -> 0.097; vgg_small's at
 * batch 32 4.36 -> 3.66, at batch 128 17.1 -> 15.3. (mnist_convnet's and
 * the MLP's at batch 128 stayed within 3%.) Handing the examples out in
 * smaller pieces, so that a core that runs slower for a while would take
 * fewer of them, measured slower: pieces of 8 examples took LeNet-5 at
 * batch 32 0.098 ms, pieces of 16 the MLP at batch 128 0.379 against 0.370,
 * and pieces of 4 the MLP at batch 32 0.17 against 0.10 (each piece reads
 * the whole of every dense kernel).
 *
 * A slice of fewer than MIN_SLICE_EXAMPLES examples stays with the layers'
 * own splits: at small batches those split a layer's units, and each slice
 * would otherwise read every kernel whole (batch 1 above all, whose dense
 * layers are bound by reading their kernels).
 *
 * Nor does a forward slice where each parameter serves fewer than
 * SLICE_MIN_MACS_PER_PARAM multiply-adds in a slice (the compiler counts
 * them per example, tdl_model_info.forward_macs_per_param): a dense
 * layer's kernel serves one per example, so a dense stack's slices spend
 * their time reading every kernel whole, where the layers' own split of a
 * large kernel (dense_xsmm.c, by rows) has each core read and keep its
 * half. The MLP on two threads of an Intel Xeon (2.7 MB of kernels, 2 MB
 * of L2 a core), in slices against split by layer, alternating processes:
 * batch 32 (16 multiply-adds per parameter in a slice) 0.207-0.233 ms
 * against 0.189-0.193 (`bench_models`, five pairs), batch 64 (32) 368-373
 * us against 326-335 (`profile_mlp`, three pairs), batch 128 (64)
 * 0.633-0.693 ms against 0.665-0.700 (five pairs): the bound lies between
 * 32 and 64. A convolution's kernel serves one per output pixel: LeNet-5's
 * forward does 6.75 per parameter and example, vgg_small's 134. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "team.h"
#include "tdl/runtime.h"

enum { MIN_SLICE_EXAMPLES = 16, MAX_SLICES = TDL_TEAM_PIECES_MAX_THREADS };
#define SLICE_MIN_MACS_PER_PARAM 48.0

/* A slice's workspace, rounded up to whole 64-byte lines so that no two
 * threads write the same line. */
static size_t slice_workspace(size_t (*workspace_floats)(int), int examples) {
    const size_t floats = workspace_floats(examples);
    return floats > SIZE_MAX - 15 ? SIZE_MAX : (floats + 15) / 16 * 16;
}

/* How many slices the call runs in: as many as the team has threads, each
 * of at least MIN_SLICE_EXAMPLES examples and SLICE_MIN_MACS_PER_PARAM
 * multiply-adds per parameter, whose workspaces fit side by
 * side in the arena's (which is sized for any pass over max_batch). 1: the
 * whole batch in one pass. */
static int slice_count(const tdl_model *m, int batch, size_t (*workspace_floats)(int), size_t *stride) {
    int slices = tdl_team_threads();
    if (slices > batch / MIN_SLICE_EXAMPLES) slices = batch / MIN_SLICE_EXAMPLES;
    if (slices > MAX_SLICES) slices = MAX_SLICES;
    /* The most slices in which each parameter still serves enough work. */
    const double macs_per_param = (double)m->info->forward_macs_per_param;
    const double most = macs_per_param * (double)batch / SLICE_MIN_MACS_PER_PARAM;
    if (macs_per_param > 0 && most < (double)slices) slices = (int)most;
    const size_t arena = m->info->workspace_floats ? m->info->workspace_floats(m->max_batch) : 0;
    for (; slices > 1; --slices) {
        *stride = slice_workspace(workspace_floats, (batch + slices - 1) / slices);
        if (*stride <= arena / (size_t)slices) return slices;
    }
    return 1;
}

typedef struct slice_job {
    tdl_model *m;
    int batch;
    const void *const *inputs;
    void *const *outputs;
    tdl_model_infer_pass pass;
    size_t stride; /* workspace floats per slice */
    tdl_status status[MAX_SLICES];
} slice_job;

static void slice_examples(int batch, int t, int slices, int *first, int *count) {
    size_t begin, end;
    tdl_team_share((size_t)batch, t, slices, &begin, &end);
    *first = (int)begin;
    *count = (int)(end - begin);
}

static void run_slice(void *context, int t, int slices) {
    slice_job *j = context;
    int first, count;
    slice_examples(j->batch, t, slices, &first, &count);
    j->status[t] = j->pass(j->m, first, count, j->inputs, j->outputs, j->m->workspace + (size_t)t * j->stride);
}

static tdl_status forward_in_slices(tdl_model *m, int batch, const void *const *inputs, void *const *outputs,
                                    tdl_model_infer_pass pass, int slices, size_t stride) {
    slice_job job = {.m = m, .batch = batch, .inputs = inputs, .outputs = outputs, .pass = pass, .stride = stride};
    tdl_team_run(slices, run_slice, &job);
    for (int t = 0; t < slices; ++t) {
        if (job.status[t] == TDL_STATUS_OK) continue;
        /* The first failed slice's message: another thread's stays with
         * that thread (tdl_last_error is per thread), and a later slice run
         * here (a team busy with another caller runs every slice on this
         * thread) has overwritten this thread's. The slice runs again,
         * where its examples fail the same way, to leave its message. */
        int first, count;
        slice_examples(batch, t, slices, &first, &count);
        const tdl_status again = pass(m, first, count, inputs, outputs, m->workspace);
        if (again != TDL_STATUS_OK) return again;
        return tdl_set_error(job.status[t], "%s_forward: examples %d to %d failed on another thread", m->info->name,
                             first, first + count - 1);
    }
    return TDL_STATUS_OK;
}

tdl_status tdl_model_forward(tdl_model *m, int batch, const void *const *inputs, void *const *outputs,
                             tdl_model_infer_pass pass, size_t (*slice_workspace_floats)(int batch)) {
    size_t stride = 0;
    const int slices = slice_workspace_floats ? slice_count(m, batch, slice_workspace_floats, &stride) : 1;
    if (slices <= 1) return pass(m, 0, batch, inputs, outputs, m->workspace);
    return forward_in_slices(m, batch, inputs, outputs, pass, slices, stride);
}
