/* The portable build's stand-in for ../safetensors.c, which needs cJSON and
 * the heap: every call reports TDL_STATUS_UNSUPPORTED and touches nothing. */
#include "tdl/runtime.h"

static tdl_status no_safetensors(const char *function) {
    return tdl_set_error(TDL_STATUS_UNSUPPORTED, "%s: the portable runtime has no safetensors support", function);
}

tdl_status tdl_safetensors_save(const char *path, const tdl_tensor_ref *tensors, size_t count) {
    (void)path, (void)tensors, (void)count;
    return no_safetensors("tdl_safetensors_save");
}

tdl_status tdl_safetensors_load(const char *path, const tdl_tensor_ref *tensors, size_t count) {
    (void)path, (void)tensors, (void)count;
    return no_safetensors("tdl_safetensors_load");
}

tdl_status tdl_safetensors_load_buffer(const uint8_t *bytes, size_t size, const tdl_tensor_ref *tensors,
                                       size_t count) {
    (void)bytes, (void)size, (void)tensors, (void)count;
    return no_safetensors("tdl_safetensors_load_buffer");
}
