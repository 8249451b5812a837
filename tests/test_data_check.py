"""pydl.data.check: planted problems in digits are found, clean data raises nothing, and the
statistics equal scipy / numpy references computed here."""
import json

import numpy as np
import pytest
from scipy import stats

import pydl


@pytest.fixture(scope="module")
def digits():
    return pydl.datasets.load_digits()


def split(x, y, seed=0):
    return pydl.data.train_test_split(x, y, test_size=0.25, stratify=True, seed=seed)


def reference_groups(x):
    """Groups of identical rows, by a dict of row tuples (independent of the hashing in pydl)."""
    seen = {}
    for i, row in enumerate(np.asarray(x, np.float64).reshape(len(x), -1)):
        seen.setdefault(tuple(row.tolist()), []).append(i)
    return sorted([g for g in seen.values() if len(g) > 1], key=lambda g: g[0])


def pearson_chi2(a, b):
    classes = np.union1d(a, b)
    table = np.array([[np.sum(a == c) for c in classes], [np.sum(b == c) for c in classes]], dtype=np.float64)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    chi2 = float(((table - expected) ** 2 / expected).sum())
    dof = len(classes) - 1
    return chi2, dof, float(stats.chi2.sf(chi2, dof))


@pytest.mark.parametrize("as_images", [False, True])
def test_clean_digits_split_raises_nothing_but_its_constant_pixels(digits, as_images):
    x, y = digits
    x = x.reshape(-1, 8, 8, 1) if as_images else x
    x_tr, x_te, y_tr, y_te = split(x, y)
    r = pydl.data.check(x_tr, y_tr, x_test=x_te, y_test=y_te)
    assert r.duplicates == [] and r.conflicting_duplicates == [] and r.leaks == []
    values, counts = np.unique(y_tr, return_counts=True)
    assert r.class_counts == dict(zip(values.tolist(), counts.tolist()))
    assert r.imbalance_ratio == counts.max() / counts.min()
    chi2, dof, p = pearson_chi2(y_tr, y_te)
    assert r.label_shift["dof"] == dof
    np.testing.assert_allclose([r.label_shift["statistic"], r.label_shift["p_value"]], [chi2, p], rtol=1e-10)
    assert r.nonfinite["x"]["count"] == 0 and r.nonfinite["x_test"]["count"] == 0
    if as_images:
        assert r.kind == "per-sample" and r.shift is None and r.warnings == []
    else:
        flat = x_tr.reshape(len(x_tr), -1)
        constant = np.flatnonzero(flat.min(0) == flat.max(0)).tolist()
        assert constant and r.constant_features == constant
        assert r.shifted_features == []
        assert len(r.warnings) == 1 and "constant" in r.warnings[0]


def test_planted_duplicates_and_conflicting_labels(digits):
    x, y = digits
    x, y = x.copy(), y.copy()
    x[100], x[300], x[301] = x[5], x[200], x[200]  # same labels: plain duplicates
    y[100], y[300], y[301] = y[5], y[200], y[200]
    x[400], y[400] = x[7], (y[7] + 1) % 10           # a copy with another label
    x[900], x[901], y[900], y[901] = x[12], x[12], y[12], (y[12] + 3) % 10
    r = pydl.data.check(x, y)
    want = reference_groups(x)
    assert r.duplicates == want and len(want) == 4
    conflicting = [g for g in want if len(set(y[g].tolist())) > 1]
    assert r.conflicting_duplicates == conflicting == [[7, 400], [12, 900, 901]]
    text = "\n".join(r.warnings)
    assert "2 groups of identical samples have different labels" in text
    assert f"{sum(len(g) - 1 for g in want)} samples of 1,797 are exact copies" in text


