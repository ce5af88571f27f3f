"""Day-count dates and Prague local date-times: epochs, absence, daylight-saving edges."""

from __future__ import annotations

import zoneinfo
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekarta.transit.errors import CorruptRecord, InvalidField
from ekarta.transit.model.timecodec import (
    BIRTH_EPOCH,
    BIRTH_MAX,
    BIRTH_MIN,
    DATE_EPOCH,
    DATE_MAX,
    DATE_MIN,
    PRAGUE,
    STAMP_BITS,
    STAMP_MAX,
    STAMP_MIN,
    date_from_days,
    days_from_date,
    decode_stamp,
    encode_stamp,
    floor_minute,
    local_date,
    to_local,
)

# Summer time in the EU starts and ends at 01:00 UTC on the last Sunday of March and October.
SPRING = [datetime(2024, 3, 31, 1, tzinfo=UTC), datetime(2025, 3, 30, 1, tzinfo=UTC),
          datetime(2026, 3, 29, 1, tzinfo=UTC)]
AUTUMN = [datetime(2024, 10, 27, 1, tzinfo=UTC), datetime(2025, 10, 26, 1, tzinfo=UTC),
          datetime(2026, 10, 25, 1, tzinfo=UTC)]


def raw_stamp(day: date, hour: int, minute: int, fold: int = 0) -> int:
    """The stored form, assembled by hand from the documented layout."""
    return (day - DATE_EPOCH).days << 12 | (hour * 60 + minute) << 1 | fold


# --- dates ---------------------------------------------------------------------------------------


def test_epochs_and_ranges_are_the_documented_ones() -> None:
    assert date(2000, 1, 1) == DATE_EPOCH
    assert (date(2000, 1, 2), date(2179, 6, 6)) == (DATE_MIN, DATE_MAX)
    assert date(1900, 1, 1) == BIRTH_EPOCH
    assert (date(1900, 1, 2), date(2258, 11, 11)) == (BIRTH_MIN, BIRTH_MAX)


def test_zero_means_absent() -> None:
    assert days_from_date(None) == 0
    assert date_from_days(0) is None
    assert date_from_days(0, epoch=BIRTH_EPOCH) is None


@pytest.mark.parametrize(("day", "days"), [
    (date(2000, 1, 2), 1),
    (date(2025, 1, 1), 9132),
    (date(2179, 6, 6), 65535),
])
def test_date_day_counts(day: date, days: int) -> None:
    assert days_from_date(day) == days
    assert date_from_days(days) == day


@pytest.mark.parametrize("day", [date(2000, 1, 1), date(1999, 12, 31), date(2179, 6, 7)])
def test_dates_outside_the_range_are_refused(day: date) -> None:
    with pytest.raises(InvalidField, match="outside the storable range"):
        days_from_date(day)


def test_birth_dates_reach_back_a_century() -> None:
    assert days_from_date(date(1925, 5, 17), epoch=BIRTH_EPOCH, bits=17) == 9267
    with pytest.raises(InvalidField):
        days_from_date(date(1900, 1, 1), epoch=BIRTH_EPOCH, bits=17)
    with pytest.raises(InvalidField):
        days_from_date(BIRTH_MAX + timedelta(days=1), epoch=BIRTH_EPOCH, bits=17)


def test_a_datetime_is_not_a_date() -> None:
    with pytest.raises(InvalidField, match="must be a date"):
        days_from_date(datetime(2025, 1, 1, tzinfo=UTC))  # type: ignore[arg-type]


@given(st.dates(DATE_MIN, DATE_MAX))
def test_every_date_round_trips(day: date) -> None:
    assert date_from_days(days_from_date(day)) == day


# --- date-times ----------------------------------------------------------------------------------


@pytest.mark.parametrize("switch", SPRING)
def test_spring_forward_skips_the_hour(switch: datetime) -> None:
    before = switch - timedelta(minutes=1)
    assert to_local(before).strftime("%H:%M %Z") == "01:59 CET"
    assert to_local(switch).strftime("%H:%M %Z") == "03:00 CEST"
    # One real minute apart, one stored minute-of-day jump of 61.
    assert encode_stamp(switch) - encode_stamp(before) == 61 << 1
    assert decode_stamp(encode_stamp(before)) == before
    assert decode_stamp(encode_stamp(switch)) == switch


@pytest.mark.parametrize("switch", SPRING)
@pytest.mark.parametrize("fold", [0, 1])
def test_a_time_inside_the_spring_gap_is_corrupt(switch: datetime, fold: int) -> None:
    day = to_local(switch).date()
    with pytest.raises(CorruptRecord, match="does not exist"):
        decode_stamp(raw_stamp(day, 2, 30, fold))


