"""CSVLogger: one row per epoch, flushed as training goes."""
from __future__ import annotations

import csv
import os
from typing import List, Optional

from .. import _deprecation, _validate
from .. import distributed
from .base import Callback

__all__ = ["CSVLogger"]


class CSVLogger(Callback):
    """Appends one row per epoch (epoch, then the logs) to a CSV file, flushed each epoch. In a
    distributed fit only rank 0 writes (the logs are the same on every rank). ``filename`` is
    Keras' name (``path`` is its deprecated alias)."""

    path = _deprecation.renamed_attribute("CSVLogger", "path", "filename")

    def __init__(self, filename: Optional[str] = None, separator: str = ",", append: bool = False,
                 path=_deprecation.UNSET):
        super().__init__()
        filename = _deprecation.renamed_argument("CSVLogger", "path", "filename", path, filename, None)
        if not isinstance(filename, (str, os.PathLike)):
            raise TypeError(f"CSVLogger: expected filename to be a str or os.PathLike, got {type(filename).__name__}")
        self.filename = os.fspath(filename)
        self.separator = _validate.non_empty_str("CSVLogger", "separator", separator)
        self.append = _validate.boolean("CSVLogger", "append", append)
        self._keys: Optional[List[str]] = None

    def on_train_begin(self, logs=None):
        if not distributed.writes_files():
            return
        if not self.append and os.path.exists(self.filename):
            os.remove(self.filename)
        self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        if not distributed.writes_files():
            return
        logs = logs or {}
        new_file = not os.path.exists(self.filename) or os.path.getsize(self.filename) == 0
        if self._keys is None:
            self._keys = sorted(logs)
        with open(self.filename, "a", newline="") as f:
            writer = csv.writer(f, delimiter=self.separator)
            if new_file:
                writer.writerow(["epoch", *self._keys])
            writer.writerow([epoch, *(repr(float(logs[k])) if k in logs else "" for k in self._keys)])
