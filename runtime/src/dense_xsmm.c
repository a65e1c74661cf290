/* dense layers on libxsmm GEMMs.
 *
 * OpenBLAS is held to its AVX2 (Haswell) kernels by the environment, while
 * libxsmm generates code for the CPU it runs on; on an AVX-512 core the
 * forward product of a 784 -> 512 layer at batch 32 ran at 150 GFLOP/s here
 * against OpenBLAS's 42. libxsmm is column-major, and a row-major (rows x
 * cols) tensor is a column-major (cols x rows) matrix, so both products
 * below read the tensors in place:
 *
 * - forward: y(B,U) is column-major (U x B) = kernel(U x F, ld U) * x(F x B, ld F),
 *   in tiles of TILE_UNITS x TILE_BATCH with bias and activation applied to a
 *   tile while it is in cache;
 * - the kernel's gradient: dkernel(F,U) is column-major (U x F) +=
 *   (or, for a training step's one backward of the layer, =)
 *   dpre(U x B, ld U) * x^T, x read transposed in place (flags 'N','T'), in
 *   tiles of TILE_UNITS x TILE_FEATURES over the whole batch.
 *
 * - the input's gradient: dx (B,F) += dpre * kernel^T needs the kernel
 *   transposed as the left operand, which libxsmm 1.17 does not generate.
 *   Its transpose does not: dx^T read column-major is (B x F) =
 *   dpre^T (B x U) * kernel (U x F, ld U, in place), so only the two
 *   activation-sized matrices are transposed (through the workspace), never
 *   the kernel. Tiles of TILE_BATCH_ROWS x TILE_COLUMNS; each thread takes
 *   whole column blocks (features) and adds them into dx.
 *
 * In a model's training step the kernels that owned_rows.h splits are split
 * by their rows (input features) in every pass: each gradient's tiles go to
 * the thread that owns their features (both gradients in one call of the
 * team, dense_xsmm_backprop_owned), and the forward sums each thread's
 * own features apart and adds the two partial results (the one sum here
 * that is split, so the training forward on two threads rounds differently
 * from one thread's). A model's forward splits its large kernels' sums
 * that way too. Otherwise every tile is one kernel call over the whole
 * sum, written by one thread, so results do not depend on the thread
 * count. Everything returns false,
 * touching nothing, when libxsmm is not built in, the BLAS path is chosen,
 * the layer is too narrow to vectorise, or no kernel can be generated. */
#include <math.h>
#include <stdbool.h>
#include <stddef.h>

#include "dense_internal.h"
#include "owned_rows.h"
#include "param_split.h"
#include "team.h"
#include "transpose_block.h"
#include "vector.h"
#include "vector_state.h"
#include "tdl/runtime.h"
#include "warm.h"

#ifdef TDL_HAVE_LIBXSMM

#include <libxsmm.h>

/* TILE_UNITS: four AVX-512 registers of units per column of a tile.
 * TILE_BATCH / TILE_FEATURES: columns of a forward / gradient tile; a forward
 * tile's inputs (F x 16 floats) stay in L2 for every unit block.
 * MIN_UNITS: narrower layers leave most of a vector empty, and OpenBLAS
 * measured as fast there. Logits of 8 to 15 units are taken here: with
 * OpenBLAS's AVX2 kernels they ran about as fast either way (mnist_convnet's
 * 1600 -> 10 forward at batch 32: 17.4 us on OpenBLAS, 9.3 here; its
 * gradients 1-3% slower here), but on a CPU that OpenBLAS 0.3.21 does not
 * know (a Xeon of family 6, model 207) it falls back to its SSE3 kernels:
 * that layer's training forward took 0.137 ms there and 0.024 here, its
 * backward 0.22 and 0.067; the MLP's step at batch 32 on two threads went
 * from 0.94-1.05 to 0.69-0.80 ms.
 * MIN_THREAD_FLOPS: below this much work per thread (about 0.1 ms) a call
 * stays on fewer threads, as the other kernels do. The forward's bound is
 * 1/64 of it: a forward's team is awake from the layer before, a first
 * layer's fresh input is slow to read, which its threads then do side by
 * side, and a thread that takes whole batch tiles reads the images the
 * layer before wrote on its own core, where one thread alone would read
 * half of them from the other. 784 -> 512 at batch 32 (25.7 MFLOP)
 * went from 0.44 to 0.26 ms on two threads (bench_models' MLP forward,
 * median of 7 processes); LeNet-5's 400 -> 120 at batch 32 (3.1 MFLOP), a
 * batch tile per thread, from 0.020 to 0.012 ms (its whole forward 0.140 ->
 * 0.128); mnist_convnet's 1600 -> 10 logits at batch 32 (1.0 MFLOP), 12 us
 * on one thread, took 16 on a team of two that left it on one thread; split
 * from 0.5 MFLOP (1.5 before), its whole forward went 0.346 -> 0.337 and
 * 0.362 -> 0.340 ms (13 of 16 alternating pairs faster, cores 0.2-0.5 us
 * apart). Split from 0.25 MFLOP a thread (0.5 before), LeNet-5's 120 -> 84
 * at batch 32 (0.65 MFLOP) took 4.0-4.4 us instead of 7.4-8.1 in its
 * forward on two threads, and in its training step 5.0-5.1 instead of
 * 7.6-7.7 forward, 10.6-12.8 instead of 14.3-14.4 backward
 * (`profile_lenet5`, alternating processes).
 * A training step's forward of a kernel that owned_rows.h splits
 * among more threads than dense_xsmm_forward_owned takes keeps the full
 * bound: the optimizer has just rewritten the weights on the cores that own
 * them, and reading another core's half cost the MLP's step at batch 32 on
 * two threads 1.19 ms against 0.82 before the kernels were split by rows.
 * (A kernel too small to split takes the forward's bound: dense_xsmm_forward.)
 * The kernel's gradient keeps the full bound: a quarter of it changed
 * nothing measurable. */
enum { TILE_UNITS = 64, TILE_BATCH = 16, TILE_FEATURES = 64, MIN_UNITS = 8 };
/* The input's gradient: TILE_BATCH_ROWS batch rows (vector lanes) by
 * TILE_COLUMNS features per call; below MIN_BATCH rows a vector is mostly
 * empty and BLAS's layout measured as fast. On this machine, one thread:
 * 512 -> 512 at batch 32, 0.21 ms on OpenBLAS against 0.10 here; at batch
 * 128, 0.68 against 0.41; LeNet-5's 400 -> 120 at batch 128, 0.12 and 0.11. */
enum { TILE_BATCH_ROWS = 64, TILE_COLUMNS = 16, MIN_BATCH = 16 };
/* Layers of fewer units transpose the kernel for the input's gradient
 * (narrow_input_gradient_prepare). */
enum { NARROW_UNITS = 16 };
_Static_assert((int)TILE_FEATURES == (int)OWNED_ROW_BLOCK && (int)OWNED_ROW_BLOCK % (int)TILE_COLUMNS == 0,
               "a thread's own rows are whole feature tiles of both gradients");
#define MIN_THREAD_FLOPS 16.0e6
#define MIN_THREAD_FLOPS_FORWARD 0.25e6
/* A training step's kernel too small to own by rows, with fewer floats of
 * activations than this (x, dx and dpre), takes both its gradients on one
 * thread (gradient_min_thread_flops). LeNet-5's 120 -> 84 at batch 32
 * (10k floats) on two threads: its backward 18.0-18.8 -> 12.8-13.3 us, the
 * training step's median 579 -> 571 us (`profile_lenet5 --data`, four
 * alternating pairs). The same kernel at batch 128, the MLP's 512 -> 10
 * (33k at batch 32) and mnist_convnet's 1600 -> 10 (102k) keep splitting:
 * their activations, which the layers around them write and read on both
 * cores, outweigh a handshake. */
