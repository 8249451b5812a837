"""Callbacks: training is extended by objects receiving a ``logs`` dict at epoch ends,
not by new flags on ``fit``. ``History`` is what ``fit`` returns."""
from __future__ import annotations

from typing import Dict, List, Optional

__all__ = ["Callback", "History"]


class Callback:
    """Subclass and override the hooks you need. ``self.model`` is set by ``fit``."""

    def __init__(self):
        self.model = None

    def set_model(self, model) -> None:
        self.model = model

    def on_train_begin(self, logs: Optional[Dict] = None) -> None: ...
    def on_train_end(self, logs: Optional[Dict] = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: Optional[Dict] = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: Optional[Dict] = None) -> None: ...


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

    def __repr__(self):
        return f"History(epochs={len(self.epoch)}, keys={list(self.history)})"


class CallbackList:
    """Fans each hook out to every callback, in order."""

    def __init__(self, callbacks, model):
        self.callbacks = list(callbacks)
        for cb in self.callbacks:
            if not isinstance(cb, Callback):
                raise TypeError(f"callbacks: expected pydl.callbacks.Callback instances, got {type(cb).__name__}")
            cb.set_model(model)

    def __getattr__(self, hook):
        def call(*args, **kwargs):
            for cb in self.callbacks:
                getattr(cb, hook)(*args, **kwargs)
        return call
