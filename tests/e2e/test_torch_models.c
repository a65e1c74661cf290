/* Whole generated models against PyTorch.
 *
 * tests/e2e/models/fx_{sgd,momentum,nesterov,adam}.tdl share one small
 * architecture (a stride-2 'same' conv2d with uneven padding, a 'same'
 * max_pool2d, dense layers, relu/tanh, softmax, sparse softmax cross-entropy
 * plus a weighted focal loss, in_top_k, accuracy and mean metrics) and differ
 * in the optimizer; fx_concat and fx_batch_norm have graphs of their own
 * (fx_batch_norm's moving statistics are checked with its weights). Any fx_ model with the same inputs, outputs, losses and
 * metrics fits this test: it brings its own table of weights.
 * tests/e2e/fixtures/make_model_fixtures.py builds every fx_ model in
 * PyTorch and stores, per model, the initial weights (under the
 * model's own names), the inputs, and the expected forward outputs, evaluate
 * results, train_step losses and the weights after one and two train steps.
 *
 * Each test loads the initial weights with <model>_load straight from the
 * fixture, then checks forward, evaluate, two train_steps (the returned loss,
 * and every weight read back through <model>_save and tdl_safetensors_load),
 * and forward/evaluate again on the trained weights. One line per tensor:
 *
 *     fx_adam step2 dense_1.kernel                 max|diff| = 3.0e-08  OK
 *
 * A value passes when |got - want| <= TOLERANCE * (1 + |want|). The fixture
 * directory can be overridden with the environment variable
 * TSC_E2E_FIXTURE_DIR (to try a perturbed copy, for instance).
 */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fx_adam.h"
#include "fx_adamw.h"
#include "fx_clip_schedule.h"
#include "fx_batch_norm.h"
#include "fx_concat.h"
#include "fx_groups.h"
#include "fx_expr.h"
#include "fx_momentum.h"
#include "fx_nesterov.h"
#include "fx_rmsprop.h"
#include "fx_sgd.h"
#include "fx_smooth.h"
#include "fx_spatial.h"
#include "fixture_check.h"
#include "tdl/runtime.h"

/* float32 models against float64 references: differences are ~1e-7 here, so
 * 1e-4 leaves room for summation order while catching any real error. */
#define TOLERANCE 1e-4

/* The fixtures' batch; the models are made for more, so that the generated
 * code's max_batch strides differ from the batch actually run. */
#define BATCH 6
#define MAX_BATCH 8

#define HEIGHT 9
#define WIDTH 10
#define CHANNELS 2
#define CLASSES 5
#define IMAGE_SAMPLE (HEIGHT * WIDTH * CHANNELS)
#define MAX_NAME 96

/* One field of <model>_metrics per loss and metric, in model order. */
enum { METRIC_XENT, METRIC_FOCAL, METRIC_TOP2, METRIC_ACC, METRIC_MXENT, METRIC_COUNT };
static const char *const metric_names[METRIC_COUNT] = {"xent", "focal", "top2", "acc", "mxent"};

/* One weight of a model, with its shape (HWIO conv kernel, [in, units]
 * dense kernel). */
typedef struct weight_info {
    const char *name;
    int rank;
    int64_t shape[4];
} weight_info;

/* The weights of fx_sgd, fx_momentum, fx_nesterov and fx_adam: 417 parameters. */
#define POOL_PARAM_COUNT 417
static const weight_info pool_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 4}},
    {"conv2d_1.bias", 1, {4}},
    {"dense_1.kernel", 2, {36, 8}},
    {"dense_1.bias", 1, {8}},
    {"dense_2.kernel", 2, {8, CLASSES}},
    {"dense_2.bias", 1, {CLASSES}},
};

