/* tsc --summary: a Keras-style table per model (layer, op, output shape,
 * parameters, FLOPs, activation bytes, inputs) and the model's totals.
 * How each figure is counted is documented in docs/reports.md. */
#include "codegen.h"
#include "report.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

enum summary_column {
    COLUMN_LAYER,
    COLUMN_SHAPE,
    COLUMN_PARAMS,
    COLUMN_FLOPS,
    COLUMN_BYTES,
    COLUMN_INPUTS,
    COLUMN_COUNT
};

static const char *const column_titles[COLUMN_COUNT] = {
    "Layer (op)", "Output shape", "Param #", "FLOPs", "Act. bytes", "Connected to",
};

/* Numbers are right-aligned, text left-aligned. */
static bool column_is_numeric(enum summary_column column)
{
    return column == COLUMN_PARAMS || column == COLUMN_FLOPS || column == COLUMN_BYTES;
}

typedef struct summary_row {
    char *cells[COLUMN_COUNT];
} summary_row;

/* The figures of one node for a given batch; each saturates at INT64_MAX. */
typedef struct node_figures {
    int64_t params;         /* trainable and non-trainable, as Keras' Param # column */
    int64_t trainable;
    int64_t flops;
    int64_t activation_bytes;
} node_figures;

static int64_t saturating_add(int64_t a, int64_t b)
{
    return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t saturating_mul(int64_t a, int64_t b)
{
    int64_t product;
    return tsc_mul_checked(a, b, &product) ? product : INT64_MAX;
}

/* Elements of a type for the batch, INT64_MAX on overflow, 0 for poison. */
static int64_t type_elements(const tsc_type *type, int64_t batch)
{
    if (tsc_type_is_poison(type)) {
        return 0;
    }
    int64_t elements;
    return tsc_type_elements(type, batch, 0, &elements) ? elements : INT64_MAX;
}

static node_figures node_figures_of(const checked_node *node, int64_t batch)
{
    node_figures figures = {0, 0, 0, 0};
    for (int i = 0; i < node->param_count; i++) {
        figures.trainable = saturating_add(figures.trainable, type_elements(&node->params[i].type, 1));
    }
    figures.params = figures.trainable;
    for (int i = 0; i < node->state_count; i++) {
        figures.params = saturating_add(figures.params, type_elements(&node->state[i].type, 1));
    }
    /* The checker counted the multiply-adds of one example. */
    int64_t macs = tsc_type_is_poison(&node->type) ? 0 : saturating_mul(node->macs_per_example, batch);
    figures.flops = saturating_mul(macs, 2);
    /* f32 and i32 are both 4 bytes. */
    figures.activation_bytes = saturating_mul(type_elements(&node->type, batch), 4);
    return figures;
}

/* Formats a count (>= 0) such as 1234567 as "1,234,567" into buf. */
static const char *format_count(char *buf, size_t size, int64_t value)
{
    char digits[24];
    int length = snprintf(digits, sizeof digits, "%" PRId64, value);
    size_t out = 0;
    for (int i = 0; i < length && out + 2 < size; i++) {
        if (i > 0 && (length - i) % 3 == 0) {
            buf[out++] = ',';
        }
        buf[out++] = digits[i];
    }
    buf[out] = '\0';
    return buf;
}

/* Formats a byte count as Keras does: "241.04 KB" (powers of 1024). */
static const char *format_bytes(char *buf, size_t size, int64_t bytes)
{
    static const char *const units[] = {"B", "KB", "MB", "GB", "TB", "PB", "EB"};
    double value = (double)bytes;
    size_t unit = 0;
    while (value >= 1024.0 && unit + 1 < sizeof units / sizeof units[0]) {
        value /= 1024.0;
        unit++;
    }
    snprintf(buf, size, "%.2f %s", value, units[unit]);
    return buf;
}

/* The node's layer name; a node left unnamed by an earlier error shows "?". */
static const char *node_name(const checked_node *node)
{
    return node->layer_name ? node->layer_name : "?";
}

/* The name a loss or metric was given in the model (xent, acc). */
static const char *node_binding(const checked_node *node)
{
    return node->binding ? node->binding : node_name(node);
}

/* "conv2d_1 (conv2d)"; a loss or metric shows its kind and its name in the model. */
static char *layer_cell(const checked_node *node)
{
    const char *op_name = node->op == TSC_OP_INPUT ? "input" : node->info->name;
    switch (node->info->family) {
    case TSC_FAMILY_LOSS:
        return tsc_format("%s (loss %s)", node_binding(node), op_name);
    case TSC_FAMILY_METRIC:
        return tsc_format("%s (metric %s)", node_binding(node), op_name);
    default:
        return tsc_format("%s (%s)", node_name(node), op_name);
    }
}

/* The layer names of the node's tensor operands, comma-separated. */
static char *inputs_cell(const checked_node *node)
{
    size_t length = 1;
    for (int i = 0; i < node->input_count; i++) {
        length += strlen(node_name(node->inputs[i])) + 2;
    }
    char *text = tsc_xmalloc(length);
    text[0] = '\0';
    for (int i = 0; i < node->input_count; i++) {
        if (i > 0) {
            strcat(text, ", ");
        }
        strcat(text, node_name(node->inputs[i]));
    }
    return text;
}

static void print_repeated(FILE *out, char c, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        fputc(c, out);
    }
    fputc('\n', out);
}

