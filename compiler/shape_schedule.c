/* Rules of the learning-rate schedules (keras.optimizers.schedules), which
 * appear only as the value of an optimizer's learning_rate=: each checks its
 * arguments and leaves a checked_schedule in node->attrs.schedule. */
#include <math.h>

#include "check_rules.h"

static checked_schedule *new_schedule(check_ctx *ctx, checked_node *node)
{
    checked_schedule *s = tsc_arena_alloc(ctx->arena, sizeof *s);
    s->op = node->op;
    return s;
}

/* A number >= low (or > low when strict) given to param; E0401 otherwise. */
static bool at_least(const checked_node *node, int param, double value, double low, bool strict)
{
    if (isfinite(value) && (strict ? value > low : value >= low))
        return true;
    return check_range_error(node, param, strict ? (low == 0.0 ? "> 0" : "> the lower limit")
                                                 : (low == 0.0 ? ">= 0" : ">= 1"),
                             value);
}

bool check_exponential_decay(check_ctx *ctx, checked_node *node, const check_value *values)
{
    checked_schedule *s = new_schedule(ctx, node);
    s->initial_learning_rate = values[P_exponential_decay_initial_learning_rate].number;
    s->decay_steps = values[P_exponential_decay_decay_steps].ints[0];
    s->decay_rate = values[P_exponential_decay_decay_rate].number;
    s->staircase = values[P_exponential_decay_staircase].flag;
    bool ok = at_least(node, P_exponential_decay_initial_learning_rate, s->initial_learning_rate, 0.0, true);
    ok = at_least(node, P_exponential_decay_decay_steps, (double)s->decay_steps, 1.0, false) && ok;
    ok = at_least(node, P_exponential_decay_decay_rate, s->decay_rate, 0.0, true) && ok;
    node->attrs.schedule = s;
    return ok;
}

bool check_cosine_decay(check_ctx *ctx, checked_node *node, const check_value *values)
{
    checked_schedule *s = new_schedule(ctx, node);
    s->initial_learning_rate = values[P_cosine_decay_initial_learning_rate].number;
    s->decay_steps = values[P_cosine_decay_decay_steps].ints[0];
    s->alpha = values[P_cosine_decay_alpha].number;
    s->warmup = values[P_cosine_decay_warmup_target].arg != NULL;
    s->warmup_target = s->warmup ? values[P_cosine_decay_warmup_target].number : 0.0;
    s->warmup_steps = values[P_cosine_decay_warmup_steps].ints[0];
    bool ok = at_least(node, P_cosine_decay_initial_learning_rate, s->initial_learning_rate, 0.0, false);
    ok = at_least(node, P_cosine_decay_decay_steps, (double)s->decay_steps, 1.0, false) && ok;
    if (!(s->alpha >= 0.0 && s->alpha <= 1.0))
        ok = check_range_error(node, P_cosine_decay_alpha, "in [0, 1]", s->alpha) && ok;
    if (s->warmup)
        ok = at_least(node, P_cosine_decay_warmup_target, s->warmup_target, 0.0, false) && ok;
    ok = at_least(node, P_cosine_decay_warmup_steps, (double)s->warmup_steps, 0.0, false) && ok;
    if (ok && s->warmup_steps > 0 && !s->warmup) {
        /* Keras ignores warmup_steps without a warmup_target: say so rather than do nothing. */
        diag_error(check_arg_loc(node, P_cosine_decay_warmup_steps), "E0403",
                   "cosine_decay warms up towards warmup_target, but only warmup_steps=%lld is given",
                   (long long)s->warmup_steps);
        diag_help(check_arg_loc(node, P_cosine_decay_warmup_steps),
                  "add warmup_target=RATE (the peak reached after the warmup), or remove warmup_steps");
        ok = false;
    }
    node->attrs.schedule = s;
    return ok;
}

/* The i-th item of a NUMBERS argument, for carets (the whole argument if it is not a list). */
static tsc_loc item_loc(const check_value *v, int i)
{
    const ast_value *list = v->arg->value;
    if (list->kind != VALUE_LIST && list->kind != VALUE_TUPLE)
        return list->loc;
    const ast_value *item = list->items;
    for (int k = 0; k < i && item != NULL; k++)
        item = item->next;
    return item != NULL ? item->loc : list->loc;
}

bool check_piecewise_constant_decay(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const check_value *b = &values[P_piecewise_constant_decay_boundaries];
    const check_value *v = &values[P_piecewise_constant_decay_values];
    checked_schedule *s = new_schedule(ctx, node);
    node->attrs.schedule = s;
    if (v->count != b->count + 1) {
        diag_error(v->arg->value->loc, "E0403",
                   "piecewise_constant_decay needs one value more than boundaries (a rate before the first "
                   "boundary, between each two, and after the last), but %d boundar%s and %d value%s are given",
                   b->count, b->count == 1 ? "y" : "ies", v->count, v->count == 1 ? "" : "s");
        diag_note(b->arg->value->loc, "the boundaries are here");
        return false;
    }
    int64_t *boundaries = tsc_arena_alloc(ctx->arena, (size_t)(b->count + 1) * sizeof *boundaries);
    for (int i = 0; i < b->count; i++) {
        double step = b->numbers[i];
        if (!(step >= 0.0 && step <= 9.0e15) || step != floor(step)) {
            diag_error(item_loc(b, i), "E0403",
                       "boundaries of piecewise_constant_decay are step counts, whole numbers >= 0, found %g", step);
            return false;
        }
        boundaries[i] = (int64_t)step;
        if (i > 0 && boundaries[i] <= boundaries[i - 1]) {
            diag_error(item_loc(b, i), "E0403",
                       "boundaries of piecewise_constant_decay must increase, but %lld follows %lld",
                       (long long)boundaries[i], (long long)boundaries[i - 1]);
            diag_note(item_loc(b, i - 1), "the previous boundary");
            return false;
        }
    }
    for (int i = 0; i < v->count; i++) {
        if (!(v->numbers[i] >= 0.0) || !isfinite(v->numbers[i])) {
            diag_error(item_loc(v, i), "E0401", "values of piecewise_constant_decay must be >= 0, found %g",
                       v->numbers[i]);
            return false;
        }
    }
    s->boundary_count = b->count;
    s->boundaries = boundaries;
    s->values = v->numbers;
    return true;
}

double check_schedule_initial_rate(const checked_schedule *s)
{
    switch (s->op) {
    case TSC_OP_PIECEWISE_CONSTANT_DECAY:
        return s->values != NULL ? s->values[0] : 0.0;
    default:
        return s->initial_learning_rate;
    }
}
