"""The Callback protocol, History and the helpers callbacks share: training is extended by
objects receiving a ``logs`` dict at epoch ends, not by new flags on ``fit``. Each callback's
``get_state``/``set_state`` travels in checkpoints, so ``fit(..., resume_from=path)``
continues exactly where a killed run stopped."""
from __future__ import annotations

import difflib
import math
import warnings
from typing import Dict, List, Optional

from .. import _validate
from ..report.plot import plot_history

__all__ = ["Callback", "History", "CallbackList", "unknown_hooks", "KNOWN_HOOKS"]

_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1", "r2")


class Callback:
    """Subclass and override the hooks you need. ``self.model`` is set by ``fit``.

    The hooks are Keras's: ``on_train_begin/end(logs)``, ``on_epoch_begin/end(epoch, logs)``,
    ``on_train_batch_begin/end(batch, logs)``, ``on_test_begin/end(logs)``,
    ``on_test_batch_begin/end(batch, logs)``, ``on_predict_begin/end(logs)``,
    ``on_predict_batch_begin/end(batch, logs)``; all are no-ops here. ``on_batch_begin/end``
    are Keras 2's names of the training batch hooks and still work: the default
    ``on_train_batch_begin/end`` call them (as in Keras 3). Which hooks the training loop
    calls is the engine's business; a method named ``on_*`` that is no hook (a typo such as
    ``on_epoch_ended``) is reported by :func:`unknown_hooks` and warned about by fit.

    Batch hooks: fit runs whole epochs in C++ and comes back to Python only now and then, so
    ``on_train_batch_begin/end`` run every ``batch_interval`` batches (None, the default: the
    progress interval, about 20 times an epoch; 1: every batch, slower for tiny models) and
    at an epoch's last batch; ``logs["loss"]`` is the epoch's running mean loss. Setting
    ``self.model.stop_training = True`` there ends training after that batch. Validation
    runs whole in C++: ``on_test_begin/end`` wrap it, test-batch and predict hooks are not
    called by fit (it warns when a callback defines them).
    """

    batch_interval: Optional[int] = None

    def __init__(self):
        self.model = None
        self.params: Dict = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: Dict) -> None:
        """What fit tells callbacks about the run: ``epochs``, ``steps`` (per epoch), ``verbose``."""
        self.params = dict(params)

    def on_train_begin(self, logs: Optional[Dict] = None) -> None: ...
    def on_train_end(self, logs: Optional[Dict] = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[Dict] = None) -> None: ...
    def on_batch_begin(self, batch: int, logs: Optional[Dict] = None) -> None: ...
    def on_batch_end(self, batch: int, logs: Optional[Dict] = None) -> None: ...

    def on_train_batch_begin(self, batch: int, logs: Optional[Dict] = None) -> None:
        self.on_batch_begin(batch, logs)  # Keras 2's name still works

    def on_train_batch_end(self, batch: int, logs: Optional[Dict] = None) -> None:
        self.on_batch_end(batch, logs)

    def on_test_begin(self, logs: Optional[Dict] = None) -> None: ...
    def on_test_end(self, logs: Optional[Dict] = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: Optional[Dict] = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: Optional[Dict] = None) -> None: ...
    def on_predict_begin(self, logs: Optional[Dict] = None) -> None: ...
    def on_predict_end(self, logs: Optional[Dict] = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: Optional[Dict] = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: Optional[Dict] = None) -> None: ...

    def get_state(self) -> Dict:
        """JSON-serialisable state saved in checkpoints (override when the callback has some)."""
        return {}

    def set_state(self, state: Dict) -> None:
        """Restore what get_state returned."""


KNOWN_HOOKS = tuple(sorted(n for n in vars(Callback) if n.startswith("on_")))


def unknown_hooks(callback) -> List[str]:
    """The ``on_*`` methods (or instance attributes) of ``callback`` that are no callback
    hook, sorted: typos such as ``on_epoch_ended``, which no training loop would ever call.
    Keras 2's ``on_batch_begin/end`` are known hooks (aliases of on_train_batch_begin/end)."""
    if not isinstance(callback, Callback):
        raise TypeError(f"unknown_hooks: expected a pydl.callbacks.Callback, got {type(callback).__name__}")
    names = set(vars(callback))
    for cls in type(callback).__mro__:
        if cls is Callback or cls is object:
            continue
        names.update(vars(cls))
    return sorted(n for n in names if n.startswith("on_") and n not in KNOWN_HOOKS)


def _warn_unknown_hooks(callback) -> None:
    names = unknown_hooks(callback)
    if not names:
        return
    hints = []
    for n in names:
        close = difflib.get_close_matches(n, KNOWN_HOOKS, n=1)
        hints.append(f"{n} (did you mean {close[0]}?)" if close else n)
    warnings.warn(f"{type(callback).__name__} defines {', '.join(hints)}, which is no callback hook and is never "
                  f"called; hooks are {', '.join(KNOWN_HOOKS)}", RuntimeWarning, stacklevel=4)


class History(Callback):
    """Per-epoch logs: ``history.history["loss"]``, ``["val_loss"]``, ``["accuracy"]``, ..."""

    def __init__(self):
        super().__init__()
        self.epoch: List[int] = []
        self.history: Dict[str, List[float]] = {}

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def plot(self, path: Optional[str] = None, metrics=None):
        """Loss and metrics per epoch, training vs validation (matplotlib); saved as PNG when
        ``path`` is given. Returns the figure."""
        return plot_history(self, path=path, metrics=metrics)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class _Monitor(Callback):
    """Shared by callbacks that watch one logged value for improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        super().__init__()
        owner = type(self).__name__
        self.monitor = _validate.non_empty_str(owner, "monitor", monitor)
        self.mode = _validate.choice(owner, "mode", mode, ("auto", "min", "max"))
        self.min_delta = _validate.non_negative_float(owner, "min_delta", min_delta)
        self.best: Optional[float] = None
        self._warned = False

    def _maximise(self) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        return any(k in self.monitor for k in _MAX_METRICS)

    def _current(self, logs) -> Optional[float]:
        value = (logs or {}).get(self.monitor)
        if value is None and not self._warned:
            # Once per fit: the same missing key every epoch says nothing new.
            self._warned = True
            warnings.warn(f"{type(self).__name__}: '{self.monitor}' is not in the logs "
                          f"({', '.join(logs or {})}); nothing to monitor (warned once per fit)",
                          RuntimeWarning, stacklevel=3)
        return value

    def _improved(self, value: float) -> bool:
        if self.best is None or not math.isfinite(self.best):
            return math.isfinite(value)
        if self._maximise():
            return value - self.min_delta > self.best
        return value + self.min_delta < self.best

    def on_train_begin(self, logs=None):
        # A callback object reused for another fit (another tuning trial) starts afresh,
        # except right after resume_from restored its state.
        if not getattr(self, "_resumed", False):
            self._reset()
        self._resumed = False

    def _reset(self):
        self.best = None
        self._warned = False

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = state.get("best")
        self._resumed = True


class CallbackList:
    """Fans each hook out to every callback, in order."""

    def __init__(self, callbacks, model, params=None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected pydl.callbacks.Callback instances, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params or {})
            _warn_unknown_hooks(cb)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call
