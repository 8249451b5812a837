"""`pydl --version` and `pydl info`: the version against pyproject.toml, the SIMD clone level
against the x86-64 psABI levels' flag lists, threads against OMP_NUM_THREADS, CUDA against the
absence of a pydl._cuda extension, the GEMM micro-kernel family the core reports."""
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import tempfile
import sys

import pytest

import pydl
from pydl import _sysinfo, cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
V3 = ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave"]
V4 = ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]


def run_cli(*args, **env):
    # cwd: not the source tree, so the installed pydl is imported (CI installs the wheel)
    out = subprocess.run([sys.executable, "-m", "pydl.cli", *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ, **env}, cwd=tempfile.gettempdir())
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_version_matches_the_project_metadata(capsys):
    declared = re.search(r'^version = "([^"]+)"', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    assert pydl.__version__ == declared
    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0
    assert capsys.readouterr().out.strip() == f"pydl {declared}"


def test_info_json_reports_threads_cuda_cpu_and_gemm():
    d = json.loads(run_cli("info", "--json", OMP_NUM_THREADS="1"))
    assert d["version"] == pydl.__version__
    assert d["threads"]["used"] == 1 and d["threads"]["OMP_NUM_THREADS"] == "1"
    assert d["threads"]["cores"] >= 1
    assert importlib.util.find_spec("pydl._cuda") is None  # this build has no CUDA extension
    assert d["cuda"]["available"] is False and "pydl._cuda" in d["cuda"]["reason"]
    from pydl import _core
    assert d["gemm"] == f"pydl's own, {_core.kernels.gemm_isa()} micro-kernels"
    assert _core.kernels.gemm_isa() in ("avx512", "avx2", "portable")
    flags = _sysinfo.cpu_flags()
    if flags is not None and os.uname().machine == "x86_64":
        assert set(d["cpu"]["flags"]) <= set(flags)
        expected = ("x86-64-v4" if all(f in flags for f in V3 + V4) else
                    "x86-64-v3" if all(f in flags for f in V3) else "x86-64")
        assert d["cpu"]["clone"] == expected


def test_info_text(capsys):
    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"pydl {pydl.__version__} ")
    assert f"threads: {pydl.get_num_threads()} of " in out
    assert "CPU features used: " in out and "CUDA: False (" in out


@pytest.mark.parametrize("flags,clone", [
    (V3 + V4 + ["sse2"], "x86-64-v4"),
    (V3 + V4[:-1], "x86-64-v3"),          # no avx512vl: the v4 clone needs all five
    ([f for f in V3 if f != "fma"] + V4, "x86-64"),  # v4 needs v3's flags too
    ([], "x86-64"),
])
def test_simd_level_follows_the_psabi_levels(monkeypatch, flags, clone):
    monkeypatch.setattr(_sysinfo.platform, "machine", lambda: "x86_64")
    assert _sysinfo.simd_level(flags)["clone"] == clone


def test_cpu_flags_reads_a_cpuinfo_file(tmp_path):
    f = tmp_path / "cpuinfo"
    f.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n\nprocessor\t: 1\nflags\t\t: fpu\n")
    assert _sysinfo.cpu_flags(str(f)) == ["fpu", "sse2", "avx2", "fma"]
    assert _sysinfo.cpu_flags(str(tmp_path / "missing")) is None
    assert _sysinfo.simd_level(None)["clone"] in ("unknown", "default")
