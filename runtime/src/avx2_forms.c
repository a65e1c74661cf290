/* Which forms of the loops written for AVX-512 run (avx2_forms.h). */
#include "avx2_forms.h"

#include <stdatomic.h>

static atomic_bool avx2_preferred;

bool tdl_avx2_forms_available(void) {
#if defined(__x86_64__) && defined(__GNUC__)
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return false;
#endif
}

bool tdl_avx2_forms(void) {
    if (!tdl_avx2_forms_available()) return false;
#if defined(__x86_64__) && defined(__GNUC__)
    return atomic_load_explicit(&avx2_preferred, memory_order_relaxed) || !__builtin_cpu_supports("avx512f");
#else
    return false;
#endif
}

void tdl_prefer_avx2_forms(bool prefer) { atomic_store(&avx2_preferred, prefer); }
