/* The back end's own rules: every op has its row in the lowering table and
 * every differentiable op a backward; the mangler and the escapers make any
 * name safe C; output files are written as a pair or not at all, through
 * diag (one JSON document even when the output directory is missing), never
 * over the input, without leftover temporaries, and concurrently. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <dirent.h>
#include <spawn.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ast.h"
#include "cg.h"

extern char **environ;

static const char tiny_model[] =
    "model tiny {\n"
    "    input x : f32[B, 4];\n"
    "    input y : i32[B];\n"
    "    logits = dense(x, units=3);\n"
    "    loss xent = sparse_softmax_cross_entropy(labels=y, logits=logits);\n"
    "    output logits;\n"
    "    optimizer sgd(learning_rate=0.1);\n"
    "}\n";

/* --- The lowering table ------------------------------------------------------------ */

/* Every op has its own row; every op with code has forward functions, and
 * every differentiable one a backward (or is a view, whose gradient is too). */
static void test_every_op_has_a_row(void **state) {
    (void)state;
    for (int op = 0; op < TSC_OP_COUNT; op++) {
        const cg_op_lowering *row = cg_op_lowerings[op];
        const tsc_op_info *info = tsc_op_info_of((tsc_op)op);
        if (row == NULL) fail_msg("op %s has no lowering in op_table.c", info->name);
        checked_node probe = {.op = (tsc_op)op, .info = info};
        if (cg_op_flags(&probe) & (CG_OP_NO_CODE | CG_OP_VIEW)) continue;
        if (!row->forward_operands || !row->emit_forward) fail_msg("op %s has no forward", info->name);
        bool has_gradient = info->differentiable && info->family != TSC_FAMILY_METRIC;
        if (has_gradient && (!row->backward_operands || !row->emit_backward))
            fail_msg("differentiable op %s has no backward", info->name);
        if ((row->workspace_floats == NULL) != (row->workspace_function == NULL))
            fail_msg("op %s: scratch size for the compiler and for the generated code disagree", info->name);
    }
}

/* --- Names ---------------------------------------------------------------------------- */

static const char *const hostile[] = {
    "NULL", "_Bool", "M1_H", "m1", "memcpy", "tdl_zero", "malloc", "free", "size_t", "batch", "m", "i", "out",
    "rng", "status", "x", "int", "class", "and_eq", "__x", "_x", "x__y", "x_", "9lives", "", "a-b", "a_2d_b",
    "qa_2d_b_", "d*/ abort(); /*", "q\"uote", "back\\slash", "new\nline", "?\?/", "\xc3\xa9t\xc3\xa9", "xor_eq",
    "v_x", "inputs", "TDL_STATUS_OK", "tdl", "tdl_model", "Tdl_x", "TDL",
};
enum { HOSTILE_COUNT = sizeof hostile / sizeof hostile[0] };

