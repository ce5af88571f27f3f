"""Barcode scanners that act as a keyboard ("keyboard wedge"): telling their typing from a
person's, for the terminal apps.

Such a scanner types the barcode's text and Enter, each key a few milliseconds after the last;
a person needs a hundred or more.  :class:`KeyboardWedge` is fed every typed character (in a
Textual app, ``event.character`` of each key event; Enter is ``"\\r"``) and returns a
:class:`~ekarta.barcode.scan.Scan` when Enter ends a burst of at least ``min_length`` keys with
no gap longer than ``max_interval``.  It imports no UI toolkit and has no thread: time comes
from ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ekarta.barcode.scan import DEFAULT_DEBOUNCE, Scan, ScanFilter
from ekarta.errors import InvalidArgument

__all__ = ["DEFAULT_MAX_INTERVAL", "DEFAULT_MIN_LENGTH", "KeyboardWedge"]

DEFAULT_MAX_INTERVAL = 0.05
"""Longest gap between two keys of a scanner's burst (seconds): scanners type a key every few
milliseconds, even the quickest typists rarely twice within 50 ms."""
DEFAULT_MIN_LENGTH = 4
MAX_BURST = 256


class KeyboardWedge:
    """Recognises scans in keyboard input; see the module documentation.

    ``prefix``, ``suffix`` and ``debounce`` work as for a serial scanner
    (:class:`~ekarta.barcode.scan.ScanFilter`).  Keys typed at a person's pace, and Enter after
    them, are not scans: :meth:`feed` returns None and the app handles them as usual.
    """

    def __init__(
        self,
        *,
        terminators: Iterable[str] = ("\r", "\n"),
        prefix: str = "",
        suffix: str = "",
        debounce: float = DEFAULT_DEBOUNCE,
        max_interval: float = DEFAULT_MAX_INTERVAL,
        min_length: int = DEFAULT_MIN_LENGTH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.terminators = frozenset(terminators)
        if not self.terminators or any(len(t) != 1 for t in self.terminators):
            raise InvalidArgument("terminators must be single characters")
        if not max_interval > 0:
            raise InvalidArgument(
                f"max_interval must be more than 0 seconds, got {max_interval!r}"
            )
        self.max_interval = max_interval
        self.min_length = min_length
        self.clock = clock
        self.filter = ScanFilter(prefix=prefix, suffix=suffix, debounce=debounce, clock=clock)
        self._burst: list[str] = []
        self._last = 0.0

    @property
    def pending(self) -> str:
        """The keys of the burst under way (a scan in progress, or a person's typing)."""
        return "".join(self._burst)

    @property
    def in_burst(self) -> bool:
        """Whether the keys so far came at a scanner's pace (an app may hold them back)."""
        return (len(self._burst) >= 2 and self.clock() - self._last <= self.max_interval)

    def reset(self) -> None:
        self._burst.clear()

    def feed(self, char: str) -> Scan | None:
        """Take one typed character; the scan it completes, or None."""
        if not isinstance(char, str) or len(char) != 1:
            raise InvalidArgument(f"feed one character at a time, got {char!r}")
        now = self.clock()
        quick = bool(self._burst) and now - self._last <= self.max_interval
        if char in self.terminators:
            burst, self._burst = self._burst, []
            if quick and len(burst) >= self.min_length:
                return self.filter.accept("".join(burst))
            return None
        if not quick:
            self._burst.clear()
        if len(self._burst) < MAX_BURST:
            self._burst.append(char)
        self._last = now
        return None

    def feed_text(self, text: str) -> list[Scan]:
        """:meth:`feed` each character of ``text``; the scans completed."""
        scans = []
        for char in text:
            scan = self.feed(char)
            if scan is not None:
                scans.append(scan)
        return scans
