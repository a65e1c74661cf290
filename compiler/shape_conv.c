/* Shape rules of conv2d, the 2-D pools and conv2d_backprop_*, with
 * TensorFlow's arithmetic written out for the notes:
 *   valid: H' = floor((H - d(k-1) - 1)/s) + 1      same: H' = ceil(H/s) */
#include <string.h>

#include "check_rules.h"

/* One spatial axis of a window op. */
typedef struct spatial {
    int64_t in, k, s, d;
    tsc_padding padding;
    int64_t out;
    int64_t pad_before, pad_after;  /* 'same' only; the odd one goes after (bottom/right) */
    int64_t dropped;                /* 'valid' only: trailing rows/columns never read */
} spatial;

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Sizes are bounded by the checks before (k, s, d <= INT32_MAX), so nothing overflows. */
static void spatial_compute(spatial *a)
{
    int64_t span = a->d * (a->k - 1) + 1;
    if (a->padding == TSC_PADDING_SAME) {
        a->out = (a->in - 1) / a->s + 1;   /* ceil(in/s) for in >= 1, without overflow */
        int64_t total = (a->out - 1) * a->s + span - a->in;
        total = total > 0 ? total : 0;
        a->pad_before = total / 2;
        a->pad_after = total - a->pad_before;
        a->dropped = 0;
    } else {
        a->out = floor_div(a->in - span, a->s) + 1;
        a->dropped = a->in >= span ? (a->in - span) % a->s : 0;
    }
}

/* "(H - k)" or "(H - d*(k - 1) - 1)" with the numbers. */
static const char *span_text(check_ctx *ctx, const spatial *a)
{
    if (a->d == 1)
        return tsc_arena_format(ctx->arena, "(%lld - %lld)", (long long)a->in, (long long)a->k);
    return tsc_arena_format(ctx->arena, "(%lld - %lld*(%lld - 1) - 1)", (long long)a->in, (long long)a->d,
                            (long long)a->k);
}

static const char *formula(check_ctx *ctx, const spatial *a)
{
    if (a->padding == TSC_PADDING_SAME)
        return tsc_arena_format(ctx->arena, "ceil(%lld/%lld) = %lld", (long long)a->in, (long long)a->s,
                                (long long)a->out);
    const char *span = span_text(ctx, a);
    /* "floor((11 - 2)/2) + 1 = 5" */
    return tsc_arena_format(ctx->arena, "floor(%s/%lld) + 1 = %lld", span, (long long)a->s, (long long)a->out);
}

/* Both axes, once if they are computed alike. */
static const char *formulas(check_ctx *ctx, const spatial *rows, const spatial *cols)
{
    const char *r = formula(ctx, rows);
    const char *c = formula(ctx, cols);
    if (strcmp(r, c) == 0)
        return r;
    return tsc_arena_format(ctx->arena, "rows %s, columns %s", r, c);
}

/* The window arguments of conv2d and the pools, checked for range. */
typedef struct window_args {
    int x_param;                      /* the input f32[B,H,W,C] */
    int kernel_param, strides_param, padding_param, dilation_param;   /* -1 when the op has none */
} window_args;

static bool positive_pair(const checked_node *node, int param, const check_value *v)
{
    for (int i = 0; i < 2; i++) {
        if (v->ints[i] < 1 || v->ints[i] > INT32_MAX) {
            diag_error(check_arg_loc(node, param), "E0401", "%s of %s must be between 1 and %d, found %lld",
                       node->info->params[param].name, node->info->name, INT32_MAX, (long long)v->ints[i]);
            return false;
        }
    }
    return true;
}

