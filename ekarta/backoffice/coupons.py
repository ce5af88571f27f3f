"""Coupons the office sells: :func:`sell`, :func:`pay`, :func:`cancel`, :func:`refund`,
:func:`list_coupons`.

A sale goes through the transit package's purchase rules
(:func:`~ekarta.transit.model.rules.check_purchase`) against every coupon the office knows for
the card: its own sales not yet cancelled or refunded (pending ones, paid or not, and written
ones) and the coupons terminals last reported on the card.  The coupon is signed at the sale for
the card's UID and number under a serial of the ``serial`` counter.

States: *pending* (sold, not yet on the card) -> *written* (a terminal journalled the load),
or *cancelled* / *refunded*.  A paid coupon gets a load action at once; a bank-transfer order
waits for :func:`pay` (terminals are not told of it before) and is cancelled 3 days after the
sale by :mod:`~ekarta.backoffice.maintenance`.

A refund is done at a contact point: the office closes the coupon (it leaves the entitlements,
a pending load is withdrawn), and a coupon written already is taken off the card there, with the
card at hand (``ekarta coupon cancel``); until then the chip still holds it, signed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.actions import add_action, cancel_actions
from ekarta.backoffice.cards import aware, card_record, find_card
from ekarta.backoffice.errors import CouponNotFound, InvalidRequest, OperationRefused
from ekarta.backoffice.feeds import next_number, refresh_entitlement
from ekarta.backoffice.schema import Card, CardCoupon, CouponSale, Holder
from ekarta.sync.messages import ActionKind
from ekarta.transit.codec.records import decode_slot, encode_slot
from ekarta.transit.errors import RecordError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.rules import PurchaseRequest, check_purchase
from ekarta.transit.model.timecodec import local_date
from ekarta.transit.model.values import Coupon, Reason, SaleChannel, SignedCoupon
from ekarta.transit.security.signing import CouponSigner

__all__ = [
    "ORDER_DAYS",
    "CouponInfo",
    "Sale",
    "cancel",
    "known_coupons",
    "list_coupons",
    "pay",
    "refund",
    "sell",
]

log = logging.getLogger(__name__)

ORDER_DAYS = 3
"""Days an unpaid bank-transfer order waits for its payment."""
LIVE_STATES = ("pending", "written")


@dataclass(frozen=True)
class CouponInfo:
    serial: int
    card_number: CardNumber
    state: str
    paid: bool
    coupon: Coupon
    sold_at: datetime
    paid_at: datetime | None
    written_at: datetime | None
    closed_at: datetime | None
    moved_from: int | None


@dataclass(frozen=True)
class Sale:
    """A coupon sold: ``notes`` are the buyer's notes (English, Czech) of the decision."""

    coupon: CouponInfo
    notes_en: tuple[str, ...]
    notes_cs: tuple[str, ...]


def coupon_info(session: Session, sale: CouponSale) -> CouponInfo:
    card = session.get(Card, sale.card_id)
    assert card is not None
    signed = decode_slot(sale.slot)
    assert signed is not None
    return CouponInfo(sale.serial, CardNumber.of(card.card_number), sale.state,
                      sale.paid_at is not None, signed.coupon, sale.sold_at, sale.paid_at,
                      sale.written_at, sale.closed_at, sale.moved_from)


def known_coupons(session: Session, card: Card) -> tuple[SignedCoupon, ...]:
    """Every coupon the office knows the card holds or will hold: its live sales and what
    terminals reported on the card (but not a coupon the office cancelled or refunded)."""
    sales = list(session.scalars(select(CouponSale).where(CouponSale.card_id == card.id)))
    closed = {s.serial for s in sales if s.state not in LIVE_STATES}
    found: dict[int, SignedCoupon] = {}
    for sale in sales:
        signed = decode_slot(sale.slot)
        if sale.state in LIVE_STATES and signed is not None:
            found[sale.serial] = signed
    for seen in session.scalars(select(CardCoupon).where(CardCoupon.card_id == card.id)):
        if seen.serial in closed or seen.serial in found:
            continue
        try:
            signed = decode_slot(seen.slot)
        except RecordError:
            continue  # a slot a newer terminal wrote: it still takes a place on the card
        if signed is not None:
            found[seen.serial] = signed
    return tuple(found.values())


def record_sale(session: Session, card: Card, coupon: Coupon, signer: CouponSigner, *,
                now: datetime, paid: bool, moved_from: int | None = None) -> CouponSale:
    """Sign ``coupon`` for ``card`` and keep it; a paid one gets its load action."""
    if card.uid is None:  # a coupon is signed for the chip's UID: none before it is produced
        raise InvalidRequest(f"card {CardNumber.of(card.card_number)} has no chip yet: produce "
                             "it before selling a coupon for it")
    signed = signer.sign(coupon, uid=card.uid, card_number=CardNumber.of(card.card_number))
    sale = CouponSale(serial=coupon.serial, card_id=card.id, state="pending",
                      channel=enum_name(coupon.channel), valid_from=coupon.valid_from,
                      valid_to=coupon.valid_to, slot=encode_slot(signed), sold_at=now,
                      paid_at=now if paid else None, moved_from=moved_from)
    session.add(sale)
    session.flush()
    if paid:
        add_action(session, card, ActionKind.LOAD_COUPON, coupon=sale, now=now)
    return sale


