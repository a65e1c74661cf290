/* Runs the tsc examples of the documentation and compares what tsc prints
 * with what the page shows, so that the docs cannot drift from the compiler.
 *
 *   check_doc_examples TSC REPO_ROOT FILE.md …
 *
 * A checked example is a fenced block opened with ```console whose first
 * line is "$ tsc ARGS": the rest of the block is the exact output, stderr
 * followed by stdout (tsc prints diagnostics on one and reports on the other).
 * The command runs in REPO_ROOT with NO_COLOR=1, so paths in it are relative
 * to the repository. Only plain space-separated arguments are allowed (no
 * quotes, pipes or redirections): a block that needs a shell is not meant to
 * be exact, and is written without the console marker. See README.md here. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doc_text.h"

enum { MAX_ARGS = 32 };

static const char OPEN_FENCE[] = "```console";
static const char CLOSE_FENCE[] = "```";
static const char PROMPT[] = "$ tsc ";

/* Splits the arguments after "$ tsc " on spaces into argv[1..]; -1 if the
 * command needs a shell (quotes, pipes, redirections, variables, globs). */
static int split_command(char *args, char **argv) {
    if (strpbrk(args, "|&;<>()$`\"'\\*?~") != NULL) return -1;
    int argc = 1;
    for (char *word = strtok(args, " "); word != NULL; word = strtok(NULL, " ")) {
        if (argc >= MAX_ARGS - 1) return -1;
        argv[argc++] = word;
    }
    argv[argc] = NULL;
    return argc;
}

/* Runs one example's command and compares; returns 1 on a failure. */
static int check_example(const char *tsc, const char *path, int line, const char *command, const char *expected) {
    char *argv[MAX_ARGS];
    char *args = doc_xrealloc(NULL, strlen(command) + 1);
    strcpy(args, command + sizeof PROMPT - 1);
    argv[0] = (char *)tsc;
    int failed = 0;
    if (split_command(args, argv) < 0) {
        fprintf(stderr, "%s:%d: '%s' needs a shell: a checked example takes plain arguments only\n", path, line,
                command);
        failed = 1;
    } else {
        int status;
        char *actual = doc_run(argv, &status);
        if (actual == NULL || strcmp(actual, expected) != 0) {
            fprintf(stderr, "%s:%d: '%s' prints something else than the page shows\n", path, line, command);
            if (actual != NULL) doc_show_difference(expected, actual);
            failed = 1;
        } else {
            printf("ok %s:%d: %s\n", path, line, command);
        }
        free(actual);
    }
    free(args);
    return failed;
}

/* Checks every console example of one markdown file; returns the number of
 * failures and adds the number of examples to *checked. */
static int check_file(const char *tsc, const char *path, int *checked) {
    char *text = doc_read_file(path, NULL, NULL);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        return 1;
    }
    int failures = 0, line_number = 0;
    char *cursor = text;
    for (char *line; (line = doc_next_line(&cursor)) != NULL;) {
        line_number++;
        if (!doc_is_fence(line, OPEN_FENCE)) continue;
        int block_line = line_number;
        char *command = doc_next_line(&cursor);
        line_number++;
        int is_example = command != NULL && strncmp(command, PROMPT, sizeof PROMPT - 1) == 0;

        /* The expected output: the block's lines up to the closing fence. */
        doc_text expected = {0};
        int closed = command != NULL && doc_is_fence(command, CLOSE_FENCE);
        while (!closed && (line = doc_next_line(&cursor)) != NULL) {
            line_number++;
            if (doc_is_fence(line, CLOSE_FENCE)) {
                closed = 1;
                break;
            }
            doc_text_append_line(&expected, line);
            if (is_example && strncmp(line, "$ ", 2) == 0) {
                fprintf(stderr, "%s:%d: a checked example runs one command; this block has another at line %d\n",
                        path, block_line, line_number);
                failures++;
                is_example = 0;
            }
        }
        if (!closed) {
            fprintf(stderr, "%s:%d: the ```console block is not closed\n", path, block_line);
            failures++;
        } else if (is_example) {
            (*checked)++;
            failures += check_example(tsc, path, block_line + 1, command, doc_text_str(&expected));
        }
        doc_text_free(&expected);
    }
    free(text);
    return failures;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: check_doc_examples TSC REPO_ROOT FILE.md ...\n");
        return 2;
    }
    if (chdir(argv[2]) != 0) {
        fprintf(stderr, "cannot enter %s: %s\n", argv[2], strerror(errno));
        return 2;
    }
    setenv("NO_COLOR", "1", 1);
    int failures = 0, checked = 0;
    for (int i = 3; i < argc; i++) failures += check_file(argv[1], argv[i], &checked);
    /* A marker that silently stopped matching would check nothing. */
    if (checked == 0) {
        fprintf(stderr, "no ```console example starting with '$ tsc ' found: the convention has changed?\n");
        failures++;
    }
    printf("%d example%s checked, %d failure%s\n", checked, checked == 1 ? "" : "s", failures,
           failures == 1 ? "" : "s");
    return failures == 0 ? 0 : 1;
}
