"""The module paths of pydl 0.1, before the modules were grouped by concept.

Each old name is the new module itself (not a copy), so ``import pydl.readers`` and
``from pydl.splits import KFold`` keep working and give the very same objects as
``pydl.data.readers`` and ``pydl.data.KFold``. The new module is imported when the old path is
first imported (a finder on sys.meta_path), not with pydl; ``pydl.diagnose`` (the function's
module) is registered at once, as its function is imported with pydl anyway.
"""
import importlib
import importlib.abc
import importlib.util
import sys

from .report import diagnosis

_OLD_NAMES = {"pydl.datasets": "pydl.data.datasets", "pydl.readers": "pydl.data.readers",
              "pydl.loader": "pydl.data.loader", "pydl.preprocessing": "pydl.data.preprocessing",
              "pydl.augmentation": "pydl.data.transforms", "pydl.splits": "pydl.data.splits",
              "pydl.resampling": "pydl.data.resampling", "pydl.plot": "pydl.report.plot"}


class _OldModulePaths(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports an old path as its new module (which keeps its own __spec__)."""

    def find_spec(self, fullname, path=None, target=None):
        return importlib.util.spec_from_loader(fullname, self) if fullname in _OLD_NAMES else None

    def create_module(self, spec):
        module = importlib.import_module(_OLD_NAMES[spec.name])
        spec.loader_state = module.__spec__  # the import system puts the alias' spec in its place
        return module

    def exec_module(self, module):
        module.__spec__ = module.__spec__.loader_state

# First on the path, as the sys.modules entries it replaces were (a stray pydl/readers.py must
# not win); once, also across importlib.reload of this module.
if not any(type(f).__name__ == "_OldModulePaths" for f in sys.meta_path):
    sys.meta_path.insert(0, _OldModulePaths())
sys.modules["pydl.diagnose"] = diagnosis
