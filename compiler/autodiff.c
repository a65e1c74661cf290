/* Which nodes each generated entry point runs, which of them need a
 * gradient (reverse-mode autodiff at compile time), and the buffers they
 * need. The steps come next (lower.c), then lifetimes and offsets (plan.c). */
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* The roots of a mode are live, and so is everything a live node reads:
 * one sweep from the last node down (inputs always come before their users),
 * so a chain of 100,000 layers needs no recursion. */
static void find_live_nodes(cg_program *p) {
    const checked_model *m = p->model;
    if (p->mode == CG_MODE_INFER)
        for (int i = 0; i < m->output_count; i++) p->live[m->outputs[i].node->index] = true;
    if (p->mode == CG_MODE_EVAL || p->mode == CG_MODE_TRAIN)
        for (int i = 0; i < m->loss_count; i++) p->live[m->losses[i].node->index] = true;
    if (p->mode == CG_MODE_EVAL)
        for (int i = 0; i < m->metric_count; i++) p->live[m->metrics[i].node->index] = true;
    for (int i = m->node_count - 1; i >= 0; i--) {
        const checked_node *n = m->nodes[i];
        if (!p->live[i]) continue;
        for (int k = 0; k < n->input_count; k++) {
            p->live[n->inputs[k]->index] = true;
            p->readers[n->inputs[k]->index]++;
        }
    }
    if (p->mode == CG_MODE_INFER)
        for (int i = 0; i < m->output_count; i++) p->readers[m->outputs[i].node->index]++;
}

const cg_node_buffers *cg_buffers_of(const cg_program *p, const checked_node *n) {
    return &p->node_buffers[n->index];
}

/* ---- what autodiff asks of an op: the registry's flags ----------------------- */

unsigned cg_op_flags(const checked_node *n) {
    unsigned f = n->info->flags, flags = 0;
    if (n->info->family == TSC_FAMILY_INPUT || n->info->family == TSC_FAMILY_OPTIMIZER ||
        n->info->family == TSC_FAMILY_SCHEDULE)
        flags |= CG_OP_NO_CODE;
    if (f & TSC_OPF_VIEW) flags |= CG_OP_VIEW;
    if (f & TSC_OPF_TRAINING_ONLY) flags |= CG_OP_TRAIN_ONLY | CG_OP_MASK;   /* dropout keeps its mask */
    if (f & TSC_OPF_WEIGHTS) flags |= CG_OP_FUSED_ACTIVATION;                  /* conv2d, dense: activation= */
    if (f & TSC_OPF_GRADIENT_TEMP) flags |= CG_OP_GRAD_TEMP;
    if (f & TSC_OPF_SAVES_ARGMAX) flags |= CG_OP_ARGMAX;
    return flags;
}

/* Whether n's backward writes a gradient for its input k. Losses take
 * (labels, logits): the logits always, the labels only where the kernel
 * differentiates them (f32 targets; not class indices, not focal's one-hot
 * labels). */
