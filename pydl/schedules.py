"""Learning-rate schedules: small callables mapping an optimizer step to a learning rate.

Each schedule is called as ``schedule(step) -> float`` where ``step`` counts optimizer
steps (batches) from 0. ``get_config()`` returns the constructor arguments exactly as
given and ``Schedule.from_config(config)`` rebuilds an equal schedule, so a schedule can
be saved next to a model's config.

    >>> s = CosineDecay(1e-3, decay_steps=1000, warmup_steps=100, warmup_target=1e-2)
    >>> [round(s(i), 6) for i in (0, 100, 1100, 5000)]
    [0.001, 0.01, 0.0, 0.0]

The formulas follow the reference implementations so that a schedule ported from Keras
or PyTorch produces the same numbers here:

* ``StepDecay``         -- ``torch.optim.lr_scheduler.StepLR``
* ``ExponentialDecay``  -- ``keras.optimizers.schedules.ExponentialDecay``
* ``CosineDecay``       -- ``keras.optimizers.schedules.CosineDecay`` (Keras 3, with warmup)
* ``OneCycle``          -- ``torch.optim.lr_scheduler.OneCycleLR`` (``three_phase=False``)
"""
from __future__ import annotations

import math
from typing import Any, Dict, Optional

from . import _validate

__all__ = ["LearningRateSchedule", "StepDecay", "ExponentialDecay", "CosineDecay", "OneCycle"]


def _number(owner: str, name: str, value, *, low: float = 0.0, low_open: bool = True,
            high: Optional[float] = None, high_open: bool = False) -> float:
    """A rate or factor: > 0 unless told otherwise."""
    return _validate.number(owner, name, value, low, high, low_open=low_open, high_open=high_open)


class LearningRateSchedule:
    """Base class: ``__call__`` checks the step, subclasses implement ``_lr(step)``."""

    def __init__(self, **config: Any):
        # Kept verbatim (not the coerced floats) so get_config round-trips exactly.
        self._config = dict(config)

    def __call__(self, step) -> float:
        _validate.number(type(self).__name__, "step", step, 0.0)
        return float(self._lr(step))

    def _lr(self, step) -> float:  # pragma: no cover - abstract
        raise NotImplementedError

    def get_config(self) -> Dict[str, Any]:
        return dict(self._config)

    @classmethod
    def from_config(cls, config: Dict[str, Any]) -> "LearningRateSchedule":
        return cls(**config)

    def __eq__(self, other):
        return type(self) is type(other) and self._config == other._config

    def __hash__(self):
        return hash((type(self).__name__, tuple(sorted(self._config.items()))))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config.items())
        return f"{type(self).__name__}({args})"


