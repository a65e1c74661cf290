/* Writes <model>.h and <model>.c: the C API around the op emitters of
 * emit_ops.c. Every entry point is emitted twice: an analysis
 * pass that records when each buffer is used, the memory plan, then the
 * text. Output is byte-identical for identical input: no timestamps, no
 * absolute paths, no iteration over unordered containers. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <tdl/runtime.h>

#include "codegen.h"

/* --- Types in signatures ---------------------------------------------------------- */

static const char *c_scalar(tsc_dtype dtype) {
    return dtype == TSC_DTYPE_I32 ? "int32_t" : "float";
}

/* "const float image[][28][28][1]": the shape in the C type, the batch open. */
static void array_param(FILE *out, const tsc_type *type, const char *qualifier, const char *name) {
    fprintf(out, "%s%s %s", qualifier, c_scalar(type->dtype), name);
    for (int i = 0; i < type->rank; i++) {
        if (type->dims[i] == TSC_DIM_BATCH) fprintf(out, "[]");
        else fprintf(out, "[%lld]", (long long)type->dims[i]);
    }
    if (type->rank == 0) fprintf(out, "[1]");
}

/* --- The model ------------------------------------------------------------------- */

typedef struct model_emit {
    const checked_model *model;
    const char *prefix;           /* fashion_cnn: the model's name as C */
    char prefix_buffer[128];
    char upper_prefix[128];       /* FASHION_CNN */
    const char *source_name;      /* fashion_cnn.tdl (no directory) */
    cg_program *programs[CG_MODE_COUNT];
    bool has_train;               /* an optimizer and at least one loss */
    int64_t param_floats;
    int param_tensors;
    int64_t batched_floats, fixed_floats; /* the activation region: max over the programs */
} model_emit;

static bool input_is_live(const cg_program *p, const checked_node *input) {
    return p->live[input->index];
}

/* ", const float image[][28][28][1], const int32_t label[]" */
static void emit_input_params(FILE *out, const model_emit *me, const cg_program *p) {
    for (int i = 0; i < me->model->input_count; i++) {
        const checked_node *in = me->model->inputs[i];
        if (!input_is_live(p, in)) continue;
        char name[80];
        cg_param_name(in->layer_name, "", name, sizeof name);
        fprintf(out, ", ");
        array_param(out, &in->type, "const ", name);
    }
}

/* The C parameter of output i: its name, or name_out when an input (a
 * parameter of the same function) has that name (`output image;`). */
static void output_param_name(const model_emit *me, int i, char *out, size_t size) {
    const char *name = me->model->outputs[i].name;
    const char *suffix = "";
    for (int k = 0; k < me->model->input_count; k++)
        if (strcmp(me->model->inputs[k]->layer_name, name) == 0) suffix = "_out";
    cg_param_name(name, suffix, out, size);
}

static void emit_output_params(FILE *out, const model_emit *me) {
    for (int i = 0; i < me->model->output_count; i++) {
        char name[80];
        output_param_name(me, i, name, sizeof name);
        fprintf(out, ", ");
        array_param(out, &me->model->outputs[i].node->type, "", name);
    }
}

/* The flat pointers the internal pass functions take. */
static void emit_flat_input_params(FILE *out, const model_emit *me, const cg_program *p) {
    for (int i = 0; i < me->model->input_count; i++) {
        const checked_node *in = me->model->inputs[i];
        if (!input_is_live(p, in)) continue;
        fprintf(out, ", const %s *in_%d", c_scalar(in->type.dtype), in->index);
    }
}

static void emit_flat_input_args(FILE *out, const model_emit *me, const cg_program *p) {
    for (int i = 0; i < me->model->input_count; i++) {
        const checked_node *in = me->model->inputs[i];
        if (!input_is_live(p, in)) continue;
        char name[80];
        cg_param_name(in->layer_name, "", name, sizeof name);
        fprintf(out, ", (const %s *)%s", c_scalar(in->type.dtype), name);
    }
}

/* "if (!image) return tdl_set_error(…);" for every array argument. */
static void emit_null_checks(FILE *out, const model_emit *me, const cg_program *p, const char *function) {
    for (int i = 0; i < me->model->input_count; i++) {
        const checked_node *in = me->model->inputs[i];
        if (!input_is_live(p, in)) continue;
        char name[80];
        cg_param_name(in->layer_name, "", name, sizeof name);
        fprintf(out,
                "    if (!%s)\n        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, \"%s_%s: input '%s' is NULL\");\n",
                name, me->prefix, function, in->layer_name);
    }
}

/* --- Pass functions: the body of an entry point ------------------------------------ */

/* One walk over the program: forward steps, then (train) backward steps
 * under `if (pass == …WITH_BACKWARD)`, then the results. */
