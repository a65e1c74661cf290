/* conv2d as direct convolutions on libxsmm batch-reduce GEMMs (NHWC, HWIO).
 *
 * libxsmm is column-major, and an NHWC row of OW pixels of C channels is a
 * column-major (C x OW) matrix, so every product below reads the tensors in
 * place:
 *
 * - forward, per output row: y(F x OW) = sum over the KH*KW taps of
 *   kernel_tap(F x C) * x_row(C x OW), with x_row's columns stride*C apart.
 *   One batch-reduce call sums all taps with the accumulators in registers,
 *   and bias and activation run on the row while it is in cache;
 * - backward-data (stride 1), per input row: dx(C x W) += sum over taps of
 *   kernel_tap^T(C x F) * dy_row(F x W), from a copy of dy padded so that every
 *   tap reads a whole row; the transposed kernel is made once per call;
 * - backward-weights, per tap: dkernel_tap(F x C) += sum over output rows of
 *   dy_row(F x OW) * x_row^T(OW x C), one batch-reduce call over the rows of
 *   an image, with x_row read transposed in place (flags 'N','T'): both
 *   operands are the tensors' own rows and the result has the kernel's
 *   layout. That vectorises along the filters; a layer of fewer than 16
 *   (one AVX-512 register) vectorises along the channels instead, as
 *   dkernel_tap^T(C x F) += x_row(C x OW) * dy_row^T(OW x F), from dy rows
 *   transposed once per image, the partials transposed back at the end.
 *   Both forms add each sum's products in the same order: the same bits.
 *   The first took 0-9% less time on vgg_small's layers at batch 32 on
 *   one thread (4% more on the 16x16x32 -> 64 one), 4-7% less on two; the
 *   second is 2-10x faster at 1-10 filters (2026-12-06).
 *
 * Borders: a thread copies the input rows its output rows read into its own
 * zero-padded buffer, so the GEMMs never test bounds. Work is split over the
 * team by rows of the batch (batch x output rows); forward and backward-data
 * write each output once, so their results do not depend on the thread count.
 * Weight gradients are per-thread partials added in thread order afterwards.
 *
 * Everything returns false, touching nothing, when libxsmm is not built in,
 * the BLAS path is chosen, or libxsmm cannot generate a kernel here. */
#include <stdint.h>
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "vector_state.h"
#include "tdl/runtime.h"
#include "transpose_block.h"
#include "vector.h"

#ifdef TDL_HAVE_LIBXSMM

#include <libxsmm.h>
#include <pthread.h>

/* XSMM_SLOTS: the most threads one call uses; the workspace holds one scratch
 * block per slot (the team may grow after the workspace was sized).
 * XSMM_MAX_REDUCE: the longest address list of one batch-reduce call.
 * XSMM_MIN_THREAD_FLOPS: below this much work per thread (about 0.1 ms here)
 * a call stays on fewer threads: waking a sleeping team thread costs tens of
 * microseconds, more when another process holds its core.
 * XSMM_MIN_THREAD_FLOPS_FORWARD: the forward's bound, a quarter of it.
 * With every convolution of vgg_small's forward at batch 1 split from 4
 * MFLOP a thread (layers of 9.4 and 18.9 MFLOP) it took 0.213 ms on two
 * threads against 0.246 while the two cores were close, but 0.41-0.51
 * against one thread's 0.33-0.40 on a virtual machine whose two vCPUs were
 * half a microsecond apart (a cache line's round trip): each layer then
 * reads half of its input, and writes half of its output, across them
 * (2026-12-02). Since then the 3x3 layers with 64+ channels run as
 * Winograd's (conv_winograd.c, which keeps 16 MFLOP), and what this bound
 * splits at batch 1 is the 32x32x32 -> 32 layer (18.9 MFLOP; 179 -> 94 us
 * on two threads of an AMD EPYC, cores 57-340 ns apart as the host moved
 * them), the model's forward 0.569 -> 0.499 ms (medians of 9 alternating
 * processes, 2026-12-03); since 2026-12-06 that layer too runs as Winograd's,
 * whose few-tile path splits a single image from 1 MFLOP a thread. The
 * gradients keep the full bound.
 * XSMM_MIN_VECTOR_ROWS: the fewest rows of a kernel's output block (F for
 * forward, C for the gradients): libxsmm vectorises along them, and below 16
 * floats (one AVX-512 register) im2col + OpenBLAS measured faster, e.g. the
 * C = 1 first layers' gradients at a tenth of its speed.
 * XSMM_MAX_PAD_GROWTH: a padded copy may be at most this many times the input;
 * absurd paddings (a huge dilation with 'same') go to the gemm path, which
 * handles borders without copies. */
