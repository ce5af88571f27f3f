"""Wire structures of DESFire commands and responses.

The byte layouts are declared once, with :mod:`construct`, as module-level ``*_format`` objects.
The public API is a set of frozen dataclasses with ``parse(data)`` and ``build()``; construct
Containers never leave this module.  Every parser treats its input as hostile: anything that does
not match the layout raises :class:`~ekarta.errors.MalformedResponse`, and every constructor checks
its ranges and raises :class:`~ekarta.errors.InvalidArgument`.

All multi-byte integers on DESFire are little-endian.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    ByteSwapped,
    Const,
    Construct,
    ConstructError,
    Container,
    Error,
    Flag,
    GreedyBytes,
    If,
    Int8ul,
    Int16ul,
    Int24ul,
    Int32sl,
    Nibble,
    Struct,
    Switch,
    Terminated,
    this,
)

from ekarta.desfire.commands import (
    FREE,
    I32_MAX,
    I32_MIN,
    MAX_DF_NAME,
    MAX_FILES,
    MAX_KEYS,
    NEVER,
    U8_MAX,
    U16_MAX,
    U24_MAX,
    AppCrypto,
    Comm,
    FileType,
)
from ekarta.errors import InvalidArgument, MalformedResponse

__all__ = [
    "AccessRights",
    "ChangeFileSettingsParams",
    "CreateApplicationParams",
    "CreateDataFileParams",
    "CreateRecordFileParams",
    "CreateValueFileParams",
    "DFNameEntry",
    "FileSettings",
    "KeySettings",
    "KeySettingsInfo",
    "VersionInfo",
    "VersionPart",
    "aid_from_bytes",
    "aid_to_bytes",
    "build_aid_list",
    "parse_aid_list",
    "parse_df_names",
    "parse_free_memory",
    "parse_u24le",
    "right_name",
    "u24le",
]

T = TypeVar("T")


# --- construct declarations -----------------------------------------------------------------------

# The 16-bit value read<<12 | write<<8 | rw<<4 | change travels little-endian, so the nibbles
# come out in declaration order only after swapping the two bytes.
access_rights_format = ByteSwapped(
    BitStruct(
        "read" / Nibble,
        "write" / Nibble,
        "read_write" / Nibble,
        "change" / Nibble,
    )
)

key_settings_format = BitStruct(
    "change_key" / Nibble,
    "config_changeable" / Flag,
    "free_create_delete" / Flag,
    "free_directory" / Flag,
    "master_key_changeable" / Flag,
)

# Second key-settings byte (GetKeySettings) and second CreateApplication byte.  Bit 4 announces
# EV2's third settings byte, which nothing here understands, so it must be clear.
app_keys_format = BitStruct(
    "crypto" / BitsInteger(2),
    "iso_file_ids" / Flag,
    "key_settings_3" / Const(0, BitsInteger(1)),
    "key_count" / Nibble,
)

key_settings_info_format = Struct(
    "settings" / key_settings_format,
    "key_info" / app_keys_format,
    Terminated,
)

bcd_format = BitStruct("tens" / Nibble, "units" / Nibble)

version_part_format = Struct(
    "vendor_id" / Int8ul,
    "type" / Int8ul,
    "subtype" / Int8ul,
    "major" / Int8ul,
    "minor" / Int8ul,
    "storage_size" / Int8ul,
    "protocol" / Int8ul,
)

version_format = Struct(
    "hw" / version_part_format,
    "sw" / version_part_format,
    "uid" / Bytes(7),
    "batch" / Bytes(5),
    "production_week" / bcd_format,
    "production_year" / bcd_format,
    "extra" / GreedyBytes,
)

value_flags_format = BitStruct(
    "reserved" / Const(0, BitsInteger(6)),
    "free_get_value" / Flag,
    "limited_credit_enabled" / Flag,
)

data_file_body_format = Struct("size" / Int24ul)

value_file_body_format = Struct(
    "lower_limit" / Int32sl,
    "upper_limit" / Int32sl,
    "limited_credit_value" / Int32sl,
    "flags" / value_flags_format,
)

record_file_body_format = Struct(
    "record_size" / Int24ul,
    "max_records" / Int24ul,
    "current_records" / Int24ul,
)

file_settings_format = Struct(
    "file_type" / Int8ul,
    "file_option" / Int8ul,
    "access" / access_rights_format,
    "body"
    / Switch(
        this.file_type,
        {
            FileType.STD_DATA: data_file_body_format,
            FileType.BACKUP_DATA: data_file_body_format,
            FileType.VALUE: value_file_body_format,
            FileType.LINEAR_RECORD: record_file_body_format,
            FileType.CYCLIC_RECORD: record_file_body_format,
        },
        default=Error,
    ),
    "extra" / GreedyBytes,
)

create_application_format = Struct(
    "aid" / Int24ul,
    "settings" / key_settings_format,
    "key_info" / app_keys_format,
    "iso_fid" / If(this.key_info.iso_file_ids, Int16ul),
    "df_name" / If(this.key_info.iso_file_ids, GreedyBytes),
    Terminated,
)


def _has_iso_fid(ctx: Container) -> bool:
    # The bytes alone cannot tell whether an ISO FID is present; the caller passes it in.
    return bool(ctx._params.has_iso_fid)


create_data_file_format = Struct(
    "file_no" / Int8ul,
    "iso_fid" / If(_has_iso_fid, Int16ul),
    "file_option" / Int8ul,
    "access" / access_rights_format,
    "size" / Int24ul,
    Terminated,
)

create_value_file_format = Struct(
    "file_no" / Int8ul,
    "file_option" / Int8ul,
    "access" / access_rights_format,
    "lower_limit" / Int32sl,
    "upper_limit" / Int32sl,
    "value" / Int32sl,
    "flags" / value_flags_format,
    Terminated,
)

create_record_file_format = Struct(
    "file_no" / Int8ul,
    "iso_fid" / If(_has_iso_fid, Int16ul),
    "file_option" / Int8ul,
    "access" / access_rights_format,
    "record_size" / Int24ul,
    "max_records" / Int24ul,
    Terminated,
)

change_file_settings_format = Struct(
    "file_option" / Int8ul,
    "access" / access_rights_format,
    Terminated,
)

u24le_format = Struct("value" / Int24ul, Terminated)

df_name_entry_format = Struct(
    "aid" / Int24ul,
    "iso_fid" / Int16ul,
    "df_name" / GreedyBytes,
)

# --- plumbing -------------------------------------------------------------------------------------


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise InvalidArgument(f"{what}: expected bytes, got {type(data).__name__}")


def _check_length(what: str, data: bytes, low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(data) <= high:
        expected = f"{low}" if low == high else f"{low}..{high}"
        raise MalformedResponse(f"{what} must be {expected} bytes, got {len(data)}: {data.hex()}")


def _decode(
    what: str,
    fmt: Construct,
    data: object,
    convert: Callable[[Container], T],
    **context: Any,
) -> T:
    """Parse ``data`` with ``fmt`` and convert it, turning every failure into MalformedResponse."""
    raw = _as_bytes(data, what)
    try:
        return convert(fmt.parse(raw, **context))
    except ConstructError as exc:
        detail = str(exc).replace("\n", ": ")
        message = f"malformed {what} ({len(raw)} bytes: {raw.hex()}): {detail}"
        raise MalformedResponse(message) from exc
    except ValueError as exc:  # includes InvalidArgument from a dataclass' range checks
        raise MalformedResponse(f"malformed {what} ({raw.hex()}): {exc}") from exc


def _encode(what: str, fmt: Construct, value: dict[str, Any], **context: Any) -> bytes:
    try:
        return fmt.build(value, **context)
    except ConstructError as exc:
        raise InvalidArgument(f"cannot encode {what}: {exc}") from exc


def _check_int(name: str, value: object, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{name} must be an int, got {value!r}")
    if not low <= value <= high:
        raise InvalidArgument(f"{name} must be in {low}..{high}, got {value}")
    return value


def _check_bool(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise InvalidArgument(f"{name} must be a bool, got {value!r}")


def _check_bytes(name: str, value: object, low: int, high: int) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise InvalidArgument(f"{name} must be bytes, got {type(value).__name__}")
    value = bytes(value)
    if not low <= len(value) <= high:
        raise InvalidArgument(f"{name} must be {low}..{high} bytes long, got {len(value)}")
    return value


def _check_optional_fid(value: int | None) -> None:
    if value is not None:
        _check_int("ISO file identifier", value, 0, U16_MAX)


def _check_access(value: object) -> None:
    if not isinstance(value, AccessRights):
        raise InvalidArgument(f"access must be AccessRights, got {value!r}")


def _set(obj: object, name: str, value: object) -> None:
    # Frozen dataclasses normalise their inputs (str -> Comm, bytearray -> bytes) in __post_init__.
    object.__setattr__(obj, name, value)


def _strict_comm(byte: int) -> Comm:
    """Communication mode of a command's option byte; bits 7..2 are EV2 options not handled here."""
    if byte & ~0b11:
        raise InvalidArgument(f"unsupported file option bits in 0x{byte:02X}")
    return Comm.from_settings(byte)


