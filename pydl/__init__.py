"""pydl: deep-learning training with C++ kernels under a Keras-like Python API."""
import importlib as _importlib
from typing import TYPE_CHECKING

from . import _runtime  # noqa: F401  (first: loads the C++ core with the environment it needs)
from . import engine, initializers, layers, losses, optimizers, regularizers, schedules
from ._core import get_num_threads, set_num_threads
from .engine import Input, Model, Sequential
from .report import diagnose
from . import _aliases  # noqa: F401,E402  (the module paths of pydl 0.1)

__version__ = "0.1.0"

__all__ = ["Model", "Sequential", "Input", "load_model", "set_num_threads", "get_num_threads", "ArrayDataset", "DataLoader",
           "diagnose", "layers", "losses", "optimizers", "regularizers", "initializers", "schedules", "callbacks",
           "metrics", "data", "tuning",
           "report", "engine", "datasets", "readers", "preprocessing", "augmentation", "loader", "splits",
           "resampling", "plot", "distributed", "kernels", "cuda", "__version__"]

if TYPE_CHECKING:  # the lazy names below, for type checkers
    from . import callbacks, cuda, data, distributed, kernels, metrics, report, tuning
    from .data import datasets, loader, preprocessing, readers, resampling, splits
    from .data import transforms as augmentation
    from .data.loader import ArrayDataset, DataLoader
    from .engine.saving import load_model
    from .report import plot

# Imported on first use (PEP 562), so that `import pydl` loads only what defining and training a
# model needs: `pydl.data`, `pydl.tuning`, ... (and `from pydl.data import X`) work as before.
_LAZY_MODULES = {"callbacks": "pydl.callbacks", "cuda": "pydl.cuda", "data": "pydl.data",
                 "distributed": "pydl.distributed", "kernels": "pydl.kernels", "metrics": "pydl.metrics",
                 "report": "pydl.report", "tuning": "pydl.tuning", "datasets": "pydl.data.datasets",
                 "readers": "pydl.data.readers", "loader": "pydl.data.loader",
                 "preprocessing": "pydl.data.preprocessing", "augmentation": "pydl.data.transforms",
                 "splits": "pydl.data.splits", "resampling": "pydl.data.resampling", "plot": "pydl.report.plot"}
_LAZY_NAMES = {"ArrayDataset": "pydl.data.loader", "DataLoader": "pydl.data.loader", "load_model": "pydl.engine.saving"}


def __getattr__(name):
    if name in _LAZY_MODULES:
        value = _importlib.import_module(_LAZY_MODULES[name])
    elif name in _LAZY_NAMES:
        value = getattr(_importlib.import_module(_LAZY_NAMES[name]), name)
    else:
        raise AttributeError(f"module 'pydl' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
