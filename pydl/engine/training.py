"""The training loop behind ``Model.fit``: array and DataLoader data, one epoch loop shared
by both (progress bar, batch and epoch callbacks, validation, Ctrl-C, non-finite losses).
The epochs themselves run in C++ (Trainer.fit_epoch / fit_epoch_loader) with the GIL
released; Python sees the run only at the progress interval and at epoch ends.

These are functions of the model they train (``Model.fit`` is the public entry), not a base
class: the model owns compile/fit/evaluate/predict/save, this module owns how an epoch loop
is driven.
"""
from __future__ import annotations

import math
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Dict, List, Optional

import numpy as np

from .. import _checks
from ..metrics import _logs as _metric_logs
from ..data.loader import DataLoader

if TYPE_CHECKING:
    from ..callbacks import Callback, History

BATCH_HOOKS = ("on_train_batch_begin", "on_train_batch_end", "on_batch_begin", "on_batch_end")
# Hooks of Keras' Callback that fit never calls here: validation runs whole in C++ (no test
# batches), and fit does not predict.
HOOKS_FIT_NEVER_CALLS = ("on_test_batch_begin", "on_test_batch_end", "on_predict_begin", "on_predict_end",
                         "on_predict_batch_begin", "on_predict_batch_end")


@dataclass
class FitRun:
    """What one fit() call trains with (the model keeps it while fit runs)."""
    seed: int
    raise_on_nonfinite: bool = True
    resume_from: Optional[str] = None
    loader: Optional[DataLoader] = None
    steps_per_epoch: int = 0
    callbacks: List[Callback] = field(default_factory=list)  # the user's, in order (no History)
    pending_checkpoints: List[str] = field(default_factory=list)
    job: Optional[object] = None  # pydl.distributed's job for fit(distributed=True)
    # fit's arguments that every rank must share (checked when a distributed fit starts)
    signature: List[float] = field(default_factory=list)


def fit_arrays(model, x, y, epochs, batch_size, validation_split, validation_data, shuffle, verbose,
               class_weight, run: FitRun, callbacks, sample_weight):
    if y is None:
        raise ValueError("fit: y is required with array data (only a DataLoader carries its own targets)")
    batch_size = _checks.batch_size(32 if batch_size is None else batch_size, "fit")
    shuffle = True if shuffle is None else _checks_bool(shuffle, "shuffle")
    xs = model._prepare_inputs(x, "x")
    n = len(xs[0])
    model._ensure_trainer()
    labels, targets = model._prepare_targets(y, n)
    sw = model._prepare_sample_weight(sample_weight, n)
    val = model._validation_arrays(validation_data)
    if val is None and validation_split > 0.0:
        cut = _split_point(n, validation_split)

        def part(arrays, sl):
            return [None if a is None else a[sl] for a in arrays]

        val = (part(xs, slice(cut, None)), part(labels, slice(cut, None)), part(targets, slice(cut, None)),
               None if sw is None else sw[cut:])
        xs, labels, targets = part(xs, slice(None, cut)), part(labels, slice(None, cut)), part(targets, slice(None, cut))
        sw = None if sw is None else sw[:cut]
        n = cut

    def run_epoch(progress, every, main_thread):
        return model._trainer.fit_epoch(xs, labels, targets, batch_size, shuffle, run.seed,
                                        model.epochs_trained, progress, every, main_thread, sw)

    weights = None if class_weight is None else class_weight_vector(model, class_weight, labels, targets)
    run.steps_per_epoch = -(-n // batch_size)
    run.signature = [n, batch_size, epochs, run.seed, shuffle]
    return train(model, run, run_epoch, epochs, val, max(batch_size, 256), verbose, weights, callbacks)


def _checks_bool(value, what):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"fit: {what} must be True or False, got {value!r}")
    return bool(value)


def _split_point(n: int, validation_split: float) -> int:
    """Keras' rule: the last int(n * fraction) samples validate."""
    n_val = int(n * validation_split)
    if n_val < 1 or n_val >= n:
        raise ValueError(f"validation_split={validation_split} leaves no samples on one side of {n}")
    return n - n_val


