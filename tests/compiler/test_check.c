/* Tests of the checker (resolve.c, shape*.c, ops.c) through tsc_parse and
 * tsc_check on small TDL strings: the output type of every op, the resolved
 * attributes and parameters, and the shape notes. Error codes, cascades and
 * warnings are in test_check_diag.c. */
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
#include "diag.h"

typedef struct checked_text {
    tsc_source *source;
    ast_file *ast;
    checked_file *checked;
    int errors;
    int warnings;
    char *diagnostics;
    size_t diagnostics_size;
} checked_text;

static checked_text *check_text(const char *text)
{
    checked_text *ct = calloc(1, sizeof *ct);
    assert_non_null(ct);
    ct->source = tsc_source_from_string("m.tdl", text, strlen(text));
    FILE *stream = open_memstream(&ct->diagnostics, &ct->diagnostics_size);
    assert_non_null(stream);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = stream};
    diag_begin(&options);
    ct->errors = tsc_parse(ct->source, &ct->ast);
    assert_int_equal(ct->errors, 0);
    ct->errors = tsc_check(ct->ast, &ct->checked);
    ct->warnings = diag_warning_count();
    diag_end();
    fclose(stream);
    return ct;
}

static void checked_text_free(checked_text *ct)
{
    checked_file_free(ct->checked);
    ast_file_free(ct->ast);
    tsc_source_free(ct->source);
    free(ct->diagnostics);
    free(ct);
}

/* The node of the first model with that layer name. */
static const checked_node *layer(const checked_text *ct, const char *name)
{
    const checked_model *m = &ct->checked->models[0];
    for (int i = 0; i < m->node_count; i++) {
        if (strcmp(m->nodes[i]->layer_name, name) == 0)
            return m->nodes[i];
    }
    fail_msg("no layer '%s'", name);
    return NULL;
}

static void assert_type(const checked_text *ct, const char *name, const char *expected)
{
    char buf[TSC_TYPE_STR_MAX];
    tsc_type_format(buf, sizeof buf, &layer(ct, name)->type, ct->checked->models[0].batch_symbol);
    assert_string_equal(buf, expected);
}

/* A model around `body`, with an image input f32[B,28,28,3]. */
static checked_text *check_body(const char *body)
{
    char text[4096];
    snprintf(text, sizeof text, "model m {\n    input image : f32[B, 28, 28, 3];\n%s\n}\n", body);
    checked_text *ct = check_text(text);
    if (ct->errors != 0)
        fprintf(stderr, "%s", ct->diagnostics);
    return ct;
}

static const char *fashion =
    "model fashion_cnn {\n"
    "    input image : f32[B, 28, 28, 1];\n"
    "    input label : i32[B];\n"
    "    x = conv2d(image, filters=32, kernel_size=3, activation=relu);\n"
    "    x = max_pool2d(x, pool_size=2);\n"
    "    x = conv2d(x, filters=64, kernel_size=(3, 3), activation=relu);\n"
    "    x = max_pool2d(x, pool_size=2);\n"
    "    x = flatten(x);\n"
    "    x = dropout(x, rate=0.5);\n"
    "    logits : f32[B, 10] = dense(x, units=10);\n"
    "    loss   xent = sparse_softmax_cross_entropy(labels=label, logits=logits);\n"
    "    metric acc  = in_top_k(logits, label, k=1);\n"
    "    output probs = softmax(logits);\n"
    "    optimizer adam(learning_rate=0.001);\n"
    "}\n";

/* The model of SPEC §2: every shape, name, parameter and the model's lists. */
static void test_fashion_cnn(void **state)
{
    (void)state;
    checked_text *ct = check_text(fashion);
    assert_int_equal(ct->errors, 0);
    assert_int_equal(ct->warnings, 0);
    const checked_model *m = &ct->checked->models[0];
    assert_string_equal(m->name, "fashion_cnn");
    assert_string_equal(m->batch_symbol, "B");
    assert_int_equal(m->input_count, 2);
    assert_int_equal(m->node_count, 12);
    assert_type(ct, "conv2d_1", "f32[B,26,26,32]");
    assert_type(ct, "max_pool2d_1", "f32[B,13,13,32]");
    assert_type(ct, "conv2d_2", "f32[B,11,11,64]");
    assert_type(ct, "max_pool2d_2", "f32[B,5,5,64]");
    assert_type(ct, "flatten_1", "f32[B,1600]");
    assert_type(ct, "dropout_1", "f32[B,1600]");
    assert_type(ct, "dense_1", "f32[B,10]");
    assert_type(ct, "softmax_1", "f32[B,10]");
    assert_type(ct, "label", "i32[B]");
    const checked_node *conv = layer(ct, "conv2d_2");
    assert_int_equal(conv->param_count, 2);
    assert_string_equal(conv->params[0].name, "conv2d_2.kernel");
    assert_string_equal(conv->params[1].name, "conv2d_2.bias");
    assert_int_equal(conv->params[0].type.dims[2], 32);
    assert_int_equal(conv->params[0].fan_in, 3 * 3 * 32);
    assert_int_equal(conv->params[0].fan_out, 3 * 3 * 64);
    assert_int_equal(conv->attrs.activation, TSC_ACTIVATION_RELU);
    assert_int_equal(m->param_total, 34826);   /* Keras reports the same */
    assert_int_equal(m->loss_count, 1);
    assert_string_equal(m->losses[0].name, "xent");
    assert_true(m->losses[0].weight == 1.0);
    assert_int_equal(m->losses[0].node->attrs.classes, 10);
    assert_int_equal(m->metric_count, 1);
    assert_int_equal(m->metrics[0].node->attrs.k, 1);
    assert_int_equal(m->output_count, 1);
    assert_string_equal(m->outputs[0].name, "probs");
    assert_non_null(m->optimizer);
    assert_int_equal(m->optimizer->op, TSC_OP_ADAM);
    assert_true(m->optimizer->beta_2 == 0.999);
    assert_true(layer(ct, "dropout_1")->is_training_only);
    for (int i = 0; i < m->node_count; i++)
        assert_true(m->nodes[i]->used);
    assert_string_equal(layer(ct, "max_pool2d_2")->shape_reason,
                        "max_pool2d(pool_size=2) halves f32[B,11,11,64]: floor((11 - 2)/2) + 1 = 5");
    checked_text_free(ct);
}

