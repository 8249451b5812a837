"""Converters of the merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum and
Concatenate. A merged tensor carries the AND of its inputs' padding masks, as in the C++
graph."""
from __future__ import annotations

from functools import reduce
from typing import List, Optional

from .graph import Call, Graph, converts

_VARIADIC = {"add": "Sum", "average": "Mean", "maximum": "Max", "minimum": "Min"}


def merged_mask(g: Graph, masks: List[Optional[str]], hint: str) -> Optional[str]:
    """The AND of the distinct masks among ``masks`` (None: no input is masked)."""
    distinct = list(dict.fromkeys(m for m in masks if m is not None))
    if not distinct:
        return None
    return reduce(lambda a, b: g.op("And", [a, b], f"{hint}_mask"), distinct)


@converts("add", "average", "maximum", "minimum")
def _variadic(g: Graph, c: Call):
    return g.op(_VARIADIC[c.layer.core_type], c.inputs, c.hint), merged_mask(g, c.masks, c.hint)


@converts("subtract")
def _subtract(g: Graph, c: Call):
    return g.op("Sub", c.inputs, c.hint), merged_mask(g, c.masks, c.hint)


@converts("multiply")
def _multiply(g: Graph, c: Call):
    y = reduce(lambda a, b: g.op("Mul", [a, b], f"{c.hint}_product"), c.inputs)
    return g.op("Identity", [y], c.hint), merged_mask(g, c.masks, c.hint)


@converts("concatenate")
def _concatenate(g: Graph, c: Call):
    axis = c.layer.axis
    if any(m is not None for m in c.masks):
        rank = len(c.shapes[0]) + 1 if c.shapes[0] is not None else None
        if rank is None or axis in (1, 1 - rank):
            raise ValueError(f"ONNX export: {c.label} joins masked sequences along their steps axis "
                             f"(axis={axis}), whose padding mask pydl does not define; this option cannot be "
                             "exported: concatenate along the features axis (-1), or drop mask_zero")
    return g.op("Concat", c.inputs, c.hint, axis=axis), merged_mask(g, c.masks, c.hint)
