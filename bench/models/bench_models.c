/* Times the C that tsc generated for the reference models of
 * examples/models/: forward at batch 1, 32 and 128 and train_step at batch
 * 32 and 128, each next to its "GEMM floor" (gemm_floor.h). The 28x28 models
 * see real Fashion-MNIST images; VGG-small sees random 32x32x3 data.
 *
 *   bench_models [--threads N] [--runs N] [--run-ms X] [--data DIR]
 *                [--model NAME] [--mode forward|train] [--no-floor] [--cpu K]
 *
 * --model, --mode and --no-floor narrow a run down, e.g. for `perf record`.
 * --cpu K (one thread only) pins the process to the K-th CPU it may run on
 * (0 for the first): on a virtual machine one virtual core can run a model
 * 1.5x slower than the other for minutes at a time, which bounds what two
 * threads can gain over one (bench/run reports it).
 *
 * Prints one tab-separated line per configuration for bench/models/report.py:
 *   tsc  model  mode  batch  threads  ms  floor_ms
 * where a pinned run writes tsc@cpuN instead of tsc (N: the CPU's number).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gemm_floor.h"
#include "idx.h"
#include "lenet5.h"
#include "mlp.h"
#include "mnist_convnet.h"
#include "timing.h"
#include "vgg_small.h"

enum { MAX_BATCH = 128, RANDOM_POOL = 1024 };

static const int forward_batches[] = {1, 32, 128};
static const int train_batches[] = {32, 128};

/* ---- the generated entry points behind one signature ------------------ */

typedef tdl_status (*forward_fn)(void *m, int batch, const float *x, float *probs);
typedef tdl_status (*train_fn)(void *m, int batch, const float *x, const int32_t *labels, float *loss);

static void *lenet5_new(int max_batch) { return lenet5_create(max_batch); }
static void lenet5_free(void *m) { lenet5_destroy(m); }
static tdl_status lenet5_run_forward(void *m, int batch, const float *x, float *probs) {
    return lenet5_forward(m, batch, (const float(*)[28][28][1])x, (float(*)[10])probs);
}
static tdl_status lenet5_run_train(void *m, int batch, const float *x, const int32_t *labels, float *loss) {
    return lenet5_train_step(m, batch, (const float(*)[28][28][1])x, labels, loss);
}

static void *mlp_new(int max_batch) { return mlp_create(max_batch); }
static void mlp_free(void *m) { mlp_destroy(m); }
static tdl_status mlp_run_forward(void *m, int batch, const float *x, float *probs) {
    return mlp_forward(m, batch, (const float(*)[784])x, (float(*)[10])probs);
}
static tdl_status mlp_run_train(void *m, int batch, const float *x, const int32_t *labels, float *loss) {
    return mlp_train_step(m, batch, (const float(*)[784])x, labels, loss);
}

static void *convnet_new(int max_batch) { return mnist_convnet_create(max_batch); }
static void convnet_free(void *m) { mnist_convnet_destroy(m); }
static tdl_status convnet_run_forward(void *m, int batch, const float *x, float *probs) {
    return mnist_convnet_forward(m, batch, (const float(*)[28][28][1])x, (float(*)[10])probs);
}
static tdl_status convnet_run_train(void *m, int batch, const float *x, const int32_t *labels, float *loss) {
    return mnist_convnet_train_step(m, batch, (const float(*)[28][28][1])x, labels, loss);
}

static void *vgg_new(int max_batch) { return vgg_small_create(max_batch); }
static void vgg_free(void *m) { vgg_small_destroy(m); }
static tdl_status vgg_run_forward(void *m, int batch, const float *x, float *probs) {
    return vgg_small_forward(m, batch, (const float(*)[32][32][3])x, (float(*)[10])probs);
}
static tdl_status vgg_run_train(void *m, int batch, const float *x, const int32_t *labels, float *loss) {
    return vgg_small_train_step(m, batch, (const float(*)[32][32][3])x, labels, loss);
}

/* ---- the models and their GEMM shapes (im2col for convolutions) ------- */