def _crypto_from_bits(bits: int) -> AppCrypto:
    # AppCrypto values are the byte's bits 7..6 in place; the BitStruct hands us the bare 2 bits.
    try:
        return AppCrypto(bits << 6)
    except ValueError:
        raise InvalidArgument(f"unknown key family bits 0b{bits:02b}") from None


def _crypto_to_bits(crypto: AppCrypto) -> int:
    return int(crypto) >> 6


def _from_bcd(ctr: Container, what: str) -> int:
    if ctr.tens > 9 or ctr.units > 9:
        raise InvalidArgument(f"{what} is not BCD: 0x{ctr.tens:X}{ctr.units:X}")
    return int(ctr.tens * 10 + ctr.units)


def _to_bcd(value: int) -> dict[str, int]:
    return {"tens": value // 10, "units": value % 10}


# --- access rights and key settings ---------------------------------------------------------------


def right_name(nibble: int) -> str:
    """An access-right or change-key nibble: ``key0``..``key13``, ``free`` or ``never``."""
    if nibble == FREE:
        return "free"
    if nibble == NEVER:
        return "never"
    return f"key{nibble}"


@dataclass(frozen=True)
class AccessRights:
    """The four access-right nibbles of a file: a key number 0..13, FREE (0xE) or NEVER (0xF)."""

    read: int
    write: int
    read_write: int
    change: int

    def __post_init__(self) -> None:
        for name in ("read", "write", "read_write", "change"):
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= 0xF:  # else what _check_int says
                _check_int(f"access right {name}", value, 0, 0xF)

    @classmethod
    def free(cls) -> AccessRights:
        """Every operation allowed without authentication."""
        return cls(FREE, FREE, FREE, FREE)

    @classmethod
    def parse(cls, data: bytes) -> AccessRights:
        """Decode the 2-byte little-endian access-rights field."""
        return _decode(
            "access rights",
            Struct("a" / access_rights_format, Terminated),
            data,
            lambda c: cls._from_container(c.a),
        )

    @classmethod
    def from_int(cls, value: int) -> AccessRights:
        """From the 16-bit value ``read<<12 | write<<8 | read_write<<4 | change``."""
        _check_int("access rights value", value, 0, U16_MAX)
        return cls.parse(value.to_bytes(2, "little"))

    @classmethod
    def _from_container(cls, c: Container) -> AccessRights:
        return cls(c.read, c.write, c.read_write, c.change)

    def _to_dict(self) -> dict[str, int]:
        return {
            "read": self.read,
            "write": self.write,
            "read_write": self.read_write,
            "change": self.change,
        }

    def build(self) -> bytes:
        """The 2 wire bytes."""
        return _encode("access rights", access_rights_format, self._to_dict())

    def __int__(self) -> int:
        return int.from_bytes(self.build(), "little")

    def describe(self) -> str:
        """E.g. ``read=key1 write=key2 rw=free change=never``."""
        return (
            f"read={right_name(self.read)} write={right_name(self.write)} "
            f"rw={right_name(self.read_write)} change={right_name(self.change)}"
        )

    def __str__(self) -> str:
        return self.describe()


@dataclass(frozen=True)
class KeySettings:
    """The first key-settings byte of the PICC or of an application.

    ``change_key`` (bits 7..4) names the key that may change keys: 0x0 the master key, 0x1..0xD
    that key, 0xE the key being changed itself, 0xF no key (keys are frozen).  The defaults are
    a factory-fresh card's 0x0F.
    """

    change_key: int = 0x0
    config_changeable: bool = True
    free_create_delete: bool = True
    free_directory: bool = True
    master_key_changeable: bool = True

    def __post_init__(self) -> None:
        _check_int("change_key", self.change_key, 0, 0xF)
        for name in (
            "config_changeable",
            "free_create_delete",
            "free_directory",
            "master_key_changeable",
        ):
            _check_bool(name, getattr(self, name))

    @classmethod
    def from_byte(cls, value: int) -> KeySettings:
        """Decode the settings byte given as an int."""
        _check_int("key settings byte", value, 0, U8_MAX)
        return cls.parse(bytes([value]))

    @classmethod
    def parse(cls, data: bytes) -> KeySettings:
        """Decode the 1-byte settings field."""
        return _decode(
            "key settings",
            Struct("s" / key_settings_format, Terminated),
            data,
            lambda c: cls._from_container(c.s),
        )

    @classmethod
    def _from_container(cls, c: Container) -> KeySettings:
        return cls(
            change_key=c.change_key,
            config_changeable=c.config_changeable,
            free_create_delete=c.free_create_delete,
            free_directory=c.free_directory,
            master_key_changeable=c.master_key_changeable,
        )

    def _to_dict(self) -> dict[str, Any]:
        return {
            "change_key": self.change_key,
            "config_changeable": self.config_changeable,
            "free_create_delete": self.free_create_delete,
            "free_directory": self.free_directory,
            "master_key_changeable": self.master_key_changeable,
        }

    def build(self) -> bytes:
        """The 1 wire byte."""
        return _encode("key settings", key_settings_format, self._to_dict())

    def to_byte(self) -> int:
        """The settings byte as an int."""
        return self.build()[0]

    def __int__(self) -> int:
        return self.to_byte()

    @property
    def change_key_name(self) -> str:
        """Who changes keys: ``key0``..``key13``, ``same key`` or ``frozen``."""
        return {0xE: "same key", 0xF: "frozen"}.get(self.change_key, f"key{self.change_key}")

    def describe(self, *, picc: bool = False) -> str:
        """E.g. ``0x0F: listing free, create/delete free, config changeable, key0 changeable,
        keys changed with key0``; at the PICC level (``picc``) creation is of applications and
        the change-key nibble means nothing."""
        create = "create app" if picc else "create/delete"
        parts = [
            "listing free" if self.free_directory else "listing needs key0",
            f"{create} free" if self.free_create_delete else f"{create} needs key0",
            "config changeable" if self.config_changeable else "config frozen",
            "key0 changeable" if self.master_key_changeable else "key0 frozen",
        ]
        if not picc:
            change = self.change_key_name
            parts.append({"frozen": "other keys frozen", "same key": "keys change themselves"}
                         .get(change, f"keys changed with {change}"))
        return f"0x{self.to_byte():02X}: " + ", ".join(parts)


def _keys_to_dict(crypto: AppCrypto, iso_file_ids: bool, key_count: int) -> dict[str, Any]:
    return {
        "crypto": _crypto_to_bits(crypto),
        "iso_file_ids": iso_file_ids,
        "key_count": key_count,
    }


def _check_crypto(value: object) -> AppCrypto:
    if isinstance(value, int):
        with contextlib.suppress(ValueError):
            return AppCrypto(value)
    raise InvalidArgument(f"crypto must be an AppCrypto, got {value!r}")


@dataclass(frozen=True)
class KeySettingsInfo:
    """The 2-byte GetKeySettings response: settings byte, then crypto / ISO flag / key count."""

    settings: KeySettings
    key_count: int
    crypto: AppCrypto
    iso_file_ids: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.settings, KeySettings):
            raise InvalidArgument(f"settings must be KeySettings, got {self.settings!r}")
        _check_int("key_count", self.key_count, 1, MAX_KEYS)
        _set(self, "crypto", _check_crypto(self.crypto))
        _check_bool("iso_file_ids", self.iso_file_ids)

    @classmethod
    def parse(cls, data: bytes) -> KeySettingsInfo:
        """Decode a GetKeySettings response (exactly 2 bytes)."""
        return _decode(
            "GetKeySettings response",
            key_settings_info_format,
            data,
            lambda c: cls(
                settings=KeySettings._from_container(c.settings),
                key_count=c.key_info.key_count,
                crypto=_crypto_from_bits(c.key_info.crypto),
                iso_file_ids=c.key_info.iso_file_ids,
            ),
        )

    def build(self) -> bytes:
        """The 2 response bytes."""
        return _encode(
            "key settings info",
            key_settings_info_format,
            {
                "settings": self.settings._to_dict(),
                "key_info": _keys_to_dict(self.crypto, self.iso_file_ids, self.key_count),
            },
        )


