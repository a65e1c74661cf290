/* The functions the rows of the lowering table (op_table.c) name: operand
 * declarations (lower_ops.c), C emitters (emit_ops.c) and descriptors and
 * scratch (emit_desc.c). Families of ops share a function; every row names
 * its own column, so adding an op is a row plus the functions it needs. */
#ifndef TSC_CG_OPS_H
#define TSC_CG_OPS_H

#include "cg.h"

/* --- lowering: the operands of a step (lower_ops.c) ----------------------- */
void lower_conv_dense_forward(cg_lowerer *l, const checked_node *n);
void lower_conv_dense_backward(cg_lowerer *l, const checked_node *n);
void lower_unary_forward(cg_lowerer *l, const checked_node *n);      /* y = f(x) */
void lower_binary_forward(cg_lowerer *l, const checked_node *n);     /* y = f(a, b) */
void lower_pool_forward(cg_lowerer *l, const checked_node *n);
void lower_pool_backward(cg_lowerer *l, const checked_node *n);      /* max pools read x */
void lower_reduce_backward(cg_lowerer *l, const checked_node *n);
void lower_linear_backward(cg_lowerer *l, const checked_node *n);    /* dx += the adjoint of dy: reads dy only */
void lower_dropout_forward(cg_lowerer *l, const checked_node *n);
void lower_dropout_backward(cg_lowerer *l, const checked_node *n);
void lower_add_backward(cg_lowerer *l, const checked_node *n);
void lower_conv_backprop_backward(cg_lowerer *l, const checked_node *n);
void lower_activation_backward(cg_lowerer *l, const checked_node *n); /* from the saved output */
void lower_gated_backward(cg_lowerer *l, const checked_node *n);      /* from the input: gelu, swish */
void lower_loss_forward(cg_lowerer *l, const checked_node *n);
void lower_loss_backward(cg_lowerer *l, const checked_node *n);
void lower_metric_forward(cg_lowerer *l, const checked_node *n);
/* Reads dy and accumulates into every input (concat, subtract, rescaling);
 * concat's forward is lower_binary_forward (any count). */
void lower_concat_backward(cg_lowerer *l, const checked_node *n);
void lower_multiply_backward(cg_lowerer *l, const checked_node *n);
void lower_batch_norm_forward(cg_lowerer *l, const checked_node *n);
void lower_batch_norm_backward(cg_lowerer *l, const checked_node *n);

/* --- emission: the C of a step (emit_ops.c) ------------------------------- */
void emit_conv_dense_forward(cg_emitter *e, const checked_node *n);
void emit_conv_dense_backward(cg_emitter *e, const checked_node *n);
void emit_pool_forward(cg_emitter *e, const checked_node *n);
void emit_pool_backward(cg_emitter *e, const checked_node *n);
void emit_global_pool_forward(cg_emitter *e, const checked_node *n);
void emit_global_pool_backward(cg_emitter *e, const checked_node *n);
void emit_resize_forward(cg_emitter *e, const checked_node *n);    /* upsample2d, zero_padding2d, cropping2d */
void emit_resize_backward(cg_emitter *e, const checked_node *n);
void emit_reduce_forward(cg_emitter *e, const checked_node *n);
void emit_reduce_backward(cg_emitter *e, const checked_node *n);
void emit_dropout_forward(cg_emitter *e, const checked_node *n);
void emit_dropout_backward(cg_emitter *e, const checked_node *n);
void emit_add_forward(cg_emitter *e, const checked_node *n);
void emit_add_backward(cg_emitter *e, const checked_node *n);
void emit_subtract_forward(cg_emitter *e, const checked_node *n);
void emit_subtract_backward(cg_emitter *e, const checked_node *n);
void emit_rescaling_forward(cg_emitter *e, const checked_node *n);
void emit_rescaling_backward(cg_emitter *e, const checked_node *n);
void emit_argmax_forward(cg_emitter *e, const checked_node *n);
void emit_one_hot_forward(cg_emitter *e, const checked_node *n);
void emit_conv_backprop_forward(cg_emitter *e, const checked_node *n);
void emit_conv_backprop_backward(cg_emitter *e, const checked_node *n);
void emit_activation_forward(cg_emitter *e, const checked_node *n);
void emit_activation_backward(cg_emitter *e, const checked_node *n);
void emit_gated_forward(cg_emitter *e, const checked_node *n);       /* gelu, swish, silu */
void emit_gated_backward(cg_emitter *e, const checked_node *n);
void emit_softmax_forward(cg_emitter *e, const checked_node *n);
void emit_softmax_backward(cg_emitter *e, const checked_node *n);
void emit_sparse_xent_forward(cg_emitter *e, const checked_node *n);
void emit_sparse_xent_backward(cg_emitter *e, const checked_node *n);
void emit_softmax_xent_forward(cg_emitter *e, const checked_node *n);
void emit_softmax_xent_backward(cg_emitter *e, const checked_node *n);
void emit_binary_xent_forward(cg_emitter *e, const checked_node *n);   /* sigmoid_ and binary_cross_entropy */
void emit_binary_xent_backward(cg_emitter *e, const checked_node *n);
void emit_focal_forward(cg_emitter *e, const checked_node *n);
void emit_focal_backward(cg_emitter *e, const checked_node *n);
void emit_mse_forward(cg_emitter *e, const checked_node *n);
void emit_mse_backward(cg_emitter *e, const checked_node *n);
void emit_mae_forward(cg_emitter *e, const checked_node *n);
void emit_mae_backward(cg_emitter *e, const checked_node *n);
void emit_huber_forward(cg_emitter *e, const checked_node *n);
void emit_huber_backward(cg_emitter *e, const checked_node *n);
void emit_metric_forward(cg_emitter *e, const checked_node *n);
void emit_concat_forward(cg_emitter *e, const checked_node *n);
void emit_concat_backward(cg_emitter *e, const checked_node *n);
void emit_multiply_forward(cg_emitter *e, const checked_node *n);
void emit_multiply_backward(cg_emitter *e, const checked_node *n);
void emit_batch_norm_forward(cg_emitter *e, const checked_node *n);
void emit_batch_norm_backward(cg_emitter *e, const checked_node *n);

/* --- descriptors and scratch (emit_desc.c) --------------------------------- */
void emit_conv_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_separable_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_pool_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_conv_transpose_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_upsample2d_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_pad2d_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_dense_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_focal_desc(cg_buf *out, const char *name, const checked_node *n);
void emit_batch_norm_desc(cg_buf *out, const char *name, const checked_node *n);
size_t conv_workspace_floats(const checked_node *n, int max_batch);
size_t conv_forward_workspace_floats(const checked_node *n, int max_batch);
size_t separable_workspace_floats(const checked_node *n, int max_batch);
size_t separable_forward_workspace_floats(const checked_node *n, int max_batch);
size_t dense_workspace_floats(const checked_node *n, int max_batch);
size_t dense_forward_workspace_floats(const checked_node *n, int max_batch);
size_t conv_transpose_workspace_floats(const checked_node *n, int max_batch);
size_t conv_transpose_forward_workspace_floats(const checked_node *n, int max_batch);

#endif /* TSC_CG_OPS_H */
