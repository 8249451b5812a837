"""Issue 12 (no silent failures), loss side: from_logits=False (Keras' clipped probabilities,
exact gradient), BCE pos_weight (PyTorch's BCEWithLogitsLoss), categorical_crossentropy with
targets, the loss fused with a final sigmoid/softmax Activation node (stable at |z| = 40
where the probability formula saturates), and metrics on probabilities (threshold 0.5).
References: numpy float64 formulas written out here, finite differences for gradients."""
import numpy as np
import pytest

from pydl import _core, losses
from pydl._core import kernels

EPS = 1e-7


# ------------------------------------------------------------------ numpy references
def softplus(x):
    return np.logaddexp(0.0, x)


def bce_logits_ref(z, t, pos_weight=None, class_weights=None, sample_weights=None):
    """torch BCEWithLogitsLoss(pos_weight): -[pw t log s(z) + (1 - t) log(1 - s(z))], weighted mean."""
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    l = pw * t * softplus(-z) + (1 - t) * softplus(z)
    return weighted_mean(l, t, class_weights, sample_weights)


def bce_probs_ref(x, t, pos_weight=None, class_weights=None, sample_weights=None):
    """Keras binary_crossentropy(from_logits=False): clip to [eps, 1 - eps], then the log loss."""
    pw = 1.0 if pos_weight is None else np.asarray(pos_weight, np.float64)
    p = np.clip(x, EPS, 1 - EPS)
    l = -(pw * t * np.log(p) + (1 - t) * np.log(1 - p))
    return weighted_mean(l, t, class_weights, sample_weights)


def weighted_mean(l, t, class_weights, sample_weights):
    w = np.ones_like(l)
    if class_weights is not None:
        w = np.where(t > 0.5, class_weights[1], class_weights[0])
    if sample_weights is not None:
        w = w * np.asarray(sample_weights, np.float64)[:, None]
    return (w * l).sum() / w.sum()


def log_probs(x, from_logits):
    """log p per row: log-softmax of logits, or Keras' log(clip(x / sum(x)))."""
    if from_logits:
        m = x.max(axis=1, keepdims=True)
        return x - m - np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    return np.log(np.clip(x / x.sum(axis=1, keepdims=True), EPS, 1 - EPS))


def sparse_ce_ref(x, labels, from_logits, class_weights=None, label_smoothing=0.0, sample_weights=None):
    """torch CrossEntropyLoss(weight, label_smoothing) on log p (logits or Keras' probabilities)."""
    n, c = x.shape
    lp = log_probs(x, from_logits)
    w = np.ones(c) if class_weights is None else np.asarray(class_weights, np.float64)
    sw = np.ones(n) if sample_weights is None else np.asarray(sample_weights, np.float64)
    wy = w[labels]
    row = (1 - label_smoothing) * wy * -lp[np.arange(n), labels] + label_smoothing / c * -(lp * w).sum(axis=1)
    return (sw * row).sum() / (sw * wy).sum()


def categorical_ref(x, t, from_logits, label_smoothing=0.0, sample_weights=None):
    """Keras categorical_crossentropy: -sum_c t'_c log p_c, t' = (1 - ls) t + ls / C."""
    n, c = x.shape
    t = (1 - label_smoothing) * t + label_smoothing / c
    sw = np.ones(n) if sample_weights is None else np.asarray(sample_weights, np.float64)
    return (sw * -(t * log_probs(x, from_logits)).sum(axis=1)).sum() / sw.sum()


def numeric_grad(f, x, h=1e-6):
    g = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        xp, xm = x.copy(), x.copy()
        xp[idx] += h
        xm[idx] -= h
        g[idx] = (f(xp) - f(xm)) / (2 * h)
    return g


# ------------------------------------------------------------------ kernel level (float64)
def bce_cases(rng):
    z = rng.normal(0, 3, (7, 3))
    t = (rng.random((7, 3)) > 0.5).astype(np.float64)
    t[0, 0] = 0.3  # a soft target
    return z, t


