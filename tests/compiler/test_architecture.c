/* The compiler's architecture rules, checked on its sources and its object
 * files rather than left to discipline:
 * - no call cycles among the compiler's files (from the symbols each object
 *   of libtsccore defines and uses, as nm lists them);
 * - headers follow the stages: no file includes a later stage's header;
 * - the checker knows no C: it includes nothing of code generation or the
 *   runtime;
 * - code generation never reads the parse tree;
 * - no diagnostic is printed outside diag.c: nothing else names stderr (the
 *   CLI only hands stderr to diag). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common.h"

/* ---- the compiler's files and their stages -------------------------------- */

/* Stages in pipeline order; a file may include headers of its own stage and
 * earlier ones only. */
typedef enum stage {
    STAGE_COMMON,    /* util.c: common.h */
    STAGE_DIAG,      /* diag.c: diag.h */
    STAGE_FRONT,     /* ast.c, parse.c, ops.c: ast.h, ops.h */
    STAGE_CHECK,     /* the checker: check.h, check_rules.h */
    STAGE_CODEGEN,   /* autodiff, plan, emit*, depfile: codegen.h */
    STAGE_REPORT,    /* summary.c, dot.c: report.h */
    STAGE_CLI,       /* main.c */
} stage;

typedef struct source_file {
    const char *name;
    stage stage;
} source_file;

static const source_file headers[] = {
    {"common.h", STAGE_COMMON}, {"diag.h", STAGE_DIAG},    {"ast.h", STAGE_FRONT},
    {"ops.h", STAGE_FRONT},     {"check.h", STAGE_CHECK},  {"check_rules.h", STAGE_CHECK},
    {"codegen.h", STAGE_CODEGEN}, {"cg.h", STAGE_CODEGEN},  {"cg_ops.h", STAGE_CODEGEN},
    {"report.h", STAGE_REPORT},
};

/* Every .c of compiler/ by stage; a file missing here fails the test, so a
 * new file has to say where it belongs. */
static const source_file sources[] = {
    {"util.c", STAGE_COMMON},      {"diag.c", STAGE_DIAG},          {"ast.c", STAGE_FRONT},
    {"parse.c", STAGE_FRONT},      {"ops.c", STAGE_FRONT},          {"tensor_type.c", STAGE_CHECK},
    {"resolve.c", STAGE_CHECK},    {"resolve_expr.c", STAGE_CHECK}, {"check_support.c", STAGE_CHECK},
    {"shape.c", STAGE_CHECK},
    {"shape_conv.c", STAGE_CHECK}, {"shape_loss.c", STAGE_CHECK},   {"shape_combine.c", STAGE_CHECK},
    {"shape_schedule.c", STAGE_CHECK},
    {"shape_spatial.c", STAGE_CHECK},
    {"shape_conv_groups.c", STAGE_CHECK},
    {"shape_norm.c", STAGE_CHECK},
    {"autodiff.c", STAGE_CODEGEN}, {"plan.c", STAGE_CODEGEN},       {"emit_c.c", STAGE_CODEGEN},
    {"emit_ops.c", STAGE_CODEGEN}, {"emit_support.c", STAGE_CODEGEN}, {"depfile.c", STAGE_CODEGEN},
    {"lower.c", STAGE_CODEGEN},    {"lower_ops.c", STAGE_CODEGEN},  {"op_table.c", STAGE_CODEGEN},
    {"emit_desc.c", STAGE_CODEGEN}, {"emit_files.c", STAGE_CODEGEN}, {"cbuf.c", STAGE_CODEGEN},
    {"names.c", STAGE_CODEGEN},    {"emit_steps.c", STAGE_CODEGEN}, {"lower_support.c", STAGE_CODEGEN},
    {"weights.c", STAGE_CODEGEN},  {"emit_weights.c", STAGE_CODEGEN},
    {"summary.c", STAGE_REPORT},   {"dot.c", STAGE_REPORT},         {"main.c", STAGE_CLI},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

static char *read_source(const char *name)
{
    char *path = tsc_format("%s/compiler/%s", TSC_SOURCE_DIR, name);
    tsc_source *src = tsc_source_read(path);
    if (src == NULL)
        fail_msg("cannot read %s", path);
    free(path);
    char *text = tsc_xstrdup(src->text);
    tsc_source_free(src);
    return text;
}

static const source_file *find_file(const source_file *files, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(files[i].name, name) == 0)
            return &files[i];
    }
    return NULL;
}

