"""What the inspector's handheld shows, in the language asked for, computed from plain values
(no UI toolkit).

A check's panel (:func:`check_panel`) puts the verdict first (green VALID, red INVALID or
BLOCKED, with its reason and what qualifies it: a barcode's lists and their age; then the
outcome recorded), then what the inspector compares and reads: the holder's name and birth date
on a personal card (a barcode check has no name: the lists hold none), the card number, the
profile and its end, every coupon on the card with its days, zones and state (the ones loaded
in this check marked, the office's that wait named with the reason), the other actions the
office left for the card, and the card's last validation (when, line, zone).  While the check
writes, the panel shows how far it has come (:func:`writing_panel`).  The outcome the inspector
records (:func:`recorded_text`) is chosen from :data:`REASON_CHOICES`; the shift's checks are
summed up by :func:`shift_lines`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from ekarta.sync.messages import ActionKind
from ekarta.terminal.apps.checking_view import (
    CHECKING_TEXTS,
    headline,
    no_verdict_panel,
    outcome_notes,
    zones_text,
)
from ekarta.terminal.apps.view import Line, Panel, Tone, say
from ekarta.terminal.inspect import ShiftSummary
from ekarta.terminal.outcome import ActionResult, ActionState, Outcome, Progress, Source, TapOutcome
from ekarta.transit.model.image import CardImage, SlotError
from ekarta.transit.model.messages import (
    LANGUAGES,
    coupon_type_name,
    format_amount,
    format_date,
    format_time,
    label,
    profile_name,
    text,
)
from ekarta.transit.model.notation import enum_name
from ekarta.transit.model.timecodec import to_local
from ekarta.transit.model.values import (
    CardKind,
    CardRecord,
    EventRecord,
    Reason,
    SignedCoupon,
)

__all__ = [
    "INSPECTOR_TEXTS",
    "NOTE_MAX",
    "REASON_CHOICES",
    "Recorded",
    "check_panel",
    "clean_note",
    "form_title",
    "hour_chart",
    "reason_label",
    "recorded_text",
    "shift_lines",
    "tr",
    "writing_panel",
]

INSPECTOR_TEXTS: dict[str, tuple[str, str]] = CHECKING_TEXTS | {
    "holder": ("{name}", "{name}"),
    "holder born": ("{name}, born {date}", "{name}, nar. {date}"),
    "anonymous": ("Anonymous card", "Anonymní e-karta"),
    "name on the card": ("Personal card: compare the name printed on it",
                         "Osobní e-karta: jméno ověřte na kartě"),
    "profile until": ("Profile: {profile}, until {date}", "Profil: {profile}, do {date}"),
    "coupon": ("{coupon}, {zones}, {start} – {end}", "{coupon}, {zones}, {start} – {end}"),
    "coupon valid": ("valid", "platí"),
    "coupon future": ("future", "budoucí"),
    "coupon ended": ("ended", "skončil"),
    "no coupon": ("No coupon on the card", "Na e-kartě není žádný kupon"),
    "ended coupons": ("Ended coupons: {count}, the last until {date}",
                      "Skončené kupony: {count}, poslední do {date}"),
    "slot unreadable": ("Slot {slot}: cannot be read", "Místo {slot}: nelze přečíst"),
    "loaded now": ("loaded now", "nahráno nyní"),
    "done now": ("done now", "provedeno nyní"),
    "found": ("already done", "již provedeno"),
    "waiting": ("waiting at the office: {reason}", "čeká v systému: {reason}"),
    "torn": ("writing interrupted: tap the card again", "zápis přerušen: přiložte e-kartu znovu"),
    "credit-purse": ("E-purse credit {amount}", "Dobití e-peněženky {amount}"),
    "write-blocked": ("Blocking", "Blokace"),
    "update-profile": ("Profile update", "Změna profilu"),
    "activate": ("Activation", "Aktivace"),
    "last validation": ("Last validation: {time}", "Poslední odbavení: {time}"),
    "validation line": ("line {line}", "linka {line}"),
    "validation zone": ("zone {zone}", "zóna {zone}"),
    "no validation": ("Last validation: none on the card", "Poslední odbavení: na e-kartě žádné"),
    "writing": ("WRITING", "ZÁPIS"),
    "keep the card": ("Keep the card on the reader", "Nechte e-kartu přiloženou"),
    "step of": ("{done} of {total}", "{done} z {total}"),
    "step load-coupon": ("Loading coupon {serial}", "Nahrávám kupon {serial}"),
    "step credit-purse": ("Crediting the e-purse ({serial})", "Dobíjím e-peněženku ({serial})"),
    "step write-blocked": ("Writing the blocking", "Zapisuji blokaci"),
    "step update-profile": ("Updating the profile", "Měním profil"),
    "step activate": ("Activating the card", "Aktivuji e-kartu"),
    "step commit": ("Committing", "Potvrzuji zápis"),
    "recorded valid": ("Recorded: valid", "Zaznamenáno: platná"),
    "recorded invalid": ("Recorded: invalid, {reason}", "Zaznamenáno: neplatná, {reason}"),
    "recorded note": ("{recorded}; note: {note}", "{recorded}; poznámka: {note}"),
    "record failed": ("The outcome could not be recorded: {detail}",
                      "Výsledek se nepodařilo zaznamenat: {detail}"),
    "form title": ("Outcome of the check: {verdict} · {number}",
                   "Výsledek kontroly: {verdict} · {number}"),
    "note label": ("Note (a fine's number…):", "Poznámka (číslo pokuty…):"),
    "note placeholder": ("none", "žádná"),
    "reasons title": ("Invalid: why? (note: {note})", "Neplatná: proč? (poznámka: {note})"),
    "button valid": ("F5 Valid", "F5 Platná"),
    "button invalid": ("F6 Invalid…", "F6 Neplatná…"),
    "button back": ("Esc Back", "Esc Zpět"),
    "button close": ("Esc Close", "Esc Zavřít"),
    "button record": ("F5 Record outcome", "F5 Zaznamenat výsledek"),
    "button shift": ("F6 Shift", "F6 Směna"),
    "shift title": ("Shift of {date}: {count} checks", "Směna {date}: kontrol {count}"),
    "shift none": ("No check yet today.", "Dnes zatím žádná kontrola."),
    "shift outcomes": ("Valid {valid} · invalid {invalid} · of them by the barcode {barcode}",
                       "Platných {valid} · neplatných {invalid} · z toho čárovým kódem {barcode}"),
    "shift recorded": ("Outcome recorded {recorded} (invalid {invalid}) · not recorded "
                       "{unrecorded}",
                       "Výsledek zaznamenán {recorded} (neplatných {invalid}) · nezaznamenán "
                       "{unrecorded}"),
    "shift reasons": ("Invalid: {reasons}", "Neplatné: {reasons}"),
    "shift lines": ("By line: {lines}", "Podle linek: {lines}"),
    "shift no line": ("no line", "bez linky"),
    "shift per hour": ("Checks per hour:", "Kontroly po hodinách:"),
    "keys": ("F2 zone · F3 line · digits + Enter: card number",
             "F2 zóna · F3 linka · číslice + Enter: číslo karty"),
}
"""The inspector's texts, by key: (English, Czech)."""


