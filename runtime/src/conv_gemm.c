/* conv2d by im2col + sgemm: NHWC input, HWIO kernel (already a (KH*KW*C, F) matrix).
 * The fallback path, used when libxsmm is absent or cannot run (conv_internal.h).
 *
 * The B*OH*OW output pixels are the rows of one big GEMM. They are processed in
 * chunks of rows so the im2col buffer stays a bounded size, which keeps it in
 * cache and keeps each GEMM's sizes within int. A 1x1, stride-1 convolution
 * needs no im2col: the input already is the (B*H*W, C) matrix. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"

/* Chunk sizing, measured on the layers in bench/kernels:
 * - im2col rows plus output rows of one chunk stay within CONV_CHUNK_FLOATS
 *   (256 KiB), so the GEMM reads columns im2col has just written and the bias
 *   and activation passes find the output rows still in cache;
 * - one chunk's GEMM stays within CONV_SMALL_GEMM_VOLUME multiply-adds when
 *   that still leaves CONV_MIN_CHUNK_ROWS rows: below that volume OpenBLAS uses
 *   its small-matrix kernels, which skip operand packing (1.1-1.3x faster here).
 * Such small GEMMs run on one thread inside BLAS, so with several threads the
 * batch is split instead: up to CONV_MAX_PARTS contiguous ranges of images, one
 * per team thread, each with at least CONV_MIN_PART_FLOPS of GEMM work.
 * Layers too large for that (KH*KW*C*F above ~62k) use chunks of at least
 * CONV_LARGE_CHUNK_ROWS rows within CONV_LARGE_CHUNK_FLOATS (4 MiB), because
 * BLAS packs the whole kernel matrix on every call; these GEMMs run one after
 * another and tdl_sgemm splits each over the team. */
enum {
    CONV_CHUNK_FLOATS = 1 << 16,
    CONV_MIN_CHUNK_ROWS = 16,
    CONV_MAX_PARTS = 4,
    CONV_LARGE_CHUNK_FLOATS = 1 << 20,
    CONV_LARGE_CHUNK_ROWS = 256,
};
#define CONV_SMALL_GEMM_VOLUME 1.0e6
#define CONV_MIN_PART_FLOPS 16.0e6
#define output_pixels conv_output_pixels
#define patch_size conv_patch_size

/* A 1x1 stride-1 convolution reads each input pixel as it is. */
static bool is_pointwise(const tdl_conv2d_desc *d) {
    return d->kernel_h == 1 && d->kernel_w == 1 && d->stride_h == 1 && d->stride_w == 1 &&
           d->pad_top == 0 && d->pad_left == 0;
}

/* Whether a chunk's GEMM is small enough for BLAS's single-threaded small kernels. */
static bool small_gemm_chunks(const tdl_conv2d_desc *d) {
    return CONV_SMALL_GEMM_VOLUME / ((double)patch_size(d) * (double)d->out_c) >= CONV_MIN_CHUNK_ROWS;
}

/* How many GEMM rows one chunk holds (at least one, at most all of them). */
static size_t chunk_rows(const tdl_conv2d_desc *d, size_t rows) {
    const size_t row_floats = patch_size(d) + (size_t)d->out_c;
    size_t limit;
    if (small_gemm_chunks(d)) {
        limit = CONV_CHUNK_FLOATS / row_floats;
        const size_t small = (size_t)(CONV_SMALL_GEMM_VOLUME / ((double)patch_size(d) * (double)d->out_c));
        if (limit > small) limit = small;
        if (limit < CONV_MIN_CHUNK_ROWS) limit = CONV_MIN_CHUNK_ROWS;
    } else {
        limit = CONV_LARGE_CHUNK_FLOATS / row_floats;
        if (limit < CONV_LARGE_CHUNK_ROWS) limit = CONV_LARGE_CHUNK_ROWS;
    }
    if (limit > (size_t)INT_MAX) limit = INT_MAX;
    return rows < limit ? rows : limit;
}

/* The most threads a batch is split over (the workspace has room for each). */
static int max_parts(const tdl_conv2d_desc *d, int batch) {
    if (!small_gemm_chunks(d)) return 1;
    return batch < CONV_MAX_PARTS ? batch : CONV_MAX_PARTS;
}


/* Floats of one thread's scratch: its im2col chunk and, when the batch may be
 * split, its private share of dkernel. Never decreases as the batch grows. */
