"""Issue 12 (no silent failures), optimizer side: RMSprop and Adagrad with Keras' argument
names and PyTorch's update rules (checked against numpy float64 reimplementations of
torch.optim.RMSprop / Adagrad), no NaN/Inf weight ever written, unknown optimizer keys
refused, and frozen parameter ranges (Trainer.set_frozen) left bitwise alone."""
import numpy as np
import pytest

import pydl
from pydl import _core, layers, optimizers
from pydl._core import kernels

from conftest import assert_split_iff_threads, assert_weights_equal, split_regions


# ------------------------------------------------------------------ numpy references
def torch_rmsprop(p, g, state, lr, rho=0.9, momentum=0.0, eps=1e-7, centered=False, weight_decay=0.0):
    """torch.optim.RMSprop's single-tensor update (alpha = rho). state: dict of float64 arrays
    (square_avg, momentum_buffer, grad_avg, all starting at zero). Returns the new p."""
    g = g + weight_decay * p
    state["square_avg"] = rho * state["square_avg"] + (1 - rho) * g * g
    if centered:
        state["grad_avg"] = state["grad_avg"] + (1 - rho) * (g - state["grad_avg"])  # lerp_
        avg = np.sqrt(state["square_avg"] - state["grad_avg"] ** 2) + eps
    else:
        avg = np.sqrt(state["square_avg"]) + eps
    if momentum > 0:
        state["momentum_buffer"] = momentum * state["momentum_buffer"] + g / avg
        return p - lr * state["momentum_buffer"]
    return p - lr * g / avg


def torch_adagrad(p, g, state, lr, eps=1e-7, weight_decay=0.0):
    """torch.optim.Adagrad's update (lr_decay 0); state["sum"] starts at
    initial_accumulator_value. Returns the new p."""
    g = g + weight_decay * p
    state["sum"] = state["sum"] + g * g
    return p - lr * g / (np.sqrt(state["sum"]) + eps)


def new_state(cfg, n):
    s = {k: np.zeros(n) for k in ("square_avg", "momentum_buffer", "grad_avg", "buf", "m", "v")}
    s["sum"] = np.full(n, cfg.get("initial_accumulator_value", 0.1))
    return s


def reference_step(cfg, p, g, state):
    if cfg["kind"] == "rmsprop":
        return torch_rmsprop(p, g, state, cfg["learning_rate"], cfg.get("rho", 0.9), cfg.get("momentum", 0.0),
                             cfg.get("epsilon", 1e-7), cfg.get("centered", False), cfg.get("weight_decay", 0.0))
    return torch_adagrad(p, g, state, cfg["learning_rate"], cfg.get("epsilon", 1e-7), cfg.get("weight_decay", 0.0))


def slot_keys(cfg):
    """The trainer's slot order, as keys of a reference state: SGD its momentum buffer (with
    momentum), Adam(W) m and v, RMSprop square_avg then momentum_buffer (momentum > 0) then
    grad_avg (centered), Adagrad its sum."""
    kind = cfg["kind"]
    if kind == "sgd":
        return ["buf"] if cfg.get("momentum", 0.0) > 0 else []
    if kind in ("adam", "adamw"):
        return ["m", "v"]
    if kind == "adagrad":
        return ["sum"]
    return (["square_avg"] + (["momentum_buffer"] if cfg.get("momentum", 0.0) > 0 else [])
            + (["grad_avg"] if cfg.get("centered", False) else []))


def reference_slots(cfg, state):
    return [state[k] for k in slot_keys(cfg)]


CASES = [
    {"kind": "rmsprop", "learning_rate": 0.01},
    {"kind": "rmsprop", "learning_rate": 0.01, "rho": 0.8, "epsilon": 1e-5, "weight_decay": 0.1},
    {"kind": "rmsprop", "learning_rate": 0.01, "momentum": 0.9},
    {"kind": "rmsprop", "learning_rate": 0.01, "centered": True},
    {"kind": "rmsprop", "learning_rate": 0.005, "momentum": 0.5, "centered": True, "weight_decay": 0.01},
    {"kind": "adagrad", "learning_rate": 0.1},
    {"kind": "adagrad", "learning_rate": 0.05, "initial_accumulator_value": 0.0, "epsilon": 1e-6,
     "weight_decay": 0.2},
]
IDS = ["-".join(f"{k}={v}" for k, v in c.items()) for c in CASES]


def kernel_slots(cfg, n, dtype):
    slots = [np.zeros(n, dtype) for _ in range(3)]
    if cfg["kind"] == "adagrad":
        slots[0][:] = cfg.get("initial_accumulator_value", 0.1)
    return slots


