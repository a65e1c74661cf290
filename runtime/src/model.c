/* What the generated code of every model does alike, driven by the tables
 * tsc writes (tdl_model_info): the arena and its parts, create_in (create,
 * destroy and the weight files are in model_hosted.c),
 * initialisation, weights, the checks at the start of each entry point, the
 * train step and gradcheck. Generated files keep only the model's own passes
 * and thin wrappers with the model's types (as nanopb and protobuf-c do). */
#include <math.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "optim_internal.h"
#include "param_split.h"
#include "team.h"
#include "tdl/runtime.h"

_Static_assert(sizeof(tdl_model) <= TDL_MODEL_HEADER_BYTES, "the model struct outgrew its place in the arena");

/* --- The arena ------------------------------------------------------------------- */

/* floats rounded up to whole 64-byte lines; false on overflow. */
static bool round_floats(size_t floats, size_t *out) {
    if (floats > SIZE_MAX - 15) return false;
    *out = (floats + 15) / 16 * 16;
    return true;
}

static bool add_size(size_t a, size_t b, size_t *out) {
    if (a > SIZE_MAX - b) return false;
    *out = a + b;
    return true;
}

bool tdl_model_arena_parts_of(const tdl_model_layout *layout, int max_batch, size_t workspace_floats,
                              tdl_model_arena_parts *parts) {
    if (!layout || !parts || max_batch < 1 || layout->optimizer_slots < 0) return false;
    tdl_model_arena_parts p;
    size_t params, activations;
    if (!round_floats(layout->param_floats, &params) || !round_floats(layout->grad_floats, &p.grads)) return false;
    p.params = params;
    if ((size_t)layout->optimizer_slots > 0 && params > SIZE_MAX / (size_t)layout->optimizer_slots) return false;
    p.slots = params * (size_t)layout->optimizer_slots;
    if (layout->act_per_sample > 0 && (size_t)max_batch > SIZE_MAX / layout->act_per_sample) return false;
    activations = (size_t)max_batch * layout->act_per_sample;
    if (!round_floats(activations, &p.activations) || !round_floats(layout->act_fixed, &p.fixed) ||
        !round_floats(workspace_floats, &p.workspace) || !round_floats(layout->state_floats, &p.state) ||
        !round_floats(layout->batch_state_floats, &p.batch_state))
        return false;
    size_t floats = 0;
    const size_t sizes[] = {p.params, p.grads, p.slots, p.state, p.batch_state, p.activations, p.fixed, p.workspace};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (!add_size(floats, sizes[i], &floats)) return false;
    if (floats > (SIZE_MAX - TDL_MODEL_HEADER_BYTES) / sizeof(float)) return false;
    p.total_bytes = TDL_MODEL_HEADER_BYTES + floats * sizeof(float);
    *parts = p;
    return true;
}

size_t tdl_model_arena_size(const tdl_model_info *info, int max_batch) {
    if (!info || max_batch < 1) return 0;
    tdl_model_arena_parts parts;
    size_t workspace = info->workspace_floats ? info->workspace_floats(max_batch) : 0;
    return tdl_model_arena_parts_of(&info->layout, max_batch, workspace, &parts) ? parts.total_bytes : 0;
}