# ------------------------------------------------------------------------------ schedules
class StepDecay(LearningRateSchedule):
    """Multiply the rate by ``gamma`` every ``step_size`` steps (PyTorch's StepLR)::

        lr(step) = initial_learning_rate * gamma ** (step // step_size)
    """

    def __init__(self, initial_learning_rate: float, step_size: int, gamma: float = 0.1):
        super().__init__(initial_learning_rate=initial_learning_rate, step_size=step_size, gamma=gamma)
        self.initial_learning_rate = _number("StepDecay", "initial_learning_rate", initial_learning_rate)
        self.step_size = _validate.positive_int("StepDecay", "step_size", step_size)
        self.gamma = _number("StepDecay", "gamma", gamma)

    def _lr(self, step):
        return self.initial_learning_rate * self.gamma ** (int(step) // self.step_size)


class ExponentialDecay(LearningRateSchedule):
    """Smooth (or staircase) exponential decay, as Keras defines it::

        lr(step) = initial_learning_rate * decay_rate ** (step / decay_steps)

    With ``staircase=True`` the exponent is ``floor(step / decay_steps)``, so the rate
    drops by ``decay_rate`` at every multiple of ``decay_steps``. ``decay_rate > 1`` is
    allowed (it grows the rate), as in Keras.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, decay_rate: float,
                 staircase: bool = False):
        super().__init__(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps,
                         decay_rate=decay_rate, staircase=staircase)
        owner = "ExponentialDecay"
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate)
        self.decay_steps = _validate.positive_int(owner, "decay_steps", decay_steps)
        self.decay_rate = _number(owner, "decay_rate", decay_rate)
        self.staircase = _validate.boolean(owner, "staircase", staircase)

    def _lr(self, step):
        p = step / self.decay_steps
        if self.staircase:
            p = math.floor(p)
        return self.initial_learning_rate * self.decay_rate ** p


class CosineDecay(LearningRateSchedule):
    """Cosine decay with optional linear warmup (Keras 3 semantics).

    Without warmup (``warmup_target=None``), for ``t = min(step, decay_steps)``::

        lr(step) = initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)

    With ``warmup_target`` the rate first rises linearly from ``initial_learning_rate``
    to ``warmup_target`` over ``warmup_steps`` steps, then decays as above from
    ``warmup_target`` over the next ``decay_steps`` steps::

        step <  warmup_steps: lr = initial_learning_rate + (warmup_target - initial_learning_rate) * step / warmup_steps
        step >= warmup_steps: t = min(step, warmup_steps + decay_steps) - warmup_steps
                              lr = warmup_target * ((1 - alpha) * 0.5 * (1 + cos(pi * t / decay_steps)) + alpha)

    After the decay the rate stays at its final value ``alpha * peak``.

    Keras silently ignores ``warmup_steps`` when ``warmup_target`` is None; here that
    combination is a ValueError, since a warmup with nothing to warm up to is a mistake.
    """

    def __init__(self, initial_learning_rate: float, decay_steps: int, alpha: float = 0.0,
                 warmup_steps: int = 0, warmup_target: Optional[float] = None):
        super().__init__(initial_learning_rate=initial_learning_rate, decay_steps=decay_steps, alpha=alpha,
                         warmup_steps=warmup_steps, warmup_target=warmup_target)
        owner = "CosineDecay"
        # A warmup may start from 0 (the usual "warm up from nothing"), so allow it then.
        self.initial_learning_rate = _number(owner, "initial_learning_rate", initial_learning_rate,
                                             low_open=warmup_target is None)
        self.decay_steps = _validate.positive_int(owner, "decay_steps", decay_steps)
        self.alpha = _number(owner, "alpha", alpha, low_open=False, high=1.0)
        self.warmup_steps = _validate.non_negative_int(owner, "warmup_steps", warmup_steps)
        self.warmup_target = None if warmup_target is None else _number(owner, "warmup_target", warmup_target)
        if self.warmup_steps > 0 and self.warmup_target is None:
            raise ValueError(f"{owner}: warmup_steps={warmup_steps} needs warmup_target (the learning rate "
                             "to warm up to)")

    def _decay(self, t, peak):
        cosine = 0.5 * (1.0 + math.cos(math.pi * t / self.decay_steps))
        return peak * ((1.0 - self.alpha) * cosine + self.alpha)

    def _lr(self, step):
        if self.warmup_target is None:
            return self._decay(min(step, self.decay_steps), self.initial_learning_rate)
        step = min(step, self.warmup_steps + self.decay_steps)
        if step < self.warmup_steps:
            frac = step / self.warmup_steps
            return self.initial_learning_rate + (self.warmup_target - self.initial_learning_rate) * frac
        return self._decay(step - self.warmup_steps, self.warmup_target)


class OneCycle(LearningRateSchedule):
    """The 1cycle policy: warm up to ``max_learning_rate``, then anneal far below the start.

    Matches the learning rate of ``torch.optim.lr_scheduler.OneCycleLR`` with
    ``three_phase=False`` (momentum cycling is not modelled). With
    ``initial = max_learning_rate / div_factor``, ``final = initial / final_div_factor``
    and ``p = pct_start * total_steps - 1`` (the last warmup step, a float as in torch)::

        step <= p:  lr = anneal(initial, max_learning_rate, step / p)
        step >  p:  lr = anneal(max_learning_rate, final, (step - p) / (total_steps - 1 - p))

        anneal "cos":    end + (start - end) / 2 * (1 + cos(pi * pct))
        anneal "linear": start + (end - start) * pct

    Steps after ``total_steps - 1`` return the value there, ``final`` (torch raises past
    ``total_steps``; holding the last value lets a run go on for a few extra steps).
    """

    def __init__(self, max_learning_rate: float, total_steps: int, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4, anneal: str = "cos"):
        super().__init__(max_learning_rate=max_learning_rate, total_steps=total_steps, pct_start=pct_start,
                         div_factor=div_factor, final_div_factor=final_div_factor, anneal=anneal)
        owner = "OneCycle"
        self.max_learning_rate = _number(owner, "max_learning_rate", max_learning_rate)
        # Two steps at least: one phase has to end where the other starts.
        self.total_steps = _validate.integer(owner, "total_steps", total_steps, minimum=2)
        self.pct_start = _number(owner, "pct_start", pct_start, high=1.0, high_open=True)
        self.div_factor = _number(owner, "div_factor", div_factor)
        self.final_div_factor = _number(owner, "final_div_factor", final_div_factor)
        self.anneal = _validate.choice(owner, "anneal", anneal, ("cos", "linear"))
        self.initial_learning_rate = self.max_learning_rate / self.div_factor
        self.final_learning_rate = self.initial_learning_rate / self.final_div_factor
        self._warmup_end = self.pct_start * self.total_steps - 1.0

    def _interp(self, start, end, pct):
        if self.anneal == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1.0)
        return start + (end - start) * pct

    def _lr(self, step):
        last = self.total_steps - 1
        step = min(step, last)  # past the cycle: hold the last value (see the class docstring)
        p = self._warmup_end
        if step <= p:
            # p == 0 with step 0 is a zero-length warmup (torch divides 0 by 0 there): at the peak.
            pct = step / p if p > 0 else 1.0
            return self._interp(self.initial_learning_rate, self.max_learning_rate, pct)
        # Like torch, a warmup that ends before step 0 (p < 0) starts the anneal at p.
        return self._interp(self.max_learning_rate, self.final_learning_rate, (step - p) / (last - p))
