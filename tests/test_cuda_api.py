"""pydl.cuda and pydl.kernels.on_device on any machine: what a build without a usable GPU
reports (here: nvcc but no driver), device-string parsing, and that every kernel entry the CPU
sources dispatch to the device has a CUDA registration in cuda/*.cu, and the reverse."""
import importlib.util
import os
import re

import numpy as np
import pytest

import pydl

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_GPU = pydl.cuda.is_available()
HAS_CUDA_BUILD = importlib.util.find_spec("pydl._cuda") is not None
no_gpu = pytest.mark.skipif(HAS_GPU, reason="a CUDA GPU is available here: these check the no-GPU behaviour")


def _strip_comments(text):
    return re.sub(r"//[^\n]*|/\*.*?\*/", "", text, flags=re.S)


def _names(pattern, folder, exts):
    found = set()
    path = os.path.join(ROOT, folder)
    for name in sorted(os.listdir(path)):
        if name.endswith(exts):
            with open(os.path.join(path, name), encoding="utf-8") as f:
                found |= set(re.findall(pattern, _strip_comments(f.read())))
    return found


def dispatched_names():
    """Kernel entries of csrc/kernels that hand float calls to a CUDA version on the device."""
    return _names(r"\bPYDL_DEVICE_DISPATCH(?:_PLAIN)?\s*\(\s*(\w+)", "csrc/kernels", (".cc", ".h"))


def registered_names():
    """Kernel entries that cuda/*.cu registers a CUDA version for."""
    return _names(r"\bPYDL_CUDA_KERNEL(?:_PLAIN)?\s*\(\s*(\w+)", "cuda", (".cu", ".cuh"))


def test_source_scanners_find_the_macros():
    # The scanners themselves, on text with both spellings, comments and spacing.
    text = _strip_comments("PYDL_DEVICE_DISPATCH(a_forward, y, x);\n  PYDL_DEVICE_DISPATCH_PLAIN( b_step , p);\n"
                           "// PYDL_DEVICE_DISPATCH(commented_out, y);\n/* PYDL_CUDA_KERNEL(c, d); */")
    assert set(re.findall(r"\bPYDL_DEVICE_DISPATCH(?:_PLAIN)?\s*\(\s*(\w+)", text)) == {"a_forward", "b_step"}
    assert re.findall(r"\bPYDL_CUDA_KERNEL(?:_PLAIN)?\s*\(\s*(\w+)", text) == []


def test_every_dispatched_kernel_has_a_cuda_version_and_no_more():
    dispatched, registered = dispatched_names(), registered_names()
    assert sorted(dispatched - registered) == [], "PYDL_DEVICE_DISPATCH without a PYDL_CUDA_KERNEL in cuda/*.cu"
    assert sorted(registered - dispatched) == [], "PYDL_CUDA_KERNEL for an entry that never dispatches to CUDA"


@pytest.mark.skipif(not HAS_CUDA_BUILD, reason="this pydl has no CUDA build (pydl._cuda missing)")
def test_the_cuda_module_registers_exactly_the_source_kernels():
    import pydl._cuda  # noqa: F401  (a CUDA build must import without a GPU)

    names = pydl.cuda.kernel_names()
    assert len(names) == len(set(names))
    assert set(names) == registered_names()
    assert pydl._core.device_runtime_loaded()


@pytest.mark.skipif(not HAS_CUDA_BUILD, reason="this pydl has no CUDA build (pydl._cuda missing)")
@no_gpu
def test_the_cuda_module_without_a_gpu_reports_why():
    import pydl._cuda as c

    why = c.driver_error()
    assert isinstance(why, str) and re.search(r"driver|GPU", why), why
    assert c.device_count() == 0
    assert c.runtime_version() >= 13000  # the CUDA 13 runtime of the nvidia-cuda-runtime wheel loaded
    with pytest.raises(ValueError, match=r"ordinal in \[0, 0\), got 0"):
        c.device_name(0)


