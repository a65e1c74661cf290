/* Internal to libtdlrt: which thread of the team owns which rows of a dense
 * layer's kernel (F x U, row-major: a row per input feature) during a
 * training step.
 *
 * A training step touches each kernel four times: the forward reads it, the
 * backward writes its gradient and reads it for the input's gradient, the
 * optimizer rewrites it and its slots. When each thread works on the same
 * rows every time, those rows, their gradients and slots stay in that
 * core's caches from one step to the next, and the optimizer's share of the
 * parameters is one contiguous range per kernel. Owning columns instead
 * would interleave the threads' writes within every row: on the 2-vCPU
 * development machine, zeroing the MLP's gradients on two threads by
 * columns took 70-120 us a call against 15 us by rows and 28 us on one
 * thread (the hardware prefetchers of one core keep reaching into the other
 * core's half of each row).
 *
 * The rows are whole blocks of OWNED_ROW_BLOCK (dense_xsmm.c's feature
 * tiles), and each thread's share ends at the block boundary nearest to an
 * even split of the rows, so dense_xsmm.c and param_split.c compute the same
 * ranges from the shape and one flag. Shares of whole blocks alone (7 and 6
 * of the MLP's 784 rows' 13 blocks, the last of 16 rows) gave 448 rows to
 * one thread and 336 to the other, LeNet-5's 400 rows 256 and 144; to the
 * nearest boundary they take 384 and 400, 192 and 208, and each pass over
 * such a kernel (forward, gradients, optimizer) waits that much less for
 * its slower thread.
 *
 * The flag: every other kernel that is split, in the order of the model's
 * parameters, gives its shares to the threads in reverse order
 * (param_split_reversed), so that each thread's rows of one kernel lie next
 * to its rows of the next, in the parameters, the gradients and the
 * optimizer's slots alike. A core's hardware prefetchers, while it streams
 * up through its own rows, read on past their end; where the other core's
 * rows follow, it must then take those lines back before it writes them.
 * On the 2-vCPU development machine, with the cores 0.5 us apart, writing
 * one float in each 64 bytes of the MLP's parameters right after a
 * training step took 9 us for the first thread's rows of the first kernel
 * (nothing below them) and 22-27 us for each other thread-and-kernel share
 * of the same size. With the second kernel reversed, at batch 32 on two
 * threads, apply_gradients right after compute_gradients (finiteness check
 * and update) went from 103-120 us to 85-91, and the training step from
 * 456-494 us to 421-450 (5 of 5 alternating runs faster). */
#ifndef TDL_OWNED_ROWS_H
#define TDL_OWNED_ROWS_H

#include <stdbool.h>
#include <stddef.h>

#include "team.h"

enum { OWNED_ROW_BLOCK = 64 };

/* Below this many floats of the kernel per thread, a kernel is owned by
 * thread 0 alone: a block of work this small costs less than a handshake. */
#define OWNED_MIN_THREAD_FLOATS 16384.0

/* How many of a team of team_threads own a (rows x cols) kernel's rows:
 * at most one per row block, and as many as have OWNED_MIN_THREAD_FLOATS
 * each. A function of the shape and the team's size alone, so that every
 * pass of a step, whichever thread asks, splits a kernel alike. */
static inline int owned_row_threads(size_t rows, size_t cols, int team_threads) {
    const size_t blocks = (rows + OWNED_ROW_BLOCK - 1) / OWNED_ROW_BLOCK;
    const double floats = (double)rows * (double)cols;
    int threads = team_threads;
    if ((double)threads * OWNED_MIN_THREAD_FLOATS > floats) threads = (int)(floats / OWNED_MIN_THREAD_FLOATS);
    if ((size_t)threads > blocks) threads = (int)blocks;
    return threads < 1 ? 1 : threads;
}

/* The block where share `share` of `threads` starts: the boundary nearest
 * to share / threads of the rows, kept far enough from both ends that every
 * share has a block (owned_row_threads gives no more threads than blocks). */
static inline size_t owned_row_boundary(size_t rows, int share, int threads) {
    const size_t blocks = (rows + OWNED_ROW_BLOCK - 1) / OWNED_ROW_BLOCK;
    if (share <= 0) return 0;
    if (share >= threads) return blocks;
    const double even = (double)rows * (double)share / (double)threads / (double)OWNED_ROW_BLOCK;
    size_t block = (size_t)(even + 0.5);
    const size_t lowest = (size_t)share;
    const size_t highest = blocks > (size_t)(threads - share) ? blocks - (size_t)(threads - share) : lowest;
    if (block > highest) block = highest;
    if (block < lowest) block = lowest;
    return block;
}

/* Rows [*begin, *end) of `rows` owned by thread t of `threads`: share t,
 * or, when `reversed`, share threads - 1 - t. */
static inline void owned_rows(size_t rows, int t, int threads, bool reversed, size_t *begin, size_t *end) {
    const int share = reversed ? threads - 1 - t : t;
    const size_t first = owned_row_boundary(rows, share, threads);
    const size_t last = owned_row_boundary(rows, share + 1, threads);
    *begin = first * OWNED_ROW_BLOCK < rows ? first * OWNED_ROW_BLOCK : rows;
    *end = last * OWNED_ROW_BLOCK < rows ? last * OWNED_ROW_BLOCK : rows;
    if (*begin > *end) *begin = *end;
}

#endif /* TDL_OWNED_ROWS_H */
