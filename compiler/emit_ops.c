/* The C each op's steps become: calls of libtdlrt kernels with sizes spelled
 * as literals (only the batch is a variable). Gradients accumulate (+=);
 * cg_accumulate prints the zeroing before a gradient's first contribution.
 * Each function prints exactly the buffers lower_ops.c declares for it. */
#include <stdlib.h>
#include <string.h>

#include <tdl/runtime.h>

#include "cg_ops.h"

/* --- Small helpers ---------------------------------------------------------- */

static const cg_node_buffers *buffers_of(const cg_emitter *e, const checked_node *n) {
    return cg_buffers_of(e->program, n);
}

static const char *value_of(cg_emitter *e, const checked_node *n) {
    return cg_use(e, buffers_of(e, n)->value);
}

static bool has_grad(const cg_emitter *e, const checked_node *n) {
    return e->program->grad[n->index];
}

/* The gradient of n's output to accumulate into, or "NULL" if none is needed. */
static const char *grad_into(cg_emitter *e, const checked_node *n) {
    int g = buffers_of(e, n)->grad;
    return has_grad(e, n) && g >= 0 ? cg_accumulate(e, g) : "NULL";
}

/* grad_into for a kernel that can write the gradient whole (*write) where
 * its contribution is the first. */
static const char *grad_into_or_write(cg_emitter *e, const checked_node *n, bool *write) {
    int g = buffers_of(e, n)->grad;
    *write = false;
    return has_grad(e, n) && g >= 0 ? cg_accumulate_or_write(e, g, write) : "NULL";
}

static const char *grad_of(cg_emitter *e, const checked_node *n) {
    return cg_use(e, buffers_of(e, n)->grad);
}

static int64_t dim(const tsc_type *t, int i) {
    return t->dims[i];
}

/* "batch" for the symbolic batch dim, else the literal. */
static const char *dim_expr(cg_emitter *e, const tsc_type *t, int i) {
    if (t->dims[i] == TSC_DIM_BATCH) return "batch";
    return cg_fmt(e, "%lld", (long long)t->dims[i]);
}

/* The product of dims [from, to) as a size_t expression. */
static const char *product_expr(cg_emitter *e, const tsc_type *t, int from, int to) {
    int64_t literal = 1;
    bool batch = false;
    for (int i = from; i < to; i++) {
        if (t->dims[i] == TSC_DIM_BATCH) batch = true;
        else literal *= t->dims[i];
    }
    if (batch) return cg_fmt(e, "(size_t)batch * %lld", (long long)literal);
    return cg_fmt(e, "%lld", (long long)literal);
}

/* The parameter `role` ("kernel", "bias") of n as "m->params + OFFSET"
 * (or m->grads; with compiled-in weights the parameters are the const
 * array e->params_base), or "NULL" when the layer has none. Offsets are
 * the layout's (plan.c). */
static const char *param_expr(cg_emitter *e, const checked_node *n, const char *role, const char *base) {
    int64_t offset = e->param_offsets[n->index];
    bool compiled_in = strcmp(base, "params") == 0 && e->params_base != NULL;
    for (int k = 0; k < n->param_count; k++) {
        if (strcmp(n->params[k].role, role) == 0)
            return compiled_in ? cg_fmt(e, "%s + %lld", e->params_base, (long long)offset)
                               : cg_fmt(e, "m->%s + %lld", base, (long long)offset);
        int64_t elements = 0;
        tsc_type_elements(&n->params[k].type, 1, 0, &elements);
        offset += elements;
    }
    return "NULL";
}

static tdl_activation runtime_activation(tsc_activation a) {
    /* softmax, gelu and swish are not fused: the layer runs linear, then their own kernel. */
    return a >= TSC_ACTIVATION_FIRST_UNFUSED ? TDL_ACTIVATION_LINEAR : (tdl_activation)a;
}

static const char *const activation_constants[] = {
    [TDL_ACTIVATION_LINEAR] = "TDL_ACTIVATION_LINEAR",   [TDL_ACTIVATION_RELU] = "TDL_ACTIVATION_RELU",
    [TDL_ACTIVATION_SIGMOID] = "TDL_ACTIVATION_SIGMOID", [TDL_ACTIVATION_TANH] = "TDL_ACTIVATION_TANH",
    [TDL_ACTIVATION_LEAKY_RELU] = "TDL_ACTIVATION_LEAKY_RELU", [TDL_ACTIVATION_ELU] = "TDL_ACTIVATION_ELU",
    [TDL_ACTIVATION_SOFTPLUS] = "TDL_ACTIVATION_SOFTPLUS",
};

/* The activation an activation op applies (relu, sigmoid, tanh, leaky_relu, elu, softplus). */
static const char *activation_of_op(const checked_node *n) {
    static const tsc_activation by_op[TSC_OP_COUNT] = {
        [TSC_OP_RELU] = TSC_ACTIVATION_RELU,
        [TSC_OP_SIGMOID] = TSC_ACTIVATION_SIGMOID,
        [TSC_OP_TANH] = TSC_ACTIVATION_TANH,
        [TSC_OP_LEAKY_RELU] = TSC_ACTIVATION_LEAKY_RELU,
        [TSC_OP_ELU] = TSC_ACTIVATION_ELU,
        [TSC_OP_SOFTPLUS] = TSC_ACTIVATION_SOFTPLUS,
    };
    TSC_ASSERT(by_op[n->op] != TSC_ACTIVATION_LINEAR);
    return activation_constants[runtime_activation(by_op[n->op])];
}

