"""GridSearch, RandomSearch and BayesianSearch over a Space, for pydl models (``fit``) or
any function (``run``).

Trials run in rounds of ``concurrent_trials`` through any ``concurrent.futures.Executor``
(in this process by default, a ProcessPoolExecutor, a Dask ``Client``). Proposals of a round
depend only on earlier rounds and the seed, so the trial table is the same whatever the
executor. ``checkpoint=path`` saves the table after every round; running the same search
again with it skips the trials already done.
"""
from __future__ import annotations

import math
import os
import warnings
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .. import _validate
from .result import SearchResult, Trial
from .space import Space
from .trial import build_model, run_trial

__all__ = ["GridSearch", "RandomSearch", "BayesianSearch"]


class _InProcess:
    """The default executor: runs each trial right away, in this process."""

    def submit(self, fn, *args):
        f = Future()
        f.set_result(fn(*args))
        return f


class Search:
    def __init__(self, build: Optional[Callable], space: Space, objective="val_accuracy", max_trials: int = 10,
                 seed: int = 0, executor=None, pruner=None, direction: str = "auto", concurrent_trials: int = 2,
                 threads_per_trial: Optional[int] = None):
        owner = type(self).__name__
        _validate.instance(owner, "space", space, Space, "a tuning.Space")
        if build is None and not callable(objective):
            raise ValueError(f"{owner}: without build, objective must be a function hp -> score")
        self.build, self.space, self.objective = build, space, objective
        self.max_trials = _validate.positive_int(owner, "max_trials", max_trials)
        self.seed = _validate.non_negative_int(owner, "seed", seed)
        self.executor, self.pruner = executor, pruner
        self.direction = _validate.choice(owner, "direction", direction, ("auto", "max", "min"))
        self.concurrent_trials = _validate.positive_int(owner, "concurrent_trials", concurrent_trials)
        self.threads_per_trial = _validate.optional_int(owner, "threads_per_trial", threads_per_trial, minimum=1)

    @property
    def maximize(self) -> bool:
        if self.direction != "auto":
            return self.direction == "max"
        return not (isinstance(self.objective, str) and ("loss" in self.objective or self.objective in
                                                          ("val_mse", "val_mae", "val_rmse", "mse", "mae", "rmse")))

    # ---------------------------------------------------------------- proposals
    def _propose(self, rng: np.random.Generator, done: List[Trial], count: int) -> List[Dict[str, Any]]:
        raise NotImplementedError

    def _budget(self) -> int:
        return self.max_trials

    # ------------------------------------------------------------------ running
    def run(self, checkpoint: Optional[str] = None) -> SearchResult:
        """Maximise (or minimise) ``objective(hp)`` over the space: no model involved."""
        if not callable(self.objective):
            raise ValueError("run() needs objective to be a function hp -> score; use fit() for models")
        return self._search({"kind": "function", "objective": self.objective}, checkpoint, "objective")

    def fit(self, x, y, validation_split: Optional[float] = None, validation_data=None, epochs: int = 10,
            batch_size: int = 32, cv: Optional[int] = None, checkpoint: Optional[str] = None, verbose: int = 0,
            **fit_kwargs) -> SearchResult:
        """Train ``build(hp)`` for each trial and score it by ``objective`` (e.g.
        ``"val_accuracy"``) at its best epoch, or by its mean over ``cv`` stratified folds.

        Without ``cv`` each trial validates on ``validation_data`` or else the last
        ``validation_split`` (default 0.2) of ``x``/``y``; with ``cv`` on each fold's held-out
        part (so neither may be given). ``verbose`` is passed to each trial's ``model.fit``;
        other keywords (``callbacks``, ``class_weight``, ...) too, except ``seed``: trial
        ``t`` trains with seed ``Search.seed * 1_000_003 + t``. ``result.best_model`` is the
        model that earned the best score (see :class:`SearchResult`). Raises RuntimeError when
        every trial failed (chained to the first trial's exception), warns when some did."""
        if self.build is None:
            raise ValueError("fit() needs build(hp) -> compiled model; use run() to tune a function")
        if not isinstance(self.objective, str):
            raise ValueError("fit(): objective must name a logged metric, e.g. 'val_accuracy'")
        owner = f"{type(self).__name__}.fit"
        if "seed" in fit_kwargs:
            raise ValueError(f"{owner}: seed is set per trial (Search.seed * 1_000_003 + trial number); give "
                             f"the search seed= instead of fit seed={fit_kwargs['seed']!r}")
        cv = None if cv is None else _validate.integer(owner, "cv", cv, minimum=2)
        if cv is not None and (validation_data is not None or validation_split is not None):
            raise ValueError(f"{owner}: with cv={cv} every fold validates on its held-out part; leave out "
                             "validation_split and validation_data")
        if validation_split is None:
            validation_split = 0.2
        base = {"kind": "model", "build": self.build, "x": x, "y": y,
                "epochs": _validate.positive_int(owner, "epochs", epochs),
                "batch_size": _validate.positive_int(owner, "batch_size", batch_size),
                "validation_split": validation_split, "verbose": _validate.non_negative_int(owner, "verbose", verbose),
                "validation_data": validation_data, "cv": cv, "fit_kwargs": fit_kwargs,
                "objective": self.objective, "maximize": self.maximize,
                "pruner": None if cv else self.pruner}
        result = self._search(base, checkpoint, self.objective)
        return result

    def _search(self, base: Dict[str, Any], checkpoint: Optional[str], objective_name: str) -> SearchResult:
        rng = np.random.default_rng(self.seed)
        saved = {}
        if checkpoint and os.path.exists(checkpoint):
            saved = {t.number: t for t in SearchResult.load(checkpoint).trials}
        executor = self.executor or _InProcess()
        threads = self.threads_per_trial or (1 if self.executor is not None else None)
        trials: List[Trial] = []
        best_weights, best_key = None, None
        first_exception = None
        budget = self._budget()
        while len(trials) < budget:
            count = min(self.concurrent_trials, budget - len(trials))
            proposals = self._propose(rng, trials, count)
            if not proposals:
                break
            reference = self._reference(trials)
            futures = []  # type: ignore[var-annotated]
            for params in proposals:
                number = len(trials) + len(futures)
                prior = saved.get(number)
                if prior is not None and prior.params == params:
                    futures.append(prior)
                    continue
                task = dict(base, number=number, params=params, threads=threads, reference=reference,
                            seed=self._trial_seed(number))
                futures.append(executor.submit(run_trial, task))
            for f in futures:
                if isinstance(f, Trial):
                    trials.append(f)
                    continue
                r = f.result()
                trials.append(Trial(r["number"], r["params"], r["status"], r["score"], r["curve"], r["error"],
                                    r.get("duration", 0.0), r.get("best_epochs", [])))
                if first_exception is None and r.get("exception") is not None:
                    first_exception = r["exception"]
                if r.get("weights") is not None and r["status"] == "complete" and r["score"] is not None:
                    key = r["score"] if self.maximize else -r["score"]
                    if best_key is None or key > best_key:
                        best_weights, best_key = (r["number"], r["weights"]), key
            if checkpoint:
                SearchResult(trials, self.maximize, objective_name).save(checkpoint)
        result = SearchResult(trials, self.maximize, objective_name)
        self._report_failures(result, first_exception)
        best = result.best_trial
        # Weights kept for a trial that is not the best (the best was resumed from the
        # checkpoint) do not count: that trial is trained again instead.
        best_weights = best_weights[1] if best_weights is not None and best is not None and \
            best_weights[0] == best.number else None
        if base["kind"] == "model":
            if base.get("cv"):
                result.fold_models = self._fold_models(base, best, best_weights)
                result.best_model = self._refit(base, best)
            else:
                result.best_model = self._best_model(base, best, best_weights)
        return result

    def _trial_seed(self, number: int) -> int:
        return self.seed * 1_000_003 + number

    @staticmethod
    def _report_failures(result: SearchResult, first_exception) -> None:
        """Raise when no trial scored (all failed, or none reached a finite score); warn
        when some failed, naming how many and the first error."""
        failed = [t for t in result.trials if t.status == "failed"]
        if failed and len(failed) == len(result.trials):
            first = failed[0]
            raise RuntimeError(f"all {len(failed)} trials failed; the first (trial {first.number}, params "
                               f"{first.params}) raised {first.error}") from first_exception
        if result.trials and result.best_trial is None:
            raise RuntimeError(f"no trial reached a finite score for '{result.objective}' "
                               f"({len(result.trials)} trials: {[t.status for t in result.trials]}, scores "
                               f"{[t.score for t in result.trials]})")
        if failed:
            first = failed[0]
            warnings.warn(f"{len(failed)} of {len(result.trials)} trials failed; the first (trial {first.number}, "
                          f"params {first.params}) raised {first.error}. See result.trials[i].error",
                          RuntimeWarning, stacklevel=4)

    def _trial_task(self, base, trial: Trial, **changes) -> Dict[str, Any]:
        """The task that trained ``trial``, to train it again in this process (same seed,
        data and fit arguments: the same weights, epoch for epoch)."""
        return dict(base, number=trial.number, params=dict(trial.params), threads=None, reference={},
                    seed=self._trial_seed(trial.number), pruner=None, verbose=0, **changes)

    def _best_model(self, base, trial: Optional[Trial], weights):
        """The best trial's model with its best epoch's weights."""
        if trial is None:
            return None
        if weights is None:
            # Its weights were not kept (a resumed search): train it again up to its best
            # epoch, which gives that epoch's weights exactly (training is deterministic).
            from .trial import run_trial as _run

            again = _run(self._trial_task(base, trial, epochs=trial.best_epochs[0]))
            if again["status"] != "complete" or again["weights"] is None:
                raise RuntimeError(f"retraining trial {trial.number} to rebuild best_model failed: {again['error']}")
            weights = again["weights"]
        model = build_model(self._trial_task(base, trial))
        model.build(np.asarray(base["x"]).shape[1:])
        model.set_weights(weights)
        return model

    def _fold_models(self, base, trial: Optional[Trial], weights):
        """The best trial's k fold models, each at its best epoch."""
        if trial is None:
            return None
        if weights is None:  # a resumed search: train the folds again (deterministic)
            from .trial import run_trial as _run

            again = _run(self._trial_task(base, trial))
            if again["status"] != "complete" or again["weights"] is None:
                raise RuntimeError(f"retraining trial {trial.number} to rebuild fold_models failed: {again['error']}")
            weights = again["weights"]
        models = []
        for w in weights:
            model = build_model(self._trial_task(base, trial))
            model.build(np.asarray(base["x"]).shape[1:])
            model.set_weights(w)
            models.append(model)
        return models

    def _refit(self, base, trial: Optional[Trial]):
        """Under cv: the best configuration trained on all the data, without validation,
        for the median (rounded up) of the folds' best epochs, with the trial's seed."""
        if trial is None:
            return None
        epochs = int(math.ceil(float(np.median([e for e in trial.best_epochs if e is not None]))))
        task = self._trial_task(base, trial)
        model = build_model(task)
        fit_kwargs = dict(base["fit_kwargs"])
        model.fit(base["x"], base["y"], epochs=epochs, batch_size=base["batch_size"], verbose=0,
                  seed=task["seed"], **fit_kwargs)
        return model

    @staticmethod
    def _reference(trials: List[Trial]) -> Dict[int, List[float]]:
        """Per epoch (from 1), the objective values earlier trials reached: the pruner's yardstick."""
        ref: Dict[int, List[float]] = {}
        for t in trials:
            if t.status in ("complete", "pruned"):
                for e, v in enumerate(t.curve, start=1):
                    ref.setdefault(e, []).append(v)
        return ref


