/* safetensors: round trips, a file from an independent writer
 * (tests/fixtures/make_safetensors_fixture.py), and corrupt or mismatched
 * files, each rejected with its status and message and with every
 * destination left untouched. */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "tdl/runtime.h"

#define FIXTURE TSC_SOURCE_DIR "/tests/fixtures/tiny.safetensors"
#define SENTINEL -777.0f

/* ===================================================================== */
/* Scratch directory                                                      */
/* ===================================================================== */

typedef struct scratch {
    char dir[512];
} scratch;

static int setup_scratch(void **state) {
    scratch *s = calloc(1, sizeof *s);
    if (s == NULL) return -1;
    snprintf(s->dir, sizeof s->dir, "%s/safetensors_test_XXXXXX", TSC_BINARY_DIR);
    if (mkdtemp(s->dir) == NULL) {
        free(s);
        return -1;
    }
    *state = s;
    return 0;
}

static int teardown_scratch(void **state) {
    scratch *s = *state;
    DIR *dir = opendir(s->dir);
    if (dir != NULL) {
        for (struct dirent *e; (e = readdir(dir)) != NULL;) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
            if (unlink(path) != 0) rmdir(path);
        }
        closedir(dir);
    }
    rmdir(s->dir);
    free(s);
    return 0;
}

static const char *scratch_path(const scratch *s, const char *name) {
    static char path[1024];
    snprintf(path, sizeof path, "%s/%s", s->dir, name);
    return path;
}

/* Files in the scratch directory whose name contains part. */
static int count_files_containing(const scratch *s, const char *part) {
    int count = 0;
    DIR *dir = opendir(s->dir);
    assert_non_null(dir);
    for (struct dirent *e; (e = readdir(dir)) != NULL;) count += strstr(e->d_name, part) != NULL;
    closedir(dir);
    return count;
}

/* ===================================================================== */
/* Building files in memory                                               */
/* ===================================================================== */

typedef struct file_bytes {
    uint8_t bytes[4096];
    size_t size;
} file_bytes;

static void put_le32(uint8_t *at, uint32_t value) {
    for (int i = 0; i < 4; ++i) at[i] = (uint8_t)(value >> (8 * i));
}

/* length prefix + header json (header bytes, NULs included) + the given floats, little-endian. */
static file_bytes make_file_with_length(const char *json, size_t header, const float *data, size_t floats) {
    file_bytes f;
    for (int i = 0; i < 8; ++i) f.bytes[i] = (uint8_t)((uint64_t)header >> (8 * i));
    memcpy(f.bytes + 8, json, header);
    f.size = 8 + header;
    for (size_t i = 0; i < floats; ++i, f.size += 4) {
        uint32_t bits;
        memcpy(&bits, &data[i], 4);
        put_le32(f.bytes + f.size, bits);
    }
    return f;
}

static file_bytes make_file(const char *json, const float *data, size_t floats) {
    return make_file_with_length(json, strlen(json), data, floats);
}

static const float ab_data[6] = {1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f};

/* A well-formed file: a = [1,2] (shape [2]), b = [3,4,5,6] (shape [2,2]). */
static file_bytes valid_ab(void) {
    return make_file("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                     "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                     ab_data, 6);
}

/* What the tests ask for: a (2) and b (2,2), pre-filled with a sentinel. */
typedef struct destinations {
    float a[2], b[4];
    tdl_tensor_ref refs[2];
} destinations;

static void destinations_init(destinations *d) {
    for (int i = 0; i < 2; ++i) d->a[i] = SENTINEL;
    for (int i = 0; i < 4; ++i) d->b[i] = SENTINEL;
    d->refs[0] = (tdl_tensor_ref){.name = "a", .data = d->a, .rank = 1, .shape = {2}};
    d->refs[1] = (tdl_tensor_ref){.name = "b", .data = d->b, .rank = 2, .shape = {2, 2}};
}

static void assert_untouched(const destinations *d) {
    for (int i = 0; i < 2; ++i) assert_float_equal(d->a[i], SENTINEL, 0.0f);
    for (int i = 0; i < 4; ++i) assert_float_equal(d->b[i], SENTINEL, 0.0f);
}

