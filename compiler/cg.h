/* The back end's own interface: what each of its stages hands the next.
 *
 *   autodiff.c   which nodes each entry point runs and which need a gradient,
 *                and the buffers they need (a cg_program); its per-op facts
 *                come from the registry's flags
 *   lower.c      the program as an explicit list of steps: per step the node,
 *                forward or backward, and the buffers it reads and writes
 *                (lower_ops.c per op, lower_support.c the recording)
 *   op_table.c   the lowerings that the `lower` column of ops.def names: the
 *                operands of an op's steps, its C, its descriptor, its scratch
 *   plan.c       lifetimes from the steps, offsets, and the one arena layout
 *                that the emitter, --summary and the generated header read
 *   emit_*.c     printing: the steps as C (emit_steps.c walks them, emit_ops.c
 *                per op), the tables, the thin wrappers, the output files
 *
 * Only the back end includes this header; main.c and summary.c use
 * codegen.h. Calls go one way: a driver (lower.c, emit_steps.c) calls the
 * per-op functions through the table, and those call only leaf helpers. */
#ifndef TSC_CG_H
#define TSC_CG_H

#include <stdarg.h>

#include "codegen.h"

/* ===================================================================== */
/* Strings (cbuf.c) and names (names.c)                                   */
/* ===================================================================== */

/* A growable NUL-terminated string; {0} is an empty buffer. With a sink,
 * the text goes on to that stream whenever a megabyte has gathered (and at
 * cg_buf_flush), so a generated file never has to fit in memory. */
typedef struct cg_buf {
    char *data;
    size_t length;
    size_t capacity;
    FILE *sink;
} cg_buf;

/* Writes what is gathered to the sink (if any). */
void cg_buf_flush(cg_buf *b);

void cg_buf_putn(cg_buf *b, const char *s, size_t n);
void cg_buf_puts(cg_buf *b, const char *s);
void cg_buf_putc(cg_buf *b, char c);
void cg_buf_printf(cg_buf *b, const char *fmt, ...) TSC_PRINTF(2, 3);
void cg_buf_vprintf(cg_buf *b, const char *fmt, va_list args);
const char *cg_buf_str(const cg_buf *b);
void cg_buf_clear(cg_buf *b);
void cg_buf_free(cg_buf *b);
/* The heap string (the caller frees it); the buffer is left empty. */
char *cg_buf_take(cg_buf *b);
/* printf into a fresh heap string. */
char *cg_strf(const char *fmt, ...) TSC_PRINTF(1, 2);

/* Any text as the inside of a C string literal / of a comment. */
void cg_buf_c_string(cg_buf *b, const char *s);
void cg_buf_comment(cg_buf *b, const char *s);

/* The one mangler: a name from the model as a C identifier (heap). Plain
 * names stay as they are; see names.c for the rules. */
char *cg_mangle(const char *name);
/* a + "_" + b, without doubling an underscore a ends in (heap). */
char *cg_join(const char *a, const char *b);
/* s in capitals (heap). */
char *cg_upper(const char *s);

/* ===================================================================== */
/* Programs: buffers (autodiff.c) and steps (lower.c)                     */
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
    CG_BUFFER_PRE,       /* the pre-activation output of a conv2d/dense with activation=softmax, gelu or swish */
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
    int input_index;         /* >= 0: the caller's input array of that model input, not arena memory */
    int first_step, last_step; /* lifetime on the entry point's timeline (plan.c); -1 when unused */
    int64_t offset;          /* in floats: per sample (batched) or in the fixed part (plan.c) */
    char *c_name;            /* the local variable in generated code (heap) */
} cg_buffer;

/* The buffers of one node (-1: none). */
typedef struct cg_node_buffers {
    int value, grad, mask, pre, dpre, temp, labels;
} cg_node_buffers;

typedef enum cg_access {
    CG_READ = 0,
    CG_WRITE,            /* overwritten */
    CG_ACCUMULATE,       /* += ; the first contribution to a gradient is preceded by tdl_zero */
} cg_access;

/* A buffer a step touches. */
typedef struct cg_operand {
    int buffer;
    cg_access access;
    bool zero_first;     /* ACCUMULATE: the gradient's first contribution in this program */
} cg_operand;

typedef enum cg_step_kind {
    CG_STEP_FORWARD = 0, /* node's forward computation (nothing for inputs and views) */
    CG_STEP_TOTAL_LOSS,  /* train: the weighted sum of the losses, then the backward pass starts */
    CG_STEP_BACKWARD,    /* node's backward computation */
    CG_STEP_RESULTS,     /* outputs copied out (forward), losses and metrics reported (evaluate) */
} cg_step_kind;

