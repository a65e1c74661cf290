/* Tests of tsc --summary (summary.c) and tsc --dot (dot.c): parameter counts
 * of known models, FLOPs and activation bytes computed by hand, and the DOT
 * graph's edges and determinism. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "report.h"

/* A parsed and checked file, with the reports printed into strings. */
typedef struct checked_source {
    tsc_source *source;
    ast_file *ast;
    checked_file *checked;
    int errors;
    char *diagnostics;       /* everything diag printed */
    size_t diagnostics_size;
} checked_source;

static checked_source *check_source(tsc_source *source)
{
    assert_non_null(source);
    checked_source *cs = calloc(1, sizeof *cs);
    assert_non_null(cs);
    cs->source = source;
    FILE *stream = open_memstream(&cs->diagnostics, &cs->diagnostics_size);
    assert_non_null(stream);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = stream};
    diag_begin(&options);
    cs->errors = tsc_parse(cs->source, &cs->ast);
    cs->errors += tsc_check(cs->ast, &cs->checked);
    diag_end();
    fclose(stream);
    return cs;
}

static checked_source *check_text(const char *text)
{
    return check_source(tsc_source_from_string("test.tdl", text, strlen(text)));
}

static checked_source *check_file(const char *relative_path)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", TSC_SOURCE_DIR, relative_path);
    return check_source(tsc_source_read(path));
}

static void checked_source_free(checked_source *cs)
{
    checked_file_free(cs->checked);
    ast_file_free(cs->ast);
    tsc_source_free(cs->source);
    free(cs->diagnostics);
    free(cs);
}

/* Fails with the diagnostics when the file did not check cleanly. */
static void assert_clean(const checked_source *cs)
{
    if (cs->errors != 0) {
        print_error("unexpected diagnostics:\n%s\n", cs->diagnostics);
    }
    assert_int_equal(cs->errors, 0);
}

static char *summary_text(const checked_source *cs, int64_t batch)
{
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    tsc_print_summary(stream, cs->checked, batch);
    fclose(stream);
    return text;
}

static char *dot_text(const checked_source *cs)
{
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    tsc_print_dot(stream, cs->checked);
    fclose(stream);
    return text;
}

#define MAX_CELLS 8
#define MAX_CELL 128

/* The cells of the table row whose first cell is `layer`: cells are separated
 * by two or more blanks. Fails when there is no such row. Returns the count. */
static int find_row(const char *table, const char *layer, char cells[MAX_CELLS][MAX_CELL])
{
    size_t layer_length = strlen(layer);
    for (const char *line = table; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
        const char *start = line + 1; /* rows start with one blank */
        if (line[0] != ' ' || strncmp(start, layer, layer_length) != 0 || start[layer_length] != ' ') {
            continue;
        }
        const char *end = strchr(start, '\n');
        if (!end) {
            end = start + strlen(start);
        }
        int count = 0;
        const char *p = start;
        while (p < end && count < MAX_CELLS) {
            while (p < end && *p == ' ') {
                p++;
            }
            if (p == end) {
                break;
            }
            const char *cell_end = p;
            while (cell_end < end && !(cell_end[0] == ' ' && cell_end + 1 < end && cell_end[1] == ' ')) {
                cell_end++;
            }
            size_t n = (size_t)(cell_end - p);
            while (n > 0 && p[n - 1] == ' ') {
                n--;
            }
            assert_true(n < MAX_CELL);
            memcpy(cells[count], p, n);
            cells[count][n] = '\0';
            count++;
            p = cell_end;
        }
        return count;
    }
    print_error("no row '%s' in:\n%s\n", layer, table);
    fail();
    return 0;
}

/* Asserts a row's output shape, params, FLOPs and activation bytes. */
static void assert_row(const char *table, const char *layer, const char *shape, const char *params,
                       const char *flops, const char *bytes)
{
    char cells[MAX_CELLS][MAX_CELL];
    int count = find_row(table, layer, cells);
    assert_true(count >= 5);
    assert_string_equal(cells[1], shape);
    assert_string_equal(cells[2], params);
    if (flops) {
        assert_string_equal(cells[3], flops);
    }
    if (bytes) {
        assert_string_equal(cells[4], bytes);
    }
}

