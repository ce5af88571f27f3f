"""Producing an ordered card onto a chip: :func:`produce`.

The office records the card as produced only once the chip is issued, so the two never disagree.
The chip is written *produced* for a card sent by post (its holder activates it in the e-shop,
which changes the office's status: a terminal that finds an office-active card still produced on
its chip activates the chip), or *active* for one handed over at a contact point.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ekarta.backoffice.cards import CardInfo, aware, card_info, card_record, find_card
from ekarta.backoffice.errors import OperationRefused
from ekarta.backoffice.feeds import refresh_entitlement
from ekarta.backoffice.replacement import transfer
from ekarta.backoffice.schema import Card, Holder
from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.issuance import IssueError, issue_card
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import CardStatus
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["ProduceResult", "produce"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProduceResult:
    card: CardInfo
    already_issued: bool
    steps: tuple[str, ...]



def produce(engine: Engine, number: CardNumber, desfire: DESFire, keys: KeyProvider, *,
            now: datetime, active: bool = False) -> ProduceResult:
    """Issue the ordered card ``number`` onto the chip in the field with the office's data and
    record its UID.

    The office records the card as produced only once the chip is issued, so the two never
    disagree; issuing again onto a chip that already holds this card's record is harmless
    (a run torn between the chip and the database completes).  ``active``: the card is handed
    over at a contact point and is active at once, on its chip and in the office.  A replacement
    card is always handed over at the specialised workplace (active), and once it is produced
    the coupons and the purse balance of the card it replaces move onto it
    (:mod:`~ekarta.backoffice.replacement`).
    """
    today = local_date(aware(now))
    with Session(engine) as session:
        card = find_card(session, number)
        if card.status != "ordered":
            raise OperationRefused(f"producing card {number}",
                                   detail=f"the card is {card.status} already")
        active = active or card.replaces_id is not None
        holder = None if card.holder_id is None else session.get(Holder, card.holder_id)
        status = CardStatus.ACTIVE if active else CardStatus.PRODUCED
        record = card_record(card, holder, status=status)
    try:
        result = issue_card(desfire, keys, record, today=today)
    except IssueError as exc:
        raise OperationRefused(f"producing card {number}", detail=str(exc)) from exc
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        if card.status != "ordered":  # another workplace produced it meanwhile
            if card.uid != result.uid:
                raise OperationRefused(f"producing card {number}",
                                       detail=f"the card is {card.status} already")
            return ProduceResult(card_info(session, card), True, result.steps)
        card.uid = result.uid
        card.produced_at = now
        card.status = enum_name(status)
        if active:
            card.activated_at = now
        refresh_entitlement(session, card, now=now)
        if card.replaces_id is not None:
            original = session.get(Card, card.replaces_id)
            assert original is not None
            transfer(session, original, card, keys.signer(), now=now)
        try:
            session.flush()
        except IntegrityError:
            raise OperationRefused(f"producing card {number}",
                                   detail="the chip's UID belongs to another card") from None
        info = card_info(session, card)
        session.commit()
    log.info("card produced (%s)", enum_name(info.status))
    return ProduceResult(info, result.already_issued, result.steps)
