/* Diagnostics of the checker: every error and warning code fires on the line
 * it should, exactly once; independent mistakes do not cascade; the notes and
 * helps of the scenarios of SPEC §4 carry the arithmetic and the shapes. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <dirent.h>

#include "ast.h"
#include "check.h"
#include "diag.h"

typedef struct run {
    tsc_source *source;
    ast_file *ast;
    checked_file *checked;
    int errors;
    int warnings;
    char *text;
    size_t size;
} run;

static run *check_as(const char *text, diag_format format);

static run *check(const char *text)
{
    return check_as(text, DIAG_FORMAT_TEXT);
}

static run *check_as(const char *text, diag_format format)
{
    run *r = calloc(1, sizeof *r);
    assert_non_null(r);
    r->source = tsc_source_from_string("m.tdl", text, strlen(text));
    FILE *stream = open_memstream(&r->text, &r->size);
    assert_non_null(stream);
    diag_options options = {.format = format, .color = false, .stream = stream};
    diag_begin(&options);
    assert_int_equal(tsc_parse(r->source, &r->ast), 0);
    r->errors = tsc_check(r->ast, &r->checked);
    r->warnings = diag_warning_count();
    diag_end();
    fclose(stream);
    return r;
}

static void run_free(run *r)
{
    checked_file_free(r->checked);
    ast_file_free(r->ast);
    tsc_source_free(r->source);
    free(r->text);
    free(r);
}

static void assert_contains(const char *text, const char *part)
{
    if (strstr(text, part) == NULL)
        fail_msg("expected to find \"%s\" in:\n%s", part, text);
}

typedef struct code_case {
    const char *code;
    int line;
    const char *source;
} code_case;

/* One mistake each; the diagnostic named by `code` is on `line`. */
static const code_case error_cases[] = {
    {"E0101", 3, "model m {\n  input x : f32[B, 4];\n  y = dens(x, units=2);\n  output y;\n}\n"},
    {"E0102", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x, unit=2);\n  output y;\n}\n"},
    {"E0103", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x, 2, units=2);\n  output y;\n}\n"},
    {"E0104", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x);\n  output y;\n}\n"},
    {"E0105", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x, units=2, linear);\n  output y;\n}\n"},
    {"E0105", 3, "model m {\n  input x : f32[B, 4];\n  y = relu(x, \"n\", 3);\n  output y;\n}\n"},
    {"E0106", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x, units=2.5);\n  output y;\n}\n"},
    {"E0106", 3, "model m {\n  input x : f32[B, 8, 8, 1];\n  y = conv2d(x, 2, 3, padding=sam);\n  output y;\n}\n"},
    {"E0107", 3, "model m {\n  input x : f32[B, 4];\n  y = relu(xx);\n  output y;\n}\n"},
    {"E0108", 3, "model m {\n  input x : f32[B, 4];\n  y = dense(x, units=x);\n  output y;\n}\n"},
    {"E0108", 3, "model m {\n  input x : f32[B, 4];\n  y = relu(3);\n  output y;\n}\n"},
    {"E0109", 3, "model m {\n  input x : f32[B, 4];\n  input x : f32[B, 4];\n  output x;\n}\n"},
    {"E0109", 5, "const N = 2;\nmodel m {\n  input x : f32[B, 4];\n  y = dense(x, N, name=\"d\");\n"
                 "  z = dense(x, N, name=\"d\");\n  output y; output z;\n}\n"},
    {"E0110", 2, "model m {\n  input x : f32[B, N];\n  output x;\n}\n"},
    {"E0110", 3, "model m {\n  input x : f32[B, 4];\n  input y : f32[N, 4];\n  output x; output y;\n}\n"},
    {"E0111", 4, "model m {\n  input x : f32[B, 4];\n  input t : i32[B];\n"
                 "  y = sparse_softmax_cross_entropy(t, x);\n  output x;\n}\n"},
    {"E0112", 4, "model m {\n  input x : f32[B, 4];\n  output x;\n  optimizer sgd(0.1);\n  optimizer adam();\n}\n"},
    {"E0201", 3, "model m {\n  input x : f32[B, 3, 3, 1];\n  y = conv2d(x, 2, 5);\n  output y;\n}\n"},
    {"E0202", 3, "model m {\n  input x : f32[B, 4, 4];\n  y = reshape(x, shape=[3, 5]);\n  output y;\n}\n"},
    {"E0203", 3, "model m {\n  input x : f32[B, 4, 4, 2];\n  y = dense(x, 2);\n  output y;\n}\n"},
    {"E0204", 4, "model m {\n  input a : f32[B, 4];\n  input b : f32[B, 5];\n  y = add(a, b);\n  output y;\n}\n"},
    {"E0205", 4, "model m {\n  input p : f32[32, 10];\n  input t : i32[10];\n  metric a = in_top_k(p, t, 1);\n}\n"},
    {"E0206", 3, "model m {\n  input x : f32[B, 4];\n  y : f32[B, 3] = dense(x, 2);\n  output y;\n}\n"},
    {"E0207", 4, "model m {\n  input x : f32[1, 28, 28, 32];\n  input dy : f32[1, 14, 14, 64];\n"
                 "  w = conv2d_backprop_filter(x, (5, 5, 32, 64), dy, strides=1, padding=same);\n  output w;\n}\n"},
    {"E0208", 3, "model m {\n  input x : f32[B, 4];\n  y = reduce_sum(x, axis=2);\n  output y;\n}\n"},
    {"E0208", 3, "model m {\n  input x : f32[B, 4];\n  y = reduce_sum(x, axis=[1, -1]);\n  output y;\n}\n"},
    {"E0208", 3, "model m {\n  input x : f32[B, 4];\n  y = expand_dims(x, axis=0);\n  output y;\n}\n"},
    {"E0209", 3, "model m {\n  input x : f32[B, 4];\n  y = squeeze(x, axis=1);\n  output y;\n}\n"},
    {"E0210", 2, "model m {\n  input x : f32[B, 2147483647, 2147483647, 2147483647];\n  output x;\n}\n"},
    {"E0210", 3, "model m {\n  input t : i32[B];\n  y = one_hot(t, 3000000000);\n  output y;\n}\n"},
    {"E0301", 3, "model m {\n  input x : i32[B, 8, 8, 1];\n  y = conv2d(x, 2, 3);\n  output y;\n}\n"},
    {"E0302", 3, "model m {\n  input x : f32[B];\n  y = one_hot(x, 3);\n  output y;\n}\n"},
    {"E0401", 3, "model m {\n  input x : f32[B, 4];\n  y = dropout(x, rate=1.0);\n  output y;\n}\n"},
    {"E0401", 4, "model m {\n  input p : f32[B, 10];\n  input t : i32[B];\n  metric a = in_top_k(p, t, k=11);\n}\n"},
    {"E0401", 4, "model m {\n  input x : f32[B, 4];\n  output x;\n  optimizer adam(beta_1=1.0);\n}\n"},
};

