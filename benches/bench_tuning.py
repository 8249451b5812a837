"""Tuning benchmark (cases in _tuning_cases.py): best validation accuracy and wall time of
20-trial searches on digits; Optuna's TPE beside them when installed."""
import pytest

import _tuning_cases as T


@pytest.mark.parametrize("kind", ["random", "bayesian", "hyperband"])
def test_tuning_pydl(benchmark, kind):
    benchmark.group = "tuning digits MLP, 20 trials"
    out = {}
    benchmark.pedantic(lambda: out.update(zip(("accuracy", "seconds"), T.pydl_search(kind))), rounds=1, iterations=1)
    benchmark.extra_info["best_val_accuracy"] = out["accuracy"]


def test_tuning_optuna_tpe(benchmark):
    pytest.importorskip("optuna", reason="optuna not installed")
    benchmark.group = "tuning digits MLP, 20 trials"
    out = {}
    benchmark.pedantic(lambda: out.update(zip(("accuracy", "seconds"), T.optuna_search())), rounds=1, iterations=1)
    benchmark.extra_info["best_val_accuracy"] = out["accuracy"]