def fit_loader(model, loader: DataLoader, y, epochs, batch_size, validation_split, validation_data, shuffle,
               verbose, class_weight, run: FitRun, callbacks, sample_weight):
    """fit(DataLoader): array datasets stream from the C++ loader; others from Python."""
    if y is not None:
        raise ValueError("fit: with a DataLoader, leave y out (the loader's dataset carries the targets)")
    for what, value in (("batch_size", batch_size), ("shuffle", shuffle), ("sample_weight", sample_weight)):
        if value is not None:
            raise ValueError(f"fit: {what}= does not apply to a DataLoader: the loader decides its batches; "
                             f"pass {what} to DataLoader(...) instead" if what != "sample_weight" else
                             "fit: sample_weight= with a DataLoader is not supported; pass arrays to weigh samples")
    if validation_split > 0.0:
        if validation_data is not None:
            raise ValueError("fit: give validation_split or validation_data, not both")
        loader, val_loader = loader.split(validation_split)
        validation_data = val_loader
    sample_shape = loader.sample_shape
    if model._graph is None:
        model.build(getattr(model, "input_shape", None) or sample_shape)
    if len(model._built_input_shapes) != 1 or len(model._losses) != 1:
        raise ValueError(f"{model.name}: fit(DataLoader) trains models with one input and one output; pass "
                         "arrays (lists or dicts of them) for this model")
    # Checked like arrays: an Input with None axes takes the loader's lengths (Model._match_input_shapes).
    model._match_input_shapes([np.empty((0, *sample_shape))], ["x"], True)
    model._ensure_trainer()
    val = model._validation_arrays(validation_data)
    seed = run.seed
    run.loader = loader
    core = loader._core_loader
    if core is not None:
        if loader.dataset.y is None:
            raise ValueError("fit: the DataLoader's ArrayDataset has no y")
        labels, targets = model._prepare_targets(loader.dataset.y, len(loader.dataset))

        def run_epoch(progress, every, main_thread):
            return model._trainer.fit_epoch_loader(core, labels, targets, seed, loader._next_epoch(), progress,
                                                   every, main_thread)
    else:
        labels = targets = None

        def run_epoch(progress, every, main_thread):
            # Batches come from Python; loss and metrics accumulate in C++ as in fit_epoch.
            model._trainer.begin_epoch()
            batches = 0
            for xb, yb in loader:
                xb = _checks.as_float32(xb, "batch x")
                _checks.check_input_shape(xb, model._built_input_shapes[0], model.name)
                lb, tb = model._prepare_y(yb, len(xb), "batch y")
                if not model._trainer.train_batch(xb, lb, tb, seed):
                    break
                batches += 1
                if progress is not None and batches % every == 0:
                    stats = model._trainer.end_epoch()
                    stop = progress(batches, stats["loss"]) is False
                    if run.job is not None:  # rank 0 decides for all
                        stop = run.job.decide(stop)
                    if stop:
                        break
            return model._trainer.end_epoch()

    weights = None
    if class_weight is not None:
        if core is None:
            raise ValueError("fit: class_weight with a custom Dataset is not supported; use an ArrayDataset")
        weights = class_weight_vector(model, class_weight, labels, targets)
    run.steps_per_epoch = len(loader)
    run.signature = [len(loader.dataset), loader.batch_size, epochs, seed, 1]
    return train(model, run, run_epoch, epochs, val, max(loader.batch_size, 256), verbose, weights, callbacks)


def train(model, run: FitRun, run_epoch, epochs, val, val_batch, verbose, class_weights, callbacks) -> History:
    """The epoch loop shared by array and DataLoader training. The whole fit holds the model
    exclusively: another thread's fit, predict or evaluate raises RuntimeError instead of
    racing (this thread's callbacks may still predict and evaluate)."""
    with model._use("fit", exclusive=True):
        return _train_locked(model, run, run_epoch, epochs, val, val_batch, verbose, class_weights, callbacks)


