/* The program tests/fuzz/compile_generated.sh links with each model that
 * fuzz_structured saved (model fz: input `image` or `features`, input
 * `label`, loss `xent`, an optimizer, maybe the output `x` or `probs`). It
 * drives every entry point on random data under ASan and UBSan:
 * create, init, train_step, evaluate, forward, save, init with another seed,
 * load, and checks that forward and evaluate give bit-identical results after
 * the round trip through the weight file.
 *
 *   generated_main WEIGHTS_PATH   (exit 0: clean; 1: a check failed) */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fz.h"

/* Which input and output this model has: the header's shape macros say. */
#if defined(FZ_IMAGE_SAMPLE_SIZE)
#define INPUT_SIZE FZ_IMAGE_SAMPLE_SIZE
#else
#define INPUT_SIZE FZ_FEATURES_SAMPLE_SIZE
#endif
#if defined(FZ_PROBS_SAMPLE_SIZE)
#define OUTPUT_SIZE FZ_PROBS_SAMPLE_SIZE
#elif defined(FZ_X_SAMPLE_SIZE)
#define OUTPUT_SIZE FZ_X_SAMPLE_SIZE
#endif

enum { BATCH = 3 };

static int failed(const char *what, tdl_status status)
{
    fprintf(stderr, "generated_main: %s: status %d: %s\n", what, (int)status, tdl_last_error());
    return 1;
}

/* Uniform in [-1, 1) from a fixed LCG: the same data on every run. */
static void fill_random(float *x, size_t n)
{
    uint32_t state = 12345u;
    for (size_t i = 0; i < n; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WEIGHTS_PATH\n", argv[0]);
        return 2;
    }
    const char *weights = argv[1];
    float *input = malloc(sizeof(float) * INPUT_SIZE * BATCH);
    /* Class 0 is in range for any number of classes. */
    int32_t *labels = calloc((size_t)FZ_LABEL_SAMPLE_SIZE * BATCH, sizeof *labels);
    if (!input || !labels)
        return failed("out of memory", TDL_STATUS_OK);
    fill_random(input, (size_t)INPUT_SIZE * BATCH);

    fz *m = fz_create(BATCH);
    if (!m)
        return failed("fz_create", TDL_STATUS_OK);
    fz_init(m, 7);
    float loss = 0.0f;
    tdl_status status = fz_train_step(m, BATCH, (void *)input, (void *)labels, &loss);
    /* A model that squares its activations again and again may overflow:
     * train_step then reports it and updates nothing, as documented. */
    if (status != TDL_STATUS_OK && status != TDL_STATUS_NOT_FINITE)
        return failed("fz_train_step", status);
    if (status == TDL_STATUS_OK && !isfinite(loss))
        return failed("fz_train_step returned OK with a loss that is not finite", status);

    fz_metrics before, after;
    if ((status = fz_evaluate(m, BATCH, (void *)input, (void *)labels, &before)) != TDL_STATUS_OK)
        return failed("fz_evaluate", status);
#ifdef OUTPUT_SIZE
    float *out_before = calloc((size_t)OUTPUT_SIZE * BATCH, sizeof(float));
    float *out_after = calloc((size_t)OUTPUT_SIZE * BATCH, sizeof(float));
    if (!out_before || !out_after)
        return failed("out of memory", TDL_STATUS_OK);
    if ((status = fz_forward(m, BATCH, (void *)input, (void *)out_before)) != TDL_STATUS_OK)
        return failed("fz_forward", status);
#endif
    if ((status = fz_save(m, weights)) != TDL_STATUS_OK)
        return failed("fz_save", status);
    fz_init(m, 8);
    if ((status = fz_load(m, weights)) != TDL_STATUS_OK)
        return failed("fz_load", status);
    if ((status = fz_evaluate(m, BATCH, (void *)input, (void *)labels, &after)) != TDL_STATUS_OK)
        return failed("fz_evaluate after load", status);
    if (memcmp(&before, &after, sizeof before) != 0)
        return failed("evaluate differs after save and load", TDL_STATUS_OK);
#ifdef OUTPUT_SIZE
    if ((status = fz_forward(m, BATCH, (void *)input, (void *)out_after)) != TDL_STATUS_OK)
        return failed("fz_forward after load", status);
    if (memcmp(out_before, out_after, sizeof(float) * OUTPUT_SIZE * BATCH) != 0)
        return failed("forward differs after save and load", TDL_STATUS_OK);
    free(out_before);
    free(out_after);
#endif
    fz_destroy(m);
    free(input);
    free(labels);
    return 0;
}
