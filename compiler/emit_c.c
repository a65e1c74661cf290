/* The two files of a model: the header (its API with the model's shapes in
 * the C types) and the source: tables that describe the model to libtdlrt
 * (parameters, inputs, descriptors, the arena layout), one pass function
 * per entry point printed from its steps, and thin wrappers that hand the
 * tables to the runtime (runtime/src/model.c), which does what is the same
 * for every model. Output is byte-identical for identical input: no
 * timestamps, no absolute paths, no iteration over unordered containers.
 * Every name from the model goes through the mangler (names.c), and every
 * text in a comment or string literal through the escapers (cbuf.c). */
#include <stdlib.h>
#include <string.h>

#include <tdl/runtime.h>

#include "cg.h"

/* --- Names ---------------------------------------------------------------------- */

char *cg_model_prefix(const checked_model *model) {
    return cg_mangle(model->name);
}

/* What the two files call things, made once per model. */
typedef struct names {
    char *prefix;         /* tiny */
    char *upper;          /* TINY */
    char **inputs;        /* C parameter of each model input */
    char **outputs;       /* C parameter of each output */
    char **input_macros;  /* TINY_IMAGE: stems of the shape macros */
    char **output_macros;
    char **fields;        /* metrics struct: losses then metrics */
} names;

static bool in_list(char *const *list, int count, const char *s) {
    for (int i = 0; i < count; i++)
        if (list[i] && strcmp(list[i], s) == 0) return true;
    return false;
}

/* A macro stem that no other input or output of the model has: capitals
 * can make two names one (x and X), so a repeat gets its position. */
static char *unique_macro(const char *upper_prefix, const char *name, char *const *taken, int count, int index) {
    char *mangled = cg_mangle(name);
    char *upper = cg_upper(mangled);
    char *stem = cg_join(upper_prefix, upper);
    if (in_list(taken, count, stem)) {
        char *numbered = cg_strf("%s%s%d", stem, stem[strlen(stem) - 1] == '_' ? "" : "_", index);
        free(stem);
        stem = numbered;
    }
    free(upper);
    free(mangled);
    return stem;
}

/* A parameter name must not be the model's type (m1, m1_metrics) or an
 * earlier parameter: such a name gets "_in"/"_out" until it is free. */
static char *parameter_name(const names *nm, const char *name, const char *suffix, char **inputs, int ni,
                            char **outputs, int no) {
    char *c = cg_mangle(name);
    char *metrics = cg_join(nm->prefix, "metrics");
    while (strcmp(c, nm->prefix) == 0 || strcmp(c, metrics) == 0 || in_list(inputs, ni, c) || in_list(outputs, no, c)) {
        char *longer = cg_join(c, suffix);
        free(c);
        c = longer;
    }
    free(metrics);
    return c;
}

static void names_make(names *nm, const checked_model *model) {
    nm->prefix = cg_model_prefix(model);
    nm->upper = cg_upper(nm->prefix);
    int ni = model->input_count, no = model->output_count;
    nm->inputs = tsc_xcalloc((size_t)ni + 1, sizeof *nm->inputs);
    nm->outputs = tsc_xcalloc((size_t)no + 1, sizeof *nm->outputs);
    char **macros = tsc_xcalloc((size_t)(ni + no) + 1, sizeof *macros);
    for (int i = 0; i < ni; i++) {
        nm->inputs[i] = parameter_name(nm, model->inputs[i]->layer_name, "in", nm->inputs, i, NULL, 0);
        macros[i] = unique_macro(nm->upper, model->inputs[i]->layer_name, macros, i, i);
    }
    for (int i = 0; i < no; i++) {
        /* An output named like an input (`output image;`) is image_out. */
        nm->outputs[i] = parameter_name(nm, model->outputs[i].name, "out", nm->inputs, ni, nm->outputs, i);
        macros[ni + i] = unique_macro(nm->upper, model->outputs[i].name, macros, ni + i, ni + i);
    }
    nm->input_macros = macros;
    nm->output_macros = macros + ni;
    int nf = model->loss_count + model->metric_count;
    nm->fields = tsc_xcalloc((size_t)nf + 1, sizeof *nm->fields);
    for (int i = 0; i < model->loss_count; i++) nm->fields[i] = cg_mangle(model->losses[i].name);
    for (int i = 0; i < model->metric_count; i++)
        nm->fields[model->loss_count + i] = cg_mangle(model->metrics[i].name);
}

static void names_free(names *nm, const checked_model *model) {
    for (int i = 0; i < model->input_count; i++) free(nm->inputs[i]);
    for (int i = 0; i < model->output_count; i++) free(nm->outputs[i]);
    for (int i = 0; i < model->input_count + model->output_count; i++) free(nm->input_macros[i]);
    for (int i = 0; i < model->loss_count + model->metric_count; i++) free(nm->fields[i]);
    free(nm->inputs);
    free(nm->outputs);
    free(nm->input_macros);
    free(nm->fields);
    free(nm->upper);
    free(nm->prefix);
}

/* --- Small printers ----------------------------------------------------------------- */

static const char *c_scalar(tsc_dtype dtype) {
    return dtype == TSC_DTYPE_I32 ? "int32_t" : "float";
}

/* "const float image[][28][28][1]": the shape in the C type, the batch open. */
static void array_param(cg_buf *out, const tsc_type *type, const char *qualifier, const char *name) {
    cg_buf_printf(out, "%s%s %s", qualifier, c_scalar(type->dtype), name);
    for (int i = 0; i < type->rank; i++) {
        if (type->dims[i] == TSC_DIM_BATCH) cg_buf_puts(out, "[]");
        else cg_buf_printf(out, "[%lld]", (long long)type->dims[i]);
    }
    if (type->rank == 0) cg_buf_puts(out, "[1]");
}

/* Text that is the same for every model but its name: each '$' becomes the
 * prefix ('$' appears nowhere else in generated C). */
static void template_text(cg_buf *out, const char *text, const char *prefix) {
    for (const char *dollar; (dollar = strchr(text, '$')) != NULL; text = dollar + 1) {
        cg_buf_putn(out, text, (size_t)(dollar - text));
        cg_buf_puts(out, prefix);
    }
    cg_buf_puts(out, text);
}

static void string_literal(cg_buf *out, const char *text) {
    cg_buf_putc(out, '"');
    cg_buf_c_string(out, text);
    cg_buf_putc(out, '"');
}

/* "\"tiny_forward\"" */
static void function_name_literal(cg_buf *out, const names *nm, const char *function) {
    char *name = cg_join(nm->prefix, function);
    string_literal(out, name);
    free(name);
}

/* The model that a model is emitted with. */
typedef struct model_emit {
    const checked_model *model;
    const cg_layout *layout;
    const char *source_name;
    names nm;
    char *weights_name;   /* the compiled-in weights array (NULL: the parameters are in the arena) */
    char *state_name;     /* the compiled-in state array (NULL: the state, if any, is in the arena) */
} model_emit;