#define SMALL_ACTIVATIONS 16384.0
/* The same bound serves an inference forward of one batch tile (batch 1
 * above all, where dense_zero_inputs.c declines), which reads the whole
 * kernel for little arithmetic: it is bound by how fast the kernel streams
 * in, so each of two threads reading half of it (its unit blocks) pays off
 * early. The MLP's forward at batch 1 on two threads of an AMD EPYC (1 MB
 * of L2 a core; the 784 -> 512 and 512 -> 512 kernels, 1.6 and 1.0 MB, at
 * 0.8 and 0.5 MFLOP, split from 0.25 MFLOP a thread when the other forwards
 * split from 0.5): 39 -> 26 us (`profile_mlp --batch 1 --threads 2 --mode
 * forward`), 40-46 -> 23-33 us in bench_models (alternating processes). */

/* Column-major C(m x n) (+)= A(m x k) * op(B) kernels for the full tiles and
 * the ragged last row and column of tiles; a NULL member is one that is not
 * needed (no ragged edge). */
typedef struct tile_kernels {
    libxsmm_smmfunction kernel[2][2]; /* [ragged units][ragged columns] */
    int tile_m, tile_n, edge_m, edge_n, tiles_m, tiles_n;
} tile_kernels;

static bool enabled(const tdl_dense_desc *d) {
    return d->units >= MIN_UNITS && tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO && tdl_xsmm_available();
}

/* Makes the kernels for an (m x n) result in tiles of tile_m x tile_n; false
 * when libxsmm cannot generate one of them. */
static bool tile_kernels_make(tile_kernels *t, int m, int n, int k, int lda, int ldb, int ldc, bool transpose_b,
                              bool accumulate, int tile_m, int tile_n) {
    t->tile_m = m < tile_m ? m : tile_m;
    t->tile_n = n < tile_n ? n : tile_n;
    t->edge_m = m % t->tile_m;
    t->edge_n = n % t->tile_n;
    t->tiles_m = m / t->tile_m + (t->edge_m != 0);
    t->tiles_n = n / t->tile_n + (t->edge_n != 0);
    const libxsmm_blasint kk = k, la = lda, lb = ldb, lc = ldc;
    const float alpha = 1.0f, beta = accumulate ? 1.0f : 0.0f;
    const int flags = LIBXSMM_GEMM_FLAGS('N', transpose_b ? 'T' : 'N');
    const int prefetch = LIBXSMM_GEMM_PREFETCH_NONE;
    for (int rm = 0; rm < 2; ++rm) {
        for (int rn = 0; rn < 2; ++rn) {
            const int mm = rm ? t->edge_m : t->tile_m, nn = rn ? t->edge_n : t->tile_n;
            t->kernel[rm][rn] = NULL;
            if (mm == 0 || nn == 0) continue;
            t->kernel[rm][rn] = libxsmm_smmdispatch(mm, nn, kk, &la, &lb, &lc, &alpha, &beta, &flags, &prefetch);
            if (t->kernel[rm][rn] == NULL) return false;
        }
    }
    return true;
}

/* Tile `index` in unit-block-major order, so a thread's tiles share the
 * kernel's columns: its first unit, column, size and kernel. */
typedef struct tile {
    int unit, column, units, columns;
    libxsmm_smmfunction kernel;
} tile;

static tile tile_at(const tile_kernels *t, size_t index) {
    const int block_m = (int)(index / (size_t)t->tiles_n), block_n = (int)(index % (size_t)t->tiles_n);
    const bool ragged_m = t->edge_m != 0 && block_m == t->tiles_m - 1;
    const bool ragged_n = t->edge_n != 0 && block_n == t->tiles_n - 1;
    tile result = {block_m * t->tile_m, block_n * t->tile_n, ragged_m ? t->edge_m : t->tile_m,
                   ragged_n ? t->edge_n : t->tile_n, t->kernel[ragged_m][ragged_n]};
    return result;
}

static int threads_for(const tile_kernels *t, double flops, double min_thread_flops) {
    int threads = tdl_team_threads_for(flops, min_thread_flops);
    const int tiles = t->tiles_m * t->tiles_n;
    return threads < tiles ? threads : tiles;
}

/* In a training step the two gradients split the kernel's rows (its input
 * features) the way owned_rows.h does, so that the optimizer finds each row
 * and its gradient on the core that computed it: the threads that own them,
 * and thread t's blocks [*first, *last) of `block` features. */
static int owner_threads(const tdl_dense_desc *d) {
    return owned_row_threads((size_t)d->in_features, (size_t)d->units, tdl_team_threads());
}

/* A training step's kernel too small for owned_rows.h to split: the
 * optimizer steps it with the model's other unowned tensors, in contiguous
 * shares (param_split.c), and every pass splits it by the forward's bound,
 * as outside a step (dense_xsmm_forward, gradient_min_thread_flops). */
static bool unowned_in_step(const tdl_dense_desc *d) {
    return tdl_team_in_training_step() && owner_threads(d) == 1;
}

static void owned_feature_blocks(const tdl_dense_desc *d, size_t block, int t, int threads, bool reversed,
                                 size_t *first, size_t *last) {
    size_t begin, end;
    owned_rows((size_t)d->in_features, t, threads, reversed, &begin, &end);
    *first = begin / block;
    *last = (end + block - 1) / block;
}

/* ---- an operand's unit block, copied together ----------------------------- */

/* A forward tile reads its block of the kernel, TILE_UNITS columns of every
 * row, and rows `units` floats apart: where that stride is a multiple of
 * 512 bytes, the block's lines fall into a few of the caches' sets and
 * evict one another, and every batch tile reads the block again from
 * farther out. Copied PACK_ROWS rows at a time into contiguous rows of
 * TILE_UNITS, it stays in L1 for the batch tiles that share it. Each
 * chunk's call adds to the sums the call before it wrote (beta 1), summing
 * its rows in order from where that one stopped, which is the order of one
 * call over all of them: the same bits.
 *
 * One thread of an Intel Xeon (2 MB of L2), `tdl_dense_forward` alone,
 * medians: 800 -> 512 at batch 128 1.14-1.60 -> 0.81-0.87 ms, at batch 32
 * 0.32-0.35 -> 0.27; 2048 -> 256 at batch 64 1.43 -> 0.64; 1024 -> 1024 at
 * batch 128 8.2 -> 2.5. A kernel of at most PACK_MIN_KERNEL_FLOATS stays
 * cached as it is: the MLP's 512 -> 512 (1 MB) at batch 128 took 497-507
 * us in its forward pass, 511-540 packed. The kernel's gradient copies
 * dpre's unit blocks the same way, PACK_ROWS examples at a time
 * (gradient_block_packed). */
enum { PACK_ROWS = 256, PACK_STRIDE_FLOATS = 128, PACK_MIN_KERNEL_FLOATS = 512 * 512 };

/* The kernels of a packed forward over `rows` kernel rows: `first` writes
 * a tile from the first chunk (beta 0), `middle` and `last` add the chunks
 * after it (the last maybe shorter); all three are made, used or not. */
typedef struct packed_kernels {
    tile_kernels first, middle, last;
    size_t chunk_rows, chunks, rows;
} packed_kernels;

/* Two or more batch tiles to share each packed block, a kernel larger than
 * PACK_MIN_KERNEL_FLOATS and rows a multiple of PACK_STRIDE_FLOATS apart. */
static bool packed_suits(const tdl_dense_desc *d, int batch, size_t rows) {
    return batch > TILE_BATCH && d->units > TILE_UNITS && d->units % PACK_STRIDE_FLOATS == 0 &&
           rows * (size_t)d->units > PACK_MIN_KERNEL_FLOATS;
}

/* Splits `rows` into chunks of at most PACK_ROWS, as even as they go. */
static void packed_chunks(packed_kernels *p, size_t rows) {
    p->rows = rows;
    p->chunks = (rows + PACK_ROWS - 1) / PACK_ROWS;
    p->chunk_rows = (rows + p->chunks - 1) / p->chunks;
}

static int packed_last_rows(const packed_kernels *p) {
    return (int)(p->rows - (p->chunks - 1) * p->chunk_rows);
}

