"""Splitting data: ``train_test_split`` (stratified by default) and the cross-validation
splitters ``KFold`` and ``StratifiedKFold`` (scikit-learn-like).

The splitters yield ``(train_idx, test_idx)`` pairs of sorted int64 index arrays. Without shuffling
they give exactly the folds of ``sklearn.model_selection.KFold`` / ``StratifiedKFold``
(scikit-learn >= 1.2); shuffled folds come from ``numpy.random.default_rng(seed)`` and so
differ from scikit-learn's, but are reproducible for a given seed (``seed`` is ignored
when ``shuffle`` is False).
"""
from __future__ import annotations

import warnings
from typing import Iterator, Optional, Tuple

import numpy as np

from .. import _validate

__all__ = ["train_test_split", "KFold", "StratifiedKFold"]


def train_test_split(x, y, test_size: float = 0.25, stratify: bool = True,
                     seed: Optional[int] = 0) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split arrays into ``x_train, x_test, y_train, y_test``.

    With ``stratify`` (the default) each class keeps its proportion in both parts; each
    class contributes ``round(test_size * count)`` samples to the test set.
    """
    x = np.asarray(x)
    y = np.asarray(y)
    n = len(x)
    if n != len(y):
        raise ValueError(f"x and y have different lengths: {n} vs {len(y)}")
    test_size = _validate.number("train_test_split", "test_size", test_size, 0.0, 1.0, low_open=True,
                                 high_open=True)
    stratify = _validate.boolean("train_test_split", "stratify", stratify)
    rng = np.random.default_rng(seed)
    if stratify:
        test_idx = []
        for cls in np.unique(y):
            members = np.flatnonzero(y == cls)
            rng.shuffle(members)
            test_idx.append(members[: int(round(test_size * len(members)))])
        test = np.sort(np.concatenate(test_idx))
    else:
        test = np.sort(rng.permutation(n)[: int(round(test_size * n))])
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    if mask.all() or not mask.any():
        raise ValueError(f"test_size={test_size} leaves one side of the split empty for {n} samples")
    train = np.flatnonzero(~mask)
    train = train[rng.permutation(len(train))]
    return x[train], x[test], y[train], y[test]


def _num_samples(x, what: str = "x") -> int:
    """Length of the leading (sample) axis of x, refusing scalars and empty data."""
    try:
        shape = np.shape(x)
    except Exception as e:  # ragged nested lists
        raise TypeError(f"{what}: expected an array with a leading sample axis ({e})") from None
    if len(shape) == 0:
        raise TypeError(f"{what}: expected an array with a leading sample axis, got a scalar")
    if shape[0] == 0:
        raise ValueError(f"{what}: the data is empty (0 samples)")
    return int(shape[0])


class _BaseKFold:
    """Shared argument checks and the split loop; subclasses assign a fold to every sample."""

    def __init__(self, n_splits: int = 5, shuffle: bool = False, seed: Optional[int] = None):
        name = type(self).__name__
        self.n_splits = _validate.integer(name, "n_splits", n_splits, minimum=2)
        self.shuffle = _validate.boolean(name, "shuffle", shuffle)
        self.seed = _validate.optional_int(name, "seed", seed, minimum=0)

    def get_n_splits(self, x=None, y=None) -> int:
        """Number of (train, test) pairs that ``split`` yields."""
        return int(self.n_splits)

    def split(self, x, y=None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` for each fold; both sorted, together all samples."""
        n = _num_samples(x)
        if y is not None:
            n_y = _num_samples(y, "y")
            if n_y != n:
                raise ValueError(f"x and y have different lengths: {n} samples vs {n_y} labels")
        if self.n_splits > n:
            raise ValueError(f"{type(self).__name__}: n_splits={self.n_splits} is greater than "
                             f"the number of samples ({n})")
        folds = self._test_folds(n, y)
        for k in range(self.n_splits):
            in_test = folds == k
            yield np.flatnonzero(~in_test), np.flatnonzero(in_test)

    def _test_folds(self, n: int, y) -> np.ndarray:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}(n_splits={self.n_splits}, shuffle={self.shuffle}, seed={self.seed})"


