"""One rule for arguments everywhere (pydl/_validate.py): numpy integers are ints, bools and
floats are not; numpy floats are numbers, NaN/Inf are not where a finite value is needed; the
wrong kind is a TypeError, a value out of range a ValueError naming the owner. Checked for
every layer class and for the other constructors that take sizes, rates and flags."""
import json
import math

import numpy as np
import pytest

import pydl
from pydl import _validate, callbacks, layers, losses, optimizers, schedules, tuning
from pydl import data as D
from conftest import assert_weights_equal

# ------------------------------------------------------------------------ the helpers


def test_ints_accept_numpy_integers_and_refuse_bools_and_floats():
    for good in (3, np.int64(3), np.int32(3), np.uint8(3)):
        assert _validate.positive_int("X", "n", good) == 3 and type(_validate.positive_int("X", "n", good)) is int
    for bad in (True, np.bool_(True), 3.0, np.float64(3), "3", None, [3]):
        with pytest.raises(TypeError, match=r"^X: expected n to be a positive int, got "):
            _validate.positive_int("X", "n", bad)
    for bad in (0, -1, np.int64(-5)):
        with pytest.raises(ValueError, match=r"^X: expected n to be a positive int, got "):
            _validate.positive_int("X", "n", bad)
    with pytest.raises(ValueError, match="expected n to be an int in \\[1, 64\\], got 65"):
        _validate.integer("X", "n", 65, 1, 64)


def test_numbers_accept_numpy_floats_and_refuse_nan_inf_and_bools():
    assert _validate.number("X", "r", np.float32(0.5), 0.0, 1.0) == 0.5
    assert type(_validate.number("X", "r", np.float32(0.5))) is float
    assert _validate.number("X", "r", np.int64(2)) == 2.0
    for bad in (math.nan, math.inf, -math.inf, np.float32("nan"), 10 ** 400):
        with pytest.raises(ValueError, match="X: expected r to be a finite number"):
            _validate.number("X", "r", bad)
    assert _validate.number("X", "r", math.inf, finite=False) == math.inf
    with pytest.raises(ValueError, match="in \\[0.0, 1.0\\), got 1.0"):
        _validate.number("X", "r", 1.0, 0.0, 1.0, high_open=True)
    for bad in (True, "0.5", None, [0.5], 1j):
        with pytest.raises(TypeError, match="X: expected r to be"):
            _validate.number("X", "r", bad)


def test_flags_choices_pairs_and_strings():
    assert _validate.boolean("X", "f", np.bool_(False)) is False
    for bad in (1, 0, "yes please", None):
        with pytest.raises(TypeError, match="X: expected f to be True or False, got "):
            _validate.boolean("X", "f", bad)
    assert type(_validate.choice("X", "m", np.str_("a"), ("a", "b"))) is str
    with pytest.raises(ValueError, match="X: expected m to be 'a' or 'b', got 'c'"):
        _validate.choice("X", "m", "c", ("a", "b"))
    with pytest.raises(TypeError, match="X: expected m to be one of 'a', 'b' or None, got 1"):
        _validate.choice("X", "m", 1, ("a", "b", None))
    assert _validate.int_pair("X", "k", np.int64(3)) == [3, 3]
    assert _validate.int_pair("X", "k", (np.int64(2), 3)) == [2, 3]
    with pytest.raises(TypeError, match="positive int or a pair of positive ints"):
        _validate.int_pair("X", "k", (2, True))
    with pytest.raises(ValueError, match="non-negative int or a pair of non-negative ints"):
        _validate.int_pair("X", "k", (2, -1), minimum=0)
    with pytest.raises(TypeError):
        _validate.int_pair("X", "k", (1, 2, 3))
    assert _validate.number_range("X", "v", (np.float32(0), 1)) == (0.0, 1.0)
    with pytest.raises(ValueError, match="low < high"):
        _validate.number_range("X", "v", (1, 1), strict=True)
    with pytest.raises(ValueError):
        _validate.non_empty_str("X", "name", "")
    with pytest.raises(TypeError):
        _validate.non_empty_str("X", "name", 3)


# ------------------------------------------------------------------------- every layer

