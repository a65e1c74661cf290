/* The parser's entry point and the small helpers its actions call. The Flex
 * scanner and the Bison parser are generated from grammar/tdl.l and tdl.y. */
#define _POSIX_C_SOURCE 200809L
#include "ast.h"
#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tdl.tab.h"
#include "tdl.yy.h"

int tsc_parse(const tsc_source *source, ast_file **out)
{
    tsc_arena *arena = tsc_arena_new();
    ast_file *file = tsc_arena_alloc(arena, sizeof *file);
    file->source = source;
    file->arena = arena;

    tdl_parse_ctx ctx = { .source = source, .arena = arena, .file = file };
    yyscan_t scanner;
    if (yylex_init_extra(&ctx, &scanner) != 0)
        tsc_internal_error(__FILE__, __LINE__, "cannot create the scanner");
    ctx.scanner = scanner;
    TSC_ASSERT(source->length < (size_t)INT32_MAX);
    YY_BUFFER_STATE buffer = yy_scan_bytes(source->text, (int)source->length, scanner);

    int status = yyparse(&ctx);
    /* A parse that stops without a diagnostic (should not happen) still fails. */
    if (status != 0 && ctx.error_count == 0)
        tdl_error(&ctx, (tsc_loc){ source, ctx.token_end, ctx.token_end }, "E0001", "cannot parse this file");

    yy_delete_buffer(buffer, scanner);
    yylex_destroy(scanner);
    *out = file;
    return ctx.error_count;
}

tdl_stmt_list tdl_stmts_append(tdl_stmt_list list, ast_stmt *stmt)
{
    if (list.last)
        list.last->next = stmt;
    else
        list.first = stmt;
    list.last = stmt;
    return list;
}

tdl_arg_list tdl_args_append(tdl_arg_list list, ast_arg *arg)
{
    if (list.last)
        list.last->next = arg;
    else
        list.first = arg;
    list.last = arg;
    return list;
}

tdl_dim_list tdl_dims_append(tdl_dim_list list, ast_dim *dim)
{
    if (list.last)
        list.last->next = dim;
    else
        list.first = dim;
    list.last = dim;
    return list;
}

tdl_value_list tdl_values_append(tdl_value_list list, ast_value *value)
{
    if (list.last)
        list.last->next = value;
    else
        list.first = value;
    list.last = value;
    return list;
}

void tdl_add_const(tdl_parse_ctx *ctx, ast_const *constant)
{
    if (ctx->last_const)
        ctx->last_const->next = constant;
    else
        ctx->file->consts = constant;
    ctx->last_const = constant;
}

void tdl_add_model(tdl_parse_ctx *ctx, ast_model *model)
{
    if (ctx->last_model)
        ctx->last_model->next = model;
    else
        ctx->file->models = model;
    ctx->last_model = model;
    ctx->file->model_count++;
}

ast_stmt *tdl_stmt_end(ast_stmt *stmt, tsc_loc semicolon)
{
    stmt->loc = tsc_loc_join(stmt->loc, semicolon);
    return stmt;
}

