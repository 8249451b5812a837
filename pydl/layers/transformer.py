"""TransformerEncoder (KerasHub's): one block of self-attention and a feed-forward network,
each with a residual connection and LayerNormalization, post-norm (the original Transformer)
or pre-norm (``normalize_first=True``).

Design: a Python-level composite. Calling it on a tensor calls its sublayers (existing layers:
MultiHeadAttention, Dropout, Add, LayerNormalization, Dense), so the C++ graph holds ordinary
nodes and nothing new runs in C++. The sublayers are named ``<encoder>/<part>`` (KerasHub's
part names); ``summary()`` lists them, their weights are the model's like any other (saved,
loaded, trained, frozen), ``model.get_layer(<encoder>)`` returns the encoder and its
``get_weights()`` the sublayers' weights in call order. A saved model stores the sublayers;
after loading, ``get_layer(<encoder>)`` returns a LayerGroup over them (same weights).
"""
from __future__ import annotations

import itertools
from typing import List, Optional

from .. import _validate
from .attention import MultiHeadAttention
from .base import ACTIVATIONS, Layer
from .convolutional import LayerNormalization
from .core import Dense, Dropout
from .merge import Add

_names = itertools.count()


def _feature_size(x, owner: str) -> int:
    """The last axis of symbolic tensor x: known for inputs; else found by building the graph
    that makes x in C++ (shapes are inferred there; no weights are initialised)."""
    if x.shape is not None:
        return int(x.shape[-1])
    from .. import _core
    from ..engine.functional import trace

    inputs, seen, stack = [], set(), [x]
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.layer is None:
            inputs.append(t)
        stack.extend(t.inputs)
    traced = trace(inputs, [x], owner)
    configs = []
    for i, layer in enumerate(traced.layers):
        cfg = layer.core_config()
        if cfg.get("name") is None:
            cfg["name"] = f"shape_probe_{i}"
        configs.append(cfg)
    graph = _core.Graph([list(t.shape) for t in inputs], configs, traced.nodes, traced.outputs)
    return int(graph.output_shapes[0][-1])


