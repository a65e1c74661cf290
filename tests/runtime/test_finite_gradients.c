/* The training step's finiteness check and the gradients it may skip
 * (finite_gradients.c): the maximum that also finds NaN and the
 * infinities, the bound on sums of products, the record of proven ranges
 * and the check around them; and which calls of tdl_dense_train_backward
 * prove their gradients finite (dense.c) and which must not. */
#include <float.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "finite_gradients.h"
#include "param_split.h"
#include "team.h"
#include "tdl/runtime.h"

/* ---- finite_max_abs ----------------------------------------------------- */

/* 37 floats: two vectors of 16 and a tail, so that every position of the
 * loop is tried. */
enum { N = 37 };

static void fill_ramp(float *x) {
    for (int i = 0; i < N; ++i) x[i] = (i % 2 ? -0.25f : 0.5f) * (float)(i % 7);
}

static void test_max_abs_of_finite_values(void **state) {
    (void)state;
    float x[N], top = -1.0f;
    fill_ramp(x);
    assert_true(finite_max_abs(x, N, &top));
    assert_true(top == 3.0f); /* 0.5 * 6 */
    x[20] = -FLT_MAX;
    assert_true(finite_max_abs(x, N, &top));
    assert_true(top == FLT_MAX);
    const float tiny[3] = {-0.0f, 1e-45f, -0.0f}; /* the smallest subnormal */
    assert_true(finite_max_abs(tiny, 3, &top));
    assert_true(top == 1e-45f);
    assert_true(finite_max_abs(x, 0, &top));
    assert_true(top == 0.0f);
}

static void test_max_abs_finds_every_non_finite(void **state) {
    (void)state;
    const float bad[] = {NAN, -NAN, INFINITY, -INFINITY};
    const int places[] = {0, 9, 15, 16, 31, 32, 36};
    float x[N];
    for (size_t b = 0; b < sizeof bad / sizeof bad[0]; ++b) {
        for (size_t p = 0; p < sizeof places / sizeof places[0]; ++p) {
            fill_ramp(x);
            x[places[p]] = bad[b];
            float top = 0.0f;
            assert_false(finite_max_abs(x, N, &top));
            assert_false(finite_all(x, N));
        }
    }
    fill_ramp(x);
    assert_true(finite_all(x, N));
}

/* ---- finite_sums_bounded ---------------------------------------------- */

static void test_sums_bound(void **state) {
    (void)state;
    assert_true(finite_sums_bounded(1.0f, 1.0f, 32));
    assert_true(finite_sums_bounded(0.0f, 0.0f, 0));
    /* 2 * 32 * 1 * FLT_MAX / 64 is FLT_MAX: not below it. */
    assert_false(finite_sums_bounded(1.0f, FLT_MAX / 64.0f, 32));
    assert_true(finite_sums_bounded(1.0f, FLT_MAX / 128.0f, 32));
    /* A factor below 1 still leaves the sums of b alone to bound. */
    assert_false(finite_sums_bounded(1e-30f, FLT_MAX / 64.0f, 32));
    assert_false(finite_sums_bounded(1e20f, 1e20f, 1));
    assert_false(finite_sums_bounded(INFINITY, 1.0f, 1));
    assert_false(finite_sums_bounded(NAN, 1.0f, 1));
    assert_false(finite_sums_bounded(1.0f, 1.0f, ((size_t)1 << 22) + 1));
    assert_true(finite_sums_bounded(1.0f, 1.0f, (size_t)1 << 22));
}

/* The bound holds for the worst sums it admits: every product at its
 * largest, all of one sign, summed in float one after another. */
static void test_sums_admitted_stay_finite(void **state) {
    (void)state;
    const size_t terms = 1000;
    float a = 3e18f, b = 3e17f;
    while (!finite_sums_bounded(a, b, terms)) b *= 0.5f;
    float sum = 0.0f;
    for (size_t i = 0; i < terms; ++i) sum += a * b;
    assert_true(isfinite(sum));
    assert_false(finite_sums_bounded(a, b * 4.0f, terms));
}

/* ---- the record of proven ranges ---------------------------------------- */

