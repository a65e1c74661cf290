/* What the checker hands the later stages: tensor types (tensor_type.c) and
 * the checked graph of every model (resolve.c and the shape rules). Nodes
 * point back into the parse tree only for the checker's own messages: the
 * parse tree's types are opaque here, so later stages cannot read it. */
#ifndef TSC_CHECK_H
#define TSC_CHECK_H

#include "common.h"
#include "ops.h"

/* Opaque outside the checker (ast.h defines them). */
typedef struct ast_stmt ast_stmt;
typedef struct ast_call ast_call;
typedef struct ast_arg ast_arg;
typedef struct ast_model ast_model;
typedef struct ast_file ast_file;

/* The checked program: a typed graph per model, built by tsc_check from the
 * AST. It points into the AST (statements, calls, argument values) for
 * locations, so the ast_file must outlive it. The CLI, summary, dot and the
 * code generator read it; nothing but the checker writes it. */
typedef struct checked_file checked_file;
typedef struct checked_model checked_model;

/* --- Tensor types -------------------------------------------------------- */

typedef enum tsc_dtype {
    TSC_DTYPE_POISON = 0,   /* unknown because of an earlier error: silences follow-on errors */
    TSC_DTYPE_F32,
    TSC_DTYPE_I32,
} tsc_dtype;

#define TSC_MAX_RANK 8          /* = TDL_MAX_RANK of the runtime */
/* The most bytes one tensor, or a model's parameters with their gradients
 * and optimizer slots, may take: 2^47 (128 TiB, what x86-64 and AArch64
 * user space can address). Larger models are E0210, so no size computed
 * from a model can wrap. */
#define TSC_MAX_TENSOR_BYTES (INT64_C(1) << 47)
#define TSC_DIM_BATCH INT64_C(-1) /* dims[i] value of the model's symbolic batch (only ever dims[0]) */

/* A tensor type: f32[B,5,5,64] is {F32, 4, {TSC_DIM_BATCH, 5, 5, 64}}.
 * rank 0 is a scalar (losses, metrics). Every other dim is >= 1. When dtype is
 * POISON, rank and dims mean nothing. */
typedef struct tsc_type {
    tsc_dtype dtype;
    int rank;
    int64_t dims[TSC_MAX_RANK];
} tsc_type;

/* Enough for any formatted type: "f32[" + 8 * (19 digits + ',') + "]" and a long batch name. */
#define TSC_TYPE_STR_MAX 256

/* "f32", "i32", "<error>". */
const char *tsc_dtype_name(tsc_dtype dtype);
bool tsc_type_is_poison(const tsc_type *type);
/* Same dtype, rank and dims (a poison type equals nothing, not even itself). */
bool tsc_type_equal(const tsc_type *a, const tsc_type *b);
bool tsc_type_has_batch(const tsc_type *type);
/* Formats "f32[B,5,5,64]" (scalar: "f32[]", poison: "<error>") into buf and
 * returns buf. batch_symbol names the batch dim; NULL prints "B". */
const char *tsc_type_format(char *buf, size_t size, const tsc_type *type, const char *batch_symbol);
/* The same as a heap string of whatever length the batch name needs (free it). */
char *tsc_type_string(const tsc_type *type, const char *batch_symbol);
/* a * b into *out; false (and *out untouched) if it overflows int64 or either is negative. */
bool tsc_mul_checked(int64_t a, int64_t b, int64_t *out);
/* a * b for a, b >= 0, or INT64_MAX when it overflows (figures for reports). */
int64_t tsc_mul_saturating(int64_t a, int64_t b);
/* Elements of a tensor of this type when the batch dim is `batch`; false on
 * overflow or poison. Dims from index `from` on only (0 = all, 1 = per sample). */
bool tsc_type_elements(const tsc_type *type, int64_t batch, int from, int64_t *out);

/* --- Resolved attributes --------------------------------------------------- */

/* Up to SOFTPLUS it matches tdl_activation of the runtime value for value.
 * The runtime does not fuse the rest: code generation runs the layer linear
 * into a pre-activation buffer and applies tdl_gelu_forward,
 * tdl_swish_forward or tdl_softmax_forward (over the last axis) after it. */
