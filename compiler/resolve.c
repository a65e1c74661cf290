/* Name resolution and argument binding: walks each model's statements in
 * source order, binds call arguments to the op registry (ops.def), converts
 * their values, fills in the typed defaults, and hands each node to its
 * shape rule (the `check` column of ops.def). A statement with an error binds
 * its name to poison, so later uses stay silent. */
#include <stdlib.h>
#include <string.h>

#include "check_rules.h"

/* The shape rule of every op, from ops.def's `check` column. */
static check_rule *const shape_rules[TSC_OP_COUNT] = {
#define OP(id, name, family, params, flags, shape_rule, check, lower) [TSC_OP_##id] = check,
#include "ops.def"
#undef OP
};

/* ---- names ------------------------------------------------------------- */

static void bind_name(check_ctx *ctx, const char *name, tsc_loc loc, checked_node *node)
{
    check_binding *b = &ctx->bindings[ctx->binding_count++];
    b->name = name;
    b->node = node;
    b->loc = loc;
}

/* Where "did you mean" looks. */
typedef enum suggest_from { SUGGEST_TENSORS, SUGGEST_TENSORS_AND_CONSTS } suggest_from;

/* "did you mean" among the names bound so far (and maybe the consts), as a
 * help with a fix-it. */
static void suggest_name(check_ctx *ctx, const char *name, tsc_loc loc, suggest_from from)
{
    bool with_consts = from == SUGGEST_TENSORS_AND_CONSTS;
    int total = ctx->binding_count;
    for (const ast_const *c = ctx->ast->consts; c != NULL; c = c->next)
        total++;
    if (total == 0)
        return;
    const char **names = tsc_xcalloc((size_t)total, sizeof *names);
    int n = 0;
    for (int i = 0; i < ctx->binding_count; i++)
        names[n++] = ctx->bindings[i].name;
    if (with_consts) {
        for (const ast_const *c = ctx->ast->consts; c != NULL; c = c->next)
            names[n++] = c->name;
    }
    const char *best = tsc_closest_name(name, names, n);
    if (best != NULL) {
        diag_help(loc, "did you mean '%s'?", best);
        diag_fixit(loc, best);
    }
    free(names);
}

/* ---- values ------------------------------------------------------------ */

static void wrong_kind(const checked_node *node, const tsc_param_spec *p, const ast_value *v, const char *expected)
{
    diag_error(v->loc, "E0106", "%s expects %s for '%s', found %s", node->info->name, expected, p->name,
               ast_value_kind_name(v->kind));
}

/* An integer from an INT or an integer const. */
static bool convert_int(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                        int64_t *out)
{
    if (v->kind == VALUE_INT) {
        *out = v->int_value;
        return true;
    }
    if (v->kind == VALUE_IDENT) {
        const ast_const *c = check_find_const(ctx, v->text);
        if (c != NULL && c->value->kind == VALUE_INT) {
            *out = c->value->int_value;
            return true;
        }
        if (c != NULL) {
            diag_error(v->loc, "E0106", "%s expects an integer for '%s', but const '%s' is %g", node->info->name,
                       p->name, v->text, c->value->float_value);
            diag_note(c->loc, "'%s' is defined here", c->name);
            return false;
        }
        if (check_find_binding(ctx, v->text) != NULL) {
            diag_error(v->loc, "E0108", "'%s' is a tensor, but '%s' of %s expects an integer", v->text, p->name,
                       node->info->name);
            return false;
        }
        diag_error(v->loc, "E0107", "undefined name '%s'", v->text);
        suggest_name(ctx, v->text, v->loc, SUGGEST_TENSORS_AND_CONSTS);
        return false;
    }
    wrong_kind(node, p, v, "an integer");
    return false;
}

static bool convert_float(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                          double *out)
{
    if (v->kind == VALUE_FLOAT) {
        *out = v->float_value;
        return true;
    }
    if (v->kind == VALUE_IDENT) {
        const ast_const *c = check_find_const(ctx, v->text);
        if (c != NULL) {
            *out = c->value->kind == VALUE_INT ? (double)c->value->int_value : c->value->float_value;
            return true;
        }
    }
    int64_t i;
    if (v->kind == VALUE_IDENT || v->kind == VALUE_INT) {
        if (!convert_int(ctx, node, p, v, &i))
            return false;
        *out = (double)i;
        return true;
    }
    wrong_kind(node, p, v, "a number");
    return false;
}

static checked_node *check_call(check_ctx *ctx, const ast_call *call, ast_stmt_kind kind, const char *binding);

static bool convert_tensor(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                           checked_node **out)
{
    if (v->kind == VALUE_CALL) {
        /* A nested call or operator: a layer of its own, named by its text. */
        *out = check_call(ctx, v->call, STMT_ASSIGN, v->text);
        return *out != NULL;
    }
    if (v->kind != VALUE_IDENT) {
        diag_error(v->loc, "E0108", "%s expects a tensor for '%s', found %s", node->info->name, p->name,
                   ast_value_kind_name(v->kind));
        return false;
    }
    const check_binding *b = check_find_binding(ctx, v->text);
    if (b != NULL) {
        *out = b->node;
        return b->node != NULL;   /* a poisoned name: its error was reported already */
    }
    const ast_const *c = check_find_const(ctx, v->text);
    if (c != NULL) {
        diag_error(v->loc, "E0108", "'%s' is a const, but '%s' of %s expects a tensor", v->text, p->name,
                   node->info->name);
        diag_note(c->loc, "'%s' is defined here", c->name);
        return false;
    }
    diag_error(v->loc, "E0107", "undefined tensor '%s'", v->text);
    suggest_name(ctx, v->text, v->loc, SUGGEST_TENSORS);
    return false;
}

static bool convert_enum(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                         int *out)
{
    if (v->kind != VALUE_IDENT && v->kind != VALUE_STRING) {
        wrong_kind(node, p, v, "a word");
        return false;
    }
    int count = 0;
    while (p->enum_words[count] != NULL)
        count++;
    for (int i = 0; i < count; i++) {
        if (strcmp(p->enum_words[i], v->text) == 0) {
            *out = i;
            return true;
        }
    }
    if (v->kind == VALUE_IDENT && check_find_binding(ctx, v->text) != NULL) {
        diag_error(v->loc, "E0108", "'%s' is a tensor, but '%s' of %s expects one of its words", v->text, p->name,
                   node->info->name);
        return false;
    }
    const char *list = "";
    for (int i = 0; i < count; i++)
        list = tsc_arena_format(ctx->arena, "%s%s%s", list, i == 0 ? "" : ", ", p->enum_words[i]);
    diag_error(v->loc, "E0106", "'%s' is not a valid %s for %s; expected one of: %s", v->text, p->name,
               node->info->name, list);
    const char *best = tsc_closest_name(v->text, p->enum_words, count);
    if (best != NULL) {
        diag_help(v->loc, "did you mean '%s'?", best);
        diag_fixit(v->loc, best);
    }
    return false;
}

