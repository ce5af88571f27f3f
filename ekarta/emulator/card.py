"""A software MIFARE DESFire EV2-class card: :class:`VirtualCard`.

``card.process(apdu) -> response`` takes one command APDU and returns the response APDU, exactly
as a card behind a reader would.  The persistent memory is a :class:`~ekarta.emulator.state.
CardState`; what a real card forgets without power is kept here: the selected application (and
ISO EF), the authentication session, a pending authentication handshake, the pending
transaction (staged writes), and the pending response or command chain.

Wire format and secure messaging follow ``docs/desfire-protocol.md``; the card runs the card side
of the very sessions the reader uses (:mod:`ekarta.desfire.session`, :mod:`ekarta.desfire.auth`).

* Native commands are ISO-wrapped: ``90 CMD 00 00 [Lc DATA] [00]`` → ``DATA 91 SS`` (P1/P2 are
  ignored).  An APDU whose Lc does not match its length is answered ``67 00``; any other CLA than
  ``90`` or ``00`` ``6E 00``.
* Responses longer than 59 bytes are chained (``91 AF``, continued by ``90 AF 00 00 00``);
  GetVersion answers in frames of 7, 7 and 14 bytes, GetDFNames one application per frame.
  A session's MAC travels at the end of the last frame.
* Long commands are chained by the reader with ``90 AF`` frames; the card answers ``91 AF`` until
  it holds the whole message, which it knows for the commands that carry data — WriteData,
  WriteRecord, Credit, Debit, LimitedCredit, ChangeKey, ChangeKeySettings, ChangeFileSettings,
  SetConfiguration (options 0 and 1) — from the header and the session.  As on a real card, the
  other commands (all parameters, at most 23 bytes plus an 8-byte EV2 MAC) must come in one
  frame: they are processed as they arrive, and a short one is a length error (0x7E).  An empty
  ``90 AF`` frame ends a command chain: the card processes what it has.
* Every error status drops the authentication (and a pending handshake); secure-messaging
  failures answer 0x1E (integrity), 0x7E (malformed: lengths) or 0xAE (authentication).

Status codes the documentation leaves open, as this card answers them:

* file commands at the PICC level (no application selected): 0xA0; PICC-only commands
  (CreateApplication, GetApplicationIDs, GetDFNames, FormatPICC, SetConfiguration) inside an
  application: 0x9D (the selection does not allow them).  CommitTransaction and
  AbortTransaction succeed anywhere (nothing to do at the PICC level).
* DeleteApplication always needs a session with key 0: the PICC master key at the PICC level,
  or the application's own master key inside it (PICC key settings bit 2 frees creation only).
* an operation that needs a key the session is not authenticated with: 0xAE; an operation no key
  may do (frozen keys, settings not changeable, FormatPICC disabled, every granting access
  right 0xF): 0x9D.
* a command on the wrong kind of file (ReadData on a value file...): 0x9E.
* a 0xAF frame with nothing pending: 0x1C; data in a ``90 AF`` that asks for the next response
  frame: 0x7E.
* WriteRecord after ClearRecordFile on the same file in one transaction (and the reverse): 0x9D.
* DeleteApplication of the selected application answers under the session, then the card is at
  the PICC level without authentication.  A failed SelectApplication keeps the old selection (but
  the authentication and the pending transaction are gone).
* SetConfiguration option 0x00 only ever sets bits (FormatPICC disabled and random UID are
  irreversible: clearing them is silently ignored); option 0x02 needs a well-formed ATS
  (TL = its length, 2..20 bytes), else 0x9E.
* A value file's "free GetValue" flag lets GetValue run in plain without a session.
* With random UIDs on, the card shows a random ID ``08 xx xx xx`` (new at every power-up) in
  anticollision, and GetVersion carries it padded with zeros to 7 bytes; GetCardUID gives the
  real UID.

ISO 7816-4 (CLA 00): SELECT by DF name (P1 04; the PICC DF name D2760000850100 selects the PICC
level) or by file ID (P1 00/02, FID big-endian as ISO sends it: 3F00 = the PICC level, an
application's ISO FID, a file's ISO FID inside the selected application; P2 00 or 0C, no FCI is
ever returned), READ BINARY and UPDATE BINARY (offset in P1P2, or P1 bit 7 and a short file ID in
bits 4..0 — the DESFire file number, which must have an ISO FID — with the offset in P2; SFI 0 is
the current EF) on standard data files whose Read (resp. Write) or ReadWrite right is free.  A
READ BINARY with Le 00 (or no Le) reads up to 256 bytes, to the end of the file; an explicit Le
beyond the end answers 6700.  Status words: 9000, 6A82 (not found), 6986 (no EF selected or not a
standard data file), 6B00 (offset or P1/P2 wrong), 6700 (length), 6D00 (INS), 6E00 (CLA), 6982
(access right not free).  Every ISO SELECT drops the authentication and the pending transaction.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from ekarta.desfire.auth import METHOD_BY_COMMAND, CardAuth
from ekarta.desfire.commands import (
    DESFIRE_PICC_DF_NAME,
    FREE,
    GRANTING_RIGHTS,
    MAX_APPLICATIONS,
    MAX_DF_NAME,
    MAX_FILES,
    MAX_KEYS,
    NEVER,
    AppCrypto,
    Cmd,
)
from ekarta.desfire.crypto import KeyType, Rng
from ekarta.desfire.session import Comm, EV1Session, EV2Session, LegacySession, Session
from ekarta.desfire.structs import (
    ChangeFileSettingsParams,
    CreateApplicationParams,
    CreateDataFileParams,
    CreateRecordFileParams,
    CreateValueFileParams,
    DFNameEntry,
    KeySettings,
    KeySettingsInfo,
)
from ekarta.emulator.faults import CardMute, CardTorn, Faults
from ekarta.emulator.state import (
    APPLICATION_COST,
    Application,
    CardState,
    DataFile,
    File,
    RecordFile,
    ValueFile,
    crypto_of,
    default_key_for,
    key_type_of,
    load_state,
)
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationError,
    AuthenticationRejected,
    BoundaryError,
    ChecksumRejected,
    CountError,
    DESFireStatusError,
    DuplicateError,
    FileNotFound,
    IllegalCommand,
    IntegrityError,
    InvalidArgument,
    ISOStatusError,
    LengthError,
    MalformedMessage,
    NoSuchKey,
    OutOfMemory,
    ParameterError,
    PermissionDenied,
)

__all__ = ["ATQA", "HW_VERSION", "MAX_FRAME", "SAK", "SW_VERSION", "VirtualCard"]

#: ATQA 0x0344 (7-byte UID, DESFire), as sent on the air: least significant byte first.
ATQA = b"\x44\x03"
#: SAK of a DESFire: ISO 14443-4 compliant.
SAK = 0x20
#: GetVersion hardware and software parts: NXP, DESFire, EV2 (12.00), 8 KB (0x1A), ISO 14443-2/3.
HW_VERSION = bytes.fromhex("04010112001A05")
SW_VERSION = bytes.fromhex("04010112001A05")
#: Most data bytes in one response frame.
MAX_FRAME = 59

_OK = b"\x91\x00"
_MORE = b"\x91\xAF"
_RESERVED_FIDS = frozenset({0x3F00, 0x3FFF, 0xFFFF})
_NO_MAC = 8

# The rights that grant each operation, from the one table the client uses too.
_READ = GRANTING_RIGHTS["read"]
_GET_VALUE = GRANTING_RIGHTS["get_value"]
_WRITE = GRANTING_RIGHTS["write"]
_CHANGE = GRANTING_RIGHTS["change"]
_VALUE_OPERATIONS = {Cmd.CREDIT: "credit", Cmd.DEBIT: "debit",
                     Cmd.LIMITED_CREDIT: "limited_credit"}

SW_OK = 0x9000
SW_WRONG_LENGTH = 0x6700
SW_SECURITY = 0x6982
SW_NOT_ALLOWED = 0x6986
SW_NOT_FOUND = 0x6A82
SW_WRONG_PARAMS = 0x6B00
SW_INS = 0x6D00
SW_CLA = 0x6E00


def _fail(cls: type[DESFireStatusError], message: str | None = None) -> NoReturn:
    assert cls.code is not None
    raise cls(cls.code, message=message)


def _iso_fail(sw: int, message: str | None = None) -> NoReturn:
    raise ISOStatusError(sw, message)


def _u24(data: bytes) -> int:
    return int.from_bytes(data[:3], "little")


def _pad(n: int, block: int) -> int:
    return -(-n // block) * block


class _PowerCut(Exception):
    """Raised inside a command torn half-way, after its partial effect (never leaves the card)."""


@dataclass
class _DataStage:
    data: bytearray


@dataclass
class _ValueStage:
    value: int
    debits: int = 0
    limited: int = 0


@dataclass
class _RecordStage:
    clear: bool = False
    record: bytearray | None = None


_Stage = _DataStage | _ValueStage | _RecordStage


@dataclass
class _Reply:
    """What a handler answers: data and how to protect it."""

    data: bytes = b""
    #: protection of the response; None = the session's command mode
    comm: Comm | None = None
    #: no secure messaging at all (selection, authentication, ChangeKey of the session's key)
    bare: bool = False
    #: status 0xAF (the authentication challenge)
    more: bool = False
    #: lengths of the data frames (GetVersion, GetDFNames); None = cut at MAX_FRAME
    frames: tuple[int, ...] | None = None
    #: forget the session once this answer is protected
    end_session: bool = False


@dataclass
class _Incoming:
    cmd: int
    data: bytearray
    expected: int


Handler = Callable[[int, bytes], _Reply]


class VirtualCard:
    """An emulated DESFire EV2 card (see the module docstring for its behaviour).

    ``state`` is the persistent memory (a factory-fresh card when None, with ``uid`` or a random
    one); ``rng(n) -> bytes`` replaces :func:`os.urandom` for the card's random numbers;
    ``faults`` arms fault injection (:class:`~ekarta.emulator.faults.Faults`).
    """

    def __init__(self, state: CardState | None = None, *, rng: Rng | None = None,
                 uid: bytes | None = None, faults: Faults | None = None) -> None:
        if state is not None and uid is not None:
            raise InvalidArgument("give either a state or a UID for a fresh card, not both")
        self._rng: Rng = rng or os.urandom
        self.state: CardState = state if state is not None else CardState.new(uid, self._rng)
        #: incremented whenever the persistent state changes (the reader saves then)
        self.revision = 0
        #: every command APDU the card received while in the field
        self.commands_processed = 0
        self._present = True
        self._faults = Faults()
        self._fault_counter = 0
        self._tearing: float | None = None
        self._handlers: dict[int, Handler] = self._handler_table()
        self._power_up()
        if faults is not None:
            self.arm(faults)

    @classmethod
    def new(cls, uid: bytes | None = None, rng: Rng | None = None) -> VirtualCard:
        """A factory-fresh card: PICC master key DES 00*8, key settings 0x0F, no applications."""
        return cls(rng=rng, uid=uid)

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, rng: Rng | None = None) -> VirtualCard:
        """The card stored in ``path`` (see :func:`ekarta.emulator.state.load_state`)."""
        return cls(load_state(path), rng=rng)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Store the card's persistent state in ``path`` (atomically, mode 0600)."""
        self.state.save(path)

    # --- what the outside sees --------------------------------------------------------------------

    @property
    def uid(self) -> bytes:
        """The real 7-byte UID."""
        return self.state.uid

    @property
    def anticollision_uid(self) -> bytes:
        """The UID the card shows in anticollision: the random ID when random UIDs are on."""
        return self._random_id if self.state.random_uid else self.state.uid

    @property
    def atqa(self) -> bytes:
        """The ATQA as sent on the air: 0x0344 for the 7-byte UID, 0x0304 while the card shows a
        4-byte random ID (the UID-size bits follow the ID it is about to give)."""
        return ATQA if len(self.anticollision_uid) == 7 else b"\x04\x03"

    @property
    def ats(self) -> bytes:
        return self.state.ats

    @property
    def free_memory(self) -> int:
        return self.state.free_memory

    @property
    def applications(self) -> dict[int, Application]:
        return self.state.applications

    @property
    def present(self) -> bool:
        """Whether the card is in the field (False after ``remove()`` or a tear)."""
        return self._present

    @property
    def selected_aid(self) -> int:
        """The selected application, 0 for the PICC level."""
        return self._aid

    @property
    def session(self) -> Session | None:
        """The card's end of the authenticated session, or None."""
        return self._session

    @property
    def in_transaction(self) -> bool:
        """Whether writes are staged, waiting for CommitTransaction."""
        return bool(self._tx)

    @property
    def faults(self) -> Faults:
        return self._faults

    # --- power and faults -------------------------------------------------------------------------

    def arm(self, faults: Faults | None = None) -> None:
        """Inject ``faults`` from now on (None or ``Faults()``: none); commands count from 0."""
        if faults is not None and not isinstance(faults, Faults):
            raise InvalidArgument(f"faults must be a Faults, got {type(faults).__name__}")
        self._faults = faults or Faults()
        self._fault_counter = 0

    def reset(self) -> None:
        """A power cycle: forget the selection, the session, chains and the pending transaction."""
        self._power_up()

    def remove(self) -> None:
        """Take the card out of the field (it loses power)."""
        self._present = False
        self._power_up()

    def insert(self) -> None:
        """Put the card (back) into the field: it powers up fresh.  No effect if present."""
        if not self._present:
            self._present = True
            self._power_up()

    def _power_up(self) -> None:
        self._aid = 0
        self._ef: int | None = None
        self._session: Session | None = None
        self._auth: CardAuth | None = None
        self._auth_cmd = 0
        self._tx: dict[int, _Stage] = {}
        self._out: list[bytes] = []
        self._in: _Incoming | None = None
        self._random_id = b"\x08" + bytes(self._rng(3))

    def _changed(self) -> None:
        self.revision += 1

    # --- the APDU entry point ---------------------------------------------------------------------

    def process(self, apdu: bytes) -> bytes:
        """Process one command APDU and return the response APDU (data + status word).

        Raises :class:`CardTorn` when the card is not in the field or loses power now, and
        :class:`CardMute` when it is mute (see :mod:`ekarta.emulator.faults`).
        """
        apdu = bytes(apdu)
        if not self._present:
            raise CardTorn("no card in the field (removed, or it lost power)")
        index = self._fault_counter
        self._fault_counter += 1
        faults = self._faults
        if faults.latency:
            time.sleep(faults.latency)
        if faults.mute:
            raise CardMute("the card did not answer (mute)")
        if faults.tear_after is not None and index == faults.tear_after:
            self.remove()
            raise CardTorn(f"the card lost power as command {index} arrived (tear)")
        self.commands_processed += 1
        if faults.tear_during is not None and index == faults.tear_during:
            self._torn(apdu, faults.tear_progress)
        return self._dispatch(apdu)

    def _torn(self, apdu: bytes, progress: float) -> NoReturn:
        snapshot, revision = self.state.to_dict(), self.revision
        self._tearing = progress
        try:
            self._dispatch(apdu)
        except _PowerCut:
            pass  # a std write or a commit: its partial effect stays
        else:
            if self.revision != revision:  # anything else has no effect
                self.state = CardState.from_dict(snapshot)
                self.revision = revision
        finally:
            self._tearing = None
        self.remove()
        raise CardTorn(f"the card lost power during a command ({progress:.0%} done)")

    def _dispatch(self, apdu: bytes) -> bytes:
        parsed = _parse_apdu(apdu)
        if parsed is None:
            self._abandon()
            return _sw(SW_WRONG_LENGTH)
        cla, ins, p1, p2, data, le = parsed
        if cla == 0x90:
            return self._native(ins, data)
        self._abandon()
        if cla != 0x00:
            return _sw(SW_CLA)
        handler = {0xA4: self._iso_select, 0xB0: self._iso_read_binary,
                   0xD6: self._iso_update_binary}.get(ins)
        if handler is None:
            return _sw(SW_INS)
        try:
            return handler(p1, p2, data, le)
        except ISOStatusError as exc:
            return _sw(exc.sw)

    def _abandon(self) -> None:
        """A new command abandons a pending chain or handshake."""
        self._out = []
        self._in = None
        self._auth = None

    # --- native framing ---------------------------------------------------------------------------

    def _native(self, cmd: int, data: bytes) -> bytes:
        if cmd == Cmd.ADDITIONAL_FRAME:
            return self._additional_frame(data)
        self._abandon()
        expected = self._expected_length(cmd, data)
        if expected is not None and len(data) < expected:
            self._in = _Incoming(cmd, bytearray(data), expected)
            return _MORE
        return self._run(cmd, data, self._handlers.get(cmd))

    def _additional_frame(self, data: bytes) -> bytes:
        if self._out:
            if data:
                self._out = []
                return self._error(LengthError)
            frame = self._out.pop(0)
            return frame + (_MORE if self._out else _OK)
        if self._in is not None:
            incoming = self._in
            incoming.data += data
            if data and len(incoming.data) < incoming.expected:
                return _MORE  # an empty frame ends the chain: process what there is
            self._in = None
            return self._run(incoming.cmd, bytes(incoming.data), self._handlers.get(incoming.cmd))
        if self._auth is not None:
            return self._run(self._auth_cmd, data, self._finish_authentication)
        return self._error(IllegalCommand)

    def _error(self, cls: type[DESFireStatusError]) -> bytes:
        assert cls.code is not None
        return self._status(cls.code)

    def _status(self, status: int) -> bytes:
        self._session = None
        self._auth = None
        return bytes([0x91, status])

    def _run(self, cmd: int, data: bytes, handler: Handler | None) -> bytes:
        try:
            if handler is None:
                _fail(IllegalCommand, f"unknown command 0x{cmd:02X}")
            reply = handler(cmd, data)
        except DESFireStatusError as exc:
            return self._status(exc.status)
        except IntegrityError:
            return self._error(ChecksumRejected)
        except MalformedMessage:
            return self._error(LengthError)
        except AuthenticationError:
            return self._error(AuthenticationRejected)
        except InvalidArgument:
            return self._error(ParameterError)
        return self._answer(cmd, reply)

    def _answer(self, cmd: int, reply: _Reply) -> bytes:
        if reply.more:
            return reply.data + _MORE
        payload = reply.data
        session = self._session
        if session is not None and not reply.bare:
            comm = reply.comm if reply.comm is not None else session.command_comm
            payload = session.wrap_response(cmd, 0x00, payload, comm)
        if reply.end_session:
            self._session = None
        if reply.frames and payload.startswith(reply.data):
            frames, pos = [], 0
            for size in reply.frames:
                frames.append(payload[pos:pos + size])
                pos += size
            frames[-1] += payload[pos:]
        else:
            frames = [payload[i:i + MAX_FRAME] for i in range(0, len(payload), MAX_FRAME)]
        frames = frames or [b""]
        self._out = frames[1:]
        return frames[0] + (_MORE if self._out else _OK)

    # --- command chaining: how long a message will be ---------------------------------------------

    def _protected_size(self, size: int, comm: Comm) -> int:
        """How many bytes ``size`` data bytes take on the wire in mode ``comm``."""
        session = self._session
        if session is None:
            return size
        if isinstance(session, EV2Session):
            if comm is Comm.PLAIN:
                return size
            return (_pad(size + 1, 16) if comm is Comm.FULL and size else size) + _NO_MAC
        if comm is Comm.PLAIN or size == 0:
            return size
        if isinstance(session, LegacySession):
            return size + 4 if comm is Comm.MAC else _pad(size + 2, 8)
        assert isinstance(session, EV1Session)
        return size + 8 if comm is Comm.MAC else _pad(size + 4, session.block_size)

    def _expected_length(self, cmd: int, msg: bytes) -> int | None:
        """The full length of a chained command's message, when the card can know it."""
        try:
            return self._expected(cmd, msg)
        except (DESFireStatusError, InvalidArgument, ValueError, IndexError, KeyError):
            return None

    def _expected(self, cmd: int, msg: bytes) -> int | None:
        app = self._app
        if cmd in (Cmd.WRITE_DATA, Cmd.WRITE_RECORD) and app is not None and len(msg) >= 7:
            f = app.files.get(msg[0])
            offset, length = _u24(msg[1:4]), _u24(msg[4:7])
            if isinstance(f, DataFile) and cmd == Cmd.WRITE_DATA:
                limit = f.size
            elif isinstance(f, RecordFile) and cmd == Cmd.WRITE_RECORD:
                limit = f.record_size
            else:
                return None
            if not length or offset + length > limit:
                return None
            return 7 + self._protected_size(length, self._mode(f, _WRITE))
        if cmd in (Cmd.CREDIT, Cmd.DEBIT, Cmd.LIMITED_CREDIT) and app is not None and msg:
            f = app.files.get(msg[0])
            if not isinstance(f, ValueFile):
                return None
            rights = GRANTING_RIGHTS[_VALUE_OPERATIONS[cmd]]
            return 1 + self._protected_size(4, self._mode(f, rights))
        if cmd == Cmd.CHANGE_FILE_SETTINGS and app is not None and msg:
            f = app.files.get(msg[0])
            if f is None:
                return None
            mode = Comm.PLAIN if f.access.change == FREE else Comm.FULL
            return 1 + self._protected_size(3, mode)
        if cmd == Cmd.CHANGE_KEY_SETTINGS:
            return self._protected_size(1, Comm.FULL)
        if cmd == Cmd.SET_CONFIGURATION and msg and msg[0] in (0, 1):
            return 1 + self._protected_size(1 if msg[0] == 0 else 25, Comm.FULL)
        if cmd == Cmd.CHANGE_KEY and msg and self._session is not None:
            return 1 + self._change_key_size(msg[0])
        return None

    def _change_key_size(self, key_no_byte: int) -> int:
        session = self._session
        assert session is not None
        key_no, new_type = self._change_key_target(key_no_byte)
        size = 24 if new_type is KeyType.TDES3 else 16
        other = key_no != session.key_no
        if isinstance(session, EV2Session):
            return _pad(size + 1 + (4 if other else 0) + 1, 16) + _NO_MAC
        version = 1 if new_type is KeyType.AES else 0
        if isinstance(session, LegacySession):
            return _pad(size + version + 2 + (2 if other else 0), 8)
        assert isinstance(session, EV1Session)
        return _pad(size + version + 4 + (4 if other else 0), session.block_size)

    # --- helpers for handlers ---------------------------------------------------------------------

    @property
    def _app(self) -> Application | None:
        return self.state.applications.get(self._aid) if self._aid else None

    def _need_app(self) -> Application:
        app = self._app
        if app is None:
            _fail(ApplicationNotFound, "no application is selected")
        return app

    def _need_picc_level(self) -> None:
        if self._aid:
            _fail(PermissionDenied, "a PICC-level command inside an application")

    def _level_settings(self) -> KeySettings:
        app = self._app
        return app.settings if app is not None else self.state.picc_settings

    def _level_keys(self) -> list:
        app = self._app
        return app.keys if app is not None else [self.state.picc_key]

    def _key(self, key_no: int):
        keys = self._level_keys()
        if key_no >= len(keys):
            _fail(NoSuchKey, f"there is no key {key_no} here")
        return keys[key_no]

    def _need_key(self, key_no: int = 0) -> Session:
        session = self._session
        if session is None or session.key_no != key_no:
            _fail(AuthenticationRejected, f"needs authentication with key {key_no}")
        return session

    def _need_directory_access(self) -> None:
        if not self._level_settings().free_directory:
            self._need_key(0)

    def _need_create_delete(self) -> None:
        if not self._level_settings().free_create_delete:
            self._need_key(0)

    def _params(self, cmd: int, msg: bytes, *sizes: int) -> bytes:
        """A command in the session's command mode with all its parameters in the header."""
        session = self._session
        header = msg
        if session is not None:
            if session.command_comm is Comm.PLAIN:
                session.unwrap_command(cmd, header, b"", Comm.PLAIN)
            else:
                if len(msg) < _NO_MAC:
                    _fail(LengthError, "the command MAC is missing")
                header = msg[:-_NO_MAC]
                session.unwrap_command(cmd, header, msg[-_NO_MAC:], session.command_comm)
        if sizes and len(header) not in sizes:
            _fail(LengthError, f"command 0x{cmd:02X} has {len(header)} parameter bytes")
        return header

    def _open(self, cmd: int, msg: bytes, header_len: int, comm: Comm,
              length: int | None = None) -> tuple[bytes, bytes]:
        """Split a message into header and data, and open the data (mode ``comm``)."""
        if len(msg) < header_len:
            _fail(LengthError, f"command 0x{cmd:02X} is too short")
        header, body = msg[:header_len], msg[header_len:]
        session = self._session
        if session is not None:
            body = session.unwrap_command(cmd, header, body, comm, length)
        return header, body

    def _file(self, app: Application, file_no: int) -> File:
        f = app.files.get(file_no)
        if f is None:
            _fail(FileNotFound, f"there is no file {file_no}")
        return f

    def _mode(self, f: File, rights: tuple[str, ...]) -> Comm:
        """Check that the operation is granted; return its effective communication mode."""
        nibbles = [getattr(f.access, right) for right in rights]
        if FREE in nibbles:
            return Comm.PLAIN
        if all(n == NEVER for n in nibbles):
            _fail(PermissionDenied, "no key may do this")
        session = self._session
        if session is None or session.key_no not in nibbles:
            _fail(AuthenticationRejected, "not authenticated with a key that grants this")
        return f.comm

    def _stage(self, f: File) -> _Stage:
        stage = self._tx.get(f.file_no)
        if stage is None:
            if isinstance(f, DataFile):
                stage = _DataStage(bytearray(f.data))
            elif isinstance(f, ValueFile):
                stage = _ValueStage(f.value)
            else:
                stage = _RecordStage()
            self._tx[f.file_no] = stage
        return stage

    def _select(self, aid: int) -> None:
        self._session = None
        self._auth = None
        self._tx.clear()
        self._ef = None
        self._aid = aid

    def _write_std(self, f: DataFile, offset: int, data: bytes) -> None:
        """Write to a standard data file at once; a tear writes only part of it."""
        if self._tearing is not None:
            done = int(len(data) * self._tearing)
            f.data[offset:offset + done] = data[:done]
            self._changed()
            raise _PowerCut
        f.data[offset:offset + len(data)] = data
        self._changed()

    def _handler_table(self) -> dict[int, Handler]:
        auth = self._h_authenticate
        create_data = self._h_create_data_file
        create_record = self._h_create_record_file
        value_op = self._h_value_op
        return {
            Cmd.AUTHENTICATE_LEGACY: auth,
            Cmd.AUTHENTICATE_ISO: auth,
            Cmd.AUTHENTICATE_AES: auth,
            Cmd.AUTHENTICATE_EV2_FIRST: auth,
            Cmd.AUTHENTICATE_EV2_NONFIRST: auth,
            Cmd.GET_VERSION: self._h_get_version,
            Cmd.GET_CARD_UID: self._h_get_card_uid,
            Cmd.FREE_MEMORY: self._h_free_memory,
            Cmd.FORMAT_PICC: self._h_format_picc,
            Cmd.GET_KEY_SETTINGS: self._h_get_key_settings,
            Cmd.CHANGE_KEY_SETTINGS: self._h_change_key_settings,
            Cmd.GET_KEY_VERSION: self._h_get_key_version,
            Cmd.CHANGE_KEY: self._h_change_key,
            Cmd.SET_CONFIGURATION: self._h_set_configuration,
            Cmd.CREATE_APPLICATION: self._h_create_application,
            Cmd.DELETE_APPLICATION: self._h_delete_application,
            Cmd.SELECT_APPLICATION: self._h_select_application,
            Cmd.GET_APPLICATION_IDS: self._h_get_application_ids,
            Cmd.GET_DF_NAMES: self._h_get_df_names,
            Cmd.GET_FILE_IDS: self._h_get_file_ids,
            Cmd.GET_ISO_FILE_IDS: self._h_get_iso_file_ids,
            Cmd.GET_FILE_SETTINGS: self._h_get_file_settings,
            Cmd.CHANGE_FILE_SETTINGS: self._h_change_file_settings,
            Cmd.CREATE_STD_DATA_FILE: create_data,
            Cmd.CREATE_BACKUP_DATA_FILE: create_data,
            Cmd.CREATE_VALUE_FILE: self._h_create_value_file,
            Cmd.CREATE_LINEAR_RECORD_FILE: create_record,
            Cmd.CREATE_CYCLIC_RECORD_FILE: create_record,
            Cmd.DELETE_FILE: self._h_delete_file,
            Cmd.READ_DATA: self._h_read_data,
            Cmd.WRITE_DATA: self._h_write_data,
            Cmd.GET_VALUE: self._h_get_value,
            Cmd.CREDIT: value_op,
            Cmd.DEBIT: value_op,
            Cmd.LIMITED_CREDIT: value_op,
            Cmd.WRITE_RECORD: self._h_write_record,
            Cmd.READ_RECORDS: self._h_read_records,
            Cmd.CLEAR_RECORD_FILE: self._h_clear_record_file,
            Cmd.COMMIT_TRANSACTION: self._h_commit_transaction,
            Cmd.ABORT_TRANSACTION: self._h_abort_transaction,
        }

    # --- authentication ---------------------------------------------------------------------------

    def _h_authenticate(self, cmd: int, msg: bytes) -> _Reply:
        previous = self._session
        self._session = None
        if cmd == Cmd.AUTHENTICATE_EV2_FIRST:
            if len(msg) < 2 or len(msg) != 2 + msg[1]:
                _fail(LengthError, "AuthenticateEV2First takes key number, LenCap, PCDcap2")
        elif len(msg) != 1:
            _fail(LengthError, "authentication takes one key number byte")
        key_no = msg[0]
        key = self._key(key_no)
        if cmd == Cmd.AUTHENTICATE_EV2_NONFIRST and not isinstance(previous, EV2Session):
            _fail(AuthenticationRejected, "AuthenticateEV2NonFirst needs an EV2 session")
        try:
            auth = CardAuth(METHOD_BY_COMMAND[cmd], key_no, key, rng=self._rng, previous=previous)
        except InvalidArgument:
            _fail(AuthenticationRejected, f"key {key_no} is a {key.type.value} key")
        challenge = auth.challenge()
        self._auth = auth
        self._auth_cmd = cmd
        return _Reply(challenge, bare=True, more=True)

    def _finish_authentication(self, cmd: int, msg: bytes) -> _Reply:
        auth = self._auth
        assert auth is not None
        self._auth = None
        if len(msg) != auth.expected_length:
            _fail(LengthError, "the reader's authentication answer has the wrong length")
        answer, session = auth.verify(msg)
        self._session = session
        return _Reply(answer, bare=True)

    # --- PICC and keys ----------------------------------------------------------------------------

    def _h_get_version(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        state = self.state
        uid = self._random_id.ljust(7, b"\x00") if state.random_uid else state.uid
        tail = uid + state.batch + bytes([_bcd(state.production_week),
                                          _bcd(state.production_year)])
        return _Reply(HW_VERSION + SW_VERSION + tail, frames=(7, 7, len(tail)))

    def _h_get_card_uid(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        if self._session is None:
            _fail(AuthenticationRejected, "GetCardUID needs authentication")
        return _Reply(self.state.uid, comm=Comm.FULL)

    def _h_free_memory(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        return _Reply(self.state.free_memory.to_bytes(3, "little"))

    def _h_format_picc(self, cmd: int, msg: bytes) -> _Reply:
        self._need_picc_level()
        self._params(cmd, msg, 0)
        self._need_key(0)
        if self.state.format_disabled:
            _fail(PermissionDenied, "FormatPICC is disabled")
        self.state.applications.clear()
        self._tx.clear()
        self._changed()
        return _Reply()

    def _h_get_key_settings(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        self._need_directory_access()
        app = self._app
        if app is not None:
            info = app.key_settings_info()
        else:
            info = KeySettingsInfo(settings=self.state.picc_settings, key_count=1,
                                   crypto=crypto_of(self.state.picc_key.type))
        return _Reply(info.build())

    def _h_change_key_settings(self, cmd: int, msg: bytes) -> _Reply:
        self._need_key(0)
        if not self._level_settings().config_changeable:
            _fail(PermissionDenied, "the key settings are frozen")
        _, data = self._open(cmd, msg, 0, Comm.FULL, 1)
        if len(data) != 1:
            _fail(LengthError, "ChangeKeySettings takes one settings byte")
        settings = KeySettings.from_byte(data[0])
        app = self._app
        if app is not None:
            app.settings = settings
        else:
            self.state.picc_settings = settings
        self._changed()
        return _Reply(comm=Comm.FULL)

    def _h_get_key_version(self, cmd: int, msg: bytes) -> _Reply:
        header = self._params(cmd, msg, 1)
        return _Reply(bytes([self._key(header[0]).version]))

    def _change_key_target(self, key_no_byte: int) -> tuple[int, KeyType]:
        app = self._app
        if app is None:
            if key_no_byte & 0x3F:
                _fail(NoSuchKey, "the PICC level has only key 0")
            bits = key_no_byte & 0xC0
            if bits == 0xC0:
                _fail(ParameterError, "unknown key type bits in the key number")
            return 0, {0x00: KeyType.DES, 0x40: KeyType.TDES3, 0x80: KeyType.AES}[bits]
        if key_no_byte >= len(app.keys):
            _fail(NoSuchKey, f"the application has no key {key_no_byte}")
        return key_no_byte, key_type_of(app.crypto)

    def _check_change_key(self, key_no: int, session: Session) -> None:
        settings = self._level_settings()
        if self._app is None or key_no == 0:
            if session.key_no != 0:
                _fail(AuthenticationRejected, "changing the master key needs the master key")
            if not settings.master_key_changeable:
                _fail(PermissionDenied, "the master key is frozen")
            return
        change_key = settings.change_key
        if change_key == 0xF:
            _fail(PermissionDenied, "the application's keys are frozen")
        required = key_no if change_key == 0xE else change_key
        if session.key_no != required:
            _fail(AuthenticationRejected, f"changing key {key_no} needs key {required}")

    def _h_change_key(self, cmd: int, msg: bytes) -> _Reply:
        if not msg:
            _fail(LengthError, "ChangeKey needs a key number")
        session = self._session
        if session is None:
            _fail(AuthenticationRejected, "ChangeKey needs authentication")
        key_no, new_type = self._change_key_target(msg[0])
        self._check_change_key(key_no, session)
        same = key_no == session.key_no
        old = None if same else self._key(key_no)
        new = session.open_change_key(cmd, msg[0], msg[1:], new_type, old)
        app = self._app
        if app is not None:
            app.keys[key_no] = new
        else:
            self.state.picc_key = new
        self._changed()
        if same:
            self._session = None
            return _Reply(bare=True)
        return _Reply()

    def _h_set_configuration(self, cmd: int, msg: bytes) -> _Reply:
        self._need_picc_level()
        if not msg:
            _fail(LengthError, "SetConfiguration needs an option byte")
        self._need_key(0)
        option = msg[0]
        _, data = self._open(cmd, msg, 1, Comm.FULL, {0: 1, 1: 25}.get(option))
        state = self.state
        if option == 0x00:
            if len(data) != 1:
                _fail(LengthError, "option 0x00 takes one byte")
            if data[0] & ~0x03:
                _fail(ParameterError, "unknown configuration bits")
            state.configuration |= data[0]
        elif option == 0x01:
            if len(data) != 25:
                _fail(LengthError, "option 0x01 takes a 24-byte key and its version")
            state.default_key = bytes(data[:24])
            state.default_key_version = data[24]
        elif option == 0x02:
            if not 2 <= len(data) <= 20 or data[0] != len(data):
                _fail(ParameterError, "the ATS must start with its own length (2..20)")
            state.ats = bytes(data)
        else:
            _fail(ParameterError, f"unknown configuration option 0x{option:02X}")
        self._changed()
        return _Reply(comm=Comm.FULL)

    # --- applications -----------------------------------------------------------------------------

    def _h_create_application(self, cmd: int, msg: bytes) -> _Reply:
        self._need_picc_level()
        header = self._params(cmd, msg)
        if len(header) < 5:
            _fail(LengthError, "CreateApplication is too short")
        info = header[4]
        if info & 0x20:
            if not 7 <= len(header) <= 7 + MAX_DF_NAME:
                _fail(LengthError, "CreateApplication with ISO FID and DF name: 7..23 bytes")
        elif len(header) != 5:
            _fail(LengthError, "CreateApplication without ISO FID: 5 bytes")
        self._need_create_delete()
        if info & 0xC0 == 0xC0 or info & 0x10 or not 1 <= info & 0x0F <= MAX_KEYS:
            _fail(ParameterError, "bad key count or key type")
        params = _parse(CreateApplicationParams.parse, header)
        apps = self.state.applications
        if params.aid == 0:
            _fail(ParameterError, "AID 000000 is the PICC level")
        if params.aid in apps:
            _fail(DuplicateError, f"application {params.aid:06X} exists")
        if len(apps) >= MAX_APPLICATIONS:
            _fail(CountError, "the card holds its maximum of applications")
        if params.iso_fid is not None:
            if params.iso_fid in _RESERVED_FIDS:
                _fail(ParameterError, "reserved ISO file identifier")
            if any(a.iso_fid == params.iso_fid for a in apps.values()):
                _fail(DuplicateError, "another application has this ISO FID")
        if params.df_name is not None and (params.df_name == DESFIRE_PICC_DF_NAME or any(
                a.df_name == params.df_name for a in apps.values())):
            _fail(DuplicateError, "another application has this DF name")
        if self.state.free_memory < APPLICATION_COST:
            _fail(OutOfMemory, "no memory for another application")
        key = default_key_for(params.crypto, self.state.default_key,
                              self.state.default_key_version)
        apps[params.aid] = Application(params.aid, params.settings, AppCrypto(params.crypto),
                                       [key] * params.key_count, params.iso_fid, params.df_name)
        self._changed()
        return _Reply()

    def _h_delete_application(self, cmd: int, msg: bytes) -> _Reply:
        aid = int.from_bytes(self._params(cmd, msg, 3), "little")
        apps = self.state.applications
        if aid == 0:
            _fail(ParameterError, "the PICC level cannot be deleted")
        if aid not in apps:
            _fail(ApplicationNotFound, f"no application {aid:06X}")
        session = self._session
        if session is None or session.key_no != 0 or self._aid not in (0, aid):
            _fail(AuthenticationRejected, "needs the PICC or the application master key")
        del apps[aid]
        self._changed()
        if self._aid != aid:
            return _Reply()
        self._aid = 0
        self._ef = None
        self._tx.clear()
        return _Reply(end_session=True)

    def _h_select_application(self, cmd: int, msg: bytes) -> _Reply:
        self._session = None
        self._tx.clear()
        self._ef = None
        if len(msg) != 3:
            _fail(LengthError, "SelectApplication takes a 3-byte AID")
        aid = int.from_bytes(msg, "little")
        if aid and aid not in self.state.applications:
            _fail(ApplicationNotFound, f"no application {aid:06X}")
        self._select(aid)
        return _Reply(bare=True)

    def _h_get_application_ids(self, cmd: int, msg: bytes) -> _Reply:
        self._need_picc_level()
        self._params(cmd, msg, 0)
        self._need_directory_access()
        return _Reply(b"".join(aid.to_bytes(3, "little") for aid in self.state.applications))

    def _h_get_df_names(self, cmd: int, msg: bytes) -> _Reply:
        self._need_picc_level()
        self._params(cmd, msg, 0)
        self._need_directory_access()
        entries = [DFNameEntry(a.aid, a.iso_fid, a.df_name).build()
                   for a in self.state.applications.values()
                   if a.df_name is not None and a.iso_fid is not None]
        return _Reply(b"".join(entries), frames=tuple(len(e) for e in entries))

    # --- file management --------------------------------------------------------------------------

    def _h_get_file_ids(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        self._params(cmd, msg, 0)
        self._need_directory_access()
        return _Reply(bytes(sorted(app.files)))

    def _h_get_iso_file_ids(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        self._params(cmd, msg, 0)
        self._need_directory_access()
        return _Reply(b"".join(app.files[n].iso_fid.to_bytes(2, "little")  # type: ignore[union-attr]
                               for n in sorted(app.files) if app.files[n].iso_fid is not None))

    def _h_get_file_settings(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        header = self._params(cmd, msg, 1)
        self._need_directory_access()
        return _Reply(self._file(app, header[0]).settings().build())

    def _h_change_file_settings(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        if not msg:
            _fail(LengthError, "ChangeFileSettings needs a file number")
        f = self._file(app, msg[0])
        self._mode(f, _CHANGE)
        mode = Comm.PLAIN if f.access.change == FREE else Comm.FULL
        _, data = self._open(cmd, msg, 1, mode, 3 if mode is Comm.FULL else None)
        if len(data) != 3:
            _fail(LengthError, "ChangeFileSettings takes a comm byte and access rights")
        params = _parse(ChangeFileSettingsParams.parse, data)
        f.comm = Comm(params.comm.value)
        f.access = params.access
        self._changed()
        return _Reply(comm=mode)

    def _check_new_file(self, app: Application, file_no: int, option: int) -> None:
        if file_no >= MAX_FILES:
            _fail(ParameterError, f"file numbers are 0..{MAX_FILES - 1}")
        if option & ~0x03:
            _fail(ParameterError, "unsupported file option bits")
        if file_no in app.files:
            _fail(DuplicateError, f"file {file_no} exists")
        if len(app.files) >= MAX_FILES:
            _fail(CountError, "the application holds its maximum of files")

    def _check_iso_fid(self, app: Application, fid: int | None) -> None:
        if fid is None:
            return
        if fid in _RESERVED_FIDS:
            _fail(ParameterError, "reserved ISO file identifier")
        if any(f.iso_fid == fid for f in app.files.values()):
            _fail(DuplicateError, "another file has this ISO FID")

    def _add_file(self, app: Application, f: File) -> _Reply:
        if f.memory > self.state.free_memory:
            _fail(OutOfMemory, "not enough memory for the file")
        app.files[f.file_no] = f
        self._changed()
        return _Reply()

    def _new_file_header(self, cmd: int, msg: bytes, plain_len: int
                         ) -> tuple[Application, bytes, bool]:
        """The checks every Create*File with an optional ISO FID (two more bytes) begins with:
        the application, the parameters, whether they carry an ISO FID."""
        app = self._need_app()
        header = self._params(cmd, msg, plain_len, plain_len + 2)
        self._need_create_delete()
        has_iso = len(header) == plain_len + 2
        if has_iso and not app.iso_file_ids:
            _fail(LengthError, "the application was created without ISO file identifiers")
        self._check_new_file(app, header[0], header[3 if has_iso else 1])
        return app, header, has_iso

    def _h_create_data_file(self, cmd: int, msg: bytes) -> _Reply:
        app, header, has_iso = self._new_file_header(cmd, msg, 7)
        params = _parse(CreateDataFileParams.parse, header, has_iso_fid=has_iso)
        if params.size == 0:
            _fail(ParameterError, "a data file has at least one byte")
        self._check_iso_fid(app, params.iso_fid)
        return self._add_file(app, DataFile(
            params.file_no, Comm(params.comm.value), params.access, params.size,
            backup=cmd == Cmd.CREATE_BACKUP_DATA_FILE, iso_fid=params.iso_fid))

    def _h_create_value_file(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        header = self._params(cmd, msg, 17)
        self._need_create_delete()
        self._check_new_file(app, header[0], header[1])
        if header[16] & ~0x03:
            _fail(ParameterError, "unsupported value file flags")
        params = _parse(CreateValueFileParams.parse, header)
        if not params.lower_limit <= params.value <= params.upper_limit:
            _fail(ParameterError, "need lower limit <= value <= upper limit")
        return self._add_file(app, ValueFile(
            params.file_no, Comm(params.comm.value), params.access, params.lower_limit,
            params.upper_limit, params.value, params.limited_credit_enabled,
            params.free_get_value))

    def _h_create_record_file(self, cmd: int, msg: bytes) -> _Reply:
        app, header, has_iso = self._new_file_header(cmd, msg, 10)
        params = _parse(CreateRecordFileParams.parse, header, has_iso_fid=has_iso)
        cyclic = cmd == Cmd.CREATE_CYCLIC_RECORD_FILE
        if params.record_size < 1 or params.max_records < (2 if cyclic else 1):
            _fail(ParameterError, "record size >= 1, records >= 1 (cyclic files: >= 2)")
        self._check_iso_fid(app, params.iso_fid)
        return self._add_file(app, RecordFile(
            params.file_no, Comm(params.comm.value), params.access, params.record_size,
            params.max_records, cyclic, params.iso_fid))

    def _h_delete_file(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        file_no = self._params(cmd, msg, 1)[0]
        self._need_create_delete()
        self._file(app, file_no)
        del app.files[file_no]
        self._tx.pop(file_no, None)
        if self._ef == file_no:
            self._ef = None
        self._changed()
        return _Reply()

    # --- data files -------------------------------------------------------------------------------

    def _file_command(self, msg: bytes, header_len: int, kind: type | tuple[type, ...]) -> File:
        app = self._need_app()
        if len(msg) < header_len:
            _fail(LengthError, "the command is too short")
        f = self._file(app, msg[0])
        if not isinstance(f, kind):
            _fail(ParameterError, "the command does not apply to this kind of file")
        return f

    def _h_read_data(self, cmd: int, msg: bytes) -> _Reply:
        f = self._file_command(msg, 7, DataFile)
        assert isinstance(f, DataFile)
        mode = self._mode(f, _READ)
        header, rest = self._open(cmd, msg, 7, mode)
        if rest:
            _fail(LengthError, "ReadData takes 7 parameter bytes")
        offset, length = _u24(header[1:4]), _u24(header[4:7])
        if offset >= f.size or offset + length > f.size:
            _fail(BoundaryError, "beyond the end of the file")
        end = offset + length if length else f.size
        return _Reply(bytes(f.data[offset:end]), comm=mode)

    def _open_write(self, cmd: int, msg: bytes, kind: type) -> tuple[Any, Comm, int, bytes]:
        """WriteData and WriteRecord: the file, its effective mode, the offset and the data,
        checked against the length the header announces."""
        f = self._file_command(msg, 7, kind)
        mode = self._mode(f, _WRITE)
        length = _u24(msg[4:7])
        header, data = self._open(cmd, msg, 7, mode, length)
        if length == 0 or len(data) != length:
            _fail(LengthError, "the data does not match the length in the header")
        return f, mode, _u24(header[1:4]), data

    def _h_write_data(self, cmd: int, msg: bytes) -> _Reply:
        f, mode, offset, data = self._open_write(cmd, msg, DataFile)
        length = len(data)
        if offset + length > f.size:
            _fail(BoundaryError, "beyond the end of the file")
        if f.backup:
            stage = self._stage(f)
            assert isinstance(stage, _DataStage)
            stage.data[offset:offset + length] = data
        else:
            self._write_std(f, offset, data)
        return _Reply(comm=mode)

    # --- value files ------------------------------------------------------------------------------

    def _h_get_value(self, cmd: int, msg: bytes) -> _Reply:
        f = self._file_command(msg, 1, ValueFile)
        assert isinstance(f, ValueFile)
        try:
            mode = self._mode(f, _GET_VALUE)
        except (AuthenticationRejected, PermissionDenied):
            if not (f.free_get_value and self._session is None):
                raise
            mode = Comm.PLAIN
        _, rest = self._open(cmd, msg, 1, mode)
        if rest:
            _fail(LengthError, "GetValue takes a file number")
        return _Reply(f.value.to_bytes(4, "little", signed=True), comm=mode)

    def _h_value_op(self, cmd: int, msg: bytes) -> _Reply:
        f = self._file_command(msg, 1, ValueFile)
        assert isinstance(f, ValueFile)
        rights = GRANTING_RIGHTS[_VALUE_OPERATIONS[cmd]]
        mode = self._mode(f, rights)
        _, data = self._open(cmd, msg, 1, mode, 4)
        if len(data) != 4:
            _fail(LengthError, "the amount has 4 bytes")
        amount = int.from_bytes(data, "little", signed=True)
        if amount < 0:
            _fail(ParameterError, "the amount must not be negative")
        stage = self._stage(f)
        assert isinstance(stage, _ValueStage)
        if cmd == Cmd.DEBIT:
            if stage.value - amount < f.lower_limit:
                _fail(BoundaryError, "the debit goes below the lower limit")
            stage.value -= amount
            stage.debits += amount
        else:
            if cmd == Cmd.LIMITED_CREDIT:
                if not f.limited_credit_enabled:
                    _fail(PermissionDenied, "LimitedCredit is not enabled for this file")
                if stage.limited + amount > f.limited_credit_value:
                    _fail(BoundaryError, "more than the last transaction's debits")
            if stage.value + amount > f.upper_limit:
                _fail(BoundaryError, "the credit goes above the upper limit")
            stage.value += amount
            if cmd == Cmd.LIMITED_CREDIT:
                stage.limited += amount
        return _Reply(comm=mode)

    # --- record files -----------------------------------------------------------------------------

    def _h_write_record(self, cmd: int, msg: bytes) -> _Reply:
        f, mode, offset, data = self._open_write(cmd, msg, RecordFile)
        length = len(data)
        if offset + length > f.record_size:
            _fail(BoundaryError, "beyond the end of the record")
        stage = self._stage(f)
        assert isinstance(stage, _RecordStage)
        if stage.clear:
            _fail(PermissionDenied, "the file is being cleared in this transaction")
        if stage.record is None:
            if not f.cyclic and len(f.records) >= f.max_records:
                _fail(BoundaryError, "the linear record file is full")
            stage.record = bytearray(f.record_size)
        stage.record[offset:offset + length] = data
        return _Reply(comm=mode)

    def _h_read_records(self, cmd: int, msg: bytes) -> _Reply:
        f = self._file_command(msg, 7, RecordFile)
        assert isinstance(f, RecordFile)
        mode = self._mode(f, _READ)
        header, rest = self._open(cmd, msg, 7, mode)
        if rest:
            _fail(LengthError, "ReadRecords takes 7 parameter bytes")
        offset, count = _u24(header[1:4]), _u24(header[4:7])
        total = len(f.records)
        if offset >= total:
            _fail(BoundaryError, "no such record")
        available = total - offset
        if count > available:
            _fail(BoundaryError, "fewer records than asked for")
        count = count or available
        start = available - count
        return _Reply(b"".join(f.records[start:start + count]), comm=mode)

    def _h_clear_record_file(self, cmd: int, msg: bytes) -> _Reply:
        app = self._need_app()
        file_no = self._params(cmd, msg, 1)[0]
        f = self._file(app, file_no)
        if not isinstance(f, RecordFile):
            _fail(ParameterError, "ClearRecordFile needs a record file")
        self._mode(f, GRANTING_RIGHTS["clear"])
        stage = self._stage(f)
        assert isinstance(stage, _RecordStage)
        if stage.record is not None:
            _fail(PermissionDenied, "a record is being written in this transaction")
        stage.clear = True
        return _Reply()

    # --- transactions -----------------------------------------------------------------------------

    def _h_commit_transaction(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        if self._tearing is not None:
            if self._tearing >= 0.5:
                self._commit()
            raise _PowerCut
        self._commit()
        return _Reply()

    def _h_abort_transaction(self, cmd: int, msg: bytes) -> _Reply:
        self._params(cmd, msg, 0)
        self._tx.clear()
        return _Reply()

    def _commit(self) -> None:
        app = self._app
        if not self._tx or app is None:
            self._tx.clear()
            return
        for file_no, stage in self._tx.items():
            f = app.files.get(file_no)
            if isinstance(f, DataFile) and isinstance(stage, _DataStage):
                f.data[:] = stage.data
            elif isinstance(f, ValueFile) and isinstance(stage, _ValueStage):
                f.value = stage.value
                if stage.debits:
                    f.limited_credit_value = stage.debits
                elif stage.limited:
                    f.limited_credit_value = 0
            elif isinstance(f, RecordFile) and isinstance(stage, _RecordStage):
                if stage.clear:
                    f.records.clear()
                if stage.record is not None:
                    f.records.append(bytes(stage.record))
                    del f.records[:max(0, len(f.records) - f.capacity)]
        self._tx.clear()
        self._changed()

    # --- ISO 7816-4 -------------------------------------------------------------------------------

    def _iso_select(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        self._session = None
        self._tx.clear()
        if p2 not in (0x00, 0x0C):
            _iso_fail(SW_WRONG_PARAMS)
        if p1 == 0x04:
            if not 1 <= len(data) <= MAX_DF_NAME:
                _iso_fail(SW_WRONG_LENGTH)
            if data == DESFIRE_PICC_DF_NAME:
                return self._iso_select_df(0)
            for app in self.state.applications.values():
                if app.df_name == data:
                    return self._iso_select_df(app.aid)
            _iso_fail(SW_NOT_FOUND)
        if p1 not in (0x00, 0x02):
            _iso_fail(SW_WRONG_PARAMS)
        if p1 == 0x00 and not data:
            return self._iso_select_df(0)
        if len(data) != 2:
            _iso_fail(SW_WRONG_LENGTH)
        fid = int.from_bytes(data, "big")
        if p1 == 0x00 and fid == 0x3F00:
            return self._iso_select_df(0)
        app = self._app
        if app is not None:
            for f in app.files.values():
                if f.iso_fid == fid:
                    self._ef = f.file_no
                    return _sw(SW_OK)
        if p1 == 0x00:
            for other in self.state.applications.values():
                if other.iso_fid == fid:
                    return self._iso_select_df(other.aid)
        _iso_fail(SW_NOT_FOUND)

    def _iso_select_df(self, aid: int) -> bytes:
        self._select(aid)
        return _sw(SW_OK)

    def _iso_file(self, p1: int, p2: int) -> tuple[DataFile, int]:
        """The standard data file and offset a READ/UPDATE BINARY addresses."""
        app = self._app
        if p1 & 0x80 and p1 & 0x1F:
            if p1 & 0x60:
                _iso_fail(SW_WRONG_PARAMS)
            sfi = p1 & 0x1F
            f = app.files.get(sfi) if app is not None else None
            if f is None or f.iso_fid is None:
                _iso_fail(SW_NOT_FOUND)
            self._ef = sfi
            offset = p2
        else:
            if app is None or self._ef is None or self._ef not in app.files:
                _iso_fail(SW_NOT_ALLOWED, "no EF is selected")
            f = app.files[self._ef]
            offset = p2 if p1 & 0x80 else (p1 << 8) | p2
        if not isinstance(f, DataFile) or f.backup:
            _iso_fail(SW_NOT_ALLOWED, "not a standard data file")
        return f, offset

    def _iso_read_binary(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        f, offset = self._iso_file(p1, p2)
        if data:
            _iso_fail(SW_WRONG_LENGTH)
        if FREE not in (f.access.read, f.access.read_write):
            _iso_fail(SW_SECURITY)
        if offset >= f.size:
            _iso_fail(SW_WRONG_PARAMS)
        available = f.size - offset
        if le is None or le == 256:
            count = min(256, available)
        elif le > available:
            _iso_fail(SW_WRONG_LENGTH)
        else:
            count = le
        return bytes(f.data[offset:offset + count]) + _sw(SW_OK)

    def _iso_update_binary(self, p1: int, p2: int, data: bytes, le: int | None) -> bytes:
        f, offset = self._iso_file(p1, p2)
        if not data:
            _iso_fail(SW_WRONG_LENGTH)
        if FREE not in (f.access.write, f.access.read_write):
            _iso_fail(SW_SECURITY)
        if offset >= f.size:
            _iso_fail(SW_WRONG_PARAMS)
        if offset + len(data) > f.size:
            _iso_fail(SW_WRONG_LENGTH)
        self._write_std(f, offset, data)
        return _sw(SW_OK)


# --- module helpers -------------------------------------------------------------------------------


def _sw(sw: int) -> bytes:
    return sw.to_bytes(2, "big")


def _bcd(value: int) -> int:
    return (value // 10 % 10) << 4 | value % 10


def _parse(parse: Callable, data: bytes, **kwargs):
    """Decode command parameters; values the structure rejects are a parameter error."""
    try:
        return parse(data, **kwargs)
    except (MalformedMessage, InvalidArgument) as exc:
        _fail(ParameterError, str(exc))


def _parse_apdu(apdu: bytes) -> tuple[int, int, int, int, bytes, int | None] | None:
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
