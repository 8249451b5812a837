"""Converters of the recurrent layers: SimpleRNN, LSTM, GRU and Bidirectional.

Without a padding mask a layer becomes ONNX's own RNN / LSTM / GRU op. Those are time-major
and order their gates differently from pydl, so the weights are regrouped:

- pydl's kernel ``(F, G*U)`` and recurrent kernel ``(U, G*U)`` are ONNX's W ``(dirs, G*U, F)``
  and R ``(dirs, G*U, U)``, transposed;
- LSTM: pydl's gates i, f, g, o are ONNX's i, o, f, c; the bias ``(4U,)`` is ONNX's input
  bias, its recurrent bias zeros;
- GRU: pydl's r, z, n are ONNX's z, r, h; pydl's ``(2, 3U)`` bias is ONNX's input and
  recurrent biases; pydl's formulation (PyTorch's, r applied after the recurrent product) is
  ONNX's ``linear_before_reset=1``.

A padding mask (``Embedding(mask_zero=True)``) may mark any step, and a masked step keeps the
state: ONNX's ops cannot say that (their ``sequence_lens`` cut trailing steps only), so a
masked layer runs as a Scan over the steps with the cell written in standard ops, as is a
SimpleRNN whose activation the RNN op lacks (gelu, softmax).
"""
from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import numpy as np
from onnx import TensorProto, helper

from .core import activation
from .graph import Call, Graph, converts

_GATES = {"simple_rnn": 1, "lstm": 4, "gru": 3}
# ONNX's gate blocks, as indices of pydl's: LSTM iofc from ifgo, GRU zrh from rzn.
_ONNX_ORDER = {"lstm": [0, 3, 1, 2], "gru": [1, 0, 2], "simple_rnn": [0]}
_RNN_OP_ACTIVATIONS = {"tanh": ("Tanh", None), "relu": ("Relu", None), "sigmoid": ("Sigmoid", None),
                       "leaky_relu": ("LeakyRelu", 0.01)}


def _blocks(a: np.ndarray, order: List[int], units: int) -> np.ndarray:
    """The gate blocks of a's last axis (G*units wide), in ``order``."""
    return np.concatenate([a[..., k * units:(k + 1) * units] for k in order], axis=-1)


def _direction_weights(cell: str, w: Dict[str, np.ndarray], units: int) -> Tuple[np.ndarray, ...]:
    """One direction's (W, R, B) in ONNX's layout."""
    order = _ONNX_ORDER[cell]
    W = _blocks(w["kernel"], order, units).T
    R = _blocks(w["recurrent_kernel"], order, units).T
    bias = w["bias"]
    if cell == "gru":
        B = np.concatenate([_blocks(bias[0], order, units), _blocks(bias[1], order, units)])
    else:
        B = np.concatenate([_blocks(bias, order, units), np.zeros_like(bias)])
    return W, R, B


