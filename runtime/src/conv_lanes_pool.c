/* conv2d followed by a 2x2 max pool at stride 2, for the first layers that
 * conv_lanes.c takes (LeNet's 28x28x1 -> 6, 5x5, then 14x14x6): the pooled
 * values come out of the registers that hold the sums, and the unpooled
 * output is stored only when the caller asks for it.
 *
 * The lanes hold every other output column: for a block of LANE_PIXELS
 * pooled columns pw0.., one vector of sums has the even output columns
 * 2*pw (each window's left column) and one the odd ones 2*pw + 1 (its right
 * column). The padded input copy is kept split the same way, even padded
 * columns in one plane and odd ones in another, so that the input of a tap
 * is still one contiguous load for either vector:
 *
 *   column 2*pw + kw      is at  plane kw % 2,        position pw + kw / 2
 *   column 2*pw + 1 + kw  is at  plane (kw + 1) % 2,  position pw + (kw + 1) / 2.
 *
 * Every sum is conv_lanes.c's: the bias first, then the taps in (kh, kw, c)
 * order, multiply then add, so each output value has its bits. The
 * activation is then applied to each of a window's four values in the
 * registers, and the window's maximum taken as pool.c takes it: top left,
 * top right, bottom left, bottom right, a later value winning only when
 * greater (so a NaN wins only in the first place, and of equal values the
 * first one stays). That is the activated convolution followed by pool.c's
 * search, step for step, only without the stores and loads in between: the
 * pooled values are bit for bit those of tdl_conv2d_forward followed by
 * tdl_max_pool2d_forward, whatever the values (ties, signed zeros, NaN),
 * and no argument about the activation commuting with the maximum is
 * needed. Only relu and the identity are taken: each is one select or
 * nothing in the registers, written as conv.c writes it
 * (conv_activate_in_place); the other activations (calls into libm per
 * value) keep the two kernels.
 *
 * The windows must tile the output (no padding, 2*PH <= OH, 2*PW <= OW). A
 * last row or column that no window reads (an odd size) is not computed,
 * so to store the unpooled output too the windows must cover it exactly.
 * Each image is written by one thread, and its results depend on nothing
 * else.
 *
 * A training step also wants the argmax of each window (pool.c's: the
 * pixel h*W + w in the image of the first maximum). It is kept beside the
 * maxima, one vector of indices per filter, and takes the same masks as the
 * maxima at each step of the search, so it is bit for bit what
 * tdl_max_pool2d_forward_argmax writes; it leaves the registers through the
 * same transpose (moves of bits only). LeNet-5's first layer with its argmax
 * took 0.88 ms at batch 128 on one thread as the two kernels apart, where
 * inference's fused kernel took 0.31.
 *
 * The pooled values, and the unpooled ones when asked for, leave the
 * registers as NHWC pixels through a 16x16 transpose in registers and one
 * masked store per pixel (storing single floats cost a load and a store per
 * value, 40% of the step when y is written).
 *
 * The kernel is built for AVX-512 alone (x86-64, GCC or clang) and runs
 * where the CPU has it: its 3*F vectors of sums and maxima fit in the 32
 * registers there, while built for AVX2 or SSE2 they spill (and compiling
 * those spills for every F took GCC over a minute). Elsewhere every call
 * declines and the two kernels run, as they do for the layers and pools not
 * taken. */
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "conv_lanes.h"
#include "team.h"
#include "tdl/runtime.h"
#include "transpose_block.h"
#include "warm.h"

#if defined(__x86_64__) && defined(__GNUC__)
#define LANES_POOL_KERNEL 1
#else
#define LANES_POOL_KERNEL 0
#endif

#if LANES_POOL_KERNEL
#include <immintrin.h>

/* The split copy of one image: for each channel, the even padded columns
 * (a plane of rows x half), then the odd ones. */
typedef struct pair_geometry {
    size_t rows, half, plane;
} pair_geometry;

static pair_geometry pair_geometry_of(const tdl_conv2d_desc *d, int pooled_h, int pooled_w) {
    pair_geometry g;
    const size_t blocks = ((size_t)pooled_w + LANE_PIXELS - 1) / LANE_PIXELS;
    /* The last odd lane's last tap reads padded column 2 * blocks * LANE_PIXELS + kernel_w - 2. */
    const size_t cols = blocks * 2 * LANE_PIXELS + (size_t)d->kernel_w - 1;
    g.rows = (size_t)(2 * pooled_h - 1) * (size_t)d->stride_h + (size_t)d->kernel_h;
    g.half = (cols + 1) / 2;
    g.plane = g.rows * g.half;
    return g;
}

