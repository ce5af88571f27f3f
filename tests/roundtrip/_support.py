"""Shared pieces of the round-trip suite: authentication cases, personalisation, small helpers.

Nothing here opens a card: every test gets its card from the ``reader`` fixture of
``conftest.py`` (parametrised over the transports), so these helpers only ever talk to a
:class:`~ekarta.desfire.client.DESFire` they are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ekarta.desfire.client import DESFire
from ekarta.desfire.crypto import Key
from ekarta.desfire.structs import AccessRights, KeySettings

# --- card facts -----------------------------------------------------------------------------------

#: FreeMemory of a factory-fresh 8 KB emulated card.
FACTORY_FREE_MEMORY = 7936
#: The PICC master key of a factory-fresh card.
PICC_FACTORY_KEY = Key.default("des")
#: Application the per-method fixtures create.
APP_AID = 0x5A1E01
#: Keys per application the fixtures create: 0 master, 1 and 2 file keys.
APP_KEY_COUNT = 3

COMMS = ("plain", "mac", "full")

# File access rights.  Key 1 is the "operator" key, key 2 a weaker one; key 0 may change settings.
#: data files: key 1 reads and writes (Read + ReadWrite), key 2 may only write.
DATA_ACCESS = AccessRights(read=1, write=2, read_write=1, change=0)
#: value files: key 1 does everything (ReadWrite); key 2 may GetValue, Debit, LimitedCredit only.
VALUE_ACCESS = AccessRights(read=2, write=2, read_write=1, change=0)
#: record files: key 1 does everything; key 2 may only write records (not read, not clear).
RECORD_ACCESS = AccessRights(read=1, write=2, read_write=1, change=0)


def pattern(length: int, seed: int = 0) -> bytes:
    """Deterministic, non-repeating-looking test bytes (never all zero)."""
    return bytes(((seed * 31 + i * 7 + (i >> 8)) ^ 0x5C) & 0xFF for i in range(length))


# --- authentication cases -------------------------------------------------------------------------


def _key(key_type: str, hex_text: str, version: int) -> Key:
    return Key.from_hex(key_type, hex_text).with_version(version)


@dataclass(frozen=True)
class AuthCase:
    """One way of authenticating to an application: method, key family and the keys to use.

    ``keys[0]`` is the application master key (left at the default); ``keys[1]`` and ``keys[2]``
    are what personalisation changes keys 1 and 2 to (with versions 0x11 and 0x22).
    """

    id: str
    method: str
    key_type: str
    keys: tuple[Key, Key, Key]
    wrong_key: Key

    @property
    def default_key(self) -> Key:
        return Key.default(self.key_type)

    @property
    def master_method(self) -> str:
        """Method used with key 0; EV2NonFirst needs an EV2First (with key 0) before it."""
        return "ev2first" if self.method == "ev2nonfirst" else self.method

    @property
    def session_family(self) -> str:
        return {"legacy": "legacy", "iso": "ev1", "aes": "ev1"}.get(self.method, "ev2")


def _case(id_: str, method: str, key_type: str, k1: str, k2: str, wrong: str) -> AuthCase:
    return AuthCase(
        id=id_,
        method=method,
        key_type=key_type,
        keys=(Key.default(key_type), _key(key_type, k1, 0x11), _key(key_type, k2, 0x22)),
        wrong_key=Key.from_hex(key_type, wrong),
    )


_DES1, _DES2, _DESW = "1032547698BADCFE", "F0E1D2C3B4A59687", "A5A5A5A55A5A5A5A"
_2K1 = "00112233445566778899AABBCCDDEEFF"
_2K2 = "0123456789ABCDEFFEDCBA9876543210"
_2KW = "2468ACE02468ACE013579BDF13579BDF"
_3K1 = "00112233445566778899AABBCCDDEEFF0F1E2D3C4B5A6978"
_3K2 = "F0E0D0C0B0A090807060504030201000112233445566778A"
_3KW = "C0FFEEC0FFEEC0FFEE00DECAFBADBEEF1234567890ABCDEF"
_AES1 = "2B7E151628AED2A6ABF7158809CF4F3C"
_AES2 = "000102030405060708090A0B0C0D0E0F"
_AESW = "FFEEDDCCBBAA99887766554433221100"

AUTH_CASES: list[AuthCase] = [
    _case("legacy-DES", "legacy", "des", _DES1, _DES2, _DESW),
    _case("legacy-2K3DES", "legacy", "2k3des", _2K1, _2K2, _2KW),
    _case("iso-DES", "iso", "des", _DES1, _DES2, _DESW),
    _case("iso-2K3DES", "iso", "2k3des", _2K1, _2K2, _2KW),
    _case("iso-3K3DES", "iso", "3k3des", _3K1, _3K2, _3KW),
    _case("aes-AES", "aes", "aes", _AES1, _AES2, _AESW),
    _case("ev2first-AES", "ev2first", "aes", _AES1, _AES2, _AESW),
    _case("ev2nonfirst-AES", "ev2nonfirst", "aes", _AES1, _AES2, _AESW),
]
AUTH_IDS = [c.id for c in AUTH_CASES]


@dataclass
class App:
    """A personalised application on the card under test, and how to authenticate to it."""

    card: DESFire
    case: AuthCase
    aid: int
    keys: dict[int, Key] = field(default_factory=dict)

    def select(self) -> None:
        self.card.select_application(self.aid)

    def auth(self, key_no: int, key: Key | None = None) -> None:
        """Authenticate with ``key_no`` the case's way (default: the key it currently has)."""
        key = self.keys[key_no] if key is None else key
        if self.case.method == "ev2nonfirst":
            self.card.authenticate(0, self.keys[0], "ev2first")
            self.card.authenticate(key_no, key, "ev2nonfirst")
        else:
            self.card.authenticate(key_no, key, self.case.method)


