"""The C++ DAG engine, driven through pydl._core directly: residual fan-out, shared layers,
concatenated branches, several inputs and outputs with weighted losses and sample weights.
Losses and gradients are compared with an independent numpy float64 implementation of the
same network (float32 engine: relative tolerance 1e-4)."""
import numpy as np
import pytest

from pydl import _core

from conftest import rel_err

ADAM = {"kind": "adam", "learning_rate": 1e-3}


def dense(name, units, activation=None):
    return {"type": "dense", "name": name, "units": units, "activation": activation, "use_bias": True}


def weights(graph):
    """{layer: {name: float64 array}} views of the flat buffers."""
    flat, out = graph.param_buffer(), {}
    for p in graph.params():
        out.setdefault(p["layer"], {})[p["name"]] = flat[p["offset"]: p["offset"] + p["size"]].reshape(p["shape"]).astype(np.float64)
    return out


def grads(graph):
    flat, out = graph.grad_buffer(), {}
    for p in graph.params():
        out.setdefault(p["layer"], {})[p["name"]] = flat[p["offset"]: p["offset"] + p["size"]].reshape(p["shape"]).astype(np.float64)
    return out


def assert_grads(got, want, tol=1e-4):
    assert sorted(got) == sorted(want)
    for layer in want:
        assert sorted(got[layer]) == sorted(want[layer])
        for name in want[layer]:
            assert rel_err(got[layer][name], want[layer][name]) < tol, (layer, name)


def test_residual_block_sums_the_gradients_of_both_consumers():
    # x -> a = relu(x W1 + b1) -> b = a W2 + b2 -> s = a + b -> y = s W3 + b3
    rng = np.random.default_rng(0)
    layers = [dense("a", 6, "relu"), dense("b", 6), {"type": "add", "name": "s"}, dense("y", 2)]
    g = _core.Graph([[5]], layers, [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3])], [4])
    g.init_params(1)
    t = _core.Trainer(g, [{"loss": "mse"}], ADAM)
    x = rng.normal(size=(9, 5)).astype(np.float32)
    target = rng.normal(size=(9, 2)).astype(np.float32)
    loss = t.loss_and_gradients(x, None, target)
    w = weights(g)
    X = x.astype(np.float64)
    za = X @ w["a"]["kernel"] + w["a"]["bias"]
    a = np.maximum(za, 0)
    b = a @ w["b"]["kernel"] + w["b"]["bias"]
    s = a + b
    y = s @ w["y"]["kernel"] + w["y"]["bias"]
    want_loss = np.mean((y - target) ** 2)
    assert abs(loss - want_loss) < 1e-5 * want_loss
    dy = 2 * (y - target) / y.size
    ds = dy @ w["y"]["kernel"].T
    db = ds
    da = ds + db @ w["b"]["kernel"].T  # the fan-out: both consumers of a
    dza = da * (za > 0)
    want = {"y": {"kernel": s.T @ dy, "bias": dy.sum(0)},
            "b": {"kernel": a.T @ db, "bias": db.sum(0)},
            "a": {"kernel": X.T @ dza, "bias": dza.sum(0)}}
    assert_grads(grads(g), want)


