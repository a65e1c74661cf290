/* Runs every e2e model and the example models through forward, evaluate and
 * three train steps on fixed inputs, recording the outputs, metrics, losses,
 * the first step's gradients and the final parameters: the trace.
 *
 * Built twice (tests/portable/CMakeLists.txt): against the optimised runtime,
 * which writes the trace (model_trace --write FILE), and against the portable
 * one, which computes its own and compares (model_trace --compare FILE):
 * every value must be within 1e-5 (absolute, plus 1e-5 relative) of the
 * optimised build's. Models live in arenas from NAME_create_in, since the
 * portable runtime has no NAME_create. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fashion_cnn.h"
#include "fx_adam.h"
#include "fx_concat.h"
#include "fx_momentum.h"
#include "fx_nesterov.h"
#include "fx_sgd.h"
#include "gc_backprop.h"
#include "gc_combine.h"
#include "gc_conv.h"
#include "gc_dense.h"
#include "lenet5.h"
#include "mlp.h"
#include "mnist_convnet.h"
#include "vgg_small.h"

enum { BATCH = 3, STEPS = 3 };
#define TOLERANCE 1e-5

static FILE *reference; /* --compare: the optimised build's trace */
static FILE *output;    /* --write */
static long compared, mismatches;
static double worst;

/* Records x[0..n) as `what` of `model`: writes it (its length, then the
 * floats as they are in memory), or compares it with the reference. */
static void trace(const char *model, const char *what, const float *x, size_t n) {
    const uint64_t count = n;
    if (output != NULL) {
        if (fwrite(&count, sizeof count, 1, output) != 1 || fwrite(x, sizeof *x, n, output) != n) {
            fprintf(stderr, "cannot write the trace at %s %s\n", model, what);
            exit(1);
        }
        return;
    }
    uint64_t ref_count = 0;
    if (fread(&ref_count, sizeof ref_count, 1, reference) != 1 || ref_count != count) {
        fprintf(stderr, "the reference trace does not follow at %s %s\n", model, what);
        exit(1);
    }
    for (size_t i = 0; i < n; ++i) {
        float want_float;
        if (fread(&want_float, sizeof want_float, 1, reference) != 1) {
            fprintf(stderr, "the reference trace ends at %s %s[%zu]\n", model, what, i);
            exit(1);
        }
        const double want = want_float;
        const double error = fabs((double)x[i] - want);
        ++compared;
        if (!(error <= TOLERANCE + TOLERANCE * fabs(want))) {
            if (mismatches < 20)
                fprintf(stderr, "%s %s[%zu]: portable %.9g, optimised %.9g\n", model, what, i, (double)x[i], want);
            ++mismatches;
        }
        if (error > worst || error != error) worst = error;
    }
}

static void check(tdl_status status, const char *model, const char *what) {
    if (status != TDL_STATUS_OK) {
        fprintf(stderr, "%s: %s failed: %s\n", model, what, tdl_last_error());
        exit(1);
    }
}

static uint32_t lcg = 12345u;
static float next_uniform(void) {
    lcg = lcg * 1664525u + 1013904223u;
    return (float)(lcg >> 8) / 16777216.0f;
}

