"""Issue 12, the engine side: Keras habits that were silently ignored now work or raise
(batch callback hooks, stop_training inside an epoch, DataLoader arguments of fit,
class_weight as a list, evaluate(return_dict=...), model(x), one unbatched sample)."""
import numpy as np
import pytest

import pydl
from pydl import callbacks, layers
from pydl.data import DataLoader
from conftest import assert_weights_equal


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)).astype(np.float32)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64)
    return x, y


def _model(seed=0):
    m = pydl.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(2)], seed=seed)
    m.compile(optimizer="sgd", loss="cross_entropy", metrics=["accuracy"])
    return m


class Recorder(callbacks.Callback):
    def __init__(self, interval=None):
        super().__init__()
        self.batch_interval = interval
        self.events = []

    def on_train_batch_begin(self, batch, logs=None):
        self.events.append(("begin", batch))

    def on_train_batch_end(self, batch, logs=None):
        self.events.append(("end", batch, logs["loss"]))

    def on_epoch_end(self, epoch, logs=None):
        self.events.append(("epoch", epoch))


def test_batch_hooks_every_batch_in_order():
    x, y = _data()
    rec = Recorder(interval=1)
    _model().fit(x, y, epochs=2, batch_size=16, verbose=0, callbacks=[rec])  # 6 batches an epoch
    want = []
    for e in range(2):
        for b in range(6):
            want += [("begin", b), ("end", b)]
        want.append(("epoch", e))
    got = [ev[:2] for ev in rec.events]
    assert len(got) == len(want) == 26
    assert got == want
    losses = [ev[2] for ev in rec.events if ev[0] == "end"]
    assert len(losses) == 12 and all(np.isfinite(losses))


def test_batch_hooks_default_interval_and_last_batch():
    x, y = _data(n=200)
    rec = Recorder()  # None: the progress interval, max(1, 50 // 20) = 2, plus the last batch
    _model().fit(x, y, epochs=1, batch_size=4, verbose=0, callbacks=[rec])  # 50 batches
    ends = [ev[1] for ev in rec.events if ev[0] == "end"]
    assert ends == list(range(1, 50, 2))
    begins = [ev[1] for ev in rec.events if ev[0] == "begin"]
    assert begins == [0] + list(range(2, 50, 2))


def test_batch_hook_interval_3_reports_last_batch():
    x, y = _data(n=80)
    rec = Recorder(interval=3)
    _model().fit(x, y, epochs=1, batch_size=8, verbose=0, callbacks=[rec])  # 10 batches
    ends = [ev[1] for ev in rec.events if ev[0] == "end"]
    assert ends == [2, 5, 8, 9]


def test_stop_training_in_batch_hook_stops_after_that_batch():
    x, y = _data()

    class StopAt(callbacks.Callback):
        batch_interval = 1

        def on_train_batch_end(self, batch, logs=None):
            if batch == 2:
                self.model.stop_training = True

    m = _model()
    rec = Recorder(interval=1)
    h = m.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0, callbacks=[StopAt(), rec])
    assert m.optimizer.iterations == 3
    assert len(h.history["loss"]) == 1  # the epoch ended and was logged, then training stopped
    # the same weights as exactly three steps on the same batches
    ref = _model()
    ref.fit(x[:48], y[:48], epochs=1, batch_size=16, shuffle=False, verbose=0)
    assert_weights_equal(m.get_weights(), ref.get_weights())


def test_batch_hooks_with_a_dataloader():
    x, y = _data()
    rec = Recorder(interval=1)
    _model().fit(DataLoader(pydl.data.ArrayDataset(x, y), batch_size=32), epochs=1, verbose=0, callbacks=[rec])
    assert [ev[1] for ev in rec.events if ev[0] == "end"] == [0, 1, 2]


@pytest.mark.parametrize("kwargs", [{"batch_size": 64}, {"shuffle": False}, {"sample_weight": np.ones(96)}])
def test_fit_loader_refuses_arguments_the_loader_decides(kwargs):
    x, y = _data()
    loader = DataLoader(pydl.data.ArrayDataset(x, y), batch_size=32)
    with pytest.raises(ValueError, match=list(kwargs)[0]):
        _model().fit(loader, epochs=1, verbose=0, **kwargs)


