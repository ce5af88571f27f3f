"""Serving one stored card through several front-ends at once: ``ekarta emulator serve``.

:func:`serve` loads the card stored at PATH, puts it in a :class:`~ekarta.emulator.host.CardHost`
(which saves every change back to PATH), starts the front-ends asked for and, optionally, the
control interface (:mod:`ekarta.emulator.control`), then runs until SIGINT or SIGTERM, a
``quit`` on the control interface, or ``stop_event``; it stops everything and saves the card.

Front-ends (each module is imported only when asked for)::

    vpcd=ADDRESS   pcscd's virtual reader driver (vsmartcard-vpcd), default 127.0.0.1:35963
                   (:class:`ekarta.emulator.vpcd.VpcdFrontEnd`)
    pn532=LINK     a PN532 on a pseudo-terminal linked at LINK
                   (:class:`ekarta.emulator.pn532.Pn532FrontEnd`)
    udp=ADDRESS    nfcpy's ``udp`` driver, default 127.0.0.1:54321
                   (:class:`ekarta.emulator.udp.UdpFrontEnd`)
    control=ADDR   the control interface (``unix:PATH``, ``tcp:127.0.0.1:PORT``)

ADDRESS is ``HOST:PORT``, ``HOST``, ``:PORT`` or ``PORT`` (missing parts default as above;
``[::1]:PORT`` for IPv6), or a ``(host, port)`` tuple.  The front-ends and the control interface
share one life cycle (:class:`ekarta.emulator.frontend.FrontEnd`).

:class:`EmulatorServer` is the same composition for a :class:`CardHost` you already have (tests
use it in-process): ``start()``, ``stop()``, ``describe() -> list[str]``, a context manager.
"""

from __future__ import annotations

import importlib
import logging
import os
import signal
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, Self

from ekarta.emulator.card import VirtualCard
from ekarta.emulator.control import ControlServer
from ekarta.emulator.host import CardHost
from ekarta.errors import EkartaError, EmulatorError, InvalidArgument
from ekarta.files import FileLock

__all__ = [
    "DEFAULT_UDP",
    "DEFAULT_VPCD",
    "EmulatorServer",
    "parse_host_port",
    "serve",
]

logger = logging.getLogger(__name__)

DEFAULT_VPCD = ("127.0.0.1", 35963)
DEFAULT_UDP = ("127.0.0.1", 54321)

#: How often the serving loop looks for a SIGINT/SIGTERM that arrived (seconds).
_SIGNAL_POLL = 0.2

Address = str | tuple[str, int]

# scheme -> (module, class); imported lazily: a front-end's module may pull in what it needs
_FRONT_ENDS = {
    "vpcd": ("ekarta.emulator.vpcd", "VpcdFrontEnd"),
    "pn532": ("ekarta.emulator.pn532", "Pn532FrontEnd"),
    "udp": ("ekarta.emulator.udp", "UdpFrontEnd"),
}


