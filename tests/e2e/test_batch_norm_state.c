/* The non-trainable state of a generated model (batch_norm's moving
 * statistics), through gc_batch_norm: NAME_state and its initial values,
 * the update after a successful train_step and none after a failed one,
 * save/load of the state with the weights, forward on the moving
 * statistics, and a model without state. */
#define _POSIX_C_SOURCE 200809L

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "gc_batch_norm.h"
#include "gc_combine.h"

enum { BATCH = 4, STATE = GC_BATCH_NORM_STATE_COUNT };

/* The state block: batch_norm_1 (3 channels), batch_norm_2 (3 rows) and
 * batch_norm_3 (4 features), each moving_mean then moving_variance. */
_Static_assert(GC_BATCH_NORM_STATE_COUNT == 2 * (3 + 3 + 4), "gc_batch_norm: state layout");

typedef struct data {
    float image[BATCH][4][4][2];
    float t[BATCH][3];
} data;

static void fill(data *d, uint64_t seed) {
    e2e_rng rng = {seed};
    e2e_fill_uniform(&rng, &d->image[0][0][0][0], sizeof d->image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &d->t[0][0], sizeof d->t / sizeof(float), -1.0f, 1.0f);
}

static tdl_status step(gc_batch_norm *m, const data *d, float *loss) {
    return gc_batch_norm_train_step(m, BATCH, (const float(*)[4][4][2])d->image, (const float(*)[3])d->t, loss);
}

static void forward(gc_batch_norm *m, const data *d, float p[BATCH][3]) {
    assert_int_equal(gc_batch_norm_forward(m, BATCH, (const float(*)[4][4][2])d->image, p), TDL_STATUS_OK);
}

/* init: every moving mean 0 and every moving variance 1, in one block of
 * NAME_STATE_COUNT floats; NULL m gives NULL and 0. */
static void test_state_starts_as_keras(void **state) {
    (void)state;
    gc_batch_norm *m = gc_batch_norm_create(BATCH);
    assert_non_null(m);
    gc_batch_norm_init(m, 7);
    size_t count = 0;
    const float *s = gc_batch_norm_state(m, &count);
    assert_non_null(s);
    assert_int_equal(count, STATE);
    const size_t sizes[3] = {3, 3, 4};
    size_t at = 0;
    for (int layer = 0; layer < 3; layer++) {
        for (size_t i = 0; i < sizes[layer]; i++) assert_true(s[at + i] == 0.0f);
        for (size_t i = 0; i < sizes[layer]; i++) assert_true(s[at + sizes[layer] + i] == 1.0f);
        at += 2 * sizes[layer];
    }
    count = 99;
    assert_null(gc_batch_norm_state(NULL, &count));
    assert_int_equal(count, 0);
    gc_batch_norm_destroy(m);
}

/* A model without batch_norm has no state: NULL and 0. */
static void test_model_without_state(void **state) {
    (void)state;
    gc_combine *m = gc_combine_create(1);
    assert_non_null(m);
    size_t count = 99;
    assert_null(gc_combine_state(m, &count));
    assert_int_equal(count, 0);
    assert_int_equal(GC_COMBINE_STATE_COUNT, 0);
    gc_combine_destroy(m);
}

/* A successful step moves every statistic (towards the batch's), and
 * forward, which reads the moving statistics, changes with them. */
static void test_step_updates_state(void **state) {
    (void)state;
    static data d;
    fill(&d, 21);
    gc_batch_norm *m = gc_batch_norm_create(BATCH);
    assert_non_null(m);
    gc_batch_norm_init(m, 3);
    size_t count = 0;
    float *s = gc_batch_norm_state(m, &count);
    float before[STATE];
    memcpy(before, s, sizeof before);
    float p_before[BATCH][3], p_after[BATCH][3];
    forward(m, &d, p_before);
    float loss = NAN;
    assert_int_equal(step(m, &d, &loss), TDL_STATUS_OK);
    assert_true(isfinite(loss));
    for (size_t i = 0; i < count; i++) {
        assert_true(isfinite(s[i]));
        if (s[i] == before[i]) fail_msg("state[%zu] did not move: %g", i, (double)s[i]);
    }
    /* The moving variances stay positive: a mix of 1 and a batch variance. */
    assert_true(s[3] > 0.0f && s[9] > 0.0f && s[16] > 0.0f);
    forward(m, &d, p_after);
    assert_true(memcmp(p_before, p_after, sizeof p_before) != 0);
    gc_batch_norm_destroy(m);
}

/* A step whose loss is not finite (an infinite target: the batch statistics
 * themselves are fine) or whose batch statistics are not (a NaN pixel) is
 * TDL_STATUS_NOT_FINITE, and leaves the state, like the weights, as it was. */
