/* Internal to libtdlrt: the optimizer steps of tdl/runtime.h on a model's
 * whole parameter vector, split over the team as the model's training step
 * owns the parameters (param_split.c) rather than in contiguous shares.
 * Each element is computed by the same expressions either way, so the
 * results are the public functions' bit for bit. model.c checks the
 * pointers before calling. */
#ifndef TDL_OPTIM_INTERNAL_H
#define TDL_OPTIM_INTERNAL_H

#include <stdint.h>

#include "tdl/runtime.h"

void optim_sgd_step_owned(const tdl_model_info *model, float *param, float *velocity, const float *grad,
                          const tdl_sgd_config *c);
/* v_hat NULL: Adam; else AMSGrad. */
void optim_adam_step_owned(const tdl_model_info *model, float *param, float *m, float *v, float *v_hat,
                           const float *grad, const tdl_adam_config *c, int64_t step);
void optim_rmsprop_step_owned(const tdl_model_info *model, float *param, float *velocity, float *momentum,
                              float *average_grad, const float *grad, const tdl_rmsprop_config *c);

#endif /* TDL_OPTIM_INTERNAL_H */
