"""What a frame trace must not show: the data of authentication and key-changing frames.

An authentication with a known key (the public factory keys a card is issued with) lets anyone
who holds its frames derive the session key and decrypt the ChangeKey cryptograms that follow;
an authentication with a secret key gives known plaintext for a key search.  So every trace of
frames (the reader drivers' and the DESFire client's TRACE lines, ``spy:`` trace files, the
emulator's front-ends) hides the data of

* the authentications: 0x0A (legacy), 0x1A (ISO), 0xAA (AES), 0x71 (EV2First), 0x77
  (EV2NonFirst), the ISO 7816-4 GET CHALLENGE / EXTERNAL / INTERNAL AUTHENTICATE (``00 84``,
  ``00 82``, ``00 88``), and the 0xAF frames that continue them;
* the commands that carry key material: ChangeKey 0xC4, ChangeKeyEV2 0xC6, SetConfiguration 0x5C
  (which can set the default key), and their 0xAF continuations;
* the card's answer to each of those;

keeping the command byte, the ISO 7816 header and the status, so that the trace still reads::

    90 C4 00 00 29 <redacted 41 bytes> 00
    <redacted 8 bytes> 91 00

:func:`redact` classifies one frame: a pure function of the frame and a :class:`TraceState`
(what the frames before it said: an 0xAF continuation belongs to the command it continues).  It
understands the ISO 7816 wrapped form (``90 CMD 00 00 Lc DATA 00``, answer ``DATA 91 SS``), the
native form (``CMD DATA``, answer ``SS DATA``) and a frame cut in pieces by the link (ISO 14443-4
chaining, the PN532's MI bit: ``more=True`` on every piece but the last).  :class:`FrameTracer`
keeps that state for one link and renders frames for a log line; every trace site uses one.

Revealing the data is for debugging a card's cryptography and must be asked for explicitly
(``ekarta --trace-secrets``, ``spy:...#secrets``): :func:`reveal_secrets` turns it on for the
whole process.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, NamedTuple

from ekarta.desfire.commands import Cmd
from ekarta.log import hexdump

__all__ = [
    "KEY_COMMANDS",
    "SECRET_COMMANDS",
    "FrameTracer",
    "Hidden",
    "Shown",
    "TraceState",
    "exchange_frame",
    "parse_shown",
    "redact",
    "reveal_secrets",
    "secrets_revealed",
    "show",
]

#: Commands whose frames carry key material (in cryptograms).
KEY_COMMANDS: Final = frozenset({int(Cmd.CHANGE_KEY), 0xC6, int(Cmd.SET_CONFIGURATION)})
#: Every DESFire command whose data and answer a trace hides.
SECRET_COMMANDS: Final = frozenset({
    int(Cmd.AUTHENTICATE_LEGACY), int(Cmd.AUTHENTICATE_ISO), int(Cmd.AUTHENTICATE_AES),
    int(Cmd.AUTHENTICATE_EV2_FIRST), int(Cmd.AUTHENTICATE_EV2_NONFIRST), *KEY_COMMANDS})
#: ISO 7816-4 authentication instructions (class 00): GET CHALLENGE, EXTERNAL and INTERNAL
#: AUTHENTICATE.
_ISO_AUTH: Final = frozenset({0x84, 0x82, 0x88})

_WRAPPED_CLA = 0x90
_ISO_CLA = 0x00
_MORE = int(Cmd.ADDITIONAL_FRAME)

_revealed = False


def reveal_secrets(on: bool) -> None:
    """Show (or hide again) the secret data in every trace of this process.  Unsafe: a trace
    taken so can give away the card's keys."""
    global _revealed
    _revealed = bool(on)


def secrets_revealed() -> bool:
    """Whether :func:`reveal_secrets` is on."""
    return _revealed


class Hidden(NamedTuple):
    """``length`` bytes hidden at offset ``at`` of a frame (a named tuple, as :class:`Shown`)."""

    at: int
    length: int