/* The alpha an activation op passes: leaky_relu's slope, elu's scale, else 0. */
static double alpha_of_op(const checked_node *n) {
    return n->op == TSC_OP_LEAKY_RELU || n->op == TSC_OP_ELU ? n->attrs.alpha : 0.0;
}

/* A status-returning call: jump to the entry point's failure path. */
static void status_call(cg_emitter *e, const char *call) {
    e->failed_status = true;
    cg_line(e, "    status = %s;\n    if (status != TDL_STATUS_OK) goto fail;\n", call);
}

/* (outer, axis_len, inner) around one axis of t. */
static void axis_split(cg_emitter *e, const tsc_type *t, int axis, const char **outer, const char **len,
                       const char **inner) {
    *outer = product_expr(e, t, 0, axis);
    *len = dim_expr(e, t, axis);
    *inner = product_expr(e, t, axis + 1, t->rank);
}

/* "{batch, 5, 5, 64}" */
static const char *dims_array(cg_emitter *e, const tsc_type *t) {
    cg_buf b = {0};
    cg_buf_putc(&b, '{');
    for (int i = 0; i < t->rank; i++) cg_buf_printf(&b, "%s%s", i ? ", " : "", dim_expr(e, t, i));
    cg_buf_putc(&b, '}');
    const char *s = cg_fmt(e, "%s", cg_buf_str(&b));
    cg_buf_free(&b);
    return s;
}

static const char *reduce_constant(tsc_op op) {
    return op == TSC_OP_REDUCE_MAX ? "TDL_REDUCE_MAX" : op == TSC_OP_REDUCE_MEAN ? "TDL_REDUCE_MEAN" : "TDL_REDUCE_SUM";
}

/* The int32 class indices a loss or metric reads: the labels input itself,
 * or (f32 labels, warning W0102) its conversion, emitted here. */
static const char *class_indices(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[cg_labels_input(n)];
    int converted = buffers_of(e, n)->labels;
    if (converted < 0) return value_of(e, labels);
    const char *out = cg_use(e, converted);
    status_call(e, cg_fmt(e, "tdl_labels_from_float(%s, %s, %s)", out, value_of(e, labels),
                          cg_type_count(e, &labels->type)));
    return out;
}

/* Losses and metrics work on positions: all dims but the class axis. */
static const char *positions_expr(cg_emitter *e, const tsc_type *logits) {
    return product_expr(e, logits, 0, logits->rank - 1);
}

static long long classes_of(const tsc_type *logits) {
    return (long long)(logits->rank > 0 ? dim(logits, logits->rank - 1) : 1);
}

/* --- gelu, swish, silu: alone or after a conv2d/dense ------------------------ */

/* The tdl_gelu_form of a gelu (activation=gelu is the exact form, as
 * Keras'), or NULL for swish and silu. */
static const char *gelu_form(const checked_node *n) {
    if (n->op == TSC_OP_GELU) return n->attrs.approximate ? "TDL_GELU_TANH" : "TDL_GELU_EXACT";
    if (tsc_op_has(n->op, TSC_OPF_WEIGHTS) && n->attrs.activation == TSC_ACTIVATION_GELU) return "TDL_GELU_EXACT";
    return NULL;
}

/* y = f(x) on count elements. */
static void gated_forward_call(cg_emitter *e, const checked_node *n, const char *y, const char *x, const char *count) {
    const char *form = gelu_form(n);
    if (form != NULL)
        cg_line(e, "    tdl_gelu_forward(%s, %s, %s, %s);\n", y, x, count, form);
    else
        cg_line(e, "    tdl_swish_forward(%s, %s, %s);\n", y, x, count);
}

/* dx += dy * f'(x), x being the activation's input. */
static void gated_backward_call(cg_emitter *e, const checked_node *n, const char *dx, const char *dy, const char *x,
                                const char *count) {
    const char *form = gelu_form(n);
    if (form != NULL)
        cg_line(e, "    tdl_gelu_backward(%s, %s, %s, %s, %s);\n", dx, dy, x, count, form);
    else
        cg_line(e, "    tdl_swish_backward(%s, %s, %s, %s);\n", dx, dy, x, count);
}

/* --- conv2d, depthwise_conv2d, separable_conv2d and dense ---------------------------- */

/* The layer's kernels in their order ("m->params + 0, m->params + 288"), or
 * their gradients: the kernel arguments of tdl_<op>_forward / _backward. */
static const char *kernels_expr(cg_emitter *e, const checked_node *n, const char *base) {
    const char *list = NULL;
    for (int k = 0; k < n->param_count; k++) {
        if (strcmp(n->params[k].role, "bias") == 0) continue;
        const char *one = param_expr(e, n, n->params[k].role, base);
        list = list == NULL ? one : cg_fmt(e, "%s, %s", list, one);
    }
    TSC_ASSERT(list != NULL);
    return list;
}

static const char *state_expr(cg_emitter *e, const checked_node *n, int k, const char *base);

/* An inference batch_norm folded into conv2d: its moving statistics, gamma
 * and beta become a scale and shift per channel, which the convolution
 * applies in its output pass after the bias and activation. */
