"""Where the transit scheme lives on a DESFire card: the application, its files and its keys.

This module is the single source of truth that ``docs/card-layout.md`` describes; issuing
(:mod:`ekarta.transit.cardio.issuance`), reading (:mod:`ekarta.transit.cardio.reading`) and
loading (:mod:`ekarta.transit.cardio.loading`) take every number from here.

It sits in the codec layer, next to the byte layouts of :mod:`~ekarta.transit.codec.records`:
it describes the card's files (their sizes come from those layouts) and which key may do what
with them, and needs nothing but the values and the DESFire layer.  Both layers above use it:
the keystore (:mod:`ekarta.transit.security.keystore`) diversifies the keys of its key roles,
card I/O reads and writes its files.

- One application, :data:`AID`, with four AES keys (:class:`KeyRole`): 0 the application master,
  1 loading (issuing, coupons: ticket office, kiosk, inspector), 2 validation (the validator's
  event log, purse debit, writing the blocked status), 3 reading (inspection).
- Four files (:data:`FILES`), every one in full (encrypted) mode and none with a free access
  right, so that nothing on the card can be read or written without a card key.  Every file a
  terminal writes is a backup, value or record file: a write takes effect only at
  CommitTransaction, and a card pulled away before it keeps its old contents.
- Every card key is diversified (NXP AN10922) from a master key with the input
  ``UID || AID (3 bytes, little-endian) || system identifier`` (:func:`diversification_input`),
  so that one card's keys reveal no other card's.

A DESFire file has four access-right nibbles (Read, Write, ReadWrite, Change), so a file cannot
name more than three keys for its data.  The table of which right grants which command is
:data:`ekarta.desfire.commands.GRANTING_RIGHTS`; :func:`allows` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, IntEnum

from ekarta.desfire.commands import FREE, GRANTING_RIGHTS, NEVER, PICC_AID, U24_MAX, FileType
from ekarta.desfire.session import Comm
from ekarta.desfire.structs import AccessRights, FileSettings, KeySettings
from ekarta.transit.codec.records import (
    CARD_RECORD_SIZE,
    EVENT_LOG_RECORDS,
    EVENT_RECORD_SIZE,
    SLOT_COUNT,
    SLOT_SIZE,
)
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.values import UID_LENGTHS, check_uid

__all__ = [
    "AID",
    "APP_KEY_SETTINGS",
    "CARD_RECORD_FILE",
    "DEFAULT_SYSTEM_ID",
    "DIVERSIFICATION_INPUT_MAX",
    "FILES",
    "KEY_COUNT",
    "LOG_FILE",
    "PICC_AID",
    "PICC_KEY_SETTINGS",
    "PURSE_FILE",
    "PURSE_UPPER_LIMIT",
    "SLOTS_FILE",
    "SYSTEM_ID_MAX",
    "FileKind",
    "FileSpec",
    "KeyRole",
    "allows",
    "check_system_id",
    "diversification_input",
    "settings_match",
]

AID = 0x4B4501
"""The transit application ("KE", version 01).  A placeholder until the operator registers an AID
in the MIFARE application directory; changing it changes every card key (it is diversified in)."""

KEY_COUNT = 4
UID_MAX = max(UID_LENGTHS)
DIVERSIFICATION_INPUT_MAX = 31
"""AN10922 takes at most 31 bytes of input for an AES key (two blocks less the constant byte)."""
SYSTEM_ID_MAX = DIVERSIFICATION_INPUT_MAX - UID_MAX - 3
"""18 bytes: room for the longest (10-byte) UID and the 3-byte AID."""
DEFAULT_SYSTEM_ID = b"EKARTA-ODIS"


class KeyRole(IntEnum):
    """The application's keys; the value is the key number on the card."""

    MASTER = 0
    """Changes keys and file settings; creates and deletes files.  Only at issuing."""
    LOAD = 1
    """Issuing and loading coupons: ticket office, kiosk, inspector.  Reads and writes every
    file, credits the purse."""
    VALIDATION = 2
    """The validator: appends to the event log, debits the purse, writes the blocked status."""
    READ = 3
    """Inspection and reading: reads the card record, the coupons and the log, nothing else."""

    @property
    def label(self) -> str:
        return self.name.lower()


# The PICC master key is changed from the factory DES key to a diversified AES key.  Listing
# stays free so that `ekarta card info` and other schemes' terminals can see what is on the card;
# creating applications needs the PICC master key, so a stranger cannot fill the card's memory.
PICC_KEY_SETTINGS = KeySettings(change_key=0x0, config_changeable=True, free_create_delete=False,
                                free_directory=True, master_key_changeable=True)

# Keys are changed by the application master key only.  Listing the files stays free (their
# layout is no secret and a diagnosis needs it); creating or deleting files needs key 0.
APP_KEY_SETTINGS = KeySettings(change_key=int(KeyRole.MASTER), config_changeable=True,
                               free_create_delete=False, free_directory=True,
                               master_key_changeable=True)


