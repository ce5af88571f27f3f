"""Reading the terminals' journal (:func:`list_journal`): what ``ekarta office journal`` shows.
The API's ingest fills the table; nothing here writes to it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ekarta.backoffice.schema import Device, JournalEntry
from ekarta.transit.model.card_number import CardNumber

__all__ = ["JournalFilter", "JournalLine", "list_journal"]


@dataclass(frozen=True)
class JournalFilter:
    card_number: CardNumber | None = None
    kind: str | None = None
    device: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = 1000


@dataclass(frozen=True)
class JournalLine:
    event_id: str
    device: str
    kind: str
    at: datetime
    received_at: datetime
    card_number: CardNumber | None
    result: int
    line: int | None
    vehicle: int | None
    zone: int | None
    coupon_serial: int | None
    action_id: int | None
    amount: int | None
    note: str | None


def list_journal(engine: Engine, where: JournalFilter = JournalFilter()) -> list[JournalLine]:
    """The journal's events matching ``where``, oldest first (at most ``where.limit``)."""
    query = (select(JournalEntry, Device.name).join(Device, Device.id == JournalEntry.device_id)
             .order_by(JournalEntry.at, JournalEntry.id).limit(where.limit))
    if where.card_number is not None:
        query = query.where(JournalEntry.card_number == int(where.card_number))
    if where.kind is not None:
        query = query.where(JournalEntry.kind == where.kind)
    if where.device is not None:
        query = query.where(Device.name == where.device)
    if where.since is not None:
        query = query.where(JournalEntry.at >= where.since)
    if where.until is not None:
        query = query.where(JournalEntry.at < where.until)
    with Session(engine) as session:
        return [JournalLine(e.event_id, name, e.kind, e.at, e.received_at,
                            None if e.card_number is None else CardNumber.of(e.card_number),
                            e.result, e.line, e.vehicle, e.zone, e.coupon_serial, e.action_id,
                            e.amount, e.note)
                for e, name in session.execute(query)]
