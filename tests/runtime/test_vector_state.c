/* Every kernel that runs libxsmm's JIT code returns with the upper halves
 * of the AVX registers cleared, on the calling thread and on the team's
 * workers (runtime/src/vector_state.h: on Intel CPUs, legacy-SSE code that
 * follows them in use runs many times slower). The state is read with
 * XGETBV(1), whose bits 2 and 6 say whether the upper halves of ymm0-15
 * and zmm0-15 are in use; the probe itself is checked first by dirtying
 * and clearing them by hand, and each call starts with them clear, so what
 * is found after it is the runtime's doing. Skipped where the CPU cannot report it, where
 * libxsmm is absent (no JIT code runs) and outside GCC-compatible x86-64. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "automatic_path.h"
#include "team.h"
#include "tdl/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>

#define UPPER_HALVES ((1u << 2) | (1u << 6)) /* YMM_Hi128 and ZMM_Hi256 in XCR0's numbering */

/* XGETBV with ECX = 1 needs OSXSAVE (CPUID 1, ECX bit 27) and CPUID
 * leaf 0xD sub-leaf 1, EAX bit 2; the halves need AVX (CPUID 1, ECX bit 28). */
static bool probe_available(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27)) || !(c & (1u << 28))) return false;
    if (__get_cpuid_max(0, NULL) < 0xD) return false;
    __cpuid_count(0xD, 1, a, b, c, d);
    return (a & (1u << 2)) != 0;
}

static bool upper_halves_in_use(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(1));
    (void)hi;
    return (lo & UPPER_HALVES) != 0;
}

/* All ones in ymm0: its upper half is then certainly in use. */
static void dirty_upper_halves(void) { __asm__ volatile("vpcmpeqd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0"); }
static void clear_upper_halves(void) { __asm__ volatile("vzeroupper" ::: "xmm0"); }
#else
static bool probe_available(void) { return false; }
static bool upper_halves_in_use(void) { return false; }
static void dirty_upper_halves(void) {}
static void clear_upper_halves(void) {}
#endif

static void skip_unless_measurable(void) {
    if (!probe_available()) skip();
    if (!tdl_xsmm_available()) skip();
}

static float *filled(size_t n, float scale) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; ++i) x[i] = scale * (float)((int)(i * 7919u % 23u) - 11);
    return x;
}

static void test_probe_sees_the_halves(void **state) {
    (void)state;
    skip_unless_measurable();
    dirty_upper_halves();
    assert_true(upper_halves_in_use());
    clear_upper_halves();
    assert_false(upper_halves_in_use());
}

/* Records, on every thread of a team job, whether the halves were in use
 * when its share began: what a worker carries from the job before. */
static void record_share_entry(void *context, int t, int threads) {
    (void)threads;
    bool *in_use = context;
    in_use[t] = upper_halves_in_use();
}

static void assert_team_clean(int threads) {
    bool in_use[8] = {false};
    tdl_team_run(threads, record_share_entry, in_use);
    for (int t = 0; t < threads; ++t) assert_false(in_use[t]);
}

typedef struct conv_case {
    int in_h, in_w, in_c, filters, kernel, stride; /* stride 1 with 3x3: Winograd; else the direct kernels */
} conv_case;

