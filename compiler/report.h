/* Reports on a checked file: --summary (summary.c) and --dot (dot.c). */
#ifndef TSC_REPORT_H
#define TSC_REPORT_H

#include <stdio.h>

#include "check.h"
#include "codegen.h"

/* batch: the size used for the B dimension in activation bytes and FLOPs. */
void tsc_print_summary(FILE *out, const checked_file *file, int64_t batch);
/* The same for the code these options generate: its arena, and with an
 * inference build the flash and RAM a firmware image needs. */
void tsc_print_summary_with(FILE *out, const checked_file *file, int64_t batch, const tsc_codegen_options *options);
void tsc_print_dot(FILE *out, const checked_file *file);

#endif /* TSC_REPORT_H */