static void walk_program(cg_emitter *e, const model_emit *me) {
    cg_program *p = e->program;
    const checked_model *model = me->model;
    e->step = 0;
    for (int i = 0; i < model->node_count; i++) {
        if (!p->live[i]) continue;
        const checked_node *n = model->nodes[i];
        e->step++;
        if (n->op != TSC_OP_INPUT && e->out) {
            int line, col;
            tsc_loc_line_col(n->loc.file, n->loc.first, &line, &col);
            char in_text[TSC_TYPE_STR_MAX], out_text[TSC_TYPE_STR_MAX];
            /* Losses and accuracy take (labels, logits): show the logits. */
            bool labels_first = n->info->family == TSC_FAMILY_LOSS || n->op == TSC_OP_ACCURACY;
            const checked_node *shown = n->input_count > 1 && labels_first ? n->inputs[1]
                                        : n->input_count    ? n->inputs[0]
                                                            : n;
            tsc_type_format(in_text, sizeof in_text, &shown->type, model->batch_symbol);
            tsc_type_format(out_text, sizeof out_text, &n->type, model->batch_symbol);
            cg_line(e, "    /* %s:%d:%d  %s: %s -> %s */\n", me->source_name, line, col, n->layer_name, in_text,
                    out_text);
        }
        cg_emit_forward(e, n);
    }
    if (p->mode == CG_MODE_TRAIN) {
        e->step++;
        cg_line(e, "    *total_loss = 0.0f");
        for (int i = 0; i < model->loss_count; i++) {
            char weight[32];
            cg_float_literal(model->losses[i].weight, weight, sizeof weight);
            cg_line(e, " + %s * %s[0]", weight, cg_use(e, p->node_buffers[model->losses[i].node->index].value));
        }
        cg_line(e, ";\n    if (pass == %s_FORWARD_ONLY) return TDL_STATUS_OK;\n", me->upper_prefix);
        cg_line(e, "    tdl_zero(m->grads, %s_PARAM_COUNT);\n", me->upper_prefix);
        for (int i = model->node_count - 1; i >= 0; i--) {
            if (!p->live[i] || !p->grad[i]) continue;
            e->step++;
            const checked_node *n = model->nodes[i];
            cg_line(e, "    /* backward %s */\n", n->layer_name);
            cg_emit_backward(e, n);
        }
    }
    e->step++;
    if (p->mode == CG_MODE_INFER) {
        for (int i = 0; i < model->output_count; i++) {
            const checked_output *o = &model->outputs[i];
            char count[96];
            cg_type_count(&o->node->type, count, sizeof count);
            const char *v = cg_use(e, p->node_buffers[o->node->index].value);
            cg_line(e, "    if (out_%d) memcpy(out_%d, %s, %s * sizeof *out_%d);\n", i, i, v, count, i);
        }
    } else if (p->mode == CG_MODE_EVAL) {
        char field[80];
        for (int i = 0; i < model->loss_count; i++) {
            cg_c_identifier(model->losses[i].name, field, sizeof field);
            cg_line(e, "    out->%s = %s[0];\n", field, cg_use(e, p->node_buffers[model->losses[i].node->index].value));
        }
        for (int i = 0; i < model->metric_count; i++) {
            cg_c_identifier(model->metrics[i].name, field, sizeof field);
            cg_line(e, "    out->%s = %s[0];\n", field, cg_use(e, p->node_buffers[model->metrics[i].node->index].value));
        }
    }
}

/* The declaration of a buffer as a local pointer. */
static void declare_buffer(FILE *out, const cg_program *p, int b) {
    const cg_buffer *buf = &p->buffers[b];
    int root = cg_buffer_root(p, b);
    const cg_buffer *r = &p->buffers[root];
    const char *type = buf->is_int ? "int32_t" : "float";
    const char *qualifier = r->is_input ? "const " : "";
    if (buf->is_input) {
        fprintf(out, "    const %s *%s = in_%d;\n", type, buf->c_name, buf->node->index);
    } else if (buf->alias_of >= 0) {
        fprintf(out, "    %s%s *%s = %s;\n", qualifier, type, buf->c_name, p->buffers[buf->alias_of].c_name);
    } else {
        char where[96];
        if (buf->batched) snprintf(where, sizeof where, "m->activations + (size_t)m->max_batch * %lld", (long long)buf->offset);
        else snprintf(where, sizeof where, "m->fixed + %lld", (long long)buf->offset);
        if (buf->is_int) fprintf(out, "    int32_t *%s = (int32_t *)(%s);\n", buf->c_name, where);
        else fprintf(out, "    float *%s = %s;\n", buf->c_name, where);
    }
}

static const char *mode_function(cg_mode mode) {
    switch (mode) {
    case CG_MODE_INFER: return "infer_pass";
    case CG_MODE_EVAL: return "eval_pass";
    case CG_MODE_TRAIN: return "train_pass";
    case CG_MODE_COUNT: break;
    }
    TSC_UNREACHABLE();
}

/* Analysis pass, memory plan (done by the caller for all modes first). */
static void analyse_program(const model_emit *me, cg_program *p) {
    cg_emitter e = {.program = p, .prefix = me->prefix};
    e.zeroed = tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *e.zeroed);
    e.used = tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *e.used);
    walk_program(&e, me);
    free(e.zeroed);
    free(e.used);
    cg_plan_memory(p);
}

static int emit_pass_function(FILE *out, const model_emit *me, cg_program *p) {
    char *body = NULL;
    size_t body_size = 0;
    FILE *text = open_memstream(&body, &body_size);
    if (!text) return -1;
    cg_emitter e = {.out = text, .program = p, .prefix = me->prefix};
    e.zeroed = tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *e.zeroed);
    e.used = tsc_xcalloc((size_t)p->buffer_count + 1, sizeof *e.used);
    walk_program(&e, me);
    fclose(text);

    fprintf(out, "static tdl_status %s_%s(%s *m, int batch", me->prefix, mode_function(p->mode), me->prefix);
    emit_flat_input_params(out, me, p);
    if (p->mode == CG_MODE_INFER)
        for (int i = 0; i < me->model->output_count; i++)
            fprintf(out, ", %s *out_%d", c_scalar(me->model->outputs[i].node->type.dtype), i);
    if (p->mode == CG_MODE_EVAL) fprintf(out, ", %s_metrics *out", me->prefix);
    if (p->mode == CG_MODE_TRAIN) fprintf(out, ", float *total_loss, %s_pass pass", me->prefix);
    fprintf(out, ") {\n");
    if (e.failed_status) fprintf(out, "    tdl_status status;\n");
    for (int b = 0; b < p->buffer_count; b++)
        if (e.used[b]) declare_buffer(out, p, b);
    fprintf(out, "    (void)m;\n    (void)batch;\n");
    if (p->mode == CG_MODE_EVAL) fprintf(out, "    (void)out;\n");
    fputs(body, out);
    fprintf(out, "    return TDL_STATUS_OK;\n");
    if (e.failed_status) fprintf(out, "fail:\n    return status;\n");
    fprintf(out, "}\n\n");
    free(body);
    free(e.zeroed);
    free(e.used);
    return 0;
}

/* --- The header --------------------------------------------------------------------- */

