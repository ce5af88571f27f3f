"""The driver's validator: a card held to the reader, a verdict in very large type.

``ekarta validator DIR --reader URL`` runs :func:`run`.  Between taps the screen says
"Přiložte kartu / Present your card".  A tap shows one verdict (green VALID, red INVALID or
BLOCKED, amber when the card must be tapped again or cannot be read) with its reason, the
profile, the coupon and its last day and the zone, for :data:`~ekarta.terminal.apps.base.
CLEAR_AFTER` seconds.  The driver

- sets the zone with F2 and the line with F3 (digits, Enter; Escape cancels);
- checks a card whose chip cannot be read by its barcode: a keyboard-wedge scanner, or the
  digits typed and Enter (:class:`~ekarta.barcode.wedge.KeyboardWedge` tells a scanner's burst
  from a person's typing and drops a double read), or a serial scanner (``--scanner URL``);
- sees on the status line the zone, the line, the age of the lists, whether the office was
  reached and how many journal events wait for it.

The card work is the tap engine's (:class:`ValidatorEngine`): it runs in a thread worker
(:class:`~ekarta.terminal.apps.loops.CardLoop`, which owns the engine and the reader) and
reaches the screen only as messages (:class:`TapDone`, :class:`CardArrived`,
:class:`ListsState`).  A second worker syncs with the office in the background
(:class:`~ekarta.terminal.apps.loops.SyncLoop`), a third reads a serial scanner.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial
from typing import ClassVar, Protocol

from textual import events, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import Worker, WorkerState, get_current_worker

from ekarta.barcode.scan import Scan
from ekarta.barcode.scanner import Scanner, open_scanner
from ekarta.barcode.wedge import KeyboardWedge
from ekarta.desfire.client import Transceiver
from ekarta.errors import NoReaderError
from ekarta.readers import open_reader
from ekarta.readers.base import CardInfo, Reader
from ekarta.terminal.apps.base import (
    CLEAR_AFTER,
    Clock,
    NumberScanned,
    OfficeState,
    ReaderState,
    ScannerState,
    TerminalApp,
    console_logging_held,
    utc_now,
)
from ekarta.terminal.apps.loops import CardLoop, SyncLoop, reached_office, scan_loop
from ekarta.terminal.apps.validator_view import (
    ValidatorStatus,
    device_note,
    entry_prompt,
    outcome_panel,
    reading_panel,
    status_parts,
    tr,
    welcome_panel,
)
from ekarta.terminal.apps.view import Panel, StatusPart, Tone
from ekarta.terminal.config import TerminalConfig, load_config
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.terminal.sync import SyncReport
from ekarta.terminal.tap import Position, Validator
from ekarta.transit.model.values import LINE_MAX, ZONE_MAX, ZONE_MIN

__all__ = [
    "CardArrived",
    "CheckFailed",
    "EngineLists",
    "ListsState",
    "MoveRefused",
    "TapDone",
    "ValidatorApp",
    "ValidatorEngine",
    "open_engine",
    "run",
]

log = logging.getLogger(__name__)

TYPED_MAX = 24
"""The longest number or zone the entry line takes."""
SYNC_EVERY = 60.0


class EngineLists(Protocol):
    """What the engine tells of its lists and journal, for the status line."""

    @property
    def lists_age(self) -> timedelta | None: ...
    """How old the lists are (None: never synced)."""

    @property
    def stale(self) -> bool: ...
    """Older than the terminal's limit: every verdict carries a warning."""

    @property
    def backlog(self) -> int: ...
    """Journal events not yet acknowledged by the office."""


class ValidatorEngine(Protocol):
    """The tap engine as the app uses it, always from the card loop's thread."""

    def tap(self, transceiver: Transceiver) -> TapOutcome:
        """One card session with the card in the field."""
        ...

    def check_number(self, text: str) -> TapOutcome:
        """The verdict for a card number read from its barcode or typed."""
        ...

    def status(self) -> EngineLists:
        ...

    def move_to(self, zone: int | None, line: int | None) -> None:
        """The vehicle is now in ``zone`` (None: any zone) on ``line``; an exception if the
        engine cannot judge or record there (the app then keeps the place it had)."""
        ...


