/* Bad calls into generated models: each returns its tdl_status with a
 * message that says what was wrong, never touches memory it should not,
 * leaves the weights exactly as they were, and does not change what the
 * next good call computes. "The weights are unchanged" is checked by saving
 * them before and after and comparing the two files byte for byte (the
 * writer is deterministic, so equal files mean equal parameters). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "e2e_files.h"
#include "gc_conv.h"
#include "gc_dense.h"

enum { MAX_BATCH = 4, CLASSES = GC_CONV_PROBS_DIM1, SEG_CLASSES = 3 };

#define FILE_PREFIX TSC_BINARY_DIR "/tests/e2e/test_errors_"

typedef struct fixture {
    gc_conv *model;
    float image[MAX_BATCH][8][8][2];
    int32_t label[MAX_BATCH];
    int32_t seg[MAX_BATCH][4][4];
    float probs[MAX_BATCH][CLASSES];
} fixture;

/* --- Helpers ------------------------------------------------------------------ */

static const float (*image_of(const fixture *f))[8][8][2] {
    return (const float(*)[8][8][2])f->image;
}

static const int32_t (*seg_of(const fixture *f))[4][4] {
    return (const int32_t(*)[4][4])f->seg;
}

/* Saves the weights to `path`. */
static void save_conv(const gc_conv *m, const char *path) {
    assert_int_equal(gc_conv_save(m, path), TDL_STATUS_OK);
}

/* The weights now are byte-identical to those saved in `reference`. */
static void assert_conv_weights_equal(const gc_conv *m, const char *reference) {
    const char *now = FILE_PREFIX "now.safetensors";
    save_conv(m, now);
    size_t a_size = 0, b_size = 0;
    unsigned char *a = read_whole_file(reference, &a_size);
    unsigned char *b = read_whole_file(now, &b_size);
    assert_int_equal(a_size, b_size);
    assert_memory_equal(a, b, a_size);
    free(a);
    free(b);
}

static void assert_message_contains(const char *needle) {
    const char *message = tdl_last_error();
    if (!strstr(message, needle)) fail_msg("message \"%s\" does not contain \"%s\"", message, needle);
}

/* Runs `steps` good train steps and returns the last loss. */
static float train_conv(fixture *f, int steps) {
    float loss = 0.0f;
    for (int i = 0; i < steps; i++)
        assert_int_equal(gc_conv_train_step(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), &loss),
                         TDL_STATUS_OK);
    return loss;
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    if (!f) return -1;
    e2e_rng rng = {21};
    e2e_fill_uniform(&rng, &f->image[0][0][0][0], sizeof f->image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, f->label, MAX_BATCH, CLASSES);
    e2e_fill_labels(&rng, &f->seg[0][0][0], sizeof f->seg / sizeof(int32_t), SEG_CLASSES);
    f->model = gc_conv_create(MAX_BATCH);
    if (!f->model) return -1;
    gc_conv_init(f->model, 7);
    /* A few steps first, so that the optimizer state is not all zeros. */
    train_conv(f, 2);
    save_conv(f->model, FILE_PREFIX "reference.safetensors");
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    gc_conv_destroy(f->model);
    free(f);
    return 0;
}

/* After a failed call, training goes on exactly as if the call had not been made. */
static void assert_training_unaffected(fixture *f) {
    assert_conv_weights_equal(f->model, FILE_PREFIX "reference.safetensors");
    float after_failure = train_conv(f, 2);

    fixture *twin = calloc(1, sizeof *twin);
    assert_non_null(twin);
    memcpy(twin, f, sizeof *twin);
    twin->model = gc_conv_create(MAX_BATCH);
    assert_non_null(twin->model);
    gc_conv_init(twin->model, 7);
    train_conv(twin, 2);
    float without_failure = train_conv(twin, 2);
    assert_true(after_failure == without_failure);
    save_conv(twin->model, FILE_PREFIX "twin.safetensors");
    assert_conv_weights_equal(f->model, FILE_PREFIX "twin.safetensors");
    gc_conv_destroy(twin->model);
    free(twin);
}

