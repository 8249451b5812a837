"""Merge, concatenation and embedding kernels (pydl.kernels)."""

from __future__ import annotations

from typing import List, Sequence

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

_k = _core.kernels
_OPS = ("add", "subtract", "multiply", "average", "maximum", "minimum")


def _same(fn: str, xs) -> list:
    if isinstance(xs, np.ndarray) or not isinstance(xs, (list, tuple)) or len(xs) < 2:
        raise ValueError(f"{fn}: xs: expected a list of at least 2 arrays")
    arrays = _arrays.floats(fn, **{f"xs[{i}]": x for i, x in enumerate(xs)})
    for i, a in enumerate(arrays[1:], 1):
        if a.shape != arrays[0].shape:
            raise ValueError(
                f"{fn}: xs[{i}] {_arrays.shape_of(a)} differs in shape from xs[0] {_arrays.shape_of(arrays[0])}"
            )
    return arrays


def merge_forward(op: str, xs: Sequence[np.ndarray]) -> np.ndarray:
    """Elementwise merge of arrays of one shape (the Add, Subtract, Multiply, Average,
    Maximum, Minimum layers): ``op`` is ``"add"``, ``"subtract"`` (exactly 2 arrays:
    ``xs[0] - xs[1]``), ``"multiply"``, ``"average"``, ``"maximum"`` or ``"minimum"``."""
    fn = "merge_forward"
    _arrays.choice(fn, "op", op, _OPS)
    return _k.merge_forward(op, _same(fn, xs))


def merge_backward(op: str, dy: ArrayLike, xs: Sequence[np.ndarray]) -> List[np.ndarray]:
    """The gradient of each input of merge_forward (a list, one per array of ``xs``; for
    maximum / minimum the gradient goes to the first input holding the extreme)."""
    fn = "merge_backward"
    _arrays.choice(fn, "op", op, _OPS)
    arrays = _same(fn, xs)
    (dy,) = _arrays.floats(fn, dy=dy)
    if dy.shape != arrays[0].shape or dy.dtype != arrays[0].dtype:
        raise ValueError(
            f"{fn}: dy: expected shape {_arrays.shape_of(arrays[0])} and dtype {arrays[0].dtype}, "
            f"got {_arrays.shape_of(dy)} {dy.dtype}"
        )
    return _k.merge_backward(op, dy, arrays)


def concat_forward(xs: Sequence[np.ndarray], axis: int = -1) -> np.ndarray:
    """Concatenation along ``axis`` (the Concatenate layer); shapes must agree off the axis."""
    fn = "concat_forward"
    if isinstance(xs, np.ndarray) or not isinstance(xs, (list, tuple)) or not xs:
        raise ValueError(f"{fn}: xs: expected a non-empty list of arrays")
    arrays = _arrays.floats(fn, **{f"xs[{i}]": x for i, x in enumerate(xs)})
    return _k.concat_forward(arrays, int(axis))


def concat_backward(dy: ArrayLike, widths: Sequence[int], axis: int = -1) -> List[np.ndarray]:
    """Splits ``dy`` along ``axis`` into pieces of ``widths`` (the inputs' sizes on the axis)."""
    (dy,) = _arrays.floats("concat_backward", dy=dy)
    return _k.concat_backward(dy, [int(w) for w in widths], int(axis))


def embedding_forward(table: ArrayLike, ids: ArrayLike) -> np.ndarray:
    """``table[ids]``: ``table`` ``(vocab, dim)``, integer ``ids`` of any shape with values in
    ``[0, vocab)``; returns ``ids.shape + (dim,)``."""
    fn = "embedding_forward"
    (table,) = _arrays.floats(fn, table=table)
    _arrays.rank(fn, "table", table, 2, "(vocab, dim)")
    return _k.embedding_forward(table, _arrays.integers(fn, "ids", ids, np.int64))


def embedding_backward(dy: ArrayLike, ids: ArrayLike, vocab: int) -> np.ndarray:
    """``d loss / d table`` ``(vocab, dim)`` from ``dy`` ``ids.shape + (dim,)``; the rows of
    repeated ids are summed."""
    fn = "embedding_backward"
    (dy,) = _arrays.floats(fn, dy=dy)
    ids = _arrays.integers(fn, "ids", ids, np.int64)
    if dy.shape[: ids.ndim] != ids.shape or dy.ndim != ids.ndim + 1:
        raise ValueError(
            f"{fn}: dy: expected shape ids.shape + (dim,) = {ids.shape + ('dim',)}, got {_arrays.shape_of(dy)}"
        )
    return _k.embedding_backward(dy, ids, int(vocab))
