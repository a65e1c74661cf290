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
    [TDL_ACTIVATION_LEAKY_RELU] = "TDL_ACTIVATION_LEAKY_RELU",
};

static tdl_activation runtime_activation(tsc_activation a) {
    /* softmax is not fused: the layer runs linear, then tdl_softmax_forward. */
    return a == TSC_ACTIVATION_SOFTMAX ? TDL_ACTIVATION_LINEAR : (tdl_activation)a;
}

/* The convolution's input and output types: conv2d's own, and for the
 * backprop ops those of the convolution they differentiate. */
static void conv_geometry(const checked_node *n, const tsc_type **in, const tsc_type **out) {
    if (n->op == TSC_OP_CONV2D_BACKPROP_INPUT) {
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
    tsc_activation act = n->op == TSC_OP_CONV2D ? a->activation : TSC_ACTIVATION_LINEAR;
    *d = (tdl_conv2d_desc){
        .in_h = (int)in->dims[1], .in_w = (int)in->dims[2], .in_c = (int)in->dims[3],
        .out_h = (int)o->dims[1], .out_w = (int)o->dims[2], .out_c = (int)o->dims[3],
        .kernel_h = (int)a->kernel[0], .kernel_w = (int)a->kernel[1],
        .stride_h = (int)a->strides[0], .stride_w = (int)a->strides[1],
        .dilation_h = (int)a->dilation[0], .dilation_w = (int)a->dilation[1],
        .pad_top = (int)a->pad_top, .pad_left = (int)a->pad_left,
        .activation = runtime_activation(act),
        .alpha = act == TSC_ACTIVATION_LEAKY_RELU ? (float)a->alpha : 0.0f,
    };
}

void cg_dense_desc(const checked_node *n, tdl_dense_desc *d) {
    const checked_attrs *a = &n->attrs;
    *d = (tdl_dense_desc){
        .in_features = (int)n->inputs[0]->type.dims[1],
        .units = (int)a->units,
        .activation = runtime_activation(a->activation),
        .alpha = a->activation == TSC_ACTIVATION_LEAKY_RELU ? (float)a->alpha : 0.0f,
    };
}

void emit_conv_desc(cg_buf *out, const char *name, const checked_node *n) {
    tdl_conv2d_desc d;
    cg_conv_desc(n, &d);
    char *alpha = cg_float_literal(d.alpha);
    cg_buf_printf(out,
                  "static const tdl_conv2d_desc %s = {\n"
                  "    %d, %d, %d, /* in h, w, c */\n"
                  "    %d, %d, %d, /* out h, w, c */\n"
                  "    %d, %d, %d, %d, %d, %d, /* kernel, strides, dilation */\n"
                  "    %d, %d, /* pad top, left */\n"
                  "    %s, %s};\n",
                  name, d.in_h, d.in_w, d.in_c, d.out_h, d.out_w, d.out_c, d.kernel_h, d.kernel_w, d.stride_h,
                  d.stride_w, d.dilation_h, d.dilation_w, d.pad_top, d.pad_left, activation_constants[d.activation],
                  alpha);
    free(alpha);
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

size_t dense_workspace_floats(const checked_node *n, int max_batch) {
    tdl_dense_desc d;
    cg_dense_desc(n, &d);
    return tdl_dense_workspace_size(&d, max_batch);
}
