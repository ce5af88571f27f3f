"""A ticket office's operations on the emulated card: the e-purse (credit, debit, refund) and a
coupon cancelled or replaced; each logged on the card, refused with its reason where the rules
say no, and done once however often it is retried."""

from __future__ import annotations

import itertools
from dataclasses import replace
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
    Reason,
    SaleChannel,
    Zones,
)
from ekarta.transit.cardio.coupons import CouponRefused, cancel_coupon, replace_coupon
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.loading import load_coupon
from ekarta.transit.cardio.purse import PurseRefused, credit_purse, debit_purse, refund_purse
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import CARD_RECORD_FILE, PURSE_UPPER_LIMIT, KeyRole
from ekarta.transit.codec.records import encode_card_record
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.timecodec import PRAGUE

UID = bytes.fromhex("04C1C2C3C4C5C6")
NUMBER = 1234567894
TODAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
_serials = itertools.count(9000)

RECORD = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                    Profile.ADULT_NON_TRANSFERABLE, first_name="Jan", surname="Novák")


def tap(reader) -> DESFire:
    reader.card.reset()
    return DESFire(reader)


@pytest.fixture
def reader(keystore):
    with EmulatorReader(uid=UID) as reader:
        issue_card(DESFire(reader), keystore, RECORD)
        yield reader


def card_with(keystore, **changes):
    reader = EmulatorReader(uid=UID)
    issue_card(DESFire(reader), keystore, replace(RECORD, **changes))
    return reader


def image(reader, keystore):
    return read_card(tap(reader), keystore)


def coupon(start: date = TODAY, serial: int | None = None) -> Coupon:
    kind = CouponType.DAYS_30
    return Coupon(next(_serials) if serial is None else serial, kind,
                  Profile.ADULT_NON_TRANSFERABLE, Zones((1, 2)), start, kind.end_date(start),
                  start, SaleChannel.TICKET_OFFICE, 0, 550)


def signed(keystore, c: Coupon):
    return keystore.signer().sign(c, uid=UID, card_number=NUMBER)


# --- the e-purse ----------------------------------------------------------------------------------


def test_credit_debit_refund_move_the_balance_and_log_each_operation(reader, keystore):
    credited = credit_purse(tap(reader), keystore, 15_050, serial=1, at=AT, device=7)
    assert (credited.amount, credited.balance_before, credited.balance) == (15_050, 0, 15_050)
    debited = debit_purse(tap(reader), keystore, 2_000, serial=2, at=AT, device=7)
    assert (debited.balance_before, debited.balance) == (15_050, 13_050)
    refunded = refund_purse(tap(reader), keystore, serial=3, at=AT, device=7)
    assert (refunded.amount, refunded.balance_before, refunded.balance) == (13_050, 13_050, 0)
    card = image(reader, keystore)
    assert card.purse == 0
    assert [(e.kind, e.coupon_serial, e.device, e.result) for e in card.events] == [
        (EventKind.PURSE_CREDIT, 1, 7, Reason.VALID), (EventKind.PURSE_DEBIT, 2, 7, Reason.VALID),
        (EventKind.PURSE_REFUND, 3, 7, Reason.VALID)]
    assert [e.sequence for e in card.events] == [1, 2, 3]


def test_an_operation_retried_with_its_serial_is_done_once(reader, keystore):
    credit_purse(tap(reader), keystore, 10_000, serial=11, at=AT)
    revision = reader.card.revision
    again = credit_purse(tap(reader), keystore, 10_000, serial=11, at=AT)
    assert again.already_done and again.amount == 0 and again.balance == 10_000
    assert reader.card.revision == revision
    debit_purse(tap(reader), keystore, 500, serial=12, at=AT)
    assert debit_purse(tap(reader), keystore, 500, serial=12, at=AT).already_done
    refund_purse(tap(reader), keystore, serial=13, at=AT)
    assert refund_purse(tap(reader), keystore, serial=13, at=AT).already_done
    assert image(reader, keystore).purse == 0


def test_a_serial_logged_by_another_purse_operation_is_refused(reader, keystore):
    credit_purse(tap(reader), keystore, 1_000, serial=21, at=AT)
    with pytest.raises(PurseRefused) as info:
        debit_purse(tap(reader), keystore, 100, serial=21, at=AT)
    assert info.value.refusal.reason is Reason.OPERATION_SERIAL_USED
    assert image(reader, keystore).purse == 1_000


def test_the_purse_stays_within_zero_and_its_upper_limit(reader, keystore):
    credit_purse(tap(reader), keystore, PURSE_UPPER_LIMIT - 100, serial=31, at=AT)
    with pytest.raises(PurseRefused) as info:
        credit_purse(tap(reader), keystore, 101, serial=32, at=AT)
    assert info.value.refusal.reason is Reason.PURSE_LIMIT_EXCEEDED
    assert "10000.00 CZK" in str(info.value)
    credit_purse(tap(reader), keystore, 100, serial=33, at=AT)
    assert debit_purse(tap(reader), keystore, PURSE_UPPER_LIMIT, serial=35, at=AT).balance == 0
    with pytest.raises(PurseRefused) as info:
        debit_purse(tap(reader), keystore, 1, serial=36, at=AT)
    assert info.value.refusal.reason is Reason.PURSE_INSUFFICIENT
    with pytest.raises(PurseRefused) as info:
        refund_purse(tap(reader), keystore, serial=37, at=AT)
    assert info.value.refusal.reason is Reason.PURSE_EMPTY


@pytest.mark.parametrize("amount", [0, -1, PURSE_UPPER_LIMIT + 1, True, 1.5])
def test_an_amount_out_of_range_is_an_error(reader, keystore, amount):
    with pytest.raises(InvalidField):
        credit_purse(tap(reader), keystore, amount, serial=41, at=AT)


