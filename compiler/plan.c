/* The memory plan: offsets in the activation region such that two buffers
 * alive at the same step never overlap (greedy by size, lowest gap first,
 * as TFLite's arena planner does). Batched buffers are planned in floats per
 * sample, so the layout holds for every max_batch; fixed ones apart. */
#include <stdlib.h>

#include "codegen.h"

/* 16 floats: every buffer starts on a 64-byte boundary of the region. */
#define CG_ALIGN_FLOATS 16

static int64_t aligned(int64_t floats) {
    return (floats + CG_ALIGN_FLOATS - 1) / CG_ALIGN_FLOATS * CG_ALIGN_FLOATS;
}

/* A buffer to place: its size and lifetime, and where it went. */
typedef struct placement {
    int buffer;
    int64_t size;
    int first, last;
    int64_t offset;
} placement;

static int larger_first(const void *pa, const void *pb) {
    const placement *a = pa, *b = pb;
    if (a->size != b->size) return a->size > b->size ? -1 : 1;
    return a->buffer - b->buffer; /* deterministic among equals */
}

static bool needs_memory(const cg_buffer *b, bool batched) {
    return b->alias_of < 0 && !b->is_input && b->first_step >= 0 && b->batched == batched;
}

/* The lowest offset where p fits between the placed buffers alive at the
 * same time; `by_offset` holds every placed buffer in offset order. */
static int64_t lowest_gap(const placement *p, placement *const *by_offset, int placed_count) {
    int64_t offset = 0;
    for (int j = 0; j < placed_count; j++) {
        const placement *other = by_offset[j];
        if (other->first > p->last || p->first > other->last) continue; /* never alive together */
        if (other->offset >= offset + p->size) break; /* the gap before it is large enough */
        int64_t end = other->offset + other->size;
        if (end > offset) offset = end;
    }
    return offset;
}

/* Inserts p into by_offset, keeping offset order (ties: buffer order). */
static void insert_by_offset(placement **by_offset, int placed_count, placement *p) {
    int j = placed_count;
    while (j > 0 && (by_offset[j - 1]->offset > p->offset ||
                     (by_offset[j - 1]->offset == p->offset && by_offset[j - 1]->buffer > p->buffer))) {
        by_offset[j] = by_offset[j - 1];
        j--;
    }
    by_offset[j] = p;
}

/* Places the buffers of one part; returns the part's size in floats. */
static int64_t plan_part(cg_program *p, bool batched) {
    placement *order = tsc_xmalloc((size_t)(p->buffer_count + 1) * sizeof *order);
    int count = 0;
    for (int i = 0; i < p->buffer_count; i++) {
        const cg_buffer *b = &p->buffers[i];
        if (needs_memory(b, batched))
            order[count++] = (placement){i, aligned(b->elements), b->first_step, b->last_step, 0};
    }
    qsort(order, (size_t)count, sizeof *order, larger_first);

    placement **by_offset = tsc_xmalloc((size_t)(count + 1) * sizeof *by_offset);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        order[i].offset = lowest_gap(&order[i], by_offset, i);
        insert_by_offset(by_offset, i, &order[i]);
        p->buffers[order[i].buffer].offset = order[i].offset;
        if (order[i].offset + order[i].size > total) total = order[i].offset + order[i].size;
    }
    free(by_offset);
    free(order);
    return total;
}

void cg_plan_memory(cg_program *p) {
    p->batched_floats = plan_part(p, true);
    p->fixed_floats = plan_part(p, false);
}
