/* What the back end does for each op: the lowerings that the `lower` column
 * of ops.def names, one function per stage; ops of a family share one. A
 * row of ops.def naming a lowering that is not here fails the build.
 * Autodiff, lowering, planning and emission read these and nothing else:
 * there is no switch over ops in the back end. tests/compiler/test_backend.c
 * checks that every op with code has its forward and every differentiable
 * op a backward. */
#include "cg_ops.h"

/* Kernel scratch: what every step of the op needs, and what its forward
 * step alone needs (an inference build sizes its workspace with that). A
 * conv2d_backprop's forward step is a backprop kernel: all of it. */
#define CONV_WORKSPACE .workspace_floats = conv_workspace_floats, .workspace_function = "tdl_conv2d_workspace_size"
#define CONV_FORWARD_WORKSPACE \
    .forward_workspace_floats = conv_forward_workspace_floats, \
    .forward_workspace_function = "tdl_conv2d_forward_workspace_size"
#define BACKPROP_FORWARD_WORKSPACE \
    .forward_workspace_floats = conv_workspace_floats, .forward_workspace_function = "tdl_conv2d_workspace_size"
#define DENSE_WORKSPACE \
    .workspace_floats = dense_workspace_floats, .workspace_function = "tdl_dense_workspace_size", \
    .forward_workspace_floats = dense_forward_workspace_floats, \
    .forward_workspace_function = "tdl_dense_forward_workspace_size"
#define UNARY(fwd, bwd) \
    .forward_operands = lower_unary_forward, .backward_operands = bwd, .emit_forward = emit_##fwd##_forward
#define LOSS(kernel) \
    .forward_operands = lower_loss_forward, .backward_operands = lower_loss_backward, \
    .emit_forward = emit_##kernel##_forward, .emit_backward = emit_##kernel##_backward
#define METRIC .forward_operands = lower_metric_forward, .emit_forward = emit_metric_forward

/* Declarations and views: no code of their own (their traits say so). */
static const cg_op_lowering lower_input = {0};
static const cg_op_lowering lower_not_a_node = {0};   /* optimizers: configuration */
static const cg_op_lowering lower_view = {0};

static const cg_op_lowering lower_conv2d = {
    .forward_operands = lower_conv_dense_forward,
    .backward_operands = lower_conv_dense_backward, .emit_forward = emit_conv_dense_forward,
    .emit_backward = emit_conv_dense_backward, .emit_descriptor = emit_conv_desc, CONV_WORKSPACE,
    CONV_FORWARD_WORKSPACE};
static const cg_op_lowering lower_conv2d_transpose = {
    .forward_operands = lower_conv_dense_forward,
    .backward_operands = lower_conv_dense_backward, .emit_forward = emit_conv_dense_forward,
    .emit_backward = emit_conv_dense_backward, .emit_descriptor = emit_conv_transpose_desc,
    .workspace_floats = conv_transpose_workspace_floats, .workspace_function = "tdl_conv2d_transpose_workspace_size",
    .forward_workspace_floats = conv_transpose_forward_workspace_floats,
    .forward_workspace_function = "tdl_conv2d_transpose_forward_workspace_size"};
static const cg_op_lowering lower_separable_conv2d = {
    .forward_operands = lower_conv_dense_forward,
    .backward_operands = lower_conv_dense_backward, .emit_forward = emit_conv_dense_forward,
    .emit_backward = emit_conv_dense_backward, .emit_descriptor = emit_separable_desc,
    .workspace_floats = separable_workspace_floats, .workspace_function = "tdl_separable_conv2d_workspace_size",
    .forward_workspace_floats = separable_forward_workspace_floats,
    .forward_workspace_function = "tdl_separable_conv2d_forward_workspace_size"};
static const cg_op_lowering lower_dense = {
    .forward_operands = lower_conv_dense_forward,
    .backward_operands = lower_conv_dense_backward, .emit_forward = emit_conv_dense_forward,
    .emit_backward = emit_conv_dense_backward, .emit_descriptor = emit_dense_desc, DENSE_WORKSPACE};
static const cg_op_lowering lower_pool2d = {
    .forward_operands = lower_pool_forward, .backward_operands = lower_pool_backward,
    .emit_forward = emit_pool_forward, .emit_backward = emit_pool_backward, .emit_descriptor = emit_pool_desc};
