"""Hyperparameter tuning: search spaces, grid / random / Bayesian search, pruning, and
trials run through any concurrent.futures executor (a process pool, a Dask Client)."""
from .pruning import Hyperband, SuccessiveHalving
from .result import SearchResult, Trial
from .search import BayesianSearch, GridSearch, RandomSearch
from .space import Choice, Float, Int, Space

__all__ = ["Space", "Float", "Int", "Choice", "GridSearch", "RandomSearch", "BayesianSearch", "Hyperband",
           "SuccessiveHalving", "SearchResult", "Trial"]
