"""Replays corpus files through a fuzz target, one process for many files:

    python tests/fuzz/replay.py <target> FILE...     (e.g. kernels tests/fuzz/corpus/kernels/crash-*)

For each file it prints ``start <file>``, runs it, then ``ok <file>`` or ``fail <file> <error>``
(the error as a Python string literal). A native crash ends the process after ``start``:
tests/test_fuzz_corpus.py then knows which file it was and goes on in a new process.
"""
import importlib
import os
import sys
import traceback
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def main(target: str, files) -> None:
    import numpy as np

    np.seterr(all="ignore")
    warnings.simplefilter("ignore")
    run = importlib.import_module(f"fuzz_{target}").test_one_input
    for path in files:
        with open(path, "rb") as f:
            data = f.read()
        print("start", path, flush=True)
        try:
            run(data)
        except BaseException as e:  # noqa: BLE001  (anything that escapes is the finding)
            detail = "".join(traceback.format_exception_only(type(e), e)).strip()
            print("fail", path, repr(detail[:2000]), flush=True)
        else:
            print("ok", path, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
