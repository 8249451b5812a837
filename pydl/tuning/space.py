"""Search spaces: ``Float``, ``Int`` and ``Choice`` parameters in a ``Space``, and their
encoding into the unit cube where the Bayesian search models the objective (log-scaled
where declared, one-hot for choices)."""
from __future__ import annotations

import itertools
import math
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from .. import _validate

__all__ = ["Float", "Int", "Choice", "Space"]


class Param:
    """One hyperparameter. ``width`` is its number of encoded dimensions."""

    width = 1

    def sample(self, rng: np.random.Generator):
        return self.decode(rng.random(self.width))

    def encode(self, value) -> np.ndarray:
        raise NotImplementedError

    def decode(self, u: np.ndarray):
        raise NotImplementedError

    def grid(self) -> List[Any]:
        raise NotImplementedError


class Float(Param):
    """A real number in ``[low, high]``, uniform or (``log=True``) log-uniform. For grids give
    ``values=[...]`` or a ``step``."""

    def __init__(self, low: float, high: float, log: bool = False, values: Optional[Sequence[float]] = None,
                 step: Optional[float] = None):
        owner = type(self).__name__
        low, high = _validate.number(owner, "low", low), _validate.number(owner, "high", high)
        if not low < high:
            raise ValueError(f"{owner}: expected low < high, got {low}, {high}")
        self._common(owner, low, high, log, values, step)

    def _common(self, owner, low, high, log, values, step):
        self.log = _validate.boolean(owner, "log", log)
        if self.log and low <= 0:
            raise ValueError(f"{owner}: log=True needs low > 0, got {low}")
        if step is not None:
            step = (_validate.positive_int if isinstance(self, Int) else _validate.positive_float)(owner, "step", step)
        if values is not None:
            values = list(values)
            if not values:
                raise ValueError(f"{owner}: expected values to be a non-empty list, got []")
        self.low, self.high, self.values, self.step = low, high, values, step

    def _to_unit(self, v: float) -> float:
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)

    def _from_unit(self, u: float) -> float:
        u = min(max(float(u), 0.0), 1.0)
        if self.log:
            return float(math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low))))
        return float(self.low + u * (self.high - self.low))

    def encode(self, value):
        return np.array([self._to_unit(float(value))])

    def decode(self, u):
        return self._from_unit(u[0])

    def grid(self):
        if self.values is not None:
            return list(self.values)
        if self.step is None:
            raise ValueError(f"{type(self).__name__}({self.low}, {self.high}): GridSearch needs values=[...] or step=")
        n = int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1
        return [self.low + i * self.step for i in range(n)]

    def __repr__(self):
        return f"{type(self).__name__}({self.low}, {self.high}, log={self.log})"


class Int(Float):
    """An integer in ``[low, high]`` (both included), uniform or log-uniform."""

    def __init__(self, low: int, high: int, log: bool = False, values: Optional[Sequence[int]] = None,
                 step: Optional[int] = None):
        owner = "Int"
        low, high = _validate.integer(owner, "low", low), _validate.integer(owner, "high", high)
        if not low <= high:
            raise ValueError(f"{owner}: expected low <= high, got {low}, {high}")
        self._common(owner, low, high, log, values, step)

    def decode(self, u):
        # Stretch by half a unit at both ends so the end points are as likely as the rest.
        lo, hi = (math.log(self.low - 0.5), math.log(self.high + 0.5)) if self.log and self.low > 0.5 else \
            (self.low - 0.5, self.high + 0.5)
        x = lo + min(max(float(u[0]), 0.0), 1.0) * (hi - lo)
        v = math.exp(x) if self.log and self.low > 0.5 else x
        return int(min(max(round(v), self.low), self.high))

    def encode(self, value):
        lo, hi = (math.log(self.low - 0.5), math.log(self.high + 0.5)) if self.log and self.low > 0.5 else \
            (self.low - 0.5, self.high + 0.5)
        v = math.log(float(value)) if self.log and self.low > 0.5 else float(value)
        return np.array([(v - lo) / (hi - lo)])

    def grid(self):
        if self.values is not None:
            return [int(v) for v in self.values]
        return list(range(self.low, self.high + 1, int(self.step or 1)))


class Choice(Param):
    """One of ``options`` (any JSON-serialisable values), one-hot encoded."""

    def __init__(self, options: Sequence[Any]):
        options = list(options)
        if not options:
            raise ValueError("Choice: expected at least one option")
        self.options = options
        self.width = len(options)

    def encode(self, value):
        e = np.zeros(self.width)
        e[self.options.index(value)] = 1.0
        return e

    def decode(self, u):
        return self.options[int(np.argmax(u))]

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def grid(self):
        return list(self.options)

    def __repr__(self):
        return f"Choice({self.options!r})"


class Space:
    """Named hyperparameters: ``Space(learning_rate=Float(1e-4, 1e-1, log=True), ...)``."""

    def __init__(self, **params: Param):
        if not params:
            raise ValueError("Space: expected at least one parameter")
        for name, p in params.items():
            _validate.instance("Space", name, p, Param, "a Float, Int or Choice")
        self.params: Dict[str, Param] = dict(params)

    @property
    def dims(self) -> int:
        return sum(p.width for p in self.params.values())

    @property
    def categorical_groups(self) -> List[List[int]]:
        """Encoded dimension indices of each Choice (one-hot groups)."""
        groups, i = [], 0
        for p in self.params.values():
            if isinstance(p, Choice):
                groups.append(list(range(i, i + p.width)))
            i += p.width
        return groups

    def sample(self, rng: np.random.Generator) -> Dict[str, Any]:
        return {name: p.sample(rng) for name, p in self.params.items()}

    def encode(self, values: Dict[str, Any]) -> np.ndarray:
        return np.concatenate([p.encode(values[name]) for name, p in self.params.items()])

    def decode(self, u: np.ndarray) -> Dict[str, Any]:
        out, i = {}, 0
        for name, p in self.params.items():
            out[name] = p.decode(np.asarray(u[i:i + p.width]))
            i += p.width
        return out

    def grid(self) -> List[Dict[str, Any]]:
        names = list(self.params)
        return [dict(zip(names, combo)) for combo in itertools.product(*(self.params[n].grid() for n in names))]

    def __repr__(self):
        return "Space(" + ", ".join(f"{k}={v!r}" for k, v in self.params.items()) + ")"
