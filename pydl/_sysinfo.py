"""What ``pydl info`` reports: the version, the CPU features pydl's kernels use, threads, the
GEMM library and CUDA availability.

The C++ core does not report which SIMD clone it runs: its hot loops are compiled three times
(csrc/core/simd.h: ``target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")``) and the
loader picks one per CPU. The same choice is made here from the CPU's flags (/proc/cpuinfo on
Linux), so the report names the clone the loader picks. GEMM is pydl's own
(csrc/kernels/gemm*.cc), whose micro-kernel family the core reports itself.
"""
from __future__ import annotations

import importlib.util
import os
import platform
from typing import Any, Dict, List, Optional

# The flags each clone level needs, as /proc/cpuinfo names them (x86-64 psABI levels;
# lzcnt is "abm", sse3 "pni").
SIMD_LEVELS = (
    ("x86-64-v4", "AVX-512", ("avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl")),
    ("x86-64-v3", "AVX2 + FMA", ("avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "abm", "movbe", "xsave")),
)
BASELINE = ("x86-64", "SSE2")


def cpu_flags(path: str = "/proc/cpuinfo") -> Optional[List[str]]:
    """The CPU's feature flags, or None where /proc/cpuinfo is not available."""
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].split()
    except OSError:
        return None
    return []


def simd_level(flags: Optional[List[str]]) -> Dict[str, object]:
    """The clone of pydl's SIMD loops this CPU runs, and the flags of the compiled levels it has."""
    machine = platform.machine().lower()
    if machine not in ("x86_64", "amd64"):
        return {"clone": "default", "isa": f"{machine} baseline (pydl compiles SIMD clones for x86-64 only)",
                "flags": [], "source": "platform.machine()"}
    if flags is None:
        return {"clone": "unknown", "isa": "unknown (no /proc/cpuinfo to read the CPU's flags from)",
                "flags": [], "source": "none"}
    have = set(flags)
    wanted = sorted({f for _, _, needs in SIMD_LEVELS for f in needs} & have)
    clone, isa = BASELINE
    for level, name, needs in reversed(SIMD_LEVELS):  # v3 first: v4 needs v3's flags too
        if all(f in have for f in needs):
            clone, isa = level, name
        else:
            break
    return {"clone": clone, "isa": isa, "flags": wanted, "source": "/proc/cpuinfo"}


def gemm() -> str:
    """pydl's GEMM and the micro-kernel family it runs (avx512, avx2 or portable)."""
    from . import _core

    return f"pydl's own, {_core.kernels.gemm_isa()} micro-kernels"


def cuda() -> Dict[str, object]:
    """Whether pydl can run on a GPU here, and why not."""
    if importlib.util.find_spec("pydl._cuda") is None:
        return {"available": False, "reason": "this pydl build has no CUDA kernels: no pydl._cuda extension"}
    try:
        importlib.import_module("pydl._cuda")
    except ImportError as e:
        return {"available": False, "reason": f"pydl._cuda failed to load: {e}"}
    return {"available": True, "reason": "pydl._cuda loaded"}


def info() -> Dict[str, object]:
    """Everything ``pydl info`` prints, as a dict (``pydl info --json`` prints it as JSON)."""
    import numpy as np

    import pydl
    from pydl import _core

    return {
        "version": pydl.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "cpu": simd_level(cpu_flags()),
        "gemm": gemm(),
        "threads": {"used": pydl.get_num_threads(), "cores": _core.default_num_threads(),
                    "max": _core.max_num_threads(), "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "cuda": cuda(),
    }


def format_info(d: Dict[str, Any]) -> str:
    cpu, threads, gpu = d["cpu"], d["threads"], d["cuda"]
    omp = threads["OMP_NUM_THREADS"]
    lines = [
        f"pydl {d['version']} (python {d['python']}, numpy {d['numpy']}, {d['platform']})",
        f"CPU features used: {cpu['isa']} ({cpu['clone']} clones of the SIMD loops"
        + (f"; from {cpu['source']}: {' '.join(cpu['flags'])}" if cpu["flags"] else "") + ")",
        f"GEMM: {d['gemm']}",
        f"threads: {threads['used']} of {threads['cores']} cores"
        + (f" (OMP_NUM_THREADS={omp})" if omp else "") + "; change with pydl.set_num_threads(n)",
        f"CUDA: {gpu['available']} ({gpu['reason']})",
    ]
    return "\n".join(lines)
