"""Acceptance 3: a card pulled away at any command of an inspector's check that loads the office's
coupons and credits its purse, or half-way through any command, holds each coupon exactly once
or not at all, the office is told only what the card committed, and the next check completes
the rest.

The check of an empty card with two coupons and a purse credit pending writes the credit in a
transaction of its own (its log record is how it is found again), then both coupons with the
check's record in one.  The card is torn as each command of the check arrives, and in the
middle of each (before and after the commit's point of no return); then it is checked again.
Throughout: a torn check is "tap again", never a verdict; the card always decodes; every coupon
is on it once or absent, the purse credited once or not at all; every action the journal
reports done is on the card; after the next check everything is on the card once and journalled
once, and nothing is left pending.  The fast loop tears as each command of the writing arrives
and half-way through both commits; the ``slow`` marker runs every other point.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from ekarta.desfire import DESFire
from ekarta.emulator import Faults, VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.emulator.state import CardState
from ekarta.sync.messages import JournalKind
from ekarta.terminal.engine import Position
from ekarta.terminal.inspect import Inspector
from ekarta.terminal.outcome import ActionState, Outcome
from ekarta.terminal.store import TerminalStore
from ekarta.transit import EventKind
from ekarta.transit.cardio.reading import read_card
from tests.support.actions import credit, load, put_actions
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

DEVICE = 2207
PLACE = Position(zone=1, line=7)
AMOUNT = 20_000
COMMANDS = 24
"""The commands of the check: reading with the load key, then the credit's three (Credit, its
record, the commit), then the two coupons, the check's record and the commit."""
WRITES = 7
"""The last commands: the writing."""


@pytest.fixture(scope="module")
def start(keystore) -> dict[str, Any]:
    coupons = [signed(keystore, coupon(601)), signed(keystore, coupon(602, date(2026, 12, 1)))]
    return {"card": make_card(keystore).to_dict(), "coupons": coupons}


def setup(tmp_path, keystore, start):
    clock = Clock()
    store = TerminalStore.open(tmp_path / "store.sqlite", create=True)
    put_lists(store, issued_at=clock.now - timedelta(hours=1))
    put_actions(store, [credit(1, 9001, AMOUNT), load(2, start["coupons"][0]),
                        load(3, start["coupons"][1])], issued_at=clock.now)
    card = VirtualCard(CardState.from_dict(start["card"], "start card"))
    engine = Inspector(store, keystore, keystore.verifier(), device=DEVICE, position=PLACE,
                       clock=clock)
    return clock, store, card, engine


def read(card: VirtualCard, keystore):
    tap_again(card)
    image = read_card(DESFire(EmulatorReader(card=card)), keystore)
    assert image.errors == ()
    return image


def reported(store: TerminalStore) -> Counter:
    """How often the journal says each action was done."""
    return Counter(e.action_id for e in store.outbox(100) if e.action_id is not None)


def test_the_check_takes_the_counted_commands(tmp_path, keystore, start):
    _, _, card, engine = setup(tmp_path, keystore, start)
    tap_again(card)
    before = card.commands_processed
    outcome = engine.check(EmulatorReader(card=card), uid=UID)
    assert [a.state for a in outcome.actions] == [ActionState.DONE] * 3
    assert card.commands_processed - before == COMMANDS


def _points(slow: bool) -> list[Any]:
    every = [("after", n, 0.0) for n in range(COMMANDS + 1)]
    every += [("during", n, p) for n in range(COMMANDS) for p in (0.1, 0.9)]
    commits = (COMMANDS - WRITES + 2, COMMANDS - 1)
    fast = [p for p in every if p[1] >= COMMANDS - WRITES and (p[0] == "after" or p[1] in commits)]
    return [p for p in every if (p in fast) != slow]


def _sweep(tmp_path, keystore, start, kind: str, n: int, progress: float) -> None:
    clock, store, card, engine = setup(tmp_path, keystore, start)
    coupons = start["coupons"]
    tap_again(card)
    card.arm(Faults(tear_after=n) if kind == "after"
             else Faults(tear_during=n, tear_progress=progress))
    first = engine.check(EmulatorReader(card=card), uid=UID)
    card.arm(None)
    image = read(card, keystore)
    held = Counter(c.serial for c in image.coupons)
    credited = [e for e in image.events if e.kind is EventKind.PURSE_CREDIT]
    assert all(count == 1 for count in held.values())
    assert len(credited) <= 1 and image.purse == AMOUNT * len(credited)
    if kind == "after" and n == COMMANDS:
        assert first.outcome is Outcome.VERDICT and first.ok
    else:
        # a check torn is never a verdict, whatever the card took
        assert first.outcome is Outcome.TAP_AGAIN and first.verdict is None
    # the office is told only what the card holds
    told = reported(store)
    assert all(count == 1 for count in told.values())
    assert (1 in told) <= bool(credited)
    assert (2 in told) <= (601 in held) and (3 in told) <= (602 in held)
    assert {a.action_id for a in first.actions if a.state is ActionState.DONE} <= set(told)

    # the inspector checks the card again: the rest is done, nothing twice
    clock.advance(5)
    second = engine.check(EmulatorReader(card=tap_again(card)), uid=UID)
    assert second.outcome is Outcome.VERDICT and second.ok
    image = read(card, keystore)
    assert sorted(c.serial for c in image.coupons) == [601, 602]
    assert image.purse == AMOUNT
    assert [e.coupon_serial for e in image.events if e.kind is EventKind.PURSE_CREDIT] == [9001]
    assert reported(store) == Counter({1: 1, 2: 1, 3: 1})
    assert store.pending_actions(NUMBER) == ()
    # what the torn check journalled is no longer pending; the rest is done or found now
    assert {a.action_id for a in second.actions} == {1, 2, 3} - set(told)
    assert all(a.state in (ActionState.DONE, ActionState.FOUND) for a in second.actions)
    assert [e.kind for e in store.outbox(100)].count(JournalKind.LOAD) == 2
    assert coupons == list(image.coupons)


@pytest.mark.parametrize(("kind", "n", "progress"), _points(slow=False))
def test_a_check_torn_while_it_writes_leaves_each_coupon_once_or_absent(
        tmp_path, keystore, start, kind, n, progress):
    _sweep(tmp_path, keystore, start, kind, n, progress)


@pytest.mark.slow
@pytest.mark.parametrize(("kind", "n", "progress"), _points(slow=True))
def test_a_check_torn_at_any_other_point_leaves_the_card_whole(tmp_path, keystore, start, kind,
                                                                n, progress):
    _sweep(tmp_path, keystore, start, kind, n, progress)
