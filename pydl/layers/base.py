"""The Layer base class and the argument checks every layer spec shares."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear")

def _check_activation(owner: str, activation: Optional[str]) -> Optional[str]:
    if activation is None:
        return None
    if not isinstance(activation, str) or activation not in ACTIVATIONS:
        raise ValueError(f"{owner}: unknown activation {activation!r}; expected one of "
                         f"{', '.join(ACTIVATIONS)} (or None)")
    return activation


class Layer:
    """Base class of layer specs. ``core_type`` names the C++ layer that executes it."""

    core_type: str = ""

    def __init__(self, name: Optional[str] = None):
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string, got {name!r}")
        self.name = name

    def __call__(self, inputs):
        """Call the layer on a symbolic tensor (a list of them for merge layers) while building
        a functional model; returns the symbolic output. Calling one layer object on several
        tensors shares its weights."""
        from ..functional import call_layer

        return call_layer(self, inputs)

    def get_weights(self):
        """Copies of this layer's weights (needs the model it belongs to to be built)."""
        return self._owner_model().get_weights(layer=self.name)

    def set_weights(self, weights) -> None:
        """Replace this layer's weights, in get_weights order."""
        self._owner_model().set_weights(weights, layer=self.name)

    def _owner_model(self):
        model = getattr(self, "_model", None)
        if model is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: its weights exist once a model containing it "
                             "is built")
        return model

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name}

    def core_config(self) -> Dict[str, Any]:
        """What the C++ core needs: the config plus the layer type."""
        return {"type": self.core_type, **self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def _two_ints(owner: str, name: str, value, minimum: int, accepted: str = "an int or a pair of ints"):
    """An int (used twice) or a pair of ints, each >= minimum, as a list of two ints."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be {accepted}, got {value!r}") from None
    if a < minimum or b < minimum:
        raise ValueError(f"{owner}: {name} must be {'positive' if minimum == 1 else f'>= {minimum}'}, got {value!r}")
    return [a, b]


def _pair(owner: str, name: str, value, allow_none: bool = False):
    """An int or a pair of ints, as a list of two positive ints."""
    if value is None and allow_none:
        return None
    return _two_ints(owner, name, value, 1)


def _padding(owner: str, padding, allow_explicit: bool = True):
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid', 'same'"
                             f"{', an int or (ph, pw)' if allow_explicit else ''}; got {padding!r}")
        return padding
    if not allow_explicit:
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    return _two_ints(owner, "padding", padding, 0, "'valid', 'same', an int or (ph, pw);")


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: expected {name} to be a positive int, got {value!r}")
    return int(value)
