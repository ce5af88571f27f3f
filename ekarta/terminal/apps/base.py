"""The app every terminal runs: full screen, large type, Czech by default, no accidental quit.

:class:`TerminalApp` is the frame the validator, the inspector's app and the kiosk share:

- the screen is a status line (with a button that switches between Czech and English), a big
  panel (a headline in block letters over a few lines), an entry line and the keys' help; the
  app computes what they show from its state and language (:meth:`TerminalApp.panel_view` and
  its siblings) and :meth:`TerminalApp.refresh_view` draws it;
- a result stays :attr:`TerminalApp.clear_after` seconds, then the welcome comes back
  (:meth:`TerminalApp.hold`), so that one passenger's card is not shown to the next;
- nobody quits by accident: Ctrl+Q, Ctrl+C and the command palette do nothing; the service key
  sequence (:data:`~ekarta.terminal.apps.keys.SERVICE_EXIT`: Ctrl+X, then Ctrl+C within two
  seconds, as in Emacs) ends the app;
- the language switches with F4 or the button at the bottom right;
- card work never runs on the UI's thread: a card loop (:class:`~ekarta.terminal.apps.loops.
  CardLoop`) in a thread worker owns the engine (with its store) and the reader and does the
  app's :meth:`TerminalApp.card_work` once per card; a daemon thread syncs with the office (a
  request to an office that does not answer cannot be broken off, and the app's exit must not
  wait for its time-out: a sync stopped anywhere leaves the store of its last page); the status
  line shows the lists' age, whether the office was reached and the journal's backlog;
- the workers reach the UI only through the messages below, posted with ``post_message``
  (which Textual makes safe from any thread).  Tests post the same messages to drive the
  screens.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar, Generic, Protocol, TypeVar

from textual import events, work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Button
from textual.worker import Worker, WorkerState, get_current_worker

from ekarta.errors import NoReaderError
from ekarta.readers.base import CardInfo, Reader
from ekarta.terminal.apps.keys import SERVICE_EXIT, SERVICE_WITHIN, KeySequence
from ekarta.terminal.apps.loops import CardLoop, SyncLoop, reached_office
from ekarta.terminal.apps.view import FRAME_TEXTS, Panel, StatusPart, Tone, other_language, say
from ekarta.terminal.apps.widgets import (
    EntryLine,
    KeyBar,
    KeyHelp,
    LanguageButton,
    StatusLine,
    VerdictPanel,
)
from ekarta.terminal.config import TerminalConfig, load_config
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.terminal.sync import SyncReport
from ekarta.transit.model.messages import LANGUAGES

__all__ = [
    "CLEAR_AFTER",
    "SYNC_EVERY",
    "CardArrived",
    "Clock",
    "EngineLists",
    "EngineOpener",
    "FrameEngine",
    "Lists",
    "ListsState",
    "NumberScanned",
    "OfficeState",
    "ReaderState",
    "ScannerState",
    "TapDone",
    "TerminalApp",
    "console_logging_held",
    "run_terminal",
    "utc_now",
]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""The terminal's clock: an aware datetime."""

CLEAR_AFTER = 5.0
"""Seconds a result stays on the screen."""
SYNC_EVERY = 60.0
"""Seconds between two background syncs with the office."""


def utc_now() -> datetime:
    return datetime.now(UTC)


@contextmanager
def console_logging_held(*names: str) -> Iterator[None]:
    """Hold back the log handlers that write to a terminal (the command line's on stderr) of
    the loggers ``names`` (and the root logger) while an app has the screen: a line written
    over the app would break its picture.  Log files go on; the handlers come back after."""
    held: list[tuple[logging.Logger, logging.Handler]] = []
    for logger in (logging.getLogger(), *(logging.getLogger(name) for name in names)):
        for handler in list(logger.handlers):
            stream = getattr(handler, "stream", None)
            if isinstance(handler, logging.StreamHandler) and stream is not None \
                    and callable(getattr(stream, "isatty", None)) and stream.isatty():
                logger.removeHandler(handler)
                held.append((logger, handler))
    try:
        yield
    finally:
        for logger, handler in held:
            logger.addHandler(handler)


# --- what the app asks of its engine --------------------------------------------------------------


