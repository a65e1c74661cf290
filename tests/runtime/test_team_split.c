/* The kernels that split independent rows, channels or elements over the
 * thread team (zero_padding2d/cropping2d, upsample2d, concat, subtract,
 * multiply, rescaling, the activations, softmax, gelu, swish, batch_norm):
 * on problems large enough
 * to split (each at least three times the 131072-float share a thread
 * needs), 2 and 3 threads give exactly the bits 1 thread gives, and 1 thread
 * matches a plain reference where the kernel is a copy or one float
 * operation per element (the small-case tests of each kernel check the
 * arithmetic itself). Gradients start from a pattern, not 0, so
 * accumulation is covered too. Built under ThreadSanitizer in CI (TSC_TSAN). */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/runtime.h"
#include "numeric_check.h"

enum { MOST_THREADS = 3 };

static float *random_floats(size_t n) {
    float *x = malloc(n * sizeof *x);
    assert_non_null(x);
    for (size_t i = 0; i < n; ++i) x[i] = uniform(-2.0f, 2.0f);
    return x;
}

/* One kernel call: writes (or adds onto) out, which holds out_count floats. */
typedef struct split_case {
    const char *what;
    void (*run)(const void *problem, float *out);
    const void *problem;
    size_t out_count;
} split_case;

/* out after the call with `threads` threads, out starting from a fixed pattern. */
static float *run_with(const split_case *c, int threads) {
    tdl_set_num_threads(threads);
    float *out = malloc(c->out_count * sizeof *out);
    assert_non_null(out);
    for (size_t i = 0; i < c->out_count; ++i) out[i] = 0.25f * (float)(i % 7);
    c->run(c->problem, out);
    return out;
}

/* The 1-thread result (for the caller to free), after checking that 2 and 3
 * threads give the same bits. */
static float *same_bits_for_every_thread_count(const split_case *c) {
    const int before = tdl_get_num_threads();
    float *one = run_with(c, 1);
    for (int threads = 2; threads <= MOST_THREADS; ++threads) {
        float *other = run_with(c, threads);
        for (size_t i = 0; i < c->out_count; ++i)
            if (memcmp(&one[i], &other[i], sizeof one[i]) != 0)
                fail_msg("%s: %d threads give %.9g at %zu, 1 thread %.9g", c->what, threads, other[i], i, one[i]);
        free(other);
    }
    tdl_set_num_threads(before);
    return one;
}

/* ------------------------------------------------------------------ */
/* zero_padding2d and cropping2d                                       */
/* ------------------------------------------------------------------ */

typedef struct pad_problem {
    tdl_pad2d_desc d;
    int batch;
    const float *x, *dy;
} pad_problem;

static int padded_h(const tdl_pad2d_desc *d) { return d->in_h + d->top + d->bottom; }
static int padded_w(const tdl_pad2d_desc *d) { return d->in_w + d->left + d->right; }

static void pad_forward(const void *problem, float *out) {
    const pad_problem *p = problem;
    tdl_pad2d_forward(out, p->x, &p->d, p->batch);
}

static void pad_backward(const void *problem, float *out) {
    const pad_problem *p = problem;
    tdl_pad2d_backward(out, p->dy, &p->d, p->batch);
}

