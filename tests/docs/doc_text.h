/* What the documentation checks share: reading markdown line by line and
 * running tsc with its output captured. */
#ifndef TSC_DOC_TEXT_H
#define TSC_DOC_TEXT_H

#include <stddef.h>
#include <stdio.h>

/* realloc that exits on failure (these are test programs). */
void *doc_xrealloc(void *p, size_t size);

/* The whole of the file at path (or of stream, read from its start),
 * NUL-terminated; NULL if it cannot be read. *size gets its length. */
char *doc_read_file(const char *path, FILE *stream, size_t *size);

/* The line starting at *cursor, cut at its newline; *cursor moves past it.
 * NULL at the end of the text. */
char *doc_next_line(char **cursor);

/* The line is the fence (such as "```" or "```tdl") and nothing else but
 * trailing blanks. */
int doc_is_fence(const char *line, const char *fence);

/* A growing string: the lines of a block, each followed by a newline. */
typedef struct doc_text {
    char *text;
    size_t used, capacity;
} doc_text;

void doc_text_append_line(doc_text *t, const char *line);
/* The text so far ("" when nothing was appended). */
const char *doc_text_str(const doc_text *t);
void doc_text_free(doc_text *t);

/* Runs argv[0] (a path) with argv in the directory it is started from,
 * stdin from /dev/null; returns what it wrote on stderr followed by what it
 * wrote on stdout (malloc'd), or NULL if it could not run. *status gets the
 * exit status, or -1 if it did not exit normally. */
char *doc_run(char **argv, int *status);

/* Prints the first line where expected and actual differ, then actual. */
void doc_show_difference(const char *expected, const char *actual);

#endif
