"""Taking a coupon off a card, and putting another in its place: :func:`cancel_coupon` and
:func:`replace_coupon`.

Both are one tap with the load key (only the load key writes the coupon slots): read the card,
decide with :func:`~ekarta.transit.model.rules.plan_cancel` or
:func:`~ekarta.transit.model.rules.plan_replace`, write the slot and a log record and commit, so
that the card takes both or neither.

- A cancel empties the slot (all zero: what :func:`~ekarta.transit.codec.records.decode_slot`
  reads as an empty slot) and logs COUPON_CANCEL with the serial taken off.
- A replace writes the given signed coupon into the slot of the coupon ``serial`` and logs
  COUPON_REPLACE with the serial *replaced*: the new coupon is in the slot for anyone to read,
  the old one would otherwise leave no trace on the card.  It is how a coupon re-signed for the
  card (a new signing key, a correction by the back office) or exchanged for another serial
  gets on the card; loading never replaces a coupon (see
  :func:`~ekarta.transit.model.rules.plan_load`).  Moving coupons onto a replacement card is a
  load there: that card does not hold the serial.

Retried after a tear, each finds itself done in the card (the slot, the log) and changes
nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.events import stage_event
from ekarta.transit.cardio.loading import CouponRefused, CouponSource
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.codec.layout import SLOTS_FILE, KeyRole
from ekarta.transit.codec.records import SLOT_SIZE, encode_slot
from ekarta.transit.errors import CouponError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import plan_cancel, plan_replace
from ekarta.transit.model.timecodec import local_date, require_aware
from ekarta.transit.model.values import EventKind, EventRecord, SignedCoupon
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["CouponChange", "CouponRefused", "cancel_coupon", "replace_coupon"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CouponChange:
    """A coupon cancelled or replaced: the ``slot`` written (None for a cancel found done),
    ``removed`` the coupon taken off (None if done already), ``signed`` the coupon put in (a
    replace)."""

    uid: bytes
    card_number: CardNumber
    kind: EventKind
    serial: int
    slot: int | None
    removed: SignedCoupon | None = None
    signed: SignedCoupon | None = None
    already_done: bool = False
    event: EventRecord | None = None


def cancel_coupon(desfire: DESFire, keys: KeyProvider, serial: int, *, at: datetime,
                  device: int = 0, uid: bytes | None = None) -> CouponChange:
    """Take the coupon ``serial`` off the card in the field; raises :class:`CouponRefused`
    (COUPON_NOT_ON_CARD) if the card does not hold it and has not logged its cancel."""
    at = require_aware(at, "operation time")
    image = read_card(desfire, keys, role=KeyRole.LOAD, uid=uid, purse=False)
    plan = plan_cancel(image, serial)
    base = (image.uid, image.record.card_number, EventKind.COUPON_CANCEL, serial)
    if plan.refusal is not None:
        raise CouponRefused(serial, plan.refusal)
    if plan.already_loaded or plan.slot is None:
        log.info("coupon %d is cancelled already", serial)
        return CouponChange(*base, None, already_done=True)
    removed = image.slots[plan.slot]
    assert isinstance(removed, SignedCoupon)  # plan_cancel found the serial in it
    desfire.write_data(SLOTS_FILE.file_no, encode_slot(None), plan.slot * SLOT_SIZE,
                       comm=SLOTS_FILE.comm)
    event = stage_event(desfire, image, EventKind.COUPON_CANCEL, at=at, device=device,
                        coupon_serial=serial)
    desfire.commit_transaction()
    log.info("cancelled coupon %d in slot %d", serial, plan.slot)
    return CouponChange(*base, plan.slot, removed=removed, event=event)


def replace_coupon(desfire: DESFire, keys: KeyProvider, serial: int, coupon: CouponSource, *,
                   at: datetime, device: int = 0, uid: bytes | None = None) -> CouponChange:
    """Put ``coupon`` (signed, or a callable that signs it for the card read, as for
    :func:`~ekarta.transit.cardio.loading.load_coupon`) in place of the coupon ``serial`` on the
    card in the field; raises :class:`CouponRefused` naming the rule (see
    :func:`~ekarta.transit.model.rules.plan_replace`)."""
    at = require_aware(at, "operation time")
    image = read_card(desfire, keys, role=KeyRole.LOAD, uid=uid, purse=False)
    signed = coupon(image) if callable(coupon) else coupon
    if not isinstance(signed, SignedCoupon):
        raise CouponError(f"expected a SignedCoupon, not {type(signed).__name__}")
    plan = plan_replace(image, serial, signed, today=local_date(at), verifier=keys.verifier())
    base = (image.uid, image.record.card_number, EventKind.COUPON_REPLACE, serial)
    if plan.refusal is not None:
        raise CouponRefused(serial, plan.refusal)
    assert plan.slot is not None
    if plan.already_loaded:
        log.info("coupon %d is replaced by %d already", serial, signed.serial)
        return CouponChange(*base, plan.slot, signed=signed, already_done=True)
    removed = image.slots[plan.slot]
    assert isinstance(removed, SignedCoupon)
    desfire.write_data(SLOTS_FILE.file_no, encode_slot(signed), plan.slot * SLOT_SIZE,
                       comm=SLOTS_FILE.comm)
    event = stage_event(desfire, image, EventKind.COUPON_REPLACE, at=at, device=device,
                        coupon_serial=serial)
    desfire.commit_transaction()
    log.info("replaced coupon %d in slot %d by %d", serial, plan.slot, signed.serial)
    return CouponChange(*base, plan.slot, removed=removed, signed=signed, event=event)
