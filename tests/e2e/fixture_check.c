/* See fixture_check.h. */
#define _POSIX_C_SOURCE 200809L

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixture_check.h"

bool fixture_check_open(fixture_check *c, const char *model, const char *fixture_dir, const char *fixture_file,
                        const char *temp_dir, double tolerance, int label_width) {
    memset(c, 0, sizeof *c);
    c->model = model;
    c->tolerance = tolerance;
    c->label_width = label_width;
    c->all_close = true;
    const char *dir = getenv("TSC_E2E_FIXTURE_DIR");
    snprintf(c->fixture_path, sizeof c->fixture_path, "%s/%s", dir && dir[0] ? dir : fixture_dir, fixture_file);
    char path[sizeof c->weights_path];
    snprintf(path, sizeof path, "%s/%s_weights_XXXXXX", temp_dir, model);
    int fd = mkstemp(path);
    if (fd < 0) return false;
    close(fd);
    memcpy(c->weights_path, path, sizeof path);
    return true;
}

void fixture_check_close(fixture_check *c) {
    if (c->weights_path[0]) unlink(c->weights_path);
    for (size_t i = 0; i < c->buffer_count; i++) free(c->buffers[i]);
    c->buffer_count = 0;
    c->weights_path[0] = '\0';
}

void *fixture_check_keep(fixture_check *c, size_t bytes) {
    assert_true(c->buffer_count < FIXTURE_CHECK_MAX_BUFFERS);
    void *buffer = malloc(bytes);
    assert_non_null(buffer);
    c->buffers[c->buffer_count++] = buffer;
    return buffer;
}

float *fixture_check_load(fixture_check *c, const char *path, const char *name, int rank, const int64_t *shape) {
    tdl_tensor_ref ref = {.name = name, .rank = rank};
    size_t count = 1;
    for (int i = 0; i < rank; i++) {
        ref.shape[i] = shape[i];
        count *= (size_t)shape[i];
    }
    ref.data = fixture_check_keep(c, count * sizeof *ref.data);
    tdl_status status = tdl_safetensors_load(path, &ref, 1);
    if (status != TDL_STATUS_OK)
        fail_msg("%s: %s: %s (regenerate with the script in tests/e2e/fixtures/ that wrote it)", path,
                 tdl_status_name(status), tdl_last_error());
    return ref.data;
}

void fixture_check_compare(fixture_check *c, const char *stage, const char *name, const float *got,
                           const float *want, size_t count) {
    double max_diff = 0.0;
    bool ok = true;
    for (size_t i = 0; i < count; i++) {
        double diff = fabs((double)got[i] - (double)want[i]);
        if (!(diff <= c->tolerance * (1.0 + fabs((double)want[i])))) {
            if (ok) printf("    first mismatch at [%zu]: got %.9g, want %.9g\n", i, (double)got[i], (double)want[i]);
            ok = false;
        }
        if (diff > max_diff || isnan(diff)) max_diff = diff;
    }
    char label[512];
    snprintf(label, sizeof label, "%s %s %s", c->model, stage, name);
    printf("%-*s max|diff| = %.1e  %s\n", c->label_width, label, max_diff, ok ? "OK" : "FAIL");
    fflush(stdout);
    if (!ok) c->all_close = false;
}

void fixture_check_expect_ok(const fixture_check *c, tdl_status status, const char *what) {
    if (status != TDL_STATUS_OK) fail_msg("%s_%s: %s: %s", c->model, what, tdl_status_name(status), tdl_last_error());
}
