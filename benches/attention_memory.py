"""Peak memory of one attention training step at long sequences (issue 13): pydl's fused
kernel keeps O(T) per head (the row-wise log-sum-exp), never the T x T weights; PyTorch eager's
nn.MultiheadAttention(need_weights=False) goes through scaled_dot_product_attention, whose CPU
kernel is tiled too (its peak also grows about linearly). Each measurement runs in a fresh process (peak
RSS is per process): one forward + backward of self-attention, D=128, 4 heads, batch 4. The
probe returns freed heap to the system (malloc_trim), resets the kernel's high-water mark
(/proc/self/clear_refs, "5") after building the model and data, and reports the step's peak
(VmHWM) minus the RSS just before it: the step's own memory, whatever the build peaked at.

Usage: python benches/attention_memory.py [T ...]   (default: 512 2048)"""
import json
import subprocess
import sys

DIM, HEADS, BATCH = 128, 4, 4

CHILD = r"""
import ctypes, json, sys
import numpy as np
kind, t, dim, heads, batch = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
def status(key):  # MiB, from /proc/self/status (kB)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
def reset_peak():  # the step's peak, not the build's: trim the heap, restart VmHWM at VmRSS
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return status("VmRSS")
rng = np.random.default_rng(0)
x = rng.standard_normal((batch, t, dim)).astype(np.float32)
y = rng.standard_normal((batch, t, dim)).astype(np.float32)
if kind == "pydl":
    import pydl
    from pydl import layers
    inp = pydl.Input((t, dim))
    model = pydl.Model(inp, layers.MultiHeadAttention(heads, dim // heads)(inp, inp), seed=0)
    model.compile("sgd", "mse")
    model.build()
    before = reset_peak()
    model.loss_and_gradients(x, y)
else:
    import torch
    torch.set_num_threads(2)
    mha = torch.nn.MultiheadAttention(dim, heads, batch_first=True)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    before = reset_peak()
    out, _ = mha(xt, xt, xt, need_weights=False)
    ((out - yt) ** 2).mean().backward()
print(json.dumps({"before": before, "peak": status("VmHWM")}))
"""


def measure(kind, t):
    out = subprocess.run([sys.executable, "-c", CHILD, kind, str(t), str(DIM), str(HEADS), str(BATCH)],
                         capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return r["peak"] - r["before"]


def main(lengths):
    try:
        import torch  # noqa: F401
        kinds = ["pydl", "torch"]
    except ImportError:
        kinds = ["pydl"]
    scores_mib = {t: BATCH * HEADS * t * t * 4 / 2**20 for t in lengths}
    print(f"| T | {' | '.join(f'{k} step peak (MiB)' for k in kinds)} | one T x T weight matrix per head and sample "
          f"x batch x heads (MiB) |")
    print("|---|" + "---|" * (len(kinds) + 1))
    for t in lengths:
        vals = [measure(k, t) for k in kinds]
        print(f"| {t} | {' | '.join(f'{v:,.0f}' for v in vals)} | {scores_mib[t]:,.0f} |")


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [512, 2048])
