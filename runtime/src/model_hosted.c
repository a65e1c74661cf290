/* The parts of the generated model API that need a hosted C library: the
 * arena from the heap (NAME_create, NAME_destroy) and weight files
 * (NAME_load, NAME_save, through safetensors.c). The portable build has
 * portable/model_hosted.c in its place (runtime/sources.cmake). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

tdl_model *tdl_model_create(const tdl_model_info *info, int max_batch) {
    size_t bytes = tdl_model_arena_size(info, max_batch);
    if (bytes == 0) {
        tdl_set_error(TDL_STATUS_BAD_BATCH, "%s_create: max_batch %d is out of range", info ? info->name : "tdl_model",
                      max_batch);
        return NULL;
    }
    if (bytes > SIZE_MAX - 63) {
        tdl_set_error(TDL_STATUS_NO_MEMORY, "%s_create: cannot allocate %zu bytes", info->name, bytes);
        return NULL;
    }
    void *arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (!arena) {
        tdl_set_error(TDL_STATUS_NO_MEMORY, "%s_create: cannot allocate %zu bytes", info->name, bytes);
        return NULL;
    }
    tdl_model *m = tdl_model_create_in(info, arena, bytes, max_batch);
    if (!m) {
        free(arena);
        return NULL;
    }
    m->owns_memory = 1;
    return m;
}

void tdl_model_destroy(tdl_model *m) {
    if (m && m->owns_memory) free(m);
}

/* --- Weight files ------------------------------------------------------------------ */

static tdl_tensor_ref tensor_ref(const char *name, float *data, int rank, const int64_t *shape) {
    tdl_tensor_ref ref;
    ref.name = name;
    ref.data = data;
    ref.rank = rank;
    memcpy(ref.shape, shape, sizeof ref.shape);
    return ref;
}

/* The parameter tensors, then the non-trainable state, as safetensors
 * references (heap; NULL when out of memory). */
static tdl_tensor_ref *tensor_refs(const tdl_model *m) {
    const tdl_model_info *info = m->info;
    size_t count = (size_t)info->param_tensors + (size_t)info->state_tensors;
    tdl_tensor_ref *refs = (tdl_tensor_ref *)calloc(count + 1, sizeof *refs);
    if (!refs) return NULL;
    for (int i = 0; i < info->param_tensors; i++) {
        const tdl_param_info *p = &info->params[i];
        refs[i] = tensor_ref(p->name, m->params + p->offset, p->rank, p->shape);
    }
    for (int i = 0; i < info->state_tensors; i++) {
        const tdl_state_info *s = &info->state[i];
        refs[info->param_tensors + i] = tensor_ref(s->name, m->state + s->offset, s->rank, s->shape);
    }
    return refs;
}

static size_t tensor_count(const tdl_model *m) {
    return (size_t)m->info->param_tensors + (size_t)m->info->state_tensors;
}

tdl_status tdl_model_load(tdl_model *m, const char *function, const char *path) {
    if (!m || !path) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model or the path is NULL", function);
    tdl_tensor_ref *refs = tensor_refs(m);
    if (!refs) return tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
    tdl_status status = tdl_safetensors_load(path, refs, tensor_count(m));
    free(refs);
    return status;
}

tdl_status tdl_model_save(const tdl_model *m, const char *function, const char *path) {
    if (!m || !path) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model or the path is NULL", function);
    tdl_tensor_ref *refs = tensor_refs(m);
    if (!refs) return tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
    tdl_status status = tdl_safetensors_save(path, refs, tensor_count(m));
    free(refs);
    return status;
}
