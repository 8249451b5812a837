"""Built-in data sets. ``load_digits`` is scikit-learn's 8x8 handwritten digits (1,797
images, 10 classes), shipped inside scikit-learn: no download."""
from __future__ import annotations

from typing import Tuple

import numpy as np

__all__ = ["load_digits"]


def load_digits(as_images: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Returns ``(x, y)``: x float32 scaled to [0, 1], shape (1797, 64) or, with
    ``as_images``, (1797, 8, 8, 1); y int64 class ids 0..9. Needs scikit-learn
    (``pip install "pydl[examples]"``)."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'pydl[examples]'") from None
    d = sk_load_digits()
    x = (d.data / 16.0).astype(np.float32)
    if as_images:
        x = x.reshape(-1, 8, 8, 1)
    return x, d.target.astype(np.int64)
