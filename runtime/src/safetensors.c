/* Weights as safetensors files (https://github.com/huggingface/safetensors):
 *
 *   8 bytes   N, the header length, unsigned little-endian
 *   N bytes   JSON: {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]},
 *                    ..., optional "__metadata__": {"<key>": "<string>", ...}}
 *   the rest  the data section; offsets are relative to its first byte.
 *
 * Reading is all or nothing: the whole header is checked (types, offsets in
 * bounds, sizes that agree with shape and dtype, no overlaps), then every
 * requested tensor (present, F32, same shape), and only then is anything
 * copied. Writing goes to a temporary file in the same directory that is
 * renamed over the target, so a failed save leaves an existing file intact;
 * the replacement keeps the replaced file's permission bits.
 * Floats are stored little-endian whatever the host's byte order. */
#define _POSIX_C_SOURCE 200809L
#include "tdl/runtime.h"

#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The reference implementation's cap; real headers are a few kilobytes. */
#define HEADER_LIMIT UINT64_C(100000000)
/* Larger JSON numbers are not exact in cJSON's double. */
#define LARGEST_EXACT_INTEGER 9007199254740992.0 /* 2^53 */
#define SHAPE_TEXT_SIZE 200 /* 8 dimensions of 20 digits fit */

/* ===================================================================== */
/* Byte order                                                             */
/* ===================================================================== */

static int host_is_little_endian(void) {
    const uint16_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

static uint64_t read_le64(const uint8_t *bytes) {
    uint64_t value = 0;
    for (int i = 7; i >= 0; --i) value = (value << 8) | bytes[i];
    return value;
}

static void write_le64(uint8_t *bytes, uint64_t value) {
    for (int i = 0; i < 8; ++i) bytes[i] = (uint8_t)(value >> (8 * i));
}

/* dst: (n) <- n little-endian floats at src (src need not be aligned). */
static void copy_f32_from_le(float *dst, const uint8_t *src, size_t n) {
    if (host_is_little_endian()) {
        if (n > 0) memcpy(dst, src, n * sizeof *dst);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        const uint8_t *b = src + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&dst[i], &bits, sizeof bits);
    }
}

/* ===================================================================== */
/* Shapes and dtypes                                                      */
/* ===================================================================== */