static bool input_is_live(const cg_program *p, int input) {
    return p && p->live[p->model->inputs[input]->index];
}

/* ", const float image[][28][28][1], const int32_t label[]" */
static void input_params(cg_buf *out, const model_emit *me, cg_mode mode) {
    const cg_program *p = me->layout->programs[mode];
    for (int i = 0; i < me->model->input_count; i++) {
        if (!input_is_live(p, i)) continue;
        cg_buf_puts(out, ", ");
        array_param(out, &me->model->inputs[i]->type, "const ", me->nm.inputs[i]);
    }
}

static void output_params(cg_buf *out, const model_emit *me) {
    for (int i = 0; i < me->model->output_count; i++) {
        cg_buf_puts(out, ", ");
        array_param(out, &me->model->outputs[i].node->type, "", me->nm.outputs[i]);
    }
}

/* "    const void *inputs[2] = {image, NULL};": every model input by position. */
static void inputs_array(cg_buf *out, const model_emit *me, cg_mode mode) {
    const cg_program *p = me->layout->programs[mode];
    int count = me->model->input_count;
    cg_buf_printf(out, "    const void *inputs[%d] = {", count > 0 ? count : 1);
    for (int i = 0; i < count; i++) cg_buf_printf(out, "%s%s", i ? ", " : "", input_is_live(p, i) ? me->nm.inputs[i] : "NULL");
    if (count == 0) cg_buf_puts(out, "NULL");
    cg_buf_puts(out, "};\n");
}

/* --- The header -------------------------------------------------------------------------- */

static void shape_macros(cg_buf *out, const char *stem, const char *name, const tsc_type *type, const char *what,
                         const char *batch_symbol) {
    char *text = cg_type_text(type, batch_symbol);
    int64_t per_sample = 0;
    tsc_type_elements(type, 1, tsc_type_has_batch(type) ? 1 : 0, &per_sample);
    cg_buf_printf(out, "/* %s ", what);
    cg_buf_comment(out, name);
    cg_buf_puts(out, ": ");
    cg_buf_comment(out, text);
    cg_buf_puts(out, " */\n");
    free(text);
    char *rank = cg_join(stem, "RANK");
    cg_buf_printf(out, "#define %s %d\n", rank, type->rank);
    free(rank);
    for (int i = 0; i < type->rank; i++)
        if (type->dims[i] != TSC_DIM_BATCH) {
            char *d = cg_strf("DIM%d", i);
            char *macro = cg_join(stem, d);
            cg_buf_printf(out, "#define %s %lld\n", macro, (long long)type->dims[i]);
            free(macro);
            free(d);
        }
    char *size = cg_join(stem, tsc_type_has_batch(type) ? "SAMPLE_SIZE" : "SIZE");
    cg_buf_printf(out, "#define %s %lld\n", size, (long long)per_sample);
    free(size);
}

static void prototypes(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const checked_model *model = me->model;
    const cg_layout *l = me->layout;
    template_text(out, "typedef struct $ $; /* opaque */\n\n", p);
    if (l->has_eval) {
        template_text(out, "/* One float per loss and metric, named as in the model. */\ntypedef struct $_metrics {\n", p);
        for (int i = 0; i < model->loss_count + model->metric_count; i++)
            cg_buf_printf(out, "    float %s;\n", me->nm.fields[i]);
        cg_buf_printf(out, "} %s_metrics;\n\n", p);
    }

    /* What the arena holds, as the build made it. */
    const char *contents = l->has_train ? "parameters, gradients, optimizer state and activations"
                           : l->weights ? "activations (the weights are compiled in)"
                                        : "parameters and activations";
    cg_buf_printf(out, "/* The only allocation: %s\n", contents);
    template_text(out,
                  " * for up to max_batch examples. NULL (see tdl_last_error()) when max_batch < 1,\n"
                  " * the arena would not fit in size_t, or the memory is not there.",
                  p);
    if (!l->weights) template_text(out, " Weights start\n * as $_init(m, 0) makes them.", p);
    template_text(out,
                  " */\n"
                  "$ *$_create(int max_batch);\n"
                  "/* Bytes $_create_in needs for max_batch (0 if max_batch is out of range). */\n"
                  "size_t $_arena_size(int max_batch);\n"
                  "/* The same in the caller's memory: 64-byte aligned, at least $_arena_size(max_batch) bytes. */\n"
                  "$ *$_create_in(void *arena, size_t bytes, int max_batch);\n"
                  "void $_destroy($ *m);\n",
                  p);
    /* Compiled-in weights are const: nothing initialises, loads or saves them. */
    if (!l->weights)
        template_text(out,
                      l->has_train ? "/* Each weight as its layer's initializer says (Keras' defaults: glorot_uniform\n"
                                     " * kernels, zero biases), from the seed; resets the optimizer. */\n"
                                   : "/* Each weight as its layer's initializer says (Keras' defaults: glorot_uniform\n"
                                     " * kernels, zero biases), from the seed. */\n",
                      p);
    if (!l->weights)
        template_text(out,
                      "void $_init($ *m, uint64_t seed);\n"
                      "/* Weights as safetensors, names as in the model (conv2d_1.kernel), with the\n"
                      " * non-trainable state (batch_norm_1.moving_mean). All or nothing. */\n"
                      "tdl_status $_load($ *m, const char *path);\n"
                      "tdl_status $_save(const $ *m, const char *path);\n"
                      "/* The parameters as one contiguous block of *count floats, tensor after tensor\n"
                      " * in the model's order (for broadcasts between processes). */\n"
                      "float *$_parameters($ *m, size_t *count);\n"
                      "/* The non-trainable state (batch_norm's moving statistics) as one block of\n"
                      " * *count floats; NULL and 0 when the model has none. */\n"
                      "float *$_state($ *m, size_t *count);\n",
                      p);
    /* A model that declares no output has nothing to forward: no
     * NAME_forward, rather than one that takes nothing and returns nothing. */
    if (me->model->output_count > 0) {
        cg_buf_puts(out, "/* The inputs the outputs depend on, then the outputs; a NULL output is skipped. */\n");
        cg_buf_printf(out, "tdl_status %s_forward(%s *m, int batch", p, p);
        input_params(out, me, CG_MODE_INFER);
        output_params(out, me);
        cg_buf_puts(out, ");\n");
    }
    if (l->has_eval) {
        cg_buf_puts(out, "/* Every loss and metric on one batch (dropout off). */\n");
        cg_buf_printf(out, "tdl_status %s_evaluate(%s *m, int batch", p, p);
        input_params(out, me, CG_MODE_EVAL);
        cg_buf_printf(out, ", %s_metrics *out);\n", p);
    }
    if (!l->has_train) return;
    cg_buf_puts(out, "/* One optimizer step; *loss (if not NULL) gets the loss before the update,\n"
                     " * the weighted sum of the model's losses. A loss or gradient that is not\n"
                     " * finite is TDL_STATUS_NOT_FINITE and changes nothing. */\n");
    cg_buf_printf(out, "tdl_status %s_train_step(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ", float *loss);\n"
                     "/* Compares the generated backward pass with central finite differences along\n"
                     " * random directions per parameter tensor; returns the worst tensor's relative\n"
                     " * error beyond float rounding noise (negative on error, see tdl_last_error()).\n"
                     " * The model is left unchanged. */\n");
    cg_buf_printf(out, "double %s_gradcheck(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ");\n/* The learning rate of every later update (a schedule declared in the model is\n"
                     " * off until init); a negative or non-finite rate is TDL_STATUS_BAD_ARGUMENT. */\n");
    cg_buf_printf(out, "tdl_status %s_set_learning_rate(%s *m, float learning_rate);\n", p, p);
    cg_buf_puts(out, "/* The whole training state (parameters, non-trainable state, optimizer slots,\n"
                     " * step count, learning rate, dropout stream) in one safetensors file, for an\n"
                     " * exact resume: training on after load_state is bit for bit training on\n"
                     " * without the pause. A file of another model or a damaged one is an error\n"
                     " * and changes nothing. */\n");
    template_text(out,
                  "tdl_status $_save_state(const $ *m, const char *path);\n"
                  "tdl_status $_load_state($ *m, const char *path);\n",
                  p);
    cg_buf_printf(out, "/* train_step in two halves, for data-parallel training (docs/distributed.md):\n"
                       " * the gradients of one batch into the block %s_gradients returns, with no\n"
                       " * update; then, after the processes have summed that block, one optimizer\n"
                       " * step on the gradients times scale. train_step is compute_gradients then\n"
                       " * apply_gradients(m, 1), bit for bit. A loss or gradient that is not finite\n"
                       " * is TDL_STATUS_NOT_FINITE; apply_gradients then updates nothing. */\n",
                  p);
    cg_buf_printf(out, "tdl_status %s_compute_gradients(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ", float *loss);\n");
    cg_buf_printf(out, "tdl_status %s_apply_gradients(%s *m, float scale);\n", p, p);
    cg_buf_printf(out, "float *%s_gradients(%s *m, size_t *count);\n", p, p);
}

