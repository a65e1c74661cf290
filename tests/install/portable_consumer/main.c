/* Trains examples/cmake-consumer's tiny_mlp in a static arena on the
 * installed portable runtime: NAME_create is refused with
 * TDL_STATUS_UNSUPPORTED, create_in works and the loss goes down. Prints
 * "portable consumer: loss A -> B" and exits 0 only then. */
#include <stdio.h>

#include "tiny_mlp.h"

enum { BATCH = 8, STEPS = 50 };

static _Alignas(64) unsigned char arena[1 << 16];

int main(void) {
    if (tiny_mlp_create(BATCH) != NULL) {
        fprintf(stderr, "tiny_mlp_create allocated on the portable runtime\n");
        return 1;
    }
    printf("tiny_mlp_create: %s\n", tdl_last_error());
    tiny_mlp *m = tiny_mlp_create_in(arena, sizeof arena, BATCH);
    if (m == NULL) {
        fprintf(stderr, "tiny_mlp_create_in: %s\n", tdl_last_error());
        return 1;
    }
    tiny_mlp_init(m, 1);
    /* Two classes told apart by the sign of the first feature. */
    float features[BATCH][4];
    int32_t labels[BATCH];
    for (int i = 0; i < BATCH; ++i) {
        const float sign = i % 2 ? 1.0f : -1.0f;
        features[i][0] = sign * (0.5f + 0.1f * (float)i);
        features[i][1] = 0.1f * (float)(i % 3);
        features[i][2] = -0.2f;
        features[i][3] = 0.3f;
        labels[i] = i % 2;
    }
    float first = 0.0f, loss = 0.0f;
    for (int step = 0; step < STEPS; ++step) {
        if (tiny_mlp_train_step(m, BATCH, (const float(*)[4])features, labels, &loss) != TDL_STATUS_OK) {
            fprintf(stderr, "tiny_mlp_train_step: %s\n", tdl_last_error());
            return 1;
        }
        if (step == 0) first = loss;
    }
    printf("portable consumer: loss %g -> %g\n", (double)first, (double)loss);
    return loss < first ? 0 : 1;
}
