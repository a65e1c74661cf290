/* The TDL grammar. docs/language.md describes the language in prose; this
 * file is the authority. Actions are one-liners that call ast_new_*() (ast.c)
 * or the O(1) list builders of parse.c; every node lives in ctx->arena. */

%require "3.8"
%define api.pure full
%define api.location.type {tsc_loc}
%locations
%param {tdl_parse_ctx *ctx}
%define api.value.type union
%define api.token.prefix {TOK_}
%define parse.error custom
%expect 0

%code requires {
#include "ast.h"
#include "diag.h"

/* Lists under construction: first for the AST, last for O(1) appends. */
typedef struct tdl_stmt_list { ast_stmt *first, *last; } tdl_stmt_list;
typedef struct tdl_arg_list { ast_arg *first, *last; } tdl_arg_list;
typedef struct tdl_dim_list { ast_dim *first, *last; } tdl_dim_list;
typedef struct tdl_value_list { ast_value *first, *last; } tdl_value_list;

/* What the parser and the scanner share for one tsc_parse() call. */
typedef struct tdl_parse_ctx {
    const tsc_source *source;
    tsc_arena *arena;              /* owns every node and string */
    ast_file *file;                /* the result, filled as declarations are reduced */
    ast_const *last_const;         /* tails of file->consts and file->models */
    ast_model *last_model;
    int error_count;

    /* Scanner state. */
    void *scanner;                 /* the reentrant Flex scanner (yyscan_t) */
    uint32_t offset;               /* byte offset of the next unread character */
    uint32_t token_end;            /* one past the last byte of the last token */
    uint32_t token_count;          /* tokens scanned so far */
    int nesting;                   /* open '(' and '[' in the current statement */
    bool nesting_reported;         /* E0007 already given for the current statement */
    uint32_t lexical_error_token;  /* index (1-based) of the last token with a lexical error */

    /* The last two tokens, for messages: at a syntax error the last is the lookahead. */
    int last_token;
    tsc_loc last_loc;
    int previous_token;
    tsc_loc previous_loc;
} tdl_parse_ctx;
}

