/* Tests of the tsc command line: runs the built binary (TSC_EXECUTABLE) on
 * small files in a temporary directory and checks exit status and output. */
#define _XOPEN_SOURCE 700   /* posix_openpt and friends, for the terminal test */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "report.h"

#include <tdl/runtime.h>

typedef struct run_result {
    int status;          /* exit status, or -1 if tsc did not exit normally */
    char *out;
    char *err;
} run_result;

typedef struct fixture {
    char dir[64];
    run_result result;
} fixture;

#define VALID_MODEL_NAME "tiny"
static const char valid_model[] =
    "model tiny {\n"
    "    input x : f32[B, 4];\n"
    "    input y : i32[B];\n"
    "    logits = dense(x, units=3);\n"
    "    loss xent = sparse_softmax_cross_entropy(labels=y, logits=logits);\n"
    "    output logits;\n"
    "    optimizer sgd(learning_rate=0.1);\n"
    "}\n";

static const char syntax_error_model[] =
    "model bad {\n"
    "    input x : f32[B, 4];\n"
    "    y = ;\n"
    "}\n";

static const char shape_error_model[] =
    "model bad_shape {\n"
    "    input x : f32[B, 5, 5, 64];\n"
    "    logits = dense(x, units=10);\n"
    "    output logits;\n"
    "}\n";

static char *path_in(const fixture *f, const char *name) { return tsc_format("%s/%s", f->dir, name); }

static char *write_file(const fixture *f, const char *name, const char *text) {
    char *path = path_in(f, name);
    FILE *file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
    return path;
}

static char *slurp(const char *path) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    size_t size = 0, capacity = 4096;
    char *text = malloc(capacity);
    size_t n;
    while ((n = fread(text + size, 1, capacity - size - 1, file)) > 0) {
        size += n;
        if (capacity - size < 2) text = realloc(text, capacity *= 2);
    }
    text[size] = '\0';
    fclose(file);
    return text;
}

static void result_clear(run_result *r) {
    free(r->out);
    free(r->err);
    *r = (run_result){.status = -1};
}

static int setup(void **state) {
    fixture *f = calloc(1, sizeof *f);
    strcpy(f->dir, "/tmp/tsc_cli_XXXXXX");
    if (!mkdtemp(f->dir)) return -1;
    f->result.status = -1;
    *state = f;
    return 0;
}

static int teardown(void **state) {
    fixture *f = *state;
    static const char *const names[] = {"valid.tdl", "bad.tdl", "shape.tdl", "stdout", "stderr"};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        char *path = path_in(f, names[i]);
        unlink(path);
        free(path);
    }
    rmdir(f->dir);
    result_clear(&f->result);
    free(f);
    return 0;
}

/* Runs tsc with args (NULL-terminated) in environment env, stdout and stderr
 * going to files; when stderr_fd >= 0 stderr goes there instead. */
static void spawn_tsc(fixture *f, const char *const env[], int stderr_fd, pid_t *pid, const char *const args[]) {
    const char *argv[32] = {TSC_EXECUTABLE};
    size_t argc = 1;
    for (; args[argc - 1]; argc++) argv[argc] = args[argc - 1];
    argv[argc] = NULL;

    char *out_path = path_in(f, "stdout");
    char *err_path = path_in(f, "stderr");
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (stderr_fd >= 0) posix_spawn_file_actions_adddup2(&actions, stderr_fd, STDERR_FILENO);
    else posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    int rc = posix_spawn(pid, TSC_EXECUTABLE, &actions, NULL, (char *const *)argv, (char *const *)env);
    posix_spawn_file_actions_destroy(&actions);
    free(out_path);
    free(err_path);
    assert_int_equal(rc, 0);
}

static int wait_status(pid_t pid) {
    int status;
    while (waitpid(pid, &status, 0) < 0) assert_int_equal(errno, EINTR);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* Runs tsc args… with environment env; the result lands in f->result. */
static const run_result *run_env(fixture *f, const char *const env[], const char *const args[]) {
    result_clear(&f->result);
    pid_t pid;
    spawn_tsc(f, env, -1, &pid, args);
    f->result.status = wait_status(pid);
    char *out_path = path_in(f, "stdout");
    char *err_path = path_in(f, "stderr");
    f->result.out = slurp(out_path);
    f->result.err = slurp(err_path);
    free(out_path);
    free(err_path);
    return &f->result;
}

static const char *const plain_env[] = {"NO_COLOR=1", "TERM=xterm", NULL};

#define RUN(f, ...) run_env((f), plain_env, (const char *const[]){__VA_ARGS__, NULL})

/* --version prints "tsc X.Y.Z". */
static void test_version(void **state) {
    const run_result *r = RUN(*state, "--version");
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "tsc " TSC_VERSION "\n");
    assert_string_equal(r->err, "");
}

