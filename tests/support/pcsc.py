"""Test support: pcscd with vsmartcard's vpcd driver, and an emulated card in its reader.

``serve_pcsc(host)`` makes sure pcscd runs, connects a :class:`~ekarta.emulator.vpcd.VpcdFrontEnd`
for ``host`` to one of vpcd's two readers, waits until pcscd shows the card there, and yields the
reader URL for :func:`ekarta.readers.open_reader`: ``"pcsc:Virtual PCD 00 00"``, or
``"pcsc:Virtual PCD 00 01"`` when another test process holds the first reader (both busy: it waits
up to 60 s for one).  Leaving the context stops the front-end; by then pcscd has seen the card
leave.  Keyword arguments go to ``VpcdFrontEnd`` (``mute_timeout=0.3``...).  The card must be in
the field when the context starts.

The daemon.  pcscd is one per machine (socket ``/run/pcscd/pcscd.comm``), and several test
processes may use it at once (developers run suites side by side), so they coordinate with
``flock`` on files in the temporary directory:

* a process that uses pcscd holds a shared lock on ``ekarta-pcscd.users.lock`` for as long as it
  does (one per process, however many fixtures and contexts use it);
* if no pcscd runs (``pidof pcscd`` and its socket), the first user starts ``pcscd --foreground``
  (log in a temporary file, quoted if it does not come up) and writes its pid to
  ``ekarta-pcscd.pid``;
* the last user to leave (it gets the lock exclusively) stops the pcscd whose pid is in that file
  (SIGTERM, SIGKILL after 5 s).  A pcscd started otherwise (by the system) is never stopped;
* each vpcd reader in use is locked with ``ekarta-vpcd-PORT.lock``.

A fresh card per test: serving a new card costs about 0.8 s (pcscd looks at its readers every
0.4 s, and must see one card leave before the next one comes).  A suite that wants a fresh card
for each of hundreds of tests serves one host for the session and calls :func:`factory_reset`
before each test: the card becomes factory-fresh where it is, and the reader keeps its connection.

One pcscd for a whole test session: the session-scoped :func:`pcscd` fixture — put
``pytest_plugins = ["support.pcsc"]`` in a ``conftest.py`` (the ``tests`` directory is on
``sys.path`` under pytest), or import the fixture into a test module.  ``Pcscd.stopped()`` stops
and restarts a test-started pcscd that no other process uses, for tests of pcscd going away.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest
from smartcard import scard

from ekarta.emulator.host import CardHost
from ekarta.emulator.vpcd import DEFAULT_PORT, VpcdFrontEnd

__all__ = [
    "PCSCD_SOCKET",
    "VIRTUAL_READERS",
    "Pcscd",
    "PcscdShared",
    "ensure_pcscd",
    "factory_reset",
    "pcscd",
    "pcscd_running",
    "reader_state",
    "serve_pcsc",
    "wait_reader",
]

PCSCD_SOCKET = "/run/pcscd/pcscd.comm"
VIRTUAL_READERS = ("Virtual PCD 00 00", "Virtual PCD 00 01")
"""vpcd's two readers; reader N takes its card on port 35963 + N."""

LOCK_DIR = Path(tempfile.gettempdir())
USERS_LOCK = LOCK_DIR / "ekarta-pcscd.users.lock"
START_LOCK = LOCK_DIR / "ekarta-pcscd.start.lock"
PID_FILE = LOCK_DIR / "ekarta-pcscd.pid"

STARTUP_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
LOCK_TIMEOUT = 60.0   # another process starting, stopping or restarting pcscd
SLOT_TIMEOUT = 60.0   # both vpcd readers used by other test processes
ACCEPT_TIMEOUT = 3.0  # pcscd accepts a virtual card when it polls the reader, every 0.4 s
PRESENCE_TIMEOUT = 5.0


class PcscdShared(RuntimeError):
    """pcscd cannot be stopped now: another process uses it, or the tests did not start it."""


# --- pcscd and its readers, as seen from outside --------------------------------------------------


