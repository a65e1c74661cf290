/* dropout: the mask is drawn from the model's PCG32 stream, one draw per
 * element in element order, exactly as a loop calling tdl_rng_uniform would
 * draw it; but the draws are made DROPOUT_LANES at a time by generators
 * standing at consecutive positions of that stream (which the compiler turns
 * into vector code), and split over the team by jumping each thread to its
 * first element. So the mask depends on the seed alone, never on the thread
 * count or the instruction set. */
#include <stdint.h>

#include "pcg.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* Generators stepping side by side: 16 states are 2 AVX-512 registers. */
enum { DROPOUT_LANES = 16 };

/* Below this many elements per thread a pass stays on one thread. Both
 * passes split as the layers around them do, by contiguous halves of the
 * batch, so each core draws and scales the rows it wrote. mnist_convnet's
 * dropout at batch 32 (51,200 elements) on two threads, with 32768 as
 * the bound before: the forward 30 -> 17.6 us, the backward 11.4 -> 6.8
 * (the dense layer after it, on one thread, reads the other core's half:
 * 12 -> 16.5 us). */
#define DROPOUT_MIN_THREAD_ELEMENTS 16384.0

typedef struct dropout_job {
    float *y, *mask;
    const float *x;
    size_t n;
    float rate, keep_scale;
    tdl_rng start;   /* the stream at element 0 */
} dropout_job;

/* tdl_rng_uniform's mapping of a 32-bit draw: its top 24 bits, exact in float. */
static inline float unit_float(uint32_t draw) {
    return (float)(draw >> 8) * (1.0f / 16777216.0f);
}

/* mask (n): the mask of the n elements from the stream state `first` on,
 * whose generator has the given increment. */
TDL_VECTOR_CLONES static void draw_mask(float *restrict mask, size_t n, uint64_t first, uint64_t increment,
                                        float rate, float keep_scale) {
    uint64_t lane[DROPOUT_LANES];
    lane[0] = first;
    for (int k = 1; k < DROPOUT_LANES; ++k) lane[k] = lane[k - 1] * PCG_MULTIPLIER + increment;
    uint64_t stride_a, stride_c;   /* DROPOUT_LANES draws as one step */
    pcg_stride(DROPOUT_LANES, increment, &stride_a, &stride_c);
    size_t i = 0;
    for (; i + DROPOUT_LANES <= n; i += DROPOUT_LANES) {
        /* Unrolled first (GCC -O3), the lanes would become 16 scalar
         * generators: kept a loop, they are vectorised (0.24 -> 0.08 ms per
         * 204800 draws with AVX-512, measured at -O3). */
        TDL_VECTOR_ROW
        for (int k = 0; k < DROPOUT_LANES; ++k) {
            const uint64_t old = lane[k];
            lane[k] = old * stride_a + stride_c;
            mask[i + (size_t)k] = unit_float(pcg_output(old)) < rate ? 0.0f : keep_scale;
        }
    }
    for (int k = 0; i + (size_t)k < n; ++k)   /* the last, partial group */
        mask[i + (size_t)k] = unit_float(pcg_output(lane[k])) < rate ? 0.0f : keep_scale;
}

/* One thread's contiguous range of elements. */
static void dropout_share(void *context, int t, int threads) {
    const dropout_job *j = context;
    size_t begin, end;
    tdl_team_share(j->n, t, threads, &begin, &end);
    if (begin == end) return;
    tdl_rng at = j->start;
    tdl_rng_advance(&at, begin);
    draw_mask(j->mask + begin, end - begin, at.state, at.increment, j->rate, j->keep_scale);
    /* y may be x: no restrict, and the same index on both sides. */
    for (size_t i = begin; i < end; ++i) j->y[i] = j->x[i] * j->mask[i];
}

/* x: (n) -> y: (n), mask: (n). y may alias x; rng moves n draws on. */
void tdl_dropout_forward(float *y, float *mask, const float *x, size_t n, float rate, tdl_rng *rng) {
    if (y == NULL || mask == NULL || x == NULL || rng == NULL) {
        return;
    }
    /* rate >= 1 drops everything; 1 / (1 - rate) would be infinite. */
    const float keep_scale = rate < 1.0f ? 1.0f / (1.0f - rate) : 0.0f;
    dropout_job job = {y, mask, x, n, rate, keep_scale, *rng};
    tdl_team_run(tdl_team_threads_for((double)n, DROPOUT_MIN_THREAD_ELEMENTS), dropout_share, &job);
    tdl_rng_advance(rng, n);
}

/* dx += dy * mask over non-aliasing arrays, vectorised. */
TDL_VECTOR_CLONES static void add_masked(float *restrict dx, const float *restrict dy, const float *restrict mask,
                                         size_t n) {
    for (size_t i = 0; i < n; ++i) dx[i] += dy[i] * mask[i];
}

typedef struct backward_job {
    float *dx;
    const float *dy, *mask;
} backward_job;

static void backward_range(void *context, size_t begin, size_t end) {
    const backward_job *j = context;
    add_masked(j->dx + begin, j->dy + begin, j->mask + begin, end - begin);
}

/* dy, mask: (n) -> dx: (n) += dy * mask */
void tdl_dropout_backward(float *dx, const float *dy, const float *mask, size_t n) {
    if (dx == NULL || dy == NULL || mask == NULL) {
        return;
    }
    if (dx != dy && (const float *)dx != mask) {
        backward_job job = {dx, dy, mask};
        tdl_team_split(n, 1.0, DROPOUT_MIN_THREAD_ELEMENTS, backward_range, &job);
        return;
    }
    for (size_t i = 0; i < n; ++i) {
        dx[i] += dy[i] * mask[i];
    }
}