/* The generated API of one model, behind uniform signatures. */
typedef struct model_api {
    const char *name;
    const weight_info *weights;  /* every weight, checked after each train_step */
    size_t weight_count;
    void *(*create)(int max_batch);
    void (*destroy)(void *m);
    tdl_status (*load)(void *m, const char *path);
    tdl_status (*save)(const void *m, const char *path);
    tdl_status (*forward)(void *m, int batch, const float *image, float *probs, float *logits);
    tdl_status (*evaluate)(void *m, int batch, const float *image, const int32_t *label,
                           float metrics[METRIC_COUNT]);
    tdl_status (*train_step)(void *m, int batch, const float *image, const int32_t *label,
                             float *loss);
} model_api;

/* Wrappers that turn the typed generated functions into a model_api; the
 * static asserts pin the shapes this test assumes to the generated header.
 * weight_table lists the model's weights, param_count their total size. */
#define DEFINE_MODEL_API(model, MODEL, weight_table, param_count)                                 \
    _Static_assert(MODEL##_IMAGE_SAMPLE_SIZE == IMAGE_SAMPLE, #model ": image shape");          \
    _Static_assert(MODEL##_PROBS_SAMPLE_SIZE == CLASSES, #model ": probs shape");                \
    _Static_assert(MODEL##_LOGITS_SAMPLE_SIZE == CLASSES, #model ": logits shape");              \
    _Static_assert(MODEL##_PARAM_COUNT == (param_count), #model ": parameter count");            \
    static void *model##_create_any(int max_batch) { return model##_create(max_batch); }         \
    static void model##_destroy_any(void *m) { model##_destroy(m); }                             \
    static tdl_status model##_load_any(void *m, const char *path)                                \
    {                                                                                            \
        return model##_load(m, path);                                                            \
    }                                                                                            \
    static tdl_status model##_save_any(const void *m, const char *path)                          \
    {                                                                                            \
        return model##_save(m, path);                                                            \
    }                                                                                            \
    static tdl_status model##_forward_any(void *m, int batch, const float *image, float *probs,  \
                                          float *logits)                                         \
    {                                                                                            \
        return model##_forward(m, batch, (const float(*)[HEIGHT][WIDTH][CHANNELS])image,         \
                               (float(*)[CLASSES])probs, (float(*)[CLASSES])logits);             \
    }                                                                                            \
    static tdl_status model##_evaluate_any(void *m, int batch, const float *image,               \
                                           const int32_t *label, float metrics[METRIC_COUNT])    \
    {                                                                                            \
        model##_metrics out;                                                                     \
        tdl_status status = model##_evaluate(                                                    \
            m, batch, (const float(*)[HEIGHT][WIDTH][CHANNELS])image, label, &out);              \
        metrics[METRIC_XENT] = out.xent;                                                         \
        metrics[METRIC_FOCAL] = out.focal;                                                       \
        metrics[METRIC_TOP2] = out.top2;                                                         \
        metrics[METRIC_ACC] = out.acc;                                                           \
        metrics[METRIC_MXENT] = out.mxent;                                                       \
        return status;                                                                           \
    }                                                                                            \
    static tdl_status model##_train_step_any(void *m, int batch, const float *image,             \
                                             const int32_t *label, float *loss)                  \
    {                                                                                            \
        return model##_train_step(m, batch, (const float(*)[HEIGHT][WIDTH][CHANNELS])image,      \
                                  label, loss);                                                  \
    }                                                                                            \
    static const model_api model##_api = {#model,                                               \
                                          weight_table,                                          \
                                          sizeof weight_table / sizeof weight_table[0],          \
                                          model##_create_any,                                    \
                                          model##_destroy_any,                                   \
                                          model##_load_any,                                      \
                                          model##_save_any,                                      \
                                          model##_forward_any,                                   \
                                          model##_evaluate_any,                                  \
                                          model##_train_step_any};

DEFINE_MODEL_API(fx_sgd, FX_SGD, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_momentum, FX_MOMENTUM, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_nesterov, FX_NESTEROV, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_adam, FX_ADAM, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_rmsprop, FX_RMSPROP, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_adamw, FX_ADAMW, pool_weights, POOL_PARAM_COUNT)
DEFINE_MODEL_API(fx_clip_schedule, FX_CLIP_SCHEDULE, pool_weights, POOL_PARAM_COUNT)

