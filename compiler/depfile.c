/* -MD/-MF: a make-style dependency file for the files tsc generates, so that
 * make and ninja (CMake's DEPFILE) re-run tsc when the model changes. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* Make's quoting: a space or '#' gets a backslash, '$' doubles. */
static void write_make_path(FILE *out, const char *path) {
    for (const char *p = path; *p; p++) {
        if (*p == ' ' || *p == '#' || *p == '\\') fputc('\\', out);
        if (*p == '$') fputc('$', out);
        fputc(*p, out);
    }
}

int tsc_write_depfile(const char *depfile_path, const checked_file *file, const char *out_dir,
                      const char *input_path) {
    char *tmp = tsc_format("%s.tmp", depfile_path);
    FILE *out = fopen(tmp, "w");
    if (!out) {
        diag_tool_error("cannot write '%s': %s", tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    static const char *const suffixes[] = {".c", ".h"};
    for (int i = 0; i < file->model_count; i++)
        for (int k = 0; k < 2; k++) {
            char prefix[128];
            cg_c_identifier(file->models[i].name, prefix, sizeof prefix);
            char *generated = tsc_format("%s/%s%s", out_dir, prefix, suffixes[k]);
            if (i || k) fputc(' ', out);
            write_make_path(out, generated);
            free(generated);
        }
    fputs(": ", out);
    write_make_path(out, input_path);
    fputc('\n', out);
    int rc = 0;
    if (ferror(out) | fclose(out) || rename(tmp, depfile_path) != 0) {
        diag_tool_error("cannot write '%s': %s", depfile_path, strerror(errno));
        remove(tmp);
        rc = -1;
    }
    free(tmp);
    return rc;
}
