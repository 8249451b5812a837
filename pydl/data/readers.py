"""Readers for common data-set file formats, and a verified, resumable download helper.

Every reader turns a malformed file into a ValueError that names the file and says what
was expected and what was found, so a bad download or a wrong path fails loudly at load
time instead of as a shape error deep inside training.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import io
import os
import re
import stat
import struct
import tokenize
import zipfile
import zlib
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .. import _validate

__all__ = ["read_idx", "read_cifar10_batch", "read_csv", "read_image_folder", "read_npz",
           "download"]

PathLike = Union[str, "os.PathLike[str]"]

# IDX type codes (third magic byte) -> big-endian numpy dtypes.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_CIFAR_RECORD = 1 + 3 * 32 * 32  # label byte + R, G, B planes of 32x32


# ------------------------------------------------------------------- opening files

def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device node"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a special file"


def _open_regular(name: str, label: Optional[str] = None):
    """(binary file object, size) of the regular file ``name``. Anything else is refused
    with a ValueError naming it: /dev/zero would be read until memory runs out, a FIFO
    blocks, and neither has a size to check a header against."""
    # O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused just below).
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{name if label is None else label}: not a regular file but "
                             f"{_file_kind(st.st_mode)}")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


# ----------------------------------------------------------------------------- IDX

def read_idx(path: PathLike) -> np.ndarray:
    """Read an IDX file (the MNIST / Fashion-MNIST format) into a numpy array.

    The header is two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
    0x0C int32, 0x0D float32, 0x0E float64) and the number of dimensions, followed by
    each dimension as a big-endian uint32 and then the data, big-endian, row-major.
    Gzip-compressed files are decompressed transparently (whatever their name).
    The result is a writable array in native byte order.

    Raises ValueError (naming the file) for a bad magic number, an unknown type code,
    a truncated header or data, or trailing bytes after the data. The header is read
    first and exactly the data it promises after it: a gzip bomb is never inflated
    beyond what the header asks for.
    """
    name = os.fspath(path)
    f, size = _open_regular(name)
    with f:
        # Sniff the gzip magic rather than trusting the extension: decompressed files are
        # often left with a .gz name and vice versa. IDX files start with 00 00, never 1f 8b.
        if f.read(2) != b"\x1f\x8b":
            f.seek(0)
            return _read_idx_stream(f, name, size)
        f.seek(0)
        try:
            with gzip.GzipFile(fileobj=f, mode="rb") as g:
                return _read_idx_stream(g, name, None, size)
        except (gzip.BadGzipFile, EOFError, zlib.error) as e:
            raise ValueError(f"{name}: corrupt or truncated gzip data ({e})") from None


# Deflate expands at most 1032-fold (zlib's documented limit), so a gzip file of n bytes
# holds at most about 1032 * n bytes: a header promising more is refused before inflating.
_DEFLATE_MAX_RATIO = 1032


def _read_idx_stream(f, name: str, size: Optional[int], gz_size: Optional[int] = None) -> np.ndarray:
    """Parse IDX from the binary stream f: ``size`` is the exact byte count of an
    uncompressed file, ``gz_size`` the size of a gzip file (then the length is unknown)."""
    magic = f.read(4)
    if len(magic) < 4:
        raise ValueError(f"{name}: not an IDX file: expected a 4-byte magic number, "
                         f"found only {len(magic)} bytes")
    zero0, zero1, code, ndim = magic
    if zero0 != 0 or zero1 != 0:
        raise ValueError(f"{name}: not an IDX file: expected magic bytes 00 00 <type> <ndims>, "
                         f"found {magic.hex(' ')}")
    if code not in _IDX_DTYPES:
        known = ", ".join(f"0x{c:02X}" for c in _IDX_DTYPES)
        raise ValueError(f"{name}: unknown IDX data type code 0x{code:02X} (expected one of {known})")
    dtype = _IDX_DTYPES[code]
    header = 4 + 4 * ndim
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"{name}: truncated IDX header: expected {header} bytes for "
                         f"{ndim} dimensions, found {4 + len(dims)}")
    shape = tuple(int(d) for d in np.frombuffer(dims, dtype=">u4", count=ndim))
    # Python ints: the product cannot overflow, so a bogus header cannot trick us into a
    # huge allocation before the size checks below.
    expected = dtype.itemsize  # type: ignore[attr-defined]
    for d in shape:
        expected *= d
    what = f"shape {shape} of {dtype.name} needs {expected} bytes"  # type: ignore[attr-defined]
    if size is not None:
        found = size - header
        if found < expected:
            raise ValueError(f"{name}: truncated IDX data: {what}, found {found}")
        if found > expected:
            raise ValueError(f"{name}: {found - expected} unexpected trailing bytes after the IDX "
                             f"data ({what}, found {found})")
    elif header + expected > _DEFLATE_MAX_RATIO * gz_size + 1024:
        raise ValueError(f"{name}: truncated IDX data: {what}, more than a gzip file of {gz_size} "
                         f"bytes can hold")
    data = bytearray(expected)
    view, got = memoryview(data), 0
    while got < expected:
        n = f.readinto(view[got:got + (1 << 24)])
        if not n:
            raise ValueError(f"{name}: truncated IDX data: {what}, found {got}")
        got += n
    if f.read(1):
        raise ValueError(f"{name}: unexpected trailing bytes after the IDX data ({what}, found more)")
    arr = np.frombuffer(data, dtype=dtype, count=expected // dtype.itemsize)  # type: ignore[attr-defined, call-overload]
    try:
        # astype copies: the result owns its memory and is in native byte order.
        return arr.astype(dtype.newbyteorder("="), copy=True).reshape(shape)  # type: ignore[attr-defined]
    except ValueError as e:  # an empty array whose other dims numpy cannot represent
        raise ValueError(f"{name}: IDX shape {shape} is not representable: {e}") from None


# ------------------------------------------------------------------------ CIFAR-10

def read_cifar10_batch(path: PathLike) -> Tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 binary batch (``data_batch_1.bin`` ... ``test_batch.bin``).

    Each record is one label byte (0..9) followed by 3072 pixel bytes: the 32x32 red
    plane, then green, then blue, each row-major. Returns ``(x, y)`` with x uint8 of
    shape (N, 32, 32, 3) (channels-last) and y int64 of shape (N,).

    Raises ValueError if the file is empty, its size is not a multiple of 3073 bytes,
    or a label is greater than 9.
    """
    name = os.fspath(path)
    f, size = _open_regular(name)
    with f:
        _check_cifar10_size(size, name)  # before reading anything
        data = f.read(size + 1)
    if len(data) != size:
        raise ValueError(f"{name}: the file changed size while it was read")
    return _parse_cifar10(data, name)


