"""pydl.data.find_label_issues: with 5% of digits labels flipped, the result equals cleanlab's
own on the same out-of-fold probabilities, and most flipped samples are found."""
import sys

import numpy as np
import pytest
from cleanlab.filter import find_label_issues as cleanlab_find_label_issues

import pydl
from pydl import layers


def build():
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"), layers.Dense(10)], seed=0)
    model.compile(optimizer=pydl.optimizers.Adam(learning_rate=3e-3), loss="cross_entropy")
    return model


@pytest.fixture(scope="module")
def noisy_digits():
    x, y = pydl.datasets.load_digits()
    rng = np.random.default_rng(0)
    flipped = rng.choice(len(y), int(0.05 * len(y)), replace=False)
    noisy = y.copy()
    noisy[flipped] = (y[flipped] + rng.integers(1, 10, len(flipped))) % 10  # always another class
    return x, noisy, flipped


@pytest.fixture(scope="module")
def issues(noisy_digits):
    x, noisy, _ = noisy_digits
    return pydl.data.find_label_issues(build, x, noisy, cv=5, epochs=10, seed=0)


def test_flipped_labels_found_and_equal_to_cleanlab_on_the_same_pred_probs(noisy_digits, issues, capsys):
    x, noisy, flipped = noisy_digits
    want = cleanlab_find_label_issues(labels=noisy, pred_probs=issues.pred_probs,
                                      return_indices_ranked_by="self_confidence")
    assert len(issues) == len(want) > 0
    np.testing.assert_array_equal(issues.indices, want)
    found = set(issues.indices.tolist()) & set(flipped.tolist())
    recall, precision = len(found) / len(flipped), len(found) / len(issues)
    with capsys.disabled():
        print(f"\nfind_label_issues on digits with {len(flipped)} flipped labels: recall {recall:.3f}, "
              f"precision {precision:.3f} ({len(issues)} flagged)")
    assert recall >= 0.7 and precision >= 0.7
    assert np.all(np.diff(issues.quality[issues.indices]) >= 0)  # ranked: most suspect first
    np.testing.assert_array_equal(issues.suggested, issues.pred_probs.argmax(1))
    # pred_probs= skips the training and gives the same answer
    again = pydl.data.find_label_issues(None, None, noisy, pred_probs=issues.pred_probs)
    np.testing.assert_array_equal(again.indices, want)
    assert str(issues).startswith(f"{len(want):,} of 1,797 samples look mislabeled")


def test_probabilities_are_out_of_fold(noisy_digits, issues):
    """Each row comes from the model of the fold that held the sample out: a model trained as
    documented (StratifiedKFold(cv, shuffle=True, seed), fit(seed=seed + fold)) predicts it."""
    x, noisy, _ = noisy_digits
    folds = list(pydl.data.StratifiedKFold(5, shuffle=True, seed=0).split(x, noisy))
    train, test = folds[2]
    model = build()
    model.fit(x[train], noisy[train], epochs=10, batch_size=32, seed=2, verbose=0)
    np.testing.assert_allclose(issues.pred_probs[test], model.predict_proba(x[test]), rtol=1e-5, atol=1e-6)
    in_sample = model.predict_proba(x[train]).argmax(1) == noisy[train]
    held_out = issues.pred_probs[test].argmax(1) == noisy[test]
    assert held_out.mean() < in_sample.mean()


def test_bad_inputs_and_missing_cleanlab(noisy_digits, monkeypatch):
    x, noisy, _ = noisy_digits
    y = noisy.copy()
    y[np.flatnonzero(y == 4)[3:]] = 5  # class 4 keeps 3 samples
    with pytest.raises(ValueError, match="class 4 has 3 samples, fewer than cv=5 folds"):
        pydl.data.find_label_issues(build, x, y, cv=5)
    with pytest.raises(ValueError, match=r"x and y have different lengths \(1797 samples, 1796 labels\)"):
        pydl.data.find_label_issues(build, x, noisy[:-1])
    with pytest.raises(TypeError, match="build\\(\\) must return a compiled pydl model"):
        pydl.data.find_label_issues(lambda: "model", x, noisy, cv=2, epochs=1)
    with pytest.raises(TypeError, match="needs hp="):
        pydl.data.find_label_issues(lambda hp: build(), x, noisy, cv=2, epochs=1)
    with pytest.raises(ValueError, match="must sum to 1"):
        pydl.data.find_label_issues(None, None, noisy, pred_probs=np.full((len(noisy), 10), 0.5))
    monkeypatch.setitem(sys.modules, "cleanlab", None)
    monkeypatch.setitem(sys.modules, "cleanlab.filter", None)
    with pytest.raises(ImportError, match=r'pip install "pydl\[cleanlab\]"'):
        pydl.data.find_label_issues(None, None, noisy, pred_probs=np.full((len(noisy), 10), 0.1))
