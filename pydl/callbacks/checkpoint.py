"""ModelCheckpoint: the whole training state, saved atomically at epoch ends."""
from __future__ import annotations

import os
from typing import Optional

from .. import _deprecation, _validate
from .base import _Monitor

__all__ = ["ModelCheckpoint"]


class ModelCheckpoint(_Monitor):
    """Saves the whole training state at epoch ends: weights, optimizer moments and step,
    the RNG position (seed, step, epochs seen), the epoch and every callback's state, written
    atomically (temp file, fsync, rename). ``filepath`` (Keras' name; ``path`` is its deprecated
    alias) may hold ``{epoch}`` (1-based) and log
    names, e.g. ``"ckpt-{epoch:02d}-{val_loss:.3f}.pydl"``; it must end in ``.pydl``, like
    every model file (checked here, before training starts). Continue a run with
    ``model.fit(..., resume_from=filepath)``."""

    path = _deprecation.renamed_attribute("ModelCheckpoint", "path", "filepath")

    def __init__(self, filepath: Optional[str] = None, monitor: str = "val_loss", save_best_only: bool = False,
                 mode: str = "auto", path=_deprecation.UNSET):
        from ..engine.saving import check_suffix  # lazy: engine -> training -> callbacks

        filepath = _deprecation.renamed_argument("ModelCheckpoint", "path", "filepath", path, filepath, None)
        super().__init__(monitor, mode, 0.0)
        if not isinstance(filepath, (str, os.PathLike)):
            raise TypeError(f"ModelCheckpoint: expected filepath to be a str or os.PathLike, got "
                            f"{type(filepath).__name__}")
        self.filepath = check_suffix(os.fspath(filepath), "ModelCheckpoint")
        self.save_best_only = _validate.boolean("ModelCheckpoint", "save_best_only", save_best_only)
        self.last_saved: Optional[str] = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = self._current(logs)
            if value is None or not self._improved(value):
                return
            self.best = float(value)
        path = self.filepath.format(epoch=epoch + 1, **logs)
        self.model.request_checkpoint(path)  # written once every callback has seen the epoch
        self.last_saved = path
