"""Symbolic tensors and the tracing of functional models.

``pydl.Input(shape)`` makes a symbolic input; calling a layer on symbolic tensors records the
call and returns the symbolic tensor of its output. ``trace(inputs, outputs)`` walks the calls
back from the outputs and lays them out as the C++ graph wants them: the distinct layers, the
calls in topological order as ``(layer index, input tensor ids)`` (ids: the model's inputs
first, then one per call), and the output ids. Nothing is computed here: shapes are checked
and inferred when the C++ graph is built.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import _validate

__all__ = ["SymbolicTensor", "Input", "call_layer", "trace", "Traced"]

DTYPES = ("float32", "int32", "bool")


class SymbolicTensor:
    """The output of a layer call (or a model input) in a model under construction.

    ``shape`` is the per-sample shape (no batch axis); it is known for inputs, and for other
    tensors once a model containing them is built (``None`` before).
    """

    def __init__(self, layer=None, inputs: Sequence["SymbolicTensor"] = (), shape=None, name=None,
                 dtype: str = "float32", output_index: int = 0):
        self.layer = layer
        self.inputs: Tuple[SymbolicTensor, ...] = tuple(inputs)
        # Which output of the layer's call this is (MultiHeadAttention's scores are output 1).
        self.output_index = output_index
        self.shape: Optional[Tuple[int, ...]] = None if shape is None else tuple(shape)
        self.name = name
        self.dtype = dtype

    def __repr__(self) -> str:
        made_by = "input" if self.layer is None else f"{type(self.layer).__name__} {self.layer.name or ''}".strip()
        shape = "?" if self.shape is None else ", ".join(["None", *map(str, self.shape)])
        return f"<SymbolicTensor ({shape}) from {made_by}>"

    # Symbolic tensors are graph nodes, compared by identity (a set or dict key each).
    __hash__ = object.__hash__


class Input(SymbolicTensor):
    """A model input: the shape of one sample, without the batch axis (``Input((64,))``,
    ``Input((28, 28, 1), name="image")``). It is a symbolic tensor: call layers on it to build
    a ``Model``, or put it first in a ``Sequential``. ``pydl.Input`` and ``layers.Input`` are
    this class. ``dtype="int32"`` (ids, exact up to 2**24) or ``"bool"`` (masks) checks the
    arrays given for it; the core computes in float32.

    ``None`` marks an axis whose length each call chooses (``Input((None, 8))`` for sequences
    of any length, ``Input((None,))`` for ids before an Embedding): every sample of one call
    shares it (pad mixed lengths, with ``Embedding(mask_zero=True)`` to mask the padding).
    The layers' weights must not depend on it (a recurrent layer's do not, a Dense on the
    time axis' do: that is refused when it happens). See ``free_axes``."""

    def __init__(self, shape: Sequence[Optional[int]], name: Optional[str] = None, dtype: str = "float32"):
        dims = tuple(free_axes_shape(shape))
        if name is not None:
            _validate.non_empty_str("Input", "name", name)
        dtype = _validate.choice("Input", "dtype", dtype, DTYPES)
        super().__init__(None, (), dims, name, dtype)

    def get_config(self):
        return {"shape": list(self.shape), "name": self.name, "dtype": self.dtype}


def free_axes_shape(shape) -> List[Optional[int]]:
    """A per-sample shape whose entries are positive ints or None (a length chosen per call)."""
    if isinstance(shape, (tuple, list)) and any(d is None for d in shape):
        fixed = [1 if d is None else d for d in shape]
        _validate.int_list("Input", "shape", fixed, minimum=1)  # the same message for a bad entry
        return [None if d is None else int(d) for d in shape]
    return _validate.int_list("Input", "shape", shape, minimum=1, scalar=True)


def concrete_shape(declared: Sequence[Optional[int]], x: np.ndarray) -> Tuple[int, ...]:
    """x's per-sample shape when it fits ``declared`` (None takes any length), else None."""
    got = tuple(int(d) for d in x.shape[1:])
    if len(got) != len(declared) or any(d is not None and d != g for d, g in zip(declared, got)):
        return None
    return got


def call_layer(layer, inputs, output_index: int = 0) -> SymbolicTensor:
    """What ``layer(inputs)`` does: record the call. Merge layers take a list of tensors.
    ``output_index`` picks another output of a call that has several (each is a graph node of
    its own over the same inputs and weights)."""
    from ..layers.base import Layer

    owner = f"{type(layer).__name__}{'' if layer.name is None else ' ' + repr(layer.name)}"
    from ..layers.base import require_core_layer

    require_core_layer(layer)
    if getattr(layer, "input_shape", None) is not None:
        raise ValueError(f"{owner}: input_shape= is for a Sequential's first layer; in a functional model the "
                         "shape comes from pydl.Input(shape)")
    merge = getattr(layer, "merge", False)
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    for t in items:
        if isinstance(t, Layer) and not isinstance(t, SymbolicTensor):
            raise TypeError(f"{owner}: called on a layer ({type(t).__name__}); call it on tensors: "
                            "the output of pydl.Input(...) or of another layer call")
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"{owner}: expected symbolic tensors (from pydl.Input or a layer call), got "
                            f"{type(t).__name__}; layers are not called on arrays, models are (model.predict)")
    if merge:
        if not isinstance(inputs, (list, tuple)) or len(items) < 2:
            raise ValueError(f"{owner}: expected a list of at least 2 tensors")
    elif len(items) != 1:
        raise ValueError(f"{owner}: expected one tensor, got {len(items)}")
    return SymbolicTensor(layer, items, output_index=output_index)


