"""The screens the inspector's handheld puts over its frame: the form that records a check's
outcome (:class:`OutcomeForm`) and the shift's summary (:class:`ShiftScreen`).

Both are drawn from :mod:`~ekarta.terminal.apps.inspector_view` in the app's language (they
follow a switch at once), take a finger as well as keys (touch-sized buttons, each with its
function key) and keep their keys to themselves: nothing typed here reaches the card number
under them.
"""

from __future__ import annotations

from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from ekarta.terminal.apps.inspector_view import (
    NOTE_MAX,
    REASON_CHOICES,
    Recorded,
    clean_note,
    form_title,
    reason_label,
    shift_lines,
    tr,
)
from ekarta.terminal.apps.widgets import TouchBar, TouchButton
from ekarta.terminal.inspect import ShiftSummary, may_be_someone_elses
from ekarta.terminal.outcome import TapOutcome
from ekarta.transit.model.values import Reason

__all__ = ["OutcomeForm", "ShiftScreen"]

_REASON_KEYS = "1234567890*"
"""The key of each of :data:`REASON_CHOICES`, in order: a handheld's keypad."""


class OutcomeForm(Screen[Recorded | None]):
    """What the inspector records for ``check``: valid (F5), or invalid (F6) with a reason
    chosen from a list (a key or a finger), and a free note (a fine's number).  It is
    dismissed with the :class:`Recorded` outcome, or None (Escape)."""

    DEFAULT_CSS = """
    OutcomeForm {
        padding: 1 2;
    }
    OutcomeForm .title {
        text-style: bold;
        height: auto;
        margin-bottom: 1;
    }
    OutcomeForm #note-label {
        height: 1;
    }
    OutcomeForm #note {
        margin-bottom: 1;
    }
    OutcomeForm #reasons {
        display: none;
    }
    OutcomeForm.-reasons #choose {
        display: none;
    }
    OutcomeForm.-reasons #reasons {
        display: block;
    }
    OutcomeForm Grid {
        grid-size: 3;
        grid-rows: 3;
        grid-gutter: 0;
        height: auto;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f5", "valid", show=False, priority=True),
        Binding("f6", "invalid", show=False, priority=True),
        Binding("escape", "back", show=False, priority=True),
    ]

    def __init__(self, check: TapOutcome, lang: str) -> None:
        super().__init__()
        self.check = check
        self.lang = lang
        self.choosing_reason = False

    def compose(self) -> ComposeResult:
        with Vertical(id="choose"):
            yield Static(classes="title", id="title")
            yield Static(id="note-label")
            yield Input(id="note", max_length=NOTE_MAX, select_on_focus=False)
            with TouchBar():
                yield TouchButton("", id="valid", variant="success")
                yield TouchButton("", id="invalid", variant="error")
                yield TouchButton("", id="back")
        with Vertical(id="reasons"):
            yield Static(classes="title", id="reasons-title")
            with Grid():
                for index in range(len(REASON_CHOICES)):
                    yield TouchButton("", id=f"reason-{index}")
            with TouchBar():
                yield TouchButton("", id="reasons-back")

    def on_mount(self) -> None:
        self.watch(self.app, "lang", self._language_switched, init=False)
        self.relabel()
        self.query_one(Input).focus()

    def _language_switched(self, lang: str) -> None:
        self.lang = lang
        self.relabel()

    def relabel(self) -> None:
        """Every text of the form in :attr:`lang`."""
        lang = self.lang
        self.query_one("#title", Static).update(form_title(self.check, lang))
        self.query_one("#note-label", Static).update(tr("note label", lang))
        self.query_one(Input).placeholder = tr("note placeholder", lang)
        self.query_one("#valid", Button).label = tr("button valid", lang)
        self.query_one("#invalid", Button).label = tr("button invalid", lang)
        for back in ("#back", "#reasons-back"):
            self.query_one(back, Button).label = tr("button back", lang)
        self.query_one("#reasons-title", Static).update(
            tr("reasons title", lang, note=self.note or "–"))
        verdict = self.check.verdict
        for index, reason in enumerate(REASON_CHOICES):
            button = self.query_one(f"#reason-{index}", Button)
            button.label = f"{_REASON_KEYS[index]} {reason_label(reason, lang)}"
            # the verdict's own reason stands out: the likely choice
            button.variant = "primary" if verdict is not None and not verdict.ok \
                and reason is verdict.reason else "default"
            button.disabled = not self._may_choose(reason)

    @property
    def note(self) -> str | None:
        return clean_note(self.query_one(Input).value)

    def action_valid(self) -> None:
        if not self.choosing_reason:
            self.dismiss(Recorded(valid=True, note=self.note))

    def action_invalid(self) -> None:
        self.choosing_reason = True
        self.add_class("-reasons")
        self.relabel()
        self.set_focus(None)

    def action_back(self) -> None:
        if self.choosing_reason:
            self.choosing_reason = False
            self.remove_class("-reasons")
            self.query_one(Input).focus()
        else:
            self.dismiss(None)

    def _may_choose(self, reason: Reason) -> bool:
        return reason is not Reason.NOT_THE_HOLDER or may_be_someone_elses(self.check)

    def choose(self, index: int) -> None:
        if not self._may_choose(REASON_CHOICES[index]):
            return  # an anonymous card is anyone's: its button is off, and so is its key
        self.dismiss(Recorded(valid=False, reason=REASON_CHOICES[index], note=self.note))

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        name = event.button.id or ""
        if name == "valid":
            self.action_valid()
        elif name == "invalid":
            self.action_invalid()
        elif name in ("back", "reasons-back"):
            self.action_back()
        elif name.startswith("reason-"):
            self.choose(int(name.removeprefix("reason-")))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()  # Enter in the note decides nothing: F5 or F6 does

    def on_key(self, event: events.Key) -> None:
        if self.choosing_reason and event.character is not None \
                and event.character in _REASON_KEYS:
            index = _REASON_KEYS.index(event.character)
            if index < len(REASON_CHOICES):
                event.stop()
                self.choose(index)
                return
        if event.is_printable or event.key in ("enter", "backspace"):
            # not a card number for the frame beneath; and since a key stopped here never
            # reaches the field's own bindings, the field's keys are done here
            event.stop()
            if self.choosing_reason:
                return
            note = self.query_one(Input)
            if event.key == "backspace":
                note.action_delete_left()
            elif event.is_printable and event.character is not None:
                # typed before the field took the focus (right after F5): kept, not lost
                note.insert_text_at_cursor(event.character)
            note.focus()


class ShiftScreen(Screen[None]):
    """The shift's checks (:class:`~ekarta.terminal.inspect.ShiftSummary`): counts by
    outcome and by line, and a bar chart per hour.  Escape or F6 closes it."""

    DEFAULT_CSS = """
    ShiftScreen {
        padding: 1 2;
    }
    ShiftScreen #shift-title {
        text-style: bold;
        height: 1;
        margin-bottom: 1;
    }
    ShiftScreen #shift-body {
        height: 1fr;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", show=False, priority=True),
        Binding("f6", "close", show=False, priority=True),
    ]

    def __init__(self, shift: ShiftSummary, lang: str) -> None:
        super().__init__()
        self.shift = shift
        self.lang = lang

    def compose(self) -> ComposeResult:
        yield Static(id="shift-title")
        yield Static(id="shift-body")
        with TouchBar():
            yield TouchButton("", id="close")

    def on_mount(self) -> None:
        self.watch(self.app, "lang", self._language_switched, init=False)
        self.relabel()

    def _language_switched(self, lang: str) -> None:
        self.lang = lang
        self.relabel()

    def relabel(self) -> None:
        title, *lines = shift_lines(self.shift, self.lang)
        self.query_one("#shift-title", Static).update(title)
        self.query_one("#shift-body", Static).update("\n".join(lines))
        self.query_one("#close", Button).label = tr("button close", self.lang)

    def show(self, shift: ShiftSummary) -> None:
        """Newer counts (a check recorded meanwhile)."""
        self.shift = shift
        self.relabel()

    def action_close(self) -> None:
        self.dismiss(None)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_close()

    def on_key(self, event: events.Key) -> None:
        if event.is_printable or event.key in ("enter", "backspace"):
            event.stop()
