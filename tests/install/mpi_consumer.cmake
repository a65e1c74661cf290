# A project of its own against the installed tree that links
# tsc::runtime_mpi: the exported target carries MPI and libtdlrt, and the
# program runs (one process, no mpirun needed for MPI_Init).
include("${CMAKE_CURRENT_LIST_DIR}/common.cmake")

set(source "${WORK_DIR}/mpi-consumer-src")
set(build "${WORK_DIR}/mpi-consumer-build")
file(REMOVE_RECURSE "${source}" "${build}")
file(WRITE "${source}/CMakeLists.txt" [=[
cmake_minimum_required(VERSION 3.20)
project(mpi_consumer C)
find_package(tsc REQUIRED)
if(NOT TARGET tsc::runtime_mpi)
  message(FATAL_ERROR "the tsc package has no tsc::runtime_mpi")
endif()
add_executable(app main.c)
target_link_libraries(app PRIVATE tsc::runtime_mpi)
]=])
file(WRITE "${source}/main.c" [=[
#include <stdio.h>
#include <tdl/mpi.h>
int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    float gradients[2] = {1.0f, 3.0f};
    tdl_status status = tdl_mpi_allreduce_gradients(MPI_COMM_WORLD, gradients, 2);
    if (status == TDL_STATUS_OK) status = tdl_mpi_agree(MPI_COMM_WORLD, TDL_STATUS_OK);
    printf("%s %g %g\n", tdl_status_name(status), (double)gradients[0], (double)gradients[1]);
    MPI_Finalize();
    return status == TDL_STATUS_OK ? 0 : 1;
}
]=])

consumer_configure_args(args)
run(configure "${CMAKE_COMMAND}" -S "${source}" -B "${build}" ${args})
run(build "${CMAKE_COMMAND}" --build "${build}")
run(app "${build}/app")
if(NOT app_output MATCHES "TDL_STATUS_OK 1 3")
  message(FATAL_ERROR "the MPI consumer printed:\n${app_output}")
endif()
