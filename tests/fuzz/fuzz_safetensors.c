/* libFuzzer harness for tdl_safetensors_load_buffer: arbitrary bytes as a
 * weights file that should hold "a" f32[2] and "b" f32[2,2]. Besides
 * crashes and sanitizer reports, it checks the all-or-nothing promise: when
 * the load fails, neither destination may have changed. */
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
    return 0;
}
