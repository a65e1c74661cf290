/* The arena: what the generated NAME_arena_size asks for (sized by libtdlrt
 * from the model's tables) and what --summary reports (tsc_model_arena, from
 * the compiler's layout) agree to the byte for every example model at
 * batches 1, 32 and 128; and a max_batch whose arena would not fit in
 * size_t gives 0 and is refused by create, never a wrapped-around size.
 * Built twice: as e2e_test_arena against the normal builds, and with
 * TSC_ARENA_INFERENCE as e2e_test_arena_inference against builds made with
 * tsc --inference, whose arenas must hold no training memory. */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fashion_cnn.h"
#include "fx_batch_norm.h"
#include "huge_arena.h"
#include "lenet5.h"
#include "mlp.h"
#include "mnist_convnet.h"
#include "mobilenet_small.h"
#include "resnet_small.h"
#include "tiny.h"
#include "unet_small.h"
#include "ast.h"
#include "check.h"
#include "codegen.h"
#include "diag.h"
#include "vgg_small.h"

typedef struct example {
    const char *path;          /* from the source tree */
    const char *model;
    size_t (*arena_size)(int max_batch);
} example;

static const example examples[] = {
    {"examples/models/lenet5.tdl", "lenet5", lenet5_arena_size},
    {"examples/models/mlp.tdl", "mlp", mlp_arena_size},
    {"examples/models/mnist_convnet.tdl", "mnist_convnet", mnist_convnet_arena_size},
    {"examples/models/vgg_small.tdl", "vgg_small", vgg_small_arena_size},
    {"examples/models/resnet_small.tdl", "resnet_small", resnet_small_arena_size},
    {"examples/models/mobilenet_small.tdl", "mobilenet_small", mobilenet_small_arena_size},
    {"examples/models/unet_small.tdl", "unet_small", unet_small_arena_size},
    {"examples/fashion_mnist/fashion_cnn.tdl", "fashion_cnn", fashion_cnn_arena_size},
    {"tests/e2e/golden/tiny.tdl", "tiny", tiny_arena_size},
    {"tests/e2e/models/huge_arena.tdl", "huge_arena", huge_arena_arena_size}, /* no training either way */
    {"tests/e2e/models/fx_batch_norm.tdl", "fx_batch_norm", fx_batch_norm_arena_size}, /* non-trainable state */
};

#ifndef TSC_ARENA_INFERENCE
#define TSC_ARENA_INFERENCE 0
#endif

/* --summary's figure for one model and batch, through the compiler. */
static uint64_t summary_bytes(const char *relative_path, const char *name, int64_t batch, bool *ok) {
    char *path = malloc(strlen(TSC_SOURCE_DIR) + strlen(relative_path) + 2);
    assert_non_null(path);
    sprintf(path, "%s/%s", TSC_SOURCE_DIR, relative_path);
    tsc_source *source = tsc_source_read(path);
    assert_non_null(source);
    diag_begin(NULL);
    ast_file *ast = NULL;
    checked_file *checked = NULL;
    assert_int_equal(tsc_parse(source, &ast), 0);
    assert_int_equal(tsc_check(ast, &checked), 0);
    diag_end();
    const checked_model *model = checked_file_find_model(checked, name);
    assert_non_null(model);
    tsc_arena_report report;
    memset(&report, 0, sizeof report);
    const tsc_codegen_options options = {.inference = TSC_ARENA_INFERENCE};
    *ok = tsc_model_arena_with(model, &options, batch, &report);
    /* An inference build's parameters part is the parameters alone. */
    if (*ok && (TSC_ARENA_INFERENCE || !report.trains))
        assert_true(report.parameter_bytes == (report.weight_bytes + 63) / 64 * 64);
    if (*ok)
        assert_true(report.header_bytes + report.parameter_bytes + report.state_bytes + report.activation_bytes +
                        report.workspace_bytes ==
                    report.total_bytes);
    checked_file_free(checked);
    ast_file_free(ast);
    tsc_source_free(source);
    free(path);
    return report.total_bytes;
}

/* --summary and NAME_arena_size agree at batches 1, 32 and 128. */
static void test_summary_matches_arena_size(void **state) {
    (void)state;
    const int batches[] = {1, 32, 128};
    for (size_t i = 0; i < sizeof examples / sizeof examples[0]; i++)
        for (size_t b = 0; b < sizeof batches / sizeof batches[0]; b++) {
            bool ok = false;
            uint64_t summary = summary_bytes(examples[i].path, examples[i].model, batches[b], &ok);
            size_t generated = examples[i].arena_size(batches[b]);
            if (!ok || summary != generated)
                fail_msg("%s at batch %d: --summary says %llu bytes, %s_arena_size %zu", examples[i].model, batches[b],
                         (unsigned long long)summary, examples[i].model, generated);
        }
}

/* An arena too large for size_t is 0 in both, and create refuses it. */
static void test_arena_too_large(void **state) {
    (void)state;
    assert_true(huge_arena_arena_size(1) > (size_t)1 << 34); /* 2^32 floats per example */
    const int too_large[] = {1 << 30, INT_MAX};
    for (size_t i = 0; i < sizeof too_large / sizeof too_large[0]; i++) {
        assert_int_equal(huge_arena_arena_size(too_large[i]), 0);
        bool ok = true;
        summary_bytes("tests/e2e/models/huge_arena.tdl", "huge_arena", too_large[i], &ok);
        assert_false(ok);
        assert_null(huge_arena_create(too_large[i]));
        assert_non_null(strstr(tdl_last_error(), "huge_arena_create: max_batch"));
        static char arena[4096] __attribute__((aligned(64)));
        assert_null(huge_arena_create_in(arena, sizeof arena, too_large[i]));
    }
    assert_int_equal(huge_arena_arena_size(0), 0);
    assert_int_equal(huge_arena_arena_size(-5), 0);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_summary_matches_arena_size),
        cmocka_unit_test(test_arena_too_large),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
