/* The reference side of the compiled-weights test: LeNet-5 built as usual
 * (parameters in the arena) is initialised, trained for a few steps so its
 * weights are no longer the initializer's, saved with lenet5_save, and its
 * forward outputs on weights_data.h's images written as raw floats.
 * Usage: write_weights WEIGHTS.safetensors OUTPUTS.f32 */
#include <stdio.h>
#include <stdlib.h>

#include "lenet5.h"
#include "weights_data.h"

static int fail(const char *what) {
    fprintf(stderr, "write_weights: %s: %s\n", what, tdl_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: write_weights WEIGHTS.safetensors OUTPUTS.f32\n");
        return 2;
    }
    static float images[WEIGHTS_BATCH * WEIGHTS_IMAGE], probs[WEIGHTS_BATCH * WEIGHTS_CLASSES];
    static int32_t labels[WEIGHTS_BATCH];
    weights_fill_images(images);
    tdl_set_num_threads(WEIGHTS_THREADS);
    e2e_rng rng = {7};
    e2e_fill_labels(&rng, labels, WEIGHTS_BATCH, WEIGHTS_CLASSES);
    lenet5 *m = lenet5_create(WEIGHTS_BATCH);
    if (!m) return fail("create");
    lenet5_init(m, 7);
    const float (*image)[28][28][1] = (const float (*)[28][28][1])images;
    for (int step = 0; step < 3; step++)
        if (lenet5_train_step(m, WEIGHTS_BATCH, image, labels, NULL) != TDL_STATUS_OK) return fail("train_step");
    if (lenet5_save(m, argv[1]) != TDL_STATUS_OK) return fail("save");
    if (lenet5_forward(m, WEIGHTS_BATCH, image, (float (*)[10])probs) != TDL_STATUS_OK) return fail("forward");
    lenet5_destroy(m);
    FILE *out = fopen(argv[2], "wb");
    if (!out || fwrite(probs, sizeof probs, 1, out) != 1 || fclose(out) != 0) {
        fprintf(stderr, "write_weights: cannot write %s\n", argv[2]);
        return 1;
    }
    return 0;
}