def test_class_weight_list_equals_dict():
    x, y = _data()
    a, b = _model(), _model()
    a.fit(x, y, epochs=2, verbose=0, class_weight={0: 1.0, 1: 3.0})
    b.fit(x, y, epochs=2, verbose=0, class_weight=[1.0, 3.0])
    assert_weights_equal(a.get_weights(), b.get_weights())
    c = _model()
    c.fit(x, y, epochs=2, verbose=0, class_weight=np.array([1.0, 3.0]))
    assert_weights_equal(a.get_weights(), c.get_weights())
    with pytest.raises(ValueError, match="one weight per class"):
        _model().fit(x, y, epochs=1, verbose=0, class_weight=np.ones((2, 2)))


def test_evaluate_return_dict_and_verbose(capsys):
    x, y = _data()
    m = _model()
    d = m.evaluate(x, y)
    assert list(d) == ["loss", "accuracy"]
    assert m.evaluate(x, y, return_dict=False) == [d["loss"], d["accuracy"]]
    m2 = pydl.Sequential([layers.Input((6,)), layers.Dense(2)], seed=0)
    m2.compile(loss="cross_entropy")
    assert m2.evaluate(x, y, return_dict=False) == m2.evaluate(x, y)["loss"]
    capsys.readouterr()
    m.evaluate(x, y, verbose=0)
    assert capsys.readouterr().out == ""
    m.evaluate(x, y, verbose=1)
    assert capsys.readouterr().out.startswith("loss: ")
    with pytest.raises(ValueError, match="verbose"):
        m.evaluate(x, y, verbose=3)


def test_predict_verbose_and_model_call(capsys):
    x, _ = _data()
    m = _model()
    p = m.predict(x, verbose=0)
    assert capsys.readouterr().out == ""
    np.testing.assert_array_equal(m.predict(x, verbose=1), p)
    assert "96 samples" in capsys.readouterr().out
    np.testing.assert_array_equal(m(x), p)
    inp = pydl.Input((6,))
    with pytest.raises(TypeError, match="symbolic"):
        m(inp)


def test_fit_verbose_checked():
    x, y = _data()
    with pytest.raises(ValueError, match="verbose"):
        _model().fit(x, y, verbose=5)


def test_predict_one_unbatched_sample_says_add_the_batch_axis():
    x, _ = _data()
    m = _model()
    with pytest.raises(ValueError, match="add the batch axis"):
        m.predict(x[0])
    assert m.predict(x[0][None]).shape == (1, 2)


def test_fit_loader_validation_split_holds_out_the_last_fraction():
    x, y = _data(n=100)
    a, b = _model(), _model()
    ha = a.fit(DataLoader((x, y), batch_size=16, shuffle=False), epochs=2, verbose=0, validation_split=0.2)
    hb = b.fit(x[:80], y[:80], batch_size=16, shuffle=False, epochs=2, verbose=0, validation_data=(x[80:], y[80:]))
    assert_weights_equal(a.get_weights(), b.get_weights())
    assert len(ha.history["val_loss"]) == len(hb.history["val_loss"]) == 2
    np.testing.assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="not both"):
        _model().fit(DataLoader((x, y)), validation_split=0.2, validation_data=(x, y), verbose=0)


