"""The card record's life cycle on the card: :func:`activate_card`, :func:`block_card`,
:func:`unblock_card` and :func:`change_card_record`.

Each is one tap: read the card, decide with :mod:`ekarta.transit.model.lifecycle`, then write the
new card record and an event record (ACTIVATION, BLOCKING, UNBLOCKING, RECORD_CHANGE) and commit.
The card record is a backup file and the log a record file, so the card takes both at
CommitTransaction or neither: a card pulled away before the commit keeps its old record and log,
one pulled away after it has the change once, and running the operation again finds it done and
changes nothing (an active card is "already active", a blocked one "already blocked", a change
already made leaves the card as it is).

Which key: the card record file grants ReadWrite to the load key and Write to the validation
key (:data:`~ekarta.transit.codec.layout.CARD_RECORD_FILE`).  Activating, unblocking and changing
the record are a ticket office's acts: they run on the load key, which reads and writes the
record in one session.  Blocking is also what a validator does to a card it finds on the hotlist,
and a validator holds no load key: :func:`block_card` reads with the read key and writes with the
validation key by default (the least a terminal needs to block), or with the load key alone when
``role`` is LOAD (a ticket office).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime

from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.events import stage_event
from ekarta.transit.cardio.reading import authenticate, read_card
from ekarta.transit.cardio.refusals import CardOperationRefused
from ekarta.transit.codec.layout import CARD_RECORD_FILE, KeyRole
from ekarta.transit.codec.records import encode_card_record
from ekarta.transit.errors import CouponError
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.lifecycle import (
    RecordChange,
    RecordPlan,
    plan_activation,
    plan_blocking,
    plan_change,
    plan_unblocking,
)
from ekarta.transit.model.timecodec import local_date, require_aware
from ekarta.transit.model.values import CardRecord, EventKind, EventRecord
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "RecordResult",
    "activate_card",
    "block_card",
    "change_card_record",
    "unblock_card",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RecordResult:
    """What an operation found (``before``) and left (``record``) on the card; ``event`` is the
    log record written, None when the card already was as asked."""

    uid: bytes
    before: CardRecord
    record: CardRecord
    event: EventRecord | None = None

    @property
    def changed(self) -> bool:
        return self.event is not None

    @property
    def card_number(self) -> CardNumber:
        return self.record.card_number


def _operate(desfire: DESFire, keys: KeyProvider, kind: EventKind, name: str,
             plan: Callable[[CardRecord, date], RecordPlan], *, at: datetime, device: int,
             uid: bytes | None, role: KeyRole = KeyRole.LOAD) -> RecordResult:
    at = require_aware(at, f"{name} time")
    today = local_date(at)
    if role is KeyRole.LOAD:
        image = read_card(desfire, keys, role=KeyRole.LOAD, uid=uid, purse=False)
    elif role is KeyRole.VALIDATION:
        # The validation key may write the record but not read it: read with the read key, then
        # open the session that writes.
        image = read_card(desfire, keys, role=KeyRole.READ, uid=uid, purse=False)
        authenticate(desfire, keys, KeyRole.VALIDATION, image.uid)
    else:
        raise CouponError(f"{name} writes the card record with the load or the validation key, "
                          f"not the {KeyRole(role).label} key")
    before = image.record
    decision = plan(before, today)
    if not decision.ok:
        log.info("%s refused: %s", name, ", ".join(r.reason.name for r in decision.refusals))
        raise CardOperationRefused(name, decision.refusals)
    if not decision.changed:
        log.info("%s: nothing to do, the card is as asked", name)
        return RecordResult(image.uid, before, before)
    # Both writes are staged by the card and take effect together at the commit.
    desfire.write_data(CARD_RECORD_FILE.file_no, encode_card_record(decision.record),
                       comm=CARD_RECORD_FILE.comm)
    event = stage_event(desfire, image, kind, at=at, device=device)
    desfire.commit_transaction()
    log.info("%s done", name)
    return RecordResult(image.uid, before, decision.record, event)


def activate_card(desfire: DESFire, keys: KeyProvider, *, at: datetime, device: int = 0,
                  uid: bytes | None = None) -> RecordResult:
    """Make the produced card in the field active (load key).  Raises
    :class:`CardOperationRefused` for a blocked, ordered or expired card."""
    return _operate(desfire, keys, EventKind.ACTIVATION, "activation", plan_activation,
                    at=at, device=device, uid=uid)


def block_card(desfire: DESFire, keys: KeyProvider, *, at: datetime, device: int = 0,
               uid: bytes | None = None, role: KeyRole = KeyRole.VALIDATION) -> RecordResult:
    """Block the card in the field, whatever its status, with the validation key (after reading
    with the read key) or, with ``role`` LOAD, the load key."""
    return _operate(desfire, keys, EventKind.BLOCKING, "blocking",
                    lambda record, _today: plan_blocking(record),
                    at=at, device=device, uid=uid, role=role)


def unblock_card(desfire: DESFire, keys: KeyProvider, *, at: datetime, device: int = 0,
                 uid: bytes | None = None) -> RecordResult:
    """Make the blocked card in the field active again (load key).  Raises
    :class:`CardOperationRefused` when the card is not blocked."""
    return _operate(desfire, keys, EventKind.UNBLOCKING, "unblocking",
                    lambda record, _today: plan_unblocking(record),
                    at=at, device=device, uid=uid)


def change_card_record(desfire: DESFire, keys: KeyProvider, change: RecordChange, *,
                       at: datetime, device: int = 0,
                       uid: bytes | None = None) -> RecordResult:
    """Apply ``change`` to the card record of the card in the field (load key).  Raises
    :class:`CardOperationRefused` for a blocked card or a change that makes no sense on the day
    of ``at`` (see :func:`~ekarta.transit.model.lifecycle.check_card_record`), InvalidField for a
    change that gives no card record at all."""
    if not isinstance(change, RecordChange):
        raise CouponError(f"expected a RecordChange, not {type(change).__name__}")
    return _operate(desfire, keys, EventKind.RECORD_CHANGE, "record change",
                    lambda record, today: plan_change(record, change, today),
                    at=at, device=device, uid=uid)
