"""Converters of the image layers (channels-last, ``(N, H, W, C)``) and the normalizations:
Conv2D, MaxPool2D, AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, BatchNormalization,
LayerNormalization. ONNX convolutions and pools are channels-first, so each runs between two
Transposes (which onnxruntime fuses away where it can)."""
from __future__ import annotations

import numpy as np

from .core import activation
from .graph import Call, Graph, converts

# (N, spatial..., C) <-> (N, C, spatial...) for 1 or 2 spatial axes.
TO_CHANNELS_FIRST = {1: [0, 2, 1], 2: [0, 3, 1, 2]}
TO_CHANNELS_LAST = {1: [0, 2, 1], 2: [0, 2, 3, 1]}


def channels_first(g: Graph, x: str, rank: int, hint: str, op_type: str, inputs=(), **attrs) -> str:
    """op_type run channels-first on the channels-last x with ``rank`` spatial axes."""
    xt = g.op("Transpose", [x], f"{hint}_nchw", perm=TO_CHANNELS_FIRST[rank])
    y = g.op(op_type, [xt, *inputs], f"{hint}_{op_type.lower()}", **attrs)
    return g.op("Transpose", [y], f"{hint}_nhwc", perm=TO_CHANNELS_LAST[rank])


def padding_attrs(padding, rank: int) -> dict:
    """ONNX padding attributes of pydl's: "same" pads as TensorFlow (the odd step at the end),
    which is ONNX's SAME_UPPER; an explicit (ph, pw) pads both sides; "valid" nothing."""
    if padding == "same":
        return {"auto_pad": "SAME_UPPER"}  # sizes known at run time only: ONNX computes the pads
    if padding == "valid":
        return {"pads": [0] * (2 * rank)}
    begin = list(padding)
    return {"pads": begin + begin}


def conv(g: Graph, c: Call, kernel: np.ndarray, strides, dilations, pad_attrs: dict, rank: int) -> str:
    """pydl's (k..., c_in, filters) kernel as ONNX's (filters, c_in, k...), bias, activation."""
    w = np.transpose(kernel, (rank + 1, rank, *range(rank)))
    inputs = [g.const(w, f"{c.hint}_kernel")]
    if c.layer.use_bias:
        inputs.append(g.const(c.weight("bias"), f"{c.hint}_bias"))
    y = channels_first(g, c.inputs[0], rank, c.hint, "Conv", inputs, kernel_shape=list(kernel.shape[:rank]),
                       strides=list(strides), dilations=list(dilations), **pad_attrs)
    return activation(g, y, c.layer.activation, c.hint)


def same_pads(g: Graph, c: Call, kernel, strides, dilations) -> dict:
    """Explicit "same" pads (TensorFlow's, as conv2d_args computes them) for the spatial
    sizes the graph knows now: onnxruntime refuses SAME_UPPER with a dilation."""
    sizes = g.static_shape(c.inputs[0])[1:-1]
    if any(s is None for s in sizes):
        raise ValueError(f"ONNX export: {c.label} has padding='same' with dilation_rate > 1 on an axis whose "
                         "length is only known at run time; onnxruntime cannot pad that: give the Input a fixed "
                         "shape, or use explicit padding")
    begin, end = [], []
    for size, k, s, d in zip(sizes, kernel, strides, dilations):
        out = (size - 1) // s + 1
        total = max(0, (out - 1) * s + (k - 1) * d + 1 - size)
        begin.append(total // 2)
        end.append(total - total // 2)
    return {"pads": begin + end}


def conv_padding(g: Graph, c: Call, padding, kernel, strides, dilations) -> dict:
    if padding == "same" and any(d != 1 for d in dilations):
        return same_pads(g, c, kernel, strides, dilations)
    return padding_attrs(padding, len(kernel))


@converts("conv2d")
def _conv2d(g: Graph, c: Call):
    layer = c.layer
    pads = conv_padding(g, c, layer.padding, layer.kernel_size, layer.strides, layer.dilation_rate)
    return conv(g, c, c.weight("kernel"), layer.strides, layer.dilation_rate, pads, 2), None


def pool(g: Graph, c: Call, rank: int, pool_size, strides, padding) -> str:
    """Max or average windows; an average leaves padded steps out (count_include_pad=0)."""
    is_max = c.layer.core_type.startswith("max")
    attrs = {"kernel_shape": list(pool_size), "strides": list(strides), **padding_attrs(padding, rank)}
    if not is_max:
        attrs["count_include_pad"] = 0
    return channels_first(g, c.inputs[0], rank, c.hint, "MaxPool" if is_max else "AveragePool", **attrs)


@converts("max_pool2d", "avg_pool2d")
def _pool2d(g: Graph, c: Call):
    layer = c.layer
    return pool(g, c, 2, layer.pool_size, layer.strides or layer.pool_size, layer.padding), None


@converts("global_avg_pool2d")
def _global_avg_pool2d(g: Graph, c: Call):
    return g.reduce("ReduceMean", c.inputs[0], [1, 2], False, c.hint), None


@converts("global_max_pool2d")
def _global_max_pool2d(g: Graph, c: Call):
    return g.reduce("ReduceMax", c.inputs[0], [1, 2], False, c.hint), None


@converts("batch_norm")
def _batch_norm(g: Graph, c: Call):
    # Inference, as kernels/norm.cc: (x - moving_mean) * scale + beta, the scale
    # gamma / sqrt(moving_variance + epsilon) in float64, then float32.
    gamma, var = c.weight("gamma").astype(np.float64), c.weight("moving_variance").astype(np.float64)
    scale = (gamma / np.sqrt(var + c.layer.epsilon)).astype(np.float32)
    centred = g.op("Sub", [c.inputs[0], g.const(c.weight("moving_mean"), f"{c.hint}_moving_mean")], f"{c.hint}_centred")
    scaled = g.op("Mul", [centred, g.const(scale, f"{c.hint}_scale")], f"{c.hint}_scaled")
    return g.op("Add", [scaled, g.const(c.weight("beta"), f"{c.hint}_beta")], c.hint), c.masks[0]


@converts("layer_norm")
def _layer_norm(g: Graph, c: Call):
    gamma, beta = g.const(c.weight("gamma"), f"{c.hint}_gamma"), g.const(c.weight("beta"), f"{c.hint}_beta")
    return g.op("LayerNormalization", [c.inputs[0], gamma, beta], c.hint, axis=-1,
                epsilon=float(c.layer.epsilon)), c.masks[0]
