/* dense: forward against a plain double matmul, backward against central
 * finite differences.
 *
 * Tolerances: each check passes when |got - want| <= atol + rtol * |want|.
 * - forward: float GEMM over F = 13 terms against double, atol 1e-5, rtol 1e-5.
 * - backward: h = 1e-2; one input moves up to U = 6 outputs, each carrying
 *   the rounding of a 13-term float dot product (~1e-6 in all, ~1e-4 after
 *   dividing by 2h); tanh/sigmoid add O(h^2) truncation: atol 5e-4, rtol 1e-2. */
#include <limits.h>
#include <math.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

/* ------------------------------------------------------------------ */
/* Fixture                                                             */
/* ------------------------------------------------------------------ */

enum { F = 13, U = 6, MAX_B = 7 };
static const float LEAKY_ALPHA = 0.2f;

typedef enum bias_use { WITHOUT_BIAS, WITH_BIAS } bias_use;

typedef struct dense_case {
    tdl_dense_desc d;
    int batch;
    bias_use bias_use;
    float x[MAX_B * F], kernel[F * U], bias[U];
    float y[MAX_B * U], w[MAX_B * U];
} dense_case;

static double reference_activation(double x, tdl_activation activation, double alpha) {
    switch (activation) {
    case TDL_ACTIVATION_LINEAR: return x;
    case TDL_ACTIVATION_RELU: return x > 0 ? x : 0;
    case TDL_ACTIVATION_SIGMOID: return 1.0 / (1.0 + exp(-x));
    case TDL_ACTIVATION_TANH: return tanh(x);
    case TDL_ACTIVATION_LEAKY_RELU: return x > 0 ? x : alpha * x;
    case TDL_ACTIVATION_ELU: return x > 0 ? x : alpha * expm1(x);
    case TDL_ACTIVATION_SOFTPLUS: return log1p(exp(x));
    }
    return NAN;
}

static double reference_pre_activation(const dense_case *c, int b, int u) {
    double s = c->bias_use == WITH_BIAS ? c->bias[u] : 0.0;
    for (int f = 0; f < F; ++f) s += (double)c->x[b * F + f] * c->kernel[f * U + u];
    return s;
}

/* Random inputs; for relu-like activations redrawn until every pre-activation
 * is at least 0.05 from the kink, which a step of 1e-2 on an input of
 * magnitude <= 1 cannot cross. */
static void dense_case_fill(dense_case *c, int batch, tdl_activation activation, bias_use bias_use) {
    c->d = (tdl_dense_desc){.in_features = F, .units = U, .activation = activation, .alpha = LEAKY_ALPHA};
    c->batch = batch;
    c->bias_use = bias_use;
    const bool has_kink = activation == TDL_ACTIVATION_RELU || activation == TDL_ACTIVATION_LEAKY_RELU ||
                          activation == TDL_ACTIVATION_ELU;
    for (int attempt = 0; attempt < 1000; ++attempt) {
        for (int i = 0; i < batch * F; ++i) c->x[i] = uniform(-1.0f, 1.0f);
        for (int i = 0; i < F * U; ++i) c->kernel[i] = uniform(-0.5f, 0.5f);
        for (int i = 0; i < U; ++i) c->bias[i] = uniform(-0.5f, 0.5f);
        for (int i = 0; i < batch * U; ++i) c->w[i] = uniform(-1.0f, 1.0f);
        bool far_from_kink = true;
        for (int b = 0; b < batch && has_kink; ++b) {
            for (int u = 0; u < U; ++u) far_from_kink = far_from_kink && fabs(reference_pre_activation(c, b, u)) >= 0.05;
        }
        if (far_from_kink) return;
    }
    fail_msg("no input far enough from the kink");
}

