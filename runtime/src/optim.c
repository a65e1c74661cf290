/* Optimizer steps with the update rules of Keras 3 (keras.optimizers.SGD,
 * Adam with amsgrad, AdamW, which is Adam with a weight decay, and RMSprop), including its decoupled weight decay, which shrinks every parameter
 * by lr * weight_decay * p before the gradient step.
 *
 * A step reads and writes every parameter and slot once and does little
 * arithmetic per element, so it is bound by memory traffic: each rule is a
 * loop over a range of elements with restrict pointers (one vector loop, no
 * branch inside), and the team splits the parameters into ranges. Every
 * element is computed by the same expressions whatever the split, so results
 * do not depend on the thread count. */
#include "optim_internal.h"
#include "param_split.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"
#include "warm.h"

#include <math.h>
#include <stdbool.h>

/* Below this many parameters per thread a step on arrays of no model stays
 * on fewer threads. The parameters, gradients and slots were last written
 * by whichever threads computed the gradients, and a second thread stepping
 * half of them pays for bringing them over: the MLP's 670k parameters
 * (bench_models --model mlp --mode train --threads 2, three alternating
 * runs, before its kernels were owned by rows) took 1.6-2.0 ms a step at
 * batch 32 with a threshold of 256k, 1.1-1.3 ms with 1M (one thread), the
 * same within noise at batch 128. */
#define MIN_THREAD_PARAMS 1048576.0

/* A step's parameters were read by every thread of the team in the forward
 * and backward passes: the kernels of layers too small to own by rows
 * (owned_rows.h), the biases, the convolutions' filters. Each other core
 * then holds a copy of those lines, and the optimizer's thread, writing
 * them one line after the other, waits for each copy to be given up in
 * turn. Claimed for writing a chunk ahead (warm_for_writing), the lines
 * come over side by side. On an Intel Xeon guest with its two cores
 * 120-210 ns apart, LeNet-5's update at batch 128 on two threads took 35-45
 * us a step, its 120 -> 84 kernel alone 25 us on thread 0 (2.4 ns a
 * float, against 0.5 for the owned rows of the 400 -> 120), and 16-22 us
 * claimed. On one thread no other core has a copy, and the claims cost 1-3
 * us of LeNet-5's 24: they are left out there. */
enum { CLAIM_FLOATS = 1024 };

typedef struct claimed_job {
    float *param;
    tdl_team_items_fn range;
    void *job;
} claimed_job;

static size_t claim_end(size_t begin, size_t end) {
    return end - begin > CLAIM_FLOATS ? begin + CLAIM_FLOATS : end;
}

/* range over [begin, end) in chunks of CLAIM_FLOATS, each chunk's
 * parameters claimed while the chunk before it is stepped. Each element
 * gets the same expressions, whatever the chunks. */
static void claimed_range(void *context, size_t begin, size_t end) {
    const claimed_job *c = context;
    if (begin >= end) return;
    warm_for_writing(c->param + begin, (claim_end(begin, end) - begin) * sizeof(float));
    while (begin < end) {
        const size_t stop = claim_end(begin, end);
        if (stop < end) warm_for_writing(c->param + stop, (claim_end(stop, end) - stop) * sizeof(float));
        c->range(c->job, begin, stop);
        begin = stop;
    }
}

/* Runs range over [0, n): in contiguous shares, or, for a model's step, as
 * the model's training step owns its parameters (param_split.c), which
 * keeps each core on the kernel rows it computed the gradients of. */
static void split_params(const tdl_model_info *model, size_t n, float *param, tdl_team_items_fn range, void *job) {
    claimed_job claimed = {param, range, job};
    if (tdl_team_threads() > 1) {
        range = claimed_range;
        job = &claimed;
    }
    if (model != NULL)
        param_split_run(model, PARAM_SPLIT_MIN_FLAT_FLOATS, range, job);
    else
        tdl_team_split(n, 1.0, MIN_THREAD_PARAMS, range, job);
}

/* p: (n) -= lr * weight_decay * p */
TDL_VECTOR_CLONES static void apply_weight_decay(float *restrict param, size_t n, float learning_rate,
                                                 float weight_decay) {
    if (weight_decay == 0.0f)
        return;
    float shrink = learning_rate * weight_decay;
    for (size_t i = 0; i < n; i++)
        param[i] -= param[i] * shrink;
}

/* ---- SGD ------------------------------------------------------------------ */

typedef struct sgd_job {
    float *param, *velocity;
    const float *grad;
    const tdl_sgd_config *c;
} sgd_job;

TDL_VECTOR_CLONES static void sgd_plain(float *restrict param, const float *restrict grad, size_t n, float lr) {
    for (size_t i = 0; i < n; i++)
        param[i] -= lr * grad[i];
}

