/* Unit tests of the diagnostics engine (diag.c): exact text, counts, JSON,
 * SARIF and the catalogue. Output is captured with open_memstream. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "ast.h"
#include "check.h"
#include "diag.h"

typedef struct capture {
    FILE *stream;
    char *buffer;
    size_t size;
    tsc_source *source;
} capture;

static capture *capture_new(void) {
    capture *c = calloc(1, sizeof *c);
    c->stream = open_memstream(&c->buffer, &c->size);
    return c;
}

static int setup(void **state) {
    *state = capture_new();
    return *state ? 0 : -1;
}

static int teardown(void **state) {
    capture *c = *state;
    if (c->stream) fclose(c->stream);
    free(c->buffer);
    if (c->source) tsc_source_free(c->source);
    free(c);
    return 0;
}

/* Starts a run writing into the capture, over a source built from text. */
static const tsc_source *begin(capture *c, diag_format format, bool color, const char *path, const char *text) {
    if (text) c->source = tsc_source_from_string(path, text, strlen(text));
    diag_options options = {.format = format, .color = color, .stream = c->stream};
    diag_begin(&options);
    return c->source;
}

/* Ends the run and returns everything written. */
static const char *finish(capture *c) {
    diag_end();
    fflush(c->stream);
    return c->buffer;
}

/* The span of the first occurrence of needle in the source. */
static tsc_loc span_of(const tsc_source *source, const char *needle) {
    const char *at = strstr(source->text, needle);
    assert_non_null(at);
    uint32_t first = (uint32_t)(at - source->text);
    return (tsc_loc){.file = source, .first = first, .last = first + (uint32_t)strlen(needle) - 1};
}

static const char model_text[] =
    "model m {\n"
    "    input x : f32[B, 5, 5, 64];\n"
    "    logits = dense(x, units=10);\n"
    "}\n";

/* The header, a gutter of width 5 and one caret under a one-byte span. */
static void test_text_single_caret(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "model.tdl", model_text);
    tsc_loc x = span_of(src, "x, units");
    x.last = x.first;
    diag_error(x, "E0201", "dense expects a rank-2 input, but '%s' is rank %d", "x", 4);
    assert_string_equal(finish(c),
                        "model.tdl:3:20: error: dense expects a rank-2 input, but 'x' is rank 4 [E0201]\n"
                        "    3 |     logits = dense(x, units=10);\n"
                        "      |                    ^\n");
    assert_int_equal(diag_error_count(), 1);
}

/* '^' under the first byte and '~' under the rest of a multi-byte span. */
static void test_text_multi_byte_span(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "model.tdl", model_text);
    diag_warning(span_of(src, "dense(x, units=10)"), "W0101", "unused layer");
    assert_string_equal(finish(c),
                        "model.tdl:3:14: warning: unused layer [W0101]\n"
                        "    3 |     logits = dense(x, units=10);\n"
                        "      |              ^~~~~~~~~~~~~~~~~~\n");
    assert_int_equal(diag_warning_count(), 1);
    assert_int_equal(diag_error_count(), 0);
}

/* Tabs are expanded to stops of 8 so that the caret stays under its byte. */
static void test_text_tabs_keep_caret_aligned(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "t.tdl", "model m {\n\tx =\trelu(y);\n}\n");
    diag_error(span_of(src, "relu(y)"), "E0101", "bad");
    assert_string_equal(finish(c),
                        "t.tdl:2:6: error: bad [E0101]\n"
                        "    2 |         x =     relu(y);\n"
                        "      |                 ^~~~~~~\n");
}

/* A tab inside the span is underlined over its whole width. */
static void test_text_tab_inside_span(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "t.tdl", "ab\tcd\n");
    diag_error(span_of(src, "b\tc"), "E0101", "bad");
    assert_string_equal(finish(c),
                        "t.tdl:1:2: error: bad [E0101]\n"
                        "    1 | ab      cd\n"
                        "      |  ^~~~~~~~\n");
}

/* A note elsewhere shows its own line; a help on the error's span does not repeat it. */
static void test_text_note_and_help_attached(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "model.tdl", model_text);
    tsc_loc x = span_of(src, "x, units");
    x.last = x.first;
    diag_error(x, "E0201", "rank mismatch");
    diag_note(span_of(src, "f32[B, 5, 5, 64]"), "'x' is declared here");
    diag_help(x, "insert 'x = flatten(x);' before this line");
    assert_string_equal(finish(c),
                        "model.tdl:3:20: error: rank mismatch [E0201]\n"
                        "    3 |     logits = dense(x, units=10);\n"
                        "      |                    ^\n"
                        "model.tdl:2:15: note: 'x' is declared here\n"
                        "    2 |     input x : f32[B, 5, 5, 64];\n"
                        "      |               ^~~~~~~~~~~~~~~~\n"
                        "model.tdl:3:20: help: insert 'x = flatten(x);' before this line\n");
    assert_int_equal(diag_error_count(), 1);
    assert_int_equal(diag_warning_count(), 0);
}

