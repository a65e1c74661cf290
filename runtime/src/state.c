/* NAME_save_state and NAME_load_state: the whole training state of a model
 * in one safetensors file, for a resume that continues bit for bit.
 *
 * Tensors (F32): every parameter under its weight-file name, the
 * non-trainable state (batch_norm's moving statistics) under its weight-file
 * name too, every optimizer slot as "optimizer/<slot>/<parameter>", and
 * "train/learning_rate" [1].
 * "__metadata__" (strings): "format", "model", "optimizer", "step",
 * "dropout_rng.state", "dropout_rng.increment" (decimal integers, exact),
 * "learning_rate_fixed" ("0" or "1"), and "role/<tensor>" for every tensor
 * ("parameter", "state", "optimizer_slot", "learning_rate").
 *
 * The tensor list is built by state_tensors alone: a new group of tensors
 * is one more add_group call there. The file I/O needs the heap and
 * safetensors.c, so the portable build has portable/state.c in its place. */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

#define STATE_FORMAT "tdl-train-state-1"

/* One tensor of the file with its role, and the storage of built names. */
typedef struct state_tensor_list {
    tdl_tensor_ref *refs;
    const char **roles;
    char **owned_names;
    size_t count, capacity;
    int out_of_memory;
} state_tensor_list;

static void add_tensor(state_tensor_list *list, const char *name, char *owned, float *data, int rank,
                       const int64_t *shape, const char *role) {
    if (list->out_of_memory || name == NULL || list->count == list->capacity) {
        list->out_of_memory = 1;
        free(owned);
        return;
    }
    tdl_tensor_ref *ref = &list->refs[list->count];
    ref->name = name;
    ref->data = data;
    ref->rank = rank;
    memcpy(ref->shape, shape, sizeof ref->shape);
    list->roles[list->count] = role;
    list->owned_names[list->count] = owned;
    list->count++;
}

/* One tensor per parameter tensor, at the same offsets in `block`; named
 * after the parameter, with `prefix` before it when not NULL. */
static void add_group(state_tensor_list *list, const tdl_model *m, float *block, const char *prefix,
                      const char *role) {
    const tdl_model_info *info = m->info;
    for (int t = 0; t < info->param_tensors; t++) {
        const tdl_param_info *p = &info->params[t];
        char *owned = NULL;
        if (prefix != NULL) {
            size_t length = strlen(prefix) + strlen(p->name) + 1;
            owned = malloc(length);
            if (owned != NULL) snprintf(owned, length, "%s%s", prefix, p->name);
        }
        add_tensor(list, prefix != NULL ? owned : p->name, owned, block + p->offset, p->rank, p->shape, role);
    }
}

/* One tensor per non-trainable state tensor (m->state), under its own name.
 * The batch's statistics (m->batch_state) are scratch of one step: not saved. */
static void add_state_group(state_tensor_list *list, const tdl_model *m) {
    const tdl_model_info *info = m->info;
    for (int t = 0; t < info->state_tensors; t++) {
        const tdl_state_info *s = &info->state[t];
        add_tensor(list, s->name, NULL, m->state + s->offset, s->rank, s->shape, "state");
    }
}

static void state_tensors_free(state_tensor_list *list) {
    for (size_t i = 0; i < list->count; i++) free(list->owned_names[i]);
    free(list->refs);
    free(list->roles);
    free(list->owned_names);
}

/* Every tensor of the state file of m, pointing into m (learning_rate: the
 * model's current rate). False when out of memory. */
static int state_tensors(tdl_model *m, state_tensor_list *list) {
    const tdl_model_info *info = m->info;
    static const char slot_prefix_format[] = "optimizer/%s/";
    const char *slots[3];
    int slot_count = tdl_model_slot_names(info, slots);
    float *slot_blocks[3] = {m->slot1, m->slot2, m->slot3};
    memset(list, 0, sizeof *list);
    list->capacity = (size_t)info->param_tensors * (size_t)(1 + slot_count) + (size_t)info->state_tensors + 1;
    list->refs = calloc(list->capacity, sizeof *list->refs);
    list->roles = calloc(list->capacity, sizeof *list->roles);
    list->owned_names = calloc(list->capacity, sizeof *list->owned_names);
    if (!list->refs || !list->roles || !list->owned_names) {
        state_tensors_free(list);
        return 0;
    }
    add_group(list, m, m->params, NULL, "parameter");
    add_state_group(list, m);
    for (int s = 0; s < slot_count; s++) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, slot_prefix_format, slots[s]);
        add_group(list, m, slot_blocks[s], prefix, "optimizer_slot");
    }
    static const int64_t one[TDL_MAX_RANK] = {1};
    add_tensor(list, "train/learning_rate", NULL, &m->learning_rate, 1, one, "learning_rate");
    if (list->out_of_memory) {
        state_tensors_free(list);
        return 0;
    }
    return 1;
}

