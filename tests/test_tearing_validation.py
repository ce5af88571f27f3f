"""Acceptance 3: a card pulled away at any command of a validator's tap, or half-way through any
command, is never recorded twice and never shown a verdict its card does not hold, and the next
tap completes the work.

The card is torn as each command of the tap arrives, and in the middle of each (before and after
the commit's point of no return); then it is tapped again, within the repeat window.  Throughout:
a tap torn is "tap again", never a verdict; afterwards the card holds exactly one record of the
validation (a valid card's VALIDATION, a hotlisted card's blocked status with its BLOCKING), the
journal exactly one event of it, and the second tap shows the verdict as a first showing.  The
fast loop tears a valid card's tap at every command and the hotlisted card's around its commit;
the ``slow`` marker runs every other point.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.sync.messages import JournalKind
from ekarta.terminal.outcome import Outcome
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.tap import Position, Validator
from ekarta.transit import CardStatus, EventKind, Reason
from ekarta.transit.cardio.reading import read_card
from tests.support.validator import (
    NUMBER,
    UID,
    Clock,
    coupon,
    make_card,
    put_lists,
    signed,
    tap_again,
)

DEVICE = 31
PLACE = Position(zone=1, line=7)

CASES = {
    # name: (hotlisted, the record's kind, the journal's kind, the commands of the tap)
    "valid": (False, EventKind.VALIDATION, JournalKind.VALIDATION, 20),
    "hotlisted": (True, EventKind.BLOCKING, JournalKind.BLOCKING, 21),
}


@pytest.fixture(scope="module")
def start_card(keystore) -> dict[str, Any]:
    return make_card(keystore, slots=[signed(keystore, coupon(501))]).to_dict()


def setup(tmp_path, keystore, start_card, name: str):
    hot, *_ = CASES[name]
    clock = Clock()
    store = TerminalStore.open(tmp_path / "store.sqlite", create=True)
    put_lists(store, hot=[(NUMBER, UID)] if hot else [], issued_at=clock.now - timedelta(hours=1))
    card = VirtualCard(CardState.from_dict(start_card, "start card"))
    return clock, store, card


def validator(store, keystore, clock) -> Validator:
    return Validator(store, keystore, keystore.verifier(), device=DEVICE, position=PLACE,
                     clock=clock)


def records(card: VirtualCard, keystore, kind: EventKind):
    tap_again(card)
    image = read_card(DESFire(EmulatorReader(card=card)), keystore)
    assert image.errors == ()
    return image, [e for e in image.events if e.kind is kind]


@pytest.mark.parametrize("name", CASES)
def test_each_tap_takes_the_counted_commands(tmp_path, keystore, start_card, name):
    clock, store, card = setup(tmp_path, keystore, start_card, name)
    tap_again(card)
    before = card.commands_processed
    assert validator(store, keystore, clock).tap(EmulatorReader(card=card), uid=UID).recorded
    assert card.commands_processed - before == CASES[name][3]


def _points(slow: bool) -> list[Any]:
    every = []
    for name, (*_, commands) in CASES.items():
        every += [(name, "after", n, 0.0) for n in range(commands + 1)]
        every += [(name, "during", n, p) for n in range(commands) for p in (0.1, 0.9)]
    fast = [p for p in every if (p[0] == "valid" and p[1] == "after")
            or p[2] >= CASES[p[0]][3] - 1]
    return [p for p in every if (p in fast) != slow]


def _sweep(tmp_path, keystore, start_card, name: str, kind: str, n: int,
           progress: float) -> None:
    hot, record_kind, journal_kind, commands = CASES[name]
    clock, store, card = setup(tmp_path, keystore, start_card, name)
    v = validator(store, keystore, clock)
    tap_again(card)
    card.arm(Faults(tear_after=n) if kind == "after"
             else Faults(tear_during=n, tear_progress=progress))
    first = v.tap(EmulatorReader(card=card), uid=UID)
    card.arm(None)
    image, found = records(card, keystore, record_kind)
    committed = (kind == "after" and n == commands) or (
        kind == "during" and n == commands - 1 and progress >= 0.5)
    assert len(found) == committed
    if kind == "after" and n == commands:
        assert first.outcome is Outcome.VERDICT and first.recorded
    else:
        # a tap torn is never a verdict, whatever the card took
        assert first.outcome is Outcome.TAP_AGAIN and first.verdict is None
        assert not first.recorded
    assert (image.record.status is CardStatus.BLOCKED) == (hot and committed)
    assert len(store.outbox(10)) == (1 if first.recorded else 0)

    # the passenger taps again within the window: the work is done, once
    clock.advance(10)
    second = v.tap(EmulatorReader(card=tap_again(card)), uid=UID)
    assert second.outcome is Outcome.VERDICT and second.recorded
    assert second.verdict.reason is (Reason.CARD_BLOCKED if hot else Reason.VALID)
    assert second.blocked_written == hot
    assert second.repeated == first.recorded  # shown before only if the first tap showed it
    image, found = records(card, keystore, record_kind)
    assert len(found) == 1 and len(image.events) == 1
    assert (found[0].device, found[0].zone, found[0].line) == (DEVICE, 1, 7)
    [entry] = store.outbox(10)
    assert (entry.kind, entry.card_number) == (journal_kind, NUMBER.digits)
    store.close()


@pytest.mark.parametrize(("name", "kind", "n", "progress"), _points(slow=False), ids=str)
def test_a_tap_torn_anywhere_is_recorded_once_by_the_next(tmp_path, keystore, start_card, name,
                                                          kind, n, progress):
    _sweep(tmp_path, keystore, start_card, name, kind, n, progress)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind", "n", "progress"), _points(slow=True), ids=str)
def test_a_tap_torn_half_way_through_any_command_is_recorded_once_by_the_next(
        tmp_path, keystore, start_card, name, kind, n, progress):
    _sweep(tmp_path, keystore, start_card, name, kind, n, progress)


def _torn_after_the_commit(tmp_path, keystore, start_card):
    clock, store, card = setup(tmp_path, keystore, start_card, "valid")
    v = validator(store, keystore, clock)
    tap_again(card).arm(Faults(tear_during=CASES["valid"][3] - 1, tear_progress=0.9))
    assert v.tap(EmulatorReader(card=card), uid=UID).outcome is Outcome.TAP_AGAIN
    return clock, store, tap_again(card), v


def test_a_lost_commit_found_after_the_window_is_journalled_and_the_new_tap_recorded(
        tmp_path, keystore, start_card):
    clock, store, card, v = _torn_after_the_commit(tmp_path, keystore, start_card)
    clock.advance(300)
    again = v.tap(EmulatorReader(card=card), uid=UID)
    assert again.ok and again.recorded and not again.repeated
    _, found = records(card, keystore, EventKind.VALIDATION)
    assert [e.sequence for e in found] == [1, 2]
    journal = store.outbox(10)
    assert [e.at for e in journal] == [clock.now - timedelta(seconds=300), clock.now]
    store.close()


def test_a_restarted_validator_finds_a_lost_commit_in_the_cards_log(tmp_path, keystore,
                                                                    start_card):
    clock, store, card, _ = _torn_after_the_commit(tmp_path, keystore, start_card)
    clock.advance(20)
    again = validator(store, keystore, clock).tap(EmulatorReader(card=card), uid=UID)
    assert again.ok and again.recorded
    _, found = records(card, keystore, EventKind.VALIDATION)
    assert len(found) == 1 and len(store.outbox(10)) == 1
    store.close()
