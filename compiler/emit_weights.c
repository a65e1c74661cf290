/* The compiled-in weights (tsc --weights): every parameter of the model in
 * one `static const float` array, in the layout's order, so that the
 * generated passes read `NAME_weights + OFFSET` where they would read
 * `m->params + OFFSET`. Being const, the array goes to .rodata (flash on a
 * microcontroller) and the arena holds no copy. Each float is printed as
 * the shortest decimal that reads back as the same float (checked with
 * strtof, which rounds as a C compiler rounds a float literal), so the
 * generated model computes with exactly the file's values. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cg.h"

enum { VALUES_PER_LINE = 8 };

/* f as a C float constant expression, exactly. */
static void print_float(cg_buf *out, float f) {
    if (isnan(f)) {
        cg_buf_puts(out, "NAN");
        return;
    }
    if (isinf(f)) {
        cg_buf_puts(out, f < 0 ? "-INFINITY" : "INFINITY");
        return;
    }
    if (f == 0.0f) {
        cg_buf_puts(out, signbit(f) ? "-0.0f" : "0.0f");
        return;
    }
    char text[48];
    for (int precision = 6; precision <= 9; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, (double)f);
        if (strtof(text, NULL) == f) break;
    }
    cg_buf_puts(out, text);
    cg_buf_puts(out, strpbrk(text, ".e") ? "f" : ".0f");
}

/* The values of `count` tensors of node n, one comment line before each. */
static void tensor_values(cg_buf *out, const tsc_weights *weights, const checked_param *tensors, int count) {
    for (int k = 0; k < count; k++) {
        const checked_param *prm = &tensors[k];
        int64_t elements = 0;
        tsc_type_elements(&prm->type, 1, 0, &elements);
        char *type = cg_type_text(&prm->type, NULL);
        cg_buf_puts(out, "    /* ");
        cg_buf_comment(out, prm->name);
        cg_buf_puts(out, ": ");
        cg_buf_comment(out, type);
        cg_buf_puts(out, " */\n");
        free(type);
        float *values = tsc_xmalloc(((size_t)elements + 1) * sizeof *values);
        cg_weights_tensor(weights, prm->name, values, (size_t)elements);
        for (int64_t v = 0; v < elements; v++) {
            cg_buf_puts(out, v % VALUES_PER_LINE == 0 ? "    " : " ");
            print_float(out, values[v]);
            cg_buf_putc(out, ',');
            if (v % VALUES_PER_LINE == VALUES_PER_LINE - 1 || v == elements - 1) cg_buf_putc(out, '\n');
        }
        free(values);
    }
}

void cg_emit_weights(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *name) {
    cg_buf_printf(out,
                  "/* The parameters, compiled in: const, so they stay in read-only memory\n"
                  " * (flash) and the arena holds no copy. */\n"
                  "static const float %s[%lld] = {\n",
                  name, (long long)layout->param_floats);
    for (int i = 0; i < model->node_count; i++)
        tensor_values(out, layout->weights, model->nodes[i]->params, model->nodes[i]->param_count);
    cg_buf_puts(out, "};\n\n");
}

void cg_emit_state_weights(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *name) {
    cg_buf_printf(out,
                  "/* The non-trainable state (batch_norm's moving statistics), compiled in\n"
                  " * with the parameters: nothing trains it in an inference build. */\n"
                  "static const float %s[%lld] = {\n",
                  name, (long long)layout->state_floats);
    for (int i = 0; i < model->node_count; i++)
        tensor_values(out, layout->weights, model->nodes[i]->state, model->nodes[i]->state_count);
    cg_buf_puts(out, "};\n\n");
}
