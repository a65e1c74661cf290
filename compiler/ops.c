/* The op catalogue: every callable op of TDL with its parameters in the
 * positional order of SPEC §3, their kinds and defaults. resolve.c binds call
 * arguments against it; docs/ops.md documents the same table. */
#include <stdlib.h>
#include <string.h>

#include "tsc.h"

static const char *const padding_words[] = {"valid", "same", NULL};
static const char *const activation_words[] = {"linear", "relu", "sigmoid", "tanh", "leaky_relu", "softmax", NULL};

#define TENSOR(n, d) {n, TSC_ARG_TENSOR, true, NULL, NULL, d}
#define REQUIRED(n, kind, d) {n, kind, true, NULL, NULL, d}
#define OPTIONAL(n, kind, def, d) {n, kind, false, def, NULL, d}
#define CHOICE(n, def, words, d) {n, TSC_ARG_ENUM, false, def, words, d}
#define NAME_PARAM {"name", TSC_ARG_STRING, false, NULL, NULL, "layer name (default: op name and a counter, conv2d_1)"}
#define WEIGHT_PARAM {"weight", TSC_ARG_FLOAT, false, "1.0", NULL, "factor of this loss in the summed objective"}

static const tsc_param_spec conv2d_params[] = {
    TENSOR("x", "input f32[B,H,W,C]"),
    REQUIRED("filters", TSC_ARG_INT, "output channels"),
    REQUIRED("kernel_size", TSC_ARG_INT_PAIR, "k or (kh, kw)"),
    OPTIONAL("strides", TSC_ARG_INT_PAIR, "1", "s or (sh, sw)"),
    CHOICE("padding", "valid", padding_words, "valid or same (TensorFlow arithmetic)"),
    OPTIONAL("dilation_rate", TSC_ARG_INT_PAIR, "1", "d or (dh, dw)"),
    CHOICE("activation", "linear", activation_words, "applied after the bias"),
    OPTIONAL("use_bias", TSC_ARG_BOOL, "true", "add a bias of [filters]"),
    NAME_PARAM,
};

static const tsc_param_spec pool_params[] = {
    TENSOR("x", "input f32[B,H,W,C]"),
    REQUIRED("pool_size", TSC_ARG_INT_PAIR, "p or (ph, pw)"),
    OPTIONAL("strides", TSC_ARG_INT_PAIR, "pool_size", "s or (sh, sw)"),
    CHOICE("padding", "valid", padding_words, "valid or same"),
    NAME_PARAM,
};

static const tsc_param_spec unary_params[] = {
    TENSOR("x", "input"),
    NAME_PARAM,
};

static const tsc_param_spec reshape_params[] = {
    TENSOR("x", "input"),
    REQUIRED("shape", TSC_ARG_INT_LIST, "per-sample target shape [d1, …]; one -1 is inferred"),
    NAME_PARAM,
};

static const tsc_param_spec dense_params[] = {
    TENSOR("x", "input f32[B,F]"),
    REQUIRED("units", TSC_ARG_INT, "output features"),
    CHOICE("activation", "linear", activation_words, "applied after the bias"),
    OPTIONAL("use_bias", TSC_ARG_BOOL, "true", "add a bias of [units]"),
    NAME_PARAM,
};

static const tsc_param_spec leaky_relu_params[] = {
    TENSOR("x", "input"),
    OPTIONAL("alpha", TSC_ARG_FLOAT, "0.3", "slope for x < 0, >= 0"),
    NAME_PARAM,
};

static const tsc_param_spec softmax_params[] = {
    TENSOR("x", "input f32"),
    OPTIONAL("axis", TSC_ARG_INT, "-1", "the axis normalised"),
    NAME_PARAM,
};

static const tsc_param_spec dropout_params[] = {
    TENSOR("x", "input f32"),
    REQUIRED("rate", TSC_ARG_FLOAT, "fraction dropped in training, in [0, 1)"),
    NAME_PARAM,
};

static const tsc_param_spec add_params[] = {
    TENSOR("a", "first operand"),
    TENSOR("b", "second operand, same shape"),
    NAME_PARAM,
};

static const tsc_param_spec reduce_params[] = {
    TENSOR("x", "input f32"),
    OPTIONAL("axis", TSC_ARG_AXES, "all axes", "an axis or a list of axes; negative counts from the end"),
    OPTIONAL("keepdims", TSC_ARG_BOOL, "false", "keep reduced axes with size 1"),
    NAME_PARAM,
};

