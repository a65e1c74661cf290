/* A dense layer's kernel gradient that skips, for each group of four
 * neighbouring inputs, the examples where all four are zero.
 *
 * dkernel (F,U) = x^T (F,B) * dpre (B,U): row f of dkernel sums x[b][f] *
 * dpre[b] over the batch, and an example whose input f is exactly zero adds
 * nothing to it. A first layer's inputs are often zero, and in places the
 * examples share: about half of a Fashion-MNIST image's pixels, and a pixel's
 * neighbours tend to be zero where it is (the background). Four neighbouring
 * inputs are zero together in about 38% of the examples, so their four rows
 * skip those examples: each row of dpre loaded (four vectors of 16 units)
 * then feeds four inputs' multiply-adds. A block of 64 units takes every
 * group in turn, its rows of dpre for a chunk of 128 examples copied
 * together first (32 KB, in L1 across the groups): rows of dpre are
 * `units` floats apart, and read in place (2 KB apart for 512 units) they
 * fell into a few of L1's sets and came from L2 for every group. The
 * MLP's first layer at batch 128 on one thread of an Intel Xeon, in its
 * training step (`profile_mlp`): 768-825 -> 638-690 us.
 *
 * On the MLP's 784 -> 512 at batch 128 (one thread, AMD EPYC Zen 4) the
 * kernel gradient took 625-629 us on average against 1,022-1,040 us for
 * libxsmm's tiles (with its bias gradient), the same bits. A group of two
 * inputs with eight vectors of units took 669-701 us, so four it is. A
 * relu layer's outputs are zero at random places, so four of them are all
 * zero in few examples: a batch whose sampled groups are nonzero in more
 * than MAX_GROUP_DENSITY of their examples declines, before anything is
 * written, and takes the GEMM tiles; so does a layer of fewer than
 * MIN_UNITS units.
 *
 * The sums: for each row, over the examples its group's masks hold, in
 * batch order, one multiply-add per vector, starting from zero (or from
 * dkernel when accumulating; a chunk after the first adds to what the one
 * before it wrote). An example in the group's mask but zero in this row
 * adds 0 * dpre, a zero; one not in it adds nothing. So for finite dpre the
 * result is the sum over the whole batch in order, as libxsmm's tiles sum it,
 * the same bits. Each row is one thread's, and the callers split the rows
 * at multiples of four (dense_xsmm.c), so the groups and the bits are the
 * same for every thread count.
 * A dpre that is infinite or NaN at an example whose inputs of a group are
 * zero does not reach those rows (0 * inf would be NaN); it still reaches
 * the bias's gradient and the other rows, and the step's finiteness check.
 *
 * Built for x86-64 (GCC or clang) and run where the CPU has AVX-512, or
 * AVX2 with FMA (dense_zero_inputs_avx2.c: the same sums, so the same
 * bits), and libtdlrt's kernel path is the default one; elsewhere the check
 * declines and the GEMMs run. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avx2_forms.h"
#include "dense_internal.h"
#include "tdl/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* GROUP_ROWS: neighbouring inputs that share one mask of examples.
 * BLOCK_VECTORS: vectors of 16 units per block; GROUP_ROWS x BLOCK_VECTORS
 * accumulators stay in registers over a group's examples.
 * MASK_EXAMPLES x CHUNK_MASKS: the examples of a chunk, whose rows of dpre
 * over one block are copied together (32 KB on the stack) and whose masks
 * cover WINDOW_GROUPS groups at a time (16 KB).
 * SAMPLE_GROUPS, SAMPLE_EXAMPLES: groups spread over the inputs, in
 * examples spread over the batch, that decide whether a batch takes the
 * path: 256 groups' inputs read, where reading the whole batch's cost a
 * LeNet-5 layer's gradient at batch 32 more than a microsecond. */
enum {
    LANES = 16,
    GROUP_ROWS = DENSE_INPUT_GROUP,
    BLOCK_VECTORS = 4,
    BLOCK_UNITS = DENSE_ZERO_INPUTS_BLOCK_UNITS,
    MASK_EXAMPLES = DENSE_MASK_EXAMPLES,
    CHUNK_MASKS = 2,
    CHUNK_EXAMPLES = MASK_EXAMPLES * CHUNK_MASKS,
    WINDOW_GROUPS = 1024,
    SAMPLE_GROUPS = 8,
    SAMPLE_EXAMPLES = 32
};