@pytest.mark.parametrize("as_images", [False, True])
def test_planted_leak_of_copied_and_perturbed_test_samples(digits, as_images):
    x, y = digits
    x = x.reshape(-1, 8, 8, 1) if as_images else x
    x_tr, x_te, y_tr, y_te = split(x, y)
    rng = np.random.default_rng(1)
    picked = rng.choice(len(x_te), 40, replace=False)
    copies = x_te[picked[:20]]
    if as_images:  # one scale for every pixel: noise of 1% of the pixel range
        noise = rng.normal(0, 0.01, (20,) + x_te.shape[1:])
    else:  # per-feature standardisation: noise of 1% of each feature's spread
        noise = rng.normal(0, 1, (20, x_te.shape[1])) * 0.01 * x_tr.std(0)
    perturbed = (x_te[picked[20:]] + noise).astype(np.float32)
    x_leaky = np.concatenate([x_tr, copies, perturbed])
    y_leaky = np.concatenate([y_tr, y_te[picked]])
    r = pydl.data.check(x_leaky, y_leaky, x_test=x_te, y_test=y_te)
    want = sorted(((len(x_tr) + k, int(j)) for k, j in enumerate(picked)), key=lambda p: p[1])
    assert r.leaks == want
    exact = set(picked[:20].tolist())
    flat_tr = np.asarray(x_leaky, np.float64).reshape(len(x_leaky), -1)
    flat_te = np.asarray(x_te, np.float64).reshape(len(x_te), -1)
    scale = flat_tr.std(0) if not as_images else np.full(flat_tr.shape[1], flat_tr.std())
    scale = np.where(scale > 0, scale, 1.0)
    for (i, j), d in zip(r.leaks, r.leak_distances):
        rms = np.linalg.norm((flat_tr[i] - flat_te[j]) / scale) / np.sqrt(flat_tr.shape[1])
        assert (d == 0.0) == (j in exact)
        np.testing.assert_allclose(d, rms, rtol=1e-6, atol=1e-12)
        assert d <= r.leak_search["radius"]
    assert "20 test samples are identical to training samples and 20 test samples are within" in r.warnings[0]
    assert r.leak_search["sampled"] is False and r.notes == ([] if not as_images else r.notes)


def test_leak_search_on_a_sample_says_so_and_still_finds_every_exact_copy(digits):
    x, y = digits
    x_tr, x_te, _, _ = split(x, y)
    x_leaky = np.concatenate([x_tr, x_te[:30]])
    r = pydl.data.check(x_leaky, x_test=x_te, max_samples=200)
    assert [j for _, j in r.leaks] == list(range(30)) and all(d == 0.0 for d in r.leak_distances)
    assert r.leak_search["sampled"] and r.leak_search["train_searched"] == 200
    assert any("sampled 200 of 1,377 training and 200 of 450 test samples" in n for n in r.notes)


def holm(p):
    """Holm's step-down adjusted p-values, written as the textbook loop."""
    order = np.argsort(p)
    m, out, running = len(p), np.empty(len(p)), 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * p[i]))
        out[i] = running
    return out


def test_half_sd_shift_is_flagged_and_unshifted_features_keep_the_false_positive_rate(digits):
    """Holm's correction at alpha=0.05 bounds the chance that any unshifted feature is flagged
    in one run by 5%; over 20 random splits, 4 or more such runs would have probability 1.6%."""
    x, y = digits
    feature, runs_with_false_flags = 20, 0
    for seed in range(20):
        x_tr, x_te, y_tr, y_te = split(x, y, seed)
        x_te = x_te.copy()
        x_te[:, feature] += 0.5 * x_tr[:, feature].std()
        r = pydl.data.check(x_tr, y_tr, x_test=x_te, y_test=y_te)
        assert feature in r.shifted_features, seed
        runs_with_false_flags += any(j != feature for j in r.shifted_features)
        if seed == 0:
            ref = [stats.ks_2samp(x_tr[:, j], x_te[:, j]) for j in range(64)]
            got = r.shift
            assert [s["feature"] for s in got] == list(range(64))
            np.testing.assert_allclose([s["statistic"] for s in got], [t.statistic for t in ref], rtol=1e-12)
            np.testing.assert_allclose([s["p_value"] for s in got], [t.pvalue for t in ref], rtol=1e-9)
            np.testing.assert_allclose([s["p_adjusted"] for s in got], holm(np.array([t.pvalue for t in ref])),
                                       rtol=1e-9)
            assert any(f"most of all feature {feature}" in w for w in r.warnings)
    assert runs_with_false_flags <= 3


def test_imbalance_nonfinite_and_unseen_class_warnings(digits):
    x, y = digits
    keep = np.flatnonzero((y != 3) | (np.cumsum(y == 3) <= 12))
    x, y = x[keep].copy(), y[keep]
    x[3, 5], x[10, 2] = np.nan, np.inf
    r = pydl.data.check(x, y)
    counts = np.bincount(y)
    assert r.class_counts[3] == 12 and r.imbalance_ratio == pytest.approx(counts.max() / 12)
    assert r.nonfinite["x"] == {"count": 2, "first": [[3, 5], [10, 2]]}
    text = "\n".join(r.warnings)
    assert (f"class 3 has 12 of {len(y):,} samples (imbalance {counts.max() / 12:.1f}x): use "
            "class_weight='balanced'") in text
    assert "x holds 2 NaN or infinite values (first at sample 3, feature 5)" in text
    r = pydl.data.check(x[y != 9], y[y != 9], x_test=x[y == 9][:5], y_test=y[y == 9][:5])
    assert any("class 9 appears in the test set but not in training" in w for w in r.warnings)


