/* The example architectures against PyTorch, with every optimizer.
 *
 * examples/models/resnet_small.tdl, mobilenet_small.tdl and unet_small.tdl,
 * each in one variant per optimizer (<model>_<optimizer>, written by
 * tests/e2e/arch/arch.cmake from the example file), against
 * tests/e2e/fixtures/arch_<model>_<optimizer>.safetensors from
 * make_arch_fixtures.py, which builds the same networks in PyTorch. Each test
 * loads the fixture's initial weights and moving statistics with
 * <model>_load, then checks forward (probs), evaluate (xent and acc, with the
 * moving statistics), two train_steps (the loss each returns, then every
 * parameter and moving statistic read back through <model>_save), and
 * forward and evaluate again. One line per tensor:
 *
 *     resnet_small_adam step2 conv2d_4.kernel      max|diff| = 3.0e-08  OK
 *
 * A value passes when |got - want| <= TOLERANCE * (1 + |want|). The fixture
 * names the tensors and their shapes in its metadata, in the model's order,
 * with PyTorch's parameter count of the same network built from torch.nn
 * modules: the test checks that <MODEL>_PARAM_COUNT (what tsc --summary
 * calls the trainable parameters) equals it, that the named tensors are all
 * the model has, and that <model>_parameters and <model>_state hold them in
 * that order; and that `tsc --summary` of each example file prints that count
 * as its trainable parameters. TSC_E2E_FIXTURE_DIR overrides the fixture
 * directory (to try a perturbed copy).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mobilenet_small_adam.h"
#include "mobilenet_small_adamw.h"
#include "mobilenet_small_momentum.h"
#include "mobilenet_small_nesterov.h"
#include "mobilenet_small_rmsprop.h"
#include "mobilenet_small_sgd.h"
#include "resnet_small_adam.h"
#include "resnet_small_adamw.h"
#include "resnet_small_momentum.h"
#include "resnet_small_nesterov.h"
#include "resnet_small_rmsprop.h"
#include "resnet_small_sgd.h"
#include "unet_small_adam.h"
#include "unet_small_adamw.h"
#include "unet_small_momentum.h"
#include "unet_small_nesterov.h"
#include "unet_small_rmsprop.h"
#include "unet_small_sgd.h"
#include "fixture_check.h"
#include "tdl/runtime.h"

/* float32 models against float64 references: the differences are ~1e-6
 * here, so 1e-4 leaves room for summation order while catching real errors. */
#define TOLERANCE 1e-4

/* The fixtures' batch; the models are created for more, so that the
 * generated code's max_batch strides differ from the batch run. */
#define BATCH 3
#define MAX_BATCH 4

#define MAX_NAME 96
#define MAX_TENSORS 64

/* The fields of <model>_metrics, the same in every example model. */
enum { METRIC_XENT, METRIC_ACC, METRIC_COUNT };
static const char *const metric_names[METRIC_COUNT] = {"xent", "acc"};

/* The generated API of one model variant behind uniform signatures, with its sizes. */
typedef struct arch_model {
    const char *name;     /* <model>_<optimizer>; its fixture is arch_<name>.safetensors */
    size_t image_sample;  /* floats per example */
    size_t label_sample;  /* labels per example: 1, or one per pixel */
    size_t probs_sample;  /* label_sample * classes */
    size_t param_count, state_count;
    void *(*create)(int max_batch);
    void (*destroy)(void *m);
    tdl_status (*load)(void *m, const char *path);
    tdl_status (*save)(const void *m, const char *path);
    float *(*parameters)(void *m, size_t *count);
    float *(*state)(void *m, size_t *count);
    tdl_status (*forward)(void *m, int batch, const float *image, float *probs);
    tdl_status (*evaluate)(void *m, int batch, const float *image, const int32_t *label,
                           float metrics[METRIC_COUNT]);
    tdl_status (*train_step)(void *m, int batch, const float *image, const int32_t *label, float *loss);
} arch_model;

/* The generated parameter types of the inputs: 32x32 colour images, and a
 * class per image or one per pixel. */
