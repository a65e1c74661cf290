/* Status and error messages, tdl_sgemm against a naive matmul, elementwise helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <threads.h>

#include <cmocka.h>

#include "tdl/runtime.h"

/* A small deterministic generator so the test does not depend on rng.c. */
static uint32_t lcg_state = 12345u;
static float test_uniform(void) {
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (float)(lcg_state >> 8) / 16777216.0f * 2.0f - 1.0f;
}

/* Every status has a distinct, stable name. */
static void test_status_names(void **state) {
    (void)state;
    assert_string_equal(tdl_status_name(TDL_STATUS_OK), "TDL_STATUS_OK");
    assert_string_equal(tdl_status_name(TDL_STATUS_BAD_ARGUMENT), "TDL_STATUS_BAD_ARGUMENT");
    assert_string_equal(tdl_status_name(TDL_STATUS_BAD_BATCH), "TDL_STATUS_BAD_BATCH");
    assert_string_equal(tdl_status_name(TDL_STATUS_BAD_LABEL), "TDL_STATUS_BAD_LABEL");
    assert_string_equal(tdl_status_name(TDL_STATUS_BAD_SHAPE), "TDL_STATUS_BAD_SHAPE");
    assert_string_equal(tdl_status_name(TDL_STATUS_BAD_FILE), "TDL_STATUS_BAD_FILE");
    assert_string_equal(tdl_status_name(TDL_STATUS_IO), "TDL_STATUS_IO");
    assert_string_equal(tdl_status_name(TDL_STATUS_NO_MEMORY), "TDL_STATUS_NO_MEMORY");
    assert_string_equal(tdl_status_name((tdl_status)99), "TDL_STATUS_UNKNOWN");
}

/* tdl_set_error formats the message and hands back the status it was given. */
static void test_set_error_formats(void **state) {
    (void)state;
    assert_int_equal(tdl_set_error(TDL_STATUS_BAD_LABEL, "label %d outside [0, %d)", 12, 10),
                     TDL_STATUS_BAD_LABEL);
    assert_string_equal(tdl_last_error(), "label 12 outside [0, 10)");
    assert_int_equal(tdl_set_error(TDL_STATUS_IO, "%s", "second"), TDL_STATUS_IO);
    assert_string_equal(tdl_last_error(), "second");
}

/* A message longer than the buffer is truncated, not overflowed. */
static void test_set_error_truncates(void **state) {
    (void)state;
    char long_text[4096];
    memset(long_text, 'x', sizeof long_text - 1);
    long_text[sizeof long_text - 1] = '\0';
    tdl_set_error(TDL_STATUS_BAD_FILE, "%s", long_text);
    const size_t length = strlen(tdl_last_error());
    assert_true(length > 100);
    assert_true(length < sizeof long_text - 1);
    assert_int_equal(tdl_last_error()[0], 'x');
}

/* (The portable runtime has no threads and one message: not there.) */
#ifndef TDL_TEST_PORTABLE_RUNTIME
static int read_error_in_thread(void *out) {
    /* A fresh thread starts with no message; its own message stays its own. */
    char *copy = out;
    strcpy(copy, tdl_last_error());
    tdl_set_error(TDL_STATUS_IO, "from the other thread");
    return 0;
}

/* Messages are per thread. */
static void test_error_is_thread_local(void **state) {
    (void)state;
    tdl_set_error(TDL_STATUS_BAD_SHAPE, "main thread");
    char seen[64] = "unchanged";
    thrd_t thread;
    assert_int_equal(thrd_create(&thread, read_error_in_thread, seen), thrd_success);
    assert_int_equal(thrd_join(thread, NULL), thrd_success);
    assert_string_equal(seen, "");
    assert_string_equal(tdl_last_error(), "main thread");
}
#endif

/* op(A)(i,p) for a row-major matrix stored with leading dimension ld. */
static float op_at(const float *m, int ld, tdl_transpose t, int i, int p) {
    return t == TDL_TRANS ? m[(size_t)p * ld + i] : m[(size_t)i * ld + p];
}