static void assert_contains(const char *text, const char *needle)
{
    if (!strstr(text, needle)) {
        print_error("'%s' not found in:\n%s\n", needle, text);
        fail();
    }
}

/* conv2d (3x3 same, 2 -> 4 channels) -> max_pool -> flatten -> dense 3.
 * At B = 2 (see the comments of the tests below for the arithmetic). */
static const char tiny_model[] =
    "model tiny {\n"
    "    input x : f32[B, 8, 8, 2];\n"
    "    input y : i32[B];\n"
    "    h = conv2d(x, filters=4, kernel_size=3, padding=same, activation=relu);\n"
    "    h = max_pool2d(h, pool_size=2);\n"
    "    h = flatten(h);\n"
    "    logits = dense(h, units=3);\n"
    "    loss xent = sparse_softmax_cross_entropy(labels=y, logits=logits);\n"
    "    metric acc = accuracy(y, logits);\n"
    "    output logits;\n"
    "    optimizer sgd(learning_rate=0.1);\n"
    "}\n";

/* LeNet-5 has 61,706 parameters (as Keras counts them). */
static void test_lenet5_total_params(void **state)
{
    (void)state;
    checked_source *cs = check_file("examples/models/lenet5.tdl");
    assert_clean(cs);
    assert_int_equal(cs->diagnostics_size, 0);
    assert_int_equal(cs->checked->model_count, 1);
    assert_int_equal(cs->checked->models[0].param_total, 61706);
    char *table = summary_text(cs, 1);
    assert_contains(table, "Model: \"lenet5\"");
    assert_contains(table, "\nTotal params: 61,706 (241.04 KB)\n");
    assert_contains(table, "\nTrainable params: 61,706 (241.04 KB)\n");
    assert_contains(table, "\nNon-trainable params: 0 (0.00 B)\n");
    /* 5*5*1*6 + 6, 5*5*6*16 + 16, 400*120 + 120, 120*84 + 84, 84*10 + 10 */
    assert_row(table, "conv2d_1 (conv2d)", "f32[B,28,28,6]", "156", NULL, NULL);
    assert_row(table, "conv2d_2 (conv2d)", "f32[B,10,10,16]", "2,416", NULL, NULL);
    assert_row(table, "flatten_1 (flatten)", "f32[B,400]", "0", "0", NULL);
    assert_row(table, "dense_1 (dense)", "f32[B,120]", "48,120", NULL, NULL);
    assert_row(table, "dense_2 (dense)", "f32[B,84]", "10,164", NULL, NULL);
    assert_row(table, "dense_3 (dense)", "f32[B,10]", "850", NULL, NULL);
    free(table);
    checked_source_free(cs);
}

/* batch_norm: gamma and beta are trainable (PyTorch's parameters() of
 * Conv2d(2, 4, 3, bias=False), BatchNorm2d(4), Linear(360, 5) count 72 + 8 +
 * 1805 = 1885), the moving statistics non-trainable; the row shows all four
 * vectors, as Keras' Param # column does, and the arena line the state. */
static void test_batch_norm_params(void **state)
{
    (void)state;
    checked_source *cs = check_file("tests/e2e/models/fx_batch_norm.tdl");
    assert_clean(cs);
    assert_int_equal(cs->checked->models[0].param_total, 1885);
    assert_int_equal(cs->checked->models[0].state_total, 8);
    char *table = summary_text(cs, 2);
    assert_row(table, "conv2d_1 (conv2d)", "f32[B,9,10,4]", "72", NULL, NULL);
    assert_row(table, "batch_norm_1 (batch_norm)", "f32[B,9,10,4]", "16", "0", NULL);
    assert_contains(table, "\nTotal params: 1,893 (7.39 KB)\n");
    assert_contains(table, "\nTrainable params: 1,885 (7.36 KB)\n");
    assert_contains(table, "\nNon-trainable params: 8 (32.00 B)\n");
    /* state and the batch's statistics: 8 floats each, a 64-byte line each */
    assert_contains(table, "; non-trainable state 128.00 B; ");
    free(table);
    checked_source_free(cs);
}

