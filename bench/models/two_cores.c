/* The first two cores the process may run on (two_cores.h). */
#define _GNU_SOURCE
#include "two_cores.h"

#include <pthread.h>
#include <sched.h>
#include <stdio.h>

int two_cores_find(int cpus[2]) {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return -1;
    int found = 0;
    for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; ++cpu)
        if (CPU_ISSET(cpu, &allowed)) cpus[found++] = cpu;
    return found;
}

int two_cores_pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    return pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

int two_cores_start(const char *tool, int cpus[2]) {
    const int found = two_cores_find(cpus);
    if (found < 0) {
        fprintf(stderr, "%s: ", tool);
        perror("sched_getaffinity");
        return -1;
    }
    if (found < 2) {
        puts("one core");
        return 1;
    }
    if (two_cores_pin(cpus[0]) != 0) {
        fprintf(stderr, "%s: cannot pin a thread to a core\n", tool);
        return -1;
    }
    return 0;
}
