"""The reader side of DESFire: :class:`DESFire`, one method per native command.

The client is sans-IO in spirit: it builds every APDU itself and its only I/O is the
``transceiver.transceive(apdu) -> bytes`` seam (response data followed by SW1 SW2).  Secure
messaging is delegated to the :class:`~ekarta.desfire.session.Session` that
:meth:`DESFire.authenticate` establishes; ``docs/desfire-protocol.md`` says which communication
mode each command uses and how its message splits into a header (sent as is) and data (protected).

Everything goes through one private method, :meth:`DESFire._exchange`: protect the message, cut it
into frames (``90 CMD 00 00 Lc DATA 00``, then ``90 AF ...``), collect chained response frames,
check the status and open the response.  Any failure there drops the session, since the two ends
can no longer be sure they agree on its state (running IV, command counter).

Frames are traced at :data:`ekarta.log.TRACE` on this module's logger.  Key material never
reaches the log: keys only travel inside encrypted cryptograms, the client refuses to send a
key (ChangeKey, the default key of SetConfiguration) without a session to encrypt it, and the
trace hides the data of authentication and key-changing frames (:mod:`ekarta.desfire.redact`),
from which the session key and then the cryptograms' keys could be recovered.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn, Protocol, runtime_checkable

from ekarta.desfire.auth import ReaderAuth
from ekarta.desfire.commands import (
    FREE,
    GRANTING_RIGHTS,
    I32_MAX,
    I32_MIN,
    MAX_CARD_MEMORY,
    MAX_FILES,
    MAX_KEYS,
    PICC_AID,
    U8_MAX,
    U24_MAX,
    AppCrypto,
    Cmd,
)
from ekarta.desfire.crypto import Key, KeyType, Rng
from ekarta.desfire.redact import SECRET_COMMANDS, exchange_frame
from ekarta.desfire.session import Comm, Session
from ekarta.desfire.structs import (
    AccessRights,
    ChangeFileSettingsParams,
    CreateApplicationParams,
    CreateDataFileParams,
    CreateRecordFileParams,
    CreateValueFileParams,
    DFNameEntry,
    FileSettings,
    KeySettings,
    KeySettingsInfo,
    VersionInfo,
    _check_bytes,
    _check_int,
    aid_to_bytes,
    parse_aid_list,
    parse_free_memory,
    u24le,
)
from ekarta.errors import (
    ChainingError,
    InvalidArgument,
    LengthMismatch,
    MalformedMessage,
    MalformedResponse,
    NotAuthenticated,
    status_error,
)
from ekarta.log import TRACE

__all__ = ["DESFire", "Transceiver", "effective_comm"]

log = logging.getLogger(__name__)

STATUS_OK = 0x00
STATUS_MORE = 0xAF
#: SetConfiguration options
CONFIG_PICC = 0x00
CONFIG_DEFAULT_KEY = 0x01
#: the longest answer a card can give: its whole memory read as one file, plus the padding, CRC
#: and MAC of full mode; a card chaining beyond it is runaway
MAX_RESPONSE = MAX_CARD_MEMORY + 64
#: the fewest data bytes in a frame that continues an answer (GetDFNames: one application of AID,
#: ISO FID and a 1-byte DF name per frame; other answers come in frames of 7 bytes or more)
MIN_CHAINED_FRAME = 6
#: the most frames of one answer, and of one command (a message is never longer than an answer)
MAX_FRAMES = MAX_RESPONSE // MIN_CHAINED_FRAME + 1

#: Defaults of the create methods (frozen dataclasses, so sharing one instance is safe).
DEFAULT_KEY_SETTINGS = KeySettings()
FREE_ACCESS = AccessRights.free()

def effective_comm(settings: FileSettings, operation: str) -> Comm:
    """The mode a file-data operation really uses: plain when a granting right is free.

    ``operation`` is a key of :data:`GRANTING_RIGHTS`.  When none of its granting rights is free,
    the file's own mode applies (ChangeFileSettings is the exception: it then travels full).
    """
    if any(getattr(settings.access, right) == FREE for right in GRANTING_RIGHTS[operation]):
        return Comm.PLAIN
    return settings.comm


def _no_data(comm: Comm) -> Comm:
    """Response mode of a command that answers no data: "full" protects like "mac" then."""
    return Comm.MAC if comm is Comm.FULL else comm


# --- argument checks ------------------------------------------------------------------------------
# _check_int and _check_bytes come from structs, so a bad argument reads the same at either layer.


def _file_no(value: object) -> int:
    return _check_int("file_no", value, 0, MAX_FILES - 1)


def _key_no(value: object) -> int:
    return _check_int("key_no", value, 0, MAX_KEYS - 1)


def _amount(value: object) -> int:
    return _check_int("amount", value, 0, I32_MAX)


def _key(name: str, value: object) -> Key:
    if not isinstance(value, Key):
        raise InvalidArgument(f"{name} must be a Key, got {type(value).__name__}")
    return value


def _key_settings(value: KeySettings | int) -> KeySettings:
    if isinstance(value, KeySettings):
        return value
    return KeySettings.from_byte(value)


def _app_crypto(value: KeyType | AppCrypto | str) -> AppCrypto:
    if isinstance(value, AppCrypto):
        return value
    if not isinstance(value, KeyType | str):
        raise InvalidArgument(f"key_type must be a KeyType or its name, got {value!r}")
    return AppCrypto(KeyType.parse(value).app_crypto_bits)


@runtime_checkable
class Transceiver(Protocol):
    """What the client talks through: anything that sends one APDU to a card and returns the
    card's whole response (data, then SW1 SW2) — a reader driver, the emulated card's host, or a
    scripted fake."""

    def transceive(self, apdu: bytes) -> bytes: ...


def _data_header(file_no: int, offset: int, length: int) -> bytes:
    """File number, 3-byte offset and 3-byte length (values checked by the caller)."""
    return bytes([file_no]) + offset.to_bytes(3, "little") + length.to_bytes(3, "little")


def _apdu(code: int, data: bytes) -> bytes:
    if data:
        return bytes([0x90, code, 0x00, 0x00, len(data)]) + data + b"\x00"
    return bytes([0x90, code, 0x00, 0x00, 0x00])


class DESFire:
    """A DESFire card seen from the reader, over ``transceiver.transceive(apdu) -> bytes``.

    ``rng(n) -> bytes`` replaces :func:`os.urandom` for the reader's random numbers (to replay
    published transcripts); ``session`` resumes an established session; ``frame_size`` is the
    most bytes sent after the command byte in one APDU (longer commands chain with 0xAF); ``aid``
    is the application the card already has selected (0, the PICC level, after activation).
    """

    def __init__(self, transceiver: Transceiver, *, rng: Rng | None = None,
                 session: Session | None = None, frame_size: int = 255,
                 aid: int = PICC_AID) -> None:
        if not callable(getattr(transceiver, "transceive", None)):
            raise InvalidArgument("transceiver must have a transceive(apdu) -> bytes method")
        if session is not None and not isinstance(session, Session):
            raise InvalidArgument(f"session must be a Session, got {type(session).__name__}")
        self.transceiver: Transceiver = transceiver
        self.rng: Rng = rng or os.urandom
        self.frame_size = _check_int("frame_size", frame_size, 1, U8_MAX)
        self.aid = _check_int("aid", aid, 0, U24_MAX)
        self._session = session
        self._file_settings: dict[int, FileSettings] = {}
        #: the response frames of the last exchange, as the card sent them
        self._frames: list[bytes] = []

    @property
    def session(self) -> Session | None:
        """The authenticated session, or None."""
        return self._session

    @session.setter
    def session(self, value: Session | None) -> None:
        if value is not None and not isinstance(value, Session):
            raise InvalidArgument(f"session must be a Session, got {type(value).__name__}")
        self._session = value

    def __repr__(self) -> str:
        kind = self._session.kind if self._session else "none"
        return f"<DESFire aid=0x{self.aid:06X} session={kind}>"

    # --- the wire ---------------------------------------------------------------------------------

    def _transceive(self, apdu: bytes, secret: bool) -> tuple[bytes, int]:
        """One APDU: returns the response data and the DESFire status (SW2).  The data of a
        ``secret`` exchange (authentication, key material) is hidden in the trace."""
        tracing = log.isEnabledFor(TRACE)
        if tracing:
            log.log(TRACE, ">> %s", exchange_frame(apdu, to_card=True, secret=secret))
        response = self.transceiver.transceive(apdu)
        if type(response) is not bytes:
            response = bytes(response)
        if tracing:
            log.log(TRACE, "<< %s", exchange_frame(response, to_card=False, secret=secret))
        if len(response) < 2:
            raise MalformedResponse(f"response of {len(response)} bytes has no status word")
        if response[-2] != 0x91:
            raise MalformedResponse(
                f"status word {response[-2:].hex().upper()} is not a DESFire status (91 xx)")
        return response[:-2], response[-1]

    def _fail(self, status: int, cmd: int) -> None:
        """Raise for an unexpected status: the named error, or MalformedResponse for 00/AF."""
        if status in (STATUS_OK, STATUS_MORE):
            raise MalformedResponse(
                f"unexpected status 0x{status:02X} in the middle of command 0x{cmd:02X}")
        self._session = None
        raise status_error(status, cmd) from None

    def _send(self, cmd: int, body: bytes) -> list[bytes]:
        """Send a whole (already protected) message and collect every response frame."""
        secret = cmd in SECRET_COMMANDS
        size = self.frame_size
        if len(body) <= size:  # nearly every command: one frame
            data, status = self._transceive(_apdu(cmd, body), secret)
            if status == STATUS_OK:
                return [data]
        else:
            if len(body) > MAX_FRAMES * size:
                raise InvalidArgument(f"a message of {len(body)} bytes needs more than "
                                      f"{MAX_FRAMES} frames of {size} bytes")
            chunks = [body[i:i + size] for i in range(0, len(body), size)]
            for i, chunk in enumerate(chunks):
                data, status = self._transceive(_apdu(cmd if i == 0 else STATUS_MORE, chunk),
                                                secret)
                if i < len(chunks) - 1 and (status != STATUS_MORE or data):
                    self._fail(status, cmd)
        frames = [data]
        total = len(data)
        while status == STATUS_MORE:
            # Empty frames would never reach the byte limit: each frame must carry data, but for
            # the first, with which a card still waiting for command data asks for more (the empty
            # 90 AF that follows tells it there is none).
            if not data and len(frames) > 1:
                raise ChainingError(f"the card chains an empty frame (91 AF) in its answer to "
                                    f"command 0x{cmd:02X}")
            if len(frames) >= MAX_FRAMES or total > MAX_RESPONSE:
                raise ChainingError(
                    f"the card keeps chaining its answer to command 0x{cmd:02X} after "
                    f"{len(frames)} frames and {total} bytes, past the largest answer a DESFire "
                    f"gives")
            data, status = self._transceive(_apdu(STATUS_MORE, b""), secret)
            frames.append(data)
            total += len(data)
        if total > MAX_RESPONSE:
            raise ChainingError(f"the card answers command 0x{cmd:02X} with {total} bytes, more "
                                f"than the largest answer a DESFire gives ({MAX_RESPONSE})")
        if status != STATUS_OK:
            self._fail(status, cmd)
        return frames

    def _drop_session(self) -> NoReturn:
        """In an ``except`` block around an exchange that failed half-way: drop the session
        (the two ends can no longer agree on its state) and raise again, card garbage as
        :class:`~ekarta.errors.MalformedResponse`."""
        self._session = None
        exc = sys.exc_info()[1]
        if isinstance(exc, MalformedMessage) and not isinstance(
                exc, (MalformedResponse, LengthMismatch)):
            raise MalformedResponse(str(exc)) from exc
        raise  # the exception the caller is handling

    def _exchange(self, cmd: int, header: bytes = b"", data: bytes = b"", *, comm: Comm,
                  resp_comm: Comm | None = None, length: int | None = None) -> bytes:
        """One command: protect, frame, chain, check the status, open the response.

        ``comm`` protects the command's data, ``resp_comm`` (default ``comm``) the response;
        ``length`` is the response data length when known (used for full mode).  The raw
        response frames are left in ``_frames``.
        """
        session = self._session
        try:
            body = session.wrap_command(cmd, header, data, comm) if session else header + data
            self._frames = frames = self._send(cmd, body)
            payload = frames[0] if len(frames) == 1 else b"".join(frames)
            if session is not None:
                payload = session.unwrap_response(cmd, STATUS_OK, payload, resp_comm or comm,
                                                  length)
        except BaseException:
            self._drop_session()
        return payload

    @property
    def _command_comm(self) -> Comm:
        return self._session.command_comm if self._session else Comm.PLAIN

    def _simple(self, cmd: int, header: bytes = b"") -> bytes:
        """A command in the session's command mode, all parameters in the header."""
        return self._exchange(cmd, header, comm=self._command_comm)

    def _require_session(self, what: str) -> Session:
        if self._session is None:
            raise NotAuthenticated(f"{what} needs an authenticated session")
        return self._session

    # --- authentication ---------------------------------------------------------------------------

    def authenticate(self, key_no: int, key: Key, method: str = "aes") -> Session:
        """Authenticate with key ``key_no``; method: legacy, iso, aes, ev2first, ev2nonfirst.

        Sets and returns :attr:`session`.  On failure the session is None and the named status
        error, :class:`~ekarta.errors.ProofMismatch` or :class:`~ekarta.errors.LengthMismatch` is
        raised.
        """
        _key_no(key_no)
        _key("key", key)
        auth = ReaderAuth(method, key_no, key, rng=self.rng, previous=self._session)
        self._session = None
        try:
            challenge, status = self._transceive(_apdu(auth.command, auth.first_data()), True)
            if status != STATUS_MORE:
                self._fail(status, auth.command)
            proof, status = self._transceive(_apdu(STATUS_MORE, auth.respond(challenge)), True)
            if status != STATUS_OK:
                self._fail(status, auth.command)
            self._session = session = auth.finish(proof)
        except BaseException:
            self._drop_session()
        log.debug("authenticated with key %d (%s)", key_no, auth.method)
        return session

    # --- PICC level -------------------------------------------------------------------------------

    def get_version(self) -> VersionInfo:
        """Hardware, software and production data (GetVersion, three frames)."""
        return VersionInfo.parse(self._simple(Cmd.GET_VERSION))

    def get_card_uid(self) -> bytes:
        """The real 7-byte UID, even with random UIDs on (needs a session; answered encrypted)."""
        uid = self._exchange(Cmd.GET_CARD_UID, comm=self._command_comm, resp_comm=Comm.FULL,
                             length=7)
        if len(uid) != 7:
            raise LengthMismatch(f"GetCardUID answered {len(uid)} bytes, expected 7")
        return uid

    def free_memory(self) -> int:
        """Free user memory in bytes."""
        return parse_free_memory(self._simple(Cmd.FREE_MEMORY))

    def format_picc(self) -> None:
        """Erase every application and file (needs the PICC master key)."""
        self._simple(Cmd.FORMAT_PICC)
        self._file_settings.clear()

    def get_key_settings(self) -> KeySettingsInfo:
        """Key settings, key count and key family of the selected application or the PICC."""
        return KeySettingsInfo.parse(self._simple(Cmd.GET_KEY_SETTINGS))

    def change_key_settings(self, settings: KeySettings | int) -> None:
        """Change the key settings of the selected application or the PICC (sent encrypted)."""
        byte = bytes([_key_settings(settings).to_byte()])
        self._exchange(Cmd.CHANGE_KEY_SETTINGS, data=byte, comm=Comm.FULL,
                       resp_comm=_no_data(Comm.FULL))

    def get_key_version(self, key_no: int) -> int:
        """The version of key ``key_no``."""
        answer = self._simple(Cmd.GET_KEY_VERSION, bytes([_key_no(key_no)]))
        if len(answer) != 1:
            raise LengthMismatch(f"GetKeyVersion answered {len(answer)} bytes, expected 1")
        return answer[0]

    def change_key(self, key_no: int, new_key: Key, old_key: Key | None = None) -> None:
        """Change key ``key_no`` to ``new_key`` (needs a session with the change key).

        Changing the key the session authenticated with needs no ``old_key`` and ends the
        session.  For any other key, ``old_key`` is its current value; None means the all-zero
        key of ``new_key``'s type (a new application's keys).  At PICC level the new key's type
        is announced in the key number byte.
        """
        _key_no(key_no)
        _key("new_key", new_key)
        session = self._require_session("ChangeKey")
        same = (key_no & 0x0F) == session.key_no
        old: Key | None = None
        if not same:
            old = Key.default(new_key.type) if old_key is None else _key("old_key", old_key)
            if len(old.card_bytes()) != len(new_key.card_bytes()):
                raise InvalidArgument(
                    f"old key ({old.type.value}) and new key ({new_key.type.value}) differ in size")
        key_no_byte = key_no | (new_key.type.app_crypto_bits if self.aid == 0 else 0)
        try:
            cryptogram = session.change_key_cryptogram(Cmd.CHANGE_KEY, key_no_byte, new_key, old)
            frames = self._send(Cmd.CHANGE_KEY, bytes([key_no_byte]) + cryptogram)
            if same:
                # The card forgot the session with the old key: the answer is a bare status.
                self._session = None
                return
            session.unwrap_response(Cmd.CHANGE_KEY, STATUS_OK, b"".join(frames),
                                    _no_data(session.command_comm))
        except BaseException:
            self._drop_session()

    def set_configuration(self, option: int, data: bytes) -> None:
        """SetConfiguration: ``option`` byte and its data, sent encrypted.

        The card wants the PICC master key.  Without a session the command still goes out (the
        card answers AuthenticationRejected), except option 0x01, whose data is a key: that raises
        NotAuthenticated rather than send key material in clear.
        """
        _check_int("option", option, 0, U8_MAX)
        data = _check_bytes("configuration data", data, 1, U8_MAX)
        if option == CONFIG_DEFAULT_KEY:
            self._require_session("setting the default key")
        self._exchange(Cmd.SET_CONFIGURATION, bytes([option]), data, comm=Comm.FULL,
                       resp_comm=_no_data(Comm.FULL))

    def set_default_key(self, key: Key) -> None:
        """Set the key new applications start with (option 0x01; material padded to 24 bytes)."""
        material = _key("key", key).card_bytes()
        data = material + bytes(24 - len(material)) + bytes([key.version])
        self.set_configuration(CONFIG_DEFAULT_KEY, data)

    def configure_picc(self, *, disable_format: bool = False, random_uid: bool = False) -> None:
        """Option 0x00: disable FormatPICC and/or turn on random UIDs (both irreversible)."""
        self.set_configuration(CONFIG_PICC, bytes([bool(disable_format) | bool(random_uid) << 1]))

    # --- applications -----------------------------------------------------------------------------

    def create_application(self, aid: int, settings: KeySettings | int = DEFAULT_KEY_SETTINGS,
                           key_count: int = 1, key_type: KeyType | AppCrypto | str = "aes", *,
                           iso_fid: int | None = None, df_name: bytes | None = None) -> None:
        """Create application ``aid`` with ``key_count`` keys of ``key_type`` (all zero)."""
        _check_int("aid", aid, 1, U24_MAX)
        params = CreateApplicationParams(aid=aid, settings=_key_settings(settings),
                                         key_count=key_count, crypto=_app_crypto(key_type),
                                         iso_fid=iso_fid, df_name=df_name)
        self._simple(Cmd.CREATE_APPLICATION, params.build())

    def delete_application(self, aid: int) -> None:
        """Delete application ``aid``; deleting the selected one returns to the PICC level."""
        self._simple(Cmd.DELETE_APPLICATION, aid_to_bytes(_check_int("aid", aid, 1, U24_MAX)))
        if aid == self.aid:
            self.aid = PICC_AID
            self._session = None
            self._file_settings.clear()

    def select_application(self, aid: int = PICC_AID) -> None:
        """Select application ``aid`` (0 = PICC level); ends the session."""
        header = _check_int("aid", aid, 0, U24_MAX).to_bytes(3, "little")
        self._session = None
        self._file_settings.clear()
        self._exchange(Cmd.SELECT_APPLICATION, header, comm=Comm.PLAIN)
        self.aid = aid

    def get_application_ids(self) -> list[int]:
        """The AIDs of every application on the card."""
        return parse_aid_list(self._simple(Cmd.GET_APPLICATION_IDS))

    def get_df_names(self) -> list[DFNameEntry]:
        """AID, ISO FID and DF name of every application that has a DF name."""
        data = self._exchange(Cmd.GET_DF_NAMES, comm=self._command_comm)
        frames = self._frames
        # A session's MAC sits at the end of the last frame: cut the frames down to the data.
        cut = len(b"".join(frames)) - len(data)
        if cut:
            frames = [*frames[:-1], frames[-1][:len(frames[-1]) - cut]]
        if b"".join(frames) != data:
            raise MalformedResponse("GetDFNames response does not split into frames")
        return [DFNameEntry.parse(frame) for frame in frames if frame]

    # --- files: management ------------------------------------------------------------------------

    def get_file_ids(self) -> list[int]:
        """File numbers of the selected application."""
        return list(self._simple(Cmd.GET_FILE_IDS))

    def get_iso_file_ids(self) -> list[int]:
        """ISO file identifiers of the selected application."""
        data = self._simple(Cmd.GET_ISO_FILE_IDS)
        if len(data) % 2:
            raise LengthMismatch(f"GetISOFileIDs answered an odd number of bytes: {data.hex()}")
        return [int.from_bytes(data[i:i + 2], "little") for i in range(0, len(data), 2)]

    def get_file_settings(self, file_no: int) -> FileSettings:
        """Settings of file ``file_no`` (also refreshes the client's cache)."""
        settings = FileSettings.parse(self._simple(Cmd.GET_FILE_SETTINGS,
                                                   bytes([_file_no(file_no)])))
        self._file_settings[file_no] = settings
        return settings

    def _settings(self, file_no: int) -> FileSettings:
        return self._file_settings.get(file_no) or self.get_file_settings(file_no)

    def change_file_settings(self, file_no: int, comm: Comm | str, access: AccessRights) -> None:
        """Change a file's communication mode and access rights.

        Sent encrypted unless the file's Change right is free (read from the cache or fetched).
        """
        params = ChangeFileSettingsParams(comm=Comm.parse(comm), access=access)
        _file_no(file_no)
        mode = Comm.PLAIN
        # Full whatever the file's own mode, unless the Change right is free.
        if self._session is not None and self._settings(file_no).access.change != FREE:
            mode = Comm.FULL
        try:
            self._exchange(Cmd.CHANGE_FILE_SETTINGS, bytes([file_no]), params.build(), comm=mode,
                           resp_comm=_no_data(mode))
        finally:
            self._file_settings.pop(file_no, None)

    def _create_file(self, cmd: int, file_no: int, params) -> None:
        self._file_settings.pop(file_no, None)
        self._simple(cmd, params.build())

    def create_std_data_file(self, file_no: int, size: int, *, comm: Comm | str = "plain",
                             access: AccessRights = FREE_ACCESS,
                             iso_fid: int | None = None) -> None:
        """Create a standard data file of ``size`` bytes."""
        params = CreateDataFileParams(file_no=_file_no(file_no), iso_fid=iso_fid,
                                      comm=Comm.parse(comm), access=access, size=size)
        self._create_file(Cmd.CREATE_STD_DATA_FILE, file_no, params)

    def create_backup_data_file(self, file_no: int, size: int, *, comm: Comm | str = "plain",
                                access: AccessRights = FREE_ACCESS,
                                iso_fid: int | None = None) -> None:
        """Create a backup data file (writes take effect at CommitTransaction)."""
        params = CreateDataFileParams(file_no=_file_no(file_no), iso_fid=iso_fid,
                                      comm=Comm.parse(comm), access=access, size=size)
        self._create_file(Cmd.CREATE_BACKUP_DATA_FILE, file_no, params)

    def create_value_file(self, file_no: int, *, lower_limit: int = 0, upper_limit: int = I32_MAX,
                          value: int = 0, limited_credit: bool = False,
                          free_get_value: bool = False, comm: Comm | str = "plain",
                          access: AccessRights = FREE_ACCESS) -> None:
        """Create a value file: limits, initial value, LimitedCredit and free GetValue flags."""
        for name, v in (("lower_limit", lower_limit), ("upper_limit", upper_limit),
                        ("value", value)):
            _check_int(name, v, I32_MIN, I32_MAX)
        if not lower_limit <= value <= upper_limit:
            raise InvalidArgument(
                f"need lower_limit <= value <= upper_limit, got {lower_limit}, {value}, "
                f"{upper_limit}")
        params = CreateValueFileParams(file_no=_file_no(file_no), comm=Comm.parse(comm),
                                       access=access, lower_limit=lower_limit,
                                       upper_limit=upper_limit, value=value,
                                       limited_credit_enabled=limited_credit,
                                       free_get_value=free_get_value)
        self._create_file(Cmd.CREATE_VALUE_FILE, file_no, params)

    def create_linear_record_file(self, file_no: int, record_size: int, max_records: int, *,
                                  comm: Comm | str = "plain",
                                  access: AccessRights = FREE_ACCESS,
                                  iso_fid: int | None = None) -> None:
        """Create a linear record file (full when ``max_records`` records are written)."""
        params = self._record_params(file_no, record_size, max_records, comm, access, iso_fid)
        self._create_file(Cmd.CREATE_LINEAR_RECORD_FILE, file_no, params)

    def create_cyclic_record_file(self, file_no: int, record_size: int, max_records: int, *,
                                  comm: Comm | str = "plain",
                                  access: AccessRights = FREE_ACCESS,
                                  iso_fid: int | None = None) -> None:
        """Create a cyclic record file (the oldest record is overwritten when full)."""
        params = self._record_params(file_no, record_size, max_records, comm, access, iso_fid)
        self._create_file(Cmd.CREATE_CYCLIC_RECORD_FILE, file_no, params)

    @staticmethod
    def _record_params(file_no, record_size, max_records, comm, access, iso_fid):
        _check_int("record_size", record_size, 1, U24_MAX)
        _check_int("max_records", max_records, 1, U24_MAX)
        return CreateRecordFileParams(file_no=_file_no(file_no), iso_fid=iso_fid,
                                      comm=Comm.parse(comm), access=access,
                                      record_size=record_size, max_records=max_records)

    def delete_file(self, file_no: int) -> None:
        """Delete file ``file_no`` of the selected application."""
        self._file_settings.pop(_file_no(file_no), None)
        self._simple(Cmd.DELETE_FILE, bytes([file_no]))

    # --- files: data ------------------------------------------------------------------------------

    def _mode(self, file_no: int, comm: Comm | str | None, operation: str) -> Comm:
        """The mode of a file operation: as given, else the file's effective mode."""
        if comm is not None:
            return Comm.parse(comm)
        if self._session is None:
            return Comm.PLAIN  # without a session everything is plain: no need to ask the card
        return effective_comm(self._settings(file_no), operation)

    def _write(self, cmd: int, header: bytes, data: bytes, mode: Comm) -> None:
        self._exchange(cmd, header, data, comm=mode, resp_comm=_no_data(mode))

    def read_data(self, file_no: int, offset: int = 0, length: int = 0, *,
                  comm: Comm | str | None = None) -> bytes:
        """Read ``length`` bytes at ``offset`` of a data file (0 = to the end of the file)."""
        _file_no(file_no)
        _check_int("offset", offset, 0, U24_MAX)
        _check_int("length", length, 0, U24_MAX)
        mode = self._mode(file_no, comm, "read")
        expected: int | None = length or None
        cached = self._file_settings.get(file_no)
        if expected is None and cached is not None and cached.size is not None:
            expected = cached.size - offset if cached.size >= offset else None
        header = bytes([file_no]) + offset.to_bytes(3, "little") + length.to_bytes(3, "little")
        data = self._exchange(Cmd.READ_DATA, header, comm=mode, length=expected)
        if length and len(data) != length:
            raise LengthMismatch(f"ReadData answered {len(data)} bytes, asked for {length}")
        return data

    def write_data(self, file_no: int, data: bytes, offset: int = 0, *,
                   comm: Comm | str | None = None) -> None:
        """Write ``data`` at ``offset`` of a data file (backup files: at commit)."""
        _file_no(file_no)
        data = _check_bytes("data", data, 1, MAX_CARD_MEMORY)
        _check_int("offset", offset, 0, U24_MAX - len(data))
        mode = self._mode(file_no, comm, "write")
        self._write(Cmd.WRITE_DATA, _data_header(file_no, offset, len(data)), data,
                    mode)

    def get_value(self, file_no: int, *, comm: Comm | str | None = None) -> int:
        """The committed value of a value file."""
        mode = self._mode(_file_no(file_no), comm, "get_value")
        data = self._exchange(Cmd.GET_VALUE, bytes([file_no]), comm=mode, length=4)
        if len(data) != 4:
            raise LengthMismatch(f"GetValue answered {len(data)} bytes, expected 4")
        return int.from_bytes(data, "little", signed=True)

    def _value_op(self, cmd: int, operation: str, file_no: int, amount: int,
                  comm: Comm | str | None) -> None:
        _file_no(file_no)
        value = _amount(amount).to_bytes(4, "little")
        self._write(cmd, bytes([file_no]), value, self._mode(file_no, comm, operation))

    def credit(self, file_no: int, amount: int, *, comm: Comm | str | None = None) -> None:
        """Add ``amount`` to a value file (at commit)."""
        self._value_op(Cmd.CREDIT, "credit", file_no, amount, comm)

    def debit(self, file_no: int, amount: int, *, comm: Comm | str | None = None) -> None:
        """Subtract ``amount`` from a value file (at commit)."""
        self._value_op(Cmd.DEBIT, "debit", file_no, amount, comm)

    def limited_credit(self, file_no: int, amount: int, *,
                       comm: Comm | str | None = None) -> None:
        """Give back up to the debits of the last transaction (needs only the Write right)."""
        self._value_op(Cmd.LIMITED_CREDIT, "limited_credit", file_no, amount, comm)

    def write_record(self, file_no: int, data: bytes, offset: int = 0, *,
                     comm: Comm | str | None = None) -> None:
        """Write ``data`` at ``offset`` inside the record of this transaction (at commit)."""
        _file_no(file_no)
        data = _check_bytes("data", data, 1, MAX_CARD_MEMORY)
        _check_int("offset", offset, 0, U24_MAX - len(data))
        mode = self._mode(file_no, comm, "write")
        self._write(Cmd.WRITE_RECORD, _data_header(file_no, offset, len(data)), data,
                    mode)

    def read_records(self, file_no: int, offset: int = 0, count: int = 0, *,
                     comm: Comm | str | None = None,
                     record_size: int | None = None) -> list[bytes]:
        """Read ``count`` records (0 = all) starting ``offset`` back from the newest.

        Records come oldest first.  ``record_size`` is taken from the file settings when not
        given (fetched once per application).
        """
        _file_no(file_no)
        _check_int("offset", offset, 0, U24_MAX)
        _check_int("count", count, 0, U24_MAX)
        if record_size is not None:
            _check_int("record_size", record_size, 1, U24_MAX)
        mode = self._mode(file_no, comm, "read")
        if record_size is None:
            record_size = self._settings(file_no).record_size
            if record_size is None:
                raise InvalidArgument(f"file {file_no} is not a record file")
        _check_int("record_size", record_size, 1, U24_MAX)
        expected = count * record_size if count else None
        header = bytes([file_no]) + u24le(offset) + u24le(count)
        data = self._exchange(Cmd.READ_RECORDS, header, comm=mode, length=expected)
        if len(data) % record_size or (count and len(data) != count * record_size):
            raise LengthMismatch(
                f"ReadRecords answered {len(data)} bytes, not whole {record_size}-byte records")
        return [data[i:i + record_size] for i in range(0, len(data), record_size)]

    def clear_record_file(self, file_no: int) -> None:
        """Remove every record of a record file (at commit)."""
        self._simple(Cmd.CLEAR_RECORD_FILE, bytes([_file_no(file_no)]))

    def commit_transaction(self) -> None:
        """Make the staged writes to backup, value and record files permanent."""
        self._simple(Cmd.COMMIT_TRANSACTION)

    def abort_transaction(self) -> None:
        """Discard the staged writes."""
        self._simple(Cmd.ABORT_TRANSACTION)
