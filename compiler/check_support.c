/* What the shape rules share: the checks every rule makes (dtype, rank,
 * axis, range), the notes that explain where a shape came from, fix-its,
 * weights, and the names bound so far. A leaf of the checker: it calls no
 * rule and nothing of resolve.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check_rules.h"

/* ---- names bound so far ---------------------------------------------- */

const check_binding *check_find_binding(const check_ctx *ctx, const char *name)
{
    for (int i = ctx->binding_count - 1; i >= 0; i--) {
        if (strcmp(ctx->bindings[i].name, name) == 0)
            return &ctx->bindings[i];
    }
    return NULL;
}

const ast_const *check_find_const(const check_ctx *ctx, const char *name)
{
    for (const ast_const *c = ctx->ast->consts; c != NULL; c = c->next) {
        if (strcmp(c->name, name) == 0)
            return c;
    }
    return NULL;
}

checked_node *check_lookup_tensor(check_ctx *ctx, const char *name)
{
    const check_binding *b = check_find_binding(ctx, name);
    return b != NULL ? b->node : NULL;
}

/* ---- message helpers --------------------------------------------------- */

const char *check_type_str(check_ctx *ctx, const tsc_type *type)
{
    char *text = tsc_type_string(type, ctx->model->batch_symbol);
    const char *copy = tsc_arena_strndup(ctx->arena, text, strlen(text));
    free(text);
    return copy;
}

tsc_loc check_arg_loc(const checked_node *node, int param)
{
    const ast_arg *arg = node->args[param];
    return arg != NULL ? arg->value->loc : node->loc;
}

const char *check_arg_name(const checked_node *node, int param)
{
    const ast_arg *arg = node->args[param];
    TSC_ASSERT(arg != NULL && (arg->value->kind == VALUE_IDENT || arg->value->kind == VALUE_CALL));
    return arg->value->text;
}

void check_note_origin(check_ctx *ctx, const checked_node *node, const char *shown_name)
{
    const char *type = check_type_str(ctx, &node->type);
    const checked_node *origin = node;
    /* Ops whose output has the shape of their first input: a note about their
     * output's shape is better told about where that input came from. */
    while (origin->shape_reason == NULL && tsc_op_has(origin->op, TSC_OPF_KEEPS_SHAPE) && origin->input_count > 0)
        origin = origin->inputs[0];
    if (origin->op == TSC_OP_INPUT) {
        tsc_loc loc = origin->stmt != NULL && origin->stmt->type != NULL ? origin->stmt->type->loc : origin->loc;
        if (origin == node || strcmp(origin->binding, shown_name) == 0)
            diag_note(loc, "'%s' is declared %s here", shown_name, type);
        else
            diag_note(loc, "'%s' is %s: it has the shape of input '%s', declared here", shown_name, type,
                      origin->binding);
    } else if (origin->shape_reason != NULL) {
        diag_note(origin->loc, "'%s' is %s because %s", shown_name, type, origin->shape_reason);
    } else {
        diag_note(origin->loc, "'%s' is %s, computed here by %s", shown_name, type, origin->info->name);
    }
}

void check_note_dim_origin(check_ctx *ctx, const checked_node *node, const char *shown_name, int dim)
{
    /* Walk back while the size of this dimension comes unchanged from the
     * first input: the note belongs to the op that set it (the stride-2
     * conv), not to the last op on the way (a 1x1 conv that keeps it). */
    const checked_node *origin = node;
    while (origin->input_count > 0 && !tsc_type_is_poison(&origin->inputs[0]->type) &&
           origin->inputs[0]->type.rank == origin->type.rank &&
           origin->inputs[0]->type.dims[dim] == origin->type.dims[dim])
        origin = origin->inputs[0];
    if (origin == node || origin->op == TSC_OP_INPUT || origin->shape_reason == NULL) {
        check_note_origin(ctx, origin == node ? node : origin, origin == node ? shown_name : origin->binding);
        return;
    }
    diag_note(origin->loc, "dimension %d of '%s' (%s) is set here: %s is %s because %s", dim, shown_name,
              check_type_str(ctx, &node->type), origin->binding, check_type_str(ctx, &origin->type),
              origin->shape_reason);
}

