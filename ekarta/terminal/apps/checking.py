"""The app of a terminal that checks cards: the driver's validator and the inspector's handheld.

:class:`CheckingApp` is :class:`~ekarta.terminal.apps.base.TerminalApp` with what both need
around their engine's card work:

- the frame's card loop, in which the engine also checks the numbers and takes the zone and
  the line;
- a card number typed (digits, Enter), from a keyboard-wedge scanner
  (:class:`~ekarta.barcode.wedge.KeyboardWedge` tells a scanner's burst from a person's typing
  and drops a double read) or from a serial scanner (``scanner``), checked by the engine in the
  reader loop's thread;
- the zone (F2) and the line (F3) the verdicts are for (digits, Enter; Escape cancels);
- the status line: the zone, the line and the frame's (the age of the lists, whether the
  office was reached and how many journal events wait for it).

The workers reach the screen only as messages (the frame's, and :class:`CheckFailed` and
:class:`MoveRefused`), which tests post to drive the screens.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import ClassVar, Generic, Protocol, TypeVar

from textual import events, work
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.worker import get_current_worker

from ekarta.barcode.scan import Scan
from ekarta.barcode.scanner import Scanner, open_scanner
from ekarta.barcode.wedge import KeyboardWedge
from ekarta.readers import open_reader
from ekarta.readers.base import Reader
from ekarta.terminal.apps.base import (
    SYNC_EVERY,
    CardArrived,
    Clock,
    EngineLists,
    EngineOpener,
    FrameEngine,
    NumberScanned,
    ScannerState,
    TapDone,
    TerminalApp,
    run_terminal,
    utc_now,
)
from ekarta.terminal.apps.checking_view import (
    CHECKING_TEXTS,
    TerminalStatus,
    device_note,
    entry_prompt,
    reading_panel,
    status_parts,
    welcome_panel,
)
from ekarta.terminal.apps.loops import scan_loop
from ekarta.terminal.apps.view import Panel, StatusPart, Tone, say
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import Position, TerminalEngine
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.transit.model.values import LINE_MAX, ZONE_MAX, ZONE_MIN

__all__ = [
    "CheckFailed",
    "CheckingApp",
    "CheckingEngine",
    "EngineAdapter",
    "MoveRefused",
    "open_engine",
    "run_app",
]

log = logging.getLogger(__name__)

TYPED_MAX = 24
"""The longest number or zone the entry line takes."""


T = TypeVar("T", bound=TerminalEngine)


class EngineAdapter(Generic[T]):
    """What every terminal engine (:class:`~ekarta.terminal.engine.TerminalEngine`) gives a
    checking app as it asks for it (each app's adapter adds the card work and the number
    check)."""

    def __init__(self, engine: T) -> None:
        self.engine = engine

    def status(self) -> EngineLists:
        return self.engine.status()

    def move_to(self, zone: int | None, line: int | None) -> None:
        self.engine.position = replace(self.engine.position, zone=zone, line=line)


class CheckingEngine(FrameEngine, Protocol):
    """What every checking app asks of its engine, always from the reader loop's thread (the
    card work itself is each app's own: :meth:`CheckingApp.card_work`)."""

    def check_number(self, text: str) -> TapOutcome:
        """The verdict for a card number read from its barcode or typed."""
        ...

    def move_to(self, zone: int | None, line: int | None) -> None:
        """The terminal is now in ``zone`` (None: any zone) on ``line``; an exception if the
        engine cannot judge or record there (the app then keeps the place it had)."""
        ...


E = TypeVar("E", bound=CheckingEngine)


# --- what the workers tell the screen -------------------------------------------------------------


class CheckFailed(Message):
    """A barcode check failed without an outcome (``detail``: why, for the log)."""

    def __init__(self, detail: str) -> None:
        super().__init__()
        self.detail = detail


class MoveRefused(Message):
    """The engine did not take the zone and line the operator set: the app goes back to
    ``zone`` and ``line``."""

    def __init__(self, zone: int | None, line: int | None, detail: str) -> None:
        super().__init__()
        self.zone = zone
        self.line = line
        self.detail = detail


# --- the app --------------------------------------------------------------------------------------


def _tr(key: str, lang: str, /, **details: object) -> str:
    return say(CHECKING_TEXTS, key, lang, **details)