/* conv2d: odd sizes, stride 2 valid and same, dilation, the TF padding split. */
static void test_conv2d_arithmetic(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = conv2d(image, 4, 5, strides=2, name=\"va\");\n"
                                  "    b = conv2d(image, 4, 3, strides=2, padding=same, name=\"sa\");\n"
                                  "    c = conv2d(image, 4, 3, dilation_rate=2, name=\"di\");\n"
                                  "    d = conv2d(image, 4, (1, 7), padding=same, use_bias=false, name=\"rect\");\n"
                                  "    e = conv2d(image, 4, 2, strides=(3, 1), padding=same, name=\"st\");\n"
                                  "    output a; output b; output c; output d; output e;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "va", "f32[B,12,12,4]");     /* floor((28 - 5)/2) + 1 = 12 */
    assert_type(ct, "sa", "f32[B,14,14,4]");     /* ceil(28/2) */
    assert_type(ct, "di", "f32[B,24,24,4]");     /* floor((28 - 2*2 - 1)/1) + 1 */
    assert_type(ct, "rect", "f32[B,28,28,4]");
    assert_type(ct, "st", "f32[B,10,28,4]");     /* ceil(28/3) = 10 */
    const checked_node *sa = layer(ct, "sa");
    assert_int_equal(sa->attrs.pad_top, 0);       /* total (14-1)*2 + 3 - 28 = 1 goes to the bottom */
    assert_int_equal(sa->attrs.pad_bottom, 1);
    assert_int_equal(sa->attrs.padding, TSC_PADDING_SAME);
    const checked_node *rect = layer(ct, "rect");
    assert_int_equal(rect->attrs.pad_left, 3);
    assert_int_equal(rect->attrs.pad_right, 3);
    assert_int_equal(rect->param_count, 1);
    assert_int_equal(rect->params[0].type.dims[1], 7);
    assert_int_equal(layer(ct, "di")->attrs.dilation[0], 2);
    assert_string_equal(layer(ct, "va")->shape_reason,
                        "conv2d(filters=4, kernel_size=5, strides=2) halves f32[B,28,28,3]: floor((28 - 5)/2) + 1 = 12");
    assert_string_equal(layer(ct, "di")->shape_reason,
                        "conv2d(filters=4, kernel_size=3, dilation_rate=2) shrinks f32[B,28,28,3]: floor((28 - 2*(3 - 1) - 1)/1) + 1 = 24");
    assert_string_equal(layer(ct, "st")->shape_reason,
                        "conv2d(filters=4, kernel_size=2, strides=(3, 1), padding=same) shrinks f32[B,28,28,3]: rows ceil(28/3) = 10, "
                        "columns ceil(28/1) = 28");
    /* (28 - 5) % 2 = 1 drops a row; stride 3 over a 2-row window skips one
     * row in three: the only warnings */
    assert_int_equal(ct->warnings, 2);
    assert_non_null(strstr(ct->diagnostics, "(28 - 5) % 2 = 1"));
    assert_non_null(strstr(ct->diagnostics, "each window reads 2 of every 3 rows, so 1 row between windows is never read"));
    checked_text_free(ct);
}

/* groups=, depthwise_conv2d and separable_conv2d: output types, weights
 * (Keras names, shapes, fans), FLOPs, the shape notes, and bad group counts. */
static void test_grouped_conv_arithmetic(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = conv2d(image, 6, 3, padding=same, name=\"base\");\n"
                                  "    g = conv2d(a, 4, 3, groups=2, name=\"grouped\");\n"
                                  "    d = depthwise_conv2d(a, 3, strides=2, padding=same, depth_multiplier=2, name=\"dw\");\n"
                                  "    s = separable_conv2d(a, 8, (3, 1), depth_multiplier=3, use_bias=false, name=\"sep\");\n"
                                  "    output g; output d; output s;");
    assert_int_equal(ct->errors, 0);
    assert_int_equal(ct->warnings, 0);
    assert_type(ct, "grouped", "f32[B,26,26,4]");
    assert_type(ct, "dw", "f32[B,14,14,12]");       /* 6 channels * depth_multiplier 2 */
    assert_type(ct, "sep", "f32[B,26,28,8]");
    const checked_node *g = layer(ct, "grouped");
    assert_int_equal(g->attrs.groups, 2);
    assert_int_equal(g->params[0].type.dims[2], 3);  /* kernel [3,3,6/2,4] */
    assert_int_equal(g->params[0].fan_in, 3 * 3 * 3);
    assert_int_equal(g->macs_per_example, 26 * 26 * 4 * 3 * 3 * 3);
    assert_int_equal(layer(ct, "base")->attrs.groups, 1);
    const checked_node *d = layer(ct, "dw");
    assert_int_equal(d->attrs.groups, 6);
    assert_int_equal(d->param_count, 2);
    assert_string_equal(d->params[0].name, "dw.depthwise_kernel");
    assert_int_equal(d->params[0].type.dims[2], 6);
    assert_int_equal(d->params[0].type.dims[3], 2);
    assert_int_equal(d->params[0].fan_in, 3 * 3 * 6);   /* Keras: receptive field times the last two dims */
    assert_int_equal(d->params[0].fan_out, 3 * 3 * 2);
    assert_int_equal(d->params[1].type.dims[0], 12);
    assert_int_equal(d->macs_per_example, 14 * 14 * 12 * 3 * 3);
    assert_string_equal(d->shape_reason, "depthwise_conv2d(kernel_size=3, strides=2, padding=same, depth_multiplier=2) "
                                         "halves f32[B,28,28,6]: ceil(28/2) = 14; 6 channels * depth_multiplier 2 = 12");
    const checked_node *sep = layer(ct, "sep");
    assert_int_equal(sep->param_count, 2);           /* no bias */
    assert_string_equal(sep->params[0].name, "sep.depthwise_kernel");
    assert_string_equal(sep->params[1].name, "sep.pointwise_kernel");
    assert_int_equal(sep->params[1].type.dims[2], 18);
    assert_int_equal(sep->params[1].type.dims[3], 8);
    assert_int_equal(sep->macs_per_example, 26 * 28 * (18 * 3 + 18 * 8));
    checked_text_free(ct);

    ct = check_body("    a = conv2d(image, 6, 3, groups=4);\n"
                    "    b = conv2d(image, 6, 3, groups=0);\n"
                    "    c = depthwise_conv2d(image, 3, depth_multiplier=-1);\n"
                    "    output a; output b; output c;");
    assert_int_equal(ct->errors, 3);
    assert_non_null(strstr(ct->diagnostics, "conv2d with groups=4 splits the 3 channels of 'image' (f32[B,28,28,3]) and "
                                            "its 6 filters into 4 groups, but 4 divides neither"));
    assert_non_null(strstr(ct->diagnostics, "use groups=3: the largest group count that divides both 3 and 6"));
    assert_non_null(strstr(ct->diagnostics, "groups of conv2d must be between 1 and 2147483647, found 0"));
    assert_non_null(strstr(ct->diagnostics, "depth_multiplier of depthwise_conv2d must be between 1"));
    checked_text_free(ct);
}

/* Pools: strides default to pool_size; same padding; global pools. */
static void test_pools(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = max_pool2d(image, 3);\n"
                                  "    b = avg_pool2d(image, 2, strides=1);\n"
                                  "    c = max_pool2d(image, 3, padding=same);\n"
                                  "    d = global_avg_pool2d(image);\n"
                                  "    e = global_max_pool2d(image);\n"
                                  "    output a; output b; output c; output d; output e;");
    assert_int_equal(ct->errors, 0);
    assert_int_equal(ct->warnings, 0);
    assert_type(ct, "max_pool2d_1", "f32[B,9,9,3]");
    assert_type(ct, "avg_pool2d_1", "f32[B,27,27,3]");
    assert_type(ct, "max_pool2d_2", "f32[B,10,10,3]");
    assert_type(ct, "global_avg_pool2d_1", "f32[B,3]");
    assert_type(ct, "global_max_pool2d_1", "f32[B,3]");
    assert_int_equal(layer(ct, "max_pool2d_1")->attrs.strides[1], 3);
    assert_int_equal(layer(ct, "max_pool2d_2")->attrs.pad_top, 1);
    checked_text_free(ct);
}

/* flatten, reshape with -1 and with a leading batch symbol, dense weights. */
static void test_reshaping_and_dense(void **state)
{
    (void)state;
    checked_text *ct = check_body("    f = flatten(image);\n"
                                  "    r = reshape(image, shape=[-1, 3]);\n"
                                  "    s = reshape(f, shape=(B, 28, 84));\n"
                                  "    d = dense(f, units=7, activation=leaky_relu, use_bias=false);\n"
                                  "    output r; output s; output d;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "flatten_1", "f32[B,2352]");
    assert_type(ct, "reshape_1", "f32[B,784,3]");
    assert_type(ct, "reshape_2", "f32[B,28,84]");
    assert_type(ct, "dense_1", "f32[B,7]");
    const checked_node *d = layer(ct, "dense_1");
    assert_int_equal(d->param_count, 1);
    assert_string_equal(d->params[0].name, "dense_1.kernel");
    assert_int_equal(d->params[0].type.dims[0], 2352);
    assert_int_equal(d->params[0].init, TSC_INIT_GLOROT_UNIFORM);
    assert_int_equal(d->attrs.activation, TSC_ACTIVATION_LEAKY_RELU);
    assert_true(d->attrs.alpha == 0.3);
    assert_string_equal(layer(ct, "flatten_1")->shape_reason,
                        "flatten() multiplies the dims of f32[B,28,28,3]: 28*28*3 = 2352");
    assert_string_equal(layer(ct, "reshape_1")->shape_reason, "reshape(shape=[-1, 3]) infers -1 = 2352/3 = 784");
    checked_text_free(ct);
}

/* Activations, dropout and add keep the shape; attributes are resolved. */
static void test_elementwise(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = relu(image);\n    b = sigmoid(a);\n    c = tanh(b);\n"
                                  "    d = leaky_relu(c, alpha=0.1);\n    e = softmax(d, axis=1);\n"
                                  "    f = dropout(e, 0.25);\n    g = add(f, image);\n    output g;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "add_1", "f32[B,28,28,3]");
    assert_true(layer(ct, "leaky_relu_1")->attrs.alpha == 0.1);
    assert_int_equal(layer(ct, "softmax_1")->attrs.axis, 1);
    assert_true(layer(ct, "dropout_1")->attrs.rate == 0.25);
    assert_int_equal(layer(ct, "add_1")->input_count, 2);
    assert_ptr_equal(layer(ct, "add_1")->inputs[1], layer(ct, "image"));
    checked_text_free(ct);
}

/* concat joins along one axis (positional values, or one list); multiply
 * keeps the shape; both record every operand as an input. */
static void test_combine(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = conv2d(image, filters=5, kernel_size=3, padding=same);\n"
                                  "    b = conv2d(image, filters=2, kernel_size=1);\n"
                                  "    c = concat(a, b, image, axis=-1);\n"
                                  "    d = concat([a, b], axis=3);\n"
                                  "    e = multiply(a, a);\n"
                                  "    f = concat(a, a, axis=1);\n"
                                  "    output c;\n    output d;\n    output e;\n    output f;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "concat_1", "f32[B,28,28,10]");
    assert_type(ct, "concat_2", "f32[B,28,28,7]");
    assert_type(ct, "concat_3", "f32[B,56,28,5]");
    assert_type(ct, "multiply_1", "f32[B,28,28,5]");
    const checked_node *c = layer(ct, "concat_1");
    assert_int_equal(c->attrs.axis, 3);
    assert_int_equal(c->input_count, 3);
    assert_ptr_equal(c->inputs[2], layer(ct, "image"));
    assert_string_equal(c->shape_reason, "concat(axis=3) adds the sizes along that axis: 5 + 2 + 3 = 10");
    assert_int_equal(layer(ct, "concat_2")->input_count, 2);
    assert_int_equal(layer(ct, "multiply_1")->input_count, 2);
    checked_text_free(ct);
}

/* A model body that must give exactly one error: its code, with these words. */
typedef struct error_case {
    const char *body, *code, *words;
} error_case;

static void expect_one_error_each(const error_case *cases, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        checked_text *ct = check_body(cases[i].body);
        if (ct->errors != 1 || strstr(ct->diagnostics, cases[i].code) == NULL ||
            strstr(ct->diagnostics, cases[i].words) == NULL)
            fail_msg("case %zu: want one %s with '%s', got:\n%s", i, cases[i].code, cases[i].words, ct->diagnostics);
        checked_text_free(ct);
    }
}

