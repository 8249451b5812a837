"""Imbalanced classification: resamplers (``fit_resample(x, y) -> (x_res, y_res)``) and
class weights.

``RandomOverSampler`` and ``SMOTE`` add minority samples, ``RandomUnderSampler`` drops
majority ones. Their class counts follow imbalanced-learn's for the same
``sampling_strategy``; the random draws come from ``numpy.random.default_rng(seed)`` and
are reproducible for a given seed. ``compute_class_weight`` reweights instead of
resampling (``fit(..., class_weight=...)``).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

from .. import _validate

__all__ = ["RandomOverSampler", "RandomUnderSampler", "SMOTE", "compute_class_weight"]


def _check_xy(x, y, name: str) -> Tuple[np.ndarray, np.ndarray]:
    """x as an array with a leading sample axis; y as matching 1-D integer labels."""
    try:
        x = np.asarray(x)
        y = np.asarray(y)
    except Exception as e:  # ragged nested lists
        raise TypeError(f"{name}: x and y must be arrays ({e})") from None
    if x.ndim == 0:
        raise TypeError(f"{name}: x must have a leading sample axis, got a scalar")
    if y.ndim != 1:
        raise ValueError(f"{name}: y must be 1-D class labels, got shape {y.shape}")
    if len(x) != len(y):
        raise ValueError(f"{name}: x and y have different lengths: {len(x)} samples vs {len(y)} labels")
    if len(y) == 0:
        raise ValueError(f"{name}: the data is empty (0 samples)")
    # Labels must be whole numbers; float labels are accepted when integral (e.g. 0.0 / 1.0).
    if np.issubdtype(y.dtype, np.floating):
        if not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
            raise ValueError(f"{name}: y must hold integer class labels, got non-integral floats")
    elif not (np.issubdtype(y.dtype, np.integer) or y.dtype == np.bool_):
        raise TypeError(f"{name}: y must hold integer class labels, got dtype {y.dtype}")
    return x, y


def _check_strategy(strategy) -> None:
    """Refuse a bad sampling_strategy when the sampler is built, not at fit time."""
    if isinstance(strategy, str):
        if strategy != "auto":
            raise ValueError(f"sampling_strategy: expected 'auto' or a dict {{class: count}}, got {strategy!r}")
    elif not isinstance(strategy, dict):
        raise TypeError("sampling_strategy: expected 'auto' or a dict {class: count}, "
                        f"got {type(strategy).__name__}")


def _targets(strategy, classes: np.ndarray, counts: np.ndarray, over: bool) -> Dict:
    """Target count for each class: ``"auto"`` balances to the majority (over) or minority
    (under) count; a dict sets targets for the classes it names (the others keep theirs)."""
    if isinstance(strategy, str):
        level = counts.max() if over else counts.min()
        return {c: int(level) for c in classes.tolist()}
    targets = {c: int(n) for c, n in zip(classes.tolist(), counts)}
    for cls, want in strategy.items():
        if cls not in targets:
            raise ValueError(f"sampling_strategy: class {cls!r} is not present in y "
                             f"(classes: {classes.tolist()})")
        want = _validate.non_negative_int("sampling_strategy", f"the target for class {cls!r}", want)
        have = targets[cls]
        if over and want < have:
            raise ValueError(f"sampling_strategy: over-sampling cannot shrink class {cls!r} "
                             f"from {have} to {want} samples")
        if not over and want > have:
            raise ValueError(f"sampling_strategy: under-sampling cannot grow class {cls!r} "
                             f"from {have} to {want} samples")
        targets[cls] = int(want)
    return targets


class _Sampler:
    def __init__(self, sampling_strategy="auto", seed: Optional[int] = None):
        _check_strategy(sampling_strategy)
        self.sampling_strategy = sampling_strategy
        self.seed = _validate.optional_int(type(self).__name__, "seed", seed, minimum=0)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(sampling_strategy={self.sampling_strategy!r}, seed={self.seed!r})"


class RandomOverSampler(_Sampler):
    """Balance classes by duplicating randomly chosen samples (with replacement).

    ``sampling_strategy="auto"`` raises every class to the majority count; a dict
    ``{class: count}`` sets the wanted total of the classes it names. ``x`` may have any
    shape with a leading sample axis. The output holds all originals first, in their order,
    then the added copies; ``sample_indices_`` gives the input row of every output row.
    """

    def fit_resample(self, x, y) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(x_res, y_res)`` with the minority classes over-sampled."""
        x, y = _check_xy(x, y, "RandomOverSampler")
        rng = np.random.default_rng(self.seed)
        classes, counts = np.unique(y, return_counts=True)
        targets = _targets(self.sampling_strategy, classes, counts, over=True)
        added = [rng.choice(np.flatnonzero(y == c), size=targets[c] - n, replace=True)
                 for c, n in zip(classes.tolist(), counts)]
        self.sample_indices_ = np.concatenate([np.arange(len(y))] + added).astype(np.int64)
        return x[self.sample_indices_], y[self.sample_indices_]


