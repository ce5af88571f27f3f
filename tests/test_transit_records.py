"""The card's files as bytes: layouts, round trips over the whole ranges, hostile input."""

from __future__ import annotations

import binascii
import unicodedata
from datetime import UTC, date, datetime, timedelta

import pytest
from construct import ConstructError
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ekarta.errors import EkartaError
from ekarta.transit import (
    CARD_RECORD_SIZE,
    EMPTY_SLOT,
    EVENT_LOG_RECORDS,
    EVENT_RECORD_SIZE,
    SLOT_COUNT,
    SLOT_SIZE,
    BlankRecord,
    CardFiles,
    CardKind,
    CardRecord,
    CardStatus,
    CorruptRecord,
    Coupon,
    CouponType,
    EventKind,
    EventRecord,
    InvalidField,
    Profile,
    Reason,
    RecordError,
    SaleChannel,
    SignedCoupon,
    SlotError,
    SlotErrorKind,
    UnknownFormatVersion,
    Zones,
    decode_card,
    decode_card_record,
    decode_event,
    decode_slot,
    encode_card_record,
    encode_event,
    encode_slot,
    split_slots,
)
from ekarta.transit.codec import records
from ekarta.transit.codec.bitparse import BitReader, BitWriter, FrameReader
from ekarta.transit.model.card_number import CARD_NUMBER_MAX, MAX_SERIAL, CardNumber
from ekarta.transit.model.timecodec import (
    BIRTH_MAX,
    BIRTH_MIN,
    DATE_EPOCH,
    DATE_MAX,
    DATE_MIN,
    STAMP_MAX,
    STAMP_MIN,
)
from ekarta.transit.model.values import (
    DEVICE_MAX,
    LINE_MAX,
    PRICE_MAX,
    SEQUENCE_MAX,
    SERIAL_MAX,
    VEHICLE_MAX,
    ZONE_MAX,
    ZONE_MIN,
)
from tests.support.properties import BUDGETS, budgeted

UID = bytes.fromhex("04A1B2C3D4E5F6")
CZECH = "aábcčdďeéěfghiíjklmnňoópqrřsštťuúůvwxyýzžAÁBCČDĎEÉĚFGHIÍJKLMNŇOÓPQRŘSŠTŤUÚŮVWXYÝZŽ -'"


def crc(data: bytes) -> bytes:
    return binascii.crc_hqx(data, 0xFFFF).to_bytes(2, "big")


def reseal(record: bytes) -> bytes:
    """``record`` with its CRC recomputed, as a forger or a buggy writer would leave it."""
    return record[:-2] + crc(record[:-2])


# --- strategies ----------------------------------------------------------------------------------


def storable(name: str) -> bool:
    return (len(name) <= 26 and len(name.encode()) <= 52
            and not any(unicodedata.category(c) in ("Cc", "Cs", "Cn") for c in name))


names = st.one_of(
    st.text(CZECH, min_size=1, max_size=26),
    st.text(min_size=1, max_size=26).map(lambda s: unicodedata.normalize("NFC", s)),
).filter(lambda s: s and storable(s))
dates = st.dates(DATE_MIN, DATE_MAX)
zones = st.one_of(
    st.just(Zones(network=True)),
    st.sets(st.integers(ZONE_MIN, ZONE_MAX), min_size=1, max_size=10).map(
        lambda s: Zones(tuple(s))),
)


@st.composite
def card_records(draw: st.DrawFn) -> CardRecord:
    common = {
        "card_number": draw(st.integers(0, MAX_SERIAL).map(CardNumber.from_serial)),
        "status": draw(st.sampled_from(CardStatus)),
        "expiry": draw(dates),
    }
    if draw(st.booleans()):
        return CardRecord(kind=CardKind.ANONYMOUS, profile=Profile.ADULT_TRANSFERABLE, **common)
    return CardRecord(
        kind=CardKind.PERSONAL,
        profile=draw(st.sampled_from([p for p in Profile if p is not Profile.ADULT_TRANSFERABLE])),
        profile_end=draw(st.none() | dates),
        birth_date=draw(st.none() | st.dates(BIRTH_MIN, BIRTH_MAX)),
        first_name=draw(names), surname=draw(names), **common)


