/* The operands of each op's steps: which buffers its forward and backward
 * C read, write and accumulate into. emit_ops.c prints the same calls, and
 * the emitter checks that it touches exactly these buffers, so the plan
 * (made from these lists) and the code cannot disagree. Accumulations are
 * declared in the order the code makes them: the first one of a gradient
 * is the one that zeroes it. */
#include "cg_ops.h"

static int value(cg_lowerer *l, const checked_node *n) {
    return cg_buffers_of(l->program, n)->value;
}

static bool has_grad(const cg_lowerer *l, const checked_node *n) {
    return l->program->grad[n->index];
}

/* The gradient of n's output, if one is needed, accumulated into. */
static void grad_into(cg_lowerer *l, const checked_node *n) {
    int g = cg_buffers_of(l->program, n)->grad;
    if (has_grad(l, n) && g >= 0) cg_accumulate_into(l, g);
}

static void read_grad(cg_lowerer *l, const checked_node *n) {
    cg_read(l, cg_buffers_of(l->program, n)->grad);
}

/* The int32 class indices of a loss or metric: the labels, or their conversion. */
static void class_indices(cg_lowerer *l, const checked_node *n) {
    int converted = cg_buffers_of(l->program, n)->labels;
    cg_read(l, value(l, n->inputs[cg_labels_input(n)]));
    if (converted >= 0) cg_write(l, converted);
}

void lower_conv_dense_forward(cg_lowerer *l, const checked_node *n) {
    const cg_node_buffers *nb = cg_buffers_of(l->program, n);
    cg_read(l, value(l, n->inputs[0]));
    if (nb->pre >= 0) cg_write(l, nb->pre);
    const checked_node *norm = cg_fused_batch_norm(l->program, n);
    if (norm) {   /* the batch_norm's scale and shift, then its output, in this step */
        cg_write(l, cg_buffers_of(l->program, norm)->temp);
        cg_write(l, value(l, norm));
        return;
    }
    cg_write(l, nb->value);
    const checked_node *pool = cg_fused_pool(l->program, n);
    if (pool) {   /* the pool's outputs are written by this step */
        const cg_node_buffers *pb = cg_buffers_of(l->program, pool);
        cg_write(l, pb->value);
        if (pb->mask >= 0) cg_write(l, pb->mask);
    }
}

void lower_conv_dense_backward(cg_lowerer *l, const checked_node *n) {
    const cg_node_buffers *nb = cg_buffers_of(l->program, n);
    const checked_node *pool = cg_fused_pool_backward(l->program, n);
    if (pool) {   /* from the pool's gradient, its argmax and its output */
        const cg_node_buffers *pb = cg_buffers_of(l->program, pool);
        read_grad(l, pool);
        cg_read(l, pb->mask);
        cg_read(l, pb->value);
        grad_into(l, n->inputs[0]);
        cg_read(l, value(l, n->inputs[0]));
        return;
    }
    read_grad(l, n);
    /* softmax's backward reads its output; gelu's and swish's only their input, pre. */
    if (nb->pre < 0 || n->attrs.activation == TSC_ACTIVATION_SOFTMAX) cg_read(l, nb->value);
    if (nb->pre >= 0) {
        cg_accumulate_into(l, nb->dpre);
        cg_read(l, nb->pre);
    }
    grad_into(l, n->inputs[0]);
    cg_read(l, value(l, n->inputs[0]));
}

void lower_unary_forward(cg_lowerer *l, const checked_node *n) {
    cg_write(l, value(l, n));
    cg_read(l, value(l, n->inputs[0]));
}

void lower_binary_forward(cg_lowerer *l, const checked_node *n) {
    cg_write(l, value(l, n));
    for (int i = 0; i < n->input_count; i++) cg_read(l, value(l, n->inputs[i]));
}

/* max_pool2d in training also writes each window's argmax (a mask buffer). */
void lower_pool_forward(cg_lowerer *l, const checked_node *n) {
    if (cg_forward_fused(l->program, n)) return;   /* done by the conv2d's step */
    lower_unary_forward(l, n);
    int argmax = cg_buffers_of(l->program, n)->mask;
    if (argmax >= 0) cg_write(l, argmax);
}