static void emit_folded_batch_norm(cg_emitter *e, const checked_node *norm, const char *kernel, const char *bias,
                                   const char *desc, const char *x) {
    const char *affine = cg_use(e, buffers_of(e, norm)->temp);
    long long channels = (long long)dim(&norm->type, norm->attrs.axis);
    const char *norm_desc = cg_desc(e, norm);
    cg_line(e, "    tdl_batch_norm_scale_shift(%s, %s + %lld, %s, %s, %s, %s, %s.channels, %s.epsilon);\n", affine, affine,
            channels, state_expr(e, norm, 0, "state"), state_expr(e, norm, 1, "state"),
            param_expr(e, norm, "gamma", "params"), param_expr(e, norm, "beta", "params"), norm_desc, norm_desc);
    cg_line(e, "    tdl_conv2d_affine_forward(%s, %s, %s, %s, %s, %s + %lld, &%s, batch, workspace);\n",
            value_of(e, norm), x, kernel, bias, affine, affine, channels, desc);
}

void emit_conv_dense_forward(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    const char *kernel = kernels_expr(e, n, "params"), *bias = param_expr(e, n, "bias", "params");
    const char *desc = cg_desc(e, n);
    const char *x = value_of(e, n->inputs[0]);
    const checked_node *norm = cg_fused_batch_norm(e->program, n);
    if (norm) {   /* conv2d -> batch_norm as one step (the batch_norm's step prints nothing) */
        emit_folded_batch_norm(e, norm, kernel, bias, desc, x);
        return;
    }
    const char *y = nb->pre >= 0 ? cg_use(e, nb->pre) : cg_use(e, nb->value);
    const checked_node *pool = cg_fused_pool(e->program, n);
    if (pool) {   /* conv2d -> max_pool2d as one step (the pool's step prints nothing) */
        const cg_node_buffers *pb = buffers_of(e, pool);
        if (pb->mask < 0 && e->program->readers[n->index] == 1)   /* y is the step's scratch */
            cg_line(e, "    tdl_conv2d_max_pool2d_forward_pooled(%s, %s, %s, %s, %s, &%s, &%s, batch, workspace);\n",
                    cg_use(e, pb->value), y, x, kernel, bias, desc, cg_desc(e, pool));
        else if (pb->mask >= 0 && cg_fused_pool_backward(e->program, n) == pool)   /* training: y unread after it */
            cg_line(e,
                    "    tdl_conv2d_max_pool2d_forward_argmax_pooled(%s, %s, %s, %s, %s, %s, &%s, &%s, batch, "
                    "workspace);\n",
                    cg_use(e, pb->value), cg_use(e, pb->mask), y, x, kernel, bias, desc, cg_desc(e, pool));
        else
            cg_line(e, "    tdl_conv2d_max_pool2d_forward(%s, %s, %s, %s, %s, %s, &%s, &%s, batch, workspace);\n",
                    cg_use(e, pb->value), pb->mask >= 0 ? cg_use(e, pb->mask) : "NULL", y, x, kernel, bias, desc,
                    cg_desc(e, pool));
    } else if (n->op != TSC_OP_DENSE)   /* tdl_conv2d_, tdl_depthwise_conv2d_, tdl_separable_conv2d_, tdl_conv2d_transpose_forward */
        cg_line(e, "    tdl_%s_forward(%s, %s, %s, %s, &%s, batch, workspace);\n", n->info->name, y, x, kernel,
                bias, desc);
    else if (e->program->mode == CG_MODE_TRAIN)   /* the threads read the kernel rows they own in the step */
        cg_line(e, "    tdl_dense_train_forward(%s, %s, %s, %s, &%s, batch, workspace);\n", y, x, kernel, bias, desc);
    else   /* two threads may each read half of a large kernel's rows */
        cg_line(e, "    tdl_dense_model_forward(%s, %s, %s, %s, &%s, batch, workspace);\n", y, x, kernel, bias, desc);
    if (nb->pre < 0) return;
    if (n->attrs.activation == TSC_ACTIVATION_SOFTMAX)
        cg_line(e, "    tdl_softmax_forward(%s, %s, %s, %lld, 1);\n", cg_use(e, nb->value), y,
                product_expr(e, &n->type, 0, n->type.rank - 1), (long long)dim(&n->type, n->type.rank - 1));
    else
        gated_forward_call(e, n, cg_use(e, nb->value), y, cg_type_count(e, &n->type));
}

void emit_conv_dense_backward(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    const char *kernel = kernels_expr(e, n, "params"), *dkernel = kernels_expr(e, n, "grads");
    const char *dbias = param_expr(e, n, "bias", "grads");
    const char *desc = cg_desc(e, n);
    const checked_node *pool = cg_fused_pool_backward(e->program, n);
    if (pool) {   /* conv2d -> max_pool2d as one step (the pool's step prints nothing) */
        const cg_node_buffers *pb = buffers_of(e, pool);
        const char *dpooled = grad_of(e, pool), *argmax = cg_use(e, pb->mask), *pooled = cg_use(e, pb->value);
        const char *dx = grad_into(e, n->inputs[0]);
        cg_line(e, "    tdl_conv2d_max_pool2d_backward(%s, %s, %s, %s, %s, %s, %s, %s, &%s, &%s, batch, workspace);\n",
                dx, dkernel, dbias, dpooled, argmax, pooled, value_of(e, n->inputs[0]), kernel, desc, cg_desc(e, pool));
        return;
    }
    const char *dy = grad_of(e, n);
    const char *y = nb->pre < 0 || n->attrs.activation == TSC_ACTIVATION_SOFTMAX ? value_of(e, n) : NULL;
    if (nb->pre >= 0) {
        /* an unfused activation after a linear layer: through it first. */
        const char *dpre = cg_accumulate(e, nb->dpre);
        const char *pre = cg_use(e, nb->pre);
        if (n->attrs.activation == TSC_ACTIVATION_SOFTMAX)
            cg_line(e, "    tdl_softmax_backward(%s, %s, %s, %s, %lld, 1);\n", dpre, dy, y,
                    product_expr(e, &n->type, 0, n->type.rank - 1), (long long)dim(&n->type, n->type.rank - 1));
        else
            gated_backward_call(e, n, dpre, dy, pre, cg_type_count(e, &n->type));
        dy = dpre;
        y = pre;
    }
    const char *x = value_of(e, n->inputs[0]);
    if (n->op == TSC_OP_DENSE) {
        /* A dense layer's parameter gradients are written whole, not added
         * to: the pass does not zero them (emit_c.c). Nor dx, where this
         * layer's is the first contribution to it. */
        bool write;
        const char *dx = grad_into_or_write(e, n->inputs[0], &write);
        cg_line(e, "    tdl_dense_train_backward(%s, %s, %s, %s, %s, %s, %s, &%s, batch, workspace, %s);\n", dx,
                dkernel, dbias, dy, y, x, kernel, desc, write ? "TDL_DX_WRITE" : "TDL_DX_ADD");
        return;
    }
    cg_line(e, "    tdl_%s_backward(%s, %s, %s, %s, %s, %s, %s, &%s, batch, workspace);\n", n->info->name,
            grad_into(e, n->inputs[0]), dkernel, dbias, dy, y, x, kernel, desc);
}

