/* tsc internal header: one section per stage, in pipeline order.
 * Each section is owned by the stage's .c files; keep edits inside it. */
#ifndef TSC_H
#define TSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define TSC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define TSC_NORETURN __attribute__((noreturn))
#else
#define TSC_PRINTF(fmt_index, first_arg)
#define TSC_NORETURN
#endif

/* ===================================================================== */
/* Common: internal errors, memory, sources and locations (util.c)        */
/* ===================================================================== */

/* Internal bugs, never user errors: print file:line and abort. */
TSC_NORETURN void tsc_internal_error(const char *file, int line, const char *fmt, ...) TSC_PRINTF(3, 4);
#define TSC_ASSERT(cond) \
    ((cond) ? (void)0 : tsc_internal_error(__FILE__, __LINE__, "assertion failed: %s", #cond))
#define TSC_UNREACHABLE() tsc_internal_error(__FILE__, __LINE__, "unreachable")

/* malloc/calloc/realloc that abort with a message when memory runs out. */
void *tsc_xmalloc(size_t size);
void *tsc_xcalloc(size_t count, size_t size);
void *tsc_xrealloc(void *ptr, size_t size);
char *tsc_xstrdup(const char *s);
char *tsc_xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *tsc_format(const char *fmt, ...) TSC_PRINTF(1, 2);

/* A bump allocator: the AST and the checked graph live in one and are freed together. */
typedef struct tsc_arena tsc_arena;
tsc_arena *tsc_arena_new(void);
void tsc_arena_free(tsc_arena *arena);
void *tsc_arena_alloc(tsc_arena *arena, size_t size);       /* zeroed, max-aligned */
char *tsc_arena_strndup(tsc_arena *arena, const char *s, size_t n);
char *tsc_arena_format(tsc_arena *arena, const char *fmt, ...) TSC_PRINTF(2, 3);

/* A source file held in memory. text is NUL-terminated; length excludes the NUL. */
typedef struct tsc_source {
    const char *path;   /* as the user wrote it: printed in diagnostics */
    char *text;
    size_t length;
} tsc_source;

/* Reads a file; returns NULL (and errno set) on failure. */
tsc_source *tsc_source_read(const char *path);
/* Wraps a buffer (copied), for tests and the fuzzer. */
tsc_source *tsc_source_from_string(const char *path, const char *text, size_t length);
void tsc_source_free(tsc_source *source);

/* A span of source bytes [first, last], both inclusive. Line and column are
 * computed only when printing. A location with file == NULL is "nowhere". */
typedef struct tsc_loc {
    const tsc_source *file;
    uint32_t first;
    uint32_t last;
} tsc_loc;

/* The span from a's first byte to b's last byte. */
tsc_loc tsc_loc_join(tsc_loc a, tsc_loc b);
/* 1-based line and column (in bytes) of a byte offset. */
void tsc_loc_line_col(const tsc_source *file, uint32_t offset, int *line, int *col);

/* ===================================================================== */
/* Diagnostics (diag.c — the only place that prints them)                 */
/* ===================================================================== */

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

/* Starts a run: resets counts and the collected diagnostics. */
void diag_begin(const diag_options *options);
/* Ends a run: JSON/SARIF output is written here; frees what was collected. */
void diag_end(void);

/* An error or warning starts a diagnostic; notes, helps and fix-its attach to
 * the most recent one. code is stable ("E0203", "W0101"), listed in
 * docs/diagnostics.md. */
void diag_error(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
void diag_warning(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
void diag_note(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
void diag_help(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
/* A machine-readable fix: replace the bytes of span with text. To insert
 * before a byte, use an empty span: last = first - 1 (then span.first is the
 * insertion point). Attached to the most recent help (or error). */
void diag_fixit(tsc_loc span, const char *replacement);

int diag_error_count(void);
int diag_warning_count(void);

/* The catalogue entry of a code from docs/diagnostics.md, or NULL. The
 * returned string is heap-allocated. */
char *diag_explain(const char *code);

/* ===================================================================== */
/* AST (ast.c) — built by the parser in grammar/tdl.y                     */
/* ===================================================================== */

typedef enum ast_value_kind {
    VALUE_INT,
    VALUE_FLOAT,
    VALUE_STRING,
    VALUE_BOOL,
    VALUE_IDENT,   /* a tensor name, an enum word (relu, same) or a const */
    VALUE_TUPLE,   /* ( v, v, … ) */
    VALUE_LIST,    /* [ v, … ], may be empty */
} ast_value_kind;

typedef struct ast_value {
    ast_value_kind kind;
    tsc_loc loc;
    int64_t int_value;            /* VALUE_INT (a leading '-' is folded in) */
    double float_value;           /* VALUE_FLOAT */
    bool bool_value;              /* VALUE_BOOL */
    const char *text;             /* VALUE_STRING (unquoted, unescaped) and VALUE_IDENT */
    struct ast_value *items;      /* VALUE_TUPLE / VALUE_LIST: first element */
    int item_count;
    struct ast_value *next;       /* next element of the enclosing tuple/list */
} ast_value;

typedef struct ast_arg {
    const char *keyword;          /* NULL when positional */
    tsc_loc keyword_loc;
    ast_value *value;
    tsc_loc loc;                  /* the whole argument */
    struct ast_arg *next;
} ast_arg;

typedef struct ast_call {
    const char *callee;
    tsc_loc callee_loc;
    ast_arg *args;                /* in source order */
    int arg_count;
    tsc_loc loc;                  /* callee through ')' */
} ast_call;

typedef enum ast_dtype { AST_DTYPE_NONE = 0, AST_DTYPE_F32, AST_DTYPE_I32 } ast_dtype;

typedef enum ast_dim_kind { DIM_INT, DIM_NAME, DIM_ANY } ast_dim_kind;

typedef struct ast_dim {
    ast_dim_kind kind;
    int64_t value;                /* DIM_INT */
    const char *name;             /* DIM_NAME: a batch symbol or a const */
    tsc_loc loc;
    struct ast_dim *next;
} ast_dim;

typedef struct ast_type {
    ast_dtype dtype;              /* AST_DTYPE_NONE when written as [..] */
    ast_dim *dims;
    int rank;
    tsc_loc loc;
} ast_type;

typedef enum ast_stmt_kind {
    STMT_INPUT,      /* input NAME : type ; */
    STMT_ASSIGN,     /* NAME [: type] = call ; */
    STMT_LOSS,       /* loss NAME = call ; */
    STMT_METRIC,     /* metric NAME = call ; */
    STMT_OUTPUT,     /* output NAME [= call] ; */
    STMT_OPTIMIZER,  /* optimizer call ; */
} ast_stmt_kind;

typedef struct ast_stmt {
    ast_stmt_kind kind;
    const char *name;             /* NULL for STMT_OPTIMIZER */
    tsc_loc name_loc;
    ast_type *type;               /* STMT_INPUT (required), STMT_ASSIGN (optional assertion) */
    ast_call *call;               /* NULL for STMT_INPUT and a bare STMT_OUTPUT */
    tsc_loc loc;                  /* the whole statement, through ';' */
    struct ast_stmt *next;
} ast_stmt;

typedef struct ast_model {
    const char *name;
    tsc_loc name_loc;
    ast_stmt *stmts;
    int stmt_count;
    tsc_loc loc;
    struct ast_model *next;
} ast_model;

typedef struct ast_const {
    const char *name;
    tsc_loc name_loc;
    ast_value *value;             /* VALUE_INT or VALUE_FLOAT */
    tsc_loc loc;
    struct ast_const *next;
} ast_const;

/* One parsed file: consts and models, each list in source order. */
typedef struct ast_file {
    const tsc_source *source;
    tsc_arena *arena;             /* owns every node */
    ast_const *consts;
    ast_model *models;
    int model_count;
} ast_file;

/* Constructors called by the grammar actions (one line each there). */
ast_value *ast_new_int(tsc_arena *a, tsc_loc loc, int64_t v);
ast_value *ast_new_float(tsc_arena *a, tsc_loc loc, double v);
ast_value *ast_new_string(tsc_arena *a, tsc_loc loc, const char *text);
ast_value *ast_new_bool(tsc_arena *a, tsc_loc loc, bool v);
ast_value *ast_new_ident(tsc_arena *a, tsc_loc loc, const char *name);
ast_value *ast_new_seq(tsc_arena *a, tsc_loc loc, ast_value_kind kind, ast_value *items);
ast_arg *ast_new_arg(tsc_arena *a, tsc_loc loc, const char *keyword, tsc_loc keyword_loc, ast_value *value);
ast_call *ast_new_call(tsc_arena *a, tsc_loc loc, const char *callee, tsc_loc callee_loc, ast_arg *args);
ast_dim *ast_new_dim(tsc_arena *a, tsc_loc loc, ast_dim_kind kind, int64_t value, const char *name);
ast_type *ast_new_type(tsc_arena *a, tsc_loc loc, ast_dtype dtype, ast_dim *dims);
ast_stmt *ast_new_stmt(tsc_arena *a, tsc_loc loc, ast_stmt_kind kind, const char *name, tsc_loc name_loc,
                       ast_type *type, ast_call *call);
ast_model *ast_new_model(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_stmt *stmts);
ast_const *ast_new_const(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_value *value);

/* The name of a value kind for messages ("an integer", "a tuple"). */
const char *ast_value_kind_name(ast_value_kind kind);

/* ===================================================================== */
/* Parser entry (parse.c + grammar/)                                      */
/* ===================================================================== */

/* Parses source into *out (never NULL on return, possibly partial after
 * errors). Syntax errors go through diag. Returns the number of errors. */
int tsc_parse(const tsc_source *source, ast_file **out);
void ast_file_free(ast_file *file);

/* ===================================================================== */
/* Checker (resolve.c, shape.c, ops.c)                                    */
/* ===================================================================== */

/* The checked program: typed graph per model. Defined by the checker section
 * below; the CLI, summary, dot and the code generator read it. */
typedef struct checked_file checked_file;
typedef struct checked_model checked_model;

/* Resolves names, binds arguments and checks every shape and dtype.
 * Diagnostics go through diag. Returns the number of errors; *out is always set. */
int tsc_check(const ast_file *file, checked_file **out);
void checked_file_free(checked_file *file);

/* ===================================================================== */
/* Reports: --summary (summary.c) and --dot (dot.c)                       */
/* ===================================================================== */

/* batch: the size used for the B dimension in activation bytes and FLOPs. */
void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch);
void tsc_print_dot(FILE *out, const checked_file *file);

#endif /* TSC_H */
