"""Callbacks: training is extended by objects receiving a ``logs`` dict at epoch ends, not
by new flags on ``fit``. Each callback's ``get_state``/``set_state`` travels in checkpoints,
so ``fit(..., resume_from=path)`` continues exactly where a killed run stopped."""
from __future__ import annotations

import csv
import math
import os
import warnings
from typing import Callable, Dict, List, Optional, Union

import numpy as np

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger"]

_MAX_METRICS = ("acc", "auc", "precision", "recall", "f1", "r2")


class Callback:
    """Subclass and override the hooks you need. ``self.model`` is set by ``fit``."""

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

    def get_state(self) -> Dict:
        """JSON-serialisable state saved in checkpoints (override when the callback has some)."""
        return {}

    def set_state(self, state: Dict) -> None:
        """Restore what get_state returned."""


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
        from .plot import plot_history

        return plot_history(self, path=path, metrics=metrics)

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class _Monitor(Callback):
    """Shared by callbacks that watch one logged value for improvement."""

    def __init__(self, monitor: str, mode: str, min_delta: float):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"{type(self).__name__}: mode must be 'auto', 'min' or 'max', got {mode!r}")
        if min_delta < 0:
            raise ValueError(f"{type(self).__name__}: min_delta must be >= 0, got {min_delta!r}")
        self.monitor, self.mode, self.min_delta = monitor, mode, float(min_delta)
        self.best: Optional[float] = None

    def _maximise(self) -> bool:
        if self.mode != "auto":
            return self.mode == "max"
        return any(k in self.monitor for k in _MAX_METRICS)

    def _current(self, logs) -> Optional[float]:
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"{type(self).__name__}: '{self.monitor}' is not in the logs "
                          f"({', '.join(logs or {})}); nothing to monitor", RuntimeWarning, stacklevel=3)
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

    def get_state(self):
        return {"best": self.best}

    def set_state(self, state):
        self.best = state.get("best")
        self._resumed = True


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs. With ``restore_best_weights`` the model ends with the best epoch's weights, also
    when training ends without stopping early. Epochs before ``start_from_epoch`` are not
    judged (warm-up)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        if patience < 0 or start_from_epoch < 0:
            raise ValueError("EarlyStopping: patience and start_from_epoch must be >= 0")
        self.patience, self.restore_best_weights, self.start_from_epoch = int(patience), bool(restore_best_weights), \
            int(start_from_epoch)
        self.wait = 0
        self.best_epoch: Optional[int] = None
        self.best_weights = None
        self.stopped_epoch: Optional[int] = None

    def _reset(self):
        super()._reset()
        self.wait, self.best_epoch, self.best_weights, self.stopped_epoch = 0, None, None, None

    def on_epoch_end(self, epoch, logs=None):
        if epoch < self.start_from_epoch:
            return
        value = self._current(logs)
        if value is None:
            return
        if self._improved(value):
            self.best, self.best_epoch, self.wait = float(value), epoch, 0
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            return
        self.wait += 1
        if self.wait >= max(self.patience, 1) and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.set_weights(self.best_weights)

    def get_state(self):
        return {**super().get_state(), "wait": self.wait, "best_epoch": self.best_epoch}

    def set_state(self, state):
        super().set_state(state)
        self.wait, self.best_epoch = state.get("wait", 0), state.get("best_epoch")
        if self.restore_best_weights and self.best_epoch is not None:
            # The best weights themselves are not in the checkpoint; the best model file is.
            warnings.warn("EarlyStopping: resumed; the best weights seen before the checkpoint are "
                          "not restored at the end", RuntimeWarning, stacklevel=2)