static void test_proofs_kept_sorted_and_disjoint(void **state) {
    (void)state;
    finite_proofs p = {0};
    finite_proofs_add(&p, 100, 200);
    finite_proofs_add(&p, 10, 20);
    finite_proofs_add(&p, 200, 250); /* touching is not overlapping */
    finite_proofs_add(&p, 30, 30);   /* empty */
    assert_int_equal(p.count, 3);
    const size_t begin[] = {10, 100, 200}, end[] = {20, 200, 250};
    for (int i = 0; i < 3; ++i) {
        assert_int_equal(p.begin[i], begin[i]);
        assert_int_equal(p.end[i], end[i]);
    }
    /* A range written twice proves nothing: both records go. */
    finite_proofs_add(&p, 150, 210);
    assert_int_equal(p.count, 1);
    assert_int_equal(p.begin[0], 10);
    finite_proofs_add(NULL, 0, 1);
}

static void test_proofs_full_record_nothing_more(void **state) {
    (void)state;
    finite_proofs p = {0};
    for (size_t i = 0; i < FINITE_PROOFS_MAX + 5; ++i) finite_proofs_add(&p, 10 * i, 10 * i + 5);
    assert_int_equal(p.count, FINITE_PROOFS_MAX);
    assert_int_equal(p.end[FINITE_PROOFS_MAX - 1], 10 * (FINITE_PROOFS_MAX - 1) + 5);
}

static void test_check_skips_only_proven_ranges(void **state) {
    (void)state;
    float grads[64] = {0.0f};
    finite_proofs p = {0};
    finite_proofs_add(&p, 8, 16);
    finite_proofs_add(&p, 30, 40);
    const size_t skipped[] = {8, 15, 30, 39}, read[] = {0, 7, 16, 29, 40, 63};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; ++i) {
        grads[skipped[i]] = NAN;
        assert_true(finite_all_unproven(&p, grads, 0, 64));
        assert_false(finite_all_unproven(NULL, grads, 0, 64));
        grads[skipped[i]] = 0.0f;
    }
    for (size_t i = 0; i < sizeof read / sizeof read[0]; ++i) {
        grads[read[i]] = INFINITY;
        assert_false(finite_all_unproven(&p, grads, 0, 64));
        grads[read[i]] = 0.0f;
    }
    /* Ranges that start or end inside a proof, as the team's shares do. */
    grads[12] = NAN;
    grads[35] = NAN;
    assert_true(finite_all_unproven(&p, grads, 10, 38));
    grads[20] = NAN;
    assert_false(finite_all_unproven(&p, grads, 10, 38));
    assert_true(finite_all_unproven(&p, grads, 21, 38));
}

/* ---- what tdl_dense_train_backward proves --------------------------------- */

/* A model of one dense layer, 520 -> 211: its kernel, then its bias. */
enum { F = 520, U = 211, KERNEL = F * U, PARAMS = KERNEL + U, B = 17, MAX_BATCH = 150 };

static const tdl_param_info layer_params[2] = {
    {"dense.kernel", 0, KERNEL, 2, {F, U}, TDL_INIT_ZEROS, F, U},
    {"dense.bias", KERNEL, U, 1, {U}, TDL_INIT_ZEROS, U, U},
};

typedef struct layer {
    float params[PARAMS], grads[PARAMS];
    float x[MAX_BATCH * F], y[MAX_BATCH * U], dy[MAX_BATCH * U], dx[MAX_BATCH * F];
} layer;

static layer *layer_make(void) {
    layer *l = calloc(1, sizeof *l);
    assert_non_null(l);
    for (int i = 0; i < PARAMS; ++i) l->params[i] = (float)(i % 13) * 0.01f - 0.06f;
    for (int i = 0; i < MAX_BATCH * F; ++i) l->x[i] = (float)(i % 11) * 0.1f;
    for (int i = 0; i < MAX_BATCH * U; ++i) {
        l->y[i] = (float)(i % 3); /* relu: zero or not */
        l->dy[i] = (float)(i % 5) * 0.02f - 0.04f;
    }
    return l;
}

/* The proofs of one call of tdl_dense_train_backward (or, with `accumulate`,
 * tdl_dense_backward) inside a training step of the layer's model. */
