/* The memory plan and the arena layout.
 *
 * Lifetimes come from the step list (lower.c): a buffer lives from the
 * first to the last step that lists it (or a view of it). Offsets in the
 * activation region are then chosen so that two buffers alive at the same
 * step never overlap. Batched buffers are planned in floats per sample, so
 * the layout holds for every max_batch; fixed ones apart.
 *
 * Two placements are tried and the smaller kept: greedy by size, each
 * buffer at the lowest gap among those alive with it (TFLite's arena
 * planner; good, but quadratic, so only for models of up to
 * GREEDY_LIMIT buffers), and a sweep over time that allocates from an
 * offset-ordered free list as a malloc would (linear for chains of any
 * length). Both are deterministic.
 *
 * The layout (cg_layout) is the one description of the arena: the emitter
 * prints it into the model's tables, and --summary sizes it with the
 * runtime's own tdl_model_arena_parts_of, so the two agree to the byte. */
#include <stdlib.h>
#include <string.h>

#include <tdl/runtime.h>

#include "cg.h"

enum { ALIGN_FLOATS = 16, GREEDY_LIMIT = 4096 };

/* Sizes saturate at INT64_MAX instead of wrapping: a model whose buffers
 * add up to more than that gets a layout that libtdlrt refuses to create
 * (NAME_arena_size is 0), never a small wrapped-around one. */