size_t conv_lanes_pool_slot_floats(const tdl_conv2d_desc *d) {
    if (d->out_h < 2 || d->out_w < 2) return 0;
    return 2 * pair_geometry_of(d, d->out_h / 2, d->out_w / 2).plane * (size_t)d->in_c;
}

/* The pools taken here: 2x2 windows at stride 2 that tile the convolution's
 * output, after relu or no activation. With the unpooled output stored too,
 * the windows must cover all of it. */
static bool pool_suits(const tdl_conv2d_desc *c, const tdl_pool2d_desc *p, bool store_unpooled) {
    if (c->activation != TDL_ACTIVATION_RELU && c->activation != TDL_ACTIVATION_LINEAR) return false;
    if (p->pool_h != 2 || p->pool_w != 2 || p->stride_h != 2 || p->stride_w != 2 || p->pad_top != 0 ||
        p->pad_left != 0 || p->out_h <= 0 || p->out_w <= 0)
        return false;
    if (p->in_h != c->out_h || p->in_w != c->out_w || p->channels != c->out_c) return false;
    if (store_unpooled) return (int64_t)p->out_h * 2 == c->out_h && (int64_t)p->out_w * 2 == c->out_w;
    return (int64_t)p->out_h * 2 <= c->out_h && (int64_t)p->out_w * 2 <= c->out_w;
}

/* Inlined into image_forward, and built for AVX-512 as it is. */
#define LANES_INLINE static inline __attribute__((always_inline, target("avx512f")))

/* The split copy's in-image part: padded column q = w + pad_left of row
 * r = h + pad_top of channel c holds x[h][w][c], at position q / 2 of row r
 * of plane 2*c + q % 2. The same places are written for every image, so the
 * padding around them is zeroed once a call (forward_share); columns past
 * the last one read are left out. c_n: a constant at each call site. */
LANES_INLINE void fill_planes(float *restrict planes, const float *restrict image, const tdl_conv2d_desc *d,
                             const pair_geometry *g, const int c_n) {
    const long pad = d->pad_left, w_lo = pad < 0 ? -pad : 0;
    const long w_hi = d->in_w < (long)(2 * g->half) - pad ? d->in_w : (long)(2 * g->half) - pad;
    for (size_t r = 0; r < g->rows; ++r) {
        const long h = (long)r - d->pad_top;
        if (h < 0 || h >= d->in_h) continue;
        const float *restrict in_row = image + (size_t)h * (size_t)d->in_w * (size_t)c_n;
        for (long parity = 0; parity < 2; ++parity) {
            /* The first in-image column of this parity (w_lo + pad >= 0). */
            const long w0 = w_lo + ((w_lo + pad) % 2 != parity);
            if (w0 >= w_hi) continue;
            const size_t n = (size_t)(w_hi - w0 + 1) / 2;
            for (int c = 0; c < c_n; ++c) {
                float *restrict to =
                    planes + (2 * (size_t)c + (size_t)parity) * g->plane + r * g->half + (size_t)(w0 + pad) / 2;
                const float *restrict from = in_row + (size_t)w0 * (size_t)c_n + (size_t)c;
                for (size_t i = 0; i < n; ++i) to[i] = from[2 * i * (size_t)c_n];
            }
        }
    }
}

/* The few operations on a block of lanes, each exactly what conv_lanes.c,
 * conv.c and pool.c do to one value. */
typedef int32_t lane_mask __attribute__((vector_size(LANE_PIXELS * sizeof(int32_t))));

LANES_INLINE void lane_fill(lane_vector *v, float value) { *v = _mm512_set1_ps(value); }
LANES_INLINE void lane_load(lane_vector *v, const float *from) { LANE_LOAD(*v, from); }
LANES_INLINE void lane_add_product(lane_vector *acc, float k, const lane_vector *v) { *acc += k * *v; }

/* conv.c's relu, v > 0 ? v : 0, as a mask on the bits (a NaN or -0 gives +0). */
LANES_INLINE void lane_relu(lane_vector *v) {
    const lane_mask positive = *v > (lane_vector){0};
    *v = (lane_vector)((lane_mask)*v & positive);
}

/* pool.c's step of the search: best = later > best ? later : best. */
LANES_INLINE void lane_later_max(lane_vector *best, const lane_vector *later) {
    const lane_mask greater = *later > *best;
    *best = (lane_vector)(((lane_mask)*later & greater) | ((lane_mask)*best & ~greater));
}

/* The same step for a window's argmax too: at takes the later's index where
 * best takes the later's value. */
