/* tsc: the command line. Parses options, runs the stages in order and maps
 * the outcome to the exit status (0 success, 1 errors in the model, 2 usage
 * or I/O error). Everything else lives in the stages. */
#define _POSIX_C_SOURCE 200809L
#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "report.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { EXIT_OK = 0, EXIT_MODEL_ERRORS = 1, EXIT_USAGE = 2 };

typedef enum cli_action {
    ACTION_GENERATE = 0,   /* the default: check, then write C */
    ACTION_CHECK,
    ACTION_SUMMARY,
    ACTION_DOT,
} cli_action;

typedef enum cli_color { COLOR_AUTO = 0, COLOR_ALWAYS, COLOR_NEVER } cli_color;

typedef struct cli_options {
    cli_action action;
    bool action_given;
    const char *input_path;
    const char *output_dir;        /* -o DIR: where generated C goes */
    bool write_depfile;            /* -MD */
    const char *depfile_path;      /* -MF FILE (default: <output dir>/<input stem>.d) */
    int64_t batch;                 /* --summary --batch N */
    bool batch_given;
    bool inference;                /* --inference: forward-only code and memory */
    const char *weights_path;      /* --weights FILE: parameters compiled in */
    diag_format format;
    cli_color color;
    const char *explain_code;      /* --explain CODE */
    bool show_help;
    bool show_version;
} cli_options;

static const char usage_text[] =
    "Usage: tsc [options] model.tdl\n"
    "       tsc --explain CODE\n"
    "\n"
    "tsc checks the shapes and dtypes of a TDL model at compile time.\n"
    "\n"
    "Actions (at most one; the default is to write C, see below):\n"
    "  --check                  check the model only; write nothing\n"
    "  --summary                print a table of layers: output shape, parameters,\n"
    "                           FLOPs and activation bytes, with totals\n"
    "  --batch N                the batch size used by --summary (default 1)\n"
    "  --dot                    print the graph in Graphviz dot, shapes on the edges\n"
    "  --explain CODE           print the catalogue entry of a diagnostic code (E0203)\n"
    "\n"
    "Output:\n"
    "  -o DIR                   directory for the generated model.c and model.h\n"
    "                           (default: beside the input)\n"
    "  --inference              forward (and evaluate) only: no gradients, optimizer\n"
    "                           state or training entry points; with --summary, also\n"
    "                           the flash and RAM a firmware build needs\n"
    "  --weights FILE           compile the parameters in from a safetensors file\n"
    "                           (as NAME_save writes it) as static const arrays;\n"
    "                           implies --inference\n"
    "  -MD                      also write a make/ninja dependency file\n"
    "  -MF FILE                 its name (default: the input's stem + .d in the\n"
    "                           output directory); implies -MD\n"
    "\n"
    "Diagnostics:\n"
    "  --diagnostics-format=FORMAT\n"
    "                           text (default), json (one array) or sarif (SARIF 2.1.0)\n"
    "  --color=WHEN             auto (default: colour when stderr is a terminal and\n"
    "                           NO_COLOR is unset or empty), always or never\n"
    "\n"
    "  --help                   print this text\n"
    "  --version                print the version\n"
    "\n"
    "Without an action, tsc checks the model and, if it has no errors, writes\n"
    "<model>.c and <model>.h for every model block of the file.\n"
    "\n"
    "Exit status: 0 success, 1 errors in the model, 2 usage or I/O error.\n"
    "Diagnostics are listed in docs/diagnostics.md; see also docs/cli.md.\n";

/* Prints a usage error the way gcc's driver does and returns EXIT_USAGE. */
static int usage_error(const char *fmt, ...) TSC_PRINTF(1, 2);
static int usage_error(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    char *message = tsc_format_v(fmt, args);
    va_end(args);
    diag_begin(NULL);   /* before the options are known: plain text on stderr */
    diag_tool_error("%s\nTry 'tsc --help' for more information.", message);
    diag_end();
    free(message);
    return EXIT_USAGE;
}