@dataclass(frozen=True)
class TraceState:
    """What the frames seen so far on one link say about the next ones."""

    answer_secret: bool = False
    """The card's next answer belongs to a secret command."""
    answer_native: bool = False
    """... and comes in the native form (status first) rather than ISO 7816 (status last)."""
    continues_secret: bool = False
    """The card asked for more (0xAF) of a secret exchange: the reader's 0xAF frame continues it."""
    piece_to_card: bool | None = None
    """A command is cut in pieces by the link; whether it is secret (None: no piece pending)."""
    piece_from_card: bool | None = None
    """The same for an answer."""
    awaiting: bool = False
    """A command was seen and its answer was not (yet)."""
    last_secret: bool = False
    """The last answer was secret: a repeat of it (a link resending a lost block) is too."""


_STATES: dict[tuple[bool, bool, bool, bool | None, bool | None, bool, bool], TraceState] = {}


def _state(answer_secret: bool, answer_native: bool, continues_secret: bool,
           piece_to_card: bool | None, piece_from_card: bool | None, awaiting: bool,
           last_secret: bool) -> TraceState:
    """The trace state of these fields (in declaration order), one shared object for each: a
    state is immutable, a link moves through a handful of them, and looking one up costs less
    than making one."""
    key = (answer_secret, answer_native, continues_secret, piece_to_card, piece_from_card,
           awaiting, last_secret)
    state = _STATES.get(key)
    if state is None:
        state = _STATES[key] = TraceState(*key)
    return state


# The states after a plain command and after its plain answer, by the command's form: these two
# follow almost every frame on a link.
_AWAITING_PLAIN: Final = {native: _state(False, native, False, None, None, True, False)
                          for native in (False, True)}
_ANSWERED_PLAIN: Final = {native: _state(False, native, False, None, None, False, False)
                          for native in (False, True)}
#: The shared states before a frame nothing can make secret but its own command code (no piece of
#: a frame pending, no secret exchange to continue): the tracer's fast path starts from these.
_SETTLED: Final = frozenset(id(state) for states in (_AWAITING_PLAIN, _ANSWERED_PLAIN)
                            for state in states.values())


def _classify_command(frame: bytes, continues_secret: bool) -> tuple[bool, bool]:
    """Whether the command ``frame`` is secret, and whether it is in the native form."""
    if len(frame) >= 4 and frame[0] == _WRAPPED_CLA:
        cmd, native = frame[1], False
    elif len(frame) >= 4 and frame[0] == _ISO_CLA and frame[1] in _ISO_AUTH:
        return True, False
    elif frame:
        cmd, native = frame[0], True
    else:
        return False, True
    return cmd in SECRET_COMMANDS or (cmd == _MORE and continues_secret), native


def _command_span(frame: bytes, native: bool) -> Hidden:
    if native:
        return Hidden(1, len(frame) - 1)
    if len(frame) <= 5:
        return Hidden(5, 0)
    # keep Le when the frame is exactly header, Lc, data and Le; hide anything else after Lc
    end = len(frame) - 1 if len(frame) == 6 + frame[4] else len(frame)
    return Hidden(5, end - 5)


def _answer_span(frame: bytes, native: bool, *, first: bool,
                 last: bool) -> tuple[Hidden, int | None]:
    """The data of a (piece of an) answer, and its status byte when the piece holds it."""
    if native:
        if first:
            return Hidden(1, max(len(frame) - 1, 0)), (frame[0] if frame else None)
        return Hidden(0, len(frame)), None
    if last:
        status = frame[-1] if len(frame) >= 2 else None
        return Hidden(0, max(len(frame) - 2, 0)), status
    return Hidden(0, len(frame)), None


