"""ONNX export (pydl.onnx, model.export_onnx): every layer type, Sequential and functional
models with several inputs and outputs, and the demo CNN, run by onnxruntime's CPU provider
and compared with model.predict (rtol 1e-4, atol 1e-5) at two batch sizes each, which the
exported model's dynamic batch axis must both take. Weights are random (moving statistics
and variances too), so a wrongly placed or forgotten weight cannot go unnoticed."""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import pydl
from pydl import layers as L
from pydl.cli import demo_model

RTOL, ATOL = 1e-4, 1e-5
BATCHES = (1, 5)


def randomize(model, seed=0, scale=0.5):
    """Random weights everywhere; variances positive."""
    rng = np.random.default_rng(seed)
    weights = []
    for spec, w in zip(model.weight_specs(), model.get_weights()):
        v = rng.normal(size=w.shape) * scale
        if "variance" in spec["path"]:
            v = np.abs(v) + 0.5
        weights.append(v.astype(np.float32))
    model.set_weights(weights)
    return model


def floats(*shape, seed=1):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def padded_ids(n, steps, vocab, seed=2, dtype=np.float32):
    """Ids in [1, vocab) with padding (0) at the start, the middle and the end of some rows,
    and one row of padding alone."""
    ids = np.random.default_rng(seed).integers(1, vocab, size=(n, steps))
    for i in range(n):
        kind = i % 4
        if kind == 0:
            ids[i, :2] = 0
        elif kind == 1:
            ids[i, steps // 2] = 0
        elif kind == 2:
            ids[i, -3:] = 0
    if n > 3:
        ids[3] = 0
    return ids.astype(dtype)


def as_list(out):
    if isinstance(out, dict):
        return list(out.values())
    return list(out) if isinstance(out, list) else [out]


def roundtrip(model, make_inputs, tmp_path, opset=17, batches=BATCHES):
    """Export, check the file, and compare onnxruntime with predict at each batch size."""
    path = str(tmp_path / "model.onnx")
    model.export_onnx(path, opset=opset)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert [o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")] == [opset]
    for vi in proto.graph.input:  # the batch axis is symbolic
        assert vi.type.tensor_type.shape.dim[0].dim_param == "batch"
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    assert len(session.get_outputs()) == len(as_list(model.output_names))
    for n in batches:
        xs = make_inputs(n)
        xs = xs if isinstance(xs, (list, tuple)) else [xs]
        assert len(names) == len(xs)
        got = session.run(None, dict(zip(names, xs)))
        want = as_list(model.predict(xs if len(xs) > 1 else xs[0]))
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert g.shape == w.shape and g.shape[0] == len(xs[0])
            np.testing.assert_allclose(g, w, rtol=RTOL, atol=ATOL)
    return proto


def seq(shape, *layers_, seed=0):
    return randomize(pydl.Sequential([L.Input(shape), *layers_], seed=seed), seed)


# ---------------------------------------------------------------- layer cases
# id -> (model builder, input maker(n)); each builds a small model around one layer type.
CASES = {
    "dense": (lambda: seq((6,), L.Dense(4, activation="relu"), L.Dense(3, use_bias=False)), lambda n: floats(n, 6)),
    "dense_last_axis_of_sequences": (lambda: seq((5, 6), L.Dense(4, activation="tanh")), lambda n: floats(n, 5, 6)),
    "dense_on_images": (lambda: seq((3, 4, 2), L.Dense(5)), lambda n: floats(n, 3, 4, 2)),
    "softmax_head": (lambda: seq((6,), L.Dense(8, activation="relu"), L.Dense(4, activation="softmax")),
                     lambda n: floats(n, 6)),
    "sigmoid_head": (lambda: seq((6,), L.Dense(1, activation="sigmoid")), lambda n: floats(n, 6)),
    "softmax_over_steps": (lambda: seq((4, 5), L.Activation("softmax")), lambda n: floats(n, 4, 5)),
    "dropout_flatten_reshape": (lambda: seq((4, 6), L.Dropout(0.5), L.Reshape((3, -1)), L.Flatten(), L.Dense(2)),
                                lambda n: floats(n, 4, 6)),
    "normalization_per_feature": (lambda: seq((3, 4), L.Normalization(mean=floats(3, 4, seed=5),
                                                                       variance=np.abs(floats(3, 4, seed=6)) + .1)),
                                  lambda n: floats(n, 3, 4)),
    "normalization_per_channel_zero_variance": (
        lambda: seq((3, 4), L.Normalization(mean=[0.5, -1, 2, 0], variance=[2.0, 0.0, 0.5, 1.0], per="channel")),
        lambda n: floats(n, 3, 4)),
    # augmentation layers: inference is the identity, RandomCrop's centre crop of the padded image
    "random_augmentations": (lambda: seq((7, 6, 2), L.RandomFlip(seed=1), L.RandomRotation(20, seed=2),
                                         L.RandomZoom(0.2, seed=3), L.RandomBrightness(0.2, seed=4),
                                         L.RandomContrast(0.3, seed=5), L.Conv2D(3, 3)),
                             lambda n: floats(n, 7, 6, 2)),
    "random_crop_padded": (lambda: seq((7, 6, 2), L.RandomCrop((6, 5), padding=2, fill=0.5, seed=1), L.Conv2D(3, 2)),
                           lambda n: floats(n, 7, 6, 2)),
    "center_crop_and_resize": (lambda: seq((9, 8, 2), L.CenterCrop((5, 6)), L.Resize(7, 4), L.Conv2D(3, 2)),
                               lambda n: floats(n, 9, 8, 2)),
    "resize_nearest": (lambda: seq((5, 7, 2), L.Resize(8, 3, interpolation="nearest")), lambda n: floats(n, 5, 7, 2)),
    "conv2d_valid_relu": (lambda: seq((7, 6, 2), L.Conv2D(3, (3, 2), activation="relu")), lambda n: floats(n, 7, 6, 2)),
    "conv2d_same_strided": (lambda: seq((7, 6, 2), L.Conv2D(4, 3, strides=2, padding="same")),
                            lambda n: floats(n, 7, 6, 2)),
    "conv2d_explicit_padding_dilated_no_bias": (
        lambda: seq((8, 8, 3), L.Conv2D(2, 3, padding=(2, 1), dilation_rate=2, use_bias=False)),
        lambda n: floats(n, 8, 8, 3)),
    "conv2d_same_dilated": (lambda: seq((7, 8, 1), L.Conv2D(2, (2, 3), padding="same", dilation_rate=(2, 1))),
                            lambda n: floats(n, 7, 8, 1)),
    "max_pool2d": (lambda: seq((7, 6, 2), L.MaxPool2D()), lambda n: floats(n, 7, 6, 2)),
    "max_pool2d_same": (lambda: seq((7, 6, 2), L.MaxPool2D((3, 2), strides=(2, 1), padding="same")),
                        lambda n: floats(n, 7, 6, 2)),
    "avg_pool2d": (lambda: seq((7, 6, 2), L.AvgPool2D(3, strides=2)), lambda n: floats(n, 7, 6, 2)),
    "avg_pool2d_same_excludes_padding": (lambda: seq((7, 5, 2), L.AvgPool2D(3, strides=2, padding="same")),
                                         lambda n: floats(n, 7, 5, 2)),
    "global_avg_pool2d": (lambda: seq((5, 4, 3), L.GlobalAvgPool2D()), lambda n: floats(n, 5, 4, 3)),
    "global_max_pool2d": (lambda: seq((5, 4, 3), L.GlobalMaxPool2D()), lambda n: floats(n, 5, 4, 3)),
    "batch_normalization_images": (lambda: seq((4, 4, 3), L.BatchNormalization(epsilon=1e-3)),
                                   lambda n: floats(n, 4, 4, 3)),
    "batch_normalization_features": (lambda: seq((5,), L.Dense(4), L.BatchNormalization()), lambda n: floats(n, 5)),
    "layer_normalization": (lambda: seq((4, 6), L.LayerNormalization(epsilon=1e-3)), lambda n: floats(n, 4, 6)),
    "conv1d_valid": (lambda: seq((9, 3), L.Conv1D(4, 3, activation="gelu")), lambda n: floats(n, 9, 3)),
    "conv1d_same_strided": (lambda: seq((9, 3), L.Conv1D(4, 4, strides=2, padding="same")), lambda n: floats(n, 9, 3)),
    "conv1d_same_dilated": (lambda: seq((9, 3), L.Conv1D(3, 3, padding="same", dilation_rate=3)),
                            lambda n: floats(n, 9, 3)),
    "conv1d_causal_dilated": (lambda: seq((9, 3), L.Conv1D(2, 3, padding="causal", dilation_rate=2, use_bias=False)),
                              lambda n: floats(n, 9, 3)),
    "max_pool1d": (lambda: seq((9, 3), L.MaxPool1D(3, strides=2)), lambda n: floats(n, 9, 3)),
    "avg_pool1d_same": (lambda: seq((9, 3), L.AvgPool1D(2, padding="same")), lambda n: floats(n, 9, 3)),
    "global_avg_pool1d": (lambda: seq((6, 3), L.GlobalAvgPool1D()), lambda n: floats(n, 6, 3)),
    "global_max_pool1d": (lambda: seq((6, 3), L.GlobalMaxPool1D()), lambda n: floats(n, 6, 3)),
    "global_avg_pool1d_masked": (lambda: seq((7,), L.Embedding(9, 4, mask_zero=True), L.GlobalAvgPool1D()),
                                 lambda n: padded_ids(n, 7, 9)),
    "global_max_pool1d_masked": (lambda: seq((7,), L.Embedding(9, 4, mask_zero=True), L.Dense(3), L.GlobalMaxPool1D()),
                                 lambda n: padded_ids(n, 7, 9)),
    "embedding": (lambda: seq((5,), L.Embedding(11, 3), L.Flatten()), lambda n: padded_ids(n, 5, 11)),
}

# Activations, one case each.
for _act in L.ACTIVATIONS:
    CASES[f"activation_{_act}"] = (lambda a=_act: seq((7,), L.Dense(5), L.Activation(a)), lambda n: floats(n, 7) * 2)

# Recurrent layers: each cell with and without return_sequences, plain and under a padding
# mask (which runs as a Scan), and Bidirectional with each merge mode.
_CELLS = {"simple_rnn": lambda **kw: L.SimpleRNN(3, **kw), "simple_rnn_relu": lambda **kw: L.SimpleRNN(3, "relu", **kw),
          "simple_rnn_leaky_relu": lambda **kw: L.SimpleRNN(3, "leaky_relu", **kw), "lstm": lambda **kw: L.LSTM(3, **kw),
          "gru": lambda **kw: L.GRU(3, **kw)}
for _name, _cell in _CELLS.items():
    for _seqs in (False, True):
        _tag = f"{_name}{'_sequences' if _seqs else ''}"
        CASES[_tag] = (lambda c=_cell, s=_seqs: seq((6, 4), c(return_sequences=s)), lambda n: floats(n, 6, 4))
        CASES[f"{_tag}_masked"] = (
            lambda c=_cell, s=_seqs: seq((7,), L.Embedding(9, 4, mask_zero=True), c(return_sequences=s)),
            lambda n: padded_ids(n, 7, 9))
for _mode in L.Bidirectional.MERGE_MODES:
    for _cell_name in ("lstm", "gru", "simple_rnn"):
        for _seqs in (False, True):
            _tag = f"bidirectional_{_cell_name}_{_mode}{'_sequences' if _seqs else ''}"
            CASES[_tag] = (lambda c=_CELLS[_cell_name], m=_mode, s=_seqs: seq((6, 4), L.Bidirectional(
                c(return_sequences=s), merge_mode=m)), lambda n: floats(n, 6, 4))
for _cell_name in ("lstm", "gru"):
    CASES[f"bidirectional_{_cell_name}_masked"] = (
        lambda c=_CELLS[_cell_name]: seq((7,), L.Embedding(9, 4, mask_zero=True),
                                         L.Bidirectional(c(return_sequences=True), merge_mode="ave")),
        lambda n: padded_ids(n, 7, 9))
CASES["stacked_rnn_masked"] = (
    lambda: seq((7,), L.Embedding(9, 4, mask_zero=True), L.GRU(5, return_sequences=True), L.Dense(4),
                L.LSTM(3, return_sequences=True), L.GlobalAvgPool1D()),
    lambda n: padded_ids(n, 7, 9))


@pytest.mark.parametrize("case", sorted(CASES))
def test_layer_matches_predict(case, tmp_path):
    build, make_inputs = CASES[case]
    roundtrip(build(), make_inputs, tmp_path)


def test_every_layer_type_has_a_case():
    """Each registered layer class appears in some model the tests export (TransformerEncoder
    is a composite of registered layers and has its own test)."""
    from pydl.onnx.graph import CONVERTERS

    covered = {"multi_head_attention", "position_embedding", "add", "subtract", "multiply", "average",
               "maximum", "minimum", "concatenate"}  # the functional tests below
    for build, _ in CASES.values():
        model = build()
        covered.update(layer.core_type for layer in model.layers)
    types = {cls.core_type for cls in L.registered_layers().values()}
    assert types - covered == set()
    assert types <= set(CONVERTERS)


def _ops(proto):
    return {n.op_type for n in proto.graph.node}


def test_recurrent_layers_use_onnx_ops_with_converted_gates(tmp_path):
    """Unmasked cells become ONNX's LSTM / GRU (linear_before_reset=1) / RNN ops, masked ones
    a Scan; the results matched predict in the cases above."""
    build, make_inputs = CASES["bidirectional_lstm_concat_sequences"]
    assert "LSTM" in _ops(roundtrip(build(), make_inputs, tmp_path)) - {"Scan"}
    build, make_inputs = CASES["gru"]
    proto = roundtrip(build(), make_inputs, tmp_path)
    (gru,) = [n for n in proto.graph.node if n.op_type == "GRU"]
    assert {a.name: a.i for a in gru.attribute}["linear_before_reset"] == 1
    build, make_inputs = CASES["simple_rnn_relu"]
    assert "RNN" in _ops(roundtrip(build(), make_inputs, tmp_path))
    build, make_inputs = CASES["lstm_masked"]
    ops = _ops(roundtrip(build(), make_inputs, tmp_path))
    assert "Scan" in ops and "LSTM" not in ops


def test_int_and_bool_inputs_feed_any_layer(tmp_path):
    """int32 and bool Inputs are INT32 and BOOL in ONNX, and a Dense reads them as numbers."""
    ids, flags = pydl.Input((4,), dtype="int32", name="counts"), pydl.Input((4,), dtype="bool", name="flags")
    model = randomize(pydl.Model([ids, flags], L.Add()([L.Dense(3)(ids), L.Dense(3)(flags)])))
    rng = np.random.default_rng(0)
    proto = roundtrip(model, lambda n: [rng.integers(0, 9, (n, 4)).astype(np.int32), rng.random((n, 4)) < 0.5],
                      tmp_path)
    assert [i.type.tensor_type.elem_type for i in proto.graph.input] == [onnx.TensorProto.INT32,
                                                                         onnx.TensorProto.BOOL]


# ------------------------------------------------------------ functional models
def test_merge_layers_multi_input(tmp_path):
    a, b, c = pydl.Input((4, 3), name="a"), pydl.Input((4, 3), name="b"), pydl.Input((4, 3), name="c")
    parts = [L.Add()([a, b, c]), L.Subtract()([a, b]), L.Multiply()([a, b, c]), L.Average()([b, c]),
             L.Maximum()([a, b, c]), L.Minimum()([a, c])]
    joined = L.Concatenate()(parts)
    out = L.Concatenate(axis=1)([joined, L.Dense(18)(a)])
    model = randomize(pydl.Model([a, b, c], out))
    roundtrip(model, lambda n: [floats(n, 4, 3, seed=k) for k in range(3)], tmp_path)


def test_shared_layer_keeps_one_copy_of_its_weights(tmp_path):
    left, right = pydl.Input((5,), name="left"), pydl.Input((5,), name="right")
    shared = L.Dense(7, activation="tanh")
    model = randomize(pydl.Model([left, right], L.Subtract()([shared(left), shared(right)])))
    proto = roundtrip(model, lambda n: [floats(n, 5, seed=1), floats(n, 5, seed=2)], tmp_path)
    assert [tuple(t.dims) for t in proto.graph.initializer].count((5, 7)) == 1


def test_multi_output_dict_heads(tmp_path):
    """Two named outputs (a softmax and a sigmoid head, compiled so that the trainer splits
    their activations off) from a shared trunk; ONNX outputs in output_names order."""
    x = pydl.Input((6,), name="features")
    h = L.Dense(8, activation="relu")(x)
    model = pydl.Model(x, {"kind": L.Dense(3, activation="softmax")(h), "flag": L.Dense(1, activation="sigmoid")(h)})
    model.compile(loss={"kind": "cross_entropy", "flag": "binary_cross_entropy"})
    randomize(model)
    proto = roundtrip(model, lambda n: floats(n, 6), tmp_path)
    assert [o.name for o in proto.graph.output] == model.output_names == ["kind", "flag"]
    assert [i.name for i in proto.graph.input] == ["features"]


def _padded_int_ids(n):
    return padded_ids(n, 6, 12, dtype=np.int32)


def test_multi_head_attention_variants(tmp_path):
    """Self- and cross-attention with a key, a boolean attention_mask input, the causal mask,
    value_dim, output_shape as a tuple, no biases, and padding masks on query and keys."""
    ids = pydl.Input((6,), name="ids", dtype="int32")
    other = pydl.Input((5, 4), name="memory")
    keys = pydl.Input((5, 3), name="keys")
    allow = pydl.Input((6, 5), name="allow", dtype="bool")
    x = L.Embedding(12, 8, mask_zero=True)(ids)
    s = L.MultiHeadAttention(2, 3)(x, x)                                   # padded queries and keys
    c = L.MultiHeadAttention(2, 4, value_dim=2, output_shape=(2, 3))(x, other, key=keys, attention_mask=allow)
    k = L.MultiHeadAttention(1, 5, use_bias=False, output_shape=6)(s, s, use_causal_mask=True)
    out = L.Concatenate()([s, L.Reshape((6, 6))(c), k])
    model = randomize(pydl.Model([ids, other, keys, allow], out))

    def inputs(n):
        mask = np.random.default_rng(n).random((n, 6, 5)) < 0.6
        mask[0, 1] = False  # a query row that may attend to no key
        return [_padded_int_ids(n), floats(n, 5, 4), floats(n, 5, 3, seed=3), mask]
    roundtrip(model, inputs, tmp_path)


def test_attention_scores_output(tmp_path):
    """return_attention_scores=True: the weights (N, heads, Tq, Tk) are a model output, with
    padded keys (weight 0) and padded query rows (weights 1 / Tk)."""
    ids = pydl.Input((6,), name="ids", dtype="int32")
    x = L.Embedding(12, 8, mask_zero=True)(ids)
    out, scores = L.MultiHeadAttention(2, 3)(x, x, return_attention_scores=True)
    model = randomize(pydl.Model(ids, [L.GlobalAvgPool1D()(out), scores]))
    proto = roundtrip(model, _padded_int_ids, tmp_path)
    assert len(proto.graph.output) == 2


@pytest.mark.parametrize("normalize_first", [False, True])
def test_transformer_encoder_with_position_embedding(normalize_first, tmp_path):
    ids = pydl.Input((6,), name="ids", dtype="int32")
    x = L.Embedding(12, 8, mask_zero=True)(ids)
    x = L.Add()([x, L.PositionEmbedding(10)(x)])
    x = L.TransformerEncoder(16, 2, dropout=0.1, activation="gelu", normalize_first=normalize_first)(x)
    out = L.Dense(3, activation="softmax")(L.GlobalAvgPool1D()(x))
    model = randomize(pydl.Model(ids, out), scale=0.3)
    proto = roundtrip(model, _padded_int_ids, tmp_path)
    assert {"MatMul", "Softmax", "LayerNormalization"} <= {n.op_type for n in proto.graph.node}


def test_loaded_model_exports(tmp_path):
    """A model read back by load_model (a TransformerEncoder is then its sublayers)."""
    ids = pydl.Input((6,), name="ids", dtype="int32")
    x = L.TransformerEncoder(8, 2)(L.Embedding(12, 4, mask_zero=True)(ids))
    model = randomize(pydl.Model(ids, L.GlobalMaxPool1D()(x)), scale=0.3)
    model.save(str(tmp_path / "m.pydl"))
    loaded = pydl.load_model(str(tmp_path / "m.pydl"))
    loaded.export_onnx(tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    for n in BATCHES:
        xs = _padded_int_ids(n)
        np.testing.assert_allclose(session.run(None, {"ids": xs})[0], model.predict(xs), rtol=RTOL, atol=ATOL)


def test_sequences_of_any_length(tmp_path):
    """An Input with a None steps axis exports with that axis dynamic too."""
    x = pydl.Input((None, 3), name="series")
    h = L.Conv1D(4, 3, padding="causal")(x)
    h = L.LSTM(5, return_sequences=True)(h)
    out = L.Dense(2)(L.Add()([h, L.PositionEmbedding(12)(h)]))
    model = randomize(pydl.Model(x, out))
    path = str(tmp_path / "series.onnx")
    model.export_onnx(path)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    for n, steps in ((2, 5), (3, 9)):
        xs = floats(n, steps, 3, seed=steps)
        np.testing.assert_allclose(session.run(None, {"series": xs})[0], model.predict(xs), rtol=RTOL, atol=ATOL)


def test_opset_18_reductions(tmp_path):
    """From opset 18 reductions take their axes as an input."""
    model = seq((7,), L.Embedding(9, 4, mask_zero=True), L.Conv1D(3, 2, padding="same"), L.GlobalMaxPool1D(),
                L.Reshape((3, 1, 1)), L.GlobalAvgPool2D())
    roundtrip(model, lambda n: padded_ids(n, 7, 9), tmp_path, opset=18)


def test_demo_model_trained(tmp_path):
    """The CLI demo's CNN, trained briefly on digits (so BatchNormalization's moving
    statistics are real), matches predict on held-out images."""
    x, y = pydl.datasets.load_digits(as_images=True)
    model = demo_model(0)
    model.compile(optimizer="adam", loss="cross_entropy")
    model.fit(x[:1200], y[:1200], epochs=2, batch_size=64, verbose=0)
    roundtrip(model, lambda n: x[1200:1200 + n * 40], tmp_path, batches=(1, 4))


# ------------------------------------------------------------------- errors
def test_layer_without_converter_is_named(tmp_path, monkeypatch):
    from pydl.onnx import graph

    monkeypatch.delitem(graph.CONVERTERS, "gru")
    model = seq((5, 3), L.Dense(4), L.GRU(2, name="encoder"))
    path = tmp_path / "m.onnx"
    with pytest.raises(ValueError, match=r"layer 'encoder' \(GRU, C\+\+ type 'gru'\) cannot be exported"):
        model.export_onnx(path)
    assert not path.exists()


def test_concatenating_masked_steps_is_refused(tmp_path):
    ids = pydl.Input((5,), dtype="int32")
    x = L.Embedding(9, 4, mask_zero=True)(ids)
    model = pydl.Model(ids, L.Concatenate(axis=1, name="join")([x, L.Dense(4)(x)]))
    with pytest.raises(ValueError, match=r"Concatenate 'join' joins masked sequences along their steps axis"):
        model.export_onnx(tmp_path / "m.onnx")


def test_dilated_same_padding_on_a_free_axis_is_refused(tmp_path):
    """onnxruntime has no SAME padding with a dilation, and the pads of an axis of any length
    cannot be fixed at export time."""
    x = pydl.Input((None, 3))
    model = pydl.Model(x, L.Conv1D(2, 3, padding="same", dilation_rate=2, name="wide")(x))
    with pytest.raises(ValueError, match=r"Conv1D 'wide' has padding='same' with dilation_rate > 1 on an axis"):
        model.export_onnx(tmp_path / "m.onnx")


@pytest.mark.parametrize("opset, error", [(16, ValueError), (10_000, ValueError), ("17", TypeError),
                                          (True, TypeError)])
def test_bad_opset(opset, error, tmp_path):
    with pytest.raises(error, match="opset"):
        seq((3,), L.Dense(2)).export_onnx(tmp_path / "m.onnx", opset=opset)


@pytest.mark.parametrize("name", ["model.pydl", "model", ".onnx", "model.onnx.tmp"])
def test_path_must_name_an_onnx_file(name, tmp_path):
    with pytest.raises(ValueError, match=r"expected a path ending in \.onnx"):
        seq((3,), L.Dense(2)).export_onnx(tmp_path / name)
    assert list(tmp_path.iterdir()) == []


def test_path_type(tmp_path):
    with pytest.raises(TypeError, match="path"):
        seq((3,), L.Dense(2)).export_onnx(b"model.onnx")


def test_missing_onnx_names_the_extra(tmp_path):
    code = ("import sys; sys.modules['onnx'] = None\n"
            "import numpy as np, pydl\n"
            "m = pydl.Sequential([pydl.Input((3,)), pydl.layers.Dense(2)])\n"
            "try:\n    m.export_onnx('m.onnx')\nexcept ImportError as e:\n    print('ImportError:', e)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(pydl.__file__)),
                                                        os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120,
                         cwd=tmp_path)
    assert 'ImportError: pydl\'s ONNX export needs the onnx package: pip install "pydl[onnx]"' in out.stdout, \
        out.stdout + out.stderr
    assert list(tmp_path.iterdir()) == []
