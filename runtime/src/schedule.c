/* Learning-rate schedules with the formulas of keras.optimizers.schedules
 * (ExponentialDecay, PiecewiseConstantDecay, CosineDecay with its warmup),
 * evaluated at the number of updates already taken, as Keras evaluates them
 * at the optimizer's iterations before the increment. */
#include "tdl/runtime.h"

#include <math.h>

static double exponential_decay(const tdl_lr_schedule *s, double step) {
    double exponent = step / (double)s->decay_steps;
    if (s->staircase) exponent = floor(exponent);
    return (double)s->initial_learning_rate * pow((double)s->decay_rate, exponent);
}

static double piecewise_constant(const tdl_lr_schedule *s, int64_t step) {
    /* values[i] while step <= boundaries[i]; the last value past them all. */
    for (int i = 0; i < s->boundary_count; i++)
        if (step <= s->boundaries[i]) return (double)s->values[i];
    return (double)s->values[s->boundary_count];
}

static double cosine_decay(const tdl_lr_schedule *s, double step) {
    double decay_steps = (double)s->decay_steps;
    double warmup_steps = s->warmup ? (double)s->warmup_steps : 0.0;
    double peak = s->warmup ? (double)s->warmup_target : (double)s->initial_learning_rate;
    if (step > decay_steps + warmup_steps) step = decay_steps + warmup_steps;
    if (step < warmup_steps) {
        double initial = (double)s->initial_learning_rate;
        return (peak - initial) * (step / warmup_steps) + initial;
    }
    double completed = (step - warmup_steps) / decay_steps;
    double cosine = 0.5 * (1.0 + cos(3.14159265358979323846 * completed));
    double alpha = (double)s->alpha;
    return peak * ((1.0 - alpha) * cosine + alpha);
}

float tdl_lr_schedule_at(const tdl_lr_schedule *schedule, int64_t step) {
    if (schedule == NULL) return 0.0f;
    if (step < 0) step = 0;
    switch (schedule->kind) {
    case TDL_SCHEDULE_EXPONENTIAL_DECAY:
        return schedule->decay_steps > 0 ? (float)exponential_decay(schedule, (double)step) : 0.0f;
    case TDL_SCHEDULE_PIECEWISE_CONSTANT:
        return schedule->values != NULL && schedule->boundary_count >= 0 &&
                       (schedule->boundary_count == 0 || schedule->boundaries != NULL)
                   ? (float)piecewise_constant(schedule, step)
                   : 0.0f;
    case TDL_SCHEDULE_COSINE_DECAY:
        return schedule->decay_steps > 0 ? (float)cosine_decay(schedule, (double)step) : 0.0f;
    case TDL_SCHEDULE_CONSTANT:
        break;
    }
    return schedule->initial_learning_rate;
}