/* The source of the first case of a code. */
static const char *first_case(const char *code)
{
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        if (strcmp(error_cases[i].code, code) == 0)
            return error_cases[i].source;
    }
    fail_msg("no case for %s", code);
    return NULL;
}

/* Each error code fires alone, on its line, with its code. */
static void test_error_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof error_cases / sizeof error_cases[0]; i++) {
        const code_case *c = &error_cases[i];
        run *r = check(c->source);
        char where[32], code[16];
        snprintf(where, sizeof where, "m.tdl:%d:", c->line);
        snprintf(code, sizeof code, "[%s]", c->code);
        if (r->errors != 1 || strstr(r->text, code) == NULL || strstr(r->text, where) == NULL)
            fail_msg("case %zu (%s, line %d): %d errors:\n%s", i, c->code, c->line, r->errors, r->text);
        run_free(r);
    }
}

static const code_case warning_cases[] = {
    {"W0101", 5, "model m {\n  input x : f32[B, 4];\n  input t : i32[B];\n  p = dense(x, 3, activation=softmax);\n"
                 "  loss l = sparse_softmax_cross_entropy(t, p);\n}\n"},
    {"W0101", 6, "model m {\n  input x : f32[B, 4];\n  input t : f32[B, 3];\n  z = dense(x, 3);\n  p = sigmoid(z);\n"
                 "  loss l = sigmoid_cross_entropy(t, p);\n}\n"},
    {"W0102", 5, "model m {\n  input x : f32[B, 4];\n  input t : f32[B];\n  z = dense(x, 3);\n"
                 "  loss l = sparse_softmax_cross_entropy(t, z);\n}\n"},
    {"W0103", 4, "model m {\n  input x : f32[B, 4];\n  y = dense(x, 3);\n  z = relu(x);\n  output y;\n}\n"},
    {"W0104", 3, "model m {\n  input x : f32[B, 28, 28, 1];\n  y = conv2d(x, 4, 5, strides=2);\n  output y;\n}\n"},
    {"W0104", 3, "model m {\n  input x : f32[B, 10, 10, 1];\n  y = max_pool2d(x, 3, strides=2);\n  output y;\n}\n"},
};