/* n, (h, w), or TensorFlow's (1, h, w, 1). */
static bool convert_pair(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                         check_value *out)
{
    if (v->kind != VALUE_TUPLE && v->kind != VALUE_LIST) {
        if (!convert_int(ctx, node, p, v, &out->ints[0]))
            return false;
        out->ints[1] = out->ints[0];
        out->count = 2;
        return true;
    }
    int64_t items[4];
    int n = 0;
    if (v->item_count == 2 || v->item_count == 4) {
        for (const ast_value *item = v->items; item != NULL; item = item->next) {
            if (!convert_int(ctx, node, p, item, &items[n++]))
                return false;
        }
    }
    if (n == 2) {
        out->ints[0] = items[0];
        out->ints[1] = items[1];
        out->count = 2;
        return true;
    }
    if (n == 4 && items[0] == 1 && items[3] == 1) {
        out->ints[0] = items[1];
        out->ints[1] = items[2];
        out->count = 2;
        return true;
    }
    diag_error(v->loc, "E0106", "%s expects an integer or a pair (rows, columns) for '%s'", node->info->name,
               p->name);
    return false;
}

/* Keras' padding/cropping forms: n, (rows, columns), ((top, bottom),
 * (left, right)), or the same four flat; ints[0, count) in that order. */
static bool convert_sides(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                          check_value *out)
{
    if (v->kind != VALUE_TUPLE && v->kind != VALUE_LIST) {
        out->count = 1;
        return convert_int(ctx, node, p, v, &out->ints[0]);
    }
    bool nested = v->item_count == 2 && v->items->kind != VALUE_INT && v->items->kind != VALUE_IDENT;
    if (v->item_count == 4 || (v->item_count == 2 && !nested)) {
        for (const ast_value *item = v->items; item != NULL; item = item->next)
            if (!convert_int(ctx, node, p, item, &out->ints[out->count++]))
                return false;
        return true;
    }
    for (const ast_value *pair = nested ? v->items : NULL; pair != NULL; pair = pair->next) {
        if ((pair->kind != VALUE_TUPLE && pair->kind != VALUE_LIST) || pair->item_count != 2)
            break;
        for (const ast_value *item = pair->items; item != NULL; item = item->next)
            if (!convert_int(ctx, node, p, item, &out->ints[out->count++]))
                return false;
    }
    if (out->count == 4)
        return true;
    diag_error(v->loc, "E0106", "%s expects '%s' as n, (rows, columns) or ((top, bottom), (left, right))",
               node->info->name, p->name);
    return false;
}

/* A list or tuple of integers; INT_LIST also accepts the batch symbol. */
static bool convert_int_list(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p,
                             const ast_value *v, check_value *out)
{
    if (v->kind != VALUE_TUPLE && v->kind != VALUE_LIST) {
        if (p->kind == TSC_ARG_AXES || v->kind == VALUE_INT) {
            out->count = 1;
            return convert_int(ctx, node, p, v, &out->ints[0]);
        }
        wrong_kind(node, p, v, "a list of integers");
        return false;
    }
    if (v->item_count > TSC_MAX_RANK) {
        diag_error(v->loc, "E0106", "%s expects at most %d entries for '%s', found %d", node->info->name,
                   TSC_MAX_RANK, p->name, v->item_count);
        return false;
    }
    const char *batch = ctx->model->batch_symbol;
    for (const ast_value *item = v->items; item != NULL; item = item->next) {
        int i = out->count++;
        if (p->kind == TSC_ARG_INT_LIST && item->kind == VALUE_IDENT && batch != NULL &&
            strcmp(item->text, batch) == 0 && check_find_const(ctx, item->text) == NULL) {
            out->is_batch[i] = true;
            out->ints[i] = TSC_DIM_BATCH;
            continue;
        }
        if (!convert_int(ctx, node, p, item, &out->ints[i]))
            return false;
    }
    return true;
}

/* The positional tensors bound to a TENSORS parameter (bind_args put their
 * values in tensor_values), or the items of one list written in their place:
 * concat(a, b, c) or concat([a, b, c]). */
static bool convert_tensors(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, check_value *out)
{
    if (out->count == 1 && out->tensor_values[0]->kind == VALUE_LIST) {
        const ast_value *list = out->tensor_values[0];
        out->count = 0;
        out->tensor_values = tsc_arena_alloc(ctx->arena, (size_t)(list->item_count + 1) * sizeof *out->tensor_values);
        for (const ast_value *item = list->items; item != NULL; item = item->next)
            out->tensor_values[out->count++] = item;
    }
    out->tensors = tsc_arena_alloc(ctx->arena, (size_t)(out->count + 1) * sizeof *out->tensors);
    bool ok = true;
    for (int i = 0; i < out->count; i++)
        ok = convert_tensor(ctx, node, p, out->tensor_values[i], &out->tensors[i]) && ok;
    return ok;
}

static bool bind_args(check_ctx *ctx, const checked_node *node, const ast_call *call, check_value *values);

/* A list of numbers of any length (arena), or one number. */
static bool convert_numbers(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                            check_value *out)
{
    int count = v->kind == VALUE_TUPLE || v->kind == VALUE_LIST ? v->item_count : 1;
    double *numbers = tsc_arena_alloc(ctx->arena, (size_t)(count + 1) * sizeof *numbers);
    out->count = 0;
    if (v->kind != VALUE_TUPLE && v->kind != VALUE_LIST) {
        if (!convert_float(ctx, node, p, v, &numbers[0]))
            return false;
        out->count = 1;
    } else {
        for (const ast_value *item = v->items; item != NULL; item = item->next)
            if (!convert_float(ctx, node, p, item, &numbers[out->count++]))
                return false;
    }
    out->numbers = numbers;
    return true;
}

/* learning_rate=: a number, or a schedule call checked by the schedule's own
 * rule (its arguments bound like any call's) into out->schedule. */
static bool convert_rate(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, const ast_value *v,
                         check_value *out)
{
    if (v->kind != VALUE_CALL)
        return convert_float(ctx, node, p, v, &out->number);
    if (v->call->infix != NULL) {
        /* `0.1 * 2` parses as a call of multiply; the rate is a literal. */
        diag_error(v->loc, "E0106", "%s expects a number or a schedule for '%s', found %s", node->info->name,
                   p->name, ast_value_kind_name(v->kind));
        return false;
    }
    const tsc_op_info *info = tsc_op_lookup(v->call->callee);
    if (info == NULL || info->family != TSC_FAMILY_SCHEDULE) {
        diag_error(v->call->callee_loc, "E0106",
                   "%s expects a number or a schedule for '%s', but '%s' is %s", node->info->name, p->name,
                   v->call->callee, info == NULL ? "not an op" : "not a learning-rate schedule");
        diag_help(v->call->callee_loc, "the schedules are exponential_decay, piecewise_constant_decay and "
                                       "cosine_decay");
        return false;
    }
    checked_node *schedule = tsc_arena_alloc(ctx->arena, sizeof *schedule);
    schedule->op = info->op;
    schedule->info = info;
    schedule->call = v->call;
    schedule->loc = v->call->loc;
    schedule->stmt = node->stmt;
    check_value *values = tsc_arena_alloc(ctx->arena, TSC_OP_MAX_PARAMS * sizeof *values);
    bool ok = bind_args(ctx, schedule, v->call, values);
    for (int i = 0; i < info->param_count; i++)
        schedule->args[i] = values[i].arg;
    if (!ok || !shape_rules[info->op](ctx, schedule, values))
        return false;
    out->schedule = schedule->attrs.schedule;
    return true;
}

