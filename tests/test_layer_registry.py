"""The layer registry on both sides: C++ layer types register once and parse their own config
(unknown keys, unknown types and wrong-typed values are ValueErrors naming them); Python layer
classes register themselves for save/load, and each sends the C++ parser exactly the keys it
reads."""
import json
import re

import numpy as np
import pytest

from pydl import _core, layers
from pydl.layers import registered_layers
from pydl.layers.base import Layer, deserialize, serialize


def dense(**extra):
    return {"type": "dense", "name": "d1", "units": 3, "activation": None, "use_bias": True, **extra}


def build(cfg, inputs=([4],)):
    """A one-layer graph (two inputs for merges)."""
    inputs = [list(s) for s in inputs]
    return _core.Graph(inputs, [cfg], [(0, list(range(len(inputs))))], [len(inputs)])


def test_unknown_key_is_an_error_naming_it_and_the_known_keys():
    with pytest.raises(ValueError) as e:
        _core.Graph([4], [dense(foo=1)])
    assert str(e.value) == ("Dense 'd1': unknown config key 'foo' (expected one of units, activation, use_bias, "
                            "kernel_initializer, kernel_l1, kernel_l2, bias_initializer, bias_l1, bias_l2, name)")


def test_the_old_silently_dropped_keys_are_refused():
    # Conv2D's C++ parser reads Keras' "filters": the old renamed "units" is now unknown.
    cfg = {"type": "conv2d", "name": "c", "filters": 2, "kernel_size": [3, 3], "units": 2}
    with pytest.raises(ValueError, match=r"Conv2D 'c': unknown config key 'units'"):
        build(cfg, [[5, 5, 1]])
    # An LSTM has no activation: inside a Bidirectional the key is refused.
    bi = {"type": "bidirectional", "name": "b", "cell": "lstm", "units": 2, "activation": "tanh"}
    with pytest.raises(ValueError, match=r"Bidirectional 'b': unknown config key 'activation'"):
        build(bi, [[3, 2]])
    # Normalization's statistics are weights, not configuration.
    with pytest.raises(ValueError, match=r"unknown config key 'mean'"):
        build({"type": "normalization", "name": "n", "mean": None})


def test_unknown_type_lists_the_known_ones():
    with pytest.raises(ValueError) as e:
        _core.Graph([4], [{"type": "dnse", "name": "d1", "units": 3}])
    msg = str(e.value)
    assert "unknown layer type 'dnse'" in msg
    listed = re.search(r"known types: (.*)\)", msg).group(1).split(", ")
    assert listed == sorted(_core.layer_types())
    with pytest.raises(ValueError, match="config key 'type' is required"):
        _core.Graph([4], [{"name": "d1", "units": 3}])


@pytest.mark.parametrize("key, value, expected, shown", [
    ("units", "3", "an int", "'3'"),
    ("units", True, "an int", "True"),
    ("units", 2.5, "an int", "2.5"),
    ("use_bias", 1, "True or False", "1"),
    ("activation", [1, 2], "a string", "[1, 2]"),
])
def test_wrong_typed_value_names_layer_key_and_value(key, value, expected, shown):
    with pytest.raises(ValueError) as e:
        _core.Graph([4], [dense(**{key: value})])
    assert str(e.value) == f"Dense 'd1': config key '{key}' expected {expected}, got {shown}"


def test_wrong_typed_list_and_unusable_values():
    cfg = {"type": "conv2d", "name": "c", "filters": 2, "kernel_size": 3}
    with pytest.raises(ValueError, match=r"Conv2D 'c': config key 'kernel_size' expected a list of ints, got 3"):
        build(cfg, [[5, 5, 1]])
    cfg["kernel_size"] = [3, 3, 3]
    with pytest.raises(ValueError, match=r"Conv2D 'c': expected 2 values for kernel_size, got \[3, 3, 3\]"):
        build(cfg, [[5, 5, 1]])
    with pytest.raises(ValueError, match=r"layer 'd1': config key 'units' has an unusable value 18446744073709551616"):
        _core.Graph([4], [dense(units=2 ** 64)])
    with pytest.raises(ValueError, match=r"config key 'units' has an unusable value \{\}"):
        _core.Graph([4], [dense(units={})])
    with pytest.raises(ValueError, match=r"config key 'strides' has an unusable value \[1, 'a'\]"):
        build({"type": "max_pool2d", "name": "p", "strides": [1, "a"]}, [[4, 4, 1]])
    with pytest.raises(ValueError, match=r"Dense 'd1': config key 'units' is required"):
        _core.Graph([4], [{"type": "dense", "name": "d1"}])


