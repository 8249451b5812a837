"""The engine: models (``Model`` over any DAG of layer calls, ``Sequential`` its chain case),
symbolic inputs (``Input``), the training loops (compile/fit/evaluate/predict, run in C++) and
model files (``save_model`` / ``load_model``)."""
import importlib as _importlib
from typing import TYPE_CHECKING

from .functional import Input
from .model import Model, Sequential

__all__ = ["Model", "Sequential", "Input", "load_model", "save_model"]

if TYPE_CHECKING:
    from .saving import load_model, save_model


def __getattr__(name):  # the model files' code loads when first used (PEP 562)
    if name in ("load_model", "save_model", "saving"):
        saving = _importlib.import_module(f"{__name__}.saving")
        value = saving if name == "saving" else getattr(saving, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
