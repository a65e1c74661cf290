/* Parser tests: the AST built for valid files, and the syntax errors (code,
 * position, expected-token list) and error recovery for invalid ones. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ast.h"
#include "diag.h"

/* One parse: the source, its AST, and everything diag printed. */
typedef struct parse_fixture {
    tsc_source *source;
    ast_file *file;
    int errors;
    char *diagnostics;
    size_t diagnostics_size;
} parse_fixture;

static int setup(void **state)
{
    *state = calloc(1, sizeof(parse_fixture));
    return *state ? 0 : -1;
}

static int teardown(void **state)
{
    parse_fixture *fx = *state;
    ast_file_free(fx->file);
    tsc_source_free(fx->source);
    free(fx->diagnostics);
    free(fx);
    return 0;
}

static parse_fixture *parse(void **state, const char *text)
{
    parse_fixture *fx = *state;
    fx->source = tsc_source_from_string("test.tdl", text, strlen(text));
    FILE *stream = open_memstream(&fx->diagnostics, &fx->diagnostics_size);
    assert_non_null(stream);
    diag_options options = { .format = DIAG_FORMAT_TEXT, .color = false, .stream = stream };
    diag_begin(&options);
    fx->errors = tsc_parse(fx->source, &fx->file);
    diag_end();
    fclose(stream);
    assert_non_null(fx->file);
    return fx;
}

/* Asserts that the text of loc is exactly expected. */
static void assert_loc_text(const parse_fixture *fx, tsc_loc loc, const char *expected)
{
    assert_ptr_equal(loc.file, fx->source);
    assert_true(loc.last >= loc.first);
    assert_true(loc.last < fx->source->length);
    size_t length = loc.last - loc.first + 1;
    char *text = tsc_xstrndup(fx->source->text + loc.first, length);
    assert_string_equal(text, expected);
    free(text);
}

static void assert_line_col(const parse_fixture *fx, tsc_loc loc, int line, int col)
{
    int actual_line, actual_col;
    tsc_loc_line_col(fx->source, loc.first, &actual_line, &actual_col);
    assert_int_equal(actual_line, line);
    assert_int_equal(actual_col, col);
}

static int count_occurrences(const char *haystack, const char *needle)
{
    int count = 0;
    for (const char *p = strstr(haystack, needle); p; p = strstr(p + 1, needle))
        count++;
    return count;
}

static const ast_stmt *stmt_at(const ast_model *model, int index)
{
    const ast_stmt *stmt = model->stmts;
    for (int i = 0; i < index && stmt; i++)
        stmt = stmt->next;
    assert_non_null(stmt);
    return stmt;
}

static const ast_arg *arg_at(const ast_call *call, int index)
{
    const ast_arg *arg = call->args;
    for (int i = 0; i < index && arg; i++)
        arg = arg->next;
    assert_non_null(arg);
    return arg;
}

static const char spec_example[] =
    "# examples/fashion_mnist/fashion_cnn.tdl\n"
    "model fashion_cnn {\n"
    "    input image : f32[B, 28, 28, 1];          # B is a symbolic batch size\n"
    "    input label : i32[B];\n"
    "\n"
    "    x = conv2d(image, filters=32, kernel_size=3, activation=relu);   # f32[B,26,26,32]\n"
    "    x = max_pool2d(x, pool_size=2);                                  # f32[B,13,13,32]\n"
    "    x = conv2d(x, filters=64, kernel_size=(3, 3), activation=relu);  # f32[B,11,11,64]\n"
    "    x = max_pool2d(x, pool_size=2);                                  # f32[B,5,5,64]\n"
    "    x = flatten(x);                                                  # f32[B,1600]\n"
    "    x = dropout(x, rate=0.5);\n"
    "    logits : f32[B, 10] = dense(x, units=10);   # optional shape assertion\n"
    "\n"
    "    loss   xent = sparse_softmax_cross_entropy(labels=label, logits=logits);\n"
    "    metric acc  = in_top_k(logits, label, k=1);\n"
    "    output probs = softmax(logits);\n"
    "\n"
    "    optimizer adam(learning_rate=0.001);\n"
    "}\n";