class EngineLists(Protocol):
    """What the engine tells of its lists and journal, for the status line (the engine's
    :class:`~ekarta.terminal.engine.EngineStatus` is one)."""

    @property
    def lists_age(self) -> timedelta | None: ...
    """How old the lists are (None: never synced)."""

    @property
    def stale(self) -> bool: ...
    """Older than the terminal's limit: every verdict carries a warning."""

    @property
    def backlog(self) -> int: ...
    """Journal events not yet acknowledged by the office."""


@dataclass(frozen=True)
class Lists:
    """:class:`EngineLists` as a value."""

    lists_age: timedelta | None
    stale: bool
    backlog: int


class FrameEngine(Protocol):
    """What the frame asks of every app's engine, from the card loop's thread (the card work
    itself is each app's own: :meth:`TerminalApp.card_work`)."""

    def status(self) -> EngineLists:
        ...


S = TypeVar("S", bound=FrameEngine)

EngineOpener = Callable[[], AbstractContextManager[S]]
"""Opens the engine (with its store) in the card loop's thread and closes it at the end."""


# --- what the workers tell the UI -----------------------------------------------------------------


class CardArrived(Message):
    """A card came into the field: its work is under way."""


class TapDone(Message):
    """A card's or a barcode check's outcome; ``typed`` is the text a check was given."""

    def __init__(self, outcome: TapOutcome, typed: str | None = None) -> None:
        super().__init__()
        self.outcome = outcome
        self.typed = typed


class ListsState(Message):
    """The engine's lists and journal, for the status line."""

    def __init__(self, lists_age: timedelta | None, stale: bool, backlog: int) -> None:
        super().__init__()
        self.lists_age = lists_age
        self.stale = stale
        self.backlog = backlog


class ReaderState(Message):
    """The card reader is connected (``ok``) or not (``detail`` says why)."""

    def __init__(self, ok: bool, detail: str | None = None) -> None:
        super().__init__()
        self.ok = ok
        self.detail = detail


class ScannerState(Message):
    """The barcode scanner is connected (``ok``) or not."""

    def __init__(self, ok: bool, detail: str | None = None) -> None:
        super().__init__()
        self.ok = ok
        self.detail = detail


class NumberScanned(Message):
    """A serial barcode scanner read ``text`` (a card number, or a line it refused)."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text


class OfficeState(Message):
    """A background sync reached the office (``online``) or not; ``detail``: what failed."""

    def __init__(self, online: bool, detail: str | None = None) -> None:
        super().__init__()
        self.online = online
        self.detail = detail


class SyncStopped(Message):
    """The background sync stopped on an error it could not go on from."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error


# --- the app --------------------------------------------------------------------------------------


