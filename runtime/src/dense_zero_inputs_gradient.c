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
 * then feeds four inputs' multiply-adds, and the units of a block (64 of
 * them, 32 KB of dpre at batch 128) stay in L1/L2 across the groups.
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
 * The sums: for each row, over the examples its group lists, in batch
 * order, one multiply-add per vector, starting from zero (or from dkernel
 * when accumulating). An example listed for the group but zero in this row
 * adds 0 * dpre, a zero; one not listed adds nothing. So for finite dpre the
 * result is the sum over the whole batch in order, as libxsmm's tiles sum it,
 * the same bits. Each row is one thread's, and the callers split the rows
 * at multiples of four (dense_xsmm.c), so the groups and the bits are the
 * same for every thread count.
 * A dpre that is infinite or NaN at an example whose inputs of a group are
 * zero does not reach those rows (0 * inf would be NaN); it still reaches
 * the bias's gradient and the other rows, and the step's finiteness check.
 *
 * Built for AVX-512 alone (x86-64, GCC or clang) and run where the CPU has
 * it and libtdlrt's kernel path is the default one; elsewhere the check
 * declines and the GEMMs run. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dense_internal.h"
#include "tdl/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* GROUP_ROWS: neighbouring inputs that share one list of examples.
 * BLOCK_VECTORS: vectors of 16 units per block; GROUP_ROWS x BLOCK_VECTORS
 * accumulators stay in registers over a group's examples.
 * MAX_BATCH: the examples' indices are listed on the stack, 16 KB at most.
 * SAMPLE_GROUPS, SAMPLE_EXAMPLES: groups spread over the inputs, in
 * examples spread over the batch, that decide whether a batch takes the
 * path: 256 groups' inputs read, where reading the whole batch's cost a
 * LeNet-5 layer's gradient at batch 32 more than a microsecond. */
enum {
    LANES = 16,
    GROUP_ROWS = DENSE_INPUT_GROUP,
    BLOCK_VECTORS = 4,
    BLOCK_UNITS = BLOCK_VECTORS * LANES,
    MAX_BATCH = 8192,
    SAMPLE_GROUPS = 8,
    SAMPLE_EXAMPLES = 32
};
_Static_assert(MAX_BATCH <= UINT16_MAX + 1, "an example's index fits in uint16_t");

/* The largest fraction of a group's examples with an input that is not zero
 * at which a batch takes the path, and the fewest units. On the MLP's
 * images (0.62) the path took 0.61 of libxsmm's time. On groups zero at
 * random places, one thread, its time over libxsmm's at 0.6 / 0.7 / 0.8 of
 * the examples: 784 -> 512 at batch 128 0.66 / 0.83 / 1.05, at batch 32
 * 0.86 / 0.95 / 1.03; 512 -> 512 0.84 / 0.95 / 1.06; 400 -> 120 and 120 ->
 * 84 0.84-0.88 / 0.94-0.98 / 0.91-1.08. Narrower layers have too few units
 * to pay for listing each group's examples (a strided read of the batch):
 * 1024 -> 64 at batch 64 took 1.00-1.04 of libxsmm's time even at 0.3,
 * 256 -> 16 at batch 32 1.38. */
#define MAX_GROUP_DENSITY 0.7
enum { MIN_UNITS = 128 };

#define GROUP_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* dkernel's `rows` rows (`units` floats apart) over one block of 16 *
 * vectors units, the last vector's lanes under last_mask (+)= the sum over
 * the listed examples of x[example][row] * dpre[example][...]; x points at
 * the group's first input of example 0, dpre and dkernel at the block's
 * first unit. */