LANES_INLINE void lane_later_max_at(lane_vector *best, lane_mask *at, const lane_vector *later, lane_mask later_at) {
    const lane_mask greater = *later > *best;
    *best = (lane_vector)(((lane_mask)*later & greater) | ((lane_mask)*best & ~greater));
    *at = (later_at & greater) | (*at & ~greater);
}

/* Output row oh for the block of pooled columns p0..: the sums of the
 * windows' left columns (even) and right columns (odd) for all F filters,
 * activated. F and C are constants at each call site, so that the sums stay
 * in registers. Along a kernel row, the input of tap kw's odd columns is
 * that of tap kw + 1's even ones, so each vector is loaded once and used
 * twice; every sum still takes its taps in (kh, kw, c) order. */
LANES_INLINE void row_sums(lane_vector even[], lane_vector odd[], const float *restrict planes,
                           const float *restrict kernel, const float *restrict bias, const tdl_conv2d_desc *d,
                           const pair_geometry *g, int oh, size_t p0, bool relu, const int f_n, const int c_n) {
    for (int f = 0; f < f_n; ++f) {
        /* conv_lanes.c's start, 0 + bias (a bias of -0 starts at +0 there too). */
        lane_fill(&even[f], 0.0f + (bias != NULL ? bias[f] : 0.0f));
        odd[f] = even[f];
    }
    for (int kh = 0; kh < d->kernel_h; ++kh) {
        const float *restrict row[LANES_MAX_CHANNELS];
        lane_vector left[LANES_MAX_CHANNELS];
        for (int c = 0; c < c_n; ++c) {
            row[c] = planes + 2 * (size_t)c * g->plane + ((size_t)oh * (size_t)d->stride_h + (size_t)kh) * g->half + p0;
            lane_load(&left[c], row[c]);   /* column 0: plane 0, position 0 */
        }
        for (int kw = 0; kw < d->kernel_w; ++kw) {
            const float *restrict tap = kernel + ((size_t)kh * (size_t)d->kernel_w + (size_t)kw) * (size_t)(c_n * f_n);
            const size_t next = (size_t)kw + 1, at = (next % 2) * g->plane + next / 2;
            for (int c = 0; c < c_n; ++c) {
                lane_vector right;
                lane_load(&right, row[c] + at);
                for (int f = 0; f < f_n; ++f) {
                    lane_add_product(&even[f], tap[c * f_n + f], &left[c]);
                    lane_add_product(&odd[f], tap[c * f_n + f], &right);
                }
                left[c] = right;
            }
        }
    }
    if (relu)
        for (int f = 0; f < f_n; ++f) {
            lane_relu(&even[f]);
            lane_relu(&odd[f]);
        }
}

/* The first `count` rows of a block of lanes as NHWC pixels: pixel p (of n)
 * is lane p of each row, stored at to + p * count. `to` holds floats, or
 * int32 indices whose bits the rows carry (the stores are AVX-512's, which
 * may write any type). */
LANES_INLINE void store_pixels(void *restrict to_void, const lane_vector *const rows[], int count, size_t n) {
    float *restrict to = to_void;
    lane_vector block[LANE_PIXELS];
    for (int r = 0; r < LANE_PIXELS; ++r) block[r] = r < count ? *rows[r] : (lane_vector){0};
    transpose_16x16_registers((__m512 *)block);
    const __mmask16 first = (__mmask16)((1u << count) - 1u);
    for (size_t p = 0; p < n; ++p) _mm512_mask_storeu_ps(to + p * (size_t)count, first, block[p]);
}

/* Output row oh's pixels of the block into y_row: the pair of pixels under
 * window p is even[0..F), then odd[0..F). */
LANES_INLINE void store_unpooled(float *restrict y_row, const lane_vector even[], const lane_vector odd[], size_t p0,
                                 size_t n, const int f_n) {
    const lane_vector *rows[2 * LANES_MAX_FILTERS];
    for (int f = 0; f < f_n; ++f) {
        rows[f] = &even[f];
        rows[f_n + f] = &odd[f];
    }
    store_pixels(y_row + 2 * p0 * (size_t)f_n, rows, 2 * f_n, n);
}

/* Pooled row ph of one image; the two output rows under it into y when y
 * is not NULL, and the windows' argmax into argmax when it is not NULL. */