/* The example of SPEC §2 parses without errors into one model of 13 statements. */
static void test_spec_example_structure(void **state)
{
    parse_fixture *fx = parse(state, spec_example);
    assert_int_equal(fx->errors, 0);
    assert_string_equal(fx->diagnostics, "");
    assert_null(fx->file->consts);
    assert_int_equal(fx->file->model_count, 1);
    const ast_model *model = fx->file->models;
    assert_string_equal(model->name, "fashion_cnn");
    assert_loc_text(fx, model->name_loc, "fashion_cnn");
    assert_null(model->next);
    assert_int_equal(model->stmt_count, 13);
    const ast_stmt_kind kinds[13] = {
        STMT_INPUT, STMT_INPUT, STMT_ASSIGN, STMT_ASSIGN, STMT_ASSIGN, STMT_ASSIGN, STMT_ASSIGN,
        STMT_ASSIGN, STMT_ASSIGN, STMT_LOSS, STMT_METRIC, STMT_OUTPUT, STMT_OPTIMIZER,
    };
    const char *names[13] = { "image", "label", "x", "x", "x", "x", "x", "x", "logits", "xent", "acc", "probs", NULL };
    for (int i = 0; i < 13; i++) {
        const ast_stmt *stmt = stmt_at(model, i);
        assert_int_equal(stmt->kind, kinds[i]);
        if (names[i])
            assert_string_equal(stmt->name, names[i]);
        else
            assert_null(stmt->name);
    }
}

/* Input declarations carry their dtype and dims, the batch as a name. */
static void test_spec_example_inputs(void **state)
{
    parse_fixture *fx = parse(state, spec_example);
    const ast_stmt *image = stmt_at(fx->file->models, 0);
    assert_non_null(image->type);
    assert_null(image->call);
    assert_int_equal(image->type->dtype, AST_DTYPE_F32);
    assert_int_equal(image->type->rank, 4);
    const ast_dim *dim = image->type->dims;
    assert_int_equal(dim->kind, DIM_NAME);
    assert_string_equal(dim->name, "B");
    assert_loc_text(fx, dim->loc, "B");
    const int64_t sizes[3] = { 28, 28, 1 };
    for (int i = 0; i < 3; i++) {
        dim = dim->next;
        assert_int_equal(dim->kind, DIM_INT);
        assert_int_equal(dim->value, sizes[i]);
    }
    assert_null(dim->next);
    assert_loc_text(fx, image->type->loc, "f32[B, 28, 28, 1]");
    assert_loc_text(fx, image->loc, "input image : f32[B, 28, 28, 1];");
    assert_line_col(fx, image->loc, 3, 5);

    const ast_stmt *label = stmt_at(fx->file->models, 1);
    assert_int_equal(label->type->dtype, AST_DTYPE_I32);
    assert_int_equal(label->type->rank, 1);
    assert_string_equal(label->type->dims->name, "B");
}