%code provides {
/* How deep '(' and '[' may nest in one statement: far more than any model needs. */
#define TDL_MAX_NESTING 64

/* Defined in parse.c. */
tdl_stmt_list tdl_stmts_append(tdl_stmt_list list, ast_stmt *stmt);
tdl_arg_list tdl_args_append(tdl_arg_list list, ast_arg *arg);
tdl_dim_list tdl_dims_append(tdl_dim_list list, ast_dim *dim);
tdl_value_list tdl_values_append(tdl_value_list list, ast_value *value);
void tdl_add_const(tdl_parse_ctx *ctx, ast_const *constant);
void tdl_add_model(tdl_parse_ctx *ctx, ast_model *model);
/* A statement lost to a syntax error, keeping the name it would bind. */
ast_stmt *tdl_broken_stmt(tdl_parse_ctx *ctx, tsc_loc span);
/* A nested call as a value, and `a OP b` as the call it stands for
 * (op "+", "-" or "*"); both report E0007 past 64 levels, as for brackets. */
ast_value *tdl_call_value(tdl_parse_ctx *ctx, tsc_loc loc, ast_call *call);
ast_value *tdl_infix(tdl_parse_ctx *ctx, tsc_loc loc, const char *op, tsc_loc op_loc, ast_value *a, ast_value *b);
/* The call a tensor statement computes, or NULL after reporting E0001 for a
 * right-hand side that computes nothing (`y = x;`). */
ast_call *tdl_rhs_call(tdl_parse_ctx *ctx, ast_value *value);
/* Extend a declaration's span through its ';'. */
ast_stmt *tdl_stmt_end(ast_stmt *stmt, tsc_loc semicolon);
ast_const *tdl_const_end(ast_const *constant, tsc_loc semicolon);
/* Reports an error through diag and counts it. */
void tdl_error(tdl_parse_ctx *ctx, tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(4, 5);
/* The bytes text[0..length) made printable for a message (at most max_bytes of
 * them, then "..."): valid UTF-8 is kept, control and stray bytes become \xNN. Heap string. */
char *tdl_printable(const char *text, size_t length, size_t max_bytes);
/* The scanner (grammar/tdl.l). */
int tdl_scan(YYSTYPE *yylval_param, YYLTYPE *yylloc_param, void *yyscanner);
}

%code {
#include <stdlib.h>
#include <string.h>

/* A rule's location spans its first through its last symbol; an empty rule
 * gets an empty span just after the previous symbol. */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                               \
    do {                                                                          \
        if (N) {                                                                  \
            (Cur) = tsc_loc_join(YYRHSLOC(Rhs, 1), YYRHSLOC(Rhs, N));             \
        } else {                                                                  \
            (Cur).file = YYRHSLOC(Rhs, 0).file;                                   \
            (Cur).first = YYRHSLOC(Rhs, 0).last + 1;                              \
            (Cur).last = YYRHSLOC(Rhs, 0).last;                                   \
        }                                                                         \
    } while (0)

static int yylex(YYSTYPE *lvalp, YYLTYPE *llocp, tdl_parse_ctx *ctx)
{
    return tdl_scan(lvalp, llocp, ctx->scanner);
}

static void yyerror(const YYLTYPE *loc, tdl_parse_ctx *ctx, const char *message);

/* The name location of an optimizer statement, which has no name. */
static const tsc_loc no_loc;
}

%initial-action {
    @$.file = ctx->source;
    @$.first = 0;
    @$.last = 0;
}

%token YYEOF 0 "end of file"
%token <const char *> IDENT "identifier"
%token <int64_t> INT "integer"
%token <double> FLOAT "float"
%token <const char *> STRING "string"
%token MODEL "'model'"
%token INPUT "'input'"
%token LOSS "'loss'"
%token METRIC "'metric'"
%token OUTPUT "'output'"
%token OPTIMIZER "'optimizer'"
%token CONST "'const'"
%token TRUE "'true'"
%token FALSE "'false'"
%token F32 "'f32'"
%token I32 "'i32'"
%token LBRACE "'{'"
%token RBRACE "'}'"
%token LPAREN "'('"
%token RPAREN "')'"
%token LBRACKET "'['"
%token RBRACKET "']'"
%token COMMA "','"
%token SEMI "';'"
%token COLON "':'"
%token ASSIGN "'='"
%token MINUS "'-'"
%token PLUS "'+'"
%token STAR "'*'"
%token UNDERSCORE "'_'"

%nterm <ast_const *> const_decl
%nterm <ast_model *> model
%nterm <tdl_stmt_list> stmts
%nterm <ast_stmt *> stmt
%nterm <ast_type *> type
%nterm <ast_dtype> dtype
%nterm <tdl_dim_list> dims
%nterm <ast_dim *> dim
%nterm <ast_call *> call
%nterm <tdl_arg_list> args
%nterm <ast_arg *> arg
%nterm <const char *> keyword_name
%nterm <ast_value *> value other_value number expr term primary
%nterm <ast_call *> rhs
%nterm <tdl_value_list> values tuple_items

%%

/* After an error, resynchronise at the next ';' or '}' so that later
 * declarations are still parsed. A declaration that is complete but for its
 * ';' is kept, and parsing resumes at the token that follows it. */
file:
  %empty
| file const_decl "';'"                     { tdl_add_const(ctx, tdl_const_end($2, @3)); }
| file const_decl error                     { tdl_add_const(ctx, $2); }
| file model                                { tdl_add_model(ctx, $2); }
| file error "';'"
| file error "'}'"
;

const_decl:
  "'const'" IDENT "'='" number              { $$ = ast_new_const(ctx->arena, @$, $2, @2, $4); }
;

model:
  "'model'" IDENT "'{'" stmts "'}'"         { $$ = ast_new_model(ctx->arena, @$, $2, @2, $4.first); }
| "'model'" IDENT "'{'" stmts error "'}'"   { $$ = ast_new_model(ctx->arena, @$, $2, @2, $4.first); }
;

stmts:
  %empty                                    { $$ = (tdl_stmt_list){ NULL, NULL }; }
| stmts stmt "';'"                          { $$ = tdl_stmts_append($1, tdl_stmt_end($2, @3)); }
| stmts stmt error                          { $$ = tdl_stmts_append($1, $2); }
| stmts error "';'"                         { $$ = tdl_stmts_append($1, tdl_broken_stmt(ctx, @2)); }
;

/* A statement without its ';'. */
stmt:
  "'input'" IDENT "':'" type                { $$ = ast_new_stmt(ctx->arena, @$, STMT_INPUT, $2, @2, $4, NULL); }
| IDENT "'='" rhs                           { $$ = $3 ? ast_new_stmt(ctx->arena, @$, STMT_ASSIGN, $1, @1, NULL, $3) : tdl_broken_stmt(ctx, @$); }
| IDENT "':'" type "'='" rhs                { $$ = $5 ? ast_new_stmt(ctx->arena, @$, STMT_ASSIGN, $1, @1, $3, $5) : tdl_broken_stmt(ctx, @$); }
| "'loss'" IDENT "'='" call                 { $$ = ast_new_stmt(ctx->arena, @$, STMT_LOSS, $2, @2, NULL, $4); }
| "'metric'" IDENT "'='" call               { $$ = ast_new_stmt(ctx->arena, @$, STMT_METRIC, $2, @2, NULL, $4); }
| "'output'" IDENT                          { $$ = ast_new_stmt(ctx->arena, @$, STMT_OUTPUT, $2, @2, NULL, NULL); }
| "'output'" IDENT "'='" rhs                { $$ = $4 ? ast_new_stmt(ctx->arena, @$, STMT_OUTPUT, $2, @2, NULL, $4) : tdl_broken_stmt(ctx, @$); }
| "'optimizer'" call                        { $$ = ast_new_stmt(ctx->arena, @$, STMT_OPTIMIZER, NULL, no_loc, NULL, $2); }
;

type:
  dtype "'['" dims "']'"                    { $$ = ast_new_type(ctx->arena, @$, $1, $3.first); }
| "'['" dims "']'"                          { $$ = ast_new_type(ctx->arena, @$, AST_DTYPE_NONE, $2.first); }
;

dtype:
  "'f32'"                                   { $$ = AST_DTYPE_F32; }
| "'i32'"                                   { $$ = AST_DTYPE_I32; }
;

dims:
  dim                                       { $$ = tdl_dims_append((tdl_dim_list){ NULL, NULL }, $1); }
| dims "','" dim                            { $$ = tdl_dims_append($1, $3); }
;

dim:
  INT                                       { $$ = ast_new_dim(ctx->arena, @$, DIM_INT, $1, NULL); }
| IDENT                                     { $$ = ast_new_dim(ctx->arena, @$, DIM_NAME, 0, $1); }
| "'_'"                                     { $$ = ast_new_dim(ctx->arena, @$, DIM_ANY, 0, NULL); }
;

/* What a tensor statement computes: a call or an operator expression. */
rhs:
  expr                                      { $$ = tdl_rhs_call(ctx, $1); }
;

call:
  IDENT "'('" "')'"                         { $$ = ast_new_call(ctx->arena, @$, $1, @1, NULL); }
| IDENT "'('" args "')'"                    { $$ = ast_new_call(ctx->arena, @$, $1, @1, $3.first); }
;

args:
  arg                                       { $$ = tdl_args_append((tdl_arg_list){ NULL, NULL }, $1); }
| args "','" arg                            { $$ = tdl_args_append($1, $3); }
;

arg:
  value                                     { $$ = ast_new_arg(ctx->arena, @$, NULL, no_loc, $1); }
| keyword_name "'='" value                  { $$ = ast_new_arg(ctx->arena, @$, $1, @1, $3); }
;

/* Reserved words may still name a keyword argument, as in input=x. */
keyword_name:
  IDENT                                     { $$ = $1; }
| "'model'"                                 { $$ = "model"; }
| "'input'"                                 { $$ = "input"; }
| "'loss'"                                  { $$ = "loss"; }
| "'metric'"                                { $$ = "metric"; }
| "'output'"                                { $$ = "output"; }
| "'optimizer'"                             { $$ = "optimizer"; }
| "'const'"                                 { $$ = "const"; }
| "'f32'"                                   { $$ = "f32"; }
| "'i32'"                                   { $$ = "i32"; }
;

value:
  expr                                      { $$ = $1; }
| other_value                               { $$ = $1; }
;

/* Infix operators on tensors, as in Python: '*' binds tighter than '+' and
 * '-', and all three group to the left. Each becomes a call (parse.c). */
expr:
  term                                      { $$ = $1; }
| expr "'+'" term                           { $$ = tdl_infix(ctx, @$, "+", @2, $1, $3); }
| expr "'-'" term                           { $$ = tdl_infix(ctx, @$, "-", @2, $1, $3); }
;

term:
  primary                                   { $$ = $1; }
| term "'*'" primary                        { $$ = tdl_infix(ctx, @$, "*", @2, $1, $3); }
;

primary:
  number                                    { $$ = $1; }
| IDENT                                     { $$ = ast_new_ident(ctx->arena, @$, $1); }
| call                                      { $$ = tdl_call_value(ctx, @$, $1); }
| "'('" expr "')'"                          { $$ = $2; }
;

/* The values that are no expression; (v) is still just v. */
other_value:
  STRING                                    { $$ = ast_new_string(ctx->arena, @$, $1); }
| "'true'"                                  { $$ = ast_new_bool(ctx->arena, @$, true); }
| "'false'"                                 { $$ = ast_new_bool(ctx->arena, @$, false); }
| "'('" other_value "')'"                   { $$ = $2; }
| "'('" tuple_items "')'"                   { $$ = ast_new_seq(ctx->arena, @$, VALUE_TUPLE, $2.first); }
| "'['" "']'"                               { $$ = ast_new_seq(ctx->arena, @$, VALUE_LIST, NULL); }
| "'['" values "']'"                        { $$ = ast_new_seq(ctx->arena, @$, VALUE_LIST, $2.first); }
;

/* A tuple has at least two items: (v) is just v, as in Python. */
tuple_items:
  value "','" value                         { $$ = tdl_values_append(tdl_values_append((tdl_value_list){ NULL, NULL }, $1), $3); }
| tuple_items "','" value                   { $$ = tdl_values_append($1, $3); }
;

values:
  value                                     { $$ = tdl_values_append((tdl_value_list){ NULL, NULL }, $1); }
| values "','" value                        { $$ = tdl_values_append($1, $3); }
;

number:
  INT                                       { $$ = ast_new_int(ctx->arena, @$, $1); }
| FLOAT                                     { $$ = ast_new_float(ctx->arena, @$, $1); }
| "'-'" INT                                 { $$ = ast_new_int(ctx->arena, @$, -$2); }
| "'-'" FLOAT                               { $$ = ast_new_float(ctx->arena, @$, -$2); }
;

%%

/* The reserved words that may name a keyword argument (input=x). Where an
 * argument may start, all of them are "expected"; listing them there would
 * bury the useful alternatives, so the message leaves them out. */
static bool is_keyword_name_only(yysymbol_kind_t symbol)
{
    switch (symbol) {
    case YYSYMBOL_MODEL: case YYSYMBOL_INPUT: case YYSYMBOL_LOSS: case YYSYMBOL_METRIC:
    case YYSYMBOL_OUTPUT: case YYSYMBOL_OPTIMIZER: case YYSYMBOL_CONST:
    case YYSYMBOL_F32: case YYSYMBOL_I32:
        return true;
    default:
        return false;
    }
}

/* The words that start a statement. */
static bool is_statement_keyword(yysymbol_kind_t symbol)
{
    return symbol == YYSYMBOL_INPUT || symbol == YYSYMBOL_LOSS || symbol == YYSYMBOL_METRIC ||
           symbol == YYSYMBOL_OUTPUT || symbol == YYSYMBOL_OPTIMIZER;
}

static bool is_reserved_word(yysymbol_kind_t symbol)
{
    return is_keyword_name_only(symbol) || symbol == YYSYMBOL_TRUE || symbol == YYSYMBOL_FALSE;
}

/* "identifier 'x'", "integer '42'", "keyword 'input'", "';'", "end of file". */
static char *describe_found(const tdl_parse_ctx *ctx, yysymbol_kind_t symbol, tsc_loc loc)
{
    const char *text = ctx->source->text + loc.first;
    size_t length = loc.last >= loc.first && loc.last < ctx->source->length ? loc.last - loc.first + 1 : 0;
    switch (symbol) {
    case YYSYMBOL_IDENT: case YYSYMBOL_INT: case YYSYMBOL_FLOAT: {
        char *shown = tdl_printable(text, length, 40);
        char *description = tsc_format("%s '%s'", yysymbol_name(symbol), shown);
        free(shown);
        return description;
    }
    case YYSYMBOL_STRING: {
        char *shown = tdl_printable(text, length, 40);
        char *description = tsc_format("string %s", shown);
        free(shown);
        return description;
    }
    default:
        if (is_reserved_word(symbol))
            return tsc_format("keyword %s", yysymbol_name(symbol));
        return tsc_xstrdup(yysymbol_name(symbol));
    }
}

/* "X", "X or Y", "X, Y or Z". */
static char *join_expected(const yysymbol_kind_t *expected, int count)
{
    size_t size = 1;
    for (int i = 0; i < count; i++)
        size += strlen(yysymbol_name(expected[i])) + 4;
    char *text = tsc_xmalloc(size);
    text[0] = '\0';
    for (int i = 0; i < count; i++) {
        if (i > 0)
            strcat(text, i == count - 1 ? " or " : ", ");
        strcat(text, yysymbol_name(expected[i]));
    }
    return text;
}

static int yyreport_syntax_error(const yypcontext_t *yyctx, tdl_parse_ctx *ctx)
{
    /* A token next to a lexical error (invalid characters dropped, a string cut
     * at the end of the line) was already reported: say nothing more. */
    if (ctx->lexical_error_token != 0 && ctx->token_count - ctx->lexical_error_token <= 1)
        return 0;
    yysymbol_kind_t expected[YYNTOKENS];
    int count = yypcontext_expected_tokens(yyctx, expected, YYNTOKENS);
    if (count < 0)
        return count;
    bool identifier_expected = false;
    bool keyword_names_expected = false;
    for (int i = 0; i < count; i++) {
        identifier_expected |= expected[i] == YYSYMBOL_IDENT;
        keyword_names_expected |= expected[i] == YYSYMBOL_CONST;
    }
    if (identifier_expected && keyword_names_expected) {
        int kept = 0;
        for (int i = 0; i < count; i++)
            if (!is_keyword_name_only(expected[i]))
                expected[kept++] = expected[i];
        count = kept;
    }
    /* After a name in an argument, '(' would make it a call (a schedule as
     * learning_rate=); a missing ',' or '=' is the likely mistake, so the
     * message offers those and leaves '(' out. */
    bool assign_expected = false;
    for (int i = 0; i < count; i++)
        assign_expected |= expected[i] == YYSYMBOL_ASSIGN;
    if (assign_expected) {
        int kept = 0;
        for (int i = 0; i < count; i++)
            if (expected[i] != YYSYMBOL_LPAREN)
                expected[kept++] = expected[i];
        count = kept;
    }

    yysymbol_kind_t found = yypcontext_token(yyctx);
    tsc_loc loc = *yypcontext_location(yyctx);
    char *found_text = describe_found(ctx, found, loc);
    if (count > 0) {
        char *expected_text = join_expected(expected, count);
        tdl_error(ctx, loc, "E0001", "expected %s but found %s", expected_text, found_text);
        free(expected_text);
    } else {
        tdl_error(ctx, loc, "E0001", "unexpected %s", found_text);
    }
    free(found_text);

    /* A reserved word where a name belongs: say so, or the message looks absurd. */
    yysymbol_kind_t previous = YYTRANSLATE(ctx->previous_token);
    if (identifier_expected && is_reserved_word(found))
        diag_help(loc, "%s is a reserved word; choose another name", yysymbol_name(found));
    else if ((found == YYSYMBOL_ASSIGN || found == YYSYMBOL_COLON) && is_statement_keyword(previous))
        diag_help(ctx->previous_loc, "%s is a reserved word and cannot name a tensor; choose another name",
                  yysymbol_name(previous));
    else if (count == 1 && expected[0] == YYSYMBOL_SEMI && ctx->previous_token != 0) {
        /* The usual slip: a statement without its ';'. Offer to insert it. */
        tsc_loc after = { ctx->source, ctx->previous_loc.last + 1, ctx->previous_loc.last };
        diag_help(after, "end the statement with ';'");
        diag_fixit(after, ";");
    }
    return 0;
}

/* Bison calls this only when its stack is exhausted, which takes thousands of
 * nested brackets: the scanner has already reported them (E0007). */
static void yyerror(const YYLTYPE *loc, tdl_parse_ctx *ctx, const char *message)
{
    if (!ctx->nesting_reported)
        tdl_error(ctx, *loc, "E0007", "the input is nested too deeply to parse (%s)", message);
}