static size_t part_scratch_size(const tdl_conv2d_desc *d, int batch) {
    const size_t columns = is_pointwise(d) ? 0 : chunk_rows(d, output_pixels(d, batch)) * patch_size(d);
    const size_t partial = max_parts(d, batch) > 1 ? patch_size(d) * (size_t)d->out_c : 0;
    return columns + partial;
}

/* One scratch block per part. Every term grows with the batch, so scratch
 * sized for the largest batch serves every smaller one. */
size_t conv_general_scratch_size(const tdl_conv2d_desc *d, int batch) {
    const size_t gemm = (size_t)max_parts(d, batch) * part_scratch_size(d, batch);
    const size_t forward = conv_narrow_forward_scratch_size(d, batch);
    const size_t filter = conv_narrow_filter_scratch_size(d, batch);
    const size_t lanes = conv_lanes_forward_scratch_size(d, batch);
    size_t most = gemm > forward ? gemm : forward;
    if (filter > most) most = filter;
    return lanes > most ? lanes : most;
}

size_t conv_general_forward_scratch_alone(const tdl_conv2d_desc *d, int batch) {
    const size_t part = part_scratch_size(d, batch), narrow = conv_narrow_forward_scratch_alone(d);
    const size_t lanes = conv_lanes_forward_scratch_alone(d);
    const size_t most = part > narrow ? part : narrow;
    return lanes > most ? lanes : most;
}

/* dst = src for n floats. */
static inline void copy_floats(float *restrict dst, const float *restrict src, size_t n) {
    memcpy(dst, src, n * sizeof *dst);
}

/* `count` runs of n floats: run r goes from src + r*src_stride to dst + r*dst_stride.
 * im2col copies many short runs (3 floats for a 3x3 kernel on one channel); a
 * memcpy of constant size compiles to plain moves, so the common short lengths
 * get their own loop instead of a library call per run. */
static void copy_runs(float *restrict dst, size_t dst_stride, const float *restrict src, size_t src_stride,
                      size_t count, size_t n) {
#define COPY_RUNS_OF(N)                                                                  \
    case N:                                                                              \
        for (size_t r = 0; r < count; ++r, dst += dst_stride, src += src_stride)         \
            memcpy(dst, src, (N) * sizeof *dst);                                         \
        return;
    switch (n) {
        COPY_RUNS_OF(1)
        COPY_RUNS_OF(2)
        COPY_RUNS_OF(3)
        COPY_RUNS_OF(4)
        COPY_RUNS_OF(5)
        COPY_RUNS_OF(6)
        COPY_RUNS_OF(7)
        COPY_RUNS_OF(8)
        COPY_RUNS_OF(9)
        COPY_RUNS_OF(12)
        COPY_RUNS_OF(15)
        COPY_RUNS_OF(16)
    default:
        for (size_t r = 0; r < count; ++r, dst += dst_stride, src += src_stride) memcpy(dst, src, n * sizeof *dst);
        return;
    }
#undef COPY_RUNS_OF
}

/* dst += src, in blocks of 8 with a scalar tail: at -O2 GCC only vectorizes
 * loops whose trip count is known. */
static inline void add_floats(float *restrict dst, const float *restrict src, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (size_t j = 0; j < 8; ++j) dst[i + j] += src[i + j];
    for (; i < n; ++i) dst[i] += src[i];
}

static void zero_floats(float *dst, size_t n) { memset(dst, 0, n * sizeof *dst); }

/* Output columns [first, last) of one output row whose kernel windows lie wholly
 * inside the input, so that with dilation 1 a kernel row is one contiguous run. */
typedef struct interior_span {
    int first, last;
} interior_span;

static interior_span interior_columns(const tdl_conv2d_desc *d) {
    interior_span s = {0, 0};
    if (d->dilation_w != 1) return s;
    /* ow*stride - pad_left >= 0 and ow*stride - pad_left + kernel_w <= in_w */
    s.first = (d->pad_left + d->stride_w - 1) / d->stride_w;
    const int last_start = d->in_w - d->kernel_w + d->pad_left;
    s.last = last_start < 0 ? 0 : last_start / d->stride_w + 1;
    if (s.last > d->out_w) s.last = d->out_w;
    if (s.first > s.last) s.first = s.last;
    return s;
}

static int max_int(int a, int b) { return a > b ? a : b; }
static int min_int(int a, int b) { return a < b ? a : b; }