static const gemm_shape convnet_gemms[] = {{26 * 26, 32, 3 * 3 * 1}, {11 * 11, 64, 3 * 3 * 32}, {1, 10, 1600}};
static const gemm_shape lenet5_gemms[] = {
    {28 * 28, 6, 5 * 5 * 1}, {10 * 10, 16, 5 * 5 * 6}, {1, 120, 400}, {1, 84, 120}, {1, 10, 84}};
static const gemm_shape vgg_gemms[] = {{32 * 32, 32, 3 * 3 * 3},  {32 * 32, 32, 3 * 3 * 32},
                                       {16 * 16, 64, 3 * 3 * 32}, {16 * 16, 64, 3 * 3 * 64},
                                       {8 * 8, 128, 3 * 3 * 64},  {8 * 8, 128, 3 * 3 * 128},
                                       {1, 10, 128}};
static const gemm_shape mlp_gemms[] = {{1, 512, 784}, {1, 512, 512}, {1, 10, 512}};

typedef enum input_data { INPUT_FASHION_MNIST, INPUT_RANDOM_32X32X3 } input_data;

typedef struct bench_model {
    const char *name;
    input_data data;
    int example_size; /* floats per example */
    void *(*create)(int max_batch);
    void (*destroy)(void *m);
    forward_fn forward;
    train_fn train;
    const gemm_shape *gemms;
    int gemm_count;
} bench_model;

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

static const bench_model models[] = {
    {"mnist_convnet", INPUT_FASHION_MNIST, 784, convnet_new, convnet_free, convnet_run_forward, convnet_run_train,
     convnet_gemms, COUNT(convnet_gemms)},
    {"lenet5", INPUT_FASHION_MNIST, 784, lenet5_new, lenet5_free, lenet5_run_forward, lenet5_run_train,
     lenet5_gemms, COUNT(lenet5_gemms)},
    {"vgg_small", INPUT_RANDOM_32X32X3, 32 * 32 * 3, vgg_new, vgg_free, vgg_run_forward, vgg_run_train, vgg_gemms,
     COUNT(vgg_gemms)},
    {"mlp", INPUT_FASHION_MNIST, 784, mlp_new, mlp_free, mlp_run_forward, mlp_run_train, mlp_gemms,
     COUNT(mlp_gemms)},
};

/* ---- one timed call ---------------------------------------------------- */

/* Each call takes the next window of `batch` examples from the pool, as a
 * training loop walks through its data. */
typedef struct model_call {
    const bench_model *model;
    void *instance;
    int batch;
    const float *images;
    const int32_t *labels;
    int pool_count, next;
    float probs[MAX_BATCH * 10];
} model_call;

static int take_window(model_call *c) {
    if (c->next + c->batch > c->pool_count) c->next = 0;
    const int first = c->next;
    c->next += c->batch;
    return first;
}

static void check(tdl_status status, const model_call *c, const char *what) {
    if (status == TDL_STATUS_OK) return;
    fprintf(stderr, "bench_models: %s %s at batch %d: %s\n", c->model->name, what, c->batch, tdl_last_error());
    exit(1);
}

static void call_forward(void *ctx) {
    model_call *c = ctx;
    const int first = take_window(c);
    check(c->model->forward(c->instance, c->batch, c->images + (size_t)first * (size_t)c->model->example_size,
                            c->probs),
          c, "forward");
}

static void call_train(void *ctx) {
    model_call *c = ctx;
    const int first = take_window(c);
    float loss;
    check(c->model->train(c->instance, c->batch, c->images + (size_t)first * (size_t)c->model->example_size,
                          c->labels + first, &loss),
          c, "train_step");
}

/* ---- data -------------------------------------------------------------- */

typedef struct data_pools {
    idx_dataset fashion;
    float *random_images;
    int32_t *random_labels;
} data_pools;