# --- GetVersion -----------------------------------------------------------------------------------

_VERSION_PART_FIELDS = (
    "vendor_id",
    "type",
    "subtype",
    "major",
    "minor",
    "storage_size",
    "protocol",
)
_VERSION_BYTE_FIELDS = tuple(f"{part}_{name}" for part in ("hw", "sw")
                             for name in _VERSION_PART_FIELDS)
VERSION_LENGTH = 28
VERSION_MAX_EXTRA = 2

# (hardware type, hardware major version) -> product name.
_PRODUCTS: dict[tuple[int, int], str] = {
    (0x01, 0x00): "MIFARE DESFire EV0",
    (0x01, 0x01): "MIFARE DESFire EV1",
    (0x01, 0x12): "MIFARE DESFire EV2",
    (0x01, 0x22): "MIFARE DESFire EV2 XL",
    (0x01, 0x33): "MIFARE DESFire EV3",
    (0x01, 0x30): "MIFARE DESFire Light",
    (0x08, 0x30): "MIFARE DESFire Light",
}


@dataclass(frozen=True)
class VersionPart:
    """The hardware or the software part of a GetVersion answer."""

    vendor_id: int
    type: int
    subtype: int
    major: int
    minor: int
    storage_size: int
    protocol: int

    @property
    def version(self) -> str:
        """``major.minor``, e.g. ``18.0``."""
        return f"{self.major}.{self.minor}"