/* Rows padded at the top and cropped at the bottom, columns the other way. */
static void test_pad2d_split(void **state) {
    (void)state;
    lcg_state = 31;
    pad_problem p = {{64, 64, 32, 2, -1, -2, 3}, 4, NULL, NULL};
    const int oh = padded_h(&p.d), ow = padded_w(&p.d), c = p.d.channels;
    const size_t nx = (size_t)p.batch * 64 * 64 * 32, ny = (size_t)p.batch * (size_t)oh * (size_t)ow * (size_t)c;
    float *x = random_floats(nx), *dy = random_floats(ny);
    p.x = x;
    p.dy = dy;
    const split_case forward = {"pad2d forward", pad_forward, &p, ny};
    const split_case backward = {"pad2d backward", pad_backward, &p, nx};
    float *y = same_bits_for_every_thread_count(&forward);
    float *dx = same_bits_for_every_thread_count(&backward);
    size_t j = 0;
    for (int b = 0; b < p.batch; ++b)
        for (int i = 0; i < oh; ++i)
            for (int k = 0; k < ow; ++k)
                for (int ch = 0; ch < c; ++ch, ++j) {
                    const int r = i - p.d.top, s = k - p.d.left;
                    const bool inside = r >= 0 && r < p.d.in_h && s >= 0 && s < p.d.in_w;
                    const size_t from = (((size_t)b * 64 + (size_t)r) * 64 + (size_t)s) * 32 + (size_t)ch;
                    const float want = inside ? x[from] : 0.0f;
                    if (y[j] != want) fail_msg("pad2d forward[%zu] = %g, want %g", j, y[j], want);
                    /* The pattern dx started from, plus the one gradient that reached it. */
                    if (inside && dx[from] != 0.25f * (float)(from % 7) + dy[j])
                        fail_msg("pad2d backward[%zu] = %g", from, dx[from]);
                }
    free(dx);
    free(y);
    free(dy);
    free(x);
}

/* ------------------------------------------------------------------ */
/* upsample2d                                                          */
/* ------------------------------------------------------------------ */

typedef struct upsample_problem {
    tdl_upsample2d_desc d;
    int batch;
    const float *x, *dy;
} upsample_problem;

static void upsample_forward(const void *problem, float *out) {
    const upsample_problem *p = problem;
    tdl_upsample2d_forward(out, p->x, &p->d, p->batch);
}

static void upsample_backward(const void *problem, float *out) {
    const upsample_problem *p = problem;
    tdl_upsample2d_backward(out, p->dy, &p->d, p->batch);
}

/* Nearest and bilinear, sizes 2x2 and 3x2; nearest forward is a copy of the pixel i/sh, k/sw. */
static void test_upsample2d_split(void **state) {
    (void)state;
    lcg_state = 32;
    static const tdl_upsample2d_desc descs[] = {
        {32, 32, 32, 2, 2, TDL_INTERPOLATION_NEAREST},
        {32, 32, 32, 2, 2, TDL_INTERPOLATION_BILINEAR},
        {20, 24, 32, 3, 2, TDL_INTERPOLATION_BILINEAR},
    };
    for (size_t k = 0; k < sizeof descs / sizeof descs[0]; ++k) {
        upsample_problem p = {descs[k], 3, NULL, NULL};
        const size_t nx = (size_t)p.batch * (size_t)p.d.in_h * (size_t)p.d.in_w * (size_t)p.d.channels;
        const size_t ny = nx * (size_t)p.d.size_h * (size_t)p.d.size_w;
        float *x = random_floats(nx), *dy = random_floats(ny);
        p.x = x;
        p.dy = dy;
        const split_case forward = {"upsample2d forward", upsample_forward, &p, ny};
        const split_case backward = {"upsample2d backward", upsample_backward, &p, nx};
        float *y = same_bits_for_every_thread_count(&forward);
        float *dx = same_bits_for_every_thread_count(&backward);
        if (p.d.interpolation == TDL_INTERPOLATION_NEAREST) {
            const int oh = p.d.in_h * p.d.size_h, ow = p.d.in_w * p.d.size_w, c = p.d.channels;
            size_t j = 0;
            for (int b = 0; b < p.batch; ++b)
                for (int i = 0; i < oh; ++i)
                    for (int s = 0; s < ow; ++s)
                        for (int ch = 0; ch < c; ++ch, ++j) {
                            const size_t from =
                                (((size_t)b * (size_t)p.d.in_h + (size_t)(i / p.d.size_h)) * (size_t)p.d.in_w +
                                 (size_t)(s / p.d.size_w)) * (size_t)c + (size_t)ch;
                            if (y[j] != x[from]) fail_msg("upsample2d nearest[%zu] = %g, want %g", j, y[j], x[from]);
                        }
        }
        free(dx);
        free(y);
        free(dy);
        free(x);
    }
}

