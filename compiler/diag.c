/* The diagnostics engine: the only place that prints diagnostics.
 *
 * Every diagnostic is recorded (an error or warning with its notes, helps and
 * fix-its). Text is printed as each diagnostic arrives, so that whatever was
 * reported before an internal error is still on screen; JSON and SARIF are
 * built from the records at diag_end().
 *
 * Text format (gcc/clang):
 *   file:line:col: error: message [E0203]
 *      11 |     logits = dense(x, units=10);
 *         |                    ^
 * Columns in the header count bytes from 1. In the excerpt, tabs are expanded
 * to the next multiple of 8 so that the caret line stays aligned, and each
 * UTF-8 character takes one column. A note or help shows its own source line,
 * unless that very span was already shown for the same diagnostic. */
#define _POSIX_C_SOURCE 200809L
#include "diag.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef TSC_VERSION
#define TSC_VERSION "0.0.0"
#endif

/* The bytes of docs/diagnostics.md, embedded at build time (catalogue.c). */
extern const char tsc_catalogue_text[];

enum { TAB_STOP = 8, GUTTER_MIN_WIDTH = 5 };

typedef enum diag_kind { DIAG_KIND_ERROR, DIAG_KIND_WARNING, DIAG_KIND_NOTE, DIAG_KIND_HELP } diag_kind;

typedef struct diag_fix {
    tsc_loc span;
    char *text;
} diag_fix;

typedef struct diag_record {
    diag_kind kind;
    char *code;                       /* NULL for notes and helps */
    char *message;
    tsc_loc loc;
    struct diag_record **children;    /* notes and helps, in order */
    size_t child_count, child_capacity;
    diag_fix *fixes;
    size_t fix_count, fix_capacity;
} diag_record;

static struct diag_state {
    diag_options options;
    int error_count;
    int warning_count;
    int tool_error_count;             /* of error_count: about files and options, not the model */
    diag_record **records;            /* top-level diagnostics, in order */
    size_t record_count, record_capacity;
    diag_record *parent;              /* latest error/warning: notes and helps attach here */
    diag_record *fix_target;          /* latest help of the parent, else the parent */
    tsc_loc *shown;                   /* spans already excerpted for the parent (text) */
    size_t shown_count, shown_capacity;
} state = {.options = {.format = DIAG_FORMAT_TEXT, .color = false, .stream = NULL}};

/* Grows a dynamic array so that it holds at least one more element. */
static void *grow(void *items, size_t *capacity, size_t count, size_t item_size) {
    if (count < *capacity) return items;
    *capacity = *capacity ? *capacity * 2 : 8;
    return tsc_xrealloc(items, *capacity * item_size);
}

static FILE *out_stream(void) { return state.options.stream ? state.options.stream : stderr; }

static void record_free(diag_record *record) {
    for (size_t i = 0; i < record->child_count; i++) record_free(record->children[i]);
    for (size_t i = 0; i < record->fix_count; i++) free(record->fixes[i].text);
    free(record->children);
    free(record->fixes);
    free(record->code);
    free(record->message);
    free(record);
}

static void state_clear(void) {
    for (size_t i = 0; i < state.record_count; i++) record_free(state.records[i]);
    free(state.records);
    free(state.shown);
    state.records = NULL;
    state.record_count = state.record_capacity = 0;
    state.shown = NULL;
    state.shown_count = state.shown_capacity = 0;
    state.parent = state.fix_target = NULL;
    state.error_count = state.warning_count = state.tool_error_count = 0;
}

void diag_begin(const diag_options *options) {
    state_clear();
    if (options) state.options = *options;
    else state.options = (diag_options){.format = DIAG_FORMAT_TEXT, .color = false, .stream = NULL};
}

int diag_error_count(void) { return state.error_count; }
int diag_tool_error_count(void) { return state.tool_error_count; }
int diag_warning_count(void) { return state.warning_count; }

/* ------------------------------------------------------------------ */
/* Positions                                                           */
/* ------------------------------------------------------------------ */

/* A byte offset clamped into the file (the end-of-file position included). */
static uint32_t clamp_offset(const tsc_source *file, uint32_t offset) {
    return offset > file->length ? (uint32_t)file->length : offset;
}

