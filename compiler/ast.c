/* AST constructors: every node lives in the file's arena, so the grammar
 * actions never free anything and error recovery cannot leak. */
#include "ast.h"

static ast_value *new_value(tsc_arena *a, tsc_loc loc, ast_value_kind kind)
{
    ast_value *value = tsc_arena_alloc(a, sizeof *value);
    value->kind = kind;
    value->loc = loc;
    return value;
}

ast_value *ast_new_int(tsc_arena *a, tsc_loc loc, int64_t v)
{
    ast_value *value = new_value(a, loc, VALUE_INT);
    value->int_value = v;
    return value;
}

ast_value *ast_new_float(tsc_arena *a, tsc_loc loc, double v)
{
    ast_value *value = new_value(a, loc, VALUE_FLOAT);
    value->float_value = v;
    return value;
}

ast_value *ast_new_string(tsc_arena *a, tsc_loc loc, const char *text)
{
    ast_value *value = new_value(a, loc, VALUE_STRING);
    value->text = text;
    return value;
}

ast_value *ast_new_bool(tsc_arena *a, tsc_loc loc, bool v)
{
    ast_value *value = new_value(a, loc, VALUE_BOOL);
    value->bool_value = v;
    return value;
}

ast_value *ast_new_ident(tsc_arena *a, tsc_loc loc, const char *name)
{
    ast_value *value = new_value(a, loc, VALUE_IDENT);
    value->text = name;
    return value;
}

/* items is a list already chained through next. */
ast_value *ast_new_seq(tsc_arena *a, tsc_loc loc, ast_value_kind kind, ast_value *items)
{
    TSC_ASSERT(kind == VALUE_TUPLE || kind == VALUE_LIST);
    ast_value *value = new_value(a, loc, kind);
    value->items = items;
    for (ast_value *item = items; item; item = item->next) {
        value->item_count++;
        if (item->depth < 0 || value->depth < 0)
            value->depth = -1;
        else if (item->depth > value->depth)
            value->depth = item->depth;
    }
    return value;
}

ast_arg *ast_new_arg(tsc_arena *a, tsc_loc loc, const char *keyword, tsc_loc keyword_loc, ast_value *value)
{
    ast_arg *arg = tsc_arena_alloc(a, sizeof *arg);
    arg->keyword = keyword;
    arg->keyword_loc = keyword_loc;
    arg->value = value;
    arg->loc = loc;
    return arg;
}

ast_call *ast_new_call(tsc_arena *a, tsc_loc loc, const char *callee, tsc_loc callee_loc, ast_arg *args)
{
    ast_call *call = tsc_arena_alloc(a, sizeof *call);
    call->callee = callee;
    call->callee_loc = callee_loc;
    call->args = args;
    call->loc = loc;
    for (ast_arg *arg = args; arg; arg = arg->next)
        call->arg_count++;
    return call;
}

ast_dim *ast_new_dim(tsc_arena *a, tsc_loc loc, ast_dim_kind kind, int64_t value, const char *name)
{
    ast_dim *dim = tsc_arena_alloc(a, sizeof *dim);
    dim->kind = kind;
    dim->value = value;
    dim->name = name;
    dim->loc = loc;
    return dim;
}

ast_type *ast_new_type(tsc_arena *a, tsc_loc loc, ast_dtype dtype, ast_dim *dims)
{
    ast_type *type = tsc_arena_alloc(a, sizeof *type);
    type->dtype = dtype;
    type->dims = dims;
    type->loc = loc;
    for (ast_dim *dim = dims; dim; dim = dim->next)
        type->rank++;
    return type;
}

ast_stmt *ast_new_stmt(tsc_arena *a, tsc_loc loc, ast_stmt_kind kind, const char *name, tsc_loc name_loc,
                       ast_type *type, ast_call *call)
{
    ast_stmt *stmt = tsc_arena_alloc(a, sizeof *stmt);
    stmt->kind = kind;
    stmt->name = name;
    stmt->name_loc = name_loc;
    stmt->type = type;
    stmt->call = call;
    stmt->loc = loc;
    return stmt;
}

ast_model *ast_new_model(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_stmt *stmts)
{
    ast_model *model = tsc_arena_alloc(a, sizeof *model);
    model->name = name;
    model->name_loc = name_loc;
    model->stmts = stmts;
    model->loc = loc;
    for (ast_stmt *stmt = stmts; stmt; stmt = stmt->next)
        model->stmt_count++;
    return model;
}

ast_const *ast_new_const(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_value *value)
{
    ast_const *constant = tsc_arena_alloc(a, sizeof *constant);
    constant->name = name;
    constant->name_loc = name_loc;
    constant->value = value;
    constant->loc = loc;
    return constant;
}

const char *ast_value_kind_name(ast_value_kind kind)
{
    switch (kind) {
    case VALUE_INT: return "an integer";
    case VALUE_FLOAT: return "a float";
    case VALUE_STRING: return "a string";
    case VALUE_BOOL: return "a boolean";
    case VALUE_IDENT: return "a name";
    case VALUE_TUPLE: return "a tuple";
    case VALUE_LIST: return "a list";
    case VALUE_CALL: return "an expression";
    }
    TSC_UNREACHABLE();
}

void ast_file_free(ast_file *file)
{
    if (!file)
        return;
    /* The file node itself lives in its arena. */
    tsc_arena_free(file->arena);
}
