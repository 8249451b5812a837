"""Finite-difference gradient checks through whole DAG models, in float64 (issue 11).

pydl._core64 is the training engine built from the same C++ sources as pydl._core, over
double (csrc/core/real.h). Each model below is built from the dict configs pydl._core takes;
Trainer.loss_and_gradients' gradient of the flat float64 parameter buffer is compared with
central differences of the loss (conftest.numeric_grad, h = 1e-6): norm-wise relative error
< 1e-6 for every weight tensor. Each model is also run by the float32 engine on the same
(float32-representable) weights and inputs: forward outputs, loss and gradients agree at
float32 tolerance, so these checks test the code that trains."""
from dataclasses import dataclass, field

import numpy as np
import pytest

from pydl import _core, _core64

from conftest import numeric_grad, rel_err

ADAM = {"kind": "adam", "learning_rate": 1e-3}
TOL = 1e-6  # float64 gradients against central differences
N = 12      # samples per check


def dense(name, units, activation=None, use_bias=True):
    return {"type": "dense", "name": name, "units": units, "activation": activation, "use_bias": use_bias}


def act(name, activation):
    return {"type": "activation", "name": name, "activation": activation}


def chain(n):
    """Nodes of a chain of n layers: layer i reads tensor i (tensor 0: the input)."""
    return [(i, [i]) for i in range(n)]


def normal(rng, *shape):
    """float64 values that float32 holds exactly (the float32 engine sees the same numbers)."""
    return rng.normal(size=shape).astype(np.float32).astype(np.float64)


@dataclass
class Case:
    """A model (the Graph's DAG arguments), its heads and its data: data(rng, predict) returns
    (x, labels, targets, loss_and_gradients keywords); predict(x) is the model's output 0."""
    inputs: list
    layers: list
    nodes: list
    outputs: list
    heads: list
    data: object
    fused: list = field(default_factory=list)  # expected Trainer.fused_heads, when given


def sparse_labels(k):
    return lambda rng, predict: (normal(rng, N, 5), rng.integers(0, k, N).astype(np.int32), None, {})


def regression(cols, inputs=((5,),)):
    def data(rng, predict):
        xs = [normal(rng, N, *s) for s in inputs]
        return (xs if len(xs) > 1 else xs[0]), None, normal(rng, N, cols), {}
    return data


def mae_away_from_kinks(rng, predict):
    # |y - t| has a kink at y = t: targets at least 0.5 from the outputs, which a 1e-6 step of
    # any weight cannot cross.
    x = normal(rng, N, 5)
    y = predict(x)
    gap = rng.uniform(0.5, 1.0, y.shape) * rng.choice([-1.0, 1.0], y.shape)
    return x, None, (y + gap).astype(np.float32).astype(np.float64), {}


def binary_targets(cols, **kw):
    return lambda rng, predict: (normal(rng, N, 5), None, rng.integers(0, 2, (N, cols)).astype(np.float64), dict(kw))


def soft_targets(k):
    def data(rng, predict):
        t = rng.uniform(0.1, 1.0, (N, k))
        return normal(rng, N, 5), None, (t / t.sum(1, keepdims=True)).astype(np.float32).astype(np.float64), {}
    return data


def padded_ids(rng, predict):
    # Ids in [1, 7), then zeros (padding, masked by Embedding(mask_zero=True)) after a random
    # length in [1, 6]; every length occurs, so every step is sometimes masked.
    ids = rng.integers(1, 7, (N, 6)).astype(np.float64)
    for i, length in enumerate(np.arange(N) % 6 + 1):
        ids[i, length:] = 0
    return ids, None, normal(rng, N, 2), {}


def images(rng, predict):
    return normal(rng, N, 6, 6, 2), rng.integers(0, 3, N).astype(np.int32), None, {}


def two_heads(rng, predict):
    x = normal(rng, N, 4)
    return x, [rng.integers(0, 3, N).astype(np.int32), None], [None, normal(rng, N, 2)], {}


def weighted_samples(rng, predict):
    x, labels, targets, _ = sparse_labels(3)(rng, predict)
    return x, labels, targets, {"sample_weight": rng.uniform(0.2, 2.0, N).astype(np.float32).astype(np.float64)}