static bool convert_value(check_ctx *ctx, const checked_node *node, const tsc_param_spec *p, check_value *out)
{
    const ast_value *v = out->arg->value;
    switch (p->kind) {
    case TSC_ARG_TENSOR:
        return convert_tensor(ctx, node, p, v, &out->tensor);
    case TSC_ARG_TENSORS:
        return convert_tensors(ctx, node, p, out);
    case TSC_ARG_INT:
        return convert_int(ctx, node, p, v, &out->ints[0]);
    case TSC_ARG_FLOAT:
        return convert_float(ctx, node, p, v, &out->number);
    case TSC_ARG_BOOL:
        if (v->kind != VALUE_BOOL) {
            wrong_kind(node, p, v, "true or false");
            return false;
        }
        out->flag = v->bool_value;
        return true;
    case TSC_ARG_ENUM:
        return convert_enum(ctx, node, p, v, &out->word);
    case TSC_ARG_INT_PAIR:
        return convert_pair(ctx, node, p, v, out);
    case TSC_ARG_AXES:
    case TSC_ARG_INT_LIST:
        return convert_int_list(ctx, node, p, v, out);
    case TSC_ARG_INT_SIDES:
        return convert_sides(ctx, node, p, v, out);
    case TSC_ARG_STRING:
        if (v->kind != VALUE_STRING) {
            wrong_kind(node, p, v, "a string");
            return false;
        }
        out->text = v->text;
        return true;
    case TSC_ARG_RATE:
        return convert_rate(ctx, node, p, v, out);
    case TSC_ARG_NUMBERS:
        return convert_numbers(ctx, node, p, v, out);
    }
    TSC_UNREACHABLE();
}

/* ---- argument binding ---------------------------------------------------- */

/* The typed default of a parameter the call leaves out (ops.def), so that
 * shape rules read every parameter alike. A rule-computed default leaves
 * the value empty: the rule sees arg == NULL and computes it. */
static void fill_default(const tsc_param_spec *p, check_value *v)
{
    if (p->default_kind != TSC_DEFAULT_VALUE)
        return;
    v->ok = true;
    switch (p->kind) {
    case TSC_ARG_INT:
    case TSC_ARG_AXES:
        v->ints[0] = p->default_int;
        v->count = 1;
        return;
    case TSC_ARG_INT_PAIR:
        v->ints[0] = v->ints[1] = p->default_int;
        v->count = 2;
        return;
    case TSC_ARG_FLOAT:
    case TSC_ARG_RATE:
        v->number = p->default_float;
        return;
    case TSC_ARG_BOOL:
        v->flag = p->default_bool;
        return;
    case TSC_ARG_ENUM:
        for (int w = 0; p->enum_words[w] != NULL; w++) {
            if (strcmp(p->enum_words[w], p->default_word) == 0) {
                v->word = w;
                return;
            }
        }
        TSC_UNREACHABLE();   /* a default word that is not among the words: a registry bug */
    case TSC_ARG_TENSOR:
    case TSC_ARG_TENSORS:
    case TSC_ARG_INT_LIST:
    case TSC_ARG_INT_SIDES:
    case TSC_ARG_STRING:
    case TSC_ARG_NUMBERS:
        break;
    }
    TSC_UNREACHABLE();   /* these kinds have no typed default */
}

/* "x, filters, kernel_size, …" for messages. */
static const char *param_list(check_ctx *ctx, const tsc_op_info *info)
{
    const char *text = "";
    for (int i = 0; i < info->param_count; i++)
        text = tsc_arena_format(ctx->arena, "%s%s%s", text, i == 0 ? "" : ", ", info->params[i].name);
    return text;
}

/* Binds the call's arguments to the op's parameters as Python does: positional
 * ones in table order, then keywords. Returns false after reporting. */
static bool bind_args(check_ctx *ctx, const checked_node *node, const ast_call *call, check_value *values)
{
    const tsc_op_info *info = node->info;
    bool ok = true;
    int position = 0;
    const ast_arg *first_keyword = NULL;
    bool unknown_keyword = false;   /* then a "missing" argument is most likely that one, misspelt */
    for (const ast_arg *arg = call->args; arg != NULL; arg = arg->next) {
        int index;
        if (arg->keyword == NULL) {
            if (first_keyword != NULL) {
                diag_error(arg->loc, "E0105", "positional argument after the keyword argument '%s'",
                           first_keyword->keyword);
                diag_help(arg->loc, "give it by keyword, or move it before '%s='", first_keyword->keyword);
                ok = false;
                continue;
            }
            index = position;
            if (index < info->param_count && info->params[index].kind == TSC_ARG_TENSORS) {
                /* A variadic parameter takes every positional argument from here on. */
                check_value *list = &values[index];
                if (list->tensor_values == NULL)
                    list->tensor_values = tsc_arena_alloc(ctx->arena,
                                                          (size_t)(call->arg_count + 1) * sizeof *list->tensor_values);
                if (list->arg == NULL)
                    list->arg = arg;
                list->tensor_values[list->count++] = arg->value;
                continue;
            }
            position++;
            if (index >= info->param_count) {
                if (index == info->param_count) {
                    int given = 0;
                    for (const ast_arg *a = call->args; a != NULL; a = a->next)
                        given += a->keyword == NULL;
                    diag_error(arg->loc, "E0105", "%s takes at most %d positional argument%s, but %d are given",
                               info->name, info->param_count, info->param_count == 1 ? "" : "s", given);
                    diag_note(call->callee_loc, "its arguments are, in order: %s", param_list(ctx, info));
                }
                ok = false;
                continue;
            }
        } else {
            if (first_keyword == NULL)
                first_keyword = arg;
            index = tsc_op_param_index(info, arg->keyword);
            if (index < 0) {
                diag_error(arg->keyword_loc, "E0102", "%s has no argument '%s'", info->name, arg->keyword);
                const char *names[TSC_OP_MAX_PARAMS];
                for (int i = 0; i < info->param_count; i++)
                    names[i] = info->params[i].name;
                const char *best = tsc_closest_name(arg->keyword, names, info->param_count);
                if (best != NULL) {
                    diag_help(arg->keyword_loc, "did you mean '%s'?", best);
                    diag_fixit(arg->keyword_loc, best);
                }
                unknown_keyword = true;
                ok = false;
                continue;
            }
        }
        if (values[index].arg != NULL) {
            diag_error(arg->loc, "E0103", "argument '%s' of %s is given twice", info->params[index].name,
                       info->name);
            diag_note(values[index].arg->loc, "first given here");
            ok = false;
            continue;
        }
        values[index].arg = arg;
        if (info->params[index].kind == TSC_ARG_TENSORS) {   /* values=[a, b] by keyword */
            values[index].tensor_values = tsc_arena_alloc(ctx->arena, sizeof *values[index].tensor_values);
            values[index].tensor_values[0] = arg->value;
            values[index].count = 1;
        }
    }
    for (int i = 0; i < info->param_count; i++) {
        const tsc_param_spec *p = &info->params[i];
        if (values[i].arg == NULL) {
            if (p->default_kind == TSC_DEFAULT_REQUIRED && !unknown_keyword) {
                diag_error(call->loc, "E0104", "%s is missing its required argument '%s' (%s)", info->name,
                           p->name, p->doc);
                ok = false;
            }
            fill_default(p, &values[i]);
            continue;
        }
        values[i].ok = convert_value(ctx, node, p, &values[i]);
        if (!values[i].ok)
            ok = false;
    }
    return ok;
}