/* Sum of w * dense(x): its gradients are dense_backward with dy = w. */
static double dense_objective(void *ctx) {
    dense_case *c = ctx;
    tdl_dense_forward(c->y, c->x, c->kernel, c->bias_use == WITH_BIAS ? c->bias : NULL, &c->d, c->batch);
    double s = 0;
    for (int i = 0; i < c->batch * U; ++i) s += (double)c->w[i] * c->y[i];
    return s;
}

static const tdl_activation ALL_ACTIVATIONS[] = {
    TDL_ACTIVATION_LINEAR, TDL_ACTIVATION_RELU, TDL_ACTIVATION_SIGMOID, TDL_ACTIVATION_TANH,
    TDL_ACTIVATION_LEAKY_RELU, TDL_ACTIVATION_ELU, TDL_ACTIVATION_SOFTPLUS,
};
static const int BATCHES[] = {1, 7};

/* ------------------------------------------------------------------ */
/* Tests                                                               */
/* ------------------------------------------------------------------ */

/* y = act(x kernel + bias) for every activation, batch 1 and 7, with and without bias. */
static void test_dense_forward_matches_reference(void **state) {
    (void)state;
    lcg_state = 11;
    static dense_case c;
    for (size_t a = 0; a < sizeof ALL_ACTIVATIONS / sizeof *ALL_ACTIVATIONS; ++a) {
        for (size_t bi = 0; bi < 2; ++bi) {
            for (int use = WITHOUT_BIAS; use <= WITH_BIAS; ++use) {
                dense_case_fill(&c, BATCHES[bi], ALL_ACTIVATIONS[a], (bias_use)use);
                dense_objective(&c);
                for (int b = 0; b < c.batch; ++b) {
                    for (int u = 0; u < U; ++u) {
                        const double want =
                            reference_activation(reference_pre_activation(&c, b, u), c.d.activation, LEAKY_ALPHA);
                        check_close("y", (size_t)(b * U + u), c.y[b * U + u], want, 1e-5, 1e-5);
                    }
                }
            }
        }
    }
}

/* The workspace holds one float per output. */
static void test_dense_workspace_size(void **state) {
    (void)state;
    const tdl_dense_desc d = {.in_features = F, .units = U, .activation = TDL_ACTIVATION_RELU};
    /* dpre alone: 6 units are too few for the input's gradient on libxsmm. */
    assert_int_equal(tdl_dense_workspace_size(&d, 7), 7 * U);
    assert_int_equal(tdl_dense_workspace_size(&d, 1), U);
    /* Then dpre^T and dx^T, and a second owner's dpre and dpre^T, where
     * libxsmm may take it: 16+ units, a batch of 16+. */
    const tdl_dense_desc wide = {.in_features = F, .units = 16, .activation = TDL_ACTIVATION_RELU};
    /* (Built without libxsmm, as the portable runtime is, dpre alone.) */
    const size_t wide_size = tdl_dense_workspace_size(&wide, 16);
    assert_true(wide_size == 16 * (4 * 16 + F) || wide_size == 16 * 16);
    if (tdl_xsmm_available()) assert_int_equal(wide_size, 16 * (4 * 16 + F));
    assert_int_equal(tdl_dense_workspace_size(&wide, 15), 15 * 16);
    /* A size that cannot be counted is SIZE_MAX, never a wrapped one. */
    const tdl_dense_desc huge = {.in_features = INT_MAX, .units = INT_MAX, .activation = TDL_ACTIVATION_RELU};
    const size_t size = tdl_dense_workspace_size(&huge, INT_MAX), side = INT_MAX;
    /* dpre alone (side^2) without libxsmm, else 5 side^2 (which no 64-bit
     * size_t holds); each product is only formed once it is known to fit. */
    const bool dpre_fits = side <= SIZE_MAX / side;
    const bool all_fits = side <= (SIZE_MAX - side) / 2 && side <= SIZE_MAX / (5 * side);
    assert_true(size == SIZE_MAX || (dpre_fits && size == side * side) || (all_fits && size == side * 5 * side));
    assert_true(dpre_fits || size == SIZE_MAX);
}

