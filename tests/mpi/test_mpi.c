/* libtdlrt_mpi under `mpirun -np 2`: every process runs these tests, and
 * each test is collective (all processes call the same functions in the same
 * order). The reference for data-parallel training is the same model trained
 * in one process on the union of the processes' batches. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tdl/mpi.h"

#include "e2e_data.h"
#include "fx_adam.h"
#include "fx_sgd.h"

enum { PER_RANK = 3, STEPS = 5, MAX_RANKS = 8 };
#define TOLERANCE 1e-5f

static int rank, size;

/* The examples of one step for all processes together: process r takes
 * examples [r * PER_RANK, (r + 1) * PER_RANK). */
typedef struct step_data {
    float image[MAX_RANKS * PER_RANK][9][10][2];
    int32_t label[MAX_RANKS * PER_RANK];
} step_data;

static void fill_step(step_data *d, int step) {
    e2e_rng rng = {1000u + (uint64_t)step};
    e2e_fill_uniform(&rng, &d->image[0][0][0][0], (size_t)(size * PER_RANK) * 9 * 10 * 2, -1.0f, 1.0f);
    e2e_fill_labels(&rng, d->label, (size_t)(size * PER_RANK), 5);
}

#define IMAGES(d, first) ((const float(*)[9][10][2])(d)->image[first])

static float max_difference(const float *a, const float *b, size_t n) {
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++) {
        float diff = fabsf(a[i] - b[i]);
        if (!(diff <= worst)) worst = diff; /* a NaN is the worst */
    }
    return worst;
}

/* Every process holds the same block, bit for bit: each float's minimum and
 * maximum over the processes are equal. */
static int same_on_every_rank(const float *block, size_t n) {
    float *lo = malloc(n * sizeof *lo), *hi = malloc(n * sizeof *hi);
    assert_non_null(lo);
    assert_non_null(hi);
    assert_int_equal(MPI_Allreduce(block, lo, (int)n, MPI_FLOAT, MPI_MIN, MPI_COMM_WORLD), MPI_SUCCESS);
    assert_int_equal(MPI_Allreduce(block, hi, (int)n, MPI_FLOAT, MPI_MAX, MPI_COMM_WORLD), MPI_SUCCESS);
    int same = memcmp(lo, hi, n * sizeof *lo) == 0;
    free(lo);
    free(hi);
    return same;
}

/* Data-parallel SGD: P processes with PER_RANK examples each give, after
 * STEPS steps, the parameters one process gets from P * PER_RANK examples. */
static void test_sgd_equals_one_process(void **state) {
    (void)state;
    fx_sgd *shard = fx_sgd_create(PER_RANK), *whole = fx_sgd_create(size * PER_RANK);
    assert_non_null(shard);
    assert_non_null(whole);
    fx_sgd_init(shard, 11u + (uint64_t)rank); /* rank 0's weights arrive by broadcast */
    fx_sgd_init(whole, 11u);
    size_t n = 0;
    float *params = fx_sgd_parameters(shard, &n);
    assert_int_equal(tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, params, n, NULL, 0), TDL_STATUS_OK);
    step_data *d = malloc(sizeof *d);
    assert_non_null(d);
    for (int step = 0; step < STEPS; step++) {
        fill_step(d, step);
        float loss = 0.0f, whole_loss = 0.0f;
        tdl_status status = fx_sgd_compute_gradients(shard, PER_RANK, IMAGES(d, rank * PER_RANK),
                                                     d->label + rank * PER_RANK, &loss);
        assert_int_equal(tdl_mpi_agree(MPI_COMM_WORLD, status), TDL_STATUS_OK);
        size_t g = 0;
        float *grads = fx_sgd_gradients(shard, &g);
        assert_int_equal(tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, grads, g), TDL_STATUS_OK);
        assert_int_equal(fx_sgd_apply_gradients(shard, 1.0f), TDL_STATUS_OK);
        assert_int_equal(fx_sgd_train_step(whole, size * PER_RANK, IMAGES(d, 0), d->label, &whole_loss),
                         TDL_STATUS_OK);
        /* The mean of the processes' mean losses is the mean loss of all. */
        float mean_loss = 0.0f;
        assert_int_equal(MPI_Allreduce(&loss, &mean_loss, 1, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD), MPI_SUCCESS);
        mean_loss /= (float)size;
        assert_true(fabsf(mean_loss - whole_loss) <= TOLERANCE * fmaxf(1.0f, fabsf(whole_loss)));
    }
    size_t m = 0;
    const float *reference = fx_sgd_parameters(whole, &m);
    assert_int_equal(m, n);
    float diff = max_difference(params, reference, n);
    if (!(diff <= TOLERANCE)) fail_msg("rank %d: SGD parameters differ from one process's by %g", rank, diff);
    assert_true(same_on_every_rank(params, n));
    free(d);
    fx_sgd_destroy(shard);
    fx_sgd_destroy(whole);
}