static const tsc_param_spec argmax_params[] = {
    TENSOR("x", "input f32"),
    OPTIONAL("axis", TSC_ARG_INT, "-1", "the axis searched"),
    NAME_PARAM,
};

static const tsc_param_spec one_hot_params[] = {
    TENSOR("labels", "class indices i32[…]"),
    REQUIRED("depth", TSC_ARG_INT, "number of classes"),
    NAME_PARAM,
};

static const tsc_param_spec squeeze_params[] = {
    TENSOR("x", "input"),
    REQUIRED("axis", TSC_ARG_INT, "the size-1 axis to remove"),
    NAME_PARAM,
};

static const tsc_param_spec expand_dims_params[] = {
    TENSOR("x", "input"),
    REQUIRED("axis", TSC_ARG_INT, "where the new size-1 axis goes (-1: last)"),
    NAME_PARAM,
};

static const tsc_param_spec backprop_filter_params[] = {
    TENSOR("input", "the conv2d input f32[B,H,W,C]"),
    REQUIRED("filter_sizes", TSC_ARG_INT_LIST, "(kh, kw, C, F)"),
    TENSOR("out_backprop", "gradient of the conv2d output f32[B,H',W',F]"),
    OPTIONAL("strides", TSC_ARG_INT_PAIR, "1", "s, (sh, sw) or (1, sh, sw, 1)"),
    CHOICE("padding", "valid", padding_words, "valid or same"),
    NAME_PARAM,
};

static const tsc_param_spec backprop_input_params[] = {
    REQUIRED("input_sizes", TSC_ARG_INT_LIST, "(B, H, W, C); B may be the batch symbol"),
    TENSOR("filter", "the conv2d kernel f32[kh,kw,C,F]"),
    TENSOR("out_backprop", "gradient of the conv2d output f32[B,H',W',F]"),
    OPTIONAL("strides", TSC_ARG_INT_PAIR, "1", "s, (sh, sw) or (1, sh, sw, 1)"),
    CHOICE("padding", "valid", padding_words, "valid or same"),
    NAME_PARAM,
};

static const tsc_param_spec sparse_xent_params[] = {
    TENSOR("labels", "class indices i32[…]"),
    TENSOR("logits", "unnormalised scores f32[…,C]"),
    WEIGHT_PARAM,
    NAME_PARAM,
};

static const tsc_param_spec dense_xent_params[] = {
    TENSOR("labels", "f32, same shape as logits"),
    TENSOR("logits", "unnormalised scores f32[…]"),
    WEIGHT_PARAM,
    NAME_PARAM,
};

static const tsc_param_spec binary_xent_params[] = {
    TENSOR("labels", "f32 in [0, 1], same shape as x"),
    TENSOR("x", "logits (from_logits=true) or probabilities"),
    OPTIONAL("from_logits", TSC_ARG_BOOL, "true", "whether x is a logit"),
    WEIGHT_PARAM,
    NAME_PARAM,
};

static const tsc_param_spec focal_params[] = {
    TENSOR("labels", "i32[…] indices or f32 one-hot of the logits' shape"),
    TENSOR("logits", "unnormalised scores f32[…,C]"),
    OPTIONAL("gamma", TSC_ARG_FLOAT, "2.0", "focusing parameter, >= 0"),
    OPTIONAL("alpha", TSC_ARG_FLOAT, "0.25", "class weight, in [0, 1]"),
    WEIGHT_PARAM,
    NAME_PARAM,
};

static const tsc_param_spec mse_params[] = {
    TENSOR("labels", "targets f32, same shape as predictions"),
    TENSOR("predictions", "f32[…]"),
    WEIGHT_PARAM,
    NAME_PARAM,
};

static const tsc_param_spec in_top_k_params[] = {
    TENSOR("predictions", "scores f32[B,C]"),
    TENSOR("targets", "class indices i32[B]"),
    REQUIRED("k", TSC_ARG_INT, "1 <= k <= C"),
    NAME_PARAM,
};

static const tsc_param_spec accuracy_params[] = {
    TENSOR("labels", "class indices i32[…]"),
    TENSOR("logits", "scores f32[…,C]"),
    NAME_PARAM,
};

