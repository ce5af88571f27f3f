"""The byte layouts of the transit application's files, declared with construct.

Each file's record starts with a format-version byte, so that a newer layout can be told apart
(and refused with :class:`~ekarta.transit.errors.UnknownFormatVersion`) before anything else is
read, and ends with a CRC-16/CCITT-FALSE (``binascii.crc_hqx`` from 0xFFFF, big-endian) over all
bytes before it, checked before any field is interpreted, so that a torn or decayed write reads
as :class:`~ekarta.transit.errors.CorruptRecord` and never as a plausible wrong value.  Version 0
with every byte zero is the "empty" record (a freshly created DESFire file is zero-filled).
Bit fields are packed most significant bit first.

Card record (:data:`CARD_RECORD_SIZE` = 128 bytes, one standard or backup data file)::

    byte 0       format version (1)
    bytes 1-12   96 bits: card number 34 | kind 1 | status 2 | profile 4 | expiry date 16 |
                 profile end date 16 (0 = none) | birth date 17 (days since 1900, 0 = none) |
                 reserved 6 (zero)
    then         first name: length byte (0..52) + UTF-8 (NFC); surname: the same
    then         zero bytes up to byte 125
    bytes 126-127 CRC-16

Coupon slot (:data:`SLOT_SIZE` = 96 bytes = 3 DESFire blocks; :data:`SLOT_COUNT` = 5 slots:
four valid-or-future coupons and one being replaced)::

    byte 0       slot format version (1; 0 = empty slot, all 96 bytes zero)
    bytes 1-29   coupon body, 232 bits: serial 32 | type 5 | profile 4 | network 1 |
                 zone count 4 | 10 zone numbers of 10 bits (unused ones zero) |
                 valid from 16 | valid to 16 | sale date 16 | channel 3 | device 16 | price 19
    bytes 30-93  signature (64 bytes, Ed25519 or ECDSA P-256 r||s) over the card and the body
    bytes 94-95  CRC-16

Event record (:data:`EVENT_RECORD_SIZE` = 24 bytes, a cyclic record file of
:data:`EVENT_LOG_RECORDS` = 8 usable records; DESFire needs one record more to rotate)::

    byte 0       format version (1; 0 = empty, all zero)
    bytes 1-21   168 bits: sequence 32 | date-time 28 (Prague local date 16, minute of day 11,
                 fold 1) | event kind 4 | result (reason code) 6 | device 16 | line 16 |
                 vehicle 16 | zone 10 | coupon serial 32 | reserved 8 (zero);
                 line, vehicle, zone and serial are 0 when absent
    bytes 22-23  CRC-16

Dates are days since 2000-01-01 (0 = absent) in Prague local time; see
:mod:`ekarta.transit.model.timecodec`.  The e-purse is a DESFire value file (a signed 32-bit
amount in haléř kept by the card itself) and has no layout here.

Decoding is strict: every accepted byte string is the one encoding of its value, so
``encode(decode(b)) == b`` whenever ``decode(b)`` succeeds.
"""

from __future__ import annotations

import binascii
import functools
import unicodedata
from collections.abc import Callable
from datetime import date, datetime
from enum import IntEnum
from itertools import pairwise
from typing import Any

from construct import (
    Adapter,
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Construct,
    ConstructError,
    GreedyBytes,
    Int8ub,
    Padded,
    Prefixed,
    Struct,
    Tell,
)

from ekarta.transit.codec.bitparse import BitReader, BitWriter, FrameReader
from ekarta.transit.errors import (
    BlankRecord,
    CorruptRecord,
    InvalidField,
    UnknownFormatVersion,
)
from ekarta.transit.model.timecodec import (
    BIRTH_BITS,
    BIRTH_EPOCH,
    DATE_BITS,
    DATE_EPOCH,
    STAMP_BITS,
    date_from_days,
    days_from_date,
    decode_stamp,
    encode_stamp,
)
from ekarta.transit.model.values import (
    MAX_ZONES,
    NAME_MAX_BYTES,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    EventKind,
    EventRecord,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
)