/* One row, cells padded to the column widths, no trailing blanks. */
static void print_row(FILE *out, char *const cells[COLUMN_COUNT], const size_t widths[COLUMN_COUNT])
{
    int last = COLUMN_COUNT - 1;
    while (last > 0 && cells[last][0] == '\0') {
        last--;
    }
    for (int column = 0; column <= last; column++) {
        int width = (int)widths[column];
        fputs(column == 0 ? " " : "  ", out);
        if (column_is_numeric((enum summary_column)column)) {
            fprintf(out, "%*s", width, cells[column]);
        } else if (column == last) {
            fputs(cells[column], out);
        } else {
            fprintf(out, "%-*s", width, cells[column]);
        }
    }
    fputc('\n', out);
}

/* learning_rate=…: the number, or the schedule with its arguments. */
static void print_rate(FILE *out, const checked_optimizer *o)
{
    const checked_schedule *s = o->schedule;
    if (!s) {
        fprintf(out, "learning_rate=%g", o->learning_rate);
    } else if (s->op == TSC_OP_EXPONENTIAL_DECAY) {
        fprintf(out, "learning_rate=exponential_decay(initial_learning_rate=%g, decay_steps=%lld, decay_rate=%g, "
                     "staircase=%s)",
                s->initial_learning_rate, (long long)s->decay_steps, s->decay_rate, s->staircase ? "true" : "false");
    } else if (s->op == TSC_OP_PIECEWISE_CONSTANT_DECAY) {
        fputs("learning_rate=piecewise_constant_decay(boundaries=[", out);
        for (int i = 0; i < s->boundary_count; i++)
            fprintf(out, "%s%lld", i ? ", " : "", (long long)s->boundaries[i]);
        fputs("], values=[", out);
        for (int i = 0; i <= s->boundary_count; i++)
            fprintf(out, "%s%g", i ? ", " : "", s->values[i]);
        fputs("])", out);
    } else {
        fprintf(out, "learning_rate=cosine_decay(initial_learning_rate=%g, decay_steps=%lld, alpha=%g",
                s->initial_learning_rate, (long long)s->decay_steps, s->alpha);
        if (s->warmup)
            fprintf(out, ", warmup_target=%g, warmup_steps=%lld", s->warmup_target, (long long)s->warmup_steps);
        fputs(")", out);
    }
}

/* The optimizer as written in TDL with its resolved hyper-parameters. */
static void print_optimizer(FILE *out, const checked_optimizer *optimizer)
{
    if (!optimizer) {
        fputs("Optimizer: none (inference only)\n", out);
        return;
    }
    fprintf(out, "Optimizer: %s(", tsc_op_info_of(optimizer->op)->name);
    print_rate(out, optimizer);
    if (optimizer->op == TSC_OP_SGD) {
        fprintf(out, ", momentum=%g, nesterov=%s", optimizer->momentum, optimizer->nesterov ? "true" : "false");
    } else if (optimizer->op == TSC_OP_RMSPROP) {
        fprintf(out, ", rho=%g, momentum=%g, epsilon=%g, centered=%s", optimizer->rho, optimizer->momentum,
                optimizer->epsilon, optimizer->centered ? "true" : "false");
    } else {
        fprintf(out, ", beta_1=%g, beta_2=%g, epsilon=%g", optimizer->beta_1, optimizer->beta_2,
                optimizer->epsilon);
        if (optimizer->amsgrad)
            fputs(", amsgrad=true", out);
    }
    if (optimizer->weight_decay != 0.0) {
        fprintf(out, ", weight_decay=%g", optimizer->weight_decay);
    }
    const char *clip_names[3] = {"clipnorm", "global_clipnorm", "clipvalue"};
    const double clips[3] = {optimizer->clipnorm, optimizer->global_clipnorm, optimizer->clipvalue};
    for (int i = 0; i < 3; i++)
        if (clips[i] != 0.0)
            fprintf(out, ", %s=%g", clip_names[i], clips[i]);
    fputs(")\n", out);
}