class KFold(_BaseKFold):
    """K-fold cross-validation: ``n_splits`` consecutive folds (after an optional shuffle).

    The first ``n % n_splits`` folds hold one extra sample, as in scikit-learn. ``y`` is
    accepted (and checked for length) but not used.

    Example::

        for train, test in KFold(5, shuffle=True, seed=0).split(x):
            model.fit(x[train], y[train]); model.evaluate(x[test], y[test])
    """

    def _test_folds(self, n: int, y) -> np.ndarray:
        order = np.random.default_rng(self.seed).permutation(n) if self.shuffle else np.arange(n)
        sizes = np.full(self.n_splits, n // self.n_splits)
        sizes[: n % self.n_splits] += 1
        folds = np.empty(n, dtype=np.int64)
        # Consecutive blocks of `order` form the folds.
        folds[order] = np.repeat(np.arange(self.n_splits), sizes)
        return folds


class StratifiedKFold(_BaseKFold):
    """K-fold cross-validation that keeps each class's proportion in every test fold.

    A class of ``m`` members puts ``floor(m / n_splits)`` or ``ceil(m / n_splits)`` of them
    in each test fold. Without shuffling the folds equal scikit-learn's (>= 1.2): each class
    fills the folds in blocks, keeping the data's order; with ``shuffle`` the fold of each
    sample within its class is permuted by ``default_rng(seed)``.

    A class with fewer members than ``n_splits`` triggers a warning (it must be missing
    from some test folds); if every class is that small, ``split`` raises ValueError.
    """

    def split(self, x, y=None) -> Iterator[Tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_idx, test_idx)`` per fold; ``y`` (class labels, one per sample) is required."""
        if y is None:
            raise TypeError("StratifiedKFold.split: y (the class labels) is required")
        return super().split(x, y)

    def _test_folds(self, n: int, y) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim == 2 and y.shape[1] == 1:
            y = y[:, 0]
        if y.ndim != 1:
            raise ValueError(f"StratifiedKFold: y must be 1-D class labels, got shape {y.shape}")
        k = self.n_splits
        # Number classes by first appearance (not by value), as scikit-learn does: it decides
        # which class gets the extra member of a fold when counts don't divide evenly.
        classes, first, inverse = np.unique(y, return_index=True, return_inverse=True)
        appearance = np.argsort(np.argsort(first))
        codes = appearance[inverse.ravel()]
        counts = np.bincount(codes)
        by_appearance = classes[np.argsort(first)].tolist()  # plain Python values for messages
        if np.all(counts < k):
            big = int(np.argmax(counts))
            raise ValueError(f"StratifiedKFold: n_splits={k} is greater than the number of members "
                             f"of every class (largest: class {by_appearance[big]!r} with {counts[big]})")
        if counts.min() < k:
            small = int(np.argmin(counts))
            warnings.warn(f"StratifiedKFold: class {by_appearance[small]!r} has only {counts[small]} "
                          f"members, fewer than n_splits={k}; some test folds will lack it",
                          UserWarning, stacklevel=3)
        # How many of each class go to each fold: deal the class-sorted samples round-robin
        # over the folds (sample at sorted position p goes to fold p % k). This gives every
        # class floor/ceil shares and every fold a total size within one of the others.
        dealt = np.zeros((k, len(counts)), dtype=np.int64)
        np.add.at(dealt, (np.arange(n) % k, np.sort(codes)), 1)
        rng = np.random.default_rng(self.seed) if self.shuffle else None
        folds = np.empty(n, dtype=np.int64)
        for c in range(len(counts)):
            # Members of class c, in data order, fill fold 0 first, then fold 1, ...
            fold_of_member = np.repeat(np.arange(k), dealt[:, c])
            if rng is not None:
                rng.shuffle(fold_of_member)
            folds[codes == c] = fold_of_member
        return folds