bool cg_passes_gradient_to(const checked_node *n, int k) {
    if (!n->info->differentiable || n->info->family == TSC_FAMILY_METRIC) return false;
    if (n->info->family == TSC_FAMILY_LOSS) return k == 1 || tsc_op_has(n->op, TSC_OPF_LABELS_DIFF);
    return true;
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
            if (cg_passes_gradient_to(n, k)) depends_on_weights |= p->grad[n->inputs[k]->index];
        p->grad[i] = depends_on_weights;
    }
    bool *reaches_loss = tsc_xcalloc((size_t)count + 1, sizeof *reaches_loss);
    for (int i = count - 1; i >= 0; i--) {
        const checked_node *n = p->model->nodes[i];
        if (n->info->family == TSC_FAMILY_LOSS) reaches_loss[i] = p->grad[i];
        p->grad[i] = p->grad[i] && reaches_loss[i];
        if (!p->grad[i]) continue;
        for (int k = 0; k < n->input_count; k++)
            if (cg_passes_gradient_to(n, k)) reaches_loss[n->inputs[k]->index] = true;
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

/* "v_conv2d_1": the role, then the node's mangled name (unique, since layer
 * names are unique in a model and the mangler is one-to-one; the role
 * prefixes start with different letters). */
static char *make_c_name(const cg_program *p, cg_buffer_role role, const checked_node *node) {
    return cg_strf("%s_%s", role_prefix(role), p->node_names[node->index]);
}

static int add_buffer(cg_program *p, cg_buffer_role role, const checked_node *node, const tsc_type *type) {
    if (p->buffer_count == p->buffer_capacity) {
        p->buffer_capacity = p->buffer_capacity ? 2 * p->buffer_capacity : 16; /* amortised O(1) */
        p->buffers = tsc_xrealloc(p->buffers, (size_t)p->buffer_capacity * sizeof *p->buffers);
    }
    cg_buffer *b = &p->buffers[p->buffer_count];
    memset(b, 0, sizeof *b);
    b->role = role;
    b->node = node;
    b->is_int = type->dtype == TSC_DTYPE_I32;
    b->batched = tsc_type_has_batch(type);
    bool ok = tsc_type_elements(type, 1, b->batched ? 1 : 0, &b->elements);
    TSC_ASSERT(ok);
    b->alias_of = -1;
    b->input_index = -1;
    b->first_step = b->last_step = -1;
    b->c_name = make_c_name(p, role, node);
    return p->buffer_count++;
}

static int add_alias(cg_program *p, cg_buffer_role role, const checked_node *node, int target) {
    TSC_ASSERT(target >= 0);
    int b = add_buffer(p, role, node, &node->type);
    p->buffers[b].alias_of = target;
    return b;
}

const checked_node *cg_fused_batch_norm(const cg_program *p, const checked_node *conv) {
    const checked_model *m = p->model;
    if (p->mode == CG_MODE_TRAIN || conv->op != TSC_OP_CONV2D || p->node_buffers[conv->index].pre >= 0 ||
        conv->index + 1 >= m->node_count)
        return NULL;   /* training normalises with the batch's statistics, which need the whole output */
    /* The very next node, and the only reader of the convolution's output:
     * the fused step writes the normalised values and never the plain ones. */
    const checked_node *next = m->nodes[conv->index + 1];
    if (next->op != TSC_OP_BATCH_NORM || next->inputs[0] != conv || !p->live[next->index] ||
        next->attrs.axis != conv->type.rank - 1 || p->readers[conv->index] != 1)
        return NULL;
    return next;
}

const checked_node *cg_fused_pool(const cg_program *p, const checked_node *conv) {
    const checked_model *m = p->model;
    if (conv->op != TSC_OP_CONV2D || cg_buffers_of(p, conv)->pre >= 0 || conv->index + 1 >= m->node_count)
        return NULL;   /* an unfused activation after the conv needs its own pass */
    /* The very next node: nothing in between may read the convolution's
     * output before the fused step has written it. */
    const checked_node *next = m->nodes[conv->index + 1];
    if (next->op != TSC_OP_MAX_POOL2D || next->inputs[0] != conv || !p->live[next->index]) return NULL;
    return next;
}

const checked_node *cg_fused_pool_backward(const cg_program *p, const checked_node *conv) {
    if (p->mode != CG_MODE_TRAIN || !p->grad[conv->index] || p->readers[conv->index] != 1) return NULL;
    const checked_node *pool = cg_fused_pool(p, conv);
    /* A gradient through the pool is what gives it the argmax buffer the step reads. */
    return pool != NULL && p->grad[pool->index] ? pool : NULL;
}

static const tsc_type scalar_f32 = {TSC_DTYPE_F32, 0, {0}};

static void add_node_buffers(cg_program *p, const checked_node *n) {
    cg_node_buffers *nb = &p->node_buffers[n->index];
    const cg_node_buffers *in0 = n->input_count > 0 ? &p->node_buffers[n->inputs[0]->index] : NULL;
    bool train = p->mode == CG_MODE_TRAIN;
    unsigned flags = cg_op_flags(n);
    bool view = (flags & CG_OP_VIEW) != 0;
    tsc_op_family family = n->info->family;

    if (n->op == TSC_OP_INPUT) {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &n->type);
        for (int i = 0; i < p->model->input_count; i++)
            if (p->model->inputs[i] == n) p->buffers[nb->value].input_index = i;
    } else if (family == TSC_FAMILY_LOSS || family == TSC_FAMILY_METRIC) {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &scalar_f32);
    } else if (view || ((flags & CG_OP_TRAIN_ONLY) && !train)) {
        nb->value = add_alias(p, CG_BUFFER_VALUE, n, in0->value);
    } else {
        nb->value = add_buffer(p, CG_BUFFER_VALUE, n, &n->type);
    }

    /* An activation= the layer kernel does not fuse runs after it, from a pre-activation buffer. */
    bool separate_activation =
        (flags & CG_OP_FUSED_ACTIVATION) && n->attrs.activation >= TSC_ACTIVATION_FIRST_UNFUSED;
    if (separate_activation) nb->pre = add_buffer(p, CG_BUFFER_PRE, n, &n->type);
    if ((flags & CG_OP_MASK) && train) nb->mask = add_buffer(p, CG_BUFFER_MASK, n, &n->type);
    if ((flags & CG_OP_ARGMAX) && train && p->grad[n->index]) {
        /* Max pooling's backward scatters through the argmax its forward
         * saved, instead of searching every window again. */
        tsc_type argmax = n->type;
        argmax.dtype = TSC_DTYPE_I32;
        nb->mask = add_buffer(p, CG_BUFFER_MASK, n, &argmax);
    }
    if (n->op == TSC_OP_BATCH_NORM && n->index > 0 && cg_fused_batch_norm(p, p->model->nodes[n->index - 1]) == n) {
        /* The per-channel scale and shift the convolution's output pass applies. */
        tsc_type affine = {TSC_DTYPE_F32, 1, {2 * n->type.dims[n->attrs.axis]}};
        nb->temp = add_buffer(p, CG_BUFFER_TEMP, n, &affine);
    }
    if (n->attrs.labels_f32) {
        /* f32 class indices are converted to int32 (as Keras casts) before the kernel. */
        tsc_type labels = n->inputs[cg_labels_input(n)]->type;
        labels.dtype = TSC_DTYPE_I32;
        nb->labels = add_buffer(p, CG_BUFFER_LABELS, n, &labels);
    }

    if (!p->grad[n->index] || family == TSC_FAMILY_LOSS) return;
    /* Trained as one step with its max_pool2d: the step keeps the
     * pre-activation gradient in the convolution's workspace instead. */
    if (cg_fused_pool_backward(p, n)) return;
    if (view) nb->grad = add_alias(p, CG_BUFFER_GRAD, n, in0->grad);
    else nb->grad = add_buffer(p, CG_BUFFER_GRAD, n, &n->type);
    if (separate_activation) nb->dpre = add_buffer(p, CG_BUFFER_DPRE, n, &n->type);
    /* The out_backprop gradient of the conv2d_backprop_* ops is a conv2d
     * forward, which overwrites: it goes through a temporary. */
    if ((flags & CG_OP_GRAD_TEMP) && p->grad[n->inputs[1]->index])
        nb->temp = add_buffer(p, CG_BUFFER_TEMP, n, &n->inputs[1]->type);
}

