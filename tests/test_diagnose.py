"""pydl.report.diagnose on histories of real, short pydl training runs that overfit, underfit,
blow up, or train fine (only the NaN case is written by hand: fit itself stops on NaN)."""
import math

import numpy as np
import pytest

import pydl
from pydl import layers, optimizers
from pydl.report import Diagnosis, diagnose


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (see conftest)


@pytest.fixture(scope="module")
def digits():
    x, y = pydl.datasets.load_digits()
    idx = np.random.default_rng(0).permutation(len(x))
    return x[idx], y[idx]


def mlp(width=256, depth=1, inputs=64):
    hidden = [layers.Dense(width, activation="relu") for _ in range(depth)]
    return pydl.Sequential([layers.Input((inputs,)), *hidden, layers.Dense(10)], seed=0)


def train(model, optimizer, x, y, x_val, y_val, epochs, batch_size=32):
    model.compile(optimizer=optimizer, loss="cross_entropy", metrics=["accuracy"])
    return model.fit(x, y, epochs=epochs, batch_size=batch_size, validation_data=(x_val, y_val), verbose=0)


def fmt(v):
    return f"{v:.3g}"  # how the report writes losses


def test_overfit_big_mlp_on_60_samples(digits):
    x, y = digits
    h = train(mlp(256, depth=2), optimizers.Adam(learning_rate=3e-2), x[:60], y[:60], x[1400:], y[1400:],
              epochs=40, batch_size=16)
    loss, val = h.history["loss"], h.history["val_loss"]
    m = int(np.argmin(val))
    rise = val[-1] / val[m] - 1
    assert 0.2 < rise and m + 1 < 30 and loss[-1] < 1e-3  # measured: +38% from epoch 12, loss 6e-5

    d = diagnose(h)
    assert d.verdict == "overfit", str(d)
    assert d.evidence["val_min_epoch"] == m + 1 and d.evidence["val_rise"] == pytest.approx(rise)
    report = str(d)
    for piece in (f"rose {100 * rise:.0f}%", f"epoch {m + 1}", fmt(val[m]), fmt(val[-1]), fmt(loss[m]),
                  fmt(loss[-1]), "overfitting", "Dropout", "EarlyStopping(restore_best_weights=True)"):
        assert piece in report, (piece, report)
    # The thresholds are real knobs: demanding a bigger rise than measured clears the verdict.
    assert diagnose(h, overfit_tol=rise + 0.05).verdict != "overfit"
    assert diagnose(h, patience=len(loss)).verdict != "overfit"


@pytest.mark.parametrize("case", ["sgd_tiny_lr", "one_feature"])
def test_underfit(digits, case):
    x, y = digits
    if case == "sgd_tiny_lr":  # a fine model that barely moves: learning rate 1e-5
        h = train(mlp(), optimizers.SGD(learning_rate=1e-5), x[:1400], y[:1400], x[1400:], y[1400:], epochs=10)
    else:  # far too little input for the task: one pixel, a linear model
        x1 = np.ascontiguousarray(x[:, 20:21])
        h = train(mlp(inputs=1, depth=0), optimizers.Adam(learning_rate=1e-3), x1[:1400], y[:1400], x1[1400:],
                  y[1400:], epochs=10)
    loss, acc = h.history["loss"], h.history["accuracy"]
    assert loss[-1] / loss[0] > 0.9 and acc[-1] < 0.2  # measured: ratio 1.00 / 0.97, accuracy 0.09 / 0.14

    d = diagnose(h)
    assert d.verdict == "underfit", str(d)
    assert d.evidence["loss_ratio"] == pytest.approx(loss[-1] / loss[0])
    assert d.evidence["loss_improvement_last_third"] < 0.05
    report = str(d)
    for piece in (fmt(loss[0]), fmt(loss[-1]), f"{loss[-1] / loss[0]:.2f}x", f"{acc[-1]:.2f}", "underfitting",
                  "bigger model", "more epochs", "higher learning rate"):
        assert piece in report, (piece, report)