tdl_model *tdl_model_create_in(const tdl_model_info *info, void *arena, size_t bytes, int max_batch) {
    if (!info) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_model_create_in: the model info is NULL");
        return NULL;
    }
    tdl_model_arena_parts parts;
    size_t workspace = info->workspace_floats ? info->workspace_floats(max_batch > 0 ? max_batch : 1) : 0;
    if (!tdl_model_arena_parts_of(&info->layout, max_batch, workspace, &parts)) {
        tdl_set_error(TDL_STATUS_BAD_BATCH, "%s_create: max_batch %d is out of range", info->name, max_batch);
        return NULL;
    }
    if (!arena || (uintptr_t)arena % 64 != 0 || bytes < parts.total_bytes) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s_create_in: the arena must be 64-byte aligned and hold %zu bytes",
                      info->name, parts.total_bytes);
        return NULL;
    }
    memset(arena, 0, parts.total_bytes);
    tdl_model *m = (tdl_model *)arena;
    float *next = (float *)(void *)((char *)arena + TDL_MODEL_HEADER_BYTES);
    m->info = info;
    m->max_batch = max_batch;
    m->params = next;
    next += parts.params;
    m->grads = next;
    next += parts.grads;
    m->slot1 = info->layout.optimizer_slots >= 1 ? next : NULL;
    m->slot2 = info->layout.optimizer_slots >= 2 ? next + parts.params : NULL;
    m->slot3 = info->layout.optimizer_slots >= 3 ? next + 2 * parts.params : NULL;
    next += parts.slots;
    m->state = info->layout.state_floats > 0 ? next : NULL;
    next += parts.state;
    m->batch_state = info->layout.batch_state_floats > 0 ? next : NULL;
    next += parts.batch_state;
    m->activations = next;
    next += parts.activations;
    m->fixed = next;
    next += parts.fixed;
    m->workspace = next;
    tdl_model_init(m, 0);
    return m;
}

/* --- Weights ----------------------------------------------------------------------- */

/* The learning rate of the update after `step` updates, by the model's schedule. */
static float scheduled_learning_rate(const tdl_model_info *info, int64_t step) {
    if (info->schedule.kind == TDL_SCHEDULE_CONSTANT) return info->learning_rate;
    return tdl_lr_schedule_at(&info->schedule, step);
}

void tdl_model_init(tdl_model *m, uint64_t seed) {
    if (!m) return;
    const tdl_model_info *info = m->info;
    tdl_rng rng;
    tdl_rng_seed(&rng, seed, 0);
    for (int i = 0; i < info->param_tensors; i++) {
        const tdl_param_info *p = &info->params[i];
        tdl_init_fill(m->params + p->offset, p->count, p->init, p->fan_in, p->fan_out, &rng);
    }
    /* After every parameter: the parameters draw the same numbers with or without state. */
    for (int i = 0; i < info->state_tensors; i++) {
        const tdl_state_info *s = &info->state[i];
        tdl_init_fill(m->state + s->offset, s->count, s->init, s->fan_in, s->fan_out, &rng);
    }
    if (m->batch_state) tdl_zero(m->batch_state, info->layout.batch_state_floats);
    tdl_zero(m->grads, info->layout.grad_floats);
    if (m->slot1) tdl_zero(m->slot1, info->layout.param_floats);
    if (m->slot2) tdl_zero(m->slot2, info->layout.param_floats);
    if (m->slot3) tdl_zero(m->slot3, info->layout.param_floats);
    m->step = 0;
    m->learning_rate_fixed = 0;
    m->learning_rate = scheduled_learning_rate(info, 0);
    tdl_rng_seed(&m->dropout_rng, seed, 1);
}

/* --- Entry points -------------------------------------------------------------------- */

tdl_status tdl_model_check_call(const tdl_model *m, int batch, const char *function, tdl_model_entry entry,
                                const void *const *inputs) {
    if (!m) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model is NULL", function);
    if (batch < 1 || batch > m->max_batch)
        return tdl_set_error(TDL_STATUS_BAD_BATCH,
                             "%s: batch %d is outside [1, %d], the max_batch the model was created with", function,
                             batch, m->max_batch);
    for (int i = 0; i < m->info->input_count; i++)
        if ((m->info->inputs[i].entries & (unsigned)entry) && !inputs[i])
            return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: input '%s' is NULL", function,
                                 m->info->inputs[i].name);
    return TDL_STATUS_OK;
}

/* finite_all over the gradients that no kernel proved finite in this step
 * (proofs, NULL outside one), split as the step owns them: each thread
 * reads the kernel rows whose gradients it wrote. */
typedef struct finite_job {
    const float *x;
    const finite_proofs *proofs;
    atomic_bool failed;
} finite_job;

