"""The ``spy`` reader: any reader, with every exchange logged and optionally recorded.

URL grammar::

    spy:INNER                 log every exchange of the reader INNER
    spy:INNER#file=PATH       ... and append the session to the trace file PATH
    spy:INNER#secrets[#file=PATH]
                              ... without hiding secret data: UNSAFE, see below

``INNER`` is any reader URL, passed unchanged to :func:`ekarta.readers.open_reader`: it may contain
``:``, ``?`` and ``#`` (``spy:nfcpy:tty:USB0:pn532``, ``spy:pn532:/dev/ttyUSB0?baud=115200``,
``spy:replay:old.jsonl#session=2#file=new.jsonl``).  Only the *last* ``#file=`` splits the URL, so
the trace path cannot contain ``#file=`` itself; ``~`` in it is expanded.

Every exchange is logged at ``DEBUG`` on the ``ekarta.readers.spy`` logger, with its duration::

    emulator:card.json 0.412 ms 90 60 00 00 00 -> 04 01 01 12 00 1A 05 91 AF

The log and the trace file hide the data of authentication and key-changing frames and of their
answers (:mod:`ekarta.desfire.redact`): ``90 AA 00 00 01 <redacted 1 bytes> 00``.  ``#secrets``
keeps them, as ``ekarta --trace-secrets`` does for every trace.  That is UNSAFE: from such a
trace of a card issued with the factory keys anyone can recover the card's keys; use it only on
test cards, and only to debug the cryptography.  A redacted session replays up to its first
authentication (:mod:`ekarta.readers.replay`).  The spy creates its trace file mode 0600, and
appends only to a file that is an ekarta trace already.

The trace file is JSON Lines (:mod:`ekarta.readers.trace`): a header with the inner URL and the
card, then one line per exchange with its time and duration; ``replay:PATH`` plays it back.
Errors of the inner reader (card removed, timeout, ...) pass through unchanged, and are logged and
recorded too.  If the trace file cannot be written (disk full...), the spy logs an error and
stops writing it; the exchanges go on unchanged.  Everything else — presence, waiting for a
card, the card's info, the monitor, reopening — is the inner reader's; ``reader.inner`` is the
inner reader itself.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable

from ekarta.desfire.redact import FrameTracer, Shown
from ekarta.errors import InvalidArgument, ReaderError
from ekarta.readers.base import CardInfo, Reader
from ekarta.readers.trace import TraceWriter

__all__ = ["SpyReader", "describe_card", "open_spy", "parse_spy_url"]

logger = logging.getLogger(__name__)

_FILE = "#file="
_SECRETS = "#secrets"


def describe_card(info: CardInfo | None) -> str:
    """``uid 04A1B2C3D4E5F6 atqa 4403 sak 20 ...`` for a log line (``none`` for no card)."""
    if info is None:
        return "none"
    parts = [f"{name} {getattr(info, name).hex().upper()}"
             for name in ("uid", "atqa") if getattr(info, name) is not None]
    if info.sak is not None:
        parts.append(f"sak {info.sak:02X}")
    parts += [f"{name} {getattr(info, name).hex().upper()}"
              for name in ("ats", "atr") if getattr(info, name) is not None]
    return " ".join(parts) or "no details"


def parse_spy_url(rest: str) -> tuple[str, str | None]:
    """Split what follows ``spy:`` into the inner URL and the trace path (or None)."""
    inner, sep, path = rest.rpartition(_FILE)
    if not sep:
        inner, path = rest, ""
    elif not path:
        raise InvalidArgument(f"spy:{rest}: '#file=' needs a path after it")
    if not inner:
        raise InvalidArgument("spy: needs the URL of the reader to spy on, e.g. spy:emulator:")
    return inner, (os.path.expanduser(path) if sep else None)


class SpyReader(Reader):
    """Wraps ``inner``, logging every exchange and appending it to ``trace`` when given.

    The spy owns the inner reader: closing the spy closes it.
    """

    def __init__(self, inner: Reader, trace: str | os.PathLike[str] | None = None, *,
                 secrets: bool = False) -> None:
        suffix = ("" if not secrets else _SECRETS) + (
            "" if trace is None else f"{_FILE}{os.fspath(trace)}")
        super().__init__(f"spy:{inner.url}{suffix}")
        self.inner = inner
        self._start = time.monotonic()
        self._tracer = FrameTracer(reveal=True if secrets else None)
        self._writer = None if trace is None else TraceWriter(trace, inner.url)

    @property
    def trace_path(self) -> str | None:
        return None if self._writer is None else self._writer.path

    def transceive(self, apdu: bytes) -> bytes:
        command = self._tracer.frame(apdu, to_card=True)
        began = time.monotonic()
        try:
            response = self.inner.transceive(command.frame)
        except Exception as exc:
            ms = (time.monotonic() - began) * 1000
            logger.debug("%s %.3f ms %s -> %s: %s", self.inner.url, ms, command,
                         type(exc).__name__, exc)
            self._record_exchange(began, ms, command, None, exc)
            raise
        ms = (time.monotonic() - began) * 1000
        answer = self._tracer.frame(response, to_card=False)
        logger.debug("%s %.3f ms %s -> %s", self.inner.url, ms, command, answer)
        self._record_exchange(began, ms, command, answer, None)
        return response

    def _record_exchange(self, began: float, ms: float, command: Shown, response: Shown | None,
                         error: BaseException | None) -> None:
        card = self.inner.card_info
        self._record(lambda w: w.exchange(began - self._start, ms, command, response,
                                          error=error, card=card))

    def _record(self, write: Callable[[TraceWriter], None]) -> None:
        """Write to the trace file, if any; a failure stops the tracing, never the exchange (the
        spy must not change what the client sees)."""
        writer = self._writer
        if writer is None:
            return
        try:
            write(writer)
        except ReaderError as exc:
            logger.error("%s: %s; no more tracing to the file", self.url, exc)
            self._writer = None
            with contextlib.suppress(ReaderError, OSError):
                writer.close()

    @property
    def card_present(self) -> bool:
        return self.inner.card_present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        info = self.inner.wait_for_card(timeout)
        logger.debug("%s card in the field: %s", self.inner.url, describe_card(info))
        self._record(lambda w: w.card(time.monotonic() - self._start, info))
        return info

    @property
    def card_info(self) -> CardInfo | None:
        return self.inner.card_info

    def reopen(self) -> None:
        self.inner.reopen()

    def _can_reopen(self) -> bool:
        return self.inner._can_reopen()

    def close(self) -> None:
        if self.closed:
            return
        card = self.inner.card_info
        try:
            self.inner.close()
        finally:
            self._record(lambda w: w.close(card))
            self._writer = None
            super().close()


def _take_secrets(rest: str) -> tuple[str, bool]:
    """``rest`` without its ``#secrets`` flag (at its end or before ``#file=``), and the flag."""
    if rest.endswith(_SECRETS):
        return rest[:-len(_SECRETS)], True
    head, sep, tail = rest.rpartition(_SECRETS + _FILE)
    if sep:
        return head + _FILE + tail, True
    return rest, False


def open_spy(rest: str) -> SpyReader:
    """The ``spy:`` driver: ``rest`` is ``INNER[#secrets][#file=PATH]``."""
    from ekarta.readers import open_reader

    rest, secrets = _take_secrets(rest)
    inner_url, path = parse_spy_url(rest)
    inner = open_reader(inner_url)
    try:
        return SpyReader(inner, path, secrets=secrets)
    except BaseException:
        inner.close()
        raise
