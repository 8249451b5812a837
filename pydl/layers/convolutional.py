"""Image layers (channels-last): Conv2D, pooling, BatchNormalization, LayerNormalization."""
from __future__ import annotations

from typing import Optional

from .. import _validate, regularizers
from .base import Layer, _check_activation, _initializer, _padding, _regularizer


class Conv2D(Layer):
    """2-D convolution over channels-last images ``(N, H, W, C)``.

    Weights: ``kernel`` of shape ``(kh, kw, c_in, filters)`` and ``bias`` ``(filters,)``,
    initialised by ``kernel_initializer`` / ``bias_initializer`` (Glorot-uniform and zeros by
    default) and penalised by ``kernel_regularizer`` / ``bias_regularizer`` (see Dense). ``padding="same"`` pads like TensorFlow/Keras (the odd pixel at the
    bottom/right); an int or ``(ph, pw)`` pads symmetrically.
    """

    core_type = "conv2d"

    def __init__(self, filters: int, kernel_size, strides=1, padding="valid", dilation_rate=1,
                 activation: Optional[str] = None, use_bias: bool = True, name: Optional[str] = None,
                 kernel_initializer: str = "glorot_uniform", bias_initializer: str = "zeros",
                 kernel_regularizer=None, bias_regularizer=None):
        super().__init__(name)
        self.filters = _validate.positive_int("Conv2D", "filters", filters)
        self.kernel_size = _validate.int_pair("Conv2D", "kernel_size", kernel_size)
        self.strides = _validate.int_pair("Conv2D", "strides", strides)
        self.padding = _padding("Conv2D", padding)
        self.dilation_rate = _validate.int_pair("Conv2D", "dilation_rate", dilation_rate)
        if self.dilation_rate != [1, 1] and self.strides != [1, 1]:
            raise ValueError("Conv2D: strides > 1 with dilation_rate > 1 is not supported (as in Keras)")
        self.activation = _check_activation("Conv2D", activation)
        self.use_bias = _validate.boolean("Conv2D", "use_bias", use_bias)
        self.kernel_initializer = _initializer("Conv2D", "kernel_initializer", kernel_initializer)
        self.bias_initializer = _initializer("Conv2D", "bias_initializer", bias_initializer)
        self.kernel_regularizer = _regularizer("Conv2D", "kernel_regularizer", kernel_regularizer)
        self.bias_regularizer = _regularizer("Conv2D", "bias_regularizer", bias_regularizer)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias, "kernel_initializer": self.kernel_initializer,
                "bias_initializer": self.bias_initializer,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "name": self.name}


class _Pool2D(Layer):
    def __init__(self, pool_size=2, strides=None, padding="valid", name: Optional[str] = None):
        super().__init__(name)
        owner = type(self).__name__
        self.pool_size = _validate.int_pair(owner, "pool_size", pool_size)
        self.strides = None if strides is None else _validate.int_pair(owner, "strides", strides)
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
    unbiased batch variance, as PyTorch).

    ``synchronized`` (Keras 3's argument): in ``fit(distributed=True)`` the batch statistics
    are those of the whole global batch, every rank's share (summed over ranks in C++, and
    so is the part of their gradient that backward needs), so the weights follow a
    single-process fit of the same batches; False (the default) keeps per-rank statistics,
    each rank normalising its share with its own. Without a distributed fit both are the
    same computation."""

    core_type = "batch_norm"

    def __init__(self, momentum: float = 0.9, epsilon: float = 1e-5, synchronized: bool = False,
                 name: Optional[str] = None):
        super().__init__(name)
        self.momentum = _validate.number("BatchNormalization", "momentum", momentum, 0.0, 1.0)
        self.epsilon = _validate.positive_float("BatchNormalization", "epsilon", epsilon)
        self.synchronized = _validate.boolean("BatchNormalization", "synchronized", synchronized)

    def get_config(self):
        return {"momentum": self.momentum, "epsilon": self.epsilon, "synchronized": self.synchronized,
                "name": self.name}


class LayerNormalization(Layer):
    """Normalises each sample over its last axis; weights ``gamma`` and ``beta``."""

    core_type = "layer_norm"

    def __init__(self, epsilon: float = 1e-5, name: Optional[str] = None):
        super().__init__(name)
        self.epsilon = _validate.positive_float("LayerNormalization", "epsilon", epsilon)

    def get_config(self):
        return {"epsilon": self.epsilon, "name": self.name}