@st.composite
def coupons(draw: st.DrawFn) -> Coupon:
    first, last = sorted((draw(dates), draw(dates)))
    return Coupon(
        serial=draw(st.integers(1, SERIAL_MAX)),
        coupon_type=draw(st.sampled_from(CouponType)),
        profile=draw(st.sampled_from(Profile)),
        zones=draw(zones), valid_from=first, valid_to=last, sale_date=draw(dates),
        channel=draw(st.sampled_from(SaleChannel)),
        device=draw(st.integers(0, DEVICE_MAX)), price=draw(st.integers(0, PRICE_MAX)))


signed_coupons = st.builds(SignedCoupon, coupons(), st.binary(min_size=64, max_size=64))

instants = st.integers(0, int((STAMP_MAX - STAMP_MIN).total_seconds()) // 60).map(
    lambda m: STAMP_MIN + timedelta(minutes=m))


@st.composite
def events(draw: st.DrawFn) -> EventRecord:
    return EventRecord(
        sequence=draw(st.integers(0, SEQUENCE_MAX)), at=draw(instants),
        kind=draw(st.sampled_from(EventKind)), result=draw(st.sampled_from(Reason)),
        device=draw(st.integers(0, DEVICE_MAX)),
        line=draw(st.none() | st.integers(1, LINE_MAX)),
        vehicle=draw(st.none() | st.integers(1, VEHICLE_MAX)),
        zone=draw(st.none() | st.integers(ZONE_MIN, ZONE_MAX)),
        coupon_serial=draw(st.none() | st.integers(1, SERIAL_MAX)))


def student() -> CardRecord:
    return CardRecord(1234567894, CardKind.PERSONAL, CardStatus.ACTIVE, date(2029, 8, 31),
                      Profile.STUDENT, date(2026, 8, 31), date(2004, 2, 29), "Žofie",
                      "Šťastná-Ďáblová")


def a_coupon(serial: int = 4242, **changes: object) -> Coupon:
    fields: dict[str, object] = {
        "serial": serial, "coupon_type": CouponType.DAYS_30, "profile": Profile.STUDENT,
        "zones": Zones((1, 5, 77)), "valid_from": date(2025, 5, 1), "valid_to": date(2025, 5, 30),
        "sale_date": date(2025, 4, 28), "channel": SaleChannel.ESHOP_CARD, "device": 513,
        "price": 330}
    fields.update(changes)
    return Coupon(**fields)  # type: ignore[arg-type]


def an_event(sequence: int = 7) -> EventRecord:
    return EventRecord(sequence, datetime(2025, 10, 26, 1, 30, tzinfo=UTC), EventKind.VALIDATION,
                       Reason.VALID, 1234, line=4, vehicle=1001, zone=77, coupon_serial=4242)


def days(day: date) -> int:
    return (day - DATE_EPOCH).days


def pack(*fields: tuple[int, int]) -> int:
    """Fields (value, width) packed most significant first, as the layouts document."""
    value = 0
    for field_value, width in fields:
        assert 0 <= field_value < 1 << width
        value = value << width | field_value
    return value


# --- sizes and layouts ---------------------------------------------------------------------------


def test_file_sizes_meet_the_issue() -> None:
    assert CARD_RECORD_SIZE == 128
    assert SLOT_SIZE == 96 and SLOT_SIZE % 32 == 0  # whole DESFire EEPROM blocks
    assert SLOT_COUNT >= 5  # four valid-or-future coupons and one being replaced
    assert EVENT_RECORD_SIZE <= 32 and EVENT_LOG_RECORDS >= 8
    assert records.coupon_body_v1.sizeof() == records.COUPON_BODY_SIZE == 29
    assert SLOT_SIZE == 1 + 29 + 64 + 2
    assert 1 + records.event_body_v1.sizeof() + 2 == EVENT_RECORD_SIZE
    assert len(encode_card_record(student())) == CARD_RECORD_SIZE
    assert len(encode_slot(SignedCoupon(a_coupon(), bytes(64)))) == SLOT_SIZE
    assert len(encode_event(an_event())) == EVENT_RECORD_SIZE