@pytest.mark.parametrize("cfg", CASES, ids=IDS)
@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 5e-6)])
def test_kernel_steps_match_pytorch_rules(rng, cfg, dtype, rtol):
    n = 100_000 if dtype == np.float32 else 1000  # the float32 case crosses the parallel threshold
    p0 = rng.standard_normal(n)
    grads = [rng.standard_normal(n) for _ in range(6)]
    p = p0.astype(dtype)
    s = kernel_slots(cfg, n, dtype)
    state, expected = new_state(cfg, n), p0.copy()
    for step, g in enumerate(grads, start=1):
        assert kernels.optimizer_step(p, g.astype(dtype), s[0], s[1], cfg, step, slot2=s[2])
        expected = reference_step(cfg, expected, g.astype(dtype).astype(np.float64), state)
    assert np.abs(expected - p0).max() > 1e-3  # the steps moved the weights
    np.testing.assert_allclose(p, expected, rtol=rtol, atol=rtol)
    want = reference_slots(cfg, state)
    for got, ref in zip(s, want):
        np.testing.assert_allclose(got, ref, rtol=rtol, atol=rtol)


def dense(name, units, activation="linear"):
    return {"type": "dense", "name": name, "units": units, "activation": activation}


def mse_trainer(cfg, n_in=6, n_out=3, seed=0):
    g = _core.Graph([[n_in]], [dense("h", 8, "tanh"), dense("y", n_out)], [(0, [0]), (1, [1])], [2])
    g.init_params(seed)
    return g, _core.Trainer(g, [{"loss": "mse"}], cfg)


@pytest.mark.parametrize("cfg", CASES, ids=IDS)
def test_trainer_steps_and_slots_follow_the_rule(rng, cfg):
    g, t = mse_trainer(cfg)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    n = g.num_params
    assert len(t.slots()) == len(reference_slots(cfg, new_state(cfg, n)))
    state = new_state(cfg, n)
    for _ in range(4):
        t.loss_and_gradients(x, None, y)
        grad = np.array(g.grad_buffer(), dtype=np.float64)
        before = np.array(g.param_buffer(), dtype=np.float64)
        expected = reference_step(cfg, before, grad, state)
        assert t.train_batch(x, None, y, 0)
        np.testing.assert_allclose(g.param_buffer(), expected, rtol=1e-5, atol=1e-6)
        for got, ref in zip(t.slots(), reference_slots(cfg, state), strict=True):
            np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)
        # continue from the trainer's float32 state: each step is checked on its own
        for key, got in zip(slot_keys(cfg), t.slots(), strict=True):
            state[key] = np.array(got, dtype=np.float64)
    assert t.step == 4


@pytest.mark.parametrize("cfg", [CASES[4], CASES[5]], ids=["rmsprop", "adagrad"])
def test_bitwise_identical_for_1_2_3_threads(threads, cfg):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(256, 64)).astype(np.float32)
    labels = rng.integers(0, 4, 256).astype(np.int32)
    runs = []
    for n in (1, 2, 3):
        pydl.set_num_threads(n)
        g = _core.Graph([[64]], [dense("a", 256, "relu"), dense("b", 256, "relu"), dense("y", 4)],
                        [(0, [0]), (1, [1]), (2, [2])], [3])
        assert g.num_params > 2 * 32768  # several optimizer chunks
        g.init_params(0)
        t = _core.Trainer(g, [{"loss": "cross_entropy"}], cfg)
        before = split_regions()
        t.fit_epoch(x, labels, None, 64, True, 0, 0)
        assert_split_iff_threads(n, before)
        runs.append([np.array(g.param_buffer())] + [np.array(s) for s in t.slots()])
    for other in runs[1:]:
        assert_weights_equal(other, runs[0])


