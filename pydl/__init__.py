"""pydl: deep-learning training with C++ kernels under a Keras-like Python API."""
import os as _os

import numpy as _np  # noqa: F401  (numpy's own OpenBLAS initialises first, untouched)

# Read once, when the extension (and with it OpenBLAS and libgomp) loads:
# - OPENBLAS_NUM_THREADS=1: pydl runs its bundled OpenBLAS single-threaded inside its own
#   OpenMP threads, so that OpenBLAS need not start an idle thread pool.
# - GOMP_SPINCOUNT: libgomp's idle threads spin for 300,000 rounds by default before they
#   sleep. When other programs want the cores too, that spinning starves the thread that has
#   work: with one of two cores busy, MLP training ran at 24k samples/s with the default and
#   51k with 1,000 rounds (LSTM 2.1k -> 3.3k); on an idle machine the two were alike within
#   noise (benches/, 2 threads). Only set when the user chose no OpenMP wait policy.
_defaults = {"OPENBLAS_NUM_THREADS": "1"}
if "OMP_WAIT_POLICY" not in _os.environ:
    _defaults["GOMP_SPINCOUNT"] = "1000"
_saved = {k: _os.environ.get(k) for k in _defaults}
for _k, _v in _defaults.items():
    if _k == "OPENBLAS_NUM_THREADS" or _saved[_k] is None:
        _os.environ[_k] = _v
try:
    from . import _core
finally:
    for _k, _v in _saved.items():
        if _v is None:
            _os.environ.pop(_k, None)
        else:
            _os.environ[_k] = _v
try:  # the core clamps OMP_NUM_THREADS to 4x the cores (see set_num_threads): say so
    _asked = int(_os.environ.get("OMP_NUM_THREADS", "0").split(",")[0] or 0)
except ValueError:
    _asked = 0
if _asked > _core.get_num_threads():
    import warnings as _warnings

    _warnings.warn(f"pydl: OMP_NUM_THREADS={_asked} is more than 4x this machine's cores; using "
                   f"{_core.get_num_threads()} threads", RuntimeWarning, stacklevel=2)
from . import (augmentation, callbacks, data, datasets, layers, loader, losses, metrics, optimizers, plot,
               preprocessing, readers, resampling, schedules, splits, tuning)
from .diagnose import diagnose
from ._core import get_num_threads, set_num_threads
from .loader import ArrayDataset, DataLoader
from .functional import Input
from .models import Model, Sequential
from .saving import load_model

__version__ = "0.1.0"

__all__ = ["Model", "Sequential", "Input", "load_model", "set_num_threads", "get_num_threads", "layers", "losses",
           "optimizers", "callbacks", "data", "datasets", "metrics", "preprocessing", "augmentation", "loader",
           "readers", "resampling", "splits", "schedules", "plot", "diagnose", "tuning", "ArrayDataset", "DataLoader",
           "__version__"]
