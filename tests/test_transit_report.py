"""The card report (what ``ekarta card show``, an inspector or a kiosk shows): every slot with its
signature and period, the log newest first, the verdicts, the hotlist and the profile."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import UTC, date, datetime, timedelta

import pytest

from ekarta.transit import (
    CardImage,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponSigner,
    CouponType,
    EventKind,
    EventRecord,
    Profile,
    Reason,
    SaleChannel,
    SignedCoupon,
    SlotError,
    SlotErrorKind,
    Zones,
)
from ekarta.transit.model.report import Period, transit_report
from ekarta.transit.model.timecodec import PRAGUE

UID = bytes.fromhex("04A1B2C3D4E5F6")
SIGNER = CouponSigner.generate()
AT = datetime(2026, 12, 10, 8, 0, tzinfo=PRAGUE)
DAY = date(2026, 12, 10)

RECORD = CardRecord(1234567894, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 1, 31),
                    Profile.STUDENT, profile_end=date(2026, 12, 5),
                    birth_date=date(2006, 5, 1), first_name="Jana", surname="Nováková")


def coupon(serial: int, start: date, kind: CouponType = CouponType.DAYS_30) -> Coupon:
    return Coupon(serial, kind, Profile.STUDENT, Zones((1, 2)), start, kind.end_date(start),
                  start - timedelta(days=3), SaleChannel.TICKET_OFFICE, 0, 330)


def sign(c: Coupon, signer: CouponSigner = SIGNER) -> SignedCoupon:
    return signer.sign(c, uid=UID, card_number=RECORD.card_number)


def event(sequence: int, day: int) -> EventRecord:
    return EventRecord(sequence, datetime(2026, 12, day, 7, tzinfo=UTC), EventKind.VALIDATION,
                       Reason.VALID, 42, line=4, zone=1, coupon_serial=1)


def image(*slots: SignedCoupon | SlotError | None,
          events: tuple[EventRecord | SlotError, ...] = ()) -> CardImage:
    return CardImage(UID, RECORD, slots, events, purse=1250)


BROKEN = SlotError(1, SlotErrorKind.CORRUPT, "coupon slot: checksum does not match", b"\0")


def test_every_slot_is_reported_in_place() -> None:
    current, forged = sign(coupon(1, date(2026, 12, 1))), sign(
        coupon(2, date(2026, 12, 1)), CouponSigner.generate())
    ended, future = sign(coupon(3, date(2026, 10, 1))), sign(coupon(4, date(2026, 12, 31)))
    report = transit_report(image(current, BROKEN, forged, ended, future, None), at=AT, zone=1,
                         verifier=SIGNER.verifier)
    assert [s.index for s in report.slots] == [0, 1, 2, 3, 4, 5]
    first, broken, copied, old, later, empty = report.slots
    assert (first.coupon, first.genuine, first.period) == (current, True, Period.VALID)
    assert broken.error is BROKEN and broken.coupon is None and not broken.empty
    assert (copied.genuine, copied.period) == (False, Period.VALID)
    assert (old.period, later.period) == (Period.ENDED, Period.FUTURE)
    assert empty.empty and empty.period is None
    assert report.verdict.ok and report.verdict.coupon == current
    assert report.dog_verdict is None
    with pytest.raises(FrozenInstanceError):
        report.zone = 2  # type: ignore[misc]


def test_a_coupon_is_ended_when_the_card_expires_first() -> None:
    short = CardRecord(**{**RECORD.__dict__, "expiry": date(2026, 12, 9)})
    signed = sign(coupon(1, date(2026, 12, 1)))
    report = transit_report(CardImage(UID, short, (signed,)), at=AT, zone=None,
                         verifier=SIGNER.verifier)
    assert report.slots[0].period is Period.ENDED
    assert report.verdict.reason is Reason.CARD_EXPIRED


def test_the_log_newest_first_and_its_unreadable_records_apart() -> None:
    torn = SlotError(0, SlotErrorKind.CORRUPT, "event record: checksum does not match")
    report = transit_report(image(events=(event(3, 8), torn, event(5, 9), event(4, 2))), at=AT,
                         zone=None, verifier=SIGNER.verifier)
    assert [e.sequence for e in report.events] == [5, 4, 3]
    assert report.unreadable_events == (torn,)


def test_the_card_as_judged_on_the_day() -> None:
    report = transit_report(image(), at=AT, zone=None, verifier=SIGNER.verifier)
    assert report.record is RECORD and report.uid == UID and report.purse == 1250
    assert report.at == AT and report.zone is None
    assert report.profile_end == date(2026, 12, 5)
    assert report.effective_profile is Profile.ADULT_NON_TRANSFERABLE  # the discount ended
    assert report.verdict.reason is Reason.NO_COUPON and not report.blocked_by_hotlist
    before = transit_report(image(), at=AT - timedelta(days=10), zone=None,
                         verifier=SIGNER.verifier)
    assert before.effective_profile is Profile.STUDENT


def test_a_card_on_the_hotlist() -> None:
    report = transit_report(image(sign(coupon(1, date(2026, 12, 1)))), at=AT, zone=1,
                         verifier=SIGNER.verifier, hotlist={RECORD.card_number})
    assert report.blocked_by_hotlist and report.verdict.reason is Reason.CARD_BLOCKED
    assert report.slots[0].genuine  # the coupons are still shown as they are


def test_the_dog_is_judged_when_the_card_holds_a_dog_coupon_or_is_asked_about() -> None:
    holder = sign(coupon(1, date(2026, 12, 1)))
    dog = sign(coupon(2, date(2026, 12, 1), CouponType.DOG_30))
    with_dog = transit_report(image(holder, dog), at=AT, zone=1, verifier=SIGNER.verifier)
    assert with_dog.verdict.coupon == holder
    assert with_dog.dog_verdict is not None and with_dog.dog_verdict.coupon == dog
    asked = transit_report(image(holder), at=AT, zone=1, verifier=SIGNER.verifier, dog=True)
    assert asked.dog_verdict is not None and asked.dog_verdict.reason is Reason.NO_COUPON