/* --- Pools ---------------------------------------------------------------------- */

void emit_pool_forward(cg_emitter *e, const checked_node *n) {
    if (cg_forward_fused(e->program, n)) {   /* done by the conv2d's step */
        cg_line(e, "    /* computed with the convolution above */\n");
        return;
    }
    int argmax = buffers_of(e, n)->mask;
    if (argmax >= 0) {   /* training: keep each window's argmax for the backward */
        cg_line(e, "    tdl_max_pool2d_forward_argmax(%s, %s, %s, &%s, batch);\n", value_of(e, n), cg_use(e, argmax),
                value_of(e, n->inputs[0]), cg_desc(e, n));
        return;
    }
    const char *fn = n->op == TSC_OP_MAX_POOL2D ? "tdl_max_pool2d_forward" : "tdl_avg_pool2d_forward";
    cg_line(e, "    %s(%s, %s, &%s, batch);\n", fn, value_of(e, n), value_of(e, n->inputs[0]), cg_desc(e, n));
}

void emit_pool_backward(cg_emitter *e, const checked_node *n) {
    if (cg_backward_fused(e->program, n)) {   /* done by the conv2d's step */
        cg_line(e, "    /* computed with the convolution below */\n");
        return;
    }
    const char *desc = cg_desc(e, n);
    const char *dy = grad_of(e, n);
    const char *dx = grad_into(e, n->inputs[0]);
    int argmax = buffers_of(e, n)->mask;
    if (argmax >= 0)
        cg_line(e, "    tdl_max_pool2d_backward_argmax(%s, %s, %s, &%s, batch);\n", dx, dy, cg_use(e, argmax), desc);
    else if (n->op == TSC_OP_MAX_POOL2D)
        cg_line(e, "    tdl_max_pool2d_backward(%s, %s, %s, &%s, batch);\n", dx, dy, value_of(e, n->inputs[0]), desc);
    else
        cg_line(e, "    tdl_avg_pool2d_backward(%s, %s, &%s, batch);\n", dx, dy, desc);
}

void emit_global_pool_forward(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    const char *fn = n->op == TSC_OP_GLOBAL_MAX_POOL2D ? "tdl_global_max_pool2d_forward" : "tdl_global_avg_pool2d_forward";
    cg_line(e, "    %s(%s, %s, %s, %lld, %lld);\n", fn, value_of(e, n), value_of(e, n->inputs[0]), dim_expr(e, in, 0),
            (long long)(dim(in, 1) * dim(in, 2)), (long long)dim(in, 3));
}

void emit_global_pool_backward(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    const char *b = dim_expr(e, in, 0);
    const char *dy = grad_of(e, n);
    const char *dx = grad_into(e, n->inputs[0]);
    long long spatial = (long long)(dim(in, 1) * dim(in, 2)), channels = (long long)dim(in, 3);
    if (n->op == TSC_OP_GLOBAL_MAX_POOL2D)
        cg_line(e, "    tdl_global_max_pool2d_backward(%s, %s, %s, %s, %lld, %lld);\n", dx, dy,
                value_of(e, n->inputs[0]), b, spatial, channels);
    else
        cg_line(e, "    tdl_global_avg_pool2d_backward(%s, %s, %s, %lld, %lld);\n", dx, dy, b, spatial, channels);
}

/* --- upsample2d, zero_padding2d, cropping2d ------------------------------------------ */

/* Padding and cropping share the runtime's pad2d kernels (cropping pads by a negative amount). */
static const char *resize_kernel(const checked_node *n) {
    return n->op == TSC_OP_UPSAMPLE2D ? "upsample2d" : "pad2d";
}

void emit_resize_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_%s_forward(%s, %s, &%s, batch);\n", resize_kernel(n), value_of(e, n), value_of(e, n->inputs[0]),
            cg_desc(e, n));
}

void emit_resize_backward(cg_emitter *e, const checked_node *n) {
    const char *desc = cg_desc(e, n);
    const char *dy = grad_of(e, n);
    cg_line(e, "    tdl_%s_backward(%s, %s, &%s, batch);\n", resize_kernel(n), grad_into(e, n->inputs[0]), dy, desc);
}

