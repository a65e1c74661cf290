/* Trains the Fashion-MNIST CNN of fashion_cnn.tdl on several processes with
 * MPI: data-parallel, as train.c on one process with a batch as large as
 * all the processes' batches together.
 *
 *   mpirun -np 2 train_mpi [--epochs N] [--batch N] [--lr X] [--threads N]
 *                          [--seed N] [--data DIR] [--save PATH]
 *
 * Each process keeps its own shard of the training set (every size-th
 * example), computes the gradients of its batch, the processes average
 * them (one MPI_Allreduce) and every process takes the same optimizer step.
 * Rank 0 evaluates on the test set after each epoch, prints and saves. A
 * failure on any process (a missing data file, a bad label) stops them all
 * with its message. See docs/distributed.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tdl/mpi.h>

#include "fashion_cnn.h"
#include "idx.h"
#include "progress.h"
#include "train_common.h"

static const char *const program = "train_mpi";

typedef struct options {
    int epochs;
    int batch; /* per process */
    float learning_rate;
    int threads;
    unsigned long long seed;
    const char *data_dir;
    const char *save_path;
} options;

#define MAX_EPOCHS 1000
#define MAX_BATCH 4096
#define MAX_THREADS 64 /* the runtime's team runs at most 64 shares */
#define MAX_SEED 2147483647L

static void usage(FILE *out) {
    fprintf(out,
            "usage: mpirun -np P train_mpi [options]\n"
            "  --epochs N    passes over the training set, 1 to %d (default 15)\n"
            "  --batch N     examples per step on each process, 1 to %d (default 64)\n"
            "  --lr X        Adam learning rate, in (0, 10) (default 0.001)\n"
            "  --threads N   threads of each process, 1 to %d (default 1)\n"
            "  --seed N      seed of weights, shuffling and dropout, 0 to %ld (default 1)\n"
            "  --data DIR    folder with the IDX .gz files (default /usr/share/datasets/fashion-mnist)\n"
            "  --save PATH   where rank 0 writes the trained weights (default fashion_cnn.safetensors)\n",
            MAX_EPOCHS, MAX_BATCH, MAX_THREADS, MAX_SEED);
}

/* 0, 1 (--help) or -1 (a message was printed when `speak`). */
static int parse_options(int argc, char **argv, options *o, int speak) {
    *o = (options){15, 64, 0.001f, 1, 1, "/usr/share/datasets/fashion-mnist", "fashion_cnn.safetensors"};
    const char *name = speak ? program : NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            if (speak) usage(stdout);
            return 1;
        }
        if (i + 1 >= argc) {
            if (speak) fprintf(stderr, "%s: %s needs a value\n", program, arg);
            return -1;
        }
        const char *value = argv[++i];
        long n = 0;
        if (strcmp(arg, "--epochs") == 0) {
            if (parse_int_option(name, arg, value, 1, MAX_EPOCHS, &n) != 0) return -1;
            o->epochs = (int)n;
        } else if (strcmp(arg, "--batch") == 0) {
            if (parse_int_option(name, arg, value, 1, MAX_BATCH, &n) != 0) return -1;
            o->batch = (int)n;
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_int_option(name, arg, value, 1, MAX_THREADS, &n) != 0) return -1;
            o->threads = (int)n;
        } else if (strcmp(arg, "--seed") == 0) {
            if (parse_int_option(name, arg, value, 0, MAX_SEED, &n) != 0) return -1;
            o->seed = (unsigned long long)n;
        } else if (strcmp(arg, "--lr") == 0) {
            char *end;
            double lr = strtod(value, &end);
            if (end == value || *end != '\0' || !(lr > 0 && lr < 10)) {
                if (speak) fprintf(stderr, "%s: --lr needs a number in (0, 10), not '%s'\n", program, value);
                return -1;
            }
            o->learning_rate = (float)lr;
        } else if (strcmp(arg, "--data") == 0) {
            o->data_dir = value;
        } else if (strcmp(arg, "--save") == 0) {
            o->save_path = value;
        } else {
            if (speak) {
                fprintf(stderr, "%s: unknown option %s\n", program, arg);
                usage(stderr);
            }
            return -1;
        }
    }
    return 0;
}