static void finite_range(void *context, size_t begin, size_t end) {
    finite_job *j = context;
    if (!finite_all_unproven(j->proofs, j->x, begin, end))
        atomic_store_explicit(&j->failed, true, memory_order_relaxed);
}

static bool gradients_finite(const tdl_model *m, const finite_proofs *proofs) {
    finite_job job = {m->grads, proofs, false};
    param_split_run(m->info, PARAM_SPLIT_MIN_FLAT_FLOATS, finite_range, &job);
    return !atomic_load(&job.failed);
}

/* m->grads times scale, split as the step owns them: each thread scales
 * the kernel rows whose gradients it wrote, which the finiteness check and
 * the update then read on the same core. Scaled by the caller alone, the
 * MLP's apply_gradients(m, 0.0f) right after compute_gradients at batch
 * 32 on two threads took 287-290 us, as the caller pulled the other core's
 * rows over and that core pulled them back for the update; split, 104-107
 * us, against 86-90 for apply_gradients(m, 1.0f), which skips the scaling. */
typedef struct scale_job {
    float *x;
    float scale;
} scale_job;

static void scale_range(void *context, size_t begin, size_t end) {
    const scale_job *j = context;
    tdl_scale(j->x + begin, j->scale, end - begin);
}

static void scale_gradients(tdl_model *m, float scale) {
    scale_job job = {m->grads, scale};
    param_split_run(m->info, PARAM_SPLIT_MIN_FLAT_FLOATS, scale_range, &job);
}

/* Why a train step must not update: the loss, a batch statistic or the
 * first gradient tensor that is not finite. proofs: the gradients the
 * step's kernels proved finite, or NULL. */
static tdl_status check_finite(const tdl_model *m, const char *function, float loss, const finite_proofs *proofs) {
    if (!isfinite(loss))
        return tdl_set_error(TDL_STATUS_NOT_FINITE, "%s: the loss is %g; nothing was updated", function,
                             (double)loss);
    const tdl_model_info *info = m->info;
    for (int t = 0; t < info->state_tensors; t++)
        if (!finite_all(m->batch_state + info->state[t].offset, info->state[t].count))
            return tdl_set_error(TDL_STATUS_NOT_FINITE,
                                 "%s: the batch's statistic for '%s' is not finite; nothing was updated", function,
                                 info->state[t].name);
    if (gradients_finite(m, proofs)) return TDL_STATUS_OK;
    for (int t = 0; t < info->param_tensors; t++)
        if (!finite_all(m->grads + info->params[t].offset, info->params[t].count))
            return tdl_set_error(TDL_STATUS_NOT_FINITE,
                                 "%s: the gradient of '%s' is not finite; nothing was updated", function,
                                 info->params[t].name);
    return TDL_STATUS_OK;
}

int tdl_model_slot_names(const tdl_model_info *info, const char *names[3]) {
    int count = 0;
    if (!info || !names) return 0;
    if (info->optimizer == TDL_OPTIMIZER_SGD && info->layout.optimizer_slots >= 1) {
        names[count++] = "momentum";
    } else if (info->optimizer == TDL_OPTIMIZER_ADAM) {
        names[count++] = "momentum";
        names[count++] = "velocity";
        if (info->adam.amsgrad) names[count++] = "velocity_hat";
    } else if (info->optimizer == TDL_OPTIMIZER_RMSPROP) {
        names[count++] = "velocity";
        if (info->rmsprop.momentum != 0.0f) names[count++] = "momentum";
        if (info->rmsprop.centered) names[count++] = "average_gradient";
    }
    return count < info->layout.optimizer_slots ? count : info->layout.optimizer_slots;
}

