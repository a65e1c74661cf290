"""The reference models of examples/models/*.tdl written in PyTorch, with the
same layers, initialisers (Keras: glorot_uniform kernels, zero biases), losses
and optimizers, plus the data both sides use (Fashion-MNIST from its IDX
files, random 32x32x3 images for VGG-small).

Layers take NCHW tensors, as PyTorch does; channels_last is a memory format of
the same tensors. The flatten before a dense layer therefore orders features
C,H,W instead of TDL's H,W,C: a permutation of the dense kernel's rows, which
changes neither the cost nor what the model can learn."""

import gzip
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
RANDOM_POOL = 1024


class MnistConvnet(nn.Module):
    """examples/models/mnist_convnet.tdl"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)
        self.conv2 = nn.Conv2d(32, 64, 3)
        self.dropout = nn.Dropout(0.5)
        self.dense = nn.Linear(1600, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = self.dropout(torch.flatten(x, 1))
        return self.dense(x)


class LeNet5(nn.Module):
    """examples/models/lenet5.tdl"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5, padding=2)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.dense1 = nn.Linear(400, 120)
        self.dense2 = nn.Linear(120, 84)
        self.dense3 = nn.Linear(84, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.dense1(x))
        x = F.relu(self.dense2(x))
        return self.dense3(x)


class VggSmall(nn.Module):
    """examples/models/vgg_small.tdl"""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 32, 3, padding=1)
        self.conv3 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv4 = nn.Conv2d(64, 64, 3, padding=1)
        self.conv5 = nn.Conv2d(64, 128, 3, padding=1)
        self.conv6 = nn.Conv2d(128, 128, 3, padding=1)
        self.dense = nn.Linear(128, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.conv3(x))
        x = F.max_pool2d(F.relu(self.conv4(x)), 2)
        x = F.relu(self.conv5(x))
        x = F.relu(self.conv6(x))
        x = torch.mean(x, dim=(2, 3))
        return self.dense(x)


class Mlp(nn.Module):
    """examples/models/mlp.tdl"""

    def __init__(self):
        super().__init__()
        self.dense1 = nn.Linear(784, 512)
        self.dense2 = nn.Linear(512, 512)
        self.dense3 = nn.Linear(512, 10)

    def forward(self, x):
        x = F.relu(self.dense1(x))
        x = F.relu(self.dense2(x))
        return self.dense3(x)


class WithSoftmax(nn.Module):
    """What the generated NAME_forward computes: the output probs = softmax(logits)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return F.softmax(self.net(x), dim=1)


def keras_init(model, seed):
    """glorot_uniform kernels and zero biases, as Keras (and tsc's NAME_init) do."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                weight = module.weight
                receptive = weight[0][0].numel() if weight.dim() > 2 else 1
                fan_in, fan_out = weight.shape[1] * receptive, weight.shape[0] * receptive
                limit = (6.0 / (fan_in + fan_out)) ** 0.5
                weight.copy_(torch.rand(weight.shape, generator=generator) * 2 * limit - limit)
                module.bias.zero_()
    return model


# name -> (constructor, input shape per example (NCHW), optimizer factory, data)
MODELS = {
    "mnist_convnet": (MnistConvnet, (1, 28, 28),
                      lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7), "fashion"),
    "lenet5": (LeNet5, (1, 28, 28),
               lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9), "fashion"),
    "vgg_small": (VggSmall, (3, 32, 32),
                  lambda p: torch.optim.Adam(p, lr=1e-3, betas=(0.9, 0.999), eps=1e-7), "random"),
    "mlp": (Mlp, (784,),
            lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True), "fashion"),
}


def read_idx(path):
    """An IDX file (gzip or not) as a numpy array of its dimensions."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if data[0] != 0 or data[1] != 0 or data[2] != 8:
        raise ValueError(f"{path}: not an unsigned-byte IDX file")
    rank = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(rank)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * rank).reshape(dims)


def fashion_split(prefix, data_dir=FASHION_DIR):
    """(images f32 [N,1,28,28] in [0,1], labels i64 [N]) of 'train' or 't10k'."""
    images = read_idx(os.path.join(data_dir, f"{prefix}-images-idx3-ubyte.gz"))
    labels = read_idx(os.path.join(data_dir, f"{prefix}-labels-idx1-ubyte.gz"))
    x = torch.from_numpy(images.astype(np.float32) / 255.0).unsqueeze(1)
    return x, torch.from_numpy(labels.astype(np.int64))


def random_pool():
    """RANDOM_POOL random 32x32x3 images (NCHW) in [0,1) and labels in [0,10)."""
    generator = torch.Generator().manual_seed(7)
    x = torch.rand((RANDOM_POOL, 3, 32, 32), generator=generator)
    y = torch.tensor([(i * 7 + 3) % 10 for i in range(RANDOM_POOL)], dtype=torch.int64)
    return x, y


def data_pool(name, data_dir=FASHION_DIR):
    """The pool of examples the benchmark walks through for a model, shaped for it."""
    _, shape, _, data = MODELS[name]
    x, y = fashion_split("train", data_dir) if data == "fashion" else random_pool()
    return x.reshape((x.shape[0],) + shape).contiguous(), y