enum { XSMM_SLOTS = 8, XSMM_MAX_REDUCE = 64, XSMM_MAX_PAD_GROWTH = 4, XSMM_MIN_VECTOR_ROWS = 16 };
#define XSMM_MIN_THREAD_FLOPS 16.0e6
#define XSMM_MIN_THREAD_FLOPS_FORWARD 4.0e6

typedef libxsmm_smmfunction_reducebatch_addr xsmm_kernel;

/* Sizes of the zero-padded input that the forward pass and the weight
 * gradient read: rows [0, rows) hold input rows [-pad_top, rows - pad_top). */
typedef struct padded_geometry {
    int rows, cols;       /* Hp, Wp */
    bool needed;          /* any padding at all */
} padded_geometry;

static padded_geometry padded_of(const tdl_conv2d_desc *d) {
    const int64_t extent_h = (int64_t)d->dilation_h * (d->kernel_h - 1) + 1;
    const int64_t extent_w = (int64_t)d->dilation_w * (d->kernel_w - 1) + 1;
    const int64_t span_h = (int64_t)(d->out_h - 1) * d->stride_h + extent_h; /* <= INT_MAX (desc_init) */
    const int64_t span_w = (int64_t)(d->out_w - 1) * d->stride_w + extent_w;
    const int64_t bottom = span_h - d->pad_top - d->in_h, right = span_w - d->pad_left - d->in_w;
    padded_geometry g;
    g.rows = (int)(d->pad_top + d->in_h + (bottom > 0 ? bottom : 0));
    g.cols = (int)(d->pad_left + d->in_w + (right > 0 ? right : 0));
    g.needed = d->pad_top > 0 || d->pad_left > 0 || bottom > 0 || right > 0;
    return g;
}

/* Backward-data reads dy padded by (KW-1)*dilation columns in all (stride 1 only). */
static int dy_padded_cols(const tdl_conv2d_desc *d) { return d->in_w + (d->kernel_w - 1) * d->dilation_w; }

static size_t taps(const tdl_conv2d_desc *d) { return (size_t)d->kernel_h * (size_t)d->kernel_w; }
static size_t kernel_floats(const tdl_conv2d_desc *d) { return conv_patch_size(d) * (size_t)d->out_c; }

/* Scratch of one slot: a padded input image (or padded dy rows), the
 * transposed dy rows of one image (a weight gradient of few filters only),
 * and a private weight gradient. */
typedef struct slot_layout {
    size_t image, transposed, partial, total;
} slot_layout;

/* Whether the weight gradient reads dy in place, vectorised along the
 * filters (see the top of the file). */
static bool filter_gradient_by_filters(const tdl_conv2d_desc *d) { return d->out_c >= XSMM_MIN_VECTOR_ROWS; }

static slot_layout slot_layout_of(const tdl_conv2d_desc *d) {
    const padded_geometry g = padded_of(d);
    slot_layout s;
    const size_t x_padded = (size_t)g.rows * (size_t)g.cols * (size_t)d->in_c;
    const size_t dy_padded = (size_t)d->out_h * (size_t)dy_padded_cols(d) * (size_t)d->out_c;
    s.image = x_padded > dy_padded ? x_padded : dy_padded;
    s.transposed = filter_gradient_by_filters(d) ? 0 : (size_t)d->out_h * (size_t)d->out_w * (size_t)d->out_c;
    s.partial = kernel_floats(d);
    s.total = s.image + s.transposed + s.partial;
    return s;
}

