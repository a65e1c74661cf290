/* Shape and dtype rules of the losses, the metrics and the optimizers
 * (SPEC §3). Losses and metrics are scalars: f32[]. */
#include <math.h>
#include <string.h>

#include "check_rules.h"

static const char *dim_str(check_ctx *ctx, int64_t d)
{
    if (d == TSC_DIM_BATCH)
        return ctx->model->batch_symbol != NULL ? ctx->model->batch_symbol : "B";
    return tsc_arena_format(ctx->arena, "%lld", (long long)d);
}

static const checked_node *input_origin(const checked_node *node)
{
    while (tsc_op_has(node->op, TSC_OPF_TRAINING_ONLY))   /* dropout passes values on */
        node = node->inputs[0];
    return node->op == TSC_OP_INPUT ? node : NULL;
}

/* W0102: f32 labels where i32 class indices are expected. The generated
 * code converts them (as Keras casts), but fractional labels would be cut. */
static void warn_f32_indices(check_ctx *ctx, checked_node *node, int param, const checked_node *y)
{
    const char *name = check_arg_name(node, param);
    diag_warning(check_arg_loc(node, param), "W0102",
                 "'%s' is %s, but %s expects i32 class indices for '%s'; each value is converted to int32, so a "
                 "fractional label is silently truncated",
                 name, check_type_str(ctx, &y->type), node->info->name, node->info->params[param].name);
    const checked_node *input = input_origin(y);
    if (input != NULL && input->stmt->type->dtype == AST_DTYPE_F32) {
        tsc_loc dtype = input->stmt->type->loc;
        dtype.last = dtype.first + 2;
        diag_help(dtype, "declare input '%s' as i32", input->binding);
        diag_fixit(dtype, "i32");
    }
    node->attrs.labels_f32 = true;
}

/* The span of argument `arg` with the ", " before it, to delete it. */
static tsc_loc arg_with_separator(const ast_call *call, const ast_arg *arg)
{
    tsc_loc span = arg->loc;
    for (const ast_arg *a = call->args; a != NULL && a->next != NULL; a = a->next) {
        if (a->next == arg)
            span.first = a->loc.last + 1;
    }
    return span;
}

/* W0101: probabilities fed where a loss applies softmax/sigmoid itself. */
/* The loss applies `applied` ("softmax" or "sigmoid") to argument `param`
 * itself: a softmax or sigmoid output fed to it is squashed twice. */
static void warn_probabilities(check_ctx *ctx, const checked_node *node, int param, const char *applied)
{
    const checked_node *source = check_probability_source(node->inputs[param]);
    if (source == NULL)
        return;
    bool squash_op = (source->info->flags & (TSC_OPF_SQUASH_SIGMOID | TSC_OPF_SQUASH_SOFTMAX)) != 0;
    bool is_sigmoid = tsc_op_has(source->op, TSC_OPF_SQUASH_SIGMOID) ||
                      (!squash_op && source->attrs.activation == TSC_ACTIVATION_SIGMOID);
    const char *fn = is_sigmoid ? "sigmoid" : "softmax";
    const char *name = check_arg_name(node, param);
    diag_warning(check_arg_loc(node, param), "W0101",
                 "'%s' is already a %s output, but %s applies %s to its %s itself: the loss sees %s(%s(x)) and "
                 "barely falls",
                 name, fn, node->info->name, applied, node->info->params[param].name, applied, fn);
    diag_note(source->loc, "%s is applied here", fn);
    if (squash_op) {
        const checked_node *logits = source->inputs[0];
        if (logits->binding != NULL && check_lookup_tensor(ctx, logits->binding) == logits) {
            diag_help(check_arg_loc(node, param), "pass the logits '%s' instead", logits->binding);
            diag_fixit(check_arg_loc(node, param), logits->binding);
        }
    } else {
        int act = tsc_op_param_index(source->info, "activation");
        const ast_arg *arg = source->args[act];
        diag_help(arg->loc, "remove activation=%s from %s and keep it only for the output", fn, source->layer_name);
        diag_fixit(arg_with_separator(source->call, arg), "");
    }
}

/* Whether an operand was written as a name: the fix-its below rebind it in
 * a statement before this one, which a sub-expression ('relu(x)') cannot be. */
static bool is_plain_name(const char *name)
{
    for (const char *c = name; *c != '\0'; c++) {
        bool letter = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_';
        if (!letter && !(c > name && *c >= '0' && *c <= '9'))
            return false;
    }
    return name[0] != '\0';
}

