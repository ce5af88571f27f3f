"""The driver's validator without its screen: :class:`Validator` turns a tap, or a card number a
scanner or the driver gives, into a :class:`~ekarta.terminal.outcome.TapOutcome`.

A tap is one card session (:func:`~ekarta.transit.cardio.validation.validate_card`): read the
card, look it up on the terminal's hotlist (by card number and by UID) and among the office's
entitlements, judge it at the validator's :class:`Position`, then write onto the card its blocked
status (a hotlisted card) or the tap's record, and commit.  Each record committed goes into the
journal outbox once (:class:`~ekarta.sync.messages.JournalEvent`, no names), under an event id
made from the card's record itself, so that a record found again (a tap whose answer was lost,
a restarted validator) is never journalled twice.

- **Repeat window.**  A second tap of a card within ``repeat_window`` (60 s) of its recorded
  validation shows the verdict again (``repeated``) and writes nothing.  The validator
  remembers the exact time of the taps it recorded; for a card it does not remember (after a
  restart) the card's own log, which keeps minutes, decides.
- **Torn taps.**  A card pulled away before the commit answered gives ``TAP_AGAIN``, never a
  verdict.  The validator remembers what it was writing: at the card's next tap its log shows
  whether the commit took effect; if it did, that record is journalled and stands for the tap
  (nothing is written twice), otherwise the tap is recorded as any other.
- **Barcode fallback.**  :meth:`Validator.check_number` judges a card number from the synced
  hotlist and entitlements (``Source.BARCODE``, with the lists' time); a number whose check digit
  fails is ``REFUSED_NUMBER``.  Nothing is written or journalled.
- **Offline.**  Every outcome carries the age of the lists (the older of the hotlist and the
  entitlements) and, past ``stale_after`` (3 days) or when never synced, ``stale``.

A card's error (not a transit card, not issued, another operator's, mute, a record that does not
decode) is an outcome with a one-line ``detail``, never an exception.  A :class:`Validator` and its
store belong to one thread (the card worker's); only :attr:`Validator.position` may be set from
another.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Self

from ekarta.desfire.client import DESFire, Transceiver
from ekarta.errors import EkartaError
from ekarta.sync.messages import JournalEvent
from ekarta.sync.roles import DeviceRole
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import (
    JOURNAL_ZONE_MAX,
    REPEAT_WINDOW,
    STALE_AFTER,
    EngineStatus,
    ListsState,
    Position,
    TerminalEngine,
    device_number,
    journal_event,
    utc_now,
)
from ekarta.terminal.journal import JournalWriter
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.terminal.store import TerminalStore
from ekarta.transit.cardio.validation import CardLists, Validation, ValidationTorn, validate_card
from ekarta.transit.errors import InvalidField
from ekarta.transit.model.card_number import CardNumber
from ekarta.transit.model.rules import SignatureCheck
from ekarta.transit.model.values import EventRecord
from ekarta.transit.security.keystore import KeyProvider

__all__ = [
    "JOURNAL_ZONE_MAX",
    "REPEAT_WINDOW",
    "STALE_AFTER",
    "ListsState",
    "Position",
    "Validator",
    "ValidatorStatus",
    "device_number",
    "journal_event",
]

log = logging.getLogger(__name__)

REMEMBERED = 256
"""How many cards the validator remembers (its recent taps, for the repeat window)."""

ValidatorStatus = EngineStatus
"""What the validator's status line shows."""


@dataclass(frozen=True)
class _Journalled:
    """A record's journal event, made when it is appended: by the journal writer's thread,
    after the tap has answered (its id is a hash, its fields a validated model)."""

    event: EventRecord
    card_number: CardNumber
    uid: bytes
    at: datetime

    def __call__(self) -> JournalEvent:
        return journal_event(self.event, self.card_number, self.uid, at=self.at)


@dataclass(frozen=True)
class _Seen:
    """A card's last tap recorded (or being recorded) here."""

    at: datetime
    """The exact time of the tap that wrote the record."""
    event: EventRecord
    journal: _Journalled
    committed: bool
    """False: the card was lost during the commit; its log will tell."""