/* Loading f into a and b fails with status and a message containing text. */
static void expect_rejected(const file_bytes *f, tdl_status status, const char *text) {
    destinations d;
    destinations_init(&d);
    tdl_status got = tdl_safetensors_load_buffer(f->bytes, f->size, d.refs, 2);
    if (got != status || strstr(tdl_last_error(), text) == NULL)
        print_error("expected %s with '%s', got %s: '%s'\n", tdl_status_name(status), text,
                    tdl_status_name(got), tdl_last_error());
    assert_int_equal(got, status);
    assert_non_null(strstr(tdl_last_error(), text));
    assert_untouched(&d);
}

/* Builds a file whose header is json (data: the six floats of valid_ab) and expects rejection. */
static void expect_header_rejected(const char *json, tdl_status status, const char *text) {
    file_bytes f = make_file(json, ab_data, 6);
    expect_rejected(&f, status, text);
}

/* ===================================================================== */
/* Tests                                                                  */
/* ===================================================================== */

/* Saved tensors of rank 0, 1 and 4 load back bit for bit. */
static void test_round_trip(void **state) {
    const scratch *s = *state;
    float scalar = 3.25f, vector[3] = {-1.0f, 0.0f, 1e-30f}, conv[2 * 3 * 1 * 2];
    for (int i = 0; i < 12; ++i) conv[i] = (float)i * 0.1f - 0.55f;
    tdl_tensor_ref out[3] = {
        {.name = "z.scalar", .data = &scalar, .rank = 0},
        {.name = "conv2d_1.kernel", .data = conv, .rank = 4, .shape = {2, 3, 1, 2}},
        {.name = "dense.bias", .data = vector, .rank = 1, .shape = {3}},
    };
    const char *path = scratch_path(s, "round.safetensors");
    assert_int_equal(tdl_safetensors_save(path, out, 3), TDL_STATUS_OK);

    float scalar_in = 0.0f, vector_in[3] = {0}, conv_in[12] = {0};
    tdl_tensor_ref in[3] = {
        {.name = "dense.bias", .data = vector_in, .rank = 1, .shape = {3}},
        {.name = "z.scalar", .data = &scalar_in, .rank = 0},
        {.name = "conv2d_1.kernel", .data = conv_in, .rank = 4, .shape = {2, 3, 1, 2}},
    };
    assert_int_equal(tdl_safetensors_load(path, in, 3), TDL_STATUS_OK);
    assert_memory_equal(&scalar_in, &scalar, sizeof scalar);
    assert_memory_equal(vector_in, vector, sizeof vector);
    assert_memory_equal(conv_in, conv, sizeof conv);
    assert_int_equal(count_files_containing(s, ".tmp."), 0);
}

/* The header has sorted keys, exact integers, and is padded with spaces to 8 bytes. */
static void test_saved_header_layout(void **state) {
    const scratch *s = *state;
    float b[2] = {1.0f, 2.0f}, a[1] = {0.5f};
    tdl_tensor_ref out[2] = {
        {.name = "b", .data = b, .rank = 1, .shape = {2}},
        {.name = "a", .data = a, .rank = 2, .shape = {1, 1}},
    };
    const char *path = scratch_path(s, "layout.safetensors");
    assert_int_equal(tdl_safetensors_save(path, out, 2), TDL_STATUS_OK);

    uint8_t bytes[512];
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    size_t size = fread(bytes, 1, sizeof bytes, file);
    fclose(file);
    const char *expected = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1],\"data_offsets\":[0,4]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}";
    uint64_t header = 0;
    for (int i = 7; i >= 0; --i) header = header << 8 | bytes[i];
    assert_int_equal(header % 8, 0);
    assert_int_equal(size, 8 + header + 12);
    assert_memory_equal(bytes + 8, expected, strlen(expected));
    for (size_t i = 8 + strlen(expected); i < 8 + header; ++i) assert_int_equal(bytes[i], ' ');
    /* Data in key order, little-endian: 0.5 = 0x3f000000. */
    static const uint8_t half[4] = {0x00, 0x00, 0x00, 0x3f};
    assert_memory_equal(bytes + 8 + header, half, 4);
}

