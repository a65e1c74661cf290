/* The first two cores the process may run on, and pinning a thread to one
 * (core_latency.c, shared_core.c). */
#ifndef BENCH_TWO_CORES_H
#define BENCH_TWO_CORES_H

/* Fills cpus with the first two CPUs of the process's affinity mask and
 * returns how many there are (0 to 2), or -1 when the mask cannot be read
 * (errno says why). */
int two_cores_find(int cpus[2]);

/* Pins the calling thread to `cpu`; 0 on success. */
int two_cores_pin(int cpu);

/* What every tool here does first: finds the two cores and pins the calling
 * thread to the first. Returns 0 when it did; 1 when there are fewer than
 * two cores (it has printed "one core", the tool's whole answer then); -1
 * on an error, which it has reported on stderr after "tool: ". */
int two_cores_start(const char *tool, int cpus[2]);

#endif
