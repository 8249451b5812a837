"""Readers on hostile files: every malformed input is a ValueError naming the file (an I/O
failure an OSError), headers are read before bodies, and no reader reads more than its header
promises (a gzip bomb, a lying .npy header, /dev/zero)."""
import gzip
import io
import os
import re
import struct
import zipfile

import numpy as np
import pytest

from pydl.data.readers import read_cifar10_batch, read_csv, read_idx, read_image_folder, read_npz


def npz_with(path, members):
    """An .npz (zip) archive with the given raw member bytes."""
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def npy_member(header: str, body: bytes = b"", version: int = 1) -> bytes:
    h = header.encode("latin1")
    size = struct.pack("<H", len(h)) if version == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([version, 0]) + size + h + body


GOOD_Y = npy_member("{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", b"\0" * 24)


def idx_header(code, shape):
    return bytes([0, 0, code, len(shape)]) + b"".join(struct.pack(">I", d) for d in shape)


# ------------------------------------------------------------ non-regular files, all readers

READERS = {
    "read_idx": read_idx,
    "read_cifar10_batch": read_cifar10_batch,
    "read_csv": lambda p: read_csv(p, "y"),
    "read_npz": read_npz,
}


@pytest.mark.parametrize("reader", READERS)
def test_readers_refuse_non_regular_files(tmp_path, reader):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)  # opening it for reading would block until a writer comes
    for path in ("/dev/zero", "/dev/null", str(tmp_path), str(fifo)):
        with pytest.raises(ValueError, match=re.escape(path) + ": not a regular file but a "):
            READERS[reader](path)


@pytest.mark.parametrize("reader", READERS)
def test_readers_missing_file_is_an_oserror(tmp_path, reader):
    with pytest.raises(FileNotFoundError):
        READERS[reader](str(tmp_path / "missing"))


def test_image_folder_on_a_device_is_refused():
    with pytest.raises(ValueError, match="/dev/zero: not a directory"):
        read_image_folder("/dev/zero")


def test_image_folder_skips_special_files(tmp_path):
    from PIL import Image

    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((4, 4, 3), np.uint8)).save(tmp_path / "a" / "img.png")
    os.mkfifo(tmp_path / "a" / "pipe.png")  # would block Pillow forever
    os.symlink("/dev/zero", tmp_path / "a" / "zero.png")
    x, y, names = read_image_folder(tmp_path)
    assert x.shape == (1, 4, 4, 3) and names == ["a"]


# -------------------------------------------------------------------------------- IDX

def test_idx_gzip_bomb_is_refused_before_it_is_inflated(tmp_path):
    # A header promising 256 MB of data, followed by 64 MB of zeros compressed into 64 KB:
    # the promise is more than the file can hold, so nothing is decompressed at all.
    import tracemalloc

    data = idx_header(0x08, (16384, 16384)) + b"\0" * (64 << 20)
    p = tmp_path / "bomb.gz"
    p.write_bytes(gzip.compress(data, compresslevel=9))
    assert os.path.getsize(p) < 256 << 10
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"bomb\.gz: truncated IDX data: shape \(16384, 16384\) of uint8 "
                                             r"needs 268435456 bytes, more than a gzip file of \d+ bytes can hold"):
            read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated: the data was inflated"


