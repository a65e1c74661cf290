/* The backward pass of a convolution in chunks of images, for
 * tdl_conv2d_backward (conv.c) and the fused conv + max-pool step
 * (conv_pool_backward.c), which differ only in how a chunk's pre-activation
 * gradient and its bias sums are made.
 *
 * One thread goes through the batch in chunks of about 1 MB of that
 * gradient, each chunk's weight and input gradients computed while it is in
 * cache. Several threads take the images in pieces of a chunk or less,
 * handed out as they free up (conv_piece_images, tdl_team_pieces): each
 * thread starts on its own share, and one that runs out takes the rest of
 * the other's, so a core slower for a while does not hold the call up.
 * Each piece runs alone on its thread (the kernels see they are inside the
 * team and stay on one thread), in the thread's own region of the
 * workspace, into the piece's own partial of the kernel's gradient; the
 * partials are added into dkernel in piece order at the end. So no thread
 * waits for another between the three passes, and the sums do not depend
 * on which thread took which piece. Where the pieces' partials do not fit
 * in a workspace sized for the batch, or would cost more to add than a pass
 * over the pre-activation gradient, each thread takes an equal share
 * instead, with one partial a thread added in thread order. The workspace
 * has room for two threads' regions whose chunks are their whole shares
 * (conv_backward_regions_size); more threads take smaller chunks, and where
 * even one image each does not fit, the batch is one chunk and each kernel
 * is split over the team. Grouped layers always run as one chunk, split by
 * their own kernels, and so may layers whose input gradient is a Winograd
 * one.
 *
 * dbias gets each image's sum added in image order, whichever thread made
 * it (with several threads the sums wait in the workspace until all are
 * done): the same bits for every thread count. An image's input gradient is
 * its thread's alone, so on the libxsmm paths dx is the same for every
 * thread count (the BLAS path's GEMMs may round differently for another
 * number of images); dkernel's sum depends on the count, through the pieces
 * or shares it is grouped in, as in the kernels themselves. */
#include <string.h>

#include "conv_internal.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* The pre-activation gradient of one chunk of images on one thread. */
#define CHUNK_BYTES (1024.0 * 1024.0)

/* Below this many floats per thread the partials are added on one thread. */
#define PARTIAL_SUM_MIN_THREAD_FLOATS 65536.0

/* Below this much of the two gradients' work per thread (about 50 us) a
 * call stays on fewer threads: half the kernels' own bound, since a thread
 * here runs both gradients over its images (LeNet-5's second layer at
 * batch 32, 31 MFLOP, takes two). Writing and reading the pre-activation
 * gradient counts too, as TDL_TEAM_MIN_THREAD_FLOATS of it per thread: for
 * a first layer with few filters it is most of the time (LeNet-5's at batch
 * 32, 7.5 MFLOP and 150k floats, took 0.18 ms on one thread, 0.095 on two). */
#define MIN_THREAD_FLOPS 8.0e6

/* Filters of one pass of the column sums: four AVX-512 registers. */
enum { SUM_COLUMNS = 64, FLAT_LANES = 16, FLAT_MAX_WIDTH = 16 * 15 };

/* The lanes of a flat sum of rows f wide: lcm(f, 16), so that each lane
 * always holds the same filter. */
static size_t flat_width(size_t f) {
    size_t width = f;
    while (width % FLAT_LANES != 0) width += f;
    return width;
}

/* Fewer filters than a vector: the rows summed as one flat run, a flat width
 * at a time, and the lanes folded into the f sums at the end (columns f wide
 * left most of each vector empty). */