/* The arena the generated NAME_create(batch) allocates, part by part, from the
 * code generator's own memory plan. A model with errors has no plan. */
static bool model_has_errors(const checked_model *model)
{
    for (int i = 0; i < model->node_count; i++) {
        if (tsc_type_is_poison(&model->nodes[i]->type)) {
            return true;
        }
    }
    return false;
}

static void print_arena(FILE *out, const checked_model *model, int64_t batch, const tsc_codegen_options *options)
{
    tsc_arena_report arena;
    if (!tsc_model_arena_with(model, options, batch, &arena)) {
        return;
    }
    char total[32], params[32], activations[32], forward[32], scratch[32], state[32];
    fprintf(out, "Arena for max_batch %" PRId64 ": %s (", batch,
            format_bytes(total, sizeof total, (int64_t)arena.total_bytes));
    if (arena.weights_compiled_in) {
        fputs("parameters compiled in; ", out);
    } else {
        fprintf(out, "%s %s; ", arena.trains ? "parameters, gradients and optimizer state" : "parameters",
                format_bytes(params, sizeof params, (int64_t)arena.parameter_bytes));
    }
    if (arena.state_bytes > 0) {
        fprintf(out, "non-trainable state %s; ", format_bytes(state, sizeof state, (int64_t)arena.state_bytes));
    }
    fprintf(out, "activations %s, of which forward alone uses %s; kernel scratch %s)\n",
            format_bytes(activations, sizeof activations, (int64_t)arena.activation_bytes),
            format_bytes(forward, sizeof forward, (int64_t)arena.forward_activation_bytes),
            format_bytes(scratch, sizeof scratch, (int64_t)arena.workspace_bytes));
}

/* What an inference build needs on a device, in bytes: the weights (flash,
 * when compiled in with --weights) and the arena (RAM) at max_batch 1 and
 * at the chosen batch, with the weights compiled in and with them loaded
 * into the arena. */
static void print_footprint(FILE *out, const checked_model *model, int64_t batch, const tsc_codegen_options *options)
{
    tsc_codegen_options in_flash = *options, in_ram = *options;
    in_flash.weights_compiled_in = true;
    in_ram.weights = NULL;
    in_ram.weights_compiled_in = false;
    tsc_arena_report flash_one, flash_batch, ram_one, ram_batch;
    if (!tsc_model_arena_with(model, &in_flash, 1, &flash_one) ||
        !tsc_model_arena_with(model, &in_flash, batch, &flash_batch) ||
        !tsc_model_arena_with(model, &in_ram, 1, &ram_one) || !tsc_model_arena_with(model, &in_ram, batch, &ram_batch)) {
        return;
    }
    char a[32], b[32], c[32];
    fprintf(out, "Footprint (inference): flash %s bytes of weights (static const with --weights)\n",
            format_count(a, sizeof a, (int64_t)flash_one.weight_bytes));
    fprintf(out, "  RAM, weights in flash: arena %s bytes at max_batch 1, %s bytes at max_batch %" PRId64 "\n",
            format_count(b, sizeof b, (int64_t)flash_one.total_bytes),
            format_count(c, sizeof c, (int64_t)flash_batch.total_bytes), batch);
    fprintf(out, "  RAM, weights loaded:   arena %s bytes at max_batch 1, %s bytes at max_batch %" PRId64 "\n",
            format_count(b, sizeof b, (int64_t)ram_one.total_bytes),
            format_count(c, sizeof c, (int64_t)ram_batch.total_bytes), batch);
}

