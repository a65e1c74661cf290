/* Which nodes each generated entry point runs, which of them need a
 * gradient (reverse-mode autodiff at compile time), and the buffers they
 * need. Lifetimes and offsets are decided later (emit_c.c, plan.c). */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

static bool is_view(tsc_op op) {
    return op == TSC_OP_FLATTEN || op == TSC_OP_RESHAPE || op == TSC_OP_SQUEEZE || op == TSC_OP_EXPAND_DIMS;
}

/* Marks node and everything it reads as live. */
static void mark_live(bool *live, const checked_node *node) {
    if (live[node->index]) return;
    live[node->index] = true;
    for (int i = 0; i < node->input_count; i++) mark_live(live, node->inputs[i]);
}

static void find_live_nodes(cg_program *p) {
    const checked_model *m = p->model;
    if (p->mode == CG_MODE_INFER)
        for (int i = 0; i < m->output_count; i++) mark_live(p->live, m->outputs[i].node);
    if (p->mode == CG_MODE_EVAL || p->mode == CG_MODE_TRAIN)
        for (int i = 0; i < m->loss_count; i++) mark_live(p->live, m->losses[i].node);
    if (p->mode == CG_MODE_EVAL)
        for (int i = 0; i < m->metric_count; i++) mark_live(p->live, m->metrics[i].node);
}

/* Whether n's backward writes a gradient for its input k. Losses take
 * (labels, logits): the logits always, the labels only where the kernel
 * differentiates them (not class indices, not focal's one-hot labels). */
static bool passes_gradient_to(const checked_node *n, int k) {
    if (!n->info->differentiable || n->info->family == TSC_FAMILY_METRIC) return false;
    if (n->info->family != TSC_FAMILY_LOSS || k == 1) return true;
    switch (n->op) {
    case TSC_OP_SOFTMAX_CROSS_ENTROPY:
    case TSC_OP_SIGMOID_CROSS_ENTROPY:
    case TSC_OP_BINARY_CROSS_ENTROPY:
    case TSC_OP_MEAN_SQUARED_ERROR: return true;
    default: return false;
    }
}

/* A gradient flows into a node's output when the node is differentiable
 * f32 arithmetic that depends on a trainable parameter (a forward sweep:
 * nodes come in topological order) and some loss depends on it through
 * such nodes (a backward sweep). Without the second condition a layer whose
 * only consumers pass no gradient would read a gradient buffer that nothing
 * ever wrote. */
static void find_gradients(cg_program *p) {
    if (p->mode != CG_MODE_TRAIN) return;
    int count = p->model->node_count;
    for (int i = 0; i < count; i++) {
        const checked_node *n = p->model->nodes[i];
        if (!p->live[i] || n->type.dtype != TSC_DTYPE_F32 || !n->info->differentiable) continue;
        if (n->info->family == TSC_FAMILY_METRIC || n->info->family == TSC_FAMILY_INPUT) continue;
        bool depends_on_weights = n->info->has_weights && n->param_count > 0;
        for (int k = 0; k < n->input_count; k++)
            if (passes_gradient_to(n, k)) depends_on_weights |= p->grad[n->inputs[k]->index];
        p->grad[i] = depends_on_weights;
    }
    bool *reaches_loss = tsc_xcalloc((size_t)count + 1, sizeof *reaches_loss);
    for (int i = count - 1; i >= 0; i--) {
        const checked_node *n = p->model->nodes[i];
        if (n->info->family == TSC_FAMILY_LOSS) reaches_loss[i] = p->grad[i];
        p->grad[i] = p->grad[i] && reaches_loss[i];
        if (!p->grad[i]) continue;
        for (int k = 0; k < n->input_count; k++)
            if (passes_gradient_to(n, k)) reaches_loss[n->inputs[k]->index] = true;
    }
    free(reaches_loss);
}

static const char *role_prefix(cg_buffer_role role) {
    switch (role) {
    case CG_BUFFER_VALUE: return "v";
    case CG_BUFFER_GRAD: return "g";
    case CG_BUFFER_MASK: return "mask";
    case CG_BUFFER_PRE: return "pre";
    case CG_BUFFER_DPRE: return "dpre";
    case CG_BUFFER_TEMP: return "tmp";
    case CG_BUFFER_LABELS: return "labels";
    }
    TSC_UNREACHABLE();
}

/* "v_conv2d_1"; a layer name that is not a C identifier is spelled with '_'
 * and the node's index, which keeps it unique. */
static void make_c_name(char *out, size_t size, cg_buffer_role role, const checked_node *node) {
    char clean[40];
    bool changed = false;
    size_t n = 0;
    for (const char *s = node->layer_name; *s && n + 1 < sizeof clean; s++) {
        bool ok = isalnum((unsigned char)*s) || *s == '_';
        clean[n++] = ok ? *s : '_';
        changed |= !ok;
    }
    changed |= node->layer_name[n] != '\0';
    clean[n] = '\0';
    if (changed) snprintf(out, size, "%s%d_%s", role_prefix(role), node->index, clean);
    else snprintf(out, size, "%s_%s", role_prefix(role), clean);
}

