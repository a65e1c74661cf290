/* What the Fashion-MNIST trainers share; see train_common.h. */
#define _POSIX_C_SOURCE 200809L
#include "train_common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int parse_long(const char *text, long min, long max, long *out) {
    char *end;
    errno = 0;
    long value = strtol(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0' || value < min || value > max) return -1;
    *out = value;
    return 0;
}

/* Parses the value of an integer option, or says which values it takes. */
int parse_int_option(const char *program, const char *name, const char *value, long min, long max, long *out) {
    if (parse_long(value, min, max, out) == 0) return 0;
    if (program)
        fprintf(stderr, "%s: %s takes an integer from %ld to %ld, not '%s'\n", program, name, min, max, value);
    return -1;
}

/* Training takes minutes, and the weights are saved only at the end: a --save
 * path that cannot be written is found out now instead. The save writes a
 * temporary file beside the path and renames it, so what must work is
 * creating a file in that folder; a probe file is created and removed. */
int check_save_path(const char *program, const char *path) {
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        fprintf(stderr, "%s: --save %s is a directory; give the path of a file\n", program, path);
        return -1;
    }
    size_t size = strlen(path) + 32;
    char *probe = malloc(size);
    if (probe == NULL) {
        fprintf(stderr, "%s: out of memory\n", program);
        return -1;
    }
    snprintf(probe, size, "%s.check.%ld", path, (long)getpid());
    int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) {
        fprintf(stderr, "%s: cannot write the weights to %s: %s (checked before training)\n", program, path,
                strerror(errno));
        free(probe);
        return -1;
    }
    close(fd);
    unlink(probe);
    free(probe);
    return 0;
}

int load_split(const char *program, idx_dataset *set, const char *dir, const char *prefix) {
    char images[4096], labels[4096], err[4608];
    snprintf(images, sizeof images, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(labels, sizeof labels, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    if (idx_dataset_load(set, images, labels, err, sizeof err) != 0) {
        fprintf(stderr, "%s: %s\n", program, err);
        return -1;
    }
    if (set->rows != 28 || set->cols != 28) {
        fprintf(stderr, "%s: %s holds %dx%d images; the model takes 28x28\n", program, images, set->rows, set->cols);
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

void shuffle(int *order, int count, unsigned long long *state) {
    for (int i = count - 1; i > 0; i--) {
        int j = (int)(next_random(state) % (unsigned long long)(i + 1));
        int t = order[i];
        order[i] = order[j];
        order[j] = t;
    }
}

void gather(const idx_dataset *set, const int *order, int first, int n, float *images, int32_t *labels) {
    for (int i = 0; i < n; i++) {
        int k = order[first + i];
        memcpy(images + (size_t)i * PIXELS, set->images + (size_t)k * PIXELS, PIXELS * sizeof(float));
        labels[i] = set->labels[k];
    }
}

int evaluate(const char *program, fashion_cnn *model, const idx_dataset *set, int batch, double *loss, double *accuracy) {
    double loss_sum = 0, acc_sum = 0;
    for (int first = 0; first < set->count; first += batch) {
        int n = set->count - first < batch ? set->count - first : batch;
        fashion_cnn_metrics metrics;
        const float *images = set->images + (size_t)first * PIXELS;
        if (fashion_cnn_evaluate(model, n, (const float(*)[28][28][1])images, set->labels + first, &metrics) !=
            TDL_STATUS_OK) {
            fprintf(stderr, "%s: evaluate: %s\n", program, tdl_last_error());
            return -1;
        }
        loss_sum += (double)metrics.xent * n;
        acc_sum += (double)metrics.acc * n;
    }
    *loss = loss_sum / set->count;
    *accuracy = acc_sum / set->count;
    return 0;
}

