"""Weight initializers by Keras' names, with Keras' default scales.

A layer takes them as strings: ``Dense(64, kernel_initializer="he_normal")``. With
``fan_in``/``fan_out`` computed from the weight's shape as Keras does (a kernel ``(in, out)``:
``in`` and ``out``; a Conv2D kernel ``(kh, kw, c_in, f)``: ``kh*kw*c_in`` and ``kh*kw*f``):

- ``glorot_uniform`` / ``he_uniform`` / ``lecun_uniform``: ``U(-limit, limit)`` with
  ``limit = sqrt(3 * scale / n)``; ``glorot_normal`` / ``he_normal`` / ``lecun_normal``: a
  normal truncated at two standard deviations with variance ``scale / n``. Glorot:
  ``scale = 1, n = (fan_in + fan_out) / 2``; He: ``scale = 2, n = fan_in``; LeCun:
  ``scale = 1, n = fan_in``.
- ``orthogonal``: the weight, flattened to ``(prod(shape[:-1]), shape[-1])``, has orthonormal
  rows or columns (whichever are fewer).
- ``random_normal``: ``N(0, 0.05**2)``; ``random_uniform``: ``U(-0.05, 0.05)``; ``zeros``;
  ``ones``.

The draws are counter-based, keyed by the model's seed: the same seed gives bitwise the same
weights whatever the thread count. The formulas run in C++ (csrc/nn/initializers.cc).
"""
from __future__ import annotations

from typing import Any

from . import _validate

__all__ = ["NAMES", "check"]

NAMES = ("glorot_uniform", "glorot_normal", "he_uniform", "he_normal", "lecun_uniform", "lecun_normal",
         "orthogonal", "zeros", "ones", "random_normal", "random_uniform")


def check(owner: str, argument: str, value: Any) -> str:
    """value if it names an initializer; TypeError (not a string) or ValueError (unknown)
    naming the owner, the argument and the choices otherwise."""
    return _validate.choice(owner, argument, value, NAMES)