typedef const float (*const_images)[32][32][3];
typedef const int32_t *const_labels;
typedef const int32_t (*const_masks)[32][32];

/* Wrappers that turn the typed generated functions of one variant into an
 * arch_model: LABEL names the label input's macros (LABEL for the
 * classifiers, MASK for unet_small), LABELS its parameter type. */
#define ARCH_MODEL(model, MODEL, LABEL, LABELS)                                                            \
    static void *model##_create_any(int max_batch) { return model##_create(max_batch); }                   \
    static void model##_destroy_any(void *m) { model##_destroy(m); }                                       \
    static tdl_status model##_load_any(void *m, const char *path) { return model##_load(m, path); }        \
    static tdl_status model##_save_any(const void *m, const char *path) { return model##_save(m, path); }  \
    static float *model##_parameters_any(void *m, size_t *count) { return model##_parameters(m, count); }  \
    static float *model##_state_any(void *m, size_t *count) { return model##_state(m, count); }            \
    static tdl_status model##_forward_any(void *m, int batch, const float *image, float *probs)            \
    {                                                                                                      \
        void *out = probs;                                                                                 \
        return model##_forward(m, batch, (const_images)image, out);                                        \
    }                                                                                                      \
    static tdl_status model##_evaluate_any(void *m, int batch, const float *image, const int32_t *label,   \
                                           float metrics[METRIC_COUNT])                                    \
    {                                                                                                      \
        model##_metrics out;                                                                               \
        tdl_status status = model##_evaluate(m, batch, (const_images)image, (LABELS)label, &out);          \
        metrics[METRIC_XENT] = out.xent;                                                                   \
        metrics[METRIC_ACC] = out.acc;                                                                     \
        return status;                                                                                     \
    }                                                                                                      \
    static tdl_status model##_train_step_any(void *m, int batch, const float *image, const int32_t *label, \
                                             float *loss)                                                  \
    {                                                                                                      \
        return model##_train_step(m, batch, (const_images)image, (LABELS)label, loss);                     \
    }                                                                                                      \
    _Static_assert(MODEL##_IMAGE_DIM1 == 32 && MODEL##_IMAGE_DIM2 == 32 && MODEL##_IMAGE_DIM3 == 3,        \
                   #model ": const_images");                                                               \
    static const arch_model model##_arch = {                                                               \
        #model, MODEL##_IMAGE_SAMPLE_SIZE, MODEL##_##LABEL##_SAMPLE_SIZE, MODEL##_PROBS_SAMPLE_SIZE,       \
        MODEL##_PARAM_COUNT, MODEL##_STATE_COUNT, model##_create_any, model##_destroy_any,                 \
        model##_load_any, model##_save_any, model##_parameters_any, model##_state_any,                     \
        model##_forward_any, model##_evaluate_any, model##_train_step_any};

ARCH_MODEL(resnet_small_sgd, RESNET_SMALL_SGD, LABEL, const_labels)
ARCH_MODEL(resnet_small_momentum, RESNET_SMALL_MOMENTUM, LABEL, const_labels)
ARCH_MODEL(resnet_small_nesterov, RESNET_SMALL_NESTEROV, LABEL, const_labels)
ARCH_MODEL(resnet_small_adam, RESNET_SMALL_ADAM, LABEL, const_labels)
ARCH_MODEL(resnet_small_adamw, RESNET_SMALL_ADAMW, LABEL, const_labels)
ARCH_MODEL(resnet_small_rmsprop, RESNET_SMALL_RMSPROP, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_sgd, MOBILENET_SMALL_SGD, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_momentum, MOBILENET_SMALL_MOMENTUM, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_nesterov, MOBILENET_SMALL_NESTEROV, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_adam, MOBILENET_SMALL_ADAM, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_adamw, MOBILENET_SMALL_ADAMW, LABEL, const_labels)
ARCH_MODEL(mobilenet_small_rmsprop, MOBILENET_SMALL_RMSPROP, LABEL, const_labels)
ARCH_MODEL(unet_small_sgd, UNET_SMALL_SGD, MASK, const_masks)
ARCH_MODEL(unet_small_momentum, UNET_SMALL_MOMENTUM, MASK, const_masks)
ARCH_MODEL(unet_small_nesterov, UNET_SMALL_NESTEROV, MASK, const_masks)
ARCH_MODEL(unet_small_adam, UNET_SMALL_ADAM, MASK, const_masks)
ARCH_MODEL(unet_small_adamw, UNET_SMALL_ADAMW, MASK, const_masks)
ARCH_MODEL(unet_small_rmsprop, UNET_SMALL_RMSPROP, MASK, const_masks)

/* One tensor the fixture names: "conv2d_1.kernel=3x3x3x8" in its metadata. */
typedef struct tensor_info {
    char name[MAX_NAME];
    int rank;
    int64_t shape[TDL_MAX_RANK];
    size_t count;
} tensor_info;

/* The tensors of one kind ("parameters" or "state"), in the model's order. */
typedef struct tensor_list {
    tensor_info tensors[MAX_TENSORS];
    size_t length;
    size_t total;  /* floats in all of them */
} tensor_list;

typedef struct context {
    const arch_model *api;
    void *model;
    fixture_check check;     /* the fixture, a temporary weights file, kept tensors */
    tensor_list parameters, state;
    long torch_parameter_count;
} context;

/* ------------------------------------------------------------------------ */
/* Set-up                                                                    */
/* ------------------------------------------------------------------------ */

static int teardown(void **state)
{
    context *ctx = *state;
    if (ctx->model)
        ctx->api->destroy(ctx->model);
    fixture_check_close(&ctx->check);
    free(ctx);
    return 0;
}

/* The initial state is the variant's arch_model; it becomes a context with
 * the model created, the fixture located and a temporary weights file. */
static int setup(void **state)
{
    context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -1;
    ctx->api = *state;
    *state = ctx;
    char fixture_file[256];
    snprintf(fixture_file, sizeof fixture_file, "arch_%s.safetensors", ctx->api->name);
    if (!fixture_check_open(&ctx->check, ctx->api->name, TSC_FIXTURE_DIR, fixture_file, TSC_BINARY_DIR, TOLERANCE,
                            56)) {
        free(ctx);
        return -1;
    }
    ctx->model = ctx->api->create(MAX_BATCH);
    if (!ctx->model) {
        fprintf(stderr, "%s_create: %s\n", ctx->api->name, tdl_last_error());
        teardown(state);
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------------ */
/* The fixture's metadata                                                    */
/* ------------------------------------------------------------------------ */

/* "name=d0xd1x..." into info; false when it is not that. */
static bool parse_tensor(const char *word, tensor_info *info)
{
    const char *equals = strchr(word, '=');
    if (!equals || equals == word || (size_t)(equals - word) >= sizeof info->name)
        return false;
    memcpy(info->name, word, (size_t)(equals - word));
    info->name[equals - word] = '\0';
    info->rank = 0;
    info->count = 1;
    const char *p = equals + 1;
    for (;;) {
        char *end;
        errno = 0;
        long long dim = strtoll(p, &end, 10);
        if (end == p || errno || dim < 1 || dim > 1000000 || info->rank == TDL_MAX_RANK)
            return false;
        info->shape[info->rank++] = dim;
        info->count *= (size_t)dim;
        if (*end == '\0')
            return true;
        if (*end != 'x')
            return false;
        p = end + 1;
    }
}

/* The space-separated list of the metadata entry key. */
static void read_tensor_list(const tdl_safetensors *file, const char *key, tensor_list *list)
{
    const char *value = tdl_safetensors_metadata(file, key);
    if (!value)
        fail_msg("fixture metadata has no \"%s\" (regenerate with make_arch_fixtures.py)", key);
    char *copy = strdup(value);
    assert_non_null(copy);
    char *saveptr = NULL;
    for (char *word = strtok_r(copy, " ", &saveptr); word; word = strtok_r(NULL, " ", &saveptr)) {
        assert_true(list->length < MAX_TENSORS);
        tensor_info *info = &list->tensors[list->length++];
        if (!parse_tensor(word, info)) {
            free(copy);
            fail_msg("fixture metadata \"%s\": cannot read \"%s\"", key, word);
        }
        list->total += info->count;
    }
    free(copy);
}

static void read_metadata(context *ctx)
{
    tdl_safetensors *file = NULL;
    if (tdl_safetensors_open(ctx->check.fixture_path, &file) != TDL_STATUS_OK)
        fail_msg("%s: %s (regenerate with tests/e2e/fixtures/make_arch_fixtures.py)", ctx->check.fixture_path,
                 tdl_last_error());
    read_tensor_list(file, "parameters", &ctx->parameters);
    read_tensor_list(file, "state", &ctx->state);
    const char *count = tdl_safetensors_metadata(file, "torch_parameter_count");
    ctx->torch_parameter_count = count ? strtol(count, NULL, 10) : -1;
    tdl_safetensors_close(file);
}

/* ------------------------------------------------------------------------ */
/* Reading and comparing tensors                                             */
/* ------------------------------------------------------------------------ */

/* A malloc'ed buffer (checked) that lives until teardown. */
static void *keep(context *ctx, size_t bytes)
{
    return fixture_check_keep(&ctx->check, bytes);
}

/* An F32 tensor of the given shape from a safetensors file; lives until teardown. */
static float *load_tensor(context *ctx, const char *path, const char *name, int rank, const int64_t *shape)
{
    return fixture_check_load(&ctx->check, path, name, rank, shape);
}

/* "<prefix>.<name>" of the fixture, [BATCH, sample] or a scalar (sample 0). */
static float *load_expected(context *ctx, const char *prefix, const char *name, size_t sample)
{
    char full[2 * MAX_NAME];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    const int64_t batch_shape[2] = {BATCH, (int64_t)sample}, scalar_shape[1] = {1};
    return sample ? load_tensor(ctx, ctx->check.fixture_path, full, 2, batch_shape)
                  : load_tensor(ctx, ctx->check.fixture_path, full, 1, scalar_shape);
}

/* The fixture's input tensor as [BATCH, sample] floats (its own rank: the
 * flat shape is checked by count). */
static float *load_input(context *ctx, const char *name, size_t sample)
{
    char full[MAX_NAME];
    snprintf(full, sizeof full, "input.%s", name);
    const int64_t image_shape[4] = {BATCH, 32, 32, 3}, mask_shape[3] = {BATCH, 32, 32},
                  label_shape[1] = {BATCH};
    if (sample == 32 * 32 * 3)
        return load_tensor(ctx, ctx->check.fixture_path, full, 4, image_shape);
    if (sample == 32 * 32)
        return load_tensor(ctx, ctx->check.fixture_path, full, 3, mask_shape);
    assert_int_equal(sample, 1);
    return load_tensor(ctx, ctx->check.fixture_path, full, 1, label_shape);
}

/* Prints the largest |got - want| of one tensor and records a failure. */
static void compare(context *ctx, const char *stage, const char *name, const float *got, const float *want,
                    size_t count)
{
    fixture_check_compare(&ctx->check, stage, name, got, want, count);
}

static void expect_ok(const context *ctx, tdl_status status, const char *what)
{
    fixture_check_expect_ok(&ctx->check, status, what);
}

/* ------------------------------------------------------------------------ */
/* The checks                                                                */
/* ------------------------------------------------------------------------ */

/* The model's parameter counts against the fixture's list and PyTorch's count. */
static void check_counts(const context *ctx)
{
    printf("%s: %zu parameters (PyTorch %ld), %zu non-trainable\n", ctx->api->name, ctx->api->param_count,
           ctx->torch_parameter_count, ctx->api->state_count);
    assert_int_equal(ctx->api->param_count, ctx->torch_parameter_count);
    assert_int_equal(ctx->api->param_count, ctx->parameters.total);
    assert_int_equal(ctx->api->state_count, ctx->state.total);
}

/* forward's probs and the evaluate metrics against "expect.<stage>.*". */
static void check_forward_and_evaluate(context *ctx, const char *stage, const float *image, const int32_t *labels)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "expect.%s", stage);
    size_t probs_sample = ctx->api->probs_sample;
    const float *want_probs = load_expected(ctx, prefix, "probs", probs_sample);

    float *probs = keep(ctx, BATCH * probs_sample * sizeof *probs);
    expect_ok(ctx, ctx->api->forward(ctx->model, BATCH, image, probs), "forward");
    compare(ctx, stage, "probs", probs, want_probs, BATCH * probs_sample);

    /* The last example alone: its result must not depend on the batch (the
     * moving statistics, not the batch's, normalise it). */
    expect_ok(ctx, ctx->api->forward(ctx->model, 1, image + (BATCH - 1) * ctx->api->image_sample, probs), "forward");
    compare(ctx, stage, "probs (last example alone)", probs, want_probs + (BATCH - 1) * probs_sample, probs_sample);

    float metrics[METRIC_COUNT];
    expect_ok(ctx, ctx->api->evaluate(ctx->model, BATCH, image, labels, metrics), "evaluate");
    for (int i = 0; i < METRIC_COUNT; i++)
        compare(ctx, stage, metric_names[i], &metrics[i], load_expected(ctx, prefix, metric_names[i], 0), 1);
}

/* Every tensor of list from the saved weights against "expect.<stage>.*", and
 * the block the model holds them in (in list order) against the saved ones. */
static void check_tensors(context *ctx, const char *stage, const tensor_list *list, const float *block,
                          size_t block_count)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "expect.%s", stage);
    assert_int_equal(block_count, list->total);
    size_t offset = 0;
    for (size_t i = 0; i < list->length; i++) {
        const tensor_info *t = &list->tensors[i];
        const float *got = load_tensor(ctx, ctx->check.weights_path, t->name, t->rank, t->shape);
        char full[2 * MAX_NAME];
        snprintf(full, sizeof full, "%s.%s", prefix, t->name);
        const float *want = load_tensor(ctx, ctx->check.fixture_path, full, t->rank, t->shape);
        compare(ctx, stage, t->name, got, want, t->count);
        if (memcmp(block + offset, got, t->count * sizeof *got) != 0)
            fail_msg("%s: %s is not at offset %zu of the model's block: another order than the fixture's",
                     ctx->api->name, t->name, offset);
        offset += t->count;
    }
}

