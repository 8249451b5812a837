"""Layer specifications.

A layer's constructor only stores its configuration; the C++ network creates the weights
once the input shape is known (at ``Sequential`` build time). ``get_config`` returns exactly
what the constructor was given, so a model can be rebuilt from JSON.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence, Tuple

import numpy as np

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear")

__all__ = ["Layer", "Input", "Dense", "Activation", "Dropout", "Flatten", "Reshape", "Conv2D", "MaxPool2D",
           "AvgPool2D", "GlobalAvgPool2D", "GlobalMaxPool2D", "BatchNormalization", "LayerNormalization",
           "Embedding", "SimpleRNN", "LSTM", "GRU", "Bidirectional", "Normalization", "deserialize", "ACTIVATIONS"]


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


def _pair(owner: str, name: str, value, allow_none: bool = False):
    """An int or a pair of ints, as a list of two positive ints."""
    if value is None and allow_none:
        return None
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        value = (int(value), int(value))
    try:
        a, b = (int(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: {name} must be an int or a pair of ints, got {value!r}") from None
    if a < 1 or b < 1:
        raise ValueError(f"{owner}: {name} must be positive, got {value!r}")
    return [a, b]


def _padding(owner: str, padding, allow_explicit: bool = True):
    if isinstance(padding, str):
        if padding not in ("valid", "same"):
            raise ValueError(f"{owner}: padding must be 'valid', 'same'"
                             f"{', an int or (ph, pw)' if allow_explicit else ''}; got {padding!r}")
        return padding
    if not allow_explicit:
        raise ValueError(f"{owner}: padding must be 'valid' or 'same', got {padding!r}")
    if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
        padding = (int(padding), int(padding))
    try:
        ph, pw = (int(v) for v in padding)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}: padding must be 'valid', 'same', an int or (ph, pw); got {padding!r}") from None
    if ph < 0 or pw < 0:
        raise ValueError(f"{owner}: padding must be >= 0, got {padding!r}")
    return [ph, pw]


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


class Conv2D(Layer):
    """2-D convolution over channels-last images ``(N, H, W, C)``.

    Weights: ``kernel`` of shape ``(kh, kw, c_in, filters)`` (Glorot-uniform) and ``bias``
    ``(filters,)``. ``padding="same"`` pads like TensorFlow/Keras (the odd pixel at the
    bottom/right); an int or ``(ph, pw)`` pads symmetrically.
    """

    core_type = "conv2d"

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation: Optional[str] = None, use_bias: bool = True, name: Optional[str] = None):
        super().__init__(name)
        if isinstance(filters, bool) or not isinstance(filters, (int, np.integer)) or filters < 1:
            raise ValueError(f"Conv2D: expected filters to be a positive int, got {filters!r}")
        self.filters = int(filters)
        self.kernel_size = _pair("Conv2D", "kernel_size", kernel_size)
        self.strides = _pair("Conv2D", "strides", strides)
        self.padding = _padding("Conv2D", padding)
        self.dilation_rate = _pair("Conv2D", "dilation_rate", dilation_rate)
        if self.dilation_rate != [1, 1] and self.strides != [1, 1]:
            raise ValueError("Conv2D: strides > 1 with dilation_rate > 1 is not supported (as in Keras)")
        self.activation = _check_activation("Conv2D", activation)
        self.use_bias = bool(use_bias)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias, "name": self.name}

    def core_config(self):
        cfg = super().core_config()
        cfg["units"] = cfg.pop("filters")
        return cfg


class _Pool2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", name: Optional[str] = None):
        super().__init__(name)
        owner = type(self).__name__
        self.pool_size = _pair(owner, "pool_size", pool_size)
        self.strides = _pair(owner, "strides", strides, allow_none=True)
        self.padding = _padding(owner, padding, allow_explicit=False)

    def get_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding, "name": self.name}


class MaxPool2D(_Pool2D):
    """Max over ``pool_size`` windows (strides default to ``pool_size``)."""

    core_type = "max_pool2d"


class AvgPool2D(_Pool2D):
    """Average over ``pool_size`` windows; padded pixels are excluded from the average."""

    core_type = "avg_pool2d"


class GlobalAvgPool2D(Layer):
    """Average over height and width: ``(N, H, W, C) -> (N, C)``."""

    core_type = "global_avg_pool2d"


class GlobalMaxPool2D(Layer):
    """Max over height and width: ``(N, H, W, C) -> (N, C)``."""

    core_type = "global_max_pool2d"


class BatchNormalization(Layer):
    """Normalises over the last axis with batch statistics in training and moving statistics
    in evaluate/predict. Weights: ``gamma``, ``beta`` (trained) and ``moving_mean``,
    ``moving_variance`` (updated as ``momentum * moving + (1 - momentum) * batch``, with the
    unbiased batch variance, as PyTorch)."""

    core_type = "batch_norm"

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, name: Optional[str] = None):
        super().__init__(name)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"BatchNormalization: expected 0 <= momentum <= 1, got {momentum!r}")
        if not float(epsilon) > 0:
            raise ValueError(f"BatchNormalization: expected epsilon > 0, got {epsilon!r}")
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon, "name": self.name}


class LayerNormalization(Layer):
    """Normalises each sample over its last axis; weights ``gamma`` and ``beta``."""

    core_type = "layer_norm"

    def __init__(self, epsilon: float = 1e-5, name: Optional[str] = None):
        super().__init__(name)
        if not float(epsilon) > 0:
            raise ValueError(f"LayerNormalization: expected epsilon > 0, got {epsilon!r}")
        self.epsilon = float(epsilon)

    def get_config(self):
        return {"epsilon": self.epsilon, "name": self.name}


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


def _positive_int(owner: str, name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{owner}: expected {name} to be a positive int, got {value!r}")
    return int(value)


class Embedding(Layer):
    """Integer ids ``(N, T)`` -> vectors ``(N, T, output_dim)``; weights ``embeddings`` of
    shape ``(input_dim, output_dim)`` (uniform in [-0.05, 0.05]). Ids out of range raise.
    With ``mask_zero=True``, id 0 is padding: recurrent layers after it leave their state
    unchanged on padded steps and give them no gradient."""

    core_type = "embedding"

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, name: Optional[str] = None):
        super().__init__(name)
        self.input_dim = _positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = _positive_int("Embedding", "output_dim", output_dim)
        self.mask_zero = bool(mask_zero)

    def get_config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "name": self.name}


class _Recurrent(Layer):
    """Base of the recurrent layers: input ``(N, T, F)``, output ``(N, units)`` (the last
    state) or ``(N, T, units)`` with ``return_sequences``. Weights: ``kernel (F, G*units)``
    (Glorot-uniform), ``recurrent_kernel (units, G*units)`` (orthogonal), ``bias``."""

    def __init__(self, units: int, return_sequences: bool = False, name: Optional[str] = None):
        super().__init__(name)
        self.units = _positive_int(type(self).__name__, "units", units)
        self.return_sequences = bool(return_sequences)

    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences, "name": self.name}


class SimpleRNN(_Recurrent):
    """``h_t = activation(x_t W + h_{t-1} U + b)``."""

    core_type = "simple_rnn"

    def __init__(self, units: int, activation: str = "tanh", return_sequences: bool = False,
                 name: Optional[str] = None):
        super().__init__(units, return_sequences, name)
        self.activation = _check_activation("SimpleRNN", activation) or "linear"

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class LSTM(_Recurrent):
    """Long short-term memory; gate order i, f, g, o; bias ``(4 * units,)`` with the forget
    gate's initialised to 1."""

    core_type = "lstm"