/* The largest fraction of a group's examples with an input that is not zero
 * at which a batch takes the path, and the fewest units. On the MLP's
 * images (0.62) the path took 0.61 of libxsmm's time. On groups zero at
 * random places, one thread, its time over libxsmm's at 0.6 / 0.7 / 0.8 of
 * the examples: 784 -> 512 at batch 128 0.66 / 0.83 / 1.05, at batch 32
 * 0.86 / 0.95 / 1.03; 512 -> 512 0.84 / 0.95 / 1.06; 400 -> 120 and 120 ->
 * 84 0.84-0.88 / 0.94-0.98 / 0.91-1.08. Narrower layers have too few units
 * to pay for finding each group's examples (a strided read of the batch):
 * 1024 -> 64 at batch 64 took 1.00-1.04 of libxsmm's time even at 0.3,
 * 256 -> 16 at batch 32 1.38. */
#define MAX_GROUP_DENSITY 0.7
enum { MIN_UNITS = 128 };
_Static_assert(BLOCK_UNITS == BLOCK_VECTORS * LANES, "a block is whole vectors");

#define GROUP_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* dkernel's `rows` rows (`units` floats apart) over one block of 16 *
 * vectors units, the last vector's lanes under last_mask (+)= the sum over
 * a chunk's examples, in order, of x[example][row] * dpre[example][...]:
 * the examples of masks[s] (bit e: example s * MASK_EXAMPLES + e) for each
 * of the chunk's `masks` masks. x points at the group's first input of the
 * chunk's first example, dkernel at the block's first unit of the group's
 * first row; block_rows holds the chunk's rows of dpre over the block,
 * BLOCK_UNITS floats apart. */
GROUP_INLINE void group_block(float *restrict dkernel, const float *restrict x, size_t features,
                              const float *restrict block_rows, size_t units, const uint64_t *masks, size_t masks_count,
                              const int rows, const int vectors, __mmask16 last_mask, bool accumulate) {
    /* The loops over rows and vectors are unrolled, so that each accumulator
     * is a register of its own. A row of dpre is loaded once, before the
     * multiply-adds of all the group's inputs use it. */
    __m512 acc[GROUP_ROWS][BLOCK_VECTORS];
#pragma GCC unroll 4
    for (int r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < vectors; ++v)
            acc[r][v] = accumulate ? _mm512_maskz_loadu_ps(v == vectors - 1 ? last_mask : (__mmask16)0xFFFF,
                                                           dkernel + (size_t)r * units + v * LANES)
                                   : _mm512_setzero_ps();
    for (size_t s = 0; s < masks_count; ++s) {
        for (uint64_t mask = masks[s]; mask != 0; mask &= mask - 1) {
            const size_t b = s * MASK_EXAMPLES + (size_t)__builtin_ctzll(mask);
            const float *row = block_rows + b * BLOCK_UNITS;
            __m512 gradient[BLOCK_VECTORS];
#pragma GCC unroll 4
            for (int v = 0; v < vectors; ++v) gradient[v] = _mm512_load_ps(row + v * LANES);
#pragma GCC unroll 4
            for (int r = 0; r < rows; ++r) {
                const __m512 input = _mm512_set1_ps(x[b * features + (size_t)r]);
#pragma GCC unroll 4
                for (int v = 0; v < vectors; ++v) acc[r][v] = _mm512_fmadd_ps(input, gradient[v], acc[r][v]);
            }
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < rows; ++r)
#pragma GCC unroll 4
        for (int v = 0; v < vectors; ++v)
            _mm512_mask_storeu_ps(dkernel + (size_t)r * units + v * LANES,
                                  v == vectors - 1 ? last_mask : (__mmask16)0xFFFF, acc[r][v]);
}

/* group_block with one copy of the loop per row and vector count, each
 * with its accumulators in registers. */
__attribute__((target("avx512f"))) static void group_block_any(float *dkernel, const float *x, size_t features,
                                                               const float *block_rows, size_t units,
                                                               const uint64_t *masks, size_t masks_count, int rows,
                                                               int vectors, __mmask16 last_mask, bool accumulate) {
    switch ((rows - 1) * BLOCK_VECTORS + (vectors - 1)) {
#define GROUP_CASE(r, v)                                                                                          \
    case (r - 1) * BLOCK_VECTORS + (v - 1):                                                                       \
        group_block(dkernel, x, features, block_rows, units, masks, masks_count, r, v, last_mask, accumulate); \
        break;
        GROUP_CASE(1, 1) GROUP_CASE(1, 2) GROUP_CASE(1, 3) GROUP_CASE(1, 4)
        GROUP_CASE(2, 1) GROUP_CASE(2, 2) GROUP_CASE(2, 3) GROUP_CASE(2, 4)
        GROUP_CASE(3, 1) GROUP_CASE(3, 2) GROUP_CASE(3, 3) GROUP_CASE(3, 4)
        GROUP_CASE(4, 1) GROUP_CASE(4, 2) GROUP_CASE(4, 3) GROUP_CASE(4, 4)
#undef GROUP_CASE
    default: return;
    }
}

/* to (examples x BLOCK_UNITS) = `width` floats of each of `examples` rows
 * of `from`, `stride` floats apart. */
__attribute__((target("avx512f"))) static void copy_block_rows(float *restrict to, const float *restrict from,
                                                               size_t examples, size_t stride, size_t width) {
    const int vectors = (int)((width + LANES - 1) / LANES);
    const size_t tail = width % LANES;
    const __mmask16 last_mask = tail == 0 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1u);
    for (size_t e = 0; e < examples; ++e)
        for (int v = 0; v < vectors; ++v)
            _mm512_store_ps(to + e * BLOCK_UNITS + (size_t)v * LANES,
                            _mm512_maskz_loadu_ps(v == vectors - 1 ? last_mask : (__mmask16)0xFFFF,
                                                  from + e * stride + (size_t)v * LANES));
}