static const tsc_param_spec mean_params[] = {
    TENSOR("x", "f32 tensor (usually a loss)"),
    NAME_PARAM,
};

static const tsc_param_spec sgd_params[] = {
    REQUIRED("learning_rate", TSC_ARG_FLOAT, "> 0"),
    OPTIONAL("momentum", TSC_ARG_FLOAT, "0", "in [0, 1)"),
    OPTIONAL("nesterov", TSC_ARG_BOOL, "false", "Nesterov momentum"),
    OPTIONAL("weight_decay", TSC_ARG_FLOAT, "0", "decoupled weight decay, >= 0"),
};

static const tsc_param_spec adam_params[] = {
    OPTIONAL("learning_rate", TSC_ARG_FLOAT, "0.001", "> 0"),
    OPTIONAL("beta_1", TSC_ARG_FLOAT, "0.9", "in [0, 1)"),
    OPTIONAL("beta_2", TSC_ARG_FLOAT, "0.999", "in [0, 1)"),
    OPTIONAL("epsilon", TSC_ARG_FLOAT, "1e-7", "> 0"),
    OPTIONAL("weight_decay", TSC_ARG_FLOAT, "0", "decoupled weight decay (AdamW), >= 0"),
};

#define PARAMS(array) array, (int)(sizeof(array) / sizeof(array[0]))
#define WEIGHTS true
#define NO_WEIGHTS false
#define DIFF true
#define NO_DIFF false