/* Each warning fires alone, on its line; warnings are not errors. */
static void test_warning_codes(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof warning_cases / sizeof warning_cases[0]; i++) {
        const code_case *c = &warning_cases[i];
        run *r = check(c->source);
        char where[32], code[16];
        snprintf(where, sizeof where, "m.tdl:%d:", c->line);
        snprintf(code, sizeof code, "[%s]", c->code);
        if (r->errors != 0 || r->warnings != 1 || strstr(r->text, code) == NULL || strstr(r->text, where) == NULL)
            fail_msg("case %zu (%s): %d errors, %d warnings:\n%s", i, c->code, r->errors, r->warnings, r->text);
        run_free(r);
    }
}

/* W0102 marks the node so the generated code converts the labels. */
static void test_f32_labels_flagged(void **state)
{
    (void)state;
    run *r = check(warning_cases[2].source);
    assert_true(r->checked->models[0].losses[0].node->attrs.labels_f32);
    assert_contains(r->text, "help: declare input 't' as i32");
    run_free(r);
}

/* Two independent mistakes: exactly two errors, nothing downstream. */
static void test_no_cascade(void **state)
{
    (void)state;
    run *r = check("model m {\n"
                   "  input image : f32[B, 28, 28, 1];\n"
                   "  input label : i32[B];\n"
                   "  x = conv2d(image, filters=8, kernel_size=3, activaton=relu);\n"
                   "  x = flatten(x);\n"
                   "  y = dense(x, units=10);\n"
                   "  z = dense(image, units=10);\n"
                   "  loss l = sparse_softmax_cross_entropy(label, y);\n"
                   "  metric a = in_top_k(y, label, k=1);\n"
                   "  output z;\n"
                   "}\n");
    assert_int_equal(r->errors, 2);
    assert_int_equal(r->warnings, 0);
    assert_contains(r->text, "m.tdl:4:");
    assert_contains(r->text, "m.tdl:7:");
    run_free(r);
}

/* An unknown op or an undefined name poisons its result: its users stay silent. */
static void test_poison_silences_users(void **state)
{
    (void)state;
    run *r = check("model m {\n"
                   "  input x : f32[B, 4];\n"
                   "  input t : i32[B];\n"
                   "  a = densse(x, 3);\n"
                   "  b = relu(a);\n"
                   "  c : f32[B, 99] = dense(b, 3);\n"
                   "  d = add(c, undefined_name);\n"
                   "  e = dense(d, 3);\n"
                   "  loss l = sparse_softmax_cross_entropy(t, e);\n"
                   "  output d;\n"
                   "}\n");
    assert_int_equal(r->errors, 2);
    assert_int_equal(r->warnings, 0);
    assert_contains(r->text, "m.tdl:4:");
    assert_contains(r->text, "did you mean 'dense'?");
    assert_contains(r->text, "m.tdl:7:");
    run_free(r);
}

/* SPEC §4: dense on a pooled feature map: one error, the pooling arithmetic,
 * flatten and global_avg_pool2d with the shapes they give. */