/* The Fashion-MNIST model of SPEC §2: shapes and parameters per layer. */
static void test_fashion_cnn_layers(void **state)
{
    (void)state;
    checked_source *cs = check_file("examples/fashion_mnist/fashion_cnn.tdl");
    assert_clean(cs);
    char *table = summary_text(cs, 1);
    assert_row(table, "image (input)", "f32[B,28,28,1]", "0", "0", "3,136");
    assert_row(table, "conv2d_1 (conv2d)", "f32[B,26,26,32]", "320", NULL, NULL);
    assert_row(table, "max_pool2d_1 (max_pool2d)", "f32[B,13,13,32]", "0", "0", NULL);
    assert_row(table, "conv2d_2 (conv2d)", "f32[B,11,11,64]", "18,496", NULL, NULL);
    assert_row(table, "max_pool2d_2 (max_pool2d)", "f32[B,5,5,64]", "0", "0", NULL);
    assert_row(table, "flatten_1 (flatten)", "f32[B,1600]", "0", "0", "6,400");
    assert_row(table, "dropout_1 (dropout)", "f32[B,1600]", "0", "0", NULL);
    assert_row(table, "dense_1 (dense)", "f32[B,10]", "16,010", "32,000", "40");
    assert_row(table, "xent (loss sparse_softmax_cross_entropy)", "f32[]", "0", "0", "4");
    assert_row(table, "acc (metric in_top_k)", "f32[]", "0", "0", "4");
    assert_contains(table, "\nTotal params: 34,826 (136.04 KB)\n");
    assert_contains(table, "\nOptimizer: adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-07)\n");
    free(table);
    checked_source_free(cs);
}

/* The other example models check without a warning and have the parameter
 * counts written in their headers. */
static void test_example_models_params(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int64_t params;
        const char *total_line;
    } models[] = {
        {"examples/models/mnist_convnet.tdl", 34826, "\nTotal params: 34,826 "},
        {"examples/models/vgg_small.tdl", 288298, "\nTotal params: 288,298 "},
        {"examples/models/mlp.tdl", 669706, "\nTotal params: 669,706 "},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        checked_source *cs = check_file(models[i].path);
        assert_clean(cs);
        assert_int_equal(cs->diagnostics_size, 0);
        assert_int_equal(cs->checked->models[0].param_total, models[i].params);
        char *table = summary_text(cs, 1);
        assert_contains(table, models[i].total_line);
        free(table);
        checked_source_free(cs);
    }
}

/* The example architectures with batch_norm check without a warning and have
 * the counts written in their headers: trainable parameters (PyTorch's
 * parameters() of the same network, tests/e2e/arch/test_architectures.c
 * compares them) and the moving statistics apart. */
static void test_example_architectures_params(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int64_t params, state_floats;
        const char *trainable_line, *non_trainable_line;
    } models[] = {
        {"examples/models/resnet_small.tdl", 9938, 208, "\nTrainable params: 9,938 ", "\nNon-trainable params: 208 "},
        {"examples/models/mobilenet_small.tdl", 2938, 224, "\nTrainable params: 2,938 ",
         "\nNon-trainable params: 224 "},
        {"examples/models/unet_small.tdl", 14515, 64, "\nTrainable params: 14,515 ", "\nNon-trainable params: 64 "},
    };
    for (size_t i = 0; i < sizeof models / sizeof models[0]; i++) {
        checked_source *cs = check_file(models[i].path);
        assert_clean(cs);
        assert_int_equal(cs->diagnostics_size, 0);
        assert_int_equal(cs->checked->models[0].param_total, models[i].params);
        assert_int_equal(cs->checked->models[0].state_total, models[i].state_floats);
        char *table = summary_text(cs, 1);
        assert_contains(table, models[i].trainable_line);
        assert_contains(table, models[i].non_trainable_line);
        free(table);
        checked_source_free(cs);
    }
}