/* Bytes per element of the dtypes the format defines; 0 = not one we know. */
static unsigned dtype_size(const char *dtype) {
    static const struct {
        const char *name;
        unsigned bytes;
    } table[] = {
        {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E4M3", 1}, {"F8_E5M2", 1},
        {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
        {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8},
    };
    for (size_t i = 0; i < sizeof table / sizeof table[0]; ++i)
        if (strcmp(dtype, table[i].name) == 0) return table[i].bytes;
    return 0;
}

/* A JSON number that is a non-negative integer cJSON holds exactly. */
static int json_to_u64(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double value = item->valuedouble;
    if (!(value >= 0.0) || value > LARGEST_EXACT_INTEGER || value != floor(value)) return 0;
    *out = (uint64_t)value;
    return 1;
}

/* Product of dims; 0 if it does not fit in 64 bits (with *overflow set). */
static uint64_t element_count(const uint64_t *dims, size_t rank, int *overflow) {
    uint64_t count = 1;
    *overflow = 0;
    for (size_t i = 0; i < rank; ++i)
        if (dims[i] == 0) return 0;
    for (size_t i = 0; i < rank; ++i) {
        if (count > UINT64_MAX / dims[i]) {
            *overflow = 1;
            return 0;
        }
        count *= dims[i];
    }
    return count;
}

/* "[1600,10]" into text (truncated with "..." if it does not fit). */
static const char *format_shape(char text[SHAPE_TEXT_SIZE], const uint64_t *dims, size_t rank) {
    size_t used = 0;
    text[used++] = '[';
    for (size_t i = 0; i < rank; ++i) {
        char number[32];
        int len = snprintf(number, sizeof number, "%s%" PRIu64, i > 0 ? "," : "", dims[i]);
        if (len < 0 || used + (size_t)len + 5 > SHAPE_TEXT_SIZE) {
            memcpy(text + used, "...", 3);
            used += 3;
            break;
        }
        memcpy(text + used, number, (size_t)len);
        used += (size_t)len;
    }
    text[used++] = ']';
    text[used] = '\0';
    return text;
}

/* The shape of a caller's tensor_ref as unsigned dims (after check_ref). */
static void ref_dims(const tdl_tensor_ref *ref, uint64_t dims[TDL_MAX_RANK]) {
    for (int i = 0; i < ref->rank; ++i) dims[i] = (uint64_t)ref->shape[i];
}

/* Elements of a tensor_ref that check_ref accepted (so it cannot overflow). */
static uint64_t ref_elements(const tdl_tensor_ref *ref) {
    uint64_t count = 1;
    for (int i = 0; i < ref->rank; ++i) count *= (uint64_t)ref->shape[i];
    return count;
}

/* A caller's tensor_ref is usable: named, rank in range, dims >= 0, its size
 * fits in memory, data present unless it is empty. */
static tdl_status check_ref(const tdl_tensor_ref *ref, size_t index) {
    if (ref->name == NULL || ref->name[0] == '\0')
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor #%zu has no name", index);
    if (ref->rank < 0 || ref->rank > TDL_MAX_RANK)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor '%s': rank %d outside [0, %d]", ref->name,
                             ref->rank, TDL_MAX_RANK);
    for (int i = 0; i < ref->rank; ++i)
        if (ref->shape[i] < 0)
            return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor '%s': negative dimension %" PRId64,
                                 ref->name, ref->shape[i]);
    uint64_t dims[TDL_MAX_RANK] = {0};
    ref_dims(ref, dims);
    int overflow;
    uint64_t count = element_count(dims, (size_t)ref->rank, &overflow);
    if (overflow || count > SIZE_MAX / sizeof(float))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor '%s' has too many elements", ref->name);
    if (ref->data == NULL && count > 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor '%s' has no data", ref->name);
    return TDL_STATUS_OK;
}

/* ===================================================================== */
/* Reading the header                                                     */
/* ===================================================================== */

typedef struct file_tensor {
    const char *name;
    const char *dtype;
    const cJSON *shape; /* a validated array of non-negative integers */
    uint64_t begin, end; /* within the data section */
} file_tensor;

typedef struct header {
    cJSON *root;
    file_tensor *tensors; /* sorted by name */
    size_t count;
    const uint8_t *data;
    uint64_t data_size;
} header;

static void header_free(header *h) {
    cJSON_Delete(h->root);
    free(h->tensors);
}

static int compare_by_name(const void *a, const void *b) {
    return strcmp(((const file_tensor *)a)->name, ((const file_tensor *)b)->name);
}

static int compare_by_begin(const void *a, const void *b) {
    const file_tensor *x = *(const file_tensor *const *)a, *y = *(const file_tensor *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static tdl_status check_metadata(const cJSON *metadata) {
    if (!cJSON_IsObject(metadata))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "\"__metadata__\" is not an object");
    for (const cJSON *item = metadata->child; item != NULL; item = item->next)
        if (!cJSON_IsString(item))
            return tdl_set_error(TDL_STATUS_BAD_FILE, "\"__metadata__\" entry '%s' is not a string",
                                 item->string);
    return TDL_STATUS_OK;
}

/* Fills t from one header entry and checks it against the data section. */
static tdl_status read_entry(file_tensor *t, const cJSON *entry, uint64_t data_size) {
    const char *name = entry->string;
    t->name = name;
    if (!cJSON_IsObject(entry))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "header entry '%s' is not an object", name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    if (!cJSON_IsString(dtype))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': \"dtype\" is missing or not a string", name);
    t->dtype = dtype->valuestring;

    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    if (!cJSON_IsArray(shape))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': \"shape\" is missing or not an array", name);
    t->shape = shape;
    uint64_t count = 1;
    int has_zero = 0, overflow = 0;
    for (const cJSON *item = shape->child; item != NULL; item = item->next) {
        uint64_t dim;
        if (!json_to_u64(item, &dim))
            return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': \"shape\" holds something other than "
                                 "a non-negative integer", name);
        if (dim == 0) has_zero = 1;
        else if (count > UINT64_MAX / dim) overflow = 1;
        else count *= dim;
    }
    if (has_zero) count = 0;
    else if (overflow)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': the shape has more than 2^64 elements", name);

    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsArray(offsets) || cJSON_GetArraySize(offsets) != 2 || !json_to_u64(offsets->child, &t->begin) ||
        !json_to_u64(offsets->child->next, &t->end))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': \"data_offsets\" is not [begin, end] "
                             "with non-negative integers", name);
    if (t->begin > t->end)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                             "] begin after they end", name, t->begin, t->end);
    if (t->end > data_size)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': data_offsets [%" PRIu64 ",%" PRIu64
                             "] go past the end of the %" PRIu64 "-byte data section",
                             name, t->begin, t->end, data_size);

    /* A dtype this reader does not know cannot be sized; such a tensor can
     * only be an extra one, since a requested tensor must be F32. */
    unsigned element_size = dtype_size(t->dtype);
    if (element_size > 0) {
        if (count > UINT64_MAX / element_size)
            return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': the shape is too large", name);
        if (count * element_size != t->end - t->begin)
            return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s': its shape and dtype %s need %" PRIu64
                                 " bytes but data_offsets [%" PRIu64 ",%" PRIu64 "] hold %" PRIu64,
                                 name, t->dtype, count * element_size, t->begin, t->end, t->end - t->begin);
    }
    return TDL_STATUS_OK;
}