@pytest.mark.parametrize("pos_weight", [None, [2.5], [0.5, 3.0, 1.0]])
@pytest.mark.parametrize("weighted", [False, True])
def test_bce_logits_pos_weight_matches_pytorch_rule(rng, pos_weight, weighted):
    z, t = bce_cases(rng)
    cw = np.array([0.7, 1.6]) if weighted else None
    sw = rng.random(7) + 0.2 if weighted else None
    pw = None if pos_weight is None else np.array(pos_weight)
    ref = lambda zz: bce_logits_ref(zz, t, pw, cw, sw)
    loss, grad = kernels.loss(z, targets=t, kind="binary_cross_entropy", class_weights=cw, sample_weights=sw,
                              pos_weight=pw)
    assert loss == pytest.approx(ref(z), rel=1e-12)
    np.testing.assert_allclose(grad, numeric_grad(ref, z), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("pos_weight", [None, [0.5, 3.0, 1.0]])
def test_bce_probabilities_clip_as_keras_with_exact_gradient(rng, pos_weight):
    _, t = bce_cases(rng)
    x = rng.uniform(0.02, 0.98, (7, 3))
    x[1, 1], x[2, 2], x[3, 0] = 0.0, 1.0, 1e-9  # clipped: the loss is flat there
    pw = None if pos_weight is None else np.array(pos_weight)
    ref = lambda xx: bce_probs_ref(xx, t, pw)
    loss, grad = kernels.loss(x, targets=t, kind="binary_cross_entropy", from_logits=False, pos_weight=pw)
    assert loss == pytest.approx(ref(x), rel=1e-12)
    fd = numeric_grad(ref, x, h=1e-10)
    unclipped = (x >= EPS) & (x <= 1 - EPS)
    np.testing.assert_allclose(grad[unclipped], fd[unclipped], rtol=1e-4)
    assert np.all(grad[~unclipped] == 0.0)


def probabilities(rng, n, c):
    e = np.exp(rng.normal(0, 1.5, (n, c)))
    p = e / e.sum(axis=1, keepdims=True)
    p[0] = [1.0] + [0.0] * (c - 1)  # clipped entries in row 0
    return p


@pytest.mark.parametrize("class_weights, smoothing", [(None, 0.0), ([0.5, 2.0, 1.0, 1.5], 0.0),
                                                      ([0.5, 2.0, 1.0, 1.5], 0.2)])
def test_sparse_cross_entropy_from_probabilities(rng, class_weights, smoothing):
    x = probabilities(rng, 6, 4) * 1.3  # not normalised: Keras divides by the row sum
    labels = rng.integers(0, 4, 6).astype(np.int32)
    sw = rng.random(6) + 0.1
    cw = None if class_weights is None else np.array(class_weights)
    ref = lambda xx: sparse_ce_ref(xx, labels, False, cw, smoothing, sw)
    loss, grad = kernels.loss(x, labels=labels, kind="cross_entropy", class_weights=cw, label_smoothing=smoothing,
                              sample_weights=sw, from_logits=False)
    assert loss == pytest.approx(ref(x), rel=1e-12)
    np.testing.assert_allclose(grad[1:], numeric_grad(ref, x, h=1e-8)[1:], rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("from_logits", [True, False])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_categorical_crossentropy_with_soft_targets(rng, from_logits, smoothing):
    x = rng.normal(0, 2, (6, 5)) if from_logits else probabilities(rng, 6, 5)
    t = rng.random((6, 5))
    t /= t.sum(axis=1, keepdims=True)
    sw = rng.random(6) + 0.1
    ref = lambda xx: categorical_ref(xx, t, from_logits, smoothing, sw)
    loss, grad = kernels.loss(x, targets=t, kind="categorical_crossentropy", label_smoothing=smoothing,
                              sample_weights=sw, from_logits=from_logits)
    assert loss == pytest.approx(ref(x), rel=1e-12)
    rows = slice(None) if from_logits else slice(1, None)  # row 0 of the probabilities is clipped
    np.testing.assert_allclose(grad[rows], numeric_grad(ref, x, h=1e-7)[rows], rtol=1e-5, atol=1e-8)


def test_categorical_one_hot_equals_sparse(rng):
    z = rng.normal(0, 2, (8, 4))
    labels = rng.integers(0, 4, 8).astype(np.int32)
    loss_s, grad_s = kernels.loss(z, labels=labels, kind="cross_entropy")
    loss_c, grad_c = kernels.loss(z, targets=np.eye(4)[labels], kind="categorical_crossentropy")
    assert loss_c == pytest.approx(loss_s, rel=1e-13)
    np.testing.assert_allclose(grad_c, grad_s, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------ fused output activation
def dense(name, units, activation="linear"):
    return {"type": "dense", "name": name, "units": units, "activation": activation}


def act(name, fn):
    return {"type": "activation", "name": name, "activation": fn}


def graph_with_activation(n_in, units, fn):
    """dense (linear) -> Activation(fn): the output the Python engine makes of
    Dense(units, activation=fn) at a model output."""
    return _core.Graph([[n_in]], [dense("z", units), act("p", fn)], [(0, [0]), (1, [1])], [2])


def linear_graph(n_in, units):
    return _core.Graph([[n_in]], [dense("z", units)], [(0, [0])], [1])


def set_weights(g, w, b):
    buf = g.param_buffer()
    buf[:w.size] = w.ravel()
    buf[w.size:w.size + b.size] = b


def saturated_problem(rng, units):
    """x, W, b with logits z = x W + b of exactly +-40 and +-3 (float32-representable)."""
    x = np.eye(4, 3, dtype=np.float32)
    x[3] = [0.0, 0.0, 0.0]
    w = np.zeros((3, units), np.float32)
    w[0, 0], w[1, 0], w[2, 0] = 40.0, -40.0, 3.0
    if units > 1:
        w[0, 1:], w[1, 1:], w[2, 1:] = -2.0, 1.0, 0.5
    b = np.zeros(units, np.float32)
    b[0] = 0.25
    return x, w, b


def dense_grads_ref(x, dz):
    """d loss / d (W, b) of z = x W + b from d loss / d z, in float64."""
    return np.concatenate([(x.astype(np.float64).T @ dz).ravel(), dz.sum(axis=0)])


def test_fused_sigmoid_bce_is_exact_at_saturated_logits(rng):
    x, w, b = saturated_problem(rng, 2)
    t = np.array([[0, 1], [1, 0], [1, 1], [0, 1]], np.float32)  # z = +40 with target 0: loss 40
    g = graph_with_activation(3, 2, "sigmoid")
    set_weights(g, w, b)
    tr = _core.Trainer(g, [{"loss": "binary_cross_entropy", "from_logits": False}], {"kind": "sgd"})
    assert tr.fused_heads == [True]
    loss = tr.loss_and_gradients(x, None, t)
    z = x.astype(np.float64) @ w + b
    ref = lambda zz: bce_logits_ref(zz, t.astype(np.float64))
    assert loss == pytest.approx(ref(z), rel=1e-6)
    assert loss > 40 / 8  # the probability formula clips -log(1 - s(40)) to -log(1e-7) = 16.1
    want = dense_grads_ref(x, numeric_grad(ref, z))
    np.testing.assert_allclose(g.grad_buffer(), want, rtol=1e-5, atol=1e-7)
    assert g.grad_buffer()[0] == pytest.approx(1 / 8, rel=1e-6)  # d/dW00: s(40) - 0 over 8 elements
    # the unfused probability path really saturates here: zero gradient from that element
    p = 1 / (1 + np.exp(-z))
    _, naive = kernels.loss(p.astype(np.float32), targets=t, kind="binary_cross_entropy", from_logits=False)
    assert naive[0, 0] == 0.0 and not np.isclose(bce_probs_ref(p, t.astype(np.float64)), loss)


@pytest.mark.parametrize("loss_name", ["cross_entropy", "categorical_crossentropy"])
def test_fused_softmax_cross_entropy_is_exact_at_saturated_logits(rng, loss_name):
    x, w, b = saturated_problem(rng, 3)
    labels = np.array([2, 0, 1, 0], np.int32)  # sample 0: logit 40 on class 0, label 2
    onehot = np.eye(3, dtype=np.float32)[labels]
    g = graph_with_activation(3, 3, "softmax")
    set_weights(g, w, b)
    tr = _core.Trainer(g, [{"loss": loss_name, "from_logits": False, "label_smoothing": 0.1}], {"kind": "sgd"})
    assert tr.fused_heads == [True]
    sparse = loss_name == "cross_entropy"
    loss = tr.loss_and_gradients(x, labels if sparse else None, None if sparse else onehot)
    z = x.astype(np.float64) @ w + b
    ref = ((lambda zz: sparse_ce_ref(zz, labels, True, label_smoothing=0.1)) if sparse else
           (lambda zz: categorical_ref(zz, onehot.astype(np.float64), True, 0.1)))
    assert loss == pytest.approx(ref(z), rel=1e-6)
    np.testing.assert_allclose(g.grad_buffer(), dense_grads_ref(x, numeric_grad(ref, z)), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("head, fn", [({"loss": "binary_cross_entropy", "pos_weight": [2.0, 0.5]}, "sigmoid"),
                                      ({"loss": "cross_entropy"}, "softmax"),
                                      ({"loss": "categorical_crossentropy"}, "softmax")])
def test_fused_training_equals_training_on_logits_bitwise(rng, head, fn):
    units = 2 if fn == "sigmoid" else 3
    x = rng.normal(size=(64, 5)).astype(np.float32)
    labels = rng.integers(0, units, 64).astype(np.int32)
    if head["loss"] == "cross_entropy":
        ys = (labels, None)
    elif head["loss"] == "categorical_crossentropy":
        ys = (None, np.eye(units, dtype=np.float32)[labels])
    else:
        ys = (None, (rng.random((64, units)) > 0.5).astype(np.float32))
    runs = []
    for graph, from_logits in ((graph_with_activation(5, units, fn), False), (linear_graph(5, units), True)):
        graph.init_params(3)
        tr = _core.Trainer(graph, [{**head, "from_logits": from_logits}], {"kind": "adam", "learning_rate": 0.05})
        assert tr.fused_heads == [not from_logits]
        for epoch in range(3):
            stats = tr.fit_epoch(x, *ys, 16, True, 0, epoch)
        ev = tr.evaluate(x, *ys, 32, {"confusion": True, "log_loss": True, "top_k": 0, "regression": False})
        runs.append((np.array(graph.param_buffer()), stats["loss"], ev))
    (w_fused, loss_fused, ev_fused), (w_logits, loss_logits, ev_logits) = runs
    np.testing.assert_array_equal(w_fused, w_logits)
    assert loss_fused == loss_logits
    for key in ("loss", "correct", "counted", "confusion", "nll", "nll_count"):
        assert ev_fused[key] == ev_logits[key], key


@pytest.mark.parametrize("layers, nodes, outputs, head, why", [
    # the activation is fused into the dense node itself: nothing to read logits from
    ([dense("z", 2, "sigmoid")], [(0, [0])], [1], {"loss": "binary_cross_entropy", "from_logits": False}, "inline"),
    ([dense("z", 2), act("p", "sigmoid")], [(0, [0]), (1, [1])], [2],
     {"loss": "binary_cross_entropy"}, "from_logits"),
    ([dense("z", 2), act("p", "softmax")], [(0, [0]), (1, [1])], [2],
     {"loss": "binary_cross_entropy", "from_logits": False}, "wrong activation"),
    ([dense("z", 2), act("p", "sigmoid")], [(0, [0]), (1, [1])], [2],
     {"loss": "cross_entropy", "from_logits": False}, "wrong activation"),
    ([dense("z", 2), act("p", "tanh")], [(0, [0]), (1, [1])], [2],
     {"loss": "binary_cross_entropy", "from_logits": False}, "not sigmoid"),
    ([act("p", "sigmoid")], [(0, [0])], [1], {"loss": "binary_cross_entropy", "from_logits": False},
     "graph input"),
])
def test_fusion_applies_only_where_sound(layers, nodes, outputs, head, why):
    g = _core.Graph([[3]], layers, nodes, outputs)
    assert _core.Trainer(g, [head], {"kind": "sgd"}).fused_heads == [False], why


def test_fusion_not_applied_when_the_activation_output_is_read_elsewhere():
    # p feeds another node: its gradient is not the loss's alone
    layers = [dense("z", 2), act("p", "sigmoid"), dense("r", 1)]
    g = _core.Graph([[3]], layers, [(0, [0]), (1, [1]), (2, [2])], [2, 3])
    heads = [{"loss": "binary_cross_entropy", "from_logits": False}, {"loss": "mse"}]
    assert _core.Trainer(g, heads, {"kind": "sgd"}).fused_heads == [False, False]


def test_fusion_with_a_second_reader_of_the_logits(rng):
    # z feeds the sigmoid output and a regression head: z's gradient is the sum of both
    layers = [dense("z", 2), act("p", "sigmoid"), dense("r", 1)]
    g = _core.Graph([[3]], layers, [(0, [0]), (1, [1]), (2, [1])], [2, 3])
    g.init_params(1)
    heads = [{"loss": "binary_cross_entropy", "from_logits": False}, {"loss": "mse", "weight": 0.5}]
    tr = _core.Trainer(g, heads, {"kind": "sgd"})
    assert tr.fused_heads == [True, False]
    x = rng.normal(size=(6, 3)).astype(np.float32)
    t = (rng.random((6, 2)) > 0.5).astype(np.float32)
    r = rng.normal(size=(6, 1)).astype(np.float32)
    loss = tr.loss_and_gradients(x, [None, None], [t, r])
    buf = np.array(g.param_buffer(), np.float64)
    wz, bz, wr, br = buf[:6].reshape(3, 2), buf[6:8], buf[8:10].reshape(2, 1), buf[10:11]

    def total(params):
        wz_, bz_, wr_, br_ = params[:6].reshape(3, 2), params[6:8], params[8:10].reshape(2, 1), params[10:11]
        z = x.astype(np.float64) @ wz_ + bz_
        return bce_logits_ref(z, t.astype(np.float64)) + 0.5 * np.mean((z @ wr_ + br_ - r) ** 2)

    assert loss == pytest.approx(total(buf), rel=1e-6)
    np.testing.assert_allclose(g.grad_buffer(), numeric_grad(total, buf), rtol=1e-4, atol=1e-6)
    assert wz.shape == (3, 2) and bz.shape == (2,) and wr.shape == (2, 1) and br.shape == (1,)


def test_unfused_probabilities_use_the_clipped_keras_loss(rng):
    g = _core.Graph([[3]], [dense("z", 2, "sigmoid")], [(0, [0])], [1])
    g.init_params(0)
    tr = _core.Trainer(g, [{"loss": "binary_cross_entropy", "from_logits": False}], {"kind": "sgd"})
    x = rng.normal(size=(5, 3)).astype(np.float32)
    t = (rng.random((5, 2)) > 0.5).astype(np.float32)
    p = g.predict(x, 5).astype(np.float64)
    assert tr.loss_and_gradients(x, None, t) == pytest.approx(bce_probs_ref(p, t.astype(np.float64)), rel=1e-6)


# ------------------------------------------------------------------ metrics on probabilities
METRICS = {"confusion": True, "log_loss": True, "top_k": 0, "regression": False}


def binary_metrics_ref(scores, t, probabilities):
    pred = scores > (0.5 if probabilities else 0.0)
    truth = t > 0.5
    cm = [int(np.sum(~truth & ~pred)), int(np.sum(~truth & pred)), int(np.sum(truth & ~pred)),
          int(np.sum(truth & pred))]
    p = np.clip(scores, EPS, 1 - EPS) if probabilities else 1 / (1 + np.exp(-scores))
    nll = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    return int(np.sum(pred == truth)), cm, nll.sum()


@pytest.mark.parametrize("mode", ["logits", "probabilities", "fused"])
def test_binary_accuracy_confusion_and_log_loss(rng, mode):
    graph = {"logits": lambda: linear_graph(4, 3), "probabilities": lambda: _core.Graph(
        [[4]], [dense("z", 3, "sigmoid")], [(0, [0])], [1]), "fused": lambda: graph_with_activation(4, 3, "sigmoid")}
    g = graph[mode]()
    g.init_params(2)
    tr = _core.Trainer(g, [{"loss": "binary_cross_entropy", "from_logits": mode == "logits"}], {"kind": "sgd"})
    assert tr.fused_heads == [mode == "fused"]
    x = rng.normal(0, 2, size=(40, 4)).astype(np.float32)
    t = (rng.random((40, 3)) > 0.5).astype(np.float32)
    out = g.predict(x, 40).astype(np.float64)
    if mode == "fused":  # the reference reads the logits, the trainer too
        out = np.log(out / (1 - out))
    correct, cm, nll = binary_metrics_ref(out, t.astype(np.float64), mode == "probabilities")
    ev = tr.evaluate(x, None, t, 16, METRICS)
    assert 0 < correct < 120  # the decisions are not all the same
    assert (ev["correct"], ev["counted"]) == (correct, 120)
    assert ev["confusion"] == cm
    assert ev["nll"] == pytest.approx(nll, rel=1e-4) and ev["nll_count"] == 120


@pytest.mark.parametrize("loss_name", ["cross_entropy", "categorical_crossentropy"])
@pytest.mark.parametrize("mode", ["logits", "probabilities", "fused"])
def test_softmax_accuracy_confusion_and_log_loss(rng, loss_name, mode):
    graph = {"logits": lambda: linear_graph(4, 3), "probabilities": lambda: _core.Graph(
        [[4]], [dense("z", 3, "softmax")], [(0, [0])], [1]), "fused": lambda: graph_with_activation(4, 3, "softmax")}
    g = graph[mode]()
    g.init_params(2)
    tr = _core.Trainer(g, [{"loss": loss_name, "from_logits": mode == "logits"}], {"kind": "sgd"})
    assert tr.fused_heads == [mode == "fused"]
    x = rng.normal(0, 2, size=(60, 4)).astype(np.float32)
    labels = rng.integers(0, 3, 60).astype(np.int32)
    onehot = np.eye(3, dtype=np.float32)[labels]
    ys = (labels, None) if loss_name == "cross_entropy" else (None, onehot)
    out = g.predict(x, 60).astype(np.float64)
    pred = out.argmax(axis=1)
    cm = np.zeros((3, 3), int)
    np.add.at(cm, (labels, pred), 1)
    lp = log_probs(out, from_logits=mode == "logits")
    nll = -lp[np.arange(60), labels].sum()
    ev = tr.evaluate(x, *ys, 16, {**METRICS, "top_k": 2})
    assert 0 < ev["correct"] < 60
    top2 = np.argsort(-out, axis=1, kind="stable")[:, :2]
    assert (ev["top_k_correct"], ev["top_k_total"]) == (int((top2 == labels[:, None]).any(axis=1).sum()), 60)
    assert (ev["correct"], ev["counted"]) == (int(np.sum(pred == labels)), 60)
    assert ev["confusion"] == cm.ravel().tolist()
    assert ev["nll"] == pytest.approx(nll, rel=1e-4) and ev["nll_count"] == 60


# ------------------------------------------------------------------ clear errors
@pytest.mark.parametrize("head, shape, match", [
    ({"loss": "categorical_crossentropy", "class_weights": [1.0, 2.0, 1.0]}, [3], "sample_weight"),
    ({"loss": "binary_cross_entropy", "pos_weight": [1.0, 2.0]}, [3], "pos_weight.*one per output column"),
    ({"loss": "binary_cross_entropy", "pos_weight": -1.0}, [3], "pos_weight"),
    ({"loss": "cross_entropy", "pos_weight": 2.0}, [3], "pos_weight applies to binary"),
    ({"loss": "mse", "from_logits": False}, [3], "from_logits"),
    ({"loss": "mse", "label_smoothing": 0.1}, [3], "label_smoothing"),
    ({"loss": "binary_cross_entropy", "form_logits": False}, [3], "unknown key 'form_logits'"),
    ({"loss": "categorical_crossentropy"}, [2, 3], r"categorical_crossentropy expects .*\(None, classes\)"),
])
def test_bad_heads_are_refused(head, shape, match):
    g = _core.Graph([4], [{"type": "dense", "name": "d", "units": int(np.prod(shape))},
                          {"type": "reshape", "name": "r", "target_shape": shape}])
    with pytest.raises(ValueError, match=match):
        _core.Trainer(g, [head], {"kind": "sgd"})


def test_categorical_refuses_labels_and_misshapen_targets(rng):
    g = linear_graph(4, 3)
    tr = _core.Trainer(g, [{"loss": "categorical_crossentropy"}], {"kind": "sgd"})
    x = rng.normal(size=(5, 4)).astype(np.float32)
    with pytest.raises(ValueError, match="no targets"):
        tr.loss_and_gradients(x, np.zeros(5, np.int32), None)
    with pytest.raises(ValueError, match=r"categorical_crossentropy expects targets of shape \(5, 3\), got \(5, 1\)"):
        tr.loss_and_gradients(x, None, np.zeros((5, 1), np.float32))
    with pytest.raises(ValueError, match=r"expects targets of shape \(5, 3\), got \(15,\)"):
        tr.loss_and_gradients(x, None, np.zeros(15, np.float32))  # the right size, not the right shape
    with pytest.raises(ValueError, match=r"got \(3, 5\)"):
        tr.loss_and_gradients(x, None, np.zeros((3, 5), np.float32))


def test_python_loss_classes():
    assert isinstance(losses.get("categorical_crossentropy"), losses.CategoricalCrossEntropy)
    assert isinstance(losses.get("sparse_categorical_crossentropy"), losses.CrossEntropy)
    assert isinstance(losses.get("binary_crossentropy"), losses.BinaryCrossEntropy)
    b = losses.BinaryCrossEntropy(from_logits=False, pos_weight=[1.0, 3.0])
    assert b.head_config() == {"loss": "binary_cross_entropy", "class_weights": [], "label_smoothing": 0.0,
                               "from_logits": False, "pos_weight": [1.0, 3.0]}
    assert losses.from_config(b.name, b.get_config()).get_config() == b.get_config()
    c = losses.CategoricalCrossEntropy(label_smoothing=0.1, from_logits=False)
    assert c.head_config() == {"loss": "categorical_crossentropy", "class_weights": [], "label_smoothing": 0.1,
                               "from_logits": False}
    assert losses.CrossEntropy().from_logits is None and losses.BinaryCrossEntropy(pos_weight=2).pos_weight == 2.0
    g = linear_graph(4, 2)
    assert _core.Trainer(g, [b.head_config()], {"kind": "sgd"}).fused_heads == [False]


@pytest.mark.parametrize("make, error, match", [
    (lambda: losses.BinaryCrossEntropy(pos_weight=-1), ValueError, "pos_weight"),
    (lambda: losses.BinaryCrossEntropy(pos_weight=[]), ValueError, "pos_weight"),
    (lambda: losses.BinaryCrossEntropy(pos_weight="2"), TypeError, "pos_weight"),
    (lambda: losses.BinaryCrossEntropy(from_logits=0), TypeError, "from_logits"),
    (lambda: losses.CategoricalCrossEntropy(label_smoothing=2), ValueError, "label_smoothing"),
    (lambda: losses.CrossEntropy(from_logits="no"), TypeError, "from_logits"),
])
def test_python_loss_arguments_are_checked(make, error, match):
    with pytest.raises(error, match=match):
        make()


def test_evaluate_reads_live_logits_when_later_nodes_could_reuse_their_buffer(rng):
    # z -> p (sigmoid output 0); then q = dense(x), r = dense(q) (output 1) run after p. An
    # inference replica frees a tensor's buffer after its last reader: the fused loss reads z
    # after the whole forward, so z must stay alive.
    layers = [dense("z", 4), act("p", "sigmoid"), dense("q", 4), dense("r", 4)]
    g = _core.Graph([[3]], layers, [(0, [0]), (1, [1]), (2, [0]), (3, [3])], [2, 4])
    g.init_params(4)
    heads = [{"loss": "binary_cross_entropy", "from_logits": False}, {"loss": "mse"}]
    tr = _core.Trainer(g, heads, {"kind": "sgd"})
    assert tr.fused_heads == [True, False]
    x = rng.normal(size=(9, 3)).astype(np.float32)
    t = (rng.random((9, 4)) > 0.5).astype(np.float32)
    r = rng.normal(size=(9, 4)).astype(np.float32)
    buf = np.array(g.param_buffer(), np.float64)
    z = x.astype(np.float64) @ buf[:12].reshape(3, 4) + buf[12:16]
    ev = tr.evaluate(x, [None, None], [t, r], 9)
    assert ev["heads"][0]["loss"] == pytest.approx(bce_logits_ref(z, t.astype(np.float64)), rel=1e-6)


# ------------------------------------------------------------------ custom loss (Python object)
class Huberish:
    """Per-sample loss sum_c log(cosh(y_pred - y_true)), counted calls."""

    def __init__(self, fail_at=None, bad=None):
        self.calls = self.gradients = 0
        self.fail_at, self.bad = fail_at, bad

    def call(self, y_true, y_pred):
        self.calls += 1
        if self.calls == self.fail_at:
            raise KeyError("no such target")
        assert y_true.dtype == np.float32 and y_pred.dtype == np.float32 and y_true.shape == y_pred.shape
        out = np.log(np.cosh(y_pred.astype(np.float64) - y_true)).sum(axis=1)
        return out[:, None] if self.bad == "call" else out

    def gradient(self, y_true, y_pred):
        self.gradients += 1
        g = np.tanh(y_pred.astype(np.float64) - y_true)
        return g[:, :1] if self.bad == "gradient" else g


def custom_problem(rng, n=12):
    g = linear_graph(3, 2)
    g.init_params(5)
    x = rng.normal(size=(n, 3)).astype(np.float32)
    t = rng.normal(size=(n, 2)).astype(np.float32)
    return g, x, t


def test_custom_loss_loss_and_gradients_match_numpy(rng):
    g, x, t = custom_problem(rng)
    obj = Huberish()
    tr = _core.Trainer(g, [{"loss": "custom", "object": obj}], {"kind": "sgd"})
    sw = (rng.random(12) + 0.1).astype(np.float32)
    buf = np.array(g.param_buffer(), np.float64)

    def total(params):
        z = x.astype(np.float64) @ params[:6].reshape(3, 2) + params[6:]
        per = np.log(np.cosh(z - t)).sum(axis=1)
        return (sw * per).sum() / sw.sum()

    loss = tr.loss_and_gradients(x, None, t, sample_weight=sw)
    assert (obj.calls, obj.gradients) == (1, 1)  # once per batch
    assert loss == pytest.approx(total(buf), rel=1e-6)
    np.testing.assert_allclose(g.grad_buffer(), numeric_grad(total, buf), rtol=1e-5, atol=1e-7)
    ev = tr.evaluate(x, None, t, 12, sample_weight=sw)
    assert ev["loss"] == pytest.approx(total(buf), rel=1e-6)
    tr.evaluate(x, None, t, 5, sample_weight=sw)
    assert obj.calls == 1 + 1 + 3 and obj.gradients == 1  # evaluate: once per batch, no gradient


def test_custom_loss_trains_like_the_builtin_mse(rng):
    class HalfSquares:
        def call(self, y_true, y_pred):
            return ((y_pred.astype(np.float64) - y_true) ** 2).mean(axis=1)

        def gradient(self, y_true, y_pred):
            return 2 * (y_pred.astype(np.float64) - y_true) / y_pred.shape[1]

    weights = []
    for head in ({"loss": "custom", "object": HalfSquares()}, {"loss": "mse"}):
        g, x, t = custom_problem(np.random.default_rng(8), n=40)
        tr = _core.Trainer(g, [head], {"kind": "adam", "learning_rate": 0.01})
        for epoch in range(3):
            stats = tr.fit_epoch(x, None, t, 8, True, 0, epoch)
        assert stats["batches"] == 5
        weights.append(np.array(g.param_buffer()))
    np.testing.assert_allclose(weights[0], weights[1], rtol=1e-5, atol=1e-6)


def test_custom_loss_exception_propagates_and_keeps_the_last_complete_step(rng):
    g, x, t = custom_problem(rng, n=32)
    start = np.array(g.param_buffer())
    tr = _core.Trainer(g, [{"loss": "custom", "object": Huberish(fail_at=3)}], {"kind": "sgd", "learning_rate": 0.1})
    with pytest.raises(KeyError, match="no such target"):
        tr.fit_epoch(x, None, t, 8, False, 0, 0)
    assert tr.step == 2
    # the same two batches through a trainer whose loss never fails
    g2 = linear_graph(3, 2)
    g2.param_buffer()[:] = start
    tr2 = _core.Trainer(g2, [{"loss": "custom", "object": Huberish()}], {"kind": "sgd", "learning_rate": 0.1})
    tr2.fit_epoch(x[:16], None, t[:16], 8, False, 0, 0)
    np.testing.assert_array_equal(g.param_buffer(), g2.param_buffer())
    # the gate was released and the trainer stays usable
    assert tr.train_batch(x[:8], None, t[:8], 0) and tr.step == 3


@pytest.mark.parametrize("bad, match", [("call", r"custom loss call: expected a float array of shape \(12,\), "
                                                 r"got \(12, 1\)"),
                                        ("gradient", r"custom loss gradient: .*shape \(12, 2\), got \(12, 1\)")])
def test_custom_loss_results_are_shape_checked(rng, bad, match):
    g, x, t = custom_problem(rng)
    tr = _core.Trainer(g, [{"loss": "custom", "object": Huberish(bad=bad)}], {"kind": "sgd"})
    with pytest.raises(ValueError, match=match):
        tr.loss_and_gradients(x, None, t)


def test_custom_loss_object_and_head_are_checked():
    g = linear_graph(3, 2)
    with pytest.raises(TypeError, match=r"call\(y_true, y_pred\) and gradient"):
        _core.Trainer(g, [{"loss": "custom", "object": object()}], {"kind": "sgd"})
    with pytest.raises(ValueError, match="'custom' and an 'object'"):
        _core.Trainer(g, [{"loss": "custom"}], {"kind": "sgd"})
    with pytest.raises(ValueError, match="'custom' and an 'object'"):
        _core.Trainer(g, [{"loss": "mse", "object": Huberish()}], {"kind": "sgd"})


@pytest.mark.parametrize("loss_name", ["categorical_crossentropy", "cross_entropy"])
def test_fused_probability_losses_are_bitwise_identical_for_1_2_3_threads(threads, loss_name):
    import pydl
    from conftest import assert_split_iff_threads, split_regions

    rng = np.random.default_rng(11)
    x = rng.normal(size=(4096, 16)).astype(np.float32)  # loss rows split in chunks of 2048
    labels = rng.integers(0, 4, 4096).astype(np.int32)
    ys = (labels, None) if loss_name == "cross_entropy" else (None, np.eye(4, dtype=np.float32)[labels])
    runs = []
    for n in (1, 2, 3):
        pydl.set_num_threads(n)
        g = _core.Graph([[16]], [dense("h", 32, "relu"), dense("z", 4), act("p", "softmax")],
                        [(0, [0]), (1, [1]), (2, [2])], [3])
        g.init_params(0)
        tr = _core.Trainer(g, [{"loss": loss_name, "from_logits": False, "label_smoothing": 0.05}],
                           {"kind": "rmsprop", "learning_rate": 0.01, "centered": True})
        assert tr.fused_heads == [True]
        before = split_regions()
        for epoch in range(2):
            stats = tr.fit_epoch(x, *ys, 4096, True, 0, epoch)
        assert_split_iff_threads(n, before)
        runs.append((np.array(g.param_buffer()), stats["loss"]))
    for w, loss in runs[1:]:
        np.testing.assert_array_equal(w, runs[0][0])
        assert loss == runs[0][1]