def personalise(
    card: DESFire,
    case: AuthCase,
    aid: int = APP_AID,
    *,
    settings: KeySettings | None = None,
    key_count: int = APP_KEY_COUNT,
    iso_fid: int | None = None,
    df_name: bytes | None = None,
) -> App:
    """Create an application of the case's key family and change keys 1 and 2 from the default.

    Leaves the application selected and a session open with key 0 (the case's way).
    """
    card.select_application(0)
    card.create_application(aid, settings or KeySettings(), key_count, case.key_type,
                            iso_fid=iso_fid, df_name=df_name)
    card.select_application(aid)
    app = App(card, case, aid, keys={0: case.keys[0]})
    app.auth(0)
    for n in range(1, min(key_count, 3)):
        card.change_key(n, case.keys[n], case.default_key)
        app.keys[n] = case.keys[n]
    return app


# --- PICC master key cases ------------------------------------------------------------------------


@dataclass(frozen=True)
class PiccCase:
    """How the PICC master key is set up and used: the factory DES key or a changed one."""

    id: str
    method: str
    key: Key

    def auth(self, card: DESFire) -> None:
        card.select_application(0)
        card.authenticate(0, self.key, self.method)


PICC_CASES: list[PiccCase] = [
    PiccCase("legacy-DES", "legacy", PICC_FACTORY_KEY),
    PiccCase("iso-DES", "iso", PICC_FACTORY_KEY),
    PiccCase("iso-2K3DES", "iso", Key.from_hex("2k3des", _2K2)),
    PiccCase("iso-3K3DES", "iso", Key.from_hex("3k3des", _3K2)),
    PiccCase("aes-AES", "aes", Key.from_hex("aes", _AES2).with_version(7)),
    PiccCase("ev2first-AES", "ev2first", Key.from_hex("aes", _AES2).with_version(7)),
]
PICC_IDS = [c.id for c in PICC_CASES]


def setup_picc(card: DESFire, case: PiccCase) -> PiccCase:
    """Change the factory PICC master key to the case's key (if it differs); no session left."""
    card.select_application(0)
    if case.key != PICC_FACTORY_KEY:
        card.authenticate(0, PICC_FACTORY_KEY, "legacy")
        card.change_key(0, case.key)
        assert card.session is None, "changing the authenticated key must end the session"
    return case


# --- a transceiver that corrupts traffic ----------------------------------------------------------


class TamperingTransceiver:
    """Passes APDUs through, but can flip one bit in the next command or response.

    ``arm_response()`` corrupts the next successful (``91 00``) response that carries data: the
    last byte before the status (the end of the MAC, or the last cipher block).
    ``arm_command(cmd)`` corrupts the next APDU with INS ``cmd``: its last data byte (before Le).
    """

    def __init__(self, inner) -> None:
        self.inner = inner
        self._response_armed = False
        self._command_armed: int | None = None
        self.tampered = 0

    def arm_response(self) -> None:
        self._response_armed = True

    def arm_command(self, cmd: int) -> None:
        self._command_armed = cmd

    def transceive(self, apdu: bytes) -> bytes:
        apdu = bytes(apdu)
        if self._command_armed is not None and len(apdu) > 6 and apdu[1] == self._command_armed:
            self._command_armed = None
            apdu = apdu[:-2] + bytes([apdu[-2] ^ 0x01]) + apdu[-1:]
            self.tampered += 1
        response = bytes(self.inner.transceive(apdu))
        if self._response_armed and len(response) > 2 and response[-2:] == b"\x91\x00":
            self._response_armed = False
            response = response[:-3] + bytes([response[-3] ^ 0x01]) + response[-2:]
            self.tampered += 1
        return response


class RecordingTransceiver:
    """Passes APDUs through and remembers them (and the responses)."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.exchanges: list[tuple[bytes, bytes]] = []

    def clear(self) -> None:
        self.exchanges.clear()

    @property
    def commands(self) -> list[bytes]:
        return [c for c, _ in self.exchanges]

    @property
    def responses(self) -> list[bytes]:
        return [r for _, r in self.exchanges]

    def transceive(self, apdu: bytes) -> bytes:
        response = bytes(self.inner.transceive(bytes(apdu)))
        self.exchanges.append((bytes(apdu), response))
        return response