/* A file written by Python (unsorted keys, metadata, I64 and F16 extras) reads correctly. */
static void test_reads_independent_fixture(void **state) {
    (void)state;
    float kernel[6] = {0}, bias[2] = {0}, scalar = 0.0f;
    tdl_tensor_ref in[3] = {
        {.name = "dense.kernel", .data = kernel, .rank = 2, .shape = {2, 3}},
        {.name = "conv.bias", .data = bias, .rank = 1, .shape = {2}},
        {.name = "scalar", .data = &scalar, .rank = 0},
    };
    tdl_status status = tdl_safetensors_load(FIXTURE, in, 3);
    if (status != TDL_STATUS_OK) print_error("%s\n", tdl_last_error());
    assert_int_equal(status, TDL_STATUS_OK);
    static const float expected_kernel[6] = {0.5f, -1.25f, 2.0f, 3.5f, -0.125f, 0.001f};
    for (int i = 0; i < 6; ++i) assert_float_equal(kernel[i], expected_kernel[i], 0.0f);
    assert_float_equal(bias[0], 1.5f, 0.0f);
    assert_float_equal(bias[1], -2.5f, 0.0f);
    assert_float_equal(scalar, 42.0f, 0.0f);
}

/* Asking the fixture for its I64 tensor as F32 is refused by name and dtype. */
static void test_fixture_wrong_dtype(void **state) {
    (void)state;
    float step = SENTINEL, bias[2] = {SENTINEL, SENTINEL};
    tdl_tensor_ref in[2] = {
        {.name = "conv.bias", .data = bias, .rank = 1, .shape = {2}},
        {.name = "step", .data = &step, .rank = 0},
    };
    assert_int_equal(tdl_safetensors_load(FIXTURE, in, 2), TDL_STATUS_BAD_FILE);
    assert_non_null(strstr(tdl_last_error(), "tensor 'step' has dtype I64"));
    assert_non_null(strstr(tdl_last_error(), "tiny.safetensors"));
    assert_float_equal(step, SENTINEL, 0.0f);
    assert_float_equal(bias[0], SENTINEL, 0.0f);
}

/* The well-formed baseline loads; extra tensors and "__metadata__" are fine. */
static void test_valid_buffers(void **state) {
    (void)state;
    destinations d;
    destinations_init(&d);
    file_bytes f = valid_ab();
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, d.refs, 2), TDL_STATUS_OK);
    assert_memory_equal(d.a, ab_data, sizeof d.a);
    assert_memory_equal(d.b, ab_data + 2, sizeof d.b);

    destinations_init(&d);
    f = make_file("{\"__metadata__\":{\"format\":\"pt\"},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,16]},"
                  "\"extra\":{\"dtype\":\"F4\",\"shape\":[3],\"data_offsets\":[24,24]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[16,24]}}   \n",
                  ab_data, 6);
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, d.refs, 2), TDL_STATUS_OK);
    assert_memory_equal(d.b, ab_data, sizeof d.b);
    assert_memory_equal(d.a, ab_data + 4, sizeof d.a);
}

/* Files cut short anywhere are rejected. */
static void test_truncated(void **state) {
    (void)state;
    file_bytes f = valid_ab();
    size_t full = f.size;
    f.size = 0;
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "too short");
    f.size = 5;
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "too short");
    f.size = 40; /* inside the header */
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "runs past the end of the 40-byte file");
    f.size = full - 3; /* inside b's data */
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "tensor 'b': data_offsets [8,24] go past the end");
}

/* A header length beyond the file, or beyond any sane size, is rejected before parsing. */
static void test_bad_header_length(void **state) {
    (void)state;
    file_bytes f = valid_ab();
    f.bytes[0] = (uint8_t)(f.size - 7);
    f.bytes[1] = 0;
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "runs past the end");
    for (int i = 0; i < 8; ++i) f.bytes[i] = 0xff;
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "over the 100000000-byte limit");
    memset(f.bytes, 0, 8);
    f.bytes[3] = 0x10; /* 256 MiB */
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "limit");
}

/* Offsets must lie in the data section, in order, and not overlap. */
static void test_bad_offsets(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[16,32]}}",
                           TDL_STATUS_BAD_FILE, "go past the end of the 24-byte data section");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[4,20]}}",
                           TDL_STATUS_BAD_FILE, "tensors 'a' and 'b' overlap");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,0]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'a': data_offsets [8,0] begin after they end");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,16]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'a': \"data_offsets\" is not [begin, end]");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "\"data_offsets\" is not [begin, end]");
}

/* The byte range must hold exactly product(shape) * dtype size bytes. */
static void test_size_mismatch(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'a': its shape and dtype F32 need 12 bytes but "
                           "data_offsets [0,8] hold 8");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],\"data_offsets\":[0,8]}}",
                           TDL_STATUS_BAD_FILE, "more than 2^64 elements");
}

