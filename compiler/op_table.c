/* What the back end does for each op, one row per op (the lead's op registry
 * will take this as its back-end column). A row names one function per
 * stage; ops of a family share them. Autodiff, lowering, planning and
 * emission read their column and nothing else: there is no switch over ops
 * in the back end. tests/compiler/test_backend.c checks that every op has
 * its row and every differentiable op a backward. */
#include "cg_ops.h"

bool cg_loss_grads_logits_and_labels(const checked_node *n, int k) {
    (void)n;
    (void)k;
    return true; /* these kernels also differentiate f32 labels */
}

bool cg_loss_grads_logits(const checked_node *n, int k) {
    (void)n;
    return k == 1; /* class indices or one-hot targets: no gradient */
}

#define CONV_WORKSPACE .workspace_floats = conv_workspace_floats, .workspace_function = "tdl_conv2d_workspace_size"
#define DENSE_WORKSPACE .workspace_floats = dense_workspace_floats, .workspace_function = "tdl_dense_workspace_size"
#define UNARY(fwd, bwd) \
    .forward_operands = lower_unary_forward, .backward_operands = bwd, .emit_forward = emit_##fwd##_forward
#define LOSS(grads, kernel) \
    .passes_gradient_to = grads, .forward_operands = lower_loss_forward, .backward_operands = lower_loss_backward, \
    .emit_forward = emit_##kernel##_forward, .emit_backward = emit_##kernel##_backward
#define METRIC .forward_operands = lower_metric_forward, .emit_forward = emit_metric_forward

