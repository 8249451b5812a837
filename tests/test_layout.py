"""The package layout: every public object has one home in its concept's package, the
top-level names and the module paths of pydl 0.1 keep working and give the very same
objects (module aliases, not copies)."""
import importlib
import os
import subprocess
import sys
import types

import pytest

import pydl

PACKAGES = ["pydl.engine", "pydl.layers", "pydl.data", "pydl.callbacks", "pydl.metrics", "pydl.tuning",
            "pydl.report", "pydl.losses", "pydl.optimizers", "pydl.schedules"]


# Deliberate second names: layers.Input is the engine's symbolic Input (as keras.layers.Input);
# the image transforms of pydl.data are preprocessing layers too (as keras.layers.RandomFlip).
SHARED = {("pydl.layers", "Input"): "pydl.engine.Input",
          **{("pydl.layers", t): f"pydl.data.{t}" for t in ("RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom",
                                                             "RandomBrightness", "RandomContrast", "Resize",
                                                             "CenterCrop")}}


@pytest.mark.parametrize("name", PACKAGES)
def test_each_public_name_is_defined_inside_its_package(name):
    package = importlib.import_module(name)
    assert package.__all__ and len(set(package.__all__)) == len(package.__all__)
    for attr in package.__all__:
        obj = getattr(package, attr)
        if (name, attr) in SHARED:
            home, _, leaf = SHARED[name, attr].rpartition(".")
            assert obj is getattr(importlib.import_module(home), leaf)
            continue
        if isinstance(obj, types.ModuleType):
            assert obj.__name__.startswith(name + "."), (name, attr)
        elif hasattr(obj, "__module__") and isinstance(obj, (type, types.FunctionType)):
            assert obj.__module__ == name or obj.__module__.startswith(name + "."), (name, attr, obj.__module__)


def test_top_level_names():
    assert set(pydl.__all__) <= set(dir(pydl))
    assert pydl.Sequential is pydl.engine.Sequential and pydl.Model is pydl.engine.Model
    assert pydl.Input is pydl.engine.Input is pydl.layers.Input
    assert pydl.load_model is pydl.engine.load_model
    assert pydl.DataLoader is pydl.data.DataLoader and pydl.ArrayDataset is pydl.data.ArrayDataset
    assert pydl.diagnose is pydl.report.diagnose
    assert pydl.set_num_threads is pydl._core.set_num_threads


OLD_MODULES = {"datasets": "pydl.data.datasets", "readers": "pydl.data.readers", "loader": "pydl.data.loader",
               "preprocessing": "pydl.data.preprocessing", "augmentation": "pydl.data.transforms",
               "splits": "pydl.data.splits", "resampling": "pydl.data.resampling", "plot": "pydl.report.plot"}


@pytest.mark.parametrize("old,new", sorted(OLD_MODULES.items()))
def test_old_module_paths_are_the_new_modules(old, new):
    module = importlib.import_module(new)
    assert getattr(pydl, old) is module
    assert importlib.import_module(f"pydl.{old}") is module
    assert sys.modules[f"pydl.{old}"] is module


def test_objects_reachable_from_several_paths_are_one_object():
    assert pydl.loader.DataLoader is pydl.data.DataLoader is pydl.data.loader.DataLoader
    assert pydl.augmentation.RandomFlip is pydl.data.RandomFlip is pydl.data.transforms.RandomFlip
    assert pydl.splits.KFold is pydl.data.KFold
    assert pydl.resampling.SMOTE is pydl.data.SMOTE
    assert pydl.preprocessing.Standardize is pydl.data.Standardize
    assert pydl.datasets.load_digits is pydl.data.datasets.load_digits
    assert pydl.readers.read_idx is pydl.data.readers.read_idx
    assert pydl.plot.plot_history is pydl.report.plot.plot_history
    from pydl.diagnose import Diagnosis, diagnose
    assert diagnose is pydl.diagnose and Diagnosis is pydl.report.Diagnosis


def test_transforms_through_preprocessing_warn_and_point_to_pydl_data():
    with pytest.warns(DeprecationWarning, match="pydl.preprocessing.RandomFlip is pydl.data.RandomFlip"):
        assert pydl.preprocessing.RandomFlip is pydl.data.RandomFlip
    with pytest.raises(AttributeError):
        pydl.preprocessing.NoSuchThing  # noqa: B018  (the access is the test)


def test_old_imports_work_in_a_fresh_interpreter():
    code = ("import pydl.readers, pydl.datasets\n"
            "from pydl.readers import read_idx\n"
            "from pydl.splits import KFold\n"
            "from pydl.resampling import SMOTE\n"
            "from pydl.loader import DataLoader\n"
            "from pydl.augmentation import RandomFlip\n"
            "from pydl.plot import plot_history\n"
            "import pydl\n"
            "assert read_idx is pydl.data.readers.read_idx and KFold is pydl.data.KFold\n"
            "assert SMOTE is pydl.data.SMOTE and DataLoader is pydl.DataLoader and RandomFlip is pydl.data.RandomFlip\n"
            "assert callable(pydl.diagnose)\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.__file__))  # not the source tree: its pydl has no _core


def test_import_pydl_loads_only_what_a_model_needs():
    # The rest loads on first use (module __getattr__): data checks, readers, tuning, metrics
    # functions, callbacks, distributed training, model files. What a fresh interpreter holds
    # after `import pydl`, then after touching lazy names (which must work and load their modules).
    code = ("import sys, pydl\n"
            "lazy = ['pydl.tuning', 'pydl.callbacks', 'pydl.distributed', 'pydl.data.quality', 'pydl.data.readers',\n"
            "        'pydl.data.resampling', 'pydl.data.label_issues', 'pydl.engine.saving', 'pydl.kernels']\n"
            "print(sorted(m for m in lazy if m in sys.modules))\n"
            "from pydl.data import find_label_issues\n"
            "assert pydl.tuning.GridSearch and pydl.callbacks.EarlyStopping and pydl.data.SMOTE and pydl.load_model\n"
            "print(sorted(m for m in lazy if m not in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=os.path.dirname(os.__file__)).stdout.splitlines()
    assert len(out) == 2 and out[0] == "[]"
    assert "pydl.data.label_issues" not in out[1] and "pydl.tuning" not in out[1] and "pydl.engine.saving" not in out[1]


def test_old_paths_keep_the_new_modules_specs_and_one_finder():
    code = ("import importlib, sys, pydl, pydl._aliases\n"
            "import pydl.readers, pydl.splits\n"
            "assert pydl.data.readers.__spec__.name == 'pydl.data.readers', pydl.data.readers.__spec__\n"
            "assert pydl.data.splits.__spec__.name == 'pydl.data.splits'\n"
            "importlib.reload(pydl.data.readers)\n"
            "importlib.reload(pydl._aliases)\n"
            "print(sum(type(f).__name__ == '_OldModulePaths' for f in sys.meta_path))\n")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                         cwd=os.path.dirname(os.__file__)).stdout
    assert out.split() == ["1"]