void lower_pool_backward(cg_lowerer *l, const checked_node *n) {
    if (cg_backward_fused(l->program, n)) return;   /* done by the conv2d's step */
    read_grad(l, n);
    grad_into(l, n->inputs[0]);
    int argmax = cg_buffers_of(l->program, n)->mask;
    if (argmax >= 0)
        cg_read(l, argmax);   /* scatter through the saved argmax */
    else if (n->op == TSC_OP_MAX_POOL2D || n->op == TSC_OP_GLOBAL_MAX_POOL2D)
        cg_read(l, value(l, n->inputs[0]));
}

void lower_reduce_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    if (n->op == TSC_OP_REDUCE_MAX) {
        cg_read(l, value(l, n));
        cg_read(l, value(l, n->inputs[0]));
    }
    grad_into(l, n->inputs[0]);
}

/* A linear op whose gradient needs nothing but its own (padding, cropping, upsampling). */
void lower_linear_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    grad_into(l, n->inputs[0]);
}

void lower_dropout_forward(cg_lowerer *l, const checked_node *n) {
    if (l->program->mode != CG_MODE_TRAIN) return; /* the identity: a view */
    cg_write(l, value(l, n));
    cg_write(l, cg_buffers_of(l->program, n)->mask);
    cg_read(l, value(l, n->inputs[0]));
}

void lower_dropout_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    cg_read(l, cg_buffers_of(l->program, n)->mask);
    grad_into(l, n->inputs[0]);
}

void lower_add_backward(cg_lowerer *l, const checked_node *n) {
    for (int i = 0; i < 2; i++) {
        if (!has_grad(l, n->inputs[i])) continue;
        read_grad(l, n);
        grad_into(l, n->inputs[i]);
    }
}

void lower_conv_backprop_backward(cg_lowerer *l, const checked_node *n) {
    const checked_node *first = n->inputs[0], *out_backprop = n->inputs[1];
    read_grad(l, n);
    if (has_grad(l, first)) {
        grad_into(l, first);
        cg_read(l, value(l, out_backprop));
    }
    if (has_grad(l, out_backprop)) {
        cg_write(l, cg_buffers_of(l->program, n)->temp);
        cg_read(l, value(l, first));
        grad_into(l, out_backprop);
    }
}

void lower_activation_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    cg_read(l, value(l, n));
    grad_into(l, n->inputs[0]);
}

/* gelu, swish, silu: the derivative is a function of the input. */
void lower_gated_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    cg_read(l, value(l, n->inputs[0]));
    grad_into(l, n->inputs[0]);
}

void lower_loss_forward(cg_lowerer *l, const checked_node *n) {
    cg_write(l, value(l, n));
    cg_read(l, value(l, n->inputs[1]));
    if (n->attrs.sparse_labels) class_indices(l, n);
    else cg_read(l, value(l, n->inputs[0]));
}

void lower_loss_backward(cg_lowerer *l, const checked_node *n) {
    const checked_node *labels = n->inputs[0], *logits = n->inputs[1];
    int converted = cg_buffers_of(l->program, n)->labels;
    cg_read(l, value(l, logits));
    cg_read(l, converted >= 0 ? converted : value(l, labels));
    grad_into(l, logits);
    if (labels->type.dtype == TSC_DTYPE_F32) grad_into(l, labels);
}

void lower_metric_forward(cg_lowerer *l, const checked_node *n) {
    cg_write(l, value(l, n));
    if (n->op == TSC_OP_MEAN) {
        cg_read(l, value(l, n->inputs[0]));
        return;
    }
    const checked_node *scores = n->op == TSC_OP_IN_TOP_K ? n->inputs[0] : n->inputs[1];
    cg_read(l, value(l, scores));
    class_indices(l, n);
}

void lower_batch_norm_forward(cg_lowerer *l, const checked_node *n) {
    if (cg_forward_fused(l->program, n)) return;   /* done by the conv2d's step */
    lower_unary_forward(l, n);
}

/* batch_norm's backward recomputes the normalised input from x and the
 * batch's statistics (kept in m->batch_state, not a buffer). */
void lower_batch_norm_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    cg_read(l, value(l, n->inputs[0]));
    grad_into(l, n->inputs[0]);
}

/* --- concat and multiply -------------------------------------------------- */

void lower_concat_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    for (int i = 0; i < n->input_count; i++) grad_into(l, n->inputs[i]);
}

void lower_multiply_backward(cg_lowerer *l, const checked_node *n) {
    read_grad(l, n);
    cg_read(l, value(l, n->inputs[0]));
    cg_read(l, value(l, n->inputs[1]));
    grad_into(l, n->inputs[0]);
    grad_into(l, n->inputs[1]);
}
