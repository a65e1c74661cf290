/* Runtime descriptors (static const in the generated code) and kernel
 * scratch. Geometry comes from what the checker stored (attrs.pad_*, the
 * output types): nothing is computed twice. The compiler fills the very
 * tdl_*_desc structs it prints, so --summary sizes scratch with the
 * runtime's own *_workspace_size on the same values as the generated code. */
#include <stdlib.h>

#include <tdl/runtime.h>

#include "cg_ops.h"

static const char *const activation_constants[] = {
    [TDL_ACTIVATION_LINEAR] = "TDL_ACTIVATION_LINEAR",   [TDL_ACTIVATION_RELU] = "TDL_ACTIVATION_RELU",
    [TDL_ACTIVATION_SIGMOID] = "TDL_ACTIVATION_SIGMOID", [TDL_ACTIVATION_TANH] = "TDL_ACTIVATION_TANH",
    [TDL_ACTIVATION_LEAKY_RELU] = "TDL_ACTIVATION_LEAKY_RELU", [TDL_ACTIVATION_ELU] = "TDL_ACTIVATION_ELU",
    [TDL_ACTIVATION_SOFTPLUS] = "TDL_ACTIVATION_SOFTPLUS",
};

static tdl_activation runtime_activation(tsc_activation a) {
    /* softmax, gelu and swish are not fused: the layer runs linear, then their own kernel. */
    return a >= TSC_ACTIVATION_FIRST_UNFUSED ? TDL_ACTIVATION_LINEAR : (tdl_activation)a;
}

/* The convolution's input and output types: conv2d's own, for the
 * backprop ops those of the convolution they differentiate, and for
 * conv2d_transpose those of the convolution it transposes. */
static void conv_geometry(const checked_node *n, const tsc_type **in, const tsc_type **out) {
    if (n->op == TSC_OP_CONV2D_TRANSPOSE) {
        *in = &n->type;
        *out = &n->inputs[0]->type;
    } else if (n->op == TSC_OP_CONV2D_BACKPROP_INPUT) {
        *in = &n->type;
        *out = &n->inputs[1]->type;
    } else if (n->op == TSC_OP_CONV2D_BACKPROP_FILTER) {
        *in = &n->inputs[0]->type;
        *out = &n->inputs[1]->type;
    } else {
        *in = &n->inputs[0]->type;
        *out = &n->type;
    }
}

void cg_conv_desc(const checked_node *n, tdl_conv2d_desc *d) {
    const tsc_type *in, *o;
    conv_geometry(n, &in, &o);
    const checked_attrs *a = &n->attrs;
    /* the backprop ops have no activation= and no groups */
    bool layer = n->info->has_weights;
    tsc_activation act = layer ? a->activation : TSC_ACTIVATION_LINEAR;
    *d = (tdl_conv2d_desc){
        .in_h = (int)in->dims[1], .in_w = (int)in->dims[2], .in_c = (int)in->dims[3],
        .out_h = (int)o->dims[1], .out_w = (int)o->dims[2], .out_c = (int)o->dims[3],
        .kernel_h = (int)a->kernel[0], .kernel_w = (int)a->kernel[1],
        .stride_h = (int)a->strides[0], .stride_w = (int)a->strides[1],
        .dilation_h = (int)a->dilation[0], .dilation_w = (int)a->dilation[1],
        .pad_top = (int)a->pad_top, .pad_left = (int)a->pad_left,
        .activation = runtime_activation(act),
        .alpha = act == TSC_ACTIVATION_LEAKY_RELU || act == TSC_ACTIVATION_ELU ? (float)a->alpha : 0.0f,
        .groups = layer && a->groups > 1 ? (int)a->groups : 1,
    };
}

void cg_separable_desc(const checked_node *n, tdl_separable_conv2d_desc *d) {
    const tsc_type *in = &n->inputs[0]->type, *o = &n->type;
    const checked_attrs *a = &n->attrs;
    const int middle = (int)(in->dims[3] * a->depth_multiplier);
    cg_conv_desc(n, &d->pointwise);
    d->depthwise = d->pointwise;
    d->depthwise.out_c = middle;
    d->depthwise.activation = TDL_ACTIVATION_LINEAR;
    d->depthwise.alpha = 0.0f;
    d->depthwise.groups = (int)in->dims[3];
    d->pointwise = (tdl_conv2d_desc){
        .in_h = (int)o->dims[1], .in_w = (int)o->dims[2], .in_c = middle,
        .out_h = (int)o->dims[1], .out_w = (int)o->dims[2], .out_c = (int)o->dims[3],
        .kernel_h = 1, .kernel_w = 1, .stride_h = 1, .stride_w = 1, .dilation_h = 1, .dilation_w = 1,
        .activation = d->pointwise.activation, .alpha = d->pointwise.alpha, .groups = 1,
    };
}

