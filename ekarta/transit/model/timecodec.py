"""Dates and times as the card stores them: day counts and minutes in Prague local time.

**Dates** (validity, sale, card expiry, profile end) are the number of days since
:data:`DATE_EPOCH` (2000-01-01) in 16 bits, so they reach :data:`DATE_MAX` (2179-06-06).
**Birth dates** must reach back a century, so they count days since :data:`BIRTH_EPOCH`
(1900-01-01) in 17 bits, up to :data:`BIRTH_MAX` (2258-11-11).  In both, the value 0 means
"absent"; the epoch day itself therefore cannot be stored, which no card needs.

A **date-time** (the event log) is stored as what a clock on the wall in Prague shows: the local
date (16 bits, as above), the local minute of the day (11 bits, 0..1439) and a *fold* bit, packed
into 28 bits as ``days << 12 | minute << 1 | fold``.  The fold bit is PEP 495's: it is 1 only for
the second pass through the repeated hour when summer time ends (02:00-02:59 happens twice on the
last Sunday of October), so both passes keep their true order.  The spring gap (02:00-02:59 on the
last Sunday of March does not exist) is never written, because encoding starts from an instant;
reading such a time, or a fold bit outside the repeated hour, is a corrupt record.  So every
instant has exactly one encoding and every accepted encoding one instant.  Resolution is one
minute: seconds are dropped (floored).  Decoding returns the instant as an aware UTC datetime;
:func:`to_local` shows it in Prague time.

Time zone rules come from :mod:`zoneinfo` (with the ``tzdata`` package where the system has no
time zone database); nothing here knows when summer time starts.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from ekarta.transit.errors import CorruptRecord, InvalidField

__all__ = [
    "BIRTH_BITS",
    "BIRTH_EPOCH",
    "BIRTH_MAX",
    "BIRTH_MIN",
    "DATE_BITS",
    "DATE_EPOCH",
    "DATE_MAX",
    "DATE_MIN",
    "PRAGUE",
    "STAMP_BITS",
    "STAMP_MAX",
    "STAMP_MIN",
    "date_from_days",
    "days_from_date",
    "decode_stamp",
    "encode_stamp",
    "floor_minute",
    "local_date",
    "require_aware",
    "to_local",
]

PRAGUE = ZoneInfo("Europe/Prague")

DATE_EPOCH = date(2000, 1, 1)
DATE_BITS = 16
DATE_MIN = DATE_EPOCH + timedelta(days=1)
DATE_MAX = DATE_EPOCH + timedelta(days=(1 << DATE_BITS) - 1)

BIRTH_EPOCH = date(1900, 1, 1)
BIRTH_BITS = 17
BIRTH_MIN = BIRTH_EPOCH + timedelta(days=1)
BIRTH_MAX = BIRTH_EPOCH + timedelta(days=(1 << BIRTH_BITS) - 1)

STAMP_BITS = DATE_BITS + 11 + 1
MINUTES_PER_DAY = 24 * 60

STAMP_MIN = datetime.combine(DATE_MIN, datetime.min.time(), PRAGUE).astimezone(UTC)
"""The earliest storable instant: midnight starting :data:`DATE_MIN` in Prague."""
STAMP_MAX = datetime.combine(DATE_MAX, datetime.max.time(), PRAGUE).astimezone(UTC).replace(
    second=0, microsecond=0)
"""The latest storable instant: 23:59 on :data:`DATE_MAX` in Prague."""


def days_from_date(
    value: date | None, *, epoch: date = DATE_EPOCH, bits: int = DATE_BITS, what: str = "date",
) -> int:
    """The stored day count of ``value`` (0 for None); InvalidField if it cannot be stored."""
    if value is None:
        return 0
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidField(f"{what} must be a date, not {type(value).__name__}")
    days = (value - epoch).days
    if not 0 < days < 1 << bits:
        low = epoch + timedelta(days=1)
        high = epoch + timedelta(days=(1 << bits) - 1)
        raise InvalidField(f"{what} {value} is outside the storable range {low}..{high}")
    return days


def date_from_days(days: int, *, epoch: date = DATE_EPOCH) -> date | None:
    """The date of a stored day count; None for 0 (absent)."""
    return None if days == 0 else epoch + timedelta(days=days)


def require_aware(at: object, what: str = "time") -> datetime:
    """``at`` itself if it is an aware datetime; InvalidField otherwise."""
    if not isinstance(at, datetime):
        raise InvalidField(f"{what} must be a datetime, not {type(at).__name__}")
    if at.tzinfo is None or at.utcoffset() is None:
        # A naive time would be read in the machine's zone: a validator set to UTC would then
        # stamp every event an hour or two off.
        raise InvalidField(f"{what} must be timezone-aware (got naive {at.isoformat()})")
    return at


def floor_minute(at: datetime) -> datetime:
    """The aware instant ``at`` as UTC, with seconds and below dropped."""
    return require_aware(at).astimezone(UTC).replace(second=0, microsecond=0)


def to_local(at: datetime) -> datetime:
    """The aware instant ``at`` in Prague local time (with PEP 495 ``fold`` set)."""
    return require_aware(at).astimezone(PRAGUE)


def local_date(at: datetime) -> date:
    """The Prague calendar date at the instant ``at`` (which must be aware)."""
    return to_local(at).date()


def encode_stamp(at: datetime) -> int:
    """The 28-bit stored form of the instant ``at`` (local date, minute of day, fold)."""
    local = to_local(at)
    days = days_from_date(local.date(), what="date-time")
    return days << 12 | (local.hour * 60 + local.minute) << 1 | local.fold


def decode_stamp(value: int) -> datetime:
    """The instant (aware, UTC) of a stored 28-bit date-time; CorruptRecord if impossible."""
    if not 0 <= value < 1 << STAMP_BITS:
        raise CorruptRecord(f"date-time value {value} does not fit {STAMP_BITS} bits")
    days, minute, fold = value >> 12, (value >> 1) & 0x7FF, value & 1
    if days == 0:
        raise CorruptRecord("date-time is absent (day 0) where one is required")
    if minute >= MINUTES_PER_DAY:
        raise CorruptRecord(f"minute of the day {minute} is beyond 23:59")
    day = DATE_EPOCH + timedelta(days=days)
    local = datetime(day.year, day.month, day.day, minute // 60, minute % 60,
                     fold=fold, tzinfo=PRAGUE)
    instant = local.astimezone(UTC)
    # zoneinfo resolves a gap time or a needless fold to *some* instant; only a round trip tells
    # whether the wall clock really showed this time.
    back = instant.astimezone(PRAGUE)
    if back.replace(tzinfo=None) != local.replace(tzinfo=None):
        raise CorruptRecord(f"local time {local:%Y-%m-%d %H:%M} does not exist in Prague "
                            "(the spring daylight-saving gap)")
    if back.fold != fold:
        raise CorruptRecord(f"fold bit set at {local:%Y-%m-%d %H:%M}, outside the repeated "
                            "autumn hour")
    return instant