/* Labels with a trailing size-1 axis ([B,1] for [B]): offer squeeze. */
static void help_squeeze(check_ctx *ctx, const checked_node *node, const checked_node *y, const char *name)
{
    if (y->type.rank < 1 || y->type.dims[y->type.rank - 1] != 1 || !is_plain_name(name))
        return;
    tsc_type squeezed = y->type;
    squeezed.rank--;
    const char *fix = tsc_arena_format(ctx->arena, "%s = squeeze(%s, axis=-1);", name, name);
    diag_help(node->loc, "insert '%s' (gives %s) before this line", fix, check_type_str(ctx, &squeezed));
    check_fixit_before_statement(ctx, fix);
}

/* The labels and the logits (or predictions) of a loss or metric: the
 * first two parameters of every loss list and of accuracy's. */
enum { LABELS = 0, LOGITS = 1 };
#define TAKES_LABELS_LOGITS(list, labels, logits) ((int)P_##list##_##labels == LABELS && (int)P_##list##_##logits == LOGITS)
_Static_assert(TAKES_LABELS_LOGITS(sparse_xent, labels, logits) && TAKES_LABELS_LOGITS(dense_xent, labels, logits) &&
               TAKES_LABELS_LOGITS(binary_xent, labels, x) && TAKES_LABELS_LOGITS(focal, labels, logits) &&
               TAKES_LABELS_LOGITS(mse, labels, predictions) && TAKES_LABELS_LOGITS(huber, labels, predictions) &&
               TAKES_LABELS_LOGITS(accuracy, labels, logits),
               "losses and accuracy take (labels, logits) first");

/* Scores f32[B,H,W,C] where one row per example is wanted: offer pooling
 * the positions away (with a fix-it: a new name, so later uses of the
 * feature map are left as they are) or flatten plus dense. */
static void help_pool_scores(check_ctx *ctx, const checked_node *node, const checked_node *p, const char *name)
{
    if (!is_plain_name(name))
        return;
    tsc_type pooled = check_make_type(TSC_DTYPE_F32, 2);
    pooled.dims[0] = p->type.dims[0];
    pooled.dims[1] = p->type.dims[3];
    int64_t features;
    if (!tsc_type_elements(&p->type, 1, 1, &features))
        return;
    tsc_type flat = pooled;
    flat.dims[1] = features;
    const char *pooled_name = tsc_arena_format(ctx->arena, "%s_pooled", name);
    bool free_name = check_find_binding(ctx, pooled_name) == NULL;
    diag_help(node->loc, "pool the %lldx%lld positions away: insert '%s = global_avg_pool2d(%s);' (gives %s) before "
              "this line and pass '%s'; or flatten it (%s) and add a dense layer with units=%lld",
              (long long)p->type.dims[1], (long long)p->type.dims[2], pooled_name, name,
              check_type_str(ctx, &pooled), pooled_name, check_type_str(ctx, &flat), (long long)p->type.dims[3]);
    if (free_name) {
        check_fixit_before_statement(ctx, tsc_arena_format(ctx->arena, "%s = global_avg_pool2d(%s);", pooled_name, name));
        diag_fixit(check_arg_loc(node, P_in_top_k_predictions), pooled_name);
    }
}