# name -> (make(**overrides), {integer size argument: a valid value})
SIZED = {
    "Input": (lambda **k: layers.Input(**{"shape": (4,), **k}), {"shape": (4,)}),
    "Dense": (lambda **k: layers.Dense(**{"units": 3, **k}), {"units": 3}),
    "Conv2D": (lambda **k: layers.Conv2D(**{"filters": 2, "kernel_size": 3, **k}),
               {"filters": 2, "kernel_size": 3, "strides": 1, "dilation_rate": 1}),
    "MaxPool2D": (lambda **k: layers.MaxPool2D(**k), {"pool_size": 2, "strides": 2}),
    "AvgPool2D": (lambda **k: layers.AvgPool2D(**k), {"pool_size": 2, "strides": 2}),
    "Embedding": (lambda **k: layers.Embedding(**{"input_dim": 10, "output_dim": 3, **k}),
                  {"input_dim": 10, "output_dim": 3}),
    "SimpleRNN": (lambda **k: layers.SimpleRNN(**{"units": 3, **k}), {"units": 3}),
    "LSTM": (lambda **k: layers.LSTM(**{"units": 3, **k}), {"units": 3}),
    "GRU": (lambda **k: layers.GRU(**{"units": 3, **k}), {"units": 3}),
    "Bidirectional": (lambda units=3: layers.Bidirectional(layers.LSTM(units)), {"units": 3}),
    # value_dim and output_shape also take None (key_dim, the query's features)
    "MultiHeadAttention": (lambda **k: layers.MultiHeadAttention(**{"num_heads": 2, "key_dim": 3, **k}),
                           {"num_heads": 2, "key_dim": 3}),
    "Conv1D": (lambda **k: layers.Conv1D(**{"filters": 2, "kernel_size": 3, **k}),
               {"filters": 2, "kernel_size": 3, "strides": 1, "dilation_rate": 1}),
    "MaxPool1D": (lambda **k: layers.MaxPool1D(**k), {"pool_size": 2, "strides": 2}),
    "AvgPool1D": (lambda **k: layers.AvgPool1D(**k), {"pool_size": 2, "strides": 2}),
    "PositionEmbedding": (lambda **k: layers.PositionEmbedding(**{"sequence_length": 8, **k}),
                          {"sequence_length": 8}),
    "RandomCrop": (lambda **k: D.RandomCrop(**{"size": 4, **k}), {"size": (4, 4)}),
    "CenterCrop": (lambda **k: D.CenterCrop(**{"size": 4, **k}), {"size": (4, 4)}),
    "Resize": (lambda **k: D.Resize(**{"height": 4, "width": 4, **k}), {"height": 4, "width": 4}),
}
# Layers without integer sizes (their other arguments are covered below).
UNSIZED = {"Activation", "Dropout", "Flatten", "Reshape", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "BatchNormalization", "LayerNormalization", "Normalization", "Add", "Subtract", "Multiply", "Average",
           "Maximum", "Minimum", "Concatenate", "GlobalAvgPool1D", "GlobalMaxPool1D",
           "RandomFlip", "RandomRotation", "RandomZoom", "RandomBrightness", "RandomContrast"}


def test_every_layer_class_is_covered():
    # layers.Input is the symbolic input of the engine, not a registered layer; tested here too.
    assert set(layers.registered_layers()) | {"Input"} == set(SIZED) | UNSIZED
    assert not set(SIZED) & UNSIZED


def _as_numpy(value):
    return tuple(np.int64(v) for v in value) if isinstance(value, tuple) else np.int64(value)


def _bad_kind(value, bad):
    return (bad,) * len(value) if isinstance(value, tuple) else bad


CASES = [(name, arg) for name, (_, sizes) in SIZED.items() for arg in sizes]


@pytest.mark.parametrize("name,arg", CASES)
def test_numpy_int_sizes_are_accepted_like_ints(name, arg):
    make, sizes = SIZED[name]
    plain = make(**{arg: sizes[arg]})
    from_numpy = make(**{arg: _as_numpy(sizes[arg])})
    assert from_numpy.get_config() == plain.get_config()
    json.dumps(from_numpy.get_config())  # plain Python ints: the config saves as JSON


