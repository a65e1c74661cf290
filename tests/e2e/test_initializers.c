/* Initializers chosen in TDL (tests/e2e/models/init_words.tdl and
 * init_layers.tdl): <model>_init fills each weight as its kernel_initializer=,
 * bias_initializer= (or the argument Keras names for it: depthwise_initializer=,
 * gamma_initializer=, …) says, with Keras' fans of that tensor, and the same
 * seed gives the same weights.
 * The weights are read back through <model>_save. Tolerances: the kernels
 * hold 4608 to 32768 values, so the sample variance is within about 4% of
 * the truth (two to three standard errors); a wrong fan or scale is off by
 * 30% or more. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "init_layers.h"
#include "init_words.h"
#include "tdl/runtime.h"

/* conv2d_1.kernel [3,3,16,32]: he_uniform, fan_in 3*3*16 = 144: variance 2/144.
 * dense_1.kernel [256,128]: lecun_normal, fan_in 256: 1/256.
 * dense_2.kernel [128,64]: glorot_normal, fans 128 and 64: 1/96.
 * dense_3.kernel [256,64]: glorot_uniform (the default), fans 256, 64: 1/160. */
static float conv_kernel[3][3][16][32], conv_bias[32];
static float d1_kernel[256][128], d1_bias[128], d2_kernel[128][64], d2_bias[64], d3_kernel[256][64], d3_bias[64];

static tdl_tensor_ref refs[] = {
    {"conv2d_1.kernel", &conv_kernel[0][0][0][0], 4, {3, 3, 16, 32}},
    {"conv2d_1.bias", conv_bias, 1, {32}},
    {"dense_1.kernel", &d1_kernel[0][0], 2, {256, 128}},
    {"dense_1.bias", d1_bias, 1, {128}},
    {"dense_2.kernel", &d2_kernel[0][0], 2, {128, 64}},
    {"dense_2.bias", d2_bias, 1, {64}},
    {"dense_3.kernel", &d3_kernel[0][0], 2, {256, 64}},
    {"dense_3.bias", d3_bias, 1, {64}},
};
#define REF_COUNT (sizeof refs / sizeof refs[0])

static size_t count_of(const tdl_tensor_ref *r) {
    size_t n = 1;
    for (int d = 0; d < r->rank; d++) n *= (size_t)r->shape[d];
    return n;
}