cg_program *cg_program_new(const checked_model *model, cg_mode mode, char *const *node_names) {
    cg_program *p = tsc_xcalloc(1, sizeof *p);
    p->model = model;
    p->mode = mode;
    p->node_names = node_names;
    int count = model->node_count;
    p->live = tsc_xcalloc((size_t)count + 1, sizeof *p->live);
    p->grad = tsc_xcalloc((size_t)count + 1, sizeof *p->grad);
    p->readers = tsc_xcalloc((size_t)count + 1, sizeof *p->readers);
    p->node_buffers = tsc_xcalloc((size_t)count + 1, sizeof *p->node_buffers);
    /* Room for the usual two or three buffers per node up front: growing a
     * large array by doubling copies it again and again. */
    p->buffer_capacity = 2 * count + 16;
    p->buffers = tsc_xmalloc((size_t)p->buffer_capacity * sizeof *p->buffers);
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
    free(p->readers);
    free(p->node_buffers);
    for (int b = 0; b < p->buffer_count; b++) free(p->buffers[b].c_name);
    free(p->buffers);
    free(p->steps);
    free(p->operands);
    free(p);
}

int cg_labels_input(const checked_node *node) {
    return node->op == TSC_OP_IN_TOP_K ? 1 : 0;
}

int cg_buffer_root(const cg_program *p, int b) {
    while (b >= 0 && p->buffers[b].alias_of >= 0) b = p->buffers[b].alias_of;
    return b;
}
