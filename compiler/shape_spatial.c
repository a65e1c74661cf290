/* Shape rules of the layers that make feature maps larger or change their
 * borders: conv2d_transpose (Keras' deconv_output_length), upsample2d,
 * zero_padding2d and cropping2d. Their notes write the arithmetic out:
 *   conv2d_transpose, no output_padding: same H*s, valid H*s + max(k' - s, 0)
 *   with output_padding p:              (H - 1)*s + k' - 2*pad + p,
 *                                       pad = floor(k'/2) (same) or 0 (valid)
 * where k' = d*(k - 1) + 1 is the dilated kernel. */
#include <string.h>

#include "check_rules.h"

/* Every entry of a pair between lo and INT32_MAX (E0401). */
static bool pair_in_range(const checked_node *node, int param, const check_value *v, int64_t lo)
{
    for (int i = 0; i < 2; i++) {
        if (v->ints[i] < lo || v->ints[i] > INT32_MAX) {
            diag_error(check_arg_loc(node, param), "E0401", "%s of %s must be between %lld and %d, found %lld",
                       node->info->params[param].name, node->info->name, (long long)lo, INT32_MAX,
                       (long long)v->ints[i]);
            return false;
        }
    }
    return true;
}

static const char *const axis_names[2] = {"rows", "columns"};

/* "rows A, columns B", or A alone when both axes read alike. */
static const char *both_axes(check_ctx *ctx, const char *rows, const char *cols)
{
    if (strcmp(rows, cols) == 0)
        return rows;
    return tsc_arena_format(ctx->arena, "rows %s, columns %s", rows, cols);
}

/* ---- conv2d_transpose ------------------------------------------------ */

/* One spatial axis of a transposed convolution. */
typedef struct transposed_axis {
    int64_t in, k, s, d;
    int64_t extent;           /* d*(k - 1) + 1 */
    int64_t output_padding;   /* -1: not given (Keras' None) */
    tsc_padding padding;
    int64_t out;
    int64_t pad_before;       /* of the conv2d it transposes: TensorFlow's split, the odd one after */
} transposed_axis;

/* k' as written in the formulas: "3", or "2*(3 - 1) + 1" when dilated. */
static const char *extent_text(check_ctx *ctx, const transposed_axis *a)
{
    if (a->d == 1)
        return tsc_arena_format(ctx->arena, "%lld", (long long)a->k);
    return tsc_arena_format(ctx->arena, "(%lld*(%lld - 1) + 1)", (long long)a->d, (long long)a->k);
}

/* The formula with output padding p (a number, or "p" for the general one), without the result. */
static const char *padded_formula(check_ctx *ctx, const transposed_axis *a, const char *p)
{
    if (a->padding == TSC_PADDING_SAME)
        return tsc_arena_format(ctx->arena, "(%lld - 1)*%lld + %s - 2*%lld + %s", (long long)a->in, (long long)a->s,
                                extent_text(ctx, a), (long long)(a->extent / 2), p);
    return tsc_arena_format(ctx->arena, "(%lld - 1)*%lld + %s + %s", (long long)a->in, (long long)a->s,
                            extent_text(ctx, a), p);
}

/* Keras' deconv_output_length. */
static void transposed_compute(transposed_axis *a)
{
    a->extent = a->d * (a->k - 1) + 1;
    if (a->output_padding < 0)
        a->out = a->padding == TSC_PADDING_SAME ? a->in * a->s
                                                : a->in * a->s + (a->extent > a->s ? a->extent - a->s : 0);
    else
        a->out = (a->in - 1) * a->s + a->extent - 2 * (a->padding == TSC_PADDING_SAME ? a->extent / 2 : 0) +
                 a->output_padding;
}

static const char *transposed_formula(check_ctx *ctx, const transposed_axis *a)
{
    if (a->output_padding >= 0)
        return tsc_arena_format(ctx->arena, "%s = %lld",
                                padded_formula(ctx, a, tsc_arena_format(ctx->arena, "%lld", (long long)a->output_padding)),
                                (long long)a->out);
    if (a->padding == TSC_PADDING_SAME)
        return tsc_arena_format(ctx->arena, "%lld*%lld = %lld", (long long)a->in, (long long)a->s, (long long)a->out);
    return tsc_arena_format(ctx->arena, "%lld*%lld + max(%s - %lld, 0) = %lld", (long long)a->in, (long long)a->s,
                            extent_text(ctx, a), (long long)a->s, (long long)a->out);
}

/* The size the conv2d being transposed gives for an input of a->out: it must
 * be a->in again (TensorFlow checks the same), and its 'same' padding. */