# ------------------------------------------------------------------ Python API
def test_python_classes_names_and_config():
    r = optimizers.RMSprop()
    assert (r.learning_rate, r.rho, r.momentum, r.epsilon, r.centered) == (0.001, 0.9, 0.0, 1e-7, False)
    a = optimizers.Adagrad()
    assert (a.learning_rate, a.initial_accumulator_value, a.epsilon) == (0.001, 0.1, 1e-7)
    assert isinstance(optimizers.get("rmsprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("adagrad"), optimizers.Adagrad)
    cfg = optimizers.RMSprop(0.01, rho=0.8, momentum=0.5, centered=True, weight_decay=0.1, clipnorm=2.0).core_config()
    assert cfg == {"kind": "rmsprop", "learning_rate": 0.01, "clipnorm": 2.0, "rho": 0.8, "momentum": 0.5,
                   "epsilon": 1e-7, "centered": True, "weight_decay": 0.1}
    again = optimizers.from_config("rmsprop", optimizers.RMSprop(0.01, momentum=0.5).get_config())
    assert again.get_config() == optimizers.RMSprop(0.01, momentum=0.5).get_config()


@pytest.mark.parametrize("make, match", [
    (lambda: optimizers.Adam(lr=0.1), "lr"),
    (lambda: optimizers.RMSprop(lr=0.1), "lr"),
    (lambda: optimizers.Adagrad(lr=0.1), "lr"),
    (lambda: optimizers.RMSprop(rho=1.0), "rho"),
    (lambda: optimizers.RMSprop(rho=-0.1), "rho"),
    (lambda: optimizers.RMSprop(momentum=-1), "momentum"),
    (lambda: optimizers.RMSprop(epsilon=-1e-7), "epsilon"),
    (lambda: optimizers.RMSprop(centered="yes"), "centered"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=-0.1), "initial_accumulator_value"),
    (lambda: optimizers.Adagrad(initial_accumulator_value=float("inf")), "initial_accumulator_value"),
])
def test_bad_arguments_are_refused(make, match):
    with pytest.raises((TypeError, ValueError), match=match):
        make()


@pytest.mark.parametrize("cfg, match", [
    ({"kind": "adam", "lr": 0.1}, "lr"),
    ({"kind": "adam", "momentum": 0.9}, "momentum"),
    ({"kind": "sgd", "rho": 0.9}, "rho"),
    ({"kind": "adagrad", "centered": True}, "centered"),
    ({"kind": "rmsprop", "rho": 1.5}, "rho"),
    ({"kind": "adagrad", "initial_accumulator_value": -1.0}, "initial_accumulator_value"),
])
def test_core_refuses_unknown_or_bad_optimizer_keys(cfg, match):
    g = _core.Graph([4], [dense("y", 2)])
    with pytest.raises(ValueError, match=match):
        _core.Trainer(g, [{"loss": "mse"}], cfg)


def test_kernel_binding_refuses_what_it_would_ignore(rng):
    p, g, s = np.zeros(4), np.ones(4), [np.zeros(4) for _ in range(3)]
    with pytest.raises(ValueError, match="clipnorm"):
        kernels.optimizer_step(p, g, s[0], s[1], {"kind": "rmsprop", "clipnorm": 1.0}, 1, slot2=s[2])
    with pytest.raises(ValueError, match="unknown setting 'lr'"):
        kernels.optimizer_step(p, g, s[0], s[1], {"kind": "adagrad", "lr": 1.0}, 1)
    with pytest.raises(ValueError, match="slot2"):  # centered with momentum needs three slots
        kernels.optimizer_step(p, g, s[0], s[1], {"kind": "rmsprop", "momentum": 0.5, "centered": True}, 1)
    assert np.all(p == 0)


def test_adagrad_accumulator_starts_at_initial_value():
    g, t = mse_trainer({"kind": "adagrad", "learning_rate": 0.1, "initial_accumulator_value": 0.25})
    (acc,) = t.slots()
    assert acc.shape == (g.num_params,) and np.all(acc == np.float32(0.25))


@pytest.mark.parametrize("opt", [lambda: optimizers.RMSprop(0.01, momentum=0.9, centered=True),
                                 lambda: optimizers.Adagrad(0.05)], ids=["rmsprop", "adagrad"])
def test_state_survives_save_and_load(tmp_path, opt):
    x, y = pydl.datasets.load_digits()
    x, y = x[:300], y[:300]
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(16, activation="tanh"), layers.Dense(10)], seed=2)
    model.compile(optimizer=opt(), loss="cross_entropy")
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "m.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    assert len(model.optimizer.variables()) == (3 if isinstance(model.optimizer, optimizers.RMSprop) else 1)
    assert_weights_equal(loaded.optimizer.variables(), model.optimizer.variables())
    model.fit(x, y, epochs=1, verbose=0)
    loaded.fit(x, y, epochs=1, verbose=0)
    assert_weights_equal(loaded.get_weights(), model.get_weights())


# ------------------------------------------------------------------ never a NaN/Inf weight
@pytest.mark.parametrize("cfg", [{"kind": "rmsprop", "learning_rate": 1e39},
                                 {"kind": "rmsprop", "learning_rate": 1e39, "momentum": 0.9, "centered": True},
                                 {"kind": "adagrad", "learning_rate": 1e39, "initial_accumulator_value": 0.0}])
