/* libtdlrt kernels against PyTorch reference values.
 *
 * tests/fixtures/make_fixtures.py computes, in float64 PyTorch, the outputs
 * and gradients of every kernel family on small inputs and stores them in
 * tests/fixtures/runtime_reference.safetensors (tensor names "<case>.<what>";
 * the script's docstring lists them). Each test here runs the libtdlrt kernel
 * on the fixture inputs and prints, per tensor, the largest absolute
 * difference from the reference:
 *
 *     conv2d_s2_same.dx [backward]          max|diff| = 2.4e-07  OK
 *
 * Reading the file: F32 tensors go through tdl_safetensors_load_buffer (so the
 * runtime's own loader is exercised on a file it did not write), with the
 * shape taken from the header; that loader only knows F32, so the I32 label
 * tensors are read directly here from the header's data_offsets.
 *
 * Gradient buffers start at GRADIENT_START instead of zero, which also checks
 * that every backward accumulates (+=) as runtime.h requires.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

#define FIXTURE_PATH TSC_SOURCE_DIR "/tests/fixtures/runtime_reference.safetensors"

/* A value passes when |got - want| <= TOLERANCE * (1 + |want|): absolute near
 * zero, relative for the large losses of the +-1e4 logit cases. float32
 * kernels land within ~1e-6 of the float64 references on these sizes. */
#define TOLERANCE 1e-4

/* Exact in binary, so subtracting it back loses nothing but rounding. */
#define GRADIENT_START 0.5f

#define MAX_NAME 96

typedef struct fixture {
    uint8_t *bytes;           /* the whole file */
    size_t size;
    cJSON *header;
    size_t data_start;        /* 8 + header length */
    void **allocations;       /* freed at teardown */
    size_t allocation_count, allocation_capacity;
    bool all_close;           /* false once a comparison has failed */
} fixture;

/* ------------------------------------------------------------------------ */
/* Reading the fixture file                                                  */
/* ------------------------------------------------------------------------ */

/* Reads the whole file and parses its JSON header; false if either fails. */
static bool read_fixture_file(fixture *fx)
{
    FILE *file = fopen(FIXTURE_PATH, "rb");
    if (!file) {
        fprintf(stderr, "cannot open %s\n", FIXTURE_PATH);
        return false;
    }
    long size = fseek(file, 0, SEEK_END) == 0 ? ftell(file) : -1;
    bool ok = size >= 8 && fseek(file, 0, SEEK_SET) == 0;
    if (ok)
        fx->bytes = malloc((size_t)size);
    ok = ok && fx->bytes && fread(fx->bytes, 1, (size_t)size, file) == (size_t)size;
    fclose(file);
    if (!ok)
        return false;
    fx->size = (size_t)size;
    uint64_t header_len = 0;
    for (int i = 7; i >= 0; i--)
        header_len = header_len << 8 | fx->bytes[i];
    if (header_len > fx->size - 8)
        return false;
    fx->data_start = 8 + (size_t)header_len;
    fx->header = cJSON_ParseWithLength((const char *)fx->bytes + 8, (size_t)header_len);
    return fx->header != NULL;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    for (size_t i = 0; i < fx->allocation_count; i++)
        free(fx->allocations[i]);
    free(fx->allocations);
    cJSON_Delete(fx->header);
    free(fx->bytes);
    free(fx);
    return 0;
}

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    if (!fx)
        return -1;
    fx->all_close = true;
    *state = fx;
    if (!read_fixture_file(fx)) {
        teardown(state);
        return -1;
    }
    return 0;
}

/* Memory that lives until teardown. */
static void *alloc_tracked(fixture *fx, size_t bytes)
{
    if (fx->allocation_count == fx->allocation_capacity) {
        size_t capacity = fx->allocation_capacity ? 2 * fx->allocation_capacity : 32;
        void **grown = realloc(fx->allocations, capacity * sizeof *grown);
        assert_non_null(grown);
        fx->allocations = grown;
        fx->allocation_capacity = capacity;
    }
    void *p = malloc(bytes ? bytes : 1);
    assert_non_null(p);
    fx->allocations[fx->allocation_count++] = p;
    return p;
}

/* count floats, every one set to fill. */
static float *alloc_floats(fixture *fx, size_t count, float fill)
{
    float *p = alloc_tracked(fx, count * sizeof *p);
    for (size_t i = 0; i < count; i++)
        p[i] = fill;
    return p;
}

static const cJSON *entry(const fixture *fx, const char *case_name, const char *field)
{
    char name[MAX_NAME];
    snprintf(name, sizeof name, "%s.%s", case_name, field);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(fx->header, name);
    if (!e)
        fail_msg("fixture tensor %s is missing: regenerate with "
                 "tests/fixtures/make_fixtures.py", name);
    return e;
}

static bool has_tensor(const fixture *fx, const char *case_name, const char *field)
{
    char name[MAX_NAME];
    snprintf(name, sizeof name, "%s.%s", case_name, field);
    return cJSON_GetObjectItemCaseSensitive(fx->header, name) != NULL;
}

static int rank_of(const cJSON *e)
{
    return cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(e, "shape"));
}

/* Size of one axis; a negative axis counts from the end. */
static int dim(const fixture *fx, const char *case_name, const char *field, int axis)
{
    const cJSON *e = entry(fx, case_name, field);
    int rank = rank_of(e);
    if (axis < 0)
        axis += rank;
    assert_true(axis >= 0 && axis < rank);
    const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "shape"), axis);
    return (int)cJSON_GetNumberValue(d);
}

static size_t element_count(const cJSON *e)
{
    size_t count = 1;
    const cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(e, "shape"))
        count *= (size_t)cJSON_GetNumberValue(d);
    return count;
}

static void expect_dtype(const cJSON *e, const char *dtype)
{
    const char *got = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(e, "dtype"));
    assert_non_null(got);
    assert_string_equal(got, dtype);
}

