/* Optimizer steps with the update rules of Keras 3 (keras.optimizers.SGD,
 * Adam with amsgrad, AdamW, which is Adam with a weight decay, and RMSprop), including its decoupled weight decay, which shrinks every parameter
 * by lr * weight_decay * p before the gradient step. */
#include "tdl/runtime.h"

#include <math.h>

/* p: (n) -= lr * weight_decay * p */
static void apply_weight_decay(float *param, size_t n, float learning_rate, float weight_decay) {
    if (weight_decay == 0.0f)
        return;
    float shrink = learning_rate * weight_decay;
    for (size_t i = 0; i < n; i++)
        param[i] -= param[i] * shrink;
}

/* param, velocity, grad: (n). velocity is only read when momentum != 0. */
void tdl_sgd_step(float *param, float *velocity, const float *grad, size_t n, const tdl_sgd_config *c) {
    if (param == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_sgd_step: NULL parameter, gradient or config");
        return;
    }
    if (c->momentum != 0.0f && velocity == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_sgd_step: momentum %g needs a velocity buffer",
                      (double)c->momentum);
        return;
    }
    const float lr = c->learning_rate;
    const float momentum = c->momentum;
    apply_weight_decay(param, n, lr, c->weight_decay);

    if (momentum == 0.0f) {
        for (size_t i = 0; i < n; i++)
            param[i] -= lr * grad[i];
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float v = momentum * velocity[i] - lr * grad[i];
        velocity[i] = v;
        /* Nesterov looks ahead: the step uses the velocity after this update. */
        param[i] += c->nesterov ? momentum * v - lr * grad[i] : v;
    }
}

/* param, m, v, grad: (n), v_hat too when not NULL (amsgrad); step counts
 * from 1 (a smaller step is taken as 1). */
static void adam_update(float *param, float *m, float *v, float *v_hat, const float *grad, size_t n,
                        const tdl_adam_config *c, int64_t step) {
    if (step < 1)
        step = 1;
    /* The bias corrections in double: beta_2^t is within 1e-3 of 1 for the
     * first steps, where float would lose most of 1 - beta_2^t. */
    const double t = (double)step;
    const double beta_1_power = pow((double)c->beta_1, t);
    const double beta_2_power = pow((double)c->beta_2, t);
    const float lr_t = (float)((double)c->learning_rate * sqrt(1.0 - beta_2_power) / (1.0 - beta_1_power));
    const float one_minus_beta_1 = 1.0f - c->beta_1;
    const float one_minus_beta_2 = 1.0f - c->beta_2;

    apply_weight_decay(param, n, c->learning_rate, c->weight_decay);
    if (v_hat == NULL) {
        for (size_t i = 0; i < n; i++) {
            float g = grad[i];
            /* Keras' form of m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2. */
            m[i] += (g - m[i]) * one_minus_beta_1;
            v[i] += (g * g - v[i]) * one_minus_beta_2;
            param[i] -= lr_t * m[i] / (sqrtf(v[i]) + c->epsilon);
        }
        return;
    }
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        m[i] += (g - m[i]) * one_minus_beta_1;
        v[i] += (g * g - v[i]) * one_minus_beta_2;
        v_hat[i] = fmaxf(v_hat[i], v[i]);
        param[i] -= lr_t * m[i] / (sqrtf(v_hat[i]) + c->epsilon);
    }
}

void tdl_adam_step(float *param, float *m, float *v, const float *grad, size_t n,
                   const tdl_adam_config *c, int64_t step) {
    if (param == NULL || m == NULL || v == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_adam_step: NULL parameter, moment, gradient or config");
        return;
    }
    adam_update(param, m, v, NULL, grad, n, c, step);
}

void tdl_adam_amsgrad_step(float *param, float *m, float *v, float *v_hat, const float *grad, size_t n,
                           const tdl_adam_config *c, int64_t step) {
    if (param == NULL || m == NULL || v == NULL || v_hat == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                      "tdl_adam_amsgrad_step: NULL parameter, moment, v_hat, gradient or config");
        return;
    }
    adam_update(param, m, v, v_hat, grad, n, c, step);
}

/* param, velocity, grad: (n); momentum and average_grad (n) when the config
 * uses them, else they may be NULL. */
void tdl_rmsprop_step(float *param, float *velocity, float *momentum, float *average_grad, const float *grad,
                      size_t n, const tdl_rmsprop_config *c) {
    if (param == NULL || velocity == NULL || grad == NULL || c == NULL ||
        (c->momentum != 0.0f && momentum == NULL) || (c->centered && average_grad == NULL)) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT,
                      "tdl_rmsprop_step: NULL parameter, velocity, gradient or config, or a slot its settings need");
        return;
    }
    const float lr = c->learning_rate;
    const float rho = c->rho;
    const float one_minus_rho = 1.0f - rho;
    apply_weight_decay(param, n, lr, c->weight_decay);
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        float v = rho * velocity[i] + one_minus_rho * g * g;
        velocity[i] = v;
        float denominator;
        if (c->centered) {
            float a = rho * average_grad[i] + one_minus_rho * g;
            average_grad[i] = a;
            denominator = v - a * a + c->epsilon;
        } else {
            denominator = v + c->epsilon;
        }
        float increment = lr * g / sqrtf(denominator);
        if (c->momentum != 0.0f) {
            float mom = c->momentum * momentum[i] + increment;
            momentum[i] = mom;
            param[i] -= mom;
        } else {
            param[i] -= increment;
        }
    }
}
