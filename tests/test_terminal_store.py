"""The terminal's store: pages applied whole with their cursor, snapshots that never empty the
live list before they are complete, refused pages that change nothing, and the journal outbox."""

from __future__ import annotations

import os
import sqlite3
import stat
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from ekarta.backoffice.api import create_app
from ekarta.backoffice.database import open_engine
from ekarta.backoffice.feeds import list_blocked, unlist_blocked
from ekarta.backoffice.schema import Card, HotlistEntry
from ekarta.backoffice.store import add_device, migrate
from ekarta.sync.envelope import EnvelopeReplayed, EnvelopeStale, EnvelopeTampered
from ekarta.sync.messages import (
    ActionKind,
    ActionPage,
    EntitlementPage,
    Feed,
    HotlistPage,
    JournalAck,
    JournalBatch,
    JournalEvent,
    JournalKind,
)
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.errors import OfficeProtocolError, TerminalStoreError
from ekarta.terminal.store import TerminalStore
from ekarta.terminal.sync import OfficeClient, apply_response, push_journal
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import CardNumber
from tests.support.office import Seed, card_number
from tests.support.properties import BUDGETS, budgeted
from tests.support.terminal import (
    OFFICE_KEY,
    T0,
    action,
    card,
    dump,
    entitlement,
    hot,
    sealed,
)

KEYS = [OFFICE_KEY.public_key()]
MINUTE = timedelta(minutes=1)
DAY = timedelta(days=1)


@pytest.fixture
def path(tmp_path) -> str:
    return str(tmp_path / "store.sqlite")


@pytest.fixture
def store(path):
    with TerminalStore.open(path, create=True) as store:
        yield store


def apply(store, page, *, cursor, at, feed=None, **options):
    data = sealed(page, cursor=cursor, issued_at=at, feed=feed, **options)
    return apply_response(store, feed or {HotlistPage: Feed.HOTLIST,
                                          EntitlementPage: Feed.ENTITLEMENTS,
                                          ActionPage: Feed.ACTIONS}[type(page)],
                          data, keys=KEYS, now=at + MINUTE)


def hotlist(store) -> set[str]:
    return {card(n) for n in range(1, 100) if store.hotlisted(card(n)) is not None}


def test_a_new_store_is_private_and_empty(store, path):
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    status = store.status()
    assert (status.hotlist, status.entitlements, status.actions, status.outbox) == (0, 0, 0, 0)
    state = store.feed_state(Feed.HOTLIST)
    assert state.cursor == 0 and state.issued_at is None and state.stale(T0)
    assert state.age(T0) is None


def test_a_snapshot_over_pages_then_deltas(store):
    first = apply(store, HotlistPage(reset=True, more=True, items=(hot(1), hot(2))),
                  cursor=10, at=T0)
    assert not first.snapshot_done and store.feed_state(Feed.HOTLIST).snapshot == 1
    last = apply(store, HotlistPage(reset=False, more=False, items=(hot(3, uid="04a1b2c3d4e5f6"),)),
                 cursor=12, at=T0 + MINUTE)
    assert last.snapshot_done and last.dropped == 0
    assert hotlist(store) == {card(1), card(2), card(3)}
    state = store.feed_state(Feed.HOTLIST)
    assert (state.cursor, state.issued_at, state.snapshot, state.generation) == \
        (12, T0 + MINUTE, None, 1)
    assert state.age(T0 + 2 * MINUTE) == MINUTE and not state.stale(T0 + 2 * MINUTE)

    apply(store, HotlistPage(reset=False, more=False, items=(hot(4),), removed=(card(1),)),
          cursor=15, at=T0 + 2 * MINUTE)
    assert hotlist(store) == {card(2), card(3), card(4)}
    assert store.is_hotlisted(int(CardNumber.parse(card(4))))
    assert not store.is_hotlisted(int(CardNumber.parse(card(1))))
    found = store.hotlisted_uid(bytes.fromhex("04a1b2c3d4e5f6"))
    assert found is not None and found.card_number == card(3)
    assert store.hotlisted_uid("04A1B2C3D4E5F6") == found
    assert store.hotlisted_uid(bytes(7)) is None