class GridSearch(Search):
    """Every combination of the parameters' grid values (Float/Int need ``values=`` or
    ``step=``), in order; ``max_trials`` caps the count (default: the whole grid)."""

    def __init__(self, build, space, objective="val_accuracy", max_trials: Optional[int] = None, **kw):
        self._grid = _validate.instance("GridSearch", "space", space, Space, "a tuning.Space").grid()
        super().__init__(build, space, objective, max_trials or len(self._grid), **kw)

    def _budget(self):
        return min(self.max_trials, len(self._grid))

    def _propose(self, rng, done, count):
        return self._grid[len(done):len(done) + count]


class RandomSearch(Search):
    """Independent draws from the space, reproducible by seed."""

    def _propose(self, rng, done, count):
        return [self.space.sample(rng) for _ in range(count)]


class BayesianSearch(Search):
    """Gaussian-process Bayesian optimisation: a Matérn 5/2 GP over the encoded space
    (log-scaled and one-hot where declared) models the objective; each proposal maximises
    expected improvement by random plus local search. The first ``initial_trials`` are
    random. Within a round, later proposals treat earlier ones as done with the GP's mean
    (kriging believer), so a round of parallel trials spreads out."""

    def __init__(self, build, space, objective="val_accuracy", max_trials: int = 10, initial_trials: int = 5, **kw):
        super().__init__(build, space, objective, max_trials, **kw)
        self.initial_trials = _validate.non_negative_int("BayesianSearch", "initial_trials", initial_trials)

    def _propose(self, rng, done, count):
        from .gp import GaussianProcess, propose

        scored = [t for t in done if t.status in ("complete", "pruned") and t.score is not None
                  and np.isfinite(t.score)]
        out = []
        for _ in range(count):
            if len(done) + len(out) < self.initial_trials or len(scored) < 2:
                out.append(self.space.sample(rng))
                continue
            X = [self.space.encode(t.params) for t in scored] + [self.space.encode(p) for p in out]
            y = [t.score if self.maximize else -t.score for t in scored]
            # Modest effort per proposal: a trial of a real model costs far more than this.
            gp = GaussianProcess(n_restarts=1, seed=int(rng.integers(1 << 31)))
            gp.fit(np.array(X[:len(y)]), np.array(y))
            if out:  # kriging believer: pending proposals count as done at the GP's mean
                mean, _ = gp.predict(np.array(X[len(y):]))
                y = y + list(mean)
                gp.fit(np.array(X), np.array(y))
            u = propose(gp, max(y), self.space.dims, rng, n_random=1000, n_local=5, local_steps=30,
                        categorical_groups=self.space.categorical_groups)
            out.append(self.space.decode(u))
        return out