/* ---- nodes ---------------------------------------------------------------- */

/* A node not yet in the graph: a call's operands, which may be nested calls,
 * are added first, so that the nodes stay in a topological order. */
static checked_node *alloc_node(check_ctx *ctx, tsc_op op)
{
    checked_node *node = tsc_arena_alloc(ctx->arena, sizeof *node);
    node->op = op;
    node->info = tsc_op_info_of(op);
    node->stmt = ctx->stmt;
    return node;
}

static void append_node(check_ctx *ctx, checked_node *node)
{
    checked_model *m = ctx->model;
    node->index = m->node_count;
    m->nodes[m->node_count++] = node;
}

static checked_node *new_node(check_ctx *ctx, tsc_op op)
{
    checked_node *node = alloc_node(ctx, op);
    append_node(ctx, node);
    return node;
}

static const checked_node *layer_named(const checked_model *m, const char *name)
{
    for (int i = 0; i < m->node_count; i++) {
        if (m->nodes[i]->layer_name != NULL && strcmp(m->nodes[i]->layer_name, name) == 0)
            return m->nodes[i];
    }
    return NULL;
}

/* The index of the first character of a layer name outside
 * [A-Za-z_][A-Za-z0-9_]*, or its length when there is none. Names become
 * weight-file keys and appear in generated C, so only these are allowed. */
static size_t invalid_name_char(const char *name)
{
    size_t i = 0;
    for (; name[i] != '\0'; i++) {
        char c = name[i];
        bool letter = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
        bool digit = c >= '0' && c <= '9';
        if (!letter && !(digit && i > 0))
            return i;
    }
    return i;
}

/* name="…" or the Keras-style op_N; explicit duplicates are errors. */
static void name_layer(check_ctx *ctx, checked_node *node, const check_value *values)
{
    int name_index = tsc_op_param_index(node->info, "name");
    if (name_index >= 0 && values[name_index].ok) {
        const char *wanted = values[name_index].text;
        size_t bad = invalid_name_char(wanted);
        if (wanted[0] == '\0') {
            diag_error(values[name_index].arg->value->loc, "E0106",
                       "a layer name must not be empty: it prefixes its parameters ('name.kernel')");
        } else if (wanted[bad] != '\0') {
            unsigned char c = (unsigned char)wanted[bad];
            diag_error(values[name_index].arg->value->loc, "E0106",
                       "a layer name may contain only letters, digits and '_', and may not start with a digit, but "
                       "character %zu is %s%c%s (byte 0x%02X): the name prefixes its weights in files and appears in "
                       "the generated C",
                       bad + 1, c >= 0x20 && c < 0x7F ? "'" : "", c >= 0x20 && c < 0x7F ? c : '?',
                       c >= 0x20 && c < 0x7F ? "'" : " (not printable)", c);
            diag_help(values[name_index].arg->value->loc, "use a name like 'encoder_conv1'");
        } else if (layer_named(ctx->model, wanted) != NULL) {
            diag_error(values[name_index].arg->value->loc, "E0109", "layer name '%s' is already used in model '%s'",
                       wanted, ctx->model->name);
            diag_note(layer_named(ctx->model, wanted)->loc, "'%s' is this layer", wanted);
        } else {
            node->layer_name = wanted;
            ctx->explicit_names++;
            return;
        }
    }
    /* Automatic names never collide with each other (one counter per op), so
     * only inputs and name="…" layers need looking at: models stay linear. */
    const char *candidate;
    bool taken;
    do {
        candidate = tsc_arena_format(ctx->arena, "%s_%d", node->info->name, ++ctx->op_counters[node->op]);
        taken = ctx->explicit_names > 0 && layer_named(ctx->model, candidate) != NULL;
        for (int i = 0; i < ctx->model->input_count && !taken; i++)
            taken = strcmp(ctx->model->inputs[i]->layer_name, candidate) == 0;
    } while (taken);
    node->layer_name = candidate;
}

static const char *family_statement(tsc_op_family family)
{
    switch (family) {
    case TSC_FAMILY_LOSS:
        return "a loss: write 'loss NAME = %s(…);'";
    case TSC_FAMILY_METRIC:
        return "a metric: write 'metric NAME = %s(…);'";
    case TSC_FAMILY_OPTIMIZER:
        return "an optimizer: write 'optimizer %s(…);'";
    case TSC_FAMILY_SCHEDULE:
        return "a learning-rate schedule: write 'optimizer adam(learning_rate=%s(…));'";
    default:
        return "a layer: write 'NAME = %s(…);'";
    }
}

static bool family_fits(ast_stmt_kind kind, tsc_op_family family)
{
    switch (kind) {
    case STMT_ASSIGN:
    case STMT_OUTPUT:
        return family == TSC_FAMILY_LAYER || family == TSC_FAMILY_ACTIVATION;
    case STMT_LOSS:
        return family == TSC_FAMILY_LOSS;
    case STMT_METRIC:
        /* As in Keras, a loss may also be watched as a metric. */
        return family == TSC_FAMILY_METRIC || family == TSC_FAMILY_LOSS;
    case STMT_OPTIMIZER:
        return family == TSC_FAMILY_OPTIMIZER;
    case STMT_INPUT:
    case STMT_BROKEN:
        return false;
    }
    return false;
}