def test_a_reset_keeps_the_live_list_until_its_last_page_even_across_a_kill(path):
    with TerminalStore.open(path, create=True) as store:
        apply(store, HotlistPage(reset=True, more=False, items=(hot(1), hot(2))), cursor=5,
              at=T0)
        # the cursor fell behind the office's floor: a new snapshot, holding 2 and 3
        apply(store, HotlistPage(reset=True, more=True, items=(hot(2),)), cursor=40,
              at=T0 + MINUTE)
        assert hotlist(store) == {card(1), card(2)}, "the live list stays whole meanwhile"
    # the terminal is killed here; the store holds page 1 of the snapshot and its cursor
    with TerminalStore.open(path) as store:
        state = store.feed_state(Feed.HOTLIST)
        assert state.cursor == 40 and state.snapshot == 2
        done = apply(store, HotlistPage(reset=False, more=False, items=(hot(3),)), cursor=41,
                     at=T0 + 2 * MINUTE)
        assert done.snapshot_done and done.dropped == 1
        assert hotlist(store) == {card(2), card(3)}


def test_a_reset_page_during_a_snapshot_continues_it(store):
    """An office may mark every page of a snapshot as a reset: they are one snapshot."""
    apply(store, HotlistPage(reset=True, more=False, items=(hot(1),)), cursor=5, at=T0)
    apply(store, HotlistPage(reset=True, more=True, items=(hot(2),)), cursor=8, at=T0 + MINUTE)
    apply(store, HotlistPage(reset=True, more=False, items=(hot(3),)), cursor=9,
          at=T0 + 2 * MINUTE)
    assert hotlist(store) == {card(2), card(3)}


def test_an_empty_snapshot_empties_the_list(store):
    apply(store, HotlistPage(reset=True, more=False, items=(hot(1),)), cursor=5, at=T0)
    apply(store, HotlistPage(reset=True, more=False), cursor=0, at=T0 + MINUTE)
    assert hotlist(store) == set()


@pytest.mark.parametrize("fault", ["tampered", "stranger", "replayed", "stale", "future",
                                   "other kind", "not a page"])
def test_a_refused_page_leaves_the_store_as_it_was(store, path, fault):
    apply(store, HotlistPage(reset=True, more=False, items=(hot(1),)), cursor=5, at=T0)
    store.append_journal(JournalEvent(event_id=uuid.uuid4(), kind=JournalKind.VALIDATION,
                                      at=T0), now=T0)
    before = dump(path)
    page = HotlistPage(reset=True, more=False, items=(hot(2),))
    at = T0 + MINUTE
    now = at + MINUTE
    expected: type[Exception] = EnvelopeTampered
    if fault == "tampered":
        data = sealed(page, cursor=6, issued_at=at)
        head = data.index(b'"hotlist",')  # the head: [kind, issued_at, valid_until, cursor]
        data = data[:head] + data[head:].replace(b",6]", b",7]", 1)
    elif fault == "stranger":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        data = sealed(page, cursor=6, issued_at=at, key=Ed25519PrivateKey.generate())
    elif fault == "replayed":
        data = sealed(HotlistPage(reset=True, more=False, items=(hot(1),)), cursor=5, issued_at=T0)
        expected = EnvelopeReplayed
    elif fault == "stale":
        data = sealed(page, cursor=6, issued_at=at)
        now = at + timedelta(days=4)
        expected = EnvelopeStale
    elif fault == "future":
        data = sealed(page, cursor=6, issued_at=at)
        now = at - timedelta(hours=1)
        expected = EnvelopeStale
    elif fault == "other kind":
        data = sealed(page, cursor=6, issued_at=at, feed=Feed.ENTITLEMENTS)
    else:
        data = sealed(EntitlementPage(reset=True, more=False, items=(entitlement(2),)),
                      cursor=6, issued_at=at, feed=Feed.HOTLIST)
        expected = OfficeProtocolError
    with pytest.raises(expected):
        apply_response(store, Feed.HOTLIST, data, keys=KEYS, now=now)
    assert dump(path) == before


