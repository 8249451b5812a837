"""DataReport: what ``pydl.data.check`` found, as fields, a readable text (``print``), a
JSON-serialisable dict (``to_dict``) and ``warnings``: sentences with the numbers and what to
do about them."""
from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

__all__ = ["DataReport"]


@dataclass
class DataReport:
    """The result of :func:`pydl.data.check`.

    Fields: ``n_samples`` / ``n_test`` (sizes), ``sample_shape``, ``kind`` ("tabular": checked
    per sample and per feature; "per-sample": images and sequences), ``feature_names``;
    ``class_counts`` ({class: count}, None without discrete labels), ``test_class_counts``,
    ``imbalance_ratio`` (largest over smallest class count); ``duplicates`` (groups of indices of
    identical samples of x), ``conflicting_duplicates`` (the groups whose labels differ);
    ``leaks`` (pairs ``(train_index, test_index)`` of identical or near-identical samples),
    ``leak_distances`` (their RMS standardised distance, 0.0 for exact copies) and
    ``leak_search`` (radius, how many samples the near search covered, whether it sampled);
    ``constant_features``; ``nonfinite`` ({"x": {"count", "first"}, "x_test": ...}: the number
    of NaN/inf values and the first positions); ``shift`` (per feature of tabular data: the
    Kolmogorov-Smirnov statistic, p-value, corrected p-value and whether it is shifted);
    ``label_shift`` (chi-square test of the class proportions, or Kolmogorov-Smirnov for
    continuous targets); ``warnings`` (sentences) and ``notes`` (what was not fully checked).
    """

    n_samples: int
    sample_shape: Tuple[int, ...]
    kind: str
    n_test: Optional[int] = None
    feature_names: Optional[List[str]] = None
    class_counts: Optional[Dict[Any, int]] = None
    test_class_counts: Optional[Dict[Any, int]] = None
    imbalance_ratio: Optional[float] = None
    duplicates: List[List[int]] = field(default_factory=list)
    conflicting_duplicates: List[List[int]] = field(default_factory=list)
    leaks: List[Tuple[int, int]] = field(default_factory=list)
    leak_distances: List[float] = field(default_factory=list)
    leak_search: Optional[Dict[str, Any]] = None
    constant_features: List[int] = field(default_factory=list)
    nonfinite: Dict[str, Dict[str, Any]] = field(default_factory=dict)
    shift: Optional[List[Dict[str, Any]]] = None
    shift_correction: Optional[str] = None
    alpha: float = 0.05
    label_shift: Optional[Dict[str, Any]] = None
    warnings: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the check raised no warning."""
        return not self.warnings

    @property
    def shifted_features(self) -> List[int]:
        """Indices of the features whose test distribution differs (corrected p < alpha)."""
        return [s["feature"] for s in self.shift or [] if s["shifted"]]

    def feature_name(self, j: int) -> str:
        """How the report names feature ``j``: its column name, else ``feature j``."""
        return f"feature {self.feature_names[j]!r}" if self.feature_names else f"feature {j}"

    def to_dict(self) -> Dict[str, Any]:
        """Every field as plain Python values (NaN as None), ready for ``json.dumps``."""
        return {f.name: _plain(getattr(self, f.name)) for f in fields(self)}

    def __str__(self) -> str:
        size = f"{self.n_samples:,} training" + (f" and {self.n_test:,} test" if self.n_test is not None else "")
        how = "per sample and per feature" if self.kind == "tabular" else "per sample"
        lines = [f"DataReport: {size} samples of shape {tuple(self.sample_shape)}, checked {how}"]
        def row(name, text):
            return lines.append(f"  {name:<13} {text}")
        if self.class_counts is not None:
            counts = list(self.class_counts.values())
            row("classes", f"{len(counts)}, {min(counts):,}-{max(counts):,} samples each "
                           f"(imbalance {self.imbalance_ratio:.2f}x)")
        dup = sum(len(g) for g in self.duplicates) - len(self.duplicates)
        row("duplicates", f"{dup:,} extra copies in {len(self.duplicates):,} groups" if self.duplicates else "none")
        if self.class_counts is not None or self.conflicting_duplicates:
            row("conflicting", f"{len(self.conflicting_duplicates):,} groups with different labels"
                if self.conflicting_duplicates else "none")
        if self.leak_search is not None:
            exact = sum(1 for d in self.leak_distances if d == 0.0)
            s = self.leak_search
            found = f"{exact:,} identical, {len(self.leaks) - exact:,} near" if self.leaks else "none"
            row("leaks", f"{found} (near = within {s['radius']:.3g} sd RMS; searched {s['train_searched']:,} "
                         f"training x {s['test_searched']:,} test samples)")
        if self.kind == "tabular":
            row("constant", f"{len(self.constant_features)} features: {_few(self.constant_features)}"
                if self.constant_features else "none")
        bad = {k: v["count"] for k, v in self.nonfinite.items() if v["count"]}
        row("non-finite", ", ".join(f"{c:,} in {k}" for k, c in bad.items()) if bad else "none")
        if self.shift is not None:
            flagged = self.shifted_features
            row("feature shift", f"{len(flagged)} of {len(self.shift)} features ({_few(flagged)}; "
                                 f"{self.shift_correction}, alpha {self.alpha:g})" if flagged else
                f"none of {len(self.shift)} features ({self.shift_correction}, alpha {self.alpha:g})")
        if self.label_shift is not None:
            ls = self.label_shift
            dof = f", dof {ls['dof']}" if "dof" in ls else ""
            row("label shift", f"{ls['test']} {ls['statistic']:.3g}{dof}, p={ls['p_value']:.3g}")
        lines.append("warnings:" + ("" if self.warnings else " none"))
        lines += [f"  - {w}" for w in self.warnings]
        if self.notes:
            lines.append("notes:")
            lines += [f"  - {n}" for n in self.notes]
        return "\n".join(lines)


def _few(items, limit: int = 8) -> str:
    """The first few items of a list, with how many more."""
    text = ", ".join(str(i) for i in items[:limit])
    return text + (f" and {len(items) - limit:,} more" if len(items) > limit else "")


def _plain(value):
    """numpy scalars, tuples and NaN turned into what JSON holds."""
    if isinstance(value, dict):
        return {_plain_key(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain_key(key):
    """JSON object keys are strings, ints, floats or bools (json.dumps turns them into strings)."""
    key = key.item() if isinstance(key, np.generic) else key
    return key if isinstance(key, (str, int, float, bool)) or key is None else str(key)
