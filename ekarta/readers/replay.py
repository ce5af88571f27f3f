"""The ``replay`` reader: a recorded card session played back, for regression tests.

URL grammar::

    replay:PATH               the only session of the trace file PATH
    replay:PATH#session=N     session N (1, 2, ...) of a file holding several

``PATH`` is a trace file (:mod:`ekarta.readers.trace`) as ``spy:INNER#file=PATH`` writes it, or
as written by hand from a published or field-captured transcript; ``~`` is expanded.  A file with
several sessions needs ``#session=N``; the error says how many there are.

The reader answers each command with the recorded response, in order, and checks every command
byte for byte against the recording: the first one that differs raises :class:`ReplayMismatch`
naming the step, the recorded command and the one sent; a command after the last recorded one
raises :class:`ReplayExhausted` (a :class:`ReplayMismatch`).  A recorded error is raised again as
the same class (:class:`~ekarta.errors.CardRemovedError`, :class:`~ekarta.errors.ReaderTimeout`,
...; an error class that is not one of ekarta's reader errors comes back as a plain
:class:`~ekarta.errors.ReaderError`).  A replay does not wait: the recorded times are not
reproduced.

``card_info`` is the card of the trace's header, there from the start; a recorded removal makes
``card_present`` false until the next recorded card comes (``wait_for_card`` moves on to it, or
raises :class:`~ekarta.errors.ReaderTimeout` after its timeout when the recording has none).

A test replays a session with the client's random numbers fixed, as they were when it was
recorded (``DESFire(reader, rng=...)``), and checks the whole recording was used with
:meth:`ReplayReader.assert_done`.

Redacted traces.  A trace hides the data of authentication and key-changing frames
(:mod:`ekarta.desfire.redact`).  A command with hidden bytes matches when its visible bytes and
its length do; a response with hidden bytes cannot be played back, so the replay raises
:class:`ReplayRedacted` there: a redacted session replays up to its first authentication (or
key change whose answer carries data).  A session to replay whole is recorded with
``spy:INNER#secrets#file=PATH`` (UNSAFE: only ever on test cards).
"""

from __future__ import annotations

import os
import re
import time

from ekarta import errors
from ekarta.desfire.redact import Hidden, show
from ekarta.errors import CardRemovedError, InvalidArgument, NoCardError, ReaderError, ReaderTimeout
from ekarta.log import hexdump
from ekarta.readers.base import CardInfo, Reader
from ekarta.readers.trace import CardSeen, Exchange, Session, TraceFormatError, read_trace

__all__ = ["ReplayExhausted", "ReplayMismatch", "ReplayReader", "ReplayRedacted", "open_replay"]

_SESSION = re.compile(r"(.*)#session=([0-9]{1,9})\Z", re.DOTALL)


class ReplayMismatch(ReaderError):
    """The client sent another command than the recording has at this step.

    ``step`` is the exchange's number (1-based), ``expected`` the recorded command (None past the
    end of the recording) and ``got`` the command sent.
    """

    def __init__(self, message: str, *, step: int, expected: bytes | None, got: bytes) -> None:
        super().__init__(message)
        self.step = step
        self.expected = expected
        self.got = got


class ReplayExhausted(ReplayMismatch):
    """The client sent a command after the last one of the recording."""


class ReplayRedacted(ReplayMismatch):
    """The recording hides the data of the response to play back (a redacted trace)."""


def _recorded(command: bytes, hidden: Hidden | None) -> str:
    """A recorded command as the trace shows it (``command`` lacks its hidden bytes)."""
    if hidden is None:
        return hexdump(command)
    return show(command[:hidden.at] + bytes(hidden.length) + command[hidden.at:], hidden)


def _sent(apdu: bytes, hidden: Hidden | None) -> str:
    """The command sent, for a mismatch: its header only where the recording hides secrets."""
    if hidden is None:
        return hexdump(apdu)
    return f"{hexdump(apdu[:hidden.at])} ... ({len(apdu)} bytes)"


def _matches(command: bytes, hidden: Hidden | None, apdu: bytes) -> bool:
    """Whether ``apdu`` is the recorded ``command``, whose ``hidden`` bytes are left out."""
    if hidden is None:
        return apdu == command
    return (len(apdu) == len(command) + hidden.length
            and apdu[:hidden.at] == command[:hidden.at]
            and apdu[hidden.at + hidden.length:] == command[hidden.at:])


def _error_class(name: str) -> type[ReaderError] | None:
    replays = (ReplayMismatch, ReplayExhausted, ReplayRedacted)
    if name in {c.__name__ for c in replays}:
        return {c.__name__: c for c in replays}[name]
    cls = getattr(errors, name, None)
    if isinstance(cls, type) and issubclass(cls, ReaderError):
        return cls
    return None