/* The same for Adam, whose step divides by the root of the second moment:
 * the gradients must be the average, not the sum. */
static void test_adam_equals_one_process(void **state) {
    (void)state;
    fx_adam *shard = fx_adam_create(PER_RANK), *whole = fx_adam_create(size * PER_RANK);
    assert_non_null(shard);
    assert_non_null(whole);
    fx_adam_init(shard, 5u + (uint64_t)rank);
    fx_adam_init(whole, 5u);
    size_t n = 0;
    float *params = fx_adam_parameters(shard, &n);
    assert_int_equal(tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, params, n, NULL, 0), TDL_STATUS_OK);
    step_data *d = malloc(sizeof *d);
    assert_non_null(d);
    for (int step = 0; step < STEPS; step++) {
        fill_step(d, step);
        tdl_status status = fx_adam_compute_gradients(shard, PER_RANK, IMAGES(d, rank * PER_RANK),
                                                      d->label + rank * PER_RANK, NULL);
        assert_int_equal(tdl_mpi_agree(MPI_COMM_WORLD, status), TDL_STATUS_OK);
        size_t g = 0;
        float *grads = fx_adam_gradients(shard, &g);
        assert_int_equal(tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, grads, g), TDL_STATUS_OK);
        assert_int_equal(fx_adam_apply_gradients(shard, 1.0f), TDL_STATUS_OK);
        assert_int_equal(fx_adam_train_step(whole, size * PER_RANK, IMAGES(d, 0), d->label, NULL), TDL_STATUS_OK);
    }
    const float *reference = fx_adam_parameters(whole, &n);
    float diff = max_difference(params, reference, n);
    if (!(diff <= TOLERANCE)) fail_msg("rank %d: Adam parameters differ from one process's by %g", rank, diff);
    assert_true(same_on_every_rank(params, n));
    free(d);
    fx_adam_destroy(shard);
    fx_adam_destroy(whole);
}

/* Processes initialised from different seeds (so that their dropout streams
 * differ) hold rank 0's weights after the broadcast, and their streams stay
 * their own. */
static void test_broadcast_makes_ranks_identical(void **state) {
    (void)state;
    fx_adam *m = fx_adam_create(1);
    assert_non_null(m);
    fx_adam_init(m, 100u + (uint64_t)rank);
    size_t n = 0;
    float *params = fx_adam_parameters(m, &n);
    float state_block[4] = {(float)rank, 1.0f, 2.0f * (float)rank, 3.0f};
    if (size > 1) assert_false(same_on_every_rank(params, n));
    assert_int_equal(tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, params, n, state_block, 4), TDL_STATUS_OK);
    assert_true(same_on_every_rank(params, n));
    const float expected_state[4] = {0.0f, 1.0f, 0.0f, 3.0f};
    assert_memory_equal(state_block, expected_state, sizeof expected_state);
    fx_adam *rank0 = fx_adam_create(1);
    assert_non_null(rank0);
    fx_adam_init(rank0, 100u);
    assert_memory_equal(params, fx_adam_parameters(rank0, &n), n * sizeof(float));
    uint64_t stream = ((const tdl_model *)(const void *)m)->dropout_rng.state, lowest = 0, highest = 0;
    MPI_Allreduce(&stream, &lowest, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&stream, &highest, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (size > 1) assert_true(lowest != highest);
    fx_adam_destroy(rank0);
    fx_adam_destroy(m);
}

/* State averages; gradients average. */
static void test_average_state(void **state) {
    (void)state;
    float block[3] = {(float)rank, 10.0f * (float)rank, 4.0f};
    assert_int_equal(tdl_mpi_average_state(MPI_COMM_WORLD, block, 3), TDL_STATUS_OK);
    float mean_rank = (float)(size - 1) / 2.0f;
    assert_true(fabsf(block[0] - mean_rank) <= 1e-6f);
    assert_true(fabsf(block[1] - 10.0f * mean_rank) <= 1e-5f);
    assert_true(block[2] == 4.0f);
    assert_int_equal(tdl_mpi_average_state(MPI_COMM_WORLD, NULL, 0), TDL_STATUS_OK);
}

