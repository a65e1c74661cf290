/* conv2d for layers with few channels and few filters (LeNet's 1 -> 6 and
 * 6 -> 16): a direct convolution that vectorises along a whole output row.
 *
 * With C and F this small, im2col + sgemm has N = F and K = KH*KW*C, a shape
 * that neither OpenBLAS nor libxsmm runs well, and libxsmm vectorises along
 * F or C, which do not fill a register. Here the vector dimension is the
 * output row itself, OW*F contiguous floats of NHWC: for a tap (kh, kw) and an
 * input channel c,
 *
 *   y_row[ow*F + f] += x[ih][ow + kw*dilation_w][c] * kernel[kh][kw][c][f],
 *
 * which is an elementwise product of two contiguous vectors once each input
 * row is stored "replicated", every pixel's value of channel c repeated F
 * times (replica[row][c][col*F + f] = x[row][col][c]), and the kernel's taps
 * are stored repeated OW times (taps[kh][kw][c][ow*F + f]). Both copies are
 * made once per image and once per call; the products then run on blocks of
 * a few registers' worth of floats whose partial sums stay in registers over
 * every tap.
 * The weight gradient is the same product with dy in place of the kernel,
 * summed over output rows and images into a per-thread (taps, C, OW*F)
 * partial, and finally over ow, threads and images in a fixed order; on
 * CPUs with AVX-512, the layers conv_lanes_filter.c takes (LeNet's first)
 * run there instead, in this path's scratch.
 *
 * Rows are padded to a whole number of blocks; the lanes past OW*F compute
 * on zeros and are never stored. Horizontal stride must be 1 (the replica's
 * columns are then the output's); vertical stride, dilation and padding are
 * free. Work is split over the team by images; forward writes each output
 * once and the weight gradient is reduced in thread order, so results depend
 * on the thread count alone, never on timing. */
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* NARROW_BLOCK: floats of one block of the weight gradient's partial sums,
 * four AVX-512 registers (four independent add chains hide the add latency;
 * ISO C does not contract to FMA); a multiple of NARROW_ROW_BLOCK. Forward
 * computes NARROW_ROWS output rows of NARROW_ROW_BLOCK floats at once (eight
 * registers), which shares each load of the repeated kernel between four
 * rows: the loads, not the arithmetic, bound these loops.
 * NARROW_MAX_FILTERS / NARROW_MAX_CHANNELS: beyond these libxsmm or BLAS
 * have a vector's worth of F or C to work with. NARROW_MAX_COPY_FLOATS
 * bounds each copy (an image's replica, the repeated kernel), which keeps
 * every index within size_t and the scratch within a few MiB.
 * NARROW_MAX_FILTER_CHANNELS: the weight gradient only for first layers
 * (grey or RGB input): LeNet's 6 -> 16 layer measured 3x slower here than
 * on im2col + OpenBLAS, whose GEMM (M = KH*KW*C = 150, N = 16) is no longer
 * a poor shape, while its 1 -> 6 layer ran 4x faster.
 * NARROW_SLOTS: the most threads one call uses (one scratch block each). */
enum {
    NARROW_BLOCK = 64,
    NARROW_ROWS = 4,
    NARROW_ROW_BLOCK = 32,
    NARROW_MAX_FILTERS = 16,
    NARROW_MAX_CHANNELS = 16,
    NARROW_MAX_FILTER_CHANNELS = 3,
    NARROW_MAX_COPY_FLOATS = 1 << 20,
    NARROW_SLOTS = 8,
};
/* Below this much work per thread (about 30 us here) a call stays on fewer threads. */
#define NARROW_MIN_THREAD_FLOPS 2.0e6

/* The sizes every part of a call derives from the descriptor. */
typedef struct narrow_geometry {
    size_t rows, cols;   /* padded input: (OH-1)*stride_h + extent_h, OW + (KW-1)*dilation_w */
    size_t row_len;      /* OW*F: one output row */
    size_t block_len;    /* row_len rounded up to whole blocks */
    size_t plane;        /* one channel of one replicated row: cols*F */
    size_t replica;      /* one replicated image, NARROW_BLOCK floats of slack included */
    size_t taps;         /* KH*KW*C rows of block_len in the repeated kernel / the partials */
} narrow_geometry;

static narrow_geometry geometry_of(const tdl_conv2d_desc *d) {
    narrow_geometry g;
    const size_t f = (size_t)d->out_c;
    g.rows = (size_t)(d->out_h - 1) * (size_t)d->stride_h + (size_t)d->dilation_h * (size_t)(d->kernel_h - 1) + 1;
    g.cols = (size_t)d->out_w + (size_t)d->dilation_w * (size_t)(d->kernel_w - 1);
    g.row_len = (size_t)d->out_w * f;
    g.block_len = (g.row_len + NARROW_BLOCK - 1) / NARROW_BLOCK * NARROW_BLOCK;
    g.plane = g.cols * f;
    g.replica = g.rows * (size_t)d->in_c * g.plane + NARROW_BLOCK;
    g.taps = (size_t)d->kernel_h * (size_t)d->kernel_w * (size_t)d->in_c;
    return g;
}

/* Whether this layer is one for these loops: narrow, stride 1 along rows,
 * and copies of bounded size (checked in double before any size_t product). */
static bool narrow_suits(const tdl_conv2d_desc *d) {
    if (conv_groups(d) != 1 || d->stride_w != 1 || d->out_c > NARROW_MAX_FILTERS || d->in_c > NARROW_MAX_CHANNELS)
        return false;
    const double row_len = (double)d->out_w * d->out_c + NARROW_BLOCK;
    const double rows = (double)(d->out_h - 1) * d->stride_h + (double)d->dilation_h * (d->kernel_h - 1) + 1;
    const double cols = (double)d->out_w + (double)d->dilation_w * (d->kernel_w - 1);
    const double replica = rows * cols * d->in_c * d->out_c;
    const double taps = (double)d->kernel_h * d->kernel_w * d->in_c * row_len;
    return replica <= NARROW_MAX_COPY_FLOATS && taps <= NARROW_MAX_COPY_FLOATS &&
           (double)d->out_h * row_len <= NARROW_MAX_COPY_FLOATS;
}

/* Whether a call takes this path now: the shapes suit it and the automatic
 * path is chosen. The scratch sizes ask only about the shapes, so that an
 * arena sized while the BLAS path was forced still holds this path's scratch
 * when a later call runs on the automatic one. */
static bool narrow_runs(const tdl_conv2d_desc *d) {
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && narrow_suits(d);
}

static int slots_for(int batch) { return batch < NARROW_SLOTS ? batch : NARROW_SLOTS; }

/* Forward scratch: the repeated kernel, the repeated bias, then per slot a replica. */
size_t conv_narrow_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (batch <= 0 || !narrow_suits(d)) return 0;
    const narrow_geometry g = geometry_of(d);
    return (g.taps + 1) * g.block_len + (size_t)slots_for(batch) * g.replica;
}

