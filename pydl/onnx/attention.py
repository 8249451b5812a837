"""Converter of MultiHeadAttention as standard ops (MatMul, Softmax, Where, ...). The
TransformerEncoder needs none of its own: it is its sublayers (attention, dropout, add,
layer norms, dense) in the graph.

Per head, ``softmax(q k^T / sqrt(key_dim)) v`` with the masks the C++ kernel applies: the keys
the value's (and key's) padding mask marks, the query rows the query's marks, a boolean
``attention_mask`` input (N, Tq, Tk), and the causal mask. A query row that may attend to no
key weighs every key 1 / Tk (all its scores are the same large negative number), as the C++
kernel and Keras do. Output 1 of the call (return_attention_scores) is the weights.
"""
from __future__ import annotations

import math
from typing import Optional

import numpy as np
from onnx import TensorProto, helper

from .graph import Call, Graph, converts
from .merge import merged_mask

_MASKED = -1e30  # a masked score: exp(_MASKED - max) is 0 in float32 beside any real score


def _project(g: Graph, x: str, kernel: np.ndarray, bias: Optional[np.ndarray], hint: str) -> str:
    """x (N, T, D) @ kernel (D, H, dim) + bias (H, dim), as (N, H, T, dim)."""
    d, heads, dim = kernel.shape
    y = g.op("MatMul", [x, g.const(kernel.reshape(d, heads * dim), f"{hint}_kernel")], f"{hint}_matmul")
    if bias is not None:
        y = g.op("Add", [y, g.const(bias.reshape(-1), f"{hint}_bias")], f"{hint}_biased")
    y = g.op("Reshape", [y, g.ints([0, 0, heads, dim])], f"{hint}_heads")
    return g.op("Transpose", [y], f"{hint}_per_head", perm=[0, 2, 1, 3])


def _and(g: Graph, a: Optional[str], b: str, hint: str) -> str:
    return b if a is None else g.op("And", [a, b], hint)


@converts("multi_head_attention")
def _multi_head_attention(g: Graph, c: Call):
    layer, h = c.layer, c.hint
    spec = layer.core_config()
    has_key, has_mask, causal = spec["has_key"], spec["has_attention_mask"], spec["use_causal_mask"]
    query, value = c.inputs[0], c.inputs[1]
    key = c.inputs[2] if has_key else value
    bias = (lambda name: c.weight(name)) if layer.use_bias else (lambda name: None)
    q = _project(g, query, c.weight("query_kernel"), bias("query_bias"), f"{h}_query")
    k = _project(g, key, c.weight("key_kernel"), bias("key_bias"), f"{h}_key")
    v = _project(g, value, c.weight("value_kernel"), bias("value_bias"), f"{h}_value")
    key_dim = c.weight("query_kernel").shape[2]
    kt = g.op("Transpose", [k], f"{h}_key_t", perm=[0, 1, 3, 2])
    scores = g.op("Mul", [g.op("MatMul", [q, kt], f"{h}_qk"), g.const(1.0 / math.sqrt(key_dim))], f"{h}_scores")

    allowed = None  # broadcast to (N, H, Tq, Tk): True where query i may attend to key j
    key_mask = merged_mask(g, [c.masks[1], c.masks[2] if has_key else None], f"{h}_key_padding")
    if key_mask is not None:
        allowed = g.op("Unsqueeze", [key_mask, g.ints([1, 2], "axes12")], f"{h}_key_allowed")
    if c.masks[0] is not None:
        allowed = _and(g, allowed, g.op("Unsqueeze", [c.masks[0], g.ints([1, 3], "axes13")], f"{h}_query_allowed"),
                       f"{h}_allowed")
    if has_mask:
        # As the C++ layer reads the (float) mask tensor: True above 0.5.
        attn = g.op("Greater", [c.inputs[3 if has_key else 2], g.const(0.5)], f"{h}_attention_mask")
        allowed = _and(g, allowed, g.op("Unsqueeze", [attn, g.ints([1], "axis1")], f"{h}_attention_allowed"),
                       f"{h}_allowed")
    if causal:  # key j <= query i: the lower triangle of a (Tq, Tk) square, sized at run time
        square = g.op("Shape", [scores], f"{h}_square_shape", start=2, end=4)
        one = helper.make_tensor("one", TensorProto.FLOAT, [1], [1.0])
        ones = g.op("ConstantOfShape", [square], f"{h}_ones", value=one)
        lower = g.cast(g.op("Trilu", [ones], f"{h}_lower", upper=0), TensorProto.BOOL, f"{h}_causal")
        allowed = _and(g, allowed, lower, f"{h}_allowed")
    if allowed is None:
        weights = g.op("Softmax", [scores], f"{h}_weights", axis=-1)
    else:
        masked = g.op("Where", [allowed, scores, g.const(_MASKED)], f"{h}_masked_scores")
        weights = g.op("Softmax", [masked], f"{h}_weights", axis=-1)
    if c.output_index == 1:
        return g.op("Identity", [weights], f"{h}_scores_out"), None

    o = g.op("MatMul", [weights, v], f"{h}_attended")  # (N, H, Tq, value_dim)
    out_kernel = c.weight("output_kernel")
    heads, value_dim, out_shape = out_kernel.shape[0], out_kernel.shape[1], list(out_kernel.shape[2:])
    o = g.op("Reshape", [g.op("Transpose", [o], f"{h}_steps_first", perm=[0, 2, 1, 3]),
                         g.ints([0, 0, heads * value_dim])], f"{h}_joined")
    y = g.op("MatMul", [o, g.const(out_kernel.reshape(heads * value_dim, -1), f"{h}_output_kernel")],
             f"{h}_output")
    if layer.use_bias:
        y = g.op("Add", [y, g.const(c.weight("output_bias").reshape(-1), f"{h}_output_bias")], f"{h}_output_biased")
    if len(out_shape) != 1:
        y = g.op("Reshape", [y, g.ints([0, 0, *out_shape])], f"{h}_output_shaped")
    return g.op("Identity", [y], h), c.masks[0]  # the output carries the query's mask
