"""One trial, run wherever the executor puts it (this process, a process pool, a Dask
worker): build and train a model, or call an objective function, and report the score, the
per-epoch curve, the epoch that scored and, for models, that epoch's weights. A trial that
raises is reported as failed (its exception travels along when it pickles)."""
from __future__ import annotations

import math
import pickle
import time
import traceback
from typing import Any, Dict, List, Optional

import numpy as np

from ..callbacks import Callback


def run_trial(task: Dict[str, Any]) -> Dict[str, Any]:
    """Module-level so every executor can pickle it."""
    start = time.perf_counter()
    result = {"number": task["number"], "params": task["params"], "status": "complete", "score": None,
              "curve": [], "error": None, "weights": None, "best_epochs": []}
    try:
        if task["kind"] == "function":
            result["score"] = float(task["objective"](dict(task["params"])))
        elif task.get("cv"):
            _cross_validate(task, result)
        else:
            _train(task, result)
    except Exception as e:  # recorded, and the search goes on
        result["status"], result["error"] = "failed", f"{type(e).__name__}: {e}"
        result["traceback"] = traceback.format_exc(limit=5)
        try:  # the search chains the first failure's exception when every trial failed
            pickle.dumps(e)
            result["exception"] = e
        except Exception:
            pass
    result["duration"] = time.perf_counter() - start
    return result


def _objective_curve(history, objective: str):
    if objective not in history.history:
        raise ValueError(f"objective '{objective}' is not in the training logs ({', '.join(history.history)}); "
                         "compile the metric and give validation data")
    return [float(v) for v in history.history[objective]]


def _best(curve, maximize: bool) -> float:
    finite = [v for v in curve if math.isfinite(v)]
    if not finite:
        return float("nan")
    return max(finite) if maximize else min(finite)


def best_epoch(curve, maximize: bool) -> Optional[int]:
    """The 1-based epoch of the curve's best finite value (the first, on ties); None if none."""
    best = _best(curve, maximize)
    return None if not math.isfinite(best) else curve.index(best) + 1


def _set_threads(task):
    if task.get("threads"):
        import pydl

        pydl.set_num_threads(task["threads"])


class _BestEpoch(Callback):
    """Keeps a copy of the weights at the epoch whose objective is best so far (the first
    such epoch on ties, as best_epoch counts): the model that earned a trial's score."""

    def __init__(self, objective: str, maximize: bool):
        super().__init__()
        self.objective, self.maximize = objective, maximize
        self.value, self.weights = None, None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.objective)
        if value is None or not math.isfinite(value):
            return
        if self.value is None or (value > self.value if self.maximize else value < self.value):
            self.value, self.weights = float(value), self.model.get_weights()


def build_model(task):
    """build(hp) for this trial, checked to be a compiled pydl model."""
    import pydl

    model = task["build"](dict(task["params"]))
    if not isinstance(model, pydl.Model) or model.optimizer is None:
        raise TypeError(f"build(hp) must return a compiled pydl model, got {type(model).__name__}"
                        + (" (not compiled)" if isinstance(model, pydl.Model) else ""))
    return model


def _fit(task, model, x, y, epochs, extra_callbacks, **validation):
    fit_kwargs = dict(task["fit_kwargs"])
    callbacks = list(fit_kwargs.pop("callbacks", None) or []) + extra_callbacks  # e.g. per-trial EarlyStopping
    return model.fit(x, y, epochs=epochs, batch_size=task["batch_size"], verbose=task.get("verbose", 0),
                     seed=task["seed"], callbacks=callbacks, **validation, **fit_kwargs)


def _train(task, result):
    _set_threads(task)
    model = build_model(task)
    prune = [_PruneCallback(task)] if task.get("pruner") is not None else []
    keep = _BestEpoch(task["objective"], task["maximize"])
    history = _fit(task, model, task["x"], task["y"], task["epochs"], prune + [keep],
                   validation_split=task["validation_split"], validation_data=task["validation_data"])
    result["curve"] = _objective_curve(history, task["objective"])
    result["score"] = _best(result["curve"], task["maximize"])
    result["best_epochs"] = [best_epoch(result["curve"], task["maximize"])]
    if prune and prune[0].pruned:
        result["status"] = "pruned"
    result["weights"] = keep.weights


def folds(task, x, y):
    """The (train, test) index pairs of a cv trial: stratified for integer labels."""
    from ..data.splits import KFold, StratifiedKFold

    if y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        return list(StratifiedKFold(task["cv"], shuffle=True, seed=task["seed"]).split(x, y))
    return list(KFold(task["cv"], shuffle=True, seed=task["seed"]).split(x, y))


def _cross_validate(task, result):
    """One model per fold, validated on its held-out part; the score is the mean of the
    folds' best-epoch values, and each fold model is kept at its best epoch."""
    _set_threads(task)
    x, y = np.asarray(task["x"]), np.asarray(task["y"])
    scores: List[float] = []
    weights, epochs = [], []
    for train, test in folds(task, x, y):
        model = build_model(task)
        keep = _BestEpoch(task["objective"], task["maximize"])
        history = _fit(task, model, x[train], y[train], task["epochs"], [keep], validation_data=(x[test], y[test]))
        curve = _objective_curve(history, task["objective"])
        scores.append(_best(curve, task["maximize"]))
        epochs.append(best_epoch(curve, task["maximize"]))
        weights.append(keep.weights)
    result["curve"] = scores  # one value per fold
    result["score"] = float(np.mean(scores))
    result["best_epochs"] = epochs
    result["weights"] = None if any(w is None for w in weights) else weights


class _PruneCallback(Callback):
    """Reports each epoch's objective to the pruner; stops training when it says so."""

    def __init__(self, task):
        super().__init__()
        self.task = task
        self.pruned = False
        pruner = task["pruner"]
        self.rungs = pruner.rungs(task["epochs"], pruner.bracket_of(task["number"], task["epochs"]))
        self.reference = {int(k): v for k, v in task["reference"].items()}

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.task["objective"])
        if value is None:
            return
        if self.task["pruner"].should_stop(epoch + 1, float(value), self.reference, self.task["maximize"], self.rungs):
            self.pruned = True
            self.model.stop_training = True
