/* The program tests/fuzz/compile_generated.sh links with each model that
 * fuzz_structured saved (model fz: input `image` or `features`, input
 * `label`, loss `xent`, an optimizer, maybe the output `x` or `probs`). It
 * drives every entry point on random data under ASan and UBSan, at batches
 * of 3, 1 and 37 (the runtime's thread team included: as many threads as
 * CPUs): create, init, train_step, evaluate, forward, save, init with
 * another seed, load, and checks that forward and evaluate give
 * bit-identical results after the round trip through the weight file.
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

/* The batches each model runs at, a model created for each: a few
 * examples; one (the runtime's single-example paths); and more than 32, odd,
 * so that the batched kernels, the thread team's splits and their ragged
 * last tiles all run. */
static const int batches[] = {3, 1, 37};

static int failed(const char *what, tdl_status status)
{
    fprintf(stderr, "generated_main: %s: status %d: %s\n", what, (int)status, tdl_last_error());
    return 1;
}

/* Uniform in [-1, 1) from a fixed LCG: the same data on every run. Then,
 * in three examples of every four, three groups of four inputs in every
 * four are zero, as in images with a background: on average a group is
 * not zero in 44% of a batch's examples, so that the dense kernels that
 * skip zero inputs take such a batch. */
static void fill_input(float *x, size_t examples, size_t sample_size)
{
    uint32_t state = 12345u;
    for (size_t i = 0; i < examples * sample_size; i++) {
        state = state * 1664525u + 1013904223u;
        x[i] = (float)(state >> 8) / 8388608.0f - 1.0f;
    }
    for (size_t e = 0; e < examples; e++) {
        if (e % 4 == 0)
            continue;
        for (size_t f = 0; f < sample_size; f++)
            if (f / 4 % 4 != 3)
                x[e * sample_size + f] = 0.0f;
    }
}

/* create, init, train_step, evaluate, forward, save, init, load, evaluate
 * and forward again, at one batch; 0 when every step did what it should. */
static int run_at_batch(const char *weights, int batch)
{
    const size_t examples = (size_t)batch;
    float *input = malloc(sizeof(float) * INPUT_SIZE * examples);
    /* Class 0 is in range for any number of classes. */
    int32_t *labels = calloc((size_t)FZ_LABEL_SAMPLE_SIZE * examples, sizeof *labels);
    if (!input || !labels)
        return failed("out of memory", TDL_STATUS_OK);
    fill_input(input, examples, INPUT_SIZE);

    fz *m = fz_create(batch);
    if (!m)
        return failed("fz_create", TDL_STATUS_OK);
    fz_init(m, 7);
    float loss = 0.0f;
    tdl_status status = fz_train_step(m, batch, (void *)input, (void *)labels, &loss);
    /* A model that squares its activations again and again may overflow:
     * train_step then reports it and updates nothing, as documented. */
    if (status != TDL_STATUS_OK && status != TDL_STATUS_NOT_FINITE)
        return failed("fz_train_step", status);
    if (status == TDL_STATUS_OK && !isfinite(loss))
        return failed("fz_train_step returned OK with a loss that is not finite", status);

    fz_metrics before, after;
    if ((status = fz_evaluate(m, batch, (void *)input, (void *)labels, &before)) != TDL_STATUS_OK)
        return failed("fz_evaluate", status);
#ifdef OUTPUT_SIZE
    float *out_before = calloc((size_t)OUTPUT_SIZE * examples, sizeof(float));
    float *out_after = calloc((size_t)OUTPUT_SIZE * examples, sizeof(float));
    if (!out_before || !out_after)
        return failed("out of memory", TDL_STATUS_OK);
    if ((status = fz_forward(m, batch, (void *)input, (void *)out_before)) != TDL_STATUS_OK)
        return failed("fz_forward", status);
#endif
    if ((status = fz_save(m, weights)) != TDL_STATUS_OK)
        return failed("fz_save", status);
    fz_init(m, 8);
    if ((status = fz_load(m, weights)) != TDL_STATUS_OK)
        return failed("fz_load", status);
    if ((status = fz_evaluate(m, batch, (void *)input, (void *)labels, &after)) != TDL_STATUS_OK)
        return failed("fz_evaluate after load", status);
    if (memcmp(&before, &after, sizeof before) != 0)
        return failed("evaluate differs after save and load", TDL_STATUS_OK);
#ifdef OUTPUT_SIZE
    if ((status = fz_forward(m, batch, (void *)input, (void *)out_after)) != TDL_STATUS_OK)
        return failed("fz_forward after load", status);
    if (memcmp(out_before, out_after, sizeof(float) * OUTPUT_SIZE * examples) != 0)
        return failed("forward differs after save and load", TDL_STATUS_OK);
    free(out_before);
    free(out_after);
#endif
    fz_destroy(m);
    free(input);
    free(labels);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s WEIGHTS_PATH\n", argv[0]);
        return 2;
    }
    for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++) {
        if (run_at_batch(argv[1], batches[i]) != 0) {
            fprintf(stderr, "generated_main: at batch %d\n", batches[i]);
            return 1;
        }
    }
    return 0;
}