static const cg_op_lowering lower_global_pool = {UNARY(global_pool, lower_pool_backward),
                                                 .emit_backward = emit_global_pool_backward};
static const cg_op_lowering lower_upsample2d = {UNARY(resize, lower_linear_backward),
                                                .emit_backward = emit_resize_backward,
                                                .emit_descriptor = emit_upsample2d_desc};
static const cg_op_lowering lower_pad2d = {UNARY(resize, lower_linear_backward), .emit_backward = emit_resize_backward,
                                           .emit_descriptor = emit_pad2d_desc};
static const cg_op_lowering lower_dropout = {
    .forward_operands = lower_dropout_forward,
    .backward_operands = lower_dropout_backward, .emit_forward = emit_dropout_forward,
    .emit_backward = emit_dropout_backward};
static const cg_op_lowering lower_batch_norm = {
    .forward_operands = lower_batch_norm_forward, .backward_operands = lower_batch_norm_backward,
    .emit_forward = emit_batch_norm_forward, .emit_backward = emit_batch_norm_backward,
    .emit_descriptor = emit_batch_norm_desc};
static const cg_op_lowering lower_add = {.forward_operands = lower_binary_forward,
                                         .backward_operands = lower_add_backward, .emit_forward = emit_add_forward,
                                         .emit_backward = emit_add_backward};
/* Both read only dy and accumulate into every input, as concat's backward. */
static const cg_op_lowering lower_subtract = {
    .forward_operands = lower_binary_forward, .backward_operands = lower_concat_backward,
    .emit_forward = emit_subtract_forward, .emit_backward = emit_subtract_backward};
static const cg_op_lowering lower_rescaling = {UNARY(rescaling, lower_concat_backward),
                                               .emit_backward = emit_rescaling_backward};
static const cg_op_lowering lower_multiply = {
    .forward_operands = lower_binary_forward, .backward_operands = lower_multiply_backward,
    .emit_forward = emit_multiply_forward, .emit_backward = emit_multiply_backward};
static const cg_op_lowering lower_concat = {
    .forward_operands = lower_binary_forward, .backward_operands = lower_concat_backward,
    .emit_forward = emit_concat_forward, .emit_backward = emit_concat_backward};
static const cg_op_lowering lower_reduce = {UNARY(reduce, lower_reduce_backward),
                                            .emit_backward = emit_reduce_backward};
static const cg_op_lowering lower_argmax = {UNARY(argmax, NULL)};
static const cg_op_lowering lower_one_hot = {UNARY(one_hot, NULL)};
static const cg_op_lowering lower_conv2d_backprop = {
    .forward_operands = lower_binary_forward,
    .backward_operands = lower_conv_backprop_backward, .emit_forward = emit_conv_backprop_forward,
    .emit_backward = emit_conv_backprop_backward, .emit_descriptor = emit_conv_desc, CONV_WORKSPACE,
    BACKPROP_FORWARD_WORKSPACE};
static const cg_op_lowering lower_activation = {UNARY(activation, lower_activation_backward),
                                                .emit_backward = emit_activation_backward};
static const cg_op_lowering lower_gated = {UNARY(gated, lower_gated_backward), .emit_backward = emit_gated_backward};
static const cg_op_lowering lower_softmax = {UNARY(softmax, lower_activation_backward),
                                             .emit_backward = emit_softmax_backward};
static const cg_op_lowering lower_sparse_softmax_xent = {LOSS(sparse_xent)};
static const cg_op_lowering lower_softmax_xent = {LOSS(softmax_xent)};
static const cg_op_lowering lower_binary_xent = {LOSS(binary_xent)};
static const cg_op_lowering lower_focal_loss = {LOSS(focal), .emit_descriptor = emit_focal_desc};
static const cg_op_lowering lower_mean_squared_error = {LOSS(mse)};
static const cg_op_lowering lower_mean_absolute_error = {LOSS(mae)};
static const cg_op_lowering lower_huber = {LOSS(huber)};
static const cg_op_lowering lower_metric = {METRIC};

const cg_op_lowering *const cg_op_lowerings[TSC_OP_COUNT] = {
#define OP(id, name, family, params, flags, shape_rule, check, lower) [TSC_OP_##id] = &lower,
#include "ops.def"
#undef OP
};

const cg_op_lowering *cg_lowering_of(const checked_node *n) {
    TSC_ASSERT((unsigned)n->op < TSC_OP_COUNT);
    return cg_op_lowerings[n->op];
}
