/* The time of each runtime call in one model's forward pass or training
 * step: the model's generated C with a timer around every call
 * (timed_calls.awk), run for a number of steps on pseudo-random data, or
 * with --data on the first images of Fashion-MNIST's training set and
 * their labels (models of 784 inputs): some kernels skip inputs that are
 * zero, and random data has none. With --images N, each step takes the
 * next window of the batch from the first N images (wrapping round), as
 * bench_models and a training loop do: a window fresh from memory each
 * step, not the same batch in cache.
 *
 *   profile_<model> [--batch N] [--threads N] [--steps N] [--mode forward|train]
 *                   [--data DIR [--images N]]
 *
 * Prints, for each call, its layer, its runtime function and the median and
 * mean microseconds per step; then the median step, the median sum of the
 * calls and the rest of a step outside them (the optimizer's update and the
 * finiteness checks of a training step). Medians are per call, so the sum of
 * the column is not exactly the median of the sums. Pin with taskset to
 * compare cores (`taskset -c 0 build-bench/bench/models/profile_mlp`).
 * Built with bench/models, never run by ctest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "call_timer.h"
#include "idx.h"
#include "tdl/runtime.h"
#include "timing.h"
#include PROFILE_MODEL_HEADER

#define JOIN2(a, b) a##b
#define JOIN(a, b) JOIN2(a, b)
#define MODEL_FN(suffix) JOIN(PROFILE_MODEL, suffix)
#define STRING2(x) #x
#define STRING(x) STRING2(x)

enum { MAX_STEPS = 10000, MAX_IMAGES = 60000, CLASSES = 10 };

typedef struct options {
    int batch, threads, steps;
    int forward;          /* 0: training steps */
    const char *data_dir; /* NULL: pseudo-random inputs */
    int images;           /* --images; 0: the batch's own */
} options;

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){32, 1, 200, 0, NULL, 0};
    for (int i = 1; i < argc; ++i) {
        if (i + 1 >= argc) {
            fprintf(stderr, "profile: %s needs a value\n", argv[i]);
            return -1;
        }
        const char *arg = argv[i], *value = argv[++i];
        char *end = NULL;
        errno = 0;
        long number = 0;
        if (strcmp(arg, "--data") == 0) {
            o->data_dir = value;
            continue;
        }
        if (strcmp(arg, "--mode") == 0) {
            if (strcmp(value, "forward") != 0 && strcmp(value, "train") != 0) {
                fprintf(stderr, "profile: --mode is forward or train, not %s\n", value);
                return -1;
            }
            o->forward = strcmp(value, "forward") == 0;
            continue;
        }
        number = strtol(value, &end, 10);
        const int most = strcmp(arg, "--images") == 0 ? MAX_IMAGES : MAX_STEPS;
        if (errno != 0 || end == value || *end != '\0' || number < 1 || number > most) {
            fprintf(stderr, "profile: %s takes a number from 1 to %d, not %s\n", arg, most, value);
            return -1;
        }
        if (strcmp(arg, "--images") == 0) o->images = (int)number;
        else if (strcmp(arg, "--batch") == 0) o->batch = (int)number;
        else if (strcmp(arg, "--threads") == 0) o->threads = (int)number;
        else if (strcmp(arg, "--steps") == 0) o->steps = (int)number;
        else {
            fprintf(stderr, "profile: unknown option %s\n", arg);
            return -1;
        }
    }
    if (o->images != 0 && (o->data_dir == NULL || o->images < o->batch)) {
        fprintf(stderr, "profile: --images needs --data and at least the batch's %d images\n", o->batch);
        return -1;
    }
    if (o->images == 0) o->images = o->batch;
    return 0;
}

/* The first `count` training images of Fashion-MNIST in dir and their
 * labels; -1 with a message when they cannot be read or the model does not
 * take 28 x 28 images. */
static int fashion_images(float *x, int32_t *labels, int count, const char *dir) {
    if (PROFILE_INPUT_FLOATS != 784) {
        fprintf(stderr, "profile: --data needs a model of 784 inputs, not %d\n", PROFILE_INPUT_FLOATS);
        return -1;
    }
    char images[4096], label_file[4096], err[8448];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(label_file, sizeof label_file, "%s/train-labels-idx1-ubyte.gz", dir);
    idx_dataset set;
    if (idx_dataset_load(&set, images, label_file, err, sizeof err) != 0) {
        fprintf(stderr, "profile: %s\n", err);
        return -1;
    }
    if (set.count < count || set.rows * set.cols != 784) {
        fprintf(stderr, "profile: %s holds %d images of %d x %d, not %d of 28 x 28\n", images, set.count,
                set.rows, set.cols, count);
        idx_dataset_free(&set);
        return -1;
    }
    memcpy(x, set.images, (size_t)count * 784 * sizeof *x);
    memcpy(labels, set.labels, (size_t)count * sizeof *labels);
    idx_dataset_free(&set);
    return 0;
}