/* --- Reductions, argmax, one_hot -------------------------------------------------- */

void emit_reduce_forward(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    cg_line(e, "    {\n        const int dims[] = %s;\n", dims_array(e, in));
    cg_line(e, "        tdl_reduce_forward(%s, %s, dims, %d, 0x%xu, %s);\n    }\n", value_of(e, n),
            value_of(e, n->inputs[0]), in->rank, (unsigned)n->attrs.axis_mask, reduce_constant(n->op));
}

void emit_reduce_backward(cg_emitter *e, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    bool max = n->op == TSC_OP_REDUCE_MAX;
    const char *dy = grad_of(e, n);
    const char *y = max ? value_of(e, n) : "NULL";
    const char *x = max ? value_of(e, n->inputs[0]) : "NULL";
    const char *dx = grad_into(e, n->inputs[0]);
    cg_line(e, "    {\n        const int dims[] = %s;\n", dims_array(e, in));
    cg_line(e, "        tdl_reduce_backward(%s, %s, %s, %s, dims, %d, 0x%xu, %s);\n    }\n", dx, dy, y, x, in->rank,
            (unsigned)n->attrs.axis_mask, reduce_constant(n->op));
}

void emit_argmax_forward(cg_emitter *e, const checked_node *n) {
    const char *outer, *len, *inner;
    axis_split(e, &n->inputs[0]->type, n->attrs.axis, &outer, &len, &inner);
    cg_line(e, "    tdl_argmax_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]), outer, len,
            inner);
}

void emit_one_hot_forward(cg_emitter *e, const checked_node *n) {
    status_call(e, cg_fmt(e, "tdl_one_hot_forward(%s, %s, %s, %lld)", value_of(e, n), value_of(e, n->inputs[0]),
                          cg_type_count(e, &n->inputs[0]->type), (long long)n->attrs.depth));
}

/* --- dropout and add ---------------------------------------------------------------- */

void emit_dropout_forward(cg_emitter *e, const checked_node *n) {
    if (e->program->mode != CG_MODE_TRAIN) return; /* the identity: an alias of its input */
    cg_line(e, "    tdl_dropout_forward(%s, %s, %s, %s, %s, &m->dropout_rng);\n", value_of(e, n),
            cg_use(e, buffers_of(e, n)->mask), value_of(e, n->inputs[0]), cg_type_count(e, &n->type),
            cg_float(e, n->attrs.rate));
}

void emit_dropout_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n), *mask = cg_use(e, buffers_of(e, n)->mask);
    cg_line(e, "    tdl_dropout_backward(%s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, mask,
            cg_type_count(e, &n->type));
}

void emit_add_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_add_forward(%s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
            value_of(e, n->inputs[1]), cg_type_count(e, &n->type));
}

void emit_add_backward(cg_emitter *e, const checked_node *n) {
    for (int i = 0; i < 2; i++) {
        if (!has_grad(e, n->inputs[i])) continue;
        const char *dy = grad_of(e, n);
        cg_line(e, "    tdl_accumulate(%s, %s, %s);\n", grad_into(e, n->inputs[i]), dy, cg_type_count(e, &n->type));
    }
}

/* --- subtract and rescaling ------------------------------------------------------------ */

void emit_subtract_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_subtract_forward(%s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
            value_of(e, n->inputs[1]), cg_type_count(e, &n->type));
}

void emit_subtract_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n);
    const char *da = grad_into(e, n->inputs[0]);
    const char *db = grad_into(e, n->inputs[1]);
    cg_line(e, "    tdl_subtract_backward(%s, %s, %s, %s);\n", da, db, dy, cg_type_count(e, &n->type));
}

void emit_rescaling_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_rescaling_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
            cg_type_count(e, &n->type), cg_float(e, n->attrs.scale), cg_float(e, n->attrs.offset));
}

void emit_rescaling_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n);
    cg_line(e, "    tdl_rescaling_backward(%s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy,
            cg_type_count(e, &n->type), cg_float(e, n->attrs.scale));
}

/* --- conv2d_backprop_filter / _input ------------------------------------------------- */

void emit_conv_backprop_forward(cg_emitter *e, const checked_node *n) {
    const char *desc = cg_desc(e, n);
    const char *y = value_of(e, n);
    cg_line(e, "    tdl_zero(%s, %s);\n", y, cg_type_count(e, &n->type));
    cg_line(e, "    tdl_conv2d_backprop_%s(%s, %s, %s, &%s, batch, workspace);\n",
            n->op == TSC_OP_CONV2D_BACKPROP_FILTER ? "filter" : "input", y, value_of(e, n->inputs[0]),
            value_of(e, n->inputs[1]), desc);
}

void emit_conv_backprop_backward(cg_emitter *e, const checked_node *n) {
    const cg_node_buffers *nb = buffers_of(e, n);
    const char *desc = cg_desc(e, n);
    const checked_node *first = n->inputs[0], *out_backprop = n->inputs[1];
    const char *g = grad_of(e, n);
    bool filter = n->op == TSC_OP_CONV2D_BACKPROP_FILTER;
    if (has_grad(e, first)) {
        /* backprop_filter: d input = backprop_input(filter = g); backprop_input: d filter = backprop_filter(input = g) */
        const char *d = grad_into(e, first);
        cg_line(e, "    tdl_conv2d_backprop_%s(%s, %s, %s, &%s, batch, workspace);\n", filter ? "input" : "filter",
                d, g, value_of(e, out_backprop), desc);
    }
    if (has_grad(e, out_backprop)) {
        /* d out_backprop = conv2d(input, filter) with g in the place of the missing operand. */
        const char *tmp = cg_use(e, nb->temp);
        const char *x = filter ? value_of(e, first) : g;
        const char *w = filter ? g : value_of(e, first);
        cg_line(e, "    tdl_conv2d_forward(%s, %s, %s, NULL, &%s, batch, workspace);\n", tmp, x, w, desc);
        const char *d = grad_into(e, out_backprop);
        cg_line(e, "    tdl_accumulate(%s, %s, %s);\n", d, tmp, cg_type_count(e, &out_backprop->type));
    }
}

