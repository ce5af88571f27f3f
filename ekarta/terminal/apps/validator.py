"""The driver's validator: a card held to the reader, a verdict in very large type.

``ekarta validator DIR --reader URL`` runs :func:`run`.  Between taps the screen says
"Přiložte kartu / Present your card".  A tap shows one verdict (green VALID, red INVALID or
BLOCKED, amber when the card must be tapped again or cannot be read) with its reason, the
profile, the coupon and its last day and the zone, for :data:`~ekarta.terminal.apps.base.
CLEAR_AFTER` seconds.  The driver

- sets the zone with F2 and the line with F3 (digits, Enter; Escape cancels);
- checks a card whose chip cannot be read by its barcode: a keyboard-wedge scanner, or the
  digits typed and Enter, or a serial scanner (``--scanner URL``);
- sees on the status line the zone, the line, the age of the lists, whether the office was
  reached and how many journal events wait for it.

All of that is the checking terminal's (:class:`~ekarta.terminal.apps.checking.CheckingApp`);
the validator adds the tap itself (:class:`ValidatorEngine`) and its panel
(:mod:`~ekarta.terminal.apps.validator_view`).
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Protocol

from ekarta.desfire.client import Transceiver
from ekarta.readers.base import CardInfo, Reader
from ekarta.terminal.apps.base import CLEAR_AFTER, SYNC_EVERY, Clock, utc_now
from ekarta.terminal.apps.checking import CheckingApp, CheckingEngine, EngineAdapter, run_app
from ekarta.terminal.apps.validator_view import outcome_panel, tr
from ekarta.terminal.apps.view import Panel
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.outcome import TapOutcome
from ekarta.terminal.tap import Position, Validator

__all__ = ["ValidatorApp", "ValidatorEngine", "run"]

log = logging.getLogger(__name__)


class ValidatorEngine(CheckingEngine, Protocol):
    """The tap engine as the app uses it, always from the reader loop's thread."""

    def tap(self, transceiver: Transceiver) -> TapOutcome:
        """One card session with the card in the field."""
        ...


class ValidatorApp(CheckingApp[ValidatorEngine]):
    """The driver's validator; see the module documentation."""

    TITLE = "ekarta validator"

    def card_work(self, engine: ValidatorEngine, reader: Reader, info: CardInfo) -> TapOutcome:
        return engine.tap(reader)

    def result_view(self, outcome: TapOutcome, typed: str | None) -> Panel:
        return outcome_panel(outcome, self.lang, typed=typed)

    def keys_view(self) -> str:
        return tr("keys", self.lang)


# --- the command's entry point --------------------------------------------------------------------


class _TapEngine(EngineAdapter[Validator]):
    """:class:`ekarta.terminal.tap.Validator` as :class:`ValidatorEngine`."""

    def tap(self, transceiver: Transceiver) -> TapOutcome:
        return self.engine.tap(transceiver)

    def check_number(self, text: str) -> TapOutcome:
        return self.engine.check_number(text)


def run(config: TerminalConfig | None = None, *, directory: str | None = None, reader: str,
        scanner: str | None = None, zone: int | None = None, line: int | None = None,
        vehicle: int | None = None, position: Position | None = None,
        device: int | None = None, lang: str = "cs", repeat_window: timedelta | None = None,
        stale_after: timedelta | None = None, clear_after: float = CLEAR_AFTER,
        sync_every: float = SYNC_EVERY, clock: Clock = utc_now) -> int:
    """Run the validator full screen until the service key sequence (Ctrl+X, Ctrl+C); 0.

    The terminal is ``config`` or the one in ``directory``; the vehicle's place is ``zone``,
    ``line`` and ``vehicle`` or a ``position`` that holds them (the engine's
    :class:`~ekarta.terminal.engine.Position`).  The engine is opened once before the screen
    starts, so that a directory it cannot work with fails here, with its error."""
    if position is None:
        position = Position(zone, line, vehicle)
    return run_app(ValidatorApp, Validator, _TapEngine, config, directory=directory,
                   reader=reader, scanner=scanner, position=position, device=device, lang=lang,
                   repeat_window=repeat_window, stale_after=stale_after,
                   clear_after=clear_after, sync_every=sync_every, clock=clock)