/* Errors of concat and multiply: each names both shapes. */
static void test_combine_errors(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"    a = conv2d(image, filters=4, kernel_size=3);\n    c = concat(image, a);\n    output c;", "E0204",
         "dimension 1 is 26 in 'a' (f32[B,26,26,4]) and 28 in 'image' (f32[B,28,28,3])"},
        {"    a = flatten(image);\n    c = concat(image, a);\n    output c;", "E0203", "rank 2"},
        {"    c = concat(image, image, axis=0);\n    output c;", "E0208", "batch axis"},
        {"    c = concat(image, image, axis=4);\n    output c;", "E0208", "expected -4 to 3"},
        {"    c = concat(image);\n    output c;", "E0104", "two or more"},
        {"    a = flatten(image);\n    c = multiply(image, a);\n    output c;", "E0204",
         "multiply needs two tensors of one shape"},
    };
    expect_one_error_each(cases, sizeof cases / sizeof cases[0]);
}

/* Nested calls: their nodes come before the call that uses them (a
 * topological order), are named with the same counters as statements, in
 * the order they are evaluated, and a nested layer's weights follow its name. */
static void test_nested_calls_and_names(void **state)
{
    (void)state;
    checked_text *ct = check_body("    x = flatten(image);\n"
                                  "    h = dense(x, units=4);\n"
                                  "    y = dense(relu(dense(h, units=6)), units=3, name=\"head\");\n"
                                  "    z = relu(add(y, dense(h, units=3)));\n"
                                  "    output z;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "dense_2", "f32[B,6]");
    assert_type(ct, "head", "f32[B,3]");
    assert_type(ct, "dense_3", "f32[B,3]");
    assert_string_equal(layer(ct, "dense_2")->params[0].name, "dense_2.kernel");
    assert_string_equal(layer(ct, "dense_3")->params[1].name, "dense_3.bias");
    assert_ptr_equal(layer(ct, "head")->inputs[0], layer(ct, "relu_1"));
    assert_ptr_equal(layer(ct, "relu_1")->inputs[0], layer(ct, "dense_2"));
    assert_ptr_equal(layer(ct, "relu_2")->inputs[0], layer(ct, "add_1"));
    /* A nested node is known in messages by its text; the statement's by its name. */
    assert_string_equal(layer(ct, "dense_2")->binding, "dense(h, units=6)");
    assert_string_equal(layer(ct, "head")->binding, "y");
    const checked_model *m = &ct->checked->models[0];
    for (int i = 0; i < m->node_count; i++) {
        assert_int_equal(m->nodes[i]->index, i);
        for (int j = 0; j < m->nodes[i]->input_count; j++)
            assert_true(m->nodes[i]->inputs[j]->index < i);
    }
    assert_int_equal(m->output_count, 1);
    assert_ptr_equal(m->outputs[0].node, layer(ct, "relu_2"));
    checked_text_free(ct);
}

/* loss, metric and output statements take nested calls and operators in
 * their arguments; an optimizer's numbers are not expressions. */
static void test_statements_with_expressions(void **state)
{
    (void)state;
    checked_text *ct = check_text("model m {\n"
                                  "    input x : f32[B, 4];\n"
                                  "    input t : f32[B, 2];\n"
                                  "    loss l = mean_squared_error(t, dense(relu(x), units=2) * 0.5);\n"
                                  "    metric e = mean_squared_error(t - t, dense(x, units=2));\n"
                                  "    output y = relu(x) + x;\n"
                                  "    optimizer sgd(learning_rate=0.1);\n"
                                  "}\n");
    if (ct->errors != 0)
        fprintf(stderr, "%s", ct->diagnostics);
    assert_int_equal(ct->errors, 0);
    const checked_model *m = &ct->checked->models[0];
    assert_int_equal(m->loss_count, 1);
    assert_ptr_equal(m->losses[0].node->inputs[1], layer(ct, "rescaling_1"));
    assert_ptr_equal(layer(ct, "rescaling_1")->inputs[0], layer(ct, "dense_1"));
    assert_int_equal(m->metric_count, 1);
    assert_ptr_equal(m->metrics[0].node->inputs[0], layer(ct, "subtract_1"));
    assert_int_equal(m->output_count, 1);
    assert_string_equal(m->outputs[0].name, "y");
    assert_ptr_equal(m->outputs[0].node, layer(ct, "add_1"));
    assert_non_null(m->optimizer);
    checked_text_free(ct);

    ct = check_body("    y = relu(image);\n    output y;\n    optimizer sgd(learning_rate=0.1 * 2);");
    assert_int_equal(ct->errors, 1);
    assert_non_null(strstr(ct->diagnostics, "sgd expects a number or a schedule for 'learning_rate', found an expression [E0106]"));
    checked_text_free(ct);
}

/* Operators: add, subtract and multiply of two tensors; with a number (a
 * literal or a const, unless a tensor has its name) one rescaling. */
static void test_operators(void **state)
{
    (void)state;
    checked_text *ct = check_text("const S = 3;\n"
                                  "const image = 2;\n"
                                  "model m {\n"
                                  "    input image : f32[B, 4];\n"
                                  "    input other : f32[B, 4];\n"
                                  "    a = image + other * image - other;\n"
                                  "    b = a * 0.5 + 1;\n"
                                  "    c = 2 - b;\n"
                                  "    d = S * c - 1.5;\n"
                                  "    e = image * image;\n"
                                  "    output o = a + b;\n"
                                  "    output d;\n"
                                  "    output e;\n"
                                  "}\n");
    if (ct->errors != 0)
        fprintf(stderr, "%s", ct->diagnostics);
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "multiply_1", "f32[B,4]");
    assert_ptr_equal(layer(ct, "add_1")->inputs[1], layer(ct, "multiply_1"));
    assert_ptr_equal(layer(ct, "subtract_1")->inputs[0], layer(ct, "add_1"));
    static const struct {
        const char *layer;
        double scale, offset;
    } rescalings[] = {
        {"rescaling_1", 0.5, 0.0},   /* a * 0.5 */
        {"rescaling_2", 1.0, 1.0},   /* … + 1 */
        {"rescaling_3", -1.0, 2.0},  /* 2 - b */
        {"rescaling_4", 3.0, 0.0},   /* S * c */
        {"rescaling_5", 1.0, -1.5},  /* … - 1.5 */
    };
    for (size_t i = 0; i < sizeof rescalings / sizeof rescalings[0]; i++) {
        const checked_node *r = layer(ct, rescalings[i].layer);
        assert_int_equal(r->op, TSC_OP_RESCALING);
        assert_int_equal(r->input_count, 1);
        assert_true(r->attrs.scale == rescalings[i].scale);
        assert_true(r->attrs.offset == rescalings[i].offset);
        assert_type(ct, rescalings[i].layer, "f32[B,4]");
    }
    /* The tensor 'image' shadows the const 'image': a product of tensors. */
    assert_int_equal(layer(ct, "multiply_2")->input_count, 2);
    assert_string_equal(ct->checked->models[0].outputs[0].name, "o");
    assert_int_equal(ct->checked->models[0].outputs[0].node->op, TSC_OP_ADD);
    checked_text_free(ct);
}

