"""What the fuzz targets share: the exceptions pydl documents, a byte reader that turns a
fuzz input into choices, and the atheris entry point.

A target is ``test_one_input(data: bytes)``: it returns normally when pydl behaved (a result
or a documented exception) and raises anything else, which is a finding. Native crashes and
sanitizer reports end the process. The byte reader is ours rather than
atheris.FuzzedDataProvider so that tests/test_fuzz_corpus.py replays the corpus without atheris.
"""
from __future__ import annotations

import math
import os
import struct
import sys

# What the README promises for bad input: ValueError (bad values, shapes, files), TypeError
# (wrong kinds), OSError (I/O), MemoryError (a size the machine cannot hold),
# FloatingPointError (a non-finite loss or update in fit). RuntimeError is documented only for
# a model used by two threads at once, which no target does, so it counts as a finding.
DOCUMENTED = (ValueError, TypeError, OSError, MemoryError, FloatingPointError)


class Finding(AssertionError):
    """pydl broke a promise without raising (a wrong result, an error that names nothing)."""


def check_names_file(e: BaseException, path: str) -> None:
    """Readers and load_model promise a ValueError naming the file (README, issue 10)."""
    if isinstance(e, ValueError) and os.path.basename(path) not in str(e):
        raise Finding(f"{type(e).__name__} without the file name: {e}") from e


# Sizes: usually small (what a real model uses), sometimes anything in int64 or an edge.
EDGES = (0, 1, -1, 2, 3, 2**15, 2**16, 2**24 + 1, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**53,
         2**61, 2**62, 2**62 + 1, 2**63 - 1, -2**31, -2**63)


class Bytes:
    """Reads choices from the front of a fuzz input; past its end every read is 0, so every
    input means something and a shorter input means smaller choices."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk.ljust(n, b"\0")

    def u8(self) -> int:
        return self.take(1)[0]

    def uint(self, nbytes: int) -> int:
        return int.from_bytes(self.take(nbytes), "little")

    def int_in(self, lo: int, hi: int) -> int:
        """lo..hi inclusive."""
        span = hi - lo + 1
        return lo + self.uint(max(1, (span.bit_length() + 7) // 8)) % span

    def bool(self) -> bool:
        return bool(self.u8() & 1)

    def chance(self, num: int, den: int = 256) -> bool:
        return self.u8() * den < num * 256

    def pick(self, options):
        return options[self.int_in(0, len(options) - 1)]

    def pick_stable(self, table: "StableTable"):
        """One entry of a table that grows over time, read so that a saved input keeps meaning
        the same entry after new ones are added: see StableTable."""
        v = self.u8()
        if v < 240 or not table.extra:
            return table.frozen[v % len(table.frozen)]
        return table.extra[(v - 240) % len(table.extra)]

    def size(self, lo: int = 1, hi: int = 8) -> int:
        """A dimension or count: lo..hi 7 times in 8, else an edge or any int64."""
        sel = self.u8()
        if sel < 224:
            return lo + sel % (hi - lo + 1)
        if sel < 244:
            return self.pick(EDGES)
        return struct.unpack("<q", self.take(8))[0]

    def float(self) -> float:
        """Usually in [0, 1); sometimes an edge (0, -1, 1e30, inf, nan) or any double."""
        sel = self.u8()
        if sel < 200:
            return self.uint(2) / 65536.0
        if sel < 230:
            return self.pick((0.0, -1.0, 1.0, 1e-30, 1e30, -1e30, math.inf, -math.inf, math.nan))
        return struct.unpack("<d", self.take(8))[0]

    def text(self, maxlen: int = 12) -> str:
        return self.take(self.int_in(0, maxlen)).decode("latin-1")

    def rest(self) -> bytes:
        chunk = self.data[self.pos:]
        self.pos = len(self.data)
        return chunk


class StableTable:
    """Classes found at run time (every layer type, every transform), in a frozen order first
    (the names listed when the corpus was made) and the newcomers after, sorted: the corpus
    files of the structured targets keep their meaning as pydl grows. Add newcomers to the
    frozen list only together with regenerated seeds (make_seeds.py)."""

    def __init__(self, frozen_names, classes):
        by_name = {c.__name__: c for c in classes}
        self.frozen = [by_name[n] for n in frozen_names if n in by_name]
        self.extra = sorted((c for n, c in by_name.items() if n not in frozen_names), key=lambda c: c.__name__)


def main(script: str) -> None:
    """Runs ``python tests/fuzz/fuzz_<target>.py [libFuzzer flags] [corpus dirs]`` (see
    .ci/sanitize); never returns. Called at the top of the script, before it imports pydl: the
    script is imported again as a module, so that atheris instruments pydl's Python code and the
    target's own (its branches are most of the coverage signal where the work is C++)."""
    import importlib
    import warnings

    import atheris

    name = os.path.splitext(os.path.basename(script))[0]
    with atheris.instrument_imports(include=["pydl", name]):
        target = importlib.import_module(name)
    import numpy as np

    np.seterr(all="ignore")  # numpy warnings on garbage values are not findings
    warnings.simplefilter("ignore")
    atheris.Setup(sys.argv, target.test_one_input, custom_mutator=getattr(target, "custom_mutator", None))
    atheris.Fuzz()