/* --- Batch and argument checks ---------------------------------------------------- */

/* A batch above max_batch is TDL_STATUS_BAD_BATCH for every entry point. */
static void test_batch_above_max(void **state) {
    fixture *f = *state;
    gc_conv_metrics metrics;
    float loss = -1.0f;
    assert_int_equal(gc_conv_forward(f->model, MAX_BATCH + 1, image_of(f), f->probs), TDL_STATUS_BAD_BATCH);
    assert_message_contains("batch 5 is outside [1, 4]");
    assert_int_equal(gc_conv_evaluate(f->model, MAX_BATCH + 1, image_of(f), f->label, seg_of(f), &metrics),
                     TDL_STATUS_BAD_BATCH);
    assert_message_contains("gc_conv_evaluate");
    assert_int_equal(gc_conv_train_step(f->model, MAX_BATCH + 1, image_of(f), f->label, seg_of(f), &loss),
                     TDL_STATUS_BAD_BATCH);
    assert_message_contains("gc_conv_train_step: batch 5");
    assert_true(loss == -1.0f);
    assert_true(gc_conv_gradcheck(f->model, MAX_BATCH + 1, image_of(f), f->label, seg_of(f)) < 0.0);
    assert_training_unaffected(f);
}

/* A batch of 0 (or negative) is TDL_STATUS_BAD_BATCH. */
static void test_batch_zero(void **state) {
    fixture *f = *state;
    gc_conv_metrics metrics;
    assert_int_equal(gc_conv_forward(f->model, 0, image_of(f), f->probs), TDL_STATUS_BAD_BATCH);
    assert_message_contains("batch 0 is outside [1, 4]");
    assert_int_equal(gc_conv_evaluate(f->model, 0, image_of(f), f->label, seg_of(f), &metrics), TDL_STATUS_BAD_BATCH);
    assert_int_equal(gc_conv_train_step(f->model, -3, image_of(f), f->label, seg_of(f), NULL), TDL_STATUS_BAD_BATCH);
    assert_message_contains("batch -3");
    assert_training_unaffected(f);
}