/* Errors inside sub-expressions point at the sub-expression and name it by its text. */
static void test_operator_errors(void **state)
{
    (void)state;
    static const struct {
        const char *body, *code, *words;
    } cases[] = {
        {"    x = flatten(image);\n    y = relu(x + image);\n    output y;", "E0204",
         "m.tdl:4:18: error: '+' needs two tensors of one shape, but 'x' is f32[B,2352] and 'image' is f32[B,28,28,3]"},
        {"    x = flatten(image);\n    y = x - dense(x, units=3) * 2.0;\n    output y;", "E0204",
         "m.tdl:4:13: error: '-' needs two tensors of one shape, but 'x' is f32[B,2352] and 'dense(x, units=3) * 2.0' is "
         "f32[B,3]"},
        {"    y = subtract(image, flatten(image));\n    output y;", "E0204",
         "subtract needs two tensors of one shape, but 'image' is f32[B,28,28,3] and 'flatten(image)' is f32[B,2352]"},
        {"    y = image * (1.0 + 2);\n    output y;", "E0108", "m.tdl:3:18: error: '+' needs a tensor on at least one side"},
        {"    y = dense(flatten(image), units=2 * 5);\n    output y;", "E0106", "found an expression"},
        {"    y = relu(mean_squared_error(image, image));\n    output y;", "E0111", "m.tdl:3:14: error: 'mean_squared_error'"},
        {"    y = relu(Flatten(image));\n    output y;", "E0101", "m.tdl:3:14: error: unknown op 'Flatten'"},
        {"    y = dense(conv2d(image, filters=2, kernel_size=3), units=2);\n    output y;", "E0203",
         "help: wrap it: flatten(…) (gives f32[B,1352])"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        checked_text *ct = check_body(cases[i].body);
        if (ct->errors != 1 || strstr(ct->diagnostics, cases[i].code) == NULL ||
            strstr(ct->diagnostics, cases[i].words) == NULL)
            fail_msg("case %zu: want one %s with '%s', got:\n%s", i, cases[i].code, cases[i].words, ct->diagnostics);
        checked_text_free(ct);
    }
}

/* kernel_initializer= and bias_initializer= choose how each weight starts;
 * a bias's fans are its size, as Keras computes them for a vector. */
static void test_initializer_arguments(void **state)
{
    (void)state;
    checked_text *ct = check_body("    c = conv2d(image, filters=8, kernel_size=3, kernel_initializer=he_normal,\n"
                                  "               bias_initializer=\"ones\");\n"
                                  "    d = dense(flatten(c), units=4, kernel_initializer=lecun_uniform);\n"
                                  "    output d;");
    assert_int_equal(ct->errors, 0);
    const checked_node *c = layer(ct, "conv2d_1"), *d = layer(ct, "dense_1");
    assert_int_equal(c->params[0].init, TSC_INIT_HE_NORMAL);
    assert_int_equal(c->params[0].fan_in, 3 * 3 * 3);
    assert_int_equal(c->params[1].init, TSC_INIT_ONES);
    assert_int_equal(c->params[1].fan_in, 8);
    assert_int_equal(c->params[1].fan_out, 8);
    assert_int_equal(d->params[0].init, TSC_INIT_LECUN_UNIFORM);
    assert_int_equal(d->params[1].init, TSC_INIT_ZEROS);
    checked_text_free(ct);

    ct = check_body("    d = dense(flatten(image), units=4, kernel_initializer=he_normall);\n    output d;");
    assert_int_equal(ct->errors, 1);
    assert_non_null(strstr(ct->diagnostics, "'he_normall' is not a valid kernel_initializer for dense; expected one of: "
                                            "glorot_uniform, glorot_normal, he_uniform, he_normal, lecun_uniform, "
                                            "lecun_normal, zeros, ones [E0106]"));
    assert_non_null(strstr(ct->diagnostics, "help: did you mean 'he_normal'?"));
    checked_text_free(ct);
}

/* Every layer with weights takes Keras' initializer argument for each of
 * them, with Keras' names and defaults; fans as Keras computes them from
 * each tensor's shape (conv2d_transpose's kernel is [kh,kw,filters,C]). */
static void test_initializer_arguments_every_layer(void **state)
{
    (void)state;
    checked_text *ct = check_body("    t = conv2d_transpose(image, filters=8, kernel_size=3, kernel_initializer=he_normal,\n"
                                  "                         bias_initializer=ones);\n"
                                  "    w = depthwise_conv2d(t, kernel_size=3, depth_multiplier=2,\n"
                                  "                         depthwise_initializer=lecun_uniform, bias_initializer=ones);\n"
                                  "    s = separable_conv2d(w, filters=4, kernel_size=3, depthwise_initializer=he_uniform,\n"
                                  "                         pointwise_initializer=glorot_normal, bias_initializer=ones);\n"
                                  "    n = batch_norm(s, beta_initializer=ones, gamma_initializer=zeros,\n"
                                  "                   moving_mean_initializer=ones, moving_variance_initializer=zeros);\n"
                                  "    output n;");
    assert_int_equal(ct->errors, 0);
    const checked_node *t = layer(ct, "conv2d_transpose_1"), *w = layer(ct, "depthwise_conv2d_1");
    const checked_node *s = layer(ct, "separable_conv2d_1"), *n = layer(ct, "batch_norm_1");
    assert_int_equal(t->params[0].init, TSC_INIT_HE_NORMAL);
    assert_int_equal(t->params[0].fan_in, 3 * 3 * 8);
    assert_int_equal(t->params[0].fan_out, 3 * 3 * 3);
    assert_int_equal(t->params[1].init, TSC_INIT_ONES);
    assert_string_equal(w->params[0].role, "depthwise_kernel");
    assert_int_equal(w->params[0].init, TSC_INIT_LECUN_UNIFORM);
    assert_int_equal(w->params[0].fan_in, 3 * 3 * 8);
    assert_int_equal(w->params[0].fan_out, 3 * 3 * 2);
    assert_int_equal(w->params[1].init, TSC_INIT_ONES);
    assert_int_equal(s->param_count, 3);
    assert_int_equal(s->params[0].init, TSC_INIT_HE_UNIFORM);
    assert_string_equal(s->params[1].role, "pointwise_kernel");
    assert_int_equal(s->params[1].init, TSC_INIT_GLOROT_NORMAL);
    assert_int_equal(s->params[1].fan_in, 16);
    assert_int_equal(s->params[1].fan_out, 4);
    assert_int_equal(s->params[2].init, TSC_INIT_ONES);
    /* Keras' order: gamma, beta; then moving_mean, moving_variance. */
    assert_string_equal(n->params[0].role, "gamma");
    assert_int_equal(n->params[0].init, TSC_INIT_ZEROS);
    assert_int_equal(n->params[0].fan_in, 4);
    assert_int_equal(n->params[1].init, TSC_INIT_ONES);
    assert_string_equal(n->state[0].role, "moving_mean");
    assert_int_equal(n->state[0].init, TSC_INIT_ONES);
    assert_int_equal(n->state[1].init, TSC_INIT_ZEROS);
    assert_int_equal(n->state[1].fan_out, 4);
    checked_text_free(ct);

    /* Left out: Keras' defaults. */
    ct = check_body("    s = separable_conv2d(image, filters=4, kernel_size=3);\n"
                    "    n = batch_norm(s);\n"
                    "    output n;");
    assert_int_equal(ct->errors, 0);
    s = layer(ct, "separable_conv2d_1");
    n = layer(ct, "batch_norm_1");
    assert_int_equal(s->params[0].init, TSC_INIT_GLOROT_UNIFORM);
    assert_int_equal(s->params[1].init, TSC_INIT_GLOROT_UNIFORM);
    assert_int_equal(s->params[2].init, TSC_INIT_ZEROS);
    assert_int_equal(n->params[0].init, TSC_INIT_ONES);
    assert_int_equal(n->params[1].init, TSC_INIT_ZEROS);
    assert_int_equal(n->state[0].init, TSC_INIT_ZEROS);
    assert_int_equal(n->state[1].init, TSC_INIT_ONES);
    checked_text_free(ct);

    /* A misspelt word: the list of words and the closest one, for each new argument. */
    static const struct {
        const char *body, *message, *help;
    } bad[] = {
        {"    y = conv2d_transpose(image, 4, 3, kernel_initializer=glorot_unifrom);",
         "'glorot_unifrom' is not a valid kernel_initializer for conv2d_transpose", "'glorot_uniform'"},
        {"    y = depthwise_conv2d(image, 3, depthwise_initializer=he_normall);",
         "'he_normall' is not a valid depthwise_initializer for depthwise_conv2d", "'he_normal'"},
        {"    y = separable_conv2d(image, 4, 3, pointwise_initializer=lecun_norml);",
         "'lecun_norml' is not a valid pointwise_initializer for separable_conv2d", "'lecun_normal'"},
        {"    y = batch_norm(image, moving_variance_initializer=one);",
         "'one' is not a valid moving_variance_initializer for batch_norm", "'ones'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char body[256];
        snprintf(body, sizeof body, "%s\n    output y;", bad[i].body);
        ct = check_body(body);
        char help[64];
        snprintf(help, sizeof help, "help: did you mean %s?", bad[i].help);
        if (ct->errors != 1 || strstr(ct->diagnostics, bad[i].message) == NULL ||
            strstr(ct->diagnostics, "expected one of: glorot_uniform, glorot_normal, he_uniform, he_normal, "
                                    "lecun_uniform, lecun_normal, zeros, ones [E0106]") == NULL ||
            strstr(ct->diagnostics, help) == NULL)
            fail_msg("case %zu: want E0106 '%s' and '%s', got:\n%s", i, bad[i].message, help, ct->diagnostics);
        checked_text_free(ct);
    }
}

/* Left-out parameters get the registry's typed defaults, read by name. */
static void test_registry_defaults(void **state)
{
    (void)state;
    const tsc_op_info *conv = tsc_op_info_of(TSC_OP_CONV2D);
    assert_int_equal(conv->params[P_conv2d_strides].default_kind, TSC_DEFAULT_VALUE);
    assert_int_equal(conv->params[P_conv2d_strides].default_int, 1);
    assert_string_equal(conv->params[P_conv2d_padding].default_word, "valid");
    assert_int_equal(conv->params[P_conv2d_filters].default_kind, TSC_DEFAULT_REQUIRED);
    const tsc_op_info *pool = tsc_op_info_of(TSC_OP_MAX_POOL2D);
    assert_int_equal(pool->params[P_pool2d_strides].default_kind, TSC_DEFAULT_RULE);
    assert_true(tsc_op_has(TSC_OP_FLATTEN, TSC_OPF_VIEW | TSC_OPF_DIFF));
    assert_false(tsc_op_has(TSC_OP_ARGMAX, TSC_OPF_DIFF));
    /* Every op's parameter list fits the binder and ends where its count says. */
    for (int i = 0; i < TSC_OP_COUNT; i++) {
        const tsc_op_info *info = tsc_op_info_of((tsc_op)i);
        assert_true(info->param_count <= TSC_OP_MAX_PARAMS);
        assert_null(info->params[info->param_count].name);
        for (int k = 0; k < info->param_count; k++) {
            const tsc_param_spec *p = &info->params[k];
            assert_true((p->default_kind == TSC_DEFAULT_REQUIRED) == (p->default_text == NULL));
            assert_true((p->kind == TSC_ARG_ENUM) == (p->enum_words != NULL));
            if (p->kind == TSC_ARG_ENUM && p->default_kind == TSC_DEFAULT_VALUE) {
                bool found = false;
                for (int w = 0; p->enum_words[w] != NULL; w++)
                    found = found || strcmp(p->enum_words[w], p->default_word) == 0;
                if (!found)
                    fail_msg("%s: the default '%s' of %s is not one of its words", info->name, p->default_word,
                             p->name);
            }
        }
    }
    /* Defaults as the rules see them: leaky_relu's slope, Adam's settings. */
    checked_text *ct = check_body("    a = leaky_relu(image);\n    b = conv2d(image, filters=2, kernel_size=1, activation=leaky_relu);\n"
                    "    output a;\n    output b;\n    optimizer adam();");
    assert_int_equal(ct->errors, 0);
    assert_true(layer(ct, "leaky_relu_1")->attrs.alpha == 0.3);
    assert_true(layer(ct, "conv2d_1")->attrs.alpha == 0.3);
    assert_int_equal(layer(ct, "conv2d_1")->attrs.strides[0], 1);
    const checked_optimizer *opt = ct->checked->models[0].optimizer;
    assert_true(opt->learning_rate == 0.001 && opt->beta_1 == 0.9 && opt->beta_2 == 0.999 && opt->epsilon == 1e-7);
    checked_text_free(ct);

    /* elu's alpha 1.0 (also for activation=elu), gelu's exact form (also for
     * activation=gelu), silu as swish, huber's delta 1.0, label_smoothing 0.0. */
    ct = check_body("    input label : i32[B];\n    input target : f32[B, 4];\n"
                    "    a = elu(image);\n    b = gelu(image);\n    c = gelu(image, approximate=true);\n"
                    "    d = conv2d(image, filters=2, kernel_size=1, activation=elu);\n"
                    "    e = conv2d(image, filters=2, kernel_size=1, activation=gelu);\n"
                    "    f = conv2d(image, filters=2, kernel_size=1, activation=silu);\n"
                    "    g = conv2d(image, filters=2, kernel_size=1, activation=softplus);\n"
                    "    q = flatten(a);\n    p = dense(q, units=4);\n"
                    "    loss x = sparse_softmax_cross_entropy(label, p);\n"
                    "    loss y = softmax_cross_entropy(target, p, label_smoothing=0.25);\n"
                    "    loss h = huber(target, p);\n    loss m = mean_absolute_error(target, p);\n"
                    "    output b; output c; output d; output e; output f; output g;\n    optimizer adam();");
    assert_int_equal(ct->errors, 0);
    assert_true(layer(ct, "elu_1")->attrs.alpha == 1.0);
    assert_false(layer(ct, "gelu_1")->attrs.approximate);
    assert_true(layer(ct, "gelu_2")->attrs.approximate);
    assert_int_equal(layer(ct, "conv2d_1")->attrs.activation, TSC_ACTIVATION_ELU);
    assert_true(layer(ct, "conv2d_1")->attrs.alpha == 1.0);
    assert_int_equal(layer(ct, "conv2d_2")->attrs.activation, TSC_ACTIVATION_GELU);
    assert_int_equal(layer(ct, "conv2d_3")->attrs.activation, TSC_ACTIVATION_SWISH);
    assert_int_equal(layer(ct, "conv2d_4")->attrs.activation, TSC_ACTIVATION_SOFTPLUS);
    const checked_model *m = &ct->checked->models[0];
    assert_true(m->losses[0].node->attrs.label_smoothing == 0.0);
    assert_true(m->losses[1].node->attrs.label_smoothing == 0.25);
    assert_true(m->losses[2].node->attrs.delta == 1.0);
    assert_int_equal(m->losses[3].node->op, TSC_OP_MEAN_ABSOLUTE_ERROR);
    checked_text_free(ct);
}

/* reduce_*: axis lists, negatives, keepdims and the default of all axes. */
static void test_reductions(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = reduce_mean(image, axis=[1, 2]);\n"
                                  "    b = reduce_sum(image, axis=-1, keepdims=true);\n"
                                  "    c = reduce_max(image);\n"
                                  "    output a; output b; output c;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "reduce_mean_1", "f32[B,3]");
    assert_type(ct, "reduce_sum_1", "f32[B,28,28,1]");
    assert_type(ct, "reduce_max_1", "f32[]");
    assert_int_equal(layer(ct, "reduce_mean_1")->attrs.axis_mask, 0x6);
    assert_int_equal(layer(ct, "reduce_sum_1")->attrs.axis_mask, 0x8);
    assert_true(layer(ct, "reduce_sum_1")->attrs.keepdims);
    assert_int_equal(layer(ct, "reduce_max_1")->attrs.axis_mask, 0xf);
    checked_text_free(ct);
}

/* argmax gives i32, one_hot f32[…,depth], squeeze/expand_dims move size-1 axes. */
static void test_index_ops(void **state)
{
    (void)state;
    checked_text *ct = check_body("    input label : i32[B, 4];\n"
                                  "    a = argmax(image);\n"
                                  "    b = argmax(image, axis=1);\n"
                                  "    h = one_hot(label, depth=5);\n"
                                  "    e = expand_dims(h, axis=-1);\n"
                                  "    s = squeeze(e, axis=3);\n"
                                  "    t = expand_dims(h, 1);\n"
                                  "    output a; output b; output s; output t;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "argmax_1", "i32[B,28,28]");
    assert_type(ct, "argmax_2", "i32[B,28,3]");
    assert_type(ct, "one_hot_1", "f32[B,4,5]");
    assert_type(ct, "expand_dims_1", "f32[B,4,5,1]");
    assert_type(ct, "squeeze_1", "f32[B,4,5]");
    assert_type(ct, "expand_dims_2", "f32[B,1,4,5]");
    assert_int_equal(layer(ct, "expand_dims_1")->attrs.axis, 3);
    assert_false(layer(ct, "argmax_1")->info->differentiable);
    checked_text_free(ct);
}

/* conv2d_backprop_filter/input give the filter and the input shape. */
static void test_conv2d_backprop(void **state)
{
    (void)state;
    checked_text *ct = check_text("model m {\n"
                                  "    input x : f32[1, 28, 28, 32];\n"
                                  "    input w : f32[5, 5, 32, 64];\n"
                                  "    input dy : f32[1, 28, 28, 64];\n"
                                  "    input dv : f32[1, 12, 12, 64];\n"
                                  "    dw = conv2d_backprop_filter(x, (5, 5, 32, 64), dy, strides=1, padding=same);\n"
                                  "    dx = conv2d_backprop_input((1, 28, 28, 32), w, dv, strides=(1, 2, 2, 1));\n"
                                  "    output dw; output dx;\n"
                                  "}\n");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "conv2d_backprop_filter_1", "f32[5,5,32,64]");
    assert_type(ct, "conv2d_backprop_input_1", "f32[1,28,28,32]");
    assert_int_equal(layer(ct, "conv2d_backprop_input_1")->attrs.strides[0], 2);
    assert_int_equal(layer(ct, "conv2d_backprop_filter_1")->attrs.pad_top, 2);
    assert_null(ct->checked->models[0].batch_symbol);
    checked_text_free(ct);
}

/* conv2d_transpose: Keras' deconv_output_length in both paddings, with and
 * without output_padding, dilation; the kernel [kh,kw,filters,C]; TF's
 * padding of the conv2d it transposes; the arithmetic in the shape reason. */
static void test_conv2d_transpose(void **state)
{
    (void)state;
    checked_text *ct = check_body("    e = conv2d(image, 8, 4, strides=4, padding=same);\n"   /* f32[B,7,7,8] */
                                  "    a = conv2d_transpose(e, 4, 3, strides=2, padding=same, name=\"same\");\n"
                                  "    b = conv2d_transpose(e, 4, 3, strides=2, padding=same, output_padding=0, name=\"odd\");\n"
                                  "    c = conv2d_transpose(e, 4, 3, strides=2, name=\"valid\");\n"
                                  "    d = conv2d_transpose(e, 4, 2, strides=3, name=\"gaps\");\n"
                                  "    f = conv2d_transpose(e, 4, (3, 1), dilation_rate=2, padding=same, use_bias=false, "
                                  "name=\"dil\");\n"
                                  "    g = conv2d_transpose(e, 4, 4, strides=2, padding=same, output_padding=1, "
                                  "activation=relu, name=\"even\");\n"
                                  "    output a; output b; output c; output d; output f; output g;");
    assert_int_equal(ct->errors, 0);
    assert_int_equal(ct->warnings, 0);
    assert_type(ct, "same", "f32[B,14,14,4]");    /* 7*2 */
    assert_type(ct, "odd", "f32[B,13,13,4]");     /* (7 - 1)*2 + 3 - 2*1 + 0 */
    assert_type(ct, "valid", "f32[B,15,15,4]");   /* 7*2 + max(3 - 2, 0) */
    assert_type(ct, "gaps", "f32[B,21,21,4]");    /* 7*3 + max(2 - 3, 0) */
    assert_type(ct, "dil", "f32[B,7,7,4]");       /* 7*1 */
    assert_type(ct, "even", "f32[B,13,13,4]");    /* (7 - 1)*2 + 4 - 2*2 + 1 */
    const checked_node *same = layer(ct, "same");
    assert_int_equal(same->param_count, 2);
    assert_string_equal(same->params[0].name, "same.kernel");
    assert_int_equal(same->params[0].type.dims[2], 4);   /* [kh, kw, filters, C] */
    assert_int_equal(same->params[0].type.dims[3], 8);
    assert_int_equal(same->params[0].fan_in, 3 * 3 * 4);
    assert_int_equal(same->attrs.pad_top, 0);            /* total (7-1)*2 + 3 - 14 = 1 goes to the bottom */
    assert_int_equal(layer(ct, "odd")->attrs.pad_top, 1); /* (7-1)*2 + 3 - 13 = 2 */
    assert_int_equal(layer(ct, "dil")->param_count, 1);
    assert_int_equal(layer(ct, "dil")->attrs.pad_top, 2);
    assert_int_equal(layer(ct, "even")->attrs.activation, TSC_ACTIVATION_RELU);
    assert_string_equal(same->shape_reason,
                        "conv2d_transpose(filters=4, kernel_size=3, strides=2, padding=same) doubles f32[B,7,7,8]: "
                        "7*2 = 14; without output_padding, padding=same gives H*s, always a multiple of the stride 2: "
                        "output_padding=p (0 <= p < 2) gives (7 - 1)*2 + 3 - 2*1 + p = 13 + p rows instead");
    assert_string_equal(layer(ct, "odd")->shape_reason,
                        "conv2d_transpose(filters=4, kernel_size=3, strides=2, padding=same, output_padding=0) enlarges "
                        "f32[B,7,7,8]: (7 - 1)*2 + 3 - 2*1 + 0 = 13");
    assert_string_equal(layer(ct, "gaps")->shape_reason,
                        "conv2d_transpose(filters=4, kernel_size=2, strides=3) enlarges f32[B,7,7,8]: 7*3 + max(2 - 3, 0) "
                        "= 21; other sizes need output_padding: output_padding=p (0 <= p < 3) gives (7 - 1)*3 + 2 + p = "
                        "20 + p rows instead");
    assert_string_equal(layer(ct, "dil")->shape_reason,
                        "conv2d_transpose(filters=4, kernel_size=(3, 1), padding=same, dilation_rate=2) enlarges "
                        "f32[B,7,7,8]: 7*1 = 7");
    checked_text_free(ct);
}

/* upsample2d multiplies H and W; zero_padding2d and cropping2d take Keras'
 * three forms (n, (rows, columns), ((top, bottom), (left, right))). */
static void test_resize_ops(void **state)
{
    (void)state;
    checked_text *ct = check_body("    a = upsample2d(image, name=\"twice\");\n"
                                  "    b = upsample2d(image, size=(3, 1), interpolation=bilinear, name=\"uneven\");\n"
                                  "    c = zero_padding2d(image, name=\"pad1\");\n"
                                  "    d = zero_padding2d(image, padding=(2, 0), name=\"rows\");\n"
                                  "    f = zero_padding2d(image, ((1, 2), (3, 4)), name=\"sides\");\n"
                                  "    g = cropping2d(image, cropping=((1, 2), (0, 27)), name=\"crop\");\n"
                                  "    h = cropping2d(image, name=\"none\");\n"
                                  "    output a; output b; output c; output d; output f; output g; output h;");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "twice", "f32[B,56,56,3]");
    assert_type(ct, "uneven", "f32[B,84,28,3]");
    assert_int_equal(layer(ct, "uneven")->attrs.interpolation, 1);
    assert_type(ct, "pad1", "f32[B,30,30,3]");
    assert_type(ct, "rows", "f32[B,32,28,3]");
    assert_type(ct, "sides", "f32[B,31,35,3]");
    assert_type(ct, "crop", "f32[B,25,1,3]");
    assert_type(ct, "none", "f32[B,28,28,3]");
    const checked_node *crop = layer(ct, "crop");
    assert_int_equal(crop->attrs.pad_top, -1);    /* cropping is stored as negative padding */
    assert_int_equal(crop->attrs.pad_right, -27);
    assert_string_equal(crop->shape_reason, "cropping2d(cropping=((1, 2), (0, 27))) crops f32[B,28,28,3]: "
                                            "rows 28 - 1 - 2 = 25, columns 28 - 0 - 27 = 1");
    assert_string_equal(layer(ct, "uneven")->shape_reason,
                        "upsample2d(size=(3, 1), interpolation=bilinear) enlarges f32[B,28,28,3]: rows 28*3 = 84, "
                        "columns 28*1 = 28");
    assert_string_equal(layer(ct, "sides")->shape_reason, "zero_padding2d(padding=((1, 2), (3, 4))) pads "
                                                          "f32[B,28,28,3]: rows 1 + 28 + 2 = 31, columns 3 + 28 + 4 = 35");
    checked_text_free(ct);
}

/* Errors of the four: each with its arithmetic. */
static void test_resize_errors(void **state)
{
    (void)state;
    static const error_case cases[] = {
        {"    a = conv2d_transpose(image, 4, 3, strides=2, output_padding=2);\n    output a;", "E0401",
         "must be below the stride 2 of the rows, found 2"},
        {"    a = conv2d_transpose(image, 4, 3, output_padding=(0, 1));\n    output a;", "E0401",
         "below the stride 1 of the columns"},
        {"    a = conv2d_transpose(image, 4, 2, strides=2, padding=same, output_padding=0);\n    output a;", "E0401",
         "maps 54 rows back to ceil(54/2) = 27, not 28"},
        {"    a = conv2d_transpose(image, 0, 3);\n    output a;", "E0401", "filters"},
        {"    a = conv2d_transpose(image, 4, 3, dilation_rate=0);\n    output a;", "E0401", "dilation_rate"},
        {"    a = flatten(image);\n    b = conv2d_transpose(a, 4, 3);\n    output b;", "E0203", "rank-4 input"},
        {"    a = upsample2d(image, size=0);\n    output a;", "E0401", "size of upsample2d"},
        {"    a = upsample2d(image, interpolation=bicubic);\n    output a;", "E0106", "nearest, bilinear"},
        {"    a = cropping2d(image, cropping=(14, 0));\n    output a;", "E0401",
         "removes 14 + 14 of the 28 rows of 'image' (f32[B,28,28,3]), leaving none: 28 - 14 - 14 = 0"},
        {"    a = cropping2d(image, cropping=((0, 0), (30, 0)));\n    output a;", "E0401", "28 - 30 - 0 = -2"},
        {"    a = zero_padding2d(image, padding=(1, 2, 3));\n    output a;", "E0106", "((top, bottom), (left, right))"},
        {"    a = zero_padding2d(image, padding=-1);\n    output a;", "E0401", "between 0 and"},
        {"    a = zero_padding2d(image, padding=9999999999);\n    output a;", "E0401", "between 0 and"},
        {"    a = upsample2d(image, size=2147483647);\n    output a;", "E0210", "64-bit count"},
        {"    a = upsample2d(image, size=(100000000, 1));\n    output a;", "E0210", "above 2147483647"},
        {"    a = conv2d_transpose(image, 4, 3, strides=(100000000, 1));\n    output a;", "E0210", "above 2147483647"},
    };
    expect_one_error_each(cases, sizeof cases / sizeof cases[0]);
}

/* Losses: per-pixel sparse CE, focal in both forms, mse, bce; weights; metrics. */
static void test_losses_and_metrics(void **state)
{
    (void)state;
    checked_text *ct = check_body("    input mask : i32[B, 28, 28];\n"
                    "    input target : f32[B, 28, 28, 3];\n"
                    "    input cls : i32[B];\n"
                    "    logits = conv2d(image, 3, 1, padding=same);\n"
                    "    pooled = global_avg_pool2d(logits);\n"
                    "    loss seg = sparse_softmax_cross_entropy(mask, logits, weight=0.5);\n"
                    "    loss soft = softmax_cross_entropy(target, logits);\n"
                    "    loss sig = sigmoid_cross_entropy(target, logits);\n"
                    "    loss bce = binary_cross_entropy(target, logits, from_logits=true);\n"
                    "    loss fs = focal_loss(mask, logits, gamma=1.5);\n"
                    "    loss fo = focal_loss(target, logits, alpha=0.5);\n"
                    "    loss se = mean_squared_error(target, logits);\n"
                    "    metric acc = accuracy(cls, pooled);\n"
                    "    metric top = in_top_k(pooled, cls, 2);\n"
                    "    metric avg = mean(seg);\n"
                    "    optimizer sgd(0.1, momentum=0.9, nesterov=true, weight_decay=0.0001);");
    assert_int_equal(ct->errors, 0);
    assert_int_equal(ct->warnings, 0);
    const checked_model *m = &ct->checked->models[0];
    assert_int_equal(m->loss_count, 7);
    assert_int_equal(m->metric_count, 3);
    assert_true(m->losses[0].weight == 0.5);
    assert_true(m->losses[0].node->attrs.sparse_labels);
    assert_int_equal(m->losses[0].node->type.rank, 0);
    assert_true(m->losses[4].node->attrs.sparse_labels);
    assert_true(m->losses[4].node->attrs.gamma == 1.5);
    assert_true(m->losses[4].node->attrs.alpha == 0.25);
    assert_false(m->losses[5].node->attrs.sparse_labels);
    assert_true(m->losses[5].node->attrs.alpha == 0.5);
    assert_true(m->losses[3].node->attrs.from_logits);
    assert_int_equal(m->metrics[0].node->attrs.k, 1);
    assert_int_equal(m->metrics[1].node->attrs.k, 2);
    assert_int_equal(m->metrics[1].node->attrs.classes, 3);
    assert_ptr_equal(m->metrics[2].node->inputs[0], m->losses[0].node);
    assert_int_equal(m->optimizer->op, TSC_OP_SGD);
    assert_true(m->optimizer->learning_rate == 0.1);
    assert_true(m->optimizer->momentum == 0.9);
    assert_true(m->optimizer->nesterov);
    assert_true(m->optimizer->weight_decay == 0.0001);
    checked_text_free(ct);
}

/* The optimizer of a model whose body around `optimizer_stmt` is a dense classifier. */
static checked_text *check_optimizer(const char *optimizer_stmt)
{
    char body[1024];
    snprintf(body, sizeof body,
             "    input label : i32[B];\n    x = flatten(image);\n    logits = dense(x, units=3);\n"
             "    loss xent = sparse_softmax_cross_entropy(labels=label, logits=logits);\n    %s",
             optimizer_stmt);
    checked_text *ct = check_body(body);
    assert_int_equal(ct->errors, 0);
    assert_non_null(ct->checked->models[0].optimizer);
    return ct;
}

/* adamw, rmsprop and amsgrad with Keras' defaults; clipping; each schedule
 * bound positionally and by keyword into the checked optimizer. */
static void test_optimizers_and_schedules(void **state)
{
    (void)state;
    checked_text *ct = check_optimizer("optimizer adamw(amsgrad=true, clipvalue=0.5);");
    const checked_optimizer *o = ct->checked->models[0].optimizer;
    assert_int_equal(o->op, TSC_OP_ADAMW);
    assert_true(o->learning_rate == 0.001 && o->weight_decay == 0.004 && o->beta_1 == 0.9 && o->beta_2 == 0.999);
    assert_true(o->epsilon == 1e-7 && o->amsgrad && o->clipvalue == 0.5 && o->clipnorm == 0.0);
    assert_null(o->schedule);
    checked_text_free(ct);

    ct = check_optimizer("optimizer rmsprop(global_clipnorm=2);");
    o = ct->checked->models[0].optimizer;
    assert_int_equal(o->op, TSC_OP_RMSPROP);
    assert_true(o->learning_rate == 0.001 && o->rho == 0.9 && o->momentum == 0.0 && o->epsilon == 1e-7);
    assert_false(o->centered);
    assert_true(o->weight_decay == 0.0 && o->global_clipnorm == 2.0);
    checked_text_free(ct);

    ct = check_optimizer("optimizer sgd(learning_rate=exponential_decay(0.1, 100, 0.5, true), momentum=0.9);");
    o = ct->checked->models[0].optimizer;
    assert_non_null(o->schedule);
    assert_int_equal(o->schedule->op, TSC_OP_EXPONENTIAL_DECAY);
    assert_true(o->schedule->initial_learning_rate == 0.1 && o->schedule->decay_rate == 0.5);
    assert_int_equal(o->schedule->decay_steps, 100);
    assert_true(o->schedule->staircase);
    assert_true(o->learning_rate == 0.1); /* the rate at step 0 */
    checked_text_free(ct);

    ct = check_optimizer("optimizer adam(learning_rate=piecewise_constant_decay(boundaries=[10, 20, 35], "
                         "values=[1, 0.5, 0.25, 0.125]));");
    o = ct->checked->models[0].optimizer;
    assert_int_equal(o->schedule->op, TSC_OP_PIECEWISE_CONSTANT_DECAY);
    assert_int_equal(o->schedule->boundary_count, 3);
    assert_int_equal(o->schedule->boundaries[2], 35);
    assert_true(o->schedule->values[0] == 1.0 && o->schedule->values[3] == 0.125);
    assert_true(o->learning_rate == 1.0);
    checked_text_free(ct);

    ct = check_optimizer("optimizer adam(learning_rate=cosine_decay(initial_learning_rate=0, decay_steps=50, "
                         "alpha=0.1, warmup_target=0.01, warmup_steps=5));");
    o = ct->checked->models[0].optimizer;
    assert_int_equal(o->schedule->op, TSC_OP_COSINE_DECAY);
    assert_true(o->schedule->warmup && o->schedule->warmup_target == 0.01 && o->schedule->alpha == 0.1);
    assert_int_equal(o->schedule->warmup_steps, 5);
    checked_text_free(ct);

    /* Without warmup_target there is no warmup. */
    ct = check_optimizer("optimizer adam(learning_rate=cosine_decay(0.01, 50));");
    assert_false(ct->checked->models[0].optimizer->schedule->warmup);
    checked_text_free(ct);
}

/* consts stand for dims and values; name= overrides the Keras name; rebinding. */
static void test_consts_names_rebinding(void **state)
{
    (void)state;
    checked_text *ct = check_text("const N = 10;\nconst RATE = 0.2;\n"
                                  "model m {\n"
                                  "    input x : f32[B, N];\n"
                                  "    x = dense(x, units=N, name=\"head\");\n"
                                  "    x = dropout(x, rate=RATE);\n"
                                  "    y : f32[B, N] = dense(x, N);\n"
                                  "    z : [_, 10] = relu(y, name=\"relu_1\");\n"
                                  "    z = relu(z);\n"
                                  "    output z;\n"
                                  "}\n");
    assert_int_equal(ct->errors, 0);
    assert_type(ct, "head", "f32[B,10]");
    assert_string_equal(layer(ct, "head")->params[0].name, "head.kernel");
    assert_type(ct, "dense_1", "f32[B,10]");
    assert_true(layer(ct, "dropout_1")->attrs.rate == 0.2);
    assert_ptr_equal(layer(ct, "dense_1")->inputs[0], layer(ct, "dropout_1"));
    assert_string_equal(layer(ct, "dense_1")->binding, "y");
    assert_ptr_equal(layer(ct, "relu_2")->inputs[0], layer(ct, "relu_1"));   /* the auto name skips the explicit one */
    checked_text_free(ct);
}

/* Type helpers: formatting, equality and overflow-checked element counts. */
static void test_type_helpers(void **state)
{
    (void)state;
    tsc_type t = {TSC_DTYPE_F32, 4, {TSC_DIM_BATCH, 5, 5, 64}};
    char buf[TSC_TYPE_STR_MAX];
    assert_string_equal(tsc_type_format(buf, sizeof buf, &t, "N"), "f32[N,5,5,64]");
    assert_string_equal(tsc_type_format(buf, sizeof buf, &t, NULL), "f32[B,5,5,64]");
    int64_t n;
    assert_true(tsc_type_elements(&t, 32, 0, &n));
    assert_int_equal(n, 32 * 1600);
    assert_true(tsc_type_elements(&t, 0, 1, &n));
    assert_int_equal(n, 1600);
    tsc_type big = {TSC_DTYPE_F32, 3, {INT64_C(1) << 40, INT64_C(1) << 20, 8}};
    assert_false(tsc_type_elements(&big, 1, 0, &n));
    assert_false(tsc_mul_checked(INT64_MAX, 2, &n));
    tsc_type poison = {0};
    assert_false(tsc_type_equal(&poison, &poison));
    assert_true(tsc_type_equal(&t, &t));
    assert_string_equal(tsc_type_format(buf, sizeof buf, &poison, NULL), "<error>");
    tsc_type scalar = {TSC_DTYPE_F32, 0, {0}};
    assert_string_equal(tsc_type_format(buf, sizeof buf, &scalar, NULL), "f32[]");
}

/* The op table: lookup, parameter order of SPEC §3, suggestions. */
static void test_op_table(void **state)
{
    (void)state;
    const tsc_op_info *conv = tsc_op_lookup("conv2d");
    assert_non_null(conv);
    assert_int_equal(conv->op, TSC_OP_CONV2D);
    assert_true(conv->has_weights);
    assert_string_equal(conv->params[1].name, "filters");
    assert_string_equal(conv->params[4].name, "padding");
    assert_int_equal(tsc_op_param_index(conv, "dilation_rate"), 5);
    assert_null(tsc_op_lookup("input"));
    assert_null(tsc_op_lookup("conv3d"));
    for (int i = 0; i < TSC_OP_COUNT; i++)
        assert_int_equal(tsc_op_info_of((tsc_op)i)->op, i);
    const char *names[] = {"conv2d", "dense", "flatten"};
    assert_string_equal(tsc_closest_name("conv2", names, 3), "conv2d");
    assert_string_equal(tsc_closest_name("flaten", names, 3), "flatten");
    assert_null(tsc_closest_name("softmax", names, 3));
}

static char *read_whole(const char *relative)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TSC_SOURCE_DIR, relative);
    tsc_source *src = tsc_source_read(path);
    if (src == NULL)
        fail_msg("cannot read %s", path);
    char *text = tsc_xstrdup(src->text);
    tsc_source_free(src);
    return text;
}