LANES_INLINE void pooled_row(float *restrict pooled, int32_t *restrict argmax, float *restrict y,
                             const float *restrict planes, const float *restrict kernel, const float *restrict bias,
                             const tdl_conv2d_desc *d, const tdl_pool2d_desc *p, const pair_geometry *g, int ph,
                             const int f_n, const int c_n) {
    const bool relu = d->activation == TDL_ACTIVATION_RELU;
    const size_t pw_n = (size_t)p->out_w, y_row = (size_t)d->out_w * (size_t)f_n;
    float *restrict out = pooled + (size_t)ph * pw_n * (size_t)f_n;
    lane_mask columns; /* 2 * lane: lane i's window starts at column 2 * (p0 + i) */
    for (int i = 0; i < LANE_PIXELS; ++i) columns[i] = 2 * i;
    for (size_t p0 = 0; p0 < pw_n; p0 += LANE_PIXELS) {
        const size_t n = pw_n - p0 < LANE_PIXELS ? pw_n - p0 : LANE_PIXELS;
        lane_vector even[LANES_MAX_FILTERS], odd[LANES_MAX_FILTERS], best[LANES_MAX_FILTERS];
        lane_mask at[LANES_MAX_FILTERS]; /* set at dh == 0 when argmax is wanted; zeroed for the compiler */
        for (int f = 0; f < f_n; ++f) at[f] = (lane_mask){0};
        for (int dh = 0; dh < 2; ++dh) {
            const int oh = 2 * ph + dh;
            row_sums(even, odd, planes, kernel, bias, d, g, oh, p0, relu, f_n, c_n);
            /* The window's values in pool.c's order: top left, top right, bottom left, bottom right. */
            if (argmax != NULL) {
                /* Pixel oh * W + 2 * (p0 + lane), + 1 for the right column (fits: indices_fit). */
                const lane_mask left = columns + (int32_t)((size_t)oh * (size_t)p->in_w + 2 * p0);
                const lane_mask right = left + 1;
                for (int f = 0; f < f_n; ++f) {
                    if (dh == 0) {
                        best[f] = even[f];
                        at[f] = left;
                    } else {
                        lane_later_max_at(&best[f], &at[f], &even[f], left);
                    }
                    lane_later_max_at(&best[f], &at[f], &odd[f], right);
                }
            } else {
                for (int f = 0; f < f_n; ++f) {
                    if (dh == 0) best[f] = even[f];
                    else lane_later_max(&best[f], &even[f]);
                    lane_later_max(&best[f], &odd[f]);
                }
            }
            if (y != NULL) store_unpooled(y + (size_t)oh * y_row, even, odd, p0, n, f_n);
        }
        const lane_vector *rows[LANES_MAX_FILTERS];
        for (int f = 0; f < f_n; ++f) rows[f] = &best[f];
        store_pixels(out + p0 * (size_t)f_n, rows, f_n, n);
        if (argmax != NULL) {
            lane_vector indices[LANES_MAX_FILTERS];
            for (int f = 0; f < f_n; ++f) {
                indices[f] = (lane_vector)at[f]; /* the bits, not a conversion */
                rows[f] = &indices[f];
            }
            store_pixels(argmax + (size_t)ph * pw_n * (size_t)f_n + p0 * (size_t)f_n, rows, f_n, n);
        }
    }
}

/* One image: its split copy, then every pooled row. */
LANES_INLINE void image_rows(float *restrict pooled, int32_t *restrict argmax, float *restrict y,
                             float *restrict planes, const float *restrict image, const float *restrict kernel,
                             const float *restrict bias, const tdl_conv2d_desc *d, const tdl_pool2d_desc *p,
                             const pair_geometry *g, const int f_n, const int c_n) {
    fill_planes(planes, image, d, g, c_n);
    for (int ph = 0; ph < p->out_h; ++ph) pooled_row(pooled, argmax, y, planes, kernel, bias, d, p, g, ph, f_n, c_n);
}

/* One image, dispatched on F so that each case has its constant. */
__attribute__((target("avx512f"))) static void image_forward(float *restrict pooled, int32_t *restrict argmax,
                                                             float *restrict y, float *restrict planes,
                                                             const float *restrict image,
                                                             const float *restrict kernel, const float *restrict bias,
                                                             const tdl_conv2d_desc *d, const tdl_pool2d_desc *p,
                                                             const pair_geometry *g) {
    /* Grey images (one channel) have their own copies: a constant C keeps the
     * kernel row's input vectors in registers (LeNet's layer 13% faster). */
    const int c_n = d->in_c;
    switch (d->out_c) {
#define POOL_LANES_CASE(f)                                                                       \
    case f:                                                                                      \
        if (c_n == 1) image_rows(pooled, argmax, y, planes, image, kernel, bias, d, p, g, f, 1); \
        else image_rows(pooled, argmax, y, planes, image, kernel, bias, d, p, g, f, c_n);        \
        return;
        POOL_LANES_CASE(1) POOL_LANES_CASE(2) POOL_LANES_CASE(3) POOL_LANES_CASE(4) POOL_LANES_CASE(5)
        POOL_LANES_CASE(6) POOL_LANES_CASE(7) POOL_LANES_CASE(8)
#undef POOL_LANES_CASE
    default: return;
    }
}

