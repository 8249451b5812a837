"""Issue 12, callbacks: LambdaCallback as Keras's, a missing monitor warns once per fit
(not every epoch), fit(verbose=2) prints one line per epoch and no bar, the Callback base
defines Keras's hooks, and unknown_hooks finds the ones that would never be called."""
import warnings

import numpy as np
import pytest

import pydl
from pydl import callbacks, layers
from pydl.callbacks.base import KNOWN_HOOKS, unknown_hooks


def _model_and_data(n=64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64)
    model = pydl.Sequential([layers.Input((4,)), layers.Dense(2)], seed=0)
    model.compile("adam", "cross_entropy", metrics=["accuracy"])
    return model, x, y


def test_lambda_callback_calls_each_epoch_and_train_hook():
    model, x, y = _model_and_data()
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(("begin", e)),
                                  on_epoch_end=lambda e, logs: seen.append(("end", e, round(logs["loss"], 6))),
                                  on_train_begin=lambda logs: seen.append(("train_begin",)),
                                  on_train_end=lambda logs: seen.append(("train_end",)))
    h = model.fit(x, y, epochs=3, verbose=0, callbacks=[cb])
    losses = [round(v, 6) for v in h.history["loss"]]
    assert seen == [("train_begin",), ("begin", 0), ("end", 0, losses[0]), ("begin", 1), ("end", 1, losses[1]),
                    ("begin", 2), ("end", 2, losses[2]), ("train_end",)]


def test_lambda_callback_batch_hooks_and_errors():
    calls = []
    cb = callbacks.LambdaCallback(on_train_batch_begin=lambda b, logs: calls.append(("b", b)),
                                  on_train_batch_end=lambda b, logs: calls.append(("e", b, logs)))
    cb.on_train_batch_begin(3, {})
    cb.on_train_batch_end(3, {"loss": 1.0})
    assert calls == [("b", 3), ("e", 3, {"loss": 1.0})]
    cb.on_epoch_end(0, {})  # hooks not given are no-ops
    with pytest.raises(TypeError, match="on_epoch_end.*callable"):
        callbacks.LambdaCallback(on_epoch_end=3)
    with pytest.raises(TypeError):
        callbacks.LambdaCallback(on_epoch_ended=print)  # a typo is an error, not ignored


@pytest.mark.parametrize("make", [
    lambda: callbacks.EarlyStopping(monitor="val_auc", patience=2),
    lambda: callbacks.ReduceLROnPlateau(monitor="val_auc"),
    lambda: callbacks.ModelCheckpoint("/nonexistent/never-{epoch}.pydl", monitor="val_auc", save_best_only=True),
])
def test_missing_monitor_warns_once_per_fit(make):
    model, x, y = _model_and_data()
    cb = make()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=5, verbose=0, callbacks=[cb])
    ours = [w for w in caught if "val_auc" in str(w.message)]
    assert len(ours) == 1, [str(w.message) for w in caught]
    assert "loss, accuracy" in str(ours[0].message)  # names what the logs do hold
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=2, verbose=0, callbacks=[cb])  # a new fit warns again, once
    assert len([w for w in caught if "val_auc" in str(w.message)]) == 1


def test_verbose_2_prints_one_line_per_epoch_and_no_bar(capsys):
    model, x, y = _model_and_data()
    model.fit(x, y, epochs=4, verbose=2, validation_split=0.25)
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert len(lines) == 4 and err == ""
    for i, line in enumerate(lines, start=1):
        assert line.startswith(f"Epoch {i}/4 - loss: ") and "val_accuracy: " in line
        assert "\r" not in line and "batch" not in line


def test_callback_base_defines_kerass_hooks_as_no_ops():
    cb = callbacks.Callback()
    for hook in ("on_train_batch_begin", "on_train_batch_end", "on_test_batch_begin", "on_test_batch_end",
                 "on_predict_batch_begin", "on_predict_batch_end", "on_batch_begin", "on_batch_end"):
        assert getattr(cb, hook)(0, {}) is None
    for hook in ("on_test_begin", "on_test_end", "on_predict_begin", "on_predict_end", "on_train_begin",
                 "on_train_end"):
        assert getattr(cb, hook)({}) is None
    assert {"on_train_batch_end", "on_test_begin", "on_epoch_end"} <= set(KNOWN_HOOKS)


def test_on_batch_end_is_the_keras2_alias_of_on_train_batch_end():
    class Old(callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.batches = []

        def on_batch_begin(self, batch, logs=None):
            self.batches.append(("begin", batch))

        def on_batch_end(self, batch, logs=None):
            self.batches.append(("end", batch))

    cb = Old()
    cb.on_train_batch_begin(0, {})  # what the engine calls
    cb.on_train_batch_end(0, {})
    assert cb.batches == [("begin", 0), ("end", 0)]
    assert unknown_hooks(cb) == []


def test_unknown_hooks_finds_typos_and_the_engine_warns():
    class Typo(callbacks.Callback):
        def on_epoch_ended(self, epoch, logs=None):
            pass

        def on_train_batch_end(self, batch, logs=None):  # known: fine
            pass

        def on_trian_begin(self, logs=None):
            pass

        def helper(self):  # not a hook name: fine
            pass

    cb = Typo()
    cb.on_epoch_finish = lambda epoch, logs=None: None  # set on the instance
    assert unknown_hooks(cb) == ["on_epoch_ended", "on_epoch_finish", "on_trian_begin"]
    assert unknown_hooks(callbacks.EarlyStopping()) == []
    assert unknown_hooks(callbacks.LambdaCallback(on_epoch_end=print)) == []
    model, x, y = _model_and_data()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    ours = [str(w.message) for w in caught if "on_epoch_ended" in str(w.message)]
    assert len(ours) == 1 and "on_epoch_end" in ours[0] and "never called" in ours[0]
    with pytest.raises(TypeError, match="Callback"):
        unknown_hooks(object())