def tr(key: str, lang: str, /, **details: object) -> str:
    """The inspector's text ``key`` in ``lang``."""
    return say(INSPECTOR_TEXTS, key, lang, **details)


# --- a check --------------------------------------------------------------------------------------


def check_panel(outcome: TapOutcome, lang: str, *, typed: str | None = None,
                recorded: Recorded | None = None) -> Panel:
    """The panel for the check ``outcome`` in ``lang``; ``typed``: the text a barcode check was
    given; ``recorded``: the outcome the inspector recorded for it."""
    if outcome.outcome is not Outcome.VERDICT or outcome.verdict is None:
        panel = no_verdict_panel(outcome, lang, typed)
        actions = tuple(_action_lines(outcome, lang, None))
        return Panel(panel.headline, panel.tone, panel.lines + actions)
    verdict = outcome.verdict
    title, tone = headline(verdict, lang)
    # what qualifies the verdict (a barcode's lists, their age) and the outcome recorded come
    # right under it: the card's details below may run longer than the screen
    lines = [Line(verdict.message(lang), Tone.PLAIN if verdict.ok else Tone.BAD)]
    lines.extend(outcome_notes(outcome, lang))
    if recorded is not None:
        lines.append(Line(recorded_text(recorded, lang), Tone.GOOD))
    image = outcome.image
    if image is not None:
        lines.append(Line(_holder(image.record, outcome, lang)))
        lines.append(Line(_profile(image.record, lang)))
        lines.extend(_coupons(image, outcome, lang))
    else:
        if outcome.card_number is not None:
            lines.append(Line(tr("card number", lang, number=outcome.card_number.formatted)))
        lines.append(Line(tr("profile", lang, profile=profile_name(verdict.profile, lang))))
    lines.extend(_action_lines(outcome, lang, image))
    if outcome.source is Source.CHIP:
        lines.append(Line(_last_validation(outcome.last_validation, lang)))
    return Panel(title, tone, tuple(lines))


