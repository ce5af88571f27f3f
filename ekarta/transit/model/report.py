"""Everything a person at a terminal is shown about a transit card at one time and zone: the card,
each coupon slot with whether its signature verifies and whether it is valid then, the event log
newest first, and the verdicts for the holder and, when the card holds a dog coupon, the dog.

:func:`transit_report` is what ``ekarta card show`` prints and what an inspector or a kiosk shows;
it is a pure function of the decoded card, the instant, the zone, the signature check and the
hotlist.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import date, datetime
from enum import Enum

from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage, SlotError
from ekarta.transit.model.rules import (
    SignatureCheck,
    Verdict,
    effective_profile,
    judge_card,
    profile_end,
)
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import CardRecord, EventRecord, Profile, SignedCoupon

__all__ = ["Period", "SlotReport", "TransitReport", "transit_report"]


class Period(Enum):
    """Where a coupon's validity stands on the day judged."""

    FUTURE = "future"
    VALID = "valid"
    ENDED = "ended"
    """Ended, or cut short by the card's expiry."""


@dataclass(frozen=True)
class SlotReport:
    """One coupon slot: empty, unreadable (``error``) or holding ``coupon``, whose signature
    verifies for this card (``genuine``) or not, in its ``period``."""

    index: int
    coupon: SignedCoupon | None = None
    error: SlotError | None = None
    genuine: bool = False
    period: Period | None = None

    @property
    def empty(self) -> bool:
        return self.coupon is None and self.error is None


@dataclass(frozen=True)
class TransitReport:
    """A card judged at the instant ``at`` in ``zone`` (None: any zone).

    ``events`` are the log's decoded records, newest first; ``unreadable_events`` the ones that
    could not be decoded.  ``dog_verdict`` is None unless the card holds a dog coupon or the dog
    was asked about.  ``profile_end`` is the last day of a discounted profile (the earlier of the
    card's date and the age limit), ``effective_profile`` the profile on the day judged.
    """

    image: CardImage
    at: datetime
    zone: int | None
    slots: tuple[SlotReport, ...]
    events: tuple[EventRecord, ...]
    unreadable_events: tuple[SlotError, ...]
    verdict: Verdict
    dog_verdict: Verdict | None
    blocked_by_hotlist: bool
    profile_end: date | None
    effective_profile: Profile

    @property
    def record(self) -> CardRecord:
        return self.image.record

    @property
    def uid(self) -> bytes:
        return self.image.uid

    @property
    def purse(self) -> int | None:
        """The e-purse balance in haléř, None when it was not read."""
        return self.image.purse


def _period(coupon: SignedCoupon, record: CardRecord, day: date) -> Period:
    if day < coupon.coupon.valid_from:
        return Period.FUTURE
    if day > min(coupon.coupon.valid_to, record.expiry):
        return Period.ENDED
    return Period.VALID


def transit_report(image: CardImage, *, at: datetime, zone: int | None, verifier: SignatureCheck,
                hotlist: Container[CardNumber] = frozenset(), dog: bool = False) -> TransitReport:
    """Judge the card ``image`` at the instant ``at`` (aware) in ``zone`` and gather what is shown
    with the verdict; the dog's verdict too when the card holds a dog coupon or ``dog`` asks."""
    record = image.record
    day = local_date(at)
    slots = []
    for index, slot in enumerate(image.slots):
        if isinstance(slot, SignedCoupon):
            genuine = verifier.verify(slot, uid=image.uid, card_number=record.card_number)
            slots.append(SlotReport(index, coupon=slot, genuine=genuine,
                                    period=_period(slot, record, day)))
        elif isinstance(slot, SlotError):
            slots.append(SlotReport(index, error=slot))
        else:
            slots.append(SlotReport(index))
    events = sorted((e for e in image.events if isinstance(e, EventRecord)),
                    key=lambda e: e.sequence, reverse=True)
    verdict = judge_card(image, at=at, zone=zone, verifier=verifier, hotlist=hotlist)
    dog_verdict = None
    if dog or any(c.coupon.coupon_type.dog for c in image.coupons):
        dog_verdict = judge_card(image, at=at, zone=zone, verifier=verifier, hotlist=hotlist,
                                 dog=True)
    return TransitReport(
        image=image, at=at, zone=zone, slots=tuple(slots), events=tuple(events),
        unreadable_events=tuple(e for e in image.events if isinstance(e, SlotError)),
        verdict=verdict, dog_verdict=dog_verdict,
        blocked_by_hotlist=record.card_number in hotlist, profile_end=profile_end(record),
        effective_profile=effective_profile(record, day))
