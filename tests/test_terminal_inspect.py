"""The inspector's engine on emulated cards: a check judged and recorded on the card; every action
the office leaves (a coupon, a purse credit, the blocked status, a profile, an activation) done
in the check's one transaction, journalled once and found, not done again, at the next check;
actions the card cannot take now; the kiosk's look that changes nothing; the barcode fallback;
the inspector's outcome and the shift's summary."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.sync.messages import ActionKind, JournalKind, Lease
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import Position
from ekarta.terminal.inspect import Inspector, may_be_someone_elses
from ekarta.terminal.outcome import ActionState, Outcome, Progress, Source
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import lease
from ekarta.transit import CardStatus, EventKind, Profile, Reason
from ekarta.transit.cardio.purse import credit_purse
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.servicing import Fate, LoadAction, Servicing, service_card
from ekarta.transit.cardio.validation import CardLists, Place, validate_card
from ekarta.transit.codec.records import EVENT_LOG_RECORDS, SLOT_COUNT
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import Refusal
from tests.support.actions import activate, block, credit, load, profile, put_actions
from tests.support.kiosk import ANONYMOUS
from tests.support.office import free_port
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

DEVICE = 2207
PLACE = Position(zone=1, line=14)
OTHER_UID = bytes.fromhex("04112233445566")


@pytest.fixture(scope="module")
def cards(keystore) -> dict[str, dict]:
    """The cards of these tests, made once (each test checks a copy)."""
    valid = signed(keystore, coupon(501))
    full = [signed(keystore, coupon(510 + i, date(2026, 11, 1) + timedelta(days=30 * i)))
            for i in range(SLOT_COUNT)]
    made = {
        "valid": make_card(keystore, slots=[valid]),
        "empty": make_card(keystore),
        "full": make_card(keystore, slots=full),
        "produced": make_card(keystore, replace(RECORD, status=CardStatus.PRODUCED)),
        "student": make_card(keystore, replace(RECORD, birth_date=date(2008, 5, 1),
                                               profile=Profile.STUDENT,
                                               profile_end=date(2026, 11, 30))),
    }
    return {name: state.to_dict() for name, state in made.items()}


def card_of(cards, name: str) -> VirtualCard:
    return VirtualCard(CardState.from_dict(cards[name], "test card"))


def inspector(store, keystore, clock, **options) -> Inspector:
    options.setdefault("position", PLACE)
    return Inspector(store, keystore, keystore.verifier(), device=DEVICE, clock=clock, **options)


def check(engine: Inspector, card: VirtualCard, **options):
    tap_again(card)
    return engine.check(EmulatorReader(card=card), uid=UID, **options)


def image(card: VirtualCard, keystore):
    tap_again(card)
    return read_card(DESFire(EmulatorReader(card=card)), keystore)


def journal(store: TerminalStore):
    return store.outbox(100)


def kinds(store: TerminalStore):
    return [e.kind for e in journal(store)]


# --- a check --------------------------------------------------------------------------------------


def test_a_check_is_judged_recorded_on_the_card_and_journalled_with_the_coupons(
        cards, keystore, store, clock):
    card = card_of(cards, "valid")
    outcome = check(inspector(store, keystore, clock), card)
    assert outcome.outcome is Outcome.VERDICT and outcome.ok and outcome.source is Source.CHIP
    assert outcome.verdict.coupon.serial == 501 and outcome.recorded and not outcome.repeated
    assert outcome.image.record.first_name == FIRST_NAME and outcome.image.purse == 0
    assert outcome.actions == () and outcome.last_validation is None
    [event] = image(card, keystore).events
    assert (event.kind, event.result, event.device, event.line, event.zone,
            event.coupon_serial) == (EventKind.INSPECTION, Reason.VALID, DEVICE, 14, 1, 501)
    [entry] = journal(store)
    assert entry.event_id == outcome.event_id
    assert (entry.kind, entry.card_number, entry.result, entry.line, entry.zone,
            entry.coupon_serial, len(entry.coupons)) == (JournalKind.INSPECTION, NUMBER.digits,
                                                         0, 14, 1, 501, 1)


def test_the_check_shows_the_last_validation_from_the_cards_log(cards, keystore, store, clock):
    card = tap_again(card_of(cards, "valid"))
    validate_card(DESFire(EmulatorReader(card=card)), keystore, keystore.verifier(),
                  at=AT, place=Place(1017, zone=2, line=7), lookup=lambda *_: CardLists())
    outcome = check(inspector(store, keystore, clock), card)
    last = outcome.last_validation
    assert (last.kind, last.device, last.line, last.zone) == (EventKind.VALIDATION, 1017, 7, 2)


def test_a_second_check_within_the_window_writes_nothing_and_journals_nothing_new(
        cards, keystore, store, clock):
    card = card_of(cards, "valid")
    engine = inspector(store, keystore, clock)
    first = check(engine, card)
    revision = card.revision
    clock.advance(30)
    again = check(inspector(store, keystore, clock), card)  # a restarted engine too
    assert again.ok and again.repeated and again.event_id == first.event_id
    assert card.revision == revision and len(journal(store)) == 1
    clock.advance(120)  # the card's log keeps minutes: two later, a new check
    assert not check(engine, card).repeated
    assert [e.kind for e in image(card, keystore).events] == [EventKind.INSPECTION] * 2


def test_the_journal_holds_no_names(cards, keystore, store, clock):
    put_actions(store, [load(1, signed(keystore, coupon(601)))], issued_at=clock.now)
    engine = inspector(store, keystore, clock)
    first = check(engine, card_of(cards, "valid"))
    engine.record_outcome(first, valid=True, note="no fine")
    rows = store._db.execute("SELECT body FROM journal").fetchall()
    assert len(rows) == 3
    for (body,) in rows:
        assert set(json.loads(body)) <= {"event_id", "kind", "at", "card_number", "result",
                                         "line", "vehicle", "zone", "coupon_serial",
                                         "action_id", "amount", "note", "coupons"}
        assert FIRST_NAME not in body and SURNAME not in body and "Nov" not in body


# --- the office's actions -------------------------------------------------------------------------


def test_a_paid_coupon_is_loaded_journalled_and_marked_done_and_a_second_check_changes_nothing(
        cards, keystore, store, clock):
    paid = signed(keystore, coupon(601, zones=(1,)))
    put_actions(store, [load(11, paid)], issued_at=clock.now)
    card = card_of(cards, "empty")
    steps: list[Progress] = []
    outcome = check(inspector(store, keystore, clock), card, progress=steps.append)
    assert outcome.ok and outcome.verdict.coupon == paid and not outcome.from_office
    [done] = outcome.actions
    assert (done.action_id, done.kind, done.state, done.serial, done.coupon) == (
        11, ActionKind.LOAD_COUPON, ActionState.DONE, 601, paid)
    assert [s.step for s in steps] == ["load-coupon 601", "inspection", "commit", "done"]
    assert [(s.done, s.total) for s in steps] == [(0, 3), (1, 3), (2, 3), (3, 3)]
    after = image(card, keystore)
    assert after.coupons == (paid,) and outcome.image.coupons == (paid,)
    assert [e.kind for e in after.events] == [EventKind.INSPECTION]  # one record, one check
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.LOAD]
    loaded = journal(store)[1]
    assert (loaded.action_id, loaded.coupon_serial, loaded.result) == (11, 601, 0)
    assert store.pending_actions(NUMBER) == ()
    clock.advance(5)
    revision = card.revision
    again = check(inspector(store, keystore, clock), card)
    assert again.ok and again.repeated and again.actions == ()
    assert card.revision == revision and len(journal(store)) == 2


def test_a_coupon_the_card_holds_already_is_found_journalled_once_and_not_loaded_again(
        cards, keystore, store, clock):
    # a check whose answer was lost: the coupon is on the card, the action still pending here
    on_card = signed(keystore, coupon(501))
    put_actions(store, [load(12, on_card)], issued_at=clock.now)
    card = card_of(cards, "valid")
    outcome = check(inspector(store, keystore, clock), card)
    [found] = outcome.actions
    assert found.state is ActionState.FOUND and image(card, keystore).coupons == (on_card,)
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.LOAD]
    assert store.pending_actions(NUMBER) == ()


def test_several_coupons_and_a_credit_go_on_the_card_in_one_check(cards, keystore, store, clock):
    coupons = [signed(keystore, coupon(601 + i, date(2026, 11, 1) + timedelta(days=30 * i)))
               for i in range(3)]
    put_actions(store, [credit(20, 9001, 25_000), *(load(21 + i, c)
                                                    for i, c in enumerate(coupons))],
                issued_at=clock.now)
    card = card_of(cards, "empty")
    outcome = check(inspector(store, keystore, clock), card)
    assert [a.state for a in outcome.actions] == [ActionState.DONE] * 4
    assert outcome.actions[0].amount == 25_000 and outcome.actions[0].serial == 9001
    after = image(card, keystore)
    assert after.coupons == tuple(coupons) and after.purse == 25_000
    # the credit's own record, then the check's: the credit is found by its serial
    assert [(e.kind, e.coupon_serial) for e in after.events] == [
        (EventKind.PURSE_CREDIT, 9001), (EventKind.INSPECTION, 601)]
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.PURSE_CREDIT,
                            *[JournalKind.LOAD] * 3]
    assert journal(store)[1].amount == 25_000


def test_a_credit_the_card_logged_already_is_found_not_made_twice(cards, keystore, store, clock):
    card = tap_again(card_of(cards, "empty"))
    credit_purse(DESFire(EmulatorReader(card=card)), keystore, 5_000, serial=9002, at=AT)
    put_actions(store, [credit(22, 9002, 5_000)], issued_at=clock.now)
    outcome = check(inspector(store, keystore, clock), card)
    [found] = outcome.actions
    assert found.state is ActionState.FOUND and image(card, keystore).purse == 5_000
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.PURSE_CREDIT]


def test_without_the_office_s_lease_a_credit_waits_on_a_card_whose_log_dropped_records(
        cards, keystore, store, clock, tmp_path):
    card = card_of(cards, "empty")
    for minute in range(EVENT_LOG_RECORDS):  # a full log: its first events may be gone
        tap_again(card)
        validate_card(DESFire(EmulatorReader(card=card)), keystore, keystore.verifier(),
                      at=AT + timedelta(minutes=minute), place=Place(1017, zone=1),
                      lookup=lambda *_: CardLists())
    paid = signed(keystore, coupon(602))
    put_actions(store, [credit(23, 9004, 5_000), load(24, paid)], issued_at=clock.now)
    # the office does not answer (nothing listens on its port): asked once, the card decides
    config = TerminalConfig(str(tmp_path), f"http://127.0.0.1:{free_port()}",
                            DeviceRole.INSPECTOR, "handheld 7", "token")
    asked: list[int] = []

    def leaser(action_id: int) -> Lease:
        asked.append(action_id)
        return lease(config, store, action_id)

    outcome = check(inspector(store, keystore, clock, leaser=leaser), card)
    assert asked == [23]
    credited, loaded = outcome.actions
    assert (credited.state, credited.refusal) == (ActionState.WAITING, Reason.CREDIT_UNPROVEN)
    assert loaded.state is ActionState.DONE  # its serial in a slot says whether it is there
    after = image(card, keystore)
    assert after.purse == 0 and paid in after.coupons
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.LOAD]
    assert [a.id for a in store.pending_actions(NUMBER)] == [23]
    # within a minute the office is not asked again: each ask waits with a card in the field
    engine = inspector(store, keystore, clock, leaser=leaser)
    check(engine, card)
    clock.advance(50)
    check(engine, card)
    assert asked == [23, 23]
    clock.advance(15)
    check(engine, card)
    assert asked == [23, 23, 23] and image(card, keystore).purse == 0
    # on a card whose log holds every event it logged, the credit's absence is proof enough
    fresh = card_of(cards, "empty")
    clock.advance(90)
    assert check(inspector(store, keystore, clock), fresh).actions[0].state is ActionState.DONE
    assert image(fresh, keystore).purse == 5_000


def test_an_action_withheld_may_let_another_be_written_which_is_vetted_in_turn(keystore):
    held = [signed(keystore, coupon(520 + i, date(2026, 12, 1) + timedelta(days=30 * i)))
            for i in range(SLOT_COUNT - 1)]
    card = VirtualCard(make_card(keystore, slots=held))
    later = [signed(keystore, coupon(530 + i, date(2027, 6, 1) + timedelta(days=30 * i)))
             for i in range(2)]
    vetted: list[list[int]] = []

    def confirm(plan: Servicing) -> dict[int, Refusal]:
        # one slot free: the first load takes it, until the office turns out to have given
        # that load away
        vetted.append([p.action_id for p in plan.actions if p.fate is Fate.DONE])
        return {1: Refusal.of(Reason.ACTION_ELSEWHERE)}

    done = service_card(DESFire(EmulatorReader(card=card)), keystore, keystore.verifier(),
                        at=AT, place=Place(DEVICE, zone=1), lookup=lambda *_: CardLists(),
                        actions=lambda *_: [LoadAction(1, later[0]), LoadAction(2, later[1])],
                        confirm=confirm, uid=UID)
    assert vetted == [[1], [2]]
    assert [(p.fate, p.refusal and p.refusal.reason) for p in done.actions] == [
        (Fate.WAITING, Reason.ACTION_ELSEWHERE), (Fate.DONE, None)]
    assert image(card, keystore).coupons == (*held, later[1])


@pytest.mark.parametrize("by", ["hotlist", "action", "both"])
def test_a_card_to_block_gets_its_blocked_status_and_no_coupon(cards, keystore, store, clock,
                                                               by):
    paid = signed(keystore, coupon(601))
    items = [load(31, paid), credit(32, 9003, 100)] + ([block(30)] if by != "hotlist" else [])
    put_actions(store, items, issued_at=clock.now)
    if by != "action":
        put_lists(store, hot=[(NUMBER, UID)], issued_at=clock.now)
    card = card_of(cards, "valid")
    outcome = check(inspector(store, keystore, clock), card)
    assert not outcome.ok and outcome.verdict.reason is Reason.CARD_BLOCKED
    assert outcome.blocked_written and outcome.recorded
    states = {a.kind: (a.state, a.refusal) for a in outcome.actions}
    assert states[ActionKind.LOAD_COUPON] == (ActionState.WAITING, Reason.CARD_BLOCKED)
    assert states[ActionKind.CREDIT_PURSE] == (ActionState.WAITING, Reason.CARD_BLOCKED)
    after = image(card, keystore)
    assert after.record.status is CardStatus.BLOCKED and paid not in after.coupons
    assert [e.kind for e in after.events] == [EventKind.BLOCKING]
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.BLOCKING]
    [inspection, blocking] = journal(store)
    assert inspection.result == int(Reason.CARD_BLOCKED) and blocking.result == 0
    assert blocking.action_id == (None if by == "hotlist" else 30)
    assert {a.id for a in store.pending_actions(NUMBER)} == {31, 32}


def test_a_profile_is_updated_and_found_updated_at_the_next_check(cards, keystore, store,
                                                                  clock):
    put_actions(store, [profile(40, Profile.STUDENT, date(2027, 6, 30))],
                issued_at=clock.now)
    card = card_of(cards, "student")
    outcome = check(inspector(store, keystore, clock), card)
    [done] = outcome.actions
    assert done.state is ActionState.DONE and outcome.image.record.profile_end == date(2027, 6, 30)
    assert image(card, keystore).record.profile_end == date(2027, 6, 30)
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.PROFILE_UPDATE]
    # the office did not hear yet: the same action again is found done
    put_actions(store, [profile(41, Profile.STUDENT, date(2027, 6, 30))],
                issued_at=clock.now)
    clock.advance(90)
    [found] = check(inspector(store, keystore, clock), card).actions
    assert found.state is ActionState.FOUND


def test_a_produced_card_is_activated_and_takes_its_coupon_in_the_same_check(
        cards, keystore, store, clock):
    paid = signed(keystore, coupon(601))
    put_actions(store, [activate(50), load(51, paid)], issued_at=clock.now)
    card = card_of(cards, "produced")
    outcome = check(inspector(store, keystore, clock), card)
    assert outcome.ok and [a.state for a in outcome.actions] == [ActionState.DONE] * 2
    after = image(card, keystore)
    assert after.record.status is CardStatus.ACTIVE and after.coupons == (paid,)
    assert kinds(store) == [JournalKind.INSPECTION, JournalKind.ACTIVATION, JournalKind.LOAD]


def test_actions_the_card_cannot_take_wait_with_their_reason(cards, keystore, store, clock):
    bad = load(61, signed(keystore, coupon(601)))
    put_actions(store, [
        load(60, signed(keystore, coupon(600))),  # no free slot
        bad.model_copy(update={"slot": "AAAA"}),  # does not decode
        load(62, signed(keystore, coupon(602), uid=OTHER_UID), uid=OTHER_UID),  # another chip
        load(63, signed(keystore, coupon(603), uid=OTHER_UID)),  # signed for another chip
        credit(64, 9004, 2_000_000),  # more than the purse holds
        profile(65, Profile.STUDENT, date(2027, 6, 30)),  # no birth date on the card
        profile(68, Profile.ADULT_TRANSFERABLE),  # an anonymous card's
    ], issued_at=clock.now)
    card = card_of(cards, "full")
    before = image(card, keystore)
    outcome = check(inspector(store, keystore, clock), card)
    assert outcome.outcome is Outcome.VERDICT and outcome.ok
    assert [(a.action_id, a.state, a.refusal) for a in outcome.actions] == [
        (60, ActionState.WAITING, Reason.NO_FREE_SLOT),
        (61, ActionState.WAITING, Reason.COUPON_UNREADABLE),
        (62, ActionState.WAITING, Reason.SIGNATURE_INVALID),
        (63, ActionState.WAITING, Reason.SIGNATURE_INVALID),
        (64, ActionState.WAITING, Reason.PURSE_LIMIT_EXCEEDED),
        (65, ActionState.WAITING, Reason.BIRTH_DATE_REQUIRED),
        (68, ActionState.WAITING, Reason.TRANSFERABLE_ONLY_ANONYMOUS),
    ]
    for lang in ("cs", "en"):  # each with its message, details filled in
        assert all(a.refused.message(lang) for a in outcome.actions)
    assert "10" in outcome.actions[4].refused.message("en")  # the purse's limit
    after = image(card, keystore)
    assert after.slots == before.slots and after.record == before.record
    assert kinds(store) == [JournalKind.INSPECTION]
    assert len(store.pending_actions(NUMBER)) == 7


def test_a_coupon_the_office_holds_and_the_card_cannot_take_still_counts(cards, keystore, store,
                                                                         clock):
    held = signed(keystore, coupon(605, date(2026, 11, 15)))
    put_lists(store, entitlements=[entitled(coupons=[(held, "pending")])], issued_at=clock.now)
    put_actions(store, [load(66, held)], issued_at=clock.now)
    future = [signed(keystore, coupon(520 + i, date(2026, 12, 1) + timedelta(days=30 * i)))
               for i in range(SLOT_COUNT)]
    card = VirtualCard(make_card(keystore, slots=future))
    outcome = check(inspector(store, keystore, clock), card)
    assert outcome.ok and outcome.from_office and outcome.verdict.coupon == held
    assert outcome.actions[0].state is ActionState.WAITING


# --- the kiosk ------------------------------------------------------------------------------------


def test_a_kiosks_look_at_a_card_changes_nothing_on_it(cards, keystore, store, clock):
    card = card_of(cards, "valid")
    revision = tap_again(card).revision
    kiosk = inspector(store, keystore, clock, role=DeviceRole.KIOSK)
    outcome = check(kiosk, card)
    assert outcome.ok and not outcome.recorded and card.revision == revision
    [view] = journal(store)
    assert view.kind is JournalKind.KIOSK_VIEW and view.event_id == outcome.event_id
    assert len(view.coupons) == 1


def test_a_kiosk_that_loads_a_coupon_records_its_view(cards, keystore, store, clock):
    paid = signed(keystore, coupon(601))
    put_actions(store, [load(70, paid)], issued_at=clock.now)
    card = card_of(cards, "empty")
    outcome = check(inspector(store, keystore, clock, role=DeviceRole.KIOSK), card)
    assert outcome.ok and outcome.recorded and outcome.actions[0].state is ActionState.DONE
    assert [e.kind for e in image(card, keystore).events] == [EventKind.KIOSK_VIEW]
    assert kinds(store) == [JournalKind.KIOSK_VIEW, JournalKind.LOAD]


# --- cards that cannot be checked -----------------------------------------------------------------


def test_cards_that_are_not_ours_or_do_not_answer_give_no_verdict(cards, keystore, store, clock):
    engine = inspector(store, keystore, clock)
    foreign = check(engine, VirtualCard.new(uid=UID))
    assert foreign.outcome is Outcome.NOT_A_TRANSIT_CARD and foreign.verdict is None
    card = tap_again(card_of(cards, "valid"))
    card.arm(Faults(mute=True))
    mute = engine.check(EmulatorReader(card=card), uid=UID)
    assert mute.outcome is Outcome.UNREADABLE and mute.verdict is None and mute.event_id is None
    assert journal(store) == ()


# --- the barcode fallback -------------------------------------------------------------------------


def test_a_mute_chip_gets_the_verdict_of_its_barcode(cards, keystore, store, clock):
    held = signed(keystore, coupon(501))
    put_lists(store, entitlements=[entitled(coupons=[(held, "written")])],
              issued_at=clock.now - timedelta(hours=1))
    engine = inspector(store, keystore, clock)
    chip = check(engine, card_of(cards, "valid"))
    card = tap_again(card_of(cards, "valid"))
    card.arm(Faults(mute=True))
    assert engine.check(EmulatorReader(card=card), uid=UID).outcome is Outcome.UNREADABLE
    barcode = engine.check_number(NUMBER.formatted)
    assert barcode.source is Source.BARCODE and barcode.verdict == chip.verdict
    assert barcode.data_as_of == clock.now - timedelta(hours=1)
    assert barcode.image.record.first_name == "-" and barcode.image.coupons == (held,)
    assert barcode.event_id is not None
    entry = journal(store)[-1]
    assert (entry.kind, entry.event_id, entry.coupons) == (JournalKind.INSPECTION,
                                                           barcode.event_id, None)


def test_a_number_that_is_no_card_number_is_refused_and_not_journalled(keystore, store, clock):
    outcome = inspector(store, keystore, clock).check_number("123 456 789 0")
    assert outcome.outcome is Outcome.REFUSED_NUMBER and outcome.event_id is None
    assert journal(store) == ()


# --- the outcome and the shift --------------------------------------------------------------------


def test_the_inspectors_outcome_is_journalled_once_per_check(cards, keystore, store, clock):
    engine = inspector(store, keystore, clock)
    valid = check(engine, card_of(cards, "valid"))
    assert engine.record_outcome(valid, valid=True)
    assert not engine.record_outcome(valid, valid=True)  # once per check
    clock.advance(90)
    refused = check(engine, card_of(cards, "empty"))
    assert engine.record_outcome(refused, valid=False, note="  fine  123/2026 ")
    outcome = journal(store)[-1]
    assert (outcome.kind, outcome.result, outcome.note, outcome.zone, outcome.line) == (
        JournalKind.INSPECTION, int(Reason.NO_COUPON), "fine 123/2026", 1, 14)
    with pytest.raises(InvalidField):
        engine.record_outcome(valid, valid=False)  # a valid verdict: say why not
    with pytest.raises(InvalidField):
        engine.record_outcome(valid, valid=True, reason=Reason.NO_COUPON)
    with pytest.raises(InvalidField):
        engine.record_outcome(refused, valid=False, note="x" * 201)
    gone = replace(valid, event_id=None)
    with pytest.raises(InvalidField):
        engine.record_outcome(gone, valid=True)


def test_the_inspector_records_a_personal_card_carried_by_someone_else(cards, keystore, store,
                                                                         clock):
    engine = inspector(store, keystore, clock)
    valid = check(engine, card_of(cards, "valid"))
    assert valid.verdict is not None and valid.verdict.ok  # the chip is fine; its carrier is not
    assert valid.image is not None and may_be_someone_elses(valid)
    assert engine.record_outcome(valid, valid=False, reason=Reason.NOT_THE_HOLDER, note="ID 77")
    outcome = journal(store)[-1]
    assert (outcome.kind, outcome.result, outcome.note) == (
        JournalKind.INSPECTION, int(Reason.NOT_THE_HOLDER), "ID 77")
    clock.advance(90)
    mute = engine.check_number(str(CardNumber.from_serial(999000111)))  # nothing in the lists
    assert mute.image is None and may_be_someone_elses(mute)  # its printed photo may tell
    assert engine.record_outcome(mute, valid=False, reason=Reason.NOT_THE_HOLDER)
    clock.advance(90)
    again = check(engine, card_of(cards, "valid"))
    assert again.image is not None
    anonymous = replace(again, image=replace(again.image, record=ANONYMOUS))
    assert not may_be_someone_elses(anonymous)
    with pytest.raises(InvalidField, match="anyone's"):
        engine.record_outcome(anonymous, valid=False, reason=Reason.NOT_THE_HOLDER)
    assert engine.record_outcome(anonymous, valid=False, reason=Reason.NO_COUPON)


def test_the_shift_counts_the_days_checks_by_outcome_line_and_hour(cards, keystore, store,
                                                                   clock):
    engine = inspector(store, keystore, clock)
    first = check(engine, card_of(cards, "valid"))
    engine.record_outcome(first, valid=True)
    clock.advance(3600)
    engine.position = Position(zone=1, line=7)
    refused = check(engine, card_of(cards, "empty"))
    engine.record_outcome(refused, valid=False, reason=Reason.NO_COUPON, note="fine 1")
    clock.advance(60)
    engine.check_number(CardNumber.from_serial(7).digits)  # nothing in the lists for it
    clock.advance(24 * 3600)  # the next day: a new shift
    check(engine, card_of(cards, "valid"))
    shift = engine.shift(clock.now - timedelta(days=1))
    assert shift.day == date(2026, 11, 20)
    assert (shift.checks, shift.valid, shift.barcode) == (3, 1, 1)
    assert shift.invalid == ((Reason.NO_COUPON, 2),)
    assert (shift.recorded, shift.recorded_invalid, shift.unrecorded) == (2, 1, 1)
    assert shift.by_line == ((7, 2), (14, 1))
    assert shift.per_hour[9] == 1 and shift.per_hour[10] == 2 and sum(shift.per_hour) == 3
    assert engine.shift().checks == 1


# --- the terminal directory -----------------------------------------------------------------------


def test_only_a_terminal_with_the_load_key_checks_cards(keystore, store, clock):
    with pytest.raises(InvalidField, match="inspector"):
        inspector(store, keystore, clock, role=DeviceRole.VALIDATOR)
    status = inspector(store, keystore, clock).status()
    assert status.position == PLACE and not status.lists.stale and status.backlog == 0
