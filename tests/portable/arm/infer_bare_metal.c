/* The bare-metal main of the ARM tests (Cortex-M4F): no console, so the
 * probabilities stay in `infer_results` and the status in `infer_status`,
 * where a debugger reads them. Linked, sized and not run: the test proves the
 * portable runtime and the generated code build into a firmware image. */
#include "infer.h"

float infer_results[INFER_MODELS][FASHION_BATCH_COUNT][INFER_CLASSES];
volatile int infer_status = -1;

int main(void) {
    infer_status = infer_fashion_batch(infer_results);
    for (;;) {
    }
}
