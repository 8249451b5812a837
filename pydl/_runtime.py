"""Loads the C++ core with the environment its libraries read once, at load time.

- GOMP_SPINCOUNT: libgomp's idle threads spin for 300,000 rounds by default before they
  sleep. When other programs want the cores too, that spinning starves the thread that has
  work: with one of two cores busy, MLP training ran at 24k samples/s with the default and
  51k with 1,000 rounds (LSTM 2.1k -> 3.3k); on an idle machine the two were alike within
  noise (benches/, 2 threads). Only set when the user chose no OpenMP wait policy.

The user's environment is restored right after the load. pydl/__init__.py imports this
module first, so every other module finds the core loaded.
"""
import os
import warnings

_defaults = {}
if "OMP_WAIT_POLICY" not in os.environ:
    _defaults["GOMP_SPINCOUNT"] = "1000"
_saved = {k: os.environ.get(k) for k in _defaults}
for _k, _v in _defaults.items():
    if _saved[_k] is None:
        os.environ[_k] = _v
try:
    from . import _core  # noqa: F401
finally:
    for _k, _v in _saved.items():
        if _v is None:
            os.environ.pop(_k, None)
        else:
            os.environ[_k] = _v

try:  # the core clamps OMP_NUM_THREADS to 4x the cores (see set_num_threads): say so
    _asked = int(os.environ.get("OMP_NUM_THREADS", "0").split(",")[0] or 0)
except ValueError:
    _asked = 0
if _asked > _core.get_num_threads():
    warnings.warn(f"pydl: OMP_NUM_THREADS={_asked} is more than 4x this machine's cores; using "
                  f"{_core.get_num_threads()} threads", RuntimeWarning, stacklevel=2)