/* Calls visit(name of a quoted #include) for every project include of text. */
static void for_each_include(const char *text, void (*visit)(const char *file, const char *header, void *ctx),
                             const char *file, void *ctx)
{
    for (const char *p = strstr(text, "#include \""); p != NULL; p = strstr(p + 1, "#include \"")) {
        const char *start = p + strlen("#include \"");
        const char *end = strchr(start, '"');
        if (end == NULL)
            break;
        char *header = tsc_xstrndup(start, (size_t)(end - start));
        visit(file, header, ctx);
        free(header);
    }
}

/* Text without comments and string literals, so that a rule about code is
 * not tripped by a comment that talks about it. */
static char *code_only(const char *text)
{
    char *out = tsc_xstrdup(text);
    size_t n = 0;
    for (const char *p = text; *p != '\0';) {
        if (p[0] == '/' && p[1] == '*') {
            const char *end = strstr(p + 2, "*/");
            p = end ? end + 2 : p + strlen(p);
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p != '\0' && *p != '\n')
                p++;
        } else if (*p == '"' || *p == '\'') {
            char quote = *p++;
            while (*p != '\0' && *p != quote) {
                if (*p == '\\' && p[1] != '\0')
                    p++;
                p++;
            }
            if (*p != '\0')
                p++;
            out[n++] = quote;
            out[n++] = quote;
        } else {
            out[n++] = *p++;
        }
    }
    out[n] = '\0';
    return out;
}

/* ---- headers follow the stages ------------------------------------------------ */

static void check_include_stage(const char *file, const char *header, void *ctx)
{
    stage own = *(const stage *)ctx;
    const source_file *h = find_file(headers, COUNT(headers), header);
    if (h == NULL)
        return;   /* generated headers (tdl.tab.h), .def tables */
    if (h->stage > own)
        fail_msg("%s includes %s, a header of a later stage", file, header);
    if (strcmp(header, "check_rules.h") == 0 && own != STAGE_CHECK)
        fail_msg("%s includes check_rules.h, which is private to the checker", file);
}

/* Every compiler source is listed with its stage, and includes no later
 * stage's header; headers likewise. */
static void test_headers_follow_stages(void **state)
{
    (void)state;
    char *command = tsc_format("ls %s/compiler", TSC_SOURCE_DIR);
    FILE *listing = popen(command, "r");
    free(command);
    assert_non_null(listing);
    char line[4096];
    int seen = 0;
    while (fgets(line, sizeof line, listing) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        size_t n = strlen(line);
        bool is_c = n > 2 && strcmp(line + n - 2, ".c") == 0;
        bool is_h = n > 2 && strcmp(line + n - 2, ".h") == 0;
        if (!is_c && !is_h)
            continue;
        const source_file *f = is_c ? find_file(sources, COUNT(sources), line) : find_file(headers, COUNT(headers), line);
        if (f == NULL)
            fail_msg("compiler/%s is not listed with its stage in test_architecture.c", line);
        char *text = read_source(line);
        for_each_include(text, check_include_stage, line, (void *)&f->stage);
        free(text);
        seen++;
    }
    pclose(listing);
    assert_int_equal(seen, (int)(COUNT(sources) + COUNT(headers)));
}

/* ---- never-rules ------------------------------------------------------------ */

static bool is_identifier_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* word occurs in code where an identifier (or operator) starts: "ast_" in
 * "ast_stmt" but not in "last_step". */
static void assert_code_lacks(const char *file, const char *code, const char *word, const char *rule)
{
    for (const char *p = strstr(code, word); p != NULL; p = strstr(p + 1, word)) {
        if (p == code || !is_identifier_char(p[-1]) || !is_identifier_char(word[0]))
            fail_msg("compiler/%s uses '%s': %s", file, word, rule);
    }
}

/* A never-rule: the sources of some stages may not contain these words.
 * `in_text` words are looked for anywhere (an #include line); `in_code`
 * words only outside comments and strings. */
