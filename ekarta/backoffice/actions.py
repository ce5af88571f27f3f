"""The office's actions: what the next terminal able to do it must do to a card
(:func:`add_action`), and withdrawing one no longer due (:func:`cancel_actions`).  Each change
goes into the actions feed in the same transaction
(:func:`~ekarta.backoffice.feeds.publish_action`)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ekarta.backoffice.feeds import publish_action
from ekarta.backoffice.schema import Action, Card, CouponSale
from ekarta.sync.messages import ActionItem, ActionKind, slot_text
from ekarta.transit.model.card_number import CardNumber

__all__ = ["add_action", "cancel_actions"]


def add_action(session: Session, card: Card, kind: ActionKind, *, now: datetime,
               coupon: CouponSale | None = None, serial: int | None = None,
               amount: int | None = None, profile: str | None = None,
               profile_end: date | None = None) -> Action:
    """Queue ``kind`` for ``card``: a coupon's load (``coupon``), a purse credit of ``amount``
    under the operation ``serial``, writing the blocked status, a profile (``profile`` and
    ``profile_end``)."""
    action = Action(card_id=card.id, kind=kind.value, state="pending",
                    coupon_id=None if coupon is None else coupon.id, body="", created_at=now,
                    seq=0)
    session.add(action)
    session.flush()
    action.body = ActionItem(
        id=action.id, card_number=CardNumber.of(card.card_number).digits,
        uid=None if card.uid is None else card.uid.hex(), kind=kind,
        serial=coupon.serial if coupon is not None else serial,
        slot=None if coupon is None else slot_text(coupon.slot),
        amount=amount, profile=profile, profile_end=profile_end).model_dump_json()
    publish_action(session, action)
    return action


def cancel_actions(session: Session, card: Card, *, kinds: tuple[ActionKind, ...] = (),
                   coupon: CouponSale | None = None) -> int:
    """Withdraw ``card``'s pending actions of ``kinds`` (all kinds when none), or those of
    ``coupon``; returns how many."""
    query = select(Action).where(Action.card_id == card.id, Action.state == "pending")
    if kinds:
        query = query.where(Action.kind.in_([k.value for k in kinds]))
    if coupon is not None:
        query = query.where(Action.coupon_id == coupon.id)
    count = 0
    for action in session.scalars(query):
        action.state = "cancelled"
        publish_action(session, action)
        count += 1
    return count
