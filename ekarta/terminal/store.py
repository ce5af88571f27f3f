"""The terminal's local store: what it received from the office and what it must still report.

One SQLite file (WAL: the apps read while a sync writes, each through its own
:class:`TerminalStore`; ``synchronous=FULL``: a journal event committed is on the disk before
the passenger walks on) holds

- ``hotlist``: the blocked cards to refuse, by card number (``WITHOUT ROWID``: a lookup is one
  B-tree descent) and by UID;
- ``entitlements``: per card number what the office holds for it (the JSON of one
  :class:`~ekarta.sync.messages.Entitlement`; a rowid table keyed by the card number, since a
  card with many coupons makes a row too large for a ``WITHOUT ROWID`` one);
- ``actions``: what the office asks the terminal's role to do to a card, with what this terminal
  already did (``done_at``) and the lease it holds;
- ``journal``: the outbox of events this terminal did, until the office acknowledges them;
- ``feeds``: per feed the cursor reached, when the last page was issued and until when it may be
  used (the list's age), and the snapshot generation.

Every page of a feed is applied in one transaction together with its cursor and issue time
(:meth:`TerminalStore.apply_page`): a terminal killed in the middle of a sync keeps the store of
its last applied page and resumes from its cursor.  A full snapshot (``reset``) never empties the
live list first: its entries are tagged with a new generation, and the entries it did not hold
are dropped only when its last page has arrived.  Until then a lookup sees the old entries and
the new ones (for a hotlist, the cautious answer).

Nothing personal is stored: the sync messages carry no names, and this store holds only them.
"""

from __future__ import annotations

import itertools
import logging
import os
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

from pydantic import BaseModel

from ekarta.sync.envelope import EnvelopeReplayed
from ekarta.sync.messages import (
    ActionItem,
    ActionPage,
    Entitlement,
    EntitlementPage,
    Feed,
    HotlistPage,
    JournalEvent,
    Lease,
)
from ekarta.terminal.errors import TerminalStoreError
from ekarta.transit.errors import InvalidCardNumber
from ekarta.transit.model.card_number import DIGITS, CardNumber

__all__ = [
    "SCHEMA_VERSION",
    "FeedState",
    "HotlistEntry",
    "PageApplied",
    "StoreStatus",
    "TerminalStore",
]

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
CACHE_KIB = 32 * 1024
"""SQLite's page cache per connection (allocated as used): a full snapshot of a large hotlist
inserts in card-number order, not the order it arrives in, and a small cache makes every insert
a read from the disk."""
BUSY_TIMEOUT_MS = 10_000
"""How long a write waits for another process's write (an app journalling during a sync)."""

_SCHEMA = """
CREATE TABLE hotlist (
    card_number INTEGER PRIMARY KEY,
    uid TEXT,
    expiry TEXT NOT NULL,
    gen INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX hotlist_uid ON hotlist (uid, expiry) WHERE uid IS NOT NULL;
CREATE TABLE entitlements (
    card_number INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    gen INTEGER NOT NULL
);
CREATE TABLE actions (
    id INTEGER PRIMARY KEY,
    card_number INTEGER NOT NULL,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    gen INTEGER NOT NULL,
    leased_until TEXT,
    done_at TEXT
);
CREATE INDEX actions_card ON actions (card_number);
CREATE TABLE journal (
    id INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    acked_at TEXT
);
CREATE INDEX journal_outbox ON journal (id) WHERE acked_at IS NULL;
CREATE TABLE feeds (
    feed TEXT PRIMARY KEY,
    cursor INTEGER NOT NULL DEFAULT 0,
    issued_at TEXT,
    valid_until TEXT,
    applied_at TEXT,
    generation INTEGER NOT NULL DEFAULT 0,
    snapshot INTEGER
);
"""

_TABLES = {Feed.HOTLIST: ("hotlist", "card_number"),
           Feed.ENTITLEMENTS: ("entitlements", "card_number"),
           Feed.ACTIONS: ("actions", "id")}

