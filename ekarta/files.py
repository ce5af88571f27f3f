"""Files that must not be lost or mixed up: identity, atomic replacement, private creation, locks.

* :func:`same_file` / :func:`find_same` — two names for one file?  By identity (device and inode)
  when the file exists, by resolved path when it does not exist yet; never by spelling.
* :func:`check_writable` — can a file be created or replaced at a path (its directory exists and
  is writable, the path is no directory)?  Callers ask before they change anything, so that a
  command that fails writes nothing.
* :func:`atomic_write` — a temporary file beside the target (``.NAME.XXXXXXXX.tmp``), written and
  flushed to disk, then renamed over the target (or linked to it when it must not exist yet): a
  reader sees the old file or the new one, never half of one.  A save that was killed leaves its
  temporary file behind; the next save of the same file by a process that holds its lock
  (:class:`FileLock`) removes it, and only files of that exact pattern.
* :func:`open_private_append` — open a file for appending, creating it readable by its owner only.
* :class:`FileLock` — an advisory lock (``flock``) on the sidecar ``PATH.lock``: the lock survives
  the renames of :func:`atomic_write`, which give PATH a new inode at every save.  The sidecar is
  never removed (removing it would let two processes lock two different files).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import re
import secrets
import stat
import time
from collections.abc import Iterable
from types import TracebackType
from typing import Self

from ekarta.errors import FileInUse, FileRefused

__all__ = [
    "LOCK_SUFFIX",
    "FileLock",
    "atomic_write",
    "check_writable",
    "find_same",
    "holds_lock",
    "lock_path",
    "open_private_append",
    "remove_stale_temporaries",
    "same_file",
]

log = logging.getLogger(__name__)

LOCK_SUFFIX = ".lock"
_TOKEN_BYTES = 4
_POLL = 0.05

# the files this process holds a FileLock on, by resolved path
_held: set[str] = set()


def _identity(name: str) -> tuple[int, int] | str:
    try:
        st = os.stat(name)
    except OSError:
        return os.path.realpath(name)
    return st.st_dev, st.st_ino


def same_file(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether ``a`` and ``b`` name one file (existing: same device and inode; else the same
    resolved path)."""
    return _identity(os.fspath(a)) == _identity(os.fspath(b))


def find_same(path: str | os.PathLike[str],
              others: Iterable[str | os.PathLike[str]]) -> str | None:
    """The first of ``others`` that is the same file as ``path``, or None."""
    mine = _identity(os.fspath(path))
    for other in others:
        if _identity(os.fspath(other)) == mine:
            return os.fspath(other)
    return None


def check_writable(path: str | os.PathLike[str]) -> None:
    """Raise :class:`FileRefused` unless a file can be written at ``path`` by
    :func:`atomic_write`: no directory there, and a writable directory to put it in."""
    name = os.fspath(path)
    if os.path.isdir(name):
        raise FileRefused(f"{name} is a directory")
    directory = os.path.dirname(os.path.realpath(name))
    if not os.path.isdir(directory):
        raise FileRefused(f"cannot write {name}: no directory {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise FileRefused(f"cannot write {name}: directory {directory} is not writable")


def _temporary_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\.{re.escape(name)}\.[0-9a-f]{{{2 * _TOKEN_BYTES}}}\.tmp\Z")


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[str]:
    """Remove the temporary files that :func:`atomic_write` left beside ``path`` when it was cut
    short; returns their names.  Only safe while no other process saves ``path`` (hold its
    :class:`FileLock`); :func:`atomic_write` calls it when this process holds that lock."""
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    pattern = _temporary_pattern(name)
    removed: list[str] = []
    try:
        entries = os.listdir(directory)
    except OSError:
        return removed
    for entry in entries:
        if pattern.match(entry):
            stale = os.path.join(directory, entry)
            with contextlib.suppress(OSError):
                if stat.S_ISREG(os.lstat(stale).st_mode):
                    os.unlink(stale)
                    removed.append(stale)
                    log.info("removed %s, left by an interrupted save of %s", stale, target)
    return removed


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = 0o600,
                 overwrite: bool = True) -> None:
    """Write ``data`` to ``path`` all at once (see the module docstring).

    ``mode`` is the new file's permissions (a private mode, no bits for group and others, is set
    exactly; others are left to the umask).  With ``overwrite`` false an existing ``path`` raises
    :class:`FileExistsError` and is left alone.  A symbolic link at ``path`` is followed: the file
    it points to is replaced.  Failures raise :class:`OSError`, and leave no temporary file.
    """
    target = os.path.realpath(os.fspath(path))
    directory, name = os.path.split(target)
    if target in _held:
        remove_stale_temporaries(target)
    while True:
        temporary = os.path.join(directory, f".{name}.{secrets.token_hex(_TOKEN_BYTES)}.tmp")
        try:
            fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        except FileExistsError:
            continue
        break
    try:
        with os.fdopen(fd, "wb") as out:
            if not mode & 0o077:
                os.fchmod(out.fileno(), mode)
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temporary, target)
        else:
            _link_new(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _sync_directory(directory)


def _link_new(temporary: str, target: str) -> None:
    """Give ``temporary`` the name ``target``, which must not exist (FileExistsError)."""
    try:
        os.link(temporary, target)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK):
            raise
        # a file system without hard links: claim the name, then rename over the claim
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600))
        os.replace(temporary, target)
    else:
        os.unlink(temporary)


