"""The files a terminal gets from the back office: the coupon file (a coupon as JSON, signed or to
be signed) and the hotlist (blocked card numbers).  Both are hostile input: whatever is wrong is a
CouponFileError or HotlistError naming it, with the messages the command line prints."""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ekarta.errors import EkartaError
from ekarta.transit import (
    NETWORK,
    CardNumber,
    Coupon,
    CouponSigner,
    CouponType,
    Profile,
    SaleChannel,
    SignedCoupon,
    Zones,
)
from ekarta.transit.codec.coupon_file import MAX_COUPON_FILE, CouponDocument, read_coupon_file
from ekarta.transit.codec.hotlist import MAX_HOTLIST_FILE, parse_hotlist, read_hotlist
from ekarta.transit.errors import CouponFileError, HotlistError, InvalidField

UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = CardNumber("1234567894")
SIGNER = CouponSigner.generate()


def a_coupon(**changes: object) -> Coupon:
    fields: dict[str, object] = {
        "serial": 1001, "coupon_type": CouponType.DAYS_30, "profile": Profile.STUDENT,
        "zones": Zones((1, 2, 5)), "valid_from": date(2026, 12, 1),
        "valid_to": date(2026, 12, 30), "sale_date": date(2026, 11, 20),
        "channel": SaleChannel.TICKET_OFFICE, "device": 0, "price": 550}
    fields.update(changes)
    return Coupon(**fields)  # type: ignore[arg-type]


def signed() -> SignedCoupon:
    return SIGNER.sign(a_coupon(), uid=UID, card_number=NUMBER)


# --- the coupon file -----------------------------------------------------------------------------


def test_a_signed_coupon_file_reads_as_it_was_written() -> None:
    document = CouponDocument.of(signed(), card_number=NUMBER, uid=UID)
    doc = document.to_json()
    assert doc == {
        "serial": 1001, "type": "30-day", "profile": "student", "zones": [1, 2, 5],
        "valid_from": "2026-12-01", "valid_to": "2026-12-30", "sale_date": "2026-11-20",
        "channel": "ticket-office", "device": 0, "price": 550,
        "signature": signed().signature.hex(), "card_number": "1234567894",
        "uid": "04A1B2C3D4E5F6"}
    back = CouponDocument.from_json(json.loads(json.dumps(doc)))
    assert back == document
    assert back.signed == signed()
    assert SIGNER.verifier.verify(back.signed, uid=UID, card_number=NUMBER)


def test_an_unsigned_coupon_file() -> None:
    document = CouponDocument.of(a_coupon(zones=NETWORK, device=7, price=0))
    doc = document.to_json()
    assert doc["zones"] == "network" and "signature" not in doc and "uid" not in doc
    del doc["device"], doc["price"]
    back = CouponDocument.from_json(doc)
    assert back.signed is None and back.coupon == a_coupon(zones=NETWORK, device=0, price=0)


@given(st.sampled_from(CouponType), st.sampled_from(Profile), st.sampled_from(SaleChannel),
       st.one_of(st.just(NETWORK), st.sets(st.integers(1, 1023), min_size=1, max_size=10).map(
           lambda s: Zones(tuple(s)))),
       st.integers(1, 2**32 - 1), st.binary(min_size=64, max_size=64),
       st.integers(0, 999_999_999).map(CardNumber.from_serial))
def test_every_coupon_round_trips_through_its_document(
        kind: CouponType, profile: Profile, channel: SaleChannel, zones: Zones, serial: int,
        signature: bytes, number: CardNumber) -> None:
    coupon = a_coupon(coupon_type=kind, profile=profile, channel=channel, zones=zones,
                      serial=serial)
    document = CouponDocument.of(SignedCoupon(coupon, signature), card_number=number, uid=UID)
    assert CouponDocument.from_json(json.loads(json.dumps(document.to_json()))) == document


def changed(**changes: object) -> dict[str, object]:
    doc = CouponDocument.of(signed()).to_json()
    for name, value in changes.items():
        if value is None:
            del doc[name]
        else:
            doc[name] = value
    return doc


