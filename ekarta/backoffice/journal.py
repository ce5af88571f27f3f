"""What terminals report: their journal batches, stored once per event and acted upon.

:func:`ingest` stores a :class:`~ekarta.sync.messages.JournalBatch` in one transaction: the
events go in with one ``INSERT ... ON CONFLICT DO NOTHING`` (an event id stored before is
skipped), and only the events new to the office have effects:

- a load, purse credit, profile update or blocking that names an action closes the action (and
  a loaded coupon is ``written``, the card's entitlement follows);
- a blocking written onto a card marks its open blocks written and takes the card off the
  hotlist (the card refuses itself from now on);
- the coupons a terminal read from a card replace what the office knew of them, unless the
  office holds a newer reading.

The first two take only an event whose result is 0 (done, or a valid verdict); the coupons read
count whatever the check's verdict was.

The journal keeps no personal data: a card number, codes, amounts and times.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import Engine, Table, delete, select, text
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from ekarta.backoffice.errors import OfficeError
from ekarta.backoffice.feeds import publish_action, refresh_entitlement, unlist_blocked
from ekarta.backoffice.schema import Action, Block, Card, CardCoupon, CouponSale, JournalEntry
from ekarta.backoffice.store import DeviceInfo
from ekarta.errors import EkartaError
from ekarta.sync.messages import (
    ROLE_ACTIONS,
    ActionKind,
    JournalAck,
    JournalBatch,
    JournalEvent,
    JournalKind,
    slot_bytes,
)
from ekarta.transit.codec.records import decode_slot
from ekarta.transit.security.signing import CouponVerifier

__all__ = ["JournalRejected", "ingest"]

log = logging.getLogger(__name__)

PERFORMS = {
    JournalKind.LOAD: ActionKind.LOAD_COUPON,
    JournalKind.PURSE_CREDIT: ActionKind.CREDIT_PURSE,
    JournalKind.PROFILE_UPDATE: ActionKind.UPDATE_PROFILE,
    JournalKind.BLOCKING: ActionKind.WRITE_BLOCKED,
    JournalKind.ACTIVATION: ActionKind.ACTIVATE,
}
"""The action each kind of report performs."""


class JournalRejected(OfficeError):
    """A batch the office cannot store as sent (nothing of it is stored)."""


def _instant(at: datetime) -> datetime:
    try:
        return at.astimezone(UTC)
    except OverflowError:
        raise JournalRejected(f"the event time {at.isoformat()} is out of range") from None


def _row(event: JournalEvent, device_id: int, now: datetime) -> dict[str, Any]:
    return {
        "event_id": str(event.event_id), "device_id": device_id, "kind": event.kind.value,
        "at": _instant(event.at), "received_at": now,
        "card_number": None if event.card_number is None else int(event.card_number),
        "result": event.result, "line": event.line, "vehicle": event.vehicle, "zone": event.zone,
        "coupon_serial": event.coupon_serial, "action_id": event.action_id,
        "amount": event.amount, "note": event.note,
    }


_COLUMNS = {"event_id": "varchar", "device_id": "integer", "kind": "varchar",
            "at": "timestamptz", "received_at": "timestamptz", "card_number": "bigint",
            "result": "smallint", "line": "integer", "vehicle": "integer", "zone": "smallint",
            "coupon_serial": "bigint", "action_id": "bigint", "amount": "integer",
            "note": "varchar"}
_POSTGRES_INSERT = text(
    f"INSERT INTO journal ({', '.join(_COLUMNS)}) SELECT {', '.join(_COLUMNS)} "
    f"FROM json_to_recordset(CAST(:rows AS json)) "
    f"AS batch({', '.join(f'{name} {kind}' for name, kind in _COLUMNS.items())}) "
    "ON CONFLICT (event_id) DO NOTHING RETURNING event_id")
"""On PostgreSQL the batch goes in as one JSON document: one short statement and one parameter
whatever the batch's size (a multi-row VALUES list of 7,000 parameters costs more to build than
to run)."""


def _json_value(value: object) -> object:
    return value.isoformat() if isinstance(value, datetime) else value


def _store(session: Session, rows: list[dict[str, Any]]) -> set[str]:
    """Insert ``rows`` but those whose event id is stored already; the ids inserted."""
    if session.get_bind().dialect.name == "postgresql":
        document = json.dumps([{k: _json_value(v) for k, v in row.items()} for row in rows])
        return set(session.execute(_POSTGRES_INSERT, {"rows": document}).scalars())
    table = cast(Table, JournalEntry.__table__)  # Core, not the ORM's bulk insert: faster
    statement = (sqlite.insert(table).on_conflict_do_nothing(index_elements=["event_id"])
                 .returning(table.c.event_id))
    return set(session.execute(statement, rows).scalars())


def ingest(engine: Engine, device: DeviceInfo, batch: JournalBatch, now: datetime, *,
           verifier: CouponVerifier | None = None) -> JournalAck:
    """Store ``batch`` from ``device`` at ``now`` (see the module's docstring); the ack names
    every event of the batch, which the office now holds."""
    if now.tzinfo is None:
        raise OfficeError("an instant must carry its time zone")
    # in one order for every batch: two batches holding the same events (a resend racing its
    # original) then wait for each other instead of deadlocking
    rows = sorted((_row(event, device.id, now) for event in batch.events),
                  key=lambda row: row["event_id"])
    with Session(engine) as session, session.begin():
        new = _store(session, rows)
        fresh: dict[str, JournalEvent] = {}
        for event in batch.events:  # an id twice in the batch: its first event counts
            if (key := str(event.event_id)) in new:
                fresh.setdefault(key, event)
        _effects(session, device, list(fresh.values()), now, verifier)
    log.debug("device %s: %d events, %d new", device.name, len(rows), len(fresh))
    return JournalAck(acknowledged=tuple(dict.fromkeys(e.event_id for e in batch.events)))


def _effects(session: Session, device: DeviceInfo, events: Sequence[JournalEvent],
             now: datetime, verifier: CouponVerifier | None) -> None:
    for event in events:
        if event.card_number is None:
            continue
        if event.result == 0:
            if event.kind in PERFORMS and event.action_id is not None:
                _close_action(session, device, event, now)
            if event.kind is JournalKind.BLOCKING:
                _block_written(session, int(event.card_number), _instant(event.at), now)
        if event.coupons is not None:
            # a check whose verdict refused the card (its coupons expired, say) read them
            # all the same
            _card_read(session, int(event.card_number), event.coupons, _instant(event.at),
                       verifier)


def _card(session: Session, card_number: int) -> Card | None:
    return session.scalar(select(Card).where(Card.card_number == card_number))


def _close_action(session: Session, device: DeviceInfo, event: JournalEvent,
                  now: datetime) -> None:
    """The action ``event`` reports done is done, if it is the device's to do, pending, of
    that kind and for that card (the first report wins)."""
    action = session.get(Action, event.action_id, with_for_update=True)
    if action is None or action.state != "pending":
        return
    card = session.get(Card, action.card_id)
    kind = PERFORMS[event.kind]
    if (card is None or action.kind != kind.value or kind not in ROLE_ACTIONS[device.role]
            or card.card_number != int(event.card_number or 0)):
        log.warning("device %s reported action %d done, which it cannot have done",
                    device.name, action.id)
        return
    at = _instant(event.at)
    action.state = "done"
    action.done_at = at
    action.lease_device_id = None
    action.lease_until = None
    publish_action(session, action)
    if action.coupon_id is not None:
        sale = session.get(CouponSale, action.coupon_id)
        if sale is not None and sale.state == "pending":
            sale.state = "written"
            sale.written_at = at
    refresh_entitlement(session, card, now=now)


def _block_written(session: Session, card_number: int, at: datetime, now: datetime) -> None:
    card = _card(session, card_number)
    if card is None:
        return
    blocks = session.scalars(select(Block).where(Block.card_id == card.id,
                                                 Block.unblocked_at.is_(None),
                                                 Block.written_at.is_(None))).all()
    for block in blocks:
        block.written_at = at
    if blocks:
        unlist_blocked(session, card_number, now=now)


def _slots(texts: Iterable[str], card: Card,
           verifier: CouponVerifier | None) -> dict[int, bytes]:
    """The operator's coupons among the slots a terminal read from ``card``, by serial: an empty
    slot holds none, and one that does not decode or whose signature is not the operator's for
    this card is left out (a terminal's token does not make what it reports genuine)."""
    found: dict[int, bytes] = {}
    if verifier is None or card.uid is None:
        return found
    for written in texts:
        try:
            slot = slot_bytes(written)
            signed = decode_slot(slot)
        except (EkartaError, ValueError):
            log.warning("a reported coupon slot does not decode: left out")
            continue
        if signed is None:
            continue
        if not verifier.verify(signed, uid=card.uid, card_number=card.card_number):
            log.warning("a reported coupon %d is not signed for card %010d: left out",
                        signed.serial, card.card_number)
            continue
        found[signed.serial] = slot
    return found


def _card_read(session: Session, card_number: int, texts: Iterable[str], at: datetime,
               verifier: CouponVerifier | None) -> None:
    """What a terminal read from the card replaces what the office knew of its coupons."""
    card = _card(session, card_number)
    if card is None:
        return
    if card.coupons_read_at is not None and card.coupons_read_at >= at:
        return
    card.coupons_read_at = at
    session.execute(delete(CardCoupon).where(CardCoupon.card_id == card.id))
    session.add_all(CardCoupon(card_id=card.id, serial=serial, slot=slot, seen_at=at)
                    for serial, slot in _slots(texts, card, verifier).items())