static void *checked(void *p) {
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* n floats uniform in [0, 1), or values in [lo, hi) */
static float *random_floats(size_t n, float lo, float hi) {
    float *x = checked(malloc(n * sizeof *x));
    for (size_t i = 0; i < n; ++i) x[i] = lo + (hi - lo) * next_uniform();
    return x;
}

static int32_t *random_labels(size_t n, int classes) {
    int32_t *y = checked(malloc(n * sizeof *y));
    for (size_t i = 0; i < n; ++i) y[i] = (int32_t)(next_uniform() * (float)classes) % classes;
    return y;
}

/* A 64-byte aligned arena of `bytes` (the caller's memory, as on a device). */
static void *new_arena(size_t bytes) { return checked(aligned_alloc(64, (bytes + 63) / 64 * 64)); }

/* The parameters and the last step's gradients, seen through the runtime's model struct. */
static void trace_state(const char *model, const void *m, const char *what) {
    const tdl_model *base = m;
    if (strcmp(what, "grads") == 0)
        trace(model, what, base->grads, base->info->layout.grad_floats);
    else
        trace(model, what, base->params, base->info->layout.param_floats);
}

/* A classifier with one image input and labels: forward (outputs), evaluate
 * (metrics), STEPS train steps (losses, the first step's gradients), the
 * final parameters and forward once more. EXTRA is `, logits` for models
 * with a second output. */
#define RUN_CLASSIFIER(name, IN, OUT, CLASSES, EXTRA)                                              \
    static void run_##name(void) {                                                                \
        const size_t bytes = name##_arena_size(BATCH);                                            \
        void *arena = new_arena(bytes);                                                           \
        name *m = name##_create_in(arena, bytes, BATCH);                                          \
        if (m == NULL) check(TDL_STATUS_BAD_ARGUMENT, #name, "create_in");                        \
        name##_init(m, 42);                                                                       \
        float *image = random_floats((size_t)BATCH * (IN), 0.0f, 1.0f);                           \
        int32_t *label = random_labels(BATCH, CLASSES);                                           \
        float *probs = checked(calloc((size_t)BATCH * (OUT), sizeof(float)));                     \
        float *logits = checked(calloc((size_t)BATCH * (OUT), sizeof(float)));                    \
        (void)logits;                                                                             \
        check(name##_forward(m, BATCH, (void *)image, (void *)probs EXTRA), #name, "forward"); \
        trace(#name, "probs", probs, (size_t)BATCH * (OUT));                                      \
        name##_metrics metrics;                                                                   \
        check(name##_evaluate(m, BATCH, (void *)image, label, &metrics), #name, "evaluate"); \
        trace(#name, "metrics", (const float *)(const void *)&metrics, sizeof metrics / sizeof(float)); \
        for (int step = 0; step < STEPS; ++step) {                                                \
            float loss = 0.0f;                                                                    \
            check(name##_train_step(m, BATCH, (void *)image, label, &loss), #name, "train_step"); \
            trace(#name, "loss", &loss, 1);                                                       \
            if (step == 0) trace_state(#name, m, "grads");                                        \
        }                                                                                         \
        trace_state(#name, m, "params");                                                          \
        check(name##_forward(m, BATCH, (void *)image, (void *)probs EXTRA), #name, "forward"); \
        trace(#name, "trained_probs", probs, (size_t)BATCH * (OUT));                              \
        free(image), free(label), free(probs), free(logits), free(arena);                         \
    }

#define FX_LOGITS , (void *)logits
RUN_CLASSIFIER(fx_adam, 180, 5, 5, FX_LOGITS)
RUN_CLASSIFIER(fx_concat, 180, 5, 5, FX_LOGITS)
RUN_CLASSIFIER(fx_momentum, 180, 5, 5, FX_LOGITS)
RUN_CLASSIFIER(fx_nesterov, 180, 5, 5, FX_LOGITS)
RUN_CLASSIFIER(fx_sgd, 180, 5, 5, FX_LOGITS)
RUN_CLASSIFIER(lenet5, 784, 10, 10, )
RUN_CLASSIFIER(fashion_cnn, 784, 10, 10, )
RUN_CLASSIFIER(mnist_convnet, 784, 10, 10, )
RUN_CLASSIFIER(mlp, 784, 10, 10, )
RUN_CLASSIFIER(vgg_small, 3072, 10, 10, )

/* The gradcheck models, whose inputs differ: evaluate and train steps. */
#define RUN_TRAINING(name, ...)                                                                   \
    do {                                                                                          \
        const size_t bytes = name##_arena_size(BATCH);                                            \
        void *arena = new_arena(bytes);                                                           \
        name *m = name##_create_in(arena, bytes, BATCH);                                          \
        if (m == NULL) check(TDL_STATUS_BAD_ARGUMENT, #name, "create_in");                        \
        name##_init(m, 7);                                                                        \
        name##_metrics metrics;                                                                   \
        check(name##_evaluate(m, BATCH, __VA_ARGS__, &metrics), #name, "evaluate");               \
        trace(#name, "metrics", (const float *)(const void *)&metrics, sizeof metrics / sizeof(float)); \
        for (int step = 0; step < STEPS; ++step) {                                                \
            float loss = 0.0f;                                                                    \
            check(name##_train_step(m, BATCH, __VA_ARGS__, &loss), #name, "train_step");          \
            trace(#name, "loss", &loss, 1);                                                       \
            if (step == 0) trace_state(#name, m, "grads");                                        \
        }                                                                                         \
        trace_state(#name, m, "params");                                                          \
        free(arena);                                                                              \
    } while (0)

static void run_gradcheck_models(void) {
    float *image = random_floats((size_t)BATCH * 8 * 8 * 2, -1.0f, 1.0f);
    float *scores = random_floats((size_t)BATCH * 3, -1.0f, 1.0f);
    float *filter = random_floats(3 * 3 * 2 * 3, -1.0f, 1.0f);
    RUN_TRAINING(gc_backprop, (void *)image, (void *)scores, (void *)filter);
    float *x = random_floats((size_t)BATCH * 12, -1.0f, 1.0f);
    float *y = random_floats((size_t)BATCH * 6, -1.0f, 1.0f);
    float *t = random_floats((size_t)BATCH * 10, -1.0f, 1.0f);
    RUN_TRAINING(gc_combine, (void *)x, (void *)y, (void *)t);
    int32_t *label = random_labels(BATCH, 5);
    int32_t *seg = random_labels((size_t)BATCH * 4 * 4, 3);
    RUN_TRAINING(gc_conv, (void *)image, label, (void *)seg);
    float *soft = random_floats((size_t)BATCH * 6, 0.0f, 1.0f);
    float *multi = random_floats((size_t)BATCH * 6, 0.0f, 1.0f);
    for (size_t i = 0; i < (size_t)BATCH * 6; ++i) multi[i] = multi[i] < 0.5f ? 0.0f : 1.0f;
    RUN_TRAINING(gc_dense, (void *)x, label, (void *)soft, (void *)multi);
    free(image), free(scores), free(filter), free(x), free(y), free(t), free(label), free(seg), free(soft),
        free(multi);
}

int main(int argc, char **argv) {
    if (argc != 3 || (strcmp(argv[1], "--write") != 0 && strcmp(argv[1], "--compare") != 0)) {
        fprintf(stderr, "usage: model_trace --write FILE | --compare FILE\n");
        return 2;
    }
    FILE *file = fopen(argv[2], argv[1][2] == 'w' ? "wb" : "rb");
    if (file == NULL) {
        perror(argv[2]);
        return 1;
    }
    if (argv[1][2] == 'w')
        output = file;
    else
        reference = file;
    run_fx_adam();
    run_fx_concat();
    run_fx_momentum();
    run_fx_nesterov();
    run_fx_sgd();
    run_lenet5();
    run_fashion_cnn();
    run_mnist_convnet();
    run_mlp();
    run_vgg_small();
    run_gradcheck_models();
    fclose(file);
    if (reference == NULL) return 0;
    printf("%ld values compared, %ld beyond %g, largest difference %.3g\n", compared, mismatches, TOLERANCE, worst);
    return mismatches == 0 && compared > 0 ? 0 : 1;
}