/* --help prints a real usage text on stdout. */
static void test_help(void **state) {
    const run_result *r = RUN(*state, "--help");
    assert_int_equal(r->status, 0);
    assert_true(strncmp(r->out, "Usage: tsc [options] model.tdl\n", 31) == 0);
    const char *expected[] = {"--check", "--summary", "--batch N", "--dot", "-o DIR", "--explain CODE",
                              "--inference", "--weights FILE",
                              "--diagnostics-format", "--color=WHEN", "NO_COLOR", "writes\n<model>.c and <model>.h",
                              "Exit status: 0 success, 1 errors in the model, 2 usage or I/O error."};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++) assert_non_null(strstr(r->out, expected[i]));
}

/* A correct model checks with status 0 and no errors. */
static void test_check_valid_model(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "--check", path);
    assert_null(strstr(r->err, "error"));
    assert_int_equal(r->status, 0);
    assert_string_equal(r->out, "");
    free(path);
}

/* A syntax error is reported with its location and gives status 1. */
static void test_check_syntax_error(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "bad.tdl", syntax_error_model);
    char *where = tsc_format("%s:3:", path);
    const run_result *r = RUN(f, "--check", path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, where));
    assert_non_null(strstr(r->err, ": error: "));
    assert_non_null(strstr(r->err, "    3 |     y = ;\n"));
    assert_null(strchr(r->err, '\033'));
    free(where);
    free(path);
}

/* A shape error gives status 1 with an E02xx code. */
static void test_check_shape_error(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "shape.tdl", shape_error_model);
    const run_result *r = RUN(f, "--check", path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, ": error: "));
    assert_non_null(strstr(r->err, "[E02"));
    free(path);
}

/* Without --check/--summary/--dot, a correct model becomes <model>.c and <model>.h in -o DIR. */
static void test_default_action_writes_c(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "-o", f->dir, path);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->err, "");
    char *header = tsc_format("%s/%s.h", f->dir, VALID_MODEL_NAME);
    char *source = tsc_format("%s/%s.c", f->dir, VALID_MODEL_NAME);
    assert_int_equal(access(header, R_OK), 0);
    assert_int_equal(access(source, R_OK), 0);
    remove(header);
    remove(source);
    free(header);
    free(source);
    free(path);
}

/* A model with errors gives 1 even when C output was asked for. */
static void test_default_action_with_errors(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "bad.tdl", syntax_error_model);
    const run_result *r = RUN(f, path);
    assert_int_equal(r->status, 1);
    assert_null(strstr(r->err, "cannot write"));
    free(path);
}

/* Usage errors give 2 and a pointer to --help. */
static void test_usage_errors(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "--frobnicate", path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "tsc: error: unknown option '--frobnicate'\n"));
    assert_non_null(strstr(r->err, "Try 'tsc --help'"));

    r = RUN(f, "--check");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "no input file"));

    r = RUN(f, "--summary", "--batch", "0", path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "--batch expects a positive integer, not '0'"));

    r = RUN(f, "--check", "--batch=4", path);
    assert_int_equal(r->status, 2);

    r = RUN(f, "--check", "--dot", path);
    assert_int_equal(r->status, 2);

    r = RUN(f, "--check", "--diagnostics-format=xml", path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "'xml'"));

    r = RUN(f, "--color=sometimes", "--check", path);
    assert_int_equal(r->status, 2);

    r = RUN(f, "--check", path, path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "more than one input file"));

    r = RUN(f, "--explain");
    assert_int_equal(r->status, 2);
    free(path);
}

/* An unreadable input gives 2 and a message naming the file. */
static void test_missing_file(void **state) {
    fixture *f = *state;
    char *path = path_in(f, "does_not_exist.tdl");
    const run_result *r = RUN(f, "--check", path);
    assert_int_equal(r->status, 2);
    char *expected = tsc_format("tsc: error: cannot read '%s': No such file or directory\n", path);
    assert_string_equal(r->err, expected);
    free(expected);

    r = RUN(f, "--check", f->dir);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "is a directory"));
    free(path);
}

