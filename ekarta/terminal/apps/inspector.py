"""The inspector's handheld: a card held to the reader, checked, the office's coupons loaded onto
it, and the outcome recorded.

``ekarta inspector DIR --reader URL`` runs :func:`run`.  Between checks the screen says
"Přiložte kartu / Present your card".  A card held to the reader is checked in one card session
(:class:`InspectorEngine`); while the check writes what the office left for the card, the screen
shows how far it has come ("keep the card on the reader").  Then it shows, for
:data:`CLEAR_AFTER` seconds (each touch of the outcome form starts the time again):

- the verdict in block letters (green VALID, red INVALID or BLOCKED, amber without a verdict)
  and its reason;
- the holder's name and birth date on a personal card, for the identity check, and the card
  number; the profile and its end; every coupon with its days, zones and state, the ones loaded
  now marked and the office's that wait with the reason; the other actions done or waiting;
  the card's last validation (when, line, zone);
- for a barcode check (a chip that cannot be read: digits typed and Enter, a keyboard-wedge or
  a serial scanner, as in the validator), the verdict of the synced lists, marked as such.

The inspector records the outcome with F5 or the button (:class:`~ekarta.terminal.apps.
inspector_screens.OutcomeForm`: valid, or invalid with a reason from a list, and a free note such
as a fine's number), which the engine journals; F6 shows the shift's checks (:class:`~ekarta.
terminal.apps.inspector_screens.ShiftScreen`).  F2 sets the zone and F3 the line, F4 switches
the language; only the service key sequence ends the app.  When the time is up the screen is
the welcome again, and no widget keeps the holder's name.

The reader loop, the scanner, the background sync and the status line are the checking
terminal's (:class:`~ekarta.terminal.apps.checking.CheckingApp`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import ClassVar, Protocol

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button

from ekarta.desfire.client import Transceiver
from ekarta.readers.base import CardInfo, Reader
from ekarta.terminal.apps.base import SYNC_EVERY, CardArrived, Clock, TapDone, utc_now
from ekarta.terminal.apps.checking import CheckingApp, CheckingEngine, EngineAdapter, run_app
from ekarta.terminal.apps.inspector_screens import OutcomeForm, ShiftScreen
from ekarta.terminal.apps.inspector_view import (
    Recorded,
    check_panel,
    tr,
    writing_panel,
)
from ekarta.terminal.apps.view import Panel, Tone
from ekarta.terminal.apps.widgets import TouchBar, TouchButton
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import Position
from ekarta.terminal.inspect import Inspector, ShiftSummary
from ekarta.terminal.outcome import Outcome, Progress, TapOutcome
from ekarta.transit.model.values import Reason

__all__ = [
    "CLEAR_AFTER",
    "CheckProgress",
    "InspectorApp",
    "InspectorEngine",
    "OutcomeRecorded",
    "RecordFailed",
    "ShiftReady",
    "run",
]

log = logging.getLogger(__name__)

CLEAR_AFTER = 30.0
"""Seconds a check stays on the screen: the inspector reads more than a passenger does."""


class InspectorEngine(CheckingEngine, Protocol):
    """The inspection engine as the app uses it, always from the reader loop's thread."""

    def check(self, transceiver: Transceiver, *, uid: bytes | None = None,
              progress: Callable[[Progress], None] | None = None) -> TapOutcome:
        """One card session: read, judge, write what the office left for the card (telling
        ``progress`` each step), record the inspection."""
        ...

    def record_outcome(self, check: TapOutcome, *, valid: bool, reason: Reason | None = None,
                       note: str | None = None) -> bool:
        """Journal the outcome the inspector recorded for ``check`` (False: one was recorded
        already)."""
        ...

    def shift(self) -> ShiftSummary:
        """The checks of the shift, from the local journal."""
        ...


# --- what the workers tell the screen -------------------------------------------------------------