static const char *optimizer_name(const tdl_model_info *info) {
    switch (info->optimizer) {
    case TDL_OPTIMIZER_SGD: return "sgd";
    case TDL_OPTIMIZER_ADAM: return info->adam.amsgrad ? "adam_amsgrad" : "adam";
    case TDL_OPTIMIZER_RMSPROP: return "rmsprop";
    case TDL_OPTIMIZER_NONE: break;
    }
    return "none";
}

/* --- Saving ---------------------------------------------------------------------------- */

enum { INTEGER_TEXT = 24 };

tdl_status tdl_model_save_state(const tdl_model *m, const char *function, const char *path) {
    if (!m || !path) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model or the path is NULL", function);
    tdl_model *model = (tdl_model *)(uintptr_t)m; /* the refs point into it; saving only reads them */
    state_tensor_list list;
    if (!state_tensors(model, &list)) return tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
    char step[INTEGER_TEXT], rng_state[INTEGER_TEXT], rng_increment[INTEGER_TEXT];
    snprintf(step, sizeof step, "%" PRId64, m->step);
    snprintf(rng_state, sizeof rng_state, "%" PRIu64, m->dropout_rng.state);
    snprintf(rng_increment, sizeof rng_increment, "%" PRIu64, m->dropout_rng.increment);
    const tdl_metadata_entry fixed[] = {
        {"format", STATE_FORMAT},
        {"model", m->info->name},
        {"optimizer", optimizer_name(m->info)},
        {"step", step},
        {"dropout_rng.state", rng_state},
        {"dropout_rng.increment", rng_increment},
        {"learning_rate_fixed", m->learning_rate_fixed ? "1" : "0"},
    };
    size_t fixed_count = sizeof fixed / sizeof fixed[0];
    tdl_metadata_entry *metadata = calloc(fixed_count + list.count, sizeof *metadata);
    char **role_keys = calloc(list.count + 1, sizeof *role_keys);
    tdl_status status = TDL_STATUS_OK;
    if (!metadata || !role_keys) status = tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
    for (size_t i = 0; i < list.count && status == TDL_STATUS_OK; i++) {
        size_t length = strlen("role/") + strlen(list.refs[i].name) + 1;
        role_keys[i] = malloc(length);
        if (!role_keys[i]) {
            status = tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
            break;
        }
        snprintf(role_keys[i], length, "role/%s", list.refs[i].name);
        metadata[fixed_count + i] = (tdl_metadata_entry){role_keys[i], list.roles[i]};
    }
    if (status == TDL_STATUS_OK) {
        memcpy(metadata, fixed, sizeof fixed);
        status = tdl_safetensors_save_with_metadata(path, list.refs, list.count, metadata, fixed_count + list.count);
    }
    for (size_t i = 0; role_keys && i < list.count; i++) free(role_keys[i]);
    free(role_keys);
    free(metadata);
    state_tensors_free(&list);
    return status;
}

/* --- Loading ---------------------------------------------------------------------------- */

/* Prefixes the last error with the entry point's name. */
static tdl_status with_function(tdl_status status, const char *function) {
    char message[512];
    snprintf(message, sizeof message, "%s", tdl_last_error());
    return tdl_set_error(status, "%s: %s", function, message);
}

/* A decimal integer of at most 20 digits that fits in uint64_t, nothing else. */
static int parse_u64(const char *text, uint64_t *out) {
    if (text == NULL || text[0] == '\0' || strlen(text) > 20) return 0;
    uint64_t value = 0;
    for (const char *c = text; *c; c++) {
        if (*c < '0' || *c > '9') return 0;
        unsigned digit = (unsigned)(*c - '0');
        if (value > (UINT64_MAX - digit) / 10) return 0;
        value = value * 10 + digit;
    }
    *out = value;
    return 1;
}

/* The metadata value of key, which must be there (else a BAD_FILE error). */
static const char *required(const tdl_safetensors *file, const char *function, const char *key, tdl_status *status) {
    const char *value = tdl_safetensors_metadata(file, key);
    if (value == NULL && *status == TDL_STATUS_OK)
        *status = tdl_set_error(TDL_STATUS_BAD_FILE, "%s: not a training-state file: no \"%s\" in its metadata",
                                function, key);
    return value;
}

/* What the metadata says about the counters, checked against m. */
typedef struct state_counters {
    uint64_t step, rng_state, rng_increment;
    int learning_rate_fixed;
} state_counters;