/* copy_block_rows on AVX2: the lanes past `width` are zeros. */
static void copy_block_rows_width(float *restrict to, const float *restrict from, size_t examples, size_t stride,
                                  size_t width) {
    for (size_t e = 0; e < examples; ++e) {
        for (size_t i = 0; i < width; ++i) to[e * BLOCK_UNITS + i] = from[e * stride + i];
        for (size_t i = width; i < BLOCK_UNITS; ++i) to[e * BLOCK_UNITS + i] = 0.0f;
    }
}

double dense_input_group_density(const float *x, const tdl_dense_desc *d, int batch) {
    const size_t features = (size_t)d->in_features, groups = features / GROUP_ROWS, examples = (size_t)batch;
    if (groups == 0 || examples == 0) return 1.0;
    const size_t sampled_groups = groups < SAMPLE_GROUPS ? groups : SAMPLE_GROUPS;
    const size_t sampled_examples = examples < SAMPLE_EXAMPLES ? examples : SAMPLE_EXAMPLES;
    size_t nonzero = 0;
    for (size_t e = 0; e < sampled_examples; ++e) {
        const float *example = x + (e * examples / sampled_examples) * features;
        for (size_t g = 0; g < sampled_groups; ++g) {
            const float *inputs = example + (g * groups / sampled_groups) * GROUP_ROWS;
            bool any = false;
            for (int r = 0; r < GROUP_ROWS; ++r) any |= inputs[r] != 0.0f;
            nonzero += any;
        }
    }
    return (double)nonzero / ((double)sampled_groups * (double)sampled_examples);
}

bool dense_zero_inputs_gradient_suits(const float *x, const tdl_dense_desc *d, int batch) {
    return batch >= 1 && d->units >= MIN_UNITS && d->in_features >= GROUP_ROWS &&
           tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO &&
           (__builtin_cpu_supports("avx512f") || tdl_avx2_forms_available()) &&
           dense_input_group_density(x, d, batch) <= MAX_GROUP_DENSITY;
}

/* The rows [begin, end) over one chunk of examples (rows of x and dpre
 * from the chunk's first) and one window of at most WINDOW_GROUPS groups,
 * block by block: each block's rows of dpre are copied together first.
 * The rows of dpre are `units` floats apart, 2 KB for 512 units, so a
 * block's 4 vectors of each example fall into a few of L1's sets; read in
 * place by every group, they came from L2 each time. */
