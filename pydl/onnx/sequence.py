"""Converters of the layers over sequences ``(N, T, C)`` besides the recurrent ones: Embedding
(the source of padding masks), Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool1D and
GlobalMaxPool1D (which leave masked steps out) and PositionEmbedding."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto

from .graph import Call, Graph, converts
from .image import conv, conv_padding, pool


@converts("embedding")
def _embedding(g: Graph, c: Call):
    ids = g.cast(c.inputs[0], TensorProto.INT64, f"{c.hint}_ids")
    y = g.op("Gather", [g.const(c.weight("embeddings"), f"{c.hint}_embeddings"), ids], c.hint, axis=0)
    if not c.layer.mask_zero:
        return y, None
    # id 0 is padding: the (N, T) mask of valid steps, as the C++ layer emits it.
    padding = g.op("Equal", [ids, g.const(0, "padding_id", np.int64)], f"{c.hint}_is_padding")
    mask = g.op("Not", [padding], f"{c.hint}_mask")
    return y, mask


@converts("conv1d")
def _conv1d(g: Graph, c: Call):
    layer = c.layer
    if layer.padding == "causal":  # everything on the left: output t sees inputs <= t only
        pads = {"pads": [(layer.kernel_size - 1) * layer.dilation_rate, 0]}
    else:
        pads = conv_padding(g, c, layer.padding, [layer.kernel_size], [layer.strides], [layer.dilation_rate])
    y = conv(g, c, c.weight("kernel"), [layer.strides], [layer.dilation_rate], pads, 1)
    keeps_steps = layer.strides == 1 and layer.padding != "valid"
    return y, c.masks[0] if keeps_steps else None


@converts("max_pool1d", "avg_pool1d")
def _pool1d(g: Graph, c: Call):
    layer = c.layer
    return pool(g, c, 1, [layer.pool_size], [layer.strides or layer.pool_size], layer.padding), None


def _valid_counts(g: Graph, mask: str, hint: str):
    """(mask as (N, T, 1) bool, the number of valid steps per sample (N, 1) float)."""
    m3 = g.op("Unsqueeze", [mask, g.ints([2], "axis2")], f"{hint}_mask3")
    count = g.reduce("ReduceSum", g.cast(m3, TensorProto.FLOAT, f"{hint}_maskf"), [1], False, f"{hint}_count")
    return m3, count


@converts("global_avg_pool1d")
def _global_avg_pool1d(g: Graph, c: Call):
    x, mask = c.inputs[0], c.masks[0]
    if mask is None:
        return g.reduce("ReduceMean", x, [1], False, c.hint), None
    # The mean over the valid steps; a sequence of padding alone gives 0 (0 / max(0, 1)).
    m3, count = _valid_counts(g, mask, c.hint)
    kept = g.op("Where", [m3, x, g.const(0.0)], f"{c.hint}_kept")
    total = g.reduce("ReduceSum", kept, [1], False, f"{c.hint}_sum")
    return g.op("Div", [total, g.op("Max", [count, g.const(1.0)], f"{c.hint}_denominator")], c.hint), None


@converts("global_max_pool1d")
def _global_max_pool1d(g: Graph, c: Call):
    x, mask = c.inputs[0], c.masks[0]
    if mask is None:
        return g.reduce("ReduceMax", x, [1], False, c.hint), None
    m3, count = _valid_counts(g, mask, c.hint)
    kept = g.op("Where", [m3, x, g.const(-np.inf)], f"{c.hint}_kept")
    best = g.reduce("ReduceMax", kept, [1], False, f"{c.hint}_max")
    any_valid = g.op("Greater", [count, g.const(0.0)], f"{c.hint}_any_valid")
    return g.op("Where", [any_valid, best, g.const(0.0)], c.hint), None


@converts("position_embedding")
def _position_embedding(g: Graph, c: Call):
    # The table's first T rows (T: the input's steps, read at run time), for every sample.
    x = c.inputs[0]
    steps = g.op("Shape", [x], f"{c.hint}_steps", start=1, end=2)
    rows = g.op("Slice", [g.const(c.weight("embeddings"), f"{c.hint}_embeddings"), g.ints([0], "zero"), steps,
                          g.ints([0], "axis0")], f"{c.hint}_rows")
    return g.op("Expand", [rows, g.op("Shape", [x], f"{c.hint}_shape")], c.hint), c.masks[0]