static void banner(cg_buf *out, const char *source_name) {
    cg_buf_printf(out, "/* Generated by tsc %s from ", TSC_VERSION);
    cg_buf_comment(out, source_name);
    cg_buf_puts(out, ". Do not edit. */\n");
}

static void emit_header(cg_buf *out, const model_emit *me) {
    const char *upper = me->nm.upper;
    /* The model's own spelling, not capitals: the guard of model m1 must not
     * be a name of model M1_H (which a plain M1_H guard would be). The
     * trailing "_H_" ends no other generated name. */
    char *guard = cg_join(me->nm.prefix, "H_");
    banner(out, me->source_name);
    cg_buf_printf(out, "#ifndef %s\n#define %s\n\n", guard, guard);
    cg_buf_puts(out, "#include <stddef.h>\n#include <stdint.h>\n\n#include <tdl/runtime.h>\n\n");
    cg_buf_printf(out, "#if TDL_RUNTIME_ABI != %d\n#error \"", TDL_RUNTIME_ABI);
    char *message = cg_strf("%s.h was generated for libtdlrt ABI %d: regenerate it with tsc %s", me->nm.prefix,
                            TDL_RUNTIME_ABI, TSC_VERSION);
    cg_buf_c_string(out, message);
    free(message);
    cg_buf_puts(out, "\"\n#endif\n\n#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    const checked_model *model = me->model;
    for (int i = 0; i < model->input_count; i++)
        shape_macros(out, me->nm.input_macros[i], model->inputs[i]->layer_name, &model->inputs[i]->type, "input",
                     model->batch_symbol);
    for (int i = 0; i < model->output_count; i++)
        shape_macros(out, me->nm.output_macros[i], model->outputs[i].name, &model->outputs[i].node->type, "output",
                     model->batch_symbol);
    cg_buf_printf(out, "/* trainable parameters */\n#define %s_PARAM_COUNT %lld\n", upper,
                  (long long)me->layout->param_floats);
    cg_buf_printf(out, "/* non-trainable state */\n#define %s_STATE_COUNT %lld\n\n", upper,
                  (long long)me->layout->state_floats);
    prototypes(out, me);
    cg_buf_printf(out, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s */\n", guard);
    free(guard);
}

/* --- Pass functions: the body of an entry point ------------------------------------------ */

/* Whether node n's backward runs in this pass and writes its parameters'
 * gradients whole (tdl_dense_train_backward), so they need no zeroing. */
static bool gradients_written_whole(const cg_program *p, const checked_node *n) {
    if (n->op != TSC_OP_DENSE) return false;
    for (int s = 0; s < p->step_count; s++)
        if (p->steps[s].kind == CG_STEP_BACKWARD && p->steps[s].node == n) return true;
    return false;
}

/* The start of the backward: the gradients that the layers add into are
 * zeroed, in runs of adjacent tensors; those written whole are not. */
static void zero_added_gradients(cg_emitter *e) {
    const cg_program *p = e->program;
    int64_t run_begin = 0, run_end = 0;
    for (int i = 0; i < p->model->node_count; i++) {
        const checked_node *n = p->model->nodes[i];
        int64_t floats = 0;
        for (int k = 0; k < n->param_count; k++) {
            int64_t count = 0;
            tsc_type_elements(&n->params[k].type, 1, 0, &count);
            floats += count;
        }
        if (floats == 0 || gradients_written_whole(p, n)) continue;
        const int64_t offset = e->param_offsets[n->index];
        if (offset != run_end) {
            if (run_end > run_begin)
                cg_line(e, "    tdl_zero(m->grads + %lld, %lld);\n", (long long)run_begin,
                        (long long)(run_end - run_begin));
            run_begin = offset;
        }
        run_end = offset + floats;
    }
    if (run_end > run_begin)
        cg_line(e, "    tdl_zero(m->grads + %lld, %lld);\n", (long long)run_begin, (long long)(run_end - run_begin));
}

/* Where a forward slice's first example starts in a tensor of `type`:
 * "(size_t)first * <elements per example>", or "0" for a tensor without
 * the batch (which a sliced forward never has; forward_in_slices). */
static const char *first_example_offset(cg_emitter *e, const tsc_type *type) {
    int64_t elements = 0;
    if (!tsc_type_has_batch(type)) return "0";
    bool ok = tsc_type_elements(type, 1, 1, &elements);
    TSC_ASSERT(ok);
    return cg_fmt(e, "(size_t)first * %lld", (long long)elements);
}

/* The steps that are not an op's: the total loss and the results. */
static void print_special_step(cg_emitter *e, const cg_step *step) {
    const checked_model *model = e->program->model;
    cg_program *p = e->program;
    if (step->kind == CG_STEP_TOTAL_LOSS) {
        cg_line(e, "    *total_loss = 0.0f");
        for (int i = 0; i < model->loss_count; i++)
            cg_line(e, " + %s * %s[0]", cg_float(e, model->losses[i].weight),
                    cg_use(e, cg_buffers_of(p, model->losses[i].node)->value));
        cg_line(e, ";\n    if (!with_backward) return TDL_STATUS_OK;\n");
        zero_added_gradients(e);
        return;
    }
    if (p->mode == CG_MODE_INFER) {
        for (int i = 0; i < model->output_count; i++) {
            const checked_output *o = &model->outputs[i];
            const char *v = cg_use(e, cg_buffers_of(p, o->node)->value);
            const char *scalar = c_scalar(o->node->type.dtype);
            cg_line(e, "    if (out[%d]) memcpy((%s *)out[%d] + %s, %s, %s * sizeof(%s));\n", i, scalar, i,
                    first_example_offset(e, &o->node->type), v, cg_type_count(e, &o->node->type), scalar);
        }
    } else if (p->mode == CG_MODE_EVAL) {
        for (int i = 0; i < model->loss_count; i++)
            cg_line(e, "    out->%s = %s[0];\n", e->fields[i], cg_use(e, cg_buffers_of(p, model->losses[i].node)->value));
        for (int i = 0; i < model->metric_count; i++)
            cg_line(e, "    out->%s = %s[0];\n", e->fields[model->loss_count + i],
                    cg_use(e, cg_buffers_of(p, model->metrics[i].node)->value));
    }
}

/* The declaration of a buffer as a local pointer.
 *
 * The forward (infer pass) computes the examples [first, first + batch) of
 * the call, which may be a slice of it (forward_in_slices): it reads its
 * inputs from example `first` on, and its activations lie in the slice's
 * own part of the activation region, batch * act_per_sample floats from
 * first * act_per_sample, each buffer at batch times its offset per
 * example. Buffers whose lifetimes do not overlap share memory, and two
 * slices run their steps at the same time, so each slice has a part of
 * its own rather than its rows of every buffer. The other passes see the
 * whole batch from example 0, each buffer at max_batch times its offset. */
static void declare_buffer(cg_buf *out, const cg_program *p, int b) {
    const cg_buffer *buf = &p->buffers[b];
    const cg_buffer *root = &p->buffers[cg_buffer_root(p, b)];
    const char *type = buf->is_int ? "int32_t" : "float";
    const bool slice = p->mode == CG_MODE_INFER;
    if (buf->input_index >= 0) {
        cg_buf_printf(out, "    const %s *%s = (const %s *)in[%d]", type, buf->c_name, type, buf->input_index);
        if (slice && buf->batched) cg_buf_printf(out, " + (size_t)first * %lld", (long long)buf->elements);
        cg_buf_puts(out, ";\n");
    } else if (buf->alias_of >= 0) {
        cg_buf_printf(out, "    %s%s *%s = %s;\n", root->input_index >= 0 ? "const " : "", type, buf->c_name,
                      p->buffers[buf->alias_of].c_name);
    } else {
        char *where = !buf->batched ? cg_strf("m->fixed + %lld", (long long)buf->offset)
                      : slice       ? cg_strf("m->activations + (size_t)first * %lld + (size_t)batch * %lld",
                                              (long long)p->batched_floats, (long long)buf->offset)
                                    : cg_strf("m->activations + (size_t)m->max_batch * %lld", (long long)buf->offset);
        if (buf->is_int) cg_buf_printf(out, "    int32_t *%s = (int32_t *)(void *)(%s);\n", buf->c_name, where);
        else cg_buf_printf(out, "    float *%s = %s;\n", buf->c_name, where);
        free(where);
    }
}

static const char *const pass_names[CG_MODE_COUNT] = {"infer_pass", "eval_pass", "train_pass"};

static void emit_pass_function(cg_buf *out, const model_emit *me, cg_mode mode) {
    cg_program *p = me->layout->programs[mode];
    const char *prefix = me->nm.prefix;
    if (mode == CG_MODE_INFER) {
        /* tdl_model_infer_pass: the examples [first, first + batch), with its own workspace. */
        cg_buf_printf(out,
                      "static tdl_status %s_%s(tdl_model *m, int first, int batch, const void *const *in, "
                      "void *const *out, float *workspace) {\n",
                      prefix, pass_names[mode]);
    } else {
        cg_buf_printf(out, "static tdl_status %s_%s(tdl_model *m, int batch, const void *const *in", prefix,
                      pass_names[mode]);
        if (mode == CG_MODE_EVAL) cg_buf_printf(out, ", %s_metrics *out", prefix);
        if (mode == CG_MODE_TRAIN) cg_buf_puts(out, ", float *total_loss, int with_backward");
        cg_buf_puts(out, ") {\n    float *workspace = m->workspace;\n");
    }
    cg_buf_puts(out, "    tdl_status status = TDL_STATUS_OK;\n");
    /* Every buffer a step lists, and what a view of it points into: known
     * from the steps, before any of them is printed. */
    bool *declared = tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *declared);
    for (int i = 0; i < p->operand_count; i++)
        for (int b = p->operands[i].buffer; b >= 0; b = p->buffers[b].alias_of) declared[b] = true;
    for (int b = 0; b < p->buffer_count; b++)
        if (declared[b]) declare_buffer(out, p, b);
    free(declared);
    cg_buf_puts(out, "    (void)m;\n    (void)batch;\n    (void)in;\n    (void)status;\n    (void)workspace;\n");
    if (mode == CG_MODE_INFER) cg_buf_puts(out, "    (void)first;\n");
    if (mode != CG_MODE_TRAIN) cg_buf_puts(out, "    (void)out;\n");
    cg_emitter e = {.out = out, .program = p, .prefix = prefix, .source_name = me->source_name,
                    .param_offsets = me->layout->param_offsets, .state_offsets = me->layout->state_offsets,
                    .fields = me->nm.fields, .params_base = me->weights_name, .state_base = me->state_name,
                    .type_texts = me->layout->type_texts};
    cg_emit_steps(&e, print_special_step);
    cg_buf_puts(out, "    return TDL_STATUS_OK;\n");
    if (e.failed_status) cg_buf_puts(out, "fail:\n    return status;\n");
    cg_buf_puts(out, "}\n\n");
}

/* --- Tables --------------------------------------------------------------------------------- */

/* The runtime's name of each initializer, by checked_param_init. */
static const char *const initializer_names[TSC_INIT_COUNT] = {
    [TSC_INIT_GLOROT_UNIFORM] = "TDL_INIT_GLOROT_UNIFORM", [TSC_INIT_GLOROT_NORMAL] = "TDL_INIT_GLOROT_NORMAL",
    [TSC_INIT_HE_UNIFORM] = "TDL_INIT_HE_UNIFORM",         [TSC_INIT_HE_NORMAL] = "TDL_INIT_HE_NORMAL",
    [TSC_INIT_LECUN_UNIFORM] = "TDL_INIT_LECUN_UNIFORM",   [TSC_INIT_LECUN_NORMAL] = "TDL_INIT_LECUN_NORMAL",
    [TSC_INIT_ZEROS] = "TDL_INIT_ZEROS",                   [TSC_INIT_ONES] = "TDL_INIT_ONES",
};

static void param_table(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    cg_buf_printf(out, "/* Every trainable tensor: its key in the weight file, where it lives in\n"
                       " * m->params, its shape and how it starts. */\n"
                       "static const tdl_param_info %s_params[%s_PARAM_TENSORS + 1] = {\n",
                  p, me->nm.upper);
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        int64_t offset = me->layout->param_offsets[i];
        for (int k = 0; k < n->param_count; k++) {
            const checked_param *prm = &n->params[k];
            int64_t count = 0;
            tsc_type_elements(&prm->type, 1, 0, &count);
            cg_buf_puts(out, "    {");
            string_literal(out, prm->name);
            cg_buf_printf(out, ", %lld, %lld, %d, {", (long long)offset, (long long)count, prm->type.rank);
            for (int d = 0; d < prm->type.rank; d++)
                cg_buf_printf(out, "%s%lld", d ? ", " : "", (long long)prm->type.dims[d]);
            cg_buf_printf(out, "}, %s, %lld, %lld},\n", initializer_names[prm->init], (long long)prm->fan_in,
                          (long long)prm->fan_out);
            offset += count;
        }
    }
    cg_buf_puts(out, "    {NULL, 0, 0, 0, {0}, TDL_INIT_ZEROS, 0, 0}};\n\n");
}