/* An F32 tensor, read by the runtime's safetensors loader. */
static float *load_f32(fixture *fx, const char *case_name, const char *field, size_t *count)
{
    const cJSON *e = entry(fx, case_name, field);
    expect_dtype(e, "F32");
    char name[MAX_NAME];
    snprintf(name, sizeof name, "%s.%s", case_name, field);
    tdl_tensor_ref ref = {.name = name, .rank = rank_of(e)};
    assert_true(ref.rank >= 1 && ref.rank <= TDL_MAX_RANK);
    for (int i = 0; i < ref.rank; i++)
        ref.shape[i] = (int64_t)cJSON_GetNumberValue(
            cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(e, "shape"), i));
    size_t n = element_count(e);
    ref.data = alloc_floats(fx, n, NAN);
    tdl_status status = tdl_safetensors_load_buffer(fx->bytes, fx->size, &ref, 1);
    if (status != TDL_STATUS_OK)
        fail_msg("loading %s: %s: %s", name, tdl_status_name(status), tdl_last_error());
    if (count)
        *count = n;
    return ref.data;
}

/* An I32 tensor, decoded here (little-endian on disk). */
static int32_t *load_i32(fixture *fx, const char *case_name, const char *field, size_t *count)
{
    const cJSON *e = entry(fx, case_name, field);
    expect_dtype(e, "I32");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    size_t begin = (size_t)cJSON_GetNumberValue(cJSON_GetArrayItem(offsets, 0));
    size_t end = (size_t)cJSON_GetNumberValue(cJSON_GetArrayItem(offsets, 1));
    size_t n = element_count(e);
    assert_true(begin <= end && end - begin == 4 * n);
    assert_true(end <= fx->size - fx->data_start);
    int32_t *values = alloc_tracked(fx, n * sizeof *values);
    const uint8_t *p = fx->bytes + fx->data_start + begin;
    for (size_t i = 0; i < n; i++, p += 4)
        values[i] = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                              (uint32_t)p[3] << 24);
    if (count)
        *count = n;
    return values;
}

/* A one-element F32 tensor (a loss, a hyperparameter). */
static float load_scalar(fixture *fx, const char *case_name, const char *field)
{
    size_t n;
    const float *p = load_f32(fx, case_name, field, &n);
    assert_int_equal(n, 1);
    return p[0];
}

/* ------------------------------------------------------------------------ */
/* Comparing                                                                 */
/* ------------------------------------------------------------------------ */

/* Compares got - start with the reference "<case>.<field>", prints one line,
 * and records a failure; via names the kernel when several produce the field. */
static void compare(fixture *fx, const char *case_name, const char *field, const char *via,
                    const float *got, size_t count, float start)
{
    size_t n;
    const float *want = load_f32(fx, case_name, field, &n);
    assert_int_equal(n, count);
    double max_diff = 0.0;
    bool ok = true;
    for (size_t i = 0; i < n; i++) {
        double diff = fabs(((double)got[i] - start) - want[i]);
        if (!(diff <= TOLERANCE * (1.0 + fabs(want[i])))) {
            if (ok)
                printf("    first mismatch at [%zu]: got %.9g, want %.9g\n", i,
                       (double)got[i] - start, (double)want[i]);
            ok = false;
        }
        if (diff > max_diff || isnan(diff))
            max_diff = diff;
    }
    char label[2 * MAX_NAME];
    snprintf(label, sizeof label, "%s.%s%s%s%s", case_name, field, via ? " [" : "", via ? via : "",
             via ? "]" : "");
    printf("%-52s max|diff| = %.1e  %s\n", label, max_diff, ok ? "OK" : "FAIL");
    fflush(stdout);
    if (!ok)
        fx->all_close = false;
}

/* ------------------------------------------------------------------------ */
/* conv2d                                                                    */
/* ------------------------------------------------------------------------ */

static void check_conv2d(fixture *fx, const char *c)
{
    size_t config_count;
    const int32_t *config = load_i32(fx, c, "config", &config_count);
    assert_int_equal(config_count, 10);
    int batch = dim(fx, c, "x", 0), h = dim(fx, c, "x", 1), w = dim(fx, c, "x", 2);
    int channels = dim(fx, c, "x", 3), filters = dim(fx, c, "kernel", 3);
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, h, w, channels, filters, dim(fx, c, "kernel", 0),
                                          dim(fx, c, "kernel", 1), config[0], config[1], config[2],
                                          config[3], (tdl_padding)config[4]),
                     TDL_STATUS_OK);
    d.activation = (tdl_activation)config[5];
    assert_true(d.activation == TDL_ACTIVATION_LINEAR || d.activation == TDL_ACTIVATION_RELU);
    assert_int_equal(d.out_h, config[6]);
    assert_int_equal(d.out_w, config[7]);
    assert_int_equal(d.pad_top, config[8]);
    assert_int_equal(d.pad_left, config[9]);

    size_t nx, nk, nb, ny;
    const float *x = load_f32(fx, c, "x", &nx);
    const float *kernel = load_f32(fx, c, "kernel", &nk);
    const float *bias = load_f32(fx, c, "bias", &nb);
    const float *dy = load_f32(fx, c, "dy", &ny);
    const float *y_saved = load_f32(fx, c, "y", NULL);
    float *workspace = alloc_floats(fx, tdl_conv2d_workspace_size(&d, batch), 0.0f);

    float *y = alloc_floats(fx, ny, NAN);
    tdl_conv2d_forward(y, x, kernel, bias, &d, batch, workspace);
    compare(fx, c, "y", "forward", y, ny, 0.0f);

    float *dx = alloc_floats(fx, nx, GRADIENT_START);
    float *dkernel = alloc_floats(fx, nk, GRADIENT_START);
    float *dbias = alloc_floats(fx, nb, GRADIENT_START);
    tdl_conv2d_backward(dx, dkernel, dbias, dy, y_saved, x, kernel, &d, batch, workspace);
    compare(fx, c, "dx", "backward", dx, nx, GRADIENT_START);
    compare(fx, c, "dkernel", "backward", dkernel, nk, GRADIENT_START);
    compare(fx, c, "dbias", "backward", dbias, nb, GRADIENT_START);

    /* The TF backprop ops take the gradient of the pre-activation output. */
    float *dz = alloc_floats(fx, ny, 0.0f);
    for (size_t i = 0; i < ny; i++)
        dz[i] = d.activation == TDL_ACTIVATION_RELU && !(y_saved[i] > 0.0f) ? 0.0f : dy[i];
    float *dx_input = alloc_floats(fx, nx, GRADIENT_START);
    tdl_conv2d_backprop_input(dx_input, kernel, dz, &d, batch, workspace);
    compare(fx, c, "dx", "backprop_input", dx_input, nx, GRADIENT_START);
    float *dkernel_filter = alloc_floats(fx, nk, GRADIENT_START);
    tdl_conv2d_backprop_filter(dkernel_filter, x, dz, &d, batch, workspace);
    compare(fx, c, "dkernel", "backprop_filter", dkernel_filter, nk, GRADIENT_START);
}