def _onnx_op(g: Graph, x: str, cell: str, act: str, weights: List[Dict[str, np.ndarray]], units: int,
             hint: str) -> Tuple[str, str]:
    """ONNX's RNN/LSTM/GRU op over x (N, T, F), forward or bidirectional; returns
    (Y (T, dirs, N, U), Y_h (dirs, N, U))."""
    per_dir = [_direction_weights(cell, w, units) for w in weights]
    W, R, B = (np.stack([d[k] for d in per_dir]) for k in range(3))
    xt = g.op("Transpose", [x], f"{hint}_time_major", perm=[1, 0, 2])
    inputs = [xt, g.const(W, f"{hint}_W"), g.const(R, f"{hint}_R"), g.const(B, f"{hint}_B")]
    attrs = {"hidden_size": units, "direction": "bidirectional" if len(weights) == 2 else "forward"}
    if cell == "gru":
        attrs["linear_before_reset"] = 1
    if cell == "simple_rnn":
        name, alpha = _RNN_OP_ACTIVATIONS[act]
        attrs["activations"] = [name] * len(weights)
        if alpha is not None:
            attrs["activation_alpha"] = [alpha] * len(weights)
    op = {"simple_rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}[cell]
    y, y_h = g.op(op, inputs, f"{hint}_{op.lower()}", outputs=2, **attrs)[:2]
    return y, y_h


def _scan_direction(g: Graph, x: str, mask: Optional[str], cell: str, act: str, w: Dict[str, np.ndarray],
                    units: int, reverse: bool, return_sequences: bool, hint: str) -> str:
    """One direction as a Scan, pydl's cell and mask rule in standard ops: (N, T, U) with
    return_sequences, else the final state (N, U)."""
    gu = _GATES[cell] * units
    bias = w["bias"]
    in_bias, rec_bias = (bias[0], bias[1]) if cell == "gru" else (bias, None)
    xw = g.op("Add", [g.op("MatMul", [x, g.const(w["kernel"], f"{hint}_kernel")], f"{hint}_xw"),
                      g.const(in_bias, f"{hint}_bias")], f"{hint}_xwb")
    scan_inputs = [g.op("Transpose", [xw], f"{hint}_xw_time_major", perm=[1, 0, 2])]
    if mask is not None:
        m = g.op("Transpose", [mask], f"{hint}_mask_time_major", perm=[1, 0])
        scan_inputs.append(g.op("Unsqueeze", [m, g.ints([2], "axis2")], f"{hint}_mask_steps"))
    zeros = g.op("ConstantOfShape", [g.batch_shape(x, [units], f"{hint}_state_shape")], f"{hint}_h0")
    lstm = cell == "lstm"

    b = Graph(g.opset, parent=g)
    h_prev = b.fresh(f"{hint}_h_prev")
    c_prev = b.fresh(f"{hint}_c_prev") if lstm else None
    x_t = b.fresh(f"{hint}_xw_t")
    m_t = b.fresh(f"{hint}_m_t") if mask is not None else None
    hr = b.op("MatMul", [h_prev, g.const(w["recurrent_kernel"], f"{hint}_recurrent_kernel")], f"{hint}_hr")
    if rec_bias is not None:
        hr = b.op("Add", [hr, g.const(rec_bias, f"{hint}_recurrent_bias")], f"{hint}_hrb")

    def part(v: str, k: int, what: str) -> str:  # gate block k of the last axis
        return b.op("Slice", [v, b.ints([k * units]), b.ints([(k + 1) * units]), b.ints([1], "axis1")],
                    f"{hint}_{what}")

    c_new = None
    if cell == "simple_rnn":
        h_new = activation(b, b.op("Add", [x_t, hr], f"{hint}_pre"), act, f"{hint}_cell")
    elif lstm:
        z = b.op("Add", [x_t, hr], f"{hint}_gates")
        i, f = (b.op("Sigmoid", [part(z, k, n)], f"{hint}_{n}_gate") for k, n in ((0, "i"), (1, "f")))
        gg = b.op("Tanh", [part(z, 2, "g")], f"{hint}_g_gate")
        o = b.op("Sigmoid", [part(z, 3, "o")], f"{hint}_o_gate")
        c_new = b.op("Add", [b.op("Mul", [f, c_prev], f"{hint}_fc"), b.op("Mul", [i, gg], f"{hint}_ig")],
                     f"{hint}_c")
        h_new = b.op("Mul", [o, b.op("Tanh", [c_new], f"{hint}_tanh_c")], f"{hint}_h")
    else:  # GRU: n = tanh(x_n + r * (U_n h + b_hn)), h = (1 - z) * n + z * h_prev
        r = b.op("Sigmoid", [b.op("Add", [part(x_t, 0, "xr"), part(hr, 0, "hr_r")], f"{hint}_r_pre")], f"{hint}_r")
        zg = b.op("Sigmoid", [b.op("Add", [part(x_t, 1, "xz"), part(hr, 1, "hr_z")], f"{hint}_z_pre")], f"{hint}_z")
        n = b.op("Tanh", [b.op("Add", [part(x_t, 2, "xn"), b.op("Mul", [r, part(hr, 2, "hr_n")], f"{hint}_rh")],
                               f"{hint}_n_pre")], f"{hint}_n")
        h_new = b.op("Add", [n, b.op("Mul", [zg, b.op("Sub", [h_prev, n], f"{hint}_h_minus_n")], f"{hint}_zh")],
                     f"{hint}_h")
    if m_t is not None:  # a padded step keeps the state
        h_new = b.op("Where", [m_t, h_new, h_prev], f"{hint}_h_kept")
        if lstm:
            c_new = b.op("Where", [m_t, c_new, c_prev], f"{hint}_c_kept")
    h_seq = b.op("Identity", [h_new], f"{hint}_h_t")

    state = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [None, units])  # noqa: E731
    body_inputs = [state(h_prev)] + ([state(c_prev)] if lstm else [])
    body_inputs.append(helper.make_tensor_value_info(x_t, TensorProto.FLOAT, [None, gu]))
    if m_t is not None:
        body_inputs.append(helper.make_tensor_value_info(m_t, TensorProto.BOOL, [None, 1]))
    body_outputs = [state(h_new)] + ([state(c_new)] if lstm else []) + [state(h_seq)]
    body = helper.make_graph(b.nodes, f"{hint}_step", body_inputs, body_outputs)
    direction = 1 if reverse else 0
    outs = g.op("Scan", [zeros] + ([zeros] if lstm else []) + scan_inputs, f"{hint}_scan",
                outputs=3 if lstm else 2, body=body, num_scan_inputs=len(scan_inputs),
                scan_input_directions=[direction] * len(scan_inputs), scan_output_directions=[direction])
    if return_sequences:
        return g.op("Transpose", [outs[-1]], f"{hint}_sequence", perm=[1, 0, 2])
    return outs[0]


