"""What the transit application keeps on a card, as values: the card record, coupons, log events.

Every class here is a frozen dataclass that checks its own invariants on construction and raises
:class:`~ekarta.transit.errors.InvalidField` when a value cannot be stored; the byte codec in
:mod:`ekarta.transit.codec.records` relies on that, so a record that decodes is always one that
encodes back to the same bytes.  The enums' integer values are what the card stores: never
renumber them.

Personal data (names, birth date) is left out of ``repr`` so that it cannot reach a log line or a
traceback by accident.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import IntEnum
from typing import Any

from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.timecodec import (
    BIRTH_BITS,
    BIRTH_EPOCH,
    STAMP_MAX,
    STAMP_MIN,
    days_from_date,
    floor_minute,
    to_local,
)

__all__ = [
    "DEVICE_MAX",
    "FALLBACK_PROFILE",
    "LINE_MAX",
    "MAX_ZONES",
    "NAME_MAX_BYTES",
    "NAME_MAX_CHARS",
    "NETWORK",
    "PRICE_MAX",
    "SEQUENCE_MAX",
    "SERIAL_MAX",
    "UID_LENGTHS",
    "VEHICLE_MAX",
    "ZONE_MAX",
    "ZONE_MIN",
    "CardKind",
    "CardRecord",
    "CardStatus",
    "Coupon",
    "CouponType",
    "EventKind",
    "EventRecord",
    "Money",
    "Note",
    "Profile",
    "Reason",
    "SaleChannel",
    "SignedCoupon",
    "Zones",
    "add_years",
    "age_on",
    "check_uid",
]

SERIAL_MAX = 2**32 - 1
DEVICE_MAX = 2**16 - 1
PRICE_MAX = 2**19 - 1
"""Prices are whole Czech crowns (the tariff has no haléř amounts), up to 524 287 CZK."""
SEQUENCE_MAX = 2**32 - 1
LINE_MAX = 2**16 - 1
VEHICLE_MAX = 2**16 - 1
ZONE_MIN = 1
ZONE_MAX = 1023
"""Tariff zone numbers are 1..1023 (10 bits); ODIS numbers its zones well inside that."""
MAX_ZONES = 10
"""A coupon lists at most 10 zones; choosing more makes it a network ticket."""
UID_LENGTHS = (4, 7, 10)
"""The lengths of an ISO 14443-A UID (single, double, triple size): what card keys are diversified
from and coupons are signed for."""
NAME_MAX_CHARS = 26
NAME_MAX_BYTES = 52
"""A name is at most 26 characters and 52 bytes of UTF-8: any 26-letter Czech, Slovak, Polish,
German, Cyrillic or Greek name fits."""


# --- enums ---------------------------------------------------------------------------------------


class CardKind(IntEnum):
    PERSONAL = 0
    ANONYMOUS = 1


class CardStatus(IntEnum):
    """The card's life cycle: ordered -> produced ("Vyrobeno") -> active -> blocked."""

    ORDERED = 0
    PRODUCED = 1
    ACTIVE = 2
    BLOCKED = 3


class Profile(IntEnum):
    """The tariff category of the card's holder."""

    ADULT_TRANSFERABLE = 1
    """Občanský přenosný: the only profile of an anonymous card."""
    ADULT_NON_TRANSFERABLE = 2
    """Občanský nepřenosný: full fare on a personal card, and every profile's fallback."""
    CHILD = 3
    """Děti a žáci od 6 let do dovršení 15 let."""
    STUDENT = 4
    """Žáci a studenti od 15 let do dovršení 26 let."""
    PENSIONER = 5
    """Důchodci do dovršení 70 let."""
    DISABILITY_PENSIONER = 6
    """Důchodci pro invaliditu třetího stupně."""
    SENIOR = 7
    """Občané po dovršení 70 let."""

    @property
    def discounted(self) -> bool:
        return self not in (Profile.ADULT_TRANSFERABLE, Profile.ADULT_NON_TRANSFERABLE)

    @property
    def age_range(self) -> tuple[int | None, int | None]:
        """(lowest age, age at which the right ends), None where the manual sets no bound.

        "Od 6 let do dovršení 15 let" is read as 6 <= age < 15: the right ends on the 15th
        birthday.
        """
        return _AGE_RANGES.get(self, (None, None))

    @property
    def needs_birth_date(self) -> bool:
        """The manual has the birth date filled in "only for children, pupils and students"."""
        return self in (Profile.CHILD, Profile.STUDENT)


