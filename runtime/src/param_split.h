/* Internal to libtdlrt: passes over a model's whole parameter vector (or
 * its gradients, or an optimizer slot, which share its layout) split over
 * the team the way the model's training step owns it (owned_rows.h). */
#ifndef TDL_PARAM_SPLIT_H
#define TDL_PARAM_SPLIT_H

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

#endif /* TDL_PARAM_SPLIT_H */