static size_t line_start_of(const tsc_source *file, uint32_t offset) {
    size_t start = offset;
    while (start > 0 && file->text[start - 1] != '\n') start--;
    /* Line 1 starts after a byte-order mark, as util.c's line index says. */
    if (start == 0 && file->line_count > 0 && file->line_starts[0] <= offset) start = file->line_starts[0];
    return start;
}

static size_t line_end_of(const tsc_source *file, size_t offset) {
    size_t end = offset;
    while (end < file->length && file->text[end] != '\n') end++;
    return end;
}

static bool is_utf8_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

/* How many screen columns byte c takes when it starts at 0-based column. */
static int display_width(unsigned char c, int column) {
    if (c == '\t') return TAB_STOP - column % TAB_STOP;
    if (is_utf8_continuation(c)) return 0;
    return 1;
}

/* 1-based display column of offset: tabs expanded, one column per UTF-8 character. */
static int display_column(const tsc_source *file, uint32_t offset) {
    int column = 0;
    for (size_t i = line_start_of(file, offset); i < offset; i++)
        column += display_width((unsigned char)file->text[i], column);
    return column + 1;
}

/* 1-based column in Unicode code points (SARIF's "unicodeCodePoints"). */
static int code_point_column(const tsc_source *file, uint32_t offset) {
    int column = 1;
    for (size_t i = line_start_of(file, offset); i < offset; i++)
        if (!is_utf8_continuation((unsigned char)file->text[i])) column++;
    return column;
}

static void line_col(const tsc_source *file, uint32_t offset, int *line, int *col) {
    tsc_loc_line_col(file, clamp_offset(file, offset), line, col);
}

/* ------------------------------------------------------------------ */
/* Text                                                                */
/* ------------------------------------------------------------------ */

#define ANSI_RESET "\033[0m"
#define ANSI_BOLD "\033[1m"

static const char *kind_name(diag_kind kind) {
    switch (kind) {
    case DIAG_KIND_ERROR: return "error";
    case DIAG_KIND_WARNING: return "warning";
    case DIAG_KIND_NOTE: return "note";
    case DIAG_KIND_HELP: return "help";
    }
    TSC_UNREACHABLE();
}

/* Bold red errors, magenta warnings, cyan notes, green helps. */
static const char *kind_color(diag_kind kind) {
    switch (kind) {
    case DIAG_KIND_ERROR: return "\033[1;31m";
    case DIAG_KIND_WARNING: return "\033[1;35m";
    case DIAG_KIND_NOTE: return "\033[1;36m";
    case DIAG_KIND_HELP: return "\033[1;32m";
    }
    TSC_UNREACHABLE();
}

static void put_colored(FILE *out, const char *color, const char *text) {
    if (state.options.color) fprintf(out, "%s%s%s", color, text, ANSI_RESET);
    else fputs(text, out);
}

static void put_repeated(FILE *out, char c, int count) {
    for (int i = 0; i < count; i++) fputc(c, out);
}

static int decimal_digits(int n) {
    int digits = 1;
    while (n >= 10) {
        n /= 10;
        digits++;
    }
    return digits;
}

static void print_header(FILE *out, const diag_record *record) {
    /* An error about the tool's files or options has no place in a model:
     * it reads "tsc: error: …", as a compiler driver's own errors do. */
    if (!record->loc.file && !record->code && record->kind == DIAG_KIND_ERROR) put_colored(out, ANSI_BOLD, "tsc: ");
    if (record->loc.file) {
        int line, col;
        line_col(record->loc.file, record->loc.first, &line, &col);
        char *where = tsc_format("%s:%d:%d:", record->loc.file->path, line, col);
        put_colored(out, ANSI_BOLD, where);
        free(where);
        fputc(' ', out);
    }
    char *label = tsc_format("%s:", kind_name(record->kind));
    put_colored(out, kind_color(record->kind), label);
    free(label);
    fprintf(out, " %s", record->message);
    if (record->code) fprintf(out, " [%s]", record->code);
    fputc('\n', out);
}

/* The source line of loc in a numbered gutter, then '^' under its first byte
 * and '~' under the rest of the span (up to the end of that line). */