static int slots_for(const tdl_conv2d_desc *d, int batch) {
    const size_t rows = (size_t)batch * (size_t)(d->out_h > d->in_h ? d->out_h : d->in_h);
    return rows < XSMM_SLOTS ? (int)rows : XSMM_SLOTS;
}

static bool shapes_suitable(const tdl_conv2d_desc *d) {
    const padded_geometry g = padded_of(d);
    const double padded = (double)g.rows * (double)g.cols;
    const double plain = (double)d->in_h * (double)d->in_w;
    return padded <= XSMM_MAX_PAD_GROWTH * plain + 4096.0 &&
           (double)d->in_c * d->stride_w <= INT32_MAX && (double)d->out_h * dy_padded_cols(d) <= INT32_MAX;
}

static pthread_once_t xsmm_once = PTHREAD_ONCE_INIT;
static bool xsmm_jit_works;

/* libxsmm_init once, and one small kernel to learn whether JIT works here. */
static void xsmm_start(void) {
    libxsmm_init();
    const libxsmm_blasint n = 8;
    const float one = 1.0f, zero = 0.0f;
    const int flags = LIBXSMM_GEMM_FLAG_NONE, prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    xsmm_jit_works = libxsmm_smmdispatch_reducebatch_addr(n, n, n, &n, &n, &n, &one, &zero, &flags, &prefetch) != NULL;
}

bool tdl_xsmm_available(void) {
    pthread_once(&xsmm_once, xsmm_start);
    return xsmm_jit_works;
}

/* Whether this call may run here: built in, chosen, JIT working, sane shapes. */
static bool xsmm_enabled(const tdl_conv2d_desc *d) {
    return tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available() && shapes_suitable(d);
}

/* A column-major C(m x n) (+)= sum_i A_i(m x k) * op(B_i) kernel, op(B) = B
 * (k x n, ld ldb) or, with transpose_b, B^T (B: n x k, ld ldb); NULL if none. */
static xsmm_kernel dispatch_op(int m, int n, int k, int lda, int ldb, int ldc, bool accumulate, bool transpose_b) {
    const libxsmm_blasint mm = m, nn = n, kk = k, la = lda, lb = ldb, lc = ldc;
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int flags = LIBXSMM_GEMM_FLAGS('N', transpose_b ? 'T' : 'N'), prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    return libxsmm_smmdispatch_reducebatch_addr(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
}

static xsmm_kernel dispatch(int m, int n, int k, int lda, int ldb, int ldc, bool accumulate) {
    return dispatch_op(m, n, k, lda, ldb, ldc, accumulate, false);
}

size_t conv_xsmm_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (!shapes_suitable(d)) return 0;
    return kernel_floats(d) + (size_t)slots_for(d, batch) * slot_layout_of(d).total;
}

/* Forward reads the kernel as it is and needs a slot only for a padded copy
 * of the input rows (none without padding), so its slots are that small. */
static size_t forward_slot_floats(const tdl_conv2d_desc *d) {
    const padded_geometry g = padded_of(d);
    return g.needed ? (size_t)g.rows * (size_t)g.cols * (size_t)d->in_c : 0;
}

size_t conv_xsmm_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    if (d->out_c < XSMM_MIN_VECTOR_ROWS || !shapes_suitable(d)) return 0;
    return (size_t)slots_for(d, batch) * forward_slot_floats(d);
}

size_t conv_xsmm_forward_scratch_alone(const tdl_conv2d_desc *d) {
    return conv_xsmm_forward_scratch_size(d, 1) > 0 ? forward_slot_floats(d) : 0;
}

/* One call's shared state: sizes, kernels, tensors and scratch. */
typedef struct xsmm_job {
    const tdl_conv2d_desc *d;
    padded_geometry g;
    slot_layout slot;
    int batch;
    size_t work_rows;             /* rows split over the team: B*OH or B*H */
    xsmm_kernel kernel, kernel_first; /* accumulate; and overwrite (forward without bias) */
    float *y, *dx, *transposed_kernel, *slots;
    const float *x, *w, *bias, *dz;
    const float *scale, *shift;   /* a folded batch_norm, or NULL */
} xsmm_job;