/* What a statement calls, for "unknown optimizer 'rmsprop'". */
static const char *statement_callee_kind(ast_stmt_kind kind)
{
    switch (kind) {
    case STMT_LOSS:
        return "loss";
    case STMT_METRIC:
        return "metric";
    case STMT_OPTIMIZER:
        return "optimizer";
    case STMT_INPUT:
    case STMT_ASSIGN:
    case STMT_OUTPUT:
    case STMT_BROKEN:
        break;
    }
    return "op";
}

/* E0101 for a callee that is no op: did-you-mean among the ops that fit the
 * statement, and for losses, metrics and optimizers the whole short list. */
static void report_unknown_op(check_ctx *ctx, const ast_call *call, ast_stmt_kind stmt_kind)
{
    const char *kind = statement_callee_kind(stmt_kind);
    diag_error(call->callee_loc, "E0101", "unknown %s '%s'", kind, call->callee);
    const char *names[TSC_OP_COUNT];
    const char *known = "";
    for (int i = 0; i < TSC_OP_COUNT; i++) {
        const tsc_op_info *info = tsc_op_info_of((tsc_op)i);
        bool fits = i != TSC_OP_INPUT && family_fits(stmt_kind, info->family);
        names[i] = fits ? info->name : NULL;
        if (fits && stmt_kind != STMT_ASSIGN && stmt_kind != STMT_OUTPUT)
            known = tsc_arena_format(ctx->arena, "%s%s%s", known, known[0] ? ", " : "", info->name);
    }
    const char *keras = tsc_op_keras_alias(call->callee);
    const tsc_op_info *alias = keras != NULL ? tsc_op_lookup(keras) : NULL;
    if (alias != NULL && family_fits(stmt_kind, alias->family)) {
        diag_help(call->callee_loc, "'%s' is the Keras name; TDL calls it '%s'", call->callee, keras);
        diag_fixit(call->callee_loc, keras);
        return;
    }
    const char *best = tsc_closest_name(call->callee, names, TSC_OP_COUNT);
    if (best != NULL) {
        diag_help(call->callee_loc, "did you mean '%s'?", best);
        diag_fixit(call->callee_loc, best);
    } else if (known[0] != '\0') {
        diag_help(call->callee_loc, "the %ss tsc has are: %s", kind, known);
    } else {
        diag_help(call->callee_loc, "the ops are listed in docs/ops.md");
    }
}

/* The op of a call in a statement of that kind (a nested call: as in
 * STMT_ASSIGN), or NULL after an error (unknown op, wrong statement). */
static const tsc_op_info *lookup_op(check_ctx *ctx, const ast_call *call, ast_stmt_kind kind)
{
    const tsc_op_info *info = tsc_op_lookup(call->callee);
    if (info == NULL) {
        report_unknown_op(ctx, call, kind);
        return NULL;
    }
    if (!family_fits(kind, info->family)) {
        char *what = tsc_format(family_statement(info->family), info->name);
        diag_error(call->callee_loc, "E0111", "'%s' cannot be used here: it is %s", info->name, what);
        free(what);
        return NULL;
    }
    return info;
}

static bool dims_fit(check_ctx *ctx, const tsc_type *type, tsc_loc loc, const char *what)
{
    int64_t elements;
    if (tsc_type_is_poison(type))
        return true;
    if (!tsc_type_elements(type, 1, 0, &elements)) {
        diag_error(loc, "E0210", "'%s' has more elements than a 64-bit count can hold: %s", what,
                   check_type_str(ctx, type));
        return false;
    }
    if (elements > TSC_MAX_TENSOR_BYTES / 4) {
        diag_error(loc, "E0210", "'%s' needs %lld elements (%s)%s, more than memory can address (%lld bytes at "
                   "most)", what, (long long)elements, check_type_str(ctx, type),
                   tsc_type_has_batch(type) ? " for one example" : "", (long long)TSC_MAX_TENSOR_BYTES);
        return false;
    }
    for (int i = 0; i < type->rank; i++) {
        if (type->dims[i] > INT32_MAX) {
            diag_error(loc, "E0210", "'%s' has a dimension of %lld, above %d, the largest size the runtime takes: %s",
                       what, (long long)type->dims[i], INT32_MAX, check_type_str(ctx, type));
            return false;
        }
    }
    return true;
}

/* E0210 when the model's parameters, with their gradients and up to three
 * optimizer slots each, could no longer be addressed; once per model. */
static bool params_fit(check_ctx *ctx, const checked_node *node)
{
    if (ctx->params_too_large)
        return true;
    for (int i = 0; i < node->param_count; i++) {
        int64_t n = 0;
        (void)tsc_type_elements(&node->params[i].type, 1, 0, &n);   /* dims_fit passed: n < 2^45 */
        ctx->param_floats += n;   /* at most 2^43 before this node, so no wrap */
    }
    if (ctx->param_floats <= TSC_MAX_TENSOR_BYTES / 20)
        return true;
    diag_error(node->loc, "E0210", "with %s the model has %lld parameters: with their gradients and optimizer "
               "state (up to 20 bytes each) more than memory can address (%lld bytes at most)", node->layer_name,
               (long long)ctx->param_floats, (long long)TSC_MAX_TENSOR_BYTES);
    ctx->params_too_large = true;
    return false;
}

/* Checks `x : f32[B, 10] = …` against the computed type. */
static void check_assertion(check_ctx *ctx, const ast_stmt *stmt, const checked_node *node)
{
    const ast_type *want = stmt->type;
    const tsc_type *got = &node->type;
    const char *got_str = check_type_str(ctx, got);
    if (want->dtype != AST_DTYPE_NONE) {
        tsc_dtype dtype = want->dtype == AST_DTYPE_F32 ? TSC_DTYPE_F32 : TSC_DTYPE_I32;
        if (dtype != got->dtype) {
            diag_error(want->loc, "E0206", "'%s' is %s, but its declared type says %s", stmt->name, got_str,
                       tsc_dtype_name(dtype));
            check_note_origin(ctx, node, stmt->name);
            return;
        }
    }
    if (want->rank != got->rank) {
        diag_error(want->loc, "E0206", "'%s' is %s (rank %d), but its declared type has rank %d", stmt->name,
                   got_str, got->rank, want->rank);
        check_note_origin(ctx, node, stmt->name);
        return;
    }
    int i = 0;
    for (const ast_dim *d = want->dims; d != NULL; d = d->next, i++) {
        int64_t expected;
        if (d->kind == DIM_ANY)
            continue;
        if (d->kind == DIM_INT) {
            expected = d->value;
        } else {
            const ast_const *c = check_find_const(ctx, d->name);
            const char *batch = ctx->model->batch_symbol;
            if (c != NULL && c->value->kind == VALUE_INT) {
                expected = c->value->int_value;
            } else if (c == NULL && batch != NULL && strcmp(d->name, batch) == 0) {
                expected = TSC_DIM_BATCH;
            } else {
                diag_error(d->loc, "E0110", "'%s' is neither the batch symbol nor an integer const", d->name);
                return;
            }
        }
        if (expected != got->dims[i]) {
            diag_error(d->loc, "E0206", "'%s' is %s, but its declared type says %s for dimension %d", stmt->name,
                       got_str, expected == TSC_DIM_BATCH ? ctx->model->batch_symbol
                                                          : tsc_arena_format(ctx->arena, "%lld", (long long)expected),
                       i);
            check_note_origin(ctx, node, stmt->name);
            return;
        }
    }
}

