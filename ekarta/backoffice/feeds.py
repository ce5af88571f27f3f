"""The feeds terminals pull, kept current by every office operation that changes what they hold.

Every change of a feed entry takes the next number of the ``feed`` counter (:func:`next_seq`)
inside the changing transaction.  The counter's row stays locked until that transaction ends, so
numbers become visible in the order they were taken: a terminal that has seen change N has seen
every change below N, and a delta "everything after my cursor" never skips one.

An office operation calls, inside its own session and before its commit:

- :func:`list_blocked` / :func:`unlist_blocked` when a card goes on or leaves the hotlist;
- :func:`refresh_entitlement` after anything about a card or its coupons changed;
- :func:`publish_action` after adding an action or changing its state.

The API reads the feeds page by page (:func:`read_feed`); :func:`prune` drops old removals.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVarTuple

from sqlalchemy import Row, Select, delete, func, select, update
from sqlalchemy.orm import Session

from ekarta.backoffice.schema import (
    Action,
    Card,
    Counter,
    CouponSale,
    EntitlementEntry,
    FeedFloor,
    HotlistEntry,
)
from ekarta.sync.messages import (
    PAGE_MAX,
    ROLE_ACTIONS,
    EntitledCoupon,
    Entitlement,
    Feed,
    slot_text,
)
from ekarta.sync.roles import DeviceRole
from ekarta.transit.model.timecodec import local_date

__all__ = [
    "TOMBSTONES_KEPT",
    "FeedPage",
    "entitlement_of",
    "feed_floor",
    "list_blocked",
    "next_number",
    "next_seq",
    "prune",
    "publish_action",
    "read_feed",
    "refresh_entitlement",
    "unlist_blocked",
]

log = logging.getLogger(__name__)

Columns = TypeVarTuple("Columns")

TOMBSTONES_KEPT = timedelta(days=30)
"""How long a removal stays in a feed: a terminal that has not synced for longer gets a
snapshot."""

HELD_STATES = ("pending", "written")
"""Coupon states a terminal is told about."""


def next_number(session: Session, counter: str) -> int:
    """The next value of ``counter`` (``feed``, ``serial``), taken under its row's lock."""
    value = session.execute(update(Counter).where(Counter.name == counter)
                            .values(value=Counter.value + 1).returning(Counter.value)).scalar_one()
    return int(value)


def next_seq(session: Session) -> int:
    return next_number(session, "feed")


def list_blocked(session: Session, card: Card, *, now: datetime) -> None:
    """Put ``card`` on the hotlist terminals hold (again, if it had left it)."""
    seq = next_seq(session)  # before the new row exists: taking it flushes the session
    entry = session.get(HotlistEntry, card.card_number)
    if entry is None:
        entry = HotlistEntry(card_number=card.card_number, seq=seq, changed_at=now)
        session.add(entry)
    entry.uid = card.uid
    entry.expiry = card.expiry
    entry.removed = False
    entry.seq = seq
    entry.changed_at = now


def unlist_blocked(session: Session, card_number: int, *, now: datetime) -> None:
    """Take a card off the hotlist (its block is written onto the card, it expired, or it was
    unblocked): terminals drop it at their next sync."""
    entry = session.get(HotlistEntry, card_number)
    if entry is None or entry.removed:
        return
    entry.removed = True
    entry.seq = next_seq(session)
    entry.changed_at = now


def entitlement_of(session: Session, card: Card, *, today: date) -> Entitlement:
    """What terminals are told about ``card``: its status and profile, and the valid or future
    coupons the office holds for it."""
    sales = session.scalars(
        select(CouponSale).where(CouponSale.card_id == card.id,
                                 CouponSale.state.in_(HELD_STATES),
                                 CouponSale.paid_at.is_not(None),
                                 CouponSale.valid_to >= today)
        .order_by(CouponSale.valid_from, CouponSale.serial))
    return Entitlement(
        card_number=f"{card.card_number:010d}",
        uid=None if card.uid is None else card.uid.hex(),
        status=card.status,  # type: ignore[arg-type]  # the column holds the Literal's values
        kind=card.kind,  # type: ignore[arg-type]
        profile=card.profile, profile_end=card.profile_end, expiry=card.expiry,
        coupons=tuple(EntitledCoupon(serial=s.serial, state=s.state,  # type: ignore[arg-type]
                                     valid_from=s.valid_from, valid_to=s.valid_to,
                                     slot=slot_text(s.slot)) for s in sales))