size_t conv_narrow_forward_scratch_alone(const tdl_conv2d_desc *d) {
    return conv_narrow_forward_scratch_size(d, 1);
}

/* Weight-gradient scratch per slot: a replica, dy of one image with rows
 * padded to block_len, and the (taps, block_len) partial. */
static size_t filter_slot_floats(const narrow_geometry *g, const tdl_conv2d_desc *d) {
    return g->replica + (size_t)d->out_h * g->block_len + g->taps * g->block_len;
}

static bool narrow_suits_filter(const tdl_conv2d_desc *d) {
    return d->in_c <= NARROW_MAX_FILTER_CHANNELS && narrow_suits(d);
}

size_t conv_narrow_filter_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (batch <= 0 || !narrow_suits_filter(d)) return 0;
    const narrow_geometry g = geometry_of(d);
    return (size_t)slots_for(batch) * filter_slot_floats(&g, d);
}

/* image: (H,W,C) -> replica (rows, C, cols*F): padded pixel (r, col) of
 * channel c repeated F times, zeros outside the image. Each column is one
 * store of NARROW_MAX_FILTERS copies, of which the next column's store
 * overwrites all but F. Planes are written in memory order, each from its
 * start to its end, so what the last column writes past a plane is rewritten
 * by the next plane (or lands in the slack, whose lanes are never stored). */
