/* One example through a dense layer, reading only the kernel rows of its
 * nonzero inputs.
 *
 * At batch 1 a dense layer does two FLOPs per weight it reads, so it runs
 * as fast as its kernel streams in: the MLP's 784 -> 512 -> 512 -> 10 reads
 * 2.7 MB a call, through a 1 MB L2, and a pass that only read those bytes
 * took 27.7 us on an AMD EPYC (Zen 4) against 34 us for the forward. Input
 * feature f owns row f of the kernel (F,U), and an input that is exactly
 * zero adds nothing to any unit. Inputs are often zero: about half of the
 * pixels of a Fashion-MNIST image, and a relu layer's outputs wherever its
 * pre-activation is negative. Reading only the rows of the nonzero inputs
 * reads that much less of the kernel.
 *
 * The sums: for each block of up to BLOCK_VECTORS x 16 units, over the
 * nonzero inputs in order, one multiply-add per vector of units. Each term
 * dropped is 0 * w, a zero, so for finite weights the result is the sum in
 * that order over every input. It may differ in the last bits from the same
 * example's in a batch, which takes libxsmm's kernels (they order the sum
 * their own way); each unit is one thread's sum, so the thread count
 * changes no bit. A weight that is infinite or NaN in the row of a zero
 * input would have made its unit NaN (0 * inf); here it does not
 * (docs/runtime.md).
 *
 * Unit blocks are split over the team when the rows read are work enough,
 * as dense_xsmm.c splits one batch tile. Asking for the rows ahead
 * (prefetcht0 for the row 8 nonzero inputs on) did not help: the MLP's
 * forward took 18.8-23.8 us with it, 17.9-21.0 without.
 *
 * Built for x86-64 (GCC or clang) and run where the CPU has AVX-512, or
 * AVX2 with FMA (blocks of 64 units, dense_zero_inputs_avx2.c: the same
 * sums, so the same bits), and libtdlrt's kernel path is the default one;
 * elsewhere every call declines and dense.c's other paths run. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "avx2_forms.h"
#include "dense_internal.h"
#include "team.h"
#include "tdl/runtime.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* BLOCK_VECTORS: accumulators of 16 units kept in registers over the rows
 * (a block reads 512 contiguous bytes of each row).
 * MAX_FEATURES: the nonzero inputs' indices are listed on the caller's
 * stack, 16 KB at most; wider layers decline. */
enum { LANES = 16, BLOCK_VECTORS = 8, BLOCK_UNITS = BLOCK_VECTORS * LANES, MAX_FEATURES = 8192 };
_Static_assert(MAX_FEATURES <= UINT16_MAX + 1, "an input's index fits in uint16_t");

/* The work a thread needs before a call is split: dense_xsmm.c's bound for
 * a forward (MIN_THREAD_FLOPS_FORWARD), which a forward of one batch tile,
 * bound by reading the kernel too, shares. */
#define MIN_THREAD_FLOPS 0.25e6

typedef struct zero_skip_job {
    const tdl_dense_desc *d;
    float *y;
    const float *x, *kernel, *bias;
    const uint16_t *nonzero; /* the inputs that are not zero, in order */
    size_t count;            /* of them */
    size_t block_units;      /* BLOCK_UNITS, or DENSE_ZERO_INPUTS_BLOCK_UNITS on AVX2 */
    size_t blocks;           /* of block_units units; the last may be narrower */
    bool avx2;
} zero_skip_job;

#define ZERO_SKIP_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* out (16 * vectors units, the last vector's lanes under last_mask) = the
 * sum over the listed rows of x[row] * kernel[row][...], kernel pointing at
 * the block's first unit of row 0; rows `units` floats apart. */
ZERO_SKIP_INLINE void block_sums(float *restrict out, const float *restrict x, const float *restrict kernel,
                                 size_t units, const uint16_t *restrict nonzero, size_t count, const int vectors,
                                 __mmask16 last_mask) {
    /* The loops over vectors are unrolled, so that each accumulator is a
     * register of its own rather than an array stored at every row. */
    __m512 acc[BLOCK_VECTORS];
#pragma GCC unroll 8
    for (int v = 0; v < vectors; ++v) acc[v] = _mm512_setzero_ps();
    for (size_t i = 0; i < count; ++i) {
        const __m512 input = _mm512_set1_ps(x[nonzero[i]]);
        const float *row = kernel + (size_t)nonzero[i] * units;
#pragma GCC unroll 8
        for (int v = 0; v < vectors; ++v) {
            const __mmask16 lanes = v == vectors - 1 ? last_mask : (__mmask16)0xFFFF;
            acc[v] = _mm512_fmadd_ps(input, _mm512_maskz_loadu_ps(lanes, row + v * LANES), acc[v]);
        }
    }
#pragma GCC unroll 8
    for (int v = 0; v < vectors; ++v)
        _mm512_mask_storeu_ps(out + v * LANES, v == vectors - 1 ? last_mask : (__mmask16)0xFFFF, acc[v]);
}