/* Fills the two axes from x's H and W and the window arguments. */
static bool window_setup(const checked_node *node, const check_value *values, const window_args *w,
                         const int64_t *hw, const int64_t *default_strides, spatial axes[2])
{
    const check_value *kernel = &values[w->kernel_param];
    const check_value *strides = &values[w->strides_param];
    if (!positive_pair(node, w->kernel_param, kernel))
        return false;
    if (strides->arg != NULL && !positive_pair(node, w->strides_param, strides))
        return false;
    if (w->dilation_param >= 0 && !positive_pair(node, w->dilation_param, &values[w->dilation_param]))
        return false;
    /* padding's words are in tsc_padding order; defaults are filled in. */
    tsc_padding padding = (tsc_padding)values[w->padding_param].word;
    for (int i = 0; i < 2; i++) {
        spatial *a = &axes[i];
        memset(a, 0, sizeof *a);
        a->in = hw[i];
        a->k = kernel->ints[i];
        /* default_strides: pool strides default to the pool size (a rule, not a value) */
        a->s = default_strides != NULL && strides->arg == NULL ? default_strides[i] : strides->ints[i];
        a->d = w->dilation_param >= 0 ? values[w->dilation_param].ints[i] : 1;
        a->padding = padding;
        /* k, d <= INT32_MAX, so the extent fits in 64 bits; the runtime
         * takes it (and the padding it implies) as an int. */
        int64_t extent = a->d * (a->k - 1) + 1;
        if (extent > INT32_MAX) {
            int param = w->dilation_param >= 0 && a->d > 1 ? w->dilation_param : w->kernel_param;
            diag_error(check_arg_loc(node, param), "E0210",
                       "%s's dilated window spans %lld %s: dilation_rate*(kernel_size - 1) + 1 = %lld*(%lld - 1) + 1, "
                       "above %d, the largest size the runtime takes",
                       node->info->name, (long long)extent, i == 0 ? "rows" : "columns", (long long)a->d,
                       (long long)a->k, INT32_MAX);
            return false;
        }
        spatial_compute(a);
    }
    return true;
}

static void store_window(checked_node *node, const spatial axes[2])
{
    checked_attrs *at = &node->attrs;
    for (int i = 0; i < 2; i++) {
        at->kernel[i] = axes[i].k;
        at->strides[i] = axes[i].s;
        at->dilation[i] = axes[i].d;
    }
    at->padding = axes[0].padding;
    at->pad_top = axes[0].pad_before;
    at->pad_bottom = axes[0].pad_after;
    at->pad_left = axes[1].pad_before;
    at->pad_right = axes[1].pad_after;
}

/* E0201: the window does not fit (H' <= 0). */
static void report_empty_output(check_ctx *ctx, const checked_node *node, const checked_node *x,
                                const window_args *w, const spatial axes[2])
{
    const char *name = check_arg_name(node, w->x_param);
    int kernel_param = w->kernel_param;
    const spatial *bad = axes[0].out < 1 ? &axes[0] : &axes[1];
    int64_t span_r = axes[0].d * (axes[0].k - 1) + 1, span_c = axes[1].d * (axes[1].k - 1) + 1;
    diag_error(check_arg_loc(node, kernel_param), "E0201",
               "%s's %lldx%lld window does not fit in the %lldx%lld positions of '%s' (%s) with padding=valid: %s",
               node->info->name, (long long)span_r, (long long)span_c, (long long)axes[0].in, (long long)axes[1].in,
               name, check_type_str(ctx, &x->type), formula(ctx, bad));
    check_note_origin(ctx, x, name);
    diag_help(check_arg_loc(node, kernel_param), "use padding=same (keeps %lldx%lld at stride 1) or a window of at "
              "most %lldx%lld", (long long)axes[0].in, (long long)axes[1].in, (long long)axes[0].in,
              (long long)axes[1].in);
}

/* W0104 when a stride larger than its window skips the rows (or columns)
 * between windows. A 1-wide window is exempt: a pointwise conv with
 * stride 2 (ResNet's projection shortcut) subsamples on purpose. */
