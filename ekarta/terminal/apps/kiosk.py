"""The information terminal (kiosk) at a contact point: a card placed on it is shown to its
holder, with the coupons the office holds for it loaded first.

``ekarta kiosk DIR --reader URL`` runs :func:`run`.  Between cards the screen says "Přiložte
kartu / Present your card".  A card placed on the reader

- is read, and what the office left for it (paid coupons, purse credits) is written onto it,
  with the progress on the screen (:class:`Loading`);
- if it is active: the card, its profile, every coupon valid now or later with a timeline, what
  was loaded and what still waits at the office, the e-purse and the last events
  (:mod:`~ekarta.terminal.apps.kiosk_view`);
- if not (blocked, expired, not active, not a transit card, not issued, unreadable): what to do
  and where, and nothing of the holder's.

The data hide with the large Hide button (or Escape), by themselves after :attr:`KioskApp.
hide_after` seconds (a touch starts that time again, up to :attr:`KioskApp.hide_max` seconds
after the card was shown), and when the next card arrives.  Hiding removes the card's widgets and
drops the outcome: nothing of the holder's is left in the app.  A reader that goes away shows
"out of order" until it is back.

The card work is the kiosk engine's (:class:`KioskEngine`), in a thread worker (the frame's
:class:`~ekarta.terminal.apps.loops.CardLoop`); a second worker syncs with the office.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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
from ekarta.readers import open_reader
from ekarta.readers.base import CardInfo, Reader
from ekarta.terminal.apps.base import (
    SYNC_EVERY,
    CardArrived,
    Clock,
    EngineOpener,
    TapDone,
    TerminalApp,
    run_terminal,
    utc_now,
)
from ekarta.terminal.apps.checking_view import CHECKING_TEXTS, TerminalStatus, status_parts
from ekarta.terminal.apps.kiosk_view import (
    card_view,
    kiosk_tr,
    loading_panel,
    out_of_order_panel,
    reading_panel,
    refusal_panel,
    refused,
    welcome_panel,
)
from ekarta.terminal.apps.kiosk_widgets import HIDE_BUTTON_CSS, CardPane, HideButton, KioskCard
from ekarta.terminal.apps.view import Panel, StatusPart, Tone, say
from ekarta.terminal.apps.widgets import EntryLine, KeyBar, StatusLine, VerdictPanel
from ekarta.terminal.config import TerminalConfig
from ekarta.terminal.engine import EngineStatus
from ekarta.terminal.kiosk import Kiosk
from ekarta.terminal.outcome import Progress, TapOutcome

__all__ = [
    "HIDE_AFTER",
    "HIDE_MAX",
    "KioskApp",
    "KioskEngine",
    "Loading",
    "open_engine",
    "run",
]

log = logging.getLogger(__name__)

HIDE_AFTER = 20.0
"""Seconds a card's data stay on the screen after the last touch."""
HIDE_MAX = 120.0
"""Seconds a card's data stay on the screen at most, however often it is touched."""

ProgressCallback = Callable[[Progress], None]


class KioskEngine(Protocol):
    """The kiosk's card work as the app uses it, always from the card loop's thread."""

    def view(self, transceiver: Transceiver, *, progress: ProgressCallback) -> TapOutcome:
        """One card session with the card in the field: what the office left for it written,
        the card as it then is (``image``) and what became of each action."""
        ...

    def status(self) -> EngineStatus:
        """The lists' age and the journal's backlog, for the status line."""
        ...