/* The non-trainable tensors in m->state order. A batch_norm that train_step
 * does not compute (no loss depends on it) gets momentum 1: it keeps its
 * statistics, as nothing would refresh the batch's. */
static void state_table(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const cg_program *train = me->layout->programs[CG_MODE_TRAIN];
    cg_buf_printf(out, "/* Every non-trainable tensor: its key in the weight file, where it lives in\n"
                       " * m->state, its shape, how it starts and its momentum. */\n"
                       "static const tdl_state_info %s_state_tensors[%s_STATE_TENSORS + 1] = {\n",
                  p, me->nm.upper);
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        int64_t offset = me->layout->state_offsets[i];
        bool updated = train && train->live[i];
        for (int k = 0; k < n->state_count; k++) {
            const checked_param *s = &n->state[k];
            int64_t count = 0;
            tsc_type_elements(&s->type, 1, 0, &count);
            cg_buf_puts(out, "    {");
            string_literal(out, s->name);
            cg_buf_printf(out, ", %lld, %lld, %d, {", (long long)offset, (long long)count, s->type.rank);
            for (int d = 0; d < s->type.rank; d++)
                cg_buf_printf(out, "%s%lld", d ? ", " : "", (long long)s->type.dims[d]);
            char *momentum = cg_float_literal(updated ? n->attrs.momentum : 1.0);
            cg_buf_printf(out, "}, %s, %lld, %lld, %s},\n", initializer_names[s->init], (long long)s->fan_in,
                          (long long)s->fan_out, momentum);
            free(momentum);
            offset += count;
        }
    }
    cg_buf_puts(out, "    {NULL, 0, 0, 0, {0}, TDL_INIT_ZEROS, 0, 0, 0.0f}};\n\n");
}