static void test_scenario_dense_rank(void **state)
{
    (void)state;
    run *r = check("model m {\n"
                   "    input image : f32[B, 28, 28, 1];\n"
                   "    x = conv2d(image, filters=32, kernel_size=3, activation=relu);\n"
                   "    x = max_pool2d(x, pool_size=2);\n"
                   "    x = conv2d(x, filters=64, kernel_size=(3, 3), activation=relu);\n"
                   "    x = max_pool2d(x, pool_size=2);\n"
                   "    logits = dense(x, units=10);\n"
                   "    output logits;\n"
                   "}\n");
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "m.tdl:7:20: error: dense expects a rank-2 input [batch, features], but 'x' is rank 4: "
                             "f32[B,5,5,64]");
    assert_contains(r->text, "m.tdl:6:9: note: 'x' is f32[B,5,5,64] because max_pool2d(pool_size=2) halves "
                             "f32[B,11,11,64]: floor((11 - 2)/2) + 1 = 5");
    assert_contains(r->text, "help: insert 'x = flatten(x);' (gives f32[B,1600]) or 'x = global_avg_pool2d(x);' "
                             "(gives f32[B,64]) before this line");
    run_free(r);
}

/* SPEC §4: in_top_k with f32[32,10] and i32[10]: both batch sizes and origins. */
static void test_scenario_in_top_k(void **state)
{
    (void)state;
    run *r = check(first_case("E0205"));
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "'p' has batch size 32 (f32[32,10]) and 't' has batch size 10 (i32[10])");
    assert_contains(r->text, "m.tdl:2:13: note: 'p' is declared f32[32,10] here");
    assert_contains(r->text, "m.tdl:3:13: note: 't' is declared i32[10] here");
    run_free(r);
}

/* SPEC §4: conv2d_backprop_filter: out_backprop must be [1,28,28,64] because ceil(28/1) = 28. */
static void test_scenario_backprop_filter(void **state)
{
    (void)state;
    run *r = check(first_case("E0207"));
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "out_backprop must be f32[1,28,28,64] because ceil(28/1) = 28, but 'dy' is "
                             "f32[1,14,14,64]");
    run_free(r);
}

/* Notes trace a shape through activations and dropout to where it was made. */
static void test_origin_through_activations(void **state)
{
    (void)state;
    run *r = check("model m {\n"
                   "  input x : f32[B, 28, 28, 1];\n"
                   "  y = conv2d(x, 4, 5, padding=same, strides=2);\n"
                   "  y = relu(y);\n"
                   "  y = dropout(y, 0.1);\n"
                   "  z = dense(y, 3);\n"
                   "  output z;\n"
                   "}\n");
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "m.tdl:3:7: note: 'y' is f32[B,14,14,4] because conv2d(filters=4, kernel_size=5, "
                             "strides=2, padding=same) halves f32[B,28,28,1]: ceil(28/2) = 14");
    run_free(r);
}

/* Suggestions name the closest op, argument, word or tensor. */
static void test_suggestions(void **state)
{
    (void)state;
    run *r = check("model m {\n"
                   "  input image : f32[B, 8, 8, 1];\n"
                   "  a = conv2d(image, 2, 3, activation=rleu);\n"
                   "  b = max_pool2d(imag, 2);\n"
                   "  c = flaten(image);\n"
                   "  d = dense(c, unit=3);\n"
                   "  output a; output b; output d;\n"
                   "}\n");
    assert_int_equal(r->errors, 4);
    assert_contains(r->text, "did you mean 'relu'?");
    assert_contains(r->text, "did you mean 'image'?");
    assert_contains(r->text, "did you mean 'flatten'?");
    assert_contains(r->text, "did you mean 'units'?");
    run_free(r);

    /* Unknown losses and optimizers are called so, with the list; an unrelated
     * word gets no did-you-mean ("rescale" is not "reshape"). */
    r = check("model m {\n  input x : f32[B, 3];\n  input y : i32[B];\n  l = dense(x, units=3);\n"
              "  s = rescale(x);\n  t = imgae(x);\n  loss e = sparse_softmax_crossentropy(y, l);\n"
              "  optimizer adagrad(learning_rate=0.1);\n}\n");
    assert_int_equal(r->errors, 4);
    assert_contains(r->text, "unknown op 'rescale' [E0101]");
    assert_true(strstr(r->text, "did you mean 'reshape'") == NULL);
    assert_contains(r->text, "unknown loss 'sparse_softmax_crossentropy' [E0101]");
    assert_contains(r->text, "did you mean 'sparse_softmax_cross_entropy'?");
    assert_contains(r->text, "unknown optimizer 'adagrad' [E0101]");
    assert_contains(r->text, "the optimizers tsc has are: sgd, adam, adamw, rmsprop");
    run_free(r);

    /* Keras names get the TDL name, with a fix-it. */
    r = check("model m {\n  input x : f32[B, 4, 4, 2];\n  a = concatenate(x, x, axis=-1);\n"
              "  b = global_average_pooling2d(a);\n  output b;\n}\n");
    assert_int_equal(r->errors, 2);
    assert_contains(r->text, "help: 'concatenate' is the Keras name; TDL calls it 'concat'");
    assert_contains(r->text, "help: 'global_average_pooling2d' is the Keras name; TDL calls it 'global_avg_pool2d'");
    run_free(r);

    /* UpSampling2D's snake case; Conv2DTranspose, ZeroPadding2D and Cropping2D keep their Keras names. */
    r = check("model m {\n  input x : f32[B, 4, 4, 2];\n  a = up_sampling2d(x);\n"
              "  b = conv2d_transpose(x, 2, 3);\n  c = zero_padding2d(b);\n  d = cropping2d(c, 1);\n"
              "  output a; output d;\n}\n");
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "help: 'up_sampling2d' is the Keras name; TDL calls it 'upsample2d'");
    run_free(r);
}

