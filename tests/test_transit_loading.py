"""Loading coupons onto the emulated card: the slot chosen, the log record, idempotence by
serial, and every refusal naming its rule."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator.reader import EmulatorReader
from ekarta.transit import (
    CardKind,
    CardRecord,
    CardStatus,
    Coupon,
    CouponSigner,
    CouponType,
    EventKind,
    Profile,
    PurchaseRequest,
    Reason,
    SaleChannel,
    SignedCoupon,
    Zones,
    encode_slot,
)
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.lifecycle import block_card
from ekarta.transit.cardio.loading import (
    LoadRefused,
    Purchase,
    PurchaseRefused,
    load_coupon,
    signing_for_card,
)
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import AID, SLOTS_FILE
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.timecodec import PRAGUE

UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = 1234567894
TODAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
_serials = itertools.count(5000)

RECORD = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.ADULT_NON_TRANSFERABLE, first_name="Jan", surname="Novák")


def tap(reader) -> DESFire:
    reader.card.reset()
    return DESFire(reader)


def make_reader(keystore, record=RECORD, uid=UID):
    reader = EmulatorReader(uid=uid)
    issue_card(DESFire(reader), keystore, record)
    return reader


@pytest.fixture
def reader(keystore):
    with make_reader(keystore) as reader:
        yield reader


def coupon(start: date = TODAY, serial: int | None = None,
           kind: CouponType = CouponType.DAYS_30) -> Coupon:
    return Coupon(next(_serials) if serial is None else serial, kind,
                  Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)), start, kind.end_date(start),
                  start, SaleChannel.TICKET_OFFICE)


def signed(keystore, c: Coupon, *, uid=UID, number=NUMBER) -> SignedCoupon:
    return keystore.signer().sign(c, uid=uid, card_number=number)


def load(reader, keystore, what, at=AT):
    return load_coupon(tap(reader), keystore, what, at=at, device=42)


def test_a_coupon_goes_into_the_first_empty_slot_with_a_log_record(reader, keystore):
    first = signed(keystore, coupon())
    result = load(reader, keystore, first)
    assert (result.slot, result.already_loaded) == (0, False)
    image = read_card(tap(reader), keystore)
    assert image.slots[0] == first
    (event,) = image.events
    assert (event.kind, event.result, event.coupon_serial, event.device, event.sequence) == \
        (EventKind.LOAD, Reason.VALID, first.serial, 42, 1)
    assert event.at == AT.replace(second=0)
    second = signed(keystore, coupon())
    assert load(reader, keystore, second).slot == 1
    assert read_card(tap(reader), keystore).events[-1].sequence == 2


def test_a_coupon_sold_unsigned_is_signed_for_the_card_in_the_field(reader, keystore):
    sold = coupon()
    result = load(reader, keystore, signing_for_card(keystore, sold))
    assert result.signed.coupon == sold
    assert keystore.verifier().verify(result.signed, uid=UID, card_number=NUMBER)
    assert read_card(tap(reader), keystore).slots[result.slot] == result.signed


def test_loading_the_same_serial_again_changes_nothing(reader, keystore):
    one = signed(keystore, coupon())
    load(reader, keystore, one)
    revision = reader.card.revision
    again = load(reader, keystore, one, at=AT + timedelta(days=1))
    assert again.already_loaded and again.slot == 0 and again.event is None
    assert reader.card.revision == revision
    image = read_card(tap(reader), keystore)
    assert image.coupons == (one,) and len(image.events) == 1


def test_an_ended_coupons_slot_is_reused_first_when_no_slot_is_empty(reader, keystore):
    old = [signed(keystore, coupon(TODAY - timedelta(days=d))) for d in (120, 60)]
    for c in old:  # loaded back when they were valid
        load(reader, keystore, c, at=datetime.combine(c.coupon.valid_from, AT.timetz()))
    current = [signed(keystore, coupon(TODAY + timedelta(days=d))) for d in (0, 30, 60)]
    for c in current:
        load(reader, keystore, c)
    new = signed(keystore, coupon(TODAY + timedelta(days=90)))
    assert load(reader, keystore, new).slot == 0  # the coupon that ended longest ago
    newer = signed(keystore, coupon(TODAY + timedelta(days=120)))
    assert load(reader, keystore, newer).slot == 1
    image = read_card(tap(reader), keystore)
    assert [c.serial for c in image.coupons] == [new.serial, newer.serial,
                                                 *(c.serial for c in current)]


def test_a_card_with_five_live_coupons_has_no_free_slot(reader, keystore):
    for d in range(5):
        load(reader, keystore, signed(keystore, coupon(TODAY + timedelta(days=30 * d))))
    with pytest.raises(LoadRefused) as info:
        load(reader, keystore, signed(keystore, coupon(TODAY + timedelta(days=200))))
    assert info.value.refusal.reason is Reason.NO_FREE_SLOT
    assert "no-free-slot" in str(info.value)


def test_a_coupon_signed_for_another_card_is_refused(reader, keystore):
    for other in ({"uid": bytes.fromhex("04112233445566")}, {"number": 1000000005}):
        with pytest.raises(LoadRefused, match="signature-invalid"):
            load(reader, keystore, signed(keystore, coupon(), **other))
    assert read_card(tap(reader), keystore).coupons == ()


def test_a_coupon_signed_with_another_key_is_refused(reader, keystore):
    forged = CouponSigner.generate().sign(coupon(), uid=UID, card_number=NUMBER)
    with pytest.raises(LoadRefused) as info:
        load(reader, keystore, forged)
    assert info.value.refusal.reason is Reason.SIGNATURE_INVALID


def test_an_ended_coupon_is_refused(reader, keystore):
    with pytest.raises(LoadRefused, match="expired"):
        load(reader, keystore, signed(keystore, coupon(TODAY - timedelta(days=40))))


@pytest.mark.parametrize(("status", "reason"), [(CardStatus.BLOCKED, Reason.CARD_BLOCKED),
                                                (CardStatus.PRODUCED, Reason.CARD_NOT_ACTIVE)])
def test_a_card_that_is_not_active_takes_no_coupon(keystore, status, reason):
    blocked = status is CardStatus.BLOCKED  # a card is issued active, and blocked afterwards
    record = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE if blocked else status,
                        date(2030, 12, 31), Profile.ADULT_NON_TRANSFERABLE, first_name="Jan",
                        surname="Novák")
    with make_reader(keystore, record) as reader:
        if blocked:
            block_card(tap(reader), keystore, at=AT)
        with pytest.raises(LoadRefused) as info:
            load(reader, keystore, signed(keystore, coupon()))
        assert info.value.refusal.reason is reason


def test_the_event_log_keeps_the_last_eight_loads(reader, keystore):
    serials = []
    for d in range(10):
        day = TODAY + timedelta(days=30 * d)
        c = signed(keystore, coupon(day))
        serials.append(c.serial)
        load(reader, keystore, c, at=datetime.combine(day, AT.timetz()))
    image = read_card(tap(reader), keystore)
    assert [e.coupon_serial for e in image.events] == serials[2:]
    assert [e.sequence for e in image.events] == list(range(3, 11))


def test_a_purchase_checked_against_the_card_and_signed_in_one_tap(reader, keystore):
    sale = Purchase(keystore, PurchaseRequest(CouponType.DAYS_30, range(1, 12),
                                              SaleChannel.TICKET_OFFICE),
                    today=TODAY, serial=777, price=550)
    result = load(reader, keystore, sale)
    assert result.serial == 777
    assert result.signed.coupon.zones.network
    assert sale.decision is not None and sale.decision.ok
    assert keystore.verifier().verify(result.signed, uid=UID, card_number=NUMBER)


def test_a_refused_purchase_writes_nothing(reader, keystore):
    for d in range(4):
        load(reader, keystore, signed(keystore, coupon(TODAY + timedelta(days=30 * d))))
    revision = reader.card.revision
    sale = Purchase(keystore, PurchaseRequest(CouponType.DAYS_30, [1], SaleChannel.KIOSK),
                    today=TODAY, serial=778)
    with pytest.raises(PurchaseRefused, match="too-many-coupons") as info:
        load(reader, keystore, sale)
    assert [r.reason for r in info.value.refusals] == [Reason.TOO_MANY_COUPONS]
    assert reader.card.revision == revision


def test_a_forged_coupon_on_the_card_does_not_count_against_the_limit(reader, keystore):
    for d in range(3):
        load(reader, keystore, signed(keystore, coupon(TODAY + timedelta(days=30 * d))))
    forged = CouponSigner.generate().sign(coupon(), uid=UID, card_number=NUMBER)
    reader.card.state.applications[AID].files[SLOTS_FILE.file_no].data[4 * 96:5 * 96] = \
        encode_slot(forged)
    sale = Purchase(keystore, PurchaseRequest(CouponType.DAYS_30, [1], SaleChannel.KIOSK),
                    today=TODAY, serial=779)
    assert load(reader, keystore, sale).slot == 3


def test_reason_codes_are_stable_names():
    assert enum_name(Reason.SIGNATURE_INVALID) == "signature-invalid"
    assert enum_name(Reason.BANK_TRANSFER_TOO_EARLY) == "bank-transfer-too-early"


def test_a_different_coupon_under_a_held_serial_leaves_the_card_as_it_was(reader, keystore):
    paid = signed(keystore, coupon(serial=8101))
    load(reader, keystore, paid)
    revision = reader.card.revision
    other = signed(keystore, coupon(TODAY + timedelta(days=30), serial=8101))
    with pytest.raises(LoadRefused) as info:
        load(reader, keystore, other)
    assert info.value.refusal.reason is Reason.SERIAL_HELD_BY_OTHER_COUPON
    assert "serial-held-by-other-coupon" in str(info.value)
    assert reader.card.revision == revision
    assert read_card(tap(reader), keystore).coupons == (paid,)


def _sale(keystore, serial: int, start: date = TODAY) -> Purchase:
    return Purchase(keystore, PurchaseRequest(CouponType.DAYS_30, (1, 2),
                                              SaleChannel.TICKET_OFFICE, start=start),
                    today=TODAY, serial=serial, price=550)


def test_a_sale_retried_on_a_card_it_filled_is_already_loaded(reader, keystore):
    for d in (30, 60, 90):
        load(reader, keystore, signed(keystore, coupon(TODAY + timedelta(days=d))))
    first = load(reader, keystore, _sale(keystore, 8201))  # the fourth live coupon
    revision = reader.card.revision
    again = load(reader, keystore, _sale(keystore, 8201))
    assert again.already_loaded and again.slot == first.slot and again.signed == first.signed
    assert reader.card.revision == revision
    # A fifth sale under a new serial is still refused by the limit.
    with pytest.raises(PurchaseRefused, match="too-many-coupons"):
        load(reader, keystore, _sale(keystore, 8202))


def test_another_sale_under_a_held_serial_is_refused(reader, keystore):
    load(reader, keystore, _sale(keystore, 8301))
    revision = reader.card.revision
    with pytest.raises(LoadRefused) as info:
        load(reader, keystore, _sale(keystore, 8301, start=TODAY + timedelta(days=3)))
    assert info.value.refusal.reason is Reason.SERIAL_HELD_BY_OTHER_COUPON
    assert reader.card.revision == revision