@dataclass(frozen=True)
class VersionInfo:
    """The GetVersion answer: hardware part, software part, then UID, batch and production date.

    ``production_year`` holds the two BCD-decoded digits (21 for 2021).
    """

    hw_vendor_id: int
    hw_type: int
    hw_subtype: int
    hw_major: int
    hw_minor: int
    hw_storage_size: int
    hw_protocol: int
    sw_vendor_id: int
    sw_type: int
    sw_subtype: int
    sw_major: int
    sw_minor: int
    sw_storage_size: int
    sw_protocol: int
    uid: bytes
    batch: bytes
    production_week: int
    production_year: int
    extra: bytes = b""

    def __post_init__(self) -> None:
        for name in _VERSION_BYTE_FIELDS:
            value = getattr(self, name)
            if type(value) is not int or not 0 <= value <= U8_MAX:  # else what _check_int says
                _check_int(name, value, 0, U8_MAX)
        _set(self, "uid", _check_bytes("uid", self.uid, 7, 7))
        _set(self, "batch", _check_bytes("batch", self.batch, 5, 5))
        _check_int("production_week", self.production_week, 0, 99)
        _check_int("production_year", self.production_year, 0, 99)
        _set(self, "extra", _check_bytes("extra", self.extra, 0, VERSION_MAX_EXTRA))

    @classmethod
    def parse(cls, data: bytes) -> VersionInfo:
        """Decode the concatenated GetVersion frames (28 bytes, tolerating 2 trailing extras)."""
        what = "GetVersion response"
        raw = _as_bytes(data, what)
        _check_length(what, raw, VERSION_LENGTH, VERSION_LENGTH + VERSION_MAX_EXTRA)
        week, year = raw[26], raw[27]
        if week & 0x0F > 9 or week >> 4 > 9 or year & 0x0F > 9 or year >> 4 > 9:
            return cls._parse_declared(raw)  # for its error
        # version_format read directly, field by field (every read tags a card; the tests
        # check that this and the declaration agree on any bytes)
        return cls(raw[0], raw[1], raw[2], raw[3], raw[4], raw[5], raw[6],
                   raw[7], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13],
                   raw[14:21], raw[21:26], (week >> 4) * 10 + (week & 0x0F),
                   (year >> 4) * 10 + (year & 0x0F), raw[28:])

    @classmethod
    def _parse_declared(cls, data: bytes) -> VersionInfo:
        """:meth:`parse` by the construct declaration."""
        what = "GetVersion response"
        raw = _as_bytes(data, what)
        _check_length(what, raw, VERSION_LENGTH, VERSION_LENGTH + VERSION_MAX_EXTRA)

        def convert(c: Container) -> VersionInfo:
            parts = {
                f"{part}_{name}": c[part][name]
                for part in ("hw", "sw")
                for name in _VERSION_PART_FIELDS
            }
            return cls(
                **parts,
                uid=c.uid,
                batch=c.batch,
                production_week=_from_bcd(c.production_week, "production week"),
                production_year=_from_bcd(c.production_year, "production year"),
                extra=c.extra,
            )

        return _decode(what, version_format, raw, convert)

    def build(self) -> bytes:
        """The concatenated response bytes."""
        value: dict[str, Any] = {
            part: {name: getattr(self, f"{part}_{name}") for name in _VERSION_PART_FIELDS}
            for part in ("hw", "sw")
        }
        value.update(
            uid=self.uid,
            batch=self.batch,
            production_week=_to_bcd(self.production_week),
            production_year=_to_bcd(self.production_year),
            extra=self.extra,
        )
        return _encode("version info", version_format, value)

    @property
    def hardware(self) -> VersionPart:
        return VersionPart(*(getattr(self, f"hw_{name}") for name in _VERSION_PART_FIELDS))

    @property
    def software(self) -> VersionPart:
        return VersionPart(*(getattr(self, f"sw_{name}") for name in _VERSION_PART_FIELDS))

    @property
    def production_year_full(self) -> int:
        """The production year with century, e.g. 2021."""
        return 2000 + self.production_year

    @property
    def storage_bytes(self) -> int:
        """User memory in bytes, rounded down to a power of two (see :attr:`storage_exact`)."""
        return int(2 ** (self.hw_storage_size >> 1))

    @property
    def storage_exact(self) -> bool:
        """False when the real size lies between :attr:`storage_bytes` and twice that."""
        return not self.hw_storage_size & 1

    @property
    def vendor(self) -> str:
        """ "NXP" or the vendor byte in hex."""
        return "NXP" if self.hw_vendor_id == 0x04 else f"0x{self.hw_vendor_id:02X}"

    @property
    def product(self) -> str:
        """Product name derived from hardware type and major version."""
        name = _PRODUCTS.get((self.hw_type, self.hw_major))
        if name is not None:
            return name
        return f"DESFire-compatible 0x{self.hw_type:02X} (hardware {self.hw_major}.{self.hw_minor})"