static double mean(const double *values, int n) {
    double sum = 0.0;
    for (int i = 0; i < n; ++i) sum += values[i];
    return sum / n;
}

int main(int argc, char **argv) {
    options o;
    if (parse_options(argc, argv, &o) != 0) return 2;
    tdl_set_num_threads(o.threads);
    PROFILE_MODEL *m = MODEL_FN(_create)(o.batch);
    const size_t inputs = (size_t)o.images * PROFILE_INPUT_FLOATS;
    float *x = malloc(inputs * sizeof *x);
    float *probs = malloc((size_t)o.batch * CLASSES * sizeof *probs);
    int32_t *labels = malloc((size_t)o.images * sizeof *labels);
    double *per_call = malloc((size_t)o.steps * CALL_TIMER_MAX * sizeof *per_call);
    double *steps = malloc((size_t)o.steps * sizeof *steps), *calls = malloc((size_t)o.steps * sizeof *calls);
    double *rest = malloc((size_t)o.steps * sizeof *rest);
    if (m == NULL || x == NULL || probs == NULL || labels == NULL || per_call == NULL || steps == NULL ||
        calls == NULL || rest == NULL) {
        fprintf(stderr, "profile: out of memory (%s)\n", m == NULL ? tdl_last_error() : "buffers");
        return 1;
    }
    MODEL_FN(_init)(m, 1);
    /* A small learning rate: the steps must stay finite, or the optimizer
     * would not run and the profile would leave it out. */
    MODEL_FN(_set_learning_rate)(m, 1e-4f);
    if (o.data_dir != NULL) {
        if (fashion_images(x, labels, o.images, o.data_dir) != 0) return 1;
    } else {
        uint32_t state = 12345u;
        for (size_t i = 0; i < inputs; ++i) {
            state = state * 1664525u + 1013904223u;
            x[i] = (float)(state >> 8) / 16777216.0f;
        }
        for (int i = 0; i < o.batch; ++i) labels[i] = i % CLASSES;
    }

    const int warm_up = o.steps / 4 + 5;
    int window = 0; /* the step's first image */
    for (int step = -warm_up; step < o.steps; ++step) {
        if (window + o.batch > o.images) window = 0;
        float *step_x = x + (size_t)window * PROFILE_INPUT_FLOATS;
        int32_t *step_labels = labels + window;
        window += o.batch;
        call_timer_reset();
        float loss = 0.0f;
        const double started = timing_now_seconds();
        const tdl_status status = o.forward ? MODEL_FN(_forward)(m, o.batch, (void *)step_x, (void *)probs)
                                            : MODEL_FN(_train_step)(m, o.batch, (void *)step_x, step_labels, &loss);
        const double ended = timing_now_seconds();
        if (status != TDL_STATUS_OK) {
            fprintf(stderr, "profile: step %d: %s\n", step, tdl_last_error());
            return 1;
        }
        if (step < 0) continue;
        steps[step] = (ended - started) * 1e6;
        calls[step] = 0.0;
        for (int k = 0; k < CALL_TIMER_MAX; ++k) {
            per_call[(size_t)k * (size_t)o.steps + (size_t)step] = call_timer_seconds[k] * 1e6;
            calls[step] += call_timer_seconds[k] * 1e6;
        }
        rest[step] = steps[step] - calls[step];
    }

    printf("%s, %s, batch %d, %d thread(s), %d steps: microseconds per step\n", STRING(PROFILE_MODEL),
           o.forward ? "forward" : "training step", o.batch, o.threads, o.steps);
    printf("%-4s %-72s %10s %10s\n", "call", "layer: runtime function", "median", "mean");
    for (int k = 0; k < CALL_TIMER_MAX; ++k) {
        if (call_timer_label[k] == NULL) continue;
        double *values = per_call + (size_t)k * (size_t)o.steps;
        const double average = mean(values, o.steps);
        printf("%-4d %-72s %10.1f %10.1f\n", k, call_timer_label[k], timing_median(values, o.steps), average);
    }
    const double step_mean = mean(steps, o.steps);
    printf("%-77s %10.1f\n", "calls, summed per step", timing_median(calls, o.steps));
    printf("%-77s %10.1f\n", "outside the calls (optimizer, finiteness checks)", timing_median(rest, o.steps));
    printf("%-77s %10.1f %10.1f\n", "whole step", timing_median(steps, o.steps), step_mean);
    free(rest);
    free(calls);
    free(steps);
    free(per_call);
    free(labels);
    free(probs);
    free(x);
    MODEL_FN(_destroy)(m);
    return 0;
}
