"""Sequence layers (batch first, (N, T, F)): Embedding, SimpleRNN, LSTM, GRU, Bidirectional."""
from __future__ import annotations

from typing import Optional

from .. import _validate, regularizers
from .base import Layer, _check_activation, _initializer, _regularizer, deserialize, serialize


class Embedding(Layer):
    """Integer ids ``(N, T)`` -> vectors ``(N, T, output_dim)``; weights ``embeddings`` of
    shape ``(input_dim, output_dim)``, initialised by ``embeddings_initializer`` (default
    ``random_uniform``: uniform in [-0.05, 0.05]) and penalised by ``embeddings_regularizer``
    (pydl.regularizers). Ids out of range raise.
    With ``mask_zero=True``, id 0 is padding: recurrent layers after it leave their state
    unchanged on padded steps and give them no gradient."""

    core_type = "embedding"

    def __init__(self, input_dim: int, output_dim: int, mask_zero: bool = False, name: Optional[str] = None,
                 embeddings_initializer: str = "random_uniform", embeddings_regularizer=None):
        super().__init__(name)
        self.input_dim = _validate.positive_int("Embedding", "input_dim", input_dim)
        self.output_dim = _validate.positive_int("Embedding", "output_dim", output_dim)
        self.mask_zero = _validate.boolean("Embedding", "mask_zero", mask_zero)
        self.embeddings_initializer = _initializer("Embedding", "embeddings_initializer", embeddings_initializer)
        self.embeddings_regularizer = _regularizer("Embedding", "embeddings_regularizer", embeddings_regularizer)

    def get_config(self):
        return {"input_dim": self.input_dim, "output_dim": self.output_dim, "mask_zero": self.mask_zero,
                "embeddings_initializer": self.embeddings_initializer,
                "embeddings_regularizer": regularizers.serialize(self.embeddings_regularizer), "name": self.name}


class _Recurrent(Layer):
    """Base of the recurrent layers: input ``(N, T, F)``, output ``(N, units)`` (the last
    state) or ``(N, T, units)`` with ``return_sequences``. Weights: ``kernel (F, G*units)``,
    ``recurrent_kernel (units, G*units)``, ``bias``, initialised by ``kernel_initializer``
    (Glorot-uniform), ``recurrent_initializer`` (orthogonal) and ``bias_initializer`` (zeros)
    and penalised by ``kernel_regularizer``, ``recurrent_regularizer``, ``bias_regularizer``
    (pydl.regularizers).

    ``dropout`` drops input features and ``recurrent_dropout`` units of the state entering the
    recurrent product, in training only, with one mask per sequence reused at every step (as
    Keras; the cell update itself reads the undropped state). The masks follow from the fit
    seed and the step: the same whatever the thread count.
    """

    def __init__(self, units: int, return_sequences: bool = False, name: Optional[str] = None,
                 dropout: float = 0.0, recurrent_dropout: float = 0.0, kernel_initializer: str = "glorot_uniform",
                 recurrent_initializer: str = "orthogonal", bias_initializer: str = "zeros",
                 kernel_regularizer=None, recurrent_regularizer=None, bias_regularizer=None):
        super().__init__(name)
        owner = type(self).__name__
        self.units = _validate.positive_int(owner, "units", units)
        self.return_sequences = _validate.boolean(owner, "return_sequences", return_sequences)
        self.dropout = _validate.number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.recurrent_dropout = _validate.number(owner, "recurrent_dropout", recurrent_dropout, 0.0, 1.0,
                                                  high_open=True)
        self.kernel_initializer = _initializer(owner, "kernel_initializer", kernel_initializer)
        self.recurrent_initializer = _initializer(owner, "recurrent_initializer", recurrent_initializer)
        self.bias_initializer = _initializer(owner, "bias_initializer", bias_initializer)
        self.kernel_regularizer = _regularizer(owner, "kernel_regularizer", kernel_regularizer)
        self.recurrent_regularizer = _regularizer(owner, "recurrent_regularizer", recurrent_regularizer)
        self.bias_regularizer = _regularizer(owner, "bias_regularizer", bias_regularizer)

    def get_config(self):
        return {"units": self.units, "return_sequences": self.return_sequences, "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout, "kernel_initializer": self.kernel_initializer,
                "recurrent_initializer": self.recurrent_initializer, "bias_initializer": self.bias_initializer,
                "kernel_regularizer": regularizers.serialize(self.kernel_regularizer),
                "recurrent_regularizer": regularizers.serialize(self.recurrent_regularizer),
                "bias_regularizer": regularizers.serialize(self.bias_regularizer), "name": self.name}


class SimpleRNN(_Recurrent):
    """``h_t = activation(x_t W + h_{t-1} U + b)``."""

    core_type = "simple_rnn"

    def __init__(self, units: int, activation: str = "tanh", return_sequences: bool = False,
                 name: Optional[str] = None, **options):
        super().__init__(units, return_sequences, name, **options)
        self.activation = _check_activation("SimpleRNN", activation) or "linear"

    def get_config(self):
        return {**super().get_config(), "activation": self.activation}


class LSTM(_Recurrent):
    """Long short-term memory; gate order i, f, g, o; bias ``(4 * units,)``. With
    ``unit_forget_bias`` (default, as Keras) the forget gate's quarter of the bias starts at 1
    whatever ``bias_initializer`` gives the rest. Other options: see the recurrent base."""

    core_type = "lstm"

    def __init__(self, units: int, return_sequences: bool = False, name: Optional[str] = None,
                 unit_forget_bias: bool = True, **options):
        super().__init__(units, return_sequences, name, **options)
        self.unit_forget_bias = _validate.boolean("LSTM", "unit_forget_bias", unit_forget_bias)

    def get_config(self):
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


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
            layer = deserialize(layer)  # type: ignore[assignment]
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
