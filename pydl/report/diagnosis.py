"""Read a training History and say what went wrong: overfitting, underfitting or instability.

Example::

    history = model.fit(x, y, epochs=40, validation_data=(x_val, y_val), verbose=0)
    print(pydl.diagnose(history))
    # validation loss rose 38% from its minimum at epoch 12 (0.675 -> 0.934) while training
    # loss kept falling (0.0235 -> 6.06e-05): overfitting; try Dropout, EarlyStopping(...), ...

The rules, checked in this order (the first that fires gives the verdict; every
threshold is a keyword argument of ``diagnose``):

1. **unstable** -- the training (or validation) loss holds NaN or Inf; or, from epoch
   ``warmup_epochs + 1`` on, some epoch's training loss exceeds the lowest loss of the
   epochs before it by more than ``spike_factor`` (a spike); or the final training loss
   ends more than ``divergence_factor`` above its minimum (a slow blow-up); or training
   accuracy (when logged) ends more than ``accuracy_drop`` below its best (the model got
   worse on its own training data: the signature of a run that blew up and collapsed
   towards chance). Rises of losses below ``spike_min_loss`` times the first epoch's loss
   are ignored: near zero a loss fluctuates by large factors that mean nothing.
2. **overfit** (needs ``val_loss``) -- validation loss reached its minimum at an epoch
   ``m`` at least ``patience`` epochs before the last (one noisy epoch is not a trend),
   the final validation loss is more than ``overfit_tol`` above that minimum, training
   loss kept falling after ``m``, and the final validation loss is at least
   ``gap_factor`` times the final training loss.
3. **underfit** -- both losses plateau (the best loss of the last third of the epochs
   improved on the best before it by less than ``plateau_tol``, relatively) while
   training loss is still high: above ``high_loss_ratio`` times the first epoch's, or
   training accuracy (when logged) below ``low_accuracy``.
4. **ok** otherwise (also when fewer than ``min_epochs`` epochs leave too little to judge).

Epochs in the evidence and the report are numbered from 1, as fit prints them.

Data findings: ``diagnose(history, data=pydl.data.check(...), groups=pydl.metrics.by_group(...))``
adds what the data check warned about (leakage, imbalance, duplicates, shift, ...) and every
group whose recall trails the overall recall by more than ``group_margin`` to ``data`` (a
list of sentences printed below the verdict), with the numbers in ``evidence``. They do not
change the verdict, which is about the training curves.

Limits: the rules see per-epoch averages only. A learning rate so high that the loss
explodes within the first epoch and then sits flat at chance level (SGD with lr=5 on
digits) shows no spike between epochs and reads as "underfit"; a loss far above chance
level (ln(classes) for cross-entropy) in the first epoch is the tell-tale there.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Sequence

__all__ = ["Diagnosis", "diagnose", "VERDICTS"]

VERDICTS = ("overfit", "underfit", "unstable", "ok")

_ADVICE = {
    "unstable": ["a lower learning rate (try 3-10x lower)", "gradient clipping (clipnorm=1.0)",
                 "a learning-rate warmup (pydl.schedules.CosineDecay(warmup_steps=...))"],
    "overfit": ["Dropout", "EarlyStopping(restore_best_weights=True)", "weight decay (AdamW)", "more data"],
    "underfit": ["a bigger model (more units or layers)", "more epochs", "a higher learning rate"],
}
_LABELS = {"unstable": "unstable training", "overfit": "overfitting", "underfit": "underfitting",
           "ok": "no problem found"}


@dataclass
class Diagnosis:
    """What ``diagnose`` concluded: ``verdict`` (one of "overfit", "underfit", "unstable",
    "ok"), ``evidence`` (the numbers the rule used), ``advice`` (things to try),
    ``finding`` (the sentence that ``str()`` builds the report from) and ``data`` (findings
    about the data and the groups, when ``diagnose`` was given them)."""

    verdict: str
    evidence: Dict[str, float] = field(default_factory=dict)
    advice: List[str] = field(default_factory=list)
    finding: str = ""
    data: List[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = f"{self.finding}: {_LABELS[self.verdict]}"
        if self.advice:
            tips = self.advice[0] if len(self.advice) == 1 else \
                ", ".join(self.advice[:-1]) + " or " + self.advice[-1]
            text += f"; try {tips}"
        if self.data:
            text += "\ndata findings:\n" + "\n".join(f"  - {d}" for d in self.data)
        return text


def _f(v: float) -> str:
    """A loss for the report: 3 significant digits, enough to see the trend."""
    return f"{v:.3g}"


def _pct(v: float) -> str:
    """A relative change as a percentage; small ones keep a decimal so they do not read 0%."""
    return f"{100 * v:.0f}%" if abs(v) >= 0.1 else f"{100 * v:.1f}%"


def _rel_improvement(values: Sequence[float]) -> float:
    """How much the best loss of the last third of the epochs improved on the best loss
    before it, relatively (negative when it got worse). Bests rather than end points, so a
    noisy epoch at either end does not fake progress or a plateau."""
    third = max(1, len(values) // 3)
    before, last = min(values[:-third]), min(values[-third:])
    return (before - last) / abs(before) if before != 0 else 0.0


def diagnose(history, *, data=None, groups=None, group_margin: float = 0.05, spike_factor: float = 1.5,
             warmup_epochs: int = 2, divergence_factor: float = 1.25,
             spike_min_loss: float = 0.05, accuracy_drop: float = 0.05, overfit_tol: float = 0.1,
             patience: int = 3, gap_factor: float = 1.5,
             plateau_tol: float = 0.05, high_loss_ratio: float = 0.5, low_accuracy: float = 0.5,
             min_epochs: int = 3) -> Diagnosis:
    """Diagnose a ``History`` from ``fit`` (or its ``.history`` dict); see the module
    docstring for the rules and what each threshold means. ``data``: a ``pydl.data.check``
    report; ``groups``: a ``pydl.metrics.by_group`` report (with "recall"), whose groups more
    than ``group_margin`` below the overall recall are reported."""
    findings, facts = _data_findings(data, groups, group_margin)
    result = _diagnose_curves(history, spike_factor, warmup_epochs, divergence_factor, spike_min_loss, accuracy_drop,
                              overfit_tol, patience, gap_factor, plateau_tol, high_loss_ratio, low_accuracy, min_epochs)
    result.data = findings
    result.evidence.update(facts)
    return result


def _data_findings(data, groups, margin: float):
    """(sentences, numbers) from a DataReport and a GroupReport."""
    from ..data.quality import DataReport
    from ..metrics.groups import GroupReport

    findings: List[str] = []
    facts: Dict[str, float] = {}
    if data is not None:
        if not isinstance(data, DataReport):
            raise TypeError(f"diagnose: data must be a pydl.data.check report (DataReport), got {type(data).__name__}")
        findings += data.warnings
        facts.update(leaks=len(data.leaks), duplicates=len(data.duplicates),
                     conflicting_duplicates=len(data.conflicting_duplicates),
                     shifted_features=len(data.shifted_features))
        if data.imbalance_ratio is not None:
            facts["imbalance_ratio"] = data.imbalance_ratio
    if groups is not None:
        if not isinstance(groups, GroupReport):
            raise TypeError(f"diagnose: groups must be a pydl.metrics.by_group report (GroupReport), got "
                            f"{type(groups).__name__}")
        if "recall" not in groups.overall:
            raise ValueError("diagnose: the groups report has no 'recall'; make it with by_group(..., "
                             "metrics=(..., 'recall'))")
        if not (isinstance(margin, (int, float)) and not isinstance(margin, bool) and 0 <= margin < 1):
            raise ValueError(f"diagnose: group_margin must be a number in [0, 1), got {margin!r}")
        overall = groups.overall["recall"]
        gaps = {g: overall - v["recall"] for g, v in groups.by_group.items() if math.isfinite(v["recall"])}
        if gaps:
            facts["worst_group_recall_gap"] = max(gaps.values())
        for g, gap in sorted(gaps.items(), key=lambda kv: -kv[1]):
            if gap > margin:
                findings.append(f"group {g!r} has recall {groups.by_group[g]['recall']:.3f}, {gap:.3f} below the "
                                f"overall {overall:.3f} (margin {margin:g}; {groups.sizes[g]:,} samples): collect "
                                "more samples like that group's, weigh them up (sample_weight) or check their labels")
    return findings, facts


def _diagnose_curves(history, spike_factor, warmup_epochs, divergence_factor, spike_min_loss, accuracy_drop,
                     overfit_tol, patience, gap_factor, plateau_tol, high_loss_ratio, low_accuracy,
                     min_epochs) -> Diagnosis:
    logs = getattr(history, "history", history)
    if not isinstance(logs, dict):
        raise TypeError(f"diagnose: expected a pydl.callbacks.History or a dict, got {type(history).__name__}")
    if not logs.get("loss"):
        raise ValueError("diagnose: the history has no training loss (train for at least one epoch)")
    loss = [float(v) for v in logs["loss"]]
    n = len(loss)
    # Validation and accuracy logs only count when they cover the same epochs as the loss.
    val = [float(v) for v in logs["val_loss"]] if len(logs.get("val_loss") or []) == n else None
    acc = logs.get("accuracy") if len(logs.get("accuracy") or []) == n else None
    epochs = list(getattr(history, "epoch", []) or [])
    # Epoch numbers as fit prints them (History.epoch counts from 0).
    label = [e + 1 for e in epochs] if len(epochs) == n else list(range(1, n + 1))
    ev: Dict[str, float] = {"epochs": n, "first_loss": loss[0], "final_loss": loss[-1]}
    if val is not None:
        ev["final_val_loss"] = val[-1]

    # 1. Unstable: non-finite values first, since every comparison below needs finite numbers.
    for key, values in (("loss", loss), ("val_loss", val or [])):
        bad = [i for i, v in enumerate(values) if not math.isfinite(v)]
        if bad:
            ev.update(nonfinite_epoch=label[bad[0]], nonfinite_count=len(bad))
            return Diagnosis("unstable", ev, list(_ADVICE["unstable"]),
                             f"{key} became {values[bad[0]]} at epoch {label[bad[0]]}")
    floor = spike_min_loss * loss[0]
    worst, worst_i = 0.0, -1
    for i in range(max(1, warmup_epochs), n):
        best_before = min(loss[:i])
        if loss[i] > floor and loss[i] > spike_factor * best_before:
            ratio = loss[i] / best_before if best_before > 0 else math.inf
            if ratio > worst:
                worst, worst_i = ratio, i
    if worst_i >= 0:
        best_before = min(loss[:worst_i])
        ev.update(spike_epoch=label[worst_i], spike_loss=loss[worst_i], loss_min_before=best_before,
                  spike_ratio=worst)
        return Diagnosis("unstable", ev, list(_ADVICE["unstable"]),
                         f"training loss jumped to {_f(loss[worst_i])} at epoch {label[worst_i]}, "
                         f"{worst:.1f}x its earlier minimum of {_f(best_before)}")
    low = min(loss)
    if n >= min_epochs and loss[-1] > floor and loss[-1] > divergence_factor * low:
        m = loss.index(low)
        ev.update(loss_min=low, loss_min_epoch=label[m], divergence_ratio=loss[-1] / low)
        return Diagnosis("unstable", ev, list(_ADVICE["unstable"]),
                         f"training loss climbed {_pct(loss[-1] / low - 1)} from its minimum at epoch "
                         f"{label[m]} ({_f(low)} -> {_f(loss[-1])})")

    if n >= min_epochs and acc and max(acc) - float(acc[-1]) > accuracy_drop:
        best = max(range(n), key=lambda i: acc[i])
        ev.update(accuracy_max=float(acc[best]), accuracy_max_epoch=label[best], final_accuracy=float(acc[-1]))
        return Diagnosis("unstable", ev, list(_ADVICE["unstable"]),
                         f"training accuracy fell from {acc[best]:.2f} at epoch {label[best]} to "
                         f"{float(acc[-1]):.2f} while training loss went {_f(low)} (best) -> {_f(loss[-1])}")

    if n < min_epochs:
        return Diagnosis("ok", ev, [f"train for at least {min_epochs} epochs for a diagnosis"],
                         f"only {n} epoch{'s' if n > 1 else ''} logged, too few to judge")

    # 2. Overfit: validation turned up while training kept going down, with a real gap.
    if val is not None:
        m = min(range(n), key=val.__getitem__)
        rise = val[-1] / val[m] - 1 if val[m] > 0 else 0.0
        ev.update(val_min=val[m], val_min_epoch=label[m], val_rise=rise,
                  gap_ratio=val[-1] / loss[-1] if loss[-1] > 0 else math.inf)
        if m <= n - 1 - patience and rise > overfit_tol and loss[-1] < loss[m] and val[-1] >= gap_factor * loss[-1]:
            ev.update(loss_at_val_min=loss[m])
            return Diagnosis("overfit", ev, list(_ADVICE["overfit"]),
                             f"validation loss rose {_pct(rise)} from its minimum at epoch {label[m]} "
                             f"({_f(val[m])} -> {_f(val[-1])}) while training loss kept falling "
                             f"({_f(loss[m])} -> {_f(loss[-1])})")

    # 3. Underfit: neither loss is moving any more, and training loss is still high.
    train_gain = _rel_improvement(loss)
    val_gain = _rel_improvement(val) if val is not None else None
    ev.update(loss_improvement_last_third=train_gain, loss_ratio=loss[-1] / loss[0] if loss[0] else math.inf)
    if val_gain is not None:
        ev["val_loss_improvement_last_third"] = val_gain
    if acc:
        ev["final_accuracy"] = float(acc[-1])
    plateau = train_gain < plateau_tol and (val_gain is None or val_gain < plateau_tol)
    high = ev["loss_ratio"] > high_loss_ratio or (bool(acc) and float(acc[-1]) < low_accuracy)
    if plateau and high:
        gains = f"{_pct(train_gain)}" + ("" if val_gain is None else f" (validation {_pct(val_gain)})")
        acc_text = f", training accuracy {float(acc[-1]):.2f}" if acc else ""
        advice = list(_ADVICE["underfit"])
        if ev["loss_ratio"] <= high_loss_ratio:
            # The loss did fall a lot, then stalled: a too-small step is not the likely cause.
            advice[-1] = ("another learning rate (a loss that drops in the first epoch, then sits "
                          "flat near chance level, often means it is too high)")
        return Diagnosis("underfit", ev, advice,
                         f"training loss is still high ({_f(loss[0])} -> {_f(loss[-1])}, "
                         f"{ev['loss_ratio']:.2f}x the first epoch's{acc_text}) and improved only {gains} "
                         f"over the last third of the epochs")

    # 4. Ok. Say whether validation is still improving, which is the one thing worth acting on.
    finding = f"training loss fell {_f(loss[0])} -> {_f(loss[-1])}"
    advice: List[str] = []  # type: ignore[no-redef]
    if val is not None:
        finding += f", validation loss {_f(val[0])} -> {_f(val[-1])} (best {_f(ev['val_min'])} at epoch " \
                   f"{ev['val_min_epoch']})"
        if val_gain is not None and val_gain >= plateau_tol:
            advice.append("more epochs (validation loss is still falling)")
    return Diagnosis("ok", ev, advice, finding)