def block(reader, keystore) -> None:
    """Write the blocked status into the card record, as a validator does."""
    desfire = tap(reader)
    card = read_card(desfire, keystore, role=KeyRole.LOAD)
    desfire.write_data(CARD_RECORD_FILE.file_no,
                       encode_card_record(replace(card.record, status=CardStatus.BLOCKED)), 0,
                       comm=CARD_RECORD_FILE.comm)
    desfire.commit_transaction()


@pytest.mark.parametrize("case", ["blocked", "produced", "expired"])
def test_a_card_that_is_not_usable_takes_no_credit_or_debit(keystore, case):
    status = CardStatus.PRODUCED if case == "produced" else CardStatus.ACTIVE
    at = datetime(2031, 1, 2, 9, 0, tzinfo=PRAGUE) if case == "expired" else AT
    reason = {"blocked": Reason.CARD_BLOCKED, "produced": Reason.CARD_NOT_ACTIVE,
              "expired": Reason.CARD_EXPIRED}[case]
    with card_with(keystore, status=status) as reader:
        if case == "blocked":
            block(reader, keystore)
        for operation in (credit_purse, debit_purse):
            with pytest.raises(PurseRefused) as info:
                operation(tap(reader), keystore, 100, serial=51, at=at)
            assert info.value.refusal.reason is reason
        assert image(reader, keystore).events == ()


def test_a_blocked_cards_balance_is_paid_back(reader, keystore):
    credit_purse(tap(reader), keystore, 4_200, serial=61, at=AT)
    block(reader, keystore)
    assert refund_purse(tap(reader), keystore, serial=62, at=AT).amount == 4_200
    assert image(reader, keystore).purse == 0


# --- cancelling and replacing coupons -------------------------------------------------------------


def test_a_cancel_empties_the_slot_and_logs_the_serial(reader, keystore):
    one, two = signed(keystore, coupon()), signed(keystore, coupon(TODAY + timedelta(days=30)))
    load_coupon(tap(reader), keystore, one, at=AT)
    load_coupon(tap(reader), keystore, two, at=AT)
    result = cancel_coupon(tap(reader), keystore, one.serial, at=AT, device=3)
    assert (result.slot, result.removed, result.already_done) == (0, one, False)
    card = image(reader, keystore)
    assert card.slots[:2] == (None, two) and card.errors == ()
    last = card.events[-1]
    assert (last.kind, last.coupon_serial, last.device) == (EventKind.COUPON_CANCEL,
                                                            one.serial, 3)
    revision = reader.card.revision
    assert cancel_coupon(tap(reader), keystore, one.serial, at=AT).already_done
    assert reader.card.revision == revision
    with pytest.raises(CouponRefused) as info:
        cancel_coupon(tap(reader), keystore, 424242, at=AT)
    assert info.value.refusal.reason is Reason.COUPON_NOT_ON_CARD


def test_a_replace_puts_the_re_signed_coupon_in_place(reader, keystore):
    old = signed(keystore, coupon())
    load_coupon(tap(reader), keystore, old, at=AT)
    corrected = signed(keystore, replace(old.coupon, zones=Zones((1, 2, 3))))
    result = replace_coupon(tap(reader), keystore, old.serial, corrected, at=AT)
    assert (result.slot, result.removed, result.signed) == (0, old, corrected)
    card = image(reader, keystore)
    assert card.slots[0] == corrected
    assert (card.events[-1].kind, card.events[-1].coupon_serial) == (EventKind.COUPON_REPLACE,
                                                                     old.serial)
    revision = reader.card.revision
    assert replace_coupon(tap(reader), keystore, old.serial, corrected, at=AT).already_done
    assert reader.card.revision == revision


def test_a_replace_by_another_serial_and_its_retry(reader, keystore):
    old, held = signed(keystore, coupon()), signed(keystore, coupon(TODAY + timedelta(days=30)))
    load_coupon(tap(reader), keystore, old, at=AT)
    load_coupon(tap(reader), keystore, held, at=AT)
    new = signed(keystore, coupon(TODAY + timedelta(days=60)))
    with pytest.raises(CouponRefused) as info:  # the new serial is on the card already
        replace_coupon(tap(reader), keystore, old.serial, held, at=AT)
    assert info.value.refusal.reason is Reason.SERIAL_HELD_BY_OTHER_COUPON
    assert replace_coupon(tap(reader), keystore, old.serial, new, at=AT).slot == 0
    again = replace_coupon(tap(reader), keystore, old.serial, new, at=AT)
    assert again.already_done and again.slot == 0
    assert image(reader, keystore).slots[:2] == (new, held)


def test_a_replace_refuses_what_a_load_refuses(reader, keystore):
    old = signed(keystore, coupon())
    load_coupon(tap(reader), keystore, old, at=AT)
    forged = CouponSigner.generate().sign(replace(old.coupon, price=1), uid=UID,
                                          card_number=NUMBER)
    ended = signed(keystore, coupon(TODAY - timedelta(days=60)))
    for new, reason in ((forged, Reason.SIGNATURE_INVALID), (ended, Reason.EXPIRED)):
        with pytest.raises(CouponRefused) as info:
            replace_coupon(tap(reader), keystore, old.serial, new, at=AT)
        assert info.value.refusal.reason is reason
    with pytest.raises(CouponRefused) as info:
        replace_coupon(tap(reader), keystore, 424242, signed(keystore, coupon()), at=AT)
    assert info.value.refusal.reason is Reason.COUPON_NOT_ON_CARD
    assert image(reader, keystore).slots[0] == old
