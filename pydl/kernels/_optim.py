"""Optimizer steps and gradient clipping (pydl.kernels): one fused pass over a flat
parameter vector, updated in place, with PyTorch's update rules and Keras' argument names."""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Sequence, Union

import numpy as np
from numpy.typing import ArrayLike

from .. import _core
from . import _arrays

if TYPE_CHECKING:
    from ..optimizers import Optimizer

_k = _core.kernels


def _config(fn: str, optimizer) -> dict:
    if hasattr(optimizer, "core_config"):  # a pydl.optimizers.Optimizer
        return optimizer.core_config()
    if isinstance(optimizer, dict):
        return dict(optimizer)
    raise TypeError(
        f"{fn}: optimizer: expected a pydl.optimizers.Optimizer or a dict such as "
        f"{{'kind': 'adam', 'learning_rate': 1e-3}}, got {type(optimizer).__name__}"
    )


def _slot_count(fn: str, c: dict) -> int:
    kind = c.get("kind")
    if kind == "sgd":
        return 1 if c.get("momentum") else 0
    if kind in ("adam", "adamw"):
        return 2
    if kind == "rmsprop":
        return 1 + bool(c.get("momentum")) + bool(c.get("centered"))
    if kind == "adagrad":
        return 1
    raise ValueError(
        f"{fn}: optimizer kind: expected one of 'sgd', 'adam', 'adamw', 'rmsprop', 'adagrad', got {kind!r}"
    )


def optimizer_slots(optimizer: Union[dict, Optimizer], params: ArrayLike) -> List[np.ndarray]:
    """Fresh optimizer state for ``params``: the arrays optimizer_step updates, each shaped
    and typed like ``params``, in the core's order (SGD: its momentum buffer when
    ``momentum > 0``; Adam / AdamW: m, v; RMSprop: the mean square, then the momentum buffer
    and the mean gradient when used; Adagrad: the sum of squares, filled with
    ``initial_accumulator_value``)."""
    fn = "optimizer_slots"
    c = _config(fn, optimizer)
    (p,) = _arrays.floats(fn, params=params)
    fill = float(c.get("initial_accumulator_value", 0.1)) if c.get("kind") == "adagrad" else 0.0
    return [np.full(p.shape, fill, p.dtype) for _ in range(_slot_count(fn, c))]


def optimizer_step(
    params: np.ndarray, grads: ArrayLike, slots: Sequence[np.ndarray], optimizer: Union[dict, Optimizer], step: int
) -> bool:
    """One update of ``params`` (and ``slots``) in place.

    Args:
        params: Writable C-contiguous float32/float64 array (any shape: it is read flat).
        grads: The gradients, the same size and dtype.
        slots: The optimizer state, as optimizer_slots made it (updated in place).
        optimizer: A ``pydl.optimizers`` optimizer (``Adam(learning_rate=1e-3)``...) or its
            dict ``{"kind": "adam", "learning_rate": 1e-3, ...}``; ``clipnorm`` is refused here
            (call clip_by_global_norm on the gradients first).
        step: The step number, from 1 (Adam's bias correction reads it).

    Returns:
        True when the update was applied; False, with nothing changed, when it would have
        made a parameter or state value NaN or Inf.
    """
    fn = "optimizer_step"
    c = _config(fn, optimizer)
    p = _arrays.in_place(fn, "params", params)
    (g,) = _arrays.floats(fn, grads=grads)
    if g.dtype != p.dtype:
        raise TypeError(f"{fn}: grads: expected params' dtype {p.dtype}, got {g.dtype}")
    if g.size != p.size:
        raise ValueError(f"{fn}: grads has {g.size} values, params {p.size}")
    need = _slot_count(fn, c)
    if len(slots) != need:
        raise ValueError(
            f"{fn}: {c['kind']} with these settings keeps {need} state array(s), got {len(slots)} "
            f"(optimizer_slots makes them)"
        )
    s = [_arrays.in_place(fn, f"slots[{i}]", a, p.dtype) for i, a in enumerate(slots)]
    for i, a in enumerate(s):
        if a.size != p.size:
            raise ValueError(f"{fn}: slots[{i}] has {a.size} values, params {p.size}")
    if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
        raise ValueError(f"{fn}: step: expected an int >= 1 (steps count from 1), got {step!r}")
    s += [None] * (3 - len(s))
    return _k.optimizer_step(p, g, s[0], s[1], c, int(step), s[2])


def global_norm(g: ArrayLike) -> float:
    """``sqrt(sum(g ** 2))`` over every value of ``g``, summed in a fixed order."""
    (g,) = _arrays.floats("global_norm", g=g)
    return _k.global_norm(g)


def clip_by_global_norm(g: np.ndarray, max_norm: float) -> float:
    """Scale ``g`` in place by ``max_norm / (norm + 1e-6)`` when its global norm exceeds
    ``max_norm`` (``torch.nn.utils.clip_grad_norm_``). Returns the norm before clipping."""
    fn = "clip_by_global_norm"
    g = _arrays.in_place(fn, "g", g)
    if not max_norm > 0:
        raise ValueError(f"{fn}: max_norm: expected a positive number, got {max_norm!r}")
    return _k.clip_by_global_norm(g, float(max_norm))
