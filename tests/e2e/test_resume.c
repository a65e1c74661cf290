/* Exact resume: training 2N steps equals N steps, NAME_save_state, then
 * NAME_load_state into a freshly created model (initialised from another
 * seed, so that every restored value must come from the file) and N more
 * steps, bit for bit: losses, parameters, optimizer slots, gradients, step
 * count, learning rate and dropout stream. On gc_dense (Adam with weight
 * decay, and dropout), fx_momentum (SGD momentum) and fx_rmsprop (all three
 * RMSprop slots), fx_clip_schedule (a schedule and clipping), fx_batch_norm
 * (batch_norm's moving statistics, which init does not draw from the seed:
 * they must come from the file too). Then what
 * load_state refuses, leaving the model as it was. */
#define _POSIX_C_SOURCE 200809L

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
#include "e2e_files.h"
#include "fx_batch_norm.h"
#include "fx_clip_schedule.h"
#include "fx_momentum.h"
#include "fx_rmsprop.h"
#include "gc_dense.h"

enum { BATCH = 4, HALF = 4 };

/* One batch of every input of the two architectures. */
typedef struct batch_data {
    float x[BATCH][12];
    int32_t label[BATCH];
    float soft[BATCH][6], multi[BATCH][6];
    float image[BATCH][9][10][2];
    int32_t image_label[BATCH];
} batch_data;

static void fill_batch(batch_data *b, uint64_t seed) {
    e2e_rng rng = {seed};
    e2e_fill_uniform(&rng, &b->x[0][0], sizeof b->x / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, b->label, BATCH, 6);
    e2e_fill_distributions(&rng, &b->soft[0][0], BATCH, 6);
    e2e_fill_uniform(&rng, &b->multi[0][0], sizeof b->multi / sizeof(float), 0.0f, 1.0f);
    e2e_fill_uniform(&rng, &b->image[0][0][0][0], sizeof b->image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, b->image_label, BATCH, 5);
}

/* The generated API of one model, behind uniform signatures. */
typedef struct model_api {
    const char *name;
    size_t (*arena_size)(int max_batch);
    void *(*create_in)(void *arena, size_t bytes, int max_batch);
    void (*init)(void *m, uint64_t seed);
    tdl_status (*train_step)(void *m, const batch_data *b, float *loss);
    tdl_status (*save_state)(const void *m, const char *path);
    tdl_status (*load_state)(void *m, const char *path);
    tdl_status (*save)(const void *m, const char *path);
    tdl_status (*set_learning_rate)(void *m, float rate);
} model_api;

#define COMMON_API(model)                                                                                 \
    static void *model##_create_in_any(void *arena, size_t bytes, int max_batch) {                        \
        return model##_create_in(arena, bytes, max_batch);                                                \
    }                                                                                                     \
    static void model##_init_any(void *m, uint64_t seed) { model##_init(m, seed); }                       \
    static tdl_status model##_save_state_any(const void *m, const char *path) {                           \
        return model##_save_state(m, path);                                                               \
    }                                                                                                     \
    static tdl_status model##_load_state_any(void *m, const char *path) { return model##_load_state(m, path); } \
    static tdl_status model##_save_any(const void *m, const char *path) { return model##_save(m, path); }  \
    static tdl_status model##_set_learning_rate_any(void *m, float rate) {                                \
        return model##_set_learning_rate(m, rate);                                                        \
    }                                                                                                     \
    static const model_api model##_api = {#model,                                                         \
                                          model##_arena_size,                                             \
                                          model##_create_in_any,                                          \
                                          model##_init_any,                                               \
                                          model##_train_step_any,                                         \
                                          model##_save_state_any,                                         \
                                          model##_load_state_any,                                         \
                                          model##_save_any,                                               \
                                          model##_set_learning_rate_any};

static tdl_status gc_dense_train_step_any(void *m, const batch_data *b, float *loss) {
    return gc_dense_train_step(m, BATCH, (const float(*)[12])b->x, b->label, (const float(*)[6])b->soft,
                               (const float(*)[6])b->multi, loss);
}
COMMON_API(gc_dense)

#define IMAGE_TRAIN_STEP(model)                                                                           \
    static tdl_status model##_train_step_any(void *m, const batch_data *b, float *loss) {                 \
        return model##_train_step(m, BATCH, (const float(*)[9][10][2])b->image, b->image_label, loss);    \
    }
IMAGE_TRAIN_STEP(fx_momentum)
COMMON_API(fx_momentum)
IMAGE_TRAIN_STEP(fx_rmsprop)
COMMON_API(fx_rmsprop)
IMAGE_TRAIN_STEP(fx_clip_schedule)
COMMON_API(fx_clip_schedule)
IMAGE_TRAIN_STEP(fx_batch_norm)
COMMON_API(fx_batch_norm)

/* A model in its own 64-byte aligned arena. */
typedef struct instance {
    void *arena;
    size_t bytes;
    void *model;
} instance;

