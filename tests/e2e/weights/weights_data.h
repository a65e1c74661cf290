/* The inputs both sides of tests/e2e/weights feed LeNet-5: the writer
 * (a normally built model, which trains a little, saves its weights and
 * records its outputs) and the test (the same model compiled with those
 * weights), so that the two forwards see the same numbers. */
#ifndef WEIGHTS_DATA_H
#define WEIGHTS_DATA_H

#include "e2e_data.h"

enum { WEIGHTS_BATCH = 4, WEIGHTS_IMAGE = 28 * 28, WEIGHTS_CLASSES = 10 };

/* Both forwards run on this many threads: the bits of some sums depend on
 * the count, and the default count on the CPUs each process may use, which
 * the writer (run at build time) and the test need not share. */
enum { WEIGHTS_THREADS = 2 };

static inline void weights_fill_images(float *images) {
    e2e_rng rng = {2024};
    e2e_fill_uniform(&rng, images, (size_t)WEIGHTS_BATCH * WEIGHTS_IMAGE, 0.0f, 1.0f);
}

#endif /* WEIGHTS_DATA_H */
