"""The feeds terminals pull, kept current by every office operation that changes what they hold.

Every change of a feed entry takes the next number of the ``feed`` counter (:func:`next_seq`)
inside the changing transaction.  The counter's row stays locked until that transaction ends, so
numbers become visible in the order they were taken: a terminal that has seen change N has seen
every change below N, and a delta "everything after my cursor" never skips one.

An office operation calls, inside its own session and before its commit:

- :func:`list_blocked` / :func:`unlist_blocked` when a card goes on or leaves the hotlist;
- :func:`refresh_entitlement` after anything about a card or its coupons changed;
- :func:`publish_action` after adding an action or changing its state.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ekarta.backoffice.schema import (
    Action,
    Card,
    Counter,
    CouponSale,
    EntitlementEntry,
    HotlistEntry,
)
from ekarta.sync.messages import EntitledCoupon, Entitlement, slot_text

__all__ = [
    "entitlement_of",
    "list_blocked",
    "next_number",
    "next_seq",
    "publish_action",
    "refresh_entitlement",
    "unlist_blocked",
]

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
    body = entitlement_of(session, card, today=now.date()).model_dump_json()
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
