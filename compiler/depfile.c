/* -MD/-MF: a make-style dependency file for the files tsc generates, so that
 * make and ninja (CMake's DEPFILE) re-run tsc when the model changes.
 * Written to a temporary file and renamed; errors go through diag. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cg.h"

/* Make's quoting: a space, '#' or backslash gets a backslash, '$' doubles. */
static void make_path(cg_buf *out, const char *path) {
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '#' || *p == '\\') cg_buf_putc(out, '\\');
        if (*p == '$') cg_buf_putc(out, '$');
        cg_buf_putc(out, *p);
    }
}

int tsc_write_depfile(const char *depfile_path, const checked_file *file, const char *out_dir,
                      const char *input_path) {
    static const char *const suffixes[] = {".c", ".h"};
    if (cg_refuse_input(depfile_path, input_path)) return -1;
    cg_buf text = {0};
    for (int i = 0; i < file->model_count; i++)
        for (int k = 0; k < 2; k++) {
            char *prefix = cg_model_prefix(&file->models[i]);
            char *generated = cg_strf("%s/%s%s", out_dir, prefix, suffixes[k]);
            if (i || k) cg_buf_putc(&text, ' ');
            make_path(&text, generated);
            free(generated);
            free(prefix);
        }
    cg_buf_puts(&text, ": ");
    make_path(&text, input_path);
    cg_buf_putc(&text, '\n');

    const char *slash = strrchr(depfile_path, '/');
    char *dir = slash == depfile_path ? tsc_xstrdup("/") : slash ? tsc_xstrndup(depfile_path, (size_t)(slash - depfile_path))
                                                                 : tsc_xstrdup(".");
    char *tmp = NULL;
    FILE *out = cg_open_temp(dir, slash ? slash + 1 : depfile_path, &tmp);
    if (out) {
        fwrite(text.data, 1, text.length, out);
        if (!cg_close_temp(out, tmp)) {
            free(tmp);
            tmp = NULL;
        }
    }
    int rc = tmp ? 0 : -1;
    if (tmp && rename(tmp, depfile_path) != 0) {
        cg_report_write_error(depfile_path, errno);
        unlink(tmp);
        rc = -1;
    }
    free(tmp);
    free(dir);
    cg_buf_free(&text);
    return rc;
}
