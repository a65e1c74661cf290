/* fx_spatial compiled with --weights (an inference build, its parameters
 * static const, its scratch sized by tdl_conv2d_transpose_forward_workspace_size):
 * forward on the fixture's images gives the fixture's PyTorch logits, on
 * both convolution paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "fx_spatial.h"

enum { BATCH = 6, CLASSES = 5 };

/* The forward of the whole batch against expect.initial.logits. */
static void test_forward_matches_torch(void **state)
{
    (void)state;
    static float image[BATCH][9][10][2], want[BATCH][CLASSES];
    tdl_tensor_ref refs[2] = {{.name = "input.image", .data = &image[0][0][0][0], .rank = 4, .shape = {BATCH, 9, 10, 2}},
                              {.name = "expect.initial.logits", .data = &want[0][0], .rank = 2, .shape = {BATCH, CLASSES}}};
    if (tdl_safetensors_load(FIXTURE, refs, 2) != TDL_STATUS_OK)
        fail_msg("%s: %s", FIXTURE, tdl_last_error());
    fx_spatial *m = fx_spatial_create(BATCH);
    assert_non_null(m);
    const tdl_kernel_path paths[2] = {TDL_KERNEL_PATH_AUTO, TDL_KERNEL_PATH_BLAS};
    for (int p = 0; p < 2; p++) {
        tdl_set_kernel_path(paths[p]);
        float probs[BATCH][CLASSES], logits[BATCH][CLASSES];
        assert_int_equal(fx_spatial_forward(m, BATCH, (const float(*)[9][10][2])image, probs, logits), TDL_STATUS_OK);
        double worst = 0.0;
        for (int i = 0; i < BATCH; i++)
            for (int c = 0; c < CLASSES; c++)
                worst = fmax(worst, fabs((double)logits[i][c] - want[i][c]));
        printf("fx_spatial --weights forward, path %d: max|diff| = %.1e\n", p, worst);
        assert_true(worst <= 1e-4);
    }
    fx_spatial_destroy(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_forward_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