const checked_node *check_probability_source(const checked_node *node)
{
    /* A loop, not recursion: chains may be long. Dropout passes values on. */
    while (tsc_op_has(node->op, TSC_OPF_TRAINING_ONLY))
        node = node->inputs[0];
    if (node->info->flags & (TSC_OPF_SQUASH_SOFTMAX | TSC_OPF_SQUASH_SIGMOID))
        return node;
    if (tsc_op_has(node->op, TSC_OPF_WEIGHTS) &&
        (node->attrs.activation == TSC_ACTIVATION_SOFTMAX || node->attrs.activation == TSC_ACTIVATION_SIGMOID))
        return node;
    return NULL;
}

/* ---- shared checks --------------------------------------------------------- */

static const checked_node *tensor_arg(const check_value *values, int param)
{
    return values[param].tensor;
}

/* Reports E0301/E0302 when tensor argument `param` is not of `dtype`. */
bool check_expect_dtype(check_ctx *ctx, const checked_node *node, const check_value *values, int param,
                         tsc_dtype dtype)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.dtype == dtype)
        return true;
    const char *name = check_arg_name(node, param);
    if (dtype == TSC_DTYPE_F32)
        diag_error(check_arg_loc(node, param), "E0301", "%s expects f32 values for '%s', but '%s' is %s",
                   node->info->name, node->info->params[param].name, name, check_type_str(ctx, &x->type));
    else
        diag_error(check_arg_loc(node, param), "E0302", "%s expects i32 class indices for '%s', but '%s' is %s",
                   node->info->name, node->info->params[param].name, name, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

/* Reports E0203 when tensor argument `param` does not have rank `rank`. */
bool check_expect_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param, int rank,
                        const char *layout)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.rank == rank)
        return true;
    const char *name = check_arg_name(node, param);
    diag_error(check_arg_loc(node, param), "E0203", "%s expects a rank-%d input %s, but '%s' is rank %d: %s",
               node->info->name, rank, layout, name, x->type.rank, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

bool check_expect_min_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param,
                            int rank)
{
    const checked_node *x = tensor_arg(values, param);
    if (x->type.rank >= rank)
        return true;
    const char *name = check_arg_name(node, param);
    diag_error(check_arg_loc(node, param), "E0203", "%s expects an input of rank %d or more, but '%s' is %s",
               node->info->name, rank, name, check_type_str(ctx, &x->type));
    check_note_origin(ctx, x, name);
    return false;
}

/* An axis in [-rank, rank) normalised to [0, rank); E0208 otherwise. */
bool check_normalise_axis(check_ctx *ctx, const checked_node *node, int param, int64_t axis, int rank,
                           const checked_node *x, int *out)
{
    if (axis < -rank || axis >= rank) {
        diag_error(check_arg_loc(node, param), "E0208",
                   "axis %lld is out of range for '%s', which is %s: expected %d to %d", (long long)axis,
                   x->binding, check_type_str(ctx, &x->type), -rank, rank - 1);
        return false;
    }
    *out = (int)(axis < 0 ? axis + rank : axis);
    return true;
}

bool check_range_error(const checked_node *node, int param, const char *what, double value)
{
    diag_error(check_arg_loc(node, param), "E0401", "%s of %s must be %s, found %g", node->info->params[param].name,
               node->info->name, what, value);
    return false;
}

/* The source text of a span, for messages that quote the user. */
const char *check_source_text(check_ctx *ctx, tsc_loc loc)
{
    if (loc.file == NULL || loc.last < loc.first || loc.last >= loc.file->length)
        return "";
    return tsc_arena_strndup(ctx->arena, loc.file->text + loc.first, loc.last - loc.first + 1);
}

/* "max_pool2d(pool_size=2)": the op with the given arguments among `keys`,
 * as the user wrote them. */