/* Two tensors may not share a byte (empty tensors share none). */
static tdl_status check_overlaps(const header *h) {
    if (h->count < 2) return TDL_STATUS_OK;
    const file_tensor **by_begin = malloc(h->count * sizeof *by_begin);
    if (by_begin == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory reading a safetensors header");
    for (size_t i = 0; i < h->count; ++i) by_begin[i] = &h->tensors[i];
    qsort(by_begin, h->count, sizeof *by_begin, compare_by_begin);

    tdl_status status = TDL_STATUS_OK;
    const file_tensor *furthest = NULL; /* the non-empty tensor that ends last so far */
    for (size_t i = 0; i < h->count && status == TDL_STATUS_OK; ++i) {
        const file_tensor *t = by_begin[i];
        if (t->begin == t->end) continue;
        if (furthest != NULL && t->begin < furthest->end)
            status = tdl_set_error(TDL_STATUS_BAD_FILE, "tensors '%s' and '%s' overlap in the data section",
                                   furthest->name, t->name);
        if (furthest == NULL || t->end > furthest->end) furthest = t;
    }
    free(by_begin);
    return status;
}

static int is_json_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* The value of four hex digits, or -1 if one is not a hex digit. */
static long hex4(const char *digits) {
    long value = 0;
    for (int k = 0; k < 4; ++k) {
        char c = digits[k];
        int digit = c >= '0' && c <= '9' ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

/* cJSON hands out names and string values as C strings, so a NUL inside one
 * (a raw byte or the escape \u0000) silently cuts it: the key
 * "dense_1.bias\u0000junk" would load as dense_1.bias. So the raw header is
 * scanned for a NUL character: in a string it is refused, and outside one
 * (where cJSON skips it as if it were a space) JSON allows none either. It
 * runs after cJSON accepted the text, so strings and escapes are well formed. */
static tdl_status check_no_nul(const char *text, size_t size) {
    int in_string = 0;
    size_t string_start = 0;
    for (size_t i = 0; i < size; ++i) {
        int escaped_nul =
            in_string && text[i] == '\\' && i + 5 < size && text[i + 1] == 'u' && hex4(text + i + 2) == 0;
        if (text[i] == '\0' || escaped_nul) {
            if (!in_string)
                return tdl_set_error(TDL_STATUS_BAD_FILE, "the header holds a NUL byte (at header byte %zu)", i);
            /* Shows the string up to the NUL: what a reader that stops there takes it for. */
            size_t shown = i - string_start;
            return tdl_set_error(TDL_STATUS_BAD_FILE, "a string in the header holds a NUL character after '%.*s' "
                                 "(at header byte %zu): names and dtypes cannot contain NUL",
                                 (int)(shown < 64 ? shown : 64), text + string_start, i);
        }
        if (!in_string) {
            if (text[i] == '"') {
                in_string = 1;
                string_start = i + 1;
            }
        } else if (text[i] == '"') {
            in_string = 0;
        } else if (text[i] == '\\') {
            ++i; /* the escaped character, so that \" does not end the string */
        }
    }
    return TDL_STATUS_OK;
}

/* Parses and checks the whole header of bytes[0, size). */
static tdl_status header_parse(header *h, const uint8_t *bytes, size_t size) {
    memset(h, 0, sizeof *h);
    if (size < 8)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "not a safetensors file: %zu bytes is too short", size);
    uint64_t header_size = read_le64(bytes);
    if (header_size > HEADER_LIMIT)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "header length %" PRIu64 " is over the %" PRIu64
                             "-byte limit", header_size, HEADER_LIMIT);
    if (header_size > size - 8)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "header length %" PRIu64 " runs past the end of the "
                             "%zu-byte file", header_size, size);
    h->data = bytes + 8 + header_size;
    h->data_size = size - 8 - header_size;

    const char *text = (const char *)bytes + 8;
    const char *parse_end = NULL;
    h->root = cJSON_ParseWithLengthOpts(text, (size_t)header_size, &parse_end, 0);
    if (h->root == NULL)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "the header is not valid JSON (at header byte %td)",
                             parse_end != NULL ? parse_end - text : 0);
    for (const char *p = parse_end; p < text + header_size; ++p)
        if (!is_json_space(*p))
            return tdl_set_error(TDL_STATUS_BAD_FILE, "unexpected bytes after the JSON header (at header "
                                 "byte %td)", p - text);
    if (!cJSON_IsObject(h->root))
        return tdl_set_error(TDL_STATUS_BAD_FILE, "the header is not a JSON object");
    tdl_status nul_status = check_no_nul(text, (size_t)header_size);
    if (nul_status != TDL_STATUS_OK) return nul_status;

    size_t entries = (size_t)cJSON_GetArraySize(h->root);
    h->tensors = calloc(entries > 0 ? entries : 1, sizeof *h->tensors);
    if (h->tensors == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory reading a safetensors header");
    for (const cJSON *entry = h->root->child; entry != NULL; entry = entry->next) {
        tdl_status status;
        if (strcmp(entry->string, "__metadata__") == 0)
            status = check_metadata(entry);
        else
            status = read_entry(&h->tensors[h->count++], entry, h->data_size);
        if (status != TDL_STATUS_OK) return status;
    }

    qsort(h->tensors, h->count, sizeof *h->tensors, compare_by_name);
    for (size_t i = 1; i < h->count; ++i)
        if (strcmp(h->tensors[i - 1].name, h->tensors[i].name) == 0)
            return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s' appears twice in the header",
                                 h->tensors[i].name);
    return check_overlaps(h);
}

