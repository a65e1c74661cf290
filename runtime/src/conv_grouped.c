/* Grouped convolution (groups > 1). Depthwise descriptors (groups = in_c) go
 * to the direct loops of conv_depthwise.c. Any other group count runs the
 * ordinary kernels (libxsmm or im2col + GEMM, each on the whole team) once per
 * group on copies of the group's channels: the channels of a group are a
 * strided slice of NHWC memory, which those kernels do not take, and copying
 * them costs one pass over the data against the group's whole convolution.
 *
 * Scratch (forward: at the workspace's start; backward: after the
 * pre-activation gradient, conv_internal.h):
 *   x slice   (B,H,W,C/G)       the group's input, or its input gradient
 *   k slice   (KH,KW,C/G,F/G)   the group's kernel, or its kernel gradient
 *   y slice   (B,OH,OW,F/G)     the group's output, or its output gradient
 *   the ordinary kernels' workspace for one group. */
#include <stdbool.h>
#include <string.h>

#include "conv_internal.h"
#include "tdl/runtime.h"

/* The convolution of one group: C/G input channels, F/G filters, ungrouped. */
static tdl_conv2d_desc group_desc(const tdl_conv2d_desc *d) {
    tdl_conv2d_desc g = *d;
    g.in_c = d->in_c / conv_groups(d);
    g.out_c = d->out_c / conv_groups(d);
    g.groups = 1;
    return g;
}

typedef struct group_scratch {
    float *x, *kernel, *y, *workspace;
} group_scratch;

static group_scratch carve(const tdl_conv2d_desc *d, const tdl_conv2d_desc *g, int batch, float *scratch) {
    group_scratch s;
    s.x = scratch;
    s.kernel = s.x + (size_t)batch * (size_t)d->in_h * (size_t)d->in_w * (size_t)g->in_c;
    s.y = s.kernel + conv_patch_size(g) * (size_t)g->out_c;
    s.workspace = s.y + conv_output_pixels(d, batch) * (size_t)g->out_c;
    return s;
}

/* The three slices, then the workspace of one group's convolution: all of
 * it (backward) or what its forward alone uses. */
static size_t grouped_scratch(const tdl_conv2d_desc *d, int batch, bool forward_only) {
    if (conv_is_depthwise(d)) return 0;
    const tdl_conv2d_desc g = group_desc(d);
    const size_t x = (size_t)batch * (size_t)d->in_h * (size_t)d->in_w * (size_t)g.in_c;
    const size_t kernel = conv_patch_size(&g) * (size_t)g.out_c;
    const size_t y = conv_output_pixels(d, batch) * (size_t)g.out_c;
    const size_t inner = forward_only ? tdl_conv2d_forward_workspace_size(&g, batch) : tdl_conv2d_workspace_size(&g, batch);
    return x + kernel + y + inner;
}

size_t conv_grouped_scratch_size(const tdl_conv2d_desc *d, int batch) {
    return grouped_scratch(d, batch, false);
}

size_t conv_grouped_forward_scratch_size(const tdl_conv2d_desc *d, int batch) {
    return grouped_scratch(d, batch, true);
}

/* How a slice copy moves a run of `width` floats per row: rows of `count`
 * runs, from a row stride of `wide` floats (offset `first`) to a packed one. */
typedef struct slice {
    size_t count, wide, width, first;
} slice;

static void gather(float *restrict packed, const float *restrict full, slice s) {
    for (size_t r = 0; r < s.count; ++r)
        memcpy(packed + r * s.width, full + r * s.wide + s.first, s.width * sizeof *packed);
}

static void scatter(float *restrict full, const float *restrict packed, slice s) {
    for (size_t r = 0; r < s.count; ++r)
        memcpy(full + r * s.wide + s.first, packed + r * s.width, s.width * sizeof *packed);
}

/* full += packed, slice-wise (gradients accumulate). */
static void scatter_add(float *restrict full, const float *restrict packed, slice s) {
    for (size_t r = 0; r < s.count; ++r) {
        float *dst = full + r * s.wide + s.first;
        const float *src = packed + r * s.width;
        for (size_t i = 0; i < s.width; ++i) dst[i] += src[i];
    }
}