/* One transpose combination: padded leading dimensions, alpha and beta, against a naive matmul. */
static void check_sgemm(tdl_transpose ta, tdl_transpose tb) {
    const int m = 7, n = 5, k = 9;
    const float alpha = 0.75f, beta = -0.5f;
    const int a_rows = ta == TDL_TRANS ? k : m, a_cols = ta == TDL_TRANS ? m : k;
    const int b_rows = tb == TDL_TRANS ? n : k, b_cols = tb == TDL_TRANS ? k : n;
    const int lda = a_cols + 3, ldb = b_cols + 2, ldc = n + 1;
    float a[16 * 16], b[16 * 16], c[16 * 16], expected[16 * 16];
    for (int i = 0; i < a_rows * lda; ++i) a[i] = test_uniform();
    for (int i = 0; i < b_rows * ldb; ++i) b[i] = test_uniform();
    for (int i = 0; i < m * ldc; ++i) c[i] = expected[i] = test_uniform();
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < n; ++j) {
            double sum = 0.0;
            for (int p = 0; p < k; ++p) sum += (double)op_at(a, lda, ta, i, p) * op_at(b, ldb, tb, p, j);
            expected[i * ldc + j] = (float)(alpha * sum + beta * expected[i * ldc + j]);
        }
    tdl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < m; ++i)
        for (int j = 0; j < ldc; ++j)
            assert_float_equal(c[i * ldc + j], expected[i * ldc + j], 1e-5f);
}

/* tdl_sgemm is row-major in all four transpose combinations. */
static void test_sgemm_transposes(void **state) {
    (void)state;
    check_sgemm(TDL_NO_TRANS, TDL_NO_TRANS);
    check_sgemm(TDL_NO_TRANS, TDL_TRANS);
    check_sgemm(TDL_TRANS, TDL_NO_TRANS);
    check_sgemm(TDL_TRANS, TDL_TRANS);
}

/* k == 0 leaves beta * C, and beta == 0 clears garbage in C. */
static void test_sgemm_empty_inner(void **state) {
    (void)state;
    float c[6] = {1, 2, 3, 4, 5, 6};
    const float unused = 0.0f;
    tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, 2, 3, 0, 1.0f, &unused, 1, &unused, 3, 2.0f, c, 3);
    for (int i = 0; i < 6; ++i) assert_float_equal(c[i], 2.0f * (float)(i + 1), 0.0f);
    tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, 2, 3, 0, 1.0f, &unused, 1, &unused, 3, 0.0f, c, 3);
    for (int i = 0; i < 6; ++i) assert_float_equal(c[i], 0.0f, 0.0f);
}

/* The BLAS thread count can be set and read back; nonsense counts mean one thread. */
static void test_num_threads(void **state) {
    (void)state;
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(1);
    assert_int_equal(tdl_get_num_threads(), 1);
    tdl_set_num_threads(0);
    assert_int_equal(tdl_get_num_threads(), 1);
    tdl_set_num_threads(before);
}

/* zero, accumulate and scale touch exactly n elements. */
static void test_tensor_helpers(void **state) {
    (void)state;
    float x[5] = {1, 2, 3, 4, 5};
    const float y[5] = {10, 20, 30, 40, 50};
    tdl_accumulate(x, y, 4);
    const float accumulated[5] = {11, 22, 33, 44, 5};
    for (int i = 0; i < 5; ++i) assert_float_equal(x[i], accumulated[i], 0.0f);
    tdl_scale(x, -0.5f, 3);
    const float scaled[5] = {-5.5f, -11, -16.5f, 44, 5};
    for (int i = 0; i < 5; ++i) assert_float_equal(x[i], scaled[i], 0.0f);
    tdl_zero(x + 1, 3);
    const float zeroed[5] = {-5.5f, 0, 0, 0, 5};
    for (int i = 0; i < 5; ++i) assert_float_equal(x[i], zeroed[i], 0.0f);
    tdl_zero(NULL, 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_names),
        cmocka_unit_test(test_set_error_formats),
        cmocka_unit_test(test_set_error_truncates),
#ifndef TDL_TEST_PORTABLE_RUNTIME
        cmocka_unit_test(test_error_is_thread_local),
#endif
        cmocka_unit_test(test_sgemm_transposes),
        cmocka_unit_test(test_sgemm_empty_inner),
        cmocka_unit_test(test_num_threads),
        cmocka_unit_test(test_tensor_helpers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