typedef struct cg_step {
    cg_step_kind kind;
    const checked_node *node;   /* FORWARD, BACKWARD */
    int first_operand;          /* into program->operands */
    int operand_count;
} cg_step;

/* One entry point's computation. */
typedef struct cg_program {
    const checked_model *model;
    cg_mode mode;
    char *const *node_names; /* per node index: its mangled name (the layout's) */
    bool *live;              /* per node index: computed in this mode */
    bool *grad;              /* per node index: its gradient is needed (train) */
    int *readers;            /* per node index: live nodes reading its value, plus 1 if it is an output */
    cg_node_buffers *node_buffers;
    cg_buffer *buffers;
    int buffer_count, buffer_capacity;
    cg_step *steps;          /* the timeline: step i is time i */
    int step_count, step_capacity;
    cg_operand *operands;
    int operand_count, operand_capacity;
    int64_t batched_floats;  /* plan.c: per sample, the batched part of the activation region */
    int64_t fixed_floats;    /* plan.c: the fixed part */
} cg_program;

/* autodiff.c: nodes, gradients and buffers of one entry point. Its steps
 * come from cg_lower (lower.c) and its memory plan from cg_plan_memory
 * (plan.c), which cg_layout_build runs in that order. */
cg_program *cg_program_new(const checked_model *model, cg_mode mode, char *const *node_names);
void cg_program_free(cg_program *program);
/* The batch_norm that directly follows conv2d `conv` in forward or evaluate
 * and is its only reader, applied in the convolution's output pass (the
 * moving statistics as a per-channel scale and shift), or NULL. Decided
 * here, where the batch_norm gets the buffer for that scale and shift. */
const checked_node *cg_fused_batch_norm(const cg_program *p, const checked_node *conv);
/* Which input of a loss or metric holds the class indices (in_top_k: 1, else 0). */
int cg_labels_input(const checked_node *node);
/* The buffer whose memory b uses (follows aliases). */
int cg_buffer_root(const cg_program *program, int b);
/* Whether node n's backward writes a gradient for its input k. */
bool cg_passes_gradient_to(const checked_node *n, int k);

/* lower.c: the step list of a program whose buffers exist. */
typedef struct cg_lowerer {
    cg_program *program;
    bool *zeroed;            /* per buffer root: a contribution was declared already */
} cg_lowerer;
void cg_lower(cg_program *program);
/* Called by the operand functions of op_table.c for the step being built. */
void cg_read(cg_lowerer *l, int buffer);
void cg_write(cg_lowerer *l, int buffer);
void cg_accumulate_into(cg_lowerer *l, int buffer);
const cg_node_buffers *cg_buffers_of(const cg_program *p, const checked_node *n);
/* Fusion (lower_support.c): the max_pool2d that directly follows conv2d
 * `conv` and pools its output, computed in one step with it (the pooling
 * done while the convolution's output is in cache), or NULL. Lowering and
 * emission both ask, so they agree. */
const checked_node *cg_fused_pool(const cg_program *p, const checked_node *conv);
/* Whether node n's forward was done by its producer's step (a fused pool or batch_norm). */
bool cg_forward_fused(const cg_program *p, const checked_node *n);
/* In training, that pool when the pool is the convolution's only reader:
 * then their backward is one step too (tdl_conv2d_max_pool2d_backward),
 * which goes from the pool's gradient straight to the convolution's
 * pre-activation gradient, so the convolution gets no gradient buffer. */
const checked_node *cg_fused_pool_backward(const cg_program *p, const checked_node *conv);
/* Whether node n's backward is done by its producer's step (that pool). */
bool cg_backward_fused(const cg_program *p, const checked_node *n);

/* ===================================================================== */
/* The per-op lowering table (op_table.c)                                 */
/* ===================================================================== */

typedef struct cg_emitter cg_emitter;

enum {
    CG_OP_VIEW = 1u << 0,          /* output and gradient are views of input 0 (flatten, reshape, …) */
    CG_OP_TRAIN_ONLY = 1u << 1,    /* the identity (a view) outside training: dropout */
    CG_OP_MASK = 1u << 2,          /* keeps a mask in training: dropout */
    CG_OP_FUSED_ACTIVATION = 1u << 3, /* activation= (softmax, gelu, swish need a pre-activation buffer) */
    CG_OP_GRAD_TEMP = 1u << 4,     /* input 1's gradient goes through a temporary */
    CG_OP_NO_CODE = 1u << 5,       /* inputs and optimizers: no step of their own */
    CG_OP_ARGMAX = 1u << 6,        /* training keeps each window's argmax (int32) in the mask buffer */
};

/* What the back end does for an op: one function per stage, named by the
 * `lower` column of ops.def (op_table.c). A NULL backward on a
 * differentiable op is caught by tests/compiler/test_backend.c. */