def refresh_entitlement(session: Session, card: Card, *, now: datetime) -> None:
    """Bring ``card``'s entry of the entitlements feed up to date (a card still on order has
    none: no terminal can meet it)."""
    entry = session.get(EntitlementEntry, card.card_number)
    if card.status == "ordered":
        if entry is not None and not entry.removed:
            entry.removed = True
            entry.seq = next_seq(session)
            entry.changed_at = now
        return
    session.flush()
    body = entitlement_of(session, card, today=local_date(now)).model_dump_json()
    if entry is not None and entry.body == body and not entry.removed:
        return
    seq = next_seq(session)
    if entry is None:
        session.add(EntitlementEntry(card_number=card.card_number, body=body, removed=False,
                                     seq=seq, changed_at=now))
        return
    entry.body = body
    entry.removed = False
    entry.seq = seq
    entry.changed_at = now


def publish_action(session: Session, action: Action) -> None:
    """Give ``action``'s latest state a place in the actions feed (a pending one is listed, a
    done or cancelled one is a removal)."""
    action.seq = next_seq(session)


# --- what terminals pull -------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed, ready to seal: ``payload`` is the JSON of a
    :class:`~ekarta.sync.messages.HotlistPage`, :class:`~ekarta.sync.messages.EntitlementPage` or
    :class:`~ekarta.sync.messages.ActionPage`; ``cursor`` the last change it holds (the cursor
    asked for, or the feed's floor, when it holds none)."""

    feed: Feed
    payload: bytes
    cursor: int
    reset: bool
    more: bool
    items: int
    removed: int


def feed_floor(session: Session, feed: Feed) -> int:
    floor = session.scalar(select(FeedFloor.floor).where(FeedFloor.feed == feed.value))
    return int(floor or 0)


def read_feed(session: Session, feed: Feed, *, cursor: int, role: DeviceRole,
              limit: int = PAGE_MAX) -> FeedPage:
    """The page of ``feed`` after ``cursor`` as ``role`` sees it: the changes in the order of
    their numbers, at most ``limit``.

    A cursor of 0 or below the feed's floor cannot be served a delta: the page starts a full
    snapshot (``reset``), which holds no removals; the pages after it are asked for with its
    cursor as usual, and once one says no ``more``, the terminal drops what none of them held.
    Each page comes out of one statement, so it is one consistent view of the feed.
    """
    if not 1 <= limit <= PAGE_MAX:
        raise ValueError(f"a page holds 1..{PAGE_MAX} changes")
    reader = {Feed.HOTLIST: _hotlist, Feed.ENTITLEMENTS: _entitlements,
              Feed.ACTIONS: _actions}[feed]
    floor = feed_floor(session, feed)
    while True:
        reset = cursor <= 0 or cursor < floor
        items, gone, last, more = reader(session, 0 if reset else cursor, limit, reset, role)
        # a prune between the two statements may have taken removals this delta needed
        floor, before = feed_floor(session, feed), floor
        if floor == before:
            break
    if last is None:
        last = floor if reset else cursor
    payload = (f'{{"reset":{_json_bool(reset)},"more":{_json_bool(more)},"items":['
               f'{",".join(items)}],"removed":[{",".join(gone)}]}}').encode()
    return FeedPage(feed, payload, last, reset, more, len(items), len(gone))


Chunk = tuple[list[str], list[str], int | None, bool]
"""A page's items and removals as JSON texts, its last change (None: none), whether more
follow."""


def _rows(session: Session, statement: Select[int, *Columns],
          limit: int) -> tuple[Sequence[Row[int, *Columns]], int | None, bool]:
    """The first ``limit`` rows of ``statement``, the seq of the last (its
    first column) and whether more follow.  Run on the session's connection: a page is tens of
    thousands of rows, which the ORM's result handling would slow down several times."""
    rows = session.connection().execute(statement.limit(limit + 1)).fetchall()
    rows, more = rows[:limit], len(rows) > limit
    return rows, (int(rows[-1][0]) if rows else None), more


def _hotlist(session: Session, after: int, limit: int, reset: bool, _role: DeviceRole) -> Chunk:
    rows, last, more = _rows(session, select(
        HotlistEntry.seq, HotlistEntry.removed, HotlistEntry.card_number, HotlistEntry.uid,
        HotlistEntry.expiry).where(HotlistEntry.seq > after).order_by(HotlistEntry.seq), limit)
    return ([_hotlist_item(number, uid, expiry) for _, removed, number, uid, expiry in rows
             if not removed],
            [f'"{number:010d}"' for _, removed, number, _, _ in rows if removed and not reset],
            last, more)


def _entitlements(session: Session, after: int, limit: int, reset: bool,
                  _role: DeviceRole) -> Chunk:
    rows, last, more = _rows(session, select(
        EntitlementEntry.seq, EntitlementEntry.removed, EntitlementEntry.card_number,
        EntitlementEntry.body).where(EntitlementEntry.seq > after)
        .order_by(EntitlementEntry.seq), limit)
    return ([body for _, removed, _, body in rows if not removed],
            [f'"{number:010d}"' for _, removed, number, _ in rows if removed and not reset],
            last, more)


def _actions(session: Session, after: int, limit: int, reset: bool, role: DeviceRole) -> Chunk:
    kinds = sorted(kind.value for kind in ROLE_ACTIONS[role])
    # a snapshot lists the pending actions only: the others are nothing to drop
    rows, last, more = _rows(session, select(Action.seq, Action.state, Action.id, Action.body)
                             .where(Action.seq > after, Action.kind.in_(kinds),
                                    *([Action.state == "pending"] if reset else []))
                             .order_by(Action.seq), limit)
    return ([body for _, state, _, body in rows if state == "pending"],
            [str(number) for _, state, number, _ in rows if state != "pending"], last, more)


def _json_bool(value: bool) -> str:
    return "true" if value else "false"


def _hotlist_item(card_number: int, uid: bytes | None, expiry: date) -> str:
    """A :class:`~ekarta.sync.messages.HotlistItem`'s JSON, as pydantic writes it (a test holds
    the two together)."""
    uid_json = "null" if uid is None else f'"{uid.hex()}"'
    return (f'{{"card_number":"{card_number:010d}","uid":{uid_json},'
            f'"expiry":"{expiry.isoformat()}"}}')


def prune(session: Session, now: datetime, *, keep: timedelta = TOMBSTONES_KEPT) -> int:
    """Delete the hotlist's and the entitlements' removals older than ``keep`` and raise each
    feed's floor above them: a terminal behind the floor is sent a snapshot.  Returns how many
    were deleted.  Done and cancelled actions stay: they are the office's record.

    The entries left below the new floor are renumbered above every change so far (terminals
    receive them once more, unchanged): the pages of a snapshot are asked for with their
    cursors, which must never stand below the floor.
    """
    before = now - keep
    deleted = 0
    for feed, table in ((Feed.HOTLIST, HotlistEntry), (Feed.ENTITLEMENTS, EntitlementEntry)):
        old = (table.removed.is_(True), table.changed_at < before)
        top = session.scalar(select(func.max(table.seq)).where(*old))
        if top is None:
            continue
        result = session.execute(delete(table).where(*old, table.seq <= top))
        deleted += result.rowcount  # type: ignore[attr-defined]  # a CursorResult
        offset = next_seq(session)  # under the counter's lock until the commit
        session.execute(update(table).where(table.seq < top).values(seq=table.seq + offset)
                        .execution_options(synchronize_session=False))
        session.execute(update(Counter).where(Counter.name == "feed")
                        .values(value=offset + int(top)))
        floor = session.get(FeedFloor, feed.value)
        if floor is None:
            session.add(FeedFloor(feed=feed.value, floor=int(top)))
        elif floor.floor < top:
            floor.floor = int(top)
    if deleted:
        log.info("pruned %d removals from the feeds", deleted)
    return deleted
