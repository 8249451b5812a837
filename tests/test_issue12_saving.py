"""Issue 12, model files: a path whose suffix promises another format (model.h5) or no
format at all is refused before anything is written; pydl writes ``.pydl``. Loading a file
of another format says which format it is."""
import os
import pickle
import zipfile

import numpy as np
import pytest

import pydl
from pydl import callbacks, layers


def small_model():
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=0)
    model.compile("adam", "cross_entropy")
    return model


@pytest.mark.parametrize("name", ["model.h5", "model.hdf5", "model.keras", "model.pt", "model.pth", "model.onnx",
                                  "model.pkl", "model.pickle", "model.json", "model.safetensors", "model.npz",
                                  "model.ckpt", "model.H5", "weights.tar.gz"])
def test_save_refuses_suffixes_of_other_formats(tmp_path, name):
    with pytest.raises(ValueError, match=r"pydl writes \.pydl files.*model\.pydl|pydl writes \.pydl files"):
        small_model().save(str(tmp_path / name))
    assert os.listdir(tmp_path) == []  # nothing written, not even a temp file


def test_save_refuses_a_missing_suffix(tmp_path):
    with pytest.raises(ValueError, match=r"no suffix.*add \.pydl"):
        small_model().save(str(tmp_path / "model"))
    with pytest.raises(ValueError, match=r"no suffix"):
        small_model().save(str(tmp_path / "my.model" / "weights"))  # a dot in a folder is not a suffix
    assert os.listdir(tmp_path) == []


def test_save_accepts_pydl_in_any_case_and_pathlib(tmp_path):
    model = small_model()
    model.save(tmp_path / "a.pydl")
    model.save(str(tmp_path / "B.PYDL"))
    for name in ("a.pydl", "B.PYDL"):
        got = pydl.load_model(str(tmp_path / name)).get_weights()
        assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(got, model.get_weights()))


def test_save_path_of_the_wrong_type():
    with pytest.raises(TypeError, match="path"):
        small_model().save(3)


def test_model_checkpoint_checks_its_path_template():
    with pytest.raises(ValueError, match=r"\.pydl"):
        callbacks.ModelCheckpoint("ckpt-{epoch}.h5")
    with pytest.raises(ValueError, match="no suffix"):
        callbacks.ModelCheckpoint("ckpt-{epoch}")
    assert callbacks.ModelCheckpoint("ckpt-{epoch:02d}-{val_loss:.3f}.pydl").filepath.endswith(".pydl")


@pytest.mark.parametrize("kind, make", [
    ("HDF5", lambda p: p.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)),
    ("zip", lambda p: zipfile.ZipFile(p, "w").writestr("config.json", "{}")),
    ("pickle", lambda p: p.write_bytes(pickle.dumps({"a": 1}))),
])
def test_load_names_the_foreign_format(tmp_path, kind, make):
    path = tmp_path / "model.h5"
    make(path)
    with pytest.raises(ValueError, match=rf"{kind}.*not a pydl model"):
        pydl.load_model(str(path))


def test_a_pydl_file_under_another_name_still_loads(tmp_path):
    # Files written before this check under a foreign name are still pydl files: the
    # content decides what load reads, the suffix only what save promises.
    model = small_model()
    model.save(str(tmp_path / "m.pydl"))
    os.rename(tmp_path / "m.pydl", tmp_path / "old.h5")
    got = pydl.load_model(str(tmp_path / "old.h5")).get_weights()
    assert len(got) == 2 and all(np.array_equal(a, b) for a, b in zip(got, model.get_weights()))


def test_a_safetensors_header_length_that_looks_like_pickle_magic_is_not_called_pickle():
    # A header of 0x0380 bytes starts with b"\x80\x03", the magic of a protocol-3 pickle; the
    # JSON brace after the 8-byte length says safetensors.
    from pydl.engine.saving import _foreign_format
    assert _foreign_format((0x380).to_bytes(8, "little") + b"{") is None
    assert _foreign_format(b"\x80\x03]q\x00(K\x01K\x02e.") == "a Python pickle"
