"""CNN benchmarks, pydl vs PyTorch eager at the same thread count (cases in pydl/benchmarks/cnn.py):
cnn_train (batch 64, Adam: samples/s), cnn_infer (batch 256: samples/s) and each conv layer
alone, forward + backward."""
import pytest

from pydl.benchmarks import cnn as CNN


def _rate(benchmark, fn, samples, group):
    benchmark.group = group
    benchmark.pedantic(fn, rounds=5, iterations=1, warmup_rounds=1)
    if benchmark.stats:
        benchmark.extra_info["samples_per_s"] = round(samples / benchmark.stats["min"], 1)


def test_cnn_train_pydl(benchmark):
    _rate(benchmark, CNN.pydl_train_case(), CNN.TRAIN_SAMPLES, "cnn_train")


def test_cnn_train_torch(benchmark, torch):
    _rate(benchmark, CNN.torch_train_case(torch), CNN.TRAIN_SAMPLES, "cnn_train")


def test_cnn_infer_pydl(benchmark):
    _rate(benchmark, CNN.pydl_infer_case(), CNN.INFER_SAMPLES, "cnn_infer")


def test_cnn_infer_torch(benchmark, torch):
    _rate(benchmark, CNN.torch_infer_case(torch), CNN.INFER_SAMPLES, "cnn_infer")


@pytest.mark.parametrize("name,shape,filters", CNN.CONV_LAYERS, ids=[c[0] for c in CNN.CONV_LAYERS])
def test_conv_layer_pydl(benchmark, name, shape, filters):
    _rate(benchmark, CNN.pydl_conv_case(shape, filters), CNN.TRAIN_BATCH, name)


@pytest.mark.parametrize("name,shape,filters", CNN.CONV_LAYERS, ids=[c[0] for c in CNN.CONV_LAYERS])
def test_conv_layer_torch(benchmark, torch, name, shape, filters):
    _rate(benchmark, CNN.torch_conv_case(torch, shape, filters), CNN.TRAIN_BATCH, name)


def test_resnet_train_pydl(benchmark):
    _rate(benchmark, CNN.pydl_resnet_train_case(), CNN.TRAIN_SAMPLES, "resnet_train")


def test_resnet_train_torch(benchmark, torch):
    _rate(benchmark, CNN.torch_resnet_train_case(torch), CNN.TRAIN_SAMPLES, "resnet_train")
