"""Converters of the core layers: Dense, Activation, Dropout, Flatten, Reshape, Normalization,
and the activation functions every layer with an ``activation`` shares."""
from __future__ import annotations

import math
from typing import Optional

import numpy as np

from .graph import Call, Graph, converts


def activation(g: Graph, x: str, name: Optional[str], hint: str) -> str:
    """``name`` (one of pydl.layers.ACTIVATIONS) applied to x, as pydl's kernels compute it:
    leaky_relu with slope 0.01, exact (erf) GELU, softmax over the last axis."""
    if name in (None, "linear"):
        return x
    if name == "relu":
        return g.op("Relu", [x], f"{hint}_relu")
    if name == "leaky_relu":
        return g.op("LeakyRelu", [x], f"{hint}_leaky_relu", alpha=0.01)
    if name == "sigmoid":
        return g.op("Sigmoid", [x], f"{hint}_sigmoid")
    if name == "tanh":
        return g.op("Tanh", [x], f"{hint}_tanh")
    if name == "softmax":
        return g.op("Softmax", [x], f"{hint}_softmax", axis=-1)
    if name == "gelu":  # Gelu is an op from opset 20 only; the formula is the same everywhere
        erf = g.op("Erf", [g.op("Mul", [x, g.const(math.sqrt(0.5))], f"{hint}_gelu_scaled")], f"{hint}_gelu_erf")
        half = g.op("Mul", [x, g.const(0.5)], f"{hint}_gelu_half")
        return g.op("Mul", [half, g.op("Add", [erf, g.const(1.0)], f"{hint}_gelu_cdf")], f"{hint}_gelu")
    raise ValueError(f"ONNX export: unknown activation {name!r}")


def dense_on_last_axis(g: Graph, x: str, kernel: np.ndarray, bias: Optional[np.ndarray], hint: str) -> str:
    """x @ kernel (+ bias) over x's last axis, whatever its rank (Keras' Dense)."""
    y = g.op("MatMul", [x, g.const(kernel, f"{hint}_kernel")], f"{hint}_matmul")
    if bias is not None:
        y = g.op("Add", [y, g.const(bias, f"{hint}_bias")], f"{hint}_biased")
    return y


@converts("dense")
def _dense(g: Graph, c: Call):
    layer = c.layer
    y = dense_on_last_axis(g, c.inputs[0], c.weight("kernel"), c.weight("bias") if layer.use_bias else None, c.hint)
    return activation(g, y, layer.activation, c.hint), c.masks[0]  # the steps axis is kept


@converts("activation")
def _activation(g: Graph, c: Call):
    return activation(g, c.inputs[0], c.layer.activation, c.hint), c.masks[0]


@converts("dropout")
def _dropout(g: Graph, c: Call):
    return g.op("Identity", c.inputs, c.hint), c.masks[0]  # inference: the identity


@converts("flatten")
def _flatten(g: Graph, c: Call):
    return g.op("Flatten", c.inputs, c.hint, axis=1), None


@converts("reshape")
def _reshape(g: Graph, c: Call):
    # 0 copies the batch size (allowzero=0): the batch axis stays dynamic.
    return g.op("Reshape", [c.inputs[0], g.ints([0, *c.layer.target_shape])], c.hint), None


@converts("normalization")
def _normalization(g: Graph, c: Call):
    mean = c.weight("mean").astype(np.float32)
    var = c.weight("variance").astype(np.float32)
    # As kernels/norm.cc: the scale 1 / sqrt(variance) in float32, 1 where the variance is 0.
    with np.errstate(divide="ignore"):
        scale = np.where(var > 0, np.float32(1) / np.sqrt(np.where(var > 0, var, 1)), 1).astype(np.float32)
    centred = g.op("Sub", [c.inputs[0], g.const(mean, f"{c.hint}_mean")], f"{c.hint}_centred")
    return g.op("Mul", [centred, g.const(scale, f"{c.hint}_scale")], c.hint), c.masks[0]