typedef struct never_rule {
    const char *rule;
    bool (*applies)(stage s);
    const char *in_text[4];
    const char *in_code[6];
} never_rule;

static void check_never_rule(const never_rule *r)
{
    for (size_t i = 0; i < COUNT(sources); i++) {
        if (!r->applies(sources[i].stage))
            continue;
        char *text = read_source(sources[i].name);
        char *code = code_only(text);
        for (int w = 0; w < 4 && r->in_text[w] != NULL; w++)
            assert_code_lacks(sources[i].name, text, r->in_text[w], r->rule);
        for (int w = 0; w < 6 && r->in_code[w] != NULL; w++)
            assert_code_lacks(sources[i].name, code, r->in_code[w], r->rule);
        free(code);
        free(text);
    }
}

static bool up_to_checker(stage s)
{
    return s <= STAGE_CHECK;
}

static bool codegen_or_report(stage s)
{
    return s == STAGE_CODEGEN || s == STAGE_REPORT;
}

/* The checker (and the stages before it) know no C: no code generation,
 * no runtime. (tdl_ is also the parser's own prefix, so runtime names are
 * recognised by the runtime's header and its TDL_ constants.) */
static void test_checker_knows_no_c(void **state)
{
    (void)state;
    static const never_rule rule = {"the checker knows no C", up_to_checker, {"tdl/runtime.h"}, {"cg_", "TDL_"}};
    check_never_rule(&rule);
}

/* Code generation and the reports never read the parse tree. */
static void test_codegen_never_reads_parse_tree(void **state)
{
    (void)state;
    static const never_rule rule = {"code generation and reports read the checked graph, never the parse tree",
                                    codegen_or_report,
                                    {"\"ast.h\""},
                                    {"ast_", "->stmt", "->call", "->args["}};
    check_never_rule(&rule);
}

/* Only diag.c prints diagnostics: no other file names stderr, calls perror
 * or writes with printf/puts, except that the CLI hands stderr to diag and
 * util.c's internal-error handler (a bug in tsc, file:line, then abort) is
 * not a diagnostic. */
static void test_diagnostics_only_in_diag(void **state)
{
    (void)state;
    for (size_t i = 0; i < COUNT(sources); i++) {
        if (strcmp(sources[i].name, "diag.c") == 0 || strcmp(sources[i].name, "util.c") == 0)
            continue;
        char *text = read_source(sources[i].name);
        char *code = code_only(text);
        const char *rule = "diagnostics are printed by diag.c only";
        if (strcmp(sources[i].name, "main.c") == 0) {
            /* Its one mention of stderr: where diag writes. */
            const char *first = strstr(code, "stderr");
            if (first == NULL || strstr(first + 1, "stderr") != NULL || strstr(code, ".stream = stderr") == NULL)
                fail_msg("compiler/main.c may name stderr once, as '.stream = stderr' for diag: %s", rule);
        } else {
            assert_code_lacks(sources[i].name, code, "stderr", rule);
        }
        assert_code_lacks(sources[i].name, code, "perror(", rule);
        assert_code_lacks(sources[i].name, code, "printf(", rule);
        assert_code_lacks(sources[i].name, code, "puts(", rule);
        free(code);
        free(text);
    }
}

/* ---- no call cycles ------------------------------------------------------------ */

enum { MAX_UNITS = 64 };

/* The objects of libtsccore and which symbols each defines and uses. The
 * Bison parser, the Flex scanner and parse.c are one unit: the scanner and
 * the parser call each other by design, behind parse.c's one entry point. */
typedef struct unit {
    char name[64];
    char **defined, **used;
    size_t defined_count, used_count;
} unit;

typedef struct object_graph {
    unit units[MAX_UNITS];
    int count;
    bool edge[MAX_UNITS][MAX_UNITS];
} object_graph;

static int unit_of(object_graph *g, const char *object)
{
    char name[64];
    snprintf(name, sizeof name, "%s", object);
    char *dot = strstr(name, ".c.o");
    if (dot != NULL)
        *dot = '\0';
    if (strcmp(name, "tdl.tab") == 0 || strcmp(name, "tdl.yy") == 0)
        snprintf(name, sizeof name, "parse");
    for (int i = 0; i < g->count; i++) {
        if (strcmp(g->units[i].name, name) == 0)
            return i;
    }
    assert_true(g->count < MAX_UNITS);
    snprintf(g->units[g->count].name, sizeof g->units[g->count].name, "%s", name);
    return g->count++;
}

