/* What the ops' lowerings share: recording the buffers a step reads, writes
 * and accumulates into. A leaf of lowering: it calls no op's lowering
 * (lower.c walks the nodes and calls them through the table). */
#include <stdlib.h>

#include "cg.h"

static void add_operand(cg_lowerer *l, int buffer, cg_access access) {
    cg_program *p = l->program;
    TSC_ASSERT(buffer >= 0 && buffer < p->buffer_count && p->step_count > 0);
    if (p->operand_count == p->operand_capacity) {
        p->operand_capacity = p->operand_capacity ? 2 * p->operand_capacity : 128;
        p->operands = tsc_xrealloc(p->operands, (size_t)p->operand_capacity * sizeof *p->operands);
    }
    cg_operand op = {buffer, access, false};
    if (access == CG_ACCUMULATE) {
        int root = cg_buffer_root(p, buffer);
        op.zero_first = !l->zeroed[root];
        l->zeroed[root] = true;
    }
    p->operands[p->operand_count++] = op;
    p->steps[p->step_count - 1].operand_count++;
}

void cg_read(cg_lowerer *l, int buffer) {
    add_operand(l, buffer, CG_READ);
}

void cg_write(cg_lowerer *l, int buffer) {
    add_operand(l, buffer, CG_WRITE);
}

void cg_accumulate_into(cg_lowerer *l, int buffer) {
    add_operand(l, buffer, CG_ACCUMULATE);
}

bool cg_backward_fused(const cg_program *p, const checked_node *n) {
    return n->index > 0 && n->op == TSC_OP_MAX_POOL2D && cg_fused_pool_backward(p, p->model->nodes[n->index - 1]) == n;
}

bool cg_forward_fused(const cg_program *p, const checked_node *n) {
    if (n->index == 0) return false;
    const checked_node *before = p->model->nodes[n->index - 1];
    if (n->op == TSC_OP_MAX_POOL2D) return cg_fused_pool(p, before) == n;
    return n->op == TSC_OP_BATCH_NORM && cg_fused_batch_norm(p, before) == n;
}