class _BatchHooks:
    """Drives on_train_batch_begin/end from the C++ loop's progress calls: each callback that
    defines them (or Keras 2's on_batch_begin/end) is called every ``batch_interval`` batches
    (its attribute; None: the progress interval, about 20 times an epoch) and at the epoch's
    last batch."""

    def __init__(self, callbacks: List[Callback], steps: int):
        self.steps = steps
        default = max(1, steps // 20)
        self.users = []  # (callback, interval)
        for cb in callbacks:
            if any(_overrides(cb, h) for h in BATCH_HOOKS):
                interval = getattr(cb, "batch_interval", None)
                interval = default if interval is None else _checks.batch_size(interval, f"{type(cb).__name__}.batch_interval")
                self.users.append((cb, interval))
        self.every = 0
        for _, interval in self.users:
            self.every = interval if self.every == 0 else math.gcd(self.every, interval)
        self.last_end = -1

    def begin_epoch(self):
        self.last_end = -1
        for cb, _ in self.users:
            _hook(cb, "on_train_batch_begin", 0, {})

    def at(self, done: int, loss: float) -> None:
        """After batch index done - 1."""
        logs = {"loss": float(loss)}
        for cb, interval in self.users:
            if done % interval == 0 or done == self.steps:
                _hook(cb, "on_train_batch_end", done - 1, dict(logs))
                if done < self.steps and not cb.model.stop_training:
                    _hook(cb, "on_train_batch_begin", done, {})
        self.last_end = done


def _hook(cb: Callback, hook: str, *args) -> None:
    fn = getattr(cb, hook, None)
    if fn is not None:
        fn(*args)


def _overrides(cb: Callback, hook: str) -> bool:
    from ..callbacks import Callback  # (pydl.callbacks loads with the first fit, not with pydl)
    mine = getattr(type(cb), hook, None)
    return mine is not None and mine is not getattr(Callback, hook, None)


def _warn_uncalled_hooks(callbacks: List[Callback]) -> None:
    # (Misspelt hooks are warned about by CallbackList.)
    for cb in callbacks:
        for name in HOOKS_FIT_NEVER_CALLS:
            if _overrides(cb, name):
                warnings.warn(f"{type(cb).__name__}.{name}: fit never calls this hook (validation runs whole in "
                              "C++, without test batches, and fit does not predict)", UserWarning, stacklevel=4)


def _train_locked(model, run: FitRun, run_epoch, epochs, val, val_batch, verbose, class_weights,
                  callbacks) -> History:
    from .. import distributed as _dist
    from ..callbacks import CallbackList, History
    history = History()
    # History last: it records the logs after other callbacks add to them (learning_rate).
    cbs = CallbackList([*(callbacks or []), history], model,
                       {"epochs": epochs, "steps": run.steps_per_epoch, "verbose": verbose})
    run.callbacks = cbs.callbacks[:-1]
    _warn_uncalled_hooks(run.callbacks)
    model._run = run
    steps = run.steps_per_epoch
    hooks = _BatchHooks(run.callbacks, steps)
    first_epoch = resume(model, run) if run.resume_from else 0
    if run.job is not None:
        _dist.begin_fit(model, run.job, [*run.signature, verbose, hooks.every])  # type: ignore[arg-type]
    main = _dist.writes_files()
    saved_weights = model._trainer.class_weights
    if class_weights is not None:
        model._trainer.class_weights = class_weights
    model.stop_training = False
    main_thread = threading.current_thread() is threading.main_thread()
    logs: Dict[str, float] = {}
    try:
        cbs.on_train_begin(logs)
        for epoch in range(first_epoch, epochs):
            cbs.on_epoch_begin(epoch, logs)
            bar, bar_progress, bar_every = _progress_bar(verbose, epoch, epochs, steps, show=main)
            every = bar_every if not hooks.every else (hooks.every if not bar_every else math.gcd(bar_every, hooks.every))
            progress = None
            if every:
                def progress(done, loss, bar_progress=bar_progress, bar_every=bar_every):
                    if bar_progress is not None and done % bar_every == 0:
                        bar_progress(done, loss)
                    if hooks.users:
                        hooks.at(done, loss)
                    return not model.stop_training
            hooks.begin_epoch() if hooks.users else None
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
                    f"{model.name}: {what} at epoch {epoch + 1}, batch {stats['nonfinite_batch'] + 1} "
                    f"(step {model._trainer.step + 1}); the model keeps the weights of the last finite "
                    "step (lower the learning rate, or clip with clipnorm=)")
            if hooks.users and stats["batches"] > 0 and hooks.last_end != stats["batches"] and not nonfinite:
                for cb, _ in hooks.users:  # the epoch's last batch, when no progress call reported it
                    _hook(cb, "on_train_batch_end", stats["batches"] - 1, {"loss": float(stats["loss"])})
            model.epochs_trained += 1
            logs = model._logs(stats)
            if nonfinite:
                logs["loss"] = float("nan")
            if val is not None:
                cbs.on_test_begin({})
                vstats = model._trainer.evaluate(val[0], val[1], val[2], val_batch, None, val[3])
                vlogs = model._logs(vstats)
                if any(_metric_logs.auc_keys(m) for m in model._head_metrics):
                    model._add_roc_auc(vlogs, val[0], val[1], val[2], val_batch, model._head_metrics, "")
                cbs.on_test_end(dict(vlogs))
                logs.update({f"val_{k}": v for k, v in vlogs.items()})
            if verbose and main:
                _print_epoch(epoch, epochs, logs, bar)
            elif bar is not None:
                bar.close()
            cbs.on_epoch_end(epoch, logs)
            # Checkpoints are written after every callback has seen the epoch, so the saved
            # callback states are the ones the next epoch starts from. Distributed: by rank 0.
            for path in run.pending_checkpoints:
                if main:
                    save_checkpoint(model, path, epoch)
            run.pending_checkpoints.clear()
            if run.job is not None:  # rank 0's decision (EarlyStopping, any stop_training)
                model.stop_training = run.job.decide(model.stop_training)  # type: ignore[attr-defined]
            if model.stop_training:
                break
    finally:
        # Runs on Ctrl-C too: the model is at its last complete step, callbacks close.
        model._trainer.class_weights = saved_weights
        model._trainer.release_resident_data()  # the device copy of x and y (a GPU fit)
        if run.job is not None:
            _dist.end_fit(model)
        cbs.on_train_end(logs)
    return history


