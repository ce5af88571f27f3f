"""The e-purse's rules: may this card be credited, debited or paid back now, and was this very
operation already done.

Amounts are whole haléř (1/100 CZK).  Everything here is a pure function of the card as read
(a :class:`~ekarta.transit.model.image.CardImage`) and its arguments.

Retries.  A ticket office that sees no answer (a tear, a lost frame) cannot know whether the card
took the change: the commit may have run.  Every purse operation therefore carries the back
office's **operation serial** (the receipt's number, unique across the back office) and logs it
on the card, in the event record's serial field, in the same transaction as the change.  Asked
again with the same serial, the card's log answers: an event of the same kind with that serial
means the operation is done and nothing is changed again; an event of another purse kind with
that serial is a mistake of the caller (OPERATION_SERIAL_USED).  The log keeps the last
:data:`~ekarta.transit.codec.records.EVENT_LOG_RECORDS` events, so a retry must come before the
card has been used that many times since (a retry comes at once, on the same tap or the next).

Rules (the operator's manual: the balance of a blocked card is settled at a contact point):

- credit and debit need an active card that has not expired and is not blocked;
- a credit may not take the balance over the purse's upper limit, a debit not below zero;
- a refund pays back the whole balance, whatever the card's status (a blocked or expired card's
  balance is exactly what a refund settles); an empty purse has nothing to pay back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ekarta.transit.errors import InvalidField
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.rules import Refusal, card_refusal, logged_serial
from ekarta.transit.model.values import SERIAL_MAX, EventKind, Money, Reason

__all__ = ["PURSE_KINDS", "PursePlan", "plan_purse"]

PURSE_KINDS = (EventKind.PURSE_CREDIT, EventKind.PURSE_DEBIT, EventKind.PURSE_REFUND)


@dataclass(frozen=True)
class PursePlan:
    """What a purse operation does: ``amount`` haléř to move (a refund's is the whole balance;
    0 when done already or refused), ``already_done`` when the card's log holds the operation's
    serial under its kind, or the ``refusal``."""

    kind: EventKind
    balance: int
    amount: int = 0
    already_done: bool = False
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None

    @property
    def balance_after(self) -> int:
        """The balance once the operation is on the card."""
        if self.refusal is not None or self.kind is EventKind.PURSE_CREDIT:
            return self.balance + self.amount
        return self.balance - self.amount


def _check(kind: EventKind, serial: int, amount: int | None, upper_limit: int) -> None:
    if kind not in PURSE_KINDS:
        raise InvalidField(f"not a purse operation: {kind.name}")
    if not isinstance(serial, int) or isinstance(serial, bool) or not 1 <= serial <= SERIAL_MAX:
        raise InvalidField(f"the operation serial must be 1..{SERIAL_MAX}, not {serial!r}")
    if kind is EventKind.PURSE_REFUND:
        if amount is not None:
            raise InvalidField("a refund pays back the whole balance: it takes no amount")
        return
    if (not isinstance(amount, int) or isinstance(amount, bool)
            or not 1 <= amount <= upper_limit):
        raise InvalidField(f"the amount must be 1..{upper_limit} haléř, not {amount!r}")


def plan_purse(image: CardImage, kind: EventKind, *, serial: int, today: date,
               upper_limit: int, amount: int | None = None) -> PursePlan:
    """Decide a credit, debit (``amount`` haléř) or refund (no amount) of the card ``image``
    (read with its purse) on the Prague day ``today``; ``upper_limit`` is the purse file's."""
    _check(kind, serial, amount, upper_limit)
    if image.purse is None:
        raise InvalidField("the card was read without its e-purse")
    balance = image.purse
    done = logged_serial(image.events, serial, PURSE_KINDS)
    if done is not None:
        if done.kind is kind:
            return PursePlan(kind, balance, already_done=True)
        return PursePlan(kind, balance,
                         refusal=Refusal.of(Reason.OPERATION_SERIAL_USED, serial=serial))
    if kind is EventKind.PURSE_REFUND:
        if balance <= 0:
            return PursePlan(kind, balance, refusal=Refusal.of(Reason.PURSE_EMPTY))
        return PursePlan(kind, balance, amount=balance)
    assert amount is not None  # _check
    refusal = card_refusal(image.record, today)
    if refusal is not None:
        return PursePlan(kind, balance, refusal=refusal)
    money = {"balance": Money(balance), "amount": Money(amount)}
    if kind is EventKind.PURSE_CREDIT and balance + amount > upper_limit:
        return PursePlan(kind, balance, refusal=Refusal.of(
            Reason.PURSE_LIMIT_EXCEEDED, limit=Money(upper_limit), **money))
    if kind is EventKind.PURSE_DEBIT and amount > balance:
        return PursePlan(kind, balance, refusal=Refusal.of(Reason.PURSE_INSUFFICIENT, **money))
    return PursePlan(kind, balance, amount=amount)