/* Keras' clipping of m->grads: per tensor, over all of them, or elementwise. */
static void clip_gradients(tdl_model *m) {
    const tdl_model_info *info = m->info;
    const tdl_clip_config *clip = &info->clip;
    if (clip->clipnorm > 0.0f) {
        for (int t = 0; t < info->param_tensors; t++) {
            float *g = m->grads + info->params[t].offset;
            size_t count = info->params[t].count;
            tdl_clip_by_norm(g, count, tdl_sum_of_squares(g, count), clip->clipnorm);
        }
    } else if (clip->global_clipnorm > 0.0f) {
        double total = 0.0;
        for (int t = 0; t < info->param_tensors; t++)
            total += tdl_sum_of_squares(m->grads + info->params[t].offset, info->params[t].count);
        for (int t = 0; t < info->param_tensors; t++)
            tdl_clip_by_global_norm(m->grads + info->params[t].offset, info->params[t].count, total,
                                    clip->global_clipnorm);
    } else if (clip->clipvalue > 0.0f) {
        tdl_clip_by_value(m->grads, info->layout.param_floats, clip->clipvalue);
    }
}

/* The optimizer step on m->grads, whose every value is finite: clipping,
 * the learning rate of this update, the update; then the moving statistics
 * from the batch's (m->batch_state, also finite). */
static void update_parameters(tdl_model *m) {
    const tdl_model_info *info = m->info;
    clip_gradients(m);
    if (!m->learning_rate_fixed) m->learning_rate = scheduled_learning_rate(info, m->step);
    m->step += 1;
    if (info->optimizer == TDL_OPTIMIZER_ADAM) {
        tdl_adam_config config = info->adam;
        config.learning_rate = m->learning_rate;
        optim_adam_step_owned(info, m->params, m->slot1, m->slot2, config.amsgrad ? m->slot3 : NULL, m->grads,
                              &config, m->step);
    } else if (info->optimizer == TDL_OPTIMIZER_RMSPROP) {
        tdl_rmsprop_config config = info->rmsprop;
        config.learning_rate = m->learning_rate;
        float *momentum = config.momentum != 0.0f ? m->slot2 : NULL;
        float *average = config.centered ? (momentum ? m->slot3 : m->slot2) : NULL;
        optim_rmsprop_step_owned(info, m->params, m->slot1, momentum, average, m->grads, &config);
    } else if (info->optimizer == TDL_OPTIMIZER_SGD) {
        tdl_sgd_config config = info->sgd;
        config.learning_rate = m->learning_rate;
        optim_sgd_step_owned(info, m->params, m->slot1, m->grads, &config);
    }
    /* Only now, with the step known to be good, does the batch's statistic
     * reach the moving one: a failed step leaves the state as it was, and
     * gradcheck (which runs the train pass alone) never moves it. */
    for (int i = 0; i < info->state_tensors; i++) {
        const tdl_state_info *s = &info->state[i];
        tdl_batch_norm_update_moving(m->state + s->offset, m->batch_state + s->offset, s->count, s->momentum);
    }
}

static tdl_status check_trains(const tdl_model *m, const char *function) {
    if (!m->info->train_pass)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model has no optimizer or no loss", function);
    return TDL_STATUS_OK;
}

tdl_status tdl_model_compute_gradients(tdl_model *m, const char *function, int batch, const void *const *inputs,
                                       float *loss) {
    tdl_status status = tdl_model_check_call(m, batch, function, TDL_MODEL_TRAIN, inputs);
    if (status == TDL_STATUS_OK) status = check_trains(m, function);
    if (status != TDL_STATUS_OK) return status;
    tdl_rng saved_rng = m->dropout_rng;
    float total = 0.0f;
    finite_proofs proofs = {0};
    const param_split_step step = {m->info, m->params, m->grads, &proofs};
    tdl_team_set_training_step(true);
    tdl_team_set_step_model(&step);
    status = m->info->train_pass(m, batch, inputs, &total, 1);
    tdl_team_set_step_model(NULL);
    tdl_team_set_training_step(false);
    if (status == TDL_STATUS_OK) status = check_finite(m, function, total, &proofs);
    if (status != TDL_STATUS_OK) {
        m->dropout_rng = saved_rng; /* nothing changed */
        return status;
    }
    if (loss) *loss = total;
    return TDL_STATUS_OK;
}

