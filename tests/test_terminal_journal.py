"""The journal writer: a tap's events reach the store from a thread of their own, in order,
whatever holds the store's write lock meanwhile, and none is dropped without a word."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import timedelta

import pytest

from ekarta.emulator import VirtualCard
from ekarta.emulator.reader import EmulatorReader
from ekarta.sync.messages import JournalEvent, JournalKind
from ekarta.terminal.errors import TerminalStoreError
from ekarta.terminal.journal import JournalWriter
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.tap import Position, Validator
from tests.support.validator import (
    AT,
    UID,
    Clock,
    coupon,
    make_card,
    put_lists,
    signed,
    tap_again,
)


def event(n: int) -> JournalEvent:
    return JournalEvent(event_id=uuid.UUID(int=n + 1), kind=JournalKind.VALIDATION,
                        at=AT + timedelta(minutes=n), card_number=None)


@pytest.fixture
def path(tmp_path):
    name = tmp_path / "store.sqlite"
    TerminalStore.open(name, create=True).close()
    return name


@pytest.fixture
def store(path):
    with TerminalStore.open(path) as store:
        yield store


def test_events_reach_the_outbox_in_the_order_given(path, store):
    with JournalWriter(lambda: TerminalStore.open(path)) as writer:
        for n in range(5):
            writer.append(event(n), now=AT)
        assert writer.flush(10)
        assert writer.pending == 0
    assert [e.event_id for e in store.outbox(10)] == [event(n).event_id for n in range(5)]


def test_an_append_does_not_wait_for_a_write_lock_held_elsewhere(path, store):
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # a sync applying a page holds the store's write lock
    try:
        with JournalWriter(lambda: TerminalStore.open(path)) as writer:
            writer.append(event(1), now=AT)  # returns at once
            assert writer.pending == 1
            assert not writer.flush(0.2)
            other.execute("ROLLBACK")
            assert writer.flush(15)
    finally:
        other.close()
    assert [e.event_id for e in store.outbox(10)] == [event(1).event_id]


def test_closing_writes_what_is_queued_and_refuses_more(path, store):
    writer = JournalWriter(lambda: TerminalStore.open(path))
    for n in range(3):
        writer.append(event(n), now=AT)
    writer.close()
    assert len(store.outbox(10)) == 3
    with pytest.raises(TerminalStoreError, match="closed"):
        writer.append(event(9), now=AT)


def test_a_store_that_cannot_be_written_is_retried_then_named_at_close(tmp_path):
    attempts = []

    def broken() -> TerminalStore:
        attempts.append(1)
        return TerminalStore.open(tmp_path / "missing.sqlite")  # no store there

    writer = JournalWriter(broken, retry=(0.01,))
    writer.append(event(1), now=AT)
    writer.append(event(2), now=AT)
    assert not writer.flush(0.1)
    with pytest.raises(TerminalStoreError, match=r"2 journal event\(s\) could not be written.*"
                                                 r"no terminal store"):
        writer.close(timeout=5)
    assert len(attempts) > 1


def test_an_event_given_as_its_maker_is_made_once_in_the_writers_thread(path, store):
    import threading

    made, opened = [], []

    def maker() -> JournalEvent:
        made.append(threading.current_thread().name)
        return event(7)

    def flaky() -> TerminalStore:
        opened.append(1)
        if len(opened) < 3:
            raise TerminalStoreError("the store's disk is gone for a moment")
        return TerminalStore.open(path)

    with JournalWriter(flaky, retry=(0.01,), name="journal-test") as writer:
        writer.append(maker, now=AT)
        assert writer.flush(10)
    assert len(opened) == 3 and made == ["journal-test"]
    assert [e.event_id for e in store.outbox(10)] == [event(7).event_id]


def test_an_event_that_cannot_be_made_is_named_at_close(path):
    def refused() -> JournalEvent:
        return JournalEvent(event_id=uuid.uuid4(), kind=JournalKind.VALIDATION, at=AT,
                            card_number="123")  # not a card number

    writer = JournalWriter(lambda: TerminalStore.open(path), retry=(0.01,))
    writer.append(refused, now=AT)
    with pytest.raises(TerminalStoreError, match=r"1 journal event\(s\) could not be written"):
        writer.close(timeout=1)


def test_a_validator_answers_a_tap_while_the_store_is_locked_and_journals_it_after(
        keystore, path, store):
    clock = Clock()
    put_lists(store, issued_at=clock.now - timedelta(hours=1))
    card = VirtualCard(make_card(keystore, slots=[signed(keystore, coupon(501))]))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    writer = JournalWriter(lambda: TerminalStore.open(path))
    validator = Validator(store, keystore, keystore.verifier(), device=1017,
                          position=Position(zone=1, line=14), clock=clock, journal=writer)
    try:
        tap_again(card)
        outcome = validator.tap(EmulatorReader(card=card), uid=UID)
        assert outcome.ok and outcome.recorded
        assert validator.status().backlog == 1  # queued, not yet on the disk
    finally:
        other.execute("ROLLBACK")
        other.close()
    writer.close()
    [journalled] = store.outbox(10)
    assert journalled.kind is JournalKind.VALIDATION and journalled.line == 14
    assert validator.status().backlog == 1
