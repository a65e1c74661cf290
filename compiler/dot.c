/* tsc --dot: the checked graph as Graphviz DOT. One cluster per model, a
 * vertex per input, layer, loss, metric and output, and an edge per tensor
 * operand labelled with the operand's type. Output depends only on the graph
 * (source order), so it is byte-identical from run to run. */
#include <stdlib.h>

#include "report.h"

/* Writes text as the inside of a DOT double-quoted string: quotes and
 * backslashes escaped, control characters (never in valid names) as blanks. */
static void print_escaped(FILE *out, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\') {
            fputc('\\', out);
            fputc(*p, out);
        } else if (*p < 0x20 || *p == 0x7f) {
            fputc(' ', out);
        } else {
            fputc(*p, out);
        }
    }
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

/* Vertex ids are numbers, so that no name (name="…" allows any text) can
 * collide: m<model>_n<node> for nodes, m<model>_out<output> for outputs.
 * Names appear in the labels only. */
static void print_node_id(FILE *out, int model_index, const checked_node *node)
{
    fprintf(out, "m%d_n%d", model_index, node->index);
}

static void print_output_id(FILE *out, int model_index, int output_index)
{
    fprintf(out, "m%d_out%d", model_index, output_index);
}

/* The keyword of the index-th tensor operand of an op (labels, logits, …). */
static const char *operand_keyword(const tsc_op_info *info, int index)
{
    int seen = 0;
    for (int i = 0; i < info->param_count; i++) {
        if (info->params[i].kind == TSC_ARG_TENSORS) {
            return info->params[i].name;   /* every remaining operand: concat's values */
        }
        if (info->params[i].kind == TSC_ARG_TENSOR) {
            if (seen == index) {
                return info->params[i].name;
            }
            seen++;
        }
    }
    return NULL;
}

static const char *node_shape(const checked_node *node)
{
    switch (node->info->family) {
    case TSC_FAMILY_INPUT:
        return "ellipse";
    case TSC_FAMILY_LOSS:
        return "hexagon";
    case TSC_FAMILY_METRIC:
        return "octagon";
    default:
        return "box";
    }
}

/* A vertex: two label lines, the name then what it is ("conv2d", "input",
 * "loss sparse_softmax_cross_entropy"). */
static void print_node(FILE *out, int model_index, const checked_node *node)
{
    fputs("    ", out);
    print_node_id(out, model_index, node);
    fputs(" [label=\"", out);
    switch (node->info->family) {
    case TSC_FAMILY_INPUT:
        print_escaped(out, node_name(node));
        fputs("\\ninput", out);
        break;
    case TSC_FAMILY_LOSS:
    case TSC_FAMILY_METRIC:
        print_escaped(out, node_binding(node));
        fputs(node->info->family == TSC_FAMILY_LOSS ? "\\nloss " : "\\nmetric ", out);
        print_escaped(out, node->info->name);
        break;
    default:
        print_escaped(out, node_name(node));
        fputs("\\n", out);
        print_escaped(out, node->info->name);
        break;
    }
    fprintf(out, "\", shape=%s", node_shape(node));
    if (node->is_training_only) {
        fputs(", style=dashed", out);
    }
    if (!node->used && node->info->family != TSC_FAMILY_LOSS && node->info->family != TSC_FAMILY_METRIC) {
        fputs(", color=gray50, fontcolor=gray50", out);
    }
    fputs("];\n", out);
}

/* An edge labelled with the type of the tensor it carries; operands of ops
 * with several tensor arguments also carry the argument's keyword. */
static void print_edge(FILE *out, const checked_model *model, int model_index, const checked_node *from,
                       const checked_node *to, const char *keyword)
{
    char *type = tsc_type_string(&from->type, model->batch_symbol);
    fputs("    ", out);
    print_node_id(out, model_index, from);
    fputs(" -> ", out);
    print_node_id(out, model_index, to);
    fputs(" [label=\"", out);
    if (keyword) {
        print_escaped(out, keyword);
        fputs(": ", out);
    }
    print_escaped(out, type);
    free(type);
    fputs("\"];\n", out);
}

static void print_model(FILE *out, const checked_model *model, int model_index)
{
    fprintf(out, "  subgraph cluster_m%d {\n    label=\"", model_index);
    print_escaped(out, model->name);
    fputs("\";\n", out);

    for (int i = 0; i < model->node_count; i++) {
        print_node(out, model_index, model->nodes[i]);
    }
    for (int i = 0; i < model->output_count; i++) {
        fputs("    ", out);
        print_output_id(out, model_index, i);
        fputs(" [label=\"", out);
        print_escaped(out, model->outputs[i].name);
        fputs("\\noutput\", shape=doubleoctagon];\n", out);
    }

    for (int i = 0; i < model->node_count; i++) {
        const checked_node *node = model->nodes[i];
        for (int k = 0; k < node->input_count; k++) {
            const char *keyword = node->input_count > 1 ? operand_keyword(node->info, k) : NULL;
            print_edge(out, model, model_index, node->inputs[k], node, keyword);
        }
    }
    for (int i = 0; i < model->output_count; i++) {
        const checked_node *node = model->outputs[i].node;
        if (!node) {
            continue;
        }
        char *type = tsc_type_string(&node->type, model->batch_symbol);
        fputs("    ", out);
        print_node_id(out, model_index, node);
        fputs(" -> ", out);
        print_output_id(out, model_index, i);
        fputs(" [label=\"", out);
        print_escaped(out, type);
        free(type);
        fputs("\"];\n", out);
    }
    fputs("  }\n", out);
}

void tsc_print_dot(FILE *out, const checked_file *file)
{
    fputs("digraph tsc {\n", out);
    fputs("  rankdir=TB;\n", out);
    fputs("  node [fontname=\"Helvetica\", fontsize=10];\n", out);
    fputs("  edge [fontname=\"Helvetica\", fontsize=9];\n", out);
    for (int i = 0; i < file->model_count; i++) {
        print_model(out, &file->models[i], i);
    }
    fputs("}\n", out);
}
