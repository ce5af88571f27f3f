"""What a barcode scanner delivers, and how its lines become card numbers.

A scanner sends each barcode it reads as one line, possibly wrapped in a configured prefix and
suffix.  :class:`ScanFilter` strips those, checks the card number and drops a double read;
:class:`Scan` is the outcome of one line: a card number, or the error that refused it.  The
serial scanner (:mod:`ekarta.barcode.scanner`) and the keyboard wedge
(:mod:`ekarta.barcode.wedge`) share it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from ekarta.errors import InvalidArgument
from ekarta.transit.errors import InvalidCardNumber, shown
from ekarta.transit.model.card_number import CardNumber

__all__ = ["DEFAULT_DEBOUNCE", "Scan", "ScanFilter"]

log = logging.getLogger(__name__)

DEFAULT_DEBOUNCE = 1.0
"""Seconds within which a repeat of the same number counts as one read."""


@dataclass(frozen=True)
class Scan:
    """One line from a scanner: ``number`` if it held a valid card number, else ``error``.

    ``raw`` is the line as received (without its terminator, before prefix and suffix are
    stripped), ``at`` the filter's clock reading when the line was complete.
    """

    raw: str
    at: float
    number: CardNumber | None = None
    error: InvalidCardNumber | None = None

    @property
    def ok(self) -> bool:
        return self.number is not None

    def __str__(self) -> str:
        return str(self.number) if self.number is not None else f"refused: {self.error}"


class ScanFilter:
    """Turns scanner lines into :class:`Scan` results.

    Surrounding carriage returns and line feeds, then ``prefix`` and ``suffix`` where present,
    are removed; what is left must be exactly the 10 digits of a valid card number.  A number
    equal to the previous one and seen less than ``debounce`` seconds after it (by ``clock``)
    is a double read and dropped; the window restarts with every repeat, so a card held under a
    scanner that keeps reading gives one number.
    """

    def __init__(
        self,
        *,
        prefix: str = "",
        suffix: str = "",
        debounce: float = DEFAULT_DEBOUNCE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not debounce >= 0:
            raise InvalidArgument(f"debounce must be 0 or more seconds, got {debounce!r}")
        self.prefix = prefix
        self.suffix = suffix
        self.debounce = debounce
        self.clock = clock
        self._last: CardNumber | None = None
        self._last_at = 0.0

    def accept(self, line: str) -> Scan | None:
        """The scan of ``line``; None for an empty line or a double read."""
        at = self.clock()
        text = line.strip("\r\n")
        if not text:
            return None
        if self.prefix and text.startswith(self.prefix):
            text = text[len(self.prefix) :]
        if self.suffix and text.endswith(self.suffix):
            text = text[: -len(self.suffix)]
        try:
            number = CardNumber.parse(text, strict=True)
        except InvalidCardNumber as exc:
            log.info("scan refused: %s", exc)
            return Scan(raw=line, at=at, error=exc)
        if number == self._last and at - self._last_at < self.debounce:
            log.debug("double read of %s dropped", number)
            self._last_at = at
            return None
        self._last, self._last_at = number, at
        log.info("scanned %s", number)
        return Scan(raw=line, at=at, number=number)

    def refuse(self, raw: str, reason: str) -> Scan:
        """A scan refused for ``reason`` before its text could be read (too long, not ASCII)."""
        error = InvalidCardNumber(f"{reason}: {shown(raw)}")
        log.info("scan refused: %s", error)
        return Scan(raw=raw, at=self.clock(), error=error)
