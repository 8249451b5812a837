"""``by_group``: classification metrics per group of samples (a sensitive feature, a site, a
device), to see a model that does well on average and badly on one group.

The values equal fairlearn's ``MetricFrame(metrics=..., y_true, y_pred,
sensitive_features=groups)`` with the matching scikit-learn functions: ``.overall`` and
``.by_group`` are the metric on all samples and on each group's, ``.difference()`` and
``.ratio()`` the largest gap across groups (fairlearn's ``between_groups`` and ``to_overall``
methods).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, Optional

import numpy as np

from . import _utils as _u
from .classification import accuracy, f1_score, precision, recall

__all__ = ["by_group", "GroupReport", "METRICS"]

METRICS = ("accuracy", "precision", "recall", "f1", "selection_rate")
_METHODS = ("between_groups", "to_overall")


class GroupReport:
    """Metrics overall and per group, from :func:`by_group`.

    ``overall``: {metric: value}; ``by_group``: {group: {metric: value}}; ``sizes``: {group:
    samples}; ``metrics``: the metric names in order; ``average``: the precision/recall/F1
    average used. ``difference()`` / ``ratio()`` give the largest gap across groups per metric;
    ``print(report)`` shows the table, ``report.plot()`` draws it (matplotlib)."""

    def __init__(self, overall: Dict[str, float], by_group: Dict[Any, Dict[str, float]], sizes: Dict[Any, int],
                 average: Optional[str]):
        self.overall, self.by_group, self.sizes, self.average = overall, by_group, sizes, average
        self.metrics = list(overall)

    def _column(self, metric: str) -> np.ndarray:
        return np.array([self.by_group[g][metric] for g in self.by_group], dtype=np.float64)

    def difference(self, method: str = "between_groups") -> Dict[str, float]:
        """Per metric, the largest absolute difference: between any two groups
        (``"between_groups"``: max - min) or between a group and the overall value
        (``"to_overall"``). NaN values (an undefined metric) are left out."""
        _check_method(method, "difference")
        out = {}
        for m in self.metrics:
            col = self._column(m)
            out[m] = (_nanmax(col) - _nanmin(col) if method == "between_groups"
                      else _nanmax(np.abs(col - self.overall[m])))
        return out

    def ratio(self, method: str = "between_groups") -> Dict[str, float]:
        """Per metric, the smallest ratio, as a number <= 1: the smallest group's value over the
        largest's (``"between_groups"``), or the furthest a group is from the overall value
        (``"to_overall"``: min over groups of group/overall, inverted where above 1)."""
        _check_method(method, "ratio")
        out = {}
        with np.errstate(divide="ignore", invalid="ignore"):
            for m in self.metrics:
                col = self._column(m)
                if method == "between_groups":
                    out[m] = float(np.float64(_nanmin(col)) / np.float64(_nanmax(col)))
                else:
                    r = col / np.float64(self.overall[m])
                    out[m] = _nanmin(np.where(r > 1, 1.0 / r, r))
        return out

    def to_dict(self) -> Dict[str, Any]:
        """overall, by_group, sizes, difference and ratio as plain values (NaN as None)."""
        def clean(d):
            return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in d.items()}
        return {"overall": clean(self.overall), "by_group": {_key(g): clean(v) for g, v in self.by_group.items()},
                "sizes": {_key(g): n for g, n in self.sizes.items()}, "difference": clean(self.difference()),
                "ratio": clean(self.ratio()), "average": self.average}

    def plot(self, path: Optional[str] = None):
        """A bar chart of each metric per group, with the overall value as a line (matplotlib);
        saved with ``path``. Returns the Figure."""
        from ..report.plot import plot_groups

        return plot_groups(self, path=path)

    def __repr__(self) -> str:
        return f"GroupReport(groups={list(self.by_group)!r}, metrics={self.metrics!r})"

    def __str__(self) -> str:
        names = ["overall"] + [str(g) for g in self.by_group]
        width = max(len(n) for n in names + ["difference"])
        lines = [f"{'':<{width}} {'n':>7}" + "".join(f" {m:>10}" for m in self.metrics)]
        total = sum(self.sizes.values())
        def fmt(v):
            return f" {v:>10.4f}" if not math.isnan(v) else f" {'nan':>10}"
        lines.append(f"{'overall':<{width}} {total:>7}" + "".join(fmt(self.overall[m]) for m in self.metrics))
        for g, values in self.by_group.items():
            lines.append(f"{str(g):<{width}} {self.sizes[g]:>7}" + "".join(fmt(values[m]) for m in self.metrics))
        for title, values in (("difference", self.difference()), ("ratio", self.ratio())):
            lines.append(f"{title:<{width}} {'':>7}" + "".join(fmt(values[m]) for m in self.metrics))
        return "\n".join(lines)


def _key(g):
    g = g.item() if isinstance(g, np.generic) else g
    return g if isinstance(g, (str, int, float, bool)) else str(g)


def _nanmin(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float("nan") if np.isnan(a).all() else float(np.nanmin(a))


def _nanmax(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    return float("nan") if np.isnan(a).all() else float(np.nanmax(a))


def _check_method(method, where: str) -> None:
    if method not in _METHODS:
        raise ValueError(f"GroupReport.{where}: method must be 'between_groups' or 'to_overall', got {method!r}")


def _metric_functions(metrics, average, pos_label, zero_division) -> Dict[str, Callable]:
    kw = dict(average=average, pos_label=pos_label, zero_division=zero_division)
    builtin = {"accuracy": accuracy, "precision": lambda t, p: precision(t, p, **kw),
               "recall": lambda t, p: recall(t, p, **kw), "f1": lambda t, p: f1_score(t, p, **kw),
               "selection_rate": lambda t, p: float(np.mean(p == pos_label))}
    if isinstance(metrics, str):
        metrics = (metrics,)
    if isinstance(metrics, dict):
        items = list(metrics.items())
    else:
        try:
            items = [(m, m) for m in metrics]
        except TypeError:
            raise TypeError(f"by_group: metrics must be names, or a dict name -> function(y_true, y_pred), "
                            f"got {type(metrics).__name__}") from None
    if not items:
        raise ValueError("by_group: metrics is empty")
    out = {}
    for name, fn in items:
        if isinstance(fn, str):
            if fn not in builtin:
                raise ValueError(f"by_group: unknown metric {fn!r}; expected one of {', '.join(METRICS)} "
                                 "or a function(y_true, y_pred)")
            fn = builtin[fn]
        elif not callable(fn):
            raise TypeError(f"by_group: metric {name!r} must be a name or a function(y_true, y_pred)")
        out[str(name)] = fn
    return out


def by_group(y_true, y_pred, groups, metrics=("accuracy", "precision", "recall", "f1"), *,
             average: Optional[str] = None, pos_label=1, zero_division=0.0) -> GroupReport:
    """Metrics on all samples and on each group's samples (a :class:`GroupReport`).

    ``groups``: one group per sample (ints, strings; e.g. a sensitive feature). ``metrics``:
    names from ``"accuracy"``, ``"precision"``, ``"recall"``, ``"f1"``, ``"selection_rate"``
    (the share predicted ``pos_label``), or a dict name -> ``function(y_true, y_pred)``.
    Precision, recall and F1 are pydl's (:func:`pydl.metrics.precision`, ...) with ``average``:
    by default "binary" (the score of ``pos_label``) when y_true and y_pred hold two labels or
    fewer, else "macro"; the same average is used for every group. ``zero_division``: the value
    of a 0/0 ratio (a group with no predicted positives), as in scikit-learn (0.0 silently).
    """
    y_true, y_pred, present, binary = _u.class_targets(y_true, y_pred)
    g = np.asarray(groups)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.ndim != 1:
        raise ValueError(f"by_group: groups must be one value per sample (1-D), got shape {g.shape}; "
                         "combine several features into one key first")
    if len(g) != len(y_true):
        raise ValueError(f"by_group: groups has {len(g)} values but y_true has {len(y_true)} samples")
    if g.dtype.kind == "f" and not np.isfinite(g).all():
        raise ValueError("by_group: groups holds NaN or infinity; give every sample a group")
    if g.dtype.kind == "O" and any(v is None for v in g):
        raise ValueError("by_group: groups holds None; give every sample a group")
    if average is None:
        average = "binary" if binary else "macro"
    fns = _metric_functions(metrics, average, pos_label, zero_division)
    try:
        keys = np.unique(g)
    except TypeError:
        raise ValueError("by_group: groups mixes kinds of values (e.g. strings and numbers)") from None
    overall = {name: float(fn(y_true, y_pred)) for name, fn in fns.items()}
    per_group, sizes = {}, {}
    for key in keys:
        rows = g == key
        k = key.item() if isinstance(key, np.generic) else key
        per_group[k] = {name: float(fn(y_true[rows], y_pred[rows])) for name, fn in fns.items()}
        sizes[k] = int(rows.sum())
    return GroupReport(overall, per_group, sizes, average)