/* Calls keep positional and keyword arguments in order, with their values. */
static void test_spec_example_calls(void **state)
{
    parse_fixture *fx = parse(state, spec_example);
    const ast_model *model = fx->file->models;

    const ast_stmt *conv = stmt_at(model, 2);
    assert_null(conv->type);
    const ast_call *call = conv->call;
    assert_string_equal(call->callee, "conv2d");
    assert_loc_text(fx, call->callee_loc, "conv2d");
    assert_loc_text(fx, call->loc, "conv2d(image, filters=32, kernel_size=3, activation=relu)");
    assert_line_col(fx, call->loc, 6, 9);
    assert_int_equal(call->arg_count, 4);
    assert_null(arg_at(call, 0)->keyword);
    assert_int_equal(arg_at(call, 0)->value->kind, VALUE_IDENT);
    assert_string_equal(arg_at(call, 0)->value->text, "image");
    assert_string_equal(arg_at(call, 1)->keyword, "filters");
    assert_loc_text(fx, arg_at(call, 1)->keyword_loc, "filters");
    assert_loc_text(fx, arg_at(call, 1)->loc, "filters=32");
    assert_int_equal(arg_at(call, 1)->value->kind, VALUE_INT);
    assert_int_equal(arg_at(call, 1)->value->int_value, 32);
    assert_string_equal(arg_at(call, 3)->keyword, "activation");
    assert_int_equal(arg_at(call, 3)->value->kind, VALUE_IDENT);
    assert_string_equal(arg_at(call, 3)->value->text, "relu");
    assert_loc_text(fx, conv->loc, "x = conv2d(image, filters=32, kernel_size=3, activation=relu);");

    const ast_value *kernel = arg_at(stmt_at(model, 4)->call, 2)->value;
    assert_int_equal(kernel->kind, VALUE_TUPLE);
    assert_int_equal(kernel->item_count, 2);
    assert_int_equal(kernel->items->int_value, 3);
    assert_int_equal(kernel->items->next->int_value, 3);
    assert_null(kernel->items->next->next);
    assert_loc_text(fx, kernel->loc, "(3, 3)");

    const ast_value *rate = arg_at(stmt_at(model, 7)->call, 1)->value;
    assert_int_equal(rate->kind, VALUE_FLOAT);
    assert_true(rate->float_value == 0.5);

    const ast_stmt *logits = stmt_at(model, 8);
    assert_non_null(logits->type);
    assert_int_equal(logits->type->dtype, AST_DTYPE_F32);
    assert_int_equal(logits->type->rank, 2);
    assert_int_equal(logits->type->dims->next->value, 10);
    assert_string_equal(logits->call->callee, "dense");

    const ast_call *metric = stmt_at(model, 10)->call;
    assert_int_equal(metric->arg_count, 3);
    assert_string_equal(arg_at(metric, 2)->keyword, "k");

    const ast_stmt *output = stmt_at(model, 11);
    assert_string_equal(output->call->callee, "softmax");

    const ast_stmt *optimizer = stmt_at(model, 12);
    assert_null(optimizer->name);
    assert_null(optimizer->name_loc.file);
    assert_string_equal(optimizer->call->callee, "adam");
    assert_string_equal(optimizer->call->args->keyword, "learning_rate");
    assert_true(optimizer->call->args->value->float_value == 0.001);
    assert_loc_text(fx, optimizer->loc, "optimizer adam(learning_rate=0.001);");
}

/* Consts hold integers or floats, negative ones included, in source order. */
static void test_consts(void **state)
{
    parse_fixture *fx = parse(state,
                                "const N = 10;\n"
                                "const LR = 0.01;\n"
                                "model m { input x : f32[B, N]; }\n"
                                "const NEG = -3;\n"
                                "const NEG_F = - 2.5e-1;\n");
    assert_int_equal(fx->errors, 0);
    const ast_const *c = fx->file->consts;
    assert_string_equal(c->name, "N");
    assert_int_equal(c->value->kind, VALUE_INT);
    assert_int_equal(c->value->int_value, 10);
    assert_loc_text(fx, c->loc, "const N = 10;");
    assert_loc_text(fx, c->name_loc, "N");
    c = c->next;
    assert_string_equal(c->name, "LR");
    assert_int_equal(c->value->kind, VALUE_FLOAT);
    assert_true(c->value->float_value == 0.01);
    c = c->next;
    assert_string_equal(c->name, "NEG");
    assert_int_equal(c->value->int_value, -3);
    assert_loc_text(fx, c->value->loc, "-3");
    c = c->next;
    assert_string_equal(c->name, "NEG_F");
    assert_int_equal(c->value->kind, VALUE_FLOAT);
    assert_true(c->value->float_value == -0.25);
    assert_null(c->next);
    assert_int_equal(fx->file->models->stmts->type->dims->next->kind, DIM_NAME);
    assert_string_equal(fx->file->models->stmts->type->dims->next->name, "N");
}

/* Several models are kept in order, each with its own statements. */
static void test_several_models(void **state)
{
    parse_fixture *fx = parse(state,
                                "model first { input a : f32[B, 4]; y = relu(a); output y; }\n"
                                "model second { }\n"
                                "model third { input b : i32[2, 3]; }\n");
    assert_int_equal(fx->errors, 0);
    assert_int_equal(fx->file->model_count, 3);
    const ast_model *model = fx->file->models;
    assert_string_equal(model->name, "first");
    assert_int_equal(model->stmt_count, 3);
    assert_int_equal(stmt_at(model, 2)->kind, STMT_OUTPUT);
    assert_null(stmt_at(model, 2)->call);
    assert_loc_text(fx, model->loc, "model first { input a : f32[B, 4]; y = relu(a); output y; }");
    model = model->next;
    assert_string_equal(model->name, "second");
    assert_int_equal(model->stmt_count, 0);
    assert_null(model->stmts);
    model = model->next;
    assert_string_equal(model->name, "third");
    assert_int_equal(model->stmts->type->dims->kind, DIM_INT);
    assert_null(model->next);
}

