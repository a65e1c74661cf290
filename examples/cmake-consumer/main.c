/* Trains the model of tiny_mlp.tdl on synthetic data and shows the loss going
 * down. The label of four random features is the index of the largest of the
 * first three, so a small MLP learns it in a few epochs. Exits 0 when the
 * loss of the last epoch is below the loss of the first. */
#include <stdint.h>
#include <stdio.h>

#include "tiny_mlp.h"

enum { EXAMPLES = 512, BATCH = 32, EPOCHS = 10 };

/* A small LCG keeps the example free of platform-dependent rand(). */
static float uniform_pm1(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

static void make_data(float features[][TINY_MLP_FEATURES_DIM1], int32_t labels[], int count) {
    uint32_t state = 2024;
    for (int i = 0; i < count; i++) {
        for (int j = 0; j < TINY_MLP_FEATURES_DIM1; j++) features[i][j] = uniform_pm1(&state);
        int largest = 0;
        for (int j = 1; j < 3; j++)
            if (features[i][j] > features[i][largest]) largest = j;
        labels[i] = largest;
    }
}

/* One pass over the data; returns the mean loss, or a negative value on error. */
static float train_epoch(tiny_mlp *model, float features[][TINY_MLP_FEATURES_DIM1], const int32_t labels[]) {
    float sum = 0.0f;
    for (int start = 0; start < EXAMPLES; start += BATCH) {
        float loss = 0.0f;
        const float(*batch_features)[TINY_MLP_FEATURES_DIM1] = (const float(*)[TINY_MLP_FEATURES_DIM1])&features[start];
        if (tiny_mlp_train_step(model, BATCH, batch_features, &labels[start], &loss) != TDL_STATUS_OK) {
            fprintf(stderr, "train_step: %s\n", tdl_last_error());
            return -1.0f;
        }
        sum += loss;
    }
    return sum / (float)(EXAMPLES / BATCH);
}

int main(void) {
    static float features[EXAMPLES][TINY_MLP_FEATURES_DIM1];
    static int32_t labels[EXAMPLES];
    make_data(features, labels, EXAMPLES);

    tiny_mlp *model = tiny_mlp_create(BATCH);
    if (!model) {
        fprintf(stderr, "tiny_mlp_create: %s\n", tdl_last_error());
        return 1;
    }
    tiny_mlp_init(model, 42);

    float first = 0.0f, last = 0.0f;
    for (int epoch = 1; epoch <= EPOCHS; epoch++) {
        last = train_epoch(model, features, labels);
        if (last < 0.0f) {
            tiny_mlp_destroy(model);
            return 1;
        }
        if (epoch == 1) first = last;
        printf("epoch %2d  loss %.4f\n", epoch, (double)last);
    }

    tiny_mlp_metrics metrics;
    if (tiny_mlp_evaluate(model, BATCH, (const float(*)[TINY_MLP_FEATURES_DIM1])features, labels, &metrics) !=
        TDL_STATUS_OK) {
        fprintf(stderr, "evaluate: %s\n", tdl_last_error());
        tiny_mlp_destroy(model);
        return 1;
    }
    printf("accuracy on the first batch: %.2f\n", (double)metrics.acc);
    tiny_mlp_destroy(model);

    if (!(last < first)) {
        fprintf(stderr, "the loss did not go down: %.4f -> %.4f\n", (double)first, (double)last);
        return 1;
    }
    return 0;
}