/* Logits f32[…,C] and i32 labels of rank − 1 with the same leading dims. */
static bool check_sparse_pair(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *y = values[LABELS].tensor;
    const checked_node *l = values[LOGITS].tensor;
    if (!check_expect_dtype(ctx, node, values, LOGITS, TSC_DTYPE_F32) ||
        !check_expect_min_rank(ctx, node, values, LOGITS, 1))
        return false;
    const char *yname = check_arg_name(node, LABELS);
    const char *lname = check_arg_name(node, LOGITS);
    if (y->type.rank != l->type.rank - 1) {
        diag_error(check_arg_loc(node, LABELS), "E0203",
                   "%s expects labels of rank %d (one class index per position of logits '%s', %s), but '%s' is "
                   "rank %d: %s",
                   node->info->name, l->type.rank - 1, lname, check_type_str(ctx, &l->type), yname, y->type.rank,
                   check_type_str(ctx, &y->type));
        check_note_origin(ctx, y, yname);
        if (y->type.rank == l->type.rank && node->op == TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY &&
            y->type.dtype == TSC_DTYPE_F32) {
            diag_help(node->call->callee_loc, "if '%s' holds one-hot rows, use softmax_cross_entropy", yname);
            diag_fixit(node->call->callee_loc, "softmax_cross_entropy");
        } else if (y->type.rank == l->type.rank) {
            help_squeeze(ctx, node, y, yname);
        }
        return false;
    }
    for (int i = 0; i < y->type.rank; i++) {
        if (y->type.dims[i] != l->type.dims[i]) {
            diag_error(check_arg_loc(node, LABELS), "E0205",
                       "labels '%s' must match the leading dims of logits '%s': dimension %d is %s in %s but %s in %s",
                       yname, lname, i, dim_str(ctx, y->type.dims[i]), check_type_str(ctx, &y->type),
                       dim_str(ctx, l->type.dims[i]), check_type_str(ctx, &l->type));
            check_note_dim_origin(ctx, y, yname, i);
            check_note_dim_origin(ctx, l, lname, i);
            return false;
        }
    }
    if (y->type.dtype == TSC_DTYPE_F32)
        warn_f32_indices(ctx, node, LABELS, y);
    node->attrs.sparse_labels = true;
    node->attrs.classes = l->type.dims[l->type.rank - 1];
    return true;
}

/* Labels and predictions: f32 of one shape. */
static bool check_same_shape(check_ctx *ctx, checked_node *node, const check_value *values)
{
    const checked_node *y = values[LABELS].tensor;
    const checked_node *p = values[LOGITS].tensor;
    const char *yname = check_arg_name(node, LABELS);
    const char *pname = check_arg_name(node, LOGITS);
    if (!check_expect_dtype(ctx, node, values, LOGITS, TSC_DTYPE_F32))
        return false;
    bool softmax_based = node->op == TSC_OP_SOFTMAX_CROSS_ENTROPY;
    if (y->type.dtype != TSC_DTYPE_F32) {
        diag_error(check_arg_loc(node, LABELS), "E0301",
                   "%s expects f32 labels of the shape of '%s' (%s), but '%s' is %s", node->info->name, pname,
                   check_type_str(ctx, &p->type), yname, check_type_str(ctx, &y->type));
        check_note_origin(ctx, y, yname);
        if (softmax_based && y->type.rank == p->type.rank - 1) {
            diag_help(node->call->callee_loc, "'%s' holds class indices: use sparse_softmax_cross_entropy", yname);
            diag_fixit(node->call->callee_loc, "sparse_softmax_cross_entropy");
        }
        return false;
    }
    if (!tsc_type_equal(&y->type, &p->type)) {
        diag_error(check_arg_loc(node, LABELS), "E0204", "%s needs labels of the shape of '%s' (%s), but '%s' is %s",
                   node->info->name, pname, check_type_str(ctx, &p->type), yname, check_type_str(ctx, &y->type));
        check_note_origin(ctx, y, yname);
        check_note_origin(ctx, p, pname);
        if (softmax_based && y->type.rank == p->type.rank - 1)
            diag_help(node->call->callee_loc, "if '%s' holds class indices, declare it i32 and use "
                      "sparse_softmax_cross_entropy", yname);
        return false;
    }
    node->attrs.sparse_labels = false;
    node->attrs.classes = p->type.rank > 0 ? p->type.dims[p->type.rank - 1] : 1;
    return true;
}

/* The interval a float argument must lie in. */
typedef enum number_range {
    RANGE_NON_NEGATIVE,   /* [0, inf) */
    RANGE_POSITIVE,       /* (0, inf) */
    RANGE_UNIT_OPEN,      /* [0, 1) */
    RANGE_UNIT_CLOSED,    /* [0, 1] */
} number_range;

static bool in_range(double v, number_range range)
{
    switch (range) {
    case RANGE_NON_NEGATIVE:
        return v >= 0 && isfinite(v);
    case RANGE_POSITIVE:
        return v > 0 && isfinite(v);
    case RANGE_UNIT_OPEN:
        return v >= 0 && v < 1;
    case RANGE_UNIT_CLOSED:
        return v >= 0 && v <= 1;
    }
    return false;
}

static const char *range_text(number_range range)
{
    static const char *const text[] = {">= 0", "> 0", "in [0, 1)", "in [0, 1]"};
    return text[range];
}

/* A float argument of a loss or an optimizer (given or defaulted) within its
 * range; E0401 otherwise. */
