"""Layer specifications.

A layer's constructor only stores its configuration; the C++ network creates the weights
once the input shape is known (at ``Sequential`` build time). ``get_config`` returns exactly
what the constructor was given, so a model can be rebuilt from JSON.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear")

__all__ = ["Layer", "Input", "Dense", "Activation", "Dropout", "Flatten", "deserialize", "ACTIVATIONS"]


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

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name}

    def core_config(self) -> Dict[str, Any]:
        """What the C++ core needs: the config plus the layer type."""
        return {"type": self.core_type, **self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


class Input(Layer):
    """The shape of one sample, without the batch axis: ``Input((64,))``, ``Input((28, 28, 1))``."""

    def __init__(self, shape: Sequence[int], name: Optional[str] = None):
        super().__init__(name)
        if isinstance(shape, int):
            shape = (shape,)
        try:
            shape = tuple(int(d) for d in shape)
        except TypeError:
            raise TypeError(f"Input: shape must be a tuple of ints, got {shape!r}") from None
        if not shape or any(d < 1 for d in shape):
            raise ValueError(f"Input: expected a non-empty shape of positive ints, got {shape}")
        self.shape: Tuple[int, ...] = shape

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name}


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``.

    Weights: ``kernel`` of shape ``(in_features, units)`` (Glorot-uniform initialised) and
    ``bias`` of shape ``(units,)`` (zeros) when ``use_bias``.
    """

    core_type = "dense"

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True,
                 name: Optional[str] = None):
        super().__init__(name)
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise ValueError(f"Dense: expected units to be a positive int, got {units!r}")
        self.units = units
        self.activation = _check_activation("Dense", activation)
        self.use_bias = bool(use_bias)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "name": self.name}


class Activation(Layer):
    """Applies an activation function (softmax over the last axis)."""

    core_type = "activation"

    def __init__(self, activation: str, name: Optional[str] = None):
        super().__init__(name)
        if activation is None:
            raise ValueError("Activation: expected an activation name, got None")
        self.activation = _check_activation("Activation", activation)

    def get_config(self):
        return {"activation": self.activation, "name": self.name}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training (scaling the rest by
    ``1 / (1 - rate)``); the identity in ``evaluate`` and ``predict``."""

    core_type = "dropout"

    def __init__(self, rate: float, name: Optional[str] = None):
        super().__init__(name)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0.0 <= rate < 1.0:
            raise ValueError(f"Dropout: expected 0 <= rate < 1, got {rate!r}")
        self.rate = float(rate)

    def get_config(self):
        return {"rate": self.rate, "name": self.name}


class Flatten(Layer):
    """Flattens each sample to one axis: ``(None, 8, 8, 1) -> (None, 64)``. No copy."""

    core_type = "flatten"


_REGISTRY = {cls.__name__: cls for cls in (Input, Dense, Activation, Dropout, Flatten)}


def serialize(layer: Layer) -> Dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: Dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": {...}}``."""
    try:
        cls = _REGISTRY[spec["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"unknown layer spec {spec!r}") from None
    return cls(**spec["config"])