class ReplayReader(Reader):
    """Plays back ``session`` (read from ``path``; see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str], session: int | None = None) -> None:
        self.path = os.path.expanduser(os.fspath(path))
        suffix = "" if session is None else f"#session={session}"
        super().__init__(f"replay:{os.fspath(path)}{suffix}")
        sessions = read_trace(self.path)
        if not sessions:
            raise TraceFormatError(f"{self.path}: no session in this trace file")
        if session is None:
            if len(sessions) > 1:
                raise InvalidArgument(
                    f"{self.path} holds {len(sessions)} sessions: pick one with "
                    f"replay:{os.fspath(path)}#session=N (N = 1..{len(sessions)})")
            session = 1
        if not 1 <= session <= len(sessions):
            raise InvalidArgument(
                f"{self.path} has no session {session}: it holds {len(sessions)}")
        self.session: Session = sessions[session - 1]
        self._records = self.session.records
        self._total = len(self.session.exchanges)
        self._next = 0  # index into _records
        self._step = 0  # exchanges replayed
        self._present = True
        self._card_info = self.session.card

    # --- progress ---------------------------------------------------------------------------------

    @property
    def replayed(self) -> int:
        """How many recorded exchanges were replayed so far."""
        return self._step

    @property
    def remaining(self) -> int:
        """How many recorded exchanges are still to come."""
        return self._total - self._step

    def assert_done(self) -> None:
        """Raise :class:`ReplayMismatch` unless every recorded exchange was replayed."""
        if self.remaining:
            upcoming = self._upcoming_exchange()
            expected = upcoming.command if upcoming is not None else None
            raise ReplayMismatch(
                f"{self._where()}: only {self._step} of {self._total} recorded exchanges were "
                f"replayed; the next is {hexdump(expected or b'')}",
                step=self._step + 1, expected=expected, got=b"")

    # --- Reader -----------------------------------------------------------------------------------

    def transceive(self, apdu: bytes) -> bytes:
        self._check_open()
        apdu = bytes(apdu)
        self._take_cards()
        step = self._step + 1
        if self._next >= len(self._records):
            raise ReplayExhausted(
                f"{self._where()}, step {step}: the recording ended after {self._total} "
                f"exchanges; got {hexdump(apdu)} past its end",
                step=step, expected=None, got=apdu)
        record = self._records[self._next]
        assert isinstance(record, Exchange)
        if not _matches(record.command, record.command_hidden, apdu):
            raise ReplayMismatch(
                f"{self._where()}, step {step} of {self._total}: the command differs from the "
                f"recording\n  expected {_recorded(record.command, record.command_hidden)}"
                f"\n  got      {_sent(apdu, record.command_hidden)}",
                step=step, expected=record.command, got=apdu)
        if record.response_hidden is not None:
            raise ReplayRedacted(
                f"{self._where()}, step {step} of {self._total}: the recording hides the "
                f"secret data of this response ({record.response_hidden.length} bytes), so it "
                f"cannot be replayed; record with spy:...#secrets to replay authentications",
                step=step, expected=record.command, got=apdu)
        self._next += 1
        self._step = step
        if record.error is not None:
            self._raise_recorded(record, step)
        assert record.response is not None
        return record.response

    @property
    def card_present(self) -> bool:
        return not self.closed and self._present

    def wait_for_card(self, timeout: float | None = None) -> CardInfo:
        self._check_open()
        self._take_cards()
        if not self._present:
            if timeout is None:
                raise NoCardError(f"{self._where()}: the recording has no card in the field "
                                  f"after step {self._step}, so waiting would never end")
            time.sleep(timeout)
            raise ReaderTimeout(f"{self._where()}: no card in the field after step {self._step}")
        if self._card_info is None:
            self._card_info = CardInfo()
        return self._card_info

    # --- internals --------------------------------------------------------------------------------

    def _where(self) -> str:
        return f"replay of {self.path}"

    def _take_cards(self) -> None:
        """Move over the card records that come before the next exchange."""
        while self._next < len(self._records):
            record = self._records[self._next]
            if not isinstance(record, CardSeen):
                return
            self._card_info = record.card
            self._present = True
            self._next += 1

    def _upcoming_exchange(self) -> Exchange | None:
        for record in self._records[self._next:]:
            if isinstance(record, Exchange):
                return record
        return None

    def _raise_recorded(self, record: Exchange, step: int) -> None:
        assert record.error is not None
        cls = _error_class(record.error)
        where = f"(replayed from {self.path}, step {step})"
        if cls in (CardRemovedError, NoCardError):
            self._present = False
            self._card_info = None
        if cls is None:
            raise ReaderError(f"recorded {record.error}: {record.message} {where}")
        if issubclass(cls, ReplayMismatch):
            raise cls(f"{record.message} {where}", step=step, expected=None, got=record.command)
        raise cls(f"{record.message} {where}")


def open_replay(rest: str) -> ReplayReader:
    """The ``replay:`` driver: ``rest`` is ``PATH`` or ``PATH#session=N``."""
    match = _SESSION.match(rest)
    path, session = (match.group(1), int(match.group(2))) if match else (rest, None)
    if not path:
        raise InvalidArgument("replay: needs the path of a trace file, e.g. replay:session.jsonl")
    return ReplayReader(path, session)