/* A forward: column-major (U x B, ld U) (+)= packed (U x chunk, ld
 * TILE_UNITS) * x's chunk (chunk x B, ld F), over `rows` kernel rows. */
static bool packed_kernels_make(packed_kernels *p, int units, int batch, int features, size_t rows) {
    packed_chunks(p, rows);
    const int chunk = (int)p->chunk_rows, last = packed_last_rows(p);
    const bool one = p->chunks == 1;
    return tile_kernels_make(&p->first, units, batch, one ? last : chunk, TILE_UNITS, features, units, false, false,
                             TILE_UNITS, TILE_BATCH) &&
           tile_kernels_make(&p->middle, units, batch, chunk, TILE_UNITS, features, units, false, true, TILE_UNITS,
                             TILE_BATCH) &&
           tile_kernels_make(&p->last, units, batch, last, TILE_UNITS, features, units, false, true, TILE_UNITS,
                             TILE_BATCH);
}

/* A kernel's gradient: column-major dkernel (U x F, ld U) (+)= packed dpre
 * (U x chunk, ld TILE_UNITS) * the chunk's x^T (x's rows, ld F, read
 * transposed), over a batch of `batch` examples; the first chunk adds to
 * dkernel where `accumulate`. */
static bool packed_gradient_kernels_make(packed_kernels *p, int units, int features, int batch, bool accumulate) {
    packed_chunks(p, (size_t)batch);
    const int chunk = (int)p->chunk_rows, last = packed_last_rows(p);
    const bool one = p->chunks == 1;
    return tile_kernels_make(&p->first, units, features, one ? last : chunk, TILE_UNITS, features, units, true,
                             accumulate, TILE_UNITS, TILE_FEATURES) &&
           tile_kernels_make(&p->middle, units, features, chunk, TILE_UNITS, features, units, true, true, TILE_UNITS,
                             TILE_FEATURES) &&
           tile_kernels_make(&p->last, units, features, last, TILE_UNITS, features, units, true, true, TILE_UNITS,
                             TILE_FEATURES);
}

/* to (rows x TILE_UNITS) = the first `width` floats of `rows` rows of
 * `from`, `stride` floats apart: a loop the compiler vectorises, not a
 * call per row. */
TDL_VECTOR_CLONES static void pack_rows(float *restrict to, const float *restrict from, size_t rows, size_t stride,
                                        size_t width) {
    for (size_t r = 0; r < rows; ++r)
        for (size_t i = 0; i < width; ++i) to[r * TILE_UNITS + i] = from[r * stride + i];
}

/* The sums of unit block `block` for batch tiles [column_first,
 * column_last), no bias or activation: y's (rows `units` apart) = x's
 * first p->rows features (rows `features` apart) times the kernel's first
 * p->rows rows. The packed rows live on the stack (64 KB). */
static void packed_block_sums(const packed_kernels *p, size_t block, size_t column_first, size_t column_last,
                              float *y, const float *x, const float *kernel, size_t units, size_t features) {
    float packed[PACK_ROWS * TILE_UNITS] __attribute__((aligned(64)));
    const size_t unit = block * TILE_UNITS, width = units - unit < TILE_UNITS ? units - unit : TILE_UNITS;
    const size_t tiles_n = (size_t)p->first.tiles_n;
    for (size_t c = 0; c < p->chunks; ++c) {
        const size_t row = c * p->chunk_rows, rows = c + 1 < p->chunks ? p->chunk_rows : p->rows - row;
        pack_rows(packed, kernel + row * units + unit, rows, units, width);
        const tile_kernels *k = c == 0 ? &p->first : c + 1 == p->chunks ? &p->last : &p->middle;
        for (size_t column = column_first; column < column_last; ++column) {
            const tile t = tile_at(k, block * tiles_n + column);
            t.kernel(packed, x + (size_t)t.column * features + row, y + (size_t)t.column * units + unit);
        }
    }
    tdl_vector_state_clean();
}

/* ---- forward ------------------------------------------------------------ */

/* to (n) += from (n). */
TDL_VECTOR_CLONES static void add_floats(float *restrict to, const float *restrict from, size_t n) {
    for (size_t i = 0; i < n; ++i) to[i] += from[i];
}

typedef struct forward_job {
    tile_kernels tiles;
    packed_kernels packed;
    bool pack;     /* the kernel's unit blocks through packed_block_sums */
    bool by_batch; /* whole batch tiles per thread (forward_share) */
    const tdl_dense_desc *d;
    size_t batch;
    float *y;
    const float *x, *kernel, *bias;
} forward_job;

/* The tiles of unit block `block` and batch tiles [column_first,
 * column_last) by packed_block_sums, then their bias and activation. */
static void forward_block_packed(const void *job, size_t block, size_t column_first, size_t column_last) {
    const forward_job *j = job;
    const size_t units = (size_t)j->d->units, tiles_n = (size_t)j->tiles.tiles_n;
    packed_block_sums(&j->packed, block, column_first, column_last, j->y, j->x, j->kernel, units,
                      (size_t)j->d->in_features);
    for (size_t column = column_first; column < column_last; ++column) {
        const tile c = tile_at(&j->tiles, block * tiles_n + column);
        dense_bias_activation_rows(j->y + (size_t)c.column * units + (size_t)c.unit, (size_t)c.columns, units,
                                   (size_t)c.units, j->bias != NULL ? j->bias + c.unit : NULL, j->d);
    }
}

/* Tiles [begin, end) in tile_at's order (by unit block, tiles_n to a
 * block) as runs that share a unit block: run(job, block, first column,
 * end column) for each. */
typedef void block_run(const void *job, size_t block, size_t column_first, size_t column_last);

static void tiles_by_block(const void *job, block_run *run, size_t tiles_n, size_t begin, size_t end) {
    while (begin < end) {
        const size_t block = begin / tiles_n, block_end = (block + 1) * tiles_n;
        const size_t stop = end < block_end ? end : block_end;
        run(job, block, begin - block * tiles_n, stop - block * tiles_n);
        begin = stop;
    }
}

/* Outside a training step, each thread takes whole batch tiles (all units
 * of its examples) when there are enough of them: the input a thread reads
 * is then the rows the layer before wrote on the same core, and the kernel,
 * which only a training step rewrites, stays cached on both cores from call
 * to call. MLP forward on two threads, `bench_models`, medians of 7
 * alternating processes: batch 32 0.262 -> 0.248 ms, batch 128 0.558 ->
 * 0.508; LeNet-5 at batch 128 0.924 -> 0.889. Otherwise (a batch of one
 * tile; a training step's kernels, which the optimizer rewrites) the
 * threads take whole unit blocks, as tile_at orders them. */
static void forward_share(void *context, int t, int threads) {
    const forward_job *j = context;
    const size_t units = (size_t)j->d->units, features = (size_t)j->d->in_features;
    const size_t tiles_n = (size_t)j->tiles.tiles_n;
    size_t begin, end, first = 0, span = 1;
    if (j->by_batch) {
        size_t last;
        tdl_team_share(tiles_n, t, threads, &first, &last);
        span = last - first;
        const size_t row = first * (size_t)j->tiles.tile_n;
        const size_t row_end = last * (size_t)j->tiles.tile_n < j->batch ? last * (size_t)j->tiles.tile_n : j->batch;
        warm_for_reading(j->x + row * features, (row_end - row) * features * sizeof(float));
        begin = 0;
        end = (size_t)j->tiles.tiles_m * span;
        if (j->pack) {
            for (size_t block = 0; block < (size_t)j->tiles.tiles_m; ++block)
                forward_block_packed(j, block, first, last);
            return;
        }
    } else {
        /* Each thread first reads its own share of the input, so that the
         * threads pay the first touch of a fresh window's pages side by
         * side; their tiles then find the whole input cached. */
        tdl_team_share(j->batch * features, t, threads, &begin, &end);
        warm_for_reading(j->x + begin, (end - begin) * sizeof(float));
        tdl_team_share((size_t)j->tiles.tiles_m * tiles_n, t, threads, &begin, &end);
        if (j->pack) {
            tiles_by_block(j, forward_block_packed, tiles_n, begin, end);
            return;
        }
    }
    for (size_t i = begin; i < end; ++i) {
        /* By batch: unit block i / span of batch tile first + i % span. */
        const size_t index = j->by_batch ? i / span * tiles_n + first + i % span : i;
        const tile c = tile_at(&j->tiles, index);
        float *y = j->y + (size_t)c.column * units + (size_t)c.unit;
        c.kernel(j->kernel + c.unit, j->x + (size_t)c.column * features, y);
        tdl_vector_state_clean();
        dense_bias_activation_rows(y, (size_t)c.columns, units, (size_t)c.units, j->bias != NULL ? j->bias + c.unit : NULL,
                             j->d);
    }
}

