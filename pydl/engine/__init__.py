"""The engine: models (``Model`` over any DAG of layer calls, ``Sequential`` its chain case),
symbolic inputs (``Input``), the training loops (compile/fit/evaluate/predict, run in C++) and
model files (``save_model`` / ``load_model``)."""
from .functional import Input
from .model import Model, Sequential
from .saving import load_model, save_model

__all__ = ["Model", "Sequential", "Input", "load_model", "save_model"]