static float *slot_of(const xsmm_job *j, int t) { return j->slots + (size_t)t * j->slot.total; }

/* A contiguous range [oh_begin, oh_end) of output (or input) rows of one image. */
typedef struct row_range {
    size_t image;
    int begin, end;
} row_range;

/* The next piece of [row, end) that lies within one image of `per_image` rows. */
static row_range next_range(size_t row, size_t end, int per_image) {
    row_range r;
    r.image = row / (size_t)per_image;
    r.begin = (int)(row % (size_t)per_image);
    const size_t left = end - row, room = (size_t)(per_image - r.begin);
    r.end = r.begin + (int)(left < room ? left : room);
    return r;
}

/* image: (H,W,C) -> buffer rows for padded rows [first, last): row p of the
 * padded input is input row p - pad_top, zeros outside; each row is Wp*C with
 * pad_left zero pixels in front. */
static void pad_rows(float *buffer, const float *image, const tdl_conv2d_desc *d, padded_geometry g, int first,
                     int last) {
    const size_t c = (size_t)d->in_c, row_floats = (size_t)g.cols * c;
    const size_t left = (size_t)d->pad_left * c, inside = (size_t)d->in_w * c;
    for (int p = first; p < last; ++p) {
        float *out = buffer + (size_t)(p - first) * row_floats;
        const int ih = p - d->pad_top;
        if (ih < 0 || ih >= d->in_h) {
            memset(out, 0, row_floats * sizeof *out);
            continue;
        }
        memset(out, 0, left * sizeof *out);
        memcpy(out + left, image + (size_t)ih * inside, inside * sizeof *out);
        memset(out + left + inside, 0, (row_floats - left - inside) * sizeof *out);
    }
}

/* Where padded row p of image `image` starts, and the floats between rows:
 * the input itself when there is no padding, else this thread's copy of the
 * padded rows [first, last) that it made with pad_rows. */
typedef struct row_source {
    const float *base; /* padded row `first` */
    int first;
    size_t stride;
} row_source;

static row_source rows_for(const xsmm_job *j, float *buffer, size_t image, int first, int last) {
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c;
    const float *x_image = j->x + image * (size_t)d->in_h * (size_t)d->in_w * c;
    row_source s;
    if (!j->g.needed) {
        s.base = x_image + (size_t)first * (size_t)d->in_w * c;
        s.first = first;
        s.stride = (size_t)d->in_w * c;
        return s;
    }
    pad_rows(buffer, x_image, d, j->g, first, last);
    s.base = buffer;
    s.first = first;
    s.stride = (size_t)j->g.cols * c;
    return s;
}

static const float *row_at(row_source s, int p) { return s.base + (size_t)(p - s.first) * s.stride; }

/* The tap after (kh, kw) in (kh, kw) order, without a division per tap. */
static inline void next_tap(int *kh, int *kw, int kernel_w) {
    if (++*kw == kernel_w) {
        *kw = 0;
        ++*kh;
    }
}

/* y: (rows, f) += bias per row. */
TDL_VECTOR_CLONES static void add_bias_rows(float *restrict y, const float *restrict bias, size_t rows, size_t f) {
    for (size_t r = 0; r < rows; ++r)
        for (size_t i = 0; i < f; ++i) y[r * f + i] += bias[i];
}

/* The same followed by conv.c's relu, in one pass over the row. */
TDL_VECTOR_CLONES static void add_bias_relu_rows(float *restrict y, const float *restrict bias, size_t rows,
                                                 size_t f) {
    for (size_t r = 0; r < rows; ++r)
        for (size_t i = 0; i < f; ++i) {
            const float v = y[r * f + i] + bias[i];
            y[r * f + i] = v > 0.0f ? v : 0.0f;
        }
}