static void emit_shape_macros(FILE *out, const model_emit *me, const char *name, const tsc_type *type,
                              const char *what) {
    char upper_name[80], text[TSC_TYPE_STR_MAX];
    cg_upper(name, upper_name, sizeof upper_name);
    tsc_type_format(text, sizeof text, type, me->model->batch_symbol);
    int64_t per_sample = 0;
    tsc_type_elements(type, 1, tsc_type_has_batch(type) ? 1 : 0, &per_sample);
    fprintf(out, "/* %s %s: %s */\n", what, name, text);
    fprintf(out, "#define %s_%s_RANK %d\n", me->upper_prefix, upper_name, type->rank);
    for (int i = 0; i < type->rank; i++)
        if (type->dims[i] != TSC_DIM_BATCH)
            fprintf(out, "#define %s_%s_DIM%d %lld\n", me->upper_prefix, upper_name, i, (long long)type->dims[i]);
    fprintf(out, "#define %s_%s_%s %lld\n", me->upper_prefix, upper_name,
            tsc_type_has_batch(type) ? "SAMPLE_SIZE" : "SIZE", (long long)per_sample);
}

static void emit_prototypes(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    fprintf(out,
            "typedef struct %s %s; /* opaque */\n\n"
            "/* One float per loss and metric, named as in the model. */\n"
            "typedef struct %s_metrics {\n",
            p, p, p);
    char field[80];
    for (int i = 0; i < me->model->loss_count; i++) {
        cg_c_identifier(me->model->losses[i].name, field, sizeof field);
        fprintf(out, "    float %s;\n", field);
    }
    for (int i = 0; i < me->model->metric_count; i++) {
        cg_c_identifier(me->model->metrics[i].name, field, sizeof field);
        fprintf(out, "    float %s;\n", field);
    }
    if (me->model->loss_count + me->model->metric_count == 0) fprintf(out, "    float unused_;\n");
    fprintf(out, "} %s_metrics;\n\n", p);

    fprintf(out,
            "/* The only allocation: parameters, gradients, optimizer state and activations\n"
            " * for up to max_batch examples. NULL (see tdl_last_error()) when max_batch < 1\n"
            " * or the memory is not there. Weights start as %s_init(m, 0) makes them. */\n"
            "%s *%s_create(int max_batch);\n"
            "/* Bytes %s_create_in needs for max_batch (0 if max_batch is out of range). */\n"
            "size_t %s_arena_size(int max_batch);\n"
            "/* The same in the caller's memory: 64-byte aligned, at least %s_arena_size(max_batch) bytes. */\n"
            "%s *%s_create_in(void *arena, size_t bytes, int max_batch);\n"
            "void %s_destroy(%s *m);\n"
            "/* Keras initializers (glorot_uniform kernels, zero biases) from the seed; resets the optimizer. */\n"
            "void %s_init(%s *m, uint64_t seed);\n"
            "/* Weights as safetensors, names as in the model (conv2d_1.kernel). All or nothing. */\n"
            "tdl_status %s_load(%s *m, const char *path);\n"
            "tdl_status %s_save(const %s *m, const char *path);\n",
            p, p, p, p, p, p, p, p, p, p, p, p, p, p, p, p);

    fprintf(out, "/* The inputs the outputs depend on, then the outputs; a NULL output is skipped. */\n");
    fprintf(out, "tdl_status %s_forward(%s *m, int batch", p, p);
    emit_input_params(out, me, me->programs[CG_MODE_INFER]);
    emit_output_params(out, me);
    fprintf(out, ");\n");
    fprintf(out, "/* Every loss and metric on one batch (dropout off). */\n");
    fprintf(out, "tdl_status %s_evaluate(%s *m, int batch", p, p);
    emit_input_params(out, me, me->programs[CG_MODE_EVAL]);
    fprintf(out, ", %s_metrics *out);\n", p);
    if (me->has_train) {
        fprintf(out, "/* One optimizer step; *loss (if not NULL) gets the loss before the update,\n"
                     " * the weighted sum of the model's losses. */\n");
        fprintf(out, "tdl_status %s_train_step(%s *m, int batch", p, p);
        emit_input_params(out, me, me->programs[CG_MODE_TRAIN]);
        fprintf(out, ", float *loss);\n");
        fprintf(out,
                "/* Compares the generated backward pass with central finite differences along\n"
                " * random directions per parameter tensor; returns the worst tensor's relative\n"
                " * error beyond float rounding noise (negative on error, see tdl_last_error()).\n"
                " * The model is left unchanged. */\n");
        fprintf(out, "double %s_gradcheck(%s *m, int batch", p, p);
        emit_input_params(out, me, me->programs[CG_MODE_TRAIN]);
        fprintf(out, ");\n");
        fprintf(out, "void %s_set_learning_rate(%s *m, float learning_rate);\n", p, p);
    }
}

static void emit_header(FILE *out, const model_emit *me) {
    fprintf(out, "/* Generated by tsc %s from %s. Do not edit. */\n", TSC_VERSION, me->source_name);
    fprintf(out, "#ifndef %s_H\n#define %s_H\n\n", me->upper_prefix, me->upper_prefix);
    fprintf(out, "#include <stddef.h>\n#include <stdint.h>\n\n#include <tdl/runtime.h>\n\n");
    fprintf(out, "#if TDL_RUNTIME_ABI != %d\n#error \"%s.h was generated for libtdlrt ABI %d: regenerate it with tsc %s\"\n#endif\n\n",
            TDL_RUNTIME_ABI, me->prefix, TDL_RUNTIME_ABI, TSC_VERSION);
    fprintf(out, "#ifdef __cplusplus\nextern \"C\" {\n#endif\n\n");
    for (int i = 0; i < me->model->input_count; i++)
        emit_shape_macros(out, me, me->model->inputs[i]->layer_name, &me->model->inputs[i]->type, "input");
    for (int i = 0; i < me->model->output_count; i++)
        emit_shape_macros(out, me, me->model->outputs[i].name, &me->model->outputs[i].node->type, "output");
    fprintf(out, "/* trainable parameters */\n#define %s_PARAM_COUNT %lld\n\n", me->upper_prefix,
            (long long)me->param_floats);
    emit_prototypes(out, me);
    fprintf(out, "\n#ifdef __cplusplus\n}\n#endif\n\n#endif /* %s_H */\n", me->upper_prefix);
}

/* --- The source ----------------------------------------------------------------- */