def test_unstable_sgd_momentum_spike(digits):
    x, y = digits
    h = train(mlp(), optimizers.SGD(learning_rate=0.5, momentum=0.9), x[:1400], y[:1400], x[1400:], y[1400:],
              epochs=10)
    loss = h.history["loss"]
    # Find the worst spike independently: an epoch (from the 3rd) far above the best before it.
    ratios = [loss[i] / min(loss[:i]) for i in range(2, len(loss))]
    i = int(np.argmax(ratios)) + 2
    assert ratios[i - 2] > 1.5  # measured: 0.604 at epoch 5 after 0.333 at epoch 4, 1.8x

    d = diagnose(h)
    assert d.verdict == "unstable", str(d)
    assert d.evidence["spike_epoch"] == i + 1 and d.evidence["spike_ratio"] == pytest.approx(ratios[i - 2])
    report = str(d)
    for piece in (f"epoch {i + 1}", fmt(loss[i]), fmt(min(loss[:i])), f"{ratios[i - 2]:.1f}x", "unstable",
                  "lower learning rate", "clipnorm", "warmup"):
        assert piece in report, (piece, report)


def test_unstable_slow_blow_up_and_collapse(digits):
    x, y = digits
    # lr=1.0 with momentum: no single epoch jumps 1.5x, but the loss climbs 43% from its best.
    h = train(mlp(), optimizers.SGD(learning_rate=1.0, momentum=0.9), x[:1400], y[:1400], x[1400:], y[1400:],
              epochs=10)
    loss = h.history["loss"]
    d = diagnose(h)
    assert d.verdict == "unstable", str(d)
    assert d.evidence["divergence_ratio"] == pytest.approx(loss[-1] / min(loss)) and loss[-1] / min(loss) > 1.25
    assert f"climbed {100 * (loss[-1] / min(loss) - 1):.0f}%" in str(d)

    # lr=2.0 with momentum: the loss sits near chance (ln 10) but accuracy collapses.
    h = train(mlp(), optimizers.SGD(learning_rate=2.0, momentum=0.9), x[:1400], y[:1400], x[1400:], y[1400:],
              epochs=10)
    acc = h.history["accuracy"]
    d = diagnose(h)
    assert d.verdict == "unstable", str(d)
    assert max(acc) - acc[-1] > 0.05 and f"{max(acc):.2f}" in str(d) and f"{acc[-1]:.2f}" in str(d)


def test_ok_reasonable_run(digits):
    x, y = digits
    h = train(mlp(), optimizers.Adam(learning_rate=1e-3), x[:1400], y[:1400], x[1400:], y[1400:], epochs=10)
    loss, val = h.history["loss"], h.history["val_loss"]
    assert h.history["val_accuracy"][-1] > 0.9  # measured: 0.97

    d = diagnose(h)
    assert d.verdict == "ok", str(d)
    report = str(d)
    for piece in (fmt(loss[0]), fmt(loss[-1]), fmt(val[-1]), "no problem found"):
        assert piece in report, (piece, report)
    # Validation loss was still falling at the end (best at the last epoch): say so.
    assert d.evidence["val_min_epoch"] == 10 and any("more epochs" in a for a in d.advice)


def test_nan_loss_is_unstable():
    # Hand-written: pydl's fit stops with FloatingPointError on a non-finite loss, so a NaN
    # reaches a History only from elsewhere (a dict, another framework's logs).
    d = diagnose({"loss": [2.3, 1.9, float("nan"), float("nan")], "val_loss": [2.2, 1.8, 1.7, 1.6]})
    assert d.verdict == "unstable"
    assert d.evidence["nonfinite_epoch"] == 3 and d.evidence["nonfinite_count"] == 2
    assert "nan at epoch 3" in str(d) and "clipnorm" in str(d)
    d = diagnose({"loss": [2.3, 1.9, 1.5], "val_loss": [2.2, math.inf, 1.6]})
    assert d.verdict == "unstable" and "val_loss became inf at epoch 2" in str(d)


def test_too_few_epochs_and_bad_input():
    d = diagnose({"loss": [2.3, 1.2]})
    assert d.verdict == "ok" and "too few" in str(d) and d.evidence["epochs"] == 2
    assert isinstance(d, Diagnosis) and d.verdict in ("overfit", "underfit", "unstable", "ok")
    with pytest.raises(ValueError, match="no training loss"):
        diagnose(pydl.callbacks.History())
    with pytest.raises(TypeError, match="History"):
        diagnose([2.3, 1.2])