static bool warn_gaps(check_ctx *ctx, const checked_node *node, const checked_node *x, const window_args *w,
                      int strides_param, const spatial axes[2])
{
    for (int i = 0; i < 2; i++) {
        const spatial *a = &axes[i];
        int64_t span = a->d * (a->k - 1) + 1;
        if (a->k == 1 || a->s <= span)
            continue;
        const char *unit = i == 0 ? "row" : "column";
        int64_t gap = a->s - span;
        diag_warning(check_arg_loc(node, strides_param), "W0104",
                     "%s with stride %lld and a %lld-%s window skips data of '%s' (%s): each window reads %lld of "
                     "every %lld %ss, so %lld %s%s between windows %s never read",
                     node->info->name, (long long)a->s, (long long)span, unit, check_arg_name(node, w->x_param),
                     check_type_str(ctx, &x->type), (long long)span, (long long)a->s, unit, (long long)gap, unit,
                     gap == 1 ? "" : "s", gap == 1 ? "is" : "are");
        diag_help(check_arg_loc(node, strides_param), "use a stride of at most %lld, or a larger window",
                  (long long)span);
        return true;
    }
    return false;
}

/* W0104: a 'valid' window whose stride skips rows or columns: between
 * windows (stride larger than the window) or at the end (the stride does
 * not divide what the first window leaves). */
static void warn_dropped(check_ctx *ctx, const checked_node *node, const checked_node *x, const window_args *w,
                         int strides_param, const spatial axes[2])
{
    if (warn_gaps(ctx, node, x, w, strides_param, axes))
        return;
    /* 1-wide windows subsample on purpose (see warn_gaps). */
    int64_t r = axes[0].k > 1 ? axes[0].dropped : 0, c = axes[1].k > 1 ? axes[1].dropped : 0;
    if (r == 0 && c == 0)
        return;
    const char *what;
    if (r > 0 && c > 0 && r == c)
        what = r == 1 ? "the last row and column are" : tsc_arena_format(ctx->arena, "the last %lld rows and columns are", (long long)r);
    else if (r > 0 && c > 0)
        what = tsc_arena_format(ctx->arena, "the last %lld row%s and %lld column%s are", (long long)r, r == 1 ? "" : "s",
                                (long long)c, c == 1 ? "" : "s");
    else if (r > 0)
        what = r == 1 ? "the last row is" : tsc_arena_format(ctx->arena, "the last %lld rows are", (long long)r);
    else
        what = c == 1 ? "the last column is" : tsc_arena_format(ctx->arena, "the last %lld columns are", (long long)c);
    const spatial *a = r > 0 ? &axes[0] : &axes[1];
    const char *name = check_arg_name(node, w->x_param);
    diag_warning(check_arg_loc(node, strides_param), "W0104",
                 "%s with stride %lld and padding=valid drops data of '%s' (%s): %s %% %lld = %lld: %s never read",
                 node->info->name, (long long)a->s, name, check_type_str(ctx, &x->type), span_text(ctx, a),
                 (long long)a->s, (long long)a->dropped, what);
    diag_help(check_arg_loc(node, strides_param), "use padding=same, or sizes for which the stride divides %s",
              span_text(ctx, a));
}

/* "halves", "keeps the height and width of", "shrinks": for the shape reason. */
static const char *verb(const spatial axes[2])
{
    if (axes[0].s == 2 && axes[1].s == 2)
        return "halves";
    if (axes[0].out == axes[0].in && axes[1].out == axes[1].in)
        return "keeps the height and width of";
    return "shrinks";
}

static bool window_input(check_ctx *ctx, const checked_node *node, const check_value *values, const window_args *w)
{
    return check_expect_dtype(ctx, node, values, w->x_param, TSC_DTYPE_F32) &&
           check_expect_rank(ctx, node, values, w->x_param, 4, "[batch, height, width, channels]");
}

