"""Acceptance 3: a card pulled away at any command of activating, blocking (with either key),
unblocking or changing the card record is never left corrupt.

The card is torn as each command arrives, and half-way through each command: afterwards it still
decodes, with no unreadable log record, and holds either its old card record and log, or the new
record with exactly one event record of the operation; running the operation again then leaves
the change there exactly once.  The cards are emulated in memory (each point starts from a copy
of the same card).  The fast loop tears one operation at every command and every operation around
its commit; the ``slow`` marker runs every point of every operation.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.errors import CardRemovedError
from ekarta.transit import CardKind, CardRecord, CardStatus, EventKind, Profile, Reason
from ekarta.transit.cardio.issuance import issue_card
from ekarta.transit.cardio.lifecycle import (
    CardOperationRefused,
    RecordResult,
    activate_card,
    block_card,
    change_card_record,
    unblock_card,
)
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import KeyRole
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import RecordChange
from ekarta.transit.model.timecodec import PRAGUE
from ekarta.transit.security.keystore import KeyProvider

UID = bytes.fromhex("04A1B2C3D4E5F6")
AT = datetime(2026, 11, 20, 9, 30, tzinfo=PRAGUE)
PRODUCED = CardRecord(CardNumber.from_serial(123456789), CardKind.PERSONAL, CardStatus.PRODUCED,
                      date(2030, 12, 31), Profile.STUDENT, profile_end=date(2027, 8, 31),
                      birth_date=date(2008, 4, 1), first_name="Jana", surname="Nováková")
ACTIVE = replace(PRODUCED, status=CardStatus.ACTIVE)
BLOCKED = replace(PRODUCED, status=CardStatus.BLOCKED)
CHANGE = RecordChange(surname="Novák", profile_end=date(2028, 8, 31), expiry=date(2032, 12, 31))

Operation = Callable[[DESFire, KeyProvider], RecordResult]


@dataclass(frozen=True)
class Case:
    """One operation: the card it starts from, what it leaves, the commands it takes."""

    start: str
    run: Operation
    kind: EventKind
    after: CardRecord
    commands: int
    """Counted on the start card by test_each_operation_takes_the_counted_commands."""


CASES: dict[str, Case] = {
    "activate": Case("produced", lambda df, keys: activate_card(df, keys, at=AT),
                     EventKind.ACTIVATION, ACTIVE, 22),
    "block-validation": Case("active", lambda df, keys: block_card(df, keys, at=AT),
                             EventKind.BLOCKING, BLOCKED, 26),
    "block-load": Case("active", lambda df, keys: block_card(df, keys, at=AT,
                                                            role=KeyRole.LOAD),
                       EventKind.BLOCKING, BLOCKED, 23),
    "unblock": Case("blocked", lambda df, keys: unblock_card(df, keys, at=AT),
                    EventKind.UNBLOCKING, ACTIVE, 24),
    "update": Case("active", lambda df, keys: change_card_record(df, keys, CHANGE, at=AT),
                   EventKind.RECORD_CHANGE, CHANGE.apply(ACTIVE), 23),
}
BEFORE = {"produced": PRODUCED, "active": ACTIVE, "blocked": BLOCKED}


def tap(card: VirtualCard) -> DESFire:
    """A new tap: the card is back in the field and powers up afresh."""
    if not card.present:
        card.insert()
    card.reset()
    return DESFire(EmulatorReader(card=card))


@pytest.fixture(scope="module")
def start_cards(keystore) -> dict[str, dict[str, Any]]:
    """The start cards' states: produced (no event), active (its activation logged), blocked
    (its blocking logged too)."""
    card = VirtualCard.new(uid=UID)
    issue_card(tap(card), keystore, PRODUCED)
    states = {"produced": card.state.to_dict()}
    activate_card(tap(card), keystore, at=AT)
    states["active"] = card.state.to_dict()
    block_card(tap(card), keystore, at=AT)
    states["blocked"] = card.state.to_dict()
    return states


def start(start_cards, case: Case) -> VirtualCard:
    return VirtualCard(CardState.from_dict(start_cards[case.start], "start card"))


def outcome(card: VirtualCard, keystore, case: Case) -> bool:
    """The card decodes cleanly and holds the old record and log, or the new record with one
    event record of the operation; returns whether it holds the change."""
    image = read_card(tap(card), keystore)
    assert image.errors == ()
    before = BEFORE[case.start]
    assert image.record in (before, case.after)
    changed = image.record == case.after
    prior = {"produced": 0, "active": 1, "blocked": 2}[case.start]
    assert len(image.events) == prior + changed
    if changed:
        assert image.events[-1].kind is case.kind
    return changed


@pytest.mark.parametrize("name", CASES)
def test_each_operation_takes_the_counted_commands(start_cards, keystore, name):
    case = CASES[name]
    card = start(start_cards, case)
    df = tap(card)
    before = card.commands_processed
    assert case.run(df, keystore).changed
    assert card.commands_processed - before == case.commands


FAST_SWEEP = "update"
"""The operation torn at every command in the fast loop; the others are torn around their commit
there, and at every command under the ``slow`` marker."""


def _points(slow: bool) -> list[Any]:
    every = []
    for name, case in CASES.items():
        every += [(name, "after", n, 0.0) for n in range(case.commands + 1)]
        every += [(name, "during", n, p) for n in range(case.commands) for p in (0.1, 0.9)]
    fast = [point for point in every
            if (point[0] == FAST_SWEEP and point[1] == "after")
            or point[2] >= CASES[point[0]].commands - 1]
    return [point for point in every if (point in fast) != slow]


def _sweep(start_cards, keystore, name: str, kind: str, n: int, progress: float) -> None:
    case = CASES[name]
    card = start(start_cards, case)
    df = tap(card)
    card.arm(Faults(tear_after=n) if kind == "after"
             else Faults(tear_during=n, tear_progress=progress))
    try:
        case.run(df, keystore)
        done = True
    except CardRemovedError:
        done = False
    card.arm(None)
    changed = outcome(card, keystore, case)
    last = case.commands - 1
    if kind == "after":
        assert done == (n == case.commands)
        assert changed == done  # torn as a command arrived: changed only if the commit ran
    else:
        assert not done
        assert changed == (n == last and progress >= 0.5)
    # The terminal tries again: the change ends up on the card exactly once.  Unblocking a card
    # that is not blocked is refused (it says so), so a retry of a committed unblocking is too.
    if changed and case.kind is EventKind.UNBLOCKING:
        with pytest.raises(CardOperationRefused) as info:
            case.run(tap(card), keystore)
        assert info.value.refusal.reason is Reason.CARD_NOT_BLOCKED
    else:
        again = case.run(tap(card), keystore)
        assert again.record == case.after and again.changed != changed
    assert outcome(card, keystore, case)


@pytest.mark.parametrize(("name", "kind", "n", "progress"), _points(slow=False), ids=str)
def test_an_operation_torn_anywhere_leaves_the_change_whole_or_absent(
        start_cards, keystore, name, kind, n, progress):
    _sweep(start_cards, keystore, name, kind, n, progress)


@pytest.mark.slow
@pytest.mark.parametrize(("name", "kind", "n", "progress"), _points(slow=True), ids=str)
def test_an_operation_torn_half_way_through_any_command_leaves_the_change_whole_or_absent(
        start_cards, keystore, name, kind, n, progress):
    _sweep(start_cards, keystore, name, kind, n, progress)
