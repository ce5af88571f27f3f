"""Tap outcomes as the tap engine gives them to the terminal apps: one per verdict reason, with
the coupon and the dates the transit rules would give, to drive the apps' screens; an
inspector's checks with the card after them and the office's actions, and a shift's summary;
coupons as they sit in a card's slots (:func:`coupon`)."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ekarta.sync.messages import ActionKind
from ekarta.terminal.inspect import ShiftSummary
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Source, TapOutcome
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage, SlotError
from ekarta.transit.model.rules import Refusal, Verdict
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponType,
    EventKind,
    EventRecord,
    Money,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
)

__all__ = ["AT", "COUPON", "ENDED", "HOLDER", "LAST_RIDE", "LOADED", "NUMBER", "OFFICE", "SHIFT",
           "VERDICT_REASONS", "checked", "coupon", "image", "load", "no_verdict", "outcome",
           "verdict"]

AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
"""When the taps happen: 10:00 in Prague."""
SYNCED = AT - timedelta(hours=2, minutes=5)
NUMBER = CardNumber.from_serial(123456789)


def coupon(serial: int, start: date, *, kind: CouponType = CouponType.DAYS_30,
           zones: tuple[int, ...] = (1, 2), profile: Profile = Profile.STUDENT,
           network: bool = False, price: int = 0) -> SignedCoupon:
    """A coupon from ``start`` for its type's days, sold in the e-shop the day before, as it
    sits in a slot (the signature is not checked by the screens)."""
    return SignedCoupon(Coupon(serial, kind, profile,
                               Zones(network=True) if network else Zones(zones), start,
                               kind.end_date(start), start - timedelta(days=1),
                               SaleChannel.ESHOP_CARD, 0, price), bytes(64))


COUPON = coupon(4242, date(2026, 11, 20))
"""A student's 30-day coupon for zones 1 and 2, to 19 December."""

VERDICT_REASONS = tuple(r for r in Reason if r < 32 and r is not Reason.NOT_THE_HOLDER)
"""The reasons a terminal's verdict can give (0 valid, 1..10 the refusals; someone else's card
is the inspector's finding, never a terminal's)."""


def _coupon(**changes: Any) -> SignedCoupon:
    return replace(COUPON, coupon=replace(COUPON.coupon, **changes))


_VERDICTS: dict[Reason, dict[str, Any]] = {
    Reason.VALID: {"coupon": COUPON, "date": date(2026, 12, 19)},
    Reason.NO_COUPON: {},
    Reason.NOT_YET_VALID: {"coupon": _coupon(valid_from=date(2026, 12, 5),
                                             valid_to=date(2027, 1, 3)),
                           "date": date(2026, 12, 5)},
    Reason.EXPIRED: {"coupon": _coupon(valid_from=date(2026, 10, 1), valid_to=date(2026, 10, 30)),
                     "date": date(2026, 10, 30)},
    Reason.ZONE_NOT_COVERED: {"coupon": COUPON},
    Reason.PROFILE_EXPIRED: {"coupon": COUPON, "date": date(2026, 10, 31),
                             "profile": Profile.ADULT_NON_TRANSFERABLE},
    Reason.CARD_EXPIRED: {"date": date(2026, 11, 30)},
    Reason.CARD_BLOCKED: {},
    Reason.SIGNATURE_INVALID: {"coupon": COUPON},
    Reason.CARD_NOT_ACTIVE: {},
    Reason.COUPON_UNREADABLE: {},
}


def _zone(reason: Reason, zone: int | None) -> int:
    """Zone 7 (which the coupon lacks) for ZONE_NOT_COVERED, else zone 1 (which it has)."""
    return zone if zone is not None else 7 if reason is Reason.ZONE_NOT_COVERED else 1


def verdict(reason: Reason = Reason.VALID, *, zone: int | None = None) -> Verdict:
    """The verdict the rules give for ``reason`` in ``zone``, for a student's card."""
    zone = _zone(reason, zone)
    fields = {"profile": Profile.STUDENT, **_VERDICTS[reason]}
    return Verdict(ok=reason is Reason.VALID, reason=reason, zone=zone, **fields)