def redact(state: TraceState, frame: bytes, *, to_card: bool,
           more: bool = False) -> tuple[TraceState, Hidden | None]:
    """Classify one frame seen on a link: the state after it, and the bytes a trace must hide
    (``None`` when nothing is secret).

    ``to_card`` is the direction; ``more`` says the link cut the frame and a piece of it
    follows (ISO 14443-4 or PN532 chaining).  A frame in one direction while a message of the
    other is still being cut in pieces is the link's acknowledgement: it changes nothing.
    """
    if type(frame) is not bytes:
        frame = bytes(frame)
    mine = state.piece_to_card if to_card else state.piece_from_card
    other = state.piece_from_card if to_card else state.piece_to_card
    if other is not None:
        return state, None
    first = mine is None
    if to_card:
        if first:
            secret, native = _classify_command(frame, state.continues_secret)
            if not secret and not more:  # nearly every command: no new state object
                return _AWAITING_PLAIN[native], None
            span = _command_span(frame, native) if secret else None
            state = _state(secret, native, False, secret if more else None, None, True, False)
        else:
            secret = bool(mine)
            span = Hidden(0, len(frame)) if secret else None
            state = _state(state.answer_secret, state.answer_native, state.continues_secret,
                           secret if more else None, state.piece_from_card, state.awaiting,
                           state.last_secret)
        return state, span if span is not None and span.length else None
    # an answer
    if not first:
        secret = bool(mine)
    elif state.awaiting:
        secret = state.answer_secret
    else:
        secret = state.last_secret
    if not secret:
        if not more:
            return _ANSWERED_PLAIN[state.answer_native], None
        return (_state(False, state.answer_native, False, state.piece_to_card, False, False,
                       False), None)
    span, status = _answer_span(frame, state.answer_native, first=first, last=not more)
    if more:
        state = _state(state.answer_secret, state.answer_native,
                       status == _MORE if status is not None else False, state.piece_to_card,
                       True, state.awaiting, state.last_secret)
    else:
        asks_more = status == _MORE if status is not None else state.continues_secret
        state = _state(False, state.answer_native, asks_more, state.piece_to_card, None, False,
                       True)
    return state, span if span.length else None


def exchange_frame(frame: bytes, *, to_card: bool, secret: bool) -> Shown:
    """A frame of an ISO-wrapped exchange whose command the sender knows (the DESFire client
    knows what it sends): a ``secret`` exchange's data hidden as :func:`redact` hides it.

    No state to keep, so a client traces only while the trace is on; every other trace site
    sees frames it did not make and keeps a :class:`FrameTracer`.
    """
    if not secret or _revealed:
        return Shown(frame, None)
    if to_card:
        span = _command_span(frame, False)
    else:
        span = _answer_span(frame, False, first=True, last=True)[0]
    return Shown(frame, span if span.length else None)


_MARKER = "<redacted {} bytes>"
_MARKER_RE = re.compile(r"<redacted ([0-9]{1,9}) bytes>")


def show(frame: bytes, hidden: Hidden | None) -> str:
    """``frame`` as spaced hex, with its ``hidden`` bytes replaced by ``<redacted N bytes>``."""
    if hidden is None or not hidden.length:
        return hexdump(frame)
    parts = [hexdump(frame[:hidden.at]), _MARKER.format(hidden.length),
             hexdump(frame[hidden.at + hidden.length:])]
    return " ".join(p for p in parts if p)


def parse_shown(text: str) -> tuple[bytes, Hidden | None]:
    """The inverse of :func:`show`: the bytes shown and what was hidden (``ValueError`` for text
    that is neither hex bytes nor hex bytes with one marker)."""
    matches = list(_MARKER_RE.finditer(text))
    if not matches:
        return bytes.fromhex(text), None
    if len(matches) > 1:
        raise ValueError("more than one redaction marker")
    match = matches[0]
    before = bytes.fromhex(text[:match.start()])
    after = bytes.fromhex(text[match.end():])
    return before + after, Hidden(len(before), int(match.group(1)))


class Shown(NamedTuple):
    """A frame and what to hide of it; rendered only when a log line is written (``str``).

    A named tuple rather than a frozen dataclass: every frame of every link makes one, traced
    or not, and a tuple is made in a third of the time."""

    frame: bytes
    hidden: Hidden | None

    def __str__(self) -> str:
        return show(self.frame, self.hidden)


