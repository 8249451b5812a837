"""Data: datasets and the DataLoader, image transforms, preprocessing, splits, resampling
and class weights, file readers and downloadable data sets, and data-quality checks
(``check``, ``find_label_issues``).

Import classes and functions from here (``pydl.data.DataLoader``, ``pydl.data.RandomFlip``,
``pydl.data.KFold``, ``pydl.data.SMOTE``); the modules below hold the code, one concept each.
The data set loaders and file readers are namespaces of their own: ``pydl.data.datasets``
(``load_digits``, ``load_mnist``, ...) and ``pydl.data.readers`` (``read_idx``, ``read_csv``, ...).
"""
import importlib as _importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # what the names below are, for type checkers and the API docs
    from . import datasets, readers
    from .label_issues import LabelIssues, find_label_issues
    from .loader import ArrayDataset, DataLoader, Dataset
    from .preprocessing import MinMaxScale, Normalize, Standardize
    from .quality import DataReport, check
    from .resampling import SMOTE, RandomOverSampler, RandomUnderSampler, compute_class_weight
    from .splits import KFold, StratifiedKFold, train_test_split
    from .timeseries import timeseries_dataset_from_array
    from .transforms import (CenterCrop, Compose, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                             RandomRotation, RandomZoom, Resize, Transform)

# Each name's module, imported on first use (PEP 562): `import pydl` needs only the transforms
# (image augmentation layers) and the loader; the readers, quality checks, resampling, ...
# load when asked for.
_WHERE = {"Dataset": "loader", "ArrayDataset": "loader", "DataLoader": "loader",
          "Transform": "transforms", "Compose": "transforms", "RandomFlip": "transforms",
          "RandomRotation": "transforms", "RandomCrop": "transforms", "RandomZoom": "transforms",
          "RandomBrightness": "transforms", "RandomContrast": "transforms", "Resize": "transforms",
          "CenterCrop": "transforms",
          "Standardize": "preprocessing", "MinMaxScale": "preprocessing", "Normalize": "preprocessing",
          "train_test_split": "splits", "KFold": "splits", "StratifiedKFold": "splits",
          "timeseries_dataset_from_array": "timeseries",
          "compute_class_weight": "resampling", "RandomOverSampler": "resampling", "RandomUnderSampler": "resampling",
          "SMOTE": "resampling", "check": "quality", "DataReport": "quality",
          "find_label_issues": "label_issues", "LabelIssues": "label_issues"}
_SUBMODULES = {"datasets", "readers", "loader", "preprocessing", "resampling", "splits", "timeseries", "transforms",
               "quality", "quality_report", "label_issues", "duplicates"}

__all__ = ["Dataset", "ArrayDataset", "DataLoader",
           "Transform", "Compose", "RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom", "RandomBrightness",
           "RandomContrast", "Resize", "CenterCrop",
           "Standardize", "MinMaxScale", "Normalize",
           "train_test_split", "KFold", "StratifiedKFold", "timeseries_dataset_from_array",
           "compute_class_weight", "RandomOverSampler", "RandomUnderSampler", "SMOTE",
           "check", "DataReport", "find_label_issues", "LabelIssues",
           "datasets", "readers"]


def __getattr__(name):
    if name in _WHERE:
        value = getattr(_importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    elif name in _SUBMODULES:
        value = _importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__) | _SUBMODULES)
