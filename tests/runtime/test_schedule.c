/* Learning-rate schedules at several steps against the formulas of
 * keras.optimizers.schedules, evaluated here by hand (comments) and by an
 * independent double-precision transcription of Keras' code. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdl/runtime.h"

#define PI 3.14159265358979323846

/* ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5): 0.1 * 0.5^(step/10). */
static void test_exponential_decay(void **state) {
    (void)state;
    tdl_lr_schedule s = {.kind = TDL_SCHEDULE_EXPONENTIAL_DECAY, .initial_learning_rate = 0.1f,
                         .decay_steps = 10, .decay_rate = 0.5f};
    assert_float_equal(tdl_lr_schedule_at(&s, 0), 0.1f, 0.0f);
    assert_float_equal(tdl_lr_schedule_at(&s, 10), 0.05f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 5), 0.1 * pow(0.5, 0.5), 1e-8);
    assert_float_equal(tdl_lr_schedule_at(&s, 25), 0.1 * pow(0.5, 2.5), 1e-8);
    assert_float_equal(tdl_lr_schedule_at(&s, 1000), 0.1 * pow(0.5, 100.0), 1e-30);
    /* staircase: the exponent floored, so steps 10..19 share 0.05. */
    s.staircase = true;
    assert_float_equal(tdl_lr_schedule_at(&s, 9), 0.1f, 0.0f);
    assert_float_equal(tdl_lr_schedule_at(&s, 10), 0.05f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 19), 0.05f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 20), 0.025f, 1e-9f);
    /* A negative step counts as 0. */
    assert_float_equal(tdl_lr_schedule_at(&s, -5), 0.1f, 0.0f);
}

/* PiecewiseConstantDecay([10, 20], [1.0, 0.5, 0.1]): 1.0 up to step 10
 * (included, as Keras' step <= boundary), 0.5 up to 20, then 0.1. */
static void test_piecewise_constant(void **state) {
    (void)state;
    const int64_t boundaries[2] = {10, 20};
    const float values[3] = {1.0f, 0.5f, 0.1f};
    tdl_lr_schedule s = {.kind = TDL_SCHEDULE_PIECEWISE_CONSTANT, .boundary_count = 2, .boundaries = boundaries,
                         .values = values};
    const int64_t steps[] = {0, 9, 10, 11, 20, 21, 1000000};
    const float want[] = {1.0f, 1.0f, 1.0f, 0.5f, 0.5f, 0.1f, 0.1f};
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        assert_float_equal(tdl_lr_schedule_at(&s, steps[i]), want[i], 0.0f);
}

/* Keras' CosineDecay.__call__ in double, written out as its source has it. */
static double keras_cosine(double initial, double decay_steps, double alpha, int warmup, double target,
                           double warmup_steps, double step) {
    if (!warmup) {
        step = fmin(step, decay_steps);
        double decayed = (1 - alpha) * 0.5 * (1.0 + cos(PI * step / decay_steps)) + alpha;
        return initial * decayed;
    }
    step = fmin(step, decay_steps + warmup_steps);
    if (step < warmup_steps) return (target - initial) * (step / warmup_steps) + initial;
    double decayed = (1 - alpha) * 0.5 * (1.0 + cos(PI * (step - warmup_steps) / decay_steps)) + alpha;
    return target * decayed;
}

static void test_cosine_decay(void **state) {
    (void)state;
    /* CosineDecay(0.1, decay_steps=100, alpha=0.1): 0.1 at 0, 0.055 at 50, 0.01 from 100 on. */
    tdl_lr_schedule s = {.kind = TDL_SCHEDULE_COSINE_DECAY, .initial_learning_rate = 0.1f, .decay_steps = 100,
                         .alpha = 0.1f};
    assert_float_equal(tdl_lr_schedule_at(&s, 0), 0.1f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 50), 0.055f, 1e-8f);
    assert_float_equal(tdl_lr_schedule_at(&s, 100), 0.01f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 500), 0.01f, 1e-9f);
    const int64_t steps[] = {1, 7, 33, 99};
    for (size_t i = 0; i < 4; i++)
        assert_float_equal(tdl_lr_schedule_at(&s, steps[i]),
                           keras_cosine(0.1f, 100, 0.1f, 0, 0, 0, (double)steps[i]), 1e-8);
}

/* CosineDecay(0.0, decay_steps=10, warmup_target=0.1, warmup_steps=5): a
 * linear rise to 0.1 over 5 steps, then the cosine from 0.1 to 0. */
static void test_cosine_decay_warmup(void **state) {
    (void)state;
    tdl_lr_schedule s = {.kind = TDL_SCHEDULE_COSINE_DECAY, .initial_learning_rate = 0.0f, .decay_steps = 10,
                         .warmup = true, .warmup_target = 0.1f, .warmup_steps = 5};
    assert_float_equal(tdl_lr_schedule_at(&s, 0), 0.0f, 0.0f);
    assert_float_equal(tdl_lr_schedule_at(&s, 2), 0.04f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 5), 0.1f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 10), 0.05f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 15), 0.0f, 1e-9f);
    assert_float_equal(tdl_lr_schedule_at(&s, 40), 0.0f, 1e-9f);
    for (int64_t step = 0; step < 20; step += 3)
        assert_float_equal(tdl_lr_schedule_at(&s, step), keras_cosine(0.0, 10, 0.0, 1, 0.1f, 5, (double)step),
                           1e-8);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exponential_decay),
        cmocka_unit_test(test_piecewise_constant),
        cmocka_unit_test(test_cosine_decay),
        cmocka_unit_test(test_cosine_decay_warmup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