static int64_t adjoint_size(transposed_axis *a)
{
    if (a->padding == TSC_PADDING_SAME) {
        int64_t back = (a->out - 1) / a->s + 1;
        int64_t total = (back - 1) * a->s + a->extent - a->out;
        a->pad_before = total > 0 ? total / 2 : 0;
        return back;
    }
    a->pad_before = 0;
    return a->out < a->extent ? 0 : (a->out - a->extent) / a->s + 1;
}

/* Why another size needs output_padding, for the notes: without it the
 * size is fixed (with 'same' a multiple of the stride); each p below the
 * stride gives one of the others. */
static const char *output_padding_hint(check_ctx *ctx, const transposed_axis *rows, const transposed_axis *cols)
{
    const transposed_axis *a = rows->s > 1 ? rows : cols;
    if (a->output_padding >= 0 || a->s == 1)
        return "";
    int64_t first = (a->in - 1) * a->s + a->extent - 2 * (a->padding == TSC_PADDING_SAME ? a->extent / 2 : 0);
    const char *fixed = a->padding == TSC_PADDING_SAME
                            ? tsc_arena_format(ctx->arena, "without output_padding, padding=same gives H*s, always a "
                                               "multiple of the stride %lld", (long long)a->s)
                            : "other sizes need output_padding";
    return tsc_arena_format(ctx->arena, "; %s: output_padding=p (0 <= p < %lld) gives %s = %lld + p %s instead", fixed,
                            (long long)a->s, padded_formula(ctx, a, "p"), (long long)first, axis_names[a == rows ? 0 : 1]);
}

/* E0401 at output_padding: a conv2d maps s sizes onto each input size, and
 * output_padding picks one of them, so it must stay below the stride. */
static bool check_output_padding(const checked_node *node, const check_value *v, const int64_t *strides)
{
    if (!pair_in_range(node, P_conv2d_transpose_output_padding, v, 0))
        return false;
    for (int i = 0; i < 2; i++) {
        if (v->ints[i] >= strides[i]) {
            diag_error(check_arg_loc(node, P_conv2d_transpose_output_padding), "E0401",
                       "output_padding of conv2d_transpose must be below the stride %lld of the %s, found %lld",
                       (long long)strides[i], axis_names[i], (long long)v->ints[i]);
            diag_note(node->loc, "a conv2d with stride %lld maps %lld consecutive sizes onto the same output size; "
                      "output_padding picks one of them (0 to %lld), as in Keras",
                      (long long)strides[i], (long long)strides[i], (long long)(strides[i] - 1));
            return false;
        }
    }
    return true;
}

/* The axes from x's H and W and the arguments, and the window attributes
 * (those of the conv2d it transposes); false after reporting. */
static bool transposed_setup(check_ctx *ctx, checked_node *node, const check_value *values, const int64_t *hw,
                             transposed_axis axes[2])
{
    const check_value *kernel = &values[P_conv2d_transpose_kernel_size];
    const check_value *strides = &values[P_conv2d_transpose_strides];
    const check_value *dilation = &values[P_conv2d_transpose_dilation_rate];
    const check_value *output_padding = &values[P_conv2d_transpose_output_padding];
    if (!pair_in_range(node, P_conv2d_transpose_kernel_size, kernel, 1) ||
        !pair_in_range(node, P_conv2d_transpose_strides, strides, 1) ||
        !pair_in_range(node, P_conv2d_transpose_dilation_rate, dilation, 1))
        return false;
    if (output_padding->arg != NULL && !check_output_padding(node, output_padding, strides->ints))
        return false;
    for (int i = 0; i < 2; i++) {
        transposed_axis *a = &axes[i];
        memset(a, 0, sizeof *a);
        a->in = hw[i];
        a->k = kernel->ints[i];
        a->s = strides->ints[i];
        a->d = dilation->ints[i];
        a->padding = (tsc_padding)values[P_conv2d_transpose_padding].word;
        a->output_padding = output_padding->arg != NULL ? output_padding->ints[i] : -1;
        /* Every term is at most INT32_MAX, so nothing below overflows 64 bits. */
        transposed_compute(a);
        if (a->extent > INT32_MAX) {
            diag_error(check_arg_loc(node, P_conv2d_transpose_dilation_rate), "E0210",
                       "conv2d_transpose's dilated kernel spans %lld %s: dilation_rate*(kernel_size - 1) + 1 = "
                       "%lld*(%lld - 1) + 1, above %d, the largest size the runtime takes",
                       (long long)a->extent, axis_names[i], (long long)a->d, (long long)a->k, INT32_MAX);
            return false;
        }
        if (a->out < 1 || adjoint_size(a) != a->in) {
            /* Only 'same' with an even dilated kernel and output_padding=0 gets here. */
            diag_error(check_arg_loc(node, P_conv2d_transpose_output_padding), "E0401",
                       "conv2d_transpose with padding=same, the even kernel %s and output_padding=%lld gives %s "
                       "%s, but the conv2d it transposes maps %lld %s back to ceil(%lld/%lld) = %lld, not %lld",
                       extent_text(ctx, a), (long long)a->output_padding, transposed_formula(ctx, a), axis_names[i],
                       (long long)a->out, axis_names[i], (long long)a->out, (long long)a->s,
                       (long long)adjoint_size(a), (long long)a->in);
            diag_help(check_arg_loc(node, P_conv2d_transpose_output_padding),
                      "use output_padding of at least 1, or leave it out (the output is then %lld*%lld = %lld)",
                      (long long)a->in, (long long)a->s, (long long)(a->in * a->s));
            return false;
        }
        node->attrs.kernel[i] = a->k;
        node->attrs.strides[i] = a->s;
        node->attrs.dilation[i] = a->d;
    }
    node->attrs.padding = axes[0].padding;
    node->attrs.pad_top = axes[0].pad_before;
    node->attrs.pad_left = axes[1].pad_before;
    return true;
}

