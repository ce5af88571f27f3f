"""A small control interface for a served card: take it out, put it back, tear it, mute it.

``ekarta emulator serve --control ADDRESS`` (or :class:`ControlServer` in Python) listens for
commands that act on the served :class:`~ekarta.emulator.host.CardHost`, so that presence handling
and tearing can be tested end to end through any front-end.

Addresses::

    unix:PATH           a Unix socket at PATH (mode 0600: whoever may tear the card is the owner)
    PATH                the same (anything that does not start with ``unix:`` or ``tcp:``)
    tcp:HOST:PORT       TCP on a loopback address only (127.x.x.x, ::1 or localhost: the
                        interface has no authentication); port 0 binds a free port
    tcp:PORT            the same on 127.0.0.1

Protocol: a client sends one command per line (ASCII, ``\\n``-terminated, ``\\r\\n`` accepted, at
most :data:`MAX_LINE` bytes); each gets one answer line, ``ok ...`` or ``error ...``.  A client
may send several commands on one connection; clients are served one after another, and one that
stays silent for ``idle_timeout`` seconds is disconnected.  A line that is too long is answered
with an error and the connection is closed.  Commands (case-insensitive)::

    status                          ok present=yes uid=04A1B2C3D4E5F6 app=000000 transaction=no
                                       free=7936 mute=no latency=0 tear=none
    remove                          the card leaves the field (it loses power)
    insert                          the card comes back into the field (powered up afresh)
    tear                            the card loses power now, between two commands
    tear after N                    power is lost as command N arrives (0 = the next command)
    tear during N [progress P]      command N is cut after fraction P (0..1, default 0.5) of it
    mute on|off                     the card stops (or starts again) answering
    latency SECONDS                 every command takes that much longer (0..60)
    clear                           no faults any more
    quit                            stop serving (``ekarta emulator serve`` exits)
    help                            the list of commands

The tear rules are :mod:`ekarta.emulator.faults`'.  The fault commands re-arm the card's
:class:`~ekarta.emulator.faults.Faults`, keeping the other settings: a ``tear`` command replaces a
pending tear, and every fault command starts the command count again from 0.

From Python: ``send_control(address, command, timeout=5.0) -> str`` sends one command and returns
the answer line; from the shell: ``ekarta emulator control ADDRESS COMMAND...``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import logging
import math
import os
import select
import socket
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypedDict, Unpack

from ekarta.emulator.faults import Faults
from ekarta.emulator.frontend import FrontEnd
from ekarta.emulator.host import CardHost
from ekarta.errors import EkartaError, EmulatorError, InvalidArgument

__all__ = [
    "MAX_LINE",
    "ControlAddress",
    "ControlError",
    "ControlServer",
    "parse_control_address",
    "send_control",
]

logger = logging.getLogger(__name__)

#: Longest command line accepted, in bytes (without the line end).
MAX_LINE = 256
#: Longest answer line :func:`send_control` accepts.
MAX_ANSWER = 4096
#: Most seconds of ``latency`` (front-ends time out long before).
MAX_LATENCY = 60.0
_MAX_COUNT = 1_000_000_000
_POLL = 0.1
_SEND_TIMEOUT = 5.0

HELP = ("commands: status, remove, insert, tear, tear after N, tear during N [progress P], "
        "mute on|off, latency SECONDS, clear, quit, help")


class ControlError(EmulatorError):
    """The control interface cannot be reached, or did not answer."""


@dataclass(frozen=True)
class ControlAddress:
    """Where a control interface listens: a Unix socket ``path`` or a TCP ``host``/``port``."""

    kind: str  # "unix" or "tcp"
    path: str | None = None
    host: str | None = None
    port: int | None = None

    def __str__(self) -> str:
        if self.kind == "unix":
            return f"unix:{self.path}"
        host = f"[{self.host}]" if self.host and ":" in self.host else self.host
        return f"tcp:{host}:{self.port}"


def parse_control_address(text: str | os.PathLike[str]) -> ControlAddress:
    """Parse a control address (see the module docstring); raises InvalidArgument."""
    text = os.fspath(text)
    if not text:
        raise InvalidArgument("a control address is unix:PATH or tcp:127.0.0.1:PORT, got ''")
    if text.startswith("tcp:"):
        return _parse_tcp(text)
    path = text[len("unix:"):] if text.startswith("unix:") else text
    if not path:
        raise InvalidArgument(f"control address {text!r}: the socket path is missing")
    path = os.path.expanduser(path)
    if len(os.fsencode(path)) > 100:  # sun_path holds 108 bytes with the terminating NUL
        raise InvalidArgument(f"control socket path {path!r} is too long for a Unix socket "
                              "(100 bytes at most)")
    return ControlAddress("unix", path=path)


def _parse_tcp(text: str) -> ControlAddress:
    rest = text[len("tcp:"):]
    if rest.startswith("["):
        host, bracket, port_text = rest[1:].partition("]")
        if not bracket or not port_text.startswith(":"):
            raise InvalidArgument(f"control address {text!r}: expected tcp:[HOST]:PORT")
        port_text = port_text[1:]
    elif ":" in rest:
        host, _, port_text = rest.rpartition(":")
    else:
        host, port_text = "127.0.0.1", rest
    if host == "localhost":
        host = "127.0.0.1"
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise InvalidArgument(
            f"control address {text!r}: the control interface has no authentication, so it "
            "listens on loopback addresses only (127.0.0.1, ::1, localhost)")
    if not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidArgument(f"control address {text!r}: the port must be 0..65535")
    return ControlAddress("tcp", host=host, port=int(port_text))


def _family(address: ControlAddress) -> int:
    if address.kind == "unix":
        return socket.AF_UNIX
    return socket.AF_INET6 if ":" in (address.host or "") else socket.AF_INET


def _sockaddr(address: ControlAddress) -> str | tuple[str, int]:
    if address.kind == "unix":
        assert address.path is not None
        return address.path
    assert address.host is not None and address.port is not None
    return (address.host, address.port)


# --- the client -----------------------------------------------------------------------------------


def send_control(address: str | ControlAddress, command: str, timeout: float = 5.0) -> str:
    """Send one ``command`` to the control interface at ``address``; return its answer line.

    The answer starts with ``ok`` or ``error``.  Raises :class:`ControlError` when nothing
    listens there, or no complete answer comes within ``timeout`` seconds.
    """
    where = address if isinstance(address, ControlAddress) else parse_control_address(address)
    if not isinstance(command, str) or "\n" in command or "\r" in command:
        raise InvalidArgument("a control command is one line of text")
    data = command.encode("ascii", "replace") + b"\n"
    if len(data) > MAX_LINE + 1:
        raise InvalidArgument(f"a control command has at most {MAX_LINE} characters")
    if where.kind == "tcp" and where.port == 0:
        raise InvalidArgument(f"{where}: port 0 is for a server to bind a free port")
    deadline = time.monotonic() + timeout
    try:
        sock = socket.socket(_family(where), socket.SOCK_STREAM)
    except OSError as exc:
        raise ControlError(f"cannot make a socket for {where}: {exc.strerror or exc}") from exc
    with sock:
        try:
            sock.settimeout(timeout)
            sock.connect(_sockaddr(where))
        except TimeoutError as exc:
            raise ControlError(f"{where}: no connection within {timeout:g} s") from exc
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise ControlError(
                f"no control interface at {where}: {exc.strerror or exc}") from exc
        except OSError as exc:
            # something listens there but dropped the connection (a reset can already reach
            # connect() on loopback)
            raise ControlError(f"{where}: the connection failed: {exc.strerror or exc}") from exc
        try:
            sock.sendall(data)
            answer = bytearray()
            while b"\n" not in answer:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError
                sock.settimeout(left)
                chunk = sock.recv(1024)
                if not chunk:
                    break
                answer += chunk
                if len(answer) > MAX_ANSWER:
                    raise ControlError(f"{where}: the answer is longer than {MAX_ANSWER} bytes")
        except TimeoutError as exc:
            raise ControlError(f"{where}: no answer within {timeout:g} s") from exc
        except OSError as exc:
            raise ControlError(f"{where}: the connection failed: {exc.strerror or exc}") from exc
    line, newline, _ = bytes(answer).partition(b"\n")
    if not newline:
        raise ControlError(f"{where}: the connection closed before a complete answer")
    return line.decode("ascii", "replace").rstrip("\r")


# --- the server -----------------------------------------------------------------------------------


class _FaultChanges(TypedDict, total=False):
    """What a fault command changes of the armed :class:`Faults`."""

    tear_after: int | None
    tear_during: int | None
    tear_progress: float
    mute: bool
    latency: float


class _Refused(Exception):
    """A command that is answered ``error ...``."""


def _count(text: str, what: str) -> int:
    if not text.isdigit() or int(text) > _MAX_COUNT:
        raise _Refused(f"{what} must be a command count 0..{_MAX_COUNT}, got {text!r}")
    return int(text)


def _fraction(text: str, what: str, high: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise _Refused(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value) or not 0 <= value <= high:
        raise _Refused(f"{what} must be 0..{high:g}, got {text!r}")
    return value


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _describe_tear(faults: Faults) -> str:
    if faults.tear_after is not None:
        return f"after:{faults.tear_after}"
    if faults.tear_during is not None:
        return f"during:{faults.tear_during}@{faults.tear_progress:g}"
    return "none"


class ControlServer(FrontEnd):
    """Answers control commands for ``host`` at ``address`` (see the module docstring).

    ``on_quit()`` is called (on the server's thread) after a ``quit`` was answered.  A
    :class:`~ekarta.emulator.frontend.FrontEnd`: :meth:`start` returns once it listens,
    :meth:`stop` is idempotent and bounded, :meth:`describe` gives the banner line; also a
    context manager.
    """

    def __init__(self, host: CardHost, address: str | ControlAddress, *,
                 on_quit: Callable[[], None] | None = None, idle_timeout: float = 30.0) -> None:
        if not idle_timeout > 0:
            raise InvalidArgument(f"idle_timeout must be > 0, got {idle_timeout!r}")
        super().__init__()
        self.host = host
        self._requested = (address if isinstance(address, ControlAddress)
                           else parse_control_address(address))
        self.on_quit = on_quit
        self.idle_timeout = idle_timeout
        self._sock: socket.socket | None = None
        self._bound: ControlAddress | None = None
        self._inode: tuple[int, int] | None = None
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None

    @property
    def address(self) -> ControlAddress:
        """The address listened on (with the real port once started)."""
        return self._bound or self._requested

    def describe(self) -> str:
        state = "listening on" if self._thread is not None else "stopped, for"
        return f"control: {state} {self.address}"

    # --- life cycle (FrontEnd) -------------------------------------------------------------------

    def _thread_name(self) -> str:
        return f"control {self.address}"

    def _open(self) -> None:
        """Listen.  Raises EmulatorError if it cannot."""
        self._sock = self._listen()
        # stop() writes here so that the thread's select() returns at once
        self._wake_r, self._wake_w = socket.socketpair()

    def _wake(self) -> None:
        if self._wake_w is not None:
            with contextlib.suppress(OSError):
                self._wake_w.send(b"x")

    def _close(self, ended: bool) -> None:
        if ended:  # the thread selects on the wake socket for as long as it runs
            for end in (self._wake_r, self._wake_w):
                if end is not None:
                    end.close()
            self._wake_r = self._wake_w = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        self._unlink()

    def _listen(self) -> socket.socket:
        address = self._requested
        if address.kind == "unix":
            self._clear_stale_socket(address.path or "")
        try:
            sock = socket.socket(_family(address), socket.SOCK_STREAM)
        except OSError as exc:
            raise EmulatorError(f"control: cannot make a socket: {exc.strerror or exc}") from exc
        try:
            if address.kind == "tcp":
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(_sockaddr(address))
            if address.kind == "unix":
                assert address.path is not None
                # before listen(): nobody can connect yet, so nobody else ever could
                os.chmod(address.path, 0o600)
                st = os.stat(address.path)
                self._inode = (st.st_dev, st.st_ino)
                self._bound = address
            else:
                host, port = sock.getsockname()[:2]
                self._bound = ControlAddress("tcp", host=host, port=port)
            sock.listen(4)
        except OSError as exc:
            sock.close()
            self._unlink()
            raise EmulatorError(
                f"control: cannot listen on {address}: {exc.strerror or exc}") from exc
        return sock

    @staticmethod
    def _clear_stale_socket(path: str) -> None:
        """Remove a socket file a dead server left; refuse anything else at ``path``."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            return
        except OSError as exc:
            raise EmulatorError(f"control: cannot use {path}: {exc.strerror or exc}") from exc
        if not stat.S_ISSOCK(mode):
            raise EmulatorError(f"control: {path} exists and is not a socket; not replacing it")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
            return
        finally:
            probe.close()
        raise EmulatorError(f"control: another server is listening on unix:{path}")

    def _unlink(self) -> None:
        """Remove our Unix socket's file (only if it is still ours)."""
        if self._inode is None or self._bound is None or self._bound.path is None:
            return
        inode, self._inode = self._inode, None
        with contextlib.suppress(OSError):
            st = os.lstat(self._bound.path)
            if (st.st_dev, st.st_ino) == inode:
                os.unlink(self._bound.path)

    # --- serving ----------------------------------------------------------------------------------

    def _run(self) -> None:
        sock, wake = self._sock, self._wake_r
        assert sock is not None and wake is not None
        while not self._stopping.is_set():
            try:
                ready, _, _ = select.select([sock, wake], [], [], _POLL)
                if sock not in ready:
                    continue
                conn, _ = sock.accept()
            except (OSError, ValueError):  # closed under us by stop()
                if self._stopping.is_set():
                    return
                logger.exception("control: accept failed")
                time.sleep(_POLL)
                continue
            with conn:
                try:
                    self._serve(conn)
                except OSError as exc:
                    logger.info("control: client connection failed: %s", exc)
                except Exception:  # a bug here must not end the control interface
                    logger.exception("control: client connection failed")

    def _serve(self, conn: socket.socket) -> None:
        wake = self._wake_r
        assert wake is not None  # closed only once the thread has ended
        conn.settimeout(_SEND_TIMEOUT)
        buffer = bytearray()
        last = time.monotonic()
        while not self._stopping.is_set():
            line, newline, rest = bytes(buffer).partition(b"\n")
            if newline:
                buffer = bytearray(rest)
                if len(line) > MAX_LINE + 1:  # + 1: a CR before the LF
                    self._reply(conn, f"error line too long (at most {MAX_LINE} bytes)")
                    return
                if not self._handle(conn, line):
                    return
                last = time.monotonic()
                continue
            if len(buffer) > MAX_LINE + 1:
                self._reply(conn, f"error line too long (at most {MAX_LINE} bytes)")
                return
            ready, _, _ = select.select([conn, wake], [], [], _POLL)
            if conn not in ready:
                if time.monotonic() - last > self.idle_timeout:
                    self._reply(conn, f"error idle for {self.idle_timeout:g} s; disconnecting")
                    return
                continue
            chunk = conn.recv(1024)
            if not chunk:
                if buffer.strip():  # a last command without a line end
                    self._handle(conn, bytes(buffer))
                return
            buffer += chunk
            last = time.monotonic()

    def _handle(self, conn: socket.socket, line: bytes) -> bool:
        """Answer one line; False when the connection is to end (after ``quit``)."""
        try:
            text = line.decode("ascii")
        except UnicodeDecodeError:
            self._reply(conn, "error commands are ASCII text (try help)")
            return True
        if not text.strip().isprintable():
            self._reply(conn, "error commands are printable text (try help)")
            return True
        answer = self.execute(text)
        self._reply(conn, answer)
        if answer.startswith("ok") and text.split()[0].lower() == "quit":
            if self.on_quit is not None:
                self.on_quit()
            return False
        return True

    @staticmethod
    def _reply(conn: socket.socket, answer: str) -> None:
        with contextlib.suppress(OSError):  # a client that left does not need its answer
            conn.sendall(answer.encode("ascii", "replace") + b"\n")

    # --- commands ---------------------------------------------------------------------------------

    def execute(self, command: str) -> str:
        """Run one command line; return its answer (``ok ...`` or ``error ...``)."""
        words = command.split()
        if not words:
            return "error empty command (try help)"
        name, args = words[0].lower(), [w.lower() for w in words[1:]]
        handler = getattr(self, f"_cmd_{name}", None)
        if handler is None:
            return f"error unknown command {words[0][:40]!r} (try help)"
        try:
            answer = handler(args)
        except _Refused as exc:
            return f"error {exc}"
        except EkartaError as exc:
            logger.info("control: %r failed: %s", command, exc)
            return f"error {exc}"
        logger.info("control: %s -> %s", " ".join(words), answer)
        return answer

    def _no_args(self, name: str, args: list[str]) -> None:
        if args:
            raise _Refused(f"{name} takes no arguments")

    def _rearm(self, **changes: Unpack[_FaultChanges]) -> Faults:
        with self.host.lock:
            faults = dataclasses.replace(self.host.card.faults, **changes)
            self.host.arm(faults)
            return faults

    def _cmd_help(self, args: list[str]) -> str:
        return f"ok {HELP}"

    def _cmd_status(self, args: list[str]) -> str:
        self._no_args("status", args)
        with self.host.lock:
            card = self.host.card
            faults = card.faults
            return (f"ok present={_yes(card.present)} uid={card.uid.hex().upper()} "
                    f"app={card.selected_aid:06X} transaction={_yes(card.in_transaction)} "
                    f"free={card.free_memory} mute={_yes(faults.mute)} "
                    f"latency={faults.latency:g} tear={_describe_tear(faults)}")

    def _cmd_remove(self, args: list[str]) -> str:
        self._no_args("remove", args)
        with self.host.lock:
            was = self.host.present
            self.host.remove()
        return "ok removed" if was else "ok removed (it was not in the field)"

    def _cmd_insert(self, args: list[str]) -> str:
        self._no_args("insert", args)
        with self.host.lock:
            was = self.host.present
            self.host.insert()
        return "ok inserted (it was in the field already)" if was else "ok inserted"

    def _cmd_tear(self, args: list[str]) -> str:
        if not args:
            with self.host.lock:
                was = self.host.present
                self.host.remove()
            return "ok torn: the card lost power" if was else "ok torn (it was not in the field)"
        if args[0] == "after" and len(args) == 2:
            n = _count(args[1], "N")
            self._rearm(tear_after=n, tear_during=None)
            return f"ok armed: the card loses power as command {n} arrives (0 = the next one)"
        if args[0] == "during" and len(args) in (2, 4):
            n = _count(args[1], "N")
            progress = 0.5
            if len(args) == 4:
                if args[2] != "progress":
                    raise _Refused("usage: tear during N [progress P]")
                progress = _fraction(args[3], "P", 1.0)
            self._rearm(tear_during=n, tear_progress=progress, tear_after=None)
            return (f"ok armed: command {n} (0 = the next one) is cut after {progress:.0%} "
                    "of it")
        raise _Refused("usage: tear | tear after N | tear during N [progress P]")

    def _cmd_mute(self, args: list[str]) -> str:
        if args not in (["on"], ["off"]):
            raise _Refused("usage: mute on|off")
        self._rearm(mute=args[0] == "on")
        return f"ok mute {args[0]}"

    def _cmd_latency(self, args: list[str]) -> str:
        if len(args) != 1:
            raise _Refused("usage: latency SECONDS")
        seconds = _fraction(args[0], "SECONDS", MAX_LATENCY)
        self._rearm(latency=seconds)
        return f"ok latency {seconds:g} s"

    def _cmd_clear(self, args: list[str]) -> str:
        self._no_args("clear", args)
        self.host.arm(Faults())
        return "ok faults cleared"

    def _cmd_quit(self, args: list[str]) -> str:
        self._no_args("quit", args)
        return "ok quitting"
