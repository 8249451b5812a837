"""Callbacks that set the learning rate: LearningRateScheduler and ReduceLROnPlateau."""
from __future__ import annotations

from typing import Callable

from .. import _validate
from .base import Callback, _Monitor

__all__ = ["LearningRateScheduler", "ReduceLROnPlateau"]


class LearningRateScheduler(Callback):
    """Sets the learning rate from ``schedule``: a ``pydl.schedules`` object (called with the
    optimizer step, evaluated for every step of the coming epoch and applied inside the C++
    loop) or a function ``(epoch, lr) -> lr`` applied per epoch, as in Keras."""

    def __init__(self, schedule: Callable, verbose: int = 0):
        super().__init__()
        if not callable(schedule):
            raise TypeError(f"LearningRateScheduler: expected schedule to be callable, got {type(schedule).__name__}")
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
        owner = "ReduceLROnPlateau"
        self.factor = _validate.number(owner, "factor", factor, 0.0, 1.0, low_open=True, high_open=True)
        self.patience = _validate.non_negative_int(owner, "patience", patience)
        self.cooldown = _validate.non_negative_int(owner, "cooldown", cooldown)
        self.min_lr = _validate.non_negative_float(owner, "min_lr", min_lr)
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
