"""The widgets the terminal apps share: the status line with its language button, the big
verdict panel, the entry line, the keys' help and the buttons a finger presses.  Each draws a
view value of
:mod:`~ekarta.terminal.apps.view`; none holds state of its own beyond what it shows."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant

from ekarta.terminal.apps.bigtext import fit
from ekarta.terminal.apps.view import Line, Panel, StatusPart, Tone

__all__ = ["BigText", "EntryLine", "KeyBar", "KeyHelp", "LanguageButton", "StatusLine",
           "TouchBar", "TouchButton", "VerdictPanel", "tone_style"]

_TONE_STYLE = {Tone.PLAIN: "", Tone.GOOD: "bold #3ddc5a", Tone.BAD: "bold #ff5c5c",
               Tone.WARN: "bold #ffb020"}
"""Text colours of a tone on the screen's dark background."""


def tone_style(tone: Tone) -> str:
    """The text style of ``tone`` on the screen's dark background."""
    return _TONE_STYLE[tone]


class BigText(Widget):
    """A short text in block letters, centred; plain bold text where they do not fit."""

    DEFAULT_CSS = """
    BigText {
        height: 1fr;
        content-align: center middle;
    }
    """

    text: reactive[str] = reactive("")

    def render(self) -> Text:
        width = self.size.width
        rows = fit(self.text, width, self.size.height)
        if rows is None:
            return Text(self.text, style="bold", justify="center")
        # each row centred on its own: the rows of one line are equally long, so they stay
        # aligned, and a shorter second line is centred too
        return Text("\n".join(row.center(width) for row in rows), no_wrap=True,
                    overflow="crop")


class VerdictPanel(Vertical):
    """The headline (block letters on the tone's colour) over the lines that explain it."""

    DEFAULT_CSS = """
    VerdictPanel {
        height: 1fr;
    }
    VerdictPanel > BigText {
        min-height: 7;
        text-style: bold;
    }
    VerdictPanel.-good > BigText {
        background: #0b7a26;
        color: #ffffff;
    }
    VerdictPanel.-bad > BigText {
        background: #b3001e;
        color: #ffffff;
    }
    VerdictPanel.-warn > BigText {
        background: #a86400;
        color: #ffffff;
    }
    VerdictPanel > #lines {
        height: auto;
        max-height: 50%;
        padding: 1 2 0 2;
        text-align: center;
    }
    """

    def compose(self) -> ComposeResult:
        yield BigText(id="headline")
        yield Static(id="lines")

    def show(self, panel: Panel) -> None:
        for tone in Tone:
            self.set_class(panel.tone is tone, f"-{tone.value}")
        self.query_one(BigText).text = panel.headline
        self.query_one("#lines", Static).update(_lines(panel.lines))


def _lines(lines: tuple[Line, ...]) -> Text:
    text = Text()
    for index, line in enumerate(lines):
        if index:
            text.append("\n")
        text.append(line.text, style=_TONE_STYLE[line.tone])
    return text


class StatusLine(Static):
    """The items of the status line, separated by bars."""

    DEFAULT_CSS = """
    StatusLine {
        height: 1;
        padding: 0 1;
        background: $panel;
    }
    """

    def show(self, parts: tuple[StatusPart, ...]) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        for index, part in enumerate(parts):
            if index:
                text.append(" │ ", style="dim")
            text.append(part.text, style=_TONE_STYLE[part.tone])
        self.update(text)


class LanguageButton(Button):
    """The button that switches the language (it takes no focus: Enter belongs to the typed
    card number)."""

    DEFAULT_CSS = """
    LanguageButton {
        width: auto;
        min-width: 10;
        height: 1;
    }
    """

    def __init__(self, label: str, *, id: str | None = None) -> None:
        super().__init__(label, id=id, compact=True)
        self.can_focus = False


class EntryLine(Static):
    """What the operator is typing (a card number, a zone), or a short answer to it."""

    DEFAULT_CSS = """
    EntryLine {
        height: 1;
        padding: 0 2;
        text-style: bold;
    }
    """

    def show(self, text: str, tone: Tone = Tone.PLAIN) -> None:
        self.update(Text(text, style=_TONE_STYLE[tone], no_wrap=True, overflow="ellipsis"))


class KeyHelp(Static):
    """The keys the operator may press."""

    DEFAULT_CSS = """
    KeyHelp {
        width: 1fr;
        height: 1;
        padding: 0 1;
        color: $text-muted;
    }
    """

    def show(self, text: str) -> None:
        self.update(Text(text, no_wrap=True, overflow="ellipsis"))


class KeyBar(Horizontal):
    """The bottom row: the keys' help and the language button."""

    DEFAULT_CSS = """
    KeyBar {
        height: 1;
        background: $panel;
    }
    """

    def __init__(self, language_label: str) -> None:
        super().__init__()
        self._language_label = language_label

    def compose(self) -> ComposeResult:
        yield KeyHelp(id="keys")
        yield LanguageButton(self._language_label, id="language")


class TouchButton(Button):
    """A button large enough for a finger on a handheld's screen (three rows).  It takes no
    focus: the keys belong to the typed card number, and each button has its function key."""

    DEFAULT_CSS = """
    TouchButton {
        width: 1fr;
        height: 3;
        margin: 0 1;
    }
    """

    def __init__(self, label: str, *, id: str | None = None,
                 variant: ButtonVariant = "default") -> None:
        super().__init__(label, id=id, variant=variant)
        self.can_focus = False


class TouchBar(Horizontal):
    """A row of :class:`TouchButton`."""

    DEFAULT_CSS = """
    TouchBar {
        height: 3;
    }
    """
