/* tsc --weights FILE: trained parameters compiled into the generated code.
 *
 * The file is read whole and handed to libtdlrt's safetensors view, which
 * checks it exactly as NAME_load does (header length and JSON, every
 * offset in bounds and overflow-checked, sizes that agree with shape and
 * dtype, no overlaps, no NUL in a name): one parser for both, fuzzed once
 * (tests/fuzz/fuzz_safetensors.c). What is left here is the comparison
 * with the model — every parameter present, F32, of the model's shape —
 * whose mismatches are diagnostics at the layer that owns the tensor, all
 * of them in one run, and the decoding of the little-endian floats. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tdl/runtime.h>

#include "cg.h"

struct tsc_weights {
    char *path;
    uint8_t *bytes;
    size_t size;
    tdl_safetensors_view *view;
};

static const tsc_loc nowhere = {NULL, 0, 0};

void tsc_weights_free(tsc_weights *weights) {
    if (!weights) return;
    tdl_safetensors_view_close(weights->view);
    free(weights->bytes);
    free(weights->path);
    free(weights);
}

/* The whole file into w->bytes; false after a tool error (it cannot be read). */
static bool read_file(tsc_weights *w) {
    int fd = open(w->path, O_RDONLY);
    struct stat info;
    const char *why = NULL;
    int error = 0;
    if (fd < 0) error = errno;
    else if (fstat(fd, &info) != 0) error = errno;
    else if (!S_ISREG(info.st_mode)) why = "not a regular file";
    else if ((uintmax_t)info.st_size > SIZE_MAX - 1) why = "too large";
    if (error || why) {
        diag_tool_error("cannot read weights '%s': %s", w->path, why ? why : strerror(error));
        if (fd >= 0) close(fd);
        return false;
    }
    w->size = (size_t)info.st_size;
    w->bytes = tsc_xmalloc(w->size + 1);
    size_t done = 0;
    while (done < w->size) {
        ssize_t got = read(fd, w->bytes + done, w->size - done);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) {
            diag_tool_error("cannot read weights '%s': %s", w->path,
                            got < 0 ? strerror(errno) : "the file got shorter while reading");
            close(fd);
            return false;
        }
        done += (size_t)got;
    }
    close(fd);
    return true;
}

/* "[5,5,1,6]" (heap); a rank beyond what the entry holds ends in ",...". */
static char *shape_text(const uint64_t *dims, size_t rank, size_t shown) {
    cg_buf b = {0};
    cg_buf_putc(&b, '[');
    for (size_t i = 0; i < shown; i++) cg_buf_printf(&b, "%s%" PRIu64, i ? "," : "", dims[i]);
    if (rank > shown) cg_buf_puts(&b, shown ? ",..." : "...");
    cg_buf_putc(&b, ']');
    return cg_buf_take(&b);
}

static char *param_shape_text(const checked_param *prm) {
    uint64_t dims[TSC_MAX_RANK] = {0};
    for (int d = 0; d < prm->type.rank; d++) dims[d] = (uint64_t)prm->type.dims[d];
    return shape_text(dims, (size_t)prm->type.rank, (size_t)prm->type.rank);
}

static bool same_shape(const checked_param *prm, const tdl_safetensors_entry *e) {
    if (e->rank != (size_t)prm->type.rank) return false;
    for (int d = 0; d < prm->type.rank; d++)
        if (e->shape[d] != (uint64_t)prm->type.dims[d]) return false;
    return true;
}

/* E0501/E0502 for one parameter of node n; true when it matches. */
static bool check_param(const tsc_weights *w, const checked_node *n, const checked_param *prm) {
    tdl_safetensors_entry entry;
    char *expected = param_shape_text(prm);
    bool ok = false;
    if (!tdl_safetensors_view_find(w->view, prm->name, &entry)) {
        diag_error(n->loc, "E0501", "the weights file '%s' has no tensor '%s' (F32 %s)", w->path, prm->name,
                   expected);
    } else {
        char *found = shape_text(entry.shape, entry.rank, entry.rank < TSC_MAX_RANK ? entry.rank : TSC_MAX_RANK);
        if (strcmp(entry.dtype, "F32") != 0 || !same_shape(prm, &entry))
            diag_error(n->loc, "E0502", "tensor '%s' of the weights file '%s' is %s %s, the model expects F32 %s",
                       prm->name, w->path, entry.dtype, found, expected);
        else ok = true;
        free(found);
    }
    free(expected);
    return ok;
}

tsc_weights *tsc_weights_read(const char *path, const checked_file *file) {
    tsc_weights *w = tsc_xcalloc(1, sizeof *w);
    w->path = tsc_xstrdup(path);
    if (!read_file(w)) {
        tsc_weights_free(w);
        return NULL;
    }
    if (tdl_safetensors_view_open(w->bytes, w->size, &w->view) != TDL_STATUS_OK) {
        diag_error(nowhere, "E0503", "'%s' is not a usable safetensors file: %s", path, tdl_last_error());
        tsc_weights_free(w);
        return NULL;
    }
    bool ok = true;
    for (int m = 0; m < file->model_count; m++)
        for (int i = 0; i < file->models[m].node_count; i++) {
            const checked_node *n = file->models[m].nodes[i];
            for (int k = 0; k < n->param_count; k++)
                if (!check_param(w, n, &n->params[k])) ok = false;
            for (int k = 0; k < n->state_count; k++)   /* batch_norm's moving statistics: compiled in too */
                if (!check_param(w, n, &n->state[k])) ok = false;
        }
    if (!ok) {
        tsc_weights_free(w);
        return NULL;
    }
    return w;
}

void cg_weights_tensor(const tsc_weights *weights, const char *name, float *out, size_t n) {
    tdl_safetensors_entry entry;
    bool found = tdl_safetensors_view_find(weights->view, name, &entry);
    TSC_ASSERT(found && entry.bytes == (uint64_t)n * 4);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *b = entry.data + 4 * i;
        uint32_t bits = (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
        memcpy(&out[i], &bits, sizeof bits);
    }
}
