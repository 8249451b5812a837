"""Issue 12, tuning: no silent failures. A search whose trials all fail raises, one where
some fail warns; search.fit(verbose=...) works; best_model is the model that earned the
score (the best epoch's weights; under cv the fold models plus a documented refit)."""
import warnings

import numpy as np
import pytest

import pydl
from pydl import layers, tuning

import tuning_helpers as H


def _data(n=240, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 6)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64)
    return x, y


def build_small(hp):
    model = pydl.Sequential([layers.Input((6,)), layers.Dense(hp["units"], activation="relu"), layers.Dense(2)],
                            seed=0)
    model.compile(optimizer=pydl.optimizers.Adam(hp["lr"]), loss="cross_entropy", metrics=["accuracy"])
    return model


SMALL = tuning.Space(units=tuning.Int(4, 8, values=[4, 8]), lr=tuning.Float(0, 1, values=[0.3]))


def always_fails(hp):
    raise ZeroDivisionError(f"bad x {hp['x']:.3f}")


def test_all_trials_failing_raises_with_the_first_error_chained():
    search = tuning.RandomSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=always_fails, max_trials=4)
    with pytest.raises(RuntimeError, match=r"all 4 trials failed.*ZeroDivisionError: bad x") as info:
        search.run()
    assert isinstance(info.value.__cause__, ZeroDivisionError)


def test_all_model_trials_failing_raises():
    def broken(hp):
        raise ValueError("no such layer")
    x, y = _data()
    with pytest.raises(RuntimeError, match="all 2 trials failed.*no such layer"):
        tuning.GridSearch(broken, SMALL, objective="val_accuracy").fit(x, y, epochs=1)


def test_some_trials_failing_warns_once_with_count_and_first_error():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        r = tuning.RandomSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=H.failing_sometimes,
                                max_trials=30, seed=1).run()
    failed = [t for t in r.trials if t.status == "failed"]
    ours = [w for w in caught if "failed" in str(w.message)]
    assert len(ours) == 1 and issubclass(ours[0].category, RuntimeWarning)
    assert f"{len(failed)} of 30 trials failed" in str(ours[0].message)
    assert "RuntimeError: diverged" in str(ours[0].message)
    assert r.best_score is not None


def test_no_warning_when_every_trial_completes():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tuning.RandomSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=H.quadratic, max_trials=4).run()


def test_nan_scores_everywhere_raise():
    with pytest.raises(RuntimeError, match="no trial reached a finite score"):
        tuning.RandomSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=lambda hp: float("nan"),
                            max_trials=3).run()


def test_fit_accepts_verbose_and_rejects_a_seed():
    x, y = _data()
    r = tuning.GridSearch(build_small, SMALL, objective="val_accuracy").fit(x, y, epochs=2, verbose=0)
    assert [t.status for t in r.trials] == ["complete", "complete"]
    with pytest.raises(ValueError, match="seed"):
        tuning.GridSearch(build_small, SMALL, objective="val_accuracy").fit(x, y, epochs=2, seed=3)


def test_verbose_2_prints_one_line_per_epoch_of_each_trial(capsys):
    x, y = _data()
    tuning.GridSearch(build_small, SMALL, objective="val_accuracy").fit(x, y, epochs=3, verbose=2)
    lines = [l for l in capsys.readouterr().out.splitlines() if l.startswith("Epoch ")]
    assert len(lines) == 2 * 3


def _reference_best_epoch(x, y, hp, epochs, seed, validation_split=0.2):
    """Train the trial's model by hand and keep every epoch's weights: the reference."""
    model = build_small(hp)
    snapshots, values = [], []
    for _ in range(epochs):
        h = model.fit(x, y, epochs=1, verbose=0, validation_split=validation_split, seed=seed)
        values.append(h.history["val_loss"][0])
        snapshots.append(model.get_weights())
    best = int(np.argmin(values))
    return best, values, snapshots