/* The last node bound to `name` in the first model. */
static const checked_node *bound(const checked_text *ct, const char *name)
{
    const checked_model *m = &ct->checked->models[0];
    for (int i = m->node_count - 1; i >= 0; i--) {
        if (m->nodes[i]->binding != NULL && strcmp(m->nodes[i]->binding, name) == 0)
            return m->nodes[i];
    }
    return NULL;
}

/* Every example of docs/ops.md checks without error, and each "# f32[…]"
 * comment there is the type tsc computes for that line's name. */
static void test_ops_doc_examples(void **state)
{
    (void)state;
    char *doc = read_whole("docs/ops.md");
    const char *open_tag = "```tdl\n";
    char *block = strstr(doc, open_tag);
    assert_non_null(block);
    char *end = strstr(block + strlen(open_tag), "```");
    assert_non_null(end);
    /* The first block declares the inputs every other example uses. */
    char *context = tsc_xstrndup(block + strlen(open_tag), (size_t)(end - block - strlen(open_tag)));
    int examples = 0, comments = 0;
    for (block = strstr(end + 3, open_tag); block != NULL; block = strstr(end + 3, open_tag)) {
        const char *body = block + strlen(open_tag);
        end = strstr(body, "```");
        assert_non_null(end);
        char *example = tsc_xstrndup(body, (size_t)(end - body));
        bool optimizer = strncmp(example, "optimizer", 9) == 0;
        bool needs_scores = strstr(example, "scores") != NULL && strstr(example, "scores =") == NULL;
        char *text = tsc_format("model m {\n%s%s%s}\n", context,
                                needs_scores && !optimizer ? "scores = dense(features, units=10);\n" : "", example);
        checked_text *ct = check_text(text);
        if (ct->errors != 0)
            fail_msg("docs/ops.md example fails:\n%s\n%s", example, ct->diagnostics);
        for (char *line = example; line != NULL && *line != '\0';) {
            char *next = strchr(line, '\n');
            if (next != NULL)
                *next = '\0';
            char name[64], type[64];
            const char *hash = strstr(line, "# ");
            if (hash != NULL && sscanf(line, " %63[a-z_0-9] =", name) == 1 && sscanf(hash, "# %63[^ \n]", type) == 1 &&
                (strncmp(type, "f32[", 4) == 0 || strncmp(type, "i32[", 4) == 0)) {
                const checked_node *node = bound(ct, name);
                assert_non_null(node);
                char buf[TSC_TYPE_STR_MAX];
                tsc_type_format(buf, sizeof buf, &node->type, "B");
                if (strcmp(buf, type) != 0)
                    fail_msg("docs/ops.md says %s is %s, tsc computes %s", name, type, buf);
                comments++;
            }
            line = next != NULL ? next + 1 : NULL;
        }
        checked_text_free(ct);
        free(text);
        free(example);
        examples++;
    }
    assert_true(examples >= 20);
    assert_true(comments >= 20);
    free(context);
    free(doc);
}

