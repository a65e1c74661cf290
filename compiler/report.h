/* Reports on a checked file: --summary (summary.c) and --dot (dot.c). */
#ifndef TSC_REPORT_H
#define TSC_REPORT_H

#include <stdio.h>

#include "check.h"

/* batch: the size used for the B dimension in activation bytes and FLOPs. */
void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch);
void tsc_print_dot(FILE *out, const checked_file *file);

#endif /* TSC_REPORT_H */
