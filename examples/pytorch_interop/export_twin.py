"""Builds the PyTorch twin of fashion_cnn.tdl with fixed random weights,
exports them for tsc, and records a fixed input batch with PyTorch's
output for it, so check_forward.c can compare tsc's forward with PyTorch's.

  python3 export_twin.py OUT_DIR

writes into OUT_DIR:
  weights.safetensors             the twin's weights under tsc's names and layouts
  weights_flatten_unordered.safetensors
                                  the same, but dense_1.kernel only transposed,
                                  without the (C,H,W) -> (H,W,C) reordering: a
                                  mistake check_forward must catch
  batch.safetensors               image [8,28,28,1] (NHWC) and probs [8,10],
                                  PyTorch's softmax output for it
"""
import os
import sys

import torch

from fashion_cnn_torch import FashionCNN
from tsc_layout import conv_kernel, dense_kernel, dense_kernel_after_flatten, save_safetensors

BATCH = 8  # check_forward.c reads exactly this many images


def tsc_weights(model, reorder_flatten=True):
    s = model.state_dict()
    dense = (dense_kernel_after_flatten(s["dense.weight"], 64, 5, 5) if reorder_flatten
             else dense_kernel(s["dense.weight"]))
    # tsc counts layers of each op from 1 (conv2d_1, conv2d_2, dense_1); Keras
    # would call the same layers conv2d, conv2d_1 and dense.
    return {
        "conv2d_1.kernel": conv_kernel(s["conv1.weight"]), "conv2d_1.bias": s["conv1.bias"],
        "conv2d_2.kernel": conv_kernel(s["conv2.weight"]), "conv2d_2.bias": s["conv2.bias"],
        "dense_1.kernel": dense, "dense_1.bias": s["dense.bias"],
    }


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: export_twin.py OUT_DIR")
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(20261130)
    model = FashionCNN().eval()  # eval: dropout is the identity, as in tsc's forward

    # Images in [0, 1] like Fashion-MNIST's, with some structure so the
    # feature maps are not uniform: random blobs, then a little noise.
    generator = torch.Generator().manual_seed(7)
    coarse = torch.rand(BATCH, 1, 7, 7, generator=generator)
    image = torch.nn.functional.interpolate(coarse, size=(28, 28), mode="bilinear", align_corners=False)
    image = (image + 0.1 * torch.rand(BATCH, 1, 28, 28, generator=generator)).clamp(0, 1)

    with torch.no_grad():
        probs = torch.softmax(model(image), dim=1)

    save_safetensors(os.path.join(out, "weights.safetensors"), tsc_weights(model))
    save_safetensors(os.path.join(out, "weights_flatten_unordered.safetensors"),
                     tsc_weights(model, reorder_flatten=False))
    save_safetensors(os.path.join(out, "batch.safetensors"),
                     {"image": image.permute(0, 2, 3, 1), "probs": probs})
    print(f"export_twin: wrote the twin's weights and a batch of {BATCH} to {out}")


if __name__ == "__main__":
    main()