class CheckingApp(TerminalApp[E], Generic[E]):
    """A checking terminal; see the module documentation.

    Subclasses give :meth:`card_work` (one card's session with the engine), :meth:`result_view`
    (the panel for an outcome) and :meth:`keys_view`.  Without ``engine`` and ``reader`` no
    reader loop runs (as in the frame); without ``scanner`` no serial scanner.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "enter('zone')", show=False, priority=True),
        Binding("f3", "enter('line')", show=False, priority=True),
        Binding("escape", "cancel_entry", show=False),
    ]

    def __init__(self, *, zone: int | None = ZONE_MIN, line: int | None = None,
                 engine: EngineOpener[E] | None = None,
                 reader: Callable[[], Reader] | None = None,
                 scanner: Callable[[], Scanner] | None = None,
                 sync: TerminalConfig | None = None, sync_every: float = SYNC_EVERY,
                 lang: str = "cs", clear_after: float | None = None, clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__(engine=engine, reader=reader, sync=sync, sync_every=sync_every,
                         lang=lang, clear_after=clear_after, clock=clock, monotonic=monotonic)
        self.zone = zone
        self.line = line
        self.outcome: TapOutcome | None = None
        self.typed_for: str | None = None
        self.busy: str | None = None
        """The card or check under way: "" for a card, the number for a check."""
        self.entry_mode: str | None = None
        """"zone" or "line" while the operator types one; None: digits are a card number."""
        self.typed = ""
        self.entry_note: tuple[str, Tone] | None = None
        self.scanner_ok = True
        self._wedge = KeyboardWedge(clock=monotonic)
        self._scanner = scanner

    # --- what subclasses give ---------------------------------------------------------------------

    def result_view(self, outcome: TapOutcome, typed: str | None) -> Panel:
        """The panel for ``outcome`` (``typed``: the text a barcode check was given)."""
        raise NotImplementedError

    # --- views ------------------------------------------------------------------------------------

    def welcome_view(self) -> Panel:
        if self.busy is not None:
            return self.busy_view()
        return welcome_panel(self.lang)

    def busy_view(self) -> Panel:
        """While a card is worked on or a number checked."""
        return reading_panel(self.lang, self.busy or None)

    def panel_view(self) -> Panel:
        if self.outcome is None:
            return self.welcome_view()
        return self.result_view(self.outcome, self.typed_for)

    def status(self) -> TerminalStatus:
        return TerminalStatus(zone=self.zone, line=self.line, now=self.clock(),
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
            return _tr("fault", self.lang, detail=self.fault), Tone.BAD
        problem = device_note(self.status(), self.lang)
        return (problem, Tone.BAD) if problem else ("", Tone.PLAIN)

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
        self.entry_note = _tr("check failed", self.lang), Tone.BAD
        self.refresh_view()

    def on_move_refused(self, message: MoveRefused) -> None:
        self.zone, self.line = message.zone, message.line
        self.entry_note = _tr("move refused", self.lang, detail=message.detail), Tone.BAD
        self.refresh_view()

    def on_number_scanned(self, message: NumberScanned) -> None:
        self.check_number(message.text)

    def on_scanner_state(self, message: ScannerState) -> None:
        self.scanner_ok = message.ok
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
        if self.screen is not self.main_screen:
            return  # a form or a summary is over the frame
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
                self.entry_note = _tr("bad zone", self.lang, zone=typed, max=ZONE_MAX), Tone.BAD
        elif mode == "line":
            if not typed:
                self.move_to(self.zone, None)
            elif typed.isdigit() and 1 <= int(typed) <= LINE_MAX:
                self.move_to(self.zone, int(typed))
            else:
                self.entry_note = _tr("bad line", self.lang, line=typed, max=LINE_MAX), Tone.BAD

    # --- what the app asks of the engine ----------------------------------------------------------

    def move_to(self, zone: int | None, line: int | None) -> None:
        """The operator set the zone and the line."""
        log.info("zone %s, line %s", zone, line)
        before = self.zone, self.line
        self.zone, self.line = zone, line
        self.entry_note = None
        if self._cards is not None:
            self._cards.submit(partial(self._move_in_loop, zone, line, before))
        self.refresh_view()

    def _move_in_loop(self, zone: int | None, line: int | None,
                      before: tuple[int | None, int | None], engine: E) -> None:
        try:
            engine.move_to(zone, line)
        except Exception as exc:
            log.warning("zone %s, line %s refused: %s", zone, line, exc)
            self.post_message(MoveRefused(*before, str(exc)))

    def check_number(self, text: str) -> None:
        """Check the card number ``text`` (typed or scanned) in the reader loop's thread."""
        self.busy = text
        self.showing_result = False
        self.refresh_view()
        if self._cards is not None:
            self._cards.submit(partial(self._check_in_loop, text))

    def _check_in_loop(self, text: str, engine: E) -> None:
        try:
            result = engine.check_number(text)
        except Exception as exc:
            log.exception("checking a card number failed")
            self.post_message(CheckFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(TapDone(result, typed=text))
        self._report_lists(engine)

    def submit(self, job: Callable[[E], None]) -> bool:
        """Run ``job(engine)`` in the reader loop's thread; False when no loop runs."""
        if self._cards is None:
            return False
        self._cards.submit(job)
        return True

    def without_verdict(self, kind: Outcome, detail: str) -> TapOutcome:
        return TapOutcome(kind, Source.CHIP, at=self.clock(), zone=self.zone, line=self.line,
                          detail=detail)

    # --- workers ----------------------------------------------------------------------------------

    def on_mount(self) -> None:
        # Textual calls the frame's on_mount as well, before this one
        if self._scanner is not None:
            self.scanner_worker(self._scanner)

    @work(thread=True, exclusive=True, group="scanner", exit_on_error=False)
    def scanner_worker(self, scanner: Callable[[], Scanner]) -> None:
        worker = get_current_worker()
        scan_loop(scanner, lambda: worker.is_cancelled,
                  on_scan=lambda scan: self.post_message(NumberScanned(_scan_text(scan))),
                  on_state=lambda ok, detail: self.post_message(ScannerState(ok, detail)))


def _scan_text(scan: Scan) -> str:
    """What a scan gives the engine to check: its number, or the line that was refused."""
    return str(scan.number) if scan.number is not None else scan.raw


# --- the commands' entry point --------------------------------------------------------------------


@contextmanager
def open_engine(engine: type[T], adapter: Callable[[T], E], config: TerminalConfig, *,
                zone: int | None, line: int | None, vehicle: int | None = None,
                device: int | None = None, repeat_window: timedelta | None = None,
                stale_after: timedelta | None = None, clock: Clock = utc_now) -> Iterator[E]:
    """The ``engine`` of the terminal directory ``config`` as the app asks for it
    (``adapter``), with its own store (closed at the end); ``repeat_window`` and
    ``stale_after`` default to the engine's."""
    limits = {name: value for name, value in (("repeat_window", repeat_window),
                                               ("stale_after", stale_after)) if value is not None}
    with engine.from_config(config, device=device, position=Position(zone, line, vehicle),
                            clock=clock, **limits) as opened:
        yield adapter(opened)


def run_app(app: Callable[..., CheckingApp[E]], engine: type[T], adapter: Callable[[T], E],
            config: TerminalConfig | None, *, directory: str | None, reader: str,
            scanner: str | None, position: Position, device: int | None, lang: str,
            repeat_window: timedelta | None, stale_after: timedelta | None,
            clear_after: float, sync_every: float, clock: Clock) -> int:
    """Run ``app`` full screen over ``engine`` until the service key sequence (Ctrl+X,
    Ctrl+C); 0 (see :func:`~ekarta.terminal.apps.base.run_terminal`)."""
    def opener(config: TerminalConfig) -> EngineOpener[E]:
        return partial(open_engine, engine, adapter, config, zone=position.zone,
                       line=position.line, vehicle=position.vehicle, device=device,
                       repeat_window=repeat_window, stale_after=stale_after, clock=clock)

    def screen(config: TerminalConfig, opened: EngineOpener[E]) -> CheckingApp[E]:
        return app(zone=position.zone, line=position.line, engine=opened,
                   reader=partial(open_reader, reader),
                   scanner=None if scanner is None else partial(open_scanner, scanner),
                   sync=config, sync_every=sync_every, lang=lang, clear_after=clear_after,
                   clock=clock)

    return run_terminal(config, directory, opener, screen)
