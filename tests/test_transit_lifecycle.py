"""The card record's life cycle: which records make sense on the day they are written (issue 9,
fault 10), what activating, blocking, unblocking and changing make of a record, and the same
operations on an emulated card: one transaction each, logged, idempotent, refused with a reason."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ekarta.desfire import DESFire
from ekarta.emulator.reader import EmulatorReader
from ekarta.transit import (
    CardKind,
    CardRecord,
    CardStatus,
    CouponError,
    EventKind,
    InvalidField,
    Profile,
    Reason,
    decode_card_record,
    encode_card_record,
)
from ekarta.transit.cardio.issuance import IssueRefused, issue_card
from ekarta.transit.cardio.lifecycle import (
    CardOperationRefused,
    activate_card,
    block_card,
    change_card_record,
    unblock_card,
)
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import KeyRole
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import (
    RecordChange,
    check_card_record,
    plan_activation,
    plan_blocking,
    plan_change,
    plan_unblocking,
)
from ekarta.transit.model.timecodec import PRAGUE

TODAY = date(2026, 11, 20)
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
UID = bytes.fromhex("04A1B2C3D4E5F6")
NUMBER = CardNumber.from_serial(123456789)

ADULT = CardRecord(NUMBER, CardKind.PERSONAL, CardStatus.ACTIVE, date(2030, 12, 31),
                   Profile.ADULT_NON_TRANSFERABLE, first_name="Jana", surname="Nováková")
STUDENT = replace(ADULT, profile=Profile.STUDENT, profile_end=date(2027, 8, 31),
                  birth_date=date(2008, 4, 1))
ANONYMOUS = CardRecord(NUMBER, CardKind.ANONYMOUS, CardStatus.ACTIVE, date(2030, 12, 31),
                       Profile.ADULT_TRANSFERABLE)


def reasons(refusals) -> list[Reason]:
    return [r.reason for r in refusals]


# --- records that make sense (fault 10) -----------------------------------------------------------


@pytest.mark.parametrize("record", [ADULT, STUDENT, ANONYMOUS,
                                    replace(ADULT, status=CardStatus.PRODUCED),
                                    replace(STUDENT, profile_end=TODAY),
                                    replace(ADULT, expiry=TODAY),
                                    replace(ADULT, profile=Profile.SENIOR),
                                    replace(ADULT, first_name="Ó", surname="Li")])
def test_sensible_records_pass(record):
    assert check_card_record(record, TODAY) == ()


@pytest.mark.parametrize(("record", "expected"), [
    (replace(ADULT, first_name=" "), Reason.NAME_BLANK),
    (replace(ADULT, surname="\u00a0\u200b"), Reason.NAME_BLANK),
    (replace(ADULT, first_name="\u2003", surname="  "), Reason.NAME_BLANK),
    (replace(ADULT, birth_date=date(2027, 1, 1)), Reason.BIRTH_DATE_IN_FUTURE),
    (replace(STUDENT, birth_date=None), Reason.BIRTH_DATE_REQUIRED),
    (replace(STUDENT, profile=Profile.CHILD, birth_date=None), Reason.BIRTH_DATE_REQUIRED),
    (replace(STUDENT, birth_date=date(2000, 11, 20)), Reason.AGE_NOT_ELIGIBLE),  # 26 today
    (replace(STUDENT, birth_date=date(2011, 11, 21)), Reason.AGE_NOT_ELIGIBLE),  # 14 today
    (replace(STUDENT, profile=Profile.CHILD, birth_date=date(2020, 11, 21)),
     Reason.AGE_NOT_ELIGIBLE),  # 5: children travel free until 6
    (replace(ADULT, profile=Profile.SENIOR, birth_date=date(1960, 1, 1)),
     Reason.AGE_NOT_ELIGIBLE),
    (replace(STUDENT, profile_end=date(2026, 11, 19)), Reason.PROFILE_END_PASSED),
    (replace(ADULT, profile_end=date(2027, 1, 1)), Reason.PROFILE_END_WITHOUT_DISCOUNT),
    (replace(ADULT, expiry=date(2026, 11, 19)), Reason.EXPIRY_PASSED),
    (replace(ADULT, status=CardStatus.BLOCKED), Reason.STATUS_NOT_ISSUABLE),
    (replace(ADULT, status=CardStatus.ORDERED), Reason.STATUS_NOT_ISSUABLE),
])
def test_records_that_make_no_sense_are_refused_with_a_reason(record, expected):
    refusals = check_card_record(record, TODAY)
    assert reasons(refusals) == [expected]
    assert refusals[0].message("en") != refusals[0].message("cs")


def test_every_rule_a_record_breaks_is_named():
    record = replace(STUDENT, first_name=" ", birth_date=None, profile_end=date(2025, 1, 1),
                     expiry=date(2026, 1, 1))
    assert reasons(check_card_record(record, TODAY)) == [
        Reason.NAME_BLANK, Reason.BIRTH_DATE_REQUIRED, Reason.PROFILE_END_PASSED,
        Reason.EXPIRY_PASSED]


def test_a_change_checks_only_what_it_sets():
    # The student profile lapsed since issuing (profile end and age): the name can still be
    # corrected, but the profile cannot be renewed for a holder who is 26 now.
    lapsed = replace(STUDENT, profile_end=date(2026, 8, 31), birth_date=date(2000, 4, 1))
    renamed = replace(lapsed, surname="Novák")
    assert check_card_record(renamed, TODAY, before=lapsed) == ()
    renewed = replace(lapsed, profile_end=date(2027, 8, 31))
    assert reasons(check_card_record(renewed, TODAY, before=lapsed)) == [Reason.AGE_NOT_ELIGIBLE]


# --- the plans ------------------------------------------------------------------------------------


def test_activation_plans():
    produced = replace(ADULT, status=CardStatus.PRODUCED)
    plan = plan_activation(produced, TODAY)
    assert plan.ok and plan.changed and plan.record == ADULT
    assert plan_activation(ADULT, TODAY) == plan_activation(ADULT, TODAY)
    assert not plan_activation(ADULT, TODAY).changed and plan_activation(ADULT, TODAY).ok
    assert reasons(plan_activation(replace(ADULT, status=CardStatus.BLOCKED), TODAY).refusals) \
        == [Reason.CARD_BLOCKED]
    ordered = plan_activation(replace(ADULT, status=CardStatus.ORDERED), TODAY)
    assert reasons(ordered.refusals) == [Reason.CARD_NOT_PRODUCED]
    assert "ordered" in ordered.refusals[0].message_en
    assert "objednáno" in ordered.refusals[0].message_cs
    expired = replace(produced, expiry=date(2026, 11, 19))
    assert reasons(plan_activation(expired, TODAY).refusals) == [Reason.CARD_EXPIRED]


@pytest.mark.parametrize("status", [CardStatus.ORDERED, CardStatus.PRODUCED, CardStatus.ACTIVE])
def test_any_card_can_be_blocked_and_a_blocked_one_stays(status):
    plan = plan_blocking(replace(ADULT, status=status))
    assert plan.changed and plan.record.status is CardStatus.BLOCKED
    blocked = plan.record
    assert plan_blocking(blocked).ok and not plan_blocking(blocked).changed


def test_unblocking_makes_the_card_active_and_refuses_a_card_not_blocked():
    plan = plan_unblocking(replace(ADULT, status=CardStatus.BLOCKED))
    assert plan.changed and plan.record == ADULT
    for status in (CardStatus.PRODUCED, CardStatus.ACTIVE):
        refused = plan_unblocking(replace(ADULT, status=status))
        assert reasons(refused.refusals) == [Reason.CARD_NOT_BLOCKED] and not refused.changed


def test_record_changes():
    renewed = plan_change(STUDENT, RecordChange(profile_end=date(2028, 8, 31)), TODAY)
    assert renewed.changed and renewed.record.profile_end == date(2028, 8, 31)
    ended = plan_change(STUDENT, RecordChange(end_profile=True), TODAY).record
    assert ended.profile is Profile.ADULT_NON_TRANSFERABLE and ended.profile_end is None
    assert ended.birth_date == STUDENT.birth_date
    full_fare = plan_change(STUDENT, RecordChange(profile=Profile.ADULT_NON_TRANSFERABLE), TODAY)
    assert full_fare.record == ended
    moved = plan_change(ADULT, RecordChange(expiry=date(2035, 1, 31)), TODAY)
    assert moved.record.expiry == date(2035, 1, 31)
    same = plan_change(ADULT, RecordChange(surname="Nováková"), TODAY)
    assert same.ok and not same.changed
    assert reasons(plan_change(ADULT, RecordChange(expiry=date(2026, 1, 1)), TODAY).refusals) \
        == [Reason.EXPIRY_PASSED]
    assert reasons(plan_change(ADULT, RecordChange(first_name="  "), TODAY).refusals) \
        == [Reason.NAME_BLANK]
    assert reasons(plan_change(ADULT, RecordChange(profile=Profile.CHILD), TODAY).refusals) \
        == [Reason.BIRTH_DATE_REQUIRED]
    blocked = replace(ADULT, status=CardStatus.BLOCKED)
    assert reasons(plan_change(blocked, RecordChange(surname="X"), TODAY).refusals) \
        == [Reason.CARD_BLOCKED]


def test_changes_that_give_no_card_record_are_invalid():
    with pytest.raises(InvalidField, match="anonymous"):
        plan_change(ANONYMOUS, RecordChange(first_name="Jana"), TODAY)
    with pytest.raises(InvalidField, match="anonymous"):
        plan_change(ANONYMOUS, RecordChange(end_profile=True), TODAY)
    with pytest.raises(InvalidField, match="ending the profile"):
        RecordChange(end_profile=True, profile=Profile.STUDENT)
    with pytest.raises(InvalidField, match="profile"):
        RecordChange(profile=99)  # type: ignore[arg-type]
    assert RecordChange().empty and not RecordChange(expiry=TODAY).empty


# --- on the card ----------------------------------------------------------------------------------


def tap(reader) -> DESFire:
    reader.card.reset()
    return DESFire(reader)


@pytest.fixture
def card(keystore):
    """A reader with a card issued as produced."""
    with EmulatorReader(uid=UID) as reader:
        issue_card(tap(reader), keystore, replace(STUDENT, status=CardStatus.PRODUCED),
                   today=TODAY)
        yield reader


def test_issuing_refuses_a_record_that_makes_no_sense_before_touching_the_card(keystore):
    with EmulatorReader(uid=UID) as reader:
        before = reader.card.commands_processed
        with pytest.raises(IssueRefused) as info:
            issue_card(tap(reader), keystore, replace(STUDENT, birth_date=date(2027, 1, 1)),
                       today=TODAY)
        assert reasons(info.value.refusals) == [Reason.BIRTH_DATE_IN_FUTURE]
        assert reader.card.commands_processed == before
        # Without a day only the undated checks are made.
        with pytest.raises(IssueRefused, match="name-blank"):
            issue_card(tap(reader), keystore, replace(ADULT, surname=" "))
        with pytest.raises(IssueRefused, match="birth-date-required"):
            issue_card(tap(reader), keystore, replace(STUDENT, birth_date=None))
        assert reader.card.commands_processed == before


def test_the_life_of_a_card(card, keystore):
    result = activate_card(tap(card), keystore, at=AT, device=7)
    assert result.changed and result.before.status is CardStatus.PRODUCED
    assert result.record.status is CardStatus.ACTIVE and result.uid == UID
    again = activate_card(tap(card), keystore, at=AT)
    assert not again.changed and again.record == result.record

    blocked = block_card(tap(card), keystore, at=AT, device=8)
    assert blocked.record.status is CardStatus.BLOCKED
    assert not block_card(tap(card), keystore, at=AT, role=KeyRole.LOAD).changed
    with pytest.raises(CardOperationRefused) as info:
        activate_card(tap(card), keystore, at=AT)
    assert info.value.refusal.reason is Reason.CARD_BLOCKED
    with pytest.raises(CardOperationRefused, match="card-blocked"):
        change_card_record(tap(card), keystore, RecordChange(surname="Novák"), at=AT)

    assert unblock_card(tap(card), keystore, at=AT).record.status is CardStatus.ACTIVE
    with pytest.raises(CardOperationRefused) as info:
        unblock_card(tap(card), keystore, at=AT)
    assert info.value.refusal.reason is Reason.CARD_NOT_BLOCKED

    changed = change_card_record(tap(card), keystore,
                                 RecordChange(surname="Novák", profile_end=date(2028, 8, 31)),
                                 at=AT, device=9)
    assert changed.record == replace(STUDENT, surname="Novák", profile_end=date(2028, 8, 31))
    assert not change_card_record(tap(card), keystore, RecordChange(surname="Novák"),
                                  at=AT).changed

    image = read_card(tap(card), keystore)
    assert image.record == changed.record
    assert [(e.kind, e.device) for e in image.events] == [
        (EventKind.ACTIVATION, 7), (EventKind.BLOCKING, 8), (EventKind.UNBLOCKING, 0),
        (EventKind.RECORD_CHANGE, 9)]
    assert [e.sequence for e in image.events] == [1, 2, 3, 4]


class Recorder:
    """A reader that keeps the commands sent."""

    def __init__(self, reader):
        self.reader = reader
        self.commands: list[bytes] = []

    def transceive(self, apdu: bytes) -> bytes:
        self.commands.append(bytes(apdu))
        return self.reader.transceive(apdu)


def test_blocking_with_the_validation_key_reads_with_the_read_key(card, keystore):
    card.card.reset()
    recorder = Recorder(card)
    result = block_card(DESFire(recorder), keystore, at=AT)
    assert result.record.status is CardStatus.BLOCKED
    # AuthenticateAES: 90 AA 00 00 01 KEYNO 00
    used = [c[5] for c in recorder.commands if c[:5] == bytes.fromhex("90AA000001")]
    assert used == [int(KeyRole.READ), int(KeyRole.VALIDATION)]
    with pytest.raises(CouponError, match="load or the validation key"):
        block_card(tap(card), keystore, at=AT, role=KeyRole.READ)


def test_a_change_refused_on_the_card_writes_nothing(card, keystore):
    with pytest.raises(CardOperationRefused, match="expiry-passed"):
        change_card_record(tap(card), keystore, RecordChange(expiry=date(2026, 1, 1)), at=AT)
    with pytest.raises(CardOperationRefused, match="age-not-eligible"):
        change_card_record(tap(card), keystore, RecordChange(profile=Profile.CHILD), at=AT)
    image = read_card(tap(card), keystore)
    assert image.record == replace(STUDENT, status=CardStatus.PRODUCED)
    assert image.events == ()


# --- properties -----------------------------------------------------------------------------------

DAYS = st.dates(date(2020, 1, 1), date(2040, 12, 31))
NAMES = st.sampled_from(["Jana", "Novák", " ", "\u200b", "Ó", "Li"])
PERSONAL = st.builds(
    CardRecord, card_number=st.just(NUMBER), kind=st.just(CardKind.PERSONAL),
    status=st.sampled_from(CardStatus), expiry=DAYS,
    profile=st.sampled_from([p for p in Profile if p is not Profile.ADULT_TRANSFERABLE]),
    profile_end=st.none() | DAYS, birth_date=st.none() | st.dates(date(1930, 1, 1),
                                                                   date(2030, 1, 1)),
    first_name=NAMES, surname=NAMES)
CHANGES = st.builds(
    RecordChange, first_name=st.none() | NAMES, surname=st.none() | NAMES,
    birth_date=st.none() | st.dates(date(1930, 1, 1), date(2030, 1, 1)),
    profile=st.none() | st.sampled_from([p for p in Profile
                                         if p is not Profile.ADULT_TRANSFERABLE]),
    profile_end=st.none() | DAYS, expiry=st.none() | DAYS)


def _plans_are_sound(record: CardRecord, change: RecordChange, today: date) -> None:
    plan = plan_change(record, change, today)
    if not plan.ok:
        assert plan.record == record and not plan.changed
        return
    if plan.changed:
        assert plan.record != record and plan.record.status is record.status
        assert plan.record.card_number == record.card_number
        assert check_card_record(plan.record, today, before=record) == ()
        assert decode_card_record(encode_card_record(plan.record)) == plan.record
        # changing it again with the same change is no change
        assert not plan_change(plan.record, change, today).changed
    for status_plan in (plan_activation(record, today), plan_blocking(record),
                        plan_unblocking(record)):
        target = status_plan.record
        assert replace(target, status=record.status) == record  # only the status moves


@settings(max_examples=20, deadline=None)
@given(PERSONAL, CHANGES, DAYS)
def test_a_change_either_refuses_or_gives_a_sensible_record(record, change, today):
    _plans_are_sound(record, change, today)


@pytest.mark.slow
@settings(max_examples=1000, deadline=None)
@given(PERSONAL, CHANGES, DAYS)
def test_a_change_either_refuses_or_gives_a_sensible_record_at_length(record, change, today):
    _plans_are_sound(record, change, today)