static void print_excerpt(FILE *out, tsc_loc loc, diag_kind kind) {
    const tsc_source *file = loc.file;
    const char *text = file->text;
    uint32_t first = clamp_offset(file, loc.first);
    size_t start = line_start_of(file, first);
    size_t end = line_end_of(file, start);

    /* Last byte to underline: the span's, cut at the end of the first line. */
    size_t last = first;
    if (loc.last > loc.first) last = loc.last < end ? loc.last : (end > first ? end - 1 : first);

    /* Trailing blanks are not shown (the caret may still point past them). */
    size_t shown_end = end;
    while (shown_end > start && (text[shown_end - 1] == ' ' || text[shown_end - 1] == '\t' ||
                                 text[shown_end - 1] == '\r'))
        shown_end--;

    int line, col;
    line_col(file, first, &line, &col);
    int digits = decimal_digits(line);
    int width = digits < GUTTER_MIN_WIDTH ? GUTTER_MIN_WIDTH : digits + 1;

    fprintf(out, "%*d |", width, line);
    if (shown_end > start) fputc(' ', out);
    int column = 0;
    for (size_t i = start; i < shown_end; i++) {
        unsigned char c = (unsigned char)text[i];
        int w = display_width(c, column);
        if (c == '\t') put_repeated(out, ' ', w);
        else if (c < 0x20 || c == 0x7F) fputc(' ', out);   /* control bytes would move the cursor */
        else fputc(c, out);
        column += w;
    }
    fputc('\n', out);

    fprintf(out, "%*s | ", width, "");
    column = 0;
    for (size_t i = start; i < first; i++) {
        int w = display_width((unsigned char)text[i], column);
        put_repeated(out, ' ', w);
        column += w;
    }
    if (state.options.color) fputs(kind_color(kind), out);
    fputc('^', out);
    for (size_t i = first; i <= last && i < end; i++) {
        int w = display_width((unsigned char)text[i], column);
        put_repeated(out, '~', i == first ? w - 1 : w);
        column += w;
    }
    if (state.options.color) fputs(ANSI_RESET, out);
    fputc('\n', out);
}

static bool span_equal(tsc_loc a, tsc_loc b) {
    return a.file == b.file && a.first == b.first && a.last == b.last;
}

/* Prints a record's excerpt once per diagnostic: a note that points where the
 * error already points adds nothing on screen. */
static void print_excerpt_once(FILE *out, const diag_record *record) {
    if (!record->loc.file) return;
    for (size_t i = 0; i < state.shown_count; i++)
        if (span_equal(state.shown[i], record->loc)) return;
    state.shown = grow(state.shown, &state.shown_capacity, state.shown_count, sizeof *state.shown);
    state.shown[state.shown_count++] = record->loc;
    print_excerpt(out, record->loc, record->kind);
}

static void print_text(const diag_record *record) {
    FILE *out = out_stream();
    print_header(out, record);
    print_excerpt_once(out, record);
    fflush(out);
}

/* ------------------------------------------------------------------ */
/* Recording                                                           */
/* ------------------------------------------------------------------ */

static diag_record *record_new(diag_kind kind, tsc_loc loc, const char *code, const char *fmt, va_list args) {
    va_list copy;
    va_copy(copy, args);
    int length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    TSC_ASSERT(length >= 0);
    diag_record *record = tsc_xcalloc(1, sizeof *record);
    record->kind = kind;
    record->loc = loc;
    record->code = code ? tsc_xstrdup(code) : NULL;
    record->message = tsc_xmalloc((size_t)length + 1);
    vsnprintf(record->message, (size_t)length + 1, fmt, args);
    return record;
}

static void add_top_level(diag_record *record) {
    state.records = grow(state.records, &state.record_capacity, state.record_count, sizeof *state.records);
    state.records[state.record_count++] = record;
}

static void start_diagnostic(diag_kind kind, tsc_loc loc, const char *code, const char *fmt, va_list args) {
    diag_record *record = record_new(kind, loc, code, fmt, args);
    add_top_level(record);
    state.parent = state.fix_target = record;
    state.shown_count = 0;
    if (kind == DIAG_KIND_ERROR) state.error_count++;
    else state.warning_count++;
    if (state.options.format == DIAG_FORMAT_TEXT) print_text(record);
}

