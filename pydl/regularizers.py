"""Weight regularizers, Keras' classes and convention.

``Dense(64, kernel_regularizer=regularizers.L2(1e-4))`` adds ``l2 * sum(w**2)`` to the training
loss, ``L1(l1)`` adds ``l1 * sum(|w|)``, ``L1L2(l1, l2)`` both: Keras' convention, not
PyTorch's ``weight_decay`` (which equals ``L2(l2=weight_decay / 2)`` under SGD). The strings
``"l1"`` and ``"l2"`` are ``L1()`` and ``L2()`` with Keras' default factor 0.01.

The penalty and its gradient are computed in C++ inside each training step (once per weight,
also when several calls share a layer), added to the reported ``loss`` of ``fit`` and
``evaluate`` (as Keras does; the per-output losses of a multi-output model leave it out) and to
``loss_and_gradients``. Weights of a layer with ``trainable = False`` carry no penalty.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Union

import numpy as np

from . import _validate

__all__ = ["Regularizer", "L1", "L2", "L1L2", "get", "serialize"]


class Regularizer:
    """Base class: ``l1 * sum(|w|) + l2 * sum(w**2)``; subclasses fix which factors exist."""

    l1: float = 0.0
    l2: float = 0.0

    def __call__(self, w) -> float:
        """The penalty of the array ``w`` (float64), as the trainer adds it."""
        w = np.asarray(w, dtype=np.float64)
        return float(self.l1 * np.abs(w).sum() + self.l2 * np.square(w).sum())

    def get_config(self) -> Dict[str, float]:
        raise NotImplementedError

    def factors(self) -> Dict[str, float]:
        return {"l1": self.l1, "l2": self.l2}

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __hash__(self) -> int:
        return hash((type(self).__name__, tuple(self.get_config().items())))

    def __repr__(self) -> str:
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in self.get_config().items())})"


def _factor(owner: str, name: str, value) -> float:
    return _validate.non_negative_float(owner, name, value)


class L1(Regularizer):
    """``l1 * sum(|w|)``; Keras' default l1 = 0.01."""

    def __init__(self, l1: float = 0.01):
        self.l1 = _factor("L1", "l1", l1)

    def get_config(self):
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(w**2)``; Keras' default l2 = 0.01."""

    def __init__(self, l2: float = 0.01):
        self.l2 = _factor("L2", "l2", l2)

    def get_config(self):
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|w|) + l2 * sum(w**2)``; Keras' defaults l1 = l2 = 0."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0):
        self.l1 = _factor("L1L2", "l1", l1)
        self.l2 = _factor("L1L2", "l2", l2)

    def get_config(self):
        return {"l1": self.l1, "l2": self.l2}


_CLASSES = {"L1": L1, "L2": L2, "L1L2": L1L2}
_STRINGS = {"l1": L1, "l2": L2}
_EXPECTED = "None, 'l1', 'l2', or pydl.regularizers.L1(l1=...), L2(l2=...) or L1L2(l1=..., l2=...)"

RegularizerLike = Union[None, str, Regularizer, Dict[str, Any]]


def get(owner: str, argument: str, value: RegularizerLike) -> Optional[Regularizer]:
    """The regularizer ``value`` stands for: None, ``"l1"``/``"l2"`` (Keras' default factors), a
    Regularizer, or the ``{"class_name", "config"}`` dict a saved model holds. Anything else is
    a TypeError or ValueError naming the owner, the argument and the choices."""
    if value is None or isinstance(value, Regularizer):
        return value
    if isinstance(value, str):
        cls = _STRINGS.get(value)
        if cls is None:
            raise ValueError(f"{owner}: expected {argument} to be {_EXPECTED}, got {value!r}")
        return cls()
    if isinstance(value, dict) and set(value) == {"class_name", "config"} and value["class_name"] in _CLASSES:
        return _CLASSES[value["class_name"]](**value["config"])
    raise TypeError(f"{owner}: expected {argument} to be {_EXPECTED}, got {value!r}")


def serialize(value: RegularizerLike) -> Union[None, str, Dict[str, Any]]:
    """What a layer's get_config stores: None, the string as given, or a JSON-ready dict."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return value
    return {"class_name": type(value).__name__, "config": value.get_config()}
