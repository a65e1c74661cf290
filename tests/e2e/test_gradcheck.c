/* Gradient checks of whole generated models: every op and loss of the
 * language appears in one of the gc_* models, and <model>_gradcheck compares
 * the generated backward pass with finite differences of the loss.
 *
 * "Relative error" is what <model>_gradcheck returns. For each parameter
 * tensor it draws random directions d of +-1 entries and compares the
 * analytic directional derivative a = sum_i grad_i * d_i (backward pass)
 * with a numeric one n from forward passes at p +- h d and p +- 2h d (the
 * 2-point and the 4-point central differences), as
 *     max(0, |a - n| - noise) / max(|a|, |n|),  noise = FLT_EPSILON * |loss| / h,
 * i.e. the disagreement beyond the float rounding noise of the loss, relative
 * to the derivative. A tensor scores its best (direction, step): a wrong
 * gradient is wrong along every direction and step, while a relu or max
 * kink crossed by one perturbation spoils only that one. The model's value
 * is the worst tensor's. Measured on these models, a backward pass off by
 * 10% scores about 0.085 and one off by 1% about 0.002-0.009, so the bound
 * 1e-3 catches real mistakes. The models are small so that few relu/max
 * kinks lie within a step of the checked point; the check is run at three
 * initialisations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "gc_backprop.h"
#include "gc_batch_norm.h"
#include "gc_combine.h"
#include "gc_conv.h"
#include "gc_dense.h"
#include "gc_spatial.h"
#include "gc_groups.h"
#include "gc_smooth.h"
#include "gc_expr.h"

/* The generated API takes const arrays with their shapes; in C (before C23)
 * a T (*)[N] does not convert to const T (*)[N] implicitly, hence the casts. */

enum { BATCH = 4 };
static const double tolerance = 1e-3;

/* Checks the model under two seeds so that one lucky initialisation cannot hide a wrong gradient. */
static const uint64_t seeds[] = {1, 2, 3};

/* gc_conv: convolutions (strides, same, dilation, fused activations), pools, residual adds, per-pixel losses. */
static void test_gradcheck_conv(void **state) {
    (void)state;
    static float image[BATCH][8][8][2];
    static int32_t label[BATCH], seg[BATCH][4][4];
    e2e_rng rng = {11};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, label, BATCH, GC_CONV_PROBS_DIM1);
    e2e_fill_labels(&rng, &seg[0][0][0], sizeof seg / sizeof(int32_t), 3);
    gc_conv *m = gc_conv_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_conv_init(m, seeds[s]);
        double error = gc_conv_gradcheck(m, BATCH, (const float(*)[8][8][2])image, label, (const int32_t(*)[4][4])seg);
        printf("gc_conv seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_conv_destroy(m);
}

/* gc_dense: dense layers, standalone activations, softmax(axis=1), dropout, reductions, dense-label losses. */
static void test_gradcheck_dense(void **state) {
    (void)state;
    static float x[BATCH][12], soft[BATCH][6], multi[BATCH][6];
    static int32_t label[BATCH];
    e2e_rng rng = {12};
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -2.0f, 2.0f);
    e2e_fill_labels(&rng, label, BATCH, 6);
    e2e_fill_distributions(&rng, &soft[0][0], BATCH, 6);
    e2e_fill_uniform(&rng, &multi[0][0], sizeof multi / sizeof(float), 0.0f, 1.0f);
    gc_dense *m = gc_dense_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_dense_init(m, seeds[s]);
        double error = gc_dense_gradcheck(m, BATCH, (const float(*)[12])x, label, (const float(*)[6])soft,
                                          (const float(*)[6])multi);
        printf("gc_dense seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_dense_destroy(m);
}

/* gc_backprop: conv2d_backprop_filter/input as layers, argmax-made labels, one_hot targets. */
static void test_gradcheck_backprop(void **state) {
    (void)state;
    static float image[BATCH][6][6][2], scores[BATCH][3], target_filter[3][3][2][3];
    e2e_rng rng = {13};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &scores[0][0], sizeof scores / sizeof(float), 0.0f, 1.0f);
    e2e_fill_uniform(&rng, &target_filter[0][0][0][0], sizeof target_filter / sizeof(float), -0.5f, 0.5f);
    gc_backprop *m = gc_backprop_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_backprop_init(m, seeds[s]);
        double error = gc_backprop_gradcheck(m, BATCH, (const float(*)[6][6][2])image, (const float(*)[3])scores,
                                             (const float(*)[3][2][3])target_filter);
        printf("gc_backprop seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_backprop_destroy(m);
}

/* gc_batch_norm: batch_norm on channels, on a middle axis without beta and on
 * dense features without gamma; the gradient flows through the batch's
 * statistics. gradcheck leaves the moving statistics exactly as they were. */
static void test_gradcheck_batch_norm(void **state) {
    (void)state;
    static float image[BATCH][4][4][2], t[BATCH][3];
    e2e_rng rng = {14};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &t[0][0], sizeof t / sizeof(float), -1.0f, 1.0f);
    gc_batch_norm *m = gc_batch_norm_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_batch_norm_init(m, seeds[s]);
        size_t count = 0;
        const float *moving = gc_batch_norm_state(m, &count);
        assert_non_null(moving);
        assert_int_equal(count, GC_BATCH_NORM_STATE_COUNT);
        float before[GC_BATCH_NORM_STATE_COUNT];
        memcpy(before, moving, sizeof before);
        double error = gc_batch_norm_gradcheck(m, BATCH, (const float(*)[4][4][2])image, (const float(*)[3])t);
        printf("gc_batch_norm seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
        assert_memory_equal(before, moving, sizeof before);
    }
    gc_batch_norm_destroy(m);
}

