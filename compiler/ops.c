/* The op registry as data: tsc_op_info for every row of ops.def, with the
 * parameter lists of op_params.def. resolve.c binds call arguments against
 * it; docs/ops.md documents the same table. */
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "ops.h"

static const char *const padding_words[] = {"valid", "same", NULL};
/* In tsc_activation order: the checker stores the word's index. silu, after
 * them, is Keras' other name of swish (check_layer_options). */
static const char *const activation_words[] = {"linear", "relu",  "sigmoid", "tanh",    "leaky_relu", "elu",
                                               "softplus", "gelu", "swish", "softmax", "silu",       NULL};
/* In tdl_interpolation order. */
static const char *const interpolation_words[] = {"nearest", "bilinear", NULL};
/* In checked_param_init order: Keras' initializers by their string names. */
static const char *const initializer_words[] = {"glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                                "lecun_uniform", "lecun_normal", "zeros", "ones", NULL};
#define NO_WORDS NULL

#define REQUIRED .default_kind = TSC_DEFAULT_REQUIRED
#define DEFAULT_INT(v) .default_kind = TSC_DEFAULT_VALUE, .default_int = (v), .default_text = #v
#define DEFAULT_FLOAT(v) .default_kind = TSC_DEFAULT_VALUE, .default_float = (v), .default_text = #v
#define DEFAULT_BOOL(v) .default_kind = TSC_DEFAULT_VALUE, .default_bool = (v), .default_text = #v
#define DEFAULT_WORD(w) .default_kind = TSC_DEFAULT_VALUE, .default_word = #w, .default_text = #w
#define DEFAULT_RULE(text) .default_kind = TSC_DEFAULT_RULE, .default_text = (text)

#define PARAM_LIST(list) static const tsc_param_spec list##_params[] = {
#define PARAM(list, param, arg_kind, def, words, text) \
    {.name = #param, .kind = TSC_ARG_##arg_kind, def, .enum_words = (words), .doc = (text)},
/* The none list is empty: a sentinel row keeps the array non-empty for ISO C. */
#define PARAM_LIST_END(list) {.name = NULL}};
#include "op_params.def"
#undef PARAM_LIST
#undef PARAM
#undef PARAM_LIST_END

/* Every list fits the binder's array of values. */
#define PARAM_LIST(list)
#define PARAM(list, name, kind, def, words, doc)
#define PARAM_LIST_END(list) _Static_assert(P_##list##_COUNT <= TSC_OP_MAX_PARAMS, "too many parameters: " #list);
#include "op_params.def"
#undef PARAM_LIST
#undef PARAM
#undef PARAM_LIST_END

static const tsc_op_info op_table[TSC_OP_COUNT] = {
#define OP(id, op_name, op_family, list, op_flags, rule, check, lower)                                      \
    [TSC_OP_##id] = {.op = TSC_OP_##id, .name = op_name, .family = TSC_FAMILY_##op_family,                  \
                     .params = list##_params, .param_count = P_##list##_COUNT, .flags = (op_flags),         \
                     .has_weights = ((op_flags) & TSC_OPF_WEIGHTS) != 0,                                     \
                     .differentiable = ((op_flags) & TSC_OPF_DIFF) != 0, .shape_rule = rule},
#include "ops.def"
#undef OP
};

const tsc_op_info *tsc_op_info_of(tsc_op op)
{
    TSC_ASSERT(op >= 0 && op < TSC_OP_COUNT);
    return &op_table[op];
}

bool tsc_op_has(tsc_op op, unsigned flags)
{
    return (tsc_op_info_of(op)->flags & flags) == flags;
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

/* Keras layer and function names, in snake case, that TDL spells otherwise:
 * a user who writes them is told the TDL name. */
static const struct {
    const char *keras, *tdl;
} keras_names[] = {
    {"concatenate", "concat"},
    {"separable_convolution2d", "separable_conv2d"},
    {"global_average_pooling2d", "global_avg_pool2d"},
    {"global_max_pooling2d", "global_max_pool2d"},
    {"max_pooling2d", "max_pool2d"},
    {"average_pooling2d", "avg_pool2d"},
    {"avg_pooling2d", "avg_pool2d"},
    {"up_sampling2d", "upsample2d"},
    {"upsampling2d", "upsample2d"},
    {"sparse_categorical_crossentropy", "sparse_softmax_cross_entropy"},
    {"categorical_crossentropy", "softmax_cross_entropy"},
    {"binary_crossentropy", "binary_cross_entropy"},
    {"mse", "mean_squared_error"},
    {"mae", "mean_absolute_error"},
    {"huber_loss", "huber"},
    {"top_k_categorical_accuracy", "in_top_k"},
    {"sparse_top_k_categorical_accuracy", "in_top_k"},
    {"sparse_categorical_accuracy", "accuracy"},
    {"leakyrelu", "leaky_relu"},
    {"leaky_re_lu", "leaky_relu"},          /* Keras' own snake case of LeakyReLU, as in its layer names */
    {"re_lu", "relu"},
    {"rescale", "rescaling"},               /* the rescale= of Keras' ImageDataGenerator */
    {"batch_normalization", "batch_norm"},
};

const char *tsc_op_keras_alias_at(int index, const char **tdl)
{
    if (index < 0 || (size_t)index >= sizeof keras_names / sizeof keras_names[0])
        return NULL;
    *tdl = keras_names[index].tdl;
    return keras_names[index].keras;
}

const char *tsc_op_keras_alias(const char *name)
{
    for (size_t i = 0; i < sizeof keras_names / sizeof keras_names[0]; i++) {
        if (strcmp(keras_names[i].keras, name) == 0)
            return keras_names[i].tdl;
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
/* Edit distance with adjacent transpositions counted as one edit ("imgae"
 * is one edit from "image"), capped: names are short, so three rows of the
 * table suffice. */
static size_t edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 64 || lb > 64)
        return (size_t)-1;
    size_t before[65], prev[65], cur[65];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t substitute = prev[j - 1] + (a[i - 1] != b[j - 1]);
            size_t remove = prev[j] + 1;
            size_t insert = cur[j - 1] + 1;
            size_t best = substitute < remove ? substitute : remove;
            best = best < insert ? best : insert;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && before[j - 2] + 1 < best)
                best = before[j - 2] + 1;
            cur[j] = best;
        }
        memcpy(before, prev, (lb + 1) * sizeof prev[0]);
        memcpy(prev, cur, (lb + 1) * sizeof prev[0]);
    }
    return prev[lb];
}

const char *tsc_closest_name(const char *name, const char *const *candidates, int count)
{
    /* One edit in four characters: catches typos ("flaten", "imgae",
     * "max_pool") without offering an unrelated word ("rescale" is two
     * edits from "reshape" but means something else). */
    size_t limit = strlen(name) / 4 > 0 ? strlen(name) / 4 : 1;
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
