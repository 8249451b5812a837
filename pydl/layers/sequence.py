"""Layers over sequences ``(N, T, C)`` (batch first, channels last) besides the recurrent ones:
Conv1D, MaxPool1D, AvgPool1D, GlobalAvgPool1D, GlobalMaxPool1D (honouring a padding mask) and
PositionEmbedding (KerasHub's, learned)."""
from __future__ import annotations

from typing import Optional

from .. import _validate
from .base import Layer, _check_activation


def _one_int(owner: str, name: str, value) -> int:
    """An int >= 1, or a 1-tuple of one (Keras accepts both for 1-D windows)."""
    if isinstance(value, (list, tuple)):
        if len(value) != 1:
            raise ValueError(f"{owner}: expected {name} to be an int >= 1 or a 1-tuple of one, got {value!r}")
        value = value[0]
    return _validate.positive_int(owner, name, value)


class Conv1D(Layer):
    """1-D convolution over sequences ``(N, T, C)`` -> ``(N, T', filters)``.

    Weights: ``kernel`` ``(kernel_size, c_in, filters)`` (Glorot-uniform) and ``bias``
    ``(filters,)``. ``padding``: ``"valid"`` (a kernel longer than the sequence is an error),
    ``"same"`` (TensorFlow's: the odd step on the right) or ``"causal"`` (``(kernel_size - 1) *
    dilation_rate`` steps on the left: output t sees inputs up to t only). With strides 1 and
    ``"same"`` or ``"causal"`` the padding mask passes on; with ``"causal"`` the valid steps of a
    sequence padded at the end never see its padding. Runs on the Conv2D kernels as a
    ``(1, T)`` image.
    """

    core_type = "conv1d"

    def __init__(self, filters: int, kernel_size, strides=1, padding: str = "valid", dilation_rate=1,
                 activation: Optional[str] = None, use_bias: bool = True, name: Optional[str] = None):
        super().__init__(name)
        self.filters = _validate.positive_int("Conv1D", "filters", filters)
        self.kernel_size = _one_int("Conv1D", "kernel_size", kernel_size)
        self.strides = _one_int("Conv1D", "strides", strides)
        self.padding = _validate.choice("Conv1D", "padding", padding, ("valid", "same", "causal"))
        self.dilation_rate = _one_int("Conv1D", "dilation_rate", dilation_rate)
        if self.dilation_rate != 1 and self.strides != 1:
            raise ValueError("Conv1D: strides > 1 with dilation_rate > 1 is not supported (as in Keras)")
        self.activation = _check_activation("Conv1D", activation)
        self.use_bias = _validate.boolean("Conv1D", "use_bias", use_bias)

    def get_config(self):
        return {"filters": self.filters, "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "dilation_rate": self.dilation_rate, "activation": self.activation,
                "use_bias": self.use_bias, "name": self.name}


class _Pool1D(Layer):
    def __init__(self, pool_size=2, strides=None, padding: str = "valid", name: Optional[str] = None):
        super().__init__(name)
        owner = type(self).__name__
        self.pool_size = _one_int(owner, "pool_size", pool_size)
        self.strides = None if strides is None else _one_int(owner, "strides", strides)
        self.padding = _validate.choice(owner, "padding", padding, ("valid", "same"))

    def get_config(self):
        return {"pool_size": self.pool_size, "strides": self.strides, "padding": self.padding, "name": self.name}


class MaxPool1D(_Pool1D):
    """Max over windows of ``pool_size`` steps (strides default to ``pool_size``)."""

    core_type = "max_pool1d"


class AvgPool1D(_Pool1D):
    """Average over windows of ``pool_size`` steps; padded steps of ``"same"`` are excluded."""

    core_type = "avg_pool1d"


class GlobalAvgPool1D(Layer):
    """Mean over the steps: ``(N, T, C) -> (N, C)``; steps a padding mask marks (from
    ``Embedding(mask_zero=True)``) are left out, and a sequence of padding alone gives 0."""

    core_type = "global_avg_pool1d"


class GlobalMaxPool1D(Layer):
    """Max over the steps: ``(N, T, C) -> (N, C)``; masked steps are left out (as in
    GlobalAvgPool1D; a sequence of padding alone gives 0)."""

    core_type = "global_max_pool1d"


class PositionEmbedding(Layer):
    """Learned position embeddings (KerasHub): a table ``embeddings`` of shape
    ``(sequence_length, features)`` (Glorot-uniform); on ``(N, T, features)`` it returns the
    table's first T rows for every sample, to be added by the caller:
    ``x = layers.Add()([x, PositionEmbedding(64)(x)])``. An input longer than
    ``sequence_length`` is an error at build time."""

    core_type = "position_embedding"

    def __init__(self, sequence_length: int, name: Optional[str] = None):
        super().__init__(name)
        self.sequence_length = _validate.positive_int("PositionEmbedding", "sequence_length", sequence_length)

    def get_config(self):
        return {"sequence_length": self.sequence_length, "name": self.name}
