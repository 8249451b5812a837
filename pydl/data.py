"""Data utilities: stratified train/test split and class weights."""
from __future__ import annotations

from typing import Dict, Optional, Tuple, Union

import numpy as np

__all__ = ["train_test_split", "compute_class_weight", "Dataset", "ArrayDataset", "DataLoader", "KFold",
           "StratifiedKFold", "RandomOverSampler", "RandomUnderSampler", "SMOTE"]


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
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"test_size: expected a fraction in (0, 1), got {test_size!r}")
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
            if not 0 <= int(k) < num_classes:
                raise ValueError(f"class_weight: class {k!r} is out of range [0, {num_classes - 1}]")
            w[int(k)] = float(v)
        return w
    raise TypeError(f"class_weight: expected 'balanced' or a dict, got {type(class_weight).__name__}")


# pydl.data gathers the data-side API; each concept lives in its own module.
from .loader import ArrayDataset, DataLoader, Dataset  # noqa: E402
from .resampling import SMOTE, RandomOverSampler, RandomUnderSampler  # noqa: E402
from .splits import KFold, StratifiedKFold  # noqa: E402