static void print_model_summary(FILE *out, const checked_model *model, int64_t batch,
                                const tsc_codegen_options *options)
{
    int row_count = model->node_count;
    summary_row *rows = tsc_xcalloc((size_t)(row_count > 0 ? row_count : 1), sizeof *rows);
    summary_row header;
    size_t widths[COLUMN_COUNT];
    for (int column = 0; column < COLUMN_COUNT; column++) {
        header.cells[column] = tsc_xstrdup(column_titles[column]);
        widths[column] = strlen(column_titles[column]);
    }

    node_figures totals = {0, 0, 0, 0};
    for (int i = 0; i < row_count; i++) {
        const checked_node *node = model->nodes[i];
        node_figures figures = node_figures_of(node, batch);
        totals.params = saturating_add(totals.params, figures.params);
        totals.trainable = saturating_add(totals.trainable, figures.trainable);
        totals.flops = saturating_add(totals.flops, figures.flops);
        totals.activation_bytes = saturating_add(totals.activation_bytes, figures.activation_bytes);

        char number[32];   /* an int64 with thousands separators: at most 26 bytes */
        rows[i].cells[COLUMN_LAYER] = layer_cell(node);
        rows[i].cells[COLUMN_SHAPE] = tsc_type_string(&node->type, model->batch_symbol);
        rows[i].cells[COLUMN_PARAMS] = tsc_xstrdup(format_count(number, sizeof number, figures.params));
        rows[i].cells[COLUMN_FLOPS] = tsc_xstrdup(format_count(number, sizeof number, figures.flops));
        rows[i].cells[COLUMN_BYTES] = tsc_xstrdup(format_count(number, sizeof number, figures.activation_bytes));
        rows[i].cells[COLUMN_INPUTS] = inputs_cell(node);
        for (int column = 0; column < COLUMN_COUNT; column++) {
            size_t width = strlen(rows[i].cells[column]);
            if (width > widths[column]) {
                widths[column] = width;
            }
        }
    }

    size_t line_width = 1;
    for (int column = 0; column < COLUMN_COUNT; column++) {
        line_width += widths[column] + (column == 0 ? 0 : 2);
    }

    fprintf(out, "Model: \"%s\"", model->name);
    if (model->batch_symbol) {
        fprintf(out, "  (FLOPs and activation bytes for %s = %" PRId64 ")", model->batch_symbol, batch);
    }
    fputc('\n', out);
    print_repeated(out, '_', line_width);
    print_row(out, header.cells, widths);
    print_repeated(out, '=', line_width);
    for (int i = 0; i < row_count; i++) {
        print_row(out, rows[i].cells, widths);
    }
    print_repeated(out, '=', line_width);

    char count[32];
    char size[32];
    /* Non-trainable: batch_norm's moving statistics, as Keras counts them. */
    int64_t frozen = totals.params - totals.trainable;
    if (totals.params == INT64_MAX) {
        frozen = model->state_total;
    }
    fprintf(out, "Total params: %s (%s)\n", format_count(count, sizeof count, totals.params),
            format_bytes(size, sizeof size, saturating_mul(totals.params, 4)));
    fprintf(out, "Trainable params: %s (%s)\n", format_count(count, sizeof count, totals.trainable),
            format_bytes(size, sizeof size, saturating_mul(totals.trainable, 4)));
    fprintf(out, "Non-trainable params: %s (%s)\n", format_count(count, sizeof count, frozen),
            format_bytes(size, sizeof size, saturating_mul(frozen, 4)));
    fprintf(out, "Total FLOPs (forward pass): %s\n", format_count(count, sizeof count, totals.flops));
    fprintf(out, "Total activation bytes: %s (%s)\n", format_count(count, sizeof count, totals.activation_bytes),
            format_bytes(size, sizeof size, totals.activation_bytes));
    if (!model_has_errors(model)) {   /* a model with errors has no plan */
        print_arena(out, model, batch, options);
        if (options->inference || options->weights) {
            print_footprint(out, model, batch, options);
        }
    }
    print_optimizer(out, model->optimizer);
    if (model->optimizer && (options->inference || options->weights)) {
        fputs("  (not in this build: --inference generates no training code)\n", out);
    }
    print_repeated(out, '_', line_width);

    for (int column = 0; column < COLUMN_COUNT; column++) {
        free(header.cells[column]);
        for (int i = 0; i < row_count; i++) {
            free(rows[i].cells[column]);
        }
    }
    free(rows);
}

void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch)
{
    const tsc_codegen_options defaults = {0};
    tsc_print_summary_with(out, file, batch, &defaults);
}

void tsc_print_summary_with(FILE *out, const checked_file *file, int64_t batch, const tsc_codegen_options *options)
{
    for (int i = 0; i < file->model_count; i++) {
        if (i > 0) {
            fputc('\n', out);
        }
        print_model_summary(out, &file->models[i], batch, options);
    }
}