def _merge(g: Graph, a: str, b: str, mode: str, hint: str) -> str:
    """Bidirectional's merge of the forward and backward outputs over their last axis."""
    if mode == "concat":
        return g.op("Concat", [a, b], hint, axis=-1)
    if mode == "sum":
        return g.op("Add", [a, b], hint)
    if mode == "mul":
        return g.op("Mul", [a, b], hint)
    return g.op("Mul", [g.op("Add", [a, b], f"{hint}_sum"), g.const(0.5)], hint)  # ave


def _direction(g: Graph, v: str, axis: int, k: int, hint: str) -> str:
    return g.op("Gather", [v, g.const(k, "direction", np.int64)], hint, axis=axis)


def _recurrent(g: Graph, c: Call, inner, weights: List[Dict[str, np.ndarray]], merge_mode: Optional[str]):
    cell, units, seqs = inner.core_type, inner.units, inner.return_sequences
    act = getattr(inner, "activation", "tanh")
    x, mask = c.inputs[0], c.masks[0]
    out_mask = mask if seqs else None  # with return_sequences the steps (and the mask) pass on
    if mask is None and (cell != "simple_rnn" or act in _RNN_OP_ACTIVATIONS):
        y, y_h = _onnx_op(g, x, cell, act, weights, units, c.hint)
        if seqs:  # (T, dirs, N, U) -> (N, T, dirs, U)
            y = g.op("Transpose", [y], f"{c.hint}_batch_major", perm=[2, 0, 1, 3])
            axis = 2
        else:     # (dirs, N, U) -> (N, dirs, U)
            y = g.op("Transpose", [y_h], f"{c.hint}_batch_major", perm=[1, 0, 2])
            axis = 1
        if merge_mode is None:
            return g.op("Squeeze", [y, g.ints([axis], "squeeze_axis")], c.hint), out_mask
        if merge_mode == "concat":  # forward's units, then backward's
            shape = [0, 0, -1] if seqs else [0, -1]
            return g.op("Reshape", [y, g.ints(shape)], c.hint), out_mask
        fwd, bwd = (_direction(g, y, axis, k, f"{c.hint}_{d}") for k, d in ((0, "forward"), (1, "backward")))
        return _merge(g, fwd, bwd, merge_mode, c.hint), out_mask
    outs = [_scan_direction(g, x, mask, cell, act, w, units, k == 1, seqs, f"{c.hint}_{d}" if merge_mode else c.hint)
            for k, (w, d) in enumerate(zip(weights, ("forward", "backward")))]
    if merge_mode is None:
        return g.op("Identity", outs, c.hint), out_mask
    return _merge(g, outs[0], outs[1], merge_mode, c.hint), out_mask


@converts("simple_rnn", "lstm", "gru")
def _single(g: Graph, c: Call):
    w = {k: c.weight(k) for k in ("kernel", "recurrent_kernel", "bias")}
    return _recurrent(g, c, c.layer, [w], None)


@converts("bidirectional")
def _bidirectional(g: Graph, c: Call):
    weights = [{k: c.weight(f"{d}_{k}") for k in ("kernel", "recurrent_kernel", "bias")}
               for d in ("forward", "backward")]
    return _recurrent(g, c, c.layer.layer, weights, c.layer.merge_mode)