def _holder(record: CardRecord, outcome: TapOutcome, lang: str) -> str:
    number = tr("card number", lang, number=record.card_number.formatted)
    if record.kind is CardKind.ANONYMOUS:
        who = tr("anonymous", lang)
    elif outcome.source is Source.BARCODE:
        # the lists hold no names: a barcode check's card carries placeholders
        who = tr("name on the card", lang)
    elif record.birth_date is not None:
        who = tr("holder born", lang, name=f"{record.first_name} {record.surname}",
                 date=format_date(record.birth_date, lang))
    else:
        who = tr("holder", lang, name=f"{record.first_name} {record.surname}")
    return f"{who} · {number}"


def _profile(record: CardRecord, lang: str) -> str:
    name = profile_name(record.profile, lang)
    if record.profile_end is None:
        return tr("profile", lang, profile=name)
    return tr("profile until", lang, profile=name, date=format_date(record.profile_end, lang))


def _coupon_text(signed: SignedCoupon, lang: str) -> str:
    coupon = signed.coupon
    return tr("coupon", lang, coupon=coupon_type_name(coupon.coupon_type, lang),
              zones=zones_text(coupon.zones, lang), start=format_date(coupon.valid_from, lang),
              end=format_date(coupon.valid_to, lang))


def _ended(signed: SignedCoupon, today: date) -> bool:
    return signed.coupon.valid_to < today


def _coupon_state(signed: SignedCoupon, today: date, lang: str) -> str:
    if signed.coupon.valid_from > today:
        return tr("coupon future", lang)
    if _ended(signed, today):
        return tr("coupon ended", lang)
    return tr("coupon valid", lang)


ENDED_SHOWN = 2
"""Ended coupons listed one by one; more are told on one line (a card's eight slots would not
leave room for what matters)."""


def _coupons(image: CardImage, outcome: TapOutcome, lang: str) -> list[Line]:
    """Each slot's coupon with its state (the verdict's coupon in its colour, the ones loaded
    now marked), an unreadable slot as such; more than :data:`ENDED_SHOWN` ended coupons (the
    verdict's aside) on one line."""
    today = to_local(outcome.at).date()
    loaded = {a.serial for a in outcome.actions
              if a.kind is ActionKind.LOAD_COUPON and a.state is ActionState.DONE}
    decisive = outcome.verdict.coupon if outcome.verdict is not None else None
    decisive_serial = decisive.serial if decisive is not None else None
    ended = [c for c in image.coupons if _ended(c, today) and c.serial != decisive_serial]
    fold = len(ended) > ENDED_SHOWN
    lines = []
    for index, slot in enumerate(image.slots):
        if isinstance(slot, SlotError):
            lines.append(Line(tr("slot unreadable", lang, slot=index + 1), Tone.WARN))
        elif slot is not None and not (fold and slot in ended):
            parts = [_coupon_text(slot, lang), _coupon_state(slot, today, lang)]
            if slot.serial in loaded:
                parts.append(tr("loaded now", lang))
            tone = Tone.PLAIN
            if slot.serial == decisive_serial:
                tone = Tone.GOOD if outcome.ok else Tone.BAD
            lines.append(Line(" · ".join(parts), tone))
    if fold:
        last = max(c.coupon.valid_to for c in ended)
        lines.append(Line(tr("ended coupons", lang, count=len(ended),
                             date=format_date(last, lang))))
    if not lines:
        lines.append(Line(tr("no coupon", lang)))
    return lines


def _action_lines(outcome: TapOutcome, lang: str, image: CardImage | None) -> list[Line]:
    """The office's actions the card's slots do not already tell: the loads that wait or were
    torn, and every other kind of action with what became of it."""
    lines = []
    for action in outcome.actions:
        if action.kind is ActionKind.LOAD_COUPON:
            if image is not None and action.state in (ActionState.DONE, ActionState.FOUND):
                continue  # the coupon is in its slot, marked there
            what = _coupon_text(action.coupon, lang) if action.coupon is not None else \
                tr("step load-coupon", lang, serial=action.serial or "?")
        elif action.kind is ActionKind.CREDIT_PURSE:
            amount = format_amount(action.amount, lang) if action.amount is not None else "?"
            what = tr("credit-purse", lang, amount=amount)
        else:
            what = tr(action.kind.value, lang)
        state, tone = _state(action, lang)
        lines.append(Line(f"{what} · {state}", tone))
    return lines