/* Unit block `block`: its sums, then the bias and the activation. */
__attribute__((target("avx512f"))) static void unit_block(const zero_skip_job *j, size_t block) {
    const size_t units = (size_t)j->d->units, first = block * BLOCK_UNITS;
    const size_t width = units - first < BLOCK_UNITS ? units - first : BLOCK_UNITS;
    const int vectors = (int)((width + LANES - 1) / LANES);
    const size_t tail = width % LANES;
    const __mmask16 last_mask = tail == 0 ? (__mmask16)0xFFFF : (__mmask16)((1u << tail) - 1u);
    float *out = j->y + first;
    const float *kernel = j->kernel + first;
    /* One copy of the loop per vector count, each with its accumulators in registers. */
    switch (vectors) {
#define ZERO_SKIP_CASE(n) \
    case n: block_sums(out, j->x, kernel, units, j->nonzero, j->count, n, last_mask); break;
        ZERO_SKIP_CASE(1) ZERO_SKIP_CASE(2) ZERO_SKIP_CASE(3) ZERO_SKIP_CASE(4)
        ZERO_SKIP_CASE(5) ZERO_SKIP_CASE(6) ZERO_SKIP_CASE(7) ZERO_SKIP_CASE(8)
#undef ZERO_SKIP_CASE
    default: return;
    }
    dense_bias_activation_rows(out, 1, units, width, j->bias != NULL ? j->bias + first : NULL, j->d);
}

/* unit_block on AVX2. */
static void unit_block_avx2(const zero_skip_job *j, size_t block) {
    const size_t units = (size_t)j->d->units, first = block * j->block_units;
    const size_t width = units - first < j->block_units ? units - first : j->block_units;
    float *out = j->y + first;
    dense_unit_block_avx2(out, j->x, j->kernel + first, units, j->nonzero, j->count, width);
    dense_bias_activation_rows(out, 1, units, width, j->bias != NULL ? j->bias + first : NULL, j->d);
}

static void zero_skip_share(void *context, int t, int threads) {
    const zero_skip_job *j = context;
    size_t begin, end;
    tdl_team_share(j->blocks, t, threads, &begin, &end);
    for (size_t block = begin; block < end; ++block) {
        if (j->avx2)
            unit_block_avx2(j, block);
        else
            unit_block(j, block);
    }
}

bool dense_zero_inputs_forward(float *y, const float *x, const float *kernel, const float *bias,
                               const tdl_dense_desc *d, int batch) {
    if (batch != 1 || d->units < LANES || d->in_features > MAX_FEATURES ||
        tdl_get_kernel_path() != TDL_KERNEL_PATH_AUTO)
        return false;
    const bool avx2 = tdl_avx2_forms();
    if (!avx2 && !__builtin_cpu_supports("avx512f")) return false;
    uint16_t nonzero[MAX_FEATURES];
    const size_t features = (size_t)d->in_features;
    size_t count = 0;
    /* Written whatever the input and kept only when it is not zero (NaN is
     * not), with no branch to mispredict on the data. */
    for (size_t f = 0; f < features; ++f) {
        nonzero[count] = (uint16_t)f;
        count += x[f] != 0.0f;
    }
    const size_t block_units = avx2 ? DENSE_ZERO_INPUTS_BLOCK_UNITS : BLOCK_UNITS;
    const size_t blocks = ((size_t)d->units + block_units - 1) / block_units;
    zero_skip_job job = {d, y, x, kernel, bias, nonzero, count, block_units, blocks, avx2};
    int threads = tdl_team_threads_for(2.0 * (double)count * (double)d->units, MIN_THREAD_FLOPS);
    if ((size_t)threads > job.blocks) threads = (int)job.blocks;
    tdl_team_run(threads, zero_skip_share, &job);
    return true;
}

#else

bool dense_zero_inputs_forward(float *y, const float *x, const float *kernel, const float *bias,
                               const tdl_dense_desc *d, int batch) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)d, (void)batch;
    return false;
}

#endif
