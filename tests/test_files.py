"""ekarta.files: identity, atomic writes, private appends and the advisory lock of a file."""

from __future__ import annotations

import os
import stat
import time

import pytest

from ekarta.errors import FileInUse, FileRefused
from ekarta.files import (
    FileLock,
    atomic_write,
    check_writable,
    find_same,
    holds_lock,
    lock_path,
    open_private_append,
    same_file,
)


def _temporaries(directory) -> list[str]:
    return sorted(n for n in os.listdir(directory) if n.endswith(".tmp"))


def test_same_file_by_identity_not_spelling(tmp_path):
    card = tmp_path / "card.json"
    card.write_text("{}")
    (tmp_path / "link.json").symlink_to(card)
    os.link(card, tmp_path / "hard.json")
    assert same_file(card, tmp_path / "link.json")
    assert same_file(card, tmp_path / "hard.json")
    assert same_file(str(card), f"{tmp_path}/./card.json")
    assert not same_file(card, tmp_path / "other.json")
    # a file that does not exist yet: by its resolved path
    assert same_file(tmp_path / "new.json", f"{tmp_path}/./new.json")
    assert find_same(tmp_path / "link.json", ["x", str(card)]) == str(card)
    assert find_same(tmp_path / "link.json", ["x"]) is None


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "out.json"
    atomic_write(path, b"one")
    atomic_write(path, b"two")
    assert path.read_bytes() == b"two"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _temporaries(tmp_path) == []


def test_atomic_write_without_overwrite_keeps_an_existing_file(tmp_path):
    path = tmp_path / "keys.json"
    path.write_bytes(b"master keys")
    with pytest.raises(FileExistsError):
        atomic_write(path, b"other", overwrite=False)
    assert path.read_bytes() == b"master keys"
    assert _temporaries(tmp_path) == []
    atomic_write(tmp_path / "new.json", b"new", overwrite=False)
    assert (tmp_path / "new.json").read_bytes() == b"new"


def test_atomic_write_follows_a_link_to_the_file(tmp_path):
    (tmp_path / "real.json").write_bytes(b"old")
    (tmp_path / "link.json").symlink_to(tmp_path / "real.json")
    atomic_write(tmp_path / "link.json", b"new")
    assert (tmp_path / "link.json").is_symlink()
    assert (tmp_path / "real.json").read_bytes() == b"new"


def test_a_save_under_the_lock_removes_only_its_own_stale_temporaries(tmp_path):
    path = tmp_path / "card.json"
    path.write_bytes(b"card")
    stale = tmp_path / ".card.json.0123abcd.tmp"
    stale.write_bytes(b"keys of the card")
    others = [".other.json.0123abcd.tmp", ".card.json.x.0123abcd.tmp", ".card.json.tmp",
              "card.json.0123abcd.tmp"]
    for name in others:
        (tmp_path / name).write_bytes(b"not ours")
    atomic_write(path, b"unlocked")  # without the lock another process may be saving: kept
    assert stale.exists()
    with FileLock(path):
        assert holds_lock(path)
        atomic_write(path, b"locked")
    assert not holds_lock(path)
    assert not stale.exists()
    assert _temporaries(tmp_path) == sorted(others)


def test_check_writable(tmp_path):
    check_writable(tmp_path / "new.json")
    with pytest.raises(FileRefused, match="is a directory"):
        check_writable(tmp_path)
    with pytest.raises(FileRefused, match="no directory"):
        check_writable(tmp_path / "missing" / "new.json")


def test_open_private_append_creates_0600_and_appends(tmp_path):
    path = tmp_path / "trace.log"
    os.umask(old := os.umask(0))  # a permissive umask must not widen the mode
    try:
        fd = open_private_append(path)
        os.write(fd, b"one\n")
        os.close(fd)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    fd = open_private_append(path)
    os.write(fd, b"two\n")
    os.close(fd)
    assert path.read_bytes() == b"one\ntwo\n"


def test_a_lock_excludes_another_holder_and_says_which_file(tmp_path):
    path = tmp_path / "card.json"
    path.write_bytes(b"card")
    with FileLock(path, what="card file"):
        other = FileLock(path, what="card file")
        started = time.monotonic()
        with pytest.raises(FileInUse, match=r"card file .*card\.json is in use by another process"):
            other.acquire(wait=0.05)
        assert time.monotonic() - started >= 0.05
        assert not other.held
    with FileLock(path, what="card file") as again:
        assert again.held


def test_the_lock_outlives_the_saves_that_replace_the_file(tmp_path):
    path = tmp_path / "card.json"
    path.write_bytes(b"one")
    with FileLock(path):
        before = path.stat().st_ino
        atomic_write(path, b"two")
        assert path.stat().st_ino != before
        with pytest.raises(FileInUse):
            FileLock(tmp_path / "." / "card.json").acquire()
    assert os.path.exists(lock_path(path))


def test_a_new_file_without_hard_links_is_still_never_written_over(tmp_path, monkeypatch):
    def no_links(src, dst):
        raise PermissionError(1, "Operation not permitted")  # as vfat and some FUSE file systems

    monkeypatch.setattr(os, "link", no_links)
    atomic_write(tmp_path / "new.json", b"new", overwrite=False)
    assert (tmp_path / "new.json").read_bytes() == b"new"
    with pytest.raises(FileExistsError):
        atomic_write(tmp_path / "new.json", b"other", overwrite=False)
    assert (tmp_path / "new.json").read_bytes() == b"new"
    assert _temporaries(tmp_path) == []