/* A location without a file prints without location or excerpt. */
static void test_text_fileless_location(void **state) {
    capture *c = *state;
    begin(c, DIAG_FORMAT_TEXT, false, NULL, NULL);
    tsc_loc nowhere = {0};
    diag_error(nowhere, "E0001", "no model in file");
    diag_note(nowhere, "a file holds one or more 'model' blocks");
    assert_string_equal(finish(c),
                        "error: no model in file [E0001]\n"
                        "note: a file holds one or more 'model' blocks\n");
}

/* A span that crosses lines is underlined to the end of its first line. */
static void test_text_span_across_lines(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "m.tdl", "model m {\n  x = f(a,\n        b);\n}\n");
    tsc_loc call = span_of(src, "f(a,\n        b)");
    diag_error(call, "E0102", "bad call");
    assert_string_equal(finish(c),
                        "m.tdl:2:7: error: bad call [E0102]\n"
                        "    2 |   x = f(a,\n"
                        "      |       ^~~~\n");
}

/* The end of the file gets a caret just past the last line's text. */
static void test_text_end_of_file(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "e.tdl", "model m {");
    tsc_loc end = {.file = src, .first = (uint32_t)src->length, .last = (uint32_t)src->length - 1};
    diag_error(end, "E0002", "expected '}' but found end of file");
    assert_string_equal(finish(c),
                        "e.tdl:1:10: error: expected '}' but found end of file [E0002]\n"
                        "    1 | model m {\n"
                        "      |          ^\n");
}

/* Line numbers wider than the minimum widen the gutter. */
static void test_text_wide_line_numbers(void **state) {
    capture *c = *state;
    size_t lines = 12344;
    char *text = malloc(lines + 16);
    memset(text, '\n', lines);
    strcpy(text + lines, "oops;\n");
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "w.tdl", text);
    free(text);
    diag_error(span_of(src, "oops"), "E0003", "bad");
    assert_string_equal(finish(c),
                        "w.tdl:12345:1: error: bad [E0003]\n"
                        " 12345 | oops;\n"
                        "       | ^~~~\n");
}

/* Colour codes appear only when asked for. */
static void test_text_color(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, true, "model.tdl", model_text);
    diag_error(span_of(src, "dense"), "E0201", "bad");
    diag_warning(span_of(src, "dense"), "W0101", "odd");
    const char *out = finish(c);
    assert_non_null(strstr(out, "\033[1mmodel.tdl:3:14:\033[0m \033[1;31merror:\033[0m bad [E0201]\n"));
    assert_non_null(strstr(out, "\033[1;35mwarning:\033[0m odd [W0101]\n"));
    assert_non_null(strstr(out, "\033[1;31m^~~~~\033[0m\n"));
}

/* diag_begin resets the counts of an earlier run; diag_end keeps them readable. */
static void test_counts_reset_by_begin(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_TEXT, false, "model.tdl", model_text);
    diag_error(span_of(src, "dense"), "E0201", "one");
    diag_error(span_of(src, "units"), "E0202", "two");
    diag_warning(span_of(src, "logits"), "W0101", "three");
    diag_note(span_of(src, "logits"), "notes are not counted");
    finish(c);
    assert_int_equal(diag_error_count(), 2);
    assert_int_equal(diag_warning_count(), 1);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .stream = c->stream};
    diag_begin(&options);
    assert_int_equal(diag_error_count(), 0);
    assert_int_equal(diag_warning_count(), 0);
    diag_end();
}

/* Asserts a gcc-style position object. */
static void assert_position(const cJSON *position, const char *file, int line, int column) {
    assert_non_null(position);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(position, "file")->valuestring, file);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(position, "line")->valueint, line);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(position, "column")->valueint, column);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(position, "byte-column")->valueint, column);
}

