"""Ctrl-C during fit: training stops at the next batch boundary, the model keeps its last
complete step, on_train_end runs, then KeyboardInterrupt propagates (real SIGINT)."""
import os
import signal
import subprocess
import sys
import textwrap
import time

CHILD = textwrap.dedent("""
    import numpy as np, pydl
    from pydl import layers

    class Hooks(pydl.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 0:
                print("training", flush=True)
        def on_train_end(self, logs=None):
            print("train_end", flush=True)

    # No shuffle and N a multiple of B: the k-th step trains on batch k % (N // B), so k steps
    # are one epoch over the data repeated and cut after k batches.
    N, B = 20480, 64
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, 256)).astype(np.float32)
    y = rng.integers(0, 10, N)

    def mlp():
        model = pydl.Sequential([layers.Input((256,)), layers.Dense(512, activation="relu"),
                                 layers.Dense(512, activation="relu"), layers.Dense(10)], seed=0)
        model.compile(optimizer="adam", loss="cross_entropy")
        return model

    model = mlp()
    try:
        model.fit(x, y, epochs=100000, batch_size=B, shuffle=False, verbose=0, callbacks=[Hooks()])
    except KeyboardInterrupt:
        steps = model._trainer.step
        assert steps >= N // B, steps  # the first epoch ended before the signal
        order = np.arange(steps * B) % N
        reference = mlp()
        reference.fit(x[order], y[order], epochs=1, batch_size=B, shuffle=False, verbose=0)
        assert reference._trainer.step == steps
        got, want = model.get_weights(), reference.get_weights()
        assert len(got) == len(want) == 6
        for a, b in zip(got, want):  # the last complete step, bitwise: no half-applied update
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b)
        assert model.evaluate(x[:100], y[:100])["loss"] > 0  # the model still works
        print("interrupted cleanly", flush=True)
        raise SystemExit(0)
    raise SystemExit("fit returned without an interrupt")
""")


def test_sigint_stops_fit_at_a_batch_boundary(tmp_path):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout.readline().strip() == "training"
        time.sleep(0.3)  # well inside the second epoch's C++ loop
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.splitlines() == ["train_end", "interrupted cleanly"]