/* This process's shard: examples rank, rank + size, …; every process keeps
 * the same number (count / size), so that all take the same number of steps
 * with batches of the same size. */
static int *shard_of(const idx_dataset *set, int rank, int size, int *count) {
    *count = set->count / size;
    int *order = malloc((size_t)(*count > 0 ? *count : 1) * sizeof *order);
    if (!order) return NULL;
    for (int i = 0; i < *count; i++) order[i] = rank + i * size;
    return order;
}

typedef struct run {
    const options *o;
    int rank, size;
    fashion_cnn *model;
    const idx_dataset *train_set, *test_set; /* test_set on rank 0 only */
} run;

/* One data-parallel step: this process's gradients, everybody's average,
 * the same update everywhere. Collective: a failure anywhere fails all. */
static tdl_status parallel_step(const run *r, int n, const float *images, const int32_t *labels, float *loss) {
    tdl_status status =
        fashion_cnn_compute_gradients(r->model, n, (const float(*)[28][28][1])images, labels, loss);
    status = tdl_mpi_agree(MPI_COMM_WORLD, status);
    if (status != TDL_STATUS_OK) return status;
    size_t count = 0;
    float *gradients = fashion_cnn_gradients(r->model, &count);
    status = tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, gradients, count);
    if (status != TDL_STATUS_OK) return status;
    return fashion_cnn_apply_gradients(r->model, 1.0f);
}

/* Rank 0's evaluation after an epoch; the verdict is shared so that all stop together. */
static tdl_status report_epoch(const run *r, int epoch, double seconds) {
    tdl_status status = TDL_STATUS_OK;
    if (r->rank == 0) {
        double loss, accuracy;
        if (evaluate(program, r->model, r->test_set, r->o->batch, &loss, &accuracy) != 0)
            status = tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "evaluation failed");
        else
            printf("epoch %d/%d: test loss %.4f, test accuracy %.2f%% (%.0f s so far)\n", epoch, r->o->epochs,
                   loss, 100.0 * accuracy, seconds);
        fflush(stdout);
    }
    return tdl_mpi_agree(MPI_COMM_WORLD, status);
}

static tdl_status train(const run *r) {
    const options *o = r->o;
    int count = 0;
    int *order = shard_of(r->train_set, r->rank, r->size, &count);
    float *images = malloc((size_t)o->batch * PIXELS * sizeof *images);
    int32_t *labels = malloc((size_t)o->batch * sizeof *labels);
    tdl_status status = order && images && labels ? TDL_STATUS_OK : tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory");
    status = tdl_mpi_agree(MPI_COMM_WORLD, status);
    /* Each process shuffles its shard with its own stream. */
    unsigned long long shuffle_state = (o->seed * 0x9E3779B97F4A7C15ULL + 1) ^ ((unsigned long long)r->rank << 32);
    long steps = (count + o->batch - 1) / o->batch;
    double start = progress_now();
    for (int epoch = 1; status == TDL_STATUS_OK && epoch <= o->epochs; epoch++) {
        shuffle(order, count, &shuffle_state);
        progress bar;
        if (r->rank == 0) progress_begin(&bar, stderr, epoch, o->epochs, steps);
        double loss_sum = 0;
        long seen = 0;
        for (long step = 0; status == TDL_STATUS_OK && step < steps; step++) {
            int first = (int)(step * o->batch);
            int n = count - first < o->batch ? count - first : o->batch;
            gather(r->train_set, order, first, n, images, labels);
            float loss = 0.0f;
            status = parallel_step(r, n, images, labels, &loss);
            loss_sum += (double)loss * n;
            seen += n;
            if (r->rank == 0 && status == TDL_STATUS_OK) progress_update(&bar, step + 1, seen, loss_sum / (double)seen);
        }
        if (status != TDL_STATUS_OK) break;
        if (r->rank == 0) progress_end(&bar, seen, loss_sum / (double)seen);
        status = report_epoch(r, epoch, progress_now() - start);
    }
    free(order);
    free(images);
    free(labels);
    return status;
}