tdl_status tdl_model_apply_gradients(tdl_model *m, const char *function, float scale) {
    if (!m) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model is NULL", function);
    tdl_status status = check_trains(m, function);
    if (status != TDL_STATUS_OK) return status;
    if (!isfinite(scale))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the scale %g is not finite", function, (double)scale);
    /* x * 1 is x exactly, so skipping it changes nothing but the time. */
    if (scale != 1.0f) scale_gradients(m, scale);
    /* Gradients summed over processes are checked again here: one process's
     * NaN reaches every process through the sum, and all of them refuse. */
    status = check_finite(m, function, 0.0f, NULL);
    if (status != TDL_STATUS_OK) return status;
    update_parameters(m);
    return TDL_STATUS_OK;
}

tdl_status tdl_model_train_step(tdl_model *m, const char *function, int batch, const void *const *inputs,
                                float *loss) {
    tdl_status status = tdl_model_compute_gradients(m, function, batch, inputs, loss);
    if (status != TDL_STATUS_OK) return status;
    update_parameters(m);
    return TDL_STATUS_OK;
}

float *tdl_model_parameters(tdl_model *m, size_t *count) {
    if (count) *count = m ? m->info->layout.param_floats : 0;
    return m ? m->params : NULL;
}

float *tdl_model_gradients(tdl_model *m, size_t *count) {
    bool trains = m && m->info->train_pass;
    if (count) *count = trains ? m->info->layout.grad_floats : 0;
    return trains ? m->grads : NULL;
}

float *tdl_model_state(tdl_model *m, size_t *count) {
    size_t n = m && m->state ? m->info->layout.state_floats : 0;
    if (count) *count = n;
    return n > 0 ? m->state : NULL;
}

tdl_status tdl_model_set_learning_rate(tdl_model *m, const char *function, float learning_rate) {
    if (!m) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model is NULL", function);
    if (!isfinite(learning_rate) || learning_rate < 0.0f)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the learning rate %g is not a finite number >= 0",
                             function, (double)learning_rate);
    m->learning_rate = learning_rate;
    m->learning_rate_fixed = 1;
    return TDL_STATUS_OK;
}

/* --- gradcheck ------------------------------------------------------------------------ */

/* Each parameter tensor is checked along GRADCHECK_DIRECTIONS random +-1
 * directions at three steps (STEP, STEP / 10, STEP / 30), each with the
 * 2-point and the 4-point central difference (the 4-point one's O(h^4)
 * truncation error is negligible at STEP, where the 2-point one's reaches
 * 6e-3 relative on a smooth tanh network; the 2-point one crosses fewer
 * kinks at the small steps). A tensor's error is its best (direction, step,
 * stencil): a wrong gradient is wrong along every direction and step, while
 * a relu/max kink crossed by a perturbation spoils only some of them.
 * Differences within the float rounding noise of the loss
 * (FLT_EPSILON * |loss| / h) count as agreement, so that a derivative that
 * is zero up to rounding is not a relative error of 1. The originals are
 * parked in m->grads: nothing is allocated. */
enum { GRADCHECK_DIRECTIONS = 4 };
#define GRADCHECK_STEP 1e-2

/* p[i] = original[i] + h * d[i], d[i] = +-1 from the direction's own stream. */
static void perturb(float *param, const float *original, size_t count, double h, uint64_t stream) {
    tdl_rng rng;
    tdl_rng_seed(&rng, 0x5eedULL, stream);
    for (size_t i = 0; i < count; i++)
        param[i] = (float)((double)original[i] + ((tdl_rng_next_u32(&rng) & 1u) ? h : -h));
}

static double directional(const float *grad, size_t count, uint64_t stream) {
    tdl_rng rng;
    tdl_rng_seed(&rng, 0x5eedULL, stream);
    double sum = 0.0;
    for (size_t i = 0; i < count; i++) sum += (tdl_rng_next_u32(&rng) & 1u) ? grad[i] : -grad[i];
    return sum;
}

/* Parameter tensor t along direction `stream` with step h: the relative
 * difference between the analytic and the numeric derivatives, beyond the
 * rounding noise of the loss. */