TDL_VECTOR_CLONES static void sgd_momentum(float *restrict param, float *restrict velocity,
                                           const float *restrict grad, size_t n, float lr, float momentum,
                                           bool nesterov) {
    if (nesterov) {
        for (size_t i = 0; i < n; i++) {
            float v = momentum * velocity[i] - lr * grad[i];
            velocity[i] = v;
            /* Nesterov looks ahead: the step uses the velocity after this update. */
            param[i] += momentum * v - lr * grad[i];
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = momentum * velocity[i] - lr * grad[i];
        velocity[i] = v;
        param[i] += v;
    }
}

static void sgd_range(void *context, size_t begin, size_t end) {
    const sgd_job *j = context;
    const tdl_sgd_config *c = j->c;
    const size_t n = end - begin;
    apply_weight_decay(j->param + begin, n, c->learning_rate, c->weight_decay);
    if (c->momentum == 0.0f)
        sgd_plain(j->param + begin, j->grad + begin, n, c->learning_rate);
    else
        sgd_momentum(j->param + begin, j->velocity + begin, j->grad + begin, n, c->learning_rate, c->momentum,
                     c->nesterov);
}

/* param, velocity, grad: (n). velocity is only read when momentum != 0. */
static void sgd_step(const tdl_model_info *model, float *param, float *velocity, const float *grad, size_t n,
                     const tdl_sgd_config *c) {
    if (param == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_sgd_step: NULL parameter, gradient or config");
        return;
    }
    if (c->momentum != 0.0f && velocity == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_sgd_step: momentum %g needs a velocity buffer",
                      (double)c->momentum);
        return;
    }
    sgd_job job = {param, velocity, grad, c};
    split_params(model, n, param, sgd_range, &job);
}

void tdl_sgd_step(float *param, float *velocity, const float *grad, size_t n, const tdl_sgd_config *c) {
    sgd_step(NULL, param, velocity, grad, n, c);
}

void optim_sgd_step_owned(const tdl_model_info *model, float *param, float *velocity, const float *grad,
                          const tdl_sgd_config *c) {
    sgd_step(model, param, velocity, grad, model->layout.param_floats, c);
}

/* ---- Adam, AdamW ---------------------------------------------------------- */

typedef struct adam_job {
    float *param, *m, *v, *v_hat;
    const float *grad;
    const tdl_adam_config *c;
    float lr_t, one_minus_beta_1, one_minus_beta_2;
} adam_job;

TDL_VECTOR_CLONES static void adam_plain(float *restrict param, float *restrict m, float *restrict v,
                                         const float *restrict grad, size_t n, const adam_job *j) {
    const float lr_t = j->lr_t, one_minus_beta_1 = j->one_minus_beta_1, one_minus_beta_2 = j->one_minus_beta_2;
    const float epsilon = j->c->epsilon;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        /* Keras' form of m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2. */
        m[i] += (g - m[i]) * one_minus_beta_1;
        v[i] += (g * g - v[i]) * one_minus_beta_2;
        param[i] -= lr_t * m[i] / (sqrtf(v[i]) + epsilon);
    }
}

TDL_VECTOR_CLONES static void adam_amsgrad(float *restrict param, float *restrict m, float *restrict v,
                                           float *restrict v_hat, const float *restrict grad, size_t n,
                                           const adam_job *j) {
    const float lr_t = j->lr_t, one_minus_beta_1 = j->one_minus_beta_1, one_minus_beta_2 = j->one_minus_beta_2;
    const float epsilon = j->c->epsilon;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        m[i] += (g - m[i]) * one_minus_beta_1;
        v[i] += (g * g - v[i]) * one_minus_beta_2;
        v_hat[i] = fmaxf(v_hat[i], v[i]);
        param[i] -= lr_t * m[i] / (sqrtf(v_hat[i]) + epsilon);
    }
}

static void adam_range(void *context, size_t begin, size_t end) {
    const adam_job *j = context;
    const size_t n = end - begin;
    apply_weight_decay(j->param + begin, n, j->c->learning_rate, j->c->weight_decay);
    if (j->v_hat == NULL)
        adam_plain(j->param + begin, j->m + begin, j->v + begin, j->grad + begin, n, j);
    else
        adam_amsgrad(j->param + begin, j->m + begin, j->v + begin, j->v_hat + begin, j->grad + begin, n, j);
}

/* param, m, v, grad: (n), v_hat too when not NULL (amsgrad); step counts
 * from 1 (a smaller step is taken as 1). */