def test_shared_layer_called_twice_adds_both_gradients():
    # one Dense on two inputs, concatenated, then a head: the shared kernel gets both terms
    rng = np.random.default_rng(1)
    layers = [dense("shared", 4, "tanh"), {"type": "concatenate", "name": "c", "axis": -1}, dense("y", 3)]
    g = _core.Graph([[5], [5]], layers, [(0, [0]), (0, [1]), (1, [2, 3]), (2, [4])], [5])
    g.init_params(2)
    assert [p["layer"] for p in g.params()] == ["shared", "shared", "y", "y"]  # one set of weights
    t = _core.Trainer(g, [{"loss": "cross_entropy"}], ADAM)
    xa, xb = (rng.normal(size=(8, 5)).astype(np.float32) for _ in range(2))
    labels = rng.integers(0, 3, 8).astype(np.int32)
    loss = t.loss_and_gradients([xa, xb], labels, None)
    w = weights(g)
    A, B = xa.astype(np.float64), xb.astype(np.float64)
    ha = np.tanh(A @ w["shared"]["kernel"] + w["shared"]["bias"])
    hb = np.tanh(B @ w["shared"]["kernel"] + w["shared"]["bias"])
    c = np.concatenate([ha, hb], axis=1)
    z = c @ w["y"]["kernel"] + w["y"]["bias"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    want_loss = -np.mean(np.log(p[np.arange(8), labels]))
    assert abs(loss - want_loss) < 1e-5 * want_loss
    dz = p.copy()
    dz[np.arange(8), labels] -= 1
    dz /= 8
    dc = dz @ w["y"]["kernel"].T
    dha, dhb = dc[:, :4] * (1 - ha ** 2), dc[:, 4:] * (1 - hb ** 2)
    want = {"y": {"kernel": c.T @ dz, "bias": dz.sum(0)},
            "shared": {"kernel": A.T @ dha + B.T @ dhb, "bias": dha.sum(0) + dhb.sum(0)}}
    assert_grads(grads(g), want)


def test_two_outputs_with_loss_weights_and_sample_weights():
    rng = np.random.default_rng(2)
    layers = [dense("h", 6, "relu"), dense("cls", 3), dense("reg", 1)]
    g = _core.Graph([[4]], layers, [(0, [0]), (1, [1]), (2, [1])], [2, 3])
    g.init_params(3)
    t = _core.Trainer(g, [{"loss": "cross_entropy", "weight": 1.0}, {"loss": "mse", "weight": 0.5}], ADAM)
    x = rng.normal(size=(10, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 10).astype(np.int32)
    target = rng.normal(size=(10, 1)).astype(np.float32)
    sw = rng.uniform(0.2, 2.0, 10).astype(np.float32)
    loss = t.loss_and_gradients(x, [labels, None], [None, target], sample_weight=sw)
    w = weights(g)
    X, S = x.astype(np.float64), sw.astype(np.float64)
    zh = X @ w["h"]["kernel"] + w["h"]["bias"]
    h = np.maximum(zh, 0)
    z = h @ w["cls"]["kernel"] + w["cls"]["bias"]
    r = h @ w["reg"]["kernel"] + w["reg"]["bias"]
    p = np.exp(z - z.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    ce = np.sum(S * -np.log(p[np.arange(10), labels])) / S.sum()
    mse = np.sum(S * ((r - target)[:, 0] ** 2)) / S.sum()
    assert abs(loss - (ce + 0.5 * mse)) < 1e-5 * loss
    dz = p.copy()
    dz[np.arange(10), labels] -= 1
    dz *= S[:, None] / S.sum()
    dr = 0.5 * 2 * (r - target) * S[:, None] / S.sum()
    dh = (dz @ w["cls"]["kernel"].T + dr @ w["reg"]["kernel"].T) * (zh > 0)
    want = {"cls": {"kernel": h.T @ dz, "bias": dz.sum(0)}, "reg": {"kernel": h.T @ dr, "bias": dr.sum(0)},
            "h": {"kernel": X.T @ dh, "bias": dh.sum(0)}}
    assert_grads(grads(g), want)
    # evaluate reports the total and each head; predict returns one array per output.
    stats = t.evaluate(x, [labels, None], [None, target], 4, sample_weight=sw)
    assert len(stats["heads"]) == 2
    # Epoch numbers are means of batch means weighted by batch size (batches of 4, 4, 2).
    sq = (r - target)[:, 0] ** 2
    batch_mse = [np.sum(S[a:b] * sq[a:b]) / S[a:b].sum() for a, b in ((0, 4), (4, 8), (8, 10))]
    want_mse = (4 * batch_mse[0] + 4 * batch_mse[1] + 2 * batch_mse[2]) / 10
    assert abs(stats["heads"][1]["loss"] - want_mse) < 1e-5 * want_mse
    outs = g.predict([x], 3)
    assert len(outs) == 2 and outs[0].shape == (10, 3) and outs[1].shape == (10, 1)
    np.testing.assert_allclose(outs[0], z, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(outs[1], r, rtol=1e-5, atol=1e-6)


def test_training_a_dag_is_bitwise_identical_for_1_and_2_threads(threads):
    from conftest import assert_split_iff_threads, split_regions
    import pydl

    rng = np.random.default_rng(3)
    x = rng.normal(size=(512, 64)).astype(np.float32)
    labels = rng.integers(0, 4, 512).astype(np.int32)
    runs = []
    for n in (1, 2):
        pydl.set_num_threads(n)
        layers = [dense("a", 256, "relu"), dense("b", 256, "relu"), {"type": "add", "name": "s"},
                  dense("y", 4)]
        g = _core.Graph([[64]], layers, [(0, [0]), (1, [1]), (2, [1, 2]), (3, [3])], [4])
        g.init_params(0)
        t = _core.Trainer(g, [{"loss": "cross_entropy"}], ADAM)
        before = split_regions()
        for epoch in range(2):
            t.fit_epoch(x, labels, None, 64, True, 0, epoch)
        assert_split_iff_threads(n, before)
        runs.append(np.array(g.param_buffer()))
    assert runs[0].shape == runs[1].shape and runs[0].size > 0
    np.testing.assert_array_equal(runs[0], runs[1])


@pytest.mark.parametrize("inputs, layers, nodes, outputs, match", [
    ([[4]], [dense("d", 2)], [(0, [1])], [1], "not computed before"),
    ([[4]], [dense("d", 2), dense("e", 2)], [(0, [0])], [1], "never called"),
    ([[4]], [dense("d", 2)], [(0, [0])], [1, 1], "same tensor"),
    ([[4]], [dense("d", 2), dense("d", 3)], [(0, [0]), (1, [0])], [1], "two layers are named"),
    ([[4], [5]], [{"type": "add", "name": "s"}], [(0, [0, 1])], [2], r"\(None, 4\) and \(None, 5\)"),
    ([[4]], [{"type": "add", "name": "s"}], [(0, [0])], [1], "at least 2 inputs"),
    ([[4], [3]], [dense("d", 2)], [(0, [0]), (0, [1])], [2, 3], "different shapes"),
    ([[2, 4], [3, 5]], [{"type": "concatenate", "name": "c", "axis": -1}], [(0, [0, 1])], [2], "differ outside"),
])
def test_malformed_graphs_raise_value_error(inputs, layers, nodes, outputs, match):
    with pytest.raises(ValueError, match=match):
        _core.Graph(inputs, layers, nodes, outputs)


def test_inference_replicas_plan_activations_by_liveness():
    # 12 residual blocks of width 32. Training keeps every activation here (each is read by a
    # backward: relu's by its own derivative, the sums as the next Dense's x) but only 3
    # gradients at once (the output's, and a block's two); an inference replica keeps only
    # the tensors still to be read. Predictions are unchanged.
    layers, nodes, t = [], [], 0
    for b in range(12):
        layers += [dense(f"d{b}", 32, "relu"), {"type": "add", "name": f"s{b}"}]
        nodes += [(2 * b, [t]), (2 * b + 1, [t, t + 1])]
        t += 2
    g = _core.Graph([[32]], layers, nodes, [t])
    g.init_params(0)
    assert g.activation_floats_per_sample == (24 + 3) * 32
    assert g.inference_floats_per_sample <= 3 * 32  # the block's input, its branch and the sum
    rng = np.random.default_rng(5)
    x = rng.normal(size=(7, 32)).astype(np.float32)
    w = weights(g)
    h = x.astype(np.float64)
    for b in range(12):
        h = h + np.maximum(h @ w[f"d{b}"]["kernel"] + w[f"d{b}"]["bias"], 0)
    np.testing.assert_allclose(g.predict(x, 3), h, rtol=1e-4, atol=1e-5)


def _residual_chain(blocks, width):
    """x -> blocks of [d = Dense(linear)(h); s = Add(h, d); h = relu(s)] -> Dense(2)."""
    layers, nodes, h = [], [], 0
    for b in range(blocks):
        layers += [dense(f"d{b}", width), {"type": "add", "name": f"s{b}"},
                   {"type": "activation", "name": f"r{b}", "activation": "relu"}]
        k = len(nodes)
        nodes += [(3 * b, [h]), (3 * b + 1, [h, k + 1]), (3 * b + 2, [k + 2])]
        h = k + 3
    layers.append(dense("out", 2))
    nodes.append((3 * blocks, [h]))
    return layers, nodes, h + 1


def test_training_plan_reuses_what_backward_never_reads():
    # Per block, d (a linear Dense's output, read by Add, whose backward reads nothing) and s
    # (read by relu, whose backward reads only its output) are transient; the relu outputs are
    # kept (the next Dense's x, and relu's own y). Slot by slot: d takes a free slot, s a
    # second, d's is freed after Add and taken by the kept relu output, s's is freed after
    # relu and serves the next block's d: 12 kept slots plus one cycling slot, and the small
    # output reuses the free one. Gradients need 3 slots of 32 (the upstream sum, s's and d's).
    layers, nodes, out = _residual_chain(12, 32)
    g = _core.Graph([[32]], layers, nodes, [out])
    g.init_params(0)
    assert g.activation_floats_per_sample == (12 + 1) * 32 + 3 * 32
    old_plan = 2 * (36 * 32 + 2)  # every tensor and its gradient
    assert g.activation_floats_per_sample < old_plan / 4


def test_training_with_reused_buffers_keeps_exact_gradients():
    # The same residual chain, small: the buffers the plan reuses must not corrupt backward.
    # Gradients against float64 central differences of an independent numpy forward.
    rng = np.random.default_rng(3)
    blocks, width = 4, 6
    layers, nodes, out = _residual_chain(blocks, width)
    g = _core.Graph([[width]], layers, nodes, [out])
    g.init_params(2)
    t = _core.Trainer(g, [{"loss": "mse"}], ADAM)
    x = rng.normal(size=(5, width)).astype(np.float32)
    target = rng.normal(size=(5, 2)).astype(np.float32)
    loss = t.loss_and_gradients(x, None, target)
    w = weights(g)

    def forward(w):
        h = x.astype(np.float64)
        for b in range(blocks):
            h = np.maximum(h + h @ w[f"d{b}"]["kernel"] + w[f"d{b}"]["bias"], 0)
        y = h @ w["out"]["kernel"] + w["out"]["bias"]
        return np.mean((y - target) ** 2)

    assert abs(loss - forward(w)) < 1e-5 * forward(w)
    from conftest import numeric_grad
    want = {layer: {name: numeric_grad(lambda: forward(w), arr) for name, arr in ps.items()} for layer, ps in w.items()}
    assert_grads(grads(g), want, tol=1e-4)
