/* Reading IDX files (the MNIST family's format), gzip-compressed or not. */
#ifndef FASHION_IDX_H
#define FASHION_IDX_H

#include <stddef.h>
#include <stdint.h>

/* A set of images scaled to [0, 1] and their labels. */
typedef struct idx_dataset {
    float *images;      /* count × rows × cols, row-major */
    int32_t *labels;    /* count */
    int count;
    int rows, cols;
} idx_dataset;

/* Loads an image file and its label file. On failure returns -1 and writes
 * a message naming the file and the problem into err; nothing is allocated. */
int idx_dataset_load(idx_dataset *out, const char *images_path, const char *labels_path,
                     char *err, size_t err_size);
void idx_dataset_free(idx_dataset *set);

#endif