TDL_VECTOR_CLONES static void flat_sums(float *restrict out, const float *restrict values,
                                        const float *restrict outputs, size_t count, size_t f, bool relu) {
    float lanes[FLAT_MAX_WIDTH];
    const size_t width = flat_width(f);
    for (size_t k = 0; k < width; ++k) lanes[k] = 0.0f;
    size_t i = 0;
    for (; i + width <= count; i += width)
        for (size_t k = 0; k < width; ++k) lanes[k] += !relu || outputs[i + k] > 0.0f ? values[i + k] : 0.0f;
    for (size_t k = 0; i + k < count; ++k) lanes[k] += !relu || outputs[i + k] > 0.0f ? values[i + k] : 0.0f;
    for (size_t k = 0; k < width; ++k) out[k % f] += lanes[k];
}

/* acc (n) += the sum over rows of values (rows, stride), each column in row
 * order; with relu, only where outputs > 0. n <= SUM_COLUMNS. */
TDL_VECTOR_CLONES static void column_sums(float *restrict acc, const float *restrict values,
                                          const float *restrict outputs, size_t rows, size_t stride, size_t n,
                                          bool relu) {
    for (size_t r = 0; r < rows; ++r) {
        const float *restrict g = values + r * stride, *restrict v = outputs + r * stride;
        for (size_t ch = 0; ch < n; ++ch) acc[ch] += !relu || v[ch] > 0.0f ? g[ch] : 0.0f;
    }
}

void conv_add_row_sums(float *sums, const float *values, const float *relu_outputs, size_t rows, size_t f) {
    const bool relu = relu_outputs != NULL;
    const float *outputs = relu ? relu_outputs : values;
    if (f < FLAT_LANES) {
        float image[FLAT_LANES] = {0.0f};
        flat_sums(image, values, outputs, rows * f, f, relu);
        for (size_t ch = 0; ch < f; ++ch) sums[ch] += image[ch];
        return;
    }
    float acc[SUM_COLUMNS];
    for (size_t c0 = 0; c0 < f; c0 += SUM_COLUMNS) {
        const size_t n = f - c0 < SUM_COLUMNS ? f - c0 : SUM_COLUMNS;
        for (size_t ch = 0; ch < n; ++ch) acc[ch] = 0.0f;
        column_sums(acc, values + c0, outputs + c0, rows, f, n, relu);
        for (size_t ch = 0; ch < n; ++ch) sums[c0 + ch] += acc[ch];
    }
}

/* One call's tensors and, with several threads, its regions. */
typedef struct chunks_job {
    const conv_chunk_source *source;
    float *dx, *dkernel, *dbias, *workspace;
    const float *x, *kernel;
    const tdl_conv2d_desc *conv;
    int batch, chunk, threads;
    size_t x_image, y_image, kernel_floats;
    /* Per thread: a region of `region` floats that starts with a workspace
     * for a call on `chunk` images. */
    size_t chunk_workspace, region;
    /* partial_count partials of dkernel, partial_stride floats apart: each
     * thread's after its workspace, or each piece's after all the regions. */
    float *partials;
    size_t partial_stride;
    int partial_count;
    bool by_pieces;
    tdl_team_pieces pieces; /* with by_pieces: pieces of `chunk` images */
    /* With several threads, each image's bias sums (batch, F) after the
     * regions; NULL: added into dbias as they are made. */
    float *image_sums;
} chunks_job;

/* Images [b, b + n): their pre-activation gradient (at the start of
 * `workspace` or in place), their bias sums, their kernel's gradient into
 * dkernel (+=) and their input's gradient into dx, with the kernels'
 * scratch after the gradient (as a call on n images places it). */
static void run_chunk(const chunks_job *j, size_t b, size_t n, float *dkernel, float *workspace) {
    const conv_chunk_source *s = j->source;
    const bool wanted = dkernel != NULL || j->dx != NULL || (j->dbias != NULL && s->bias_reads_gradient);
    const float *dz = wanted ? s->gradient(s->context, b, n, workspace) : NULL;
    const size_t f = (size_t)j->conv->out_c;
    if (j->dbias != NULL)
        for (size_t i = 0; i < n; ++i) {
            float *sums = j->dbias;
            if (j->image_sums != NULL) {
                sums = j->image_sums + (b + i) * f;
                memset(sums, 0, f * sizeof *sums);
            }
            s->add_image_bias(s->context, b + i, dz != NULL ? dz + i * j->y_image : NULL, sums);
        }
    const float *x = j->x + b * j->x_image;
    if (dkernel != NULL) tdl_conv2d_backprop_filter(dkernel, x, dz, j->conv, (int)n, workspace);
    if (j->dx != NULL) tdl_conv2d_backprop_input(j->dx + b * j->x_image, j->kernel, dz, j->conv, (int)n, workspace);
}

