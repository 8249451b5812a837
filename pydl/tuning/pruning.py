"""Pruners stop weak trials early from their per-epoch validation metric.

To keep a search's results the same whatever executor runs it, a trial is only compared
with trials of earlier rounds (whose curves are complete when the round starts), never with
trials running beside it."""
from __future__ import annotations

import math
from typing import Dict, List

from .. import _validate

__all__ = ["SuccessiveHalving", "Hyperband"]


class SuccessiveHalving:
    """At rung epochs ``min_epochs * reduction_factor**k`` a trial goes on only if its metric
    is among the best ``1 / reduction_factor`` of what earlier trials reached at that epoch
    (judged once at least ``reduction_factor`` earlier trials got there)."""

    def __init__(self, min_epochs: int = 1, reduction_factor: int = 3):
        owner = type(self).__name__
        self.min_epochs = _validate.positive_int(owner, "min_epochs", min_epochs)
        self.reduction_factor = _validate.integer(owner, "reduction_factor", reduction_factor, minimum=2)

    def bracket_of(self, trial_number: int, max_epochs: int) -> int:
        return 0

    def rungs(self, max_epochs: int, bracket: int = 0) -> List[int]:
        first = self.min_epochs * self.reduction_factor ** bracket
        out, e = [], first
        while e < max_epochs:
            out.append(e)
            e *= self.reduction_factor
        return out

    def should_stop(self, epoch: int, value: float, reference: Dict[int, List[float]], maximize: bool,
                    rungs: List[int]) -> bool:
        """epoch counts from 1; reference maps epochs to the values earlier trials had there."""
        if epoch not in rungs or not math.isfinite(value):
            return not math.isfinite(value)
        seen = sorted(reference.get(epoch, []), reverse=maximize)
        if len(seen) < self.reduction_factor:
            return False
        keep = max(1, len(seen) // self.reduction_factor)
        cutoff = seen[keep - 1]
        return value < cutoff if maximize else value > cutoff

    def get_config(self):
        return {"min_epochs": self.min_epochs, "reduction_factor": self.reduction_factor}


class Hyperband(SuccessiveHalving):
    """Hyperband: several successive-halving brackets, each starting its first rung at a
    different epoch (``min_epochs * reduction_factor**bracket``), so aggressive and patient
    schedules run side by side. Trial ``t`` goes to bracket ``t % brackets``."""

    def bracket_of(self, trial_number: int, max_epochs: int) -> int:
        brackets = max(1, int(math.floor(math.log(max(max_epochs / self.min_epochs, 1), self.reduction_factor))) + 1)
        return trial_number % brackets
