"""What a terminal that checks cards (the driver's validator, the inspector's handheld) shows
around an outcome, in the language asked for, computed from plain values (no UI toolkit): the
welcome, the card being read, the verdict's headline and the notes on where its data came from,
the panels without a verdict, the entry line and the status line.

Each app's own view module puts its panel together from these pieces
(:mod:`~ekarta.terminal.apps.validator_view`, :mod:`~ekarta.terminal.apps.inspector_view`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ekarta.terminal.apps.view import FRAME_TEXTS, Line, Panel, StatusPart, Tone, say
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.transit.model.messages import Notice, text
from ekarta.transit.model.rules import Verdict
from ekarta.transit.model.timecodec import to_local
from ekarta.transit.model.values import Reason, Zones

__all__ = [
    "CHECKING_TEXTS",
    "TerminalStatus",
    "device_note",
    "entry_prompt",
    "headline",
    "no_verdict_panel",
    "outcome_notes",
    "reading_panel",
    "shown_number",
    "status_parts",
    "welcome_panel",
    "where",
    "zones_text",
]

CHECKING_TEXTS: dict[str, tuple[str, str]] = FRAME_TEXTS | {
    "valid": ("VALID", "PLATNÁ"),
    "invalid": ("INVALID", "NEPLATNÁ"),
    "blocked": ("BLOCKED", "BLOKOVÁNA"),
    "again": ("AGAIN", "ZNOVU"),
    "unknown card": ("UNKNOWN", "NEZNÁMÁ"),
    "unreadable": ("UNREADABLE", "NEČITELNÁ"),
    "bad number": ("BAD NUMBER", "CHYBNÉ ČÍSLO"),
    "reading": ("Reading the card…", "Čtu kartu…"),
    "checking": ("Checking {number}…", "Ověřuji {number}…"),
    "card number": ("Card {number}", "E-karta {number}"),
    "profile": ("Profile: {profile}", "Profil: {profile}"),
    "zones": ("zones {zones}", "zóny {zones}"),
    "network": ("all zones", "všechny zóny"),
    "zone here": ("Zone {zone}", "Zóna {zone}"),
    "zone here, line": ("Zone {zone}, line {line}", "Zóna {zone}, linka {line}"),
    "status zone": ("Zone {zone}", "Zóna {zone}"),
    "status line": ("Line {line}", "Linka {line}"),
    "no line": ("–", "–"),
    "any zone": ("any", "libovolná"),
    "enter number": ("Card number: {typed}", "Číslo karty: {typed}"),
    "enter zone": ("Zone (1 to {max}), Enter: {typed}", "Zóna (1 až {max}), Enter: {typed}"),
    "enter line": ("Line, Enter (empty: none): {typed}",
                   "Linka, Enter (prázdné: žádná): {typed}"),
    "bad zone": ("No zone {zone}: zones are 1 to {max}",
                 "Zóna {zone} neexistuje: zóny 1 až {max}"),
    "bad line": ("No line {line}: lines are 1 to {max}",
                 "Linka {line} neexistuje: linky 1 až {max}"),
    "move refused": ("Not set: {detail}", "Nenastaveno: {detail}"),
    "fault": ("OUT OF ORDER: {detail}", "PORUCHA: {detail}"),
    "check failed": ("The number could not be checked: try again",
                     "Číslo se nepodařilo ověřit: zkuste znovu"),
}
"""The texts every checking terminal shows, by key: (English, Czech)."""


def _tr(key: str, lang: str, /, **details: object) -> str:
    return say(CHECKING_TEXTS, key, lang, **details)


def welcome_panel(lang: str) -> Panel:
    """The screen between cards: "present your card" in ``lang`` big, in the other below."""
    other = "en" if lang == "cs" else "cs"
    return Panel(_tr("present card", lang), Tone.PLAIN, (Line(_tr("present card", other)),))


def reading_panel(lang: str, number: str | None = None) -> Panel:
    """While a card is read, or a number checked."""
    what = _tr("reading", lang) if number is None else _tr("checking", lang, number=number)
    return Panel("...", Tone.PLAIN, (Line(what),))


def headline(verdict: Verdict, lang: str) -> tuple[str, Tone]:
    """The verdict's headline and its colour: VALID, INVALID or BLOCKED."""
    if verdict.ok:
        return _tr("valid", lang), Tone.GOOD
    if verdict.reason is Reason.CARD_BLOCKED:
        return _tr("blocked", lang), Tone.BAD
    return _tr("invalid", lang), Tone.BAD


def zones_text(zones: Zones, lang: str) -> str:
    """``zones 1, 2`` or ``all zones``."""
    if zones.network:
        return _tr("network", lang)
    return _tr("zones", lang, zones=", ".join(str(z) for z in zones.numbers))


def where(outcome: TapOutcome, lang: str) -> str | None:
    """``Zone 1, line 12``: where the verdict was given (None: no zone to tell)."""
    zone = outcome.zone
    if zone is None and outcome.verdict is not None:
        zone = outcome.verdict.zone
    if zone is None:
        return None
    if outcome.line is None:
        return _tr("zone here", lang, zone=zone)
    return _tr("zone here, line", lang, zone=zone, line=outcome.line)