/* One kernel row of one im2col row at a border: each tap checked, padding reads 0. */
static void gather_border(float *restrict out, const float *restrict src_row, const tdl_conv2d_desc *d,
                          int iw0) {
    const size_t c = (size_t)d->in_c;
    for (int kw = 0; kw < d->kernel_w; ++kw, out += c) {
        const int iw = iw0 + kw * d->dilation_w;
        if (iw < 0 || iw >= d->in_w)
            zero_floats(out, c);
        else
            copy_floats(out, src_row + (size_t)iw * c, c);
    }
}

/* The inverse of gather_border: taps that fall in the padding are dropped. */
static void scatter_border(float *restrict dst_row, const float *restrict in, const tdl_conv2d_desc *d,
                           int iw0) {
    const size_t c = (size_t)d->in_c;
    for (int kw = 0; kw < d->kernel_w; ++kw, in += c) {
        const int iw = iw0 + kw * d->dilation_w;
        if (iw >= 0 && iw < d->in_w) add_floats(dst_row + (size_t)iw * c, in, c);
    }
}

/* image: (H,W,C) -> the im2col rows of output columns [ow_begin, ow_end) of output row oh.
 * Kernel row kh is written for every column before the next kh, so the source
 * row stays in L1; interior columns copy a whole kernel row as one run. */
static void im2col_segment(float *restrict col, const float *restrict image, const tdl_conv2d_desc *d,
                           int oh, int ow_begin, int ow_end, interior_span inside) {
    const size_t c = (size_t)d->in_c;
    const size_t k = patch_size(d);
    const size_t kernel_row = (size_t)d->kernel_w * c;
    const int run_begin = min_int(max_int(ow_begin, inside.first), ow_end);
    const int run_end = max_int(min_int(ow_end, inside.last), run_begin);
    for (int kh = 0; kh < d->kernel_h; ++kh) {
        float *out = col + (size_t)kh * kernel_row;
        const int ih = oh * d->stride_h - d->pad_top + kh * d->dilation_h;
        if (ih < 0 || ih >= d->in_h) {
            for (int ow = ow_begin; ow < ow_end; ++ow, out += k) zero_floats(out, kernel_row);
            continue;
        }
        const float *src_row = image + (size_t)ih * (size_t)d->in_w * c;
        int ow = ow_begin;
        for (; ow < run_begin; ++ow, out += k) gather_border(out, src_row, d, ow * d->stride_w - d->pad_left);
        if (ow < run_end) {
            const float *src = src_row + (size_t)(ow * d->stride_w - d->pad_left) * c;
            copy_runs(out, k, src, (size_t)d->stride_w * c, (size_t)(run_end - ow), kernel_row);
            out += (size_t)(run_end - ow) * k;
            ow = run_end;
        }
        for (; ow < ow_end; ++ow, out += k) gather_border(out, src_row, d, ow * d->stride_w - d->pad_left);
    }
}

/* The inverse of im2col_segment: dx image += each column value at its input pixel. */
static void col2im_segment(float *restrict image, const float *restrict col, const tdl_conv2d_desc *d,
                           int oh, int ow_begin, int ow_end, interior_span inside) {
    const size_t c = (size_t)d->in_c;
    const size_t k = patch_size(d);
    const size_t kernel_row = (size_t)d->kernel_w * c;
    const int run_begin = min_int(max_int(ow_begin, inside.first), ow_end);
    const int run_end = max_int(min_int(ow_end, inside.last), run_begin);
    for (int kh = 0; kh < d->kernel_h; ++kh) {
        const int ih = oh * d->stride_h - d->pad_top + kh * d->dilation_h;
        if (ih < 0 || ih >= d->in_h) continue;
        const float *in = col + (size_t)kh * kernel_row;
        float *dst_row = image + (size_t)ih * (size_t)d->in_w * c;
        int ow = ow_begin;
        for (; ow < run_begin; ++ow, in += k) scatter_border(dst_row, in, d, ow * d->stride_w - d->pad_left);
        if (ow < run_end) {
            float *dst = dst_row + (size_t)(ow * d->stride_w - d->pad_left) * c;
            for (; ow < run_end; ++ow, in += k, dst += (size_t)d->stride_w * c) add_floats(dst, in, kernel_row);
        }
        for (; ow < ow_end; ++ow, in += k) scatter_border(dst_row, in, d, ow * d->stride_w - d->pad_left);
    }
}

/* Which part of one output row a chunk of GEMM rows covers. */
typedef struct row_segment {
    size_t image;
    int oh, ow_begin, ow_end;
} row_segment;

