"""The e-purse as the office keeps it: :func:`top_up` queues a credit for the next terminal that
meets the card and records the balance it will have."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from ekarta.backoffice.actions import add_action
from ekarta.backoffice.cards import aware, card_record, find_card
from ekarta.backoffice.errors import InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import next_number
from ekarta.backoffice.schema import Holder
from ekarta.sync.messages import ActionKind
from ekarta.transit.codec.layout import PURSE_UPPER_LIMIT
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import Refusal, card_refusal
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import Money, Reason

__all__ = ["TopUp", "top_up"]


@dataclass(frozen=True)
class TopUp:
    card_number: CardNumber
    serial: int
    amount: int
    balance: int
    action_id: int


def top_up(engine: Engine, number: CardNumber, amount: int, *, now: datetime) -> TopUp:
    """Credit ``amount`` haléř to card ``number``'s purse: a purse-credit action under a new
    operation serial.  Refused like a credit at a terminal: a card blocked, not active or
    expired, or a balance over the purse's limit."""
    if not isinstance(amount, int) or amount <= 0:
        raise InvalidRequest("a top-up is more than 0 haléř")
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        holder = None if card.holder_id is None else session.get(Holder, card.holder_id)
        refusal = card_refusal(card_record(card, holder, for_rules=True),
                               local_date(aware(now)))
        if refusal is None and card.purse_balance + amount > PURSE_UPPER_LIMIT:
            refusal = Refusal.of(Reason.PURSE_LIMIT_EXCEEDED, amount=Money(amount),
                                 limit=Money(PURSE_UPPER_LIMIT),
                                 balance=Money(card.purse_balance))
        if refusal is not None:
            raise OperationRefused(f"top-up of card {number}", (refusal,))
        serial = next_number(session, "serial")
        action = add_action(session, card, ActionKind.CREDIT_PURSE, now=now, serial=serial,
                            amount=amount)
        card.purse_balance += amount
        result = TopUp(number, serial, amount, card.purse_balance, action.id)
        session.commit()
    return result