/* Keyword arguments may use reserved words (input=x); calls may be empty. */
static void test_keyword_and_positional_args(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  w = conv2d_backprop_filter(input=x, filter_sizes=(3, 3, 1, 8), out_backprop=dy);\n"
                                "  z = f();\n"
                                "  q = g(1, b=2, 3);\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_call *call = stmt_at(fx->file->models, 0)->call;
    assert_int_equal(call->arg_count, 3);
    assert_string_equal(arg_at(call, 0)->keyword, "input");
    assert_loc_text(fx, arg_at(call, 0)->keyword_loc, "input");
    assert_string_equal(arg_at(call, 0)->value->text, "x");
    assert_int_equal(arg_at(call, 1)->value->item_count, 4);
    const ast_call *empty = stmt_at(fx->file->models, 1)->call;
    assert_int_equal(empty->arg_count, 0);
    assert_null(empty->args);
    assert_loc_text(fx, empty->loc, "f()");
    const ast_call *mixed = stmt_at(fx->file->models, 2)->call;
    assert_null(arg_at(mixed, 0)->keyword);
    assert_string_equal(arg_at(mixed, 1)->keyword, "b");
    assert_null(arg_at(mixed, 2)->keyword);
    assert_int_equal(arg_at(mixed, 2)->value->int_value, 3);
}

/* Every kind of value: tuples, nested and empty lists, negatives, strings, bools. */
static void test_values(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = f((1, -2), [[1], []], -7, -1.5, \"a\\\"b\\n\", true, false, (5), name=\"c\");\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_call *call = fx->file->models->stmts->call;
    assert_int_equal(call->arg_count, 9);

    const ast_value *tuple = arg_at(call, 0)->value;
    assert_int_equal(tuple->kind, VALUE_TUPLE);
    assert_int_equal(tuple->item_count, 2);
    assert_int_equal(tuple->items->next->int_value, -2);
    assert_loc_text(fx, tuple->items->next->loc, "-2");

    const ast_value *list = arg_at(call, 1)->value;
    assert_int_equal(list->kind, VALUE_LIST);
    assert_int_equal(list->item_count, 2);
    assert_int_equal(list->items->kind, VALUE_LIST);
    assert_int_equal(list->items->item_count, 1);
    assert_int_equal(list->items->items->int_value, 1);
    assert_int_equal(list->items->next->kind, VALUE_LIST);
    assert_int_equal(list->items->next->item_count, 0);
    assert_null(list->items->next->items);
    assert_loc_text(fx, list->loc, "[[1], []]");

    assert_int_equal(arg_at(call, 2)->value->int_value, -7);
    assert_true(arg_at(call, 3)->value->float_value == -1.5);
    assert_int_equal(arg_at(call, 4)->value->kind, VALUE_STRING);
    assert_string_equal(arg_at(call, 4)->value->text, "a\"b\n");
    assert_int_equal(arg_at(call, 5)->value->kind, VALUE_BOOL);
    assert_true(arg_at(call, 5)->value->bool_value);
    assert_false(arg_at(call, 6)->value->bool_value);
    /* (5) is just 5, as in Python. */
    assert_int_equal(arg_at(call, 7)->value->kind, VALUE_INT);
    assert_int_equal(arg_at(call, 7)->value->int_value, 5);
    assert_string_equal(arg_at(call, 8)->value->text, "c");
}

/* Shape assertions may omit the dtype and use '_' for any size. */
static void test_shape_assertions(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y : [_, 10] = dense(x, units=10);\n"
                                "  z : i32[B, _] = argmax(y);\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_type *type = stmt_at(fx->file->models, 0)->type;
    assert_int_equal(type->dtype, AST_DTYPE_NONE);
    assert_int_equal(type->rank, 2);
    assert_int_equal(type->dims->kind, DIM_ANY);
    assert_loc_text(fx, type->dims->loc, "_");
    assert_int_equal(type->dims->next->kind, DIM_INT);
    assert_int_equal(type->dims->next->value, 10);
    assert_loc_text(fx, type->loc, "[_, 10]");
    type = stmt_at(fx->file->models, 1)->type;
    assert_int_equal(type->dtype, AST_DTYPE_I32);
    assert_int_equal(type->dims->next->kind, DIM_ANY);
}

/* An empty file and a file of comments are valid and empty. */
static void test_empty_file(void **state)
{
    parse_fixture *fx = parse(state, "# nothing here\n\n   # at all");
    assert_int_equal(fx->errors, 0);
    assert_int_equal(fx->file->model_count, 0);
    assert_null(fx->file->models);
    assert_null(fx->file->consts);
}

/* A syntax error names the token found and the expected ones, at the right place. */
static void test_error_unexpected_token(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  input x : f32[B, 4];\n"
                                "  y = dense(x units=10);\n"
                                "}\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:3:15: error: expected ')' or ',' but found identifier 'units' [E0001]\n"));
    assert_non_null(strstr(fx->diagnostics, "    3 |   y = dense(x units=10);\n"));
    assert_non_null(strstr(fx->diagnostics, "      |               ^~~~~\n"));
    /* The model and its good statement survive; the broken one is kept as
     * STMT_BROKEN with the name it would have bound, for the checker to poison. */
    assert_int_equal(fx->file->model_count, 1);
    assert_int_equal(fx->file->models->stmt_count, 2);
    const ast_stmt *broken = fx->file->models->stmts->next;
    assert_int_equal(broken->kind, STMT_BROKEN);
    assert_string_equal(broken->name, "y");
}