bool dense_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                        int batch) {
    if (!enabled(d)) return false;
    if (dense_narrow_forward(y, x, kernel, bias, d, batch)) return true;
    forward_job job = {.d = d, .batch = (size_t)batch, .y = y, .x = x, .kernel = kernel, .bias = bias};
    const int units = d->units, features = d->in_features;
    if (!tile_kernels_make(&job.tiles, units, batch, features, units, features, units, false, false, TILE_UNITS,
                           TILE_BATCH)) {
        return false;
    }
    job.pack = packed_suits(d, batch, (size_t)features) &&
               packed_kernels_make(&job.packed, units, batch, features, (size_t)features);
    const double flops = 2.0 * (double)batch * (double)units * (double)features;
    /* A training step's kernel too small for owned_rows.h to split (the
     * optimizer steps it with the other unowned tensors) is split as outside
     * a step: each thread reads all of it, which costs little, and computes
     * the rows of its own examples, which the layers before left on its core.
     * mnist_convnet's 1600 -> 10 logits at batch 32 on two threads:
     * 17 -> 8.4 us; LeNet-5's 120 -> 84 at batch 128: 24.4 -> 14.7. */
    const bool in_step = tdl_team_in_training_step();
    const bool as_outside_step = !in_step || unowned_in_step(d);
    double min_thread_flops = MIN_THREAD_FLOPS;
    if (as_outside_step) min_thread_flops = MIN_THREAD_FLOPS_FORWARD;
    const int threads = threads_for(&job.tiles, flops, min_thread_flops);
    job.by_batch = as_outside_step && job.tiles.tiles_n >= threads;
    tdl_team_run(threads, forward_share, &job);
    return true;
}

/* ---- a forward over owned rows ------------------------------------------- */

/* Each of the two threads that own the kernel's rows (owned_rows.h) sums
 * over its own input features: thread 0 into y, thread 1 into the
 * workspace, each reading only its own rows of the kernel; then each adds
 * its half of the batch's rows together with the bias and activation. Only
 * the (B x U) partial crosses between cores, never the kernel.
 *
 * A training step's forward finds each thread's rows where its optimizer
 * step left them. A model's forward (tdl_dense_model_forward) splits the
 * same way for another reason: each core then reads half of the kernel,
 * contiguous rows, which stays in its L2 from call to call, where a split
 * by units or by examples reads the whole kernel or columns of every row.
 * Columns of a kernel whose rows are a multiple of 512 bytes apart use
 * only some of the cache's sets, so the MLP's two kernels, halved by
 * units, did not stay cached (1.3 MB a core in half the sets of 2 MB).
 * The MLP's forward at batch 32 on two threads of an Intel Xeon, with
 * slices of the batch (model_forward.c, each thread reading both kernels
 * whole) against this split: 0.218-0.242 ms against 0.189-0.205
 * (`bench_models`, three alternating pairs); the 784 -> 512 layer alone
 * at batch 4, 16 and 64, its kernel cached: 31, 70, 225 us against 13,
 * 47, 180. The sum over
 * features is split at the owners' boundary, so these sums differ in
 * rounding from tdl_dense_forward's; for a given thread count they are
 * always the same (a reversed kernel's thread 0 sums the second half of the
 * features, and the two partials are added the other way round, which
 * gives the same bits). Where the input's groups of four are zero together
 * often enough, each owner's sum skips them (dense_zero_inputs_batch.c),
 * still over its own rows only. */
enum { FORWARD_OWNERS = 2 };

typedef struct owned_forward_job {
    tile_kernels tiles[FORWARD_OWNERS]; /* (U x B) over thread t's features */
    bool reversed;                      /* owned_rows.h */
    bool zero_inputs;                   /* dense_zero_inputs_batch_sums instead of the tiles */
    const tdl_dense_desc *d;
    size_t batch;
    float *y, *partial;
    const float *x, *kernel, *bias;
} owned_forward_job;

static void owned_forward_sum_share(void *context, int t, int threads) {
    const owned_forward_job *j = context;
    const size_t units = (size_t)j->d->units, features = (size_t)j->d->in_features;
    size_t feature, feature_end;
    owned_rows(features, t, threads, j->reversed, &feature, &feature_end);
    const tile_kernels *k = &j->tiles[t];
    float *into = t == 0 ? j->y : j->partial;
    if (j->zero_inputs) {
        /* Groups of zero inputs are a first layer's, whose input is a fresh
         * window of the caller's data: each thread first reads, in address
         * order, exactly the inputs it sums over (its features of every
         * example), so that the two wait for memory side by side and
         * neither then reads lines that the other core brought in. Against
         * no warming, the MLP's training step at batch 32 on two threads
         * (`profile_mlp --images 60000`) took 93-102 us in this call
         * instead of 109-119 (five alternating pairs, each thread warming
         * half of the examples); against that half, 66.4 / 81.5 / 87.3 us
         * instead of 69.2 / 85.7 / 91.4 (three processes, each alternating
         * the two from step to step). */
        for (size_t b = 0; b < j->batch; ++b)
            warm_for_reading(j->x + b * features + feature, (feature_end - feature) * sizeof(float));
        /* Owned rows start at a multiple of OWNED_ROW_BLOCK, so at a group of four. */
        const dense_zero_inputs_part part = {0, j->batch, feature, feature_end, 0, units};
        dense_zero_inputs_batch_sums(into, j->x, j->kernel, j->d, &part, false, NULL);
        return;
    }
    for (size_t i = 0; i < (size_t)k->tiles_m * (size_t)k->tiles_n; ++i) {
        const tile c = tile_at(k, i);
        c.kernel(j->kernel + feature * units + (size_t)c.unit, j->x + (size_t)c.column * features + feature,
                 into + (size_t)c.column * units + (size_t)c.unit);
    }
    tdl_vector_state_clean();
}

static void owned_forward_add_share(void *context, int t, int threads) {
    const owned_forward_job *j = context;
    const size_t units = (size_t)j->d->units;
    size_t begin, end;
    tdl_team_share(j->batch, t, threads, &begin, &end);
    add_floats(j->y + begin * units, j->partial + begin * units, (end - begin) * units);
    dense_bias_activation_rows(j->y + begin * units, end - begin, units, units, j->bias, j->d);
}

bool dense_xsmm_forward_owned(float *y, const float *x, const float *kernel, const float *bias,
                              const tdl_dense_desc *d, int batch, float *workspace) {
    if (!enabled(d) || owner_threads(d) != FORWARD_OWNERS) return false;
    owned_forward_job job = {.reversed = param_split_reversed(kernel),
                             .zero_inputs = dense_zero_inputs_batch_suits(x, d, batch),
                             .d = d,
                             .batch = (size_t)batch,
                             .y = y,
                             .partial = workspace,
                             .x = x,
                             .kernel = kernel,
                             .bias = bias};
    const int units = d->units, features = d->in_features;
    for (int t = 0; t < FORWARD_OWNERS; ++t) {
        size_t feature, feature_end;
        owned_rows((size_t)features, t, FORWARD_OWNERS, job.reversed, &feature, &feature_end);
        /* Column-major (U x B) = (U x f, ld U) * (f x B, ld F), written (beta 0). */
        if (feature == feature_end ||
            !tile_kernels_make(&job.tiles[t], units, batch, (int)(feature_end - feature), units, features, units,
                               false, false, TILE_UNITS, TILE_BATCH)) {
            return false;
        }
    }
    tdl_team_run(FORWARD_OWNERS, owned_forward_sum_share, &job);
    tdl_team_run(FORWARD_OWNERS, owned_forward_add_share, &job);
    return true;
}