def _state(action: ActionResult, lang: str) -> tuple[str, Tone]:
    if action.state is ActionState.DONE:
        done = "loaded now" if action.kind is ActionKind.LOAD_COUPON else "done now"
        return tr(done, lang), Tone.PLAIN
    if action.state is ActionState.FOUND:
        return tr("found", lang), Tone.PLAIN
    if action.state is ActionState.TORN:
        return tr("torn", lang), Tone.WARN
    return tr("waiting", lang, reason=_refusal(action, lang)), Tone.WARN


def _refusal(action: ActionResult, lang: str) -> str:
    """Why an action waits: the refusal's message; from its reason alone when the details it
    names are not at hand, its reason's name."""
    if action.refused is not None:
        return action.refused.message(lang).rstrip(".")
    if action.refusal is None:
        return "?"
    try:
        return text(action.refusal, lang, serial=action.serial).rstrip(".")
    except (KeyError, IndexError):
        return label(enum_name(action.refusal), lang)


def _last_validation(event: EventRecord | None, lang: str) -> str:
    if event is None:
        return tr("no validation", lang)
    parts = [format_time(event.at, lang)]
    if event.line is not None:
        parts.append(tr("validation line", lang, line=event.line))
    if event.zone is not None:
        parts.append(tr("validation zone", lang, zone=event.zone))
    return tr("last validation", lang, time=", ".join(parts))


def writing_panel(progress: Progress, lang: str) -> Panel:
    """While the check writes the office's actions onto the card: keep the card there, how far
    the writing has come (a bar and ``2 of 3``) and the step under way."""
    total = max(progress.total, 1)
    done = min(max(progress.done, 0), total)
    width = 30
    filled = round(width * done / total)
    bar = "█" * filled + "░" * (width - filled)
    count = tr("step of", lang, done=done, total=total)
    return Panel(tr("writing", lang), Tone.WARN, (
        Line(tr("keep the card", lang), Tone.WARN),
        Line(f"{bar} {count}"),
        Line(_step(progress.step, lang)),
    ))


def _step(step: str, lang: str) -> str:
    """``load-coupon 1234`` as the screen says it; an unknown step as it is."""
    kind, _, serial = step.partition(" ")
    key = f"step {kind}"
    if key not in INSPECTOR_TEXTS:
        return step
    return tr(key, lang, serial=serial)


# --- the outcome the inspector records ------------------------------------------------------------


REASON_CHOICES: tuple[Reason, ...] = (
    Reason.NO_COUPON, Reason.EXPIRED, Reason.NOT_YET_VALID, Reason.ZONE_NOT_COVERED,
    Reason.PROFILE_EXPIRED, Reason.CARD_EXPIRED, Reason.CARD_BLOCKED, Reason.CARD_NOT_ACTIVE,
    Reason.SIGNATURE_INVALID, Reason.COUPON_UNREADABLE, Reason.NOT_THE_HOLDER,
)
"""The reasons an inspector records an invalid outcome with, in the form's order: a terminal's
verdict reasons, then what only the inspector's identity check finds (a personal card presented
by someone else)."""

NOTE_MAX = 40
"""The longest note the form takes (a fine's number, a few words)."""

_REASON_LABELS: dict[Reason, tuple[str, str]] = {
    Reason.NO_COUPON: ("no coupon", "bez kuponu"),
    Reason.EXPIRED: ("coupon ended", "kupon skončil"),
    Reason.NOT_YET_VALID: ("coupon not yet valid", "kupon ještě neplatí"),
    Reason.ZONE_NOT_COVERED: ("zone not covered", "mimo zóny kuponu"),
    Reason.PROFILE_EXPIRED: ("profile ended", "skončil profil"),
    Reason.CARD_EXPIRED: ("card expired", "e-karta propadla"),
    Reason.CARD_BLOCKED: ("card blocked", "e-karta blokována"),
    Reason.CARD_NOT_ACTIVE: ("card not active", "e-karta neaktivní"),
    Reason.SIGNATURE_INVALID: ("forged coupon", "neplatný podpis"),
    Reason.COUPON_UNREADABLE: ("coupon unreadable", "nečitelný kupon"),
    Reason.NOT_THE_HOLDER: ("someone else's card", "cizí e-karta"),
}


