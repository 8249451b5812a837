"""Loading model files and checkpoints from hostile input: a refused resume leaves the model
exactly as it was; forged metadata, learning rates, steps and tensors give a ValueError that
names the file; non-regular files and lying headers are refused before the body is read."""
import json
import os
import re
import struct

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

import pydl
from pydl import callbacks as cb
from pydl import layers, optimizers
from pydl.engine.saving import load_checkpoint_into

from conftest import assert_weights_equal


# ---------------------------------------------------------------------------- helpers

def mlp(optimizer, seed=4):
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(16, activation="relu"), layers.Dense(10)],
                            seed=seed)
    model.compile(optimizer=optimizer, loss="cross_entropy")
    return model


@pytest.fixture(scope="module")
def digits():
    x, y = pydl.datasets.load_digits()
    return x[:400], y[:400]


@pytest.fixture(scope="module")
def adam_checkpoint(digits, tmp_path_factory):
    """A checkpoint after epoch 1 of an Adam run (seed 4)."""
    folder = tmp_path_factory.mktemp("ckpt")
    model = mlp(optimizers.Adam(learning_rate=1e-2))
    model.fit(*digits, epochs=1, batch_size=64, verbose=0,
              callbacks=[cb.ModelCheckpoint(str(folder / "ckpt-{epoch}.pydl"))])
    return str(folder / "ckpt-1.pydl")


def meta_of(path):
    with safe_open(path, "np") as f:
        return json.loads(f.metadata()["pydl"])


def forge(src, dst, edit=None, tensors=None, raw_meta=None):
    """Copy the model file src to dst with its metadata changed by edit(meta) (or replaced
    by the string raw_meta) and its tensors by tensors(dict)."""
    t = load_file(src)
    meta = meta_of(src)
    if edit is not None:
        edit(meta)
    if tensors is not None:
        tensors(t)
    text = raw_meta if raw_meta is not None else json.dumps(meta)
    save_file(t, str(dst), metadata={"pydl": text})
    return str(dst)


def trained_sgd_model(digits):
    """The model that a refused resume must leave alone: trained one epoch, with SGD."""
    model = mlp(optimizers.SGD(learning_rate=0.05, momentum=0.9))
    model.fit(*digits, epochs=1, batch_size=64, verbose=0)
    return model


def trained_adam_model(digits, seed=4):
    model = mlp(optimizers.Adam(learning_rate=3e-3), seed=seed)
    model.fit(*digits, epochs=1, batch_size=50, verbose=0)
    return model


def state_of(model):
    return model.get_weights(), int(model._trainer.step), float(model._trainer.learning_rate), \
        [np.array(s) for s in model._trainer.slots()], model._epochs_seen


def assert_unchanged(model, before):
    w, step, lr, slots, seen = state_of(model)
    assert_weights_equal(w, before[0])
    assert (step, lr, seen) == (before[1], before[2], before[4])
    assert len(slots) == len(before[3])
    assert all(np.array_equal(a, b) for a, b in zip(slots, before[3]))


# ------------------------------------------------- item 10: a refused resume changes nothing

def test_checkpoint_differs_from_the_model_it_is_refused_for(digits, adam_checkpoint):
    # Otherwise "unchanged" below could not tell a refused load from a completed one.
    model = trained_adam_model(digits)
    ckpt = load_file(adam_checkpoint)
    first = ckpt[next(k for k in sorted(ckpt) if k.startswith("weights/"))]
    assert not any(np.array_equal(first, w) for w in model.get_weights() if w.shape == first.shape)


def test_resume_with_another_optimizer_changes_nothing(digits, adam_checkpoint):
    model = trained_sgd_model(digits)
    before = state_of(model)
    with pytest.raises(ValueError, match=re.escape(repr(adam_checkpoint)) + ".*optimizer .*adam"):
        model.fit(*digits, epochs=3, verbose=0, resume_from=adam_checkpoint)
    assert_unchanged(model, before)


