"""DESFire native command codes, the small enumerations their parameters use, and the ranges of
their values (each limit stated here once, for the client, the emulated card and the layers above).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from ekarta.errors import InvalidArgument

__all__ = [
    "DESFIRE_PICC_DF_NAME",
    "FREE",
    "GRANTING_RIGHTS",
    "I32_MAX",
    "I32_MIN",
    "MAX_APPLICATIONS",
    "MAX_CARD_MEMORY",
    "MAX_DF_NAME",
    "MAX_FILES",
    "MAX_KEYS",
    "NEVER",
    "PICC_AID",
    "U8_MAX",
    "U16_MAX",
    "U24_MAX",
    "AppCrypto",
    "Cmd",
    "Comm",
    "FileType",
]

# --- value ranges ---------------------------------------------------------------------------------

U8_MAX = 0xFF
U16_MAX = 0xFFFF
#: offsets, lengths, sizes, record counts and AIDs travel as 3 bytes
U24_MAX = 0xFFFFFF
#: value files hold signed 32-bit values
I32_MIN = -(2**31)
I32_MAX = 2**31 - 1

#: The AID of the PICC level (the card's master application); applications are 1..U24_MAX.
PICC_AID = 0x000000

# EV1 limits; EV2 and later lift the application count, so treat these as EV1 figures.
MAX_APPLICATIONS = 28
#: file numbers are 0..MAX_FILES - 1
MAX_FILES = 32
#: an application has 1..MAX_KEYS keys, numbered 0..MAX_KEYS - 1
MAX_KEYS = 14
#: an ISO DF name has 1..MAX_DF_NAME bytes
MAX_DF_NAME = 16
#: user memory of the largest DESFire (EV2 32K): no file, and so no answer, is larger
MAX_CARD_MEMORY = 32 * 1024

#: ISO 7816-4 DF name of the PICC level (the card's master application).
DESFIRE_PICC_DF_NAME = bytes.fromhex("D2760000850100")

# --- access rights --------------------------------------------------------------------------------

#: Access-right nibble: the operation needs no authentication.
FREE = 0xE
#: Access-right nibble: the operation is never allowed.
NEVER = 0xF

#: Which access rights grant each file operation (docs/desfire-protocol.md, "effective mode"):
#: the client picks the communication mode by it, the emulated card checks the session by it.
GRANTING_RIGHTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "read": ("read", "read_write"),
    "get_value": ("read", "write", "read_write"),
    "debit": ("read", "write", "read_write"),
    "write": ("write", "read_write"),
    "limited_credit": ("write", "read_write"),
    "credit": ("read_write",),
    "clear": ("read_write",),
    "change": ("change",),
})


class Cmd(enum.IntEnum):
    """DESFire native command codes (the INS byte when wrapped in ISO 7816 APDUs)."""

    AUTHENTICATE_LEGACY = 0x0A
    AUTHENTICATE_ISO = 0x1A
    AUTHENTICATE_AES = 0xAA
    AUTHENTICATE_EV2_FIRST = 0x71
    AUTHENTICATE_EV2_NONFIRST = 0x77
    ADDITIONAL_FRAME = 0xAF
    GET_VERSION = 0x60
    GET_CARD_UID = 0x51
    FREE_MEMORY = 0x6E
    FORMAT_PICC = 0xFC
    GET_KEY_SETTINGS = 0x45
    CHANGE_KEY_SETTINGS = 0x54
    GET_KEY_VERSION = 0x64
    CHANGE_KEY = 0xC4
    SET_CONFIGURATION = 0x5C
    CREATE_APPLICATION = 0xCA
    DELETE_APPLICATION = 0xDA
    SELECT_APPLICATION = 0x5A
    GET_APPLICATION_IDS = 0x6A
    GET_DF_NAMES = 0x6D
    GET_FILE_IDS = 0x6F
    GET_ISO_FILE_IDS = 0x61
    GET_FILE_SETTINGS = 0xF5
    CHANGE_FILE_SETTINGS = 0x5F
    CREATE_STD_DATA_FILE = 0xCD
    CREATE_BACKUP_DATA_FILE = 0xCB
    CREATE_VALUE_FILE = 0xCC
    CREATE_LINEAR_RECORD_FILE = 0xC1
    CREATE_CYCLIC_RECORD_FILE = 0xC0
    DELETE_FILE = 0xDF
    READ_DATA = 0xBD
    WRITE_DATA = 0x3D
    GET_VALUE = 0x6C
    CREDIT = 0x0C
    DEBIT = 0xDC
    LIMITED_CREDIT = 0x1C
    WRITE_RECORD = 0x3B
    READ_RECORDS = 0xBB
    CLEAR_RECORD_FILE = 0xEB
    COMMIT_TRANSACTION = 0xC7
    ABORT_TRANSACTION = 0xA7


class Comm(enum.Enum):
    """Communication mode of a file: how its data travels between card and reader."""

    PLAIN = "plain"
    MAC = "mac"
    FULL = "full"

    @classmethod
    def from_settings(cls, byte: int) -> Comm:
        """Decode bits 1..0 of a file's communication-settings byte (other bits are ignored)."""
        if isinstance(byte, bool) or not isinstance(byte, int) or not 0 <= byte <= U8_MAX:
            raise InvalidArgument(f"communication settings must be a byte, got {byte!r}")
        # The datasheet defines 0b10 as plain too, so only 0b01 and 0b11 add protection.
        return {0b01: cls.MAC, 0b11: cls.FULL}.get(byte & 0b11, cls.PLAIN)

    @property
    def settings_byte(self) -> int:
        """The canonical communication-settings byte for this mode."""
        return {Comm.PLAIN: 0x00, Comm.MAC: 0x01, Comm.FULL: 0x03}[self]

    @classmethod
    def parse(cls, value: Comm | str) -> Comm:
        """Accept a :class:`Comm` or its name ("plain", "mac", "full", any case)."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            found = _COMM_BY_NAME.get(value) or _COMM_BY_NAME.get(value.strip().lower())
            if found is not None:
                return found
        raise InvalidArgument(f"communication mode must be plain, mac or full, got {value!r}")


#: Comm by its name, for :meth:`Comm.parse` (a dict is quicker than the enum's own lookup).
_COMM_BY_NAME: Mapping[str, Comm] = MappingProxyType({mode.value: mode for mode in Comm})


class AppCrypto(enum.IntEnum):
    """Key family of an application: bits 7..6 of the second key-settings byte.

    The same bits select the PICC master key type in the ChangeKey key number at PICC level.
    """

    DES_3DES = 0x00
    TDES3 = 0x40
    AES = 0x80

    @property
    def family(self) -> str:
        """The key types of the family: "des/2k3des", "3k3des" or "aes"."""
        return {AppCrypto.DES_3DES: "des/2k3des", AppCrypto.TDES3: "3k3des",
                AppCrypto.AES: "aes"}[self]


class FileType(enum.IntEnum):
    """File types as GetFileSettings reports them."""

    STD_DATA = 0
    BACKUP_DATA = 1
    VALUE = 2
    LINEAR_RECORD = 3
    CYCLIC_RECORD = 4

    @property
    def label(self) -> str:
        """E.g. "std data", "cyclic record"."""
        return {FileType.STD_DATA: "std data", FileType.BACKUP_DATA: "backup data",
                FileType.VALUE: "value", FileType.LINEAR_RECORD: "linear record",
                FileType.CYCLIC_RECORD: "cyclic record"}[self]