/* The weights of fx_concat: 2348 parameters. */
#define CONCAT_PARAM_COUNT 2348
static const weight_info concat_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 3}},
    {"conv2d_1.bias", 1, {3}},
    {"conv2d_2.kernel", 4, {1, 1, CHANNELS, 2}},
    {"conv2d_2.bias", 1, {2}},
    {"conv2d_3.kernel", 4, {1, 1, 5, 5}},
    {"conv2d_3.bias", 1, {5}},
    {"dense_1.kernel", 2, {HEIGHT * WIDTH * 5, CLASSES}},
    {"dense_1.bias", 1, {CLASSES}},
};
DEFINE_MODEL_API(fx_concat, FX_CONCAT, concat_weights, CONCAT_PARAM_COUNT)

/* The weights of fx_spatial: 792 parameters; conv2d_transpose kernels are
 * [kh, kw, filters, in_channels], as Keras stores them. */
#define SPATIAL_PARAM_COUNT 792
static const weight_info spatial_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 4}},
    {"conv2d_1.bias", 1, {4}},
    {"conv2d_transpose_1.kernel", 4, {3, 3, 3, 4}},
    {"conv2d_transpose_1.bias", 1, {3}},
    {"conv2d_transpose_2.kernel", 4, {2, 2, 2, 5}},
    {"dense_1.kernel", 2, {4 * 14 * 2, CLASSES}},
    {"dense_1.bias", 1, {CLASSES}},
};
DEFINE_MODEL_API(fx_spatial, FX_SPATIAL, spatial_weights, SPATIAL_PARAM_COUNT)
/* The weights of fx_groups (depthwise, separable, grouped conv2d): 783 parameters. */
#define GROUPS_PARAM_COUNT 783
static const weight_info groups_weights[] = {
    {"depthwise_conv2d_1.depthwise_kernel", 4, {3, 3, CHANNELS, 2}},
    {"depthwise_conv2d_1.bias", 1, {4}},
    {"separable_conv2d_1.depthwise_kernel", 4, {3, 3, 4, 2}},
    {"separable_conv2d_1.pointwise_kernel", 4, {1, 1, 8, 6}},
    {"separable_conv2d_1.bias", 1, {6}},
    {"conv2d_1.kernel", 4, {3, 3, 3, 4}},
    {"conv2d_1.bias", 1, {4}},
    {"dense_1.kernel", 2, {5 * 5 * 4, CLASSES}},
    {"dense_1.bias", 1, {CLASSES}},
};
DEFINE_MODEL_API(fx_groups, FX_GROUPS, groups_weights, GROUPS_PARAM_COUNT)

/* The weights of fx_smooth: 800 parameters. */
#define SMOOTH_PARAM_COUNT 800
static const weight_info smooth_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 3}},
    {"conv2d_1.bias", 1, {3}},
    {"dense_1.kernel", 2, {5 * 5 * 3, 8}},
    {"dense_1.bias", 1, {8}},
    {"dense_2.kernel", 2, {8, CLASSES}},
    {"dense_2.bias", 1, {CLASSES}},
    {"dense_3.kernel", 2, {8, CLASSES}},
    {"dense_3.bias", 1, {CLASSES}},
    {"dense_4.kernel", 2, {8, CLASSES}},
    {"dense_4.bias", 1, {CLASSES}},
};
DEFINE_MODEL_API(fx_smooth, FX_SMOOTH, smooth_weights, SMOOTH_PARAM_COUNT)

