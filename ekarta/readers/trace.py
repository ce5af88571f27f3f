"""The trace file that ``spy:`` writes and ``replay:`` reads: one card session per header line.

A trace file is UTF-8 text, one JSON object per line (JSON Lines), so that it can be appended to
while a session runs, read with ``tail -f`` and diffed.  A *session* (one opening of a ``spy:``
reader) is a header line followed by the records of that session; a file may hold several
sessions one after another (a ``spy:`` reader appends).

Header::

    {"format": "ekarta-trace", "version": 1, "url": "emulator:card.json",
     "started": "2024-05-01T10:00:00.000+00:00",
     "card": {"uid": "04 A1 B2 C3 D4 E5 F6", "atr": "3B 81 80 01 80 80", "ats": "06 75 77 81 02 80",
              "atqa": "44 03", "sak": 32}}

``url`` is the inner reader's URL, ``started`` the wall-clock time the session started,
``card`` what the reader knew about the card when the first record was written (``null`` when
nothing; any field may be ``null`` or absent).

Records, in the order they happened; ``t`` is seconds since the session started, ``ms`` how long
the exchange took (both are informative only: a replay does not wait)::

    {"t": 0.0012, "ms": 0.081, "c": "90 60 00 00 00", "r": "04 01 01 12 00 1A 05 91 AF"}
    {"t": 0.0101, "ms": 0.012, "c": "90 6E 00 00 00", "error": "CardRemovedError",
     "message": "emulator:: no card in the field"}
    {"t": 0.5000, "card": {"uid": "04 A1 B2 C3 D4 E5 F6", ...}}

* an *exchange*: the command APDU ``c`` and the response ``r``, hex bytes separated by spaces;
  the data of authentication and key-changing frames is replaced by a marker, as in every trace
  (:mod:`ekarta.desfire.redact`), unless the spy was told to keep it::

    {"t": 0.0150, "ms": 0.090, "c": "90 AA 00 00 01 <redacted 1 bytes> 00",
     "r": "<redacted 16 bytes> 91 AF"}

* a *failed exchange*: ``c`` and, instead of ``r``, the name of the exception class the reader
  raised (``error``) and its message;
* a *card* record: a card came into the field and was selected (``wait_for_card``) after the
  session had started.

:func:`read_trace` treats the file as untrusted input: lines longer than :data:`MAX_LINE`
characters, more than :data:`MAX_RECORDS` records, malformed JSON, unknown keys' wrong types,
bad hex or an unknown format version raise :class:`TraceFormatError` naming the line.

:class:`TraceWriter` creates a trace file mode 0600 and appends only to a file that is a trace
already (its first line a header): never to a card file or a keystore named by mistake.
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, Any

from ekarta.desfire.redact import Hidden, Shown, parse_shown
from ekarta.errors import ReaderError
from ekarta.files import open_private_append
from ekarta.log import hexdump
from ekarta.readers.base import CardInfo

__all__ = [
    "FORMAT",
    "MAX_LINE",
    "MAX_RECORDS",
    "VERSION",
    "CardSeen",
    "Exchange",
    "Record",
    "Session",
    "TraceFormatError",
    "TraceWriter",
    "read_trace",
]

FORMAT = "ekarta-trace"
VERSION = 1

#: Longest line accepted, in characters: an extended-length APDU (65 544 bytes) written as spaced
#: hex is about 197 000 characters.
MAX_LINE = 256 * 1024
#: Most records (all sessions together) read from one file.
MAX_RECORDS = 1_000_000
_MAX_NAME = 100
_MAX_MESSAGE = 4096
_MAX_URL = 4096
_CARD_BYTES = ("uid", "atr", "ats", "atqa")


class TraceFormatError(ReaderError):
    """A trace file cannot be read: not a trace, a newer format, or a malformed line."""


@dataclass(frozen=True)
class Exchange:
    """One command APDU and what came back: ``response``, or the ``error`` the reader raised."""

    t: float
    ms: float
    command: bytes
    response: bytes | None = None
    error: str | None = None
    message: str = ""
    command_hidden: Hidden | None = None
    """Bytes of the command the trace hides: ``command`` holds the others, in order."""
    response_hidden: Hidden | None = None
    """The same for the response."""


@dataclass(frozen=True)
class CardSeen:
    """A card came into the field and was selected, at ``t`` seconds into the session."""

    t: float
    card: CardInfo


Record = Exchange | CardSeen


@dataclass(frozen=True)
class Session:
    """One session of a trace file: its header and its records in order."""

    url: str
    started: str
    card: CardInfo | None
    records: tuple[Record, ...]
    line: int
    """The line number of the session's header in the file (1-based)."""

    @property
    def exchanges(self) -> tuple[Exchange, ...]:
        return tuple(r for r in self.records if isinstance(r, Exchange))


# --- writing --------------------------------------------------------------------------------------


