"""What a terminal's screen shows, as plain values: the apps compute a view from their state and
the language, and the widgets draw it.  Nothing here knows a UI toolkit, so every text a
screen can show is tested without one.

The texts of the screens' frame (the welcome, the status line's labels, the keys) are here too,
in English and Czech like :mod:`ekarta.transit.model.messages`, which holds what is said about a
card.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ekarta.transit.model.messages import LANGUAGES

__all__ = ["FRAME_TEXTS", "Line", "Panel", "StatusPart", "Tone", "other_language", "say"]


class Tone(StrEnum):
    """How a part of the screen is coloured."""

    PLAIN = "plain"
    GOOD = "good"
    """Green: valid."""
    BAD = "bad"
    """Red: invalid, blocked."""
    WARN = "warn"
    """Amber: no verdict (tap again, unreadable), or a verdict to take with care."""


@dataclass(frozen=True)
class Line:
    """One line of text under the verdict."""

    text: str
    tone: Tone = Tone.PLAIN


@dataclass(frozen=True)
class Panel:
    """The big part of the screen: a headline in block letters over a few lines of text."""

    headline: str
    tone: Tone = Tone.PLAIN
    lines: tuple[Line, ...] = ()


@dataclass(frozen=True)
class StatusPart:
    """One item of the status line."""

    text: str
    tone: Tone = Tone.PLAIN


FRAME_TEXTS: dict[str, tuple[str, str]] = {
    "present card": ("Present your card", "Přiložte kartu"),
    "language key": ("{key} Česky", "{key} English"),
    "online": ("Online", "Spojeno"),
    "offline": ("Offline", "Bez spojení"),
    "office unknown": ("Office ?", "Spojení ?"),
    "lists": ("Lists {age}", "Seznamy {age}"),
    "lists never": ("Lists: never", "Seznamy: nikdy"),
    "backlog": ("Unsent {count}", "Neodesláno {count}"),
    "reader lost": ("READER NOT CONNECTED", "ČTEČKA NEPŘIPOJENA"),
    "scanner lost": ("SCANNER NOT CONNECTED", "SKENER NEPŘIPOJEN"),
}
"""The frame's texts common to the terminal apps, by key: (English, Czech)."""


def say(table: dict[str, tuple[str, str]], key: str, lang: str, /, **details: Any) -> str:
    """The text ``key`` of ``table`` in ``lang``, filled with ``details``."""
    return table[key][LANGUAGES.index(lang)].format(**details)


def other_language(lang: str) -> str:
    """The language a switch goes to from ``lang``."""
    return LANGUAGES[1 - LANGUAGES.index(lang)]
