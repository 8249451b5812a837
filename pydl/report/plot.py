"""Figures for training runs: learning curves, confusion matrices, search results and
metrics per group.

matplotlib is optional (``pip install 'pydl[plot]'``) and imported only when a function
here runs, so ``import pydl`` stays light. Figures are built as bare
``matplotlib.figure.Figure`` objects on an Agg canvas, never through pyplot: nothing
global changes (no backend switch, no figure registered with pyplot that would leak
memory in a loop), and saving works on headless machines. To show one in a notebook,
return it from a cell; to keep it, pass ``path=``.
"""
from __future__ import annotations

import math
import os
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

__all__ = ["plot_history", "confusion_matrix", "plot_search", "plot_groups"]

_INSTALL_HINT = "plotting needs matplotlib: pip install 'pydl[plot]'"


def _new_figure(**kwargs):
    """A pyplot-free Figure attached to an Agg canvas (so savefig works anywhere)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(_INSTALL_HINT) from None
    fig = Figure(layout="constrained", **kwargs)
    FigureCanvasAgg(fig)
    return fig


def _save(fig, path) -> None:
    """Write the figure; the format follows the extension, PNG when there is none."""
    if path is None:
        return
    path = os.fspath(path)
    fmt = os.path.splitext(path)[1][1:].lower() or "png"
    fig.savefig(path, format=fmt, dpi=100)


def _logs(history) -> Dict[str, List[float]]:
    """The ``name -> per-epoch values`` dict of a History (or of a plain dict)."""
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"expected a pydl.callbacks.History or a dict of per-epoch lists, got "
                        f"{type(history).__name__}")
    return logs


def _metric_names(logs: Dict[str, Any]) -> List[str]:
    """Base metric names (``val_`` stripped), loss first, then in the order logged."""
    names: List[str] = []
    for key in logs:
        base = key[4:] if key.startswith("val_") else key
        if base not in names:
            names.append(base)
    if "loss" in names:
        names.remove("loss")
        names.insert(0, "loss")
    return names


def plot_history(history, path: Optional[Union[str, os.PathLike]] = None,
                 metrics: Optional[Sequence[str]] = None):
    """Learning curves: one subplot per metric, training vs validation, against epochs.

    ``history`` is the ``History`` returned by ``fit`` (or its ``.history`` dict).
    ``metrics`` picks and orders the subplots by base name (``"loss"``, ``"accuracy"``);
    by default every logged metric, loss first. Epochs are numbered from 1 on the x axis.
    Returns the matplotlib Figure, and writes it to ``path`` when given (PNG unless the
    extension says otherwise).
    """
    logs = _logs(history)
    available = _metric_names(logs)
    if not available:
        raise ValueError("plot_history: the history is empty (train for at least one epoch)")
    if metrics is None:
        names = available
    else:
        names = [metrics] if isinstance(metrics, str) else list(metrics)
        unknown = [m for m in names if m not in available]
        if unknown or not names:
            raise ValueError(f"plot_history: expected metrics among {available}, got {list(names)}")

    ncols = min(len(names), 3)  # more than three side by side gets too narrow to read
    nrows = math.ceil(len(names) / ncols)
    fig = _new_figure(figsize=(4.8 * ncols, 3.6 * nrows))
    from matplotlib.ticker import MaxNLocator  # matplotlib is there: _new_figure checked
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    epoch_list = list(getattr(history, "epoch", []) or [])
    for ax, name in zip(axes, names):
        for key, label, style in ((name, "train", "-o"), (f"val_{name}", "validation", "-s")):
            if key not in logs:
                continue
            values = np.asarray(logs[key], dtype=np.float64)
            # History.epoch counts from 0; fall back to 0..n-1 for plain dicts or a mismatch.
            epochs = np.asarray(epoch_list if len(epoch_list) == len(values) else range(len(values))) + 1
            ax.plot(epochs, values, style, label=label, markersize=3 if len(values) <= 60 else 0)
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # no "epoch 2.5" ticks
        ax.set_ylabel(name)
        ax.grid(True, alpha=0.3)
        ax.legend()
    for ax in axes[len(names):]:
        ax.set_visible(False)  # leftover cells of the grid
    _save(fig, path)
    return fig


def confusion_matrix(cm, class_names: Optional[Sequence[str]] = None, normalize: bool = False,
                     path: Optional[Union[str, os.PathLike]] = None):
    """Heatmap of a confusion matrix with the value written in every cell.

    ``cm[i, j]`` counts samples of true class ``i`` predicted as ``j`` (as returned by
    ``pydl.metrics.confusion_matrix``): rows are true classes, columns predictions. With
    ``normalize=True`` each row is divided by its sum, so cells show per-class rates and
    the diagonal is each class's recall (an empty row stays 0). Returns the Figure and
    writes it to ``path`` when given.
    """
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or cm.shape[0] == 0:
        raise ValueError(f"confusion_matrix: expected a non-empty square 2-D matrix, got shape {cm.shape}")
    if not np.issubdtype(cm.dtype, np.number) or not np.all(np.isfinite(cm)) or np.any(cm < 0):
        raise ValueError("confusion_matrix: expected finite, non-negative counts")
    n = cm.shape[0]
    if class_names is None:
        class_names = [str(i) for i in range(n)]
    else:
        class_names = [str(c) for c in class_names]
        if len(class_names) != n:
            raise ValueError(f"confusion_matrix: {len(class_names)} class_names for {n} classes")

    values = cm.astype(np.float64)
    if normalize:
        sums = values.sum(axis=1, keepdims=True)
        values = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
        text = [[f"{v:.2f}" for v in row] for row in values]
    else:
        integral = np.all(values == np.round(values))
        text = [[f"{int(v)}" if integral else f"{v:.3g}" for v in row] for row in values]

    side = max(4.0, 0.45 * n + 2.0)  # cells stay big enough for their labels
    fig = _new_figure(figsize=(side + 1.0, side))
    ax = fig.subplots()
    vmax = 1.0 if normalize else max(values.max(), 1.0)
    image = ax.imshow(values, cmap="Blues", vmin=0.0, vmax=vmax, interpolation="nearest")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    # White text on dark cells, black on light ones, so every number stays readable.
    for i in range(n):
        for j in range(n):
            ax.text(j, i, text[i][j], ha="center", va="center", fontsize=8 if n > 10 else 10,
                    color="white" if values[i, j] > 0.5 * vmax else "black")
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    slanted = max(map(len, class_names)) > 3  # long names would overlap side by side
    ax.set_xticklabels(class_names, rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticklabels(class_names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("confusion matrix (row-normalised)" if normalize else "confusion matrix")
    _save(fig, path)
    return fig


def plot_search(result, path: Optional[Union[str, os.PathLike]] = None):
    """A tuning result: the objective of every trial in order (best so far as a line), then one
    scatter per parameter (objective against the parameter's value; log axis for log-scaled
    ones). Failed trials are left out; pruned ones are drawn hollow."""
    trials = [t for t in result.trials if t.score is not None and math.isfinite(t.score)]
    if not trials:
        raise ValueError("plot_search: no trial has a score yet")
    names = list(trials[0].params)
    ncols = min(3, 1 + len(names))
    nrows = math.ceil((1 + len(names)) / ncols)
    fig = _new_figure(figsize=(4.2 * ncols, 3.3 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    numbers = [t.number for t in trials]
    scores = [t.score for t in trials]
    best = np.maximum.accumulate(scores) if result.maximize else np.minimum.accumulate(scores)
    done = [t.status == "complete" for t in trials]
    ax = axes[0]
    ax.scatter([n for n, d in zip(numbers, done) if d], [s for s, d in zip(scores, done) if d], label="complete")
    ax.scatter([n for n, d in zip(numbers, done) if not d], [s for s, d in zip(scores, done) if not d],
               facecolors="none", edgecolors="C1", label="pruned")
    ax.plot(numbers, best, color="C2", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel(result.objective)
    ax.set_title(f"{result.objective} per trial")
    ax.legend(fontsize=8)
    for ax, name in zip(axes[1:], names):
        values = [t.params[name] for t in trials]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            ax.scatter(values, scores)
            if min(values) > 0 and max(values) / max(min(values), 1e-300) > 100:
                ax.set_xscale("log")
        else:
            labels = sorted({str(v) for v in values})
            ax.scatter([labels.index(str(v)) for v in values], scores)
            ax.set_xticks(range(len(labels)), labels)
        ax.set_xlabel(name)
        ax.set_ylabel(result.objective)
        ax.set_title(name)
    for ax in axes[1 + len(names):]:
        ax.set_visible(False)
    _save(fig, path)
    return fig


def plot_groups(report, path: Optional[Union[str, os.PathLike]] = None):
    """A GroupReport (``pydl.metrics.by_group``): one panel per metric, a bar per group and the
    overall value as a dashed line, so a group that trails stands out."""
    groups = [str(g) for g in report.by_group]
    ncols = min(4, len(report.metrics))
    nrows = math.ceil(len(report.metrics) / ncols)
    fig = _new_figure(figsize=(max(3.2, 0.45 * len(groups) + 1.6) * ncols, 3.0 * nrows))
    axes = fig.subplots(nrows, ncols, squeeze=False).ravel()
    for ax, metric in zip(axes, report.metrics):
        ax.bar(range(len(groups)), [report.by_group[g][metric] for g in report.by_group], color="C0")
        ax.axhline(report.overall[metric], color="C1", linestyle="--", label="overall")
        ax.set_xticks(range(len(groups)), groups, rotation=45 if max(map(len, groups)) > 3 else 0)
        ax.set_title(metric)
        ax.set_xlabel("group")
        ax.legend(fontsize=8)
    for ax in axes[len(report.metrics):]:
        ax.set_visible(False)
    _save(fig, path)
    return fig