/* Expected lists never show internal names, nor the reserved words that may only name keywords. */
static void test_error_expected_list_is_readable(void **state)
{
    parse_fixture *fx = parse(state, "model m { y = f(1, ); }\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:1:20: error: expected identifier, integer, float, string, 'true', 'false', "
                           "'(', '[' or '-' but found ')' [E0001]\n"));
    assert_null(strstr(fx->diagnostics, "IDENT"));
    assert_null(strstr(fx->diagnostics, "'const'"));
}

/* A statement start lists every statement keyword. */
static void test_error_at_statement_start(void **state)
{
    parse_fixture *fx = parse(state, "model m {\n  42 = f(x);\n}\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:2:3: error: expected identifier, 'input', 'loss', 'metric', 'output', "
                           "'optimizer' or '}' but found integer '42' [E0001]\n"));
}

/* A missing ';' is one error: the statement is kept and the next one parsed, with a fix-it. */
static void test_error_missing_semicolon(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  x = relu(a)\n"
                                "  y = relu(x);\n"
                                "}\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:3:3: error: expected ';' but found identifier 'y' [E0001]\n"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:2:14: help: end the statement with ';'\n"));
    assert_int_equal(fx->file->models->stmt_count, 2);
    assert_loc_text(fx, stmt_at(fx->file->models, 0)->loc, "x = relu(a)");
    assert_string_equal(stmt_at(fx->file->models, 1)->name, "y");
}

/* A reserved word used as a name gets a help that says so. */
static void test_error_reserved_word_as_name(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  input = relu(x);\n"
                                "  loss output = f(x);\n"
                                "}\n");
    /* After a recovery nothing is reported until three tokens parse again (what
     * stops cascades), so the second mistake, right after the first, is silent. */
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:2:9: error: expected identifier but found '=' [E0001]\n"));
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:2:3: help: 'input' is a reserved word and cannot name a tensor; choose another name\n"));
}

/* A reserved word where a name is expected is named as a keyword. */
static void test_error_reserved_word_found(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  input = relu(x);\n"
                                "  a = relu(x);\n"
                                "  loss output = f(x);\n"
                                "}\n");
    assert_int_equal(fx->errors, 2);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:2:9: error: expected identifier but found '=' [E0001]\n"));
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:2:3: help: 'input' is a reserved word and cannot name a tensor; choose another name\n"));
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:4:8: error: expected identifier but found keyword 'output' [E0001]\n"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:4:8: help: 'output' is a reserved word; choose another name\n"));
}

/* A file that ends too early points just after its last token. */
static void test_error_end_of_file(void **state)
{
    parse_fixture *fx = parse(state, "model m {\n  x = relu(a);\n\n# trailing comment\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:2:15: error: expected identifier, 'input', 'loss', 'metric', 'output', "
                           "'optimizer' or '}' but found end of file [E0001]\n"));
}