static void input_table(cg_buf *out, const model_emit *me) {
    static const unsigned entry_bits[CG_MODE_COUNT] = {TDL_MODEL_FORWARD, TDL_MODEL_EVALUATE, TDL_MODEL_TRAIN};
    int count = me->model->input_count;
    cg_buf_printf(out, "/* The inputs, and which entry points read each (tdl_model_entry bits). */\n"
                       "static const tdl_model_input %s_inputs[%d] = {\n",
                  me->nm.prefix, count + 1);
    for (int i = 0; i < count; i++) {
        unsigned entries = 0;
        for (int mode = 0; mode < CG_MODE_COUNT; mode++)
            if (input_is_live(me->layout->programs[mode], i)) entries |= entry_bits[mode];
        cg_buf_puts(out, "    {");
        string_literal(out, me->model->inputs[i]->layer_name);
        cg_buf_printf(out, ", %uu},\n", entries);
    }
    cg_buf_puts(out, "    {NULL, 0u}};\n\n");
}

static void workspace_function(cg_buf *out, const model_emit *me) {
    cg_buf_printf(out, "/* Floats of kernel scratch for this batch size. */\n"
                       "static size_t %s_workspace_floats(int max_batch) {\n    size_t need = 0;\n",
                  me->nm.prefix);
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        size_t (*floats)(const checked_node *, int);
        const char *function;
        if (!cg_workspace_query(me->layout, n, &floats, &function)) continue;
        char *desc = cg_desc_name(me->nm.prefix, n);
        cg_buf_printf(out, "    if (%s(&%s, max_batch) > need) need = %s(&%s, max_batch);\n", function, desc,
                      function, desc);
        free(desc);
    }
    cg_buf_puts(out, "    (void)max_batch;\n    return need;\n}\n\n");
}

static bool forward_in_slices(const cg_program *p);

/* What a slice of `batch` examples of the forward needs (forward_in_slices):
 * the forward kernels' scratch of the nodes the forward computes, as an
 * inference build sizes its whole workspace. */
static void forward_workspace_function(cg_buf *out, const model_emit *me) {
    const cg_program *forward = me->layout->programs[CG_MODE_INFER];
    cg_buf_printf(out, "/* Floats of kernel scratch for a forward of this many examples. */\n"
                       "static size_t %s_forward_workspace_floats(int batch) {\n    size_t need = 0;\n",
                  me->nm.prefix);
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        const cg_op_lowering *row = cg_lowering_of(n);
        if (!forward->live[n->index] || !row->forward_workspace_function) continue;
        char *desc = cg_desc_name(me->nm.prefix, n);
        cg_buf_printf(out, "    if (%s(&%s, batch) > need) need = %s(&%s, batch);\n", row->forward_workspace_function,
                      desc, row->forward_workspace_function, desc);
        free(desc);
    }
    cg_buf_puts(out, "    (void)batch;\n    return need;\n}\n\n");
}

/* "{0.01f, 0.9f, …}": the optimizer's settings as a runtime config. */
static void float_list(cg_buf *out, const double *values, int count) {
    cg_buf_putc(out, '{');
    for (int i = 0; i < count; i++) {
        char *literal = cg_float_literal(values[i]);
        cg_buf_printf(out, "%s%s", i ? ", " : "", literal);
        free(literal);
    }
    cg_buf_putc(out, '}');
}

