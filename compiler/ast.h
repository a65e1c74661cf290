/* The parse tree (ast.c), built by the grammar in grammar/tdl.y, and the
 * parser's entry (parse.c). Read by the checker only: later stages see the
 * checked graph, never the parse tree. */
#ifndef TSC_AST_H
#define TSC_AST_H

#include "common.h"

typedef enum ast_value_kind {
    VALUE_INT,
    VALUE_FLOAT,
    VALUE_STRING,
    VALUE_BOOL,
    VALUE_IDENT,   /* a tensor name, an enum word (relu, same) or a const */
    VALUE_TUPLE,   /* ( v, v, … ) */
    VALUE_LIST,    /* [ v, … ], may be empty */
    VALUE_CALL,    /* a nested call or an operator expression: relu(x), a + b */
} ast_value_kind;

typedef struct ast_call ast_call;

typedef struct ast_value {
    ast_value_kind kind;
    tsc_loc loc;
    int64_t int_value;            /* VALUE_INT (a leading '-' is folded in) */
    double float_value;           /* VALUE_FLOAT */
    bool bool_value;              /* VALUE_BOOL */
    /* VALUE_STRING (unquoted, unescaped), VALUE_IDENT, and for VALUE_CALL
     * the source text with blanks squeezed and cut at 40 bytes: how messages
     * name an operand that is a sub-expression ('relu(a + b)'). */
    const char *text;
    struct ast_value *items;      /* VALUE_TUPLE / VALUE_LIST: first element */
    int item_count;
    ast_call *call;               /* VALUE_CALL */
    /* Calls and operators nested inside, this one included (relu(a + b): 2);
     * -1 once E0007 was reported for it, so enclosing ones stay silent. */
    int depth;
    struct ast_value *next;       /* next element of the enclosing tuple/list */
} ast_value;

typedef struct ast_arg {
    const char *keyword;          /* NULL when positional */
    tsc_loc keyword_loc;
    ast_value *value;
    tsc_loc loc;                  /* the whole argument */
    struct ast_arg *next;
} ast_arg;

struct ast_call {
    const char *callee;           /* for an operator, the op it stands for: add, subtract, multiply */
    tsc_loc callee_loc;           /* for an operator, the operator */
    const char *infix;            /* "+", "-" or "*" for an operator expression; NULL for a call */
    ast_arg *args;                /* in source order */
    int arg_count;
    tsc_loc loc;                  /* callee through ')'; an operator's whole expression */
};

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
    STMT_ASSIGN,     /* NAME [: type] = call ; (or an operator expression, as a call) */
    STMT_LOSS,       /* loss NAME = call ; */
    STMT_METRIC,     /* metric NAME = call ; */
    STMT_OUTPUT,     /* output NAME [= call] ; */
    STMT_OPTIMIZER,  /* optimizer call ; */
    STMT_BROKEN,     /* a statement with a syntax error: only the name it would bind, if any is seen */
} ast_stmt_kind;

typedef struct ast_stmt {
    ast_stmt_kind kind;
    const char *name;             /* NULL for STMT_OPTIMIZER (and a STMT_BROKEN with no name seen) */
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
    int syntax_error_count;       /* every error the parser reported (E0001-E0007) */
    /* Where the lexical errors are (byte offsets): a statement holding one
     * is poisoned by the checker, since a value the scanner replaced (an
     * integer out of range, a cut string) means nothing. */
    uint32_t *error_offsets;
    int error_offset_count, error_offset_capacity;
} ast_file;

/* Whether a lexical error lies within loc. */
bool ast_file_has_error_in(const ast_file *file, tsc_loc loc);

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

#endif /* TSC_AST_H */
