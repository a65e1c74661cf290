/* libtdlrt_mpi: data-parallel training of tsc-generated models over MPI.
 *
 * Each process holds the whole model and trains on its own share of every
 * batch; after computing its gradients it sums them with the others' and
 * every process takes the same optimizer step:
 *
 *     NAME_init(m, seed + rank);                         // dropout differs per rank
 *     tdl_mpi_broadcast_parameters(comm, NAME_parameters(m, &n), n, state, state_n);
 *     for (each step) {
 *         tdl_status s = NAME_compute_gradients(m, batch, inputs…, &loss);
 *         s = tdl_mpi_agree(comm, s);                    // one failure stops all
 *         if (s != TDL_STATUS_OK) break;
 *         tdl_mpi_allreduce_gradients(comm, NAME_gradients(m, &n), n);
 *         NAME_apply_gradients(m, 1.0f);
 *     }
 *
 * The functions work on the contiguous blocks the generated accessors
 * return, so one library serves every model. Each is collective: every
 * process of `comm` calls it with the same count. See docs/distributed.md. */
#ifndef TDL_MPI_H
#define TDL_MPI_H

#include <stddef.h>

#include <mpi.h>

#include "tdl/runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Rank 0's parameters, and its non-trainable state (state may be NULL
 * when state_count is 0), to every process: call after NAME_init or
 * NAME_load on rank 0, so that all processes start from the same weights. */
tdl_status tdl_mpi_broadcast_parameters(MPI_Comm comm, float *parameters, size_t count, float *state,
                                        size_t state_count);

/* The gradients of all processes summed in place and divided by the
 * number of processes: the gradient of the mean loss over the union of
 * the processes' batches when they are of equal size. One MPI_Allreduce,
 * in chunks when count exceeds what an int counts. */
tdl_status tdl_mpi_allreduce_gradients(MPI_Comm comm, float *gradients, size_t count);

/* Non-trainable state (batch-norm moving statistics) averaged over the
 * processes, e.g. before rank 0 evaluates or saves. */
tdl_status tdl_mpi_average_state(MPI_Comm comm, float *state, size_t count);

/* Agreement on a status that each process computed on its own (loading
 * weights, a compute_gradients call): TDL_STATUS_OK on every process when
 * all were OK; otherwise every process returns the failure of the lowest
 * failing rank, and its message (tdl_last_error()) says which rank failed
 * and, on that rank, why. Call it before the next collective call, so that
 * a failure on one process stops all of them instead of leaving the others
 * waiting. */
tdl_status tdl_mpi_agree(MPI_Comm comm, tdl_status local);

#ifdef __cplusplus
}
#endif

#endif /* TDL_MPI_H */