static bool is_name_start(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_name_char(char c)
{
    return is_name_start(c) || (c >= '0' && c <= '9');
}

static const char *skip_blanks(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n' || *p == '\f' || *p == '\v'))
        p++;
    return p;
}

ast_stmt *tdl_broken_stmt(tdl_parse_ctx *ctx, tsc_loc span)
{
    /* The name the statement would have bound: "[input|loss|metric|output]
     * NAME" followed by '=' or ':' (or anything, after a keyword). The
     * checker poisons it, so its later uses stay silent. */
    const char *text = ctx->source->text;
    const char *p = text + span.first, *end = text + (span.last < ctx->source->length ? span.last + 1 : ctx->source->length);
    if (span.last < span.first)
        end = p;
    static const char *const keywords[] = {"input", "loss", "metric", "output"};
    bool keyword = false;
    for (size_t k = 0; k < sizeof keywords / sizeof keywords[0]; k++) {
        size_t n = strlen(keywords[k]);
        if ((size_t)(end - p) > n && strncmp(p, keywords[k], n) == 0 && !is_name_char(p[n])) {
            p = skip_blanks(p + n, end);
            keyword = true;
            break;
        }
    }
    const char *name = NULL;
    tsc_loc name_loc = {0};
    if (p < end && is_name_start(*p)) {
        const char *q = p;
        while (q < end && is_name_char(*q))
            q++;
        const char *after = skip_blanks(q, end);
        if (keyword || (after < end && (*after == '=' || *after == ':'))) {
            name = tsc_arena_strndup(ctx->arena, p, (size_t)(q - p));
            name_loc = (tsc_loc){ctx->source, (uint32_t)(p - text), (uint32_t)(q - text - 1)};
        }
    }
    return ast_new_stmt(ctx->arena, span, STMT_BROKEN, name, name_loc, NULL, NULL);
}

ast_const *tdl_const_end(ast_const *constant, tsc_loc semicolon)
{
    constant->loc = tsc_loc_join(constant->loc, semicolon);
    return constant;
}

void tdl_error(tdl_parse_ctx *ctx, tsc_loc loc, const char *code, const char *fmt, ...)
{
    va_list args;
    va_start(args, fmt);
    va_list again;
    va_copy(again, args);
    int length = vsnprintf(NULL, 0, fmt, args);
    TSC_ASSERT(length >= 0);
    char *message = tsc_xmalloc((size_t)length + 1);
    vsnprintf(message, (size_t)length + 1, fmt, again);
    va_end(again);
    va_end(args);
    diag_error(loc, code, "%s", message);
    free(message);
    ctx->error_count++;
    if (ctx->file != NULL)
        ctx->file->syntax_error_count++;
    /* Syntax errors (E0001) lose their statement in the grammar, which keeps
     * it as STMT_BROKEN; a lexical error leaves a statement that parsed but
     * holds a made-up value, so its place is recorded. */
    ast_file *file = ctx->file;
    if (file == NULL || strcmp(code, "E0001") == 0)
        return;
    if (file->error_offset_count == file->error_offset_capacity) {
        int capacity = file->error_offset_capacity > 0 ? 2 * file->error_offset_capacity : 8;
        uint32_t *grown = tsc_arena_alloc(ctx->arena, (size_t)capacity * sizeof *grown);
        if (file->error_offset_count > 0)
            memcpy(grown, file->error_offsets, (size_t)file->error_offset_count * sizeof *grown);
        file->error_offsets = grown;
        file->error_offset_capacity = capacity;
    }
    file->error_offsets[file->error_offset_count++] = loc.first;
}

bool ast_file_has_error_in(const ast_file *file, tsc_loc loc)
{
    for (int i = 0; i < file->error_offset_count; i++) {
        if (file->error_offsets[i] >= loc.first && file->error_offsets[i] <= loc.last)
            return true;
    }
    return false;
}

/* The length of the valid UTF-8 sequence at text (at most available bytes), or 0. */
static size_t utf8_sequence_length(const unsigned char *text, size_t available)
{
    unsigned char lead = text[0];
    size_t length;
    if (lead >= 0xc2 && lead <= 0xdf)
        length = 2;
    else if (lead >= 0xe0 && lead <= 0xef)
        length = 3;
    else if (lead >= 0xf0 && lead <= 0xf4)
        length = 4;
    else
        return 0;
    if (length > available)
        return 0;
    for (size_t i = 1; i < length; i++)
        if ((text[i] & 0xc0) != 0x80)
            return 0;
    /* Reject overlong and surrogate forms of three- and four-byte sequences. */
    if ((lead == 0xe0 && text[1] < 0xa0) || (lead == 0xed && text[1] > 0x9f) ||
        (lead == 0xf0 && text[1] < 0x90) || (lead == 0xf4 && text[1] > 0x8f))
        return 0;
    return length;
}

char *tdl_printable(const char *text, size_t length, size_t max_bytes)
{
    const unsigned char *bytes = (const unsigned char *)text;
    size_t shown = length < max_bytes ? length : max_bytes;
    char *out = tsc_xmalloc(shown * 4 + 4);
    size_t n = 0;
    size_t i = 0;
    while (i < shown) {
        size_t sequence = bytes[i] >= 0x80 ? utf8_sequence_length(bytes + i, length - i) : 0;
        if (sequence > 0 && i + sequence <= shown) {
            memcpy(out + n, bytes + i, sequence);
            n += sequence;
            i += sequence;
        } else if (bytes[i] >= 0x20 && bytes[i] < 0x7f) {
            out[n++] = (char)bytes[i++];
        } else if (sequence > 0) {
            break; /* a character cut by max_bytes */
        } else {
            n += (size_t)snprintf(out + n, 5, "\\x%02x", bytes[i++]);
        }
    }
    if (i < length) {
        memcpy(out + n, "...", 3);
        n += 3;
    }
    out[n] = '\0';
    return out;
}

/* ---- expressions ---------------------------------------------------------- */

/* The source text of an expression for messages: blanks squeezed to one
 * space, at most 40 bytes and then "...". At most MAX_READ bytes of the
 * source are read, so that a long chain of operators over long runs of
 * blanks stays linear. */
static const char *expression_text(tdl_parse_ctx *ctx, tsc_loc loc)
{
    enum { MAX_SHOWN = 40, MAX_READ = 1024 };
    const char *text = ctx->source->text;
    uint32_t end = loc.last < ctx->source->length ? loc.last + 1 : (uint32_t)ctx->source->length;
    if (end > loc.first && end - loc.first > MAX_READ)
        end = loc.first + MAX_READ;
    char squeezed[MAX_SHOWN + 1];
    size_t n = 0;
    bool cut = false;
    for (uint32_t i = loc.first; i < end; i++) {
        char c = text[i];
        bool blank = c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
        if (blank && (n == 0 || squeezed[n - 1] == ' '))
            continue;
        if (n == MAX_SHOWN) {
            cut = true;
            break;
        }
        squeezed[n++] = blank ? ' ' : c;
    }
    char *shown = tdl_printable(squeezed, n, MAX_SHOWN);
    cut = cut || (loc.last < ctx->source->length && end < loc.last + 1);
    const char *result = tsc_arena_format(ctx->arena, "%s%s", shown, cut ? "..." : "");
    free(shown);
    return result;
}

/* How deep calls and operators may nest in one expression: as deep as
 * brackets may (the scanner's limit). */
enum { MAX_EXPRESSION_DEPTH = 64 };

ast_value *tdl_call_value(tdl_parse_ctx *ctx, tsc_loc loc, ast_call *call)
{
    ast_value *value = tsc_arena_alloc(ctx->arena, sizeof *value);
    value->kind = VALUE_CALL;
    value->loc = loc;
    value->call = call;
    value->text = expression_text(ctx, loc);
    int deepest = 0;
    for (const ast_arg *arg = call->args; arg != NULL && deepest >= 0; arg = arg->next)
        deepest = arg->value->depth < 0 ? -1 : (arg->value->depth > deepest ? arg->value->depth : deepest);
    if (deepest < 0) {
        value->depth = -1;   /* an inner one was reported */
    } else if (deepest + 1 > MAX_EXPRESSION_DEPTH) {
        /* The checker walks expressions recursively: a bound keeps its stack
         * small however long a chain like a + a + … + a is. Brackets nested
         * too deep were reported by the scanner already. */
        if (!ast_file_has_error_in(ctx->file, loc))
            tdl_error(ctx, loc, "E0007", "the expression nests more than %d calls and operators",
                      MAX_EXPRESSION_DEPTH);
        value->depth = -1;
    } else {
        value->depth = deepest + 1;
    }
    return value;
}

/* The op an operator stands for; `x OP number` is rescaling, which the
 * checker decides, since a name may be a const. */
static const char *infix_op(const char *op)
{
    switch (op[0]) {
    case '+': return "add";
    case '-': return "subtract";
    default: return "multiply";
    }
}

ast_value *tdl_infix(tdl_parse_ctx *ctx, tsc_loc loc, const char *op, tsc_loc op_loc, ast_value *a, ast_value *b)
{
    ast_arg *first = ast_new_arg(ctx->arena, a->loc, NULL, (tsc_loc){0}, a);
    first->next = ast_new_arg(ctx->arena, b->loc, NULL, (tsc_loc){0}, b);
    ast_call *call = ast_new_call(ctx->arena, loc, infix_op(op), op_loc, first);
    call->infix = op;
    return tdl_call_value(ctx, loc, call);
}

ast_call *tdl_rhs_call(tdl_parse_ctx *ctx, ast_value *value)
{
    if (value->kind == VALUE_CALL)
        return value->call;
    const char *text = ctx->source->text + value->loc.first;
    size_t length = value->loc.last >= value->loc.first ? value->loc.last - value->loc.first + 1 : 0;
    char *shown = tdl_printable(text, length, 40);
    tdl_error(ctx, value->loc, "E0001", "expected a call or an operator expression but found %s '%s'",
              value->kind == VALUE_IDENT ? "identifier" : "number", shown);
    free(shown);
    return NULL;
}
