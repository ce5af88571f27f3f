"""What a terminal shows after a card is tapped or its number is read: :class:`TapOutcome`.

The card work (:mod:`ekarta.terminal.tap`) makes one; the apps render it and the ``--once
--json`` commands print it.  It holds what the screen needs and nothing more: the card number
and the transit verdict (with the coupon that decided it), never the holder's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import Verdict

__all__ = ["Outcome", "Source", "TapOutcome"]


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

    @property
    def ok(self) -> bool:
        """A verdict of valid."""
        return self.outcome is Outcome.VERDICT and self.verdict is not None and self.verdict.ok
