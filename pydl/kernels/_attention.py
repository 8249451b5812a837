"""Fused scaled dot-product attention (pydl.kernels), in the layout the input projections
produce: ``(N, T, heads, features)``."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels


def _check(fn: str, q, k, v, key_mask, query_mask, attention_mask):
    _arrays.rank(fn, "q", q, 4, "(N, Tq, heads, dk)")
    _arrays.rank(fn, "k", k, 4, "(N, Tk, heads, dk)")
    _arrays.rank(fn, "v", v, 4, "(N, Tk, heads, dv)")
    n, tq, h, dk = q.shape
    tk = k.shape[1]
    if k.shape != (n, tk, h, dk):
        raise ValueError(
            f"{fn}: k: expected (N, Tk, heads, dk) with q's N={n}, heads={h}, dk={dk}, got {_arrays.shape_of(k)}"
        )
    if v.shape[:3] != (n, tk, h):
        raise ValueError(
            f"{fn}: v: expected (N, Tk, heads, dv) with k's N={n}, Tk={tk}, heads={h}, got {_arrays.shape_of(v)}"
        )
    masks = []
    for name, m, shape in (
        ("key_mask", key_mask, (n, tk)),
        ("query_mask", query_mask, (n, tq)),
        ("attention_mask", attention_mask, (n, tq, tk)),
    ):
        m = _arrays.mask(fn, name, m)
        if m is not None and m.shape != shape:
            raise ValueError(f"{fn}: {name}: expected shape {shape}, got {_arrays.shape_of(m)}")
        masks.append(m)
    return masks


def attention_forward(
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    key_mask: Optional[ArrayLike] = None,
    query_mask: Optional[ArrayLike] = None,
    attention_mask: Optional[ArrayLike] = None,
    causal: bool = False,
    dropout: float = 0.0,
    seed: int = 0,
    scale: float = 0.0,
) -> Tuple[np.ndarray, np.ndarray]:
    """``O = softmax(scale * Q K^T + mask) V`` per batch and head, fused: the ``Tq x Tk``
    scores are never stored (memory linear in T).

    Args:
        q: ``(N, Tq, heads, dk)``.
        k: ``(N, Tk, heads, dk)``.
        v: ``(N, Tk, heads, dv)``.
        key_mask: ``(N, Tk)`` bool/0-1, 1 = attend (padding of the keys).
        query_mask: ``(N, Tq)``; a masked query row attends to no key, and like every row that
            may attend to no key it weighs all keys 1 / Tk (its output is the mean of V, never NaN).
        attention_mask: ``(N, Tq, Tk)``, a general mask.
        causal: Query i attends to keys j <= i (needs Tq == Tk).
        dropout: Rate on the attention weights, in ``[0, 1)`` (training).
        seed: Seed of the dropout draws (backward must get the same).
        scale: Scale of the scores; 0 means ``1 / sqrt(dk)``.

    Returns:
        ``(o, lse)``: ``o`` ``(N, Tq, heads, dv)``, and the row-wise log-sum-exp of the scaled
        scores ``(N, heads, Tq)`` that attention_backward reads (+inf for a row that attends to
        no key, whose output is 0).
    """
    fn = "attention_forward"
    q, k, v = _arrays.floats(fn, q=q, k=k, v=v)
    key_mask, query_mask, attention_mask = _check(fn, q, k, v, key_mask, query_mask, attention_mask)
    return _k.attention_forward(
        q, k, v, key_mask, query_mask, attention_mask, bool(causal), float(dropout), int(seed), float(scale)
    )


def attention_backward(
    dout: ArrayLike,
    q: ArrayLike,
    k: ArrayLike,
    v: ArrayLike,
    o: ArrayLike,
    lse: ArrayLike,
    key_mask: Optional[ArrayLike] = None,
    query_mask: Optional[ArrayLike] = None,
    attention_mask: Optional[ArrayLike] = None,
    causal: bool = False,
    dropout: float = 0.0,
    seed: int = 0,
    scale: float = 0.0,
) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dq, dk, dv)`` of attention_forward from ``dout`` (shaped like ``o``); ``o`` and
    ``lse`` as the forward returned them, every other argument the forward's."""
    fn = "attention_backward"
    dout, q, k, v, o, lse = _arrays.floats(fn, dout=dout, q=q, k=k, v=v, o=o, lse=lse)
    key_mask, query_mask, attention_mask = _check(fn, q, k, v, key_mask, query_mask, attention_mask)
    shape = q.shape[:3] + v.shape[3:]
    for name, a in (("dout", dout), ("o", o)):
        if a.shape != shape:
            raise ValueError(f"{fn}: {name}: expected shape {shape} (N, Tq, heads, dv), got {_arrays.shape_of(a)}")
    if lse.shape != (q.shape[0], q.shape[2], q.shape[1]):
        raise ValueError(
            f"{fn}: lse: expected shape {(q.shape[0], q.shape[2], q.shape[1])} (N, heads, Tq), got "
            f"{_arrays.shape_of(lse)}"
        )
    return _k.attention_backward(
        dout,
        q,
        k,
        v,
        o,
        lse,
        key_mask,
        query_mask,
        attention_mask,
        bool(causal),
        float(dropout),
        int(seed),
        float(scale),
    )