static void test_failed_step_keeps_state(void **state) {
    (void)state;
    static data good, infinite_target, nan_pixel;
    fill(&good, 22);
    infinite_target = good;
    infinite_target.t[1][2] = INFINITY;
    nan_pixel = good;
    nan_pixel.image[2][1][1][0] = NAN;
    gc_batch_norm *m = gc_batch_norm_create(BATCH);
    assert_non_null(m);
    gc_batch_norm_init(m, 5);
    assert_int_equal(step(m, &good, NULL), TDL_STATUS_OK);   /* state no longer the initial 0 and 1 */
    size_t count = 0;
    float *s = gc_batch_norm_state(m, &count);
    float before[STATE], p_before[BATCH][3], p_after[BATCH][3];
    memcpy(before, s, sizeof before);
    forward(m, &good, p_before);
    const data *bad[2] = {&infinite_target, &nan_pixel};
    for (int i = 0; i < 2; i++) {
        float loss = 0.0f;
        assert_int_equal(step(m, bad[i], &loss), TDL_STATUS_NOT_FINITE);
        printf("failed step %d: %s\n", i, tdl_last_error());
        assert_memory_equal(before, s, sizeof before);
        forward(m, &good, p_after);
        assert_memory_equal(p_before, p_after, sizeof p_before);
    }
    /* A good step after them goes on from the same state. */
    assert_int_equal(step(m, &good, NULL), TDL_STATUS_OK);
    assert_true(memcmp(before, s, sizeof before) != 0);
    gc_batch_norm_destroy(m);
}

/* save writes the state with the weights (Keras' names); load into a model
 * initialised otherwise brings back the same state and the same forward. */
static void test_save_load_round_trips_state(void **state) {
    (void)state;
    static data d;
    fill(&d, 23);
    char path[] = "/tmp/gc_batch_norm_state_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    gc_batch_norm *a = gc_batch_norm_create(BATCH), *b = gc_batch_norm_create(BATCH);
    assert_non_null(a);
    assert_non_null(b);
    gc_batch_norm_init(a, 11);
    for (int i = 0; i < 3; i++) assert_int_equal(step(a, &d, NULL), TDL_STATUS_OK);
    assert_int_equal(gc_batch_norm_save(a, path), TDL_STATUS_OK);
    gc_batch_norm_init(b, 12);
    assert_int_equal(gc_batch_norm_load(b, path), TDL_STATUS_OK);
    size_t count_a = 0, count_b = 0;
    const float *sa = gc_batch_norm_state(a, &count_a), *sb = gc_batch_norm_state(b, &count_b);
    assert_int_equal(count_a, count_b);
    assert_memory_equal(sa, sb, count_a * sizeof *sa);
    float pa[BATCH][3], pb[BATCH][3];
    forward(a, &d, pa);
    forward(b, &d, pb);
    assert_memory_equal(pa, pb, sizeof pa);
    /* The file holds them under Keras' names, as F32 vectors. */
    float mean[3] = {0}, variance[4] = {0};
    tdl_tensor_ref refs[2] = {{"batch_norm_1.moving_mean", mean, 1, {3}},
                              {"batch_norm_3.moving_variance", variance, 1, {4}}};
    assert_int_equal(tdl_safetensors_load(path, refs, 2), TDL_STATUS_OK);
    assert_memory_equal(mean, sa, sizeof mean);
    assert_memory_equal(variance, sa + 12 + 4, sizeof variance);
    unlink(path);
    gc_batch_norm_destroy(a);
    gc_batch_norm_destroy(b);
}

/* A weight file with every trainable tensor but no state is refused,
 * naming the first missing state tensor, and changes nothing. */
static void test_load_needs_state(void **state) {
    (void)state;
    char path[] = "/tmp/gc_batch_norm_nostate_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    static float zeros[27 * 4];
    const tdl_tensor_ref trainable[] = {
        {"conv2d_1.kernel", zeros, 4, {2, 2, 2, 3}}, {"conv2d_1.bias", zeros, 1, {3}},
        {"batch_norm_1.gamma", zeros, 1, {3}},       {"batch_norm_1.beta", zeros, 1, {3}},
        {"batch_norm_2.gamma", zeros, 1, {3}},       {"dense_1.kernel", zeros, 2, {27, 4}},
        {"dense_1.bias", zeros, 1, {4}},             {"batch_norm_3.beta", zeros, 1, {4}},
        {"dense_2.kernel", zeros, 2, {4, 3}},        {"dense_2.bias", zeros, 1, {3}},
    };
    assert_int_equal(tdl_safetensors_save(path, trainable, sizeof trainable / sizeof *trainable), TDL_STATUS_OK);
    gc_batch_norm *m = gc_batch_norm_create(1);
    assert_non_null(m);
    size_t count = 0;
    const float *s = gc_batch_norm_state(m, &count);
    float before[STATE];
    memcpy(before, s, sizeof before);
    assert_int_not_equal(gc_batch_norm_load(m, path), TDL_STATUS_OK);
    printf("load without state: %s\n", tdl_last_error());
    assert_non_null(strstr(tdl_last_error(), "batch_norm_1.moving_mean"));
    assert_memory_equal(before, s, sizeof before);
    unlink(path);
    gc_batch_norm_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_state_starts_as_keras),
        cmocka_unit_test(test_model_without_state),
        cmocka_unit_test(test_step_updates_state),
        cmocka_unit_test(test_failed_step_keeps_state),
        cmocka_unit_test(test_save_load_round_trips_state),
        cmocka_unit_test(test_load_needs_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