typedef struct cg_op_lowering {
    /* lowering: the operands of the forward / backward step */
    void (*forward_operands)(cg_lowerer *l, const checked_node *n);
    void (*backward_operands)(cg_lowerer *l, const checked_node *n);
    /* emission: the C of the forward / backward step */
    void (*emit_forward)(cg_emitter *e, const checked_node *n);
    void (*emit_backward)(cg_emitter *e, const checked_node *n);
    /* a static const runtime descriptor (NULL: none) */
    void (*emit_descriptor)(cg_buf *out, const char *name, const checked_node *n);
    /* kernel scratch in floats for max_batch, computed with the runtime's own
     * function, and that function's name for the generated code (NULL: none) */
    size_t (*workspace_floats)(const checked_node *n, int max_batch);
    const char *workspace_function;
    /* the same for the forward step alone (inference builds; NULL: none) */
    size_t (*forward_workspace_floats)(const checked_node *n, int max_batch);
    const char *forward_workspace_function;
} cg_op_lowering;

extern const cg_op_lowering *const cg_op_lowerings[TSC_OP_COUNT];

/* The CG_OP_* flags of a node's op, from the registry's flags (autodiff.c). */
unsigned cg_op_flags(const checked_node *n);
const cg_op_lowering *cg_lowering_of(const checked_node *n);

/* ===================================================================== */
/* Planning (plan.c)                                                      */
/* ===================================================================== */

/* Fills first_step/last_step of every buffer from the steps, then offsets:
 * buffers whose lifetimes overlap never share memory. Batched and fixed
 * buffers are planned separately. */
void cg_plan_memory(cg_program *program);

/* The arena of a model, the one layout everything reads: the parts in
 * order, each 64-byte aligned (sizes in floats; activation parts are those
 * of the largest of the entry points' plans). */
typedef struct cg_layout {
    cg_program *programs[CG_MODE_COUNT]; /* TRAIN is NULL without has_train, EVAL without has_eval */
    bool has_train;
    bool has_eval;                 /* evaluate: the model has a loss or a metric */
    bool inference;                /* forward-only memory: no gradients, slots or training scratch */
    const tsc_weights *weights;    /* the compiled-in parameters' values, or NULL */
    bool weights_compiled_in;      /* the parameters are static const data, none in the arena */
    int param_tensors;
    int64_t param_floats;          /* parameters; gradients have as many with has_train */
    int64_t *param_offsets;        /* per node index: where its first parameter starts */
    char **node_names;             /* per node index: the mangled layer name, made once */
    char **type_texts;             /* per node index: "f32[B,10]", for trace comments */
    int optimizer_slots;           /* 0 to 3 (tdl_model_slot_names) */
    int state_tensors;
    int64_t state_floats;          /* non-trainable state (one block); the batch's statistics have as many with has_train */
    int64_t *state_offsets;        /* per node index: where its first state tensor starts */
    int64_t act_per_sample;        /* the batched activation part, per example */
    int64_t act_fixed;             /* the fixed activation part */
} cg_layout;

void cg_layout_build(cg_layout *layout, const checked_model *model, const tsc_codegen_options *options);
void cg_layout_release(cg_layout *layout);
/* The kernel scratch query of node n in this layout (forward-only in an
 * inference build; none for a node no entry point runs): false if none. */
bool cg_workspace_query(const cg_layout *layout, const checked_node *n,
                        size_t (**floats)(const checked_node *n, int max_batch), const char **function);
/* The largest kernel scratch of the model for max_batch, in floats. */
uint64_t cg_workspace_floats(const cg_layout *layout, int max_batch);
/* The runtime's description of the same layout (needs <tdl/runtime.h>). */
struct tdl_model_layout;
void cg_layout_runtime(const cg_layout *layout, struct tdl_model_layout *out);

/* ===================================================================== */
/* Emission (emit_c.c, emit_ops.c, emit_support.c)                        */
/* ===================================================================== */

struct cg_emitter {
    cg_buf *out;
    cg_program *program;
    const char *prefix;      /* the model's C name: prefix of every generated symbol */
    const char *source_name; /* the model file's name, for trace comments */
    const int64_t *param_offsets; /* the layout's: per node index, its first parameter in m->params */
    const char *params_base;      /* "m->params", or the compiled-in weights array; NULL: "m->params" */
    const char *state_base;       /* the compiled-in state array; NULL: "m->state" */
    const int64_t *state_offsets; /* the layout's: per node index, its first state tensor in m->state */
    char *const *type_texts;      /* the layout's */
    char *const *fields;     /* metrics struct fields: losses, then metrics */
    const cg_step *step;     /* the step being printed */
    bool *operand_used;      /* per operand of the step: referenced while printing it */
    bool *operand_zeroed;    /* per operand of the step: its tdl_zero is printed */
    int operand_capacity;
    bool failed_status;      /* the body calls something that returns a tdl_status */
    char **temps;            /* strings made for the step being printed, freed after it */
    int temp_count, temp_capacity;
};

