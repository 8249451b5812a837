"""The Layer base class, the registry of layer classes for save/load, and the argument checks
every layer spec shares.

Every public subclass registers itself under its class name when it is defined (private
bases, whose names start with ``_``, do not): ``deserialize`` finds it there, so adding a
layer is one class here and one registration in C++ (csrc/nn/layer_registry.h).
"""
from __future__ import annotations

import functools
from typing import Any, Dict, Optional, Type

from .. import _validate, initializers, regularizers

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "gelu", "softmax", "linear")


def _check_activation(owner: str, activation: Optional[str]) -> Optional[str]:
    return _validate.choice(owner, "activation", activation, (*ACTIVATIONS, None))


def _initializer(owner: str, argument: str, value) -> str:
    """An initializer name (pydl.initializers.NAMES), checked."""
    return initializers.check(owner, argument, value)


def _regularizer(owner: str, argument: str, value):
    """A regularizer argument, checked and stored as given (a saved config's dict becomes
    the Regularizer it describes)."""
    reg = regularizers.get(owner, argument, value)
    return reg if isinstance(value, dict) else value


def _regularizer_factors(owner: str, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """The C++ layers take each ``<w>_regularizer`` as two numbers ``<w>_l1``, ``<w>_l2``."""
    out = {}
    for key, value in cfg.items():
        if not key.endswith("_regularizer"):
            out[key] = value
            continue
        prefix = key[: -len("_regularizer")]
        reg = regularizers.get(owner, key, value)
        out[f"{prefix}_l1"] = 0.0 if reg is None else reg.l1
        out[f"{prefix}_l2"] = 0.0 if reg is None else reg.l2
    return out


_REGISTRY: Dict[str, Type["Layer"]] = {}


def _accepts_input_shape(init):
    """Keras 2's habit ``Dense(8, input_shape=(4,))`` on a Sequential's first layer: the
    shape is kept on the layer (``layer.input_shape``) and Sequential starts from it."""
    if getattr(init, "_takes_input_shape", False):
        return init

    @functools.wraps(init)
    def __init__(self, *args, input_shape=None, **kwargs):
        init(self, *args, **kwargs)
        if input_shape is not None:
            owner = type(self).__name__
            if isinstance(input_shape, (int,)) and not isinstance(input_shape, bool):
                input_shape = (input_shape,)
            if not isinstance(input_shape, (tuple, list)) or not input_shape:
                raise TypeError(f"{owner}: input_shape must be a tuple of positive ints (one sample, no batch "
                                f"axis), got {input_shape!r}")
            self.input_shape = tuple(_validate.positive_int(owner, "input_shape", d) for d in input_shape)
        elif not hasattr(self, "input_shape"):
            self.input_shape = None

    __init__._takes_input_shape = True
    return __init__


def require_core_layer(layer) -> None:
    """Layers run in C++: a subclass without a C++ layer behind it cannot be part of a model."""
    if not type(layer).core_type:
        supported = ", ".join(sorted(n for n, c in _REGISTRY.items() if c.core_type))
        raise TypeError(f"{type(layer).__name__}: pydl runs every layer in C++, and custom Python layers (with "
                        f"their own call/forward) are not supported; build the model from the built-in layers: "
                        f"{supported}")


class Layer:
    """Base class of layer specs. ``core_type`` names the C++ layer that executes it.

    ``get_config`` is what a saved model stores (exactly the constructor's arguments);
    ``core_config`` is what the C++ layer parses, and must hold exactly the keys it reads:
    the C++ side rejects any other key.
    """

    core_type: str = ""
    _model: Any  # the model the layer belongs to, set when it is added (no weights before)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        name = cls.__name__
        if "__init__" in vars(cls):
            cls.__init__ = _accepts_input_shape(cls.__init__)
        if name.startswith("_"):
            return
        known = _REGISTRY.get(name)
        # The same class defined again (a module reloaded) replaces itself; another class of
        # that name would make saved models ambiguous.
        if known is not None and (known.__module__, known.__qualname__) != (cls.__module__, cls.__qualname__):
            raise TypeError(f"a layer class named {name!r} is already registered ({known.__module__}."
                            f"{known.__qualname__}); saved models name layers by class, so pick another name")
        if cls.core_type:  # without a C++ layer behind it there is nothing to save or load
            _REGISTRY[name] = cls

    def __init__(self, name: Optional[str] = None):
        self.name = None if name is None else _validate.non_empty_str(type(self).__name__, "name", name)

    def __call__(self, inputs):
        """Call the layer on a symbolic tensor (a list of them for merge layers) while building
        a functional model; returns the symbolic output. Calling one layer object on several
        tensors shares its weights."""
        from ..engine.functional import call_layer  # lazy: engine imports layers

        return call_layer(self, inputs)

    @property
    def trainable(self) -> bool:
        """False freezes the layer's weights: training leaves them (and their optimizer state)
        alone, and a BatchNormalization then runs in inference mode (its moving statistics),
        as in Keras. Takes effect at once, also between fits; saved with the model."""
        return getattr(self, "_trainable", True)

    @trainable.setter
    def trainable(self, value) -> None:
        self._trainable = _validate.boolean(type(self).__name__, "trainable", value)
        model = getattr(self, "_model", None)
        if model is not None:
            model._apply_trainable()

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

    def _call_config(self) -> Optional[Dict[str, Any]]:
        """The arguments of the layer's call beyond its tensors (MultiHeadAttention's
        use_causal_mask), which a saved model must replay; None for layers without."""
        return None

    def _restore_call_config(self, cfg) -> None:
        raise ValueError(f"{type(self).__name__}: takes no call_config, got {cfg!r}")

    def core_config(self) -> Dict[str, Any]:
        """What the C++ core needs: the config plus the layer type."""
        require_core_layer(self)
        return _regularizer_factors(type(self).__name__, {"type": self.core_type, **self.get_config()})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "name")
        return f"{type(self).__name__}({args})"


