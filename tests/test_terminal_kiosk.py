"""The kiosk's engine on emulated cards: the coupons paid at the office loaded before the card is
shown, a full card leaving one waiting with its reason, a second view writing nothing, the cards
the kiosk shows nothing of (blocked, not activated, not issued, not ours) and a journal without
names."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import date, timedelta

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import JournalKind
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.apps.kiosk_view import Refused, refused
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.errors import TerminalConfigError
from ekarta.terminal.kiosk import Kiosk
from ekarta.terminal.outcome import ActionState, Outcome, Progress
from ekarta.transit import CardStatus, EventKind
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import AID
from ekarta.transit.codec.records import SLOT_COUNT
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.rules import valid_or_future
from tests.support.actions import activate, credit, load, put_actions
from tests.support.validator import (
    FIRST_NAME,
    NUMBER,
    RECORD,
    SURNAME,
    UID,
    coupon,
    make_card,
    put_lists,
    signed,
    tap_again,
)

DEVICE = 3


def kiosk(store, keystore, clock) -> Kiosk:
    return Kiosk(store, keystore, keystore.verifier(), device=DEVICE, clock=clock)


def view(engine: Kiosk, card: VirtualCard, **options):
    tap_again(card)
    return engine.view(EmulatorReader(card=card), uid=UID, **options)


def test_the_coupons_paid_at_the_office_are_loaded_before_the_card_is_shown(
        keystore, store, clock):
    on_card = signed(keystore, coupon(801))
    paid = signed(keystore, coupon(802, date(2026, 12, 20), zones=(1, 2, 3)))
    card = VirtualCard(make_card(keystore, slots=[on_card]))
    put_actions(store, [load(40, paid), credit(41, serial=9, amount=20_000)],
                issued_at=clock.now)
    steps: list[Progress] = []
    outcome = view(kiosk(store, keystore, clock), card, progress=steps.append)
    assert outcome.outcome is Outcome.VERDICT and outcome.ok and refused(outcome) is None
    assert [(a.action_id, a.state) for a in outcome.actions] == [(40, ActionState.DONE),
                                                                 (41, ActionState.DONE)]
    shown = valid_or_future(outcome.image.slots, date(2026, 11, 20))
    assert sorted(c.serial for c in shown) == [801, 802] and outcome.image.purse == 20_000
    assert outcome.image.record.first_name == FIRST_NAME  # for the screen
    assert steps and steps[-1].done == steps[-1].total
    assert outcome.zone is None and outcome.verdict.zone is None
    # the credit in a transaction of its own (its record finds it again), the loads with the view
    records = sorted(card_events(card, keystore), key=lambda e: e.sequence)
    assert [e.kind for e in records] == [EventKind.PURSE_CREDIT, EventKind.KIOSK_VIEW]
    assert (records[1].device, records[1].zone, records[1].line) == (DEVICE, None, None)
    events = store.outbox(100)
    assert {e.kind for e in events} == {JournalKind.KIOSK_VIEW, JournalKind.LOAD,
                                        JournalKind.PURSE_CREDIT}
    written = json.dumps([e.model_dump(mode="json") for e in events])
    assert FIRST_NAME not in written and SURNAME not in written


def card_events(card: VirtualCard, keystore):
    """The card's log as it is now."""
    tap_again(card)
    return read_card(DESFire(EmulatorReader(card=card)), keystore).events


def test_a_full_card_leaves_the_paid_coupon_waiting_with_its_reason(keystore, store, clock):
    future = [signed(keystore, coupon(810 + i, date(2026, 11, 1) + timedelta(days=30 * i)))
              for i in range(SLOT_COUNT)]
    card = VirtualCard(make_card(keystore, slots=future))
    paid = signed(keystore, coupon(820, date(2027, 4, 1)))
    put_actions(store, [load(50, paid)], issued_at=clock.now)
    outcome = view(kiosk(store, keystore, clock), card)
    [waiting] = outcome.actions
    assert waiting.state is ActionState.WAITING and waiting.serial == 820
    assert waiting.refused is not None and waiting.refused.message("cs")
    assert refused(outcome) is None  # the card itself is shown
    assert card_events(card, keystore) == ()  # nothing written