static instance make(const model_api *api, uint64_t seed) {
    instance it;
    it.bytes = api->arena_size(BATCH);
    it.arena = aligned_alloc(64, (it.bytes + 63) / 64 * 64);
    assert_non_null(it.arena);
    it.model = api->create_in(it.arena, it.bytes, BATCH);
    assert_non_null(it.model);
    api->init(it.model, seed);
    return it;
}

/* Everything a resume must restore, byte for byte: parameters, optimizer
 * slots and non-trainable state, the step count, the learning rate, whether it was fixed,
 * and the dropout stream. */
static void assert_part_equal(const instance *x, const instance *y, const float *begin, const float *end) {
    size_t offset = (size_t)((const char *)begin - (const char *)x->arena);
    size_t bytes = (size_t)((const char *)end - (const char *)begin);
    assert_memory_equal((const char *)x->arena + offset, (const char *)y->arena + offset, bytes);
}

/* with_gradients: the gradients and the batch's statistics too (the last
 * step's; a loaded model has none yet). The arena holds params, grads,
 * slots, state, batch_state, activations in that order. */
static void assert_training_state_equal(const instance *x, const instance *y, bool with_gradients) {
    const tdl_model *a = x->arena, *b = y->arena;
    if (with_gradients) {
        assert_part_equal(x, y, a->params, a->activations);
    } else {
        assert_part_equal(x, y, a->params, a->grads);
        float *after_grads = a->slot1 ? a->slot1 : a->state;
        if (after_grads) assert_part_equal(x, y, after_grads, a->batch_state ? a->batch_state : a->activations);
    }
    assert_true(a->step == b->step);
    assert_memory_equal(&a->learning_rate, &b->learning_rate, sizeof a->learning_rate);
    assert_int_equal(a->learning_rate_fixed, b->learning_rate_fixed);
    assert_memory_equal(&a->dropout_rng, &b->dropout_rng, sizeof a->dropout_rng);
}

static void temporary_path(char *path, size_t size, const char *what) {
    snprintf(path, size, "/tmp/tsc_resume_%s_%ld.safetensors", what, (long)getpid());
}

/* 2N steps straight against N + save + load into a fresh model + N; with
 * fix_rate, set_learning_rate is called halfway (before the save). */
static void check_resume(const model_api *api, bool fix_rate) {
    char path[128];
    temporary_path(path, sizeof path, api->name);
    instance straight = make(api, 11), first = make(api, 11), resumed = make(api, 999);
    batch_data *batches = calloc(2 * HALF, sizeof *batches);
    assert_non_null(batches);
    for (int s = 0; s < 2 * HALF; s++) fill_batch(&batches[s], 500u + (uint64_t)s);
    float straight_losses[2 * HALF], resumed_losses[2 * HALF];
    for (int s = 0; s < 2 * HALF; s++) {
        if (fix_rate && s == HALF / 2) assert_int_equal(api->set_learning_rate(straight.model, 0.003f), TDL_STATUS_OK);
        assert_int_equal(api->train_step(straight.model, &batches[s], &straight_losses[s]), TDL_STATUS_OK);
    }
    for (int s = 0; s < HALF; s++) {
        if (fix_rate && s == HALF / 2) assert_int_equal(api->set_learning_rate(first.model, 0.003f), TDL_STATUS_OK);
        assert_int_equal(api->train_step(first.model, &batches[s], &resumed_losses[s]), TDL_STATUS_OK);
    }
    assert_int_equal(api->save_state(first.model, path), TDL_STATUS_OK);
    assert_int_equal(api->load_state(resumed.model, path), TDL_STATUS_OK);
    assert_training_state_equal(&first, &resumed, false);
    for (int s = HALF; s < 2 * HALF; s++)
        assert_int_equal(api->train_step(resumed.model, &batches[s], &resumed_losses[s]), TDL_STATUS_OK);
    assert_memory_equal(straight_losses, resumed_losses, sizeof straight_losses);
    assert_training_state_equal(&straight, &resumed, true);
    unlink(path);
    free(batches);
    free(straight.arena);
    free(first.arena);
    free(resumed.arena);
}

static void test_resume_adam_dropout(void **state) {
    (void)state;
    check_resume(&gc_dense_api, false);
}

static void test_resume_sgd_momentum(void **state) {
    (void)state;
    check_resume(&fx_momentum_api, false);
}

static void test_resume_batch_norm_state(void **state) {
    (void)state;
    check_resume(&fx_batch_norm_api, false);
}

static void test_resume_rmsprop_three_slots(void **state) {
    (void)state;
    check_resume(&fx_rmsprop_api, false);
}

/* The schedule's position is the step count, restored with it; a rate fixed
 * by set_learning_rate stays fixed after the resume. */
static void test_resume_schedule_and_fixed_rate(void **state) {
    (void)state;
    check_resume(&fx_clip_schedule_api, false);
    check_resume(&fx_clip_schedule_api, true);
}