class GRU(_Recurrent):
    """Gated recurrent unit with PyTorch's/cuDNN's formulation
    ``n = tanh(W_n x + b_in + r * (U_n h + b_hn))``; gate order r, z, n; bias ``(2, 3 * units)``
    (input bias, recurrent bias)."""

    core_type = "gru"


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and backwards in time and merges both outputs
    (``merge_mode``: concat, sum, ave or mul). Weights: the forward copy's, then the
    backward copy's (prefixed ``forward_`` / ``backward_``)."""

    core_type = "bidirectional"
    MERGE_MODES = ("concat", "sum", "ave", "mul")

    def __init__(self, layer: _Recurrent, merge_mode: str = "concat", name: Optional[str] = None):
        super().__init__(name)
        if isinstance(layer, dict):  # from a saved config
            layer = deserialize(layer)
        if not isinstance(layer, _Recurrent):
            raise TypeError(f"Bidirectional: expected a SimpleRNN, LSTM or GRU layer, got {type(layer).__name__}")
        if merge_mode not in self.MERGE_MODES:
            raise ValueError(f"Bidirectional: merge_mode must be one of {', '.join(self.MERGE_MODES)}, "
                             f"got {merge_mode!r}")
        self.layer = layer
        self.merge_mode = merge_mode

    def get_config(self):
        return {"layer": serialize(self.layer), "merge_mode": self.merge_mode, "name": self.name}

    def core_config(self):
        inner = self.layer.get_config()
        return {"type": "bidirectional", "name": self.name, "cell": self.layer.core_type,
                "units": inner["units"], "return_sequences": inner["return_sequences"],
                "activation": inner.get("activation", "tanh"), "merge_mode": self.merge_mode}


_REGISTRY = {cls.__name__: cls for cls in (Input, Dense, Activation, Dropout, Flatten, Reshape, Conv2D, MaxPool2D,
                                           AvgPool2D, GlobalAvgPool2D, GlobalMaxPool2D, BatchNormalization,
                                           LayerNormalization, Embedding, SimpleRNN, LSTM, GRU, Bidirectional,
                                           Normalization)}


def serialize(layer: Layer) -> Dict[str, Any]:
    return {"class_name": type(layer).__name__, "config": layer.get_config()}


def deserialize(spec: Dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": {...}}``."""
    try:
        cls = _REGISTRY[spec["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"unknown layer spec {spec!r}") from None
    return cls(**spec["config"])