__all__ = [
    "CARD_FORMAT_VERSION",
    "CARD_RECORD_SIZE",
    "COUPON_BODY_SIZE",
    "EMPTY_SLOT",
    "EVENT_FORMAT_VERSION",
    "EVENT_LOG_RECORDS",
    "EVENT_RECORD_SIZE",
    "SIGNATURE_SIZE",
    "SLOT_COUNT",
    "SLOT_SIZE",
    "SLOT_VERSION",
    "crc16",
    "decode_card_record",
    "decode_coupon_body",
    "decode_event",
    "decode_slot",
    "encode_card_record",
    "encode_coupon_body",
    "encode_event",
    "encode_slot",
]

CARD_RECORD_SIZE = 128
SLOT_SIZE = 96
SLOT_COUNT = 5
SLOT_VERSION = 1
COUPON_BODY_SIZE = 29
SIGNATURE_SIZE = 64
EVENT_RECORD_SIZE = 24
EVENT_LOG_RECORDS = 8
EMPTY_SLOT = bytes(SLOT_SIZE)

CARD_FORMAT_VERSION = 1
EVENT_FORMAT_VERSION = 1

_CRC_SIZE = 2
_ZONE_BITS = 10


def crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (the check value of every record)."""
    return binascii.crc_hqx(data, 0xFFFF)


# --- field adapters ------------------------------------------------------------------------------


class EnumBits(Adapter):
    """An IntEnum in ``bits`` bits; a value outside the enum is a corrupt record."""

    def __init__(self, enum: type[IntEnum], bits: int):
        super().__init__(BitsInteger(bits))
        self.enum = enum
        self.members = {member.value: member for member in enum}

    def _decode(self, obj: int, context: Any, path: str) -> IntEnum:
        try:
            return self.members[obj]
        except KeyError:
            raise CorruptRecord(f"{path}: {obj} is not a {self.enum.__name__}") from None

    def _encode(self, obj: IntEnum, context: Any, path: str) -> int:
        return int(obj)


class DayDate(Adapter):
    """A date stored as days since ``epoch`` in ``bits`` bits; 0 decodes to None."""

    def __init__(self, bits: int = DATE_BITS, epoch: date = DATE_EPOCH):
        super().__init__(BitsInteger(bits))
        self.bits = bits
        self.epoch = epoch

    def _decode(self, obj: int, context: Any, path: str) -> date | None:
        return date_from_days(obj, epoch=self.epoch)

    def _encode(self, obj: date | None, context: Any, path: str) -> int:
        return days_from_date(obj, epoch=self.epoch, bits=self.bits, what=path or "date")


class Stamp(Adapter):
    """An instant stored as 28 bits of Prague local date, minute of day and fold."""

    def __init__(self) -> None:
        super().__init__(BitsInteger(STAMP_BITS))

    def _decode(self, obj: int, context: Any, path: str) -> datetime:
        return decode_stamp(obj)

    def _encode(self, obj: datetime, context: Any, path: str) -> int:
        return encode_stamp(obj)


class OptionalBits(Adapter):
    """An unsigned integer in ``bits`` bits where 0 stands for None."""

    def __init__(self, bits: int):
        super().__init__(BitsInteger(bits))

    def _decode(self, obj: int, context: Any, path: str) -> int | None:
        return obj or None

    def _encode(self, obj: int | None, context: Any, path: str) -> int:
        return 0 if obj is None else obj


class ZonesField(Adapter):
    """Network flag, zone count and ten 10-bit zone numbers (ascending, unused ones zero).

    One 105-bit field, so that the list is checked as a whole: the count must match the numbers
    stored, the numbers must ascend, a network ticket lists none.
    """

    BITS = 1 + 4 + MAX_ZONES * _ZONE_BITS
    _SHIFT = MAX_ZONES * _ZONE_BITS

    def __init__(self) -> None:
        super().__init__(BitsInteger(self.BITS))

    def _decode(self, obj: int, context: Any, path: str) -> Zones:
        network = bool(obj >> (self._SHIFT + 4))
        count = (obj >> self._SHIFT) & 0xF
        mask = (1 << _ZONE_BITS) - 1
        slots = [(obj >> (_ZONE_BITS * (MAX_ZONES - 1 - i))) & mask for i in range(MAX_ZONES)]
        numbers = tuple(slots[:count])
        if network:
            if count or any(slots):
                raise CorruptRecord(f"{path}: a network ticket with zones listed")
            return Zones(network=True)
        if not 1 <= count <= MAX_ZONES or any(slots[count:]):
            raise CorruptRecord(f"{path}: zone count {count} does not match the zones stored")
        if any(a >= b for a, b in pairwise(numbers)):
            raise CorruptRecord(f"{path}: zone numbers not in strictly ascending order")
        try:
            return Zones(numbers)
        except InvalidField as exc:
            raise CorruptRecord(f"{path}: {exc}") from None

    def _encode(self, obj: Zones, context: Any, path: str) -> int:
        value = (int(obj.network) << 4 | len(obj.numbers)) << self._SHIFT
        for i, number in enumerate(obj.numbers):
            value |= number << (_ZONE_BITS * (MAX_ZONES - 1 - i))
        return value


class NameField(Adapter):
    """A name: a length byte and that many bytes of NFC UTF-8 (at most 52)."""

    def __init__(self) -> None:
        super().__init__(Prefixed(Int8ub, GreedyBytes))

    def _decode(self, obj: bytes, context: Any, path: str) -> str:
        if len(obj) > NAME_MAX_BYTES:
            raise CorruptRecord(f"{path}: {len(obj)} bytes, at most {NAME_MAX_BYTES} allowed")
        try:
            text = obj.decode("utf-8")
        except UnicodeDecodeError:
            raise CorruptRecord(f"{path}: not valid UTF-8") from None
        if not unicodedata.is_normalized("NFC", text):
            raise CorruptRecord(f"{path}: not in Unicode normal form C")
        return text

    def _encode(self, obj: str, context: Any, path: str) -> bytes:
        return obj.encode("utf-8")


# --- layouts -------------------------------------------------------------------------------------

card_fields_v1 = BitStruct(
    "card_number" / BitsInteger(34),
    "kind" / EnumBits(CardKind, 1),
    "status" / EnumBits(CardStatus, 2),
    "profile" / EnumBits(Profile, 4),
    "expiry" / DayDate(),
    "profile_end" / DayDate(),
    "birth_date" / DayDate(BIRTH_BITS, BIRTH_EPOCH),
    "reserved" / Const(0, BitsInteger(6)),
)

card_record_v1 = Padded(CARD_RECORD_SIZE - _CRC_SIZE, Struct(
    "version" / Const(CARD_FORMAT_VERSION, Int8ub),
    "fields" / Bytes(card_fields_v1.sizeof()),
    "first_name" / NameField(),
    "surname" / NameField(),
    "end" / Tell,
))

coupon_body_v1 = BitStruct(
    "serial" / BitsInteger(32),
    "coupon_type" / EnumBits(CouponType, 5),
    "profile" / EnumBits(Profile, 4),
    "zones" / ZonesField(),
    "valid_from" / DayDate(),
    "valid_to" / DayDate(),
    "sale_date" / DayDate(),
    "channel" / EnumBits(SaleChannel, 3),
    "device" / BitsInteger(16),
    "price" / BitsInteger(19),
)

slot_v1 = Struct(
    "version" / Const(SLOT_VERSION, Int8ub),
    "body" / Bytes(COUPON_BODY_SIZE),
    "signature" / Bytes(SIGNATURE_SIZE),
).compile()

event_body_v1 = BitStruct(
    "sequence" / BitsInteger(32),
    "at" / Stamp(),
    "kind" / EnumBits(EventKind, 4),
    "result" / EnumBits(Reason, 6),
    "device" / BitsInteger(16),
    "line" / OptionalBits(16),
    "vehicle" / OptionalBits(16),
    "zone" / OptionalBits(10),
    "coupon_serial" / OptionalBits(32),
    "reserved" / Const(0, BitsInteger(8)),
)

# The same layouts, read and packed field by field with shifts (see bitparse: the tap's time
# budget); construct frames them (version, names, padding).
card_fields_v1_reader = BitReader(card_fields_v1)
coupon_body_v1_reader = BitReader(coupon_body_v1)
event_body_v1_reader = BitReader(event_body_v1)
card_fields_v1_writer = BitWriter(card_fields_v1)
coupon_body_v1_writer = BitWriter(coupon_body_v1)
event_body_v1_writer = BitWriter(event_body_v1)

event_record_v1 = Struct(
    "version" / Const(EVENT_FORMAT_VERSION, Int8ub),
    "body" / Bytes(event_body_v1.sizeof()),
).compile()

# The frames around them, read by slicing (see bitparse.FrameReader); construct builds them.
_FRAMES: dict[Construct, FrameReader] = {
    layout: FrameReader(layout) for layout in (card_record_v1, slot_v1, event_record_v1)}


# --- helpers -------------------------------------------------------------------------------------


def _as_bytes(data: object, what: str) -> bytes:
    if isinstance(data, bytes):
        return data
    if isinstance(data, bytearray | memoryview):
        return bytes(data)
    raise CorruptRecord(f"{what} must be bytes, not {type(data).__name__}")


def _open(what: str, data: object, size: int, formats: dict[int, Construct]) -> Any:
    """The parsed checked part of a versioned record, or None for an empty one."""
    data = _as_bytes(data, what)
    if len(data) != size:
        raise CorruptRecord(f"{what} is {len(data)} bytes, expected {size}")
    version = data[0]
    if version == 0:
        if any(data):
            raise CorruptRecord(f"{what} is marked empty (version 0) but holds data")
        return None
    layout = formats.get(version)
    if layout is None:
        raise UnknownFormatVersion(what, version, tuple(formats))
    checked = data[:-_CRC_SIZE]
    if crc16(checked) != int.from_bytes(data[-_CRC_SIZE:], "big"):
        raise CorruptRecord(f"{what}: checksum does not match (torn write or damage)")
    return _parse(what, layout, checked)


def _seal(checked: bytes) -> bytes:
    """``checked`` followed by its CRC: the whole record."""
    return checked + crc16(checked).to_bytes(_CRC_SIZE, "big")


def _parse(what: str, layout: Construct, data: bytes) -> dict[str, Any]:
    try:
        return _FRAMES[layout].parse(data)
    except CorruptRecord as exc:
        raise CorruptRecord(f"{what}: {exc}") from None


def _read(what: str, reader: BitReader, data: bytes) -> dict[str, Any]:
    try:
        fields = reader.parse(data)
    except CorruptRecord as exc:
        raise CorruptRecord(f"{what}: {exc}") from None
    fields.pop("reserved", None)
    return fields


def _make(what: str, factory: Callable[..., Any], **fields: Any) -> Any:
    # The dataclasses hold the invariants; a decoded value that breaks one is a corrupt record.
    try:
        return factory(**fields)
    except InvalidField as exc:
        raise CorruptRecord(f"{what}: {exc}") from None


def _build(what: str, layout: Construct, value: dict[str, Any]) -> bytes:
    try:
        return layout.build(value)
    except ConstructError as exc:
        raise InvalidField(f"{what}: {_first_line(exc)}") from None


def _pack(what: str, writer: BitWriter, value: dict[str, Any]) -> bytes:
    try:
        return writer.build(value)
    except InvalidField as exc:
        raise InvalidField(f"{what}: {exc}") from None


def _first_line(exc: Exception) -> str:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _fields(source: Any, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(source, name) for name in names}


_CARD_NAMES = ("card_number", "kind", "status", "profile", "expiry", "profile_end", "birth_date")
_COUPON_NAMES = ("serial", "coupon_type", "profile", "zones", "valid_from", "valid_to",
                 "sale_date", "channel", "device", "price")
_EVENT_NAMES = ("sequence", "at", "kind", "result", "device", "line", "vehicle", "zone",
                "coupon_serial")


# --- card record ---------------------------------------------------------------------------------


def encode_card_record(record: CardRecord) -> bytes:
    """The card file's :data:`CARD_RECORD_SIZE` bytes."""
    if not isinstance(record, CardRecord):
        raise InvalidField(f"expected a CardRecord, not {type(record).__name__}")
    fields = {**_fields(record, _CARD_NAMES), "card_number": int(record.card_number)}
    value = {
        "fields": _pack("card record", card_fields_v1_writer, fields),
        "first_name": record.first_name,
        "surname": record.surname,
    }
    return _seal(_build("card record", card_record_v1, value))


