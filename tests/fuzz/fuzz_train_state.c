/* libFuzzer harness for NAME_load_state (tdl_model_load_state_buffer):
 * arbitrary bytes as the training-state file of a small hand-described
 * model (two parameter tensors, RMSprop with momentum and centered, so three
 * optimizer slots). Besides crashes and sanitizer reports, it checks the
 * all-or-nothing promise: when the load fails, the arena (parameters, slots)
 * and the model struct (step, learning rate, dropout stream) are as before.
 *
 * Built with -DTRAIN_STATE_SEED_MAIN it is instead a program that writes a
 * valid state file of this model (the seed tests/fuzz/corpus_train_state/
 * valid.safetensors): cc -DTRAIN_STATE_SEED_MAIN … fuzz_train_state.c -ltdlrt. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tdl/runtime.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const tdl_param_info params[2] = {
    {.name = "dense_1.kernel", .offset = 0, .count = 6, .rank = 2, .shape = {3, 2}, .fan_in = 3, .fan_out = 2},
    {.name = "dense_1.bias", .offset = 6, .count = 2, .rank = 1, .shape = {2}},
};

static tdl_status no_pass(tdl_model *m, int batch, const void *const *inputs, float *loss, int backward) {
    (void)m, (void)batch, (void)inputs, (void)backward;
    *loss = 0.0f;
    return TDL_STATUS_OK;
}

static const tdl_model_info info = {
    .name = "fuzzed",
    .layout = {.param_floats = 8, .grad_floats = 8, .optimizer_slots = 3, .act_per_sample = 1, .act_fixed = 0},
    .params = params,
    .param_tensors = 2,
    .optimizer = TDL_OPTIMIZER_RMSPROP,
    .rmsprop = {.learning_rate = 0.01f, .rho = 0.9f, .momentum = 0.5f, .epsilon = 1e-7f, .centered = true},
    .learning_rate = 0.01f,
    .train_pass = no_pass,
};

#ifdef TRAIN_STATE_SEED_MAIN
#include <stdio.h>
int main(int argc, char **argv) {
    if (argc != 2) return 2;
    tdl_model *m = tdl_model_create(&info, 1);
    if (!m) return 1;
    tdl_model_init(m, 5);
    for (int i = 0; i < 8; i++) m->slot1[i] = m->slot2[i] = m->slot3[i] = 0.125f * (float)i;
    m->step = 12;
    tdl_status status = tdl_model_save_state(m, "seed", argv[1]);
    if (status != TDL_STATUS_OK) fprintf(stderr, "%s\n", tdl_last_error());
    tdl_model_destroy(m);
    return status == TDL_STATUS_OK ? 0 : 1;
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static tdl_model *m;
    if (m == NULL) m = tdl_model_create(&info, 1);
    if (m == NULL) abort();
    tdl_model_init(m, 3);
    size_t bytes = tdl_model_arena_size(&info, 1);
    uint8_t *before = malloc(bytes);
    if (before == NULL) abort();
    memcpy(before, m, bytes);
    tdl_status status = tdl_model_load_state_buffer(m, "fuzzed_load_state", data, size);
    if (status != TDL_STATUS_OK && memcmp(before, m, bytes) != 0) abort();
    if (status != TDL_STATUS_OK && tdl_last_error()[0] == '\0') abort();
    if (status == TDL_STATUS_OK && (m->step < 0 || m->dropout_rng.increment % 2 == 0)) abort();
    free(before);
    return 0;
}