def sell(engine: Engine, number: CardNumber, request: PurchaseRequest, signer: CouponSigner, *,
         now: datetime, price: int = 0, device: int = 0) -> Sale:
    """Sell the coupon ``request`` asks for onto card ``number``; OperationRefused names every
    rule that forbids it.  Paid at once unless by bank transfer (then :func:`pay`)."""
    today = local_date(aware(now))
    with Session(engine) as session:
        card = find_card(session, number, lock=True)
        holder = None if card.holder_id is None else session.get(Holder, card.holder_id)
        record = card_record(card, holder, for_rules=True)
        decision = check_purchase(record, known_coupons(session, card), request, today=today)
        refusals = decision.refusals
        if holder is None:
            # the office checked the age at the application; the profile end it kept bounds
            # the discount once the birth date is purged
            refusals = tuple(r for r in refusals if r.reason is not Reason.BIRTH_DATE_REQUIRED)
        if refusals:
            raise OperationRefused(f"sale onto card {number}", refusals)
        serial = next_number(session, "serial")
        coupon = Coupon(serial, decision.coupon_type, decision.profile, decision.zones,
                        decision.valid_from, decision.valid_to, decision.sale_date,
                        decision.channel, device, price)
        paid = request.channel is not SaleChannel.ESHOP_BANK_TRANSFER
        sale = record_sale(session, card, coupon, signer, now=now, paid=paid)
        refresh_entitlement(session, card, now=now)
        info = coupon_info(session, sale)
        session.commit()
    log.info("coupon %d sold (%s)", serial, "paid" if paid else "awaiting payment")
    return Sale(info, decision.note_messages("en"), decision.note_messages("cs"))


def _sale(session: Session, serial: int) -> tuple[CouponSale, Card]:
    sale = session.scalar(select(CouponSale).where(CouponSale.serial == serial)
                          .with_for_update())
    if sale is None:
        raise CouponNotFound(f"no coupon {serial} in the office")
    card = session.get(Card, sale.card_id)
    assert card is not None
    return sale, card


def pay(engine: Engine, serial: int, *, now: datetime) -> CouponInfo:
    """A bank transfer for the order ``serial`` arrived: the coupon is paid and queued for
    loading.  Paying a paid coupon changes nothing."""
    with Session(engine) as session:
        sale, card = _sale(session, serial)
        if sale.state != "pending":
            raise OperationRefused(f"payment of coupon {serial}",
                                   detail=f"the coupon is {sale.state}")
        if sale.paid_at is None:
            sale.paid_at = aware(now)
            add_action(session, card, ActionKind.LOAD_COUPON, coupon=sale, now=now)
            refresh_entitlement(session, card, now=now)
        info = coupon_info(session, sale)
        session.commit()
    return info


def close_sale(session: Session, sale: CouponSale, card: Card, state: str, *,
               now: datetime) -> None:
    sale.state = state
    sale.closed_at = now
    cancel_actions(session, card, coupon=sale)
    refresh_entitlement(session, card, now=now)


def cancel(engine: Engine, serial: int, *, now: datetime) -> CouponInfo:
    """Cancel a coupon not yet on the card (an order withdrawn); its load is withdrawn."""
    with Session(engine) as session:
        sale, card = _sale(session, serial)
        if sale.state != "pending":
            detail = f"the coupon is {sale.state}" + (
                ": refund it instead" if sale.state == "written" else "")
            raise OperationRefused(f"cancelling coupon {serial}", detail=detail)
        close_sale(session, sale, card, "cancelled", now=aware(now))
        info = coupon_info(session, sale)
        session.commit()
    return info


def refund(engine: Engine, serial: int, *, now: datetime) -> CouponInfo:
    """Refund a paid coupon that has not ended (pending or written)."""
    today = local_date(aware(now))
    with Session(engine) as session:
        sale, card = _sale(session, serial)
        if sale.state not in LIVE_STATES or sale.paid_at is None:
            state = "unpaid: cancel it instead" if sale.state == "pending" else sale.state
            raise OperationRefused(f"refund of coupon {serial}", detail=f"the coupon is {state}")
        if sale.valid_to < today:
            raise OperationRefused(f"refund of coupon {serial}",
                                   detail=f"the coupon ended on {sale.valid_to}")
        close_sale(session, sale, card, "refunded", now=now)
        info = coupon_info(session, sale)
        session.commit()
    return info


def list_coupons(engine: Engine, *, number: CardNumber | None = None, state: str | None = None,
                 valid_on: date | None = None) -> list[CouponInfo]:
    """The office's coupons, by serial: of one card, in one state, valid on a day or later."""
    with Session(engine) as session:
        query = select(CouponSale).order_by(CouponSale.serial)
        if number is not None:
            query = query.where(CouponSale.card_id == find_card(session, number).id)
        if state is not None:
            query = query.where(CouponSale.state == state)
        if valid_on is not None:
            query = query.where(CouponSale.valid_to >= valid_on)
        return [coupon_info(session, s) for s in session.scalars(query)]