static bool float_arg(const checked_node *node, const check_value *values, int param, number_range range,
                      double *out)
{
    double v = values[param].number;
    if (in_range(v, range)) {
        *out = v;
        return true;
    }
    diag_error(check_arg_loc(node, param), "E0401", "%s of %s must be %s, found %g", node->info->params[param].name,
               node->info->name, range_text(range), v);
    return false;
}

/* The scalar result of a loss or metric whose operands checked out. */
static bool scalar_result(checked_node *node, bool ok)
{
    if (ok)
        node->type = check_make_type(TSC_DTYPE_F32, 0);
    return ok;
}

/* ---- losses ------------------------------------------------------------------ */

bool check_sparse_softmax_xent(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!float_arg(node, values, P_sparse_xent_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) ||
        !float_arg(node, values, P_sparse_xent_label_smoothing, RANGE_UNIT_CLOSED, &node->attrs.label_smoothing) ||
        !check_sparse_pair(ctx, node, values))
        return false;
    warn_probabilities(ctx, node, LOGITS, "softmax");
    return scalar_result(node, true);
}

bool check_softmax_xent(check_ctx *ctx, checked_node *node, const check_value *values)
{
    if (!float_arg(node, values, P_dense_xent_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) ||
        !float_arg(node, values, P_dense_xent_label_smoothing, RANGE_UNIT_CLOSED, &node->attrs.label_smoothing) ||
        !check_same_shape(ctx, node, values))
        return false;
    warn_probabilities(ctx, node, LOGITS, "softmax");
    return scalar_result(node, true);
}

bool check_sigmoid_xent(check_ctx *ctx, checked_node *node, const check_value *values)
{
    node->attrs.from_logits = true;
    if (!float_arg(node, values, P_dense_xent_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) ||
        !float_arg(node, values, P_dense_xent_label_smoothing, RANGE_UNIT_CLOSED, &node->attrs.label_smoothing) ||
        !check_same_shape(ctx, node, values))
        return false;
    warn_probabilities(ctx, node, LOGITS, "sigmoid");
    return scalar_result(node, true);
}

bool check_binary_xent(check_ctx *ctx, checked_node *node, const check_value *values)
{
    node->attrs.from_logits = values[P_binary_xent_from_logits].flag;
    if (!float_arg(node, values, P_binary_xent_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) ||
        !float_arg(node, values, P_binary_xent_label_smoothing, RANGE_UNIT_CLOSED, &node->attrs.label_smoothing) ||
        !check_same_shape(ctx, node, values))
        return false;
    if (node->attrs.from_logits)
        warn_probabilities(ctx, node, LOGITS, "sigmoid");
    return scalar_result(node, true);
}

bool check_focal_loss(check_ctx *ctx, checked_node *node, const check_value *values)
{
    checked_attrs *at = &node->attrs;
    if (!float_arg(node, values, P_focal_weight, RANGE_NON_NEGATIVE, &at->weight) ||
        !float_arg(node, values, P_focal_gamma, RANGE_NON_NEGATIVE, &at->gamma) ||
        !float_arg(node, values, P_focal_alpha, RANGE_UNIT_CLOSED, &at->alpha) ||
        !float_arg(node, values, P_focal_label_smoothing, RANGE_UNIT_CLOSED, &at->label_smoothing))
        return false;
    const checked_node *y = values[LABELS].tensor;
    const checked_node *l = values[LOGITS].tensor;
    bool sparse = y->type.dtype == TSC_DTYPE_I32 || y->type.rank == l->type.rank - 1;
    if (!(sparse ? check_sparse_pair(ctx, node, values) : check_same_shape(ctx, node, values)))
        return false;
    /* Class indices: softmax focal loss; targets of the logits' shape: sigmoid
     * focal loss (torchvision's). Either way a probability output fed to it
     * is squashed twice. */
    warn_probabilities(ctx, node, LOGITS, sparse ? "softmax" : "sigmoid");
    return scalar_result(node, true);
}

/* mean_squared_error and mean_absolute_error: one parameter list, one rule. */
static bool check_regression(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return float_arg(node, values, P_mse_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) &&
           scalar_result(node, check_same_shape(ctx, node, values));
}

bool check_mean_squared_error(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return check_regression(ctx, node, values);
}

bool check_mean_absolute_error(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return check_regression(ctx, node, values);
}