Page = HotlistPage | EntitlementPage | ActionPage
_PAGE_TYPES: dict[Feed, type[Page]] = {Feed.HOTLIST: HotlistPage,
                                       Feed.ENTITLEMENTS: EntitlementPage,
                                       Feed.ACTIONS: ActionPage}


@dataclass(frozen=True, slots=True)
class HotlistEntry:
    """A blocked card as the store holds it (what :class:`~ekarta.sync.messages.HotlistItem`
    said, made without a model's checks: the lookup is on a terminal's critical path)."""

    card_number: str
    uid: str | None
    """The chip's UID in lower-case hex, when the office knows it."""
    expiry: date


@dataclass(frozen=True)
class FeedState:
    """Where a terminal stands in one feed."""

    feed: Feed
    cursor: int
    issued_at: datetime | None
    """When the office issued the last page applied (None: never synced)."""
    valid_until: datetime | None
    """Until when that page may be used: a list past it is stale."""
    applied_at: datetime | None
    generation: int
    snapshot: int | None
    """The generation of a full snapshot whose last page has not arrived yet."""

    def age(self, now: datetime) -> timedelta | None:
        """How old the list is at ``now`` (None: never synced)."""
        return None if self.issued_at is None else now - self.issued_at

    def stale(self, now: datetime) -> bool:
        """Whether the list must not be trusted at ``now``: never synced, or past its validity."""
        return self.valid_until is None or now > self.valid_until


@dataclass(frozen=True)
class PageApplied:
    """What one page changed in the store."""

    feed: Feed
    items: int
    removed: int
    cursor: int
    reset: bool
    more: bool
    """Another page follows after this one's cursor."""
    snapshot_done: bool
    """A full snapshot ended with this page: what it did not hold was dropped."""
    dropped: int


@dataclass(frozen=True)
class StoreStatus:
    """The sizes of the lists and the outbox, and where every feed stands."""

    hotlist: int
    entitlements: int
    actions: int
    """Actions not yet done by this terminal."""
    outbox: int
    """Journal events not yet acknowledged by the office."""
    journal: int
    feeds: tuple[FeedState, ...]


def card_key(card_number: CardNumber | str | int) -> int:
    """The integer key of a card number (a text's check digit checked)."""
    if isinstance(card_number, CardNumber):
        return int(card_number)
    if isinstance(card_number, str):
        if len(card_number) == DIGITS and card_number.isascii() and card_number.isdigit():
            return int(CardNumber(card_number))  # the bare digits: only the check digit to check
        return int(CardNumber.parse(card_number))
    if isinstance(card_number, int) and not isinstance(card_number, bool):
        return card_number
    raise InvalidCardNumber(f"not a card number: {card_number!r}")


def _uid_text(uid: bytes | str) -> str:
    """A chip UID as the hotlist keeps it: lower-case hex."""
    return uid.hex() if isinstance(uid, bytes) else uid.lower()


def _digits(key: int) -> str:
    return f"{key:010d}"


_FROM_PAYLOAD = {
    Feed.HOTLIST:
        "INSERT INTO hotlist (card_number, uid, expiry, gen) "
        "SELECT CAST(value ->> 'card_number' AS INTEGER), value ->> 'uid', value ->> 'expiry', ?1 "
        "FROM json_each(?2, '$.items') WHERE true "
        "ON CONFLICT (card_number) DO UPDATE SET uid = excluded.uid, expiry = excluded.expiry, "
        "gen = excluded.gen",
    Feed.ENTITLEMENTS:
        "INSERT INTO entitlements (card_number, body, gen) "
        "SELECT CAST(value ->> 'card_number' AS INTEGER), json(value), ?1 "
        "FROM json_each(?2, '$.items') WHERE true "
        "ON CONFLICT (card_number) DO UPDATE SET body = excluded.body, gen = excluded.gen",
}
"""The items of a page taken from its JSON by SQLite (``WHERE true``: an upsert's SELECT
needs one, else ``ON`` would be read as a join's)."""


