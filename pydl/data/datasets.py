"""Built-in data sets.

``load_digits`` is scikit-learn's 8x8 handwritten digits (1,797 images, 10 classes),
shipped inside scikit-learn: no download. ``load_mnist``, ``load_fashion_mnist`` and
``load_cifar10`` read the original files, either from a local ``path`` or downloaded
once into a cache folder (``cache_dir``, else ``$PYDL_DATA_DIR``, else
``~/.cache/pydl/datasets``) with their SHA-256 checked. The format readers they use
live in :mod:`pydl.data.readers`.
"""
from __future__ import annotations

import os
import tarfile
import warnings
import zlib
from typing import Dict, List, Optional, Tuple

import numpy as np

from .readers import _CIFAR_RECORD, PathLike, _check_cifar10_size, _parse_cifar10, download, read_idx

__all__ = ["load_digits", "load_mnist", "load_fashion_mnist", "load_cifar10"]

Split = Tuple[np.ndarray, np.ndarray]

# SHA-256 of the files as published. Sources: tensorflow/datasets,
# tensorflow_datasets/url_checksums/{mnist,fashion_mnist,cifar10}.txt (the MNIST sums
# are listed there for the cvdf-datasets mirror; the ossci mirror serves identical bytes).
_MNIST = {
    "mirrors": ["https://ossci-datasets.s3.amazonaws.com/mnist/",
                "https://storage.googleapis.com/cvdf-datasets/mnist/"],
    "sha256": {
        "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
    },
}
_FASHION_MNIST = {
    "mirrors": ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    "sha256": {
        "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    },
}
_CIFAR10 = {
    "mirrors": ["https://www.cs.toronto.edu/~kriz/"],
    "sha256": {
        "cifar-10-binary.tar.gz": "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
    },
}

_IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
_CIFAR_TRAIN = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
_CIFAR_TEST = "test_batch.bin"
_CIFAR_MAX_BATCH = 10000 * _CIFAR_RECORD  # each published batch holds exactly 10,000 images


def load_digits(as_images: bool = False) -> Tuple[np.ndarray, np.ndarray]:
    """Returns ``(x, y)``: x float32 scaled to [0, 1], shape (1797, 64) or, with
    ``as_images``, (1797, 8, 8, 1); y int64 class ids 0..9. Needs scikit-learn
    (``pip install "pydl[examples]"``)."""
    try:
        from sklearn.datasets import load_digits as sk_load_digits
    except ImportError:
        raise ImportError("load_digits needs scikit-learn: pip install 'pydl[examples]'") from None
    d = sk_load_digits()
    x = (d.data / 16.0).astype(np.float32)
    if as_images:
        x = x.reshape(-1, 8, 8, 1)
    return x, d.target.astype(np.int64)


def load_mnist(path: Optional[PathLike] = None,
               cache_dir: Optional[PathLike] = None) -> Tuple[Split, Split]:
    """MNIST handwritten digits: ``((x_train, y_train), (x_test, y_test))``.

    x is uint8 of shape (N, 28, 28, 1) (60,000 train, 10,000 test), y int64 0..9.
    With ``path``, read the four standard files (``train-images-idx3-ubyte``,
    ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``,
    each optionally ending in ``.gz``) from that folder and touch no network. Without
    it, download them once into the cache folder (see the module docstring), trying
    each mirror in turn, and verify their SHA-256.
    """
    return _load_idx_dataset("mnist", _MNIST, path, cache_dir)


def load_fashion_mnist(path: Optional[PathLike] = None,
                       cache_dir: Optional[PathLike] = None) -> Tuple[Split, Split]:
    """Fashion-MNIST (Zalando clothing images): same files, shapes and behaviour as
    :func:`load_mnist`; classes 0..9 are T-shirt/top, Trouser, Pullover, Dress, Coat,
    Sandal, Shirt, Sneaker, Bag, Ankle boot."""
    return _load_idx_dataset("fashion-mnist", _FASHION_MNIST, path, cache_dir)


def load_cifar10(path: Optional[PathLike] = None,
                 cache_dir: Optional[PathLike] = None) -> Tuple[Split, Split]:
    """CIFAR-10 (binary version): ``((x_train, y_train), (x_test, y_test))``.

    x is uint8 of shape (N, 32, 32, 3) (50,000 train, 10,000 test), y int64 0..9
    (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck).
    ``path`` may be the ``cifar-10-batches-bin`` folder (``data_batch_1.bin`` ..
    ``data_batch_5.bin`` and ``test_batch.bin``), a folder that contains it, or the
    ``cifar-10-binary.tar.gz`` archive (read in place, not extracted). Without ``path``
    the archive is downloaded once into the cache folder and its SHA-256 verified.
    """
    if path is None:
        path = _download_all("cifar-10", _CIFAR10, cache_dir)["cifar-10-binary.tar.gz"]
    path = os.fspath(path)
    if os.path.isdir(path):
        for candidate in (path, os.path.join(path, "cifar-10-batches-bin")):
            if os.path.isfile(os.path.join(candidate, _CIFAR_TRAIN[0])):
                return _cifar10_from_folder(candidate)
        archive = os.path.join(path, "cifar-10-binary.tar.gz")
        if not os.path.isfile(archive):
            raise FileNotFoundError(
                f"{path}: no CIFAR-10 data found: expected {', '.join(_CIFAR_TRAIN)} and "
                f"{_CIFAR_TEST} here or in a cifar-10-batches-bin sub-folder, or "
                f"cifar-10-binary.tar.gz")
        path = archive
    return _cifar10_from_archive(path)


# --------------------------------------------------------------------------- helpers

def _cache_root(cache_dir: Optional[PathLike]) -> str:
    if cache_dir is not None:
        return os.fspath(cache_dir)
    env = os.environ.get("PYDL_DATA_DIR")
    if env:
        return env
    return os.path.join(os.path.expanduser("~"), ".cache", "pydl", "datasets")


def _download_all(name: str, spec: Dict, cache_dir: Optional[PathLike]) -> Dict[str, str]:
    """Fetch every file of spec into <cache>/<name>/ (skipping verified ones); returns
    file name -> local path."""
    folder = os.path.join(_cache_root(cache_dir), name)
    local = {}
    for fname, sha in spec["sha256"].items():
        target = os.path.join(folder, fname)
        errors: List[str] = []
        for base in spec["mirrors"]:
            try:
                download(base + fname, target, sha)
                break
            except (OSError, ValueError) as e:  # URLError is an OSError
                errors.append(f"{base + fname}: {e}")
                if len(errors) < len(spec["mirrors"]):
                    warnings.warn(f"{name}: {errors[-1]}; trying the next mirror", RuntimeWarning,
                                  stacklevel=3)
        else:
            raise OSError(f"could not download {fname} for {name}; pass path= to load local "
                          f"files instead. Tried:\n  " + "\n  ".join(errors))
        local[fname] = target
    return local


def _find_idx(folder: str, base: str) -> str:
    for candidate in (base, base + ".gz"):
        p = os.path.join(folder, candidate)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"{folder}: missing {base} (or {base}.gz); expected the four files "
                            f"{', '.join(_IDX_NAMES)}, gzipped or not")


