/* The optimizer steps split over the thread team: a parameter block large
 * enough for two threads gives the same bits on one thread and on two (where
 * each thread steps its share a chunk at a time), and
 * the same bits as stepping a short slice of it alone (below the split
 * threshold, on one thread). Every rule with every slot: SGD with Nesterov
 * momentum and weight decay, Adam with amsgrad and weight decay (AdamW),
 * centered RMSprop with momentum and weight decay. Their values are checked
 * by hand in test_optim.c and test_rmsprop.c, and against PyTorch in the e2e
 * fixtures. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"

/* Large enough to give each of two threads more than the step's threshold
 * (optim.c's MIN_THREAD_PARAMS, 1M), and odd, so that each thread's last
 * chunk of claimed parameters (optim.c's CLAIM_FLOATS) is a short one;
 * SLICE_* picks a short run in the second thread's half. */
enum { N = (1 << 21) + (1 << 16) + 77, SLICE_BEGIN = N - 1000, SLICE = 300, SLOTS = 4, STEPS = 3 };

/* Parameters and gradients from a fixed sequence; slots start at zero as
 * the optimizers' do (amsgrad's v_hat and RMSprop's velocity too). */
typedef struct block {
    float *param, *slot[SLOTS], *grad;
} block;

static float next_value(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 23) - 1.0f;
}

static block block_new(size_t n) {
    block b;
    b.param = malloc(n * sizeof(float));
    b.grad = malloc(n * sizeof(float));
    assert_true(b.param != NULL && b.grad != NULL);
    for (int s = 0; s < SLOTS; ++s) {
        b.slot[s] = calloc(n, sizeof(float));
        assert_non_null(b.slot[s]);
    }
    uint32_t state = 99u;
    for (size_t i = 0; i < N; ++i) {
        const float p = next_value(&state), g = next_value(&state);
        if (i < n) b.param[i] = p, b.grad[i] = g;
    }
    return b;
}

/* The same values as block_new(N)'s elements [begin, begin + n). */
static block slice_new(size_t begin, size_t n) {
    block whole = block_new(N), b = block_new(n);
    memcpy(b.param, whole.param + begin, n * sizeof(float));
    memcpy(b.grad, whole.grad + begin, n * sizeof(float));
    free(whole.param);
    free(whole.grad);
    for (int s = 0; s < SLOTS; ++s) free(whole.slot[s]);
    return b;
}

static void block_free(block *b) {
    free(b->param);
    free(b->grad);
    for (int s = 0; s < SLOTS; ++s) free(b->slot[s]);
}

typedef enum rule { RULE_SGD, RULE_ADAMW, RULE_RMSPROP } rule;

static void step(rule r, block *b, size_t n, int64_t t) {
    switch (r) {
    case RULE_SGD: {
        const tdl_sgd_config c = {.learning_rate = 0.05f, .momentum = 0.9f, .nesterov = true, .weight_decay = 0.01f};
        tdl_sgd_step(b->param, b->slot[0], b->grad, n, &c);
        return;
    }
    case RULE_ADAMW: {
        const tdl_adam_config c = {.learning_rate = 0.01f, .beta_1 = 0.9f, .beta_2 = 0.999f, .epsilon = 1e-7f,
                                   .weight_decay = 0.004f};
        tdl_adam_amsgrad_step(b->param, b->slot[0], b->slot[1], b->slot[2], b->grad, n, &c, t);
        return;
    }
    case RULE_RMSPROP: {
        const tdl_rmsprop_config c = {.learning_rate = 0.01f, .rho = 0.9f, .momentum = 0.5f, .epsilon = 1e-7f,
                                      .centered = true, .weight_decay = 0.01f};
        tdl_rmsprop_step(b->param, b->slot[0], b->slot[1], b->slot[2], b->grad, n, &c);
        return;
    }
    }
}

static void run_steps(rule r, block *b, size_t n, int threads) {
    const int before = tdl_get_num_threads();
    tdl_set_num_threads(threads);
    for (int64_t t = 1; t <= STEPS; ++t) step(r, b, n, t);
    tdl_set_num_threads(before);
}

static void assert_same_blocks(const block *a, size_t a_offset, const block *b, size_t n) {
    assert_memory_equal(a->param + a_offset, b->param, n * sizeof(float));
    for (int s = 0; s < SLOTS; ++s) assert_memory_equal(a->slot[s] + a_offset, b->slot[s], n * sizeof(float));
}

static void check_rule(rule r) {
    block one = block_new(N), two = block_new(N), slice = slice_new(SLICE_BEGIN, SLICE);
    run_steps(r, &one, N, 1);
    run_steps(r, &two, N, 2);
    run_steps(r, &slice, SLICE, 2);
    assert_same_blocks(&one, 0, &two, N);
    assert_same_blocks(&two, SLICE_BEGIN, &slice, SLICE);
    /* The steps did something: no parameter is left as it started. */
    block start = slice_new(SLICE_BEGIN, SLICE);
    for (size_t i = 0; i < SLICE; ++i) assert_true(slice.param[i] != start.param[i]);
    block_free(&start);
    block_free(&one);
    block_free(&two);
    block_free(&slice);
}

static void test_sgd_split(void **state) {
    (void)state;
    check_rule(RULE_SGD);
}

static void test_adamw_amsgrad_split(void **state) {
    (void)state;
    check_rule(RULE_ADAMW);
}

static void test_rmsprop_centered_split(void **state) {
    (void)state;
    check_rule(RULE_RMSPROP);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_split),
        cmocka_unit_test(test_adamw_amsgrad_split),
        cmocka_unit_test(test_rmsprop_centered_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