static void attach_child(diag_kind kind, tsc_loc loc, const char *fmt, va_list args) {
    diag_record *record = record_new(kind, loc, NULL, fmt, args);
    diag_record *parent = state.parent;
    if (parent) {
        parent->children = grow(parent->children, &parent->child_capacity, parent->child_count,
                                sizeof *parent->children);
        parent->children[parent->child_count++] = record;
    } else {
        /* A note with nothing to attach to stands on its own. */
        add_top_level(record);
        state.shown_count = 0;
    }
    if (kind == DIAG_KIND_HELP || !state.fix_target) state.fix_target = record;
    if (state.options.format == DIAG_FORMAT_TEXT) print_text(record);
}

void diag_error(tsc_loc loc, const char *code, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    start_diagnostic(DIAG_KIND_ERROR, loc, code, fmt, args);
    va_end(args);
}

void diag_tool_error(const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    start_diagnostic(DIAG_KIND_ERROR, (tsc_loc){0}, NULL, fmt, args);
    va_end(args);
    state.tool_error_count++;
}

void diag_warning(tsc_loc loc, const char *code, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    start_diagnostic(DIAG_KIND_WARNING, loc, code, fmt, args);
    va_end(args);
}

void diag_note(tsc_loc loc, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    attach_child(DIAG_KIND_NOTE, loc, fmt, args);
    va_end(args);
}

void diag_help(tsc_loc loc, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    attach_child(DIAG_KIND_HELP, loc, fmt, args);
    va_end(args);
}

/* Whether a record or its children already carry this very edit. */
static bool has_fix(const diag_record *record, tsc_loc span, const char *replacement) {
    for (size_t i = 0; i < record->fix_count; i++) {
        const diag_fix *fix = &record->fixes[i];
        if (span_equal(fix->span, span) && strcmp(fix->text, replacement) == 0) return true;
    }
    for (size_t i = 0; i < record->child_count; i++)
        if (has_fix(record->children[i], span, replacement)) return true;
    return false;
}

void diag_fixit(tsc_loc span, const char *replacement) {
    TSC_ASSERT(state.fix_target != NULL);
    TSC_ASSERT(replacement != NULL);
    /* Two diagnostics may propose the same edit (one label column feeding a
     * loss and a metric): applying every fix-it must not apply it twice. */
    for (size_t i = 0; i < state.record_count; i++)
        if (has_fix(state.records[i], span, replacement)) return;
    diag_record *target = state.fix_target;
    target->fixes = grow(target->fixes, &target->fix_capacity, target->fix_count, sizeof *target->fixes);
    target->fixes[target->fix_count++] = (diag_fix){.span = span, .text = tsc_xstrdup(replacement)};
}

/* ------------------------------------------------------------------ */
/* Catalogue (docs/diagnostics.md)                                     */
/* ------------------------------------------------------------------ */