typedef enum tsc_activation {
    TSC_ACTIVATION_LINEAR = 0,
    TSC_ACTIVATION_RELU,
    TSC_ACTIVATION_SIGMOID,
    TSC_ACTIVATION_TANH,
    TSC_ACTIVATION_LEAKY_RELU,
    TSC_ACTIVATION_ELU,
    TSC_ACTIVATION_SOFTPLUS,
    TSC_ACTIVATION_GELU,             /* the exact (erf) form, as Keras' activation="gelu" */
    TSC_ACTIVATION_SWISH,            /* also written silu */
    TSC_ACTIVATION_SOFTMAX,
} tsc_activation;
/* The first activation the runtime's conv2d and dense kernels do not fuse. */
#define TSC_ACTIVATION_FIRST_UNFUSED TSC_ACTIVATION_GELU

/* Matches tdl_padding of the runtime. */
typedef enum tsc_padding { TSC_PADDING_VALID = 0, TSC_PADDING_SAME } tsc_padding;

/* The resolved arguments of a node: defaults filled in, consts substituted,
 * negative axes normalised. Only the fields of the node's op are meaningful. */
typedef struct checked_attrs {
    /* conv2d, dense */
    int64_t filters;                 /* conv2d; = kernel out channels */
    int64_t groups;                  /* conv2d (1: ungrouped); depthwise_conv2d: C */
    int64_t depth_multiplier;        /* depthwise_conv2d, separable_conv2d */
    int64_t units;                   /* dense */
    tsc_activation activation;       /* conv2d, dense; LINEAR when absent */
    double alpha;                    /* leaky_relu slope (op or activation=leaky_relu, 0.3); elu alpha (1.0);
                                        focal_loss alpha (0.25) */
    bool approximate;                /* gelu: the tanh form */
    bool use_bias;                   /* conv2d, dense */
    /* conv2d, pools, conv2d_backprop_*: spatial window, [0] = rows, [1] = columns */
    int64_t kernel[2];               /* conv2d kernel_size; pools pool_size; backprop: filter_sizes kh, kw */
    int64_t strides[2];
    int64_t dilation[2];             /* 1 for pools */
    tsc_padding padding;
    int64_t pad_top, pad_left;       /* TF: 'same' puts the odd extra row/column at the bottom/right;
                                        zero_padding2d: its amounts; cropping2d: its amounts, negated */
    int64_t pad_bottom, pad_right;
    int interpolation;               /* upsample2d (kernel[] holds its size): tdl_interpolation */
    /* softmax, argmax, squeeze, expand_dims: the axis, normalised to >= 0
     * (for expand_dims: the index of the new axis in the output) */
    int axis;
    /* reduce_*: bit i set = axis i of the input is reduced */
    uint32_t axis_mask;
    bool keepdims;
    double rate;                     /* dropout, in [0, 1) */
    double scale, offset;            /* rescaling: y = x * scale + offset */
    /* batch_norm: axis (normalised), momentum and epsilon (the optimizer's
     * fields below, which are its own here), and whether it has beta and gamma */
    bool has_beta, has_gamma;        /* center=, scale= */
    int64_t depth;                   /* one_hot */
    int64_t k;                       /* in_top_k (accuracy: 1) */
    /* reshape's target (-1 resolved, batch dim included as TSC_DIM_BATCH);
     * conv2d_backprop_filter's filter_sizes; conv2d_backprop_input's input_sizes */
    int64_t sizes[TSC_MAX_RANK];
    int size_count;
    /* losses */
    bool labels_f32;                 /* labels that should be i32 indices are f32 (warning W0102): the
                                        generated code converts each to int32 first, as Keras casts */
    double gamma;                    /* focal_loss, 2.0 */
    double delta;                    /* huber, 1.0 */
    double label_smoothing;          /* the cross-entropies, in [0, 1] (0.0) */
    double weight;                   /* loss weight, 1.0: the total loss is the weighted sum */
    bool from_logits;                /* binary_cross_entropy (true); the others take logits by definition */
    bool sparse_labels;              /* labels are i32 class indices (sparse CE, sparse focal form, in_top_k, accuracy) */
    int64_t classes;                 /* losses and metrics: the last dim of the logits/predictions (C) */
    /* optimizers: copied into the model's checked_optimizer */
    double learning_rate, momentum, beta_1, beta_2, epsilon, weight_decay;
    bool nesterov;
    double rho;                      /* rmsprop */
    bool centered, amsgrad;          /* rmsprop; adam and adamw */
    double clipnorm, clipvalue, global_clipnorm;   /* 0 = off */
    const struct checked_schedule *schedule;       /* learning_rate=schedule(…), else NULL */
} checked_attrs;