/* Builds the node of a call (of a statement of that kind, or nested: then
 * STMT_ASSIGN) after the nodes of its nested calls. `binding` names its value
 * in messages: the statement's name, or a nested call's text. Returns NULL
 * when the op is unknown or misplaced; otherwise a node whose type is POISON
 * after an error. */
static checked_node *check_call(check_ctx *ctx, const ast_call *call, ast_stmt_kind kind, const char *binding)
{
    call = check_operator_call(ctx, call);
    if (call == NULL)
        return NULL;
    const tsc_op_info *info = lookup_op(ctx, call, kind);
    if (info == NULL)
        return NULL;
    /* In the arena, not on the stack: nested calls recurse through here. */
    check_value *values = tsc_arena_alloc(ctx->arena, TSC_OP_MAX_PARAMS * sizeof *values);
    checked_node *node = alloc_node(ctx, info->op);
    node->call = call;
    node->loc = call->loc;
    node->binding = binding;
    bool ok = bind_args(ctx, node, call, values);
    append_node(ctx, node);
    int tensors = 0;
    for (int i = 0; i < info->param_count; i++)
        tensors += info->params[i].kind == TSC_ARG_TENSORS ? values[i].count : 1;
    node->inputs = tsc_arena_alloc(ctx->arena, (size_t)(tensors + 1) * sizeof *node->inputs);
    for (int i = 0; i < info->param_count; i++) {
        node->args[i] = values[i].arg;
        if (!values[i].ok)
            continue;
        if (info->params[i].kind == TSC_ARG_TENSOR)
            node->inputs[node->input_count++] = values[i].tensor;
        else if (info->params[i].kind == TSC_ARG_TENSORS)
            for (int k = 0; k < values[i].count; k++)
                node->inputs[node->input_count++] = values[i].tensors[k];
    }
    name_layer(ctx, node, values);
    if (!ok)
        return node;   /* type stays POISON */
    /* Operands with unknown types are errors reported elsewhere; only a rule
     * that checks each operand on its own runs, to find an independent bug
     * in the others. */
    bool poisoned = false;
    for (int i = 0; i < node->input_count; i++)
        poisoned = poisoned || tsc_type_is_poison(&node->inputs[i]->type);
    if (poisoned && !tsc_op_has(node->op, TSC_OPF_CHECKS_POISON))
        return node;
    if (!shape_rules[node->op](ctx, node, values) || poisoned) {
        node->type.dtype = TSC_DTYPE_POISON;
        return node;
    }
    if (!dims_fit(ctx, &node->type, node->loc, node->layer_name))
        node->type.dtype = TSC_DTYPE_POISON;
    for (int i = 0; i < node->param_count; i++) {
        if (!dims_fit(ctx, &node->params[i].type, node->loc, node->params[i].name))
            node->type.dtype = TSC_DTYPE_POISON;
    }
    if (!tsc_type_is_poison(&node->type) && !params_fit(ctx, node))
        node->type.dtype = TSC_DTYPE_POISON;
    return node;
}

/* ---- statements ------------------------------------------------------------ */

/* The type of an input declaration; POISON after an error. */
static tsc_type input_type(check_ctx *ctx, const ast_stmt *stmt)
{
    const ast_type *t = stmt->type;
    tsc_type type = {0};
    if (t->rank > TSC_MAX_RANK) {
        diag_error(t->loc, "E0203", "input '%s' has rank %d; at most %d is supported", stmt->name, t->rank,
                   TSC_MAX_RANK);
        return type;
    }
    bool ok = true;
    int i = 0;
    for (const ast_dim *d = t->dims; d != NULL; d = d->next, i++) {
        if (d->kind == DIM_ANY) {
            diag_error(d->loc, "E0110", "'_' (any size) is only allowed in shape assertions, not in an input");
            ok = false;
        } else if (d->kind == DIM_INT) {
            if (d->value < 1) {
                diag_error(d->loc, "E0401", "a dimension must be at least 1, found %lld", (long long)d->value);
                ok = false;
            }
            type.dims[i] = d->value;
        } else {
            const ast_const *c = check_find_const(ctx, d->name);
            const char *batch = ctx->model->batch_symbol;
            if (c != NULL) {
                if (c->value->kind != VALUE_INT || c->value->int_value < 1) {
                    diag_error(d->loc, "E0110", "const '%s' cannot be a dimension: it is not a positive integer",
                               d->name);
                    diag_note(c->loc, "'%s' is defined here", c->name);
                    ok = false;
                }
                type.dims[i] = c->value->int_value;
            } else if (i == 0 && (batch == NULL || strcmp(batch, d->name) == 0)) {
                ctx->model->batch_symbol = d->name;
                type.dims[i] = TSC_DIM_BATCH;
            } else if (i == 0) {
                diag_error(d->loc, "E0110", "model '%s' already has the batch symbol '%s'; one per model",
                           ctx->model->name, batch);
                diag_help(d->loc, "use '%s' here too", batch);
                diag_fixit(d->loc, batch);
                ok = false;
            } else if (batch != NULL && strcmp(batch, d->name) == 0) {
                diag_error(d->loc, "E0110", "the batch symbol '%s' can only be the leading dimension", d->name);
                ok = false;
            } else {
                diag_error(d->loc, "E0110", "undefined dimension name '%s': only the leading dimension may be "
                           "symbolic; others are integers or consts", d->name);
                diag_help(d->loc, "write the size, or define it before the model: 'const %s = …;'", d->name);
                ok = false;
            }
        }
    }
    if (!ok)
        return type;
    type.dtype = t->dtype == AST_DTYPE_I32 ? TSC_DTYPE_I32 : TSC_DTYPE_F32;
    type.rank = t->rank;
    if (!dims_fit(ctx, &type, t->loc, stmt->name))
        type.dtype = TSC_DTYPE_POISON;
    return type;
}

static void check_input(check_ctx *ctx, const ast_stmt *stmt)
{
    const check_binding *earlier = check_find_binding(ctx, stmt->name);
    if (earlier != NULL) {
        diag_error(stmt->name_loc, "E0109", "'%s' is already defined in model '%s'", stmt->name, ctx->model->name);
        diag_note(earlier->loc, "'%s' is defined here", stmt->name);
        return;
    }
    const checked_node *layer = layer_named(ctx->model, stmt->name);
    if (layer != NULL) {
        diag_error(stmt->name_loc, "E0109", "input '%s' has the name of a layer; layer and input names are unique in a model",
                   stmt->name);
        diag_note(layer->loc, "this is layer %s", layer->layer_name);
        return;
    }
    checked_node *node = new_node(ctx, TSC_OP_INPUT);
    node->layer_name = stmt->name;
    node->binding = stmt->name;
    node->loc = stmt->name_loc;
    node->type = input_type(ctx, stmt);
    ctx->model->inputs[ctx->model->input_count++] = node;
    bind_name(ctx, stmt->name, stmt->name_loc, node);
}

