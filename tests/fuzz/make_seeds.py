"""Writes the seed inputs of tests/fuzz/corpus/<target>/ (seed-* files), so that fuzzing starts
from real formats: small saved models, valid IDX / CIFAR / CSV / npz / PNG files, and
structured inputs that reach the end of the architecture and kernel targets.

    python tests/fuzz/make_seeds.py load_model readers              # real files
    bash .ci/sanitize py tests/fuzz/make_seeds.py architecture kernels

Structured seeds are found by a seeded random search over tame inputs (small sizes), each
candidate tried in a worker process, so that a crash of pydl only costs that candidate; run
that search under the sanitizer build (second line) so that a candidate with undefined
behaviour or a bad read is not taken for a seed. Existing seed-* files are replaced; crash-*
files (findings) are left alone.
"""
import hashlib
import io
import os
import random
import struct
import subprocess
import sys
import tarfile
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
sys.path.insert(0, HERE)


def _save(target: str, name: str, data: bytes) -> None:
    folder = os.path.join(CORPUS, target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, f"seed-{name}"), "wb") as f:
        f.write(data)


def _clear(target: str) -> None:
    folder = os.path.join(CORPUS, target)
    for n in os.listdir(folder) if os.path.isdir(folder) else ():
        if n.startswith("seed-"):
            os.unlink(os.path.join(folder, n))


# ------------------------------------------------------------------ load_model: real files

def seeds_load_model():
    import numpy as np
    import pydl
    from pydl import layers as L

    rng = np.random.default_rng(0)
    models = {
        "mlp-adam": (pydl.Sequential([L.Input((6,)), L.Dense(4, activation="relu"), L.Dropout(0.2), L.Dense(3)],
                                     seed=1), "adam", "cross_entropy", (6,), 3),
        "cnn-sgd": (pydl.Sequential([L.Input((6, 6, 1)), L.Conv2D(2, 3, padding="same"), L.BatchNormalization(),
                                     L.MaxPool2D(2), L.Flatten(), L.Dense(2)], seed=2),
                    pydl.optimizers.SGD(0.01, momentum=0.9), "cross_entropy", (6, 6, 1), 2),
        "rnn-adamw": (pydl.Sequential([L.Input((5,)), L.Embedding(7, 3), L.Bidirectional(L.GRU(2)),
                                       L.LayerNormalization(), L.Dense(1)], seed=3),
                      "adamw", "binary_cross_entropy", (5,), None),
        "lstm-mse": (pydl.Sequential([L.Input((4, 2)), L.LSTM(3, return_sequences=True), L.SimpleRNN(2),
                                      L.Dense(2, activation="tanh")], seed=4), "sgd", "mse", (4, 2), None),
        "gru-variable-length": (pydl.Sequential([L.Input((None, 2)), L.GRU(3), L.Dense(2)], seed=6),
                                "adam", "cross_entropy", (4, 2), 2),
        "norm-reshape": (pydl.Sequential([L.Input((8,)), L.Normalization(mean=[0.5] * 8, variance=[2.0] * 8),
                                          L.Reshape((2, 2, 2)), L.AvgPool2D(1), L.GlobalMaxPool2D(),
                                          L.Activation("softmax")], seed=5), None, None, (8,), None),
    }
    for name, (model, opt, loss, shape, classes) in models.items():
        if opt is not None:
            model.compile(optimizer=opt, loss=loss)
            x = rng.integers(0, 7, size=(8, *shape)).astype(np.float32)
            out = model.output_shape
            y = rng.integers(0, classes, 8) if classes else rng.random((8, *out), dtype=np.float32)
            model.fit(x, y, epochs=1, batch_size=4, verbose=0)
        else:
            model.build()
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "m.pydl")
            model.save(path)
            with open(path, "rb") as f:
                _save("load_model", name, f.read())


# ---------------------------------------------------------------------- readers: real files

def _idx(arr) -> bytes:
    import numpy as np

    code = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype("i2"): 0x0B, np.dtype("i4"): 0x0C,
            np.dtype("f4"): 0x0D, np.dtype("f8"): 0x0E}[arr.dtype]
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _cuts(*lengths) -> bytes:
    """The 3-byte offsets fuzz_readers._split reads, cutting a body into pieces of these lengths."""
    out, at = b"", 0
    for n in lengths[:-1]:
        at += n
        out += at.to_bytes(3, "little")
    return out


def _png(h, w, mode="RGB") -> bytes:
    import numpy as np
    from PIL import Image

    arr = np.arange(h * w * (3 if mode == "RGB" else 1), dtype=np.uint8).reshape(h, w, -1).squeeze()
    buf = io.BytesIO()
    Image.fromarray(arr, mode).save(buf, format="PNG")
    return buf.getvalue()