class Traced:
    """A functional model's structure, as the C++ graph takes it."""

    def __init__(self, inputs, layers, nodes, outputs, tensor_ids):
        self.inputs: List[SymbolicTensor] = inputs
        self.layers: List = layers                          # distinct, in order of first call
        self.nodes: List[Tuple[int, List[int], int]] = nodes  # (layer index, input tensor ids, output index)
        self.outputs: List[int] = outputs                     # tensor ids
        self.tensor_ids: Dict[SymbolicTensor, int] = tensor_ids


def keras_name(cls_name: str) -> str:
    """Conv2D -> conv2d, BatchNormalization -> batch_normalization."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z][a-z])", "_", cls_name).lower()


def assign_names(layers, owner: str) -> None:
    """Unique Keras-style names for unnamed layers; two layers given one name is an error."""
    taken = {}  # type: ignore[var-annotated]
    for layer in layers:
        if layer.name is not None:
            if layer.name in taken and taken[layer.name] is not layer:
                raise ValueError(f"{owner}: two layers are named {layer.name!r}")
            taken[layer.name] = layer
    for layer in layers:
        if layer.name is None:
            base = keras_name(type(layer).__name__)
            name, i = base, 1
            while name in taken:
                name, i = f"{base}_{i}", i + 1
            layer.name = name
            taken[name] = layer


def trace(inputs: Sequence[SymbolicTensor], outputs: Sequence[SymbolicTensor], owner: str) -> Traced:
    inputs, outputs = list(inputs), list(outputs)
    if not inputs:
        raise ValueError(f"{owner}: a model needs at least one input")
    if not outputs:
        raise ValueError(f"{owner}: a model needs at least one output")
    for t in inputs:
        if not isinstance(t, SymbolicTensor) or t.layer is not None:
            raise TypeError(f"{owner}: inputs must be tensors made by pydl.Input, got {t!r}")
    if len(set(inputs)) != len(inputs):
        raise ValueError(f"{owner}: the same Input is given twice")
    for t in outputs:
        if not isinstance(t, SymbolicTensor):
            raise TypeError(f"{owner}: outputs must be symbolic tensors (layer call results), got {type(t).__name__}")
    given = set(inputs)
    order: List[SymbolicTensor] = []
    done, used = set(), set()
    # Depth-first from the outputs, iteratively (deep residual nets exceed Python's recursion).
    for out in outputs:
        stack = [(out, False)]
        while stack:
            t, expanded = stack.pop()
            if t in done:
                continue
            if t.layer is None:
                if t not in given:
                    raise ValueError(f"{owner}: an output depends on the Input {t.name if t.name is None else repr(t.name)}, which is not "
                                     "among the model's inputs (a tensor of another model?)")
                used.add(t)
                done.add(t)
                continue
            if expanded:
                done.add(t)
                order.append(t)
                continue
            stack.append((t, True))
            for u in reversed(t.inputs):
                if u not in done:
                    stack.append((u, False))
    for t in inputs:
        if t not in used:
            raise ValueError(f"{owner}: the Input {t.name if t.name is None else repr(t.name)} is not used by any output")
    layers, layer_index = [], {}  # type: ignore[var-annotated]
    for t in order:
        if id(t.layer) not in layer_index:
            layer_index[id(t.layer)] = len(layers)
            layers.append(t.layer)
    tensor_ids = {t: i for i, t in enumerate(inputs)}
    nodes = []  # type: ignore[var-annotated]
    for t in order:
        tensor_ids[t] = len(inputs) + len(nodes)
        nodes.append((layer_index[id(t.layer)], [tensor_ids[u] for u in t.inputs], t.output_index))
    return Traced(inputs, layers, nodes, [tensor_ids[t] for t in outputs], tensor_ids)


def as_input_array(x, tensor: SymbolicTensor, what: str) -> np.ndarray:
    """An input array as float32 for the core, checked against the Input's dtype: int32 inputs
    must hold integers (exact in float32 up to 2**24), bool inputs 0/1."""
    if tensor.dtype == "float32":
        return x
    arr = np.asarray(x)
    if tensor.dtype == "int32":
        if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.bool_)):
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise ValueError(f"{what}: the Input {tensor.name!r} takes integers (dtype='int32')")
        if arr.size and (arr.min() < -(2**24) or arr.max() > 2**24):
            raise ValueError(f"{what}: the Input {tensor.name!r} takes integers within +-2**24")
    elif tensor.dtype == "bool":
        if arr.size and not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"{what}: the Input {tensor.name!r} takes booleans (dtype='bool')")
    return arr
