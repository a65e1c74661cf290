/* LeNet-5 compiled with `tsc --weights` (the file write_weights saved from
 * a normally built, briefly trained LeNet-5):
 * - its forward outputs equal, bit for bit, those of the model that had the
 *   weights in its arena;
 * - NAME_create_in with a static buffer is the whole set-up, and neither it
 *   nor forward calls the allocator (this executable is linked with
 *   -Wl,--wrap=malloc and friends, as test_no_alloc is);
 * - its arena holds no parameters: NAME_arena_size equals what --summary
 *   reports for the build (tsc_model_arena_with) and is smaller than the
 *   weights themselves;
 * - the header declares no init, load, save, train_step, gradcheck or
 *   set_learning_rate. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "lenet5.h"
#include "weights_data.h"

/* --- Counting the allocator ---------------------------------------------------- */

static int window_open;
static long allocations;

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *pointer, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **pointer, size_t alignment, size_t size);
void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *pointer, size_t size);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size);

void *__wrap_malloc(size_t size) {
    allocations += window_open;
    return __real_malloc(size);
}
void *__wrap_calloc(size_t count, size_t size) {
    allocations += window_open;
    return __real_calloc(count, size);
}
void *__wrap_realloc(void *pointer, size_t size) {
    allocations += window_open;
    return __real_realloc(pointer, size);
}
void *__wrap_aligned_alloc(size_t alignment, size_t size) {
    allocations += window_open;
    return __real_aligned_alloc(alignment, size);
}
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size) {
    allocations += window_open;
    return __real_posix_memalign(pointer, alignment, size);
}

/* --- The tests ------------------------------------------------------------------ */

static unsigned char arena[4 << 20] __attribute__((aligned(64)));

static void read_reference(float *probs, size_t count) {
    FILE *in = fopen(REFERENCE_OUTPUTS, "rb");
    assert_non_null(in);
    assert_int_equal(fread(probs, sizeof *probs, count, in), count);
    fclose(in);
}

static void test_forward_equals_loaded_model(void **state) {
    (void)state;
    static float images[WEIGHTS_BATCH * WEIGHTS_IMAGE], probs[WEIGHTS_BATCH * WEIGHTS_CLASSES],
        expected[WEIGHTS_BATCH * WEIGHTS_CLASSES];
    weights_fill_images(images);
    read_reference(expected, WEIGHTS_BATCH * WEIGHTS_CLASSES);
    size_t bytes = lenet5_arena_size(WEIGHTS_BATCH);
    assert_true(bytes > 0 && bytes <= sizeof arena);
    tdl_set_num_threads(WEIGHTS_THREADS);

    allocations = 0;
    window_open = 1;
    lenet5 *m = lenet5_create_in(arena, bytes, WEIGHTS_BATCH);
    tdl_status status = lenet5_forward(m, WEIGHTS_BATCH, (const float (*)[28][28][1])images, (float (*)[10])probs);
    window_open = 0;
    assert_non_null(m);
    assert_int_equal(status, TDL_STATUS_OK);
    assert_int_equal(allocations, 0);
    /* The reference was computed when the tests were built, on the default
     * kernel path: the same path gives the same bits. Another path
     * (TDL_KERNEL_PATH=blas, which CI runs again) sums in another order and
     * agrees within float rounding. */
    const char *path = getenv("TDL_KERNEL_PATH");
    if (path == NULL || path[0] == '\0')
        assert_memory_equal(probs, expected, sizeof probs);
    else
        for (size_t i = 0; i < sizeof probs / sizeof probs[0]; i++)
            assert_true(fabsf(probs[i] - expected[i]) <= 1e-6f);
    lenet5_destroy(m); /* create_in memory: nothing to free */
}

/* --summary's arena for this build (the same file's weights). */
static uint64_t summary_bytes(int batch, uint64_t *weight_bytes) {
    tsc_source *source = tsc_source_read(MODEL_PATH);
    assert_non_null(source);
    diag_begin(NULL);
    ast_file *ast = NULL;
    checked_file *checked = NULL;
    assert_int_equal(tsc_parse(source, &ast), 0);
    assert_int_equal(tsc_check(ast, &checked), 0);
    tsc_weights *weights = tsc_weights_read(WEIGHTS_FILE, checked);
    diag_end();
    assert_non_null(weights);
    tsc_codegen_options options = {.weights = weights};
    tsc_arena_report report;
    assert_true(tsc_model_arena_with(checked_file_find_model(checked, "lenet5"), &options, batch, &report));
    assert_true(report.weights_compiled_in);
    assert_false(report.trains);
    assert_int_equal(report.parameter_bytes, 0);
    *weight_bytes = report.weight_bytes;
    tsc_weights_free(weights);
    checked_file_free(checked);
    ast_file_free(ast);
    tsc_source_free(source);
    return report.total_bytes;
}

static void test_arena_holds_no_parameters(void **state) {
    (void)state;
    const int batches[] = {1, 4, 32};
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        uint64_t weight_bytes = 0;
        assert_int_equal(summary_bytes(batches[i], &weight_bytes), lenet5_arena_size(batches[i]));
        assert_int_equal(weight_bytes, LENET5_PARAM_COUNT * 4);
    }
    /* 61,706 floats of weights; the batch-1 arena is activations and conv scratch only. */
    assert_true(lenet5_arena_size(1) < LENET5_PARAM_COUNT * 4);
}

static char *read_text(const char *path) {
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    static char text[1 << 16];
    size_t n = fread(text, 1, sizeof text - 1, in);
    fclose(in);
    text[n] = '\0';
    return text;
}

static void test_header_has_no_training_or_loading(void **state) {
    (void)state;
    const char *header = read_text(GENERATED_HEADER);
    const char *absent[] = {"lenet5_init(", "lenet5_load(", "lenet5_save(", "lenet5_train_step(",
                            "lenet5_gradcheck(", "lenet5_set_learning_rate("};
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++)
        if (strstr(header, absent[i])) fail_msg("%s declares %s", GENERATED_HEADER, absent[i]);
    assert_non_null(strstr(header, "lenet5_forward("));
    assert_non_null(strstr(header, "lenet5_evaluate(")); /* it has a loss and a metric */
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_equals_loaded_model),
        cmocka_unit_test(test_arena_holds_no_parameters),
        cmocka_unit_test(test_header_has_no_training_or_loading),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
