"""The scikit-learn estimator checks that pydl's estimators do not pass, with the reason,
where ``parametrize_with_checks`` / ``check_estimator`` look for them:

>>> parametrize_with_checks([PydlClassifier(build)], expected_failed_checks=expected_failed_checks)
"""
from __future__ import annotations

from typing import Dict

__all__ = ["expected_failed_checks"]

_KNOWN: Dict[str, str] = {
    "check_sample_weight_equivalence_on_dense_data": (
        "mini-batch training: a sample of weight 2 and the same sample given twice make different batches and a "
        "different number of optimizer steps, so the two fits agree in expectation only (with all the data in one "
        "batch they agree to float32 rounding, about 1e-7 relative, which is the check's own tolerance)"),
}


def expected_failed_checks(estimator) -> Dict[str, str]:
    """``{check name: reason}`` for the scikit-learn checks that ``estimator`` (a
    PydlClassifier or PydlRegressor) is known to fail; pass this function as
    ``expected_failed_checks=`` to ``parametrize_with_checks`` or ``check_estimator``."""
    from .estimators import PydlClassifier, PydlRegressor

    if not isinstance(estimator, (PydlClassifier, PydlRegressor)):
        raise TypeError(f"expected_failed_checks: expected a PydlClassifier or PydlRegressor, got "
                        f"{type(estimator).__name__}")
    return dict(_KNOWN)
