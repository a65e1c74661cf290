/* Trains the Fashion-MNIST CNN of fashion_cnn.tdl with the C that tsc
 * generated from it, and reports test loss and accuracy after each epoch.
 *
 *   train [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N]
 *         [--data DIR] [--save PATH]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fashion_cnn.h"
#include "idx.h"
#include "progress.h"
#include "train_common.h"

typedef struct options {
    int epochs;
    int batch;
    float learning_rate;
    int threads;
    unsigned long long seed;
    const char *data_dir;
    const char *save_path;
} options;

/* The ranges of the integer options; a value outside is refused with its range. */
#define MAX_EPOCHS 1000
#define MAX_BATCH 4096 /* the arena grows with the batch: 37 MB at 128, 1.15 GB at 4096 */
#define MAX_THREADS 64 /* the runtime's team runs at most 64 shares */
#define MAX_SEED 2147483647L

static void usage(FILE *out) {
    fprintf(out,
            "usage: train [options]\n"
            "  --epochs N    passes over the training set, 1 to %d (default 15)\n"
            "  --batch N     examples per step, 1 to %d (default 128)\n"
            "  --lr X        Adam learning rate, in (0, 10) (default 0.001)\n"
            "  --threads N   threads of the runtime's team, 1 to %d (default 2)\n"
            "  --seed N      seed of weights, shuffling and dropout, 0 to %ld (default 1)\n"
            "  --data DIR    folder with the IDX .gz files (default /usr/share/datasets/fashion-mnist)\n"
            "  --save PATH   where to write the trained weights (default fashion_cnn.safetensors)\n",
            MAX_EPOCHS, MAX_BATCH, MAX_THREADS, MAX_SEED);
}

static const char *plural(long n) {
    return n == 1 ? "" : "s";
}

static int parse_options(int argc, char **argv, options *o) {
    *o = (options){15, 128, 0.001f, 2, 1, "/usr/share/datasets/fashion-mnist", "fashion_cnn.safetensors"};
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            exit(0);
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "train: %s needs a value\n", arg);
            return -1;
        }
        const char *value = argv[++i];
        long n = 0;
        if (strcmp(arg, "--epochs") == 0) {
            if (parse_int_option("train", arg, value, 1, MAX_EPOCHS, &n) != 0) return -1;
            o->epochs = (int)n;
        } else if (strcmp(arg, "--batch") == 0) {
            if (parse_int_option("train", arg, value, 1, MAX_BATCH, &n) != 0) return -1;
            o->batch = (int)n;
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_int_option("train", arg, value, 1, MAX_THREADS, &n) != 0) return -1;
            o->threads = (int)n;
        } else if (strcmp(arg, "--seed") == 0) {
            if (parse_int_option("train", arg, value, 0, MAX_SEED, &n) != 0) return -1;
            o->seed = (unsigned long long)n;
        } else if (strcmp(arg, "--lr") == 0) {
            char *end;
            double lr = strtod(value, &end);
            if (end == value || *end != '\0' || !(lr > 0 && lr < 10)) {
                fprintf(stderr, "train: --lr needs a number in (0, 10), not '%s'\n", value);
                return -1;
            }
            o->learning_rate = (float)lr;
        } else if (strcmp(arg, "--data") == 0) o->data_dir = value;
        else if (strcmp(arg, "--save") == 0) o->save_path = value;
        else {
            fprintf(stderr, "train: unknown option %s\n", arg);
            usage(stderr);
            return -1;
        }
    }
    return 0;
}

static int train(const options *o, const idx_dataset *train_set, const idx_dataset *test_set) {
    fashion_cnn *model = fashion_cnn_create(o->batch);
    if (!model) {
        fprintf(stderr, "train: cannot create the model: %s\n", tdl_last_error());
        return -1;
    }
    fashion_cnn_init(model, o->seed);
    fashion_cnn_set_learning_rate(model, o->learning_rate);

    int *order = malloc((size_t)train_set->count * sizeof *order);
    float *images = malloc((size_t)o->batch * PIXELS * sizeof *images);
    int32_t *labels = malloc((size_t)o->batch * sizeof *labels);
    int rc = order && images && labels ? 0 : -1;
    if (rc != 0) fprintf(stderr, "train: out of memory\n");
    for (int i = 0; rc == 0 && i < train_set->count; i++) order[i] = i;

    unsigned long long shuffle_state = o->seed * 0x9E3779B97F4A7C15ULL + 1;
    long steps = (train_set->count + o->batch - 1) / o->batch;
    double total_start = progress_now();
    for (int epoch = 1; rc == 0 && epoch <= o->epochs; epoch++) {
        shuffle(order, train_set->count, &shuffle_state);
        progress bar;
        progress_begin(&bar, stderr, epoch, o->epochs, steps);
        double loss_sum = 0;
        long seen = 0;
        for (long step = 0; step < steps; step++) {
            int first = (int)(step * o->batch);
            int n = train_set->count - first < o->batch ? train_set->count - first : o->batch;
            gather(train_set, order, first, n, images, labels);
            float loss;
            if (fashion_cnn_train_step(model, n, (const float(*)[28][28][1])images, labels, &loss) !=
                TDL_STATUS_OK) {
                fprintf(stderr, "\ntrain: train_step: %s\n", tdl_last_error());
                rc = -1;
                break;
            }
            loss_sum += (double)loss * n;
            seen += n;
            progress_update(&bar, step + 1, seen, loss_sum / (double)seen);
        }
        if (rc != 0) break;
        progress_end(&bar, seen, loss_sum / (double)seen);
        double test_loss, test_accuracy;
        rc = evaluate("train", model, test_set, o->batch, &test_loss, &test_accuracy);
        if (rc == 0)
            printf("epoch %d/%d: test loss %.4f, test accuracy %.2f%% (%.0f s so far)\n", epoch, o->epochs,
                   test_loss, 100.0 * test_accuracy, progress_now() - total_start);
        fflush(stdout);
    }
    if (rc == 0 && fashion_cnn_save(model, o->save_path) != TDL_STATUS_OK) {
        fprintf(stderr, "train: cannot save the weights: %s\n", tdl_last_error());
        rc = -1;
    } else if (rc == 0) {
        printf("weights saved to %s\n", o->save_path);
    }
    free(order);
    free(images);
    free(labels);
    fashion_cnn_destroy(model);
    return rc;
}

int main(int argc, char **argv) {
    options o;
    if (parse_options(argc, argv, &o) != 0) return 2;
    if (check_save_path("train", o.save_path) != 0) return 2;
    tdl_set_num_threads(o.threads);
    idx_dataset train_set, test_set;
    if (load_split("train", &train_set, o.data_dir, "train") != 0) return 1;
    if (load_split("train", &test_set, o.data_dir, "t10k") != 0) {
        idx_dataset_free(&train_set);
        return 1;
    }
    printf("Fashion-MNIST: %d training image%s and %d test image%s; %d epoch%s, batch %d, Adam lr %g, "
           "%d thread%s\n",
           train_set.count, plural(train_set.count), test_set.count, plural(test_set.count), o.epochs,
           plural(o.epochs), o.batch, (double)o.learning_rate, o.threads, plural(o.threads));
    fflush(stdout);
    int rc = train(&o, &train_set, &test_set);
    idx_dataset_free(&train_set);
    idx_dataset_free(&test_set);
    return rc == 0 ? 0 : 1;
}