static bool is_identifier(const char *s) {
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z'))) return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* Every name becomes an identifier that starts with a letter, has no "__",
 * is no reserved word, and no two names become the same identifier. */
static void test_mangler(void **state) {
    (void)state;
    char *mangled[HOSTILE_COUNT];
    for (int i = 0; i < HOSTILE_COUNT; i++) {
        mangled[i] = cg_mangle(hostile[i]);
        if (!is_identifier(mangled[i]) || strstr(mangled[i], "__"))
            fail_msg("'%s' became '%s'", hostile[i], mangled[i]);
        if (strncasecmp(mangled[i], "tdl", 3) == 0 && (mangled[i][3] == '\0' || mangled[i][3] == '_'))
            fail_msg("'%s' became '%s', in libtdlrt's namespace", hostile[i], mangled[i]);
        for (int k = 0; k < i; k++)
            if (strcmp(mangled[i], mangled[k]) == 0)
                fail_msg("'%s' and '%s' both became '%s'", hostile[i], hostile[k], mangled[i]);
    }
    const char *reserved[] = {"NULL", "memcpy", "int", "m", "batch", "tdl_zero", "size_t", "status"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++) {
        char *c = cg_mangle(reserved[i]);
        assert_string_not_equal(c, reserved[i]);
        free(c);
    }
    char *plain = cg_mangle("conv2d_1");
    assert_string_equal(plain, "conv2d_1");
    free(plain);
    char *joined = cg_join("memcpy_", "create");
    assert_string_equal(joined, "memcpy_create");
    free(joined);
    for (int i = 0; i < HOSTILE_COUNT; i++) free(mangled[i]);
}

/* A comment made from any text cannot end early, nest, splice lines or
 * hold a trigraph; a string literal cannot end early or hide an escape. */
static void test_escapers(void **state) {
    (void)state;
    for (int i = 0; i < HOSTILE_COUNT; i++) {
        cg_buf b = {0};
        cg_buf_puts(&b, "/* ");
        cg_buf_comment(&b, hostile[i]);
        const char *text = cg_buf_str(&b) + 3;
        if (strstr(text, "*/") || strstr(text, "/*") || strstr(text, "??") || strchr(text, '\\') ||
            strchr(text, '\n') || strchr(text, '\r'))
            fail_msg("comment text for '%s' is '%s'", hostile[i], text);
        cg_buf_clear(&b);
        cg_buf_c_string(&b, hostile[i]);
        for (const char *p = cg_buf_str(&b); *p; p++) {
            if (*p == '\\') {
                p++;
                if (!strchr("\"\\?01234567", *p)) fail_msg("string literal for '%s': escape \\%c", hostile[i], *p);
            } else if (*p == '"' || *p == '?' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f) {
                fail_msg("string literal for '%s' holds a raw 0x%02x", hostile[i], (unsigned char)*p);
            }
        }
        cg_buf_free(&b);
    }
    cg_buf b = {0};
    cg_buf_c_string(&b, "a\"b\n?\?/");
    assert_string_equal(cg_buf_str(&b), "a\\\"b\\012\\?\\?/");
    cg_buf_free(&b);
}

/* The buffer grows past any size, and its printf matches libc's. */
static void test_growable_buffer(void **state) {
    (void)state;
    cg_buf b = {0};
    for (int i = 0; i < 10000; i++) cg_buf_printf(&b, "%s_%d_%lld_%zu_%u_%x%c%%", "ab", -i, -5000000000LL, (size_t)i,
                                                   (unsigned)i, (unsigned)i, 'z');
    char expected[128];
    snprintf(expected, sizeof expected, "%s_%d_%lld_%zu_%u_%x%c%%", "ab", -9999, -5000000000LL, (size_t)9999, 9999u,
             9999u, 'z');
    size_t n = strlen(expected);
    assert_true(b.length > 10000 * 20);
    assert_memory_equal(cg_buf_str(&b) + b.length - n, expected, n);
    char *long_name = malloc(5001);
    assert_non_null(long_name);
    memset(long_name, 'a', 5000);
    long_name[5000] = '\0';
    char *joined = cg_strf("v_%s%s", long_name, ".0");
    assert_int_equal(strlen(joined), 5004);
    free(joined);
    free(long_name);
    cg_buf_free(&b);
}

/* --- Output files ------------------------------------------------------------------------ */

typedef struct workspace {
    char dir[64];
} workspace;

static int setup_dir(void **state) {
    workspace *w = calloc(1, sizeof *w);
    if (!w) return -1;
    strcpy(w->dir, "/tmp/tsc_backend_XXXXXX");
    if (!mkdtemp(w->dir)) return -1;
    *state = w;
    return 0;
}

static int teardown_dir(void **state) {
    workspace *w = *state;
    char *command = tsc_format("rm -rf '%s'", w->dir);
    int rc = system(command);
    free(command);
    free(w);
    return rc == 0 ? 0 : -1;
}

static char *write_text(const char *dir, const char *name, const char *text) {
    char *path = tsc_format("%s/%s", dir, name);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    fputs(text, out);
    assert_int_equal(fclose(out), 0);
    return path;
}

/* The names in dir that are temporaries of ours (".<name>.tmp.XXXXXX"). */
static int count_temporaries(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int count = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (strstr(e->d_name, ".tmp.")) count++;
    closedir(d);
    return count;
}

/* Parses and checks a file; diagnostics into `diagnostics` in `format`. */
typedef struct compiled {
    tsc_source *source;
    ast_file *ast;
    checked_file *checked;
} compiled;

static void compile_file(compiled *c, const char *path) {
    memset(c, 0, sizeof *c);
    c->source = tsc_source_read(path);
    assert_non_null(c->source);
    diag_begin(NULL);
    assert_int_equal(tsc_parse(c->source, &c->ast), 0);
    assert_int_equal(tsc_check(c->ast, &c->checked), 0);
    diag_end();
}

static void compiled_free(compiled *c) {
    checked_file_free(c->checked);
    ast_file_free(c->ast);
    tsc_source_free(c->source);
}

/* A model that declares no output gets no NAME_forward (rather than one that
 * takes nothing and computes nothing); one with an output does. */
static void test_forward_only_with_outputs(void **state) {
    workspace *w = *state;
    static const char *const models[2] = {
        "model quiet {\n  input x : f32[B, 4];\n  input y : i32[B];\n  l = dense(x, units=3);\n"
        "  loss e = sparse_softmax_cross_entropy(y, l);\n  optimizer sgd(learning_rate=0.1);\n}\n",
        "model quiet {\n  input x : f32[B, 4];\n  input y : i32[B];\n  l = dense(x, units=3);\n"
        "  loss e = sparse_softmax_cross_entropy(y, l);\n  output p = softmax(l);\n"
        "  optimizer sgd(learning_rate=0.1);\n}\n",
    };
    for (int k = 0; k < 2; k++) {
        char *input = write_text(w->dir, "quiet.tdl", models[k]);
        compiled c;
        compile_file(&c, input);
        char *header = NULL, *source = NULL;
        size_t header_size = 0, source_size = 0;
        FILE *h = open_memstream(&header, &header_size), *s = open_memstream(&source, &source_size);
        tsc_emit_model(&c.checked->models[0], "quiet.tdl", h, s);
        fclose(h);
        fclose(s);
        bool has_forward = strstr(header, "quiet_forward(") != NULL;
        assert_int_equal(has_forward, k == 1);
        assert_int_equal(strstr(source, "quiet_forward(") != NULL, k == 1);
        assert_non_null(strstr(header, "quiet_evaluate("));
        free(header);
        free(source);
        compiled_free(&c);
        free(input);
    }
}

/* A missing output directory is one E0901 error inside the one JSON document. */
static void test_json_missing_output_dir(void **state) {
    workspace *w = *state;
    char *input = write_text(w->dir, "m.tdl", tiny_model);
    compiled c;
    compile_file(&c, input);
    char *missing = tsc_format("%s/missing_dir", w->dir);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    assert_non_null(stream);
    diag_options options = {.format = DIAG_FORMAT_JSON, .color = false, .stream = stream};
    diag_begin(&options);
    assert_int_equal(tsc_emit_c(c.checked, missing, "m.tdl"), -1);
    char *depfile = tsc_format("%s/m.d", missing);
    assert_int_equal(tsc_write_depfile(depfile, c.checked, missing, input), -1);
    free(depfile);
    diag_end();
    fclose(stream);
    cJSON *document = cJSON_Parse(text);
    if (!document) fail_msg("not one JSON document: %s", text);
    assert_true(cJSON_IsArray(document));
    assert_int_equal(cJSON_GetArraySize(document), 2);
    for (int i = 0; i < 2; i++) {
        const cJSON *d = cJSON_GetArrayItem(document, i);
        assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(d, "code")), "E0901");
        assert_non_null(strstr(cJSON_GetStringValue(cJSON_GetObjectItem(d, "message")), "missing_dir"));
    }
    cJSON_Delete(document);
    free(text);
    free(missing);
    compiled_free(&c);
    free(input);
}

