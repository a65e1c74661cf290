/* What the runtime sees of the CPU it runs on, checked against what an
 * emulated CPU model should show, so that the isa tests cannot pass on the
 * build machine's own instruction set by mistake:
 *   isa_probe baseline   no AVX at all: the elementwise loops run their
 *                        baseline clones and libxsmm cannot generate code,
 *                        so every kernel takes the BLAS path on its own;
 *   isa_probe avx        AVX but neither AVX2 nor FMA (a Sandy Bridge): the
 *                        baseline clones beside libxsmm's AVX kernels, so
 *                        the clones' vector code of the libxsmm path
 *                        (Winograd's transforms, dense_narrow.c) runs
 *                        in its baseline form;
 *   isa_probe avx2       AVX2 and FMA but no AVX-512: the AVX2 clones and
 *                        libxsmm's AVX2 kernels.
 * The clones are picked from the same CPU model data that
 * __builtin_cpu_supports reads (vector.h). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "tdl/runtime.h"

static int expect(const char *what, bool seen, bool wanted) {
    printf("%-28s %s\n", what, seen ? "yes" : "no");
    if (seen == wanted) return 0;
    fprintf(stderr, "isa_probe: expected %s to be %s on this CPU model\n", what, wanted ? "yes" : "no");
    return 1;
}

int main(int argc, char **argv) {
    const bool baseline = argc == 2 && strcmp(argv[1], "baseline") == 0;
    const bool avx = argc == 2 && strcmp(argv[1], "avx") == 0;
    const bool avx2 = argc == 2 && strcmp(argv[1], "avx2") == 0;
    if (!baseline && !avx && !avx2) {
        fprintf(stderr, "usage: isa_probe baseline|avx|avx2\n");
        return 2;
    }
    __builtin_cpu_init();
    int failures = 0;
    failures += expect("AVX", __builtin_cpu_supports("avx"), avx || avx2);
    failures += expect("AVX2", __builtin_cpu_supports("avx2"), avx2);
    failures += expect("FMA", __builtin_cpu_supports("fma"), avx2);
    failures += expect("AVX-512F", __builtin_cpu_supports("avx512f"), false);
    failures += expect("libxsmm generates kernels", tdl_xsmm_available(), avx || avx2);
    return failures == 0 ? 0 : 1;
}