def test_coupon_slot_layout_bit_by_bit() -> None:
    signature = bytes(range(64))
    slot = encode_slot(SignedCoupon(a_coupon(), signature))
    zone_bits = pack((0, 1), (3, 4), (1, 10), (5, 10), (77, 10), *[(0, 10)] * 7)
    body = pack((4242, 32), (CouponType.DAYS_30, 5), (Profile.STUDENT, 4), (zone_bits, 105),
                (days(date(2025, 5, 1)), 16), (days(date(2025, 5, 30)), 16),
                (days(date(2025, 4, 28)), 16), (SaleChannel.ESHOP_CARD, 3), (513, 16), (330, 19))
    expected = b"\x01" + body.to_bytes(29, "big") + signature
    assert slot == expected + crc(expected)


def test_network_zones_layout() -> None:
    slot = encode_slot(SignedCoupon(a_coupon(zones=Zones(network=True)), bytes(64)))
    body = int.from_bytes(slot[1:30], "big")
    zone_bits = (body >> (232 - 32 - 5 - 4 - 105)) & ((1 << 105) - 1)
    assert zone_bits == 1 << 104


def test_card_record_layout_bit_by_bit() -> None:
    data = encode_card_record(student())
    fixed = pack((1234567894, 34), (CardKind.PERSONAL, 1), (CardStatus.ACTIVE, 2),
                 (Profile.STUDENT, 4), (days(date(2029, 8, 31)), 16),
                 (days(date(2026, 8, 31)), 16), ((date(2004, 2, 29) - date(1900, 1, 1)).days, 17),
                 (0, 6))
    first, last = "Žofie".encode(), "Šťastná-Ďáblová".encode()
    payload = b"\x01" + fixed.to_bytes(12, "big") + bytes([len(first)]) + first + bytes(
        [len(last)]) + last
    payload += bytes(126 - len(payload))
    assert data == payload + crc(payload)


def test_event_record_layout_bit_by_bit() -> None:
    data = encode_event(an_event())
    # 01:30 UTC on 26 October 2025 is 02:30 CET, the second pass: fold 1.
    stamp = days(date(2025, 10, 26)) << 12 | (2 * 60 + 30) << 1 | 1
    body = pack((7, 32), (stamp, 28), (EventKind.VALIDATION, 4), (Reason.VALID, 6), (1234, 16),
                (4, 16), (1001, 16), (77, 10), (4242, 32), (0, 8))
    expected = b"\x01" + body.to_bytes(21, "big")
    assert data == expected + crc(expected)


def test_absent_event_fields_are_stored_as_zero() -> None:
    event = EventRecord(1, datetime(2025, 1, 1, 12, tzinfo=UTC), EventKind.KIOSK_VIEW,
                        Reason.VALID, 9)
    body = int.from_bytes(encode_event(event)[1:22], "big")
    assert body & ((1 << (16 + 16 + 10 + 32 + 8)) - 1) == 0
    assert decode_event(encode_event(event)) == event


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.slow
@given(card_records())
@example(student())
def test_card_record_round_trips(record: CardRecord) -> None:
    data = encode_card_record(record)
    assert len(data) == CARD_RECORD_SIZE
    assert decode_card_record(data) == record
    assert encode_card_record(decode_card_record(data)) == data


@given(signed_coupons)
def test_slot_round_trips(signed: SignedCoupon) -> None:
    data = encode_slot(signed)
    assert len(data) == SLOT_SIZE
    decoded = decode_slot(data)
    assert decoded == signed
    assert decoded is not None and records.encode_coupon_body(decoded.coupon) == data[1:30]


@given(events())
def test_event_round_trips(event: EventRecord) -> None:
    data = encode_event(event)
    assert len(data) == EVENT_RECORD_SIZE
    assert decode_event(data) == event


@pytest.mark.parametrize(("first", "last"), [
    ("Žofie", "Šťastná"),
    ("Ďábel", "Ďáblová"),
    ("Řehoř", "Čížek-Ňuňáková"),
    ("Ůna", "Šťastný"),
    ("Олександра", "Шевченко"),
    ("a" * 26, "Ž" * 26),
])
def test_czech_and_other_names_survive(first: str, last: str) -> None:
    record = CardRecord(0, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 1, 1),
                        Profile.ADULT_NON_TRANSFERABLE, first_name=first, surname=last)
    decoded = decode_card_record(encode_card_record(record))
    assert (decoded.first_name, decoded.surname) == (first, last)


