"""Core layers: Dense, Activation, Dropout, Flatten, Reshape, Normalization."""
from __future__ import annotations

from typing import Optional, Sequence

import numpy as np

from .. import _validate, regularizers
from .base import ACTIVATIONS, Layer, _check_activation, _initializer, _regularizer


class Dense(Layer):
    """Fully connected layer: ``activation(x @ kernel + bias)``.

    Weights: ``kernel`` of shape ``(in_features, units)`` and ``bias`` of shape ``(units,)``
    when ``use_bias``, initialised by ``kernel_initializer`` / ``bias_initializer`` (names of
    pydl.initializers; Glorot-uniform and zeros by default) and penalised in training by
    ``kernel_regularizer`` / ``bias_regularizer`` (pydl.regularizers; none by default).
    """

    core_type = "dense"

    def __init__(self, units: int, activation: Optional[str] = None, use_bias: bool = True,
                 name: Optional[str] = None, kernel_initializer: str = "glorot_uniform",
                 bias_initializer: str = "zeros", kernel_regularizer=None, bias_regularizer=None):
        super().__init__(name)
        self.units = _validate.positive_int("Dense", "units", units)
        self.activation = _check_activation("Dense", activation)
        self.use_bias = _validate.boolean("Dense", "use_bias", use_bias)
        self.kernel_initializer = _initializer("Dense", "kernel_initializer", kernel_initializer)
        self.bias_initializer = _initializer("Dense", "bias_initializer", bias_initializer)
        self.kernel_regularizer = _regularizer("Dense", "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = _regularizer("Dense", "bias_regularizer", bias_regularizer)

    def get_config(self):
        return {"units": self.units, "activation": self.activation, "use_bias": self.use_bias,
                "kernel_initializer": self.kernel_initializer, "bias_initializer": self.bias_initializer,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "name": self.name}


class Activation(Layer):
    """Applies an activation function (softmax over the last axis)."""

    core_type = "activation"

    def __init__(self, activation: str, name: Optional[str] = None):
        super().__init__(name)
        self.activation = _validate.choice("Activation", "activation", activation, ACTIVATIONS)

    def get_config(self):
        return {"activation": self.activation, "name": self.name}


class Dropout(Layer):
    """Zeroes a fraction ``rate`` of the inputs in training (scaling the rest by
    ``1 / (1 - rate)``); the identity in ``evaluate`` and ``predict``."""

    core_type = "dropout"

    def __init__(self, rate: float, name: Optional[str] = None):
        super().__init__(name)
        self.rate = _validate.number("Dropout", "rate", rate, 0.0, 1.0, high_open=True)

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
        # -1 marks the one inferred axis; the C++ layer checks the rest against the input.
        self.target_shape = _validate.int_list("Reshape", "target_shape", target_shape, minimum=-1)

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
        per = _validate.choice("Normalization", "per", per, ("feature", "channel"))
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
        # mean and variance are not configuration in C++: they are the layer's non-trainable
        # weights, written after the graph is built (and saved with the other weights).
        return {"type": self.core_type, "name": self.name, "per": self.per}
