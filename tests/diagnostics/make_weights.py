#!/usr/bin/env python3
"""Writes the weights files of the E05xx goldens (--weights): safetensors
files for the model of E05xx_*.tdl (dense_1 [4,3] + [3], dense_2 [3,2] + [2])
with one thing wrong each. Standard library only. Run from anywhere:
    /usr/bin/python3 tests/diagnostics/make_weights.py
"""
import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))

GOOD = {
    "dense_1.kernel": ("F32", [4, 3]),
    "dense_1.bias": ("F32", [3]),
    "dense_2.kernel": ("F32", [3, 2]),
    "dense_2.bias": ("F32", [2]),
}
SIZES = {"F32": 4, "F16": 2}


def safetensors(tensors):
    header, data = {}, b""
    for name in sorted(tensors):
        dtype, shape = tensors[name]
        count = 1
        for d in shape:
            count *= d
        values = b"".join(struct.pack("<f", 0.25 * i) for i in range(count))
        if dtype == "F16":
            values = b"".join(struct.pack("<e", 0.25 * i) for i in range(count))
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(values)]}
        data += values
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + data


def write(name, content):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(content)


missing = dict(GOOD)
del missing["dense_2.bias"]
write("E0501_missing_tensor.safetensors", safetensors(missing))
write("E0502_wrong_shape.safetensors", safetensors(dict(GOOD, **{"dense_1.kernel": ("F32", [3, 4])})))
write("E0502_wrong_dtype.safetensors", safetensors(dict(GOOD, **{"dense_2.kernel": ("F16", [3, 2])})))
# The header claims more bytes than the file has.
corrupt = bytearray(safetensors(GOOD))
corrupt[0:8] = struct.pack("<Q", len(corrupt) + 100)
write("E0503_corrupt_file.safetensors", bytes(corrupt))
write("E0501_weights_ok.safetensors", safetensors(GOOD))
