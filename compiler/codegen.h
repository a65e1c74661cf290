/* Code generation: autodiff, memory plan and the C emitter (autodiff.c,
 * plan.c, emit_c.c, emit_ops.c, emit_support.c, depfile.c). Reads the
 * checked graph, never the parse tree. */
#ifndef TSC_CODEGEN_H
#define TSC_CODEGEN_H

#include <stdio.h>

#include "check.h"
#include "diag.h"

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

#endif /* TSC_CODEGEN_H */
