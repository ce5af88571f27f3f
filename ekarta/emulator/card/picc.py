"""The PICC and its keys: authentication, GetVersion, GetCardUID, FreeMemory, FormatPICC, key
settings and versions, ChangeKey and SetConfiguration.

Authentication takes two frames: the command answers the card's challenge with status 0xAF, and
the reader's answer to it comes in the next frame, which the framing layer hands to
:func:`finish_authentication`.
"""

from __future__ import annotations

from ekarta.desfire.auth import METHOD_BY_COMMAND, CardAuth
from ekarta.desfire.commands import AppCrypto, Cmd
from ekarta.desfire.crypto import KeyType
from ekarta.desfire.session import Comm, EV2Session, Session
from ekarta.desfire.structs import KeySettings, KeySettingsInfo
from ekarta.emulator.card.context import Context, Handler, Reply, fail
from ekarta.emulator.state import crypto_of, key_type_of
from ekarta.errors import (
    AuthenticationRejected,
    InvalidArgument,
    LengthError,
    NoSuchKey,
    ParameterError,
    PermissionDenied,
)

__all__ = ["HANDLERS", "HW_VERSION", "SW_VERSION", "change_key_target", "finish_authentication"]

#: GetVersion hardware and software parts: NXP, DESFire, EV2 (12.00), 8 KB (0x1A), ISO 14443-2/3.
HW_VERSION = bytes.fromhex("04010112001A05")
SW_VERSION = bytes.fromhex("04010112001A05")