_AGE_RANGES: dict[Profile, tuple[int | None, int | None]] = {
    Profile.CHILD: (6, 15),
    Profile.STUDENT: (15, 26),
    Profile.PENSIONER: (None, 70),
    Profile.SENIOR: (70, None),
}

FALLBACK_PROFILE = Profile.ADULT_NON_TRANSFERABLE
"""The profile a personal card falls back to when its discounted profile ends."""


class CouponType(IntEnum):
    """What a coupon is: its period, whether it is transferable, whether it is for a dog.

    Periods: 30-day and 90-day coupons run 30 and 90 days including the first.  A yearly coupon
    runs up to and including the day before the same calendar date a year later, so 365 or 366
    days depending on a 29 February inside it; one starting on 29 February ends on 28 February
    of the next year.  The dog coupon is a 30-day coupon (the manual sells it alone or together
    with a 30-day coupon).
    """

    DAYS_30 = 1
    DAYS_90 = 2
    YEARLY = 3
    DOG_30 = 4
    TRANSFERABLE_30 = 5
    TRANSFERABLE_90 = 6
    TRANSFERABLE_YEARLY = 7

    @property
    def transferable(self) -> bool:
        return self in (CouponType.TRANSFERABLE_30, CouponType.TRANSFERABLE_90,
                        CouponType.TRANSFERABLE_YEARLY)

    @property
    def dog(self) -> bool:
        return self is CouponType.DOG_30

    def end_date(self, start: date) -> date:
        """The last day of validity of a coupon of this type that starts on ``start``."""
        if self in (CouponType.YEARLY, CouponType.TRANSFERABLE_YEARLY):
            return add_years(start, 1) - timedelta(days=1)
        days = 90 if self in (CouponType.DAYS_90, CouponType.TRANSFERABLE_90) else 30
        return start + timedelta(days=days - 1)


class SaleChannel(IntEnum):
    TICKET_OFFICE = 1
    ESHOP_CARD = 2
    """E-shop, paid by payment card: may start the day of purchase."""
    ESHOP_BANK_TRANSFER = 3
    """E-shop, paid by bank transfer: starts 5 days after the purchase at the earliest."""
    KIOSK = 4
    INSPECTOR = 5
    TRANSFER = 6
    """Moved from another card (replacement or new card) by the specialised workplace."""


class EventKind(IntEnum):
    VALIDATION = 1
    INSPECTION = 2
    LOAD = 3
    KIOSK_VIEW = 4
    BLOCKING = 5
    """A terminal wrote the blocked status after finding the card on its hotlist, or a ticket
    office blocked the card."""
    ACTIVATION = 6
    """A card issued as produced became active."""
    UNBLOCKING = 7
    RECORD_CHANGE = 8
    """The card record changed: a name corrected, a profile renewed or ended, the expiry moved."""
    PURSE_CREDIT = 9
    PURSE_DEBIT = 10
    PURSE_REFUND = 11
    """The whole balance was paid back and the purse emptied."""
    COUPON_CANCEL = 12
    COUPON_REPLACE = 13