TDL_VECTOR_CLONES static void replicate_image(float *restrict replica, const float *restrict image,
                                              const tdl_conv2d_desc *d, const narrow_geometry *g) {
    const size_t c_n = (size_t)d->in_c, f_n = (size_t)d->out_c;
    /* Columns [first, last) of a padded row hold input pixels. */
    const size_t first = (size_t)d->pad_left;
    size_t last = first + (size_t)d->in_w;
    if (last > g->cols) last = g->cols;
    for (size_t r = 0; r < g->rows; ++r) {
        const long ih = (long)r - d->pad_top;
        float *row = replica + r * c_n * g->plane;
        if (ih < 0 || ih >= d->in_h || first >= last) {
            memset(row, 0, c_n * g->plane * sizeof *row);
            continue;
        }
        const float *in_row = image + (size_t)ih * (size_t)d->in_w * c_n;
        for (size_t c = 0; c < c_n; ++c) {
            float *plane = row + c * g->plane;
            memset(plane, 0, first * f_n * sizeof *plane);
            for (size_t col = first; col < last; ++col) {
                const float v = in_row[(col - first) * c_n + c];
                float *restrict out = plane + col * f_n;
                for (size_t i = 0; i < NARROW_MAX_FILTERS; ++i) out[i] = v;
            }
            memset(plane + last * f_n, 0, (g->cols - last) * f_n * sizeof *plane);
        }
    }
    memset(replica + g->rows * c_n * g->plane, 0, NARROW_BLOCK * sizeof *replica);
}

/* kernel (KH,KW,C,F) -> repeated (KH*KW*C, block_len): each tap's F weights
 * OW times, zeros past row_len; bias likewise into one more row (zeros without one). */
static void repeat_kernel(float *restrict repeated, const float *restrict kernel, const float *restrict bias,
                          const tdl_conv2d_desc *d, const narrow_geometry *g) {
    const size_t f_n = (size_t)d->out_c;
    for (size_t t = 0; t <= g->taps; ++t) {
        float *out = repeated + t * g->block_len;
        const float *src = t < g->taps ? kernel + t * f_n : bias;
        memset(out, 0, g->block_len * sizeof *out);
        if (src == NULL) continue;
        for (size_t ow = 0; ow < (size_t)d->out_w; ++ow) memcpy(out + ow * f_n, src, f_n * sizeof *out);
    }
}

/* Where the taps of one block are: tap (kh, c, kw) reads the replica at
 * x0 + kh*x_kh + c*x_c + kw*x_kw and the repeated kernel at w0 + kh*w_kh +
 * c*w_c + kw*w_kw. */
typedef struct block_taps {
    size_t kernel_h, in_c, kernel_w;
    size_t x_kh, x_c, x_kw;    /* replica steps between taps */
    size_t w_kh, w_c, w_kw;    /* repeated-kernel steps between taps */
} block_taps;

/* out (NARROW_ROWS, NARROW_ROW_BLOCK) = init + the sum over all taps of
 * x_tap * w_tap, for NARROW_ROWS output rows at once: row r reads the
 * replica at x0 + offset[r], and each load of the repeated kernel serves
 * every row (loads, not arithmetic, bound these loops). */
TDL_VECTOR_CLONES static void forward_rows_block(float *restrict out, const float *restrict init,
                                                 const float *restrict x0, const size_t *restrict offset,
                                                 const float *restrict w0, const block_taps *restrict s) {
    float acc[NARROW_ROWS][NARROW_ROW_BLOCK];
    const size_t o1 = offset[1], o2 = offset[2], o3 = offset[3];
    for (size_t r = 0; r < NARROW_ROWS; ++r)
        for (size_t i = 0; i < NARROW_ROW_BLOCK; ++i) acc[r][i] = init[i];
    for (size_t kh = 0; kh < s->kernel_h; ++kh)
        for (size_t c = 0; c < s->in_c; ++c)
            for (size_t kw = 0; kw < s->kernel_w; ++kw) {
                const float *restrict x = x0 + kh * s->x_kh + c * s->x_c + kw * s->x_kw;
                const float *restrict w = w0 + kh * s->w_kh + c * s->w_c + kw * s->w_kw;
                for (size_t i = 0; i < NARROW_ROW_BLOCK; ++i) {
                    const float wi = w[i];
                    acc[0][i] += x[i] * wi;
                    acc[1][i] += x[o1 + i] * wi;
                    acc[2][i] += x[o2 + i] * wi;
                    acc[3][i] += x[o3 + i] * wi;
                }
            }
    for (size_t r = 0; r < NARROW_ROWS; ++r)
        for (size_t i = 0; i < NARROW_ROW_BLOCK; ++i) out[r * NARROW_ROW_BLOCK + i] = acc[r][i];
}