@no_gpu
def test_is_available_is_false_with_a_reason_naming_the_cause():
    why = pydl.cuda.unavailable_reason()
    assert pydl.cuda.is_available() is False
    assert isinstance(why, str)
    if HAS_CUDA_BUILD:
        assert re.search(r"driver|GPU", why), why
    else:
        assert "without CUDA" in why, why
    assert pydl.cuda.device_count() == 0


@no_gpu
@pytest.mark.parametrize("call", [lambda: pydl.cuda.get_device_name(), lambda: pydl.cuda.get_device_name("cuda:0"),
                                  lambda: pydl.cuda.memory_info(0), lambda: pydl.cuda.synchronize()])
def test_device_queries_raise_runtime_error_without_cuda(call):
    with pytest.raises(RuntimeError, match="CUDA is not available: "):
        call()


@no_gpu
def test_on_device_cuda_raises_and_leaves_the_thread_on_the_cpu():
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        with pydl.kernels.on_device("cuda"):
            pass
    assert pydl._core._kernel_device() == ("cpu", 0)


def test_on_device_cpu_runs_the_cpu_kernels():
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(np.float32)
    with pydl.kernels.on_device("cpu"):
        assert pydl._core._kernel_device() == ("cpu", 0)
        y = pydl.kernels.activation_forward(x, "relu")
    np.testing.assert_array_equal(y, np.maximum(x, 0))
    assert pydl._core._kernel_device() == ("cpu", 0)


@pytest.mark.parametrize("device", ["tpu", "cuda:", "cuda:x", "cuda:-1", "cuda1", ""])
def test_on_device_refuses_an_unknown_device(device):
    with pytest.raises(ValueError, match="expected a device"):
        with pydl.kernels.on_device(device):
            pass
    assert pydl._core._kernel_device() == ("cpu", 0)


@pytest.mark.parametrize("text, expected", [("cpu", ("cpu", 0)), ("cuda", ("cuda", 0)), ("cuda:0", ("cuda", 0)),
                                            ("cuda:1", ("cuda", 1)), (" CUDA:12 ", ("cuda", 12)), ("CPU", ("cpu", 0))])
def test_parse_device(text, expected):
    assert pydl.cuda.parse_device(text) == expected


@pytest.mark.parametrize("text", ["gpu", "cuda:", "cuda:x", "cuda:-1", "cuda:1.5", "cpu:0", ""])
def test_parse_device_refuses_other_strings(text):
    with pytest.raises(ValueError, match=r"expected a device 'cpu', 'cuda' or 'cuda:N', got"):
        pydl.cuda.parse_device(text)


@pytest.mark.parametrize("value", [0, None, 1.0, b"cuda"])
def test_parse_device_refuses_non_strings(value):
    with pytest.raises(TypeError, match="expected a device string"):
        pydl.cuda.parse_device(value)


# With a GPU (benches/gpu/check.sh runs this file too): the same API reports the device.
@pytest.mark.cuda
@pytest.mark.skipif(not HAS_GPU, reason=f"CUDA not available: {pydl.cuda.unavailable_reason()}")
def test_with_a_gpu_the_api_reports_the_devices():
    n = pydl.cuda.device_count()
    assert n >= 1 and pydl.cuda.unavailable_reason() is None
    assert pydl.cuda.get_device_name() == pydl.cuda.get_device_name("cuda:0") != ""
    free, total = pydl.cuda.memory_info("cuda")
    assert 0 < free <= total
    pydl.cuda.synchronize(0)
    with pytest.raises(ValueError, match=rf"ordinal in \[0, {n}\), got {n}"):
        pydl.cuda.get_device_name(n)
    with pydl.kernels.on_device("cuda"):
        assert pydl._core._kernel_device() == ("cuda", 0)
    assert pydl._core._kernel_device() == ("cpu", 0)
