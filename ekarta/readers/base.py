"""What every reader driver provides.

The protocol layer needs nothing but an object with ``transceive(apdu: bytes) -> bytes``: the
:class:`Transceiver` protocol.  :class:`Reader` is the fuller interface that drivers implement on
top of it: card presence, waiting for a card, what the card said when it was selected, and closing.
Drivers trace every frame at :data:`ekarta.log.TRACE` through :meth:`Reader._trace`.
"""

from __future__ import annotations

import abc
import logging
from dataclasses import dataclass
from types import TracebackType
from typing import Protocol, Self, runtime_checkable

from ekarta.log import TRACE, hexdump

__all__ = ["RECV", "SEND", "CardInfo", "Reader", "Transceiver"]

SEND = ">>"
"""Direction mark for a frame sent to the card (a command APDU)."""

RECV = "<<"
"""Direction mark for a frame received from the card (a response APDU)."""


@runtime_checkable
class Transceiver(Protocol):
    """Anything that sends one APDU to a card and returns the card's whole response."""

    def transceive(self, apdu: bytes) -> bytes: ...


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

    # --- common behaviour -------------------------------------------------------------------------

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

    def _trace(self, direction: str, data: bytes) -> None:
        """Log one frame at TRACE: ``direction`` is :data:`SEND` or :data:`RECV`."""
        if self._log.isEnabledFor(TRACE):
            self._log.log(TRACE, "%s %s %s", self.url, direction, hexdump(data))
