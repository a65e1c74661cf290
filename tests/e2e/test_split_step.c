/* train_step in two halves: compute_gradients then apply_gradients(m, 1)
 * must be train_step bit for bit (parameters, optimizer state and dropout
 * stream), so that data-parallel training over one process is the same
 * training. Also: what the halves refuse, and the blocks they expose. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "gc_conv.h"
#include "gc_dense.h"

enum { BATCH = 4, STEPS = 5 };

typedef struct dense_batch {
    float x[BATCH][12];
    int32_t label[BATCH];
    float soft[BATCH][6], multi[BATCH][6];
} dense_batch;

/* The generated functions take const arrays, which pedantic C11 does not
 * convert to from plain ones. */
#define DENSE_INPUTS(d) \
    (const float(*)[12])(d).x, (d).label, (const float(*)[6])(d).soft, (const float(*)[6])(d).multi
#define CONV_INPUTS (const float(*)[8][8][2])image, label, (const int32_t(*)[4][4])seg

static void fill_dense_batch(dense_batch *b, uint64_t seed) {
    e2e_rng rng = {seed};
    e2e_fill_uniform(&rng, &b->x[0][0], sizeof b->x / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, b->label, BATCH, 6);
    e2e_fill_distributions(&rng, &b->soft[0][0], BATCH, 6);
    e2e_fill_uniform(&rng, &b->multi[0][0], sizeof b->multi / sizeof(float), 0.0f, 1.0f);
}

/* Two arenas whose parameters, gradients and optimizer slots (everything
 * between the header and the activations) are equal byte for byte, with
 * equal step counts, learning rates and dropout streams. */
static void assert_training_state_equal(const void *arena_a, const void *arena_b) {
    const tdl_model *a = arena_a, *b = arena_b;
    size_t bytes = (size_t)((const char *)a->activations - (const char *)arena_a);
    assert_int_equal(bytes, (size_t)((const char *)b->activations - (const char *)arena_b));
    assert_memory_equal((const char *)arena_a + TDL_MODEL_HEADER_BYTES, (const char *)arena_b + TDL_MODEL_HEADER_BYTES,
                        bytes - TDL_MODEL_HEADER_BYTES);
    assert_true(a->step == b->step);
    assert_memory_equal(&a->learning_rate, &b->learning_rate, sizeof a->learning_rate);
    assert_memory_equal(&a->dropout_rng, &b->dropout_rng, sizeof a->dropout_rng);
}

/* gc_dense: Adam with weight decay, and dropout, whose stream both halves
 * must draw exactly as train_step does. */
static void test_dense_halves_equal_train_step(void **state) {
    (void)state;
    size_t bytes = gc_dense_arena_size(BATCH);
    void *arena_a = aligned_alloc(64, bytes), *arena_b = aligned_alloc(64, bytes);
    assert_non_null(arena_a);
    assert_non_null(arena_b);
    gc_dense *a = gc_dense_create_in(arena_a, bytes, BATCH), *b = gc_dense_create_in(arena_b, bytes, BATCH);
    gc_dense_init(a, 7);
    gc_dense_init(b, 7);
    for (int s = 0; s < STEPS; s++) {
        dense_batch d;
        fill_dense_batch(&d, 100u + (uint64_t)s);
        float loss_a = 0.0f, loss_b = 0.0f;
        assert_int_equal(gc_dense_train_step(a, BATCH, DENSE_INPUTS(d), &loss_a), TDL_STATUS_OK);
        assert_int_equal(gc_dense_compute_gradients(b, BATCH, DENSE_INPUTS(d), &loss_b),
                         TDL_STATUS_OK);
        assert_int_equal(gc_dense_apply_gradients(b, 1.0f), TDL_STATUS_OK);
        assert_memory_equal(&loss_a, &loss_b, sizeof loss_a);
    }
    assert_training_state_equal(arena_a, arena_b);
    free(arena_a);
    free(arena_b);
}