def _card_json(card: CardInfo | None) -> dict[str, Any] | None:
    if card is None:
        return None
    out: dict[str, Any] = {}
    for name in _CARD_BYTES:
        value = getattr(card, name)
        out[name] = None if value is None else hexdump(value)
    out["sak"] = card.sak
    return out


def _number(value: float) -> float:
    return round(value, 6)


def _shown(frame: bytes | Shown) -> Shown:
    return frame if isinstance(frame, Shown) else Shown(bytes(frame), None)


def _open_for_append(path: str) -> IO[str]:
    """``path`` to append a session to: created mode 0600, or a trace file already."""
    try:
        fd = open_private_append(path)
    except OSError as exc:
        raise ReaderError(f"cannot open trace file {path}: {exc.strerror or exc}") from exc
    try:
        if os.fstat(fd).st_size and not _starts_as_trace(path):
            raise ReaderError(f"{path} is not an {FORMAT} file: the trace is not appended to "
                              f"it (name a new file)")
        return open(fd, "a", encoding="utf-8")
    except BaseException:
        os.close(fd)
        raise


def _starts_as_trace(path: str) -> bool:
    try:
        with open(path, encoding="utf-8") as stream:
            first = stream.readline(MAX_LINE)
        doc = json.loads(first)
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return isinstance(doc, dict) and doc.get("format") == FORMAT


class TraceWriter:
    """Appends one session to a trace file (or any text stream), a line at a time.

    The header is written with the first record (so that it carries the card the reader knew by
    then), or by :meth:`close` for a session without records.  Each line is flushed at once, so
    that a crash loses at most the line being written.  Thread-safe.
    """

    def __init__(self, target: str | os.PathLike[str] | IO[str], url: str, *,
                 clock: Any = None) -> None:
        self.url = url
        if isinstance(target, str | os.PathLike):
            self.path: str | None = os.fspath(target)
            self._stream: IO[str] = _open_for_append(self.path)
            self._owns = True
        else:
            self.path = None
            self._stream = target
            self._owns = False
        self._lock = threading.Lock()
        self._header_written = False
        self._closed = False
        self._started = datetime.now(UTC).isoformat(timespec="milliseconds")

    @property
    def header_written(self) -> bool:
        return self._header_written

    def header(self, card: CardInfo | None) -> None:
        """Write the header now, with ``card`` (no effect once it is written)."""
        with self._lock:
            self._header(card)

    def _header(self, card: CardInfo | None) -> None:
        if self._header_written:
            return
        self._line({"format": FORMAT, "version": VERSION, "url": self.url,
                    "started": self._started, "card": _card_json(card)})
        self._header_written = True

    def exchange(self, t: float, ms: float, command: bytes | Shown,
                 response: bytes | Shown | None = None, *,
                 error: BaseException | None = None, card: CardInfo | None = None) -> None:
        """Record one exchange: its response, or the exception the reader raised.  A
        :class:`~ekarta.desfire.redact.Shown` frame is written with its hidden bytes left out."""
        record: dict[str, Any] = {"t": _number(t), "ms": _number(ms), "c": str(_shown(command))}
        if error is not None:
            record["error"] = type(error).__name__
            record["message"] = str(error)[:_MAX_MESSAGE]
        else:
            record["r"] = str(_shown(response or b""))
        with self._lock:
            self._header(card)
            self._line(record)

    def card(self, t: float, card: CardInfo) -> None:
        """Record that ``card`` came into the field (the header takes it if none is written)."""
        with self._lock:
            if not self._header_written:
                self._header(card)
            else:
                self._line({"t": _number(t), "card": _card_json(card)})

    def close(self, card: CardInfo | None = None) -> None:
        with self._lock:
            if self._closed:
                return
            try:
                self._header(card)
            finally:
                self._closed = True
                if self._owns:
                    self._stream.close()

    def _line(self, document: dict[str, Any]) -> None:
        if self._closed:
            raise ReaderError("the trace is closed")
        try:
            self._stream.write(json.dumps(document, separators=(", ", ": ")) + "\n")
            self._stream.flush()
        except OSError as exc:
            where = self.path or "the trace stream"
            raise ReaderError(f"cannot write to {where}: {exc.strerror or exc}") from exc


# --- reading --------------------------------------------------------------------------------------