/* One forward batch-reduce call's taps [first, first + count): their
 * kernel slices, and where each reads its input, in floats from the start
 * of the padded row that tap (0, 0) reads. The offsets are the same for
 * every output row, so a row's address list is its start plus these.
 * Listed tap by tap for every row (with a division per tap), the lists took
 * 9% of LeNet-5's forward at batch 128 on one thread, whose 6 -> 16 layer
 * makes a 25-tap list for each 16 x 10 x 6 product; listed once per call,
 * that layer went from 0.40 to 0.36 ms. */
typedef struct forward_taps {
    const float *a[XSMM_MAX_REDUCE];
    size_t offset[XSMM_MAX_REDUCE];
    unsigned long long count;
} forward_taps;

static void forward_taps_make(forward_taps *l, const xsmm_job *j, size_t first, size_t row_stride) {
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c, total = taps(d);
    int kh = (int)(first / (size_t)d->kernel_w), kw = (int)(first % (size_t)d->kernel_w);
    l->count = 0;
    for (size_t tap = first; tap < total && l->count < XSMM_MAX_REDUCE; ++tap, ++l->count) {
        l->a[l->count] = j->w + tap * c * f;
        l->offset[l->count] = (size_t)(kh * d->dilation_h) * row_stride + (size_t)(kw * d->dilation_w) * c;
        next_tap(&kh, &kw, d->kernel_w);
    }
}

/* Forward: output rows [begin, end) of the batch. A kernel of at most
 * XSMM_MAX_REDUCE taps (every one up to 8x8) has its taps listed once per
 * call; larger ones list each batch of taps again for every row. */
static void forward_share(void *context, int t, int threads) {
    const xsmm_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c, ow_n = (size_t)d->out_w;
    const int extent_h = d->dilation_h * (d->kernel_h - 1) + 1;
    const size_t total = taps(d), row_stride = (size_t)(j->g.needed ? j->g.cols : d->in_w) * c;
    const bool one_list = total <= XSMM_MAX_REDUCE;
    forward_taps list;
    list.count = 0;
    if (one_list) forward_taps_make(&list, j, 0, row_stride);
    const float *b[XSMM_MAX_REDUCE];
    float *buffer = slot_of(j, t);
    size_t row, end;
    tdl_team_share(j->work_rows, t, threads, &row, &end);
    while (row < end) {
        const row_range r = next_range(row, end, d->out_h);
        const row_source src =
            rows_for(j, buffer, r.image, r.begin * d->stride_h, (r.end - 1) * d->stride_h + extent_h);
        for (int oh = r.begin; oh < r.end; ++oh) {
            float *y_row = j->y + ((r.image * (size_t)d->out_h + (size_t)oh) * ow_n) * f;
            const float *top = row_at(src, oh * d->stride_h);
            /* Taps in batches of XSMM_MAX_REDUCE; the first batch overwrites y. */
            for (size_t tap = 0; tap < total; tap += list.count) {
                if (!one_list) forward_taps_make(&list, j, tap, row_stride);
                for (unsigned long long i = 0; i < list.count; ++i) b[i] = top + list.offset[i];
                (tap == 0 ? j->kernel_first : j->kernel)(list.a, b, y_row, &list.count);
            }
            tdl_vector_state_clean();
            /* Bias and activation while the row is in L1, relu in the same pass. */
            if (j->bias != NULL && d->activation == TDL_ACTIVATION_RELU) {
                add_bias_relu_rows(y_row, j->bias, ow_n, f);
            } else {
                if (j->bias != NULL) add_bias_rows(y_row, j->bias, ow_n, f);
                conv_activate_in_place(y_row, ow_n * f, d->activation, d->alpha);
            }
            if (j->scale != NULL) conv_affine_rows(y_row, j->scale, j->shift, ow_n, f);
        }
        row += (size_t)(r.end - r.begin);
    }
}

/* Threads for work_rows rows of flops in total. */
static int threads_for(const tdl_conv2d_desc *d, int batch, size_t rows, double flops, double min_thread_flops) {
    int threads = tdl_team_threads_for(flops, min_thread_flops);
    const int slots = slots_for(d, batch);
    if (threads > slots) threads = slots;
    if ((size_t)threads > rows) threads = (int)rows;
    return threads < 1 ? 1 : threads;
}

