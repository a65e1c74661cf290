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
