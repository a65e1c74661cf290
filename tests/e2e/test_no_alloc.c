/* forward, evaluate, train_step and gradcheck of generated models perform no
 * heap allocation: everything they need was allocated by <model>_create.
 *
 * This executable is linked with -Wl,--wrap=malloc (and calloc, realloc,
 * free, aligned_alloc, posix_memalign; see e2e.cmake): every call to those
 * functions from the objects linked statically into it — this file, the
 * generated model code and libtdlrt.a — goes to the __wrap_ functions
 * below, which count the calls made while a window is open.
 *
 * What the count does not see: calls made inside shared libraries. OpenBLAS
 * (libopenblas.so) keeps its own pool of GEMM buffers, allocated once when
 * the library initialises and reused by every later call, and glibc's
 * pthread_create (used by the runtime's kernel threads) takes thread stacks
 * from its own cache. Neither is memory the generated code asks for, and
 * neither grows with the number of calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "gc_backprop.h"
#include "gc_conv.h"
#include "gc_dense.h"

/* --- The wrappers ------------------------------------------------------------- */

static int window_open;
static long allocations; /* calls of any of the wrapped functions inside the window */

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *pointer, size_t size);
void __real_free(void *pointer);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_posix_memalign(void **pointer, size_t alignment, size_t size);

void *__wrap_malloc(size_t size);
void *__wrap_calloc(size_t count, size_t size);
void *__wrap_realloc(void *pointer, size_t size);
void __wrap_free(void *pointer);
void *__wrap_aligned_alloc(size_t alignment, size_t size);
int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size);

static void count_call(void) {
    if (window_open) allocations++;
}

void *__wrap_malloc(size_t size) {
    count_call();
    return __real_malloc(size);
}

void *__wrap_calloc(size_t count, size_t size) {
    count_call();
    return __real_calloc(count, size);
}

void *__wrap_realloc(void *pointer, size_t size) {
    count_call();
    return __real_realloc(pointer, size);
}

void __wrap_free(void *pointer) {
    count_call();
    __real_free(pointer);
}

void *__wrap_aligned_alloc(size_t alignment, size_t size) {
    count_call();
    return __real_aligned_alloc(alignment, size);
}

int __wrap_posix_memalign(void **pointer, size_t alignment, size_t size) {
    count_call();
    return __real_posix_memalign(pointer, alignment, size);
}

static void open_window(void) {
    allocations = 0;
    window_open = 1;
}

/* Closes the window and returns the calls counted in it. */
static long close_window(void) {
    window_open = 0;
    return allocations;
}

enum { BATCH = 4 };

/* --- The counter works ---------------------------------------------------------------- */

/* A malloc/free pair made in the window is counted (so a zero below means something). */
static void test_counter_sees_direct_calls(void **state) {
    (void)state;
    /* Through volatile pointers, so that the optimizer cannot drop the pairs. */
    void *(*volatile allocate)(size_t) = malloc;
    void *(*volatile allocate_aligned)(size_t, size_t) = aligned_alloc;
    void (*volatile release)(void *) = free;
    open_window();
    void *block = allocate(64);
    release(block);
    void *aligned = allocate_aligned(64, 128);
    release(aligned);
    assert_int_equal(close_window(), 4);
}

/* Calls made inside libtdlrt.a are counted too: loading a weight file allocates. */
static void test_counter_sees_runtime_calls(void **state) {
    (void)state;
    gc_conv *m = gc_conv_create(1);
    assert_non_null(m);
    const char *path = TSC_BINARY_DIR "/tests/e2e/test_no_alloc.safetensors";
    assert_int_equal(gc_conv_save(m, path), TDL_STATUS_OK);
    open_window();
    assert_int_equal(gc_conv_load(m, path), TDL_STATUS_OK);
    assert_true(close_window() > 0);
    /* And create itself is the one allocation of a model. */
    open_window();
    gc_conv *other = gc_conv_create(2);
    assert_non_null(other);
    gc_conv_destroy(other);
    assert_int_equal(close_window(), 2);
    gc_conv_destroy(m);
}

/* --- The generated entry points -------------------------------------------------------- */