bool check_conv_window(check_ctx *ctx, checked_node *node, const check_value *values, const check_conv_params *p,
                       int64_t out_hw[2], const char **reason)
{
    const window_args w = {p->x, p->kernel_size, p->strides, p->padding, p->dilation_rate};
    const checked_node *x = values[p->x].tensor;
    if (!window_input(ctx, node, values, &w))
        return false;
    spatial axes[2];
    if (!window_setup(node, values, &w, &x->type.dims[1], NULL, axes))
        return false;
    if (axes[0].out < 1 || axes[1].out < 1) {
        report_empty_output(ctx, node, x, &w, axes);
        return false;
    }
    warn_dropped(ctx, node, x, &w, values[w.strides_param].arg != NULL ? w.strides_param : w.kernel_param, axes);
    store_window(node, axes);
    out_hw[0] = axes[0].out;
    out_hw[1] = axes[1].out;
    *reason = tsc_arena_format(ctx->arena, "%s %s %s: %s", check_call_summary(ctx, node, p->reason_keys), verb(axes),
                               check_type_str(ctx, &x->type), formulas(ctx, &axes[0], &axes[1]));
    return true;
}

static int64_t gcd(int64_t a, int64_t b)
{
    while (b != 0) {
        int64_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* "use groups=2 or groups=4": the common divisors of the channels and the
 * filters nearest to the count given, below and above it. */
static void help_nearest_groups(const checked_node *node, int64_t groups, int64_t channels,
                                int64_t filters)
{
    int64_t common = gcd(channels, filters), below = 1, above = 0;
    for (int64_t d = 1; d * d <= common; d++) {
        if (common % d != 0)
            continue;
        int64_t pair[2] = {d, common / d};
        for (int i = 0; i < 2; i++) {
            if (pair[i] < groups && pair[i] > below)
                below = pair[i];
            if (pair[i] > groups && (above == 0 || pair[i] < above))
                above = pair[i];
        }
    }
    if (above > 0)
        diag_help(check_arg_loc(node, P_conv2d_groups), "use groups=%lld or groups=%lld: the group counts nearest "
                  "to %lld that divide both %lld and %lld", (long long)below, (long long)above, (long long)groups,
                  (long long)channels, (long long)filters);
    else
        diag_help(check_arg_loc(node, P_conv2d_groups), "use groups=%lld: the largest group count that divides "
                  "both %lld and %lld", (long long)below, (long long)channels, (long long)filters);
}

/* conv2d's groups=: in range, and dividing both the input channels and the
 * filters (E0211, with the nearest counts that do). */
static bool check_conv_groups(check_ctx *ctx, const checked_node *node, const check_value *values, int64_t *groups_out)
{
    const checked_node *x = values[P_conv2d_x].tensor;
    int64_t groups = values[P_conv2d_groups].ints[0];
    int64_t filters = values[P_conv2d_filters].ints[0];
    if (groups < 1 || groups > INT32_MAX)
        return check_range_error(node, P_conv2d_groups, "between 1 and 2147483647", (double)groups);
    int64_t channels = x->type.dims[3];
    int64_t channel_rest = channels % groups, filter_rest = filters % groups;
    if (channel_rest == 0 && filter_rest == 0) {
        *groups_out = groups;
        return true;
    }
    const char *name = check_arg_name(node, P_conv2d_x);
    const char *which = channel_rest != 0 && filter_rest != 0 ? "divides neither"
                        : channel_rest != 0                   ? "does not divide the channels"
                                                              : "does not divide the filters";
    diag_error(check_arg_loc(node, P_conv2d_groups), "E0211",
               "conv2d with groups=%lld splits the %lld channels of '%s' (%s) and its %lld filters into %lld groups, "
               "but %lld %s: %lld %% %lld = %lld, %lld %% %lld = %lld",
               (long long)groups, (long long)channels, name, check_type_str(ctx, &x->type), (long long)filters,
               (long long)groups, (long long)groups, which, (long long)channels, (long long)groups,
               (long long)channel_rest, (long long)filters, (long long)groups, (long long)filter_rest);
    check_note_origin(ctx, x, name);
    help_nearest_groups(node, groups, channels, filters);
    return false;
}

bool check_conv2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const keys[] = {"filters", "kernel_size", "strides", "padding", "dilation_rate", "groups",
                                       NULL};
    static const check_conv_params p = {P_conv2d_x, P_conv2d_kernel_size, P_conv2d_strides, P_conv2d_padding,
                                        P_conv2d_dilation_rate, keys};
    const checked_node *x = values[P_conv2d_x].tensor;
    int64_t filters = values[P_conv2d_filters].ints[0];
    if (!window_input(ctx, node, values, &(window_args){p.x, p.kernel_size, p.strides, p.padding, p.dilation_rate}))
        return false;
    if (filters < 1 || filters > INT32_MAX)
        return check_range_error(node, P_conv2d_filters, "between 1 and 2147483647", (double)filters);
    int64_t groups = 1;
    if (!check_conv_groups(ctx, node, values, &groups))
        return false;
    int64_t out_hw[2];
    const char *reason;
    if (!check_conv_window(ctx, node, values, &p, out_hw, &reason))
        return false;
    node->attrs.filters = filters;
    node->attrs.groups = groups;
    check_layer_options(node, values);
    int64_t channels = x->type.dims[3] / groups;   /* per group: what each filter reads */
    node->type = check_make_type(TSC_DTYPE_F32, 4);
    node->type.dims[0] = x->type.dims[0];
    node->type.dims[1] = out_hw[0];
    node->type.dims[2] = out_hw[1];
    node->type.dims[3] = filters;
    int64_t kernel[4] = {node->attrs.kernel[0], node->attrs.kernel[1], channels, filters};
    int64_t area = kernel[0] * kernel[1], fan_in = INT64_MAX, fan_out = INT64_MAX;
    (void)tsc_mul_checked(area, channels, &fan_in);
    (void)tsc_mul_checked(area, filters, &fan_out);
    check_add_weights(ctx, node, values, kernel, 4, fan_in, fan_out, filters);
    /* Each output element is a dot product over the kh*kw*(C/groups) window. */
    int64_t outputs = tsc_mul_saturating(tsc_mul_saturating(out_hw[0], out_hw[1]), filters);
    node->macs_per_example = tsc_mul_saturating(outputs, fan_in);
    node->shape_reason = groups == 1 ? reason
                                     : tsc_arena_format(ctx->arena, "%s; %lld groups, each %lld channels -> %lld "
                                                        "filters", reason, (long long)groups, (long long)channels,
                                                        (long long)(filters / groups));
    return true;
}

bool check_pool2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const window_args w = {P_pool2d_x, P_pool2d_pool_size, P_pool2d_strides, P_pool2d_padding, -1};
    static const char *const keys[] = {"pool_size", "strides", "padding", NULL};
    const checked_node *x = values[P_pool2d_x].tensor;
    if (!window_input(ctx, node, values, &w))
        return false;
    spatial axes[2];
    if (!window_setup(node, values, &w, &x->type.dims[1], values[P_pool2d_pool_size].ints, axes))
        return false;
    if (axes[0].out < 1 || axes[1].out < 1) {
        report_empty_output(ctx, node, x, &w, axes);
        return false;
    }
    /* pool_size == strides dropping a last odd row is the ordinary floor-mode
     * downsampling of every CNN: only warn when the stride was chosen apart. */
    if (values[P_pool2d_strides].arg != NULL && (axes[0].s != axes[0].k || axes[1].s != axes[1].k))
        warn_dropped(ctx, node, x, &w, w.strides_param, axes);
    store_window(node, axes);
    node->type = x->type;
    node->type.dims[1] = axes[0].out;
    node->type.dims[2] = axes[1].out;
    node->shape_reason = tsc_arena_format(ctx->arena, "%s %s %s: %s", check_call_summary(ctx, node, keys),
                                          verb(axes), check_type_str(ctx, &x->type), formulas(ctx, &axes[0], &axes[1]));
    return true;
}