/* JSON is one valid array with kind, message, code, locations, children and fix-its. */
static void test_json_fields(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_JSON, false, "model.tdl", model_text);
    diag_error(span_of(src, "dense(x, units=10)"), "E0201", "dense expects a rank-2 input");
    diag_note(span_of(src, "f32[B, 5, 5, 64]"), "declared here");
    tsc_loc dense = span_of(src, "dense");
    diag_help(dense, "flatten first");
    diag_fixit((tsc_loc){.file = src, .first = dense.first + 6, .last = dense.first + 6}, "flatten(x)");
    diag_warning((tsc_loc){0}, "W0102", "no optimizer");
    const char *out = finish(c);

    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_true(cJSON_IsArray(root));
    assert_int_equal(cJSON_GetArraySize(root), 2);

    cJSON *error = cJSON_GetArrayItem(root, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(error, "kind")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(error, "message")->valuestring,
                        "dense expects a rank-2 input");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(error, "code")->valuestring, "E0201");
    cJSON *locations = cJSON_GetObjectItemCaseSensitive(error, "locations");
    assert_int_equal(cJSON_GetArraySize(locations), 1);
    assert_position(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(locations, 0), "caret"), "model.tdl", 3, 14);
    assert_position(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(locations, 0), "finish"), "model.tdl", 3,
                    31);

    cJSON *children = cJSON_GetObjectItemCaseSensitive(error, "children");
    assert_int_equal(cJSON_GetArraySize(children), 2);
    cJSON *note = cJSON_GetArrayItem(children, 0);
    cJSON *help = cJSON_GetArrayItem(children, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(note, "kind")->valuestring, "note");
    assert_null(cJSON_GetObjectItemCaseSensitive(note, "code"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(help, "kind")->valuestring, "help");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(help, "message")->valuestring, "flatten first");

    cJSON *fixits = cJSON_GetObjectItemCaseSensitive(help, "fixits");
    assert_int_equal(cJSON_GetArraySize(fixits), 1);
    cJSON *fixit = cJSON_GetArrayItem(fixits, 0);
    assert_position(cJSON_GetObjectItemCaseSensitive(fixit, "start"), "model.tdl", 3, 20);
    assert_position(cJSON_GetObjectItemCaseSensitive(fixit, "next"), "model.tdl", 3, 21);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(fixit, "string")->valuestring, "flatten(x)");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(error, "fixits")), 0);

    cJSON *warning = cJSON_GetArrayItem(root, 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(warning, "kind")->valuestring, "warning");
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(warning, "locations")), 0);
    cJSON_Delete(root);
}

/* A run without diagnostics prints an empty JSON array. */
static void test_json_empty(void **state) {
    capture *c = *state;
    begin(c, DIAG_FORMAT_JSON, false, NULL, NULL);
    assert_string_equal(finish(c), "[]\n");
}

/* Asserts a SARIF region. */
static void assert_region(const cJSON *region, int start_line, int start_column, int end_line, int end_column) {
    assert_non_null(region);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(region, "startLine")->valueint, start_line);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(region, "startColumn")->valueint, start_column);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(region, "endLine")->valueint, end_line);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(region, "endColumn")->valueint, end_column);
}