def _bcd(value: int) -> int:
    return (value // 10 % 10) << 4 | value % 10


# --- authentication -------------------------------------------------------------------------------


def authenticate(ctx: Context, cmd: int, msg: bytes) -> Reply:
    volatile = ctx.volatile
    previous = volatile.session
    volatile.session = None
    if cmd == Cmd.AUTHENTICATE_EV2_FIRST:
        if len(msg) < 2 or len(msg) != 2 + msg[1]:
            fail(LengthError, "AuthenticateEV2First takes key number, LenCap, PCDcap2")
    elif len(msg) != 1:
        fail(LengthError, "authentication takes one key number byte")
    key_no = msg[0]
    key = ctx.key(key_no)
    if cmd == Cmd.AUTHENTICATE_EV2_NONFIRST and not isinstance(previous, EV2Session):
        fail(AuthenticationRejected, "AuthenticateEV2NonFirst needs an EV2 session")
    try:
        auth = CardAuth(METHOD_BY_COMMAND[cmd], key_no, key, rng=ctx.rng, previous=previous)
    except InvalidArgument:
        fail(AuthenticationRejected, f"key {key_no} is a {key.type.value} key")
    challenge = auth.challenge()
    volatile.auth = auth
    volatile.auth_cmd = cmd
    return Reply(challenge, bare=True, more=True)


def finish_authentication(ctx: Context, cmd: int, msg: bytes) -> Reply:
    """The reader's answer to the challenge: the session starts, or the status says why not."""
    volatile = ctx.volatile
    auth = volatile.auth
    assert auth is not None
    volatile.auth = None
    if len(msg) != auth.expected_length:
        fail(LengthError, "the reader's authentication answer has the wrong length")
    answer, session = auth.verify(msg)
    volatile.session = session
    return Reply(answer, bare=True)


# --- the PICC -------------------------------------------------------------------------------------


def get_version(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    state = ctx.state
    uid = ctx.volatile.random_id.ljust(7, b"\x00") if state.random_uid else state.uid
    tail = uid + state.batch + bytes([_bcd(state.production_week), _bcd(state.production_year)])
    return Reply(HW_VERSION + SW_VERSION + tail, frames=(7, 7, len(tail)))


def get_card_uid(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    if ctx.volatile.session is None:
        fail(AuthenticationRejected, "GetCardUID needs authentication")
    return Reply(ctx.state.uid, comm=Comm.FULL)


def free_memory(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    return Reply(ctx.state.free_memory.to_bytes(3, "little"))


def format_picc(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_picc_level()
    ctx.params(cmd, msg, 0)
    ctx.need_key(0)
    if ctx.state.format_disabled:
        fail(PermissionDenied, "FormatPICC is disabled")
    ctx.state.applications.clear()
    ctx.volatile.tx.clear()
    ctx.changed()
    return Reply()


def set_configuration(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_picc_level()
    if not msg:
        fail(LengthError, "SetConfiguration needs an option byte")
    ctx.need_key(0)
    option = msg[0]
    _, data = ctx.open(cmd, msg, 1, Comm.FULL, {0: 1, 1: 25}.get(option))
    state = ctx.state
    if option == 0x00:
        if len(data) != 1:
            fail(LengthError, "option 0x00 takes one byte")
        if data[0] & ~0x03:
            fail(ParameterError, "unknown configuration bits")
        state.configuration |= data[0]
    elif option == 0x01:
        if len(data) != 25:
            fail(LengthError, "option 0x01 takes a 24-byte key and its version")
        state.default_key = bytes(data[:24])
        state.default_key_version = data[24]
    elif option == 0x02:
        if not 2 <= len(data) <= 20 or data[0] != len(data):
            fail(ParameterError, "the ATS must start with its own length (2..20)")
        state.ats = bytes(data)
    else:
        fail(ParameterError, f"unknown configuration option 0x{option:02X}")
    ctx.changed()
    return Reply(comm=Comm.FULL)


# --- keys -----------------------------------------------------------------------------------------


def get_key_settings(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.params(cmd, msg, 0)
    ctx.need_directory_access()
    app = ctx.app
    if app is not None:
        info = app.key_settings_info()
    else:
        info = KeySettingsInfo(settings=ctx.state.picc_settings, key_count=1,
                               crypto=crypto_of(ctx.state.picc_key.type))
    return Reply(info.build())


def change_key_settings(ctx: Context, cmd: int, msg: bytes) -> Reply:
    ctx.need_key(0)
    if not ctx.level_settings().config_changeable:
        fail(PermissionDenied, "the key settings are frozen")
    _, data = ctx.open(cmd, msg, 0, Comm.FULL, 1)
    if len(data) != 1:
        fail(LengthError, "ChangeKeySettings takes one settings byte")
    settings = KeySettings.from_byte(data[0])
    app = ctx.app
    if app is not None:
        app.settings = settings
    else:
        ctx.state.picc_settings = settings
    ctx.changed()
    return Reply(comm=Comm.FULL)


def get_key_version(ctx: Context, cmd: int, msg: bytes) -> Reply:
    header = ctx.params(cmd, msg, 1)
    return Reply(bytes([ctx.key(header[0]).version]))


def change_key_target(ctx: Context, key_no_byte: int) -> tuple[int, KeyType]:
    """The key number and new key type a ChangeKey's key-number byte names at this level."""
    app = ctx.app
    if app is None:
        if key_no_byte & 0x3F:
            fail(NoSuchKey, "the PICC level has only key 0")
        bits = key_no_byte & 0xC0
        if bits == 0xC0:
            fail(ParameterError, "unknown key type bits in the key number")
        return 0, key_type_of(AppCrypto(bits))
    if key_no_byte >= len(app.keys):
        fail(NoSuchKey, f"the application has no key {key_no_byte}")
    return key_no_byte, key_type_of(app.crypto)


def _check_change_key(ctx: Context, key_no: int, session: Session) -> None:
    settings = ctx.level_settings()
    if ctx.app is None or key_no == 0:
        if session.key_no != 0:
            fail(AuthenticationRejected, "changing the master key needs the master key")
        if not settings.master_key_changeable:
            fail(PermissionDenied, "the master key is frozen")
        return
    change_key = settings.change_key
    if change_key == 0xF:
        fail(PermissionDenied, "the application's keys are frozen")
    required = key_no if change_key == 0xE else change_key
    if session.key_no != required:
        fail(AuthenticationRejected, f"changing key {key_no} needs key {required}")


def change_key(ctx: Context, cmd: int, msg: bytes) -> Reply:
    if not msg:
        fail(LengthError, "ChangeKey needs a key number")
    session = ctx.volatile.session
    if session is None:
        fail(AuthenticationRejected, "ChangeKey needs authentication")
    key_no, new_type = change_key_target(ctx, msg[0])
    _check_change_key(ctx, key_no, session)
    same = key_no == session.key_no
    old = None if same else ctx.key(key_no)
    new = session.open_change_key(cmd, msg[0], msg[1:], new_type, old)
    app = ctx.app
    if app is not None:
        app.keys[key_no] = new
    else:
        ctx.state.picc_key = new
    ctx.changed()
    if same:
        ctx.volatile.session = None
        return Reply(bare=True)
    return Reply()


HANDLERS: dict[int, Handler] = {
    Cmd.AUTHENTICATE_LEGACY: authenticate,
    Cmd.AUTHENTICATE_ISO: authenticate,
    Cmd.AUTHENTICATE_AES: authenticate,
    Cmd.AUTHENTICATE_EV2_FIRST: authenticate,
    Cmd.AUTHENTICATE_EV2_NONFIRST: authenticate,
    Cmd.GET_VERSION: get_version,
    Cmd.GET_CARD_UID: get_card_uid,
    Cmd.FREE_MEMORY: free_memory,
    Cmd.FORMAT_PICC: format_picc,
    Cmd.SET_CONFIGURATION: set_configuration,
    Cmd.GET_KEY_SETTINGS: get_key_settings,
    Cmd.CHANGE_KEY_SETTINGS: change_key_settings,
    Cmd.GET_KEY_VERSION: get_key_version,
    Cmd.CHANGE_KEY: change_key,
}
