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

    rng = np.random.default_rng(0)
    x = rng.standard_normal((20000, 256)).astype(np.float32)
    y = rng.integers(0, 10, 20000)
    model = pydl.Sequential([layers.Input((256,)), layers.Dense(512, activation="relu"),
                             layers.Dense(512, activation="relu"), layers.Dense(10)], seed=0)
    model.compile(optimizer="adam", loss="cross_entropy")
    try:
        model.fit(x, y, epochs=100000, batch_size=64, verbose=0, callbacks=[Hooks()])
    except KeyboardInterrupt:
        w = model.get_weights()
        assert all(np.isfinite(v).all() for v in w)
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
