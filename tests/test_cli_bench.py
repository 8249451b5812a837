"""`pydl bench` and pydl.benchmarks: the measured peak FLOP/s, the FLOP counts of the cases
(against counts taken from the models' own weights), the JSON rows (fields, units, ratios and
peak shares recomputed from the raw seconds, peer columns exactly for the importable peers) and
the errors for unknown cases and bad options."""
import importlib.util
import json
import math
import os

import numpy as np
import pytest

import pydl
from pydl import benchmarks, cli
from pydl._core import kernels
from pydl.benchmarks import dense as C
from pydl.benchmarks import rnn as RNN


def _importable(*names):
    return all(importlib.util.find_spec(n) is not None for n in names)


# Under .ci/sanitize (ASan/UBSan build, libasan preloaded) the instrumented FMA probe and GEMM
# run at other relative speeds, so the comparisons with the FMA ceiling hold for the normal
# build only (the pytest stage of CI runs them).
INSTRUMENTED = "libasan" in os.environ.get("LD_PRELOAD", "")

# The peers `pydl bench` compares with, as a user has them installed (JAX needs optax too).
PEERS = [p for p, mods in (("torch", ("torch",)), ("jax", ("jax", "optax"))) if _importable(*mods)]


def test_peak_flops_is_positive_and_bounds_a_gemm():
    short, longer = benchmarks.peak_flops(0.02, 1), benchmarks.peak_flops(0.1, 1)
    assert short > 0 and longer > 0 and math.isfinite(short) and math.isfinite(longer)
    # GEMM runs on the same FMA units, so it cannot beat their register-only ceiling; a probe
    # left scalar (unvectorised) would read 4-16x too low and fail this with room to spare for
    # noise on a shared machine.
    a, b = C.gemm_operands(512, 512, 512)
    before = pydl.get_num_threads()
    pydl.set_num_threads(1)
    try:
        seconds = C.best_of(lambda: kernels.gemm(a, b), repeat=5, settle=0)
    finally:
        pydl.set_num_threads(before)
    assert INSTRUMENTED or C.gemm_flop(512, 512, 512) / seconds < 2.0 * max(short, longer)


@pytest.mark.parametrize("seconds,threads,error", [(0, 1, ValueError), (-1.0, 1, ValueError),
                                                   (0.01, 0, ValueError), (0.01, 10 ** 6, ValueError),
                                                   (0.01, True, TypeError), ("1", 1, TypeError)])
def test_peak_flops_rejects_bad_arguments(seconds, threads, error):
    with pytest.raises(error, match="peak_flops"):
        benchmarks.peak_flops(seconds, threads)


def _dense_weights_flop(model):
    """2 FLOPs per multiply-add of every 2-D kernel of a Dense-only model, per sample."""
    return sum(2 * w.size for w in model.get_weights() if w.ndim == 2)


def test_flop_counts_match_the_models_weights():
    mlp = C.pydl_mlp()
    mlp.predict(np.zeros((1, C.MLP_SIZES[0]), np.float32))
    assert benchmarks.CASES["mlp_train"].flop == 3 * _dense_weights_flop(mlp) * C.MLP_SAMPLES
    # LSTM: every 2-D weight (input kernel F x 4U, recurrent kernel U x 4U) is used once per step,
    # except the head's (U x 10), used once per sequence.
    lstm = pydl.Sequential([pydl.layers.Input((RNN.STEPS, RNN.FEATURES)), pydl.layers.LSTM(RNN.UNITS),
                            pydl.layers.Dense(10)], seed=0)
    lstm.predict(np.zeros((1, RNN.STEPS, RNN.FEATURES), np.float32))
    mats = [w for w in lstm.get_weights() if w.ndim == 2]
    assert len(mats) == 3
    head = [w for w in mats if w.shape == (RNN.UNITS, 10)]
    per_seq = sum(2 * w.size * RNN.STEPS for w in mats if w.shape != (RNN.UNITS, 10)) + 2 * head[0].size
    assert benchmarks.CASES["lstm_train"].flop == 3 * per_seq * RNN.SAMPLES
    assert benchmarks.CASES["sgemm"].flop == 2 * 1024 ** 3