class RandomUnderSampler(_Sampler):
    """Balance classes by keeping a random subset of each class (without replacement).

    ``sampling_strategy="auto"`` lowers every class to the minority count; a dict
    ``{class: count}`` sets the wanted count of the classes it names. Kept samples stay in
    their original relative order; ``sample_indices_`` gives their input rows.
    """

    def fit_resample(self, x, y) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(x_res, y_res)`` with the majority classes under-sampled."""
        x, y = _check_xy(x, y, "RandomUnderSampler")
        rng = np.random.default_rng(self.seed)
        classes, counts = np.unique(y, return_counts=True)
        targets = _targets(self.sampling_strategy, classes, counts, over=False)
        kept = [rng.choice(np.flatnonzero(y == c), size=targets[c], replace=False)
                for c in classes.tolist()]
        self.sample_indices_ = np.sort(np.concatenate(kept)).astype(np.int64)
        return x[self.sample_indices_], y[self.sample_indices_]


def _nearest_neighbors(points: np.ndarray, k: int, chunk_elems: int = 1 << 22) -> np.ndarray:
    """Indices (m, k) of each point's k nearest other points (Euclidean), nearest first.

    Squared distances come from |a|^2 + |b|^2 - 2 a.b (one matrix product per chunk of
    rows); rows are processed in chunks so memory stays near ``chunk_elems`` floats.
    """
    m = len(points)
    sq = np.einsum("ij,ij->i", points, points)
    out = np.empty((m, k), dtype=np.int64)
    rows = max(1, chunk_elems // max(m, 1))
    for start in range(0, m, rows):
        stop = min(start + rows, m)
        d2 = sq[start:stop, None] + sq[None, :] - 2.0 * points[start:stop] @ points.T
        d2[np.arange(stop - start), np.arange(start, stop)] = np.inf  # a point is not its own neighbour
        part = np.argpartition(d2, k - 1, axis=1)[:, :k]
        order = np.argsort(np.take_along_axis(d2, part, axis=1), axis=1, kind="stable")
        out[start:stop] = np.take_along_axis(part, order, axis=1)
    return out


class SMOTE(_Sampler):
    """Synthetic Minority Over-sampling TEchnique for 2-D tabular features.

    Each synthetic sample of class ``c`` picks a random member ``x_i`` of ``c``, one of its
    ``k_neighbors`` nearest neighbours ``x_j`` within ``c`` (Euclidean, itself excluded) and
    a gap ``u ~ U[0, 1)``, and is ``x_i + u * (x_j - x_i)``. ``sampling_strategy`` works as
    in ``RandomOverSampler``. A class that gets synthetic samples needs at least
    ``k_neighbors + 1`` members. The output holds the originals first, then the synthetic
    samples class by class; its dtype is x's float dtype (float64 for integer x).
    """

    def __init__(self, k_neighbors: int = 5, sampling_strategy="auto", seed: Optional[int] = None):
        self.k_neighbors = _validate.positive_int("SMOTE", "k_neighbors", k_neighbors)
        super().__init__(sampling_strategy, seed)

    def __repr__(self) -> str:
        return (f"SMOTE(k_neighbors={self.k_neighbors}, sampling_strategy={self.sampling_strategy!r}, "
                f"seed={self.seed!r})")

    def fit_resample(self, x, y) -> Tuple[np.ndarray, np.ndarray]:
        """Return ``(x_res, y_res)`` with synthetic samples added to the minority classes."""
        x, y = _check_xy(x, y, "SMOTE")
        if x.ndim != 2:
            raise ValueError(f"SMOTE: x must be 2-D (samples, features), got shape {x.shape}")
        if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_) or np.iscomplexobj(x):
            raise TypeError(f"SMOTE: x must hold real numbers, got dtype {x.dtype}")
        if not np.all(np.isfinite(x)):
            raise ValueError("SMOTE: x contains NaN or infinity; clean or impute the data first")
        out_dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
        k = self.k_neighbors
        rng = np.random.default_rng(self.seed)
        classes, counts = np.unique(y, return_counts=True)
        targets = _targets(self.sampling_strategy, classes, counts, over=True)
        new_x, new_y = [], []
        for c, n in zip(classes.tolist(), counts):
            need = targets[c] - int(n)
            if need == 0:
                continue  # classes left as they are need no neighbours
            if n < k + 1:
                raise ValueError(f"SMOTE: class {c} has {n} samples; k_neighbors={k} needs at least {k + 1}")
            members = x[y == c].astype(np.float64)  # distances and gaps in float64
            neighbors = _nearest_neighbors(members, k)
            base = rng.integers(0, n, size=need)
            other = neighbors[base, rng.integers(0, k, size=need)]
            gap = rng.random(need)[:, None]
            new_x.append((members[base] + gap * (members[other] - members[base])).astype(out_dtype))
            new_y.append(np.full(need, y[y == c][0], dtype=y.dtype))
        x_res = np.concatenate([x.astype(out_dtype, copy=False)] + new_x)
        y_res = np.concatenate([y] + new_y)
        return x_res, y_res


def compute_class_weight(class_weight: Union[str, Dict[int, float]], y, num_classes: Optional[int] = None) -> np.ndarray:
    """Per-class weights as an array indexed by class id.

    ``"balanced"`` gives ``n_samples / (n_classes * count_c)`` (scikit-learn's formula);
    a dict maps class ids to weights (missing classes weigh 1).
    """
    y = np.asarray(y).astype(np.int64).ravel()
    if num_classes is None:
        num_classes = int(y.max()) + 1 if y.size else 0
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(f"class_weight: expected 'balanced' or a dict, got {class_weight!r}")
        counts = np.bincount(y, minlength=num_classes).astype(np.float64)
        present = counts > 0
        w = np.ones(num_classes)
        w[present] = len(y) / (present.sum() * counts[present])
        return w
    if isinstance(class_weight, dict):
        w = np.ones(num_classes)
        for k, v in class_weight.items():
            k = _validate.integer("class_weight", "a class id", k)
            if not 0 <= k < num_classes:
                raise ValueError(f"class_weight: class {k!r} is out of range [0, {num_classes - 1}]")
            w[k] = _validate.non_negative_float("class_weight", f"the weight of class {k}", v)
        return w
    raise TypeError(f"class_weight: expected 'balanced' or a dict, got {type(class_weight).__name__}")
