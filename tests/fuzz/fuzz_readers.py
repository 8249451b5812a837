"""Fuzz target: every file reader of pydl.readers and the dataset loaders that parse local
files (datasets.load_mnist / load_fashion_mnist on a folder, load_cifar10 on an archive).

The first byte picks the reader, the next few its arguments, the rest is the file (split
into several files for the folder readers). A reader must return or raise ValueError naming
the file (OSError for I/O); anything else is a finding. readers.download is not fuzzed: it
fetches a URL and then checks a hash, it parses nothing.
"""
import gzip
import io
import os
import shutil
import sys
import tarfile
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _common  # noqa: E402

if __name__ == "__main__":
    _common.main(__file__)

from pydl import datasets, readers  # noqa: E402

IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
             "t10k-labels-idx1-ubyte")
CIFAR_NAMES = tuple(f"data_batch_{i}.bin" for i in range(1, 6)) + ("test_batch.bin",)


def _split(b, parts: int):
    """The rest of the input cut into ``parts`` pieces at offsets read first (any sizes)."""
    offsets = [b.uint(3) for _ in range(parts - 1)]
    body = b.rest()
    edges = [0, *sorted(o % (len(body) + 1) for o in offsets), len(body)]
    return [body[edges[i]:edges[i + 1]] for i in range(parts)]


def _write(path: str, data: bytes) -> str:
    with open(path, "wb") as f:
        f.write(data)
    return path


def _idx(b, tmp):
    gz = b.bool()
    body = b.rest()
    return readers.read_idx, (_write(os.path.join(tmp, "data.idx"), gzip.compress(body) if gz else body),), {}


def _cifar_batch(b, tmp):
    return readers.read_cifar10_batch, (_write(os.path.join(tmp, "batch.bin"), b.rest()),), {}


def _csv(b, tmp):
    label = b.pick(("label", "y", "a", ""))
    delimiter = b.pick((",", ";", "\t", "|", " "))
    classes = None if b.chance(200) else b.pick(([0, 1], ["a", "b"], [0, 1, 2], []))
    path = _write(os.path.join(tmp, "table.csv"), b.rest())
    return readers.read_csv, (path, label), {"delimiter": delimiter, "classes": classes}


def _npz(b, tmp):
    keys = {"x_key": b.pick(("x", "y", "a")), "y_key": b.pick(("y", "x", "b"))}
    return readers.read_npz, (_write(os.path.join(tmp, "arrays.npz"), b.rest()),), keys


def _image_folder(b, tmp):
    size = None if b.bool() else (b.int_in(1, 16), b.int_in(1, 16))
    mode = b.pick(("rgb", "grayscale"))
    n_classes = b.int_in(1, 2)
    images = _split(b, 2 * n_classes)
    root = os.path.join(tmp, "images")
    for c in range(n_classes):
        os.makedirs(os.path.join(root, f"class{c}"))
        for i in range(2):
            _write(os.path.join(root, f"class{c}", f"img{i}.png"), images[2 * c + i])
    return readers.read_image_folder, (root,), {"size": size, "color_mode": mode}


def _mnist(b, tmp):
    gz = [b.bool() for _ in IDX_NAMES]
    load = b.pick((datasets.load_mnist, datasets.load_fashion_mnist))
    root = os.path.join(tmp, "mnist")
    os.makedirs(root)
    for name, z, body in zip(IDX_NAMES, gz, _split(b, 4)):
        _write(os.path.join(root, name + (".gz" if z else "")), gzip.compress(body) if z else body)
    return load, (root,), {}


def _cifar_archive(b, tmp):
    path = os.path.join(tmp, "cifar-10-binary.tar.gz")
    if b.bool():  # the raw bytes are the archive
        _write(path, b.rest())
    else:  # a well-formed archive of fuzzed batch files
        with tarfile.open(path, b.pick(("w:gz", "w"))) as tar:
            for name, body in zip(CIFAR_NAMES, _split(b, len(CIFAR_NAMES))):
                info = tarfile.TarInfo(f"cifar-10-batches-bin/{name}")
                info.size = len(body)
                tar.addfile(info, io.BytesIO(body))
    return datasets.load_cifar10, (path,), {}


READERS = (_idx, _cifar_batch, _csv, _npz, _image_folder, _mnist, _cifar_archive)


def test_one_input(data: bytes) -> None:
    b = _common.Bytes(data)
    make = READERS[b.u8() % len(READERS)]
    tmp = tempfile.mkdtemp(prefix="pydl-fuzz-")
    try:
        fn, args, kwargs = make(b, tmp)
        try:
            fn(*args, **kwargs)
        except _common.DOCUMENTED as e:
            _common.check_names_file(e, args[0])
    finally:
        shutil.rmtree(tmp)