def test_entitlements_and_actions_by_card_number(store):
    apply(store, EntitlementPage(reset=True, more=False,
                                 items=(entitlement(1), entitlement(2, "student"))),
          cursor=3, at=T0)
    assert store.entitlement(card(2)).profile == "student"
    assert store.entitlement(CardNumber.parse(card(1))).profile == "adult"
    assert store.entitlement(card(3)) is None
    apply(store, EntitlementPage(reset=False, more=False, items=(entitlement(1, "senior"),),
                                 removed=(card(2),)), cursor=4, at=T0 + MINUTE)
    assert store.entitlement(card(1)).profile == "senior" and store.entitlement(card(2)) is None

    apply(store, ActionPage(reset=True, more=False, items=(
        action(7, 1), action(8, 1, ActionKind.CREDIT_PURSE).model_copy(update={"amount": 500}),
        action(9, 2))), cursor=6, at=T0)
    assert [a.id for a in store.pending_actions(card(1))] == [7, 8]
    assert store.pending_actions(card(1))[1].amount == 500
    assert store.mark_done(7, now=T0) and not store.mark_done(7, now=T0)
    assert [a.id for a in store.pending_actions(card(1))] == [8]
    # the feed sends action 7 again before the office hears it was done: it stays done here
    apply(store, ActionPage(reset=False, more=False, items=(action(7, 1),), removed=(9,)),
          cursor=7, at=T0 + MINUTE)
    assert [a.id for a in store.pending_actions(card(1))] == [8]
    assert store.pending_actions(card(2)) == ()
    assert store.action(7) is not None and store.action(9) is None
    assert store.status().actions == 1


def test_items_taken_from_the_pages_json_are_stored_as_from_its_models(tmp_path):
    from ekarta.sync.messages import EntitledCoupon

    coupons = (EntitledCoupon(serial=5, state="pending", valid_from=T0.date(),
                              valid_to=T0.date() + timedelta(days=29),
                              slot="AQID" + "é".encode().hex()),)  # a slot of base64 letters
    pages = [
        (Feed.HOTLIST, HotlistPage(reset=True, more=False, items=(
            hot(1), hot(2, "04a1b2c3d4e5f6"), hot(1, "0102030a")))),  # a card twice: the last
        (Feed.ENTITLEMENTS, EntitlementPage(reset=True, more=False, items=(
            entitlement(1), entitlement(2, "student").model_copy(update={
                "uid": "04a1b2c3d4e5f6", "coupons": coupons, "profile_end": T0.date()})))),
    ]
    stored = []
    for name, payload in (("models", False), ("json", True)):
        with TerminalStore.open(tmp_path / f"{name}.sqlite", create=True) as store:
            for cursor, (feed, page) in enumerate(pages, start=1):
                store.apply_page(feed, page, cursor=cursor, issued_at=T0, valid_until=T0 + DAY,
                                 now=T0, payload=page.model_dump_json().encode() if payload
                                 else None)
            stored.append(([store.hotlisted(card(n)) for n in (1, 2, 3)],
                           store.hotlisted_uid("04a1b2c3d4e5f6"),
                           [store.entitlement(card(n)) for n in (1, 2, 3)]))
    assert stored[0] == stored[1]
    hotlisted, by_uid, entitled = stored[1]
    assert hotlisted[0].uid == "0102030a" and hotlisted[2] is None
    assert by_uid is not None and by_uid.card_number == card(2)
    assert entitled[1].coupons == coupons and entitled[2] is None


