"""APDU framing: short APDUs, ISO-wrapped native commands, chaining both ways, status words.

* Native commands are ISO-wrapped: ``90 CMD 00 00 [Lc DATA] [00]`` → ``DATA 91 SS`` (P1/P2 are
  ignored).  An APDU whose Lc does not match its length is answered ``67 00``; any other CLA than
  ``90`` or ``00`` ``6E 00``; CLA ``00`` goes to :mod:`.iso7816`.
* Responses longer than :data:`MAX_FRAME` bytes are chained (``91 AF``, continued by
  ``90 AF 00 00 00``); GetVersion answers in frames of 7, 7 and 14 bytes, GetDFNames one
  application per frame.  A session's MAC travels at the end of the last frame.
* Long commands are chained by the reader with ``90 AF`` frames; the card answers ``91 AF`` until
  it holds the whole message, which it knows for the commands that carry data — WriteData,
  WriteRecord, Credit, Debit, LimitedCredit, ChangeKey, ChangeKeySettings, ChangeFileSettings,
  SetConfiguration (options 0 and 1) — from the header and the session.  As on a real card, the
  other commands (all parameters, at most 23 bytes plus an 8-byte EV2 MAC) must come in one
  frame: they are processed as they arrive, and a short one is a length error (0x7E).  An empty
  ``90 AF`` frame ends a command chain: the card processes what it has.
* A 0xAF frame with nothing pending: 0x1C; data in a ``90 AF`` that asks for the next response
  frame: 0x7E.  A new command abandons a pending chain or authentication handshake.
* Every error status drops the authentication (and a pending handshake); secure-messaging
  failures answer 0x1E (integrity), 0x7E (malformed: lengths) or 0xAE (authentication).
"""

from __future__ import annotations

from ekarta.desfire.auth import METHOD_BY_COMMAND
from ekarta.desfire.commands import FREE, Cmd
from ekarta.desfire.crypto import KeyType
from ekarta.desfire.session import Comm, EV1Session, EV2Session, LegacySession
from ekarta.emulator.card import applications, contents, files, iso7816, picc
from ekarta.emulator.card.context import EV2_MAC, Context, Handler, Incoming, Reply, fail, u24
from ekarta.emulator.card.iso7816 import SW_CLA, SW_WRONG_LENGTH, sw
from ekarta.emulator.state import DataFile, RecordFile, ValueFile
from ekarta.errors import (
    AuthenticationError,
    AuthenticationRejected,
    ChecksumRejected,
    DESFireStatusError,
    IllegalCommand,
    IntegrityError,
    InvalidArgument,
    LengthError,
    MalformedMessage,
    ParameterError,
)

__all__ = ["HANDLERS", "MAX_FRAME", "dispatch", "parse_apdu"]

#: Most data bytes in one response frame.
MAX_FRAME = 59

_OK = b"\x91\x00"
_MORE = b"\x91\xAF"

#: Every native command the card knows, by command code.
HANDLERS: dict[int, Handler] = {
    **picc.HANDLERS, **applications.HANDLERS, **files.HANDLERS, **contents.HANDLERS,
}


def parse_apdu(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None] | None:
    """Split a short APDU into CLA, INS, P1, P2, data and Le (256 for 00); None if malformed."""
    if len(apdu) < 4:
        return None
    cla, ins, p1, p2 = apdu[:4]
    rest = apdu[4:]
    if not rest:
        return cla, ins, p1, p2, b"", None
    if len(rest) == 1:
        return cla, ins, p1, p2, b"", rest[0] or 256
    lc = rest[0]
    if lc == 0:
        return None  # extended length: not supported
    if len(rest) == 1 + lc:
        return cla, ins, p1, p2, rest[1:], None
    if len(rest) == 2 + lc:
        return cla, ins, p1, p2, rest[1:1 + lc], rest[-1] or 256
    return None