def test_decomposed_names_are_stored_composed() -> None:
    nfd = unicodedata.normalize("NFD", "Šťastný")
    record = CardRecord(0, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 1, 1),
                        Profile.ADULT_NON_TRANSFERABLE, first_name="Jan", surname=nfd)
    assert record.surname == "Šťastný" and len(record.surname) == 7
    assert "Šťastný".encode() in encode_card_record(record)


@pytest.mark.parametrize(("name", "match"), [
    ("a" * 27, "characters"),
    ("文" * 18, "bytes"),
    ("Jan\nNovák", "control"),
])
def test_names_that_do_not_fit_are_refused(name: str, match: str) -> None:
    with pytest.raises(InvalidField, match=match):
        CardRecord(0, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 1, 1),
                   Profile.ADULT_NON_TRANSFERABLE, first_name="Jan", surname=name)


def test_personal_data_stays_out_of_repr() -> None:
    text = repr(student())
    assert "Žofie" not in text and "Šťastná" not in text and "2004" not in text
    assert "1234567894" in text


# --- invariants ----------------------------------------------------------------------------------


def test_card_record_invariants() -> None:
    base = {"card_number": 0, "status": CardStatus.ACTIVE, "expiry": date(2030, 1, 1)}
    with pytest.raises(InvalidField, match="anonymous card has only"):
        CardRecord(kind=CardKind.ANONYMOUS, profile=Profile.STUDENT, **base)
    with pytest.raises(InvalidField, match="no name"):
        CardRecord(kind=CardKind.ANONYMOUS, profile=Profile.ADULT_TRANSFERABLE,
                   first_name="Jan", **base)
    with pytest.raises(InvalidField, match="anonymous cards only"):
        CardRecord(kind=CardKind.PERSONAL, profile=Profile.ADULT_TRANSFERABLE,
                   first_name="Jan", surname="Novák", **base)
    with pytest.raises(InvalidField, match="first name and a surname"):
        CardRecord(kind=CardKind.PERSONAL, profile=Profile.CHILD, first_name="Jan", **base)
    with pytest.raises(InvalidField, match="card number must be 0 to 9999999999"):
        CardRecord(**{**base, "card_number": CARD_NUMBER_MAX + 1}, kind=CardKind.ANONYMOUS,
                   profile=Profile.ADULT_TRANSFERABLE)
    with pytest.raises(InvalidField, match="fails its check digit"):
        CardRecord(**{**base, "card_number": 1234567897}, kind=CardKind.ANONYMOUS,
                   profile=Profile.ADULT_TRANSFERABLE)
    with pytest.raises(InvalidField, match="birth_date"):
        CardRecord(kind=CardKind.PERSONAL, profile=Profile.CHILD, first_name="A", surname="B",
                   birth_date=date(1899, 12, 31), **base)


@pytest.mark.parametrize(("changes", "match"), [
    ({"serial": 0}, "serial"),
    ({"serial": SERIAL_MAX + 1}, "serial"),
    ({"valid_to": date(2025, 4, 30)}, "before valid_from"),
    ({"price": PRICE_MAX + 1}, "price"),
    ({"device": -1}, "device"),
    ({"coupon_type": 99}, "CouponType"),
    ({"zones": (1, 2)}, "Zones"),
    ({"valid_from": None}, "required"),
    ({"sale_date": date(2180, 1, 1)}, "outside"),
])
def test_coupon_invariants(changes: dict[str, object], match: str) -> None:
    with pytest.raises(InvalidField, match=match):
        a_coupon(**changes)


def test_zones() -> None:
    assert Zones((77, 1, 5, 5)).numbers == (1, 5, 77)
    assert Zones.of(range(1, 11)) == Zones(tuple(range(1, 11)))
    assert Zones.of(range(1, 12)) == Zones(network=True)
    assert Zones(network=True).covers(ZONE_MAX) and not Zones((1,)).covers(2)
    for bad in [(), (0,), (ZONE_MAX + 1,), tuple(range(1, 12))]:
        with pytest.raises(InvalidField):
            Zones(bad)
    with pytest.raises(InvalidField):
        Zones((1,), network=True)
    with pytest.raises(InvalidField):
        Zones.of([*range(1, 12), 5000])


