"""The kiosk's own widgets: the card it shows (:class:`KioskCard`, built whole from a
:class:`~ekarta.terminal.apps.kiosk_view.CardView` and removed whole when the data hide) and the
large Hide button.  The frame's widgets are :mod:`~ekarta.terminal.apps.widgets`'."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Static

from ekarta.terminal.apps.kiosk_view import CardView, kiosk_tr
from ekarta.terminal.apps.view import Line, Tone
from ekarta.terminal.apps.widgets import tone_style

__all__ = ["HIDE_BUTTON_CSS", "CardPane", "HideButton", "KioskCard"]

HIDE_BUTTON_CSS = """
HideButton {
    width: 24;
    height: 5;
    margin: 0 1;
    text-style: bold;
    background: #a86400;
    color: #ffffff;
    border: tall #ffb020;
}
HideButton:hover {
    background: #c07800;
    border: tall #ffd080;
}
"""
"""The Hide button's size and colours, for the app's CSS (a widget's default CSS loses to
Button's own rules)."""


class HideButton(Button):
    """The button that hides the holder's data: large, for a finger (it takes no focus)."""

    # the app's CSS (HIDE_BUTTON_CSS) sizes and colours it: a DEFAULT_CSS loses to Button's own

    def __init__(self, label: str) -> None:
        super().__init__(label, id="hide")
        self.can_focus = False


def _lines(lines: tuple[Line, ...]) -> Text:
    text = Text()
    for index, line in enumerate(lines):
        if index:
            text.append("\n")
        text.append(line.text, style=tone_style(line.tone))
    return text


def _coupons(view: CardView, lang: str) -> Table | Text:
    """The coupons as a table: the type with the profile under it, the zones, the period and
    how long it still runs (the ones valid now in green)."""
    if not view.coupons:
        return Text(view.no_coupons, style=tone_style(Tone.WARN))
    table = Table(box=None, padding=(0, 1), pad_edge=False, expand=False, header_style="bold")
    table.add_column("", no_wrap=True)
    table.add_column(kiosk_tr("col coupon", lang))
    table.add_column(kiosk_tr("col zones", lang), max_width=24)
    table.add_column(kiosk_tr("col period", lang), no_wrap=True)
    table.add_column(kiosk_tr("col left", lang))
    for row in view.coupons:
        style = tone_style(Tone.GOOD) if row.valid_now else ""
        kind = Text(row.kind, style=style)
        kind.append(f"\n{row.profile}", style="dim")
        left = Text(row.left, style=style)
        if row.note:
            left.append(f"\n{row.note}", style=tone_style(Tone.WARN))
        table.add_row(Text(f"{row.number}.", style=style), kind, Text(row.zones, style=style),
                      Text(f"{row.first} – {row.last}", style=style), left)
    return table


class KioskCard(Vertical):
    """An active card, as the kiosk shows it: the holder and the card's facts beside the Hide
    button, the coupons, what the check loaded or left waiting, the timeline and the last
    events.  It keeps nothing but what its children show."""

    DEFAULT_CSS = """
    KioskCard {
        height: auto;
        padding: 0 1;
    }
    KioskCard > #top {
        height: auto;
    }
    KioskCard #who {
        width: 1fr;
        height: auto;
    }
    KioskCard #holder {
        text-style: bold;
        background: #0b7a26;
        color: #ffffff;
        padding: 0 1;
    }
    KioskCard #facts {
        padding: 0 1;
    }
    KioskCard .title {
        margin-top: 1;
        text-style: bold underline;
    }
    KioskCard .body {
        padding: 0 1;
    }
    """

    def __init__(self, view: CardView, lang: str) -> None:
        super().__init__()
        self._view: CardView | None = view
        self._lang = lang

    def compose(self) -> ComposeResult:
        view, self._view = self._view, None  # the children hold it from now on
        if view is None:
            return
        lang = self._lang
        with Horizontal(id="top"):
            with Vertical(id="who"):
                yield Static(Text(view.holder), id="holder")
                yield Static(_lines(view.facts), id="facts")
            yield HideButton(kiosk_tr("hide", lang))
        yield Static(view.coupons_title, classes="title")
        yield Static(_coupons(view, lang), id="coupons", classes="body")
        if view.actions:
            yield Static(_lines(view.actions), id="actions", classes="body")
        if view.timeline:
            body = Text("\n".join(view.timeline))
            if view.timeline_notes:
                body.append("\n")
                body.append_text(_lines(view.timeline_notes))
            yield Static(view.timeline_title, classes="title")
            yield Static(body, id="timeline", classes="body")
        yield Static(view.events_title, classes="title")
        yield Static(_lines(view.events) if view.events else kiosk_tr("no events", lang),
                     id="events", classes="body")


class CardPane(VerticalScroll):
    """Where the card is shown: empty while nothing is (the welcome and the other screens are
    the frame's panel's)."""

    DEFAULT_CSS = """
    CardPane {
        height: 1fr;
        display: none;
    }
    CardPane.-showing {
        display: block;
    }
    """

    def show(self, card: KioskCard | None) -> None:
        """Put ``card`` in place of the card shown (None: no card)."""
        for static in self.query(Static):
            static.update("")  # a removed widget may be held a while by Textual's caches
        removing = self.remove_children()
        if card is not None:
            self.mount(card)
            self.scroll_home(animate=False)

        async def renew() -> None:
            await removing
            # Textual keeps the last list of displayed children until it is asked again: asked
            # now, it lets go of the removed card (a hidden pane is not laid out to ask it)
            self.displayed_children  # noqa: B018

        self.call_next(renew)
