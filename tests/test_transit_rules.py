"""The tariff rules: one test per verdict, per refusal, and the examples of DOMAIN.md."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from ekarta.transit import (
    EMPTY_SLOT,
    FALLBACK_PROFILE,
    CardFiles,
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponSigner,
    CouponType,
    CouponVerifier,
    InvalidField,
    Note,
    Profile,
    PurchaseRequest,
    Reason,
    SaleChannel,
    SignedCoupon,
    SlotError,
    SlotErrorKind,
    Zones,
    check_purchase,
    decode_card,
    effective_profile,
    encode_card_record,
    encode_slot,
    judge,
    judge_card,
    plan_load,
    suggest_start,
    valid_or_future,
)
from ekarta.transit.model.rules import profile_end
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.model.values import add_years, age_on

UID = bytes.fromhex("04A1B2C3D4E5F6")
SIGNER = CouponSigner.generate()
VERIFIER = SIGNER.verifier
_serials = itertools.count(1000)


def card(**changes: object) -> CardRecord:
    fields: dict[str, object] = {
        "card_number": 1234567894, "kind": CardKind.PERSONAL, "status": CardStatus.ACTIVE,
        "expiry": date(2030, 12, 31), "profile": Profile.ADULT_NON_TRANSFERABLE,
        "first_name": "Jan", "surname": "Novák"}
    fields.update(changes)
    return CardRecord(**fields)  # type: ignore[arg-type]


def student(**changes: object) -> CardRecord:
    return card(**{"profile": Profile.STUDENT, "profile_end": date(2025, 6, 30),
                   "birth_date": date(2004, 3, 15), **changes})


def anonymous(**changes: object) -> CardRecord:
    return card(**{"kind": CardKind.ANONYMOUS, "profile": Profile.ADULT_TRANSFERABLE,
                   "first_name": "", "surname": "", **changes})


HOME_ZONES = Zones((77, 78))


def coupon(start: date, kind: CouponType = CouponType.DAYS_30, *,
           profile: Profile = Profile.ADULT_NON_TRANSFERABLE, zones: Zones = HOME_ZONES,
           valid_to: date | None = None) -> Coupon:
    return Coupon(next(_serials), kind, profile, zones, start, valid_to or kind.end_date(start),
                  start - timedelta(days=1), SaleChannel.ESHOP_CARD, 0, 330)


def sign(c: Coupon, holder: CardRecord, signer: CouponSigner = SIGNER) -> SignedCoupon:
    return signer.sign(c, uid=UID, card_number=holder.card_number)


def noon(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, 12, 0, tzinfo=PRAGUE)


def check(holder: CardRecord, *coupons: Coupon | SignedCoupon | SlotError | None,
          day: date, zone: int | None = 77, **options: object):
    entries = [sign(c, holder) if isinstance(c, Coupon) else c for c in coupons]
    return judge(holder, entries, uid=UID, at=noon(day), zone=zone, verifier=VERIFIER,
                 **options)  # type: ignore[arg-type]


MAY = date(2025, 5, 1)


# --- verdicts ------------------------------------------------------------------------------------


def test_valid() -> None:
    c = coupon(MAY)
    verdict = check(card(), c, day=date(2025, 5, 20))
    assert verdict.ok and verdict.reason is Reason.VALID
    assert verdict.coupon is not None and verdict.coupon.coupon == c
    assert verdict.date == date(2025, 5, 30) and verdict.profile is Profile.ADULT_NON_TRANSFERABLE
    assert verdict.message() == "Valid until 30 May 2025."
    assert verdict.message("cs") == "Platí do 30. 5. 2025."


def test_first_and_last_day_are_included() -> None:
    c = coupon(MAY)
    assert check(card(), c, day=MAY).ok
    assert check(card(), c, day=date(2025, 5, 30)).ok


def test_no_coupon() -> None:
    verdict = check(card(), None, None, day=MAY)
    assert not verdict.ok and verdict.reason is Reason.NO_COUPON and verdict.coupon is None


def test_coupon_not_yet_valid() -> None:
    verdict = check(card(), coupon(date(2025, 6, 1)), day=MAY)
    assert verdict.reason is Reason.NOT_YET_VALID and verdict.date == date(2025, 6, 1)
    assert verdict.message("cs") == "Kupon platí až od 1. 6. 2025."


def test_coupon_expired() -> None:
    verdict = check(card(), coupon(date(2025, 3, 1)), day=MAY)
    assert verdict.reason is Reason.EXPIRED and verdict.date == date(2025, 3, 30)


def test_zone_not_covered() -> None:
    verdict = check(card(), coupon(MAY, zones=Zones((1, 2))), day=MAY, zone=77)
    assert verdict.reason is Reason.ZONE_NOT_COVERED
    assert verdict.message() == "The coupon is not valid in zone 77."


def test_profile_expired_and_the_fallback_profile() -> None:
    holder = student()  # profile ends 30 June 2025
    # A student coupon running past the 29 days (e.g. loaded before the profile was cut short).
    long = coupon(date(2025, 6, 20), CouponType.DAYS_90, profile=Profile.STUDENT)
    last_grace_day = date(2025, 7, 29)
    inside = check(holder, long, day=last_grace_day)
    assert inside.ok and inside.date == last_grace_day
    assert inside.profile is FALLBACK_PROFILE
    after = check(holder, long, day=last_grace_day + timedelta(days=1))
    assert not after.ok and after.reason is Reason.PROFILE_EXPIRED
    assert after.profile is Profile.ADULT_NON_TRANSFERABLE and after.date == date(2025, 6, 30)
    assert "občanský nepřenosný" in after.message("cs")


def test_a_full_fare_coupon_works_on_the_fallback_profile() -> None:
    holder = student()
    verdict = check(holder, coupon(date(2025, 8, 1)), day=date(2025, 8, 10))
    assert verdict.ok and verdict.profile is FALLBACK_PROFILE


def test_card_expired() -> None:
    holder = card(expiry=date(2025, 5, 10))
    verdict = check(holder, coupon(MAY), day=date(2025, 5, 11))
    assert verdict.reason is Reason.CARD_EXPIRED and verdict.date == date(2025, 5, 10)


def test_coupon_usable_only_until_card_expiry() -> None:
    holder = card(expiry=date(2025, 5, 10))
    on_expiry = check(holder, coupon(MAY), day=date(2025, 5, 10))
    assert on_expiry.ok and on_expiry.date == date(2025, 5, 10)


def test_card_blocked_by_hotlist() -> None:
    holder = card()
    verdict = check(holder, coupon(MAY), day=MAY, hotlist=frozenset({holder.card_number}))
    assert verdict.reason is Reason.CARD_BLOCKED and not verdict.ok
    assert check(holder, coupon(MAY), day=MAY, hotlist=frozenset({1})).ok


def test_card_blocked_by_status() -> None:
    verdict = check(card(status=CardStatus.BLOCKED), coupon(MAY), day=MAY)
    assert verdict.reason is Reason.CARD_BLOCKED


@pytest.mark.parametrize("status", [CardStatus.ORDERED, CardStatus.PRODUCED])
def test_card_not_active(status: CardStatus) -> None:
    assert check(card(status=status), coupon(MAY), day=MAY).reason is Reason.CARD_NOT_ACTIVE


def test_signature_invalid() -> None:
    holder = card()
    minted = sign(coupon(MAY), holder, CouponSigner.generate())
    verdict = check(holder, minted, day=MAY)
    assert verdict.reason is Reason.SIGNATURE_INVALID and verdict.coupon == minted


def test_a_forged_coupon_does_not_hide_behind_another_reason() -> None:
    holder = card()
    minted = sign(coupon(date(2025, 6, 1)), holder, CouponSigner.generate())
    assert check(holder, minted, day=MAY).reason is Reason.SIGNATURE_INVALID


def test_a_genuine_coupon_wins_over_a_forged_one() -> None:
    holder = card()
    minted = sign(coupon(MAY, CouponType.YEARLY), holder, CouponSigner.generate())
    genuine = sign(coupon(MAY), holder)
    verdict = check(holder, minted, genuine, day=MAY)
    assert verdict.ok and verdict.coupon == genuine


def test_coupon_unreadable() -> None:
    torn = SlotError(0, SlotErrorKind.CORRUPT, "checksum does not match")
    assert check(card(), torn, day=MAY).reason is Reason.COUPON_UNREADABLE
    assert check(card(), torn, coupon(date(2025, 1, 1)), day=MAY).reason is (
        Reason.COUPON_UNREADABLE)
    assert check(card(), torn, coupon(MAY), day=MAY).ok


def test_dog_coupon_alone() -> None:
    dog = coupon(MAY, CouponType.DOG_30)
    assert check(card(), dog, day=MAY).reason is Reason.NO_COUPON
    verdict = check(card(), dog, day=MAY, dog=True)
    assert verdict.ok and verdict.coupon is not None and verdict.coupon.coupon == dog


def test_dog_coupon_with_a_30_day_coupon() -> None:
    dog, own = coupon(MAY, CouponType.DOG_30), coupon(MAY)
    holder = check(card(), dog, own, day=MAY)
    assert holder.ok and holder.coupon is not None and holder.coupon.coupon == own
    for_dog = check(card(), dog, own, day=MAY, dog=True)
    assert for_dog.ok and for_dog.coupon is not None and for_dog.coupon.coupon == dog


def test_dog_coupon_ignores_the_profile_end() -> None:
    dog = coupon(date(2025, 6, 20), CouponType.DOG_30, profile=Profile.STUDENT,
                 valid_to=date(2025, 9, 1))
    assert check(student(), dog, day=date(2025, 8, 15), dog=True).ok


def test_network_ticket_is_valid_in_every_zone() -> None:
    network = coupon(MAY, zones=Zones(network=True))
    for zone in (1, 77, 1023):
        assert check(card(), network, day=MAY, zone=zone).ok


def test_kiosk_judges_without_a_zone() -> None:
    assert check(card(), coupon(MAY, zones=Zones((3,))), day=MAY, zone=None).ok


def test_the_prague_day_decides() -> None:
    c = coupon(date(2025, 9, 26))  # ends 25 October 2025
    assert c.valid_to == date(2025, 10, 25)
    holder = card()

    def at(instant: datetime):
        return judge(holder, [sign(c, holder)], uid=UID, at=instant, zone=77, verifier=VERIFIER)

    assert at(datetime(2025, 10, 25, 21, 59, tzinfo=UTC)).ok  # 23:59 in Prague
    assert at(datetime(2025, 10, 25, 22, 0, tzinfo=UTC)).reason is Reason.EXPIRED  # 00:00


def test_most_telling_reason_is_reported() -> None:
    current_elsewhere = coupon(MAY, zones=Zones((1,)))
    future = coupon(date(2025, 6, 1))
    old = coupon(date(2025, 1, 1))
    verdict = check(card(), old, future, current_elsewhere, day=MAY)
    assert verdict.reason is Reason.ZONE_NOT_COVERED
    assert check(card(), old, future, day=MAY).reason is Reason.NOT_YET_VALID


def test_the_longest_running_valid_coupon_is_shown() -> None:
    short, long = coupon(MAY), coupon(MAY, CouponType.YEARLY)
    verdict = check(card(), short, long, day=MAY)
    assert verdict.coupon is not None and verdict.coupon.coupon == long


def test_only_the_deciding_coupon_is_verified() -> None:
    class Counting(CouponVerifier):
        calls = 0

        def verify(self, signed, *, uid, card_number):  # type: ignore[override]
            Counting.calls += 1
            return super().verify(signed, uid=uid, card_number=card_number)

    holder = card()
    coupons = [sign(coupon(MAY + timedelta(days=30 * i)), holder) for i in range(5)]
    verifier = Counting(*[VERIFIER._keys[0]])
    verdict = judge(holder, coupons, uid=UID, at=noon(MAY), zone=77, verifier=verifier)
    assert verdict.ok and Counting.calls == 1


def test_judge_refuses_nonsense_arguments() -> None:
    with pytest.raises(InvalidField, match="timezone-aware"):
        judge(card(), [], uid=UID, at=datetime(2025, 5, 1), zone=77, verifier=VERIFIER)
    with pytest.raises(InvalidField, match="zone"):
        check(card(), day=MAY, zone=0)


def test_judge_card_on_a_decoded_card() -> None:
    holder = card()
    slots = (encode_slot(sign(coupon(MAY), holder)), EMPTY_SLOT)
    image = decode_card(CardFiles(UID, encode_card_record(holder), slots))
    assert judge_card(image, at=noon(MAY), zone=77, verifier=VERIFIER).ok
    other_uid = CardFiles(bytes.fromhex("04000000000001"), encode_card_record(holder), slots)
    assert judge_card(decode_card(other_uid), at=noon(MAY), zone=77,
                      verifier=VERIFIER).reason is Reason.SIGNATURE_INVALID


# --- profiles and ages ---------------------------------------------------------------------------


def test_profile_end_comes_from_the_card_or_the_age_limit() -> None:
    assert profile_end(student()) == date(2025, 6, 30)
    # Born 15 March 2004: the student right ends on the 26th birthday.
    assert profile_end(student(profile_end=None)) == date(2030, 3, 14)
    assert profile_end(student(profile_end=date(2031, 1, 1))) == date(2030, 3, 14)
    assert profile_end(card()) is None
    assert effective_profile(student(), date(2025, 6, 30)) is Profile.STUDENT
    assert effective_profile(student(), date(2025, 7, 1)) is FALLBACK_PROFILE


def test_ages_and_leap_birthdays() -> None:
    leap = date(2008, 2, 29)
    assert age_on(leap, date(2023, 2, 28)) == 14
    assert age_on(leap, date(2023, 3, 1)) == 15
    assert age_on(leap, date(2024, 2, 29)) == 16
    assert add_years(leap, 15) == date(2023, 3, 1)


@pytest.mark.parametrize(("kind", "start", "end"), [
    (CouponType.DAYS_30, date(2025, 5, 1), date(2025, 5, 30)),
    (CouponType.DAYS_90, date(2025, 5, 1), date(2025, 7, 29)),
    (CouponType.YEARLY, date(2025, 5, 1), date(2026, 4, 30)),  # 365 days
    (CouponType.YEARLY, date(2023, 3, 1), date(2024, 2, 29)),  # 366 days
    (CouponType.TRANSFERABLE_YEARLY, date(2024, 2, 29), date(2025, 2, 28)),
    (CouponType.DOG_30, date(2025, 12, 15), date(2026, 1, 13)),
])
def test_coupon_periods(kind: CouponType, start: date, end: date) -> None:
    assert kind.end_date(start) == end


# --- purchases -----------------------------------------------------------------------------------

TODAY = date(2025, 5, 10)


def buy(holder: CardRecord, kind: CouponType = CouponType.DAYS_30, *, existing=(),
        channel: SaleChannel = SaleChannel.ESHOP_CARD, today: date = TODAY, **request: object):
    return check_purchase(holder, existing,
                          PurchaseRequest(kind, request.pop("zones", (77,)), channel,
                                          **request),  # type: ignore[arg-type]
                          today=today)


def refused(decision, reason: Reason) -> None:
    assert not decision.ok
    assert reason in decision.reasons, decision.reasons
    refusal = next(r for r in decision.refusals if r.reason is reason)
    assert refusal.message_en and refusal.message_cs and refusal.message_en != refusal.message_cs
    assert refusal.message("cs") == refusal.message_cs


def test_purchase_accepted_with_card_payment_from_today() -> None:
    decision = buy(card())
    assert decision.ok and decision.refusal is None
    assert (decision.valid_from, decision.valid_to) == (TODAY, date(2025, 6, 8))
    assert decision.usable_until == decision.valid_to and decision.notes == ()
    made = decision.coupon(serial=77, device=5, price=550)
    assert made.valid_from == TODAY and made.sale_date == TODAY and made.price == 550
    assert made.profile is Profile.ADULT_NON_TRANSFERABLE


def test_more_than_ten_zones_become_a_network_ticket() -> None:
    decision = buy(card(), zones=range(1, 12))
    assert decision.ok and decision.zones.network
    assert decision.notes == (Note.NETWORK,)
    assert "síťová jízdenka" in decision.note_messages("cs")[0]
    assert buy(card(), zones=range(1, 11)).zones == Zones(tuple(range(1, 11)))


def test_at_most_four_valid_or_future_coupons() -> None:
    live = [coupon(date(2025, 5, 1)), coupon(date(2025, 5, 1), CouponType.DOG_30),
            coupon(date(2025, 6, 1)), coupon(date(2025, 9, 1))]
    refused(buy(card(), existing=live), Reason.TOO_MANY_COUPONS)
    # An ended coupon does not count.
    ended = [coupon(date(2025, 1, 1)), *live[1:]]
    assert buy(card(), existing=ended).ok
    assert len(valid_or_future(live, TODAY)) == 4 and len(valid_or_future(ended, TODAY)) == 3


def test_bank_transfer_starts_five_days_after_purchase() -> None:
    transfer = SaleChannel.ESHOP_BANK_TRANSFER
    refused(buy(card(), channel=transfer, start=TODAY + timedelta(days=4)),
            Reason.BANK_TRANSFER_TOO_EARLY)
    assert buy(card(), channel=transfer, start=TODAY + timedelta(days=5)).ok
    suggested = buy(card(), channel=transfer)
    assert suggested.ok and suggested.valid_from == date(2025, 5, 15)
    assert "15. 5. 2025" in buy(card(), channel=transfer, start=TODAY).refusals[0].message_cs


def test_ticket_office_may_start_today() -> None:
    assert buy(card(), channel=SaleChannel.TICKET_OFFICE, start=TODAY).ok


def test_start_in_the_past() -> None:
    refused(buy(card(), start=TODAY - timedelta(days=1)), Reason.START_IN_PAST)


def test_follow_on_coupon_starts_the_day_after() -> None:
    current = coupon(date(2025, 5, 1))  # ends 30 May
    assert suggest_start([current], today=TODAY, channel=SaleChannel.ESHOP_CARD,
                         follows=current.serial) == date(2025, 5, 31)
    decision = buy(card(), existing=[current], follows=current.serial)
    assert decision.ok and decision.valid_from == date(2025, 5, 31)
    # Paid by transfer on the 28th, the 31st is too soon: the 2nd of June is offered.
    late = buy(card(), existing=[current], follows=current.serial, today=date(2025, 5, 28),
               channel=SaleChannel.ESHOP_BANK_TRANSFER)
    assert late.ok and late.valid_from == date(2025, 6, 2)


def test_follow_on_needs_a_valid_coupon() -> None:
    ended = coupon(date(2025, 1, 1))
    refused(buy(card(), existing=[ended], follows=ended.serial), Reason.NOTHING_TO_FOLLOW)
    refused(buy(card(), follows=999_999), Reason.NOTHING_TO_FOLLOW)


def test_card_expiring_during_the_coupon() -> None:
    holder = card(expiry=date(2025, 5, 20))
    decision = buy(holder)
    assert decision.ok and decision.usable_until == date(2025, 5, 20)
    assert decision.notes == (Note.USABLE_UNTIL_CARD_EXPIRY,)
    assert "20. 5. 2025" in decision.note_messages("cs")[0]


def test_card_expiring_before_the_coupon_starts() -> None:
    holder = card(expiry=date(2025, 5, 20))
    decision = buy(holder, start=date(2025, 6, 1))
    assert decision.ok and decision.usable_until == date(2025, 5, 20)
    assert Note.USABLE_UNTIL_CARD_EXPIRY in decision.notes


def test_card_already_expired() -> None:
    refused(buy(card(expiry=date(2025, 5, 9))), Reason.CARD_EXPIRED)


def test_card_not_active_for_purchase() -> None:
    refused(buy(card(status=CardStatus.PRODUCED)), Reason.CARD_NOT_ACTIVE)


def test_card_blocked_for_purchase() -> None:
    refused(buy(card(status=CardStatus.BLOCKED)), Reason.CARD_BLOCKED)
    holder = card()
    decision = check_purchase(holder, [], PurchaseRequest(CouponType.DAYS_30, (77,),
                                                          SaleChannel.ESHOP_CARD),
                              today=TODAY, hotlist={holder.card_number})
    refused(decision, Reason.CARD_BLOCKED)


def test_29_days_past_the_profile_end() -> None:
    holder = student()  # profile ends 30 June 2025
    assert buy(holder, start=date(2025, 6, 25)).ok  # ends 24 July
    assert buy(holder, start=date(2025, 6, 30)).ok  # ends 29 July: the last allowed day
    assert buy(holder, start=date(2025, 7, 1)).profile is FALLBACK_PROFILE  # after the end
    too_long = buy(holder, CouponType.DAYS_90, start=date(2025, 6, 25))
    refused(too_long, Reason.PROFILE_END_LIMIT)
    assert "29. 7. 2025" in too_long.refusal.message_cs  # type: ignore[union-attr]


def test_profile_ended_before_the_start_sells_the_fallback_profile() -> None:
    decision = buy(student(), CouponType.YEARLY, start=date(2025, 7, 1))
    assert decision.ok and decision.profile is FALLBACK_PROFILE
    assert decision.notes == (Note.PROFILE_FALLBACK,)
    assert decision.coupon(serial=1).profile is FALLBACK_PROFILE


def test_the_coupon_is_sold_for_the_discounted_profile() -> None:
    decision = buy(student(), start=date(2025, 6, 1))
    assert decision.ok and decision.profile is Profile.STUDENT


def test_anonymous_card_only_takes_transferable_coupons() -> None:
    refused(buy(anonymous()), Reason.ANONYMOUS_ONLY_TRANSFERABLE)
    assert buy(anonymous(), CouponType.TRANSFERABLE_30).ok
    assert buy(anonymous(), CouponType.TRANSFERABLE_YEARLY).ok
    dog = buy(anonymous(), CouponType.DOG_30)
    assert dog.ok and dog.profile is Profile.ADULT_TRANSFERABLE


def test_transferable_coupons_are_for_anonymous_cards() -> None:
    refused(buy(card(), CouponType.TRANSFERABLE_90), Reason.TRANSFERABLE_ONLY_ANONYMOUS)


def test_discounted_profile_needs_the_birth_date() -> None:
    refused(buy(student(birth_date=None)), Reason.BIRTH_DATE_REQUIRED)
    child = card(profile=Profile.CHILD, profile_end=date(2030, 1, 1))
    refused(buy(child), Reason.BIRTH_DATE_REQUIRED)
    # The dog coupon is sold for every profile and needs no birth date.
    assert buy(child, CouponType.DOG_30).ok


def test_a_child_must_be_six_on_the_first_day() -> None:
    child = card(profile=Profile.CHILD, birth_date=date(2019, 5, 20))
    decision = buy(child, start=date(2025, 5, 19))
    refused(decision, Reason.AGE_NOT_ELIGIBLE)
    assert "(5)" in decision.refusal.message_en  # type: ignore[union-attr]
    assert buy(child, start=date(2025, 5, 20)).ok


def test_a_student_must_be_fifteen() -> None:
    refused(buy(student(birth_date=date(2010, 12, 1), profile_end=None)),
            Reason.AGE_NOT_ELIGIBLE)


def test_asking_for_a_discount_past_the_age_limit() -> None:
    # Born 1 January 1999: 26 on the coupon's first day, past "do dovršení 26 let".
    older = student(birth_date=date(1999, 1, 1), profile_end=None)
    decision = buy(older, profile=Profile.STUDENT)
    refused(decision, Reason.AGE_NOT_ELIGIBLE)
    assert Reason.PROFILE_NOT_ALLOWED not in decision.reasons
    # Without asking, the card has simply fallen back to the full fare.
    assert buy(older).profile is FALLBACK_PROFILE


def test_a_child_turning_fifteen_falls_back_on_the_birthday() -> None:
    child = card(profile=Profile.CHILD, birth_date=date(2010, 5, 25))
    assert profile_end(child) == date(2025, 5, 24)
    # A 90-day child coupon from the 10th would run past the 29 days after the 24th.
    refused(buy(child, CouponType.DAYS_90), Reason.PROFILE_END_LIMIT)
    assert buy(child).ok  # 30 days: ends 8 June, within 24 May + 29
    after = buy(child, start=date(2025, 5, 25))
    assert after.ok and after.profile is FALLBACK_PROFILE


def test_a_senior_must_be_seventy_when_the_birth_date_is_known() -> None:
    senior = card(profile=Profile.SENIOR, birth_date=date(1955, 6, 1))
    refused(buy(senior), Reason.AGE_NOT_ELIGIBLE)
    assert buy(senior, start=date(2025, 6, 1)).ok
    assert buy(card(profile=Profile.SENIOR)).ok  # no birth date on the card: not checked


def test_profile_not_allowed() -> None:
    decision = buy(student(), profile=Profile.DISABILITY_PENSIONER, start=date(2025, 6, 1))
    refused(decision, Reason.PROFILE_NOT_ALLOWED)
    # A personal card may always pay the full fare.
    assert buy(student(), profile=Profile.ADULT_NON_TRANSFERABLE).ok


def test_a_refused_purchase_makes_no_coupon() -> None:
    with pytest.raises(InvalidField, match="refused"):
        buy(anonymous()).coupon(serial=1)


def test_every_refusal_is_collected() -> None:
    decision = buy(anonymous(status=CardStatus.PRODUCED), start=TODAY - timedelta(days=3))
    assert decision.reasons == (Reason.CARD_NOT_ACTIVE, Reason.ANONYMOUS_ONLY_TRANSFERABLE,
                                Reason.START_IN_PAST)


# --- loading -------------------------------------------------------------------------------------


def image_with(holder: CardRecord, *slots: bytes):
    return decode_card(CardFiles(UID, encode_card_record(holder), slots))


def test_load_into_an_empty_slot() -> None:
    holder = card()
    image = image_with(holder, encode_slot(sign(coupon(MAY), holder)), EMPTY_SLOT, EMPTY_SLOT)
    plan = plan_load(image, sign(coupon(date(2025, 6, 1)), holder), today=TODAY,
                     verifier=VERIFIER)
    assert plan.ok and plan.slot == 1 and not plan.already_loaded


def test_loading_is_idempotent() -> None:
    holder = card()
    loaded = sign(coupon(MAY), holder)
    plan = plan_load(image_with(holder, EMPTY_SLOT, encode_slot(loaded)), loaded, today=TODAY,
                     verifier=VERIFIER)
    assert plan.ok and plan.already_loaded and plan.slot == 1


def test_load_replaces_the_longest_ended_coupon_and_never_a_live_one() -> None:
    holder = card()
    slots = [sign(coupon(date(2025, 3, 1)), holder), sign(coupon(MAY), holder),
             sign(coupon(date(2025, 1, 1)), holder), sign(coupon(date(2025, 6, 1)), holder),
             sign(coupon(date(2025, 7, 1)), holder)]
    image = image_with(holder, *map(encode_slot, slots))
    plan = plan_load(image, sign(coupon(date(2025, 8, 1)), holder), today=TODAY,
                     verifier=VERIFIER)
    assert plan.slot == 2


def test_load_prefers_an_ended_coupon_to_a_corrupt_slot() -> None:
    holder = card()
    torn = bytearray(encode_slot(sign(coupon(MAY), holder)))
    torn[40] ^= 1
    image = image_with(holder, bytes(torn), encode_slot(sign(coupon(date(2025, 1, 1)), holder)))
    assert plan_load(image, sign(coupon(MAY), holder), today=TODAY,
                     verifier=VERIFIER).slot == 1
    only_torn = image_with(holder, bytes(torn), encode_slot(sign(coupon(MAY), holder)))
    assert plan_load(only_torn, sign(coupon(date(2025, 6, 1)), holder), today=TODAY,
                     verifier=VERIFIER).slot == 0


def test_load_refusals() -> None:
    holder = card()
    live = [encode_slot(sign(coupon(MAY + timedelta(days=i)), holder)) for i in range(5)]
    new = sign(coupon(date(2025, 8, 1)), holder)
    full = plan_load(image_with(holder, *live), new, today=TODAY, verifier=VERIFIER)
    assert full.slot is None and full.refusal is not None
    assert full.refusal.reason is Reason.NO_FREE_SLOT
    minted = sign(coupon(MAY), holder, CouponSigner.generate())
    forged = plan_load(image_with(holder, EMPTY_SLOT), minted, today=TODAY, verifier=VERIFIER)
    assert forged.refusal is not None and forged.refusal.reason is Reason.SIGNATURE_INVALID
    ended = plan_load(image_with(holder, EMPTY_SLOT), sign(coupon(date(2025, 1, 1)), holder),
                      today=TODAY, verifier=VERIFIER)
    assert ended.refusal is not None and ended.refusal.reason is Reason.EXPIRED
    blocked = card(status=CardStatus.BLOCKED)
    assert plan_load(image_with(blocked, EMPTY_SLOT), sign(coupon(MAY), blocked), today=TODAY,
                     verifier=VERIFIER).refusal.reason is Reason.CARD_BLOCKED  # type: ignore


def test_a_different_coupon_under_a_held_serial_is_refused_not_replaced() -> None:
    holder = card()
    held = sign(replace(coupon(MAY), serial=9001), holder)
    other = sign(replace(coupon(date(2025, 6, 1)), serial=9001), holder)
    plan = plan_load(image_with(holder, encode_slot(held)), other, today=TODAY,
                     verifier=VERIFIER)
    assert plan.slot is None and plan.refusal is not None
    assert plan.refusal.reason is Reason.SERIAL_HELD_BY_OTHER_COUPON
    assert "9001" in plan.refusal.message_en


def test_the_same_coupon_signed_twice_is_already_loaded() -> None:
    holder = card()
    ecdsa = CouponSigner.generate("ecdsa-p256")
    one = coupon(MAY)
    first, second = (ecdsa.sign(one, uid=UID, card_number=holder.card_number) for _ in (1, 2))
    assert first.signature != second.signature  # ECDSA signs with a fresh nonce each time
    plan = plan_load(image_with(holder, encode_slot(first)), second, today=TODAY,
                     verifier=ecdsa.verifier)
    assert plan.ok and plan.already_loaded and plan.slot == 0
    forged = SignedCoupon(one, bytes(64))
    plan = plan_load(image_with(holder, encode_slot(first)), forged, today=TODAY,
                     verifier=ecdsa.verifier)
    assert plan.refusal is not None
    assert plan.refusal.reason is Reason.SERIAL_HELD_BY_OTHER_COUPON
