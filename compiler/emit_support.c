/* What emit_c.c and emit_ops.c share: buffer use and lifetimes, counts,
 * float literals, and turning the model's names into C identifiers. */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "codegen.h"

/* --- Helpers shared with emit_ops.c --------------------------------------------- */

void cg_node_c_name(const checked_node *node, char *out, size_t size) {
    char clean[48];
    bool changed = false;
    size_t n = 0;
    for (const char *s = node->layer_name; *s && n + 1 < sizeof clean; s++) {
        bool ok = isalnum((unsigned char)*s) || *s == '_';
        clean[n++] = ok ? *s : '_';
        changed |= !ok;
    }
    changed |= node->layer_name[n] != '\0' || n == 0 || isdigit((unsigned char)clean[0]);
    clean[n] = '\0';
    if (changed) snprintf(out, size, "n%d_%s", node->index, clean);
    else snprintf(out, size, "%s", clean);
}

static void mark_use(cg_emitter *e, int b) {
    for (; b >= 0; b = e->program->buffers[b].alias_of) {
        cg_buffer *buf = &e->program->buffers[b];
        e->used[b] = true;
        if (e->out) continue; /* lifetimes come from the analysis pass */
        if (buf->first_step < 0 || e->step < buf->first_step) buf->first_step = e->step;
        if (e->step > buf->last_step) buf->last_step = e->step;
    }
}

const char *cg_use(cg_emitter *e, int b) {
    TSC_ASSERT(b >= 0 && b < e->program->buffer_count);
    mark_use(e, b);
    return e->program->buffers[b].c_name;
}

void cg_count(const cg_emitter *e, int b, char *out, size_t size) {
    const cg_buffer *buf = &e->program->buffers[b];
    if (buf->batched) snprintf(out, size, "(size_t)batch * %lld", (long long)buf->elements);
    else snprintf(out, size, "%lld", (long long)buf->elements);
}

void cg_type_count(const tsc_type *type, char *out, size_t size) {
    int64_t elements = 0;
    bool ok = tsc_type_elements(type, 1, tsc_type_has_batch(type) ? 1 : 0, &elements);
    TSC_ASSERT(ok);
    if (tsc_type_has_batch(type)) snprintf(out, size, "(size_t)batch * %lld", (long long)elements);
    else snprintf(out, size, "%lld", (long long)elements);
}

const char *cg_accumulate(cg_emitter *e, int b) {
    const char *name = cg_use(e, b);
    int root = cg_buffer_root(e->program, b);
    if (!e->zeroed[root]) {
        e->zeroed[root] = true;
        char count[96];
        cg_count(e, root, count, sizeof count);
        cg_line(e, "    tdl_zero(%s, %s);\n", e->program->buffers[root].c_name, count);
    }
    return name;
}

void cg_line(cg_emitter *e, const char *fmt, ...) {
    if (!e->out) return;
    va_list args;
    va_start(args, fmt);
    vfprintf(e->out, fmt, args);
    va_end(args);
}

void cg_float_literal(double value, char *out, size_t size) {
    float f = (float)value;
    for (int precision = 1; precision <= 9; precision++) {
        snprintf(out, size, "%.*g", precision, (double)f);
        if ((float)strtod(out, NULL) == f) break;
    }
    if (!strpbrk(out, ".en")) strncat(out, ".0", size - strlen(out) - 1);
    strncat(out, "f", size - strlen(out) - 1);
}

/* --- Names ------------------------------------------------------------------------ */

/* Words of C and C++ that a name from the model may not be in generated code. */
static const char *const c_keywords[] = {
    "alignas", "alignof", "and", "asm", "auto", "bool", "break", "case", "catch", "char", "class", "const",
    "constexpr", "continue", "decltype", "default", "delete", "do", "double", "else", "enum", "explicit", "export",
    "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long", "mutable", "namespace",
    "new", "noexcept", "not", "nullptr", "operator", "or", "private", "protected", "public", "register",
    "restrict", "return", "short", "signed", "sizeof", "static", "struct", "switch", "template", "this", "throw",
    "true", "try", "typedef", "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile",
    "while", "xor", NULL};

/* Names the generated functions use for their own parameters and locals. */
static const char *const local_names[] = {"m", "batch", "loss", "out", "status", "pass", "config", "need", NULL};

static bool in_list(const char *name, const char *const *list) {
    for (; *list; list++)
        if (strcmp(name, *list) == 0) return true;
    return false;
}

/* A model name as C: a C or C++ keyword gets a trailing '_' (model `int` -> int_). */
void cg_c_identifier(const char *name, char *out, size_t size) {
    snprintf(out, size, "%s%s", name, in_list(name, c_keywords) ? "_" : "");
}

/* The C parameter name of a model input or output. */
void cg_param_name(const char *name, const char *suffix, char *out, size_t size) {
    snprintf(out, size, "%s%s", name, suffix);
    if (in_list(out, c_keywords) || in_list(out, local_names)) strncat(out, "_", size - strlen(out) - 1);
}

void cg_upper(const char *s, char *out, size_t size) {
    size_t i = 0;
    for (; s[i] && i + 1 < size; i++) out[i] = (char)toupper((unsigned char)s[i]);
    out[i] = '\0';
}