class FileKind(Enum):
    BACKUP = "backup data"
    CYCLIC = "cyclic record"
    VALUE = "value"

    @property
    def file_type(self) -> FileType:
        return {FileKind.BACKUP: FileType.BACKUP_DATA, FileKind.CYCLIC: FileType.CYCLIC_RECORD,
                FileKind.VALUE: FileType.VALUE}[self]


@dataclass(frozen=True)
class FileSpec:
    """One file of the application: number, kind, rights, mode and size."""

    file_no: int
    name: str
    kind: FileKind
    access: AccessRights
    comm: Comm = Comm.FULL
    size: int | None = None
    """Data files: the size in bytes."""
    record_size: int | None = None
    max_records: int | None = None
    """Cyclic record files: a file of N records keeps N - 1 (one is the rotation spare)."""
    lower_limit: int | None = None
    upper_limit: int | None = None
    limited_credit: bool = False


def _rights(read: int, write: int, read_write: int, change: int) -> AccessRights:
    return AccessRights(int(read), int(write), int(read_write), int(change))


CARD_RECORD_FILE = FileSpec(
    1, "card record", FileKind.BACKUP,
    _rights(KeyRole.READ, KeyRole.VALIDATION, KeyRole.LOAD, KeyRole.MASTER),
    size=CARD_RECORD_SIZE)
"""Who and what the card is (:func:`~ekarta.transit.codec.records.encode_card_record`).  A
validator may write it (Write = key 2) to set the blocked status of a card it finds on the
hotlist."""

SLOTS_FILE = FileSpec(
    2, "coupon slots", FileKind.BACKUP,
    _rights(KeyRole.READ, NEVER, KeyRole.LOAD, KeyRole.MASTER),
    size=SLOT_COUNT * SLOT_SIZE)
""":data:`~ekarta.transit.codec.records.SLOT_COUNT` slots of
:data:`~ekarta.transit.codec.records.SLOT_SIZE` bytes, slot ``i`` at offset ``i * SLOT_SIZE``.
Only the load key writes coupons."""

LOG_FILE = FileSpec(
    3, "event log", FileKind.CYCLIC,
    _rights(KeyRole.READ, KeyRole.VALIDATION, KeyRole.LOAD, KeyRole.MASTER),
    record_size=EVENT_RECORD_SIZE, max_records=EVENT_LOG_RECORDS + 1)

PURSE_UPPER_LIMIT = 1_000_000
"""The e-purse holds at most 10 000 CZK (in haléř)."""

PURSE_FILE = FileSpec(
    4, "e-purse", FileKind.VALUE,
    _rights(KeyRole.VALIDATION, KeyRole.VALIDATION, KeyRole.LOAD, KeyRole.MASTER),
    lower_limit=0, upper_limit=PURSE_UPPER_LIMIT, limited_credit=True)
"""DESFire lets every key with a Read right debit a value file, so the purse's Read right is the
validation key's, not the read key's: the read key can never move money (and does not see the
balance).  LimitedCredit (Write = key 2) lets a validator give back a wrong debit."""

FILES: tuple[FileSpec, ...] = (CARD_RECORD_FILE, SLOTS_FILE, LOG_FILE, PURSE_FILE)


def allows(role: KeyRole, spec: FileSpec, operation: str) -> bool:
    """Whether a session with ``role``'s key may do ``operation`` (a key of
    :data:`~ekarta.desfire.commands.GRANTING_RIGHTS`: read, write, debit, credit...) on ``spec``."""
    rights = GRANTING_RIGHTS[operation]
    return any(getattr(spec.access, right) in (int(role), FREE) for right in rights)


def settings_match(spec: FileSpec, settings: FileSettings) -> bool:
    """Whether a file found on a card is the one this layout creates."""
    if settings.file_type is not spec.kind.file_type or settings.comm.value != spec.comm.value:
        return False
    if int(settings.access) != int(spec.access):
        return False
    if spec.kind is FileKind.BACKUP:
        return settings.size == spec.size
    if spec.kind is FileKind.CYCLIC:
        return (settings.record_size, settings.max_records) == (spec.record_size,
                                                                spec.max_records)
    return (settings.lower_limit, settings.upper_limit, bool(settings.limited_credit_enabled)) \
        == (spec.lower_limit, spec.upper_limit, spec.limited_credit)


def check_system_id(system_id: bytes) -> bytes:
    """``system_id`` if it can be diversified in (1..:data:`SYSTEM_ID_MAX` bytes)."""
    if not isinstance(system_id, bytes | bytearray) or not 1 <= len(system_id) <= SYSTEM_ID_MAX:
        raise InvalidField(f"the system identifier must be 1..{SYSTEM_ID_MAX} bytes")
    return bytes(system_id)


def diversification_input(uid: bytes, aid: int, system_id: bytes) -> bytes:
    """AN10922 input of a card key: ``UID || AID (3 bytes LE) || system identifier``."""
    uid = check_uid(uid)
    if not 0 <= aid <= U24_MAX:
        raise InvalidField("AID must be 3 bytes")
    return uid + aid.to_bytes(3, "little") + check_system_id(system_id)