/* One train_step: the loss it returns, then every parameter and moving
 * statistic, read back through <model>_save. */
static void check_train_step(context *ctx, int step, const float *image, const int32_t *labels)
{
    char prefix[32], stage[16];
    snprintf(prefix, sizeof prefix, "expect.step%d", step);
    snprintf(stage, sizeof stage, "step%d", step);

    float loss = NAN;
    expect_ok(ctx, ctx->api->train_step(ctx->model, BATCH, image, labels, &loss), "train_step");
    compare(ctx, stage, "loss", &loss, load_expected(ctx, prefix, "loss", 0), 1);

    expect_ok(ctx, ctx->api->save(ctx->model, ctx->check.weights_path), "save");
    size_t count = 0;
    const float *parameters = ctx->api->parameters(ctx->model, &count);
    check_tensors(ctx, stage, &ctx->parameters, parameters, count);
    const float *state = ctx->api->state(ctx->model, &count);
    check_tensors(ctx, stage, &ctx->state, state, count);
}

/* The fixture's labels, stored as exact F32 integers, as class indices. */
static int32_t *load_labels(context *ctx)
{
    size_t count = BATCH * ctx->api->label_sample;
    size_t classes = ctx->api->probs_sample / ctx->api->label_sample;
    const float *stored = load_input(ctx, "label", ctx->api->label_sample);
    int32_t *labels = keep(ctx, count * sizeof *labels);
    for (size_t i = 0; i < count; i++) {
        assert_true(stored[i] >= 0.0f && stored[i] < (float)classes);
        labels[i] = (int32_t)stored[i];
        assert_true((float)labels[i] == stored[i]);
    }
    return labels;
}