static void emit_param_table(FILE *out, const model_emit *me) {
    fprintf(out,
            "/* Every trainable tensor: its key in the weight file, where it lives in\n"
            " * m->params, its shape and how it starts. */\n"
            "typedef struct %s_param_info {\n"
            "    const char *name;\n    size_t offset;\n    size_t count;\n    int rank;\n"
            "    int64_t shape[TDL_MAX_RANK];\n    int fan_in, fan_out; /* 0, 0: zeros */\n"
            "} %s_param_info;\n\n",
            me->prefix, me->prefix);
    fprintf(out, "static const %s_param_info %s_params[%s_PARAM_TENSORS] = {\n", me->prefix, me->prefix,
            me->upper_prefix);
    int64_t offset = 0;
    for (int i = 0; i < me->model->node_count; i++) {
        const checked_node *n = me->model->nodes[i];
        for (int k = 0; k < n->param_count; k++) {
            const checked_param *prm = &n->params[k];
            int64_t count = 0;
            tsc_type_elements(&prm->type, 1, 0, &count);
            fprintf(out, "    {\"%s\", %lld, %lld, %d, {", prm->name, (long long)offset, (long long)count,
                    prm->type.rank);
            for (int d = 0; d < prm->type.rank; d++) fprintf(out, "%s%lld", d ? ", " : "", (long long)prm->type.dims[d]);
            bool zeros = prm->init == TSC_INIT_ZEROS;
            fprintf(out, "}, %lld, %lld},\n", zeros ? 0LL : (long long)prm->fan_in, zeros ? 0LL : (long long)prm->fan_out);
            offset += count;
        }
    }
    fprintf(out, "};\n\n");
}

static void emit_struct(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    fprintf(out,
            "struct %s {\n"
            "    int max_batch;\n"
            "    int owns_memory;        /* made by %s_create: destroy frees it */\n"
            "    int64_t step;           /* optimizer steps taken */\n"
            "    float learning_rate;\n"
            "    tdl_rng dropout_rng;\n"
            "    float *params;          /* %s_PARAM_COUNT floats each */\n"
            "    float *grads;\n"
            "    float *slot1, *slot2;   /* optimizer state: Adam m and v, SGD velocity */\n"
            "    float *activations;     /* max_batch * %s_ACT_PER_SAMPLE floats */\n"
            "    float *fixed;           /* %s_ACT_FIXED floats */\n"
            "    float *workspace;       /* kernel scratch */\n"
            "};\n\n",
            p, p, me->upper_prefix, me->upper_prefix, me->upper_prefix);
}

static void emit_memory_functions(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const char *P = me->upper_prefix;
    fprintf(out,
            "static size_t %s_max_size(size_t a, size_t b) {\n    return a > b ? a : b;\n}\n\n"
            "/* Floats of kernel scratch for this batch size. */\n"
            "static size_t %s_workspace_floats(int max_batch) {\n    size_t need = 0;\n",
            p, p);
    cg_emit_workspace_needs(out, me->model, p);
    fprintf(out, "    (void)max_batch;\n    return need;\n}\n\n");
    fprintf(out,
            "/* Every part starts on a 64-byte boundary. */\n"
            "static size_t %s_round_floats(size_t floats) {\n    return (floats + 15) / 16 * 16;\n}\n\n"
            "size_t %s_arena_size(int max_batch) {\n"
            "    if (max_batch < 1) return 0;\n"
            "    /* Refuse sizes whose byte count would not fit in size_t. */\n"
            "    size_t limit = (SIZE_MAX / sizeof(float) - 4 * %s_round_floats(%s_PARAM_COUNT) - %s_ACT_FIXED - 4096) / 2;\n"
            "    if (%s_ACT_PER_SAMPLE > 0 && (size_t)max_batch > limit / %s_ACT_PER_SAMPLE) return 0;\n"
            "    size_t workspace = %s_workspace_floats(max_batch);\n"
            "    if (workspace > limit) return 0;\n"
            "    size_t floats = 4 * %s_round_floats(%s_PARAM_COUNT) +\n"
            "                    %s_round_floats((size_t)max_batch * %s_ACT_PER_SAMPLE) + %s_round_floats(%s_ACT_FIXED) +\n"
            "                    %s_round_floats(workspace);\n"
            "    return %s_HEADER_BYTES + floats * sizeof(float);\n"
            "}\n\n",
            p, p, p, P, P, P, P, p, p, P, p, P, p, P, p, P);
    fprintf(out,
            "%s *%s_create_in(void *arena, size_t bytes, int max_batch) {\n"
            "    size_t need = %s_arena_size(max_batch);\n"
            "    if (need == 0) {\n"
            "        tdl_set_error(TDL_STATUS_BAD_BATCH, \"%s_create: max_batch %%d is out of range\", max_batch);\n"
            "        return NULL;\n"
            "    }\n"
            "    if (!arena || (uintptr_t)arena %% 64 != 0 || bytes < need) {\n"
            "        tdl_set_error(TDL_STATUS_BAD_ARGUMENT,\n"
            "                      \"%s_create_in: the arena must be 64-byte aligned and hold %%zu bytes\", need);\n"
            "        return NULL;\n"
            "    }\n"
            "    memset(arena, 0, need);\n"
            "    %s *m = (%s *)arena;\n"
            "    float *next = (float *)((char *)arena + %s_HEADER_BYTES);\n"
            "    m->max_batch = max_batch;\n"
            "    m->params = next;\n"
            "    m->grads = m->params + %s_round_floats(%s_PARAM_COUNT);\n"
            "    m->slot1 = m->grads + %s_round_floats(%s_PARAM_COUNT);\n"
            "    m->slot2 = m->slot1 + %s_round_floats(%s_PARAM_COUNT);\n"
            "    m->activations = m->slot2 + %s_round_floats(%s_PARAM_COUNT);\n"
            "    m->fixed = m->activations + %s_round_floats((size_t)max_batch * %s_ACT_PER_SAMPLE);\n"
            "    m->workspace = m->fixed + %s_round_floats(%s_ACT_FIXED);\n"
            "    %s_init(m, 0);\n"
            "    return m;\n"
            "}\n\n",
            p, p, p, p, p, p, p, P, p, P, p, P, p, P, p, P, p, P, p, P, p);
    fprintf(out,
            "%s *%s_create(int max_batch) {\n"
            "    size_t bytes = %s_arena_size(max_batch);\n"
            "    if (bytes == 0) {\n"
            "        tdl_set_error(TDL_STATUS_BAD_BATCH, \"%s_create: max_batch %%d is out of range\", max_batch);\n"
            "        return NULL;\n"
            "    }\n"
            "    void *arena = aligned_alloc(64, (bytes + 63) / 64 * 64);\n"
            "    if (!arena) {\n"
            "        tdl_set_error(TDL_STATUS_NO_MEMORY, \"%s_create: cannot allocate %%zu bytes\", bytes);\n"
            "        return NULL;\n"
            "    }\n"
            "    %s *m = %s_create_in(arena, bytes, max_batch);\n"
            "    if (!m) {\n        free(arena);\n        return NULL;\n    }\n"
            "    m->owns_memory = 1;\n"
            "    return m;\n"
            "}\n\n"
            "void %s_destroy(%s *m) {\n    if (m && m->owns_memory) free(m);\n}\n\n",
            p, p, p, p, p, p, p, p, p);
}