def test_idx_gzip_reads_no_more_than_the_header_promises(tmp_path):
    # A plausible header (1 KB of data) followed by 64 MB of zeros: refused as trailing data
    # after reading the 1 KB and one byte more, without inflating the rest.
    import tracemalloc

    data = idx_header(0x08, (1024,)) + b"\1" * 1024 + b"\0" * (64 << 20)
    p = tmp_path / "trail.gz"
    p.write_bytes(gzip.compress(data, compresslevel=9))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"trail\.gz: unexpected trailing bytes after the IDX data "
                                             r"\(shape \(1024,\) of uint8 needs 1024 bytes, found more\)"):
            read_idx(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"{peak} bytes allocated: the trailing data was inflated"


def test_idx_gzip_truncated_data(tmp_path):
    data = idx_header(0x0C, (2, 3)) + b"\0" * 20
    p = tmp_path / "short.gz"
    p.write_bytes(gzip.compress(data))
    with pytest.raises(ValueError, match=r"short\.gz: truncated IDX data: shape \(2, 3\) of int32 needs 24 "
                                         r"bytes, found 20"):
        read_idx(p)
    p.write_bytes(gzip.compress(idx_header(0x0C, (2, 3))[:6]))
    with pytest.raises(ValueError, match=r"short\.gz: truncated IDX header: expected 12 bytes for 2 "
                                         r"dimensions, found 6"):
        read_idx(p)


def test_idx_uncompressed_lying_header_reads_nothing(tmp_path):
    p = tmp_path / "lie.idx"
    p.write_bytes(idx_header(0x0E, (2 ** 32 - 1,) * 4) + b"\0" * 8)
    with pytest.raises(ValueError, match=r"lie\.idx: truncated IDX data: .* of float64 needs \d+ bytes, found 8"):
        read_idx(p)


def test_idx_gzip_round_trip_still_exact(tmp_path):
    arr = np.arange(-600, 600, dtype=">i2").reshape(30, 40)
    p = tmp_path / "ok.gz"
    p.write_bytes(gzip.compress(idx_header(0x0B, arr.shape) + arr.tobytes()))
    out = read_idx(p)
    assert out.dtype == np.int16 and out.dtype.isnative and out.flags.writeable
    np.testing.assert_array_equal(out, arr)


# -------------------------------------------------------------------------------- CSV

def test_csv_field_over_the_limit_is_a_valueerror(tmp_path):
    p = tmp_path / "long.csv"
    p.write_text("a,y\n1,0\n" + "2" * 200_000 + ",1\n")
    with pytest.raises(ValueError, match=r"long\.csv: line 3: malformed CSV \(field larger than field limit"):
        read_csv(p, "y")


def test_csv_bad_utf8_names_the_file_and_line(tmp_path):
    p = tmp_path / "latin1.csv"
    p.write_bytes(b"a,y\n1,0\n2,0\n3,caf\xe9\n")
    with pytest.raises(ValueError, match=r"latin1\.csv: after line \d+: not UTF-8 text \(invalid continuation "
                                         r"byte: byte 0xe9\)"):
        read_csv(p, "y")


def test_csv_without_newlines_is_refused_without_reading_it_all(tmp_path):
    p = tmp_path / "one-line.csv"
    with open(p, "w") as f:
        f.write("a" * ((1 << 24) + 10))
    with pytest.raises(ValueError, match=r"one-line\.csv: a line longer than 16777216 characters"):
        read_csv(p, "y")


# -------------------------------------------------------------------------------- npz

FORGED_NPY_HEADERS = [
    # not a literal: numpy's parser raises tokenize.TokenError / SyntaxError for these
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,)",
    '"""',
    "(" * 300,
    "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), 'x': f(1)}",
    # a shape of bools: TypeError inside numpy
    "{'descr': '<f4', 'fortran_order': False, 'shape': (True,), }",
    "{'descr': 'x', 'fortran_order': False, 'shape': (3,), }",
    "{'descr': [5], 'fortran_order': False, 'shape': (3,), }",
    "{'descr': ('<f4', (2**40,)), 'fortran_order': False, 'shape': (3,), }",
    "{'descr': '<f4', 'fortran_order': 'no', 'shape': (3,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (-3,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2**70,), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2**32, 2**32), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }",
    "{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",  # 16 bytes promised, 12 there
    "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",  # 8 promised, 12 there
]


@pytest.mark.parametrize("version", [1, 2, 3])
@pytest.mark.parametrize("header", FORGED_NPY_HEADERS)
def test_npz_forged_npy_header(tmp_path, header, version):
    p = npz_with(tmp_path / "forged.npz", {"x.npy": npy_member(header, b"\0" * 12, version), "y.npy": GOOD_Y})
    with pytest.raises(ValueError, match=r"forged\.npz: array 'x': "):
        read_npz(p)