static tdl_status gradcheck_tensor(tdl_model *m, int batch, const void *const *inputs, int t, uint64_t stream,
                                   double h, double analytic, tdl_rng saved_rng, double *error) {
    const tdl_param_info *info = &m->info->params[t];
    float *param = m->params + info->offset;
    const float *original = m->grads + info->offset;
    const double offsets[4] = {h, -h, 2.0 * h, -2.0 * h};
    double losses[4] = {0.0, 0.0, 0.0, 0.0}, largest = 0.0;
    tdl_status status = TDL_STATUS_OK;
    for (int k = 0; k < 4 && status == TDL_STATUS_OK; k++) {
        float value = 0.0f;
        perturb(param, original, info->count, offsets[k], stream);
        m->dropout_rng = saved_rng;
        status = m->info->train_pass(m, batch, inputs, &value, 0);
        losses[k] = value;
        if (fabs(losses[k]) > largest) largest = fabs(losses[k]);
    }
    memcpy(param, original, info->count * sizeof *param);
    if (status != TDL_STATUS_OK) return status;
    const double numeric[2] = {(losses[0] - losses[1]) / (2.0 * h),
                               (8.0 * (losses[0] - losses[1]) - (losses[2] - losses[3])) / (12.0 * h)};
    const double noise = 1.1920928955078125e-07 * largest / h; /* FLT_EPSILON * |loss| / h */
    *error = -1.0;
    for (int k = 0; k < 2; k++) {
        double scale = fabs(analytic) > fabs(numeric[k]) ? fabs(analytic) : fabs(numeric[k]);
        double beyond = fabs(analytic - numeric[k]) - noise;
        double e = scale > 0.0 && beyond > 0.0 ? beyond / scale : 0.0;
        if (*error < 0.0 || e < *error) *error = e;
    }
    return TDL_STATUS_OK;
}

double tdl_model_gradcheck(tdl_model *m, const char *function, int batch, const void *const *inputs) {
    if (tdl_model_check_call(m, batch, function, TDL_MODEL_TRAIN, inputs) != TDL_STATUS_OK ||
        check_trains(m, function) != TDL_STATUS_OK)
        return -1.0;
    const tdl_model_info *info = m->info;
    const double steps[3] = {GRADCHECK_STEP, GRADCHECK_STEP / 10.0, GRADCHECK_STEP / 30.0};
    tdl_rng saved_rng = m->dropout_rng;
    float loss = 0.0f;
    tdl_status status = info->train_pass(m, batch, inputs, &loss, 1);
    double worst = 0.0;
    for (int t = 0; status == TDL_STATUS_OK && t < info->param_tensors; t++) {
        const tdl_param_info *p = &info->params[t];
        double analytic[GRADCHECK_DIRECTIONS];
        for (int k = 0; k < GRADCHECK_DIRECTIONS; k++)
            analytic[k] = directional(m->grads + p->offset, p->count, (uint64_t)(t * GRADCHECK_DIRECTIONS + k));
        /* The analytic derivatives of the later tensors are still needed:
         * park this tensor's originals in its own gradient slot only. */
        memcpy(m->grads + p->offset, m->params + p->offset, p->count * sizeof *m->grads);
        double best = -1.0;
        for (int s = 0; s < 3 && best != 0.0 && status == TDL_STATUS_OK; s++)
            for (int k = 0; k < GRADCHECK_DIRECTIONS && best != 0.0 && status == TDL_STATUS_OK; k++) {
                double error = 0.0;
                status = gradcheck_tensor(m, batch, inputs, t, (uint64_t)(t * GRADCHECK_DIRECTIONS + k), steps[s],
                                          analytic[k], saved_rng, &error);
                if (best < 0.0 || error < best) best = error;
            }
        if (best > worst) worst = best;
    }
    tdl_zero(m->grads, info->layout.grad_floats);
    m->dropout_rng = saved_rng;
    return status == TDL_STATUS_OK ? worst : -1.0;
}