def decode_card_record(data: bytes) -> CardRecord:
    """The card record in ``data``; RecordError (a subclass) if it cannot be read.

    A blank file raises :class:`~ekarta.transit.errors.BlankRecord`, a newer format
    :class:`~ekarta.transit.errors.UnknownFormatVersion`.
    """
    what = "card record"
    parsed = _open(what, data, CARD_RECORD_SIZE, {CARD_FORMAT_VERSION: card_record_v1})
    if parsed is None:
        raise BlankRecord("card record is blank: the card is not personalised")
    if any(data[parsed["end"]:CARD_RECORD_SIZE - _CRC_SIZE]):
        raise CorruptRecord(f"{what}: non-zero bytes after the names")
    fields = _read(what, card_fields_v1_reader, parsed["fields"])
    return _make(what, CardRecord, **fields, first_name=parsed["first_name"],
                 surname=parsed["surname"])


# --- coupon slots --------------------------------------------------------------------------------


def encode_coupon_body(coupon: Coupon) -> bytes:
    """The :data:`COUPON_BODY_SIZE` bytes of a coupon's fields: what the signature covers."""
    if not isinstance(coupon, Coupon):
        raise InvalidField(f"expected a Coupon, not {type(coupon).__name__}")
    return _pack("coupon", coupon_body_v1_writer, _fields(coupon, _COUPON_NAMES))