def test_a_second_view_changes_nothing(keystore, store, clock):
    paid = signed(keystore, coupon(830))
    card = VirtualCard(make_card(keystore))
    put_actions(store, [load(60, paid)], issued_at=clock.now)
    engine = kiosk(store, keystore, clock)
    first = view(engine, card)
    assert first.recorded and first.actions[0].state is ActionState.DONE
    revision = tap_again(card).revision
    clock.advance(30)
    second = view(engine, card)
    assert card.revision == revision and second.repeated and second.actions == ()
    assert second.ok and [c.serial for c in second.image.coupons] == [830]


def test_a_look_at_a_card_with_nothing_to_load_writes_nothing(keystore, store, clock):
    card = VirtualCard(make_card(keystore, slots=[signed(keystore, coupon(840))]))
    revision = tap_again(card).revision
    outcome = view(kiosk(store, keystore, clock), card)
    assert outcome.ok and not outcome.recorded and card.revision == revision
    [entry] = store.outbox(10)
    assert entry.kind is JournalKind.KIOSK_VIEW and entry.card_number == NUMBER.digits


def test_the_cards_the_kiosk_shows_nothing_of(keystore, store, clock):
    engine = kiosk(store, keystore, clock)
    produced = view(engine, VirtualCard(make_card(keystore, replace(
        RECORD, status=CardStatus.PRODUCED))))
    assert refused(produced) is Refused.NOT_ACTIVE
    expired = view(engine, VirtualCard(make_card(keystore, replace(
        RECORD, expiry=date(2026, 11, 19)))))
    assert refused(expired) is Refused.EXPIRED
    foreign = view(engine, VirtualCard.new(uid=UID))
    assert foreign.outcome is Outcome.NOT_A_TRANSIT_CARD
    assert refused(foreign) is Refused.NOT_A_TRANSIT_CARD
    half = VirtualCard(make_card(keystore))
    half.state.applications[AID].files[1].data[:] = bytes(128)  # the record never written
    not_issued = view(engine, half)
    assert not_issued.outcome is Outcome.NOT_ISSUED and refused(not_issued) is Refused.NOT_ISSUED
    # reported lost at the office: on the hotlist, and now blocked on its chip too
    put_lists(store, hot=[(NUMBER, UID)], issued_at=clock.now - timedelta(hours=1))
    blocked = view(engine, VirtualCard(make_card(keystore)))
    assert refused(blocked) is Refused.BLOCKED and blocked.blocked_written


def test_a_card_activated_at_the_office_is_written_active_and_shown(keystore, store, clock):
    card = VirtualCard(make_card(keystore, replace(RECORD, status=CardStatus.PRODUCED)))
    put_actions(store, [activate(70)], issued_at=clock.now)
    outcome = view(kiosk(store, keystore, clock), card)
    assert outcome.actions[0].state is ActionState.DONE
    assert outcome.image.record.status is CardStatus.ACTIVE and refused(outcome) is None


def test_a_kiosk_needs_a_kiosk_s_terminal(keystore, store, clock, tmp_path):
    with pytest.raises(InvalidField, match="kiosk's role"):
        Kiosk(store, keystore, keystore.verifier(), device=DEVICE,
              role=DeviceRole.INSPECTOR)
    inspector = TerminalConfig(directory=str(tmp_path), office="http://127.0.0.1:1",
                               role=DeviceRole.INSPECTOR, device="handheld 7", token="t0ken")
    with pytest.raises(TerminalConfigError, match="a kiosk needs a kiosk's"):
        Kiosk.check_config(inspector)