static const tsc_op_info op_table[TSC_OP_COUNT] = {
    [TSC_OP_INPUT] = {TSC_OP_INPUT, "input", TSC_FAMILY_INPUT, NULL, 0, NO_WEIGHTS, DIFF, "declared type"},
    [TSC_OP_CONV2D] = {TSC_OP_CONV2D, "conv2d", TSC_FAMILY_LAYER, PARAMS(conv2d_params), WEIGHTS, DIFF,
                       "[B,H,W,C] -> [B,H',W',filters]"},
    [TSC_OP_MAX_POOL2D] = {TSC_OP_MAX_POOL2D, "max_pool2d", TSC_FAMILY_LAYER, PARAMS(pool_params), NO_WEIGHTS, DIFF,
                           "[B,H,W,C] -> [B,H',W',C]"},
    [TSC_OP_AVG_POOL2D] = {TSC_OP_AVG_POOL2D, "avg_pool2d", TSC_FAMILY_LAYER, PARAMS(pool_params), NO_WEIGHTS, DIFF,
                           "[B,H,W,C] -> [B,H',W',C]"},
    [TSC_OP_GLOBAL_AVG_POOL2D] = {TSC_OP_GLOBAL_AVG_POOL2D, "global_avg_pool2d", TSC_FAMILY_LAYER,
                                  PARAMS(unary_params), NO_WEIGHTS, DIFF, "[B,H,W,C] -> [B,C]"},
    [TSC_OP_GLOBAL_MAX_POOL2D] = {TSC_OP_GLOBAL_MAX_POOL2D, "global_max_pool2d", TSC_FAMILY_LAYER,
                                  PARAMS(unary_params), NO_WEIGHTS, DIFF, "[B,H,W,C] -> [B,C]"},
    [TSC_OP_FLATTEN] = {TSC_OP_FLATTEN, "flatten", TSC_FAMILY_LAYER, PARAMS(unary_params), NO_WEIGHTS, DIFF,
                        "[B,d1,...,dn] -> [B,d1*...*dn]"},
    [TSC_OP_RESHAPE] = {TSC_OP_RESHAPE, "reshape", TSC_FAMILY_LAYER, PARAMS(reshape_params), NO_WEIGHTS, DIFF,
                        "[B,...] -> [B,shape...], same element count"},
    [TSC_OP_DENSE] = {TSC_OP_DENSE, "dense", TSC_FAMILY_LAYER, PARAMS(dense_params), WEIGHTS, DIFF,
                      "[B,F] -> [B,units]"},
    [TSC_OP_DROPOUT] = {TSC_OP_DROPOUT, "dropout", TSC_FAMILY_LAYER, PARAMS(dropout_params), NO_WEIGHTS, DIFF,
                        "same shape"},
    [TSC_OP_ADD] = {TSC_OP_ADD, "add", TSC_FAMILY_LAYER, PARAMS(add_params), NO_WEIGHTS, DIFF,
                    "two equal shapes -> the same shape"},
    [TSC_OP_REDUCE_MAX] = {TSC_OP_REDUCE_MAX, "reduce_max", TSC_FAMILY_LAYER, PARAMS(reduce_params), NO_WEIGHTS,
                           DIFF, "reduced axes removed (kept as 1 with keepdims)"},
    [TSC_OP_REDUCE_MEAN] = {TSC_OP_REDUCE_MEAN, "reduce_mean", TSC_FAMILY_LAYER, PARAMS(reduce_params), NO_WEIGHTS,
                            DIFF, "reduced axes removed (kept as 1 with keepdims)"},
    [TSC_OP_REDUCE_SUM] = {TSC_OP_REDUCE_SUM, "reduce_sum", TSC_FAMILY_LAYER, PARAMS(reduce_params), NO_WEIGHTS,
                           DIFF, "reduced axes removed (kept as 1 with keepdims)"},
    [TSC_OP_ARGMAX] = {TSC_OP_ARGMAX, "argmax", TSC_FAMILY_LAYER, PARAMS(argmax_params), NO_WEIGHTS, NO_DIFF,
                       "f32 axis removed -> i32"},
    [TSC_OP_ONE_HOT] = {TSC_OP_ONE_HOT, "one_hot", TSC_FAMILY_LAYER, PARAMS(one_hot_params), NO_WEIGHTS, NO_DIFF,
                        "i32[...] -> f32[...,depth]"},
    [TSC_OP_SQUEEZE] = {TSC_OP_SQUEEZE, "squeeze", TSC_FAMILY_LAYER, PARAMS(squeeze_params), NO_WEIGHTS, DIFF,
                        "a size-1 axis removed"},
    [TSC_OP_EXPAND_DIMS] = {TSC_OP_EXPAND_DIMS, "expand_dims", TSC_FAMILY_LAYER, PARAMS(expand_dims_params),
                            NO_WEIGHTS, DIFF, "a size-1 axis inserted"},
    [TSC_OP_CONV2D_BACKPROP_FILTER] = {TSC_OP_CONV2D_BACKPROP_FILTER, "conv2d_backprop_filter", TSC_FAMILY_LAYER,
                                       PARAMS(backprop_filter_params), NO_WEIGHTS, DIFF, "-> [kh,kw,C,F]"},
    [TSC_OP_CONV2D_BACKPROP_INPUT] = {TSC_OP_CONV2D_BACKPROP_INPUT, "conv2d_backprop_input", TSC_FAMILY_LAYER,
                                      PARAMS(backprop_input_params), NO_WEIGHTS, DIFF, "-> [B,H,W,C]"},
    [TSC_OP_RELU] = {TSC_OP_RELU, "relu", TSC_FAMILY_ACTIVATION, PARAMS(unary_params), NO_WEIGHTS, DIFF, "same shape"},
    [TSC_OP_SIGMOID] = {TSC_OP_SIGMOID, "sigmoid", TSC_FAMILY_ACTIVATION, PARAMS(unary_params), NO_WEIGHTS, DIFF,
                        "same shape"},
    [TSC_OP_TANH] = {TSC_OP_TANH, "tanh", TSC_FAMILY_ACTIVATION, PARAMS(unary_params), NO_WEIGHTS, DIFF, "same shape"},
    [TSC_OP_LEAKY_RELU] = {TSC_OP_LEAKY_RELU, "leaky_relu", TSC_FAMILY_ACTIVATION, PARAMS(leaky_relu_params),
                           NO_WEIGHTS, DIFF, "same shape"},
    [TSC_OP_SOFTMAX] = {TSC_OP_SOFTMAX, "softmax", TSC_FAMILY_ACTIVATION, PARAMS(softmax_params), NO_WEIGHTS, DIFF,
                        "same shape"},
    [TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY] = {TSC_OP_SPARSE_SOFTMAX_CROSS_ENTROPY, "sparse_softmax_cross_entropy",
                                             TSC_FAMILY_LOSS, PARAMS(sparse_xent_params), NO_WEIGHTS, DIFF,
                                             "labels i32[...], logits f32[...,C] -> f32[]"},
    [TSC_OP_SOFTMAX_CROSS_ENTROPY] = {TSC_OP_SOFTMAX_CROSS_ENTROPY, "softmax_cross_entropy", TSC_FAMILY_LOSS,
                                      PARAMS(dense_xent_params), NO_WEIGHTS, DIFF,
                                      "labels and logits f32 of one shape -> f32[]"},
    [TSC_OP_SIGMOID_CROSS_ENTROPY] = {TSC_OP_SIGMOID_CROSS_ENTROPY, "sigmoid_cross_entropy", TSC_FAMILY_LOSS,
                                      PARAMS(dense_xent_params), NO_WEIGHTS, DIFF,
                                      "labels and logits f32 of one shape -> f32[]"},
    [TSC_OP_BINARY_CROSS_ENTROPY] = {TSC_OP_BINARY_CROSS_ENTROPY, "binary_cross_entropy", TSC_FAMILY_LOSS,
                                     PARAMS(binary_xent_params), NO_WEIGHTS, DIFF,
                                     "labels and x f32 of one shape -> f32[]"},
    [TSC_OP_FOCAL_LOSS] = {TSC_OP_FOCAL_LOSS, "focal_loss", TSC_FAMILY_LOSS, PARAMS(focal_params), NO_WEIGHTS, DIFF,
                           "labels i32[...] or f32[...,C], logits f32[...,C] -> f32[]"},
    [TSC_OP_MEAN_SQUARED_ERROR] = {TSC_OP_MEAN_SQUARED_ERROR, "mean_squared_error", TSC_FAMILY_LOSS,
                                   PARAMS(mse_params), NO_WEIGHTS, DIFF,
                                   "labels and predictions f32 of one shape -> f32[]"},
    [TSC_OP_IN_TOP_K] = {TSC_OP_IN_TOP_K, "in_top_k", TSC_FAMILY_METRIC, PARAMS(in_top_k_params), NO_WEIGHTS,
                         NO_DIFF, "predictions f32[B,C], targets i32[B] -> f32[]"},
    [TSC_OP_ACCURACY] = {TSC_OP_ACCURACY, "accuracy", TSC_FAMILY_METRIC, PARAMS(accuracy_params), NO_WEIGHTS,
                         NO_DIFF, "labels i32[...], logits f32[...,C] -> f32[]"},
    [TSC_OP_MEAN] = {TSC_OP_MEAN, "mean", TSC_FAMILY_METRIC, PARAMS(mean_params), NO_WEIGHTS, NO_DIFF,
                     "f32[...] -> f32[]"},
    [TSC_OP_SGD] = {TSC_OP_SGD, "sgd", TSC_FAMILY_OPTIMIZER, PARAMS(sgd_params), NO_WEIGHTS, NO_DIFF, "-"},
    [TSC_OP_ADAM] = {TSC_OP_ADAM, "adam", TSC_FAMILY_OPTIMIZER, PARAMS(adam_params), NO_WEIGHTS, NO_DIFF, "-"},
};