# --- file settings --------------------------------------------------------------------------------

_DATA_FIELDS = ("size",)
_VALUE_FIELDS = (
    "lower_limit",
    "upper_limit",
    "limited_credit_value",
    "limited_credit_enabled",
    "free_get_value",
)
_RECORD_FIELDS = ("record_size", "max_records", "current_records")
_FIELDS_BY_TYPE: dict[FileType, tuple[str, ...]] = {
    FileType.STD_DATA: _DATA_FIELDS,
    FileType.BACKUP_DATA: _DATA_FIELDS,
    FileType.VALUE: _VALUE_FIELDS,
    FileType.LINEAR_RECORD: _RECORD_FIELDS,
    FileType.CYCLIC_RECORD: _RECORD_FIELDS,
}
_FILE_TYPE_CODES = frozenset(int(t) for t in FileType)
#: bytes of the type-specific part of file settings, by file type code (from the declaration)
_BODY_SIZES: dict[int, int] = {
    FileType.STD_DATA: data_file_body_format.sizeof(),
    FileType.BACKUP_DATA: data_file_body_format.sizeof(),
    FileType.VALUE: value_file_body_format.sizeof(),
    FileType.LINEAR_RECORD: record_file_body_format.sizeof(),
    FileType.CYCLIC_RECORD: record_file_body_format.sizeof(),
}
_INT_RANGES: dict[str, tuple[int, int]] = {
    "size": (0, U24_MAX),
    "lower_limit": (I32_MIN, I32_MAX),
    "upper_limit": (I32_MIN, I32_MAX),
    "limited_credit_value": (I32_MIN, I32_MAX),
    "record_size": (0, U24_MAX),
    "max_records": (0, U24_MAX),
    "current_records": (0, U24_MAX),
}