/* If arg is "--name=value" returns value; if it is "--name", takes the next
 * argument (advancing *index). Returns NULL when arg is another option or the
 * value is missing (*missing then says which). */
static const char *option_value(const char *name, int argc, char **argv, int *index, bool *matched,
                                bool *missing) {
    const char *arg = argv[*index];
    size_t n = strlen(name);
    *matched = false;
    *missing = false;
    if (strncmp(arg, name, n) != 0) return NULL;
    if (arg[n] == '=') {
        *matched = true;
        return arg + n + 1;
    }
    if (arg[n] != '\0') return NULL;
    *matched = true;
    if (*index + 1 >= argc) {
        *missing = true;
        return NULL;
    }
    return argv[++*index];
}

static bool parse_positive_int(const char *text, int64_t *out) {
    if (!*text) return false;
    char *end;
    errno = 0;
    long long value = strtoll(text, &end, 10);
    if (*end || errno || value < 1 || value > INT32_MAX) return false;
    *out = value;
    return true;
}

static int set_action(cli_options *options, cli_action action, const char *flag) {
    if (options->action_given && options->action != action)
        return usage_error("%s cannot be combined with --check, --summary or --dot", flag);
    options->action = action;
    options->action_given = true;
    return EXIT_OK;
}

/* Parses argv into options; returns EXIT_OK or EXIT_USAGE (already reported). */
static int parse_arguments(int argc, char **argv, cli_options *options) {
    bool options_done = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        bool matched, missing;
        const char *value;

        if (options_done || arg[0] != '-' || strcmp(arg, "-") == 0) {
            if (options->input_path)
                return usage_error("more than one input file ('%s' and '%s')", options->input_path, arg);
            options->input_path = arg;
            continue;
        }
        if (strcmp(arg, "--") == 0) {
            options_done = true;
            continue;
        }
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            options->show_help = true;
            continue;
        }
        if (strcmp(arg, "--version") == 0) {
            options->show_version = true;
            continue;
        }
        cli_action action = ACTION_GENERATE;
        if (strcmp(arg, "--check") == 0) action = ACTION_CHECK;
        else if (strcmp(arg, "--summary") == 0) action = ACTION_SUMMARY;
        else if (strcmp(arg, "--dot") == 0) action = ACTION_DOT;
        if (action != ACTION_GENERATE) {
            int status = set_action(options, action, arg);
            if (status != EXIT_OK) return status;
            continue;
        }

        if (strcmp(arg, "--inference") == 0) {
            options->inference = true;
            continue;
        }
        value = option_value("--weights", argc, argv, &i, &matched, &missing);
        if (matched) {
            if (missing || !*value) return usage_error("missing file name after '--weights'");
            options->weights_path = value;
            continue;
        }

        if (strcmp(arg, "-MD") == 0) {
            options->write_depfile = true;
            continue;
        }
        if (strcmp(arg, "-MF") == 0) {
            if (i + 1 >= argc || !*argv[i + 1]) return usage_error("missing file name after '-MF'");
            options->depfile_path = argv[++i];
            options->write_depfile = true;
            continue;
        }
        if (strncmp(arg, "-o", 2) == 0 && strncmp(arg, "--", 2) != 0) {
            if (arg[2]) value = arg + 2;
            else if (i + 1 < argc) value = argv[++i];
            else return usage_error("missing directory after '-o'");
            if (!*value) return usage_error("empty directory after '-o'");
            options->output_dir = value;
            continue;
        }

        value = option_value("--batch", argc, argv, &i, &matched, &missing);
        if (matched) {
            if (missing) return usage_error("missing number after '--batch'");
            if (!parse_positive_int(value, &options->batch))
                return usage_error("--batch expects a positive integer, not '%s'", value);
            options->batch_given = true;
            continue;
        }

        value = option_value("--diagnostics-format", argc, argv, &i, &matched, &missing);
        if (matched) {
            if (missing) return usage_error("missing format after '--diagnostics-format'");
            if (strcmp(value, "text") == 0) options->format = DIAG_FORMAT_TEXT;
            else if (strcmp(value, "json") == 0) options->format = DIAG_FORMAT_JSON;
            else if (strcmp(value, "sarif") == 0) options->format = DIAG_FORMAT_SARIF;
            else return usage_error("unknown diagnostics format '%s' (expected text, json or sarif)", value);
            continue;
        }

        if (strncmp(arg, "--color=", 8) == 0 || strcmp(arg, "--color") == 0) {
            value = arg[7] == '=' ? arg + 8 : "always";
            if (strcmp(value, "auto") == 0) options->color = COLOR_AUTO;
            else if (strcmp(value, "always") == 0) options->color = COLOR_ALWAYS;
            else if (strcmp(value, "never") == 0) options->color = COLOR_NEVER;
            else return usage_error("unknown colour mode '%s' (expected auto, always or never)", value);
            continue;
        }

        value = option_value("--explain", argc, argv, &i, &matched, &missing);
        if (matched) {
            if (missing) return usage_error("missing code after '--explain'");
            options->explain_code = value;
            continue;
        }

        return usage_error("unknown option '%s'", arg);
    }

    if (options->show_help || options->show_version) return EXIT_OK;
    if (options->explain_code) {
        if (options->input_path || options->action_given)
            return usage_error("--explain takes a code and nothing else");
        return EXIT_OK;
    }
    if (options->batch_given && options->action != ACTION_SUMMARY)
        return usage_error("--batch only applies to --summary");
    if (options->output_dir && options->action != ACTION_GENERATE)
        return usage_error("-o only applies when writing C, not with --check, --summary or --dot");
    if ((options->inference || options->weights_path) && options->action == ACTION_DOT)
        return usage_error("--inference and --weights do not apply to --dot");
    if (options->write_depfile && options->action != ACTION_GENERATE)
        return usage_error("-MD and -MF only apply when writing C, not with --check, --summary or --dot");
    if (!options->input_path) return usage_error("no input file");
    return EXIT_OK;
}

