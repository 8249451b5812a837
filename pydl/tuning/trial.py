"""One trial, run wherever the executor puts it (this process, a process pool, a Dask
worker): build and train a model, or call an objective function, and report the score, the
per-epoch curve and, for models, the weights. A trial that raises is reported as failed."""
from __future__ import annotations

import math
import time
import traceback
from typing import Any, Dict

import numpy as np

from ..callbacks import Callback


def run_trial(task: Dict[str, Any]) -> Dict[str, Any]:
    """Module-level so every executor can pickle it."""
    start = time.perf_counter()
    result = {"number": task["number"], "params": task["params"], "status": "complete", "score": None,
              "curve": [], "error": None, "weights": None}
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


def _set_threads(task):
    if task.get("threads"):
        import pydl

        pydl.set_num_threads(task["threads"])


def _train(task, result):
    import pydl

    _set_threads(task)
    model = task["build"](dict(task["params"]))
    if not isinstance(model, pydl.Sequential) or model.optimizer is None:
        raise TypeError("build(hp) must return a compiled pydl model")
    pruner = task.get("pruner")
    prune = [_PruneCallback(task)] if pruner is not None else []
    fit_kwargs = dict(task["fit_kwargs"])
    callbacks = list(fit_kwargs.pop("callbacks", None) or []) + prune  # e.g. per-trial EarlyStopping
    x, y = task["x"], task["y"]
    history = model.fit(x, y, epochs=task["epochs"], batch_size=task["batch_size"], verbose=0,
                        validation_split=task["validation_split"], validation_data=task["validation_data"],
                        seed=task["seed"], callbacks=callbacks, **fit_kwargs)
    result["curve"] = _objective_curve(history, task["objective"])
    result["score"] = _best(result["curve"], task["maximize"])
    if prune and prune[0].pruned:
        result["status"] = "pruned"
    result["weights"] = model.get_weights()


def _cross_validate(task, result):
    from ..data.splits import StratifiedKFold

    _set_threads(task)
    x, y = np.asarray(task["x"]), np.asarray(task["y"])
    folds = StratifiedKFold(task["cv"], shuffle=True, seed=task["seed"]) if y.ndim == 1 and \
        np.issubdtype(y.dtype, np.integer) else None
    if folds is None:
        from ..data.splits import KFold

        folds = KFold(task["cv"], shuffle=True, seed=task["seed"])
    scores = []
    for train, test in folds.split(x, y):
        model = task["build"](dict(task["params"]))
        history = model.fit(x[train], y[train], epochs=task["epochs"], batch_size=task["batch_size"], verbose=0,
                            validation_data=(x[test], y[test]), seed=task["seed"], **task["fit_kwargs"])
        scores.append(_best(_objective_curve(history, task["objective"]), task["maximize"]))
    result["curve"] = scores  # one value per fold
    result["score"] = float(np.mean(scores))


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