# strides=None is valid for pools (it means pool_size), and None in an Input shape is an axis
# of any length (test_issue12_layer_options.py): those pairs are not bad inputs.
BAD_KINDS = [(name, arg, bad) for name, arg in CASES for bad in (True, False, 3.0, np.float64(2), "3", None)
             if not (bad is None and ((arg == "strides" and name.endswith(("Pool2D", "Pool1D"))) or name == "Input"))]


@pytest.mark.parametrize("name,arg,bad", BAD_KINDS)
def test_bools_floats_and_strings_as_sizes_are_type_errors(name, arg, bad):
    make, sizes = SIZED[name]
    owner = "LSTM" if name == "Bidirectional" else name
    with pytest.raises(TypeError, match=f"^{owner}: expected {arg} to be "):
        make(**{arg: _bad_kind(sizes[arg], bad)})


@pytest.mark.parametrize("name,arg", CASES)
@pytest.mark.parametrize("bad", [0, -1, np.int64(-3)])
def test_zero_and_negative_sizes_are_value_errors_naming_the_layer(name, arg, bad):
    make, sizes = SIZED[name]
    owner = "LSTM" if name == "Bidirectional" else name
    with pytest.raises(ValueError, match=f"^{owner}: expected {arg} to be .*, got "):
        make(**{arg: _bad_kind(sizes[arg], bad)})


def test_models_built_from_numpy_sizes_equal_those_from_ints():
    def model(n):
        return pydl.Sequential([layers.Input((n(6), n(6), n(1))), layers.Conv2D(n(4), n(3), padding=n(1)),
                                layers.MaxPool2D(n(2)), layers.Flatten(), layers.Dense(n(5))], seed=3)

    a, b = model(int), model(np.int64)
    a.build()
    b.build()
    assert_weights_equal(b.get_weights(), a.get_weights())
    x = np.random.default_rng(0).random((3, 6, 6, 1), dtype=np.float32)
    np.testing.assert_array_equal(b.predict(x, batch_size=np.int64(2)), a.predict(x, batch_size=2))


FLAGS = [(layers.Dense, {"units": 2}, "use_bias"), (layers.Conv2D, {"filters": 2, "kernel_size": 3}, "use_bias"),
         (layers.Embedding, {"input_dim": 4, "output_dim": 2}, "mask_zero"),
         (layers.SimpleRNN, {"units": 2}, "return_sequences"), (layers.LSTM, {"units": 2}, "return_sequences"),
         (layers.GRU, {"units": 2}, "return_sequences"),
         (layers.MultiHeadAttention, {"num_heads": 2, "key_dim": 2}, "use_bias")]


@pytest.mark.parametrize("cls,kwargs,flag", FLAGS)
def test_layer_flags_are_true_or_false(cls, kwargs, flag):
    assert getattr(cls(**kwargs, **{flag: np.bool_(True)}), flag) is True
    for bad in ("yes please", 1, None):
        with pytest.raises(TypeError, match=f"{cls.__name__}: expected {flag} to be True or False"):
            cls(**kwargs, **{flag: bad})


@pytest.mark.parametrize("make,good,value_errors", [
    (lambda v: layers.Dropout(v), np.float32(0.25), [1.0, -0.1, math.nan]),
    (lambda v: layers.BatchNormalization(momentum=v), np.float64(0.5), [1.5, math.nan]),
    (lambda v: layers.BatchNormalization(epsilon=v), np.float32(1e-3), [0.0, math.inf]),
    (lambda v: layers.LayerNormalization(epsilon=v), np.float32(1e-3), [-1e-3, math.nan]),
])
def test_layer_rates_take_numpy_floats_and_refuse_nan_and_bools(make, good, value_errors):
    make(good)
    for bad in value_errors:
        with pytest.raises(ValueError):
            make(bad)
    for bad in (True, "0.5", None):
        with pytest.raises(TypeError):
            make(bad)