size_t dense_xsmm_owned_forward_scratch(const tdl_dense_desc *d, int batch) {
    if (owned_row_threads((size_t)d->in_features, (size_t)d->units, FORWARD_OWNERS) != FORWARD_OWNERS) return 0;
    if ((size_t)batch > SIZE_MAX / (size_t)d->units) return SIZE_MAX;
    return (size_t)batch * (size_t)d->units;
}

/* to (cols, rows) = from (rows, cols)^T, both row-major and dense; as
 * libxsmm sees it, `from` is column-major (cols x rows) with ld cols.
 * libxsmm's transpose took 4.3 us for a 128 x 120 dpre (LeNet-5's first
 * dense layer at batch 128) on a Xeon (family 6, model 167, as its virtual
 * machine reports it), a loop over 16 x 16 blocks 17.4: GCC does not turn
 * that loop into vector shuffles. That layer's backward went from 176 to
 * 161 us on one thread and from 133 to 111 on two; on the AMD development
 * machine the two transposes had been within 2% in a training step.
 * Where both sides are whole blocks of 16 and the CPU has AVX-512, the
 * blocks go through the registers instead (transpose_block.h): the MLP's
 * 128 x 512 dpre, in cache, on each of two threads, 35-37 us through
 * libxsmm, 21-22 this way. Either way each value is moved: the same bits. */
static void transpose(float *restrict to, const float *restrict from, size_t rows, size_t cols) {
#if TRANSPOSE_BLOCK_AVX512
    if (rows % TRANSPOSE_BLOCK == 0 && cols % TRANSPOSE_BLOCK == 0 && __builtin_cpu_supports("avx512f")) {
        transpose_block_matrix(to, rows, from, cols, rows, cols, false);
        return;
    }
#endif
    libxsmm_otrans(to, from, (unsigned int)sizeof(float), (libxsmm_blasint)cols, (libxsmm_blasint)rows,
                   (libxsmm_blasint)cols, (libxsmm_blasint)rows);
}

/* ---- the kernel's gradient ------------------------------------------------ */

typedef struct kernel_gradient_job {
    tile_kernels tiles; /* tile_m units by tile_n features; narrow: tile_m features by all units */
    packed_kernels packed;
    bool pack; /* dpre's unit blocks through gradient_block_packed */
    bool narrow; /* x as the left operand (narrow_gradient_prepare) */
    const float *dpre_transposed; /* narrow: (U,B) */
    int features;
    const tdl_dense_desc *owned; /* a training step's: feature tiles by owned_rows.h */
    bool reversed;               /* with `owned`: owned_rows.h */
    int units;
    float *dkernel;
    const float *x, *dpre;
    /* dense_zero_inputs_gradient.c's groups of inputs instead of the tiles,
     * where the input has zeros enough in common. */
    const tdl_dense_desc *zero_inputs;
    int batch;
    bool accumulate;
} kernel_gradient_job;

/* The rows thread t computes when the groups of zero inputs take the
 * gradient: its owned rows, else its share of the groups of four. Either
 * way a range starts at a multiple of four (owned rows at a multiple of
 * OWNED_ROW_BLOCK), so the groups are the same for every thread count. */
static void zero_inputs_gradient_share(const kernel_gradient_job *j, int t, int threads) {
    const size_t features = (size_t)j->zero_inputs->in_features;
    size_t begin, end;
    if (j->owned != NULL) {
        owned_rows(features, t, threads, j->reversed, &begin, &end);
    } else {
        enum { GROUP = DENSE_INPUT_GROUP };
        _Static_assert(OWNED_ROW_BLOCK % GROUP == 0, "owned rows start at a group");
        tdl_team_share((features + GROUP - 1) / GROUP, t, threads, &begin, &end);
        begin *= GROUP;
        end = end * GROUP < features ? end * GROUP : features;
    }
    if (begin < end)
        dense_zero_inputs_gradient_rows(j->dkernel, j->x, j->dpre, j->zero_inputs, j->batch, begin, end,
                                        j->accumulate);
}

/* The tiles of unit block `block` and feature tiles [column_first,
 * column_last), dpre's rows over the block copied together a chunk of
 * examples at a time (as a forward's kernel, packed_block_sums): dpre's
 * rows are `units` floats apart, and each tile reads all of them. One
 * thread of an Intel Xeon, libxsmm alone: 512 -> 512 at batch 128 607 ->
 * 455-463 us, at batch 32 168 -> 134-136; its half of the rows (256 -> 512)
 * 279-282 -> 221-222; 784 -> 128 at batch 128 215 -> 181. */
static void gradient_block_packed(const void *job, size_t block, size_t column_first, size_t column_last) {
    const kernel_gradient_job *j = job;
    const packed_kernels *p = &j->packed;
    float packed[PACK_ROWS * TILE_UNITS] __attribute__((aligned(64)));
    const size_t units = (size_t)j->units, features = (size_t)j->features, tiles_n = (size_t)p->first.tiles_n;
    const size_t unit = block * TILE_UNITS, width = units - unit < TILE_UNITS ? units - unit : TILE_UNITS;
    for (size_t c = 0; c < p->chunks; ++c) {
        const size_t example = c * p->chunk_rows, examples = c + 1 < p->chunks ? p->chunk_rows : p->rows - example;
        pack_rows(packed, j->dpre + example * units + unit, examples, units, width);
        const tile_kernels *k = c == 0 ? &p->first : c + 1 == p->chunks ? &p->last : &p->middle;
        for (size_t column = column_first; column < column_last; ++column) {
            const tile t = tile_at(k, block * tiles_n + column);
            t.kernel(packed, j->x + example * features + (size_t)t.column,
                     j->dkernel + (size_t)t.column * units + unit);
        }
    }
    tdl_vector_state_clean();
}

/* A narrow layer's feature tiles: each tile's (features x U) block of the
 * kernel's gradient, column-major, summed on the stack and then written
 * into (or added to) its rows of dkernel. */
static void narrow_gradient_share(const kernel_gradient_job *j, int t, int threads) {
    float block[TILE_FEATURES * NARROW_UNITS] __attribute__((aligned(64)));
    const size_t units = (size_t)j->units;
    size_t begin, end;
    tdl_team_share((size_t)j->tiles.tiles_m, t, threads, &begin, &end);
    for (size_t i = begin; i < end; ++i) {
        /* c.unit is a feature. */
        const tile c = tile_at(&j->tiles, i);
        c.kernel(j->x + c.unit, j->dpre_transposed, block);
        float *rows = j->dkernel + (size_t)c.unit * units;
        for (size_t f = 0; f < (size_t)c.units; ++f)
            for (size_t u = 0; u < units; ++u) {
                const float sum = block[u * TILE_FEATURES + f];
                rows[f * units + u] = j->accumulate ? rows[f * units + u] + sum : sum;
            }
    }
    tdl_vector_state_clean();
}