/* A model `tiny` in a file named tiny.h would overwrite its own source:
 * refused (E0902), the file untouched, and tsc exits with status 2. */
static void test_output_is_input(void **state) {
    workspace *w = *state;
    char *input = write_text(w->dir, "tiny.h", tiny_model);
    compiled c;
    compile_file(&c, input);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = stream};
    diag_begin(&options);
    assert_int_equal(tsc_emit_c(c.checked, w->dir, "tiny.h"), -1);
    diag_end();
    fclose(stream);
    assert_non_null(strstr(text, "E0902"));
    assert_non_null(strstr(text, "it is the input file"));
    free(text);
    /* -MF naming the input is refused too. */
    stream = open_memstream(&text, &size);
    options.stream = stream;
    diag_begin(&options);
    assert_int_equal(tsc_write_depfile(input, c.checked, w->dir, input), -1);
    diag_end();
    fclose(stream);
    assert_non_null(strstr(text, "E0902"));
    free(text);
    compiled_free(&c);

    pid_t pid;
    char *argv[] = {(char *)TSC_EXECUTABLE, input, NULL};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", 0, 0);
    assert_int_equal(posix_spawn(&pid, TSC_EXECUTABLE, &actions, NULL, argv, environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 2);

    FILE *in = fopen(input, "r");
    char back[sizeof tiny_model + 16];
    size_t n = fread(back, 1, sizeof back, in);
    fclose(in);
    assert_int_equal(n, strlen(tiny_model));
    assert_memory_equal(back, tiny_model, n);
    assert_int_equal(count_temporaries(w->dir), 0);
    free(input);
}

