/* The lowering and the C of concat and multiply, checked on hand-made
 * nodes: the checker does not know the two ops yet (their rows in
 * op_table.c wait for TSC_OP_CONCAT and TSC_OP_MULTIPLY), so the row
 * functions are called directly. When the op registry lands, the e2e model
 * tests/e2e/pending/gc_combine.tdl takes over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cg_ops.h"

/* a: f32[B,4,3], y: f32[B,2,3], c = concat(a, y, a, axis=1): f32[B,10,3],
 * m = multiply(c, c). */
typedef struct graph {
    checked_node a, y, c, m;
    checked_node *nodes[4];
    checked_node *c_inputs[3], *m_inputs[2];
    checked_model model;
    cg_program program;
    cg_node_buffers node_buffers[4];
    cg_buffer buffers[8];
    bool grad[4];
    cg_step steps[1];
    cg_operand operands[16];
} graph;

static tsc_type type3(int64_t d1, int64_t d2) {
    tsc_type t = {TSC_DTYPE_F32, 3, {TSC_DIM_BATCH, d1, d2}};
    return t;
}

static int add_buffer(graph *g, cg_buffer_role role, const checked_node *n, const char *c_name) {
    int b = g->program.buffer_count++;
    int64_t elements = 1;
    for (int i = 1; i < n->type.rank; i++) elements *= n->type.dims[i];
    g->buffers[b] = (cg_buffer){.role = role, .node = n, .batched = true, .elements = elements, .alias_of = -1,
                                .input_index = -1, .first_step = -1, .last_step = -1, .c_name = (char *)c_name};
    return b;
}

static void node(graph *g, checked_node *n, int index, const char *name, tsc_type type) {
    n->index = index;
    n->op = TSC_OP_ADD; /* a stand-in: nothing below reads the op */
    n->info = tsc_op_info_of(TSC_OP_ADD);
    n->layer_name = name;
    n->type = type;
    g->nodes[index] = n;
}

static graph *make_graph(void) {
    graph *g = calloc(1, sizeof *g);
    assert_non_null(g);
    node(g, &g->a, 0, "a", type3(4, 3));
    node(g, &g->y, 1, "y", type3(2, 3));
    node(g, &g->c, 2, "c", type3(10, 3));
    node(g, &g->m, 3, "m", type3(10, 3));
    g->c_inputs[0] = &g->a;
    g->c_inputs[1] = &g->y;
    g->c_inputs[2] = &g->a;
    g->c.inputs = g->c_inputs;
    g->c.input_count = 3;
    g->c.attrs.axis = 1;
    g->m_inputs[0] = &g->c;
    g->m_inputs[1] = &g->c;
    g->m.inputs = g->m_inputs;
    g->m.input_count = 2;
    g->model.nodes = g->nodes;
    g->model.node_count = 4;
    cg_program *p = &g->program;
    p->model = &g->model;
    p->mode = CG_MODE_TRAIN;
    p->grad = g->grad;
    p->node_buffers = g->node_buffers;
    p->buffers = g->buffers;
    p->buffer_capacity = 8;
    p->steps = g->steps;
    p->step_capacity = 1;
    p->operands = g->operands;
    p->operand_capacity = 16;
    static const char *const values[] = {"v_a", "v_y", "v_c", "v_m"}, *const grads[] = {"g_a", "g_y", "g_c", "g_m"};
    for (int i = 0; i < 4; i++) {
        g->node_buffers[i] = (cg_node_buffers){-1, -1, -1, -1, -1, -1, -1};
        g->node_buffers[i].value = add_buffer(g, CG_BUFFER_VALUE, g->nodes[i], values[i]);
        if (i != 1) { /* y needs no gradient */
            g->grad[i] = true;
            g->node_buffers[i].grad = add_buffer(g, CG_BUFFER_GRAD, g->nodes[i], grads[i]);
        }
    }
    return g;
}

/* Lowers and prints one step of node n with the given row functions. */
static char *one_step(graph *g, const checked_node *n, void (*lower)(cg_lowerer *, const checked_node *),
                      void (*emit)(cg_emitter *, const checked_node *)) {
    cg_program *p = &g->program;
    p->step_count = 1;
    p->operand_count = 0;
    p->steps[0] = (cg_step){CG_STEP_BACKWARD, n, 0, 0};
    bool zeroed[8] = {false};
    cg_lowerer l = {p, zeroed};
    lower(&l, n);
    cg_buf out = {0};
    bool used[16] = {false}, done[16] = {false};
    cg_emitter e = {.out = &out, .program = p, .prefix = "t", .step = &p->steps[0], .operand_used = used,
                    .operand_zeroed = done};
    emit(&e, n);
    for (int i = 0; i < p->steps[0].operand_count; i++) assert_true(used[i]); /* printed what it declared */
    for (int i = 0; i < e.temp_count; i++) free(e.temps[i]);
    free(e.temps);
    return cg_buf_take(&out);
}

/* concat: every input is read; the lengths along the axis and the sizes
 * around it are literals. */
static void test_concat_forward(void **state) {
    (void)state;
    graph *g = make_graph();
    char *text = one_step(g, &g->c, lower_binary_forward, emit_concat_forward);
    assert_string_equal(text, "    {\n"
                              "        const float *const parts[] = {v_a, v_y, v_a};\n"
                              "        static const int lens[] = {4, 2, 4};\n"
                              "        tdl_concat_forward(v_c, parts, lens, 3, (size_t)batch * 1, 3);\n"
                              "    }\n");
    free(text);
    free(g);
}

/* concat backward: a gradient per input (NULL where none is needed), and an
 * input used twice is zeroed once before its two slices are added. */
static void test_concat_backward(void **state) {
    (void)state;
    graph *g = make_graph();
    char *text = one_step(g, &g->c, lower_concat_backward, emit_concat_backward);
    assert_string_equal(text, "    tdl_zero(g_a, (size_t)batch * 12);\n"
                              "    {\n"
                              "        float *const dparts[] = {g_a, NULL, g_a};\n"
                              "        static const int lens[] = {4, 2, 4};\n"
                              "        tdl_concat_backward(dparts, g_c, lens, 3, (size_t)batch * 1, 3);\n"
                              "    }\n");
    free(text);
    free(g);
}

/* multiply(c, c): both gradients are the same buffer, zeroed once. */
static void test_multiply(void **state) {
    (void)state;
    graph *g = make_graph();
    char *text = one_step(g, &g->m, lower_binary_forward, emit_multiply_forward);
    assert_string_equal(text, "    tdl_multiply_forward(v_m, v_c, v_c, (size_t)batch * 30);\n");
    free(text);
    text = one_step(g, &g->m, lower_multiply_backward, emit_multiply_backward);
    assert_string_equal(text, "    tdl_zero(g_c, (size_t)batch * 30);\n"
                              "    tdl_multiply_backward(g_c, g_c, g_m, v_c, v_c, (size_t)batch * 30);\n");
    free(text);
    free(g);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_concat_forward),
        cmocka_unit_test(test_concat_backward),
        cmocka_unit_test(test_multiply),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
