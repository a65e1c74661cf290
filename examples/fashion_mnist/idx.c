/* IDX reader: big-endian magic (0x00000803 images, 0x00000801 labels), then
 * the dimension sizes, then unsigned bytes. zlib's gz* functions read both
 * compressed and plain files. */
#include "idx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

enum { IDX_UBYTE_IMAGES = 0x00000803, IDX_UBYTE_LABELS = 0x00000801 };
/* Fashion-MNIST has 70,000 images; refuse headers that claim absurd sizes. */
enum { IDX_MAX_COUNT = 10000000, IDX_MAX_SIDE = 4096 };

static int fail(char *err, size_t err_size, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(err, err_size, fmt, args);
    va_end(args);
    return -1;
}

static int read_exact(gzFile file, void *buf, size_t size) {
    unsigned char *p = buf;
    while (size > 0) {
        unsigned chunk = size > (1u << 30) ? (1u << 30) : (unsigned)size;
        int got = gzread(file, p, chunk);
        if (got <= 0) return -1;
        p += got;
        size -= (size_t)got;
    }
    return 0;
}

static int read_be32(gzFile file, uint32_t *value) {
    unsigned char b[4];
    if (read_exact(file, b, 4) != 0) return -1;
    *value = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
    return 0;
}

/* Reads the header; dims[0..ndims) receive the sizes. */
static int read_header(gzFile file, const char *path, uint32_t magic, uint32_t *dims, int ndims,
                       char *err, size_t err_size) {
    uint32_t found;
    if (read_be32(file, &found) != 0) return fail(err, err_size, "%s: file is empty or truncated", path);
    if (found != magic)
        return fail(err, err_size, "%s: not an IDX %s file (magic 0x%08x, expected 0x%08x)", path,
                    magic == IDX_UBYTE_IMAGES ? "image" : "label", (unsigned)found, (unsigned)magic);
    for (int i = 0; i < ndims; i++)
        if (read_be32(file, &dims[i]) != 0) return fail(err, err_size, "%s: truncated header", path);
    return 0;
}

static gzFile open_file(const char *path, char *err, size_t err_size) {
    gzFile file = gzopen(path, "rb");
    if (!file)
        fail(err, err_size,
             "cannot open %s: the Fashion-MNIST files come from the Debian package "
             "'dataset-fashion-mnist' (apt-get install dataset-fashion-mnist), or pass --data DIR",
             path);
    return file;
}

static int load_images(idx_dataset *out, const char *path, char *err, size_t err_size) {
    gzFile file = open_file(path, err, err_size);
    if (!file) return -1;
    uint32_t dims[3];
    int rc = read_header(file, path, IDX_UBYTE_IMAGES, dims, 3, err, err_size);
    if (rc == 0 && (dims[0] == 0 || dims[0] > IDX_MAX_COUNT || dims[1] == 0 || dims[1] > IDX_MAX_SIDE ||
                    dims[2] == 0 || dims[2] > IDX_MAX_SIDE))
        rc = fail(err, err_size, "%s: implausible sizes %u x %u x %u", path, (unsigned)dims[0],
                  (unsigned)dims[1], (unsigned)dims[2]);
    unsigned char *bytes = NULL;
    size_t total = 0;
    if (rc == 0) {
        total = (size_t)dims[0] * dims[1] * dims[2];
        bytes = malloc(total);
        out->images = malloc(total * sizeof(float));
        if (!bytes || !out->images) rc = fail(err, err_size, "%s: out of memory", path);
    }
    if (rc == 0 && read_exact(file, bytes, total) != 0)
        rc = fail(err, err_size, "%s: truncated data (expected %zu bytes of pixels)", path, total);
    if (rc == 0) {
        for (size_t i = 0; i < total; i++) out->images[i] = (float)bytes[i] / 255.0f;
        out->count = (int)dims[0];
        out->rows = (int)dims[1];
        out->cols = (int)dims[2];
    } else {
        free(out->images);
        out->images = NULL;
    }
    free(bytes);
    gzclose(file);
    return rc;
}

static int load_labels(idx_dataset *out, const char *path, char *err, size_t err_size) {
    gzFile file = open_file(path, err, err_size);
    if (!file) return -1;
    uint32_t count = 0; /* set by read_header; initialised for -O3 -Wmaybe-uninitialized */
    int rc = read_header(file, path, IDX_UBYTE_LABELS, &count, 1, err, err_size);
    if (rc == 0 && count != (uint32_t)out->count)
        rc = fail(err, err_size, "%s: %u labels for %d images", path, (unsigned)count, out->count);
    unsigned char *bytes = NULL;
    if (rc == 0) {
        bytes = malloc(count);
        out->labels = malloc(count * sizeof(int32_t));
        if (!bytes || !out->labels) rc = fail(err, err_size, "%s: out of memory", path);
    }
    if (rc == 0 && read_exact(file, bytes, count) != 0)
        rc = fail(err, err_size, "%s: truncated data (expected %u labels)", path, (unsigned)count);
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        if (bytes[i] > 9) rc = fail(err, err_size, "%s: label %u at position %u is not a class 0-9", path,
                                    (unsigned)bytes[i], (unsigned)i);
        else out->labels[i] = bytes[i];
    }
    if (rc != 0) {
        free(out->labels);
        out->labels = NULL;
    }
    free(bytes);
    gzclose(file);
    return rc;
}

int idx_dataset_load(idx_dataset *out, const char *images_path, const char *labels_path, char *err,
                     size_t err_size) {
    memset(out, 0, sizeof *out);
    if (load_images(out, images_path, err, err_size) != 0) return -1;
    if (load_labels(out, labels_path, err, err_size) != 0) {
        idx_dataset_free(out);
        return -1;
    }
    return 0;
}

void idx_dataset_free(idx_dataset *set) {
    free(set->images);
    free(set->labels);
    memset(set, 0, sizeof *set);
}
