"""The ONNX graph under construction, and the table of layer converters.

``Graph`` collects nodes and weights (as initializers) under unique names and hides the few
ops whose form changed between the opsets pydl writes (reductions take their axes as an
input from opset 18 on). A Scan body is a ``Graph`` too: it shares its parent's names and
initializers (ONNX lets a subgraph read the outer scope), and keeps its own nodes.

A converter turns one layer call into nodes: ``fn(g, call) -> (output, mask)``, registered
once per C++ layer type (``Layer.core_type``) with ``@converts("dense")``. ``output`` and
``mask`` are tensor names; ``mask`` is the (N, T) boolean padding mask the output carries
(from ``Embedding(mask_zero=True)``), or None, following the C++ graph's rules.
"""
from __future__ import annotations

import hashlib
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
from onnx import TensorProto, helper, numpy_helper, shape_inference

_DTYPES = {np.dtype(np.float32): TensorProto.FLOAT, np.dtype(np.int64): TensorProto.INT64,
           np.dtype(np.bool_): TensorProto.BOOL, np.dtype(np.int32): TensorProto.INT32}


class Graph:
    """Nodes and initializers of one ONNX graph (``parent``: the graph a Scan body lives in)."""

    def __init__(self, opset: int, parent: Optional["Graph"] = None):
        self.opset = opset
        self.nodes: List = []
        self._root = self if parent is None else parent._root
        if parent is None:
            self.inputs: List = []  # the model's inputs (value infos), for static_shape
            self.initializers: List = []
            self._taken: set = set()
            self._consts: Dict[tuple, str] = {}

    def reserve(self, name: str) -> str:
        """Claim ``name`` (a model input or output) so no generated tensor takes it."""
        root = self._root
        if name in root._taken:
            raise ValueError(f"ONNX export: the tensor name {name!r} is used twice")
        root._taken.add(name)
        return name

    def fresh(self, hint: str) -> str:
        """A tensor name not used anywhere in the model (subgraphs included), from ``hint``."""
        root = self._root
        name, i = hint, 1
        while name in root._taken:
            name, i = f"{hint}_{i}", i + 1
        root._taken.add(name)
        return name

    def const(self, value, hint: str = "const", dtype=np.float32) -> str:
        """An initializer holding ``value`` (cast to ``dtype``). Equal constants are stored
        once: a layer called twice (shared weights) keeps one copy of its weights."""
        arr = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray would make a scalar 1-D)
        root = self._root
        key = (arr.dtype.str, arr.shape, hashlib.sha256(arr.tobytes()).digest())
        if key not in root._consts:
            root._consts[key] = self.fresh(hint)
            root.initializers.append(numpy_helper.from_array(arr, root._consts[key]))
        return root._consts[key]

    def ints(self, values: Sequence[int], hint: str = "shape") -> str:
        """A 1-D int64 constant (shapes, axes, slice bounds)."""
        return self.const(np.asarray(list(values), dtype=np.int64).reshape(-1), hint, np.int64)

    def op(self, op_type: str, inputs: Sequence[str], hint: Optional[str] = None, outputs: int = 1,
           **attrs) -> Union[str, List[str]]:
        """Append a node; returns its output name (a list of them when ``outputs > 1``)."""
        base = hint or op_type.lower()
        names = [self.fresh(base if k == 0 else f"{base}_out{k}") for k in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), names, name=self.fresh(f"{base}_node"), **attrs))
        return names[0] if outputs == 1 else names

    def reduce(self, op_type: str, x: str, axes: Sequence[int], keepdims: bool, hint: Optional[str] = None) -> str:
        """ReduceMean / ReduceMax / ReduceSum over ``axes``, as the opset spells it."""
        if self.opset >= 18 or op_type == "ReduceSum":  # ReduceSum takes axes as an input since 13
            return self.op(op_type, [x, self.ints(axes, "axes")], hint, keepdims=int(keepdims))
        return self.op(op_type, [x], hint, axes=list(axes), keepdims=int(keepdims))

    def static_shape(self, x: str) -> List[Optional[int]]:
        """x's shape as ONNX's shape inference finds it from the nodes so far (None: an axis
        whose length is known at run time only, as the batch axis)."""
        root = self._root
        probe = helper.make_graph(root.nodes, "probe", root.inputs,
                                  [helper.make_tensor_value_info(x, TensorProto.FLOAT, None)], root.initializers)
        model = helper.make_model(probe, opset_imports=[helper.make_opsetid("", self.opset)])
        inferred = shape_inference.infer_shapes(model, strict_mode=True).graph
        for info in [*inferred.input, *inferred.value_info, *inferred.output]:
            if info.name == x and info.type.tensor_type.HasField("shape"):
                return [d.dim_value if d.HasField("dim_value") else None for d in info.type.tensor_type.shape.dim]
        raise ValueError(f"ONNX export: the shape of {x!r} is unknown")  # not reached for pydl's layers

    def cast(self, x: str, to: int, hint: Optional[str] = None) -> str:
        """x cast to the ONNX element type ``to`` (a TensorProto constant)."""
        return self.op("Cast", [x], hint, to=to)

    def batch_shape(self, x: str, tail: Sequence[int], hint: str = "shape") -> str:
        """The int64 shape ``(x.shape[0], *tail)``: x's batch size, then fixed sizes."""
        n = self.op("Shape", [x], f"{hint}_batch", start=0, end=1)
        return self.op("Concat", [n, self.ints(tail)], hint, axis=0)


class Call:
    """One layer call being converted: the layer, its input tensors (names), the masks they
    carry, their per-sample shapes where the model knows them (else None), and the layer's
    weights by name (``kernel``, ``bias``, ...) as float32 arrays; ``output_index``: which
    output of the call (MultiHeadAttention's scores are output 1)."""

    def __init__(self, layer, inputs: List[str], masks: List[Optional[str]], shapes: List[Optional[tuple]],
                 weights: Dict[str, np.ndarray], output_index: int = 0):
        self.layer = layer
        self.output_index = output_index
        self.inputs = inputs
        self.masks = masks
        self.shapes = shapes
        self.weights = weights

    @property
    def label(self) -> str:
        """``Dense 'dense_1'``, as pydl's errors name a layer."""
        return f"{type(self.layer).__name__} {self.layer.name!r}"

    @property
    def hint(self) -> str:
        """The stem of the tensor names made for this call: the layer's name."""
        return self.layer.name

    def weight(self, name: str) -> np.ndarray:
        """The layer's weight ``name`` (a ValueError naming the layer when it has none)."""
        try:
            return self.weights[name]
        except KeyError:
            raise ValueError(f"ONNX export: {self.label} has no weight {name!r} (it has {sorted(self.weights)})") \
                from None


Converter = Callable[[Graph, Call], Tuple[str, Optional[str]]]
CONVERTERS: Dict[str, Converter] = {}


def converts(*core_types: str):
    """Register the decorated function as the converter of these C++ layer types."""
    def register(fn: Converter) -> Converter:
        for t in core_types:
            if t in CONVERTERS:
                raise TypeError(f"ONNX export: two converters for layer type {t!r}")
            CONVERTERS[t] = fn
        return fn
    return register


def elem_type(dtype) -> int:
    """The ONNX element type of a numpy dtype (float32, int64, int32, bool)."""
    return _DTYPES[np.dtype(dtype)]