static double conv_flops(const tdl_conv2d_desc *d, int batch) {
    return 2.0 * (double)conv_output_pixels(d, batch) * (double)kernel_floats(d);
}

static xsmm_job job_new(const tdl_conv2d_desc *d, int batch, float *scratch) {
    xsmm_job j;
    memset(&j, 0, sizeof j);
    j.d = d;
    j.g = padded_of(d);
    j.slot = slot_layout_of(d);
    j.batch = batch;
    j.transposed_kernel = scratch;
    j.slots = scratch + kernel_floats(d);
    return j;
}

bool conv_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                       const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (d->out_c < XSMM_MIN_VECTOR_ROWS || !xsmm_enabled(d)) return false;
    xsmm_job j = job_new(d, batch, scratch);
    j.slots = scratch; /* conv_xsmm_forward_scratch_size: padded input copies only */
    j.slot.total = forward_slot_floats(d);
    const int row_stride = d->in_c * d->stride_w;
    j.kernel = dispatch(d->out_c, d->out_w, d->in_c, d->out_c, row_stride, d->out_c, true);
    j.kernel_first = dispatch(d->out_c, d->out_w, d->in_c, d->out_c, row_stride, d->out_c, false);
    if (j.kernel == NULL || j.kernel_first == NULL) return false;
    j.y = y;
    j.x = x;
    j.w = kernel;
    j.bias = bias;
    j.scale = scale;
    j.shift = shift;
    j.work_rows = (size_t)batch * (size_t)d->out_h;
    tdl_team_run(threads_for(d, batch, j.work_rows, conv_flops(d, batch), XSMM_MIN_THREAD_FLOPS_FORWARD),
                 forward_share, &j);
    return true;
}

/* Backward-data: input rows [begin, end) of the batch. For input row ih and
 * tap (kh, kw) the output row is oh = ih + pad_top - kh*dilation_h (skipped when
 * outside [0, OH)); its dy row, padded by off_left = (KW-1)*dilation_w - pad_left
 * zero pixels in front, gives dx(ih, iw) the pixel iw + (KW-1-kw)*dilation_w. */
static void backprop_input_share(void *context, int t, int threads) {
    const xsmm_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    const int cols = dy_padded_cols(d);
    const int off_left = (d->kernel_w - 1) * d->dilation_w - d->pad_left;
    const size_t padded_row = (size_t)cols * f;
    const float *a[XSMM_MAX_REDUCE], *b[XSMM_MAX_REDUCE];
    float *buffer = slot_of(j, t);
    size_t row, end;
    tdl_team_share(j->work_rows, t, threads, &row, &end);
    while (row < end) {
        const row_range r = next_range(row, end, d->in_h);
        /* dy rows this range reads, clipped to [0, OH). */
        int oh_first = r.begin + d->pad_top - (d->kernel_h - 1) * d->dilation_h;
        int oh_last = r.end - 1 + d->pad_top + 1;
        if (oh_first < 0) oh_first = 0;
        if (oh_last > d->out_h) oh_last = d->out_h;
        const float *dy_image = j->dz + r.image * (size_t)d->out_h * (size_t)d->out_w * f;
        for (int oh = oh_first; oh < oh_last; ++oh) {
            float *out = buffer + (size_t)(oh - oh_first) * padded_row;
            const size_t before = (size_t)off_left * f, inside = (size_t)d->out_w * f;
            memset(out, 0, before * sizeof *out);
            memcpy(out + before, dy_image + (size_t)oh * inside, inside * sizeof *out);
            memset(out + before + inside, 0, (padded_row - before - inside) * sizeof *out);
        }
        for (int ih = r.begin; ih < r.end; ++ih) {
            float *dx_row = j->dx + (r.image * (size_t)d->in_h + (size_t)ih) * (size_t)d->in_w * c;
            size_t tap = 0;
            const size_t total = taps(d);
            int kh = 0, kw = 0;
            while (tap < total) {
                unsigned long long count = 0;
                for (; tap < total && count < XSMM_MAX_REDUCE; ++tap, next_tap(&kh, &kw, d->kernel_w)) {
                    const int oh = ih + d->pad_top - kh * d->dilation_h;
                    if (oh < oh_first || oh >= oh_last) continue;
                    a[count] = j->transposed_kernel + tap * c * f;
                    b[count] = buffer + (size_t)(oh - oh_first) * padded_row +
                               (size_t)((d->kernel_w - 1 - kw) * d->dilation_w) * f;
                    ++count;
                }
                if (count > 0) j->kernel(a, b, dx_row, &count);
                tdl_vector_state_clean();
            }
        }
        row += (size_t)(r.end - r.begin);
    }
}