@dataclass(frozen=True)
class FileSettings:
    """A GetFileSettings response.

    Only the fields of ``file_type`` are set; the others are None.  ``option_flags`` keeps the
    bits of the file-option byte beyond the communication mode (EV2 sets bit 7 when additional
    access rights follow), and ``extra`` keeps any bytes after the documented layout, so that
    ``build()`` reproduces the card's bytes exactly.
    """

    file_type: FileType
    comm: Comm
    access: AccessRights
    size: int | None = None
    lower_limit: int | None = None
    upper_limit: int | None = None
    limited_credit_value: int | None = None
    limited_credit_enabled: bool | None = None
    free_get_value: bool | None = None
    record_size: int | None = None
    max_records: int | None = None
    current_records: int | None = None
    option_flags: int = 0
    extra: bytes = b""

    def __post_init__(self) -> None:
        try:
            _set(self, "file_type", FileType(self.file_type))
        except ValueError:
            raise InvalidArgument(f"unknown file type {self.file_type!r}") from None
        _set(self, "comm", Comm.parse(self.comm))
        _check_access(self.access)
        wanted = _FIELDS_BY_TYPE[self.file_type]
        for fields in (_DATA_FIELDS, _VALUE_FIELDS, _RECORD_FIELDS):
            for name in fields:
                value = getattr(self, name)
                if name not in wanted:
                    if value is not None:
                        kind = self.file_type.name
                        raise InvalidArgument(f"{name} does not apply to a {kind} file")
                elif name in _INT_RANGES:
                    _check_int(name, value, *_INT_RANGES[name])
                else:
                    _check_bool(name, value)
        _check_int("option_flags", self.option_flags, 0, U8_MAX)
        if Comm.from_settings(self.comm.settings_byte | self.option_flags) is not self.comm:
            raise InvalidArgument(
                f"option_flags 0x{self.option_flags:02X} would change the communication mode"
            )
        _set(self, "extra", _check_bytes("extra", self.extra, 0, U16_MAX))

    @classmethod
    def parse(cls, data: bytes) -> FileSettings:
        """Decode a GetFileSettings response; unknown trailing bytes end up in ``extra``."""
        what = "GetFileSettings response"
        raw = _as_bytes(data, what)
        body_end = 4 + _BODY_SIZES.get(raw[0], 1 << 16) if raw else 1 << 16
        if len(raw) < body_end or (raw[0] == FileType.VALUE and raw[16] & 0xFC):
            return cls._parse_declared(raw)  # for its error
        # file_settings_format read directly (a validator reads the log's settings at every
        # tap; the tests check that this and the declaration agree on any bytes)
        file_type = FileType(raw[0])
        option = raw[1]
        comm = Comm.from_settings(option)
        rights = raw[2] | raw[3] << 8
        fields: dict[str, Any] = {}
        if file_type is FileType.VALUE:
            fields.update(lower_limit=int.from_bytes(raw[4:8], "little", signed=True),
                          upper_limit=int.from_bytes(raw[8:12], "little", signed=True),
                          limited_credit_value=int.from_bytes(raw[12:16], "little", signed=True),
                          limited_credit_enabled=bool(raw[16] & 1),
                          free_get_value=bool(raw[16] & 2))
        elif file_type in (FileType.LINEAR_RECORD, FileType.CYCLIC_RECORD):
            fields.update(record_size=int.from_bytes(raw[4:7], "little"),
                          max_records=int.from_bytes(raw[7:10], "little"),
                          current_records=int.from_bytes(raw[10:13], "little"))
        else:
            fields["size"] = int.from_bytes(raw[4:7], "little")
        try:
            return cls(file_type=file_type, comm=comm,
                       access=AccessRights(rights >> 12, rights >> 8 & 0xF, rights >> 4 & 0xF,
                                           rights & 0xF),
                       option_flags=option & ~comm.settings_byte, extra=raw[body_end:],
                       **fields)
        except ValueError as exc:  # as _decode() reports what the dataclass refuses
            raise MalformedResponse(f"malformed {what} ({raw.hex()}): {exc}") from exc

    @classmethod
    def _parse_declared(cls, data: bytes) -> FileSettings:
        """:meth:`parse` by the construct declaration."""

        def convert(c: Container) -> FileSettings:
            file_type = FileType(c.file_type)
            comm = Comm.from_settings(c.file_option)
            fields = {name: c.body[name] for name in _FIELDS_BY_TYPE[file_type] if name in c.body}
            if file_type is FileType.VALUE:
                fields["limited_credit_enabled"] = c.body.flags.limited_credit_enabled
                fields["free_get_value"] = c.body.flags.free_get_value
            return cls(
                file_type=file_type,
                comm=comm,
                access=AccessRights._from_container(c.access),
                # Whatever the comm mode does not explain is kept, so build() is byte-exact.
                option_flags=c.file_option & ~comm.settings_byte,
                extra=c.extra,
                **fields,
            )

        what = "GetFileSettings response"
        raw = _as_bytes(data, what)
        if raw and raw[0] not in _FILE_TYPE_CODES:
            raise MalformedResponse(f"{what} names unknown file type 0x{raw[0]:02X}: {raw.hex()}")
        return _decode(what, file_settings_format, raw, convert)

    def describe_extent(self) -> str:
        """What the file holds, in words: ``size 32``; ``limits -100..1000, limited credit 0,
        free GetValue``; ``record size 16, 3 of max 10 records``."""
        if self.file_type in (FileType.STD_DATA, FileType.BACKUP_DATA):
            return f"size {self.size}"
        if self.file_type is FileType.VALUE:
            text = f"limits {self.lower_limit}..{self.upper_limit}"
            if self.limited_credit_enabled:
                text += f", limited credit {self.limited_credit_value}"
            else:
                text += ", no limited credit"
            return text + (", free GetValue" if self.free_get_value else "")
        return (f"record size {self.record_size}, "
                f"{self.current_records} of max {self.max_records} records")

    def build(self) -> bytes:
        """The response bytes."""
        body: dict[str, Any] = {}
        for name in _FIELDS_BY_TYPE[self.file_type]:
            body[name] = getattr(self, name)
        if self.file_type is FileType.VALUE:
            body["flags"] = {
                "limited_credit_enabled": body.pop("limited_credit_enabled"),
                "free_get_value": body.pop("free_get_value"),
            }
        return _encode(
            "file settings",
            file_settings_format,
            {
                "file_type": int(self.file_type),
                "file_option": self.comm.settings_byte | self.option_flags,
                "access": self.access._to_dict(),
                "body": body,
                "extra": self.extra,
            },
        )


# --- create / change parameters -------------------------------------------------------------------


def _check_file_no(value: object) -> None:
    _check_int("file_no", value, 0, MAX_FILES - 1)


def _infer_iso_fid(what: str, data: object, has_iso_fid: bool | None, plain_length: int) -> bool:
    if has_iso_fid is not None:
        return has_iso_fid
    raw = _as_bytes(data, what)
    if len(raw) == plain_length:
        return False
    if len(raw) == plain_length + 2:
        return True
    raise MalformedResponse(
        f"{what} must be {plain_length} or {plain_length + 2} bytes (with ISO FID), "
        f"got {len(raw)}: {raw.hex()}"
    )