/* gc_combine: concat along a middle axis (one input twice), multiply of a tensor by itself and by another. */
static void test_gradcheck_combine(void **state) {
    (void)state;
    static float x[BATCH][12], y[BATCH][2][3], t[BATCH][10];
    e2e_rng rng = {14};
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &y[0][0][0], sizeof y / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &t[0][0], sizeof t / sizeof(float), -1.0f, 1.0f);
    gc_combine *m = gc_combine_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_combine_init(m, seeds[s]);
        double error = gc_combine_gradcheck(m, BATCH, (const float(*)[12])x, (const float(*)[2][3])y,
                                            (const float(*)[10])t);
        printf("gc_combine seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_combine_destroy(m);
}

/* gc_spatial: conv2d_transpose (same/valid, output_padding, dilation, fused tanh and softmax), upsample2d, padding, cropping. */
static void test_gradcheck_spatial(void **state) {
    (void)state;
    static float image[BATCH][5][4][2], target[BATCH][3];
    e2e_rng rng = {15};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &target[0][0], sizeof target / sizeof(float), 0.0f, 1.0f);
    gc_spatial *m = gc_spatial_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_spatial_init(m, seeds[s]);
        double error = gc_spatial_gradcheck(m, BATCH, (const float(*)[5][4][2])image, (const float(*)[3])target);
        printf("gc_spatial seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_spatial_destroy(m);
}

/* gc_groups: depthwise (multipliers 1 and 3, fused softmax), grouped conv2d (fused with a pool), separable. */
static void test_gradcheck_groups(void **state) {
    (void)state;
    static float image[BATCH][7][6][4];
    static int32_t label[BATCH];
    e2e_rng rng = {15};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.0f, 1.0f);
    e2e_fill_labels(&rng, label, BATCH, 5);
    gc_groups *m = gc_groups_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_groups_init(m, seeds[s]);
        double error = gc_groups_gradcheck(m, BATCH, (const float(*)[7][6][4])image, label);
        printf("gc_groups seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_groups_destroy(m);
}

/* gc_smooth: gelu, swish/silu, elu, softplus (alone and fused), mean_absolute_error, huber, label smoothing. */
static void test_gradcheck_smooth(void **state) {
    (void)state;
    static float image[BATCH][6][6][2], x[BATCH][10], soft[BATCH][5], multi[BATCH][5], target[BATCH][5];
    static int32_t label[BATCH];
    e2e_rng rng = {15};
    e2e_fill_uniform(&rng, &image[0][0][0][0], sizeof image / sizeof(float), -1.5f, 1.5f);
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -2.0f, 2.0f);
    e2e_fill_labels(&rng, label, BATCH, 5);
    e2e_fill_distributions(&rng, &soft[0][0], BATCH, 5);
    e2e_fill_uniform(&rng, &multi[0][0], sizeof multi / sizeof(float), 0.0f, 1.0f);
    e2e_fill_uniform(&rng, &target[0][0], sizeof target / sizeof(float), -1.0f, 2.0f);
    gc_smooth *m = gc_smooth_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_smooth_init(m, seeds[s]);
        double error = gc_smooth_gradcheck(m, BATCH, (const float(*)[6][6][2])image, (const float(*)[10])x, label,
                                           (const float(*)[5])soft, (const float(*)[5])multi,
                                           (const float(*)[5])target);
        printf("gc_smooth seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_smooth_destroy(m);
}

/* gc_expr: subtract, multiply and rescaling written as operators, with
 * layers with weights nested in calls and operators. */
static void test_gradcheck_expr(void **state) {
    (void)state;
    static float x[BATCH][6], t[BATCH][6];
    e2e_rng rng = {15};
    e2e_fill_uniform(&rng, &x[0][0], sizeof x / sizeof(float), -1.0f, 1.0f);
    e2e_fill_uniform(&rng, &t[0][0], sizeof t / sizeof(float), -1.0f, 1.0f);
    gc_expr *m = gc_expr_create(BATCH);
    assert_non_null(m);
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        gc_expr_init(m, seeds[s]);
        double error = gc_expr_gradcheck(m, BATCH, (const float(*)[6])x, (const float(*)[6])t);
        printf("gc_expr seed %llu: worst relative error %.3g\n", (unsigned long long)seeds[s], error);
        assert_true(error >= 0.0);
        assert_true(error <= tolerance);
    }
    gc_expr_destroy(m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gradcheck_conv),
        cmocka_unit_test(test_gradcheck_dense),
        cmocka_unit_test(test_gradcheck_backprop),
        cmocka_unit_test(test_gradcheck_combine),
        cmocka_unit_test(test_gradcheck_spatial),
        cmocka_unit_test(test_gradcheck_groups),
        cmocka_unit_test(test_gradcheck_smooth),
        cmocka_unit_test(test_gradcheck_expr),
        cmocka_unit_test(test_gradcheck_batch_norm),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
