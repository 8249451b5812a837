"""ModelCheckpoint: the whole training state, saved atomically at epoch ends."""
from __future__ import annotations

import os
from typing import Optional

from .. import _validate
from .base import _Monitor

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(_Monitor):
    """Saves the whole training state at epoch ends: weights, optimizer moments and step,
    the RNG position (seed, step, epochs seen), the epoch and every callback's state, written
    atomically (temp file, fsync, rename). ``path`` may hold ``{epoch}`` (1-based) and log
    names, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.pydl"``; it must end in ``.pydl``, like
    every model file (checked here, before training starts). Continue a run with
    ``model.fit(..., resume_from=path)``."""

    def __init__(self, path: str, monitor: str = "val_loss", save_best_only: bool = False, mode: str = "auto"):
        from ..engine.saving import check_suffix  # lazy: engine -> training -> callbacks

        super().__init__(monitor, mode, 0.0)
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: expected path to be a str or os.PathLike, got {type(path).__name__}")
        self.path = check_suffix(os.fspath(path), "ModelCheckpoint")
        self.save_best_only = _validate.boolean("ModelCheckpoint", "save_best_only", save_best_only)
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
