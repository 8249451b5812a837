"""Fuzz target: pydl.load_model on raw bytes (a model file is something people download).

The input is the file. A load must end in a model or a ValueError naming the file; a model
that loads must also predict (a forged file that loads and then crashes is a finding).
Seeds are real saved models (tests/fuzz/make_seeds.py). Besides libFuzzer's byte mutations,
custom_mutator edits the JSON inside the safetensors header and fixes the header's length
prefix, so that forged architectures (Reshape((2**32, 2**32, -1)), Conv2D(2**61, 3)) get past
the container check to the layers.
"""
import json
import os
import random
import struct
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

if __name__ == "__main__":
    _common.main(__file__)

import numpy as np  # noqa: E402
import pydl  # noqa: E402

MAX_PREDICT_VALUES = 1 << 16  # predict on one sample when it is at most this big
NONE_LENGTH = 3  # the length given to a variable-length (None) input axis
EDGE_INTS = (0, -1, 1, 2**31 - 1, 2**31, 2**32, 2**32 + 1, 2**53 + 1, 2**61, 2**62, 2**63 - 1, 2**63, 2**64, -2**63,
             10**30)
EDGE_VALUES = (None, True, "", "x", [], {}, 0.5, -0.0, 1e308, float("nan"), [2**32, 2**32, -1])


def test_one_input(data: bytes) -> None:
    fd, path = tempfile.mkstemp(suffix=".pydl")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            model = pydl.load_model(path)
        except _common.DOCUMENTED as e:
            _common.check_names_file(e, path)
            return
        # None marks a length chosen per call (Input((None, 8))): predict with a short one
        shape = tuple(NONE_LENGTH if d is None else d for d in model.input_shape)
        if int(np.prod(shape, dtype=object)) <= MAX_PREDICT_VALUES:
            try:
                model.predict(np.zeros((1, *shape), np.float32))  # zeros: valid Embedding ids too
            except _common.DOCUMENTED:
                pass
    finally:
        os.unlink(path)


def _split(data: bytes):
    """(header dict, body) of a safetensors file, or None."""
    if len(data) < 8:
        return None
    n = struct.unpack("<Q", data[:8])[0]
    try:
        return json.loads(data[8:8 + n]), data[8 + n:]
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None


def _leaves(node, path=()):
    """(path, value) of every leaf of a JSON tree."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _leaves(v, path + (i,))
    else:
        yield path, node


def _set(node, path, value):
    for k in path[:-1]:
        node = node[k]
    node[path[-1]] = value


def _edit(tree, r: random.Random) -> None:
    """Replace one leaf of tree, an int by an edge int most of the time."""
    leaves = [(p, v) for p, v in _leaves(tree) if p]  # the root itself cannot be replaced in place
    if not leaves:
        return
    path, old = r.choice(leaves)
    if isinstance(old, int) and not isinstance(old, bool) and r.random() < 0.8:
        _set(tree, path, r.choice(EDGE_INTS))
    else:
        _set(tree, path, r.choice(EDGE_VALUES + EDGE_INTS))


def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    import atheris

    try:
        return _mutate(data, max_size, random.Random(seed))
    except Exception:  # noqa: BLE001  (a mutator bug must not end the run: mutate the bytes)
        return atheris.Mutate(data, max_size)


def _mutate(data: bytes, max_size: int, r: random.Random) -> bytes:
    import atheris

    parsed = _split(data)
    if parsed is None or r.random() < 0.25:
        return atheris.Mutate(data, max_size)
    header, body = parsed
    meta = header.get("__metadata__", {}).get("pydl") if isinstance(header.get("__metadata__"), dict) else None
    what = r.random()
    if isinstance(meta, str) and what < 0.5:  # the architecture, loss and optimizer
        try:
            tree = json.loads(meta)
            for _ in range(r.randint(1, 3)):
                _edit(tree, r)
            meta = json.dumps(tree)
        except (ValueError, RecursionError):
            pass
        header["__metadata__"]["pydl"] = meta
    elif isinstance(meta, str) and what < 0.75:  # bytes of the metadata text
        header["__metadata__"]["pydl"] = atheris.Mutate(meta.encode(), len(meta) + 64).decode("latin-1")
    else:  # the tensor table: dtypes, shapes, offsets
        _edit(header, r)
    text = json.dumps(header).encode()
    out = struct.pack("<Q", len(text)) + text + body
    return out if len(out) <= max_size else atheris.Mutate(data, max_size)