EngineOpener = Callable[[], AbstractContextManager[ValidatorEngine]]
"""Opens the engine (with its store) in the card loop's thread and closes it at the end."""


# --- what the workers tell the screen -------------------------------------------------------------


class CardArrived(Message):
    """A card came into the field: its tap is under way."""


class TapDone(Message):
    """A tap's or a barcode check's outcome; ``typed`` is the text a check was given."""

    def __init__(self, outcome: TapOutcome, typed: str | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.typed = typed


class CheckFailed(Message):
    """A barcode check failed without an outcome (``detail``: why, for the log)."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class MoveRefused(Message):
    """The engine did not take the zone and line the driver set: the app goes back to
    ``zone`` and ``line``."""

    def __init__(self, zone: int | None, line: int | None, detail: str) -> None:
        super().__init__()
        self.zone = zone
        self.line = line
        self.detail = detail


class ListsState(Message):
    """The engine's lists and journal, for the status line."""

    def __init__(self, lists_age: timedelta | None, stale: bool, backlog: int) -> None:
        super().__init__()
        self.lists_age = lists_age
        self.stale = stale
        self.backlog = backlog


# --- the app --------------------------------------------------------------------------------------


class ValidatorApp(TerminalApp):
    """The driver's validator; see the module documentation.

    Without ``engine`` and ``reader`` no card loop runs (the screens are then driven by posting
    :class:`TapDone` and the other messages, as the workers do); without ``sync`` no
    background sync, without ``scanner`` no serial scanner.
    """

    TITLE = "ekarta validator"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "enter('zone')", show=False, priority=True),
        Binding("f3", "enter('line')", show=False, priority=True),
        Binding("escape", "cancel_entry", show=False),
    ]

    def __init__(self, *, zone: int | None = ZONE_MIN, line: int | None = None,
                 engine: EngineOpener | None = None,
                 reader: Callable[[], Reader] | None = None,
                 scanner: Callable[[], Scanner] | None = None,
                 sync: TerminalConfig | None = None, sync_every: float = SYNC_EVERY,
                 lang: str = "cs", clear_after: float = CLEAR_AFTER, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(lang=lang, clear_after=clear_after, clock=clock, monotonic=monotonic)
        self.zone = zone
        self.line = line
        self.outcome: TapOutcome | None = None
        self.typed_for: str | None = None
        self.busy: str | None = None
        """The tap or check under way: "" for a card, the number for a check."""
        self.entry_mode: str | None = None
        """"zone" or "line" while the driver types one; None: digits are a card number."""
        self.typed = ""
        self.entry_note: tuple[str, Tone] | None = None
        self.lists = ListsState(None, False, 0)
        self.online: bool | None = None
        self.reader_ok = True
        self.scanner_ok = True
        self.fault: str | None = None
        """A worker that stopped on an error (the card loop cannot open its engine...)."""
        self._wedge = KeyboardWedge(clock=monotonic)
        self._engine = engine
        self._reader = reader
        self._scanner = scanner
        self._sync = sync
        self._sync_every = sync_every
        self._cards: CardLoop[ValidatorEngine] | None = None

    # --- views ------------------------------------------------------------------------------------

    def welcome_view(self) -> Panel:
        if self.busy is not None:
            return reading_panel(self.lang, self.busy or None)
        return welcome_panel(self.lang)

    def panel_view(self) -> Panel:
        if self.outcome is None:
            return self.welcome_view()
        return outcome_panel(self.outcome, self.lang, typed=self.typed_for)

    def status(self) -> ValidatorStatus:
        return ValidatorStatus(zone=self.zone, line=self.line, now=self.clock(),
                               lists_age=self.lists.lists_age, stale=self.lists.stale,
                               backlog=self.lists.backlog, online=self.online,
                               reader_ok=self.reader_ok, scanner_ok=self.scanner_ok)

    def status_view(self) -> tuple[StatusPart, ...]:
        return status_parts(self.status(), self.lang)

    def entry_view(self) -> tuple[str, Tone]:
        if self.entry_mode is not None:
            return entry_prompt(self.entry_mode, self.typed, self.lang, zone_max=ZONE_MAX), \
                Tone.WARN
        if self.typed:
            return entry_prompt("number", self.typed, self.lang, zone_max=ZONE_MAX), Tone.PLAIN
        if self.entry_note is not None:
            return self.entry_note
        if self.fault is not None:
            return tr("fault", self.lang, detail=self.fault), Tone.BAD
        problem = device_note(self.status(), self.lang)
        return (problem, Tone.BAD) if problem else ("", Tone.PLAIN)

    def keys_view(self) -> str:
        return tr("keys", self.lang)

    def on_cleared(self) -> None:
        self.outcome = None
        self.typed_for = None
        self.entry_note = None

    # --- messages from the workers ----------------------------------------------------------------

    def on_card_arrived(self, message: CardArrived) -> None:
        self.busy = ""
        self.showing_result = False
        self.refresh_view()

    def on_tap_done(self, message: TapDone) -> None:
        log.info("outcome %s%s", message.outcome.outcome,
                 f" ({message.outcome.detail})" if message.outcome.detail else "")
        self.busy = None
        self.outcome = message.outcome
        self.typed_for = message.typed
        self.hold()

    def on_check_failed(self, message: CheckFailed) -> None:
        self.busy = None
        self.entry_note = tr("check failed", self.lang), Tone.BAD
        self.refresh_view()

    def on_move_refused(self, message: MoveRefused) -> None:
        self.zone, self.line = message.zone, message.line
        self.entry_note = tr("move refused", self.lang, detail=message.detail), Tone.BAD
        self.refresh_view()

    def on_lists_state(self, message: ListsState) -> None:
        self.lists = message
        self.refresh_status()

    def on_office_state(self, message: OfficeState) -> None:
        self.online = message.online
        self.refresh_status()
        if self._cards is not None:
            self._cards.submit(self._report_lists)

    def on_reader_state(self, message: ReaderState) -> None:
        self.reader_ok = message.ok
        self.refresh_view()

    def on_number_scanned(self, message: NumberScanned) -> None:
        self.check_number(message.text)

    def on_scanner_state(self, message: ScannerState) -> None:
        self.scanner_ok = message.ok
        self.refresh_view()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            error = event.worker.error
            log.error("the %s worker stopped: %s", event.worker.group, error,
                      exc_info=error if isinstance(error, BaseException) else None)
            self.fault = str(error).splitlines()[0] if str(error) else type(error).__name__
            self.refresh_view()

    # --- keys -------------------------------------------------------------------------------------

    def on_key(self, event: events.Key) -> None:
        if event.key == "enter":
            event.stop()
            self._enter_pressed()
        elif event.key == "backspace":
            event.stop()
            self.typed = self.typed[:-1]
            self.refresh_view()
        elif event.character is not None and event.is_printable:
            self._wedge.feed(event.character)
            if event.character.isdigit() and len(self.typed) < TYPED_MAX:
                event.stop()
                self.typed += event.character
                self.entry_note = None
                self.refresh_view()

    def _enter_pressed(self) -> None:
        scanned = self._wedge.in_burst
        scan = self._wedge.feed("\r")
        typed, self.typed = self.typed, ""
        if self.entry_mode is not None:
            self._finish_entry(typed)
        elif scan is not None:
            self.check_number(_scan_text(scan))
        elif typed and not scanned:
            self.check_number(typed)
        # else: a scanner's double read, which the wedge dropped
        self.refresh_view()

    def action_enter(self, mode: str) -> None:
        self.entry_mode = mode
        self.typed = ""
        self.refresh_view()

    def action_cancel_entry(self) -> None:
        self.entry_mode = None
        self.typed = ""
        self.entry_note = None
        self.refresh_view()

    def _finish_entry(self, typed: str) -> None:
        mode, self.entry_mode = self.entry_mode, None
        if mode == "zone":
            if typed.isdigit() and ZONE_MIN <= int(typed) <= ZONE_MAX:
                self.move_to(int(typed), self.line)
            elif typed:
                self.entry_note = tr("bad zone", self.lang, zone=typed, max=ZONE_MAX), Tone.BAD
        elif mode == "line":
            if not typed:
                self.move_to(self.zone, None)
            elif typed.isdigit() and 1 <= int(typed) <= LINE_MAX:
                self.move_to(self.zone, int(typed))
            else:
                self.entry_note = tr("bad line", self.lang, line=typed, max=LINE_MAX), Tone.BAD

    # --- what the app asks of the engine ----------------------------------------------------------

    def move_to(self, zone: int | None, line: int | None) -> None:
        """The driver set the zone and the line."""
        log.info("zone %s, line %s", zone, line)
        before = self.zone, self.line
        self.zone, self.line = zone, line
        self.entry_note = None
        if self._cards is not None:
            self._cards.submit(partial(self._move_in_loop, zone, line, before))
        self.refresh_view()

    def _move_in_loop(self, zone: int | None, line: int | None,
                      before: tuple[int | None, int | None], engine: ValidatorEngine) -> None:
        try:
            engine.move_to(zone, line)
        except Exception as exc:
            log.warning("zone %s, line %s refused: %s", zone, line, exc)
            self.post_message(MoveRefused(*before, str(exc)))

    def check_number(self, text: str) -> None:
        """Check the card number ``text`` (typed or scanned) in the card loop's thread."""
        self.busy = text
        self.showing_result = False
        self.refresh_view()
        if self._cards is not None:
            self._cards.submit(partial(self._check_in_loop, text))

    def _check_in_loop(self, text: str, engine: ValidatorEngine) -> None:
        try:
            result = engine.check_number(text)
        except Exception as exc:
            log.exception("checking a card number failed")
            self.post_message(CheckFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TapDone(result, typed=text))
        self._report_lists(engine)

    def _report_lists(self, engine: ValidatorEngine) -> None:
        lists = engine.status()
        self.post_message(ListsState(lists.lists_age, lists.stale, lists.backlog))

    def _tap(self, engine: ValidatorEngine, reader: Reader, info: CardInfo) -> None:
        self.post_message(CardArrived())
        try:
            result = engine.tap(reader)
        except NoReaderError as exc:
            # the reader went away mid-tap: nothing is claimed, the card is tapped again
            self.post_message(TapDone(self._without_verdict(Outcome.TAP_AGAIN, str(exc))))
            raise
        except Exception as exc:
            log.exception("a tap failed")
            result = self._without_verdict(Outcome.UNREADABLE, f"{type(exc).__name__}: {exc}")
        self.post_message(TapDone(result))

    def _without_verdict(self, kind: Outcome, detail: str) -> TapOutcome:
        return TapOutcome(kind, Source.CHIP, at=self.clock(), zone=self.zone, line=self.line,
                          detail=detail)

    # --- workers ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        super().on_mount()
        self.set_interval(15, self.refresh_status)
        if self._engine is not None and self._reader is not None:
            self._cards = CardLoop(self._engine, self._reader, on_card=self._tap,
                                  on_reader=lambda ok, detail: self.post_message(
                                      ReaderState(ok, detail)),
                                  idle=self._report_lists)
            self.card_worker(self._cards)
        if self._scanner is not None:
            self.scanner_worker(self._scanner)
        if self._sync is not None:
            self.sync_worker(self._sync)

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def card_worker(self, loop: CardLoop[ValidatorEngine]) -> None:
        worker = get_current_worker()
        loop.run(lambda: worker.is_cancelled)

    @work(thread=True, exclusive=True, group="scanner", exit_on_error=False)
    def scanner_worker(self, scanner: Callable[[], Scanner]) -> None:
        worker = get_current_worker()
        scan_loop(scanner, lambda: worker.is_cancelled,
                  on_scan=lambda scan: self.post_message(NumberScanned(_scan_text(scan))),
                  on_state=lambda ok, detail: self.post_message(ScannerState(ok, detail)))

    @work(thread=True, exclusive=True, group="sync", exit_on_error=False)
    def sync_worker(self, config: TerminalConfig) -> None:
        worker = get_current_worker()

        def reported(report: SyncReport) -> None:
            self.post_message(OfficeState(reached_office(report),
                                          report.errors[0] if report.errors else None))

        SyncLoop(config, clock=self.clock, every=self._sync_every, on_report=reported,
                 on_error=lambda exc: self.post_message(OfficeState(False, str(exc)))
                 ).run(lambda: worker.is_cancelled)


def _scan_text(scan: Scan) -> str:
    """What a scan gives the engine to check: its number, or the line that was refused."""
    return str(scan.number) if scan.number is not None else scan.raw


# --- the command's entry point --------------------------------------------------------------------


@dataclass(frozen=True)
class _Lists:
    lists_age: timedelta | None
    stale: bool
    backlog: int


class _TapEngine:
    """:class:`ekarta.terminal.tap.Validator` as :class:`ValidatorEngine`."""

    def __init__(self, validator: Validator) -> None:
        self.validator = validator

    def tap(self, transceiver: Transceiver) -> TapOutcome:
        return self.validator.tap(transceiver)

    def check_number(self, text: str) -> TapOutcome:
        return self.validator.check_number(text)

    def status(self) -> EngineLists:
        status = self.validator.status()
        return _Lists(status.lists.age, status.lists.stale, status.backlog)

    def move_to(self, zone: int | None, line: int | None) -> None:
        self.validator.position = replace(self.validator.position, zone=zone, line=line)


@contextmanager
def open_engine(config: TerminalConfig, *, zone: int | None, line: int | None,
                vehicle: int | None, device: int | None = None,
                repeat_window: timedelta | None = None, stale_after: timedelta | None = None,
                clock: Clock = utc_now) -> Iterator[ValidatorEngine]:
    """The tap engine of the terminal directory ``config``, with its own store (closed at the
    end); ``repeat_window`` and ``stale_after`` default to the engine's."""
    limits = {name: value for name, value in (("repeat_window", repeat_window),
                                               ("stale_after", stale_after)) if value is not None}
    with Validator.from_config(config, device=device, position=Position(zone, line, vehicle),
                               clock=clock, **limits) as validator:
        yield _TapEngine(validator)


def run(config: TerminalConfig | None = None, *, directory: str | None = None, reader: str,
        scanner: str | None = None, zone: int | None = None, line: int | None = None,
        vehicle: int | None = None, position: Position | None = None,
        device: int | None = None, lang: str = "cs", repeat_window: timedelta | None = None,
        stale_after: timedelta | None = None, clear_after: float = CLEAR_AFTER,
        sync_every: float = SYNC_EVERY, clock: Clock = utc_now) -> int:
    """Run the validator full screen until the service key sequence (Ctrl+X, Ctrl+C); 0.

    The terminal is ``config`` or the one in ``directory``; the vehicle's place is ``zone``,
    ``line`` and ``vehicle`` or a ``position`` that holds them (the engine's
    :class:`~ekarta.terminal.tap.Position`).  The engine is opened once before the screen
    starts, so that a directory it cannot work with fails here, with its error."""
    if config is None:
        if directory is None:
            raise TypeError("run() needs a terminal config or directory")
        config = load_config(directory)
    if position is not None:
        zone, line, vehicle = position.zone, position.line, position.vehicle
    engine = partial(open_engine, config, zone=zone, line=line, vehicle=vehicle, device=device,
                     repeat_window=repeat_window, stale_after=stale_after, clock=clock)
    with engine():
        pass
    app = ValidatorApp(
        zone=zone, line=line, engine=engine, reader=partial(open_reader, reader),
        scanner=None if scanner is None else partial(open_scanner, scanner),
        sync=config, sync_every=sync_every, lang=lang, clear_after=clear_after, clock=clock)
    with console_logging_held("ekarta"):
        app.run()
    return 0
