"""Fuzz target: random Sequential architectures, built, fitted one tiny step, predicted,
saved, loaded and predicted again.

Every layer type in pydl.layers is drawn, each with a config generated from its
constructor's signature (so a new layer type is fuzzed without touching this file): sizes
are small most of the time and sometimes anything in int64 (Bytes.size). A documented
exception at any stage ends the input; anything else, a native crash, or a loaded model whose
predictions differ from the saved one's, is a finding.
"""
import inspect
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

if __name__ == "__main__":
    _common.main(__file__)

import numpy as np  # noqa: E402
import pydl  # noqa: E402
from pydl import layers, optimizers  # noqa: E402

# Every layer type of pydl.layers (new ones are fuzzed without touching this file).
LAYER_TYPES = _common.StableTable(
    ("Activation", "Add", "Average", "AvgPool2D", "BatchNormalization", "Bidirectional", "Concatenate", "Conv2D",
     "Dense", "Dropout", "Embedding", "Flatten", "GRU", "GlobalAvgPool2D", "GlobalMaxPool2D", "LSTM",
     "LayerNormalization", "MaxPool2D", "Maximum", "Minimum", "Multiply", "Normalization", "Reshape", "SimpleRNN",
     "Subtract"),
    [c for c in vars(layers).values()
     if inspect.isclass(c) and issubclass(c, layers.Layer) and c not in (layers.Layer, layers.Input)])
RECURRENT = [c for c in LAYER_TYPES.frozen if c.__name__ in ("SimpleRNN", "LSTM", "GRU")]
LOSSES = ("cross_entropy", "binary_cross_entropy", "mse", "mae")
MAX_VALUES = 1 << 16  # data arrays (samples x values) are made only up to this size
MAX_LAYERS = 5


def _pair_or_int(b):
    return b.size() if b.bool() else [b.size(), b.size()]


def _value(b, cls, name, default):
    """A value for constructor parameter ``name`` of ``cls``: by name first, then by the
    default's type."""
    if name == "name":
        return None if b.chance(240) else b.text()
    if name == "activation":
        return b.pick((*layers.ACTIVATIONS, None, "swish"))
    if name == "padding":
        return b.pick(("valid", "same", "full", b.size(0, 2), [b.size(0, 2), b.size(0, 2)]))
    if name in ("kernel_size", "pool_size", "strides", "dilation_rate"):
        if default is None and b.chance(128):
            return None
        return _pair_or_int(b) if name != "dilation_rate" or b.chance(64) else 1
    if name == "target_shape":
        shape = [b.size() for _ in range(b.int_in(1, 4))]
        if b.bool():
            shape[b.int_in(0, len(shape) - 1)] = -1
        return shape
    if name in ("mean", "variance"):
        return None if b.chance(192) else [b.float() for _ in range(b.int_in(1, 8))]
    if name == "per":
        return b.pick(("feature", "channel", "sample"))
    if name == "merge_mode":
        return b.pick((*getattr(cls, "MERGE_MODES", ()), "max"))
    if name == "layer":  # Bidirectional's wrapped layer (sometimes as a saved config dict)
        inner = make_layer(b, b.pick(RECURRENT) if b.chance(240) else layers.Dense)
        if inner is not None and b.chance(32):
            return layers.serialize(inner)
        return inner
    if isinstance(default, bool):
        return b.bool()
    if isinstance(default, float):
        return b.float()
    if isinstance(default, str):
        return default if b.chance(224) else b.text()
    return b.size()  # units, filters, input_dim, output_dim, ... and anything new


def make_layer(b, cls):
    kwargs = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        has_default = p.default is not p.empty
        if has_default and b.chance(96):
            continue  # keep the default
        kwargs[p.name] = _value(b, cls, p.name, p.default if has_default else None)
    try:
        return cls(**kwargs)
    except _common.DOCUMENTED:
        return None


def _optimizer(b):
    kind = b.int_in(0, 3)
    if kind == 0:
        return b.pick(("sgd", "adam", "adamw"))
    lr = b.float() * 0.1 if b.chance(240) else b.float()
    clip = None if b.chance(200) else b.float()
    cls = (optimizers.SGD, optimizers.Adam, optimizers.AdamW)[kind - 1]
    return cls(learning_rate=lr, clipnorm=clip)


def _data(b, model, n, loss):
    """(x, y) for n samples of model, or None when too big to make."""
    in_shape, out_shape = tuple(model.input_shape), tuple(model.output_shape)
    if n * int(np.prod(in_shape, dtype=object)) > MAX_VALUES or n * int(np.prod(out_shape, dtype=object)) > MAX_VALUES:
        return None
    rng = np.random.default_rng(b.uint(4))
    # Small non-negative integers: valid Embedding ids for most vocabularies, fine for the rest.
    x = rng.integers(0, 3, size=(n, *in_shape)).astype(np.float32)
    if loss == "cross_entropy":
        classes = out_shape[0] if len(out_shape) == 1 else 2
        y = rng.integers(0, max(1, classes), size=n)
    else:
        y = rng.random((n, *out_shape), dtype=np.float32)
    return x, y


def test_one_input(data: bytes) -> None:
    b = _common.Bytes(data)
    shape = [b.size() for _ in range(b.int_in(1, 3))]
    specs = [make_layer(b, b.pick_stable(LAYER_TYPES)) for _ in range(b.int_in(1, MAX_LAYERS))]
    specs = [s for s in specs if s is not None]
    loss = b.pick(LOSSES)
    n, batch_size = b.int_in(1, 4), b.size(1, 4)
    try:
        opt = _optimizer(b)
        model = pydl.Sequential([layers.Input(shape), *specs], seed=b.uint(4))
        model.build()
        model.compile(optimizer=opt, loss=loss)
    except _common.DOCUMENTED:
        return
    xy = _data(b, model, n, loss)
    if xy is None:
        return
    x, y = xy
    try:
        model.fit(x, y, epochs=1, batch_size=batch_size, verbose=0)
    except _common.DOCUMENTED:
        pass  # a model that cannot train (wrong output shape for the loss, NaN) still predicts
    try:
        before = model.predict(x, batch_size=batch_size)
    except _common.DOCUMENTED:
        return
    fd, path = tempfile.mkstemp(suffix=".pydl")
    os.close(fd)
    try:
        try:
            model.save(path)
        except _common.DOCUMENTED:
            return
        loaded = pydl.load_model(path)  # a file pydl wrote must load: no exception is expected
        after = loaded.predict(x, batch_size=batch_size)
        if not np.array_equal(before, after, equal_nan=True):
            raise _common.Finding(f"predictions differ after save/load: {before!r} vs {after!r}")
    finally:
        os.unlink(path)