/* gc_conv: convolutions, pools, per-pixel losses, SGD with Nesterov momentum. */
static void test_conv_model_does_not_allocate(void **state) {
    (void)state;
    static float image[BATCH][8][8][2], probs[BATCH][5];
    static int32_t label[BATCH], seg[BATCH][4][4];
    e2e_rng rng = {31};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, label, BATCH, 5);
    e2e_fill_labels(&rng, &seg[0][0][0], sizeof seg / sizeof(int32_t), 3);
    const float(*x)[8][8][2] = (const float(*)[8][8][2])image;
    const int32_t(*s)[4][4] = (const int32_t(*)[4][4])seg;
    gc_conv *m = gc_conv_create(BATCH);
    assert_non_null(m);
    gc_conv_metrics metrics;
    float loss = 0.0f;

    open_window();
    for (int step = 0; step < 3; step++) {
        assert_int_equal(gc_conv_forward(m, BATCH, x, probs), TDL_STATUS_OK);
        assert_int_equal(gc_conv_evaluate(m, BATCH, x, label, s, &metrics), TDL_STATUS_OK);
        assert_int_equal(gc_conv_train_step(m, BATCH, x, label, s, &loss), TDL_STATUS_OK);
        assert_int_equal(gc_conv_train_step(m, 1, x, label, s, &loss), TDL_STATUS_OK);
    }
    assert_true(gc_conv_gradcheck(m, 2, x, label, s) >= 0.0);
    /* A failing call does not allocate either. */
    label[0] = 99;
    assert_int_equal(gc_conv_train_step(m, BATCH, x, label, s, &loss), TDL_STATUS_BAD_LABEL);
    assert_int_equal(close_window(), 0);
    gc_conv_destroy(m);
}

/* gc_dense: dropout, reductions, dense-label losses, Adam. */
static void test_dense_model_does_not_allocate(void **state) {
    (void)state;
    static float x[BATCH][12], soft[BATCH][6], multi[BATCH][6], logits[BATCH][6];
    static int32_t label[BATCH];
    e2e_rng rng = {32};
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -2.0f, 2.0f);
    e2e_fill_labels(&rng, label, BATCH, 6);
    e2e_fill_distributions(&rng, &soft[0][0], BATCH, 6);
    e2e_fill_uniform(&rng, &multi[0][0], sizeof multi / sizeof(float), 0.0f, 1.0f);
    const float(*cx)[12] = (const float(*)[12])x;
    const float(*cs)[6] = (const float(*)[6])soft, (*cm)[6] = (const float(*)[6])multi;
    gc_dense *m = gc_dense_create(BATCH);
    assert_non_null(m);
    gc_dense_metrics metrics;
    float loss = 0.0f;

    open_window();
    for (int step = 0; step < 3; step++) {
        assert_int_equal(gc_dense_forward(m, BATCH, cx, logits), TDL_STATUS_OK);
        assert_int_equal(gc_dense_evaluate(m, BATCH, cx, label, cs, cm, &metrics), TDL_STATUS_OK);
        assert_int_equal(gc_dense_train_step(m, BATCH, cx, label, cs, cm, &loss), TDL_STATUS_OK);
    }
    assert_true(gc_dense_gradcheck(m, BATCH, cx, label, cs, cm) >= 0.0);
    assert_int_equal(close_window(), 0);
    gc_dense_destroy(m);
}

/* gc_backprop: the backprop ops, argmax and one_hot, plain SGD; a model in caller memory. */
static void test_backprop_model_in_arena_does_not_allocate(void **state) {
    (void)state;
    static float image[BATCH][6][6][2], scores[BATCH][3], target[3][3][2][3];
    e2e_rng rng = {33};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &scores[0][0], sizeof scores / sizeof(float), 0.0f, 1.0f);
    e2e_fill_uniform(&rng, &target[0][0][0][0], sizeof target / sizeof(float), -0.5f, 0.5f);
    const float(*ci)[6][6][2] = (const float(*)[6][6][2])image;
    const float(*cs)[3] = (const float(*)[3])scores;
    const float(*ct)[3][2][3] = (const float(*)[3][2][3])target;
    size_t bytes = gc_backprop_arena_size(BATCH);
    assert_true(bytes > 0);
    void *arena = aligned_alloc(64, (bytes + 63) / 64 * 64);
    assert_non_null(arena);

    open_window();
    gc_backprop *m = gc_backprop_create_in(arena, bytes, BATCH);
    assert_non_null(m);
    gc_backprop_metrics metrics;
    float loss = 0.0f;
    for (int step = 0; step < 3; step++) {
        /* gc_backprop declares no output, so it has no gc_backprop_forward. */
        assert_int_equal(gc_backprop_evaluate(m, BATCH, ci, cs, ct, &metrics), TDL_STATUS_OK);
        assert_int_equal(gc_backprop_train_step(m, BATCH, ci, cs, ct, &loss), TDL_STATUS_OK);
    }
    assert_true(gc_backprop_gradcheck(m, BATCH, ci, cs, ct) >= 0.0);
    gc_backprop_destroy(m); /* the arena is the caller's: nothing to free */
    assert_int_equal(close_window(), 0);
    free(arena);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counter_sees_direct_calls),
        cmocka_unit_test(test_counter_sees_runtime_calls),
        cmocka_unit_test(test_conv_model_does_not_allocate),
        cmocka_unit_test(test_dense_model_does_not_allocate),
        cmocka_unit_test(test_backprop_model_in_arena_does_not_allocate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