/* The longest piece of output row starting at GEMM row `row` and ending by `end`. */
static row_segment segment_at(const tdl_conv2d_desc *d, size_t row, size_t end) {
    const size_t per_image = (size_t)d->out_h * (size_t)d->out_w;
    const size_t in_image = row % per_image;
    row_segment s;
    s.image = row / per_image;
    s.oh = (int)(in_image / (size_t)d->out_w);
    s.ow_begin = (int)(in_image % (size_t)d->out_w);
    const size_t room = (size_t)(d->out_w - s.ow_begin);
    s.ow_end = s.ow_begin + (int)(end - row < room ? end - row : room);
    return s;
}

/* x: (B,H,W,C) -> col: (rows, KH*KW*C) for GEMM rows [first, first+rows); padding reads 0. */
static void im2col(float *col, const float *x, const tdl_conv2d_desc *d, size_t first, size_t rows) {
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const interior_span inside = interior_columns(d);
    for (size_t row = first, end = first + rows; row < end;) {
        const row_segment s = segment_at(d, row, end);
        im2col_segment(col + (row - first) * patch_size(d), x + s.image * image_size, d, s.oh, s.ow_begin,
                       s.ow_end, inside);
        row += (size_t)(s.ow_end - s.ow_begin);
    }
}

/* col: (rows, KH*KW*C) -> dx: (B,H,W,C) += each column value at its input pixel; padding drops. */
static void col2im_accumulate(float *dx, const float *col, const tdl_conv2d_desc *d, size_t first,
                              size_t rows) {
    const size_t image_size = (size_t)d->in_h * (size_t)d->in_w * (size_t)d->in_c;
    const interior_span inside = interior_columns(d);
    for (size_t row = first, end = first + rows; row < end;) {
        const row_segment s = segment_at(d, row, end);
        col2im_segment(dx + s.image * image_size, col + (row - first) * patch_size(d), d, s.oh, s.ow_begin,
                       s.ow_end, inside);
        row += (size_t)(s.ow_end - s.ow_begin);
    }
}


/* One call's work, split into parts that run on separate threads. */
typedef struct conv_job {
    const tdl_conv2d_desc *d;
    int batch, parts;
    size_t chunk;          /* GEMM rows per chunk */
    size_t block;          /* floats of scratch per part */
    float *scratch;        /* parts blocks of scratch */
    float *y, *dx, *dkernel;
    const float *x, *kernel, *bias, *dz;
    const float *scale, *shift;   /* a folded batch_norm, or NULL */
} conv_job;

static conv_job job_new(const tdl_conv2d_desc *d, int batch, float *scratch) {
    conv_job job = {0};
    job.d = d;
    job.batch = batch;
    int parts = tdl_team_threads();
    if (parts > max_parts(d, batch)) parts = max_parts(d, batch);
    const double flops = 2.0 * (double)output_pixels(d, batch) * (double)patch_size(d) * (double)d->out_c;
    if ((double)parts * CONV_MIN_PART_FLOPS > flops) parts = (int)(flops / CONV_MIN_PART_FLOPS);
    job.parts = parts < 1 ? 1 : parts;
    job.chunk = chunk_rows(d, output_pixels(d, batch));
    job.block = part_scratch_size(d, batch);
    job.scratch = scratch;
    return job;
}

/* GEMM rows [first, end) of one part: a contiguous range of whole images, so no
 * two parts write the same output or input pixel. */
static void part_rows(const conv_job *job, int part, size_t *first, size_t *end) {
    const size_t per_image = (size_t)job->d->out_h * (size_t)job->d->out_w;
    *first = (size_t)job->batch * (size_t)part / (size_t)job->parts * per_image;
    *end = (size_t)job->batch * (size_t)(part + 1) / (size_t)job->parts * per_image;
}

static float *part_columns(const conv_job *job, int part) {
    return is_pointwise(job->d) ? NULL : job->scratch + (size_t)part * job->block;
}

/* A part's private dkernel (parts other than 0, which accumulates into dkernel). */
static float *part_partial(const conv_job *job, int part) {
    const size_t columns = is_pointwise(job->d) ? 0 : job->chunk * patch_size(job->d);
    return job->scratch + (size_t)part * job->block + columns;
}