/* Independent mistakes in several statements give exactly one error each, and the rest is parsed. */
static void test_recovery_counts_each_mistake_once(void **state)
{
    parse_fixture *fx = parse(state,
                                "const A = ;\n"
                                "model m {\n"
                                "  input x : f32[B 4];\n"
                                "  y = dense(x, units=10;\n"
                                "  z = relu(y);\n"
                                "  w = f(x,, 2);\n"
                                "  output z;\n"
                                "}\n"
                                "model n { input q : i32[B]; }\n");
    assert_int_equal(fx->errors, 4);
    assert_int_equal(count_occurrences(fx->diagnostics, "error:"), 4);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:1:11: error:"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:3:19: error: expected ']' or ',' but found integer '4'"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:4:24: error: expected ')' or ',' but found ';'"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:6:11: error:"));
    assert_int_equal(fx->file->model_count, 2);
    const ast_model *m = fx->file->models;
    /* Broken statements stay as STMT_BROKEN with the name they would bind. */
    assert_int_equal(m->stmt_count, 5);
    static const char *const names[] = {"x", "y", "z", "w", "z"};
    static const ast_stmt_kind kinds[] = {STMT_BROKEN, STMT_BROKEN, STMT_ASSIGN, STMT_BROKEN, STMT_OUTPUT};
    for (int i = 0; i < 5; i++) {
        assert_string_equal(stmt_at(m, i)->name, names[i]);
        assert_int_equal(stmt_at(m, i)->kind, kinds[i]);
    }
    assert_string_equal(m->next->name, "n");
    assert_int_equal(m->next->stmt_count, 1);
}

/* Garbage between models is one error; the following model is intact. */
static void test_recovery_at_file_level(void **state)
{
    parse_fixture *fx = parse(state,
                                "modle a {\n"
                                "  input x : f32[B, 2];\n"
                                "  y = relu(x);\n"
                                "}\n"
                                "model b { input x : f32[B, 2]; }\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:1:1: error: expected end of file, 'model' or 'const' but found identifier 'modle'"));
    assert_int_equal(fx->file->model_count, 1);
    assert_string_equal(fx->file->models->name, "b");
}

/* A lexical error is reported once, without a syntax error on its neighbours. */
static void test_lexical_error_does_not_cascade(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = f(x, @, 2);\n"
                                "  z = g(\"open);\n"
                                "  w = h(1);\n"
                                "  v = k(2);\n"
                                "}\n");
    assert_int_equal(fx->errors, 2);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:2:12: error: invalid character '@' [E0002]\n"));
    assert_non_null(strstr(fx->diagnostics, "test.tdl:3:9: error: unterminated string"));
    assert_int_equal(count_occurrences(fx->diagnostics, "[E0001]"), 0);
    /* Recovery skips to the next ';': the statement after the cut string is
     * lost (kept as STMT_BROKEN), not the rest. */
    const ast_model *m = fx->file->models;
    assert_int_equal(m->stmt_count, 3);
    assert_int_equal(stmt_at(m, 0)->kind, STMT_BROKEN);   /* y: its '@' dropped, then "x, , 2" */
    assert_string_equal(stmt_at(m, 0)->name, "y");
    assert_int_equal(stmt_at(m, 1)->kind, STMT_BROKEN);   /* z and w, up to the next ';' */
    assert_string_equal(stmt_at(m, 2)->name, "v");
    assert_true(ast_file_has_error_in(fx->file, (tsc_loc){fx->file->source, 0, 30}));   /* the '@' */
    assert_false(ast_file_has_error_in(fx->file, stmt_at(m, 2)->loc));
}

/* Absurdly deep nesting is an error, not a crash. */
static void test_deep_nesting(void **state)
{
    enum { DEPTH = 20000 };
    char *text = calloc(1, 2 * DEPTH + 64);
    assert_non_null(text);
    strcpy(text, "model m { y = f(");
    size_t n = strlen(text);
    memset(text + n, '[', DEPTH);
    memset(text + n + DEPTH, ']', DEPTH);
    strcpy(text + n + 2 * DEPTH, "); }");
    parse_fixture *fx = parse(state, text);
    free(text);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:1:80: error: brackets are nested more than 64 deep [E0007]"));
}