def _json(item: BaseModel) -> str:
    # the model's serializer called directly: model_dump_json's own checks of its options cost
    # a full sync a third of the time the serialising itself does
    return item.__pydantic_serializer__.to_json(item).decode()


def _time(at: datetime) -> str:
    if at.tzinfo is None:
        raise ValueError("a time in the store must carry its time zone")
    return at.astimezone(UTC).isoformat()


def _parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


LISTS_RECHECK = 10.0
"""Seconds a store trusts the lists' time it read last (:meth:`TerminalStore.lists_as_of`):
a change of the feeds made in this process is seen at once, another process's within this."""

_STAMPS = itertools.count(1)
_feed_stamps: dict[str, int] = {}
"""Per store file, a stamp renewed whenever a store of this process has changed its feeds
(``next`` of a count is atomic, so two threads never leave the same stamp for two changes)."""


def _file_key(path: str) -> str:
    return path if path == ":memory:" or path.startswith("file:") else os.path.realpath(path)


class TerminalStore:
    """The local store in one SQLite file; one instance per thread (open another for a
    background sync: WAL lets it write while this one reads)."""

    def __init__(self, connection: sqlite3.Connection, path: str) -> None:
        self._db = connection
        self.path = path
        self._file = _file_key(path)
        self._lists: tuple[int | None, float, datetime | None] | None = None
        """The stamp, the monotonic time and the value of the lists' time last read."""

    def _feeds_changed(self) -> None:
        # after the commit: a reader between the two caches the new value under the old stamp
        # and merely reads it again
        _feed_stamps[self._file] = next(_STAMPS)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> TerminalStore:
        """The store in ``path``; made there (mode 0600) when ``create``, else it must exist."""
        name = os.fspath(path)
        if not create and not os.path.isfile(name):
            raise TerminalStoreError(f"no terminal store at {name}")
        if create and not os.path.exists(name):
            # the store is private to the terminal's user, as its token is
            os.close(os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        try:
            db = sqlite3.connect(name, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error as exc:
            raise TerminalStoreError(f"cannot open the terminal store {name}: {exc}") from None
        store = cls(db, name)
        try:
            store._prepare()
        except sqlite3.DatabaseError as exc:
            db.close()
            raise TerminalStoreError(f"{name} is not a terminal store: {exc}") from None
        except TerminalStoreError:
            db.close()
            raise
        return store

    def _prepare(self) -> None:
        db = self._db
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=FULL")
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version == SCHEMA_VERSION:
            return
        if version != 0:
            raise TerminalStoreError(f"{self.path} has store version {version}; this ekarta "
                                     f"knows version {SCHEMA_VERSION}")
        with self._write():
            if db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
                raise TerminalStoreError(f"{self.path} is an SQLite file but not a terminal "
                                         "store")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                db.execute(statement)  # executescript would commit the transaction first
            db.executemany("INSERT INTO feeds (feed) VALUES (?)", [(f.value,) for f in Feed])
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        log.info("created terminal store %s", self.path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    class _Transaction:
        def __init__(self, db: sqlite3.Connection) -> None:
            self.db = db

        def __enter__(self) -> None:
            self.db.execute("BEGIN IMMEDIATE")

        def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                     traceback: TracebackType | None) -> None:
            self.db.execute("COMMIT" if kind is None else "ROLLBACK")

    def _write(self) -> TerminalStore._Transaction:
        """One write transaction, taken at once (no upgrade from a read lock to fail later)."""
        return self._Transaction(self._db)

    # --- lookups (the apps' hot path) -------------------------------------------------------------

    def is_hotlisted(self, card_number: int, uid: bytes | str | None = None) -> bool:
        """Whether the card with the integer number ``card_number``, or the chip ``uid``
        (bytes, or lower-case hex), is on the hotlist (the fast path: no parsing, one query
        of one or two index probes)."""
        if uid is None:
            return self._db.execute("SELECT 1 FROM hotlist WHERE card_number = ?",
                                    (card_number,)).fetchone() is not None
        row = self._db.execute("SELECT 1 FROM hotlist WHERE card_number = ? UNION ALL "
                               "SELECT 1 FROM hotlist WHERE uid = ? LIMIT 1",
                               (card_number, _uid_text(uid))).fetchone()
        return row is not None

    def hotlisted(self, card_number: CardNumber | str | int) -> HotlistEntry | None:
        """The hotlist entry of a card number, None if it is not blocked."""
        row = self._db.execute("SELECT card_number, uid, expiry FROM hotlist "
                               "WHERE card_number = ?", (card_key(card_number),)).fetchone()
        return None if row is None else self._hotlist_item(row)

    def hotlisted_uid(self, uid: bytes | str) -> HotlistEntry | None:
        """The hotlist entry of a chip UID (bytes, or lower-case hex), None if none."""
        row = self._db.execute("SELECT card_number, uid, expiry FROM hotlist WHERE uid = ?",
                               (_uid_text(uid),)).fetchone()
        return None if row is None else self._hotlist_item(row)

    @staticmethod
    def _hotlist_item(row: tuple[int, str | None, str]) -> HotlistEntry:
        return HotlistEntry(_digits(row[0]), row[1], date.fromisoformat(row[2]))

    def entitlement(self, card_number: CardNumber | str | int) -> Entitlement | None:
        """What the office holds for a card number, None if it sent nothing for it."""
        row = self._db.execute("SELECT body FROM entitlements WHERE card_number = ?",
                               (card_key(card_number),)).fetchone()
        return None if row is None else Entitlement.model_validate_json(row[0])

    def pending_actions(self, card_number: CardNumber | str | int) -> tuple[ActionItem, ...]:
        """The actions for a card that this terminal has not done yet, oldest first."""
        rows = self._db.execute("SELECT body FROM actions WHERE card_number = ? AND done_at IS "
                                "NULL ORDER BY id", (card_key(card_number),)).fetchall()
        return tuple(ActionItem.model_validate_json(body) for (body,) in rows)

    def action(self, action_id: int) -> ActionItem | None:
        row = self._db.execute("SELECT body FROM actions WHERE id = ?", (action_id,)).fetchone()
        return None if row is None else ActionItem.model_validate_json(row[0])

    # --- feeds ------------------------------------------------------------------------------------

    def feed_state(self, feed: Feed) -> FeedState:
        row = self._db.execute("SELECT cursor, issued_at, valid_until, applied_at, generation, "
                               "snapshot FROM feeds WHERE feed = ?", (feed.value,)).fetchone()
        return FeedState(Feed(feed), row[0], _parse_time(row[1]), _parse_time(row[2]),
                         _parse_time(row[3]), row[4], row[5])

    def lists_as_of(self) -> datetime | None:
        """When the office issued the older of the hotlist and the entitlements as this store
        has them (None: one of them was never synced): what a verdict's data is as of.

        Every tap asks, and the lists change only at a sync: the value is read again only once
        a store of this process has changed the feeds, or :data:`LISTS_RECHECK` seconds after
        it was read (a sync run by another process)."""
        stamp = _feed_stamps.get(self._file)  # taken first: a change meanwhile reads again
        now = time.monotonic()
        last = self._lists
        if last is not None and last[0] == stamp and now - last[1] < LISTS_RECHECK:
            return last[2]
        # the times are all UTC ISO texts, which sort
        row = self._db.execute("SELECT count(issued_at), min(issued_at) FROM feeds WHERE feed IN "
                               "(?, ?)", (Feed.HOTLIST.value, Feed.ENTITLEMENTS.value)).fetchone()
        value = _parse_time(row[1]) if row[0] == 2 else None
        self._lists = (stamp, now, value)
        return value

    def apply_page(self, feed: Feed, page: Page, *, cursor: int, issued_at: datetime,
                   valid_until: datetime, now: datetime,
                   payload: bytes | None = None) -> PageApplied:
        """Apply one opened page of ``feed`` and move its cursor to ``cursor``, all in one
        transaction (see the module docstring for snapshots).

        ``payload`` is the page's JSON that ``page`` was parsed from (and validated as): the
        hotlist's and the entitlements' items are then taken from it by SQLite itself, one
        statement for the page, which stores each entitlement's JSON as the office wrote it
        (SQLite minifies it) and lets other threads run meanwhile."""
        if not isinstance(page, _PAGE_TYPES[feed]):
            raise TypeError(f"a {feed} page expected, got {type(page).__name__}")
        table, key = _TABLES[feed]
        with self._write():
            state = self.feed_state(feed)
            if state.issued_at is not None and issued_at <= state.issued_at:
                # checked again under the write lock: another sync of this store may have won
                raise EnvelopeReplayed(f"the {feed} page of {issued_at.isoformat()} is not newer "
                                       "than the one already applied")
            snapshot = state.snapshot
            if page.reset and snapshot is None:
                snapshot = state.generation + 1
            tag = state.generation if snapshot is None else snapshot
            if payload is not None and feed in _FROM_PAYLOAD:
                inserted = self._db.execute(_FROM_PAYLOAD[feed], (tag, payload)).rowcount
                if inserted != len(page.items):  # the same JSON parsed twice: never differs
                    raise TerminalStoreError(f"the {feed} page holds {len(page.items)} items "
                                             f"but {inserted} were read from its JSON")
            else:
                self._upsert(feed, page, tag)
            removed = [(k if isinstance(k, int) else card_key(k),) for k in page.removed]
            self._db.executemany(f"DELETE FROM {table} WHERE {key} = ?", removed)
            dropped = 0
            done = False
            generation = state.generation
            if snapshot is not None and not page.more:
                done = True
                dropped = self._db.execute(f"DELETE FROM {table} WHERE gen < ?",
                                           (snapshot,)).rowcount
                generation, snapshot = snapshot, None
            self._db.execute("UPDATE feeds SET cursor = ?, issued_at = ?, valid_until = ?, "
                             "applied_at = ?, generation = ?, snapshot = ? WHERE feed = ?",
                             (cursor, _time(issued_at), _time(valid_until), _time(now),
                              generation, snapshot, feed.value))
        self._feeds_changed()
        log.debug("%s: applied %d items, %d removals up to cursor %d%s", feed, len(page.items),
                  len(removed), cursor, f" (snapshot done, {dropped} dropped)" if done else "")
        return PageApplied(feed, len(page.items), len(removed), cursor, page.reset, page.more, done,
                           dropped)

    def _upsert(self, feed: Feed, page: Page, tag: int) -> None:
        db = self._db
        if isinstance(page, HotlistPage):
            db.executemany(
                "INSERT INTO hotlist (card_number, uid, expiry, gen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (card_number) DO UPDATE SET uid = excluded.uid, "
                "expiry = excluded.expiry, gen = excluded.gen",
                ((int(i.card_number), i.uid, i.expiry.isoformat(), tag) for i in page.items))
        elif isinstance(page, EntitlementPage):
            db.executemany(
                "INSERT INTO entitlements (card_number, body, gen) VALUES (?, ?, ?) "
                "ON CONFLICT (card_number) DO UPDATE SET body = excluded.body, "
                "gen = excluded.gen",
                ((int(i.card_number), _json(i), tag) for i in page.items))
        else:
            # what this terminal did or leased stays: the office's copy may not know it yet
            db.executemany(
                "INSERT INTO actions (id, card_number, kind, body, gen) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET card_number = excluded.card_number, "
                "kind = excluded.kind, body = excluded.body, gen = excluded.gen",
                ((i.id, int(i.card_number), i.kind.value, _json(i), tag)
                 for i in page.items))

    # --- actions ----------------------------------------------------------------------------------

    def note_lease(self, lease: Lease) -> None:
        """Remember the lease this terminal holds on an action."""
        with self._write():
            self._db.execute("UPDATE actions SET leased_until = ? WHERE id = ?",
                             (_time(lease.until), lease.action_id))

    def reset_feeds(self) -> None:
        """Forget every list and action and start every feed again from a full snapshot; the
        journal outbox stays (no event is lost by re-initialising a terminal)."""
        with self._write():
            for table, _ in _TABLES.values():
                self._db.execute(f"DELETE FROM {table}")
            self._db.execute("UPDATE feeds SET cursor = 0, issued_at = NULL, valid_until = NULL, "
                             "applied_at = NULL, generation = 0, snapshot = NULL")
        self._feeds_changed()

    def lease_until(self, action_id: int) -> datetime | None:
        row = self._db.execute("SELECT leased_until FROM actions WHERE id = ?",
                               (action_id,)).fetchone()
        return None if row is None else _parse_time(row[0])

    def mark_done(self, action_id: int, *, now: datetime) -> bool:
        """Record that this terminal did the action (its journal event reports it): it is no
        longer pending here, whatever the feed says until the office drops it."""
        with self._write():
            return self._db.execute("UPDATE actions SET done_at = ? WHERE id = ? AND done_at "
                                    "IS NULL", (_time(now), action_id)).rowcount == 1

    # --- the journal outbox -----------------------------------------------------------------------

    def append_journal(self, event: JournalEvent, *, now: datetime) -> bool:
        """Queue ``event`` for the office, durably (False: its event id is queued already)."""
        with self._write():
            return self._db.execute(
                "INSERT INTO journal (event_id, body, queued_at) VALUES (?, ?, ?) "
                "ON CONFLICT (event_id) DO NOTHING",
                (str(event.event_id), event.model_dump_json(), _time(now))).rowcount == 1

    def outbox_size(self) -> int:
        """How many events the office has not acknowledged yet (the journal's backlog)."""
        return int(self._db.execute("SELECT count(*) FROM journal WHERE acked_at IS NULL")
                   .fetchone()[0])

    def outbox(self, limit: int) -> tuple[JournalEvent, ...]:
        """The oldest ``limit`` events the office has not acknowledged."""
        rows = self._db.execute("SELECT body FROM journal WHERE acked_at IS NULL ORDER BY id "
                                "LIMIT ?", (limit,)).fetchall()
        return tuple(JournalEvent.model_validate_json(body) for (body,) in rows)

    def journal_since(self, since: datetime) -> tuple[JournalEvent, ...]:
        """Every event queued at or after ``since``, acknowledged or not (until the sync prunes
        the acknowledged ones), oldest first: what a shift's summary counts."""
        rows = self._db.execute("SELECT body FROM journal WHERE queued_at >= ? ORDER BY id",
                                (_time(since),)).fetchall()
        return tuple(JournalEvent.model_validate_json(body) for (body,) in rows)

    def acknowledge(self, event_ids: Iterable[UUID], *, now: datetime) -> int:
        """Mark events the office acknowledged; returns how many were waiting."""
        with self._write():
            return sum(self._db.execute(
                "UPDATE journal SET acked_at = ? WHERE event_id = ? AND acked_at IS NULL",
                (_time(now), str(event_id))).rowcount for event_id in event_ids)

    def prune_journal(self, before: datetime) -> int:
        """Forget acknowledged events acknowledged before ``before``."""
        with self._write():
            return self._db.execute("DELETE FROM journal WHERE acked_at IS NOT NULL AND "
                                    "acked_at < ?", (_time(before),)).rowcount

    # --- status -----------------------------------------------------------------------------------

    def status(self) -> StoreStatus:
        def count(sql: str) -> int:
            return int(self._db.execute(sql).fetchone()[0])

        return StoreStatus(
            hotlist=count("SELECT count(*) FROM hotlist"),
            entitlements=count("SELECT count(*) FROM entitlements"),
            actions=count("SELECT count(*) FROM actions WHERE done_at IS NULL"),
            outbox=count("SELECT count(*) FROM journal WHERE acked_at IS NULL"),
            journal=count("SELECT count(*) FROM journal"),
            feeds=tuple(self.feed_state(feed) for feed in Feed))