def _check_cifar10_size(size: int, name: str) -> None:
    if not size:
        raise ValueError(f"{name}: empty CIFAR-10 batch file")
    if size % _CIFAR_RECORD:
        raise ValueError(f"{name}: size {size} bytes is not a multiple of the CIFAR-10 "
                         f"record size {_CIFAR_RECORD} (1 label byte + 3072 pixel bytes); "
                         f"truncated or not a CIFAR-10 binary batch")


def _parse_cifar10(data: bytes, name: str) -> Tuple[np.ndarray, np.ndarray]:
    _check_cifar10_size(len(data), name)
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0]
    bad = np.flatnonzero(labels > 9)
    if bad.size:
        raise ValueError(f"{name}: record {bad[0]} has label {labels[bad[0]]}, expected 0..9 "
                         f"({bad.size} bad labels in total; CIFAR-100 files have 2 label bytes)")
    x = records[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(x), labels.astype(np.int64)


# ----------------------------------------------------------------------------- CSV

def read_csv(path: PathLike, label_column: str, delimiter: str = ",", dtype=np.float32,
             classes: Optional[Sequence] = None) -> Tuple[np.ndarray, np.ndarray, list]:
    """Read a numeric CSV file with a header row into ``(x, y, classes)``.

    Every column except ``label_column`` is a feature and must hold numbers; x has shape
    (rows, features) and the given dtype. ``classes`` in the result is the sorted list
    of distinct label values and y (int64) indexes into it, so ``classes[y[i]]`` is the
    original label of row i. Labels that are all integers (``3`` or ``3.0``) are kept as
    ints and sorted numerically, so labels 0..K-1 come back unchanged; any other labels
    are kept as strings and sorted as strings.

    Pass ``classes=`` (for example the list returned for the training file) to reuse a
    fixed mapping, so a test file that lacks some class still gets the same ids; a label
    not in it is then an error.

    Raises ValueError for a missing header, a missing or duplicated label column, rows
    with the wrong number of cells, a non-numeric feature cell or an empty label (each
    naming the line and column), and for a file without data rows.
    """
    name = os.fspath(path)
    f, _ = _open_regular(name)
    # utf-8-sig drops the byte-order mark that spreadsheet programs put in front of the
    # header, which would otherwise become part of the first column's name.
    with io.TextIOWrapper(f, encoding="utf-8-sig", newline="") as text:
        reader = csv.reader(_bounded_lines(text, name), delimiter=delimiter)
        try:
            rows, raw_labels = _csv_rows(reader, name, label_column)
        except csv.Error as e:  # a field over csv.field_size_limit(), a NUL byte, a stray quote
            raise ValueError(f"{name}: line {reader.line_num}: malformed CSV ({e})") from None
        except UnicodeDecodeError as e:
            raise ValueError(f"{name}: after line {reader.line_num}: not UTF-8 text ({e.reason}: "
                             f"byte 0x{e.object[e.start]:02x})") from None
    if not rows:
        raise ValueError(f"{name}: header found but no data rows")
    x = np.asarray(rows, dtype=dtype)
    y, found_classes = _encode_labels(raw_labels, classes, name)
    return x, y, found_classes


# A physical line longer than this is not a table row (csv's own field limit is 131072
# characters); reading it whole could take all memory on a file without newlines.
_CSV_MAX_LINE = 1 << 24


def _bounded_lines(text, name: str):
    while True:
        line = text.readline(_CSV_MAX_LINE)
        if not line:
            return
        if len(line) == _CSV_MAX_LINE and not line.endswith(("\n", "\r")):
            raise ValueError(f"{name}: a line longer than {_CSV_MAX_LINE} characters; not a CSV table")
        yield line


def _csv_rows(reader, name: str, label_column: str) -> Tuple[List[List[float]], List[str]]:
    header = next(reader, None)
    if not header or all(not h.strip() for h in header):
        raise ValueError(f"{name}: expected a header row with column names, found an empty file")
    header = [h.strip() for h in header]
    if header.count(label_column) != 1:
        what = "is missing" if label_column not in header else "appears more than once"
        raise ValueError(f"{name}: label column {label_column!r} {what}; columns are {header}")
    li = header.index(label_column)
    if len(header) < 2:
        raise ValueError(f"{name}: no feature columns besides the label column {label_column!r}")
    rows: List[List[float]] = []
    raw_labels: List[str] = []
    for row in reader:
        if not row or all(not c.strip() for c in row):
            continue  # blank lines, typically a trailing newline
        line = reader.line_num
        if len(row) != len(header):
            raise ValueError(f"{name}: line {line} has {len(row)} cells, expected "
                             f"{len(header)} (one per header column)")
        feats = []
        for j, cell in enumerate(row):
            if j == li:
                continue
            try:
                feats.append(float(cell))
            except ValueError:
                raise ValueError(f"{name}: line {line}, column {header[j]!r}: expected a "
                                 f"number, found {cell!r}") from None
        label = row[li].strip()
        if not label:
            raise ValueError(f"{name}: line {line}, column {label_column!r}: empty label")
        rows.append(feats)
        raw_labels.append(label)
    return rows, raw_labels


def _as_int_label(s: str) -> Optional[int]:
    try:
        return int(s)
    except ValueError:
        pass
    try:
        v = float(s)
    except ValueError:
        return None
    return int(v) if v.is_integer() else None


def _encode_labels(raw: List[str], classes: Optional[Sequence], name: str):
    ints = [_as_int_label(s) for s in raw]
    all_ints = all(v is not None for v in ints)
    if classes is None:
        keys = ints if all_ints else raw
        classes = sorted(set(keys))
        lookup = classes
    else:
        classes = list(classes)
        # Compare like with like: a test file whose labels happen to be all integers
        # must still match a training file's string classes, and vice versa.
        cls_ints = [_as_int_label(str(c)) for c in classes]
        if all_ints and all(c is not None for c in cls_ints):
            keys, lookup = ints, cls_ints
        else:
            keys, lookup = raw, [str(c) for c in classes]
    index = {c: i for i, c in enumerate(lookup)}
    try:
        y = np.fromiter((index[k] for k in keys), dtype=np.int64, count=len(keys))
    except KeyError as e:
        raise ValueError(f"{name}: label {e.args[0]!r} is not in the given classes {classes}") from None
    return y, classes


# -------------------------------------------------------------------- image folder

def read_image_folder(path: PathLike, size: Optional[Tuple[int, int]] = None,
                      color_mode: str = "rgb") -> Tuple[np.ndarray, np.ndarray, List[str]]:
    """Read a folder with one sub-folder of images per class (needs Pillow).

    Class ids follow the sorted sub-folder names; images within a class are read in
    sorted file-name order. Hidden entries (names starting with ".") are skipped, as are
    plain files directly in ``path``. ``color_mode`` is "rgb" (3 channels) or
    "grayscale" (1 channel). All images must have the same size unless ``size=(height,
    width)`` is given, in which case each is resized to it with bilinear filtering.

    Returns ``(x, y, class_names)``: x uint8 (N, H, W, C), y int64 (N,).
    Raises ValueError if there are no class folders, a class folder holds no images, an
    image cannot be read (naming the file) or sizes differ without ``size``.
    """
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("read_image_folder needs Pillow: pip install pillow") from None
    modes = {"rgb": "RGB", "grayscale": "L"}
    color_mode = _validate.choice("read_image_folder", "color_mode", color_mode, tuple(modes))
    if size is not None:
        size = tuple(_validate.int_pair("read_image_folder", "size", size,  # type: ignore[assignment]
                                        expected="a (height, width) pair of positive ints"))
    root = os.fspath(path)
    if not os.path.isdir(root):
        raise ValueError(f"{root}: not a directory")
    # Hidden folders are editor/notebook litter (.ipynb_checkpoints), never classes.
    class_names = sorted(e.name for e in os.scandir(root) if e.is_dir() and not e.name.startswith("."))
    if not class_names:
        raise ValueError(f"{root}: no class sub-folders found (expected one folder of images per class)")
    images, labels = [], []  # type: ignore[var-annotated]
    for cid, cname in enumerate(class_names):
        cdir = os.path.join(root, cname)
        files = sorted(e.name for e in os.scandir(cdir) if e.is_file() and not e.name.startswith("."))
        if not files:
            raise ValueError(f"{cdir}: class folder {cname!r} holds no images")
        for fname in files:
            fpath = os.path.join(cdir, fname)
            try:
                with Image.open(fpath) as im:
                    im = im.convert(modes[color_mode])
                    if size is not None and im.size != (size[1], size[0]):
                        # Pillow sizes are (width, height); ours are (height, width).
                        im = im.resize((size[1], size[0]), Image.Resampling.BILINEAR)
                    arr = np.asarray(im, dtype=np.uint8)
            # Pillow raises SyntaxError for some corrupt PNG chunks.
            except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as e:
                raise ValueError(f"{fpath}: cannot read image ({e})") from None
            if images and arr.shape[:2] != images[0].shape[:2]:
                first = images[0].shape[:2]
                raise ValueError(f"{fpath}: image is {arr.shape[0]}x{arr.shape[1]} (HxW) but earlier "
                                 f"images are {first[0]}x{first[1]}; pass size=(height, width) to resize")
            images.append(arr)
            labels.append(cid)
    x = np.stack(images)
    if x.ndim == 3:
        x = x[..., None]  # grayscale: add the channel axis
    return x, np.asarray(labels, dtype=np.int64), class_names


# ----------------------------------------------------------------------------- npz

def read_npz(path: PathLike, x_key: str = "x", y_key: str = "y") -> Tuple[np.ndarray, np.ndarray]:
    """Read ``(x, y)`` from a numpy ``.npz`` archive (pickled objects are refused).

    Raises ValueError if the file is not an .npz archive, a key is missing (listing the
    keys present), an array's header does not match its data (checked before the data is
    read) or x and y have different lengths.
    """
    name = os.fspath(path)
    f, _ = _open_regular(name)
    with f:
        if f.read(6) == b"\x93NUMPY":
            raise ValueError(f"{name}: expected an .npz archive, found a single .npy array")
        f.seek(0)
        try:
            archive = zipfile.ZipFile(f)
        except _ZIP_ERRORS as e:
            raise ValueError(f"{name}: not a readable .npz archive ({e})") from None
        with archive:
            members = archive.infolist()
            keys = [m.filename[:-4] if m.filename.endswith(".npy") else m.filename for m in members]
            for k in (x_key, y_key):
                if k not in keys:
                    raise ValueError(f"{name}: key {k!r} not found; the archive holds {keys}")
            # The last member of a name wins, as in numpy's NpzFile.
            x, y = (_npz_array(archive, members[len(keys) - 1 - keys[::-1].index(k)], name, k)
                    for k in (x_key, y_key))
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(f"{name}: x ({x_key!r}, shape {x.shape}) and y ({y_key!r}, shape "
                         f"{y.shape}) must have the same number of samples")
    return x, y


# What a forged zip directory or member makes zipfile, zlib and numpy's .npy header parser
# raise: OSError for a seek to a forged offset, RuntimeError for an encrypted member,
# NotImplementedError for an unknown compression, struct.error for short records,
# tokenize.TokenError and SyntaxError for a header that is not a Python literal, TypeError
# for a shape of bools.
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError, EOFError, zlib.error,
               RuntimeError, NotImplementedError, struct.error, OverflowError)