def test_resume_with_another_architecture_changes_nothing(digits, adam_checkpoint):
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(16, activation="tanh"), layers.Dense(10)], seed=4)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
    model.fit(*digits, epochs=1, verbose=0)
    before = state_of(model)
    with pytest.raises(ValueError, match="different architecture"):
        model.fit(*digits, epochs=3, verbose=0, resume_from=adam_checkpoint)
    assert_unchanged(model, before)


def test_seed_mismatch_is_refused_before_anything_changes(digits, adam_checkpoint):
    model = trained_adam_model(digits, seed=4)
    before = state_of(model)
    with pytest.raises(ValueError, match="trained with seed 4, this fit uses seed 5"):
        load_checkpoint_into(model, adam_checkpoint, seed=5)
    assert_unchanged(model, before)
    load_checkpoint_into(model, adam_checkpoint, seed=4)  # the matching seed loads
    assert_weights_equal(model.get_weights()[:1], [load_file(adam_checkpoint)["weights/dense/kernel"]])


def test_fit_with_another_seed_changes_nothing(digits, adam_checkpoint):
    model = trained_adam_model(digits, seed=4)
    before = state_of(model)
    with pytest.raises(ValueError, match="seed"):
        model.fit(*digits, epochs=3, verbose=0, seed=5, resume_from=adam_checkpoint)
    assert_unchanged(model, before)


def drop(key):
    return lambda t: t.pop(key)


def reshape(key):
    return lambda t: t.__setitem__(key, t[key][:-1])


@pytest.mark.parametrize("edit_tensors, message", [
    (drop("weights/dense_1/bias"), r"lacks the weight weights/dense_1/bias"),
    (reshape("weights/dense/kernel"), r"weight weights/dense/kernel: expected shape \(64, 16\), got \(63, 16\)"),
    (lambda t: t.__setitem__("weights/dense/bias", t["weights/dense/bias"].astype(np.float64)),
     r"weight weights/dense/bias: expected float32, got float64"),
    (drop("optimizer/slot1"), r"optimizer state optimizer/slot1 is missing"),
    (reshape("optimizer/slot0"), r"optimizer state optimizer/slot0 .*wrong size"),
])
def test_forged_checkpoint_tensors_change_nothing(digits, adam_checkpoint, tmp_path, edit_tensors, message):
    bad = forge(adam_checkpoint, tmp_path / "bad.pydl", tensors=edit_tensors)
    model = trained_adam_model(digits)
    before = state_of(model)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*" + message):
        model.fit(*digits, epochs=3, verbose=0, resume_from=bad)
    assert_unchanged(model, before)


def set_in(*keys_value):
    *keys, value = keys_value

    def edit(meta):
        d = meta
        for k in keys[:-1]:
            d = d[k]
        d[keys[-1]] = value
    return edit


@pytest.mark.parametrize("edit, message", [
    (set_in("compile", "learning_rate", float("nan")), r"learning rate: expected a finite number >= 0, got nan"),
    (set_in("compile", "learning_rate", float("inf")), r"learning rate: expected a finite number >= 0, got inf"),
    (set_in("compile", "learning_rate", -0.1), r"learning rate: expected a finite number >= 0, got -0.1"),
    (set_in("compile", "learning_rate", "0.1"), r"learning rate: expected a finite number >= 0, got '0.1'"),
    (set_in("compile", "step", -1), r"step: expected an int >= 0, got -1"),
    (set_in("compile", "step", 2.5), r"step: expected an int >= 0, got 2.5"),
    (set_in("compile", "step", True), r"step: expected an int >= 0, got True"),
    (set_in("compile", "step", 2 ** 70), r"step: expected an int >= 0 .*got 1180591620717411303424"),
    (set_in("epochs_seen", -3), r"epochs_seen: expected an int >= 0, got -3"),
    (set_in("checkpoint", "epoch", "1"), r"checkpoint epoch: expected an int >= 0, got '1'"),
    (set_in("checkpoint", "seed", -1), r"checkpoint seed: expected an int >= 0 or null, got -1"),
    (set_in("checkpoint", "callbacks", 5), r"checkpoint callbacks: expected a list"),
    (set_in("checkpoint", "callbacks", [5]), r"checkpoint callbacks\[0\]: expected"),
    (set_in("checkpoint", 7), r"checkpoint: expected an object"),
])
def test_forged_checkpoint_numbers_change_nothing(digits, adam_checkpoint, tmp_path, edit, message):
    bad = forge(adam_checkpoint, tmp_path / "bad.pydl", edit=edit)
    model = trained_adam_model(digits)
    before = state_of(model)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*" + message):
        load_checkpoint_into(model, bad, seed=4)
    assert_unchanged(model, before)