def registered_layers() -> Dict[str, Type[Layer]]:
    """Every registered layer class by class name (a copy)."""
    return dict(_REGISTRY)


def serialize(layer: Layer) -> Dict[str, Any]:
    """``{"class_name": ..., "config": layer.get_config()}``, what saved models store."""
    spec = {"class_name": type(layer).__name__, "config": layer.get_config()}
    if not layer.trainable:  # only when frozen: files of trainable models stay as they were
        spec["trainable"] = False  # type: ignore[assignment]
    call = layer._call_config()
    if call is not None:
        spec["call_config"] = call
    return spec


def deserialize(spec: Dict[str, Any]) -> Layer:
    """Rebuild a layer from ``{"class_name": ..., "config": {...}}``."""
    try:
        cls = _REGISTRY[spec["class_name"]]
    except (KeyError, TypeError):
        raise ValueError(f"unknown layer spec {spec!r}") from None
    layer = cls(**spec["config"])
    trainable = spec.get("trainable", True)
    if not isinstance(trainable, bool):
        raise ValueError(f"layer spec {spec['class_name']!r}: 'trainable' must be true or false, got {trainable!r}")
    layer._trainable = trainable
    if "call_config" in spec:
        layer._restore_call_config(spec["call_config"])
    return layer


_PADDINGS = ("valid", "same")


def _padding(owner: str, padding, allow_explicit: bool = True):
    """'valid', 'same', or (convolutions only) an int or a (ph, pw) pair of ints >= 0."""
    if not allow_explicit:
        return _validate.choice(owner, "padding", padding, _PADDINGS)
    expected = "'valid', 'same', a non-negative int or a (ph, pw) pair of them"
    if isinstance(padding, str):
        return _validate.choice(owner, "padding", padding, _PADDINGS, expected)
    return _validate.int_pair(owner, "padding", padding, minimum=0, expected=expected)