const cg_op_lowering cg_op_lowerings[TSC_OP_COUNT] = {
    [TSC_OP_INPUT] = {.op = TSC_OP_INPUT, .flags = CG_OP_NO_CODE},
    [TSC_OP_CONV2D] = {.op = TSC_OP_CONV2D, .flags = CG_OP_FUSED_ACTIVATION,
                       .forward_operands = lower_conv_dense_forward, .backward_operands = lower_conv_dense_backward,
                       .emit_forward = emit_conv_dense_forward, .emit_backward = emit_conv_dense_backward,
                       .emit_descriptor = emit_conv_desc, CONV_WORKSPACE},
    [TSC_OP_MAX_POOL2D] = {.op = TSC_OP_MAX_POOL2D, UNARY(pool, lower_pool_backward),
                           .emit_backward = emit_pool_backward, .emit_descriptor = emit_pool_desc},
    [TSC_OP_AVG_POOL2D] = {.op = TSC_OP_AVG_POOL2D, UNARY(pool, lower_pool_backward),
                           .emit_backward = emit_pool_backward, .emit_descriptor = emit_pool_desc},
    [TSC_OP_GLOBAL_AVG_POOL2D] = {.op = TSC_OP_GLOBAL_AVG_POOL2D, UNARY(global_pool, lower_pool_backward),
                                  .emit_backward = emit_global_pool_backward},
    [TSC_OP_GLOBAL_MAX_POOL2D] = {.op = TSC_OP_GLOBAL_MAX_POOL2D, UNARY(global_pool, lower_pool_backward),
                                  .emit_backward = emit_global_pool_backward},
    [TSC_OP_FLATTEN] = {.op = TSC_OP_FLATTEN, .flags = CG_OP_VIEW},
    [TSC_OP_RESHAPE] = {.op = TSC_OP_RESHAPE, .flags = CG_OP_VIEW},
    [TSC_OP_DENSE] = {.op = TSC_OP_DENSE, .flags = CG_OP_FUSED_ACTIVATION,
                      .forward_operands = lower_conv_dense_forward, .backward_operands = lower_conv_dense_backward,
                      .emit_forward = emit_conv_dense_forward, .emit_backward = emit_conv_dense_backward,
                      .emit_descriptor = emit_dense_desc, DENSE_WORKSPACE},
    [TSC_OP_DROPOUT] = {.op = TSC_OP_DROPOUT, .flags = CG_OP_TRAIN_ONLY | CG_OP_MASK,
                        .forward_operands = lower_dropout_forward, .backward_operands = lower_dropout_backward,
                        .emit_forward = emit_dropout_forward, .emit_backward = emit_dropout_backward},
    [TSC_OP_ADD] = {.op = TSC_OP_ADD, .forward_operands = lower_binary_forward,
                    .backward_operands = lower_add_backward, .emit_forward = emit_add_forward,
                    .emit_backward = emit_add_backward},
    [TSC_OP_REDUCE_MAX] = {.op = TSC_OP_REDUCE_MAX, UNARY(reduce, lower_reduce_backward),
                           .emit_backward = emit_reduce_backward},
    [TSC_OP_REDUCE_MEAN] = {.op = TSC_OP_REDUCE_MEAN, UNARY(reduce, lower_reduce_backward),
                            .emit_backward = emit_reduce_backward},
    [TSC_OP_REDUCE_SUM] = {.op = TSC_OP_REDUCE_SUM, UNARY(reduce, lower_reduce_backward),
                           .emit_backward = emit_reduce_backward},
    [TSC_OP_ARGMAX] = {.op = TSC_OP_ARGMAX, UNARY(argmax, NULL)},
    [TSC_OP_ONE_HOT] = {.op = TSC_OP_ONE_HOT, UNARY(one_hot, NULL)},
    [TSC_OP_SQUEEZE] = {.op = TSC_OP_SQUEEZE, .flags = CG_OP_VIEW},
    [TSC_OP_EXPAND_DIMS] = {.op = TSC_OP_EXPAND_DIMS, .flags = CG_OP_VIEW},
    [TSC_OP_CONV2D_BACKPROP_FILTER] = {.op = TSC_OP_CONV2D_BACKPROP_FILTER, .flags = CG_OP_GRAD_TEMP,
                                       .forward_operands = lower_binary_forward,
                                       .backward_operands = lower_conv_backprop_backward,
                                       .emit_forward = emit_conv_backprop_forward,
                                       .emit_backward = emit_conv_backprop_backward,
                                       .emit_descriptor = emit_conv_desc, CONV_WORKSPACE},
    [TSC_OP_CONV2D_BACKPROP_INPUT] = {.op = TSC_OP_CONV2D_BACKPROP_INPUT, .flags = CG_OP_GRAD_TEMP,
                                      .forward_operands = lower_binary_forward,
                                      .backward_operands = lower_conv_backprop_backward,
                                      .emit_forward = emit_conv_backprop_forward,
                                      .emit_backward = emit_conv_backprop_backward,
                                      .emit_descriptor = emit_conv_desc, CONV_WORKSPACE},
    [TSC_OP_RELU] = {.op = TSC_OP_RELU, UNARY(activation, lower_activation_backward),
                     .emit_backward = emit_activation_backward},
    [TSC_OP_SIGMOID] = {.op = TSC_OP_SIGMOID, UNARY(activation, lower_activation_backward),
                        .emit_backward = emit_activation_backward},
    [TSC_OP_TANH] = {.op = TSC_OP_TANH, UNARY(activation, lower_activation_backward),
                     .emit_backward = emit_activation_backward},
    [TSC_OP_LEAKY_RELU] = {.op = TSC_OP_LEAKY_RELU, UNARY(activation, lower_activation_backward),
                           .emit_backward = emit_activation_backward},
    [TSC_OP_SOFTMAX] = {.op = TSC_OP_SOFTMAX, UNARY(softmax, lower_activation_backward),
                        .emit_backward = emit_softmax_backward},
    [TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY] = {.op = TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY,
                                             LOSS(cg_loss_grads_logits, sparse_xent)},
    [TSC_OP_SOFTMAX_CROSS_ENTROPY] = {.op = TSC_OP_SOFTMAX_CROSS_ENTROPY,
                                      LOSS(cg_loss_grads_logits_and_labels, softmax_xent)},
    [TSC_OP_SIGMOID_CROSS_ENTROPY] = {.op = TSC_OP_SIGMOID_CROSS_ENTROPY,
                                      LOSS(cg_loss_grads_logits_and_labels, binary_xent)},
    [TSC_OP_BINARY_CROSS_ENTROPY] = {.op = TSC_OP_BINARY_CROSS_ENTROPY,
                                     LOSS(cg_loss_grads_logits_and_labels, binary_xent)},
    [TSC_OP_FOCAL_LOSS] = {.op = TSC_OP_FOCAL_LOSS, LOSS(cg_loss_grads_logits, focal),
                           .emit_descriptor = emit_focal_desc},
    [TSC_OP_MEAN_SQUARED_ERROR] = {.op = TSC_OP_MEAN_SQUARED_ERROR, LOSS(cg_loss_grads_logits_and_labels, mse)},
    [TSC_OP_IN_TOP_K] = {.op = TSC_OP_IN_TOP_K, METRIC},
    [TSC_OP_ACCURACY] = {.op = TSC_OP_ACCURACY, METRIC},
    [TSC_OP_MEAN] = {.op = TSC_OP_MEAN, METRIC},
#ifdef TSC_HAS_CONCAT_MULTIPLY /* the checker's ops arrive with the op registry: see the merge notes */
    [TSC_OP_CONCAT] = {.op = TSC_OP_CONCAT, .forward_operands = lower_binary_forward,
                       .backward_operands = lower_concat_backward, .emit_forward = emit_concat_forward,
                       .emit_backward = emit_concat_backward},
    [TSC_OP_MULTIPLY] = {.op = TSC_OP_MULTIPLY, .forward_operands = lower_binary_forward,
                         .backward_operands = lower_multiply_backward, .emit_forward = emit_multiply_forward,
                         .emit_backward = emit_multiply_backward},
#endif
    [TSC_OP_SGD] = {.op = TSC_OP_SGD, .flags = CG_OP_NO_CODE},
    [TSC_OP_ADAM] = {.op = TSC_OP_ADAM, .flags = CG_OP_NO_CODE},
};

const cg_op_lowering *cg_lowering_of(const checked_node *n) {
    TSC_ASSERT((unsigned)n->op < TSC_OP_COUNT);
    return &cg_op_lowerings[n->op];
}
