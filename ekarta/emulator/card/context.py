"""What a command handler works on, and the checks the command groups share.

A :class:`Context` holds the card's persistent :class:`~ekarta.emulator.state.CardState`, its
:class:`Volatile` power-up state (replaced whole when the card powers up), the card's random
source, the revision counter that tells a reader to save, and whether the command being run is
torn half-way.  Handlers are plain functions ``handler(ctx, cmd, msg) -> Reply`` (see
:data:`Handler`); each command group's module maps command codes to them.  A handler rejects a
command by raising the status error it answers with (:func:`fail`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NoReturn, TypeVar

from ekarta.desfire.auth import CardAuth
from ekarta.desfire.commands import FREE, NEVER
from ekarta.desfire.crypto import Key, Rng
from ekarta.desfire.session import Comm, Session
from ekarta.desfire.structs import KeySettings
from ekarta.emulator.state import Application, CardState, File
from ekarta.errors import (
    ApplicationNotFound,
    AuthenticationRejected,
    DESFireStatusError,
    FileNotFound,
    InvalidArgument,
    LengthError,
    MalformedMessage,
    NoSuchKey,
    ParameterError,
    PermissionDenied,
)

__all__ = [
    "EV2_MAC",
    "RESERVED_FIDS",
    "Context",
    "DataStage",
    "Handler",
    "Incoming",
    "PowerCut",
    "RecordStage",
    "Reply",
    "Stage",
    "ValueStage",
    "Volatile",
    "fail",
    "parse",
    "u24",
]

#: Length of the MAC an EV2 session appends to every command.
EV2_MAC = 8
#: ISO file identifiers no application or file may take.
RESERVED_FIDS = frozenset({0x3F00, 0x3FFF, 0xFFFF})

T = TypeVar("T")


def fail(cls: type[DESFireStatusError], message: str | None = None) -> NoReturn:
    """Reject the command with the status of ``cls``."""
    assert cls.code is not None
    raise cls(cls.code, message=message)


def u24(data: bytes) -> int:
    return int.from_bytes(data[:3], "little")


def parse(parser: Callable[..., T], data: bytes, **kwargs: Any) -> T:
    """Decode command parameters; values the structure rejects are a parameter error."""
    try:
        return parser(data, **kwargs)
    except (MalformedMessage, InvalidArgument) as exc:
        fail(ParameterError, str(exc))


class PowerCut(Exception):
    """Raised inside a command torn half-way, after its partial effect (never leaves the card)."""


# --- the volatile state ---------------------------------------------------------------------------


@dataclass(slots=True)
class DataStage:
    """A backup data file's bytes as the transaction leaves them."""

    data: bytearray


@dataclass(slots=True)
class ValueStage:
    """A value file's value in the transaction, with what it debited and limited-credited."""

    value: int
    debits: int = 0
    limited: int = 0


@dataclass(slots=True)
class RecordStage:
    """A record file in the transaction: cleared, and/or one new record."""

    clear: bool = False
    record: bytearray | None = None


Stage = DataStage | ValueStage | RecordStage


@dataclass(slots=True)
class Incoming:
    """A command the reader is chaining in: what arrived so far and the length it will have."""

    cmd: int
    data: bytearray
    expected: int


@dataclass(slots=True)
class Volatile:
    """Everything the card forgets without power; a power-up replaces the whole object."""

    #: the random ID shown in anticollision when random UIDs are on (new at every power-up)
    random_id: bytes
    #: the selected application, 0 for the PICC level
    aid: int = 0
    #: the file number of the ISO EF selected in it
    ef: int | None = None
    #: the card's end of the authenticated session
    session: Session | None = None
    #: an authentication handshake waiting for the reader's answer, and its command
    auth: CardAuth | None = None
    auth_cmd: int = 0
    #: the pending transaction: staged changes by file number
    tx: dict[int, Stage] = field(default_factory=dict)
    #: response frames still to send (continued by the reader's 0xAF frames)
    out: list[bytes] = field(default_factory=list)
    #: a command the reader is chaining in
    incoming: Incoming | None = None

    def abandon(self) -> None:
        """A new command abandons a pending chain or handshake."""
        self.out = []
        self.incoming = None
        self.auth = None

    def select(self, aid: int) -> None:
        """Select an application (0: the PICC level): the session and transaction end."""
        self.session = None
        self.auth = None
        self.tx.clear()
        self.ef = None
        self.aid = aid