_NPY_ERRORS = _ZIP_ERRORS + (SyntaxError, tokenize.TokenError, TypeError, KeyError, IndexError,
                             AttributeError, RecursionError)


def _npz_array(archive: zipfile.ZipFile, member: zipfile.ZipInfo, name: str, key: str) -> np.ndarray:
    """One .npy member, its header checked against the member's size before its data is read."""
    from numpy.lib import format as npy

    where = f"{name}: array {key!r}"
    if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise ValueError(f"{where}: compression method {member.compress_type} is not what numpy "
                         "writes (stored or deflated)")
    limit = member.compress_size * (1 if member.compress_type == zipfile.ZIP_STORED else _DEFLATE_MAX_RATIO)
    if member.file_size > limit + 1024:
        raise ValueError(f"{where}: the archive says {member.file_size} bytes, more than "
                         f"{member.compress_size} compressed bytes can hold")
    header = None
    try:
        with archive.open(member) as fp:
            version = npy.read_magic(fp)
            # Version 3 differs from 2 only in the header's text encoding (UTF-8 for field
            # names), which changes neither the shape nor the item size checked here.
            if version in ((1, 0), (2, 0), (3, 0)):
                read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
                header = read_header(fp, max_header_size=10000) + (fp.tell(),)
    except _NPY_ERRORS as e:
        raise ValueError(f"{where}: not a valid .npy array ({e})") from None
    if header is None:
        raise ValueError(f"{where}: unknown .npy format version {version[0]}.{version[1]}")
    shape, _, dtype, header_end = header
    if dtype.hasobject:
        raise ValueError(f"{name}: cannot load array {key!r}: it holds Python objects, which would "
                         "need unpickling (refused: a file from elsewhere could run code)")
    if any(d < 0 for d in shape):
        raise ValueError(f"{where}: negative dimension in shape {shape}")
    need = dtype.itemsize
    for d in shape:
        need *= d
    if need != member.file_size - header_end:
        raise ValueError(f"{where}: the header promises shape {shape} of {dtype} ({need} bytes), "
                         f"the archive holds {member.file_size - header_end} bytes of data")
    try:
        with archive.open(member) as fp:
            return npy.read_array(fp, allow_pickle=False)
    except _NPY_ERRORS as e:
        raise ValueError(f"{name}: cannot load array {key!r} ({e})") from None


