/* The optimizer step of a generated model with clipping and a schedule
 * (fx_clip_schedule: SGD momentum, clipnorm 0.05 per tensor, learning rate
 * 0.1 * 0.5^step) and with RMSprop's three slots (fx_rmsprop):
 * - train_step is compute_gradients then apply_gradients(1), bit for bit;
 * - clipping comes after apply_gradients' scale: a norm clip that is active
 *   makes the update (almost) independent of the scale;
 * - the learning rate of each update follows the schedule, and
 *   set_learning_rate fixes it from then on, until init. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "fx_clip_schedule.h"
#include "fx_rmsprop.h"

enum { BATCH = 4, STEPS = 4 };

typedef struct images {
    float image[BATCH][9][10][2];
    int32_t label[BATCH];
} images;

#define INPUTS(d) (const float(*)[9][10][2])(d).image, (d).label

static void fill(images *d, uint64_t seed) {
    e2e_rng rng = {seed};
    e2e_fill_uniform(&rng, &d->image[0][0][0][0], sizeof d->image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, d->label, BATCH, 5);
}

static void test_halves_equal_train_step(void **state) {
    (void)state;
    fx_clip_schedule *a = fx_clip_schedule_create(BATCH), *b = fx_clip_schedule_create(BATCH);
    fx_rmsprop *c = fx_rmsprop_create(BATCH), *d = fx_rmsprop_create(BATCH);
    assert_true(a && b && c && d);
    fx_clip_schedule_init(a, 1);
    fx_clip_schedule_init(b, 1);
    fx_rmsprop_init(c, 2);
    fx_rmsprop_init(d, 2);
    for (int s = 0; s < STEPS; s++) {
        images data;
        fill(&data, 40u + (uint64_t)s);
        assert_int_equal(fx_clip_schedule_train_step(a, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_int_equal(fx_clip_schedule_compute_gradients(b, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_int_equal(fx_clip_schedule_apply_gradients(b, 1.0f), TDL_STATUS_OK);
        assert_int_equal(fx_rmsprop_train_step(c, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_int_equal(fx_rmsprop_compute_gradients(d, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_int_equal(fx_rmsprop_apply_gradients(d, 1.0f), TDL_STATUS_OK);
    }
    size_t n = 0;
    const float *pa = fx_clip_schedule_parameters(a, &n);
    assert_memory_equal(pa, fx_clip_schedule_parameters(b, &n), n * sizeof *pa);
    const float *pc = fx_rmsprop_parameters(c, &n);
    assert_memory_equal(pc, fx_rmsprop_parameters(d, &n), n * sizeof *pc);
    const tdl_model *mc = (const tdl_model *)(const void *)c, *md = (const tdl_model *)(const void *)d;
    assert_non_null(mc->slot3);
    assert_memory_equal(mc->slot1, md->slot1, 3 * n * sizeof(float)); /* the three slots, one after another */
    fx_clip_schedule_destroy(a);
    fx_clip_schedule_destroy(b);
    fx_rmsprop_destroy(c);
    fx_rmsprop_destroy(d);
}

/* With every tensor's gradient norm above clipnorm, a scale of 8 before the
 * clip changes the update only by rounding; a clip before the scale would
 * make the step 8 times larger. */
static void test_clip_after_scale(void **state) {
    (void)state;
    fx_clip_schedule *a = fx_clip_schedule_create(BATCH), *b = fx_clip_schedule_create(BATCH);
    assert_true(a && b);
    fx_clip_schedule_init(a, 3);
    fx_clip_schedule_init(b, 3);
    images data;
    fill(&data, 7);
    size_t n = 0;
    float *before = malloc(FX_CLIP_SCHEDULE_PARAM_COUNT * sizeof *before);
    assert_non_null(before);
    const float *initial = fx_clip_schedule_parameters(a, &n);
    assert_int_equal(n, FX_CLIP_SCHEDULE_PARAM_COUNT);
    memcpy(before, initial, n * sizeof *before);
    assert_int_equal(fx_clip_schedule_compute_gradients(a, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
    assert_int_equal(fx_clip_schedule_compute_gradients(b, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
    assert_int_equal(fx_clip_schedule_apply_gradients(a, 1.0f), TDL_STATUS_OK);
    assert_int_equal(fx_clip_schedule_apply_gradients(b, 8.0f), TDL_STATUS_OK);
    const float *pa = fx_clip_schedule_parameters(a, &n), *pb = fx_clip_schedule_parameters(b, &n);
    double largest_step = 0.0;
    for (size_t i = 0; i < n; i++) {
        double step = fabs((double)pa[i] - before[i]);
        if (step > largest_step) largest_step = step;
        assert_true(fabs((double)pa[i] - pb[i]) <= 1e-6 * (fabs(pa[i] - before[i]) + 1e-6));
    }
    /* lr 0.1 times a gradient clipped to norm 0.05: no value moves more than 0.005. */
    if (!(largest_step > 1e-4 && largest_step <= 0.005 + 1e-7)) fail_msg("largest step %g", largest_step);
    free(before);
    fx_clip_schedule_destroy(a);
    fx_clip_schedule_destroy(b);
}

/* The rate of update k (counted from 0) is 0.1 * 0.5^k; set_learning_rate
 * holds from then on; init brings the schedule back. */
static void test_schedule_and_override(void **state) {
    (void)state;
    fx_clip_schedule *m = fx_clip_schedule_create(BATCH);
    assert_non_null(m);
    fx_clip_schedule_init(m, 5);
    const tdl_model *header = (const tdl_model *)(const void *)m;
    assert_float_equal(header->learning_rate, 0.1f, 0.0f);
    images data;
    fill(&data, 9);
    for (int k = 0; k < 3; k++) {
        assert_int_equal(fx_clip_schedule_train_step(m, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_float_equal(header->learning_rate, (float)(0.1 * pow(0.5, k)), 0.0f);
    }
    assert_int_equal(fx_clip_schedule_set_learning_rate(m, 0.003f), TDL_STATUS_OK);
    for (int k = 0; k < 2; k++) {
        assert_int_equal(fx_clip_schedule_train_step(m, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
        assert_float_equal(header->learning_rate, 0.003f, 0.0f);
    }
    assert_int_equal(fx_clip_schedule_set_learning_rate(m, NAN), TDL_STATUS_BAD_ARGUMENT);
    assert_float_equal(header->learning_rate, 0.003f, 0.0f);
    fx_clip_schedule_init(m, 5);
    assert_int_equal(fx_clip_schedule_train_step(m, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
    assert_float_equal(header->learning_rate, 0.1f, 0.0f);
    assert_int_equal(fx_clip_schedule_train_step(m, BATCH, INPUTS(data), NULL), TDL_STATUS_OK);
    assert_float_equal(header->learning_rate, 0.05f, 0.0f);
    fx_clip_schedule_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_halves_equal_train_step),
        cmocka_unit_test(test_clip_after_scale),
        cmocka_unit_test(test_schedule_and_override),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