/* A fresh temporary file for a model's weights. */
static void temp_path(char path[32]) {
    strcpy(path, "/tmp/tsc_init_XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
}

/* Reads the weights a model saved to `path` into `table`, then removes the file. */
static void read_saved(const char *path, tdl_tensor_ref *table, size_t count) {
    assert_int_equal(tdl_safetensors_load(path, table, count), TDL_STATUS_OK);
    unlink(path);
}

/* Inits a model with the seed and reads its weights into refs. */
static void init_and_read(uint64_t seed) {
    init_words *m = init_words_create(2);
    assert_non_null(m);
    init_words_init(m, seed);
    char path[32];
    temp_path(path);
    assert_int_equal(init_words_save(m, path), TDL_STATUS_OK);
    read_saved(path, refs, REF_COUNT);
    init_words_destroy(m);
}

static void check_variance(const char *name, const float *w, size_t n, double want, double bound) {
    double mean = 0.0, sum = 0.0, largest = 0.0;
    for (size_t i = 0; i < n; i++) mean += w[i];
    mean /= (double)n;
    for (size_t i = 0; i < n; i++) {
        sum += (w[i] - mean) * (w[i] - mean);
        largest = fmax(largest, fabs(w[i]));
    }
    double variance = sum / (double)n;
    printf("%-16s variance %.5g (want %.5g), largest %.4g (bound %.4g)\n", name, variance, want, largest, bound);
    if (fabs(variance / want - 1.0) > 0.04) fail_msg("%s: variance %g, want %g", name, variance, want);
    if (fabs(mean) > 0.06 * sqrt(want)) fail_msg("%s: mean %g", name, mean);
    if (largest > bound * (1 + 1e-6) || largest < 0.9 * bound) fail_msg("%s: largest |w| %g, bound %g", name, largest, bound);
}

static void check_constant(const char *name, const float *w, size_t n, float value) {
    for (size_t i = 0; i < n; i++)
        if (w[i] != value) fail_msg("%s[%zu] = %g, want %g", name, i, w[i], value);
}

static void test_initializers_by_name(void **state) {
    (void)state;
    init_and_read(7);
    const double truncated = 0.87962566103423978;
    check_variance("conv2d_1.kernel", &conv_kernel[0][0][0][0], count_of(&refs[0]), 2.0 / 144, sqrt(3 * 2.0 / 144));
    check_constant("conv2d_1.bias", conv_bias, 32, 1.0f);
    check_variance("dense_1.kernel", &d1_kernel[0][0], count_of(&refs[2]), 1.0 / 256, 2 * sqrt(1.0 / 256) / truncated);
    check_constant("dense_1.bias", d1_bias, 128, 0.0f);
    check_variance("dense_2.kernel", &d2_kernel[0][0], count_of(&refs[4]), 1.0 / 96, 2 * sqrt(1.0 / 96) / truncated);
    check_constant("dense_2.bias", d2_bias, 64, 0.0f);
    check_variance("dense_3.kernel", &d3_kernel[0][0], count_of(&refs[6]), 1.0 / 160, sqrt(3.0 / 160));
    check_constant("dense_3.bias", d3_bias, 64, 0.0f);
}

/* The same seed gives the same weights; another seed other ones. */
static void test_seed_determinism(void **state) {
    (void)state;
    static float first[256][128], again[256][128];
    init_and_read(11);
    memcpy(first, d1_kernel, sizeof first);
    init_and_read(12);
    assert_memory_not_equal(first, d1_kernel, sizeof first);
    init_and_read(11);
    memcpy(again, d1_kernel, sizeof again);
    assert_memory_equal(first, again, sizeof first);
}

/* init_layers: conv2d_transpose_1.kernel [3,3,32,16] (Keras' [kh,kw,filters,C]):
 * fan_in 3*3*32 = 288, fan_out 3*3*16 = 144. The depthwise kernels
 * [5,5,64,8]: fan_in 25*64 = 1600, fan_out 25*8 = 200. The pointwise kernel
 * [1,1,512,128]: 512 and 128. batch_norm_2's vectors of 8192: both fans 8192. */
static float t_kernel[3][3][32][16], t_bias[32];
static float w_kernel[5][5][64][8], w_bias[512];
static float s_depthwise[5][5][64][8], s_pointwise[512][128], s_bias[128];
static float n_gamma[32], n_beta[32], n_mean[32], n_variance[32];
static float v_gamma[8192], v_beta[8192], v_mean[8192], v_variance[8192];

static tdl_tensor_ref layer_refs[] = {
    {"conv2d_transpose_1.kernel", &t_kernel[0][0][0][0], 4, {3, 3, 32, 16}},
    {"conv2d_transpose_1.bias", t_bias, 1, {32}},
    {"depthwise_conv2d_1.depthwise_kernel", &w_kernel[0][0][0][0], 4, {5, 5, 64, 8}},
    {"depthwise_conv2d_1.bias", w_bias, 1, {512}},
    {"separable_conv2d_1.depthwise_kernel", &s_depthwise[0][0][0][0], 4, {5, 5, 64, 8}},
    {"separable_conv2d_1.pointwise_kernel", &s_pointwise[0][0], 4, {1, 1, 512, 128}},
    {"separable_conv2d_1.bias", s_bias, 1, {128}},
    {"batch_norm_1.gamma", n_gamma, 1, {32}},
    {"batch_norm_1.beta", n_beta, 1, {32}},
    {"batch_norm_1.moving_mean", n_mean, 1, {32}},
    {"batch_norm_1.moving_variance", n_variance, 1, {32}},
    {"batch_norm_2.gamma", v_gamma, 1, {8192}},
    {"batch_norm_2.beta", v_beta, 1, {8192}},
    {"batch_norm_2.moving_mean", v_mean, 1, {8192}},
    {"batch_norm_2.moving_variance", v_variance, 1, {8192}},
};
#define LAYER_REF_COUNT (sizeof layer_refs / sizeof layer_refs[0])

static void init_layers_and_read(uint64_t seed) {
    init_layers *m = init_layers_create(2);
    assert_non_null(m);
    init_layers_init(m, seed);
    char path[32];
    temp_path(path);
    assert_int_equal(init_layers_save(m, path), TDL_STATUS_OK);
    read_saved(path, layer_refs, LAYER_REF_COUNT);
    init_layers_destroy(m);
}

/* Each initializer argument of conv2d_transpose, depthwise_conv2d,
 * separable_conv2d and batch_norm decides what init writes: constants
 * exactly, random ones with the variance and bound of Keras' formula for the
 * tensor's fans (he_* and lecun_* read fan_in, glorot_* their mean). */
static void test_layer_initializers_by_name(void **state) {
    (void)state;
    init_layers_and_read(7);
    const double truncated = 0.87962566103423978;
    check_variance("transpose kernel", &t_kernel[0][0][0][0], 3 * 3 * 32 * 16, 2.0 / 288,
                   2 * sqrt(2.0 / 288) / truncated);
    check_constant("transpose bias", t_bias, 32, 1.0f);
    check_variance("depthwise kernel", &w_kernel[0][0][0][0], 5 * 5 * 64 * 8, 1.0 / 1600, sqrt(3.0 / 1600));
    check_constant("depthwise bias", w_bias, 512, 1.0f);
    check_variance("separable dw", &s_depthwise[0][0][0][0], 5 * 5 * 64 * 8, 2.0 / 1600, sqrt(6.0 / 1600));
    check_variance("separable pw", &s_pointwise[0][0], 512 * 128, 1.0 / 320, 2 * sqrt(1.0 / 320) / truncated);
    check_constant("separable bias", s_bias, 128, 1.0f);
    check_constant("bn_1 gamma", n_gamma, 32, 0.0f);
    check_constant("bn_1 beta", n_beta, 32, 1.0f);
    check_constant("bn_1 moving_mean", n_mean, 32, 1.0f);
    check_constant("bn_1 moving_var", n_variance, 32, 0.0f);
    check_variance("bn_2 gamma", v_gamma, 8192, 2.0 / 8192, sqrt(6.0 / 8192));
    check_variance("bn_2 beta", v_beta, 8192, 1.0 / 8192, 2 * sqrt(1.0 / 8192) / truncated);
    check_variance("bn_2 moving_mean", v_mean, 8192, 1.0 / 8192, sqrt(3.0 / 8192));
    check_variance("bn_2 moving_var", v_variance, 8192, 2.0 / 8192, 2 * sqrt(2.0 / 8192) / truncated);
}

/* Random non-trainable state follows the seed like the parameters do. */
static void test_layer_state_seed_determinism(void **state) {
    (void)state;
    static float first[8192];
    init_layers_and_read(11);
    memcpy(first, v_mean, sizeof first);
    init_layers_and_read(12);
    assert_memory_not_equal(first, v_mean, sizeof first);
    init_layers_and_read(11);
    assert_memory_equal(first, v_mean, sizeof first);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_initializers_by_name),
        cmocka_unit_test(test_seed_determinism),
        cmocka_unit_test(test_layer_initializers_by_name),
        cmocka_unit_test(test_layer_state_seed_determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