/* Group `group`'s channels of the input (B,H,W,C), the kernel (KH,KW,C/G,F)
 * and the output (B,OH,OW,F). */
static slice input_slice(const tdl_conv2d_desc *d, const tdl_conv2d_desc *g, int batch, int group) {
    return (slice){(size_t)batch * (size_t)d->in_h * (size_t)d->in_w, (size_t)d->in_c, (size_t)g->in_c,
                   (size_t)group * (size_t)g->in_c};
}

static slice kernel_slice(const tdl_conv2d_desc *d, const tdl_conv2d_desc *g, int group) {
    return (slice){conv_patch_size(g), (size_t)d->out_c, (size_t)g->out_c, (size_t)group * (size_t)g->out_c};
}

static slice output_slice(const tdl_conv2d_desc *d, const tdl_conv2d_desc *g, int batch, int group) {
    return (slice){conv_output_pixels(d, batch), (size_t)d->out_c, (size_t)g->out_c,
                   (size_t)group * (size_t)g->out_c};
}

/* x: (B,H,W,C), kernel: (KH,KW,C/G,F), bias: (F) or NULL -> y: (B,OH,OW,F) */
void conv_grouped_forward(float *y, const float *x, const float *kernel, const float *bias,
                          const tdl_conv2d_desc *d, int batch, float *scratch) {
    if (conv_is_depthwise(d)) {
        conv_depthwise_forward(y, x, kernel, bias, d, batch);
        return;
    }
    const tdl_conv2d_desc g = group_desc(d);
    const group_scratch s = carve(d, &g, batch, scratch);
    for (int group = 0; group < conv_groups(d); ++group) {
        gather(s.x, x, input_slice(d, &g, batch, group));
        gather(s.kernel, kernel, kernel_slice(d, &g, group));
        const float *group_bias = bias != NULL ? bias + (size_t)group * (size_t)g.out_c : NULL;
        tdl_conv2d_forward(s.y, s.x, s.kernel, group_bias, &g, batch, s.workspace);
        scatter(y, s.y, output_slice(d, &g, batch, group));
    }
}

/* x: (B,H,W,C), dz: (B,OH,OW,F) -> dkernel: (KH,KW,C/G,F) += */
void conv_grouped_backprop_filter(float *dkernel, const float *x, const float *dz, const tdl_conv2d_desc *d,
                                  int batch, float *scratch) {
    if (conv_is_depthwise(d)) {
        conv_depthwise_backprop_filter(dkernel, x, dz, d, batch);
        return;
    }
    const tdl_conv2d_desc g = group_desc(d);
    const group_scratch s = carve(d, &g, batch, scratch);
    for (int group = 0; group < conv_groups(d); ++group) {
        gather(s.x, x, input_slice(d, &g, batch, group));
        gather(s.y, dz, output_slice(d, &g, batch, group));
        const slice k = kernel_slice(d, &g, group);
        memset(s.kernel, 0, k.count * k.width * sizeof *s.kernel);
        tdl_conv2d_backprop_filter(s.kernel, s.x, s.y, &g, batch, s.workspace);
        scatter_add(dkernel, s.kernel, k);
    }
}

/* kernel: (KH,KW,C/G,F), dz: (B,OH,OW,F) -> dx: (B,H,W,C) += */
void conv_grouped_backprop_input(float *dx, const float *kernel, const float *dz, const tdl_conv2d_desc *d,
                                 int batch, float *scratch) {
    if (conv_is_depthwise(d)) {
        conv_depthwise_backprop_input(dx, kernel, dz, d, batch);
        return;
    }
    const tdl_conv2d_desc g = group_desc(d);
    const group_scratch s = carve(d, &g, batch, scratch);
    for (int group = 0; group < conv_groups(d); ++group) {
        gather(s.kernel, kernel, kernel_slice(d, &g, group));
        gather(s.y, dz, output_slice(d, &g, batch, group));
        const slice in = input_slice(d, &g, batch, group);
        memset(s.x, 0, in.count * in.width * sizeof *s.x);
        tdl_conv2d_backprop_input(s.x, s.kernel, s.y, &g, batch, s.workspace);
        scatter_add(dx, s.x, in);
    }
}