static void kernel_gradient_share(void *context, int t, int threads) {
    const kernel_gradient_job *j = context;
    if (j->narrow) {
        narrow_gradient_share(j, t, threads);
        return;
    }
    if (j->zero_inputs != NULL) {
        zero_inputs_gradient_share(j, t, threads);
        tdl_vector_state_clean();
        return;
    }
    const size_t tiles_n = (size_t)j->tiles.tiles_n;
    size_t first = 0, last = 1, begin, end;
    if (j->owned != NULL) {
        owned_feature_blocks(j->owned, TILE_FEATURES, t, threads, j->reversed, &first, &last);
        begin = 0;
        end = first < last ? (size_t)j->tiles.tiles_m * (last - first) : 0;
        if (j->pack && first < last) {
            for (size_t block = 0; block < (size_t)j->tiles.tiles_m; ++block)
                gradient_block_packed(j, block, first, last);
            return;
        }
    } else {
        tdl_team_share((size_t)j->tiles.tiles_m * tiles_n, t, threads, &begin, &end);
        if (j->pack) {
            tiles_by_block(j, gradient_block_packed, tiles_n, begin, end);
            return;
        }
    }
    for (size_t i = begin; i < end; ++i) {
        /* Owned: unit block i / (last - first) of feature block first + i % (last - first). */
        const size_t index = j->owned != NULL ? i / (last - first) * tiles_n + first + i % (last - first) : i;
        const tile c = tile_at(&j->tiles, index);
        /* c.column is a feature: row c.column of dkernel, column c.column of x. */
        c.kernel(j->dpre + c.unit, j->x + c.column, j->dkernel + (size_t)c.column * (size_t)j->units + (size_t)c.unit);
    }
    tdl_vector_state_clean();
}

/* The work a thread must have for a gradient's product to be split: a
 * training step's kernel too small for owned_rows.h to split takes the
 * forward's bound, as in dense_xsmm_forward, and both its gradients then
 * run in one call of the team (dense_xsmm_backprop_owned). On two threads,
 * mnist_convnet's 1600 -> 10 logits layer at batch 32 went from 35.5 to
 * 23.2 us; LeNet-5's 120 -> 84 at batch 128 stayed at 42-45 us, as the
 * caller's dpre and transpose are read from the other core. */
static double gradient_min_thread_flops(const tdl_dense_desc *d, int batch) {
    if (!unowned_in_step(d)) return MIN_THREAD_FLOPS;
    /* Such a kernel whose activations (x, dx and dpre) are few as well
     * stays on the caller: split, each thread would wait on the other
     * core for half of x and of dpre for a few microseconds of work. */
    const double activations = (double)batch * (2.0 * d->in_features + d->units);
    return activations < SMALL_ACTIVATIONS ? HUGE_VAL : MIN_THREAD_FLOPS_FORWARD;
}

static bool input_gradient_suits(const tdl_dense_desc *d, int batch);

/* A layer narrower than a vector (logits above all), whose kernel no two
 * threads own: with dkernel as (U x F), each tile would fill a fraction of
 * its vectors and read x transposed. Its transpose, column-major (F x U) =
 * x (F x B, ld F, in place) * dpre^T (B x U, ld B), puts the features in
 * the vectors and reads x as it lies; only dpre's B * U floats are
 * transposed (into the input gradient's scratch, after the F * U floats
 * that narrow_input_gradient_prepare moves there; B >= MIN_BATCH > U, so
 * both fit), and each tile's sums are moved into the kernel's rows. The
 * sum over the batch runs in the same order. One thread of an Intel Xeon,
 * in cache: the MLP's 512 -> 10 at batch 128 13.6 -> 8.8 us; mnist_convnet's
 * 1600 -> 10 44 -> 28. */
static bool narrow_gradient_prepare(kernel_gradient_job *job, const tdl_dense_desc *d, int batch, float *scratch,
                                    int *threads) {
    const int units = d->units, features = d->in_features;
    if (scratch == NULL || units >= NARROW_UNITS || !input_gradient_suits(d, batch) ||
        (tdl_team_in_training_step() && owner_threads(d) > 1) ||
        !tile_kernels_make(&job->tiles, features, units, batch, features, batch, TILE_FEATURES, false, false,
                           TILE_FEATURES, units)) {
        return false;
    }
    float *dpre_transposed = scratch + (size_t)features * (size_t)units;
    transpose(dpre_transposed, job->dpre, (size_t)batch, (size_t)units);
    job->narrow = true;
    job->dpre_transposed = dpre_transposed;
    const double flops = 2.0 * (double)batch * (double)units * (double)features;
    *threads = threads_for(&job->tiles, flops, gradient_min_thread_flops(d, batch));
    return true;
}

/* Fills `job` and the number of threads to run it on; false when libxsmm
 * cannot take it. scratch: the input gradient's (dense_xsmm_input_gradient_scratch),
 * or NULL. */
static bool kernel_gradient_prepare(kernel_gradient_job *job, float *dkernel, const float *x, const float *dpre,
                                    const tdl_dense_desc *d, int batch, bool accumulate, float *scratch,
                                    int *threads) {
    if (!enabled(d)) return false;
    *job = (kernel_gradient_job){.units = d->units,
                                 .features = d->in_features,
                                 .dkernel = dkernel,
                                 .x = x,
                                 .dpre = dpre,
                                 .zero_inputs = dense_zero_inputs_gradient_suits(x, d, batch) ? d : NULL,
                                 .batch = batch,
                                 .accumulate = accumulate};
    if (job->zero_inputs == NULL && narrow_gradient_prepare(job, d, batch, scratch, threads)) return true;
    const int units = d->units, features = d->in_features;
    if (!tile_kernels_make(&job->tiles, units, features, batch, units, features, units, true, accumulate,
                           TILE_UNITS, TILE_FEATURES)) {
        return false;
    }
    job->pack = job->zero_inputs == NULL && units > TILE_UNITS && units % PACK_STRIDE_FLOATS == 0 &&
                packed_gradient_kernels_make(&job->packed, units, features, batch, accumulate);
    const double flops = 2.0 * (double)batch * (double)units * (double)features;
    const int owners = tdl_team_in_training_step() ? owner_threads(d) : 1;
    job->owned = owners > 1 ? d : NULL;
    job->reversed = owners > 1 && param_split_reversed(dkernel);
    *threads = owners > 1 ? owners : threads_for(&job->tiles, flops, gradient_min_thread_flops(d, batch));
    return true;
}

bool dense_xsmm_backprop_kernel(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                int batch, bool accumulate, float *scratch) {
    kernel_gradient_job job;
    int threads;
    if (!kernel_gradient_prepare(&job, dkernel, x, dpre, d, batch, accumulate, scratch, &threads)) return false;
    tdl_team_run(threads, kernel_gradient_share, &job);
    return true;
}

/* ---- the input's gradient ------------------------------------------------- */

typedef struct input_gradient_job {
    tile_kernels tiles; /* (B x F): tile_m batch rows, tile_n features; narrow: (F x B) */
    const tdl_dense_desc *owned; /* a training step's: feature blocks by owned_rows.h */
    bool reversed;               /* with `owned`: owned_rows.h */
    bool narrow;                 /* the kernel transposed instead (narrow_input_gradient_prepare) */
    bool write_dx;               /* dx written whole, not added to */
    int batch, features, units;
    float *dx, *dx_transposed;
    const float *kernel, *dpre_transposed;
    const float *kernel_transposed, *dpre; /* narrow */
} input_gradient_job;

/* dx (B,F) columns [col0, col1) += dx_transposed (F,B) rows [col0, col1)^T,
 * or = when `write`, in blocks of 16 x 16 (transpose_block.h). */
static void add_transposed_columns(float *restrict dx, const float *restrict dx_transposed, size_t batch,
                                   size_t features, size_t col0, size_t col1, bool write) {
    transpose_block_matrix(dx + col0, features, dx_transposed + col0 * batch, batch, col1 - col0, batch, !write);
}

/* A narrow layer's input gradient: thread t's blocks of features, each
 * over the whole batch, added into dx in place (or written, by kernels
 * made with beta 0). */
static void narrow_input_gradient_share(const input_gradient_job *j, int t, int threads) {
    const tile_kernels *k = &j->tiles;
    size_t begin, end;
    tdl_team_share((size_t)k->tiles_m, t, threads, &begin, &end);
    for (size_t i = begin * (size_t)k->tiles_n; i < end * (size_t)k->tiles_n; ++i) {
        /* c.unit is a feature, c.column an example. */
        const tile c = tile_at(k, i);
        c.kernel(j->kernel_transposed + c.unit, j->dpre + (size_t)c.column * (size_t)j->units,
                 j->dx + (size_t)c.column * (size_t)j->features + (size_t)c.unit);
    }
    tdl_vector_state_clean();
}

