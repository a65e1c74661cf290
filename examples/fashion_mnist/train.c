/* Trains the Fashion-MNIST CNN of fashion_cnn.tdl with the C that tsc
 * generated from it, and reports test loss and accuracy after each epoch.
 *
 *   train [--epochs N] [--batch N] [--lr X] [--threads N] [--seed N]
 *         [--data DIR] [--save PATH]
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fashion_cnn.h"
#include "idx.h"
#include "progress.h"

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
#define MAX_THREADS 256
#define MAX_SEED 2147483647L

static void usage(FILE *out) {
    fprintf(out,
            "usage: train [options]\n"
            "  --epochs N    passes over the training set, 1 to %d (default 15)\n"
            "  --batch N     examples per step, 1 to %d (default 128)\n"
            "  --lr X        Adam learning rate, in (0, 10) (default 0.001)\n"
            "  --threads N   BLAS threads, 1 to %d (default 2)\n"
            "  --seed N      seed of weights, shuffling and dropout, 0 to %ld (default 1)\n"
            "  --data DIR    folder with the IDX .gz files (default /usr/share/datasets/fashion-mnist)\n"
            "  --save PATH   where to write the trained weights (default fashion_cnn.safetensors)\n",
            MAX_EPOCHS, MAX_BATCH, MAX_THREADS, MAX_SEED);
}

static const char *plural(long n) {
    return n == 1 ? "" : "s";
}

static int parse_long(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return -1;
    *out = value;
    return 0;
}

/* Parses the value of an integer option, or says which values it takes. */
static int parse_int_option(const char *name, const char *value, long min, long max, long *out) {
    if (parse_long(value, min, max, out) == 0) return 0;
    fprintf(stderr, "train: %s takes an integer from %ld to %ld, not '%s'\n", name, min, max, value);
    return -1;
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
            if (parse_int_option(arg, value, 1, MAX_EPOCHS, &n) != 0) return -1;
            o->epochs = (int)n;
        } else if (strcmp(arg, "--batch") == 0) {
            if (parse_int_option(arg, value, 1, MAX_BATCH, &n) != 0) return -1;
            o->batch = (int)n;
        } else if (strcmp(arg, "--threads") == 0) {
            if (parse_int_option(arg, value, 1, MAX_THREADS, &n) != 0) return -1;
            o->threads = (int)n;
        } else if (strcmp(arg, "--seed") == 0) {
            if (parse_int_option(arg, value, 0, MAX_SEED, &n) != 0) return -1;
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

/* Training takes minutes, and the weights are saved only at the end: a --save
 * path that cannot be written is found out now instead. The save writes a
 * temporary file beside the path and renames it, so what must work is
 * creating a file in that folder; a probe file is created and removed. */
static int check_save_path(const char *path) {
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        fprintf(stderr, "train: --save %s is a directory; give the path of a file\n", path);
        return -1;
    }
    size_t size = strlen(path) + 32;
    char *probe = malloc(size);
    if (probe == NULL) {
        fprintf(stderr, "train: out of memory\n");
        return -1;
    }
    snprintf(probe, size, "%s.check.%ld", path, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "train: cannot write the weights to %s: %s (checked before training)\n", path,
                strerror(errno));
        free(probe);
        return -1;
    }
    close(fd);
    unlink(probe);
    free(probe);
    return 0;
}

static int load_split(idx_dataset *set, const char *dir, const char *prefix) {
    char images[4096], labels[4096], err[4608];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if (idx_dataset_load(set, images, labels, err, sizeof err) != 0) {
        fprintf(stderr, "train: %s\n", err);
        return -1;
    }
    if (set->rows != 28 || set->cols != 28) {
        fprintf(stderr, "train: %s holds %dx%d images; the model takes 28x28\n", images, set->rows, set->cols);
        idx_dataset_free(set);
        return -1;
    }
    return 0;
}

/* xorshift64*: the example's own shuffling stream, seeded from --seed. */
static unsigned long long next_random(unsigned long long *state) {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * 2685821657736338717ULL;
}

static void shuffle(int *order, int count, unsigned long long *state) {
    for (int i = count - 1; i > 0; i--) {
        int j = (int)(next_random(state) % (unsigned long long)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

enum { PIXELS = 28 * 28 };

/* Copies the examples order[first .. first+n) into contiguous batch buffers. */
static void gather(const idx_dataset *set, const int *order, int first, int n, float *images, int32_t *labels) {
    for (int i = 0; i < n; i++) {
        int k = order[first + i];
        memcpy(images + (size_t)i * PIXELS, set->images + (size_t)k * PIXELS, PIXELS * sizeof(float));
        labels[i] = set->labels[k];
    }
}

/* Mean loss and accuracy over a whole split, in batches. */
static int evaluate(fashion_cnn *model, const idx_dataset *set, int batch, double *loss, double *accuracy) {
    double loss_sum = 0, acc_sum = 0;
    for (int first = 0; first < set->count; first += batch) {
        int n = set->count - first < batch ? set->count - first : batch;
        fashion_cnn_metrics metrics;
        const float *images = set->images + (size_t)first * PIXELS;
        if (fashion_cnn_evaluate(model, n, (const float(*)[28][28][1])images, set->labels + first, &metrics) !=
            TDL_STATUS_OK) {
            fprintf(stderr, "train: evaluate: %s\n", tdl_last_error());
            return -1;
        }
        loss_sum += (double)metrics.xent * n;
        acc_sum += (double)metrics.acc * n;
    }
    *loss = loss_sum / set->count;
    *accuracy = acc_sum / set->count;
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
        rc = evaluate(model, test_set, o->batch, &test_loss, &test_accuracy);
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
    if (check_save_path(o.save_path) != 0) return 2;
    tdl_set_num_threads(o.threads);
    idx_dataset train_set, test_set;
    if (load_split(&train_set, o.data_dir, "train") != 0) return 1;
    if (load_split(&test_set, o.data_dir, "t10k") != 0) {
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
