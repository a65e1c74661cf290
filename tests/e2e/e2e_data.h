/* Deterministic test data for the end-to-end tests: a small LCG, so every
 * run (and every platform) feeds the generated models the same numbers. */
#ifndef E2E_DATA_H
#define E2E_DATA_H

#include <stddef.h>
#include <stdint.h>

typedef struct e2e_rng {
    uint64_t state;
} e2e_rng;

static inline uint32_t e2e_next(e2e_rng *r) {
    r->state = r->state * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(r->state >> 33);
}

/* Uniform in [lo, hi). */
static inline void e2e_fill_uniform(e2e_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)(e2e_next(r) >> 8) / 16777216.0f;
}

/* Labels in [0, classes). */
static inline void e2e_fill_labels(e2e_rng *r, int32_t *y, size_t n, int classes) {
    for (size_t i = 0; i < n; i++) y[i] = (int32_t)(e2e_next(r) % (uint32_t)classes);
}

/* rows x classes probability rows (positive, each summing to 1). */
static inline void e2e_fill_distributions(e2e_rng *r, float *p, size_t rows, int classes) {
    for (size_t i = 0; i < rows; i++) {
        float sum = 0.0f;
        for (int c = 0; c < classes; c++) {
            p[i * (size_t)classes + (size_t)c] = 0.05f + (float)(e2e_next(r) % 1000u) / 1000.0f;
            sum += p[i * (size_t)classes + (size_t)c];
        }
        for (int c = 0; c < classes; c++) p[i * (size_t)classes + (size_t)c] /= sum;
    }
}

#endif /* E2E_DATA_H */