def binary_weighted_samples(rng, predict):
    x, labels, targets, _ = binary_targets(2)(rng, predict)
    return x, labels, targets, {"sample_weight": rng.uniform(0.2, 2.0, N).astype(np.float32).astype(np.float64)}


def dropout_training(rng, predict):
    x, labels, targets, _ = regression(3)(rng, predict)
    return x, labels, targets, {"training": True, "seed": 7}


def batch_norm_training(rng, predict):
    x, labels, targets, _ = regression(2)(rng, predict)
    return x, labels, targets, {"training": True}


CONV = {"type": "conv2d", "kernel_size": [3, 3], "padding": "same"}

CASES = {
    # x -> a = relu(Dense) -> b = Dense(a) -> a + b -> Dense
    "residual_block": Case([[5]], [dense("a", 6, "relu"), dense("b", 6), {"type": "add", "name": "s"}, dense("y", 3)],
                           [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3])], [4], [{"loss": "mse"}], regression(3)),
    "two_branch_concatenate": Case(
        [[5]], [dense("a", 4, "tanh"), dense("b", 3, "sigmoid"), {"type": "concatenate", "name": "c", "axis": -1},
                dense("y", 3)],
        [(0, [0]), (1, [0]), (2, [1, 2]), (3, [3])], [4], [{"loss": "cross_entropy"}], sparse_labels(3)),
    # one Dense on two inputs: its weights get both calls' gradients
    "shared_layer_on_two_inputs": Case(
        [[5], [5]], [dense("shared", 4, "tanh"), {"type": "add", "name": "s"}, dense("y", 2)],
        [(0, [0]), (0, [1]), (1, [2, 3]), (2, [4])], [5], [{"loss": "mse"}], regression(2, ((5,), (5,)))),
    # one Dense applied twice in a row
    "shared_layer_in_a_chain": Case([[5]], [dense("in", 4, "tanh"), dense("shared", 4, "tanh"), dense("y", 2)],
                                    [(0, [0]), (1, [1]), (1, [2]), (2, [3])], [4], [{"loss": "mse"}], regression(2)),
    "two_inputs": Case(
        [[5], [3]], [dense("a", 4, "relu"), dense("b", 3, "tanh"), {"type": "concatenate", "name": "c", "axis": -1},
                     dense("y", 2)],
        [(0, [0]), (1, [1]), (2, [2, 3]), (3, [4])], [5], [{"loss": "mse"}], regression(2, ((5,), (3,)))),
    "two_outputs_loss_weights": Case(
        [[4]], [dense("h", 6, "tanh"), dense("cls", 3), dense("reg", 2)], [(0, [0]), (1, [1]), (2, [1])], [2, 3],
        [{"loss": "cross_entropy", "weight": 1.0}, {"loss": "mse", "weight": 0.3}], two_heads),
    "sample_and_class_weights": Case(
        [[5]], [dense("h", 5, "tanh"), dense("y", 3)], chain(2), [2],
        [{"loss": "cross_entropy", "class_weights": [0.5, 2.0, 1.25]}], weighted_samples),
    "binary_sample_and_class_weights": Case(
        [[5]], [dense("h", 5, "tanh"), dense("y", 2)], chain(2), [2],
        [{"loss": "binary_cross_entropy", "class_weights": [0.75, 1.5], "pos_weight": 2.0}], binary_weighted_samples),
    # Conv2D same relu -> Conv2D (gelu) -> Add -> relu -> MaxPool -> Flatten -> Dense
    "residual_cnn_block": Case(
        [[6, 6, 2]],
        [dict(CONV, name="c1", filters=3, activation="relu"), dict(CONV, name="c2", filters=3, activation="gelu"),
         {"type": "add", "name": "s"}, act("r", "relu"), {"type": "max_pool2d", "name": "p", "pool_size": [2, 2]},
         {"type": "flatten", "name": "f"}, dense("y", 3)],
        [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3]), (4, [4]), (5, [5]), (6, [6])], [7],
        [{"loss": "cross_entropy"}], images),
    # one input channel: the direct convolution, its 8-pixel blocks and the filters past its
    # last whole vector (10 = 8 doubles + 2); GELU keeps the pre-activation for backward
    "direct_conv_gelu": Case(
        [[3, 18, 1]], [dict(CONV, name="c", filters=10, activation="gelu"), {"type": "flatten", "name": "f"},
                       dense("y", 2)],
        chain(3), [3], [{"loss": "mse"}], regression(2, ((3, 18, 1),))),
    "embedding_mask_lstm": Case(
        [[6]], [{"type": "embedding", "name": "e", "input_dim": 7, "output_dim": 3, "mask_zero": True},
                {"type": "lstm", "name": "r", "units": 4}, dense("y", 2)],
        chain(3), [3], [{"loss": "mse"}], padded_ids),
    "embedding_mask_gru": Case(
        [[6]], [{"type": "embedding", "name": "e", "input_dim": 7, "output_dim": 3, "mask_zero": True},
                {"type": "gru", "name": "r", "units": 4}, dense("y", 2)],
        chain(3), [3], [{"loss": "mse"}], padded_ids),
    # no bias before BatchNormalization: the batch mean removes it (its gradient is exactly 0)
    "batch_norm_training": Case(
        [[5]], [dense("d", 4, use_bias=False), {"type": "batch_norm", "name": "bn"}, act("t", "tanh"), dense("y", 2)],
        chain(4), [4], [{"loss": "mse"}], batch_norm_training),
    "layer_norm": Case([[5]], [dense("d", 4), {"type": "layer_norm", "name": "ln"}, dense("y", 2)], chain(3), [3],
                       [{"loss": "mse"}], regression(2)),
    "dropout_training": Case([[5]], [dense("d", 8, "tanh"), {"type": "dropout", "name": "drop", "rate": 0.3},
                                     dense("y", 3)], chain(3), [3], [{"loss": "mse"}], dropout_training),
    # outputs ending in sigmoid/softmax: the loss reads the Activation node's input as logits
    "fused_sigmoid_head": Case([[5]], [dense("h", 4, "tanh"), dense("z", 3), act("p", "sigmoid")], chain(3), [3],
                               [{"loss": "binary_cross_entropy", "from_logits": False}], binary_targets(3),
                               fused=[True]),
    "fused_softmax_head": Case([[5]], [dense("h", 4, "tanh"), dense("z", 3), act("p", "softmax")], chain(3), [3],
                               [{"loss": "cross_entropy", "from_logits": False}], sparse_labels(3), fused=[True]),
    "fused_softmax_categorical_head": Case(
        [[5]], [dense("h", 4, "tanh"), dense("z", 3), act("p", "softmax")], chain(3), [3],
        [{"loss": "categorical_crossentropy", "from_logits": False}], soft_targets(3), fused=[True]),
    # a sigmoid inside the Dense is not fusable: the (clipped) probabilities' own gradient
    "unfused_probabilities": Case([[5]], [dense("h", 4, "tanh"), dense("p", 3, "sigmoid")], chain(2), [2],
                                  [{"loss": "binary_cross_entropy", "from_logits": False}], binary_targets(3),
                                  fused=[False]),
    # GELU's backward reads the pre-activations, kept by any forward a backward follows (here
    # loss_and_gradients in inference mode)
    "mse": Case([[5]], [dense("h", 4, "gelu"), dense("y", 3)], chain(2), [2], [{"loss": "mse"}], regression(3)),
    "mae": Case([[5]], [dense("h", 4, "tanh"), dense("y", 3)], chain(2), [2], [{"loss": "mae"}],
                mae_away_from_kinks),
    "categorical_crossentropy": Case([[5]], [dense("h", 4, "leaky_relu"), dense("y", 3)], chain(2), [2],
                                     [{"loss": "categorical_crossentropy"}], soft_targets(3)),
}


