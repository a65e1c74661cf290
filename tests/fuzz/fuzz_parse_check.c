/* libFuzzer harness for the compiler: arbitrary bytes as a .tdl file go
 * through tsc_parse and, when they parse, tsc_check, the reports and the C
 * generator, as the CLI runs them. Besides crashes and sanitizer reports, it checks that the
 * parser's error count is the number of errors diag received. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static FILE *null_stream(void)
{
    static FILE *sink;
    if (!sink) {
        sink = fopen("/dev/null", "w");
        if (!sink)
            abort();
    }
    return sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FILE *sink = null_stream();
    tsc_source *source = tsc_source_from_string("fuzz.tdl", (const char *)data, size);

    /* Each input picks an output format, so the JSON and SARIF writers see odd text too. */
    const diag_format formats[3] = { DIAG_FORMAT_TEXT, DIAG_FORMAT_JSON, DIAG_FORMAT_SARIF };
    diag_options options = { .format = formats[size % 3], .color = size % 2 == 1, .stream = sink };
    diag_begin(&options);

    ast_file *ast = NULL;
    int parse_errors = tsc_parse(source, &ast);
    if (!ast || parse_errors != diag_error_count())
        abort();
    checked_file *checked = NULL;
    /* As in the CLI: a tree with syntax errors is checked too (its broken
     * statements poisoned); only an error-free one goes on to C. */
    int check_errors = tsc_check(ast, &checked);
    if (!checked)
        abort();
    if (parse_errors == 0 && check_errors == 0) {
        tsc_print_summary(sink, checked, 32);
        tsc_print_dot(sink, checked);
        for (int i = 0; i < checked->model_count; i++)
            tsc_emit_model(&checked->models[i], "fuzz.tdl", sink, sink);
    }
    diag_end();

    if (checked)
        checked_file_free(checked);
    ast_file_free(ast);
    tsc_source_free(source);
    return 0;
}