/* One process that cannot load its weights stops every process with an
 * error naming it, instead of leaving the others waiting in the next
 * collective call. */
static void test_failed_load_stops_every_rank(void **state) {
    (void)state;
    fx_sgd *m = fx_sgd_create(1);
    assert_non_null(m);
    const char *good = TSC_BINARY_DIR "/tests/mpi/test_mpi_weights.safetensors";
    if (rank == 0) assert_int_equal(fx_sgd_save(m, good), TDL_STATUS_OK);
    MPI_Barrier(MPI_COMM_WORLD);
    const char *path = rank == size - 1 ? TSC_BINARY_DIR "/tests/mpi/no-such-file.safetensors" : good;
    tdl_status status = tdl_mpi_agree(MPI_COMM_WORLD, fx_sgd_load(m, path));
    if (size > 1 || rank == size - 1) {
        assert_int_equal(status, TDL_STATUS_IO);
        char expected[32];
        snprintf(expected, sizeof expected, "rank %d failed: ", size - 1);
        if (!strstr(tdl_last_error(), expected) || !strstr(tdl_last_error(), "no-such-file"))
            fail_msg("rank %d: message \"%s\"", rank, tdl_last_error());
    }
    /* Everybody fine is fine everywhere. */
    assert_int_equal(tdl_mpi_agree(MPI_COMM_WORLD, TDL_STATUS_OK), TDL_STATUS_OK);
    fx_sgd_destroy(m);
}

/* A gradient that is not finite on one process is not finite in the sum:
 * every process refuses the step, and all stay in step with each other. */
static void test_nan_on_one_rank_stops_every_update(void **state) {
    (void)state;
    fx_sgd *m = fx_sgd_create(PER_RANK);
    assert_non_null(m);
    fx_sgd_init(m, 3);
    step_data *d = malloc(sizeof *d);
    assert_non_null(d);
    fill_step(d, 0);
    assert_int_equal(fx_sgd_compute_gradients(m, PER_RANK, IMAGES(d, rank * PER_RANK), d->label + rank * PER_RANK,
                                              NULL),
                     TDL_STATUS_OK);
    size_t g = 0, n = 0;
    float *grads = fx_sgd_gradients(m, &g);
    if (rank == size - 1) grads[g / 2] = NAN;
    assert_int_equal(tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, grads, g), TDL_STATUS_OK);
    float *params = fx_sgd_parameters(m, &n);
    float *before = malloc(n * sizeof *before);
    assert_non_null(before);
    memcpy(before, params, n * sizeof *before);
    assert_int_equal(fx_sgd_apply_gradients(m, 1.0f), TDL_STATUS_NOT_FINITE);
    assert_memory_equal(before, params, n * sizeof *before);
    free(before);
    free(d);
    fx_sgd_destroy(m);
}

/* NULL blocks with a count are refused on the process that passed them, and
 * the broadcast's agreement tells the others. */
static void test_bad_arguments(void **state) {
    (void)state;
    assert_int_equal(tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, NULL, 3), TDL_STATUS_BAD_ARGUMENT);
    assert_int_equal(tdl_mpi_average_state(MPI_COMM_WORLD, NULL, 3), TDL_STATUS_BAD_ARGUMENT);
    float block[2] = {1.0f, 2.0f};
    float *params = rank == 0 ? NULL : block;
    assert_int_equal(tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, params, 2, NULL, 0), TDL_STATUS_BAD_ARGUMENT);
    if (!strstr(tdl_last_error(), "rank 0 failed: tdl_mpi_broadcast_parameters: the parameter block is NULL"))
        fail_msg("rank %d: message \"%s\"", rank, tdl_last_error());
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    if (size > MAX_RANKS) {
        if (rank == 0) fprintf(stderr, "test_mpi: at most %d processes\n", MAX_RANKS);
        MPI_Finalize();
        return 1;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sgd_equals_one_process),
        cmocka_unit_test(test_adam_equals_one_process),
        cmocka_unit_test(test_broadcast_makes_ranks_identical),
        cmocka_unit_test(test_average_state),
        cmocka_unit_test(test_failed_load_stops_every_rank),
        cmocka_unit_test(test_nan_on_one_rank_stops_every_update),
        cmocka_unit_test(test_bad_arguments),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    /* A process whose test failed skipped collective calls the others wait
     * in: abort them all rather than hang. */
    int any_failed = 0;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any_failed ? 1 : 0;
}