def outcome(reason: Reason = Reason.VALID, *, zone: int | None = None,
            **changes: Any) -> TapOutcome:
    """A chip tap's outcome with the verdict for ``reason``; ``changes`` to its fields."""
    zone = _zone(reason, zone)
    tap = TapOutcome(Outcome.VERDICT, Source.CHIP, at=AT, zone=zone, line=12,
                     card_number=NUMBER, verdict=verdict(reason, zone=zone), recorded=True,
                     data_as_of=SYNCED, lists_age=AT - SYNCED)
    return replace(tap, **changes)


def no_verdict(kind: Outcome, **changes: Any) -> TapOutcome:
    """An outcome without a verdict (tap again, not a transit card, unreadable, refused)."""
    source = Source.BARCODE if kind is Outcome.REFUSED_NUMBER else Source.CHIP
    tap = TapOutcome(kind, source, at=AT, zone=1, line=12, data_as_of=SYNCED,
                     lists_age=AT - SYNCED, detail="card left the field")
    return replace(tap, **changes)


# --- an inspector's checks ------------------------------------------------------------------------

UID = bytes.fromhex("04A1B2C3D4E5F6")
HOLDER = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.STUDENT, profile_end=date(2027, 8, 31), birth_date=date(2007, 3, 17),
                    first_name="Xaverína", surname="Quendlová")
"""A student's personal card (names no test elsewhere uses, so that a screen's text shows
them only where the check put them)."""
ENDED = coupon(4100, date(2026, 10, 21))
OFFICE = _coupon(serial=4300, coupon_type=CouponType.DAYS_90, zones=Zones((1, 2, 3)),
                 valid_from=date(2026, 12, 20), valid_to=date(2027, 3, 19),
                 sale_date=date(2026, 11, 28), channel=SaleChannel.ESHOP_BANK_TRANSFER)
"""A coupon the office sold by bank transfer, to be loaded by a check."""
LAST_RIDE = EventRecord(sequence=7, at=datetime(2026, 12, 1, 7, 42, tzinfo=UTC),
                        kind=EventKind.VALIDATION, result=Reason.VALID, device=1017, line=14,
                        zone=1, coupon_serial=COUPON.serial)


def image(*slots: SignedCoupon | SlotError | None, record: CardRecord = HOLDER) -> CardImage:
    """The card as a check leaves it: ``record`` and ``slots`` (eight slots in all)."""
    return CardImage(UID, record, tuple(slots) + (None,) * (8 - len(slots)),
                     events=(LAST_RIDE,), purse=0)


def load(coupon: SignedCoupon, state: ActionState, *, action_id: int = 31,
         refusal: Reason | None = None) -> ActionResult:
    """The office's load of ``coupon`` as a check left it."""
    return ActionResult(action_id, ActionKind.LOAD_COUPON, state, serial=coupon.serial,
                        coupon=coupon, refusal=refusal)


def checked(reason: Reason = Reason.VALID, *, slots: tuple[SignedCoupon | SlotError | None, ...]
            = (ENDED, COUPON), record: CardRecord = HOLDER, **changes: Any) -> TapOutcome:
    """An inspector's chip check with the verdict for ``reason``: the card after it (``slots``,
    ``record``), its last validation, a journal id; ``changes`` to its fields."""
    check = outcome(reason, image=image(*slots, record=record), last_validation=LAST_RIDE,
                    event_id=uuid.UUID(int=0x1234), line=None, data_as_of=SYNCED)
    return replace(check, **changes)


LOADED = checked(slots=(ENDED, COUPON, OFFICE), actions=(
    load(OFFICE, ActionState.DONE),
    ActionResult(32, ActionKind.CREDIT_PURSE, ActionState.WAITING, serial=17, amount=20000,
                 refusal=Reason.PURSE_LIMIT_EXCEEDED, refused=Refusal.of(
                     Reason.PURSE_LIMIT_EXCEEDED, limit=Money(300000), balance=Money(290000),
                     amount=Money(20000)))))
"""A valid card onto which the check loaded the office's 90-day coupon; a purse credit waits."""
SHIFT = ShiftSummary(day=date(2026, 12, 1), checks=23, valid=18,
                     invalid=((Reason.NO_COUPON, 3), (Reason.ZONE_NOT_COVERED, 2)), barcode=2,
                     recorded=20, recorded_invalid=4, by_line=((14, 12), (3, 8), (None, 3)),
                     per_hour=(0,) * 6 + (3, 12, 5, 0, 1, 2) + (0,) * 12)
"""An inspector's shift: 23 checks, 20 of them recorded."""