static float *partial_of(const chunks_job *j, size_t index) { return j->partials + index * j->partial_stride; }

/* Thread t's pieces, each into its own partial; or its share of the
 * images, chunk by chunk, into the thread's partial. Either way in the
 * thread's own region. */
static void thread_share(void *context, int t, int threads) {
    chunks_job *j = context;
    float *workspace = j->workspace + (size_t)t * j->region;
    size_t b, end;
    if (j->by_pieces) {
        while (tdl_team_pieces_next(&j->pieces, t, &b, &end)) {
            float *partial = j->dkernel != NULL ? partial_of(j, b / (size_t)j->chunk) : NULL;
            if (partial != NULL) memset(partial, 0, j->kernel_floats * sizeof *partial);
            run_chunk(j, b, end - b, partial, workspace);
        }
        return;
    }
    tdl_team_share((size_t)j->batch, t, threads, &b, &end);
    float *partial = j->dkernel != NULL ? partial_of(j, (size_t)t) : NULL;
    if (partial != NULL) memset(partial, 0, j->kernel_floats * sizeof *partial);
    for (; b < end; b += (size_t)j->chunk) {
        const size_t n = end - b < (size_t)j->chunk ? end - b : (size_t)j->chunk;
        run_chunk(j, b, n, partial, workspace);
    }
}

/* dkernel [begin, end) += the partials, in piece or thread order. */
static void add_partials(void *context, size_t begin, size_t end) {
    const chunks_job *j = context;
    for (int t = 0; t < j->partial_count; ++t) {
        const float *partial = partial_of(j, (size_t)t);
        for (size_t i = begin; i < end; ++i) j->dkernel[i] += partial[i];
    }
}

/* dbias [begin, end) += the images' sums, in image order. */
static void add_image_sums(void *context, size_t begin, size_t end) {
    const chunks_job *j = context;
    const size_t f = (size_t)j->conv->out_c;
    for (size_t image = 0; image < (size_t)j->batch; ++image) {
        const float *sums = j->image_sums + image * f;
        for (size_t c = begin; c < end; ++c) j->dbias[c] += sums[c];
    }
}

/* Rounds a count of floats up to whole cache lines, so that no two threads'
 * regions share a line. */
static size_t whole_lines(size_t floats) {
    enum { LINE_FLOATS = 16 };
    return (floats + LINE_FLOATS - 1) / LINE_FLOATS * LINE_FLOATS;
}

/* A thread's region: a call's workspace (whole lines) and its partial of dkernel. */
static size_t region_floats(size_t chunk_workspace, size_t partial) {
    return whole_lines(chunk_workspace + partial);
}

/* Chooses the chunk and the regions for j->threads threads, each alone on
 * its share, and places the images' bias sums after them: the largest chunk
 * up to `chunk` whose regions all fit in a workspace sized for the batch.
 * False when even one image does not fit. */
