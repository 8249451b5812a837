"""SearchResult: the table of all trials, the best one, saving and loading the table."""
from __future__ import annotations

import csv
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional


@dataclass
class Trial:
    number: int
    params: Dict[str, Any]
    status: str = "complete"  # complete | pruned | failed
    score: Optional[float] = None
    curve: List[float] = field(default_factory=list)  # objective per epoch (per fold with cv)
    error: Optional[str] = None
    duration: float = 0.0
    # the 1-based epoch each run scored at: one entry, or one per fold with cv
    best_epochs: List[Optional[int]] = field(default_factory=list)


class SearchResult:
    """``best_params``, ``best_score``, ``best_model`` and ``trials`` (every trial, failed and
    pruned ones included). ``save(path)`` writes JSON or CSV (by extension).

    ``best_model`` is the model that earned ``best_score``: the best trial's model with the
    weights of its best epoch. Under ``cv`` no single model earned the score (it is the mean
    over the folds), so ``fold_models`` holds the k fold models, each at its best epoch (the
    ones whose fold values were averaged), and ``best_model`` is the best configuration
    refit on all the data for the median (rounded up) of the folds' best epochs, as
    scikit-learn's ``refit=True`` does; it has no held-out score of its own."""

    def __init__(self, trials: List[Trial], maximize: bool, objective: str, best_model=None, fold_models=None):
        self.trials = list(trials)
        self.maximize = maximize
        self.objective = objective
        self.best_model = best_model
        self.fold_models = fold_models

    @property
    def best_trial(self) -> Optional[Trial]:
        done = [t for t in self.trials if t.status == "complete" and t.score is not None and math.isfinite(t.score)]
        if not done:
            return None
        return (max if self.maximize else min)(done, key=lambda t: t.score)

    @property
    def best_params(self) -> Optional[Dict[str, Any]]:
        t = self.best_trial
        return None if t is None else dict(t.params)

    @property
    def best_score(self) -> Optional[float]:
        t = self.best_trial
        return None if t is None else t.score

    def table(self) -> List[Dict[str, Any]]:
        """One flat dict per trial: number, status, score, the parameters, error."""
        return [{"number": t.number, "status": t.status, "score": t.score, **t.params, "error": t.error}
                for t in self.trials]

    def save(self, path: str) -> None:
        from ..engine.saving import _atomic_write

        if str(path).endswith(".csv"):
            rows = self.table()
            keys = list(dict.fromkeys(k for r in rows for k in r))
            import io

            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=keys)
            w.writeheader()
            w.writerows(rows)
            data = buf.getvalue().encode()
        else:
            data = json.dumps({"objective": self.objective, "maximize": self.maximize,
                               "trials": [asdict(t) for t in self.trials]}, indent=1).encode()
        _atomic_write(str(path), data)

    @staticmethod
    def load(path: str) -> "SearchResult":
        """Read a result saved as JSON (CSV tables are for reading by people and pandas)."""
        with open(path) as f:
            data = json.load(f)
        return SearchResult([Trial(**t) for t in data["trials"]], data["maximize"], data["objective"])

    def plot(self, path: Optional[str] = None):
        """Objective per trial and per parameter (matplotlib); saved as PNG with ``path``."""
        from ..report.plot import plot_search

        return plot_search(self, path=path)

    def __repr__(self):
        return (f"SearchResult({len(self.trials)} trials, best {self.objective}={self.best_score}, "
                f"params={self.best_params})")
