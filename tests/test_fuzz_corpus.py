"""Replays every file of tests/fuzz/corpus/<target>/ through its fuzz target (tests/fuzz/),
so that an input the fuzzers once found (crash-*) or started from (seed-*) is checked by the
normal suite. Each target's files run in one worker process (tests/fuzz/replay.py): a native
crash fails that file's test and the worker restarts for the rest, instead of ending pytest."""
import ast
import functools
import os
import subprocess
import sys

import pytest

FUZZ = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz")
CORPUS = os.path.join(FUZZ, "corpus")
TARGETS = sorted(f[len("fuzz_"):-len(".py")] for f in os.listdir(FUZZ) if f.startswith("fuzz_") and f.endswith(".py"))
CASES = [(t, n) for t in TARGETS for n in sorted(os.listdir(os.path.join(CORPUS, t)))
         if os.path.isdir(os.path.join(CORPUS, t))]
TIMEOUT_S = 300  # for one worker; a hang is reported on the file it was running


def _report(stderr: str) -> str:
    """The start of the sanitizer report or Python fault in stderr, else its end. (Under
    .ci/sanitize, ASan's own reports go to build/asan/reports/ instead.)"""
    starts = [i for i in (stderr.find(m) for m in ("runtime error", "ERROR: AddressSanitizer", "Fatal Python error"))
              if i >= 0]
    return stderr[max(0, min(starts) - 200):][:4000] if starts else stderr[-4000:]


@functools.lru_cache(maxsize=None)
def replay(target: str) -> dict:
    """file name -> (outcome, detail) for every corpus file of target."""
    paths = [os.path.join(CORPUS, target, n) for t, n in CASES if t == target]
    results = {}
    while paths:
        try:
            proc = subprocess.run([sys.executable, os.path.join(FUZZ, "replay.py"), target, *paths],
                                  capture_output=True, text=True, timeout=TIMEOUT_S)
            out, err, code = proc.stdout, proc.stderr, proc.returncode
        except subprocess.TimeoutExpired as e:
            out, err, code = (e.stdout or b"").decode(), (e.stderr or b"").decode(), f"timeout ({TIMEOUT_S} s)"
        running = None
        for line in out.splitlines():
            word, _, rest = line.partition(" ")
            if word == "start":
                running = rest
            elif word in ("ok", "fail"):
                path, _, detail = rest.partition(" ")
                results[os.path.basename(path)] = (word, ast.literal_eval(detail) if detail else "")
                running = None
        if running is None:  # every file started also finished
            missing = [p for p in paths if os.path.basename(p) not in results]
            if missing:  # the worker failed before its first file (an import error)
                raise RuntimeError(f"replay worker for {target} failed ({code}): {err[-3000:]}")
            break
        results[os.path.basename(running)] = ("crash", f"process ended ({code}) on this input:\n{_report(err)}")
        paths = paths[paths.index(running) + 1:]
    return results


@pytest.mark.parametrize("target,name", CASES, ids=[f"{t}/{n}" for t, n in CASES])
def test_corpus_file(target, name):
    outcome, detail = replay(target)[name]
    assert outcome == "ok", f"tests/fuzz/corpus/{target}/{name}: {outcome}: {detail}"