def test_a_page_whose_json_holds_other_items_than_its_model_is_refused(store):
    page = HotlistPage(reset=True, more=False, items=(hot(1), hot(2)))
    other = HotlistPage(reset=True, more=False, items=(hot(1),))
    with pytest.raises(TerminalStoreError, match="holds 2 items but 1 were read"):
        store.apply_page(Feed.HOTLIST, page, cursor=1, issued_at=T0, valid_until=T0 + DAY,
                         now=T0, payload=other.model_dump_json().encode())
    assert hotlist(store) == set()


def test_a_card_number_with_a_wrong_check_digit_is_refused(store):
    with pytest.raises(InvalidCardNumber):
        store.hotlisted("0000000012")


def test_a_file_that_is_no_store_is_refused(tmp_path):
    other = tmp_path / "other.sqlite"
    import sqlite3
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(TerminalStoreError, match="not a terminal store"):
        TerminalStore.open(other)
    junk = tmp_path / "junk"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(TerminalStoreError, match="not a terminal store"):
        TerminalStore.open(junk)
    with pytest.raises(TerminalStoreError, match="no terminal store"):
        TerminalStore.open(tmp_path / "missing")


def events(n: int) -> list[JournalEvent]:
    return [JournalEvent(event_id=uuid.UUID(int=i + 1), kind=JournalKind.VALIDATION,
                         at=T0 + timedelta(seconds=i), card_number=card(1)) for i in range(n)]


def test_the_outbox_is_pushed_in_batches_and_what_is_not_acknowledged_goes_again(store):
    queued = events(12)
    for event in queued:
        assert store.append_journal(event, now=T0)
    assert not store.append_journal(queued[0], now=T0), "an event id is queued once"
    batches: list[JournalBatch] = []

    def office_losing_the_last(batch: JournalBatch) -> JournalAck:
        batches.append(batch)
        ids = [e.event_id for e in batch.events]
        return JournalAck(acknowledged=tuple(ids if len(batches) == 1 else ids[:-1]))

    # batches of 5: the first fully acknowledged, the second all but one, the third...
    with pytest.raises(OfficeProtocolError, match="none of 1"):
        push_journal(store, office_losing_the_last, now=T0, batch=5)
    assert [len(b.events) for b in batches] == [5, 5, 3, 1]
    assert store.status().outbox == 1
    assert store.outbox(10)[0].event_id in {e.event_id for e in queued}

    def office(batch: JournalBatch) -> JournalAck:
        # an acknowledgement naming an event that was not sent marks nothing
        return JournalAck(acknowledged=(*[e.event_id for e in batch.events], uuid.uuid4()))

    assert push_journal(store, office, now=T0 + MINUTE, batch=5) == (1, 1)
    assert store.status().outbox == 0 and store.status().journal == 12
    assert push_journal(store, office, now=T0, batch=5) == (0, 0)
    assert store.prune_journal(T0 + MINUTE) == 11  # acknowledged before then
    assert store.status().journal == 1


def test_reset_feeds_keeps_the_outbox(store):
    apply(store, HotlistPage(reset=True, more=False, items=(hot(1),)), cursor=5, at=T0)
    store.append_journal(events(1)[0], now=T0)
    store.reset_feeds()
    status = store.status()
    assert (status.hotlist, status.outbox) == (0, 1)
    assert store.feed_state(Feed.HOTLIST).cursor == 0


def test_the_lists_time_follows_every_change_of_this_process_and_another_s_in_time(
        store, path, monkeypatch):
    def both(at):
        apply(store, HotlistPage(reset=False, more=False, items=()), cursor=1, at=at)
        apply(store, EntitlementPage(reset=False, more=False, items=()), cursor=1, at=at)

    assert store.lists_as_of() is None
    both(T0)
    assert store.lists_as_of() == T0
    with TerminalStore.open(path) as syncing:  # a sync's own store, as the apps run it
        apply(syncing, HotlistPage(reset=False, more=False, items=()), cursor=2, at=T0 + DAY)
        apply(syncing, EntitlementPage(reset=False, more=False, items=()), cursor=2,
              at=T0 + 2 * DAY)
        assert store.lists_as_of() == T0 + DAY  # the older of the two
        syncing.reset_feeds()
        assert store.lists_as_of() is None
    both(T0 + 3 * DAY)
    assert store.lists_as_of() == T0 + 3 * DAY
    # another process's sync: this one's stores are not told, the time is read again later
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("UPDATE feeds SET issued_at = ?", ((T0 + 4 * DAY).isoformat(),))
    other.close()
    assert store.lists_as_of() == T0 + 3 * DAY
    monkeypatch.setattr("ekarta.terminal.store.LISTS_RECHECK", 0.0)
    assert store.lists_as_of() == T0 + 4 * DAY


