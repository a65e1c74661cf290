/* See infer.h. The arenas are static buffers of LENET5_ARENA_BYTES and
 * FASHION_CNN_ARENA_BYTES (the test passes the models' exact sizes, measured
 * by the host build; create_in refuses an arena that is too small). With
 * INFER_WEIGHTS_COMPILED_IN the models are inference builds whose weights
 * tsc compiled in (--weights); otherwise they start from NAME_init with a
 * fixed seed and train for INFER_TRAIN_EPOCHS passes of batch-1 steps over
 * the batch, on the device itself, so that the backward pass runs there too
 * and the probabilities compared are far from the near-uniform ones of fresh
 * weights (the x86 reference does the same and saves what it trained). */
#include "infer.h"

#include "fashion_cnn.h"
#include "lenet5.h"

/* Room enough for the optimised runtime's scratch, when no size is given. */
#ifndef LENET5_ARENA_BYTES
#define LENET5_ARENA_BYTES (8ul << 20)
#endif
#ifndef FASHION_CNN_ARENA_BYTES
#define FASHION_CNN_ARENA_BYTES (8ul << 20)
#endif

enum { INFER_TRAIN_EPOCHS = 3 };

static _Alignas(64) unsigned char lenet5_arena[LENET5_ARENA_BYTES];
static _Alignas(64) unsigned char fashion_cnn_arena[FASHION_CNN_ARENA_BYTES];

/* One image as the models read it: grey levels scaled to [0, 1]. */
static void image_of(float image[28][28][1], int index) {
    for (int i = 0; i < 28 * 28; ++i) image[i / 28][i % 28][0] = (float)fashion_batch_images[index][i] / 255.0f;
}

/* The weights: compiled in, or NAME_init and a few epochs of batch-1 train steps. */
#ifdef INFER_WEIGHTS_COMPILED_IN
#define INFER_START(name, m) TDL_STATUS_OK
#else
#define INFER_START(name, m) name##_start(m)
#define DEFINE_START(name)                                                                             \
    static tdl_status name##_start(name *m) {                                                          \
        name##_init(m, 42);                                                                            \
        for (int epoch = 0; epoch < INFER_TRAIN_EPOCHS; ++epoch)                                      \
            for (int n = 0; n < FASHION_BATCH_COUNT; ++n) {                                            \
                float image[1][28][28][1];                                                             \
                image_of(image[0], n);                                                                 \
                const int32_t label[1] = {fashion_batch_labels[n]};                                    \
                tdl_status status = name##_train_step(m, 1, (const float(*)[28][28][1])image, label, NULL); \
                if (status != TDL_STATUS_OK) return status;                                            \
            }                                                                                          \
        return TDL_STATUS_OK;                                                                          \
    }
DEFINE_START(lenet5)
DEFINE_START(fashion_cnn)
#endif

static lenet5 *lenet;
static fashion_cnn *cnn;

int infer_fashion_batch(float probs[INFER_MODELS][FASHION_BATCH_COUNT][INFER_CLASSES]) {
    lenet = lenet5_create_in(lenet5_arena, sizeof lenet5_arena, 1);
    if (lenet == NULL || INFER_START(lenet5, lenet) != TDL_STATUS_OK) return 1;
    cnn = fashion_cnn_create_in(fashion_cnn_arena, sizeof fashion_cnn_arena, 1);
    if (cnn == NULL || INFER_START(fashion_cnn, cnn) != TDL_STATUS_OK) return 2;
    for (int n = 0; n < FASHION_BATCH_COUNT; ++n) {
        float image[1][28][28][1];
        image_of(image[0], n);
        if (lenet5_forward(lenet, 1, (const float(*)[28][28][1])image, &probs[0][n]) != TDL_STATUS_OK) return 1;
        if (fashion_cnn_forward(cnn, 1, (const float(*)[28][28][1])image, &probs[1][n]) != TDL_STATUS_OK) return 2;
    }
    return 0;
}

unsigned long infer_arena_bytes(int model) {
    return (unsigned long)(model == 0 ? lenet5_arena_size(1) : fashion_cnn_arena_size(1));
}

int infer_save_weights(const char *lenet5_path, const char *fashion_cnn_path) {
#ifdef INFER_WEIGHTS_COMPILED_IN
    (void)lenet5_path, (void)fashion_cnn_path;
    return 1;
#else
    if (lenet == NULL || lenet5_save(lenet, lenet5_path) != TDL_STATUS_OK) return 1;
    if (cnn == NULL || fashion_cnn_save(cnn, fashion_cnn_path) != TDL_STATUS_OK) return 2;
    return 0;
#endif
}
