/* The example architectures learn, from the generated C.
 *
 * examples/models/resnet_small.tdl, mobilenet_small.tdl and unet_small.tdl,
 * each with the optimizer of its file, start from <model>_init with a fixed
 * seed and take STEPS train steps on a synthetic task that can be learnt:
 *
 *   - resnet_small, mobilenet_small: the class of an image is its colour, a
 *     prototype per class drawn once, with pixel noise of the same size on top;
 *   - unet_small: each image has a rectangle of class 1 and one of class 2 on a
 *     background of class 0, each pixel its class's colour plus noise, and
 *     the label of every pixel is its class.
 *
 * Every batch is new (a seeded stream), so the loss that falls is not a
 * memorised batch's. The test requires the mean loss of the last WINDOW steps
 * to be below REQUIRED_RATIO times that of the first WINDOW, and prints every
 * loss. The run is deterministic: the same seeds give the same losses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mobilenet_small.h"
#include "resnet_small.h"
#include "unet_small.h"
#include "tdl/runtime.h"

#define BATCH 16
#define STEPS 80
#define WINDOW 5
#define REQUIRED_RATIO 0.7
#define SIZE 32
#define CHANNELS 3
#define NOISE 0.5f
#define INIT_SEED 7u
#define DATA_SEED 20261130u

/* One example model behind uniform signatures. */
typedef struct trainable {
    const char *name;
    size_t label_sample;  /* 1 for a class per image, SIZE*SIZE for one per pixel */
    int classes;
    void *(*create)(int max_batch);
    void (*init)(void *m, uint64_t seed);
    void (*destroy)(void *m);
    tdl_status (*train_step)(void *m, int batch, const float *image, const int32_t *label, float *loss);
} trainable;

/* The generated parameter types of the inputs: 32x32 colour images, and a
 * class per image or one per pixel. */
typedef const float (*const_images)[32][32][3];
typedef const int32_t *const_labels;
typedef const int32_t (*const_masks)[32][32];

#define TRAINABLE(model, MODEL, LABEL, LABELS)                                                             \
    static void *model##_create_any(int max_batch) { return model##_create(max_batch); }                   \
    static void model##_init_any(void *m, uint64_t seed) { model##_init(m, seed); }                        \
    static void model##_destroy_any(void *m) { model##_destroy(m); }                                       \
    static tdl_status model##_train_step_any(void *m, int batch, const float *image, const int32_t *label, \
                                             float *loss)                                                  \
    {                                                                                                      \
        return model##_train_step(m, batch, (const_images)image, (LABELS)label, loss);                     \
    }                                                                                                      \
    _Static_assert(MODEL##_IMAGE_SAMPLE_SIZE == SIZE * SIZE * CHANNELS, #model ": image shape");           \
    static const trainable model##_trainable = {                                                           \
        #model, MODEL##_##LABEL##_SAMPLE_SIZE, MODEL##_PROBS_SAMPLE_SIZE / MODEL##_##LABEL##_SAMPLE_SIZE,  \
        model##_create_any, model##_init_any, model##_destroy_any, model##_train_step_any};

TRAINABLE(resnet_small, RESNET_SMALL, LABEL, const_labels)
TRAINABLE(mobilenet_small, MOBILENET_SMALL, LABEL, const_labels)
TRAINABLE(unet_small, UNET_SMALL, MASK, const_masks)

/* ------------------------------------------------------------------------ */
/* The synthetic data                                                        */
/* ------------------------------------------------------------------------ */

/* splitmix64: a small seeded stream, the same on every platform. */
static uint64_t next_u64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [-1, 1). */
static float uniform(uint64_t *state)
{
    return (float)((double)(next_u64(state) >> 11) * 0x1.0p-52 - 1.0);
}

static int below(uint64_t *state, int n)
{
    return (int)(next_u64(state) % (uint64_t)n);
}

#define MAX_CLASSES 10
typedef struct task {
    const trainable *model;
    float colours[MAX_CLASSES][CHANNELS];
    uint64_t rng;
} task;

static void paint(task *t, float *pixel, int class_index)
{
    for (int c = 0; c < CHANNELS; c++)
        pixel[c] = t->colours[class_index][c] + NOISE * uniform(&t->rng);
}

/* One example: the image and its label(s). */
static void draw_example(task *t, float *image, int32_t *label)
{
    if (t->model->label_sample == 1) {
        label[0] = below(&t->rng, t->model->classes);
        for (int i = 0; i < SIZE * SIZE; i++)
            paint(t, image + i * CHANNELS, label[0]);
        return;
    }
    for (int i = 0; i < SIZE * SIZE; i++)
        label[i] = 0;
    for (int k = 1; k <= 2; k++) {  /* a rectangle of class 1, then one of class 2 over it */
        int h = 6 + below(&t->rng, 10), w = 6 + below(&t->rng, 10);
        int top = below(&t->rng, SIZE - h + 1), left = below(&t->rng, SIZE - w + 1);
        for (int r = top; r < top + h; r++)
            for (int c = left; c < left + w; c++)
                label[r * SIZE + c] = k;
    }
    for (int i = 0; i < SIZE * SIZE; i++)
        paint(t, image + i * CHANNELS, label[i]);
}

/* ------------------------------------------------------------------------ */
/* The test                                                                  */
/* ------------------------------------------------------------------------ */

static double mean(const float *values, int count)
{
    double sum = 0.0;
    for (int i = 0; i < count; i++)
        sum += values[i];
    return sum / count;
}

static void test_loss_falls(void **state)
{
    const trainable *model = *state;
    assert_true(model->classes <= MAX_CLASSES);
    task t = {.model = model, .rng = DATA_SEED};
    for (int k = 0; k < model->classes; k++)
        for (int c = 0; c < CHANNELS; c++)
            t.colours[k][c] = uniform(&t.rng);

    float *image = malloc((size_t)BATCH * SIZE * SIZE * CHANNELS * sizeof *image);
    int32_t *labels = malloc((size_t)BATCH * model->label_sample * sizeof *labels);
    void *m = model->create(BATCH);
    assert_non_null(image);
    assert_non_null(labels);
    assert_non_null(m);
    model->init(m, INIT_SEED);

    float losses[STEPS];
    for (int step = 0; step < STEPS; step++) {
        for (int b = 0; b < BATCH; b++)
            draw_example(&t, image + (size_t)b * SIZE * SIZE * CHANNELS, labels + (size_t)b * model->label_sample);
        tdl_status status = model->train_step(m, BATCH, image, labels, &losses[step]);
        if (status != TDL_STATUS_OK)
            fail_msg("%s_train_step: %s: %s", model->name, tdl_status_name(status), tdl_last_error());
        assert_true(isfinite(losses[step]));
    }
    printf("%s losses:", model->name);
    for (int step = 0; step < STEPS; step++)
        printf("%s%.4f", step % 10 ? " " : "\n   ", (double)losses[step]);
    double first = mean(losses, WINDOW), last = mean(losses + STEPS - WINDOW, WINDOW);
    printf("\n%s: mean of the first %d %.4f, of the last %d %.4f (ratio %.3f, required < %.2f)\n", model->name,
           WINDOW, first, WINDOW, last, last / first, REQUIRED_RATIO);
    model->destroy(m);
    free(labels);
    free(image);
    assert_true(last < REQUIRED_RATIO * first);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_loss_falls, (void *)&resnet_small_trainable),
        cmocka_unit_test_prestate(test_loss_falls, (void *)&mobilenet_small_trainable),
        cmocka_unit_test_prestate(test_loss_falls, (void *)&unet_small_trainable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