class TerminalApp(App[None], Generic[S]):
    """The frame of a terminal app; see the module documentation.

    Subclasses give :meth:`panel_view`, :meth:`welcome_view`, :meth:`status_view`,
    :meth:`entry_view` and :meth:`keys_view`, and call :meth:`refresh_view` when their state
    changes and :meth:`hold` when a result is shown; an app with an engine gives
    :meth:`card_work`.  Without ``engine`` and ``reader`` no card loop runs (the screens are
    then driven by posting :class:`TapDone` and the other messages, as the workers do); without
    ``sync`` no background sync."""

    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: before any widget, and in place of Textual's quit and its "press Ctrl+Q"
        Binding("ctrl+q", "nothing", show=False, priority=True, system=True),
        Binding("ctrl+c", "nothing", show=False, priority=True, system=True),
        Binding("f4", "switch_language", show=False, priority=True),
    ]
    LANGUAGE_KEY: ClassVar[str] = "F4"

    lang: reactive[str] = reactive("cs", init=False)

    CLEAR_AFTER: ClassVar[float] = CLEAR_AFTER
    """Seconds a result stays on the screen unless the app is told otherwise."""

    def __init__(self, *, engine: EngineOpener[S] | None = None,
                 reader: Callable[[], Reader] | None = None,
                 sync: TerminalConfig | None = None, sync_every: float = SYNC_EVERY,
                 lang: str = "cs", clear_after: float | None = None,
                 clock: Clock = utc_now, monotonic: Callable[[], float] = time.monotonic
                 ) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, not {lang!r}")
        super().__init__()
        self.set_reactive(TerminalApp.lang, lang)
        self.clear_after = self.CLEAR_AFTER if clear_after is None else clear_after
        self.clock = clock
        self.monotonic = monotonic
        self.showing_result = False
        self.lists = ListsState(None, False, 0)
        self.online: bool | None = None
        self.reader_ok = True
        self.fault: str | None = None
        """A worker that stopped on an error (the card loop cannot open its engine...)."""
        self._clear_timer: Timer | None = None
        self._service = KeySequence(SERVICE_EXIT, within=SERVICE_WITHIN, clock=monotonic)
        self._engine = engine
        self._reader = reader
        self._sync = sync
        self._sync_every = sync_every
        self._sync_stop = threading.Event()
        self._cards: CardLoop[S] | None = None

    # --- what subclasses show ---------------------------------------------------------------------

    def welcome_view(self) -> Panel:
        return Panel(say(FRAME_TEXTS, "present card", self.lang))

    def panel_view(self) -> Panel:
        """The panel for the result on the screen (called only while one is held)."""
        return self.welcome_view()

    def status_view(self) -> tuple[StatusPart, ...]:
        return ()

    def entry_view(self) -> tuple[str, Tone]:
        return "", Tone.PLAIN

    def keys_view(self) -> str:
        return ""

    def language_label(self) -> str:
        """The language button's label: the key and the language it switches to."""
        return say(FRAME_TEXTS, "language key", self.lang, key=self.LANGUAGE_KEY)

    def on_cleared(self) -> None:
        """The result's time is up (the welcome is back): forget what was shown."""

    def on_reader_lost(self) -> None:
        """The reader went away (the app says so until it is back)."""

    def on_worker_failed(self) -> None:
        """A worker stopped on an error (:attr:`fault` says which)."""

    def refresh_own(self, main: Screen[object]) -> None:
        """Draw the app's own widgets of the frame ``main`` (after the frame's, in
        :meth:`refresh_view`)."""

    # --- the card work, in the card loop's thread -------------------------------------------------

    def card_work(self, engine: S, reader: Reader, info: CardInfo) -> TapOutcome:
        """One card's session with the engine."""
        raise NotImplementedError

    def without_verdict(self, kind: Outcome, detail: str) -> TapOutcome:
        """The outcome of a card whose work failed (``kind``: tap again, unreadable)."""
        return TapOutcome(kind, Source.CHIP, at=self.clock(), detail=detail)

    # --- the frame --------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield VerdictPanel(id="panel")
        yield EntryLine(id="entry")
        yield from self.compose_buttons()
        yield KeyBar(self.language_label())

    def compose_buttons(self) -> ComposeResult:
        """The app's buttons, over the keys' help (none here)."""
        return iter(())

    def on_mount(self) -> None:
        self.refresh_view()
        self.set_interval(15, self.refresh_status)
        if self._engine is not None and self._reader is not None:
            self._cards = CardLoop(self._engine, self._reader, on_card=self._card_session,
                                   on_reader=lambda ok, detail: self.post_message(
                                       ReaderState(ok, detail)),
                                   idle=self._report_lists)
            self.card_worker(self._cards)
        if self._sync is not None:
            self._start_sync(self._sync)

    def on_unmount(self) -> None:
        self._sync_stop.set()

    def refresh_view(self) -> None:
        """Draw the whole screen from the app's state (also while another screen is over it:
        what it no longer shows must not stay in a widget beneath)."""
        main = self.main_screen
        if main is None:
            return
        try:
            panel = self.panel_view() if self.showing_result else self.welcome_view()
            main.query_one(VerdictPanel).show(panel)
            self.refresh_status()
            main.query_one(EntryLine).show(*self.entry_view())
            main.query_one(KeyHelp).show(self.keys_view())
            main.query_one(LanguageButton).label = self.language_label()
            self.refresh_own(main)
        except NoMatches:
            # the frame is being taken down (the app is ending) while a worker's message
            # still arrives: nothing is left to draw on
            return

    def refresh_status(self) -> None:
        main = self.main_screen
        if main is None:
            return
        try:
            main.query_one(StatusLine).show(self.status_view())
        except NoMatches:
            return  # the frame is being taken down (see refresh_view)

    @property
    def main_screen(self) -> Screen[object] | None:
        """The screen of the frame once it is drawn (a form or a summary may be over it)."""
        if not self.screen_stack:
            return None
        main = self.screen_stack[0]
        return main if main.query(VerdictPanel) else None

    def hold(self) -> None:
        """Show the result now and clear it after :attr:`clear_after` seconds (a new result
        starts the time again)."""
        self.showing_result = True
        if self._clear_timer is not None:
            self._clear_timer.stop()
        self._clear_timer = self.set_timer(self.clear_after, self.clear)
        self.refresh_view()

    def clear(self) -> None:
        """Back to the welcome."""
        if self._clear_timer is not None:
            self._clear_timer.stop()
            self._clear_timer = None
        self.showing_result = False
        self.on_cleared()
        self.refresh_view()

    def watch_lang(self) -> None:
        self.refresh_view()

    # --- messages from the workers ----------------------------------------------------------------

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
        if not message.ok:
            self.on_reader_lost()
        self.refresh_view()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state is WorkerState.ERROR:
            self._stopped(event.worker.group, event.worker.error)

    def on_sync_stopped(self, message: SyncStopped) -> None:
        self._stopped("sync", message.error)

    def _stopped(self, name: str, error: object) -> None:
        log.error("the %s worker stopped: %s", name, error,
                  exc_info=error if isinstance(error, BaseException) else None)
        self.fault = str(error).splitlines()[0] if str(error) else type(error).__name__
        self.on_worker_failed()
        self.refresh_view()

    # --- keys -------------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        # the service sequence is watched before any binding takes its keys
        if isinstance(event, events.Key) and not event.is_forwarded \
                and self._service.feed(event.key):
            log.info("service key sequence: exiting")
            self.exit()
            return
        await super().on_event(event)

    def action_nothing(self) -> None:
        """Ctrl+Q and Ctrl+C: a terminal is not quit by accident."""

    async def action_quit(self) -> None:
        """Nothing: only the service key sequence ends a terminal app."""

    def action_help_quit(self) -> None:
        """Nothing (Textual would tell how to quit)."""

    def action_switch_language(self) -> None:
        self.lang = other_language(self.lang)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if isinstance(event.button, LanguageButton):
            event.stop()
            self.action_switch_language()

    # --- workers ----------------------------------------------------------------------------------

    def _report_lists(self, engine: S) -> None:
        lists = engine.status()
        self.post_message(ListsState(lists.lists_age, lists.stale, lists.backlog))

    def _card_session(self, engine: S, reader: Reader, info: CardInfo) -> None:
        self.post_message(CardArrived())
        try:
            result = self.card_work(engine, reader, info)
        except NoReaderError as exc:
            # the reader went away mid-tap: nothing is claimed, the card is tapped again
            self.post_message(TapDone(self.without_verdict(Outcome.TAP_AGAIN, str(exc))))
            raise
        except Exception as exc:
            log.exception("a card's work failed")
            result = self.without_verdict(Outcome.UNREADABLE, f"{type(exc).__name__}: {exc}")
        self.post_message(TapDone(result))

    @work(thread=True, exclusive=True, group="card", exit_on_error=False)
    def card_worker(self, loop: CardLoop[S]) -> None:
        worker = get_current_worker()
        loop.run(lambda: worker.is_cancelled)

    def _start_sync(self, config: TerminalConfig) -> None:
        """The background sync, in a daemon thread (see the module docstring), until the app
        is unmounted."""
        def reported(report: SyncReport) -> None:
            self.post_message(OfficeState(reached_office(report),
                                          report.errors[0] if report.errors else None))

        def run() -> None:
            try:
                SyncLoop(config, clock=self.clock, every=self._sync_every, on_report=reported,
                         on_error=lambda exc: self.post_message(OfficeState(False, str(exc)))
                         ).run(self._sync_stop.is_set)
            except Exception as exc:  # the store gone bad, say: the screen tells
                self.post_message(SyncStopped(exc))

        threading.Thread(target=run, name="sync", daemon=True).start()


# --- the commands' entry point --------------------------------------------------------------------


def run_terminal(config: TerminalConfig | None, directory: str | None,
                 engine: Callable[[TerminalConfig], EngineOpener[S]],
                 app: Callable[[TerminalConfig, EngineOpener[S]], TerminalApp[S]]) -> int:
    """Run ``app(config, opener)`` full screen until the service key sequence (Ctrl+X,
    Ctrl+C); 0.

    The terminal is ``config`` or the one in ``directory``, and ``engine(config)`` the opener
    of its engine.  The engine is opened once before the screen starts, so that a directory it
    cannot work with fails here, with its error."""
    if config is None:
        if directory is None:
            raise TypeError("run() needs a terminal config or directory")
        config = load_config(directory)
    opener = engine(config)
    with opener():
        pass
    screen = app(config, opener)
    with console_logging_held("ekarta"):
        screen.run()
    return 0
