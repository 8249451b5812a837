"""Data: datasets and the DataLoader, image transforms, preprocessing, splits, resampling
and class weights, file readers and downloadable data sets, and data-quality checks
(``check``, ``find_label_issues``).

Import classes and functions from here (``pydl.data.DataLoader``, ``pydl.data.RandomFlip``,
``pydl.data.KFold``, ``pydl.data.SMOTE``); the modules below hold the code, one concept each.
The data set loaders and file readers are namespaces of their own: ``pydl.data.datasets``
(``load_digits``, ``load_mnist``, ...) and ``pydl.data.readers`` (``read_idx``, ``read_csv``, ...).
"""
from . import datasets, loader, preprocessing, readers, resampling, splits, timeseries, transforms
from .label_issues import LabelIssues, find_label_issues
from .loader import ArrayDataset, DataLoader, Dataset
from .preprocessing import MinMaxScale, Normalize, Standardize
from .quality import DataReport, check
from .resampling import SMOTE, RandomOverSampler, RandomUnderSampler, compute_class_weight
from .splits import KFold, StratifiedKFold, train_test_split
from .timeseries import timeseries_dataset_from_array
from .transforms import (CenterCrop, Compose, RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation,
                         RandomZoom, Resize, Transform)

__all__ = ["Dataset", "ArrayDataset", "DataLoader",
           "Transform", "Compose", "RandomFlip", "RandomRotation", "RandomCrop", "RandomZoom", "RandomBrightness",
           "RandomContrast", "Resize", "CenterCrop",
           "Standardize", "MinMaxScale", "Normalize",
           "train_test_split", "KFold", "StratifiedKFold", "timeseries_dataset_from_array",
           "compute_class_weight", "RandomOverSampler", "RandomUnderSampler", "SMOTE",
           "check", "DataReport", "find_label_issues", "LabelIssues",
           "datasets", "readers"]
