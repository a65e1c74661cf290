/* Fix-its are right when followed: applying every JSON fix-it of a file
 * gives a file that parses, has fewer errors and no new kind of error, and
 * the edits never overlap or repeat. Checked on every bad file of the error
 * gallery and on the cases that once went wrong (two statements on a line,
 * one label column feeding a loss and a metric). */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "ast.h"
#include "check.h"
#include "diag.h"

typedef struct edit {
    size_t start, next;   /* bytes [start, next) are replaced */
    char *text;
} edit;

typedef struct checked_run {
    int errors;            /* errors and warnings */
    int syntax_errors;     /* E0001-E0007 */
    char codes[256];       /* "E0203 E0205 " */
    char *json;
} checked_run;

/* Parses and checks text with JSON diagnostics, as `tsc --check` would. */
static checked_run run_check(const char *text)
{
    checked_run run = {0};
    size_t size = 0;
    FILE *stream = open_memstream(&run.json, &size);
    assert_non_null(stream);
    tsc_source *source = tsc_source_from_string("m.tdl", text, strlen(text));
    diag_options options = {.format = DIAG_FORMAT_JSON, .color = false, .stream = stream};
    diag_begin(&options);
    ast_file *ast = NULL;
    checked_file *checked = NULL;
    if (tsc_parse(source, &ast) == 0)
        tsc_check(ast, &checked);
    diag_end();
    fclose(stream);
    run.errors = diag_error_count() + diag_warning_count();
    cJSON *doc = cJSON_Parse(run.json);
    assert_non_null(doc);
    const cJSON *d;
    cJSON_ArrayForEach(d, doc) {
        const cJSON *code = cJSON_GetObjectItemCaseSensitive(d, "code");
        const cJSON *kind = cJSON_GetObjectItemCaseSensitive(d, "kind");
        if (!cJSON_IsString(code) || strcmp(kind->valuestring, "note") == 0 || strcmp(kind->valuestring, "help") == 0)
            continue;
        if (strncmp(code->valuestring, "E000", 4) == 0)
            run.syntax_errors++;
        if (strstr(run.codes, code->valuestring) == NULL && strlen(run.codes) + 7 < sizeof run.codes) {
            strcat(run.codes, code->valuestring);
            strcat(run.codes, " ");
        }
    }
    cJSON_Delete(doc);
    if (checked)
        checked_file_free(checked);
    if (ast)
        ast_file_free(ast);
    tsc_source_free(source);
    return run;
}

/* The byte offset of a JSON position {line, byte-column} in text. */
static size_t offset_of(const char *text, const cJSON *position)
{
    int line = cJSON_GetObjectItemCaseSensitive(position, "line")->valueint;
    int column = cJSON_GetObjectItemCaseSensitive(position, "byte-column")->valueint;
    size_t offset = 0;
    for (int l = 1; l < line; l++) {
        const char *newline = strchr(text + offset, '\n');
        assert_non_null(newline);
        offset = (size_t)(newline - text) + 1;
    }
    return offset + (size_t)column - 1;
}

static void collect(const char *text, const cJSON *diagnostic, edit **edits, size_t *count)
{
    const cJSON *fix;
    cJSON_ArrayForEach(fix, cJSON_GetObjectItemCaseSensitive(diagnostic, "fixits")) {
        *edits = realloc(*edits, (*count + 1) * sizeof **edits);
        assert_non_null(*edits);
        edit *e = &(*edits)[(*count)++];
        e->start = offset_of(text, cJSON_GetObjectItemCaseSensitive(fix, "start"));
        e->next = offset_of(text, cJSON_GetObjectItemCaseSensitive(fix, "next"));
        e->text = strdup(cJSON_GetObjectItemCaseSensitive(fix, "string")->valuestring);
    }
    const cJSON *child;
    cJSON_ArrayForEach(child, cJSON_GetObjectItemCaseSensitive(diagnostic, "children"))
        collect(text, child, edits, count);
}

