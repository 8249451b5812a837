"""Data pipeline benchmarks (cases in _data_cases.py): loader images/s with flip + crop +
rotation, and cnn_train samples/s with augmentation on vs off (goal: under 10% cost)."""
import pytest

from pydl.benchmarks import cnn as CNN
import _data_cases as D


@pytest.mark.parametrize("shape", D.SHAPES, ids=["28x28x1", "32x32x3"])
def test_loader_throughput(benchmark, shape):
    benchmark.group = "loader flip+crop+rotation"
    benchmark.pedantic(D.loader_case(shape), rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["images_per_s"] = round(D.LOADER_SAMPLES / benchmark.stats["min"], 1)


@pytest.mark.parametrize("augment", [False, True], ids=["plain", "augmented"])
def test_cnn_train_augmentation_cost(benchmark, augment):
    benchmark.group = "cnn_train augmentation"
    benchmark.pedantic(D.cnn_train_case(augment), rounds=3, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(CNN.TRAIN_SAMPLES / benchmark.stats["min"], 1)