/* ------------------------------------------------------------------ */
/* concat                                                              */
/* ------------------------------------------------------------------ */

enum { CONCAT_OUTER = 512, CONCAT_INNER = 16, CONCAT_A = 40, CONCAT_B = 24 };

typedef struct concat_problem {
    const float *inputs[2];
    const float *dy;
} concat_problem;

static const int concat_lens[2] = {CONCAT_A, CONCAT_B};

static void concat_forward(const void *problem, float *out) {
    const concat_problem *p = problem;
    tdl_concat_forward(out, p->inputs, concat_lens, 2, CONCAT_OUTER, CONCAT_INNER);
}

/* Both input gradients in one buffer: a's, then b's. */
static void concat_backward(const void *problem, float *out) {
    const concat_problem *p = problem;
    float *const dinputs[2] = {out, out + (size_t)CONCAT_OUTER * CONCAT_A * CONCAT_INNER};
    tdl_concat_backward(dinputs, p->dy, concat_lens, 2, CONCAT_OUTER, CONCAT_INNER);
}

/* Forward places each input's run under each outer index; backward is its adjoint. */
static void test_concat_split(void **state) {
    (void)state;
    lcg_state = 33;
    const size_t na = (size_t)CONCAT_OUTER * CONCAT_A * CONCAT_INNER;
    const size_t nb = (size_t)CONCAT_OUTER * CONCAT_B * CONCAT_INNER;
    float *a = random_floats(na), *b = random_floats(nb), *dy = random_floats(na + nb);
    concat_problem p = {{a, b}, dy};
    const split_case forward = {"concat forward", concat_forward, &p, na + nb};
    const split_case backward = {"concat backward", concat_backward, &p, na + nb};
    float *y = same_bits_for_every_thread_count(&forward);
    float *dx = same_bits_for_every_thread_count(&backward);
    const size_t run_a = (size_t)CONCAT_A * CONCAT_INNER, run_b = (size_t)CONCAT_B * CONCAT_INNER;
    for (size_t o = 0; o < CONCAT_OUTER; ++o)
        for (size_t k = 0; k < run_a + run_b; ++k) {
            const size_t j = o * (run_a + run_b) + k;
            const size_t from = k < run_a ? o * run_a + k : na + o * run_b + (k - run_a);
            const float want = k < run_a ? a[o * run_a + k] : b[o * run_b + (k - run_a)];
            if (y[j] != want) fail_msg("concat forward[%zu] = %g, want %g", j, y[j], want);
            if (dx[from] != 0.25f * (float)(from % 7) + dy[j]) fail_msg("concat backward[%zu] = %g", from, dx[from]);
        }
    free(dx);
    free(y);
    free(dy);
    free(b);
    free(a);
}

/* ------------------------------------------------------------------ */
/* elementwise: subtract, multiply, rescaling, gelu, swish             */
/* ------------------------------------------------------------------ */

enum { ELEMENTS = 400000 };

typedef struct elementwise_problem {
    const float *a, *b, *dy;
} elementwise_problem;

static void subtract_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_subtract_forward(out, p->a, p->b, ELEMENTS);
}

static void subtract_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_subtract_backward(out, out + ELEMENTS, p->dy, ELEMENTS);
}

static void multiply_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_multiply_forward(out, p->a, p->b, ELEMENTS);
}

static void multiply_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_multiply_backward(out, out + ELEMENTS, p->dy, p->a, p->b, ELEMENTS);
}

static void rescaling_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_rescaling_forward(out, p->a, ELEMENTS, 0.5f, -1.0f);
}

static void rescaling_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_rescaling_backward(out, p->dy, ELEMENTS, 0.5f);
}

static void gelu_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_gelu_forward(out, p->a, ELEMENTS, TDL_GELU_TANH);
}

static void gelu_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_gelu_backward(out, p->dy, p->a, ELEMENTS, TDL_GELU_EXACT);
}

static void swish_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_swish_forward(out, p->a, ELEMENTS);
}

static void swish_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_swish_backward(out, p->dy, p->a, ELEMENTS);
}

