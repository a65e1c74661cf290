/* Lowering: a program becomes an explicit list of steps, the timeline that
 * planning and printing both read. Every live node has a forward step (in
 * source order, a topological order); training adds the step that sums the
 * losses and a backward step per node that needs a gradient (in reverse);
 * the last step hands the results out. Each step lists the buffers it
 * reads and writes, declared by the op's row of the lowering table, and marks
 * the first contribution to each gradient, which the emitter precedes with
 * tdl_zero (gradients accumulate). */
#include <stdlib.h>

#include "cg.h"

static void begin_step(cg_program *p, cg_step_kind kind, const checked_node *node) {
    if (p->step_count == p->step_capacity) {
        p->step_capacity = p->step_capacity ? 2 * p->step_capacity : 64;
        p->steps = tsc_xrealloc(p->steps, (size_t)p->step_capacity * sizeof *p->steps);
    }
    p->steps[p->step_count++] = (cg_step){kind, node, p->operand_count, 0};
}

void cg_lower(cg_program *p) {
    const checked_model *model = p->model;
    cg_lowerer l = {p, tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *l.zeroed)};
    /* A step per live node and two per node with a gradient, about three operands each. */
    p->step_capacity = 2 * model->node_count + 4;
    p->steps = tsc_xmalloc((size_t)p->step_capacity * sizeof *p->steps);
    p->operand_capacity = 3 * p->step_capacity;
    p->operands = tsc_xmalloc((size_t)p->operand_capacity * sizeof *p->operands);
    for (int i = 0; i < model->node_count; i++) {
        if (!p->live[i]) continue;
        const checked_node *n = model->nodes[i];
        begin_step(p, CG_STEP_FORWARD, n);
        const cg_op_lowering *row = cg_lowering_of(n);
        if (row->forward_operands) row->forward_operands(&l, n);
    }
    if (p->mode == CG_MODE_TRAIN) {
        begin_step(p, CG_STEP_TOTAL_LOSS, NULL);
        for (int i = 0; i < model->loss_count; i++) cg_read(&l, cg_buffers_of(p, model->losses[i].node)->value);
        for (int i = model->node_count - 1; i >= 0; i--) {
            if (!p->live[i] || !p->grad[i]) continue;
            const checked_node *n = model->nodes[i];
            begin_step(p, CG_STEP_BACKWARD, n);
            const cg_op_lowering *row = cg_lowering_of(n);
            TSC_ASSERT(row->backward_operands != NULL || (cg_op_flags(n) & CG_OP_VIEW));
            if (row->backward_operands) row->backward_operands(&l, n);
        }
    }
    begin_step(p, CG_STEP_RESULTS, NULL);
    if (p->mode == CG_MODE_INFER)
        for (int i = 0; i < model->output_count; i++) cg_read(&l, cg_buffers_of(p, model->outputs[i].node)->value);
    if (p->mode == CG_MODE_EVAL) {
        for (int i = 0; i < model->loss_count; i++) cg_read(&l, cg_buffers_of(p, model->losses[i].node)->value);
        for (int i = 0; i < model->metric_count; i++)
            cg_read(&l, cg_buffers_of(p, model->metrics[i].node)->value);
    }
    free(l.zeroed);
}