bool check_huber(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return float_arg(node, values, P_huber_weight, RANGE_NON_NEGATIVE, &node->attrs.weight) &&
           float_arg(node, values, P_huber_delta, RANGE_POSITIVE, &node->attrs.delta) &&
           scalar_result(node, check_same_shape(ctx, node, values));
}

/* ---- metrics ----------------------------------------------------------------- */

bool check_in_top_k(check_ctx *ctx, checked_node *node, const check_value *values)
{
    /* Each operand on its own first (either may be poison: TSC_OPF_CHECKS_POISON). */
    const checked_node *p = values[P_in_top_k_predictions].tensor;
    const checked_node *t = values[P_in_top_k_targets].tensor;
    bool p_ok = !tsc_type_is_poison(&p->type) &&
                check_expect_dtype(ctx, node, values, P_in_top_k_predictions, TSC_DTYPE_F32);
    if (p_ok && !check_expect_rank(ctx, node, values, P_in_top_k_predictions, 2, "[batch, classes]")) {
        if (p->type.rank == 4)
            help_pool_scores(ctx, node, p, check_arg_name(node, P_in_top_k_predictions));
        p_ok = false;
    }
    bool t_ok = !tsc_type_is_poison(&t->type);
    if (t_ok && !check_expect_rank(ctx, node, values, P_in_top_k_targets, 1, "[batch]")) {
        if (t->type.rank == 2)
            help_squeeze(ctx, node, t, check_arg_name(node, P_in_top_k_targets));
        t_ok = false;
    }
    if (!p_ok || !t_ok)
        return false;
    const char *pname = check_arg_name(node, P_in_top_k_predictions);
    const char *tname = check_arg_name(node, P_in_top_k_targets);
    if (p->type.dims[0] != t->type.dims[0]) {
        diag_error(check_arg_loc(node, P_in_top_k_targets), "E0205",
                   "in_top_k needs one target per row of predictions, but '%s' has batch size %s (%s) and '%s' "
                   "has batch size %s (%s)",
                   pname, dim_str(ctx, p->type.dims[0]), check_type_str(ctx, &p->type), tname,
                   dim_str(ctx, t->type.dims[0]), check_type_str(ctx, &t->type));
        check_note_dim_origin(ctx, p, pname, 0);
        check_note_dim_origin(ctx, t, tname, 0);
        return false;
    }
    int64_t classes = p->type.dims[1];
    int64_t k = values[P_in_top_k_k].ints[0];
    if (k < 1 || k > classes) {
        diag_error(check_arg_loc(node, P_in_top_k_k), "E0401",
                   "k of in_top_k must be between 1 and the %lld classes of '%s' (%s), found %lld",
                   (long long)classes, pname, check_type_str(ctx, &p->type), (long long)k);
        return false;
    }
    if (t->type.dtype == TSC_DTYPE_F32)
        warn_f32_indices(ctx, node, P_in_top_k_targets, t);
    node->attrs.k = k;
    node->attrs.classes = classes;
    node->attrs.sparse_labels = true;
    return scalar_result(node, true);
}

bool check_accuracy(check_ctx *ctx, checked_node *node, const check_value *values)
{
    node->attrs.k = 1;
    return scalar_result(node, check_sparse_pair(ctx, node, values));
}

bool check_mean(check_ctx *ctx, checked_node *node, const check_value *values)
{
    return scalar_result(node, check_expect_dtype(ctx, node, values, P_mean_x, TSC_DTYPE_F32));
}

/* ---- optimizers: their settings go to node->attrs, then to the model's
 * checked_optimizer (resolve.c) ------------------------------------------------ */

/* learning_rate=: a number > 0, or a schedule (checked by its own rule when
 * the argument was bound), whose value at step 0 stands for the rate. */
static bool rate_arg(checked_node *node, const check_value *values, int param)
{
    checked_attrs *at = &node->attrs;
    at->schedule = values[param].schedule;
    if (at->schedule == NULL)
        return float_arg(node, values, param, RANGE_POSITIVE, &at->learning_rate);
    at->learning_rate = check_schedule_initial_rate(at->schedule);
    return true;
}

/* clipnorm, clipvalue, global_clipnorm (indices first, first + 1, first + 2
 * as CLIP_ROWS lists them): each >= 0, at most one set (E0402). */