# ------------------------------------------------------------------------ download

_TIMEOUT_S = 60
_CHUNK = 1 << 20


def _sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, path: PathLike, sha256: str) -> str:
    """Download ``url`` to ``path`` and check its SHA-256; returns ``path``.

    If ``path`` already exists with the expected hash nothing is fetched. The data goes
    to ``path + ".part"`` first; over http(s) a leftover ``.part`` from an interrupted
    download is resumed with a Range request when the server supports it (otherwise
    the download restarts). Other schemes, such as file://, are simply read again.
    Only a file whose hash matches is moved into place, atomically (``os.replace``), so
    ``path`` never holds partial or corrupt data.

    Raises ValueError (after deleting the ``.part`` file) when the hash does not match,
    and OSError / urllib.error.URLError when the transfer fails (keeping the ``.part``
    file, so the next call resumes).
    """
    expected = sha256.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise ValueError(f"sha256: expected 64 hex digits, got {sha256!r}")
    path = os.fspath(path)
    # An existing file with another hash (old version, corruption) is replaced below.
    if os.path.isfile(path) and _sha256_file(path) == expected:
        return path
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    part = path + ".part"
    # A complete .part (killed between download and rename) needs no network at all.
    if not (os.path.isfile(part) and _sha256_file(part) == expected):
        _fetch(url, part)
        actual = _sha256_file(part)
        if actual != expected:
            os.remove(part)
            raise ValueError(f"SHA-256 mismatch for {url}: expected {expected}, got {actual}; "
                             f"the download was deleted")
    os.replace(part, path)
    return path


