/* The hosted main of the ARM tests (x86 reference and ARM Linux under qemu):
 * `infer_print` prints every probability, one per line, as
 * "model image class value"; `infer_print --arena-sizes` prints the arena
 * bytes of each model at batch 1; `infer_print --save-weights DIR` also
 * writes DIR/lenet5.safetensors and DIR/fashion_cnn.safetensors. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "infer.h"
#include "tdl/runtime.h"

static const char *const model_names[INFER_MODELS] = {"lenet5", "fashion_cnn"};

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "--arena-sizes") == 0) {
        for (int model = 0; model < INFER_MODELS; ++model)
            printf("%s %lu\n", model_names[model], infer_arena_bytes(model));
        return 0;
    }
    static float probs[INFER_MODELS][FASHION_BATCH_COUNT][INFER_CLASSES];
    const int failed = infer_fashion_batch(probs);
    if (failed != 0) {
        fprintf(stderr, "%s: %s\n", model_names[failed - 1], tdl_last_error());
        return 1;
    }
    if (argc == 3 && strcmp(argv[1], "--save-weights") == 0) {
        const size_t room = strlen(argv[2]) + 32;
        char *lenet5_path = malloc(room), *cnn_path = malloc(room);
        if (lenet5_path == NULL || cnn_path == NULL) return 1;
        snprintf(lenet5_path, room, "%s/lenet5.safetensors", argv[2]);
        snprintf(cnn_path, room, "%s/fashion_cnn.safetensors", argv[2]);
        const int failed_save = infer_save_weights(lenet5_path, cnn_path);
        free(lenet5_path);
        free(cnn_path);
        if (failed_save != 0) {
            fprintf(stderr, "%s: %s\n", model_names[failed_save - 1], tdl_last_error());
            return 1;
        }
    }
    for (int model = 0; model < INFER_MODELS; ++model)
        for (int n = 0; n < FASHION_BATCH_COUNT; ++n)
            for (int c = 0; c < INFER_CLASSES; ++c)
                printf("%s %d %d %.9g\n", model_names[model], n, c, (double)probs[model][n][c]);
    return 0;
}
