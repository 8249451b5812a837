"""File-format readers, the download helper and the MNIST / CIFAR-10 loaders, on tiny
synthetic files written into tmp_path. Nothing here touches the network: downloads use
file:// URLs or a fake urlopen."""
import gzip
import hashlib
import io
import os
import re
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest

from pydl.data import datasets
from pydl.data.readers import download, read_cifar10_batch, read_csv, read_idx, read_image_folder, read_npz

IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C,
             np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(arr, code=None):
    arr = np.asarray(arr)
    code = IDX_CODES[arr.dtype.type] if code is None else code
    header = bytes([0, 0, code, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def sha(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- IDX

@pytest.mark.parametrize("dtype", list(IDX_CODES))
@pytest.mark.parametrize("gz", [False, True])
def test_idx_roundtrip_every_dtype(tmp_path, rng, dtype, gz):
    arr = (rng.standard_normal((3, 4, 5)) * 100).astype(dtype)
    p = write(tmp_path / ("a.idx.gz" if gz else "a.idx"), idx_bytes(arr), gz)
    out = read_idx(p)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out, arr)
    out[0, 0, 0] = 0  # writable, not a view of the file's bytes


def test_idx_one_dim_and_gzip_sniffed_without_gz_name(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    p = write(tmp_path / "labels-idx1-ubyte", idx_bytes(labels), gz=True)
    np.testing.assert_array_equal(read_idx(str(p)), labels)


@pytest.mark.parametrize("data, message", [
    (b"\x01\x00\x08\x01" + struct.pack(">I", 1) + b"\x00", r"magic bytes 00 00 <type> <ndims>, found 01 00 08 01"),
    (b"\x00\x00", r"4-byte magic number, found only 2 bytes"),
    (b"\x00\x00\x07\x01" + struct.pack(">I", 1) + b"\x00", r"unknown IDX data type code 0x07 \(expected one of 0x08"),
    (b"\x00\x00\x08\x03" + struct.pack(">I", 2), r"truncated IDX header: expected 16 bytes for 3 dimensions, found 8"),
    (idx_bytes(np.zeros((2, 3), np.int32))[:-4], r"truncated IDX data: shape \(2, 3\) of int32 needs 24 bytes, found 20"),
    (idx_bytes(np.zeros((2, 3), np.uint8)) + b"xyz", r"3 unexpected trailing bytes .* needs 6 bytes, found 9"),
])
def test_idx_malformed(tmp_path, data, message):
    p = write(tmp_path / "bad.idx", data)
    with pytest.raises(ValueError, match=re.escape(str(p)) + ".*" + message):
        read_idx(p)


def test_idx_truncated_gzip(tmp_path):
    data = gzip.compress(idx_bytes(np.arange(1000, dtype=np.int32)))
    p = write(tmp_path / "cut.gz", data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"cut\.gz: corrupt or truncated gzip data"):
        read_idx(p)


# ------------------------------------------------------------------------ CIFAR-10

def cifar_bytes(x, y):
    """Records in the published layout: label byte, then the R, G and B planes."""
    planes = np.asarray(x, np.uint8).transpose(0, 3, 1, 2).reshape(len(x), -1)
    return np.concatenate([np.asarray(y, np.uint8)[:, None], planes], axis=1).tobytes()


def random_cifar(rng, n):
    return (rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            rng.integers(0, 10, n).astype(np.int64))


def test_cifar10_batch_roundtrip(tmp_path, rng):
    x, y = random_cifar(rng, 5)
    p = write(tmp_path / "data_batch_1.bin", cifar_bytes(x, y))
    xr, yr = read_cifar10_batch(p)
    assert xr.dtype == np.uint8 and xr.shape == (5, 32, 32, 3) and xr.flags.c_contiguous
    assert yr.dtype == np.int64
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, y)


def test_cifar10_batch_layout_is_planar_rgb(tmp_path):
    # Independent of cifar_bytes: record 1 has label 7 and pixel (row 2, col 3) set to
    # R=10 at byte 1 + 2*32+3, G=20 one plane (1024 bytes) later, B=30 two planes later.
    rec = bytearray(2 * 3073)
    rec[3073] = 7
    base = 3073 + 1 + 2 * 32 + 3
    rec[base], rec[base + 1024], rec[base + 2048] = 10, 20, 30
    x, y = read_cifar10_batch(write(tmp_path / "b.bin", bytes(rec)))
    assert y.tolist() == [0, 7]
    assert x[1, 2, 3].tolist() == [10, 20, 30]
    assert int(x.sum()) == 60


def test_cifar10_batch_errors(tmp_path, rng):
    x, y = random_cifar(rng, 2)
    good = cifar_bytes(x, y)
    with pytest.raises(ValueError, match=r"cut\.bin: size 6145 bytes is not a multiple of the CIFAR-10 record size 3073"):
        read_cifar10_batch(write(tmp_path / "cut.bin", good[:-1]))
    bad = bytearray(good)
    bad[3073] = 12
    with pytest.raises(ValueError, match=r"lab\.bin: record 1 has label 12, expected 0\.\.9"):
        read_cifar10_batch(write(tmp_path / "lab.bin", bytes(bad)))
    with pytest.raises(ValueError, match="empty CIFAR-10 batch"):
        read_cifar10_batch(write(tmp_path / "empty.bin", b""))


# ----------------------------------------------------------------------------- CSV

def test_csv_integer_labels(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("a,label,b\n1.5,0,2\n-3,2,4e1\n\n0,1,nan\n")
    x, y, classes = read_csv(p, "label")
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x, np.array([[1.5, 2], [-3, 40], [0, np.nan]], np.float32))
    assert y.dtype == np.int64 and y.tolist() == [0, 2, 1]
    assert classes == [0, 1, 2]


def test_csv_integer_labels_sort_numerically(tmp_path):
    p = tmp_path / "d.csv"
    p.write_text("f,y\n1,10\n2,2.0\n3,-1\n4,2\n")
    x, y, classes = read_csv(p, "y", dtype=np.float64)
    assert x.dtype == np.float64 and x[:, 0].tolist() == [1, 2, 3, 4]
    assert classes == [-1, 2, 10]  # numbers, not strings: "10" < "2" would be wrong
    assert y.tolist() == [2, 1, 0, 1]


def test_csv_string_labels_bom_and_delimiter(tmp_path):
    p = tmp_path / "d.csv"
    p.write_bytes("\ufeffspecies;w;h\ncat;1;2\ndog;3;4\nbird;5;6\ncat;7;8\n".encode("utf-8"))
    x, y, classes = read_csv(p, "species", delimiter=";")
    assert classes == ["bird", "cat", "dog"]
    assert y.tolist() == [1, 2, 0, 1]
    np.testing.assert_array_equal(x, [[1, 2], [3, 4], [5, 6], [7, 8]])


def test_csv_fixed_classes(tmp_path):
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    train.write_text("v,c\n0,b\n1,a\n2,c\n")
    test.write_text("v,c\n5,c\n6,c\n")
    _, _, classes = read_csv(train, "c")
    _, y, same = read_csv(test, "c", classes=classes)
    assert same == ["a", "b", "c"] and y.tolist() == [2, 2]
    # Training labels that are not all integers stay strings, even when the test file's are.
    train.write_text("v,c\n0,1\n1,x\n")
    test.write_text("v,c\n5,1\n")
    _, _, classes = read_csv(train, "c")
    assert classes == ["1", "x"]
    assert read_csv(test, "c", classes=classes)[1].tolist() == [0]
    assert read_csv(test, "c", classes=[0, 1])[1].tolist() == [1]
    test.write_text("v,c\n5,z\n")
    classes = ["a", "b", "c"]
    with pytest.raises(ValueError, match=r"label 'z' is not in the given classes \['a', 'b', 'c'\]"):
        read_csv(test, "c", classes=classes)


@pytest.mark.parametrize("text, message", [
    ("a,b,y\n1,2,0\n3,abc,1\n", r"line 3, column 'b': expected a number, found 'abc'"),
    ("a,b,y\n1,,0\n", r"line 2, column 'b': expected a number, found ''"),
    ("a,b\n1,2\n", r"label column 'y' is missing; columns are \['a', 'b'\]"),
    ("a,y,y\n1,2,3\n", r"label column 'y' appears more than once"),
    ("", r"expected a header row"),
    ("a,y\n", r"header found but no data rows"),
    ("y\n1\n", r"no feature columns"),
    ("a,b,y\n1,2,0\n1,2\n", r"line 3 has 2 cells, expected 3"),
    ("a,y\n1, \n", r"line 2, column 'y': empty label"),
])
def test_csv_errors(tmp_path, text, message):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    with pytest.raises(ValueError, match=r"bad\.csv: " + message):
        read_csv(p, "y")


# -------------------------------------------------------------------- image folder

def save_png(path, arr):
    from PIL import Image
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def test_image_folder_rgb_and_grayscale(tmp_path, rng):
    pytest.importorskip("PIL")
    imgs = {("dogs", "b.png"): rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
            ("dogs", "a.png"): rng.integers(0, 256, (4, 5, 3), dtype=np.uint8),
            ("cats", "z.png"): rng.integers(0, 256, (4, 5, 3), dtype=np.uint8)}
    for (cls, name), arr in imgs.items():
        save_png(tmp_path / cls / name, arr)
    (tmp_path / "dogs" / ".DS_Store").write_bytes(b"junk")  # hidden: skipped
    (tmp_path / ".ipynb_checkpoints").mkdir()               # hidden folder: not a class
    (tmp_path / "README.txt").write_text("not a class")     # plain file at the top: skipped

    x, y, names = read_image_folder(tmp_path)
    assert names == ["cats", "dogs"]
    assert x.dtype == np.uint8 and x.shape == (3, 4, 5, 3)
    assert y.dtype == np.int64 and y.tolist() == [0, 1, 1]
    expected = [imgs["cats", "z.png"], imgs["dogs", "a.png"], imgs["dogs", "b.png"]]
    np.testing.assert_array_equal(x, np.stack(expected))

    from PIL import Image
    xg, yg, _ = read_image_folder(tmp_path, color_mode="grayscale")
    assert xg.shape == (3, 4, 5, 1) and yg.tolist() == [0, 1, 1]
    want = np.asarray(Image.fromarray(expected[1]).convert("L"))
    np.testing.assert_array_equal(xg[1, ..., 0], want)


def test_image_folder_grayscale_files(tmp_path, rng):
    pytest.importorskip("PIL")
    a = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    save_png(tmp_path / "0" / "a.png", a)
    save_png(tmp_path / "1" / "b.png", b)
    x, y, names = read_image_folder(str(tmp_path), color_mode="grayscale")
    assert names == ["0", "1"] and y.tolist() == [0, 1]
    np.testing.assert_array_equal(x[..., 0], np.stack([a, b]))
    xr, _, _ = read_image_folder(tmp_path)  # grayscale files read as rgb: channels replicated
    assert xr.shape == (2, 6, 3, 3)
    np.testing.assert_array_equal(xr[0], np.repeat(a[..., None], 3, axis=2))


def test_image_folder_resize(tmp_path, rng):
    pytest.importorskip("PIL")
    from PIL import Image
    big = rng.integers(0, 256, (10, 8, 3), dtype=np.uint8)
    save_png(tmp_path / "a" / "big.png", big)
    save_png(tmp_path / "b" / "flat.png", np.full((5, 9, 3), 77, np.uint8))
    with pytest.raises(ValueError, match=r"flat\.png: image is 5x9 \(HxW\) but earlier images are 10x8; pass size="):
        read_image_folder(tmp_path)
    x, y, _ = read_image_folder(tmp_path, size=(3, 6))  # (height, width)
    assert x.shape == (2, 3, 6, 3) and y.tolist() == [0, 1]
    want = np.asarray(Image.fromarray(big).resize((6, 3), Image.Resampling.BILINEAR))
    np.testing.assert_array_equal(x[0], want)
    assert (x[1] == 77).all()


def test_image_folder_errors(tmp_path):
    pytest.importorskip("PIL")
    with pytest.raises(ValueError, match="no class sub-folders"):
        read_image_folder(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="class folder 'empty' holds no images"):
        read_image_folder(tmp_path)
    (tmp_path / "empty" / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(ValueError, match=re.escape(str(tmp_path / "empty" / "broken.png")) + ": cannot read image"):
        read_image_folder(tmp_path)
    with pytest.raises(ValueError, match="color_mode"):
        read_image_folder(tmp_path, color_mode="rgba")
    with pytest.raises(ValueError, match="size"):
        read_image_folder(tmp_path, size=(0, 4))
    with pytest.raises(ValueError, match="not a directory"):
        read_image_folder(tmp_path / "missing")


# ----------------------------------------------------------------------------- npz

def test_npz(tmp_path, rng):
    x = rng.standard_normal((4, 3)).astype(np.float32)
    y = np.arange(4)
    p = tmp_path / "d.npz"
    np.savez(p, x=x, y=y, extra=np.zeros(2))
    xr, yr = read_npz(p)
    np.testing.assert_array_equal(xr, x)
    np.testing.assert_array_equal(yr, y)
    xr, yr = read_npz(p, x_key="extra", y_key="extra")
    assert xr.shape == (2,)
    with pytest.raises(ValueError, match=r"key 'images' not found; the archive holds \['x', 'y', 'extra'\]"):
        read_npz(p, x_key="images")
    np.savez(p, x=x, y=np.arange(3))
    with pytest.raises(ValueError, match=r"same number of samples"):
        read_npz(p)
    np.save(tmp_path / "single.npy", x)
    with pytest.raises(ValueError, match="single .npy array"):
        read_npz(tmp_path / "single.npy")
    (tmp_path / "junk.npz").write_bytes(b"definitely not numpy")
    with pytest.raises(ValueError, match=r"junk\.npz: not a readable \.npz archive"):
        read_npz(tmp_path / "junk.npz")
    np.savez(p, x=np.array([{"a": 1}], dtype=object), y=np.arange(1))
    with pytest.raises(ValueError, match="cannot load array"):
        read_npz(p)


# ------------------------------------------------------------------------ download

@pytest.fixture
def source(tmp_path):
    data = os.urandom(5000)
    src = tmp_path / "src" / "file.bin"
    src.parent.mkdir()
    src.write_bytes(data)
    return src.as_uri(), data


def test_download_file_url(tmp_path, source):
    url, data = source
    dest = tmp_path / "cache" / "sub" / "file.bin"
    assert download(url, dest, sha(data).upper()) == str(dest)
    assert dest.read_bytes() == data
    assert not os.path.exists(str(dest) + ".part")


def test_download_checksum_mismatch_leaves_nothing(tmp_path, source):
    url, data = source
    dest = tmp_path / "file.bin"
    wrong = "0" * 64
    with pytest.raises(ValueError, match=f"SHA-256 mismatch for .*expected {wrong}, got {sha(data)}"):
        download(url, dest, wrong)
    assert not dest.exists() and not os.path.exists(str(dest) + ".part")


def test_download_skips_verified_file_and_replaces_stale_one(tmp_path, source):
    url, data = source
    dest = tmp_path / "file.bin"
    dest.write_bytes(data)
    # The URL does not exist: any attempt to fetch would fail.
    assert download((tmp_path / "nowhere").as_uri(), dest, sha(data)) == str(dest)
    dest.write_bytes(b"old version")
    download(url, dest, sha(data))
    assert dest.read_bytes() == data


def test_download_leftover_part(tmp_path, source):
    url, data = source
    dest = tmp_path / "file.bin"
    part = tmp_path / "file.bin.part"
    part.write_bytes(b"garbage from an interrupted run" * 500)  # longer than the file
    download(url, dest, sha(data))  # file:// cannot resume: read again from the start
    assert dest.read_bytes() == data and not part.exists()
    # A complete .part (killed before the rename) is used without fetching anything.
    dest.unlink()
    part.write_bytes(data)
    download((tmp_path / "nowhere").as_uri(), dest, sha(data))
    assert dest.read_bytes() == data and not part.exists()


def test_download_bad_arguments(tmp_path, source):
    with pytest.raises(ValueError, match="64 hex digits"):
        download(source[0], tmp_path / "f", "abc")
    with pytest.raises(urllib.error.URLError):
        download((tmp_path / "nowhere").as_uri(), tmp_path / "f", "0" * 64)


class FakeResponse(io.BytesIO):
    def __init__(self, body, status, headers):
        super().__init__(body)
        self.status = status
        self.headers = headers


class FakeServer:
    """Stands in for urllib.request.urlopen: serves `data`, honouring Range or not
    (`wrong_offset` answers a range with a piece that starts elsewhere)."""

    def __init__(self, data, honour_range=True, short_by=0, wrong_offset=False):
        self.data, self.honour_range, self.short_by = data, honour_range, short_by
        self.wrong_offset = wrong_offset
        self.ranges = []

    def __call__(self, req, timeout=None):
        rng = req.get_header("Range")
        self.ranges.append(rng)
        n = len(self.data)
        if rng and self.honour_range:
            start = int(re.match(r"bytes=(\d+)-", rng).group(1)) - 10 * self.wrong_offset
            if start >= n:
                raise urllib.error.HTTPError(req.full_url, 416, "Range Not Satisfiable", {}, io.BytesIO())
            return FakeResponse(self.data[start:], 206, {"Content-Range": f"bytes {start}-{n - 1}/{n}",
                                                          "Content-Length": str(n - start)})
        return FakeResponse(self.data[: n - self.short_by], 200, {"Content-Length": str(n)})


@pytest.mark.parametrize("honour_range", [True, False])
def test_download_http_resume(tmp_path, monkeypatch, honour_range):
    data = os.urandom(3000)
    server = FakeServer(data, honour_range)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    download("https://example.invalid/f.bin", dest, sha(data))
    assert server.ranges == ["bytes=1000-"]
    assert dest.read_bytes() == data  # appended when honoured, rewritten when ignored


def test_download_http_wrong_content_range_restarts(tmp_path, monkeypatch):
    data = os.urandom(3000)
    server = FakeServer(data, wrong_offset=True)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(data[:1000])
    download("http://example.invalid/f.bin", dest, sha(data))
    assert server.ranges == ["bytes=1000-", None]
    assert dest.read_bytes() == data


def test_download_http_range_not_satisfiable_restarts(tmp_path, monkeypatch):
    data = os.urandom(3000)
    server = FakeServer(data)
    monkeypatch.setattr(urllib.request, "urlopen", server)
    dest = tmp_path / "f.bin"
    (tmp_path / "f.bin.part").write_bytes(os.urandom(4000))  # not a prefix of the file
    download("http://example.invalid/f.bin", dest, sha(data))
    assert server.ranges == ["bytes=4000-", None]
    assert dest.read_bytes() == data


def test_download_http_short_transfer_keeps_part(tmp_path, monkeypatch):
    data = os.urandom(3000)
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer(data, short_by=500))
    dest = tmp_path / "f.bin"
    with pytest.raises(OSError, match="stopped after 2500 of 3000 bytes"):
        download("http://example.invalid/f.bin", dest, sha(data))
    assert (tmp_path / "f.bin.part").read_bytes() == data[:2500]
    monkeypatch.setattr(urllib.request, "urlopen", FakeServer(data))
    download("http://example.invalid/f.bin", dest, sha(data))  # resumes from byte 2500
    assert dest.read_bytes() == data


# --------------------------------------------------------------------- MNIST loader

def tiny_mnist(rng, n_train=5, n_test=3):
    return {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test).astype(np.uint8),
    }


def check_mnist(result, arrays):
    (xtr, ytr), (xte, yte) = result
    assert xtr.shape == (5, 28, 28, 1) and xte.shape == (3, 28, 28, 1)
    assert xtr.dtype == np.uint8 and ytr.dtype == np.int64 and yte.dtype == np.int64
    np.testing.assert_array_equal(xtr[..., 0], arrays["train-images-idx3-ubyte"])
    np.testing.assert_array_equal(ytr, arrays["train-labels-idx1-ubyte"])
    np.testing.assert_array_equal(xte[..., 0], arrays["t10k-images-idx3-ubyte"])
    np.testing.assert_array_equal(yte, arrays["t10k-labels-idx1-ubyte"])


@pytest.mark.parametrize("gz", [False, True])
def test_load_mnist_local(tmp_path, rng, gz):
    arrays = tiny_mnist(rng)
    for name, arr in arrays.items():
        write(tmp_path / (name + (".gz" if gz else "")), idx_bytes(arr), gz)
    check_mnist(datasets.load_mnist(path=tmp_path), arrays)
    check_mnist(datasets.load_fashion_mnist(path=str(tmp_path)), arrays)


def test_load_mnist_local_errors(tmp_path, rng):
    arrays = tiny_mnist(rng)
    for name, arr in arrays.items():
        write(tmp_path / name, idx_bytes(arr))
    os.remove(tmp_path / "t10k-labels-idx1-ubyte")
    with pytest.raises(FileNotFoundError, match=r"missing t10k-labels-idx1-ubyte \(or t10k-labels-idx1-ubyte\.gz\)"):
        datasets.load_mnist(path=tmp_path)
    write(tmp_path / "t10k-labels-idx1-ubyte", idx_bytes(np.zeros(4, np.uint8)))
    with pytest.raises(ValueError, match="holds 3 images but .* holds 4 labels"):
        datasets.load_mnist(path=tmp_path)
    write(tmp_path / "t10k-images-idx3-ubyte", idx_bytes(np.zeros((3, 32, 32), np.uint8)))
    with pytest.raises(ValueError, match=r"expected uint8 images of shape \(N, 28, 28\), found uint8 \(3, 32, 32\)"):
        datasets.load_mnist(path=tmp_path)
    with pytest.raises(FileNotFoundError, match="not a folder"):
        datasets.load_mnist(path=tmp_path / "nope")


def serve_files(folder, files):
    """Write files (name -> bytes) into folder; returns its file:// base URL and the spec."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder.as_uri() + "/", {name: sha(data) for name, data in files.items()}


def test_load_mnist_downloads_into_cache(tmp_path, rng, monkeypatch):
    arrays = tiny_mnist(rng)
    base, sums = serve_files(tmp_path / "mirror", {n + ".gz": gzip.compress(idx_bytes(a)) for n, a in arrays.items()})
    dead = (tmp_path / "dead").as_uri() + "/"
    monkeypatch.setattr(datasets, "_MNIST", {"mirrors": [dead, base], "sha256": sums})
    with pytest.warns(RuntimeWarning, match="trying the next mirror"):
        check_mnist(datasets.load_mnist(cache_dir=tmp_path / "cache"), arrays)
    assert sorted(os.listdir(tmp_path / "cache" / "mnist")) == sorted(sums)
    # Second call: everything verified in the cache, so even dead mirrors are fine.
    monkeypatch.setattr(datasets, "_MNIST", {"mirrors": [dead], "sha256": sums})
    check_mnist(datasets.load_mnist(cache_dir=tmp_path / "cache"), arrays)


def test_load_fashion_mnist_uses_env_cache_and_reports_failures(tmp_path, rng, monkeypatch):
    arrays = tiny_mnist(rng)
    base, sums = serve_files(tmp_path / "mirror", {n + ".gz": idx_bytes(a) for n, a in arrays.items()})
    monkeypatch.setenv("PYDL_DATA_DIR", str(tmp_path / "env-cache"))
    monkeypatch.setattr(datasets, "_FASHION_MNIST", {"mirrors": [base], "sha256": sums})
    check_mnist(datasets.load_fashion_mnist(), arrays)
    assert (tmp_path / "env-cache" / "fashion-mnist" / "train-images-idx3-ubyte.gz").is_file()
    bad = dict(sums, **{"t10k-labels-idx1-ubyte.gz": "f" * 64})
    monkeypatch.setattr(datasets, "_FASHION_MNIST", {"mirrors": [base], "sha256": bad})
    with pytest.raises(OSError, match=r"could not download t10k-labels-idx1-ubyte\.gz .*pass path=(.|\n)*SHA-256 mismatch"):
        datasets.load_fashion_mnist(cache_dir=tmp_path / "other")


def test_checksum_tables_are_complete():
    for spec in (datasets._MNIST, datasets._FASHION_MNIST):
        assert sorted(spec["sha256"]) == sorted(n + ".gz" for n in datasets._IDX_NAMES)
    for spec in (datasets._MNIST, datasets._FASHION_MNIST, datasets._CIFAR10):
        assert spec["mirrors"] and all(m.endswith("/") for m in spec["mirrors"])
        assert all(re.fullmatch(r"[0-9a-f]{64}", s) for s in spec["sha256"].values())


# ------------------------------------------------------------------ CIFAR-10 loader

def tiny_cifar_folder(folder, rng):
    folder.mkdir(parents=True)
    train = []
    for i in range(1, 6):
        x, y = random_cifar(rng, i)  # batches of 1..5 records: 15 in all
        write(folder / f"data_batch_{i}.bin", cifar_bytes(x, y))
        train.append((x, y))
    test = random_cifar(rng, 2)
    write(folder / "test_batch.bin", cifar_bytes(*test))
    xtr = np.concatenate([t[0] for t in train])
    ytr = np.concatenate([t[1] for t in train])
    return (xtr, ytr), test


def check_cifar(result, expected):
    assert len(result) == len(expected) == 2  # (train, test)
    for (x, y), (xe, ye) in zip(result, expected):
        assert x.dtype == np.uint8 and y.dtype == np.int64 and x.shape[1:] == (32, 32, 3)
        np.testing.assert_array_equal(x, xe)
        np.testing.assert_array_equal(y, ye)


def make_tar(folder, archive):
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="cifar-10-batches-bin")
    return archive


def test_load_cifar10_local(tmp_path, rng):
    folder = tmp_path / "cifar-10-batches-bin"
    expected = tiny_cifar_folder(folder, rng)
    check_cifar(datasets.load_cifar10(path=folder), expected)
    check_cifar(datasets.load_cifar10(path=tmp_path), expected)  # the folder above it
    archive = make_tar(folder, tmp_path / "cifar-10-binary.tar.gz")
    check_cifar(datasets.load_cifar10(path=archive), expected)
    other = tmp_path / "only-archive"
    other.mkdir()
    os.replace(archive, other / "cifar-10-binary.tar.gz")
    check_cifar(datasets.load_cifar10(path=str(other)), expected)


def test_load_cifar10_errors(tmp_path, rng):
    folder = tmp_path / "cifar-10-batches-bin"
    tiny_cifar_folder(folder, rng)
    os.remove(folder / "data_batch_3.bin")
    archive = make_tar(folder, tmp_path / "partial.tar.gz")
    with pytest.raises(ValueError, match=r"partial\.tar\.gz: archive lacks the CIFAR-10 batches \['data_batch_3\.bin'\]"):
        datasets.load_cifar10(path=archive)
    with pytest.raises(FileNotFoundError, match="missing CIFAR-10 batch data_batch_3.bin"):
        datasets.load_cifar10(path=folder)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 data found"):
        datasets.load_cifar10(path=empty)
    (tmp_path / "junk.tar.gz").write_bytes(b"not a tarball")
    with pytest.raises(ValueError, match=r"junk\.tar\.gz: not a readable CIFAR-10 tar archive"):
        datasets.load_cifar10(path=tmp_path / "junk.tar.gz")
    write(folder / "data_batch_3.bin", b"\x00" * 100)
    with pytest.raises(ValueError, match=r"data_batch_3\.bin: size 100 bytes is not a multiple"):
        datasets.load_cifar10(path=folder)


def test_load_cifar10_downloads_into_cache(tmp_path, rng, monkeypatch):
    folder = tmp_path / "build" / "cifar-10-batches-bin"
    expected = tiny_cifar_folder(folder, rng)
    archive = make_tar(folder, tmp_path / "build" / "cifar-10-binary.tar.gz")
    base, sums = serve_files(tmp_path / "mirror", {"cifar-10-binary.tar.gz": archive.read_bytes()})
    monkeypatch.setattr(datasets, "_CIFAR10", {"mirrors": [base], "sha256": sums})
    check_cifar(datasets.load_cifar10(cache_dir=tmp_path / "cache"), expected)
    assert os.listdir(tmp_path / "cache" / "cifar-10") == ["cifar-10-binary.tar.gz"]