/* A tensor the model wants in F32 but stored as F16 or I32 is refused by name and dtype. */
static void test_wrong_dtype(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'a' has dtype F16, the model expects F32");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"I32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'b' has dtype I32, the model expects F32");
}

/* Malformed JSON, a non-object root and trailing bytes are all rejected. */
static void test_bad_json(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",", TDL_STATUS_BAD_FILE, "not valid JSON");
    expect_header_rejected("", TDL_STATUS_BAD_FILE, "not valid JSON");
    expect_header_rejected("[1,2,3]", TDL_STATUS_BAD_FILE, "not a JSON object");
    expect_header_rejected("{}{}", TDL_STATUS_BAD_FILE, "unexpected bytes after the JSON header");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}",
                           TDL_STATUS_BAD_FILE, "tensor 'a' appears twice");
}

/* Every entry must be an object with dtype, shape and data_offsets of the right types. */
static void test_bad_entries(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":5}", TDL_STATUS_BAD_FILE, "header entry 'a' is not an object");
    expect_header_rejected("{\"a\":{\"shape\":[2],\"data_offsets\":[0,8]}}", TDL_STATUS_BAD_FILE,
                           "tensor 'a': \"dtype\" is missing or not a string");
    expect_header_rejected("{\"a\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", TDL_STATUS_BAD_FILE,
                           "\"dtype\" is missing or not a string");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", TDL_STATUS_BAD_FILE,
                           "tensor 'a': \"shape\" is missing or not an array");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", TDL_STATUS_BAD_FILE,
                           "\"shape\" holds something other than a non-negative integer");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,8]}}", TDL_STATUS_BAD_FILE,
                           "\"shape\" holds something other than a non-negative integer");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":\"0-8\"}}", TDL_STATUS_BAD_FILE,
                           "\"data_offsets\" is not [begin, end]");
    expect_header_rejected("{\"__metadata__\":{\"format\":1},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                           TDL_STATUS_BAD_FILE, "\"__metadata__\" entry 'format' is not a string");
    expect_header_rejected("{\"__metadata__\":[]}", TDL_STATUS_BAD_FILE, "\"__metadata__\" is not an object");
}

/* A NUL in a name or a string value, escaped or raw, is refused: cJSON
 * would cut the string there, so "a\u0000junk" would load as 'a'. */
static void test_nul_in_strings(void **state) {
    (void)state;
    expect_header_rejected("{\"a\\u0000junk\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "a string in the header holds a NUL character after 'a' "
                           "(at header byte 3): names and dtypes cannot contain NUL");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\\u0000\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "holds a NUL character after 'F32'");
    expect_header_rejected("{\"__metadata__\":{\"format\":\"pt\\u0000\"},"
                           "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "holds a NUL character after 'pt'");

    /* Raw NUL bytes: in a key, and between tokens (where cJSON takes it for a space). */
    static const char raw_key[] = "{\"a\0junk\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}";
    file_bytes f = make_file_with_length(raw_key, sizeof raw_key - 1, ab_data, 6);
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "holds a NUL character after 'a' (at header byte 3)");
    static const char raw_space[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},\0"
                                    "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}";
    f = make_file_with_length(raw_space, sizeof raw_space - 1, ab_data, 6);
    expect_rejected(&f, TDL_STATUS_BAD_FILE, "the header holds a NUL byte (at header byte 54)");

    /* An escaped backslash before "u0000" is no NUL: the string is a\u0000 and loads. */
    f = make_file("{\"__metadata__\":{\"path\":\"a\\\\u0000\"},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                  ab_data, 6);
    destinations d;
    destinations_init(&d);
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, d.refs, 2), TDL_STATUS_OK);
    assert_float_equal(d.b[3], 6.0f, 0.0f);
}

/* A tensor the model needs but the file lacks is named. */
static void test_missing_tensor(void **state) {
    (void)state;
    expect_header_rejected("{\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_FILE, "missing tensor 'a'");
    float kernel[4] = {SENTINEL};
    tdl_tensor_ref want = {.name = "conv2d_1.kernel", .data = kernel, .rank = 4, .shape = {1, 1, 2, 2}};
    file_bytes f = valid_ab();
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, &want, 1), TDL_STATUS_BAD_FILE);
    assert_string_equal(tdl_last_error(), "missing tensor 'conv2d_1.kernel'");
    assert_float_equal(kernel[0], SENTINEL, 0.0f);
}