static const char *optimizer_enum(const checked_optimizer *o, bool trains) {
    if (!trains) return "TDL_OPTIMIZER_NONE";
    switch (o->op) {
    case TSC_OP_ADAM:
    case TSC_OP_ADAMW: return "TDL_OPTIMIZER_ADAM";
    case TSC_OP_RMSPROP: return "TDL_OPTIMIZER_RMSPROP";
    default: return "TDL_OPTIMIZER_SGD";
    }
}

/* A piecewise schedule's boundaries and values as static arrays the info
 * table points to (nothing for the other schedules). */
static void schedule_arrays(cg_buf *out, const model_emit *me, const checked_schedule *s) {
    if (!s || s->op != TSC_OP_PIECEWISE_CONSTANT_DECAY) return;
    cg_buf_printf(out, "static const int64_t %s_schedule_boundaries[%d] = {", me->nm.prefix,
                  s->boundary_count > 0 ? s->boundary_count : 1);
    for (int i = 0; i < s->boundary_count; i++)
        cg_buf_printf(out, "%s%lld", i ? ", " : "", (long long)s->boundaries[i]);
    if (s->boundary_count == 0) cg_buf_puts(out, "0");
    cg_buf_printf(out, "};\nstatic const float %s_schedule_values[%d] = ", me->nm.prefix, s->boundary_count + 1);
    float_list(out, s->values, s->boundary_count + 1);
    cg_buf_puts(out, ";\n\n");
}

/* tdl_lr_schedule: kind, initial rate, decay_steps, decay_rate, staircase,
 * alpha, warmup, warmup_target, warmup_steps, boundary count, boundaries, values. */
static void schedule_initializer(cg_buf *out, const model_emit *me, const checked_schedule *s) {
    if (!s) {
        cg_buf_puts(out, "{TDL_SCHEDULE_CONSTANT, 0.0f, 0, 0.0f, false, 0.0f, false, 0.0f, 0, 0, NULL, NULL}");
        return;
    }
    const char *kind = s->op == TSC_OP_EXPONENTIAL_DECAY          ? "TDL_SCHEDULE_EXPONENTIAL_DECAY"
                       : s->op == TSC_OP_PIECEWISE_CONSTANT_DECAY ? "TDL_SCHEDULE_PIECEWISE_CONSTANT"
                                                                  : "TDL_SCHEDULE_COSINE_DECAY";
    char *initial = cg_float_literal(s->initial_learning_rate), *rate = cg_float_literal(s->decay_rate);
    char *alpha = cg_float_literal(s->alpha), *target = cg_float_literal(s->warmup_target);
    cg_buf_printf(out, "{%s, %s, %lld, %s, %s, %s, %s, %s, %lld, %d, ", kind, initial, (long long)s->decay_steps,
                  rate, s->staircase ? "true" : "false", alpha, s->warmup ? "true" : "false", target,
                  (long long)s->warmup_steps, s->boundary_count);
    if (s->op == TSC_OP_PIECEWISE_CONSTANT_DECAY)
        cg_buf_printf(out, "%s_schedule_boundaries, %s_schedule_values}", me->nm.prefix, me->nm.prefix);
    else
        cg_buf_puts(out, "NULL, NULL}");
    free(initial);
    free(rate);
    free(alpha);
    free(target);
}

/* The forward's multiply-adds per example over the parameter floats of the
 * nodes it computes (0 without any): a dense layer's are 1, a
 * convolution's its output pixels. */
static double forward_macs_per_param(const cg_program *forward) {
    double macs = 0, params = 0;
    if (forward == NULL) return 0;
    const checked_model *model = forward->model;
    for (int i = 0; i < model->node_count; i++) {
        const checked_node *n = model->nodes[i];
        if (!forward->live[n->index]) continue;
        macs += (double)n->macs_per_example;
        for (int k = 0; k < n->param_count; k++) {
            int64_t count = 0;
            if (tsc_type_elements(&n->params[k].type, 1, 0, &count)) params += (double)count;
        }
    }
    return params > 0 ? macs / params : 0;
}

static void info_table(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const cg_layout *l = me->layout;
    tdl_model_layout rl;
    cg_layout_runtime(l, &rl);
    const checked_optimizer *o = l->has_train ? me->model->optimizer : NULL;
    const checked_optimizer none = {0};
    if (!o) o = &none;
    schedule_arrays(out, me, o->schedule);
    cg_buf_printf(out, "/* The model as libtdlrt sees it. */\nstatic const tdl_model_info %s_info = {\n    ", p);
    string_literal(out, p);
    cg_buf_printf(out, ",\n    {%zu, %zu, %d, %zu, %zu, %zu, %zu}, /* floats: parameters, gradients, optimizer slots, "
                       "activations per example, fixed, state, batch statistics */\n",
                  rl.param_floats, rl.grad_floats, rl.optimizer_slots, rl.act_per_sample, rl.act_fixed,
                  rl.state_floats, rl.batch_state_floats);
    template_text(out, "    $_workspace_floats,\n", p);
    /* Compiled-in weights are no business of the runtime: no parameters to
     * place, initialise, load or save. */
    if (l->weights) cg_buf_puts(out, "    NULL, 0, /* the parameters are compiled in */\n");
    else cg_buf_printf(out, "    %s_params, %s_PARAM_TENSORS,\n", p, me->nm.upper);
    if (l->weights) cg_buf_puts(out, "    NULL, 0, /* the state is compiled in */\n");
    else cg_buf_printf(out, "    %s_state_tensors, %s_STATE_TENSORS,\n", p, me->nm.upper);
    cg_buf_printf(out, "    %s_inputs, %d,\n    %s,\n    ", p, me->model->input_count,
                  optimizer_enum(o, l->has_train));
    /* tdl_sgd_config: learning rate, momentum, nesterov, weight decay */
    char *lr = cg_float_literal(o->learning_rate), *momentum = cg_float_literal(o->momentum);
    char *decay = cg_float_literal(o->weight_decay);
    cg_buf_printf(out, "{%s, %s, %s, %s}, /* sgd: learning rate, momentum, nesterov, weight decay */\n    ", lr,
                  momentum, o->nesterov ? "true" : "false", decay);
    char *beta_1 = cg_float_literal(o->beta_1), *beta_2 = cg_float_literal(o->beta_2);
    char *epsilon = cg_float_literal(o->epsilon);
    cg_buf_printf(out, "{%s, %s, %s, %s, %s, %s}, /* adam: learning rate, beta_1, beta_2, epsilon, weight decay, "
                       "amsgrad */\n    %s,\n",
                  lr, beta_1, beta_2, epsilon, decay, o->amsgrad ? "true" : "false", lr);
    if (l->has_train) cg_buf_printf(out, "    %s_train_pass,\n", p);
    else cg_buf_puts(out, "    NULL,\n");
    char *rho = cg_float_literal(o->rho);
    cg_buf_printf(out, "    {%s, %s, %s, %s, %s, %s}, /* rmsprop: learning rate, rho, momentum, epsilon, centered, "
                       "weight decay */\n",
                  lr, rho, momentum, epsilon, o->centered ? "true" : "false", decay);
    const double clip[] = {o->clipnorm, o->global_clipnorm, o->clipvalue};
    cg_buf_puts(out, "    ");
    float_list(out, clip, 3);
    cg_buf_puts(out, ", /* clipping: clipnorm, global_clipnorm, clipvalue */\n    ");
    schedule_initializer(out, me, o->schedule);
    char *macs = cg_float_literal(forward_macs_per_param(me->layout->programs[CG_MODE_INFER]));
    cg_buf_printf(out,
                  ", /* learning-rate schedule */\n"
                  "    %s /* forward multiply-adds per example and parameter */\n};\n\n",
                  macs);
    free(macs);
    free(beta_1);
    free(beta_2);
    free(lr);
    free(momentum);
    free(decay);
    free(rho);
    free(epsilon);
}