class Reason(IntEnum):
    """Every reason code of a verdict or a purchase decision (stored in 6 bits in the log).

    0..31 are verdicts at a terminal, 32..63 refusals of a purchase or load; the card-level
    codes (blocked, not active, expired) serve both.
    """

    VALID = 0
    NO_COUPON = 1
    NOT_YET_VALID = 2
    EXPIRED = 3
    ZONE_NOT_COVERED = 4
    PROFILE_EXPIRED = 5
    CARD_EXPIRED = 6
    CARD_BLOCKED = 7
    SIGNATURE_INVALID = 8
    CARD_NOT_ACTIVE = 9
    COUPON_UNREADABLE = 10
    NOT_THE_HOLDER = 11
    """A personal card presented by someone other than its holder: what an inspector's identity
    check finds (an outcome the inspector records), never a terminal's own judging."""

    ANONYMOUS_ONLY_TRANSFERABLE = 32
    TRANSFERABLE_ONLY_ANONYMOUS = 33
    TOO_MANY_COUPONS = 34
    START_IN_PAST = 35
    BANK_TRANSFER_TOO_EARLY = 36
    PROFILE_END_LIMIT = 37
    BIRTH_DATE_REQUIRED = 38
    AGE_NOT_ELIGIBLE = 39
    NOTHING_TO_FOLLOW = 40
    PROFILE_NOT_ALLOWED = 41
    NO_FREE_SLOT = 42
    SERIAL_HELD_BY_OTHER_COUPON = 43
    """The card holds another coupon under this serial: only an explicit replace changes it."""
    NAME_BLANK = 44
    """A personal card's first name or surname holds no visible character."""
    BIRTH_DATE_IN_FUTURE = 45
    PROFILE_END_PASSED = 46
    """A profile end set on issuing or in a record change is already past."""
    EXPIRY_PASSED = 47
    """A card expiry set on issuing or in a record change is already past."""
    PROFILE_END_WITHOUT_DISCOUNT = 48
    """A profile end on a full-fare profile, which never ends."""
    CARD_NOT_PRODUCED = 49
    """Only a card with the status produced can be activated (an ordered one is not made yet)."""
    CARD_NOT_BLOCKED = 50
    """Unblocking a card that is not blocked."""
    STATUS_NOT_ISSUABLE = 51
    """A card is issued as produced or active, never ordered or blocked."""

    PURSE_LIMIT_EXCEEDED = 53
    PURSE_INSUFFICIENT = 54
    PURSE_EMPTY = 55
    COUPON_NOT_ON_CARD = 56
    OPERATION_SERIAL_USED = 57
    """The operation serial is in the card's log under another kind of operation."""
    ACTION_ELSEWHERE = 58
    """The office gave this action to another terminal, or closed it (done or cancelled
    elsewhere): it refused this terminal the action's lease."""
    CREDIT_UNPROVEN = 59
    """A purse credit without the office's lease (or with a contested one: it ran out on a
    terminal that has not reported), on a card whose log no longer holds its first events: the
    log cannot prove the credit was not made elsewhere already."""


@dataclass(frozen=True)
class Money:
    """An amount of money in haléř (1/100 CZK), for the texts that show one."""

    haler: int

    def __post_init__(self) -> None:
        if not isinstance(self.haler, int) or isinstance(self.haler, bool):
            raise InvalidField(f"an amount must be whole haléř, not {self.haler!r}")


class Note(IntEnum):
    """Something a buyer must be told about an accepted purchase."""

    NETWORK = 1
    """More than 10 zones were chosen: the coupon became a network ticket."""
    USABLE_UNTIL_CARD_EXPIRY = 2
    """The card expires before the coupon ends: usable with this card only until then."""
    PROFILE_FALLBACK = 3
    """The card's profile has ended by the start: the coupon is sold at the fallback profile."""
    BANK_TRANSFER_START = 10
    """Paid by bank transfer: the start offered was moved to the earliest day the payment
    allows (5 days after the purchase)."""


# --- helpers -------------------------------------------------------------------------------------