/* load_state of a file that does not fit, and the model is unchanged. */
static void expect_refused(const model_api *api, const instance *target, const char *path, const char *words) {
    void *before = malloc(target->bytes);
    assert_non_null(before);
    memcpy(before, target->arena, target->bytes);
    tdl_status status = api->load_state(target->model, path);
    assert_int_not_equal(status, TDL_STATUS_OK);
    if (strstr(tdl_last_error(), words) == NULL) fail_msg("'%s' does not say '%s'", tdl_last_error(), words);
    assert_memory_equal(before, target->arena, target->bytes);
    free(before);
}

/* Replaces the first `from` in the bytes by `to` (same length). */
static void patch(unsigned char *bytes, size_t size, const char *from, const char *to) {
    size_t n = strlen(from);
    assert_int_equal(n, strlen(to));
    for (size_t i = 0; i + n <= size; i++)
        if (memcmp(bytes + i, from, n) == 0) {
            memcpy(bytes + i, to, n);
            return;
        }
    fail_msg("'%s' is not in the file", from);
}

static void test_load_state_refuses(void **state) {
    (void)state;
    char dense_path[128], momentum_path[128], weights_path[128], bad_path[128];
    temporary_path(dense_path, sizeof dense_path, "refuse_dense");
    temporary_path(momentum_path, sizeof momentum_path, "refuse_momentum");
    temporary_path(weights_path, sizeof weights_path, "refuse_weights");
    temporary_path(bad_path, sizeof bad_path, "refuse_bad");
    instance dense = make(&gc_dense_api, 3), momentum = make(&fx_momentum_api, 4);
    batch_data b;
    fill_batch(&b, 77);
    assert_int_equal(gc_dense_api.train_step(dense.model, &b, NULL), TDL_STATUS_OK);
    assert_int_equal(fx_momentum_api.train_step(momentum.model, &b, NULL), TDL_STATUS_OK);
    assert_int_equal(gc_dense_api.save_state(dense.model, dense_path), TDL_STATUS_OK);
    assert_int_equal(fx_momentum_api.save_state(momentum.model, momentum_path), TDL_STATUS_OK);
    assert_int_equal(fx_momentum_api.save(momentum.model, weights_path), TDL_STATUS_OK);

    /* Another model's state, a weights-only file, a missing file. */
    expect_refused(&fx_momentum_api, &momentum, dense_path, "model 'gc_dense', not of 'fx_momentum'");
    expect_refused(&fx_momentum_api, &momentum, weights_path, "not a training-state file");
    expect_refused(&fx_momentum_api, &momentum, "/nonexistent/state.safetensors", "cannot open");

    /* The same model's file, damaged: a truncated data section, a step count
     * that is no integer, an even PCG increment, another optimizer. */
    size_t size = 0;
    unsigned char *bytes = read_whole_file(momentum_path, &size);
    write_whole_file(bad_path, bytes, size - 4);
    expect_refused(&fx_momentum_api, &momentum, bad_path, "fx_momentum_load_state");
    unsigned char *copy = malloc(size);
    assert_non_null(copy);
    memcpy(copy, bytes, size);
    patch(copy, size, "\"step\":\"1\"", "\"step\":\"x\"");
    write_whole_file(bad_path, copy, size);
    expect_refused(&fx_momentum_api, &momentum, bad_path, "step count 'x'");
    memcpy(copy, bytes, size);
    patch(copy, size, "\"optimizer\":\"sgd\"", "\"optimizer\":\"sgx\"");
    write_whole_file(bad_path, copy, size);
    expect_refused(&fx_momentum_api, &momentum, bad_path, "optimizer 'sgx'");
    memcpy(copy, bytes, size);
    patch(copy, size, "optimizer/momentum/dense_1.bias\":{", "optimizer/momentum/dense_1.bia_\":{");
    write_whole_file(bad_path, copy, size);
    expect_refused(&fx_momentum_api, &momentum, bad_path, "missing tensor 'optimizer/momentum/dense_1.bias'");

    /* And the intact file loads; NAME_load reads its parameters too. */
    instance fresh = make(&fx_momentum_api, 5);
    assert_int_equal(fx_momentum_api.load_state(fresh.model, momentum_path), TDL_STATUS_OK);
    assert_training_state_equal(&momentum, &fresh, false);
    instance weights_only = make(&fx_momentum_api, 6);
    assert_int_equal(fx_momentum_load(weights_only.model, momentum_path), TDL_STATUS_OK);
    size_t count = 0;
    const float *p = fx_momentum_parameters(weights_only.model, &count);
    assert_memory_equal(p, fx_momentum_parameters(momentum.model, &count), count * sizeof *p);

    free(copy);
    free(bytes);
    unlink(dense_path);
    unlink(momentum_path);
    unlink(weights_path);
    unlink(bad_path);
    free(dense.arena);
    free(momentum.arena);
    free(fresh.arena);
    free(weights_only.arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_adam_dropout),
        cmocka_unit_test(test_resume_sgd_momentum),
        cmocka_unit_test(test_resume_rmsprop_three_slots),
        cmocka_unit_test(test_resume_batch_norm_state),
        cmocka_unit_test(test_resume_schedule_and_fixed_rate),
        cmocka_unit_test(test_load_state_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
