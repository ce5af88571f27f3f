"""What a terminal shows after a card is tapped or its number is read: :class:`TapOutcome`.

The card work (:mod:`ekarta.terminal.tap` for the validator, the inspector's and the kiosk's
engines) makes one; the apps render it and the ``--once --json`` commands print it.  It holds what
the screen needs and nothing more.  A validator's outcome has the card number and the transit
verdict (with the coupon that decided it), never the holder's name.  An inspector's or a kiosk's
also has the card as it is after the check (:attr:`TapOutcome.image`, the holder's name
included, for the screen only: it is never journalled, printed by ``--json`` or logged), what
became of each action the office left for the card (:class:`ActionResult`) and the journal id of
the check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from ekarta.sync.messages import ActionKind
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.image import CardImage
from ekarta.transit.model.rules import Refusal, Verdict
from ekarta.transit.model.values import EventRecord, Reason, SignedCoupon

__all__ = ["ActionResult", "ActionState", "Outcome", "Progress", "Source", "TapOutcome"]


class Source(StrEnum):
    """Where the verdict's data came from."""

    CHIP = "chip"
    """The card itself, read and written in this tap."""
    BARCODE = "barcode"
    """The synced lists, for a number a scanner or the keyboard gave."""


class Outcome(StrEnum):
    """What kind of answer a tap has."""

    VERDICT = "verdict"
    """A verdict: valid or invalid, with its reason (``TapOutcome.verdict``)."""
    TAP_AGAIN = "tap-again"
    """The card left before the tap was committed: nothing is claimed; the next tap finishes."""
    NOT_A_TRANSIT_CARD = "not-a-transit-card"
    """A card without the transit application, not issued, or of another operator."""
    UNREADABLE = "unreadable"
    """The chip does not answer as a card should (mute, damaged, a refused key)."""
    REFUSED_NUMBER = "refused-number"
    """A typed or scanned number that is no card number (its check digit fails)."""


class ActionState(StrEnum):
    """What became of one action the office left for a card, at a check."""

    DONE = "done"
    """Written onto the card and committed in this check (journalled)."""
    FOUND = "found"
    """The card already shows it done (an earlier check whose answer was lost): journalled now,
    nothing written."""
    WAITING = "waiting"
    """Not possible on this card now (``refusal`` says why: no free slot, a blocked card...):
    it stays at the office for a later check."""
    TORN = "torn"
    """The card left during the commit: only the card's next check can tell; not journalled."""


@dataclass(frozen=True)
class ActionResult:
    """One action of the office's for the card, as the check left it."""

    action_id: int
    kind: ActionKind
    state: ActionState
    serial: int | None = None
    """The coupon's serial (a load) or the operation serial (a purse credit)."""
    amount: int | None = None
    """A purse credit's amount in haléř."""
    coupon: SignedCoupon | None = None
    """The coupon a load writes."""
    refusal: Reason | None = None
    """Why a WAITING action cannot be done now."""
    refused: Refusal | None = None
    """The same refusal in full, for the screen: its message in Czech and English, with the
    details it names (a date, an amount)."""


@dataclass(frozen=True)
class Progress:
    """How far a check's writing has come, for the screen: ``done`` of ``total`` steps (the
    card commands that write, and the commit), ``step`` naming the one being done
    (``load-coupon 1234``, ``credit-purse 17``, ``commit``)."""

    done: int
    total: int
    step: str


@dataclass(frozen=True)
class TapOutcome:
    """One tap's (or one barcode check's) answer, as the terminal shows it."""

    outcome: Outcome
    source: Source
    at: datetime
    """When the tap was judged (the terminal's clock)."""
    zone: int | None = None
    line: int | None = None
    card_number: CardNumber | None = None
    verdict: Verdict | None = None
    """The transit verdict, for ``Outcome.VERDICT``."""
    from_office: bool = False
    """The coupon that made the card valid is one the office holds, paid but not yet on the
    card."""
    repeated: bool = False
    """A second tap of the same card within the repeat window: shown again, nothing written."""
    blocked_written: bool = False
    """The card was on the hotlist and its blocked status is now written onto it."""
    recorded: bool = False
    """The card's event log holds this validation (committed in this tap or an earlier one)."""
    data_as_of: datetime | None = None
    """When the lists the verdict used were last brought up to date (None: never synced)."""
    lists_age: timedelta | None = None
    stale: bool = False
    """The lists are older than the terminal's limit: the verdict carries a warning."""
    detail: str | None = None
    """Why a tap gave no verdict (one line, for the service screen and the log)."""
    image: CardImage | None = None
    """The card as the check leaves it (inspector, kiosk; None for the validator): the holder's
    name and birth date are here for the screen only.  For a barcode check, what the office's
    entitlement holds (placeholder names, the office's coupons as its slots)."""
    last_validation: EventRecord | None = None
    """The newest VALIDATION record the card's log held when it was read."""
    actions: tuple[ActionResult, ...] = ()
    """Each action the office left for the card, and what became of it (in the office's
    order)."""
    event_id: UUID | None = None
    """The journal id of the check (an inspector's recorded outcome refers to it)."""

    @property
    def ok(self) -> bool:
        """A verdict of valid."""
        return self.outcome is Outcome.VERDICT and self.verdict is not None and self.verdict.ok