/* A model with no error but several models and consts: independent namespaces. */
static void test_models_are_independent(void **state)
{
    (void)state;
    run *r = check("const C = 3;\n"
                   "model a {\n  input x : f32[B, C];\n  y = dense(x, C);\n  output y;\n}\n"
                   "model b {\n  input x : f32[N, 5];\n  y = dense(x, 2);\n  output y;\n}\n");
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->checked->model_count, 2);
    assert_string_equal(r->checked->models[1].batch_symbol, "N");
    assert_non_null(checked_file_find_model(r->checked, "b"));
    assert_null(checked_file_find_model(r->checked, "c"));
    assert_string_equal(r->checked->models[1].nodes[1]->layer_name, "dense_1");
    run_free(r);
}

/* Fix-its are machine-readable: the flatten insertion before the line, with
 * its indentation, and the corrected op name in place of the wrong one. */
static void test_fixits_in_json(void **state)
{
    (void)state;
    run *r = check_as("model m {\n"
                      "    input image : f32[B, 4, 4, 2];\n"
                      "    y = dense(image, units=3);\n"
                      "    z = relu(y);\n"
                      "    w = rleu(z);\n"
                      "    output w;\n"
                      "}\n",
                      DIAG_FORMAT_JSON);
    assert_int_equal(r->errors, 2);
    assert_contains(r->text, "\"string\":\t\"    image = flatten(image);\\n\"");
    assert_contains(r->text, "\"string\":\t\"relu\"");
    assert_contains(r->text, "(gives f32[B,32])");
    assert_contains(r->text, "(gives f32[B,2])");
    run_free(r);
}

/* A layer name never becomes code: only [A-Za-z_][A-Za-z0-9_]* passes, so a
 * comment terminator, a quote, a newline or a backslash is an error. */
static void test_layer_names_validated(void **state)
{
    (void)state;
    static const char *const hostile[] = {"d*/ abort(); /*", "a\\\\b", "q\\\"", "a\\nb", "1conv", "a.b", "é", ""};
    for (size_t i = 0; i < sizeof hostile / sizeof hostile[0]; i++) {
        char *text = tsc_format("model m {\n    input x : f32[B, 3];\n    y = dense(x, units=2, name=\"%s\");\n"
                                "    output y;\n}\n", hostile[i]);
        run *r = check(text);
        if (r->errors != 1 || strstr(r->text, "[E0106]") == NULL)
            fail_msg("name \"%s\": want one E0106, got:\n%s", hostile[i], r->text);
        free(text);
        run_free(r);
    }
    run *ok = check("model m {\n    input x : f32[B, 3];\n    y = dense(x, units=2, name=\"_Enc_1\");\n"
                    "    output y;\n}\n");
    assert_int_equal(ok->errors, 0);
    run_free(ok);
}

/* W0104 says what is skipped: rows between windows when the stride is larger
 * than the window; nothing for a pointwise stride-2 conv (a ResNet shortcut). */