static void tanh_forward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_activation_forward(out, p->a, ELEMENTS, TDL_ACTIVATION_TANH, 0.0f);
}

/* In place: y aliases x. */
static void relu_forward_in_place(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    memcpy(out, p->a, ELEMENTS * sizeof *out);
    tdl_activation_forward(out, out, ELEMENTS, TDL_ACTIVATION_RELU, 0.0f);
}

static void elu_backward(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_activation_backward(out, p->dy, p->a, ELEMENTS, TDL_ACTIVATION_ELU, 1.0f);
}

/* dx is y's own buffer. */
static void sigmoid_backward_onto_y(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    memcpy(out, p->b, ELEMENTS * sizeof *out);
    tdl_activation_backward(out, p->dy, out, ELEMENTS, TDL_ACTIVATION_SIGMOID, 0.0f);
}

/* softmax over rows of 100 (ELEMENTS = 4000 rows), and over the middle axis of (40, 100, 100). */
static void softmax_last_axis(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_softmax_forward(out, p->a, ELEMENTS / 100, 100, 1);
}

static void softmax_middle_axis(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_softmax_forward(out, p->a, 40, 100, ELEMENTS / 4000);
}

static void softmax_gradient(const void *problem, float *out) {
    const elementwise_problem *p = problem;
    tdl_softmax_backward(out, p->dy, p->b, ELEMENTS / 100, 100, 1);
}

/* Every elementwise kernel gives the same bits on any thread count; the
 * one-operation ones equal that operation in the test. */
static void test_elementwise_split(void **state) {
    (void)state;
    lcg_state = 34;
    float *a = random_floats(ELEMENTS), *b = random_floats(ELEMENTS), *dy = random_floats(ELEMENTS);
    const elementwise_problem p = {a, b, dy};
    const split_case cases[] = {
        {"subtract forward", subtract_forward, &p, ELEMENTS},
        {"subtract backward", subtract_backward, &p, 2 * ELEMENTS},
        {"multiply forward", multiply_forward, &p, ELEMENTS},
        {"multiply backward", multiply_backward, &p, 2 * ELEMENTS},
        {"rescaling forward", rescaling_forward, &p, ELEMENTS},
        {"rescaling backward", rescaling_backward, &p, ELEMENTS},
        {"gelu forward", gelu_forward, &p, ELEMENTS},
        {"gelu backward", gelu_backward, &p, ELEMENTS},
        {"swish forward", swish_forward, &p, ELEMENTS},
        {"swish backward", swish_backward, &p, ELEMENTS},
        {"tanh forward", tanh_forward, &p, ELEMENTS},
        {"relu forward in place", relu_forward_in_place, &p, ELEMENTS},
        {"elu backward", elu_backward, &p, ELEMENTS},
        {"sigmoid backward onto y", sigmoid_backward_onto_y, &p, ELEMENTS},
        {"softmax last axis", softmax_last_axis, &p, ELEMENTS},
        {"softmax middle axis", softmax_middle_axis, &p, ELEMENTS},
        {"softmax backward", softmax_gradient, &p, ELEMENTS},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; ++k) {
        float *out = same_bits_for_every_thread_count(&cases[k]);
        for (size_t i = 0; i < ELEMENTS; ++i) {
            const float start = 0.25f * (float)(i % 7), start_b = 0.25f * (float)((i + ELEMENTS) % 7);
            if (k == 0) check_close("subtract", i, out[i], (double)a[i] - (double)b[i], 0.0, 1e-7);
            if (k == 1) {
                check_close("subtract da", i, out[i], (double)start + dy[i], 0.0, 1e-7);
                check_close("subtract db", i, out[ELEMENTS + i], (double)start_b - dy[i], 0.0, 1e-7);
            }
            if (k == 2) check_close("multiply", i, out[i], (double)a[i] * b[i], 0.0, 1e-7);
            if (k == 3) {
                check_close("multiply da", i, out[i], start + (double)dy[i] * b[i], 1e-6, 1e-6);
                check_close("multiply db", i, out[ELEMENTS + i], start_b + (double)dy[i] * a[i], 1e-6, 1e-6);
            }
            if (k == 4) check_close("rescaling", i, out[i], (double)a[i] * 0.5 - 1.0, 1e-7, 1e-6);
            if (k == 5) check_close("rescaling dx", i, out[i], start + (double)dy[i] * 0.5, 1e-7, 1e-6);
            if (k == 11) check_close("relu", i, out[i], a[i] > 0.0f ? a[i] : 0.0, 0.0, 0.0);
        }
        free(out);
    }
    free(dy);
    free(b);
    free(a);
}