/* The weights of fx_expr: 949 parameters; conv2d_2 is nested in `a + conv2d(…)`. */
#define EXPR_PARAM_COUNT 949
static const weight_info expr_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 2}},
    {"conv2d_1.bias", 1, {2}},
    {"conv2d_2.kernel", 4, {1, 1, 2, 2}},
    {"conv2d_2.bias", 1, {2}},
    {"dense_1.kernel", 2, {HEIGHT * WIDTH * 2, CLASSES}},
    {"dense_1.bias", 1, {CLASSES}},
};
DEFINE_MODEL_API(fx_expr, FX_EXPR, expr_weights, EXPR_PARAM_COUNT)

/* The weights of fx_batch_norm: 1885 trainable parameters, then its
 * non-trainable state (checked after each step like the weights: the moving
 * statistics move with the batch's). */
#define BATCH_NORM_PARAM_COUNT 1885
static const weight_info batch_norm_weights[] = {
    {"conv2d_1.kernel", 4, {3, 3, CHANNELS, 4}},
    {"batch_norm_1.gamma", 1, {4}},
    {"batch_norm_1.beta", 1, {4}},
    {"dense_1.kernel", 2, {HEIGHT * WIDTH * 4, CLASSES}},
    {"dense_1.bias", 1, {CLASSES}},
    {"batch_norm_1.moving_mean", 1, {4}},
    {"batch_norm_1.moving_variance", 1, {4}},
};
_Static_assert(FX_BATCH_NORM_STATE_COUNT == 8, "fx_batch_norm: state count");
DEFINE_MODEL_API(fx_batch_norm, FX_BATCH_NORM, batch_norm_weights, BATCH_NORM_PARAM_COUNT)