@pytest.mark.parametrize("budget", BUDGETS)
def test_after_any_changes_and_interrupted_syncs_the_list_is_the_offices(budget, tmp_path):
    """Whatever the office blocked and took off its hotlist, however small its pages and
    wherever a sync was cut off (the terminal killed between pages), a sync that reaches the
    last page leaves a new terminal with exactly the office's list (the office's own API, in
    this process)."""
    engine = open_engine(str(tmp_path / "office.db"))
    migrate(engine)
    now = datetime.now(UTC)
    token = add_device(engine, "validator 1", DeviceRole.VALIDATOR, now=now)
    seed = Seed(engine, now)
    config = TerminalConfig(directory=str(tmp_path), office="http://office.test",
                            role=DeviceRole.VALIDATOR, device="validator 1", token=token)
    made: set[int] = set()

    def put(serial: int) -> None:
        if serial not in made:
            seed.card(serial, status="blocked")
            made.add(serial)
        with Session(engine) as session, session.begin():
            card_row = session.scalars(select(Card).where(
                Card.card_number == card_number(serial))).one()
            list_blocked(session, card_row, now=datetime.now(UTC))

    def remove(serial: int) -> None:
        with Session(engine) as session, session.begin():
            if session.get(HotlistEntry, card_number(serial)) is not None:
                unlist_blocked(session, card_number(serial), now=datetime.now(UTC))

    with TestClient(create_app(engine, envelope_key=OFFICE_KEY),
                    base_url=config.office) as client, OfficeClient(config, client) as office:

        # each example runs the office's API and database: few in the fast loop
        @budgeted(budget, fast=2, slow=100)
        @given(st.lists(st.one_of(
            st.tuples(st.just("put"), st.integers(1, 12)),
            st.tuples(st.just("remove"), st.integers(1, 12)),
            st.tuples(st.just("sync"), st.integers(1, 4), st.integers(0, 3))), max_size=30))
        def check(steps):
            path = tmp_path / f"{uuid.uuid4()}.sqlite"
            TerminalStore.open(path, create=True).close()

            def sync(limit: int, cut_after: int | None) -> None:
                with TerminalStore.open(path) as store:
                    for pages in range(10_000):
                        if pages == cut_after:
                            return  # killed: the next sync goes on from the cursor
                        cursor = store.feed_state(Feed.HOTLIST).cursor
                        applied = apply_response(store, Feed.HOTLIST,
                                                 office.feed_page(Feed.HOTLIST, cursor, limit),
                                                 keys=KEYS, now=datetime.now(UTC))
                        if not applied.more:
                            return

            for step in steps:
                if step[0] == "put":
                    put(step[1])
                elif step[0] == "remove":
                    remove(step[1])
                else:
                    sync(step[1], step[2] or None)
            sync(3, None)
            with Session(engine) as session:
                live = {f"{n:010d}" for n in session.scalars(
                    select(HotlistEntry.card_number).where(HotlistEntry.removed.is_(False)))}
            with TerminalStore.open(path) as store:
                held = {card(n) for n in range(1, 13) if store.hotlisted(card(n))}
                assert held == live and store.status().hotlist == len(live)
                assert store.feed_state(Feed.HOTLIST).snapshot is None

        check()
    engine.dispose()