/* conv2d forward, backward and the two backprop ops: stride 2 'same' with an
 * uneven pad, a 4x3 kernel with strides (3,2) and fused relu, dilation 2. */
static void test_conv2d(void **state)
{
    fixture *fx = *state;
    check_conv2d(fx, "conv2d_s2_same");
    check_conv2d(fx, "conv2d_k4x3_same_relu");
    check_conv2d(fx, "conv2d_d2_valid");
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* Pooling                                                                   */
/* ------------------------------------------------------------------------ */

typedef enum pool_kind { POOL_MAX, POOL_AVG } pool_kind;

static void check_pool2d(fixture *fx, const char *c, pool_kind kind)
{
    size_t config_count;
    const int32_t *config = load_i32(fx, c, "config", &config_count);
    assert_int_equal(config_count, 9);
    int batch = dim(fx, c, "x", 0);
    tdl_pool2d_desc d;
    tdl_status status = tdl_pool2d_desc_init(&d, dim(fx, c, "x", 1), dim(fx, c, "x", 2),
                                             dim(fx, c, "x", 3), config[0], config[1], config[2],
                                             config[3], (tdl_padding)config[4]);
    assert_int_equal(status, TDL_STATUS_OK);
    assert_int_equal(d.out_h, config[5]);
    assert_int_equal(d.out_w, config[6]);
    assert_int_equal(d.pad_top, config[7]);
    assert_int_equal(d.pad_left, config[8]);

    size_t nx, ny;
    const float *x = load_f32(fx, c, "x", &nx);
    const float *dy = load_f32(fx, c, "dy", &ny);
    float *y = alloc_floats(fx, ny, NAN);
    float *dx = alloc_floats(fx, nx, GRADIENT_START);
    if (kind == POOL_MAX) {
        tdl_max_pool2d_forward(y, x, &d, batch);
        tdl_max_pool2d_backward(dx, dy, x, &d, batch);
    } else {
        tdl_avg_pool2d_forward(y, x, &d, batch);
        tdl_avg_pool2d_backward(dx, dy, &d, batch);
    }
    compare(fx, c, "y", NULL, y, ny, 0.0f);
    compare(fx, c, "dx", NULL, dx, nx, GRADIENT_START);
}

/* max_pool2d valid and TF 'same' (-inf padding), and a tie-heavy input whose
 * gradient must go to the first maximum of each window. */
static void test_max_pool2d(void **state)
{
    fixture *fx = *state;
    check_pool2d(fx, "max_pool2d_valid", POOL_MAX);
    check_pool2d(fx, "max_pool2d_same", POOL_MAX);
    check_pool2d(fx, "max_pool2d_ties", POOL_MAX);
    assert_true(fx->all_close);
}

/* avg_pool2d valid and 'same', where padding is left out of the count. */
static void test_avg_pool2d(void **state)
{
    fixture *fx = *state;
    check_pool2d(fx, "avg_pool2d_valid", POOL_AVG);
    check_pool2d(fx, "avg_pool2d_same", POOL_AVG);
    assert_true(fx->all_close);
}

static void check_global_pool2d(fixture *fx, const char *c, pool_kind kind)
{
    int batch = dim(fx, c, "x", 0), channels = dim(fx, c, "x", 3);
    int spatial = dim(fx, c, "x", 1) * dim(fx, c, "x", 2);
    size_t nx, ny;
    const float *x = load_f32(fx, c, "x", &nx);
    const float *dy = load_f32(fx, c, "dy", &ny);
    float *y = alloc_floats(fx, ny, NAN);
    float *dx = alloc_floats(fx, nx, GRADIENT_START);
    if (kind == POOL_MAX) {
        tdl_global_max_pool2d_forward(y, x, batch, spatial, channels);
        tdl_global_max_pool2d_backward(dx, dy, x, batch, spatial, channels);
    } else {
        tdl_global_avg_pool2d_forward(y, x, batch, spatial, channels);
        tdl_global_avg_pool2d_backward(dx, dy, batch, spatial, channels);
    }
    compare(fx, c, "y", NULL, y, ny, 0.0f);
    compare(fx, c, "dx", NULL, dx, nx, GRADIENT_START);
}

/* Global average and max pooling; tied maxima share the gradient equally. */
static void test_global_pool2d(void **state)
{
    fixture *fx = *state;
    check_global_pool2d(fx, "global_avg_pool2d", POOL_AVG);
    check_global_pool2d(fx, "global_max_pool2d", POOL_MAX);
    check_global_pool2d(fx, "global_max_pool2d_ties", POOL_MAX);
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* Losses                                                                    */
/* ------------------------------------------------------------------------ */

static void check_sparse_softmax_xent(fixture *fx, const char *c)
{
    float dloss = load_scalar(fx, "losses", "dloss");
    size_t n, positions;
    const float *logits = load_f32(fx, c, "logits", &n);
    const int32_t *labels = load_i32(fx, c, "labels", &positions);
    int classes = dim(fx, c, "logits", -1);
    assert_int_equal(positions * (size_t)classes, n);
    float loss = NAN;
    assert_int_equal(tdl_sparse_softmax_xent_forward(&loss, logits, labels, positions, classes),
                     TDL_STATUS_OK);
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    float *dlogits = alloc_floats(fx, n, GRADIENT_START);
    tdl_status status =
        tdl_sparse_softmax_xent_backward(dlogits, dloss, logits, labels, positions, classes);
    assert_int_equal(status, TDL_STATUS_OK);
    compare(fx, c, "dlogits", NULL, dlogits, n, GRADIENT_START);
}

/* Sparse softmax cross-entropy on [B,C], per pixel on [B,H,W,C], and +-1e4 logits. */
static void test_sparse_softmax_xent(void **state)
{
    fixture *fx = *state;
    check_sparse_softmax_xent(fx, "sparse_softmax_xent");
    check_sparse_softmax_xent(fx, "sparse_softmax_xent_pixels");
    check_sparse_softmax_xent(fx, "sparse_softmax_xent_large");
    assert_true(fx->all_close);
}

static void check_softmax_xent(fixture *fx, const char *c)
{
    float dloss = load_scalar(fx, "losses", "dloss");
    size_t n;
    const float *logits = load_f32(fx, c, "logits", &n);
    const float *labels = load_f32(fx, c, "labels", NULL);
    int classes = dim(fx, c, "logits", -1);
    size_t positions = n / (size_t)classes;
    float loss = NAN;
    tdl_softmax_xent_forward(&loss, logits, labels, positions, classes);
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    float *dlogits = alloc_floats(fx, n, GRADIENT_START);
    float *dlabels = alloc_floats(fx, n, GRADIENT_START);
    tdl_softmax_xent_backward(dlogits, dlabels, dloss, logits, labels, positions, classes);
    compare(fx, c, "dlogits", NULL, dlogits, n, GRADIENT_START);
    compare(fx, c, "dlabels", NULL, dlabels, n, GRADIENT_START);
}

/* Softmax cross-entropy with probability labels, also at +-1e4 logits. */
static void test_softmax_xent(void **state)
{
    fixture *fx = *state;
    check_softmax_xent(fx, "softmax_xent");
    check_softmax_xent(fx, "softmax_xent_large");
    assert_true(fx->all_close);
}

static void check_sigmoid_xent(fixture *fx, const char *c)
{
    float dloss = load_scalar(fx, "losses", "dloss");
    size_t n;
    const float *logits = load_f32(fx, c, "logits", &n);
    const float *labels = load_f32(fx, c, "labels", NULL);
    float loss = NAN;
    tdl_sigmoid_xent_forward(&loss, logits, labels, n);
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    float *dlogits = alloc_floats(fx, n, GRADIENT_START);
    float *dlabels = alloc_floats(fx, n, GRADIENT_START);
    tdl_sigmoid_xent_backward(dlogits, dlabels, dloss, logits, labels, n);
    compare(fx, c, "dlogits", NULL, dlogits, n, GRADIENT_START);
    compare(fx, c, "dlabels", NULL, dlabels, n, GRADIENT_START);
}

/* Sigmoid cross-entropy (mean over all elements) with soft labels, also at +-1e4. */
static void test_sigmoid_xent(void **state)
{
    fixture *fx = *state;
    check_sigmoid_xent(fx, "sigmoid_xent");
    check_sigmoid_xent(fx, "sigmoid_xent_large");
    assert_true(fx->all_close);
}

typedef enum focal_labels { FOCAL_SPARSE, FOCAL_DENSE } focal_labels;

/* label_smoothing > 0 runs the _smoothed kernels. */
static void check_focal(fixture *fx, const char *c, focal_labels form)
{
    float dloss = load_scalar(fx, "losses", "dloss");
    float s = has_tensor(fx, c, "label_smoothing") ? load_scalar(fx, c, "label_smoothing") : 0.0f;
    size_t config_count, n;
    const float *config = load_f32(fx, c, "config", &config_count);
    assert_int_equal(config_count, 2);
    const tdl_focal_desc d = {.gamma = config[0], .alpha = config[1]};
    const float *logits = load_f32(fx, c, "logits", &n);
    int classes = dim(fx, c, "logits", -1);
    size_t positions = n / (size_t)classes;
    float loss = NAN;
    float *dlogits = alloc_floats(fx, n, GRADIENT_START);
    if (form == FOCAL_SPARSE) {
        const int32_t *labels = load_i32(fx, c, "labels", NULL);
        tdl_status status = s > 0.0f ? tdl_sparse_focal_smoothed_forward(&loss, logits, labels, positions, classes, &d, s)
                                     : tdl_sparse_focal_forward(&loss, logits, labels, positions, classes, &d);
        assert_int_equal(status, TDL_STATUS_OK);
        status = s > 0.0f
                     ? tdl_sparse_focal_smoothed_backward(dlogits, dloss, logits, labels, positions, classes, &d, s)
                     : tdl_sparse_focal_backward(dlogits, dloss, logits, labels, positions, classes, &d);
        assert_int_equal(status, TDL_STATUS_OK);
    } else if (s > 0.0f) {
        const float *labels = load_f32(fx, c, "labels", NULL);
        assert_int_equal(tdl_focal_smoothed_forward(&loss, logits, labels, positions, classes, &d, s), TDL_STATUS_OK);
        assert_int_equal(tdl_focal_smoothed_backward(dlogits, dloss, logits, labels, positions, classes, &d, s),
                         TDL_STATUS_OK);
    } else {
        const float *labels = load_f32(fx, c, "labels", NULL);
        tdl_focal_forward(&loss, logits, labels, positions, classes, &d);
        tdl_focal_backward(dlogits, dloss, logits, labels, positions, classes, &d);
    }
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    compare(fx, c, "dlogits", NULL, dlogits, n, GRADIENT_START);
}

/* Focal loss (gamma 2, alpha 0.25): softmax sparse, one-hot and soft forms, the
 * binary sigmoid form (classes == 1), each finite and right at +-1e4 logits. */
static void test_focal(void **state)
{
    fixture *fx = *state;
    check_focal(fx, "focal_sparse", FOCAL_SPARSE);
    check_focal(fx, "focal_sparse_large", FOCAL_SPARSE);
    check_focal(fx, "focal_binary_sparse", FOCAL_SPARSE);
    check_focal(fx, "focal_binary_sparse_large", FOCAL_SPARSE);
    check_focal(fx, "focal_onehot", FOCAL_DENSE);
    check_focal(fx, "focal_soft", FOCAL_DENSE);
    check_focal(fx, "focal_binary_onehot", FOCAL_DENSE);
    check_focal(fx, "focal_sparse_smooth", FOCAL_SPARSE);
    check_focal(fx, "focal_onehot_smooth", FOCAL_DENSE);
    check_focal(fx, "focal_binary_smooth", FOCAL_SPARSE);
    assert_true(fx->all_close);
}

typedef enum regression_loss { REGRESSION_MSE, REGRESSION_MAE, REGRESSION_HUBER } regression_loss;

static void check_regression(fixture *fx, const char *c, regression_loss kind)
{
    float dloss = load_scalar(fx, "losses", "dloss");
    size_t n;
    const float *predictions = load_f32(fx, c, "predictions", &n);
    const float *labels = load_f32(fx, c, "labels", NULL);
    float loss = NAN;
    float *dpredictions = alloc_floats(fx, n, GRADIENT_START);
    float *dlabels = alloc_floats(fx, n, GRADIENT_START);
    if (kind == REGRESSION_MSE) {
        tdl_mse_forward(&loss, predictions, labels, n);
        tdl_mse_backward(dpredictions, dlabels, dloss, predictions, labels, n);
    } else if (kind == REGRESSION_MAE) {
        tdl_mae_forward(&loss, predictions, labels, n);
        tdl_mae_backward(dpredictions, dlabels, dloss, predictions, labels, n);
    } else {
        float delta = load_scalar(fx, c, "delta");
        assert_int_equal(tdl_huber_forward(&loss, predictions, labels, n, delta), TDL_STATUS_OK);
        assert_int_equal(tdl_huber_backward(dpredictions, dlabels, dloss, predictions, labels, n, delta),
                         TDL_STATUS_OK);
    }
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    compare(fx, c, "dpredictions", NULL, dpredictions, n, GRADIENT_START);
    compare(fx, c, "dlabels", NULL, dlabels, n, GRADIENT_START);
}

/* Mean squared error and its gradients for predictions and labels. */
static void test_mse(void **state)
{
    fixture *fx = *state;
    check_regression(fx, "mse", REGRESSION_MSE);
    assert_true(fx->all_close);
}

/* Mean absolute error (0 gradient where prediction == label, as L1Loss) and
 * Huber with delta 1 and 0.3. */
static void test_mae_huber(void **state)
{
    fixture *fx = *state;
    check_regression(fx, "mae", REGRESSION_MAE);
    check_regression(fx, "huber", REGRESSION_HUBER);
    check_regression(fx, "huber_delta_small", REGRESSION_HUBER);
    assert_true(fx->all_close);
}

/* The _smoothed cross-entropies against F.cross_entropy(label_smoothing=…)
 * (class indices and probability rows) and the binary forms on smoothed targets. */
static void test_label_smoothing(void **state)
{
    fixture *fx = *state;
    float dloss = load_scalar(fx, "losses", "dloss");
    size_t n, positions;

    const char *c = "sparse_softmax_xent_smooth";
    float s = load_scalar(fx, c, "label_smoothing");
    const float *logits = load_f32(fx, c, "logits", &n);
    const int32_t *indices = load_i32(fx, c, "labels", &positions);
    int classes = dim(fx, c, "logits", -1);
    float loss = NAN;
    float *dlogits = alloc_floats(fx, n, GRADIENT_START);
    assert_int_equal(tdl_sparse_softmax_xent_smoothed_forward(&loss, logits, indices, positions, classes, s),
                     TDL_STATUS_OK);
    assert_int_equal(
        tdl_sparse_softmax_xent_smoothed_backward(dlogits, dloss, logits, indices, positions, classes, s),
        TDL_STATUS_OK);
    compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
    compare(fx, c, "dlogits", NULL, dlogits, n, GRADIENT_START);

    const char *dense[] = {"softmax_xent_smooth", "sigmoid_xent_smooth", "binary_xent_smooth"};
    for (size_t k = 0; k < 3; ++k) {
        c = dense[k];
        const char *x_name = k == 2 ? "probabilities" : "logits";
        s = load_scalar(fx, c, "label_smoothing");
        const float *x = load_f32(fx, c, x_name, &n);
        const float *labels = load_f32(fx, c, "labels", NULL);
        classes = dim(fx, c, x_name, -1);
        float *dx = alloc_floats(fx, n, GRADIENT_START);
        float *dlabels = alloc_floats(fx, n, GRADIENT_START);
        tdl_status forward, backward;
        if (k == 0) {
            forward = tdl_softmax_xent_smoothed_forward(&loss, x, labels, n / (size_t)classes, classes, s);
            backward = tdl_softmax_xent_smoothed_backward(dx, dlabels, dloss, x, labels, n / (size_t)classes,
                                                          classes, s);
        } else if (k == 1) {
            forward = tdl_sigmoid_xent_smoothed_forward(&loss, x, labels, n, s);
            backward = tdl_sigmoid_xent_smoothed_backward(dx, dlabels, dloss, x, labels, n, s);
        } else {
            forward = tdl_binary_xent_smoothed_forward(&loss, x, labels, n, s);
            backward = tdl_binary_xent_smoothed_backward(dx, dlabels, dloss, x, labels, n, s);
        }
        assert_int_equal(forward, TDL_STATUS_OK);
        assert_int_equal(backward, TDL_STATUS_OK);
        char dname[32];
        snprintf(dname, sizeof dname, "d%s", x_name);
        compare(fx, c, "loss", NULL, &loss, 1, 0.0f);
        compare(fx, c, dname, NULL, dx, n, GRADIENT_START);
        compare(fx, c, "dlabels", NULL, dlabels, n, GRADIENT_START);
    }
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* Optimizers                                                                */
/* ------------------------------------------------------------------------ */

static void check_sgd(fixture *fx, const char *c)
{
    size_t config_count, n;
    const float *config = load_f32(fx, c, "config", &config_count);
    assert_int_equal(config_count, 4);
    const tdl_sgd_config sgd = {.learning_rate = config[0], .momentum = config[1],
                                .nesterov = config[2] != 0.0f, .weight_decay = config[3]};
    float *param = load_f32(fx, c, "param", &n);
    float *velocity = load_f32(fx, c, "velocity", NULL);
    const float *grad = load_f32(fx, c, "grad", NULL);
    tdl_sgd_step(param, sgd.momentum > 0.0f ? velocity : NULL, grad, n, &sgd);
    compare(fx, c, "param_out", NULL, param, n, 0.0f);
    compare(fx, c, "velocity_out", NULL, velocity, n, 0.0f);
}

/* One Keras SGD step: plain, momentum and nesterov from a non-zero velocity,
 * and decoupled weight decay. */
static void test_sgd(void **state)
{
    fixture *fx = *state;
    check_sgd(fx, "sgd");
    check_sgd(fx, "sgd_momentum");
    check_sgd(fx, "sgd_nesterov");
    check_sgd(fx, "sgd_weight_decay");
    assert_true(fx->all_close);
}

static void check_adam(fixture *fx, const char *c)
{
    size_t config_count, n;
    const float *config = load_f32(fx, c, "config", &config_count);
    assert_int_equal(config_count, 5);
    const tdl_adam_config adam = {.learning_rate = config[0], .beta_1 = config[1],
                                  .beta_2 = config[2], .epsilon = config[3],
                                  .weight_decay = config[4]};
    float *param = load_f32(fx, c, "param", &n);
    float *m = load_f32(fx, c, "m", NULL);
    float *v = load_f32(fx, c, "v", NULL);
    const float *grad = load_f32(fx, c, "grad", NULL);
    const int32_t *step = load_i32(fx, c, "step", NULL);
    tdl_adam_step(param, m, v, grad, n, &adam, step[0]);
    compare(fx, c, "param_out", NULL, param, n, 0.0f);
    compare(fx, c, "m_out", NULL, m, n, 0.0f);
    compare(fx, c, "v_out", NULL, v, n, 0.0f);
}

/* One Keras Adam step from non-zero moments (epsilon outside the bias
 * correction), and AdamW's decoupled weight decay. */
static void test_adam(void **state)
{
    fixture *fx = *state;
    check_adam(fx, "adam");
    check_adam(fx, "adamw");
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* dense, activations, softmax, in_top_k                                     */
/* ------------------------------------------------------------------------ */

static void check_dense(fixture *fx, const char *c)
{
    size_t n_activation;
    const int32_t *activation = load_i32(fx, c, "activation", &n_activation);
    assert_int_equal(n_activation, 1);
    const tdl_dense_desc d = {.in_features = dim(fx, c, "kernel", 0),
                              .units = dim(fx, c, "kernel", 1),
                              .activation = (tdl_activation)activation[0],
                              .alpha = load_scalar(fx, c, "alpha")};
    int batch = dim(fx, c, "x", 0);
    bool use_bias = has_tensor(fx, c, "bias");
    size_t nx, nk, ny;
    const float *x = load_f32(fx, c, "x", &nx);
    const float *kernel = load_f32(fx, c, "kernel", &nk);
    const float *bias = use_bias ? load_f32(fx, c, "bias", NULL) : NULL;
    const float *dy = load_f32(fx, c, "dy", &ny);
    const float *y_saved = load_f32(fx, c, "y", NULL);

    float *y = alloc_floats(fx, ny, NAN);
    tdl_dense_forward(y, x, kernel, bias, &d, batch);
    compare(fx, c, "y", NULL, y, ny, 0.0f);

    float *workspace = alloc_floats(fx, tdl_dense_workspace_size(&d, batch), 0.0f);
    float *dx = alloc_floats(fx, nx, GRADIENT_START);
    float *dkernel = alloc_floats(fx, nk, GRADIENT_START);
    float *dbias = use_bias ? alloc_floats(fx, (size_t)d.units, GRADIENT_START) : NULL;
    tdl_dense_backward(dx, dkernel, dbias, dy, y_saved, x, kernel, &d, batch, workspace);
    compare(fx, c, "dx", NULL, dx, nx, GRADIENT_START);
    compare(fx, c, "dkernel", NULL, dkernel, nk, GRADIENT_START);
    if (use_bias)
        compare(fx, c, "dbias", NULL, dbias, (size_t)d.units, GRADIENT_START);
}

/* dense with bias and relu, and without bias with leaky_relu(0.3). */
static void test_dense(void **state)
{
    fixture *fx = *state;
    check_dense(fx, "dense_relu");
    check_dense(fx, "dense_leaky_relu_nobias");
    check_dense(fx, "dense_elu");
    check_dense(fx, "dense_softplus_nobias");
    assert_true(fx->all_close);
}

static void check_activation(fixture *fx, const char *c)
{
    size_t n_activation, n;
    const int32_t *activation = load_i32(fx, c, "activation", &n_activation);
    assert_int_equal(n_activation, 1);
    float alpha = load_scalar(fx, c, "alpha");
    const float *x = load_f32(fx, c, "x", &n);
    const float *dy = load_f32(fx, c, "dy", NULL);
    const float *y_saved = load_f32(fx, c, "y", NULL);
    float *y = alloc_floats(fx, n, NAN);
    tdl_activation_forward(y, x, n, (tdl_activation)activation[0], alpha);
    compare(fx, c, "y", NULL, y, n, 0.0f);
    float *dx = alloc_floats(fx, n, GRADIENT_START);
    tdl_activation_backward(dx, dy, y_saved, n, (tdl_activation)activation[0], alpha);
    compare(fx, c, "dx", NULL, dx, n, GRADIENT_START);
}

/* relu, sigmoid, tanh, leaky_relu, elu and softplus forward and backward (from the output). */
static void test_activation(void **state)
{
    fixture *fx = *state;
    check_activation(fx, "activation_relu");
    check_activation(fx, "activation_sigmoid");
    check_activation(fx, "activation_tanh");
    check_activation(fx, "activation_leaky_relu");
    check_activation(fx, "activation_elu");
    check_activation(fx, "activation_softplus");
    assert_true(fx->all_close);
}

typedef enum gated_kind { GATED_GELU_EXACT, GATED_GELU_TANH, GATED_SWISH } gated_kind;

static void check_gated(fixture *fx, const char *c, gated_kind kind)
{
    size_t n;
    const float *x = load_f32(fx, c, "x", &n);
    const float *dy = load_f32(fx, c, "dy", NULL);
    float *y = alloc_floats(fx, n, NAN);
    float *dx = alloc_floats(fx, n, GRADIENT_START);
    const tdl_gelu_form form = kind == GATED_GELU_TANH ? TDL_GELU_TANH : TDL_GELU_EXACT;
    if (kind == GATED_SWISH) {
        tdl_swish_forward(y, x, n);
        tdl_swish_backward(dx, dy, x, n);
    } else {
        tdl_gelu_forward(y, x, n, form);
        tdl_gelu_backward(dx, dy, x, n, form);
    }
    compare(fx, c, "y", NULL, y, n, 0.0f);
    compare(fx, c, "dx", NULL, dx, n, GRADIENT_START);
}

/* gelu (exact and tanh forms) and swish = silu, backward from the input. */
static void test_gelu_swish(void **state)
{
    fixture *fx = *state;
    check_gated(fx, "gelu_exact", GATED_GELU_EXACT);
    check_gated(fx, "gelu_tanh", GATED_GELU_TANH);
    check_gated(fx, "swish", GATED_SWISH);
    assert_true(fx->all_close);
}

/* Softmax over the middle axis of a (2,3,4) tensor, forward and backward. */
static void test_softmax_middle_axis(void **state)
{
    fixture *fx = *state;
    const char *c = "softmax_axis1";
    size_t n_dims, n;
    const int32_t *dims = load_i32(fx, c, "dims", &n_dims);
    assert_int_equal(n_dims, 3);
    const float *x = load_f32(fx, c, "x", &n);
    const float *dy = load_f32(fx, c, "dy", NULL);
    const float *y_saved = load_f32(fx, c, "y", NULL);
    assert_int_equal((size_t)dims[0] * (size_t)dims[1] * (size_t)dims[2], n);
    float *y = alloc_floats(fx, n, NAN);
    tdl_softmax_forward(y, x, (size_t)dims[0], dims[1], (size_t)dims[2]);
    compare(fx, c, "y", NULL, y, n, 0.0f);
    float *dx = alloc_floats(fx, n, GRADIENT_START);
    tdl_softmax_backward(dx, dy, y_saved, (size_t)dims[0], dims[1], (size_t)dims[2]);
    compare(fx, c, "dx", NULL, dx, n, GRADIENT_START);
    assert_true(fx->all_close);
}

/* in_top_k for several k with ties at the boundary and non-finite rows. */
static void test_in_top_k(void **state)
{
    fixture *fx = *state;
    const char *c = "in_top_k";
    size_t n_k, batch;
    const float *predictions = load_f32(fx, c, "predictions", NULL);
    const int32_t *targets = load_i32(fx, c, "targets", &batch);
    const int32_t *ks = load_i32(fx, c, "k", &n_k);
    int classes = dim(fx, c, "predictions", 1);
    float *fraction = alloc_floats(fx, n_k, NAN);
    for (size_t i = 0; i < n_k; i++) {
        tdl_status status =
            tdl_in_top_k(&fraction[i], predictions, targets, (int)batch, classes, ks[i]);
        assert_int_equal(status, TDL_STATUS_OK);
    }
    compare(fx, c, "fraction", NULL, fraction, n_k, 0.0f);
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* concat, multiply                                                          */
/* ------------------------------------------------------------------------ */

#define MAX_CONCAT_INPUTS 4

static void check_concat(fixture *fx, const char *c)
{
    const int32_t *axis = load_i32(fx, c, "axis", NULL);
    int rank = rank_of(entry(fx, c, "y"));
    assert_true(axis[0] >= 0 && axis[0] < rank);
    /* The (outer, inner) view: the dimensions before and after the axis,
     * equal in every input and the output. */
    size_t outer = 1, inner = 1;
    for (int a = 0; a < axis[0]; a++)
        outer *= (size_t)dim(fx, c, "y", a);
    for (int a = axis[0] + 1; a < rank; a++)
        inner *= (size_t)dim(fx, c, "y", a);

    const float *inputs[MAX_CONCAT_INPUTS];
    float *dinputs[MAX_CONCAT_INPUTS];
    size_t counts[MAX_CONCAT_INPUTS];
    int lens[MAX_CONCAT_INPUTS];
    int count = 0;
    char field[16]; /* "dx" and any int */
    for (;; count++) {
        snprintf(field, sizeof field, "x%d", count);
        if (!has_tensor(fx, c, field))
            break;
        assert_true(count < MAX_CONCAT_INPUTS);
        inputs[count] = load_f32(fx, c, field, &counts[count]);
        lens[count] = dim(fx, c, field, axis[0]);
        dinputs[count] = alloc_floats(fx, counts[count], GRADIENT_START);
    }
    assert_true(count >= 2);

    size_t ny;
    const float *dy = load_f32(fx, c, "dy", &ny);
    float *y = alloc_floats(fx, ny, NAN);
    tdl_concat_forward(y, inputs, lens, count, outer, inner);
    compare(fx, c, "y", NULL, y, ny, 0.0f);
    tdl_concat_backward(dinputs, dy, lens, count, outer, inner);
    for (int i = 0; i < count; i++) {
        snprintf(field, sizeof field, "dx%d", i);
        compare(fx, c, field, NULL, dinputs[i], counts[i], GRADIENT_START);
    }
}

/* concat of two NHWC tensors on the channel axis, and of three rank-2
 * tensors of different lengths; forward and the gradient of every input. */
static void test_concat(void **state)
{
    fixture *fx = *state;
    check_concat(fx, "concat_nhwc_channels");
    check_concat(fx, "concat_rank2");
    assert_true(fx->all_close);
}

/* multiply forward and both gradients, and x * x with one gradient buffer
 * serving as both da and db. */
static void test_multiply(void **state)
{
    fixture *fx = *state;
    size_t n;
    const float *a = load_f32(fx, "multiply", "a", &n);
    const float *b = load_f32(fx, "multiply", "b", NULL);
    const float *dy = load_f32(fx, "multiply", "dy", NULL);
    float *y = alloc_floats(fx, n, NAN);
    tdl_multiply_forward(y, a, b, n);
    compare(fx, "multiply", "y", NULL, y, n, 0.0f);
    float *da = alloc_floats(fx, n, GRADIENT_START);
    float *db = alloc_floats(fx, n, GRADIENT_START);
    tdl_multiply_backward(da, db, dy, a, b, n);
    compare(fx, "multiply", "da", NULL, da, n, GRADIENT_START);
    compare(fx, "multiply", "db", NULL, db, n, GRADIENT_START);

    const float *x = load_f32(fx, "multiply_square", "x", &n);
    const float *dy_square = load_f32(fx, "multiply_square", "dy", NULL);
    float *square = alloc_floats(fx, n, NAN);
    tdl_multiply_forward(square, x, x, n);
    compare(fx, "multiply_square", "y", NULL, square, n, 0.0f);
    float *dx = alloc_floats(fx, n, GRADIENT_START);
    tdl_multiply_backward(dx, dx, dy_square, x, x, n);
    compare(fx, "multiply_square", "dx", NULL, dx, n, GRADIENT_START);
    assert_true(fx->all_close);
}

/* ------------------------------------------------------------------------ */
/* batch_norm                                                                */
/* ------------------------------------------------------------------------ */

/* The channels are the last axis; everything before it is (batch, outer). */
static tdl_batch_norm_desc batch_norm_desc(fixture *fx, const char *c, int *batch)
{
    int rank = rank_of(entry(fx, c, "x"));
    size_t outer = 1;
    for (int a = 1; a < rank - 1; a++)
        outer *= (size_t)dim(fx, c, "x", a);
    *batch = dim(fx, c, "x", 0);
    return (tdl_batch_norm_desc){.outer = outer, .channels = dim(fx, c, "x", rank - 1), .inner = 1,
                                 .epsilon = 1e-3f};
}

/* Training: the batch's statistics, the output, the gradients, and the
 * moving statistics after Keras' update (biased variance). */
static void check_batch_norm_train(fixture *fx, const char *c)
{
    int batch;
    tdl_batch_norm_desc d = batch_norm_desc(fx, c, &batch);
    size_t n, channels;
    const float *x = load_f32(fx, c, "x", &n);
    const float *gamma = load_f32(fx, c, "gamma", &channels);
    const float *beta = load_f32(fx, c, "beta", NULL);
    const float *dy = load_f32(fx, c, "dy", NULL);
    float *y = alloc_floats(fx, n, NAN), *mean = alloc_floats(fx, channels, NAN);
    float *variance = alloc_floats(fx, channels, NAN);
    tdl_batch_norm_forward_train(y, mean, variance, x, gamma, beta, &d, batch);
    compare(fx, c, "y", NULL, y, n, 0.0f);
    compare(fx, c, "mean", NULL, mean, channels, 0.0f);
    compare(fx, c, "variance", NULL, variance, channels, 0.0f);
    float *dx = alloc_floats(fx, n, GRADIENT_START);
    float *dgamma = alloc_floats(fx, channels, GRADIENT_START), *dbeta = alloc_floats(fx, channels, GRADIENT_START);
    tdl_batch_norm_backward(dx, dgamma, dbeta, dy, x, mean, variance, gamma, &d, batch);
    compare(fx, c, "dx", NULL, dx, n, GRADIENT_START);
    compare(fx, c, "dgamma", NULL, dgamma, channels, GRADIENT_START);
    compare(fx, c, "dbeta", NULL, dbeta, channels, GRADIENT_START);
    float *moving_mean = alloc_floats(fx, channels, 0.0f), *moving_variance = alloc_floats(fx, channels, 0.0f);
    memcpy(moving_mean, load_f32(fx, c, "moving_mean", NULL), channels * sizeof *moving_mean);
    memcpy(moving_variance, load_f32(fx, c, "moving_variance", NULL), channels * sizeof *moving_variance);
    tdl_batch_norm_update_moving(moving_mean, mean, channels, 0.99f);
    tdl_batch_norm_update_moving(moving_variance, variance, channels, 0.99f);
    compare(fx, c, "moving_mean_out", NULL, moving_mean, channels, 0.0f);
    compare(fx, c, "moving_variance_out", NULL, moving_variance, channels, 0.0f);
}

/* batch_norm in training on NHWC and on [B,F], and with moving statistics. */
static void test_batch_norm(void **state)
{
    fixture *fx = *state;
    check_batch_norm_train(fx, "batch_norm_nhwc");
    check_batch_norm_train(fx, "batch_norm_rank2");
    const char *c = "batch_norm_inference";
    int batch;
    tdl_batch_norm_desc d = batch_norm_desc(fx, c, &batch);
    size_t n;
    const float *x = load_f32(fx, c, "x", &n);
    float *y = alloc_floats(fx, n, NAN);
    tdl_batch_norm_forward(y, x, load_f32(fx, c, "moving_mean", NULL), load_f32(fx, c, "moving_variance", NULL),
                           load_f32(fx, c, "gamma", NULL), load_f32(fx, c, "beta", NULL), &d, batch);
    compare(fx, c, "y", NULL, y, n, 0.0f);
    assert_true(fx->all_close);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_conv2d, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_pool2d, setup, teardown),
        cmocka_unit_test_setup_teardown(test_avg_pool2d, setup, teardown),
        cmocka_unit_test_setup_teardown(test_global_pool2d, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sparse_softmax_xent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_softmax_xent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sigmoid_xent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_focal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mae_huber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_label_smoothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sgd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_adam, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dense, setup, teardown),
        cmocka_unit_test_setup_teardown(test_activation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gelu_swish, setup, teardown),
        cmocka_unit_test_setup_teardown(test_softmax_middle_axis, setup, teardown),
        cmocka_unit_test_setup_teardown(test_in_top_k, setup, teardown),
        cmocka_unit_test_setup_teardown(test_concat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_multiply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_batch_norm, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
