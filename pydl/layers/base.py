"""The Layer base class and the argument checks every layer spec shares."""
from __future__ import annotations

from typing import Any, Dict, Optional

from .. import _validate

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear")


def _check_activation(owner: str, activation: Optional[str]) -> Optional[str]:
    return _validate.choice(owner, "activation", activation, (*ACTIVATIONS, None))


class Layer:
    """Base class of layer specs. ``core_type`` names the C++ layer that executes it."""

    core_type: str = ""

    def __init__(self, name: Optional[str] = None):
        self.name = None if name is None else _validate.non_empty_str(type(self).__name__, "name", name)

    def __call__(self, inputs):
        """Call the layer on a symbolic tensor (a list of them for merge layers) while building
        a functional model; returns the symbolic output. Calling one layer object on several
        tensors shares its weights."""
        from ..engine.functional import call_layer  # lazy: engine imports layers

        return call_layer(self, inputs)

    def get_weights(self):
        """Copies of this layer's weights (needs the model it belongs to to be built)."""
        return self._owner_model().get_weights(layer=self.name)

    def set_weights(self, weights) -> None:
        """Replace this layer's weights, in get_weights order."""
        self._owner_model().set_weights(weights, layer=self.name)

    def _owner_model(self):
        model = getattr(self, "_model", None)
        if model is None:
            raise ValueError(f"{type(self).__name__} {self.name!r}: its weights exist once a model containing it "
                             "is built")
        return model

    def get_config(self) -> Dict[str, Any]:
        return {"name": self.name}

    def core_config(self) -> Dict[str, Any]:
        """What the C++ core needs: the config plus the layer type."""
        return {"type": self.core_type, **self.get_config()}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


_PADDINGS = ("valid", "same")


def _padding(owner: str, padding, allow_explicit: bool = True):
    """'valid', 'same', or (convolutions only) an int or a (ph, pw) pair of ints >= 0."""
    if not allow_explicit:
        return _validate.choice(owner, "padding", padding, _PADDINGS)
    expected = "'valid', 'same', a non-negative int or a (ph, pw) pair of them"
    if isinstance(padding, str):
        return _validate.choice(owner, "padding", padding, _PADDINGS, expected)
    return _validate.int_pair(owner, "padding", padding, minimum=0, expected=expected)
