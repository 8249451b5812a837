"""``export_onnx``: a built pydl model as an ONNX file that onnxruntime runs to the outputs of
``model.predict``.

The ONNX model takes what ``predict`` takes: one input per model input, named as
``model.input_names`` (``"input"`` for a Sequential), batch first and channels last, the
batch axis dynamic (``"batch"``) and so is any axis the Input declared None; float32 inputs
are FLOAT, ``dtype="int32"`` ones INT32, ``dtype="bool"`` ones BOOL. Outputs are named as
``model.output_names``. Inference only: Dropout is the identity, BatchNormalization uses its
moving statistics. The file is checked (``onnx.checker.check_model(full_check=True)``)
before it is written, atomically.
"""
from __future__ import annotations

import os
from typing import Dict, Optional, Tuple

import numpy as np
import onnx
from onnx import helper

from .. import __version__
from ..engine import functional
from ..engine.saving import write_atomically
from .graph import CONVERTERS, Call, Graph, elem_type

MIN_OPSET = 17  # LayerNormalization is an op from 17 on
SUFFIX = ".onnx"
_ONNX_DTYPES = {"float32": np.float32, "int32": np.int32, "bool": np.bool_}


class _Spec:
    """A model's structure, the same for Sequential and functional models: inputs as
    (name, per-sample shape with None axes, dtype), nodes as (layer, input tensor ids, which
    output of the call),
    outputs as (tensor id, name), the per-sample shape of each tensor id where known."""

    def __init__(self, model):
        from ..engine.model import Sequential

        if isinstance(model, Sequential):
            self.inputs = [("input", tuple(model.input_shape), "float32")]
            self.nodes = [(layer, [i], 0) for i, layer in enumerate(model.layers)]
            self.outputs = [(len(self.nodes), model.output_names[0])]
            self.shapes: Dict[int, Optional[tuple]] = {0: self.inputs[0][1]}
            return
        traced = functional.trace(model.inputs, model.outputs, model.name)
        self.inputs = [(name, tuple(t.shape), t.dtype) for name, t in zip(model.input_names, traced.inputs)]
        self.nodes = [(traced.layers[li], list(ins), out) for li, ins, out in traced.nodes]
        self.outputs = list(zip(traced.outputs, model.output_names))
        self.shapes = {i: t.shape for t, i in traced.tensor_ids.items()}


def _layer_weights(model) -> Dict[str, Dict[str, np.ndarray]]:
    """{layer name: {weight name: array}} from the model's public weight list."""
    out: Dict[str, Dict[str, np.ndarray]] = {}
    for spec, value in zip(model.weight_specs(), model.get_weights()):
        layer, name = spec["path"].rsplit("/", 1)
        out.setdefault(layer, {})[name] = np.asarray(value, dtype=np.float32)
    return out


def _check_opset(opset) -> int:
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)):
        raise TypeError(f"export_onnx: expected opset to be an int, got {type(opset).__name__}")
    if not MIN_OPSET <= opset <= newest:
        raise ValueError(f"export_onnx: expected opset between {MIN_OPSET} (the first with LayerNormalization) "
                         f"and {newest} (the newest this onnx {onnx.__version__} knows), got {opset}")
    return int(opset)


def check_path(path) -> str:
    """``path`` as a str when it names an ``.onnx`` file (any case); else a TypeError or
    ValueError: the file is never written under a name that promises another format."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(os.fspath(path), bytes):
        raise TypeError(f"export_onnx: expected path to be a str or os.PathLike, got {type(path).__name__}")
    path = os.fspath(path)
    stem, suffix = os.path.splitext(os.path.basename(path))
    if suffix.lower() != SUFFIX or not stem:
        raise ValueError(f"export_onnx: expected a path ending in {SUFFIX} (an ONNX file), got {path!r}")
    return path


def _value_info(name: str, shape: tuple, dtype, batch: str = "batch"):
    dims = [batch] + [f"{name}_{k}" if d is None else int(d) for k, d in enumerate(shape, start=1)]
    return helper.make_tensor_value_info(name, elem_type(dtype), dims)


def build_onnx_model(model, opset: int = MIN_OPSET) -> onnx.ModelProto:
    """The checked ``onnx.ModelProto`` of a pydl model (see export_onnx)."""
    opset = _check_opset(opset)
    model.build()
    spec = _Spec(model)
    weights = _layer_weights(model)
    g = Graph(opset)
    tensors: Dict[int, Tuple[str, Optional[str]]] = {}  # tensor id -> (ONNX name, padding mask)
    graph_inputs = []
    for i, (name, shape, dtype) in enumerate(spec.inputs):
        graph_inputs.append(_value_info(g.reserve(name), shape, _ONNX_DTYPES[dtype]))
        g.inputs.append(graph_inputs[-1])
        # The C++ graph computes in float32 and so do the converters: ids and masks too
        # (exact up to 2**24; Embedding casts back to integers, attention masks to booleans).
        tensors[i] = (name if dtype == "float32" else g.cast(name, onnx.TensorProto.FLOAT, f"{name}_float"), None)
    out_names = [g.fresh(name) for _, name in spec.outputs]  # claimed before any generated name
    for k, (layer, ins, out) in enumerate(spec.nodes):
        convert = CONVERTERS.get(layer.core_type)
        if convert is None:
            known = ", ".join(sorted(CONVERTERS))
            raise ValueError(f"ONNX export: layer {layer.name!r} ({type(layer).__name__}, C++ type "
                             f"{layer.core_type!r}) cannot be exported: no ONNX converter for it; exportable "
                             f"layer types: {known}")
        call = Call(layer, [tensors[i][0] for i in ins], [tensors[i][1] for i in ins],
                    [spec.shapes.get(i) for i in ins], weights.get(layer.name, {}), output_index=out)
        tensors[len(spec.inputs) + k] = convert(g, call)
    graph_outputs = []
    for (tid, _), name in zip(spec.outputs, out_names):
        g.nodes.append(helper.make_node("Identity", [tensors[tid][0]], [name], name=g.fresh(f"{name}_output")))
        graph_outputs.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    graph = helper.make_graph(g.nodes, model.name, graph_inputs, graph_outputs, g.initializers)
    opsets = [helper.make_opsetid("", opset)]
    proto = helper.make_model(graph, opset_imports=opsets, producer_name="pydl", producer_version=__version__,
                              ir_version=helper.find_min_ir_version_for(opsets))
    # Output shapes from ONNX's own inference (the batch axis stays "batch").
    proto = onnx.shape_inference.infer_shapes(proto, strict_mode=True)
    onnx.checker.check_model(proto, full_check=True)
    return proto


def export_onnx(model, path, opset: int = MIN_OPSET) -> None:
    """Write ``model`` to ``path`` (an ``.onnx`` file) as an ONNX model of ``opset`` (17 or
    newer); see the module docstring for its inputs and outputs. A layer or option without
    an ONNX form is a ValueError naming it, before anything is written."""
    path = check_path(path)
    proto = build_onnx_model(model, opset)
    write_atomically(path, proto.SerializeToString())