def _fetch(url: str, part: str) -> None:
    """Write the resource at url into part, appending when a Range request succeeds."""
    # Imported here, not at the top: urllib.request pulls in http.client, email and ssl,
    # about 35 ms of every `import pydl` for a function few sessions call.
    import urllib.error
    import urllib.parse
    import urllib.request

    resumable = urllib.parse.urlsplit(url).scheme.lower() in ("http", "https")
    start = os.path.getsize(part) if resumable and os.path.isfile(part) else 0
    req = urllib.request.Request(url, headers={"User-Agent": "pydl"})
    if start:
        req.add_header("Range", f"bytes={start}-")
    try:
        resp = urllib.request.urlopen(req, timeout=_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code != 416 or not start:
            raise
        # 416 Range Not Satisfiable: the .part is not a prefix of this file (it is at
        # least as long but its hash was wrong). Start over.
        e.close()
        os.remove(part)
        return _fetch(url, part)
    with resp:
        # Append only if the server honoured the range exactly; a 200 means it ignored
        # the Range header and sends the whole file.
        partial = getattr(resp, "status", None) == 206
        append = bool(start) and partial and \
            _content_range_start(resp.headers.get("Content-Range")) == start
        if start and partial and not append:
            # A piece from some other offset is useless: start over without a range.
            os.remove(part)
            return _fetch(url, part)
        with open(part, "ab" if append else "wb") as f:
            written = 0
            for block in iter(lambda: resp.read(_CHUNK), b""):
                f.write(block)
                written += len(block)
        length = resp.headers.get("Content-Length")
        if length is not None and length.isdigit() and written < int(length):
            # Keep the .part so that the next call resumes instead of starting over.
            raise OSError(f"download of {url} stopped after {written} of {length} bytes; "
                          f"call again to resume")


def _content_range_start(value: Optional[str]) -> Optional[int]:
    m = re.match(r"\s*bytes\s+(\d+)-", value or "")
    return int(m.group(1)) if m else None