@dataclass(frozen=True)
class CreateApplicationParams:
    """CreateApplication data: AID, key settings, key count and family, optional ISO FID / name.

    A DF name can only travel together with an ISO FID: the same flag announces both.
    """

    aid: int
    settings: KeySettings
    key_count: int
    crypto: AppCrypto
    iso_fid: int | None = None
    df_name: bytes | None = None

    def __post_init__(self) -> None:
        _check_int("aid", self.aid, 0, U24_MAX)
        if not isinstance(self.settings, KeySettings):
            raise InvalidArgument(f"settings must be KeySettings, got {self.settings!r}")
        _check_int("key_count", self.key_count, 1, MAX_KEYS)
        _set(self, "crypto", _check_crypto(self.crypto))
        _check_optional_fid(self.iso_fid)
        if self.df_name is not None:
            _set(self, "df_name", _check_bytes("df_name", self.df_name, 1, MAX_DF_NAME))
            if self.iso_fid is None:
                raise InvalidArgument("a DF name needs an ISO file identifier")

    @classmethod
    def parse(cls, data: bytes) -> CreateApplicationParams:
        """Decode the command data (everything after the command code)."""
        return _decode(
            "CreateApplication parameters",
            create_application_format,
            data,
            lambda c: cls(
                aid=c.aid,
                settings=KeySettings._from_container(c.settings),
                key_count=c.key_info.key_count,
                crypto=_crypto_from_bits(c.key_info.crypto),
                iso_fid=c.iso_fid,
                df_name=c.df_name or None,
            ),
        )

    def build(self) -> bytes:
        """The command data (everything after the command code)."""
        has_iso = self.iso_fid is not None
        return _encode(
            "CreateApplication parameters",
            create_application_format,
            {
                "aid": self.aid,
                "settings": self.settings._to_dict(),
                "key_info": _keys_to_dict(self.crypto, has_iso, self.key_count),
                "iso_fid": self.iso_fid,
                "df_name": (self.df_name or b"") if has_iso else None,
            },
        )


def _check_file_params(obj: Any) -> None:
    _check_file_no(obj.file_no)
    _set(obj, "comm", Comm.parse(obj.comm))
    _check_access(obj.access)


@dataclass(frozen=True)
class _SizedFileParams:
    """What CreateStd/BackupDataFile and CreateLinear/CyclicRecordFile data share: file number,
    optional ISO FID, comm byte, access rights, then the 3-byte ``_SIZES`` fields, named in
    ``_FORMAT`` as in the dataclass."""

    file_no: int
    iso_fid: int | None
    comm: Comm
    access: AccessRights

    _WHAT: ClassVar[str]
    _FORMAT: ClassVar[Construct]
    _SIZES: ClassVar[tuple[str, ...]]
    #: the data's length without an ISO FID
    _PLAIN_LENGTH: ClassVar[int]

    def __post_init__(self) -> None:
        _check_file_params(self)
        _check_optional_fid(self.iso_fid)
        for name in self._SIZES:
            _check_int(name, getattr(self, name), 0, U24_MAX)

    @classmethod
    def parse(cls, data: bytes, *, has_iso_fid: bool | None = None) -> Self:
        """Decode the command data; ``has_iso_fid=None`` infers it from the length
        (``_PLAIN_LENGTH`` bytes, or 2 more with an ISO FID)."""
        has_iso_fid = _infer_iso_fid(cls._WHAT, data, has_iso_fid, cls._PLAIN_LENGTH)
        return _decode(
            cls._WHAT,
            cls._FORMAT,
            data,
            lambda c: cls(
                file_no=c.file_no,
                iso_fid=c.iso_fid,
                comm=_strict_comm(c.file_option),
                access=AccessRights._from_container(c.access),
                **{name: c[name] for name in cls._SIZES},
            ),
            has_iso_fid=has_iso_fid,
        )

    def build(self) -> bytes:
        """The command data (everything after the command code)."""
        return _encode(
            self._WHAT,
            self._FORMAT,
            {
                "file_no": self.file_no,
                "iso_fid": self.iso_fid,
                "file_option": self.comm.settings_byte,
                "access": self.access._to_dict(),
                **{name: getattr(self, name) for name in self._SIZES},
            },
            has_iso_fid=self.iso_fid is not None,
        )


@dataclass(frozen=True)
class CreateDataFileParams(_SizedFileParams):
    """CreateStdDataFile / CreateBackupDataFile data: file number, [ISO FID], comm, access, size
    (7 bytes, 9 with an ISO FID)."""

    size: int

    _WHAT = "CreateDataFile parameters"
    _FORMAT = create_data_file_format
    _SIZES = ("size",)
    _PLAIN_LENGTH = 7