/* --- Wrappers -------------------------------------------------------------------------------- */

/* Whether the forward may run in slices of the batch at once (runtime's
 * tdl_model_forward): every tensor it reads or writes, the inputs and
 * outputs included, has the batch as its first dimension, so that each
 * example's values depend on that example alone and a slice's rows of them
 * are its own. (A reduction over the batch, say, has a result without it.) */
static bool forward_in_slices(const cg_program *p) {
    if (p->fixed_floats != 0) return false;
    for (int b = 0; b < p->buffer_count; b++)
        if (p->buffers[b].first_step >= 0 && !p->buffers[b].batched) return false;
    for (int i = 0; i < p->operand_count; i++)
        if (!p->buffers[p->operands[i].buffer].batched) return false;
    const checked_model *model = p->model;
    for (int i = 0; i < model->output_count; i++)
        if (!tsc_type_has_batch(&model->outputs[i].node->type)) return false;
    return true;
}

static void evaluate_wrapper(cg_buf *out, const model_emit *me);
static void train_wrappers(cg_buf *out, const model_emit *me);

static void wrappers(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const char *self = "(tdl_model *)(void *)m";
    template_text(out,
                  "$ *$_create(int max_batch) {\n    return ($ *)(void *)tdl_model_create(&$_info, max_batch);\n}\n\n"
                  "size_t $_arena_size(int max_batch) {\n    return tdl_model_arena_size(&$_info, max_batch);\n}\n\n"
                  "$ *$_create_in(void *arena, size_t bytes, int max_batch) {\n"
                  "    return ($ *)(void *)tdl_model_create_in(&$_info, arena, bytes, max_batch);\n}\n\n"
                  "void $_destroy($ *m) {\n    tdl_model_destroy((tdl_model *)(void *)m);\n}\n\n",
                  p);
    if (!me->layout->weights)
        template_text(out,
                      "void $_init($ *m, uint64_t seed) {\n    tdl_model_init((tdl_model *)(void *)m, seed);\n}\n\n"
                      "tdl_status $_load($ *m, const char *path) {\n"
                      "    return tdl_model_load((tdl_model *)(void *)m, \"$_load\", path);\n}\n\n"
                      "tdl_status $_save(const $ *m, const char *path) {\n"
                      "    return tdl_model_save((const tdl_model *)(const void *)m, \"$_save\", path);\n}\n\n"
                      "float *$_parameters($ *m, size_t *count) {\n"
                      "    return tdl_model_parameters((tdl_model *)(void *)m, count);\n}\n\n"
                      "float *$_state($ *m, size_t *count) {\n"
                      "    return tdl_model_state((tdl_model *)(void *)m, count);\n}\n\n",
                      p);

    int no = me->model->output_count;
    if (no > 0) {   /* see the header: no outputs, no NAME_forward */
        cg_buf_printf(out, "tdl_status %s_forward(%s *m, int batch", p, p);
        input_params(out, me, CG_MODE_INFER);
        output_params(out, me);
        cg_buf_puts(out, ") {\n");
        inputs_array(out, me, CG_MODE_INFER);
        cg_buf_printf(out, "    void *outputs[%d] = {", no);
        for (int i = 0; i < no; i++) cg_buf_printf(out, "%s%s", i ? ", " : "", me->nm.outputs[i]);
        cg_buf_printf(out, "};\n    tdl_status status = tdl_model_check_call(%s, batch, ", self);
        function_name_literal(out, &me->nm, "forward");
        cg_buf_printf(out,
                      ", TDL_MODEL_FORWARD, inputs);\n    if (status != TDL_STATUS_OK) return status;\n"
                      "    return tdl_model_forward(%s, batch, inputs, outputs, %s_infer_pass, ",
                      self, p);
        if (forward_in_slices(me->layout->programs[CG_MODE_INFER]))
            cg_buf_printf(out, "%s_forward_workspace_floats);\n}\n\n", p);
        else
            cg_buf_puts(out, "NULL);\n}\n\n");
    }

    if (me->layout->has_eval) evaluate_wrapper(out, me);
    if (!me->layout->has_train) return;
    train_wrappers(out, me);
}