bool check_conv2d_transpose(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const keys[] = {"filters", "kernel_size", "strides", "padding", "output_padding",
                                       "dilation_rate", NULL};
    const checked_node *x = values[P_conv2d_transpose_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_conv2d_transpose_x, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, P_conv2d_transpose_x, 4, "[batch, height, width, channels]"))
        return false;
    int64_t filters = values[P_conv2d_transpose_filters].ints[0];
    if (filters < 1 || filters > INT32_MAX)
        return check_range_error(node, P_conv2d_transpose_filters, "between 1 and 2147483647", (double)filters);
    transposed_axis axes[2];
    if (!transposed_setup(ctx, node, values, &x->type.dims[1], axes))
        return false;
    node->attrs.filters = filters;
    check_layer_options(node, values);
    int64_t channels = x->type.dims[3];
    node->type = check_feature_map(x, axes[0].out, axes[1].out, filters);
    /* Keras' layout [kh, kw, filters, C], so its fan in is kh*kw*filters. */
    int64_t kernel[4] = {axes[0].k, axes[1].k, filters, channels};
    check_add_conv_weights(ctx, node, values, kernel, filters);
    /* Each input element is spread over a kh*kw*filters window. */
    int64_t inputs = tsc_mul_saturating(tsc_mul_saturating(axes[0].in, axes[1].in), channels);
    node->macs_per_example = tsc_mul_saturating(inputs, node->params[0].fan_in);
    const char *verb = axes[0].out == 2 * axes[0].in && axes[1].out == 2 * axes[1].in ? "doubles" : "enlarges";
    node->shape_reason = tsc_arena_format(ctx->arena, "%s %s %s: %s%s", check_call_summary(ctx, node, keys), verb,
                                          check_type_str(ctx, &x->type),
                                          both_axes(ctx, transposed_formula(ctx, &axes[0]),
                                                    transposed_formula(ctx, &axes[1])),
                                          output_padding_hint(ctx, &axes[0], &axes[1]));
    return true;
}

/* ---- upsample2d -------------------------------------------------------- */

bool check_upsample2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const keys[] = {"size", "interpolation", NULL};
    const checked_node *x = values[P_upsample2d_x].tensor;
    if (!check_expect_dtype(ctx, node, values, P_upsample2d_x, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, P_upsample2d_x, 4, "[batch, height, width, channels]"))
        return false;
    const check_value *size = &values[P_upsample2d_size];
    if (!pair_in_range(node, P_upsample2d_size, size, 1))
        return false;
    node->type = x->type;
    const char *text[2];
    for (int i = 0; i < 2; i++) {
        /* Both factors are at most INT32_MAX: the product fits; resolve checks it against the runtime's limit. */
        node->type.dims[1 + i] = x->type.dims[1 + i] * size->ints[i];
        node->attrs.kernel[i] = size->ints[i];
        text[i] = tsc_arena_format(ctx->arena, "%lld*%lld = %lld", (long long)x->type.dims[1 + i],
                                   (long long)size->ints[i], (long long)node->type.dims[1 + i]);
    }
    node->attrs.interpolation = values[P_upsample2d_interpolation].word;
    const char *verb = size->ints[0] == 2 && size->ints[1] == 2 ? "doubles" : "enlarges";
    node->shape_reason = tsc_arena_format(ctx->arena, "%s %s %s: %s", check_call_summary(ctx, node, keys), verb,
                                          check_type_str(ctx, &x->type), both_axes(ctx, text[0], text[1]));
    return true;
}

