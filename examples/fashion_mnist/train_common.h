/* What the Fashion-MNIST trainers share (train.c on one process,
 * train_mpi.c on several): option values, the data set, shuffling, batches
 * and evaluation. Messages start with the program's name. */
#ifndef TRAIN_COMMON_H
#define TRAIN_COMMON_H

#include <stdint.h>

#include "fashion_cnn.h"
#include "idx.h"

enum { PIXELS = 28 * 28 };

/* The value of an integer option in [min, max], or -1 after saying which
 * values it takes (silently when program is NULL). */
int parse_int_option(const char *program, const char *name, const char *value, long min, long max, long *out);

/* Training takes minutes, and the weights are saved only at the end: 0 when
 * a file can be written at path, else -1 after saying why. */
int check_save_path(const char *program, const char *path);

/* dir/<prefix>-images-idx3-ubyte.gz and its labels, which must be 28x28. */
int load_split(const char *program, idx_dataset *set, const char *dir, const char *prefix);

/* A permutation step of the example's own xorshift64* stream. */
void shuffle(int *order, int count, unsigned long long *state);

/* Copies the examples order[first .. first+n) into contiguous batch buffers. */
void gather(const idx_dataset *set, const int *order, int first, int n, float *images, int32_t *labels);

/* Mean loss and accuracy over a whole split, in batches of at most `batch`. */
int evaluate(const char *program, fashion_cnn *model, const idx_dataset *set, int batch, double *loss,
             double *accuracy);

#endif /* TRAIN_COMMON_H */