class _Line:
    """Validation helpers for one parsed line; every failure names the file and line."""

    def __init__(self, where: str, number: int) -> None:
        self.where = f"{where}, line {number}"

    def fail(self, what: str) -> TraceFormatError:
        return TraceFormatError(f"{self.where}: {what}")

    def hex(self, doc: dict[str, Any], key: str) -> bytes:
        value = doc.get(key)
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be hex bytes as a string")
        try:
            return bytes.fromhex(value)
        except ValueError:
            raise self.fail(f"{key!r} is not hex bytes: {value[:40]!r}") from None

    def frame(self, doc: dict[str, Any], key: str) -> tuple[bytes, Hidden | None]:
        """Hex bytes, possibly with one ``<redacted N bytes>`` marker."""
        value = doc.get(key)
        if not isinstance(value, str):
            raise self.fail(f"{key!r} must be hex bytes as a string")
        try:
            return parse_shown(value)
        except ValueError:
            raise self.fail(f"{key!r} is not hex bytes: {value[:40]!r}") from None

    def number(self, doc: dict[str, Any], key: str) -> float:
        value = doc.get(key, 0.0)
        if isinstance(value, bool) or not isinstance(value, int | float) \
                or not math.isfinite(value) or value < 0:
            raise self.fail(f"{key!r} must be a number >= 0")
        return float(value)

    def text(self, doc: dict[str, Any], key: str, limit: int, default: str | None = None) -> str:
        value = doc.get(key, default)
        if not isinstance(value, str) or len(value) > limit:
            raise self.fail(f"{key!r} must be a string of at most {limit} characters")
        return value

    def card(self, value: object) -> CardInfo | None:
        if value is None:
            return None
        if not isinstance(value, dict):
            raise self.fail("'card' must be an object or null")
        fields: dict[str, Any] = {}
        for name in _CARD_BYTES:
            if value.get(name) is not None:
                fields[name] = self.hex(value, name)
        sak = value.get("sak")
        if sak is not None:
            if isinstance(sak, bool) or not isinstance(sak, int) or not 0 <= sak <= 0xFF:
                raise self.fail("'sak' must be a byte value 0..255 or null")
            fields["sak"] = sak
        return CardInfo(**fields)


def _lines(stream: IO[str], where: str) -> Iterable[tuple[int, str]]:
    number = 0
    while True:
        try:
            line = stream.readline(MAX_LINE + 1)
        except UnicodeDecodeError as exc:
            raise TraceFormatError(f"{where}: not UTF-8 text (after line {number})") from exc
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE:
            raise TraceFormatError(f"{where}, line {number}: longer than {MAX_LINE} characters")
        yield number, line


def read_trace(path: str | os.PathLike[str]) -> list[Session]:
    """The sessions of the trace file at ``path``, in file order (see the module docstring)."""
    where = os.fspath(path)
    try:
        stream = open(where, encoding="utf-8")  # noqa: SIM115
    except OSError as exc:
        raise TraceFormatError(f"cannot read trace file {where}: {exc.strerror or exc}") from exc
    with stream:
        return _parse(stream, where)


def _parse(stream: IO[str], where: str) -> list[Session]:
    sessions: list[Session] = []
    header: dict[str, Any] | None = None
    records: list[Record] = []
    count = 0

    def finish() -> None:
        if header is not None:
            sessions.append(Session(records=tuple(records), **header))

    for number, raw in _lines(stream, where):
        text = raw.strip()
        if not text:
            continue
        check = _Line(where, number)
        try:
            doc = json.loads(text)
        except ValueError:
            raise check.fail("not a JSON object") from None
        if not isinstance(doc, dict):
            raise check.fail("not a JSON object")
        if "format" in doc:
            if doc["format"] != FORMAT:
                raise check.fail(f"not an {FORMAT} header (format {doc['format']!r})")
            if doc.get("version") != VERSION:
                raise check.fail(f"trace format version {doc.get('version')!r} is not "
                                 f"supported (this ekarta reads version {VERSION})")
            finish()
            header = {"url": check.text(doc, "url", _MAX_URL),
                      "started": check.text(doc, "started", 64, ""),
                      "card": check.card(doc.get("card")), "line": number}
            records = []
            continue
        if header is None:
            raise check.fail(f"a record before any header: not an {FORMAT} file?")
        count += 1
        if count > MAX_RECORDS:
            raise check.fail(f"more than {MAX_RECORDS} records")
        t = check.number(doc, "t")
        if "c" in doc:
            command, command_hidden = check.frame(doc, "c")
            ms = check.number(doc, "ms")
            if "error" in doc:
                name = check.text(doc, "error", _MAX_NAME)
                if not name.isidentifier():
                    raise check.fail(f"'error' must be an exception class name, got {name!r}")
                records.append(Exchange(t, ms, command, error=name,
                                        message=check.text(doc, "message", _MAX_MESSAGE, ""),
                                        command_hidden=command_hidden))
            elif "r" in doc:
                response, response_hidden = check.frame(doc, "r")
                records.append(Exchange(t, ms, command, response=response,
                                        command_hidden=command_hidden,
                                        response_hidden=response_hidden))
            else:
                raise check.fail("an exchange needs 'r' (the response) or 'error'")
        elif "card" in doc:
            card = check.card(doc["card"])
            if card is None:
                raise check.fail("a card record needs a 'card' object")
            records.append(CardSeen(t, card))
        else:
            raise check.fail("neither an exchange ('c') nor a card record ('card')")
    finish()
    return sessions
