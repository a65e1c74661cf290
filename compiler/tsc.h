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
/* An error about the tool's files or environment, not the model (cannot read
 * the input, cannot write an output): no location and no code. Printed as
 * "tsc: error: …" in text, and as a location-less error in JSON and SARIF,
 * so those stay one valid document whatever fails. */
void diag_tool_error(const char *fmt, ...) TSC_PRINTF(1, 2);
void diag_note(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
void diag_help(tsc_loc loc, const char *fmt, ...) TSC_PRINTF(2, 3);
/* A machine-readable fix: replace the bytes of span with text. To insert
 * before a byte, use an empty span: last = first - 1 (then span.first is the
 * insertion point). Attached to the most recent help (or error). */
void diag_fixit(tsc_loc span, const char *replacement);

int diag_error_count(void);
/* How many of the errors were tool errors (the CLI exits 2 for them). */
int diag_tool_error_count(void);
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
/* The same as a heap string of whatever length the batch name needs (free it). */
char *tsc_type_string(const tsc_type *type, const char *batch_symbol);
/* a * b into *out; false (and *out untouched) if it overflows int64 or either is negative. */
bool tsc_mul_checked(int64_t a, int64_t b, int64_t *out);
/* a * b for a, b >= 0, or INT64_MAX when it overflows (figures for reports). */
int64_t tsc_mul_saturating(int64_t a, int64_t b);
/* Elements of a tensor of this type when the batch dim is `batch`; false on
 * overflow or poison. Dims from index `from` on only (0 = all, 1 = per sample). */
bool tsc_type_elements(const tsc_type *type, int64_t batch, int from, int64_t *out);

/* The op registry (ops.h, ops.c, ops.def, op_params.def) */
#include "ops.h"

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
    /* optimizers: copied into the model's checked_optimizer */
    double learning_rate, momentum, beta_1, beta_2, epsilon, weight_decay;
    bool nesterov;
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

/* ===================================================================== */
/* Reports: --summary (summary.c) and --dot (dot.c)                       */
/* ===================================================================== */

/* batch: the size used for the B dimension in activation bytes and FLOPs. */
void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch);
void tsc_print_dot(FILE *out, const checked_file *file);

/* ===================================================================== */
/* Code generation (autodiff.c, plan.c, emit_c.c, emit_ops.c)             */
/* ===================================================================== */

/* What a generated entry point computes. */
typedef enum cg_mode {
    CG_MODE_INFER = 0,   /* forward: the outputs only; dropout is the identity */
    CG_MODE_EVAL,        /* evaluate: every loss and metric; dropout is the identity */
    CG_MODE_TRAIN,       /* train_step: the losses, then the backward pass */
    CG_MODE_COUNT
} cg_mode;

typedef enum cg_buffer_role {
    CG_BUFFER_VALUE = 0, /* a node's output */
    CG_BUFFER_GRAD,      /* the gradient of a node's output */
    CG_BUFFER_MASK,      /* dropout's mask */
    CG_BUFFER_PRE,       /* the pre-softmax output of a conv2d/dense with activation=softmax */
    CG_BUFFER_DPRE,      /* its gradient */
    CG_BUFFER_TEMP,      /* a backward partial result added into a gradient */
    CG_BUFFER_LABELS,    /* f32 labels converted to the int32 indices a loss or metric takes */
} cg_buffer_role;

/* A tensor the generated code keeps in the arena's activation region. */
typedef struct cg_buffer {
    cg_buffer_role role;
    const checked_node *node;
    bool is_int;             /* holds i32 values */
    bool batched;            /* elements scale with the batch */
    int64_t elements;        /* per sample when batched, else in all */
    int alias_of;            /* -1, or the buffer whose memory this one shares (views) */
    bool is_input;           /* the caller's input array, not arena memory */
    int first_step, last_step; /* lifetime on the entry point's timeline; -1 when unused */
    int64_t offset;          /* in floats: per sample (batched) or in the fixed part */
    char c_name[64];         /* the local variable in generated code */
} cg_buffer;

/* The buffers of one node (-1: none). */
typedef struct cg_node_buffers {
    int value, grad, mask, pre, dpre, temp, labels;
} cg_node_buffers;

/* One entry point's computation: which nodes run, which need gradients,
 * their buffers and where each lives. */
typedef struct cg_program {
    const checked_model *model;
    cg_mode mode;
    bool *live;              /* per node index: computed in this mode */
    bool *grad;              /* per node index: its gradient is needed (train) */
    cg_node_buffers *node_buffers;
    cg_buffer *buffers;
    int buffer_count;
    int64_t *param_offsets;  /* per node index: where its first parameter starts in m->params */
    int64_t batched_floats;  /* per sample: the batched part of the activation region */
    int64_t fixed_floats;    /* the fixed part */
} cg_program;

/* Builds the program of one entry point (nodes, gradients, buffers); the
 * lifetimes and offsets are filled in by emit_c.c's analysis and plan. */