/* A learning-rate schedule given as an optimizer's learning_rate= (its op
 * says which; the fields of the other schedules are 0). */
typedef struct checked_schedule {
    tsc_op op;                       /* TSC_OP_EXPONENTIAL_DECAY, _PIECEWISE_CONSTANT_DECAY, _COSINE_DECAY */
    double initial_learning_rate;    /* exponential, cosine */
    int64_t decay_steps;             /* exponential, cosine: >= 1 */
    double decay_rate;               /* exponential */
    bool staircase;                  /* exponential */
    double alpha;                    /* cosine */
    bool warmup;                     /* cosine: warmup_target was given */
    double warmup_target;            /* cosine */
    int64_t warmup_steps;            /* cosine */
    int boundary_count;              /* piecewise: values has boundary_count + 1 entries (arena) */
    const int64_t *boundaries;
    const double *values;
} checked_schedule;

/* --- Nodes ------------------------------------------------------------------- */

/* Keras' initializers, in the order of their words (ops.c): the checker
 * stores the word's index. */
typedef enum checked_param_init {
    TSC_INIT_GLOROT_UNIFORM = 0,     /* Keras default for kernels */
    TSC_INIT_GLOROT_NORMAL,
    TSC_INIT_HE_UNIFORM,
    TSC_INIT_HE_NORMAL,
    TSC_INIT_LECUN_UNIFORM,
    TSC_INIT_LECUN_NORMAL,
    TSC_INIT_ZEROS,                  /* Keras default for biases */
    TSC_INIT_ONES,                   /* batch_norm's gamma and moving_variance */
    TSC_INIT_COUNT
} checked_param_init;

/* A trainable tensor of a layer, or (in checked_node.state) a non-trainable one. */
typedef struct checked_param {
    const char *name;                /* "conv2d_1.kernel": the key in the weight file */
    const char *role;                /* "kernel" or "bias" */
    tsc_type type;                   /* f32, no batch: conv2d kernel [kh,kw,C,filters] (HWIO), dense [F,units], bias [n] */
    checked_param_init init;
    int64_t fan_in, fan_out;         /* kernels: conv kh*kw*C and kh*kw*filters, dense F and units; vectors: n, n */
} checked_param;

#define TSC_MAX_NODE_PARAMS 3   /* separable_conv2d: two kernels and a bias */

/* One op call (or one input declaration): a vertex of the graph. */
typedef struct checked_node {
    int index;                       /* position in model->nodes */
    tsc_op op;
    const tsc_op_info *info;         /* tsc_op_info_of(op) */
    /* Keras-style layer name: "conv2d_1", "dense_2", "relu_1" (counted per op
     * within the model), or name="…"; for an input, the input's name. Unique
     * within a model; prefixes the parameter names. */
    const char *layer_name;
    /* The TDL name the node's value was bound to (x, logits, xent); for a node
     * whose name was later rebound this is still the name at this point. */
    const char *binding;
    const ast_stmt *stmt;            /* the statement (for inputs the declaration) */
    const ast_call *call;            /* NULL for inputs */
    tsc_loc loc;                     /* the call (or the input's name) */
    /* The tensor operands, in the order of the op's TSC_ARG_TENSOR(S)
     * parameters (conv2d: x; losses: labels then logits/predictions;
     * in_top_k: predictions then targets; backprop_filter: input,
     * out_backprop; backprop_input: filter, out_backprop; concat: every
     * value). An arena array of input_count entries. */
    struct checked_node **inputs;
    int input_count;
    /* The bound argument of each op parameter (index as in info->params), or
     * NULL when the default applies: for carets under the argument. */
    const ast_arg *args[TSC_OP_MAX_PARAMS];
    tsc_type type;                   /* the output; scalar f32[] for losses and metrics; POISON after an error */
    checked_attrs attrs;
    checked_param params[TSC_MAX_NODE_PARAMS];
    int param_count;
    /* Non-trainable state saved with the weights (batch_norm's moving_mean
     * and moving_variance, role "moving_mean", "moving_variance"). */
    checked_param state[TSC_MAX_NODE_PARAMS];
    int state_count;
    /* How the shape was computed, with the arithmetic written out, e.g.
     * "max_pool2d(pool_size=2) halves f32[B,11,11,64]: floor((11 - 2)/2) + 1 = 5".
     * NULL when there is nothing to explain (same shape as the input). */
    const char *shape_reason;
    /* Multiply-adds of the forward computation per example (conv2d, dense,
     * conv2d_backprop_*): for --summary's FLOPs. Saturates at INT64_MAX. */
    int64_t macs_per_example;
    bool used;                       /* reaches a loss, metric or output */
    bool is_training_only;           /* dropout: identity in forward/evaluate */
} checked_node;

