"""The office's actions: what the next terminal able to do it must do to a card
(:func:`add_action`), withdrawing one no longer due (:func:`cancel_actions`), and what still
waits for a card, as the office's workplaces show it (:func:`waiting_actions`).  Each change
goes into the actions feed in the same transaction
(:func:`~ekarta.backoffice.feeds.publish_action`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ekarta.backoffice.feeds import publish_action
from ekarta.backoffice.schema import Action, Card, CouponSale, Device
from ekarta.sync.messages import ActionItem, ActionKind, slot_text
from ekarta.transit.model.card_number import CardNumber

__all__ = ["ActionInfo", "add_action", "cancel_actions", "waiting_actions"]


@dataclass(frozen=True)
class ActionInfo:
    """An action still waiting for its card, and who holds its lease."""

    id: int
    kind: ActionKind
    created_at: datetime
    serial: int | None
    """The coupon's serial (a load), the operation's (a purse credit)."""
    amount: int | None
    """A purse credit's, in haléř."""
    leased_to: str | None
    """The device that took the lease last (its lease may have run out since)."""
    lease_until: datetime | None
    contested: bool
    """A lease on it ran out on a device that had not reported it: that device may have done
    it, and a purse credit waits for its report on a card whose log has dropped records."""


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


def waiting_actions(session: Session, card: Card) -> tuple[ActionInfo, ...]:
    """``card``'s pending actions, oldest first."""
    rows = session.execute(
        select(Action, Device.name).outerjoin(Device, Device.id == Action.lease_device_id)
        .where(Action.card_id == card.id, Action.state == "pending").order_by(Action.id))
    waiting = []
    for action, device in rows:
        item = ActionItem.model_validate_json(action.body)
        waiting.append(ActionInfo(action.id, item.kind, action.created_at, item.serial,
                                  item.amount, device, action.lease_until,
                                  action.lease_contested))
    return tuple(waiting)