/* Another shape is BAD_SHAPE, with the tensor and both shapes in the message. */
static void test_wrong_shape(void **state) {
    (void)state;
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_SHAPE, "tensor 'b': the file has [4], the model expects [2,2]");
    expect_header_rejected("{\"a\":{\"dtype\":\"F32\",\"shape\":[2,1],\"data_offsets\":[0,8]},"
                           "\"b\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[8,24]}}",
                           TDL_STATUS_BAD_SHAPE, "tensor 'a': the file has [2,1], the model expects [2]");

    float kernel[1600 * 12];
    kernel[0] = SENTINEL;
    tdl_tensor_ref want = {.name = "dense_1.kernel", .data = kernel, .rank = 2, .shape = {1600, 12}};
    file_bytes f = make_file("{\"dense_1.kernel\":{\"dtype\":\"F32\",\"shape\":[1600,10],"
                             "\"data_offsets\":[0,64000]}}", NULL, 0);
    static uint8_t big[8 + 4096 + 64000];
    memcpy(big, f.bytes, f.size);
    memset(big + f.size, 0, 64000);
    assert_int_equal(tdl_safetensors_load_buffer(big, f.size + 64000, &want, 1), TDL_STATUS_BAD_SHAPE);
    assert_string_equal(tdl_last_error(), "tensor 'dense_1.kernel': the file has [1600,10], the model expects [1600,12]");
    assert_float_equal(kernel[0], SENTINEL, 0.0f);
}

/* A wrong shape found through tdl_safetensors_load also names the file and changes nothing. */
static void test_load_leaves_model_unchanged(void **state) {
    const scratch *s = *state;
    float a[2] = {7.0f, 8.0f}, c[3] = {1.0f, 2.0f, 3.0f};
    tdl_tensor_ref out[2] = {
        {.name = "a", .data = a, .rank = 1, .shape = {2}},
        {.name = "c", .data = c, .rank = 1, .shape = {3}},
    };
    const char *path = scratch_path(s, "model.safetensors");
    assert_int_equal(tdl_safetensors_save(path, out, 2), TDL_STATUS_OK);

    float a_in[2] = {SENTINEL, SENTINEL}, c_in[4] = {SENTINEL, SENTINEL, SENTINEL, SENTINEL};
    tdl_tensor_ref in[2] = {
        {.name = "a", .data = a_in, .rank = 1, .shape = {2}},
        {.name = "c", .data = c_in, .rank = 2, .shape = {2, 2}},
    };
    assert_int_equal(tdl_safetensors_load(path, in, 2), TDL_STATUS_BAD_SHAPE);
    assert_non_null(strstr(tdl_last_error(), "model.safetensors: tensor 'c': the file has [3], the model expects [2,2]"));
    assert_float_equal(a_in[0], SENTINEL, 0.0f);
    assert_float_equal(c_in[0], SENTINEL, 0.0f);
}

/* Missing files and directories are I/O errors. */
static void test_load_io_errors(void **state) {
    const scratch *s = *state;
    destinations d;
    destinations_init(&d);
    assert_int_equal(tdl_safetensors_load(scratch_path(s, "absent.safetensors"), d.refs, 2), TDL_STATUS_IO);
    assert_non_null(strstr(tdl_last_error(), "absent.safetensors"));
    assert_int_equal(tdl_safetensors_load(s->dir, d.refs, 2), TDL_STATUS_IO);
    assert_non_null(strstr(tdl_last_error(), "not a regular file"));
    assert_untouched(&d);
}

/* Saving where no file can be written is TDL_STATUS_IO and leaves nothing behind. */
static void test_save_io_errors(void **state) {
    const scratch *s = *state;
    float a[2] = {1.0f, 2.0f};
    tdl_tensor_ref out = {.name = "a", .data = a, .rank = 1, .shape = {2}};
    assert_int_equal(tdl_safetensors_save("/nonexistent-tsc-directory/w.safetensors", &out, 1), TDL_STATUS_IO);
    assert_non_null(strstr(tdl_last_error(), "/nonexistent-tsc-directory/w.safetensors"));

    /* The rename over a directory fails after the data is written: the
     * directory survives and the temporary file is removed. */
    const char *dir = scratch_path(s, "a_directory");
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(tdl_safetensors_save(dir, &out, 1), TDL_STATUS_IO);
    struct stat info;
    assert_int_equal(stat(dir, &info), 0);
    assert_true(S_ISDIR(info.st_mode));
    assert_int_equal(count_files_containing(s, ".tmp."), 0);
}