@dataclass(frozen=True)
class CreateValueFileParams:
    """CreateValueFile data: file number, comm, access, limits, initial value, flags."""

    file_no: int
    comm: Comm
    access: AccessRights
    lower_limit: int
    upper_limit: int
    value: int
    limited_credit_enabled: bool
    free_get_value: bool = False

    def __post_init__(self) -> None:
        _check_file_params(self)
        for name in ("lower_limit", "upper_limit", "value"):
            _check_int(name, getattr(self, name), I32_MIN, I32_MAX)
        _check_bool("limited_credit_enabled", self.limited_credit_enabled)
        _check_bool("free_get_value", self.free_get_value)

    @classmethod
    def parse(cls, data: bytes) -> CreateValueFileParams:
        """Decode the command data (17 bytes)."""
        return _decode(
            "CreateValueFile parameters",
            create_value_file_format,
            data,
            lambda c: cls(
                file_no=c.file_no,
                comm=_strict_comm(c.file_option),
                access=AccessRights._from_container(c.access),
                lower_limit=c.lower_limit,
                upper_limit=c.upper_limit,
                value=c.value,
                limited_credit_enabled=c.flags.limited_credit_enabled,
                free_get_value=c.flags.free_get_value,
            ),
        )

    def build(self) -> bytes:
        """The command data (everything after the command code)."""
        return _encode(
            "CreateValueFile parameters",
            create_value_file_format,
            {
                "file_no": self.file_no,
                "file_option": self.comm.settings_byte,
                "access": self.access._to_dict(),
                "lower_limit": self.lower_limit,
                "upper_limit": self.upper_limit,
                "value": self.value,
                "flags": {
                    "limited_credit_enabled": self.limited_credit_enabled,
                    "free_get_value": self.free_get_value,
                },
            },
        )


@dataclass(frozen=True)
class CreateRecordFileParams(_SizedFileParams):
    """CreateLinearRecordFile / CreateCyclicRecordFile data: file number, [ISO FID], comm,
    access, record size, most records (10 bytes, 12 with an ISO FID)."""

    record_size: int
    max_records: int

    _WHAT = "CreateRecordFile parameters"
    _FORMAT = create_record_file_format
    _SIZES = ("record_size", "max_records")
    _PLAIN_LENGTH = 10


@dataclass(frozen=True)
class ChangeFileSettingsParams:
    """The settings part of ChangeFileSettings: comm byte and access rights (3 bytes)."""

    comm: Comm
    access: AccessRights

    def __post_init__(self) -> None:
        _set(self, "comm", Comm.parse(self.comm))
        _check_access(self.access)

    @classmethod
    def parse(cls, data: bytes) -> ChangeFileSettingsParams:
        """Decode the 3 settings bytes (without the file number)."""
        return _decode(
            "ChangeFileSettings parameters",
            change_file_settings_format,
            data,
            lambda c: cls(
                comm=_strict_comm(c.file_option),
                access=AccessRights._from_container(c.access),
            ),
        )

    def build(self) -> bytes:
        """The 3 settings bytes (without the file number)."""
        return _encode(
            "ChangeFileSettings parameters",
            change_file_settings_format,
            {"file_option": self.comm.settings_byte, "access": self.access._to_dict()},
        )


# --- AIDs, DF names, small integers ---------------------------------------------------------------


def u24le(value: int) -> bytes:
    """Encode an unsigned 24-bit little-endian integer (offsets, lengths, sizes)."""
    _check_int("24-bit value", value, 0, U24_MAX)
    # every file command carries two or three of these: built directly, not by construct
    return value.to_bytes(3, "little")


def parse_u24le(data: bytes, what: str = "24-bit value") -> int:
    """Decode exactly 3 bytes as an unsigned little-endian integer."""
    return _decode(what, u24le_format, data, lambda c: int(c.value))


def aid_to_bytes(aid: int) -> bytes:
    """The 3 little-endian wire bytes of an application identifier."""
    _check_int("aid", aid, 0, U24_MAX)
    return u24le(aid)


def aid_from_bytes(data: bytes) -> int:
    """An application identifier from its 3 wire bytes."""
    return parse_u24le(data, "AID")


def parse_aid_list(data: bytes) -> list[int]:
    """Decode a GetApplicationIDs answer (all frames concatenated): 3 bytes per AID."""
    raw = _as_bytes(data, "AID list")
    if len(raw) % 3:
        raise MalformedResponse(f"AID list length {len(raw)} is not a multiple of 3: {raw.hex()}")
    return [aid_from_bytes(raw[i : i + 3]) for i in range(0, len(raw), 3)]


def build_aid_list(aids: Iterable[int]) -> bytes:
    """Encode AIDs the way GetApplicationIDs returns them."""
    return b"".join(aid_to_bytes(aid) for aid in aids)


def parse_free_memory(data: bytes) -> int:
    """Decode a FreeMemory answer: free bytes as 3 bytes little-endian."""
    return parse_u24le(data, "FreeMemory response")


@dataclass(frozen=True)
class DFNameEntry:
    """One GetDFNames frame: AID, ISO file identifier, DF name (1..16 bytes)."""

    aid: int
    iso_fid: int
    df_name: bytes

    def __post_init__(self) -> None:
        _check_int("aid", self.aid, 0, U24_MAX)
        _check_int("ISO file identifier", self.iso_fid, 0, U16_MAX)
        _set(self, "df_name", _check_bytes("df_name", self.df_name, 1, MAX_DF_NAME))

    @classmethod
    def parse(cls, data: bytes) -> DFNameEntry:
        """Decode one frame."""
        return _decode(
            "GetDFNames entry",
            df_name_entry_format,
            data,
            lambda c: cls(aid=c.aid, iso_fid=c.iso_fid, df_name=c.df_name),
        )

    def build(self) -> bytes:
        """Encode one frame."""
        return _encode(
            "GetDFNames entry",
            df_name_entry_format,
            {"aid": self.aid, "iso_fid": self.iso_fid, "df_name": self.df_name},
        )


def parse_df_names(frames: Iterable[bytes]) -> list[DFNameEntry]:
    """Decode a GetDFNames answer, one entry per frame."""
    return [DFNameEntry.parse(frame) for frame in frames]
