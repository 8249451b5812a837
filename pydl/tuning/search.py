"""GridSearch, RandomSearch and BayesianSearch over a Space, for pydl models (``fit``) or
any function (``run``).

Trials run in rounds of ``concurrent_trials`` through any ``concurrent.futures.Executor``
(in this process by default, a ProcessPoolExecutor, a Dask ``Client``). Proposals of a round
depend only on earlier rounds and the seed, so the trial table is the same whatever the
executor. ``checkpoint=path`` saves the table after every round; running the same search
again with it skips the trials already done.
"""
from __future__ import annotations

import os
from concurrent.futures import Future
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from .. import _validate
from .result import SearchResult, Trial
from .space import Space
from .trial import run_trial

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
                                                          ("val_mse", "val_mae", "mse", "mae")))

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

    def fit(self, x, y, validation_split: float = 0.2, validation_data=None, epochs: int = 10, batch_size: int = 32,
            cv: Optional[int] = None, checkpoint: Optional[str] = None, **fit_kwargs) -> SearchResult:
        """Train ``build(hp)`` for each trial and score it by ``objective`` (e.g.
        ``"val_accuracy"``) at its best epoch, or by its mean over ``cv`` stratified folds."""
        if self.build is None:
            raise ValueError("fit() needs build(hp) -> compiled model; use run() to tune a function")
        if not isinstance(self.objective, str):
            raise ValueError("fit(): objective must name a logged metric, e.g. 'val_accuracy'")
        owner = f"{type(self).__name__}.fit"
        cv = None if cv is None else _validate.integer(owner, "cv", cv, minimum=2)
        base = {"kind": "model", "build": self.build, "x": x, "y": y,
                "epochs": _validate.positive_int(owner, "epochs", epochs),
                "batch_size": _validate.positive_int(owner, "batch_size", batch_size),
                "validation_split": validation_split,
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
        budget = self._budget()
        while len(trials) < budget:
            count = min(self.concurrent_trials, budget - len(trials))
            proposals = self._propose(rng, trials, count)
            if not proposals:
                break
            reference = self._reference(trials)
            futures = []
            for params in proposals:
                number = len(trials) + len(futures)
                prior = saved.get(number)
                if prior is not None and prior.params == params:
                    futures.append(prior)
                    continue
                task = dict(base, number=number, params=params, threads=threads, reference=reference,
                            seed=self.seed * 1_000_003 + number)
                futures.append(executor.submit(run_trial, task))
            for f in futures:
                if isinstance(f, Trial):
                    trials.append(f)
                    continue
                r = f.result()
                trials.append(Trial(r["number"], r["params"], r["status"], r["score"], r["curve"], r["error"],
                                    r.get("duration", 0.0)))
                if r.get("weights") is not None and r["status"] == "complete" and r["score"] is not None:
                    key = r["score"] if self.maximize else -r["score"]
                    if best_key is None or key > best_key:
                        best_weights, best_key = r["weights"], key
            if checkpoint:
                SearchResult(trials, self.maximize, objective_name).save(checkpoint)
        result = SearchResult(trials, self.maximize, objective_name)
        if base["kind"] == "model" and result.best_trial is not None:
            result.best_model = self._best_model(base, result, best_weights)
        return result

    def _best_model(self, base, result, weights):
        model = self.build(dict(result.best_params))
        if weights is not None and not base.get("cv"):
            model.build(np.asarray(base["x"]).shape[1:])
            model.set_weights(weights)
            return model
        # Trained under cross-validation, or its weights were not kept (a resumed search):
        # train the best configuration once on all the data.
        model.fit(base["x"], base["y"], epochs=base["epochs"], batch_size=base["batch_size"], verbose=0,
                  seed=self.seed, **base["fit_kwargs"])
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
