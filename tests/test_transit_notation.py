"""Transit values as text: enum names both ways, ISO dates and Prague times, zone lists; every
refusal an InvalidText whose message names what was expected."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekarta.errors import EkartaError
from ekarta.transit import (
    NETWORK,
    CardKind,
    CardStatus,
    CouponType,
    EventKind,
    InvalidField,
    Profile,
    Reason,
    SaleChannel,
)
from ekarta.transit.errors import InvalidText
from ekarta.transit.model.notation import (
    COUPON_TYPES,
    enum_name,
    enum_names,
    parse_amount,
    parse_date,
    parse_device,
    parse_enum,
    parse_serial,
    parse_when,
    parse_zone,
    parse_zones,
)
from ekarta.transit.model.timecodec import PRAGUE

ENUMS = [CardKind, CardStatus, CouponType, EventKind, Profile, Reason, SaleChannel]


@pytest.mark.parametrize("enum", ENUMS)
def test_every_member_has_a_name_that_reads_back(enum) -> None:
    names = enum_names(enum)
    assert list(names.values()) == list(enum)
    for name, member in names.items():
        assert enum_name(member) == name
        assert parse_enum(enum, f"  {name.upper()} ", "value") is member


def test_names_are_the_ones_people_type() -> None:
    assert enum_name(Profile.ADULT_NON_TRANSFERABLE) == "adult-non-transferable"
    assert enum_name(CouponType.DOG_30) == "dog"
    assert enum_name(Reason.SIGNATURE_INVALID) == "signature-invalid"
    assert list(COUPON_TYPES) == list(enum_names(CouponType))


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidText) as info:
        parse_enum(SaleChannel, "shop", "channel")
    assert str(info.value) == (
        "channel must be one of ticket-office, eshop-card, eshop-bank-transfer, kiosk, "
        "inspector, transfer, not 'shop'")
    with pytest.raises(InvalidText, match="not 3"):
        parse_enum(Profile, 3, "profile")  # type: ignore[arg-type]
    assert issubclass(InvalidText, InvalidField) and issubclass(InvalidText, EkartaError)
    assert issubclass(InvalidText, ValueError)


def test_dates() -> None:
    assert parse_date(" 2026-12-01 ") == date(2026, 12, 1)
    for text in ("2026-02-30", "1. 12. 2026", ""):
        with pytest.raises(InvalidText, match=r"not an ISO date \(YYYY-MM-DD\)"):
            parse_date(text)


def test_times_are_read_on_a_prague_wall_clock() -> None:
    at = parse_when("2026-12-01T08:30")
    assert at.tzinfo is PRAGUE and at.astimezone(UTC) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    summer = parse_when("2026-07-01T08:30")
    assert summer.astimezone(UTC).hour == 6
    assert parse_when("2026-12-01") == datetime(2026, 12, 1, tzinfo=PRAGUE)
    own = parse_when("2026-12-01T08:30+00:00")
    assert own.utcoffset() == timedelta(0) and own.hour == 8
    with pytest.raises(InvalidText, match="not an ISO date or date-time"):
        parse_when("tomorrow")


def test_zone_lists() -> None:
    assert parse_zones("network") is NETWORK
    assert parse_zones(" 7, 1-3,2 ") == (1, 2, 3, 7)
    assert parse_zones("1-12") == tuple(range(1, 13))  # a purchase widens it to the network
    for text in ("x", "3-1", "1-5000", "1,,a"):
        with pytest.raises(InvalidText, match="zones must be numbers and ranges"):
            parse_zones(text)
    with pytest.raises(InvalidText, match="no zone given"):
        parse_zones(" , ")


@given(st.integers(-5, 1100))
def test_one_zone(zone: int) -> None:
    if 1 <= zone <= 1023:
        assert parse_zone(str(zone)) == zone
    else:
        with pytest.raises(InvalidText, match=r"a zone is a number 1\.\.1023"):
            parse_zone(str(zone))


@pytest.mark.parametrize(("text", "haler"), [("150", 15_000), ("150.50", 15_050), ("150,5", 15_050),
                                             ("0.01", 1), (" 7 ", 700), ("007.00", 700)])
def test_an_amount_of_czk_in_haler(text: str, haler: int) -> None:
    assert parse_amount(text) == haler


@pytest.mark.parametrize("text", ["0", "0.00", "-1", "+1", "1e3", "1.234", "", " ", ".5", "5.",
                                  "1_000", "١٢", "nan", "inf", "1.2.3", "1 000",
                                  "1234567890"])
def test_what_is_not_an_amount(text: str) -> None:
    with pytest.raises(InvalidText):
        parse_amount(text)


def test_serial_and_device_numbers() -> None:
    assert parse_serial("1") == 1 and parse_serial("4294967295") == 2**32 - 1
    assert parse_device("0") == 0 and parse_device("65535") == 65_535
    for text in ("0", "4294967296", "-1", "1.0", "x", "", "٣"):
        with pytest.raises(InvalidText):
            parse_serial(text)
    for text in ("65536", "-1", "x", ""):
        with pytest.raises(InvalidText):
            parse_device(text)