static bool plan_thread_regions(chunks_job *j, int chunk) {
    const size_t image_sums = j->dbias != NULL ? whole_lines((size_t)j->batch * (size_t)j->conv->out_c) : 0;
    const size_t whole = tdl_conv2d_workspace_size(j->conv, j->batch);
    if (image_sums >= whole) return false;
    const size_t available = whole - image_sums;
    const size_t partial = j->dkernel != NULL ? j->kernel_floats : 0;
    for (; chunk >= 1; chunk = chunk > 1 ? chunk / 2 : 0) {
        const size_t chunk_workspace = whole_lines(conv_workspace_for_call(j->conv, chunk));
        const size_t region = region_floats(chunk_workspace, partial);
        if (chunk_workspace == 0 || region > available / (size_t)j->threads) continue;
        j->chunk = chunk;
        j->chunk_workspace = chunk_workspace;
        j->region = region;
        j->partials = j->workspace + chunk_workspace;
        j->partial_stride = region;
        j->partial_count = j->threads;
        j->by_pieces = false;
        if (j->dbias != NULL) j->image_sums = j->workspace + region * (size_t)j->threads;
        return true;
    }
    return false;
}

/* The regions for pieces of `piece` images: each thread's region a call's
 * workspace, then every piece's partial of dkernel, then the images' bias
 * sums. False, with the job as it was, when they do not fit in a workspace
 * sized for the batch, or when adding the partials would read more floats
 * than the pre-activation gradient holds. */
static bool plan_piece_regions(chunks_job *j, int piece) {
    const size_t batch = (size_t)j->batch, pieces = (batch + (size_t)piece - 1) / (size_t)piece;
    const size_t image_sums = j->dbias != NULL ? whole_lines(batch * (size_t)j->conv->out_c) : 0;
    const size_t call = whole_lines(conv_workspace_for_call(j->conv, piece));
    const size_t partial = j->dkernel != NULL ? whole_lines(j->kernel_floats) : 0;
    const double partials = (double)pieces * (double)partial;
    const double needed = (double)j->threads * (double)call + partials + (double)image_sums;
    if (call == 0 || partials > (double)batch * (double)j->y_image ||
        needed > (double)tdl_conv2d_workspace_size(j->conv, j->batch) ||
        !tdl_team_pieces_init(&j->pieces, batch, (size_t)piece, j->threads)) {
        return false;
    }
    j->by_pieces = true;
    j->chunk = piece;
    j->chunk_workspace = call;
    j->region = call;
    j->partials = j->workspace + (size_t)j->threads * call;
    j->partial_stride = partial;
    j->partial_count = (int)pieces;
    if (j->dbias != NULL) j->image_sums = j->partials + pieces * partial;
    return true;
}

/* The chunk of a call on `batch` images: about CHUNK_BYTES of its
 * pre-activation gradient, at least one image, at most the batch. */
static int chunk_for(const tdl_conv2d_desc *conv, int batch) {
    const double y_image = (double)conv->out_h * (double)conv->out_w * (double)conv->out_c;
    const double fit = CHUNK_BYTES / (y_image * sizeof(float));
    return fit < 1.0 ? 1 : fit > (double)batch ? batch : (int)fit;
}

/* Two threads' regions whose chunks are each thread's whole share (up to
 * the chunk), and the images' bias sums: plan_thread_regions then keeps the
 * share in one chunk on a team of two, instead of halving the chunk until
 * two regions fit in a call's workspace, whose kernels' scratch is sized
 * for several threads (LeNet-5's second layer at batch 32: chunks of 2
 * images, each repeating a call's fixed costs; in chunks of 16 its training
 * step on two threads took 290-306 us against 309-333, vgg_small's at batch
 * 32 12.8-13.6 ms against 13.3-13.9, six alternating pairs). 0 when a size
 * cannot be counted: the chunks are then halved as before. */
size_t conv_backward_regions_size(const tdl_conv2d_desc *conv, int batch) {
    if (!tdl_team_can_split() || !conv_args_usable(conv, batch) || batch < 2 || conv_groups(conv) > 1) return 0;
    const int share = batch / 2 + batch % 2, chunk = chunk_for(conv, batch);
    const size_t call = conv_workspace_for_call(conv, chunk < share ? chunk : share);
    const size_t partial = conv_patch_size(conv) * (size_t)conv->out_c;
    /* Counted in double first: each whole_lines adds at most 15. */
    const double bound = 2.0 * ((double)call + (double)partial + 32.0) + (double)batch * conv->out_c + 16.0;
    if (call == 0 || bound >= (double)SIZE_MAX / 2.0) return 0;
    /* plan_thread_regions' arithmetic: two regions, then the images' sums. */
    return 2 * region_floats(whole_lines(call), partial) + whole_lines((size_t)batch * (size_t)conv->out_c);
}