static void input_gradient_share(void *context, int t, int threads) {
    const input_gradient_job *j = context;
    if (j->narrow) {
        narrow_input_gradient_share(j, t, threads);
        return;
    }
    const tile_kernels *k = &j->tiles;
    size_t begin, end;
    if (j->owned != NULL)
        owned_feature_blocks(j->owned, TILE_COLUMNS, t, threads, j->reversed, &begin, &end);
    else
        tdl_team_share((size_t)k->tiles_n, t, threads, &begin, &end);
    for (size_t block_n = begin; block_n < end; ++block_n) {
        for (int block_m = 0; block_m < k->tiles_m; ++block_m) {
            const tile c = tile_at(k, (size_t)block_m * (size_t)k->tiles_n + block_n);
            c.kernel(j->dpre_transposed + c.unit, j->kernel + (size_t)c.column * (size_t)j->units,
                     j->dx_transposed + (size_t)c.column * (size_t)j->batch + (size_t)c.unit);
        }
        tdl_vector_state_clean();
        const size_t col0 = block_n * (size_t)k->tile_n;
        const size_t col1 = col0 + (size_t)k->tile_n < (size_t)j->features ? col0 + (size_t)k->tile_n
                                                                          : (size_t)j->features;
        add_transposed_columns(j->dx, j->dx_transposed, (size_t)j->batch, (size_t)j->features, col0, col1,
                               j->write_dx);
    }
}

static bool input_gradient_suits(const tdl_dense_desc *d, int batch) {
    return d->units >= MIN_UNITS && batch >= MIN_BATCH;
}

size_t dense_xsmm_input_gradient_scratch(const tdl_dense_desc *d, int batch) {
    if (!input_gradient_suits(d, batch)) return 0;
    const size_t units = (size_t)d->units, features = (size_t)d->in_features;
    if (units > SIZE_MAX - features || (size_t)batch > SIZE_MAX / (units + features)) return SIZE_MAX;
    return (size_t)batch * (units + features);
}

/* Fills `job`, which reads dpre^T at dpre_transposed and writes dx^T
 * (B x F) at dx_transposed, and the number of threads to run it on,
 * touching no data; false when libxsmm cannot take it. */
static bool input_gradient_plan(input_gradient_job *job, float *dx, const float *kernel, const tdl_dense_desc *d,
                                int batch, const float *dpre_transposed, float *dx_transposed, bool write_dx,
                                int *threads) {
    if (!enabled(d) || !input_gradient_suits(d, batch)) return false;
    const int units = d->units, features = d->in_features;
    *job = (input_gradient_job){
        .write_dx = write_dx, .batch = batch, .features = features, .units = units, .dx = dx, .kernel = kernel};
    /* Column-major (B x F) = (B x U, ld B) * (U x F, ld U), ld B. */
    if (!tile_kernels_make(&job->tiles, batch, features, units, batch, units, batch, false, false,
                           TILE_BATCH_ROWS, TILE_COLUMNS)) {
        return false;
    }
    job->dpre_transposed = dpre_transposed;
    job->dx_transposed = dx_transposed;
    const double flops = 2.0 * (double)batch * (double)units * (double)features;
    *threads = tdl_team_threads_for(flops, gradient_min_thread_flops(d, batch));
    if (*threads > job->tiles.tiles_n) *threads = job->tiles.tiles_n;
    const int owners = tdl_team_in_training_step() ? owner_threads(d) : 1;
    if (owners > 1) *threads = owners;
    job->owned = owners > 1 ? d : NULL;
    job->reversed = owners > 1 && param_split_reversed(kernel);
    return true;
}

/* A layer narrower than a vector (logits above all) transposes its kernel
 * instead of the two activations: dx (B,F), read column-major, is
 * (F x B, ld F) += kernel^T (F x U, ld F) * dpre (U x B, ld U), so only the
 * kernel's F * U floats are moved (into the scratch, which holds B * (U + F)
 * >= F * U of them from a batch of MIN_BATCH on) and each tile adds into dx
 * in place. The sums run over the units in the same order as with the
 * activations transposed: on zeroed dx, the same bits for the MLP's,
 * LeNet-5's and mnist_convnet's logits layers; 1 ulp apart in 15 of 78,000
 * values of a 520 -> 8 layer at batch 150 (libxsmm's ragged tiles). The
 * MLP's 512 -> 10 at batch 128, one thread: the input gradient 28 -> 13
 * us; mnist_convnet's 1600 -> 10, 82 -> 55 us (a standalone program
 * against the whole backward with and without dx). Kernels that two
 * threads own by rows keep the activations' transposes. */
static bool narrow_input_gradient_prepare(input_gradient_job *job, float *dx, const float *kernel, const float *dpre,
                                          const tdl_dense_desc *d, int batch, float *scratch, bool write_dx,
                                          int *threads) {
    const int units = d->units, features = d->in_features;
    if (!enabled(d) || !input_gradient_suits(d, batch) || units >= NARROW_UNITS ||
        (tdl_team_in_training_step() && owner_threads(d) > 1))
        return false;
    *job = (input_gradient_job){.narrow = true, .write_dx = write_dx, .batch = batch, .features = features,
                                .units = units, .dx = dx, .kernel = kernel, .kernel_transposed = scratch,
                                .dpre = dpre};
    /* Column-major (F x B) (+)= (F x U, ld F) * (U x B, ld U), ld F. */
    if (!tile_kernels_make(&job->tiles, features, batch, units, features, units, features, false, !write_dx,
                           TILE_FEATURES, TILE_BATCH)) {
        return false;
    }
    const double flops = 2.0 * (double)batch * (double)units * (double)features;
    *threads = tdl_team_threads_for(flops, gradient_min_thread_flops(d, batch));
    if (*threads > job->tiles.tiles_m) *threads = job->tiles.tiles_m;
    transpose(scratch, kernel, (size_t)features, (size_t)units);
    return true;
}

/* input_gradient_plan with dpre^T and dx^T in the scratch, and dpre
 * transposed into it; or, for a narrow layer, the kernel transposed. */
static bool input_gradient_prepare(input_gradient_job *job, float *dx, const float *kernel, const float *dpre,
                                   const tdl_dense_desc *d, int batch, float *scratch, bool write_dx, int *threads) {
    if (narrow_input_gradient_prepare(job, dx, kernel, dpre, d, batch, scratch, write_dx, threads)) return true;
    float *dpre_transposed = scratch;
    if (!input_gradient_plan(job, dx, kernel, d, batch, dpre_transposed, scratch + (size_t)batch * (size_t)d->units,
                             write_dx, threads)) {
        return false;
    }
    transpose(dpre_transposed, dpre, (size_t)batch, (size_t)d->units);
    return true;
}

bool dense_xsmm_backprop_input(float *dx, const float *kernel, const float *dpre, const tdl_dense_desc *d, int batch,
                               float *scratch, bool write_dx) {
    input_gradient_job job;
    int threads;
    if (!input_gradient_prepare(&job, dx, kernel, dpre, d, batch, scratch, write_dx, &threads)) return false;
    tdl_team_run(threads, input_gradient_share, &job);
    return true;
}

/* ---- both gradients in one call -------------------------------------------- */

/* In a training step the owners of a kernel's rows compute both of its
 * gradients over those rows, which do not depend on each other: one call
 * of the team does both, where two calls would cross between the cores
 * twice (the job, its context, the end of each share). A kernel too small
 * to own by rows has both gradients shared out alike, tile by tile. */
typedef struct both_gradients_job {
    kernel_gradient_job kernel;
    input_gradient_job input;
} both_gradients_job;

static void both_gradients_share(void *context, int t, int threads) {
    both_gradients_job *j = context;
    kernel_gradient_share(&j->kernel, t, threads);
    input_gradient_share(&j->input, t, threads);
}

