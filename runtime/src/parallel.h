/* Internal to libtdlrt: running the parts of a kernel on several threads. */
#ifndef TDL_PARALLEL_H
#define TDL_PARALLEL_H

/* One part of a kernel's work: part in [0, parts). */
typedef void (*tdl_part_fn)(void *context, int part, int parts);

/* Runs body(context, part, parts) for every part, part 0 on the calling thread
 * and each other part on a thread of its own, and returns when all are done.
 * A part whose thread cannot be started runs on the calling thread instead. */
void tdl_parallel_run(int parts, tdl_part_fn body, void *context);

#endif /* TDL_PARALLEL_H */