/* Nesting up to the limit is fine; the limit counts per statement. */
static void test_nesting_limit(void **state)
{
    char text[512];
    strcpy(text, "model m {\n  y = f(");
    size_t n = strlen(text);
    memset(text + n, '[', 63);
    memset(text + n + 63, ']', 63);
    strcpy(text + n + 126, ");\n  z = g(((((1)))));\n}\n");
    parse_fixture *fx = parse(state, text);
    assert_int_equal(fx->errors, 0);
    assert_int_equal(fx->file->models->stmt_count, 2);
}

/* ---- expressions ------------------------------------------------------------ */

/* The call an operator stands for: callee, operator, and both operands. */
static const ast_call *assert_infix(const parse_fixture *fx, const ast_value *v, const char *callee,
                                    const char *op, const char *text)
{
    assert_int_equal(v->kind, VALUE_CALL);
    assert_non_null(v->call->infix);
    assert_string_equal(v->call->infix, op);
    assert_string_equal(v->call->callee, callee);
    assert_int_equal(v->call->arg_count, 2);
    assert_loc_text(fx, v->loc, text);
    assert_loc_text(fx, v->call->callee_loc, op);
    return v->call;
}

/* Nested calls are values; each keeps its own span and its text for messages. */
static void test_nested_calls(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  x = relu(add(a, b));\n"
                                "  y = dense(flatten(x), units=10);\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_stmt *s = fx->file->models->stmts;
    assert_string_equal(s->call->callee, "relu");
    assert_null(s->call->infix);
    const ast_value *inner = arg_at(s->call, 0)->value;
    assert_int_equal(inner->kind, VALUE_CALL);
    assert_string_equal(inner->call->callee, "add");
    assert_null(inner->call->infix);
    assert_loc_text(fx, inner->loc, "add(a, b)");
    assert_string_equal(inner->text, "add(a, b)");
    assert_int_equal(inner->depth, 1);
    const ast_call *dense = s->next->call;
    assert_string_equal(dense->callee, "dense");
    assert_int_equal(arg_at(dense, 0)->value->kind, VALUE_CALL);
    assert_string_equal(arg_at(dense, 0)->value->call->callee, "flatten");
    assert_string_equal(arg_at(dense, 1)->keyword, "units");
}

/* '*' binds tighter than '+' and '-', which group to the left; parentheses
 * regroup; a statement's right side may be an operator expression. */
static void test_operator_precedence(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = a + b * c - d;\n"
                                "  z : [B, 4] = (a - b) * (c + d);\n"
                                "  output o = a + b;\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_stmt *s = fx->file->models->stmts;
    /* ((a + (b * c)) - d) */
    const ast_call *top = s->call;
    assert_string_equal(top->callee, "subtract");
    assert_string_equal(top->infix, "-");
    assert_loc_text(fx, top->loc, "a + b * c - d");
    const ast_call *sum = assert_infix(fx, arg_at(top, 0)->value, "add", "+", "a + b * c");
    assert_string_equal(arg_at(sum, 0)->value->text, "a");
    assert_infix(fx, arg_at(sum, 1)->value, "multiply", "*", "b * c");
    assert_string_equal(arg_at(top, 1)->value->text, "d");
    assert_int_equal(s->kind, STMT_ASSIGN);

    const ast_stmt *z = s->next;
    assert_non_null(z->type);
    assert_string_equal(z->call->callee, "multiply");
    assert_infix(fx, arg_at(z->call, 0)->value, "subtract", "-", "a - b");
    assert_infix(fx, arg_at(z->call, 1)->value, "add", "+", "c + d");

    const ast_stmt *o = z->next;
    assert_int_equal(o->kind, STMT_OUTPUT);
    assert_string_equal(o->call->callee, "add");
}

/* Numbers are operands too ('-' is a sign where an operand starts); nested
 * calls and operators mix inside arguments, and tuples still parse. */
static void test_operators_with_numbers_and_calls(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = x * 0.5 + 1;\n"
                                "  z = 2.0 * x - -1.5;\n"
                                "  w = dense(relu(x) + x * x, units=4, kernel_size=(3, 3), name=(\"d\"));\n"
                                "}\n");
    assert_int_equal(fx->errors, 0);
    const ast_stmt *y = fx->file->models->stmts;
    assert_string_equal(y->call->callee, "add");
    assert_int_equal(arg_at(y->call, 1)->value->kind, VALUE_INT);
    assert_infix(fx, arg_at(y->call, 0)->value, "multiply", "*", "x * 0.5");
    const ast_stmt *z = y->next;
    assert_string_equal(z->call->callee, "subtract");
    assert_true(arg_at(z->call, 1)->value->float_value == -1.5);
    const ast_call *w = z->next->call;
    const ast_call *sum = assert_infix(fx, arg_at(w, 0)->value, "add", "+", "relu(x) + x * x");
    assert_int_equal(arg_at(w, 0)->value->depth, 2);
    assert_string_equal(arg_at(sum, 0)->value->call->callee, "relu");
    assert_int_equal(arg_at(w, 2)->value->kind, VALUE_TUPLE);
    assert_int_equal(arg_at(w, 3)->value->kind, VALUE_STRING);
}