/* Prints the steps of e->program; the body of a pass function (emit_steps.c). */
void cg_emit_steps(cg_emitter *e, void (*special)(cg_emitter *e, const cg_step *step));
/* Frees the strings that lived for one step (emit_support.c). */
void cg_free_temps(cg_emitter *e);
/* "f32[B,28,28,1]" (heap), as tsc_type_format spells it, at any length. */
char *cg_type_text(const tsc_type *type, const char *batch_symbol);
/* The C spelling of a node for generated symbols (heap): its mangled layer name. */
char *cg_node_c_name(const checked_node *node);
/* The C variable of buffer b; b must be an operand of the step being printed. */
const char *cg_use(cg_emitter *e, int b);
/* Like cg_use for a gradient about to be accumulated into: before its first
 * contribution (decided by lowering), also prints the tdl_zero that starts it. */
const char *cg_accumulate(cg_emitter *e, int b);
/* cg_accumulate for a kernel that can also write the gradient whole: where
 * this is the gradient's first contribution and b is all of its memory,
 * prints no tdl_zero and sets *write (the kernel then writes b); else as
 * cg_accumulate, with *write false. */
const char *cg_accumulate_or_write(cg_emitter *e, int b, bool *write);
/* Strings that live until the step is printed. */
const char *cg_fmt(cg_emitter *e, const char *fmt, ...) TSC_PRINTF(2, 3);
/* "(size_t)batch * 784" or "10": the elements of buffer b in this call. */
const char *cg_count(cg_emitter *e, int b);
/* The same for any tensor type. */
const char *cg_type_count(cg_emitter *e, const tsc_type *type);
/* The shortest float literal that reads back as the same float: "0.3f". */
const char *cg_float(cg_emitter *e, double value);
char *cg_float_literal(double value); /* heap */
/* printf into the body. */
void cg_line(cg_emitter *e, const char *fmt, ...) TSC_PRINTF(2, 3);
/* "fashion_cnn_conv2d_1_desc" (heap). */
char *cg_desc_name(const char *prefix, const checked_node *n);
/* The same, living until the step is printed. */
const char *cg_desc(cg_emitter *e, const checked_node *n);

/* The runtime descriptors of a conv2d (or conv2d_backprop_*) and a dense
 * node, filled from the geometry the checker stored. */
struct tdl_conv2d_desc;
struct tdl_dense_desc;
struct tdl_separable_conv2d_desc;
void cg_conv_desc(const checked_node *node, struct tdl_conv2d_desc *desc);
void cg_separable_desc(const checked_node *node, struct tdl_separable_conv2d_desc *desc);
void cg_dense_desc(const checked_node *node, struct tdl_dense_desc *desc);
struct tdl_batch_norm_desc;
void cg_batch_norm_desc(const checked_node *node, struct tdl_batch_norm_desc *desc);

/* emit_c.c: the two files of one model into buffers. */
/* weights.c: the n floats of the parameter tensor `name`, decoded from the
 * file's little-endian F32 (the reader checked it is there with n elements). */
void cg_weights_tensor(const tsc_weights *weights, const char *name, float *out, size_t n);
/* emit_weights.c: `static const float name[] = {…};`, every parameter of
 * the model from layout->weights in the layout's order. */
void cg_emit_weights(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *name);
/* The same for the non-trainable state: `static const float name[]`, read
 * where the passes would read m->state. */
void cg_emit_state_weights(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *name);

void cg_emit_header(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *source_name);
void cg_emit_source(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *source_name);
/* The model's C name (heap): the mangled model name, also the file stem. */
char *cg_model_prefix(const checked_model *model);

/* emit_files.c: output files, shared with depfile.c. */
/* E0901: an output cannot be written. */
void cg_report_write_error(const char *path, int error_number);
/* A fresh temporary file in dir for the output `name` (mkstemp, with the
 * mode a plain creat would give). NULL after E0901; *temp_path is heap. */
FILE *cg_open_temp(const char *dir, const char *name, char **temp_path);
/* E0902 and true if output_path is the input file itself (same inode). */
bool cg_refuse_input(const char *output_path, const char *input_path);
/* Closes it; false (after E0901, the file removed) if anything failed. */
bool cg_close_temp(FILE *file, const char *temp_path);

#endif /* TSC_CG_H */