/* --- Models ---------------------------------------------------------------- */

typedef struct checked_loss {
    const char *name;                /* `loss xent = …`: also the metrics struct field */
    checked_node *node;              /* scalar f32[] */
    double weight;                   /* = node->attrs.weight */
} checked_loss;

typedef struct checked_metric {
    const char *name;
    checked_node *node;              /* scalar f32[] */
} checked_metric;

typedef struct checked_output {
    const char *name;                /* `output probs …`: the C parameter name */
    checked_node *node;
    tsc_loc loc;
} checked_output;

typedef struct checked_optimizer {
    tsc_op op;                       /* TSC_OP_SGD, _ADAM, _ADAMW or _RMSPROP */
    const ast_call *call;
    tsc_loc loc;
    double learning_rate;            /* sgd: required; the others: 0.001 (a schedule: its value at step 0) */
    const checked_schedule *schedule;/* learning_rate=schedule(…), else NULL */
    double momentum;                 /* sgd, rmsprop: 0 */
    bool nesterov;                   /* sgd, false */
    double beta_1, beta_2, epsilon;  /* adam(w): 0.9, 0.999, 1e-7; rmsprop epsilon 1e-7 */
    bool amsgrad;                    /* adam(w), false */
    double rho;                      /* rmsprop, 0.9 */
    bool centered;                   /* rmsprop, false */
    double weight_decay;             /* decoupled, 0 = off (adamw: 0.004) */
    double clipnorm, clipvalue, global_clipnorm;   /* 0 = off; at most one is set */
} checked_optimizer;

struct checked_model {
    const char *name;
    const ast_model *ast;
    /* The symbolic batch name ("B"), or NULL when every input is static. At
     * most one per model; it is TSC_DIM_BATCH in dims[0] of the types. */
    const char *batch_symbol;
    checked_node **inputs;           /* the input nodes, in declaration order */
    int input_count;
    checked_node **nodes;            /* every node (inputs included), in source order = a topological order */
    int node_count;
    checked_loss *losses;            /* in source order; the training objective is the weighted sum */
    int loss_count;
    checked_metric *metrics;
    int metric_count;
    checked_output *outputs;
    int output_count;
    checked_optimizer *optimizer;    /* NULL when the model has none (inference only) */
    int64_t param_total;             /* number of trainable floats (saturates at INT64_MAX) */
    int64_t state_total;             /* number of non-trainable state floats (saturates at INT64_MAX) */
};

struct checked_file {
    const ast_file *ast;
    const tsc_source *source;        /* the file checked (NULL without one): its path for later stages */
    tsc_arena *arena;                /* owns everything below */
    checked_model *models;           /* in source order; a model with errors is still listed */
    int model_count;
    int error_count;                 /* errors found by tsc_check */
};

/* Resolves names, binds arguments and checks every shape and dtype.
 * Diagnostics go through diag. Returns the number of errors; *out is always set. */
int tsc_check(const ast_file *file, checked_file **out);
void checked_file_free(checked_file *file);

/* The model of that name, or NULL. */
const checked_model *checked_file_find_model(const checked_file *file, const char *name);

#endif /* TSC_CHECK_H */
