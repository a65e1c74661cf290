/* The op registry as C: the enum of ops, their parameters with typed
 * defaults and named indices, and their flags, all generated from ops.def and
 * op_params.def. Every stage may read it; each stage builds the table of its
 * own per-op functions from its own column of ops.def. */
#ifndef TSC_OPS_H
#define TSC_OPS_H

#include <stdbool.h>
#include <stdint.h>

typedef enum tsc_op {
#define OP(id, name, family, params, flags, shape_rule, check, lower) TSC_OP_##id,
#include "ops.def"
#undef OP
    TSC_OP_COUNT
} tsc_op;

typedef enum tsc_op_family {
    TSC_FAMILY_INPUT = 0,
    TSC_FAMILY_LAYER,       /* `x = op(...)` */
    TSC_FAMILY_ACTIVATION,  /* `x = relu(x)`; also usable as activation= of conv2d/dense */
    TSC_FAMILY_LOSS,        /* `loss name = op(...)`: scalar f32[] */
    TSC_FAMILY_METRIC,      /* `metric name = op(...)`: scalar f32[] */
    TSC_FAMILY_OPTIMIZER,   /* `optimizer op(...)` */
    TSC_FAMILY_SCHEDULE,    /* a learning-rate schedule: only as an optimizer's learning_rate= */
} tsc_op_family;

/* Properties of an op that stages other than its own rules ask about. */
enum {
    TSC_OPF_WEIGHTS = 1u << 0,         /* has trainable parameters (kernel, bias) */
    TSC_OPF_DIFF = 1u << 1,            /* gradients pass through it to its inputs */
    TSC_OPF_VIEW = 1u << 2,            /* its output is its input's memory, reshaped */
    TSC_OPF_KEEPS_SHAPE = 1u << 3,     /* output shape = first input's: notes look through it */
    TSC_OPF_TRAINING_ONLY = 1u << 4,   /* the identity in forward and evaluate (dropout) */
    TSC_OPF_WORKSPACE = 1u << 5,       /* its kernels need scratch memory */
    TSC_OPF_SQUASH_SOFTMAX = 1u << 6,  /* its output is a softmax: probabilities */
    TSC_OPF_SQUASH_SIGMOID = 1u << 7,  /* its output is a sigmoid: probabilities */
    TSC_OPF_STATE = 1u << 8,           /* has non-trainable state saved with the weights */
    TSC_OPF_LABELS_DIFF = 1u << 10,    /* a loss whose kernel also differentiates its (f32) labels */
    TSC_OPF_GRADIENT_TEMP = 1u << 11,  /* its backward adds input 1's gradient through a temporary */
    TSC_OPF_SAVES_ARGMAX = 1u << 12,   /* training keeps where each output came from (max pooling) */
    TSC_OPF_CHECKS_POISON = 1u << 9,   /* its rule checks each operand on its own, so it also runs (to find
                                          an independent second bug) when another operand is poison */
};

/* What kind of value an argument takes. */
typedef enum tsc_arg_kind {
    TSC_ARG_TENSOR,      /* a tensor name */
    TSC_ARG_TENSORS,     /* all remaining positional tensors (concat), or one list of them */
    TSC_ARG_INT,         /* an integer (or an integer const) */
    TSC_ARG_FLOAT,       /* a number (integers accepted) */
    TSC_ARG_BOOL,        /* true / false */
    TSC_ARG_ENUM,        /* one of enum_words, as a bare word (or a string) */
    TSC_ARG_INT_PAIR,    /* n or (h, w): kernel_size, strides, pool_size, dilation_rate */
    TSC_ARG_AXES,        /* an axis or a list/tuple of axes (negative counts from the end) */
    TSC_ARG_INT_LIST,    /* a list/tuple of integers: reshape's shape, filter_sizes, input_sizes */
    TSC_ARG_INT_SIDES,   /* n, (rows, columns) or ((top, bottom), (left, right)), as Keras' ZeroPadding2D
                            (also flat (top, bottom, left, right)): 1, 2 or 4 integers */
    TSC_ARG_STRING,      /* "text": name= */
    TSC_ARG_RATE,        /* a number, or a schedule call: an optimizer's learning_rate= */
    TSC_ARG_NUMBERS,     /* a list of numbers of any length (schedules' boundaries and values) */
} tsc_arg_kind;

/* How a parameter that the call leaves out gets its value. */
typedef enum tsc_default_kind {
    TSC_DEFAULT_REQUIRED = 0,  /* it may not be left out */
    TSC_DEFAULT_VALUE,         /* the typed default below */
    TSC_DEFAULT_RULE,          /* the op's shape rule computes it (pool strides = pool_size) */
} tsc_default_kind;

typedef struct tsc_param_spec {
    const char *name;                /* keyword: "filters" */
    tsc_arg_kind kind;
    tsc_default_kind default_kind;
    int64_t default_int;             /* INT, INT_PAIR (both entries), AXES */
    double default_float;            /* FLOAT */
    bool default_bool;               /* BOOL */
    const char *default_word;        /* ENUM: one of enum_words */
    const char *default_text;        /* as docs show it: "1", "valid", "pool_size"; NULL if required */
    const char *const *enum_words;   /* ENUM: NULL-terminated list */
    const char *doc;                 /* one line for docs/ops.md */
} tsc_param_spec;

/* P_<list>_<name>: the index of each parameter in its list, for shape rules. */
#define PARAM_LIST(list) enum {
#define PARAM(list, name, kind, def, words, doc) P_##list##_##name,
#define PARAM_LIST_END(list) P_##list##_COUNT };
#include "op_params.def"
#undef PARAM_LIST
#undef PARAM
#undef PARAM_LIST_END

/* The most parameters any op takes (checked in ops.c); separable_conv2d
 * takes 13 with its three initializers. */
#define TSC_OP_MAX_PARAMS 16

typedef struct tsc_op_info {
    tsc_op op;
    const char *name;                /* as written in TDL: "conv2d" */
    tsc_op_family family;
    const tsc_param_spec *params;    /* in the positional order of SPEC §3 */
    int param_count;
    unsigned flags;                  /* TSC_OPF_* */
    bool has_weights;                /* = flags & TSC_OPF_WEIGHTS (read by the back end) */
    bool differentiable;             /* = flags & TSC_OPF_DIFF (read by the back end) */
    const char *shape_rule;          /* one line for docs and --explain: "[B,H,W,C] -> [B,H',W',filters]" */
} tsc_op_info;

/* The registry entry of an op (never NULL for op < TSC_OP_COUNT). */
const tsc_op_info *tsc_op_info_of(tsc_op op);
/* Whether the op has all of the TSC_OPF_* bits in `flags`. */
bool tsc_op_has(tsc_op op, unsigned flags);
/* Looks an op up by its TDL name; NULL if there is none. */
const tsc_op_info *tsc_op_lookup(const char *name);
/* The TDL name of an op a Keras user may write by its Keras name in snake
 * case ("concatenate" -> "concat"), or NULL. */
const char *tsc_op_keras_alias(const char *name);
/* Row `index` of that table: the Keras name (and *tdl the TDL one), or NULL
 * past its end. */
const char *tsc_op_keras_alias_at(int index, const char **tdl);
/* Index of a parameter by keyword in info->params, or -1. */
int tsc_op_param_index(const tsc_op_info *info, const char *keyword);
/* The closest of `count` candidate names to `name` (edit distance with
 * transpositions, at most one edit per four characters), or NULL: for "did
 * you mean" hints. */
const char *tsc_closest_name(const char *name, const char *const *candidates, int count);

#endif /* TSC_OPS_H */
