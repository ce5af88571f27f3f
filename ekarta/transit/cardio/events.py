"""The card's own record of what a terminal did to it: :func:`stage_event`.

Every card operation (loading, activating, blocking, a purse credit...) appends one record to the
card's cyclic event log in the same transaction as its change, so that the card takes both or
neither at CommitTransaction.
"""

from __future__ import annotations

from datetime import datetime

from ekarta.desfire.client import DESFire
from ekarta.transit.codec.layout import LOG_FILE
from ekarta.transit.codec.records import encode_event
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.values import EventKind, EventRecord, Reason

__all__ = ["stage_event", "write_event"]


def stage_event(desfire: DESFire, image: CardImage, kind: EventKind, *, at: datetime,
                device: int = 0, result: Reason = Reason.VALID, line: int | None = None,
                vehicle: int | None = None, zone: int | None = None,
                coupon_serial: int | None = None) -> EventRecord:
    """Write the next event record of the card read as ``image``; it takes effect at the
    caller's CommitTransaction.  Returns the record written."""
    event = EventRecord(sequence=image.next_sequence, at=at, kind=kind, result=result,
                        device=device, line=line, vehicle=vehicle, zone=zone,
                        coupon_serial=coupon_serial)
    write_event(desfire, event)
    return event


def write_event(desfire: DESFire, event: EventRecord) -> None:
    """Write ``event`` (made by the caller, its sequence number the card's next) as the card's
    next log record, in the caller's transaction."""
    desfire.write_record(LOG_FILE.file_no, encode_event(event), comm=LOG_FILE.comm)