static void test_stride_warnings(void **state)
{
    (void)state;
    run *r = check("model m {\n  input x : f32[B, 28, 28, 3];\n"
                   "  a = conv2d(x, filters=4, kernel_size=1, strides=2);\n"
                   "  b = max_pool2d(x, pool_size=2, strides=3);\n  output a;\n  output b;\n}\n");
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->warnings, 1);
    assert_contains(r->text, "max_pool2d with stride 3 and a 2-row window skips data of 'x'");
    assert_true(strstr(r->text, "last row") == NULL);
    run_free(r);
}

/* E0205's note points at the op that set the differing size (the stride-2
 * conv), not at the last op on the way (a 1x1 conv that keeps it). */
static void test_dim_origin_note(void **state)
{
    (void)state;
    run *r = check("model seg {\n  input image : f32[B, 28, 28, 1];\n  input mask : i32[B, 28, 28];\n"
                   "  x = conv2d(image, filters=8, kernel_size=3, strides=2, padding=same);\n  x = relu(x);\n"
                   "  logits = conv2d(x, filters=3, kernel_size=1);\n"
                   "  loss e = sparse_softmax_cross_entropy(mask, logits);\n}\n");
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "m.tdl:4:7: note: dimension 1 of 'logits' (f32[B,14,14,3]) is set here");
    assert_contains(r->text, "ceil(28/2) = 14");
    run_free(r);
}

/* A second, independent bug is not hidden by the first: dense fed rank 4
 * poisons the logits, yet in_top_k still reports its rank-2 targets. */
static void test_independent_second_bug(void **state)
{
    (void)state;
    run *r = check("model m {\n  input image : f32[B, 8, 8, 3];\n  input label : i32[B, 1];\n"
                   "  logits = dense(image, units=10);\n  metric acc = in_top_k(logits, label, k=1);\n}\n");
    assert_int_equal(r->errors, 2);
    assert_contains(r->text, "dense expects a rank-2 input");
    assert_contains(r->text, "in_top_k expects a rank-1 input [batch], but 'label' is rank 2: i32[B,1] [E0203]");
    assert_true(strstr(r->text, "'logits'") == NULL);   /* the poisoned operand stays silent */
    run_free(r);
}

/* Sizes that memory cannot address are E0210 in the checker: a kernel of
 * 2^60 floats, a dilated window beyond int range, too many parameters. */
static void test_sizes_beyond_memory(void **state)
{
    (void)state;
    run *r = check("model m1 {\n  input x : f32[B, 2, 2, 1];\n"
                   "  y = conv2d(x, filters=1, kernel_size=1073741824, padding=same);\n"
                   "  z = conv2d(x, filters=1, kernel_size=4, dilation_rate=2147483647, padding=same);\n"
                   "  output y;\n  output z;\n}\n");
    assert_int_equal(r->errors, 2);
    assert_contains(r->text, "'conv2d_1.kernel' needs 1152921504606846976 elements (f32[1073741824,1073741824,1,1]), "
                             "more than memory can address");
    assert_contains(r->text, "dilated window spans 6442450942 rows");
    run_free(r);
    /* 3 * 2^40 parameters each fit, together with gradients and up to three
     * slots (20 bytes each) two layers do and three do not. */
    r = check("model m2 {\n  input x : f32[B, 4194304];\n  a = dense(x, units=786432, use_bias=false);\n"
              "  b = dense(x, units=786432, use_bias=false);\n  c = dense(x, units=786432, use_bias=false);\n"
              "  output a;\n  output b;\n  output c;\n}\n");
    assert_int_equal(r->errors, 1);
    assert_contains(r->text, "with dense_3 the model has 9895604649984 parameters");
    run_free(r);
}

/* W0101 for every probabilities-into-a-logits-loss pairing: a sigmoid output
 * into a softmax loss, a sigmoid output into the sigmoid (binary) focal loss. */
static void test_probabilities_into_logits_losses(void **state)
{
    (void)state;
    run *r = check("model m {\n  input x : f32[B, 4];\n  input y : i32[B];\n  input t : f32[B, 3];\n"
                   "  s = dense(x, units=3, activation=sigmoid);\n"
                   "  loss a = sparse_softmax_cross_entropy(y, s);\n"
                   "  loss b = focal_loss(t, s);\n"
                   "  loss c = softmax_cross_entropy(t, s);\n}\n");
    assert_int_equal(r->errors, 0);
    assert_int_equal(r->warnings, 3);
    assert_contains(r->text, "but sparse_softmax_cross_entropy applies softmax to its logits itself: the loss sees "
                             "softmax(sigmoid(x))");
    assert_contains(r->text, "but focal_loss applies sigmoid to its logits itself: the loss sees sigmoid(sigmoid(x))");
    assert_contains(r->text, "but softmax_cross_entropy applies softmax to its logits itself");
    run_free(r);
}

