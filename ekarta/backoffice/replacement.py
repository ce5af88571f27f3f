"""Replacement cards: :func:`replace` and :func:`return_card`, and :func:`transfer`, which moves
what a card holds onto another.

The sequence:

1. ``replace(OLD)`` blocks the original (unless it is blocked already) and records the
   application of a replacement card for its holder, with the original's kind and profile: on
   loan for 30 days (``loan_until``), to be returned within 60 (``return_by``; maintenance blocks
   it after), the loan fee recorded.
2. ``produce(NEW)`` (:func:`~ekarta.backoffice.cards.produce`) issues the replacement onto a
   chip, active, and only then, with the replacement's UID known, :func:`transfer` moves onto it
   the original's coupons that are valid now or later (pending and written): each is signed anew
   for the replacement's UID and number under a new serial (``moved_from`` the old one, which is
   closed) and queued as a load; the purse balance is queued as a purse credit.
3. ``return_card(REPLACEMENT, to=NEW)``: the holder brings the replacement back with a new card
   (produced); what the replacement holds moves to the new card the same way, the replacement
   is blocked (``returned``) and the loan fee is paid back.

The replacement's own expiry is a new card's (the loan, not the chip, bounds its use), and the
unpaid bank-transfer orders of the original stay with it (they are cancelled unpaid or paid and
moved by another replacement's transfer).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from dataclasses import replace as changed
from datetime import datetime, timedelta

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.actions import add_action, cancel_actions
from ekarta.backoffice.blocking import block_card
from ekarta.backoffice.cards import Application, CardInfo, aware, card_info, find_card, new_card
from ekarta.backoffice.coupons import LIVE_STATES, known_coupons, record_sale
from ekarta.backoffice.errors import InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import next_number, refresh_entitlement
from ekarta.backoffice.schema import Card, CouponSale, Fee, Holder
from ekarta.sync.messages import ActionKind
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import parse_enum
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import Profile, SaleChannel
from ekarta.transit.security.signing import CouponSigner

__all__ = ["LOAN_DAYS", "LOAN_FEE", "RETURN_DAYS", "Transfer", "replace", "return_card",
           "transfer"]

log = logging.getLogger(__name__)

LOAN_DAYS = 30
RETURN_DAYS = 60
LOAN_FEE = 10_000
"""The loan fee in haléř when none is given (the operator's price list sets it)."""


@dataclass(frozen=True)
class Transfer:
    """What moved: the new coupons' serials and the purse credit (haléř)."""

    serials: tuple[int, ...]
    purse: int


def transfer(session: Session, source: Card, target: Card, signer: CouponSigner, *,
             now: datetime) -> Transfer:
    """Move ``source``'s valid and future coupons and its purse balance onto ``target`` (which
    has its UID): re-signed under new serials, queued as loads and a purse credit."""
    today = local_date(now)
    sales = {s.serial: s for s in session.scalars(
        select(CouponSale).where(CouponSale.card_id == source.id,
                                 CouponSale.state.in_(LIVE_STATES)))}
    serials: list[int] = []
    for signed in sorted(known_coupons(session, source), key=lambda s: s.serial):
        old = sales.get(signed.serial)
        if signed.coupon.valid_to < today or (old is not None and old.paid_at is None):
            continue  # ended, or an order still unpaid: it stays with its card
        coupon = changed(signed.coupon, serial=next_number(session, "serial"),
                         channel=SaleChannel.TRANSFER)
        record_sale(session, target, coupon, signer, now=now, paid=True,
                    moved_from=signed.serial)
        serials.append(coupon.serial)
        if old is not None:
            old.state = "cancelled"
            old.closed_at = now
            cancel_actions(session, source, coupon=old)
    purse = source.purse_balance
    if purse > 0:
        add_action(session, target, ActionKind.CREDIT_PURSE, now=now,
                   serial=next_number(session, "serial"), amount=purse)
        target.purse_balance += purse
        source.purse_balance = 0
        cancel_actions(session, source, kinds=(ActionKind.CREDIT_PURSE,))
    refresh_entitlement(session, source, now=now)
    refresh_entitlement(session, target, now=now)
    log.info("moved %d coupons and the purse onto another card", len(serials))
    return Transfer(tuple(serials), purse)


def replace(engine: Engine, number: CardNumber, *, now: datetime, fee: int = LOAN_FEE,
            holder: Application | None = None) -> CardInfo:
    """Block card ``number`` (reason ``replaced`` unless blocked already) and apply for its
    replacement; returns the replacement (ordered: produce it next).

    The replacement carries the original's holder data while the office still has it (with
    the original's purge date); once purged, ``holder`` gives the names (and the birth date a
    children's or students' profile needs) anew, kept 90 days from today."""
    if fee < 0:
        raise InvalidRequest("a fee cannot be negative")
    today = local_date(aware(now))
    with Session(engine) as session:
        original = find_card(session, number, lock=True)
        if original.replaces_id is not None:
            raise OperationRefused(f"replacing card {number}",
                                   detail="it is a replacement card itself: return it instead")
        if original.uid is None:
            raise OperationRefused(f"replacing card {number}", detail="it was never produced")
        pending = session.scalar(select(Card.card_number).where(
            Card.replaces_id == original.id, Card.returned_at.is_(None)))
        if pending is not None:
            raise OperationRefused(f"replacing card {number}", detail="it has a replacement "
                                   f"already: {CardNumber.of(pending)}")
        row = None if original.holder_id is None else session.get(Holder, original.holder_id)
        application = holder or Application()
        purge_after = None
        if original.kind == "personal" and row is not None and holder is None:
            application = Application(row.first_name, row.surname, row.birth_date,
                                      photo_ref=row.photo_ref, contact=row.contact)
            purge_after = row.purge_after
        elif original.kind == "personal" and application.anonymous:
            raise InvalidRequest(f"the holder's data of card {number} was purged: give the "
                                 "holder's names for the replacement")
        application = changed(application, profile=parse_enum(Profile, original.profile,
                                                               "profile"),
                              profile_end=original.profile_end)
        block_card(session, original, "replaced", now=now)
        card = new_card(session, application, now=now, replaces=original,
                        purge_after=purge_after)
        card.loan_until = today + timedelta(days=LOAN_DAYS)
        card.return_by = today + timedelta(days=RETURN_DAYS)
        session.add(Fee(card_id=card.id, kind="loan", amount=fee, at=now))
        info = card_info(session, card, holder=True)
        session.commit()
    return info


def return_card(engine: Engine, number: CardNumber, to: CardNumber, signer: CouponSigner, *,
                now: datetime) -> tuple[CardInfo, Transfer]:
    """The replacement card ``number`` comes back: what it holds moves to the card ``to``
    (produced), the replacement is blocked and its loan fee paid back."""
    operation = f"returning card {number}"
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        target = find_card(session, to, lock=True)
        if card.replaces_id is None:
            raise OperationRefused(operation, detail="it is not a replacement card")
        if card.returned_at is not None:
            raise OperationRefused(operation, detail="it was returned already")
        if target.id == card.id or target.uid is None or target.status == "blocked":
            raise OperationRefused(operation, detail=f"card {to} cannot take what it holds "
                                   "(it must be produced and not blocked)")
        card.returned_at = aware(now)
        moved = transfer(session, card, target, signer, now=now) if card.uid is not None \
            else Transfer((), 0)
        block_card(session, card, "returned", now=now)
        loan = session.scalars(select(Fee).where(Fee.card_id == card.id, Fee.kind == "loan"))
        for fee in list(loan):
            session.add(Fee(card_id=card.id, kind="loan-refund", amount=-fee.amount, at=now))
        info = card_info(session, card)
        session.commit()
    return info, moved

