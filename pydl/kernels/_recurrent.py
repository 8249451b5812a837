"""Recurrent kernels (pydl.kernels): SimpleRNN, LSTM and GRU over whole batch-first sequences,
and Bidirectional's merge of the two directions."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels
_GATES = {"simple_rnn": 1, "simple": 1, "lstm": 4, "gru": 3}
_MERGES = ("concat", "sum", "ave", "mul")


def _check(fn: str, x, kernel, recurrent, bias, cell: str, mask):
    _arrays.choice(fn, "cell", cell, tuple(_GATES))
    _arrays.rank(fn, "x", x, 3, "(N, T, F)")
    _arrays.rank(fn, "recurrent", recurrent, 2, "(U, G*U)")
    g, u = _GATES[cell], recurrent.shape[0]
    if recurrent.shape != (u, g * u):
        raise ValueError(
            f"{fn}: recurrent: expected shape ({u}, {g * u}) for {cell} with {u} units, got "
            f"{_arrays.shape_of(recurrent)}"
        )
    if kernel.shape != (x.shape[2], g * u):
        raise ValueError(
            f"{fn}: kernel: expected shape ({x.shape[2]}, {g * u}) (F, G*U), got {_arrays.shape_of(kernel)}"
        )
    nb = (2 if cell == "gru" else 1) * g * u
    if bias is not None and bias.size != nb:
        raise ValueError(
            f"{fn}: bias: expected {nb} values ({'(2, 3U)' if cell == 'gru' else '(G*U,)'}), got "
            f"shape {_arrays.shape_of(bias)}"
        )
    if mask is not None and mask.shape != x.shape[:2]:
        raise ValueError(f"{fn}: mask: expected shape {x.shape[:2]} (N, T), got {_arrays.shape_of(mask)}")
    return u


def rnn_forward(
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent: ArrayLike,
    bias: Optional[ArrayLike] = None,
    cell: str = "lstm",
    activation: str = "tanh",
    reverse: bool = False,
    return_sequences: bool = False,
    mask: Optional[ArrayLike] = None,
    h0: Optional[ArrayLike] = None,
    c0: Optional[ArrayLike] = None,
    input_dropout: Optional[ArrayLike] = None,
    recurrent_dropout: Optional[ArrayLike] = None,
) -> Tuple[np.ndarray, np.ndarray]:
    """A recurrent layer's forward over whole sequences (PyTorch's and cuDNN's equations).

    Args:
        x: ``(N, T, F)``, batch first.
        kernel: ``(F, G*U)`` input weights, the gates side by side: G = 1 for
            ``"simple_rnn"``, 4 for ``"lstm"`` (gates i, f, g, o), 3 for ``"gru"`` (r, z, n).
        recurrent: ``(U, G*U)`` recurrent weights, same gate order.
        bias: ``(G*U,)``, or for GRU ``(2, 3U)`` (input bias, then recurrent bias:
            ``n = tanh(W_n x + b_in + r * (U_n h + b_hn))``); None for no bias.
        cell: ``"simple_rnn"``, ``"lstm"`` or ``"gru"``.
        activation: SimpleRNN's activation (``"tanh"``, ``"relu"``, ...).
        reverse: Run from the last step to the first (Bidirectional's backward direction).
        return_sequences: Return every step's state ``(N, T, U)``, else the last ``(N, U)``.
        mask: ``(N, T)`` bool/0-1; masked steps leave the state unchanged.
        h0: ``(N, U)`` initial state (zeros when None).
        c0: ``(N, U)`` initial LSTM cell state.
        input_dropout: ``(N, F)`` dropout scales (0 or ``1 / (1 - rate)``) multiplying every
            step's input, or None.
        recurrent_dropout: ``(N, U)`` scales multiplying the state entering the recurrent
            product, or None.

    Returns:
        ``(y, workspace)``: the output, and the 1-D state rnn_backward needs.
    """
    fn = "rnn_forward"
    x, kernel, recurrent, bias, h0, c0, input_dropout, recurrent_dropout = _arrays.floats(
        fn,
        x=x,
        kernel=kernel,
        recurrent=recurrent,
        bias=bias,
        h0=h0,
        c0=c0,
        input_dropout=input_dropout,
        recurrent_dropout=recurrent_dropout,
    )
    mask = _arrays.mask(fn, "mask", mask)
    u = _check(fn, x, kernel, recurrent, bias, cell, mask)
    for name, a, shape in (
        ("h0", h0, (x.shape[0], u)),
        ("c0", c0, (x.shape[0], u)),
        ("input_dropout", input_dropout, (x.shape[0], x.shape[2])),
        ("recurrent_dropout", recurrent_dropout, (x.shape[0], u)),
    ):
        if a is not None and a.shape != shape:
            raise ValueError(f"{fn}: {name}: expected shape {shape}, got {_arrays.shape_of(a)}")
    return _k.rnn_forward(
        x,
        kernel,
        recurrent,
        bias,
        cell,
        activation,
        bool(reverse),
        bool(return_sequences),
        mask,
        h0,
        c0,
        input_dropout,
        recurrent_dropout,
    )


def rnn_backward(
    dy: ArrayLike,
    x: ArrayLike,
    kernel: ArrayLike,
    recurrent: ArrayLike,
    bias: ArrayLike,
    workspace: ArrayLike,
    cell: str = "lstm",
    activation: str = "tanh",
    reverse: bool = False,
    return_sequences: bool = False,
    mask: Optional[ArrayLike] = None,
    input_dropout: Optional[ArrayLike] = None,
    recurrent_dropout: Optional[ArrayLike] = None,
) -> Tuple[np.ndarray, ...]:
    """Backpropagation through time of rnn_forward.

    ``dy`` is shaped like the forward's ``y``; ``workspace`` is what the forward returned; every
    other argument must be the forward's. Returns ``(dx, dkernel, drecurrent, dbias, dh0, dc0)``
    shaped ``(N, T, F)``, like ``kernel``, like ``recurrent``, ``(G*U,)`` (GRU ``(6U,)``; zeros
    without a bias), ``(N, U)`` and ``(N, U)`` (zeros except for LSTM)."""
    fn = "rnn_backward"
    dy, x, kernel, recurrent, bias, workspace, input_dropout, recurrent_dropout = _arrays.floats(
        fn,
        dy=dy,
        x=x,
        kernel=kernel,
        recurrent=recurrent,
        bias=bias,
        workspace=workspace,
        input_dropout=input_dropout,
        recurrent_dropout=recurrent_dropout,
    )
    mask = _arrays.mask(fn, "mask", mask)
    u = _check(fn, x, kernel, recurrent, bias, cell, mask)
    shape = (x.shape[0], x.shape[1], u) if return_sequences else (x.shape[0], u)
    if dy.shape != shape:
        raise ValueError(f"{fn}: dy: expected shape {shape}, got {_arrays.shape_of(dy)}")
    return _k.rnn_backward(
        dy,
        x,
        kernel,
        recurrent,
        bias,
        cell,
        activation,
        bool(reverse),
        bool(return_sequences),
        mask,
        workspace,
        input_dropout,
        recurrent_dropout,
    )


def bidirectional_merge_forward(mode: str, a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Bidirectional's merge of the forward (``a``) and backward (``b``) outputs, both
    ``(..., U)``: ``"concat"`` gives ``(..., 2U)``, ``"sum"``, ``"ave"`` and ``"mul"`` give
    ``(..., U)``."""
    fn = "bidirectional_merge_forward"
    a, b = _arrays.floats(fn, a=a, b=b)
    _arrays.choice(fn, "mode", mode, _MERGES)
    if a.shape != b.shape:
        raise ValueError(f"{fn}: a {_arrays.shape_of(a)} and b {_arrays.shape_of(b)} differ in shape")
    return _k.bidirectional_merge_forward(mode, a, b)


def bidirectional_merge_backward(mode: str, dy: ArrayLike, a: ArrayLike, b: ArrayLike) -> Tuple[np.ndarray, np.ndarray]:
    """``(d loss / d a, d loss / d b)`` of bidirectional_merge_forward."""
    fn = "bidirectional_merge_backward"
    dy, a, b = _arrays.floats(fn, dy=dy, a=a, b=b)
    _arrays.choice(fn, "mode", mode, _MERGES)
    if a.shape != b.shape:
        raise ValueError(f"{fn}: a {_arrays.shape_of(a)} and b {_arrays.shape_of(b)} differ in shape")
    return _k.bidirectional_merge_backward(mode, dy, a, b)
