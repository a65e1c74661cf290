/* Optimizer steps with the update rules of Keras 3 (keras.optimizers.SGD and
 * Adam), including its decoupled weight decay, which shrinks every parameter
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

/* param, m, v, grad: (n); step counts from 1 (a smaller step is taken as 1). */
void tdl_adam_step(float *param, float *m, float *v, const float *grad, size_t n,
                   const tdl_adam_config *c, int64_t step) {
    if (param == NULL || m == NULL || v == NULL || grad == NULL || c == NULL) {
        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_adam_step: NULL parameter, moment, gradient or config");
        return;
    }
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
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        /* Keras' form of m = b1 m + (1 - b1) g and v = b2 v + (1 - b2) g^2. */
        m[i] += (g - m[i]) * one_minus_beta_1;
        v[i] += (g * g - v[i]) * one_minus_beta_2;
        param[i] -= lr_t * m[i] / (sqrtf(v[i]) + c->epsilon);
    }
}