class TransformerEncoder(Layer):
    """Transformer encoder block on ``(N, T, D)`` -> ``(N, T, D)`` (KerasHub's arguments).

    Post-norm (default): ``h = LN(x + Dropout(MHA(x, x)))``, ``y = LN(h + Dropout(FF(h)))``;
    pre-norm (``normalize_first=True``): ``h = x + Dropout(MHA(LN(x), LN(x)))``,
    ``y = h + Dropout(FF(LN(h)))``. ``FF(h) = Dense(D)(Dense(intermediate_dim, activation)(h))``;
    the attention has ``num_heads`` heads of ``D // num_heads`` features and ``dropout`` on its
    weights too; ``layer_norm_epsilon`` is LayerNormalization's epsilon. A padding mask from
    ``Embedding(mask_zero=True)`` masks the padded keys and passes on.
    """

    core_type = ""  # a composite: its sublayers run in C++
    PARTS = ("self_attention", "self_attention_dropout", "self_attention_add", "self_attention_layer_norm",
             "feedforward_intermediate_dense", "feedforward_output_dense", "feedforward_dropout",
             "feedforward_add", "feedforward_layer_norm")

    def __init__(self, intermediate_dim: int, num_heads: int, dropout: float = 0.0, activation: str = "relu",
                 layer_norm_epsilon: float = 1e-5, normalize_first: bool = False, name: Optional[str] = None):
        super().__init__(name)
        owner = "TransformerEncoder"
        self.intermediate_dim = _validate.positive_int(owner, "intermediate_dim", intermediate_dim)
        self.num_heads = _validate.positive_int(owner, "num_heads", num_heads)
        self.dropout = _validate.number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.activation = _validate.choice(owner, "activation", activation, ACTIVATIONS)
        self.layer_norm_epsilon = _validate.positive_float(owner, "layer_norm_epsilon", layer_norm_epsilon)
        self.normalize_first = _validate.boolean(owner, "normalize_first", normalize_first)
        self.sublayers: List[Layer] = []

    def get_config(self):
        return {"intermediate_dim": self.intermediate_dim, "num_heads": self.num_heads, "dropout": self.dropout,
                "activation": self.activation, "layer_norm_epsilon": self.layer_norm_epsilon,
                "normalize_first": self.normalize_first, "name": self.name}

    def __call__(self, inputs):
        """Call the block's sublayers on the symbolic tensor ``inputs``; returns the output."""
        from ..engine.functional import SymbolicTensor

        owner = f"TransformerEncoder{'' if self.name is None else ' ' + repr(self.name)}"
        if not isinstance(inputs, SymbolicTensor):
            raise TypeError(f"{owner}: expected one symbolic tensor (None, steps, features), got "
                            f"{type(inputs).__name__}")
        if self.sublayers:
            raise ValueError(f"{owner}: already called; each TransformerEncoder is one block (make another "
                             "for another block)")
        d = _feature_size(inputs, owner)
        if d % self.num_heads:
            raise ValueError(f"{owner}: the input's {d} features do not split into num_heads={self.num_heads} "
                             f"heads; pick num_heads dividing {d}")
        if self.name is None:
            k = next(_names)
            self.name = "transformer_encoder" if k == 0 else f"transformer_encoder_{k}"
        part = {p: f"{self.name}/{p}" for p in self.PARTS}
        eps = self.layer_norm_epsilon
        mha = MultiHeadAttention(self.num_heads, d // self.num_heads, dropout=self.dropout, name=part["self_attention"])
        ln1 = LayerNormalization(eps, name=part["self_attention_layer_norm"])
        ff1 = Dense(self.intermediate_dim, activation=self.activation, name=part["feedforward_intermediate_dense"])
        ff2 = Dense(d, name=part["feedforward_output_dense"])
        ln2 = LayerNormalization(eps, name=part["feedforward_layer_norm"])
        drop1, drop2 = (Dropout(self.dropout, name=part[p]) for p in ("self_attention_dropout", "feedforward_dropout"))
        add1, add2 = Add(name=part["self_attention_add"]), Add(name=part["feedforward_add"])
        x = inputs
        if self.normalize_first:
            h = ln1(x)
            h = add1([x, drop1(mha(h, h))])
            y = add2([h, drop2(ff2(ff1(ln2(h))))])
            order = [ln1, mha, drop1, add1, ln2, ff1, ff2, drop2, add2]
        else:
            h = ln1(add1([x, drop1(mha(x, x))]))
            y = ln2(add2([h, drop2(ff2(ff1(h)))]))
            order = [mha, drop1, add1, ln1, ff1, ff2, drop2, add2, ln2]
        for layer in order:
            layer._composite = self
            if not self.trainable:  # set before the call: the sublayers made here inherit it
                layer._trainable = False
        self.sublayers = order
        return y

    @property
    def trainable(self) -> bool:
        """False freezes every sublayer (see Layer.trainable)."""
        if self.sublayers:
            return all(layer.trainable for layer in self.sublayers)
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = _validate.boolean("TransformerEncoder", "trainable", value)
        for layer in self.sublayers:
            layer.trainable = self._trainable

    def _owner_model(self):
        if not self.sublayers:
            raise ValueError(f"TransformerEncoder {self.name!r}: its weights exist once a model containing it is built")
        return self.sublayers[0]._owner_model()

    def get_weights(self):
        """The sublayers' weights in call order (attention, then layer norms and dense layers)."""
        return [w for layer in self.sublayers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        """Replace the sublayers' weights, in get_weights order."""
        set_group_weights(self, self.sublayers, weights)


def set_group_weights(owner, sublayers, weights) -> None:
    weights = list(weights)
    counts = [len(layer.get_weights()) for layer in sublayers]
    if len(weights) != sum(counts):
        raise ValueError(f"{type(owner).__name__} {owner.name!r}: expected {sum(counts)} weight arrays, got "
                         f"{len(weights)}")
    start = 0
    for layer, k in zip(sublayers, counts):
        if k:
            layer.set_weights(weights[start:start + k])
        start += k


class LayerGroup:
    """The layers a composite (TransformerEncoder) expanded into, by their ``<name>/`` prefix, as
    a loaded model knows them: ``get_weights`` / ``set_weights`` over all of them in order."""

    def __init__(self, name: str, sublayers):
        self.name = name
        self.sublayers = list(sublayers)

    def get_weights(self):
        return [w for layer in self.sublayers for w in layer.get_weights()]

    def set_weights(self, weights) -> None:
        set_group_weights(self, self.sublayers, weights)

    @property
    def trainable(self) -> bool:
        return all(layer.trainable for layer in self.sublayers)

    @trainable.setter
    def trainable(self, value) -> None:
        for layer in self.sublayers:
            layer.trainable = value

    def __repr__(self) -> str:
        return f"LayerGroup({self.name!r}, {len(self.sublayers)} layers)"