static bool clip_args(checked_node *node, const check_value *values, int first)
{
    checked_attrs *at = &node->attrs;
    double *fields[3] = {&at->clipnorm, &at->clipvalue, &at->global_clipnorm};
    bool ok = true;
    for (int i = 0; i < 3; i++)
        ok = float_arg(node, values, first + i, RANGE_NON_NEGATIVE, fields[i]) && ok;
    if (!ok)
        return false;
    int first_set = -1;
    for (int i = 0; i < 3; i++) {
        if (*fields[i] == 0.0)
            continue;
        if (first_set < 0) {
            first_set = i;
            continue;
        }
        diag_error(check_arg_loc(node, first + i), "E0402",
                   "%s takes one kind of gradient clipping, but both %s and %s are set", node->info->name,
                   node->info->params[first + first_set].name, node->info->params[first + i].name);
        diag_note(check_arg_loc(node, first + first_set), "%s is set here",
                  node->info->params[first + first_set].name);
        diag_help(check_arg_loc(node, first + i),
                  "Keras refuses clipnorm with global_clipnorm and ignores clipvalue beside either; keep one");
        return false;
    }
    return true;
}

bool check_sgd(check_ctx *ctx, checked_node *node, const check_value *values)
{
    (void)ctx;
    checked_attrs *at = &node->attrs;
    bool ok = float_arg(node, values, P_sgd_weight_decay, RANGE_NON_NEGATIVE, &at->weight_decay);
    ok = rate_arg(node, values, P_sgd_learning_rate) && ok;
    ok = float_arg(node, values, P_sgd_momentum, RANGE_UNIT_OPEN, &at->momentum) && ok;
    at->nesterov = values[P_sgd_nesterov].flag;
    return clip_args(node, values, P_sgd_clipnorm) && ok;
}

/* Where adam and adamw keep each argument (their lists differ in order and defaults). */
typedef struct adam_params {
    int learning_rate, weight_decay, beta_1, beta_2, epsilon, amsgrad, clipnorm;
} adam_params;

static bool adam_args(checked_node *node, const check_value *values, const adam_params *p)
{
    checked_attrs *at = &node->attrs;
    bool ok = float_arg(node, values, p->weight_decay, RANGE_NON_NEGATIVE, &at->weight_decay);
    ok = rate_arg(node, values, p->learning_rate) && ok;
    ok = float_arg(node, values, p->beta_1, RANGE_UNIT_OPEN, &at->beta_1) && ok;
    ok = float_arg(node, values, p->beta_2, RANGE_UNIT_OPEN, &at->beta_2) && ok;
    ok = float_arg(node, values, p->epsilon, RANGE_POSITIVE, &at->epsilon) && ok;
    at->amsgrad = values[p->amsgrad].flag;
    return clip_args(node, values, p->clipnorm) && ok;
}

bool check_adam(check_ctx *ctx, checked_node *node, const check_value *values)
{
    (void)ctx;
    static const adam_params adam = {P_adam_learning_rate, P_adam_weight_decay, P_adam_beta_1, P_adam_beta_2,
                                     P_adam_epsilon,       P_adam_amsgrad,      P_adam_clipnorm};
    return adam_args(node, values, &adam);
}

bool check_adamw(check_ctx *ctx, checked_node *node, const check_value *values)
{
    (void)ctx;
    static const adam_params adamw = {P_adamw_learning_rate, P_adamw_weight_decay, P_adamw_beta_1, P_adamw_beta_2,
                                      P_adamw_epsilon,       P_adamw_amsgrad,      P_adamw_clipnorm};
    return adam_args(node, values, &adamw);
}

bool check_rmsprop(check_ctx *ctx, checked_node *node, const check_value *values)
{
    (void)ctx;
    checked_attrs *at = &node->attrs;
    bool ok = float_arg(node, values, P_rmsprop_weight_decay, RANGE_NON_NEGATIVE, &at->weight_decay);
    ok = rate_arg(node, values, P_rmsprop_learning_rate) && ok;
    ok = float_arg(node, values, P_rmsprop_rho, RANGE_UNIT_OPEN, &at->rho) && ok;
    ok = float_arg(node, values, P_rmsprop_momentum, RANGE_UNIT_OPEN, &at->momentum) && ok;
    ok = float_arg(node, values, P_rmsprop_epsilon, RANGE_POSITIVE, &at->epsilon) && ok;
    at->centered = values[P_rmsprop_centered].flag;
    return clip_args(node, values, P_rmsprop_clipnorm) && ok;
}