GROUP_INLINE void group_block(float *restrict dkernel, const float *restrict x, size_t features,
                              const float *restrict dpre, size_t units, const uint16_t *restrict examples,
                              size_t count, const int rows, const int vectors, __mmask16 last_mask,
                              bool accumulate) {
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
    for (size_t i = 0; i < count; ++i) {
        const size_t b = examples[i];
        const float *row = dpre + b * units;
        __m512 gradient[BLOCK_VECTORS];
#pragma GCC unroll 4
        for (int v = 0; v < vectors; ++v)
            gradient[v] =
                _mm512_maskz_loadu_ps(v == vectors - 1 ? last_mask : (__mmask16)0xFFFF, row + v * LANES);
#pragma GCC unroll 4
        for (int r = 0; r < rows; ++r) {
            const __m512 input = _mm512_set1_ps(x[b * features + (size_t)r]);
#pragma GCC unroll 4
            for (int v = 0; v < vectors; ++v) acc[r][v] = _mm512_fmadd_ps(input, gradient[v], acc[r][v]);
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
                                                               const float *dpre, size_t units,
                                                               const uint16_t *examples, size_t count, int rows,
                                                               int vectors, __mmask16 last_mask, bool accumulate) {
    switch ((rows - 1) * BLOCK_VECTORS + (vectors - 1)) {
#define GROUP_CASE(r, v)                                                                                     \
    case (r - 1) * BLOCK_VECTORS + (v - 1):                                                                  \
        group_block(dkernel, x, features, dpre, units, examples, count, r, v, last_mask, accumulate); \
        break;
        GROUP_CASE(1, 1) GROUP_CASE(1, 2) GROUP_CASE(1, 3) GROUP_CASE(1, 4)
        GROUP_CASE(2, 1) GROUP_CASE(2, 2) GROUP_CASE(2, 3) GROUP_CASE(2, 4)
        GROUP_CASE(3, 1) GROUP_CASE(3, 2) GROUP_CASE(3, 3) GROUP_CASE(3, 4)
        GROUP_CASE(4, 1) GROUP_CASE(4, 2) GROUP_CASE(4, 3) GROUP_CASE(4, 4)
#undef GROUP_CASE
    default: return;
    }
}

/* Lists in `examples` the examples where one of the `rows` inputs from x
 * (x points at the first of them in example 0) is not zero; returns how
 * many. Each index is written whatever the input and kept only when one is
 * not zero (NaN is not), with no branch to mispredict on the data. */
static size_t list_examples(uint16_t *restrict examples, const float *restrict x, size_t features, size_t batch,
                            int rows) {
    size_t count = 0;
    for (size_t b = 0; b < batch; ++b) {
        const float *inputs = x + b * features;
        bool nonzero = false;
        for (int r = 0; r < rows; ++r) nonzero |= inputs[r] != 0.0f;
        examples[count] = (uint16_t)b;
        count += nonzero;
    }
    return count;
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
    return batch >= 1 && batch <= MAX_BATCH && d->units >= MIN_UNITS && d->in_features >= GROUP_ROWS &&
           tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && __builtin_cpu_supports("avx512f") &&
           dense_input_group_density(x, d, batch) <= MAX_GROUP_DENSITY;
}

void dense_zero_inputs_gradient_rows(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                     int batch, size_t begin, size_t end, bool accumulate) {
    uint16_t examples[MAX_BATCH];
    const size_t features = (size_t)d->in_features, units = (size_t)d->units;
    const size_t blocks = (units + BLOCK_UNITS - 1) / BLOCK_UNITS;
    for (size_t first = begin; first < end; first += GROUP_ROWS) {
        const int rows = end - first < GROUP_ROWS ? (int)(end - first) : GROUP_ROWS;
        const size_t count = list_examples(examples, x + first, features, (size_t)batch, rows);
        for (size_t block = 0; block < blocks; ++block) {
            const size_t unit = block * BLOCK_UNITS;
            const size_t width = units - unit < BLOCK_UNITS ? units - unit : BLOCK_UNITS;
            const size_t tail = width % LANES;
            const __mmask16 last_mask = tail == 0 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1u);
            group_block_any(dkernel + first * units + unit, x + first, features, dpre + unit, units, examples,
                            count, rows, (int)((width + LANES - 1) / LANES), last_mask, accumulate);
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
