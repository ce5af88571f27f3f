"""What every reader driver provides.

The protocol layer needs nothing but an object with ``transceive(apdu: bytes) -> bytes``: the
:class:`~ekarta.desfire.client.Transceiver` protocol, declared next to the client that consumes it.
:class:`Reader` is the fuller interface that drivers implement on top of it: card presence,
waiting for a card, what the card said when it was selected, and closing.
Drivers trace every frame at :data:`ekarta.log.TRACE` through :meth:`Reader._trace`, which hides
the data of authentication and key-changing frames (:mod:`ekarta.desfire.redact`).

Terminals watch a reader with :meth:`Reader.monitor`, which yields a :class:`CardEvent` for every
card that comes into or leaves the field, and reopens a reader that was unplugged through the
driver's :meth:`Reader.reopen` (the policy is described in :mod:`ekarta.readers`).
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

from ekarta.desfire.redact import FrameTracer
from ekarta.errors import InvalidArgument, NoReaderError, ReaderError, ReaderTimeout
from ekarta.log import TRACE

__all__ = ["RECV", "SEND", "CardEvent", "CardInfo", "Reader"]

SEND = ">>"
"""Direction mark for a frame sent to the card (a command APDU)."""

RECV = "<<"
"""Direction mark for a frame received from the card (a response APDU)."""


@dataclass(frozen=True)
class CardInfo:
    """What a reader learned about the card when it came into the field.

    Each field is ``None`` when the reader does not report it: PC/SC readers give the ``atr`` (for
    a contactless card, one the reader builds), NFC front ends give ``uid``, ``atqa``, ``sak`` and
    ``ats`` from the ISO 14443-3/-4 activation.
    """

    uid: bytes | None = None
    atr: bytes | None = None
    ats: bytes | None = None
    atqa: bytes | None = None
    sak: int | None = None


@dataclass(frozen=True)
class CardEvent:
    """A card came into the field (``"inserted"``) or left it (``"removed"``).

    ``info`` is what the card said when it was selected (for a removal: the card that left, if
    the monitor saw it come), ``at`` the wall-clock time (:func:`time.time`) the monitor noticed.
    """

    kind: Literal["inserted", "removed"]
    info: CardInfo | None
    at: float


Stop = threading.Event | Callable[[], bool]
"""What ends :meth:`Reader.monitor`: an event that gets set, or a callable that returns True."""


class Reader(abc.ABC):
    """A reader holding (or waiting for) one card, opened from a URL.

    Subclasses implement :meth:`transceive`, :attr:`card_present` and :meth:`wait_for_card`, set
    ``self._card_info`` when a card is selected, and override :meth:`close` (calling
    ``super().close()``) to release what they hold.  A reader is a context manager that closes on
    exit; closing twice is harmless.
    """

    url: str
    """The URL the reader was opened with (``scheme:rest``)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._card_info: CardInfo | None = None
        self._closed = False
        self._log = logging.getLogger(type(self).__module__)
        self._tracer = FrameTracer()

    # --- what drivers implement -------------------------------------------------------------------

    @abc.abstractmethod
    def transceive(self, apdu: bytes) -> bytes:
        """Send one command APDU to the card and return its response (data and status)."""

    @property
    @abc.abstractmethod
    def card_present(self) -> bool:
        """Whether a card is in the field now."""

    @abc.abstractmethod
    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        """Block until a card is in the field and selected; return what it said.

        ``timeout`` is in seconds, ``None`` waits for ever.  Raises
        :class:`ekarta.errors.ReaderTimeout` when the time runs out.
        """

    def reopen(self) -> None:
        """Open the reader's device again after it was unplugged (or failed).

        Drivers that can find their device again override this: release what is left of the old
        handle and open the device anew, as the constructor did, or raise
        :class:`~ekarta.errors.NoReaderError` while it is not back.  The default cannot, and
        says so.  :meth:`monitor` calls it; nothing else does behind the caller's back.
        """
        raise NoReaderError(f"{self.url}: this reader cannot be reopened; open it again")

    # --- common behaviour -------------------------------------------------------------------------

    def monitor(self, *, poll: float = 0.2, stop: Stop | None = None,
                reconnect: float | None = 1.0) -> Iterator[CardEvent]:
        """Yield a :class:`CardEvent` whenever a card comes into the field or leaves it.

        A card already in the field when monitoring starts is reported as inserted.  The generic
        version polls: :meth:`wait_for_card` with ``timeout=poll`` while the field is empty,
        :attr:`card_present` every ``poll`` seconds while a card is in it (a card taken away and
        put back within one poll goes unnoticed; drivers with real events may override this).

        The generator ends when ``stop`` (a :class:`threading.Event` or a callable returning
        True) is set, within about ``poll`` seconds, or when the reader is closed; the caller can
        also just stop iterating.  It may run a transaction with the card between two events.

        When the reader reports itself gone (:class:`~ekarta.errors.NoReaderError`), a card in
        the field is reported removed and, if the driver overrides :meth:`reopen` and
        ``reconnect`` is not None, :meth:`reopen` is tried every ``reconnect`` seconds until the
        reader is back (or ``stop``); otherwise the error propagates.
        """
        if not poll > 0:
            raise InvalidArgument(f"poll must be > 0 seconds, got {poll!r}")
        if reconnect is not None and not reconnect > 0:
            raise InvalidArgument(f"reconnect must be None or > 0 seconds, got {reconnect!r}")
        stopped = _stop_predicate(stop)
        current: CardInfo | None = None
        present = False
        while not stopped() and not self.closed:
            try:
                if not present:
                    try:
                        current = self.wait_for_card(timeout=poll)
                    except ReaderTimeout:
                        continue
                    present = True
                    yield CardEvent("inserted", current, time.time())
                elif self.card_present:
                    _pause(stop, poll)
                else:
                    present = False
                    yield CardEvent("removed", current, time.time())
            except NoReaderError as exc:
                if self.closed:
                    return
                if reconnect is None or not self._can_reopen():
                    raise
                if present:
                    present = False
                    yield CardEvent("removed", current, time.time())
                if not self._reopen_until(exc, reconnect, stop, stopped):
                    return

    def _can_reopen(self) -> bool:
        """Whether :meth:`reopen` can ever work (a wrapping reader asks the one it wraps)."""
        return type(self).reopen is not Reader.reopen

    def _reopen_until(self, lost: NoReaderError, interval: float, stop: Stop | None,
                      stopped: Callable[[], bool]) -> bool:
        """Try :meth:`reopen` every ``interval`` seconds; False if stopped before it worked."""
        self._log.warning("%s: reader lost (%s); trying to reopen it every %g s",
                          self.url, lost, interval)
        while not stopped() and not self.closed:
            try:
                self.reopen()
            except NoReaderError as exc:
                self._log.debug("%s: not back yet: %s", self.url, exc)
                _pause(stop, interval)
                continue
            self._log.warning("%s: reader reopened", self.url)
            return True
        return False


    @property
    def card_info(self) -> CardInfo | None:
        """What the card in the field said when it was selected, or ``None`` if there is none."""
        return self._card_info

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Release the reader.  Idempotent; subclasses extend it and call ``super().close()``."""
        self._closed = True
        self._card_info = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<{type(self).__name__} {self.url!r}{state}>"

    def _check_open(self) -> None:
        """Raise :class:`~ekarta.errors.ReaderError` if the reader was closed."""
        if self._closed:
            raise ReaderError(f"{self.url}: the reader is closed")

    def _trace(self, direction: str, data: bytes) -> None:
        """Log one frame at TRACE: ``direction`` is :data:`SEND` or :data:`RECV`.  Secret data
        is hidden (:mod:`ekarta.desfire.redact`); every frame is seen, traced or not."""
        if self._log.isEnabledFor(TRACE):
            shown = self._tracer.frame(data, to_card=direction == SEND)
            self._log.log(TRACE, "%s %s %s", self.url, direction, shown)
        else:  # only the tracer's state moves on: no frame to render
            self._tracer.hidden(data, to_card=direction == SEND)


def _stop_predicate(stop: Stop | None) -> Callable[[], bool]:
    if stop is None:
        return lambda: False
    if isinstance(stop, threading.Event):
        return stop.is_set
    if callable(stop):
        return lambda: bool(stop())
    raise InvalidArgument(
        f"stop must be a threading.Event or a callable, got {type(stop).__name__}")


def _pause(stop: Stop | None, seconds: float) -> None:
    """Sleep ``seconds``, waking early when ``stop`` is an event that gets set."""
    if isinstance(stop, threading.Event):
        stop.wait(seconds)
    else:
        time.sleep(seconds)
