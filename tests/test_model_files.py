"""Model files, format version 2: functional models round-trip bitwise (and keep training to
the same weights), version-1 files of pydl 0.1 still load, malformed graph entries raise
ValueError naming the entry."""
import json
import os

import numpy as np
import pytest

import pydl
from pydl import layers

from conftest import assert_weights_equal

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "v1_sequential.pydl")


def two_head_model():
    a, b = pydl.Input((6,), name="a"), pydl.Input((3,), name="b")
    shared = layers.Dense(5, activation="relu", name="shared")
    h = layers.Concatenate()([shared(a), layers.Dense(5, name="pb")(b)])
    h = layers.Add()([h, layers.Dense(10, name="skip")(h)])
    return pydl.Model(inputs={"a": a, "b": b},
                      outputs={"cls": layers.Dense(3, name="cls")(h), "reg": layers.Dense(1, name="reg")(h)}, seed=7)


def data(n=40):
    rng = np.random.default_rng(0)
    x = {"a": rng.normal(size=(n, 6)).astype(np.float32), "b": rng.normal(size=(n, 3)).astype(np.float32)}
    y = {"cls": rng.integers(0, 3, n), "reg": rng.normal(size=(n, 1)).astype(np.float32)}
    return x, y


def compiled():
    m = two_head_model()
    m.compile("adam", loss={"cls": "cross_entropy", "reg": "mse"}, loss_weights={"reg": 0.3},
              metrics={"cls": ["accuracy"]})
    return m


def test_functional_round_trip_is_bitwise_and_training_continues_identically(tmp_path):
    x, y = data()
    model = compiled()
    model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    path = str(tmp_path / "m.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    assert isinstance(loaded, pydl.Model) and not isinstance(loaded, pydl.Sequential)
    assert loaded.input_names == ["a", "b"] and loaded.output_names == ["cls", "reg"]
    assert_weights_equal(loaded.get_weights(), model.get_weights())
    got, want = loaded.predict(x), model.predict(x)
    assert sorted(got) == sorted(want) == ["cls", "reg"]
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])
    assert loaded.evaluate(x, y) == model.evaluate(x, y)
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=8, verbose=0)
    assert_weights_equal(loaded.get_weights(), model.get_weights())


def test_version_1_file_of_pydl_0_1_loads():
    model = pydl.load_model(FIXTURE)
    assert isinstance(model, pydl.Sequential) and model.name == "v1_model"
    w = model.get_weights()
    assert [a.shape for a in w] == [(6, 5), (5,), (5, 3), (3,)]
    from safetensors.numpy import load_file

    stored = load_file(FIXTURE)
    assert_weights_equal(w, [stored[k] for k in ("weights/dense/kernel", "weights/dense/bias",
                                                  "weights/dense_1/kernel", "weights/dense_1/bias")])
    x = np.random.default_rng(0).normal(size=(5, 6)).astype(np.float32)
    ref = np.maximum(x.astype(np.float64) @ w[0] + w[1], 0) @ w[2] + w[3]
    np.testing.assert_allclose(model.predict(x), ref, rtol=1e-5, atol=1e-6)
    assert model._trainer.step == 8 and model.optimizer.kind == "adam" and model.metrics == ["accuracy"]


def forge(path, out, edit):
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    meta = json.loads(header["__metadata__"]["pydl"])
    edit(meta)
    header["__metadata__"]["pydl"] = json.dumps(meta)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    with open(out, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h + raw[8 + n:])
    return out


@pytest.mark.parametrize("edit, match", [
    (lambda m: m["model"].update({"class": "Pipeline"}), "model.class"),
    (lambda m: m["model"]["nodes"].__setitem__(0, [99, [0]]), r"model.nodes\[0\]"),
    (lambda m: m["model"]["nodes"].__setitem__(1, [1, [50]]), r"model.nodes\[1\]"),
    (lambda m: m["model"].update({"outputs": [999]}), "model.outputs"),
    (lambda m: m["model"]["inputs"][0].update({"shape": [0]}), r"model.inputs\[0\].shape"),
    (lambda m: m["model"].update({"output_keys": ["only_one"]}), "output_kind"),
    (lambda m: m["model"]["layers"][0].update({"class_name": "Nope"}), "layer 0"),
    (lambda m: m["compile"].update({"loss_weights": [1.0]}), "per output"),
    (lambda m: m["compile"]["losses"][0].update({"name": "hinge"}), "unknown loss"),
])
def test_malformed_graph_entries_raise_value_error_naming_them(tmp_path, edit, match):
    path = str(tmp_path / "m.pydl")
    compiled().save(path)
    bad = forge(path, str(tmp_path / "bad.pydl"), edit)
    with pytest.raises(ValueError, match=match):
        pydl.load_model(bad)
