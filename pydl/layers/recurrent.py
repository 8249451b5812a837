"""Sequence layers (batch first, (N, T, F)): Embedding, SimpleRNN, LSTM, GRU, Bidirectional."""
from __future__ import annotations

from typing import Optional

from .. import _validate
from .base import Layer, _check_activation, deserialize, serialize


class Embedding(Layer):
    """Integer ids ``(N, T)`` -> vectors ``(N, T, output_dim)``; weights ``embeddings`` of
    shape ``(input_dim, output_dim)`` (uniform in [-0.05, 0.05]). Ids out of range raise.
    With ``mask_zero=True``, id 0 is padding: recurrent layers after it leave their state
    unchanged on padded steps and give them no gradient."""

    core_type = "embedding"

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, name: Optional[str] = None):
        super().__init__(name)
        self.input_dim = _validate.positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = _validate.positive_int("Embedding", "output_dim", output_dim)
        self.mask_zero = _validate.boolean("Embedding", "mask_zero", mask_zero)

    def get_config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "name": self.name}


class _Recurrent(Layer):
    """Base of the recurrent layers: input ``(N, T, F)``, output ``(N, units)`` (the last
    state) or ``(N, T, units)`` with ``return_sequences``. Weights: ``kernel (F, G*units)``
    (Glorot-uniform), ``recurrent_kernel (units, G*units)`` (orthogonal), ``bias``."""

    def __init__(self, units: int, return_sequences: bool = False, name: Optional[str] = None):
        super().__init__(name)
        self.units = _validate.positive_int(type(self).__name__, "units", units)
        self.return_sequences = _validate.boolean(type(self).__name__, "return_sequences", return_sequences)

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
        self.layer = _validate.instance("Bidirectional", "layer", layer, _Recurrent, "a SimpleRNN, LSTM or GRU layer")
        self.merge_mode = _validate.choice("Bidirectional", "merge_mode", merge_mode, self.MERGE_MODES)

    def get_config(self):
        return {"layer": serialize(self.layer), "merge_mode": self.merge_mode, "name": self.name}

    def core_config(self):
        # One C++ layer runs both directions: the wrapped layer's settings are flattened in
        # (its name is the wrapper's concern only); LSTM and GRU have no activation key.
        inner = self.layer.core_config()
        inner.pop("name")
        cfg = {"type": "bidirectional", "name": self.name, "cell": inner.pop("type"), "merge_mode": self.merge_mode}
        return {**cfg, **inner}