/* Losses and metrics share one namespace: they are the fields of the
 * generated metrics struct. */
static bool report_name_clash(check_ctx *ctx, const ast_stmt *stmt)
{
    const checked_model *m = ctx->model;
    for (int i = 0; i < m->loss_count; i++) {
        if (strcmp(m->losses[i].name, stmt->name) == 0) {
            diag_error(stmt->name_loc, "E0109", "a loss named '%s' already exists", stmt->name);
            diag_note(m->losses[i].node->stmt->name_loc, "defined here");
            return true;
        }
    }
    for (int i = 0; i < m->metric_count; i++) {
        if (strcmp(m->metrics[i].name, stmt->name) == 0) {
            diag_error(stmt->name_loc, "E0109", "a metric named '%s' already exists", stmt->name);
            diag_note(m->metrics[i].node->stmt->name_loc, "defined here");
            return true;
        }
    }
    return false;
}

static void check_output_name(check_ctx *ctx, const ast_stmt *stmt)
{
    const checked_model *m = ctx->model;
    for (int i = 0; i < m->output_count; i++) {
        if (strcmp(m->outputs[i].name, stmt->name) == 0) {
            diag_error(stmt->name_loc, "E0109", "an output named '%s' already exists", stmt->name);
            diag_note(m->outputs[i].loc, "defined here");
            return;
        }
    }
    for (int i = 0; i < m->input_count; i++) {
        if (strcmp(m->inputs[i]->binding, stmt->name) == 0 && stmt->call != NULL) {
            diag_error(stmt->name_loc, "E0109", "output '%s' has the name of an input; the generated forward "
                       "function takes both as parameters", stmt->name);
            diag_note(m->inputs[i]->loc, "input '%s' is declared here", stmt->name);
            return;
        }
    }
    checked_node *node = check_lookup_tensor(ctx, stmt->name);
    if (node == NULL)
        return;
    checked_output *out = &ctx->model->outputs[ctx->model->output_count++];
    out->name = stmt->name;
    out->node = node;
    out->loc = stmt->name_loc;
}

static void check_statement(check_ctx *ctx, const ast_stmt *stmt)
{
    ctx->stmt = stmt;
    checked_model *m = ctx->model;
    /* A statement lost to a syntax error: its name is poison, so later uses
     * of it stay silent while the rest of the model is checked. */
    if (stmt->kind == STMT_BROKEN || ast_file_has_error_in(ctx->ast, stmt->loc)) {
        if (stmt->name != NULL)
            bind_name(ctx, stmt->name, stmt->name_loc, NULL);
        return;
    }
    /* A statement the parser could only partly build had its syntax error reported. */
    bool needs_call = stmt->kind != STMT_INPUT && stmt->kind != STMT_OUTPUT;
    if ((needs_call && stmt->call == NULL) || (stmt->kind == STMT_INPUT && stmt->type == NULL) ||
        (stmt->kind != STMT_OPTIMIZER && stmt->name == NULL))
        return;
    switch (stmt->kind) {
    case STMT_INPUT:
        check_input(ctx, stmt);
        return;
    case STMT_ASSIGN: {
        checked_node *node = check_call(ctx, stmt->call, stmt->kind, stmt->name);
        if (node != NULL && stmt->type != NULL && !tsc_type_is_poison(&node->type))
            check_assertion(ctx, stmt, node);
        bind_name(ctx, stmt->name, stmt->name_loc, node);
        return;
    }
    case STMT_LOSS:
    case STMT_METRIC: {
        bool clash = report_name_clash(ctx, stmt);
        checked_node *node = check_call(ctx, stmt->call, stmt->kind, stmt->name);
        bind_name(ctx, stmt->name, stmt->name_loc, node);
        if (node == NULL || clash)
            return;
        if (stmt->kind == STMT_LOSS) {
            checked_loss *loss = &m->losses[m->loss_count++];
            loss->name = stmt->name;
            loss->node = node;
            loss->weight = node->attrs.weight;
        } else {
            checked_metric *metric = &m->metrics[m->metric_count++];
            metric->name = stmt->name;
            metric->node = node;
        }
        return;
    }
    case STMT_OUTPUT:
        if (stmt->call != NULL) {
            checked_node *node = check_call(ctx, stmt->call, stmt->kind, stmt->name);
            bind_name(ctx, stmt->name, stmt->name_loc, node);
        } else if (check_find_binding(ctx, stmt->name) == NULL) {
            diag_error(stmt->name_loc, "E0107", "undefined tensor '%s'", stmt->name);
            suggest_name(ctx, stmt->name, stmt->name_loc, SUGGEST_TENSORS);
            return;
        }
        check_output_name(ctx, stmt);
        return;
    case STMT_BROKEN:
        return;   /* handled above */
    case STMT_OPTIMIZER: {
        if (m->optimizer != NULL) {
            diag_error(stmt->call->loc, "E0112", "model '%s' has a second optimizer; one per model", m->name);
            diag_note(m->optimizer->loc, "the first one is here");
            return;
        }
        checked_node *node = check_call(ctx, stmt->call, stmt->kind, stmt->name);
        if (node == NULL)
            return;
        /* The optimizer is configuration, not a vertex of the graph: its
         * rule (check_sgd, check_adam) left the settings in the attributes. */
        m->nodes[--m->node_count] = NULL;
        checked_optimizer *opt = tsc_arena_alloc(ctx->arena, sizeof *opt);
        const checked_attrs *at = &node->attrs;
        opt->op = node->op;
        opt->call = stmt->call;
        opt->loc = stmt->call->loc;
        opt->learning_rate = at->learning_rate;
        opt->schedule = at->schedule;
        opt->momentum = at->momentum;
        opt->nesterov = at->nesterov;
        opt->beta_1 = at->beta_1;
        opt->beta_2 = at->beta_2;
        opt->epsilon = at->epsilon;
        opt->amsgrad = at->amsgrad;
        opt->rho = at->rho;
        opt->centered = at->centered;
        opt->weight_decay = at->weight_decay;
        opt->clipnorm = at->clipnorm;
        opt->clipvalue = at->clipvalue;
        opt->global_clipnorm = at->global_clipnorm;
        m->optimizer = opt;
        return;
    }
    }
}

/* ---- whole model ------------------------------------------------------------- */

