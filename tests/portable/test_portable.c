/* The portable runtime's own parts (runtime/src/portable): its sgemm against
 * a naive product in double, the statuses of what it leaves out, the serial
 * stand-in for the thread team, and the convolution's workspace, which holds
 * the pre-activation gradient and no scratch. The convolution's values are
 * checked by tests/runtime/test_conv.c, built once more against this library. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "numeric_check.h"
#include "team.h"
#include "tdl/runtime.h"

/* op(X)(row, col) of a row-major X with leading dimension ld. */
static float element(const float *x, int ld, tdl_transpose trans, int row, int col) {
    return trans == TDL_TRANS ? x[(size_t)col * (size_t)ld + (size_t)row] : x[(size_t)row * (size_t)ld + (size_t)col];
}

static float *random_matrix(size_t n) {
    float *x = malloc((n > 0 ? n : 1) * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; ++i) x[i] = uniform(-1.0f, 1.0f);
    return x;
}

/* One product: C = alpha op(A) op(B) + beta C, against the same in double.
 * Leading dimensions are wider than the matrices, so that a kernel reading a
 * row too far or storing past a row's end is seen (the gap must stay as it was). */
static void check_gemm(tdl_transpose ta, tdl_transpose tb, int m, int n, int k, float alpha, float beta) {
    const int a_rows = ta == TDL_TRANS ? k : m, a_cols = ta == TDL_TRANS ? m : k;
    const int b_rows = tb == TDL_TRANS ? n : k, b_cols = tb == TDL_TRANS ? k : n;
    const int lda = a_cols + 3, ldb = b_cols + 2, ldc = n + 5;
    float *a = random_matrix((size_t)a_rows * (size_t)lda);
    float *b = random_matrix((size_t)b_rows * (size_t)ldb);
    float *c = random_matrix((size_t)m * (size_t)ldc);
    float *before = malloc((size_t)m * (size_t)ldc * sizeof *before);
    assert_non_null(before);
    /* beta == 0 must not read C: NaN there would show. */
    if (beta == 0.0f)
        for (int i = 0; i < m; ++i)
            for (int j = 0; j < n; ++j) c[(size_t)i * (size_t)ldc + (size_t)j] = NAN;
    memcpy(before, c, (size_t)m * (size_t)ldc * sizeof *c);
    tdl_sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    for (int i = 0; i < m; ++i) {
        for (int j = 0; j < n; ++j) {
            double sum = 0.0;
            for (int p = 0; p < k; ++p) sum += (double)element(a, lda, ta, i, p) * (double)element(b, ldb, tb, p, j);
            const size_t at = (size_t)i * (size_t)ldc + (size_t)j;
            const double want = alpha * sum + (beta == 0.0f ? 0.0 : (double)beta * (double)before[at]);
            check_close("C", at, c[at], want, 1e-5 * (1.0 + sqrt((double)k)), 1e-5);
        }
        for (int j = n; j < ldc; ++j) {
            const size_t at = (size_t)i * (size_t)ldc + (size_t)j;
            assert_memory_equal(&c[at], &before[at], sizeof *c);
        }
    }
    free(a);
    free(b);
    free(c);
    free(before);
}

/* Every layout, with sizes below, at and past the tile (4 x 8) and the k slice (64). */
static void test_sgemm_matches_naive_product(void **state) {
    (void)state;
    lcg_state = 7u;
    static const int sizes[] = {1, 3, 4, 5, 8, 9, 17, 64, 65, 130};
    const int count = (int)(sizeof sizes / sizeof sizes[0]);
    for (int ta = 0; ta < 2; ++ta)
        for (int tb = 0; tb < 2; ++tb)
            for (int im = 0; im < count; im += 2)
                for (int in = 1; in < count; in += 2)
                    for (int ik = 0; ik < count; ik += 3)
                        check_gemm(ta ? TDL_TRANS : TDL_NO_TRANS, tb ? TDL_TRANS : TDL_NO_TRANS, sizes[im],
                                   sizes[in], sizes[ik], 1.0f, 0.0f);
}

/* alpha and beta, accumulation into C (as the gradients use it), and k = 0. */
static void test_sgemm_alpha_beta(void **state) {
    (void)state;
    lcg_state = 11u;
    check_gemm(TDL_NO_TRANS, TDL_NO_TRANS, 9, 17, 130, 0.5f, 1.0f);
    check_gemm(TDL_TRANS, TDL_NO_TRANS, 17, 9, 65, -2.0f, 0.25f);
    check_gemm(TDL_NO_TRANS, TDL_TRANS, 5, 12, 7, 1.0f, 1.0f);
    check_gemm(TDL_TRANS, TDL_TRANS, 6, 3, 70, 1.5f, -1.0f);
    check_gemm(TDL_NO_TRANS, TDL_NO_TRANS, 4, 8, 0, 1.0f, 0.5f);
    check_gemm(TDL_NO_TRANS, TDL_NO_TRANS, 4, 8, 0, 1.0f, 0.0f);
}