def test_validation_loader_applies_only_deterministic_transforms():
    from pydl.data.transforms import Compose, RandomFlip, Resize
    rng = np.random.default_rng(0)
    x = rng.random((40, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    m = pydl.Sequential([layers.Input((4, 4, 1)), layers.Flatten(), layers.Dense(2)], seed=0)
    m.compile(loss="cross_entropy")
    t = Compose([RandomFlip(), Resize(4, 4)])
    h = m.fit(DataLoader((x[:30], y[:30]), batch_size=10, transform=t), epochs=1, verbose=0,
              validation_data=DataLoader((x[30:], y[30:]), transform=t))
    want = m.evaluate(Resize(4, 4)(x[30:]), y[30:])["loss"]
    assert h.history["val_loss"] == [pytest.approx(want, rel=1e-6)]


def test_keras2_batch_hook_names_and_uncalled_hooks():
    x, y = _data()

    class Keras2(callbacks.Callback):
        batch_interval = 1

        def __init__(self):
            super().__init__()
            self.ends = []

        def on_batch_end(self, batch, logs=None):
            self.ends.append(batch)

    cb = Keras2()
    _model().fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[cb])
    assert cb.ends == [0, 1, 2]

    class WantsTestBatches(callbacks.Callback):
        def on_test_batch_end(self, batch, logs=None):
            pass

    with pytest.warns(UserWarning, match="never calls"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[WantsTestBatches()])

    class Typo(callbacks.Callback):
        def on_epoch_ended(self, epoch, logs=None):
            pass

    with pytest.warns(RuntimeWarning, match="on_epoch_ended"):
        _model().fit(x, y, epochs=1, verbose=0, callbacks=[Typo()])


def test_on_test_begin_end_wrap_validation():
    x, y = _data()
    seen = []

    class Tests(callbacks.Callback):
        def on_test_begin(self, logs=None):
            seen.append("begin")

        def on_test_end(self, logs=None):
            seen.append(("end", sorted(logs)))

    _model().fit(x, y, epochs=2, verbose=0, validation_split=0.25, callbacks=[Tests()])
    assert seen == ["begin", ("end", ["accuracy", "loss"])] * 2


def test_input_shape_on_the_first_layer_equals_an_input_layer():
    x, y = _data()
    a = pydl.Sequential([layers.Dense(8, activation="relu", input_shape=(6,)), layers.Dense(2)], seed=0)
    b = pydl.Sequential([layers.Input((6,)), layers.Dense(8, activation="relu"), layers.Dense(2)], seed=0)
    for m in (a, b):
        m.compile(optimizer="sgd", loss="cross_entropy")
        m.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(a.get_weights(), b.get_weights())
    with pytest.raises(ValueError, match="first layer only"):
        pydl.Sequential([layers.Dense(8, input_shape=(6,)), layers.Dense(2, input_shape=(8,))])
    with pytest.raises(ValueError, match="pydl.Input"):
        layers.Dense(2, input_shape=(6,))(pydl.Input((6,)))
    with pytest.raises(ValueError, match="input_shape"):
        layers.Dense(2, input_shape=(0,))


def test_custom_python_layer_is_refused_with_what_is_supported():
    class Square(layers.Layer):
        def call(self, x):
            return x * x

    with pytest.raises(TypeError, match="custom Python layers .* not supported.*Dense"):
        pydl.Sequential([layers.Input((6,)), Square()])
    with pytest.raises(TypeError, match="custom Python layers"):
        Square()(pydl.Input((6,)))


@pytest.mark.parametrize("alias, canonical, kind", [
    ("sparse_categorical_crossentropy", "cross_entropy", "labels"),
    ("categorical_cross_entropy", "categorical_crossentropy", "onehot"),
    ("binary_crossentropy", "binary_cross_entropy", "binary"),
    ("mean_squared_error", "mse", "values"),
    ("mean_absolute_error", "mae", "values"),
])
def test_loss_aliases_train_like_the_canonical_name(alias, canonical, kind):
    x, y = _data()
    target = {"labels": y, "onehot": np.eye(2, dtype=np.float32)[y], "binary": y[:, None].astype(np.float32),
              "values": x[:, :2].copy()}[kind]
    units = 1 if kind == "binary" else 2

    def run(loss):
        m = pydl.Sequential([layers.Input((6,)), layers.Dense(4, activation="relu"), layers.Dense(units)], seed=0)
        m.compile(optimizer="adam", loss=loss)
        h = m.fit(x, target, epochs=2, verbose=0)
        return m.get_weights(), h.history["loss"]

    (wa, la), (wb, lb) = run(alias), run(canonical)
    assert_weights_equal(wa, wb)
    assert la == lb and len(la) == 2


@pytest.mark.parametrize("name, obj", [("rmsprop", "RMSprop"), ("adagrad", "Adagrad"), ("adamw", "AdamW")])
def test_optimizer_names_equal_their_classes(name, obj):
    from pydl import optimizers
    x, y = _data()

    def run(opt):
        m = pydl.Sequential([layers.Input((6,)), layers.Dense(2)], seed=0)
        m.compile(optimizer=opt, loss="cross_entropy")
        m.fit(x, y, epochs=2, verbose=0)
        return m.get_weights()

    assert_weights_equal(run(name), run(getattr(optimizers, obj)()))
