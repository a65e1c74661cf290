/* NAME_forward on two threads runs a batch of 32 or more as one slice of
 * the batch per thread (runtime/src/model_forward.c): each slice's
 * outputs are bit for bit those of a one-thread forward of just its
 * examples, and the whole batch's agree with a one-thread forward of the
 * whole batch. Models with convolutions and pooling (fx_spatial) and a
 * concatenation (fx_concat); and a batch_norm folded into its convolution
 * (fx_batch_norm), whose forward runs as one pass on the two threads (the
 * folded scale and shift are a buffer of the model's without the batch,
 * which the compiler does not let slices share): its outputs are then the
 * one-thread whole batch's, bit for bit where the runtime's kernels run
 * (the automatic path), and only close to its halves' on the BLAS path,
 * where OpenBLAS's kernels may round an example's sums differently at
 * another row of a product (its SkylakeX and Prescott kernels do, on an
 * Intel Xeon). An output left NULL stays unwritten. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "e2e_data.h"
#include "fx_batch_norm.h"
#include "fx_concat.h"
#include "fx_spatial.h"

/* Two slices of 25 and 25 examples on two threads (tdl_team_share). */
enum { BATCH = 50, HALF = BATCH / 2, CLASSES = 5 };

typedef struct slice_data {
    float image[BATCH][9][10][2];
    float probs[BATCH][CLASSES], logits[BATCH][CLASSES];
    float half_probs[BATCH][CLASSES], half_logits[BATCH][CLASSES];
    float one_probs[BATCH][CLASSES], one_logits[BATCH][CLASSES];
} slice_data;

static slice_data data;

/* The three models' forwards have one signature; each test runs this
 * with its own, and whether its forward runs in slices. */
#define CHECK_SLICES(prefix, sliced)                                                                               \
    do {                                                                                                           \
        prefix *m = prefix##_create(BATCH);                                                                        \
        assert_non_null(m);                                                                                        \
        prefix##_init(m, 7);                                                                                       \
        e2e_rng rng = {11};                                                                                        \
        e2e_fill_uniform(&rng, &data.image[0][0][0][0], sizeof data.image / sizeof(float), -1.0f, 1.0f);         \
        const int before = tdl_get_num_threads();                                                                  \
        tdl_set_num_threads(1);                                                                                    \
        assert_int_equal(prefix##_forward(m, BATCH, (const float(*)[9][10][2])data.image, data.one_probs,         \
                                          data.one_logits),                                                        \
                         TDL_STATUS_OK);                                                                           \
        for (int first = 0; first < BATCH; first += HALF)                                                          \
            assert_int_equal(prefix##_forward(m, HALF, (const float(*)[9][10][2])data.image + first,               \
                                              data.half_probs + first, data.half_logits + first),                  \
                             TDL_STATUS_OK);                                                                       \
        tdl_set_num_threads(2);                                                                                    \
        memset(data.logits, 0xff, sizeof data.logits);                                                             \
        assert_int_equal(prefix##_forward(m, BATCH, (const float(*)[9][10][2])data.image, data.probs, NULL),      \
                         TDL_STATUS_OK);                                                                           \
        for (size_t i = 0; i < sizeof data.logits; ++i) assert_int_equal(((unsigned char *)data.logits)[i], 0xff); \
        assert_int_equal(prefix##_forward(m, BATCH, (const float(*)[9][10][2])data.image, data.probs,             \
                                          data.logits),                                                            \
                         TDL_STATUS_OK);                                                                           \
        tdl_set_num_threads(before);                                                                               \
        if (sliced) {                                                                                              \
            assert_memory_equal(data.probs, data.half_probs, sizeof data.probs);                                   \
            assert_memory_equal(data.logits, data.half_logits, sizeof data.logits);                                \
        } else if (tdl_get_kernel_path() == TDL_KERNEL_PATH_AUTO) {                                               \
            assert_memory_equal(data.probs, data.one_probs, sizeof data.probs);                                    \
            assert_memory_equal(data.logits, data.one_logits, sizeof data.logits);                                 \
        }                                                                                                          \
        for (int b = 0; b < BATCH; ++b)                                                                            \
            for (int k = 0; k < CLASSES; ++k) {                                                                    \
                assert_float_equal(data.probs[b][k], data.one_probs[b][k], 1e-5);                                  \
                assert_float_equal(data.logits[b][k], data.one_logits[b][k], 1e-4);                                \
            }                                                                                                      \
        prefix##_destroy(m);                                                                                       \
    } while (0)

static void test_spatial_slices(void **state) {
    (void)state;
    CHECK_SLICES(fx_spatial, true);
}

static void test_concat_slices(void **state) {
    (void)state;
    CHECK_SLICES(fx_concat, true);
}

static void test_batch_norm_slices(void **state) {
    (void)state;
    CHECK_SLICES(fx_batch_norm, false);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spatial_slices),
        cmocka_unit_test(test_concat_slices),
        cmocka_unit_test(test_batch_norm_slices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
