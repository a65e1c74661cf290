/* Internal to libtdlrt: whether the AVX2 forms of the loops written for
 * AVX-512 run (conv_lanes.c, conv_lanes_filter.c, Winograd's transforms,
 * the dense paths that skip zero inputs).
 *
 * They run where the CPU has AVX2 and FMA but not AVX-512, and where a
 * test prefers them: each holds the same results as its AVX-512 form (the
 * same bits, but for conv_lanes_filter.c's lane sums), and a test can only
 * compare the two on a CPU that runs both. x86-64 with GCC or clang alone;
 * elsewhere neither form exists. */
#ifndef TDL_AVX2_FORMS_H
#define TDL_AVX2_FORMS_H

#include <stdbool.h>

/* The CPU has AVX2 and FMA. */
bool tdl_avx2_forms_available(void);
/* Available, and the CPU has no AVX-512 or a test prefers them. */
bool tdl_avx2_forms(void);
/* For tests: prefer them where the CPU also has AVX-512 (false again after). */
void tdl_prefer_avx2_forms(bool prefer);

#endif /* TDL_AVX2_FORMS_H */
