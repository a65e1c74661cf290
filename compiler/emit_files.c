/* The generated files on disk. Each model's pair is written to temporary
 * files (mkstemp) in the output directory and renamed over the outputs
 * only once both are complete, so a failed or concurrent run never leaves
 * a half-written or mismatched pair, and temporaries are removed on every
 * failure. An output that is the input file itself (a model `tiny` in a
 * file named tiny.h) is refused before anything is written. Every error
 * goes through diag, so JSON and SARIF output stay one document. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cg.h"

static const tsc_loc nowhere = {NULL, 0, 0};

void cg_report_write_error(const char *path, int error_number) {
    diag_error(nowhere, "E0901", "cannot write '%s': %s", path, strerror(error_number));
}

FILE *cg_open_temp(const char *dir, const char *name, char **temp_path) {
    char *path = cg_strf("%s/.%s.tmp.XXXXXX", dir, name);
    int fd = mkstemp(path);
    if (fd < 0) {
        char *target = cg_strf("%s/%s", dir, name);
        cg_report_write_error(target, errno);
        free(target);
        free(path);
        return NULL;
    }
    /* mkstemp makes the file 0600; the outputs get what creat(0666) would. */
    mode_t mask = umask(0);
    umask(mask);
    FILE *file = fchmod(fd, 0666 & ~mask) == 0 ? fdopen(fd, "w") : NULL;
    if (!file) {
        cg_report_write_error(path, errno);
        close(fd);
        unlink(path);
        free(path);
        return NULL;
    }
    *temp_path = path;
    return file;
}

bool cg_close_temp(FILE *file, const char *temp_path) {
    bool failed = ferror(file) != 0;
    int error = failed ? EIO : 0;
    if (fclose(file) != 0 && !failed) {
        failed = true;
        error = errno;
    }
    if (failed) {
        cg_report_write_error(temp_path, error);
        unlink(temp_path);
    }
    return !failed;
}

/* Whether path names the same file as the input (same device and inode). */
static bool is_input(const char *path, const struct stat *input) {
    struct stat info;
    return input && stat(path, &info) == 0 && info.st_dev == input->st_dev && info.st_ino == input->st_ino;
}

bool cg_refuse_input(const char *output_path, const char *input_path) {
    struct stat input;
    if (!input_path || stat(input_path, &input) != 0 || !is_input(output_path, &input)) return false;
    diag_error(nowhere, "E0902", "refusing to write '%s': it is the input file; rename the model or use -o DIR",
               output_path);
    return true;
}

static const char *const suffixes[2] = {".h", ".c"};

/* Writes one model's pair: both to temporaries, then both renamed. */
static int write_model(const checked_model *model, const char *out_dir, const char *source_name,
                       const tsc_codegen_options *options) {
    cg_layout layout;
    cg_layout_build(&layout, model, options);
    char *prefix = cg_model_prefix(model);
    char *temps[2] = {NULL, NULL}, *paths[2];
    int rc = 0;
    for (int k = 0; k < 2; k++) {
        paths[k] = cg_strf("%s/%s%s", out_dir, prefix, suffixes[k]);
        if (rc != 0) continue;
        char *name = cg_strf("%s%s", prefix, suffixes[k]);
        FILE *file = cg_open_temp(out_dir, name, &temps[k]);
        free(name);
        if (!file) {
            rc = -1;
            continue;
        }
        cg_buf text = {.sink = file};
        if (k == 0) cg_emit_header(&text, model, &layout, source_name);
        else cg_emit_source(&text, model, &layout, source_name);
        cg_buf_flush(&text);
        cg_buf_free(&text);
        if (!cg_close_temp(file, temps[k])) {
            free(temps[k]);
            temps[k] = NULL;
            rc = -1;
        }
    }
    cg_layout_release(&layout);
    for (int k = 0; k < 2 && rc == 0; k++) {
        if (rename(temps[k], paths[k]) != 0) {
            cg_report_write_error(paths[k], errno);
            rc = -1;
        } else {
            free(temps[k]);
            temps[k] = NULL;
        }
    }
    for (int k = 0; k < 2; k++) {
        if (temps[k]) unlink(temps[k]);
        free(temps[k]);
        free(paths[k]);
    }
    free(prefix);
    return rc;
}

int tsc_emit_c(const checked_file *file, const char *out_dir, const char *source_name) {
    return tsc_emit_c_with(file, out_dir, source_name, NULL);
}

int tsc_emit_c_with(const checked_file *file, const char *out_dir, const char *source_name,
                    const tsc_codegen_options *options) {
    const char *input_path = file->source ? file->source->path : NULL;
    for (int i = 0; i < file->model_count; i++) {
        char *prefix = cg_model_prefix(&file->models[i]);
        for (int k = 0; k < 2; k++) {
            char *path = cg_strf("%s/%s%s", out_dir, prefix, suffixes[k]);
            bool clash = cg_refuse_input(path, input_path);
            free(path);
            if (clash) {
                free(prefix);
                return -1;
            }
        }
        free(prefix);
    }
    for (int i = 0; i < file->model_count; i++)
        if (write_model(&file->models[i], out_dir, source_name, options) != 0) return -1;
    return 0;
}