/* One call's shared state. */
typedef struct narrow_job {
    const tdl_conv2d_desc *d;
    narrow_geometry g;
    int batch;
    float *y, *repeated, *slots;
    const float *x, *dz, *scale, *shift;
    size_t slot_floats;
} narrow_job;

static block_taps forward_steps(const tdl_conv2d_desc *d, const narrow_geometry *g) {
    const block_taps s = {(size_t)d->kernel_h, (size_t)d->in_c, (size_t)d->kernel_w,
                          (size_t)d->dilation_h * (size_t)d->in_c * g->plane, g->plane,
                          (size_t)d->dilation_w * (size_t)d->out_c,
                          (size_t)d->kernel_w * (size_t)d->in_c * g->block_len, g->block_len,
                          (size_t)d->in_c * g->block_len};
    return s;
}

/* Forward: images [begin, end) of the batch, output rows written whole. */
static void forward_share(void *context, int t, int threads) {
    const narrow_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const narrow_geometry *g = &j->g;
    float *replica = j->slots + (size_t)t * j->slot_floats;
    const float *bias_row = j->repeated + g->taps * g->block_len;
    const block_taps steps = forward_steps(d, g);
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const size_t row_step = (size_t)d->stride_h * (size_t)d->in_c * g->plane, oh_n = (size_t)d->out_h;
    float block[NARROW_ROWS * NARROW_ROW_BLOCK];
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b) {
        replicate_image(replica, j->x + b * x_image, d, g);
        for (size_t oh = 0; oh < oh_n; oh += NARROW_ROWS) {
            const size_t rows = oh_n - oh < NARROW_ROWS ? oh_n - oh : NARROW_ROWS;
            /* Past the last output row a row repeats the one before; its sums are dropped. */
            size_t offset[NARROW_ROWS];
            for (size_t r = 0; r < NARROW_ROWS; ++r) offset[r] = (r < rows ? r : rows - 1) * row_step;
            float *y_rows = j->y + (b * oh_n + oh) * g->row_len;
            const float *x_rows = replica + oh * row_step;
            for (size_t j0 = 0; j0 < g->row_len; j0 += NARROW_ROW_BLOCK) {
                const size_t n = g->row_len - j0 < NARROW_ROW_BLOCK ? g->row_len - j0 : NARROW_ROW_BLOCK;
                forward_rows_block(block, bias_row + j0, x_rows + j0, offset, j->repeated + j0, &steps);
                for (size_t r = 0; r < rows; ++r)
                    memcpy(y_rows + r * g->row_len + j0, block + r * NARROW_ROW_BLOCK, n * sizeof *block);
            }
            /* The activation and the affine map while the rows are in L1. */
            conv_activate_in_place(y_rows, rows * g->row_len, d->activation, d->alpha);
            if (j->scale != NULL)
                conv_affine_rows(y_rows, j->scale, j->shift, rows * (size_t)d->out_w, (size_t)d->out_c);
        }
    }
}

static narrow_job job_new(const tdl_conv2d_desc *d, int batch, const float *x) {
    narrow_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.g = geometry_of(d);
    j.batch = batch;
    j.x = x;
    return j;
}

static int threads_for(const tdl_conv2d_desc *d, int batch) {
    const double flops = 2.0 * (double)conv_output_pixels(d, batch) * (double)conv_patch_size(d) * d->out_c;
    int threads = tdl_team_threads_for(flops, NARROW_MIN_THREAD_FLOPS);
    if (threads > slots_for(batch)) threads = slots_for(batch);
    return threads;
}

bool conv_narrow_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                         const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (batch <= 0 || !narrow_runs(d)) return false;
    narrow_job j = job_new(d, batch, x);
    j.y = y;
    j.scale = scale;
    j.shift = shift;
    j.repeated = scratch;
    j.slots = scratch + (j.g.taps + 1) * j.g.block_len;
    j.slot_floats = j.g.replica;
    repeat_kernel(j.repeated, kernel, bias, d, &j.g);
    tdl_team_run(threads_for(d, batch), forward_share, &j);
    return true;
}

