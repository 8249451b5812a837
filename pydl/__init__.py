"""pydl: deep-learning training with C++ kernels under a Keras-like Python API."""
from . import _core
from . import callbacks, data, datasets, layers, losses, metrics, optimizers
from ._core import get_num_threads, set_num_threads
from .models import Sequential
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["Sequential", "load_model", "set_num_threads", "get_num_threads", "layers", "losses",
           "optimizers", "callbacks", "data", "datasets", "metrics", "__version__"]