static const file_tensor *header_find(const header *h, const char *name) {
    file_tensor key = {.name = name};
    return h->count == 0 ? NULL : bsearch(&key, h->tensors, h->count, sizeof key, compare_by_name);
}

/* The requested tensor is in the file as F32 with the same shape. */
static tdl_status check_request(const header *h, const tdl_tensor_ref *ref) {
    uint64_t dims[TDL_MAX_RANK] = {0};
    ref_dims(ref, dims);
    const file_tensor *t = header_find(h, ref->name);
    if (t == NULL) return tdl_set_error(TDL_STATUS_BAD_FILE, "missing tensor '%s'", ref->name);
    if (strcmp(t->dtype, "F32") != 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "tensor '%s' has dtype %s, the model expects F32", ref->name,
                             t->dtype);

    uint64_t file_dims[TDL_MAX_RANK] = {0};
    size_t file_rank = 0;
    int same = 1;
    for (const cJSON *item = t->shape->child; item != NULL; item = item->next, ++file_rank) {
        uint64_t dim = 0;
        json_to_u64(item, &dim); /* validated by read_entry */
        if (file_rank < TDL_MAX_RANK) file_dims[file_rank] = dim;
        if (file_rank >= (size_t)ref->rank || dim != dims[file_rank]) same = 0;
    }
    if (same && file_rank == (size_t)ref->rank) return TDL_STATUS_OK;

    char file_text[SHAPE_TEXT_SIZE], model_text[SHAPE_TEXT_SIZE];
    format_shape(file_text, file_dims, file_rank < TDL_MAX_RANK ? file_rank : TDL_MAX_RANK);
    if (file_rank > TDL_MAX_RANK) strcpy(file_text + strlen(file_text) - 1, ",...]");
    return tdl_set_error(TDL_STATUS_BAD_SHAPE, "tensor '%s': the file has %s, the model expects %s", ref->name,
                         file_text, format_shape(model_text, dims, (size_t)ref->rank));
}

/* The parsed file behind a tdl_safetensors handle. */
struct tdl_safetensors {
    header h;
    uint8_t *owned; /* the file's bytes when opened from a path */
};

