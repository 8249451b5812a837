"""KFold / StratifiedKFold: exact agreement with scikit-learn without shuffling, coverage,
stratification bounds, seeded reproducibility and argument errors."""
import warnings

import numpy as np
import pytest
from sklearn import model_selection as skms

from pydl.data import KFold, StratifiedKFold


def _assert_same_folds(ours, theirs):
    ours, theirs = list(ours), list(theirs)
    assert len(ours) == len(theirs)
    for (tr, te), (str_, ste) in zip(ours, theirs):
        np.testing.assert_array_equal(tr, str_)
        np.testing.assert_array_equal(te, ste)


def _assert_partition(folds, n):
    """Every sample is in exactly one test fold, and train is the complement of test."""
    seen = np.zeros(n, dtype=int)
    for tr, te in folds:
        assert tr.dtype.kind == "i" and te.dtype.kind == "i"
        assert len(np.intersect1d(tr, te)) == 0 and len(tr) + len(te) == n
        seen[te] += 1
    np.testing.assert_array_equal(seen, 1)


@pytest.mark.parametrize("n,k", [(10, 2), (10, 3), (17, 5), (5, 5), (101, 7)])
def test_kfold_matches_sklearn(n, k):
    x = np.zeros((n, 3))
    _assert_same_folds(KFold(k).split(x), skms.KFold(k).split(x))
    assert KFold(k).get_n_splits() == k


def test_kfold_first_folds_are_larger():
    sizes = [len(te) for _, te in KFold(4).split(np.arange(10))]
    assert sizes == [3, 3, 2, 2]


def test_kfold_shuffle_reproducible(rng):
    x = rng.standard_normal((53, 2))
    a = list(KFold(5, shuffle=True, seed=7).split(x))
    b = list(KFold(5, shuffle=True, seed=7).split(x))
    c = list(KFold(5, shuffle=True, seed=8).split(x))
    _assert_same_folds(a, b)
    _assert_partition(a, 53)
    assert any(not np.array_equal(p[1], q[1]) for p, q in zip(a, c))
    assert any(not np.array_equal(te, np.arange(len(te)) + te[0]) for _, te in a)  # really shuffled


def test_stratified_matches_sklearn_exactly(rng):
    # Random class mixes, including labels whose sorted order differs from their order of
    # first appearance (scikit-learn numbers classes by appearance).
    for _ in range(60):
        n = int(rng.integers(12, 80))
        k = int(rng.integers(2, 6))
        labels = rng.permutation(np.array([7, 2, 9, 4]))[: int(rng.integers(1, 5))]
        y = rng.choice(labels, size=n)
        if np.unique(y, return_counts=True)[1].max() < k:
            continue  # both libraries refuse this (tested below)
        x = np.zeros((n, 1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tiny classes warn in both libraries
            _assert_same_folds(StratifiedKFold(k).split(x, y), skms.StratifiedKFold(k).split(x, y))


def test_stratified_matches_sklearn_string_labels():
    y = np.array(list("cabbcacbbbacccab"))
    x = np.zeros(len(y))
    _assert_same_folds(StratifiedKFold(3).split(x, y), skms.StratifiedKFold(3).split(x, y))


@pytest.mark.parametrize("shuffle", [False, True])
def test_stratified_class_counts_within_one_of_ideal(rng, shuffle):
    y = np.repeat([0, 1, 2], [50, 23, 7])
    y = y[rng.permutation(len(y))]
    k = 5
    folds = list(StratifiedKFold(k, shuffle=shuffle, seed=3).split(np.zeros(len(y)), y))
    _assert_partition(folds, len(y))
    totals = np.bincount(y)
    for _, te in folds:
        per_class = np.bincount(y[te], minlength=3)
        assert np.all(np.abs(per_class - totals / k) < 1)


def test_stratified_shuffle_reproducible(rng):
    y = rng.integers(0, 3, size=60)
    x = np.zeros((60, 2))
    a = list(StratifiedKFold(4, shuffle=True, seed=11).split(x, y))
    _assert_same_folds(a, StratifiedKFold(4, shuffle=True, seed=11).split(x, y))
    unshuffled = list(StratifiedKFold(4).split(x, y))
    assert any(not np.array_equal(p[1], q[1]) for p, q in zip(a, unshuffled))


def test_stratified_small_class_warns_and_all_small_raises():
    y = np.array([0] * 10 + [1] * 2)
    with pytest.warns(UserWarning, match="class 1 has only 2 members"):
        folds = list(StratifiedKFold(3).split(np.zeros(12), y))
    _assert_partition(folds, 12)
    with pytest.raises(ValueError, match="n_splits=3 is greater than the number of members of every class"):
        list(StratifiedKFold(3).split(np.zeros(4), [0, 0, 1, 1]))


def test_stratified_needs_y():
    with pytest.raises(TypeError, match="y .*required"):
        list(StratifiedKFold(2).split(np.zeros(4)))
    with pytest.raises(ValueError, match="1-D"):
        list(StratifiedKFold(2).split(np.zeros(4), np.zeros((4, 2))))


@pytest.mark.parametrize("cls", [KFold, StratifiedKFold])
def test_split_input_errors(cls):
    y = np.array([0, 1, 0, 1])
    with pytest.raises(ValueError, match="n_splits=5 is greater than the number of samples \\(4\\)"):
        list(cls(5).split(np.zeros(4), y))
    with pytest.raises(ValueError, match="different lengths: 4 samples vs 3 labels"):
        list(cls(2).split(np.zeros(4), y[:3]))
    with pytest.raises(ValueError, match="empty"):
        list(cls(2).split(np.zeros((0, 2)), np.zeros(0)))
    with pytest.raises(TypeError, match="scalar"):
        list(cls(2).split(3.0, y))


@pytest.mark.parametrize("cls", [KFold, StratifiedKFold])
def test_constructor_validation(cls):
    s = cls(3, shuffle=True, seed=5)
    assert (s.n_splits, s.shuffle, s.seed) == (3, True, 5)
    assert cls().n_splits == 5 and cls().shuffle is False and cls().seed is None
    with pytest.raises(ValueError, match="expected n_splits to be an int >= 2, got 1"):
        cls(1)
    with pytest.raises(TypeError, match="expected n_splits to be an int"):
        cls(2.0)
    with pytest.raises(TypeError, match="expected n_splits to be an int"):
        cls(True)
    with pytest.raises(TypeError, match="expected shuffle to be True or False"):
        cls(3, shuffle="yes")