/* A right side that computes nothing is a syntax error naming what was found;
 * the statement's name is kept (poisoned) and parsing goes on. */
static void test_error_right_side_without_call(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = x;\n"
                                "  output o = 3;\n"
                                "  z = relu(x);\n"
                                "}\n");
    assert_int_equal(fx->errors, 2);
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:2:7: error: expected a call or an operator expression but found identifier 'x' [E0001]"));
    assert_non_null(strstr(fx->diagnostics,
                           "test.tdl:3:14: error: expected a call or an operator expression but found number '3' [E0001]"));
    const ast_stmt *s = fx->file->models->stmts;
    assert_int_equal(s->kind, STMT_BROKEN);
    assert_string_equal(s->name, "y");
    assert_int_equal(s->next->kind, STMT_BROKEN);
    assert_string_equal(s->next->name, "o");
    assert_string_equal(s->next->next->call->callee, "relu");
}

/* A statement without its ';' after an operator expression is kept, as after a call. */
static void test_missing_semicolon_after_operator(void **state)
{
    parse_fixture *fx = parse(state,
                                "model m {\n"
                                "  y = a + b\n"
                                "  z = relu(y);\n"
                                "}\n");
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:3:3: error: expected ';' but found identifier 'z' [E0001]"));
    assert_non_null(strstr(fx->diagnostics, "help: end the statement with ';'"));
    assert_int_equal(fx->file->models->stmt_count, 2);
    assert_string_equal(fx->file->models->stmts->call->callee, "add");
}

/* A chain of operators as long as brackets may nest is fine; one longer is
 * E0007 once, however long (the checker recurses over expressions). */
static void test_operator_chain_limit(void **state)
{
    enum { LONG = 5000 };
    char *text = calloc(1, 4 * LONG + 128);
    assert_non_null(text);
    strcpy(text, "model m {\n  y = a");
    for (int i = 1; i < 64; i++)
        strcat(text, "+a");
    strcat(text, ";\n  z = a");
    size_t n = strlen(text);
    for (int i = 0; i < LONG; i++, n += 2)
        memcpy(text + n, "+a", 2);
    strcpy(text + n, ";\n}\n");
    parse_fixture *fx = parse(state, text);
    free(text);
    assert_int_equal(fx->errors, 1);
    assert_non_null(strstr(fx->diagnostics, "test.tdl:3:7: error: the expression nests more than 64 calls and operators [E0007]"));
    assert_int_equal(fx->file->models->stmts->call->arg_count, 2);
    assert_true(ast_file_has_error_in(fx->file, fx->file->models->stmts->next->loc));
    assert_false(ast_file_has_error_in(fx->file, fx->file->models->stmts->loc));
}

/* The return value counts only this parse's errors. */
static void test_error_count_matches_diag(void **state)
{
    parse_fixture *fx = parse(state, "model m { x = ; y = ; }\nconst = 1;\n");
    assert_int_equal(fx->errors, count_occurrences(fx->diagnostics, "error:"));
    assert_int_equal(fx->errors, 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_spec_example_structure, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_example_inputs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spec_example_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_several_models, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyword_and_positional_args, setup, teardown),
        cmocka_unit_test_setup_teardown(test_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_shape_assertions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_unexpected_token, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_expected_list_is_readable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_at_statement_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_missing_semicolon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reserved_word_as_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reserved_word_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_end_of_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_counts_each_mistake_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery_at_file_level, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lexical_error_does_not_cascade, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nesting_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_count_matches_diag, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nested_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_precedence, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operators_with_numbers_and_calls, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_right_side_without_call, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_semicolon_after_operator, setup, teardown),
        cmocka_unit_test_setup_teardown(test_operator_chain_limit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