void cg_dense_desc(const checked_node *n, tdl_dense_desc *d) {
    const checked_attrs *a = &n->attrs;
    *d = (tdl_dense_desc){
        .in_features = (int)n->inputs[0]->type.dims[1],
        .units = (int)a->units,
        .activation = runtime_activation(a->activation),
        .alpha = a->activation == TSC_ACTIVATION_LEAKY_RELU || a->activation == TSC_ACTIVATION_ELU ? (float)a->alpha
                                                                                                  : 0.0f,
    };
}

/* The braces of one tdl_conv2d_desc, its lines indented by `indent`. */
static void conv_desc_body(cg_buf *out, const tdl_conv2d_desc *d, const char *indent) {
    char *alpha = cg_float_literal(d->alpha);
    cg_buf_printf(out,
                  "{\n"
                  "%s    %d, %d, %d, /* in h, w, c */\n"
                  "%s    %d, %d, %d, /* out h, w, c */\n"
                  "%s    %d, %d, %d, %d, %d, %d, /* kernel, strides, dilation */\n"
                  "%s    %d, %d, /* pad top, left */\n"
                  "%s    %s, %s, /* activation, alpha */\n"
                  "%s    %d /* groups */}",
                  indent, d->in_h, d->in_w, d->in_c, indent, d->out_h, d->out_w, d->out_c, indent, d->kernel_h,
                  d->kernel_w, d->stride_h, d->stride_w, d->dilation_h, d->dilation_w, indent, d->pad_top,
                  d->pad_left, indent, activation_constants[d->activation], alpha, indent, d->groups);
    free(alpha);
}

void emit_conv_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_conv2d_desc d;
    cg_conv_desc(n, &d);
    cg_buf_printf(out, "static const tdl_conv2d_desc %s = ", name);
    conv_desc_body(out, &d, "");
    cg_buf_puts(out, ";\n");
}

void emit_separable_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_separable_conv2d_desc d;
    cg_separable_desc(n, &d);
    cg_buf_printf(out, "static const tdl_separable_conv2d_desc %s = {\n    /* depthwise */ ", name);
    conv_desc_body(out, &d.depthwise, "    ");
    cg_buf_puts(out, ",\n    /* pointwise */ ");
    conv_desc_body(out, &d.pointwise, "    ");
    cg_buf_puts(out, "};\n");
}

/* conv2d_transpose: the convolution it transposes (linear: the layer's
 * activation= applies to the layer's output), then that activation. */
static void conv_transpose_desc(const checked_node *n, tdl_conv2d_transpose_desc *d) {
    cg_conv_desc(n, &d->conv);
    d->conv.activation = TDL_ACTIVATION_LINEAR;
    d->conv.alpha = 0.0f;
    const checked_attrs *a = &n->attrs;
    d->activation = runtime_activation(a->activation);
    d->alpha = a->activation == TSC_ACTIVATION_LEAKY_RELU ? (float)a->alpha : 0.0f;
}

void emit_conv_transpose_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_conv2d_transpose_desc d;
    conv_transpose_desc(n, &d);
    cg_buf_printf(out, "static const tdl_conv2d_transpose_desc %s = {\n    /* conv2d */ ", name);
    conv_desc_body(out, &d.conv, "    ");
    char *alpha = cg_float_literal(d.alpha);
    cg_buf_printf(out, ",\n    %s, %s};\n", activation_constants[d.activation], alpha);
    free(alpha);
}

void emit_upsample2d_desc(cg_buf *out, const char *name, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    cg_buf_printf(out,
                  "static const tdl_upsample2d_desc %s = {\n"
                  "    %lld, %lld, %lld, /* in h, w, channels */\n"
                  "    %lld, %lld, %s}; /* size, interpolation */\n",
                  name, (long long)in->dims[1], (long long)in->dims[2], (long long)in->dims[3],
                  (long long)n->attrs.kernel[0], (long long)n->attrs.kernel[1],
                  n->attrs.interpolation == TDL_INTERPOLATION_BILINEAR ? "TDL_INTERPOLATION_BILINEAR"
                                                                       : "TDL_INTERPOLATION_NEAREST");
}

/* zero_padding2d and cropping2d: the checker stored cropping as negative padding. */
void emit_pad2d_desc(cg_buf *out, const char *name, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type;
    const checked_attrs *a = &n->attrs;
    cg_buf_printf(out,
                  "static const tdl_pad2d_desc %s = {\n"
                  "    %lld, %lld, %lld, /* in h, w, channels */\n"
                  "    %lld, %lld, %lld, %lld}; /* top, bottom, left, right */\n",
                  name, (long long)in->dims[1], (long long)in->dims[2], (long long)in->dims[3], (long long)a->pad_top,
                  (long long)a->pad_bottom, (long long)a->pad_left, (long long)a->pad_right);
}