bool dense_xsmm_backprop_owned(float *dkernel, float *dx, const float *x, const float *kernel, const float *dpre,
                               const tdl_dense_desc *d, int batch, bool accumulate, float *scratch, bool write_dx) {
    /* Declined before any kernel is made where the input's gradient would
     * not take libxsmm's path anyway (the callers then make them again). */
    if (dx == NULL || !tdl_team_in_training_step() || !input_gradient_suits(d, batch)) return false;
    both_gradients_job job;
    int kernel_threads, input_threads;
    if (!kernel_gradient_prepare(&job.kernel, dkernel, x, dpre, d, batch, accumulate, scratch, &kernel_threads) ||
        !input_gradient_prepare(&job.input, dx, kernel, dpre, d, batch, scratch, write_dx, &input_threads) ||
        kernel_threads != input_threads) {
        return false;
    }
    /* A narrow kernel gradient reads its dpre^T after the first F * U
     * floats of the scratch, which only the narrow input gradient leaves
     * alone: the other one's dpre^T and dx^T run from the scratch's start
     * over it. One call after the other, each makes its own again. */
    if (job.kernel.narrow && !job.input.narrow) return false;
    tdl_team_run(kernel_threads, both_gradients_share, &job);
    return true;
}

/* ---- a training step's whole backward on the kernel's two owners ------------ */

/* Everything a layer's backward does past dy, in one call of the team when
 * two threads own the kernel's rows: each owner makes dpre = dy * f'(y) in
 * a copy of its own (and, for the input's gradient, its transpose), sums
 * its half of the units over the batch for the bias's gradient, then
 * computes both gradients over its rows from its own copy. Made once by
 * the caller instead, dpre and its transpose were written on one core and
 * read on both, every step, and the other core waited: on the 2-vCPU
 * development machine that part of a 512 -> 512 layer's backward at batch
 * 32 ran 20-24 us on the caller alone, 11-16 of them the transpose. The
 * copies hold the same values and each bias sum runs over the batch in
 * order, so every gradient has the bits of the caller's dpre. */
enum { BACKWARD_OWNERS = 2 };

typedef struct owned_backward_job {
    kernel_gradient_job kernel[BACKWARD_OWNERS];
    input_gradient_job input[BACKWARD_OWNERS]; /* when dx is wanted */
    float *dpre[BACKWARD_OWNERS], *dpre_transposed[BACKWARD_OWNERS];
    const tdl_dense_desc *d;
    size_t batch;
    bool accumulate, with_input;
    const float *dy, *y;
    float *dbias;
} owned_backward_job;

static void owned_backward_share(void *context, int t, int threads) {
    owned_backward_job *j = context;
    const size_t units = (size_t)j->d->units, count = j->batch * units;
    float *dpre = j->dpre[t];
    dense_pre_activation_gradient(dpre, j->dy, j->y, j->d, count);
    if (j->dbias != NULL) {
        size_t begin, end;
        tdl_team_share(units, t, threads, &begin, &end);
        dense_bias_gradient(j->dbias, dpre, j->batch, units, begin, end, j->accumulate);
    }
    kernel_gradient_share(&j->kernel[t], t, threads);
    if (j->with_input) {
        transpose(j->dpre_transposed[t], dpre, j->batch, units);
        input_gradient_share(&j->input[t], t, threads);
    }
}

size_t dense_xsmm_owned_backward_scratch(const tdl_dense_desc *d, int batch) {
    if (!input_gradient_suits(d, batch)) return 0;
    /* 2 * B * U, formed only once it is known to fit. */
    if ((size_t)batch > SIZE_MAX / 2 / (size_t)d->units) return SIZE_MAX;
    return 2 * (size_t)batch * (size_t)d->units;
}

bool dense_xsmm_backward_owned(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                               const float *x, const float *kernel, const tdl_dense_desc *d, int batch,
                               bool accumulate, float *workspace, bool write_dx) {
    if (!enabled(d) || !tdl_team_in_training_step() || owner_threads(d) != BACKWARD_OWNERS ||
        !input_gradient_suits(d, batch)) {
        return false;
    }
    /* dense.c's workspace: dpre, the input gradient's scratch (dpre^T and
     * dx^T), then the second owner's dpre and dpre^T. */
    const size_t count = (size_t)batch * (size_t)d->units;
    float *scratch = workspace + count, *second = scratch + dense_xsmm_input_gradient_scratch(d, batch);
    owned_backward_job job = {.dpre = {workspace, second},
                              .dpre_transposed = {scratch, second + count},
                              .d = d,
                              .batch = (size_t)batch,
                              .accumulate = accumulate,
                              .with_input = dx != NULL,
                              .dy = dy,
                              .y = y,
                              .dbias = dbias};
    int kernel_threads, input_threads = BACKWARD_OWNERS;
    if (!kernel_gradient_prepare(&job.kernel[0], dkernel, x, job.dpre[0], d, batch, accumulate, NULL,
                                 &kernel_threads) ||
        (dx != NULL && !input_gradient_plan(&job.input[0], dx, kernel, d, batch, job.dpre_transposed[0],
                                            scratch + count, write_dx, &input_threads)) ||
        kernel_threads != BACKWARD_OWNERS || input_threads != BACKWARD_OWNERS) {
        return false;
    }
    /* The same tiles and kernels; the second owner reads its own copies. */
    job.kernel[1] = job.kernel[0];
    job.kernel[1].dpre = job.dpre[1];
    if (dx != NULL) {
        job.input[1] = job.input[0];
        job.input[1].dpre_transposed = job.dpre_transposed[1];
    }
    tdl_team_run(BACKWARD_OWNERS, owned_backward_share, &job);
    return true;
}

#else /* !TDL_HAVE_LIBXSMM: BLAS does everything. */

bool dense_xsmm_forward(float *y, const float *x, const float *kernel, const float *bias, const tdl_dense_desc *d,
                        int batch) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)d, (void)batch;
    return false;
}

bool dense_xsmm_forward_owned(float *y, const float *x, const float *kernel, const float *bias,
                              const tdl_dense_desc *d, int batch, float *workspace) {
    (void)y, (void)x, (void)kernel, (void)bias, (void)d, (void)batch, (void)workspace;
    return false;
}

size_t dense_xsmm_owned_forward_scratch(const tdl_dense_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

bool dense_xsmm_backprop_kernel(float *dkernel, const float *x, const float *dpre, const tdl_dense_desc *d,
                                int batch, bool accumulate, float *scratch) {
    (void)dkernel, (void)x, (void)dpre, (void)d, (void)batch, (void)accumulate, (void)scratch;
    return false;
}

bool dense_xsmm_backprop_input(float *dx, const float *kernel, const float *dpre, const tdl_dense_desc *d, int batch,
                               float *scratch, bool write_dx) {
    (void)dx, (void)kernel, (void)dpre, (void)d, (void)batch, (void)scratch, (void)write_dx;
    return false;
}

bool dense_xsmm_backprop_owned(float *dkernel, float *dx, const float *x, const float *kernel, const float *dpre,
                               const tdl_dense_desc *d, int batch, bool accumulate, float *scratch, bool write_dx) {
    (void)dkernel, (void)dx, (void)x, (void)kernel, (void)dpre, (void)d, (void)batch, (void)accumulate, (void)scratch;
    (void)write_dx;
    return false;
}

size_t dense_xsmm_input_gradient_scratch(const tdl_dense_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

bool dense_xsmm_backward_owned(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                               const float *x, const float *kernel, const tdl_dense_desc *d, int batch,
                               bool accumulate, float *workspace, bool write_dx) {
    (void)dx, (void)dkernel, (void)dbias, (void)dy, (void)y, (void)x, (void)kernel, (void)d, (void)batch;
    (void)accumulate, (void)workspace, (void)write_dx;
    return false;
}

size_t dense_xsmm_owned_backward_scratch(const tdl_dense_desc *d, int batch) {
    (void)d, (void)batch;
    return 0;
}

#endif
