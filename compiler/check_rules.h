/* The checker's own interface between its parts: resolve.c binds arguments
 * and calls the shape rules through the table built from ops.def's `check`
 * column; the rules (shape.c, shape_conv.c, shape_loss.c, shape_combine.c)
 * use the helpers of check_support.c. Nothing outside the checker includes
 * this header. Calls go one way: resolve -> rules -> support. */
#ifndef TSC_CHECK_RULES_H
#define TSC_CHECK_RULES_H

#include "ast.h"
#include "check.h"
#include "diag.h"

/* One argument after binding and conversion (resolve.c), read by the shape rules. */
typedef struct check_value {
    const ast_arg *arg;              /* NULL: not given; a typed default is filled in (ops.def) */
    bool ok;                         /* given and converted without error, or defaulted */
    int64_t ints[TSC_MAX_RANK];      /* INT: [0]; INT_PAIR: [0], [1]; AXES, INT_LIST, INT_SIDES: [0, count) */
    bool is_batch[TSC_MAX_RANK];     /* INT_LIST: this entry is the batch symbol */
    int count;
    double number;                   /* FLOAT */
    bool flag;                       /* BOOL */
    int word;                        /* ENUM: index in enum_words */
    const char *text;                /* STRING */
    checked_node *tensor;            /* TENSOR */
    checked_node **tensors;          /* TENSORS: `count` of them (arena) */
    const ast_value **tensor_values; /* TENSORS: where each was written, for carets and names */
    const double *numbers;           /* NUMBERS: `count` of them (arena) */
    const checked_schedule *schedule;/* RATE given as a schedule call (else number holds the rate) */
} check_value;

/* A name bound in a model: to a node, or poisoned (its statement had an error). */
typedef struct check_binding {
    const char *name;
    checked_node *node;              /* NULL when poisoned */
    tsc_loc loc;
} check_binding;

/* State of one model's check. */
typedef struct check_ctx {
    tsc_arena *arena;
    const ast_file *ast;
    checked_model *model;
    const ast_stmt *stmt;            /* the statement being checked */
    check_binding *bindings;         /* in binding order; the last one of a name wins */
    int binding_count;
    int op_counters[TSC_OP_COUNT];   /* for conv2d_1, conv2d_2, … */
    int explicit_names;              /* name="…" given so far: automatic names may collide with them */
    int64_t param_floats;            /* trainable floats so far (E0210 past TSC_MAX_TENSOR_BYTES / 16) */
    bool params_too_large;           /* that error was reported */
    const char **inserted;           /* statements fix-its insert so far: each once per model */
    int inserted_count, inserted_capacity;
} check_ctx;

/* A shape rule: fills node->type/attrs/params/shape_reason from the
 * converted arguments (defaults filled in), reporting shape, dtype and range
 * errors; tensor inputs are never poison here. Returns false if it reported
 * an error. One per row of ops.def (the `check` column). */
typedef bool check_rule(check_ctx *ctx, checked_node *node, const check_value *values);
#define OP(id, name, family, params, flags, shape_rule, check, lower) check_rule check;
#include "ops.def"
#undef OP

/* Shared rules (check_support.c). Each reports its error (E0301/E0302, E0203,
 * E0208, E0401) and returns false. */
bool check_expect_dtype(check_ctx *ctx, const checked_node *node, const check_value *values, int param,
                        tsc_dtype dtype);
bool check_expect_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param, int rank,
                       const char *layout);
bool check_expect_min_rank(check_ctx *ctx, const checked_node *node, const check_value *values, int param, int rank);
/* An axis in [-rank, rank) of tensor x normalised to [0, rank). */
bool check_normalise_axis(check_ctx *ctx, const checked_node *node, int param, int64_t axis, int rank,
                          const checked_node *x, int *out);
/* "<param> of <op> must be <what>, found <value>" (E0401); returns false. */
bool check_range_error(const checked_node *node, int param, const char *what, double value);
/* The learning rate of a schedule at step 0 (shape_schedule.c). */
double check_schedule_initial_rate(const checked_schedule *schedule);
tsc_type check_make_type(tsc_dtype dtype, int rank);
/* f32[B,height,width,channels] with the batch of the feature map x. */
tsc_type check_feature_map(const checked_node *x, int64_t height, int64_t width, int64_t channels);
/* Fills activation/alpha/use_bias of a layer with weights from its arguments. */
void check_layer_options(checked_node *node, const check_value *values);
/* The weights below start as the layer's argument Keras names for each
 * says: kernel_initializer for "kernel", depthwise_initializer for
 * "depthwise_kernel", gamma_initializer for "gamma" (values: the rule's). */