/* --explain prints a known entry of docs/diagnostics.md; an unknown code gives 2. */
static void test_explain(void **state) {
    fixture *f = *state;
    const run_result *r = RUN(f, "--explain", "E9999");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "'E9999'"));
    assert_string_equal(r->out, "");

    char *catalogue = slurp(TSC_SOURCE_DIR "/docs/diagnostics.md");
    char *heading = strstr(catalogue, "\n## ");
    if (!heading) {
        free(catalogue);
        skip();
    }
    char *code = strndup(heading + 4, strcspn(heading + 4, ":"));
    r = RUN(f, "--explain", code);
    assert_int_equal(r->status, 0);
    char *expected_start = tsc_format("## %s:", code);
    assert_true(strncmp(r->out, expected_start, strlen(expected_start)) == 0);

    char *option = tsc_format("--explain=%s", code);
    r = RUN(f, option);
    assert_int_equal(r->status, 0);
    assert_true(strncmp(r->out, expected_start, strlen(expected_start)) == 0);
    free(option);
    free(expected_start);
    free(code);
    free(catalogue);
}

/* --color=always colours even into a file and despite NO_COLOR; --color=never never does. */
static void test_color_flags(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "bad.tdl", syntax_error_model);
    const run_result *r = RUN(f, "--color=always", "--check", path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "\033[1;31merror:\033[0m"));

    r = RUN(f, "--color=never", "--check", path);
    assert_int_equal(r->status, 1);
    assert_null(strchr(r->err, '\033'));

    r = RUN(f, "--check", path);   /* auto, stderr is a file */
    assert_null(strchr(r->err, '\033'));
    free(path);
}

/* Runs tsc with stderr on a pseudo-terminal; returns what it wrote there. */
static char *run_on_terminal(fixture *f, const char *const env[], const char *const args[]) {
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    assert_true(master >= 0);
    assert_int_equal(grantpt(master), 0);
    assert_int_equal(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    assert_true(slave >= 0);
    pid_t pid;
    spawn_tsc(f, env, slave, &pid, args);
    close(slave);

    size_t size = 0, capacity = 4096;
    char *text = malloc(capacity);
    for (;;) {
        ssize_t n = read(master, text + size, capacity - size - 1);
        if (n <= 0) break;   /* EIO once tsc has exited and closed the terminal */
        size += (size_t)n;
        if (capacity - size < 2) text = realloc(text, capacity *= 2);
    }
    text[size] = '\0';
    close(master);
    assert_int_equal(wait_status(pid), 1);
    return text;
}

/* On a terminal, colour is on by default and NO_COLOR (non-empty) turns it off. */
static void test_color_auto_on_terminal(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "bad.tdl", syntax_error_model);
    const char *const args[] = {"--check", path, NULL};

    const char *const color_env[] = {"TERM=xterm", NULL};
    char *err = run_on_terminal(f, color_env, args);
    assert_non_null(strstr(err, "\033[1;31merror:\033[0m"));
    free(err);

    const char *const empty_no_color_env[] = {"TERM=xterm", "NO_COLOR=", NULL};
    err = run_on_terminal(f, empty_no_color_env, args);
    assert_non_null(strchr(err, '\033'));
    free(err);

    err = run_on_terminal(f, plain_env, args);
    assert_non_null(strstr(err, "error:"));
    assert_null(strchr(err, '\033'));
    free(err);
    free(path);
}

/* --diagnostics-format=json and =sarif print parseable documents on stderr. */
static void test_machine_formats(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "bad.tdl", syntax_error_model);
    const run_result *r = RUN(f, "--diagnostics-format=json", "--check", path);
    assert_int_equal(r->status, 1);
    cJSON *json = cJSON_Parse(r->err);
    assert_non_null(json);
    assert_true(cJSON_IsArray(json));
    assert_true(cJSON_GetArraySize(json) >= 1);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(json, 0), "kind")->valuestring, "error");
    cJSON_Delete(json);

    r = RUN(f, "--diagnostics-format", "sarif", "--color=always", "--check", path);
    assert_int_equal(r->status, 1);
    cJSON *sarif = cJSON_Parse(r->err);
    assert_non_null(sarif);
    assert_string_equal(cJSON_GetObjectItemCaseSensitive(sarif, "version")->valuestring, "2.1.0");
    cJSON_Delete(sarif);
    free(path);
}

/* I/O errors go through diag: with JSON or SARIF, a missing input or output
 * directory still gives one valid document (and exit status 2). */
