"""The module paths of pydl 0.1, before the modules were grouped by concept.

Each old name is registered as the new module itself (not a copy), so ``import pydl.readers``
and ``from pydl.splits import KFold`` keep working and give the very same objects as
``pydl.data.readers`` and ``pydl.data.KFold``.
"""
import sys

from .data import datasets, loader, preprocessing, readers, resampling, splits, transforms
from .report import diagnosis, plot

_OLD_NAMES = {"datasets": datasets, "readers": readers, "loader": loader, "preprocessing": preprocessing,
              "augmentation": transforms, "splits": splits, "resampling": resampling, "plot": plot,
              "diagnose": diagnosis}

for _old, _module in _OLD_NAMES.items():
    sys.modules[f"pydl.{_old}"] = _module