/* Uniform [0, 1) images and labels in [0, 10) from a fixed xorshift stream. */
static int make_random_pool(data_pools *p) {
    const size_t floats = (size_t)RANDOM_POOL * 32 * 32 * 3;
    p->random_images = malloc(floats * sizeof *p->random_images);
    p->random_labels = malloc(RANDOM_POOL * sizeof *p->random_labels);
    if (!p->random_images || !p->random_labels) return -1;
    unsigned long long state = 0x2545F4914F6CDD1DULL;
    for (size_t i = 0; i < floats; ++i) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        p->random_images[i] = (float)(state >> 40) / 16777216.0f;
    }
    for (int i = 0; i < RANDOM_POOL; ++i) p->random_labels[i] = (int32_t)((i * 7 + 3) % 10);
    return 0;
}

static int load_pools(data_pools *p, const char *dir) {
    char images[4096], labels[4096], err[8448];
    snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", dir);
    if (idx_dataset_load(&p->fashion, images, labels, err, sizeof err) != 0) {
        fprintf(stderr, "bench_models: %s\n", err);
        return -1;
    }
    if (make_random_pool(p) != 0) {
        fprintf(stderr, "bench_models: out of memory\n");
        return -1;
    }
    return 0;
}

static void free_pools(data_pools *p) {
    idx_dataset_free(&p->fashion);
    free(p->random_images);
    free(p->random_labels);
}

/* ---- main -------------------------------------------------------------- */

typedef struct options {
    int threads;
    timing_plan plan;
    const char *data_dir;
    const char *only_model;
    const char *only_mode;
    int skip_floor;
    int pinned, cpu_index; /* --cpu given, and its index */
    char kind[32]; /* the first field of each line: "tsc" or "tsc@cpuN" */
} options;

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){1, {2, 9, 0.02}, "/usr/share/datasets/fashion-mnist", NULL, NULL, 0, 0, 0, "tsc"};
    for (int i = 1; i < argc; ++i) {
        const char *arg = argv[i];
        if (strcmp(arg, "--no-floor") == 0) {
            o->skip_floor = 1;
            continue;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "bench_models: %s needs a value\n", arg);
            return -1;
        }
        const char *value = argv[++i];
        char *end = NULL;
        errno = 0;
        if (strcmp(arg, "--threads") == 0) o->threads = (int)strtol(value, &end, 10);
        else if (strcmp(arg, "--runs") == 0) o->plan.runs = (int)strtol(value, &end, 10);
        else if (strcmp(arg, "--run-ms") == 0) o->plan.min_run_seconds = strtod(value, &end) / 1e3;
        else if (strcmp(arg, "--data") == 0) o->data_dir = value;
        else if (strcmp(arg, "--cpu") == 0) {
            o->pinned = 1;
            o->cpu_index = (int)strtol(value, &end, 10);
        } else if (strcmp(arg, "--model") == 0) o->only_model = value;
        else if (strcmp(arg, "--mode") == 0 && (strcmp(value, "forward") == 0 || strcmp(value, "train") == 0))
            o->only_mode = value;
        else {
            fprintf(stderr, "bench_models: bad option or value: %s %s\n", arg, value);
            return -1;
        }
        if (end != NULL && (errno != 0 || *end != '\0' || end == value)) {
            fprintf(stderr, "bench_models: bad value for %s: %s\n", arg, value);
            return -1;
        }
    }
    if (o->threads < 1 || o->plan.runs < 1 || o->plan.runs > 101 || !(o->plan.min_run_seconds >= 0)) {
        fprintf(stderr, "bench_models: --threads >= 1, --runs in [1, 101], --run-ms >= 0\n");
        return -1;
    }
    if (o->pinned && (o->cpu_index < 0 || o->threads != 1)) {
        fprintf(stderr, "bench_models: --cpu takes an index >= 0, and only with --threads 1\n");
        return -1;
    }
    return 0;
}

/* Pins the process to the index-th CPU of those it may run on and names
 * its lines after that CPU. */
static int pin_to_cpu(options *o) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) {
        perror("bench_models: sched_getaffinity");
        return -1;
    }
    for (int cpu = 0, seen = 0; cpu < CPU_SETSIZE; ++cpu) {
        if (!CPU_ISSET(cpu, &allowed) || seen++ != o->cpu_index) continue;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) != 0) {
            perror("bench_models: sched_setaffinity");
            return -1;
        }
        snprintf(o->kind, sizeof o->kind, "tsc@cpu%d", cpu);
        return 0;
    }
    fprintf(stderr, "bench_models: --cpu %d: the process may run on fewer CPUs\n", o->cpu_index);
    return -1;
}

