/* libFuzzer harness for tdl_safetensors_load_buffer: arbitrary bytes as a
 * weights file that should hold "a" f32[2] and "b" f32[2,2]. Besides
 * crashes and sanitizer reports, it checks the all-or-nothing promise: when
 * the load fails, neither destination may have changed.
 *
 * The same bytes go through tdl_safetensors_view_open, the reader of
 * tsc --weights: a view opens exactly when the header is sound, every entry
 * it finds lies inside the input, and the load succeeds exactly when both
 * tensors are there as F32 of the requested shapes. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A bit pattern no valid test input is likely to carry. */
static const uint32_t untouched_bits = 0x7fc0dead;

static void fill_untouched(float *x, size_t n) {
    for (size_t i = 0; i < n; ++i) memcpy(&x[i], &untouched_bits, sizeof untouched_bits);
}

static int is_untouched(const float *x, size_t n) {
    for (size_t i = 0; i < n; ++i)
        if (memcmp(&x[i], &untouched_bits, sizeof untouched_bits) != 0) return 0;
    return 1;
}

/* The entry is the requested tensor: F32, same rank and dimensions. */
static int matches(const tdl_safetensors_entry *e, const tdl_tensor_ref *ref) {
    if (strcmp(e->dtype, "F32") != 0 || e->rank != (size_t)ref->rank) return 0;
    for (int i = 0; i < ref->rank; ++i)
        if (e->shape[i] != (uint64_t)ref->shape[i]) return 0;
    return 1;
}

static void check_view(const uint8_t *data, size_t size, const tdl_tensor_ref refs[2], tdl_status load_status) {
    tdl_safetensors_view *view = NULL;
    tdl_status status = tdl_safetensors_view_open(data, size, &view);
    if ((status == TDL_STATUS_OK) != (view != NULL)) abort();
    if (!view) {
        if (load_status == TDL_STATUS_OK) abort(); /* a load never accepts what the view refuses */
        return;
    }
    int both = 1;
    for (int i = 0; i < 2; ++i) {
        tdl_safetensors_entry e;
        if (!tdl_safetensors_view_find(view, refs[i].name, &e)) {
            both = 0;
            continue;
        }
        if (e.data < data + 8 || e.bytes > size || e.data + e.bytes > data + size) abort();
        if (!matches(&e, &refs[i])) both = 0;
        else if (e.bytes != (uint64_t)(i == 0 ? 8 : 16)) abort();
    }
    if (both != (load_status == TDL_STATUS_OK)) abort();
    tdl_safetensors_view_close(view);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    float a[2], b[4];
    fill_untouched(a, 2);
    fill_untouched(b, 4);
    const tdl_tensor_ref refs[2] = {
        {.name = "a", .data = a, .rank = 1, .shape = {2}},
        {.name = "b", .data = b, .rank = 2, .shape = {2, 2}},
    };
    tdl_status status = tdl_safetensors_load_buffer(data, size, refs, 2);
    if (status != TDL_STATUS_OK && (!is_untouched(a, 2) || !is_untouched(b, 4))) abort();
    if (status != TDL_STATUS_OK && tdl_last_error()[0] == '\0') abort();
    check_view(data, size, refs, status);
    return 0;
}
