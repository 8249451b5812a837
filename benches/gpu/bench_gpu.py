"""Training throughput of pydl beside PyTorch eager on one device, in one run: mlp, cnn, lstm
and a 2-block Transformer encoder at batch 64 and 1024 (samples/s, and pydl / torch), and the
per-step time of the tiny 10-64-64-2 MLP at batch 32 (us/step).

pydl: Model.fit for one epoch (the data set handed to fit, shuffled by pydl), after a warm-up
epoch that plans buffers (and, on CUDA, uploads the data and captures the step's graph). PyTorch:
the usual eager loop (zero_grad, forward, loss, backward, Adam step) over batches of data already
on the device, reshuffled each epoch there, cuDNN autotuning on, synchronised before the clock
stops. Each figure is the best of --repeats timed epochs. Results go to --out: one JSON line per
case as it finishes (bench.jsonl: a timeout keeps what was measured) and bench.md.

    python benches/gpu/bench_gpu.py --device cuda --out $OUT
    python benches/gpu/bench_gpu.py --device cpu --quick      # the script itself, anywhere
"""
import argparse
import json
import os
import sys
import time


HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.append(os.path.dirname(os.path.dirname(HERE)))  # the checkout's pydl, when none is installed
import _models as M  # noqa: E402

import pydl  # noqa: E402


def try_torch():
    try:
        import torch
    except Exception:
        return None
    return torch


def time_pydl(case, device, batch, steps, repeats, graphs=True):
    x, y = M.data(case, batch * steps)
    model = M.pydl_model(case, device)
    pydl._core._set_step_graphs(graphs)  # False: every kernel launched one by one (the comparison)
    try:
        model.fit(x, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model.fit(x, y, epochs=1, batch_size=batch, shuffle=True, verbose=0)
            best = min(best, time.perf_counter() - t0)
    finally:
        pydl._core._set_step_graphs(True)
    return best


def time_torch(torch, case, device, batch, steps, repeats):
    x, y = M.data(case, batch * steps)
    xt, yt = M.torch_inputs(torch, case, x, y, device)
    model = M.torch_model(torch, case).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=M.LR)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator(device=device).manual_seed(1)

    def epoch():
        perm = torch.randperm(len(xt), device=device, generator=gen)
        for i in range(0, len(xt), batch):
            idx = perm[i:i + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    epoch()  # warm-up (cuDNN autotuning, allocator)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        epoch()
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (both libraries run there)")
    ap.add_argument("--out", default=None, help="folder for bench.jsonl and bench.md (default: print only)")
    ap.add_argument("--quick", action="store_true", help="tiny sizes: checks the script, measures nothing useful")
    ap.add_argument("--budget", type=float, default=150.0, help="seconds; cases after it are skipped")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args(argv)

    device = args.device
    torch = try_torch()
    torch_why = None if torch is not None else "PyTorch not installed"
    if torch is not None and device.startswith("cuda") and not torch.cuda.is_available():
        torch, torch_why = None, "PyTorch sees no CUDA device"
    if torch is not None:
        torch.backends.cudnn.benchmark = True
        torch.set_num_threads(os.cpu_count() or 1)
    pydl.set_num_threads(os.cpu_count() or 1)

    batches = (8, 32) if args.quick else (64, 1024)
    steps = 3 if args.quick else 30          # steps per timed epoch
    tiny_steps = 20 if args.quick else 500
    repeats = 1 if args.quick else args.repeats
    plan = [(case, b, steps) for case in M.CASES for b in batches] + [("tiny", 32, tiny_steps)]

    out_lines = []
    jsonl = None
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        jsonl = open(os.path.join(args.out, "bench.jsonl"), "w")
    t_start = time.perf_counter()
    for case, batch, n_steps in plan:
        row = {"case": case, "batch": batch, "steps": n_steps, "device": device}
        if time.perf_counter() - t_start > args.budget:
            row["error"] = f"skipped: past the {args.budget:.0f} s budget"
        else:
            libs = [("pydl", lambda: time_pydl(case, device, batch, n_steps, repeats)),
                    ("torch", lambda: time_torch(torch, case, device, batch, n_steps, repeats))]
            if batch <= 64:  # where launches dominate: the same steps without CUDA graphs
                libs.insert(1, ("pydl_nograph", lambda: time_pydl(case, device, batch, n_steps, repeats, False)))
            for lib, fn in libs:
                if lib == "torch" and torch is None:
                    row["torch_error"] = torch_why
                    continue
                try:
                    sec = fn()
                    row[f"{lib}_samples_per_s"] = round(batch * n_steps / sec, 1)
                    row[f"{lib}_us_per_step"] = round(sec / n_steps * 1e6, 2)
                except Exception as e:  # one failing case must not lose the others
                    row[f"{lib}_error"] = f"{type(e).__name__}: {str(e)[:300]}"
                if lib == "torch" and device.startswith("cuda"):
                    torch.cuda.empty_cache()  # pydl's later cases size their resident data from free memory
            if "pydl_samples_per_s" in row and "torch_samples_per_s" in row:
                row["pydl_over_torch"] = round(row["pydl_samples_per_s"] / row["torch_samples_per_s"], 3)
        print(json.dumps(row), flush=True)
        if jsonl:
            jsonl.write(json.dumps(row) + "\n")
            jsonl.flush()
        out_lines.append(row)
    md = markdown(out_lines, device, torch)
    print(md)
    if args.out:
        with open(os.path.join(args.out, "bench.md"), "w") as f:
            f.write(md)
    return 0 if all(not any(k.endswith("error") for k in r) for r in out_lines) else 1


def markdown(rows, device, torch):
    head = f"Device: {device}"
    if device.startswith("cuda") and pydl.cuda.is_available():
        head += f" ({pydl.cuda.get_device_name(device)})"
    if torch is not None:
        head += f"; PyTorch {torch.__version__}"
    lines = [head, "", "| case | batch | pydl samples/s | torch samples/s | pydl / torch | pydl us/step | torch us/step | notes |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        notes = "; ".join(f"{k}: {v}" for k, v in r.items() if k.endswith("error"))
        if "pydl_nograph_us_per_step" in r:
            notes = (f"without CUDA graphs {r['pydl_nograph_us_per_step']} us/step; " + notes).rstrip("; ")
        lines.append(f"| {r['case']} | {r['batch']} | {r.get('pydl_samples_per_s', '-')} | {r.get('torch_samples_per_s', '-')} "
                     f"| {r.get('pydl_over_torch', '-')} | {r.get('pydl_us_per_step', '-')} | {r.get('torch_us_per_step', '-')} "
                     f"| {notes} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