static void emit_weight_functions(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const char *P = me->upper_prefix;
    double learning_rate = me->model->optimizer ? me->model->optimizer->learning_rate : 0.0;
    char lr[32];
    cg_float_literal(learning_rate, lr, sizeof lr);
    fprintf(out,
            "void %s_init(%s *m, uint64_t seed) {\n"
            "    if (!m) return;\n"
            "    tdl_rng rng;\n"
            "    tdl_rng_seed(&rng, seed, 0);\n"
            "    for (int i = 0; i < %s_PARAM_TENSORS; i++) {\n"
            "        const %s_param_info *info = &%s_params[i];\n"
            "        if (info->fan_in > 0)\n"
            "            tdl_init_glorot_uniform(m->params + info->offset, info->count, info->fan_in, info->fan_out, &rng);\n"
            "        else\n"
            "            tdl_init_zeros(m->params + info->offset, info->count);\n"
            "    }\n"
            "    tdl_zero(m->grads, %s_PARAM_COUNT);\n"
            "    tdl_zero(m->slot1, %s_PARAM_COUNT);\n"
            "    tdl_zero(m->slot2, %s_PARAM_COUNT);\n"
            "    m->step = 0;\n"
            "    m->learning_rate = %s;\n"
            "    tdl_rng_seed(&m->dropout_rng, seed, 1);\n"
            "}\n\n",
            p, p, P, p, p, P, P, P, lr);
    fprintf(out,
            "static void %s_tensor_refs(const %s *m, tdl_tensor_ref *refs) {\n"
            "    for (int i = 0; i < %s_PARAM_TENSORS; i++) {\n"
            "        const %s_param_info *info = &%s_params[i];\n"
            "        refs[i].name = info->name;\n"
            "        refs[i].data = m->params + info->offset;\n"
            "        refs[i].rank = info->rank;\n"
            "        memcpy(refs[i].shape, info->shape, sizeof refs[i].shape);\n"
            "    }\n"
            "}\n\n",
            p, p, P, p, p);
    const char *ops[2] = {"load", "save"};
    for (int k = 0; k < 2; k++)
        fprintf(out,
                "tdl_status %s_%s(%s%s *m, const char *path) {\n"
                "    if (!m || !path)\n"
                "        return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, \"%s_%s: the model or the path is NULL\");\n"
                "    tdl_tensor_ref refs[%s_PARAM_TENSORS + 1];\n"
                "    %s_tensor_refs(m, refs);\n"
                "    return tdl_safetensors_%s(path, refs, %s_PARAM_TENSORS);\n"
                "}\n\n",
                p, ops[k], k ? "const " : "", p, p, ops[k], P, p, ops[k], P);
}

static void emit_batch_check(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    fprintf(out,
            "static tdl_status %s_check_call(const %s *m, int batch, const char *function) {\n"
            "    if (!m) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, \"%%s: the model is NULL\", function);\n"
            "    if (batch < 1 || batch > m->max_batch)\n"
            "        return tdl_set_error(TDL_STATUS_BAD_BATCH,\n"
            "                             \"%%s: batch %%d is outside [1, %%d], the max_batch the model was created with\",\n"
            "                             function, batch, m->max_batch);\n"
            "    return TDL_STATUS_OK;\n"
            "}\n\n",
            p, p);
}

static void emit_call_prologue(FILE *out, const model_emit *me, const cg_program *program, const char *function) {
    fprintf(out, "    tdl_status status = %s_check_call(m, batch, \"%s_%s\");\n", me->prefix, me->prefix, function);
    fprintf(out, "    if (status != TDL_STATUS_OK) return status;\n");
    emit_null_checks(out, me, program, function);
}

static void emit_forward_function(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const cg_program *infer = me->programs[CG_MODE_INFER];
    fprintf(out, "tdl_status %s_forward(%s *m, int batch", p, p);
    emit_input_params(out, me, infer);
    emit_output_params(out, me);
    fprintf(out, ") {\n");
    emit_call_prologue(out, me, infer, "forward");
    fprintf(out, "    return %s_infer_pass(m, batch", p);
    emit_flat_input_args(out, me, infer);
    for (int i = 0; i < me->model->output_count; i++) {
        char name[80];
        output_param_name(me, i, name, sizeof name);
        fprintf(out, ", (%s *)%s", c_scalar(me->model->outputs[i].node->type.dtype), name);
    }
    fprintf(out, ");\n}\n\n");
}

static void emit_evaluate_function(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const cg_program *eval = me->programs[CG_MODE_EVAL];
    fprintf(out, "tdl_status %s_evaluate(%s *m, int batch", p, p);
    emit_input_params(out, me, eval);
    fprintf(out, ", %s_metrics *out) {\n", p);
    emit_call_prologue(out, me, eval, "evaluate");
    fprintf(out, "    if (!out) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, \"%s_evaluate: out is NULL\");\n", p);
    fprintf(out, "    return %s_eval_pass(m, batch", p);
    emit_flat_input_args(out, me, eval);
    fprintf(out, ", out);\n}\n\n");
}