static void test_io_errors_in_machine_formats(void **state) {
    fixture *f = *state;
    char *model = write_file(f, "tiny.tdl", valid_model);
    char *missing_dir = path_in(f, "missing_dir/");
    char *missing_input = path_in(f, "nowhere.tdl");
    const char *const *cases[] = {
        (const char *const[]){"--diagnostics-format=json", "-o", missing_dir, model, NULL},
        (const char *const[]){"--diagnostics-format=json", "--check", missing_input, NULL},
        (const char *const[]){"--diagnostics-format=sarif", "-o", missing_dir, model, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const run_result *r = run_env(f, plain_env, cases[i]);
        assert_int_equal(r->status, 2);
        cJSON *doc = cJSON_Parse(r->err);
        if (doc == NULL)
            fail_msg("case %zu: stderr is not one JSON document:\n%s", i, r->err);
        const cJSON *results = cJSON_IsArray(doc) ? doc
                               : cJSON_GetObjectItemCaseSensitive(
                                     cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(doc, "runs"), 0), "results");
        assert_true(cJSON_GetArraySize(results) == 1);
        const cJSON *first = cJSON_GetArrayItem(results, 0);
        const cJSON *message = cJSON_GetObjectItemCaseSensitive(first, "message");
        const char *text = cJSON_IsString(message) ? message->valuestring
                                                   : cJSON_GetObjectItemCaseSensitive(message, "text")->valuestring;
        assert_non_null(strstr(text, i == 1 ? "cannot read" : "cannot write"));
        cJSON_Delete(doc);
    }
    free(missing_input);
    free(missing_dir);
    free(model);
}

/* A syntax error no longer hides the model's other mistakes: the statements
 * that parsed are checked, and the broken one's name is poisoned (its use
 * in the next line says nothing). */
static void test_checks_after_syntax_error(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "syn.tdl",
                            "model m {\n"
                            "    input image : f32[B, 8, 8, 3];\n"
                            "    input label : i32[B, 1];\n"
                            "    x = conv2d(image filters=3, kernel_size=3);\n"
                            "    y = relu(x);\n"
                            "    logits = dense(image, units=10);\n"
                            "    metric acc = in_top_k(logits, label, k=1);\n"
                            "    output y;\n"
                            "}\n");
    const run_result *r = RUN(f, "--check", path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "syn.tdl:4:22: error: expected ')' or ',' but found identifier 'filters' [E0001]"));
    assert_non_null(strstr(r->err, "syn.tdl:6:20: error: dense expects a rank-2 input"));
    assert_non_null(strstr(r->err, "syn.tdl:7:35: error: in_top_k expects a rank-1 input [batch], but 'label' is rank 2"));
    assert_null(strstr(r->err, "'x'"));   /* no cascade from the broken statement */
    assert_null(strstr(r->err, "warning"));
    free(path);
}

/* --- --inference and --weights ------------------------------------------------------ */

/* The text of a generated file of the fixture's directory (heap). */
static char *generated(const fixture *f, const char *name) {
    char *path = path_in(f, name);
    char *text = slurp(path);
    remove(path);
    free(path);
    return text;
}

/* --inference: forward and evaluate (the model has a loss), nothing of training. */
static void test_inference_build(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "--inference", "-o", f->dir, path);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->err, "");
    char *header = generated(f, "tiny.h"), *source = generated(f, "tiny.c");
    assert_non_null(strstr(header, "tiny_forward("));
    assert_non_null(strstr(header, "tiny_evaluate("));
    assert_non_null(strstr(header, "tiny_load("));
    assert_null(strstr(header, "tiny_train_step("));
    assert_null(strstr(header, "tiny_gradcheck("));
    assert_null(strstr(header, "tiny_set_learning_rate("));
    assert_null(strstr(source, "train_pass"));
    assert_non_null(strstr(source, "TDL_OPTIMIZER_NONE"));
    free(header);
    free(source);
    free(path);
}

/* A model without loss, metric or optimizer: no evaluate and no metrics struct. */
static void test_forward_only_model(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl",
                            "model plain {\n    input x : f32[B, 4];\n    y = dense(x, units=2);\n    output y;\n}\n");
    const run_result *r = RUN(f, "-o", f->dir, path);
    assert_int_equal(r->status, 0);
    char *header = generated(f, "plain.h");
    free(generated(f, "plain.c"));
    assert_non_null(strstr(header, "plain_forward("));
    assert_null(strstr(header, "plain_evaluate("));
    assert_null(strstr(header, "plain_metrics"));
    assert_null(strstr(header, "plain_train_step("));
    free(header);
    free(path);
}