@pytest.mark.parametrize(("doc", "message"), [
    ([1], "coupon file: expected a JSON object"),
    (changed(serial2=1), "coupon file: unknown fields serial2"),
    (changed(type="31-day"), "type must be one of 30-day, 90-day, yearly, dog, "
                             "transferable-30-day, transferable-90-day, transferable-yearly, "
                             "not '31-day'"),
    (changed(profile=3), "coupon file: profile is missing or of the wrong type"),
    (changed(serial="x"), "coupon file: serial is missing or of the wrong type"),
    (changed(serial=None), "coupon file: serial is missing or of the wrong type"),
    (changed(serial=0), "coupon file: serial must be an integer 1..4294967295, not 0"),
    (changed(price=True), "coupon file: price must be an integer 0..524287, not True"),
    (changed(zones="all"), 'coupon file: zones must be a list of zone numbers or "network"'),
    (changed(zones=[1, True]), 'coupon file: zones must be a list of zone numbers or "network"'),
    (changed(zones=list(range(1, 13))),
     "coupon file: a coupon needs 1..10 zones or the network, not 12 zones"),
    (changed(valid_to="2026-13-01"), "coupon file: valid_to is not an ISO date"),
    (changed(valid_to="2026-01-01"),
     "coupon file: valid_to 2026-01-01 is before valid_from 2026-12-01"),
    (changed(signature="abcd"), "coupon file: signature must be 64 bytes in hex"),
    (changed(signature="zz" * 64), "coupon file: signature must be 64 bytes in hex"),
    (changed(card_number="1234567895"), "coupon file: card number '1234567895' fails its check"),
    (changed(card_number=1234567894), "coupon file: card_number is missing or of the wrong type"),
    (changed(uid="04A1"), "coupon file: uid must be 4, 7 or 10 bytes in hex"),
    (changed(uid="not hex"), "coupon file: uid must be 4, 7 or 10 bytes in hex"),
])
def test_what_is_wrong_with_a_coupon_file_is_named(doc: object, message: str) -> None:
    with pytest.raises(CouponFileError) as info:
        CouponDocument.from_json(doc)
    assert str(info.value).startswith(message)
    assert isinstance(info.value, EkartaError)


def test_a_document_holds_only_what_a_file_can_carry() -> None:
    with pytest.raises(InvalidField, match="signature must be 64 bytes"):
        CouponDocument(a_coupon(), b"short")
    with pytest.raises(InvalidField, match="check digit"):
        CouponDocument(a_coupon(), card_number=1234567895)  # type: ignore[arg-type]
    with pytest.raises(InvalidField, match="card UID"):
        CouponDocument(a_coupon(), uid=b"\x01")
    assert CouponDocument(a_coupon(), card_number=1234567894).card_number == NUMBER  # type: ignore[arg-type]


def test_reading_a_coupon_file(tmp_path) -> None:
    path = tmp_path / "sale.json"
    path.write_text(json.dumps(CouponDocument.of(signed()).to_json()))
    assert read_coupon_file(path).signed == signed()
    with pytest.raises(CouponFileError, match=r"cannot read coupon file .*missing\.json: No such"):
        read_coupon_file(tmp_path / "missing.json")
    path.write_text("not json")
    with pytest.raises(CouponFileError, match=r"sale\.json is not a JSON coupon file: Expecting"):
        read_coupon_file(path)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(CouponFileError, match="is not a JSON coupon file"):
        read_coupon_file(path)
    path.write_bytes(b" " * (MAX_COUPON_FILE + 1))
    with pytest.raises(CouponFileError, match="is too large to be a coupon file"):
        read_coupon_file(path)


# --- the hotlist ---------------------------------------------------------------------------------


def test_a_hotlist_holds_card_numbers_as_people_write_them() -> None:
    data = b"# blocked cards\n\n123 456 789 4  # lost\n  0000000000\n123-456-790-1\n"
    assert parse_hotlist(data) == {NUMBER, CardNumber("0000000000"), CardNumber("1234567901")}
    assert parse_hotlist(b"") == frozenset()


def test_a_hotlist_line_that_is_not_a_card_number_is_an_error_naming_it() -> None:
    with pytest.raises(HotlistError) as info:
        parse_hotlist(b"1234567894\n# ok\n1234567895\n", "blocked.txt")
    assert str(info.value) == ("blocked.txt:3: card number '1234567895' fails its check digit "
                               "(a digit is wrong or two neighbouring digits are swapped)")
    with pytest.raises(HotlistError, match=r"hotlist:1: card number has a non-digit"):
        parse_hotlist("1234567894\u202e\n".encode())
    with pytest.raises(HotlistError, match=r"hotlist:1: .*non-digit character '\\ufffd'"):
        parse_hotlist(b"12345\xff67894\n")


def test_reading_a_hotlist(tmp_path) -> None:
    path = tmp_path / "hot.txt"
    path.write_text("1234567894\n")
    assert read_hotlist(path) == {NUMBER}
    with pytest.raises(HotlistError, match=r"cannot read hotlist .*nothere\.txt: No such file"):
        read_hotlist(tmp_path / "nothere.txt")
    with pytest.raises(HotlistError, match=r"cannot read hotlist .*: Is a directory"):
        read_hotlist(tmp_path)
    with path.open("wb") as f:
        f.truncate(MAX_HOTLIST_FILE + 1)
    with pytest.raises(HotlistError, match=r"hotlist .*hot\.txt is too large"):
        read_hotlist(path)
