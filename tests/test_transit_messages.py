"""The passenger's texts: every reason and note in English and Czech."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from ekarta.transit import CardStatus, CouponType, InvalidField, Note, Profile, Reason, Refusal
from ekarta.transit.model.messages import (
    COUPON_TYPE_NAMES,
    LANGUAGES,
    PROFILE_NAMES,
    Notice,
    coupon_type_name,
    format_age,
    format_date,
    format_time,
    profile_name,
    text,
)
from ekarta.transit.model.values import Money

DETAILS = {"date": date(2025, 5, 1), "end": date(2025, 4, 2), "valid_to": date(2025, 7, 29),
           "zone": 77, "count": 4, "age": 14, "serial": 4242, "profile": Profile.STUDENT}
DETAILS["status"] = CardStatus.ORDERED
DETAILS |= {"limit": Money(1_000_000), "balance": Money(99_950), "amount": Money(15_050)}
DETAILS |= {"number": "1234567890", "time": datetime(2026, 12, 1, 9, 5, tzinfo=UTC),
            "lists_age": timedelta(days=3, hours=2)}


@pytest.mark.parametrize("code", [*Reason, *Note, *Notice])
@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_code_has_a_text_in_every_language(code: Reason | Note | Notice,
                                                 lang: str) -> None:
    message = text(code, lang, **DETAILS)
    assert message and message[0].isupper() and message.endswith(".")
    assert "{" not in message and "None" not in message


@pytest.mark.parametrize("code", [*Reason, *Note, *Notice])
def test_czech_and_english_differ(code: Reason | Note | Notice) -> None:
    assert text(code, "en", **DETAILS) != text(code, "cs", **DETAILS)


def test_note_and_reason_with_the_same_number_keep_their_own_texts() -> None:
    assert int(Note.NETWORK) == int(Reason.NO_COUPON)
    assert text(Note.NETWORK) != text(Reason.NO_COUPON)


def test_czech_is_written_with_its_diacritics() -> None:
    assert text(Reason.CARD_BLOCKED, "cs") == "E-karta je zablokována."
    assert text(Reason.BANK_TRANSFER_TOO_EARLY, "cs", date=date(2025, 5, 15)) == (
        "Při platbě bankovním převodem může platnost kuponu začít nejdříve 15. 5. 2025 "
        "(5 dnů po nákupu).")
    assert text(Reason.BIRTH_DATE_REQUIRED, "cs", profile=Profile.STUDENT) == (
        "Profil „žáci a studenti od 15 do 26 let“ vyžaduje datum narození držitele na e-kartě.")


def test_dates_are_written_the_way_each_language_writes_them() -> None:
    assert format_date(date(2025, 12, 1), "en") == "1 December 2025"
    assert format_date(date(2025, 12, 1), "cs") == "1. 12. 2025"


def test_times_are_prague_clock_times_and_ages_are_days_hours_minutes() -> None:
    winter = datetime(2026, 12, 1, 9, 5, tzinfo=UTC)
    assert format_time(winter, "cs") == "1. 12. 2026 10:05"
    assert format_time(datetime(2026, 7, 1, 9, 5, tzinfo=UTC), "en") == "1 July 2026 11:05"
    assert text(Notice.FROM_BARCODE, "cs", time=winter) == (
        "Podle čárového kódu, data aktuální k 1. 12. 2026 10:05.")
    assert [format_age(timedelta(seconds=s)) for s in (-5, 59, 60, 3600, 3660, 86400, 90000)] \
        == ["0 min", "0 min", "1 min", "1 h", "1 h 1 min", "1 d", "1 d 1 h"]
    assert text(Notice.STALE_LISTS, "en", lists_age=timedelta(days=3, minutes=5)) == (
        "The lists are 3 d old: a card blocked since may still show as valid.")


def test_every_profile_and_coupon_type_has_names() -> None:
    assert set(PROFILE_NAMES) == set(Profile)
    assert set(COUPON_TYPE_NAMES) == set(CouponType)
    assert PROFILE_NAMES[Profile.ADULT_NON_TRANSFERABLE][1] == "občanský nepřenosný"


def test_unknown_language() -> None:
    with pytest.raises(InvalidField, match="language"):
        text(Reason.VALID, "de", date=date(2025, 1, 1))
    with pytest.raises(InvalidField, match="language"):
        Refusal.of(Reason.CARD_BLOCKED).message("de")


def test_names_of_profiles_and_coupon_types_in_each_language() -> None:
    assert profile_name(Profile.STUDENT) == "pupils and students 15 to 26"
    assert profile_name(Profile.STUDENT, "cs") == "žáci a studenti od 15 do 26 let"
    assert coupon_type_name(CouponType.DOG_30, "cs") == "30denní kupon pro psa"
    for lang in LANGUAGES:
        assert {profile_name(p, lang) for p in Profile} == {
            names[LANGUAGES.index(lang)] for names in PROFILE_NAMES.values()}
        assert len({coupon_type_name(c, lang) for c in CouponType}) == len(CouponType)
    with pytest.raises(InvalidField, match="language must be one of en, cs"):
        profile_name(Profile.STUDENT, "de")


def test_amounts_are_written_as_each_language_writes_money() -> None:
    details = {"balance": Money(99_950), "amount": Money(150_005)}
    assert text(Reason.PURSE_INSUFFICIENT, **details) == \
        "The e-purse holds 999.50 CZK, less than 1500.05 CZK."
    assert text(Reason.PURSE_INSUFFICIENT, "cs", **details) == \
        "Elektronická peněženka obsahuje 999,50 Kč, méně než 1500,05 Kč."
