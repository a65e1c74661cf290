/* The portable build's stand-in for ../state.c, which needs the heap and
 * safetensors.c: NAME_save_state and NAME_load_state report
 * TDL_STATUS_UNSUPPORTED and touch nothing, as NAME_load and NAME_save do. */
#include "tdl/runtime.h"

static tdl_status no_state_files(const char *function) {
    return tdl_set_error(TDL_STATUS_UNSUPPORTED, "%s: the portable runtime reads and writes no training-state files",
                         function);
}

tdl_status tdl_model_save_state(const tdl_model *m, const char *function, const char *path) {
    (void)m, (void)path;
    return no_state_files(function);
}

tdl_status tdl_model_load_state(tdl_model *m, const char *function, const char *path) {
    (void)m, (void)path;
    return no_state_files(function);
}

tdl_status tdl_model_load_state_buffer(tdl_model *m, const char *function, const uint8_t *bytes, size_t size) {
    (void)m, (void)bytes, (void)size;
    return no_state_files(function);
}