@dataclass(slots=True)
class Reply:
    """What a handler answers: data and how to protect it."""

    data: bytes = b""
    #: protection of the response; None = the session's command mode
    comm: Comm | None = None
    #: no secure messaging at all (selection, authentication, ChangeKey of the session's key)
    bare: bool = False
    #: status 0xAF (the authentication challenge)
    more: bool = False
    #: lengths of the data frames (GetVersion, GetDFNames); None = cut at the frame size
    frames: tuple[int, ...] | None = None
    #: forget the session once this answer is protected
    end_session: bool = False


# --- the context ----------------------------------------------------------------------------------


class Context:
    """The card as its command handlers see it (see the module docstring)."""

    __slots__ = ("revision", "rng", "state", "tearing", "volatile")
    volatile: Volatile

    def __init__(self, state: CardState, rng: Rng) -> None:
        self.rng = rng
        self.state = state
        #: incremented whenever the persistent state changes
        self.revision = 0
        #: how much of the running command gets done before power is lost; None: all of it
        self.tearing: float | None = None
        self.power_up()

    def power_up(self) -> None:
        """Power comes (back): the volatile state is replaced by a fresh one, in one step."""
        self.volatile = Volatile(random_id=b"\x08" + bytes(self.rng(3)))

    def changed(self) -> None:
        self.revision += 1

    # --- where the card is ------------------------------------------------------------------------

    @property
    def app(self) -> Application | None:
        """The selected application, None at the PICC level."""
        aid = self.volatile.aid
        return self.state.applications.get(aid) if aid else None

    def need_app(self) -> Application:
        app = self.app
        if app is None:
            fail(ApplicationNotFound, "no application is selected")
        return app

    def need_picc_level(self) -> None:
        if self.volatile.aid:
            fail(PermissionDenied, "a PICC-level command inside an application")

    def level_settings(self) -> KeySettings:
        app = self.app
        return app.settings if app is not None else self.state.picc_settings

    def key(self, key_no: int) -> Key:
        """Key ``key_no`` of the selected level."""
        app = self.app
        keys = app.keys if app is not None else [self.state.picc_key]
        if key_no >= len(keys):
            fail(NoSuchKey, f"there is no key {key_no} here")
        return keys[key_no]

    def file(self, app: Application, file_no: int) -> File:
        f = app.files.get(file_no)
        if f is None:
            fail(FileNotFound, f"there is no file {file_no}")
        return f

    # --- who may do what --------------------------------------------------------------------------

    def need_key(self, key_no: int = 0) -> Session:
        session = self.volatile.session
        if session is None or session.key_no != key_no:
            fail(AuthenticationRejected, f"needs authentication with key {key_no}")
        return session

    def need_directory_access(self) -> None:
        if not self.level_settings().free_directory:
            self.need_key(0)

    def need_create_delete(self) -> None:
        if not self.level_settings().free_create_delete:
            self.need_key(0)

    def mode(self, f: File, rights: tuple[str, ...]) -> Comm:
        """Check that an operation ``rights`` grant is allowed on ``f``; return its effective
        communication mode."""
        access = f.access
        session = self.volatile.session
        key_no = -1 if session is None else session.key_no
        possible = granted = False
        for right in rights:
            nibble = getattr(access, right)
            if nibble == FREE:
                return Comm.PLAIN
            possible = possible or nibble != NEVER
            granted = granted or nibble == key_no
        if not possible:
            fail(PermissionDenied, "no key may do this")
        if not granted:
            fail(AuthenticationRejected, "not authenticated with a key that grants this")
        return f.comm

    # --- opening commands -------------------------------------------------------------------------

    def params(self, cmd: int, msg: bytes, *sizes: int) -> bytes:
        """A command in the session's command mode with all its parameters in the header."""
        session = self.volatile.session
        header = msg
        if session is not None:
            if session.command_comm is Comm.PLAIN:
                session.unwrap_command(cmd, header, b"", Comm.PLAIN)
            else:
                if len(msg) < EV2_MAC:
                    fail(LengthError, "the command MAC is missing")
                header = msg[:-EV2_MAC]
                session.unwrap_command(cmd, header, msg[-EV2_MAC:], session.command_comm)
        if sizes and len(header) not in sizes:
            fail(LengthError, f"command 0x{cmd:02X} has {len(header)} parameter bytes")
        return header

    def open(self, cmd: int, msg: bytes, header_len: int, comm: Comm,
             length: int | None = None) -> tuple[bytes, bytes]:
        """Split a message into header and data, and open the data (mode ``comm``)."""
        if len(msg) < header_len:
            fail(LengthError, f"command 0x{cmd:02X} is too short")
        header, body = msg[:header_len], msg[header_len:]
        session = self.volatile.session
        if session is not None:
            body = session.unwrap_command(cmd, header, body, comm, length)
        return header, body


Handler = Callable[[Context, int, bytes], Reply]