def dispatch(ctx: Context, apdu: bytes) -> bytes:
    """Process one command APDU; the response APDU."""
    parsed = parse_apdu(apdu)
    if parsed is None:
        ctx.volatile.abandon()
        return sw(SW_WRONG_LENGTH)
    cla, ins, p1, p2, data, le = parsed
    if cla == 0x90:
        return _native(ctx, ins, data)
    ctx.volatile.abandon()
    if cla != 0x00:
        return sw(SW_CLA)
    return iso7816.dispatch(ctx, ins, p1, p2, data, le)


# --- native frames --------------------------------------------------------------------------------


def _native(ctx: Context, cmd: int, data: bytes) -> bytes:
    if cmd == Cmd.ADDITIONAL_FRAME:
        return _additional_frame(ctx, data)
    volatile = ctx.volatile
    volatile.abandon()
    if cmd in _CHAINED:
        expected = _expected_length(ctx, cmd, data)
        if expected is not None and len(data) < expected:
            volatile.incoming = Incoming(cmd, bytearray(data), expected)
            return _MORE
    return _run(ctx, cmd, data, HANDLERS.get(cmd))


def _additional_frame(ctx: Context, data: bytes) -> bytes:
    volatile = ctx.volatile
    if volatile.out:
        if data:
            volatile.out = []
            return _error(ctx, LengthError)
        frame = volatile.out.pop(0)
        return frame + (_MORE if volatile.out else _OK)
    incoming = volatile.incoming
    if incoming is not None:
        incoming.data += data
        if data and len(incoming.data) < incoming.expected:
            return _MORE  # an empty frame ends the chain: process what there is
        volatile.incoming = None
        return _run(ctx, incoming.cmd, bytes(incoming.data), HANDLERS.get(incoming.cmd))
    if volatile.auth is not None:
        return _run(ctx, volatile.auth_cmd, data, picc.finish_authentication)
    return _error(ctx, IllegalCommand)


def _error(ctx: Context, cls: type[DESFireStatusError]) -> bytes:
    assert cls.code is not None
    return _status(ctx, cls.code)


def _status(ctx: Context, status: int) -> bytes:
    volatile = ctx.volatile
    volatile.session = None
    volatile.auth = None
    return bytes([0x91, status])


def _run(ctx: Context, cmd: int, data: bytes, handler: Handler | None) -> bytes:
    try:
        if handler is None:
            fail(IllegalCommand, f"unknown command 0x{cmd:02X}")
        session = ctx.volatile.session
        if isinstance(session, EV2Session) and session.exhausted and cmd not in METHOD_BY_COMMAND:
            # refuse before the command changes anything, not when its answer cannot be MACed
            fail(AuthenticationRejected, "the EV2 command counter is exhausted")
        reply = handler(ctx, cmd, data)
    except DESFireStatusError as exc:
        return _status(ctx, exc.status)
    except IntegrityError:
        return _error(ctx, ChecksumRejected)
    except MalformedMessage:
        return _error(ctx, LengthError)
    except AuthenticationError:
        return _error(ctx, AuthenticationRejected)
    except InvalidArgument:
        return _error(ctx, ParameterError)
    return _answer(ctx, cmd, reply)


def _answer(ctx: Context, cmd: int, reply: Reply) -> bytes:
    if reply.more:
        return reply.data + _MORE
    volatile = ctx.volatile
    payload = reply.data
    session = volatile.session
    if session is not None and not reply.bare:
        comm = reply.comm if reply.comm is not None else session.command_comm
        payload = session.wrap_response(cmd, 0x00, payload, comm)
    if reply.end_session:
        volatile.session = None
    if reply.frames is None and len(payload) <= MAX_FRAME:  # nearly every answer: one frame
        volatile.out = []
        return payload + _OK
    if reply.frames and payload.startswith(reply.data):
        frames, pos = [], 0
        for size in reply.frames:
            frames.append(payload[pos:pos + size])
            pos += size
        frames[-1] += payload[pos:]
    else:
        frames = [payload[i:i + MAX_FRAME] for i in range(0, len(payload), MAX_FRAME)]
    frames = frames or [b""]
    volatile.out = frames[1:]
    return frames[0] + (_MORE if volatile.out else _OK)


# --- command chaining: how long a message will be -------------------------------------------------