class Loading(Message):
    """The check is writing onto the card: how far it has come."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class KioskApp(TerminalApp[KioskEngine]):
    """The kiosk; see the module documentation.

    Without ``engine`` and ``reader`` no card loop runs (the screens are then driven by posting
    :class:`~ekarta.terminal.apps.base.TapDone` and the other messages, as the workers do);
    without ``sync`` no background sync.
    """

    TITLE = "ekarta kiosk"
    CSS = HIDE_BUTTON_CSS
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "hide", show=False, priority=True),
    ]

    def __init__(self, *, hide_after: float = HIDE_AFTER, hide_max: float = HIDE_MAX,
                 engine: EngineOpener[KioskEngine] | None = None,
                 reader: Callable[[], Reader] | None = None,
                 sync: TerminalConfig | None = None, sync_every: float = SYNC_EVERY,
                 lang: str = "cs", clock: Clock = utc_now,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if not 0 < hide_after <= hide_max:
            raise ValueError(f"the data must hide after a time above 0 and at most the "
                             f"maximum ({hide_max:g} s), not {hide_after:g} s")
        super().__init__(engine=engine, reader=reader, sync=sync, sync_every=sync_every,
                         lang=lang, clear_after=hide_after, clock=clock, monotonic=monotonic)
        self.hide_after = hide_after
        self.hide_max = hide_max
        self.outcome: TapOutcome | None = None
        """The card shown (None once the data hide)."""
        self.progress: Progress | None = None
        self.busy = False
        """A card is being read or written."""
        self._shown_at: float | None = None
        self._drawn_card: tuple[int, str] | None = None
        """The showing and language of the card widget on the screen."""
        self._showings = 0

    # --- views ------------------------------------------------------------------------------------

    @property
    def out_of_order(self) -> bool:
        return not self.reader_ok or self.fault is not None

    def welcome_view(self) -> Panel:
        if self.out_of_order:
            return out_of_order_panel(self.lang, self.fault)
        if self.progress is not None:
            return loading_panel(self.progress, self.lang)
        if self.busy:
            return reading_panel(self.lang)
        return welcome_panel(self.lang, hide_after=self.hide_after)

    def panel_view(self) -> Panel:
        outcome = self.outcome
        if outcome is None or self.out_of_order:
            return self.welcome_view()
        why = refused(outcome)
        if why is None:
            return Panel("")  # the card's own widget is shown instead
        return refusal_panel(why, outcome, self.lang)

    @property
    def showing_card(self) -> bool:
        """An active card's data are on the screen."""
        return self.showing_result and self.outcome is not None and not self.out_of_order \
            and refused(self.outcome) is None

    def status_view(self) -> tuple[StatusPart, ...]:
        status = TerminalStatus(zone=None, now=self.clock(), lists_age=self.lists.lists_age,
                                 stale=self.lists.stale, backlog=self.lists.backlog,
                                 online=self.online, reader_ok=self.reader_ok)
        # the kiosk stands at a contact point: no zone or line to show
        lang = self.lang
        place = {say(CHECKING_TEXTS, "status zone", lang,
                     zone=say(CHECKING_TEXTS, "any zone", lang)),
                 say(CHECKING_TEXTS, "status line", lang,
                     line=say(CHECKING_TEXTS, "no line", lang))}
        return tuple(part for part in status_parts(status, lang) if part.text not in place)

    def entry_view(self) -> tuple[str, Tone]:
        if self.showing_card:
            return kiosk_tr("hides by itself", self.lang, seconds=f"{self.hide_after:g}"), \
                Tone.PLAIN
        if not self.reader_ok:
            return kiosk_tr("reader lost", self.lang), Tone.BAD
        return "", Tone.PLAIN

    def keys_view(self) -> str:
        return kiosk_tr("keys", self.lang) if self.showing_card else ""

    # --- the frame, and the card's widget ---------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield VerdictPanel(id="panel")
        yield CardPane(id="card-pane")
        yield EntryLine(id="entry")
        yield KeyBar(self.language_label())

    def refresh_own(self, main: Screen[object]) -> None:
        pane = main.query_one(CardPane)
        showing = self.showing_card
        main.query_one(VerdictPanel).display = not showing
        pane.set_class(showing, "-showing")
        wanted = (self._showings, self.lang) if showing else None
        if wanted == self._drawn_card:
            return
        self._drawn_card = wanted
        pane.show(KioskCard(card_view(self.outcome, self.lang), self.lang)
                  if showing and self.outcome is not None else None)

    def on_cleared(self) -> None:
        """The data hide: the outcome is dropped, the card's widget goes with the refresh."""
        self.outcome = None
        self._shown_at = None

    # --- hiding -----------------------------------------------------------------------------------

    def action_hide(self) -> None:
        if self.showing_result:
            log.info("the data hidden by the holder")
            self.clear()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        # the frame's own handler (the language button) is called after this one
        if isinstance(event.button, HideButton):
            event.stop()
            self.action_hide()

    def touched(self) -> None:
        """A touch while the data are shown starts their time again (up to the maximum)."""
        if not self.showing_result or self._shown_at is None:
            return
        left = self.hide_max - (self.monotonic() - self._shown_at)
        if left <= 0:
            self.clear()
            return
        self.clear_after = min(self.hide_after, left)
        self.hold()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        self.touched()

    def on_key(self, event: events.Key) -> None:
        if event.key != "escape":
            self.touched()

    def _show(self, outcome: TapOutcome) -> None:
        self.outcome = outcome
        self._showings += 1
        self._shown_at = self.monotonic()
        self.clear_after = self.hide_after
        self.hold()

    # --- messages from the workers ----------------------------------------------------------------

    def on_card_arrived(self, message: CardArrived) -> None:
        # a new card: what was shown goes at once
        if self.showing_result:
            self.clear()
        self.busy = True
        self.progress = None
        self.refresh_view()

    def on_loading(self, message: Loading) -> None:
        self.busy = True
        self.progress = message.progress
        self.refresh_view()

    def on_tap_done(self, message: TapDone) -> None:
        outcome = message.outcome
        log.info("card shown: %s%s", outcome.outcome,
                 f" ({outcome.detail})" if outcome.detail else "")
        self.busy = False
        self.progress = None
        self._show(outcome)

    def on_reader_lost(self) -> None:
        # out of order: what was shown goes at once
        self.busy = False
        self.progress = None
        if self.showing_result:
            self.clear()

    def on_worker_failed(self) -> None:
        if self.showing_result:
            self.clear()

    # --- the card loop ----------------------------------------------------------------------------

    def card_work(self, engine: KioskEngine, reader: Reader, info: CardInfo) -> TapOutcome:
        def progress(step: Progress) -> None:
            self.post_message(Loading(step))

        return engine.view(reader, progress=progress)


