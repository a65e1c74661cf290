/* Operator expressions: which op `a + b`, `a - b`, `a * b` stand for. The
 * parser makes each one a call of add, subtract or multiply; here an operand
 * that is a number (a literal or a const, which only the checker can tell
 * from a tensor name) turns it into one rescaling, Keras' y = x*scale + offset. */
#include <string.h>

#include "check_rules.h"

/* A number operand: a literal, or a name that is a const and no tensor
 * (tensor names shadow consts, as everywhere else in a model). */
static bool number_operand(const check_ctx *ctx, const ast_value *v, double *out)
{
    if (v->kind == VALUE_INT) {
        *out = (double)v->int_value;
        return true;
    }
    if (v->kind == VALUE_FLOAT) {
        *out = v->float_value;
        return true;
    }
    if (v->kind != VALUE_IDENT || check_find_binding(ctx, v->text) != NULL)
        return false;
    const ast_const *c = check_find_const(ctx, v->text);
    if (c == NULL)
        return false;
    *out = c->value->kind == VALUE_INT ? (double)c->value->int_value : c->value->float_value;
    return true;
}

/* keyword=number, with its caret on `loc` (where the number was written). */
static ast_arg *number_arg(check_ctx *ctx, const char *keyword, double number, tsc_loc loc)
{
    return ast_new_arg(ctx->arena, loc, keyword, loc, ast_new_float(ctx->arena, loc, number));
}

const ast_call *check_operator_call(check_ctx *ctx, const ast_call *call)
{
    if (call->infix == NULL)
        return call;
    ast_value *a = call->args->value, *b = call->args->next->value;
    double na = 0.0, nb = 0.0;
    bool a_number = number_operand(ctx, a, &na), b_number = number_operand(ctx, b, &nb);
    if (!a_number && !b_number)
        return call;
    if (a_number && b_number) {
        diag_error(call->loc, "E0108", "'%s' needs a tensor on at least one side, but '%s' and '%s' are both numbers",
                   call->infix, check_source_text(ctx, a->loc), check_source_text(ctx, b->loc));
        diag_help(call->loc, "tsc does no arithmetic on numbers: write the result, or define it with 'const'");
        return NULL;
    }
    ast_value *x = a_number ? b : a;
    double number = a_number ? na : nb;
    tsc_loc number_loc = a_number ? a->loc : b->loc;
    /* x*n and n*x scale; x+n and n+x offset; x-n offsets by -n; n-x is -x + n. */
    ast_arg *scale = NULL, *offset = NULL;
    switch (call->infix[0]) {
    case '*':
        scale = number_arg(ctx, "scale", number, number_loc);
        break;
    case '+':
        offset = number_arg(ctx, "offset", number, number_loc);
        break;
    default:
        if (a_number) {
            scale = number_arg(ctx, "scale", -1.0, call->callee_loc);
            offset = number_arg(ctx, "offset", number, number_loc);
        } else {
            offset = number_arg(ctx, "offset", -number, number_loc);
        }
        break;
    }
    ast_arg *first = ast_new_arg(ctx->arena, x->loc, NULL, (tsc_loc){0}, x);
    ast_arg **tail = &first->next;
    if (scale != NULL) {
        *tail = scale;
        tail = &scale->next;
    }
    *tail = offset;
    ast_call *rescaling = ast_new_call(ctx->arena, call->loc, "rescaling", call->callee_loc, first);
    rescaling->infix = call->infix;
    return rescaling;
}