static bool is_code_char(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool starts_with(const char *line, const char *prefix) {
    return strncmp(line, prefix, strlen(prefix)) == 0;
}

/* Finds the `## CODE: title` heading of code (case-insensitive), outside code
 * fences. Returns the start of the heading line or NULL. */
static const char *catalogue_heading(const char *code) {
    size_t n = strlen(code);
    if (n == 0 || n > 16) return NULL;
    for (size_t i = 0; i < n; i++)
        if (!is_code_char(code[i])) return NULL;
    bool in_fence = false;
    for (const char *line = tsc_catalogue_text; *line;) {
        if (starts_with(line, "```")) in_fence = !in_fence;
        else if (!in_fence && starts_with(line, "## ") && strncasecmp(line + 3, code, n) == 0 &&
                 line[3 + n] == ':')
            return line;
        const char *newline = strchr(line, '\n');
        if (!newline) break;
        line = newline + 1;
    }
    return NULL;
}

/* The end of the entry that starts at heading: the next heading or section
 * comment outside a code fence, or the end of the file. */
static const char *catalogue_entry_end(const char *heading) {
    bool in_fence = false;
    const char *line = strchr(heading, '\n');
    if (!line) return heading + strlen(heading);
    line++;
    while (*line) {
        if (starts_with(line, "```")) in_fence = !in_fence;
        else if (!in_fence && (starts_with(line, "# ") || starts_with(line, "## ") || starts_with(line, "<!--")))
            return line;
        const char *newline = strchr(line, '\n');
        if (!newline) return line + strlen(line);
        line = newline + 1;
    }
    return line;
}

char *diag_explain(const char *code) {
    if (!code) return NULL;
    const char *heading = catalogue_heading(code);
    if (!heading) return NULL;
    const char *end = catalogue_entry_end(heading);
    while (end > heading && (end[-1] == '\n' || end[-1] == ' ' || end[-1] == '\r')) end--;
    char *entry = tsc_xmalloc((size_t)(end - heading) + 2);
    memcpy(entry, heading, (size_t)(end - heading));
    entry[end - heading] = '\n';
    entry[end - heading + 1] = '\0';
    return entry;
}

/* The title of a code's catalogue entry ("## E0203: title"), or NULL. */
static char *catalogue_title(const char *code) {
    const char *heading = catalogue_heading(code);
    if (!heading) return NULL;
    const char *title = heading + 3 + strlen(code) + 1;
    while (*title == ' ') title++;
    const char *end = title;
    while (*end && *end != '\n' && *end != '\r') end++;
    return end > title ? tsc_xstrndup(title, (size_t)(end - title)) : NULL;
}

/* ------------------------------------------------------------------ */
/* JSON (modelled on gcc's -fdiagnostics-format=json)                  */
/* ------------------------------------------------------------------ */

static cJSON *json_position(const tsc_source *file, uint32_t offset) {
    offset = clamp_offset(file, offset);
    int line, col;
    line_col(file, offset, &line, &col);
    cJSON *position = cJSON_CreateObject();
    cJSON_AddStringToObject(position, "file", file->path);
    cJSON_AddNumberToObject(position, "line", line);
    cJSON_AddNumberToObject(position, "column", col);
    cJSON_AddNumberToObject(position, "display-column", display_column(file, offset));
    cJSON_AddNumberToObject(position, "byte-column", col);
    return position;
}

/* The offset just past a span ("next" of a fix-it, SARIF's exclusive end). */
static uint32_t span_next(tsc_loc span) {
    return span.last < span.first ? span.first : span.last + 1;
}

static cJSON *json_diagnostic(const diag_record *record, bool top_level) {
    cJSON *object = cJSON_CreateObject();
    cJSON_AddStringToObject(object, "kind", kind_name(record->kind));
    cJSON_AddStringToObject(object, "message", record->message);
    if (record->code) cJSON_AddStringToObject(object, "code", record->code);

    cJSON *locations = cJSON_AddArrayToObject(object, "locations");
    if (record->loc.file) {
        cJSON *location = cJSON_CreateObject();
        uint32_t finish = record->loc.last < record->loc.first ? record->loc.first : record->loc.last;
        cJSON_AddItemToObject(location, "caret", json_position(record->loc.file, record->loc.first));
        cJSON_AddItemToObject(location, "finish", json_position(record->loc.file, finish));
        cJSON_AddItemToArray(locations, location);
    }

    if (top_level) {
        cJSON *children = cJSON_AddArrayToObject(object, "children");
        for (size_t i = 0; i < record->child_count; i++)
            cJSON_AddItemToArray(children, json_diagnostic(record->children[i], false));
    }

    cJSON *fixits = cJSON_AddArrayToObject(object, "fixits");
    for (size_t i = 0; i < record->fix_count; i++) {
        const diag_fix *fix = &record->fixes[i];
        if (!fix->span.file) continue;
        cJSON *fixit = cJSON_CreateObject();
        cJSON_AddItemToObject(fixit, "start", json_position(fix->span.file, fix->span.first));
        cJSON_AddItemToObject(fixit, "next", json_position(fix->span.file, span_next(fix->span)));
        cJSON_AddStringToObject(fixit, "string", fix->text);
        cJSON_AddItemToArray(fixits, fixit);
    }
    return object;
}

static cJSON *json_document(void) {
    cJSON *array = cJSON_CreateArray();
    for (size_t i = 0; i < state.record_count; i++)
        cJSON_AddItemToArray(array, json_diagnostic(state.records[i], true));
    return array;
}

/* ------------------------------------------------------------------ */
/* SARIF 2.1.0 (as gcc 13's -fdiagnostics-format=sarif-stderr)        */
/* ------------------------------------------------------------------ */

#define SARIF_SCHEMA "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"

/* A path as a relative URI reference: unreserved bytes and '/' stay, the rest
 * is percent-encoded. */
static char *path_to_uri(const char *path) {
    size_t n = strlen(path);
    char *uri = tsc_xmalloc(3 * n + 1);
    char *p = uri;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)path[i];
        if (is_code_char((char)c) || c == '/' || c == '-' || c == '_' || c == '.' || c == '~') {
            *p++ = (char)c;
        } else {
            static const char hex[] = "0123456789ABCDEF";
            *p++ = '%';
            *p++ = hex[c >> 4];
            *p++ = hex[c & 15];
        }
    }
    *p = '\0';
    return uri;
}