static int by_start(const void *a, const void *b)
{
    const edit *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

/* Applies every fix-it of `json` to text; fails on overlapping or repeated
 * edits. Returns the new text (NULL when there were no fix-its). */
static char *apply_fixits(const char *name, const char *text, const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    edit *edits = NULL;
    size_t count = 0;
    const cJSON *d;
    cJSON_ArrayForEach(d, doc) collect(text, d, &edits, &count);
    cJSON_Delete(doc);
    if (count == 0)
        return NULL;
    qsort(edits, count, sizeof *edits, by_start);
    for (size_t i = 1; i < count; i++) {
        if (edits[i].start < edits[i - 1].next ||
            (edits[i].start == edits[i - 1].start && edits[i].next == edits[i - 1].next))
            fail_msg("%s: fix-its %zu and %zu overlap or repeat at byte %zu ('%s', '%s')", name, i - 1, i,
                     edits[i].start, edits[i - 1].text, edits[i].text);
    }
    size_t length = strlen(text), size = length + 1;
    for (size_t i = 0; i < count; i++)
        size += strlen(edits[i].text);
    char *out = calloc(1, size);
    assert_non_null(out);
    size_t from = 0;
    for (size_t i = 0; i < count; i++) {
        strncat(out, text + from, edits[i].start - from);
        strcat(out, edits[i].text);
        from = edits[i].next;
    }
    strcat(out, text + from);
    for (size_t i = 0; i < count; i++)
        free(edits[i].text);
    free(edits);
    return out;
}

/* Applying a file's fix-its leaves a file that parses, with fewer errors
 * and warnings and none of a kind the file did not have. Returns whether it had fix-its. */
static bool check_fixits_of(const char *name, const char *text)
{
    checked_run before = run_check(text);
    char *fixed = apply_fixits(name, text, before.json);
    if (fixed == NULL) {
        free(before.json);
        return false;
    }
    checked_run after = run_check(fixed);
    if (after.syntax_errors > 0 || after.errors >= before.errors)
        fail_msg("%s: after its fix-its, %d errors (%s) where there were %d (%s):\n%s\n%s", name, after.errors,
                 after.codes, before.errors, before.codes, fixed, after.json);
    for (const char *c = after.codes; *c != '\0'; c += 6) {
        if (strstr(before.codes, (char[6]){c[0], c[1], c[2], c[3], c[4], '\0'}) == NULL)
            fail_msg("%s: its fix-its introduce %.5s:\n%s", name, c, fixed);
    }
    free(fixed);
    free(before.json);
    free(after.json);
    return true;
}

static char *read_whole(const char *path)
{
    tsc_source *src = tsc_source_read(path);
    if (src == NULL)
        fail_msg("cannot read %s", path);
    char *text = tsc_xstrdup(src->text);
    tsc_source_free(src);
    return text;
}

/* Every bad file of the error gallery. */
static void test_gallery_fixits(void **state)
{
    (void)state;
    char *dir_path = tsc_format("%s/examples/errors", TSC_SOURCE_DIR);
    DIR *dir = opendir(dir_path);
    assert_non_null(dir);
    int files = 0, with_fixits = 0;
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        size_t n = strlen(e->d_name);
        if (n < 8 || strcmp(e->d_name + n - 8, ".bad.tdl") != 0)
            continue;
        char *path = tsc_format("%s/%s", dir_path, e->d_name);
        char *text = read_whole(path);
        with_fixits += check_fixits_of(e->d_name, text);
        files++;
        free(text);
        free(path);
    }
    closedir(dir);
    free(dir_path);
    assert_true(files >= 10);
    assert_true(with_fixits >= 3);   /* the test is about something */
}

/* Two statements on one line: the flatten fix-it goes before the dense
 * statement, never copying the statement before it. */
static void test_two_statements_on_a_line(void **state)
{
    (void)state;
    const char *text = "model m {\n    input image : f32[B, 4, 4, 2];\n"
                       "    x = relu(image); y = dense(x, units=3);\n    output y;\n}\n";
    assert_true(check_fixits_of("two statements", text));
    checked_run before = run_check(text);
    char *fixed = apply_fixits("two statements", text, before.json);
    assert_non_null(strstr(fixed, "    x = relu(image); x = flatten(x); y = dense(x, units=3);\n"));
    free(fixed);
    free(before.json);
}