/* --- Activations and softmax ---------------------------------------------------------- */

void emit_activation_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_activation_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
            cg_type_count(e, &n->type), activation_of_op(n), cg_float(e, alpha_of_op(n)));
}

void emit_activation_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n), *y = value_of(e, n);
    cg_line(e, "    tdl_activation_backward(%s, %s, %s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, y,
            cg_type_count(e, &n->type), activation_of_op(n), cg_float(e, alpha_of_op(n)));
}

void emit_gated_forward(cg_emitter *e, const checked_node *n) {
    gated_forward_call(e, n, value_of(e, n), value_of(e, n->inputs[0]), cg_type_count(e, &n->type));
}

void emit_gated_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n), *x = value_of(e, n->inputs[0]);
    gated_backward_call(e, n, grad_into(e, n->inputs[0]), dy, x, cg_type_count(e, &n->type));
}

void emit_softmax_forward(cg_emitter *e, const checked_node *n) {
    const char *outer, *len, *inner;
    axis_split(e, &n->type, n->attrs.axis, &outer, &len, &inner);
    cg_line(e, "    tdl_softmax_forward(%s, %s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]), outer, len,
            inner);
}

void emit_softmax_backward(cg_emitter *e, const checked_node *n) {
    const char *outer, *len, *inner;
    axis_split(e, &n->type, n->attrs.axis, &outer, &len, &inner);
    const char *dy = grad_of(e, n), *y = value_of(e, n);
    cg_line(e, "    tdl_softmax_backward(%s, %s, %s, %s, %s, %s);\n", grad_into(e, n->inputs[0]), dy, y, outer, len,
            inner);
}

/* --- Losses and metrics ----------------------------------------------------------------- */

/* What every loss kernel takes: forward (y, logits, labels, sizes) and
 * backward (gradients, weight, logits, labels, sizes), in the order the
 * buffers are touched (dlogits is accumulated before dlabels). */
typedef struct loss_call {
    const char *v, *dx, *dy, *weight, *x, *y, *positions, *count, *desc;
    long long classes;
} loss_call;

static loss_call loss_forward_call(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[0], *logits = n->inputs[1];
    loss_call c = {0};
    c.v = value_of(e, n);
    c.x = value_of(e, logits);
    c.y = n->attrs.sparse_labels ? class_indices(e, n) : value_of(e, labels);
    c.positions = positions_expr(e, &logits->type);
    c.count = cg_type_count(e, &logits->type);
    c.classes = classes_of(&logits->type);
    c.desc = cg_desc(e, n);
    return c;
}

static loss_call loss_backward_call(cg_emitter *e, const checked_node *n) {
    const checked_node *labels = n->inputs[0], *logits = n->inputs[1];
    loss_call c = {0};
    c.positions = positions_expr(e, &logits->type);
    c.count = cg_type_count(e, &logits->type);
    c.weight = cg_float(e, n->attrs.weight);
    c.classes = classes_of(&logits->type);
    c.desc = cg_desc(e, n);
    c.x = value_of(e, logits);
    int converted = buffers_of(e, n)->labels;
    c.y = converted >= 0 ? cg_use(e, converted) : value_of(e, labels);
    c.dx = grad_into(e, logits);
    c.dy = labels->type.dtype == TSC_DTYPE_F32 ? grad_into(e, labels) : "NULL";
    return c;
}

/* A cross-entropy or focal call: `family`_`step`(args), or with
 * label_smoothing > 0 `family`_smoothed_`step`(args, s), which returns a
 * status. The kernels on class indices return one either way (they check
 * the labels). */
static void xent_call(cg_emitter *e, const checked_node *n, const char *family, const char *step, const char *args) {
    if (n->attrs.label_smoothing > 0.0)
        status_call(e, cg_fmt(e, "%s_smoothed_%s(%s, %s)", family, step, args, cg_float(e, n->attrs.label_smoothing)));
    else if (n->attrs.sparse_labels)
        status_call(e, cg_fmt(e, "%s_%s(%s)", family, step, args));
    else
        cg_line(e, "    %s_%s(%s);\n", family, step, args);
}

void emit_sparse_xent_forward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_forward_call(e, n);
    xent_call(e, n, "tdl_sparse_softmax_xent", "forward",
              cg_fmt(e, "%s, %s, %s, %s, %lld", c.v, c.x, c.y, c.positions, c.classes));
}

void emit_sparse_xent_backward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_backward_call(e, n);
    xent_call(e, n, "tdl_sparse_softmax_xent", "backward",
              cg_fmt(e, "%s, %s, %s, %s, %s, %lld", c.dx, c.weight, c.x, c.y, c.positions, c.classes));
}

void emit_softmax_xent_forward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_forward_call(e, n);
    xent_call(e, n, "tdl_softmax_xent", "forward", cg_fmt(e, "%s, %s, %s, %s, %lld", c.v, c.x, c.y, c.positions, c.classes));
}