static cJSON *sarif_artifact_location(const tsc_source *file) {
    cJSON *artifact = cJSON_CreateObject();
    char *uri = path_to_uri(file->path);
    cJSON_AddStringToObject(artifact, "uri", uri);
    free(uri);
    return artifact;
}

/* startLine/startColumn of the first byte, endLine/endColumn of the byte just
 * past the span (SARIF regions end exclusively); an empty span is an insertion point. */
static cJSON *sarif_region(tsc_loc span) {
    uint32_t start = clamp_offset(span.file, span.first);
    uint32_t next = clamp_offset(span.file, span_next(span));
    int start_line, end_line, unused;
    line_col(span.file, start, &start_line, &unused);
    line_col(span.file, next, &end_line, &unused);
    cJSON *region = cJSON_CreateObject();
    cJSON_AddNumberToObject(region, "startLine", start_line);
    cJSON_AddNumberToObject(region, "startColumn", code_point_column(span.file, start));
    cJSON_AddNumberToObject(region, "endLine", end_line);
    cJSON_AddNumberToObject(region, "endColumn", code_point_column(span.file, next));
    return region;
}

static cJSON *sarif_physical_location(tsc_loc loc) {
    cJSON *physical = cJSON_CreateObject();
    cJSON_AddItemToObject(physical, "artifactLocation", sarif_artifact_location(loc.file));
    cJSON_AddItemToObject(physical, "region", sarif_region(loc));
    return physical;
}

static cJSON *sarif_message(const char *text) {
    cJSON *message = cJSON_CreateObject();
    cJSON_AddStringToObject(message, "text", text);
    return message;
}

static const char *sarif_level(diag_kind kind) {
    switch (kind) {
    case DIAG_KIND_ERROR: return "error";
    case DIAG_KIND_WARNING: return "warning";
    case DIAG_KIND_NOTE:
    case DIAG_KIND_HELP: return "note";
    }
    TSC_UNREACHABLE();
}

/* One fix per record that carries fix-its, described by the record's message;
 * its replacements are grouped by file. */
static void sarif_add_fix(cJSON *fixes, const diag_record *record) {
    cJSON *fix = NULL;
    cJSON *changes = NULL;
    for (size_t i = 0; i < record->fix_count; i++) {
        const diag_fix *item = &record->fixes[i];
        if (!item->span.file) continue;
        if (!fix) {
            fix = cJSON_CreateObject();
            cJSON_AddItemToObject(fix, "description", sarif_message(record->message));
            changes = cJSON_AddArrayToObject(fix, "artifactChanges");
            cJSON_AddItemToArray(fixes, fix);
        }
        bool seen_file = false;
        for (size_t j = 0; j < i; j++) seen_file |= record->fixes[j].span.file == item->span.file;
        if (seen_file) continue;
        cJSON *change = cJSON_CreateObject();
        cJSON_AddItemToObject(change, "artifactLocation", sarif_artifact_location(item->span.file));
        cJSON *replacements = cJSON_AddArrayToObject(change, "replacements");
        for (size_t j = i; j < record->fix_count; j++) {
            const diag_fix *same = &record->fixes[j];
            if (same->span.file != item->span.file) continue;
            cJSON *replacement = cJSON_CreateObject();
            cJSON_AddItemToObject(replacement, "deletedRegion", sarif_region(same->span));
            cJSON_AddItemToObject(replacement, "insertedContent", sarif_message(same->text));
            cJSON_AddItemToArray(replacements, replacement);
        }
        cJSON_AddItemToArray(changes, change);
    }
}

