"""Peak memory of the 200-step MLP training run (issue 15): 784-256-256-10, batch 128, Adam,
12800 samples (100 steps an epoch, 2 epochs), 2 threads, for pydl and PyTorch eager (and JAX
jit when installed), each in a fresh process. Prints the resident memory after each stage
(interpreter and numpy; the library imported; the data made; the model built; the run done)
and the process's peak (VmHWM), all in MiB, so that what the peak holds can be read off: the
stage deltas are the library's code, the data set (40 MiB of float32 x here) and the model and
training buffers.

Usage: python benches/mlp_memory.py [pydl torch jax]   (default: every library installed)"""
import json
import subprocess
import sys

CHILD = r"""
import json, os, sys
os.environ.setdefault("OMP_NUM_THREADS", "2")
def rss(key="VmRSS"):  # MiB, from /proc/self/status (kB)
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
kind = sys.argv[1]
stages = {}
import numpy as np
stages["python + numpy"] = rss()
N, BATCH, EPOCHS, SIZES = 12800, 128, 2, (784, 256, 256, 10)
if kind == "pydl":
    import pydl
    from pydl import layers, optimizers
    pydl.set_num_threads(2)
    stages["import"] = rss()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=N).astype(np.int64)
    stages["data"] = rss()
    model = pydl.Sequential([layers.Input((784,)), layers.Dense(256, activation="relu"),
                             layers.Dense(256, activation="relu"), layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-3), loss="cross_entropy")
    model.build()
    stages["model"] = rss()
    model.fit(x, y, epochs=EPOCHS, batch_size=BATCH, shuffle=True, verbose=0)
    steps = model.optimizer.iterations
elif kind == "torch":
    import torch
    torch.set_num_threads(2)
    stages["import"] = rss()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=N).astype(np.int64)
    stages["data"] = rss()
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 256), torch.nn.ReLU(),
                                torch.nn.Linear(256, 10))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()
    stages["model"] = rss()
    steps = 0
    for epoch in range(EPOCHS):
        perm = torch.from_numpy(np.random.default_rng(epoch).permutation(N))
        xt, yt = torch.from_numpy(x), torch.from_numpy(y)
        for start in range(0, N, BATCH):
            idx = perm[start:start + BATCH]
            opt.zero_grad()
            loss_fn(model(xt[idx]), yt[idx]).backward()
            opt.step()
            steps += 1
else:
    os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=true intra_op_parallelism_threads=2")
    import jax, jax.numpy as jnp, optax
    stages["import"] = rss()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, SIZES[0]), dtype=np.float32)
    y = rng.integers(0, SIZES[-1], size=N).astype(np.int32)
    stages["data"] = rss()
    keys = jax.random.split(jax.random.PRNGKey(0), 3)
    params = [(jax.random.normal(k, (a, b)) * (2 / a) ** 0.5, jnp.zeros(b)) for k, a, b in zip(keys, SIZES[:-1], SIZES[1:])]
    opt = optax.adam(1e-3)
    state = opt.init(params)
    def loss_fn(p, xb, yb):
        h = xb
        for i, (w, b) in enumerate(p):
            h = h @ w + b
            if i < len(p) - 1:
                h = jax.nn.relu(h)
        return optax.softmax_cross_entropy_with_integer_labels(h, yb).mean()
    @jax.jit
    def step(p, s, xb, yb):
        g = jax.grad(loss_fn)(p, xb, yb)
        u, s = opt.update(g, s, p)
        return optax.apply_updates(p, u), s
    stages["model"] = rss()
    steps = 0
    for epoch in range(EPOCHS):
        perm = np.random.default_rng(epoch).permutation(N)
        for start in range(0, N, BATCH):
            idx = perm[start:start + BATCH]
            params, state = step(params, state, x[idx], y[idx])
            steps += 1
    jax.block_until_ready(params)
stages["trained"] = rss()
print(json.dumps({"stages": stages, "peak": rss("VmHWM"), "steps": int(steps)}))
"""


def measure(kind):
    out = subprocess.run([sys.executable, "-c", CHILD, kind], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def available(kind):
    if kind == "pydl":
        return True
    probe = {"torch": "import torch", "jax": "import jax, optax"}[kind]
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def main(kinds):
    results = {k: measure(k) for k in kinds if available(k)}
    for kind, r in results.items():
        stages = "  ".join(f"{name} {mib:.0f}" for name, mib in r["stages"].items())
        print(f"{kind:6s} peak {r['peak']:.0f} MiB after {r['steps']} steps | RSS by stage (MiB): {stages}")
    if "pydl" in results:
        for peer in ("torch", "jax"):
            if peer in results:
                print(f"pydl / {peer} peak: {results['pydl']['peak'] / results[peer]['peak']:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:] or ["pydl", "torch", "jax"])
