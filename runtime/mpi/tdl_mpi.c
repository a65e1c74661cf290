/* Data-parallel training over MPI: the collective calls a training loop
 * needs around the generated compute_gradients / apply_gradients halves.
 * Everything works on contiguous float blocks; nothing here knows a model. */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "tdl/mpi.h"

/* Floats per MPI call: counts are ints, and a block of more than INT_MAX
 * floats (8 GiB) goes in several calls. A test builds this file with a tiny
 * value to run the chunked path on small blocks. */
#ifndef TDL_MPI_CHUNK_FLOATS
#define TDL_MPI_CHUNK_FLOATS INT_MAX
#endif

/* The text of an MPI error code, for the message. */
static tdl_status mpi_failed(const char *function, const char *call, int code) {
    char text[MPI_MAX_ERROR_STRING] = "";
    int length = 0;
    if (MPI_Error_string(code, text, &length) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", code);
    return tdl_set_error(TDL_STATUS_IO, "%s: %s failed: %s", function, call, text);
}

static int chunk_of(size_t remaining) {
    return remaining > (size_t)TDL_MPI_CHUNK_FLOATS ? TDL_MPI_CHUNK_FLOATS : (int)remaining;
}

static tdl_status broadcast_block(MPI_Comm comm, float *block, size_t count, const char *function) {
    for (size_t done = 0; done < count;) {
        int n = chunk_of(count - done);
        int code = MPI_Bcast(block + done, n, MPI_FLOAT, 0, comm);
        if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Bcast", code);
        done += (size_t)n;
    }
    return TDL_STATUS_OK;
}

/* Sums the block over the processes in place, then divides by their number. */
static tdl_status average_block(MPI_Comm comm, float *block, size_t count, const char *function) {
    int size = 0;
    int code = MPI_Comm_size(comm, &size);
    if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Comm_size", code);
    for (size_t done = 0; done < count;) {
        int n = chunk_of(count - done);
        code = MPI_Allreduce(MPI_IN_PLACE, block + done, n, MPI_FLOAT, MPI_SUM, comm);
        if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Allreduce", code);
        done += (size_t)n;
    }
    /* One process: the sum is the block itself, and x * 1 is x. */
    if (size > 1) {
        const float scale = 1.0f / (float)size;
        for (size_t i = 0; i < count; i++) block[i] *= scale;
    }
    return TDL_STATUS_OK;
}

static tdl_status check_block(const float *block, size_t count, const char *function, const char *what) {
    if (!block && count > 0) return tdl_set_error(TDL_STATUS_BAD_ARGUMENT, "%s: %s is NULL", function, what);
    return TDL_STATUS_OK;
}

tdl_status tdl_mpi_broadcast_parameters(MPI_Comm comm, float *parameters, size_t count, float *state,
                                        size_t state_count) {
    const char *function = "tdl_mpi_broadcast_parameters";
    tdl_status status = check_block(parameters, count, function, "the parameter block");
    if (status == TDL_STATUS_OK) status = check_block(state, state_count, function, "the state block");
    /* A bad argument on one process must not leave the others waiting. */
    status = tdl_mpi_agree(comm, status);
    if (status != TDL_STATUS_OK) return status;
    status = broadcast_block(comm, parameters, count, function);
    if (status == TDL_STATUS_OK) status = broadcast_block(comm, state, state_count, function);
    return status;
}

tdl_status tdl_mpi_allreduce_gradients(MPI_Comm comm, float *gradients, size_t count) {
    const char *function = "tdl_mpi_allreduce_gradients";
    tdl_status status = check_block(gradients, count, function, "the gradient block");
    if (status != TDL_STATUS_OK) return status;
    return average_block(comm, gradients, count, function);
}

tdl_status tdl_mpi_average_state(MPI_Comm comm, float *state, size_t count) {
    const char *function = "tdl_mpi_average_state";
    tdl_status status = check_block(state, count, function, "the state block");
    if (status != TDL_STATUS_OK) return status;
    return average_block(comm, state, count, function);
}

/* What the failing process sends the others. */
typedef struct failure {
    int status;
    char message[512];
} failure;

tdl_status tdl_mpi_agree(MPI_Comm comm, tdl_status local) {
    const char *function = "tdl_mpi_agree";
    int rank = 0, size = 0, code = MPI_Comm_rank(comm, &rank);
    if (code == MPI_SUCCESS) code = MPI_Comm_size(comm, &size);
    if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Comm_rank", code);
    /* The lowest failing rank, or size when every process is fine. */
    int mine = local == TDL_STATUS_OK ? size : rank, first = size;
    code = MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, comm);
    if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Allreduce", code);
    if (first == size) return TDL_STATUS_OK;
    failure f;
    memset(&f, 0, sizeof f);
    if (rank == first) {
        f.status = (int)local;
        snprintf(f.message, sizeof f.message, "%s", tdl_last_error());
    }
    code = MPI_Bcast(&f, (int)sizeof f, MPI_BYTE, first, comm);
    if (code != MPI_SUCCESS) return mpi_failed(function, "MPI_Bcast", code);
    f.message[sizeof f.message - 1] = '\0';
    return tdl_set_error((tdl_status)f.status, "rank %d failed: %s", first, f.message);
}
