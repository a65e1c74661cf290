"""The PyTorch twin of examples/fashion_mnist/fashion_cnn.tdl.

Same layers, same sizes; only the layouts differ, as PyTorch's always do:
images are NCHW, conv weights OIHW, Linear weights [out, in], and flatten
reads (C, H, W). tsc_layout.py converts the weights to what tsc expects.

The model has only `valid` padding. A twin of a TDL model with
padding=same must pad as TensorFlow does (see same_padding below):
nn.Conv2d(padding="same") agrees for stride 1 but refuses larger strides.
"""
import torch
from torch import nn
import torch.nn.functional as F


class FashionCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)    # tsc: conv2d_1
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)   # tsc: conv2d_2
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(64 * 5 * 5, 10)          # tsc: dense_1

    def forward(self, image_nchw):
        x = F.max_pool2d(F.relu(self.conv1(image_nchw)), 2)   # [B,32,13,13]
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)            # [B,64,5,5]
        x = self.dropout(torch.flatten(x, 1))                 # [B,1600] in (C,H,W) order
        return self.dense(x)                                  # logits [B,10]


def same_padding(size, kernel, stride, dilation=1):
    """TensorFlow's (and tsc's) `same` padding of one dimension, as
    (before, after): the odd pixel goes after (bottom/right). Use it as
    F.pad(x, (*same_padding(W, …), *same_padding(H, …))) before a conv with
    padding=0; pad a max pool with -inf so that padding never wins."""
    extent = dilation * (kernel - 1) + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + extent - size, 0)
    return total // 2, total - total // 2