/* FLOPs = 2 x multiply-adds and activation bytes, per row and in total, at B = 2. */
static void test_flops_and_bytes_by_hand(void **state)
{
    (void)state;
    checked_source *cs = check_text(tiny_model);
    assert_clean(cs);
    char *table = summary_text(cs, 2);
    assert_contains(table, "Model: \"tiny\"  (FLOPs and activation bytes for B = 2)\n");
    /* x: 2*8*8*2 floats = 1,024 bytes; y: 2 ints = 8 bytes */
    assert_row(table, "x (input)", "f32[B,8,8,2]", "0", "0", "1,024");
    assert_row(table, "y (input)", "i32[B]", "0", "0", "8");
    /* 2*8*8*4 outputs, each a 3*3*2 = 18-term dot product: 2 * 512 * 18 = 18,432;
     * params 3*3*2*4 + 4 = 76; bytes 512 * 4 = 2,048 */
    assert_row(table, "conv2d_1 (conv2d)", "f32[B,8,8,4]", "76", "18,432", "2,048");
    assert_row(table, "max_pool2d_1 (max_pool2d)", "f32[B,4,4,4]", "0", "0", "512");
    assert_row(table, "flatten_1 (flatten)", "f32[B,64]", "0", "0", "512");
    /* 2*3 outputs of 64 terms: 2 * 6 * 64 = 768; params 64*3 + 3 = 195 */
    assert_row(table, "dense_1 (dense)", "f32[B,3]", "195", "768", "24");
    assert_row(table, "xent (loss sparse_softmax_cross_entropy)", "f32[]", "0", "0", "4");
    assert_row(table, "acc (metric accuracy)", "f32[]", "0", "0", "4");
    assert_contains(table, "\nTotal params: 271 (1.06 KB)\n");
    assert_contains(table, "\nTotal FLOPs (forward pass): 19,200\n");
    /* 1,024 + 8 + 2,048 + 512 + 512 + 24 + 4 + 4 */
    assert_contains(table, "\nTotal activation bytes: 4,136 (4.04 KB)\n");
    assert_contains(table, "\nOptimizer: sgd(learning_rate=0.1, momentum=0, nesterov=false)\n");
    free(table);

    /* Batch 64 scales FLOPs and activation bytes, not parameters. */
    table = summary_text(cs, 64);
    assert_contains(table, "\nTotal params: 271 (1.06 KB)\n");
    assert_contains(table, "\nTotal FLOPs (forward pass): 614,400\n");
    /* 32 * (4,136 - 8) + 8 */
    assert_contains(table, "\nTotal activation bytes: 132,104 (129.01 KB)\n");
    free(table);
    checked_source_free(cs);
}

/* A conv2d_backprop_filter costs as many multiply-adds as the forward conv. */
static void test_backprop_filter_flops(void **state)
{
    (void)state;
    checked_source *cs = check_text("model grad {\n"
                                    "    input x : f32[1, 28, 28, 32];\n"
                                    "    input dy : f32[1, 14, 14, 64];\n"
                                    "    dw = conv2d_backprop_filter(x, filter_sizes=(5, 5, 32, 64), out_backprop=dy,"
                                    " strides=2, padding=same);\n"
                                    "    output dw;\n"
                                    "}\n");
    assert_clean(cs);
    char *table = summary_text(cs, 1);
    /* 14*14*64 out_backprop elements, each meeting a 5*5*32 window: 2 * 12,544 * 800 */
    assert_row(table, "conv2d_backprop_filter_1 (conv2d_backprop_filter)", "f32[5,5,32,64]", "0", "20,070,400",
               "204,800");
    assert_contains(table, "Model: \"grad\"\n");
    free(table);
    checked_source_free(cs);
}

/* conv2d_transpose counts each input pixel spread over its window; the
 * resizing ops count no FLOPs; both reports take them from the registry. */