/* The whole life of one variant against its PyTorch fixture. */
static void test_architecture(void **state)
{
    context *ctx = *state;
    read_metadata(ctx);
    check_counts(ctx);
    expect_ok(ctx, ctx->api->load(ctx->model, ctx->check.fixture_path), "load");
    const float *image = load_input(ctx, "image", ctx->api->image_sample);
    const int32_t *labels = load_labels(ctx);

    check_forward_and_evaluate(ctx, "initial", image, labels);
    check_train_step(ctx, 1, image, labels);
    check_train_step(ctx, 2, image, labels);
    check_forward_and_evaluate(ctx, "trained", image, labels);
    assert_true(ctx->check.all_close);
}

/* cmocka_unit_test_prestate_setup_teardown, named after the variant. */
#define ARCH_TEST(model)                                                                             \
    {.name = #model, .test_func = test_architecture, .setup_func = setup, .teardown_func = teardown, \
     .initial_state = (void *)&model##_arch}

/* The trainable parameters tsc --summary prints for an example model: the
 * number after "Trainable params: " (with its thousands commas), or -1. */
static long summary_trainable_count(const char *model)
{
    char command[1024];
    snprintf(command, sizeof command, "'%s' --summary '%s/examples/models/%s.tdl'", TSC_EXECUTABLE, TSC_SOURCE_DIR,
             model);
    FILE *out = popen(command, "r");
    assert_non_null(out);
    static const char key[] = "Trainable params: ";
    long count = -1;
    char line[512];
    while (fgets(line, sizeof line, out)) {
        if (strncmp(line, key, sizeof key - 1) != 0)
            continue;
        count = 0;
        for (const char *p = line + sizeof key - 1; (*p >= '0' && *p <= '9') || *p == ','; p++)
            if (*p != ',')
                count = count * 10 + (*p - '0');
    }
    assert_int_equal(pclose(out), 0);
    return count;
}

/* tsc --summary's count of trainable parameters of each example equals
 * PyTorch's parameters() count of the same network (from its fixtures). */
static void test_summary_counts(void **state)
{
    (void)state;
    static const char *const models[] = {"resnet_small", "mobilenet_small", "unet_small"};
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        context ctx = {0};
        char fixture_file[256];
        snprintf(fixture_file, sizeof fixture_file, "arch_%s_sgd.safetensors", models[i]);
        assert_true(fixture_check_open(&ctx.check, models[i], TSC_FIXTURE_DIR, fixture_file, TSC_BINARY_DIR,
                                       TOLERANCE, 56));
        read_metadata(&ctx);
        fixture_check_close(&ctx.check);
        long summary = summary_trainable_count(models[i]);
        printf("%s: tsc --summary %ld trainable parameters, PyTorch %ld\n", models[i], summary,
               ctx.torch_parameter_count);
        assert_int_equal(summary, ctx.torch_parameter_count);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_counts),
        ARCH_TEST(resnet_small_sgd),       ARCH_TEST(resnet_small_momentum),
        ARCH_TEST(resnet_small_nesterov),  ARCH_TEST(resnet_small_adam),
        ARCH_TEST(resnet_small_adamw),     ARCH_TEST(resnet_small_rmsprop),
        ARCH_TEST(mobilenet_small_sgd),    ARCH_TEST(mobilenet_small_momentum),
        ARCH_TEST(mobilenet_small_nesterov), ARCH_TEST(mobilenet_small_adam),
        ARCH_TEST(mobilenet_small_adamw),  ARCH_TEST(mobilenet_small_rmsprop),
        ARCH_TEST(unet_small_sgd),         ARCH_TEST(unet_small_momentum),
        ARCH_TEST(unet_small_nesterov),    ARCH_TEST(unet_small_adam),
        ARCH_TEST(unet_small_adamw),       ARCH_TEST(unet_small_rmsprop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