def reason_label(reason: Reason, lang: str) -> str:
    """A reason of :data:`REASON_CHOICES` in a few words (a button's label)."""
    labels = _REASON_LABELS.get(reason)
    if labels is None:
        return label(enum_name(reason), lang)
    return labels[LANGUAGES.index(lang)]


@dataclass(frozen=True)
class Recorded:
    """The outcome an inspector recorded for a check."""

    valid: bool
    reason: Reason | None = None
    """Why it is invalid (None for a valid one)."""
    note: str | None = None


def form_title(check: TapOutcome, lang: str) -> str:
    """The form's title: the verdict and the card it records the outcome for."""
    verdict = headline(check.verdict, lang)[0] if check.verdict is not None else "?"
    number = check.card_number.formatted if check.card_number is not None else "?"
    return tr("form title", lang, verdict=verdict, number=number)


def clean_note(typed: str) -> str | None:
    """A typed note as it is recorded: printable, single spaces, at most :data:`NOTE_MAX`
    characters; None when nothing is left."""
    words = "".join(c if c.isprintable() else " " for c in typed).split()
    note = " ".join(words)[:NOTE_MAX].strip()
    return note or None


def recorded_text(recorded: Recorded, lang: str) -> str:
    """``Recorded: invalid, no coupon; note: P-1234``."""
    if recorded.valid:
        said = tr("recorded valid", lang)
    else:
        reason = "?" if recorded.reason is None else reason_label(recorded.reason, lang)
        said = tr("recorded invalid", lang, reason=reason)
    if recorded.note:
        return tr("recorded note", lang, recorded=said, note=recorded.note)
    return said


# --- the shift's summary --------------------------------------------------------------------------


def shift_lines(shift: ShiftSummary, lang: str) -> list[str]:
    """The summary's title, then its lines: the checks by outcome (the invalid ones by reason),
    the outcomes recorded, the checks by line, and a bar chart of the checks per hour."""
    title = tr("shift title", lang, date=format_date(shift.day, lang), count=shift.checks)
    if not shift.checks:
        return [title, tr("shift none", lang)]
    invalid = sum(count for _, count in shift.invalid)
    lines = [title, tr("shift outcomes", lang, valid=shift.valid, invalid=invalid,
                       barcode=shift.barcode)]
    if shift.invalid:
        reasons = ", ".join(f"{reason_label(reason, lang)} {count}"
                            for reason, count in shift.invalid)
        lines.append(tr("shift reasons", lang, reasons=reasons))
    lines.append(tr("shift recorded", lang, recorded=shift.recorded,
                    invalid=shift.recorded_invalid, unrecorded=shift.unrecorded))
    if shift.by_line:
        by_line = " · ".join(
            f"{tr('shift no line', lang) if line is None else line}: {count}"
            for line, count in shift.by_line)
        lines.append(tr("shift lines", lang, lines=by_line))
    lines.extend(["", tr("shift per hour", lang), *hour_chart(shift.per_hour)])
    return lines


_EIGHTHS = " ▁▂▃▄▅▆▇█"


def hour_chart(per_hour: tuple[int, ...], *, height: int = 5) -> list[str]:
    """A bar per hour (``per_hour``: the checks of each hour of the day from midnight) from the
    first hour with checks to the last, ``height`` rows of block characters tall, the counts
    above and the hours below; three columns an hour, so a whole day fits 72 columns."""
    counts = {hour: count for hour, count in enumerate(per_hour) if count}
    if not counts:
        return []
    hours = range(min(counts), max(counts) + 1)
    top = max(counts.values()) or 1
    rows = [f"{counts.get(hour, 0) or '':>2} " for hour in hours]
    chart = ["".join(rows).rstrip()]
    for row in range(height, 0, -1):
        cells = []
        for hour in hours:
            count = counts.get(hour, 0)
            eighths = max(round(count * height * 8 / top), 1 if count else 0)
            fill = min(max(eighths - (row - 1) * 8, 0), 8)
            cells.append(_EIGHTHS[fill] * 2 + " ")
        chart.append("".join(cells).rstrip())
    chart.append("".join(f"{hour:02d} " for hour in hours).rstrip())
    return chart