def test_overflowing_update_is_refused(rng, cfg):
    g, t = mse_trainer(cfg)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = (100 * rng.standard_normal((20, 3))).astype(np.float32)
    before = np.array(g.param_buffer())
    slots = [np.array(s) for s in t.slots()]
    assert not t.train_batch(x, None, y, 0)
    np.testing.assert_array_equal(g.param_buffer(), before)
    assert_weights_equal([np.array(s) for s in t.slots()], slots)
    assert t.step == 0


@pytest.mark.parametrize("cfg", [{"kind": "adam", "learning_rate": 0.01},
                                 {"kind": "rmsprop", "learning_rate": 0.01},
                                 {"kind": "rmsprop", "learning_rate": 0.01, "centered": True},
                                 {"kind": "adagrad", "learning_rate": 0.01}])
def test_negative_second_moment_written_by_python_never_makes_a_nan_weight(rng, cfg):
    # The finiteness proof reads magnitudes only: a negative second moment (set_variables,
    # a forged checkpoint) must not slip a sqrt of a negative number past it.
    g, t = mse_trainer(cfg)
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    second = t.slots()[1 if cfg["kind"] == "adam" else 0]
    second[:] = -1.0
    ok = t.train_batch(x, None, y, 0)
    assert np.isfinite(g.param_buffer()).all()
    assert ok  # sqrt(max(v, 0)): the update is finite and taken


def test_zero_epsilon_zero_gradient_is_refused_not_nan(rng):
    # 0 / (sqrt(0) + 0) is NaN: only the dry run can tell, and it refuses the step.
    g, t = mse_trainer({"kind": "rmsprop", "learning_rate": 0.01, "epsilon": 0.0})
    x = np.zeros((4, 6), np.float32)  # the first layer's kernel gets a zero gradient
    y = rng.standard_normal((4, 3)).astype(np.float32)
    before = np.array(g.param_buffer())
    assert not t.train_batch(x, None, y, 0)
    np.testing.assert_array_equal(g.param_buffer(), before)


