"""Learning-rate schedules against closed-form numpy formulas, and against PyTorch's
schedulers where torch is installed (those comparisons skip without it)."""
import math

import numpy as np
import pytest

from pydl.schedules import CosineDecay, ExponentialDecay, LearningRateSchedule, OneCycle, StepDecay


def curve(schedule, n):
    return np.array([schedule(i) for i in range(n)])


def torch_curve(make_scheduler, lr, n):
    """The learning rate PyTorch uses at each of n optimizer steps."""
    torch = pytest.importorskip("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=lr)
    sched = make_scheduler(torch, opt)
    out = []
    for i in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if i < n - 1:  # OneCycleLR raises when stepped past total_steps
            sched.step()
    return np.array(out)


# ------------------------------------------------------------------------ closed forms
def test_step_decay_closed_form():
    steps = np.arange(50)
    np.testing.assert_allclose(curve(StepDecay(0.1, 7, gamma=0.5), 50), 0.1 * 0.5 ** (steps // 7), rtol=1e-15)
    assert StepDecay(0.1, 3)(3) == pytest.approx(0.01)  # default gamma 0.1


@pytest.mark.parametrize("staircase", [False, True])
def test_exponential_decay_closed_form(staircase):
    steps = np.arange(60)
    p = np.floor(steps / 10) if staircase else steps / 10
    got = curve(ExponentialDecay(0.02, 10, 0.9, staircase=staircase), 60)
    np.testing.assert_allclose(got, 0.02 * 0.9 ** p, rtol=1e-13)


def test_cosine_decay_closed_form_without_warmup():
    s = CosineDecay(0.1, 40, alpha=0.1)
    t = np.minimum(np.arange(60), 40)
    want = 0.1 * ((1 - 0.1) * 0.5 * (1 + np.cos(np.pi * t / 40)) + 0.1)
    np.testing.assert_allclose(curve(s, 60), want, rtol=1e-13)
    assert s(40) == pytest.approx(0.01) and s(10 ** 6) == pytest.approx(0.01)  # holds alpha * lr


def test_cosine_decay_closed_form_with_warmup():
    s = CosineDecay(0.0, decay_steps=30, alpha=0.0, warmup_steps=10, warmup_target=0.5)
    steps = np.arange(60)
    warm = 0.5 * steps / 10
    t = np.minimum(steps, 40) - 10
    decay = 0.5 * 0.5 * (1 + np.cos(np.pi * t / 30))
    want = np.where(steps < 10, warm, decay)
    np.testing.assert_allclose(curve(s, 60), want, rtol=1e-13, atol=1e-17)
    assert s(0) == 0.0 and s(10) == pytest.approx(0.5) and s(40) == pytest.approx(0.0, abs=1e-15)
    # Warmup from a non-zero start is linear between the two rates.
    assert CosineDecay(0.1, 10, warmup_steps=4, warmup_target=0.3)(2) == pytest.approx(0.2)


@pytest.mark.parametrize("anneal", ["cos", "linear"])
def test_one_cycle_closed_form(anneal):
    total, pct, peak = 50, 0.3, 0.4
    initial, final = peak / 25.0, peak / 25.0 / 1e4
    p = pct * total - 1

    def interp(a, b, f):
        return b + (a - b) / 2 * (np.cos(np.pi * f) + 1) if anneal == "cos" else a + (b - a) * f

    steps = np.arange(total)
    want = np.where(steps <= p, interp(initial, peak, steps / p),
                    interp(peak, final, (steps - p) / (total - 1 - p)))
    s = OneCycle(peak, total, pct_start=pct, anneal=anneal)
    np.testing.assert_allclose(curve(s, total), want, rtol=1e-12)
    assert s(0) == pytest.approx(initial) and max(curve(s, total)) == pytest.approx(peak, rel=0.02)
    assert s(total - 1) == pytest.approx(final) and s(total + 100) == pytest.approx(final)


# ----------------------------------------------------------------- PyTorch comparisons
@pytest.mark.parametrize("step_size,gamma", [(1, 0.9), (5, 0.5), (13, 0.1)])
def test_step_decay_matches_torch_steplr(step_size, gamma):
    torch = pytest.importorskip("torch")  # noqa: F841  (optional: closed-form tests cover the rest)
    want = torch_curve(lambda torch, opt: torch.optim.lr_scheduler.StepLR(opt, step_size, gamma), 0.3, 60)
    np.testing.assert_allclose(curve(StepDecay(0.3, step_size, gamma), 60), want, rtol=1e-12)


@pytest.mark.parametrize("total,pct,div,final_div,anneal", [
    (100, 0.3, 25.0, 1e4, "cos"), (100, 0.25, 10.0, 100.0, "linear"), (37, 0.5, 5.0, 1e3, "cos"),
    (7, 0.3, 25.0, 1e4, "linear"), (10, 0.05, 25.0, 1e4, "cos")])
def test_one_cycle_matches_torch(total, pct, div, final_div, anneal):
    torch = pytest.importorskip("torch")  # noqa: F841
    want = torch_curve(lambda torch, opt: torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.2, total_steps=total, pct_start=pct, div_factor=div, final_div_factor=final_div,
        anneal_strategy=anneal, cycle_momentum=False, three_phase=False), 0.2, total)
    got = curve(OneCycle(0.2, total, pct_start=pct, div_factor=div, final_div_factor=final_div, anneal=anneal), total)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-18)


# --------------------------------------------------------------------- configs, errors
@pytest.mark.parametrize("schedule", [
    StepDecay(0.1, 10), StepDecay(1, 2, gamma=0.5),
    ExponentialDecay(0.01, 100, 0.96, staircase=True),
    CosineDecay(1e-3, 500, alpha=0.05, warmup_steps=20, warmup_target=1e-2), CosineDecay(0.1, 10),
    OneCycle(0.1, 200, pct_start=0.2, div_factor=10, final_div_factor=100, anneal="linear")])
def test_config_round_trip(schedule):
    config = schedule.get_config()
    clone = type(schedule).from_config(config)
    assert clone == schedule and clone.get_config() == config
    assert np.array_equal(curve(clone, 30), curve(schedule, 30))
    assert isinstance(schedule, LearningRateSchedule) and type(schedule).__name__ in repr(schedule)


def test_get_config_returns_arguments_as_given():
    assert StepDecay(1, 2, gamma=0.5).get_config() == {"initial_learning_rate": 1, "step_size": 2, "gamma": 0.5}
    assert CosineDecay(0.1, 10).get_config() == {"initial_learning_rate": 0.1, "decay_steps": 10, "alpha": 0.0,
                                                 "warmup_steps": 0, "warmup_target": None}
    cfg = OneCycle(0.1, 20).get_config()
    assert cfg == {"max_learning_rate": 0.1, "total_steps": 20, "pct_start": 0.3, "div_factor": 25.0,
                   "final_div_factor": 1e4, "anneal": "cos"}
    cfg["total_steps"] = 999  # a copy: editing it leaves the schedule alone
    assert OneCycle(0.1, 20).get_config()["total_steps"] == 20


@pytest.mark.parametrize("make,match", [
    (lambda: StepDecay(0.0, 10), "initial_learning_rate"),
    (lambda: StepDecay(0.1, 0), "step_size"),
    (lambda: StepDecay(0.1, 10, gamma=-1), "gamma"),
    (lambda: StepDecay(float("nan"), 10), "initial_learning_rate"),
    (lambda: ExponentialDecay(0.1, 0, 0.9), "decay_steps"),
    (lambda: ExponentialDecay(0.1, 10, 0.0), "decay_rate"),
    (lambda: CosineDecay(0.1, 10, alpha=1.5), "alpha"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=-1, warmup_target=0.2), "warmup_steps"),
    (lambda: CosineDecay(0.1, 10, warmup_steps=5), "warmup_target"),
    (lambda: CosineDecay(0.0, 10), "initial_learning_rate"),
    (lambda: OneCycle(0.1, 1), "total_steps"),
    (lambda: OneCycle(0.1, 100, pct_start=1.0), "pct_start"),
    (lambda: OneCycle(0.1, 100, div_factor=0), "div_factor"),
    (lambda: OneCycle(0.1, 100, anneal="cosine"), "anneal"),
])
def test_invalid_arguments_raise(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("make,match", [  # the wrong kind of value: a TypeError
    (lambda: StepDecay(0.1, 2.5), "step_size"),
    (lambda: ExponentialDecay(0.1, 10, 0.9, staircase="yes"), "staircase"),
    (lambda: OneCycle(True, 100), "max_learning_rate"),
    (lambda: OneCycle(0.1, 100, anneal=1), "anneal"),
])
def test_wrong_kinds_raise_type_error(make, match):
    with pytest.raises(TypeError, match=match):
        make()


@pytest.mark.parametrize("step,error", [(-1, ValueError), (float("nan"), ValueError), ("3", TypeError),
                                        (None, TypeError), (True, TypeError)])
def test_invalid_steps_raise(step, error):
    with pytest.raises(error, match="step"):
        StepDecay(0.1, 10)(step)


def test_steps_may_be_numpy_scalars_and_results_are_floats():
    s = ExponentialDecay(0.1, 10, 0.5)
    v = s(np.int64(10))
    assert type(v) is float and math.isclose(v, 0.05)