cg_program *cg_program_new(const checked_model *model, cg_mode mode);
void cg_program_free(cg_program *program);
/* Which input of a loss or metric holds the class indices (in_top_k: 1, else 0). */
int cg_labels_input(const checked_node *node);
/* The buffer whose memory b uses (follows aliases). */
int cg_buffer_root(const cg_program *program, int b);

/* Assigns offsets: buffers whose lifetimes overlap never share memory.
 * Batched and fixed buffers are planned separately. */
void cg_plan_memory(cg_program *program);

/* Writes <model>.h and <model>.c for every model of the file into out_dir.
 * Returns 0, or -1 after printing an I/O error. */
int tsc_emit_c(const checked_file *file, const char *out_dir, const char *source_name);
/* The same for one model into two open streams (tests, the fuzzer). */
void tsc_emit_model(const checked_model *model, const char *source_name, FILE *header, FILE *source);

/* The arena NAME_arena_size(max_batch) asks for, part by part (--summary). */
#define CG_ARENA_HEADER_BYTES 256
typedef struct tsc_arena_report {
    uint64_t header_bytes;             /* the model struct */
    uint64_t parameter_bytes;          /* parameters, gradients and two optimizer slots */
    uint64_t activation_bytes;         /* the largest plan of forward/evaluate/train_step */
    uint64_t forward_activation_bytes; /* what forward alone uses of it */
    uint64_t workspace_bytes;          /* kernel scratch (im2col) */
    uint64_t total_bytes;
} tsc_arena_report;
bool tsc_model_arena(const checked_model *model, int64_t max_batch, tsc_arena_report *report);

/* A model input's or output's name as a C parameter (+ suffix): a C keyword or
 * a name the generated functions use themselves (m, batch, …) gets a '_'. */
void cg_param_name(const char *name, const char *suffix, char *out, size_t size);
/* s in capitals, for macro names. */
void cg_upper(const char *s, char *out, size_t size);
/* A name from the model as a C identifier: a C or C++ keyword gets a
 * trailing '_' (a model named `int` is generated as int_.h with int__create). */
void cg_c_identifier(const char *name, char *out, size_t size);

/* -MD: writes "<out_dir>/<model>.c <out_dir>/<model>.h …: <input>" to
 * depfile_path (depfile.c). Returns 0, or -1 after printing an I/O error. */
int tsc_write_depfile(const char *depfile_path, const checked_file *file, const char *out_dir,
                      const char *input_path);

/* --- The emitter shared by emit_c.c (files, entry points) and emit_ops.c
 * (one forward and one backward emitter per op family). It runs every
 * entry point twice: an analysis pass (out == NULL) that records when each
 * buffer is used, then, after cg_plan_memory, the pass that writes C. */
typedef struct cg_emitter {
    FILE *out;               /* NULL in the analysis pass */
    cg_program *program;
    const char *prefix;      /* the model's name: prefix of every generated symbol */
    int step;                /* position on the entry point's timeline */
    bool *zeroed;            /* per buffer root: gradient zeroed already in this pass */
    bool *used;              /* per buffer: referenced in this pass */
    bool failed_status;      /* the body calls something that returns a tdl_status */
} cg_emitter;

/* The C spelling of a node's name ("conv2d_1"; "n5_my_layer" when the layer
 * name is not a C identifier). */
void cg_node_c_name(const checked_node *node, char *out, size_t size);
/* The C variable of buffer b, recording its use at the current step. */
const char *cg_use(cg_emitter *e, int b);
/* Like cg_use for a gradient about to be accumulated into: the first time in
 * a pass, also emits the tdl_zero that starts it. */
const char *cg_accumulate(cg_emitter *e, int b);
/* "(size_t)batch * 784" or "10": the elements of buffer b in this call. */
void cg_count(const cg_emitter *e, int b, char *out, size_t size);
/* The same for any node type. */
void cg_type_count(const tsc_type *type, char *out, size_t size);
/* printf into the body (nothing in the analysis pass). */
void cg_line(cg_emitter *e, const char *fmt, ...) TSC_PRINTF(2, 3);
/* The shortest float literal that reads back as the same float: "0.3f". */
void cg_float_literal(double value, char *out, size_t size);

/* Emits the forward (backward) computation of node n; backward only for
 * nodes whose gradient is needed. Descriptor statics are emitted first by
 * cg_emit_descriptors. */
void cg_emit_forward(cg_emitter *e, const checked_node *n);
void cg_emit_backward(cg_emitter *e, const checked_node *n);
void cg_emit_descriptors(FILE *out, const checked_model *model, const char *prefix);
/* The runtime descriptors of a conv2d (or conv2d_backprop_*) and a dense
 * node, as the generated code declares them (needs <tdl/runtime.h>). */
struct tdl_conv2d_desc;
struct tdl_dense_desc;
void cg_conv_desc(const checked_node *node, struct tdl_conv2d_desc *desc);
void cg_dense_desc(const checked_node *node, struct tdl_dense_desc *desc);
/* Emits into `out` the workspace needs of the model's kernels: a sequence of
 * `need = max(need, tdl_…_workspace_size(&desc, max_batch));` lines. */
void cg_emit_workspace_needs(FILE *out, const checked_model *model, const char *prefix);

#endif /* TSC_H */