static void emit_optimizer_step(FILE *out, const model_emit *me) {
    const checked_optimizer *o = me->model->optimizer;
    char a[32], b[32], c[32], wd[32];
    cg_float_literal(o->weight_decay, wd, sizeof wd);
    fprintf(out, "    m->step += 1;\n");
    if (o->op == TSC_OP_ADAM) {
        cg_float_literal(o->beta_1, a, sizeof a);
        cg_float_literal(o->beta_2, b, sizeof b);
        cg_float_literal(o->epsilon, c, sizeof c);
        fprintf(out, "    tdl_adam_config config = {m->learning_rate, %s, %s, %s, %s};\n", a, b, c, wd);
        fprintf(out, "    tdl_adam_step(m->params, m->slot1, m->slot2, m->grads, %s_PARAM_COUNT, &config, m->step);\n",
                me->upper_prefix);
    } else {
        cg_float_literal(o->momentum, a, sizeof a);
        fprintf(out, "    tdl_sgd_config config = {m->learning_rate, %s, %s, %s};\n", a, o->nesterov ? "true" : "false",
                wd);
        fprintf(out, "    tdl_sgd_step(m->params, m->slot1, m->grads, %s_PARAM_COUNT, &config);\n", me->upper_prefix);
    }
}

static void emit_train_functions(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const char *P = me->upper_prefix;
    const cg_program *train = me->programs[CG_MODE_TRAIN];
    fprintf(out, "tdl_status %s_train_step(%s *m, int batch", p, p);
    emit_input_params(out, me, train);
    fprintf(out, ", float *loss) {\n");
    emit_call_prologue(out, me, train, "train_step");
    fprintf(out, "    tdl_rng saved_rng = m->dropout_rng;\n    float total = 0.0f;\n");
    fprintf(out, "    status = %s_train_pass(m, batch", p);
    emit_flat_input_args(out, me, train);
    fprintf(out, ", &total, %s_WITH_BACKWARD);\n", P);
    fprintf(out, "    if (status != TDL_STATUS_OK) {\n        m->dropout_rng = saved_rng; /* nothing changed */\n"
                 "        return status;\n    }\n");
    emit_optimizer_step(out, me);
    fprintf(out, "    if (loss) *loss = total;\n    return TDL_STATUS_OK;\n}\n\n");

    fprintf(out,
            "void %s_set_learning_rate(%s *m, float learning_rate) {\n"
            "    if (m) m->learning_rate = learning_rate;\n"
            "}\n\n",
            p, p);

    /* gradcheck: analytic directional derivatives first, then finite
     * differences with the originals parked in m->grads (no allocation).
     * Each parameter tensor is checked along GRADCHECK_DIRECTIONS random
     * +-1 directions at three steps (STEP, STEP / 10, STEP / 30), each with
     * the 2-point and the 4-point central difference (the 4-point one's
     * O(h^4) truncation error is negligible at STEP, where the 2-point one's
     * reaches 6e-3 relative on a smooth tanh network; the 2-point one
     * crosses fewer kinks at the small steps). A tensor's error is its best
     * (direction, step, stencil): a wrong gradient is wrong along every
     * direction and step, while a relu/max kink crossed by a perturbation
     * spoils only some of them. Differences within the float rounding noise
     * of the loss (FLT_EPSILON * |loss| / h) count as agreement, so that a
     * derivative that is zero up to rounding is not a relative error of 1. */
    fprintf(out,
            "#define %s_GRADCHECK_DIRECTIONS 4\n\n"
            "/* p[i] = original[i] + h * d[i], d[i] = +-1 from the direction's own stream. */\n"
            "static void %s_perturb(float *param, const float *original, size_t count, double h, uint64_t stream) {\n"
            "    tdl_rng rng;\n"
            "    tdl_rng_seed(&rng, 0x5eedULL, stream);\n"
            "    for (size_t i = 0; i < count; i++)\n"
            "        param[i] = (float)((double)original[i] + ((tdl_rng_next_u32(&rng) & 1u) ? h : -h));\n"
            "}\n\n"
            "static double %s_directional(const float *grad, size_t count, uint64_t stream) {\n"
            "    tdl_rng rng;\n"
            "    tdl_rng_seed(&rng, 0x5eedULL, stream);\n"
            "    double sum = 0.0;\n"
            "    for (size_t i = 0; i < count; i++) sum += (tdl_rng_next_u32(&rng) & 1u) ? grad[i] : -grad[i];\n"
            "    return sum;\n"
            "}\n\n",
            P, p, p);
    fprintf(out,
            "/* Parameter tensor t along direction `stream` with step h: the relative\n"
            " * difference between the analytic and the 4-point numeric derivative,\n"
            " * beyond the rounding noise of the loss. The originals are in m->grads. */\n"
            "static tdl_status %s_gradcheck_tensor(%s *m, int batch",
            p, p);
    emit_flat_input_params(out, me, train);
    fprintf(out,
            ", int t, uint64_t stream, double h,\n"
            "                                       double analytic, tdl_rng saved_rng, double *error) {\n"
            "    float *param = m->params + %s_params[t].offset;\n"
            "    const float *original = m->grads + %s_params[t].offset;\n"
            "    size_t count = %s_params[t].count;\n"
            "    const double offsets[4] = {h, -h, 2.0 * h, -2.0 * h};\n"
            "    double losses[4] = {0.0, 0.0, 0.0, 0.0}, largest = 0.0;\n"
            "    tdl_status status = TDL_STATUS_OK;\n"
            "    for (int k = 0; k < 4 && status == TDL_STATUS_OK; k++) {\n"
            "        float value = 0.0f;\n"
            "        %s_perturb(param, original, count, offsets[k], stream);\n"
            "        m->dropout_rng = saved_rng;\n"
            "        status = %s_train_pass(m, batch",
            p, p, p, p, p);
    for (int i = 0; i < me->model->input_count; i++)
        if (input_is_live(train, me->model->inputs[i])) fprintf(out, ", in_%d", me->model->inputs[i]->index);
    fprintf(out,
            ", &value, %s_FORWARD_ONLY);\n"
            "        losses[k] = value;\n"
            "        if (fabs(losses[k]) > largest) largest = fabs(losses[k]);\n"
            "    }\n"
            "    memcpy(param, original, count * sizeof *param);\n"
            "    if (status != TDL_STATUS_OK) return status;\n"
            "    const double numeric[2] = {(losses[0] - losses[1]) / (2.0 * h),\n"
            "                               (8.0 * (losses[0] - losses[1]) - (losses[2] - losses[3])) / (12.0 * h)};\n"
            "    const double noise = 1.1920928955078125e-07 * largest / h; /* FLT_EPSILON * |loss| / h */\n"
            "    *error = -1.0;\n"
            "    for (int k = 0; k < 2; k++) {\n"
            "        double scale = fabs(analytic) > fabs(numeric[k]) ? fabs(analytic) : fabs(numeric[k]);\n"
            "        double beyond = fabs(analytic - numeric[k]) - noise;\n"
            "        double e = scale > 0.0 && beyond > 0.0 ? beyond / scale : 0.0;\n"
            "        if (*error < 0.0 || e < *error) *error = e;\n"
            "    }\n"
            "    return TDL_STATUS_OK;\n"
            "}\n\n",
            P);
    fprintf(out, "double %s_gradcheck(%s *m, int batch", p, p);
    emit_input_params(out, me, train);
    fprintf(out, ") {\n");
    fprintf(out, "    if (%s_check_call(m, batch, \"%s_gradcheck\") != TDL_STATUS_OK) return -1.0;\n", p, p);
    for (int i = 0; i < me->model->input_count; i++) {
        const checked_node *in = me->model->inputs[i];
        if (!input_is_live(train, in)) continue;
        char name[80];
        cg_param_name(in->layer_name, "", name, sizeof name);
        fprintf(out, "    if (!%s) {\n        tdl_set_error(TDL_STATUS_BAD_ARGUMENT, \"%s_gradcheck: input '%s' is NULL\");\n"
                     "        return -1.0;\n    }\n", name, p, in->layer_name);
    }
    fprintf(out,
            "    enum { directions = %s_GRADCHECK_DIRECTIONS };\n"
            "    double analytic[%s_PARAM_TENSORS * directions + 1];\n"
            "    const double steps[3] = {%s_GRADCHECK_STEP, %s_GRADCHECK_STEP / 10.0, %s_GRADCHECK_STEP / 30.0};\n"
            "    tdl_rng saved_rng = m->dropout_rng;\n"
            "    float loss = 0.0f;\n"
            "    tdl_status status = %s_train_pass(m, batch",
            P, P, P, P, P, p);
    emit_flat_input_args(out, me, train);
    fprintf(out, ", &loss, %s_WITH_BACKWARD);\n", P);
    fprintf(out,
            "    for (int t = 0; status == TDL_STATUS_OK && t < %s_PARAM_TENSORS; t++)\n"
            "        for (int k = 0; k < directions; k++)\n"
            "            analytic[t * directions + k] = %s_directional(m->grads + %s_params[t].offset, %s_params[t].count,\n"
            "                                                          (uint64_t)(t * directions + k));\n"
            "    memcpy(m->grads, m->params, %s_PARAM_COUNT * sizeof *m->grads);\n"
            "    double worst = 0.0;\n"
            "    for (int t = 0; status == TDL_STATUS_OK && t < %s_PARAM_TENSORS; t++) {\n"
            "        double best = -1.0;\n"
            "        for (int s = 0; s < 3 && best != 0.0 && status == TDL_STATUS_OK; s++)\n"
            "            for (int k = 0; k < directions && best != 0.0 && status == TDL_STATUS_OK; k++) {\n"
            "                double error = 0.0;\n"
            "                status = %s_gradcheck_tensor(m, batch",
            P, p, p, p, P, P, p);
    emit_flat_input_args(out, me, train);
    fprintf(out,
            ", t, (uint64_t)(t * directions + k), steps[s],\n"
            "                                             analytic[t * directions + k], saved_rng, &error);\n"
            "                if (best < 0.0 || error < best) best = error;\n"
            "            }\n"
            "        if (best > worst) worst = best;\n"
            "    }\n"
            "    tdl_zero(m->grads, %s_PARAM_COUNT);\n"
            "    m->dropout_rng = saved_rng;\n"
            "    return status == TDL_STATUS_OK ? worst : -1.0;\n"
            "}\n\n",
            P);
}