/* filter_sizes or input_sizes: four positive sizes; input_sizes may start
 * with the batch symbol. */
static bool four_sizes(const checked_node *node, const check_value *values, int param)
{
    bool batch_ok = strcmp(node->info->params[param].name, "input_sizes") == 0;
    const check_value *v = &values[param];
    if (v->count != 4) {
        diag_error(check_arg_loc(node, param), "E0106", "%s expects 4 sizes for '%s' (%s), found %d", node->info->name,
                   node->info->params[param].name, node->info->params[param].doc, v->count);
        return false;
    }
    for (int i = 0; i < 4; i++) {
        if (v->is_batch[i] && i == 0 && batch_ok)
            continue;
        if (v->is_batch[i] || v->ints[i] < 1 || v->ints[i] > INT32_MAX) {
            diag_error(check_arg_loc(node, param), "E0401", "entry %d of '%s' must be a size between 1 and %d",
                       i, node->info->params[param].name, INT32_MAX);
            return false;
        }
    }
    return true;
}

static const char *sizes_text(check_ctx *ctx, const int64_t *s)
{
    return tsc_arena_format(ctx->arena, "(%lld,%lld,%lld,%lld)", (long long)s[0], (long long)s[1], (long long)s[2],
                            (long long)s[3]);
}

/* Where conv2d_backprop_filter and conv2d_backprop_input keep their
 * arguments: the same roles at different positions. */