def decode_coupon_body(body: bytes) -> Coupon:
    """The coupon whose encoded fields are ``body``; CorruptRecord if they are impossible."""
    body = _as_bytes(body, "coupon body")
    if len(body) != COUPON_BODY_SIZE:
        raise CorruptRecord(f"coupon body is {len(body)} bytes, expected {COUPON_BODY_SIZE}")
    return _make("coupon", Coupon, **_read("coupon", coupon_body_v1_reader, body))


def encode_slot(signed: SignedCoupon | None) -> bytes:
    """A slot's :data:`SLOT_SIZE` bytes; None gives the empty slot (all zero)."""
    if signed is None:
        return EMPTY_SLOT
    if not isinstance(signed, SignedCoupon):
        raise InvalidField(f"expected a SignedCoupon or None, not {type(signed).__name__}")
    value = {"body": encode_coupon_body(signed.coupon), "signature": signed.signature}
    return _seal(_build("coupon slot", slot_v1, value))


def decode_slot(data: bytes) -> SignedCoupon | None:
    """The signed coupon in a slot, None for an empty slot.

    Raises :class:`~ekarta.transit.errors.CorruptRecord` or
    :class:`~ekarta.transit.errors.UnknownFormatVersion`.  The signature is not checked here.
    """
    parsed = _open("coupon slot", data, SLOT_SIZE, {SLOT_VERSION: slot_v1})
    if parsed is None:
        return None
    body = parsed["body"]
    return _make("coupon slot", SignedCoupon, coupon=decode_coupon_body(body),
                 signature=parsed["signature"], body=body)