def _pcscd_pids() -> list[int]:
    pidof = shutil.which("pidof") or "/usr/bin/pidof"
    try:
        result = subprocess.run([pidof, "pcscd"], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [int(pid) for pid in result.stdout.split() if pid.isdigit()]


def pcscd_running() -> bool:
    """Whether a pcscd runs and listens on its socket."""
    return bool(_pcscd_pids()) and os.path.exists(PCSCD_SOCKET)


def _is_live_pcscd(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "PID (comm) STATE ...": a zombie has exited already
    comm, _, rest = stat.partition(") ")
    return comm.endswith("(pcscd") and not rest.startswith("Z")


def _readers() -> list[str]:
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return []
    try:
        hresult, names = scard.SCardListReaders(context, [])
        return list(names) if hresult == scard.SCARD_S_SUCCESS else []
    finally:
        scard.SCardReleaseContext(context)


def reader_state(name: str) -> int:
    """pcscd's state bits for reader ``name`` (``SCARD_STATE_*``), 0 if pcscd is not there."""
    hresult, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
    if hresult != scard.SCARD_S_SUCCESS:
        return 0
    try:
        hresult, states = scard.SCardGetStatusChange(context, 0,
                                                     [(name, scard.SCARD_STATE_UNAWARE)])
        if hresult != scard.SCARD_S_SUCCESS or not states:
            return 0
        return int(states[0][1]) & 0xFFFF
    finally:
        scard.SCardReleaseContext(context)


def wait_reader(name: str, present: bool, timeout: float = PRESENCE_TIMEOUT) -> bool:
    """Wait until pcscd shows a card in ``name`` (or none); False if it did not in time."""
    deadline = time.monotonic() + timeout
    while True:
        if bool(reader_state(name) & scard.SCARD_STATE_PRESENT) == present:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


# --- file locks between test processes ------------------------------------------------------------


def _flock(file: IO[Any], operation: int, timeout: float, what: str) -> None:
    """flock with a bounded wait (flock itself would wait for ever)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(file, operation | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{what} stayed locked by another process for "
                                   f"{timeout:g} s") from None
            time.sleep(0.05)


@contextlib.contextmanager
def _locked(path: Path, what: str, timeout: float = LOCK_TIMEOUT) -> Iterator[None]:
    with open(path, "a") as file:
        _flock(file, fcntl.LOCK_EX, timeout, what)
        yield


def _try_exclusive(file: IO[Any]) -> bool:
    """Turn our shared lock into an exclusive one if nobody else holds it; keep it shared if
    somebody does (a failed conversion may drop the lock, so it is taken again)."""
    try:
        fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        _flock(file, fcntl.LOCK_SH, LOCK_TIMEOUT, str(USERS_LOCK))
        return False


# --- the daemon -----------------------------------------------------------------------------------


class Pcscd:
    """The pcscd the tests use, shared by every user in this process (see the module docs)."""

    def __init__(self) -> None:
        self._users_file: IO[Any] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path: str | None = None

    @property
    def pid(self) -> int | None:
        pids = _pcscd_pids()
        return pids[0] if pids else None

    @property
    def started(self) -> bool:
        """Whether the running pcscd was started by a test process (so tests may stop it)."""
        pid = _read_pid_file()
        return pid is not None and _is_live_pcscd(pid) and pid in _pcscd_pids()

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not os.path.exists(self.log_path):
            return "(no log here: this process did not start pcscd)"
        with open(self.log_path, errors="replace") as log:
            return "".join(log.readlines()[-lines:])

    def _join(self) -> None:
        users = open(USERS_LOCK, "a")  # noqa: SIM115 (held until _leave)
        try:
            _flock(users, fcntl.LOCK_SH, LOCK_TIMEOUT, str(USERS_LOCK))
            with _locked(START_LOCK, str(START_LOCK)):
                if not pcscd_running():
                    self._spawn()
        except BaseException:
            users.close()
            raise
        self._users_file = users

    def _leave(self) -> None:
        users, self._users_file = self._users_file, None
        if users is None:
            return
        try:
            with _locked(START_LOCK, str(START_LOCK)):
                if _try_exclusive(users):  # the last user: stop what a test process started
                    self._kill_started()
        finally:
            users.close()
            if self.log_path is not None:
                with contextlib.suppress(OSError):
                    os.unlink(self.log_path)

    def _spawn(self) -> None:
        if shutil.which("pcscd") is None and not os.path.exists("/usr/sbin/pcscd"):
            raise RuntimeError("pcscd is not installed: run scripts/install")
        if self.log_path is None:
            fd, self.log_path = tempfile.mkstemp(prefix="ekarta-pcscd-", suffix=".log")
            os.close(fd)
        with open(self.log_path, "ab") as log:
            self._process = subprocess.Popen(
                ["pcscd", "--foreground"], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)
        PID_FILE.write_text(f"{self._process.pid}\n")
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while VIRTUAL_READERS[0] not in _readers():
            if self._process.poll() is not None:
                raise RuntimeError(f"pcscd exited with status {self._process.returncode}:\n"
                                   f"{self.log_tail()}")
            if time.monotonic() >= deadline:
                self._kill_started()
                raise RuntimeError(f"pcscd did not list {VIRTUAL_READERS[0]!r} within "
                                   f"{STARTUP_TIMEOUT:g} s (is vsmartcard-vpcd installed?):\n"
                                   f"{self.log_tail()}")
            time.sleep(0.05)

    def _kill_started(self) -> None:
        """Stop the pcscd a test process started, if it still runs; forget its pid."""
        pid = _read_pid_file()
        with contextlib.suppress(OSError):
            PID_FILE.unlink()
        if pid is None or not _is_live_pcscd(pid):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        if self._process is not None and self._process.pid == pid:
            try:
                self._process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(STOP_TIMEOUT)
            self._process = None
            return
        deadline = time.monotonic() + STOP_TIMEOUT
        while _is_live_pcscd(pid):  # another process's child: wait for it to go
            if time.monotonic() >= deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                deadline = time.monotonic() + STOP_TIMEOUT
            time.sleep(0.05)

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """pcscd stopped for the duration of the context, started again after.

        Raises :class:`PcscdShared` when another process uses pcscd too, or when it was not
        started by a test process (a system pcscd is not the tests' to stop).
        """
        users = self._users_file
        if users is None:
            raise RuntimeError("use Pcscd through ensure_pcscd() or the pcscd fixture")
        with _locked(START_LOCK, str(START_LOCK)):
            if not self.started:
                raise PcscdShared("pcscd was not started by the tests: not ours to stop")
            if not _try_exclusive(users):
                raise PcscdShared("another test process uses pcscd now")
            self._kill_started()
        try:
            yield
        finally:
            with _locked(START_LOCK, str(START_LOCK)):
                try:
                    if not pcscd_running():
                        self._spawn()
                finally:
                    _flock(users, fcntl.LOCK_SH, LOCK_TIMEOUT, str(USERS_LOCK))


def _read_pid_file() -> int | None:
    try:
        text = PID_FILE.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


_daemon: Pcscd | None = None
_daemon_users = 0
_daemon_lock = threading.Lock()


@contextlib.contextmanager
def ensure_pcscd() -> Iterator[Pcscd]:
    """A running pcscd for the duration of the context (see the module docstring)."""
    global _daemon, _daemon_users
    with _daemon_lock:
        if _daemon is None:
            daemon = Pcscd()
            daemon._join()
            _daemon = daemon
        _daemon_users += 1
        daemon = _daemon
    try:
        yield daemon
    finally:
        with _daemon_lock:
            _daemon_users -= 1
            if _daemon_users == 0:
                _daemon = None
                daemon._leave()


@pytest.fixture(scope="session")
def pcscd() -> Iterator[Pcscd]:
    """One pcscd (with vpcd) for the whole test session."""
    with ensure_pcscd() as daemon:
        yield daemon


# --- the card in a virtual reader -----------------------------------------------------------------


@contextlib.contextmanager
def _reader_slot() -> Iterator[tuple[int, str, IO[Any]]]:
    """A vpcd reader no other test process uses: (its port, its name, its lock file)."""
    deadline = time.monotonic() + SLOT_TIMEOUT
    while True:
        for slot, name in enumerate(VIRTUAL_READERS):
            port = DEFAULT_PORT + slot
            file = open(LOCK_DIR / f"ekarta-vpcd-{port}.lock", "a")  # noqa: SIM115
            try:
                fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                file.close()
                continue
            try:
                yield port, name, file
                return
            finally:
                file.close()
        if time.monotonic() >= deadline:
            raise TimeoutError(f"both vpcd readers stayed in use by other test processes for "
                               f"{SLOT_TIMEOUT:g} s")
        time.sleep(0.1)


@contextlib.contextmanager
def serve_pcsc(host: CardHost, **front_end_options: Any) -> Iterator[str]:
    """Serve ``host``'s card in a vpcd reader of pcscd; yield the ``pcsc:`` reader URL."""
    if not host.present:
        raise ValueError("serve_pcsc needs the card in the field (vpcd takes it only then)")
    with ensure_pcscd() as daemon, _reader_slot() as (port, name, _lock):
        front_end = VpcdFrontEnd(host, ("127.0.0.1", port), **front_end_options)
        front_end.start()
        try:
            # vpcd takes one card per reader: only a first message proves it took this one
            if not front_end.wait_served(ACCEPT_TIMEOUT):
                raise RuntimeError(f"vpcd did not take the card in {name!r} within "
                                   f"{ACCEPT_TIMEOUT:g} s (a card of some other program in "
                                   f"it?); front-end: {front_end.describe()}")
            if not wait_reader(name, True):
                raise RuntimeError(f"pcscd does not show the card in {name!r} after "
                                   f"{PRESENCE_TIMEOUT:g} s:\n{daemon.log_tail()}")
            yield f"pcsc:{name}"
        finally:
            front_end.stop()
            if front_end.messages:
                # the next user of this reader must not find this card still there
                wait_reader(name, False)


def factory_reset(host: CardHost, uid: bytes | None = None) -> None:
    """Make ``host``'s card factory-fresh in place (:meth:`CardHost.factory_reset`); readers
    connected to it stay connected."""
    host.factory_reset(uid)