class CheckProgress(Message):
    """The check under way wrote one more step onto the card."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class OutcomeRecorded(Message):
    """The engine journalled ``recorded`` for ``check``."""

    def __init__(self, check: TapOutcome, recorded: Recorded) -> None:
        super().__init__()
        self.check = check
        self.recorded = recorded


class RecordFailed(Message):
    """The engine could not journal the outcome (``detail``: why)."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class ShiftReady(Message):
    """The shift's summary, counted by the engine."""

    def __init__(self, shift: ShiftSummary) -> None:
        super().__init__()
        self.shift = shift


# --- the app --------------------------------------------------------------------------------------


class InspectorApp(CheckingApp[InspectorEngine]):
    """The inspector's handheld; see the module documentation."""

    TITLE = "ekarta inspector"
    CSS = """
    VerdictPanel > #lines {
        max-height: 70%;
        overflow-y: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "record", show=False),
        Binding("f6", "shift", show=False),
    ]

    CLEAR_AFTER = CLEAR_AFTER

    progress: Progress | None = None
    """How far the check under way has written (None: reading, or no check)."""
    recorded: Recorded | None = None
    """The outcome recorded for the check on the screen."""

    # --- views ------------------------------------------------------------------------------------

    def card_work(self, engine: InspectorEngine, reader: Reader, info: CardInfo) -> TapOutcome:
        def progress(step: Progress) -> None:
            self.post_message(CheckProgress(step))

        return engine.check(reader, uid=info.uid or None, progress=progress)

    def busy_view(self) -> Panel:
        if self.progress is not None:
            return writing_panel(self.progress, self.lang)
        return super().busy_view()

    def result_view(self, outcome: TapOutcome, typed: str | None) -> Panel:
        return check_panel(outcome, self.lang, typed=typed, recorded=self.recorded)

    def keys_view(self) -> str:
        return tr("keys", self.lang)

    def compose_buttons(self) -> ComposeResult:
        with TouchBar(id="buttons"):
            yield TouchButton(tr("button record", self.lang), id="record", variant="primary")
            yield TouchButton(tr("button shift", self.lang), id="shift")

    def refresh_own(self, main: Screen[object]) -> None:
        record = main.query_one("#record", Button)
        record.label = tr("button record", self.lang)
        record.display = self.can_record
        main.query_one("#shift", Button).label = tr("button shift", self.lang)

    @property
    def can_record(self) -> bool:
        """A verdict is on the screen whose outcome is not recorded yet."""
        return self.showing_result and self.outcome is not None \
            and self.outcome.outcome is Outcome.VERDICT and self.recorded is None

    def on_cleared(self) -> None:
        super().on_cleared()
        self.recorded = None
        if isinstance(self.screen, OutcomeForm):
            self.pop_screen()  # the time is up: nothing recorded

    # --- messages from the workers ----------------------------------------------------------------

    # Textual calls each class's handler of a message, this one first: the checking app's
    # follow without being called here

    def on_card_arrived(self, message: CardArrived) -> None:
        self.progress = None
        self._close_screens()

    def on_check_progress(self, message: CheckProgress) -> None:
        self.progress = message.progress
        if self.busy is None:
            self.busy = ""
            self.showing_result = False
        self.refresh_view()

    def on_tap_done(self, message: TapDone) -> None:
        self.progress = None
        self.recorded = None
        self._close_screens()

    def on_outcome_recorded(self, message: OutcomeRecorded) -> None:
        log.info("outcome recorded: %s", "valid" if message.recorded.valid else
                 f"invalid ({message.recorded.reason})")
        if message.check is self.outcome:
            self.recorded = message.recorded
            self.hold()

    def on_record_failed(self, message: RecordFailed) -> None:
        self.entry_note = tr("record failed", self.lang, detail=message.detail), Tone.BAD
        self.refresh_view()

    def on_shift_ready(self, message: ShiftReady) -> None:
        if isinstance(self.screen, ShiftScreen):
            self.screen.show(message.shift)
        elif self.screen is self.main_screen:
            self.push_screen(ShiftScreen(message.shift, self.lang))

    def _close_screens(self) -> None:
        """A new card or number: the form and the summary give way to its check."""
        while len(self.screen_stack) > 1 and isinstance(self.screen, OutcomeForm | ShiftScreen):
            self.pop_screen()

    # --- the inspector's actions ------------------------------------------------------------------

    def action_record(self) -> None:
        """F5: the outcome form for the check on the screen."""
        if not self.can_record or self.outcome is None:
            return
        check = self.outcome
        self.hold()
        self.push_screen(OutcomeForm(check, self.lang), partial(self._form_done, check))

    def _form_done(self, check: TapOutcome, recorded: Recorded | None) -> None:
        if check is not self.outcome:
            return  # the check was cleared or another took its place meanwhile
        self.hold()
        if recorded is None:
            return
        if not self.submit(partial(self._record_in_loop, check, recorded)):
            log.warning("no engine to record the outcome")

    def _record_in_loop(self, check: TapOutcome, recorded: Recorded,
                        engine: InspectorEngine) -> None:
        try:
            engine.record_outcome(check, valid=recorded.valid, reason=recorded.reason,
                                  note=recorded.note)
        except Exception as exc:
            log.exception("recording the outcome failed")
            self.post_message(RecordFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(OutcomeRecorded(check, recorded))
        self._report_lists(engine)

    def action_shift(self) -> None:
        """F6: the shift's summary, counted by the engine in the reader loop's thread."""
        self.submit(self._shift_in_loop)

    def _shift_in_loop(self, engine: InspectorEngine) -> None:
        self.post_message(ShiftReady(engine.shift()))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "record":
            event.stop()
            self.action_record()
        elif event.button.id == "shift":
            event.stop()
            self.action_shift()
        # the frame's handler (the language button) is called by Textual after this one

    async def on_event(self, event: events.Event) -> None:
        # while the inspector fills in the form, each key and touch starts the time again
        if isinstance(event, events.Key | events.MouseDown) and self.showing_result \
                and isinstance(self.screen, OutcomeForm):
            self.hold()
        await super().on_event(event)


# --- the command's entry point --------------------------------------------------------------------


class _CheckEngine(EngineAdapter[Inspector]):
    """:class:`ekarta.terminal.inspect.Inspector` as :class:`InspectorEngine`."""

    def check(self, transceiver: Transceiver, *, uid: bytes | None = None,
              progress: Callable[[Progress], None] | None = None) -> TapOutcome:
        return self.engine.check(transceiver, uid=uid, progress=progress)

    def check_number(self, text: str) -> TapOutcome:
        return self.engine.check_number(text)

    def record_outcome(self, check: TapOutcome, *, valid: bool, reason: Reason | None = None,
                       note: str | None = None) -> bool:
        return self.engine.record_outcome(check, valid=valid, reason=reason, note=note)

    def shift(self) -> ShiftSummary:
        return self.engine.shift()


def run(config: TerminalConfig | None = None, *, directory: str | None = None, reader: str,
        scanner: str | None = None, zone: int | None = None, line: int | None = None,
        vehicle: int | None = None, position: Position | None = None,
        device: int | None = None, lang: str = "cs", repeat_window: timedelta | None = None,
        stale_after: timedelta | None = None, clear_after: float = CLEAR_AFTER,
        sync_every: float = SYNC_EVERY, clock: Clock = utc_now) -> int:
    """Run the inspector's handheld full screen until the service key sequence (Ctrl+X,
    Ctrl+C); 0.

    The terminal is ``config`` or the one in ``directory``; the inspection's place is
    ``zone``, ``line`` and ``vehicle`` or a ``position`` that holds them.  A check stays
    ``clear_after`` seconds on the screen.  The engine is opened once before the screen
    starts, so that a directory it cannot work with (another role's) fails here, with its
    error."""
    if position is None:
        position = Position(zone, line, vehicle)
    return run_app(InspectorApp, Inspector, _CheckEngine, config, directory=directory,
                   reader=reader, scanner=scanner, position=position, device=device, lang=lang,
                   repeat_window=repeat_window, stale_after=stale_after,
                   clear_after=clear_after, sync_every=sync_every, clock=clock)