/* Every callable op of the table has its section in docs/ops.md. */
static void test_ops_documented(void **state)
{
    (void)state;
    char *doc = read_whole("docs/ops.md");
    for (int i = TSC_OP_INPUT + 1; i < TSC_OP_COUNT; i++) {
        const char *name = tsc_op_info_of((tsc_op)i)->name;
        char *signature = tsc_format("`%s(", name);
        if (strstr(doc, signature) == NULL)
            fail_msg("docs/ops.md does not document %s", name);
        free(signature);
    }
    free(doc);
}

/* Every initializer argument is on its op's signature line in docs/ops.md,
 * with its default. */
static void test_ops_doc_initializers(void **state)
{
    (void)state;
    char *doc = read_whole("docs/ops.md");
    int found = 0;
    for (int i = TSC_OP_INPUT + 1; i < TSC_OP_COUNT; i++) {
        const tsc_op_info *info = tsc_op_info_of((tsc_op)i);
        for (int k = 0; k < info->param_count; k++) {
            const tsc_param_spec *p = &info->params[k];
            const char *suffix = strstr(p->name, "_initializer");
            if (suffix == NULL || suffix[strlen("_initializer")] != '\0')
                continue;
            char *start = tsc_format("\n`%s(", info->name);
            const char *line = strstr(doc, start);
            if (line == NULL)
                fail_msg("docs/ops.md has no signature line for %s", info->name);
            const char *end = strchr(line + 1, '\n');
            char *signature = tsc_xstrndup(line + 1, (size_t)(end - line - 1));
            char *argument = tsc_format(" %s=%s,", p->name, p->default_word);
            if (strstr(signature, argument) == NULL)
                fail_msg("the signature of %s in docs/ops.md lacks%s", info->name, argument);
            found++;
            free(argument);
            free(signature);
            free(start);
        }
    }
    assert_true(found >= 13);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fashion_cnn),
        cmocka_unit_test(test_conv2d_arithmetic),
        cmocka_unit_test(test_grouped_conv_arithmetic),
        cmocka_unit_test(test_pools),
        cmocka_unit_test(test_reshaping_and_dense),
        cmocka_unit_test(test_elementwise),
        cmocka_unit_test(test_combine),
        cmocka_unit_test(test_combine_errors),
        cmocka_unit_test(test_nested_calls_and_names),
        cmocka_unit_test(test_operators),
        cmocka_unit_test(test_statements_with_expressions),
        cmocka_unit_test(test_operator_errors),
        cmocka_unit_test(test_initializer_arguments),
        cmocka_unit_test(test_initializer_arguments_every_layer),
        cmocka_unit_test(test_registry_defaults),
        cmocka_unit_test(test_reductions),
        cmocka_unit_test(test_index_ops),
        cmocka_unit_test(test_conv2d_backprop),
        cmocka_unit_test(test_conv2d_transpose),
        cmocka_unit_test(test_resize_ops),
        cmocka_unit_test(test_resize_errors),
        cmocka_unit_test(test_losses_and_metrics),
        cmocka_unit_test(test_consts_names_rebinding),
        cmocka_unit_test(test_type_helpers),
        cmocka_unit_test(test_op_table),
        cmocka_unit_test(test_ops_doc_examples),
        cmocka_unit_test(test_ops_documented),
        cmocka_unit_test(test_ops_doc_initializers),
        cmocka_unit_test(test_optimizers_and_schedules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
