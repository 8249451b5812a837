"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Normalization."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

from .base import Layer, _check_activation


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


class Reshape(Layer):
    """Reshapes each sample to ``target_shape`` (one entry may be -1). No copy."""

    core_type = "reshape"

    def __init__(self, target_shape: Sequence[int], name: Optional[str] = None):
        super().__init__(name)
        try:
            self.target_shape = [int(d) for d in target_shape]
        except TypeError:
            raise ValueError(f"Reshape: target_shape must be a tuple of ints, got {target_shape!r}") from None

    def get_config(self):
        return {"target_shape": list(self.target_shape), "name": self.name}


class Normalization(Layer):
    """``(x - mean) / sqrt(variance)`` with fixed statistics, per feature or per channel (last
    axis). Give ``mean``/``variance``, or let ``model.adapt(x)`` compute them from training
    data when this is the model's first layer. The statistics are non-trainable weights,
    saved with the model."""

    core_type = "normalization"

    def __init__(self, mean=None, variance=None, per: str = "feature", name: Optional[str] = None):
        super().__init__(name)
        if per not in ("feature", "channel"):
            raise ValueError(f"Normalization: per must be 'feature' or 'channel', got {per!r}")
        if (mean is None) != (variance is None):
            raise ValueError("Normalization: give both mean and variance, or neither (then call model.adapt)")
        self.mean = None if mean is None else np.asarray(mean, dtype=np.float64).tolist()
        self.variance = None if variance is None else np.asarray(variance, dtype=np.float64).tolist()
        if self.variance is not None and np.any(np.asarray(self.variance) < 0):
            raise ValueError("Normalization: variance must be >= 0")
        self.per = per

    def get_config(self):
        return {"mean": self.mean, "variance": self.variance, "per": self.per, "name": self.name}

    def core_config(self):
        return {"type": self.core_type, "name": self.name, "per": self.per}
