#!/usr/bin/python3
"""Writes fashion_batch.h: the first 8 images and labels of the Fashion-MNIST
test set (Debian's dataset-fashion-mnist), so that the ARM tests need neither
the package nor a file system on the device.

Usage: /usr/bin/python3 tests/portable/arm/make_fashion_batch.py [DATASET_DIR]
"""
import gzip
import os
import sys

COUNT = 8
HERE = os.path.dirname(os.path.abspath(__file__))


def read_idx(path, header_bytes, item_bytes):
    with gzip.open(path, "rb") as f:
        data = f.read()
    return data[header_bytes:header_bytes + COUNT * item_bytes]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
    images = read_idx(os.path.join(root, "t10k-images-idx3-ubyte.gz"), 16, 28 * 28)
    labels = read_idx(os.path.join(root, "t10k-labels-idx1-ubyte.gz"), 8, 1)
    lines = [
        "/* The first %d images and labels of the Fashion-MNIST test set, as the" % COUNT,
        " * data set has them (28x28 grey levels 0-255). Written by",
        " * make_fashion_batch.py from Debian's dataset-fashion-mnist; do not edit. */",
        "#ifndef FASHION_BATCH_H",
        "#define FASHION_BATCH_H",
        "",
        "#define FASHION_BATCH_COUNT %d" % COUNT,
        "",
        "static const unsigned char fashion_batch_labels[FASHION_BATCH_COUNT] = {%s};"
        % ", ".join(str(b) for b in labels),
        "",
        "static const unsigned char fashion_batch_images[FASHION_BATCH_COUNT][28 * 28] = {",
    ]
    for i in range(COUNT):
        pixels = images[i * 784:(i + 1) * 784]
        lines.append("    {")
        for row in range(28):
            lines.append("        " + ", ".join(str(b) for b in pixels[row * 28:(row + 1) * 28]) + ",")
        lines.append("    },")
    lines += ["};", "", "#endif /* FASHION_BATCH_H */", ""]
    with open(os.path.join(HERE, "fashion_batch.h"), "w") as f:
        f.write("\n".join(lines))


if __name__ == "__main__":
    main()