static void check_conv(const conv_case *k, int batch, int threads) {
    tdl_conv2d_desc d;
    assert_int_equal(tdl_conv2d_desc_init(&d, k->in_h, k->in_w, k->in_c, k->filters, k->kernel, k->kernel,
                                          k->stride, k->stride, 1, 1, TDL_PADDING_SAME),
                     TDL_STATUS_OK);
    d.activation = TDL_ACTIVATION_RELU;
    const size_t x_n = (size_t)batch * (size_t)(k->in_h * k->in_w * k->in_c);
    const size_t y_n = (size_t)batch * (size_t)(d.out_h * d.out_w * d.out_c);
    const size_t w_n = (size_t)(k->kernel * k->kernel * k->in_c * k->filters);
    float *x = filled(x_n, 0.01f), *kernel = filled(w_n, 0.02f), *bias = filled((size_t)k->filters, 0.1f);
    float *y = filled(y_n, 0.0f), *dy = filled(y_n, 0.03f), *dx = filled(x_n, 0.0f);
    float *dkernel = filled(w_n, 0.0f), *dbias = filled((size_t)k->filters, 0.0f);
    float *workspace = filled(tdl_conv2d_workspace_size(&d, batch), 0.0f);
    tdl_set_num_threads(threads);

    clear_upper_halves();
    tdl_conv2d_forward(y, x, kernel, bias, &d, batch, workspace);
    assert_false(upper_halves_in_use());
    assert_team_clean(threads);

    clear_upper_halves();
    tdl_conv2d_backward(dx, dkernel, dbias, dy, y, x, kernel, &d, batch, workspace);
    assert_false(upper_halves_in_use());
    assert_team_clean(threads);

    free(x), free(kernel), free(bias), free(y), free(dy), free(dx), free(dkernel), free(dbias), free(workspace);
}

static void test_convolutions_leave_the_halves_clear(void **state) {
    (void)state;
    skip_unless_measurable();
    static const conv_case cases[] = {
        {16, 16, 32, 64, 3, 1}, /* Winograd forward and input gradient */
        {16, 16, 32, 64, 3, 2}, /* the direct batch-reduce kernels */
        {28, 28, 1, 32, 3, 1},  /* a first layer: the few-channel kernels */
    };
    const int before = tdl_get_num_threads();
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i)
        for (int threads = 1; threads <= 2; ++threads) check_conv(&cases[i], 32, threads);
    tdl_set_num_threads(before);
}

static void test_dense_layers_leave_the_halves_clear(void **state) {
    (void)state;
    skip_unless_measurable();
    enum { BATCH = 64, FEATURES = 256, UNITS = 128 };
    const tdl_dense_desc d = {FEATURES, UNITS, TDL_ACTIVATION_RELU, 0.0f};
    float *x = filled((size_t)BATCH * FEATURES, 0.01f), *kernel = filled((size_t)FEATURES * UNITS, 0.02f);
    float *bias = filled(UNITS, 0.1f), *y = filled((size_t)BATCH * UNITS, 0.0f);
    float *dy = filled((size_t)BATCH * UNITS, 0.03f), *dx = filled((size_t)BATCH * FEATURES, 0.0f);
    float *dkernel = filled((size_t)FEATURES * UNITS, 0.0f), *dbias = filled(UNITS, 0.0f);
    float *workspace = filled(tdl_dense_workspace_size(&d, BATCH), 0.0f);
    const int before = tdl_get_num_threads();
    for (int threads = 1; threads <= 2; ++threads) {
        tdl_set_num_threads(threads);
        clear_upper_halves();
        tdl_dense_forward(y, x, kernel, bias, &d, BATCH);
        assert_false(upper_halves_in_use());
        clear_upper_halves();
        tdl_dense_train_forward(y, x, kernel, bias, &d, BATCH, workspace);
        assert_false(upper_halves_in_use());
        clear_upper_halves();
        tdl_dense_train_backward(dx, dkernel, dbias, dy, y, x, kernel, &d, BATCH, workspace, TDL_DX_ADD);
        assert_false(upper_halves_in_use());
        assert_team_clean(threads);
    }
    tdl_set_num_threads(before);
    free(x), free(kernel), free(bias), free(y), free(dy), free(dx), free(dkernel), free(dbias), free(workspace);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_probe_sees_the_halves),
        cmocka_unit_test(test_convolutions_leave_the_halves_clear),
        cmocka_unit_test(test_dense_layers_leave_the_halves_clear),
    };
    return cmocka_run_group_tests(tests, choose_automatic_path, restore_path);
}
