"""``check``: look at the data before training. Class balance, duplicates and conflicting
labels, train/test leakage, constant features, non-finite values, and whether the test set is
drawn like the training set (per-feature Kolmogorov-Smirnov tests with a multiple-testing
correction, a chi-square test of the class proportions).

Tabular data (x of shape (n, features)) is checked per sample and per feature; images and
sequences (x of shape (n, ...) with more axes) per sample: duplicates, leaks, non-finite
values. The statistics come from scipy; the warnings say what was found, with the numbers,
and what to do about it.
"""
from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from .. import _validate
from .duplicates import duplicate_groups, find_leaks
from .quality_report import DataReport, _few

__all__ = ["check", "DataReport"]

CORRECTIONS = ("holm", "bonferroni", "bh")
_FIRST_POSITIONS = 5  # non-finite positions listed in the report


def _samples(x, name: str) -> Tuple[np.ndarray, Tuple[int, ...], Optional[List[str]]]:
    """(rows: float64 (n, values per sample), the sample shape, column names of a data frame)."""
    columns = [str(c) for c in x.columns] if hasattr(x, "columns") else None
    arr = np.asarray(x)
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"check: {name} must be numeric, got dtype {arr.dtype}")
    if arr.ndim == 0:
        raise ValueError(f"check: {name} must be an array of samples (n, ...), got a scalar")
    if arr.shape[0] == 0:
        raise ValueError(f"check: {name} is empty: at least 1 sample is required")
    if arr.ndim == 1:
        arr = arr[:, None]
    return arr.reshape(len(arr), -1).astype(np.float64), tuple(arr.shape[1:]), columns


