/* Whole files in and out for the end-to-end tests that damage a saved file:
 * every failure is a test failure (cmocka's asserts; include cmocka.h first). */
#ifndef E2E_FILES_H
#define E2E_FILES_H

#include <stdio.h>
#include <stdlib.h>

static inline unsigned char *read_whole_file(const char *path, size_t *size) {
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    assert_int_equal(fseek(in, 0, SEEK_END), 0);
    long length = ftell(in);
    assert_true(length > 0);
    rewind(in);
    unsigned char *bytes = malloc((size_t)length);
    assert_non_null(bytes);
    assert_int_equal(fread(bytes, 1, (size_t)length, in), (size_t)length);
    fclose(in);
    *size = (size_t)length;
    return bytes;
}

static inline void write_whole_file(const char *path, const unsigned char *bytes, size_t size) {
    FILE *out = fopen(path, "wb");
    assert_non_null(out);
    assert_int_equal(fwrite(bytes, 1, size, out), size);
    assert_int_equal(fclose(out), 0);
}

#endif /* E2E_FILES_H */