/* y rows [first, end) = f(im2col(x) * kernel + bias), chunk by chunk. */
static void forward_part(void *context, int part, int parts) {
    (void)parts;
    const conv_job *job = context;
    const tdl_conv2d_desc *d = job->d;
    const size_t f = (size_t)d->out_c, k = patch_size(d);
    float *columns = part_columns(job, part);
    size_t first, end;
    part_rows(job, part, &first, &end);
    for (size_t row = first; row < end; row += job->chunk) {
        const size_t n = end - row < job->chunk ? end - row : job->chunk;
        float *y_chunk = job->y + row * f;
        const float *a = job->x + row * k;
        if (columns != NULL) {
            im2col(columns, job->x, d, row, n);
            a = columns;
        }
        tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, (int)n, d->out_c, (int)k, 1.0f, a, (int)k, job->kernel,
                  d->out_c, 0.0f, y_chunk, d->out_c);
        /* Bias and activation while the chunk's output rows are still in cache. */
        if (job->bias != NULL)
            for (size_t r = 0; r < n; ++r) add_floats(y_chunk + r * f, job->bias, f);
        conv_activate_in_place(y_chunk, n * f, d->activation, d->alpha);
        if (job->scale != NULL) conv_affine_rows(y_chunk, job->scale, job->shift, n, f);
    }
}

/* For GEMM rows [first, end) of the pre-activation gradient dz:
 *   dkernel (or the part's private copy) += im2col(x)^T * dz, and
 *   dx += col2im(dz * kernel^T); either may be NULL. */
static void backward_part(void *context, int part, int parts) {
    (void)parts;
    const conv_job *job = context;
    const tdl_conv2d_desc *d = job->d;
    const size_t f = (size_t)d->out_c, k = patch_size(d);
    float *columns = part_columns(job, part);
    float *dkernel = job->dkernel;
    if (dkernel != NULL && part > 0) {
        dkernel = part_partial(job, part);
        zero_floats(dkernel, k * f);
    }
    size_t first, end;
    part_rows(job, part, &first, &end);
    for (size_t row = first; row < end; row += job->chunk) {
        const size_t n = end - row < job->chunk ? end - row : job->chunk;
        const float *dz_chunk = job->dz + row * f;
        if (dkernel != NULL) {
            const float *a = job->x + row * k;
            if (columns != NULL) {
                im2col(columns, job->x, d, row, n);
                a = columns;
            }
            tdl_sgemm(TDL_TRANS, TDL_NO_TRANS, (int)k, d->out_c, (int)n, 1.0f, a, (int)k, dz_chunk, d->out_c,
                      1.0f, dkernel, d->out_c);
        }
        if (job->dx != NULL) {
            if (columns == NULL) {
                /* Pointwise: dx rows are the GEMM output; accumulate with beta = 1. */
                tdl_sgemm(TDL_NO_TRANS, TDL_TRANS, (int)n, (int)k, d->out_c, 1.0f, dz_chunk, d->out_c,
                          job->kernel, d->out_c, 1.0f, job->dx + row * k, (int)k);
                continue;
            }
            tdl_sgemm(TDL_NO_TRANS, TDL_TRANS, (int)n, (int)k, d->out_c, 1.0f, dz_chunk, d->out_c, job->kernel,
                      d->out_c, 0.0f, columns, (int)k);
            col2im_accumulate(job->dx, columns, d, row, n);
        }
    }
}

/* Runs backward_part over the batch, then adds the parts' dkernel shares in
 * part order (so results are the same from run to run for a thread count). */
static void run_backward(conv_job *job) {
    tdl_team_run(job->parts, backward_part, job);
    if (job->dkernel == NULL) return;
    const size_t n = patch_size(job->d) * (size_t)job->d->out_c;
    for (int part = 1; part < job->parts; ++part) add_floats(job->dkernel, part_partial(job, part), n);
}

/* y = f(conv(x, kernel) + bias) */
void conv_general_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                          const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (conv_lanes_forward(y, x, kernel, bias, scale, shift, d, batch, scratch)) return;
    if (conv_narrow_forward(y, x, kernel, bias, scale, shift, d, batch, scratch)) return;
    conv_job job = job_new(d, batch, scratch);
    job.y = y;
    job.x = x;
    job.kernel = kernel;
    job.bias = bias;
    job.scale = scale;
    job.shift = shift;
    tdl_team_run(job.parts, forward_part, &job);
}

/* dkernel += im2col(x)^T dz, dx += col2im(dz kernel^T); either may be NULL. */
void conv_general_backward(float *dx, float *dkernel, const float *x, const float *kernel, const float *dz,
                           const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (dkernel != NULL && conv_narrow_backprop_filter(dkernel, x, dz, d, batch, scratch)) {
        if (dx == NULL) return;
        dkernel = NULL;
    }
    conv_job job = job_new(d, batch, scratch);
    job.dx = dx;
    job.dkernel = dkernel;
    job.x = x;
    job.kernel = kernel;
    job.dz = dz;
    run_backward(&job);
}