const char *check_call_summary(check_ctx *ctx, const checked_node *node, const char *const *keys)
{
    char *text = tsc_arena_format(ctx->arena, "%s(", node->info->name);
    bool first = true;
    for (int k = 0; keys[k] != NULL; k++) {
        int i = tsc_op_param_index(node->info, keys[k]);
        if (i < 0 || node->args[i] == NULL)
            continue;
        text = tsc_arena_format(ctx->arena, "%s%s%s=%s", text, first ? "" : ", ", keys[k],
                                check_source_text(ctx, node->args[i]->value->loc));
        first = false;
    }
    return tsc_arena_format(ctx->arena, "%s)", text);
}

tsc_type check_make_type(tsc_dtype dtype, int rank)
{
    tsc_type t;
    memset(&t, 0, sizeof t);
    t.dtype = dtype;
    t.rank = rank;
    return t;
}

tsc_type check_feature_map(const checked_node *x, int64_t height, int64_t width, int64_t channels)
{
    tsc_type t = check_make_type(TSC_DTYPE_F32, 4);
    t.dims[0] = x->type.dims[0];
    t.dims[1] = height;
    t.dims[2] = width;
    t.dims[3] = channels;
    return t;
}

/* The initializer Keras' argument for a weight of `role` names: role
 * "kernel" takes kernel_initializer, "depthwise_kernel" depthwise_initializer,
 * "gamma" gamma_initializer. Every layer with weights takes one such argument
 * per weight (op_params.def), its Keras default filled in when not given. */
static checked_param_init role_initializer(const checked_node *node, const check_value *values, const char *role)
{
    static const char kernel_suffix[] = "_kernel";
    size_t stem = strlen(role), suffix = sizeof kernel_suffix - 1;
    if (stem > suffix && strcmp(role + stem - suffix, kernel_suffix) == 0)
        stem -= suffix;
    char name[64];
    int length = snprintf(name, sizeof name, "%.*s_initializer", (int)stem, role);
    TSC_ASSERT(length > 0 && (size_t)length < sizeof name);
    int index = tsc_op_param_index(node->info, name);
    TSC_ASSERT(index >= 0);
    int word = values[index].word;
    TSC_ASSERT(word >= 0 && word < TSC_INIT_COUNT);
    return (checked_param_init)word;
}

/* A trainable weight, or non-trainable state, named "<layer>.<role>". */
static void add_param(check_ctx *ctx, checked_node *node, const check_value *values, const char *role, tsc_type type,
                      int64_t fan_in, int64_t fan_out, bool trainable)
{
    int *count = trainable ? &node->param_count : &node->state_count;
    TSC_ASSERT(*count < TSC_MAX_NODE_PARAMS);
    checked_param *p = trainable ? &node->params[(*count)++] : &node->state[(*count)++];
    p->name = tsc_arena_format(ctx->arena, "%s.%s", node->layer_name, role);
    p->role = role;
    p->type = type;
    p->init = role_initializer(node, values, role);
    p->fan_in = fan_in;
    p->fan_out = fan_out;
}

void check_add_kernel(check_ctx *ctx, checked_node *node, const check_value *values, const char *role,
                      const int64_t *dims, int rank, int64_t fan_in, int64_t fan_out)
{
    tsc_type kernel = check_make_type(TSC_DTYPE_F32, rank);
    memcpy(kernel.dims, dims, (size_t)rank * sizeof kernel.dims[0]);
    add_param(ctx, node, values, role, kernel, fan_in, fan_out, true);
}

/* A vector of `length` floats named "<layer>.<role>": trainable, or non-trainable state.
 * Keras' fans of a rank-1 tensor are its size, both of them. */
void check_add_vector(check_ctx *ctx, checked_node *node, const check_value *values, const char *role,
                      int64_t length, bool trainable)
{
    tsc_type type = check_make_type(TSC_DTYPE_F32, 1);
    type.dims[0] = length;
    add_param(ctx, node, values, role, type, length, length, trainable);
}

void check_add_bias(check_ctx *ctx, checked_node *node, const check_value *values, int64_t size)
{
    if (node->attrs.use_bias)
        check_add_vector(ctx, node, values, "bias", size, true);
}

/* Kernel and bias of conv2d and dense. */
void check_add_weights(check_ctx *ctx, checked_node *node, const check_value *values, const int64_t *kernel_dims,
                       int kernel_rank, int64_t fan_in, int64_t fan_out, int64_t bias)
{
    check_add_kernel(ctx, node, values, "kernel", kernel_dims, kernel_rank, fan_in, fan_out);
    check_add_bias(ctx, node, values, bias);
}