static void adam_update(const tdl_model_info *model, float *param, float *m, float *v, float *v_hat,
                        const float *grad, size_t n, const tdl_adam_config *c, int64_t step) {
    if (step < 1)
        step = 1;
    /* The bias corrections in double: beta_2^t is within 1e-3 of 1 for the
     * first steps, where float would lose most of 1 - beta_2^t. */
    const double t = (double)step;
    const double beta_1_power = pow((double)c->beta_1, t);
    const double beta_2_power = pow((double)c->beta_2, t);
    adam_job job = {param, m, v, v_hat, grad, c,
                    (float)((double)c->learning_rate * sqrt(1.0 - beta_2_power) / (1.0 - beta_1_power)),
                    1.0f - c->beta_1, 1.0f - c->beta_2};
    split_params(model, n, param, adam_range, &job);
}

void tdl_adam_step(float *param, float *m, float *v, const float *grad, size_t n,
                   const tdl_adam_config *c, int64_t step) {
    if (param == NULL || m == NULL || v == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_adam_step: NULL parameter, moment, gradient or config");
        return;
    }
    adam_update(NULL, param, m, v, NULL, grad, n, c, step);
}

void tdl_adam_amsgrad_step(float *param, float *m, float *v, float *v_hat, const float *grad, size_t n,
                           const tdl_adam_config *c, int64_t step) {
    if (param == NULL || m == NULL || v == NULL || v_hat == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                      "tdl_adam_amsgrad_step: NULL parameter, moment, v_hat, gradient or config");
        return;
    }
    adam_update(NULL, param, m, v, v_hat, grad, n, c, step);
}

void optim_adam_step_owned(const tdl_model_info *model, float *param, float *m, float *v, float *v_hat,
                           const float *grad, const tdl_adam_config *c, int64_t step) {
    adam_update(model, param, m, v, v_hat, grad, model->layout.param_floats, c, step);
}

/* ---- RMSprop -------------------------------------------------------------- */

typedef struct rmsprop_job {
    float *param, *velocity, *momentum, *average_grad;
    const float *grad;
    const tdl_rmsprop_config *c;
} rmsprop_job;

/* momentum and average_grad are read only when the config uses them (the
 * tests of c are loop-invariant: the compiler makes one loop of each case). */
TDL_VECTOR_CLONES static void rmsprop_update(float *restrict param, float *restrict velocity,
                                             float *restrict momentum, float *restrict average_grad,
                                             const float *restrict grad, size_t n, const tdl_rmsprop_config *c) {
    const float lr = c->learning_rate;
    const float rho = c->rho;
    const float one_minus_rho = 1.0f - rho;
    const float epsilon = c->epsilon, momentum_factor = c->momentum;
    const bool centered = c->centered, with_momentum = c->momentum != 0.0f;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float v = rho * velocity[i] + one_minus_rho * g * g;
        velocity[i] = v;
        float denominator;
        if (centered) {
            float a = rho * average_grad[i] + one_minus_rho * g;
            average_grad[i] = a;
            denominator = v - a * a + epsilon;
        } else {
            denominator = v + epsilon;
        }
        float increment = lr * g / sqrtf(denominator);
        if (with_momentum) {
            float mom = momentum_factor * momentum[i] + increment;
            momentum[i] = mom;
            param[i] -= mom;
        } else {
            param[i] -= increment;
        }
    }
}

static void rmsprop_range(void *context, size_t begin, size_t end) {
    const rmsprop_job *j = context;
    const size_t n = end - begin;
    apply_weight_decay(j->param + begin, n, j->c->learning_rate, j->c->weight_decay);
    rmsprop_update(j->param + begin, j->velocity + begin, j->momentum != NULL ? j->momentum + begin : NULL,
                   j->average_grad != NULL ? j->average_grad + begin : NULL, j->grad + begin, n, j->c);
}

/* param, velocity, grad: (n); momentum and average_grad (n) when the config
 * uses them, else they may be NULL. */
static void rmsprop_step(const tdl_model_info *model, float *param, float *velocity, float *momentum,
                         float *average_grad, const float *grad, size_t n, const tdl_rmsprop_config *c) {
    if (param == NULL || velocity == NULL || grad == NULL || c == NULL ||
        (c->momentum != 0.0f && momentum == NULL) || (c->centered && average_grad == NULL)) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                      "tdl_rmsprop_step: NULL parameter, velocity, gradient or config, or a slot its settings need");
        return;
    }
    rmsprop_job job = {param, velocity, momentum, average_grad, grad, c};
    split_params(model, n, param, rmsprop_range, &job);
}

void tdl_rmsprop_step(float *param, float *velocity, float *momentum, float *average_grad, const float *grad,
                      size_t n, const tdl_rmsprop_config *c) {
    rmsprop_step(NULL, param, velocity, momentum, average_grad, grad, n, c);
}

void optim_rmsprop_step_owned(const tdl_model_info *model, float *param, float *velocity, float *momentum,
                              float *average_grad, const float *grad, const tdl_rmsprop_config *c) {
    rmsprop_step(model, param, velocity, momentum, average_grad, grad, model->layout.param_floats, c);
}