static void chunk_window_rows(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                              size_t examples, size_t begin, size_t end, bool accumulate) {
    uint64_t masks[CHUNK_MASKS][WINDOW_GROUPS];
    float block_rows[CHUNK_EXAMPLES * BLOCK_UNITS] __attribute__((aligned(64)));
    const size_t features = (size_t)d->in_features, units = (size_t)d->units;
    const size_t masks_count = (examples + MASK_EXAMPLES - 1) / MASK_EXAMPLES;
    const bool avx512 = !tdl_avx2_forms();
    for (size_t s = 0; s < masks_count; ++s) {
        const size_t first = s * MASK_EXAMPLES, left = examples - first;
        dense_group_masks(masks[s], x + first * features + begin, features, end - begin,
                          left < MASK_EXAMPLES ? left : MASK_EXAMPLES);
    }
    for (size_t unit = 0; unit < units; unit += BLOCK_UNITS) {
        const size_t width = units - unit < BLOCK_UNITS ? units - unit : BLOCK_UNITS;
        const size_t tail = width % LANES;
        const __mmask16 last_mask = tail == 0 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1u);
        const int vectors = (int)((width + LANES - 1) / LANES);
        if (avx512)
            copy_block_rows(block_rows, dpre + unit, examples, units, width);
        else
            copy_block_rows_width(block_rows, dpre + unit, examples, units, width);
        for (size_t first = begin; first < end; first += GROUP_ROWS) {
            const size_t group = (first - begin) / GROUP_ROWS;
            uint64_t group_masks[CHUNK_MASKS] = {0};
            bool any = false;
            for (size_t s = 0; s < masks_count; ++s) {
                group_masks[s] = masks[s][group];
                any |= group_masks[s] != 0;
            }
            /* A group zero in every example of the chunk leaves its sums as
             * they are, or writes zeros where they start. */
            if (!any && accumulate) continue;
            const int rows = end - first < GROUP_ROWS ? (int)(end - first) : GROUP_ROWS;
            if (avx512)
                group_block_any(dkernel + first * units + unit, x + first, features, block_rows, units,
                                group_masks, masks_count, rows, vectors, last_mask, accumulate);
            else
                dense_group_block_avx2(dkernel + first * units + unit, x + first, features, block_rows, units,
                                       group_masks, masks_count, rows, width, accumulate);
        }
    }
}

void dense_zero_inputs_gradient_rows(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                     int batch, size_t begin, size_t end, bool accumulate) {
    const size_t features = (size_t)d->in_features, units = (size_t)d->units;
    for (size_t chunk = 0; chunk < (size_t)batch; chunk += CHUNK_EXAMPLES) {
        const size_t left = (size_t)batch - chunk, examples = left < CHUNK_EXAMPLES ? left : CHUNK_EXAMPLES;
        /* Chunks after the first add to the sums the first one wrote, in
         * batch order: the same sums as one pass over the batch. */
        const bool add = accumulate || chunk > 0;
        for (size_t window = begin; window < end; window += (size_t)WINDOW_GROUPS * GROUP_ROWS) {
            const size_t window_end =
                end - window < (size_t)WINDOW_GROUPS * GROUP_ROWS ? end : window + (size_t)WINDOW_GROUPS * GROUP_ROWS;
            chunk_window_rows(dkernel, x + chunk * features, dpre + chunk * units, d, examples, window, window_end,
                              add);
        }
    }
}

#else

double dense_input_group_density(const float *x, const tdl_dense_desc *d, int batch) {
    (void)x, (void)d, (void)batch;
    return 1.0;
}

bool dense_zero_inputs_gradient_suits(const float *x, const tdl_dense_desc *d, int batch) {
    (void)x, (void)d, (void)batch;
    return false;
}

void dense_zero_inputs_gradient_rows(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                     int batch, size_t begin, size_t end, bool accumulate) {
    (void)dkernel, (void)x, (void)dpre, (void)d, (void)batch, (void)begin, (void)end, (void)accumulate;
}

#endif