class Validator(TerminalEngine):
    """The validator's engine over a terminal's store and keys (see the module docstring)."""

    # another role's keys hold no validation key: every tap would fail on it
    WORKS_WITH = frozenset({DeviceRole.VALIDATOR})
    NEEDS = ("a validator needs a validator's (made with 'ekarta terminal init --role "
             "validator')")

    def __init__(self, store: TerminalStore, keys: KeyProvider, verifier: SignatureCheck, *,
                 device: int, position: Position | None = None,
                 repeat_window: timedelta = REPEAT_WINDOW, stale_after: timedelta = STALE_AFTER,
                 clock: Callable[[], datetime] = utc_now,
                 journal: JournalWriter | None = None) -> None:
        if repeat_window < timedelta(0):
            raise InvalidField("the repeat window cannot be negative")
        super().__init__(store, keys, verifier, device=device, position=position,
                         stale_after=stale_after, clock=clock)
        self.repeat_window = repeat_window
        self._seen: OrderedDict[bytes, _Seen] = OrderedDict()
        self.journal = journal
        """Appends the journal's events off the tap's path (None: the tap appends them to
        ``store`` itself, durably, before it answers)."""

    @classmethod
    def from_config(cls, config: TerminalConfig, *, device: int | None = None,
                    **options: Any) -> Self:
        """The validator of a terminal directory (see :meth:`TerminalEngine.from_config`),
        with a journal writer of its own (:class:`~ekarta.terminal.journal.JournalWriter`)."""
        validator = super().from_config(config, device=device, **options)
        if validator.journal is None:
            validator.journal = JournalWriter(config.open_store)
        return validator

    def close(self) -> None:
        """Write the journal's queued events (when the validator has its own writer, see
        :meth:`from_config`) and close the store it opened."""
        try:
            if self._owns_store and self.journal is not None:
                self.journal.close()
        finally:
            super().close()

    def _append(self, event: _Journalled, now: datetime) -> None:
        if self.journal is not None:
            self.journal.append(event, now=now)
        else:
            self.store.append_journal(event(), now=now)

    def status(self) -> ValidatorStatus:
        queued = self.journal.pending if self.journal is not None else 0
        return ValidatorStatus(self._position, self.lists(), self.store.outbox_size() + queued)

    # --- a tap ------------------------------------------------------------------------------------

    def tap(self, transceiver: Transceiver, *, uid: bytes | None = None) -> TapOutcome:
        """One tap of the card in the field of ``transceiver`` (a reader's ``transceive``).

        ``uid`` is the card's UID if the reader reported it; a :class:`~ekarta.readers.Reader`'s
        own report is taken when it is not given (it saves the card's GetVersion)."""
        now = self._clock()
        position = self._position
        base = self.base_outcome(Source.CHIP, now, position)

        def lookup(number: CardNumber, card_uid: bytes) -> CardLists:
            return self.card_lists(number, card_uid,
                                   repeat_since=self._repeat_since(card_uid, now))

        try:
            validation = validate_card(DESFire(transceiver), self._keys, self._verifier, at=now,
                                       place=self.place(position), lookup=lookup,
                                       uid=self.reader_uid(transceiver, uid))
        except ValidationTorn as exc:
            staged = exc.staged
            self._remember(staged.uid, _Seen(now, staged.event, self._journal(staged, now),
                                             committed=False))
            log.info("card %s lost during the commit: tap again", staged.card_number)
            return replace(base, outcome=Outcome.TAP_AGAIN, card_number=staged.card_number,
                           detail="the card left before its tap was recorded: tap again")
        except EkartaError as exc:  # the card, its protocol, the reader
            return self.card_error(base, exc)
        return self._settle(validation, base, now)

    def _repeat_since(self, uid: bytes, now: datetime) -> datetime | None:
        seen = self._seen.get(uid)
        if seen is not None and now - seen.at >= self.repeat_window:
            return None  # the card's last tap here is older than the window: a new one
        return now - self.repeat_window

    @staticmethod
    def _journal(validation: Validation, at: datetime) -> _Journalled:
        return _Journalled(validation.event, validation.card_number, validation.uid, at)

    def _remember(self, uid: bytes, seen: _Seen) -> None:
        self._seen[uid] = seen
        self._seen.move_to_end(uid)
        while len(self._seen) > REMEMBERED:
            self._seen.popitem(last=False)

    def _settle(self, validation: Validation, base: TapOutcome, now: datetime) -> TapOutcome:
        uid = validation.uid
        seen = self._seen.get(uid)
        lost = seen if seen is not None and not seen.committed else None
        if lost is not None and lost.event in validation.image.events:
            # the commit the card was pulled from took effect: it is journalled now
            self._append(lost.journal, now)
        if validation.written:
            journal, at = self._journal(validation, now), now
            self._append(journal, now)
        elif seen is not None and seen.event == validation.event:
            journal, at = seen.journal, seen.at  # journalled already
        else:  # a record of this device the validator does not remember (it restarted)
            journal, at = self._journal(validation, validation.event.at), validation.event.at
            self._append(journal, now)
        self._remember(uid, _Seen(at, validation.event, journal, committed=True))
        verdict = validation.verdict
        # a verdict shown before: not the first showing for a tap whose answer was lost
        repeated = not validation.written and (lost is None or lost.event != validation.event)
        return replace(base, card_number=validation.card_number, verdict=verdict,
                       from_office=validation.from_office, repeated=repeated,
                       blocked_written=validation.blocked_written, recorded=True)

    # --- the barcode fallback ---------------------------------------------------------------------

    def check_number(self, text: str) -> TapOutcome:
        """Judge the card number in ``text`` (from a scanner or typed) by the synced lists."""
        return self.judge_number(text).outcome