/* Saving again replaces the file. */
static void test_save_replaces(void **state) {
    const scratch *s = *state;
    const char *path = scratch_path(s, "again.safetensors");
    float a[2] = {1.0f, 2.0f};
    tdl_tensor_ref ref = {.name = "a", .data = a, .rank = 1, .shape = {2}};
    assert_int_equal(tdl_safetensors_save(path, &ref, 1), TDL_STATUS_OK);
    a[0] = 10.0f;
    a[1] = 20.0f;
    assert_int_equal(tdl_safetensors_save(path, &ref, 1), TDL_STATUS_OK);
    a[0] = a[1] = 0.0f;
    assert_int_equal(tdl_safetensors_load(path, &ref, 1), TDL_STATUS_OK);
    assert_float_equal(a[0], 10.0f, 0.0f);
    assert_float_equal(a[1], 20.0f, 0.0f);
}

static mode_t mode_of(const char *path) {
    struct stat info;
    assert_int_equal(stat(path, &info), 0);
    return info.st_mode & 07777;
}

/* Saving over a file keeps its permission bits (a private 0600 file stays
 * private, whatever the umask); a new file gets 0666 less the umask. */
static void test_save_keeps_mode(void **state) {
    const scratch *s = *state;
    float a[2] = {1.0f, 2.0f};
    tdl_tensor_ref ref = {.name = "a", .data = a, .rank = 1, .shape = {2}};
    mode_t old_umask = umask(022);

    const char *path = scratch_path(s, "private.safetensors");
    assert_int_equal(tdl_safetensors_save(path, &ref, 1), TDL_STATUS_OK);
    assert_int_equal(mode_of(path), 0644);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(tdl_safetensors_save(path, &ref, 1), TDL_STATUS_OK);
    assert_int_equal(mode_of(path), 0600);

    /* Bits the umask would take away are kept too. */
    assert_int_equal(chmod(path, 0664), 0);
    assert_int_equal(tdl_safetensors_save(path, &ref, 1), TDL_STATUS_OK);
    assert_int_equal(mode_of(path), 0664);

    umask(old_umask);
}

/* Bad requests are BAD_ARGUMENT: duplicate or reserved names, no data, bad ranks. */
static void test_bad_arguments(void **state) {
    const scratch *s = *state;
    const char *path = scratch_path(s, "never.safetensors");
    float a[2] = {0};
    tdl_tensor_ref twice[2] = {
        {.name = "a", .data = a, .rank = 1, .shape = {2}},
        {.name = "a", .data = a, .rank = 1, .shape = {2}},
    };
    assert_int_equal(tdl_safetensors_save(path, twice, 2), TDL_STATUS_BAD_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "tensor 'a' is listed twice"));
    tdl_tensor_ref reserved = {.name = "__metadata__", .data = a, .rank = 1, .shape = {2}};
    assert_int_equal(tdl_safetensors_save(path, &reserved, 1), TDL_STATUS_BAD_ARGUMENT);
    tdl_tensor_ref no_data = {.name = "a", .rank = 1, .shape = {2}};
    assert_int_equal(tdl_safetensors_save(path, &no_data, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(count_files_containing(s, "never"), 0);

    file_bytes f = valid_ab();
    tdl_tensor_ref too_deep = {.name = "a", .data = a, .rank = TDL_MAX_RANK + 1};
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, &too_deep, 1), TDL_STATUS_BAD_ARGUMENT);
    tdl_tensor_ref negative = {.name = "a", .data = a, .rank = 1, .shape = {-2}};
    assert_int_equal(tdl_safetensors_load_buffer(f.bytes, f.size, &negative, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_safetensors_load_buffer(NULL, 8, &negative, 1), TDL_STATUS_BAD_ARGUMENT);
}

/* Metadata written with the tensors reads back through the open/check/read
 * handle, exactly (strings with quotes and non-ASCII survive the JSON). */