void emit_softmax_xent_backward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_backward_call(e, n);
    xent_call(e, n, "tdl_softmax_xent", "backward",
              cg_fmt(e, "%s, %s, %s, %s, %s, %s, %lld", c.dx, c.dy, c.weight, c.x, c.y, c.positions, c.classes));
}

/* sigmoid_cross_entropy, and binary_cross_entropy with from_logits=true */
static const char *binary_family(const checked_node *n) {
    return n->op == TSC_OP_SIGMOID_CROSS_ENTROPY || n->attrs.from_logits ? "tdl_sigmoid_xent" : "tdl_binary_xent";
}

void emit_binary_xent_forward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_forward_call(e, n);
    xent_call(e, n, binary_family(n), "forward", cg_fmt(e, "%s, %s, %s, %s", c.v, c.x, c.y, c.count));
}

void emit_binary_xent_backward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_backward_call(e, n);
    xent_call(e, n, binary_family(n), "backward",
              cg_fmt(e, "%s, %s, %s, %s, %s, %s", c.dx, c.dy, c.weight, c.x, c.y, c.count));
}

static const char *focal_family(const checked_node *n) {
    return n->attrs.sparse_labels ? "tdl_sparse_focal" : "tdl_focal";
}

void emit_focal_forward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_forward_call(e, n);
    xent_call(e, n, focal_family(n), "forward",
              cg_fmt(e, "%s, %s, %s, %s, %lld, &%s", c.v, c.x, c.y, c.positions, c.classes, c.desc));
}

void emit_focal_backward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_backward_call(e, n);
    xent_call(e, n, focal_family(n), "backward",
              cg_fmt(e, "%s, %s, %s, %s, %s, %lld, &%s", c.dx, c.weight, c.x, c.y, c.positions, c.classes, c.desc));
}

/* mean_squared_error and mean_absolute_error: `kernel`_forward/_backward
 * over all elements, the labels' gradient included. */
static void regression_forward(cg_emitter *e, const checked_node *n, const char *kernel) {
    loss_call c = loss_forward_call(e, n);
    cg_line(e, "    %s_forward(%s, %s, %s, %s);\n", kernel, c.v, c.x, c.y, c.count);
}

static void regression_backward(cg_emitter *e, const checked_node *n, const char *kernel) {
    loss_call c = loss_backward_call(e, n);
    cg_line(e, "    %s_backward(%s, %s, %s, %s, %s, %s);\n", kernel, c.dx, c.dy, c.weight, c.x, c.y, c.count);
}

void emit_mse_forward(cg_emitter *e, const checked_node *n) {
    regression_forward(e, n, "tdl_mse");
}

void emit_mse_backward(cg_emitter *e, const checked_node *n) {
    regression_backward(e, n, "tdl_mse");
}

void emit_mae_forward(cg_emitter *e, const checked_node *n) {
    regression_forward(e, n, "tdl_mae");
}

void emit_mae_backward(cg_emitter *e, const checked_node *n) {
    regression_backward(e, n, "tdl_mae");
}

void emit_huber_forward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_forward_call(e, n);
    status_call(e, cg_fmt(e, "tdl_huber_forward(%s, %s, %s, %s, %s)", c.v, c.x, c.y, c.count,
                          cg_float(e, n->attrs.delta)));
}

void emit_huber_backward(cg_emitter *e, const checked_node *n) {
    loss_call c = loss_backward_call(e, n);
    status_call(e, cg_fmt(e, "tdl_huber_backward(%s, %s, %s, %s, %s, %s, %s)", c.dx, c.dy, c.weight, c.x, c.y,
                          c.count, cg_float(e, n->attrs.delta)));
}

void emit_metric_forward(cg_emitter *e, const checked_node *n) {
    const char *v = value_of(e, n);
    if (n->op == TSC_OP_MEAN) {
        const checked_node *x = n->inputs[0];
        cg_line(e, "    {\n        double sum = 0.0;\n        const size_t count = %s;\n", cg_type_count(e, &x->type));
        cg_line(e, "        for (size_t i = 0; i < count; i++) sum += %s[i];\n", value_of(e, x));
        cg_line(e, "        %s[0] = (float)(sum / (double)count);\n    }\n", v);
        return;
    }
    /* in_top_k(predictions, targets, k); accuracy(labels, logits) is in_top_k with k = 1. */
    bool top_k = n->op == TSC_OP_IN_TOP_K;
    const checked_node *scores = top_k ? n->inputs[0] : n->inputs[1];
    const char *positions = positions_expr(e, &scores->type);
    const char *indices = class_indices(e, n);
    status_call(e, cg_fmt(e, "tdl_in_top_k(%s, %s, %s, (int)(%s), %lld, %lld)", v, value_of(e, scores), indices,
                          positions, classes_of(&scores->type), (long long)(top_k ? n->attrs.k : 1)));
}

/* --- concat and multiply ---------------------------------------------------------------- */

/* Each input of a concat is (outer, lens[i], inner) around the axis; the
 * output is (outer, sum of lens, inner). */
static void concat_sizes(cg_emitter *e, const checked_node *n, const char **lens, const char **outer,
                         const char **inner) {
    cg_buf b = {0};
    cg_buf_putc(&b, '{');
    for (int i = 0; i < n->input_count; i++)
        cg_buf_printf(&b, "%s%lld", i ? ", " : "", (long long)n->inputs[i]->type.dims[n->attrs.axis]);
    cg_buf_putc(&b, '}');
    *lens = cg_fmt(e, "%s", cg_buf_str(&b));
    cg_buf_free(&b);
    *outer = product_expr(e, &n->type, 0, n->attrs.axis);
    *inner = product_expr(e, &n->type, n->attrs.axis + 1, n->type.rank);
}