static void add_symbol(char ***list, size_t *count, const char *symbol)
{
    *list = tsc_xrealloc(*list, (*count + 1) * sizeof **list);
    (*list)[(*count)++] = tsc_xstrdup(symbol);
}

/* Reads `nm -A -P libtsccore.a`: "lib.a[resolve.c.o]: tsc_check T 0 10". */
static void read_symbols(object_graph *g)
{
    char *command = tsc_format("nm -A -P '%s'", TSC_CORE_LIBRARY);
    FILE *nm = popen(command, "r");
    free(command);
    assert_non_null(nm);
    char line[4096];
    while (fgets(line, sizeof line, nm) != NULL) {
        char *open = strchr(line, '[');
        char *close = open ? strstr(open, "]: ") : NULL;
        if (close == NULL)
            continue;
        *close = '\0';
        char symbol[1024], type[8];
        if (sscanf(close + 3, "%1023s %7s", symbol, type) != 2)
            continue;
        unit *u = &g->units[unit_of(g, open + 1)];
        if (type[0] == 'U')
            add_symbol(&u->used, &u->used_count, symbol);
        else if (type[0] >= 'A' && type[0] <= 'Z')
            add_symbol(&u->defined, &u->defined_count, symbol);
    }
    assert_int_equal(pclose(nm), 0);
}

static void link_units(object_graph *g)
{
    for (int a = 0; a < g->count; a++) {
        for (size_t i = 0; i < g->units[a].used_count; i++) {
            for (int b = 0; b < g->count; b++) {
                for (size_t j = 0; b != a && j < g->units[b].defined_count; j++) {
                    if (strcmp(g->units[a].used[i], g->units[b].defined[j]) == 0)
                        g->edge[a][b] = true;
                }
            }
        }
    }
}

/* Depth-first search; on a back edge, fails naming the cycle. */
static void visit(const object_graph *g, int u, int *color, int *parent)
{
    color[u] = 1;
    for (int v = 0; v < g->count; v++) {
        if (!g->edge[u][v])
            continue;
        if (color[v] == 1) {
            char *cycle = tsc_format("%s", g->units[v].name);
            for (int w = u; w != v && w >= 0; w = parent[w]) {
                char *longer = tsc_format("%s <- %s", cycle, g->units[w].name);
                free(cycle);
                cycle = longer;
            }
            fail_msg("call cycle among compiler files: %s <- %s", cycle, g->units[v].name);
        }
        if (color[v] == 0) {
            parent[v] = u;
            visit(g, v, color, parent);
        }
    }
    color[u] = 2;
}

/* The files of the compiler call each other one way only. */
static void test_no_call_cycles(void **state)
{
    (void)state;
    object_graph *g = tsc_xcalloc(1, sizeof *g);
    read_symbols(g);
    link_units(g);
    assert_true(g->count >= (int)COUNT(sources) - 1);   /* main.c is not in the library */
    /* The checker calls its rules, which call its support, never back. */
    int resolve = unit_of(g, "resolve.c.o"), shape = unit_of(g, "shape.c.o");
    assert_true(g->edge[resolve][shape]);
    int color[MAX_UNITS] = {0}, parent[MAX_UNITS];
    for (int i = 0; i < MAX_UNITS; i++)
        parent[i] = -1;
    for (int u = 0; u < g->count; u++) {
        if (color[u] == 0)
            visit(g, u, color, parent);
    }
    for (int u = 0; u < g->count; u++) {
        for (size_t i = 0; i < g->units[u].defined_count; i++)
            free(g->units[u].defined[i]);
        for (size_t i = 0; i < g->units[u].used_count; i++)
            free(g->units[u].used[i]);
        free(g->units[u].defined);
        free(g->units[u].used);
    }
    free(g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_headers_follow_stages),
        cmocka_unit_test(test_checker_knows_no_c),
        cmocka_unit_test(test_codegen_never_reads_parse_tree),
        cmocka_unit_test(test_diagnostics_only_in_diag),
        cmocka_unit_test(test_no_call_cycles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
