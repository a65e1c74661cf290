/* The C generated for batch_norm: in forward and evaluate, a batch_norm
 * that directly follows a conv2d and is the only reader of its output is
 * folded into the convolution's output pass (tdl_conv2d_affine_forward with
 * the scale and shift of the moving statistics); train_step normalises with
 * the batch's statistics in a step of its own. Where the convolution's plain
 * output is needed elsewhere, or the axis is not the channels, nothing is
 * folded. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"

/* The generated source of the one model in `text` (heap). */
static char *generate(const char *text) {
    tsc_source *source = tsc_source_from_string("bn.tdl", text, strlen(text));
    assert_non_null(source);
    diag_begin(NULL);
    ast_file *ast = NULL;
    checked_file *checked = NULL;
    assert_int_equal(tsc_parse(source, &ast), 0);
    assert_int_equal(tsc_check(ast, &checked), 0);
    diag_end();
    char *header = NULL, *code = NULL;
    size_t header_size = 0, code_size = 0;
    FILE *h = open_memstream(&header, &header_size), *c = open_memstream(&code, &code_size);
    assert_non_null(h);
    assert_non_null(c);
    tsc_emit_model(&checked->models[0], "bn.tdl", h, c);
    fclose(h);
    fclose(c);
    free(header);
    checked_file_free(checked);
    ast_file_free(ast);
    tsc_source_free(source);
    return code;
}

/* The body of one pass function ("infer_pass", "eval_pass", "train_pass"): a heap copy. */
static char *pass_of(const char *code, const char *pass) {
    char signature[64];
    snprintf(signature, sizeof signature, "_%s(tdl_model *m", pass);
    const char *begin = strstr(code, signature);
    assert_non_null(begin);
    const char *end = strstr(begin, "\n}\n");
    assert_non_null(end);
    size_t n = (size_t)(end - begin);
    char *body = malloc(n + 1);
    assert_non_null(body);
    memcpy(body, begin, n);
    body[n] = '\0';
    return body;
}

static int count(const char *text, const char *what) {
    int n = 0;
    for (const char *p = strstr(text, what); p; p = strstr(p + 1, what)) n++;
    return n;
}

#define MODEL(body)                                                                                  \
    "model bn {\n    input image : f32[B, 6, 6, 2];\n    input t : f32[B, 3];\n" body                \
    "    f = flatten(x);\n    p = dense(f, units=3);\n    loss mse = mean_squared_error(t, p);\n"    \
    "    output p;\n    optimizer sgd(learning_rate=0.1);\n}\n"

/* conv2d -> batch_norm: one step in forward and evaluate, two in train_step. */
static void test_folded_into_conv(void **state) {
    (void)state;
    char *code = generate(MODEL("    c = conv2d(image, filters=4, kernel_size=3, activation=relu);\n"
                                "    x = batch_norm(c);\n"));
    const char *const passes[2] = {"infer_pass", "eval_pass"};
    for (int i = 0; i < 2; i++) {
        char *body = pass_of(code, passes[i]);
        assert_int_equal(count(body, "tdl_batch_norm_scale_shift("), 1);
        assert_int_equal(count(body, "tdl_conv2d_affine_forward(v_batch_norm_1, v_image,"), 1);
        assert_int_equal(count(body, "tdl_conv2d_forward("), 0);
        assert_int_equal(count(body, "tdl_batch_norm_forward("), 0);
        assert_int_equal(count(body, "v_conv2d_1"), 0);   /* the plain output is never written */
        free(body);
    }
    char *train = pass_of(code, "train_pass");
    assert_int_equal(count(train, "tdl_conv2d_forward(v_conv2d_1,"), 1);
    assert_int_equal(count(train, "tdl_batch_norm_forward_train(v_batch_norm_1, m->batch_state + 0, m->batch_state + 4,"), 1);
    assert_int_equal(count(train, "tdl_conv2d_affine_forward("), 0);
    free(train);
    free(code);
}

/* The convolution's output also feeds an add: it must exist, so no folding. */
static void test_not_folded_when_output_is_read_twice(void **state) {
    (void)state;
    char *code = generate(MODEL("    c = conv2d(image, filters=4, kernel_size=3, padding=same);\n"
                                "    n = batch_norm(c);\n"
                                "    x = add(c, n);\n"));
    char *body = pass_of(code, "infer_pass");
    assert_int_equal(count(body, "tdl_conv2d_affine_forward("), 0);
    assert_int_equal(count(body, "tdl_conv2d_forward(v_conv2d_1,"), 1);
    assert_int_equal(count(body, "tdl_batch_norm_forward(v_batch_norm_1, v_conv2d_1,"), 1);
    free(body);
    free(code);
}

/* A batch_norm over another axis than the channels is not a per-channel
 * affine map of the convolution's rows: no folding. */
static void test_not_folded_on_another_axis(void **state) {
    (void)state;
    char *code = generate(MODEL("    c = conv2d(image, filters=4, kernel_size=3);\n"
                                "    x = batch_norm(c, axis=1);\n"));
    char *body = pass_of(code, "eval_pass");
    assert_int_equal(count(body, "tdl_conv2d_affine_forward("), 0);
    assert_int_equal(count(body, "tdl_batch_norm_forward(v_batch_norm_1, v_conv2d_1,"), 1);
    free(body);
    free(code);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_folded_into_conv),
        cmocka_unit_test(test_not_folded_when_output_is_read_twice),
        cmocka_unit_test(test_not_folded_on_another_axis),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
