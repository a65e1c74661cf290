/* Code generation, as the other stages see it: write a model's C, size its
 * arena, write a depfile. The back end's own stages (autodiff, lowering,
 * planning, emission) are in cg.h. Reads the checked graph, never the
 * parse tree. */
#ifndef TSC_CODEGEN_H
#define TSC_CODEGEN_H

#include <stdio.h>

#include "check.h"
#include "diag.h"

/* Weights compiled into the generated code (tsc --weights FILE): a
 * safetensors file checked against the models (weights.c). */
typedef struct tsc_weights tsc_weights;

/* How a model is generated. {0} is the default: every entry point the model
 * supports, the parameters in the arena. */
typedef struct tsc_codegen_options {
    /* forward (and evaluate when the model has losses or metrics) only: no
     * gradients, optimizer state, training scratch or training entry points.
     * Also the case of a model without optimizer or loss. */
    bool inference;
    /* The parameters as static const arrays in the .c, none in the arena;
     * implies inference. NULL: none. */
    const tsc_weights *weights;
    /* Size the arena as with weights compiled in, without a file (--summary
     * --inference reports both footprints); generating C needs `weights`. */
    bool weights_compiled_in;
} tsc_codegen_options;

/* Reads the safetensors file at path (all of it, checked as libtdlrt checks
 * a load) and checks it against every model of the file: each parameter
 * present (E0501), F32 and of the model's shape (E0502), and the file sound
 * (E0503). Errors go through diag, at the layer that owns the tensor; an
 * unreadable file is a tool error. NULL after any error. */
tsc_weights *tsc_weights_read(const char *path, const checked_file *file);
void tsc_weights_free(tsc_weights *weights);

/* Writes <model>.h and <model>.c for every model of the file into out_dir,
 * each pair to temporary files renamed into place only when both are
 * complete. An output that is the input file itself is refused. Errors go
 * through diag (E0901, E0902). Returns 0, or -1 after reporting an error. */
int tsc_emit_c(const checked_file *file, const char *out_dir, const char *source_name);
int tsc_emit_c_with(const checked_file *file, const char *out_dir, const char *source_name,
                    const tsc_codegen_options *options);
/* The same for one model into two open streams (tests, the fuzzer). */
void tsc_emit_model(const checked_model *model, const char *source_name, FILE *header, FILE *source);
void tsc_emit_model_with(const checked_model *model, const char *source_name, const tsc_codegen_options *options,
                         FILE *header, FILE *source);

/* The arena NAME_arena_size(max_batch) asks for, part by part (--summary):
 * the same layout, sized by the same runtime function. */
typedef struct tsc_arena_report {
    uint64_t header_bytes;             /* the model struct */
    uint64_t parameter_bytes;          /* parameters, gradients and optimizer slots (none with compiled weights) */
    uint64_t weight_bytes;             /* the parameters alone: rodata when compiled in */
    uint64_t state_bytes;              /* non-trainable state and, when training, the batch's statistics */
    uint64_t activation_bytes;         /* the largest plan of forward/evaluate/train_step */
    uint64_t forward_activation_bytes; /* what forward alone uses of it */
    uint64_t workspace_bytes;          /* kernel scratch (im2col) */
    uint64_t total_bytes;
    bool trains;                       /* gradients and optimizer slots are in it */
    bool weights_compiled_in;          /* the parameters are not in it */
} tsc_arena_report;
/* false when max_batch is out of range or the arena would not fit in size_t. */
bool tsc_model_arena(const checked_model *model, int64_t max_batch, tsc_arena_report *report);
/* The same for a model generated with these options (NULL: the default). */
bool tsc_model_arena_with(const checked_model *model, const tsc_codegen_options *options, int64_t max_batch,
                          tsc_arena_report *report);

/* -MD: writes "<out_dir>/<model>.c <out_dir>/<model>.h …: <input>" to
 * depfile_path (depfile.c). Returns 0, or -1 after reporting an I/O error
 * through diag (E0901). */
int tsc_write_depfile(const char *depfile_path, const checked_file *file, const char *out_dir,
                      const char *input_path);

#endif /* TSC_CODEGEN_H */