class ModelCheckpoint(_Monitor):
    """Saves the whole training state at epoch ends: weights, optimizer moments and step,
    the RNG position (seed, step, epochs seen), the epoch and every callback's state, written
    atomically (temp file, fsync, rename). ``path`` may hold ``{epoch}`` (1-based) and log
    names, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.pydl"``. Continue a run with
    ``model.fit(..., resume_from=path)``."""

    def __init__(self, path: str, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto"):
        super().__init__(monitor, mode, 0.0)
        self.path, self.save_best_only = str(path), bool(save_best_only)
        self.last_saved: Optional[str] = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            self.best = float(value)
        path = self.path.format(epoch=epoch + 1, **logs)
        self.model.request_checkpoint(path)  # written once every callback has seen the epoch
        self.last_saved = path


class LearningRateScheduler(Callback):
    """Sets the learning rate from ``schedule``: a ``pydl.schedules`` object (called with the
    optimizer step, evaluated for every step of the coming epoch and applied inside the C++
    loop) or a function ``(epoch, lr) -> lr`` applied per epoch, as in Keras."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError("LearningRateScheduler: schedule must be callable")
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        opt = self.model.optimizer
        if hasattr(self.schedule, "get_config"):  # a step schedule from pydl.schedules
            start, steps = opt.iterations, self.params.get("steps", 1)
            opt.plan_learning_rates([float(self.schedule(s)) for s in range(start, start + max(steps, 1))])
        else:
            opt.learning_rate = float(self.schedule(epoch, opt.learning_rate))
        if self.verbose:
            print(f"Epoch {epoch + 1}: learning rate {opt.learning_rate:.6g}")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(_Monitor):
    """Multiplies the learning rate by ``factor`` when ``monitor`` has not improved for
    ``patience`` epochs, then waits ``cooldown`` epochs; never below ``min_lr``."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, mode: str = "auto"):
        super().__init__(monitor, mode, min_delta)
        if not 0.0 < factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau: factor must be in (0, 1), got {factor!r}")
        self.factor, self.patience, self.cooldown, self.min_lr = float(factor), int(patience), int(cooldown), \
            float(min_lr)
        self.wait = 0
        self.cooldown_left = 0

    def _reset(self):
        super()._reset()
        self.wait, self.cooldown_left = 0, 0

    def on_epoch_end(self, epoch, logs=None):
        opt = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(opt.learning_rate)
        value = self._current(logs)
        if value is None:
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self._improved(value):
            self.best, self.wait = float(value), 0
        elif self.cooldown_left == 0:
            self.wait += 1
            if self.wait >= self.patience:
                new = max(opt.learning_rate * self.factor, self.min_lr)
                if new < opt.learning_rate:
                    opt.learning_rate = new
                self.cooldown_left, self.wait = self.cooldown, 0

    def get_state(self):
        return {**super().get_state(), "wait": self.wait, "cooldown_left": self.cooldown_left,
                "learning_rate": float(self.model.optimizer.learning_rate) if self.model else None}

    def set_state(self, state):
        super().set_state(state)
        self.wait, self.cooldown_left = state.get("wait", 0), state.get("cooldown_left", 0)
        if state.get("learning_rate") is not None and self.model is not None:
            self.model.optimizer.learning_rate = state["learning_rate"]


class TerminateOnNaN(Callback):
    """Stops training after an epoch whose loss is NaN or Inf (use with
    ``fit(..., raise_on_nonfinite=False)``; by default fit raises instead)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True


class CSVLogger(Callback):
    """Appends one row per epoch (epoch, then the logs) to a CSV file, flushed each epoch."""

    def __init__(self, path: str, separator: str = ",", append: bool = False):
        super().__init__()
        self.path, self.separator, self.append = str(path), separator, bool(append)
        self._keys: Optional[List[str]] = None

    def on_train_begin(self, logs=None):
        if not self.append and os.path.exists(self.path):
            os.remove(self.path)
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        new_file = not os.path.exists(self.path) or os.path.getsize(self.path) == 0
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.path, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(repr(float(logs[k])) if k in logs else "" for k in self._keys)])


class CallbackList:
    """Fans each hook out to every callback, in order."""

    def __init__(self, callbacks, model, params=None):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected pydl.callbacks.Callback instances, got {type(cb).__name__}")
            cb.set_model(model)
            cb.set_params(params or {})

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call
