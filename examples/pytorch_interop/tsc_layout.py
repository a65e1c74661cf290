"""Converts a PyTorch state_dict to tsc's weight names and layouts, and
writes it as a safetensors file that <model>_load reads.

tsc (like Keras) keeps conv kernels as HWIO, dense kernels as [in, out], and
flattens NHWC feature maps in (H, W, C) order. From PyTorch that means:

  conv weight  [O, I, KH, KW]  -> permute to [KH, KW, I, O]
  Linear weight [out, in]      -> transpose to [in, out]
  the first Linear after a flatten of a [C, H, W] map: its input rows are in
  (C, H, W) order and must be put in (H, W, C) order before the transpose.

Only the standard library and torch are used; nothing is downloaded.
"""
import json
import struct


def conv_kernel(weight):
    """[O, I, KH, KW] -> [KH, KW, I, O]"""
    return weight.permute(2, 3, 1, 0)


def dense_kernel(weight):
    """[out, in] -> [in, out]"""
    return weight.t()


def dense_kernel_after_flatten(weight, channels, height, width):
    """[out, C*H*W] with inputs in (C, H, W) order -> [H*W*C, out] in (H, W, C) order."""
    out = weight.shape[0]
    hwc = weight.reshape(out, channels, height, width).permute(0, 2, 3, 1)
    return hwc.reshape(out, height * width * channels).t()


def save_safetensors(path, tensors):
    """Writes {name: float32 tensor} as safetensors: an 8-byte little-endian
    header length, the JSON header (sorted names, padded with spaces to a
    multiple of 8), then the little-endian data in the same order."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        data = tensors[name].detach().to("cpu").float().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