/* kernel: (KH,KW,C,F) -> transposed: (KH,KW,F,C). */
static void transpose_kernel(float *restrict transposed, const float *restrict kernel, const tdl_conv2d_desc *d) {
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    for (size_t tap = 0; tap < taps(d); ++tap)
        transpose_block_matrix(transposed + tap * f * c, c, kernel + tap * c * f, f, c, f, false);
}

bool conv_xsmm_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                              int batch, float *scratch) {
    /* The gather form needs stride 1; strided layers take the gemm path. */
    if (d->stride_h != 1 || d->stride_w != 1 || d->in_c < XSMM_MIN_VECTOR_ROWS || !xsmm_enabled(d)) return false;
    xsmm_job j = job_new(d, batch, scratch);
    j.kernel = dispatch(d->in_c, d->in_w, d->out_c, d->in_c, d->out_c, d->in_c, true);
    if (j.kernel == NULL) return false;
    transpose_kernel(j.transposed_kernel, kernel, d);
    j.dx = dx;
    j.dz = dz;
    j.work_rows = (size_t)batch * (size_t)d->in_h;
    tdl_team_run(threads_for(d, batch, j.work_rows, conv_flops(d, batch), XSMM_MIN_THREAD_FLOPS),
                 backprop_input_share, &j);
    return true;
}

/* Backward-weights: output rows [begin, end) of the batch into this thread's
 * partial, laid out as the kernel (KH,KW,C,F), or (KH,KW,F,C) for a layer
 * of few filters. */
static void backprop_filter_share(void *context, int t, int threads) {
    const xsmm_job *j = context;
    const tdl_conv2d_desc *d = j->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c, ow_n = (size_t)d->out_w;
    const int extent_h = d->dilation_h * (d->kernel_h - 1) + 1;
    const float *a[XSMM_MAX_REDUCE], *b[XSMM_MAX_REDUCE];
    const bool by_filters = filter_gradient_by_filters(d);
    float *buffer = slot_of(j, t);
    float *transposed = buffer + j->slot.image;
    float *partial = transposed + j->slot.transposed;
    memset(partial, 0, kernel_floats(d) * sizeof *partial);
    size_t row, end;
    tdl_team_share(j->work_rows, t, threads, &row, &end);
    while (row < end) {
        const row_range r = next_range(row, end, d->out_h);
        const row_source src =
            rows_for(j, buffer, r.image, r.begin * d->stride_h, (r.end - 1) * d->stride_h + extent_h);
        /* dy row i as (OW, F): the (F x OW) column-major operand; for few
         * filters transposed to (F, OW), the (OW x F) one. */
        const float *dy_rows = j->dz + (r.image * (size_t)d->out_h + (size_t)r.begin) * ow_n * f;
        const size_t rows = (size_t)(r.end - r.begin);
        if (!by_filters)
            for (size_t i = 0; i < rows; ++i)
                transpose_block_matrix(transposed + i * f * ow_n, ow_n, dy_rows + i * ow_n * f, f, ow_n, f, false);
        for (size_t tap = 0; tap < taps(d); ++tap) {
            const int kh = (int)(tap / (size_t)d->kernel_w), kw = (int)(tap % (size_t)d->kernel_w);
            for (size_t i = 0; i < rows;) {
                unsigned long long count = 0;
                for (; i < rows && count < XSMM_MAX_REDUCE; ++i, ++count) {
                    const int oh = r.begin + (int)i;
                    const float *x_row =
                        row_at(src, oh * d->stride_h + kh * d->dilation_h) + (size_t)kw * (size_t)d->dilation_w * c;
                    a[count] = by_filters ? dy_rows + i * ow_n * f : x_row;
                    b[count] = by_filters ? x_row : transposed + i * f * ow_n;
                }
                j->kernel(a, b, partial + tap * c * f, &count);
                tdl_vector_state_clean();
            }
        }
        row += rows;
    }
}