class FrameTracer:
    """The :func:`redact` state of one link, and its frames ready for a trace.

    ``reveal`` shows the secret data (unsafe); None follows :func:`reveal_secrets`.  Feed it
    every frame of the link in order, whether or not the trace is on at the moment, so that it
    never loses track of an exchange.  Not thread-safe: one link, one tracer.
    """

    def __init__(self, reveal: bool | None = None) -> None:
        self.reveal = reveal
        self.state = _ANSWERED_PLAIN[False]  # TraceState(), the shared object

    @property
    def revealing(self) -> bool:
        return _revealed if self.reveal is None else self.reveal

    def hidden(self, frame: bytes, *, to_card: bool, more: bool = False,
               start: int = 0, stop: int | None = None) -> Hidden | None:
        """Classify ``frame[start:stop]`` (a DESFire frame inside a link's frame): what to hide
        of the whole ``frame``, or None."""
        state = self.state
        if not more and not start and stop is None and id(state) in _SETTLED:
            # nearly every frame: what redact() does for a whole plain frame, without a call
            if not to_card:
                self.state = _ANSWERED_PLAIN[state.answer_native]
                return None
            if len(frame) >= 4 and frame[0] == _WRAPPED_CLA and frame[1] not in SECRET_COMMANDS:
                self.state = _AWAITING_PLAIN[False]
                return None
        inner = frame[start:stop] if start or stop is not None else frame
        self.state, span = redact(state, inner, to_card=to_card, more=more)
        if span is None or self.revealing:
            return None
        return Hidden(start + span.at, span.length) if start else span

    def exchange(self, command: bytes, answer: bytes) -> None:
        """Classify a whole command and its whole answer at once: for a link that traces
        neither (the state moves on as with :meth:`hidden` on each, in one call)."""
        state = self.state
        if id(state) in _SETTLED and len(command) >= 4 and command[0] == _WRAPPED_CLA \
                and command[1] not in SECRET_COMMANDS:
            self.state = _ANSWERED_PLAIN[False]  # a plain command, then its answer
            return
        if state.piece_to_card is not None or state.piece_from_card is not None:
            self.hidden(command, to_card=True)
            self.hidden(answer, to_card=False)
            return
        # redact() on both frames, but for the spans nobody asks for
        secret, native = _classify_command(command, state.continues_secret)
        if not secret:
            self.state = _ANSWERED_PLAIN[native]
            return
        if native:
            status = answer[0] if answer else None
        else:
            status = answer[-1] if len(answer) >= 2 else None
        self.state = _state(False, native, status == _MORE, None, None, False, True)

    def frame(self, frame: bytes, *, to_card: bool, more: bool = False,
              start: int = 0, stop: int | None = None) -> Shown:
        """Classify as :meth:`hidden`; the frame to log (``%s`` renders it)."""
        if type(frame) is not bytes:
            frame = bytes(frame)
        return Shown(frame, self.hidden(frame, to_card=to_card, more=more, start=start,
                                        stop=stop))

    def block(self, frame: bytes, *, to_card: bool, crc: bool = False, start: int = 0) -> Shown:
        """An ISO 14443-4 block at ``frame[start:]`` (PCB, optional CID and NAD, INF, CRC_A when
        ``crc``): the INF of an I-block is classified, with its chaining bit; other blocks pass
        unchanged."""
        frame = bytes(frame)
        stop = len(frame) - 2 if crc else len(frame)
        if stop <= start or frame[start] & 0xE2 != 0x02:
            return Shown(frame, None)
        pcb = frame[start]
        inf = start + 1 + bool(pcb & 0x08) + bool(pcb & 0x04)
        if inf > stop:
            return Shown(frame, None)
        return self.frame(frame, to_card=to_card, more=bool(pcb & 0x10), start=inf, stop=stop)