def _labels(y, n: int, name: str, x_name: str) -> Tuple[np.ndarray, bool]:
    """(labels as a 1-D array, whether they are discrete classes); one-hot rows become class ids."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim == 2 and y.shape[1] > 1:
        if y.dtype.kind not in "biuf" or not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise ValueError(f"check: {name} of shape {y.shape} must be one-hot rows or a 1-D array of labels")
        y = y.argmax(axis=1)
    if y.ndim != 1:
        raise ValueError(f"check: {name} must be a 1-D array of labels (or one-hot rows), got shape {y.shape}")
    if len(y) != n:
        raise ValueError(f"check: {x_name} and {name} have different lengths ({n} samples, {len(y)} labels)")
    if y.dtype.kind == "c":
        raise TypeError(f"check: {name}: complex labels are not supported")
    if y.dtype.kind == "f":
        if not np.isfinite(y).all():
            raise ValueError(f"check: {name} holds NaN or infinity; every sample needs a finite label")
        if np.all(y == np.round(y)):
            return y.astype(np.int64), True
        return y, False
    return y, True


def _count(y: np.ndarray) -> dict:
    values, counts = np.unique(y, return_counts=True)
    return {v.item() if isinstance(v, np.generic) else v: int(c) for v, c in zip(values, counts)}


def _nonfinite(rows: np.ndarray, shape: Tuple[int, ...]) -> dict:
    bad = ~np.isfinite(rows)
    count = int(bad.sum())
    first = []
    if count:
        flat = np.flatnonzero(bad.ravel())[:_FIRST_POSITIONS]
        first = [[int(v) for v in np.unravel_index(int(k), (len(rows),) + (shape or (1,)))] for k in flat]
    return {"count": count, "first": first}


def _adjust(p: np.ndarray, method: str) -> np.ndarray:
    """p-values corrected for testing every feature: Holm (family-wise error, the default),
    Bonferroni, or Benjamini-Hochberg (false discovery rate, through scipy)."""
    m = len(p)
    if method == "bonferroni":
        return np.minimum(p * m, 1.0)
    if method == "bh":
        from scipy.stats import false_discovery_control

        return false_discovery_control(p, method="bh")
    order = np.argsort(p, kind="stable")  # Holm's step-down: (m - k) p_(k), kept monotone
    stepped = np.maximum.accumulate(np.minimum((m - np.arange(m)) * p[order], 1.0))
    out = np.empty(m)
    out[order] = stepped
    return out


def _feature_shift(train: np.ndarray, test: np.ndarray, method: str, alpha: float) -> List[dict]:
    from scipy.stats import ks_2samp

    out = []
    finite = np.isfinite(train).all() and np.isfinite(test).all()
    if finite:  # one vectorised call; per column only where NaNs must be dropped column by column
        r = ks_2samp(train, test, axis=0)
        stats, pvalues = np.atleast_1d(r.statistic), np.atleast_1d(r.pvalue)
    for j in range(train.shape[1]):
        a, b = train[:, j], test[:, j]
        if not finite:
            a, b = a[np.isfinite(a)], b[np.isfinite(b)]
        if len(a) == 0 or len(b) == 0:
            out.append({"feature": j, "statistic": float("nan"), "p_value": float("nan")})
            continue
        stat, p = (stats[j], pvalues[j]) if finite else ks_2samp(a, b)[:2]
        out.append({"feature": j, "statistic": float(stat), "p_value": float(p),
                    "train_mean": float(a.mean()), "test_mean": float(b.mean()), "train_std": float(a.std())})
    tested = [s for s in out if np.isfinite(s["p_value"])]
    adjusted: Any = _adjust(np.array([s["p_value"] for s in tested]), method) if tested else []
    for s, q in zip(tested, adjusted):
        s["p_adjusted"] = float(q)
    for s in out:
        s.setdefault("p_adjusted", float("nan"))
        s["shifted"] = bool(s["p_adjusted"] < alpha)
    return out


def _label_shift(y: np.ndarray, y_test: np.ndarray, discrete: bool) -> Optional[dict]:
    from scipy.stats import chi2_contingency, ks_2samp

    if not discrete:
        r = ks_2samp(y, y_test)
        return {"test": "ks", "statistic": float(r.statistic), "p_value": float(r.pvalue)}
    try:
        classes = np.unique(np.concatenate([y, y_test]))
    except TypeError:
        raise ValueError("check: y and y_test hold labels of different kinds (e.g. strings and numbers)") from None
    if len(classes) < 2:
        return None
    table = np.array([[np.sum(y == c) for c in classes], [np.sum(y_test == c) for c in classes]])
    # Pearson's chi-square of the 2 x classes table (no continuity correction, also for 2 classes).
    r = chi2_contingency(table, correction=False)
    proportions = {(c.item() if isinstance(c, np.generic) else c): [float(table[0, k] / table[0].sum()),
                                                                   float(table[1, k] / table[1].sum())]
                   for k, c in enumerate(classes)}
    return {"test": "chi-square", "statistic": float(r.statistic), "p_value": float(r.pvalue), "dof": int(r.dof),
            "proportions": proportions}


def check(x, y=None, *, x_test=None, y_test=None, alpha: float = 0.05, correction: str = "holm",
          leak_tol: float = 0.05, max_samples: int = 10_000, max_imbalance: float = 3.0,
          seed: int = 0) -> DataReport:
    """Check a data set (and its test set) before training; returns a :class:`DataReport`.

    ``x`` holds samples along the first axis: (n, features) is tabular data, checked per sample
    and per feature; more axes (images, sequences) are checked per sample. ``y`` (class labels,
    one-hot rows or a continuous target) and the test set ``x_test`` / ``y_test`` are optional;
    what needs them is skipped without them.

    ``alpha``: the significance level of the shift tests; ``correction``: how the per-feature
    p-values are corrected for testing every feature ("holm": the chance that any unshifted
    feature is flagged is at most ``alpha``; "bonferroni"; "bh": Benjamini-Hochberg, the expected
    share of false flags among the flagged is at most ``alpha``). ``leak_tol``: near-identical
    means a root-mean-square difference per feature of at most this many standard deviations
    (and at most half the distance between any two sampled training samples, see
    :mod:`pydl.data.duplicates`). ``max_samples``: the near-duplicate search covers at most this
    many training and test samples (random samples beyond, and the report says so; exact copies
    are always found among all). ``max_imbalance``: warn when the largest class is more than this
    many times the smallest. ``seed``: the sampling of the near search.
    """
    alpha = _validate.number("check", "alpha", alpha, 0.0, 1.0, low_open=True, high_open=True)
    correction = _validate.choice("check", "correction", correction, CORRECTIONS)
    leak_tol = _validate.non_negative_float("check", "leak_tol", leak_tol)
    max_samples = _validate.integer("check", "max_samples", max_samples, minimum=2)
    max_imbalance = _validate.number("check", "max_imbalance", max_imbalance, 1.0)
    seed = _validate.non_negative_int("check", "seed", seed)
    rows, shape, columns = _samples(x, "x")
    kind = "tabular" if len(shape) <= 1 else "per-sample"
    report = DataReport(n_samples=len(rows), sample_shape=shape, kind=kind, feature_names=columns,
                        alpha=alpha, shift_correction=correction if x_test is not None else None)
    labels = discrete = None
    if y is not None:
        labels, discrete = _labels(y, len(rows), "y", "x")
    if y_test is not None and x_test is None:
        raise ValueError("check: y_test was given without x_test")
    if y_test is not None and y is None:
        raise ValueError("check: y_test was given without y; give the training labels too")
    if x_test is not None:  # every input is checked before the work starts
        test, test_shape, test_columns = _samples(x_test, "x_test")
        if test_shape != shape:
            raise ValueError(f"check: x_test has {_shape_words(test_shape, kind)}, but x has "
                             f"{_shape_words(shape, kind)}: the test set must hold the same features as the training set")
        if columns is not None and test_columns is not None and columns != test_columns:
            raise ValueError(f"check: x_test has other columns than x ({_few(test_columns)} vs {_few(columns)})")
        if y_test is not None:
            test_labels, test_discrete = _labels(y_test, len(test), "y_test", "x_test")
            if test_discrete != discrete:
                raise ValueError("check: y holds class labels and y_test a continuous target (or the reverse)")
    report.nonfinite["x"] = _nonfinite(rows, shape)
    report.duplicates = duplicate_groups(rows)
    if labels is not None:
        report.conflicting_duplicates = [g for g in report.duplicates if len(np.unique(labels[g])) > 1]
        if discrete:
            report.class_counts = _count(labels)
            counts = list(report.class_counts.values())
            report.imbalance_ratio = max(counts) / min(counts)
    if kind == "tabular":
        finite = np.isfinite(rows)
        low = np.where(finite, rows, np.inf).min(axis=0)
        high = np.where(finite, rows, -np.inf).max(axis=0)
        report.constant_features = np.flatnonzero(~(high > low)).tolist()  # one finite value, or none

    if x_test is not None:
        report.n_test = len(test)
        report.nonfinite["x_test"] = _nonfinite(test, shape)
        report.leaks, report.leak_distances, report.leak_search = find_leaks(
            rows, test, per_feature=kind == "tabular", tol=leak_tol, max_samples=max_samples,
            rng=np.random.default_rng(seed))
        if kind == "tabular":
            report.shift = _feature_shift(rows, test, correction, alpha)
        if y_test is not None:
            if discrete:
                report.test_class_counts = _count(test_labels)
            report.label_shift = _label_shift(labels, test_labels, discrete)
    report.warnings = _warnings(report, max_imbalance)
    report.notes = _notes(report)
    return report


def _shape_words(shape: Tuple[int, ...], kind: str) -> str:
    if kind == "tabular":
        return f"{shape[0] if shape else 1} features"
    return f"samples of shape {shape}"


def _warnings(r: DataReport, max_imbalance: float) -> List[str]:
    out = []
    for where, nf in r.nonfinite.items():
        if nf["count"]:
            out.append(f"{where} holds {nf['count']:,} NaN or infinite values (first at {_position(nf['first'][0])}): "
                       "impute or drop them before training; pydl refuses non-finite inputs")
    if r.leaks:
        exact = sum(1 for d in r.leak_distances if d == 0.0)
        i, j = r.leaks[0]
        near = len(r.leaks) - exact
        found = f"{exact:,} test samples are identical to training samples" if exact else ""
        if near:
            found += (" and " if exact else "") + (f"{near:,} test samples are within "
                                                   f"{r.leak_search['radius']:.2g} sd (RMS) of one")
        out.append(f"{found} (e.g. test sample {j} and training sample {i}), {len(r.leaks) / r.n_test:.1%} of "
                   "the test set: the test score will be optimistic; drop them from the test set, or split by "
                   "source (one person, patient or session all on one side)")
    if r.conflicting_duplicates:
        g = r.conflicting_duplicates[0]
        out.append(f"{len(r.conflicting_duplicates):,} groups of identical samples have different labels (e.g. "
                   f"samples {_few(g, 4)}): fix those labels or drop the copies; no model can fit both")
    if r.duplicates:
        extra = sum(len(g) for g in r.duplicates) - len(r.duplicates)
        out.append(f"{extra:,} samples of {r.n_samples:,} are exact copies of others ({len(r.duplicates):,} groups, "
                   f"e.g. samples {_few(r.duplicates[0], 4)}): drop the copies (keep one of each), or keep each "
                   "group on one side of every train/validation split so the copies do not inflate the score")
    if r.constant_features:
        names = _few([r.feature_name(j).replace("feature ", "") for j in r.constant_features])
        out.append(f"{len(r.constant_features):,} of {r.sample_shape[0] if r.sample_shape else 1:,} features are "
                   f"constant in x ({names}): they carry no information; drop them")
    if r.class_counts is not None and r.imbalance_ratio > max_imbalance:
        small = min(r.class_counts, key=r.class_counts.get)
        out.append(f"class {small!r} has {r.class_counts[small]:,} of {r.n_samples:,} samples (imbalance "
                   f"{r.imbalance_ratio:.1f}x): use class_weight='balanced' or pydl.data.RandomOverSampler")
    if r.class_counts is not None:
        single = [c for c, k in r.class_counts.items() if k < 2]
        if single:
            out.append(f"class{'es' if len(single) > 1 else ''} {_few(single)} "
                       f"{'have' if len(single) > 1 else 'has'} a single sample: a stratified split or "
                       "cross-validation needs at least 2 per class; collect more or drop the class")
    if r.test_class_counts is not None and r.class_counts is not None:
        unseen = [c for c in r.test_class_counts if c not in r.class_counts]
        if unseen:
            out.append(f"class{'es' if len(unseen) > 1 else ''} {_few(unseen)} appear{'' if len(unseen) > 1 else 's'} "
                       "in the test set but not in training: the model cannot predict them; re-split the data")
    ls = r.label_shift
    if ls is not None and ls["p_value"] < r.alpha:
        if ls["test"] == "chi-square":
            c, (p_tr, p_te) = max(ls["proportions"].items(), key=lambda kv: abs(kv[1][0] - kv[1][1]))
            out.append(f"class proportions differ between training and test (chi-square {ls['statistic']:.3g}, "
                       f"dof {ls['dof']}, p={ls['p_value']:.2g}; class {c!r}: {p_tr:.1%} of training, {p_te:.1%} "
                       "of test): split with train_test_split(..., stratify=True), or expect other class "
                       "frequencies in deployment")
        else:
            out.append(f"the target is distributed differently in training and test (KS {ls['statistic']:.3g}, "
                       f"p={ls['p_value']:.2g}): split at random, or expect a lower score in deployment")
    flagged = [s for s in r.shift or [] if s["shifted"]]
    if flagged:
        s = max(flagged, key=lambda s: s["statistic"])
        sd = (s["test_mean"] - s["train_mean"]) / s["train_std"] if s["train_std"] > 0 else float("inf")
        head = (f"{len(flagged)} of {len(r.shift)} features are" if len(flagged) > 1 else "1 feature is")
        out.append(f"{head} distributed differently in the test set ({r.shift_correction}-corrected p < {r.alpha:g}), "
                   f"most of all {r.feature_name(s['feature'])} (KS {s['statistic']:.3g}, p={s['p_adjusted']:.2g}; "
                   f"mean {s['train_mean']:.3g} in training, {s['test_mean']:.3g} in test, {sd:+.2f} sd): the test set "
                   "is not drawn like the training set; split at random, or expect a lower score in deployment")
    return out


def _position(p: List[int]) -> str:
    return f"sample {p[0]}" + (f", position {tuple(p[1:])}" if len(p) > 2 else f", feature {p[1]}")


def _notes(r: DataReport) -> List[str]:
    out = []
    s = r.leak_search
    if s is not None and s["sampled"]:
        out.append(f"near-duplicate search sampled {s['train_searched']:,} of {s['train_total']:,} training and "
                   f"{s['test_searched']:,} of {s['test_total']:,} test samples (max_samples) to bound its time; "
                   "near copies outside the sample may be missed (identical copies were searched among all)")
    if s is not None and s["capped"]:
        out.append(f"near copies were searched within {s['radius']:.3g} sd (RMS), less than leak_tol={s['tol']:g}: "
                   "distinct training samples lie that close to each other, so anything farther is no evidence "
                   "of a copy")
    if r.n_test is not None and r.kind != "tabular":
        out.append("feature shift is tested for tabular data only (x of shape (n, features))")
    return out
