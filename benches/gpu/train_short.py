"""A few training steps of a small MLP and a small CNN on one device: what benches/gpu/check.sh
runs under compute-sanitizer (memcheck), so that every kernel of a training step (forward,
backward, loss, Adam) and the moves between devices run once under the checker.

Each model trains 4 steps of batch 16 on --device and, from the same seed, on the CPU; the
predictions after training must agree within rtol 1e-3 / atol 1e-4 (float32 sums in another
order; the CUDA tests hold the strict per-kernel tolerances), and model.to("cpu") must predict as
it did on the device. Exits 1 when a check fails (memcheck's own findings fail check.sh's step
through --error-exitcode).

    compute-sanitizer --tool memcheck --error-exitcode 1 python benches/gpu/train_short.py
    python benches/gpu/train_short.py --device cpu          # the script itself, anywhere
"""
import argparse
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.dirname(os.path.dirname(HERE)))  # the checkout's pydl, when none is installed
import _models as M  # noqa: E402



def run(case, device):
    x, y = M.data(case, 64, seed=3)
    model = M.pydl_model(case, device, seed=5)
    hist = model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0)
    loss = float(hist.history["loss"][-1])
    pred = np.asarray(model.predict(x[:8]))
    return model, loss, pred, x


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda")
    args = ap.parse_args(argv)
    failed = 0
    for case in ("mlp", "cnn"):
        model, loss, pred, x = run(case, args.device)
        _, loss_cpu, pred_cpu, _ = run(case, "cpu")
        err = float(np.max(np.abs(pred - pred_cpu)))
        ok = np.isfinite(loss) and np.allclose(pred, pred_cpu, rtol=1e-3, atol=1e-4)
        print(f"{case}: loss {loss:.6f} on {args.device}, {loss_cpu:.6f} on cpu; max |pred diff| {err:.3g}"
              f" {'ok' if ok else 'MISMATCH'}", flush=True)
        failed |= not ok
        if args.device != "cpu":
            model.to("cpu")
            moved = np.asarray(model.predict(x[:8]))
            same = np.allclose(moved, pred, rtol=1e-5, atol=1e-6)
            print(f"{case}: after model.to('cpu') max |pred diff| {float(np.max(np.abs(moved - pred))):.3g}"
                  f" {'ok' if same else 'MISMATCH'}", flush=True)
            failed |= not same
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