/* Reads one byte of every 4 KB page of the pool before a configuration is
 * timed, so that each configuration starts with the whole data set mapped,
 * as a training loop finds it from its second epoch on. On a virtual
 * machine that hands freed memory back to its host, a large free anywhere
 * (this program's GEMM floor and model buffers, another process) can leave
 * the pages of memory touched before it to be faulted in again by the host
 * on their next access, about 5 us per page: 0.12 of an MLP forward's 0.24
 * ms at batch 32 on fresh windows (bench_torch.py does the same for PyTorch). */
static void touch_pool(const model_call *c) {
    const unsigned char *bytes = (const unsigned char *)c->images;
    const size_t size = (size_t)c->pool_count * (size_t)c->model->example_size * sizeof(float);
    unsigned char seen = 0;
    for (size_t i = 0; i < size; i += 4096) seen ^= bytes[i];
    volatile unsigned char keep = seen;
    (void)keep;
}

static void bench_one_model(const bench_model *model, const data_pools *pools, const options *o) {
    void *instance = model->create(MAX_BATCH);
    if (instance == NULL) {
        fprintf(stderr, "bench_models: cannot create %s: %s\n", model->name, tdl_last_error());
        exit(1);
    }
    model_call c = {.model = model, .instance = instance};
    if (model->data == INPUT_FASHION_MNIST) {
        c.images = pools->fashion.images;
        c.labels = pools->fashion.labels;
        c.pool_count = pools->fashion.count;
    } else {
        c.images = pools->random_images;
        c.labels = pools->random_labels;
        c.pool_count = RANDOM_POOL;
    }
    const int do_forward = !o->only_mode || strcmp(o->only_mode, "forward") == 0;
    const int do_train = !o->only_mode || strcmp(o->only_mode, "train") == 0;
    for (int i = 0; do_forward && i < COUNT(forward_batches); ++i) {
        c.batch = forward_batches[i];
        c.next = 0;
        touch_pool(&c);
        const double ms = timing_median_ms(&o->plan, call_forward, &c);
        const double floor =
            o->skip_floor ? 0 : gemm_floor_ms(model->gemms, model->gemm_count, c.batch, GEMM_FLOOR_FORWARD, &o->plan);
        printf("%s\t%s\tforward\t%d\t%d\t%.6f\t%.6f\n", o->kind, model->name, c.batch, o->threads, ms, floor);
        fflush(stdout);
    }
    for (int i = 0; do_train && i < COUNT(train_batches); ++i) {
        c.batch = train_batches[i];
        c.next = 0;
        touch_pool(&c);
        const double ms = timing_median_ms(&o->plan, call_train, &c);
        const double floor =
            o->skip_floor ? 0 : gemm_floor_ms(model->gemms, model->gemm_count, c.batch, GEMM_FLOOR_TRAIN, &o->plan);
        printf("%s\t%s\ttrain\t%d\t%d\t%.6f\t%.6f\n", o->kind, model->name, c.batch, o->threads, ms, floor);
        fflush(stdout);
    }
    model->destroy(instance);
}

int main(int argc, char **argv) {
    options o;
    if (parse_options(argc, argv, &o) != 0) return 2;
    if (o.pinned && pin_to_cpu(&o) != 0) return 1;
    tdl_set_num_threads(o.threads);
    data_pools pools = {0};
    if (load_pools(&pools, o.data_dir) != 0) {
        free_pools(&pools);
        return 1;
    }
    int ran = 0;
    for (int i = 0; i < COUNT(models); ++i) {
        if (o.only_model && strcmp(o.only_model, models[i].name) != 0) continue;
        bench_one_model(&models[i], &pools, &o);
        ran++;
    }
    free_pools(&pools);
    if (ran == 0) {
        fprintf(stderr, "bench_models: no model named %s\n", o.only_model);
        return 2;
    }
    return 0;
}