def add_years(day: date, years: int) -> date:
    """The same calendar date ``years`` later; 29 February becomes 1 March in a common year."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return date(day.year + years, 3, 1)


def age_on(birth: date, day: date) -> int:
    """Completed years of age on ``day``; someone born on 29 February ages on 1 March."""
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def check_uid(uid: object) -> bytes:
    """``uid`` as bytes if it is a card UID (4, 7 or 10 bytes); InvalidField otherwise."""
    if not isinstance(uid, bytes | bytearray) or len(uid) not in UID_LENGTHS:
        raise InvalidField("card UID must be 4, 7 or 10 bytes")
    return bytes(uid)


def _set(obj: object, name: str, value: object) -> None:
    object.__setattr__(obj, name, value)


def _int(obj: object, name: str, low: int, high: int, *, optional: bool = False) -> None:
    value = getattr(obj, name)
    if optional and value is None:
        return
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise InvalidField(f"{name} must be an integer {low}..{high}, not {value!r}")


def _enum(obj: object, name: str, cls: type[IntEnum]) -> None:
    value = getattr(obj, name)
    if isinstance(value, cls):
        return
    try:
        if isinstance(value, bool):
            raise ValueError
        _set(obj, name, cls(value))
    except (ValueError, TypeError):
        raise InvalidField(f"{name} must be a {cls.__name__}, not {value!r}") from None


def _date(obj: object, name: str, *, optional: bool = False, **limits: Any) -> None:
    value = getattr(obj, name)
    if value is None and not optional:
        raise InvalidField(f"{name} is required")
    days_from_date(value, what=name, **limits)


def _name(obj: object, attr: str) -> None:
    value = getattr(obj, attr)
    if not isinstance(value, str):
        raise InvalidField(f"{attr} must be a string")
    # A name typed on a Mac arrives decomposed (NFD); storing it composed keeps one byte form
    # per name and keeps Czech letters within the 52-byte budget.
    value = unicodedata.normalize("NFC", value)
    if len(value) > NAME_MAX_CHARS:
        raise InvalidField(f"{attr} has {len(value)} characters; at most {NAME_MAX_CHARS} fit")
    if len(value.encode("utf-8")) > NAME_MAX_BYTES:
        raise InvalidField(f"{attr} needs more than {NAME_MAX_BYTES} bytes of UTF-8")
    if any(unicodedata.category(ch) in ("Cc", "Cs", "Cn") for ch in value):
        raise InvalidField(f"{attr} contains control or unassigned characters")
    _set(obj, attr, value)


# --- zones ---------------------------------------------------------------------------------------


def _check_zone(number: object) -> None:
    if not isinstance(number, int) or isinstance(number, bool) or not (
            ZONE_MIN <= number <= ZONE_MAX):
        raise InvalidField(f"zone number must be {ZONE_MIN}..{ZONE_MAX}, not {number!r}")


@dataclass(frozen=True)
class Zones:
    """The tariff zones of a coupon: 1 to 10 zone numbers, or the whole network.

    The numbers are kept sorted and unique.  :meth:`of` applies the tariff rule that choosing more
    than 10 zones makes a network ticket; the constructor refuses more than 10.
    """

    numbers: tuple[int, ...] = ()
    network: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.network, bool):
            raise InvalidField("network must be a bool")
        try:
            numbers = tuple(sorted(set(self.numbers)))
        except TypeError:
            raise InvalidField(f"zone numbers must be integers, not {self.numbers!r}") from None
        if self.network:
            if numbers:
                raise InvalidField("a network ticket lists no zones")
        elif not 1 <= len(numbers) <= MAX_ZONES:
            raise InvalidField(f"a coupon needs 1..{MAX_ZONES} zones or the network, "
                               f"not {len(numbers)} zones")
        for number in numbers:
            _check_zone(number)
        _set(self, "numbers", numbers)

    @classmethod
    def of(cls, zones: Iterable[int]) -> Zones:
        """The zones chosen by a buyer; more than 10 distinct zones make a network ticket."""
        chosen = set(zones)
        if len(chosen) > MAX_ZONES:
            for number in chosen:  # still refuse nonsense before widening to the network
                _check_zone(number)
            return cls(network=True)
        return cls(tuple(chosen))

    def covers(self, zone: int) -> bool:
        return self.network or zone in self.numbers

    def __str__(self) -> str:
        return "network" if self.network else ", ".join(str(n) for n in self.numbers)


NETWORK = Zones(network=True)


# --- records -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CardRecord:
    """The card file: who and what the card is.

    A personal card carries a first name and a surname (both required) and, for the profiles
    that need it, the birth date; an anonymous card carries neither and always has the adult
    transferable profile.  ``profile_end`` is None for a profile without an end.
    ``card_number`` may be given as its integer form, which is checked like any other
    (:meth:`CardNumber.from_int <ekarta.transit.model.card_number.CardNumber.from_int>`).
    """

    card_number: CardNumber
    kind: CardKind
    status: CardStatus
    expiry: date
    profile: Profile
    profile_end: date | None = None
    birth_date: date | None = field(default=None, repr=False)
    first_name: str = field(default="", repr=False)
    surname: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        _set(self, "card_number", CardNumber.of(self.card_number))
        _enum(self, "kind", CardKind)
        _enum(self, "status", CardStatus)
        _enum(self, "profile", Profile)
        _date(self, "expiry")
        _date(self, "profile_end", optional=True)
        _date(self, "birth_date", optional=True, epoch=BIRTH_EPOCH, bits=BIRTH_BITS)
        _name(self, "first_name")
        _name(self, "surname")
        if self.kind is CardKind.ANONYMOUS:
            if self.profile is not Profile.ADULT_TRANSFERABLE:
                raise InvalidField("an anonymous card has only the adult transferable profile")
            if self.first_name or self.surname or self.birth_date is not None:
                raise InvalidField("an anonymous card carries no name and no birth date")
        else:
            if self.profile is Profile.ADULT_TRANSFERABLE:
                raise InvalidField("the adult transferable profile is for anonymous cards only")
            if not self.first_name or not self.surname:
                raise InvalidField("a personal card needs a first name and a surname")

    @property
    def personal(self) -> bool:
        return self.kind is CardKind.PERSONAL


@dataclass(frozen=True)
class Coupon:
    """An electronic long-term zone ticket, as the operator sold it.

    ``serial`` is unique across the operator's back office (loading the same serial twice is a
    no-op); ``valid_from`` and ``valid_to`` are whole Prague days, both included; ``price`` is in
    whole CZK; ``device`` is the selling device (0 for the e-shop).
    """

    serial: int
    coupon_type: CouponType
    profile: Profile
    zones: Zones
    valid_from: date
    valid_to: date
    sale_date: date
    channel: SaleChannel
    device: int = 0
    price: int = 0

    def __post_init__(self) -> None:
        _int(self, "serial", 1, SERIAL_MAX)
        _enum(self, "coupon_type", CouponType)
        _enum(self, "profile", Profile)
        if not isinstance(self.zones, Zones):
            raise InvalidField(f"zones must be Zones, not {type(self.zones).__name__}")
        _date(self, "valid_from")
        _date(self, "valid_to")
        _date(self, "sale_date")
        if self.valid_to < self.valid_from:
            raise InvalidField(f"valid_to {self.valid_to} is before valid_from {self.valid_from}")
        _enum(self, "channel", SaleChannel)
        _int(self, "device", 0, DEVICE_MAX)
        _int(self, "price", 0, PRICE_MAX)


@dataclass(frozen=True)
class SignedCoupon:
    """A coupon with the operator's 64-byte signature, as it sits in a card's slot.

    The signature covers the card's UID, its card number and the coupon's encoded fields (see
    :mod:`ekarta.transit.security.signing`); check it with a
    :class:`~ekarta.transit.security.signing.CouponVerifier` before trusting the coupon.
    """

    coupon: Coupon
    signature: bytes = field(repr=False)
    body: bytes | None = field(default=None, repr=False, compare=False)
    """The coupon's encoded fields as a slot held them (None: not read from a slot); what the
    signature covers, so that checking it does not encode the coupon again (a slot decodes
    only from the one encoding of its coupon)."""

    def __post_init__(self) -> None:
        if not isinstance(self.coupon, Coupon):
            raise InvalidField(f"coupon must be a Coupon, not {type(self.coupon).__name__}")
        if not isinstance(self.signature, bytes | bytearray) or len(self.signature) != 64:
            raise InvalidField("signature must be 64 bytes")
        _set(self, "signature", bytes(self.signature))
        if self.body is not None and not isinstance(self.body, bytes):
            raise InvalidField("body must be bytes")

    @property
    def serial(self) -> int:
        return self.coupon.serial


@dataclass(frozen=True)
class EventRecord:
    """One entry of the card's cyclic event log.

    ``at`` is kept as an aware UTC instant floored to the minute (the log's resolution);
    :attr:`local_time` shows it in Prague.  ``result`` is the verdict or refusal of the event
    (VALID for a successful load or view).  ``line``, ``vehicle``, ``zone`` and ``coupon_serial``
    are None where they do not apply (a kiosk has no line).
    """

    sequence: int
    at: datetime
    kind: EventKind
    result: Reason
    device: int
    line: int | None = None
    vehicle: int | None = None
    zone: int | None = None
    coupon_serial: int | None = None

    def __post_init__(self) -> None:
        _int(self, "sequence", 0, SEQUENCE_MAX)
        at = floor_minute(self.at)
        if not STAMP_MIN <= at <= STAMP_MAX:
            raise InvalidField(f"event time {at.isoformat()} is outside {STAMP_MIN}..{STAMP_MAX}")
        _set(self, "at", at)
        _enum(self, "kind", EventKind)
        _enum(self, "result", Reason)
        _int(self, "device", 0, DEVICE_MAX)
        _int(self, "line", 1, LINE_MAX, optional=True)
        _int(self, "vehicle", 1, VEHICLE_MAX, optional=True)
        _int(self, "zone", ZONE_MIN, ZONE_MAX, optional=True)
        _int(self, "coupon_serial", 1, SERIAL_MAX, optional=True)

    @property
    def local_time(self) -> datetime:
        """The event's time on a Prague wall clock (aware, with ``fold`` set in the autumn)."""
        return to_local(self.at)

