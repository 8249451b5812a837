"""pydl: deep-learning training with C++ kernels under a Keras-like Python API."""
from . import _runtime  # noqa: F401  (first: loads the C++ core with the environment it needs)
from . import layers as _layers  # noqa: F401  (before data: its image transforms are layers, see pydl.layers)
from . import (callbacks, cuda, data, distributed, engine, initializers, layers, losses, metrics, optimizers,
               regularizers, report, schedules, tuning)
from . import kernels
from ._core import get_num_threads, set_num_threads
from .data import ArrayDataset, DataLoader, datasets, loader, preprocessing, readers, resampling, splits
from .data import transforms as augmentation
from .engine import Input, Model, Sequential, load_model
from .report import diagnose, plot
from . import _aliases  # noqa: F401,E402  (the module paths of pydl 0.1; after the modules they name)

__version__ = "0.1.0"

__all__ = ["Model", "Sequential", "Input", "load_model", "set_num_threads", "get_num_threads", "ArrayDataset", "DataLoader",
           "diagnose", "layers", "losses", "optimizers", "regularizers", "initializers", "schedules", "callbacks",
           "metrics", "data", "tuning",
           "report", "engine", "datasets", "readers", "preprocessing", "augmentation", "loader", "splits",
           "resampling", "plot", "distributed", "kernels", "cuda", "__version__"]