def shown_number(typed: str) -> str:
    """A typed or scanned text as the screen may repeat it: printable, at most 24 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in typed.strip())
    return clean if len(clean) <= 24 else clean[:23] + "…"


def outcome_notes(outcome: TapOutcome, lang: str) -> list[Line]:
    """What the screen adds to a verdict: a coupon from the office, a blocking written, a
    repeated tap, a verdict from the barcode and the age of its lists, lists too old."""
    notes = []
    if outcome.from_office:
        notes.append(Line(text(Notice.FROM_OFFICE, lang)))
    if outcome.blocked_written:
        notes.append(Line(text(Notice.BLOCKED_WRITTEN, lang), Tone.BAD))
    if outcome.repeated:
        notes.append(Line(text(Notice.REPEATED, lang)))
    if outcome.source is Source.BARCODE:
        if outcome.data_as_of is None:
            notes.append(Line(text(Notice.FROM_BARCODE_NEVER_SYNCED, lang), Tone.WARN))
        else:
            notes.append(Line(text(Notice.FROM_BARCODE, lang, time=outcome.data_as_of)))
    if outcome.stale:
        if outcome.lists_age is None:
            notes.append(Line(text(Notice.LISTS_NEVER_SYNCED, lang), Tone.WARN))
        else:
            notes.append(Line(text(Notice.STALE_LISTS, lang, lists_age=outcome.lists_age),
                              Tone.WARN))
    return notes


_NO_VERDICT = {
    Outcome.TAP_AGAIN: ("again", Notice.TAP_AGAIN),
    Outcome.NOT_A_TRANSIT_CARD: ("unknown card", Notice.NOT_A_TRANSIT_CARD),
    Outcome.UNREADABLE: ("unreadable", Notice.UNREADABLE),
    Outcome.REFUSED_NUMBER: ("bad number", Notice.REFUSED_NUMBER),
}


def no_verdict_panel(outcome: TapOutcome, lang: str, typed: str | None = None) -> Panel:
    """The amber panel of an outcome without a verdict: what happened and what to do;
    ``typed`` is the text a refused barcode check was given (repeated, made printable)."""
    key, notice = _NO_VERDICT.get(outcome.outcome, ("unreadable", Notice.UNREADABLE))
    number = shown_number(typed) if typed is not None else (
        str(outcome.card_number) if outcome.card_number is not None else "?")
    lines = [Line(text(notice, lang, number=number), Tone.WARN)]
    if outcome.stale and outcome.outcome is Outcome.TAP_AGAIN:
        lines.extend(outcome_notes(outcome, lang)[-1:])
    return Panel(_tr(key, lang), Tone.WARN, tuple(lines))


# --- the status line ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TerminalStatus:
    """What the status line shows, gathered from the app's state, the engine's lists and the
    background sync."""

    zone: int | None
    """The zone the verdicts are for (None: any zone)."""
    line: int | None = None
    now: datetime | None = None
    """The terminal's clock, shown as Prague's hours and minutes (None: not shown)."""
    lists_age: timedelta | None = None
    """How old the lists are (None: never synced)."""
    stale: bool = False
    backlog: int = 0
    """Journal events waiting for the office."""
    online: bool | None = None
    """Whether the last sync reached the office (None: not tried yet)."""
    reader_ok: bool = True
    scanner_ok: bool = True


def _coarse_age(age: timedelta) -> str:
    """An age in its largest unit only (``2 d``, ``5 h``, ``12 min``): the status line is
    narrow."""
    minutes = max(0, int(age.total_seconds()) // 60)
    if minutes >= 24 * 60:
        return f"{minutes // (24 * 60)} d"
    return f"{minutes // 60} h" if minutes >= 60 else f"{minutes} min"


def status_parts(status: TerminalStatus, lang: str) -> tuple[StatusPart, ...]:
    """The status line's items for ``status`` in ``lang``."""
    parts = []
    if status.now is not None:
        parts.append(StatusPart(f"{to_local(status.now):%H:%M}"))
    zone = _tr("any zone", lang) if status.zone is None else str(status.zone)
    parts.append(StatusPart(_tr("status zone", lang, zone=zone)))
    line = _tr("no line", lang) if status.line is None else str(status.line)
    parts.append(StatusPart(_tr("status line", lang, line=line)))
    lists_tone = Tone.WARN if status.stale else Tone.PLAIN
    if status.lists_age is None:
        parts.append(StatusPart(_tr("lists never", lang), Tone.WARN))
    else:
        parts.append(StatusPart(_tr("lists", lang, age=_coarse_age(status.lists_age)),
                                lists_tone))
    if status.online is None:
        parts.append(StatusPart(_tr("office unknown", lang)))
    else:
        parts.append(StatusPart(_tr("online" if status.online else "offline", lang),
                                Tone.GOOD if status.online else Tone.WARN))
    parts.append(StatusPart(_tr("backlog", lang, count=status.backlog)))
    return tuple(parts)


def device_note(status: TerminalStatus, lang: str) -> str | None:
    """What is wrong with the reader or the scanner, for the entry line (None: nothing)."""
    lost = [_tr(key, lang) for key, ok in (("reader lost", status.reader_ok),
                                            ("scanner lost", status.scanner_ok)) if not ok]
    return " · ".join(lost) or None


def entry_prompt(mode: str, typed: str, lang: str, *, zone_max: int) -> str:
    """The entry line while the operator types (``mode``: number, zone or line)."""
    return _tr(f"enter {mode}", lang, typed=typed, max=zone_max)