/* The reduction after backprop_filter_share: dkernel (KH,KW,C,F) += the
 * partials one after another in thread order, added as they are or
 * transposed back from (KH,KW,F,C); a range of (tap, c) rows per thread. */
typedef struct reduce_job {
    const tdl_conv2d_desc *d;
    const xsmm_job *filter;
    int partials;
    float *dkernel;
} reduce_job;

static void reduce_share(void *context, int t, int threads) {
    const reduce_job *r = context;
    const tdl_conv2d_desc *d = r->d;
    const size_t c = (size_t)d->in_c, f = (size_t)d->out_c;
    size_t begin, end;
    tdl_team_share(taps(d) * c, t, threads, &begin, &end);
    while (begin < end) {
        /* Channels [first, last) of one tap. */
        const size_t tap = begin / c, first = begin % c;
        const size_t last = end - tap * c < c ? end - tap * c : c;
        for (int p = 0; p < r->partials; ++p) {
            const float *partial = slot_of(r->filter, p) + r->filter->slot.image + r->filter->slot.transposed;
            if (filter_gradient_by_filters(d))
                tdl_accumulate(r->dkernel + begin * f, partial + begin * f, (last - first) * f);
            else
                transpose_block_matrix(r->dkernel + begin * f, f, partial + tap * f * c + first, c, f, last - first,
                                       true);
        }
        begin = tap * c + last;
    }
}

bool conv_xsmm_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                               int batch, float *scratch) {
    if (d->in_c < XSMM_MIN_VECTOR_ROWS || !xsmm_enabled(d)) return false;
    xsmm_job j = job_new(d, batch, scratch);
    if (filter_gradient_by_filters(d))
        j.kernel = dispatch_op(d->out_c, d->in_c, d->out_w, d->out_c, d->in_c * d->stride_w, d->out_c, true, true);
    else
        j.kernel = dispatch(d->in_c, d->out_c, d->out_w, d->in_c * d->stride_w, d->out_w, d->in_c, true);
    if (j.kernel == NULL) return false;
    j.x = x;
    j.dz = dz;
    j.work_rows = (size_t)batch * (size_t)d->out_h;
    const int threads = threads_for(d, batch, j.work_rows, conv_flops(d, batch), XSMM_MIN_THREAD_FLOPS);
    tdl_team_run(threads, backprop_filter_share, &j);
    reduce_job r = {d, &j, threads, dkernel};
    int reducers = tdl_team_threads_for((double)threads * (double)kernel_floats(d), 65536.0);
    if ((size_t)reducers > taps(d) * (size_t)d->in_c) reducers = (int)(taps(d) * (size_t)d->in_c);
    tdl_team_run(reducers, reduce_share, &r);
    return true;
}

#else /* !TDL_HAVE_LIBXSMM: the gemm path does everything. */

bool tdl_xsmm_available(void) { return false; }

size_t conv_xsmm_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d;
    (void)batch;
    return 0;
}

size_t conv_xsmm_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    (void)d;
    (void)batch;
    return 0;
}

size_t conv_xsmm_forward_scratch_alone(const tdl_conv2d_desc *d) {
    (void)d;
    return 0;
}

bool conv_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const float *scale,
                       const float *shift, const tdl_conv2d_desc *d, int batch, float *scratch) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)scale, (void)shift, (void)d, (void)batch, (void)scratch;

    return false;
}

bool conv_xsmm_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                               int batch, float *scratch) {
    (void)dkernel, (void)x, (void)dz, (void)d, (void)batch, (void)scratch;
    return false;
}

bool conv_xsmm_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                              int batch, float *scratch) {
    (void)dx, (void)kernel, (void)dz, (void)d, (void)batch, (void)scratch;
    return false;
}

#endif
