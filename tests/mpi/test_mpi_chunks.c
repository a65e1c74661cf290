/* libtdlrt_mpi's chunked path: this test is linked with tdl_mpi.c built
 * with TDL_MPI_CHUNK_FLOATS=3, so blocks of a few floats take several MPI
 * calls, as blocks of more than INT_MAX floats do in the library. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tdl/mpi.h"

enum { COUNT = 11 }; /* three full chunks and a short one */

static int rank, size;

static void test_chunked_allreduce(void **state) {
    (void)state;
    float block[COUNT];
    for (int i = 0; i < COUNT; i++) block[i] = (float)(i * (rank + 1));
    assert_int_equal(tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, block, COUNT), TDL_STATUS_OK);
    /* mean over ranks of i * (rank + 1) = i * (size + 1) / 2 */
    for (int i = 0; i < COUNT; i++)
        assert_true(fabsf(block[i] - (float)i * (float)(size + 1) / 2.0f) <= 1e-5f * (float)(i + 1));
}

static void test_chunked_broadcast(void **state) {
    (void)state;
    float params[COUNT], state_block[5];
    for (int i = 0; i < COUNT; i++) params[i] = (float)(rank * 100 + i);
    for (int i = 0; i < 5; i++) state_block[i] = (float)(rank * 1000 - i);
    assert_int_equal(tdl_mpi_broadcast_parameters(MPI_COMM_WORLD, params, COUNT, state_block, 5), TDL_STATUS_OK);
    for (int i = 0; i < COUNT; i++) assert_true(params[i] == (float)i);
    for (int i = 0; i < 5; i++) assert_true(state_block[i] == (float)-i);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chunked_allreduce),
        cmocka_unit_test(test_chunked_broadcast),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL), any_failed = 0;
    MPI_Allreduce(&failed, &any_failed, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    MPI_Finalize();
    return any_failed ? 1 : 0;
}
