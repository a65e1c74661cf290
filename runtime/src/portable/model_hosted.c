/* The portable build's stand-in for ../model_hosted.c: no heap and no files.
 * Models live in an arena the caller provides (NAME_create_in) and start
 * from NAME_init or from weights compiled into the program; NAME_create,
 * NAME_load and NAME_save report TDL_STATUS_UNSUPPORTED. */
#include "tdl/runtime.h"

tdl_model *tdl_model_create(const tdl_model_info *info, int max_batch) {
    (void)max_batch;
    tdl_set_error(TDL_STATUS_UNSUPPORTED,
                  "%s_create: the portable runtime does not allocate; use %s_create_in with an arena of "
                  "%s_arena_size(max_batch) bytes",
                  info ? info->name : "NAME", info ? info->name : "NAME", info ? info->name : "NAME");
    return NULL;
}

/* A model made by create_in owns no memory: nothing to give back. */
void tdl_model_destroy(tdl_model *m) { (void)m; }

tdl_status tdl_model_load(tdl_model *m, const char *function, const char *path) {
    (void)m;
    (void)path;
    return tdl_set_error(TDL_STATUS_UNSUPPORTED,
                         "%s: the portable runtime reads no weight files; compile the weights in or set them "
                         "with NAME_init",
                         function);
}

tdl_status tdl_model_save(const tdl_model *m, const char *function, const char *path) {
    (void)m;
    (void)path;
    return tdl_set_error(TDL_STATUS_UNSUPPORTED, "%s: the portable runtime writes no weight files", function);
}