def parse_host_port(value: Address | None, default: tuple[str, int]) -> tuple[str, int]:
    """``HOST:PORT``, ``HOST``, ``:PORT``, ``PORT``, ``[V6]:PORT``, a tuple or None -> a tuple."""
    if value is None or value == "":
        return default
    if isinstance(value, tuple):
        host, port = value
        if not isinstance(port, int) or not 0 <= port <= 65535:
            raise InvalidArgument(f"bad port {port!r}")
        return str(host), port
    text = str(value)
    host, port_text = default[0], ""
    if text.startswith("["):
        inside, bracket, after = text[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise InvalidArgument(f"bad address {text!r}: expected [HOST]:PORT")
        host, port_text = inside, after[1:]
    elif text.isdigit():
        port_text = text
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        host = host or default[0]
    elif ":" in text:
        raise InvalidArgument(f"bad address {text!r}: write an IPv6 host as [HOST]:PORT")
    else:
        host = text
    _check_host(host, text)
    if not port_text:
        return host, default[1]
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidArgument(f"bad address {text!r}: the port must be 0..65535")
    return host, int(port_text)


def _check_host(host: str, text: str) -> None:
    """A host name or address the socket layer takes (it raises UnicodeError or TypeError,
    not OSError, for the others)."""
    if not host or not host.isprintable() or "\0" in host:
        raise InvalidArgument(f"bad address {text!r}: the host is empty or holds control "
                              "characters")
    try:
        host.encode("idna")
    except UnicodeError:
        raise InvalidArgument(f"bad address {text!r}: {host!r} is not a valid host name") \
            from None


def _front_end_class(kind: str) -> Any:
    module_name, class_name = _FRONT_ENDS[kind]
    try:
        module = importlib.import_module(module_name)
        return getattr(module, class_name)
    except (ImportError, AttributeError) as exc:
        raise EmulatorError(f"the {kind} front-end ({module_name}.{class_name}) is not "
                            f"available: {exc}") from exc


class EmulatorServer:
    """The front-ends and control interface serving ``host`` (see the module docstring).

    ``on_quit`` is called when a control client sends ``quit``.  :meth:`start` starts the
    front-ends in the order vpcd, pn532, udp, then the control interface; if one fails, those
    already started are stopped again and the error is raised.  :meth:`stop` stops them in
    reverse order and saves the card (idempotent).
    """

    def __init__(self, host: CardHost, *, vpcd: Address | None = None,
                 pn532: str | os.PathLike[str] | None = None, udp: Address | None = None,
                 control: str | None = None,
                 on_quit: Callable[[], None] | None = None) -> None:
        if vpcd is None and pn532 is None and udp is None and control is None:
            raise InvalidArgument("nothing to serve the card with: give at least one of vpcd, "
                                  "pn532, udp or control")
        self.host = host
        self._plan: list[tuple[str, Any]] = []
        if vpcd is not None:
            self._plan.append(("vpcd", parse_host_port(vpcd, DEFAULT_VPCD)))
        if pn532 is not None:
            if not os.fspath(pn532):
                raise InvalidArgument("pn532 needs the path to link the pseudo-terminal at")
            self._plan.append(("pn532", os.path.abspath(os.fspath(pn532))))
        if udp is not None:
            self._plan.append(("udp", parse_host_port(udp, DEFAULT_UDP)))
        self.control: ControlServer | None = (
            None if control is None else ControlServer(host, control, on_quit=on_quit))
        self.front_ends: list[Any] = []
        self._started: list[Any] = []

    def start(self) -> None:
        if self._started:
            return
        try:
            for kind, where in self._plan:
                front_end = _front_end_class(kind)(self.host, where)
                front_end.start()
                self.front_ends.append(front_end)
                self._started.append(front_end)
            if self.control is not None:
                self.control.start()
                self._started.append(self.control)
        except BaseException:
            self.stop()
            raise
        for line in self.describe():
            logger.debug("%s", line)

    def describe(self) -> list[str]:
        """One line per front-end (and the control interface), for a startup banner."""
        parts: list[Any] = [*self.front_ends]
        if self.control is not None:
            parts.append(self.control)
        return [part.describe() for part in parts]

    def stop(self) -> None:
        started, self._started = self._started, []
        failure: BaseException | None = None
        for part in reversed(started):
            try:
                part.stop()
            except Exception as exc:  # stop the others anyway
                logger.exception("stopping %s failed", type(part).__name__)
                failure = failure or exc
        if started:
            self.host.save()
        if failure is not None:
            raise EmulatorError(f"a front-end did not stop cleanly: {failure}") from failure

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()


def load_card(path: str | os.PathLike[str]) -> VirtualCard:
    """The card stored at ``path``, with a clear error when there is none."""
    path = os.fspath(path)
    _check_card_path(path)
    return VirtualCard.load(path)


def _check_card_path(path: str) -> None:
    if not os.path.exists(path):
        raise EmulatorError(
            f"no emulated card at {path}: create one with `ekarta emulator new {path}`")
    if os.path.isdir(path):
        raise EmulatorError(f"{path} is a directory, not an emulated card")


def serve(path: str | os.PathLike[str], *, vpcd: Address | None = None,
          pn532: str | os.PathLike[str] | None = None, udp: Address | None = None,
          control: str | None = None, stop_event: threading.Event | None = None,
          on_ready: Callable[[list[str]], None] | None = None,
          handle_signals: bool | None = None) -> None:
    """Serve the card stored at ``path`` until told to stop (see the module docstring).

    ``on_ready(lines)`` is called once everything listens, with one description line per
    front-end (the command line prints them).  ``stop_event`` ends serving when set (``quit``
    on the control interface sets it too).  ``handle_signals`` (default: when called on the
    main thread) makes SIGINT and SIGTERM stop serving cleanly, unless the process ignores them
    (as a background job without job control ignores SIGINT); the previous handlers are put
    back afterwards.  The card file is locked (:class:`ekarta.files.FileLock`) while it is
    served: when another process holds it, :class:`~ekarta.errors.FileInUse` is raised at once.
    """
    path = os.fspath(path)
    _check_card_path(path)
    # the card is in this server's field until it stops: no other process may change the file
    with FileLock(path, what="card file"):
        _serve(path, vpcd=vpcd, pn532=pn532, udp=udp, control=control, stop_event=stop_event,
               on_ready=on_ready, handle_signals=handle_signals)


def _serve(path: str, *, vpcd: Address | None, pn532: str | os.PathLike[str] | None,
           udp: Address | None, control: str | None, stop_event: threading.Event | None,
           on_ready: Callable[[list[str]], None] | None, handle_signals: bool | None) -> None:
    card = load_card(path)
    host = CardHost(card, path)
    stop = stop_event if stop_event is not None else threading.Event()
    if handle_signals is None:
        handle_signals = threading.current_thread() is threading.main_thread()
    previous: dict[signal.Signals, Any] = {}
    received: list[int] = []

    def on_signal(signum: int, frame: FrameType | None) -> None:
        # Only a plain append: the handler runs on the main thread between any two bytecodes,
        # possibly while that thread holds the lock inside ``stop.wait()``, so ``stop.set()``
        # (or logging) here could deadlock on it.
        received.append(signum)

    server = EmulatorServer(host, vpcd=vpcd, pn532=pn532, udp=udp, control=control,
                            on_quit=stop.set)
    try:
        if handle_signals:
            for signum in (signal.SIGINT, signal.SIGTERM):
                # An ignored signal stays ignored (a background job of a shell without job
                # control must outlive the Ctrl-C meant for the foreground).
                if signal.getsignal(signum) is not signal.SIG_IGN:
                    previous[signum] = signal.signal(signum, on_signal)
        with server:
            logger.info("serving %s (UID %s)", path, card.uid.hex().upper())
            if on_ready is not None:
                on_ready(server.describe())
            # a bounded wait: the loop is what notices a signal, on every platform
            while not received and not stop.wait(_SIGNAL_POLL):
                pass
            if received:
                logger.info("signal %d: stopping", received[0])
    except EkartaError:
        raise
    except OSError as exc:
        raise EmulatorError(f"serving {path} failed: {exc.strerror or exc}") from exc
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    logger.info("stopped serving %s", path)