void check_add_weights(check_ctx *ctx, checked_node *node, const check_value *values, const int64_t *kernel_dims,
                       int kernel_rank, int64_t fan_in, int64_t fan_out, int64_t bias);
/* A convolution's kernel (kh, kw, a, b) and a bias of `bias`, with the fans
 * Keras computes from that shape: kh*kw*a and kh*kw*b (saturating). */
void check_add_conv_weights(check_ctx *ctx, checked_node *node, const check_value *values, const int64_t kernel[4],
                            int64_t bias);
/* One kernel named `role` (the weight is "<layer>.<role>"), and the bias of
 * [size] when use_bias is set. */
void check_add_kernel(check_ctx *ctx, checked_node *node, const check_value *values, const char *role,
                      const int64_t *dims, int rank, int64_t fan_in, int64_t fan_out);
void check_add_bias(check_ctx *ctx, checked_node *node, const check_value *values, int64_t size);

/* The window part of a convolution's rule (shape_conv.c), shared by conv2d,
 * depthwise_conv2d and separable_conv2d: the input is f32 of rank 4, the
 * window arguments are in range, the window fits (E0201), a stride that skips
 * data is warned about (W0104); then the window is stored in node->attrs,
 * out_hw gets H' and W', and *reason "<call> halves f32[…]: ceil(28/2) = 14". */
typedef struct check_conv_params {
    int x, kernel_size, strides, padding, dilation_rate;
    const char *const *reason_keys;  /* the arguments the reason shows, NULL-terminated */
} check_conv_params;
bool check_conv_window(check_ctx *ctx, checked_node *node, const check_value *values, const check_conv_params *p,
                       int64_t out_hw[2], const char **reason);
/* A vector of `length` floats named "<layer>.<role>" (batch_norm's gamma,
 * beta): a parameter when trainable, else non-trainable state (node->state). */
void check_add_vector(check_ctx *ctx, checked_node *node, const check_value *values, const char *role,
                      int64_t length, bool trainable);

/* Helpers for messages (check_support.c). */
/* A fix-it inserting `statement` (no ';' added) on its own line before the
 * statement being checked, with the same indentation. */
void check_fixit_before_statement(check_ctx *ctx, const char *statement);
/* The source text of a span (arena copy). */
const char *check_source_text(check_ctx *ctx, tsc_loc loc);
/* "max_pool2d(pool_size=2)": the op with those of `keys` the call gives, as written. */
const char *check_call_summary(check_ctx *ctx, const checked_node *node, const char *const *keys);
const char *check_type_str(check_ctx *ctx, const tsc_type *type);
/* Where argument `param` of the node is: its value, or the call when defaulted. */
tsc_loc check_arg_loc(const checked_node *node, int param);
/* The name the user wrote for tensor argument `param` ("x"), or the text of
 * the sub-expression written there ("relu(a + b)"). */
const char *check_arg_name(const checked_node *node, int param);
/* A note saying where the shape of `node` (called `shown_name`) came from. */
void check_note_origin(check_ctx *ctx, const checked_node *node, const char *shown_name);
/* A note saying where dimension `dim` of `node` got its size: the op that
 * last changed it, looking back through ops that keep it. */
void check_note_dim_origin(check_ctx *ctx, const checked_node *node, const char *shown_name, int dim);
/* The node (op, or layer with that activation=) whose softmax or sigmoid
 * output `node` is, looking through dropout; NULL if it is none. */
const checked_node *check_probability_source(const checked_node *node);
/* The binding of a name at this point of the model (the latest), or NULL. */
const check_binding *check_find_binding(const check_ctx *ctx, const char *name);
/* The const of that name in the file, or NULL. */
const ast_const *check_find_const(const check_ctx *ctx, const char *name);
/* The tensor bound to a name at this point of the model, or NULL. */
checked_node *check_lookup_tensor(check_ctx *ctx, const char *name);

/* Operator expressions (resolve_expr.c). */
/* The call an operator expression stands for: `a OP b` of two tensors is
 * itself (add, subtract, multiply); with one number operand it becomes
 * rescaling(x, scale=…, offset=…), built in the arena. NULL after an error
 * (both operands numbers). A call that is no operator is returned as is. */
const ast_call *check_operator_call(check_ctx *ctx, const ast_call *call);

#endif /* TSC_CHECK_RULES_H */