def seeds_readers():
    import numpy as np
    from fuzz_readers import READERS

    sel = {f.__name__: bytes([i]) for i, f in enumerate(READERS)}
    img = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    _save("readers", "idx-u1", sel["_idx"] + b"\0" + _idx(img))
    _save("readers", "idx-f4-gz", sel["_idx"] + b"\1" + _idx(np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)))
    _save("readers", "idx-i2", sel["_idx"] + b"\0" + _idx(np.arange(5, dtype=np.int16)))
    record = bytes([3]) + bytes(range(256)) * 12
    _save("readers", "cifar-batch", sel["_cifar_batch"] + record + bytes([9]) + record[1:])
    # _csv reads: label column (pick of 4), delimiter (pick of 5), classes (chance, then pick)
    _save("readers", "csv", sel["_csv"] + b"\0\0\0" + b"a,b,label\n1,2.5,0\n3,4e-2,1\n-1,0,1\n")
    _save("readers", "csv-strings", sel["_csv"] + b"\0\1\0" + b"label;x\ncat;1\ndog;2\n")
    buf = io.BytesIO()
    np.savez(buf, x=np.ones((3, 2), np.float32), y=np.arange(3))
    _save("readers", "npz", sel["_npz"] + b"\0\0" + buf.getvalue())
    buf = io.BytesIO()
    np.savez_compressed(buf, x=np.zeros((2, 2, 2), np.uint8), y=np.array([1, 0]))
    _save("readers", "npz-deflated", sel["_npz"] + b"\0\0" + buf.getvalue())
    # _image_folder reads: size (bool: 1 = none), mode, classes (1..2), cuts, images
    pngs = [_png(3, 4), _png(3, 4), _png(3, 4, "L"), _png(3, 4)]
    _save("readers", "images", sel["_image_folder"] + b"\1\0\1" + _cuts(*map(len, pngs)) + b"".join(pngs))
    mn = [_idx(np.zeros((2, 28, 28), np.uint8)), _idx(np.array([1, 9], np.uint8)),
          _idx(np.full((1, 28, 28), 255, np.uint8)), _idx(np.array([0], np.uint8))]
    _save("readers", "mnist", sel["_mnist"] + b"\0\1\0\0" + b"\0" + _cuts(*map(len, mn)) + b"".join(mn))
    batches = [record] * 6
    _save("readers", "cifar-archive", sel["_cifar_archive"] + b"\0\0" + _cuts(*map(len, batches)) + b"".join(batches))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for n in [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]:
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{n}")
            info.size = len(record)
            tar.addfile(info, io.BytesIO(record))
    _save("readers", "cifar-targz", sel["_cifar_archive"] + b"\1" + buf.getvalue())


# -------------------------------------------- architecture and kernels: searched structured inputs

WORKER = r"""
import sys, os
sys.path.insert(0, {here!r})
import numpy as np, warnings
np.seterr(all="ignore"); warnings.simplefilter("ignore")
import fuzz_architecture as A, fuzz_kernels as K, _common
import pydl
for line in sys.stdin:
    target, hexdata = line.split()
    data = bytes.fromhex(hexdata)
    ok = False
    try:
        if target == "architecture":
            calls = []
            real = pydl.load_model
            A.pydl.load_model = lambda p: calls.append(p) or real(p)
            A.test_one_input(data)
            A.pydl.load_model = real
            ok = bool(calls)  # reached save, load and the comparison
        else:
            b = _common.Bytes(data)
            name = K.NAMES[b.u8() % len(K.NAMES)]
            K.CALLS[name](K.Args(b))
            ok = name
    except Exception:
        pass
    print("ok" if ok else "no", ok if isinstance(ok, str) else "", flush=True)
"""


def _tame(r: random.Random, n: int) -> bytes:
    """Random bytes below 200: sizes and floats stay small, so candidates rarely hit known crashes."""
    return bytes(r.randrange(200) for _ in range(n))


def _search(target: str, want: int, tries: int, per_kernel: bool = False) -> None:
    r = random.Random(target)
    found, seen = 0, set()
    todo = [_tame(r, r.randrange(8, 96)) for _ in range(tries)]
    if per_kernel:  # steer the first byte through every kernel
        import fuzz_kernels

        todo = [bytes([i % len(fuzz_kernels.NAMES)]) + t[1:] for i, t in enumerate(todo)]
    i = 0
    while i < len(todo) and found < want:
        proc = subprocess.Popen([sys.executable, "-c", WORKER.format(here=HERE)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            while i < len(todo) and found < want:
                data = todo[i]
                i += 1
                proc.stdin.write(f"{target} {data.hex()}\n")
                proc.stdin.flush()
                reply = proc.stdout.readline().split()
                if not reply:
                    break  # the worker crashed on this candidate: a new worker takes the next
                if reply[0] == "ok" and (not per_kernel or reply[1] not in seen):
                    seen.add(reply[1] if per_kernel else data)
                    _save(target, hashlib.sha1(data).hexdigest()[:12], data)
                    found += 1
        finally:
            proc.kill()
            proc.wait()
    print(f"{target}: {found} seeds from {i} candidates")


def seeds_architecture():
    _search("architecture", want=12, tries=3000)


def seeds_kernels():
    import fuzz_kernels

    _search("kernels", want=len(fuzz_kernels.NAMES), tries=6000, per_kernel=True)


if __name__ == "__main__":
    targets = sys.argv[1:] or ["load_model", "readers", "architecture", "kernels"]
    for t in targets:
        _clear(t)
        globals()[f"seeds_{t}"]()
