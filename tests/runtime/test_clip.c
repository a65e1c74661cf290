/* Gradient clipping against Keras' formulas worked out by hand: clipnorm
 * per tensor (g * c / max(||g||, c)), global_clipnorm over every tensor,
 * clipvalue elementwise. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdl/runtime.h"

/* (3, 4) has norm 5: clipnorm 1 scales it to (0.6, 0.8); clipnorm 10 leaves it. */
static void test_clip_by_norm(void **state) {
    (void)state;
    float g[2] = {3.0f, 4.0f};
    assert_float_equal(tdl_sum_of_squares(g, 2), 25.0, 0.0);
    tdl_clip_by_norm(g, 2, tdl_sum_of_squares(g, 2), 1.0f);
    assert_float_equal(g[0], 0.6f, 1e-7f);
    assert_float_equal(g[1], 0.8f, 1e-7f);
    float h[2] = {3.0f, 4.0f};
    tdl_clip_by_norm(h, 2, tdl_sum_of_squares(h, 2), 10.0f);
    assert_float_equal(h[0], 3.0f, 0.0f);
    assert_float_equal(h[1], 4.0f, 0.0f);
    /* A zero gradient stays zero (Keras' l2sum > 0 guard). */
    float z[3] = {0.0f, 0.0f, 0.0f};
    tdl_clip_by_norm(z, 3, 0.0, 1.0f);
    for (int i = 0; i < 3; i++) assert_float_equal(z[i], 0.0f, 0.0f);
}

/* Two tensors (3, 4) and (12): global norm 13; clipnorm 6.5 halves both. */
static void test_clip_by_global_norm(void **state) {
    (void)state;
    float a[2] = {3.0f, 4.0f}, b[1] = {12.0f};
    double total = tdl_sum_of_squares(a, 2) + tdl_sum_of_squares(b, 1);
    assert_float_equal(total, 169.0, 0.0);
    tdl_clip_by_global_norm(a, 2, total, 6.5f);
    tdl_clip_by_global_norm(b, 1, total, 6.5f);
    assert_float_equal(a[0], 1.5f, 1e-7f);
    assert_float_equal(a[1], 2.0f, 1e-7f);
    assert_float_equal(b[0], 6.0f, 1e-6f);
    /* Under the limit: factor clipnorm * (1 / clipnorm), 1 up to rounding. */
    float c[2] = {0.3f, -0.4f};
    tdl_clip_by_global_norm(c, 2, tdl_sum_of_squares(c, 2), 1.0f);
    assert_float_equal(c[0], 0.3f, 1e-7f);
    assert_float_equal(c[1], -0.4f, 1e-7f);
    /* A zero norm: 1 / 0 is infinite and the minimum picks 1 / clipnorm. */
    float z[2] = {0.0f, 0.0f};
    tdl_clip_by_global_norm(z, 2, 0.0, 2.0f);
    assert_float_equal(z[0], 0.0f, 0.0f);
    assert_true(isfinite(z[1]));
}

static void test_clip_by_value(void **state) {
    (void)state;
    float g[5] = {-3.0f, -0.5f, 0.0f, 0.25f, 7.0f};
    tdl_clip_by_value(g, 5, 0.5f);
    const float want[5] = {-0.5f, -0.5f, 0.0f, 0.25f, 0.5f};
    for (int i = 0; i < 5; i++) assert_float_equal(g[i], want[i], 0.0f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clip_by_norm),
        cmocka_unit_test(test_clip_by_global_norm),
        cmocka_unit_test(test_clip_by_value),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
