"""The validator's engine on emulated cards: a tap judged, recorded on the card and journalled
once; every refusal; a hotlisted card blocked; a coupon the office holds; the repeat window;
stale lists; cards that are not ours; the barcode fallback."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.sync.messages import JournalKind
from ekarta.terminal.outcome import Outcome, Source
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.tap import Position, Validator, device_number
from ekarta.transit import CardStatus, CouponSigner, EventKind, Profile, Reason
from ekarta.transit.cardio.lifecycle import block_card
from ekarta.transit.cardio.reading import authenticate, read_card
from ekarta.transit.codec.layout import CARD_RECORD_FILE, KeyRole
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.security.keystore import FileKeyStore, create_keystore
from tests.support.validator import (
    AT,
    FIRST_NAME,
    NUMBER,
    RECORD,
    SURNAME,
    UID,
    coupon,
    entitled,
    make_card,
    put_lists,
    signed,
    tap_again,
)

DEVICE = 1017
PLACE = Position(zone=1, line=14, vehicle=3302)
OTHER_UID = bytes.fromhex("04112233445566")


@pytest.fixture(scope="module")
def cards(keystore) -> dict[str, dict]:
    """The cards of these tests, made once (each test taps a copy)."""
    valid = signed(keystore, coupon(501))
    made = {
        "valid": make_card(keystore, slots=[valid]),
        "empty": make_card(keystore),
        "future": make_card(keystore, slots=[signed(keystore, coupon(502, date(2026, 12, 5)))]),
        "expired": make_card(keystore, slots=[signed(keystore, coupon(503, date(2026, 9, 1)))]),
        "zone": make_card(keystore, slots=[signed(keystore, coupon(504, zones=(7,)))]),
        "profile": make_card(
            keystore, replace(RECORD, profile=Profile.PENSIONER, profile_end=date(2026, 9, 30)),
            slots=[signed(keystore, coupon(505, profile=Profile.PENSIONER))]),
        "card-expired": make_card(keystore, replace(RECORD, expiry=date(2026, 11, 15)),
                                  slots=[valid]),
        "blocked": blocked(keystore, make_card(keystore, slots=[valid])),
        "forged": make_card(keystore, slots=[CouponSigner.generate().sign(
            coupon(506), uid=UID, card_number=NUMBER)]),
        "produced": make_card(keystore, replace(RECORD, status=CardStatus.PRODUCED),
                              slots=[valid]),
        "unreadable-slot": make_card(keystore, slots=[b"\x01" * 96]),
    }
    return {name: state.to_dict() for name, state in made.items()}


def blocked(keystore, state: CardState) -> CardState:
    card = VirtualCard(state)
    block_card(DESFire(EmulatorReader(card=card)), keystore, at=AT)
    card.reset()
    return card.state


def card_of(cards, name: str) -> VirtualCard:
    return VirtualCard(CardState.from_dict(cards[name], "test card"))


@pytest.fixture
def store(tmp_path):
    with TerminalStore.open(tmp_path / "store.sqlite", create=True) as store:
        yield store


def validator(store, keystore, clock, **options) -> Validator:
    options.setdefault("position", PLACE)
    return Validator(store, keystore, keystore.verifier(), device=DEVICE, clock=clock, **options)


@pytest.fixture
def synced(store, clock):
    put_lists(store, issued_at=clock.now - timedelta(hours=2))
    return store


def tap(v: Validator, card: VirtualCard, *, uid: bytes | None = UID):
    tap_again(card)
    return v.tap(EmulatorReader(card=card), uid=uid)


def image(card: VirtualCard, keystore):
    tap_again(card)
    return read_card(DESFire(EmulatorReader(card=card)), keystore)


def journal(store: TerminalStore):
    return store.outbox(100)


# --- a valid card ---------------------------------------------------------------------------------


def test_a_valid_card_is_judged_recorded_on_the_card_and_journalled_once(
        cards, keystore, synced, clock):
    card = card_of(cards, "valid")
    v = validator(synced, keystore, clock)
    outcome = tap(v, card)
    assert outcome.outcome is Outcome.VERDICT and outcome.ok and outcome.source is Source.CHIP
    assert outcome.verdict.reason is Reason.VALID and outcome.verdict.coupon.serial == 501
    assert outcome.recorded and not outcome.repeated and not outcome.from_office
    assert (outcome.card_number, outcome.zone, outcome.line) == (NUMBER, 1, 14)
    assert not outcome.stale and outcome.lists_age == timedelta(hours=2)
    [event] = image(card, keystore).events
    assert (event.kind, event.result, event.device, event.line, event.vehicle, event.zone,
            event.coupon_serial, event.sequence) == (EventKind.VALIDATION, Reason.VALID, DEVICE,
                                                     14, 3302, 1, 501, 1)
    [entry] = journal(synced)
    assert (entry.kind, entry.card_number, entry.result, entry.line, entry.vehicle, entry.zone,
            entry.coupon_serial, entry.at) == (JournalKind.VALIDATION, NUMBER.digits, 0, 14,
                                               3302, 1, 501, clock.now)


def test_the_journal_holds_no_names(cards, keystore, synced, clock):
    v = validator(synced, keystore, clock)
    card = card_of(cards, "valid")
    tap(v, card)
    v.position = Position(zone=1)
    clock.advance(5)
    tap(v, card)
    rows = synced._db.execute("SELECT body FROM journal").fetchall()
    assert len(rows) == 2
    for (body,) in rows:
        document = json.loads(body)
        assert set(document) <= {"event_id", "kind", "at", "card_number", "result", "line",
                                 "vehicle", "zone", "coupon_serial", "action_id", "amount",
                                 "note", "coupons"}
        assert FIRST_NAME not in body and SURNAME not in body and "Nov" not in body


def test_a_tap_takes_twenty_commands_and_three_more_without_the_readers_uid(
        cards, keystore, synced, clock):
    v = validator(synced, keystore, clock)
    card = card_of(cards, "valid")
    tap_again(card)
    before = card.commands_processed
    v.tap(EmulatorReader(card=card), uid=UID)
    assert card.commands_processed - before == 20
    clock.advance(120)
    tap_again(card)
    before = card.commands_processed
    assert v.tap(EmulatorReader(card=card), uid=None).ok
    assert card.commands_processed - before == 23


def test_the_readers_own_report_of_the_uid_is_taken(cards, keystore, synced, clock):
    v = validator(synced, keystore, clock)
    card = tap_again(card_of(cards, "valid"))
    reader = EmulatorReader(card=card)
    reader.wait_for_card(timeout=1)
    before = card.commands_processed
    assert v.tap(reader).ok
    assert card.commands_processed - before == 20


# --- refusals -------------------------------------------------------------------------------------

REFUSALS = {
    "empty": Reason.NO_COUPON,
    "future": Reason.NOT_YET_VALID,
    "expired": Reason.EXPIRED,
    "zone": Reason.ZONE_NOT_COVERED,
    "profile": Reason.PROFILE_EXPIRED,
    "card-expired": Reason.CARD_EXPIRED,
    "blocked": Reason.CARD_BLOCKED,
    "forged": Reason.SIGNATURE_INVALID,
    "produced": Reason.CARD_NOT_ACTIVE,
    "unreadable-slot": Reason.COUPON_UNREADABLE,
}


@pytest.mark.parametrize("name", REFUSALS)
def test_each_refusal_is_shown_and_recorded_with_its_reason(cards, keystore, synced, clock,
                                                            name):
    card = card_of(cards, name)
    v = validator(synced, keystore, clock)
    outcome = tap(v, card)
    assert outcome.outcome is Outcome.VERDICT and not outcome.ok and outcome.recorded
    assert outcome.verdict.reason is REFUSALS[name] and not outcome.blocked_written
    event = image(card, keystore).events[-1]
    assert (event.kind, event.result, event.coupon_serial) == (EventKind.VALIDATION,
                                                               REFUSALS[name], None)
    [entry] = journal(synced)
    assert (entry.kind, entry.result) == (JournalKind.VALIDATION, int(REFUSALS[name]))


@pytest.mark.parametrize("office", ["active", "produced", "active for another chip"])
def test_a_card_the_office_has_active_is_written_active_by_its_first_tap(
        cards, keystore, store, clock, office):
    # a card sent by post: its holder activated it at the office, its chip still says produced
    status = "produced" if office == "produced" else "active"
    uid = bytes.fromhex("04999999999999") if office.endswith("chip") else UID
    put_lists(store, entitlements=[entitled(status=status, uid=uid)],
              issued_at=clock.now - timedelta(hours=1))
    card = card_of(cards, "produced")
    outcome = tap(validator(store, keystore, clock), card)
    read = image(card, keystore)
    if office != "active":
        assert outcome.verdict.reason is Reason.CARD_NOT_ACTIVE
        assert read.record.status is CardStatus.PRODUCED
        assert [e.kind for e in read.events[-1:]] == [EventKind.VALIDATION]
        return
    assert outcome.ok and outcome.recorded and outcome.verdict.coupon.serial == 501
    assert read.record.status is CardStatus.ACTIVE
    [validation] = read.events
    assert (validation.kind, validation.result) == (EventKind.VALIDATION, Reason.VALID)
    assert [e.kind for e in journal(store)] == [JournalKind.VALIDATION]
    again = tap(validator(store, keystore, clock), card)
    assert again.ok and again.repeated and len(image(card, keystore).events) == 1


# --- the hotlist ----------------------------------------------------------------------------------


@pytest.mark.parametrize("by", ["number", "uid"])
def test_a_hotlisted_card_gets_its_blocked_status_written(cards, keystore, store, clock, by):
    listed = (NUMBER, None) if by == "number" else (CardNumber.from_serial(42), UID)
    put_lists(store, hot=[listed], issued_at=clock.now - timedelta(hours=1))
    card = card_of(cards, "valid")
    v = validator(store, keystore, clock)
    outcome = tap(v, card)
    assert outcome.outcome is Outcome.VERDICT and not outcome.ok
    assert outcome.verdict.reason is Reason.CARD_BLOCKED
    assert outcome.blocked_written and outcome.recorded
    after = image(card, keystore)
    assert after.record == replace(RECORD, status=CardStatus.BLOCKED)
    [event] = after.events
    assert (event.kind, event.device) == (EventKind.BLOCKING, DEVICE)
    [entry] = journal(store)
    assert (entry.kind, entry.card_number, entry.result) == (JournalKind.BLOCKING,
                                                             NUMBER.digits, 0)
    # the next tap, past the window: blocked on the card, recorded as a refusal
    clock.advance(90)
    again = tap(v, card)
    assert again.verdict.reason is Reason.CARD_BLOCKED and not again.blocked_written
    assert image(card, keystore).events[-1].kind is EventKind.VALIDATION
    assert [e.kind for e in journal(store)] == [JournalKind.BLOCKING, JournalKind.VALIDATION]


# --- the office's coupons -------------------------------------------------------------------------


def test_a_coupon_the_office_holds_makes_the_card_valid_and_says_so(cards, keystore, store,
                                                                   clock):
    held = signed(keystore, coupon(777, date(2026, 11, 10), zones=(1,)))
    put_lists(store, entitlements=[entitled(coupons=[(held, "pending")])],
              issued_at=clock.now - timedelta(hours=1))
    card = card_of(cards, "empty")
    outcome = tap(validator(store, keystore, clock), card)
    assert outcome.ok and outcome.from_office and outcome.verdict.coupon == held
    assert image(card, keystore).events[-1].coupon_serial == 777
    assert journal(store)[0].coupon_serial == 777


def test_a_coupon_on_the_card_is_not_the_offices(cards, keystore, store, clock):
    on_card = signed(keystore, coupon(501))
    put_lists(store, entitlements=[entitled(coupons=[(on_card, "written")])],
              issued_at=clock.now)
    outcome = tap(validator(store, keystore, clock), card_of(cards, "valid"))
    assert outcome.ok and not outcome.from_office


def test_an_office_coupon_signed_for_another_card_does_not_count(cards, keystore, store, clock):
    other = signed(keystore, coupon(778), uid=OTHER_UID)
    put_lists(store, entitlements=[entitled(coupons=[(other, "pending")])], issued_at=clock.now)
    outcome = tap(validator(store, keystore, clock), card_of(cards, "empty"))
    assert not outcome.ok and outcome.verdict.reason is Reason.SIGNATURE_INVALID
    assert not outcome.from_office


# --- the repeat window ----------------------------------------------------------------------------


def test_a_second_tap_within_the_window_shows_the_verdict_again_and_writes_nothing(
        cards, keystore, synced, clock):
    card = card_of(cards, "valid")
    v = validator(synced, keystore, clock)
    first = tap(v, card)
    revision = card.revision
    clock.advance(59)
    second = tap(v, card)
    assert second.ok and second.repeated and second.recorded
    assert second.verdict == first.verdict
    assert card.revision == revision and len(journal(synced)) == 1
    clock.advance(1.5)  # 60.5 s after the validation: a new one
    third = tap(v, card)
    assert third.ok and not third.repeated
    assert [e.sequence for e in image(card, keystore).events] == [1, 2]
    assert len(journal(synced)) == 2


def test_a_restarted_validator_finds_the_tap_in_the_cards_log(cards, keystore, synced, clock):
    card = card_of(cards, "valid")
    tap(validator(synced, keystore, clock), card)
    clock.advance(30)
    again = tap(validator(synced, keystore, clock), card)
    assert again.ok and again.repeated and len(image(card, keystore).events) == 1
    assert len(journal(synced)) == 1


def test_a_tap_at_another_place_or_with_another_result_is_a_new_one(cards, keystore, synced,
                                                                    clock):
    card = card_of(cards, "valid")
    v = validator(synced, keystore, clock)
    tap(v, card)
    v.position = Position(zone=2, line=14, vehicle=3302)
    clock.advance(5)
    moved = tap(v, card)
    assert moved.ok and not moved.repeated and moved.zone == 2
    v.position = Position(zone=9, line=14, vehicle=3302)
    clock.advance(5)
    refused = tap(v, card)
    assert refused.verdict.reason is Reason.ZONE_NOT_COVERED and not refused.repeated
    assert [e.zone for e in image(card, keystore).events] == [1, 2, 9]
    assert len(journal(synced)) == 3


def test_another_validator_records_its_own_tap(cards, keystore, synced, clock):
    card = card_of(cards, "valid")
    tap(validator(synced, keystore, clock), card)
    other = Validator(synced, keystore, keystore.verifier(), device=DEVICE + 1, position=PLACE,
                      clock=clock)
    clock.advance(5)
    assert not tap(other, card).repeated
    assert [e.device for e in image(card, keystore).events] == [DEVICE, DEVICE + 1]


# --- the lists' age -------------------------------------------------------------------------------


def test_lists_never_synced_or_too_old_make_every_verdict_stale(cards, keystore, store, clock):
    v = validator(store, keystore, clock)
    card = card_of(cards, "valid")
    never = tap(v, card)
    assert never.ok and never.stale and never.data_as_of is None and never.lists_age is None
    clock.advance(61)
    issued = clock.now - timedelta(days=3, minutes=1)
    put_lists(store, issued_at=issued)
    old = tap(v, card)
    assert old.stale and old.data_as_of == issued and not old.repeated
    assert old.lists_age == timedelta(days=3, minutes=1)
    status = v.status()
    assert status.lists.stale and status.backlog == 2 and status.position == PLACE
    fresh = validator(store, keystore, clock, stale_after=timedelta(days=4))
    assert not tap(fresh, card_of(cards, "empty")).stale


# --- cards that are not ours ----------------------------------------------------------------------


def test_a_card_without_the_transit_application_is_not_a_transit_card(keystore, synced, clock):
    outcome = tap(validator(synced, keystore, clock), VirtualCard.new(uid=UID))
    assert outcome.outcome is Outcome.NOT_A_TRANSIT_CARD and outcome.verdict is None
    assert "no application" in outcome.detail and "\n" not in outcome.detail
    assert journal(synced) == ()


def test_a_card_of_another_keystore_is_not_a_transit_card(tmp_path, cards, keystore, synced,
                                                          clock):
    create_keystore(tmp_path / "other.json")
    other = FileKeyStore.load(tmp_path / "other.json")
    card = VirtualCard(make_card(other))
    outcome = tap(validator(synced, keystore, clock), card)
    assert outcome.outcome is Outcome.NOT_A_TRANSIT_CARD and "read key" in outcome.detail


def test_a_mute_card_is_unreadable_and_a_card_gone_is_tapped_again(cards, keystore, synced,
                                                                   clock):
    v = validator(synced, keystore, clock)
    card = tap_again(card_of(cards, "valid"))
    card.arm(Faults(mute=True))
    mute = v.tap(EmulatorReader(card=card), uid=UID)
    assert mute.outcome is Outcome.UNREADABLE and mute.detail
    card = tap_again(card_of(cards, "valid"))
    card.remove()
    gone = v.tap(EmulatorReader(card=card), uid=UID)
    assert gone.outcome is Outcome.TAP_AGAIN and not gone.recorded
    assert journal(synced) == ()


def test_a_card_whose_record_does_not_decode_is_unreadable(cards, keystore, synced, clock):
    card = tap_again(card_of(cards, "valid"))
    df = DESFire(EmulatorReader(card=card))
    authenticate(df, keystore, KeyRole.LOAD, UID)
    df.write_data(CARD_RECORD_FILE.file_no, bytes(range(128)), comm=CARD_RECORD_FILE.comm)
    df.commit_transaction()
    outcome = tap(validator(synced, keystore, clock), card)
    assert outcome.outcome is Outcome.UNREADABLE and "card record" in outcome.detail
    assert outcome.verdict is None and journal(synced) == ()


# --- the barcode fallback -------------------------------------------------------------------------


def test_a_card_number_is_judged_by_the_synced_lists(keystore, store, clock):
    held = signed(keystore, coupon(801, date(2026, 11, 15), zones=(1,)))
    issued = clock.now - timedelta(hours=5)
    put_lists(store, entitlements=[entitled(coupons=[(held, "pending")])], issued_at=issued)
    v = validator(store, keystore, clock)
    outcome = v.check_number(NUMBER.formatted)
    assert outcome.outcome is Outcome.VERDICT and outcome.source is Source.BARCODE
    assert outcome.ok and outcome.from_office and outcome.verdict.coupon == held
    assert outcome.data_as_of == issued and not outcome.recorded and outcome.card_number == NUMBER
    v.position = Position(zone=5)
    assert v.check_number(NUMBER.digits).verdict.reason is Reason.ZONE_NOT_COVERED
    assert journal(store) == ()


def test_a_hotlisted_or_unknown_number_is_refused_and_a_bad_check_digit_too(keystore, store,
                                                                            clock):
    put_lists(store, hot=[(NUMBER, UID)], entitlements=[entitled()], issued_at=clock.now)
    v = validator(store, keystore, clock)
    assert v.check_number(NUMBER.digits).verdict.reason is Reason.CARD_BLOCKED
    unknown = v.check_number(CardNumber.from_serial(5).digits)
    assert unknown.verdict.reason is Reason.NO_COUPON and "nothing" in unknown.detail
    wrong = NUMBER.digits[:-1] + str((int(NUMBER.digits[-1]) + 1) % 10)
    refused = v.check_number(wrong)
    assert refused.outcome is Outcome.REFUSED_NUMBER and "check digit" in refused.detail
    assert refused.verdict is None and refused.source is Source.BARCODE


# --- configuration --------------------------------------------------------------------------------


def test_the_device_number_comes_from_the_devices_name():
    assert device_number("bus 1017") == 1017
    assert device_number("validator-7") == 7
    assert device_number("cab") is None and device_number("bus 99999") is None


def test_a_position_out_of_range_is_refused():
    with pytest.raises(InvalidField):
        Position(zone=1024)
    with pytest.raises(InvalidField):
        Position(line=0)
