/* Writes a tiny Fashion-MNIST look-alike into a folder, so the trainer can be
 * run end to end where the real data set is not installed: 8 training and
 * 4 test images of 28x28 bytes with labels 0-9, as plain (uncompressed) IDX
 * files under the .gz names the trainer opens (zlib reads plain files too).
 *
 *   make_tiny_fashion DIR
 */
#include <stdint.h>
#include <stdio.h>

enum { SIDE = 28, CLASSES = 10, IDX_IMAGES = 0x00000803, IDX_LABELS = 0x00000801 };

static int put_be32(FILE *file, uint32_t value) {
    unsigned char bytes[4] = {(unsigned char)(value >> 24), (unsigned char)(value >> 16),
                              (unsigned char)(value >> 8), (unsigned char)value};
    return fwrite(bytes, 1, 4, file) == 4 ? 0 : -1;
}

/* Image i is a gradient that depends on i, label i % 10: any content will do. */
static int write_split(const char *dir, const char *prefix, uint32_t count) {
    char path[4096];
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    FILE *images = fopen(path, "wb");
    if (images == NULL) return -1;
    int rc = put_be32(images, IDX_IMAGES) | put_be32(images, count) | put_be32(images, SIDE) |
             put_be32(images, SIDE);
    for (uint32_t i = 0; i < count && rc == 0; i++)
        for (int p = 0; p < SIDE * SIDE && rc == 0; p++)
            rc = fputc((int)((i * 37 + (uint32_t)p) % 256), images) == EOF ? -1 : 0;
    if (fclose(images) != 0) rc = -1;

    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    FILE *labels = fopen(path, "wb");
    if (labels == NULL) return -1;
    rc |= put_be32(labels, IDX_LABELS) | put_be32(labels, count);
    for (uint32_t i = 0; i < count && rc == 0; i++) rc = fputc((int)(i % CLASSES), labels) == EOF ? -1 : 0;
    if (fclose(labels) != 0) rc = -1;
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: make_tiny_fashion DIR\n");
        return 2;
    }
    if (write_split(argv[1], "train", 8) != 0 || write_split(argv[1], "t10k", 4) != 0) {
        fprintf(stderr, "make_tiny_fashion: cannot write into %s\n", argv[1]);
        return 1;
    }
    return 0;
}
