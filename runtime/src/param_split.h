/* Internal to libtdlrt: passes over a model's whole parameter vector (or
 * its gradients, or an optimizer slot, which share its layout) split over
 * the team the way the model's training step owns it (owned_rows.h). */
#ifndef TDL_PARAM_SPLIT_H
#define TDL_PARAM_SPLIT_H

#include <stdbool.h>

#include "finite_gradients.h"
#include "team.h"
#include "tdl/runtime.h"

/* Runs range(context, begin, end) over ranges that together cover
 * [0, info->layout.param_floats) once each, on the team: the rows of each
 * dense kernel that owned_row_threads splits go to the threads that own
 * them, every other tensor in contiguous shares (to one thread when it has
 * fewer than min_flat_floats_per_thread floats per thread). A call that no
 * split pays for runs range(context, 0, param_floats) on the caller. */
void param_split_run(const tdl_model_info *info, double min_flat_floats_per_thread, tdl_team_items_fn range,
                     void *context);

/* min_flat_floats_per_thread for a training step's passes over the whole
 * parameter vector (the finiteness check of the gradients, the optimizer).
 * Those tensors' gradients were written, and their values are read again,
 * on both cores, so a thread for as few as this many floats pays: on the
 * 2-vCPU development machine (cores 0.5 us apart) mnist_convnet's 35k
 * unowned parameters at batch 32 took 29.6-30.7 us outside the step's
 * calls split in two, against 39.6-42.8 on one thread (profile_mnist_convnet,
 * four alternating pairs); LeNet-5's 13.7k, which stay on one thread, took
 * 28 us split by 4096 floats against 26. */
#define PARAM_SPLIT_MIN_FLAT_FLOATS 16384.0

/* A model in its training step: model.c hands it to tdl_team_set_step_model
 * around the step's pass, so that the dense passes find their kernels in it
 * and record the gradients they prove finite. */
typedef struct param_split_step {
    const tdl_model_info *info;
    const float *params, *grads; /* each info->layout.param_floats floats */
    finite_proofs *proofs;       /* NULL: the step takes none */
} param_split_step;

/* Whether the calling thread runs a training step that takes proofs. */
bool param_split_takes_proofs(void);

/* Records that the `count` gradients from `gradient`, written whole by the
 * calling kernel, are finite (finite_gradients.h); nothing for a range
 * outside the gradients of the model in its step, or outside a step. */
void param_split_prove_finite(const float *gradient, size_t count);

/* Whether the kernel split by rows whose values or gradient start at
 * `tensor` gives its shares in reverse thread order (owned_rows.h): the
 * second, fourth, ... of the split kernels of the model whose training step
 * runs on the calling thread, as param_split_run splits them. False for
 * anything else: no step, a tensor that is not such a kernel, a pointer
 * outside the model. Call it where the team is not running (it counts the
 * team's threads). */
bool param_split_reversed(const float *tensor);

#endif /* TDL_PARAM_SPLIT_H */