/* Colour when asked, or (auto) when stderr is a terminal and NO_COLOR is
 * unset or empty (https://no-color.org) and the terminal is not "dumb". */
static bool want_color(const cli_options *options) {
    if (options->format != DIAG_FORMAT_TEXT) return false;
    switch (options->color) {
    case COLOR_ALWAYS: return true;
    case COLOR_NEVER: return false;
    case COLOR_AUTO: break;
    }
    const char *no_color = getenv("NO_COLOR");
    if (no_color && *no_color) return false;
    const char *term = getenv("TERM");
    if (term && strcmp(term, "dumb") == 0) return false;
    return isatty(STDERR_FILENO) != 0;
}

static int explain(const char *code) {
    char *entry = diag_explain(code);
    if (!entry) {
        diag_begin(NULL);
        diag_tool_error("no diagnostic code '%s' (codes look like E0203 or W0101; see docs/diagnostics.md)", code);
        diag_end();
        return EXIT_USAGE;
    }
    fputs(entry, stdout);
    free(entry);
    return EXIT_OK;
}

/* Writes <model>.c and <model>.h for each model of a checked file into
 * output_dir, or beside the input when there is none. The banner names the
 * input by its file name only, so the output does not depend on where the
 * build runs. With -MD, the dependency file follows. */