@pytest.fixture(scope="module")
def bench_rows():
    """One quick `pydl bench --json` run of the two cheapest cases on one thread."""
    import contextlib
    import io

    out, before = io.StringIO(), pydl.get_num_threads()
    try:
        with contextlib.redirect_stdout(out):
            assert cli.main(["bench", "tiny_mlp_step", "sgemm", "--threads", "1", "--quick", "--json"]) == 0
    finally:
        pydl.set_num_threads(before)
    return json.loads(out.getvalue())


def test_bench_json_rows(bench_rows):
    assert [r["case"] for r in bench_rows] == ["sgemm", "tiny_mlp_step"]  # the suite's order
    base = {"case", "description", "unit", "flop_per_call", "threads", "peak_gflops",
            "pydl", "pydl_seconds", "pydl_peak_share"}
    peer_keys = {f"{p}{s}" for p in PEERS for s in ("", "_seconds", "_peak_share")} | {f"pydl/{p}" for p in PEERS}
    for r in bench_rows:
        assert set(r) == base | peer_keys  # a peer's columns exactly when it is importable
        assert r["threads"] == 1 and r["peak_gflops"] > 0 and r["pydl_seconds"] > 0
        peak = r["peak_gflops"] * 1e9
        assert r["pydl_peak_share"] == pytest.approx(r["flop_per_call"] / r["pydl_seconds"] / peak)
    sgemm, tiny = bench_rows
    assert sgemm["unit"] == "GFLOP/s" and sgemm["flop_per_call"] == 2 * 1024 ** 3
    assert sgemm["pydl"] == pytest.approx(2 * 1024 ** 3 / sgemm["pydl_seconds"] / 1e9)
    assert 0 < sgemm["pydl_peak_share"]
    assert INSTRUMENTED or sgemm["pydl_peak_share"] < 2  # noise aside, a GEMM stays under the FMA ceiling
    steps = -(-C.TINY_SAMPLES // C.TINY_BATCH)  # one epoch of the tiny MLP, the last batch partial
    assert tiny["unit"] == "us/step" and tiny["pydl"] == pytest.approx(tiny["pydl_seconds"] / steps * 1e6)


@pytest.mark.parametrize("peer", ["torch", "jax"])
def test_bench_json_peer_columns(bench_rows, peer):
    pytest.importorskip(peer)
    if peer == "jax":
        pytest.importorskip("optax")
    for r in bench_rows:  # both cases have a version for each peer
        assert r[f"{peer}_seconds"] > 0
        assert r[f"pydl/{peer}"] == pytest.approx(r[f"{peer}_seconds"] / r["pydl_seconds"])
        assert r[f"{peer}_peak_share"] == pytest.approx(r["flop_per_call"] / r[f"{peer}_seconds"]
                                                        / (r["peak_gflops"] * 1e9))


def test_bench_table_has_a_column_per_installed_peer(bench_rows):
    table = benchmarks.format_table(bench_rows, PEERS).splitlines()
    head = [c.strip() for c in table[0].strip("|").split("|")]
    names = [benchmarks.suite.PEERS[p] for p in PEERS]
    assert head == ["case", "unit", "pydl", *names, *[f"pydl/{n}" for n in names], "pydl % peak",
                    *[f"{n} % peak" for n in names]]
    assert len(table) == 2 + len(bench_rows)
    assert all(len(line.strip("|").split("|")) == len(head) for line in table[2:])


def test_select_by_name_and_by_part():
    assert [c.name for c in benchmarks.select(["lstm_train"])] == ["lstm_train"]
    assert {c.name for c in benchmarks.select(["cnn"])} == {"cnn_train", "cnn_infer"}
    assert len(benchmarks.select([])) == len(benchmarks.CASES)


@pytest.mark.parametrize("argv,message", [
    (["bench", "no_such_case"], "unknown bench case 'no_such_case'; known cases: sgemm, mlp_train"),
    (["bench", "--threads", "0"], "--threads expected 1 to"),
    (["bench", "--threads", "100000"], "--threads expected 1 to"),
    (["bench", "--repeat", "0"], "--repeat expected at least 1"),
])
def test_bench_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 2
    assert message in capsys.readouterr().err