# ------------------------------------------------------------------ frozen ranges
FROZEN_CASES = [
    {"kind": "sgd", "learning_rate": 0.1, "weight_decay": 0.1},
    {"kind": "sgd", "learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    {"kind": "adam", "learning_rate": 0.01, "weight_decay": 0.1},
    {"kind": "adamw", "learning_rate": 0.01, "weight_decay": 0.05, "clipnorm": 0.5},
    {"kind": "rmsprop", "learning_rate": 0.01, "momentum": 0.9, "centered": True, "weight_decay": 0.1},
    {"kind": "adagrad", "learning_rate": 0.1, "weight_decay": 0.1, "clipnorm": 0.5},
]


def numpy_rule(cfg, p, g, state, step):
    """One step of any optimizer in float64 (state: dict, created on the first step)."""
    kind = cfg["kind"]
    if kind in ("rmsprop", "adagrad"):
        return reference_step(cfg, p, g, state)
    wd, lr = cfg.get("weight_decay", 0.0), cfg["learning_rate"]
    if kind == "sgd":
        d = g + wd * p
        mu = cfg.get("momentum", 0.0)
        if mu:
            state["buf"] = d.copy() if step == 1 else mu * state["buf"] + d
            d = d + mu * state["buf"] if cfg.get("nesterov") else state["buf"]
        return p - lr * d
    b1, b2, eps = 0.9, 0.999, 1e-8
    if kind == "adamw":
        p = p * (1 - lr * wd)
    else:
        g = g + wd * p
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    return p - lr * (state["m"] / (1 - b1 ** step)) / (np.sqrt(state["v"] / (1 - b2 ** step)) + eps)


@pytest.mark.parametrize("cfg", FROZEN_CASES, ids=lambda c: c["kind"] + ("-clip" if "clipnorm" in c else ""))
def test_frozen_ranges_get_no_update_no_decay_no_state(rng, cfg):
    g, t = mse_trainer(cfg)
    params = g.params()
    h_kernel = next(p for p in params if p["layer"] == "h" and p["name"] == "kernel")
    y_bias = next(p for p in params if p["layer"] == "y" and p["name"] == "bias")
    frozen = [(h_kernel["offset"], h_kernel["size"]), (y_bias["offset"], y_bias["size"])]
    t.set_frozen(frozen)
    assert t.frozen == sorted(frozen)
    mask = np.zeros(g.num_params, bool)
    for off, size in frozen:
        mask[off:off + size] = True
    x = rng.standard_normal((20, 6)).astype(np.float32)
    y = rng.standard_normal((20, 3)).astype(np.float32)
    for s in t.slots():  # recognisable state in the frozen ranges
        s[mask] = 0.5
    p_frozen = np.array(g.param_buffer())[mask]
    s_frozen = [np.array(s)[mask] for s in t.slots()]
    n_active = int((~mask).sum())
    state = {k: v[~mask] for k, v in new_state(cfg, g.num_params).items()}
    for step in range(1, 4):
        t.loss_and_gradients(x, None, y)
        grad = np.array(g.grad_buffer(), dtype=np.float64)[~mask]
        if cfg.get("clipnorm"):  # the norm of the trainable gradients only, as PyTorch/Keras
            norm = np.linalg.norm(grad)
            grad = grad * min(1.0, cfg["clipnorm"] / (norm + 1e-6))
        expected = numpy_rule(cfg, np.array(g.param_buffer(), dtype=np.float64)[~mask], grad, state, step)
        assert t.train_batch(x, None, y, 0)
        got = np.array(g.param_buffer())
        assert got[mask].tobytes() == p_frozen.tobytes()
        np.testing.assert_allclose(got[~mask], expected, rtol=1e-5, atol=1e-6)
        for s, before in zip(t.slots(), s_frozen, strict=True):
            assert np.array(s)[mask].tobytes() == before.tobytes()
        # the next step starts from the trainer's own float32 values
        for key, s in zip(slot_keys(cfg), t.slots(), strict=True):
            state[key] = np.array(s, dtype=np.float64)[~mask]
    assert n_active > 0 and mask.any()


def test_frozen_ranges_with_threads_are_bitwise_identical(threads):
    rng = np.random.default_rng(5)
    x = rng.normal(size=(128, 64)).astype(np.float32)
    labels = rng.integers(0, 4, 128).astype(np.int32)
    runs = []
    for n in (1, 2, 3):
        pydl.set_num_threads(n)
        g = _core.Graph([[64]], [dense("a", 256, "relu"), dense("b", 256, "relu"), dense("y", 4)],
                        [(0, [0]), (1, [1]), (2, [2])], [3])
        g.init_params(0)
        t = _core.Trainer(g, [{"loss": "cross_entropy"}], {"kind": "adam", "learning_rate": 0.01})
        b = next(p for p in g.params() if p["layer"] == "b" and p["name"] == "kernel")
        t.set_frozen([(b["offset"] + 1000, 40000)])  # straddles optimizer chunk boundaries
        before = split_regions()
        t.fit_epoch(x, labels, None, 32, True, 0, 0)
        assert_split_iff_threads(n, before)
        runs.append([np.array(g.param_buffer())] + [np.array(s) for s in t.slots()])
    for other in runs[1:]:
        assert_weights_equal(other, runs[0])
    init = _core.Graph([[64]], [dense("a", 256, "relu"), dense("b", 256, "relu"), dense("y", 4)],
                       [(0, [0]), (1, [1]), (2, [2])], [3])
    init.init_params(0)
    lo = b["offset"] + 1000
    assert runs[0][0][lo:lo + 40000].tobytes() == np.array(init.param_buffer())[lo:lo + 40000].tobytes()
    assert not np.array_equal(runs[0][0][:lo], np.array(init.param_buffer())[:lo])


@pytest.mark.parametrize("ranges, match", [
    ([(-1, 2)], "offset"),
    ([(0, 0)], "size"),
    ([(0, 10**9)], "num_params|beyond"),
    ([(0, 4), (2, 4)], "overlap"),
    ([(0, 1, 2)], "pair|offset, size"),
])
def test_set_frozen_refuses_bad_ranges(ranges, match):
    g, t = mse_trainer({"kind": "sgd", "learning_rate": 0.1})
    with pytest.raises((ValueError, TypeError), match=match):
        t.set_frozen(ranges)
    assert t.frozen == []


def test_set_frozen_empty_unfreezes(rng):
    g, t = mse_trainer({"kind": "sgd", "learning_rate": 0.1})
    t.set_frozen([(0, g.num_params)])
    x = rng.standard_normal((8, 6)).astype(np.float32)
    y = rng.standard_normal((8, 3)).astype(np.float32)
    before = np.array(g.param_buffer())
    assert t.train_batch(x, None, y, 0)
    np.testing.assert_array_equal(g.param_buffer(), before)
    t.set_frozen([])
    assert t.train_batch(x, None, y, 0)
    assert (np.array(g.param_buffer()) != before).all()
