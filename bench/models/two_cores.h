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

#endif