const tsc_op_info *tsc_op_info_of(tsc_op op)
{
    TSC_ASSERT(op >= 0 && op < TSC_OP_COUNT);
    return &op_table[op];
}

const tsc_op_info *tsc_op_lookup(const char *name)
{
    /* TSC_OP_INPUT is a declaration, not something one can call. */
    for (int i = TSC_OP_INPUT + 1; i < TSC_OP_COUNT; i++) {
        if (strcmp(op_table[i].name, name) == 0)
            return &op_table[i];
    }
    return NULL;
}

int tsc_op_param_index(const tsc_op_info *info, const char *keyword)
{
    for (int i = 0; i < info->param_count; i++) {
        if (strcmp(info->params[i].name, keyword) == 0)
            return i;
    }
    return -1;
}

/* Levenshtein distance, capped: names are short, so a two-row table suffices. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t substitute = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t remove = prev[j] + 1;
            size_t insert = cur[j - 1] + 1;
            size_t best = substitute < remove ? substitute : remove;
            cur[j] = best < insert ? best : insert;
        }
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

const char *tsc_closest_name(const char *name, const char *const *candidates, int count)
{
    size_t limit = strlen(name) / 3 + 1;
    const char *best = NULL;
    size_t best_distance = limit + 1;
    for (int i = 0; i < count; i++) {
        if (candidates[i] == NULL)
            continue;
        size_t d = edit_distance(name, candidates[i]);
        if (d < best_distance && d <= limit) {
            best = candidates[i];
            best_distance = d;
        }
    }
    return best;
}