def _load_idx_dataset(name: str, spec: Dict, path: Optional[PathLike],
                      cache_dir: Optional[PathLike]) -> Tuple[Split, Split]:
    if path is None:
        local = _download_all(name, spec, cache_dir)
        files = [local[b + ".gz"] for b in _IDX_NAMES]
    else:
        folder = os.fspath(path)
        if not os.path.isdir(folder):
            raise FileNotFoundError(f"{folder}: not a folder (expected one holding {', '.join(_IDX_NAMES)})")
        files = [_find_idx(folder, b) for b in _IDX_NAMES]
    arrays = [read_idx(p) for p in files]
    return (_idx_split(arrays[0], arrays[1], files[0], files[1]),
            _idx_split(arrays[2], arrays[3], files[2], files[3]))


def _idx_split(images: np.ndarray, labels: np.ndarray, ipath: str, lpath: str) -> Split:
    # The IDX reader accepts any shape and type; check this is really an MNIST-style pair.
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"{ipath}: expected uint8 images of shape (N, 28, 28), found "
                         f"{images.dtype} {images.shape}")
    if labels.dtype != np.uint8 or labels.ndim != 1:
        raise ValueError(f"{lpath}: expected uint8 labels of shape (N,), found {labels.dtype} {labels.shape}")
    if len(images) != len(labels):
        raise ValueError(f"{ipath} holds {len(images)} images but {lpath} holds {len(labels)} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{lpath}: labels must be 0..9, found {labels.max()}")
    return images[..., None], labels.astype(np.int64)


def _cifar10_from_parts(parts: Dict[str, bytes], where: str) -> Tuple[Split, Split]:
    def read(names):
        xs, ys = zip(*(_parse_cifar10(parts[n], f"{where}/{n}") for n in names))
        return np.concatenate(xs), np.concatenate(ys)
    return read(_CIFAR_TRAIN), read((_CIFAR_TEST,))


def _cifar10_from_folder(folder: str) -> Tuple[Split, Split]:
    parts = {}
    for n in _CIFAR_TRAIN + (_CIFAR_TEST,):
        p = os.path.join(folder, n)
        if not os.path.isfile(p):
            raise FileNotFoundError(f"{folder}: missing CIFAR-10 batch {n}")
        with open(p, "rb") as f:
            parts[n] = f.read()
    return _cifar10_from_parts(parts, folder)


def _cifar10_from_archive(archive: str) -> Tuple[Split, Split]:
    wanted = set(_CIFAR_TRAIN + (_CIFAR_TEST,))
    parts = {}
    try:
        # Members are read into memory, never extracted: no files are written and a
        # hostile archive cannot place files outside a target folder.
        with tarfile.open(archive, "r:*") as tar:
            for member in tar:
                base = os.path.basename(member.name)
                if member.isfile() and base in wanted:
                    # Checked before reading: a forged size would otherwise be read (and
                    # inflated) whole, whatever it is.
                    _check_cifar10_size(member.size, f"{archive}/{base}")
                    if member.size > _CIFAR_MAX_BATCH:
                        raise ValueError(f"{archive}/{base}: {member.size} bytes, more than the "
                                         f"{_CIFAR_MAX_BATCH} of a CIFAR-10 batch (10,000 records)")
                    parts[base] = tar.extractfile(member).read()
                    if wanted <= set(parts):
                        break
    except (tarfile.TarError, EOFError, OSError, zlib.error) as e:
        if isinstance(e, FileNotFoundError):
            raise
        raise ValueError(f"{archive}: not a readable CIFAR-10 tar archive ({e})") from None
    missing = sorted(wanted - set(parts))
    if missing:
        raise ValueError(f"{archive}: archive lacks the CIFAR-10 batches {missing}")
    return _cifar10_from_parts(parts, archive)
