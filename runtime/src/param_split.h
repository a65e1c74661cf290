/* Internal to libtdlrt: passes over a model's whole parameter vector (or
 * its gradients, or an optimizer slot, which share its layout) split over
 * the team the way the model's training step owns it (owned_rows.h). */
#ifndef TDL_PARAM_SPLIT_H
#define TDL_PARAM_SPLIT_H

#include <stdbool.h>

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

/* A model in its training step: model.c hands it to tdl_team_set_step_model
 * around the step's pass, so that the dense passes find their kernels in it. */
typedef struct param_split_step {
    const tdl_model_info *info;
    const float *params, *grads; /* each info->layout.param_floats floats */
} param_split_step;

/* Whether the kernel split by rows whose values or gradient start at
 * `tensor` gives its shares in reverse thread order (owned_rows.h): the
 * second, fourth, ... of the split kernels of the model whose training step
 * runs on the calling thread, as param_split_run splits them. False for
 * anything else: no step, a tensor that is not such a kernel, a pointer
 * outside the model. Call it where the team is not running (it counts the
 * team's threads). */
bool param_split_reversed(const float *tensor);

#endif /* TDL_PARAM_SPLIT_H */
