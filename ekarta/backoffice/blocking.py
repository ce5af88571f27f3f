"""Blocking and unblocking cards: :func:`block`, :func:`unblock`, and :func:`block_card`, which
:mod:`~ekarta.backoffice.maintenance` and :mod:`~ekarta.backoffice.replacement` share.

Every block is kept (``blocks``); the terminals' hotlist holds only what they need: a blocked
card goes on it, and leaves when it is unblocked, when it expires (maintenance) or when a
terminal reports the blocked status written onto the card (the journal's ingest).  A card blocked
for its expiry does not go on it at all: every terminal refuses an expired card anyway.  Inspectors
and kiosks also get a write-blocked action (a validator writes the status of a card it finds on
its hotlist by itself).

Unblocking is done at the specialised workplace, for a fee, with the card at hand: the office
makes the card active again, and the chip is unblocked there (``ekarta card unblock``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.actions import add_action, cancel_actions
from ekarta.backoffice.cards import CardInfo, aware, card_info, find_card
from ekarta.backoffice.errors import InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import list_blocked, refresh_entitlement, unlist_blocked
from ekarta.backoffice.schema import Block, Card, Fee
from ekarta.sync.messages import ActionKind
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import Refusal
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import Reason

__all__ = ["HOLDER_REASONS", "UNBLOCK_FEE", "BlockResult", "block", "block_card", "unblock"]

log = logging.getLogger(__name__)

HOLDER_REASONS = ("lost", "stolen", "request")
"""Why a holder has a card blocked; the office itself blocks for ``expired``, ``unreturned``
(a replacement card kept past its return date), ``replaced`` (a card whose coupons moved to a
replacement) and ``returned`` (a replacement card given back)."""
UNBLOCK_FEE = 10_000
"""The unblocking fee in haléř when none is given (the operator's price list sets it)."""


@dataclass(frozen=True)
class BlockResult:
    card: CardInfo
    changed: bool


def block_card(session: Session, card: Card, reason: str, *, now: datetime,
               hotlist: bool = True) -> bool:
    """Block ``card`` for ``reason`` unless it is blocked already; True if it was blocked now."""
    if card.status == "blocked":
        return False
    card.status = "blocked"
    session.add(Block(card_id=card.id, reason=reason, blocked_at=now))
    if hotlist:
        list_blocked(session, card, now=now)
        if card.uid is not None:
            add_action(session, card, ActionKind.WRITE_BLOCKED, now=now)
    refresh_entitlement(session, card, now=now)
    log.info("card blocked (%s)", reason)
    return True


def block(engine: Engine, number: CardNumber, reason: str, *, now: datetime) -> BlockResult:
    """Block a card for its holder (``lost``, ``stolen``, ``request``); a blocked card stays
    as it is."""
    if reason not in HOLDER_REASONS:
        raise InvalidRequest(f"a block's reason is one of {', '.join(HOLDER_REASONS)}, "
                             f"not {reason!r}")
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        changed = block_card(session, card, reason, now=aware(now))
        info = card_info(session, card)
        session.commit()
    return BlockResult(info, changed)


def unblock(engine: Engine, number: CardNumber, *, now: datetime,
            fee: int = UNBLOCK_FEE) -> CardInfo:
    """Unblock a card at the specialised workplace and record the fee: the card is active
    again and leaves the hotlist.  Refused for a card that is not blocked, has expired, or
    whose coupons moved to another card."""
    if fee < 0:
        raise InvalidRequest("a fee cannot be negative")
    today = local_date(aware(now))
    operation = f"unblocking card {number}"
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        if card.status != "blocked":
            raise OperationRefused(operation, (Refusal.of(Reason.CARD_NOT_BLOCKED),))
        if today > card.expiry:
            raise OperationRefused(operation, (Refusal.of(Reason.CARD_EXPIRED,
                                                          date=card.expiry),))
        open_blocks = list(session.scalars(select(Block).where(
            Block.card_id == card.id, Block.unblocked_at.is_(None))))
        replaced = session.scalar(select(Card.id).where(Card.replaces_id == card.id))
        if replaced is not None or any(b.reason == "returned" for b in open_blocks):
            raise OperationRefused(operation, detail="its coupons and purse moved to another "
                                   "card")
        for entry in open_blocks:
            entry.unblocked_at = now
        card.status = ("active" if card.activated_at is not None
                       else "produced" if card.produced_at is not None else "ordered")
        session.add(Fee(card_id=card.id, kind="unblocking", amount=fee, at=now))
        unlist_blocked(session, card.card_number, now=now)
        cancel_actions(session, card, kinds=(ActionKind.WRITE_BLOCKED,))
        refresh_entitlement(session, card, now=now)
        info = card_info(session, card)
        session.commit()
    return info