def test_report_prints_and_serialises_to_json(digits):
    x, y = digits
    x_tr, x_te, y_tr, y_te = split(x, y)
    x_tr = np.concatenate([x_tr, x_te[:3]])
    y_tr = np.concatenate([y_tr, y_te[:3]])
    r = pydl.data.check(x_tr, y_tr, x_test=x_te, y_test=y_te)
    back = json.loads(json.dumps(r.to_dict(), allow_nan=False))
    assert back["leaks"] == [[len(x_tr) - 3 + k, k] for k in range(3)]
    assert back["class_counts"] == {str(k): v for k, v in r.class_counts.items()}
    text = str(r)
    assert "1,350 training and 450 test samples" in text and "3 identical, 0 near" in text
    assert text.count("\n  - ") == len(r.warnings) + len(r.notes)


def test_bad_inputs_are_refused_with_clear_errors(digits):
    x, y = digits
    with pytest.raises(ValueError, match=r"x and y have different lengths \(1797 samples, 1796 labels\)"):
        pydl.data.check(x, y[:-1])
    with pytest.raises(ValueError, match=r"x_test has 63 features, but x has 64 features"):
        pydl.data.check(x, y, x_test=x[:, :63])
    with pytest.raises(ValueError, match=r"x_test has samples of shape \(8, 8\), but x has samples of shape "):
        pydl.data.check(x.reshape(-1, 8, 8, 1), y, x_test=x.reshape(-1, 8, 8))
    with pytest.raises(ValueError, match="x_test and y_test have different lengths"):
        pydl.data.check(x, y, x_test=x[:10], y_test=y[:9])
    with pytest.raises(ValueError, match="y_test was given without x_test"):
        pydl.data.check(x, y, y_test=y)
    with pytest.raises(TypeError, match="x must be numeric"):
        pydl.data.check(np.array([["a"], ["b"]]))
    with pytest.raises(ValueError, match="x is empty"):
        pydl.data.check(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="correction"):
        pydl.data.check(x, correction="fdr")
    with pytest.raises(ValueError, match="y holds NaN"):
        pydl.data.check(x[:3], np.array([0.0, np.nan, 1.0]))


def benjamini_hochberg(p):
    """Benjamini-Hochberg adjusted p-values, as the textbook step-up loop."""
    order = np.argsort(p)[::-1]
    m, out, running = len(p), np.empty(len(p)), 1.0
    for k, i in enumerate(order):
        running = min(running, p[i] * m / (m - k))
        out[i] = running
    return out


def test_other_corrections_and_data_frame_columns(digits):
    import pandas as pd  # not a pydl dependency; fairlearn (in the test extra) depends on it
    x, y = digits
    x_tr, x_te, y_tr, y_te = split(x, y)
    x_te = x_te.copy()
    x_te[:, 20] += 0.5 * x_tr[:, 20].std()
    p = np.array([stats.ks_2samp(x_tr[:, j], x_te[:, j]).pvalue for j in range(64)])
    for correction, want in (("bonferroni", np.minimum(64 * p, 1.0)), ("bh", benjamini_hochberg(p))):
        r = pydl.data.check(x_tr, x_test=x_te, correction=correction)
        np.testing.assert_allclose([s["p_adjusted"] for s in r.shift], want, rtol=1e-9)
    names = [f"px{j}" for j in range(64)]
    r = pydl.data.check(pd.DataFrame(x_tr, columns=names), x_test=pd.DataFrame(x_te, columns=names))
    assert r.feature_names == names and any("most of all feature 'px20'" in w for w in r.warnings)
    with pytest.raises(ValueError, match="x_test has other columns than x"):
        pydl.data.check(pd.DataFrame(x_tr, columns=names), x_test=pd.DataFrame(x_te, columns=names[::-1]))


def test_demo_prints_the_data_check_of_the_split_before_training(tmp_path, capsys):
    from pydl.cli import main

    assert main(["demo", "--epochs", "1", "--quiet-progress", "--save", str(tmp_path / "demo.pydl")]) == 0
    out = capsys.readouterr().out
    assert out.index("DataReport: 1,347 training and 450 test samples of shape (8, 8, 1)") < out.index("Epoch 1")
    assert "leaks         none" in out and "label shift   chi-square" in out
