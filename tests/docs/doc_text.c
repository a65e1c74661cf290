/* Markdown reading and tsc runs for the documentation checks (doc_text.h). */
#define _POSIX_C_SOURCE 200809L
#include "doc_text.h"

#include <errno.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

void *doc_xrealloc(void *p, size_t size) {
    void *q = realloc(p, size);
    if (q == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return q;
}

char *doc_read_file(const char *path, FILE *stream, size_t *size) {
    FILE *file = stream != NULL ? stream : fopen(path, "rb");
    if (file == NULL) return NULL;
    if (stream != NULL) rewind(file);
    size_t capacity = 4096, used = 0;
    char *text = doc_xrealloc(NULL, capacity);
    for (size_t got; (got = fread(text + used, 1, capacity - used - 1, file)) > 0;) {
        used += got;
        if (capacity - used < 2) text = doc_xrealloc(text, capacity *= 2);
    }
    if (stream == NULL) fclose(file);
    text[used] = '\0';
    if (size != NULL) *size = used;
    return text;
}

char *doc_next_line(char **cursor) {
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

int doc_is_fence(const char *line, const char *fence) {
    size_t n = strlen(fence);
    if (strncmp(line, fence, n) != 0) return 0;
    for (const char *p = line + n; *p != '\0'; p++)
        if (*p != ' ' && *p != '\t' && *p != '\r') return 0;
    return 1;
}

void doc_text_append_line(doc_text *t, const char *line) {
    size_t n = strlen(line);
    if (t->capacity == 0) t->capacity = 256;
    if (t->text == NULL || t->used + n + 2 > t->capacity) {
        while (t->used + n + 2 > t->capacity) t->capacity *= 2;
        t->text = doc_xrealloc(t->text, t->capacity);
    }
    memcpy(t->text + t->used, line, n);
    t->used += n;
    t->text[t->used++] = '\n';
    t->text[t->used] = '\0';
}

const char *doc_text_str(const doc_text *t) {
    return t->text != NULL ? t->text : "";
}

void doc_text_free(doc_text *t) {
    free(t->text);
    *t = (doc_text){0};
}

char *doc_run(char **argv, int *status) {
    FILE *err = tmpfile(), *out = tmpfile();
    char *result = NULL;
    *status = -1;
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
    int wait_status;
    while (waitpid(pid, &wait_status, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(wait_status)) *status = WEXITSTATUS(wait_status);
    size_t err_size, out_size;
    char *err_text = doc_read_file(NULL, err, &err_size);
    char *out_text = doc_read_file(NULL, out, &out_size);
    if (err_text != NULL && out_text != NULL) {
        result = doc_xrealloc(NULL, err_size + out_size + 1);
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

void doc_show_difference(const char *expected, const char *actual) {
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