def _sync_directory(directory: str) -> None:
    # the rename itself must reach the disk, or a power cut may bring back the old file
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY | os.O_CLOEXEC)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def open_private_append(path: str | os.PathLike[str], *, mode: int = 0o600) -> int:
    """A descriptor appending to ``path``; a file that does not exist yet is created with
    ``mode`` (by default readable and writable by its owner only).  Raises :class:`OSError`."""
    name = os.fspath(path)
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
    try:
        fd = os.open(name, flags | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        return os.open(name, flags)
    try:
        os.fchmod(fd, mode)
    except OSError:
        os.close(fd)
        raise
    return fd


def lock_path(path: str | os.PathLike[str]) -> str:
    """The sidecar file that :class:`FileLock` locks for ``path`` (``PATH.lock``, resolved)."""
    return os.path.realpath(os.fspath(path)) + LOCK_SUFFIX


def holds_lock(path: str | os.PathLike[str]) -> bool:
    """Whether this process holds a :class:`FileLock` on ``path``."""
    return os.path.realpath(os.fspath(path)) in _held


class FileLock:
    """An exclusive advisory lock on ``path`` for as long as it is held (see the module docstring).

    ``what`` names the file in the error (``"card file"``).  :meth:`acquire` waits up to ``wait``
    seconds for another holder to let go, then raises :class:`~ekarta.errors.FileInUse`.  Two
    locks on one file exclude each other within one process too.  A context manager
    (``with FileLock(path).acquire(wait=5):``) releases on exit.
    """

    def __init__(self, path: str | os.PathLike[str], *, what: str = "file") -> None:
        self.path = os.fspath(path)
        self.what = what
        self._target = os.path.realpath(self.path)
        self._fd = -1

    @property
    def held(self) -> bool:
        return self._fd >= 0

    def acquire(self, wait: float = 0.0) -> Self:
        if self.held:
            return self
        deadline = time.monotonic() + max(0.0, wait)
        announced = False
        while True:
            fd = self._open()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise FileInUse(
                        f"{self.what} {self.path} is in use by another process") from None
                if not announced:
                    log.info("%s %s is in use by another process; waiting up to %g s",
                             self.what, self.path, left)
                    announced = True
                time.sleep(min(_POLL, left))
                continue
            except OSError as exc:
                os.close(fd)
                raise FileRefused(f"cannot lock {self.what} {self.path}: "
                                  f"{exc.strerror or exc}") from exc
            if self._still_linked(fd):
                break
            os.close(fd)  # the sidecar was removed meanwhile: lock the one that is there now
        self._fd = fd
        _held.add(self._target)
        return self

    def _open(self) -> int:
        name = self._target + LOCK_SUFFIX
        try:
            return os.open(name, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise FileRefused(f"cannot lock {self.what} {self.path}: cannot open {name}: "
                              f"{exc.strerror or exc}") from exc

    def _still_linked(self, fd: int) -> bool:
        try:
            return os.path.samestat(os.fstat(fd), os.stat(self._target + LOCK_SUFFIX))
        except OSError:
            return False

    def release(self) -> None:
        if not self.held:
            return
        fd, self._fd = self._fd, -1
        _held.discard(self._target)
        os.close(fd)  # closing the only descriptor releases the flock

    def __enter__(self) -> Self:
        return self.acquire()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.release()

    def __repr__(self) -> str:
        return f"<FileLock {self.path!r}{' held' if self.held else ''}>"