/* A NULL input array is TDL_STATUS_BAD_ARGUMENT naming the input. */
static void test_null_input(void **state) {
    fixture *f = *state;
    gc_conv_metrics metrics;
    assert_int_equal(gc_conv_forward(f->model, 2, NULL, f->probs), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("input 'image' is NULL");
    assert_int_equal(gc_conv_evaluate(f->model, 2, image_of(f), NULL, seg_of(f), &metrics), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("gc_conv_evaluate: input 'label' is NULL");
    assert_int_equal(gc_conv_evaluate(f->model, 2, image_of(f), f->label, seg_of(f), NULL), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("out is NULL");
    assert_int_equal(gc_conv_train_step(f->model, 2, image_of(f), f->label, NULL, NULL), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("gc_conv_train_step: input 'seg' is NULL");
    assert_training_unaffected(f);
}

/* A NULL model is TDL_STATUS_BAD_ARGUMENT, not a crash. */
static void test_null_model(void **state) {
    fixture *f = *state;
    gc_conv_metrics metrics;
    assert_int_equal(gc_conv_forward(NULL, 1, image_of(f), f->probs), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("model is NULL");
    assert_int_equal(gc_conv_evaluate(NULL, 1, image_of(f), f->label, seg_of(f), &metrics), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(gc_conv_train_step(NULL, 1, image_of(f), f->label, seg_of(f), NULL), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("gc_conv_train_step: the model is NULL");
    assert_int_equal(gc_conv_load(NULL, FILE_PREFIX "reference.safetensors"), TDL_STATUS_BAD_ARGUMENT);
    assert_message_contains("gc_conv_load: the model or the path is NULL");
    assert_int_equal(gc_conv_save(NULL, FILE_PREFIX "unused.safetensors"), TDL_STATUS_BAD_ARGUMENT);
    assert_true(gc_conv_gradcheck(NULL, 1, image_of(f), f->label, seg_of(f)) < 0.0);
    gc_conv_destroy(NULL);
    gc_conv_init(NULL, 1);
    gc_conv_set_learning_rate(NULL, 0.1f);
    assert_null(gc_conv_create(0));
    assert_int_equal(gc_conv_arena_size(0), 0);
    assert_training_unaffected(f);
}

/* --- Values that are not finite ------------------------------------------------------ */

/* A NaN or an infinity in an input makes the loss or a gradient non-finite
 * (here tanh saturates, so it is the first kernel's gradient): train_step is
 * TDL_STATUS_NOT_FINITE, names the loss or the first such tensor, writes no
 * *loss and updates nothing (parameters, optimizer state, step count and
 * dropout stream as before). */
static void test_not_finite_input(void **state) {
    fixture *f = *state;
    const float bad[] = {NAN, INFINITY, -INFINITY};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        float saved = f->image[1][3][3][0], loss = -1.0f;
        f->image[1][3][3][0] = bad[k];
        assert_int_equal(gc_conv_train_step(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), &loss),
                         TDL_STATUS_NOT_FINITE);
        assert_message_contains("nothing was updated");
        const char *message = tdl_last_error();
        if (!strstr(message, "gc_conv_train_step: the loss is") &&
            !strstr(message, "gc_conv_train_step: the gradient of 'conv2d_1.kernel' is not finite"))
            fail_msg("message \"%s\" names neither the loss nor the first gradient", message);
        assert_true(loss == -1.0f);
        f->image[1][3][3][0] = saved;
    }
    assert_string_equal(tdl_status_name(TDL_STATUS_NOT_FINITE), "TDL_STATUS_NOT_FINITE");
    assert_training_unaffected(f);
}

/* A learning rate that is negative or not finite is refused and not taken. */
static void test_bad_learning_rate(void **state) {
    fixture *f = *state;
    const float bad[] = {NAN, INFINITY, -INFINITY, -0.5f};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        assert_int_equal(gc_conv_set_learning_rate(f->model, bad[k]), TDL_STATUS_BAD_ARGUMENT);
        assert_message_contains("gc_conv_set_learning_rate: the learning rate");
    }
    assert_int_equal(gc_conv_set_learning_rate(NULL, 0.1f), TDL_STATUS_BAD_ARGUMENT);
    assert_training_unaffected(f);
    assert_int_equal(gc_conv_set_learning_rate(f->model, 0.0f), TDL_STATUS_OK);
}

/* --- Labels ------------------------------------------------------------------------- */

/* Sets one label to `value`, checks that train_step and evaluate refuse it, and restores it. */
static void check_bad_class_label(fixture *f, int position, int32_t value, const char *expected) {
    gc_conv_metrics metrics;
    memset(&metrics, 0, sizeof metrics);
    float loss = -1.0f;
    int32_t saved = f->label[position];
    f->label[position] = value;
    assert_int_equal(gc_conv_train_step(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), &loss),
                     TDL_STATUS_BAD_LABEL);
    assert_message_contains(expected);
    assert_true(loss == -1.0f);
    assert_int_equal(gc_conv_evaluate(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), &metrics),
                     TDL_STATUS_BAD_LABEL);
    assert_message_contains(expected);
    f->label[position] = saved;
}

/* label = C (one past the last class) is TDL_STATUS_BAD_LABEL naming position and value. */
static void test_label_equal_to_classes(void **state) {
    fixture *f = *state;
    check_bad_class_label(f, 2, CLASSES, "label 5 at position 2 is outside [0, 5)");
    assert_training_unaffected(f);
}

/* label = -1 is TDL_STATUS_BAD_LABEL. */
static void test_label_negative(void **state) {
    fixture *f = *state;
    check_bad_class_label(f, 0, -1, "label -1 at position 0 is outside [0, 5)");
    assert_training_unaffected(f);
}

/* A bad per-pixel label (checked after the classifier's labels) fails the same way. */
static void test_per_pixel_label_out_of_range(void **state) {
    fixture *f = *state;
    gc_conv_metrics metrics;
    int32_t saved = f->seg[1][2][3];
    f->seg[1][2][3] = SEG_CLASSES;
    assert_int_equal(gc_conv_train_step(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), NULL),
                     TDL_STATUS_BAD_LABEL);
    assert_message_contains("label 3 at position 27 is outside [0, 3)");
    assert_int_equal(gc_conv_evaluate(f->model, MAX_BATCH, image_of(f), f->label, seg_of(f), &metrics),
                     TDL_STATUS_BAD_LABEL);
    /* Outside the batch that is passed, the bad label is not read. */
    assert_int_equal(gc_conv_evaluate(f->model, 1, image_of(f), f->label, seg_of(f), &metrics), TDL_STATUS_OK);
    f->seg[1][2][3] = saved;
    assert_training_unaffected(f);
}

/* A failed train step of a model with dropout leaves its dropout stream where it was. */
static void test_dropout_model_unaffected_by_failure(void **state) {
    (void)state;
    static float x[MAX_BATCH][12], soft[MAX_BATCH][6], multi[MAX_BATCH][6];
    static int32_t label[MAX_BATCH];
    e2e_rng rng = {22};
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -2.0f, 2.0f);
    e2e_fill_labels(&rng, label, MAX_BATCH, 6);
    e2e_fill_distributions(&rng, &soft[0][0], MAX_BATCH, 6);
    e2e_fill_uniform(&rng, &multi[0][0], sizeof multi / sizeof(float), 0.0f, 1.0f);
    const float(*cx)[12] = (const float(*)[12])x;
    const float(*csoft)[6] = (const float(*)[6])soft, (*cmulti)[6] = (const float(*)[6])multi;

    gc_dense *with_failure = gc_dense_create(MAX_BATCH), *without = gc_dense_create(MAX_BATCH);
    assert_non_null(with_failure);
    assert_non_null(without);
    gc_dense_init(with_failure, 3);
    gc_dense_init(without, 3);
    float a = 0.0f, b = 0.0f;
    label[3] = 6;
    assert_int_equal(gc_dense_train_step(with_failure, MAX_BATCH, cx, label, csoft, cmulti, &a), TDL_STATUS_BAD_LABEL);
    assert_message_contains("label 6 at position 3");
    label[3] = 1;
    for (int step = 0; step < 3; step++) {
        assert_int_equal(gc_dense_train_step(with_failure, MAX_BATCH, cx, label, csoft, cmulti, &a), TDL_STATUS_OK);
        assert_int_equal(gc_dense_train_step(without, MAX_BATCH, cx, label, csoft, cmulti, &b), TDL_STATUS_OK);
        assert_true(a == b);
    }
    gc_dense_destroy(with_failure);
    gc_dense_destroy(without);
}