def test_a_good_checkpoint_still_loads_everything(digits, adam_checkpoint):
    model = trained_adam_model(digits)
    record = load_checkpoint_into(model, adam_checkpoint, seed=4)
    assert record["epoch"] == 0
    t, meta = load_file(adam_checkpoint), meta_of(adam_checkpoint)
    params = model._graph.params()
    want = [t[f"weights/{p['layer']}/{p['name']}"] for p in params]
    assert_weights_equal(model.get_weights(), want)
    slots = model._trainer.slots()
    assert len(slots) == len([k for k in t if k.startswith("optimizer/")]) > 0
    assert all(np.array_equal(s, t[f"optimizer/slot{i}"]) for i, s in enumerate(slots))
    assert model._trainer.step == meta["compile"]["step"] > 0
    assert model._trainer.learning_rate == meta["compile"]["learning_rate"]


# --------------------------------------- item 5: learning rates and steps from a model file

@pytest.fixture(scope="module")
def model_file(digits, tmp_path_factory):
    path = str(tmp_path_factory.mktemp("model") / "m.pydl")
    trained_adam_model(digits).save(path)
    return path


@pytest.mark.parametrize("where", ["compile", "optimizer"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), -1e-3])
def test_bad_learning_rate_in_a_model_file_is_refused(model_file, tmp_path, where, value):
    if where == "compile":
        edit = set_in("compile", "learning_rate", value)
    else:
        edit = set_in("compile", "optimizer", "config", "learning_rate", value)
    bad = forge(model_file, tmp_path / "bad.pydl", edit=edit)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*learning.rate.*" + re.escape(repr(value))):
        pydl.load_model(bad)


@pytest.mark.parametrize("step", [-1, 1.5, "3", None, 2 ** 64])
def test_bad_step_in_a_model_file_is_refused(model_file, tmp_path, step):
    bad = forge(model_file, tmp_path / "bad.pydl", edit=set_in("compile", "step", step))
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*step: expected an int >= 0"):
        pydl.load_model(bad)


# ------------------------------------------------------- item 11: forged metadata in load_model

FORGED_META = [
    ("[]", "metadata: expected an object"),
    ('"text"', "metadata: expected an object"),
    ("{", "not a readable pydl model file"),
    ("[" * 100000 + "]" * 100000, "not a readable pydl model file"),
    (json.dumps({"format": "pydl", "version": "1"}), "version: expected an int"),
    (json.dumps({"format": "pydl", "version": 1}), "model: expected an object"),
    (json.dumps({"format": "pydl", "version": 1, "model": 5}), "model: expected an object"),
]


@pytest.mark.parametrize("raw, message", FORGED_META)
def test_forged_metadata_text(model_file, tmp_path, raw, message):
    bad = forge(model_file, tmp_path / "bad.pydl", raw_meta=raw)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*" + message):
        pydl.load_model(bad)


def layer_cfg(i, **cfg):
    def edit(meta):
        meta["model"]["layers"][i]["config"].update(cfg)
    return edit


