/* What the e2e comparisons with PyTorch share (test_torch_models.c,
 * arch/test_architectures.c): the fixture file (TSC_E2E_FIXTURE_DIR can point
 * at a perturbed copy), a temporary weights file for <model>_save, tensors
 * read from safetensors files and kept until the end, and the comparison
 * that prints one line per tensor:
 *
 *     fx_adam step2 dense_1.kernel                 max|diff| = 3.0e-08  OK
 *
 * A value passes when |got - want| <= tolerance * (1 + |want|). */
#ifndef TSC_E2E_FIXTURE_CHECK_H
#define TSC_E2E_FIXTURE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tdl/runtime.h"

enum { FIXTURE_CHECK_MAX_BUFFERS = 512, FIXTURE_CHECK_PATH = 512 };

typedef struct fixture_check {
    const char *model;      /* starts every printed line and error */
    double tolerance;
    int label_width;        /* the printed name column */
    char fixture_path[FIXTURE_CHECK_PATH];
    char weights_path[FIXTURE_CHECK_PATH];
    void *buffers[FIXTURE_CHECK_MAX_BUFFERS];
    size_t buffer_count;
    bool all_close;         /* false once a comparison has failed */
} fixture_check;

/* Locates <fixture_dir>/<fixture_file> (TSC_E2E_FIXTURE_DIR overrides the
 * directory) and reserves <temp_dir>/<model>_weights_XXXXXX; false (with
 * nothing left to close) when the temporary file cannot be made. */
bool fixture_check_open(fixture_check *c, const char *model, const char *fixture_dir, const char *fixture_file,
                        const char *temp_dir, double tolerance, int label_width);
/* Removes the temporary file and frees every kept tensor. */
void fixture_check_close(fixture_check *c);

/* A malloc'ed buffer (checked) kept until fixture_check_close. */
void *fixture_check_keep(fixture_check *c, size_t bytes);
/* An F32 tensor of the given shape from a safetensors file, kept; a test
 * failure naming the file when it is missing or has another shape. */
float *fixture_check_load(fixture_check *c, const char *path, const char *name, int rank, const int64_t *shape);

/* Prints the largest |got - want| of one tensor and records a failure. */
void fixture_check_compare(fixture_check *c, const char *stage, const char *name, const float *got,
                           const float *want, size_t count);
/* A test failure "<model>_<what>: STATUS: message" unless status is OK. */
void fixture_check_expect_ok(const fixture_check *c, tdl_status status, const char *what);

#endif /* TSC_E2E_FIXTURE_CHECK_H */