/* dx, dkernel and dbias match finite differences for every activation and batch, and accumulate. */
static void test_dense_backward_matches_finite_differences(void **state) {
    (void)state;
    lcg_state = 12;
    static dense_case c;
    for (size_t a = 0; a < sizeof ALL_ACTIVATIONS / sizeof *ALL_ACTIVATIONS; ++a) {
        for (size_t bi = 0; bi < 2; ++bi) {
            dense_case_fill(&c, BATCHES[bi], ALL_ACTIVATIONS[a], WITH_BIAS);
            float dx[MAX_B * F], dkernel[F * U], dbias[U], workspace[MAX_B * U];
            for (size_t i = 0; i < MAX_B * F; ++i) dx[i] = 1.0f;
            for (size_t i = 0; i < F * U; ++i) dkernel[i] = 1.0f;
            for (size_t i = 0; i < U; ++i) dbias[i] = 1.0f;
            dense_objective(&c);
            tdl_dense_backward(dx, dkernel, dbias, c.w, c.y, c.x, c.kernel, &c.d, c.batch, workspace);
            for (size_t i = 0; i < (size_t)c.batch * F; ++i) {
                check_close("dx", i, dx[i] - 1.0, central_difference(dense_objective, &c, c.x, i, 1e-2f), 5e-4, 1e-2);
            }
            for (size_t i = 0; i < F * U; ++i) {
                check_close("dkernel", i, dkernel[i] - 1.0,
                            central_difference(dense_objective, &c, c.kernel, i, 1e-2f), 5e-4, 1e-2);
            }
            for (size_t i = 0; i < U; ++i) {
                check_close("dbias", i, dbias[i] - 1.0, central_difference(dense_objective, &c, c.bias, i, 1e-2f),
                            5e-4, 1e-2);
            }
        }
    }
}

/* With dx and dbias NULL only dkernel is written, with the same values. */
static void test_dense_backward_optional_gradients(void **state) {
    (void)state;
    lcg_state = 13;
    static dense_case c;
    dense_case_fill(&c, 7, TDL_ACTIVATION_TANH, WITH_BIAS);
    float full[F * U] = {0}, kernel_only[F * U] = {0}, dx[MAX_B * F] = {0}, dbias[U] = {0};
    float workspace[MAX_B * U];
    dense_objective(&c);
    tdl_dense_backward(dx, full, dbias, c.w, c.y, c.x, c.kernel, &c.d, c.batch, workspace);
    tdl_dense_backward(NULL, kernel_only, NULL, c.w, c.y, c.x, c.kernel, &c.d, c.batch, workspace);
    assert_memory_equal(full, kernel_only, sizeof full);
}

/* The backward leaves the upstream gradient and saved output untouched. */
static void test_dense_backward_keeps_inputs(void **state) {
    (void)state;
    lcg_state = 14;
    static dense_case c;
    dense_case_fill(&c, 7, TDL_ACTIVATION_SIGMOID, WITH_BIAS);
    dense_objective(&c);
    float w_copy[MAX_B * U], y_copy[MAX_B * U], dkernel[F * U] = {0}, workspace[MAX_B * U];
    memcpy(w_copy, c.w, sizeof w_copy);
    memcpy(y_copy, c.y, sizeof y_copy);
    tdl_dense_backward(NULL, dkernel, NULL, c.w, c.y, c.x, c.kernel, &c.d, c.batch, workspace);
    assert_memory_equal(w_copy, c.w, sizeof w_copy);
    assert_memory_equal(y_copy, c.y, sizeof y_copy);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_forward_matches_reference),
        cmocka_unit_test(test_dense_workspace_size),
        cmocka_unit_test(test_dense_backward_matches_finite_differences),
        cmocka_unit_test(test_dense_backward_optional_gradients),
        cmocka_unit_test(test_dense_backward_keeps_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
