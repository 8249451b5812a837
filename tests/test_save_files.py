"""save(): the file system side of a save. Modes follow the umask (new file) or the file being
replaced, symlinks are written through, non-regular targets are refused, and temp files left
by killed saves of this host are cleaned up without touching those of live writers."""
import os
import socket
import stat
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import pydl
from pydl import layers


def small_model():
    return pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=1)


def mode_of(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("umask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_file_gets_the_mode_of_the_umask(tmp_path, umask, expected):
    # A subprocess: the umask is process-wide, and the test must not leak it.
    path = tmp_path / "m.pydl"
    code = textwrap.dedent(f"""
        import os, pydl
        from pydl import layers
        os.umask({umask:#o})
        pydl.Sequential([layers.Input((3,)), layers.Dense(2)], seed=1).save({str(path)!r})
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.__file__))  # not the source tree: its pydl has no _core
    assert mode_of(path) == expected


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o600, 0o664])
def test_saving_over_a_file_keeps_its_mode(tmp_path, mode):
    path = tmp_path / "m.pydl"
    path.write_bytes(b"old")
    os.chmod(path, mode)
    small_model().save(str(path))
    assert mode_of(path) == mode
    assert pydl.load_model(str(path)).get_weights()[0].shape == (3, 2)


def test_saving_onto_a_symlink_writes_its_target(tmp_path):
    real_dir = tmp_path / "real"
    real_dir.mkdir()
    target = real_dir / "m.pydl"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link_dir = tmp_path / "links"
    link_dir.mkdir()
    link = link_dir / "m.pydl"
    os.symlink(os.path.relpath(target, link_dir), link)
    model = small_model()
    model.save(str(link))
    assert os.path.islink(link) and os.path.realpath(link) == str(target)
    assert mode_of(target) == 0o640
    loaded = pydl.load_model(str(target))
    w, lw = model.get_weights(), loaded.get_weights()
    assert len(w) == len(lw) == 2
    assert all(np.array_equal(a, b) for a, b in zip(w, lw))
    # the temp file went next to the target, and nothing is left in either directory
    assert sorted(os.listdir(real_dir)) == ["m.pydl"]
    assert sorted(os.listdir(link_dir)) == ["m.pydl"]


def test_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "link.pydl"
    os.symlink("made.pydl", link)
    small_model().save(str(link))
    assert os.path.islink(link)
    assert pydl.load_model(str(tmp_path / "made.pydl")).get_weights()[0].shape == (3, 2)


@pytest.fixture
def no_writes_in_dev(monkeypatch):
    """Makes a regression harmless: run as root, a save that does not refuse /dev/null would
    replace the system's /dev/null with a regular file. Any creation or rename in /dev fails."""
    real_open, real_replace = os.open, os.replace

    def guarded_open(path, flags, *args, **kwargs):
        if flags & os.O_CREAT and os.path.realpath(path).startswith("/dev/"):
            raise AssertionError(f"save tried to create {path} in /dev")
        return real_open(path, flags, *args, **kwargs)

    def guarded_replace(src, dst, *args, **kwargs):
        if os.path.realpath(dst).startswith("/dev/"):
            raise AssertionError(f"save tried to replace {dst}")
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded_open)
    monkeypatch.setattr(os, "replace", guarded_replace)
    monkeypatch.setattr(os, "rename", guarded_replace)


def test_device_node_is_refused_and_left_alone(tmp_path, no_writes_in_dev):
    before = os.stat("/dev/null")
    with pytest.raises(ValueError, match=r"'/dev/null'.*not a regular file"):
        small_model().save("/dev/null")
    after = os.stat("/dev/null")
    assert stat.S_ISCHR(after.st_mode) and after.st_ino == before.st_ino
    assert after.st_rdev == before.st_rdev
    assert not [n for n in os.listdir("/dev") if n.startswith(".tmp-")]


def test_own_device_node_is_refused(tmp_path):
    node = tmp_path / "null.pydl"
    try:
        os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # a null device of our own
    except PermissionError:
        pytest.skip("creating a device node needs root (CAP_MKNOD)")
    with pytest.raises(ValueError, match="null.pydl.*not a regular file"):
        small_model().save(str(node))
    assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert os.listdir(tmp_path) == ["null.pydl"]


def test_symlink_to_a_device_node_is_refused(tmp_path, no_writes_in_dev):
    link = tmp_path / "null.pydl"
    os.symlink("/dev/null", link)
    with pytest.raises(ValueError, match="null.pydl.*not a regular file"):
        small_model().save(str(link))
    assert os.path.islink(link) and os.readlink(link) == "/dev/null"


def test_fifo_and_directory_are_refused(tmp_path):
    fifo = tmp_path / "fifo.pydl"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="fifo.pydl.*not a regular file"):
        small_model().save(str(fifo))  # would block forever if it opened the FIFO
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    folder = tmp_path / "dir.pydl"
    folder.mkdir()
    with pytest.raises(ValueError, match="dir.pydl.*not a regular file"):
        small_model().save(str(folder))
    assert folder.is_dir() and not list(folder.iterdir())
    assert sorted(os.listdir(tmp_path)) == ["dir.pydl", "fifo.pydl"]


def dead_pid():
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # reaped: no process has this pid (until the kernel reuses it)


def tmp_name(host, pid, rand="deadbeef"):
    return f".tmp-pydl-{host}-{pid}-{rand}.pydl"


def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    host = socket.gethostname()
    pid = dead_pid()
    stale = tmp_path / tmp_name(host, pid)
    stale.write_bytes(b"half a model")
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / tmp_name(host, sleeper.pid)
        live.write_bytes(b"being written")
        mine = tmp_path / tmp_name(host, os.getpid())  # another thread of this process
        mine.write_bytes(b"being written")
        other_host = tmp_path / tmp_name(host + "-elsewhere", pid)  # cannot tell if it lives
        other_host.write_bytes(b"x")
        not_ours = tmp_path / f".tmp-{pid}-x.pydl"
        not_ours.write_bytes(b"x")
        no_pid = tmp_path / tmp_name(host, 10 ** 30)  # os.kill would raise OverflowError
        no_pid.write_bytes(b"x")
        small_model().save(str(tmp_path / "m.pydl"))
        assert not stale.exists()
        assert live.exists() and mine.exists() and other_host.exists() and not_ours.exists() and no_pid.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert sorted(os.listdir(tmp_path)) == sorted(
        ["m.pydl", live.name, mine.name, other_host.name, not_ours.name, no_pid.name])


def test_temp_file_name_names_host_and_pid(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    small_model().save(str(tmp_path / "m.pydl"))
    assert len(seen) == 1
    prefix = f".tmp-pydl-{socket.gethostname()}-{os.getpid()}-"
    assert seen[0].startswith(prefix) and seen[0].endswith(".pydl")