/* ------------------------------------------------------------------ */
/* batch_norm                                                          */
/* ------------------------------------------------------------------ */

typedef struct norm_problem {
    tdl_batch_norm_desc d;
    int batch;
    const float *x, *dy, *gamma, *beta;
} norm_problem;

static size_t norm_elements(const norm_problem *p) {
    return (size_t)p->batch * p->d.outer * (size_t)p->d.channels * p->d.inner;
}

/* y, then the batch mean and variance. */
static void norm_train(const void *problem, float *out) {
    const norm_problem *p = problem;
    const size_t n = norm_elements(p), c = (size_t)p->d.channels;
    tdl_batch_norm_forward_train(out, out + n, out + n + c, p->x, p->gamma, p->beta, &p->d, p->batch);
}

/* y from statistics taken from x by one thread's forward_train. */
static void norm_forward(const void *problem, float *out) {
    const norm_problem *p = problem;
    const size_t n = norm_elements(p), c = (size_t)p->d.channels;
    float *mean = out + n, *variance = out + n + c;
    for (size_t k = 0; k < c; ++k) {
        mean[k] = 0.01f * (float)k;
        variance[k] = 1.0f + 0.02f * (float)k;
    }
    tdl_batch_norm_forward(out, p->x, mean, variance, p->gamma, p->beta, &p->d, p->batch);
}

/* dx, then dgamma and dbeta, with made-up statistics. */
static void norm_backward(const void *problem, float *out) {
    const norm_problem *p = problem;
    const size_t n = norm_elements(p), c = (size_t)p->d.channels;
    float *mean = malloc(c * sizeof *mean), *variance = malloc(c * sizeof *variance);
    assert_true(mean != NULL && variance != NULL);
    for (size_t k = 0; k < c; ++k) {
        mean[k] = 0.01f * (float)k;
        variance[k] = 1.0f + 0.02f * (float)k;
    }
    tdl_batch_norm_backward(out, out + n, out + n + c, p->dy, p->x, mean, variance, p->gamma, &p->d, p->batch);
    free(variance);
    free(mean);
}

/* The channels last (two tiles of 64 and a part) and in the middle (inner > 1). */
static void test_batch_norm_split(void **state) {
    (void)state;
    lcg_state = 35;
    static const tdl_batch_norm_desc descs[] = {{512, 96, 1, 1e-3f}, {64, 6, 700, 1e-3f}};
    for (size_t k = 0; k < sizeof descs / sizeof descs[0]; ++k) {
        norm_problem p = {descs[k], 8, NULL, NULL, NULL, NULL};
        const size_t n = norm_elements(&p), c = (size_t)p.d.channels;
        float *x = random_floats(n), *dy = random_floats(n), *gamma = random_floats(c), *beta = random_floats(c);
        p.x = x;
        p.dy = dy;
        p.gamma = gamma;
        p.beta = beta;
        const split_case cases[] = {
            {"batch_norm forward_train", norm_train, &p, n + 2 * c},
            {"batch_norm forward", norm_forward, &p, n + 2 * c},
            {"batch_norm backward", norm_backward, &p, n + 2 * c},
        };
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; ++i) free(same_bits_for_every_thread_count(&cases[i]));
        free(beta);
        free(gamma);
        free(dy);
        free(x);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pad2d_split),
        cmocka_unit_test(test_upsample2d_split),
        cmocka_unit_test(test_concat_split),
        cmocka_unit_test(test_elementwise_split),
        cmocka_unit_test(test_batch_norm_split),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