/* When the second file of the pair cannot be put in place, the error goes
 * through diag and no temporary file is left behind. */
static void test_no_temporaries_after_failure(void **state) {
    workspace *w = *state;
    char *input = write_text(w->dir, "m.tdl", tiny_model);
    char *blocker = tsc_format("%s/tiny.c", w->dir);
    assert_int_equal(mkdir(blocker, 0755), 0); /* a directory where tiny.c goes */
    char *inside = write_text(blocker, "keep", "x");
    compiled c;
    compile_file(&c, input);
    char *text = NULL;
    size_t size = 0;
    FILE *stream = open_memstream(&text, &size);
    diag_options options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = stream};
    diag_begin(&options);
    assert_int_equal(tsc_emit_c(c.checked, w->dir, "m.tdl"), -1);
    diag_end();
    fclose(stream);
    assert_non_null(strstr(text, "E0901"));
    assert_int_equal(count_temporaries(w->dir), 0);
    free(text);
    compiled_free(&c);
    free(inside);
    free(blocker);
    free(input);
}

static char *read_text(const char *path) {
    FILE *in = fopen(path, "rb");
    assert_non_null(in);
    fseek(in, 0, SEEK_END);
    long n = ftell(in);
    rewind(in);
    char *text = calloc(1, (size_t)n + 1);
    assert_non_null(text);
    assert_int_equal(fread(text, 1, (size_t)n, in), (size_t)n);
    fclose(in);
    return text;
}

/* Eight runs into one directory at once leave a complete, identical pair
 * and no temporaries. */
static void test_concurrent_runs(void **state) {
    workspace *w = *state;
    char *input = write_text(w->dir, "tiny.tdl", tiny_model);
    char *out_dir = tsc_format("%s/out", w->dir), *reference_dir = tsc_format("%s/reference", w->dir);
    assert_int_equal(mkdir(out_dir, 0755), 0);
    assert_int_equal(mkdir(reference_dir, 0755), 0);
    enum { RUNS = 8 };
    pid_t pids[RUNS + 1];
    for (int i = 0; i <= RUNS; i++) {
        char *argv[] = {(char *)TSC_EXECUTABLE, (char *)"-o", i < RUNS ? out_dir : reference_dir, input, NULL};
        assert_int_equal(posix_spawn(&pids[i], TSC_EXECUTABLE, NULL, NULL, argv, environ), 0);
        if (i == RUNS) {
            int status = 0;
            waitpid(pids[i], &status, 0);
        }
    }
    for (int i = 0; i < RUNS; i++) {
        int status = 0;
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const char *files[] = {"tiny.h", "tiny.c"};
    for (int k = 0; k < 2; k++) {
        char *a = tsc_format("%s/%s", out_dir, files[k]), *b = tsc_format("%s/%s", reference_dir, files[k]);
        char *ta = read_text(a), *tb = read_text(b);
        assert_string_equal(ta, tb);
        free(ta);
        free(tb);
        free(a);
        free(b);
    }
    assert_int_equal(count_temporaries(out_dir), 0);
    free(out_dir);
    free(reference_dir);
    free(input);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_op_has_a_row),
        cmocka_unit_test(test_mangler),
        cmocka_unit_test(test_escapers),
        cmocka_unit_test(test_growable_buffer),
        cmocka_unit_test_setup_teardown(test_forward_only_with_outputs, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_json_missing_output_dir, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_output_is_input, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_no_temporaries_after_failure, setup_dir, teardown_dir),
        cmocka_unit_test_setup_teardown(test_concurrent_runs, setup_dir, teardown_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