void emit_pool_desc(cg_buf *out, const char *name, const checked_node *n) {
    const tsc_type *in = &n->inputs[0]->type, *o = &n->type;
    const checked_attrs *a = &n->attrs;
    cg_buf_printf(out,
                  "static const tdl_pool2d_desc %s = {\n"
                  "    %lld, %lld, %lld, /* in h, w, channels */\n"
                  "    %lld, %lld, /* out h, w */\n"
                  "    %lld, %lld, %lld, %lld, /* pool, strides */\n"
                  "    %lld, %lld}; /* pad top, left */\n",
                  name, (long long)in->dims[1], (long long)in->dims[2], (long long)in->dims[3], (long long)o->dims[1],
                  (long long)o->dims[2], (long long)a->kernel[0], (long long)a->kernel[1], (long long)a->strides[0],
                  (long long)a->strides[1], (long long)a->pad_top, (long long)a->pad_left);
}

void emit_dense_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_dense_desc d;
    cg_dense_desc(n, &d);
    char *alpha = cg_float_literal(d.alpha);
    cg_buf_printf(out, "static const tdl_dense_desc %s = {%d, %d, %s, %s};\n", name, d.in_features, d.units,
                  activation_constants[d.activation], alpha);
    free(alpha);
}

void cg_batch_norm_desc(const checked_node *n, tdl_batch_norm_desc *d) {
    const tsc_type *t = &n->inputs[0]->type;
    int axis = n->attrs.axis;
    int64_t outer = 1, inner = 1;
    for (int i = 1; i < axis; i++) outer *= t->dims[i];   /* dims_fit bounds every tensor: no wrap */
    for (int i = axis + 1; i < t->rank; i++) inner *= t->dims[i];
    *d = (tdl_batch_norm_desc){.outer = (size_t)outer, .channels = (int)t->dims[axis], .inner = (size_t)inner,
                               .epsilon = (float)n->attrs.epsilon};
}

void emit_batch_norm_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_batch_norm_desc d;
    cg_batch_norm_desc(n, &d);
    char *epsilon = cg_float_literal(d.epsilon);
    cg_buf_printf(out, "static const tdl_batch_norm_desc %s = {%zu, %d, %zu, %s}; /* outer, channels, inner, epsilon */\n",
                  name, d.outer, d.channels, d.inner, epsilon);
    free(epsilon);
}

void emit_focal_desc(cg_buf *out, const char *name, const checked_node *n) {
    char *gamma = cg_float_literal(n->attrs.gamma), *alpha = cg_float_literal(n->attrs.alpha);
    cg_buf_printf(out, "static const tdl_focal_desc %s = {%s, %s};\n", name, gamma, alpha);
    free(gamma);
    free(alpha);
}

size_t conv_workspace_floats(const checked_node *n, int max_batch) {
    tdl_conv2d_desc d;
    cg_conv_desc(n, &d);
    return tdl_conv2d_workspace_size(&d, max_batch);
}

size_t conv_forward_workspace_floats(const checked_node *n, int max_batch) {
    tdl_conv2d_desc d;
    cg_conv_desc(n, &d);
    return tdl_conv2d_forward_workspace_size(&d, max_batch);
}

size_t conv_transpose_workspace_floats(const checked_node *n, int max_batch) {
    tdl_conv2d_transpose_desc d;
    conv_transpose_desc(n, &d);
    return tdl_conv2d_transpose_workspace_size(&d, max_batch);
}

size_t conv_transpose_forward_workspace_floats(const checked_node *n, int max_batch) {
    tdl_conv2d_transpose_desc d;
    conv_transpose_desc(n, &d);
    return tdl_conv2d_transpose_forward_workspace_size(&d, max_batch);
}

size_t separable_workspace_floats(const checked_node *n, int max_batch) {
    tdl_separable_conv2d_desc d;
    cg_separable_desc(n, &d);
    return tdl_separable_conv2d_workspace_size(&d, max_batch);
}

size_t separable_forward_workspace_floats(const checked_node *n, int max_batch) {
    tdl_separable_conv2d_desc d;
    cg_separable_desc(n, &d);
    return tdl_separable_conv2d_forward_workspace_size(&d, max_batch);
}

size_t dense_workspace_floats(const checked_node *n, int max_batch) {
    tdl_dense_desc d;
    cg_dense_desc(n, &d);
    return tdl_dense_workspace_size(&d, max_batch);
}

size_t dense_forward_workspace_floats(const checked_node *n, int max_batch) {
    tdl_dense_desc d;
    cg_dense_desc(n, &d);
    return tdl_dense_forward_workspace_size(&d, max_batch);
}
