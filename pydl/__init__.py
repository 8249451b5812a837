"""pydl: deep-learning training with C++ kernels under a Keras-like Python API."""
import os as _os

import numpy as _np  # noqa: F401  (numpy's own OpenBLAS initialises first, untouched)

# pydl runs its bundled OpenBLAS single-threaded inside its own OpenMP threads; reading
# OPENBLAS_NUM_THREADS=1 at load time stops that OpenBLAS from starting an idle thread pool
# whose spinning threads would compete with pydl's for the cores.
_saved = _os.environ.get("OPENBLAS_NUM_THREADS")
_os.environ["OPENBLAS_NUM_THREADS"] = "1"
try:
    from . import _core
finally:
    if _saved is None:
        del _os.environ["OPENBLAS_NUM_THREADS"]
    else:
        _os.environ["OPENBLAS_NUM_THREADS"] = _saved
from . import (augmentation, callbacks, data, datasets, layers, loader, losses, metrics, optimizers, plot,
               preprocessing, readers, resampling, schedules, splits, tuning)
from .diagnose import diagnose
from ._core import get_num_threads, set_num_threads
from .loader import ArrayDataset, DataLoader
from .models import Sequential
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["Sequential", "load_model", "set_num_threads", "get_num_threads", "layers", "losses",
           "optimizers", "callbacks", "data", "datasets", "metrics", "preprocessing", "augmentation", "loader",
           "readers", "resampling", "splits", "schedules", "plot", "diagnose", "tuning", "ArrayDataset", "DataLoader",
           "__version__"]