/* What needs the heap or files says so, by its status and in its message. */
static void test_hosted_parts_are_unsupported(void **state) {
    (void)state;
    static const tdl_model_info info = {.name = "lenet"};
    assert_null(tdl_model_create(&info, 4));
    assert_non_null(strstr(tdl_last_error(), "lenet_create_in"));
    assert_int_equal(tdl_model_load(NULL, "lenet_load", "w.safetensors"), TDL_STATUS_UNSUPPORTED);
    assert_non_null(strstr(tdl_last_error(), "lenet_load"));
    assert_int_equal(tdl_model_save(NULL, "lenet_save", "w.safetensors"), TDL_STATUS_UNSUPPORTED);
    assert_int_equal(tdl_model_save_state(NULL, "lenet_save_state", "s.safetensors"), TDL_STATUS_UNSUPPORTED);
    assert_non_null(strstr(tdl_last_error(), "lenet_save_state"));
    assert_int_equal(tdl_model_load_state(NULL, "lenet_load_state", "s.safetensors"), TDL_STATUS_UNSUPPORTED);
    assert_non_null(strstr(tdl_last_error(), "lenet_load_state"));
    float x = 1.0f;
    const tdl_tensor_ref ref = {"x", &x, 1, {1}};
    assert_int_equal(tdl_safetensors_save("w.safetensors", &ref, 1), TDL_STATUS_UNSUPPORTED);
    assert_int_equal(tdl_safetensors_load("w.safetensors", &ref, 1), TDL_STATUS_UNSUPPORTED);
    const uint8_t bytes[8] = {0};
    assert_int_equal(tdl_safetensors_load_buffer(bytes, sizeof bytes, &ref, 1), TDL_STATUS_UNSUPPORTED);
    assert_int_equal(tdl_model_load_state_buffer(NULL, "lenet_load_state", bytes, sizeof bytes),
                     TDL_STATUS_UNSUPPORTED);
    assert_string_equal(tdl_status_name(TDL_STATUS_UNSUPPORTED), "TDL_STATUS_UNSUPPORTED");
    tdl_model_destroy(NULL);
}

static void count_share(void *context, int t, int threads) {
    int *seen = context;
    assert_int_equal(threads, 3);
    seen[t] += 1;
}

/* One thread, whatever is asked; a job of several shares still runs each once. */
static void test_serial_team(void **state) {
    (void)state;
    tdl_set_num_threads(4);
    assert_int_equal(tdl_get_num_threads(), 1);
    assert_int_equal(tdl_team_threads_for(1e12, 1.0), 1);
    int seen[3] = {0, 0, 0};
    tdl_team_run(3, count_share, seen);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);
    assert_int_equal(seen[2], 1);
}

/* The direct convolution needs no scratch: the workspace is the
 * pre-activation gradient alone, whatever the layer (LeNet-5's first one
 * here), and the forward pass needs none at all. */
static void test_conv_workspace_is_the_gradient_alone(void **state) {
    (void)state;
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, 28, 28, 1, 6, 5, 5, 1, 1, 1, 1, TDL_PADDING_SAME), TDL_STATUS_OK);
    assert_int_equal(tdl_conv2d_workspace_size(&d, 1), (size_t)28 * 28 * 6);
    assert_int_equal(tdl_conv2d_workspace_size(&d, 3), (size_t)3 * 28 * 28 * 6);
    assert_int_equal(tdl_conv2d_forward_workspace_size(&d, 3), 0);
    assert_false(tdl_xsmm_available());
    /* So the forward pass takes no workspace at all. */
    float x[28 * 28], kernel[5 * 5 * 6], y[28 * 28 * 6];
    for (size_t i = 0; i < sizeof x / sizeof x[0]; ++i) x[i] = 1.0f;
    for (size_t i = 0; i < sizeof kernel / sizeof kernel[0]; ++i) kernel[i] = 0.5f;
    memset(y, 0, sizeof y);
    tdl_conv2d_forward(y, x, kernel, NULL, &d, 1, NULL);
    /* pixel (14, 14): all 25 taps inside, 25 * 0.5 */
    assert_float_equal(y[(14 * 28 + 14) * 6 + 3], 12.5f, 0.0f);
    /* pixel (0, 0): 3x3 taps inside */
    assert_float_equal(y[0], 4.5f, 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgemm_matches_naive_product),
        cmocka_unit_test(test_sgemm_alpha_beta),
        cmocka_unit_test(test_hosted_parts_are_unsupported),
        cmocka_unit_test(test_serial_team),
        cmocka_unit_test(test_conv_workspace_is_the_gradient_alone),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
