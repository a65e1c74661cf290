/* Loads weights exported from PyTorch (export_twin.py) into the C that tsc
 * generated from examples/fashion_mnist/fashion_cnn.tdl, runs forward on the
 * batch PyTorch ran, and compares the probabilities.
 *
 *   check_forward WEIGHTS BATCH
 *
 * Prints the largest difference and exits 0 when it is within TOLERANCE,
 * 1 when it is not, 2 when a file cannot be used. */
#include <math.h>
#include <stdio.h>

#include "fashion_cnn.h"

enum { BATCH = 8, CLASSES = 10 }; /* export_twin.py writes 8 images */
#define TOLERANCE 1e-4

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: check_forward WEIGHTS BATCH\n");
        return 2;
    }
    static float image[BATCH][28][28][1], expected[BATCH][CLASSES], probs[BATCH][CLASSES];
    const tdl_tensor_ref refs[] = {
        {.name = "image", .data = &image[0][0][0][0], .rank = 4, .shape = {BATCH, 28, 28, 1}},
        {.name = "probs", .data = &expected[0][0], .rank = 2, .shape = {BATCH, CLASSES}},
    };
    if (tdl_safetensors_load(argv[2], refs, 2) != TDL_STATUS_OK) {
        fprintf(stderr, "check_forward: %s\n", tdl_last_error());
        return 2;
    }

    fashion_cnn *model = fashion_cnn_create(BATCH);
    if (model == NULL) {
        fprintf(stderr, "check_forward: cannot create the model: %s\n", tdl_last_error());
        return 2;
    }
    int rc = 2;
    if (fashion_cnn_load(model, argv[1]) != TDL_STATUS_OK) {
        fprintf(stderr, "check_forward: %s\n", tdl_last_error());
    } else if (fashion_cnn_forward(model, BATCH, (const float(*)[28][28][1])image, probs) != TDL_STATUS_OK) {
        fprintf(stderr, "check_forward: forward: %s\n", tdl_last_error());
    } else {
        double worst = 0.0;
        int worst_row = 0, worst_class = 0;
        for (int b = 0; b < BATCH; b++)
            for (int c = 0; c < CLASSES; c++) {
                double diff = fabs((double)probs[b][c] - (double)expected[b][c]);
                if (diff > worst) {
                    worst = diff;
                    worst_row = b;
                    worst_class = c;
                }
            }
        printf("%s: max |tsc - PyTorch| over %dx%d probabilities = %.3g (image %d, class %d: %.6f vs %.6f); "
               "tolerance %.0e\n",
               argv[1], BATCH, CLASSES, worst, worst_row, worst_class, (double)probs[worst_row][worst_class],
               (double)expected[worst_row][worst_class], TOLERANCE);
        rc = worst <= TOLERANCE ? 0 : 1;
    }
    fashion_cnn_destroy(model);
    return rc;
}