static int generate_c(const checked_file *file, const cli_options *options, const tsc_codegen_options *codegen) {
    const char *input_path = options->input_path;
    const char *slash = strrchr(input_path, '/');
    const char *source_name = slash ? slash + 1 : input_path;
    char *input_dir = slash == input_path ? tsc_xstrdup("/")
                      : slash             ? tsc_xstrndup(input_path, (size_t)(slash - input_path))
                                          : tsc_xstrdup(".");
    const char *out_dir = options->output_dir ? options->output_dir : input_dir;
    int rc = tsc_emit_c_with(file, out_dir, source_name, codegen);
    if (rc == 0 && options->write_depfile) {
        const char *dot = strrchr(source_name, '.');
        size_t stem = dot && dot != source_name ? (size_t)(dot - source_name) : strlen(source_name);
        char *default_path = tsc_format("%s/%.*s.d", out_dir, (int)stem, source_name);
        rc = tsc_write_depfile(options->depfile_path ? options->depfile_path : default_path, file, out_dir,
                               input_path);
        free(default_path);
    }
    free(input_dir);
    return rc == 0 ? EXIT_OK : EXIT_USAGE;   /* the emitter reported through diag */
}

static int run_action(const cli_options *options, const checked_file *checked) {
    tsc_codegen_options codegen = {.inference = options->inference};
    tsc_weights *weights = NULL;
    /* The weights are checked against the model (and reported like its
     * errors) whatever the action, --check included. */
    if (options->weights_path) {
        weights = tsc_weights_read(options->weights_path, checked);
        if (!weights) return diag_error_count() > 0 ? EXIT_MODEL_ERRORS : EXIT_USAGE;
        codegen.weights = weights;
    }
    int status = EXIT_OK;
    switch (options->action) {
    case ACTION_CHECK: break;
    case ACTION_SUMMARY: tsc_print_summary_with(stdout, checked, options->batch, &codegen); break;
    case ACTION_DOT: tsc_print_dot(stdout, checked); break;
    case ACTION_GENERATE: status = generate_c(checked, options, &codegen); break;
    }
    tsc_weights_free(weights);
    return status;
}

/* Reads the input; NULL after reporting why it cannot be read. */
static tsc_source *read_input(const char *path) {
    struct stat info;
    if (stat(path, &info) == 0 && S_ISDIR(info.st_mode)) {
        diag_tool_error("cannot read '%s': it is a directory", path);
        return NULL;
    }
    errno = 0;
    tsc_source *source = tsc_source_read(path);
    if (!source) diag_tool_error("cannot read '%s': %s", path, errno ? strerror(errno) : "unreadable file");
    return source;
}

/* Reads, parses and checks the input, then runs the action if the model is
 * free of errors. Every error, the model's and the files', goes through one
 * diagnostics run, so JSON and SARIF output stays one document. */
static int compile(const cli_options *options) {
    diag_options diagnostics = {
        .format = options->format,
        .color = want_color(options),
        .stream = stderr,
    };
    diag_begin(&diagnostics);
    tsc_source *source = read_input(options->input_path);
    ast_file *ast = NULL;
    checked_file *checked = NULL;
    /* After a syntax error the statements that parsed are still checked:
     * the broken ones bind their names to poison, so nothing cascades. */
    if (source) {
        tsc_parse(source, &ast);
        tsc_check(ast, &checked);
    }

    int status = !source                  ? EXIT_USAGE
                 : diag_error_count() > 0 ? EXIT_MODEL_ERRORS
                                          : run_action(options, checked);
    if (fflush(stdout) != 0 && status == EXIT_OK) {
        diag_tool_error("cannot write output: %s", strerror(errno));
        status = EXIT_USAGE;
    }
    diag_end();
    if (diag_tool_error_count() > 0) status = EXIT_USAGE;

    if (checked) checked_file_free(checked);
    if (ast) ast_file_free(ast);
    if (source) tsc_source_free(source);
    return status;
}

int main(int argc, char **argv) {
    cli_options options = {.batch = 1};
    int status = parse_arguments(argc, argv, &options);
    if (status != EXIT_OK) return status;
    if (options.show_help) {
        fputs(usage_text, stdout);
        return EXIT_OK;
    }
    if (options.show_version) {
        fprintf(stdout, "tsc %s\n", TSC_VERSION);
        return EXIT_OK;
    }
    if (options.explain_code) return explain(options.explain_code);
    return compile(&options);
}