/* Index of code in rules, adding a rule (titled from the catalogue) when new. */
static int sarif_rule_index(cJSON *rules, const char *code) {
    int index = 0;
    for (cJSON *rule = rules->child; rule; rule = rule->next, index++)
        if (strcmp(cJSON_GetObjectItemCaseSensitive(rule, "id")->valuestring, code) == 0) return index;
    cJSON *rule = cJSON_CreateObject();
    cJSON_AddStringToObject(rule, "id", code);
    char *title = catalogue_title(code);
    cJSON_AddItemToObject(rule, "shortDescription", sarif_message(title ? title : code));
    free(title);
    char *entry = diag_explain(code);
    if (entry) {
        cJSON *help = sarif_message(entry);
        cJSON_AddStringToObject(help, "markdown", entry);
        cJSON_AddItemToObject(rule, "help", help);
    }
    free(entry);
    cJSON_AddItemToArray(rules, rule);
    return index;
}

static cJSON *sarif_result(const diag_record *record, cJSON *rules) {
    cJSON *result = cJSON_CreateObject();
    if (record->code) {
        cJSON_AddStringToObject(result, "ruleId", record->code);
        cJSON_AddNumberToObject(result, "ruleIndex", sarif_rule_index(rules, record->code));
    }
    cJSON_AddStringToObject(result, "level", sarif_level(record->kind));
    cJSON_AddItemToObject(result, "message", sarif_message(record->message));

    cJSON *locations = cJSON_AddArrayToObject(result, "locations");
    if (record->loc.file) {
        cJSON *location = cJSON_CreateObject();
        cJSON_AddItemToObject(location, "physicalLocation", sarif_physical_location(record->loc));
        cJSON_AddItemToArray(locations, location);
    }

    cJSON *related = cJSON_AddArrayToObject(result, "relatedLocations");
    for (size_t i = 0; i < record->child_count; i++) {
        const diag_record *child = record->children[i];
        cJSON *location = cJSON_CreateObject();
        cJSON_AddNumberToObject(location, "id", (double)i);
        if (child->loc.file)
            cJSON_AddItemToObject(location, "physicalLocation", sarif_physical_location(child->loc));
        cJSON_AddItemToObject(location, "message", sarif_message(child->message));
        cJSON_AddItemToArray(related, location);
    }

    cJSON *fixes = cJSON_AddArrayToObject(result, "fixes");
    sarif_add_fix(fixes, record);
    for (size_t i = 0; i < record->child_count; i++) sarif_add_fix(fixes, record->children[i]);
    return result;
}

static cJSON *sarif_document(void) {
    cJSON *log = cJSON_CreateObject();
    cJSON_AddStringToObject(log, "$schema", SARIF_SCHEMA);
    cJSON_AddStringToObject(log, "version", "2.1.0");
    cJSON *runs = cJSON_AddArrayToObject(log, "runs");
    cJSON *run = cJSON_CreateObject();
    cJSON_AddItemToArray(runs, run);

    cJSON *tool = cJSON_AddObjectToObject(run, "tool");
    cJSON *driver = cJSON_AddObjectToObject(tool, "driver");
    cJSON_AddStringToObject(driver, "name", "tsc");
    cJSON_AddStringToObject(driver, "version", TSC_VERSION);
    cJSON *rules = cJSON_AddArrayToObject(driver, "rules");

    cJSON_AddStringToObject(run, "columnKind", "unicodeCodePoints");
    cJSON *results = cJSON_AddArrayToObject(run, "results");
    for (size_t i = 0; i < state.record_count; i++)
        cJSON_AddItemToArray(results, sarif_result(state.records[i], rules));
    return log;
}

/* ------------------------------------------------------------------ */

static void print_document(cJSON *document) {
    if (!document) tsc_internal_error(__FILE__, __LINE__, "out of memory building diagnostics");
    char *text = cJSON_Print(document);
    if (!text) tsc_internal_error(__FILE__, __LINE__, "out of memory printing diagnostics");
    FILE *out = out_stream();
    fputs(text, out);
    fputc('\n', out);
    fflush(out);
    cJSON_free(text);
    cJSON_Delete(document);
}

void diag_end(void) {
    switch (state.options.format) {
    case DIAG_FORMAT_TEXT: fflush(out_stream()); break;
    case DIAG_FORMAT_JSON: print_document(json_document()); break;
    case DIAG_FORMAT_SARIF: print_document(sarif_document()); break;
    }
    /* Counts stay readable after the run; the records go. */
    int errors = state.error_count, warnings = state.warning_count, tool_errors = state.tool_error_count;
    state_clear();
    state.error_count = errors;
    state.warning_count = warnings;
    state.tool_error_count = tool_errors;
}
