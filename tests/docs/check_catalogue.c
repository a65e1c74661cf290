/* Checks the examples of the diagnostics catalogue (docs/diagnostics.md, the
 * text `tsc --explain` prints) against tsc itself.
 *
 *   check_catalogue TSC CATALOGUE.md WORK_DIR
 *
 * Every "## CODE: title" entry shows a bad example, the message tsc prints
 * for it and a fixed example. So in each entry: the first ```tdl block is
 * written to WORK_DIR/model.tdl, and `tsc --check model.tdl` run there (with
 * NO_COLOR=1) must print exactly the fenced block that follows it, which
 * must carry [CODE]; the last ```tdl block, the fixed example, must check
 * without any diagnostic. Other blocks of an entry (fragments, extra
 * messages) are prose and not run. E09xx entries (errors writing the
 * output files) are left to the compiler tests, which run their commands,
 * and E05xx (the weights file of --weights) to their goldens. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "doc_text.h"

enum { MAX_BLOCKS = 16 };

typedef struct block {
    char info[16]; /* what follows the opening ``` ("tdl", "" …) */
    int line;      /* of the opening fence */
    doc_text body;
} block;

typedef struct entry {
    char code[6];
    int line;
    block blocks[MAX_BLOCKS];
    int count;
} entry;

/* "## E0203: title" gives E0203; 0 if the line starts no entry. */
static int entry_code(const char *line, char code[6]) {
    if (strncmp(line, "## ", 3) != 0 || (line[3] != 'E' && line[3] != 'W')) return 0;
    for (int i = 4; i < 8; i++)
        if (line[i] < '0' || line[i] > '9') return 0;
    if (line[8] != ':') return 0;
    memcpy(code, line + 3, 5);
    code[5] = '\0';
    return 1;
}

/* Writes source to model.tdl and returns what `tsc --check model.tdl` prints. */
static char *check_source(const char *tsc, const char *source, int *status) {
    FILE *file = fopen("model.tdl", "wb");
    if (file == NULL || fputs(source, file) == EOF || fclose(file) != 0) {
        fprintf(stderr, "cannot write model.tdl: %s\n", strerror(errno));
        exit(2);
    }
    char *argv[] = {(char *)tsc, "--check", "model.tdl", NULL};
    return doc_run(argv, status);
}

static int check_entry(const char *tsc, const char *path, const entry *e) {
    /* E09xx come from writing files, not from --check: their examples are
     * commands, run by tests/compiler/test_backend.c and test_cli.c. */
    if (strncmp(e->code, "E09", 3) == 0) {
        printf("ok %s: an output error, its commands are tested in tests/compiler\n", e->code);
        return 0;
    }
    /* E05xx need a weights file (--weights): the goldens tests/diagnostics/E05* run them. */
    if (strncmp(e->code, "E05", 3) == 0) {
        printf("ok %s: a weights file error, its goldens are tests/diagnostics/E05*\n", e->code);
        return 0;
    }
    int bad = -1, fixed = -1;
    for (int i = 0; i < e->count; i++) {
        if (strcmp(e->blocks[i].info, "tdl") != 0) continue;
        if (bad < 0) bad = i;
        else if (i > bad + 1) fixed = i;
    }
    if (bad < 0 || bad + 1 >= e->count || e->blocks[bad + 1].info[0] != '\0' || fixed < 0) {
        fprintf(stderr, "%s:%d: %s does not show a ```tdl bad example, then its message in a ``` block, then a "
                "```tdl fixed example\n", path, e->line, e->code);
        return 1;
    }
    int failures = 0, status;
    const block *message = &e->blocks[bad + 1];
    const char *expected = doc_text_str(&message->body);
    char *actual = check_source(tsc, doc_text_str(&e->blocks[bad].body), &status);
    char tag[9];
    snprintf(tag, sizeof tag, "[%s]", e->code);
    int expected_status = strstr(expected, ": error: ") != NULL ? 1 : 0;
    if (actual == NULL || strcmp(actual, expected) != 0) {
        fprintf(stderr, "%s:%d: %s: tsc prints something else for the bad example than the entry shows\n", path,
                message->line, e->code);
        if (actual != NULL) doc_show_difference(expected, actual);
        failures++;
    } else if (strstr(expected, tag) == NULL) {
        fprintf(stderr, "%s:%d: the message of %s's bad example has no %s\n", path, message->line, e->code, tag);
        failures++;
    } else if (status != expected_status) {
        fprintf(stderr, "%s:%d: %s: tsc exits with %d on the bad example, not %d\n", path, message->line, e->code,
                status, expected_status);
        failures++;
    }
    free(actual);

    actual = check_source(tsc, doc_text_str(&e->blocks[fixed].body), &status);
    if (actual == NULL || actual[0] != '\0' || status != 0) {
        fprintf(stderr, "%s:%d: %s: the fixed example is not clean (exit %d):\n%s", path, e->blocks[fixed].line,
                e->code, status, actual != NULL ? actual : "");
        failures++;
    }
    free(actual);
    if (failures == 0) printf("ok %s: bad and fixed examples\n", e->code);
    return failures;
}

static void entry_clear(entry *e) {
    for (int i = 0; i < e->count; i++) doc_text_free(&e->blocks[i].body);
    e->count = 0;
    e->code[0] = '\0';
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: check_catalogue TSC CATALOGUE.md WORK_DIR\n");
        return 2;
    }
    const char *tsc = argv[1], *path = argv[2];
    char *text = doc_read_file(path, NULL, NULL);
    if (text == NULL) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        return 2;
    }
    if (chdir(argv[3]) != 0) {
        fprintf(stderr, "cannot enter %s: %s\n", argv[3], strerror(errno));
        return 2;
    }
    setenv("NO_COLOR", "1", 1);

    static entry e;
    int failures = 0, entries = 0, line_number = 0;
    char *cursor = text;
    for (char *line;;) {
        line = doc_next_line(&cursor);
        line_number++;
        char code[6];
        if (line == NULL || entry_code(line, code)) {
            if (e.code[0] != '\0') {
                failures += check_entry(tsc, path, &e);
                entries++;
            }
            entry_clear(&e);
            if (line == NULL) break;
            memcpy(e.code, code, sizeof code);
            e.line = line_number;
            continue;
        }
        if (e.code[0] == '\0' || strncmp(line, "```", 3) != 0) continue;
        if (e.count == MAX_BLOCKS) {
            fprintf(stderr, "%s:%d: more than %d blocks in %s\n", path, line_number, MAX_BLOCKS, e.code);
            return 2;
        }
        block *b = &e.blocks[e.count++];
        snprintf(b->info, sizeof b->info, "%s", line + 3);
        b->line = line_number;
        b->body = (doc_text){0};
        while ((line = doc_next_line(&cursor)) != NULL) {
            line_number++;
            if (doc_is_fence(line, "```")) break;
            doc_text_append_line(&b->body, line);
        }
    }
    free(text);
    if (entries == 0) {
        fprintf(stderr, "%s: no '## CODE: title' entry found\n", path);
        failures++;
    }
    printf("%d entr%s checked, %d failure%s\n", entries, entries == 1 ? "y" : "ies", failures,
           failures == 1 ? "" : "s");
    return failures == 0 ? 0 : 1;
}