/* --- Weight files ------------------------------------------------------------------ */

/* The parameter tensors of gc_conv as the weight file names them. */
typedef struct tensor_spec {
    const char *name;
    int rank;
    int64_t shape[4];
} tensor_spec;

static const tensor_spec conv_tensors[] = {
    {"conv2d_1.kernel", 4, {3, 3, 2, 2}}, {"conv2d_1.bias", 1, {2}},
    {"conv2d_2.kernel", 4, {3, 3, 2, 2}}, {"conv2d_2.bias", 1, {2}},
    {"seg_head.kernel", 4, {1, 1, 2, 3}}, {"seg_head.bias", 1, {3}},
    {"conv2d_3.kernel", 4, {2, 2, 2, 3}}, {"conv2d_3.bias", 1, {3}},
    {"dense_1.kernel", 2, {2, 8}},        {"dense_1.bias", 1, {8}},
    {"conv2d_4.kernel", 4, {3, 1, 1, 2}}, {"dense_2.kernel", 2, {8, 5}},
    {"dense_2.bias", 1, {5}},
};
enum { CONV_TENSORS = sizeof conv_tensors / sizeof conv_tensors[0] };

/* Writes a weight file with every tensor of gc_conv except `skip` (-1: none),
 * tensor `reshape` (-1: none) given the shape [2, 1] instead of its own. */
