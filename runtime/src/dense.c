/* dense (fully connected) layer: one GEMM, a bias and a fused activation.
 * Inputs that are exactly zero are skipped where that pays: one example's
 * (dense_zero_inputs.c), a batch's in groups of four (the forward,
 * dense_zero_inputs_batch.c; the kernel gradient,
 * dense_zero_inputs_gradient.c). The GEMMs run on libxsmm where
 * dense_xsmm.c can, else on BLAS. */
#include <stdbool.h>
#include <stdint.h>

#include "dense_internal.h"
#include "finite_gradients.h"
#include "param_split.h"
#include "team.h"
#include "tdl/runtime.h"
#include "vector.h"

/* x: (B,F), kernel: (F,U), bias: (U) or NULL -> y: (B,U) */
void tdl_dense_forward(float *y, const float *x, const float *kernel, const float *bias,
                       const tdl_dense_desc *d, int batch) {
    if (y == NULL || x == NULL || kernel == NULL || d == NULL || batch <= 0 || d->in_features <= 0 ||
        d->units <= 0) {
        return;
    }
    if (dense_zero_inputs_forward(y, x, kernel, bias, d, batch)) return;
    if (dense_zero_inputs_batch_forward(y, x, kernel, bias, d, batch)) return;
    if (dense_xsmm_forward(y, x, kernel, bias, d, batch)) return;
    const int units = d->units;
    tdl_sgemm(TDL_NO_TRANS, TDL_NO_TRANS, batch, units, d->in_features, 1.0f, x, d->in_features, kernel, units,
              0.0f, y, units);
    if (bias != NULL) {
        for (int b = 0; b < batch; ++b) {
            float *row = y + (size_t)b * (size_t)units;
            for (int u = 0; u < units; ++u) {
                row[u] += bias[u];
            }
        }
    }
    tdl_activation_forward(y, y, (size_t)batch * (size_t)units, d->activation, d->alpha);
}

/* Each of `count` rows (`stride` floats apart) of a layer's output: + bias
 * (may be NULL), then the activation in place. Relu and the identity run as
 * one vector pass over the rows; the others go row by row through
 * tdl_activation_forward. The kernels that write output tiles call this
 * (dense_xsmm.c, dense_zero_inputs.c, dense_zero_inputs_batch.c): a call
 * of tdl_activation_forward per row of a tile cost the MLP's 784 -> 512
 * forward at batch 128 1,024 calls, 25 us of its 903. The same bits either
 * way. */
TDL_VECTOR_CLONES static void bias_relu_rows(float *restrict rows, size_t count, size_t stride, size_t units,
                                             const float *restrict bias, bool relu) {
    for (size_t r = 0; r < count; ++r) {
        float *restrict row = rows + r * stride;
        if (bias != NULL)
            for (size_t u = 0; u < units; ++u) row[u] += bias[u];
        if (relu)
            for (size_t u = 0; u < units; ++u) row[u] = row[u] > 0.0f ? row[u] : 0.0f;
    }
}

void dense_bias_activation_rows(float *rows, size_t count, size_t stride, size_t units, const float *bias,
                                const tdl_dense_desc *d) {
    const bool relu = d->activation == TDL_ACTIVATION_RELU;
    bias_relu_rows(rows, count, stride, units, bias, relu);
    if (relu || d->activation == TDL_ACTIVATION_LINEAR) return;
    for (size_t r = 0; r < count; ++r)
        tdl_activation_forward(rows + r * stride, rows + r * stride, units, d->activation, d->alpha);
}

/* A training step's forward: the kernel read by the threads that own its
 * rows in the step's other passes (dense_xsmm.c), else tdl_dense_forward.
 * workspace: tdl_dense_workspace_size() floats. */
void tdl_dense_train_forward(float *y, const float *x, const float *kernel, const float *bias,
                             const tdl_dense_desc *d, int batch, float *workspace) {
    if (y == NULL || x == NULL || kernel == NULL || d == NULL || workspace == NULL || batch <= 0 ||
        d->in_features <= 0 || d->units <= 0) {
        return;
    }
    if (dense_xsmm_forward_owned(y, x, kernel, bias, d, batch, workspace)) return;
    tdl_dense_forward(y, x, kernel, bias, d, batch);
}

/* A model's forward: the kernel split by rows where two threads own it
 * (dense_xsmm.c), else tdl_dense_forward. One example stays with
 * tdl_dense_forward, whose dense_zero_inputs.c reads only the rows of its
 * nonzero inputs. */