static void test_spatial_ops_in_reports(void **state)
{
    (void)state;
    checked_source *cs = check_text("model decoder {\n"
                                    "    input code : f32[B, 4, 4, 16];\n"
                                    "    x = conv2d_transpose(code, filters=8, kernel_size=3, strides=2, padding=same);\n"
                                    "    x = upsample2d(x, size=2, interpolation=bilinear);\n"
                                    "    x = zero_padding2d(x, padding=((1, 0), (0, 1)));\n"
                                    "    x = cropping2d(x, cropping=1);\n"
                                    "    output x;\n"
                                    "}\n");
    assert_clean(cs);
    char *table = summary_text(cs, 1);
    /* 4*4*16 input elements, each spread over a 3*3*8 window: 2 * 256 * 72; kernel 3*3*8*16 + bias 8 */
    assert_row(table, "conv2d_transpose_1 (conv2d_transpose)", "f32[B,8,8,8]", "1,160", "36,864", "2,048");
    assert_row(table, "upsample2d_1 (upsample2d)", "f32[B,16,16,8]", "0", "0", "8,192");
    assert_row(table, "zero_padding2d_1 (zero_padding2d)", "f32[B,17,17,8]", "0", "0", "9,248");
    assert_row(table, "cropping2d_1 (cropping2d)", "f32[B,15,15,8]", "0", "0", "7,200");
    free(table);
    char *dot = dot_text(cs);
    assert_contains(dot, "    m0_n1 [label=\"conv2d_transpose_1\\nconv2d_transpose\", shape=box];\n");
    assert_contains(dot, "    m0_n3 -> m0_n4 [label=\"f32[B,17,17,8]\"];\n");
    free(dot);
    checked_source_free(cs);
}

/* The DOT graph has a vertex per node and output and edges labelled with types. */
static void test_dot_edges(void **state)
{
    (void)state;
    checked_source *cs = check_text(tiny_model);
    assert_clean(cs);
    char *dot = dot_text(cs);
    assert_true(strncmp(dot, "digraph tsc {\n", 14) == 0);
    assert_contains(dot, "  subgraph cluster_m0 {\n    label=\"tiny\";\n");
    assert_contains(dot, "    m0_n0 [label=\"x\\ninput\", shape=ellipse];\n");
    assert_contains(dot, "    m0_n2 [label=\"conv2d_1\\nconv2d\", shape=box];\n");
    assert_contains(dot, "    m0_n6 [label=\"xent\\nloss sparse_softmax_cross_entropy\", shape=hexagon];\n");
    assert_contains(dot, "    m0_out0 [label=\"logits\\noutput\", shape=doubleoctagon];\n");
    assert_contains(dot, "    m0_n0 -> m0_n2 [label=\"f32[B,8,8,2]\"];\n");
    assert_contains(dot, "    m0_n2 -> m0_n3 [label=\"f32[B,8,8,4]\"];\n");
    assert_contains(dot, "    m0_n3 -> m0_n4 [label=\"f32[B,4,4,4]\"];\n");
    assert_contains(dot, "    m0_n4 -> m0_n5 [label=\"f32[B,64]\"];\n");
    assert_contains(dot, "    m0_n1 -> m0_n6 [label=\"labels: i32[B]\"];\n");
    assert_contains(dot, "    m0_n5 -> m0_n6 [label=\"logits: f32[B,3]\"];\n");
    assert_contains(dot, "    m0_n5 -> m0_out0 [label=\"f32[B,3]\"];\n");
    size_t length = strlen(dot);
    assert_true(length > 6);
    assert_string_equal(dot + length - 6, "  }\n}\n");
    free(dot);
    checked_source_free(cs);
}

/* Two runs over two separate parses print byte-identical DOT. */
static void test_dot_deterministic(void **state)
{
    (void)state;
    checked_source *first = check_file("examples/models/vgg_small.tdl");
    checked_source *second = check_file("examples/models/vgg_small.tdl");
    assert_clean(first);
    assert_clean(second);
    char *a = dot_text(first);
    char *b = dot_text(second);
    assert_string_equal(a, b);
    char *c = dot_text(first);
    assert_string_equal(a, c);
    free(a);
    free(b);
    free(c);
    checked_source_free(first);
    checked_source_free(second);
}

