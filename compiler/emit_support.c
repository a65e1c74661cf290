/* What the op emitters share: the buffers of the step being printed,
 * counts, float literals and strings that live for one step. A leaf of the
 * emitter: it calls no op's emitter (emit_steps.c walks the steps). */
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

char *cg_node_c_name(const checked_node *node) {
    return cg_mangle(node->layer_name);
}

char *cg_type_text(const tsc_type *type, const char *batch_symbol) {
    if (tsc_type_is_poison(type)) return tsc_xstrdup("<error>");
    cg_buf b = {0};
    cg_buf_printf(&b, "%s[", tsc_dtype_name(type->dtype));
    for (int i = 0; i < type->rank; i++) {
        if (i) cg_buf_putc(&b, ',');
        if (type->dims[i] == TSC_DIM_BATCH) cg_buf_puts(&b, batch_symbol ? batch_symbol : "B");
        else cg_buf_printf(&b, "%lld", (long long)type->dims[i]);
    }
    cg_buf_putc(&b, ']');
    return cg_buf_take(&b);
}

char *cg_desc_name(const char *prefix, const checked_node *n) {
    char *name = cg_node_c_name(n);
    char *with_prefix = cg_join(prefix, name);
    char *desc = cg_join(with_prefix, "desc");
    free(with_prefix);
    free(name);
    return desc;
}

static const char *keep(cg_emitter *e, char *s) {
    if (e->temp_count == e->temp_capacity) {
        e->temp_capacity = e->temp_capacity ? 2 * e->temp_capacity : 16;
        e->temps = tsc_xrealloc(e->temps, (size_t)e->temp_capacity * sizeof *e->temps);
    }
    e->temps[e->temp_count++] = s;
    return s;
}

void cg_free_temps(cg_emitter *e) {
    for (int i = 0; i < e->temp_count; i++) free(e->temps[i]);
    e->temp_count = 0;
}

const char *cg_fmt(cg_emitter *e, const char *fmt, ...) {
    cg_buf b = {0};
    va_list args;
    va_start(args, fmt);
    cg_buf_vprintf(&b, fmt, args);
    va_end(args);
    return keep(e, cg_buf_take(&b));
}

const char *cg_desc(cg_emitter *e, const checked_node *n) {
    return keep(e, cg_desc_name(e->prefix, n));
}

const char *cg_use(cg_emitter *e, int b) {
    TSC_ASSERT(b >= 0 && b < e->program->buffer_count);
    const cg_step *s = e->step;
    bool declared = false;
    for (int i = 0; i < s->operand_count; i++)
        if (e->program->operands[s->first_operand + i].buffer == b) declared = e->operand_used[i] = true;
    if (!declared)
        tsc_internal_error(__FILE__, __LINE__, "step of %s prints %s, which lowering did not declare",
                           s->node ? s->node->layer_name : "the model", e->program->buffers[b].c_name);
    return e->program->buffers[b].c_name;
}

const char *cg_accumulate(cg_emitter *e, int b) {
    const char *name = cg_use(e, b);
    const cg_step *s = e->step;
    for (int i = 0; i < s->operand_count; i++) {
        const cg_operand *op = &e->program->operands[s->first_operand + i];
        if (op->buffer != b || op->access != CG_ACCUMULATE || !op->zero_first || e->operand_zeroed[i]) continue;
        e->operand_zeroed[i] = true;
        int root = cg_buffer_root(e->program, b);
        const cg_buffer *r = &e->program->buffers[root];
        cg_line(e, "    tdl_zero(%s, %s);\n", r->c_name,
                r->batched ? cg_fmt(e, "(size_t)batch * %lld", (long long)r->elements)
                           : cg_fmt(e, "%lld", (long long)r->elements));
        break;
    }
    return name;
}

const char *cg_accumulate_or_write(cg_emitter *e, int b, bool *write) {
    const char *name = cg_use(e, b);
    const cg_step *s = e->step;
    const cg_buffer *buf = &e->program->buffers[b];
    const cg_buffer *root = &e->program->buffers[cg_buffer_root(e->program, b)];
    *write = false;
    for (int i = 0; i < s->operand_count; i++) {
        const cg_operand *op = &e->program->operands[s->first_operand + i];
        if (op->buffer != b || op->access != CG_ACCUMULATE || !op->zero_first || e->operand_zeroed[i]) continue;
        if (root->elements != buf->elements || root->batched != buf->batched) return cg_accumulate(e, b);
        e->operand_zeroed[i] = true;   /* written whole: nothing to zero */
        *write = true;
        break;
    }
    return name;
}

const char *cg_count(cg_emitter *e, int b) {
    const cg_buffer *buf = &e->program->buffers[b];
    if (buf->batched) return cg_fmt(e, "(size_t)batch * %lld", (long long)buf->elements);
    return cg_fmt(e, "%lld", (long long)buf->elements);
}

const char *cg_type_count(cg_emitter *e, const tsc_type *type) {
    int64_t elements = 0;
    bool batched = tsc_type_has_batch(type);
    bool ok = tsc_type_elements(type, 1, batched ? 1 : 0, &elements);
    TSC_ASSERT(ok);
    if (batched) return cg_fmt(e, "(size_t)batch * %lld", (long long)elements);
    return cg_fmt(e, "%lld", (long long)elements);
}

void cg_line(cg_emitter *e, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    cg_buf_vprintf(e->out, fmt, args);
    va_end(args);
}

char *cg_float_literal(double value) {
    float f = (float)value;
    if (f == 0.0f && !signbit(f)) return tsc_xstrdup("0.0f"); /* the common case, without printf */
    char text[64];
    for (int precision = 1; precision <= 9; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, (double)f);
        if ((float)strtod(text, NULL) == f) break;
    }
    return cg_strf("%s%sf", text, strpbrk(text, ".en") ? "" : ".0");
}

const char *cg_float(cg_emitter *e, double value) {
    return keep(e, cg_float_literal(value));
}