# --- event log -----------------------------------------------------------------------------------


def encode_event(event: EventRecord | None) -> bytes:
    """An event record's :data:`EVENT_RECORD_SIZE` bytes; None gives the empty record."""
    if event is None:
        return bytes(EVENT_RECORD_SIZE)
    if not isinstance(event, EventRecord):
        raise InvalidField(f"expected an EventRecord, not {type(event).__name__}")
    return _event_bytes(event)


# A tap encodes its record to write it and again for its journal event's id, and decodes the
# newest record to check it and again with the rest of the card: the records are immutable and
# their bytes one-to-one, so the last few are kept.
@functools.lru_cache(maxsize=32)
def _event_bytes(event: EventRecord) -> bytes:
    body = _pack("event record", event_body_v1_writer, _fields(event, _EVENT_NAMES))
    return _seal(_build("event record", event_record_v1, {"body": body}))


def decode_event(data: bytes) -> EventRecord | None:
    """The event in a log record, None for an empty (all-zero) record."""
    return _decoded_event(_as_bytes(data, "event record"))


@functools.lru_cache(maxsize=32)
def _decoded_event(data: bytes) -> EventRecord | None:
    parsed = _open("event record", data, EVENT_RECORD_SIZE,
                   {EVENT_FORMAT_VERSION: event_record_v1})
    if parsed is None:
        return None
    return _make("event record", EventRecord,
                 **_read("event record", event_body_v1_reader, parsed["body"]))