static void emit_source(FILE *out, const model_emit *me) {
    const char *p = me->prefix;
    const char *P = me->upper_prefix;
    fprintf(out, "/* Generated by tsc %s from %s. Do not edit. */\n", TSC_VERSION, me->source_name);
    fprintf(out, "#include \"%s.h\"\n\n#include <math.h>\n#include <stdbool.h>\n#include <stdlib.h>\n#include <string.h>\n\n", p);
    fprintf(out,
            "#ifdef __cplusplus\n#define %s_STATIC_ASSERT(c, m) static_assert(c, m)\n#else\n"
            "#define %s_STATIC_ASSERT(c, m) _Static_assert(c, m)\n#endif\n\n",
            P, P);
    fprintf(out,
            "/* The sizes this file relies on, fixed by the model. */\n"
            "#define %s_PARAM_TENSORS %d\n"
            "#define %s_ACT_PER_SAMPLE ((size_t)%lld) /* activation floats per example */\n"
            "#define %s_ACT_FIXED ((size_t)%lld)      /* activation floats that do not scale with the batch */\n"
            "#define %s_GRADCHECK_STEP 1e-2\n"
            "#define %s_HEADER_BYTES ((size_t)%d) /* the model struct, at the start of the arena */\n"
            "%s_STATIC_ASSERT(sizeof(float) == 4, \"tsc generates code for 32-bit floats\");\n"
            "%s_STATIC_ASSERT(%s_PARAM_COUNT == %lld, \"the header does not match this file\");\n\n",
            P, me->param_tensors, P, (long long)me->batched_floats, P, (long long)me->fixed_floats, P, P,
            CG_ARENA_HEADER_BYTES, P, P, P, (long long)me->param_floats);
    if (me->param_tensors == 0)
        fprintf(out, "/* (the model has no trainable parameters) */\n");
    emit_param_table(out, me);
    emit_struct(out, me);
    fprintf(out, "%s_STATIC_ASSERT(sizeof(struct %s) <= %s_HEADER_BYTES, \"the model struct outgrew its place\");\n\n", P, p, P);
    fprintf(out, "typedef enum %s_pass { %s_FORWARD_ONLY, %s_WITH_BACKWARD } %s_pass;\n\n", p, P, P, p);
    cg_emit_descriptors(out, me->model, p);
    fprintf(out, "\n");
    emit_memory_functions(out, me);
    emit_weight_functions(out, me);
    emit_batch_check(out, me);
    for (int mode = 0; mode < CG_MODE_COUNT; mode++)
        if (mode != CG_MODE_TRAIN || me->has_train) emit_pass_function(out, me, me->programs[mode]);
    emit_forward_function(out, me);
    emit_evaluate_function(out, me);
    if (me->has_train) emit_train_functions(out, me);
}