def test_event_times_are_kept_in_utc_to_the_minute() -> None:
    prague_time = datetime(2025, 10, 26, 2, 30, 45, fold=1,
                           tzinfo=__import__("zoneinfo").ZoneInfo("Europe/Prague"))
    event = EventRecord(1, prague_time, EventKind.INSPECTION, Reason.VALID, 1)
    assert event.at == datetime(2025, 10, 26, 1, 30, tzinfo=UTC)
    assert event.local_time.fold == 1
    with pytest.raises(InvalidField, match="timezone-aware"):
        EventRecord(1, datetime(2025, 1, 1), EventKind.INSPECTION, Reason.VALID, 1)


# --- empty, corrupt and unknown records ----------------------------------------------------------


def test_empty_slot_is_all_zero() -> None:
    assert encode_slot(None) == EMPTY_SLOT == bytes(SLOT_SIZE)
    assert decode_slot(EMPTY_SLOT) is None
    assert decode_event(bytes(EVENT_RECORD_SIZE)) is None
    with pytest.raises(CorruptRecord, match="marked empty"):
        decode_slot(bytes(SLOT_SIZE - 1) + b"\x01")


@pytest.mark.parametrize("bit", [0, 8, 100, 8 * 40, 8 * 95 + 7])
def test_any_flipped_bit_in_a_slot_is_detected(bit: int) -> None:
    data = bytearray(encode_slot(SignedCoupon(a_coupon(), bytes(range(64)))))
    data[bit // 8] ^= 0x80 >> (bit % 8)
    with pytest.raises(RecordError):
        decode_slot(bytes(data))


def test_wrong_sizes_are_corrupt() -> None:
    good = encode_slot(SignedCoupon(a_coupon(), bytes(64)))
    for data in (good[:-1], good + b"\0", b""):
        with pytest.raises(CorruptRecord, match="expected 96"):
            decode_slot(data)
    with pytest.raises(CorruptRecord, match="bytes"):
        decode_slot("not bytes")  # type: ignore[arg-type]


def test_unknown_slot_version_is_reported_as_such() -> None:
    data = bytearray(encode_slot(SignedCoupon(a_coupon(), bytes(64))))
    data[0] = 2
    with pytest.raises(UnknownFormatVersion) as caught:
        decode_slot(reseal(bytes(data)))
    assert caught.value.version == 2 and caught.value.known == (1,)


def test_future_card_format_is_a_clear_error() -> None:
    data = bytearray(encode_card_record(student()))
    data[0] = 7
    with pytest.raises(UnknownFormatVersion, match=r"format version 7.*update ekarta"):
        decode_card_record(bytes(data))
    with pytest.raises(UnknownFormatVersion):
        decode_card(CardFiles(UID, bytes(data)))


def test_card_number_is_a_value_with_its_check_digit() -> None:
    record = student()
    assert record.card_number == CardNumber("1234567894")
    same = CardRecord(**{**record.__dict__, "card_number": CardNumber("1234567894")})
    assert encode_card_record(same) == encode_card_record(record)
    # The 34-bit field holds the number's integer form; one that fails its check digit is a
    # corrupt record, not a card.
    fields = int.from_bytes(encode_card_record(record)[1:13], "big")
    fields ^= (1234567894 ^ 1234567897) << (96 - 34)
    data = bytearray(encode_card_record(record))
    data[1:13] = fields.to_bytes(12, "big")
    with pytest.raises(CorruptRecord, match="card record: card number '1234567897' fails"):
        decode_card_record(reseal(bytes(data)))


def test_blank_card_record() -> None:
    with pytest.raises(BlankRecord, match="not personalised"):
        decode_card_record(bytes(CARD_RECORD_SIZE))


def test_padding_after_names_must_be_zero() -> None:
    data = bytearray(encode_card_record(student()))
    data[120] = 1
    with pytest.raises(CorruptRecord, match="after the names"):
        decode_card_record(reseal(bytes(data)))


def test_field_values_that_break_invariants_are_corrupt() -> None:
    # A well-sealed slot whose valid_to precedes valid_from: a writer's bug, not a coupon.
    body = encode_slot(SignedCoupon(a_coupon(), bytes(64)))
    fields = bytearray(body)
    good = records.coupon_body_v1.build(records.coupon_body_v1.parse(fields[1:30]))
    assert good == bytes(fields[1:30])
    bad = records.coupon_body_v1.parse(good)
    bad.valid_to = date(2025, 4, 1)
    fields[1:30] = records.coupon_body_v1.build(bad)
    with pytest.raises(CorruptRecord, match="before valid_from"):
        decode_slot(reseal(bytes(fields)))


def slot_with_zone_bits(network: int, count: int, numbers: list[int]) -> bytes:
    """A sealed slot of a_coupon() whose 105 zone bits are replaced by the given ones."""
    data = bytearray(encode_slot(SignedCoupon(a_coupon(), bytes(64))))
    body = int.from_bytes(data[1:30], "big")
    shift = 232 - 32 - 5 - 4 - 105
    padded = numbers + [0] * (10 - len(numbers))
    zone_bits = pack((network, 1), (count, 4), *[(n, 10) for n in padded])
    body = body & ~(((1 << 105) - 1) << shift) | zone_bits << shift
    data[1:30] = body.to_bytes(29, "big")
    return reseal(bytes(data))


def test_well_formed_zone_bits_decode() -> None:
    decoded = decode_slot(slot_with_zone_bits(0, 2, [3, 9]))
    assert decoded is not None and decoded.coupon.zones == Zones((3, 9))


@pytest.mark.parametrize(("network", "count", "numbers", "match"), [
    (0, 2, [9, 3], "ascending"),
    (0, 2, [3, 3], "ascending"),
    (0, 2, [3, 9, 12], "count"),
    (0, 3, [3, 9], "ascending|count"),
    (0, 0, [], "count"),
    (0, 11, list(range(1, 11)), "count"),
    (0, 1, [0], "zone number"),
    (1, 1, [5], "network"),
    (1, 0, [5], "network"),
])
def test_impossible_zone_bits_are_corrupt(network: int, count: int, numbers: list[int],
                                          match: str) -> None:
    with pytest.raises(CorruptRecord, match=match):
        decode_slot(slot_with_zone_bits(network, count, numbers))


def test_unknown_enum_value_is_corrupt() -> None:
    data = bytearray(encode_slot(SignedCoupon(a_coupon(), bytes(64))))
    data[5] |= 0xF8  # coupon type = 31
    with pytest.raises(CorruptRecord, match="CouponType"):
        decode_slot(reseal(bytes(data)))


# --- hostile bytes -------------------------------------------------------------------------------


def sealed(version: int, size: int) -> st.SearchStrategy[bytes]:
    """Random records of ``size`` bytes with a matching CRC, so the fields themselves get
    exercised instead of only the checksum."""
    return st.binary(min_size=size - 3, max_size=size - 3).map(
        lambda b: bytes([version]) + b + crc(bytes([version]) + b))


@pytest.mark.parametrize("budget", BUDGETS)
def test_sealed_random_slots_decode_canonically_or_are_corrupt(budget: int) -> None:
    @budgeted(budget)
    @given(sealed(1, SLOT_SIZE))
    def check(data: bytes) -> None:
        try:
            signed = decode_slot(data)
        except CorruptRecord:
            return
        assert encode_slot(signed) == data

    check()


@pytest.mark.parametrize("budget", BUDGETS)
def test_sealed_random_events_decode_canonically_or_are_corrupt(budget: int) -> None:
    @budgeted(budget)
    @given(sealed(1, EVENT_RECORD_SIZE))
    def check(data: bytes) -> None:
        try:
            event = decode_event(data)
        except CorruptRecord:
            return
        assert encode_event(event) == data

    check()


@pytest.mark.parametrize("budget", BUDGETS)
def test_sealed_random_card_records_decode_canonically_or_are_corrupt(budget: int) -> None:
    @budgeted(budget)
    @given(st.binary(min_size=13, max_size=13), st.binary(max_size=113))
    def check(fixed: bytes, rest: bytes) -> None:
        payload = b"\x01" + fixed[1:] + rest
        payload = (payload + bytes(126))[:126]
        data = payload + crc(payload)
        try:
            record = decode_card_record(data)
        except CorruptRecord:
            return
        assert encode_card_record(record) == data

    check()


def flip(data: bytes, bits: list[int], first: int, last: int) -> bytes:
    """``data`` with the given bits flipped inside bytes first..last-1, CRC recomputed."""
    out = bytearray(data)
    for bit in bits:
        index = first + (bit // 8) % (last - first)
        out[index] ^= 0x80 >> (bit % 8)
    return reseal(bytes(out))


mutations = st.lists(st.integers(0, 8 * 200), min_size=1, max_size=3)


@pytest.mark.slow
@settings(max_examples=300)
@given(signed_coupons, mutations)
def test_mutated_slots_decode_canonically_or_are_corrupt(
        signed: SignedCoupon, bits: list[int]) -> None:
    data = flip(encode_slot(signed), bits, 1, 30)
    try:
        decoded = decode_slot(data)
    except CorruptRecord:
        return
    assert decoded is not None and encode_slot(decoded) == data


@pytest.mark.slow
@settings(max_examples=300)
@given(events(), mutations)
def test_mutated_events_decode_canonically_or_are_corrupt(
        event: EventRecord, bits: list[int]) -> None:
    data = flip(encode_event(event), bits, 1, 22)
    try:
        decoded = decode_event(data)
    except CorruptRecord:
        return
    assert decoded is not None and encode_event(decoded) == data


@pytest.mark.slow
@settings(max_examples=300)
@given(card_records(), mutations)
def test_mutated_card_records_decode_canonically_or_are_corrupt(
        record: CardRecord, bits: list[int]) -> None:
    data = flip(encode_card_record(record), bits, 1, 126)
    try:
        decoded = decode_card_record(data)
    except CorruptRecord:
        return
    assert encode_card_record(decoded) == data


def test_a_mutated_price_still_decodes_to_another_coupon() -> None:
    # The mutation tests above reach valid records, not only checksum or range failures.
    data = encode_slot(SignedCoupon(a_coupon(price=330), bytes(64)))
    decoded = decode_slot(flip(data, [8 * 28 + 7], 1, 30))
    assert decoded is not None and decoded.coupon.price == 331


@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_project_errors(data: bytes) -> None:
    for decode in (decode_slot, decode_event, decode_card_record):
        try:
            decode(data)
        except RecordError as exc:
            assert isinstance(exc, EkartaError)


@given(st.one_of(
    st.binary(min_size=29, max_size=29),
    st.builds(lambda s, bits: flip(encode_slot(s), bits, 1, 30)[1:30], signed_coupons, mutations),
))
def test_bit_reader_agrees_with_construct(data: bytes) -> None:
    reader = BitReader(records.coupon_body_v1)
    try:
        fast = reader.parse(data)
    except CorruptRecord:
        fast = None
    try:
        slow = dict(records.coupon_body_v1.parse(data))
        slow.pop("_io", None)
    except (CorruptRecord, ConstructError):
        slow = None
    assert fast == slow


def _frames(record: CardRecord, signed: SignedCoupon, event: EventRecord,
            bits: list[int]) -> list[tuple[object, bytes]]:
    """Each frame's layout with the checked part of a record of it, some bits flipped and cut
    at a length drawn from the flips (so that names run past the end too)."""
    cases = []
    for layout, record_bytes in ((records.card_record_v1, encode_card_record(record)),
                                 (records.slot_v1, encode_slot(signed)),
                                 (records.event_record_v1, encode_event(event))):
        checked = flip(record_bytes, bits, 1, len(record_bytes) - 3)[:-2]
        cases.append((layout, checked))
        cases.append((layout, checked[:bits[0] % (len(checked) + 1)]))
    return cases


@given(card_records(), signed_coupons, events(), mutations)
def test_frame_reader_agrees_with_construct(record: CardRecord, signed: SignedCoupon,
                                            event: EventRecord, bits: list[int]) -> None:
    for layout, data in _frames(record, signed, event, bits):
        try:
            fast = FrameReader(layout).parse(data)
        except CorruptRecord:
            fast = None
        # a compiled layout reads a cut record its own way: the declaration is the reference
        declared = getattr(layout, "defersubcon", layout)
        try:
            slow = dict(declared.parse(data))
            slow.pop("_io", None)
        except (CorruptRecord, ConstructError):
            slow = None
        assert fast == slow, (layout, data.hex())


def test_frame_reader_refuses_fields_it_cannot_handle() -> None:
    from construct import BitsInteger, BitStruct, Bytes, Int16ub, Padded, Struct, this

    with pytest.raises(TypeError, match="cannot read"):
        FrameReader(Struct("a" / Int16ub))
    with pytest.raises(TypeError, match="cannot read"):
        FrameReader(Struct("n" / Int16ub, "a" / Bytes(this.n)))
    with pytest.raises(TypeError, match="a construct Struct"):
        FrameReader(BitStruct("a" / BitsInteger(8)))
    with pytest.raises(TypeError, match="fixed length"):
        FrameReader(Padded(this.n, Struct("a" / Bytes(1))))


@given(card_records(), signed_coupons, events())
def test_bit_writer_agrees_with_construct(record: CardRecord, signed: SignedCoupon,
                                          event: EventRecord) -> None:
    for layout, value, names in (
            (records.card_fields_v1, record, records._CARD_NAMES),
            (records.coupon_body_v1, signed.coupon, records._COUPON_NAMES),
            (records.event_body_v1, event, records._EVENT_NAMES)):
        fields = {name: getattr(value, name) for name in names}
        if "card_number" in fields:
            fields["card_number"] = int(fields["card_number"])  # the integer form is stored
        assert BitWriter(layout).build(fields) == layout.build(fields)


@pytest.mark.parametrize("cls", [BitReader, BitWriter])
def test_bit_reader_and_writer_refuse_fields_they_cannot_handle(cls: type) -> None:
    from construct import BitsInteger, BitStruct, Bytewise, Int8ub

    with pytest.raises(TypeError, match="cannot read"):
        cls(BitStruct("a" / BitsInteger(8, signed=True)))
    with pytest.raises(TypeError, match="cannot read"):
        cls(BitStruct("a" / Bytewise(Int8ub)))
    with pytest.raises(TypeError, match="whole bytes"):
        cls(BitStruct("a" / BitsInteger(7)))


def test_bit_writer_refuses_values_that_do_not_fit() -> None:
    from construct import BitsInteger, BitStruct, Const, Flag

    writer = BitWriter(BitStruct("a" / BitsInteger(4), "b" / Flag, "c" / Const(5, BitsInteger(3))))
    assert writer.build({"a": 15, "b": True}) == bytes([0b1111_1_101])
    with pytest.raises(InvalidField, match="a: 16 does not fit 4 bits"):
        writer.build({"a": 16, "b": False})
    with pytest.raises(InvalidField, match="a must be an integer"):
        writer.build({"a": "1", "b": False})


# --- the whole card ------------------------------------------------------------------------------


def test_decode_card_keeps_bad_slots_in_place() -> None:
    good = [encode_slot(SignedCoupon(a_coupon(serial), bytes(64))) for serial in (1, 2, 3)]
    torn = bytearray(good[1])
    torn[50] ^= 0xFF
    newer = bytearray(good[2])
    newer[0] = 9
    slots = (good[0], bytes(torn), EMPTY_SLOT, reseal(bytes(newer)), good[2])
    events = (encode_event(an_event(1)), b"\x01" + bytes(23), encode_event(None),
              encode_event(an_event(2)))
    image = decode_card(CardFiles(UID, encode_card_record(student()), slots, events, 1500))

    assert image.record == student() and image.purse == 1500
    assert isinstance(image.slots[0], SignedCoupon) and image.slots[0].serial == 1
    assert isinstance(image.slots[1], SlotError)
    assert image.slots[1].kind is SlotErrorKind.CORRUPT and image.slots[1].index == 1
    assert image.slots[2] is None
    assert isinstance(image.slots[3], SlotError)
    assert image.slots[3].kind is SlotErrorKind.UNKNOWN_VERSION
    assert "version 9" in image.slots[3].message
    assert [c.serial for c in image.coupons] == [1, 3]
    assert image.free_slots == (2,)
    assert image.slot_of(3) == 4 and image.slot_of(2) is None

    assert isinstance(image.events[0], EventRecord) and isinstance(image.events[1], SlotError)
    assert len(image.events) == 3  # the empty record is dropped
    assert image.next_sequence == 3
    assert len(image.errors) == 3


def test_split_slots() -> None:
    blob = b"".join(encode_slot(SignedCoupon(a_coupon(s), bytes(64))) for s in (1, 2))
    parts = split_slots(blob + EMPTY_SLOT)
    assert len(parts) == 3 and decode_slot(parts[2]) is None
    assert len(split_slots(blob + b"\x01")) == 3  # a partial slot stays, to read as corrupt


def test_card_files_check_the_uid() -> None:
    with pytest.raises(InvalidField, match="UID"):
        CardFiles(b"\x01\x02", encode_card_record(student()))
