"""scikit-learn estimators over pydl models: ``PydlClassifier`` and ``PydlRegressor`` fit,
predict and score like any scikit-learn estimator, so pydl models work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``. Needs scikit-learn >= 1.6
(``pip install "pydl[sklearn]"``); importing pydl itself does not import scikit-learn.

>>> from pydl.sklearn import PydlClassifier
>>> clf = PydlClassifier(build, epochs=30, model__units=64, optimizer__learning_rate=1e-2)
>>> clf.fit(x, y).score(x_test, y_test)

``expected_failed_checks(estimator)`` lists the scikit-learn estimator checks these
estimators do not pass, each with its reason, for ``parametrize_with_checks``.
"""
from __future__ import annotations

import sklearn

from ._version import require_sklearn

require_sklearn(sklearn.__version__)

from .checks import expected_failed_checks  # noqa: E402  (after the version check)
from .estimators import PydlClassifier, PydlRegressor  # noqa: E402

__all__ = ["PydlClassifier", "PydlRegressor", "expected_failed_checks"]