/* A weights file for valid_model: dense_1.kernel [4,3] and dense_1.bias [3]. */
static char *write_weights(const fixture *f) {
    static float kernel[12], bias[3];
    for (int i = 0; i < 12; i++) kernel[i] = 0.25f * (float)(i - 6);
    bias[0] = 1.5f;
    bias[1] = -0.1f;
    bias[2] = 3.0e-39f; /* subnormal: printed exactly too */
    const tdl_tensor_ref refs[2] = {{"dense_1.kernel", kernel, 2, {4, 3}}, {"dense_1.bias", bias, 1, {3}}};
    char *path = path_in(f, "w.safetensors");
    assert_int_equal(tdl_safetensors_save(path, refs, 2), TDL_STATUS_OK);
    return path;
}

/* --weights: the parameters as a static const array, no init/load/save. */
static void test_weights_build(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    char *weights = write_weights(f);
    const run_result *r = RUN(f, "--weights", weights, "-o", f->dir, path);
    assert_int_equal(r->status, 0);
    assert_string_equal(r->err, "");
    char *header = generated(f, "tiny.h"), *source = generated(f, "tiny.c");
    assert_non_null(strstr(source, "static const float tiny_weights[15] = {"));
    assert_non_null(strstr(source, "-1.5f, -1.25f,"));
    assert_non_null(strstr(source, "    1.5f, -0.1f, 3e-39f,\n};"));
    assert_non_null(strstr(source, "tiny_weights + 12"));
    assert_null(strstr(source, "m->params"));
    assert_null(strstr(header, "tiny_init("));
    assert_null(strstr(header, "tiny_load("));
    assert_null(strstr(header, "tiny_save("));
    assert_null(strstr(header, "tiny_train_step("));
    free(header);
    free(source);

    /* --check and --summary check the file too; --summary reports the footprint. */
    r = RUN(f, "--check", "--weights", weights, path);
    assert_int_equal(r->status, 0);
    r = RUN(f, "--summary", "--weights", weights, path);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "(parameters compiled in; "));
    assert_non_null(strstr(r->out, "Footprint (inference): flash 60 bytes of weights"));
    remove(weights);
    free(weights);
    free(path);
}

/* --summary --inference: flash and RAM at max_batch 1 and at --batch. */
static void test_summary_inference_footprint(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "--summary", "--inference", "--batch", "8", path);
    assert_int_equal(r->status, 0);
    assert_non_null(strstr(r->out, "Arena for max_batch 8: "));
    assert_non_null(strstr(r->out, "(parameters 64.00 B; "));
    assert_non_null(strstr(r->out, "Footprint (inference): flash 60 bytes of weights"));
    assert_non_null(strstr(r->out, "  RAM, weights in flash: arena "));
    assert_non_null(strstr(r->out, " at max_batch 8\n"));
    assert_non_null(strstr(r->out, "(not in this build: --inference generates no training code)"));
    r = RUN(f, "--summary", path);
    assert_null(strstr(r->out, "Footprint"));
    free(path);
}

/* Errors of --weights and --inference on the command line. */
static void test_weights_errors(void **state) {
    fixture *f = *state;
    char *path = write_file(f, "valid.tdl", valid_model);
    const run_result *r = RUN(f, "--check", path, "--weights");
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "missing file name after '--weights'"));
    r = RUN(f, "--dot", "--inference", path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "do not apply to --dot"));
    char *missing = path_in(f, "none.safetensors");
    r = RUN(f, "--weights", missing, "-o", f->dir, path);
    assert_int_equal(r->status, 2);
    char *expected = tsc_format("tsc: error: cannot read weights '%s': No such file or directory\n", missing);
    assert_string_equal(r->err, expected);
    char *header = path_in(f, "tiny.h");
    assert_int_not_equal(access(header, F_OK), 0); /* nothing written */
    r = RUN(f, "--weights", f->dir, "--check", path);
    assert_int_equal(r->status, 2);
    assert_non_null(strstr(r->err, "not a regular file"));
    /* The model file itself is no safetensors file: E0503, status 1. */
    r = RUN(f, "--weights", path, "--check", path);
    assert_int_equal(r->status, 1);
    assert_non_null(strstr(r->err, "is not a usable safetensors file: "));
    assert_non_null(strstr(r->err, "[E0503]"));
    free(header);
    free(expected);
    free(missing);
    free(path);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_help, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_valid_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_shape_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_action_writes_c, setup, teardown),
        cmocka_unit_test_setup_teardown(test_default_action_with_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_usage_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_explain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_color_flags, setup, teardown),
        cmocka_unit_test_setup_teardown(test_color_auto_on_terminal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_machine_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_errors_in_machine_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_checks_after_syntax_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inference_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forward_only_model, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights_build, setup, teardown),
        cmocka_unit_test_setup_teardown(test_summary_inference_footprint, setup, teardown),
        cmocka_unit_test_setup_teardown(test_weights_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