typedef struct backprop_args {
    int sizes;          /* filter_sizes (kh,kw,C,F) or input_sizes (B,H,W,C) */
    int tensor;         /* the conv2d input [B,H,W,C] or its filter [kh,kw,C,F] */
    int out_backprop;   /* [B,H',W',F] */
    int strides, padding;
} backprop_args;

bool check_conv2d_backprop(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const backprop_args filter_args = {P_backprop_filter_filter_sizes, P_backprop_filter_input,
                                              P_backprop_filter_out_backprop, P_backprop_filter_strides,
                                              P_backprop_filter_padding};
    static const backprop_args input_args = {P_backprop_input_input_sizes, P_backprop_input_filter,
                                             P_backprop_input_out_backprop, P_backprop_input_strides,
                                             P_backprop_input_padding};
    bool for_filter = node->op == TSC_OP_CONV2D_BACKPROP_FILTER;
    const backprop_args *p = for_filter ? &filter_args : &input_args;
    /* The window's kernel comes from the filter: it is put in the sizes slot below. */
    const window_args w = {p->tensor, p->sizes, p->strides, p->padding, -1};
    int sizes_param = p->sizes;
    int tensor_param = p->tensor;   /* input (filter op) or filter (input op) */
    const checked_node *dy = values[p->out_backprop].tensor;
    const checked_node *t = values[tensor_param].tensor;
    if (!four_sizes(node, values, sizes_param) ||
        !check_expect_dtype(ctx, node, values, tensor_param, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, tensor_param, 4,
                           for_filter ? "[batch, height, width, channels]" : "[kh, kw, channels, filters]") ||
        !check_expect_dtype(ctx, node, values, p->out_backprop, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, p->out_backprop, 4, "[batch, height, width, filters]"))
        return false;
    /* input [B,H,W,C] and filter [kh,kw,C,F], whichever way they are given. */
    int64_t input[4], filter[4];
    memcpy(input, for_filter ? t->type.dims : values[sizes_param].ints, sizeof input);
    memcpy(filter, for_filter ? values[sizes_param].ints : t->type.dims, sizeof filter);
    if (filter[2] != input[3]) {
        if (for_filter)
            diag_error(check_arg_loc(node, sizes_param), "E0207",
                       "filter_sizes %s has C = %lld, but input '%s' has %lld channels: %s", sizes_text(ctx, filter),
                       (long long)filter[2], check_arg_name(node, tensor_param), (long long)input[3],
                       check_type_str(ctx, &t->type));
        else
            diag_error(check_arg_loc(node, tensor_param), "E0207",
                       "filter '%s' is %s with C = %lld, but input_sizes has %lld channels",
                       check_arg_name(node, tensor_param), check_type_str(ctx, &t->type), (long long)filter[2], (long long)input[3]);
        return false;
    }
    check_value window[TSC_OP_MAX_PARAMS];
    memcpy(window, values, sizeof window);
    window[sizes_param].ints[0] = filter[0];
    window[sizes_param].ints[1] = filter[1];
    spatial axes[2];
    if (!window_setup(node, window, &w, &input[1], NULL, axes))
        return false;
    if (axes[0].out < 1 || axes[1].out < 1) {
        diag_error(check_arg_loc(node, sizes_param), "E0201",
                   "the %lldx%lld filter does not fit in the %lldx%lld input with padding=valid: %s",
                   (long long)filter[0], (long long)filter[1], (long long)input[1], (long long)input[2],
                   formula(ctx, axes[0].out < 1 ? &axes[0] : &axes[1]));
        return false;
    }
    tsc_type expected = check_make_type(TSC_DTYPE_F32, 4);
    expected.dims[0] = input[0];
    expected.dims[1] = axes[0].out;
    expected.dims[2] = axes[1].out;
    expected.dims[3] = filter[3];
    if (!tsc_type_equal(&expected, &dy->type)) {
        const char *because;
        if (dy->type.dims[1] != expected.dims[1] || dy->type.dims[2] != expected.dims[2])
            because = formulas(ctx, &axes[0], &axes[1]);
        else if (dy->type.dims[3] != expected.dims[3])
            because = tsc_arena_format(ctx->arena, "the filter has F = %lld output channels", (long long)filter[3]);
        else
            because = "it has the batch of the input";
        tsc_type in_type = check_make_type(TSC_DTYPE_F32, 4);
        memcpy(in_type.dims, input, sizeof input);
        const char *name = check_arg_name(node, p->out_backprop);
        diag_error(check_arg_loc(node, p->out_backprop), "E0207", "%s: out_backprop must be %s because %s, but '%s' is %s",
                   node->info->name, check_type_str(ctx, &expected), because, name, check_type_str(ctx, &dy->type));
        const char *strides = axes[0].s == axes[1].s
                                  ? tsc_arena_format(ctx->arena, "%lld", (long long)axes[0].s)
                                  : tsc_arena_format(ctx->arena, "(%lld, %lld)", (long long)axes[0].s,
                                                     (long long)axes[1].s);
        diag_note(node->loc, "a conv2d of %s with filter %s, strides=%s and padding=%s gives %s",
                  check_type_str(ctx, &in_type), sizes_text(ctx, filter), strides,
                  axes[0].padding == TSC_PADDING_SAME ? "same" : "valid", check_type_str(ctx, &expected));
        check_note_origin(ctx, dy, name);
        return false;
    }
    store_window(node, axes);
    /* Every out_backprop element meets a kh*kw*C window (as the forward conv2d). */
    int64_t per_example = tsc_mul_saturating(tsc_mul_saturating(axes[0].out, axes[1].out), filter[3]);
    int64_t window_volume = tsc_mul_saturating(tsc_mul_saturating(filter[0], filter[1]), filter[2]);
    node->macs_per_example = tsc_mul_saturating(per_example, window_volume);
    node->attrs.filters = filter[3];
    node->attrs.size_count = 4;
    memcpy(node->attrs.sizes, for_filter ? filter : input, 4 * sizeof(int64_t));
    node->type = check_make_type(TSC_DTYPE_F32, 4);
    memcpy(node->type.dims, node->attrs.sizes, 4 * sizeof(int64_t));
    return true;
}