def test_activations_padding_names_and_shapes():
    assert layers.Dense(2, activation=np.str_("relu")).get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="Dense: expected activation to be one of"):
        layers.Dense(2, activation="swish")
    with pytest.raises(TypeError, match="Conv2D: expected activation"):
        layers.Conv2D(2, 3, activation=1)
    with pytest.raises(TypeError, match="Activation: expected activation"):
        layers.Activation(None)
    assert layers.Conv2D(2, 3, padding=(np.int64(1), 0)).padding == [1, 0]
    with pytest.raises(ValueError, match="Conv2D: expected padding to be 'valid', 'same', a non-negative int"):
        layers.Conv2D(2, 3, padding="full")
    with pytest.raises(ValueError, match="Conv2D: expected padding"):
        layers.Conv2D(2, 3, padding=-1)
    with pytest.raises(TypeError, match="Conv2D: expected padding"):
        layers.Conv2D(2, 3, padding=True)
    with pytest.raises(ValueError, match="Dense: expected name to be a non-empty string"):
        layers.Dense(2, name="")
    with pytest.raises(TypeError, match="Dense: expected name"):
        layers.Dense(2, name=7)
    assert layers.Reshape((np.int64(4), -1)).target_shape == [4, -1]
    with pytest.raises(TypeError, match="Reshape: expected target_shape"):
        layers.Reshape((4.0, -1))
    assert layers.Input(np.int64(5)).shape == (5,)
    with pytest.raises(ValueError, match="Input: expected shape"):
        layers.Input(())
    with pytest.raises(ValueError, match="Input: expected dtype to be one of 'float32', 'int32' or 'bool'"):
        layers.Input((3,), dtype="float64")
    with pytest.raises(TypeError, match="Input: expected name to be a non-empty string, got 3"):
        layers.Input((3,), name=3)
    with pytest.raises(TypeError, match="Bidirectional: expected layer to be a SimpleRNN, LSTM or GRU layer, got Dense"):
        layers.Bidirectional(layers.Dense(3))
    with pytest.raises(ValueError, match="Bidirectional: expected merge_mode"):
        layers.Bidirectional(layers.LSTM(3), merge_mode="max")


def test_use_bias_yes_please_is_a_type_error():
    with pytest.raises(TypeError, match="Dense: expected use_bias to be True or False, got 'yes please'"):
        layers.Dense(8, use_bias="yes please")
    assert layers.Dense(np.int64(8)).units == 8


# ------------------------------------------------------------------- everything else

def _loader(**kw):
    return D.DataLoader(D.ArrayDataset(np.zeros((8, 2), np.float32), np.zeros(8)), **kw)