static int64_t add_sat(int64_t a, int64_t b) {
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t aligned(int64_t floats) {
    return add_sat(floats, ALIGN_FLOATS - 1) / ALIGN_FLOATS * ALIGN_FLOATS;
}

/* --- Lifetimes -------------------------------------------------------------------- */

static void find_lifetimes(cg_program *p) {
    for (int b = 0; b < p->buffer_count; b++) p->buffers[b].first_step = p->buffers[b].last_step = -1;
    for (int s = 0; s < p->step_count; s++) {
        const cg_step *step = &p->steps[s];
        for (int i = 0; i < step->operand_count; i++)
            for (int b = p->operands[step->first_operand + i].buffer; b >= 0; b = p->buffers[b].alias_of) {
                cg_buffer *buf = &p->buffers[b];
                if (buf->first_step < 0) buf->first_step = s;
                buf->last_step = s; /* steps are visited in order */
            }
    }
}

/* --- Placement ---------------------------------------------------------------------- */

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

static int earlier_first(const void *pa, const void *pb) {
    const placement *a = pa, *b = pb;
    if (a->first != b->first) return a->first < b->first ? -1 : 1;
    return a->buffer - b->buffer;
}

/* Greedy by size: the lowest offset where p fits between the placed
 * buffers alive at the same time; `by_offset` holds every placed buffer in
 * offset order. */
static int64_t lowest_gap(const placement *p, placement *const *by_offset, int placed_count) {
    int64_t offset = 0;
    for (int j = 0; j < placed_count; j++) {
        const placement *other = by_offset[j];
        if (other->first > p->last || p->first > other->last) continue; /* never alive together */
        if (other->offset >= add_sat(offset, p->size)) break; /* the gap before it is large enough */
        int64_t end = add_sat(other->offset, other->size);
        if (end > offset) offset = end;
    }
    return offset;
}

static int64_t place_greedy(placement *order, int count) {
    qsort(order, (size_t)count, sizeof *order, larger_first);
    placement **by_offset = tsc_xmalloc((size_t)(count + 1) * sizeof *by_offset);
    int64_t total = 0;
    for (int i = 0; i < count; i++) {
        placement *p = &order[i];
        p->offset = lowest_gap(p, by_offset, i);
        int j = i; /* insert, keeping offset order (ties: buffer order) */
        while (j > 0 && (by_offset[j - 1]->offset > p->offset ||
                         (by_offset[j - 1]->offset == p->offset && by_offset[j - 1]->buffer > p->buffer))) {
            by_offset[j] = by_offset[j - 1];
            j--;
        }
        by_offset[j] = p;
        if (add_sat(p->offset, p->size) > total) total = add_sat(p->offset, p->size);
    }
    free(by_offset);
    return total;
}

/* A free extent of the region, kept in offset order. */
typedef struct extent {
    int64_t offset, size;
} extent;

typedef struct free_list {
    extent *items;
    int count, capacity;
} free_list;

static void free_list_insert(free_list *f, int at, extent x) {
    if (f->count == f->capacity) {
        f->capacity = f->capacity ? 2 * f->capacity : 16;
        f->items = tsc_xrealloc(f->items, (size_t)f->capacity * sizeof *f->items);
    }
    memmove(&f->items[at + 1], &f->items[at], (size_t)(f->count - at) * sizeof *f->items);
    f->items[at] = x;
    f->count++;
}

static void free_list_remove(free_list *f, int at) {
    memmove(&f->items[at], &f->items[at + 1], (size_t)(f->count - at - 1) * sizeof *f->items);
    f->count--;
}

/* Returns [offset, offset + size) to the free list, merged with its neighbours. */
static void release(free_list *f, int64_t offset, int64_t size) {
    int lo = 0, hi = f->count; /* first extent after offset */
    while (lo < hi) {
        int mid = (lo + hi) / 2;
        if (f->items[mid].offset < offset) lo = mid + 1;
        else hi = mid;
    }
    if (lo > 0 && add_sat(f->items[lo - 1].offset, f->items[lo - 1].size) == offset) {
        f->items[lo - 1].size = add_sat(f->items[lo - 1].size, size);
        if (lo < f->count && add_sat(f->items[lo - 1].offset, f->items[lo - 1].size) == f->items[lo].offset) {
            f->items[lo - 1].size = add_sat(f->items[lo - 1].size, f->items[lo].size);
            free_list_remove(f, lo);
        }
    } else if (lo < f->count && add_sat(offset, size) == f->items[lo].offset) {
        f->items[lo].offset = offset;
        f->items[lo].size = add_sat(f->items[lo].size, size);
    } else {
        free_list_insert(f, lo, (extent){offset, size});
    }
}

/* First fit from the free list; the region grows at its top otherwise
 * (using a free extent that ends at the top). */
static int64_t allocate(free_list *f, int64_t *top, int64_t size) {
    for (int i = 0; i < f->count; i++) {
        if (f->items[i].size < size) continue;
        int64_t offset = f->items[i].offset;
        f->items[i].offset += size;
        f->items[i].size -= size;
        if (f->items[i].size == 0) free_list_remove(f, i);
        return offset;
    }
    if (f->count > 0 && add_sat(f->items[f->count - 1].offset, f->items[f->count - 1].size) == *top) {
        int64_t offset = f->items[f->count - 1].offset;
        free_list_remove(f, f->count - 1);
        *top = add_sat(offset, size);
        return offset;
    }
    int64_t offset = *top;
    *top = add_sat(*top, size);
    return offset;
}

/* The sweep: buffers in order of their first step; before each, every
 * buffer whose last step is over is returned to the free list. */
static int64_t place_sweep(placement *order, int count, int step_count) {
    qsort(order, (size_t)count, sizeof *order, earlier_first);
    /* ends[s]: the buffers (indices into order) whose last step is s, chained through next */
    int *ends = tsc_xmalloc(((size_t)step_count + 1) * sizeof *ends);
    int *next = tsc_xmalloc(((size_t)count + 1) * sizeof *next);
    for (int s = 0; s <= step_count; s++) ends[s] = -1;
    free_list f = {0};
    int64_t top = 0;
    int released_through = -1; /* buffers ending at steps <= this are free */
    for (int i = 0; i < count; i++) {
        placement *p = &order[i];
        for (; released_through < p->first - 1; released_through++)
            for (int k = ends[released_through + 1]; k >= 0; k = next[k]) release(&f, order[k].offset, order[k].size);
        p->offset = allocate(&f, &top, p->size);
        next[i] = ends[p->last];
        ends[p->last] = i;
    }
    free(f.items);
    free(next);
    free(ends);
    return top;
}

/* Places the buffers of one part; returns the part's size in floats. */
static int64_t plan_part(cg_program *p, bool batched) {
    placement *order = tsc_xmalloc((size_t)(p->buffer_count + 1) * sizeof *order);
    int count = 0;
    for (int i = 0; i < p->buffer_count; i++) {
        const cg_buffer *b = &p->buffers[i];
        if (b->alias_of < 0 && b->input_index < 0 && b->first_step >= 0 && b->batched == batched)
            order[count++] = (placement){i, aligned(b->elements), b->first_step, b->last_step, 0};
    }
    int64_t total = place_sweep(order, count, p->step_count);
    if (count <= GREEDY_LIMIT) {
        placement *greedy = tsc_xmalloc((size_t)(count + 1) * sizeof *greedy);
        memcpy(greedy, order, (size_t)count * sizeof *order);
        int64_t greedy_total = place_greedy(greedy, count);
        if (greedy_total <= total) {
            memcpy(order, greedy, (size_t)count * sizeof *order);
            total = greedy_total;
        }
        free(greedy);
    }
    for (int i = 0; i < count; i++) p->buffers[order[i].buffer].offset = order[i].offset;
    free(order);
    return total;
}

void cg_plan_memory(cg_program *p) {
    find_lifetimes(p);
    p->batched_floats = plan_part(p, true);
    p->fixed_floats = plan_part(p, false);
}

/* --- The layout -------------------------------------------------------------------- */

/* Slots per parameter, in the order of tdl_model_slot_names: SGD its
 * momentum; Adam m, v (and v_hat with amsgrad); RMSprop its velocity (and
 * momentum, and the average gradient when centered). */
static int optimizer_slots(const checked_optimizer *o) {
    switch (o->op) {
    case TSC_OP_ADAM:
    case TSC_OP_ADAMW: return 2 + (o->amsgrad ? 1 : 0);
    case TSC_OP_RMSPROP: return 1 + (o->momentum != 0.0 ? 1 : 0) + (o->centered ? 1 : 0);
    default: return o->momentum != 0.0 ? 1 : 0;
    }
}

void cg_layout_build(cg_layout *layout, const checked_model *model, const tsc_codegen_options *options) {
    memset(layout, 0, sizeof *layout);
    layout->weights = options ? options->weights : NULL;
    layout->weights_compiled_in = options && (options->weights || options->weights_compiled_in);
    /* Compiled-in weights are const: nothing may train them. */
    bool inference_asked = options && (options->inference || layout->weights_compiled_in);
    layout->has_train = !inference_asked && model->optimizer != NULL && model->loss_count > 0;
    layout->inference = !layout->has_train;
    /* No evaluate that would report nothing. */
    layout->has_eval = model->loss_count + model->metric_count > 0;
    layout->param_offsets = tsc_xcalloc((size_t)model->node_count + 1, sizeof *layout->param_offsets);
    layout->node_names = tsc_xcalloc((size_t)model->node_count + 1, sizeof *layout->node_names);
    layout->type_texts = tsc_xcalloc((size_t)model->node_count + 1, sizeof *layout->type_texts);
    layout->state_offsets = tsc_xcalloc((size_t)model->node_count + 1, sizeof *layout->state_offsets);
    for (int i = 0; i < model->node_count; i++) {
        layout->node_names[i] = cg_node_c_name(model->nodes[i]);
        layout->type_texts[i] = cg_type_text(&model->nodes[i]->type, model->batch_symbol);
        layout->param_offsets[i] = layout->param_floats;
        for (int k = 0; k < model->nodes[i]->param_count; k++) {
            int64_t count = 0;
            if (!tsc_type_elements(&model->nodes[i]->params[k].type, 1, 0, &count)) count = INT64_MAX;
            layout->param_floats = add_sat(layout->param_floats, count);
            layout->param_tensors++;
        }
        layout->state_offsets[i] = layout->state_floats;
        for (int k = 0; k < model->nodes[i]->state_count; k++) {
            int64_t count = 0;
            if (!tsc_type_elements(&model->nodes[i]->state[k].type, 1, 0, &count)) count = INT64_MAX;
            layout->state_floats = add_sat(layout->state_floats, count);
            layout->state_tensors++;
        }
    }
    const checked_optimizer *o = model->optimizer;
    if (layout->has_train) layout->optimizer_slots = optimizer_slots(o);
    for (int mode = 0; mode < CG_MODE_COUNT; mode++) {
        if ((mode == CG_MODE_TRAIN && !layout->has_train) || (mode == CG_MODE_EVAL && !layout->has_eval)) continue;
        /* The back end's stages, in order: autodiff (the program's nodes,
         * gradients and buffers), lowering (its steps), planning (lifetimes
         * from the steps, then offsets). */
        cg_program *p = cg_program_new(model, (cg_mode)mode, layout->node_names);
        cg_lower(p);
        cg_plan_memory(p);
        layout->programs[mode] = p;
        if (p->batched_floats > layout->act_per_sample) layout->act_per_sample = p->batched_floats;
        if (p->fixed_floats > layout->act_fixed) layout->act_fixed = p->fixed_floats;
    }
}

void cg_layout_release(cg_layout *layout) {
    for (int mode = 0; mode < CG_MODE_COUNT; mode++) cg_program_free(layout->programs[mode]);
    for (int i = 0; layout->node_names && layout->node_names[i]; i++) free(layout->node_names[i]);
    for (int i = 0; layout->type_texts && layout->type_texts[i]; i++) free(layout->type_texts[i]);
    free(layout->node_names);
    free(layout->type_texts);
    free(layout->param_offsets);
    free(layout->state_offsets);
    memset(layout, 0, sizeof *layout);
}

bool cg_workspace_query(const cg_layout *layout, const checked_node *n,
                        size_t (**floats)(const checked_node *n, int max_batch), const char **function) {
    const cg_op_lowering *row = cg_lowering_of(n);
    *floats = row->workspace_floats;
    *function = row->workspace_function;
    if (layout->inference) {
        /* Only the steps an inference build runs: the forward ones of the
         * nodes forward or evaluate computes. */
        bool runs = false;
        for (int mode = 0; mode < CG_MODE_COUNT; mode++)
            if (layout->programs[mode] && layout->programs[mode]->live[n->index]) runs = true;
        *floats = runs ? row->forward_workspace_floats : NULL;
        *function = runs ? row->forward_workspace_function : NULL;
    }
    return *floats != NULL;
}

uint64_t cg_workspace_floats(const cg_layout *layout, int max_batch) {
    const checked_model *model = layout->programs[CG_MODE_INFER]->model;
    uint64_t need = 0;
    for (int i = 0; i < model->node_count; i++) {
        size_t (*floats)(const checked_node *, int);
        const char *function;
        if (!cg_workspace_query(layout, model->nodes[i], &floats, &function)) continue;
        uint64_t size = floats(model->nodes[i], max_batch);
        if (size > need) need = size;
    }
    return need;
}

void cg_layout_runtime(const cg_layout *layout, tdl_model_layout *out) {
    *out = (tdl_model_layout){
        /* compiled-in parameters are static const data, not arena */
        .param_floats = layout->weights_compiled_in ? 0 : (size_t)layout->param_floats,
        .grad_floats = layout->has_train ? (size_t)layout->param_floats : 0,
        .optimizer_slots = layout->optimizer_slots,
        .act_per_sample = (size_t)layout->act_per_sample,
        .act_fixed = (size_t)layout->act_fixed,
        .state_floats = layout->weights_compiled_in ? 0 : (size_t)layout->state_floats,   /* rodata too */
        .batch_state_floats = layout->has_train ? (size_t)layout->state_floats : 0,
    };
}

bool tsc_model_arena(const checked_model *model, int64_t max_batch, tsc_arena_report *report) {
    return tsc_model_arena_with(model, NULL, max_batch, report);
}

bool tsc_model_arena_with(const checked_model *model, const tsc_codegen_options *options, int64_t max_batch,
                          tsc_arena_report *report) {
    if (max_batch < 1 || max_batch > INT32_MAX) return false;
    cg_layout layout;
    cg_layout_build(&layout, model, options);
    tdl_model_layout runtime, forward;
    cg_layout_runtime(&layout, &runtime);
    forward = runtime;
    forward.act_per_sample = (size_t)layout.programs[CG_MODE_INFER]->batched_floats;
    forward.act_fixed = (size_t)layout.programs[CG_MODE_INFER]->fixed_floats;
    size_t workspace = (size_t)cg_workspace_floats(&layout, (int)max_batch);
    tdl_model_arena_parts parts, forward_parts;
    bool ok = tdl_model_arena_parts_of(&runtime, (int)max_batch, workspace, &parts) &&
              tdl_model_arena_parts_of(&forward, (int)max_batch, workspace, &forward_parts);
    if (ok) {
        report->header_bytes = TDL_MODEL_HEADER_BYTES;
        report->parameter_bytes = (uint64_t)(parts.params + parts.grads + parts.slots) * sizeof(float);
        report->weight_bytes = (uint64_t)layout.param_floats * sizeof(float);
        report->state_bytes = (uint64_t)(parts.state + parts.batch_state) * sizeof(float);
        report->activation_bytes = (uint64_t)(parts.activations + parts.fixed) * sizeof(float);
        report->forward_activation_bytes = (uint64_t)(forward_parts.activations + forward_parts.fixed) * sizeof(float);
        report->workspace_bytes = (uint64_t)parts.workspace * sizeof(float);
        report->total_bytes = parts.total_bytes;
        report->trains = layout.has_train;
        report->weights_compiled_in = layout.weights_compiled_in;
    }
    cg_layout_release(&layout);
    return ok;
}