static finite_proofs backward_proofs(layer *l, tdl_activation activation, int batch, bool accumulate) {
    const tdl_model_info info = {.name = "layer", .params = layer_params, .param_tensors = 2,
                                 .layout = {.param_floats = PARAMS, .grad_floats = PARAMS}};
    finite_proofs proofs = {0};
    const param_split_step step = {&info, l->params, l->grads, &proofs};
    const tdl_dense_desc d = {.in_features = F, .units = U, .activation = activation};
    float *workspace = malloc(tdl_dense_workspace_size(&d, batch) * sizeof(float));
    assert_non_null(workspace);
    tdl_team_set_training_step(true);
    tdl_team_set_step_model(&step);
    if (accumulate)
        tdl_dense_backward(l->dx, l->grads, l->grads + KERNEL, l->dy, l->y, l->x, l->params, &d, batch,
                           workspace);
    else
        tdl_dense_train_backward(l->dx, l->grads, l->grads + KERNEL, l->dy, l->y, l->x, l->params, &d, batch,
                                 workspace, TDL_DX_ADD);
    tdl_team_set_step_model(NULL);
    tdl_team_set_training_step(false);
    free(workspace);
    return proofs;
}

static void test_dense_backward_proves_its_gradients(void **state) {
    (void)state;
    layer *l = layer_make();
    for (int threads = 1; threads <= 2; ++threads) {
        const int before = tdl_get_num_threads();
        tdl_set_num_threads(threads);
        const tdl_activation activations[] = {TDL_ACTIVATION_RELU, TDL_ACTIVATION_LINEAR};
        for (int a = 0; a < 2; ++a) {
            const finite_proofs p = backward_proofs(l, activations[a], B, false);
            assert_int_equal(p.count, 2);
            assert_int_equal(p.begin[0], 0);
            assert_int_equal(p.end[0], KERNEL);
            assert_int_equal(p.begin[1], KERNEL);
            assert_int_equal(p.end[1], PARAMS);
            assert_true(finite_all(l->grads, PARAMS));
        }
        tdl_set_num_threads(before);
    }
    free(l);
}

static void test_dense_backward_proves_nothing_it_cannot(void **state) {
    (void)state;
    layer *l = layer_make();
    /* A NaN or an infinity in either factor. */
    const float bad[] = {NAN, INFINITY};
    for (int k = 0; k < 2; ++k) {
        l->x[F * 3 + 7] = bad[k];
        assert_int_equal(backward_proofs(l, TDL_ACTIVATION_RELU, B, false).count, 0);
        l->x[F * 3 + 7] = 0.5f;
        l->dy[U * 16 + 210] = bad[k];
        assert_int_equal(backward_proofs(l, TDL_ACTIVATION_LINEAR, B, false).count, 0);
        l->dy[U * 16 + 210] = 0.02f;
    }
    /* Finite factors whose sums may overflow: 2 * 17 * 1e30 * 1e10 > FLT_MAX. */
    l->x[5] = 1e30f;
    l->dy[5] = 1e10f;
    assert_int_equal(backward_proofs(l, TDL_ACTIVATION_LINEAR, B, false).count, 0);
    l->x[5] = 0.5f;
    l->dy[5] = 0.02f;
    /* An activation whose derivative no bound here covers. */
    assert_int_equal(backward_proofs(l, TDL_ACTIVATION_TANH, B, false).count, 0);
    /* Gradients added to rather than written. */
    assert_int_equal(backward_proofs(l, TDL_ACTIVATION_RELU, B, true).count, 0);
    /* Factors (150 * (520 + 211) floats) too many for the proof to pay. */
    assert_int_equal(backward_proofs(l, TDL_ACTIVATION_RELU, MAX_BATCH, false).count, 0);
    /* And the same call proves again once the factors are back. */
    assert_int_equal(backward_proofs(l, TDL_ACTIVATION_RELU, B, false).count, 2);
    free(l);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_abs_of_finite_values),
        cmocka_unit_test(test_max_abs_finds_every_non_finite),
        cmocka_unit_test(test_sums_bound),
        cmocka_unit_test(test_sums_admitted_stay_finite),
        cmocka_unit_test(test_proofs_kept_sorted_and_disjoint),
        cmocka_unit_test(test_proofs_full_record_nothing_more),
        cmocka_unit_test(test_check_skips_only_proven_ranges),
        cmocka_unit_test(test_dense_backward_proves_its_gradients),
        cmocka_unit_test(test_dense_backward_proves_nothing_it_cannot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
