/* Forward time at batch 1 of LeNet-5 and fashion_cnn (weights from
 * NAME_init), on the runtime this program is linked with: bench_portable
 * (the portable runtime) or bench_portable_optimised (OpenBLAS, libxsmm,
 * the thread team at --threads N, default 1). Each call takes the next of
 * the eight Fashion-MNIST test images of tests/portable/arm/fashion_batch.h.
 * Prints "model<TAB>forward_ms" lines. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fashion_batch.h"
#include "fashion_cnn.h"
#include "lenet5.h"
#include "timing.h"

static float images[FASHION_BATCH_COUNT][28][28][1];
static int next_image;

#define DEFINE_FORWARD(name)                                                                   \
    static void name##_call(void *ctx) {                                                       \
        float probs[1][10];                                                                    \
        const int n = next_image++ % FASHION_BATCH_COUNT;                                      \
        if (name##_forward(ctx, 1, (const float(*)[28][28][1])&images[n], probs) != TDL_STATUS_OK) { \
            fprintf(stderr, #name "_forward: %s\n", tdl_last_error());                         \
            exit(1);                                                                           \
        }                                                                                      \
    }                                                                                          \
    static double name##_time(const timing_plan *plan) {                                       \
        const size_t bytes = name##_arena_size(1);                                             \
        void *arena = aligned_alloc(64, (bytes + 63) / 64 * 64);                               \
        name *m = arena != NULL ? name##_create_in(arena, bytes, 1) : NULL;                    \
        if (m == NULL) {                                                                       \
            fprintf(stderr, #name ": no model: %s\n", tdl_last_error());                       \
            exit(1);                                                                           \
        }                                                                                      \
        name##_init(m, 42);                                                                    \
        const double ms = timing_median_ms(plan, name##_call, m);                              \
        free(arena);                                                                           \
        return ms;                                                                             \
    }
DEFINE_FORWARD(lenet5)
DEFINE_FORWARD(fashion_cnn)

int main(int argc, char **argv) {
    int threads = 1;
    for (int i = 1; i + 1 < argc; i += 2)
        if (strcmp(argv[i], "--threads") == 0) threads = atoi(argv[i + 1]);
    tdl_set_num_threads(threads);
    for (int n = 0; n < FASHION_BATCH_COUNT; ++n)
        for (int p = 0; p < 28 * 28; ++p) images[n][p / 28][p % 28][0] = (float)fashion_batch_images[n][p] / 255.0f;
    const timing_plan plan = {20, 9, 0.05};
    printf("lenet5\t%.4f\n", lenet5_time(&plan));
    printf("fashion_cnn\t%.4f\n", fashion_cnn_time(&plan));
    return 0;
}