def test_npz_lying_shape_is_refused_before_allocating(tmp_path):
    import tracemalloc

    p = npz_with(tmp_path / "big.npz", {
        "x.npy": npy_member("{'descr': '<f8', 'fortran_order': False, 'shape': (100000, 10000), }", b"\0" * 64),
        "y.npy": GOOD_Y})
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"big\.npz: array 'x': the header promises shape \(100000, 10000\) "
                                             r"of float64 \(8000000000 bytes\), the archive holds 64 bytes"):
            read_npz(p)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_npz_member_size_beyond_its_compression_is_refused(tmp_path):
    # A zip directory claiming 1 GB for a member of a few compressed bytes (a zip bomb or a
    # forged directory): refused from the directory alone.
    p = tmp_path / "dir.npz"
    npz_with(p, {"x.npy": npy_member("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", b"\0" * 12),
                 "y.npy": GOOD_Y})
    data = bytearray(p.read_bytes())
    cd = data.rfind(b"PK\x01\x02", 0, data.rfind(b"PK\x01\x02"))  # x.npy's directory entry
    struct.pack_into("<I", data, cd + 24, 1 << 30)  # uncompressed size
    p.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"dir\.npz: array 'x': the archive says 1073741824 bytes, more than "
                                         r"\d+ compressed bytes can hold"):
        read_npz(p)


def test_npz_damaged_archives(tmp_path):
    good = npy_member("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", b"\0" * 12)
    p = npz_with(tmp_path / "ok.npz", {"x.npy": good, "y.npy": GOOD_Y})
    x, y = read_npz(p)
    assert x.shape == (3,) and y.shape == (3,)
    data = p.read_bytes()
    for cut in range(0, len(data), 7):  # every truncation point (7-byte steps)
        bad = tmp_path / "cut.npz"
        bad.write_bytes(data[:cut])
        with pytest.raises(ValueError, match=r"cut\.npz: "):
            read_npz(bad)
    rng = np.random.default_rng(0)
    for _ in range(300):  # random byte flips
        flipped = bytearray(data)
        for i in rng.integers(0, len(data), 3):
            flipped[i] = int(rng.integers(0, 256))
        bad = tmp_path / "flip.npz"
        bad.write_bytes(bytes(flipped))
        try:
            read_npz(bad)
        except ValueError as e:
            assert "flip.npz: " in str(e)


def test_npz_member_not_npy(tmp_path):
    p = npz_with(tmp_path / "raw.npz", {"x": b"just bytes", "y.npy": GOOD_Y})
    with pytest.raises(ValueError, match=r"raw\.npz: array 'x': not a valid \.npy array"):
        read_npz(p)


def test_npz_other_compression_is_refused(tmp_path):
    p = tmp_path / "bz.npz"
    with zipfile.ZipFile(p, "w", compression=zipfile.ZIP_BZIP2) as z:
        z.writestr("x.npy", npy_member("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", b"\0" * 12))
        z.writestr("y.npy", GOOD_Y)
    with pytest.raises(ValueError, match=r"bz\.npz: array 'x': compression method 12 is not what numpy writes"):
        read_npz(p)


def test_npz_compressed_and_version3_still_load(tmp_path):
    x = np.arange(12, dtype=np.float32).reshape(4, 3)
    p = tmp_path / "c.npz"
    np.savez_compressed(p, x=x, y=np.arange(4))
    xr, yr = read_npz(p)
    np.testing.assert_array_equal(xr, x)
    # a structured array with a non-latin-1 field name is written as .npy version 3.0
    s = np.zeros(4, dtype=[("größe€", "<f4")])
    with pytest.warns(UserWarning, match="format 3.0"):
        np.savez(p, x=s, y=np.arange(4))
    xr, _ = read_npz(p)
    assert xr.dtype.names == ("größe€",)


# ------------------------------------------------------------------------ CIFAR-10 archive

def test_cifar10_archive_member_sizes_are_checked_before_reading(tmp_path):
    import tarfile

    from pydl.data import datasets

    def archive_with(size):
        p = tmp_path / "cifar-10-binary.tar.gz"
        with tarfile.open(p, "w:gz") as tar:
            info = tarfile.TarInfo("cifar-10-batches-bin/data_batch_1.bin")
            info.size = size
            tar.addfile(info, io.BytesIO(bytes(size)))
        return p

    record = 3073
    with pytest.raises(ValueError, match=r"data_batch_1\.bin: 30733073 bytes, more than the 30730000 of a "
                                         r"CIFAR-10 batch"):
        datasets.load_cifar10(path=archive_with(10001 * record))
    with pytest.raises(ValueError, match=r"data_batch_1\.bin: size 3074 bytes is not a multiple"):
        datasets.load_cifar10(path=archive_with(record + 1))