typedef struct pool_lanes_job {
    const tdl_conv2d_desc *conv;
    const tdl_pool2d_desc *pool;
    pair_geometry g;
    size_t slot;   /* floats */
    int batch;
    float *pooled, *y, *slots;
    int32_t *argmax;
    const float *x, *kernel, *bias;
    tdl_team_pieces pieces; /* of PIECE_IMAGES images: each image's result is its own */
} pool_lanes_job;

/* Images of one piece: few enough that a slower core's last piece is short. */
enum { PIECE_IMAGES = 4 };

/* Pieces of images, own share first, through this thread's split copy. */
static void forward_share(void *context, int t, int threads) {
    (void)threads;
    pool_lanes_job *j = context;
    const tdl_conv2d_desc *d = j->conv;
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t y_image = (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c;
    const size_t p_image = (size_t)j->pool->out_h * (size_t)j->pool->out_w * (size_t)d->out_c;
    float *planes = j->slots + (size_t)t * j->slot;
    memset(planes, 0, 2 * j->g.plane * (size_t)d->in_c * sizeof *planes);
    size_t b, end;
    while (tdl_team_pieces_next(&j->pieces, t, &b, &end)) {
        /* The images come fresh from the caller's data set: read the piece
         * first in address order (the split copy reads them 8 floats at a
         * time between sums, and waited for memory at each row). */
        warm_for_reading(j->x + b * x_image, (end - b) * x_image * sizeof(float));
        for (; b < end; ++b)
            image_forward(j->pooled + b * p_image, j->argmax != NULL ? j->argmax + b * p_image : NULL,
                          j->y != NULL ? j->y + b * y_image : NULL, planes, j->x + b * x_image, j->kernel, j->bias,
                          d, j->pool, &j->g);
    }
}

/* The kernel needs AVX-512 (the compiler's runtime reads the CPU's features once, at start-up). */
bool conv_lanes_pool_available(void) { return __builtin_cpu_supports("avx512f"); }

bool conv_lanes_max_pool_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                 const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                 int batch, float *scratch) {
    if (!conv_args_usable(conv, batch) || pool == NULL || scratch == NULL || !conv_lanes_pool_available() ||
        tdl_get_kernel_path() != TDL_KERNEL_PATH_AUTO || !conv_lanes_suits(conv) || !pool_suits(conv, pool, y != NULL))
        return false;
    /* pool.c's bound on the indices an argmax holds. */
    if (argmax != NULL && (int64_t)pool->in_h * pool->in_w > INT32_MAX) return false;
    pool_lanes_job j = {.conv = conv, .pool = pool, .g = pair_geometry_of(conv, pool->out_h, pool->out_w),
                        .batch = batch, .pooled = pooled, .y = y, .slots = scratch, .argmax = argmax,
                        .x = x, .kernel = kernel, .bias = bias};
    /* conv_lanes_forward_scratch_size keeps a slot of conv_lanes_pool_slot_floats per thread. */
    j.slot = conv_lanes_pool_slot_floats(conv);
    const double flops = 2.0 * (double)batch * (4.0 * pool->out_h * pool->out_w) * (double)conv_patch_size(conv) *
                         conv->out_c;
    int threads = tdl_team_threads_for(flops, LANES_MIN_THREAD_FLOPS);
    if (threads > conv_lanes_slots(batch)) threads = conv_lanes_slots(batch);
    if (!tdl_team_pieces_init(&j.pieces, (size_t)batch, PIECE_IMAGES, threads)) return false;
    tdl_team_run(threads, forward_share, &j);
    return true;
}

#else /* !LANES_POOL_KERNEL */

size_t conv_lanes_pool_slot_floats(const tdl_conv2d_desc *d) {
    (void)d;
    return 0;
}

bool conv_lanes_pool_available(void) { return false; }

bool conv_lanes_max_pool_forward(float *pooled, int32_t *argmax, float *y, const float *x, const float *kernel,
                                 const float *bias, const tdl_conv2d_desc *conv, const tdl_pool2d_desc *pool,
                                 int batch, float *scratch) {
    (void)pooled, (void)argmax, (void)y, (void)x, (void)kernel, (void)bias, (void)conv, (void)pool, (void)batch;
    (void)scratch;
    return false;
}

#endif /* LANES_POOL_KERNEL */