static tdl_status check_metadata(const tdl_safetensors *file, const tdl_model *m, const char *function,
                                 state_counters *out) {
    tdl_status status = TDL_STATUS_OK;
    const char *format = required(file, function, "format", &status);
    if (status != TDL_STATUS_OK) return status;
    if (strcmp(format, STATE_FORMAT) != 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the file's format is '%s', not '%s'", function, format,
                             STATE_FORMAT);
    const char *model = required(file, function, "model", &status);
    const char *optimizer = required(file, function, "optimizer", &status);
    const char *step = required(file, function, "step", &status);
    const char *rng_state = required(file, function, "dropout_rng.state", &status);
    const char *rng_increment = required(file, function, "dropout_rng.increment", &status);
    const char *fixed = required(file, function, "learning_rate_fixed", &status);
    if (status != TDL_STATUS_OK) return status;
    if (strcmp(model, m->info->name) != 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the file holds the state of model '%s', not of '%s'", function,
                             model, m->info->name);
    if (strcmp(optimizer, optimizer_name(m->info)) != 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the file holds the state of optimizer '%s', the model has '%s'",
                             function, optimizer, optimizer_name(m->info));
    if (!parse_u64(step, &out->step) || out->step > (uint64_t)INT64_MAX)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the step count '%s' is not an integer in [0, 2^63)", function,
                             step);
    if (!parse_u64(rng_state, &out->rng_state) || !parse_u64(rng_increment, &out->rng_increment) ||
        out->rng_increment % 2 == 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the dropout stream '%s', '%s' is not a valid generator state",
                             function, rng_state, rng_increment);
    if (strcmp(fixed, "0") != 0 && strcmp(fixed, "1") != 0)
        return tdl_set_error(TDL_STATUS_BAD_FILE, "%s: learning_rate_fixed is '%s', not 0 or 1", function, fixed);
    out->learning_rate_fixed = fixed[0] == '1';
    return TDL_STATUS_OK;
}

/* Checks everything in the open file, then (only then) changes m. */
static tdl_status load_open_state(tdl_model *m, const char *function, const tdl_safetensors *file) {
    state_counters counters = {0, 0, 0, 0};
    tdl_status status = check_metadata(file, m, function, &counters);
    if (status != TDL_STATUS_OK) return status;
    state_tensor_list list;
    if (!state_tensors(m, &list)) return tdl_set_error(TDL_STATUS_NO_MEMORY, "%s: out of memory", function);
    /* The learning rate goes through a local: it must be finite and >= 0.
     * The other tensors are read straight into the arena. */
    float learning_rate = 0.0f;
    size_t rate_index = 0;
    while (strcmp(list.roles[rate_index], "learning_rate") != 0) rate_index++; /* state_tensors adds it */
    tdl_tensor_ref *rate = &list.refs[rate_index];
    rate->data = &learning_rate;
    status = tdl_safetensors_check(file, list.refs, list.count);
    if (status != TDL_STATUS_OK) {
        status = with_function(status, function);
    } else {
        tdl_safetensors_read(file, rate, 1);
        if (!isfinite(learning_rate) || learning_rate < 0.0f)
            status = tdl_set_error(TDL_STATUS_BAD_FILE, "%s: the learning rate %g is not a finite number >= 0",
                                   function, (double)learning_rate);
    }
    if (status == TDL_STATUS_OK) {
        tdl_safetensors_read(file, list.refs, list.count); /* the rate into the local again, harmlessly */
        m->learning_rate = learning_rate;
        m->step = (int64_t)counters.step;
        m->dropout_rng.state = counters.rng_state;
        m->dropout_rng.increment = counters.rng_increment;
        m->learning_rate_fixed = counters.learning_rate_fixed;
    }
    state_tensors_free(&list);
    return status;
}

tdl_status tdl_model_load_state_buffer(tdl_model *m, const char *function, const uint8_t *bytes, size_t size) {
    if (!m || (!bytes && size > 0))
        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model or the bytes are NULL", function);
    tdl_safetensors *file = NULL;
    tdl_status status = tdl_safetensors_open_buffer(bytes, size, &file);
    if (status != TDL_STATUS_OK) {
        return with_function(status, function);
    }
    status = load_open_state(m, function, file);
    tdl_safetensors_close(file);
    return status;
}

tdl_status tdl_model_load_state(tdl_model *m, const char *function, const char *path) {
    if (!m || !path) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: the model or the path is NULL", function);
    tdl_safetensors *file = NULL;
    tdl_status status = tdl_safetensors_open(path, &file);
    if (status != TDL_STATUS_OK) {
        return with_function(status, function);
    }
    status = load_open_state(m, function, file);
    tdl_safetensors_close(file);
    return status;
}
