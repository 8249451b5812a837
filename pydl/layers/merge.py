"""Merge layers: combine two or more tensors of one shape (Add, Subtract, Multiply, Average,
Maximum, Minimum) or join them along an axis (Concatenate). Called on a list of tensors:
``layers.Add()([x, y])``. No weights; a merged tensor keeps the steps every masked input
keeps (the AND of their masks)."""
from __future__ import annotations

from typing import Optional

from .. import _validate
from .base import Layer


class _Merge(Layer):
    merge = True  # called on a list of tensors

    def __init__(self, name: Optional[str] = None):
        super().__init__(name)


class Add(_Merge):
    """Elementwise sum of its inputs."""
    core_type = "add"


class Subtract(_Merge):
    """``inputs[0] - inputs[1]`` (exactly two inputs)."""
    core_type = "subtract"


class Multiply(_Merge):
    """Elementwise product of its inputs."""
    core_type = "multiply"


class Average(_Merge):
    """Elementwise mean of its inputs."""
    core_type = "average"


class Maximum(_Merge):
    """Elementwise maximum; the gradient goes to the first input holding it."""
    core_type = "maximum"


class Minimum(_Merge):
    """Elementwise minimum; the gradient goes to the first input holding it."""
    core_type = "minimum"


class Concatenate(_Merge):
    """Joins its inputs along ``axis`` (Keras numbering: -1 is the last axis, 1 the first one
    after the batch axis); the other sizes must agree."""
    core_type = "concatenate"

    def __init__(self, axis: int = -1, name: Optional[str] = None):
        super().__init__(name)
        self.axis = _validate.integer("Concatenate", "axis", axis)
        if self.axis == 0:
            raise ValueError("Concatenate: expected axis to be a non-zero int (the batch axis 0 cannot be "
                             "concatenated), got 0")

    def get_config(self):
        return {"axis": self.axis, "name": self.name}