/* Names of any length reach the messages whole: a 300-character batch
 * symbol and input name are never cut (no fixed-size buffers). */
static void test_long_names_in_messages(void **state)
{
    (void)state;
    char batch[301], input[301];
    memset(batch, 'N', 300);
    batch[300] = '\0';
    memset(input, 'x', 300);
    input[300] = '\0';
    char *text = tsc_format("model m {\n    input %s : f32[%s, 4, 4, 2];\n    y = dense(%s, units=2);\n    output y;\n}\n",
                            input, batch, input);
    run *r = check(text);
    assert_int_equal(r->errors, 1);
    char *type = tsc_format("f32[%s,4,4,2]", batch);
    char *quoted = tsc_format("'%s' is rank 4: %s [E0203]", input, type);
    assert_contains(r->text, quoted);
    free(quoted);
    free(type);
    free(text);
    run_free(r);
}

static bool golden_exists(const char *code)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/diagnostics", TSC_SOURCE_DIR);
    DIR *dir = opendir(path);
    assert_non_null(dir);
    bool found = false;
    for (struct dirent *e = readdir(dir); e != NULL && !found; e = readdir(dir)) {
        size_t n = strlen(e->d_name);
        found = strncmp(e->d_name, code, 5) == 0 && e->d_name[5] == '_' && n > 4 &&
                strcmp(e->d_name + n - 4, ".tdl") == 0;
    }
    closedir(dir);
    return found;
}

/* Every code the checker can emit has a catalogue entry (tsc --explain) and
 * a golden test in tests/diagnostics. */
static void test_codes_documented(void **state)
{
    (void)state;
    static const char *const files[] = {"resolve.c", "shape.c", "shape_conv.c", "shape_loss.c", "shape_combine.c",
                                        "check_support.c"};
    int codes = 0;
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/compiler/%s", TSC_SOURCE_DIR, files[f]);
        tsc_source *src = tsc_source_read(path);
        assert_non_null(src);
        for (const char *p = strchr(src->text, '"'); p != NULL; p = strchr(p + 1, '"')) {
            bool shaped = p[1] == 'E' || p[1] == 'W';
            for (int i = 2; shaped && i < 6; i++)   /* stops at the NUL, never reads past it */
                shaped = p[i] >= '0' && p[i] <= '9';
            shaped = shaped && p[2] == '0' && p[6] == '"';
            if (!shaped)
                continue;
            char code[6];
            memcpy(code, p + 1, 5);
            code[5] = '\0';
            char *entry = diag_explain(code);
            if (entry == NULL)
                fail_msg("%s (used in %s) has no entry in docs/diagnostics.md", code, files[f]);
            free(entry);
            if (!golden_exists(code))
                fail_msg("%s (used in %s) has no golden test in tests/diagnostics", code, files[f]);
            codes++;
            p += 6;
        }
        tsc_source_free(src);
    }
    assert_true(codes >= 29);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_warning_codes),
        cmocka_unit_test(test_f32_labels_flagged),
        cmocka_unit_test(test_no_cascade),
        cmocka_unit_test(test_poison_silences_users),
        cmocka_unit_test(test_scenario_dense_rank),
        cmocka_unit_test(test_scenario_in_top_k),
        cmocka_unit_test(test_scenario_backprop_filter),
        cmocka_unit_test(test_origin_through_activations),
        cmocka_unit_test(test_suggestions),
        cmocka_unit_test(test_models_are_independent),
        cmocka_unit_test(test_fixits_in_json),
        cmocka_unit_test(test_codes_documented),
        cmocka_unit_test(test_long_names_in_messages),
        cmocka_unit_test(test_layer_names_validated),
        cmocka_unit_test(test_stride_warnings),
        cmocka_unit_test(test_dim_origin_note),
        cmocka_unit_test(test_independent_second_bug),
        cmocka_unit_test(test_sizes_beyond_memory),
        cmocka_unit_test(test_probabilities_into_logits_losses),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