/* gc_conv: SGD with Nesterov momentum. Gradients of a doubled batch
 * computed twice and applied at scale 0.5 (what an average over two
 * processes holding the same batch gives) equal one train_step. */
static void test_conv_halves_and_scale(void **state) {
    (void)state;
    gc_conv *a = gc_conv_create(BATCH), *b = gc_conv_create(BATCH);
    assert_non_null(a);
    assert_non_null(b);
    gc_conv_init(a, 3);
    gc_conv_init(b, 3);
    float image[BATCH][8][8][2];
    int32_t label[BATCH], seg[BATCH][4][4];
    e2e_rng rng = {42};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, label, BATCH, GC_CONV_PROBS_DIM1);
    e2e_fill_labels(&rng, &seg[0][0][0], sizeof seg / sizeof(int32_t), 3);
    for (int s = 0; s < STEPS; s++) {
        assert_int_equal(gc_conv_train_step(a, BATCH, CONV_INPUTS, NULL), TDL_STATUS_OK);
        assert_int_equal(gc_conv_compute_gradients(b, BATCH, CONV_INPUTS, NULL), TDL_STATUS_OK);
        /* Doubling is exact, and so is halving it again. */
        size_t count = 0;
        float *grads = gc_conv_gradients(b, &count);
        assert_non_null(grads);
        assert_int_equal(count, GC_CONV_PARAM_COUNT);
        for (size_t i = 0; i < count; i++) grads[i] *= 2.0f;
        assert_int_equal(gc_conv_apply_gradients(b, 0.5f), TDL_STATUS_OK);
    }
    size_t count_a = 0, count_b = 0;
    const float *pa = gc_conv_parameters(a, &count_a), *pb = gc_conv_parameters(b, &count_b);
    assert_int_equal(count_a, GC_CONV_PARAM_COUNT);
    assert_int_equal(count_b, count_a);
    assert_memory_equal(pa, pb, count_a * sizeof(float));
    gc_conv_destroy(a);
    gc_conv_destroy(b);
}

/* apply_gradients refuses a scale that is not finite, and gradients that
 * are not finite (as a NaN summed in from another process would make them),
 * and then updates nothing. */
static void test_apply_refuses(void **state) {
    (void)state;
    gc_dense *m = gc_dense_create(BATCH);
    assert_non_null(m);
    gc_dense_init(m, 1);
    dense_batch d;
    fill_dense_batch(&d, 9);
    assert_int_equal(gc_dense_compute_gradients(m, BATCH, DENSE_INPUTS(d), NULL), TDL_STATUS_OK);
    size_t count = 0;
    float *params = gc_dense_parameters(m, &count);
    float *before = malloc(count * sizeof *before);
    assert_non_null(before);
    memcpy(before, params, count * sizeof *before);

    const float bad_scales[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad_scales / sizeof bad_scales[0]; k++) {
        assert_int_equal(gc_dense_apply_gradients(m, bad_scales[k]), TDL_STATUS_BAD_ARGUMENT);
        assert_non_null(strstr(tdl_last_error(), "gc_dense_apply_gradients: the scale"));
    }
    float *grads = gc_dense_gradients(m, &count);
    grads[count - 1] = NAN;
    assert_int_equal(gc_dense_apply_gradients(m, 1.0f), TDL_STATUS_NOT_FINITE);
    assert_non_null(strstr(tdl_last_error(), "nothing was updated"));
    assert_memory_equal(before, params, count * sizeof *before);
    assert_int_equal(gc_dense_apply_gradients(NULL, 1.0f), TDL_STATUS_BAD_ARGUMENT);
    assert_null(gc_dense_gradients(NULL, &count));
    assert_int_equal(count, 0);
    assert_null(gc_dense_parameters(NULL, &count));
    assert_int_equal(count, 0);
    free(before);
    gc_dense_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_halves_equal_train_step),
        cmocka_unit_test(test_conv_halves_and_scale),
        cmocka_unit_test(test_apply_refuses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
