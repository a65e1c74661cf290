/* Walking the steps of an entry point: for each, the op's emitter from the
 * lowering table (the `lower` column of ops.def). The emitter holds lowering
 * to its word: a buffer the step did not declare cannot be printed, and a
 * declared one that is not printed is a bug too. */
#include <stdlib.h>
#include <string.h>

#include "cg.h"

/* The trace comment before a forward step: where the call is and what it maps. */
static void trace_comment(cg_emitter *e, const checked_node *n) {
    int line, col;
    tsc_loc_line_col(n->loc.file, n->loc.first, &line, &col);
    /* Losses and accuracy take (labels, logits): show the logits. */
    bool labels_first = n->info->family == TSC_FAMILY_LOSS || n->op == TSC_OP_ACCURACY;
    const checked_node *shown = n->input_count > 1 && labels_first ? n->inputs[1]
                                : n->input_count    ? n->inputs[0]
                                                    : n;
    const char *in_text = e->type_texts[shown->index], *out_text = e->type_texts[n->index];
    cg_buf_puts(e->out, "    /* ");
    cg_buf_comment(e->out, e->source_name);
    cg_buf_printf(e->out, ":%d:%d  ", line, col);
    cg_buf_comment(e->out, n->layer_name);
    cg_buf_puts(e->out, ": ");
    cg_buf_comment(e->out, in_text);
    cg_buf_puts(e->out, " -> ");
    cg_buf_comment(e->out, out_text);
    cg_buf_puts(e->out, " */\n");
}

void cg_emit_steps(cg_emitter *e, void (*special)(cg_emitter *e, const cg_step *step)) {
    cg_program *p = e->program;
    for (int s = 0; s < p->step_count; s++) {
        const cg_step *step = &p->steps[s];
        e->step = step;
        if (step->operand_count > e->operand_capacity) {
            e->operand_capacity = 2 * step->operand_count;
            e->operand_used = tsc_xrealloc(e->operand_used, (size_t)e->operand_capacity * sizeof *e->operand_used);
            e->operand_zeroed = tsc_xrealloc(e->operand_zeroed, (size_t)e->operand_capacity * sizeof *e->operand_zeroed);
        }
        if (step->operand_count > 0) {
            memset(e->operand_used, 0, (size_t)step->operand_count * sizeof *e->operand_used);
            memset(e->operand_zeroed, 0, (size_t)step->operand_count * sizeof *e->operand_zeroed);
        }
        const checked_node *n = step->node;
        const cg_op_lowering *row = n ? cg_lowering_of(n) : NULL;
        switch (step->kind) {
        case CG_STEP_FORWARD:
            if (n->op != TSC_OP_INPUT) trace_comment(e, n);
            if (row->emit_forward) row->emit_forward(e, n);
            break;
        case CG_STEP_BACKWARD:
            cg_buf_puts(e->out, "    /* backward ");
            cg_buf_comment(e->out, n->layer_name);
            cg_buf_puts(e->out, " */\n");
            if (row->emit_backward) row->emit_backward(e, n);
            break;
        case CG_STEP_TOTAL_LOSS:
        case CG_STEP_RESULTS: special(e, step); break;
        }
        for (int i = 0; i < step->operand_count; i++)
            if (!e->operand_used[i])
                tsc_internal_error(__FILE__, __LINE__, "a step of %s declares %s but does not print it",
                                   n ? n->layer_name : "the model",
                                   p->buffers[p->operands[step->first_operand + i].buffer].c_name);
        cg_free_temps(e);
    }
    free(e->operand_used);
    free(e->operand_zeroed);
    e->operand_used = e->operand_zeroed = NULL;
    e->operand_capacity = 0;
    free(e->temps);
    e->temps = NULL;
    e->temp_capacity = 0;
}