/* One label column [B,1] feeding the loss and in_top_k: one squeeze, not two. */
static void test_shared_label_column(void **state)
{
    (void)state;
    const char *text = "model m {\n    input x : f32[B, 8];\n    input label : i32[B, 1];\n"
                       "    logits = dense(x, units=3);\n"
                       "    loss xent = sparse_softmax_cross_entropy(labels=label, logits=logits);\n"
                       "    metric acc = in_top_k(logits, label, k=1);\n}\n";
    assert_true(check_fixits_of("shared label column", text));
}

/* dense of a nested conv2d: the fix-it wraps the sub-expression in
 * flatten(…) where it is written (it has no name to rebind). */
static void test_wrap_nested_operand(void **state)
{
    (void)state;
    const char *text = "model m {\n    input image : f32[B, 6, 6, 2];\n"
                       "    y = dense(conv2d(image, filters=3, kernel_size=3), units=4);\n    output y;\n}\n";
    assert_true(check_fixits_of("nested operand", text));
    checked_run before = run_check(text);
    char *fixed = apply_fixits("nested operand", text, before.json);
    assert_non_null(strstr(fixed, "    y = dense(flatten(conv2d(image, filters=3, kernel_size=3)), units=4);\n"));
    free(fixed);
    free(before.json);
}

/* Every Keras name of the alias table gets E0101 with a help naming the TDL
 * op and a fix-it that, applied, writes that op's name in its place, in the
 * statement its family belongs to (also nested in an expression). Rows
 * whose target is not an op of this build are reported and skipped. */
static void test_keras_aliases(void **state)
{
    (void)state;
    int checked = 0;
    const char *tdl = NULL;
    for (int i = 0; tsc_op_keras_alias_at(i, &tdl) != NULL; i++) {
        const char *keras = tsc_op_keras_alias_at(i, &tdl);
        const tsc_op_info *info = tsc_op_lookup(tdl);
        if (info == NULL) {
            printf("alias %s -> %s: no such op in this build, skipped\n", keras, tdl);
            continue;
        }
        assert_null(tsc_op_lookup(keras));   /* an alias never hides an op */
        const char *format;
        switch (info->family) {
        case TSC_FAMILY_LOSS: format = "    loss l = %s(x, x);\n"; break;
        case TSC_FAMILY_METRIC: format = "    metric l = %s(x, x);\n"; break;
        case TSC_FAMILY_OPTIMIZER: format = "    optimizer %s();\n"; break;
        default: format = "    y = x + %s(x);\n    output y;\n"; break;
        }
        char *statement = tsc_format(format, keras);
        char *text = tsc_format("model m {\n    input x : f32[B, 4];\n%s}\n", statement);
        free(statement);
        statement = tsc_format(format, tdl);
        char *want = tsc_format("model m {\n    input x : f32[B, 4];\n%s}\n", statement);
        checked_run run = run_check(text);
        if (strstr(run.codes, "E0101") == NULL)
            fail_msg("%s: no E0101:\n%s", keras, run.json);
        char *help = tsc_format("'%s' is the Keras name; TDL calls it '%s'", keras, tdl);
        if (strstr(run.json, help) == NULL)
            fail_msg("%s: no help '%s':\n%s", keras, help, run.json);
        char *fixed = apply_fixits(keras, text, run.json);
        assert_non_null(fixed);
        assert_string_equal(fixed, want);
        checked++;
        free(fixed);
        free(help);
        free(run.json);
        free(want);
        free(text);
        free(statement);
    }
    assert_true(checked >= 14);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gallery_fixits),
        cmocka_unit_test(test_two_statements_on_a_line),
        cmocka_unit_test(test_shared_label_column),
        cmocka_unit_test(test_keras_aliases),
        cmocka_unit_test(test_wrap_nested_operand),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
