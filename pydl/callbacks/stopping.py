"""Callbacks that end training: EarlyStopping (no improvement) and TerminateOnNaN."""
from __future__ import annotations

import math
import warnings
from typing import Optional

from .. import _validate
from .base import Callback, _Monitor

__all__ = ["EarlyStopping", "TerminateOnNaN"]


class EarlyStopping(_Monitor):
    """Stops training when ``monitor`` has not improved by ``min_delta`` for ``patience``
    epochs. With ``restore_best_weights`` the model ends with the best epoch's weights, also
    when training ends without stopping early. Epochs before ``start_from_epoch`` are not
    judged (warm-up)."""

    def __init__(self, monitor: str = "val_loss", patience: int = 0, min_delta: float = 0.0, mode: str = "auto",
                 restore_best_weights: bool = False, start_from_epoch: int = 0):
        super().__init__(monitor, mode, min_delta)
        self.patience = _validate.non_negative_int("EarlyStopping", "patience", patience)
        self.restore_best_weights = _validate.boolean("EarlyStopping", "restore_best_weights", restore_best_weights)
        self.start_from_epoch = _validate.non_negative_int("EarlyStopping", "start_from_epoch", start_from_epoch)
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


class TerminateOnNaN(Callback):
    """Stops training after an epoch whose loss is NaN or Inf (use with
    ``fit(..., raise_on_nonfinite=False)``; by default fit raises instead)."""

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            print(f"Epoch {epoch + 1}: invalid loss {loss}, terminating training")
            self.model.stop_training = True