void check_add_conv_weights(check_ctx *ctx, checked_node *node, const check_value *values, const int64_t kernel[4],
                            int64_t bias)
{
    int64_t area = tsc_mul_saturating(kernel[0], kernel[1]);
    check_add_weights(ctx, node, values, kernel, 4, tsc_mul_saturating(area, kernel[2]),
                      tsc_mul_saturating(area, kernel[3]), bias);
}

/* Fills activation/alpha/use_bias from the arguments of a layer with weights
 * (activation's words are in tsc_activation order; defaults are filled in).
 * The initializers are read as each weight is added (role_initializer). */
void check_layer_options(checked_node *node, const check_value *values)
{
    int act = tsc_op_param_index(node->info, "activation");
    int bias = tsc_op_param_index(node->info, "use_bias");
    TSC_ASSERT(act >= 0 && bias >= 0);
    /* The word after softmax is silu, Keras' other name of swish. */
    int word = values[act].word;
    node->attrs.activation = word > TSC_ACTIVATION_SOFTMAX ? TSC_ACTIVATION_SWISH : (tsc_activation)word;
    /* activation=leaky_relu and activation=elu take their op's default alpha. */
    const tsc_param_spec *slope = &tsc_op_info_of(TSC_OP_LEAKY_RELU)->params[P_leaky_relu_alpha];
    const tsc_param_spec *scale = &tsc_op_info_of(TSC_OP_ELU)->params[P_elu_alpha];
    node->attrs.alpha = node->attrs.activation == TSC_ACTIVATION_LEAKY_RELU ? slope->default_float
                        : node->attrs.activation == TSC_ACTIVATION_ELU      ? scale->default_float
                                                                            : 0.0;
    node->attrs.use_bias = values[bias].flag;
}

/* Whether a fix-it already inserts this statement earlier in the model: it
 * rebinds the name before this statement too (a label column feeding both a
 * loss and in_top_k needs one squeeze, and two would fail). */
static bool already_inserted(check_ctx *ctx, const char *statement)
{
    for (int i = 0; i < ctx->inserted_count; i++) {
        if (strcmp(ctx->inserted[i], statement) == 0)
            return true;
    }
    if (ctx->inserted_count == ctx->inserted_capacity) {
        int capacity = ctx->inserted_capacity > 0 ? 2 * ctx->inserted_capacity : 8;
        const char **grown = tsc_arena_alloc(ctx->arena, (size_t)capacity * sizeof *grown);
        if (ctx->inserted_count > 0)
            memcpy(grown, ctx->inserted, (size_t)ctx->inserted_count * sizeof *grown);
        ctx->inserted = grown;
        ctx->inserted_capacity = capacity;
    }
    ctx->inserted[ctx->inserted_count++] = tsc_arena_strndup(ctx->arena, statement, strlen(statement));
    return false;
}

void check_fixit_before_statement(check_ctx *ctx, const char *statement)
{
    if (already_inserted(ctx, statement))
        return;
    const ast_stmt *stmt = ctx->stmt;
    const char *text = stmt->loc.file->text;
    uint32_t start = stmt->loc.first;
    bool first_on_line = true;
    while (start > 0 && text[start - 1] != '\n') {
        start--;
        first_on_line = first_on_line && (text[start] == ' ' || text[start] == '\t');
    }
    if (!first_on_line) {
        /* Another statement precedes it on the line: insert right before
         * this one, on the same line, never copying the earlier one. */
        diag_fixit((tsc_loc){stmt->loc.file, stmt->loc.first, stmt->loc.first - 1},
                   tsc_arena_format(ctx->arena, "%s ", statement));
        return;
    }
    const char *indent = check_source_text(ctx, (tsc_loc){stmt->loc.file, start, stmt->loc.first - 1});
    diag_fixit((tsc_loc){stmt->loc.file, start, start - 1},
               tsc_arena_format(ctx->arena, "%s%s\n", indent, statement));
}
