/* The memory plan: offsets in the activation region such that two buffers
 * alive at the same step never overlap (greedy by size, lowest gap first,
 * as TFLite's arena planner does). Batched buffers are planned in floats per
 * sample, so the layout holds for every max_batch; fixed ones apart. */
#include <stdlib.h>

#include "tsc.h"

/* 16 floats: every buffer starts on a 64-byte boundary of the region. */
#define CG_ALIGN_FLOATS 16

static int64_t aligned(int64_t floats) {
    return (floats + CG_ALIGN_FLOATS - 1) / CG_ALIGN_FLOATS * CG_ALIGN_FLOATS;
}

static bool lifetimes_overlap(const cg_buffer *a, const cg_buffer *b) {
    return a->first_step <= b->last_step && b->first_step <= a->last_step;
}

static const cg_program *sort_program;

static int by_size_descending(const void *pa, const void *pb) {
    const cg_buffer *a = &sort_program->buffers[*(const int *)pa];
    const cg_buffer *b = &sort_program->buffers[*(const int *)pb];
    if (a->elements != b->elements) return a->elements > b->elements ? -1 : 1;
    return *(const int *)pa - *(const int *)pb;
}

static bool needs_memory(const cg_buffer *b, bool batched) {
    return b->alias_of < 0 && !b->is_input && b->first_step >= 0 && b->batched == batched;
}

/* Places the buffers of one part; returns the part's size in floats. */
static int64_t plan_part(cg_program *p, bool batched) {
    int *order = tsc_xmalloc((size_t)(p->buffer_count + 1) * sizeof *order);
    int count = 0;
    for (int i = 0; i < p->buffer_count; i++)
        if (needs_memory(&p->buffers[i], batched)) order[count++] = i;
    sort_program = p;
    qsort(order, (size_t)count, sizeof *order, by_size_descending);

    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        cg_buffer *b = &p->buffers[order[i]];
        int64_t size = aligned(b->elements);
        /* Try the lowest offset; on a clash, retry just past the clashing buffer. */
        int64_t offset = 0;
        bool moved = true;
        while (moved) {
            moved = false;
            for (int j = 0; j < i; j++) {
                const cg_buffer *other = &p->buffers[order[j]];
                if (!lifetimes_overlap(b, other)) continue;
                int64_t other_end = other->offset + aligned(other->elements);
                if (offset < other_end && other->offset < offset + size) {
                    offset = other_end;
                    moved = true;
                }
            }
        }
        b->offset = offset;
        if (offset + size > total) total = offset + size;
    }
    free(order);
    return total;
}

void cg_plan_memory(cg_program *p) {
    p->batched_floats = plan_part(p, true);
    p->fixed_floats = plan_part(p, false);
}
