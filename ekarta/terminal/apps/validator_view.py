"""What the driver's validator shows: the panel for a tap's outcome and the status line, in the
language asked for, computed from plain values (no UI toolkit).

The passenger reads the headline (green VALID, red INVALID or BLOCKED, amber when there is no
verdict) and the reason; the driver reads the rest: the profile, the coupon with its last day,
the zone, where the verdict's data came from and how old the lists are.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from ekarta.terminal.apps.view import FRAME_TEXTS, Line, Panel, StatusPart, Tone, say
from ekarta.terminal.outcome import Outcome, Source, TapOutcome
from ekarta.transit.model.messages import (
    Notice,
    coupon_type_name,
    format_date,
    profile_name,
    text,
)
from ekarta.transit.model.rules import Verdict
from ekarta.transit.model.timecodec import to_local
from ekarta.transit.model.values import Reason, SignedCoupon

__all__ = [
    "VALIDATOR_TEXTS",
    "ValidatorStatus",
    "device_note",
    "entry_prompt",
    "outcome_panel",
    "reading_panel",
    "status_parts",
    "tr",
    "welcome_panel",
]

VALIDATOR_TEXTS: dict[str, tuple[str, str]] = FRAME_TEXTS | {
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
    "coupon": ("Coupon: {coupon}, {zones}, until {date}", "Kupon: {coupon}, {zones}, do {date}"),
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
    "keys": ("F2 zone · F3 line · digits + Enter: card number",
             "F2 zóna · F3 linka · číslice + Enter: číslo karty"),
}
"""The validator's own texts, by key: (English, Czech)."""


def tr(key: str, lang: str, /, **details: object) -> str:
    """The validator's text ``key`` in ``lang``."""
    return say(VALIDATOR_TEXTS, key, lang, **details)


def welcome_panel(lang: str) -> Panel:
    """The screen between taps: "present your card" in ``lang`` big, in the other below."""
    other = "en" if lang == "cs" else "cs"
    return Panel(tr("present card", lang), Tone.PLAIN, (Line(tr("present card", other)),))


def reading_panel(lang: str, number: str | None = None) -> Panel:
    """While a card is read, or a number checked."""
    what = tr("reading", lang) if number is None else tr("checking", lang, number=number)
    return Panel("...", Tone.PLAIN, (Line(what),))


def _headline(verdict: Verdict) -> tuple[str, Tone]:
    if verdict.ok:
        return "valid", Tone.GOOD
    if verdict.reason is Reason.CARD_BLOCKED:
        return "blocked", Tone.BAD
    return "invalid", Tone.BAD


def _coupon_line(signed: SignedCoupon, lang: str) -> str:
    coupon = signed.coupon
    if coupon.zones.network:
        zones = tr("network", lang)
    else:
        zones = tr("zones", lang, zones=", ".join(str(z) for z in coupon.zones.numbers))
    return tr("coupon", lang, coupon=coupon_type_name(coupon.coupon_type, lang), zones=zones,
              date=format_date(coupon.valid_to, lang))


def _shown_number(typed: str) -> str:
    """A typed or scanned text as the screen may repeat it: printable, at most 24 characters."""
    clean = "".join(c if c.isprintable() else "?" for c in typed.strip())
    return clean if len(clean) <= 24 else clean[:23] + "…"


def outcome_panel(outcome: TapOutcome, lang: str, *, typed: str | None = None) -> Panel:
    """The panel for ``outcome`` in ``lang``; ``typed`` is the text a barcode check was given
    (repeated when it is refused)."""
    if outcome.outcome is not Outcome.VERDICT or outcome.verdict is None:
        return _no_verdict(outcome, lang, typed)
    verdict = outcome.verdict
    key, tone = _headline(verdict)
    lines = [Line(verdict.message(lang), Tone.PLAIN if verdict.ok else Tone.BAD)]
    lines.append(Line(tr("profile", lang, profile=profile_name(verdict.profile, lang))))
    if verdict.coupon is not None:
        lines.append(Line(_coupon_line(verdict.coupon, lang)))
    zone = outcome.zone if outcome.zone is not None else verdict.zone
    if zone is not None:
        where = tr("zone here", lang, zone=zone) if outcome.line is None else \
            tr("zone here, line", lang, zone=zone, line=outcome.line)
        lines.append(Line(where))
    if outcome.card_number is not None:
        lines.append(Line(tr("card number", lang, number=outcome.card_number.formatted)))
    lines.extend(_notes(outcome, lang))
    return Panel(tr(key, lang), tone, tuple(lines))


def _notes(outcome: TapOutcome, lang: str) -> list[Line]:
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


def _no_verdict(outcome: TapOutcome, lang: str, typed: str | None) -> Panel:
    key, notice = _NO_VERDICT.get(outcome.outcome, ("unreadable", Notice.UNREADABLE))
    number = _shown_number(typed) if typed is not None else (
        str(outcome.card_number) if outcome.card_number is not None else "?")
    lines = [Line(text(notice, lang, number=number), Tone.WARN)]
    if outcome.stale and outcome.outcome is Outcome.TAP_AGAIN:
        lines.extend(_notes(outcome, lang)[-1:])
    return Panel(tr(key, lang), Tone.WARN, tuple(lines))


@dataclass(frozen=True)
class ValidatorStatus:
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


def status_parts(status: ValidatorStatus, lang: str) -> tuple[StatusPart, ...]:
    """The status line's items for ``status`` in ``lang``."""
    parts = []
    if status.now is not None:
        parts.append(StatusPart(f"{to_local(status.now):%H:%M}"))
    zone = tr("any zone", lang) if status.zone is None else str(status.zone)
    parts.append(StatusPart(tr("status zone", lang, zone=zone)))
    line = tr("no line", lang) if status.line is None else str(status.line)
    parts.append(StatusPart(tr("status line", lang, line=line)))
    lists_tone = Tone.WARN if status.stale else Tone.PLAIN
    if status.lists_age is None:
        parts.append(StatusPart(tr("lists never", lang), Tone.WARN))
    else:
        parts.append(StatusPart(tr("lists", lang, age=_coarse_age(status.lists_age)),
                                lists_tone))
    if status.online is None:
        parts.append(StatusPart(tr("office unknown", lang)))
    else:
        parts.append(StatusPart(tr("online" if status.online else "offline", lang),
                                Tone.GOOD if status.online else Tone.WARN))
    parts.append(StatusPart(tr("backlog", lang, count=status.backlog)))
    return tuple(parts)


def device_note(status: ValidatorStatus, lang: str) -> str | None:
    """What is wrong with the reader or the scanner, for the entry line (None: nothing)."""
    lost = [tr(key, lang) for key, ok in (("reader lost", status.reader_ok),
                                           ("scanner lost", status.scanner_ok)) if not ok]
    return " · ".join(lost) or None


def entry_prompt(mode: str, typed: str, lang: str, *, zone_max: int) -> str:
    """The entry line while the driver types (``mode``: number, zone or line)."""
    return tr(f"enter {mode}", lang, typed=typed, max=zone_max)