void tdl_dense_model_forward(float *y, const float *x, const float *kernel, const float *bias,
                             const tdl_dense_desc *d, int batch, float *workspace) {
    if (y == NULL || x == NULL || kernel == NULL || d == NULL || batch <= 0 || d->in_features <= 0 ||
        d->units <= 0) {
        return;
    }
    if (batch > 1 && workspace != NULL && dense_xsmm_forward_owned(y, x, kernel, bias, d, batch, workspace)) return;
    tdl_dense_forward(y, x, kernel, bias, d, batch);
}

size_t tdl_dense_forward_workspace_size(const tdl_dense_desc *d, int batch) {
    if (d == NULL || batch <= 0 || d->units <= 0 || d->in_features <= 0) return 0;
    return dense_xsmm_owned_forward_scratch(d, batch);
}

/* The workspace holds dpre, the gradient of the pre-activation output (B,U),
 * then what the input's gradient on libxsmm needs, then a second owner's
 * copies in a training step (dense_xsmm.c: nothing for layers it never
 * takes, or without libxsmm, as in the portable build). SIZE_MAX when that
 * cannot be counted in size_t. */
size_t tdl_dense_workspace_size(const tdl_dense_desc *d, int batch) {
    if (d == NULL || batch <= 0 || d->units <= 0 || d->in_features < 0) {
        return 0;
    }
    if ((size_t)batch > SIZE_MAX / (size_t)d->units) return SIZE_MAX;
    const size_t dpre = (size_t)batch * (size_t)d->units, transposed = dense_xsmm_input_gradient_scratch(d, batch),
                 second_owner = dense_xsmm_owned_backward_scratch(d, batch);
    if (transposed > SIZE_MAX - dpre || second_owner > SIZE_MAX - dpre - transposed) return SIZE_MAX;
    return dpre + transposed + second_owner;
}

/* dpre (n) = dy * relu'(y), or dy itself for the identity: written in one
 * pass where zeroing dpre and adding tdl_activation_backward's terms took
 * two. The values are those of 0 + the term; a -0 term now stays -0. */
TDL_VECTOR_CLONES static void relu_gradient(float *restrict dpre, const float *restrict dy,
                                            const float *restrict y, size_t n, bool relu) {
    for (size_t i = 0; i < n; ++i) dpre[i] = !relu || y[i] > 0.0f ? dy[i] : 0.0f;
}

typedef struct pre_activation_job {
    float *dpre;
    const float *dy, *y;
    bool relu;
} pre_activation_job;

static void pre_activation_elements(void *context, size_t begin, size_t end) {
    const pre_activation_job *j = context;
    relu_gradient(j->dpre + begin, j->dy + begin, j->y + begin, end - begin, j->relu);
}

void dense_pre_activation_gradient(float *dpre, const float *dy, const float *y, const tdl_dense_desc *d,
                                   size_t count) {
    if (d->activation == TDL_ACTIVATION_RELU || d->activation == TDL_ACTIVATION_LINEAR) {
        pre_activation_job j = {dpre, dy, y, d->activation == TDL_ACTIVATION_RELU};
        /* The split tdl_activation_backward makes: three floats an element. */
        tdl_team_split(count, 3.0, TDL_TEAM_MIN_THREAD_FLOATS, pre_activation_elements, &j);
        return;
    }
    tdl_zero(dpre, count);
    tdl_activation_backward(dpre, dy, y, count, d->activation, d->alpha);
}

/* sums (n) += each of the rows (batch, `stride` floats apart) in order. */
TDL_VECTOR_CLONES static void add_rows(float *restrict sums, const float *restrict rows, size_t batch, size_t stride,
                                       size_t n) {
    for (size_t b = 0; b < batch; ++b)
        for (size_t u = 0; u < n; ++u) sums[u] += rows[b * stride + u];
}

void dense_bias_gradient(float *dbias, const float *dpre, size_t batch, size_t units, size_t begin, size_t end,
                         bool accumulate) {
    if (!accumulate) tdl_zero(dbias + begin, end - begin);
    add_rows(dbias + begin, dpre + begin, batch, units, end - begin);
}

/* In a training step, the kernel's and the bias's gradients written whole
 * (not added to) are proved finite from their factors where those are far
 * fewer than the kernel's floats: the step's finiteness check then skips
 * them (finite_gradients.h). dpre is dy or 0 for relu and dy itself for the
 * identity, so |dy| bounds it; other activations multiply by f'(y), which
 * no bound here covers. The MLP's two large kernels at batch 32: 74k
 * floats read in cache instead of 664k from L3. */