void conv_backward_in_chunks(float *dx, float *dkernel, float *dbias, const float *x, const float *kernel,
                             const tdl_conv2d_desc *conv, int batch, float *workspace,
                             const conv_chunk_source *source) {
    const size_t y_image = (size_t)conv->out_h * (size_t)conv->out_w * (size_t)conv->out_c;
    chunks_job job = {.source = source,
                      .dx = dx,
                      .dkernel = dkernel,
                      .dbias = dbias,
                      .workspace = workspace,
                      .x = x,
                      .kernel = kernel,
                      .conv = conv,
                      .batch = batch,
                      .chunk = batch,
                      .threads = 1,
                      .x_image = (size_t)conv->in_h * (size_t)conv->in_w * (size_t)conv->in_c,
                      .y_image = y_image,
                      .kernel_floats = conv_patch_size(conv) * (size_t)conv->out_c / (size_t)conv_groups(conv)};
    const int chunk = chunk_for(conv, batch);
    const double products = (dkernel != NULL ? 1.0 : 0.0) + (dx != NULL ? 1.0 : 0.0);
    const double flops = 2.0 * products * (double)conv_output_pixels(conv, batch) * (double)job.kernel_floats;
    /* The pre-activation gradient is written and read again whatever the
     * FLOPs: a first layer's few filters make it most of the work. */
    const double gradient_floats = (double)y_image * (double)batch;
    int threads = tdl_team_threads_for(flops / MIN_THREAD_FLOPS + gradient_floats / TDL_TEAM_MIN_THREAD_FLOATS, 1.0);
    if (threads > batch) threads = batch;
    job.threads = threads;
    /* Grouped layers keep the whole batch: their kernels split it their own
     * way, which gives the same bits for every thread count. So do Winograd
     * input gradients where the source says so (see conv_chunk_source). */
    const bool whole_batch = conv_groups(conv) > 1 || (dx != NULL && source->winograd_whole_batch &&
                                                       conv_winograd_takes_input_gradient(conv));
    const int share = (batch + threads - 1) / threads; /* the largest thread's images */
    /* Pieces rather than equal shares, with the forward's pieces too:
     * LeNet-5's training step at batch 128 on two threads took 3-7% less
     * (three processes that each switched between the two from step to
     * step); at batch 32, and for mnist_convnet and vgg_small, it moved by
     * less than 1.5% either way. */
    if (threads > 1 && !whole_batch && (dkernel != NULL || dx != NULL) &&
        (plan_piece_regions(&job, conv_piece_images(batch, threads, chunk)) ||
         plan_thread_regions(&job, chunk < share ? chunk : share))) {
        tdl_team_run(threads, thread_share, &job);
        if (dkernel != NULL)
            tdl_team_split(job.kernel_floats, (double)job.partial_count, PARTIAL_SUM_MIN_THREAD_FLOATS, add_partials,
                           &job);
        if (dbias != NULL)
            tdl_team_split((size_t)conv->out_c, (double)batch, PARTIAL_SUM_MIN_THREAD_FLOATS, add_image_sums, &job);
        return;
    }
    /* One thread, chunk by chunk; or, when the regions do not fit, the whole
     * batch as one chunk with each kernel split over the team. A workspace
     * sized for `batch` serves every smaller batch (docs/runtime.md). */
    const int step = threads > 1 || whole_batch ? batch : chunk;
    for (int b = 0; b < batch; b += step)
        run_chunk(&job, (size_t)b, (size_t)(batch - b < step ? batch - b : step), dkernel, workspace);
}
