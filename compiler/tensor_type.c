/* Tensor types of the checked graph: formatting, equality, element counts. */
#include <inttypes.h>
#include <string.h>

#include "check.h"

const char *tsc_dtype_name(tsc_dtype dtype)
{
    switch (dtype) {
    case TSC_DTYPE_F32:
        return "f32";
    case TSC_DTYPE_I32:
        return "i32";
    case TSC_DTYPE_POISON:
        break;
    }
    return "<error>";
}

bool tsc_type_is_poison(const tsc_type *type)
{
    return type->dtype == TSC_DTYPE_POISON;
}

bool tsc_type_equal(const tsc_type *a, const tsc_type *b)
{
    if (tsc_type_is_poison(a) || tsc_type_is_poison(b) || a->dtype != b->dtype || a->rank != b->rank)
        return false;
    for (int i = 0; i < a->rank; i++) {
        if (a->dims[i] != b->dims[i])
            return false;
    }
    return true;
}

bool tsc_type_has_batch(const tsc_type *type)
{
    return !tsc_type_is_poison(type) && type->rank > 0 && type->dims[0] == TSC_DIM_BATCH;
}

const char *tsc_type_format(char *buf, size_t size, const tsc_type *type, const char *batch_symbol)
{
    if (size == 0)
        return buf;
    if (tsc_type_is_poison(type)) {
        snprintf(buf, size, "<error>");
        return buf;
    }
    size_t used = (size_t)snprintf(buf, size, "%s[", tsc_dtype_name(type->dtype));
    for (int i = 0; i < type->rank && used < size; i++) {
        const char *sep = i == 0 ? "" : ",";
        if (type->dims[i] == TSC_DIM_BATCH)
            used += (size_t)snprintf(buf + used, size - used, "%s%s", sep, batch_symbol ? batch_symbol : "B");
        else
            used += (size_t)snprintf(buf + used, size - used, "%s%" PRId64, sep, type->dims[i]);
    }
    if (used < size)
        snprintf(buf + used, size - used, "]");
    return buf;
}

char *tsc_type_string(const tsc_type *type, const char *batch_symbol)
{
    /* "f32[" + one batch name + up to TSC_MAX_RANK dims of at most 20
     * characters and a comma each + "]" + NUL: the whole type always fits. */
    size_t size = 8 + strlen(batch_symbol ? batch_symbol : "B") + (size_t)TSC_MAX_RANK * 21;
    char *text = tsc_xmalloc(size);
    tsc_type_format(text, size, type, batch_symbol);
    return text;
}

bool tsc_mul_checked(int64_t a, int64_t b, int64_t *out)
{
    if (a < 0 || b < 0)
        return false;
    if (a != 0 && b > INT64_MAX / a)
        return false;
    *out = a * b;
    return true;
}

int64_t tsc_mul_saturating(int64_t a, int64_t b)
{
    int64_t product;
    return tsc_mul_checked(a, b, &product) ? product : INT64_MAX;
}

bool tsc_type_elements(const tsc_type *type, int64_t batch, int from, int64_t *out)
{
    if (tsc_type_is_poison(type))
        return false;
    int64_t total = 1;
    for (int i = from; i < type->rank; i++) {
        int64_t d = type->dims[i] == TSC_DIM_BATCH ? batch : type->dims[i];
        if (!tsc_mul_checked(total, d, &total))
            return false;
    }
    *out = total;
    return true;
}