static void test_metadata_round_trip(void **state) {
    const scratch *s = *state;
    float a[2] = {1.5f, -2.0f};
    tdl_tensor_ref out = {.name = "a", .data = a, .rank = 1, .shape = {2}};
    const tdl_metadata_entry metadata[] = {
        {"step", "18446744073709551615"}, {"note", "a \"quoted\" word, caf\xc3\xa9"}, {"empty", ""}};
    const char *path = scratch_path(s, "meta.safetensors");
    assert_int_equal(tdl_safetensors_save_with_metadata(path, &out, 1, metadata, 3), TDL_STATUS_OK);
    tdl_safetensors *file = NULL;
    assert_int_equal(tdl_safetensors_open(path, &file), TDL_STATUS_OK);
    for (int i = 0; i < 3; i++) assert_string_equal(tdl_safetensors_metadata(file, metadata[i].key), metadata[i].value);
    assert_null(tdl_safetensors_metadata(file, "absent"));
    float in[2] = {0.0f, 0.0f};
    tdl_tensor_ref ref = {.name = "a", .data = in, .rank = 1, .shape = {2}};
    assert_int_equal(tdl_safetensors_check(file, &ref, 1), TDL_STATUS_OK);
    tdl_safetensors_read(file, &ref, 1);
    assert_memory_equal(in, a, sizeof a);
    tdl_tensor_ref wrong = {.name = "a", .data = in, .rank = 1, .shape = {3}};
    assert_int_equal(tdl_safetensors_check(file, &wrong, 1), TDL_STATUS_BAD_SHAPE);
    tdl_safetensors_close(file);
    /* Plain load ignores the metadata. */
    assert_int_equal(tdl_safetensors_load(path, &ref, 1), TDL_STATUS_OK);
    /* A file without metadata has none to give. */
    const char *plain = scratch_path(s, "plain.safetensors");
    assert_int_equal(tdl_safetensors_save(plain, &out, 1), TDL_STATUS_OK);
    assert_int_equal(tdl_safetensors_open(plain, &file), TDL_STATUS_OK);
    assert_null(tdl_safetensors_metadata(file, "step"));
    tdl_safetensors_close(file);
}

/* Bad metadata entries are refused before anything is written; a corrupt
 * file does not open, and the handle stays NULL. */
static void test_metadata_refused(void **state) {
    const scratch *s = *state;
    float a[1] = {1.0f};
    tdl_tensor_ref out = {.name = "a", .data = a, .rank = 1, .shape = {1}};
    const char *path = scratch_path(s, "bad_meta.safetensors");
    const tdl_metadata_entry twice[] = {{"k", "1"}, {"k", "2"}};
    assert_int_equal(tdl_safetensors_save_with_metadata(path, &out, 1, twice, 2), TDL_STATUS_BAD_ARGUMENT);
    assert_non_null(strstr(tdl_last_error(), "'k' is listed twice"));
    const tdl_metadata_entry no_key[] = {{"", "1"}};
    assert_int_equal(tdl_safetensors_save_with_metadata(path, &out, 1, no_key, 1), TDL_STATUS_BAD_ARGUMENT);
    const tdl_metadata_entry no_value[] = {{"k", NULL}};
    assert_int_equal(tdl_safetensors_save_with_metadata(path, &out, 1, no_value, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_safetensors_save_with_metadata(path, &out, 1, NULL, 1), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(count_files_containing(s, "bad_meta"), 0);
    tdl_safetensors *file = (tdl_safetensors *)(uintptr_t)1;
    static const uint8_t garbage[12] = {4, 0, 0, 0, 0, 0, 0, 0, '{', '{', '{', '{'};
    assert_int_equal(tdl_safetensors_open_buffer(garbage, sizeof garbage, &file), TDL_STATUS_BAD_FILE);
    assert_null(file);
    assert_int_equal(tdl_safetensors_open(scratch_path(s, "missing"), &file), TDL_STATUS_IO);
    assert_null(file);
    tdl_safetensors_close(NULL);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_metadata_round_trip, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_metadata_refused, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_round_trip, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_saved_header_layout, setup_scratch, teardown_scratch),
        cmocka_unit_test(test_reads_independent_fixture),
        cmocka_unit_test(test_fixture_wrong_dtype),
        cmocka_unit_test(test_valid_buffers),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_bad_header_length),
        cmocka_unit_test(test_bad_offsets),
        cmocka_unit_test(test_size_mismatch),
        cmocka_unit_test(test_wrong_dtype),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_bad_entries),
        cmocka_unit_test(test_nul_in_strings),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_wrong_shape),
        cmocka_unit_test_setup_teardown(test_load_leaves_model_unchanged, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_load_io_errors, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_save_io_errors, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_save_replaces, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_save_keeps_mode, setup_scratch, teardown_scratch),
        cmocka_unit_test_setup_teardown(test_bad_arguments, setup_scratch, teardown_scratch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