static void evaluate_wrapper(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const char *self = "(tdl_model *)(void *)m";
    cg_buf_printf(out, "tdl_status %s_evaluate(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_EVAL);
    cg_buf_printf(out, ", %s_metrics *out) {\n", p);
    inputs_array(out, me, CG_MODE_EVAL);
    cg_buf_printf(out, "    tdl_status status = tdl_model_check_call(%s, batch, ", self);
    function_name_literal(out, &me->nm, "evaluate");
    cg_buf_puts(out, ", TDL_MODEL_EVALUATE, inputs);\n    if (status != TDL_STATUS_OK) return status;\n"
                     "    if (!out) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, ");
    char *message = cg_strf("%s_evaluate: out is NULL", p);
    string_literal(out, message);
    free(message);
    cg_buf_printf(out, ");\n    return %s_eval_pass(%s, batch, inputs, out);\n}\n\n", p, self);
}

static void train_wrappers(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix;
    const char *self = "(tdl_model *)(void *)m";
    cg_buf_printf(out, "tdl_status %s_train_step(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ", float *loss) {\n");
    inputs_array(out, me, CG_MODE_TRAIN);
    cg_buf_printf(out, "    return tdl_model_train_step(%s, ", self);
    function_name_literal(out, &me->nm, "train_step");
    cg_buf_puts(out, ", batch, inputs, loss);\n}\n\n");

    cg_buf_printf(out, "double %s_gradcheck(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ") {\n");
    inputs_array(out, me, CG_MODE_TRAIN);
    cg_buf_printf(out, "    return tdl_model_gradcheck(%s, ", self);
    function_name_literal(out, &me->nm, "gradcheck");
    cg_buf_puts(out, ", batch, inputs);\n}\n\n");

    cg_buf_printf(out, "tdl_status %s_set_learning_rate(%s *m, float learning_rate) {\n"
                       "    return tdl_model_set_learning_rate(%s, ",
                  p, p, self);
    function_name_literal(out, &me->nm, "set_learning_rate");
    cg_buf_puts(out, ", learning_rate);\n}\n\n");

    cg_buf_printf(out, "tdl_status %s_save_state(const %s *m, const char *path) {\n"
                       "    return tdl_model_save_state((const tdl_model *)(const void *)m, ",
                  p, p);
    function_name_literal(out, &me->nm, "save_state");
    cg_buf_printf(out, ", path);\n}\n\ntdl_status %s_load_state(%s *m, const char *path) {\n"
                       "    return tdl_model_load_state(%s, ",
                  p, p, self);
    function_name_literal(out, &me->nm, "load_state");
    cg_buf_puts(out, ", path);\n}\n\n");

    cg_buf_printf(out, "tdl_status %s_compute_gradients(%s *m, int batch", p, p);
    input_params(out, me, CG_MODE_TRAIN);
    cg_buf_puts(out, ", float *loss) {\n");
    inputs_array(out, me, CG_MODE_TRAIN);
    cg_buf_printf(out, "    return tdl_model_compute_gradients(%s, ", self);
    function_name_literal(out, &me->nm, "compute_gradients");
    cg_buf_puts(out, ", batch, inputs, loss);\n}\n\n");

    cg_buf_printf(out, "tdl_status %s_apply_gradients(%s *m, float scale) {\n"
                       "    return tdl_model_apply_gradients(%s, ",
                  p, p, self);
    function_name_literal(out, &me->nm, "apply_gradients");
    cg_buf_puts(out, ", scale);\n}\n\n");

    cg_buf_printf(out, "float *%s_gradients(%s *m, size_t *count) {\n"
                       "    return tdl_model_gradients(%s, count);\n}\n",
                  p, p, self);
}

/* --- The source ------------------------------------------------------------------------------ */

static void emit_source(cg_buf *out, const model_emit *me) {
    const char *p = me->nm.prefix, *P = me->nm.upper;
    banner(out, me->source_name);
    cg_buf_puts(out, "#include \"");
    char *header = cg_strf("%s.h", p);
    cg_buf_c_string(out, header);
    free(header);
    cg_buf_puts(out, "\"\n\n");
    if (me->weights_name || me->state_name)
        cg_buf_puts(out, "#include <math.h> /* INFINITY, NAN among the weights */\n");
    cg_buf_puts(out, "#include <stdbool.h>\n#include <string.h>\n\n");
    cg_buf_printf(out,
                  "#ifdef __cplusplus\n#define %s_STATIC_ASSERT(c, m) static_assert(c, m)\n#else\n"
                  "#define %s_STATIC_ASSERT(c, m) _Static_assert(c, m)\n#endif\n\n",
                  P, P);
    cg_buf_printf(out,
                  "#define %s_PARAM_TENSORS %d\n#define %s_STATE_TENSORS %d\n"
                  "%s_STATIC_ASSERT(sizeof(float) == 4, \"tsc generates code for 32-bit floats\");\n"
                  "%s_STATIC_ASSERT(%s_PARAM_COUNT == %lld, \"the header does not match this file\");\n"
                  "%s_STATIC_ASSERT(%s_STATE_COUNT == %lld, \"the header does not match this file\");\n\n",
                  P, me->layout->param_tensors, P, me->layout->state_tensors, P, P, P,
                  (long long)me->layout->param_floats, P, P, (long long)me->layout->state_floats);
    cg_buf_printf(out, "/* The arena starts with the runtime's model struct. */\nstruct %s {\n    tdl_model base;\n};\n\n", p);
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        const cg_op_lowering *row = cg_lowering_of(n);
        if (!row->emit_descriptor) continue;
        char *desc = cg_desc_name(p, n);
        row->emit_descriptor(out, desc, n);
        free(desc);
    }
    cg_buf_putc(out, '\n');
    if (me->weights_name) cg_emit_weights(out, me->model, me->layout, me->weights_name);
    else param_table(out, me);
    if (me->state_name) cg_emit_state_weights(out, me->model, me->layout, me->state_name);
    else if (!me->layout->weights) state_table(out, me);
    input_table(out, me);
    workspace_function(out, me);
    const cg_program *forward = me->layout->programs[CG_MODE_INFER];
    if (me->model->output_count > 0 && forward && forward_in_slices(forward)) forward_workspace_function(out, me);
    for (int mode = 0; mode < CG_MODE_COUNT; mode++) {
        bool without_forward = mode == CG_MODE_INFER && me->model->output_count == 0;
        if (me->layout->programs[mode] && !without_forward) emit_pass_function(out, me, (cg_mode)mode);
    }
    info_table(out, me);
    wrappers(out, me);
}

static void model_emit_make(model_emit *me, const checked_model *model, const cg_layout *layout,
                            const char *source_name) {
    *me = (model_emit){model, layout, source_name, {0}, NULL, NULL};
    names_make(&me->nm, model);
    /* Sizing without values (weights_compiled_in alone) is for --summary. */
    TSC_ASSERT(layout->weights || !layout->weights_compiled_in);
    if (layout->weights && layout->param_floats > 0) me->weights_name = cg_join(me->nm.prefix, "weights");
    if (layout->weights && layout->state_floats > 0) me->state_name = cg_join(me->nm.prefix, "state_values");
}

static void model_emit_free(model_emit *me) {
    names_free(&me->nm, me->model);
    free(me->weights_name);
    free(me->state_name);
}

void cg_emit_header(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *source_name) {
    model_emit me;
    model_emit_make(&me, model, layout, source_name);
    emit_header(out, &me);
    model_emit_free(&me);
}

void cg_emit_source(cg_buf *out, const checked_model *model, const cg_layout *layout, const char *source_name) {
    model_emit me;
    model_emit_make(&me, model, layout, source_name);
    emit_source(out, &me);
    model_emit_free(&me);
}

void tsc_emit_model(const checked_model *model, const char *source_name, FILE *header, FILE *source) {
    tsc_emit_model_with(model, source_name, NULL, header, source);
}

void tsc_emit_model_with(const checked_model *model, const char *source_name, const tsc_codegen_options *options,
                         FILE *header, FILE *source) {
    cg_layout layout;
    cg_layout_build(&layout, model, options);
    cg_buf h = {.sink = header}, c = {.sink = source};
    cg_emit_header(&h, model, &layout, source_name);
    cg_emit_source(&c, model, &layout, source_name);
    cg_buf_flush(&h);
    cg_buf_flush(&c);
    cg_buf_free(&h);
    cg_buf_free(&c);
    cg_layout_release(&layout);
}
