"""Writing a paid coupon onto a card: :func:`load_coupon`.

One tap, one session with the load key: read the card, decide with
:func:`~ekarta.transit.model.rules.plan_load`, then write the coupon's slot and a log record (kind
LOAD) and commit — both files change together at CommitTransaction or not at all.  A card pulled
away before the commit keeps its old contents; one pulled away after it holds the coupon once,
and loading it again finds its serial and changes nothing.  A *different* coupon under a serial
the card holds is refused: :mod:`ekarta.transit.cardio.coupons` replaces one explicitly.

The coupon may also be made from what the card holds (``coupon`` a callable taking the
:class:`~ekarta.transit.model.image.CardImage`): a ticket office checks the purchase rules
against the card's coupons and signs in the same tap (:class:`Purchase`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime

from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.events import stage_event
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.refusals import CardOperationRefused
from ekarta.transit.codec.layout import SLOTS_FILE, KeyRole
from ekarta.transit.codec.records import SLOT_SIZE, encode_slot
from ekarta.transit.errors import CouponError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.rules import (
    PurchaseDecision,
    PurchaseRequest,
    Refusal,
    check_purchase,
    plan_load,
)
from ekarta.transit.model.timecodec import local_date, require_aware
from ekarta.transit.model.values import Coupon, EventKind, EventRecord, Reason, SignedCoupon
from ekarta.transit.security.keystore import KeyProvider
from ekarta.transit.security.signing import CouponVerifier

__all__ = [
    "CouponRefused",
    "CouponSource",
    "LoadRefused",
    "LoadResult",
    "Purchase",
    "PurchaseRefused",
    "genuine_coupons",
    "load_coupon",
    "signing_for_card",
]

log = logging.getLogger(__name__)


class CouponRefused(CardOperationRefused):
    """The card refuses an operation on the coupon ``serial``; ``refusal`` names the rule."""

    def __init__(self, serial: int, refusal: Refusal) -> None:
        self.serial = serial
        super().__init__(f"coupon {serial}", (refusal,))


class LoadRefused(CouponRefused):
    """The card refuses the coupon being loaded."""


class PurchaseRefused(CardOperationRefused):
    """The purchase rules refuse the coupon; ``refusals`` names every rule that failed."""

    def __init__(self, decision: PurchaseDecision) -> None:
        self.decision = decision
        super().__init__("purchase", decision.refusals)


@dataclass(frozen=True)
class LoadResult:
    """A coupon on the card: in ``slot``, written now or found there (``already_loaded``)."""

    uid: bytes
    card_number: CardNumber
    signed: SignedCoupon
    slot: int
    already_loaded: bool = False
    event: EventRecord | None = None

    @property
    def serial(self) -> int:
        return self.signed.serial


CouponSource = SignedCoupon | Callable[[CardImage], SignedCoupon]


def genuine_coupons(image: CardImage, verifier: CouponVerifier) -> tuple[SignedCoupon, ...]:
    """The card's coupons whose signature verifies (a forged one must not count anywhere)."""
    return tuple(c for c in image.coupons
                 if verifier.verify(c, uid=image.uid, card_number=image.record.card_number))


def signing_for_card(keys: KeyProvider, coupon: Coupon) -> Callable[[CardImage], SignedCoupon]:
    """A coupon source that signs ``coupon`` for the card in the field (a sale the back office
    made without knowing the card's UID)."""

    def sign(image: CardImage) -> SignedCoupon:
        return keys.signer().sign(coupon, uid=image.uid, card_number=image.record.card_number)

    return sign


class Purchase:
    """A coupon source that checks a purchase against the card and signs the coupon (the back
    office's part, for a ticket office that sells and loads in one tap).

    Called with the card's image it returns the signed coupon, or raises
    :class:`PurchaseRefused`; :attr:`decision` then holds the rules' decision (its notes are
    what the buyer must be told).

    A sale is retried with its serial (a tear, a lost answer): when the card already holds a
    genuine coupon under ``serial``, the rules are applied to the card without it (as the sale
    first found it, so a fourth coupon does not count against itself).  If the sale makes that
    very coupon, the card's own is returned and the load finds it "already loaded"; if it makes
    another, :class:`LoadRefused` (SERIAL_HELD_BY_OTHER_COUPON): the card keeps what it holds.
    """

    def __init__(self, keys: KeyProvider, request: PurchaseRequest, *, today: date, serial: int,
                 device: int = 0, price: int = 0,
                 hotlist: Iterable[CardNumber] = ()) -> None:
        self.keys = keys
        self.request = request
        self.today = today
        self.serial = serial
        self.device = device
        self.price = price
        self.hotlist = frozenset(hotlist)
        self.decision: PurchaseDecision | None = None

    def __call__(self, image: CardImage) -> SignedCoupon:
        genuine = genuine_coupons(image, self.keys.verifier())
        held = next((c for c in genuine if c.serial == self.serial), None)
        others = tuple(c for c in genuine if c.serial != self.serial)
        decision = check_purchase(image.record, others, self.request, today=self.today,
                                  hotlist=self.hotlist)
        self.decision = decision
        coupon = (decision.coupon(serial=self.serial, device=self.device, price=self.price)
                  if decision.ok else None)
        if coupon is None:
            raise PurchaseRefused(decision)
        if held is not None:
            if held.coupon == coupon:
                return held
            raise LoadRefused(self.serial, Refusal.of(Reason.SERIAL_HELD_BY_OTHER_COUPON,
                                                      serial=self.serial))
        return self.keys.signer().sign(coupon, uid=image.uid,
                                       card_number=image.record.card_number)


def load_coupon(desfire: DESFire, keys: KeyProvider, coupon: CouponSource, *, at: datetime,
                device: int = 0, uid: bytes | None = None) -> LoadResult:
    """Load ``coupon`` onto the card in the field at the instant ``at`` (aware).

    Raises :class:`LoadRefused` naming the rule when the card refuses it (blocked, expired,
    signature not for this card, coupon ended, no free slot, another coupon under its serial);
    any refusal of a callable ``coupon`` (:class:`PurchaseRefused`) goes through as it is.
    """
    at = require_aware(at, "load time")
    today = local_date(at)
    image = read_card(desfire, keys, role=KeyRole.LOAD, uid=uid)
    signed = coupon(image) if callable(coupon) else coupon
    if not isinstance(signed, SignedCoupon):
        raise CouponError(f"expected a SignedCoupon, not {type(signed).__name__}")
    card_number = image.record.card_number
    plan = plan_load(image, signed, today=today, verifier=keys.verifier())
    if plan.refusal is not None:
        log.info("coupon %d refused: %s", signed.serial, plan.refusal.reason.name)
        raise LoadRefused(signed.serial, plan.refusal)
    assert plan.slot is not None
    if plan.already_loaded:
        log.info("coupon %d is already in slot %d", signed.serial, plan.slot)
        return LoadResult(image.uid, card_number, signed, plan.slot, already_loaded=True)
    # Both writes are staged by the card and take effect together at the commit.
    desfire.write_data(SLOTS_FILE.file_no, encode_slot(signed), plan.slot * SLOT_SIZE,
                       comm=SLOTS_FILE.comm)
    event = stage_event(desfire, image, EventKind.LOAD, at=at, device=device,
                        coupon_serial=signed.serial)
    desfire.commit_transaction()
    log.info("loaded coupon %d into slot %d", signed.serial, plan.slot)
    return LoadResult(image.uid, card_number, signed, plan.slot, event=event)