/* --- Files ------------------------------------------------------------------------ */

static int write_file(const char *dir, const char *name, const char *suffix, void (*emit)(FILE *, const model_emit *),
                      const model_emit *me) {
    char *path = tsc_format("%s/%s%s", dir, name, suffix);
    char *tmp = tsc_format("%s.tmp", path);
    FILE *out = fopen(tmp, "w");
    int rc = 0;
    if (!out) {
        diag_tool_error("cannot write '%s': %s", tmp, strerror(errno));
        rc = -1;
    } else {
        emit(out, me);
        if (ferror(out) | fclose(out)) {
            diag_tool_error("cannot write '%s': %s", tmp, strerror(errno));
            remove(tmp);
            rc = -1;
        } else if (rename(tmp, path) != 0) {
            diag_tool_error("cannot write '%s': %s", path, strerror(errno));
            remove(tmp);
            rc = -1;
        }
    }
    free(tmp);
    free(path);
    return rc;
}

/* Programs and memory plans of every entry point of a model. */
static void model_emit_prepare(model_emit *me, const checked_model *model, const char *source_name) {
    memset(me, 0, sizeof *me);
    me->model = model;
    cg_c_identifier(model->name, me->prefix_buffer, sizeof me->prefix_buffer);
    me->prefix = me->prefix_buffer;
    me->source_name = source_name;
    cg_upper(me->prefix, me->upper_prefix, sizeof me->upper_prefix);
    me->has_train = model->optimizer != NULL && model->loss_count > 0;
    for (int i = 0; i < model->node_count; i++)
        for (int k = 0; k < model->nodes[i]->param_count; k++) {
            int64_t count = 0;
            tsc_type_elements(&model->nodes[i]->params[k].type, 1, 0, &count);
            me->param_floats += count;
            me->param_tensors++;
        }
    for (int mode = 0; mode < CG_MODE_COUNT; mode++) {
        me->programs[mode] = cg_program_new(model, (cg_mode)mode);
        if (mode == CG_MODE_TRAIN && !me->has_train) continue;
        analyse_program(me, me->programs[mode]);
        if (me->programs[mode]->batched_floats > me->batched_floats)
            me->batched_floats = me->programs[mode]->batched_floats;
        if (me->programs[mode]->fixed_floats > me->fixed_floats) me->fixed_floats = me->programs[mode]->fixed_floats;
    }
}

static void model_emit_release(model_emit *me) {
    for (int mode = 0; mode < CG_MODE_COUNT; mode++) cg_program_free(me->programs[mode]);
}

void tsc_emit_model(const checked_model *model, const char *source_name, FILE *header, FILE *source) {
    model_emit me;
    model_emit_prepare(&me, model, source_name);
    emit_header(header, &me);
    emit_source(source, &me);
    model_emit_release(&me);
}

static int emit_model(const checked_model *model, const char *out_dir, const char *source_name) {
    model_emit me;
    model_emit_prepare(&me, model, source_name);
    int rc = write_file(out_dir, me.prefix, ".h", emit_header, &me);
    if (rc == 0) rc = write_file(out_dir, me.prefix, ".c", emit_source, &me);
    model_emit_release(&me);
    return rc;
}

/* Floats rounded up to whole 64-byte lines, as the generated code places them. */
static uint64_t round_floats(uint64_t floats) {
    return (floats + 15) / 16 * 16;
}

static uint64_t kernel_workspace_floats(const checked_model *model, int max_batch) {
    uint64_t need = 0;
    for (int i = 0; i < model->node_count; i++) {
        const checked_node *n = model->nodes[i];
        uint64_t size = 0;
        if (n->op == TSC_OP_CONV2D || n->op == TSC_OP_CONV2D_BACKPROP_FILTER || n->op == TSC_OP_CONV2D_BACKPROP_INPUT) {
            tdl_conv2d_desc d;
            cg_conv_desc(n, &d);
            size = tdl_conv2d_workspace_size(&d, max_batch);
        } else if (n->op == TSC_OP_DENSE) {
            tdl_dense_desc d;
            cg_dense_desc(n, &d);
            size = tdl_dense_workspace_size(&d, max_batch);
        }
        if (size > need) need = size;
    }
    return need;
}

bool tsc_model_arena(const checked_model *model, int64_t max_batch, tsc_arena_report *report) {
    if (max_batch < 1 || max_batch > INT32_MAX) return false;
    model_emit me;
    model_emit_prepare(&me, model, "");
    uint64_t mb = (uint64_t)max_batch;
    report->header_bytes = CG_ARENA_HEADER_BYTES;
    report->parameter_bytes = 4 * round_floats((uint64_t)me.param_floats) * sizeof(float);
    report->activation_bytes = (round_floats(mb * (uint64_t)me.batched_floats) + round_floats((uint64_t)me.fixed_floats)) * sizeof(float);
    const cg_program *infer = me.programs[CG_MODE_INFER];
    report->forward_activation_bytes =
        (round_floats(mb * (uint64_t)infer->batched_floats) + round_floats((uint64_t)infer->fixed_floats)) * sizeof(float);
    report->workspace_bytes = round_floats(kernel_workspace_floats(model, (int)max_batch)) * sizeof(float);
    report->total_bytes = report->header_bytes + report->parameter_bytes + report->activation_bytes + report->workspace_bytes;
    model_emit_release(&me);
    return true;
}

int tsc_emit_c(const checked_file *file, const char *out_dir, const char *source_name) {
    for (int i = 0; i < file->model_count; i++)
        if (emit_model(&file->models[i], out_dir, source_name) != 0) return -1;
    return 0;
}