/* Quotes and backslashes in names are escaped inside DOT strings (a graph
 * built by hand, since name="…" may hold any text). */
static void test_dot_escapes_names(void **state)
{
    (void)state;
    checked_node input = {0};
    input.index = 0;
    input.op = TSC_OP_INPUT;
    input.info = tsc_op_info_of(TSC_OP_INPUT);
    input.layer_name = "in\"put";
    input.used = true;
    input.type.dtype = TSC_DTYPE_F32;
    input.type.rank = 2;
    input.type.dims[0] = TSC_DIM_BATCH;
    input.type.dims[1] = 4;
    checked_node relu = input;
    relu.index = 1;
    relu.op = TSC_OP_RELU;
    relu.info = tsc_op_info_of(TSC_OP_RELU);
    relu.layer_name = "back\\slash";
    checked_node *relu_inputs[] = {&input};
    relu.inputs = relu_inputs;
    relu.input_count = 1;
    checked_node *nodes[] = {&input, &relu};
    checked_node *inputs[] = {&input};
    checked_output output = {.name = "y", .node = &relu};
    checked_model model = {0};
    model.name = "odd\"model";
    model.batch_symbol = "N";
    model.inputs = inputs;
    model.input_count = 1;
    model.nodes = nodes;
    model.node_count = 2;
    model.outputs = &output;
    model.output_count = 1;
    checked_file file = {0};
    file.models = &model;
    file.model_count = 1;

    char *dot = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&dot, &size);
    assert_non_null(stream);
    tsc_print_dot(stream, &file);
    fclose(stream);
    assert_contains(dot, "    label=\"odd\\\"model\";\n");
    assert_contains(dot, "    m0_n0 [label=\"in\\\"put\\ninput\", shape=ellipse];\n");
    assert_contains(dot, "    m0_n1 [label=\"back\\\\slash\\nrelu\", shape=box];\n");
    assert_contains(dot, "    m0_n0 -> m0_n1 [label=\"f32[N,4]\"];\n");
    assert_contains(dot, "    m0_n1 -> m0_out0 [label=\"f32[N,4]\"];\n");
    free(dot);
}

/* A model with errors still prints (poison rows show "<error>", count 0):
 * reports never crash on a partial graph. */
static void test_reports_after_errors(void **state)
{
    (void)state;
    checked_source *cs = check_text("model broken {\n"
                                    "    input x : f32[B, 8, 8, 2];\n"
                                    "    h = conv2d(x, filters=4, kernel_size=3);\n"
                                    "    y = dense(h, units=3);\n"
                                    "    z = relu(y);\n"
                                    "    w = dense(undefined_name, units=2);\n"
                                    "    output z;\n"
                                    "}\n");
    assert_true(cs->errors >= 2);
    char *table = summary_text(cs, 4);
    /* 4*6*6*4 = 576 outputs of 3*3*2 = 18 terms: 2 * 576 * 18 */
    assert_row(table, "conv2d_1 (conv2d)", "f32[B,6,6,4]", "76", "20,736", "2,304");
    assert_row(table, "dense_1 (dense)", "<error>", "0", "0", "0");
    assert_contains(table, "Model: \"broken\"");
    char *dot = dot_text(cs);
    assert_contains(dot, "[label=\"<error>\"]");
    free(dot);
    free(table);
    checked_source_free(cs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lenet5_total_params),
        cmocka_unit_test(test_fashion_cnn_layers),
        cmocka_unit_test(test_batch_norm_params),
        cmocka_unit_test(test_example_models_params),
        cmocka_unit_test(test_example_architectures_params),
        cmocka_unit_test(test_flops_and_bytes_by_hand),
        cmocka_unit_test(test_backprop_filter_flops),
        cmocka_unit_test(test_spatial_ops_in_reports),
        cmocka_unit_test(test_dot_edges),
        cmocka_unit_test(test_dot_deterministic),
        cmocka_unit_test(test_dot_escapes_names),
        cmocka_unit_test(test_reports_after_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