tdl_status tdl_safetensors_open_buffer(const uint8_t *bytes, size_t size, tdl_safetensors **out) {
    if (out == NULL || (bytes == NULL && size > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_open_buffer: NULL bytes or handle");
    *out = NULL;
    tdl_safetensors *file = calloc(1, sizeof *file);
    if (file == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory reading a safetensors header");
    tdl_status status = header_parse(&file->h, bytes, size);
    if (status != TDL_STATUS_OK) {
        tdl_safetensors_close(file);
        return status;
    }
    *out = file;
    return TDL_STATUS_OK;
}

const char *tdl_safetensors_metadata(const tdl_safetensors *file, const char *key) {
    if (file == NULL || key == NULL) return NULL;
    const cJSON *metadata = cJSON_GetObjectItemCaseSensitive(file->h.root, "__metadata__");
    const cJSON *item = metadata != NULL ? cJSON_GetObjectItemCaseSensitive(metadata, key) : NULL;
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

tdl_status tdl_safetensors_check(const tdl_safetensors *file, const tdl_tensor_ref *tensors, size_t count) {
    if (file == NULL || (tensors == NULL && count > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_check: NULL file or tensors");
    for (size_t i = 0; i < count; ++i) {
        tdl_status status = check_ref(&tensors[i], i);
        if (status != TDL_STATUS_OK) return status;
    }
    for (size_t i = 0; i < count; ++i) {
        tdl_status status = check_request(&file->h, &tensors[i]);
        if (status != TDL_STATUS_OK) return status;
    }
    return TDL_STATUS_OK;
}

void tdl_safetensors_read(const tdl_safetensors *file, const tdl_tensor_ref *tensors, size_t count) {
    if (file == NULL) return;
    for (size_t i = 0; i < count; ++i) {
        const file_tensor *t = header_find(&file->h, tensors[i].name);
        if (t == NULL) continue; /* not checked: tdl_safetensors_check would have refused it */
        copy_f32_from_le(tensors[i].data, file->h.data + t->begin, (size_t)ref_elements(&tensors[i]));
    }
}

void tdl_safetensors_close(tdl_safetensors *file) {
    if (file == NULL) return;
    header_free(&file->h);
    free(file->owned);
    free(file);
}

tdl_status tdl_safetensors_load_buffer(const uint8_t *bytes, size_t size, const tdl_tensor_ref *tensors,
                                       size_t count) {
    if ((bytes == NULL && size > 0) || (tensors == NULL && count > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_load_buffer: NULL bytes or tensors");
    for (size_t i = 0; i < count; ++i) {
        tdl_status status = check_ref(&tensors[i], i);
        if (status != TDL_STATUS_OK) return status;
    }
    tdl_safetensors *file = NULL;
    tdl_status status = tdl_safetensors_open_buffer(bytes, size, &file);
    if (status == TDL_STATUS_OK) status = tdl_safetensors_check(file, tensors, count);
    /* Nothing has been touched so far; now nothing can fail. */
    if (status == TDL_STATUS_OK) tdl_safetensors_read(file, tensors, count);
    tdl_safetensors_close(file);
    return status;
}

/* ===================================================================== */
/* Views: the checked header for readers of their own                     */
/* ===================================================================== */

struct tdl_safetensors_view {
    header h;
};

tdl_status tdl_safetensors_view_open(const uint8_t *bytes, size_t size, tdl_safetensors_view **view) {
    if (view == NULL || (bytes == NULL && size > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_view_open: NULL bytes or view");
    *view = NULL;
    tdl_safetensors_view *v = malloc(sizeof *v);
    if (v == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory reading a safetensors header");
    tdl_status status = header_parse(&v->h, bytes, size);
    if (status != TDL_STATUS_OK) {
        header_free(&v->h);
        free(v);
        return status;
    }
    *view = v;
    return TDL_STATUS_OK;
}

bool tdl_safetensors_view_find(const tdl_safetensors_view *view, const char *name, tdl_safetensors_entry *entry) {
    if (view == NULL || name == NULL || entry == NULL) return false;
    const file_tensor *t = header_find(&view->h, name);
    if (t == NULL) return false;
    tdl_safetensors_entry e = {.dtype = t->dtype, .data = view->h.data + t->begin, .bytes = t->end - t->begin};
    for (const cJSON *item = t->shape->child; item != NULL; item = item->next, ++e.rank) {
        uint64_t dim = 0;
        json_to_u64(item, &dim); /* validated by read_entry */
        if (e.rank < TDL_MAX_RANK) e.shape[e.rank] = dim;
    }
    *entry = e;
    return true;
}

void tdl_safetensors_view_close(tdl_safetensors_view *view) {
    if (view == NULL) return;
    header_free(&view->h);
    free(view);
}

/* ===================================================================== */
/* Files                                                                  */
/* ===================================================================== */

/* strerror, but safe to call from several threads at once (POSIX strerror_r). */
typedef struct error_text {
    char text[128];
} error_text;

static const char *describe(int error, error_text *buffer) {
    if (strerror_r(error, buffer->text, sizeof buffer->text) != 0)
        snprintf(buffer->text, sizeof buffer->text, "error %d", error);
    return buffer->text;
}

/* Prefixes the last error with the file's path. */
static tdl_status with_path(tdl_status status, const char *path) {
    char message[512];
    snprintf(message, sizeof message, "%s", tdl_last_error());
    return tdl_set_error(status, "%s: %s", path, message);
}

static tdl_status read_whole_file(const char *path, uint8_t **bytes_out, size_t *size_out) {
    *bytes_out = NULL;
    *size_out = 0;
    error_text why;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return tdl_set_error(TDL_STATUS_IO, "cannot open '%s': %s", path, describe(errno, &why));
    struct stat info;
    if (fstat(fd, &info) != 0) {
        int error = errno;
        close(fd);
        return tdl_set_error(TDL_STATUS_IO, "cannot read '%s': %s", path, describe(error, &why));
    }
    if (!S_ISREG(info.st_mode)) {
        close(fd);
        return tdl_set_error(TDL_STATUS_IO, "cannot read '%s': not a regular file", path);
    }
    if ((uintmax_t)info.st_size > SIZE_MAX) {
        close(fd);
        return tdl_set_error(TDL_STATUS_NO_MEMORY, "'%s' is too large to load", path);
    }
    size_t size = (size_t)info.st_size;
    uint8_t *bytes = malloc(size > 0 ? size : 1);
    if (bytes == NULL) {
        close(fd);
        return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory loading '%s'", path);
    }
    size_t done = 0;
    while (done < size) {
        ssize_t got = read(fd, bytes + done, size - done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            int error = got < 0 ? errno : 0;
            free(bytes);
            close(fd);
            return tdl_set_error(TDL_STATUS_IO, "cannot read '%s': %s", path,
                                 error != 0 ? describe(error, &why) : "the file got shorter while reading");
        }
        done += (size_t)got;
    }
    close(fd);
    *bytes_out = bytes;
    *size_out = size;
    return TDL_STATUS_OK;
}

tdl_status tdl_safetensors_open(const char *path, tdl_safetensors **out) {
    if (path == NULL || out == NULL)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_open: NULL path or handle");
    *out = NULL;
    uint8_t *bytes;
    size_t size;
    tdl_status status = read_whole_file(path, &bytes, &size);
    if (status != TDL_STATUS_OK) return status;
    status = tdl_safetensors_open_buffer(bytes, size, out);
    if (status != TDL_STATUS_OK) {
        free(bytes);
        return with_path(status, path);
    }
    (*out)->owned = bytes;
    return TDL_STATUS_OK;
}

tdl_status tdl_safetensors_load(const char *path, const tdl_tensor_ref *tensors, size_t count) {
    if (path == NULL) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_load: NULL path");
    uint8_t *bytes;
    size_t size;
    tdl_status status = read_whole_file(path, &bytes, &size);
    if (status != TDL_STATUS_OK) return status;
    status = tdl_safetensors_load_buffer(bytes, size, tensors, count);
    free(bytes);
    return status == TDL_STATUS_OK ? status : with_path(status, path);
}

/* ===================================================================== */
/* Writing                                                                */
/* ===================================================================== */

static int compare_refs_by_name(const void *a, const void *b) {
    return strcmp((*(const tdl_tensor_ref *const *)a)->name, (*(const tdl_tensor_ref *const *)b)->name);
}

static cJSON *json_integer(uint64_t value) {
    char text[32];
    snprintf(text, sizeof text, "%" PRIu64, value);
    return cJSON_CreateRaw(text); /* exact, never in exponent notation */
}

/* Adds item to an object (key != NULL) or an array; frees it on failure. */
static int attach(cJSON *parent, const char *key, cJSON *item) {
    if (item == NULL) return 0;
    int ok = key != NULL ? cJSON_AddItemToObject(parent, key, item) : cJSON_AddItemToArray(parent, item);
    if (!ok) cJSON_Delete(item);
    return ok;
}

/* Appends {"dtype":"F32","shape":[..],"data_offsets":[begin,end]} as root[name]. */
static int add_header_entry(cJSON *root, const tdl_tensor_ref *ref, uint64_t begin, uint64_t end) {
    cJSON *entry = cJSON_CreateObject();
    if (!attach(root, ref->name, entry)) return 0;
    cJSON *shape = cJSON_CreateArray();
    if (!attach(entry, "dtype", cJSON_CreateString("F32")) || !attach(entry, "shape", shape)) return 0;
    for (int i = 0; i < ref->rank; ++i)
        if (!attach(shape, NULL, json_integer((uint64_t)ref->shape[i]))) return 0;
    cJSON *offsets = cJSON_CreateArray();
    return attach(entry, "data_offsets", offsets) && attach(offsets, NULL, json_integer(begin)) &&
           attach(offsets, NULL, json_integer(end));
}

/* root["__metadata__"] = {key: value, ...} (nothing when there are no entries). */
static int add_metadata(cJSON *root, const tdl_metadata_entry *metadata, size_t count) {
    if (count == 0) return 1;
    cJSON *object = cJSON_CreateObject();
    if (!attach(root, "__metadata__", object)) return 0;
    for (size_t i = 0; i < count; ++i)
        if (!attach(object, metadata[i].key, cJSON_CreateString(metadata[i].value))) return 0;
    return 1;
}

/* The header text, padded with spaces to a multiple of 8 bytes so that the
 * data section starts 8-byte aligned. */
static char *header_text(const tdl_tensor_ref *const *sorted, size_t count, const tdl_metadata_entry *metadata,
                         size_t metadata_count, size_t *length) {
    cJSON *root = cJSON_CreateObject();
    uint64_t offset = 0;
    int ok = root != NULL && add_metadata(root, metadata, metadata_count);
    for (size_t i = 0; i < count && ok; ++i) {
        uint64_t elements = ref_elements(sorted[i]);
        ok = add_header_entry(root, sorted[i], offset, offset + elements * 4);
        offset += elements * 4;
    }
    char *json = ok ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    if (json == NULL) return NULL;
    size_t used = strlen(json);
    size_t padded = (used + 7) / 8 * 8;
    char *text = realloc(json, padded + 1);
    if (text == NULL) {
        free(json);
        return NULL;
    }
    memset(text + used, ' ', padded - used);
    text[padded] = '\0';
    *length = padded;
    return text;
}

/* src: (n) floats -> file, little-endian. */
static int write_f32_le(FILE *file, const float *src, size_t n) {
    if (host_is_little_endian()) return fwrite(src, sizeof *src, n, file) == n;
    uint8_t chunk[4096];
    for (size_t i = 0; i < n;) {
        size_t batch = 0;
        for (; batch < sizeof chunk / 4 && i < n; ++batch, ++i) {
            uint32_t bits;
            memcpy(&bits, &src[i], sizeof bits);
            for (int b = 0; b < 4; ++b) chunk[4 * batch + (size_t)b] = (uint8_t)(bits >> (8 * b));
        }
        if (fwrite(chunk, 4, batch, file) != batch) return 0;
    }
    return 1;
}

/* The permission bits a save gives its file: those of the file it replaces,
 * so that a 0600 weights file stays private; 0666 (less the umask) for a new one. */
static mode_t target_mode(const char *path, int *exists) {
    struct stat info;
    *exists = stat(path, &info) == 0 && S_ISREG(info.st_mode);
    return *exists ? info.st_mode & (S_IRWXU | S_IRWXG | S_IRWXO) : 0666;
}

/* Creates a fresh file next to path ("<path>.tmp.<pid>.<n>"). It is created
 * with mode (which the umask can only narrow), so it is never readable by
 * more users than the file it replaces, not even before the chmod. */
static int create_temporary(const char *path, mode_t mode, char *name, size_t name_size) {
    for (unsigned attempt = 0; attempt < 100; ++attempt) {
        int len = snprintf(name, name_size, "%s.tmp.%ld.%u", path, (long)getpid(), attempt);
        if (len < 0 || (size_t)len >= name_size) {
            errno = ENAMETOOLONG;
            return -1;
        }
        int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, mode);
        if (fd >= 0 || errno != EEXIST) return fd;
    }
    return -1;
}

static tdl_status write_file(const char *path, const char *header, size_t header_size,
                             const tdl_tensor_ref *const *sorted, size_t count) {
    size_t name_size = strlen(path) + 64;
    char *temporary = malloc(name_size);
    if (temporary == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory saving '%s'", path);
    int replacing;
    mode_t mode = target_mode(path, &replacing);
    int fd = create_temporary(path, mode, temporary, name_size);
    error_text why;
    /* The umask may have narrowed the mode of a replacement: restore it exactly. */
    if (fd >= 0 && replacing && fchmod(fd, mode) != 0) {
        int error = errno;
        close(fd);
        unlink(temporary);
        errno = error;
        fd = -1;
    }
    if (fd < 0) {
        tdl_status status = tdl_set_error(TDL_STATUS_IO, "cannot write '%s': %s", path, describe(errno, &why));
        free(temporary);
        return status;
    }
    FILE *file = fdopen(fd, "wb");
    int ok = file != NULL;
    if (!ok) close(fd);

    uint8_t length[8];
    write_le64(length, header_size);
    ok = ok && fwrite(length, 1, 8, file) == 8 && fwrite(header, 1, header_size, file) == header_size;
    for (size_t i = 0; i < count && ok; ++i) {
        ok = write_f32_le(file, sorted[i]->data, (size_t)ref_elements(sorted[i]));
    }
    ok = ok && fflush(file) == 0 && fsync(fileno(file)) == 0;
    int error = errno;
    if (file != NULL && fclose(file) != 0 && ok) {
        ok = 0;
        error = errno;
    }
    if (ok && rename(temporary, path) != 0) {
        ok = 0;
        error = errno;
    }
    tdl_status status = TDL_STATUS_OK;
    if (!ok) {
        unlink(temporary);
        status = tdl_set_error(TDL_STATUS_IO, "cannot write '%s': %s", path,
                               error != 0 ? describe(error, &why) : "write failed");
    }
    free(temporary);
    return status;
}

/* Metadata entries: keys present, not empty, unique; values present. */
static tdl_status check_metadata_entries(const tdl_metadata_entry *metadata, size_t count) {
    if (metadata == NULL && count > 0)
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_save_with_metadata: NULL metadata");
    for (size_t i = 0; i < count; ++i) {
        if (metadata[i].key == NULL || metadata[i].key[0] == '\0' || metadata[i].value == NULL)
            return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "metadata entry %zu has no key or no value", i);
        for (size_t j = 0; j < i; ++j)
            if (strcmp(metadata[i].key, metadata[j].key) == 0)
                return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "metadata key '%s' is listed twice", metadata[i].key);
    }
    return TDL_STATUS_OK;
}

tdl_status tdl_safetensors_save(const char *path, const tdl_tensor_ref *tensors, size_t count) {
    return tdl_safetensors_save_with_metadata(path, tensors, count, NULL, 0);
}

tdl_status tdl_safetensors_save_with_metadata(const char *path, const tdl_tensor_ref *tensors, size_t count,
                                              const tdl_metadata_entry *metadata, size_t metadata_count) {
    if (path == NULL || path[0] == '\0' || (tensors == NULL && count > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tdl_safetensors_save: NULL path or tensors");
    tdl_status metadata_status = check_metadata_entries(metadata, metadata_count);
    if (metadata_status != TDL_STATUS_OK) return metadata_status;
    uint64_t total_bytes = 0;
    for (size_t i = 0; i < count; ++i) {
        tdl_status status = check_ref(&tensors[i], i);
        if (status != TDL_STATUS_OK) return status;
        uint64_t elements = ref_elements(&tensors[i]);
        if (strcmp(tensors[i].name, "__metadata__") == 0)
            return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "'__metadata__' cannot name a tensor");
        if (elements * 4 > UINT64_MAX - total_bytes)
            return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "the tensors are too large for one file");
        total_bytes += elements * 4;
    }

    const tdl_tensor_ref **sorted = malloc((count > 0 ? count : 1) * sizeof *sorted);
    if (sorted == NULL) return tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory saving '%s'", path);
    for (size_t i = 0; i < count; ++i) sorted[i] = &tensors[i];
    qsort(sorted, count, sizeof *sorted, compare_refs_by_name);
    for (size_t i = 1; i < count; ++i) {
        if (strcmp(sorted[i - 1]->name, sorted[i]->name) == 0) {
            tdl_status status = tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "tensor '%s' is listed twice",
                                              sorted[i]->name);
            free(sorted);
            return status;
        }
    }

    size_t header_size = 0;
    char *header = header_text(sorted, count, metadata, metadata_count, &header_size);
    tdl_status status = header == NULL ? tdl_set_error(TDL_STATUS_NO_MEMORY, "out of memory saving '%s'", path)
                                       : write_file(path, header, header_size, sorted, count);
    free(header);
    free(sorted);
    return status;
}