typedef struct context {
    const model_api *api;
    void *model;
    fixture_check check;     /* the fixture, a temporary weights file, kept tensors */
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

/* The initial state is the model's api; it becomes a context with the model
 * created, the fixture located and a temporary weights file reserved. */
static int setup(void **state)
{
    context *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return -1;
    ctx->api = *state;
    *state = ctx;
    char fixture_file[256];
    snprintf(fixture_file, sizeof fixture_file, "%s.safetensors", ctx->api->name);
    if (!fixture_check_open(&ctx->check, ctx->api->name, TSC_SOURCE_DIR "/tests/e2e/fixtures", fixture_file, TSC_BINARY_DIR, TOLERANCE,
                            48)) {
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
/* Reading tensors                                                           */
/* ------------------------------------------------------------------------ */


static size_t element_count(int rank, const int64_t *shape)
{
    size_t count = 1;
    for (int i = 0; i < rank; i++)
        count *= (size_t)shape[i];
    return count;
}

/* An F32 tensor of the given shape from a safetensors file; lives until teardown. */
static float *load_tensor(context *ctx, const char *path, const char *name, int rank,
                          const int64_t *shape)
{
    return fixture_check_load(&ctx->check, path, name, rank, shape);
}

/* "<prefix>.<name>" from the fixture. */
static float *load_expected(context *ctx, const char *prefix, const char *name, int rank,
                            const int64_t *shape)
{
    char full[MAX_NAME];
    snprintf(full, sizeof full, "%s.%s", prefix, name);
    return load_tensor(ctx, ctx->check.fixture_path, full, rank, shape);
}

static float load_expected_scalar(context *ctx, const char *prefix, const char *name)
{
    const int64_t shape[1] = {1};
    return load_expected(ctx, prefix, name, 1, shape)[0];
}

/* The fixture's labels, stored as exact F32 integers, as int32 class indices. */
static void load_labels(context *ctx, int32_t labels[BATCH])
{
    const int64_t shape[1] = {BATCH};
    const float *stored = load_tensor(ctx, ctx->check.fixture_path, "input.label", 1, shape);
    for (int i = 0; i < BATCH; i++) {
        assert_true(stored[i] >= 0.0f && stored[i] < (float)CLASSES);
        labels[i] = (int32_t)stored[i];
        assert_true((float)labels[i] == stored[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* Comparing                                                                 */
/* ------------------------------------------------------------------------ */

/* Prints the largest |got - want| of one tensor and records a failure. */
static void compare(context *ctx, const char *stage, const char *name, const float *got,
                    const float *want, size_t count)
{
    fixture_check_compare(&ctx->check, stage, name, got, want, count);
}

static void expect_ok(const context *ctx, tdl_status status, const char *what)
{
    fixture_check_expect_ok(&ctx->check, status, what);
}

/* forward's probs and logits, and every evaluate field, against
 * "expect.<stage>.*". */
static void check_forward_and_evaluate(context *ctx, const char *stage, const float *image,
                                       const int32_t *labels)
{
    char prefix[32];
    snprintf(prefix, sizeof prefix, "expect.%s", stage);
    const int64_t output_shape[2] = {BATCH, CLASSES};
    const float *want_probs = load_expected(ctx, prefix, "probs", 2, output_shape);
    const float *want_logits = load_expected(ctx, prefix, "logits", 2, output_shape);

    float probs[BATCH * CLASSES], logits[BATCH * CLASSES];
    expect_ok(ctx, ctx->api->forward(ctx->model, BATCH, image, probs, logits), "forward");
    compare(ctx, stage, "probs", probs, want_probs, BATCH * CLASSES);
    compare(ctx, stage, "logits", logits, want_logits, BATCH * CLASSES);

    /* The last example alone (its row must not depend on the batch), with the
     * logits output skipped through NULL. */
    float last_probs[CLASSES];
    const float *last_image = image + (size_t)(BATCH - 1) * IMAGE_SAMPLE;
    expect_ok(ctx, ctx->api->forward(ctx->model, 1, last_image, last_probs, NULL), "forward");
    compare(ctx, stage, "probs[5] (batch 1)", last_probs, want_probs + (BATCH - 1) * CLASSES,
            CLASSES);

    float metrics[METRIC_COUNT];
    expect_ok(ctx, ctx->api->evaluate(ctx->model, BATCH, image, labels, metrics), "evaluate");
    for (int i = 0; i < METRIC_COUNT; i++) {
        float want = load_expected_scalar(ctx, prefix, metric_names[i]);
        compare(ctx, stage, metric_names[i], &metrics[i], &want, 1);
    }
}

/* One train_step: the loss it returns and every weight afterwards, read back
 * through <model>_save, against "expect.step<step>.*". */
static void check_train_step(context *ctx, int step, const float *image, const int32_t *labels)
{
    char prefix[32], stage[16];
    snprintf(prefix, sizeof prefix, "expect.step%d", step);
    snprintf(stage, sizeof stage, "step%d", step);

    float loss = NAN;
    expect_ok(ctx, ctx->api->train_step(ctx->model, BATCH, image, labels, &loss), "train_step");
    float want_loss = load_expected_scalar(ctx, prefix, "loss");
    compare(ctx, stage, "loss", &loss, &want_loss, 1);

    expect_ok(ctx, ctx->api->save(ctx->model, ctx->check.weights_path), "save");
    for (size_t i = 0; i < ctx->api->weight_count; i++) {
        const weight_info *w = &ctx->api->weights[i];
        const float *got = load_tensor(ctx, ctx->check.weights_path, w->name, w->rank, w->shape);
        const float *want = load_expected(ctx, prefix, w->name, w->rank, w->shape);
        compare(ctx, stage, w->name, got, want, element_count(w->rank, w->shape));
    }
}

/* ------------------------------------------------------------------------ */
/* Tests                                                                     */
/* ------------------------------------------------------------------------ */

/* The whole life of one model: load, forward, evaluate, two train steps,
 * forward and evaluate again, all against the PyTorch fixture. */
static void check_model_against_torch(context *ctx)
{
    expect_ok(ctx, ctx->api->load(ctx->model, ctx->check.fixture_path), "load");
    const int64_t image_shape[4] = {BATCH, HEIGHT, WIDTH, CHANNELS};
    const float *image = load_tensor(ctx, ctx->check.fixture_path, "input.image", 4, image_shape);
    int32_t labels[BATCH];
    load_labels(ctx, labels);

    check_forward_and_evaluate(ctx, "initial", image, labels);
    check_train_step(ctx, 1, image, labels);
    check_train_step(ctx, 2, image, labels);
    check_forward_and_evaluate(ctx, "trained", image, labels);
    assert_true(ctx->check.all_close);
}

/* Plain SGD: p -= lr * g. */
static void test_fx_sgd(void **state)
{
    check_model_against_torch(*state);
}

/* SGD with momentum 0.9 from a zero velocity: step 2 depends on step 1's velocity. */
static void test_fx_momentum(void **state)
{
    check_model_against_torch(*state);
}

/* Nesterov momentum: p += mu * v - lr * g. */
static void test_fx_nesterov(void **state)
{
    check_model_against_torch(*state);
}

/* concat of two conv2d branches on the channel axis, times a sigmoid gate of it; Adam. */
static void test_fx_concat(void **state)
{
    check_model_against_torch(*state);
}

/* An encoder-decoder: conv2d_transpose to an odd size, upsample2d (bilinear
 * and nearest), zero_padding2d and cropping2d; Adam. */
static void test_fx_spatial(void **state)
{
    check_model_against_torch(*state);
}

/* depthwise_conv2d, separable_conv2d and a grouped conv2d (groups=2); Adam. */
static void test_fx_groups(void **state)
{
    check_model_against_torch(*state);
}

/* gelu, elu, swish, softplus, silu; label smoothing on the four cross-entropies,
 * mean_absolute_error and huber, all in the objective train_step minimises. */
static void test_fx_smooth(void **state)
{
    check_model_against_torch(*state);
}

/* Nested calls and infix operators: a residual add, subtract, multiply and
 * rescalings by numbers, with layers with weights nested; plain SGD. */
static void test_fx_expr(void **state)
{
    check_model_against_torch(*state);
}

/* conv2d, batch_norm, relu; Adam: batch statistics in training, moving ones
 * in forward and evaluate, the moving statistics after each step. */
static void test_fx_batch_norm(void **state)
{
    check_model_against_torch(*state);
}

/* Adam with Keras' epsilon placement and bias-corrected learning rate. */
static void test_fx_adam(void **state)
{
    check_model_against_torch(*state);
}

/* Keras RMSprop (epsilon inside the square root), centered, with momentum: all three slots. */
static void test_fx_rmsprop(void **state)
{
    check_model_against_torch(*state);
}

/* AdamW (weight decay 0.5, so that it shows) with amsgrad. */
static void test_fx_adamw(void **state)
{
    check_model_against_torch(*state);
}

/* SGD momentum on gradients clipped per tensor (clipnorm), with an
 * exponentially decaying learning rate: 0.1 for step 1, 0.05 for step 2. */
static void test_fx_clip_schedule(void **state)
{
    check_model_against_torch(*state);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate_setup_teardown(test_fx_sgd, setup, teardown,
                                                 (void *)&fx_sgd_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_momentum, setup, teardown,
                                                 (void *)&fx_momentum_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_nesterov, setup, teardown,
                                                 (void *)&fx_nesterov_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_adam, setup, teardown,
                                                 (void *)&fx_adam_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_concat, setup, teardown,
                                                 (void *)&fx_concat_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_spatial, setup, teardown,
                                                 (void *)&fx_spatial_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_groups, setup, teardown,
                                                 (void *)&fx_groups_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_smooth, setup, teardown,
                                                 (void *)&fx_smooth_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_expr, setup, teardown,
                                                 (void *)&fx_expr_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_batch_norm, setup, teardown,
                                                 (void *)&fx_batch_norm_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_rmsprop, setup, teardown,
                                                 (void *)&fx_rmsprop_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_adamw, setup, teardown,
                                                 (void *)&fx_adamw_api),
        cmocka_unit_test_prestate_setup_teardown(test_fx_clip_schedule, setup, teardown,
                                                 (void *)&fx_clip_schedule_api),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
