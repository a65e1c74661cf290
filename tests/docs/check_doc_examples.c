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
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

enum { MAX_ARGS = 32 };

static const char OPEN_FENCE[] = "```console";
static const char CLOSE_FENCE[] = "```";
static const char PROMPT[] = "$ tsc ";

static void *xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q == NULL) {
        fprintf(stderr, "check_doc_examples: out of memory\n");
        exit(2);
    }
    return q;
}

/* The whole of a file, NUL-terminated; NULL if it cannot be read. */
static char *read_file(const char *path, FILE *stream, size_t *size) {
    FILE *file = stream != NULL ? stream : fopen(path, "rb");
    if (file == NULL) return NULL;
    if (stream != NULL) rewind(file);
    size_t capacity = 4096, used = 0;
    char *text = xrealloc(NULL, capacity);
    for (size_t got; (got = fread(text + used, 1, capacity - used - 1, file)) > 0;) {
        used += got;
        if (capacity - used < 2) text = xrealloc(text, capacity *= 2);
    }
    if (stream == NULL) fclose(file);
    text[used] = '\0';
    if (size != NULL) *size = used;
    return text;
}

/* The line starting at *cursor, cut at its newline; *cursor moves past it. */
static char *next_line(char **cursor) {
    if (**cursor == '\0') return NULL;
    char *line = *cursor;
    char *newline = strchr(line, '\n');
    if (newline != NULL) {
        *newline = '\0';
        *cursor = newline + 1;
    } else {
        *cursor = line + strlen(line);
    }
    return line;
}

static int is_fence(const char *line, const char *fence) {
    size_t n = strlen(fence);
    if (strncmp(line, fence, n) != 0) return 0;
    for (const char *p = line + n; *p != '\0'; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return 0;
    return 1;
}

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

/* Runs argv with stderr and stdout captured; returns their concatenation. */
static char *run(char **argv) {
    FILE *err = tmpfile(), *out = tmpfile();
    char *result = NULL;
    posix_spawn_file_actions_t actions;
    if (err == NULL || out == NULL || posix_spawn_file_actions_init(&actions) != 0) goto done;
    posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", 0, 0);
    posix_spawn_file_actions_adddup2(&actions, fileno(out), STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, fileno(err), STDERR_FILENO);
    pid_t pid;
    int spawned = posix_spawn(&pid, argv[0], &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    if (spawned != 0) {
        fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(spawned));
        goto done;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    size_t err_size, out_size;
    char *err_text = read_file(NULL, err, &err_size);
    char *out_text = read_file(NULL, out, &out_size);
    if (err_text != NULL && out_text != NULL && (result = malloc(err_size + out_size + 1)) != NULL) {
        memcpy(result, err_text, err_size);
        memcpy(result + err_size, out_text, out_size + 1);
    }
    free(err_text);
    free(out_text);
done:
    if (err != NULL) fclose(err);
    if (out != NULL) fclose(out);
    return result;
}

/* Reports the first line where expected and actual differ. */
static void show_difference(const char *expected, const char *actual) {
    int line = 1;
    const char *e = expected, *a = actual;
    while (*e != '\0' && *e == *a) {
        if (*e == '\n') line++;
        e++, a++;
    }
    const char *e_line = e, *a_line = a;
    while (e_line > expected && e_line[-1] != '\n') e_line--, a_line--;
    fprintf(stderr, "  first difference in output line %d:\n  doc: %.*s\n  tsc: %.*s\n", line,
            (int)strcspn(e_line, "\n"), e_line, (int)strcspn(a_line, "\n"), a_line);
    fprintf(stderr, "--- tsc printed ---\n%s--- end ---\n", actual);
}

/* Checks every console example of one markdown file; returns the number of
 * failures and adds the number of examples to *checked. */
static int check_file(const char *tsc, const char *path, int *checked) {
    char *text = read_file(path, NULL, NULL);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        return 1;
    }
    int failures = 0, line_number = 0;
    char *cursor = text;
    for (char *line; (line = next_line(&cursor)) != NULL;) {
        line_number++;
        if (!is_fence(line, OPEN_FENCE)) continue;
        int block_line = line_number;
        char *command = next_line(&cursor);
        line_number++;
        int is_example = command != NULL && strncmp(command, PROMPT, sizeof PROMPT - 1) == 0;

        /* The expected output: the block's lines up to the closing fence. */
        size_t capacity = 256, used = 0;
        char *expected = xrealloc(NULL, capacity);
        expected[0] = '\0';
        int closed = command != NULL && is_fence(command, CLOSE_FENCE);
        while (!closed && (line = next_line(&cursor)) != NULL) {
            line_number++;
            if (is_fence(line, CLOSE_FENCE)) {
                closed = 1;
                break;
            }
            size_t n = strlen(line);
            while (used + n + 2 > capacity) expected = xrealloc(expected, capacity *= 2);
            memcpy(expected + used, line, n);
            used += n;
            expected[used++] = '\n';
            expected[used] = '\0';
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
        }
        if (is_example && closed) {
            char *argv[MAX_ARGS];
            char *args = xrealloc(NULL, strlen(command) + 1);
            strcpy(args, command + sizeof PROMPT - 1);
            argv[0] = (char *)tsc;
            if (split_command(args, argv) < 0) {
                fprintf(stderr, "%s:%d: '%s' needs a shell: a checked example takes plain arguments only\n",
                        path, block_line + 1, command);
                failures++;
            } else {
                char *actual = run(argv);
                (*checked)++;
                if (actual == NULL || strcmp(actual, expected) != 0) {
                    fprintf(stderr, "%s:%d: '%s' prints something else than the page shows\n", path,
                            block_line + 1, command);
                    if (actual != NULL) show_difference(expected, actual);
                    failures++;
                } else {
                    printf("ok %s:%d: %s\n", path, block_line + 1, command);
                }
                free(actual);
            }
            free(args);
        }
        free(expected);
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