def _pad(n: int, block: int) -> int:
    return -(-n // block) * block


def _protected_size(ctx: Context, size: int, comm: Comm) -> int:
    """How many bytes ``size`` data bytes take on the wire in mode ``comm``."""
    session = ctx.volatile.session
    if session is None:
        return size
    if isinstance(session, EV2Session):
        if comm is Comm.PLAIN:
            return size
        return (_pad(size + 1, 16) if comm is Comm.FULL and size else size) + EV2_MAC
    if comm is Comm.PLAIN or size == 0:
        return size
    if isinstance(session, LegacySession):
        return size + 4 if comm is Comm.MAC else _pad(size + 2, 8)
    assert isinstance(session, EV1Session)
    return size + 8 if comm is Comm.MAC else _pad(size + 4, session.block_size)


#: The commands whose length the card can know before it has them whole (:func:`_expected`).
_CHAINED = frozenset({Cmd.WRITE_DATA, Cmd.WRITE_RECORD, *contents.VALUE_RIGHTS,
                      Cmd.CHANGE_FILE_SETTINGS, Cmd.CHANGE_KEY_SETTINGS, Cmd.SET_CONFIGURATION,
                      Cmd.CHANGE_KEY})


def _expected_length(ctx: Context, cmd: int, msg: bytes) -> int | None:
    """The full length of a chained command's message, when the card can know it."""
    try:
        return _expected(ctx, cmd, msg)
    except (DESFireStatusError, InvalidArgument, ValueError, IndexError, KeyError):
        return None


def _expected(ctx: Context, cmd: int, msg: bytes) -> int | None:
    app = ctx.app
    if cmd in (Cmd.WRITE_DATA, Cmd.WRITE_RECORD) and app is not None and len(msg) >= 7:
        f = app.files.get(msg[0])
        offset, length = u24(msg[1:4]), u24(msg[4:7])
        if isinstance(f, DataFile) and cmd == Cmd.WRITE_DATA:
            limit = f.size
        elif isinstance(f, RecordFile) and cmd == Cmd.WRITE_RECORD:
            limit = f.record_size
        else:
            return None
        if not length or offset + length > limit:
            return None
        return 7 + _protected_size(ctx, length, ctx.mode(f, contents.WRITE_RIGHTS))
    if cmd in contents.VALUE_RIGHTS and app is not None and msg:
        value_file = app.files.get(msg[0])
        if not isinstance(value_file, ValueFile):
            return None
        return 1 + _protected_size(ctx, 4, ctx.mode(value_file, contents.VALUE_RIGHTS[cmd]))
    if cmd == Cmd.CHANGE_FILE_SETTINGS and app is not None and msg:
        any_file = app.files.get(msg[0])
        if any_file is None:
            return None
        mode = Comm.PLAIN if any_file.access.change == FREE else Comm.FULL
        return 1 + _protected_size(ctx, 3, mode)
    if cmd == Cmd.CHANGE_KEY_SETTINGS:
        return _protected_size(ctx, 1, Comm.FULL)
    if cmd == Cmd.SET_CONFIGURATION and msg and msg[0] in (0, 1):
        return 1 + _protected_size(ctx, 1 if msg[0] == 0 else 25, Comm.FULL)
    if cmd == Cmd.CHANGE_KEY and msg and ctx.volatile.session is not None:
        return 1 + _change_key_size(ctx, msg[0])
    return None


def _change_key_size(ctx: Context, key_no_byte: int) -> int:
    session = ctx.volatile.session
    assert session is not None
    key_no, new_type = picc.change_key_target(ctx, key_no_byte)
    size = 24 if new_type is KeyType.TDES3 else 16
    other = key_no != session.key_no
    if isinstance(session, EV2Session):
        return _pad(size + 1 + (4 if other else 0) + 1, 16) + EV2_MAC
    version = 1 if new_type is KeyType.AES else 0
    if isinstance(session, LegacySession):
        return _pad(size + version + 2 + (2 if other else 0), 8)
    assert isinstance(session, EV1Session)
    return _pad(size + version + 4 + (4 if other else 0), session.block_size)