@pytest.mark.parametrize("switch", AUTUMN)
def test_the_repeated_autumn_hour_keeps_both_passes_apart(switch: datetime) -> None:
    first = switch - timedelta(minutes=30)  # 02:30 CEST
    second = switch + timedelta(minutes=30)  # 02:30 CET
    assert to_local(first).strftime("%H:%M %Z") == "02:30 CEST"
    assert to_local(second).strftime("%H:%M %Z") == "02:30 CET"
    day = to_local(switch).date()
    assert encode_stamp(first) == raw_stamp(day, 2, 30, fold=0)
    assert encode_stamp(second) == raw_stamp(day, 2, 30, fold=1)
    assert decode_stamp(encode_stamp(first)) == first
    assert decode_stamp(encode_stamp(second)) == second


@pytest.mark.parametrize("switch", SPRING + AUTUMN)
def test_every_minute_around_a_switch_round_trips_and_stays_distinct(switch: datetime) -> None:
    minutes = [switch + timedelta(minutes=m) for m in range(-180, 181)]
    encoded = [encode_stamp(t) for t in minutes]
    assert len(set(encoded)) == len(encoded)
    assert [decode_stamp(v) for v in encoded] == minutes


@pytest.mark.parametrize("when", [datetime(2025, 7, 1, 12, 0), datetime(2025, 10, 26, 4, 0)])
def test_fold_outside_the_repeated_hour_is_corrupt(when: datetime) -> None:
    with pytest.raises(CorruptRecord, match="fold bit"):
        decode_stamp(raw_stamp(when.date(), when.hour, when.minute, fold=1))


def test_impossible_stored_values_are_corrupt() -> None:
    with pytest.raises(CorruptRecord, match="absent"):
        decode_stamp(raw_stamp(DATE_EPOCH, 12, 0))
    with pytest.raises(CorruptRecord, match="beyond 23:59"):
        decode_stamp(9000 << 12 | 1440 << 1)
    with pytest.raises(CorruptRecord, match="bits"):
        decode_stamp(1 << STAMP_BITS)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidField, match="timezone-aware"):
        encode_stamp(datetime(2025, 1, 1, 12, 0))
    with pytest.raises(InvalidField, match="timezone-aware"):
        local_date(datetime(2025, 1, 1, 12, 0))


def test_seconds_are_floored_to_the_minute() -> None:
    at = datetime(2025, 5, 1, 10, 15, 59, 999999, tzinfo=UTC)
    assert decode_stamp(encode_stamp(at)) == datetime(2025, 5, 1, 10, 15, tzinfo=UTC)
    assert floor_minute(at) == datetime(2025, 5, 1, 10, 15, tzinfo=UTC)


def test_stamp_range_edges() -> None:
    assert to_local(STAMP_MIN).replace(tzinfo=None) == datetime(2000, 1, 2, 0, 0)
    assert to_local(STAMP_MAX).replace(tzinfo=None) == datetime(2179, 6, 6, 23, 59)
    assert decode_stamp(encode_stamp(STAMP_MIN)) == STAMP_MIN
    assert decode_stamp(encode_stamp(STAMP_MAX)) == STAMP_MAX
    with pytest.raises(InvalidField):
        encode_stamp(STAMP_MIN - timedelta(minutes=1))
    with pytest.raises(InvalidField):
        encode_stamp(STAMP_MAX + timedelta(minutes=1))


def test_local_date_is_the_prague_calendar_day() -> None:
    # 22:30 UTC on 25 October 2025 is already 00:30 on the 26th in Prague (CEST).
    assert local_date(datetime(2025, 10, 25, 22, 30, tzinfo=UTC)) == date(2025, 10, 26)
    # In winter the day turns an hour later.
    assert local_date(datetime(2025, 12, 31, 22, 30, tzinfo=UTC)) == date(2025, 12, 31)
    assert local_date(datetime(2025, 12, 31, 23, 0, tzinfo=UTC)) == date(2026, 1, 1)


@given(st.integers(0, int((STAMP_MAX - STAMP_MIN).total_seconds()) // 60))
def test_every_instant_in_range_round_trips(minutes: int) -> None:
    at = STAMP_MIN + timedelta(minutes=minutes)
    assert decode_stamp(encode_stamp(at)) == at


@given(st.integers(0, (1 << STAMP_BITS) - 1))
def test_any_stored_value_decodes_canonically_or_is_corrupt(value: int) -> None:
    try:
        at = decode_stamp(value)
    except CorruptRecord:
        return
    assert encode_stamp(at) == value


def test_the_zone_database_ships_with_the_tzdata_package() -> None:
    # A validator image may have no /usr/share/zoneinfo; Prague must still resolve.
    zoneinfo.reset_tzpath(to=[])
    try:
        prague = zoneinfo.ZoneInfo.no_cache("Europe/Prague")
        assert datetime(2025, 7, 1, tzinfo=prague).utcoffset() == timedelta(hours=2)
    finally:
        zoneinfo.reset_tzpath()
    assert PRAGUE.key == "Europe/Prague"