static int add_buffer(cg_program *p, cg_buffer_role role, const checked_node *node, const tsc_type *type) {
    p->buffers = tsc_xrealloc(p->buffers, (size_t)(p->buffer_count + 1) * sizeof *p->buffers);
    cg_buffer *b = &p->buffers[p->buffer_count];
    memset(b, 0, sizeof *b);
    b->role = role;
    b->node = node;
    b->is_int = type->dtype == TSC_DTYPE_I32;
    b->batched = tsc_type_has_batch(type);
    bool ok = tsc_type_elements(type, 1, b->batched ? 1 : 0, &b->elements);
    TSC_ASSERT(ok);
    b->alias_of = -1;
    b->first_step = b->last_step = -1;
    make_c_name(b->c_name, sizeof b->c_name, role, node);
    return p->buffer_count++;
}

static int add_alias(cg_program *p, cg_buffer_role role, const checked_node *node, int target) {
    TSC_ASSERT(target >= 0);
    int b = add_buffer(p, role, node, &node->type);
    p->buffers[b].alias_of = target;
    return b;
}

static const tsc_type scalar_f32 = {TSC_DTYPE_F32, 0, {0}};

static void add_node_buffers(cg_program *p, const checked_node *n) {
    cg_node_buffers *nb = &p->node_buffers[n->index];
    const cg_node_buffers *in0 = n->input_count > 0 ? &p->node_buffers[n->inputs[0]->index] : NULL;
    bool train = p->mode == CG_MODE_TRAIN;
    tsc_op op = n->op;
    tsc_op_family family = n->info->family;

    if (op == TSC_OP_INPUT) {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &n->type);
        p->buffers[nb->value].is_input = true;
    } else if (family == TSC_FAMILY_LOSS || family == TSC_FAMILY_METRIC) {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &scalar_f32);
    } else if (is_view(op) || (op == TSC_OP_DROPOUT && !train)) {
        nb->value = add_alias(p, CG_BUFFER_VALUE, n, in0->value);
    } else {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &n->type);
    }

    bool softmax_activation = (op == TSC_OP_CONV2D || op == TSC_OP_DENSE) &&
                              n->attrs.activation == TSC_ACTIVATION_SOFTMAX;
    if (softmax_activation) nb->pre = add_buffer(p, CG_BUFFER_PRE, n, &n->type);
    if (op == TSC_OP_DROPOUT && train) nb->mask = add_buffer(p, CG_BUFFER_MASK, n, &n->type);
    if (n->attrs.labels_f32) {
        /* f32 class indices are converted to int32 (as Keras casts) before the kernel. */
        tsc_type labels = n->inputs[cg_labels_input(n)]->type;
        labels.dtype = TSC_DTYPE_I32;
        nb->labels = add_buffer(p, CG_BUFFER_LABELS, n, &labels);
    }

    if (!p->grad[n->index] || family == TSC_FAMILY_LOSS) return;
    if (is_view(op)) nb->grad = add_alias(p, CG_BUFFER_GRAD, n, in0->grad);
    else nb->grad = add_buffer(p, CG_BUFFER_GRAD, n, &n->type);
    if (softmax_activation) nb->dpre = add_buffer(p, CG_BUFFER_DPRE, n, &n->type);
    /* The out_backprop gradient of the conv2d_backprop_* ops is a conv2d
     * forward, which overwrites: it goes through a temporary. */
    if ((op == TSC_OP_CONV2D_BACKPROP_FILTER || op == TSC_OP_CONV2D_BACKPROP_INPUT) &&
        p->grad[n->inputs[1]->index])
        nb->temp = add_buffer(p, CG_BUFFER_TEMP, n, &n->inputs[1]->type);
}

cg_program *cg_program_new(const checked_model *model, cg_mode mode) {
    cg_program *p = tsc_xcalloc(1, sizeof *p);
    p->model = model;
    p->mode = mode;
    int count = model->node_count;
    p->live = tsc_xcalloc((size_t)count + 1, sizeof *p->live);
    p->grad = tsc_xcalloc((size_t)count + 1, sizeof *p->grad);
    p->node_buffers = tsc_xcalloc((size_t)count + 1, sizeof *p->node_buffers);
    p->param_offsets = tsc_xcalloc((size_t)count + 1, sizeof *p->param_offsets);
    int64_t offset = 0;
    for (int i = 0; i < count; i++) {
        p->param_offsets[i] = offset;
        for (int k = 0; k < model->nodes[i]->param_count; k++) {
            int64_t elements = 0;
            tsc_type_elements(&model->nodes[i]->params[k].type, 1, 0, &elements);
            offset += elements;
        }
    }
    find_live_nodes(p);
    find_gradients(p);
    for (int i = 0; i < count; i++) {
        p->node_buffers[i] = (cg_node_buffers){-1, -1, -1, -1, -1, -1, -1};
        if (p->live[i]) add_node_buffers(p, model->nodes[i]);
    }
    return p;
}

void cg_program_free(cg_program *p) {
    if (!p) return;
    free(p->live);
    free(p->grad);
    free(p->node_buffers);
    free(p->buffers);
    free(p->param_offsets);
    free(p);
}

int cg_labels_input(const checked_node *node) {
    return node->op == TSC_OP_IN_TOP_K ? 1 : 0;
}

int cg_buffer_root(const cg_program *p, int b) {
    while (b >= 0 && p->buffers[b].alias_of >= 0) b = p->buffers[b].alias_of;
    return b;
}