def build(core, case, seed=0):
    g = core.Graph(case.inputs, case.layers, case.nodes, case.outputs)
    g.init_params(seed)
    return g, core.Trainer(g, case.heads, ADAM)


def prepare(case, seed=0):
    """The float64 model with weights moved off their initial values (ones, zeros), rounded
    to float32 so the float32 engine can hold the same ones; its data."""
    rng = np.random.default_rng(seed)
    g, t = build(_core64, case, seed)
    p = g.param_buffer()
    p[:] = (p + 0.3 * rng.normal(size=p.size)).astype(np.float32)
    data = case.data(rng, lambda x: g.predict(x, N))
    return g, t, data


def per_tensor(graph, flat):
    return {(p["layer"], p["name"]): flat[p["offset"]: p["offset"] + p["size"]] for p in graph.params()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_gradients_match_central_differences(name):
    case = CASES[name]
    g, t, (x, labels, targets, kw) = prepare(case)
    if case.fused:
        assert t.fused_heads == case.fused
    loss = lambda: t.loss_and_gradients(x, labels, targets, **kw)  # noqa: E731
    first = loss()
    analytic = np.array(g.grad_buffer())
    assert g.grad_buffer().dtype == np.float64 and g.param_buffer().dtype == np.float64
    assert loss() == first  # the same loss every call (dropout's mask is keyed by the seed)
    numeric = numeric_grad(loss, g.param_buffer())
    got, want = per_tensor(g, analytic), per_tensor(g, numeric)
    assert len(got) == len(g.params()) > 0
    for key in want:
        assert np.linalg.norm(want[key]) > 1e-8, f"{name} {key}: no gradient, the check would show nothing"
        err = rel_err(got[key], want[key])
        assert err < TOL, f"{name} {key}: relative error {err:.2e} against central differences"


def as32(v):
    if v is None:
        return None
    if isinstance(v, list):
        return [as32(a) for a in v]
    return v.astype(np.int32) if v.dtype == np.int32 else v.astype(np.float32)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float64_engine_agrees_with_the_float32_engine(name):
    case = CASES[name]
    g64, t64, (x, labels, targets, kw) = prepare(case)
    g32, t32 = build(_core, case)
    assert [p["offset"] for p in g32.params()] == [p["offset"] for p in g64.params()]
    g32.param_buffer()[:] = g64.param_buffer()  # float32-representable: the same weights
    g32.state_buffer()[:] = g64.state_buffer()
    out64, out32 = g64.predict(x, 5), g32.predict(as32(x), 5)
    if len(case.outputs) == 1 and not isinstance(x, list):
        out64, out32 = [out64], [out32]
    assert len(out64) == len(out32) == len(case.outputs)
    for a, b in zip(out64, out32):
        assert a.dtype == np.float64 and b.dtype == np.float32
        np.testing.assert_allclose(b, a, rtol=1e-5, atol=1e-6)
    kw32 = {k: as32(v) if isinstance(v, np.ndarray) else v for k, v in kw.items()}
    l64 = t64.loss_and_gradients(x, labels, targets, **kw)
    l32 = t32.loss_and_gradients(as32(x), as32(labels), as32(targets), **kw32)
    assert abs(l32 - l64) <= 1e-5 * abs(l64)
    assert rel_err(g32.grad_buffer(), g64.grad_buffer()) < 1e-4


def test_dropout_check_runs_with_units_dropped():
    # The dropout case is only a check of dropout when training really drops units.
    case = CASES["dropout_training"]
    g, t, (x, labels, targets, kw) = prepare(case)
    assert kw["training"]
    trained = t.loss_and_gradients(x, labels, targets, **kw)
    assert trained != t.loss_and_gradients(x, labels, targets)  # inference: nothing dropped
    assert trained != t.loss_and_gradients(x, labels, targets, training=True, seed=8)  # another mask


@pytest.mark.parametrize("name", ["embedding_mask_lstm", "embedding_mask_gru"])
@pytest.mark.parametrize("length", [1, 3, 5])
def test_padding_is_masked_in_the_checked_recurrent_models(name, length):
    # The padded steps take no part: with its padding, a sample's output is that of its
    # unpadded sequence in a model of `length` steps (the same weights).
    case = CASES[name]
    g, _, (ids, _, _, _) = prepare(case)
    lengths = (ids != 0).sum(1)
    assert set(lengths) == set(range(1, 7))
    short = _core64.Graph([[length]], case.layers, case.nodes, case.outputs)
    short.param_buffer()[:] = g.param_buffer()
    rows = np.flatnonzero(lengths == length)
    assert rows.size > 0
    np.testing.assert_allclose(g.predict(ids[rows], 4), short.predict(ids[rows, :length], 4), rtol=1e-12,
                               atol=1e-14)


def test_core64_rejects_bad_input_like_core():
    case = CASES["residual_block"]
    g, t = build(_core64, case)
    with pytest.raises(ValueError, match=r"expected input of shape \(None, 5\)"):
        g.predict(np.zeros((3, 4)), 2)
    with pytest.raises(ValueError, match="unknown loss"):
        _core64.Trainer(g, [{"loss": "hinge"}], ADAM)