/* Reads the training set (every process) and the test set (rank 0). */
static tdl_status load_data(const options *o, int rank, idx_dataset *train_set, idx_dataset *test_set) {
    tdl_status status = TDL_STATUS_OK;
    if (load_split(program, train_set, o->data_dir, "train") != 0)
        status = tdl_set_error(TDL_STATUS_IO, "cannot read the training set in %s", o->data_dir);
    else if (rank == 0 && load_split(program, test_set, o->data_dir, "t10k") != 0) {
        idx_dataset_free(train_set);
        status = tdl_set_error(TDL_STATUS_IO, "cannot read the test set in %s", o->data_dir);
    }
    return status;
}

/* Everything after the options: 0 on success on every process. */
static int run_all(const options *o, int rank, int size) {
    tdl_set_num_threads(o->threads);
    idx_dataset train_set = {0}, test_set = {0};
    tdl_status status = tdl_mpi_agree(MPI_COMM_WORLD, load_data(o, rank, &train_set, &test_set));
    if (status != TDL_STATUS_OK) {
        if (rank == 0) fprintf(stderr, "%s: %s\n", program, tdl_last_error());
        return 1;
    }
    if (rank == 0) {
        printf("Fashion-MNIST on %d process%s: %d training images (%d each), %d test images; %d epoch%s, "
               "batch %d per process (%d in all), Adam lr %g, %d thread%s per process\n",
               size, size == 1 ? "" : "es", train_set.count, train_set.count / size, test_set.count, o->epochs,
               o->epochs == 1 ? "" : "s", o->batch, o->batch * size, (double)o->learning_rate, o->threads,
               o->threads == 1 ? "" : "s");
        fflush(stdout);
    }
    fashion_cnn *model = fashion_cnn_create(o->batch);
    status = tdl_mpi_agree(MPI_COMM_WORLD, model ? TDL_STATUS_OK : TDL_STATUS_NO_MEMORY);
    if (status == TDL_STATUS_OK) {
        /* Different seeds give each process its own dropout stream; the
         * broadcast then gives all of them rank 0's weights. */
        fashion_cnn_init(model, o->seed + (unsigned long long)rank);
        fashion_cnn_set_learning_rate(model, o->learning_rate);
        size_t count = 0;
        float *parameters = fashion_cnn_parameters(model, &count);
        status = tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, parameters, count, NULL, 0);
    }
    if (status == TDL_STATUS_OK) {
        run r = {o, rank, size, model, &train_set, &test_set};
        status = train(&r);
    }
    if (status == TDL_STATUS_OK) {
        tdl_status saved = rank == 0 ? fashion_cnn_save(model, o->save_path) : TDL_STATUS_OK;
        if (rank == 0 && saved == TDL_STATUS_OK) printf("weights saved to %s\n", o->save_path);
        status = tdl_mpi_agree(MPI_COMM_WORLD, saved);
    }
    if (status != TDL_STATUS_OK && rank == 0) fprintf(stderr, "\n%s: %s\n", program, tdl_last_error());
    fashion_cnn_destroy(model);
    idx_dataset_free(&train_set);
    if (rank == 0) idx_dataset_free(&test_set);
    return status == TDL_STATUS_OK ? 0 : 1;
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    int rank = 0, size = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    /* Every process reads the same arguments; rank 0 says what is wrong
     * with them, and the --save path is checked before any data is read. */
    options o;
    int parsed = parse_options(argc, argv, &o, rank == 0);
    if (parsed == 0 && rank == 0 && check_save_path(program, o.save_path) != 0) parsed = -1;
    MPI_Bcast(&parsed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    int rc = parsed < 0 ? 2 : parsed > 0 ? 0 : run_all(&o, rank, size);
    MPI_Finalize();
    return rc;
}