def test_numpy_scalars_count_as_their_python_kinds():
    g = _core.Graph([4], [dense(units=np.int64(5), use_bias=np.bool_(False))])
    assert g.output_shape == [5]
    assert [p["name"] for p in g.params()] == ["kernel"]
    g = _core.Graph([4], [{"type": "dropout", "name": "x", "rate": np.float64(0.25)}])
    assert g.output_shape == [4]


def test_errors_of_shared_parsers_name_the_layer():
    with pytest.raises(ValueError, match=r"^Dense 'd1': unknown activation 'swish'"):
        _core.Graph([4], [dense(activation="swish")])


# One instance of every public layer class and the per-sample inputs it runs on.
SAMPLES = {
    "Dense": (lambda: layers.Dense(3, activation="relu", use_bias=False), [[4]]),
    "Activation": (lambda: layers.Activation("tanh"), [[4]]),
    "Dropout": (lambda: layers.Dropout(0.25), [[4]]),
    "Flatten": (lambda: layers.Flatten(), [[2, 3]]),
    "Reshape": (lambda: layers.Reshape([3, -1]), [[6]]),
    "Conv2D": (lambda: layers.Conv2D(2, 3, strides=2, padding=(1, 0), activation="relu"), [[7, 7, 1]]),
    "MaxPool2D": (lambda: layers.MaxPool2D(2, strides=1, padding="same"), [[4, 4, 2]]),
    "AvgPool2D": (lambda: layers.AvgPool2D(3), [[6, 6, 1]]),
    "GlobalAvgPool2D": (lambda: layers.GlobalAvgPool2D(), [[3, 3, 2]]),
    "GlobalMaxPool2D": (lambda: layers.GlobalMaxPool2D(), [[3, 3, 2]]),
    "BatchNormalization": (lambda: layers.BatchNormalization(momentum=0.8, epsilon=1e-3), [[4]]),
    "LayerNormalization": (lambda: layers.LayerNormalization(epsilon=1e-4), [[4]]),
    "Normalization": (lambda: layers.Normalization(mean=[0.0, 1.0], variance=[1.0, 4.0], per="channel"), [[3, 2]]),
    "Embedding": (lambda: layers.Embedding(10, 3, mask_zero=True), [[5]]),
    "SimpleRNN": (lambda: layers.SimpleRNN(3, activation="relu", return_sequences=True), [[4, 2]]),
    "LSTM": (lambda: layers.LSTM(3), [[4, 2]]),
    "GRU": (lambda: layers.GRU(3, return_sequences=True), [[4, 2]]),
    "Bidirectional": (lambda: layers.Bidirectional(layers.SimpleRNN(2, activation="sigmoid"), merge_mode="mul"),
                      [[4, 2]]),
    "Add": (lambda: layers.Add(), [[3], [3]]),
    "Subtract": (lambda: layers.Subtract(), [[3], [3]]),
    "Multiply": (lambda: layers.Multiply(), [[3], [3]]),
    "Average": (lambda: layers.Average(), [[3], [3]]),
    "Maximum": (lambda: layers.Maximum(), [[3], [3]]),
    "Minimum": (lambda: layers.Minimum(), [[3], [3]]),
    "Concatenate": (lambda: layers.Concatenate(axis=1), [[2, 3], [1, 3]]),
    "MultiHeadAttention": (lambda: layers.MultiHeadAttention(2, 3, value_dim=2, dropout=0.1, output_shape=5),
                           [[4, 3], [6, 2]]),
    "Conv1D": (lambda: layers.Conv1D(2, 3, strides=2, padding="causal", activation="relu"), [[7, 3]]),
    "MaxPool1D": (lambda: layers.MaxPool1D(2, strides=1, padding="same"), [[5, 2]]),
    "AvgPool1D": (lambda: layers.AvgPool1D(3), [[6, 2]]),
    "GlobalAvgPool1D": (lambda: layers.GlobalAvgPool1D(), [[4, 2]]),
    "GlobalMaxPool1D": (lambda: layers.GlobalMaxPool1D(), [[4, 2]]),
    "PositionEmbedding": (lambda: layers.PositionEmbedding(6), [[4, 3]]),
    "RandomFlip": (lambda: layers.RandomFlip("vertical", seed=3), [[4, 5, 2]]),
    "RandomRotation": (lambda: layers.RandomRotation((-10, 20), fill=1.0), [[4, 5, 2]]),
    "RandomCrop": (lambda: layers.RandomCrop((3, 4), padding=1, fill=2.0, seed=0), [[4, 5, 2]]),
    "RandomZoom": (lambda: layers.RandomZoom(0.2, scale=(0.5, 2.0)), [[4, 5, 2]]),
    "RandomBrightness": (lambda: layers.RandomBrightness(0.1, value_range=(0, 1), seed=1), [[4, 5, 2]]),
    "RandomContrast": (lambda: layers.RandomContrast(0.3), [[4, 5, 2]]),
    "Resize": (lambda: layers.Resize(3, 7, interpolation="nearest"), [[4, 5, 2]]),
    "CenterCrop": (lambda: layers.CenterCrop((2, 3)), [[4, 5, 2]]),
}