/* ---- zero_padding2d, cropping2d --------------------------------------- */

/* The four amounts (top, bottom, left, right) from the 1, 2 or 4 numbers resolve read. */
static bool four_amounts(const checked_node *node, int param, const check_value *v, int64_t out[4])
{
    if (v->arg == NULL) {
        int64_t fill = node->op == TSC_OP_ZERO_PADDING2D ? 1 : 0;   /* Keras' defaults */
        for (int i = 0; i < 4; i++)
            out[i] = fill;
        return true;
    }
    TSC_ASSERT(v->count == 1 || v->count == 2 || v->count == 4);
    for (int i = 0; i < v->count; i++) {
        if (v->ints[i] < 0 || v->ints[i] > INT32_MAX) {
            diag_error(check_arg_loc(node, param), "E0401", "each entry of %s of %s must be between 0 and %d, found %lld",
                       node->info->params[param].name, node->info->name, INT32_MAX, (long long)v->ints[i]);
            return false;
        }
    }
    for (int i = 0; i < 4; i++)
        out[i] = v->count == 4 ? v->ints[i] : v->count == 2 ? v->ints[i / 2] : v->ints[0];
    return true;
}

/* "1 + 7 + 1 = 9" or "7 - 1 - 1 = 5" for one axis. */
static const char *border_formula(check_ctx *ctx, bool crop, int64_t in, int64_t before, int64_t after, int64_t out)
{
    if (crop)
        return tsc_arena_format(ctx->arena, "%lld - %lld - %lld = %lld", (long long)in, (long long)before,
                                (long long)after, (long long)out);
    return tsc_arena_format(ctx->arena, "%lld + %lld + %lld = %lld", (long long)before, (long long)in,
                            (long long)after, (long long)out);
}

bool check_pad2d(check_ctx *ctx, checked_node *node, const check_value *values)
{
    static const char *const pad_keys[] = {"padding", NULL};
    static const char *const crop_keys[] = {"cropping", NULL};
    bool crop = node->op == TSC_OP_CROPPING2D;
    /* Both lists are (x, amounts, name). */
    int x_param = crop ? P_cropping2d_x : P_zero_padding2d_x;
    int amount_param = crop ? P_cropping2d_cropping : P_zero_padding2d_padding;
    const checked_node *x = values[x_param].tensor;
    if (!check_expect_dtype(ctx, node, values, x_param, TSC_DTYPE_F32) ||
        !check_expect_rank(ctx, node, values, x_param, 4, "[batch, height, width, channels]"))
        return false;
    int64_t amounts[4];
    if (!four_amounts(node, amount_param, &values[amount_param], amounts))
        return false;
    node->type = x->type;
    const char *text[2];
    for (int i = 0; i < 2; i++) {
        int64_t in = x->type.dims[1 + i], before = amounts[2 * i], after = amounts[2 * i + 1];
        int64_t out = crop ? in - before - after : in + before + after;   /* |terms| <= INT32_MAX */
        text[i] = border_formula(ctx, crop, in, before, after, out);
        if (out < 1) {
            const char *name = check_arg_name(node, x_param);
            diag_error(check_arg_loc(node, amount_param), "E0401",
                       "cropping2d removes %lld + %lld of the %lld %s of '%s' (%s), leaving none: %s",
                       (long long)before, (long long)after, (long long)in, axis_names[i], name,
                       check_type_str(ctx, &x->type), text[i]);
            check_note_origin(ctx, x, name);
            diag_help(check_arg_loc(node, amount_param), "crop at most %lld %s in all", (long long)(in - 1),
                      axis_names[i]);
            return false;
        }
        node->type.dims[1 + i] = out;
    }
    /* Padding is stored positive and cropping negative: the runtime takes both as one kernel. */
    int64_t sign = crop ? -1 : 1;
    node->attrs.pad_top = sign * amounts[0];
    node->attrs.pad_bottom = sign * amounts[1];
    node->attrs.pad_left = sign * amounts[2];
    node->attrs.pad_right = sign * amounts[3];
    node->shape_reason = tsc_arena_format(ctx->arena, "%s %s %s: %s",
                                          check_call_summary(ctx, node, crop ? crop_keys : pad_keys),
                                          crop ? "crops" : "pads", check_type_str(ctx, &x->type),
                                          both_axes(ctx, text[0], text[1]));
    return true;
}
