/* Links against the installed libtdlrt through pkg-config and calls it: a
 * 2x2 matrix product through OpenBLAS and the error strings. */
#include <stdio.h>
#include <string.h>

#include <tdl/runtime.h>

int main(void) {
    const float a[4] = {1, 2, 3, 4};
    const float b[4] = {5, 6, 7, 8};
    float c[4] = {0};
    tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, 2, 2, 2, 1.0f, a, 2, b, 2, 0.0f, c, 2);
    const float expected[4] = {19, 22, 43, 50};
    for (int i = 0; i < 4; i++)
        if (c[i] != expected[i]) {
            fprintf(stderr, "c[%d] = %g, expected %g\n", i, (double)c[i], (double)expected[i]);
            return 1;
        }
    if (strcmp(tdl_status_name(TDL_STATUS_BAD_LABEL), "TDL_STATUS_BAD_LABEL") != 0) {
        fprintf(stderr, "tdl_status_name: %s\n", tdl_status_name(TDL_STATUS_BAD_LABEL));
        return 1;
    }
    printf("tdlrt ABI %d: sgemm ok\n", TDL_RUNTIME_ABI);
    return 0;
}