/* SARIF has the 2.1.0 shape: schema, driver with rules, results with related locations and fixes. */
static void test_sarif_shape(void **state) {
    capture *c = *state;
    const tsc_source *src = begin(c, DIAG_FORMAT_SARIF, false, "dir/my model.tdl", model_text);
    diag_error(span_of(src, "dense(x, units=10)"), "E0201", "dense expects a rank-2 input");
    diag_note(span_of(src, "f32[B, 5, 5, 64]"), "declared here");
    tsc_loc statement = span_of(src, "    logits");
    diag_help(statement, "insert a flatten");
    diag_fixit((tsc_loc){.file = src, .first = statement.first, .last = statement.first - 1},
               "    x = flatten(x);\n");
    diag_error(span_of(src, "units"), "E0201", "again");
    const char *out = finish(c);

    cJSON *root = cJSON_Parse(out);
    assert_non_null(root);
    assert_non_null(strstr(cJSON_GetObjectItemCaseSensitive(root, "$schema")->valuestring, "sarif-schema-2.1.0"));
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(root, "version")->valuestring, "2.1.0");
    cJSON *runs = cJSON_GetObjectItemCaseSensitive(root, "runs");
    assert_int_equal(cJSON_GetArraySize(runs), 1);
    cJSON *run = cJSON_GetArrayItem(runs, 0);
    cJSON *driver = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(run, "tool"), "driver");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(driver, "name")->valuestring, "tsc");
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(driver, "version")->valuestring, TSC_VERSION);
    cJSON *rules = cJSON_GetObjectItemCaseSensitive(driver, "rules");
    assert_int_equal(cJSON_GetArraySize(rules), 1);   /* one rule per distinct code */
    cJSON *rule = cJSON_GetArrayItem(rules, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(rule, "id")->valuestring, "E0201");
    assert_true(cJSON_IsString(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(rule, "shortDescription"), "text")));

    cJSON *results = cJSON_GetObjectItemCaseSensitive(run, "results");
    assert_int_equal(cJSON_GetArraySize(results), 2);
    cJSON *result = cJSON_GetArrayItem(results, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(result, "ruleId")->valuestring, "E0201");
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(result, "ruleIndex")->valueint, 0);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(result, "level")->valuestring, "error");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(result, "message"), "text")->valuestring,
        "dense expects a rank-2 input");
    cJSON *physical = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(result, "locations"), 0), "physicalLocation");
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(physical, "artifactLocation"), "uri")
            ->valuestring,
        "dir/my%20model.tdl");
    assert_region(cJSON_GetObjectItemCaseSensitive(physical, "region"), 3, 14, 3, 32);

    cJSON *related = cJSON_GetObjectItemCaseSensitive(result, "relatedLocations");
    assert_int_equal(cJSON_GetArraySize(related), 2);
    cJSON *note = cJSON_GetArrayItem(related, 0);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(note, "message"), "text")->valuestring,
        "declared here");
    assert_region(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(note, "physicalLocation"),
                                                   "region"),
                  2, 15, 2, 31);

    cJSON *fixes = cJSON_GetObjectItemCaseSensitive(result, "fixes");
    assert_int_equal(cJSON_GetArraySize(fixes), 1);
    cJSON *fix = cJSON_GetArrayItem(fixes, 0);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(fix, "description"), "text")->valuestring,
        "insert a flatten");
    cJSON *change = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(fix, "artifactChanges"), 0);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(change, "artifactLocation"));
    cJSON *replacement = cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(change, "replacements"), 0);
    assert_region(cJSON_GetObjectItemCaseSensitive(replacement, "deletedRegion"), 3, 1, 3, 1);
    assert_string_equal(
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(replacement, "insertedContent"), "text")
            ->valuestring,
        "    x = flatten(x);\n");

    cJSON *second = cJSON_GetArrayItem(results, 1);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(second, "fixes")), 0);
    cJSON_Delete(root);
}

/* The code of the index-th `## CODE:` heading of docs/diagnostics.md (outside
 * code fences), or NULL when there are fewer entries. */
static char *catalogue_code(int index) {
    FILE *f = fopen(TSC_SOURCE_DIR "/docs/diagnostics.md", "r");
    assert_non_null(f);
    char line[512];
    char *code = NULL;
    bool in_fence = false;
    while (!code && fgets(line, sizeof line, f)) {
        if (strncmp(line, "```", 3) == 0) in_fence = !in_fence;
        else if (!in_fence && strncmp(line, "## ", 3) == 0 && strchr(line, ':') && index-- == 0)
            code = strndup(line + 3, (size_t)(strchr(line, ':') - line - 3));
    }
    fclose(f);
    return code;
}

/* --explain's lookup: a known code gives its entry (any case), an unknown one NULL. */
static void test_explain(void **state) {
    (void)state;
    assert_null(diag_explain("E9999"));
    assert_null(diag_explain(""));
    assert_null(diag_explain("## E"));
    assert_null(diag_explain(NULL));
    char *code = catalogue_code(0);
    if (!code) skip();
    char *entry = diag_explain(code);
    assert_non_null(entry);
    char *heading = tsc_format("## %s:", code);
    assert_true(strncmp(entry, heading, strlen(heading)) == 0);
    char *next_code = catalogue_code(1);   /* one entry, not the rest of the file */
    if (next_code) {
        char *next_heading = tsc_format("\n## %s:", next_code);
        assert_null(strstr(entry, next_heading));
        free(next_heading);
        free(next_code);
    }
    assert_int_equal(entry[strlen(entry) - 1], '\n');
    for (char *p = code; *p; p++) *p = (char)(*p >= 'A' && *p <= 'Z' ? *p - 'A' + 'a' : *p);
    char *lower = diag_explain(code);
    assert_non_null(lower);
    assert_string_equal(lower, entry);
    free(lower);
    free(heading);
    free(entry);
    free(code);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_single_caret, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_multi_byte_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_tabs_keep_caret_aligned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_tab_inside_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_note_and_help_attached, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_fileless_location, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_span_across_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_end_of_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_wide_line_numbers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_color, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_reset_by_begin, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_fields, setup, teardown),
        cmocka_unit_test_setup_teardown(test_json_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sarif_shape, setup, teardown),
        cmocka_unit_test(test_explain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
