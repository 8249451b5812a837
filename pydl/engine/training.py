"""Training loops of a model: fit over arrays or a DataLoader, one epoch loop shared by
both (progress bar, validation, callbacks, Ctrl-C, non-finite losses). The epochs
themselves run in C++ (Trainer.fit_epoch / fit_epoch_loader) with the GIL released."""
from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import numpy as np

from .. import _checks
from ..metrics import _logs as _metric_logs
from ..callbacks import Callback, CallbackList, History
from ..data import compute_class_weight
from ..data.loader import DataLoader


@dataclass
class _FitRun:
    """What one fit() call trains with. Callbacks and checkpoints read it as model._run."""
    seed: int
    raise_on_nonfinite: bool = True
    resume_from: Optional[str] = None
    loader: Optional[DataLoader] = None
    steps_per_epoch: int = 0
    callbacks: List[Callback] = field(default_factory=list)  # the user's, in order (no History)
    pending_checkpoints: List[str] = field(default_factory=list)


class TrainingMixin:
    """fit() for Sequential; expects the model's _trainer, _graph, loss and _prepare_* helpers."""

    def fit(self, x, y=None, epochs: int = 1, batch_size: int = 32, validation_split: float = 0.0,
            validation_data=None, shuffle: bool = True, verbose: int = 1, class_weight=None,
            seed: Optional[int] = None, callbacks: Optional[Sequence[Callback]] = None,
            raise_on_nonfinite: bool = True, resume_from: Optional[str] = None, sample_weight=None) -> History:
        """Train until epoch ``epochs``; returns a History of per-epoch logs.

        ``x``/``y`` are arrays, or lists / dicts of arrays for models with several inputs /
        outputs (by input / output name); with several outputs the logs hold the total
        ``loss`` and ``<output>_loss``, ``<output>_<metric>`` per output.
        ``validation_split`` holds out the last fraction of ``x``/``y`` (before shuffling);
        ``validation_data=(x_val, y_val)`` (or ``(x_val, y_val, sample_weight_val)``) takes
        precedence. ``sample_weight`` (one per sample, >= 0) weighs each sample's loss: the
        loss is sum(w * l) / sum(w). ``class_weight`` (a single classification output) is a
        dict ``{class: weight}`` or ``"balanced"``; with sample weights the two multiply. ``seed`` (default: the model's) drives the
        shuffles and dropout masks. A NaN/Inf loss stops the epoch before the bad update and
        raises FloatingPointError naming the batch, or with ``raise_on_nonfinite=False`` logs
        the loss as NaN (see callbacks.TerminateOnNaN). ``resume_from`` names a checkpoint of
        callbacks.ModelCheckpoint: training continues after its epoch with the same data
        order, dropout masks, optimizer state and callback states, to the same weights as a
        run that was never interrupted.
        """
        self._require_compiled("fit")
        if isinstance(epochs, bool) or not isinstance(epochs, (int, np.integer)) or epochs < 0:
            raise ValueError(f"epochs: expected a non-negative int, got {epochs!r}")
        run = _FitRun(self.seed if seed is None else int(seed), bool(raise_on_nonfinite), resume_from)
        if isinstance(x, DataLoader):
            return self._fit_loader(x, y, epochs, validation_data, verbose, class_weight, run, callbacks)
        if y is None:
            raise ValueError("fit: y is required with array data (only a DataLoader carries its own targets)")
        batch_size = _checks.batch_size(batch_size, "fit")
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split: expected a fraction in [0, 1), got {validation_split!r}")
        xs = self._prepare_inputs(x, "x")
        n = len(xs[0])
        self._ensure_trainer()
        labels, targets = self._prepare_targets(y, n)
        sw = self._prepare_sample_weight(sample_weight, n)
        val = self._validation_arrays(validation_data)
        if val is None and validation_split > 0.0:
            n_val = int(n * validation_split)
            if n_val < 1 or n_val >= n:
                raise ValueError(f"validation_split={validation_split} leaves no samples on one side of {n}")
            cut = n - n_val

            def part(arrays, sl):
                return [None if a is None else a[sl] for a in arrays]

            val = (part(xs, slice(cut, None)), part(labels, slice(cut, None)), part(targets, slice(cut, None)),
                   None if sw is None else sw[cut:])
            xs, labels, targets = part(xs, slice(None, cut)), part(labels, slice(None, cut)), part(targets, slice(None, cut))
            sw = None if sw is None else sw[:cut]
            n = cut

        def run_epoch(progress, every, main_thread):
            return self._trainer.fit_epoch(xs, labels, targets, batch_size, bool(shuffle), run.seed,
                                           self._epochs_seen, progress, every, main_thread, sw)

        weights = None if class_weight is None else self._class_weight_vector(class_weight, labels, targets)
        run.steps_per_epoch = -(-n // batch_size)
        return self._train(run, run_epoch, epochs, val, max(batch_size, 256), verbose, weights, callbacks)

    def _fit_loader(self, loader: DataLoader, y, epochs, validation_data, verbose, class_weight, run: _FitRun,
                    callbacks):
        """fit(DataLoader): array datasets stream from the C++ loader; others from Python."""
        if y is not None:
            raise ValueError("fit: with a DataLoader, leave y out (the loader's dataset carries the targets)")
        sample_shape = loader.sample_shape
        if self._graph is None:
            self.build(getattr(self, "input_shape", None) or sample_shape)
        if len(self._built_input_shapes) != 1 or len(self._losses) != 1:
            raise ValueError(f"{self.name}: fit(DataLoader) trains models with one input and one output; pass "
                             "arrays (lists or dicts of them) for this model")
        _checks.check_input_shape(np.empty((0, *sample_shape)), self._built_input_shapes[0], self.name)
        self._ensure_trainer()
        val = self._validation_arrays(validation_data)
        seed = run.seed
        run.loader = loader
        core = loader._core_loader
        if core is not None:
            if loader.dataset.y is None:
                raise ValueError("fit: the DataLoader's ArrayDataset has no y")
            labels, targets = self._prepare_targets(loader.dataset.y, len(loader.dataset))

            def run_epoch(progress, every, main_thread):
                return self._trainer.fit_epoch_loader(core, labels, targets, seed, loader._next_epoch(), progress,
                                                      every, main_thread)
        else:
            labels = targets = None

            def run_epoch(progress, every, main_thread):
                # Batches come from Python; loss and metrics accumulate in C++ as in fit_epoch.
                self._trainer.begin_epoch()
                batches = 0
                for xb, yb in loader:
                    xb = _checks.as_float32(xb, "batch x")
                    _checks.check_input_shape(xb, self._built_input_shapes[0], self.name)
                    lb, tb = self._prepare_y(yb, len(xb), "batch y")
                    if not self._trainer.train_batch(xb, lb, tb, seed):
                        break
                    batches += 1
                    if progress is not None and batches % every == 0:
                        stats = self._trainer.end_epoch()
                        progress(batches, stats["loss"])
                return self._trainer.end_epoch()

        weights = None
        if class_weight is not None:
            if core is None:
                raise ValueError("fit: class_weight with a custom Dataset is not supported; use an ArrayDataset")
            weights = self._class_weight_vector(class_weight, labels, targets)
        run.steps_per_epoch = len(loader)
        return self._train(run, run_epoch, epochs, val, max(loader.batch_size, 256), verbose, weights, callbacks)

    def _train(self, run: _FitRun, run_epoch, epochs, val, val_batch, verbose, class_weights,
               callbacks) -> History:
        """The epoch loop shared by array and DataLoader training: progress, validation,
        callbacks, Ctrl-C and non-finite losses. The whole fit holds the model exclusively:
        another thread's fit, predict or evaluate raises RuntimeError instead of racing
        (this thread's callbacks may still predict and evaluate)."""
        with self._use("fit", exclusive=True):
            return self._train_locked(run, run_epoch, epochs, val, val_batch, verbose, class_weights, callbacks)

    def _train_locked(self, run: _FitRun, run_epoch, epochs, val, val_batch, verbose, class_weights,
                      callbacks) -> History:
        history = History()
        # History last: it records the logs after other callbacks add to them (learning_rate).
        cbs = CallbackList([*(callbacks or []), history], self,
                           {"epochs": epochs, "steps": run.steps_per_epoch, "verbose": verbose})
        run.callbacks = cbs.callbacks[:-1]
        self._run = run
        steps = run.steps_per_epoch
        first_epoch = self._resume(run) if run.resume_from else 0
        saved_weights = self._trainer.class_weights
        if class_weights is not None:
            self._trainer.class_weights = class_weights
        self.stop_training = False
        main_thread = threading.current_thread() is threading.main_thread()
        logs: Dict[str, float] = {}
        try:
            cbs.on_train_begin(logs)
            for epoch in range(first_epoch, epochs):
                cbs.on_epoch_begin(epoch, logs)
                bar, progress, every = self._progress_bar(verbose, epoch, epochs, steps)
                try:
                    stats = run_epoch(progress, every, main_thread)
                except BaseException:
                    if bar is not None:
                        bar.close()
                    raise
                if stats["interrupted"]:
                    raise KeyboardInterrupt
                nonfinite = stats["nonfinite_batch"] >= 0
                if nonfinite and run.raise_on_nonfinite:
                    what = ("its update would have made weights NaN or Inf" if stats["nonfinite_update"]
                            else "the loss became NaN or Inf")
                    raise FloatingPointError(
                        f"{self.name}: {what} at epoch {epoch + 1}, batch {stats['nonfinite_batch'] + 1} "
                        f"(step {self._trainer.step + 1}); the model keeps the weights of the last finite "
                        "step (lower the learning rate, or clip with clipnorm=)")
                self._epochs_seen += 1
                logs = self._logs(stats)
                if nonfinite:
                    logs["loss"] = float("nan")
                if val is not None:
                    vstats = self._trainer.evaluate(val[0], val[1], val[2], val_batch, None, val[3])
                    vlogs = self._logs(vstats)
                    if any("roc_auc" in m for m in self._head_metrics):
                        self._add_roc_auc(vlogs, val[0], val[1], val[2], val_batch, self._head_metrics, "")
                    logs.update({f"val_{k}": v for k, v in vlogs.items()})
                if verbose:
                    self._print_epoch(epoch, epochs, logs, verbose, bar)
                elif bar is not None:
                    bar.close()
                cbs.on_epoch_end(epoch, logs)
                # Checkpoints are written after every callback has seen the epoch, so the saved
                # callback states are the ones the next epoch starts from.
                for path in run.pending_checkpoints:
                    self._save_checkpoint(path, epoch)
                run.pending_checkpoints.clear()
                if self.stop_training:
                    break
        finally:
            # Runs on Ctrl-C too: the model is at its last complete step, callbacks close.
            self._trainer.class_weights = saved_weights
            cbs.on_train_end(logs)
        return history

    def _resume(self, run: _FitRun) -> int:
        """Load a checkpoint's training state and callback states; returns the next epoch."""
        from .saving import load_checkpoint_into  # lazy: model -> training -> saving -> model

        record = load_checkpoint_into(self, run.resume_from, seed=run.seed)  # checks all, then applies
        if run.loader is not None and record.get("loader_epoch") is not None:
            run.loader._epoch = record["loader_epoch"]
        for cb, state in zip(run.callbacks, record.get("callbacks", [])):
            if type(cb).__name__ == state.get("class"):
                cb.set_state(state.get("state", {}))
        return int(record["epoch"]) + 1

    def request_checkpoint(self, path: str) -> None:
        """Write a training checkpoint to ``path`` at the end of the current epoch of fit, once
        every callback has seen it (what callbacks.ModelCheckpoint calls)."""
        self._run.pending_checkpoints.append(path)

    def _save_checkpoint(self, path: str, epoch: int) -> None:
        from .saving import save_model  # lazy: model -> training -> saving -> model

        run = self._run
        record = {"epoch": epoch, "seed": run.seed,
                  "loader_epoch": None if run.loader is None else run.loader._epoch,
                  "callbacks": [{"class": type(cb).__name__, "state": cb.get_state()} for cb in run.callbacks]}
        save_model(self, path, checkpoint=record)

    def _validation_arrays(self, validation_data):
        """(xs, labels, targets, sample_weight) of validation_data=(x_val, y_val[, w_val]),
        checked, or None."""
        if validation_data is None:
            return None
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError("validation_data: expected a tuple (x_val, y_val) or (x_val, y_val, sample_weight)")
        vxs = self._prepare_inputs(validation_data[0], "validation_data x")
        labels, targets = self._prepare_targets(validation_data[1], len(vxs[0]), "validation_data y")
        sw = None if len(validation_data) == 2 else self._prepare_sample_weight(
            validation_data[2], len(vxs[0]), "validation_data sample_weight")
        return vxs, labels, targets, sw

    def _class_weight_vector(self, class_weight, labels, targets) -> List[float]:
        if len(self._losses) != 1:
            raise ValueError(f"{self.name}: class_weight applies to a model with a single output; weigh samples "
                             "with sample_weight= instead")
        loss, labels, targets = self._losses[0].name, labels[0], targets[0]
        if loss == "cross_entropy":
            n_classes = int(self._graph.output_shapes[0][0])
            return compute_class_weight(class_weight, labels, n_classes).tolist()
        if loss == "binary_cross_entropy":
            return compute_class_weight(class_weight, (targets > 0.5).astype(np.int64).ravel(), 2).tolist()
        raise ValueError(f"class_weight applies to classification losses, not {loss}")

    def _logs(self, stats, names=None) -> Dict[str, float]:
        """Epoch logs: one output's as before; with several, the total loss then
        ``<output>_loss`` and ``<output>_<metric>`` per output (Keras's names)."""
        names = self._head_metrics if names is None else names
        if len(self._losses) == 1:
            return _metric_logs.logs_from_stats(stats, names[0], self._losses[0].name)
        logs = {"loss": float(stats["loss"])}
        for out, head, metrics, loss in zip(self.output_names, stats["heads"], names, self._losses):
            logs.update({f"{out}_{k}": v for k, v in _metric_logs.logs_from_stats(head, metrics, loss.name).items()})
        return logs

    def _progress_bar(self, verbose, epoch, epochs, steps):
        if verbose != 1:
            return None, None, 0
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
                   file=sys.stdout, dynamic_ncols=True)
        every = max(1, steps // 20)

        def progress(done, loss):
            bar.update(done - bar.n)
            bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

        return bar, progress, every

    @staticmethod
    def _print_epoch(epoch, epochs, logs, verbose, bar):
        if bar is not None:  # verbose=1: the finished bar carries the epoch's numbers
            bar.update(bar.total - bar.n)
            bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
            bar.close()
        else:
            text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
            print(f"Epoch {epoch + 1}/{epochs} - {text}")

