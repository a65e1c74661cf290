/* Internal to conv_lanes.c and conv_lanes_pool.c: what the two first-layer
 * kernels with output pixels in the vector lanes share (the limits, the
 * vector type, how many padded copies a call keeps). */
#ifndef TDL_CONV_LANES_H
#define TDL_CONV_LANES_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "tdl/runtime.h"

/* LANE_PIXELS: output pixels per block (one AVX-512 register).
 * LANES_MAX_FILTERS: F blocks of sums live in registers (8 of 32 with AVX-512,
 * of 16 with AVX2 the compiler spills some). LANES_MAX_CHANNELS: first
 * layers (grey or RGB); deeper layers have the channels for libxsmm or
 * conv_narrow.c. LANES_MAX_PLANE_FLOATS bounds an image's padded copy.
 * LANES_SLOTS: the most threads one call uses (one padded copy each). */
enum {
    LANE_PIXELS = 16,
    LANES_MAX_FILTERS = 8,
    LANES_MAX_CHANNELS = 3,
    LANES_MAX_PLANE_FLOATS = 1 << 20,
    LANES_SLOTS = 8,
};

/* Below this many multiply-adds per thread a call stays on one thread. */
#define LANES_MIN_THREAD_FLOPS 2.0e6

#if defined(__GNUC__)
/* GCC's vector type: written as one register per filter, the sums stay in
 * registers across all taps (left to the vectoriser, GCC unrolled the
 * pixels into scalars). */
typedef float lane_vector __attribute__((vector_size(LANE_PIXELS * sizeof(float))));
#define LANE_LOAD(v, p) memcpy(&(v), (p), sizeof(lane_vector))
#define LANE_STORE(p, v) memcpy((p), &(v), sizeof(lane_vector))
#endif

/* conv_lanes.c's blocks as two vectors of LANE_HALF lanes, for AVX2 (x86-64,
 * GCC or clang, which take a target attribute). */
#if defined(__x86_64__) && defined(__GNUC__)
#define LANES_HALVES 1
enum { LANE_HALF = LANE_PIXELS / 2 };
typedef float lane_half __attribute__((vector_size(LANE_HALF * sizeof(float))));
#define LANE_HALF_LOAD(v, p) memcpy(&(v), (p), sizeof(lane_half))
#define LANE_HALF_STORE(p, v) memcpy((p), &(v), sizeof(lane_half))
#else
#define LANES_HALVES 0
#endif

/* Whether a layer suits the lane kernels: one group, horizontal stride and
 * both dilations 1, few channels and filters, a bounded padded copy. */
bool conv_lanes_suits(const tdl_conv2d_desc *d);

/* How many padded copies (and so threads at most) a call of `batch` images keeps. */
static inline int conv_lanes_slots(int batch) { return batch < LANES_SLOTS ? batch : LANES_SLOTS; }

/* Floats of one slot of conv_lanes_pool.c (its copy of an image, split into
 * even and odd columns), for any pool it may be given. */
size_t conv_lanes_pool_slot_floats(const tdl_conv2d_desc *d);

#endif /* TDL_CONV_LANES_H */