# (owner, make(value), a numpy value accepted, a value of the wrong kind, a value out of range)
OTHERS = [
    ("DataLoader", lambda v: _loader(batch_size=v), np.int64(4), 4.0, 0),
    ("DataLoader", lambda v: _loader(prefetch_factor=v), np.int32(3), True, 65),
    ("DataLoader", lambda v: _loader(seed=v), np.int64(7), 1.5, -1),
    ("SGD", lambda v: optimizers.SGD(learning_rate=v), np.float32(0.1), True, math.nan),
    ("SGD", lambda v: optimizers.SGD(momentum=v), np.float64(0.9), "0.9", -0.5),
    ("Adam", lambda v: optimizers.Adam(beta_2=v), np.float32(0.99), None, 1.0),
    ("AdamW", lambda v: optimizers.AdamW(clipnorm=v), np.float64(1.0), "1", 0.0),
    ("CrossEntropy", lambda v: losses.CrossEntropy(label_smoothing=v), np.float32(0.1), "0.1", 1.5),
    ("CrossEntropy", lambda v: losses.CrossEntropy(class_weights=[1.0, v]), np.float32(2), "2", -1.0),
    ("EarlyStopping", lambda v: callbacks.EarlyStopping(patience=v), np.int64(3), 1.5, -1),
    ("EarlyStopping", lambda v: callbacks.EarlyStopping(min_delta=v), np.float32(0.01), None, -0.01),
    ("EarlyStopping", lambda v: callbacks.EarlyStopping(mode=v), np.str_("max"), 1, "maximum"),
    ("ReduceLROnPlateau", lambda v: callbacks.ReduceLROnPlateau(factor=v), np.float64(0.5), "0.5", 1.0),
    ("ReduceLROnPlateau", lambda v: callbacks.ReduceLROnPlateau(cooldown=v), np.int64(2), 2.0, -2),
    ("RandomCrop", lambda v: D.RandomCrop(v), np.int64(8), 8.0, 0),
    ("RandomCrop", lambda v: D.RandomCrop(8, padding=v), np.int64(2), True, -1),
    ("RandomRotation", lambda v: D.RandomRotation(v), np.float32(10), "10", 200),
    ("RandomZoom", lambda v: D.RandomZoom(scale=v), (np.float32(0.5), 2), (0.5, "2"), (0.5, 20)),
    ("RandomBrightness", lambda v: D.RandomBrightness(v), np.float64(0.2), None, 1.5),
    ("RandomFlip", lambda v: D.RandomFlip(v), np.str_("vertical"), 1, "diagonal"),
    ("Resize", lambda v: D.Resize(v, 4), np.int64(4), 4.5, 0),
    ("MinMaxScale", lambda v: D.MinMaxScale(feature_range=v), (np.int64(-1), 1), "01", (1, 0)),
    ("Standardize", lambda v: D.Standardize(per=v), "channel", None, "pixel"),
    ("train_test_split", lambda v: D.train_test_split(np.zeros(8), np.arange(8) % 2, test_size=v),
     np.float64(0.5), "0.5", 1.0),
    ("KFold", lambda v: D.KFold(v), np.int64(3), 3.0, 1),
    ("StratifiedKFold", lambda v: D.StratifiedKFold(3, shuffle=True, seed=v), np.int64(3), 3.5, -3),
    ("SMOTE", lambda v: D.SMOTE(k_neighbors=v), np.int64(3), True, 0),
    ("RandomOverSampler", lambda v: D.RandomOverSampler(seed=v), np.int64(1), "1", -1),
    ("StepDecay", lambda v: schedules.StepDecay(0.1, v), np.int64(10), 10.0, 0),
    ("CosineDecay", lambda v: schedules.CosineDecay(0.1, 10, alpha=v), np.float32(0.5), None, 2.0),
    ("Int", lambda v: tuning.Int(v, 10), np.int64(1), 1.5, 11),
    ("Float", lambda v: tuning.Float(0.0, v), np.float32(1), "1", math.nan),
    ("Float", lambda v: tuning.Float(0.1, 1, log=v), np.bool_(True), "log", None),
    ("RandomSearch", lambda v: tuning.RandomSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=sum,
                                                   max_trials=v), np.int64(3), 2.5, 0),
    ("BayesianSearch", lambda v: tuning.BayesianSearch(None, tuning.Space(x=tuning.Float(0, 1)), objective=sum,
                                                       direction=v), "min", 1, "down"),
    ("SuccessiveHalving", lambda v: tuning.SuccessiveHalving(reduction_factor=v), np.int64(2), 2.0, 1),
    ("Concatenate", lambda v: layers.Concatenate(axis=v), np.int64(1), 1.0, 0),
]


@pytest.mark.parametrize("owner,make,good,wrong_kind,out_of_range", OTHERS,
                         ids=[f"{o[0]}-{i}" for i, o in enumerate(OTHERS)])
def test_other_constructors_follow_the_same_rule(owner, make, good, wrong_kind, out_of_range):
    make(good)
    with pytest.raises(TypeError, match=f"^{owner}: expected "):
        make(wrong_kind)
    if out_of_range is not None:
        with pytest.raises(ValueError, match=f"^{owner}: expected "):
            make(out_of_range)


def test_fit_evaluate_predict_take_numpy_batch_sizes():
    x = np.random.default_rng(0).random((16, 3), dtype=np.float32)
    y = np.arange(16) % 2
    model = pydl.Sequential([layers.Input((3,)), layers.Dense(np.int64(2))], seed=0)
    model.compile("sgd", "cross_entropy")
    model.fit(x, y, epochs=1, batch_size=np.int64(4), verbose=0)
    model.evaluate(x, y, batch_size=np.int32(8))
    for call, run in (("fit", lambda bs: model.fit(x, y, epochs=1, batch_size=bs, verbose=0)),
                      ("evaluate", lambda bs: model.evaluate(x, y, batch_size=bs)),
                      ("predict", lambda bs: model.predict(x, batch_size=bs))):
        with pytest.raises(TypeError, match=f"{call}: expected batch_size to be a positive int, got True"):
            run(True)
        with pytest.raises(ValueError, match=f"{call}: expected batch_size to be a positive int, got 0"):
            run(0)
