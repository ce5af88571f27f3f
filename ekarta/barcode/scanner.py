"""Barcode scanners on a serial line (USB CDC-ACM, RS-232) or anything pyserial opens by URL.

Scanner URLs:

* ``serial:PATH[?baud=N]`` — the serial device ``PATH`` (e.g. ``serial:/dev/ttyACM0?baud=9600``),
  9600 baud unless given;
* any pyserial URL with ``://``: ``loop://`` (what is written is read back: for tests),
  ``socket://HOST:PORT`` (a scanner behind a TCP bridge), ``rfc2217://``, ``spy://``...

The scanner sends each barcode as a line ended by ``terminator`` (a carriage return unless
configured otherwise); :class:`~ekarta.barcode.scan.ScanFilter` strips the prefix and suffix,
checks the number and drops double reads.  Input is untrusted: a line longer than
:data:`MAX_LINE` bytes or not ASCII is refused as a scan, not raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs

from ekarta.barcode.errors import ScannerError
from ekarta.barcode.scan import DEFAULT_DEBOUNCE, Scan, ScanFilter
from ekarta.transit.errors import shown

__all__ = ["DEFAULT_BAUD", "MAX_LINE", "Scanner", "open_scanner"]

log = logging.getLogger(__name__)

DEFAULT_BAUD = 9600
MAX_LINE = 256
"""Longest line (bytes, without terminator) taken from a scanner."""
# Longest single blocking read: a wait with no end would be a blocking lock in some pyserial
# handlers (loop://), and a Ctrl-C landing just before it blocks would never be seen.
_SLICE = 0.25


def _ascii(value: bytes, what: str) -> str:
    if not isinstance(value, bytes | bytearray):
        raise ScannerError(f"{what} must be bytes, not {type(value).__name__}")
    try:
        return bytes(value).decode("ascii")
    except UnicodeDecodeError:
        raise ScannerError(f"{what} must be ASCII, got {shown(bytes(value))}") from None


class Scanner:
    """Card numbers from a barcode scanner on an open pyserial port (see :func:`open_scanner`).

    :meth:`read` returns the next :class:`~ekarta.barcode.scan.Scan`; iterating yields scans
    until the port fails.  Closing the scanner closes the port; it is a context manager.
    ``port`` is the pyserial object (tests write to a ``loop://`` port through it).
    """

    def __init__(
        self,
        port: Any,
        *,
        terminator: bytes = b"\r",
        prefix: bytes = b"",
        suffix: bytes = b"",
        debounce: float = DEFAULT_DEBOUNCE,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
    ) -> None:
        if not terminator:
            raise ScannerError("the line terminator must not be empty")
        _ascii(terminator, "the line terminator")
        self.port = port
        self.name = name or getattr(port, "port", None) or "scanner"
        self.terminator = bytes(terminator)
        self.filter = ScanFilter(
            prefix=_ascii(prefix, "the prefix"),
            suffix=_ascii(suffix, "the suffix"),
            debounce=debounce,
            clock=clock,
        )
        self._buffer = bytearray()
        self._skipping = False  # the rest of an overlong line is being dropped

    def __repr__(self) -> str:
        return f"<Scanner {self.name}>"

    def __enter__(self) -> Scanner:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[Scan]:
        while True:
            scan = self.read()
            if scan is not None:
                yield scan

    def close(self) -> None:
        try:
            self.port.close()
        except Exception as exc:  # closing a port that is gone may fail any way; it is closed
            log.debug("closing %s: %s", self.name, exc)

    def read(self, timeout: float | None = None) -> Scan | None:
        """The next scan, waiting at most ``timeout`` seconds (None: as long as it takes).

        Returns None when the time is up (a partial line is kept for the next call); raises
        :class:`~ekarta.barcode.errors.ScannerError` when the port fails or is gone.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            scan = self._next_scan()
            if scan is not None:
                return scan
            wait = _SLICE
            if deadline is not None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                wait = min(left, _SLICE)
            self._buffer += self._receive(wait)

    def _receive(self, wait: float | None) -> bytes:
        import serial

        try:
            if self.port.timeout != wait:
                self.port.timeout = wait
            return self.port.read(max(1, self.port.in_waiting))
        except (serial.SerialException, OSError, ValueError) as exc:
            raise ScannerError(f"scanner {self.name} failed: {exc}") from None

    def _next_scan(self) -> Scan | None:
        """The first scan complete in the buffer, consuming the lines before it."""
        while True:
            end = self._buffer.find(self.terminator)
            if end < 0:
                if len(self._buffer) <= MAX_LINE:
                    return None
                # Keep a possible first part of the terminator for the next chunk.
                keep = len(self.terminator) - 1
                raw = bytes(self._buffer[:MAX_LINE])
                del self._buffer[: len(self._buffer) - keep]
                was_skipping, self._skipping = self._skipping, True
                if was_skipping:
                    continue
                return self.filter.refuse(raw.decode("latin-1"), "scanned line is too long")
            line = bytes(self._buffer[:end])
            del self._buffer[: end + len(self.terminator)]
            if self._skipping:
                self._skipping = False
                continue
            if len(line) > MAX_LINE:
                return self.filter.refuse(line[:MAX_LINE].decode("latin-1"),
                                          "scanned line is too long")
            try:
                text = line.decode("ascii")
            except UnicodeDecodeError:
                return self.filter.refuse(line.decode("latin-1"), "scanned line is not ASCII")
            scan = self.filter.accept(text)
            if scan is not None:
                return scan


def _parse_serial_url(url: str) -> tuple[str, int]:
    rest = url[len("serial:") :]
    path, _, query = rest.partition("?")
    if not path:
        raise ScannerError(f"scanner URL {shown(url)} names no device: use serial:PATH[?baud=N]")
    baud = DEFAULT_BAUD
    try:
        params = parse_qs(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ScannerError(f"scanner URL {shown(url)} has a malformed query") from None
    for key, values in params.items():
        if key != "baud":
            raise ScannerError(f"scanner URL {shown(url)}: unknown option {shown(key)} "
                               "(only baud=N is known)")
        text = values[-1]
        if not text.isascii() or not text.isdigit() or not 0 < int(text) <= 4_000_000:
            raise ScannerError(f"scanner URL {shown(url)}: baud must be a positive integer, "
                               f"got {shown(text)}")
        baud = int(text)
    return path, baud


def open_scanner(
    url: str,
    *,
    terminator: bytes = b"\r",
    prefix: bytes = b"",
    suffix: bytes = b"",
    debounce: float = DEFAULT_DEBOUNCE,
    clock: Callable[[], float] = time.monotonic,
) -> Scanner:
    """Open the barcode scanner at ``url`` (see the module documentation for URLs).

    ``terminator`` ends each scanned line; ``prefix`` and ``suffix`` are what the scanner is
    configured to add around the barcode's text (stripped where present); a repeat of the same
    number within ``debounce`` seconds (by ``clock``) is dropped.  Raises
    :class:`~ekarta.barcode.errors.ScannerError` for a bad URL or a port that cannot be opened.
    """
    import serial

    if not isinstance(url, str):
        raise ScannerError(f"a scanner URL must be text, not {type(url).__name__}")
    try:
        if url.startswith("serial:"):
            path, baud = _parse_serial_url(url)
            port = serial.Serial(path, baudrate=baud, timeout=0)
        elif "://" in url:
            port = serial.serial_for_url(url, timeout=0)
        else:
            raise ScannerError(
                f"unknown scanner URL {shown(url)}: use serial:PATH[?baud=N] or a pyserial URL "
                "such as loop:// or socket://HOST:PORT"
            )
    except (serial.SerialException, OSError, ValueError) as exc:
        raise ScannerError(f"cannot open scanner {shown(url)}: {exc}") from None
    log.info("opened scanner %s", url)
    try:
        return Scanner(port, terminator=terminator, prefix=prefix, suffix=suffix,
                       debounce=debounce, clock=clock, name=url)
    except BaseException:
        port.close()
        raise
