/* tsc internal header: one section per stage, in pipeline order.
 * Each section is owned by the stage's .c files; keep edits inside it. */
#ifndef TSC_H
#define TSC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#if defined(__GNUC__) || defined(__clang__)
#define TSC_PRINTF(fmt_index, first_arg) __attribute__((format(printf, fmt_index, first_arg)))
#define TSC_NORETURN __attribute__((noreturn))
#else
#define TSC_PRINTF(fmt_index, first_arg)
#define TSC_NORETURN
#endif

/* ===================================================================== */
/* Common: internal errors, memory, sources and locations (util.c)        */
/* ===================================================================== */

/* Internal bugs, never user errors: print file:line and abort. */
TSC_NORETURN void tsc_internal_error(const char *file, int line, const char *fmt, ...) TSC_PRINTF(3, 4);
#define TSC_ASSERT(cond) \
    ((cond) ? (void)0 : tsc_internal_error(__FILE__, __LINE__, "assertion failed: %s", #cond))
#define TSC_UNREACHABLE() tsc_internal_error(__FILE__, __LINE__, "unreachable")

/* malloc/calloc/realloc that abort with a message when memory runs out. */
void *tsc_xmalloc(size_t size);
void *tsc_xcalloc(size_t count, size_t size);
void *tsc_xrealloc(void *ptr, size_t size);
char *tsc_xstrdup(const char *s);
char *tsc_xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *tsc_format(const char *fmt, ...) TSC_PRINTF(1, 2);

/* A bump allocator: the AST and the checked graph live in one and are freed together. */
typedef struct tsc_arena tsc_arena;
tsc_arena *tsc_arena_new(void);
void tsc_arena_free(tsc_arena *arena);
void *tsc_arena_alloc(tsc_arena *arena, size_t size);       /* zeroed, max-aligned */
char *tsc_arena_strndup(tsc_arena *arena, const char *s, size_t n);
char *tsc_arena_format(tsc_arena *arena, const char *fmt, ...) TSC_PRINTF(2, 3);

/* A source file held in memory. text is NUL-terminated; length excludes the NUL. */
typedef struct tsc_source {
    const char *path;   /* as the user wrote it: printed in diagnostics */
    char *text;
    size_t length;
    uint32_t *line_starts; /* byte offset of each line's first byte, for tsc_loc_line_col */
    size_t line_count;
} tsc_source;

/* Reads a file; returns NULL (and errno set) on failure. */
tsc_source *tsc_source_read(const char *path);
/* Wraps a buffer (copied), for tests and the fuzzer. */
tsc_source *tsc_source_from_string(const char *path, const char *text, size_t length);
void tsc_source_free(tsc_source *source);

/* A span of source bytes [first, last], both inclusive. Line and column are
 * computed only when printing. A location with file == NULL is "nowhere". */
typedef struct tsc_loc {
    const tsc_source *file;
    uint32_t first;
    uint32_t last;
} tsc_loc;

/* The span from a's first byte to b's last byte. */
tsc_loc tsc_loc_join(tsc_loc a, tsc_loc b);
/* 1-based line and column (in bytes) of a byte offset. */
void tsc_loc_line_col(const tsc_source *file, uint32_t offset, int *line, int *col);

/* ===================================================================== */
/* Diagnostics (diag.c — the only place that prints them)                 */
/* ===================================================================== */

typedef enum diag_format {
    DIAG_FORMAT_TEXT = 0,   /* gcc/clang style, with source line and caret */
    DIAG_FORMAT_JSON,       /* one JSON array, printed by diag_end() */
    DIAG_FORMAT_SARIF,      /* SARIF 2.1.0, printed by diag_end() */
} diag_format;

typedef struct diag_options {
    diag_format format;
    bool color;             /* ANSI colour in text output */
    FILE *stream;           /* where diagnostics go (stderr in the CLI) */
} diag_options;

/* Starts a run: resets counts and the collected diagnostics. NULL options
 * mean text without colour on stderr (also the state before any run). */
void diag_begin(const diag_options *options);
/* Ends a run: JSON/SARIF output is written here; frees what was collected.
 * The sources that locations point into must stay alive until then. The
 * counts stay readable until the next diag_begin(). */
void diag_end(void);

/* An error or warning starts a diagnostic; notes, helps and fix-its attach to
 * the most recent one. code is stable ("E0203", "W0101"), listed in
 * docs/diagnostics.md. */
void diag_error(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
void diag_warning(tsc_loc loc, const char *code, const char *fmt, ...) TSC_PRINTF(3, 4);
void diag_note(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
void diag_help(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
/* A machine-readable fix: replace the bytes of span with text. To insert
 * before a byte, use an empty span: last = first - 1 (then span.first is the
 * insertion point). Attached to the most recent help (or error). */
void diag_fixit(tsc_loc span, const char *replacement);

int diag_error_count(void);
int diag_warning_count(void);

/* The catalogue entry of a code from docs/diagnostics.md, or NULL. The
 * returned string is heap-allocated. */
char *diag_explain(const char *code);

/* ===================================================================== */
/* AST (ast.c) — built by the parser in grammar/tdl.y                     */
/* ===================================================================== */

typedef enum ast_value_kind {
    VALUE_INT,
    VALUE_FLOAT,
    VALUE_STRING,
    VALUE_BOOL,
    VALUE_IDENT,   /* a tensor name, an enum word (relu, same) or a const */
    VALUE_TUPLE,   /* ( v, v, … ) */
    VALUE_LIST,    /* [ v, … ], may be empty */
} ast_value_kind;

typedef struct ast_value {
    ast_value_kind kind;
    tsc_loc loc;
    int64_t int_value;            /* VALUE_INT (a leading '-' is folded in) */
    double float_value;           /* VALUE_FLOAT */
    bool bool_value;              /* VALUE_BOOL */
    const char *text;             /* VALUE_STRING (unquoted, unescaped) and VALUE_IDENT */
    struct ast_value *items;      /* VALUE_TUPLE / VALUE_LIST: first element */
    int item_count;
    struct ast_value *next;       /* next element of the enclosing tuple/list */
} ast_value;

typedef struct ast_arg {
    const char *keyword;          /* NULL when positional */
    tsc_loc keyword_loc;
    ast_value *value;
    tsc_loc loc;                  /* the whole argument */
    struct ast_arg *next;
} ast_arg;

typedef struct ast_call {
    const char *callee;
    tsc_loc callee_loc;
    ast_arg *args;                /* in source order */
    int arg_count;
    tsc_loc loc;                  /* callee through ')' */
} ast_call;

typedef enum ast_dtype { AST_DTYPE_NONE = 0, AST_DTYPE_F32, AST_DTYPE_I32 } ast_dtype;

typedef enum ast_dim_kind { DIM_INT, DIM_NAME, DIM_ANY } ast_dim_kind;

typedef struct ast_dim {
    ast_dim_kind kind;
    int64_t value;                /* DIM_INT */
    const char *name;             /* DIM_NAME: a batch symbol or a const */
    tsc_loc loc;
    struct ast_dim *next;
} ast_dim;

typedef struct ast_type {
    ast_dtype dtype;              /* AST_DTYPE_NONE when written as [..] */
    ast_dim *dims;
    int rank;
    tsc_loc loc;
} ast_type;

typedef enum ast_stmt_kind {
    STMT_INPUT,      /* input NAME : type ; */
    STMT_ASSIGN,     /* NAME [: type] = call ; */
    STMT_LOSS,       /* loss NAME = call ; */
    STMT_METRIC,     /* metric NAME = call ; */
    STMT_OUTPUT,     /* output NAME [= call] ; */
    STMT_OPTIMIZER,  /* optimizer call ; */
} ast_stmt_kind;

typedef struct ast_stmt {
    ast_stmt_kind kind;
    const char *name;             /* NULL for STMT_OPTIMIZER */
    tsc_loc name_loc;
    ast_type *type;               /* STMT_INPUT (required), STMT_ASSIGN (optional assertion) */
    ast_call *call;               /* NULL for STMT_INPUT and a bare STMT_OUTPUT */
    tsc_loc loc;                  /* the whole statement, through ';' */
    struct ast_stmt *next;
} ast_stmt;

typedef struct ast_model {
    const char *name;
    tsc_loc name_loc;
    ast_stmt *stmts;
    int stmt_count;
    tsc_loc loc;
    struct ast_model *next;
} ast_model;

typedef struct ast_const {
    const char *name;
    tsc_loc name_loc;
    ast_value *value;             /* VALUE_INT or VALUE_FLOAT */
    tsc_loc loc;
    struct ast_const *next;
} ast_const;

/* One parsed file: consts and models, each list in source order. */
typedef struct ast_file {
    const tsc_source *source;
    tsc_arena *arena;             /* owns every node */
    ast_const *consts;
    ast_model *models;
    int model_count;
} ast_file;

/* Constructors called by the grammar actions (one line each there). */
ast_value *ast_new_int(tsc_arena *a, tsc_loc loc, int64_t v);
ast_value *ast_new_float(tsc_arena *a, tsc_loc loc, double v);
ast_value *ast_new_string(tsc_arena *a, tsc_loc loc, const char *text);
ast_value *ast_new_bool(tsc_arena *a, tsc_loc loc, bool v);
ast_value *ast_new_ident(tsc_arena *a, tsc_loc loc, const char *name);
ast_value *ast_new_seq(tsc_arena *a, tsc_loc loc, ast_value_kind kind, ast_value *items);
ast_arg *ast_new_arg(tsc_arena *a, tsc_loc loc, const char *keyword, tsc_loc keyword_loc, ast_value *value);
ast_call *ast_new_call(tsc_arena *a, tsc_loc loc, const char *callee, tsc_loc callee_loc, ast_arg *args);
ast_dim *ast_new_dim(tsc_arena *a, tsc_loc loc, ast_dim_kind kind, int64_t value, const char *name);
ast_type *ast_new_type(tsc_arena *a, tsc_loc loc, ast_dtype dtype, ast_dim *dims);
ast_stmt *ast_new_stmt(tsc_arena *a, tsc_loc loc, ast_stmt_kind kind, const char *name, tsc_loc name_loc,
                       ast_type *type, ast_call *call);
ast_model *ast_new_model(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_stmt *stmts);
ast_const *ast_new_const(tsc_arena *a, tsc_loc loc, const char *name, tsc_loc name_loc, ast_value *value);

/* The name of a value kind for messages ("an integer", "a tuple"). */
const char *ast_value_kind_name(ast_value_kind kind);

/* ===================================================================== */
/* Parser entry (parse.c + grammar/)                                      */
/* ===================================================================== */

/* Parses source into *out (never NULL on return, possibly partial after
 * errors). Syntax errors go through diag. Returns the number of errors. */
int tsc_parse(const tsc_source *source, ast_file **out);
void ast_file_free(ast_file *file);

/* ===================================================================== */
/* Checker (resolve.c, shape.c, ops.c)                                    */
/* ===================================================================== */

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
/* a * b into *out; false (and *out untouched) if it overflows int64 or either is negative. */
bool tsc_mul_checked(int64_t a, int64_t b, int64_t *out);
/* Elements of a tensor of this type when the batch dim is `batch`; false on
 * overflow or poison. Dims from index `from` on only (0 = all, 1 = per sample). */
bool tsc_type_elements(const tsc_type *type, int64_t batch, int from, int64_t *out);

/* --- The op catalogue (ops.c) --------------------------------------------- */

typedef enum tsc_op {
    TSC_OP_INPUT = 0,              /* an `input` declaration, not callable */
    /* layers */
    TSC_OP_CONV2D,
    TSC_OP_MAX_POOL2D,
    TSC_OP_AVG_POOL2D,
    TSC_OP_GLOBAL_AVG_POOL2D,
    TSC_OP_GLOBAL_MAX_POOL2D,
    TSC_OP_FLATTEN,
    TSC_OP_RESHAPE,
    TSC_OP_DENSE,
    TSC_OP_DROPOUT,
    TSC_OP_ADD,
    TSC_OP_REDUCE_MAX,
    TSC_OP_REDUCE_MEAN,
    TSC_OP_REDUCE_SUM,
    TSC_OP_ARGMAX,
    TSC_OP_ONE_HOT,
    TSC_OP_SQUEEZE,
    TSC_OP_EXPAND_DIMS,
    TSC_OP_CONV2D_BACKPROP_FILTER,
    TSC_OP_CONV2D_BACKPROP_INPUT,
    /* activations */
    TSC_OP_RELU,
    TSC_OP_SIGMOID,
    TSC_OP_TANH,
    TSC_OP_LEAKY_RELU,
    TSC_OP_SOFTMAX,
    /* losses */
    TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY,
    TSC_OP_SOFTMAX_CROSS_ENTROPY,
    TSC_OP_SIGMOID_CROSS_ENTROPY,
    TSC_OP_BINARY_CROSS_ENTROPY,   /* from_logits=true: sigmoid_cross_entropy; false: on probabilities */
    TSC_OP_FOCAL_LOSS,
    TSC_OP_MEAN_SQUARED_ERROR,
    /* metrics */
    TSC_OP_IN_TOP_K,
    TSC_OP_ACCURACY,
    TSC_OP_MEAN,
    /* optimizers */
    TSC_OP_SGD,
    TSC_OP_ADAM,
    TSC_OP_COUNT
} tsc_op;

typedef enum tsc_op_family {
    TSC_FAMILY_INPUT = 0,
    TSC_FAMILY_LAYER,       /* `x = op(...)` */
    TSC_FAMILY_ACTIVATION,  /* `x = relu(x)`; also usable as activation= of conv2d/dense */
    TSC_FAMILY_LOSS,        /* `loss name = op(...)`: scalar f32[] */
    TSC_FAMILY_METRIC,      /* `metric name = op(...)`: scalar f32[] */
    TSC_FAMILY_OPTIMIZER,   /* `optimizer op(...)` */
} tsc_op_family;

/* What kind of value an argument takes. */
typedef enum tsc_arg_kind {
    TSC_ARG_TENSOR,      /* a tensor name */
    TSC_ARG_INT,         /* an integer (or an integer const) */
    TSC_ARG_FLOAT,       /* a number (integers accepted) */
    TSC_ARG_BOOL,        /* true / false */
    TSC_ARG_ENUM,        /* one of enum_words, as a bare word (or a string) */
    TSC_ARG_INT_PAIR,    /* n or (h, w): kernel_size, strides, pool_size, dilation_rate */
    TSC_ARG_AXES,        /* an axis or a list/tuple of axes (negative counts from the end) */
    TSC_ARG_INT_LIST,    /* a list/tuple of integers: reshape's shape, filter_sizes, input_sizes */
    TSC_ARG_STRING,      /* "text": name= */
} tsc_arg_kind;

typedef struct tsc_param_spec {
    const char *name;                /* keyword: "filters" */
    tsc_arg_kind kind;
    bool required;
    const char *default_text;        /* as shown in docs and messages: "1", "valid"; NULL if required or none */
    const char *const *enum_words;   /* TSC_ARG_ENUM: NULL-terminated list */
    const char *doc;                 /* one line for docs/ops.md */
} tsc_param_spec;

#define TSC_OP_MAX_PARAMS 10

typedef struct tsc_op_info {
    tsc_op op;
    const char *name;                /* as written in TDL: "conv2d" */
    tsc_op_family family;
    const tsc_param_spec *params;    /* in the positional order of SPEC §3 */
    int param_count;
    bool has_weights;                /* conv2d, dense: kernel (+ bias) */
    bool differentiable;             /* autodiff can pass gradients through it */
    const char *shape_rule;          /* one line for docs and --explain: "[B,H,W,C] -> [B,H',W',filters]" */
} tsc_op_info;

/* The catalogue entry of an op (never NULL for op < TSC_OP_COUNT). */
const tsc_op_info *tsc_op_info_of(tsc_op op);
/* Looks an op up by its TDL name; NULL if there is none. */
const tsc_op_info *tsc_op_lookup(const char *name);
/* Index of a parameter by keyword in info->params, or -1. */
int tsc_op_param_index(const tsc_op_info *info, const char *keyword);
/* The closest of `count` candidate names to `name` (edit distance, at most a
 * third of the length), or NULL: for "did you mean" hints. */
const char *tsc_closest_name(const char *name, const char *const *candidates, int count);

/* --- Resolved attributes --------------------------------------------------- */

/* Matches tdl_activation of the runtime value for value, plus SOFTMAX, which
 * the runtime does not fuse: code generation applies tdl_softmax_forward over
 * the last axis after the layer. */
typedef enum tsc_activation {
    TSC_ACTIVATION_LINEAR = 0,
    TSC_ACTIVATION_RELU,
    TSC_ACTIVATION_SIGMOID,
    TSC_ACTIVATION_TANH,
    TSC_ACTIVATION_LEAKY_RELU,
    TSC_ACTIVATION_SOFTMAX,
} tsc_activation;

/* Matches tdl_padding of the runtime. */
typedef enum tsc_padding { TSC_PADDING_VALID = 0, TSC_PADDING_SAME } tsc_padding;

/* The resolved arguments of a node: defaults filled in, consts substituted,
 * negative axes normalised. Only the fields of the node's op are meaningful. */
typedef struct checked_attrs {
    /* conv2d, dense */
    int64_t filters;                 /* conv2d; = kernel out channels */
    int64_t units;                   /* dense */
    tsc_activation activation;       /* conv2d, dense; LINEAR when absent */
    double alpha;                    /* leaky_relu slope (op or activation=leaky_relu, 0.3); focal_loss alpha (0.25) */
    bool use_bias;                   /* conv2d, dense */
    /* conv2d, pools, conv2d_backprop_*: spatial window, [0] = rows, [1] = columns */
    int64_t kernel[2];               /* conv2d kernel_size; pools pool_size; backprop: filter_sizes kh, kw */
    int64_t strides[2];
    int64_t dilation[2];             /* 1 for pools */
    tsc_padding padding;
    int64_t pad_top, pad_left;       /* TF: 'same' puts the odd extra row/column at the bottom/right */
    int64_t pad_bottom, pad_right;
    /* softmax, argmax, squeeze, expand_dims: the axis, normalised to >= 0
     * (for expand_dims: the index of the new axis in the output) */
    int axis;
    /* reduce_*: bit i set = axis i of the input is reduced */
    uint32_t axis_mask;
    bool keepdims;
    double rate;                     /* dropout, in [0, 1) */
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
    double weight;                   /* loss weight, 1.0: the total loss is the weighted sum */
    bool from_logits;                /* binary_cross_entropy (true); the others take logits by definition */
    bool sparse_labels;              /* labels are i32 class indices (sparse CE, sparse focal form, in_top_k, accuracy) */
    int64_t classes;                 /* losses and metrics: the last dim of the logits/predictions (C) */
} checked_attrs;

/* --- Nodes ------------------------------------------------------------------- */

typedef enum checked_param_init {
    TSC_INIT_GLOROT_UNIFORM = 0,     /* Keras default for kernels */
    TSC_INIT_ZEROS,                  /* Keras default for biases */
} checked_param_init;

/* A trainable tensor of a layer. */
typedef struct checked_param {
    const char *name;                /* "conv2d_1.kernel": the key in the weight file */
    const char *role;                /* "kernel" or "bias" */
    tsc_type type;                   /* f32, no batch: conv2d kernel [kh,kw,C,filters] (HWIO), dense [F,units], bias [n] */
    checked_param_init init;
    int64_t fan_in, fan_out;         /* glorot: conv kh*kw*C and kh*kw*filters; dense F and units */
} checked_param;

#define TSC_MAX_NODE_INPUTS 3
#define TSC_MAX_NODE_PARAMS 2

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
    /* The tensor operands, in the order of the op's TSC_ARG_TENSOR parameters
     * (conv2d: x; losses: labels then logits/predictions; in_top_k:
     * predictions then targets; backprop_filter: input, out_backprop;
     * backprop_input: filter, out_backprop). */
    struct checked_node *inputs[TSC_MAX_NODE_INPUTS];
    int input_count;
    /* The bound argument of each op parameter (index as in info->params), or
     * NULL when the default applies: for carets under the argument. */
    const ast_arg *args[TSC_OP_MAX_PARAMS];
    tsc_type type;                   /* the output; scalar f32[] for losses and metrics; POISON after an error */
    checked_attrs attrs;
    checked_param params[TSC_MAX_NODE_PARAMS];
    int param_count;
    /* How the shape was computed, with the arithmetic written out, e.g.
     * "max_pool2d(pool_size=2) halves f32[B,11,11,64]: floor((11 - 2)/2) + 1 = 5".
     * NULL when there is nothing to explain (same shape as the input). */
    const char *shape_reason;
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
    tsc_op op;                       /* TSC_OP_SGD or TSC_OP_ADAM */
    const ast_call *call;
    tsc_loc loc;
    double learning_rate;            /* sgd: required; adam: 0.001 */
    double momentum;                 /* sgd, 0 */
    bool nesterov;                   /* sgd, false */
    double beta_1, beta_2, epsilon;  /* adam: 0.9, 0.999, 1e-7 */
    double weight_decay;             /* decoupled, 0 = off */
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
};

struct checked_file {
    const ast_file *ast;
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

/* --- Checker internals: shared by resolve.c, shape*.c only ------------------ */

/* One argument after binding and conversion (resolve.c), read by the shape rules. */
typedef struct check_value {
    const ast_arg *arg;              /* NULL: not given, the default applies */
    bool ok;                         /* given and converted without error */
    int64_t ints[TSC_MAX_RANK];      /* INT: [0]; INT_PAIR: [0], [1]; AXES, INT_LIST: [0, count) */
    bool is_batch[TSC_MAX_RANK];     /* INT_LIST: this entry is the batch symbol */
    int count;
    double number;                   /* FLOAT */
    bool flag;                       /* BOOL */
    int word;                        /* ENUM: index in enum_words */
    const char *text;                /* STRING */
    checked_node *tensor;            /* TENSOR */
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
} check_ctx;

/* shape.c: fills node->type/attrs/params/shape_reason from the converted
 * arguments, reporting shape, dtype and range errors; tensor inputs are never
 * poison here. Returns false if it reported an error. */
bool shape_check_node(check_ctx *ctx, checked_node *node, const check_value *values);
/* shape_conv.c */
bool shape_conv2d(check_ctx *ctx, checked_node *node, const check_value *values);
bool shape_pool2d(check_ctx *ctx, checked_node *node, const check_value *values);
bool shape_conv2d_backprop(check_ctx *ctx, checked_node *node, const check_value *values);
/* shape_loss.c */
bool shape_loss(check_ctx *ctx, checked_node *node, const check_value *values);
bool shape_metric(check_ctx *ctx, checked_node *node, const check_value *values);
bool check_optimizer(check_ctx *ctx, checked_optimizer *opt, const check_value *values);

/* Shared rules (shape.c). Each reports its error (E0301/E0302, E0203,
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
tsc_type check_make_type(tsc_dtype dtype, int rank);
/* Fills activation/alpha/use_bias of conv2d or dense, then adds kernel (+ bias). */
void check_layer_options(checked_node *node, const check_value *values);
void check_add_weights(check_ctx *ctx, checked_node *node, const int64_t *kernel_dims, int kernel_rank,
                       int64_t fan_in, int64_t fan_out, int64_t bias);

/* Helpers for messages (shape.c). */
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
/* The name the user wrote for tensor argument `param` ("x"). */
const char *check_arg_name(const checked_node *node, int param);
/* A note saying where the shape of `node` (called `shown_name`) came from. */
void check_note_origin(check_ctx *ctx, const checked_node *node, const char *shown_name);
/* Which squashing functions check_probability_source looks for. */
typedef enum check_squash {
    CHECK_SQUASH_SOFTMAX,             /* softmax only */
    CHECK_SQUASH_SOFTMAX_OR_SIGMOID,
} check_squash;
/* The node (op, or layer with that activation=) whose softmax/sigmoid output
 * `node` is, looking through dropout; NULL if it is none. */
const checked_node *check_probability_source(const checked_node *node, check_squash squash);
/* The tensor bound to a name at this point of the model, or NULL. */
checked_node *check_lookup_tensor(check_ctx *ctx, const char *name);

/* ===================================================================== */
/* Reports: --summary (summary.c) and --dot (dot.c)                       */
/* ===================================================================== */

/* batch: the size used for the B dimension in activation bytes and FLOPs. */
void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch);
void tsc_print_dot(FILE *out, const checked_file *file);

/* ===================================================================== */
/* Code generation (the back end: cg.h has its stages)                    */
/* ===================================================================== */

/* Writes <model>.h and <model>.c for every model of the file into out_dir,
 * each pair to temporary files renamed into place only when both are
 * complete. An output that is the input file itself is refused. Errors go
 * through diag (E0901, E0902). Returns 0, or -1 after reporting an error. */
int tsc_emit_c(const checked_file *file, const char *out_dir, const char *source_name);
/* The same for one model into two open streams (tests, the fuzzer). */
void tsc_emit_model(const checked_model *model, const char *source_name, FILE *header, FILE *source);

/* The arena NAME_arena_size(max_batch) asks for, part by part (--summary):
 * the same layout, sized by the same runtime function. */
typedef struct tsc_arena_report {
    uint64_t header_bytes;             /* the model struct */
    uint64_t parameter_bytes;          /* parameters, gradients and optimizer slots */
    uint64_t activation_bytes;         /* the largest plan of forward/evaluate/train_step */
    uint64_t forward_activation_bytes; /* what forward alone uses of it */
    uint64_t workspace_bytes;          /* kernel scratch (im2col) */
    uint64_t total_bytes;
} tsc_arena_report;
/* false when max_batch is out of range or the arena would not fit in size_t. */
bool tsc_model_arena(const checked_model *model, int64_t max_batch, tsc_arena_report *report);

/* -MD: writes "<out_dir>/<model>.c <out_dir>/<model>.h …: <input>" to
 * depfile_path (depfile.c). Returns 0, or -1 after reporting an I/O error
 * through diag (E0901). */
int tsc_write_depfile(const char *depfile_path, const checked_file *file, const char *out_dir,
                      const char *input_path);

#endif /* TSC_H */
