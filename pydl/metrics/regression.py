"""Regression metrics: mean squared error, mean absolute error and R^2, with
scikit-learn's ``multioutput`` options."""
from __future__ import annotations

import numpy as np

from . import _utils as _u

__all__ = ["mse", "mae", "r2"]


def mse(y_true, y_pred, multioutput="uniform_average"):
    """Mean squared error (per output averaged as ``multioutput`` says)."""
    y_true, y_pred, multioutput = _u.reg_targets(y_true, y_pred, multioutput,
                                                 ("raw_values", "uniform_average"))
    return _u.combine_outputs(np.mean((y_true - y_pred) ** 2, axis=0), multioutput)


def mae(y_true, y_pred, multioutput="uniform_average"):
    """Mean absolute error (per output averaged as ``multioutput`` says)."""
    y_true, y_pred, multioutput = _u.reg_targets(y_true, y_pred, multioutput,
                                                 ("raw_values", "uniform_average"))
    return _u.combine_outputs(np.mean(np.abs(y_pred - y_true), axis=0), multioutput)


def r2(y_true, y_pred, multioutput="uniform_average", force_finite: bool = True):
    """Coefficient of determination 1 - SS_res / SS_tot, like ``sklearn.metrics.r2_score``.

    Constant y_true (SS_tot = 0): 1.0 for perfect predictions, else 0.0 with
    ``force_finite`` (NaN / -inf without). Fewer than two samples: NaN and an
    :class:`UndefinedMetricWarning`."""
    y_true, y_pred, multioutput = _u.reg_targets(
        y_true, y_pred, multioutput, ("raw_values", "uniform_average", "variance_weighted"))
    if y_true.shape[0] < 2:
        _u.warn("R^2 score is not well-defined with less than two samples.")
        return float("nan")
    residual = np.sum((y_true - y_pred) ** 2, axis=0)
    total = np.sum((y_true - np.mean(y_true, axis=0)) ** 2, axis=0)
    if force_finite:
        scores = np.ones(y_true.shape[1], dtype=residual.dtype)
        ok = (total != 0) & (residual != 0)
        scores[ok] = 1 - residual[ok] / total[ok]
        scores[(residual != 0) & (total == 0)] = 0.0
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            scores = 1 - residual / total
    return _u.combine_outputs(scores, multioutput, total)