# --- the command's entry point --------------------------------------------------------------------


@contextmanager
def open_engine(config: TerminalConfig, *, device: int | None = None,
                stale_after: timedelta | None = None,
                clock: Clock = utc_now) -> Iterator[KioskEngine]:
    """The kiosk's engine of the terminal directory ``config``, with its own store (closed at
    the end); ``stale_after`` defaults to the engine's."""
    options = {} if stale_after is None else {"stale_after": stale_after}
    with Kiosk.from_config(config, device=device, clock=clock, **options) as kiosk:
        yield kiosk


def run(config: TerminalConfig | None = None, *, directory: str | None = None, reader: str,
        device: int | None = None, lang: str = "cs", hide_after: float = HIDE_AFTER,
        hide_max: float = HIDE_MAX, stale_after: timedelta | None = None,
        sync_every: float = SYNC_EVERY, clock: Clock = utc_now) -> int:
    """Run the kiosk full screen until the service key sequence (Ctrl+X, Ctrl+C); 0.

    The terminal is ``config`` or the one in ``directory``.  The engine is opened once before
    the screen starts, so that a directory it cannot work with fails here, with its error."""
    def opener(config: TerminalConfig) -> EngineOpener[KioskEngine]:
        return partial(open_engine, config, device=device, stale_after=stale_after, clock=clock)

    def screen(config: TerminalConfig, engine: EngineOpener[KioskEngine]) -> KioskApp:
        return KioskApp(hide_after=hide_after, hide_max=hide_max, engine=engine,
                        reader=partial(open_reader, reader), sync=config, sync_every=sync_every,
                        lang=lang, clock=clock)

    return run_terminal(config, directory, opener, screen)
