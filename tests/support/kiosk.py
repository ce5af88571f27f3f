"""Kiosk outcomes as the kiosk's engine gives them to its app: a student's personal card (the
holder's name and birth date on it), an anonymous card, each with coupons valid now and later, a
purse and a log, and what the office's actions came to; and the holder's data a hidden screen
must no longer hold anywhere (:data:`HOLDER_DATA`)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from ekarta.sync.messages import ActionKind
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Progress, TapOutcome
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.rules import Refusal, Verdict
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    CardStatus,
    CouponType,
    EventKind,
    EventRecord,
    Profile,
    Reason,
    SignedCoupon,
)
from tests.support.outcomes import AT, coupon, no_verdict, outcome

__all__ = [
    "ANONYMOUS",
    "BIRTH",
    "FIRST_NAME",
    "HOLDER_DATA",
    "NUMBER",
    "STUDENT",
    "STUDENT_SERIALS",
    "SURNAME",
    "anonymous_card",
    "full_card",
    "kiosk_coupon",
    "loading",
    "not_active",
    "personal_card",
    "screen_text",
]

FIRST_NAME, SURNAME = "Žofie", "Quastová"
BIRTH = date(2007, 3, 17)
NUMBER = CardNumber.from_serial(987654321)
ANONYMOUS_NUMBER = CardNumber.from_serial(555000111)
UID = bytes.fromhex("04112233445566")
STUDENT = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2031, 8, 31),
                     Profile.STUDENT, profile_end=date(2027, 8, 31), birth_date=BIRTH,
                     first_name=FIRST_NAME, surname=SURNAME)
ANONYMOUS = CardRecord(ANONYMOUS_NUMBER, CardKind.ANONYMOUS, CardStatus.ACTIVE,
                       date(2030, 6, 30), Profile.ADULT_TRANSFERABLE)


def kiosk_coupon(serial: int, start: date, **options: Any) -> SignedCoupon:
    """A coupon of 550 CZK on the kiosk's cards (``options``: those of
    :func:`~tests.support.outcomes.coupon`)."""
    return coupon(serial, start, price=550, **options)


NOW_COUPON = kiosk_coupon(7001, date(2026, 11, 20))
NEXT_COUPON = kiosk_coupon(7002, date(2026, 12, 27), kind=CouponType.DAYS_90)
OLD_COUPON = kiosk_coupon(6001, date(2026, 9, 1))
"""Ended: on the card, never shown."""
PENDING = kiosk_coupon(7003, date(2027, 4, 1), kind=CouponType.YEARLY, network=True)
"""Paid at the office, waiting for a free slot."""


def _events(first: int = 40) -> tuple[EventRecord, ...]:
    at = AT - timedelta(days=3)
    return (
        EventRecord(first, at, EventKind.LOAD, Reason.VALID, 4, coupon_serial=7001),
        EventRecord(first + 1, at + timedelta(hours=2), EventKind.VALIDATION, Reason.VALID,
                    1017, line=12, zone=1, coupon_serial=7001),
        EventRecord(first + 2, at + timedelta(days=1), EventKind.VALIDATION,
                    Reason.ZONE_NOT_COVERED, 1021, line=3, zone=7),
        EventRecord(first + 3, at + timedelta(days=2), EventKind.INSPECTION, Reason.VALID, 88,
                    line=3, zone=2, coupon_serial=7001),
    )


def _shown(record: CardRecord, slots: tuple[SignedCoupon | None, ...], *,
           purse: int | None = None, **changes: Any) -> TapOutcome:
    image = CardImage(UID, record, slots, _events(), purse)
    base = outcome(Reason.VALID, zone=None, line=None, card_number=record.card_number,
                   verdict=Verdict(True, Reason.VALID, record.profile, slots[0],
                                   date(2026, 12, 19)),
                   recorded=False, image=image)
    return replace(base, zone=None, **changes)


def personal_card(**changes: Any) -> TapOutcome:
    """The student's card: a coupon valid now, a 90-day one that starts later (the timeline
    shows the gap between), one ended, 150.50 CZK in the purse; the 90-day coupon was loaded by
    this check."""
    loaded = ActionResult(31, ActionKind.LOAD_COUPON, ActionState.DONE, serial=7002,
                          coupon=NEXT_COUPON)
    return _shown(STUDENT, (NOW_COUPON, OLD_COUPON, NEXT_COUPON, None), purse=15050,
                  actions=(loaded,), **changes)


def anonymous_card(**changes: Any) -> TapOutcome:
    """An anonymous card with one transferable coupon and an empty purse."""
    transferable = kiosk_coupon(7101, date(2026, 11, 25), kind=CouponType.TRANSFERABLE_30,
                                profile=Profile.ADULT_TRANSFERABLE, zones=(1, 2, 3, 4))
    return _shown(ANONYMOUS, (transferable, None, None, None), purse=0, **changes)


def full_card(**changes: Any) -> TapOutcome:
    """The student's card with all four slots taken: the yearly coupon paid at the office
    waits (no free slot); the purse credit was made."""
    slots = (NOW_COUPON, NEXT_COUPON, kiosk_coupon(7004, date(2027, 3, 27)),
             kiosk_coupon(7005, date(2026, 11, 20), kind=CouponType.DOG_30))
    actions = (ActionResult(32, ActionKind.CREDIT_PURSE, ActionState.DONE, serial=17,
                            amount=20000),
               ActionResult(33, ActionKind.LOAD_COUPON, ActionState.WAITING, serial=7003,
                            coupon=PENDING, refusal=Reason.NO_FREE_SLOT,
                            refused=Refusal.of(Reason.NO_FREE_SLOT)))
    return _shown(STUDENT, slots, purse=35050, actions=actions, **changes)


def screen_text(app: Any) -> str:
    """The running app's screen as it is drawn now: one line of plain text per row."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())


def loading() -> Progress:
    return Progress(1, 3, "load-coupon 7002")


def not_active(reason: Reason) -> TapOutcome:
    """A card the kiosk shows nothing of, with its data in the outcome all the same (the
    engine reads the card before it judges it)."""
    record = replace(STUDENT, status=CardStatus.BLOCKED) if reason is Reason.CARD_BLOCKED \
        else replace(STUDENT, status=CardStatus.PRODUCED) if reason is Reason.CARD_NOT_ACTIVE \
        else replace(STUDENT, expiry=date(2026, 11, 30))
    when = date(2026, 11, 30) if reason is Reason.CARD_EXPIRED else None
    return _shown(record, (NOW_COUPON, None, None, None),
                  verdict=Verdict(False, reason, Profile.STUDENT, date=when))


def no_card(kind: Outcome) -> TapOutcome:
    """An outcome without a card (not a transit card, not issued, unreadable, tap again)."""
    return no_verdict(kind, zone=None, line=None)


HOLDER_DATA = (FIRST_NAME, SURNAME, NUMBER.digits, NUMBER.formatted, "987 654 321",
               "17. 3. 2007", "2007-03-17", "17 March 2007", "7001", "7002", "7003", "7004",
               "Quast", "Žofie", "20. 11. 2026", "26. 3. 2027", "31. 3. 2028", "350,50")
"""What of the student's a hidden screen must hold nowhere: names, the birth date, the card
number, the coupons (their serials and days), the purse."""
STUDENT_SERIALS = frozenset({7001, 7002, 7003, 7004, 7005})