/* Marks what reaches a loss, metric or output (nodes are in topological order). */
static void mark_used(check_ctx *ctx)
{
    checked_model *m = ctx->model;
    for (int i = 0; i < m->loss_count; i++)
        m->losses[i].node->used = true;
    for (int i = 0; i < m->metric_count; i++)
        m->metrics[i].node->used = true;
    for (int i = 0; i < m->output_count; i++)
        m->outputs[i].node->used = true;
    for (int i = m->node_count - 1; i >= 0; i--) {
        checked_node *node = m->nodes[i];
        for (int j = 0; j < node->input_count && node->used; j++)
            node->inputs[j]->used = true;
    }
}

/* W0103 for layers whose value reaches nothing at all (the end of a dead
 * branch; the layers before it are not repeated). */
static void warn_unused(check_ctx *ctx)
{
    checked_model *m = ctx->model;
    bool *consumed = tsc_arena_alloc(ctx->arena, (size_t)(m->node_count + 1) * sizeof *consumed);
    for (int i = 0; i < m->node_count; i++) {
        for (int j = 0; j < m->nodes[i]->input_count; j++)
            consumed[m->nodes[i]->inputs[j]->index] = true;
    }
    for (int i = 0; i < m->node_count; i++) {
        checked_node *node = m->nodes[i];
        if (node->used || consumed[i] || node->op == TSC_OP_INPUT || tsc_type_is_poison(&node->type))
            continue;
        diag_warning(node->loc, "W0103", "'%s' (%s) is computed but never reaches a loss, metric or output",
                     node->binding, node->layer_name);
        diag_help(node->loc, "use it, declare it with 'output %s;', or remove this line", node->binding);
    }
}

/* Floats of `count` tensors, saturating at INT64_MAX. */
static int64_t count_floats(const checked_param *tensors, int count, int64_t total)
{
    for (int j = 0; j < count; j++) {
        int64_t n;
        if (!tsc_type_elements(&tensors[j].type, 1, 0, &n) || total > INT64_MAX - n)
            total = INT64_MAX;
        else
            total += n;
    }
    return total;
}

static void count_params(checked_model *m)
{
    int64_t total = 0, state = 0;
    for (int i = 0; i < m->node_count; i++) {
        total = count_floats(m->nodes[i]->params, m->nodes[i]->param_count, total);
        state = count_floats(m->nodes[i]->state, m->nodes[i]->state_count, state);
    }
    m->param_total = total;
    m->state_total = state;
}

/* The calls of a value: nested ones, operators, and those in lists. The
 * recursion is as deep as the value's brackets and calls, which the parser
 * bounds (E0007). */
static size_t value_calls(const ast_value *v)
{
    size_t n = 0;
    if (v->kind == VALUE_CALL) {
        n++;
        for (const ast_arg *arg = v->call->args; arg != NULL; arg = arg->next)
            n += value_calls(arg->value);
    }
    for (const ast_value *item = v->items; item != NULL; item = item->next)
        n += value_calls(item);
    return n;
}

/* The calls nested in a statement's call; none for a statement with an
 * error, which the checker skips (and whose nesting may be unbounded). */
static size_t statement_calls(const ast_file *file, const ast_stmt *stmt)
{
    size_t n = 0;
    if (stmt->call == NULL || ast_file_has_error_in(file, stmt->loc))
        return 0;
    for (const ast_arg *arg = stmt->call->args; arg != NULL; arg = arg->next)
        n += value_calls(arg->value);
    return n;
}

static void check_model(tsc_arena *arena, const ast_file *file, const ast_model *ast, checked_model *m)
{
    check_ctx ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.arena = arena;
    ctx.ast = file;
    ctx.model = m;
    m->name = ast->name;
    m->ast = ast;
    /* Each statement binds at most one name and makes at most one node per
     * call in it (nested ones and operators included). */
    size_t n = 1, nodes = 1;
    for (const ast_stmt *s = ast->stmts; s != NULL; s = s->next) {
        n++;
        nodes += 1 + statement_calls(file, s);
    }
    m->nodes = tsc_arena_alloc(arena, nodes * sizeof *m->nodes);
    m->inputs = tsc_arena_alloc(arena, n * sizeof *m->inputs);
    m->losses = tsc_arena_alloc(arena, n * sizeof *m->losses);
    m->metrics = tsc_arena_alloc(arena, n * sizeof *m->metrics);
    m->outputs = tsc_arena_alloc(arena, n * sizeof *m->outputs);
    ctx.bindings = tsc_arena_alloc(arena, n * sizeof *ctx.bindings);
    int errors_before = diag_error_count();
    for (const ast_stmt *s = ast->stmts; s != NULL; s = s->next)
        check_statement(&ctx, s);
    /* After an error the graph is incomplete: a layer whose user failed to
     * check would look unused, so unused-layer warnings wait for a clean model. */
    mark_used(&ctx);
    if (diag_error_count() == errors_before && file->syntax_error_count == 0)
        warn_unused(&ctx);
    count_params(m);
}

static void check_consts(const ast_file *file)
{
    for (const ast_const *c = file->consts; c != NULL; c = c->next) {
        for (const ast_const *d = file->consts; d != c; d = d->next) {
            if (strcmp(c->name, d->name) == 0) {
                diag_error(c->name_loc, "E0109", "const '%s' is defined twice", c->name);
                diag_note(d->name_loc, "first defined here");
                break;
            }
        }
    }
}

int tsc_check(const ast_file *file, checked_file **out)
{
    int errors_before = diag_error_count();
    tsc_arena *arena = tsc_arena_new();
    checked_file *cf = tsc_arena_alloc(arena, sizeof *cf);
    cf->arena = arena;
    cf->ast = file;
    *out = cf;
    if (file == NULL)
        return 0;
    cf->source = file->source;
    check_consts(file);
    int models = 0;
    for (const ast_model *m = file->models; m != NULL; m = m->next)
        models++;
    cf->models = tsc_arena_alloc(arena, (size_t)(models > 0 ? models : 1) * sizeof *cf->models);
    for (const ast_model *m = file->models; m != NULL; m = m->next) {
        for (int i = 0; i < cf->model_count; i++) {
            if (strcmp(cf->models[i].name, m->name) == 0) {
                diag_error(m->name_loc, "E0109", "model '%s' is defined twice", m->name);
                diag_note(cf->models[i].ast->name_loc, "first defined here");
                break;
            }
        }
        check_model(arena, file, m, &cf->models[cf->model_count++]);
    }
    cf->error_count = diag_error_count() - errors_before;
    return cf->error_count;
}

void checked_file_free(checked_file *file)
{
    if (file != NULL)
        tsc_arena_free(file->arena);
}

const checked_model *checked_file_find_model(const checked_file *file, const char *name)
{
    for (int i = 0; i < file->model_count; i++) {
        if (strcmp(file->models[i].name, name) == 0)
            return &file->models[i];
    }
    return NULL;
}