def test_best_model_holds_the_best_epoch_weights_not_the_last():
    # lr 0.3 overfits a small noisy set: val_loss is best early, not at the last epoch.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((120, 6)).astype(np.float32)
    y = rng.integers(0, 2, 120)
    space = tuning.Space(units=tuning.Int(8, 8, values=[8]), lr=tuning.Float(0, 1, values=[0.3]))
    search = tuning.GridSearch(build_small, space, objective="val_loss", seed=0)
    r = search.fit(x, y, epochs=8, batch_size=32)
    seed = 0 * 1_000_003 + 0  # the trial's seed: Search.seed * 1_000_003 + trial number
    # Epoch by epoch fits continue the shuffles (epochs_trained) exactly as one long fit.
    best, values, snapshots = _reference_best_epoch(x, y, r.best_params, 8, seed)
    assert best < 7, values  # the case this test is about: the last epoch is not the best
    assert r.best_score == pytest.approx(values[best], rel=1e-6)
    got = r.best_model.get_weights()
    assert len(got) == len(snapshots[best])
    assert all(np.array_equal(a, b) for a, b in zip(got, snapshots[best]))
    assert r.best_model.evaluate(x[96:], y[96:])["loss"] == pytest.approx(r.best_score, rel=1e-5)


def test_resumed_search_rebuilds_the_same_best_model(tmp_path):
    x, y = _data()
    path = str(tmp_path / "trials.json")
    first = tuning.GridSearch(build_small, SMALL, objective="val_loss").fit(x, y, epochs=4, checkpoint=path)
    again = tuning.GridSearch(build_small, SMALL, objective="val_loss").fit(x, y, epochs=4, checkpoint=path)
    a, b = first.best_model.get_weights(), again.best_model.get_weights()
    assert len(a) == len(b) == 4 and all(np.array_equal(p, q) for p, q in zip(a, b))


def test_functional_models_can_be_tuned():
    def build(hp):
        inp = pydl.Input((6,))
        out = layers.Dense(2)(layers.Dense(hp["units"], activation="relu")(inp))
        m = pydl.Model(inp, out, seed=0)
        m.compile("adam", "cross_entropy", metrics=["accuracy"])
        return m
    x, y = _data()
    r = tuning.GridSearch(build, SMALL, objective="val_accuracy").fit(x, y, epochs=2)
    assert all(t.status == "complete" for t in r.trials), [t.error for t in r.trials]


def test_cv_best_model_is_a_refit_and_fold_models_earned_the_score():
    x, y = _data(300)
    r = tuning.GridSearch(build_small, SMALL, objective="val_accuracy").fit(x, y, epochs=4, cv=3)
    t = r.best_trial
    assert len(r.fold_models) == 3 and len(t.best_epochs) == 3
    folds = list(pydl.data.StratifiedKFold(3, shuffle=True, seed=t.number).split(x, y))
    for model, (_, test), score in zip(r.fold_models, folds, t.curve, strict=True):
        # each fold model, at its best epoch, scores its fold's value on its held-out part
        assert model.evaluate(x[test], y[test])["accuracy"] == pytest.approx(score, abs=1e-12)
    assert t.score == pytest.approx(np.mean(t.curve))
    refit = build_small(r.best_params)
    epochs = int(np.ceil(np.median(t.best_epochs)))
    refit.fit(x, y, epochs=epochs, verbose=0, seed=t.number)
    a, b = refit.get_weights(), r.best_model.get_weights()
    assert len(a) == len(b) == 4 and all(np.array_equal(p, q) for p, q in zip(a, b))


def test_cv_refuses_validation_arguments():
    x, y = _data()
    with pytest.raises(ValueError, match="cv"):
        tuning.GridSearch(build_small, SMALL).fit(x, y, cv=3, validation_data=(x, y))
    with pytest.raises(ValueError, match="cv"):
        tuning.GridSearch(build_small, SMALL).fit(x, y, cv=3, validation_split=0.3)
