"""The e-purse at a ticket office: :func:`credit_purse` (top-up), :func:`debit_purse` and
:func:`refund_purse` (pay back the whole balance).

Each is one tap: read the card, decide with :func:`~ekarta.transit.model.purse.plan_purse`, then
change the value file and append a log record (kind PURSE_CREDIT, PURSE_DEBIT or PURSE_REFUND,
the operation serial in its serial field) and commit: the card takes both at CommitTransaction
or neither.  Retried with the same serial after a tear, the operation finds its record in the
card's log and changes nothing (see :mod:`ekarta.transit.model.purse`).

Keys (:data:`~ekarta.transit.codec.layout.PURSE_FILE`: Read and Write the validation key,
ReadWrite the load key):

- a credit needs the **load key**: only the ReadWrite right grants Credit (the validation key's
  LimitedCredit gives back at most the last transaction's debits, which is no top-up);
- a debit takes the **validation key**, the least that may debit and append to the log: it is
  what a validator or a vending machine holds, and a debit needs no more.  The card is read
  with the read key first (the validation key may not read the card record), and the purse
  read leaves the validation key's session open for the debit;
- a refund is a ticket office's settlement and takes the **load key**, with which the one
  session reads every file, debits and logs.

The log record has no amount field: the amount and the balances before and after are in the
result (for the operator and the back office's receipt under the operation serial); the card
keeps the balance and the serial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from ekarta.desfire.client import DESFire
from ekarta.transit.cardio.events import stage_event
from ekarta.transit.cardio.reading import read_card
from ekarta.transit.cardio.refusals import CardOperationRefused
from ekarta.transit.codec.layout import PURSE_FILE, PURSE_UPPER_LIMIT, KeyRole
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.purse import plan_purse
from ekarta.transit.model.rules import Refusal
from ekarta.transit.model.timecodec import local_date, require_aware
from ekarta.transit.model.values import EventKind, EventRecord
from ekarta.transit.security.keystore import KeyProvider

__all__ = ["PurseRefused", "PurseResult", "credit_purse", "debit_purse", "refund_purse"]

log = logging.getLogger(__name__)

_ROLES = {EventKind.PURSE_CREDIT: KeyRole.LOAD, EventKind.PURSE_DEBIT: KeyRole.READ,
          EventKind.PURSE_REFUND: KeyRole.LOAD}
"""The key each operation reads the card with (a debit then runs under the validation key,
which reading the purse leaves open)."""


class PurseRefused(CardOperationRefused):
    """The card refuses the purse operation; ``refusal`` names the rule."""

    def __init__(self, kind: EventKind, serial: int, refusal: Refusal) -> None:
        self.kind = kind
        self.serial = serial
        super().__init__(f"{_what(kind)} {serial}", (refusal,))


def _what(kind: EventKind) -> str:
    return {EventKind.PURSE_CREDIT: "credit", EventKind.PURSE_DEBIT: "debit",
            EventKind.PURSE_REFUND: "refund"}[kind]


@dataclass(frozen=True)
class PurseResult:
    """A purse operation on the card: ``amount`` haléř moved now (0 if ``already_done``: the
    card's log holds the operation serial), the balance before and after."""

    uid: bytes
    card_number: CardNumber
    kind: EventKind
    serial: int
    amount: int
    balance_before: int
    balance: int
    already_done: bool = False
    event: EventRecord | None = None


def credit_purse(desfire: DESFire, keys: KeyProvider, amount: int, *, serial: int,
                 at: datetime, device: int = 0, uid: bytes | None = None) -> PurseResult:
    """Add ``amount`` haléř to the purse of the card in the field (operation ``serial``)."""
    return _operate(desfire, keys, EventKind.PURSE_CREDIT, amount, serial, at, device, uid)


def debit_purse(desfire: DESFire, keys: KeyProvider, amount: int, *, serial: int,
                at: datetime, device: int = 0, uid: bytes | None = None) -> PurseResult:
    """Take ``amount`` haléř from the purse of the card in the field (operation ``serial``)."""
    return _operate(desfire, keys, EventKind.PURSE_DEBIT, amount, serial, at, device, uid)


def refund_purse(desfire: DESFire, keys: KeyProvider, *, serial: int, at: datetime,
                 device: int = 0, uid: bytes | None = None) -> PurseResult:
    """Pay back the whole balance of the card in the field and leave the purse at 0
    (operation ``serial``); the result's ``amount`` is what to pay out."""
    return _operate(desfire, keys, EventKind.PURSE_REFUND, None, serial, at, device, uid)


def _operate(desfire: DESFire, keys: KeyProvider, kind: EventKind, amount: int | None,
             serial: int, at: datetime, device: int, uid: bytes | None) -> PurseResult:
    at = require_aware(at, "operation time")
    image = read_card(desfire, keys, role=_ROLES[kind], uid=uid)
    plan = plan_purse(image, kind, serial=serial, amount=amount, today=local_date(at),
                      upper_limit=PURSE_UPPER_LIMIT)
    number = image.record.card_number
    if plan.refusal is not None:
        log.info("%s %d refused: %s", _what(kind), serial, plan.refusal.reason.name)
        raise PurseRefused(kind, serial, plan.refusal)
    if plan.already_done:
        log.info("%s %d is already in the card's log", _what(kind), serial)
        return PurseResult(image.uid, number, kind, serial, 0, plan.balance, plan.balance,
                           already_done=True)
    if kind is EventKind.PURSE_CREDIT:
        desfire.credit(PURSE_FILE.file_no, plan.amount, comm=PURSE_FILE.comm)
    else:
        desfire.debit(PURSE_FILE.file_no, plan.amount, comm=PURSE_FILE.comm)
    event = stage_event(desfire, image, kind, at=at, device=device, coupon_serial=serial)
    desfire.commit_transaction()
    log.info("%s %d: %d -> %d haléř", _what(kind), serial, plan.balance, plan.balance_after)
    return PurseResult(image.uid, number, kind, serial, plan.amount, plan.balance,
                       plan.balance_after, event=event)