void emit_concat_forward(cg_emitter *e, const checked_node *n) {
    const char *lens, *outer, *inner;
    concat_sizes(e, n, &lens, &outer, &inner);
    cg_line(e, "    {\n        const float *const parts[] = {");
    for (int i = 0; i < n->input_count; i++) cg_line(e, "%s%s", i ? ", " : "", value_of(e, n->inputs[i]));
    cg_line(e, "};\n        static const int lens[] = %s;\n", lens);
    cg_line(e, "        tdl_concat_forward(%s, parts, lens, %d, %s, %s);\n    }\n", value_of(e, n), n->input_count, outer,
            inner);
}

void emit_concat_backward(cg_emitter *e, const checked_node *n) {
    const char *lens, *outer, *inner;
    concat_sizes(e, n, &lens, &outer, &inner);
    const char *dy = grad_of(e, n);
    /* The zeroing of each input's gradient comes before the block. */
    const char **parts = tsc_xcalloc((size_t)n->input_count + 1, sizeof *parts);
    for (int i = 0; i < n->input_count; i++) parts[i] = grad_into(e, n->inputs[i]);
    cg_line(e, "    {\n        float *const dparts[] = {");
    for (int i = 0; i < n->input_count; i++) cg_line(e, "%s%s", i ? ", " : "", parts[i]);
    cg_line(e, "};\n        static const int lens[] = %s;\n", lens);
    cg_line(e, "        tdl_concat_backward(dparts, %s, lens, %d, %s, %s);\n    }\n", dy, n->input_count, outer, inner);
    free(parts);
}

void emit_multiply_forward(cg_emitter *e, const checked_node *n) {
    cg_line(e, "    tdl_multiply_forward(%s, %s, %s, %s);\n", value_of(e, n), value_of(e, n->inputs[0]),
            value_of(e, n->inputs[1]), cg_type_count(e, &n->type));
}

void emit_multiply_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n), *a = value_of(e, n->inputs[0]), *b = value_of(e, n->inputs[1]);
    const char *da = grad_into(e, n->inputs[0]);
    const char *db = grad_into(e, n->inputs[1]);
    cg_line(e, "    tdl_multiply_backward(%s, %s, %s, %s, %s, %s);\n", da, db, dy, a, b, cg_type_count(e, &n->type));
}

/* --- batch_norm ------------------------------------------------------------------ */

/* State tensor `k` of n (0 moving_mean, 1 moving_variance) in m->state, or
 * the batch's statistic for it in m->batch_state: the same offset in both. */
static const char *state_expr(cg_emitter *e, const checked_node *n, int k, const char *base) {
    int64_t offset = e->state_offsets[n->index];
    for (int i = 0; i < k; i++) {
        int64_t elements = 0;
        tsc_type_elements(&n->state[i].type, 1, 0, &elements);
        offset += elements;
    }
    if (e->state_base && strcmp(base, "state") == 0) return cg_fmt(e, "%s + %lld", e->state_base, (long long)offset);
    return cg_fmt(e, "m->%s + %lld", base, (long long)offset);
}

/* The examples a kernel sees: the batch, or a static first dimension. */
static const char *examples_of(cg_emitter *e, const tsc_type *t) {
    return dim_expr(e, t, 0);
}

void emit_batch_norm_forward(cg_emitter *e, const checked_node *n) {
    if (cg_forward_fused(e->program, n)) {   /* done by the conv2d's step */
        cg_line(e, "    /* applied by the convolution above */\n");
        return;
    }
    const char *y = value_of(e, n), *x = value_of(e, n->inputs[0]);
    const char *gamma = param_expr(e, n, "gamma", "params"), *beta = param_expr(e, n, "beta", "params");
    const char *desc = cg_desc(e, n), *examples = examples_of(e, &n->type);
    if (e->program->mode == CG_MODE_TRAIN) {   /* the batch's statistics, kept for backward and the update */
        cg_line(e, "    tdl_batch_norm_forward_train(%s, %s, %s, %s, %s, %s, &%s, %s);\n", y,
                state_expr(e, n, 0, "batch_state"), state_expr(e, n, 1, "batch_state"), x, gamma, beta, desc,
                examples);
        return;
    }
    cg_line(e, "    tdl_batch_norm_forward(%s, %s, %s, %s, %s, %s, &%s, %s);\n", y, x, state_expr(e, n, 0, "state"),
            state_expr(e, n, 1, "state"), gamma, beta, desc, examples);
}

void emit_batch_norm_backward(cg_emitter *e, const checked_node *n) {
    const char *dy = grad_of(e, n), *x = value_of(e, n->inputs[0]);
    const char *dx = grad_into(e, n->inputs[0]);
    const char *gamma = param_expr(e, n, "gamma", "params");
    const char *dgamma = param_expr(e, n, "gamma", "grads"), *dbeta = param_expr(e, n, "beta", "grads");
    cg_line(e, "    tdl_batch_norm_backward(%s, %s, %s, %s, %s, %s, %s, %s, &%s, %s);\n", dx, dgamma, dbeta, dy, x,
            state_expr(e, n, 0, "batch_state"), state_expr(e, n, 1, "batch_state"), gamma, cg_desc(e, n),
            examples_of(e, &n->type));
}