def test_samples_cover_every_registered_class():
    assert set(SAMPLES) == set(registered_layers())


@pytest.mark.parametrize("class_name", sorted(SAMPLES))
def test_every_layer_class_round_trips_through_its_registration(class_name):
    make, _ = SAMPLES[class_name]
    layer = make()
    layer.name = "x"
    spec = json.loads(json.dumps(serialize(layer)))  # what a saved file holds
    assert spec["class_name"] == class_name
    back = deserialize(spec)
    assert type(back) is registered_layers()[class_name] is type(layer)
    assert back.get_config() == layer.get_config()
    assert back.core_config() == layer.core_config()


@pytest.mark.parametrize("class_name", sorted(SAMPLES))
def test_core_config_holds_exactly_the_keys_the_cpp_parser_reads(class_name):
    make, inputs = SAMPLES[class_name]
    layer = make()
    layer.name = "x"
    cfg = layer.core_config()
    g = build(cfg, inputs)  # no key left unread
    assert g.layers()[0]["kind"] == _core.layer_types()[cfg["type"]]
    # The parser's list of the keys it knows is exactly what Python sends (besides "type").
    with pytest.raises(ValueError) as e:
        build({**cfg, "zz_unknown": 1}, inputs)
    known = re.search(r"expected one of (.*)\)$", str(e.value)).group(1).split(", ")
    assert sorted(known) == sorted(set(cfg) - {"type"})


def test_each_registered_cpp_type_has_a_python_class():
    python_types = {cls.core_type for cls in registered_layers().values()}
    assert python_types == set(_core.layer_types())
    # Kinds (what errors and summaries say) are the Python class names.
    for name, cls in registered_layers().items():
        assert _core.layer_types()[cls.core_type] == name


def test_subclasses_register_themselves_and_private_bases_do_not():
    assert "_Pool2D" not in registered_layers() and "_Merge" not in registered_layers()

    class ScaledDense(layers.Dense):
        pass

    try:
        assert registered_layers()["ScaledDense"] is ScaledDense
        spec = serialize(ScaledDense(2, name="s"))
        assert type(deserialize(spec)) is ScaledDense
        with pytest.raises(TypeError, match="'ScaledDense' is already registered"):
            type("ScaledDense", (Layer,), {"__module__": "elsewhere"})
    finally:
        from pydl.layers import base
        base._REGISTRY.pop("ScaledDense", None)
    with pytest.raises(ValueError, match="unknown layer spec"):
        deserialize({"class_name": "ScaledDense", "config": {}})