/* partial[i] += sum over `rows` rows r of x[r*x_step + i] * dz[r*dz_step + i], for one block. */
TDL_VECTOR_CLONES static void filter_block(float *restrict partial, const float *restrict x, size_t x_step,
                                           const float *restrict dz, size_t dz_step, size_t rows) {
    float acc[NARROW_BLOCK];
    for (size_t i = 0; i < NARROW_BLOCK; ++i) acc[i] = partial[i];
    for (size_t r = 0; r < rows; ++r) {
        const float *restrict xr = x + r * x_step;
        const float *restrict dr = dz + r * dz_step;
        for (size_t i = 0; i < NARROW_BLOCK; ++i) acc[i] += xr[i] * dr[i];
    }
    for (size_t i = 0; i < NARROW_BLOCK; ++i) partial[i] = acc[i];
}

/* Weight gradient: images [begin, end) into this slot's partial (taps, block_len). */
static void filter_share(void *context, int t, int threads) {
    const narrow_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const narrow_geometry *g = &j->g;
    float *replica = j->slots + (size_t)t * j->slot_floats;
    float *dz_rows = replica + g->replica;
    float *partial = dz_rows + (size_t)d->out_h * g->block_len;
    const size_t c_n = (size_t)d->in_c, oh_n = (size_t)d->out_h;
    const size_t x_image = (size_t)d->in_h * (size_t)d->in_w * c_n;
    const size_t x_row_step = (size_t)d->stride_h * c_n * g->plane;
    memset(partial, 0, g->taps * g->block_len * sizeof *partial);
    memset(dz_rows, 0, oh_n * g->block_len * sizeof *dz_rows);
    size_t b, end;
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    for (; b < end; ++b) {
        replicate_image(replica, j->x + b * x_image, d, g);
        const float *dz_image = j->dz + b * oh_n * g->row_len;
        for (size_t oh = 0; oh < oh_n; ++oh)
            memcpy(dz_rows + oh * g->block_len, dz_image + oh * g->row_len, g->row_len * sizeof *dz_rows);
        for (size_t kh = 0; kh < (size_t)d->kernel_h; ++kh)
            for (size_t kw = 0; kw < (size_t)d->kernel_w; ++kw)
                for (size_t c = 0; c < c_n; ++c) {
                    const size_t tap = (kh * (size_t)d->kernel_w + kw) * c_n + c;
                    const float *x0 = replica + (kh * (size_t)d->dilation_h * c_n + c) * g->plane +
                                      kw * (size_t)d->dilation_w * (size_t)d->out_c;
                    for (size_t j0 = 0; j0 < g->row_len; j0 += NARROW_BLOCK)
                        filter_block(partial + tap * g->block_len + j0, x0 + j0, x_row_step, dz_rows + j0,
                                     g->block_len, oh_n);
                }
    }
}

bool conv_narrow_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                 int batch, float *scratch) {
    if (batch <= 0 || !narrow_runs(d) || !narrow_suits_filter(d)) return false;
    narrow_job j = job_new(d, batch, x);
    j.dz = dz;
    j.slots = scratch;
    j.slot_floats = filter_slot_floats(&j.g, d);
    const int threads = threads_for(d, batch);
    if (conv_lanes_backprop_filter(dkernel, x, dz, d, batch, scratch, j.slot_floats, threads)) return true;
    tdl_team_run(threads, filter_share, &j);
    /* dkernel[tap][f] += the partials summed over ow, in thread order then ow order. */
    const size_t f_n = (size_t)d->out_c, ow_n = (size_t)d->out_w;
    for (size_t tap = 0; tap < j.g.taps; ++tap)
        for (size_t f = 0; f < f_n; ++f) {
            float sum = 0.0f;
            for (int t = 0; t < threads; ++t) {
                const float *partial = j.slots + (size_t)t * j.slot_floats + j.g.replica +
                                       (size_t)d->out_h * j.g.block_len + tap * j.g.block_len;
                for (size_t ow = 0; ow < ow_n; ++ow) sum += partial[ow * f_n + f];
            }
            dkernel[tap * f_n + f] += sum;
        }
    return true;
}