enum { PROOF_MIN_KERNEL_PER_FACTOR = 2 };

static void prove_gradients_finite(const float *dkernel, const float *dbias, const float *dy, const float *x,
                                   const tdl_dense_desc *d, int batch, bool accumulate) {
    if (accumulate || (d->activation != TDL_ACTIVATION_RELU && d->activation != TDL_ACTIVATION_LINEAR)) return;
    const size_t features = (size_t)d->in_features, units = (size_t)d->units, examples = (size_t)batch;
    if (features > SIZE_MAX / units || examples > SIZE_MAX / (features + units) / PROOF_MIN_KERNEL_PER_FACTOR)
        return;
    const size_t kernel = features * units, x_floats = examples * features, dy_floats = examples * units;
    if (kernel < PROOF_MIN_KERNEL_PER_FACTOR * (x_floats + dy_floats) || !param_split_takes_proofs()) return;
    float max_x, max_dy;
    if (!finite_max_abs(x, x_floats, &max_x) || !finite_max_abs(dy, dy_floats, &max_dy) ||
        !finite_sums_bounded(max_x, max_dy, examples)) {
        return;
    }
    param_split_prove_finite(dkernel, kernel);
    if (dbias != NULL) param_split_prove_finite(dbias, units);
}

/* dy, y: (B,U), x: (B,F), kernel: (F,U) -> dx (B,F) +=, or = when
 * write_dx; dkernel (F,U) and dbias (U) += when accumulate, else =.
 * workspace: tdl_dense_workspace_size() floats. */
static void dense_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y, const float *x,
                           const float *kernel, const tdl_dense_desc *d, int batch, float *workspace,
                           bool accumulate, bool write_dx) {
    if (dkernel == NULL || dy == NULL || y == NULL || x == NULL || kernel == NULL || d == NULL ||
        workspace == NULL || batch <= 0 || d->in_features <= 0 || d->units <= 0) {
        return;
    }
    const int units = d->units;
    const int features = d->in_features;
    const size_t count = (size_t)batch * (size_t)units;
    prove_gradients_finite(dkernel, dbias, dy, x, d, batch, accumulate);
    /* Two owners of the kernel's rows make dpre themselves, in the call of
     * the team that computes both gradients. */
    if (dense_xsmm_backward_owned(dx, dkernel, dbias, dy, y, x, kernel, d, batch, accumulate, workspace, write_dx))
        return;

    float *dpre = workspace;
    dense_pre_activation_gradient(dpre, dy, y, d, count);
    if (dbias != NULL) dense_bias_gradient(dbias, dpre, (size_t)batch, (size_t)units, 0, (size_t)units, accumulate);
    /* Both products in one call of the team in a training step: where it
     * splits the kernel's rows among three or more threads, or where the
     * kernel is too small to split by rows. */
    if (dense_xsmm_backprop_owned(dkernel, dx, x, kernel, dpre, d, batch, accumulate, workspace + count, write_dx))
        return;
    /* dkernel (F,U) (+)= x^T (F,B) · dpre (B,U) */
    if (!dense_xsmm_backprop_kernel(dkernel, x, dpre, d, batch, accumulate, workspace + count)) {
        tdl_sgemm(TDL_TRANS, TDL_NO_TRANS, features, units, batch, 1.0f, x, features, dpre, units,
                  accumulate ? 1.0f : 0.0f, dkernel, units);
    }
    /* dx (B,F) (+)= dpre (B,U) · kernel^T (U,F) */
    if (dx != NULL && !dense_xsmm_backprop_input(dx, kernel, dpre, d, batch, workspace + count, write_dx)) {
        tdl_sgemm(TDL_NO_TRANS, TDL_TRANS, batch, features, units, 1.0f, dpre, units, kernel, units,
                  write_dx ? 0.0f : 1.0f, dx, features);
    }
}

void tdl_dense_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                        const float *x, const float *kernel, const tdl_dense_desc *d, int batch,
                        float *workspace) {
    dense_backward(dx, dkernel, dbias, dy, y, x, kernel, d, batch, workspace, true, false);
}

void tdl_dense_train_backward(float *dx, float *dkernel, float *dbias, const float *dy, const float *y,
                              const float *x, const float *kernel, const tdl_dense_desc *d, int batch,
                              float *workspace, tdl_dx_mode dx_mode) {
    dense_backward(dx, dkernel, dbias, dy, y, x, kernel, d, batch, workspace, false, dx_mode == TDL_DX_WRITE);
}
