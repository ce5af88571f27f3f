"""Transit values written as text, on a command line or in a file, and read back: the names of
coupon types, profiles, sale channels and the other enums (``30-day``, ``adult-non-transferable``),
ISO dates, ISO date-times on a Prague wall clock, and lists of zones (``1,2,5-7``, ``network``).

A parser refuses text with :class:`~ekarta.transit.errors.InvalidText`, whose message says what
was expected and can be shown to a person as it is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import IntEnum
from typing import TypeVar

from ekarta.transit.errors import InvalidText
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.model.values import (
    DEVICE_MAX,
    NETWORK,
    SERIAL_MAX,
    ZONE_MAX,
    ZONE_MIN,
    CouponType,
    Zones,
)

__all__ = [
    "AMOUNT_MAX_DIGITS",
    "COUPON_TYPES",
    "enum_name",
    "enum_names",
    "parse_amount",
    "parse_date",
    "parse_device",
    "parse_enum",
    "parse_serial",
    "parse_when",
    "parse_zone",
    "parse_zones",
]

E = TypeVar("E", bound=IntEnum)

COUPON_TYPES: dict[str, CouponType] = {
    "30-day": CouponType.DAYS_30,
    "90-day": CouponType.DAYS_90,
    "yearly": CouponType.YEARLY,
    "dog": CouponType.DOG_30,
    "transferable-30-day": CouponType.TRANSFERABLE_30,
    "transferable-90-day": CouponType.TRANSFERABLE_90,
    "transferable-yearly": CouponType.TRANSFERABLE_YEARLY,
}
"""The names of the coupon types, as a buyer says them (the enum's own names say days)."""


def enum_name(value: IntEnum) -> str:
    """The text name of an enum member: ``ADULT_NON_TRANSFERABLE`` -> ``adult-non-transferable``
    (coupon types have their own names, see :data:`COUPON_TYPES`)."""
    if isinstance(value, CouponType):
        return next(name for name, member in COUPON_TYPES.items() if member is value)
    return value.name.lower().replace("_", "-")


def enum_names(enum: type[E]) -> dict[str, E]:
    """Every member of ``enum`` by its text name, in the enum's order."""
    if enum is CouponType:
        return dict(COUPON_TYPES)  # type: ignore[arg-type]
    return {enum_name(member): member for member in enum}


def parse_enum(enum: type[E], text: str, what: str) -> E:
    """The member of ``enum`` named ``text`` (any case, surrounding spaces ignored); ``what``
    names the value in the error."""
    names = enum_names(enum)
    member = names.get(text.strip().lower()) if isinstance(text, str) else None
    if member is None:
        raise InvalidText(f"{what} must be one of {', '.join(names)}, not {text!r}")
    return member


def parse_date(text: str) -> date:
    """An ISO date, ``2026-12-01``."""
    try:
        return date.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidText(f"not an ISO date (YYYY-MM-DD): {text!r}") from None


def parse_when(text: str) -> datetime:
    """An ISO date or date-time (``2026-12-01``, ``2026-12-01T08:30``), in Europe/Prague unless
    it carries its own UTC offset; a date alone is its midnight.

    A Prague wall-clock time that does not exist (in the hour skipped when summer time starts,
    ``2027-03-28T02:30``) is refused.  One that exists twice (in the hour repeated when it ends,
    ``2027-10-31T02:30``) is the first of the two, still in summer time (+02:00); give the
    offset (``2027-10-31T02:30+01:00``) for the second."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise InvalidText(
            f"not an ISO date or date-time (2026-12-01, 2026-12-01T08:30): {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=PRAGUE, fold=0)
        if value.astimezone(UTC).astimezone(PRAGUE).replace(tzinfo=None) \
                != value.replace(tzinfo=None):
            raise InvalidText(
                f"{text.strip()} does not exist in Europe/Prague: the clocks skip that hour "
                "when summer time starts; give a UTC offset or another time")
    return value


AMOUNT_MAX_DIGITS = 9
"""Whole crowns an amount may have, so that no text is too long to be money."""


def parse_amount(text: str) -> int:
    """An amount of CZK, more than 0, with up to two decimals (``150``, ``150.50``, ``150,5``),
    in haléř."""
    value = text.strip() if isinstance(text, str) else ""
    crowns, sep, haler = value.replace(",", ".").partition(".")
    if (not crowns.isdigit() or not crowns.isascii() or len(crowns) > AMOUNT_MAX_DIGITS
            or (sep and not (haler.isdigit() and haler.isascii() and len(haler) <= 2))):
        raise InvalidText(f"an amount is CZK with up to 2 decimals (150, 150.50), not {text!r}")
    amount = int(crowns) * 100 + int(haler.ljust(2, "0") if sep else "0")
    if amount <= 0:
        raise InvalidText(f"an amount must be more than 0, not {text!r}")
    return amount


def parse_device(text: str) -> int:
    """A terminal's device number, ``0`` to ``65535``."""
    value = text.strip() if isinstance(text, str) else ""
    if not (value.isdigit() and value.isascii() and len(value) <= 5
            and int(value) <= DEVICE_MAX):
        raise InvalidText(f"a device number is 0..{DEVICE_MAX}, not {text!r}")
    return int(value)


def parse_serial(text: str) -> int:
    """A serial number (of a coupon, of an operation): ``1`` to ``4294967295``."""
    value = text.strip() if isinstance(text, str) else ""
    if not (value.isdigit() and value.isascii() and len(value) <= 10
            and 1 <= int(value) <= SERIAL_MAX):
        raise InvalidText(f"a serial number is 1..{SERIAL_MAX}, not {text!r}")
    return int(value)


def parse_zone(text: str) -> int:
    """One tariff zone number, ``1`` to ``1023``."""
    try:
        zone = int(text)
    except ValueError:
        zone = 0
    if not ZONE_MIN <= zone <= ZONE_MAX:
        raise InvalidText(f"a zone is a number {ZONE_MIN}..{ZONE_MAX}, not {text!r}")
    return zone


def parse_zones(text: str) -> Zones | tuple[int, ...]:
    """``network``, or the zone numbers of ``1,2,3`` and ranges ``1-11``, sorted.

    The numbers are not checked against the tariff here: a purchase widens more than 10 zones to
    a network ticket (:meth:`Zones.of <ekarta.transit.model.values.Zones.of>`) and refuses a
    zone that does not exist.
    """
    text = text.strip().lower()
    if text == "network":
        return NETWORK
    numbers: set[int] = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            first, last = int(low), int(high or low)
            if last < first or last - first > ZONE_MAX:
                raise ValueError
            numbers.update(range(first, last + 1))
    except ValueError:
        raise InvalidText(
            f"zones must be numbers and ranges (1,2,5-7) or 'network', not {text!r}") from None
    if not numbers:
        raise InvalidText("no zone given")
    return tuple(sorted(numbers))
