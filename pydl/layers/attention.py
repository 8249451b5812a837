"""MultiHeadAttention (Keras 3): per-head projections of query, key and value, fused scaled
dot-product attention in C++ (memory linear in the sequence length), and the output
projection. ``mha(query, value)`` in a functional model; ``mha(x, x)`` is self-attention."""
from __future__ import annotations

from typing import Any, Dict, Optional

from .. import _validate
from .base import Layer

_CALL_KEYS = ("use_causal_mask", "has_key", "has_attention_mask")


class MultiHeadAttention(Layer):
    """Multi-head attention as in Keras 3.

    ``num_heads`` heads of size ``key_dim`` for queries and keys and ``value_dim`` (default
    ``key_dim``) for values; ``dropout`` on the attention weights in training; the output has
    the query's feature size unless ``output_shape`` (an int or a tuple of ints) is given.

    Call: ``mha(query, value, key=None, attention_mask=None, use_causal_mask=False,
    return_attention_scores=False)`` on ``(None, T, D)`` tensors; ``key`` defaults to ``value``,
    whose steps it must match. With ``return_attention_scores=True`` the call returns
    ``(output, scores)``, the scores being the attention weights ``(None, num_heads, Tq, Tk)``
    before dropout, as Keras returns them (they cost Tq x Tk memory per head and sample, which
    the output alone never stores; gradients flow through both).
    ``attention_mask`` is a ``pydl.Input((Tq, Tk), dtype="bool")`` (True = attend). A padding
    mask from ``Embedding(mask_zero=True)`` masks padded keys (and padded query rows)
    automatically; the output carries the query's mask. A query row that may attend to no key
    weighs every key equally (the mean of the values), as Keras does.

    Weights, in ``get_weights()`` order: query kernel ``(Dq, num_heads, key_dim)`` and bias
    ``(num_heads, key_dim)``, key kernel and bias, value kernel ``(Dv, num_heads, value_dim)``
    and bias, output kernel ``(num_heads, value_dim, *output_shape)`` and bias
    ``(*output_shape)``; no biases with ``use_bias=False``.

    One layer object takes one set of call arguments (which tensors are given, the causal
    flag): calling it again with other ones is an error.
    """

    core_type = "multi_head_attention"
    merge = True  # its node reads several tensors: query, value[, key][, attention_mask]

    def __init__(self, num_heads: int, key_dim: int, value_dim: Optional[int] = None, dropout: float = 0.0,
                 use_bias: bool = True, output_shape=None, name: Optional[str] = None):
        super().__init__(name)
        owner = "MultiHeadAttention"
        self.num_heads = _validate.positive_int(owner, "num_heads", num_heads)
        self.key_dim = _validate.positive_int(owner, "key_dim", key_dim)
        self.value_dim = _validate.optional_int(owner, "value_dim", value_dim, minimum=1)
        self.dropout = _validate.number(owner, "dropout", dropout, 0.0, 1.0, high_open=True)
        self.use_bias = _validate.boolean(owner, "use_bias", use_bias)
        if output_shape is None or _validate.is_int(output_shape):
            self.output_shape = None if output_shape is None else _validate.positive_int(owner, "output_shape",
                                                                                           output_shape)
        else:
            self.output_shape = _validate.int_list(owner, "output_shape", output_shape, minimum=1)  # type: ignore[assignment]
        self._call_spec: Optional[Dict[str, bool]] = None

    def __call__(self, query, value=None, key=None, attention_mask=None, use_causal_mask=False,
                 return_attention_scores=False):
        """Record the call on symbolic tensors (see the class docstring). A list
        ``[query, value, key?, attention_mask?]`` is the call's node inputs, as a saved model
        replays them."""
        from ..engine.functional import SymbolicTensor, call_layer  # lazy: engine imports layers

        owner = f"MultiHeadAttention{'' if self.name is None else ' ' + repr(self.name)}"
        return_attention_scores = _validate.boolean(owner, "return_attention_scores", return_attention_scores)
        if isinstance(query, (list, tuple)) and value is None and key is None and attention_mask is None:
            spec = dict(self._call_spec) if self._call_spec is not None else {
                "use_causal_mask": _validate.boolean(owner, "use_causal_mask", use_causal_mask),
                "has_key": False, "has_attention_mask": False}
            items = list(query)
            want = 2 + spec["has_key"] + spec["has_attention_mask"]
            if len(items) != want:
                raise ValueError(f"{owner}: expected a list of {want} tensors (query, value"
                                 f"{', key' if spec['has_key'] else ''}"
                                 f"{', attention_mask' if spec['has_attention_mask'] else ''}), got {len(items)}")
        else:
            if value is None:
                raise TypeError(f"{owner}: expected mha(query, value, key=None, attention_mask=None, "
                                "use_causal_mask=False); value is missing (self-attention is mha(x, x))")
            spec = {"use_causal_mask": _validate.boolean(owner, "use_causal_mask", use_causal_mask),
                    "has_key": key is not None, "has_attention_mask": attention_mask is not None}
            items = [query, value] + ([key] if key is not None else [])
            if attention_mask is not None:
                if not isinstance(attention_mask, SymbolicTensor) or attention_mask.dtype != "bool":
                    raise TypeError(f"{owner}: attention_mask must be a boolean model input, "
                                    "pydl.Input((Tq, Tk), dtype='bool'), got "
                                    f"{getattr(attention_mask, 'dtype', type(attention_mask).__name__)!r}")
                items.append(attention_mask)
        if self._call_spec is not None and spec != self._call_spec:
            raise ValueError(f"{owner}: called before with {self._call_spec}, now with {spec}; one layer object "
                             "takes one set of call arguments (use another MultiHeadAttention layer)")
        node = call_layer(self, items)
        self._call_spec = spec
        if return_attention_scores:
            # A second node over the same inputs and weights: it recomputes the query and key
            # projections and stores the (heads, Tq, Tk) weights the fused kernel never keeps.
            return node, call_layer(self, items, output_index=1)
        return node

    def get_config(self) -> Dict[str, Any]:
        return {"num_heads": self.num_heads, "key_dim": self.key_dim, "value_dim": self.value_dim,
                "dropout": self.dropout, "use_bias": self.use_bias, "output_shape": self.output_shape,
                "name": self.name}

    def core_config(self) -> Dict[str, Any]:
        cfg = super().core_config()
        shape = cfg.pop("output_shape")
        cfg["output_shape"] = None if shape is None else ([shape] if isinstance(shape, int) else list(shape))
        return {**cfg, **(self._call_spec or {k: False for k in _CALL_KEYS})}

    def _call_config(self) -> Optional[Dict[str, bool]]:
        return None if self._call_spec is None else dict(self._call_spec)

    def _restore_call_config(self, cfg) -> None:
        if not isinstance(cfg, dict) or set(cfg) != set(_CALL_KEYS) or \
                not all(isinstance(v, bool) for v in cfg.values()):
            raise ValueError(f"MultiHeadAttention: call_config must map {list(_CALL_KEYS)} to booleans, got {cfg!r}")
        self._call_spec = dict(cfg)