static void write_variant(const char *path, int skip, int reshape) {
    static float data[CONV_TENSORS][64];
    tdl_tensor_ref refs[CONV_TENSORS];
    size_t count = 0;
    for (int i = 0; i < CONV_TENSORS; i++) {
        if (i == skip) continue;
        tdl_tensor_ref *r = &refs[count++];
        memset(r, 0, sizeof *r);
        r->name = conv_tensors[i].name;
        r->data = data[i];
        r->rank = conv_tensors[i].rank;
        for (int d = 0; d < r->rank; d++) r->shape[d] = conv_tensors[i].shape[d];
        if (i == reshape) {
            r->rank = 2;
            r->shape[0] = 2;
            r->shape[1] = 1;
            r->shape[2] = r->shape[3] = 0;
        }
        for (int k = 0; k < 64; k++) data[i][k] = 0.5f;
    }
    assert_int_equal(tdl_safetensors_save(path, refs, count), TDL_STATUS_OK);
}

/* The file layout itself is right: a complete variant loads. */
static void test_load_complete_variant(void **state) {
    fixture *f = *state;
    const char *path = FILE_PREFIX "complete.safetensors";
    write_variant(path, -1, -1);
    assert_int_equal(gc_conv_load(f->model, path), TDL_STATUS_OK);
    /* Restore the fixture's weights. */
    assert_int_equal(gc_conv_load(f->model, FILE_PREFIX "reference.safetensors"), TDL_STATUS_OK);
    assert_conv_weights_equal(f->model, FILE_PREFIX "reference.safetensors");
}

/* A tensor of the wrong shape is TDL_STATUS_BAD_SHAPE naming it and both shapes; nothing is loaded. */
static void test_load_wrong_shape(void **state) {
    fixture *f = *state;
    const char *path = FILE_PREFIX "wrong_shape.safetensors";
    write_variant(path, -1, 6);
    assert_int_equal(gc_conv_load(f->model, path), TDL_STATUS_BAD_SHAPE);
    assert_message_contains("conv2d_3.kernel");
    assert_message_contains("the file has [2,1]");
    assert_message_contains("the model expects [2,2,2,3]");
    assert_training_unaffected(f);
}

/* A missing tensor is an error naming it; nothing is loaded. */
static void test_load_missing_tensor(void **state) {
    fixture *f = *state;
    const char *path = FILE_PREFIX "missing.safetensors";
    write_variant(path, 9, -1);
    assert_int_equal(gc_conv_load(f->model, path), TDL_STATUS_BAD_FILE);
    assert_message_contains("missing tensor 'dense_1.bias'");
    assert_training_unaffected(f);
}

/* A truncated file is TDL_STATUS_BAD_FILE; nothing is loaded. */
static void test_load_truncated(void **state) {
    fixture *f = *state;
    size_t size = 0;
    unsigned char *bytes = read_whole_file(FILE_PREFIX "reference.safetensors", &size);
    const char *path = FILE_PREFIX "truncated.safetensors";
    /* Cut inside the data section, then inside the header. */
    write_whole_file(path, bytes, size - 9);
    assert_int_equal(gc_conv_load(f->model, path), TDL_STATUS_BAD_FILE);
    assert_true(strlen(tdl_last_error()) > 0);
    write_whole_file(path, bytes, 20);
    assert_int_equal(gc_conv_load(f->model, path), TDL_STATUS_BAD_FILE);
    assert_true(strlen(tdl_last_error()) > 0);
    free(bytes);
    assert_training_unaffected(f);
}

/* A file that does not exist is TDL_STATUS_IO naming the path. */
static void test_load_no_file(void **state) {
    fixture *f = *state;
    assert_int_equal(gc_conv_load(f->model, FILE_PREFIX "does_not_exist.safetensors"), TDL_STATUS_IO);
    assert_message_contains("does_not_exist.safetensors");
    assert_training_unaffected(f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_batch_above_max, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_null_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_finite_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_learning_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_equal_to_classes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_negative, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_pixel_label_out_of_range, setup, teardown),
        cmocka_unit_test(test_dropout_model_unaffected_by_failure),
        cmocka_unit_test_setup_teardown(test_load_complete_variant, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_wrong_shape, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_missing_tensor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_no_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
