/* Diagnostics (diag.c): the only place that prints them, as text, JSON or
 * SARIF. Every stage reports through it. */
#ifndef TSC_DIAG_H
#define TSC_DIAG_H

#include "common.h"

typedef enum diag_format {
    DIAG_FORMAT_TEXT = 0,   /* gcc/clang style, with source line and caret */
    DIAG_FORMAT_JSON,       /* one JSON array, printed by diag_end() */
    DIAG_FORMAT_SARIF,      /* SARIF 2.1.0, printed by diag_end() */
} diag_format;

typedef struct diag_options {
    diag_format format;
    bool color;             /* ANSI colour in text output */
    FILE *stream;           /* where diagnostics go (stderr in the CLI) */
} diag_options;

/* Starts a run: resets counts and the collected diagnostics. NULL options
 * mean text without colour on stderr (also the state before any run). */
void diag_begin(const diag_options *options);
/* Ends a run: JSON/SARIF output is written here; frees what was collected.
 * The sources that locations point into must stay alive until then. The
 * counts stay readable until the next diag_begin(). */
void diag_end(void);

/* An error or warning starts a diagnostic; notes, helps and fix-its attach to
 * the most recent one. code is stable ("E0203", "W0101"), listed in
 * docs/diagnostics.md. */
void diag_error(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
void diag_warning(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
/* An error about the tool's files or environment, not the model (cannot read
 * the input, cannot write an output): no location and no code. Printed as
 * "tsc: error: …" in text, and as a location-less error in JSON and SARIF,
 * so those stay one valid document whatever fails. */
void diag_tool_error(const char *fmt, ...) TSC_PRINTF(1, 2);
void diag_note(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
void diag_help(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
/* A machine-readable fix: replace the bytes of span with text. To insert
 * before a byte, use an empty span: last = first - 1 (then span.first is the
 * insertion point). Attached to the most recent help (or error). */
void diag_fixit(tsc_loc span, const char *replacement);

int diag_error_count(void);
/* How many of the errors were tool errors (the CLI exits 2 for them). */
int diag_tool_error_count(void);
int diag_warning_count(void);

/* The catalogue entry of a code from docs/diagnostics.md, or NULL. The
 * returned string is heap-allocated. */
char *diag_explain(const char *code);

#endif /* TSC_DIAG_H */