FORGED_FIELDS = [
    (set_in("model", "layers", "dense"), r"model.layers: expected a list"),
    (set_in("model", "layers", {"a": 1}), r"model.layers: expected a list"),
    (set_in("model", "layers", []), r"no layers"),
    (set_in("model", "layers", [5]), r"layer 0: expected an object"),
    (set_in("model", "layers", [{"class_name": "Nope", "config": {}}]), r"layer 0 \(Nope\): unknown layer"),
    (set_in("model", "layers", [{"class_name": "Dense"}]), r"layer 0"),
    (set_in("model", "layers", [{"class_name": "Dense", "config": [16]}]), r"layer 0"),
    (set_in("model", "layers", [{"class_name": "Bidirectional", "config": {"layer": 5}}]), r"layer 0"),
    (layer_cfg(0, units="sixteen"), r"layer 0 \(Dense\)"),
    (layer_cfg(0, units=None), r"layer 0 \(Dense\)"),
    (layer_cfg(0, activation=5), r"layer 0 \(Dense\)"),
    (layer_cfg(0, activation=["relu"]), r"layer 0 \(Dense\)"),
    (layer_cfg(0, bogus=1), r"layer 0 \(Dense\)"),
    (layer_cfg(0, name=5), r"layer 0 \(Dense\)"),
    (layer_cfg(1, use_bias=False), r"weights \['weights/dense_1/bias'\] are not in the saved architecture"),
    (layer_cfg(0, units=32), r"weight weights/dense/kernel: expected shape \(64, 32\), got \(64, 16\)"),
    (set_in("model", "seed", "4"), r"seed"),
    (set_in("model", "seed", -4), r"seed"),
    (set_in("model", "name", 5), r"model.name: expected a string"),
    (set_in("model", "input_shape", "64"), r"model.input_shape: expected a list of positive ints"),
    (set_in("model", "input_shape", None), r"model.input_shape: expected a list of positive ints"),
    (set_in("model", "input_shape", [-64]), r"model.input_shape: expected a list of positive ints"),
    (set_in("model", "input_shape", [64.5]), r"model.input_shape: expected a list of positive ints"),
    (set_in("model", "input_shape", [True]), r"model.input_shape: expected a list of positive ints"),
    (set_in("model", "input_shape", [32]), r"input_shape|expects|expected"),
    (set_in("compile", 5), r"compile: expected an object"),
    (set_in("compile", "optimizer", "adam"), r"compile.optimizer: expected an object"),
    (set_in("compile", "optimizer", "kind", "lamb"), r"optimizer.*lamb"),
    (set_in("compile", "optimizer", "config", {"bogus": 1}), r"optimizer"),
    (set_in("compile", "optimizer", "config", {"learning_rate": "fast"}), r"learning.rate"),
    (set_in("compile", "optimizer", "config", [1]), r"optimizer"),
    (set_in("compile", "losses", [{"name": "hinge", "config": {}}]), r"loss.*hinge"),
    (set_in("compile", "losses", [{"name": "cross_entropy", "config": {"bogus": 1}}]), r"loss"),
    (set_in("compile", "losses", [3]), r"compile.losses\[0\]: expected an object"),
    (set_in("compile", "metrics", 5), r"metrics"),
    (set_in("compile", "metrics", ["nope"]), r"metric"),
    (set_in("epochs_seen", "2"), r"epochs_seen: expected an int >= 0"),
    (set_in("epochs_seen", 1e300), r"epochs_seen: expected an int >= 0"),
]


@pytest.mark.parametrize("edit, message", FORGED_FIELDS)
def test_forged_metadata_fields(model_file, tmp_path, edit, message):
    bad = forge(model_file, tmp_path / "bad.pydl", edit=edit)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*" + message):
        pydl.load_model(bad)


@pytest.mark.parametrize("edit_tensors, message", [
    (drop("weights/dense_1/kernel"), r"lacks the weight weights/dense_1/kernel"),
    (reshape("weights/dense/kernel"), r"weight weights/dense/kernel: expected shape \(64, 16\), got \(63, 16\)"),
    (lambda t: t.__setitem__("weights/dense/kernel", t["weights/dense/kernel"].astype(np.int32)),
     r"expected float32, got int32"),
    (drop("optimizer/slot0"), r"optimizer state optimizer/slot0 is missing"),
])
def test_forged_tensors_in_a_model_file(model_file, tmp_path, edit_tensors, message):
    bad = forge(model_file, tmp_path / "bad.pydl", tensors=edit_tensors)
    with pytest.raises(ValueError, match=re.escape(repr(bad)) + ".*" + message):
        pydl.load_model(bad)


