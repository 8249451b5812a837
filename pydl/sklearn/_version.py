"""The scikit-learn versions pydl.sklearn works with: 1.6 and later, for the estimator tags
(``__sklearn_tags__``), ``validate_data`` and ``parametrize_with_checks(expected_failed_checks=)``."""
from __future__ import annotations

import re

MINIMUM = (1, 6)


def require_sklearn(version: str) -> None:
    """ImportError naming the installed version when it is older than MINIMUM."""
    m = re.match(r"(\d+)\.(\d+)", version)
    if m is None or (int(m.group(1)), int(m.group(2))) < MINIMUM:
        raise ImportError(f"pydl.sklearn needs scikit-learn >= {MINIMUM[0]}.{MINIMUM[1]}, found {version}; "
                          'upgrade it: pip install "pydl[sklearn]"')