def resume(model, run: FitRun) -> int:
    """Load a checkpoint's training state and callback states; returns the next epoch."""
    from .saving import load_checkpoint_into  # lazy: saving imports the model classes

    record = load_checkpoint_into(model, run.resume_from, seed=run.seed)  # checks all, then applies
    if run.loader is not None and record.get("loader_epoch") is not None:
        run.loader._epoch = record["loader_epoch"]
    for cb, state in zip(run.callbacks, record.get("callbacks", [])):
        if type(cb).__name__ == state.get("class"):
            cb.set_state(state.get("state", {}))
    return int(record["epoch"]) + 1


def save_checkpoint(model, path: str, epoch: int) -> None:
    from .saving import save_model  # lazy: saving imports the model classes

    run = model._run
    record = {"epoch": epoch, "seed": run.seed,
              "loader_epoch": None if run.loader is None else run.loader._epoch,
              "callbacks": [{"class": type(cb).__name__, "state": cb.get_state()} for cb in run.callbacks]}
    save_model(model, path, checkpoint=record)


def class_weight_vector(model, class_weight, labels, targets) -> List[float]:
    """One weight per class of the single classification output. ``class_weight`` is a dict
    {class: weight}, "balanced", or a list / array with one weight per class."""
    from ..data.resampling import compute_class_weight
    if len(model._losses) != 1:
        raise ValueError(f"{model.name}: class_weight applies to a model with a single output; weigh samples "
                         "with sample_weight= instead")
    if isinstance(class_weight, (list, tuple, np.ndarray)):
        arr = np.asarray(class_weight)
        if arr.ndim != 1:
            raise ValueError(f"class_weight: expected one weight per class (1-D), got shape {arr.shape}")
        class_weight = {i: w for i, w in enumerate(arr.tolist())}
    loss, labels, targets = model._losses[0].name, labels[0], targets[0]
    if loss == "cross_entropy":
        n_classes = int(model._graph.output_shapes[0][-1])
        return compute_class_weight(class_weight, np.ravel(labels), n_classes).tolist()
    if loss == "binary_cross_entropy":
        return compute_class_weight(class_weight, (targets > 0.5).astype(np.int64).ravel(), 2).tolist()
    raise ValueError(f"class_weight applies to classification losses, not {loss}")


def _progress_bar(verbose, epoch, epochs, steps, show=True):
    """show=False (ranks other than 0): the same progress interval, nothing printed."""
    if verbose != 1:
        return None, None, 0
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc=f"Epoch {epoch + 1}/{epochs}", unit="batch", leave=True,
               file=sys.stdout, dynamic_ncols=True, disable=not show)
    every = max(1, steps // 20)

    def progress(done, loss):
        bar.update(done - bar.n)
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)

    return bar, progress, every


def _print_epoch(epoch, epochs, logs, bar):
    if bar is not None:  # verbose=1: the finished bar carries the epoch's numbers
        bar.update(bar.total - bar.n)
        bar.set_postfix({k: f"{v:.4f}" for k, v in logs.items()}, refresh=False)
        bar.close()
    else:
        text = " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())
        print(f"Epoch {epoch + 1}/{epochs} - {text}")
