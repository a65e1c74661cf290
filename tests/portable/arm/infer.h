/* Batch-1 inference of LeNet-5 and fashion_cnn on the fixed Fashion-MNIST
 * batch, in static arenas: the part of the ARM tests that runs on the device
 * (infer.c), shared by a hosted main that prints (infer_print.c) and a
 * bare-metal one that keeps the results in memory (infer_bare_metal.c). */
#ifndef TSC_TESTS_INFER_H
#define TSC_TESTS_INFER_H

#include "fashion_batch.h"

enum { INFER_MODELS = 2, INFER_CLASSES = 10 };

/* probs[model][image][class] for model 0 (lenet5) and 1 (fashion_cnn); 0 on
 * success, else the model whose arena or call failed, plus one. */
int infer_fashion_batch(float probs[INFER_MODELS][FASHION_BATCH_COUNT][INFER_CLASSES]);

/* The arena bytes each model asks for at batch 1 (NAME_arena_size(1)). */
unsigned long infer_arena_bytes(int model);

/* After infer_fashion_batch, without compiled-in weights: the two models'
 * weights as safetensors files (NAME_save), for `tsc --weights`. */
int infer_save_weights(const char *lenet5_path, const char *fashion_cnn_path);

#endif