def test_unforged_copy_loads(model_file, tmp_path):
    # The forging helper itself keeps a file loadable: the failures above come from the edits.
    good = forge(model_file, tmp_path / "good.pydl")
    assert_weights_equal(pydl.load_model(good).get_weights(), pydl.load_model(model_file).get_weights())


# ------------------------------------------- item 11: what is read, and how much, from where

def test_non_regular_files_are_refused(tmp_path):
    fifo = tmp_path / "fifo.pydl"
    os.mkfifo(fifo)
    for path in ("/dev/zero", "/dev/null", str(tmp_path), str(fifo)):
        with pytest.raises(ValueError, match=re.escape(repr(path)) + ".*not a regular file"):
            pydl.load_model(path)  # /dev/zero used to be read until MemoryError, a FIFO blocks


def test_missing_file_is_an_oserror(tmp_path):
    with pytest.raises(OSError, match="cannot read model file .*missing.pydl"):
        pydl.load_model(str(tmp_path / "missing.pydl"))


def safetensors_bytes(header: dict, body: bytes = b"", length=None) -> bytes:
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h) if length is None else length) + h + body


@pytest.mark.parametrize("data, message", [
    (struct.pack("<Q", 2 ** 63) + b"{}", r"header of 9223372036854775808 bytes, but the file holds only 2 more"),
    (struct.pack("<Q", 2 ** 40) + b"{}" + b" " * 100, r"header of 1099511627776 bytes, but the file holds only 102 more"),
    (safetensors_bytes({"__metadata__": {"pydl": "{}"}}, length=1000), r"header of 1000 bytes"),
    (safetensors_bytes({"w": {"dtype": "F32", "shape": [2 ** 40], "data_offsets": [0, 2 ** 42]},
                        "__metadata__": {"pydl": json.dumps({"format": "pydl"})}}, b"\0" * 16),
     r"tensors need 4398046511104 bytes after the header, the file holds 16"),
    (safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                        "__metadata__": {"pydl": json.dumps({"format": "pydl"})}}, b"\0" * 8 + b"extra"),
     r"tensors need 8 bytes after the header, the file holds 13"),
    (safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 8),
     r"is not a pydl model file"),
    (safetensors_bytes([1, 2]), r"not a readable pydl model file"),
    (safetensors_bytes({"w": 5, "__metadata__": {"pydl": "{}"}}), r"not a readable pydl model file"),
    (safetensors_bytes({"w": {"dtype": "F32", "shape": [2], "data_offsets": "x"}}), r"not a readable"),
    (safetensors_bytes({"__metadata__": {"pydl": 5}}), r"not a readable pydl model file"),
    (safetensors_bytes({"__metadata__": 5}), r"not a readable pydl model file"),
    (b"\x05\x00", r"not a readable pydl model file"),
])
def test_safetensors_header_is_checked_against_the_file_size(tmp_path, data, message):
    bad = tmp_path / "bad.pydl"
    bad.write_bytes(data)
    with pytest.raises(ValueError, match=re.escape(repr(str(bad))) + ".*" + message):
        pydl.load_model(str(bad))


def test_a_lying_header_is_refused_before_the_body_is_read(tmp_path):
    # The header promises a tensor larger than the file: refused once the header is read,
    # without reading the 32 MB body into memory.
    import tracemalloc

    header = {"w": {"dtype": "F32", "shape": [2 ** 28], "data_offsets": [0, 2 ** 30]},
              "__metadata__": {"pydl": json.dumps({"format": "pydl", "version": 1})}}
    bad = tmp_path / "bad.pydl"
    bad.write_bytes(safetensors_bytes(header, b"\0" * (32 << 20)))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="tensors need 1073741824 bytes after the header, "
                                             "the file holds 33554432"):
            pydl.load_model(str(bad))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"{peak} bytes allocated: the body was read"
